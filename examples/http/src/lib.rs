//! The HTTP side of the demo web server, without any I/O: reading the request line, mapping
//! the target to a path beneath the root, and the texts of the answers and of the log line.
//!
//! It needs only `core` and `alloc`, so both builds of the server depend on this crate: the
//! native library (`examples/webserver`, as `webserver::http`) and the CloudABI executable
//! (`examples/cloudabi/src/bin/webserver.rs`). Each build adds only its own I/O: reading the
//! head, opening files beneath the root, sending.

#![no_std]
#![forbid(unsafe_code)]

extern crate alloc;

use alloc::borrow::ToOwned;
use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;
use core::fmt::Write as _;

use argdata::{Timestamp, UtcDateTime};

/// The longest request head (request line and headers) accepted.
pub const MAX_HEAD: usize = 8192;

/// The longest log line, newline included: `PIPE_BUF` on Linux, so that each line is one
/// atomic write to the log pipe, never interleaved with another, even one from another
/// process sharing the pipe (`cloudabi-run --instances`).
pub const MAX_LOG_LINE: usize = 4096;

/// The most bytes of the (escaped) method and peer in a log line.
const MAX_LOG_WORD: usize = 64;

/// What was served, for the log.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Served {
    /// The request method as sent (`-` if there was no parsable request line).
    pub method: String,
    /// The request target as sent (`-` if none).
    pub target: String,
    /// The response status.
    pub status: u16,
    /// Body bytes sent.
    pub bytes: u64,
}

impl Default for Served {
    /// Nothing parsed yet: `- -`, status 400.
    fn default() -> Served {
        Served {
            method: "-".to_owned(),
            target: "-".to_owned(),
            status: 400,
            bytes: 0,
        }
    }
}

impl Served {
    /// One log line (with the trailing newline): time (`unix_secs` seconds since
    /// 1970-01-01, UTC), peer, request, status, body size. Control characters and non-ASCII
    /// bytes of the request are escaped, so a client cannot forge log lines. The line is at
    /// most [`MAX_LOG_LINE`] bytes: a longer method or peer (over 64 bytes escaped) or target
    /// is cut, never inside an escape, and ends in `...`.
    ///
    /// ```
    /// let served = webserver_http::Served {
    ///     method: "GET".into(),
    ///     target: "/a\nb".into(),
    ///     status: 404,
    ///     bytes: 14,
    /// };
    /// assert_eq!(
    ///     served.log_line("127.0.0.1:4000", 86_400),
    ///     "1970-01-02T00:00:00Z 127.0.0.1:4000 \"GET /a\\x0ab\" 404 14\n"
    /// );
    /// ```
    #[must_use]
    pub fn log_line(&self, peer: &str, unix_secs: u64) -> String {
        let before = format!(
            "{} {} \"{} ",
            rfc3339(unix_secs),
            escape(peer, MAX_LOG_WORD),
            escape(&self.method, MAX_LOG_WORD),
        );
        let after = format!("\" {} {}\n", self.status, self.bytes);
        let room = MAX_LOG_LINE.saturating_sub(before.len() + after.len());
        format!("{before}{}{after}", escape(&self.target, room))
    }
}

/// What to answer a request with, decided from its head alone.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Route {
    /// The error page for this status (only its head when `head_only`).
    Error {
        /// The status.
        status: u16,
        /// The request was `HEAD`.
        head_only: bool,
    },
    /// The file (or directory) at `rel` beneath the root.
    File {
        /// The path relative to the root ([`relative_path`]).
        rel: String,
        /// The request was `HEAD`.
        head_only: bool,
    },
}

