//! Processes and threads: `proc_*`, `thread_*` and `random_get`.

use std::os::fd::{AsFd, FromRawFd, OwnedFd};
use std::sync::{Arc, Mutex};

use cloudabi_types::{
    Errno, ExitCode, Fd, FileType, Lock, Rights, Scope, Signal, Tid, abi64::ThreadAttr,
};

use super::fd::check;
use super::fdtable::{self, Child, Entry, FdTable, Object};
use super::mem::{self, GuestPtr, GuestSlice};
use super::process::Process;
use super::signal::SIGNALS;
use super::{errno, sync};
use crate::lifecycle::{self, JoinLock};

/// `proc_exit(rval)`.
pub(crate) fn exit(rval: ExitCode) -> Result<(), Errno> {
    // SAFETY: _exit ends the whole process (exit_group) without running host code that
    // could observe half-finished guest state.
    unsafe { libc::_exit(rval as i32) }
}

/// `proc_raise(sig)`.
pub(crate) fn raise(sig: Signal) -> Result<(), Errno> {
    let &(sig, linux) = SIGNALS
        .iter()
        .find(|&&(s, _)| s == sig)
        .ok_or(Errno::INVAL)?;
    match sig {
        // CloudABI ignores these by default, and the guest cannot install handlers.
        Signal::CHLD | Signal::PIPE | Signal::URG | Signal::CONT => return Ok(()),
        Signal::STOP | Signal::TSTP | Signal::TTIN | Signal::TTOU => {}
        // The rest terminate: make sure no host handler intercepts them.
        _ => {
            // SAFETY: resetting a disposition to the default is always allowed.
            unsafe { libc::signal(linux, libc::SIG_DFL) };
        }
    }
    // SAFETY: an empty signal set is valid to build and pass.
    unsafe {
        let mut set: libc::sigset_t = core::mem::zeroed();
        libc::sigemptyset(&mut set);
        libc::sigaddset(&mut set, linux);
        libc::pthread_sigmask(libc::SIG_UNBLOCK, &set, core::ptr::null_mut());
    }
    // SAFETY: raising a signal on ourselves.
    if unsafe { libc::raise(linux) } != 0 {
        return Err(errno::last());
    }
    Ok(())
}

/// `random_get(buf, buf_len)`.
pub(crate) fn random_get(buf: GuestSlice<u8>) -> Result<(), Errno> {
    let (mut at, mut left) = (buf.addr(), buf.len());
    at.checked_add(left).ok_or(Errno::FAULT)?;
    while left > 0 {
        let chunk = usize::try_from(left.min(1 << 20)).unwrap_or(1 << 20);
        // SAFETY: the kernel writes at most `chunk` bytes to the guest buffer and
        // validates the address (EFAULT).
        let r = unsafe { libc::getrandom(at as *mut libc::c_void, chunk, 0) };
        if r < 0 {
            let e = errno::last();
            if e == Errno::INTR {
                continue;
            }
            return Err(e);
        }
        at += r as u64;
        left -= r as u64;
    }
    Ok(())
}

/// `proc_fork(*fd, *tid)`.
pub(crate) fn fork(p: &Process, fd: GuestPtr<Fd>, tid: GuestPtr<Tid>) -> Result<(), Errno> {
    fd.check()?;
    tid.check()?;
    // Hold the emulator's own locks across fork so the child's copies are consistent
    // (only this thread survives in the child, and it releases them).
    let mut slots = p.fds.write();
    let condvars = p.condvars.lock();
    let threads = lifecycle::lock_for_fork();
    // SAFETY: fork in a multi-threaded process; the child only continues this thread,
    // which holds every lock of ours that it will touch.
    let pid = unsafe { libc::fork() };
    if pid < 0 {
        return Err(errno::last());
    }
    if pid == 0 {
        threads.in_child();
        drop(condvars);
        drop(slots);
        // SAFETY: gettid has no preconditions.
        let own = unsafe { libc::gettid() } as u32;
        fd.write(Fd::PROCESS_CHILD)?;
        return tid.write(Tid(own));
    }
    drop(threads);
    drop(condvars);
    // SAFETY: pidfd_open on the child we just created (not yet reaped, so its pid is ours).
    let raw = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) };
    if raw < 0 {
        let e = errno::last();
        // SAFETY: killing and reaping our own child.
        unsafe {
            libc::kill(pid, libc::SIGKILL);
            libc::waitpid(pid, core::ptr::null_mut(), 0);
        }
        return Err(e);
    }
    // SAFETY: pidfd_open returned a fresh descriptor that nothing else owns.
    let pidfd = unsafe { OwnedFd::from_raw_fd(raw as i32) };
    let object = Object {
        fd: pidfd,
        filetype: FileType::PROCESS,
        child: Some(Child {
            // SAFETY: getpid has no preconditions.
            owner: unsafe { libc::getpid() },
            status: Mutex::new(None),
        }),
        sync: Default::default(),
    };
    let entry = Entry {
        object: Arc::new(object),
        base: cloudabi_caps::rights::PROCESS,
        inheriting: Rights::empty(),
    };
    let child = FdTable::insert_locked(&mut slots, entry)?;
    drop(slots);
    fd.write(child)?;
    tid.write(Tid(0))
}

