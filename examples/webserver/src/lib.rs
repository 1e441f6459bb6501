//! A small static web server for the `cloudabi-run` demo, as a library.
//!
//! The server holds exactly three capabilities: a listening socket, a directory descriptor
//! for the document root (read-only) and a log it can only append to. [`handle`] serves one
//! connection over any `Read + Write` stream, opening files strictly beneath the root with
//! `openat2(RESOLVE_BENEATH)`, so it can be tested without a network: the tests below run it
//! on a UNIX socket pair with a temporary directory as the root.
//!
//! Supported: `GET` and `HEAD`, HTTP/1.0 and HTTP/1.1, one request per connection
//! (`Connection: close`). Paths containing a `..` segment get 403, paths that escape the root
//! any other way (an absolute symlink, a symlink leading out) get 403 from the kernel, missing
//! files 404.
//!
//! ```
//! use std::io::{Read, Write};
//! use std::os::unix::net::UnixStream;
//!
//! let root = std::env::temp_dir().join(format!("webserver-doc-{}", std::process::id()));
//! std::fs::create_dir_all(&root)?;
//! std::fs::write(root.join("index.html"), "<h1>hi</h1>")?;
//! let dir = std::fs::File::open(&root)?;
//!
//! let (mut client, mut server) = UnixStream::pair()?;
//! client.write_all(b"GET / HTTP/1.0\r\n\r\n")?;
//! let served = webserver::handle(&mut server, &dir, "doc")?;
//! drop(server);
//! let mut response = String::new();
//! client.read_to_string(&mut response)?;
//! assert_eq!(served.status, 200);
//! assert!(response.starts_with("HTTP/1.1 200 OK\r\n"));
//! assert!(response.ends_with("<h1>hi</h1>"));
//! # std::fs::remove_dir_all(&root)?;
//! # Ok::<(), std::io::Error>(())
//! ```
#![forbid(unsafe_code)]

use std::fmt::Write as _;
use std::fs::File;
use std::io::{self, Read, Write};
use std::os::fd::AsFd;
use std::time::{SystemTime, UNIX_EPOCH};

use rustix::fs::{FileType, Mode, OFlags, ResolveFlags};
use rustix::io::Errno;

/// The longest request head (request line and headers) accepted.
pub const MAX_HEAD: usize = 8192;

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

