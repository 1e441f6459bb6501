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
    Ok(())
}

/// The main job: the demo service under `cloudabi-run`.
pub(crate) fn demo(args: &[String]) -> Result<(), String> {
    if !args.is_empty() {
        return Err(format!("`demo` takes no arguments, got {args:?}"));
    }
    Err("the demo needs cloudabi-run, which is not built yet".to_string())
}
