//! [`Host`]: what the system calls need from the embedding emulator (loading a program,
//! starting a thread), and [`ExecError`], how loading fails.

#![forbid(unsafe_code)]

use cloudabi_types::Errno;
use std::os::fd::OwnedFd;

use super::errno;

/// How `proc_exec` and `thread_create` reach the loader and the TLS code of the embedding
/// emulator. Given to a process with [`Process::set_host`](super::Process::set_host); without one, both calls fail
/// with `ENOSYS`.
///
/// The system calls only know this trait, never its implementation: the emulator's
/// loader implements it on top of them, so the code depends one way (loader, then system
/// calls, then the process and thread state).
pub trait Host: Send + Sync + 'static {
    /// Replaces the running guest with the executable `executable` and argument data
    /// `data`; the descriptor table has already been renumbered. Returns only on failure.
    fn exec(
        &self,
        executable: OwnedFd,
        data: Vec<u8>,
    ) -> Result<std::convert::Infallible, ExecError>;

    /// Starts guest code `entry(tid, argument)` on a new host thread with the guest's own
    /// stack (`stack`, `stack_len` bytes) and a fresh TLS word; returns the new thread's
    /// ID, which must be its Linux thread ID (`gettid`).
    fn spawn_thread(
        &self,
        entry: u64,
        stack: u64,
        stack_len: u64,
        argument: u64,
    ) -> std::io::Result<u32>;

    /// Ends the calling guest thread (after `thread_exit` released its lock). The default
    /// ends the host thread at once with the raw `exit` system call, leaking whatever the
    /// thread library allocated for it; an embedder that can unwind to its own thread
    /// start should do so instead. (Threads started by this crate's own loader do not
    /// come here: they go back to their host thread's start routine, and `thread_exit`
    /// releases their lock only once they have left the guest's stack.)
    fn exit_thread(&self) -> ! {
        crate::lifecycle::exit_host_thread()
    }
}

/// Why [`Host::exec`] could not start the new program (the old one goes on running);
/// [`ExecError::errno`] is what `proc_exec` returns to the guest.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ExecError {
    /// The file is not a CloudABI executable this host can run: `ENOEXEC`, as a kernel's
    /// `exec` answers for an image it does not recognise.
    #[error(transparent)]
    NotExecutable(#[from] crate::elf::ElfError),
    /// Reading or loading the file failed: its Linux errno, translated (`EIO` when the
    /// error carries none).
    #[error(transparent)]
    Io(#[from] std::io::Error),
}

impl ExecError {
    /// The CloudABI errno `proc_exec` reports for this error.
    #[must_use]
    pub fn errno(&self) -> Errno {
        match self {
            ExecError::NotExecutable(_) => Errno::NOEXEC,
            ExecError::Io(e) => errno::from_io(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exec_errors_keep_their_errno() {
        let not_elf = ExecError::from(crate::elf::ElfError::NotElf);
        assert_eq!(not_elf.errno(), Errno::NOEXEC);
        assert_eq!(
            ExecError::from(crate::elf::ElfError::NotCloudAbi(0)).errno(),
            Errno::NOEXEC
        );
        let enomem = ExecError::from(std::io::Error::from_raw_os_error(libc::ENOMEM));
        assert_eq!(enomem.errno(), Errno::NOMEM);
        assert_eq!(
            ExecError::from(std::io::Error::other("no errno")).errno(),
            Errno::IO
        );
    }
}
