//! `exec` for CloudABI: replaces itself with another CloudABI executable through
//! `proc_exec`, handing it the argdata `[!fd 0]` and one descriptor, `out`.
//!
//! Argdata: `{program: FD, out: FD}`; with `program` = `hello` the output is
//! `Hello, fd 0!` written by the new program. Exit status 1 if `proc_exec` fails.
#![no_std]
#![no_main]

use argdata::{Argdata, Fd, Value};

/// Why the program failed (its exit status is 1 then).
#[derive(Debug)]
enum Error {
    Argdata,
    Exec,
}

impl From<argdata::Error> for Error {
    fn from(_: argdata::Error) -> Error {
        Error::Argdata
    }
}

fn program_main(ad: Argdata<'_>) -> Result<(), Error> {
    let field = |key| {
        ad.get(key)?
            .ok_or(Error::Argdata)?
            .as_fd(&program::fds())
            .map_err(Error::from)
    };
    let (program, out) = (field("program")?, field("out")?);
    // The new program's argdata: a sequence holding its descriptor 0, which is `out`.
    let encoded = Value::seq([Value::from(Fd(0))]).encode();
    let _ = program::cloudabi::sys::proc_exec(program, &encoded.bytes, &[out]);
    Err(Error::Exec)
}

program::main!(program_main);