impl Served {
    /// One log line (with the trailing newline): time, peer, request, status, body size.
    /// Control characters and non-ASCII bytes of the request are escaped, so a client
    /// cannot forge log lines.
    #[must_use]
    pub fn log_line(&self, peer: &str, now: SystemTime) -> String {
        format!(
            "{} {} \"{} {}\" {} {}\n",
            rfc3339(now),
            escape(peer),
            escape(&self.method),
            escape(&self.target),
            self.status,
            self.bytes
        )
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
/// assert_eq!(webserver::content_type("a/b/style.CSS"), "text/css; charset=utf-8");
/// assert_eq!(webserver::content_type("README"), "application/octet-stream");
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
/// assert_eq!(webserver::relative_path("/a/./b%20c.txt?x=1"), Ok("a/b c.txt".to_owned()));
/// assert_eq!(webserver::relative_path("/"), Ok("index.html".to_owned()));
/// assert_eq!(webserver::relative_path("/docs/"), Ok("docs/index.html".to_owned()));
/// assert_eq!(webserver::relative_path("//etc/passwd"), Ok("etc/passwd".to_owned()));
/// assert_eq!(webserver::relative_path("/../../etc/passwd"), Err(403));
/// assert_eq!(webserver::relative_path("/%2e%2e/secret"), Err(403));
/// assert_eq!(webserver::relative_path("etc/passwd"), Err(400));
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
            let hi = (hex[0] as char).to_digit(16)?;
            let lo = (hex[1] as char).to_digit(16)?;
            out.push((hi * 16 + lo) as u8);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    Some(out)
}

/// Opens `rel` strictly beneath `root` for reading. Errors are HTTP statuses: 404 for missing
/// files, 403 for anything that would leave the root (the kernel's `EXDEV`), permission
/// errors, symlink loops and non-regular files, 500 otherwise. A directory is reported as
/// `Ok(None)`.
pub fn open_beneath(root: impl AsFd, rel: &str) -> Result<Option<(File, u64)>, u16> {
    let fd = rustix::fs::openat2(
        root,
        rel,
        OFlags::RDONLY | OFlags::CLOEXEC | OFlags::NOCTTY | OFlags::NONBLOCK,
        Mode::empty(),
        ResolveFlags::BENEATH | ResolveFlags::NO_MAGICLINKS,
    )
    .map_err(|e| match e {
        Errno::NOENT | Errno::NOTDIR | Errno::NAMETOOLONG => 404u16,
        Errno::XDEV | Errno::ACCESS | Errno::PERM | Errno::LOOP => 403,
        _ => 500,
    })?;
    let stat = rustix::fs::fstat(&fd).map_err(|_| 500u16)?;
    match FileType::from_raw_mode(stat.st_mode) {
        FileType::RegularFile => Ok(Some((File::from(fd), stat.st_size as u64))),
        FileType::Directory => Ok(None),
        _ => Err(403),
    }
}

/// Reads the request head (up to the empty line). `Ok(None)`: the head is too large.
fn read_head<S: Read>(stream: &mut S) -> io::Result<Option<Vec<u8>>> {
    let mut head = Vec::with_capacity(1024);
    let mut buf = [0u8; 1024];
    loop {
        if let Some(end) = find_end(&head) {
            head.truncate(end);
            return Ok(Some(head));
        }
        if head.len() >= MAX_HEAD {
            return Ok(None);
        }
        let want = (MAX_HEAD - head.len()).min(buf.len());
        let n = stream.read(&mut buf[..want])?;
        if n == 0 {
            // The client closed early; treat what arrived as the whole head.
            return Ok(Some(head));
        }
        head.extend_from_slice(&buf[..n]);
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

/// Serves one request read from `stream`, with files beneath `root`. `instance` is sent in
/// an `X-Instance` header (to tell copies of the server apart).
///
/// # Errors
/// Only I/O errors on the stream or while reading a file; a bad request is answered, not an
/// error.
pub fn handle<S: Read + Write>(
    stream: &mut S,
    root: impl AsFd,
    instance: &str,
) -> io::Result<Served> {
    let mut served = Served {
        method: "-".to_owned(),
        target: "-".to_owned(),
        status: 400,
        bytes: 0,
    };
    let head = match read_head(stream) {
        Ok(Some(h)) => h,
        Ok(None) => {
            served.status = 431;
            respond_error(stream, &mut served, instance, false)?;
            // Read (a bounded amount of) what the client is still sending: closing with
            // unread data would reset the connection before the client sees the answer.
            let _ = io::copy(&mut stream.take(1 << 16), &mut io::sink());
            return Ok(served);
        }
        Err(e)
            if matches!(
                e.kind(),
                io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
            ) =>
        {
            served.status = 408;
            respond_error(stream, &mut served, instance, false)?;
            return Ok(served);
        }
        Err(e) => return Err(e),
    };
    let line_end = head.iter().position(|b| *b == b'\n').unwrap_or(head.len());
    let line = String::from_utf8_lossy(&head[..line_end]);
    let mut words = line.trim_end_matches('\r').split(' ');
    let (method, target, version) = match (words.next(), words.next(), words.next(), words.next()) {
        (Some(m), Some(t), Some(v), None) if !m.is_empty() && !t.is_empty() => (m, t, v),
        _ => {
            respond_error(stream, &mut served, instance, false)?;
            return Ok(served);
        }
    };
    served.method = method.to_owned();
    served.target = target.to_owned();
    let head_only = method == "HEAD";
    if !version.starts_with("HTTP/") {
        return respond_error(stream, &mut served, instance, head_only).map(|()| served);
    }
    if version != "HTTP/1.0" && version != "HTTP/1.1" {
        served.status = 505;
        return respond_error(stream, &mut served, instance, head_only).map(|()| served);
    }
    if method != "GET" && method != "HEAD" {
        served.status = 405;
        return respond_error(stream, &mut served, instance, false).map(|()| served);
    }
    let rel = match relative_path(target) {
        Ok(r) => r,
        Err(status) => {
            served.status = status;
            return respond_error(stream, &mut served, instance, head_only).map(|()| served);
        }
    };
    match open_beneath(root, &rel) {
        Ok(Some((mut file, len))) => {
            served.status = 200;
            let mut h = status_line(200, instance);
            let _ = write!(
                h,
                "Content-Type: {}\r\nContent-Length: {len}\r\n\r\n",
                content_type(&rel)
            );
            stream.write_all(h.as_bytes())?;
            if !head_only {
                served.bytes = io::copy(&mut (&mut file).take(len), stream)?;
            }
            stream.flush()?;
        }
        Ok(None) => {
            // A directory named without the trailing slash: send the client to it.
            served.status = 301;
            let path = target.split(['?', '#']).next().unwrap_or("/");
            let mut h = status_line(301, instance);
            let _ = write!(h, "Location: {path}/\r\nContent-Length: 0\r\n\r\n");
            stream.write_all(h.as_bytes())?;
            stream.flush()?;
        }
        Err(status) => {
            served.status = status;
            respond_error(stream, &mut served, instance, head_only)?;
        }
    }
    Ok(served)
}

fn status_line(status: u16, instance: &str) -> String {
    format!(
        "HTTP/1.1 {status} {}\r\nServer: cloudabi-webserver\r\nX-Instance: {instance}\r\n\
         Connection: close\r\n",
        reason(status)
    )
}

fn respond_error<S: Write>(
    stream: &mut S,
    served: &mut Served,
    instance: &str,
    head_only: bool,
) -> io::Result<()> {
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
    stream.write_all(h.as_bytes())?;
    stream.flush()
}

/// Escapes bytes outside printable ASCII (and `"` and `\`) as `\xNN`.
fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if (0x20..0x7f).contains(&b) && b != b'"' && b != b'\\' {
            out.push(b as char);
        } else {
            let _ = write!(out, "\\x{b:02x}");
        }
    }
    out
}

/// `YYYY-MM-DDTHH:MM:SSZ` in UTC.
fn rfc3339(t: SystemTime) -> String {
    let secs = t
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
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
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;
    use std::os::unix::net::UnixStream;
    use std::path::{Path, PathBuf};
    use std::time::Duration;

    /// A temporary document root, removed on drop.
    struct Root(PathBuf);

    impl Root {
        fn new(tag: &str) -> Root {
            let p = std::env::temp_dir().join(format!(
                "webserver-test-{tag}-{}-{}",
                std::process::id(),
                SystemTime::now()
                    .duration_since(UNIX_EPOCH)
                    .unwrap()
                    .as_nanos()
            ));
            std::fs::create_dir_all(p.join("www/docs")).unwrap();
            std::fs::write(p.join("www/index.html"), "<h1>home</h1>\n").unwrap();
            std::fs::write(p.join("www/style.css"), "body{}").unwrap();
            std::fs::write(p.join("www/docs/a.txt"), "alpha").unwrap();
            std::fs::write(p.join("secret.txt"), "do not serve").unwrap();
            symlink("/etc/passwd", p.join("www/abs-link")).unwrap();
            symlink("../secret.txt", p.join("www/rel-link")).unwrap();
            symlink("docs/a.txt", p.join("www/inside-link")).unwrap();
            Root(p)
        }

        fn dir(&self) -> File {
            File::open(self.0.join("www")).unwrap()
        }
    }

    impl Drop for Root {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    /// Sends `request` over a socket pair and returns what was served and the response.
    fn exchange(root: &Path, request: &[u8]) -> (Served, String) {
        let dir = File::open(root.join("www")).unwrap();
        let (mut client, mut server) = UnixStream::pair().unwrap();
        client.write_all(request).unwrap();
        client.shutdown(std::net::Shutdown::Write).unwrap();
        server
            .set_read_timeout(Some(Duration::from_secs(5)))
            .unwrap();
        let served = handle(&mut server, &dir, "t1").unwrap();
        drop(server);
        let mut response = String::new();
        client.read_to_string(&mut response).unwrap();
        (served, response)
    }

    fn status_of(response: &str) -> u16 {
        response[9..12].parse().unwrap()
    }

    fn body_of(response: &str) -> &str {
        response.split_once("\r\n\r\n").unwrap().1
    }

    #[test]
    fn serves_files_with_content_types() {
        let root = Root::new("files");
        let (served, r) = exchange(&root.0, b"GET / HTTP/1.1\r\nHost: x\r\n\r\n");
        assert_eq!(served.status, 200);
        assert!(
            r.contains("Content-Type: text/html; charset=utf-8\r\n"),
            "{r}"
        );
        assert!(r.contains("Content-Length: 14\r\n"));
        assert!(r.contains("X-Instance: t1\r\n"));
        assert!(r.contains("Connection: close\r\n"));
        assert_eq!(body_of(&r), "<h1>home</h1>\n");
        assert_eq!(served.bytes, 14);

        let (_, r) = exchange(&root.0, b"GET /style.css HTTP/1.0\r\n\r\n");
        assert!(r.contains("Content-Type: text/css"), "{r}");
        assert_eq!(body_of(&r), "body{}");

        let (_, r) = exchange(&root.0, b"GET /docs/a.txt?v=2 HTTP/1.1\r\n\r\n");
        assert_eq!(body_of(&r), "alpha");
        // A symlink that stays inside the root is fine.
        let (_, r) = exchange(&root.0, b"GET /inside-link HTTP/1.1\r\n\r\n");
        assert_eq!(body_of(&r), "alpha");
        // Bare LF line endings are accepted too.
        let (_, r) = exchange(&root.0, b"GET /docs/a.txt HTTP/1.0\n\n");
        assert_eq!(body_of(&r), "alpha");
    }

    #[test]
    fn head_sends_no_body() {
        let root = Root::new("head");
        let (served, r) = exchange(&root.0, b"HEAD /style.css HTTP/1.1\r\n\r\n");
        assert_eq!(served.status, 200);
        assert_eq!(served.bytes, 0);
        assert!(r.contains("Content-Length: 6\r\n"));
        assert_eq!(body_of(&r), "");
        let (_, r) = exchange(&root.0, b"HEAD /missing HTTP/1.1\r\n\r\n");
        assert_eq!(status_of(&r), 404);
        assert_eq!(body_of(&r), "");
    }

    #[test]
    fn escapes_are_refused() {
        let root = Root::new("escape");
        for (req, want) in [
            (&b"GET /../secret.txt HTTP/1.1\r\n\r\n"[..], 403),
            (b"GET /../../etc/passwd HTTP/1.1\r\n\r\n", 403),
            (b"GET /docs/../../secret.txt HTTP/1.1\r\n\r\n", 403),
            (b"GET /%2e%2e/secret.txt HTTP/1.1\r\n\r\n", 403),
            (b"GET /%2E%2e%2fsecret.txt HTTP/1.1\r\n\r\n", 403),
            (b"GET //etc/passwd HTTP/1.1\r\n\r\n", 404),
            (b"GET /abs-link HTTP/1.1\r\n\r\n", 403),
            (b"GET /rel-link HTTP/1.1\r\n\r\n", 403),
            (b"GET /missing.html HTTP/1.1\r\n\r\n", 404),
            (b"GET /style.css/x HTTP/1.1\r\n\r\n", 404),
            (b"GET etc/passwd HTTP/1.1\r\n\r\n", 400),
            (b"GET /a%00b HTTP/1.1\r\n\r\n", 400),
            (b"GET /a%zz HTTP/1.1\r\n\r\n", 400),
            (b"GET /%ff HTTP/1.1\r\n\r\n", 400),
        ] {
            let (served, r) = exchange(&root.0, req);
            assert_eq!(status_of(&r), want, "{}: {r}", String::from_utf8_lossy(req));
            assert_eq!(served.status, want);
            assert!(!r.contains("do not serve") && !r.contains("root:"), "{r}");
        }
    }

    #[test]
    fn bad_requests() {
        let root = Root::new("bad");
        let (_, r) = exchange(&root.0, b"POST / HTTP/1.1\r\n\r\n");
        assert_eq!(status_of(&r), 405);
        assert!(r.contains("Allow: GET, HEAD\r\n"));
        let (_, r) = exchange(&root.0, b"GET / HTTP/2.0\r\n\r\n");
        assert_eq!(status_of(&r), 505);
        for req in [
            &b"\r\n\r\n"[..],
            b"GET /\r\n\r\n",
            b"GET / HTTP/1.1 x\r\n\r\n",
            b"",
        ] {
            let (served, r) = exchange(&root.0, req);
            assert_eq!(status_of(&r), 400, "{r}");
            assert_eq!(served.status, 400);
        }
        let mut huge = b"GET /".to_vec();
        huge.extend(std::iter::repeat_n(b'a', MAX_HEAD + 10));
        let (_, r) = exchange(&root.0, &huge);
        assert_eq!(status_of(&r), 431);
    }

    #[test]
    fn directories_redirect() {
        let root = Root::new("dir");
        let (served, r) = exchange(&root.0, b"GET /docs HTTP/1.1\r\n\r\n");
        assert_eq!(served.status, 301);
        assert!(r.contains("Location: /docs/\r\n"), "{r}");
        let (_, r) = exchange(&root.0, b"GET /docs/ HTTP/1.1\r\n\r\n");
        assert_eq!(status_of(&r), 404);
    }

    #[test]
    fn slow_client_times_out() {
        let root = Root::new("slow");
        let (mut client, mut server) = UnixStream::pair().unwrap();
        client.write_all(b"GET / HTT").unwrap();
        server
            .set_read_timeout(Some(Duration::from_millis(50)))
            .unwrap();
        let served = handle(&mut server, root.dir(), "t").unwrap();
        assert_eq!(served.status, 408);
    }

    #[test]
    fn log_lines_are_escaped() {
        let s = Served {
            method: "GET".into(),
            target: "/x\"\n1970-01-01 fake".into(),
            status: 404,
            bytes: 14,
        };
        let line = s.log_line(
            "127.0.0.1:5",
            UNIX_EPOCH + Duration::from_secs(86_400 * 366),
        );
        assert_eq!(
            line,
            "1971-01-02T00:00:00Z 127.0.0.1:5 \"GET /x\\x22\\x0a1970-01-01 fake\" 404 14\n"
        );
        assert_eq!(line.matches('\n').count(), 1);
        assert_eq!(
            rfc3339(UNIX_EPOCH + Duration::from_secs(1_709_210_096)),
            "2024-02-29T12:34:56Z"
        );
    }
}