/// Reads the request line of `head` (the request up to the empty line), records its method
/// and target in `served` and decides what to answer: 400 for a malformed line or target,
/// 505 for an HTTP version other than 1.0 and 1.1, 405 for methods other than `GET` and
/// `HEAD`, 403 for a `..` segment.
///
/// ```
/// use webserver_http::{Route, Served, route};
///
/// let mut served = Served::default();
/// let r = route(b"GET /docs/ HTTP/1.1\r\nHost: x", &mut served);
/// assert_eq!(r, Route::File { rel: "docs/index.html".into(), head_only: false });
/// assert_eq!((served.method.as_str(), served.target.as_str()), ("GET", "/docs/"));
/// assert_eq!(route(b"PUT / HTTP/1.1", &mut served), Route::Error { status: 405, head_only: false });
/// ```
pub fn route(head: &[u8], served: &mut Served) -> Route {
    let line_end = head.iter().position(|b| *b == b'\n').unwrap_or(head.len());
    let line = String::from_utf8_lossy(&head[..line_end]);
    let mut words = line.trim_end_matches('\r').split(' ');
    let (method, target, version) = match (words.next(), words.next(), words.next(), words.next()) {
        (Some(m), Some(t), Some(v), None) if !m.is_empty() && !t.is_empty() => (m, t, v),
        _ => {
            return Route::Error {
                status: 400,
                head_only: false,
            };
        }
    };
    served.method = method.to_owned();
    served.target = target.to_owned();
    let head_only = method == "HEAD";
    let error = |status| Route::Error { status, head_only };
    if !version.starts_with("HTTP/") {
        return error(400);
    }
    if version != "HTTP/1.0" && version != "HTTP/1.1" {
        return error(505);
    }
    if method != "GET" && method != "HEAD" {
        return Route::Error {
            status: 405,
            head_only: false,
        };
    }
    match relative_path(target) {
        Ok(rel) => Route::File { rel, head_only },
        Err(status) => error(status),
    }
}

/// The reason phrase of the statuses this server sends.
#[must_use]
pub fn reason(status: u16) -> &'static str {
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
///
/// ```
/// assert_eq!(webserver_http::content_type("a/b/style.CSS"), "text/css; charset=utf-8");
/// assert_eq!(webserver_http::content_type("README"), "application/octet-stream");
/// ```
#[must_use]
pub fn content_type(path: &str) -> &'static str {
    let name = path.rsplit('/').next().unwrap_or(path);
    let ext = match name.rsplit_once('.') {
        Some((stem, ext)) if !stem.is_empty() => ext.to_ascii_lowercase(),
        _ => String::new(),
    };
    match ext.as_str() {
        "html" | "htm" => "text/html; charset=utf-8",
        "css" => "text/css; charset=utf-8",
        "txt" | "md" => "text/plain; charset=utf-8",
        "js" | "mjs" => "text/javascript; charset=utf-8",
        "json" => "application/json",
        "xml" => "application/xml",
        "svg" => "image/svg+xml",
        "png" => "image/png",
        "jpg" | "jpeg" => "image/jpeg",
        "gif" => "image/gif",
        "webp" => "image/webp",
        "ico" => "image/x-icon",
        "wasm" => "application/wasm",
        "pdf" => "application/pdf",
        "woff2" => "font/woff2",
        _ => "application/octet-stream",
    }
}

