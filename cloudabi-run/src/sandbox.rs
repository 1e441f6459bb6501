//! The kernel sandbox: which namespaces, which Landlock ruleset, which seccomp filters.
//!
//! This module only *builds* the policy (in the launcher, where allocation is fine). The child
//! applies it between `clone` and `execveat` (see `sys`). The layers, outermost first:
//!
//! 1. **Namespaces**: user (root inside mapped to the launcher's uid, a single id), mount (the
//!    root becomes an empty read-only tmpfs after `pivot_root`; the old root is detached, so no
//!    absolute path resolves to anything real), network (only `lo`, down), IPC, UTS, cgroup and
//!    PID (process 1 is the launcher's minimal init, the program is process 2; when the
//!    program exits the init follows, and the kernel kills everything the program started).
//!    Every granted file and directory reaches the program through a detached copy of its
//!    own mount (see `sys::GrantMount`): `..` from a granted directory stays there, read
//!    grants are read-only mounts, all are `nosuid`, `nodev`, `noexec`. `vm.memfd_noexec` is
//!    2 in the PID namespace, so no memfd can be executed.
//! 2. **Capabilities**: `SECBIT_NOROOT` (locked), empty bounding and ambient sets, so uid 0 in
//!    the namespace gains nothing at exec; plus `PR_SET_NO_NEW_PRIVS`.
//! 3. **Landlock** (ABI 7, and ABI 9's `resolve_unix` where the kernel has it): every
//!    filesystem right is handled; the only rules are one per granted directory (rights from
//!    its [`FileMode`], see [`DirAccess`]), execute+read on the program file itself and,
//!    with a runner, read on the file the runner loads (shown read-only at `/program`). TCP
//!    bind and connect are handled with no rule (denied). Signals and abstract UNIX sockets are
//!    scoped to the sandbox. The init and the program both enter this domain; the program then
//!    enters a second, nested one with the same ruleset, so its signal scope excludes the init.
//! 4. **seccomp**: what Landlock cannot see, see [`denied_syscalls`].
//!
//! `docs/threat-model.md` says what each layer guarantees and what it leaves open.
//!
//! ```
//! use cloudabi_run::sandbox::{self, DirAccess, FileMode, SandboxOptions};
//! use landlock::AccessFs;
//!
//! // What the seccomp filter refuses whatever the arguments, by errno.
//! let groups = sandbox::denied_syscalls();
//! let eperm = groups.iter().find(|g| g.errno == libc::EPERM).expect("an EPERM group");
//! assert!(eperm.always.iter().any(|&(_, name)| name == "ptrace"));
//!
//! // A directory granted `read` may be listed and read beneath, nothing more.
//! assert_eq!(FileMode::Read.dir_access(), AccessFs::ReadFile | AccessFs::ReadDir);
//!
//! // On a kernel without Landlock ABI 7 the full sandbox is refused; best effort runs
//! // anyway and reports what it skipped.
//! let options = SandboxOptions {
//!     best_effort: sandbox::landlock_abi() < 7,
//!     ..SandboxOptions::default()
//! };
//! # let _ = options;
//! ```

use std::collections::BTreeMap;
use std::os::fd::{BorrowedFd, OwnedFd};

use landlock::{
    ABI, Access, AccessFs, AccessNet, BitFlags, CompatLevel, Compatible, PathBeneath, Ruleset,
    RulesetAttr, RulesetCreatedAttr, Scope,
};
use seccompiler::{
    SeccompAction, SeccompCmpArgLen, SeccompCmpOp, SeccompCondition, SeccompFilter, SeccompRule,
    TargetArch,
};

use crate::error::SandboxError;
use crate::sys;

/// Access mode of a granted file or directory: CloudABI's grant mode
/// ([`cloudabi_caps::GrantMode`], which also names and parses the modes and gives a
/// directory's CloudABI rights). What each mode means to the kernel sandbox:
///
/// * `Read`: read only. Directory: `read_file | read_dir` beneath it.
/// * `Write`: write only. Directory: create, write, truncate, rename and remove beneath
///   it, but not read or list. A file descriptor is passed as is (it may seek and
///   truncate).
/// * `Append`: append only. A *file* descriptor is not passed directly: the launcher keeps
///   it and hands the program the write end of a pipe, relaying every write to the file
///   with `O_APPEND`, so the program can neither seek, truncate, `pwritev2(RWF_NOAPPEND)`
///   nor clear `O_APPEND` with `fcntl`. A *directory*: create files and directories and
///   write them, but no truncation, removal, rename/link (`refer`) or reading. Landlock
///   has no append right, so an existing file beneath an append directory can still be
///   overwritten in place; use a file grant when that matters.
/// * `ReadWrite`: read and write. Directory: every Landlock right except `execute` and
///   the device ones (`make_char`, `make_block`, `ioctl_dev`).
pub type FileMode = cloudabi_caps::GrantMode;

