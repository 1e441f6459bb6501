//! The demo web servers under `cloudabi-run`, loaded and attacked at the same time, on
//! loopback: 8 clients making 50 requests each, while 4 clients send their head one byte a
//! second, 4 stop sending in the middle of a request (half-close), 4 reset the connection in
//! the middle of one, 4 send a head larger than the server's `MAX_HEAD` (8192 bytes) and 4
//! ask for a path of 7000 bytes.
//!
//! Checked: every normal request gets the right status and body, each within
//! [`NORMAL_BOUND`] although the slow clients are connected all along (a server that serves
//! one connection at a time makes them wait for the slow clients' 10 s deadline, or longer);
//! the slow clients are cut at their deadline (10 s after accept), not kept alive by their
//! bytes; the oversized heads get 431; the access log has exactly one well-formed line per
//! answered request, none longer than `PIPE_BUF` (4096 bytes, so that even a line for the
//! longest request is one atomic write to the log pipe). Then the launcher is stopped (SIGTERM in one run, SIGKILL in another):
//! every process of the sandbox (recorded from `/proc/<pid>/task/*/children` before) must be
//! gone within [`GONE_BOUND`], and no log line may be lost.
//!
//! And the bound: with 64 connections open that send nothing, one more request is answered
//! only when the first of them is cut at its deadline.
//!
//! The Rust server is built as in `cli_webserver.rs` (or named by
//! `CLOUDABI_RUN_TEST_WEBSERVER`), the C one as in `cli_webserver_c.rs` (or named by
//! `CLOUDABI_RUN_TEST_WEBSERVER_C`).

mod common;

use std::io::{ErrorKind, Read, Write};
use std::net::{Shutdown, TcpStream};
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::process::Child;
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use common::cli::{Scratch, free_port, inside_private_mount_ns, site, start, wait_for_lines};

const WEBSERVER: &str = "CLOUDABI_RUN_TEST_WEBSERVER";
const WEBSERVER_C: &str = "CLOUDABI_RUN_TEST_WEBSERVER_C";

/// Concurrent clients making normal requests, and requests each.
const CLIENTS: usize = 8;
const PER_CLIENT: usize = 50;
/// Clients of each faulty kind.
const SLOW: usize = 4;
const HALF_CLOSE: usize = 4;
const RESET: usize = 4;
const OVERSIZED: usize = 4;
/// Clients asking for a path of [`LONG_PATH`] bytes (404), whose log lines must still fit
/// in one atomic pipe write.
const LONG: usize = 4;
const LONG_PATH: usize = 7000;
/// `PIPE_BUF` on Linux: a write of at most this many bytes to a pipe is never interleaved
/// with another, even from another process (`--instances` share the log pipe).
const PIPE_BUF: usize = 4096;

/// The longest a normal request may take while the slow clients are connected. The servers'
/// head deadline is 10 s: a server that lets a slow client hold it up cannot meet this.
const NORMAL_BOUND: Duration = Duration::from_secs(2);
/// The servers' deadline for a request head, counted from the accept.
const HEAD_DEADLINE: Duration = Duration::from_secs(10);
/// How long after the launcher has ended every process of its sandbox must be gone.
const GONE_BOUND: Duration = Duration::from_secs(20);
/// The servers' limit on the request head (`MAX_HEAD` in both servers).
const MAX_HEAD: usize = 8192;

/// The normal requests cycle through these: (path, status, body).
const PAGES: [(&str, u16, &str); 4] = [
    ("/", 200, "<h1>sandboxed</h1>\n"),
    ("/style.css", 200, "h1 { color: red }\n"),
    ("/docs/notes.txt", 200, "notes\n"),
    ("/missing.html", 404, "404 Not Found\n"),
];

fn rust_server() -> PathBuf {
    common::cli::static_cargo_binary("webserver", &["--bin", "webserver"], "webserver", WEBSERVER)
}

#[derive(Clone, Copy, Debug)]
enum Stop {
    Term,
    Kill,
}

#[test]
fn rust_server_under_load_and_faults_then_sigterm() {
    let env = [(WEBSERVER, rust_server().display().to_string())];
    if !inside_private_mount_ns("rust_server_under_load_and_faults_then_sigterm", &env) {
        return;
    }
    load_and_faults(&rust_server(), Stop::Term);
}

