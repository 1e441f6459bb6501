//! Signal masks, waiting for signals and sending them: the child's reset to default
//! dispositions, and safe wrappers for the `cloudabi-run` binary, which waits for the
//! signals it forwards on a thread of its own.

use std::ffi::{c_int, c_long};
use std::io;
use std::time::Duration;

/// Restores the default disposition of every signal and an empty signal mask: the parent's
/// handlers are not meaningful in the child, and ignored signals and a blocked mask would be
/// inherited by the program (a launcher started in the background by a shell has `SIGINT`
/// and `SIGQUIT` ignored, under nohup `SIGHUP` as well; exec keeps that).
///
/// # Safety
/// Only in the child after `clone` (it changes the whole process's dispositions, which in
/// the launcher would undo its own handling): `rt_sigaction` and `sigprocmask` are
/// async-signal-safe.
pub(super) unsafe fn reset_for_child() {
    // The raw call, since the C library refuses the real-time signals it keeps for itself
    // (32, 33); the kernel's `struct sigaction` with SIG_DFL is all zeros.
    let default = [0u64; 4];
    // SAFETY: `default` is a local of the kernel's `struct sigaction` size, read only; the
    // old action is not asked for (NULL); the signal set is a local initialised by
    // `sigemptyset` before `sigprocmask` reads it.
    unsafe {
        for sig in 1..=64 {
            if sig != libc::SIGKILL && sig != libc::SIGSTOP {
                libc::syscall(
                    libc::SYS_rt_sigaction,
                    sig as c_long,
                    default.as_ptr(),
                    std::ptr::null::<u64>(),
                    8 as c_long,
                );
            }
        }
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        libc::sigprocmask(libc::SIG_SETMASK, &set, std::ptr::null_mut());
    }
}

/// A set of signals, to block in the calling thread and to wait for.
#[derive(Clone, Copy)]
pub struct SignalSet(libc::sigset_t);

impl SignalSet {
    /// The set holding exactly `signals` (numbers that are no signal are left out).
    pub fn new(signals: &[c_int]) -> SignalSet {
        // SAFETY: `sigset_t` is plain data for which all zeros is a valid value; it is then
        // initialised by `sigemptyset`, and `sigaddset` only writes into it (refusing
        // numbers that are no signal with EINVAL).
        unsafe {
            let mut set: libc::sigset_t = std::mem::zeroed();
            libc::sigemptyset(&mut set);
            for &s in signals {
                libc::sigaddset(&mut set, s);
            }
            SignalSet(set)
        }
    }

    /// Blocks the signals of the set in the calling thread (and so in the threads it starts
    /// later), so that one thread can wait for them with [`SignalSet::wait`].
    pub fn block_in_thread(&self) -> io::Result<()> {
        // SAFETY: `pthread_sigmask` reads the initialised set and does not ask for the old
        // mask (NULL).
        let r = unsafe { libc::pthread_sigmask(libc::SIG_BLOCK, &self.0, std::ptr::null_mut()) };
        if r == 0 {
            Ok(())
        } else {
            Err(io::Error::from_raw_os_error(r))
        }
    }

    /// Waits until one of the set's (blocked) signals is pending and takes it (`sigwait`).
    pub fn wait(&self) -> io::Result<c_int> {
        let mut sig: c_int = 0;
        // SAFETY: the set is initialised and `sig` is a valid out-pointer.
        let r = unsafe { libc::sigwait(&self.0, &mut sig) };
        if r == 0 {
            Ok(sig)
        } else {
            Err(io::Error::from_raw_os_error(r))
        }
    }

    /// Like [`SignalSet::wait`], but for at most `timeout` (`sigtimedwait`): `None` when the
    /// time is up or the wait was interrupted.
    pub fn wait_timeout(&self, timeout: Duration) -> Option<c_int> {
        let ts = libc::timespec {
            tv_sec: timeout.as_secs() as libc::time_t,
            tv_nsec: timeout.subsec_nanos() as libc::c_long,
        };
        // SAFETY: the set and `ts` are initialised and only read; no siginfo is asked for.
        let sig = unsafe { libc::sigtimedwait(&self.0, std::ptr::null_mut(), &ts) };
        (sig >= 0).then_some(sig)
    }
}

/// Sends `sig` to the process `pid` (`kill(2)`, so a negative `pid` names a process
/// group). Errors (the process is already gone) are ignored.
///
/// `libc` rather than `rustix::process::kill_process`: rustix's safe `Signal` only holds
/// named signals, and the launcher's `Running::signal` passes on any number it is given.
pub fn kill(pid: i32, sig: c_int) {
    // SAFETY: `kill` takes no pointers and has no memory effects.
    unsafe {
        libc::kill(pid, sig);
    }
}

/// Sends `sig` to the process group led by `pid`, then to `pid` itself (in case it leads no
/// group). Errors are ignored as for [`kill`].
pub(crate) fn kill_group(pid: i32, sig: c_int) {
    kill(-pid, sig);
    kill(pid, sig);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_blocked_pending_signal_is_taken_by_wait() {
        // A thread of its own, so that blocking and raising touch no other test's thread.
        std::thread::spawn(|| {
            let set = SignalSet::new(&[libc::SIGUSR2]);
            set.block_in_thread().unwrap();
            // SAFETY: `tgkill` to this very thread of a signal it blocks: the signal stays
            // pending for this thread and no other sees it.
            let r = unsafe {
                libc::syscall(
                    libc::SYS_tgkill,
                    libc::getpid(),
                    libc::syscall(libc::SYS_gettid),
                    libc::SIGUSR2,
                )
            };
            assert_eq!(r, 0);
            assert_eq!(
                set.wait_timeout(Duration::from_secs(10)),
                Some(libc::SIGUSR2)
            );
            assert_eq!(set.wait_timeout(Duration::ZERO), None);
        })
        .join()
        .unwrap();
    }
}