/// The Landlock side of a grant mode ([`FileMode`]).
pub trait DirAccess {
    /// Landlock rights of a directory granted with this mode. `resolve_unix` (connecting to
    /// a path-named UNIX socket, Landlock ABI 9) belongs to the `write` and `read-write`
    /// modes only; on kernels below ABI 9 it is dropped and connecting is not controlled.
    ///
    /// ```
    /// use cloudabi_run::sandbox::{DirAccess, FileMode};
    /// use landlock::AccessFs;
    /// assert!(!FileMode::Read.dir_access().contains(AccessFs::ResolveUnix));
    /// assert!(FileMode::ReadWrite.dir_access().contains(AccessFs::ResolveUnix));
    /// ```
    fn dir_access(self) -> BitFlags<AccessFs>;
}

impl DirAccess for FileMode {
    fn dir_access(self) -> BitFlags<AccessFs> {
        let all = AccessFs::from_all(ABI::V9);
        let read = AccessFs::ReadFile | AccessFs::ReadDir;
        let never =
            AccessFs::Execute | AccessFs::MakeChar | AccessFs::MakeBlock | AccessFs::IoctlDev;
        match self {
            FileMode::Read => read,
            FileMode::ReadWrite => all & !never,
            FileMode::Write => all & !never & !read,
            FileMode::Append => AccessFs::WriteFile | AccessFs::MakeReg | AccessFs::MakeDir,
        }
    }
}

/// Which sandbox layers to apply and how strictly.
#[derive(Clone, Debug, Default)]
pub struct SandboxOptions {
    /// When a layer is unavailable, skip it (and record it in [`Skipped`]) instead of failing.
    pub best_effort: bool,
    /// Ask the kernel to log denials to the audit log: seccomp filters are installed with
    /// `SECCOMP_FILTER_FLAG_LOG` (every `EPERM`/`ENOSYS` the filter returns is logged as an
    /// audit `SECCOMP` record, visible with `dmesg` or `ausearch`), and Landlock's domain is
    /// created with `LANDLOCK_RESTRICT_SELF_LOG_NEW_EXEC_ON` (denials after exec produce audit
    /// `LANDLOCK_DENY` records). Without it, denials are silent.
    pub log_denials: bool,
}

/// A sandbox layer that was skipped in best-effort mode.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Skipped {
    /// No user namespace; the reason is the `clone` error.
    UserNamespace(String),
    /// No namespaces at all (user namespaces unavailable and not root).
    Namespaces(String),
    /// Landlock unavailable or older than ABI 7; the value is the kernel's ABI (0: none).
    Landlock(u32),
    /// Landlock available but below ABI 6: signals and abstract sockets are not scoped.
    LandlockScopes(u32),
    /// Landlock below ABI 7: `--log-denials` cannot log Landlock denials.
    LandlockLogging(u32),
    /// `vm.memfd_noexec` cannot be set (the value is why): the program could execute a
    /// memfd it wrote.
    MemfdNoexec(String),
    /// A control group limit cannot be enforced (the value is why).
    Cgroup(String),
}

impl std::fmt::Display for Skipped {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Skipped::UserNamespace(e) => write!(f, "no user namespace ({e}); running as root"),
            Skipped::Namespaces(e) => write!(f, "no namespaces ({e})"),
            Skipped::Landlock(abi) => write!(f, "Landlock unavailable (kernel ABI {abi})"),
            Skipped::LandlockScopes(abi) => {
                write!(
                    f,
                    "Landlock ABI {abi}: signals and abstract sockets not scoped"
                )
            }
            Skipped::LandlockLogging(abi) => {
                write!(f, "Landlock ABI {abi}: Landlock denials not logged")
            }
            Skipped::Cgroup(e) => write!(f, "{e}"),
            Skipped::MemfdNoexec(e) => {
                write!(
                    f,
                    "vm.memfd_noexec not settable ({e}): memfds stay executable"
                )
            }
        }
    }
}

