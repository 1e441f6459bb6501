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

use alloc::format;
use alloc::string::String;
use alloc::vec;
use alloc::vec::Vec;
use core::fmt::Write as _;

use argdata::Argdata;
use program::cloudabi::connections::{Connection, ConnectionError, Connections};
use program::cloudabi::sys::{
    self, ClockId, Errno, FdStat, FileType, LookupFlags, OFlags, Rights, SdFlags,
};

/// The longest request head (request line and headers) accepted.
const MAX_HEAD: usize = 8192;

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

/// What was served, for the log.
struct Served {
    method: String,
    target: String,
    status: u16,
    bytes: u64,
}

/// The reason phrase of the statuses this server sends.
fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        301 => "Moved Permanently",
        400 => "Bad Request",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        408 => "Request Timeout",
        431 => "Request Header Fields Too Large",
        505 => "HTTP Version Not Supported",
        _ => "Internal Server Error",
    }
}

/// The `Content-Type` for a path, by its extension.
fn content_type(path: &str) -> &'static str {
    let name = path.rsplit('/').next().unwrap_or(path);
    let ext = match name.rsplit_once('.') {
        Some((stem, ext)) if !stem.is_empty() => ext,
        _ => "",
    };
    let is = |e: &str| ext.eq_ignore_ascii_case(e);
    if is("html") || is("htm") {
        "text/html; charset=utf-8"
    } else if is("css") {
        "text/css; charset=utf-8"
    } else if is("txt") || is("md") {
        "text/plain; charset=utf-8"
    } else if is("js") || is("mjs") {
        "text/javascript; charset=utf-8"
    } else if is("json") {
        "application/json"
    } else if is("svg") {
        "image/svg+xml"
    } else if is("png") {
        "image/png"
    } else if is("jpg") || is("jpeg") {
        "image/jpeg"
    } else if is("ico") {
        "image/x-icon"
    } else {
        "application/octet-stream"
    }
}

/// Turns a request target into a path relative to the root: the query and fragment are
/// dropped, `%XX` escapes decoded, empty and `.` segments skipped, and a path ending in `/`
/// gets `index.html`. Errors are statuses: 400 for a malformed target (not starting with
/// `/`, a bad escape, a NUL byte, not UTF-8), 403 for any `..` segment.
fn relative_path(target: &str) -> Result<String, u16> {
    let path = target.split(['?', '#']).next().unwrap_or("");
    if !path.starts_with('/') {
        return Err(400);
    }
    let decoded = percent_decode(path.as_bytes()).ok_or(400u16)?;
    let decoded = String::from_utf8(decoded).map_err(|_| 400u16)?;
    if decoded.contains('\0') {
        return Err(400);
    }
    let mut rel = String::new();
    for segment in decoded.split('/') {
        match segment {
            "" | "." => {}
            ".." => return Err(403),
            s => {
                if !rel.is_empty() {
                    rel.push('/');
                }
                rel.push_str(s);
            }
        }
    }
    if decoded.ends_with('/') || rel.is_empty() {
        if !rel.is_empty() {
            rel.push('/');
        }
        rel.push_str("index.html");
    }
    Ok(rel)
}

