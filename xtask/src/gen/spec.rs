//! The ABI description: its data model, the parser for `spec/cloudabi.abi`, and the
//! C layout rules shared by every output.

use std::collections::BTreeMap;

/// A fixed-width integer type.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Int {
    U8,
    U16,
    U32,
    U64,
    I64,
}

impl Int {
    fn parse(s: &str) -> Option<Int> {
        Some(match s {
            "u8" => Int::U8,
            "u16" => Int::U16,
            "u32" => Int::U32,
            "u64" => Int::U64,
            "i64" => Int::I64,
            _ => return None,
        })
    }

    pub(crate) fn bytes(self) -> u64 {
        match self {
            Int::U8 => 1,
            Int::U16 => 2,
            Int::U32 => 4,
            Int::U64 | Int::I64 => 8,
        }
    }

    pub(crate) fn rust(self) -> &'static str {
        match self {
            Int::U8 => "u8",
            Int::U16 => "u16",
            Int::U32 => "u32",
            Int::U64 => "u64",
            Int::I64 => "i64",
        }
    }

    pub(crate) fn c(self) -> &'static str {
        match self {
            Int::U8 => "uint8_t",
            Int::U16 => "uint16_t",
            Int::U32 => "uint32_t",
            Int::U64 => "uint64_t",
            Int::I64 => "int64_t",
        }
    }

    fn max(self) -> u64 {
        match self {
            Int::U8 => u8::MAX.into(),
            Int::U16 => u16::MAX.into(),
            Int::U32 => u32::MAX.into(),
            Int::U64 => u64::MAX,
            Int::I64 => i64::MAX as u64,
        }
    }
}

/// What a named integer type means.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum ScalarKind {
    Enum,
    Flags,
    Opaque,
    Alias,
}

impl ScalarKind {
    pub(crate) fn word(self) -> &'static str {
        match self {
            ScalarKind::Enum => "enum",
            ScalarKind::Flags => "flags",
            ScalarKind::Opaque => "opaque",
            ScalarKind::Alias => "alias",
        }
    }
}

/// A named value of an enum, flags or opaque type.
#[derive(Clone, Debug)]
pub(crate) struct Value {
    pub(crate) name: String,
    pub(crate) rust: String,
    pub(crate) value: u64,
    pub(crate) hex: bool,
    pub(crate) doc: String,
}

/// A named integer type.
#[derive(Clone, Debug)]
pub(crate) struct Scalar {
    pub(crate) name: String,
    pub(crate) rust: String,
    pub(crate) kind: ScalarKind,
    pub(crate) int: Int,
    pub(crate) cprefix: String,
    pub(crate) doc: String,
    pub(crate) values: Vec<Value>,
}

impl Scalar {
    pub(crate) fn c_const(&self, v: &Value) -> String {
        format!("CLOUDABI_{}{}", self.cprefix, v.name.to_uppercase())
    }

    /// The value as the C header spells it.
    pub(crate) fn c_literal(&self, v: &Value) -> String {
        let hex = match self.kind {
            ScalarKind::Flags => true,
            ScalarKind::Opaque => v.hex,
            _ => false,
        };
        if hex {
            format!(
                "0x{:0width$x}",
                v.value,
                width = (self.int.bytes() * 2) as usize
            )
        } else {
            v.value.to_string()
        }
    }
}

/// A type expression.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Ty {
    Int(Int),
    Char,
    Void,
    /// Pointer-sized unsigned integer.
    Size,
    Named(String),
    Ptr {
        to: Box<Ty>,
        konst: bool,
        atomic: bool,
    },
    Array(u64, Box<Ty>),
    /// A pointer and a length; only in struct fields and parameters.
    Range {
        elem: Box<Ty>,
        konst: bool,
    },
}

