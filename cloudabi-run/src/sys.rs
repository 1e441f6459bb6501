//! Every raw system call of the launcher lives here.
//!
//! The rest of the crate builds a [`ChildPlan`] (all memory the child will need, allocated in the
//! parent) and calls [`spawn_child`]. Between `clone` and `execveat` the child runs only
//! async-signal-safe system-call wrappers: the parent may be multi-threaded (test harnesses,
//! relay threads), so the child must never allocate, lock or unwind.
//!
//! The cloned child becomes process 1 of the new PID namespace. Once it has set up the
//! namespaces, descriptors, limits, Landlock and seccomp (so that all of it applies to both),
//! it forks the program and stays behind as a minimal init ([`init_loop`]): it forwards
//! [`INIT_FORWARDED`] signals to the program's process group, reaps every process that ends up
//! as its child, and when the program ends writes the program's raw wait status to the status
//! pipe and exits. The program is therefore process 2 and, unlike a process 1, gets the
//! default action of signals it has no handler for.

use std::ffi::{CStr, c_char, c_int, c_long, c_uint, c_void};
use std::io;
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};

/// A step of the child's setup, reported to the parent when it fails.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u32)]
pub enum Stage {
    /// Writing `/proc/self/{setgroups,uid_map,gid_map}` of the new user namespace.
    UserNamespaceMap = 1,
    /// Making every mount private (`mount --make-rprivate /`).
    MountPrivate,
    /// Mounting the empty tmpfs that becomes the root.
    MountEmptyRoot,
    /// `pivot_root` into the empty tmpfs.
    PivotRoot,
    /// Detaching the old root.
    DetachOldRoot,
    /// Remounting the empty root read-only.
    RemountRootReadOnly,
    /// Showing the program file read-only at `/program` (runner mode).
    ExposeProgram,
    /// Setting `vm.memfd_noexec` to 2 in the new PID namespace.
    MemfdNoexec,
    /// Replacing a granted file or directory by the same one seen through a detached copy
    /// of its mount.
    GrantMount,
    /// Moving the granted descriptors to their numbers.
    Descriptors,
    /// Closing every descriptor that was not granted.
    CloseOthers,
    /// `setsid`.
    Setsid,
    /// A resource limit.
    ResourceLimit,
    /// `PR_SET_NO_NEW_PRIVS`.
    NoNewPrivs,
    /// Dropping capabilities (securebits, bounding set, ambient set).
    Capabilities,
    /// `landlock_restrict_self`.
    Landlock,
    /// Installing the seccomp filters.
    Seccomp,
    /// Forking the program from the namespace's init process.
    Fork,
    /// Entering the program's own, nested Landlock domain, which stops it from signalling its
    /// init.
    ProgramDomain,
    /// `execveat` of the program.
    Exec,
    /// `PR_SET_PDEATHSIG`: the init is killed when the launcher's thread that started it
    /// ends (numbered last so that the others keep their numbers).
    DieWithLauncher,
    /// Moving into the instance's control groups (`--pids`, `--memory`).
    Cgroup,
}

impl Stage {
    fn from_u32(v: u32) -> Option<Stage> {
        use Stage::*;
        const ALL: [Stage; 22] = [
            UserNamespaceMap,
            MountPrivate,
            MountEmptyRoot,
            PivotRoot,
            DetachOldRoot,
            RemountRootReadOnly,
            ExposeProgram,
            MemfdNoexec,
            GrantMount,
            Descriptors,
            CloseOthers,
            Setsid,
            ResourceLimit,
            NoNewPrivs,
            Capabilities,
            Landlock,
            Seccomp,
            Fork,
            ProgramDomain,
            Exec,
            DieWithLauncher,
            Cgroup,
        ];
        ALL.into_iter().find(|s| *s as u32 == v)
    }
}