fn percent_decode(bytes: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = bytes.get(i + 1..i + 3)?;
            let hi = char::from(hex[0]).to_digit(16)?;
            let lo = char::from(hex[1]).to_digit(16)?;
            out.push((hi * 16 + lo) as u8);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    Some(out)
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

fn find_end(head: &[u8]) -> Option<usize> {
    let crlf = head.windows(4).position(|w| w == b"\r\n\r\n");
    let lf = head.windows(2).position(|w| w == b"\n\n");
    match (crlf, lf) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

fn status_line(status: u16, instance: &str) -> String {
    format!(
        "HTTP/1.1 {status} {}\r\nServer: cloudabi-webserver\r\nX-Instance: {instance}\r\n\
         Connection: close\r\n",
        reason(status)
    )
}

/// Sends the error page for `served.status` (only the head for `HEAD`).
fn respond_error(
    sock: u32,
    served: &mut Served,
    instance: &str,
    head_only: bool,
) -> Result<(), Errno> {
    let body = format!("{} {}\n", served.status, reason(served.status));
    let mut h = status_line(served.status, instance);
    if served.status == 405 {
        h.push_str("Allow: GET, HEAD\r\n");
    }
    let _ = write!(
        h,
        "Content-Type: text/plain; charset=utf-8\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    if !head_only {
        h.push_str(&body);
        served.bytes = body.len() as u64;
    }
    sys::sock_send_all(sock, h.as_bytes())
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
    let mut served = Served {
        method: String::from("-"),
        target: String::from("-"),
        status: 400,
        bytes: 0,
    };
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
    let line_end = head.iter().position(|b| *b == b'\n').unwrap_or(head.len());
    let line = String::from_utf8_lossy(&head[..line_end]);
    let mut words = line.trim_end_matches('\r').split(' ');
    let (method, target, version) = match (words.next(), words.next(), words.next(), words.next()) {
        (Some(m), Some(t), Some(v), None) if !m.is_empty() && !t.is_empty() => (m, t, v),
        _ => {
            respond_error(sock, &mut served, instance, false)?;
            return Ok(served);
        }
    };
    served.method = String::from(method);
    served.target = String::from(target);
    let head_only = method == "HEAD";
    if !version.starts_with("HTTP/") {
        respond_error(sock, &mut served, instance, head_only)?;
        return Ok(served);
    }
    if version != "HTTP/1.0" && version != "HTTP/1.1" {
        served.status = 505;
        respond_error(sock, &mut served, instance, head_only)?;
        return Ok(served);
    }
    if method != "GET" && method != "HEAD" {
        served.status = 405;
        respond_error(sock, &mut served, instance, false)?;
        return Ok(served);
    }
    let rel = match relative_path(target) {
        Ok(r) => r,
        Err(status) => {
            served.status = status;
            respond_error(sock, &mut served, instance, head_only)?;
            return Ok(served);
        }
    };
    match open_beneath(root, &rel) {
        Ok(Some((file, len))) => {
            served.status = 200;
            let mut h = status_line(200, instance);
            let _ = write!(
                h,
                "Content-Type: {}\r\nContent-Length: {len}\r\n\r\n",
                content_type(&rel)
            );
            sys::sock_send_all(sock, h.as_bytes())?;
            if !head_only {
                served.bytes = send_file(sock, &file, len)?;
            }
        }
        Ok(None) => {
            // A directory named without the trailing slash: send the client to it.
            served.status = 301;
            let path = target.split(['?', '#']).next().unwrap_or("/");
            let mut h = status_line(301, instance);
            let _ = write!(h, "Location: {path}/\r\nContent-Length: 0\r\n\r\n");
            sys::sock_send_all(sock, h.as_bytes())?;
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

/// Escapes bytes outside printable ASCII (and `"` and `\`) as `\xNN`.
fn escape(out: &mut String, s: &str) {
    for b in s.bytes() {
        if (0x20..0x7f).contains(&b) && b != b'"' && b != b'\\' {
            out.push(char::from(b));
        } else {
            let _ = write!(out, "\\x{b:02x}");
        }
    }
}

/// `YYYY-MM-DDTHH:MM:SSZ` in UTC for `secs` seconds after 1970-01-01.
fn rfc3339(out: &mut String, secs: u64) {
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    // Civil date from days since 1970-01-01 (proleptic Gregorian calendar).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    let _ = write!(
        out,
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    );
}

/// The log line for `served` (with its newline).
fn log_line(served: &Served, peer: &str) -> String {
    let mut line = String::with_capacity(64 + served.target.len());
    let now = sys::clock_time_get(ClockId::REALTIME.0).unwrap_or(0);
    rfc3339(&mut line, now / 1_000_000_000);
    line.push(' ');
    escape(&mut line, peer);
    line.push_str(" \"");
    escape(&mut line, &served.method);
    line.push(' ');
    escape(&mut line, &served.target);
    let _ = writeln!(line, "\" {} {}", served.status, served.bytes);
    line
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
