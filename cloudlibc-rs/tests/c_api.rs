//! Compiles the C tests under `tests/c/` with the documented command line against the
//! static library and runs them: the whole `argdata.h` API, `capfs.h`, and `program.h`
//! (`program_exec` re-executing a program through the startup protocol). Also checks that
//! `capfs.h` agrees with `cloudabi_types.h`.

mod common;

use std::io::Read;
use std::os::fd::{AsRawFd, OwnedFd};
use std::process::{Command, Stdio};

use argdata::{Fd, Value};
use cloudabi_types::{Errno, Rights};
use cloudlibc_rs::capfs::{self, rights};
use common::TempDir;

fn build(name: &str, dir: &TempDir) -> std::path::PathBuf {
    let src = common::repo_root().join(format!("cloudlibc-rs/tests/c/{name}.c"));
    let out = dir.path().join(name);
    common::compile_c(&src, &out);
    out
}

fn check(out: std::process::Output) {
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && stdout.contains(" passed, 0 failed"),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn argdata_api() {
    let dir = TempDir::new("c-argdata");
    check(Command::new(build("argdata_test", &dir)).output().unwrap());
}

#[test]
fn capfs_api() {
    let dir = TempDir::new("c-capfs");
    let bin = build("capfs_test", &dir);
    let tree = TempDir::new("c-capfs-tree");
    std::fs::write(tree.path().join("secret"), "outside").unwrap();
    std::fs::create_dir(tree.path().join("sandbox")).unwrap();
    check(Command::new(bin).arg(tree.path()).output().unwrap());
    assert_eq!(
        std::fs::read_to_string(tree.path().join("secret")).unwrap(),
        "outside"
    );
}

/// Names `NAME` of every `#define PREFIXNAME` in `header`.
fn defined_names(header: &str, prefix: &str) -> Vec<String> {
    header
        .lines()
        .filter_map(|l| l.strip_prefix("#define ")?.strip_prefix(prefix))
        .map(|rest| {
            rest.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                .next()
                .unwrap_or_default()
                .to_owned()
        })
        .collect()
}

/// `capfs.h` repeats CloudABI's rights so that it needs only `-Icloudlibc-rs/include`.
/// Check at compile time, with both include directories, that every `CAPFS_RIGHT_*`
/// equals the `CLOUDABI_RIGHT_*` of `cloudabi_types.h` and the bit of
/// [`cloudabi_types::Rights`], that none is missing or extra, that the `CAPFS_RIGHTS_*`
/// presets equal the Rust ones in [`rights`], and how `ENOTCAPABLE` relates to CloudABI's.
#[test]
fn capfs_h_agrees_with_cloudabi_types() {
    let root = common::repo_root();
    let header = std::fs::read_to_string(root.join("cloudlibc-rs/include/capfs.h")).unwrap();
    let mut src = String::from(
        "#include <capfs.h>\n#include <cloudabi_types.h>\n\
         _Static_assert(_Generic((cloudabi_rights_t)0, capfs_rights_t: 1, default: 0),\n\
         \"capfs_rights_t is cloudabi_rights_t\");\n",
    );
    let mut names = Vec::new();
    for (name, bit) in Rights::all().iter_names() {
        names.push(name.to_owned());
        src += &format!(
            "_Static_assert(CAPFS_RIGHT_{name} == CLOUDABI_RIGHT_{name} && \
             CAPFS_RIGHT_{name} == {:#x}ull, \"{name}\");\n",
            bit.bits()
        );
    }
    let mut in_header = defined_names(&header, "CAPFS_RIGHT_");
    in_header.sort();
    names.sort();
    assert_eq!(
        in_header, names,
        "CAPFS_RIGHT_* in capfs.h vs cloudabi_types::Rights"
    );
    let presets = [
        ("DIRECTORY_READ_ONLY", rights::DIRECTORY_READ_ONLY),
        ("FILE_READ_ONLY", rights::FILE_READ_ONLY),
        ("FILE_APPEND_ONLY", rights::FILE_APPEND_ONLY),
    ];
    let mut preset_names: Vec<_> = presets.iter().map(|(n, _)| n.to_string()).collect();
    let mut in_header = defined_names(&header, "CAPFS_RIGHTS_");
    in_header.sort();
    preset_names.sort();
    assert_eq!(in_header, preset_names, "CAPFS_RIGHTS_* presets in capfs.h");
    for (name, value) in presets {
        src += &format!(
            "_Static_assert(CAPFS_RIGHTS_{name} == {:#x}ull, \"{name}\");\n",
            value.bits()
        );
    }
    src += &format!(
        "_Static_assert(CLOUDABI_ENOTCAPABLE == {}, \"CloudABI numbering\");\n\
         _Static_assert(ENOTCAPABLE == {}, \"Linux-side value\");\n\
         _Static_assert(ENOTCAPABLE != CLOUDABI_ENOTCAPABLE, \"76 is ENOTUNIQ on Linux\");\n",
        Errno::NOTCAPABLE.0,
        capfs::ENOTCAPABLE,
    );
    let dir = TempDir::new("c-capfs-abi");
    let file = dir.path().join("capfs_abi.c");
    std::fs::write(&file, &src).unwrap();
    let out = Command::new("cc")
        .args(["-std=c11", "-Wall", "-Werror", "-fsyntax-only", "-I"])
        .arg(root.join("cloudlibc-rs/include"))
        .arg("-I")
        .arg(root.join("cloudabi-types/include"))
        .arg(&file)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{src}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn program_exec_reexecutes_through_the_protocol() {
    let dir = TempDir::new("c-exec");
    let bin = build("exec_test", &dir);
    let exe = OwnedFd::from(std::fs::File::open(&bin).unwrap());
    let (mut r, w) = std::io::pipe().unwrap();
    let w = OwnedFd::from(w);
    let value = Value::map([
        ("self", Value::from(Fd(exe.as_raw_fd()))),
        ("out", Value::from(Fd(w.as_raw_fd()))),
        ("depth", Value::from(2)),
    ]);
    let mut cmd = program::launch::command(&bin, &value).unwrap();
    let out = cmd.stdin(Stdio::null()).output().unwrap();
    drop(w);
    let mut text = String::new();
    r.read_to_string(&mut text).unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // self = 3, out = 4, memfd = 5 (closed at startup): the highest open fd is 4.
    assert_eq!(
        text,
        "depth 2 raw ok highest 4\ndepth 1 raw ok highest 4\ndepth 0 raw ok highest 4\n"
    );
}

/// The encoded values of `examples/cloudabi/c/argdump.cases`, in order (`-` is empty).
fn argdump_cases() -> Vec<Vec<u8>> {
    let path = common::repo_root().join("examples/cloudabi/c/argdump.cases");
    let text = std::fs::read_to_string(path).unwrap();
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .map(|l| {
            let hex = if l == "-" { "" } else { l };
            (0..hex.len())
                .step_by(2)
                .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap())
                .collect()
        })
        .collect()
}

/// The host reader answers every getter and iterator of `argdata.h` on the values of
/// `argdump.cases` exactly as `argdump.expected` says; the emulator's tests compare the
/// CloudABI build of the same program (the same reader, `src/reader.rs`) with the same
/// file, so the two targets cannot disagree.
#[test]
fn argdump_matches_the_expected_dump() {
    use std::io::Write;

    let dir = TempDir::new("c-argdump");
    let src = common::repo_root().join("examples/cloudabi/c/argdump.c");
    let exe = dir.path().join("argdump");
    common::compile_c(&src, &exe);
    let mut got = String::new();
    for case in argdump_cases() {
        let hex: String = case.iter().map(|b| format!("{b:02x}")).collect();
        got.push_str(&format!("# {}\n", if hex.is_empty() { "-" } else { &hex }));
        let mut child = Command::new(&exe)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        child.stdin.take().unwrap().write_all(&case).unwrap();
        let out = child.wait_with_output().unwrap();
        assert!(out.status.success(), "argdump failed on {hex}");
        got.push_str(&String::from_utf8(out.stdout).unwrap());
    }
    let expected =
        std::fs::read_to_string(common::repo_root().join("examples/cloudabi/c/argdump.expected"))
            .unwrap();
    assert_eq!(got, expected);
}
