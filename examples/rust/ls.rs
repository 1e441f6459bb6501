//! `ls`: lists a directory given as a descriptor, read-only.
//!
//! Argdata: `{dir: FD, out: FD}`; `out` defaults to stdout.
//!
//! ```yaml
//! %TAG ! tag:nuxi.nl,2015:cloudabi/
//! ---
//! dir: !file {path: /etc}
//! out: !fd stdout
//! ```

use std::fs::File;
use std::io::Write;
use std::os::fd::{AsFd, OwnedFd};

use argdata::Argdata;
use cloudlibc_rs::capfs::{Dir, FileType, rights};

fn program_main(ad: Argdata<'_>) -> Result<(), Box<dyn std::error::Error>> {
    let dir = ad
        .get("dir")?
        .ok_or("missing key \"dir\"")?
        .as_fd(&program::fds())?;
    let out = match ad.get("out")? {
        Some(o) => o.as_fd(&program::fds())?,
        None => 1,
    };
    // Takes the granted descriptors over: each is owned by one value from here on.
    let dir: OwnedFd = program::cap::claim(argdata::Fd(dir))?;
    let mut out: File = program::cap::claim(argdata::Fd(out))?;
    let dir =
        Dir::borrowed(dir.as_fd())?.limit(rights::DIRECTORY_READ_ONLY, rights::FILE_READ_ONLY);
    let mut names = Vec::new();
    for entry in dir.entries()? {
        let entry = entry?;
        let mut name = entry.name().to_string_lossy().into_owned();
        if entry.file_type() == FileType::Directory {
            name.push('/');
        }
        names.push(name);
    }
    names.sort();
    for name in names {
        writeln!(out, "{name}")?;
    }
    Ok(())
}

program::main!(program_main);
