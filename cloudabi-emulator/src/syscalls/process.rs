//! [`Process`]: the state of one emulated process (descriptor table, condition variable
//! waiters, [`Host`]), and the one installed process that [`dispatch`](super::dispatch)
//! runs system calls against.

#![forbid(unsafe_code)]

use std::os::fd::OwnedFd;
use std::sync::{Mutex, MutexGuard, OnceLock, PoisonError};

use cloudabi_types::{Errno, Rights};

use super::condvars::CondvarTable;
use super::fdtable::{self, Entry};
use super::host::Host;
use crate::grant::GrantMode;

/// The state of one emulated process: its descriptor table, the kernel side of its
/// condition variables and the [`Host`] that loads programs and starts threads for it.
#[derive(Default)]
pub struct Process {
    pub(super) fds: fdtable::FdTable,
    pub(super) condvars: CondvarTable,
    host: OnceLock<&'static dyn Host>,
    /// The descriptor table of the program a `proc_exec` in progress is replacing: kept
    /// aside so a failed exec can give it back, closed once the new program is loaded.
    retired: Mutex<Option<Vec<Option<Entry>>>>,
}

impl std::fmt::Debug for Process {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Process")
            .field("fds", &self.fds)
            .field("condvars", &self.condvars)
            .field("host", &self.host.get().is_some())
            .field("retired", &self.retired().as_ref().map(Vec::len))
            .finish()
    }
}

/// Wakes the threads asleep on a guest condition variable so they notice a pending exit.
pub(crate) fn wake_sleepers() {
    if let Some(process) = PROCESS.get() {
        process.condvars.wake_all();
    }
}

/// Closes the descriptors that a `proc_exec` in progress in the installed process (see
/// [`Process::install`]) did not keep; returns how many table slots it released (0 when
/// no process is installed or no exec is in progress). The loader calls this once the new
/// program is loaded and nothing can fail any more, right before entering it.
pub fn release_retired_descriptors() -> usize {
    PROCESS
        .get()
        .map_or(0, Process::release_retired_descriptors)
}

/// The process [`dispatch`](super::dispatch) runs system calls against (see [`Process::install`]): the
/// one piece of global state, which the vDSO's entry point must find without arguments.
pub(super) static PROCESS: OnceLock<Process> = OnceLock::new();

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
    pub(super) fn host(&self) -> Option<&'static dyn Host> {
        self.host.get().copied()
    }

    /// The table a `proc_exec` in progress retired (a poisoned lock is taken over: the
    /// slot only ever holds a whole table or nothing).
    pub(super) fn retired(&self) -> MutexGuard<'_, Option<Vec<Option<Entry>>>> {
        self.retired.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Closes the descriptors that a `proc_exec` in progress in this process did not
    /// keep; returns how many table slots it released (0 when no exec is in progress).
    /// See [`release_retired_descriptors`] for the installed process.
    pub fn release_retired_descriptors(&self) -> usize {
        self.retired().take().map_or(0, |old| old.len())
    }

    /// Makes this the process-global state that [`dispatch`](super::dispatch) uses. If a process was
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
}

#[cfg(test)]
mod tests {
    use std::convert::Infallible;
    use std::os::fd::OwnedFd;

    use cloudabi_types::{Errno, SyscallNumber};

    use super::super::host::ExecError;
    use super::*;

    /// The process the recording host belongs to (never installed).
    static OWN: OnceLock<Process> = OnceLock::new();
    /// What the host saw at its point of no return: the slots its own process released,
    /// and those the installed process released.
    static SEEN: Mutex<Vec<(usize, usize)>> = Mutex::new(Vec::new());

    struct Recorder;

    impl Host for Recorder {
        fn exec(&self, _: OwnedFd, _: Vec<u8>) -> Result<Infallible, ExecError> {
            let own = OWN
                .get()
                .map_or(usize::MAX, Process::release_retired_descriptors);
            let installed = release_retired_descriptors();
            SEEN.lock().unwrap().push((own, installed));
            Err(std::io::Error::from_raw_os_error(libc::ENOEXEC).into())
        }

        fn spawn_thread(&self, _: u64, _: u64, _: u64, _: u64) -> std::io::Result<u32> {
            Err(std::io::Error::from_raw_os_error(libc::EAGAIN))
        }
    }

    static HOST: Recorder = Recorder;

    #[test]
    fn an_exec_retires_the_table_into_its_own_process() {
        let files = (0..2)
            .map(|_| tempfile::tempfile().map(OwnedFd::from))
            .collect::<Result<Vec<_>, _>>()
            .unwrap();
        let process = OWN.get_or_init(|| Process::new(files).unwrap());
        process.set_host(&HOST);
        // proc_exec(fd 0, no data, keep no descriptors).
        let err = process.call(SyscallNumber::PROC_EXEC, [0; 7]);
        assert_eq!(err, Errno::NOEXEC);
        // The two slots were this process's to release; no other (installed) process
        // had anything retired.
        assert_eq!(*SEEN.lock().unwrap(), [(2, 0)]);
        assert_eq!(process.release_retired_descriptors(), 0);
    }
}
