//! The append relay: a process of its own, under strict seccomp, that appends what the
//! program writes to a pipe to the real append-only file.

use std::ffi::{c_int, c_long};
use std::io;
use std::os::fd::{AsRawFd, BorrowedFd, RawFd};

use super::raw::errno;

/// Starts an append relay: a process of its own that copies everything from the pipe
/// `from` to `to` until end-of-file, then exits with 0 (or with the errno of the read or
/// write that failed). Being a separate process, it outlives a launcher that is killed
/// (even with `SIGKILL`) and still copies every byte the program wrote; it ends when the
/// last write end of the pipe is closed, that is when the launcher and the program are gone.
///
/// It keeps only `from` and `to`, blocks every signal (a terminal's `SIGINT` to the process
/// group must not cut the copy short), and runs under strict seccomp (`read`, `write`,
/// `exit` only).
pub(crate) fn spawn_relay(from: BorrowedFd<'_>, to: BorrowedFd<'_>) -> io::Result<libc::pid_t> {
    let (from, to) = (from.as_raw_fd(), to.as_raw_fd());
    let mut buf = vec![0u8; 65536];
    // SAFETY: `clone` without CLONE_VM and without a new stack behaves like `fork`: the child
    // gets a private copy of this address space and only runs `relay_main`, which never
    // returns and makes no allocation (the buffer was allocated before).
    let ret = unsafe {
        libc::syscall(
            libc::SYS_clone,
            libc::SIGCHLD as c_long,
            0 as c_long,
            0 as c_long,
            0 as c_long,
            0 as c_long,
        )
    };
    if ret < 0 {
        return Err(io::Error::last_os_error());
    }
    if ret == 0 {
        // SAFETY: this is the child right after clone; `buf` is its own copy.
        unsafe { relay_main(from, to, buf.as_mut_ptr(), buf.len()) }
    }
    Ok(ret as libc::pid_t)
}

/// The relay process's body (see [`spawn_relay`]).
///
/// # Safety
/// Only in the child of `spawn_relay`; `buf` valid for `len` bytes.
unsafe fn relay_main(from: RawFd, to: RawFd, buf: *mut u8, len: usize) -> ! {
    // SAFETY: raw system calls on locals and on `buf`, which this process owns.
    unsafe {
        let mut all: libc::sigset_t = std::mem::zeroed();
        libc::sigfillset(&mut all);
        libc::sigprocmask(libc::SIG_SETMASK, &all, std::ptr::null_mut());
        // This process only ever uses the two ends it copies between.
        program::launch::close_all_but(&[from.min(to), from.max(to)]);
        // Hardening only: where seccomp is unavailable the copy runs all the same.
        libc::prctl(libc::PR_SET_SECCOMP, libc::SECCOMP_MODE_STRICT, 0, 0, 0);
        let exit = |code: c_int| -> ! {
            // Strict mode allows `exit`, not `exit_group`; this process has one thread.
            libc::syscall(libc::SYS_exit, code as c_long);
            unreachable_exit()
        };
        loop {
            let n = libc::syscall(libc::SYS_read, from as c_long, buf, len);
            if n == 0 {
                exit(0);
            }
            if n < 0 {
                let e = errno();
                if e == libc::EINTR {
                    continue;
                }
                exit(e);
            }
            let mut off = 0usize;
            while off < n as usize {
                let w = libc::syscall(
                    libc::SYS_write,
                    to as c_long,
                    buf.add(off),
                    n as usize - off,
                );
                if w < 0 {
                    let e = errno();
                    if e == libc::EINTR {
                        continue;
                    }
                    exit(e);
                }
                off += w as usize;
            }
        }
    }
}

/// After `exit` (which does not return); keeps the compiler content without a panic path.
fn unreachable_exit() -> ! {
    loop {
        std::hint::spin_loop();
    }
}
