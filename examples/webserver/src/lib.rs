//! A small static web server for the `cloudabi-run` demo, as a library.
//!
//! The server holds exactly three capabilities: a listening socket, a directory descriptor
//! for the document root (read-only) and a log it can only append to. [`handle`] serves one
//! connection over any `Read + Write` stream, opening files strictly beneath the root with
//! `openat2(RESOLVE_BENEATH)`, so it can be tested without a network: the tests below run it
//! on a UNIX socket pair with a temporary directory as the root. [`Deadline`] wraps a
//! connection so that all its reads (and all its writes) end by a fixed time, however the
//! client paces its bytes; the server binary serves each connection on a thread of its own
//! through it.
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

/// The HTTP side without I/O (the `webserver-http` crate, shared with the CloudABI build).
pub use webserver_http as http;

use std::fs::File;
use std::io::{self, Read, Write};
use std::os::fd::AsFd;
use std::os::unix::net::UnixStream;
use std::time::{Duration, Instant};

use rustix::fs::{FileType, Mode, OFlags, ResolveFlags};
use rustix::io::Errno;

pub use http::{MAX_HEAD, Served, content_type, reason, relative_path};
use http::{Route, error_answer, file_head, find_end, redirect_answer, route};

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

/// A connection whose reads and writes all end by fixed points in time, however the client
/// paces its bytes.
///
/// A per-call socket timeout restarts with every byte that arrives, so a client sending one
/// byte a second could hold a connection open for hours. `Deadline` instead sets, before each
/// call, the socket timeout to what is left until the read (or write) deadline; once that
/// has passed, the call fails with [`io::ErrorKind::TimedOut`] without touching the socket.
/// [`handle`] answers a head that does not arrive in time with 408.
///
/// ```
/// use std::io::Read;
/// use std::os::unix::net::UnixStream;
/// use std::time::{Duration, Instant};
///
/// let (_client, server) = UnixStream::pair()?;
/// let now = Instant::now();
/// let mut conn = webserver::Deadline::new(server, now, now + Duration::from_secs(1));
/// let err = conn.read(&mut [0u8; 16]).unwrap_err();
/// assert_eq!(err.kind(), std::io::ErrorKind::TimedOut);
/// # Ok::<(), std::io::Error>(())
/// ```
#[derive(Debug)]
pub struct Deadline {
    stream: UnixStream,
    read_by: Instant,
    write_by: Instant,
}

impl Deadline {
    /// Wraps `stream`: reads must be done by `read_by`, writes by `write_by`.
    #[must_use]
    pub fn new(stream: UnixStream, read_by: Instant, write_by: Instant) -> Deadline {
        Deadline {
            stream,
            read_by,
            write_by,
        }
    }

    /// The stream itself (for the caller to close or shut down).
    #[must_use]
    pub fn into_inner(self) -> UnixStream {
        self.stream
    }

    /// What is left until `by`, or the `TimedOut` error once nothing is.
    fn left(by: Instant) -> io::Result<Duration> {
        let left = by.saturating_duration_since(Instant::now());
        if left.is_zero() {
            Err(io::Error::new(
                io::ErrorKind::TimedOut,
                "the connection's deadline has passed",
            ))
        } else {
            Ok(left)
        }
    }
}

impl Read for Deadline {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let left = Deadline::left(self.read_by)?;
        self.stream.set_read_timeout(Some(left))?;
        self.stream.read(buf)
    }
}