/// The Landlock ABI version the running kernel offers (0: Landlock unavailable). The
/// launcher needs 7; with 9, connecting to UNIX sockets inside read-only grants is denied too.
pub fn landlock_abi() -> u32 {
    sys::landlock_abi()
}

/// The Landlock part of the policy, created in the launcher.
pub(crate) struct LandlockPlan {
    pub(crate) ruleset: Option<OwnedFd>,
    pub(crate) flags: u32,
    /// Whether the kernel can scope signals (ABI 6), so that the program gets a nested domain
    /// of its own that keeps it from signalling its init.
    pub(crate) scope_program: bool,
}

const LOG_SAME_EXEC_OFF: u32 = 1 << 0;
const LOG_NEW_EXEC_ON: u32 = 1 << 1;

/// Builds the Landlock ruleset: `dirs` are the granted directories with their modes, `program`
/// is the executable (it gets execute and read), `exposed` the file a runner loads (read
/// only; see `Launch::runner`).
pub(crate) fn landlock_plan(
    dirs: &[(BorrowedFd<'_>, FileMode)],
    program: BorrowedFd<'_>,
    exposed: Option<BorrowedFd<'_>>,
    opts: &SandboxOptions,
    skipped: &mut Vec<Skipped>,
) -> Result<LandlockPlan, SandboxError> {
    let abi = sys::landlock_abi();
    let level = if opts.best_effort {
        CompatLevel::BestEffort
    } else {
        CompatLevel::HardRequirement
    };
    if abi < 7 {
        if !opts.best_effort {
            return Err(SandboxError::LandlockAbi(abi));
        }
        if abi == 0 {
            skipped.push(Skipped::Landlock(0));
            return Ok(LandlockPlan {
                ruleset: None,
                flags: 0,
                scope_program: false,
            });
        }
        if abi < 6 {
            skipped.push(Skipped::LandlockScopes(abi));
        }
        if opts.log_denials {
            skipped.push(Skipped::LandlockLogging(abi));
        }
    }
    let target = ABI::V7;
    let mut ruleset = Ruleset::default()
        .set_compatibility(level)
        .handle_access(AccessFs::from_all(target))?
        .handle_access(AccessNet::BindTcp | AccessNet::ConnectTcp)?
        .scope(Scope::from_all(target))?
        // Newer than what the launcher requires: where the kernel has it (ABI 9), connecting
        // to a UNIX socket inside a read-only grant is denied too. Everything above is
        // already in the ruleset, so best effort here weakens nothing else; the rules below
        // only lose `resolve_unix` on older kernels.
        .set_compatibility(CompatLevel::BestEffort)
        .handle_access(AccessFs::ResolveUnix)?
        .create()?;
    for (fd, mode) in dirs {
        ruleset = ruleset.add_rule(PathBeneath::new(*fd, mode.dir_access()))?;
    }
    ruleset = ruleset.add_rule(PathBeneath::new(
        program,
        AccessFs::Execute | AccessFs::ReadFile,
    ))?;
    if let Some(file) = exposed {
        ruleset = ruleset.add_rule(PathBeneath::new(file, AccessFs::ReadFile))?;
    }
    let fd: Option<OwnedFd> = ruleset.into();
    let flags = if abi >= 7 {
        if opts.log_denials {
            LOG_NEW_EXEC_ON
        } else {
            LOG_SAME_EXEC_OFF
        }
    } else {
        0
    };
    let scope_program = fd.is_some() && abi >= 6;
    Ok(LandlockPlan {
        ruleset: fd,
        flags,
        scope_program,
    })
}

/// One group of denied system calls and the errno they fail with.
#[derive(Clone, Debug)]
pub struct DeniedGroup {
    /// Errno returned (`EPERM`, `ENOSYS`, ...).
    pub errno: i32,
    /// `(syscall number, name)`; calls listed here are denied whatever their arguments.
    pub always: Vec<(i64, &'static str)>,
}

/// System calls the seccomp filter denies outright, by errno.
///
/// Besides these, the filter denies, with `EPERM`: `socket`/`socketpair` for every family but
/// `AF_UNIX`; `clone` with any `CLONE_NEW*` flag; `ioctl` `TIOCSTI` and `TIOCLINUX`;
/// `personality` except the read-only query `personality(0xffffffff)`; `sendto`, `sendmsg`
/// and `sendmmsg` with `MSG_FASTOPEN`; `prlimit64` on any process but the caller (pid 0). A separate filter
/// returns `ENOSYS` for every x32 system call (numbers with bit 30 set), which would otherwise
/// bypass rules keyed by the x86-64 numbers.
pub fn denied_syscalls() -> Vec<DeniedGroup> {
    macro_rules! list {
        ($($name:ident),* $(,)?) => {
            vec![$((libc::$name as i64, &stringify!($name)[4..])),*]
        };
    }
    let mut eperm = list![
        SYS_ptrace,
        SYS_process_vm_readv,
        SYS_process_vm_writev,
        SYS_pidfd_getfd,
        SYS_kcmp,
        SYS_process_madvise,
        SYS_process_mrelease,
        SYS_mount,
        SYS_umount2,
        SYS_pivot_root,
        SYS_chroot,
        SYS_move_mount,
        SYS_open_tree,
        SYS_fsopen,
        SYS_fsconfig,
        SYS_fsmount,
        SYS_fspick,
        SYS_mount_setattr,
        SYS_unshare,
        SYS_setns,
        SYS_bpf,
        SYS_perf_event_open,
        SYS_userfaultfd,
        SYS_keyctl,
        SYS_add_key,
        SYS_request_key,
        SYS_io_uring_setup,
        SYS_io_uring_enter,
        SYS_io_uring_register,
        SYS_kexec_load,
        SYS_kexec_file_load,
        SYS_init_module,
        SYS_finit_module,
        SYS_delete_module,
        SYS_reboot,
        SYS_swapon,
        SYS_swapoff,
        SYS_acct,
        SYS_quotactl,
        SYS_quotactl_fd,
        SYS_syslog,
        SYS_vhangup,
        SYS_settimeofday,
        SYS_clock_settime,
        SYS_clock_adjtime,
        SYS_adjtimex,
        SYS_sethostname,
        SYS_setdomainname,
        SYS_iopl,
        SYS_ioperm,
        SYS_modify_ldt,
        SYS_uselib,
        SYS_ustat,
        SYS_sysfs,
        SYS_open_by_handle_at,
        SYS_name_to_handle_at,
        SYS_fanotify_init,
        SYS_lookup_dcookie,
        SYS_nfsservctl,
        // CloudABI has no permissions, owners or extended attributes.
        SYS_chmod,
        SYS_fchmod,
        SYS_fchmodat,
        SYS_fchmodat2,
        SYS_chown,
        SYS_fchown,
        SYS_lchown,
        SYS_fchownat,
        SYS_setxattr,
        SYS_lsetxattr,
        SYS_fsetxattr,
        SYS_removexattr,
        SYS_lremovexattr,
        SYS_fremovexattr,
    ];
    // Linux 6.13's *xattrat calls (not yet in the libc crate).
    eperm.extend([(463, "setxattrat"), (466, "removexattrat")]);
    let mut enotsup = list![
        SYS_getxattr,
        SYS_lgetxattr,
        SYS_fgetxattr,
        SYS_listxattr,
        SYS_llistxattr,
        SYS_flistxattr,
    ];
    enotsup.extend([(464, "getxattrat"), (465, "listxattrat")]);
    let enosys = list![SYS_clone3];
    vec![
        DeniedGroup {
            errno: libc::EPERM,
            always: eperm,
        },
        DeniedGroup {
            errno: libc::EOPNOTSUPP,
            always: enotsup,
        },
        DeniedGroup {
            errno: libc::ENOSYS,
            always: enosys,
        },
    ]
}

type Backend<T> = Result<T, seccompiler::BackendError>;

fn cond(arg: u8, len: SeccompCmpArgLen, op: SeccompCmpOp, value: u64) -> Backend<SeccompCondition> {
    SeccompCondition::new(arg, len, op, value)
}

fn rule(conds: Backend<SeccompCondition>) -> Backend<SeccompRule> {
    SeccompRule::new(vec![conds?])
}

/// Compiles the seccomp filters (kernel format), in installation order.
pub(crate) fn seccomp_programs() -> Result<Vec<Vec<libc::sock_filter>>, SandboxError> {
    let arch = TargetArch::x86_64;
    let mut programs = Vec::new();
    for group in denied_syscalls() {
        let mut rules: BTreeMap<i64, Vec<SeccompRule>> = BTreeMap::new();
        for (nr, _) in &group.always {
            rules.insert(*nr, Vec::new());
        }
        if group.errno == libc::EPERM {
            use SeccompCmpArgLen::{Dword, Qword};
            let not_unix =
                || rule(cond(0, Dword, SeccompCmpOp::Ne, libc::AF_UNIX as u64)).map(|r| vec![r]);
            rules.insert(libc::SYS_socket, not_unix()?);
            rules.insert(libc::SYS_socketpair, not_unix()?);
            let ns_flags = [
                libc::CLONE_NEWNS,
                libc::CLONE_NEWUTS,
                libc::CLONE_NEWIPC,
                libc::CLONE_NEWUSER,
                libc::CLONE_NEWPID,
                libc::CLONE_NEWNET,
                libc::CLONE_NEWCGROUP,
                libc::CLONE_NEWTIME,
            ];
            rules.insert(
                libc::SYS_clone,
                ns_flags
                    .iter()
                    .map(|&f| rule(cond(0, Qword, SeccompCmpOp::MaskedEq(f as u64), f as u64)))
                    .collect::<Backend<_>>()?,
            );
            rules.insert(
                libc::SYS_ioctl,
                [libc::TIOCSTI, libc::TIOCLINUX]
                    .iter()
                    .map(|&req| rule(cond(1, Dword, SeccompCmpOp::Eq, req)))
                    .collect::<Backend<_>>()?,
            );
            rules.insert(
                libc::SYS_personality,
                vec![rule(cond(0, Dword, SeccompCmpOp::Ne, 0xffff_ffff))?],
            );
            // TCP fast open connects inside sendto/sendmsg, past the connect hook Landlock
            // checks: a granted connection, disconnected with connect(AF_UNSPEC), could
            // otherwise reach any address.
            let fastopen = libc::MSG_FASTOPEN as u64;
            let fastopen_in =
                |arg| rule(cond(arg, Dword, SeccompCmpOp::MaskedEq(fastopen), fastopen));
            rules.insert(libc::SYS_sendto, vec![fastopen_in(3)?]);
            rules.insert(libc::SYS_sendmsg, vec![fastopen_in(2)?]);
            rules.insert(libc::SYS_sendmmsg, vec![fastopen_in(3)?]);
            // Resource limits of the program itself only (pid 0), never of its init.
            rules.insert(
                libc::SYS_prlimit64,
                vec![rule(cond(0, Dword, SeccompCmpOp::Ne, 0))?],
            );
        }
        let filter = SeccompFilter::new(
            rules,
            SeccompAction::Allow,
            SeccompAction::Errno(group.errno as u32),
            arch,
        )?;
        let prog: seccompiler::BpfProgram = filter.try_into()?;
        programs.push(sys::to_kernel_filter(&prog));
    }
    programs.push(x32_filter());
    Ok(programs)
}

/// A filter returning `ENOSYS` for x32 system calls (bit 30 of the number set).
fn x32_filter() -> Vec<libc::sock_filter> {
    const LD_W_ABS: u16 = (libc::BPF_LD | libc::BPF_W | libc::BPF_ABS) as u16;
    const JGE_K: u16 = (libc::BPF_JMP | libc::BPF_JGE | libc::BPF_K) as u16;
    const RET_K: u16 = (libc::BPF_RET | libc::BPF_K) as u16;
    let stmt = |code, k| libc::sock_filter {
        code,
        jt: 0,
        jf: 0,
        k,
    };
    vec![
        // seccomp_data.nr is at offset 0.
        stmt(LD_W_ABS, 0),
        libc::sock_filter {
            code: JGE_K,
            jt: 0,
            jf: 1,
            k: 0x4000_0000,
        },
        stmt(RET_K, libc::SECCOMP_RET_ERRNO | libc::ENOSYS as u32),
        stmt(RET_K, libc::SECCOMP_RET_ALLOW),
    ]
}

/// `seccomp(SECCOMP_SET_MODE_FILTER)` flags for these options.
pub(crate) fn seccomp_flags(opts: &SandboxOptions) -> u32 {
    if opts.log_denials {
        libc::SECCOMP_FILTER_FLAG_LOG as u32
    } else {
        0
    }
}
