//! `!connections`: configuration errors, `--check`, the acceptor on its own, `--emulate`'s
//! wrapping, and a static echo program served over TCP and over a UNIX socket through the
//! launcher. Every test that starts a program runs inside `unshare -m --propagation private`.

mod common;

use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use argdata::socket::ArgdataReader;
use cloudabi_run::acceptor::{Acceptor, Ended};
use cloudabi_run::config::{self, AmbientAuthority, ConfigErrorKind, Origin};
use cloudabi_run::launch::GrantKind;
use common::{Scratch, free_port, launcher, rerun_in_private_mount_ns, run_stdin};

/// Carries the path of the echo program into the re-executed test.
const ECHO: &str = "CLOUDABI_RUN_TEST_CONNECTIONS_ECHO";

const TAGS: &str = "%TAG ! tag:nuxi.nl,2015:cloudabi/\n---\n";

/// The static `connections-echo` example.
fn echo_program() -> PathBuf {
    common::static_cargo_binary(
        "cloudabi-run",
        &["--example", "connections-echo"],
        "examples/connections-echo",
        ECHO,
    )
}

/// Runs the test body inside a private mount namespace (see `common`), with the echo
/// program built first.
fn inside(test_name: &str) -> bool {
    if common::in_rerun() {
        return true;
    }
    let program = echo_program().display().to_string();
    rerun_in_private_mount_ns(test_name, &[(ECHO, program)])
}

fn resolve(yaml: &str) -> Result<config::Resolved, config::ConfigError> {
    let authority = AmbientAuthority::claim();
    config::resolve(yaml, "conn.yaml", Path::new("/bin/true"), &authority)
}

#[test]
fn configuration_errors_name_the_place_and_open_nothing() {
    let busy = TcpListener::bind("127.0.0.1:0").unwrap();
    let busy_port = busy.local_addr().unwrap().port();
    let first = free_port();
    let cases: Vec<(String, &str, &str)> = vec![
        (
            "a: 1\nc: !connections {bind: 'nohost'}\n".to_owned(),
            "conn.yaml:2:4: ",
            "bad socket address `nohost`",
        ),
        (
            // The first listener is closed again when the second fails.
            format!(
                "ok: !connections {{bind: '127.0.0.1:{first}'}}\n\
                 c: !connections {{bind: '127.0.0.1:{busy_port}'}}\n"
            ),
            "conn.yaml:2:4: ",
            "bind failed",
        ),
        (
            "c: !connections {bind: '127.0.0.1:0', type: dgram}\n".to_owned(),
            "conn.yaml:1:4: ",
            "`!connections` has no option `type`",
        ),
        (
            "c: !connections {bind: '127.0.0.1:0', backlog: 0}\n".to_owned(),
            "conn.yaml:1:4: ",
            "option `backlog`: expected a number from 1 to 65535",
        ),
        (
            "c: !connections {bind: '127.0.0.1:0', backlog: '12'}\n".to_owned(),
            "conn.yaml:1:4: ",
            "option `backlog`",
        ),
        (
            "c: !connections {backlog: 12}\n".to_owned(),
            "conn.yaml:1:4: ",
            "needs a `bind` address",
        ),
        (
            "c: !connections '127.0.0.1:0'\n".to_owned(),
            "conn.yaml:1:4: ",
            "`!connections` expects a map with `bind`",
        ),
        (
            "c: !connections {bind: '127.0.0.1:0', bind: '127.0.0.1:0'}\n".to_owned(),
            "conn.yaml:1:39: ",
            "duplicate key \"bind\"",
        ),
    ];
    for (yaml, place, what) in &cases {
        let err = resolve(yaml).expect_err(yaml).to_string();
        assert!(err.starts_with(place), "{yaml}: {err}");
        assert!(err.contains(what), "{yaml}: {err}");
    }
    TcpListener::bind(("127.0.0.1", first)).expect("a failed configuration left a listener");
    let err = resolve("c: !connection {bind: '127.0.0.1:0'}\n").unwrap_err();
    assert!(
        matches!(err.kind, ConfigErrorKind::UnknownTag(ref t) if t == "connection"),
        "{err}"
    );
    assert!(err.to_string().contains("!connections"), "{err}");

    // Through the launcher: exit 125, one message, the program not started (it would print
    // its descriptors on standard output).
    let program = echo_program().display().to_string();
    let yaml = format!(
        "{TAGS}out: !fd stdout\ncount: 0\nchannel: !connections {{bind: '127.0.0.1:{busy_port}'}}\n"
    );
    let o = run_stdin(&[&program], &yaml);
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(125), "{err}");
    assert!(
        err.starts_with("cloudabi-run: <stdin>:5:10: socket 127.0.0.1:"),
        "{err}"
    );
    assert!(err.contains("bind failed"), "{err}");
    assert!(o.stdout.is_empty());
    drop(busy);

    // `!fd N` cannot name the listener or either end of the channel (in the fresh launcher
    // they are descriptors 3, 4 and 5).
    for n in 3..=5 {
        let yaml = format!("c: !connections {{bind: '127.0.0.1:0'}}\nleak: !fd {n}\n");
        let o = run_stdin(&["--check", &program], &yaml);
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(125), "{err}");
        assert!(
            err.contains(&format!(
                "<stdin>:2:7: `!fd {n}`: descriptor {n} was opened by the launcher"
            )),
            "{err}"
        );
    }
}

