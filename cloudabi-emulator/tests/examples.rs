//! The example programs of `examples/cloudabi/`, built as real CloudABI executables for
//! x86-64 (and AArch64, build only) and run under the emulator.
//!
//! They need Debian's toolchain (`cargo xtask cloudabi install-toolchain`, which `.ci/run`
//! runs). Without it each test prints why and passes as skipped; set
//! `CLOUDABI_REQUIRE_TOOLCHAIN=1` (as CI does) to make a missing toolchain a failure.

use std::io::Read;
use std::os::fd::{AsRawFd, OwnedFd};
use std::path::Path;
use std::process::Command;

use argdata::{Fd, Value};
use cloudabi_emulator::Emulator;
use cloudabi_emulator::elf::{EM_AARCH64, EM_X86_64, ElfError, Executable};
use cloudabi_test_support::guest::{
    aarch64_tools_present, argdump_cases, built, encode, open, root, xtask_target_dir,
};

fn pipe() -> (std::fs::File, OwnedFd) {
    let (r, w) = rustix::pipe::pipe().unwrap();
    (std::fs::File::from(r), w)
}

fn run(program: &Path, value: &Value) -> i32 {
    let (bytes, fds) = encode(value);
    Emulator::new(open(program), bytes, fds)
        .run()
        .expect("emulator starts")
}

#[test]
fn hello_x86_64_writes_to_every_descriptor() {
    let Some(dir) = built("x86_64-unknown-cloudabi") else {
        return;
    };
    let (mut r1, w1) = pipe();
    let (mut r2, w2) = pipe();
    let value = Value::map([
        ("greeting", Value::from("Hallo")),
        (
            "out",
            Value::seq([
                Value::from(Fd(w1.as_raw_fd())),
                Value::from(Fd(w2.as_raw_fd())),
            ]),
        ),
    ]);
    assert_eq!(run(&dir.join("hello"), &value), 0);
    drop((w1, w2));
    let (mut a, mut b) = (String::new(), String::new());
    r1.read_to_string(&mut a).unwrap();
    r2.read_to_string(&mut b).unwrap();
    assert_eq!(a, "Hallo, fd 0!\n");
    assert_eq!(b, "Hallo, fd 1!\n");
}

#[test]
fn hello_x86_64_plain_sequence_and_bad_argdata() {
    let Some(dir) = built("x86_64-unknown-cloudabi") else {
        return;
    };
    let (mut r, w) = pipe();
    assert_eq!(
        run(
            &dir.join("hello"),
            &Value::seq([Value::from(Fd(w.as_raw_fd()))])
        ),
        0
    );
    drop(w);
    let mut out = String::new();
    r.read_to_string(&mut out).unwrap();
    assert_eq!(out, "Hello, fd 0!\n");
    // A map without "out" is an error: exit status 1.
    assert_eq!(
        run(
            &dir.join("hello"),
            &Value::map([("greeting", Value::from("x"))])
        ),
        1
    );
}

#[test]
fn ls_x86_64_lists_a_directory_sorted() {
    let Some(dir) = built("x86_64-unknown-cloudabi") else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    std::fs::write(tmp.path().join("b.txt"), "b").unwrap();
    std::fs::write(tmp.path().join("a.txt"), "a").unwrap();
    std::fs::create_dir(tmp.path().join("sub")).unwrap();
    let d = open(tmp.path());
    let (mut r, w) = pipe();
    let value = Value::map([
        ("dir", Value::from(Fd(d.as_raw_fd()))),
        ("out", Value::from(Fd(w.as_raw_fd()))),
    ]);
    assert_eq!(run(&dir.join("ls"), &value), 0);
    drop(w);
    let mut out = String::new();
    r.read_to_string(&mut out).unwrap();
    assert_eq!(out, "a.txt\nb.txt\nsub/\n");
}

