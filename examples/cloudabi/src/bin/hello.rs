//! `hello` for CloudABI: writes a greeting to every descriptor in a sequence.
//!
//! Argdata: a sequence of descriptors, or a map `{greeting: STR, out: [FD, ...]}`, as the
//! Linux `examples/rust/hello.rs`.
#![no_std]
#![no_main]

use core::fmt::Write;

use argdata::{Argdata, Type};
use program::cloudabi::{Error, FdWriter, required};

fn program_main(ad: Argdata<'_>) -> Result<(), Error> {
    let (greeting, outputs) = if ad.ty()? == Type::Map {
        let greeting = match ad.get("greeting")? {
            Some(g) => g.as_str()?,
            None => "Hello",
        };
        (greeting, required(ad, "out")?)
    } else {
        ("Hello", ad)
    };
    for out in outputs.seq()? {
        let fd = out?.as_fd(&program::fds())?;
        writeln!(FdWriter(fd), "{greeting}, fd {fd}!")?;
    }
    Ok(())
}

program::main!(program_main);
