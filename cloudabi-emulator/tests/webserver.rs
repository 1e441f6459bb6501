//! The CloudABI web server (`examples/cloudabi/src/bin/webserver.rs`) as a real CloudABI
//! executable, fed connections over a socket as `docs/connections.md` describes:
//!
//! * x86-64 under the emulator library, the test playing the launcher with socket pairs
//!   (no network);
//! * AArch64 the same way through `qemu-aarch64-static cloudabi-emulate PROGRAM CONFIG.yaml`
//!   (by hand, the stream inherited as `!fd N`);
//! * x86-64 end to end in `cloudabi-run --emulate`'s sandbox with `!connections` and a real
//!   TCP client.
//!
//! They need Debian's toolchain (`cargo xtask cloudabi install-toolchain`); without it each
//! test prints why and passes as skipped, unless `CLOUDABI_REQUIRE_TOOLCHAIN=1`.

use std::io::{Read, Write};
use std::net::{Shutdown, TcpStream};
use std::os::fd::{AsFd, AsRawFd};
use std::os::unix::net::UnixStream;
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use argdata::socket::ArgdataWriter;
use argdata::{Fd, Value};
use cloudabi_emulator::Emulator;
use cloudabi_test_support::guest::{
    aarch64_tools_present, built, cloudabi_run, emulator, encode, open, root,
};

/// How long a response may take (generous: AArch64 runs under qemu on a shared machine).
const RESPONSE_TIMEOUT: Duration = Duration::from_secs(60);

/// A document root: a copy of `examples/www` plus what the escape tests need, next to a
/// secret that must never be served.
struct Site {
    dir: tempfile::TempDir,
}

impl Site {
    fn new() -> Site {
        let dir = tempfile::tempdir().unwrap();
        let www = dir.path().join("www");
        std::fs::create_dir_all(www.join("sub")).unwrap();
        for name in ["index.html", "style.css", "about.txt"] {
            std::fs::copy(root().join("examples/www").join(name), www.join(name)).unwrap();
        }
        std::fs::write(dir.path().join("secret.txt"), "do not serve").unwrap();
        std::os::unix::fs::symlink("/etc/passwd", www.join("abs-link")).unwrap();
        std::os::unix::fs::symlink("../secret.txt", www.join("rel-link")).unwrap();
        std::os::unix::fs::symlink("style.css", www.join("inside-link")).unwrap();
        std::fs::write(dir.path().join("access.log"), "").unwrap();
        Site { dir }
    }

    fn www(&self) -> PathBuf {
        self.dir.path().join("www")
    }

    fn log(&self) -> PathBuf {
        self.dir.path().join("access.log")
    }
}

/// The exact bytes of a file of `examples/www`.
fn www_file(name: &str) -> Vec<u8> {
    std::fs::read(root().join("examples/www").join(name)).unwrap()
}

/// A parsed response.
#[derive(Debug)]
struct Response {
    status: u16,
    head: String,
    body: Vec<u8>,
}

impl Response {
    fn parse(raw: &[u8]) -> Response {
        let split = raw
            .windows(4)
            .position(|w| w == b"\r\n\r\n")
            .unwrap_or_else(|| panic!("no head in {:?}", String::from_utf8_lossy(raw)));
        let head = String::from_utf8(raw[..split].to_vec()).unwrap();
        assert!(head.starts_with("HTTP/1.1 "), "{head}");
        Response {
            status: head[9..12].parse().unwrap(),
            body: raw[split + 4..].to_vec(),
            head,
        }
    }

    fn header(&self, name: &str) -> Option<&str> {
        self.head.lines().skip(1).find_map(|l| {
            let (k, v) = l.split_once(": ")?;
            k.eq_ignore_ascii_case(name).then_some(v)
        })
    }
}

/// Sends `request` on a client stream and reads the whole response.
fn exchange<S: Read + Write>(mut client: S, request: &[u8], shutdown: impl FnOnce(&S)) -> Response {
    client.write_all(request).unwrap();
    shutdown(&client);
    let mut raw = Vec::new();
    client.read_to_end(&mut raw).unwrap();
    Response::parse(&raw)
}