impl Ty {
    /// The spelling used in the spec.
    pub(crate) fn spec(&self) -> String {
        match self {
            Ty::Int(i) => i.rust().to_string(),
            Ty::Char => "char".into(),
            Ty::Void => "void".into(),
            Ty::Size => "size".into(),
            Ty::Named(n) => n.clone(),
            Ty::Ptr { to, konst, atomic } => format!(
                "{}{}{}",
                if *konst { "cptr " } else { "ptr " },
                if *atomic { "atomic " } else { "" },
                to.spec()
            ),
            Ty::Array(n, t) => format!("array {n} {}", t.spec()),
            Ty::Range { elem, konst } => {
                format!(
                    "{} {}",
                    if *konst { "crange" } else { "range" },
                    elem.spec()
                )
            }
        }
    }
}

/// A struct field or function parameter.
#[derive(Clone, Debug)]
pub(crate) struct Field {
    pub(crate) name: String,
    pub(crate) ty: Ty,
    pub(crate) doc: String,
}

/// One member of a tagged union.
#[derive(Clone, Debug)]
pub(crate) struct Arm {
    pub(crate) name: String,
    pub(crate) tags: Vec<String>,
    pub(crate) doc: String,
    pub(crate) body: ArmBody,
}

#[derive(Clone, Debug)]
pub(crate) enum ArmBody {
    Plain(Ty),
    Struct(Vec<Field>),
}

#[derive(Clone, Debug)]
pub(crate) struct Variant {
    pub(crate) tag: String,
    pub(crate) arms: Vec<Arm>,
}

#[derive(Clone, Debug)]
pub(crate) struct Struct {
    pub(crate) name: String,
    pub(crate) rust: String,
    pub(crate) doc: String,
    pub(crate) fields: Vec<Field>,
    pub(crate) variant: Option<Variant>,
}

#[derive(Clone, Debug)]
pub(crate) struct Function {
    pub(crate) name: String,
    pub(crate) rust: String,
    pub(crate) doc: String,
    pub(crate) params: Vec<Field>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Dir {
    In,
    Out,
}

#[derive(Clone, Debug)]
pub(crate) struct Param {
    pub(crate) dir: Dir,
    pub(crate) field: Field,
}

#[derive(Clone, Debug)]
pub(crate) struct Syscall {
    pub(crate) name: String,
    pub(crate) number: u32,
    pub(crate) doc: String,
    pub(crate) params: Vec<Param>,
    pub(crate) noreturn: bool,
}

#[derive(Clone, Debug)]
pub(crate) enum Item {
    Scalar(Scalar),
    Struct(Struct),
    Function(Function),
}

impl Item {
    pub(crate) fn name(&self) -> &str {
        match self {
            Item::Scalar(s) => &s.name,
            Item::Struct(s) => &s.name,
            Item::Function(f) => &f.name,
        }
    }
}

/// The whole ABI.
#[derive(Debug)]
pub(crate) struct Spec {
    pub(crate) items: Vec<Item>,
    pub(crate) syscalls: Vec<Syscall>,
    index: BTreeMap<String, usize>,
}

/// Layout of a type for one pointer width.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Shape {
    pub(crate) size: u64,
    pub(crate) align: u64,
}

/// A struct field after ranges are split, with its offset.
#[derive(Clone, Debug)]
pub(crate) struct Placed {
    pub(crate) field: Field,
    pub(crate) offset: u64,
    pub(crate) shape: Shape,
}

/// A union arm with its own placed fields (offsets relative to the union).
#[derive(Clone, Debug)]
pub(crate) struct PlacedArm {
    pub(crate) arm: Arm,
    /// For a plain arm, one entry named after the arm.
    pub(crate) fields: Vec<Placed>,
    pub(crate) shape: Shape,
}

/// A struct laid out for one pointer width.
#[derive(Clone, Debug)]
pub(crate) struct Layout {
    pub(crate) fields: Vec<Placed>,
    /// The union's offset, its shape and its arms.
    pub(crate) union: Option<(u64, Shape, Vec<PlacedArm>)>,
    pub(crate) shape: Shape,
}

fn round_up(n: u64, align: u64) -> u64 {
    n.div_ceil(align) * align
}

