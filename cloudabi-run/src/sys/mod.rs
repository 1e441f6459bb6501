//! Every raw system call of the launcher lives here, one module per concern.
//!
//! The rest of the crate builds a [`ChildPlan`] (all memory the child will need, allocated in the
//! parent) and calls [`spawn_child`]. Between `clone` and `execveat` the child runs only
//! async-signal-safe system-call wrappers: the parent may be multi-threaded (test harnesses,
//! relay threads), so the child must never allocate, lock or unwind.
//!
//! The cloned child becomes process 1 of the new PID namespace. [`child_main`] runs its setup
//! as a sequence of steps, each a small function in the module of its concern:
//!
//! 1. [`limits`]: join the instance's control groups; [`init`]: die with the launcher;
//!    [`signals`]: default dispositions and an empty mask;
//! 2. [`userns`]: the uid and gid maps;
//! 3. [`mounts`]: private propagation, `vm.memfd_noexec`, a detached mount per grant, the
//!    empty read-only root;
//! 4. [`fds`]: the granted descriptors at `0 ..= last`, the helpers after them, nothing else;
//! 5. [`limits`]: a new session and the resource limits;
//! 6. [`confine`]: `no_new_privs`, no capabilities, Landlock, seccomp (so that all of it
//!    applies to the init and the program alike);
//! 7. [`init`]: fork the program and stay behind as a minimal init
//!    ([`INIT_FORWARDED`] signals go to the program's process group, every child is reaped,
//!    the program's raw wait status goes to the status pipe). The program is therefore
//!    process 2 and, unlike a process 1, gets the default action of signals it has no
//!    handler for.
//!
//! [`relay`] is the append relay process. The modules form no cycle: `stage` and `plan` use
//! no other module of `sys`, `raw` only `stage`, the step modules only those three (and
//! `init` also `fds` and `confine`); only this file uses the step modules.

use std::ffi::{c_int, c_long};
use std::io;
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};

mod confine;
mod fds;
mod init;
mod limits;
mod mounts;
mod plan;
mod raw;
mod relay;
pub mod signals;
mod stage;
mod userns;

pub(crate) use confine::{landlock_abi, to_kernel_filter};
pub use init::INIT_FORWARDED;
pub(crate) use plan::{
    ChildPlan, ExposePlan, GrantMount, MOUNT_ATTR_NOSUID_NODEV_NOEXEC, MOUNT_ATTR_RDONLY,
    NamespacePlan,
};
pub(crate) use relay::spawn_relay;
pub(crate) use signals::kill_group;
pub use stage::Stage;

use raw::errno;

/// Result of the child's setup, read by the parent from the error pipe.
#[derive(Clone, Copy, Debug)]
pub(crate) struct ChildFailure {
    pub(crate) stage: Option<Stage>,
    pub(crate) errno: i32,
}

/// A started child (the init of the instance's PID namespace).
pub(crate) struct Child {
    pub(crate) pid: libc::pid_t,
    pub(crate) pidfd: OwnedFd,
}

/// The child: set up, sandbox, fork the program, then be its init. Never returns.
///
/// # Safety
/// Must be called only in the child right after `clone` without `CLONE_VM`, with a plan
/// whose descriptors and pointers are valid: this process then owns a private copy of the
/// parent's memory, including `plan`.
unsafe fn child_main(plan: &mut ChildPlan) -> ! {
    let err_fd = plan.err_fd;
    // SAFETY: this is the child right after `clone` (the caller's precondition), which is what
    // every step requires; each step makes only async-signal-safe calls, on memory of `plan`
    // (the parent prepared it and this process now owns a private copy) or on locals.
    unsafe {
        // Into the instance's control groups before anything else exists in it.
        limits::join_cgroups(&plan.cgroup_procs, err_fd);
        init::die_with_launcher(plan.lifeline_fd, err_fd);
        signals::reset_for_child();

        if let Some((uid_map, gid_map)) = &plan.ns.id_maps {
            userns::write_id_maps(uid_map, gid_map, err_fd);
        }

        if let Some(mountpoint) = &plan.ns.root_mountpoint {
            mounts::make_private(err_fd);
            // vm.memfd_noexec is a property of the PID namespace this process now leads.
            if plan.ns.memfd_noexec && plan.ns.clone_flags & libc::CLONE_NEWPID as c_long != 0 {
                mounts::refuse_executable_memfds(err_fd);
            }
            mounts::reopen_grants(&mut plan.ns.grants, &mut plan.moves, err_fd);
            mounts::enter_empty_root(mountpoint, plan.ns.expose.as_ref(), err_fd);
        }

        let placed = fds::place_descriptors(plan);
        let err_fd = placed.err;

        limits::new_session(err_fd);
        limits::set_rlimits(&plan.rlimits, err_fd);
        confine::no_new_privs(err_fd);
        if plan.drop_caps {
            confine::drop_capabilities(err_fd);
        }
        if plan.ruleset_fd.is_some() {
            confine::restrict_landlock(
                placed.ruleset,
                plan.landlock_flags,
                err_fd,
                Stage::Landlock,
            );
            if !plan.scope_program {
                libc::close(placed.ruleset);
            }
        }
        confine::install_seccomp(&plan.seccomp, plan.seccomp_flags, err_fd);

        init::fork_program_and_wait(plan, placed)
    }
}

