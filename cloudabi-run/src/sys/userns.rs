//! The new user namespace: its uid and gid maps.

use std::os::fd::RawFd;

use super::raw::{fail, write_file};
use super::stage::Stage;

/// Denies `setgroups` and writes the uid and gid maps of the user namespace the child was
/// cloned into (one line each, prepared by the parent).
///
/// # Safety
/// Only in the child right after `clone` (async-signal-safe calls only, on `uid_map` and
/// `gid_map`, which the parent allocated); `err_fd` is the error pipe.
pub(super) unsafe fn write_id_maps(uid_map: &[u8], gid_map: &[u8], err_fd: RawFd) {
    // SAFETY: the caller runs in the child after `clone`; the paths are literals and the
    // contents slices of the plan, so `write_file` only reads valid memory.
    unsafe {
        if !write_file(c"/proc/self/setgroups", b"deny")
            || !write_file(c"/proc/self/uid_map", uid_map)
            || !write_file(c"/proc/self/gid_map", gid_map)
        {
            fail(err_fd, Stage::UserNamespaceMap);
        }
    }
}