/// Splits `range` fields into a pointer and a `_len` field.
pub(crate) fn expand(fields: &[Field]) -> Vec<Field> {
    let mut out = Vec::new();
    for f in fields {
        match &f.ty {
            Ty::Range { elem, konst } => {
                out.push(Field {
                    name: f.name.clone(),
                    ty: Ty::Ptr {
                        to: elem.clone(),
                        konst: *konst,
                        atomic: false,
                    },
                    doc: f.doc.clone(),
                });
                out.push(Field {
                    name: format!("{}_len", f.name),
                    ty: Ty::Size,
                    doc: format!("Number of elements in `{}`.", f.name),
                });
            }
            _ => out.push(f.clone()),
        }
    }
    out
}

impl Spec {
    pub(crate) fn get(&self, name: &str) -> Option<&Item> {
        self.index.get(name).map(|&i| &self.items[i])
    }

    pub(crate) fn scalars(&self) -> impl Iterator<Item = &Scalar> {
        self.items.iter().filter_map(|i| match i {
            Item::Scalar(s) => Some(s),
            _ => None,
        })
    }

    pub(crate) fn structs(&self) -> impl Iterator<Item = &Struct> {
        self.items.iter().filter_map(|i| match i {
            Item::Struct(s) => Some(s),
            _ => None,
        })
    }

    /// Whether a type's layout or meaning depends on the pointer width.
    pub(crate) fn ptr_dependent(&self, ty: &Ty) -> bool {
        match ty {
            Ty::Size | Ty::Ptr { .. } | Ty::Range { .. } => true,
            Ty::Int(_) | Ty::Char | Ty::Void => false,
            Ty::Array(_, t) => self.ptr_dependent(t),
            Ty::Named(n) => match self.get(n) {
                Some(Item::Struct(s)) => self.struct_dependent(s),
                Some(Item::Function(f)) => f.params.iter().any(|p| self.ptr_dependent(&p.ty)),
                _ => false,
            },
        }
    }

    pub(crate) fn struct_dependent(&self, s: &Struct) -> bool {
        s.fields.iter().any(|f| self.ptr_dependent(&f.ty))
            || s.variant.as_ref().is_some_and(|v| {
                v.arms.iter().any(|a| match &a.body {
                    ArmBody::Plain(t) => self.ptr_dependent(t),
                    ArmBody::Struct(fs) => fs.iter().any(|f| self.ptr_dependent(&f.ty)),
                })
            })
    }

    /// Size and alignment of a type when pointers are `ptr` bytes wide.
    pub(crate) fn shape(&self, ty: &Ty, ptr: u64) -> Shape {
        match ty {
            Ty::Int(i) => Shape {
                size: i.bytes(),
                align: i.bytes(),
            },
            Ty::Char => Shape { size: 1, align: 1 },
            Ty::Size | Ty::Ptr { .. } => Shape {
                size: ptr,
                align: ptr,
            },
            Ty::Array(n, t) => {
                let s = self.shape(t, ptr);
                Shape {
                    size: s.size * n,
                    align: s.align,
                }
            }
            Ty::Named(n) => match self.get(n) {
                Some(Item::Scalar(s)) => self.shape(&Ty::Int(s.int), ptr),
                Some(Item::Struct(s)) => self.layout(s, ptr).shape,
                _ => unreachable!("checked by the parser: {n} is a value type"),
            },
            Ty::Void | Ty::Range { .. } => unreachable!("checked by the parser: no bare {ty:?}"),
        }
    }

    fn place(&self, fields: &[Field], start: u64, ptr: u64) -> (Vec<Placed>, u64, u64) {
        let mut offset = start;
        let mut align = 1;
        let mut out = Vec::new();
        for f in expand(fields) {
            let shape = self.shape(&f.ty, ptr);
            offset = round_up(offset, shape.align);
            align = align.max(shape.align);
            out.push(Placed {
                field: f,
                offset,
                shape,
            });
            offset += shape.size;
        }
        (out, offset, align)
    }

