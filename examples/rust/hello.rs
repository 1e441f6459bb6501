//! `hello`: writes a greeting to every descriptor in a sequence.
//!
//! Argdata: a sequence of descriptors, or a map `{greeting: STR, out: [FD, ...]}`.
//!
//! ```yaml
//! %TAG ! tag:nuxi.nl,2015:cloudabi/
//! ---
//! greeting: Hello
//! out: [!fd stdout, !fd stderr]
//! ```

use std::io::Write;
use std::os::fd::BorrowedFd;

use argdata::{Argdata, Type};

fn program_main(ad: Argdata<'_>) -> Result<(), Box<dyn std::error::Error>> {
    let (greeting, outputs) = if ad.ty()? == Type::Map {
        let greeting = match ad.get("greeting")? {
            Some(g) => g.as_str()?,
            None => "Hello",
        };
        (greeting, ad.get("out")?.ok_or("missing key \"out\"")?)
    } else {
        ("Hello", ad)
    };
    for out in outputs.seq()? {
        let fd = out?.as_fd(&program::fds())?;
        // SAFETY: the descriptor was granted to this program and stays open until exit;
        // it is only borrowed for this write.
        let fd = unsafe { BorrowedFd::borrow_raw(fd) };
        let mut file = std::fs::File::from(fd.try_clone_to_owned()?);
        writeln!(
            file,
            "{greeting}, fd {}!",
            std::os::fd::AsRawFd::as_raw_fd(&fd)
        )?;
    }
    Ok(())
}

program::main!(program_main);