#[test]
fn rust_server_under_load_and_faults_then_sigkill() {
    let env = [(WEBSERVER, rust_server().display().to_string())];
    if !inside_private_mount_ns("rust_server_under_load_and_faults_then_sigkill", &env) {
        return;
    }
    load_and_faults(&rust_server(), Stop::Kill);
}

#[test]
fn c_server_under_load_and_faults_then_sigkill() {
    let server = common::cli::c_webserver(WEBSERVER_C);
    let env = [(WEBSERVER_C, server.display().to_string())];
    if !inside_private_mount_ns("c_server_under_load_and_faults_then_sigkill", &env) {
        return;
    }
    load_and_faults(&server, Stop::Kill);
}

/// The servers' bound on connections served at once.
const MAX_CONNECTIONS: usize = 64;

#[test]
fn rust_server_serves_at_most_64_connections_at_once() {
    let env = [(WEBSERVER, rust_server().display().to_string())];
    if !inside_private_mount_ns("rust_server_serves_at_most_64_connections_at_once", &env) {
        return;
    }
    at_most_64_at_once(&rust_server());
}

#[test]
fn c_server_serves_at_most_64_connections_at_once() {
    let server = common::cli::c_webserver(WEBSERVER_C);
    let env = [(WEBSERVER_C, server.display().to_string())];
    if !inside_private_mount_ns("c_server_serves_at_most_64_connections_at_once", &env) {
        return;
    }
    at_most_64_at_once(&server);
}

/// 64 connections that send nothing take every slot: one more request is answered only
/// when the first of them is cut at its head deadline, and then promptly. A server without
/// the bound answers it at once; one serving connections one by one, after 64 deadlines.
fn at_most_64_at_once(server: &Path) {
    let s = Scratch::new("web-bound");
    site(&s);
    let port = free_port();
    let _launcher = KillOnDrop(Some(start(&s, server, port, &[])));
    // `start`'s connection is done with (logged), so its slot is (about to be) free again.
    wait_for_lines(&s.path("access.log"), 1, Duration::from_secs(10));
    let first = Instant::now();
    let idle: Vec<TcpStream> = (0..MAX_CONNECTIONS)
        .map(|_| TcpStream::connect(("127.0.0.1", port)).expect("connect"))
        .collect();
    let t = Instant::now();
    let got = exchange(port, b"GET / HTTP/1.0\r\n\r\n", false);
    let answered = Instant::now();
    assert_eq!(got, Ok((200, PAGES[0].2.to_owned())));
    // Each idle connection's deadline counts from its accept, after `first`.
    assert!(
        answered - first >= HEAD_DEADLINE - Duration::from_millis(100),
        "answered after {:?} with {MAX_CONNECTIONS} connections open",
        answered - t
    );
    assert!(
        answered - t < HEAD_DEADLINE * 2,
        "answered only after {:?}",
        answered - t
    );
    // The idle connections were answered 408 (and logged) when cut.
    for mut c in idle {
        c.set_read_timeout(Some(Duration::from_secs(15))).unwrap();
        let mut raw = Vec::new();
        let _ = c.read_to_end(&mut raw);
        assert!(
            raw.starts_with(b"HTTP/1.1 408 "),
            "{}",
            String::from_utf8_lossy(&raw)
        );
    }
    let log = wait_for_lines(
        &s.path("access.log"),
        2 + MAX_CONNECTIONS,
        Duration::from_secs(10),
    );
    assert_eq!(log.matches("\" 408 ").count(), MAX_CONNECTIONS, "{log}");
}

/// A response read to the end of the connection: (status, body).
fn parse(raw: &[u8]) -> Result<(u16, String), String> {
    let text = String::from_utf8_lossy(raw);
    let (head, body) = text
        .split_once("\r\n\r\n")
        .ok_or_else(|| format!("no end of head in {text:?}"))?;
    let status = head
        .get(9..12)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| format!("no status in {head:?}"))?;
    Ok((status, body.to_owned()))
}