/// `proc_exec(fd, data, data_len, fds, fds_len)`.
pub(crate) fn exec(
    p: &Process,
    fd: Fd,
    data: GuestSlice<u8>,
    fds: GuestSlice<Fd>,
) -> Result<(), Errno> {
    let executable = p.fds.get_with(fd.0.into(), Rights::PROC_EXEC)?;
    let data = data.read_bytes(mem::MAX_COPY, Errno::TOOBIG)?;
    if fds.len() > fdtable::MAX_FDS as u64 {
        return Err(Errno::TOOBIG);
    }
    let numbers: Vec<Fd> = fds.read_all()?;
    let entries = numbers
        .iter()
        .map(|&fd| p.fds.get(fd.0.into()))
        .collect::<Result<Vec<_>, _>>()?;
    // A successful exec never returns: nothing may be left on this frame to drop.
    drop(numbers);
    let host = p.host().ok_or(Errno::NOSYS)?;
    let image = executable
        .object
        .fd
        .as_fd()
        .try_clone_to_owned()
        .map_err(|e| errno::from_io(&e))?;
    drop(executable);
    // One exec at a time; if another thread's exec ends this one, the dispatcher ends
    // this thread when the call returns.
    lifecycle::begin_exec().map_err(|_| Errno::INTR)?;
    let old = core::mem::replace(&mut *p.fds.write(), entries.into_iter().map(Some).collect());
    // Kept aside, not dropped: a failed exec must give them back. A successful one never
    // returns here, so the loader closes them (`release_retired_descriptors`) just before it
    // enters the new program.
    *p.retired() = Some(old);
    match host.exec(image, data) {
        Err(e) => {
            // The old program keeps running with its old descriptors.
            if let Some(old) = p.retired().take() {
                *p.fds.write() = old;
            }
            lifecycle::end_exec();
            Err(e.errno())
        }
    }
}

/// `thread_create(*attr, *tid)`.
pub(crate) fn thread_create(
    p: &Process,
    attr: GuestPtr<ThreadAttr>,
    tid: GuestPtr<Tid>,
) -> Result<(), Errno> {
    let attr: ThreadAttr = attr.read()?;
    tid.check()?;
    let host = p.host().ok_or(Errno::NOSYS)?;
    let new = host
        .spawn_thread(attr.entry_point, attr.stack, attr.stack_len, attr.argument)
        .map_err(|e| errno::from_io(&e))?;
    tid.write(Tid(new))
}

/// `thread_exit(lock, scope)`.
pub(crate) fn thread_exit(p: &Process, lock: GuestPtr<Lock>, scope: Scope) -> Result<(), Errno> {
    let (addr, scope) = (lock.addr(), u64::from(scope.0));
    if let Some(thread) = lifecycle::current() {
        // Back to the host thread's own start routine, which releases the lock once the
        // thread is off the guest's stack (a joining thread may reuse that stack then).
        thread.exit_releasing(JoinLock {
            addr,
            scope,
            release: release_join_lock,
        });
    }
    release_join_lock(addr, scope);
    match p.host() {
        Some(host) => host.exit_thread(),
        None => lifecycle::exit_host_thread(),
    }
}

/// Releases the lock a thread named in `thread_exit`. A bad lock pointer cannot be
/// reported any more: the thread ends regardless.
fn release_join_lock(addr: u64, scope: u64) {
    let _ = sync::release(addr, scope);
}

/// `thread_yield()`.
pub(crate) fn thread_yield() -> Result<(), Errno> {
    // SAFETY: sched_yield has no preconditions.
    check(unsafe { libc::sched_yield() } as isize).map(drop)
}
