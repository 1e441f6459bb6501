//! `hello` for CloudABI: writes a greeting to every descriptor in a sequence.
//!
//! Argdata: a sequence of descriptors, or a map `{greeting: STR, out: [FD, ...]}`, as the
//! Linux `examples/rust/hello.rs`.
#![no_std]
#![no_main]

use core::fmt::Write;

use argdata::{Argdata, Type};
use program::cloudabi::FdWriter;

/// Why the program failed (its exit status is 1 then).
#[derive(Debug)]
enum Error {
    Argdata,
    MissingOut,
    Write,
}

impl From<argdata::Error> for Error {
    fn from(_: argdata::Error) -> Error {
        Error::Argdata
    }
}

fn program_main(ad: Argdata<'_>) -> Result<(), Error> {
    let (greeting, outputs) = if ad.ty()? == Type::Map {
        let greeting = match ad.get("greeting")? {
            Some(g) => g.as_str()?,
            None => "Hello",
        };
        (greeting, ad.get("out")?.ok_or(Error::MissingOut)?)
    } else {
        ("Hello", ad)
    };
    for out in outputs.seq()? {
        let fd = out?.as_fd(&program::fds())?;
        writeln!(FdWriter(fd), "{greeting}, fd {fd}!").map_err(|_| Error::Write)?;
    }
    Ok(())
}

program::main!(program_main);
