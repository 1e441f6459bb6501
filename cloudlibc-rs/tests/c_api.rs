//! Compiles the C tests under `tests/c/` with the documented command line against the
//! static library and runs them: the whole `argdata.h` API, `capfs.h`, and `program.h`
//! (`program_exec` re-executing a program through the startup protocol). The checks that need
//! files from elsewhere in the repository are in `c_api_repo.rs`.

mod common;

use std::io::Read;
use std::os::fd::{AsRawFd, OwnedFd};
use std::process::{Command, Stdio};

use argdata::{Fd, Value};
use common::TempDir;

fn build(name: &str, dir: &TempDir) -> std::path::PathBuf {
    let src = common::crate_dir().join(format!("tests/c/{name}.c"));
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