/// The test's half of the connection stream: it plays the launcher.
struct Launcher {
    stream: UnixStream,
    peers: usize,
}

impl Launcher {
    fn new(stream: UnixStream) -> Launcher {
        Launcher { stream, peers: 0 }
    }

    /// Hands the server one end of a new socket pair as a connection; returns the other
    /// end and the peer text sent along.
    fn connect(&mut self) -> (UnixStream, String) {
        let (client, server) = UnixStream::pair().unwrap();
        client.set_read_timeout(Some(RESPONSE_TIMEOUT)).unwrap();
        self.peers += 1;
        let peer = format!("pair-{}", self.peers);
        let message = Value::map([
            ("connection", Value::from(Fd(server.as_raw_fd()))),
            ("peer", Value::from(peer.as_str())),
        ]);
        let enc = message.encode();
        ArgdataWriter::new(4096, 4)
            .push(&self.stream, &enc.bytes, &[server.as_fd()])
            .unwrap();
        (client, peer)
    }

    /// Sends a request over a new connection and reads the response.
    fn request(&mut self, request: &[u8]) -> (Response, String) {
        let (client, peer) = self.connect();
        let r = exchange(client, request, |c| {
            c.shutdown(Shutdown::Write).unwrap();
        });
        (r, peer)
    }

