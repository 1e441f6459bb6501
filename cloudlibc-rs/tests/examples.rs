//! The `hello` and `ls` examples, in Rust and in C, started through the real startup
//! protocol (sealed memfd) and by hand (`--argdata FILE`), plus protocol violations.

mod common;

use std::io::Read;
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Command, Output, Stdio};

use argdata::{Fd, Value};
use common::TempDir;

fn c_example(name: &str, dir: &TempDir) -> PathBuf {
    let out = dir.path().join(format!("{name}-c"));
    common::compile_c(
        &common::repo_root().join(format!("examples/c/{name}.c")),
        &out,
    );
    out
}

fn run(mut cmd: Command) -> Output {
    cmd.stdin(Stdio::null()).output().unwrap()
}

/// In a child before exec: puts `raw` at `target`, inheritable (async-signal-safe).
fn place(raw: i32, target: i32) -> std::io::Result<()> {
    // SAFETY: dup2 and fcntl are async-signal-safe and only change the descriptor table.
    let r = unsafe {
        if raw == target {
            libc::fcntl(raw, libc::F_SETFD, 0)
        } else {
            libc::dup2(raw, target)
        }
    };
    if r < 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(())
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn hello_via_protocol(bin: PathBuf) {
    let (mut r, w) = std::io::pipe().unwrap();
    let w = OwnedFd::from(w);
    let value = Value::map([
        ("greeting", Value::from("Hi")),
        ("out", Value::seq([Fd(w.as_raw_fd()), Fd(1)])),
    ]);
    let cmd = program::launch::command(&bin, &value).unwrap();
    let out = run(cmd);
    drop(w);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let mut piped = String::new();
    r.read_to_string(&mut piped).unwrap();
    // The pipe is the only granted descriptor beyond 0-2, so it is fd 3.
    assert_eq!(piped, "Hi, fd 3!\n");
    assert_eq!(text(&out.stdout), "Hi, fd 1!\n");
}

fn hello_by_hand(bin: PathBuf) {
    let dir = TempDir::new("hello");
    let file = dir.path().join("ad.bin");
    let mut bytes = Vec::new();
    Value::seq([Fd(1), Fd(2)])
        .encode_raw_fds_into(&mut bytes)
        .unwrap();
    std::fs::write(&file, bytes).unwrap();
    let mut cmd = Command::new(bin.clone());
    cmd.arg("--argdata").arg(&file);
    let out = run(cmd);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout), "Hello, fd 1!\n");
    assert_eq!(text(&out.stderr), "Hello, fd 2!\n");

    let yaml = dir.path().join("ad.yaml");
    std::fs::write(&yaml, "greeting: Hey\nout: [!fd stdout, !fd stdout]\n").unwrap();
    let mut cmd = Command::new(bin.clone());
    cmd.arg("--argdata-yaml").arg(&yaml);
    let out = run(cmd);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout), "Hey, fd 1!\nHey, fd 1!\n");

    std::fs::write(&yaml, "out: [!fd stdout\n").unwrap();
    let mut cmd = Command::new(bin);
    cmd.arg(format!("--argdata-yaml={}", yaml.display()));
    let out = run(cmd);
    assert_eq!(out.status.code(), Some(64));
    assert!(
        text(&out.stderr).contains("ad.yaml:"),
        "{}",
        text(&out.stderr)
    );
}

fn ls_via_protocol(bin: PathBuf) {
    let tmp = TempDir::new("ls");
    std::fs::write(tmp.path().join("b.txt"), "x").unwrap();
    std::fs::create_dir(tmp.path().join("a")).unwrap();
    let dir = OwnedFd::from(std::fs::File::open(tmp.path()).unwrap());
    let value = Value::map([("dir", Fd(dir.as_raw_fd())), ("out", Fd(1))]);
    let out = run(program::launch::command(&bin, &value).unwrap());
    assert!(out.status.success(), "{}", text(&out.stderr));
    let mut lines: Vec<_> = text(&out.stdout).lines().map(str::to_owned).collect();
    lines.sort();
    assert_eq!(lines, ["a/", "b.txt"]);
}