impl Write for Deadline {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let left = Deadline::left(self.write_by)?;
        self.stream.set_write_timeout(Some(left))?;
        self.stream.write(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.stream.flush()
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
    let mut served = Served::default();
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
    let (rel, head_only) = match route(&head, &mut served) {
        Route::File { rel, head_only } => (rel, head_only),
        Route::Error { status, head_only } => {
            served.status = status;
            return respond_error(stream, &mut served, instance, head_only).map(|()| served);
        }
    };
    match open_beneath(root, &rel) {
        Ok(Some((mut file, len))) => {
            served.status = 200;
            stream.write_all(file_head(instance, &rel, len).as_bytes())?;
            if !head_only {
                served.bytes = io::copy(&mut (&mut file).take(len), stream)?;
            }
            stream.flush()?;
        }
        Ok(None) => {
            // A directory named without the trailing slash: send the client to it.
            served.status = 301;
            stream.write_all(redirect_answer(instance, &served.target).as_bytes())?;
            stream.flush()?;
        }
        Err(status) => {
            served.status = status;
            respond_error(stream, &mut served, instance, head_only)?;
        }
    }
    Ok(served)
}

/// Sends the error answer for `served.status` (only the head when `head_only`).
fn respond_error<S: Write>(
    stream: &mut S,
    served: &mut Served,
    instance: &str,
    head_only: bool,
) -> io::Result<()> {
    stream.write_all(error_answer(served, instance, head_only).as_bytes())?;
    stream.flush()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;
    use std::os::unix::net::UnixStream;
    use std::path::{Path, PathBuf};
    use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

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

    /// A client that sends one byte every 10 ms and never ends its head is cut at the read
    /// deadline with 408, although no single read waits long: per-read timeouts alone would
    /// keep it (it would take 80 s to reach `MAX_HEAD`).
    #[test]
    fn trickling_client_is_cut_at_the_deadline() {
        let root = Root::new("trickle");
        let (mut client, server) = UnixStream::pair().unwrap();
        let mut reader = client.try_clone().unwrap();
        let trickle = std::thread::spawn(move || {
            client.write_all(b"GET / HTTP/1.1\r\nX-Slow: ").unwrap();
            // Until the server closes its end (EPIPE) or 60 s have passed.
            for _ in 0..6000 {
                if client.write_all(b"a").is_err() {
                    break;
                }
                std::thread::sleep(Duration::from_millis(10));
            }
        });
        let start = Instant::now();
        let mut conn = Deadline::new(
            server,
            start + Duration::from_millis(300),
            start + Duration::from_secs(5),
        );
        let served = handle(&mut conn, root.dir(), "t").unwrap();
        assert_eq!(served.status, 408);
        assert_eq!(served.method, "-");
        assert!(start.elapsed() >= Duration::from_millis(300));
        drop(conn);
        let mut response = Vec::new();
        let _ = reader.read_to_end(&mut response);
        let response = String::from_utf8_lossy(&response);
        assert!(response.starts_with("HTTP/1.1 408 "), "{response}");
        trickle.join().unwrap();
    }

    /// A client that never reads its answer holds the server only until the write deadline.
    #[test]
    fn client_that_does_not_read_is_cut_at_the_write_deadline() {
        let root = Root::new("noread");
        std::fs::write(root.0.join("www/big.bin"), vec![7u8; 8 << 20]).unwrap();
        let (mut client, server) = UnixStream::pair().unwrap();
        client.write_all(b"GET /big.bin HTTP/1.1\r\n\r\n").unwrap();
        let start = Instant::now();
        let mut conn = Deadline::new(
            server,
            start + Duration::from_secs(5),
            start + Duration::from_millis(300),
        );
        let err = handle(&mut conn, root.dir(), "t").unwrap_err();
        assert!(
            matches!(
                err.kind(),
                io::ErrorKind::TimedOut | io::ErrorKind::WouldBlock
            ),
            "{err:?}"
        );
        drop(client);
    }

    /// However long the request, its log line fits in one atomic pipe write (`PIPE_BUF`),
    /// and the cut never splits an escape.
    #[test]
    fn long_log_lines_are_cut() {
        let s = Served {
            method: "GET".into(),
            target: format!("/{}", "a".repeat(8000)),
            status: 404,
            bytes: 14,
        };
        let line = s.log_line("127.0.0.1:5", 0);
        assert_eq!(line.len(), http::MAX_LOG_LINE);
        assert!(line.starts_with("1970-01-01T00:00:00Z 127.0.0.1:5 \"GET /aaa"));
        assert!(line.ends_with("aaa...\" 404 14\n"), "{line}");

        // Every byte escaped (4 bytes each), method too long as well.
        let s = Served {
            method: "M".repeat(100),
            target: "\n".repeat(3000),
            status: 400,
            bytes: 16,
        };
        let line = s.log_line("unix", 0);
        assert!(line.len() <= http::MAX_LOG_LINE, "{}", line.len());
        let (_, request) = line.split_once('"').unwrap();
        let (request, rest) = request.split_once('"').unwrap();
        assert_eq!(rest, " 400 16\n");
        let (method, target) = request.split_once(' ').unwrap();
        assert_eq!(method, format!("{}...", "M".repeat(61)));
        let escapes = target.strip_suffix("...").unwrap();
        assert_eq!(escapes.len() % 4, 0);
        assert!(escapes.len() > 3800, "{}", escapes.len());
        assert_eq!(escapes, "\\x0a".repeat(escapes.len() / 4));

        // What fits is not cut.
        let s = Served {
            method: "GET".into(),
            target: "/x\"".into(),
            status: 404,
            bytes: 14,
        };
        assert_eq!(
            s.log_line("p", 0),
            "1970-01-01T00:00:00Z p \"GET /x\\x22\" 404 14\n"
        );
    }

    #[test]
    fn log_lines_are_escaped() {
        let s = Served {
            method: "GET".into(),
            target: "/x\"\n1970-01-01 fake".into(),
            status: 404,
            bytes: 14,
        };
        let line = s.log_line("127.0.0.1:5", 86_400 * 366);
        assert_eq!(
            line,
            "1971-01-02T00:00:00Z 127.0.0.1:5 \"GET /x\\x22\\x0a1970-01-01 fake\" 404 14\n"
        );
        assert_eq!(line.matches('\n').count(), 1);
        assert_eq!(http::rfc3339(1_709_210_096), "2024-02-29T12:34:56Z");
    }
}
