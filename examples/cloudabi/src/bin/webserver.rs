//! The demo web server as a CloudABI executable: serves the files beneath a directory to
//! connections handed to it over a socket (CloudABI has no `accept`; see
//! `docs/connections.md`). It behaves like the native `examples/webserver/`.
//!
//! Argdata (a map; other keys are ignored):
//!
//! ```yaml
//! connections: !connections {bind: 127.0.0.1:8080}  # required: the connection stream
//! root: !file {path: examples/www}                   # required: the document root
//! log: !file {path: access.log, mode: append, create: true}  # optional: access log
//! errors: !fd stderr                                 # optional: why the server stopped
//! ```
//!
//! * `connections`: a stream socket on which each connection arrives as an argdata message
//!   `{connection: !fd 0, peer: "ADDRESS"}` (`program::cloudabi::connections`); `cloudabi-run`
//!   provides one with `!connections {bind: ADDRESS}`, a test with a socket pair.
//! * `root`: a directory descriptor; files are opened beneath it with `file_open` and only
//!   the rights to read and stat them, so `..`, absolute paths and symbolic links cannot
//!   lead out of it.
//! * `log`: one line per answered request, `TIME PEER "METHOD TARGET" STATUS BYTES` (`-` for
//!   a request line that could not be parsed), the request escaped so that a client cannot
//!   forge lines; a client that goes away before the answer is sent gets no line.
//! * `errors`: a line saying why the server stopped, if it stops with an error.
//!
//! One request per connection (`Connection: close`), served one after another: `GET` and
//! `HEAD`, HTTP/1.0 and 1.1. Answers: 200 with `Content-Length`, 301 for a directory named
//! without a trailing slash, 400 for a malformed request, 403 for a path with a `..`
//! segment or one that leaves the root, 404, 405 for other methods, 408 when the request
//! does not arrive within 10 seconds, 431 for a request head over 8 KiB, 505 for other HTTP
//! versions. The server exits with 0 when the connection stream ends, and with 1 when the
//! configuration is unusable or the stream breaks.
#![no_std]
#![no_main]

extern crate alloc;

use alloc::string::String;
use alloc::vec;
use alloc::vec::Vec;
use core::fmt::Write as _;

use argdata::Argdata;
use program::cloudabi::connections::{Connection, ConnectionError, Connections};
use program::cloudabi::sys::{
    self, ClockId, Errno, FdStat, FileType, LookupFlags, OFlags, Rights, SdFlags,
};

// The HTTP side without I/O, shared with the native server (`examples/webserver/`).
use webserver_http::{
    MAX_HEAD, Route, Served, error_answer, file_head, find_end, redirect_answer, route,
};

/// How long a client may take to send its request, in nanoseconds.
const CLIENT_TIMEOUT: u64 = 10_000_000_000;

/// How much of an oversized request is read and dropped before closing, so that the
/// client sees the answer rather than a reset connection.
const DRAIN_LIMIT: usize = 1 << 16;

/// Why the server stopped (its exit status is 1 then).
#[derive(Debug)]
enum Error {
    /// The argdata is not a map of the expected shape.
    Config(argdata::Error),
    /// A required key is missing.
    Missing(&'static str),
    /// Two keys name the same descriptor.
    Shared,
    /// The connection stream broke.
    Stream(ConnectionError),
}

impl From<argdata::Error> for Error {
    fn from(e: argdata::Error) -> Error {
        Error::Config(e)
    }
}

impl core::fmt::Display for Error {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Error::Config(e) => write!(f, "bad configuration: {e}"),
            Error::Missing(key) => write!(f, "the configuration lacks `{key}`"),
            Error::Shared => write!(
                f,
                "`connections`, `root` and `log` must be distinct descriptors"
            ),
            Error::Stream(e) => write!(f, "{e}"),
        }
    }
}

/// A file opened beneath the root, closed on drop.
struct File(u32);

impl Drop for File {
    fn drop(&mut self) {
        let _ = sys::fd_close(self.0);
    }
}