    /// Sends `message` as the reference `argdata_writer_push` does: the 8-byte big-endian
    /// length and the data in one `sendmsg`, with the descriptors attached to it.
    fn push_reference(&self, bytes: &[u8], fds: &[std::os::fd::BorrowedFd<'_>]) {
        use rustix::net::{SendAncillaryBuffer, SendAncillaryMessage, SendFlags, sendmsg};
        let len = u8::try_from(bytes.len()).expect("a short message");
        let mut wire = vec![0, 0, 0, 0, 0, 0, 0, len];
        wire.extend_from_slice(bytes);
        let mut space =
            vec![std::mem::MaybeUninit::uninit(); rustix::cmsg_space!(ScmRights(fds.len()))];
        let mut control = SendAncillaryBuffer::new(&mut space);
        assert!(control.push(SendAncillaryMessage::ScmRights(fds)));
        let sent = sendmsg(
            &self.stream,
            &[std::io::IoSlice::new(&wire)],
            &mut control,
            SendFlags::NOSIGNAL,
        )
        .unwrap();
        assert_eq!(sent, wire.len());
    }
}

/// One expected log line: the request and the answer.
struct Logged {
    peer: String,
    method: &'static str,
    target: &'static str,
    status: u16,
    bytes: usize,
}

/// Runs the whole request set against a server reading `launcher`'s stream, with a
/// [`Site`] as its document root; returns the log lines to expect, in order.
fn exercise(launcher: &mut Launcher) -> Vec<Logged> {
    let mut log = Vec::new();
    let mut expect = |launcher: &mut Launcher,
                      method: &'static str,
                      target: &'static str,
                      request: &[u8],
                      status: u16|
     -> Response {
        let (r, peer) = launcher.request(request);
        assert_eq!(
            r.status,
            status,
            "{}: {}",
            String::from_utf8_lossy(request),
            r.head
        );
        let body = String::from_utf8_lossy(&r.body);
        assert!(
            !body.contains("root:") && !body.contains("do not serve"),
            "{body}"
        );
        if method != "HEAD" {
            assert_eq!(
                r.header("Content-Length")
                    .map(|l| l.parse::<usize>().unwrap()),
                Some(r.body.len()),
                "{}",
                r.head
            );
        }
        log.push(Logged {
            peer,
            method,
            target,
            status,
            bytes: r.body.len(),
        });
        r
    };

    // Files, with their exact bytes.
    let r = expect(
        launcher,
        "GET",
        "/",
        b"GET / HTTP/1.1\r\nHost: x\r\n\r\n",
        200,
    );
    assert_eq!(r.body, www_file("index.html"));
    assert_eq!(r.header("Content-Type"), Some("text/html; charset=utf-8"));
    assert_eq!(r.header("Connection"), Some("close"));
    let r = expect(
        launcher,
        "GET",
        "/style.css",
        b"GET /style.css HTTP/1.0\r\n\r\n",
        200,
    );
    assert_eq!(r.body, www_file("style.css"));
    assert_eq!(r.header("Content-Type"), Some("text/css; charset=utf-8"));
    let r = expect(
        launcher,
        "GET",
        "/about.txt?v=2",
        b"GET /about.txt?v=2 HTTP/1.1\n\n",
        200,
    );
    assert_eq!(r.body, www_file("about.txt"));
    let r = expect(
        launcher,
        "HEAD",
        "/index.html",
        b"HEAD /index.html HTTP/1.1\r\n\r\n",
        200,
    );
    assert!(r.body.is_empty());
    assert_eq!(
        r.header("Content-Length"),
        Some(www_file("index.html").len().to_string().as_str())
    );
    // A symbolic link that stays inside the root is followed.
    let r = expect(
        launcher,
        "GET",
        "/inside-link",
        b"GET /inside-link HTTP/1.1\r\n\r\n",
        200,
    );
    assert_eq!(r.body, www_file("style.css"));

    // Escapes: `..` (plain and encoded) and symbolic links out of the root.
    expect(
        launcher,
        "GET",
        "/../../etc/passwd",
        b"GET /../../etc/passwd HTTP/1.1\r\n\r\n",
        403,
    );
    expect(
        launcher,
        "GET",
        "/%2e%2e/secret.txt",
        b"GET /%2e%2e/secret.txt HTTP/1.1\r\n\r\n",
        403,
    );
    expect(
        launcher,
        "GET",
        "/abs-link",
        b"GET /abs-link HTTP/1.1\r\n\r\n",
        403,
    );
    expect(
        launcher,
        "GET",
        "/rel-link",
        b"GET /rel-link HTTP/1.1\r\n\r\n",
        403,
    );

    // Everything else.
    expect(
        launcher,
        "GET",
        "/missing.html",
        b"GET /missing.html HTTP/1.1\r\n\r\n",
        404,
    );
    expect(
        launcher,
        "GET",
        "//etc/passwd",
        b"GET //etc/passwd HTTP/1.1\r\n\r\n",
        404,
    );
    let r = expect(launcher, "GET", "/sub", b"GET /sub HTTP/1.1\r\n\r\n", 301);
    assert_eq!(r.header("Location"), Some("/sub/"));
    let r = expect(
        launcher,
        "POST",
        "/",
        b"POST / HTTP/1.1\r\nContent-Length: 0\r\n\r\n",
        405,
    );
    assert_eq!(r.header("Allow"), Some("GET, HEAD"));
    expect(launcher, "GET", "/", b"GET / HTTP/2.0\r\n\r\n", 505);
    expect(
        launcher,
        "-",
        "-",
        b"\x16\x03\x01\x02\x00 hello\r\n\r\n",
        400,
    );
    expect(
        launcher,
        "GET",
        "relative",
        b"GET relative HTTP/1.1\r\n\r\n",
        400,
    );
    expect(launcher, "-", "-", b"", 400);
    let mut huge = b"GET /".to_vec();
    huge.extend(std::iter::repeat_n(b'a', 9000));
    expect(launcher, "-", "-", &huge, 431);

    // Bytes exactly as the reference writer sends them work as well.
    let (client, server) = UnixStream::pair().unwrap();
    client.set_read_timeout(Some(RESPONSE_TIMEOUT)).unwrap();
    let enc = Value::map([
        ("connection", Value::from(Fd(server.as_raw_fd()))),
        ("peer", Value::from("reference")),
    ])
    .encode();
    launcher.push_reference(&enc.bytes, &[server.as_fd()]);
    drop(server);
    let r = exchange(client, b"GET /about.txt HTTP/1.1\r\n\r\n", |c| {
        c.shutdown(Shutdown::Write).unwrap();
    });
    assert_eq!(r.status, 200);
    assert_eq!(r.body, www_file("about.txt"));
    log.push(Logged {
        peer: "reference".into(),
        method: "GET",
        target: "/about.txt",
        status: 200,
        bytes: r.body.len(),
    });

    // A message without a connection is skipped (its descriptor closed), and so is one
    // whose connection index names no descriptor; the stream goes on.
    let (extra_a, extra_b) = UnixStream::pair().unwrap();
    let enc = Value::map([("peer", Value::from("no-connection"))]).encode();
    ArgdataWriter::new(4096, 4)
        .push(&launcher.stream, &enc.bytes, &[extra_b.as_fd()])
        .unwrap();
    drop(extra_b);
    let enc = Value::map([
        ("connection", Value::from(Fd(7))),
        ("peer", Value::from("bad-index")),
    ])
    .encode();
    ArgdataWriter::new(4096, 4)
        .push(&launcher.stream, &enc.bytes, &[])
        .unwrap();
    // A connection with a second, unwanted descriptor: the server closes the extra one.
    let (client, server) = UnixStream::pair().unwrap();
    client.set_read_timeout(Some(RESPONSE_TIMEOUT)).unwrap();
    let (extra_c, extra_d) = UnixStream::pair().unwrap();
    let enc = Value::map([
        ("connection", Value::from(Fd(server.as_raw_fd()))),
        ("peer", Value::from("two-fds")),
        ("extra", Value::from(Fd(extra_d.as_raw_fd()))),
    ])
    .encode();
    ArgdataWriter::new(4096, 4)
        .push(
            &launcher.stream,
            &enc.bytes,
            &[server.as_fd(), extra_d.as_fd()],
        )
        .unwrap();
    drop((server, extra_d));
    let r = exchange(client, b"GET / HTTP/1.1\r\n\r\n", |c| {
        c.shutdown(Shutdown::Write).unwrap();
    });
    assert_eq!(r.status, 200);
    log.push(Logged {
        peer: "two-fds".into(),
        method: "GET",
        target: "/",
        status: 200,
        bytes: r.body.len(),
    });
    for mut end in [extra_a, extra_c] {
        // Only the server held the other ends, so they read as closed.
        end.set_read_timeout(Some(RESPONSE_TIMEOUT)).unwrap();
        let mut buf = [0u8; 1];
        assert_eq!(end.read(&mut buf).unwrap(), 0);
    }
    log
}

/// Checks the access log against the expected requests: one line each, in order.
fn check_log(text: &str, expected: &[Logged]) {
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), expected.len(), "{text}");
    for (line, e) in lines.iter().zip(expected) {
        // 2026-01-02T03:04:05Z
        let (time, rest) = line.split_at(20);
        assert!(time.ends_with('Z') && time.as_bytes()[10] == b'T', "{line}");
        assert!(time.starts_with("20"), "{line}");
        assert_eq!(
            rest,
            format!(
                " {} \"{} {}\" {} {}",
                e.peer, e.method, e.target, e.status, e.bytes
            ),
            "{line}"
        );
    }
}

