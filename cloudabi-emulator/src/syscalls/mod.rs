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

use cloudabi_types::{Errno, SyscallNumber};

mod args;
mod clock;
mod condvars;
mod errno;
mod fd;
mod fdtable;
mod file;
mod host;
mod mem;
mod memory;
mod poll;
mod proc;
mod process;
mod signal;
mod sock;
mod sync;

pub use host::{ExecError, Host};
pub use proc::release_retired_descriptors;
pub use process::Process;
pub(crate) use process::wake_sleepers;

/// Forgets the old program's condition variable waiters and unmaps the memory it
/// mapped with `mem_map`; `proc_exec` calls this once the old program's threads are gone
/// and the new program is loaded.
pub(crate) fn release_old_program() {
    if let Some(process) = process::PROCESS.get() {
        process.condvars.clear();
    }
    memory::release_guest_mappings();
}

impl Process {
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
    let errno = match (process::PROCESS.get(), u32::try_from(number)) {
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