/// Opens `rel` beneath `root` for reading. Errors are statuses: 404 for a missing file, 403
/// for a path leaving the root (`NOTCAPABLE`), permission errors, link loops and
/// non-regular files, 500 otherwise. A directory is `Ok(None)`.
fn open_beneath(root: u32, rel: &str) -> Result<Option<(File, u64)>, u16> {
    let rights = FdStat {
        fs_rights_base: Rights::FD_READ | Rights::FILE_STAT_FGET,
        ..FdStat::default()
    };
    let fd = sys::file_open(
        root,
        rel.as_bytes(),
        LookupFlags::SYMLINK_FOLLOW,
        OFlags::empty(),
        &rights,
    )
    .map_err(|e| match e {
        Errno::NOENT | Errno::NOTDIR | Errno::NAMETOOLONG => 404u16,
        Errno::NOTCAPABLE | Errno::ACCES | Errno::PERM | Errno::LOOP | Errno::XDEV => 403,
        _ => 500,
    })?;
    let file = File(fd);
    let stat = sys::file_stat_fget(file.0).map_err(|_| 500u16)?;
    match stat.st_filetype {
        FileType::REGULAR_FILE => Ok(Some((file, stat.st_size))),
        FileType::DIRECTORY => Ok(None),
        _ => Err(403),
    }
}

/// How reading the request head ended.
enum Head {
    /// The head (without the empty line), or what arrived before the client closed.
    Complete(Vec<u8>),
    /// More than [`MAX_HEAD`] bytes without an empty line.
    TooLarge,
    /// Nothing complete arrived within [`CLIENT_TIMEOUT`].
    TimedOut,
}

/// Waits (at most [`CLIENT_TIMEOUT`]) for data on `fd`; `false` on timeout. A system
/// without `poll` support just reads.
fn readable(fd: u32) -> Result<bool, Errno> {
    match sys::wait_readable(fd, CLIENT_TIMEOUT) {
        Err(Errno::NOSYS) => Ok(true),
        other => other,
    }
}

/// Reads the request head (up to the empty line), at most [`MAX_HEAD`] bytes.
fn read_head(fd: u32) -> Result<Head, Errno> {
    let mut head = Vec::with_capacity(1024);
    let mut buf = [0u8; 1024];
    loop {
        if let Some(end) = find_end(&head) {
            head.truncate(end);
            return Ok(Head::Complete(head));
        }
        if head.len() >= MAX_HEAD {
            return Ok(Head::TooLarge);
        }
        if !readable(fd)? {
            return Ok(Head::TimedOut);
        }
        let want = (MAX_HEAD - head.len()).min(buf.len());
        let n = sys::fd_read(fd, &mut buf[..want])?;
        if n == 0 {
            // The client closed early: what arrived is the whole head.
            return Ok(Head::Complete(head));
        }
        head.extend_from_slice(&buf[..n.min(want)]);
    }
}

/// Sends the error answer for `served.status` (only the head for `HEAD`).
fn respond_error(
    sock: u32,
    served: &mut Served,
    instance: &str,
    head_only: bool,
) -> Result<(), Errno> {
    sys::sock_send_all(sock, error_answer(served, instance, head_only).as_bytes())
}

/// Sends up to `len` bytes of `file` on `sock`; returns how many were sent.
fn send_file(sock: u32, file: &File, len: u64) -> Result<u64, Errno> {
    let mut buf = vec![0u8; 16 << 10];
    let mut sent = 0u64;
    while sent < len {
        let want = usize::try_from(len - sent).map_or(buf.len(), |r| r.min(buf.len()));
        let n = sys::fd_read(file.0, &mut buf[..want])?;
        if n == 0 {
            // The file shrank: the client sees a short body and the connection closing.
            break;
        }
        sys::sock_send_all(sock, &buf[..n.min(want)])?;
        sent += n as u64;
    }
    Ok(sent)
}

