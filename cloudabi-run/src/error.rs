//! Errors of the launcher: [`SandboxError`] (building the policy), inside
//! [`LaunchError`] (starting the program), whose [`Blame`] picks the exit status
//! (125: the launcher, 126: the program cannot run, 127: it is not there).
//!
//! ```
//! use cloudabi_run::error::{Blame, LaunchError, SandboxError};
//!
//! let e = LaunchError::from(SandboxError::LandlockAbi(0));
//! assert_eq!(
//!     e.to_string(),
//!     "Landlock ABI 7 required, kernel provides 0 (use best-effort mode to run anyway)"
//! );
//! assert_eq!(e.blame(), Blame::Launcher);
//!
//! let e = LaunchError::Program {
//!     path: "/no/such/program".into(),
//!     source: std::io::Error::from_raw_os_error(libc::ENOENT),
//! };
//! assert_eq!(e.blame(), Blame::ProgramNotFound);
//! ```

use std::os::fd::RawFd;

use crate::sys::Stage;

/// Building the sandbox policy failed.
#[derive(Debug, thiserror::Error)]
pub enum SandboxError {
    /// The kernel's Landlock ABI is older than 7 (0: Landlock disabled) and best-effort mode is
    /// off.
    #[error("Landlock ABI 7 required, kernel provides {0} (use best-effort mode to run anyway)")]
    LandlockAbi(u32),
    /// The Landlock ruleset could not be built.
    #[error("Landlock ruleset: {0}")]
    Landlock(#[from] landlock::RulesetError),
    /// The seccomp filter could not be compiled.
    #[error("seccomp filter: {0}")]
    Seccomp(#[from] seccompiler::BackendError),
    /// No user namespace could be created and the launcher is not root.
    #[error("cannot create namespaces: {0} (use best-effort mode to run anyway)")]
    Namespaces(std::io::Error),
    /// No directory to mount the empty root on.
    #[error("no directory among /tmp, /mnt, /run, /dev to mount the empty root on")]
    NoMountpoint,
    /// `/proc/sys/vm/memfd_noexec` is not writable (not root, a read-only `/proc/sys`, or a
    /// kernel before 6.3), so executable memfds cannot be refused.
    #[error(
        "cannot refuse executable memfds: /proc/sys/vm/memfd_noexec: {0} (run as root, or use best-effort mode to run anyway)"
    )]
    MemfdNoexec(std::io::Error),
}

/// Starting or waiting for the program failed.
#[derive(Debug, thiserror::Error)]
pub enum LaunchError {
    /// The program could not be opened.
    #[error("cannot open program {path}: {source}")]
    Program {
        /// The path as given.
        path: std::path::PathBuf,
        /// The error.
        source: std::io::Error,
    },
    /// An argument or environment string contains a NUL byte.
    #[error("argument or environment string contains a NUL byte")]
    NulByte,
    /// More descriptors than the kernel allows were granted, or a stdio slot was granted twice.
    #[error("invalid descriptor grants: {0}")]
    Grants(&'static str),
    /// A granted file or directory cannot be given a mount of its own in the sandbox.
    #[error("cannot give the file or directory granted as descriptor {fd} to the sandbox: {what}")]
    GrantPath {
        /// The number the program would see.
        fd: RawFd,
        /// Why.
        what: &'static str,
    },
    /// The sandbox policy could not be built.
    #[error(transparent)]
    Sandbox(#[from] SandboxError),
    /// A control group for a limit could not be set up.
    #[error(transparent)]
    Cgroup(#[from] crate::cgroup::CgroupError),
    /// A system call in the launcher failed.
    #[error("{what}: {source}")]
    Io {
        /// What the launcher was doing.
        what: &'static str,
        /// The error.
        source: std::io::Error,
    },
    /// The child failed while setting itself up; the program was not started.
    #[error("setup of the sandboxed process failed while {stage}: {source}")]
    Setup {
        /// The failing step (`None`: unknown code).
        stage: StageName,
        /// The error the kernel returned.
        source: std::io::Error,
    },
}

/// The failing setup step, printable.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StageName(pub Option<Stage>);

impl std::fmt::Display for StageName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.0 {
            Some(s) => s.fmt(f),
            None => f.write_str("an unknown step"),
        }
    }
}

/// Who a [`LaunchError`] is about, for the launcher's exit status (the container runtimes'
/// convention: 125, 126, 127).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Blame {
    /// The launcher or its sandbox failed.
    Launcher,
    /// The program (or the binary started for it) is not there.
    ProgramNotFound,
    /// The program is there but cannot be executed.
    ProgramNotRunnable,
}

impl LaunchError {
    /// Whether the error is about the program rather than the launcher.
    ///
    /// ```
    /// use cloudabi_run::error::{Blame, LaunchError, StageName};
    /// use cloudabi_run::Stage;
    ///
    /// let e = LaunchError::Setup {
    ///     stage: StageName(Some(Stage::Exec)),
    ///     source: std::io::Error::from_raw_os_error(libc::ENOEXEC),
    /// };
    /// assert_eq!(e.blame(), Blame::ProgramNotRunnable);
    /// ```
    pub fn blame(&self) -> Blame {
        let about_program = |e: &std::io::Error| match e.raw_os_error() {
            Some(libc::ENOENT | libc::ENOTDIR) => Blame::ProgramNotFound,
            _ => Blame::ProgramNotRunnable,
        };
        match self {
            LaunchError::Program { source, .. } => about_program(source),
            LaunchError::Setup {
                stage: StageName(Some(Stage::Exec)),
                source,
            } => about_program(source),
            _ => Blame::Launcher,
        }
    }

    pub(crate) fn io(what: &'static str) -> impl FnOnce(std::io::Error) -> LaunchError {
        move |source| LaunchError::Io { what, source }
    }
}
