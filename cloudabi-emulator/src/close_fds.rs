//! Closing every inherited descriptor but a few, in the freshly forked child of
//! [`Emulator::run`](crate::Emulator::run).

/// Closes every descriptor of this process except those in `keep` (sorted, no
/// duplicates). Runs in the freshly forked child of [`Emulator::run`](crate::Emulator::run): no allocation, only
/// `close_range` system calls (and, on kernels older than 5.9, plain `close` up to the
/// descriptor limit).
pub(crate) fn close_all_but(keep: &[i32]) {
    let mut next: u32 = 0;
    for &fd in keep {
        let Ok(fd) = u32::try_from(fd) else {
            continue;
        };
        if fd > next {
            close_range(next, fd - 1);
        }
        next = fd.saturating_add(1);
    }
    close_range(next, u32::MAX);
}

/// Closes descriptors `first` ... `last` (inclusive).
fn close_range(first: u32, last: u32) {
    // SAFETY: close_range only closes descriptors of this process; the caller keeps every
    // descriptor it still uses outside the range.
    let r = unsafe {
        libc::syscall(
            libc::SYS_close_range,
            libc::c_uint::from(first),
            libc::c_uint::from(last),
            0 as libc::c_uint,
        )
    };
    if r == 0 {
        return;
    }
    // No close_range (Linux before 5.9): close one by one, up to the descriptor limit.
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes the limit into a valid local.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) } != 0 {
        return;
    }
    let end = u32::try_from(limit.rlim_cur)
        .unwrap_or(u32::MAX)
        .min(last.saturating_add(1));
    for fd in first..end {
        // SAFETY: as above, for one descriptor; EBADF for numbers not open is harmless.
        unsafe { libc::close(fd as libc::c_int) };
    }
}
