//! CloudABI's userspace locks and condition variables: the kernel side.
//!
//! A lock is a 32-bit word in guest memory. Zero means free; [`Lock::WRLOCKED`] plus the
//! owner's thread ID means write-locked; otherwise the low 30 bits count readers.
//! [`Lock::KERNEL_MANAGED`] is set by the kernel when a thread sleeps on the lock, which
//! tells userspace that releasing it needs `lock_unlock`. Here sleeping and waking use a
//! Linux futex on the same word, and `lock_unlock` frees the lock and wakes every sleeper,
//! each of which then tries again (setting the bit anew if it has to sleep again).
//!
//! A condition variable is a 32-bit word that is non-zero while threads wait on it. The
//! waiters themselves are queued in the emulator ([`CondvarTable`](super::condvars::CondvarTable)), keyed by address.

use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use cloudabi_types::{Condvar, Errno, Lock, NThreads, Scope};

use super::mem::{self, GuestPtr};
use super::process::Process;
use super::{clock, errno};

/// The low bits of a lock word: owner thread ID or reader count.
const COUNT_MASK: u32 = !(Lock::WRLOCKED.0 | Lock::KERNEL_MANAGED.0);

/// A deadline on some clock.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Deadline {
    /// The Linux clock.
    pub(crate) clock: libc::clockid_t,
    /// The absolute time on that clock, in nanoseconds.
    pub(crate) at: u64,
}

impl Deadline {
    /// Time left, or `None` once passed.
    pub(crate) fn remaining(&self) -> Result<Option<Duration>, Errno> {
        let now = clock::now(self.clock)?;
        Ok((now < self.at).then(|| Duration::from_nanos(self.at - now)))
    }
}

/// Whether a scope is private (futex private flag) or shared; `EINVAL` otherwise.
fn is_private(scope: u64) -> Result<bool, Errno> {
    match u8::try_from(scope).map(Scope) {
        Ok(Scope::PRIVATE) => Ok(true),
        Ok(Scope::SHARED) => Ok(false),
        _ => Err(Errno::INVAL),
    }
}

/// The calling thread's ID as written into locks: its Linux thread ID.
pub(crate) fn current_tid() -> u32 {
    // SAFETY: gettid has no preconditions.
    (unsafe { libc::gettid() }) as u32 & COUNT_MASK
}

fn futex_op(op: i32, private: bool) -> i32 {
    if private {
        op | libc::FUTEX_PRIVATE_FLAG
    } else {
        op
    }
}

/// Sleeps while `word` holds `expected`, at most until `deadline`.
fn futex_wait(
    word: &AtomicU32,
    expected: u32,
    private: bool,
    deadline: Option<&Deadline>,
) -> Result<(), Errno> {
    let timeout = match deadline {
        None => None,
        Some(d) => match d.remaining()? {
            None => return Ok(()),
            Some(left) => Some(libc::timespec {
                tv_sec: left.as_secs() as libc::time_t,
                tv_nsec: left.subsec_nanos() as libc::c_long,
            }),
        },
    };
    let ts = timeout
        .as_ref()
        .map_or(core::ptr::null(), |t| t as *const libc::timespec);
    // SAFETY: FUTEX_WAIT on a valid aligned word with an optional relative timeout.
    let r = unsafe {
        libc::syscall(
            libc::SYS_futex,
            word.as_ptr(),
            futex_op(libc::FUTEX_WAIT, private),
            expected,
            ts,
        )
    };
    if r < 0 {
        let e = errno::last();
        if e != Errno::AGAIN && e != Errno::INTR && e != Errno::TIMEDOUT {
            return Err(e);
        }
    }
    Ok(())
}

/// Wakes every thread sleeping on `word`.
fn futex_wake_all(word: &AtomicU32, private: bool) {
    // SAFETY: FUTEX_WAKE on a valid aligned word.
    unsafe {
        libc::syscall(
            libc::SYS_futex,
            word.as_ptr(),
            futex_op(libc::FUTEX_WAKE, private),
            i32::MAX,
        );
    }
}

/// Takes the lock at `addr` for reading or writing, sleeping until it is free or the
/// deadline passes. Returns whether it was taken.
pub(crate) fn acquire(
    addr: u64,
    scope: u64,
    write: bool,
    deadline: Option<&Deadline>,
) -> Result<bool, Errno> {
    let private = is_private(scope)?;
    let word = mem::atomic_u32(addr)?;
    let tid = current_tid();
    let km = Lock::KERNEL_MANAGED.0;
    loop {
        let v = word.load(Ordering::Acquire);
        if v & !km == Lock::WRLOCKED.0 | tid {
            return Err(Errno::DEADLK);
        }
        let next = if write {
            (v & !km == 0).then_some(Lock::WRLOCKED.0 | tid | (v & km))
        } else if v & Lock::WRLOCKED.0 == 0 {
            if v & COUNT_MASK == COUNT_MASK {
                return Err(Errno::AGAIN);
            }
            Some(v + 1)
        } else {
            None
        };
        if let Some(next) = next {
            if word
                .compare_exchange(v, next, Ordering::Acquire, Ordering::Relaxed)
                .is_ok()
            {
                return Ok(true);
            }
            continue;
        }
        // Tell the holder to call the kernel when it lets go, then sleep.
        let want = v | km;
        if v != want
            && word
                .compare_exchange(v, want, Ordering::Relaxed, Ordering::Relaxed)
                .is_err()
        {
            continue;
        }
        if let Some(d) = deadline
            && d.remaining()?.is_none()
        {
            return Ok(false);
        }
        futex_wait(word, want, private, deadline)?;
        if crate::lifecycle::exit_requested() {
            // Interrupted because `proc_exec` on another thread ends this one.
            return Err(Errno::INTR);
        }
    }
}