impl std::fmt::Display for Stage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let s = match self {
            Stage::DieWithLauncher => "asking to be killed with the launcher (PR_SET_PDEATHSIG)",
            Stage::Cgroup => "moving into the instance's control groups",
            Stage::UserNamespaceMap => "writing the user namespace id maps",
            Stage::MountPrivate => "making mounts private",
            Stage::MountEmptyRoot => "mounting the empty root",
            Stage::PivotRoot => "pivot_root into the empty root",
            Stage::DetachOldRoot => "detaching the old root",
            Stage::RemountRootReadOnly => "remounting the empty root read-only",
            Stage::ExposeProgram => "showing the program read-only at /program",
            Stage::MemfdNoexec => "refusing executable memfds (vm.memfd_noexec = 2)",
            Stage::GrantMount => "giving a granted file or directory a mount of its own",
            Stage::Descriptors => "placing the granted descriptors",
            Stage::CloseOthers => "closing ungranted descriptors",
            Stage::Setsid => "setsid",
            Stage::ResourceLimit => "setting a resource limit",
            Stage::NoNewPrivs => "setting no_new_privs",
            Stage::Capabilities => "dropping capabilities",
            Stage::Landlock => "entering the Landlock domain",
            Stage::Seccomp => "installing the seccomp filter",
            Stage::Fork => "forking the program from its init process",
            Stage::ProgramDomain => "entering the program's own Landlock domain",
            Stage::Exec => "executing the program",
        };
        f.write_str(s)
    }
}

/// Namespace-related choices for one child.
pub(crate) struct NamespacePlan {
    /// `CLONE_NEW*` flags passed to `clone`.
    pub(crate) clone_flags: c_long,
    /// Contents for `uid_map` and `gid_map` when a user namespace is created.
    pub(crate) id_maps: Option<(Vec<u8>, Vec<u8>)>,
    /// Existing directory on which the empty root is mounted (NUL-terminated), when a mount
    /// namespace is created.
    pub(crate) root_mountpoint: Option<std::ffi::CString>,
    /// A host file to show read-only inside the empty root (runner mode); needs
    /// `root_mountpoint`.
    pub(crate) expose: Option<ExposePlan>,
    /// Granted files and directories the program gets through detached mounts of their own
    /// (needs `root_mountpoint`).
    pub(crate) grants: Vec<GrantMount>,
    /// Whether the init sets `vm.memfd_noexec` to 2 in its PID namespace (needs
    /// `CLONE_NEWPID`): every memfd created inside is then sealed non-executable.
    pub(crate) memfd_noexec: bool,
}

/// A granted file or directory given to the program through a detached, recursive copy of
/// its mount (`open_tree(OPEN_TREE_CLONE | AT_RECURSIVE)`) instead of the launcher's own
/// descriptor. A detached mount has no parent: `..` from its root stays there, so no lookup
/// from the descriptor can leave the grant, whatever the system call. The copy carries the
/// grant's mount attributes (read-only for read grants, always `nosuid`, `nodev`,
/// `noexec`), which the kernel enforces for metadata writes (`utimensat`) that Landlock
/// does not see.
pub(crate) struct GrantMount {
    /// The descriptor number the program sees; `moves[target]` gets the new descriptor.
    pub(crate) target: RawFd,
    /// Absolute host path of the file or directory, resolved in the child's copy of the
    /// mount namespace (a descriptor of the launcher's namespace cannot be cloned from there).
    pub(crate) source: std::ffi::CString,
    /// Device and inode of what the launcher opened; anything else at the path is refused.
    pub(crate) dev: u64,
    /// See `dev`.
    pub(crate) ino: u64,
    /// `MOUNT_ATTR_*` bits set on the copy.
    pub(crate) attrs: u64,
    /// Flags for reopening it through the copy (those of the launcher's descriptor).
    pub(crate) flags: c_int,
    /// `/proc/self/fd/` followed by 21 NUL bytes: the child writes the copy's descriptor
    /// number there to reopen it.
    pub(crate) proc_path: Vec<u8>,
}

/// `MOUNT_ATTR_RDONLY`.
pub(crate) const MOUNT_ATTR_RDONLY: u64 = 0x1;
/// `MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV | MOUNT_ATTR_NOEXEC`.
pub(crate) const MOUNT_ATTR_NOSUID_NODEV_NOEXEC: u64 = 0x2 | 0x4 | 0x8;
/// `AT_RECURSIVE`.
const AT_RECURSIVE: c_uint = 0x8000;

/// A host file bind-mounted read-only (also `nosuid`, `nodev`, `noexec`) into the empty root,
/// so that a runner such as `qemu-aarch64-static` can open the program by path.
pub(crate) struct ExposePlan {
    /// Absolute, canonical host path of the file. It is resolved in the child's copy of the
    /// mount namespace, before the empty root can hide it.
    pub(crate) source: std::ffi::CString,
    /// `<root_mountpoint>/<name>`: where the file appears, as `/<name>` after `pivot_root`.
    pub(crate) target: std::ffi::CString,
    /// Device and inode of the file the launcher opened; the child refuses any other (the
    /// path may have been replaced in between).
    pub(crate) dev: u64,
    /// See `dev`.
    pub(crate) ino: u64,
}

