//! The full check run (`cargo xtask test`) and the demo (`cargo xtask demo`).

use std::path::{Path, PathBuf};
use std::process::Command;

/// The workspace root (the parent of this crate's folder).
pub(crate) fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask lives one level below the workspace root")
        .to_path_buf()
}

/// Runs `program args...` in the workspace root; fails when it exits non-zero.
fn run(step: &str, program: &str, args: &[&str]) -> Result<(), String> {
    eprintln!("==> {step}: {program} {}", args.join(" "));
    let status = Command::new(program)
        .args(args)
        .current_dir(root())
        .status()
        .map_err(|e| format!("{step}: cannot start `{program}`: {e}"))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("{step} failed ({status})"))
    }
}

/// Every check the project has, in order from fastest to slowest.
pub(crate) fn test(args: &[String]) -> Result<(), String> {
    if !args.is_empty() {
        return Err(format!("`test` takes no arguments, got {args:?}"));
    }
    run("format", "cargo", &["fmt", "--all", "--", "--check"])?;
    run(
        "lints",
        "cargo",
        &[
            "clippy",
            "--workspace",
            "--all-targets",
            "--all-features",
            "--",
            "-D",
            "warnings",
        ],
    )?;
    run(
        "docs",
        "cargo",
        &["doc", "--workspace", "--no-deps", "--all-features"],
    )?;
    // Release build first: the C tests and the launcher tests use the release artifacts
    // (`target/release/libcloudlibc_rs.a`, `target/release/cloudabi-run`, ...).
    run(
        "release build",
        "cargo",
        &["build", "--workspace", "--release"],
    )?;
    run(
        "tests",
        "cargo",
        &["test", "--workspace", "--all-features", "--release"],
    )?;
    // The reader alone (no_std, no alloc), and the no_std builders with serde.
    run(
        "argdata without std",
        "cargo",
        &["check", "--package", "argdata", "--no-default-features"],
    )?;
    run(
        "argdata with alloc and serde only",
        "cargo",
        &[
            "check",
            "--package",
            "argdata",
            "--no-default-features",
            "--features",
            "alloc,serde",
        ],
    )?;
    // Crates outside the workspace (their own lock files): make sure they still build.
    run(
        "fuzz targets build",
        "cargo",
        &["check", "--manifest-path", "fuzz/Cargo.toml", "--bins"],
    )?;
    run(
        "comparison benchmarks build",
        "cargo",
        &[
            "check",
            "--manifest-path",
            "argdata/benches/compare/Cargo.toml",
            "--benches",
        ],
    )?;
    Ok(())
}

/// The host's target triple, as rustc reports it.
fn host_triple() -> Result<String, String> {
    let out = Command::new("rustc")
        .arg("-vV")
        .output()
        .map_err(|e| format!("cannot run rustc: {e}"))?;
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .find_map(|l| l.strip_prefix("host: ").map(str::to_string))
        .ok_or_else(|| "rustc -vV printed no host triple".to_string())
}

/// The main job: the demo web server under `cloudabi-run`, serving `examples/www` on
/// 127.0.0.1:8080 until interrupted.
///
/// The sandbox's root file system is empty, so the server is linked statically. It is built
/// for an explicit `--target` so that `+crt-static` applies to it alone (not to build scripts
/// or proc macros) and lands in its own folder, apart from the ordinary release build.
pub(crate) fn demo(args: &[String]) -> Result<(), String> {
    if !args.is_empty() {
        return Err(format!("`demo` takes no arguments, got {args:?}"));
    }
    let triple = host_triple()?;
    run(
        "build launcher",
        "cargo",
        &["build", "--release", "--package", "cloudabi-run"],
    )?;
    eprintln!("==> build web server (static, {triple})");
    let status = Command::new("cargo")
        .args([
            "build",
            "--release",
            "--package",
            "webserver",
            "--target",
            &triple,
        ])
        .env("RUSTFLAGS", "-C target-feature=+crt-static")
        .current_dir(root())
        .status()
        .map_err(|e| format!("cannot start cargo: {e}"))?;
    if !status.success() {
        return Err(format!("building the web server failed ({status})"));
    }
    let server = format!("target/{triple}/release/webserver");
    eprintln!("==> serving examples/www on http://127.0.0.1:8080/ (Ctrl-C stops it)");
    run(
        "demo",
        "target/release/cloudabi-run",
        &[&server, "--config", "examples/webserver.yaml"],
    )
}