/// Turns a request target into a path relative to the root.
///
/// The query and fragment are dropped and `%XX` escapes decoded; empty and `.` segments are
/// skipped and a path ending in `/` gets `index.html`. Errors are the HTTP status to answer
/// with: 400 for a malformed target (not starting with `/`, a bad escape, a NUL byte, not
/// UTF-8), 403 for any `..` segment.
///
/// ```
/// use webserver_http::relative_path;
///
/// assert_eq!(relative_path("/a/./b%20c.txt?x=1"), Ok("a/b c.txt".to_owned()));
/// assert_eq!(relative_path("/"), Ok("index.html".to_owned()));
/// assert_eq!(relative_path("/docs/"), Ok("docs/index.html".to_owned()));
/// assert_eq!(relative_path("//etc/passwd"), Ok("etc/passwd".to_owned()));
/// assert_eq!(relative_path("/../../etc/passwd"), Err(403));
/// assert_eq!(relative_path("/%2e%2e/secret"), Err(403));
/// assert_eq!(relative_path("etc/passwd"), Err(400));
/// ```
pub fn relative_path(target: &str) -> Result<String, u16> {
    let path = target.split(['?', '#']).next().unwrap_or("");
    if !path.starts_with('/') {
        return Err(400);
    }
    let decoded = percent_decode(path.as_bytes()).ok_or(400u16)?;
    let decoded = String::from_utf8(decoded).map_err(|_| 400u16)?;
    if decoded.contains('\0') {
        return Err(400);
    }
    let mut parts = Vec::new();
    for segment in decoded.split('/') {
        match segment {
            "" | "." => {}
            ".." => return Err(403),
            s => parts.push(s),
        }
    }
    let mut rel = parts.join("/");
    if decoded.ends_with('/') || parts.is_empty() {
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

/// Where the request head ends (the empty line, CRLF or bare LF), if it has arrived.
#[must_use]
pub fn find_end(head: &[u8]) -> Option<usize> {
    let crlf = head.windows(4).position(|w| w == b"\r\n\r\n");
    let lf = head.windows(2).position(|w| w == b"\n\n");
    match (crlf, lf) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

/// The status line and the headers every answer has; `instance` goes in `X-Instance` (to
/// tell copies of the server apart).
fn status_line(status: u16, instance: &str) -> String {
    format!(
        "HTTP/1.1 {status} {}\r\nServer: cloudabi-webserver\r\nX-Instance: {instance}\r\n\
         Connection: close\r\n",
        reason(status)
    )
}

/// The whole error answer for `served.status` (only its head when `head_only`); records
/// the body size in `served`.
#[must_use]
pub fn error_answer(served: &mut Served, instance: &str, head_only: bool) -> String {
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
    h
}

/// The head of a 200 answer for the file `rel` of `len` bytes.
#[must_use]
pub fn file_head(instance: &str, rel: &str, len: u64) -> String {
    let mut h = status_line(200, instance);
    let _ = write!(
        h,
        "Content-Type: {}\r\nContent-Length: {len}\r\n\r\n",
        content_type(rel)
    );
    h
}

/// The 301 answer sending a client that named a directory without the trailing slash to
/// `target/` (without its query).
#[must_use]
pub fn redirect_answer(instance: &str, target: &str) -> String {
    let path = target.split(['?', '#']).next().unwrap_or("/");
    let mut h = status_line(301, instance);
    let _ = write!(h, "Location: {path}/\r\nContent-Length: 0\r\n\r\n");
    h
}

/// Escapes bytes outside printable ASCII (and `"` and `\`) as `\xNN`, in at most `max`
/// bytes: when the whole does not fit, the longest beginning that fits with `...` after it
/// (an escape is kept whole or left out).
fn escape(s: &str, max: usize) -> String {
    let mut out = String::with_capacity(s.len().min(max) + 4);
    // Where to cut: the longest beginning (at a byte of `s`) that leaves room for `...`.
    let mut cut = 0;
    for b in s.bytes() {
        if out.len() + 3 <= max {
            cut = out.len();
        }
        if (0x20..0x7f).contains(&b) && b != b'"' && b != b'\\' {
            out.push(char::from(b));
        } else {
            let _ = write!(out, "\\x{b:02x}");
        }
        if out.len() > max {
            out.truncate(cut);
            out.push_str(&"..."[..max.min(3)]);
            return out;
        }
    }
    out
}

/// `YYYY-MM-DDTHH:MM:SSZ` in UTC for `secs` seconds after 1970-01-01.
///
/// ```
/// assert_eq!(webserver_http::rfc3339(1_709_210_096), "2024-02-29T12:34:56Z");
/// ```
#[must_use]
pub fn rfc3339(secs: u64) -> String {
    let t = i64::try_from(secs)
        .ok()
        .and_then(|s| Timestamp::from_parts(s, 0))
        .unwrap_or(Timestamp::MAX);
    let UtcDateTime {
        year,
        month,
        day,
        hour,
        minute,
        second,
        ..
    } = t.to_utc();
    format!("{year:04}-{month:02}-{day:02}T{hour:02}:{minute:02}:{second:02}Z")
}
