//! `reexec` for CloudABI: replaces itself with itself through `proc_exec` `left` times,
//! counting down in its argdata, and stops every `every` rounds until the host lets it go
//! on (the lifecycle test of `cloudabi-emulator` counts the emulator's mappings then:
//! nothing of a replaced program may stay mapped).
//!
//! Argdata: `{self: FD, out: FD, in: FD, left: INT, every: INT}`, where `self` is this
//! executable. Each round allocates (the argdata it encodes, plus a block of its own) so
//! that every program has a heap. When `left` is a multiple of `every` it writes
//! `left N\n` to `out` and reads one byte from `in`; at 0 it writes `done` and exits 0.
#![no_std]
#![no_main]

extern crate alloc;

use alloc::vec;
use core::fmt::Write;

use argdata::{Argdata, Fd, Value};
use program::cloudabi::FdWriter;
use program::cloudabi::sys;
use program::cloudabi::{Error, required};

fn program_main(ad: Argdata<'_>) -> Result<(), Error> {
    let fd = |key: &'static str| {
        required(ad, key)?
            .as_fd(&program::fds())
            .map_err(Error::from)
    };
    let int = |key: &'static str| -> Result<u64, Error> { Ok(required(ad, key)?.as_int()?) };
    let (me, out, input) = (fd("self")?, fd("out")?, fd("in")?);
    let (left, every) = (int("left")?, int("every")?.max(1));
    // Some heap of this round's own, touched so that it is really there.
    let block = vec![1u8; 100 << 10];
    if left % every == 0 {
        writeln!(FdWriter(out), "left {left}")?;
        let mut ack = [0u8; 1];
        if sys::fd_read(input, &mut ack)? != 1 {
            return Err(Error::Failed("no acknowledgement"));
        }
    }
    if left == 0 {
        writeln!(FdWriter(out), "done {}", block.len())?;
        return Ok(());
    }
    let next = Value::map([
        ("self", Value::from(Fd(0))),
        ("out", Value::from(Fd(1))),
        ("in", Value::from(Fd(2))),
        ("left", Value::from(left - 1)),
        ("every", Value::from(every)),
    ])
    .encode();
    Err(Error::Sys(sys::proc_exec(
        me,
        &next.bytes,
        &[me, out, input],
    )))
}

program::main!(program_main);
