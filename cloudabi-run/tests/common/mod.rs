//! The test harness of `cloudabi_test_support::launcher` and `cloudabi_test_support::cli`,
//! bound to this crate's test targets: the launcher binary under test
//! (`CARGO_BIN_EXE_cloudabi-run`) and the temporary folder of the target
//! (`CARGO_TARGET_TMPDIR`) are known only when a test target itself is compiled, so the
//! helpers that need them are wrapped here once. Everything else is re-exported as it is.
//! (The benchmarks call the support crate directly.)

#![allow(dead_code, unreachable_pub, unused_imports)]

pub mod cli;

use std::path::{Path, PathBuf};
use std::process::Output;

use cloudabi_test_support::{Target, launcher as support};

pub use support::{
    Capture, Scratch, bench_in_private_mount_ns, free_port, in_rerun, rerun_in_private_mount_ns,
    scratch_dir, wait_for_lines, webserver_config,
};

/// The compile-time paths of the test target including this module.
pub const TARGET: Target = cloudabi_test_support::target!();

/// The launcher binary under test.
pub fn launcher() -> &'static str {
    env!("CARGO_BIN_EXE_cloudabi-run")
}

/// Runs the launcher with `args`, the configuration on standard input.
pub fn run_stdin(args: &[&str], yaml: &str) -> Output {
    support::run_stdin(Path::new(launcher()), args, yaml)
}

/// [`support::static_test_program`] for a source file of this crate.
pub fn static_test_program(
    src_rel_path: &str,
    name: &str,
    env_override: &str,
    extra_rustc_args: &[&str],
) -> PathBuf {
    support::static_test_program(&TARGET, src_rel_path, name, env_override, extra_rustc_args)
}

/// [`support::static_cargo_binary`] in this target's target directory.
pub fn static_cargo_binary(
    package: &str,
    target_args: &[&str],
    output: &str,
    env_override: &str,
) -> PathBuf {
    support::static_cargo_binary(&TARGET, package, target_args, output, env_override)
}

/// Compiles `tests/programs/hostile.rs` as a static executable (once per process).
pub fn hostile_program() -> PathBuf {
    support::hostile_program(&TARGET)
}

/// [`support::inside_private_mount_ns`]: re-runs the test under `unshare` with the hostile
/// program built.
pub fn inside_private_mount_ns(test_name: &str) -> bool {
    support::inside_private_mount_ns(&TARGET, test_name)
}
