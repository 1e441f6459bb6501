//! The CloudABI system calls, implemented on Linux.
//!
//! Every `cloudabi_sys_*` entry point of the emulator's vDSO ends up in [`dispatch`] with
//! the call's C arguments and its number (the index in [`cloudabi_types::SYSCALLS`]).
//! `dispatch` finds the process state installed by [`Process::install`] and runs the
//! handler, which returns a CloudABI [`Errno`].
//!
//! The guest runs in the emulator's own address space, so guest pointers are host
//! pointers; handlers only touch guest memory through the checked helpers in `mem`.
//! Descriptor numbers the guest sees index a table of host descriptors, each with
//! CloudABI base and inheriting rights ([`cloudabi_types::Rights`]); an operation the
//! rights do not allow fails with `ENOTCAPABLE`, and paths are resolved strictly beneath
//! directory descriptors (by `cloudabi_caps::resolve`), so absolute paths and `..` escapes
//! fail with `ENOTCAPABLE` too. The conformance table is in `docs/syscalls.md`.
//!
//! A [`Process`] can also be used directly, without installing it, through
//! [`Process::call`]:
//!
//! ```
//! use cloudabi_emulator::syscalls::Process;
//! use cloudabi_types::{Errno, SyscallNumber};
//!
//! let process = Process::new(Vec::new()).unwrap();
//! let mut now = 0u64;
//! let err = process.call(
//!     SyscallNumber::CLOCK_TIME_GET,
//!     [1, 0, &mut now as *mut u64 as u64, 0, 0, 0, 0],
//! );
//! assert_eq!(err, Errno::SUCCESS);
//! assert!(now > 0);
//! // Descriptor 0 does not exist in an empty table.
//! let err = process.call(SyscallNumber::FD_CLOSE, [0; 7]);
//! assert_eq!(err, Errno::BADF);
//! ```

use std::os::fd::OwnedFd;
use std::sync::OnceLock;

use cloudabi_types::{Errno, Rights, SyscallNumber};

use crate::grant::GrantMode;

mod args;
mod clock;
mod errno;
mod fd;
mod fdtable;
mod file;
mod mem;
mod memory;
mod poll;
mod proc;
mod sock;
mod sync;

/// The state of one emulated process: its descriptor table, the kernel side of its
/// condition variables and the [`Host`] that loads programs and starts threads for it.
#[derive(Default)]
pub struct Process {
    fds: fdtable::FdTable,
    condvars: sync::CondvarTable,
    host: OnceLock<&'static dyn Host>,
}

impl std::fmt::Debug for Process {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Process")
            .field("fds", &self.fds)
            .field("condvars", &self.condvars)
            .field("host", &self.host.get().is_some())
            .finish()
    }
}

/// How `proc_exec` and `thread_create` reach the loader and the TLS code of the embedding
/// emulator. Given to a process with [`Process::set_host`]; without one, both calls fail
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

pub use proc::release_retired_descriptors;

/// Wakes the threads asleep on a guest condition variable so they notice a pending exit.
pub(crate) fn wake_sleepers() {
    if let Some(process) = PROCESS.get() {
        process.condvars.wake_all();
    }
}

/// Forgets the old program's condition variable waiters and unmaps the memory it
/// mapped with `mem_map`; `proc_exec` calls this once the old program's threads are gone
/// and the new program is loaded.
pub(crate) fn release_old_program() {
    if let Some(process) = PROCESS.get() {
        process.condvars.clear();
    }
    memory::release_guest_mappings();
}

/// The process [`dispatch`] runs system calls against (see [`Process::install`]): the
/// one piece of global state, which the vDSO's entry point must find without arguments.
static PROCESS: OnceLock<Process> = OnceLock::new();

