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

use std::collections::BTreeMap;
use std::collections::btree_map::Entry;
use std::fs::File;
use std::io::Write;

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
    // Each granted descriptor is taken over once (checking that it is a file, pipe or
    // device) and greeted as often as it is listed.
    let mut files: BTreeMap<i32, File> = BTreeMap::new();
    for out in outputs.seq()? {
        let fd = out?.as_fd(&program::fds())?;
        let file = match files.entry(fd) {
            Entry::Occupied(e) => e.into_mut(),
            Entry::Vacant(e) => e.insert(program::cap::claim(argdata::Fd(fd))?),
        };
        writeln!(file, "{greeting}, fd {fd}!")?;
    }
    Ok(())
}

program::main!(program_main);