#[test]
fn c_examples_x86_64_run() {
    let Some(dir) = built("x86_64-unknown-cloudabi") else {
        return;
    };
    let (mut r, w) = pipe();
    let value = Value::map([
        ("greeting", Value::from("Hoi")),
        ("out", Value::seq([Value::from(Fd(w.as_raw_fd()))])),
    ]);
    assert_eq!(run(&dir.join("hello-c"), &value), 0);
    drop(w);
    let mut out = String::new();
    r.read_to_string(&mut out).unwrap();
    assert_eq!(out, "Hoi, fd 0!\n");

    let tmp = tempfile::tempdir().unwrap();
    std::fs::write(tmp.path().join("file"), "x").unwrap();
    std::fs::create_dir(tmp.path().join("dir")).unwrap();
    let d = open(tmp.path());
    let (mut r, w) = pipe();
    let value = Value::map([
        ("dir", Value::from(Fd(d.as_raw_fd()))),
        ("out", Value::from(Fd(w.as_raw_fd()))),
    ]);
    assert_eq!(run(&dir.join("ls-c"), &value), 0);
    drop(w);
    let mut out = String::new();
    r.read_to_string(&mut out).unwrap();
    // Directory order: compare sorted.
    let mut lines: Vec<&str> = out.lines().collect();
    lines.sort_unstable();
    assert_eq!(lines, ["dir/", "file"]);
    // A map without "dir" fails with status 1.
    assert_eq!(
        run(
            &dir.join("ls-c"),
            &Value::map([("out", Value::from(Fd(1)))])
        ),
        1
    );
}

/// The CloudABI build of `argdump.c` (the `argdata.h` reader of `libcloudlibc_rs.a`
/// built for the target) answers every getter and iterator on the startup argdata as
/// `argdump.expected` says; `cloudlibc-rs/tests/c_api_repo.rs` checks the host build of the
/// same program against the same file, so the two targets agree.
#[test]
fn argdump_x86_64_agrees_with_the_host_reader() {
    let Some(dir) = built("x86_64-unknown-cloudabi") else {
        return;
    };
    let mut got = String::new();
    for case in argdump_cases() {
        let hex: String = case.iter().map(|b| format!("{b:02x}")).collect();
        got.push_str(&format!("# {}\n", if hex.is_empty() { "-" } else { &hex }));
        let (mut r, w) = pipe();
        let status = Emulator::new(open(&dir.join("argdump-c")), case, vec![w])
            .run()
            .expect("emulator starts");
        assert_eq!(status, 0, "argdump failed on {hex}");
        r.read_to_string(&mut got).unwrap();
    }
    let expected =
        std::fs::read_to_string(root().join("examples/cloudabi/c/argdump.expected")).unwrap();
    assert_eq!(got, expected);
}

#[test]
fn threads_x86_64_run_concurrently() {
    let Some(dir) = built("x86_64-unknown-cloudabi") else {
        return;
    };
    for _ in 0..3 {
        let (mut r, w) = pipe();
        let value = Value::map([("out", Value::from(Fd(w.as_raw_fd())))]);
        assert_eq!(run(&dir.join("threads"), &value), 0);
        drop(w);
        let mut out = String::new();
        r.read_to_string(&mut out).unwrap();
        let mut lines: Vec<&str> = out.lines().collect();
        assert_eq!(lines.pop(), Some("all 4 threads done"));
        lines.sort_unstable();
        assert_eq!(
            lines,
            (0..4)
                .map(|i| format!("thread {i} says hello"))
                .collect::<Vec<_>>()
        );
    }
}

#[test]
fn exec_x86_64_replaces_itself_with_hello() {
    let Some(dir) = built("x86_64-unknown-cloudabi") else {
        return;
    };
    let hello = open(&dir.join("hello"));
    let (mut r, w) = pipe();
    let value = Value::map([
        ("program", Value::from(Fd(hello.as_raw_fd()))),
        ("out", Value::from(Fd(w.as_raw_fd()))),
    ]);
    assert_eq!(run(&dir.join("exec"), &value), 0);
    drop(w);
    let mut out = String::new();
    r.read_to_string(&mut out).unwrap();
    assert_eq!(out, "Hello, fd 0!\n");
    // A descriptor that is no executable: proc_exec fails and exec exits with 1.
    let (_r, w) = pipe();
    let value = Value::map([
        ("program", Value::from(Fd(w.as_raw_fd()))),
        ("out", Value::from(Fd(w.as_raw_fd()))),
    ]);
    assert_eq!(run(&dir.join("exec"), &value), 1);
}

