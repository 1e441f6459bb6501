//! `cloudabi_test_support::cli` bound to this crate's test targets (see the parent module).

use std::path::{Path, PathBuf};
use std::process::{Child, Output};

use cloudabi_test_support::cli as support;

pub use super::{Scratch, free_port, launcher, run_stdin, static_cargo_binary, wait_for_lines};
pub use support::{fetch, get, site, stderr, stdout, stop};

use super::TARGET;

/// Compiles `tests/programs/probe.rs` as a static executable (once per process).
pub fn probe() -> PathBuf {
    support::probe(&TARGET)
}

/// [`support::inside_private_mount_ns`]: re-runs the test under `unshare` with the probe
/// built and `extra_env` set.
pub fn inside_private_mount_ns(test_name: &str, extra_env: &[(&str, String)]) -> bool {
    support::inside_private_mount_ns(&TARGET, test_name, extra_env)
}

/// Runs the launcher with `args` and standard input from /dev/null.
pub fn run(args: &[&str]) -> Output {
    support::run(Path::new(launcher()), args)
}

/// Starts the launcher serving `s/www` with `server` on `port` ([`support::start`]).
pub fn start(s: &Scratch, server: &Path, port: u16, extra: &[&str]) -> Child {
    support::start(Path::new(launcher()), s, server, port, extra)
}

/// The static C demo server ([`support::c_webserver`]).
pub fn c_webserver(env_override: &str) -> PathBuf {
    support::c_webserver(&TARGET, env_override)
}
