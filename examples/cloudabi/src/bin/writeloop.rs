//! `writeloop` for CloudABI: writes one byte to `out` `count` times, one `fd_write` each
//! (the guest half of the system call benchmark, `cloudabi-emulator/benches/syscall.rs`).
//!
//! Argdata: `{out: FD, count: INT}`.
#![no_std]
#![no_main]

use argdata::Argdata;
use program::cloudabi::sys::{self, Errno};

/// Why the program failed (its exit status is 1 then).
#[derive(Debug)]
enum Error {
    Argdata,
    Write,
}

impl From<argdata::Error> for Error {
    fn from(_: argdata::Error) -> Error {
        Error::Argdata
    }
}

impl From<Errno> for Error {
    fn from(_: Errno) -> Error {
        Error::Write
    }
}

fn program_main(ad: Argdata<'_>) -> Result<(), Error> {
    let out = ad
        .get("out")?
        .ok_or(Error::Argdata)?
        .as_fd(&program::fds())?;
    let count: u64 = ad.get("count")?.ok_or(Error::Argdata)?.as_int()?;
    for _ in 0..count {
        if sys::fd_write(out, b"x")? != 1 {
            return Err(Error::Write);
        }
    }
    Ok(())
}

program::main!(program_main);
