//! For the tests that build the examples of `examples/cloudabi/` as real CloudABI
//! executables and run them (`cloudabi-emulator`'s, and `cloudabi-run`'s `--runner` and
//! `--emulate` tests): the toolchain check, the builds (through `cargo xtask`, once per test
//! process) and argdata encoding.
//!
//! Without Debian's toolchain (`cargo xtask cloudabi install-toolchain`) the helpers print
//! `SKIPPED: ...` and return `None`; with `CLOUDABI_REQUIRE_TOOLCHAIN=1` (as in CI) a missing
//! toolchain fails the test instead.

use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use argdata::Value;

/// The repository root.
pub fn root() -> PathBuf {
    crate::workspace_root().to_path_buf()
}

/// The encoded values of `examples/cloudabi/c/argdump.cases`, in order: the inputs of the
/// shared `argdata.h` dump program, whose host build (`cloudlibc-rs`'s tests) and CloudABI
/// builds (`cloudabi-emulator`'s) must both print `argdump.expected`.
pub fn argdump_cases() -> Vec<Vec<u8>> {
    let path = root().join("examples/cloudabi/c/argdump.cases");
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .map(crate::vectors::unhex)
        .collect()
}

/// The target folder the tests' `cargo xtask` runs use for host builds.
pub fn xtask_target_dir() -> PathBuf {
    root().join("target/xtask-for-tests")
}

/// The files the build and the tests need, with their Debian packages: the list
/// `cargo xtask cloudabi install-toolchain` installs from.
const TOOLCHAIN: &str = include_str!("../../xtask/src/toolchain.tsv");

/// The first missing file of `group` (`cloudabi` or `aarch64` in `toolchain.tsv`) with its
/// package, if one is missing.
fn missing_in(group: &str) -> Option<String> {
    TOOLCHAIN
        .lines()
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .filter_map(|l| {
            let mut cols = l.split('\t');
            let (path, package, g) = (cols.next()?, cols.next()?, cols.next()?);
            (g == group && !Path::new(path).exists())
                .then(|| format!("{path} missing (Debian package {package})"))
        })
        .next()
}

/// Why the toolchain for CloudABI executables is unusable, if it is.
fn toolchain_missing() -> Option<String> {
    missing_in("cloudabi")
}

/// Fails when `CLOUDABI_REQUIRE_TOOLCHAIN` is set, else prints why the test is skipped.
fn skip(why: &str) {
    assert!(
        std::env::var_os("CLOUDABI_REQUIRE_TOOLCHAIN").is_none(),
        "CLOUDABI_REQUIRE_TOOLCHAIN is set but {why}"
    );
    eprintln!("SKIPPED: {why}; run `cargo xtask cloudabi install-toolchain`");
}

/// `true` when the CloudABI toolchain is there; otherwise prints why the test is skipped
/// (or fails, when `CLOUDABI_REQUIRE_TOOLCHAIN` is set) and returns `false`.
pub fn toolchain_present() -> bool {
    match toolchain_missing() {
        None => true,
        Some(why) => {
            skip(&format!("CloudABI toolchain absent: {why}"));
            false
        }
    }
}

/// Runs `cargo xtask cloudabi ARGS...` (host builds in [`xtask_target_dir`]).
pub fn xtask(args: &[&str]) {
    let status = Command::new(env!("CARGO"))
        .current_dir(root())
        .args(["run", "--quiet", "-p", "xtask", "--", "cloudabi"])
        .args(args)
        .env("CARGO_TARGET_DIR", xtask_target_dir())
        .status()
        .expect("start cargo xtask");
    assert!(status.success(), "cargo xtask cloudabi {args:?} failed");
}

/// Builds all examples for `triple` once per test process (as `cargo xtask cloudabi
/// build --all` does) and returns the folder holding them, or `None` (skip) when the
/// toolchain is absent and not required.
pub fn built(triple: &'static str) -> Option<PathBuf> {
    static X86: OnceLock<Option<PathBuf>> = OnceLock::new();
    static ARM: OnceLock<Option<PathBuf>> = OnceLock::new();
    let cell = if triple.starts_with("x86_64") {
        &X86
    } else {
        &ARM
    };
    cell.get_or_init(|| {
        let aarch64 = || {
            triple
                .starts_with("aarch64")
                .then(|| missing_in("aarch64"))?
        };
        if let Some(why) = toolchain_missing().or_else(aarch64) {
            skip(&format!("CloudABI toolchain absent: {why}"));
            return None;
        }
        xtask(&["build", "--all", "--target", triple]);
        Some(root().join("target/cloudabi").join(triple))
    })
    .clone()
}

/// Whether `qemu-aarch64-static`, the AArch64 cross compiler and C library are there (else skip, or
/// fail under `CLOUDABI_REQUIRE_TOOLCHAIN`).
pub fn aarch64_tools_present() -> bool {
    match missing_in("aarch64") {
        None => true,
        Some(why) => {
            skip(&why);
            false
        }
    }
}

/// Builds the static `cloudabi-emulate` for `arch` (`x86_64` or `aarch64`) once per test
/// process (`cargo xtask cloudabi emulator --arch ARCH`) and returns its path.
pub fn emulator(arch: &'static str) -> PathBuf {
    static X86: OnceLock<PathBuf> = OnceLock::new();
    static ARM: OnceLock<PathBuf> = OnceLock::new();
    let cell = if arch == "x86_64" { &X86 } else { &ARM };
    cell.get_or_init(|| {
        xtask(&["emulator", "--arch", arch]);
        root()
            .join("target/cloudabi")
            .join(format!("{arch}-linux"))
            .join("cloudabi-emulate")
    })
    .clone()
}

/// Builds `cloudabi-run` (release) once per test process and returns its path.
pub fn cloudabi_run() -> PathBuf {
    static PATH: OnceLock<PathBuf> = OnceLock::new();
    PATH.get_or_init(|| {
        let status = Command::new(env!("CARGO"))
            .current_dir(root())
            .args(["build", "--quiet", "--release", "-p", "cloudabi-run"])
            .args(["--bin", "cloudabi-run"])
            .env("CARGO_TARGET_DIR", xtask_target_dir())
            .status()
            .expect("start cargo build");
        assert!(status.success(), "cargo build -p cloudabi-run failed");
        xtask_target_dir().join("release/cloudabi-run")
    })
    .clone()
}

/// Opens `path` for reading.
pub fn open(path: &Path) -> OwnedFd {
    OwnedFd::from(std::fs::File::open(path).unwrap_or_else(|e| panic!("{}: {e}", path.display())))
}

/// Encodes `value`, whose fd leaves are host descriptors; returns the argdata bytes (fd
/// leaves numbered 0..n-1) and the descriptors in that order, duplicated.
pub fn encode(value: &Value) -> (Vec<u8>, Vec<OwnedFd>) {
    let enc = value.encode();
    let fds = enc
        .fds
        .iter()
        .map(|fd| {
            // SAFETY: the test owns these descriptors for the duration of the call.
            let b = unsafe { std::os::fd::BorrowedFd::borrow_raw(fd.0) };
            b.try_clone_to_owned().unwrap()
        })
        .collect();
    (enc.bytes, fds)
}
