//! [`EmulatorHost`]: the emulator's own [`Host`], which the system calls `proc_exec`,
//! `thread_create` and `thread_exit` reach through the installed
//! [`Process`](crate::syscalls::Process). It sits above the system calls: it uses the
//! loader ([`crate::program`]) and thread start ([`crate::threads`]), which in turn use
//! the system calls' state, never the other way round.

#![forbid(unsafe_code)]

use std::convert::Infallible;
use std::io;
use std::os::fd::OwnedFd;

use crate::error::Error;
use crate::syscalls::{ExecError, Host};
use crate::{lifecycle, loader, program, threads};

/// The loader and thread hooks the system calls use for `proc_exec` and `thread_create`.
#[derive(Debug)]
pub(crate) struct EmulatorHost;

/// The one instance, given to the process by [`Emulator::exec`](crate::Emulator::exec).
pub(crate) static EMULATOR_HOST: EmulatorHost = EmulatorHost;

impl Host for EmulatorHost {
    fn exec(&self, executable: OwnedFd, data: Vec<u8>) -> Result<Infallible, ExecError> {
        let file = loader::read_executable(&executable)?;
        drop(executable);
        match program::replace(file, data) {
            // Kept typed: `proc_exec` owes the guest `ENOEXEC` for these.
            Err(Error::Elf(e)) => Err(ExecError::NotExecutable(e)),
            Err(Error::Read(e) | Error::Load(e) | Error::Descriptors(e) | Error::Process(e)) => {
                Err(ExecError::Io(e))
            }
            Err(e @ Error::NoSuchDescriptor { .. }) => Err(ExecError::Io(io::Error::other(e))),
        }
    }

    fn spawn_thread(
        &self,
        entry: u64,
        stack: u64,
        stack_len: u64,
        argument: u64,
    ) -> io::Result<u32> {
        threads::spawn(entry, stack, stack_len, argument)
    }

    fn exit_thread(&self) -> ! {
        match lifecycle::current() {
            Some(thread) => thread.exit(),
            None => lifecycle::exit_host_thread(),
        }
    }
}
