//! C output: `include/cloudabi_types.h` and the layout test `tests/c/layout.c`.

use std::fmt::Write as _;

use super::doc::plain_doc;
use super::spec::{ArmBody, Field, Item, Layout, ScalarKind, Spec, Struct, Ty};
use super::stats::Stats;

/// Which flavour of a pointer-width-dependent type is written.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Flavor {
    /// Real pointers and `size_t` (`cloudabi_*_t`).
    Native,
    /// Pointers as `uint32_t` / `uint64_t` (`cloudabi32_*_t` / `cloudabi64_*_t`).
    Fixed(u64),
}

fn type_name(spec: &Spec, name: &str, flavor: Flavor) -> String {
    let dependent = match spec.get(name) {
        Some(Item::Struct(s)) => spec.struct_dependent(s),
        Some(Item::Function(_)) => spec.ptr_dependent(&Ty::Named(name.to_string())),
        _ => false,
    };
    match flavor {
        Flavor::Fixed(p) if dependent => format!("cloudabi{}_{name}_t", p * 8),
        _ => format!("cloudabi_{name}_t"),
    }
}

fn comment(out: &mut String, indent: &str, text: &str) {
    let text = plain_doc(text, |r| r.to_string());
    let _ = writeln!(out, "{indent}// {text}");
}

/// A declaration of `name` with type `ty`, with the `_Alignas` the original headers use.
fn decl(spec: &Spec, ty: &Ty, name: &str, flavor: Flavor) -> String {
    let word = |p: u64| format!("_Alignas({p}) uint{}_t {name}", p * 8);
    match (ty, flavor) {
        (Ty::Size | Ty::Ptr { .. }, Flavor::Fixed(p)) => word(p),
        (Ty::Size, Flavor::Native) => format!("size_t {name}"),
        (Ty::Ptr { to, konst, atomic }, Flavor::Native) => {
            let base = match to.as_ref() {
                Ty::Void => "void".to_string(),
                Ty::Char => "char".to_string(),
                Ty::Int(i) => i.c().to_string(),
                Ty::Named(n) => type_name(spec, n, flavor),
                t => unreachable!("pointer to {t:?}"),
            };
            let base = if *atomic {
                format!("_Atomic({base})")
            } else {
                base
            };
            let base = if *konst {
                format!("const {base}")
            } else {
                base
            };
            format!("{base} *{name}")
        }
        (Ty::Array(n, t), _) => {
            let elem = match t.as_ref() {
                Ty::Char => "char".to_string(),
                Ty::Int(i) => i.c().to_string(),
                Ty::Named(x) => type_name(spec, x, flavor),
                t => unreachable!("array of {t:?}"),
            };
            let a = spec.shape(t, 8).align;
            format!("_Alignas({a}) {elem} {name}[{n}]")
        }
        (Ty::Int(i), _) => format!("_Alignas({}) {} {name}", i.bytes(), i.c()),
        (Ty::Char, _) => format!("_Alignas(1) char {name}"),
        (Ty::Named(n), _) => {
            let p = match flavor {
                Flavor::Fixed(p) => p,
                Flavor::Native => 8,
            };
            let shape = spec.shape(ty, p);
            let dependent = spec.ptr_dependent(ty);
            if dependent && flavor == Flavor::Native {
                format!("{} {name}", type_name(spec, n, flavor))
            } else {
                format!(
                    "_Alignas({}) {} {name}",
                    shape.align,
                    type_name(spec, n, flavor)
                )
            }
        }
        (Ty::Void | Ty::Range { .. }, _) => unreachable!("checked by the parser"),
    }
}

/// A function parameter (no `_Alignas`).
fn param(spec: &Spec, f: &Field, flavor: Flavor) -> String {
    match (&f.ty, flavor) {
        (Ty::Size | Ty::Ptr { .. }, Flavor::Fixed(p)) => format!("uint{}_t {}", p * 8, f.name),
        (Ty::Int(i), _) => format!("{} {}", i.c(), f.name),
        (Ty::Named(n), _) => format!("{} {}", type_name(spec, n, flavor), f.name),
        _ => decl(spec, &f.ty, &f.name, flavor),
    }
}

