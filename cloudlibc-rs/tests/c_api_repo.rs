//! C API checks against files elsewhere in the repository, so not part of the package:
//! `capfs.h` agrees with `cloudabi_types.h` (from `cloudabi-types`), and the host build of the
//! shared `argdata.h` dump program (`examples/cloudabi/c/argdump.c`) prints
//! `argdump.expected`, as its CloudABI build does under the emulator.

mod common;

use std::process::{Command, Stdio};

use cloudabi_test_support::guest::argdump_cases;
use cloudabi_types::{Errno, Rights};
use cloudlibc_rs::capfs::{self, rights};
use common::TempDir;

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
