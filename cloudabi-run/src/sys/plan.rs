//! What the parent prepares for a child: every buffer, path and descriptor number the child
//! uses between `clone` and `execveat`, allocated before `clone` so that the child never
//! allocates.

use std::ffi::{c_char, c_int, c_long, c_uint};
use std::os::fd::RawFd;

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