/// Sends `request` (then half-closes when `half_close`) and reads the answer to the end of
/// the connection, waiting at most 15 s for any read.
fn exchange(port: u16, request: &[u8], half_close: bool) -> Result<(u16, String), String> {
    let mut c = TcpStream::connect(("127.0.0.1", port)).map_err(|e| format!("connect: {e}"))?;
    c.set_read_timeout(Some(Duration::from_secs(15)))
        .map_err(|e| e.to_string())?;
    c.write_all(request).map_err(|e| format!("send: {e}"))?;
    if half_close {
        c.shutdown(Shutdown::Write).map_err(|e| e.to_string())?;
    }
    let mut raw = Vec::new();
    c.read_to_end(&mut raw)
        .map_err(|e| format!("receive: {e} after {} bytes", raw.len()))?;
    parse(&raw)
}

/// One normal client: `PER_CLIENT` requests, one connection each. Returns the slowest
/// request's time, or the first failure.
fn normal_client(port: u16, client: usize) -> Result<Duration, String> {
    let mut slowest = Duration::ZERO;
    for i in 0..PER_CLIENT {
        let (path, status, body) = PAGES[(client + i) % PAGES.len()];
        let request = format!("GET {path} HTTP/1.1\r\nHost: localhost\r\n\r\n");
        let t = Instant::now();
        let got = exchange(port, request.as_bytes(), false);
        let took = t.elapsed();
        match got {
            Ok((s, b)) if s == status && b == body => {}
            Ok(other) => return Err(format!("{path}: got {other:?}")),
            Err(e) => return Err(format!("{path}: {e} after {took:?}")),
        }
        if took > NORMAL_BOUND {
            return Err(format!("{path} took {took:?}, more than {NORMAL_BOUND:?}"));
        }
        slowest = slowest.max(took);
    }
    Ok(slowest)
}

/// A slow client: sends the start of a head, says so on `ready`, then one more byte each
/// second (a read with a one-second timeout paces it) until the server ends the connection.
/// Returns when it connected and when the connection ended, with what the server sent, or
/// an error when the server still has not cut it after 40 s.
fn slow_client(port: u16, ready: mpsc::Sender<()>) -> Result<(Instant, Instant, Vec<u8>), String> {
    let t = Instant::now();
    let mut c = TcpStream::connect(("127.0.0.1", port)).map_err(|e| format!("connect: {e}"))?;
    c.write_all(b"GET / HTTP/1.1\r\nX-Slow: ")
        .map_err(|e| format!("send: {e}"))?;
    let _ = ready.send(());
    c.set_read_timeout(Some(Duration::from_secs(1)))
        .map_err(|e| e.to_string())?;
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    for _ in 0..40 {
        match c.read(&mut buf) {
            Ok(0) => return Ok((t, Instant::now(), got)),
            Ok(n) => got.extend_from_slice(&buf[..n]),
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                if got.is_empty() && c.write_all(b"a").is_err() {
                    return Ok((t, Instant::now(), got));
                }
            }
            // Reset: the server closed with our last byte unread.
            Err(_) => return Ok((t, Instant::now(), got)),
        }
    }
    Err(format!("still connected after {:?}", t.elapsed()))
}

/// Sends the start of a request and resets the connection (`SO_LINGER` 0, then close).
fn reset_client(port: u16) {
    let Ok(mut c) = TcpStream::connect(("127.0.0.1", port)) else {
        return;
    };
    let _ = c.write_all(b"GET /ind");
    let linger = libc::linger {
        l_onoff: 1,
        l_linger: 0,
    };
    // SAFETY: `linger` is a valid `struct linger` of the size passed; the socket is open.
    unsafe {
        libc::setsockopt(
            c.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_LINGER,
            (&raw const linger).cast(),
            size_of::<libc::linger>() as libc::socklen_t,
        );
    }
}

/// Every process below `pid` (children of all its threads, recursively), each with its
/// start time (field 22 of `/proc/<pid>/stat`) so that a reused pid is not mistaken for it.
fn descendants(pid: u32) -> Vec<(u32, u64)> {
    let mut out = Vec::new();
    let mut todo = vec![pid];
    while let Some(p) = todo.pop() {
        let Ok(tasks) = std::fs::read_dir(format!("/proc/{p}/task")) else {
            continue;
        };
        for task in tasks.flatten() {
            let children =
                std::fs::read_to_string(task.path().join("children")).unwrap_or_default();
            for child in children.split_whitespace().filter_map(|c| c.parse().ok()) {
                if let Some(start) = start_time(child) {
                    out.push((child, start));
                    todo.push(child);
                }
            }
        }
    }
    out
}