/// `OPEN_TREE_CLONE`: a detached copy of the mount at the path.
const OPEN_TREE_CLONE: c_uint = 1;
/// `MOVE_MOUNT_F_EMPTY_PATH`: the source of `move_mount` is the descriptor itself.
const MOVE_MOUNT_F_EMPTY_PATH: c_uint = 4;
/// `MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV | MOUNT_ATTR_NOEXEC`.
const MOUNT_ATTR_LOCKED_DOWN: u64 = 0x1 | 0x2 | 0x4 | 0x8;

/// `struct mount_attr` of `mount_setattr(2)`.
#[repr(C)]
struct MountAttr {
    attr_set: u64,
    attr_clr: u64,
    propagation: u64,
    userns_fd: u64,
}

/// Everything the child needs between `clone` and `execveat`, prepared by the parent.
pub(crate) struct ChildPlan {
    /// `(source, target)`: the source descriptor (held by the parent) ends up at `target`
    /// with close-on-exec cleared. Targets are exactly `0 ..= last_target`.
    pub(crate) moves: Vec<(RawFd, RawFd)>,
    /// Scratch space, same length as `moves`; written by the child only.
    pub(crate) scratch: Vec<RawFd>,
    /// Write end of the error pipe (close-on-exec).
    pub(crate) err_fd: RawFd,
    /// `cgroup.procs` of each control group the instance goes into, open for writing.
    pub(crate) cgroup_procs: Vec<RawFd>,
    /// Read end of the launcher's lifeline pipe, whose write end only the launcher holds:
    /// end-of-file on it means the launcher is gone.
    pub(crate) lifeline_fd: RawFd,
    /// Write end of the status pipe (close-on-exec, non-blocking): the init writes the
    /// program's raw wait status to it.
    pub(crate) status_fd: RawFd,
    /// The program, opened with `O_PATH`.
    pub(crate) prog_fd: RawFd,
    /// The Landlock ruleset, if any.
    pub(crate) ruleset_fd: Option<RawFd>,
    /// `landlock_restrict_self` flags.
    pub(crate) landlock_flags: u32,
    /// Whether the program (not its init) enters a further Landlock domain with the same
    /// rules: its signal scope then excludes the init (needs Landlock ABI 6).
    pub(crate) scope_program: bool,
    /// Namespaces.
    pub(crate) ns: NamespacePlan,
    /// `(resource, limit)` pairs; soft and hard limit are both set.
    pub(crate) rlimits: Vec<(c_int, u64)>,
    /// Whether to drop every capability before exec.
    pub(crate) drop_caps: bool,
    /// Seccomp programs, installed in order.
    pub(crate) seccomp: Vec<Vec<libc::sock_filter>>,
    /// Flags for `seccomp(SECCOMP_SET_MODE_FILTER)`.
    pub(crate) seccomp_flags: c_uint,
    /// NULL-terminated argv; the pointers point into `_argv_storage`.
    pub(crate) argv: Vec<*const c_char>,
    /// NULL-terminated envp.
    pub(crate) envp: Vec<*const c_char>,
    /// Buffer of the `LISTEN_PID=` variable: the child writes its own pid into the digits.
    pub(crate) listen_pid: Option<(*mut u8, usize)>,
    /// Stack for the program's process between the init's `clone` and `execveat`.
    pub(crate) program_stack: Vec<u8>,
}

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

/// Signals the init passes on to the program's process group. Others sent to the init from
/// outside have no effect (`SIGKILL` excepted: it ends the init and with it the namespace).
pub const INIT_FORWARDED: [c_int; 6] = [
    libc::SIGINT,
    libc::SIGTERM,
    libc::SIGHUP,
    libc::SIGQUIT,
    libc::SIGUSR1,
    libc::SIGUSR2,
];

fn errno() -> c_int {
    io::Error::last_os_error()
        .raw_os_error()
        .unwrap_or(libc::EIO)
}

