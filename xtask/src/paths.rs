//! Where things are: the workspace root and the project's host target directory.
//!
//! A leaf module: every step module asks it for paths, and it asks none of them.

use std::path::{Path, PathBuf};

/// The workspace root (the parent of this crate's folder).
pub(crate) fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask lives one level below the workspace root")
        .to_path_buf()
}

/// Where the project's own cargo puts host builds (`CARGO_TARGET_DIR` or `target/`).
pub(crate) fn host_target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR").map_or_else(|| root().join("target"), PathBuf::from)
}
