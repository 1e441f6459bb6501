//! Where the instance is accounted and how much it may use: its control groups, its
//! session and its resource limits.

use std::ffi::c_int;
use std::os::fd::RawFd;

use super::raw::{fail, fail_with};
use super::stage::Stage;

/// Moves the child into each control group whose `cgroup.procs` is open at `procs` (writing
/// `0` moves the writer); everything it starts afterwards stays in the groups.
///
/// # Safety
/// Only in the child right after `clone`, before anything else runs in the instance;
/// `procs` are descriptors the parent opened and `err_fd` is the error pipe.
pub(super) unsafe fn join_cgroups(procs: &[RawFd], err_fd: RawFd) {
    for &fd in procs {
        // SAFETY: `write` of a one-byte literal is async-signal-safe; a bad descriptor
        // only makes it fail, which is reported.
        if unsafe { libc::write(fd, b"0".as_ptr().cast(), 1) } != 1 {
            // SAFETY: child side, `err_fd` is the error pipe (caller's precondition).
            unsafe { fail(err_fd, Stage::Cgroup) };
        }
    }
}

/// Makes the child the leader of a new session (no controlling terminal).
///
/// # Safety
/// Only in the child after `clone`; `err_fd` is the error pipe.
pub(super) unsafe fn new_session(err_fd: RawFd) {
    // rustix's `setsid` is the bare system call: no allocation, no lock.
    if let Err(e) = rustix::process::setsid() {
        // SAFETY: child side, `err_fd` is the error pipe.
        unsafe { fail_with(err_fd, Stage::Setsid, e) };
    }
}

/// Sets both the soft and the hard limit of each `(resource, limit)` pair.
///
/// # Safety
/// Only in the child after `clone` (the pairs were prepared by the parent); `err_fd` is the
/// error pipe.
pub(super) unsafe fn set_rlimits(rlimits: &[(c_int, u64)], err_fd: RawFd) {
    for &(resource, value) in rlimits {
        let lim = libc::rlimit {
            rlim_cur: value,
            rlim_max: value,
        };
        // SAFETY: `lim` is a local the call only reads; `setrlimit` is a plain system call.
        if unsafe { libc::setrlimit(resource as _, &lim) } != 0 {
            // SAFETY: child side, `err_fd` is the error pipe.
            unsafe { fail(err_fd, Stage::ResourceLimit) };
        }
    }
}