impl Process {
    /// Creates the state of a process whose descriptor `i` is `fds[i]`, each with the most
    /// rights its type and open mode allow: directories get every directory right and may
    /// hand out directory, file and stream rights; files lose writing rights when opened
    /// read-only, reading rights when write-only and positioning rights when appending;
    /// sockets, pipes and terminals get plain I/O rights.
    ///
    /// # Errors
    ///
    /// The error of `fstat`/`fcntl` on a descriptor.
    pub fn new(fds: Vec<OwnedFd>) -> std::io::Result<Process> {
        let entries = fds
            .into_iter()
            .map(fdtable::entry_for)
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| std::io::Error::other(format!("classifying descriptor: {e}")))?;
        let process = Process::default();
        process.fds.reset(entries);
        Ok(process)
    }

    /// Lowers the rights of descriptor `fd` to what it holds *and* `base` (its own rights)
    /// and `inheriting` (the most that descriptors opened through it may get): the
    /// intersection, so this never adds a right. Embedders call it before [`install`]
    /// to give a descriptor fewer rights than its type and open mode allow.
    ///
    /// # Errors
    ///
    /// [`Errno::BADF`] when the process has no descriptor `fd`.
    ///
    /// ```
    /// use std::os::fd::OwnedFd;
    /// use cloudabi_emulator::syscalls::Process;
    /// use cloudabi_types::{Errno, Rights, SyscallNumber};
    ///
    /// let file = OwnedFd::from(std::fs::File::open("/dev/null")?);
    /// let process = Process::new(vec![file])?;
    /// process.limit_rights(0, Rights::FILE_STAT_FGET, Rights::empty())?;
    /// let mut n = 0usize;
    /// let iov = [0u64, 0];
    /// // Reading now needs a right the descriptor no longer has.
    /// let err = process.call(
    ///     SyscallNumber::FD_READ,
    ///     [0, iov.as_ptr() as u64, 1, &mut n as *mut usize as u64, 0, 0, 0],
    /// );
    /// assert_eq!(err, Errno::NOTCAPABLE);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    /// [`install`]: Process::install
    pub fn limit_rights(&self, fd: u32, base: Rights, inheriting: Rights) -> Result<(), Errno> {
        self.fds.limit(u64::from(fd), base, inheriting, false)
    }

    /// Limits descriptor `fd` to the rights of a directory granted with `mode`
    /// ([`GrantMode::directory_rights`]) if it is a directory; other descriptors are left
    /// as they are (a file's open mode already shows in its rights).
    ///
    /// # Errors
    ///
    /// [`Errno::BADF`] when the process has no descriptor `fd`.
    pub fn limit_to_grant(&self, fd: u32, mode: GrantMode) -> Result<(), Errno> {
        let (base, inheriting) = mode.directory_rights();
        self.fds.limit(u64::from(fd), base, inheriting, true)
    }

    /// Gives this process the [`Host`] that `proc_exec` and `thread_create` use (only
    /// the first call has an effect).
    pub fn set_host(&self, host: &'static dyn Host) {
        let _ = self.host.set(host);
    }

    /// The process's [`Host`], if it has one.
    fn host(&self) -> Option<&'static dyn Host> {
        self.host.get().copied()
    }

    /// Makes this the process-global state that [`dispatch`] uses. If a process was
    /// installed before, its descriptor table is replaced by this one's, and it takes
    /// this one's [`Host`] if it had none.
    pub fn install(self) {
        if let Err(process) = PROCESS.set(self)
            && let Some(current) = PROCESS.get()
        {
            let entries = core::mem::take(&mut *process.fds.write());
            let old = core::mem::replace(&mut *current.fds.write(), entries);
            drop(old);
            if let Some(host) = process.host() {
                current.set_host(host);
            }
        }
    }

    /// Runs system call `number` with its C arguments (see [`dispatch`]) against this
    /// process and returns the errno.
    pub fn call(&self, number: SyscallNumber, mut args: [u64; 7]) -> Errno {
        args::narrow(number, &mut args);
        let result = match number {
            SyscallNumber::CLOCK_RES_GET => clock::res_get(&args),
            SyscallNumber::CLOCK_TIME_GET => clock::time_get(&args),
            SyscallNumber::CONDVAR_SIGNAL => sync::condvar_signal(self, &args),
            SyscallNumber::FD_CLOSE => fd::close(self, &args),
            SyscallNumber::FD_CREATE1 => fd::create1(self, &args),
            SyscallNumber::FD_CREATE2 => fd::create2(self, &args),
            SyscallNumber::FD_DATASYNC => fd::datasync(self, &args),
            SyscallNumber::FD_DUP => fd::dup(self, &args),
            SyscallNumber::FD_PREAD => fd::pread(self, &args),
            SyscallNumber::FD_PWRITE => fd::pwrite(self, &args),
            SyscallNumber::FD_READ => fd::read(self, &args),
            SyscallNumber::FD_REPLACE => fd::replace(self, &args),
            SyscallNumber::FD_SEEK => fd::seek(self, &args),
            SyscallNumber::FD_STAT_GET => fd::stat_get(self, &args),
            SyscallNumber::FD_STAT_PUT => fd::stat_put(self, &args),
            SyscallNumber::FD_SYNC => fd::sync(self, &args),
            SyscallNumber::FD_WRITE => fd::write(self, &args),
            SyscallNumber::FILE_ADVISE => file::advise(self, &args),
            SyscallNumber::FILE_ALLOCATE => file::allocate(self, &args),
            SyscallNumber::FILE_CREATE => file::create(self, &args),
            SyscallNumber::FILE_LINK => file::link(self, &args),
            SyscallNumber::FILE_OPEN => file::open(self, &args),
            SyscallNumber::FILE_READDIR => file::readdir(self, &args),
            SyscallNumber::FILE_READLINK => file::readlink(self, &args),
            SyscallNumber::FILE_RENAME => file::rename(self, &args),
            SyscallNumber::FILE_STAT_FGET => file::stat_fget(self, &args),
            SyscallNumber::FILE_STAT_FPUT => file::stat_fput(self, &args),
            SyscallNumber::FILE_STAT_GET => file::stat_get(self, &args),
            SyscallNumber::FILE_STAT_PUT => file::stat_put(self, &args),
            SyscallNumber::FILE_SYMLINK => file::symlink(self, &args),
            SyscallNumber::FILE_UNLINK => file::unlink(self, &args),
            SyscallNumber::LOCK_UNLOCK => sync::lock_unlock(&args),
            SyscallNumber::MEM_ADVISE => memory::advise(&args),
            SyscallNumber::MEM_MAP => memory::map(self, &args),
            SyscallNumber::MEM_PROTECT => memory::protect(&args),
            SyscallNumber::MEM_SYNC => memory::sync(&args),
            SyscallNumber::MEM_UNMAP => memory::unmap(&args),
            SyscallNumber::POLL => poll::poll(self, &args),
            SyscallNumber::PROC_EXEC => proc::exec(self, &args),
            SyscallNumber::PROC_EXIT => proc::exit(&args),
            SyscallNumber::PROC_FORK => proc::fork(self, &args),
            SyscallNumber::PROC_RAISE => proc::raise(&args),
            SyscallNumber::RANDOM_GET => proc::random_get(&args),
            SyscallNumber::SOCK_RECV => sock::recv(self, &args),
            SyscallNumber::SOCK_SEND => sock::send(self, &args),
            SyscallNumber::SOCK_SHUTDOWN => sock::shutdown(self, &args),
            SyscallNumber::THREAD_CREATE => proc::thread_create(self, &args),
            SyscallNumber::THREAD_EXIT => proc::thread_exit(self, &args),
            SyscallNumber::THREAD_YIELD => proc::thread_yield(),
            _ => Err(Errno::NOSYS),
        };
        match result {
            Ok(()) => Errno::SUCCESS,
            Err(e) => e,
        }
    }
}

/// Runs syscall `number` (the alphabetical index, as [`cloudabi_types::SYSCALLS`]) with
/// its C arguments in order (pointer + length for a range count as two; unused slots
/// are 0) against the process installed with [`Process::install`]. Returns the CloudABI
/// errno (0 on success); `ENOSYS` when no process is installed or the number is unknown.
///
/// A `lookup` argument (a descriptor and lookup flags passed by value) takes one slot:
/// the descriptor in the low 32 bits, the flags in the high 32 bits.
#[allow(clippy::too_many_arguments)]
pub extern "C" fn dispatch(
    a0: u64,
    a1: u64,
    a2: u64,
    a3: u64,
    a4: u64,
    a5: u64,
    a6: u64,
    number: u64,
) -> u16 {
    let thread = crate::lifecycle::enter_emulator();
    let errno = match (PROCESS.get(), u32::try_from(number)) {
        (Some(process), Ok(number)) => {
            process
                .call(SyscallNumber(number), [a0, a1, a2, a3, a4, a5, a6])
                .0
        }
        _ => Errno::NOSYS.0,
    };
    // A thread that `proc_exec` on another thread ended leaves here.
    crate::lifecycle::leave_emulator(thread);
    errno
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
