//! Helpers shared by the integration tests and benchmarks of several crates of the
//! workspace, compiled once as a crate of their own (`publish = false`) instead of being
//! included into each test by file path.
//!
//! - [`vectors`]: the reference vectors of `argdata/tests/data` (for `argdata-cli`'s tests;
//!   [`argdata_vectors`] reads them from the workspace);
//! - [`canonical`]: what printing a vector as YAML and encoding it again must give;
//! - [`guest`]: building the CloudABI examples and the static emulator, and running them
//!   (`cloudabi-emulator`'s and `cloudabi-run`'s tests), and the inputs of the shared
//!   `argdump` program (also `cloudlibc-rs`'s tests);
//! - [`launcher`]: `cloudabi-run`'s test harness: static test programs, re-running a test
//!   inside a private mount namespace, scratch directories, free ports, output capture;
//! - [`cli`]: the helpers of `cloudabi-run`'s command-line tests (the probe program, the
//!   demo web servers, HTTP requests).
//!
//! Some facts are known only when a test or benchmark target itself is compiled: its
//! package folder and the temporary folder cargo gives it (`CARGO_TARGET_TMPDIR`), and the
//! path of a binary under test (`CARGO_BIN_EXE_<name>`). Helpers that need them take a
//! [`Target`] (made by [`target!`] in the calling target) or the binary's path.
//!
//! `cloudabi-argdata`'s own tests do not use this crate (see its `Cargo.toml`), so that its
//! published package tests itself alone and its tests without features stay without them.

use std::path::{Path, PathBuf};

pub mod canonical;
pub mod cli;
pub mod guest;
pub mod launcher;
pub mod vectors;

/// What a test or benchmark target knows only at its own compile time: its package folder
/// (`CARGO_MANIFEST_DIR`) and its temporary folder (`CARGO_TARGET_TMPDIR`, which cargo sets
/// for integration tests and benchmarks only). Made with [`target!`].
#[derive(Clone, Copy, Debug)]
pub struct Target {
    manifest_dir: &'static str,
    tmp_dir: &'static str,
}

impl Target {
    /// A target whose package is in `manifest_dir` and whose temporary folder is `tmp_dir`.
    pub const fn new(manifest_dir: &'static str, tmp_dir: &'static str) -> Target {
        Target {
            manifest_dir,
            tmp_dir,
        }
    }

    /// The folder of the package the target belongs to.
    pub fn manifest_dir(&self) -> &'static Path {
        Path::new(self.manifest_dir)
    }

    /// The temporary folder cargo gives the target (`<target dir>/tmp`).
    pub fn tmp_dir(&self) -> &'static Path {
        Path::new(self.tmp_dir)
    }

    /// The cargo target directory the target is built in (the parent of [`Self::tmp_dir`]).
    pub fn target_dir(&self) -> &'static Path {
        let tmp = self.tmp_dir();
        tmp.parent().unwrap_or(tmp)
    }
}

/// The [`Target`] of the integration test or benchmark this is written in.
#[macro_export]
macro_rules! target {
    () => {
        $crate::Target::new(env!("CARGO_MANIFEST_DIR"), env!("CARGO_TARGET_TMPDIR"))
    };
}

/// The workspace's root folder.
pub fn workspace_root() -> &'static Path {
    let here = Path::new(env!("CARGO_MANIFEST_DIR"));
    here.parent().unwrap_or(here)
}

/// Every row of the `argdata` crate's reference vectors (`argdata/tests/data/*.tsv`).
pub fn argdata_vectors() -> Vec<vectors::Row> {
    vectors::rows_in(&argdata_vector_dir())
}

fn argdata_vector_dir() -> PathBuf {
    workspace_root().join("argdata/tests/data")
}

#[cfg(test)]
mod tests {
    use super::workspace_root;

    /// `cloudabi-argdata`'s tests keep their own copies of these modules; they must stay
    /// the same text as the ones here.
    #[test]
    fn argdata_keeps_the_same_copies() {
        for name in ["vectors.rs", "canonical.rs"] {
            let here = workspace_root().join("test-support/src").join(name);
            let there = workspace_root().join("argdata/tests/common").join(name);
            let read = |p: &std::path::Path| {
                std::fs::read_to_string(p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
            };
            assert!(
                read(&here) == read(&there),
                "{} and {} differ: change both",
                here.display(),
                there.display()
            );
        }
    }

    #[test]
    fn the_argdata_vectors_are_found() {
        assert!(super::argdata_vectors().len() > 100);
    }
}
