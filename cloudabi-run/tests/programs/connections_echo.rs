//! Test program for `!connections` (built by `tests/connections.rs` as the static example
//! `connections-echo`).
//!
//! Configuration: `{channel: FD, count: N, out: FD}`. It first prints one line per open
//! descriptor below 256, `fd N TYPE` (TYPE: `socket`, `listening-socket`, `file`, `other`),
//! then receives `count` connections from `channel` with `argdata::socket::ArgdataReader`.
//! For each it reads the client's bytes to end-of-file and answers them followed by
//! `|peer=PEER` (the message's `peer`), then closes it and prints `passed PEER`. Then it
//! exits 0. `count: 0` makes it exit right after the descriptor report.

use std::fs::File;
use std::io::{Read, Write};
use std::os::fd::{BorrowedFd, FromRawFd, OwnedFd};

use argdata::Argdata;
use argdata::socket::ArgdataReader;
use rustix::fs::FileType;

fn describe(fd: BorrowedFd<'_>) -> &'static str {
    match rustix::fs::fstat(fd).map(|s| FileType::from_raw_mode(s.st_mode)) {
        Ok(FileType::Socket) => {
            if rustix::net::sockopt::socket_acceptconn(fd).unwrap_or(false) {
                "listening-socket"
            } else {
                "socket"
            }
        }
        Ok(FileType::RegularFile) => "file",
        _ => "other",
    }
}

fn serve(ad: Argdata<'_>) -> Result<(), Box<dyn std::error::Error>> {
    let fds = program::fds();
    let field = |key: &str| -> Result<Argdata<'_>, Box<dyn std::error::Error>> {
        Ok(ad.get(key)?.ok_or_else(|| format!("no `{key}`"))?)
    };
    let channel = field("channel")?.as_fd(&fds)?;
    let out = field("out")?.as_fd(&fds)?;
    let count: u32 = field("count")?.as_int()?;
    // SAFETY: the launcher granted these numbers (checked by `program::fds`), and nothing
    // else in this program owns them.
    let (channel, mut out) = unsafe { (OwnedFd::from_raw_fd(channel), File::from_raw_fd(out)) };

    let mut report = String::new();
    for n in 0..256 {
        // SAFETY: the descriptor is only queried (fcntl, fstat, getsockopt) while the loop
        // body runs, and nothing closes descriptors meanwhile.
        let fd = unsafe { BorrowedFd::borrow_raw(n) };
        if rustix::io::fcntl_getfd(fd).is_ok() {
            report.push_str(&format!("fd {n} {}\n", describe(fd)));
        }
    }
    out.write_all(report.as_bytes())?;

    let mut reader = ArgdataReader::new(4096, 1);
    for _ in 0..count {
        let message = reader
            .pull(&channel)?
            .ok_or("the launcher closed the channel")?;
        let peer = message
            .argdata()
            .get("peer")?
            .ok_or("no `peer`")?
            .as_str()?
            .to_owned();
        let index = message
            .argdata()
            .get("connection")?
            .ok_or("no `connection`")?
            .as_fd_index()?;
        let (_, mut received) = message.into_parts();
        if index != 0 || received.len() != 1 {
            return Err(format!("connection {index} of {} descriptors", received.len()).into());
        }
        let mut connection = File::from(received.remove(0));
        let mut request = Vec::new();
        connection.read_to_end(&mut request)?;
        request.extend_from_slice(format!("|peer={peer}").as_bytes());
        connection.write_all(&request)?;
        drop(connection);
        writeln!(out, "passed {peer}")?;
    }
    Ok(())
}

program::main!(serve);