/// Reports `stage` and the current errno through the error pipe, then exits with 127.
///
/// # Safety
/// Only to be called in the child after `clone`.
unsafe fn fail(err_fd: RawFd, stage: Stage) -> ! {
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

/// Writes `data` to the file `path` (child side, no allocation).
///
/// # Safety
/// Child side only.
unsafe fn write_file(path: &CStr, data: &[u8]) -> bool {
    // SAFETY: `path` is NUL-terminated; the descriptor is closed before returning.
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

/// A detached copy of the mount at `source` (recursive: with the mounts beneath it), with
/// `attrs` set on every mount of the copy, after checking that `source` is still the file
/// `dev`/`ino`. Returns the copy's `O_PATH` descriptor (close-on-exec), or -1 with errno set.
///
/// # Safety
/// Child side only.
unsafe fn clone_mount(source: &CStr, dev: u64, ino: u64, attrs: u64, recursive: bool) -> c_int {
    let recurse = if recursive { AT_RECURSIVE } else { 0 };
    // SAFETY: `source` is NUL-terminated, `st` and `attr` are locals; the descriptor is
    // closed again on every failure path.
    unsafe {
        let tree = libc::syscall(
            libc::SYS_open_tree,
            libc::AT_FDCWD as c_long,
            source.as_ptr(),
            (OPEN_TREE_CLONE | libc::O_CLOEXEC as c_uint | recurse) as c_long,
        ) as c_int;
        if tree < 0 {
            return -1;
        }
        let mut st: libc::stat = std::mem::zeroed();
        let attr = MountAttr {
            attr_set: attrs,
            attr_clr: 0,
            propagation: 0,
            userns_fd: 0,
        };
        if libc::fstat(tree, &mut st) != 0 {
            libc::close(tree);
            return -1;
        }
        if st.st_dev != dev || st.st_ino != ino {
            libc::close(tree);
            *libc::__errno_location() = libc::ESTALE;
            return -1;
        }
        if libc::syscall(
            libc::SYS_mount_setattr,
            tree as c_long,
            c"".as_ptr(),
            (libc::AT_EMPTY_PATH as c_uint | recurse) as c_long,
            &attr as *const MountAttr,
            std::mem::size_of::<MountAttr>(),
        ) != 0
        {
            libc::close(tree);
            return -1;
        }
        tree
    }
}

/// The child: set up, sandbox, exec. Never returns.
///
/// # Safety
/// Must be called only in the child right after `clone`, with a plan whose descriptors and
/// pointers are valid.
unsafe fn child_main(plan: &mut ChildPlan) -> ! {
    let mut err_fd = plan.err_fd;
    // SAFETY: only async-signal-safe libc wrappers and raw system calls follow, on memory the
    // parent prepared and that this process now owns as a private copy (no CLONE_VM); every
    // pointer passed is either a NUL-terminated literal, a field of `plan` (kept alive by the
    // caller) or a local.
    unsafe {
        // Into the instance's control groups before anything else exists in it: writing 0
        // moves the writing process, and everything it starts stays in the groups.
        for &fd in &plan.cgroup_procs {
            if libc::write(fd, b"0".as_ptr().cast(), 1) != 1 {
                fail(err_fd, Stage::Cgroup);
            }
        }
        // Nothing outlives the launcher: the init is killed when the launcher's thread that
        // cloned it ends, however it ends (SIGKILL included), and with the init the kernel
        // kills its whole PID namespace. Had the launcher already gone before this took
        // effect, the lifeline's write end is closed: leave at once.
        if libc::prctl(
            libc::PR_SET_PDEATHSIG,
            libc::SIGKILL as libc::c_ulong,
            0,
            0,
            0,
        ) != 0
        {
            fail(err_fd, Stage::DieWithLauncher);
        }
        let mut lifeline = libc::pollfd {
            fd: plan.lifeline_fd,
            events: libc::POLLIN,
            revents: 0,
        };
        if libc::poll(&mut lifeline, 1, 0) != 0 {
            libc::_exit(127);
        }
        // Restore default signal dispositions and an empty mask: the parent's handlers are
        // not meaningful here, and ignored signals and a blocked mask would be inherited by
        // the program (a launcher started in the background by a shell has SIGINT and
        // SIGQUIT ignored, under nohup SIGHUP as well; exec keeps that).
        // The raw call, since the C library refuses the real-time signals it keeps for
        // itself (32, 33); the kernel's `struct sigaction` with SIG_DFL is all zeros.
        let default = [0u64; 4];
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

        if let Some((uid_map, gid_map)) = &plan.ns.id_maps
            && (!write_file(c"/proc/self/setgroups", b"deny")
                || !write_file(c"/proc/self/uid_map", uid_map)
                || !write_file(c"/proc/self/gid_map", gid_map))
        {
            fail(err_fd, Stage::UserNamespaceMap);
        }

        if let Some(mountpoint) = &plan.ns.root_mountpoint {
            let null = std::ptr::null::<c_char>();
            if libc::mount(
                null,
                c"/".as_ptr(),
                null,
                libc::MS_REC | libc::MS_PRIVATE,
                std::ptr::null(),
            ) != 0
            {
                fail(err_fd, Stage::MountPrivate);
            }
            // vm.memfd_noexec is a property of the PID namespace this process now leads;
            // writing it needs the host's /proc, so it happens before the root is replaced.
            if plan.ns.memfd_noexec
                && plan.ns.clone_flags & libc::CLONE_NEWPID as c_long != 0
                && !write_file(c"/proc/sys/vm/memfd_noexec", b"2")
            {
                fail(err_fd, Stage::MemfdNoexec);
            }
            // Every granted file and directory: a detached copy of its mount, reopened with
            // the launcher's flags, replaces the launcher's descriptor. Done now, while the
            // paths still resolve and /proc is there.
            for g in plan.ns.grants.iter_mut() {
                let tree = clone_mount(&g.source, g.dev, g.ino, g.attrs, true);
                if tree < 0 {
                    fail(err_fd, Stage::GrantMount);
                }
                let digits = g.proc_path.len() - 21;
                write_decimal(g.proc_path.as_mut_ptr().add(digits), 20, tree as u64);
                let fd = libc::open(g.proc_path.as_ptr().cast(), g.flags | libc::O_CLOEXEC);
                let mut st: libc::stat = std::mem::zeroed();
                if fd < 0 || libc::fstat(fd, &mut st) != 0 {
                    fail(err_fd, Stage::GrantMount);
                }
                if st.st_dev != g.dev || st.st_ino != g.ino {
                    *libc::__errno_location() = libc::ESTALE;
                    fail(err_fd, Stage::GrantMount);
                }
                libc::close(tree);
                plan.moves[g.target as usize].0 = fd;
            }
            // Runner mode: take a detached, read-only copy of the program file's mount now,
            // while its path still resolves (the empty root may be mounted over it).
            let mut tree: c_int = -1;
            if let Some(e) = &plan.ns.expose {
                tree = clone_mount(&e.source, e.dev, e.ino, MOUNT_ATTR_LOCKED_DOWN, false);
                if tree < 0 {
                    fail(err_fd, Stage::ExposeProgram);
                }
            }
            if libc::mount(
                c"cloudabi-root".as_ptr(),
                mountpoint.as_ptr(),
                c"tmpfs".as_ptr(),
                libc::MS_NOSUID | libc::MS_NODEV | libc::MS_NOEXEC,
                c"mode=0555,size=4k,nr_inodes=2".as_ptr().cast(),
            ) != 0
            {
                fail(err_fd, Stage::MountEmptyRoot);
            }
            if let Some(e) = &plan.ns.expose {
                let f = libc::open(
                    e.target.as_ptr(),
                    libc::O_CREAT | libc::O_EXCL | libc::O_WRONLY | libc::O_CLOEXEC,
                    0o444 as libc::mode_t,
                );
                if f < 0 {
                    fail(err_fd, Stage::ExposeProgram);
                }
                libc::close(f);
                if libc::syscall(
                    libc::SYS_move_mount,
                    tree as c_long,
                    c"".as_ptr(),
                    libc::AT_FDCWD as c_long,
                    e.target.as_ptr(),
                    MOVE_MOUNT_F_EMPTY_PATH as c_long,
                ) != 0
                {
                    fail(err_fd, Stage::ExposeProgram);
                }
                libc::close(tree);
            }
            if libc::chdir(mountpoint.as_ptr()) != 0
                || libc::syscall(libc::SYS_pivot_root, c".".as_ptr(), c".".as_ptr()) != 0
            {
                fail(err_fd, Stage::PivotRoot);
            }
            // The old root is now stacked on top of the new one: detach it.
            if libc::umount2(c".".as_ptr(), libc::MNT_DETACH) != 0
                || libc::chdir(c"/".as_ptr()) != 0
            {
                fail(err_fd, Stage::DetachOldRoot);
            }
            if libc::mount(
                null,
                c"/".as_ptr(),
                null,
                libc::MS_REMOUNT
                    | libc::MS_BIND
                    | libc::MS_RDONLY
                    | libc::MS_NOSUID
                    | libc::MS_NODEV
                    | libc::MS_NOEXEC,
                std::ptr::null(),
            ) != 0
            {
                fail(err_fd, Stage::RemountRootReadOnly);
            }
        }

        // Descriptors. Targets are 0 ..= last; the helpers follow right after.
        let last = plan.moves.len() as RawFd - 1;
        let err_target = last + 1;
        let status_target = last + 2;
        let prog_target = last + 3;
        let ruleset_target = last + 4;
        let mut base = ruleset_target + 1;
        for &(src, _) in &plan.moves {
            base = base.max(src + 1);
        }
        base = base
            .max(err_fd + 1)
            .max(plan.status_fd + 1)
            .max(plan.prog_fd + 1);
        if let Some(r) = plan.ruleset_fd {
            base = base.max(r + 1);
        }
        // First copy everything above every source and target, then place the copies.
        let tmp_err = libc::fcntl(err_fd, libc::F_DUPFD_CLOEXEC, base);
        if tmp_err < 0 {
            fail(err_fd, Stage::Descriptors);
        }
        err_fd = tmp_err;
        for i in 0..plan.moves.len() {
            let t = libc::fcntl(plan.moves[i].0, libc::F_DUPFD_CLOEXEC, base);
            if t < 0 {
                fail(err_fd, Stage::Descriptors);
            }
            plan.scratch[i] = t;
        }
        let tmp_status = libc::fcntl(plan.status_fd, libc::F_DUPFD_CLOEXEC, base);
        let tmp_prog = libc::fcntl(plan.prog_fd, libc::F_DUPFD_CLOEXEC, base);
        let tmp_ruleset = match plan.ruleset_fd {
            Some(r) => libc::fcntl(r, libc::F_DUPFD_CLOEXEC, base),
            None => 0,
        };
        if tmp_status < 0 || tmp_prog < 0 || tmp_ruleset < 0 {
            fail(err_fd, Stage::Descriptors);
        }
        for i in 0..plan.moves.len() {
            if libc::dup3(plan.scratch[i], plan.moves[i].1, 0) < 0 {
                fail(err_fd, Stage::Descriptors);
            }
        }
        if libc::dup3(err_fd, err_target, libc::O_CLOEXEC) < 0 {
            fail(err_fd, Stage::Descriptors);
        }
        err_fd = err_target;
        if libc::dup3(tmp_status, status_target, libc::O_CLOEXEC) < 0
            || libc::dup3(tmp_prog, prog_target, libc::O_CLOEXEC) < 0
            || (plan.ruleset_fd.is_some()
                && libc::dup3(tmp_ruleset, ruleset_target, libc::O_CLOEXEC) < 0)
        {
            fail(err_fd, Stage::Descriptors);
        }
        if libc::syscall(libc::SYS_close_range, ruleset_target + 1, c_uint::MAX, 0) != 0 {
            fail(err_fd, Stage::CloseOthers);
        }

        if libc::setsid() < 0 {
            fail(err_fd, Stage::Setsid);
        }
        for &(resource, value) in &plan.rlimits {
            let lim = libc::rlimit {
                rlim_cur: value,
                rlim_max: value,
            };
            if libc::setrlimit(resource as _, &lim) != 0 {
                fail(err_fd, Stage::ResourceLimit);
            }
        }
        if libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0 {
            fail(err_fd, Stage::NoNewPrivs);
        }
        if plan.drop_caps {
            // Root (inside or outside a user namespace) must not get capabilities at exec:
            // SECBIT_NOROOT stops uid 0 from gaining them, the bounding and ambient sets are
            // emptied, and the bits are locked so the program cannot undo this.
            let bits = libc::SECBIT_NOROOT
                | libc::SECBIT_NOROOT_LOCKED
                | libc::SECBIT_NO_SETUID_FIXUP
                | libc::SECBIT_NO_SETUID_FIXUP_LOCKED
                | libc::SECBIT_KEEP_CAPS_LOCKED
                | libc::SECBIT_NO_CAP_AMBIENT_RAISE
                | libc::SECBIT_NO_CAP_AMBIENT_RAISE_LOCKED;
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
        if plan.ruleset_fd.is_some() {
            if libc::syscall(
                libc::SYS_landlock_restrict_self,
                ruleset_target as c_long,
                plan.landlock_flags as c_long,
            ) != 0
            {
                fail(err_fd, Stage::Landlock);
            }
            if !plan.scope_program {
                libc::close(ruleset_target);
            }
        }
        for prog in &plan.seccomp {
            let fprog = libc::sock_fprog {
                len: prog.len() as u16,
                filter: prog.as_ptr().cast_mut(),
            };
            if libc::syscall(
                libc::SYS_seccomp,
                libc::SECCOMP_SET_MODE_FILTER as c_long,
                plan.seccomp_flags as c_long,
                &fprog as *const libc::sock_fprog,
            ) != 0
            {
                fail(err_fd, Stage::Seccomp);
            }
        }

        // Everything above applies to the init and the program alike. The init blocks the
        // signals it handles (it waits for them synchronously) before forking, so none is
        // lost in between; blocked signals are queued even for a process 1.
        let mut init_set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut init_set);
        libc::sigaddset(&mut init_set, libc::SIGCHLD);
        for sig in INIT_FORWARDED {
            libc::sigaddset(&mut init_set, sig);
        }
        libc::sigprocmask(libc::SIG_BLOCK, &init_set, std::ptr::null_mut());
        // Outside a PID namespace (best-effort mode) orphans still come to the init.
        libc::prctl(libc::PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0);
        // The program is started the way posix_spawn does it: sharing this address space
        // (no page tables to copy, none to tear down at exec) on a stack of its own, while
        // the init is suspended until the program has called execveat or exited. No atfork
        // handlers run.
        let stack = plan.program_stack.as_mut_ptr_range().end as usize & !15;
        let args = ProgramArgs {
            plan,
            err_fd,
            prog_target,
            ruleset_target,
        };
        let program = libc::clone(
            program_entry,
            stack as *mut c_void,
            libc::CLONE_VM | libc::CLONE_VFORK | libc::SIGCHLD,
            (&args as *const ProgramArgs<'_>).cast_mut().cast(),
        );
        if program < 0 {
            fail(err_fd, Stage::Fork);
        }
        // The program has now called execveat (or failed and exited), having made itself
        // the leader of a process group of its own; forwarded signals go to that group. The
        // launcher learns that exec succeeded from end-of-file on the error pipe, so the init
        // must not keep it open.
        libc::close(err_fd);
        init_loop(program, status_target, &init_set)
    }
}

/// What the program's process needs from the init's stack; valid while the init is
/// suspended by `CLONE_VFORK`.
struct ProgramArgs<'a> {
    plan: &'a ChildPlan,
    err_fd: RawFd,
    prog_target: RawFd,
    ruleset_target: RawFd,
}

/// Entry point of the program's process on its own stack.
extern "C" fn program_entry(arg: *mut c_void) -> c_int {
    // SAFETY: `arg` points to the `ProgramArgs` on the init's stack, which stays untouched
    // and valid: the init does not run again until this process has exec'd or exited.
    unsafe {
        let args = &*(arg as *const ProgramArgs<'_>);
        exec_program(
            args.plan,
            args.err_fd,
            args.prog_target,
            args.ruleset_target,
        )
    }
}

/// The program's side of the init's fork: its own process group and Landlock domain, its pid
/// in `LISTEN_PID`, default signal handling, then `execveat`. It shares the init's memory
/// (`CLONE_VM`), so it writes nothing but its own stack, errno and the `LISTEN_PID` buffer
/// (which the init never reads).
///
/// # Safety
/// Only in the process forked by the init, with the plan `child_main` was given and the
/// descriptors it placed.
unsafe fn exec_program(
    plan: &ChildPlan,
    err_fd: RawFd,
    prog_target: RawFd,
    ruleset_target: RawFd,
) -> ! {
    // SAFETY: async-signal-safe system calls on locals and on memory of `plan`, which this
    // process owns as a private copy.
    unsafe {
        libc::setpgid(0, 0);
        // Without a PID namespace (best-effort mode) the init's death does not end the
        // program: it gets the same request for itself.
        if plan.ns.clone_flags & libc::CLONE_NEWPID as c_long == 0 {
            libc::prctl(
                libc::PR_SET_PDEATHSIG,
                libc::SIGKILL as libc::c_ulong,
                0,
                0,
                0,
            );
        }
        if plan.scope_program {
            // The same rules once more, as a domain nested in the init's: the ruleset scopes
            // signals, so the program can no longer signal the init (outside its domain),
            // while the init can still signal in. (A ruleset handling only the scope would
            // not do: Landlock denies cross-directory renames in any domain whose rules do not
            // grant `refer`.)
            if libc::syscall(
                libc::SYS_landlock_restrict_self,
                ruleset_target as c_long,
                plan.landlock_flags as c_long,
            ) != 0
            {
                fail(err_fd, Stage::ProgramDomain);
            }
            libc::close(ruleset_target);
        }
        if let Some((buf, len)) = plan.listen_pid {
            write_decimal(buf, len, libc::getpid() as u64);
        }
        // As on CloudABI, writing without a reader fails with EPIPE instead of raising
        // SIGPIPE (docs/abi.md): the program starts with SIGPIPE ignored, whatever the
        // launcher's own disposition. Every other signal keeps its default action.
        libc::signal(libc::SIGPIPE, libc::SIG_IGN);
        let mut empty: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut empty);
        libc::sigprocmask(libc::SIG_SETMASK, &empty, std::ptr::null_mut());
        libc::syscall(
            libc::SYS_execveat,
            prog_target as c_long,
            c"".as_ptr(),
            plan.argv.as_ptr(),
            plan.envp.as_ptr(),
            libc::AT_EMPTY_PATH as c_long,
        );
        fail(err_fd, Stage::Exec)
    }
}

/// The init: waits for the signals in `set` (all blocked), passes the forwarded ones on to the
/// program's process group, reaps every child, and once `program` has ended writes its raw
/// wait status to `status_fd` and exits with the shell-style code (the launcher prefers the
/// written status, which also tells signal deaths apart from exit codes above 128).
///
/// # Safety
/// Only in the init after forking the program.
unsafe fn init_loop(program: libc::pid_t, status_fd: RawFd, set: &libc::sigset_t) -> ! {
    // SAFETY: async-signal-safe system calls on locals only.
    unsafe {
        loop {
            let sig = libc::sigwaitinfo(set, std::ptr::null_mut());
            if sig < 0 {
                continue;
            }
            if sig != libc::SIGCHLD {
                if libc::kill(-program, sig) != 0 {
                    libc::kill(program, sig);
                }
                continue;
            }
            loop {
                let mut status: c_int = 0;
                let pid = libc::waitpid(-1, &mut status, libc::WNOHANG);
                if pid <= 0 {
                    break;
                }
                if pid == program {
                    let bytes = status.to_ne_bytes();
                    libc::write(status_fd, bytes.as_ptr().cast(), bytes.len());
                    let code = if libc::WIFSIGNALED(status) {
                        128 + libc::WTERMSIG(status)
                    } else {
                        libc::WEXITSTATUS(status)
                    };
                    // Leaving ends the PID namespace: the kernel kills whatever is left.
                    libc::_exit(code)
                }
            }
        }
    }
}

/// Writes `value` in decimal, left-aligned and NUL-padded, into `len` bytes at `buf`.
///
/// # Safety
/// `buf` must be valid for `len` bytes.
unsafe fn write_decimal(buf: *mut u8, len: usize, mut value: u64) {
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
        let (lo, hi) = (from.min(to) as c_uint, from.max(to) as c_uint);
        if lo > 0 {
            libc::syscall(libc::SYS_close_range, 0 as c_uint, lo - 1, 0 as c_uint);
        }
        if hi > lo + 1 {
            libc::syscall(libc::SYS_close_range, lo + 1, hi - 1, 0 as c_uint);
        }
        libc::syscall(libc::SYS_close_range, hi + 1, c_uint::MAX, 0 as c_uint);
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
    // SAFETY: kill has no memory effects; errors (already gone) are irrelevant.
    unsafe {
        libc::kill(pid, sig);
    }
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
    let mut status: c_int = 0;
    loop {
        // SAFETY: plain waitpid on our own child with a valid status pointer.
        let r = unsafe { libc::waitpid(pid, &mut status, 0) };
        if r == pid {
            return Ok(status);
        }
        let e = io::Error::last_os_error();
        if e.kind() != io::ErrorKind::Interrupted {
            return Err(e);
        }
    }
}

/// Sends `sig` to the process group led by `pid` and to `pid` itself.
pub(crate) fn kill_group(pid: libc::pid_t, sig: c_int) {
    // SAFETY: kill has no memory effects; errors (already gone) are irrelevant.
    unsafe {
        libc::kill(-pid, sig);
        libc::kill(pid, sig);
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

/// Effective user and group id of the launcher.
pub(crate) fn ids() -> (u32, u32) {
    (
        rustix::process::geteuid().as_raw(),
        rustix::process::getegid().as_raw(),
    )
}
