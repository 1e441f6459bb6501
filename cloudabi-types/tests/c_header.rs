//! Builds and runs the C tests against `include/cloudabi_types.h`:
//!
//! * `tests/c/layout.c` (generated): static assertions on every constant and on the size,
//!   alignment and field offsets of every struct, native and fixed-width flavours;
//! * `tests/c/compat.c`: code written against the original headers' names.
//!
//! Both are compiled with `cc -std=c11 -Wall -Werror` for the host, and again with `-m32`
//! when a 32-bit C library is installed.

use std::path::{Path, PathBuf};
use std::process::Command;

fn crate_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn cc() -> String {
    std::env::var("CC").unwrap_or_else(|_| "cc".to_string())
}

/// Compiles `source` with the strict flags plus `extra`; returns the executable.
fn compile(source: &Path, name: &str, extra: &[&str]) -> Result<PathBuf, String> {
    let out = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(name);
    let include = crate_dir().join("include");
    let output = Command::new(cc())
        .args(["-std=c11", "-Wall", "-Wextra", "-Werror", "-pedantic"])
        .args(extra)
        .arg("-I")
        .arg(&include)
        .arg(source)
        .arg("-o")
        .arg(&out)
        .output()
        .map_err(|e| format!("cannot run {}: {e}", cc()))?;
    if output.status.success() {
        Ok(out)
    } else {
        Err(format!(
            "compiling {} failed:\n{}",
            source.display(),
            String::from_utf8_lossy(&output.stderr)
        ))
    }
}

fn run(exe: &Path) -> String {
    let output = Command::new(exe).output().expect("run the C test");
    assert!(
        output.status.success(),
        "{} failed:\n{}{}",
        exe.display(),
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// Whether `cc -m32` can build and run a program here.
fn have_m32() -> bool {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR"));
    let src = dir.join("probe_m32.c");
    std::fs::write(&src, "#include <stdio.h>\nint main(void) { return 0; }\n")
        .expect("write probe");
    compile(&src, "probe_m32", &["-m32"])
        .ok()
        .is_some_and(|exe| Command::new(exe).status().is_ok_and(|s| s.success()))
}

fn check(file: &str, expect: &str) {
    let source = crate_dir().join("tests/c").join(file);
    let exe = compile(&source, &file.replace(".c", ""), &[]).unwrap_or_else(|e| panic!("{e}"));
    let stdout = run(&exe);
    assert!(stdout.contains(expect), "unexpected output: {stdout}");
    if have_m32() {
        let exe = compile(&source, &file.replace(".c", "_m32"), &["-m32"])
            .unwrap_or_else(|e| panic!("{e}"));
        let stdout = run(&exe);
        assert!(stdout.contains(expect), "unexpected -m32 output: {stdout}");
    } else {
        eprintln!("note: no 32-bit C library; {file} checked for the host only");
    }
}

#[test]
fn layout_assertions_hold_in_c() {
    check("layout.c", "static assertions hold");
}

#[test]
fn code_using_original_names_compiles() {
    check("compat.c", "compat.c: ok");
}

#[test]
fn layout_test_covers_every_constant() {
    let header =
        std::fs::read_to_string(crate_dir().join("include/cloudabi_types.h")).expect("read header");
    let test = std::fs::read_to_string(crate_dir().join("tests/c/layout.c")).expect("read test");
    let mut count = 0;
    for line in header.lines() {
        if let Some(rest) = line.strip_prefix("#define CLOUDABI_") {
            let name = rest.split_whitespace().next().expect("macro name");
            if name.ends_with("_H") {
                continue;
            }
            assert!(
                test.contains(&format!("_Static_assert(CLOUDABI_{name} == ")),
                "CLOUDABI_{name} is not checked by layout.c"
            );
            count += 1;
        }
    }
    assert_eq!(count, 224, "number of constants in the header");
}
