//! The steps of the child's setup, as reported to the launcher when one fails.

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
    pub(super) fn from_u32(v: u32) -> Option<Stage> {
        use Stage::*;
        const ALL: [Stage; 21] = [
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
