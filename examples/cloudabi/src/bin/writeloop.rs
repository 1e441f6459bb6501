//! `writeloop` for CloudABI: writes one byte to `out` `count` times, one `fd_write` each
//! (the guest half of the system call benchmark, `cloudabi-emulator/benches/syscall.rs`).
//!
//! Argdata: `{out: FD, count: INT}`.
#![no_std]
#![no_main]

use argdata::Argdata;
use program::cloudabi::sys;
use program::cloudabi::{Error, required};

fn program_main(ad: Argdata<'_>) -> Result<(), Error> {
    let out = required(ad, "out")?.as_fd(&program::fds())?;
    let count: u64 = required(ad, "count")?.as_int()?;
    for _ in 0..count {
        if sys::fd_write(out, b"x")? != 1 {
            return Err(Error::Failed("short write"));
        }
    }
    Ok(())
}

program::main!(program_main);