#[test]
fn check_prints_the_plan_and_starts_nothing() {
    let program = echo_program().display().to_string();
    let port = free_port();
    let yaml = format!(
        "{TAGS}out: !fd stdout\ncount: 1\nchannel: !connections {{bind: '127.0.0.1:{port}', backlog: 16}}\n"
    );
    let o = run_stdin(&["--check", &program], &yaml);
    let out = String::from_utf8_lossy(&o.stdout);
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(out.contains("!fd \"3\""), "{out}");
    assert!(
        out.contains(&format!(
            "# fd 3: connections accepted on 127.0.0.1:{port}, backlog 16, passed by the launcher"
        )),
        "{out}"
    );
    assert!(!out.contains("fd 0 "), "--check started the program: {out}");
    // The listener was closed: the port is free and nobody accepts on it.
    assert!(TcpStream::connect(("127.0.0.1", port)).is_err());
    TcpListener::bind(("127.0.0.1", port)).expect("--check left the listener open");
}

#[test]
fn resolution_listens_and_plans_the_channel() {
    let r = resolve("a: !connections {bind: '127.0.0.1:0'}\nb: !connections {bind: '[::1]:0'}\n");
    let r = match r {
        Ok(r) => r,
        // No IPv6 loopback on this machine.
        Err(e) if e.to_string().contains("[::1]") => {
            resolve("a: !connections {bind: '127.0.0.1:0'}\n").unwrap()
        }
        Err(e) => panic!("{e}"),
    };
    assert!(r.resources.iter().all(|r| r.acceptor.is_some()));
    let plan = r.plan(true).unwrap();
    for g in &plan.grants {
        // The channel is a connected socket pair end, not a listener: it is not a systemd
        // socket, so --listen-fds does not number it first nor name it.
        assert_eq!(g.kind, GrantKind::Other);
        let Origin::Connections { local, backlog, .. } = &g.origin else {
            panic!("{:?}", g.origin)
        };
        assert_eq!(*backlog, 128);
        let local = local.expect("a network address");
        assert_ne!(local.port(), 0);
        // Already listening before anything starts.
        TcpStream::connect(local).expect("the listener accepts");
        assert!(!rustix::net::sockopt::socket_acceptconn(&g.fd).unwrap());
        assert_eq!(
            rustix::net::sockopt::socket_type(&g.fd).ok(),
            Some(rustix::net::SocketType::STREAM)
        );
    }
    assert!(plan.grants.iter().all(|g| g.acceptor.is_some()));
}

