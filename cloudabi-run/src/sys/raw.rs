//! Helpers every step of the child uses: reporting a failed step and small file writes that
//! neither allocate nor lock. This module depends on no other module of `sys` but
//! [`Stage`].

use std::ffi::{CStr, c_int};
use std::io;
use std::os::fd::RawFd;

use super::stage::Stage;

/// The calling thread's errno (`EIO` if there is none).
pub(super) fn errno() -> c_int {
    io::Error::last_os_error()
        .raw_os_error()
        .unwrap_or(libc::EIO)
}

/// Sets the calling thread's errno, so that [`fail`] reports `e`.
pub(super) fn set_errno(e: c_int) {
    // SAFETY: `__errno_location` returns this thread's errno slot, which the C library keeps
    // valid for writes for the thread's whole life (after `clone` too: the copy keeps the
    // calling thread's TLS).
    unsafe { *libc::__errno_location() = e };
}

/// Reports `stage` and the current errno through the error pipe, then exits with 127.
///
/// # Safety
/// Only to be called in the child after `clone` (or in the program's process forked by the
/// init), with `err_fd` the write end of the error pipe.
pub(super) unsafe fn fail(err_fd: RawFd, stage: Stage) -> ! {
    let e = errno();
    let mut buf = [0u8; 8];
    buf[..4].copy_from_slice(&(stage as u32).to_ne_bytes());
    buf[4..].copy_from_slice(&e.to_ne_bytes());
    // SAFETY: writing a stack buffer to a descriptor; `_exit` never returns and runs no
    // destructors or atexit handlers (which could take locks held by other parent threads).
    unsafe {
        libc::write(err_fd, buf.as_ptr().cast(), buf.len());
        libc::_exit(127)
    }
}

/// Like [`fail`], reporting `e` (from a `rustix` call, which leaves errno alone).
///
/// # Safety
/// As for [`fail`].
pub(super) unsafe fn fail_with(err_fd: RawFd, stage: Stage, e: rustix::io::Errno) -> ! {
    set_errno(e.raw_os_error());
    // SAFETY: the caller's precondition is `fail`'s.
    unsafe { fail(err_fd, stage) }
}

/// Writes `data` to the file `path` (child side, no allocation).
///
/// # Safety
/// Child side only: `open`, `write` and `close` are async-signal-safe.
pub(super) unsafe fn write_file(path: &CStr, data: &[u8]) -> bool {
    // SAFETY: `path` is NUL-terminated, `data` is a valid slice; the descriptor is closed
    // before returning.
    unsafe {
        let fd = libc::open(path.as_ptr(), libc::O_WRONLY | libc::O_CLOEXEC);
        if fd < 0 {
            return false;
        }
        let n = libc::write(fd, data.as_ptr().cast(), data.len());
        libc::close(fd);
        n == data.len() as isize
    }
}

/// Writes `value` in decimal, left-aligned and NUL-padded, into `len` bytes at `buf`.
///
/// # Safety
/// `buf` must be valid for writes of `len` bytes.
pub(super) unsafe fn write_decimal(buf: *mut u8, len: usize, mut value: u64) {
    let mut digits = [0u8; 20];
    let mut n = 0;
    loop {
        digits[n] = b'0' + (value % 10) as u8;
        n += 1;
        value /= 10;
        if value == 0 {
            break;
        }
    }
    for i in 0..len {
        let b = if i < n { digits[n - 1 - i] } else { 0 };
        // SAFETY: `i < len` and the caller guarantees `len` valid bytes.
        unsafe { *buf.add(i) = b };
    }
}