/// Serves one request on `sock` with files beneath `root`.
///
/// # Errors
///
/// Only failures to read from or write to the client (the request is answered otherwise).
fn handle(sock: u32, root: u32, instance: &str) -> Result<Served, Errno> {
    let mut served = Served::default();
    let head = match read_head(sock)? {
        Head::Complete(h) => h,
        Head::TooLarge => {
            served.status = 431;
            respond_error(sock, &mut served, instance, false)?;
            drain(sock);
            return Ok(served);
        }
        Head::TimedOut => {
            served.status = 408;
            respond_error(sock, &mut served, instance, false)?;
            return Ok(served);
        }
    };
    let (rel, head_only) = match route(&head, &mut served) {
        Route::File { rel, head_only } => (rel, head_only),
        Route::Error { status, head_only } => {
            served.status = status;
            respond_error(sock, &mut served, instance, head_only)?;
            return Ok(served);
        }
    };
    match open_beneath(root, &rel) {
        Ok(Some((file, len))) => {
            served.status = 200;
            sys::sock_send_all(sock, file_head(instance, &rel, len).as_bytes())?;
            if !head_only {
                served.bytes = send_file(sock, &file, len)?;
            }
        }
        Ok(None) => {
            // A directory named without the trailing slash: send the client to it.
            served.status = 301;
            sys::sock_send_all(sock, redirect_answer(instance, &served.target).as_bytes())?;
        }
        Err(status) => {
            served.status = status;
            respond_error(sock, &mut served, instance, head_only)?;
        }
    }
    Ok(served)
}

/// Reads and drops (a bounded amount of) what the client is still sending: closing with
/// unread data would reset the connection before the client has read the answer.
fn drain(sock: u32) {
    let _ = sys::sock_shutdown(sock, SdFlags::WR);
    let mut buf = [0u8; 4096];
    let mut total = 0;
    while total < DRAIN_LIMIT {
        match readable(sock) {
            Ok(true) => {}
            _ => return,
        }
        match sys::fd_read(sock, &mut buf) {
            Ok(0) | Err(_) => return,
            Ok(n) => total += n,
        }
    }
}

/// The log line for `served` (with its newline).
fn log_line(served: &Served, peer: &str) -> String {
    let now = sys::clock_time_get(ClockId::REALTIME.0).unwrap_or(0);
    served.log_line(peer, now / 1_000_000_000)
}

/// 16 hex digits telling this run of the server apart from others (`X-Instance`).
fn instance_id() -> String {
    let mut b = [0u8; 8];
    let _ = sys::random_get(&mut b);
    let mut s = String::with_capacity(16);
    for x in b {
        let _ = write!(s, "{x:02x}");
    }
    s
}

/// The descriptor under `key`, if present.
fn fd(ad: &Argdata<'_>, key: &'static str) -> Result<Option<u32>, Error> {
    Ok(match ad.get(key)? {
        Some(v) => Some(v.as_fd(&program::fds())?),
        None => None,
    })
}

/// Serves connections until the stream ends.
fn serve(ad: &Argdata<'_>) -> Result<(), Error> {
    let stream = fd(ad, "connections")?.ok_or(Error::Missing("connections"))?;
    let root = fd(ad, "root")?.ok_or(Error::Missing("root"))?;
    let log = fd(ad, "log")?;
    if stream == root || Some(stream) == log || Some(root) == log {
        return Err(Error::Shared);
    }
    let instance = instance_id();
    let mut connections = Connections::new(stream);
    loop {
        let Connection { fd: sock, peer } = match connections.accept() {
            Ok(Some(c)) => c,
            Ok(None) => return Ok(()),
            // A malformed message was read completely: skip it.
            Err(e) if e.is_recoverable() => continue,
            Err(e) => return Err(Error::Stream(e)),
        };
        let served = handle(sock, root, &instance);
        let _ = sys::fd_close(sock);
        if let (Ok(served), Some(log)) = (served, log) {
            let _ = sys::write_all(log, log_line(&served, &peer).as_bytes());
        }
    }
}

fn program_main(ad: Argdata<'_>) -> Result<(), Error> {
    let result = serve(&ad);
    if let Err(e) = &result
        && let Ok(Some(errors)) = fd(&ad, "errors")
    {
        let _ = writeln!(program::cloudabi::FdWriter(errors), "webserver: {e}");
    }
    result
}

program::main!(program_main);