/// Waits for `child` to exit, at most `limit`; kills it (and fails) after that.
fn wait_for(child: &mut Child, limit: Duration) -> std::process::ExitStatus {
    let start = Instant::now();
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        if start.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            panic!("process {} did not exit within {limit:?}", child.id());
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn x86_64_stops_on_a_broken_stream_or_configuration() {
    let Some(dir) = built("x86_64-unknown-cloudabi") else {
        return;
    };
    let site = Site::new();
    let run = |value: &Value| {
        let (bytes, fds) = encode(value);
        Emulator::new(open(&dir.join("webserver")), bytes, fds)
            .run()
            .unwrap()
    };
    let root_dir = open(&site.www());

    // A header announcing an absurd length: status 1 and the reason on `errors`.
    let (ours, theirs) = UnixStream::pair().unwrap();
    let (mut errors_r, errors_w) = rustix::pipe::pipe()
        .map(|(r, w)| (std::fs::File::from(r), w))
        .unwrap();
    (&ours).write_all(&[0xff; 8]).unwrap();
    let value = Value::map([
        ("connections", Value::from(Fd(theirs.as_raw_fd()))),
        ("root", Value::from(Fd(root_dir.as_raw_fd()))),
        ("errors", Value::from(Fd(errors_w.as_raw_fd()))),
    ]);
    assert_eq!(run(&value), 1);
    drop(errors_w);
    let mut errors = String::new();
    errors_r.read_to_string(&mut errors).unwrap();
    assert_eq!(
        errors,
        format!(
            "webserver: message of {} bytes exceeds the limit of 4096 bytes\n",
            u64::MAX
        )
    );

    // More descriptors attached than the server has room for (4); a stream cut inside a
    // message.
    let (_spare_a, spare_b) = UnixStream::pair().unwrap();
    for (fds, why) in [(5, "more than 4 descriptors"), (0, "closed in the middle")] {
        let (ours, theirs) = UnixStream::pair().unwrap();
        let (mut errors_r, errors_w) = rustix::pipe::pipe()
            .map(|(r, w)| (std::fs::File::from(r), w))
            .unwrap();
        // The header announces 40 bytes; only 4 of them come.
        let wire = [0, 0, 0, 0, 0, 0, 0, 40, 0x07, 0x80, 0x80, 0x80];
        if fds == 0 {
            (&ours).write_all(&wire).unwrap();
        } else {
            use rustix::net::{SendAncillaryBuffer, SendAncillaryMessage, SendFlags, sendmsg};
            let attached = vec![spare_b.as_fd(); fds];
            let mut space =
                vec![std::mem::MaybeUninit::uninit(); rustix::cmsg_space!(ScmRights(fds))];
            let mut control = SendAncillaryBuffer::new(&mut space);
            assert!(control.push(SendAncillaryMessage::ScmRights(&attached)));
            let sent = sendmsg(
                &ours,
                &[std::io::IoSlice::new(&wire)],
                &mut control,
                SendFlags::NOSIGNAL,
            )
            .unwrap();
            assert_eq!(sent, wire.len());
        }
        drop(ours);
        let value = Value::map([
            ("connections", Value::from(Fd(theirs.as_raw_fd()))),
            ("root", Value::from(Fd(root_dir.as_raw_fd()))),
            ("errors", Value::from(Fd(errors_w.as_raw_fd()))),
        ]);
        assert_eq!(run(&value), 1);
        drop(errors_w);
        let mut errors = String::new();
        errors_r.read_to_string(&mut errors).unwrap();
        assert!(errors.contains(why), "{errors}");
    }

    // Configurations it cannot use.
    let (ours, theirs) = UnixStream::pair().unwrap();
    // (Closed, so that a server that wrongly started would end at once.)
    drop(ours);
    assert_eq!(
        run(&Value::map([(
            "root",
            Value::from(Fd(root_dir.as_raw_fd()))
        )])),
        1
    );
    assert_eq!(
        run(&Value::map([
            ("connections", Value::from(Fd(theirs.as_raw_fd()))),
            ("root", Value::from(Fd(theirs.as_raw_fd()))),
        ])),
        1
    );
    // An empty stream: no connections, a clean exit.
    let (ours, theirs) = UnixStream::pair().unwrap();
    drop(ours);
    assert_eq!(
        run(&Value::map([
            ("connections", Value::from(Fd(theirs.as_raw_fd()))),
            ("root", Value::from(Fd(root_dir.as_raw_fd()))),
        ])),
        0
    );
}

#[test]
fn x86_64_times_out_a_slow_client() {
    let Some(dir) = built("x86_64-unknown-cloudabi") else {
        return;
    };
    let site = Site::new();
    let (ours, theirs) = UnixStream::pair().unwrap();
    let root_dir = open(&site.www());
    let (bytes, fds) = encode(&Value::map([
        ("connections", Value::from(Fd(theirs.as_raw_fd()))),
        ("root", Value::from(Fd(root_dir.as_raw_fd()))),
    ]));
    drop(theirs);
    let program = open(&dir.join("webserver"));
    let server = std::thread::spawn(move || Emulator::new(program, bytes, fds).run().unwrap());
    let mut launcher = Launcher::new(ours);
    // A request that never ends: 408 after the server's 10 seconds.
    let (mut client, _) = launcher.connect();
    let start = Instant::now();
    client.write_all(b"GET / HTT").unwrap();
    let mut raw = Vec::new();
    client.read_to_end(&mut raw).unwrap();
    let waited = start.elapsed();
    assert_eq!(Response::parse(&raw).status, 408);
    assert!(waited >= Duration::from_secs(9), "{waited:?}");
    // The server goes on serving.
    let (r, _) = launcher.request(b"GET /about.txt HTTP/1.1\r\n\r\n");
    assert_eq!(r.body, www_file("about.txt"));
    // Stopped with a broken header (exit status 1).
    (&launcher.stream).write_all(&[0xff; 8]).unwrap();
    assert_eq!(server.join().unwrap(), 1);
}

/// The descriptor number the by-hand runs get the stream as (`!fd 57`).
const STREAM_FD: i32 = 57;

/// Starts `cloudabi-emulate PROGRAM CONFIG.yaml` for `arch` (under `qemu-aarch64-static`
/// for AArch64) with the stream inherited as `!fd 57`, plays the launcher through
/// [`exercise`], closes the stream and checks the exit status and the log.
///
/// The server runs in a process of its own (the `cloudabi-emulate` binary), as a
/// launcher would start it, rather than through `Emulator::run` in this one.
fn serve_by_hand(arch: &'static str, program: &std::path::Path) {
    let emulate = emulator(arch);
    let site = Site::new();
    let config = site.dir.path().join("webserver.yaml");
    std::fs::write(
        &config,
        format!(
            "%TAG ! tag:nuxi.nl,2015:cloudabi/\n---\n\
             connections: !fd {STREAM_FD}\n\
             root: !file {{path: {www}}}\n\
             log: !file {{path: {log}, mode: append}}\n\
             errors: !fd stderr\n",
            www = site.www().display(),
            log = site.log().display(),
        ),
    )
    .unwrap();
    let (ours, theirs) = UnixStream::pair().unwrap();
    let raw = theirs.as_raw_fd();
    let mut command = if arch == "aarch64" {
        let mut c = Command::new("qemu-aarch64-static");
        c.arg(&emulate);
        c
    } else {
        Command::new(&emulate)
    };
    command
        .arg(program)
        .arg(&config)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    // SAFETY: the closure runs in the forked child before exec and only calls dup2 and
    // fcntl, which are async-signal-safe; `raw` stays open in the parent until spawn
    // returns.
    unsafe {
        command.pre_exec(move || {
            if raw == STREAM_FD {
                // Already in place: only clear close-on-exec.
                if libc::fcntl(raw, libc::F_SETFD, 0) < 0 {
                    return Err(std::io::Error::last_os_error());
                }
            } else if libc::dup2(raw, STREAM_FD) < 0 {
                // dup2 gives the new number without close-on-exec.
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let mut child = command.spawn().expect("start cloudabi-emulate");
    drop(theirs);

    let mut launcher = Launcher::new(ours);
    let expected = exercise(&mut launcher);
    // Closing the stream ends the server, with status 0.
    drop(launcher);
    let status = wait_for(&mut child, Duration::from_secs(120));
    let mut stderr = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut stderr)
        .unwrap();
    assert!(status.success(), "{status}: {stderr}");
    assert_eq!(stderr, "");
    check_log(&std::fs::read_to_string(site.log()).unwrap(), &expected);
}

#[test]
fn x86_64_serves_connections_from_a_socket_pair() {
    let Some(dir) = built("x86_64-unknown-cloudabi") else {
        return;
    };
    serve_by_hand("x86_64", &dir.join("webserver"));
}

#[test]
fn aarch64_serves_connections_under_qemu() {
    let Some(dir) = built("aarch64-unknown-cloudabi") else {
        return;
    };
    if !aarch64_tools_present() {
        return;
    }
    serve_by_hand("aarch64", &dir.join("webserver"));
}

/// A free TCP port on 127.0.0.1 (free a moment ago; the launcher binds it next).
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Connects to the server, retrying while the launcher is still starting.
fn connect(port: u16, child: &mut Child) -> TcpStream {
    let start = Instant::now();
    loop {
        match TcpStream::connect(("127.0.0.1", port)) {
            Ok(s) => {
                s.set_read_timeout(Some(RESPONSE_TIMEOUT)).unwrap();
                return s;
            }
            Err(e) => {
                if let Some(status) = child.try_wait().unwrap() {
                    panic!("cloudabi-run exited with {status} before accepting: {e}");
                }
                assert!(
                    start.elapsed() < Duration::from_secs(60),
                    "cannot connect: {e}"
                );
                std::thread::sleep(Duration::from_millis(50));
            }
        }
    }
}

#[test]
fn x86_64_serves_tcp_under_cloudabi_run_emulate() {
    let Some(dir) = built("x86_64-unknown-cloudabi") else {
        return;
    };
    let emulate = emulator("x86_64");
    let launcher = cloudabi_run();
    let site = Site::new();
    std::fs::remove_file(site.log()).unwrap();
    let port = free_port();
    let config = site.dir.path().join("webserver.yaml");
    std::fs::write(
        &config,
        format!(
            "%TAG ! tag:nuxi.nl,2015:cloudabi/\n---\n\
             connections: !connections {{bind: 127.0.0.1:{port}}}\n\
             root: !file {{path: {www}}}\n\
             log: !file {{path: {log}, mode: append, create: true}}\n\
             errors: !fd stderr\n",
            www = site.www().display(),
            log = site.log().display(),
        ),
    )
    .unwrap();
    // Every sandboxed launch in the tests runs in a private mount namespace.
    let mut child = Command::new("unshare")
        .args(["-m", "--propagation", "private"])
        .arg(&launcher)
        .arg("--emulate")
        .arg("--emulator")
        .arg(&emulate)
        .arg(dir.join("webserver"))
        .arg("--config")
        .arg(&config)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start unshare cloudabi-run");

    let tcp = |child: &mut Child, request: &[u8]| {
        let stream = connect(port, child);
        let local = stream.local_addr().unwrap().to_string();
        let r = exchange(stream, request, |s| s.shutdown(Shutdown::Write).unwrap());
        (r, local)
    };
    let mut expected = Vec::new();
    for (target, status) in [
        ("/", 200),
        ("/../../etc/passwd", 403),
        ("/abs-link", 403),
        ("/rel-link", 403),
        ("/missing.html", 404),
        ("/style.css", 200),
    ] {
        let (r, peer) = tcp(
            &mut child,
            format!("GET {target} HTTP/1.1\r\n\r\n").as_bytes(),
        );
        assert_eq!(r.status, status, "{target}: {}", r.head);
        let body = String::from_utf8_lossy(&r.body);
        assert!(
            !body.contains("root:") && !body.contains("do not serve"),
            "{body}"
        );
        match target {
            "/" => assert_eq!(r.body, www_file("index.html")),
            "/style.css" => assert_eq!(r.body, www_file("style.css")),
            _ => {}
        }
        expected.push(Logged {
            peer,
            method: "GET",
            target,
            status,
            bytes: r.body.len(),
        });
    }

    // The log is written through the launcher's append pipe: wait for all lines.
    let start = Instant::now();
    let log = loop {
        let text = std::fs::read_to_string(site.log()).unwrap_or_default();
        if text.lines().count() >= expected.len() || start.elapsed() > Duration::from_secs(30) {
            break text;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    // SAFETY: plain kill(2) of the child this test started (`unshare` execs cloudabi-run,
    // so the pid is the launcher's), which forwards SIGTERM to the server.
    assert_eq!(unsafe { libc::kill(child.id() as i32, libc::SIGTERM) }, 0);
    let status = wait_for(&mut child, Duration::from_secs(30));
    let mut stderr = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut stderr)
        .unwrap();
    // The server has no SIGTERM handler: it ends by the signal, which the launcher reports
    // as 128 + 15.
    assert_eq!(status.code(), Some(143), "{stderr}");
    check_log(&log, &expected);
}