    /// C layout of a struct: every member at its natural alignment (64-bit integers at 8
    /// even where the C ABI would use 4, as the original headers force with `_Alignas`).
    pub(crate) fn layout(&self, s: &Struct, ptr: u64) -> Layout {
        let (fields, mut end, mut align) = self.place(&s.fields, 0, ptr);
        let mut union = None;
        if let Some(v) = &s.variant {
            let mut arms = Vec::new();
            let mut u = Shape { size: 0, align: 1 };
            for arm in &v.arms {
                let fs = match &arm.body {
                    ArmBody::Plain(t) => vec![Field {
                        name: arm.name.clone(),
                        ty: t.clone(),
                        doc: arm.doc.clone(),
                    }],
                    ArmBody::Struct(fs) => fs.clone(),
                };
                let (placed, aend, aalign) = self.place(&fs, 0, ptr);
                let shape = Shape {
                    size: round_up(aend, aalign),
                    align: aalign,
                };
                u.size = u.size.max(shape.size);
                u.align = u.align.max(shape.align);
                arms.push(PlacedArm {
                    arm: arm.clone(),
                    fields: placed,
                    shape,
                });
            }
            u.size = round_up(u.size, u.align);
            let at = round_up(end, u.align);
            end = at + u.size;
            align = align.max(u.align);
            union = Some((at, u, arms));
        }
        Layout {
            fields,
            union,
            shape: Shape {
                size: round_up(end, align),
                align,
            },
        }
    }
}

// ---------------------------------------------------------------------------
// Parser

struct Node {
    line: usize,
    words: Vec<String>,
    doc: String,
    children: Vec<Node>,
}

fn err(line: usize, msg: impl std::fmt::Display) -> String {
    format!("spec line {line}: {msg}")
}

fn tree(text: &str) -> Result<Vec<Node>, String> {
    // (indent level, node) stack; finished children are attached when popped.
    let mut roots: Vec<Node> = Vec::new();
    let mut stack: Vec<(usize, Node)> = Vec::new();
    fn attach(stack: &mut Vec<(usize, Node)>, roots: &mut Vec<Node>, level: usize) {
        while let Some((l, _)) = stack.last() {
            if *l < level {
                break;
            }
            let (_, node) = stack.pop().expect("non-empty");
            match stack.last_mut() {
                Some((_, parent)) => parent.children.push(node),
                None => roots.push(node),
            }
        }
    }
    for (i, raw) in text.lines().enumerate() {
        let line = i + 1;
        let trimmed = raw.trim_start_matches(' ');
        if trimmed.is_empty() || trimmed.starts_with('#') {
            continue;
        }
        if raw.contains('\t') {
            return Err(err(line, "tabs are not allowed; indent with two spaces"));
        }
        let spaces = raw.len() - trimmed.len();
        if spaces % 2 != 0 {
            return Err(err(line, "indentation must be a multiple of two spaces"));
        }
        let level = spaces / 2;
        if let Some(more) = trimmed.strip_prefix('|') {
            let Some((_, node)) = stack.last_mut() else {
                return Err(err(line, "`|` continuation without an item"));
            };
            let more = more.trim();
            if !node.doc.is_empty() && !more.is_empty() {
                node.doc.push(' ');
            }
            node.doc.push_str(more);
            continue;
        }
        let (head, doc) = match trimmed.split_once(" : ") {
            Some((h, d)) => (h, d.trim().to_string()),
            None => (trimmed, String::new()),
        };
        attach(&mut stack, &mut roots, level);
        let expected = stack.last().map_or(0, |(l, _)| l + 1);
        if level != expected {
            return Err(err(line, format!("expected indentation level {expected}")));
        }
        stack.push((
            level,
            Node {
                line,
                words: head.split_whitespace().map(str::to_string).collect(),
                doc,
                children: Vec::new(),
            },
        ));
    }
    attach(&mut stack, &mut roots, 0);
    Ok(roots)
}

