//! `ls` for CloudABI: lists a directory given as a descriptor, sorted, subdirectories
//! with a trailing slash.
//!
//! Argdata: `{dir: FD, out: FD}`, as the Linux `examples/rust/ls.rs`; `out` defaults to
//! descriptor 1.
#![no_std]
#![no_main]

extern crate alloc;

use alloc::string::String;
use alloc::vec;
use alloc::vec::Vec;
use core::fmt::Write;

use argdata::Argdata;
use program::cloudabi::FdWriter;
use program::cloudabi::sys::{self, Errno, FileType};
use program::cloudabi::{Error, required};

/// Size of the fixed part of a directory entry (`cloudabi_dirent_t`).
const DIRENT: usize = 24;

/// All entries of directory `dir` except `.` and `..`.
fn entries(dir: u32) -> Result<Vec<String>, Errno> {
    let mut names = Vec::new();
    let mut buf = vec![0u8; 16 << 10];
    let mut cookie = 0u64;
    loop {
        let used = sys::file_readdir(dir, &mut buf, cookie)?;
        let mut at = 0;
        let mut progressed = false;
        while at + DIRENT <= used {
            let word = |o: usize| {
                let mut b = [0u8; 8];
                b.copy_from_slice(&buf[at + o..at + o + 8]);
                u64::from_le_bytes(b)
            };
            let next = word(0);
            let namlen = (word(16) & 0xffff_ffff) as usize;
            let ty = FileType(buf[at + 20]);
            let Some(name) = buf.get(at + DIRENT..at + DIRENT + namlen) else {
                break;
            };
            let mut name = String::from_utf8_lossy(name).into_owned();
            if name != "." && name != ".." {
                if ty == FileType::DIRECTORY {
                    name.push('/');
                }
                names.push(name);
            }
            cookie = next;
            progressed = true;
            at += DIRENT + namlen;
        }
        if used < buf.len() || !progressed {
            return Ok(names);
        }
    }
}

fn program_main(ad: Argdata<'_>) -> Result<(), Error> {
    let dir = required(ad, "dir")?.as_fd(&program::fds())?;
    let out = match ad.get("out")? {
        Some(o) => o.as_fd(&program::fds())?,
        None => 1,
    };
    let mut names = entries(dir)?;
    names.sort();
    let mut out = FdWriter(out);
    for name in names {
        writeln!(out, "{name}")?;
    }
    Ok(())
}

program::main!(program_main);