/// `proc_exec` of a file that is no CloudABI executable fails with `ENOEXEC` (45), as
/// FreeBSD's `execve` does for an image no activator accepts: the ELF check's verdict
/// must reach the guest as that errno, not as `EIO`.
#[test]
fn exec_x86_64_of_a_non_cloudabi_file_is_enoexec() {
    let Some(dir) = built("x86_64-unknown-cloudabi") else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    // A shell script, and the first 64 bytes of an ELF64 little-endian x86-64 file whose
    // `EI_OSABI` byte (offset 7) is 0 (System V) rather than 17 (CloudABI).
    let script = b"#!/bin/sh\necho hi\n".to_vec();
    let mut linux_elf = vec![0u8; 64];
    linux_elf[..8].copy_from_slice(&[0x7f, b'E', b'L', b'F', 2, 1, 1, 0]);
    linux_elf[16..20].copy_from_slice(&[3, 0, 62, 0]); // ET_DYN, EM_X86_64
    for (name, bytes) in [("script", script), ("linux-elf", linux_elf)] {
        let path = tmp.path().join(name);
        std::fs::write(&path, bytes).unwrap();
        let program = open(&path);
        let (mut r, w) = pipe();
        let value = Value::map([
            ("program", Value::from(Fd(program.as_raw_fd()))),
            ("out", Value::from(Fd(w.as_raw_fd()))),
        ]);
        assert_eq!(run(&dir.join("exec"), &value), 1, "{name}");
        drop(w);
        let mut out = String::new();
        r.read_to_string(&mut out).unwrap();
        assert_eq!(out, "proc_exec failed: errno 45\n", "{name}");
    }
}

#[test]
fn aarch64_examples_build_as_cloudabi_executables() {
    let Some(dir) = built("aarch64-unknown-cloudabi") else {
        return;
    };
    for name in [
        "hello",
        "ls",
        "threads",
        "exec",
        "webserver",
        "hello-c",
        "ls-c",
        "argdump-c",
    ] {
        let bytes = std::fs::read(dir.join(name)).unwrap();
        let exe = Executable::parse(&bytes, EM_AARCH64).expect("valid aarch64 CloudABI executable");
        assert!(!exe.segments.is_empty());
        assert_eq!(
            Executable::parse(&bytes, EM_X86_64),
            Err(ElfError::WrongMachine {
                expected: EM_X86_64,
                found: EM_AARCH64
            })
        );
    }
}

/// Runs `cargo xtask cloudabi run --target TRIPLE --example NAME` (inside a private mount
/// namespace, as every sandboxed launch in the tests) and returns its standard output.
fn xtask_run(triple: &str, name: &str) -> String {
    let out = Command::new("unshare")
        .args(["-m", "--propagation", "private"])
        .arg(env!("CARGO"))
        .current_dir(root())
        .args(["run", "--quiet", "-p", "xtask", "--", "cloudabi", "run"])
        .args(["--target", triple, "--example", name])
        .env("CARGO_TARGET_DIR", xtask_target_dir())
        .stderr(std::process::Stdio::inherit())
        .output()
        .expect("start cargo xtask cloudabi run");
    assert!(
        out.status.success(),
        "cargo xtask cloudabi run {triple} {name}: {}",
        out.status
    );
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn x86_64_examples_run_under_cloudabi_run_emulate() {
    if built("x86_64-unknown-cloudabi").is_none() {
        return;
    }
    for name in ["hello", "hello-c"] {
        assert_eq!(
            xtask_run("x86_64-unknown-cloudabi", name),
            "Hello from CloudABI, fd 0!\n"
        );
    }
    assert_eq!(
        xtask_run("x86_64-unknown-cloudabi", "ls"),
        "about.txt\nindex.html\nstyle.css\n"
    );
}

#[test]
fn aarch64_examples_run_under_qemu() {
    if built("aarch64-unknown-cloudabi").is_none() {
        return;
    }
    if !aarch64_tools_present() {
        return;
    }
    for name in ["hello", "hello-c"] {
        assert_eq!(
            xtask_run("aarch64-unknown-cloudabi", name),
            "Hello from CloudABI, fd 0!\n"
        );
    }
    assert_eq!(
        xtask_run("aarch64-unknown-cloudabi", "ls"),
        "about.txt\nindex.html\nstyle.css\n"
    );
    let threads = xtask_run("aarch64-unknown-cloudabi", "threads");
    assert!(threads.ends_with("all 4 threads done\n"), "{threads}");
    assert_eq!(threads.lines().count(), 5, "{threads}");
}