fn parse_ty(words: &[String], line: usize) -> Result<Ty, String> {
    let w: Vec<&str> = words.iter().map(String::as_str).collect();
    let ty = match w.as_slice() {
        [] => return Err(err(line, "missing type")),
        ["ptr", "atomic", rest @ ..] | ["cptr", "atomic", rest @ ..] => Ty::Ptr {
            to: Box::new(parse_ty(&owned(rest), line)?),
            konst: w[0] == "cptr",
            atomic: true,
        },
        ["ptr", rest @ ..] | ["cptr", rest @ ..] => Ty::Ptr {
            to: Box::new(parse_ty(&owned(rest), line)?),
            konst: w[0] == "cptr",
            atomic: false,
        },
        ["range", rest @ ..] | ["crange", rest @ ..] => Ty::Range {
            elem: Box::new(parse_ty(&owned(rest), line)?),
            konst: w[0] == "crange",
        },
        ["array", n, rest @ ..] => Ty::Array(
            n.parse()
                .map_err(|_| err(line, format!("bad array length `{n}`")))?,
            Box::new(parse_ty(&owned(rest), line)?),
        ),
        ["char"] => Ty::Char,
        ["void"] => Ty::Void,
        ["size"] => Ty::Size,
        [one] => match Int::parse(one) {
            Some(i) => Ty::Int(i),
            None => Ty::Named(one.to_string()),
        },
        _ => return Err(err(line, format!("cannot read type `{}`", w.join(" ")))),
    };
    Ok(ty)
}

fn owned(w: &[&str]) -> Vec<String> {
    w.iter().map(|s| s.to_string()).collect()
}

fn parse_number(s: &str, line: usize) -> Result<(u64, bool), String> {
    let r = match s.strip_prefix("0x") {
        Some(h) => u64::from_str_radix(h, 16).map(|v| (v, true)),
        None => s.parse().map(|v| (v, false)),
    };
    r.map_err(|_| err(line, format!("bad number `{s}`")))
}

fn no_children(n: &Node) -> Result<(), String> {
    match n.children.first() {
        Some(c) => Err(err(c.line, "unexpected nested item")),
        None => Ok(()),
    }
}

fn field(n: &Node) -> Result<Field, String> {
    no_children(n)?;
    // `field <name> <type>`, `range <name> <elem>`, `crange <name> <elem>`
    let (name, ty) = match n.words.first().map(String::as_str) {
        Some("field") if n.words.len() >= 3 => (&n.words[1], parse_ty(&n.words[2..], n.line)?),
        Some(k @ ("range" | "crange")) if n.words.len() >= 3 => {
            let mut w = vec![k.to_string()];
            w.extend_from_slice(&n.words[2..]);
            (&n.words[1], parse_ty(&w, n.line)?)
        }
        _ => return Err(err(n.line, "expected `field`, `range` or `crange`")),
    };
    Ok(Field {
        name: name.clone(),
        ty,
        doc: n.doc.clone(),
    })
}

fn param(n: &Node, keyword: &str) -> Result<Field, String> {
    no_children(n)?;
    if n.words.len() < 3 || n.words[0] != keyword {
        return Err(err(n.line, format!("expected `{keyword} <name> <type>`")));
    }
    Ok(Field {
        name: n.words[1].clone(),
        ty: parse_ty(&n.words[2..], n.line)?,
        doc: n.doc.clone(),
    })
}

fn camel(name: &str) -> String {
    name.split('_')
        .map(|p| {
            let mut c = p.chars();
            c.next()
                .map(|f| f.to_uppercase().chain(c).collect::<String>())
                .unwrap_or_default()
        })
        .collect()
}

/// `FdReadwrite` from `fd_readwrite`.
pub(crate) fn camel_case(name: &str) -> String {
    camel(name)
}