/// Frees a lock the caller holds for writing and wakes all sleepers.
pub(crate) fn release(addr: u64, scope: u64) -> Result<(), Errno> {
    let private = is_private(scope)?;
    let word = mem::atomic_u32(addr)?;
    let old = word.swap(Lock::UNLOCKED.0, Ordering::Release);
    if old & Lock::KERNEL_MANAGED.0 != 0 {
        futex_wake_all(word, private);
    }
    Ok(())
}

/// Fails with `EPERM` unless the caller holds the lock at `addr` for writing.
fn check_owner(addr: u64) -> Result<(), Errno> {
    let v = mem::atomic_u32(addr)?.load(Ordering::Relaxed);
    if v & !Lock::KERNEL_MANAGED.0 == Lock::WRLOCKED.0 | current_tid() {
        Ok(())
    } else {
        Err(Errno::PERM)
    }
}

/// `lock_unlock(lock, scope)`.
pub(crate) fn lock_unlock(lock: GuestPtr<Lock>, scope: Scope) -> Result<(), Errno> {
    let (addr, scope) = (lock.addr(), u64::from(scope.0));
    is_private(scope)?;
    check_owner(addr)?;
    release(addr, scope)
}

/// Waits on the condition variable at `cv` with the lock at `lock` (write-locked by the
/// caller): releases the lock, sleeps until signalled or the deadline passes, and takes
/// the lock for writing again. Returns whether it was signalled.
pub(crate) fn condvar_wait(
    p: &Process,
    cv: u64,
    cv_scope: u64,
    lock: u64,
    lock_scope: u64,
    deadline: Option<&Deadline>,
) -> Result<bool, Errno> {
    is_private(cv_scope)?;
    is_private(lock_scope)?;
    let cv_word = mem::atomic_u32(cv)?;
    check_owner(lock)?;
    let table = &p.condvars;
    let mut guard = table.lock();
    let id = guard.0;
    guard.0 += 1;
    guard.1.entry(cv).or_default().waiting.push_back(id);
    cv_word.store(1, Ordering::Release);
    release(lock, lock_scope)?;
    let signalled = loop {
        let queue = guard.1.entry(cv).or_default();
        if queue.woken.remove(&id) {
            break true;
        }
        // `proc_exec` on another thread ends this one: stop waiting (the dispatcher then
        // ends the thread instead of returning).
        let ending = crate::lifecycle::exit_requested();
        let left = match deadline {
            Some(d) if !ending => d.remaining()?,
            _ => None,
        };
        // Stop on a pending exit or a passed deadline.
        if ending || (deadline.is_some() && left.is_none()) {
            queue.waiting.retain(|&w| w != id);
            if queue.waiting.is_empty() {
                cv_word.store(Condvar::HAS_NO_WAITERS.0, Ordering::Release);
            }
            if ending {
                drop(guard);
                return Err(Errno::INTR);
            }
            break false;
        }
        guard = match left {
            None => table.changed.wait(guard).unwrap_or_else(|e| e.into_inner()),
            Some(left) => {
                table
                    .changed
                    .wait_timeout(guard, left)
                    .unwrap_or_else(|e| e.into_inner())
                    .0
            }
        };
    };
    if let Some(queue) = guard.1.get(&cv)
        && queue.waiting.is_empty()
        && queue.woken.is_empty()
    {
        guard.1.remove(&cv);
    }
    drop(guard);
    acquire(lock, lock_scope, true, None)?;
    Ok(signalled)
}

/// `condvar_signal(condvar, scope, nwaiters)`.
pub(crate) fn condvar_signal(
    p: &Process,
    condvar: GuestPtr<Condvar>,
    scope: Scope,
    nwaiters: NThreads,
) -> Result<(), Errno> {
    is_private(u64::from(scope.0))?;
    let cv_word = condvar.atomic()?;
    let mut guard = p.condvars.lock();
    if let Some(queue) = guard.1.get_mut(&condvar.addr()) {
        let n = usize::try_from(nwaiters).unwrap_or(usize::MAX);
        for _ in 0..n {
            match queue.waiting.pop_front() {
                Some(id) => {
                    queue.woken.insert(id);
                }
                None => break,
            }
        }
        if queue.waiting.is_empty() {
            cv_word.store(Condvar::HAS_NO_WAITERS.0, Ordering::Release);
        }
        p.condvars.changed.notify_all();
    }
    Ok(())
}
