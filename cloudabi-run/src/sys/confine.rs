//! What the program may still do: `no_new_privs`, no capabilities, the Landlock domain and
//! the seccomp filters (plus the parent-side queries and conversions they need).

use std::ffi::{c_long, c_uint};
use std::os::fd::RawFd;

use super::raw::fail;
use super::stage::Stage;

/// Sets `PR_SET_NO_NEW_PRIVS`: exec can no longer grant privileges.
///
/// # Safety
/// Only in the child after `clone`; `err_fd` is the error pipe.
pub(super) unsafe fn no_new_privs(err_fd: RawFd) {
    // SAFETY: `prctl` with integer arguments only; async-signal-safe.
    unsafe {
        if libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0 {
            fail(err_fd, Stage::NoNewPrivs);
        }
    }
}

/// Makes sure root (inside or outside a user namespace) gets no capabilities at exec:
/// `SECBIT_NOROOT` stops uid 0 from gaining them, the bounding and ambient sets are emptied,
/// and the bits are locked so the program cannot undo this.
///
/// # Safety
/// Only in the child after `clone`; `err_fd` is the error pipe.
pub(super) unsafe fn drop_capabilities(err_fd: RawFd) {
    let bits = libc::SECBIT_NOROOT
        | libc::SECBIT_NOROOT_LOCKED
        | libc::SECBIT_NO_SETUID_FIXUP
        | libc::SECBIT_NO_SETUID_FIXUP_LOCKED
        | libc::SECBIT_KEEP_CAPS_LOCKED
        | libc::SECBIT_NO_CAP_AMBIENT_RAISE
        | libc::SECBIT_NO_CAP_AMBIENT_RAISE_LOCKED;
    // SAFETY: `prctl` with integer arguments only; async-signal-safe.
    unsafe {
        if libc::prctl(libc::PR_SET_SECUREBITS, bits as libc::c_ulong, 0, 0, 0) != 0
            || libc::prctl(
                libc::PR_CAP_AMBIENT,
                libc::PR_CAP_AMBIENT_CLEAR_ALL as libc::c_ulong,
                0,
                0,
                0,
            ) != 0
        {
            fail(err_fd, Stage::Capabilities);
        }
        let mut cap: libc::c_ulong = 0;
        while libc::prctl(libc::PR_CAPBSET_READ, cap, 0, 0, 0) >= 0 {
            if libc::prctl(libc::PR_CAPBSET_DROP, cap, 0, 0, 0) != 0 {
                fail(err_fd, Stage::Capabilities);
            }
            cap += 1;
        }
    }
}

/// Enters the Landlock domain of the ruleset at `ruleset` (`landlock_restrict_self`),
/// reporting `stage` if that fails.
///
/// # Safety
/// Only in the child after `clone` or in the program's process; `err_fd` is the error pipe.
pub(super) unsafe fn restrict_landlock(ruleset: RawFd, flags: u32, err_fd: RawFd, stage: Stage) {
    // SAFETY: a raw system call with integer arguments only; async-signal-safe.
    unsafe {
        if libc::syscall(
            libc::SYS_landlock_restrict_self,
            ruleset as c_long,
            flags as c_long,
        ) != 0
        {
            fail(err_fd, stage);
        }
    }
}

/// Installs each seccomp program, in order, with `flags`.
///
/// # Safety
/// Only in the child after `clone`, with programs the parent built (their memory is the
/// child's copy); `err_fd` is the error pipe.
pub(super) unsafe fn install_seccomp(
    programs: &[Vec<libc::sock_filter>],
    flags: c_uint,
    err_fd: RawFd,
) {
    for prog in programs {
        let fprog = libc::sock_fprog {
            len: prog.len() as u16,
            filter: prog.as_ptr().cast_mut(),
        };
        // SAFETY: `fprog` is a local pointing at `prog.len()` valid filter instructions,
        // which the kernel only reads.
        unsafe {
            if libc::syscall(
                libc::SYS_seccomp,
                libc::SECCOMP_SET_MODE_FILTER as c_long,
                flags as c_long,
                &fprog as *const libc::sock_fprog,
            ) != 0
            {
                fail(err_fd, Stage::Seccomp);
            }
        }
    }
}

/// The Landlock ABI version of the running kernel (0: Landlock unavailable).
pub(crate) fn landlock_abi() -> u32 {
    // SAFETY: the version query takes no pointer (NULL attr, size 0) and returns an integer.
    let r = unsafe {
        libc::syscall(
            libc::SYS_landlock_create_ruleset,
            std::ptr::null::<u8>(),
            0usize,
            1u32, /* LANDLOCK_CREATE_RULESET_VERSION */
        )
    };
    if r < 0 { 0 } else { r as u32 }
}

/// Converts a seccompiler program into the kernel's structure.
pub(crate) fn to_kernel_filter(prog: &[seccompiler::sock_filter]) -> Vec<libc::sock_filter> {
    prog.iter()
        .map(|f| libc::sock_filter {
            code: f.code,
            jt: f.jt,
            jf: f.jf,
            k: f.k,
        })
        .collect()
}