/// The start time of `pid` while it is alive (not a zombie).
fn start_time(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) is in parentheses and may hold spaces.
    let rest = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split(' ').collect();
    if fields.first() == Some(&"Z") {
        return None;
    }
    fields.get(19)?.parse().ok()
}

/// Waits up to `limit` until the launcher `child` has ended.
fn wait_exit(child: &mut Child, limit: Duration) -> std::process::ExitStatus {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(st) = child.try_wait().unwrap() {
            return st;
        }
        assert!(Instant::now() < deadline, "the launcher did not end");
        thread::sleep(Duration::from_millis(20));
    }
}

/// Checks that a log line has the shape both servers write: a UTC time, the request in
/// quotes (escaped, so exactly two quote marks), the status and the body size.
fn well_formed(line: &str) -> Option<u16> {
    let mut words = line.split(' ');
    let time = words.next()?;
    let ok_time = time.len() == 20 && time.ends_with('Z') && time.as_bytes()[10] == b'T';
    let words: Vec<&str> = line.rsplitn(3, ' ').collect();
    let status: u16 = words.get(1)?.parse().ok()?;
    let _bytes: u64 = words.first()?.parse().ok()?;
    (ok_time && line.matches('"').count() == 2 && words.get(2)?.ends_with('"')).then_some(status)
}

/// The launcher, killed when a failed assertion unwinds past it (so that a failure does not
/// leave the server running until the launcher's `--timeout`).
struct KillOnDrop(Option<Child>);

impl KillOnDrop {
    fn child(&mut self) -> &mut Child {
        self.0.as_mut().expect("the launcher")
    }
}

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        if let Some(mut c) = self.0.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

