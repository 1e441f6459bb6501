//! Fails when a generated file (Rust sources, C header, C layout test, `docs/abi.md`) no
//! longer matches what `cargo xtask gen` produces from `spec/cloudabi.abi`.

use std::path::PathBuf;
use std::process::Command;

#[test]
fn generated_files_match_the_spec() {
    let crate_dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let root = crate_dir.parent().expect("workspace root");
    let cargo = option_env!("CARGO").unwrap_or("cargo");
    // A separate target directory: the outer `cargo test` may hold the lock on the shared one.
    let target = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("xtask-gen-check");
    let output = Command::new(cargo)
        .args(["run", "--quiet", "--package", "xtask", "--target-dir"])
        .arg(&target)
        .args(["--", "gen", "--check"])
        .current_dir(root)
        .output()
        .expect("run cargo xtask gen --check");
    assert!(
        output.status.success(),
        "`cargo xtask gen --check` failed; run `cargo xtask gen`.\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
}