/// Starts a child with `plan` in new namespaces given by `plan.ns.clone_flags`.
///
/// Returns the child and the read end of its error pipe.
pub(crate) fn spawn_child(plan: &mut ChildPlan, err_read: &OwnedFd) -> io::Result<Child> {
    let mut pidfd: c_int = -1;
    let flags = plan.ns.clone_flags | libc::CLONE_PIDFD as c_long | libc::SIGCHLD as c_long;
    // SAFETY: `clone` without CLONE_VM and without a new stack behaves like `fork`: the child
    // gets a private copy of this address space and continues here; it only runs
    // `child_main`, which never returns. The parent gets the pid and the pidfd in `pidfd`.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_clone,
            flags,
            0 as c_long,
            &mut pidfd as *mut c_int,
            0 as c_long,
            0 as c_long,
        )
    };
    if ret < 0 {
        return Err(io::Error::last_os_error());
    }
    if ret == 0 {
        // SAFETY: this is the child right after clone.
        unsafe { child_main(plan) }
    }
    let _ = err_read;
    // SAFETY: CLONE_PIDFD stored a new descriptor that nothing else owns.
    let pidfd = unsafe { OwnedFd::from_raw_fd(pidfd) };
    Ok(Child {
        pid: ret as libc::pid_t,
        pidfd,
    })
}

/// Reads the child's setup result: `None` if the pipe closed empty (exec succeeded).
pub(crate) fn read_failure(err_read: &OwnedFd) -> io::Result<Option<ChildFailure>> {
    let mut buf = [0u8; 8];
    let mut got = 0;
    while got < buf.len() {
        match rustix::io::read(err_read, &mut buf[got..]) {
            Ok(0) => break,
            Ok(n) => got += n,
            Err(rustix::io::Errno::INTR) => continue,
            Err(e) => return Err(e.into()),
        }
    }
    if got == 0 {
        return Ok(None);
    }
    let stage = u32::from_ne_bytes([buf[0], buf[1], buf[2], buf[3]]);
    let errno = i32::from_ne_bytes([buf[4], buf[5], buf[6], buf[7]]);
    Ok(Some(ChildFailure {
        stage: Stage::from_u32(stage),
        errno,
    }))
}

/// The program's raw wait status, if its init wrote one to the (non-blocking) status pipe
/// before exiting.
pub(crate) fn read_status(status_read: &OwnedFd) -> Option<c_int> {
    let mut buf = [0u8; 4];
    let mut got = 0;
    while got < buf.len() {
        match rustix::io::read(status_read, &mut buf[got..]) {
            Ok(0) => break,
            Ok(n) => got += n,
            Err(rustix::io::Errno::INTR) => continue,
            Err(_) => break,
        }
    }
    (got == buf.len()).then(|| c_int::from_ne_bytes(buf))
}

/// Sends `sig` to the process `pid` only.
pub(crate) fn kill_pid(pid: libc::pid_t, sig: c_int) {
    signals::kill(pid, sig);
}

/// Duplicates the inherited descriptor `fd` to the lowest free number, close-on-exec. Fails
/// with `EBADF` if `fd` is not open.
pub(crate) fn dup_cloexec(fd: RawFd) -> Result<OwnedFd, rustix::io::Errno> {
    if fd < 0 {
        return Err(rustix::io::Errno::BADF);
    }
    // SAFETY: F_DUPFD_CLOEXEC only reads the descriptor table; a descriptor that is not open
    // makes it fail with EBADF without touching anything.
    let new = unsafe { libc::fcntl(fd, libc::F_DUPFD_CLOEXEC, 0) };
    if new < 0 {
        return Err(rustix::io::Errno::from_raw_os_error(errno()));
    }
    // SAFETY: `new` was just returned by fcntl, is open, and nothing else owns it.
    Ok(unsafe { OwnedFd::from_raw_fd(new) })
}

/// How a child ended, as `waitpid` reports it.
pub(crate) fn wait_pid(pid: libc::pid_t) -> io::Result<c_int> {
    let target = rustix::process::Pid::from_raw(pid.max(0))
        .ok_or_else(|| io::Error::from_raw_os_error(libc::ECHILD))?;
    loop {
        match rustix::process::waitpid(Some(target), rustix::process::WaitOptions::empty()) {
            Ok(Some((_, status))) => return Ok(status.as_raw()),
            Ok(None) | Err(rustix::io::Errno::INTR) => continue,
            Err(e) => return Err(e.into()),
        }
    }
}

/// Waits until one of `fds` is readable or `timeout_ms` passes (-1: forever).
/// Returns the indices that became readable.
pub(crate) fn poll_readable(fds: &[BorrowedFd<'_>], timeout_ms: c_int) -> io::Result<Vec<usize>> {
    let mut pfds: Vec<libc::pollfd> = fds
        .iter()
        .map(|fd| libc::pollfd {
            fd: fd.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        })
        .collect();
    // SAFETY: `pfds` is a valid array of `pfds.len()` pollfd structures.
    let r = unsafe { libc::poll(pfds.as_mut_ptr(), pfds.len() as libc::nfds_t, timeout_ms) };
    if r < 0 {
        let e = io::Error::last_os_error();
        if e.kind() == io::ErrorKind::Interrupted {
            return Ok(Vec::new());
        }
        return Err(e);
    }
    Ok(pfds
        .iter()
        .enumerate()
        .filter(|(_, p)| p.revents != 0)
        .map(|(i, _)| i)
        .collect())
}

/// Effective user and group id of the launcher.
pub(crate) fn ids() -> (u32, u32) {
    (
        rustix::process::geteuid().as_raw(),
        rustix::process::getegid().as_raw(),
    )
}