#[test]
fn emulate_keeps_the_acceptors_and_passes_the_channel() {
    let r = resolve("x: 1\nc: !connections {bind: '127.0.0.1:0'}\nout: !fd stdout\n").unwrap();
    let wrapped = cloudabi_run::emulate::wrap(r, Path::new("/bin/true")).unwrap();
    let plan = wrapped.plan(false).unwrap();
    let channel = plan
        .grants
        .iter()
        .find(|g| matches!(g.origin, Origin::Connections { .. }))
        .expect("the channel is among the emulator's descriptors");
    assert!(channel.acceptor.is_some());
    assert_eq!(
        plan.grants.iter().filter(|g| g.acceptor.is_some()).count(),
        1
    );
    let Origin::Connections { local, .. } = &channel.origin else {
        unreachable!()
    };
    TcpStream::connect(local.unwrap()).expect("listening");
    // The guest's descriptor list: the channel is its descriptor 0, stdout 1.
    let value = argdata::Value::from_argdata(argdata::Argdata::new(&plan.bytes)).unwrap();
    let fds = value.get("fds").unwrap();
    assert_eq!(
        *fds,
        argdata::Value::seq([argdata::Fd(channel.number), argdata::Fd(1)])
    );
}

/// Connects over TCP, sends `text`, returns the echo and the client's address.
fn tcp_exchange(port: u16, text: &str) -> (String, SocketAddr) {
    let mut c = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    c.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    c.write_all(text.as_bytes()).unwrap();
    c.shutdown(Shutdown::Write).unwrap();
    let mut answer = String::new();
    c.read_to_string(&mut answer).unwrap();
    (answer, c.local_addr().unwrap())
}

#[test]
fn the_acceptor_alone_passes_connections_and_stops() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let (mine, program_end) = UnixStream::pair().unwrap();
    let accepting = Acceptor::new(listener.into(), mine.into())
        .unwrap()
        .start()
        .unwrap();
    let server = std::thread::spawn(move || {
        let mut reader = ArgdataReader::new(4096, 1);
        for _ in 0..3 {
            let m = reader.pull(&program_end).unwrap().unwrap();
            let peer = m.argdata().get("peer").unwrap().unwrap();
            let peer = peer.as_str().unwrap().to_owned();
            let (_, mut fds) = m.into_parts();
            assert_eq!(fds.len(), 1);
            let mut c = std::fs::File::from(fds.remove(0));
            let mut text = String::new();
            c.read_to_string(&mut text).unwrap();
            write!(c, "{text}|peer={peer}").unwrap();
        }
        program_end
    });
    for i in 0..3 {
        let (answer, me) = tcp_exchange(port, &format!("hello {i}"));
        assert_eq!(answer, format!("hello {i}|peer={me}"));
    }
    let program_end = server.join().unwrap();
    // Idle, then the program closes its end: the thread notices and closes the listener.
    std::thread::sleep(Duration::from_millis(50));
    drop(program_end);
    let start = Instant::now();
    let summary = accepting.stop();
    assert!(start.elapsed() < Duration::from_secs(2));
    assert_eq!(summary.passed, 3);
    assert!(
        matches!(summary.ended, Ended::ProgramClosed | Ended::Stopped),
        "{:?}",
        summary.ended
    );
    assert!(TcpStream::connect(("127.0.0.1", port)).is_err());

    // Idle with the program's end open: stop() wakes the thread at once.
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let (mine, program_end) = UnixStream::pair().unwrap();
    let accepting = Acceptor::new(listener.into(), mine.into())
        .unwrap()
        .start()
        .unwrap();
    std::thread::sleep(Duration::from_millis(50));
    let start = Instant::now();
    let summary = accepting.stop();
    assert!(start.elapsed() < Duration::from_secs(2));
    assert!(
        matches!(summary.ended, Ended::Stopped),
        "{:?}",
        summary.ended
    );
    assert_eq!(summary.passed, 0);

    // The program's end closes while idle: the thread ends by itself.
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let address = listener.local_addr().unwrap();
    let (mine, program_end2) = UnixStream::pair().unwrap();
    let accepting = Acceptor::new(listener.into(), mine.into())
        .unwrap()
        .start()
        .unwrap();
    drop(program_end2);
    let deadline = Instant::now() + Duration::from_secs(5);
    while TcpStream::connect(address).is_ok() {
        assert!(Instant::now() < deadline, "the listener stayed open");
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(matches!(accepting.stop().ended, Ended::ProgramClosed));
    drop(program_end);
}