fn strukt(out: &mut String, spec: &Spec, s: &Struct, flavor: Flavor) {
    comment(out, "", &s.doc);
    let _ = writeln!(out, "typedef struct {{");
    for f in super::spec::expand(&s.fields) {
        let _ = writeln!(out, "  {};", decl(spec, &f.ty, &f.name, flavor));
    }
    if let Some(v) = &s.variant {
        let _ = writeln!(out, "  union {{");
        for arm in &v.arms {
            match &arm.body {
                ArmBody::Plain(t) => {
                    let _ = writeln!(out, "    {};", decl(spec, t, &arm.name, flavor));
                }
                ArmBody::Struct(fields) => {
                    let _ = writeln!(out, "    struct {{");
                    for f in super::spec::expand(fields) {
                        let _ = writeln!(out, "      {};", decl(spec, &f.ty, &f.name, flavor));
                    }
                    let _ = writeln!(out, "    }} {};", arm.name);
                }
            }
        }
        let _ = writeln!(out, "  }};");
    }
    let _ = writeln!(out, "}} {};\n", type_name(spec, &s.name, flavor));
}

fn function(out: &mut String, spec: &Spec, f: &super::spec::Function, flavor: Flavor) {
    comment(out, "", &f.doc);
    let params: Vec<String> = f.params.iter().map(|p| param(spec, p, flavor)).collect();
    let _ = writeln!(
        out,
        "typedef void {}({});\n",
        type_name(spec, &f.name, flavor),
        params.join(", ")
    );
}

/// `cloudabi-types/include/cloudabi_types.h`.
pub(crate) fn header(spec: &Spec, stats: &mut Stats) -> String {
    let mut out = String::new();
    out.push_str(
        "// @generated by `cargo xtask gen` from `cloudabi-types/spec/cloudabi.abi`.\n\
         // Do not edit: change the spec and run `cargo xtask gen` again.\n\
         //\n\
         // The CloudABI types and constants. Source-compatible with the original\n\
         // cloudabi_types_common.h, cloudabi_types.h, cloudabi32_types.h and\n\
         // cloudabi64_types.h, which this one header replaces.\n\n\
         #ifndef CLOUDABI_TYPES_H\n#define CLOUDABI_TYPES_H\n\n\
         // The original headers' include guards, so that code including them gets this file.\n\
         #define CLOUDABI_TYPES_COMMON_H\n#define CLOUDABI32_TYPES_H\n#define CLOUDABI64_TYPES_H\n\n\
         #include <stddef.h>\n#include <stdint.h>\n\n\
         #ifdef __cplusplus\nextern \"C\" {\n#endif\n\n",
    );
    for s in spec.scalars() {
        comment(&mut out, "", &s.doc);
        let _ = writeln!(out, "typedef {} cloudabi_{}_t;", s.int.c(), s.name);
        let width = s
            .values
            .iter()
            .map(|v| s.c_const(v).len())
            .max()
            .unwrap_or(0);
        for v in &s.values {
            let _ = writeln!(
                out,
                "#define {:width$} {}",
                s.c_const(v),
                s.c_literal(v),
                width = width
            );
            stats.constants += 1;
        }
        out.push('\n');
    }
    let _ = writeln!(
        out,
        "// Structs whose layout is the same for every pointer width.\n"
    );
    for s in spec.structs().filter(|s| !spec.struct_dependent(s)) {
        strukt(&mut out, spec, s, Flavor::Native);
    }
    let sections = [
        (
            Flavor::Native,
            "// The native types: real pointers and size_t.\n",
        ),
        (
            Flavor::Fixed(4),
            "// The types as seen by 32-bit programs, pointers as uint32_t.\n",
        ),
        (
            Flavor::Fixed(8),
            "// The types as seen by 64-bit programs, pointers as uint64_t.\n",
        ),
    ];
    for (flavor, title) in sections {
        let _ = writeln!(out, "{title}");
        for item in &spec.items {
            match item {
                Item::Struct(s) if spec.struct_dependent(s) => strukt(&mut out, spec, s, flavor),
                Item::Function(f) => function(&mut out, spec, f, flavor),
                _ => {}
            }
        }
    }
    out.push_str("#ifdef __cplusplus\n}  // extern \"C\"\n#endif\n\n#endif\n");
    out
}