fn ls_by_hand(bin: PathBuf) {
    let tmp = TempDir::new("ls-hand");
    std::fs::write(tmp.path().join("only"), "x").unwrap();
    let dir = OwnedFd::from(std::fs::File::open(tmp.path()).unwrap());
    let raw = dir.as_raw_fd();
    let file = tmp.path().join("ad.bin");
    let mut bytes = Vec::new();
    Value::map([("dir", Fd(7)), ("out", Fd(1))])
        .encode_raw_fds_into(&mut bytes)
        .unwrap();
    std::fs::write(&file, bytes).unwrap();
    let mut cmd = Command::new(bin);
    cmd.arg("--argdata").arg(&file);
    // SAFETY: dup2 is async-signal-safe; it places the directory at fd 7 in the child.
    unsafe {
        cmd.pre_exec(move || place(raw, 7));
    }
    let out = run(cmd);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let mut lines: Vec<_> = text(&out.stdout).lines().map(str::to_owned).collect();
    lines.sort();
    assert_eq!(lines, ["ad.bin", "only"]);
}

/// Starts `bin` with a hand-made memfd at fd 3 holding `bytes`, sealed with `seals`.
fn raw_protocol(bin: PathBuf, bytes: &[u8], seal: bool) -> Output {
    let memfd = if seal {
        program::launch::sealed_memfd(bytes).unwrap()
    } else {
        let fd = rustix::fs::memfd_create("argdata", rustix::fs::MemfdFlags::CLOEXEC).unwrap();
        rustix::io::write(&fd, bytes).unwrap();
        fd
    };
    let raw = memfd.as_raw_fd();
    let mut cmd = Command::new(bin);
    cmd.env_clear().env("CLOUDABI_ARGDATA_FD", "3");
    // SAFETY: dup2 is async-signal-safe; it places the memfd at fd 3 in the child.
    unsafe {
        cmd.pre_exec(move || place(raw, 3));
    }
    let out = run(cmd);
    drop(memfd);
    out
}

fn rejects_ungranted_fd(bin: PathBuf) {
    // The memfd is fd 3, so no descriptor beyond 0-2 is granted: fd 3 and 5 are refused.
    for fd in [3, 5] {
        let mut bytes = Vec::new();
        Value::seq([Fd(fd)])
            .encode_raw_fds_into(&mut bytes)
            .unwrap();
        let out = raw_protocol(bin.clone(), &bytes, true);
        assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
        assert!(out.stdout.is_empty());
    }
    // fd 1 is granted.
    let mut bytes = Vec::new();
    Value::seq([Fd(1)]).encode_raw_fds_into(&mut bytes).unwrap();
    let out = raw_protocol(bin, &bytes, true);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout), "Hello, fd 1!\n");
}

fn rejects_unsealed_memfd(bin: PathBuf) {
    let mut bytes = Vec::new();
    Value::seq([Fd(1)]).encode_raw_fds_into(&mut bytes).unwrap();
    let out = raw_protocol(bin, &bytes, false);
    assert_eq!(out.status.code(), Some(71));
    assert!(
        text(&out.stderr).contains("not a memfd sealed"),
        "{}",
        text(&out.stderr)
    );
    assert!(out.stdout.is_empty());
}

fn no_argdata(bin: PathBuf, name: &str) {
    let out = run(Command::new(bin));
    assert_eq!(out.status.code(), Some(64));
    assert_eq!(
        text(&out.stderr),
        format!(
            "{name}: no argdata: start this program with cloudabi-run, or pass --argdata-yaml FILE\n"
        )
    );
}

#[test]
fn rust_hello() {
    hello_via_protocol(common::example("hello"));
    hello_by_hand(common::example("hello"));
    rejects_ungranted_fd(common::example("hello"));
    rejects_unsealed_memfd(common::example("hello"));
    no_argdata(common::example("hello"), "hello");
}

#[test]
fn rust_ls() {
    ls_via_protocol(common::example("ls"));
    ls_by_hand(common::example("ls"));
}

#[test]
fn c_hello() {
    let dir = TempDir::new("c-hello");
    let bin = c_example("hello", &dir);
    hello_via_protocol(bin.clone());
    hello_by_hand(bin.clone());
    rejects_ungranted_fd(bin.clone());
    rejects_unsealed_memfd(bin.clone());
    no_argdata(bin, "hello-c");
}

#[test]
fn c_ls() {
    let dir = TempDir::new("c-ls");
    let bin = c_example("ls", &dir);
    ls_via_protocol(bin.clone());
    ls_by_hand(bin);
}