#[test]
fn the_acceptor_takes_turns_and_skips_closed_channels() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let mut ends = Vec::new();
    let mut acceptor = None::<Acceptor>;
    for _ in 0..3 {
        let (mine, theirs) = UnixStream::pair().unwrap();
        ends.push(theirs);
        match &mut acceptor {
            None => {
                acceptor =
                    Some(Acceptor::new(listener.try_clone().unwrap().into(), mine.into()).unwrap());
            }
            Some(a) => a.add_channel(mine.into()),
        }
    }
    drop(listener);
    let accepting = acceptor.unwrap().start().unwrap();
    let mut reader = ArgdataReader::new(4096, 1);
    let mut clients = Vec::new();
    // Six connections go to channels 0, 1, 2, 0, 1, 2.
    for round in 0..2 {
        for (i, end) in ends.iter().enumerate() {
            let c = TcpStream::connect(("127.0.0.1", port)).unwrap();
            let m = reader.pull(end).unwrap().unwrap();
            let peer = m.argdata().get("peer").unwrap().unwrap();
            assert_eq!(
                peer.as_str().unwrap(),
                c.local_addr().unwrap().to_string(),
                "round {round}, channel {i}"
            );
            clients.push(c);
        }
    }
    // Channel 1 closes: the next connections go to 0, 2, 0, 2 (`ends` now holds 0 and 2).
    drop(ends.remove(1));
    for i in [0, 1, 0, 1] {
        let _c = TcpStream::connect(("127.0.0.1", port)).unwrap();
        assert!(reader.pull(&ends[i]).unwrap().is_some());
    }
    drop(ends);
    let summary = accepting.stop();
    assert_eq!(summary.passed, 10);
}

/// A launcher running the echo program, its standard output read line by line.
struct Echo {
    child: Child,
    lines: std::sync::mpsc::Receiver<String>,
    out: std::thread::JoinHandle<String>,
}

/// Starts the launcher on the echo program with `channel` (a `!connections` address) and
/// `count`, and waits until the program runs (it prints its descriptors first; the
/// launcher listens before it starts the program).
fn start_echo(bind: &str, count: &str, extra: &[&str]) -> Echo {
    let yaml = format!(
        "{TAGS}out: !fd stdout\ncount: {count}\nchannel: !connections {{bind: '{bind}'}}\n"
    );
    let mut child = Command::new(launcher())
        .args(extra)
        .arg(echo_program())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start cloudabi-run");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(yaml.as_bytes())
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let (tx, lines) = std::sync::mpsc::channel();
    let out = std::thread::spawn(move || {
        let mut all = String::new();
        for line in std::io::BufRead::lines(std::io::BufReader::new(stdout)) {
            let line = line.unwrap();
            all.push_str(&line);
            all.push('\n');
            let _ = tx.send(line);
        }
        all
    });
    let first = lines.recv_timeout(Duration::from_secs(20));
    assert!(first.is_ok(), "the program did not start");
    Echo { child, lines, out }
}