fn load_and_faults(server: &Path, stop: Stop) {
    let s = Scratch::new("web-load");
    site(&s);
    let port = free_port();
    // `start` connects once to see the server up; that empty request is answered with 400.
    let mut launcher = KillOnDrop(Some(start(&s, server, port, &[])));
    assert_eq!(
        exchange(port, b"GET / HTTP/1.0\r\n\r\n", false),
        Ok((200, PAGES[0].2.to_owned()))
    );
    // Both connections so far (`start`'s and that request) are logged before the load, so
    // that every line counted at the end was certainly written before the launcher is stopped.
    let early = wait_for_lines(&s.path("access.log"), 2, Duration::from_secs(10));
    assert_eq!(early.lines().count(), 2, "{early}");
    // The server has answered, so the whole tree exists: init(s), the program, the relay.
    let sandbox = descendants(launcher.child().id());
    assert!(sandbox.len() >= 2, "{sandbox:?}");
    eprintln!("sandbox processes (pid, start time): {sandbox:?}");

    // The slow clients first: they are connected all through the load.
    let (ready_tx, ready) = mpsc::channel();
    let slow: Vec<_> = (0..SLOW)
        .map(|_| {
            let tx = ready_tx.clone();
            thread::spawn(move || slow_client(port, tx))
        })
        .collect();
    for _ in 0..SLOW {
        ready
            .recv_timeout(Duration::from_secs(10))
            .expect("a slow client connected");
    }
    let load_start = Instant::now();

    let half_close: Vec<_> = (0..HALF_CLOSE)
        .map(|_| thread::spawn(move || exchange(port, b"GET /docs/no", true)))
        .collect();
    let reset: Vec<_> = (0..RESET)
        .map(|_| thread::spawn(move || reset_client(port)))
        .collect();
    let oversized: Vec<_> = (0..OVERSIZED)
        .map(|_| {
            thread::spawn(move || {
                let mut req = b"GET / HTTP/1.1\r\nX-Big: ".to_vec();
                req.extend(std::iter::repeat_n(b'a', MAX_HEAD + 1000));
                req.extend_from_slice(b"\r\n\r\n");
                exchange(port, &req, true)
            })
        })
        .collect();
    let long: Vec<_> = (0..LONG)
        .map(|_| {
            thread::spawn(move || {
                let path = "a".repeat(LONG_PATH);
                let req = format!("GET /{path} HTTP/1.1\r\nHost: localhost\r\n\r\n");
                exchange(port, req.as_bytes(), false)
            })
        })
        .collect();
    let normal: Vec<_> = (0..CLIENTS)
        .map(|client| thread::spawn(move || normal_client(port, client)))
        .collect();

    let normal: Vec<_> = normal.into_iter().map(|h| h.join().unwrap()).collect();
    let load_end = Instant::now();
    for r in &normal {
        assert!(
            r.is_ok(),
            "normal requests with {SLOW} slow clients connected: {normal:?}"
        );
    }
    eprintln!(
        "{} normal requests in {:?}, slowest {:?}",
        CLIENTS * PER_CLIENT,
        load_end - load_start,
        normal.iter().flatten().max()
    );
    for h in half_close {
        let got = h.join().unwrap();
        assert!(matches!(got, Ok((400, _))), "half-closed request: {got:?}");
    }
    for h in oversized {
        let got = h.join().unwrap();
        assert_eq!(
            got,
            Ok((431, "431 Request Header Fields Too Large\n".to_owned())),
            "oversized head"
        );
    }
    for h in long {
        let got = h.join().unwrap();
        assert_eq!(got, Ok((404, "404 Not Found\n".to_owned())), "long path");
    }
    for h in reset {
        h.join().unwrap();
    }
    for h in slow {
        let (connected, ended, got) = h.join().unwrap().expect("the slow client was cut");
        // It was connected while all normal requests were made, so the bound above held
        // with it connected.
        assert!(ended > load_end, "a slow client ended before the load did");
        // Cut at the deadline (counted from the accept, after our connect), not earlier and
        // not much later.
        let took = ended - connected;
        assert!(
            took >= HEAD_DEADLINE - Duration::from_millis(500) && took < HEAD_DEADLINE * 2,
            "slow client cut after {took:?}"
        );
        let text = String::from_utf8_lossy(&got);
        assert!(
            got.is_empty() || text.starts_with("HTTP/1.1 408 "),
            "slow client got {text:?}"
        );
    }

    // Each answered connection's line was written before the server closed it, and every
    // client has seen its connection end: all lines are in the log or on their way.
    match stop {
        Stop::Term => {
            // SAFETY: kill has no memory-safety preconditions.
            unsafe {
                libc::kill(launcher.child().id() as i32, libc::SIGTERM);
            }
            let st = wait_exit(launcher.child(), Duration::from_secs(20));
            assert_eq!(st.code(), Some(143), "{st:?}");
        }
        Stop::Kill => {
            launcher.child().kill().unwrap();
            let st = wait_exit(launcher.child(), Duration::from_secs(20));
            assert_eq!(
                std::os::unix::process::ExitStatusExt::signal(&st),
                Some(libc::SIGKILL)
            );
        }
    }
    let deadline = Instant::now() + GONE_BOUND;
    loop {
        let left: Vec<_> = sandbox
            .iter()
            .filter(|(pid, start)| start_time(*pid) == Some(*start))
            .collect();
        if left.is_empty() {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "still running {GONE_BOUND:?} after the launcher ended ({stop:?}): {left:?}"
        );
        thread::sleep(Duration::from_millis(20));
    }

    // The relay is gone, so it has appended everything it was given.
    let expected = 2 + CLIENTS * PER_CLIENT + SLOW + HALF_CLOSE + OVERSIZED + LONG;
    let log = wait_for_lines(&s.path("access.log"), expected, Duration::ZERO);
    assert!(log.ends_with('\n'), "{log}");
    for line in log.split_inclusive('\n') {
        assert!(
            line.len() <= PIPE_BUF,
            "a log line of {} bytes: {line}",
            line.len()
        );
    }
    let statuses: Vec<u16> = log
        .lines()
        .map(|l| well_formed(l).unwrap_or_else(|| panic!("malformed log line {l:?}")))
        .collect();
    let count = |status| statuses.iter().filter(|&&s| s == status).count();
    let per_page = CLIENTS * PER_CLIENT / PAGES.len();
    assert_eq!(statuses.len(), expected, "{log}");
    // The first request, and three of every four normal ones.
    assert_eq!(count(200), 1 + 3 * per_page);
    assert_eq!(count(404), per_page + LONG);
    // `start`'s connection and the half-closed requests.
    assert_eq!(count(400), 1 + HALF_CLOSE);
    assert_eq!(count(408), SLOW);
    assert_eq!(count(431), OVERSIZED);
}