fn scalar(n: &Node, kind: ScalarKind) -> Result<Scalar, String> {
    let [_, name, int, rust, rest @ ..] = n.words.as_slice() else {
        return Err(err(n.line, "expected `<kind> <name> <int> <RustName>`"));
    };
    let int = Int::parse(int).ok_or_else(|| err(n.line, format!("unknown integer `{int}`")))?;
    let mut cprefix = format!("{}_", name.to_uppercase());
    for opt in rest {
        match opt.strip_prefix("cprefix=") {
            Some(p) => cprefix = p.to_string(),
            None => return Err(err(n.line, format!("unknown option `{opt}`"))),
        }
    }
    if kind == ScalarKind::Alias && !n.children.is_empty() {
        return Err(err(n.line, "an alias has no values"));
    }
    let mut values = Vec::new();
    for c in &n.children {
        no_children(c)?;
        let (v, vname, rust) = match c.words.as_slice() {
            [v, vname] => (v, vname, vname.to_uppercase()),
            [v, vname, r] if r.starts_with('=') => (v, vname, r[1..].to_string()),
            _ => return Err(err(c.line, "expected `<value> <name> [=RUST_NAME]`")),
        };
        let (value, hex) = parse_number(v, c.line)?;
        if value > int.max() {
            return Err(err(
                c.line,
                format!("{value} does not fit in {}", int.rust()),
            ));
        }
        if !rust.starts_with(|ch: char| ch.is_ascii_alphabetic()) {
            return Err(err(
                c.line,
                "the Rust name must start with a letter; add `=NAME`",
            ));
        }
        if kind == ScalarKind::Flags && value.count_ones() != 1 {
            return Err(err(c.line, "a flag must be a single bit"));
        }
        if c.doc.is_empty() {
            return Err(err(c.line, "every value needs documentation"));
        }
        values.push(Value {
            name: vname.clone(),
            rust,
            value,
            hex,
            doc: c.doc.clone(),
        });
    }
    if kind == ScalarKind::Enum {
        for (i, a) in values.iter().enumerate() {
            if values[..i].iter().any(|b| b.value == a.value) {
                return Err(err(n.line, format!("duplicate enum value {}", a.value)));
            }
        }
    }
    Ok(Scalar {
        name: name.clone(),
        rust: rust.clone(),
        kind,
        int,
        cprefix,
        doc: n.doc.clone(),
        values,
    })
}

fn strukt(n: &Node) -> Result<Struct, String> {
    let [_, name, rust] = n.words.as_slice() else {
        return Err(err(n.line, "expected `struct <name> <RustName>`"));
    };
    let mut fields = Vec::new();
    let mut variant = None;
    for c in &n.children {
        if c.words.first().map(String::as_str) == Some("variant") {
            let [_, tag] = c.words.as_slice() else {
                return Err(err(c.line, "expected `variant <tag field>`"));
            };
            if variant.is_some() {
                return Err(err(c.line, "only one variant per struct"));
            }
            let mut arms = Vec::new();
            for a in &c.children {
                let (kind, name, tags) = match a.words.as_slice() {
                    [k, name, tags, ..] => (k.as_str(), name.clone(), tags),
                    _ => return Err(err(a.line, "expected `arm` or `case`")),
                };
                let tags: Vec<String> = tags.split(',').map(str::to_string).collect();
                let body = match kind {
                    "arm" => {
                        no_children(a)?;
                        ArmBody::Plain(parse_ty(&a.words[3..], a.line)?)
                    }
                    "case" if a.words.len() == 3 => {
                        ArmBody::Struct(a.children.iter().map(field).collect::<Result<_, _>>()?)
                    }
                    _ => return Err(err(a.line, "expected `arm` or `case`")),
                };
                arms.push(Arm {
                    name,
                    tags,
                    doc: a.doc.clone(),
                    body,
                });
            }
            variant = Some(Variant {
                tag: tag.clone(),
                arms,
            });
        } else if variant.is_some() {
            return Err(err(c.line, "fields after the variant are not supported"));
        } else {
            fields.push(field(c)?);
        }
    }
    Ok(Struct {
        name: name.clone(),
        rust: rust.clone(),
        doc: n.doc.clone(),
        fields,
        variant,
    })
}

fn function(n: &Node) -> Result<Function, String> {
    let [_, name, rust] = n.words.as_slice() else {
        return Err(err(n.line, "expected `function <name> <RustName>`"));
    };
    Ok(Function {
        name: name.clone(),
        rust: rust.clone(),
        doc: n.doc.clone(),
        params: n
            .children
            .iter()
            .map(|c| param(c, "param"))
            .collect::<Result<_, _>>()?,
    })
}