/// Waits for the launcher (at most 20 s) and returns its exit code, standard output and error,
/// and how long that took.
fn finish(echo: Echo) -> (Option<i32>, String, String, Duration) {
    let Echo {
        mut child,
        lines,
        out,
    } = echo;
    drop(lines);
    let start = Instant::now();
    let status = loop {
        if let Some(st) = child.try_wait().unwrap() {
            break st;
        }
        if start.elapsed() > Duration::from_secs(20) {
            let _ = child.kill();
            let _ = child.wait();
            panic!("the launcher did not exit");
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    let took = start.elapsed();
    let mut err = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut err)
        .unwrap();
    (status.code(), out.join().unwrap(), err, took)
}

/// The echo program's descriptor report: exactly 0, 1, 2 and the channel at 3 (a connected
/// socket); no listener, nothing else of the launcher's (the program's startup has closed
/// the argdata memfd).
fn check_descriptors(out: &str) {
    let fds: Vec<&str> = out.lines().filter(|l| l.starts_with("fd ")).collect();
    let numbers: Vec<&str> = fds.iter().filter_map(|l| l.split(' ').nth(1)).collect();
    assert_eq!(numbers, ["0", "1", "2", "3"], "{out}");
    assert!(fds.contains(&"fd 3 socket"), "{out}");
    assert!(!out.contains("listening-socket"), "{out}");
}

#[test]
fn echo_over_tcp() {
    if !inside("echo_over_tcp") {
        return;
    }
    let port = free_port();
    let echo = start_echo(&format!("127.0.0.1:{port}"), "3", &["--timeout", "60"]);
    let mut peers = Vec::new();
    for i in 0..3 {
        let (answer, me) = tcp_exchange(port, &format!("request {i}"));
        assert_eq!(answer, format!("request {i}|peer={me}"));
        peers.push(me.to_string());
    }
    let (code, out, err, _) = finish(echo);
    assert_eq!(code, Some(0), "{out}\n{err}");
    check_descriptors(&out);
    let passed: Vec<&str> = out
        .lines()
        .filter_map(|l| l.strip_prefix("passed "))
        .collect();
    assert_eq!(passed, peers, "{out}");
    // The launcher closed the listener when the program was done.
    assert!(TcpStream::connect(("127.0.0.1", port)).is_err());
}

#[test]
fn echo_over_a_unix_socket() {
    if !inside("echo_over_a_unix_socket") {
        return;
    }
    let s = Scratch::new("conn-unix");
    let path = s.path("server.sock");
    let echo = start_echo(&path.display().to_string(), "2", &["--timeout", "60"]);
    for i in 0..2 {
        let mut c = UnixStream::connect(&path).expect("connect");
        c.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
        write!(c, "unix {i}").unwrap();
        c.shutdown(Shutdown::Write).unwrap();
        let mut answer = String::new();
        c.read_to_string(&mut answer).unwrap();
        assert_eq!(answer, format!("unix {i}|peer=unix"));
    }
    let (code, out, err, _) = finish(echo);
    assert_eq!(code, Some(0), "{out}\n{err}");
    check_descriptors(&out);
    assert_eq!(out.lines().filter(|l| *l == "passed unix").count(), 2);
    // As with `!socket`, the bound path stays behind; nothing listens on it any more.
    assert!(path.exists());
    assert!(UnixStream::connect(&path).is_err());
}

#[test]
fn the_launcher_exits_promptly_after_the_program() {
    if !inside("the_launcher_exits_promptly_after_the_program") {
        return;
    }
    // The program exits at once while nobody connects: the acceptor is idle in poll.
    let port = free_port();
    let (code, out, err, took) = finish(start_echo(&format!("127.0.0.1:{port}"), "0", &[]));
    assert_eq!(code, Some(0), "{out}\n{err}");
    check_descriptors(&out);
    assert!(took < Duration::from_secs(3), "{took:?}");
    assert!(TcpStream::connect(("127.0.0.1", port)).is_err());

    // The program is killed (timeout) while it waits for a second connection, with a third
    // client queued: the launcher exits promptly and the queued client is disconnected.
    let port = free_port();
    let echo = start_echo(&format!("127.0.0.1:{port}"), "3", &["--timeout", "2"]);
    let (answer, me) = tcp_exchange(port, "first");
    assert_eq!(answer, format!("first|peer={me}"));
    let second = TcpStream::connect(("127.0.0.1", port)).unwrap();
    let (code, out, err, took) = finish(echo);
    assert_eq!(code, Some(137), "{out}\n{err}");
    assert!(took < Duration::from_secs(5), "{took:?}");
    assert_eq!(out.lines().filter(|l| l.starts_with("passed ")).count(), 1);
    let mut second = second;
    second
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let mut rest = Vec::new();
    // End-of-file or a reset: either way the connection is gone, not left hanging.
    match second.read_to_end(&mut rest) {
        Ok(_) => assert!(rest.is_empty()),
        Err(e) => assert_ne!(e.kind(), std::io::ErrorKind::WouldBlock, "{e}"),
    }
    assert!(TcpStream::connect(("127.0.0.1", port)).is_err());
}

#[test]
fn each_instance_gets_its_own_channel() {
    if !inside("each_instance_gets_its_own_channel") {
        return;
    }
    // Three instances serving one connection each: the connections go to them in turn, each
    // over a channel of its own (same number), and each instance exits after its one.
    let port = free_port();
    let echo = start_echo(
        &format!("127.0.0.1:{port}"),
        "1",
        &["--instances", "3", "--timeout", "60"],
    );
    for i in 0..3 {
        let (answer, me) = tcp_exchange(port, &format!("instance {i}"));
        assert_eq!(answer, format!("instance {i}|peer={me}"));
    }
    let (code, out, err, took) = finish(echo);
    assert_eq!(code, Some(0), "{out}\n{err}");
    assert!(took < Duration::from_secs(5), "{took:?}");
    assert_eq!(out.lines().filter(|l| l.starts_with("passed ")).count(), 3);
    assert_eq!(
        out.lines().filter(|l| *l == "fd 3 socket").count(),
        3,
        "{out}"
    );
    assert!(!out.contains("listening-socket"), "{out}");
}

/// The socket-pair example of `docs/connections.md` ("Testing without the launcher"), kept
/// identical to the document's text (checked below).
mod documented_example {
    use argdata::socket::{ArgdataReader, ArgdataWriter};
    use argdata::{Fd, Value};
    use std::io::{Read, Write};
    use std::os::fd::AsFd;
    use std::os::unix::net::UnixStream;

    pub(crate) fn channel_demo() -> Result<(), Box<dyn std::error::Error>> {
        // `channel` is what the program gets (e.g. granted with `!fd N`), `launcher` the other end.
        let (launcher, channel) = UnixStream::pair()?;
        // One "client connection": another socket pair.
        let (mut client, server_side) = UnixStream::pair()?;
        let message = Value::map([
            ("connection", Value::from(Fd(0))),
            ("peer", Value::from("unix")),
        ]);
        ArgdataWriter::new(4096, 1).push(
            &launcher,
            &message.encode().bytes,
            &[server_side.as_fd()],
        )?;
        drop(server_side); // the launcher closes its copy
        drop(launcher); // and sends nothing more

        // The program's side.
        let mut reader = ArgdataReader::new(4096, 1);
        let m = reader.pull(&channel)?.ok_or("no message")?;
        assert_eq!(m.argdata().get("peer")?.ok_or("no peer")?.as_str()?, "unix");
        let (_, fds) = m.into_parts();
        let mut connection = UnixStream::from(fds.into_iter().next().ok_or("no descriptor")?);
        connection.write_all(b"hi")?;
        let mut reply = [0; 2];
        client.read_exact(&mut reply)?;
        assert_eq!(&reply, b"hi");
        assert!(reader.pull(&channel)?.is_none()); // end of the stream: no more connections
        Ok(())
    }
}

#[test]
fn the_documented_example_works() {
    documented_example::channel_demo().unwrap();
    // The document shows the same code (compared without white space).
    let doc = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../docs/connections.md"
    ))
    .unwrap();
    let here =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/connections.rs"))
            .unwrap();
    let squash = |s: &str| s.split_whitespace().collect::<String>();
    let start = here.find("    pub(crate) fn channel_demo").unwrap();
    let end = start + here[start..].find("\n    }\n").unwrap();
    let code = squash(&here[start..end].replace("pub(crate) fn", "fn"));
    assert!(
        squash(&doc).contains(&code),
        "docs/connections.md no longer shows the tested example"
    );
}
