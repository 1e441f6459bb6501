//! `exec` for CloudABI: replaces itself with another CloudABI executable through
//! `proc_exec`, handing it the argdata `[!fd 0]` and one descriptor, `out`.
//!
//! Argdata: `{program: FD, out: FD}`; with `program` = `hello` the output is
//! `Hello, fd 0!` written by the new program. If `proc_exec` fails, `exec` writes
//! `proc_exec failed: errno N` (the CloudABI errno number) to `out` and exits with status 1.
#![no_std]
#![no_main]

use core::fmt::Write;

use argdata::{Argdata, Fd, Value};
use program::cloudabi::{Error, FdWriter, required};

fn program_main(ad: Argdata<'_>) -> Result<(), Error> {
    let field = |key: &'static str| {
        required(ad, key)?
            .as_fd(&program::fds())
            .map_err(Error::from)
    };
    let (program, out) = (field("program")?, field("out")?);
    // The new program's argdata: a sequence holding its descriptor 0, which is `out`.
    let encoded = Value::seq([Value::from(Fd(0))]).encode();
    let errno = program::cloudabi::sys::proc_exec(program, &encoded.bytes, &[out]);
    writeln!(FdWriter(out), "proc_exec failed: errno {}", errno.0)?;
    Err(Error::Sys(errno))
}

program::main!(program_main);