fn syscall(n: &Node, number: u32) -> Result<Syscall, String> {
    let [_, name] = n.words.as_slice() else {
        return Err(err(n.line, "expected `syscall <name>`"));
    };
    let mut params = Vec::new();
    let mut noreturn = false;
    for c in &n.children {
        match c.words.first().map(String::as_str) {
            Some("noreturn") if c.words.len() == 1 => noreturn = true,
            Some("in") => params.push(Param {
                dir: Dir::In,
                field: param(c, "in")?,
            }),
            Some("out") => params.push(Param {
                dir: Dir::Out,
                field: param(c, "out")?,
            }),
            _ => return Err(err(c.line, "expected `in`, `out` or `noreturn`")),
        }
    }
    Ok(Syscall {
        name: name.clone(),
        number,
        doc: n.doc.clone(),
        params,
        noreturn,
    })
}

/// Parses and checks the spec text.
pub(crate) fn parse(text: &str) -> Result<Spec, String> {
    let mut items = Vec::new();
    let mut syscalls: Vec<Syscall> = Vec::new();
    let mut index = BTreeMap::new();
    let mut lines = BTreeMap::new();
    for n in tree(text)? {
        if n.doc.is_empty() && n.words.first().map(String::as_str) != Some("variant") {
            return Err(err(n.line, "every item needs documentation"));
        }
        let item = match n.words.first().map(String::as_str) {
            Some("enum") => Item::Scalar(scalar(&n, ScalarKind::Enum)?),
            Some("flags") => Item::Scalar(scalar(&n, ScalarKind::Flags)?),
            Some("opaque") => Item::Scalar(scalar(&n, ScalarKind::Opaque)?),
            Some("alias") => Item::Scalar(scalar(&n, ScalarKind::Alias)?),
            Some("struct") => Item::Struct(strukt(&n)?),
            Some("function") => Item::Function(function(&n)?),
            Some("syscall") => {
                let s = syscall(&n, syscalls.len() as u32)?;
                if let Some(prev) = syscalls.last()
                    && prev.name >= s.name
                {
                    return Err(err(n.line, "syscalls must be listed in alphabetical order"));
                }
                syscalls.push(s);
                continue;
            }
            _ => return Err(err(n.line, format!("unknown item `{}`", n.words.join(" ")))),
        };
        if index.insert(item.name().to_string(), items.len()).is_some() {
            return Err(err(n.line, format!("`{}` is defined twice", item.name())));
        }
        lines.insert(item.name().to_string(), n.line);
        items.push(item);
    }
    let spec = Spec {
        items,
        syscalls,
        index,
    };
    spec.check(&lines)?;
    Ok(spec)
}

