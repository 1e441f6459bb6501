//! `exec` for CloudABI: replaces itself with another CloudABI executable through
//! `proc_exec`, handing it the argdata `[!fd 0]` and one descriptor, `out`.
//!
//! Argdata: `{program: FD, out: FD}`; with `program` = `hello` the output is
//! `Hello, fd 0!` written by the new program. Exit status 1 if `proc_exec` fails.
#![no_std]
#![no_main]

use argdata::{Argdata, Fd, Value};
use program::cloudabi::{Error, required};

fn program_main(ad: Argdata<'_>) -> Result<(), Error> {
    let field = |key: &'static str| {
        required(ad, key)?
            .as_fd(&program::fds())
            .map_err(Error::from)
    };
    let (program, out) = (field("program")?, field("out")?);
    // The new program's argdata: a sequence holding its descriptor 0, which is `out`.
    let encoded = Value::seq([Value::from(Fd(0))]).encode();
    Err(Error::Sys(program::cloudabi::sys::proc_exec(
        program,
        &encoded.bytes,
        &[out],
    )))
}

program::main!(program_main);