/// Static assertions for one struct flavour; `cond` wraps width-dependent checks.
fn asserts(out: &mut String, cname: &str, l: &Layout, guard: Option<u64>, stats: &mut Stats) {
    let mut put = |out: &mut String, what: String, value: u64| {
        let cond = match guard {
            Some(p) => format!("sizeof(void *) != {p} || {what} == {value}"),
            None => format!("{what} == {value}"),
        };
        let _ = writeln!(out, "_Static_assert({cond}, \"{cname}\");");
        stats.c_asserts += 1;
    };
    put(out, format!("sizeof({cname})"), l.shape.size);
    put(out, format!("_Alignof({cname})"), l.shape.align);
    for p in &l.fields {
        put(
            out,
            format!("offsetof({cname}, {})", p.field.name),
            p.offset,
        );
    }
    if let Some((at, _, arms)) = &l.union {
        for pa in arms {
            for p in &pa.fields {
                let member = match pa.arm.body {
                    ArmBody::Plain(_) => pa.arm.name.clone(),
                    ArmBody::Struct(_) => format!("{}.{}", pa.arm.name, p.field.name),
                };
                put(out, format!("offsetof({cname}, {member})"), at + p.offset);
            }
        }
    }
}

/// `cloudabi-types/tests/c/layout.c`.
pub(crate) fn layout_test(spec: &Spec, stats: &mut Stats) -> String {
    let mut out = String::new();
    out.push_str(
        "// @generated by `cargo xtask gen` from `cloudabi-types/spec/cloudabi.abi`.\n\
         // Do not edit: change the spec and run `cargo xtask gen` again.\n\
         //\n\
         // Checks at compile time that cloudabi_types.h has every constant with its value and\n\
         // every struct with the ABI's size, alignment and field offsets, for the native,\n\
         // 32-bit and 64-bit flavours. Built and run by tests/c_header.rs.\n\n\
         #include <stdio.h>\n\n#include \"cloudabi_types.h\"\n\n",
    );
    for s in spec.scalars() {
        let _ = writeln!(
            out,
            "_Static_assert(sizeof(cloudabi_{}_t) == {}, \"cloudabi_{}_t\");",
            s.name,
            s.int.bytes(),
            s.name
        );
        stats.c_asserts += 1;
        if s.kind == ScalarKind::Alias {
            continue;
        }
        for v in &s.values {
            let _ = writeln!(
                out,
                "_Static_assert({} == {}ull, \"{}\");",
                s.c_const(v),
                v.value,
                s.c_const(v)
            );
            stats.c_asserts += 1;
        }
    }
    out.push('\n');
    for s in spec.structs() {
        if spec.struct_dependent(s) {
            for p in [4, 8] {
                let l = spec.layout(s, p);
                asserts(
                    &mut out,
                    &format!("cloudabi_{}_t", s.name),
                    &l,
                    Some(p),
                    stats,
                );
                asserts(
                    &mut out,
                    &format!("cloudabi{}_{}_t", p * 8, s.name),
                    &l,
                    None,
                    stats,
                );
            }
        } else {
            let l = spec.layout(s, 8);
            asserts(&mut out, &format!("cloudabi_{}_t", s.name), &l, None, stats);
        }
        out.push('\n');
    }
    let _ = writeln!(
        out,
        "int main(void) {{\n  printf(\"cloudabi_types.h: {} static assertions hold\\n\");\n  return 0;\n}}",
        stats.c_asserts
    );
    out
}