impl Spec {
    /// Every name is defined before use, in a place where its kind makes sense.
    fn check(&self, lines: &BTreeMap<String, usize>) -> Result<(), String> {
        fn walk<'a>(t: &'a Ty, out: &mut Vec<&'a Ty>) {
            out.push(t);
            match t {
                Ty::Ptr { to, .. } => walk(to, out),
                Ty::Array(_, e) | Ty::Range { elem: e, .. } => walk(e, out),
                _ => {}
            }
        }
        let check_ty = |t: &Ty, line: usize, defined: &dyn Fn(&str) -> bool, top: bool| {
            let mut all = Vec::new();
            walk(t, &mut all);
            for (depth, sub) in all.iter().enumerate() {
                match sub {
                    Ty::Named(n) => {
                        if !defined(n) {
                            return Err(err(line, format!("`{n}` is not defined (yet)")));
                        }
                        let behind_ptr = depth > 0 && matches!(all[depth - 1], Ty::Ptr { .. });
                        if matches!(self.get(n), Some(Item::Function(_))) && !behind_ptr {
                            return Err(err(line, format!("function `{n}` only behind `ptr`")));
                        }
                    }
                    Ty::Void => {
                        let ok = depth > 0
                            && matches!(all[depth - 1], Ty::Ptr { .. } | Ty::Range { .. });
                        if !ok {
                            return Err(err(line, "`void` only behind a pointer or range"));
                        }
                    }
                    Ty::Range { .. } if !(top && depth == 0) => {
                        return Err(err(line, "a range cannot be nested"));
                    }
                    _ => {}
                }
            }
            Ok(())
        };
        for (pos, item) in self.items.iter().enumerate() {
            let line = lines[item.name()];
            let defined = |n: &str| self.index.get(n).is_some_and(|&i| i < pos);
            match item {
                Item::Scalar(_) => {}
                Item::Function(f) => {
                    for p in &f.params {
                        check_ty(&p.ty, line, &defined, false)?;
                    }
                }
                Item::Struct(s) => {
                    for f in &s.fields {
                        check_ty(&f.ty, line, &defined, true)?;
                    }
                    if let Some(v) = &s.variant {
                        let tag = s.fields.iter().find(|f| f.name == v.tag);
                        let Some(Ty::Named(tag_ty)) = tag.map(|f| &f.ty) else {
                            return Err(err(line, format!("no tag field `{}`", v.tag)));
                        };
                        let Some(Item::Scalar(en)) = self.get(tag_ty) else {
                            return Err(err(line, "the tag must be an enum"));
                        };
                        for a in &v.arms {
                            for t in &a.tags {
                                if !en.values.iter().any(|x| &x.name == t) {
                                    return Err(err(line, format!("`{t}` is not a {tag_ty}")));
                                }
                            }
                            match &a.body {
                                ArmBody::Plain(t) => check_ty(t, line, &defined, false)?,
                                ArmBody::Struct(fs) => {
                                    for f in fs {
                                        check_ty(&f.ty, line, &defined, true)?;
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
        let all = |n: &str| self.index.contains_key(n);
        for s in &self.syscalls {
            for p in &s.params {
                check_ty(&p.field.ty, 0, &all, true)
                    .map_err(|e| format!("syscall {}: {e}", s.name))?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fails(text: &str, needle: &str) {
        match parse(text) {
            Ok(_) => panic!("accepted:\n{text}"),
            Err(e) => assert!(e.contains(needle), "error `{e}` lacks `{needle}`"),
        }
    }

    #[test]
    fn the_real_spec_parses() {
        let text = include_str!("../../../cloudabi-types/spec/cloudabi.abi");
        let spec = parse(text).expect("spec parses");
        assert_eq!(spec.items.len(), 57);
        assert_eq!(spec.syscalls.len(), 49);
        assert_eq!(spec.syscalls[48].name, "thread_yield");
    }

    #[test]
    fn rejects_bad_input() {
        fails("enum e u8 E : doc\n   1 a : x\n", "multiple of two");
        fails("enum e u8 E : doc\n    1 a : x\n", "indentation level");
        fails("enum e u8 E\n", "documentation");
        fails("enum e u8 E : doc\n  300 a : x\n", "does not fit");
        fails("enum e u8 E : doc\n  1 a : x\n  1 b : y\n", "duplicate");
        fails("flags f u8 F : doc\n  3 a : x\n", "single bit");
        fails("struct s S : doc\n  field x nope : x\n", "not defined");
        fails("struct s S : doc\n  field x void : x\n", "void");
        fails("syscall b : doc\nsyscall a : doc\n", "alphabetical");
        fails("alias a u8 A : doc\nalias a u8 A : doc\n", "defined twice");
        fails("widget w : doc\n", "unknown item");
    }

    #[test]
    fn lays_out_like_c() {
        let text = "alias t u64 T : doc\n\
                    struct s S : doc\n  field a u8 : x\n  range r u16 : x\n  field b t : x\n";
        let spec = parse(text).expect("parses");
        let Some(Item::Struct(s)) = spec.get("s") else {
            panic!("no struct");
        };
        let l32 = spec.layout(s, 4);
        let offsets: Vec<u64> = l32.fields.iter().map(|p| p.offset).collect();
        assert_eq!(offsets, [0, 4, 8, 16]);
        assert_eq!(l32.shape, Shape { size: 24, align: 8 });
        let l64 = spec.layout(s, 8);
        let offsets: Vec<u64> = l64.fields.iter().map(|p| p.offset).collect();
        assert_eq!(offsets, [0, 8, 16, 24]);
        assert_eq!(l64.shape, Shape { size: 32, align: 8 });
        assert!(spec.struct_dependent(s));
    }

    #[test]
    fn continuation_lines_extend_docs() {
        let spec = parse("alias a u8 A : first\n| second\n").expect("parses");
        let Some(Item::Scalar(s)) = spec.get("a") else {
            panic!("no alias");
        };
        assert_eq!(s.doc, "first second");
    }
}
