//! The configuration layer in process: each tag's resolution, numbering, `--check` output and
//! that a failing configuration leaves no descriptor open. Nothing is started here.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream, UdpSocket};
use std::os::fd::{AsFd, AsRawFd, OwnedFd, RawFd};
use std::os::unix::net::{UnixDatagram, UnixListener, UnixStream};
use std::path::Path;
use std::sync::Mutex;

use argdata::{Argdata, Value};
use cloudabi_run::config::{self, AmbientAuthority, ConfigErrorKind, Origin, Plan};
use cloudabi_run::launch::GrantKind;
use cloudabi_run::sandbox::FileMode;
use rustix::fs::{FileType, OFlags};

/// Tests that count open descriptors must not overlap with tests that open some.
static FD_TABLE: Mutex<()> = Mutex::new(());

fn lock() -> std::sync::MutexGuard<'static, ()> {
    FD_TABLE.lock().unwrap_or_else(|e| e.into_inner())
}

const PROGRAM: &str = "/bin/true";

/// A scratch directory for one test, removed on drop. (This file uses no shared test
/// harness, so that it is part of the published package.)
struct Scratch(tempfile::TempDir);

impl Scratch {
    fn new(tag: &str) -> Scratch {
        let dir = tempfile::Builder::new()
            .prefix(&format!("cloudabi-run-{tag}-"))
            .tempdir()
            .expect("scratch directory");
        Scratch(dir)
    }

    fn path(&self, name: &str) -> std::path::PathBuf {
        self.0.path().join(name)
    }

    /// [`Scratch::path`] as a string, for configurations.
    fn p(&self, name: &str) -> String {
        self.path(name).display().to_string()
    }
}

fn resolve(yaml: &str) -> Result<config::Resolved, config::ConfigError> {
    let authority = AmbientAuthority::claim();
    config::resolve(yaml, "test.yaml", Path::new(PROGRAM), &authority)
}

fn plan(yaml: &str) -> Plan {
    resolve(yaml)
        .unwrap_or_else(|e| panic!("{e}"))
        .plan(false)
        .unwrap()
}

fn open_fds() -> usize {
    std::fs::read_dir("/proc/self/fd").unwrap().count()
}

fn access(fd: impl AsFd) -> OFlags {
    rustix::fs::fcntl_getfl(fd).unwrap()
}

fn file_type(fd: impl AsFd) -> FileType {
    FileType::from_raw_mode(rustix::fs::fstat(fd).unwrap().st_mode)
}

/// The value of the plan's argdata.
fn value(plan: &Plan) -> Value {
    Value::from_argdata(Argdata::new(&plan.bytes)).unwrap()
}

#[test]
fn plain_yaml_becomes_plain_argdata() {
    let _g = lock();
    let p = plan("%TAG ! tag:nuxi.nl,2015:cloudabi/\n---\nname: demo\nports: [80, 443]\n");
    assert!(p.grants.is_empty());
    assert_eq!(
        value(&p),
        Value::map([
            ("name", Value::from("demo")),
            ("ports", Value::seq([80, 443]))
        ])
    );
}

#[test]
fn files_open_with_their_mode() {
    let _g = lock();
    let s = Scratch::new("modes");
    std::fs::write(s.path("r"), "read me").unwrap();
    std::fs::write(s.path("w"), "old").unwrap();
    std::fs::write(s.path("a"), "start\n").unwrap();
    std::fs::write(s.path("rw"), "x").unwrap();
    let yaml = format!(
        "r: !file {{path: {}}}\nw: !file {{path: {}, mode: write}}\n\
         a: !file {{path: {}, mode: append}}\nrw: !file {{path: {}, mode: readwrite}}\n",
        s.p("r"),
        s.p("w"),
        s.p("a"),
        s.p("rw")
    );
    let p = plan(&yaml);
    let kinds: Vec<GrantKind> = p.grants.iter().map(|g| g.kind).collect();
    assert_eq!(
        kinds,
        [
            GrantKind::File(FileMode::Read),
            GrantKind::File(FileMode::Write),
            GrantKind::File(FileMode::Append),
            GrantKind::File(FileMode::ReadWrite),
        ]
    );
    assert_eq!(p.numbers(), [3, 4, 5, 6]);
    let modes: Vec<OFlags> = p
        .grants
        .iter()
        .map(|g| access(&g.fd) & (OFlags::ACCMODE | OFlags::APPEND | OFlags::NONBLOCK))
        .collect();
    assert_eq!(
        modes,
        [
            OFlags::RDONLY,
            OFlags::WRONLY,
            OFlags::WRONLY | OFlags::APPEND,
            OFlags::RDWR
        ]
    );
    for g in &p.grants {
        let fd = rustix::io::fcntl_getfd(&g.fd).unwrap();
        assert!(fd.contains(rustix::io::FdFlags::CLOEXEC));
    }
    let mut r = std::fs::File::from(p.grants[0].fd.try_clone().unwrap());
    let mut text = String::new();
    r.read_to_string(&mut text).unwrap();
    assert_eq!(text, "read me");
    // The write grant does not truncate; the append grant appends.
    let mut a = std::fs::File::from(p.grants[2].fd.try_clone().unwrap());
    a.write_all(b"more\n").unwrap();
    assert_eq!(
        std::fs::read_to_string(s.path("a")).unwrap(),
        "start\nmore\n"
    );
    assert_eq!(std::fs::read_to_string(s.path("w")).unwrap(), "old");
    // The argdata holds the program's numbers under the same keys.
    let v = value(&p);
    assert_eq!(v.get("r"), Some(&Value::Fd(argdata::Fd(3))));
    assert_eq!(v.get("rw"), Some(&Value::Fd(argdata::Fd(6))));
}

#[test]
fn create_only_when_asked() {
    let _g = lock();
    let s = Scratch::new("create");
    let yaml = format!("log: !file {{path: {}, mode: append}}\n", s.p("new.log"));
    let err = resolve(&yaml).unwrap_err();
    assert!(matches!(err.kind, ConfigErrorKind::Open { .. }), "{err}");
    assert_eq!((err.location.line, err.location.column), (1, 6));
    assert!(!s.path("new.log").exists());
    let yaml = format!(
        "log: !file {{path: {}, mode: append, create: true}}\n",
        s.p("new.log")
    );
    let p = plan(&yaml);
    assert!(s.path("new.log").is_file());
    assert_eq!(p.grants[0].kind, GrantKind::File(FileMode::Append));
    // The plan owns the new file until the program starts: dropped, it removes it again.
    drop(p);
    assert!(!s.path("new.log").exists());
}

#[test]
fn a_failed_configuration_leaves_nothing_behind() {
    let _g = lock();
    let s = Scratch::new("undo");
    std::fs::write(s.path("old.txt"), "kept").unwrap();
    let yaml = format!(
        "old: !file {{path: {}, mode: write, create: true}}\n\
         new: !file {{path: {}, mode: write, create: true}}\n\
         sock: !socket {{bind: {}}}\n\
         bad: !file {{path: {}}}\n",
        s.p("old.txt"),
        s.p("new.txt"),
        s.p("app.sock"),
        s.p("missing")
    );
    let err = resolve(&yaml).unwrap_err();
    assert_eq!((err.location.line, err.location.column), (4, 6), "{err}");
    // What the configuration created is gone, what existed before is untouched, and the
    // socket path can be bound again.
    assert!(!s.path("new.txt").exists());
    assert!(!s.path("app.sock").exists());
    assert_eq!(std::fs::read_to_string(s.path("old.txt")).unwrap(), "kept");
    std::os::unix::net::UnixListener::bind(s.path("app.sock")).expect("path is free");
    // Kept once the program runs.
    let mut p = plan(&format!(
        "new: !file {{path: {}, mode: write, create: true}}\n",
        s.p("kept.txt")
    ));
    std::mem::take(&mut p.created).keep();
    drop(p);
    assert!(s.path("kept.txt").is_file());
}

#[test]
fn directories_become_directory_capabilities() {
    let _g = lock();
    let s = Scratch::new("dirs");
    std::fs::create_dir(s.path("www")).unwrap();
    std::fs::write(s.path("www/index.html"), "hi").unwrap();
    for (mode, want) in [
        ("read", FileMode::Read),
        ("write", FileMode::Write),
        ("append", FileMode::Append),
        ("readwrite", FileMode::ReadWrite),
    ] {
        let p = plan(&format!(
            "root: !file {{path: {}, mode: {mode}}}\n",
            s.p("www")
        ));
        let g = &p.grants[0];
        assert_eq!(g.kind, GrantKind::Dir(want), "{mode}");
        assert_eq!(file_type(&g.fd), FileType::Directory);
        // A real descriptor (not O_PATH) beneath which files can be opened.
        assert_eq!(access(&g.fd) & OFlags::ACCMODE, OFlags::RDONLY);
        let f = rustix::fs::openat(&g.fd, "index.html", OFlags::RDONLY, 0.into()).unwrap();
        assert_eq!(file_type(&f), FileType::RegularFile);
        assert!(matches!(
            &g.origin,
            Origin::File {
                directory: true,
                ..
            }
        ));
    }
}

#[test]
fn inherited_descriptors() {
    let _g = lock();
    let (r, w) = std::io::pipe().unwrap();
    let r: OwnedFd = r.into();
    let w: OwnedFd = w.into();
    let yaml = format!(
        "out: !fd stdout\nerr: !fd 2\nagain: !fd stdout\npipe: !fd {}\nsame: !fd {}\n",
        r.as_raw_fd(),
        r.as_raw_fd()
    );
    let p = plan(&yaml);
    let summary: Vec<(GrantKind, RawFd)> = p.grants.iter().map(|g| (g.kind, g.number)).collect();
    assert_eq!(
        summary,
        [
            (GrantKind::Stdout, 1),
            (GrantKind::Stderr, 2),
            (GrantKind::Other, 3)
        ]
    );
    let v = value(&p);
    assert_eq!(v.get("again"), Some(&Value::Fd(argdata::Fd(1))));
    assert_eq!(v.get("same"), Some(&Value::Fd(argdata::Fd(3))));
    // The grant is a duplicate of the pipe's read end.
    let mut wf = std::fs::File::from(w);
    wf.write_all(b"x").unwrap();
    let mut buf = [0u8; 1];
    rustix::io::read(&p.grants[2].fd, &mut buf).unwrap();
    assert_eq!(&buf, b"x");

    // A closed number is an error naming it.
    let closed = r.as_raw_fd();
    drop(r);
    let _ = p;
    let err = resolve(&format!("x: !fd {closed}\n")).unwrap_err();
    assert!(
        matches!(err.kind, ConfigErrorKind::FdNotOpen { fd, .. } if fd == closed),
        "{err}"
    );
    assert_eq!(
        err.to_string().split(": ").next(),
        Some("test.yaml:1:4"),
        "{err}"
    );
    for bad in ["x: !fd stdio\n", "x: !fd -1\n", "x: !fd {a: 1}\n"] {
        let err = resolve(bad).unwrap_err();
        assert_eq!(
            (err.location.line, err.location.column),
            (1, 4),
            "{bad}: {err}"
        );
    }
}

#[test]
fn tcp_and_udp_sockets() {
    let _g = lock();
    let p =
        plan("web: !socket {bind: 127.0.0.1:0}\nudp: !socket {bind: '127.0.0.1:0', type: dgram}\n");
    assert_eq!(p.grants[0].kind, GrantKind::Socket);
    let Origin::Socket {
        local: Some(addr), ..
    } = p.grants[0].origin
    else {
        panic!("{:?}", p.grants[0].origin)
    };
    // Bound and listening: a client connects and the accepted stream works.
    let listener = TcpListener::from(p.grants[0].fd.try_clone().unwrap());
    let mut c = TcpStream::connect(addr).unwrap();
    let (mut s, _) = listener.accept().unwrap();
    c.write_all(b"ping").unwrap();
    let mut buf = [0u8; 4];
    s.read_exact(&mut buf).unwrap();
    assert_eq!(&buf, b"ping");
    let reuse = rustix::net::sockopt::socket_reuseaddr(&p.grants[0].fd).unwrap();
    assert!(reuse);
    // The datagram socket is bound and receives.
    let Origin::Socket {
        local: Some(uaddr),
        ty,
        ..
    } = p.grants[1].origin
    else {
        panic!()
    };
    assert_eq!(ty, "dgram");
    let udp = UdpSocket::from(p.grants[1].fd.try_clone().unwrap());
    UdpSocket::bind("127.0.0.1:0")
        .unwrap()
        .send_to(b"dgram", uaddr)
        .unwrap();
    let mut buf = [0u8; 16];
    let (n, _) = udp.recv_from(&mut buf).unwrap();
    assert_eq!(&buf[..n], b"dgram");

    // connect: to a listener the test holds.
    let server = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = server.local_addr().unwrap().port();
    let p = plan(&format!("up: !socket {{connect: 'localhost:{port}'}}\n"));
    let mut c = TcpStream::from(p.grants[0].fd.try_clone().unwrap());
    let (mut s, _) = server.accept().unwrap();
    c.write_all(b"hi").unwrap();
    let mut buf = [0u8; 2];
    s.read_exact(&mut buf).unwrap();
    assert_eq!(&buf, b"hi");

    // Errors: a port in use, nobody listening, a malformed address.
    let busy = TcpListener::bind("127.0.0.1:0").unwrap();
    let busy_port = busy.local_addr().unwrap().port();
    let err = resolve(&format!(
        "a: 1\nb: !socket {{bind: '127.0.0.1:{busy_port}'}}\n"
    ))
    .unwrap_err();
    assert!(
        matches!(&err.kind, ConfigErrorKind::Socket { op: "bind", .. }),
        "{err}"
    );
    assert_eq!((err.location.line, err.location.column), (2, 4));
    drop(server);
    let err = resolve(&format!("b: !socket {{connect: '127.0.0.1:{port}'}}\n")).unwrap_err();
    assert!(
        matches!(&err.kind, ConfigErrorKind::Socket { op: "connect", .. }),
        "{err}"
    );
    for bad in [
        "b: !socket {bind: nowhere}\n",
        "b: !socket {bind: '127.0.0.1:99999'}\n",
        "b: !socket {bind: '127.0.0.1:0', connect: '127.0.0.1:1'}\n",
        "b: !socket {}\n",
        "b: !socket {bind: '127.0.0.1:0', type: raw}\n",
        "b: !socket {bind: '127.0.0.1:0', backlog: 5}\n",
        "b: !socket 127.0.0.1:80\n",
    ] {
        let err = resolve(bad).unwrap_err();
        assert_eq!(
            (err.location.line, err.location.column),
            (1, 4),
            "{bad}: {err}"
        );
    }
}

#[test]
fn unix_sockets() {
    let _g = lock();
    let s = Scratch::new("unix");
    let p = plan(&format!(
        "stream: !socket {{bind: {}}}\nseq: !socket {{bind: {}, type: seqpacket}}\n\
         dgram: !socket {{bind: {}, type: dgram}}\n",
        s.p("stream.sock"),
        s.p("seq.sock"),
        s.p("dgram.sock")
    ));
    let listener = UnixListener::from(p.grants[0].fd.try_clone().unwrap());
    let mut c = UnixStream::connect(s.path("stream.sock")).unwrap();
    let (mut a, _) = listener.accept().unwrap();
    c.write_all(b"u").unwrap();
    let mut buf = [0u8; 1];
    a.read_exact(&mut buf).unwrap();
    assert_eq!(
        rustix::net::sockopt::socket_type(&p.grants[1].fd).unwrap(),
        rustix::net::SocketType::SEQPACKET
    );
    // seqpacket listens: a connection is accepted.
    let seq_client = rustix::net::socket(
        rustix::net::AddressFamily::UNIX,
        rustix::net::SocketType::SEQPACKET,
        None,
    )
    .unwrap();
    rustix::net::connect(
        &seq_client,
        &rustix::net::SocketAddrUnix::new(s.path("seq.sock")).unwrap(),
    )
    .unwrap();
    rustix::net::accept(&p.grants[1].fd).unwrap();
    let d = UnixDatagram::from(p.grants[2].fd.try_clone().unwrap());
    UnixDatagram::unbound()
        .unwrap()
        .send_to(b"dg", s.path("dgram.sock"))
        .unwrap();
    let mut buf = [0u8; 4];
    assert_eq!(d.recv(&mut buf).unwrap(), 2);

    // connect to a UNIX listener the test holds.
    let l = UnixListener::bind(s.path("server.sock")).unwrap();
    let p2 = plan(&format!(
        "up: !socket {{connect: {}}}\n",
        s.p("server.sock")
    ));
    assert_eq!(p2.grants.len(), 1);
    l.accept().unwrap();
    // Binding an existing path fails (nothing is removed).
    let err = resolve(&format!("x: !socket {{bind: {}}}\n", s.p("stream.sock"))).unwrap_err();
    assert!(
        matches!(err.kind, ConfigErrorKind::Socket { op: "bind", .. }),
        "{err}"
    );
}

#[test]
fn executable_is_the_program() {
    let _g = lock();
    let p = plan("self: !executable\nagain: !executable\n");
    assert_eq!(p.grants.len(), 1);
    let g = &p.grants[0];
    assert_eq!(access(&g.fd) & OFlags::ACCMODE, OFlags::RDONLY);
    let mine = rustix::fs::fstat(&g.fd).unwrap();
    let real = rustix::fs::stat(PROGRAM).unwrap();
    assert_eq!((mine.st_dev, mine.st_ino), (real.st_dev, real.st_ino));
    let err = resolve("self: !executable foo\n").unwrap_err();
    assert!(matches!(err.kind, ConfigErrorKind::Shape { .. }), "{err}");
    let authority = AmbientAuthority::claim();
    let err = config::resolve(
        "self: !executable\n",
        "x",
        Path::new("/nonexistent/prog"),
        &authority,
    )
    .unwrap_err();
    assert!(
        matches!(err.kind, ConfigErrorKind::Executable { .. }),
        "{err}"
    );
}

#[test]
fn numbering_follows_first_appearance_and_listen_fds() {
    let _g = lock();
    let s = Scratch::new("order");
    std::fs::write(s.path("f"), "").unwrap();
    let yaml = format!(
        "log: !file {{path: {f}}}\nnested: {{list: [!socket {{bind: '127.0.0.1:0'}}, !fd stderr]}}\n\
         www: !socket {{bind: '127.0.0.1:0'}}\nself: !executable\n",
        f = s.p("f")
    );
    let p = resolve(&yaml).unwrap().plan(false).unwrap();
    assert_eq!(p.numbers(), [3, 4, 2, 5, 6]);
    let p = resolve(&yaml).unwrap().plan(true).unwrap();
    // Sockets first in listen-fds mode; a socket's name is the map key it appears under.
    let summary: Vec<(RawFd, Option<&str>)> = p
        .grants
        .iter()
        .map(|g| (g.number, g.name.as_deref()))
        .collect();
    assert_eq!(
        summary,
        [(5, None), (3, None), (2, None), (4, Some("www")), (6, None)]
    );
    assert_eq!(config::listen_fd_name(Some("www")), "www");
    assert_eq!(config::listen_fd_name(None), "unknown");
    assert_eq!(config::listen_fd_name(Some("a:b")), "unknown");
    assert_eq!(config::listen_fd_name(Some("")), "unknown");
    let v = value(&p);
    assert_eq!(v.get("www"), Some(&Value::Fd(argdata::Fd(4))));
    assert_eq!(
        v.get("nested").and_then(|n| n.get("list")),
        Some(&Value::seq([
            Value::Fd(argdata::Fd(3)),
            Value::Fd(argdata::Fd(2))
        ]))
    );
}

#[test]
fn check_output_is_yaml_with_program_numbers() {
    let _g = lock();
    let p = plan("%TAG ! tag:nuxi.nl,2015:cloudabi/\n---\nout: !fd stdout\nn: 5\n");
    let text = p.to_yaml().unwrap();
    assert_eq!(
        text,
        "%TAG ! tag:nuxi.nl,2015:cloudabi/\n---\n!!map {\n  ? !!str \"out\"\n  : !fd \"1\",\n  \
         ? !!str \"n\"\n  : !!int \"5\",\n}\n# fd 1: the launcher's standard output\n"
    );
    // The printed YAML parses back (comments and all) to the same value.
    let back = argdata::yaml::from_str(&text).unwrap();
    assert_eq!(back, value(&p));
}

#[test]
fn errors_name_file_line_and_column() {
    let _g = lock();
    for (yaml, line, column, needle) in [
        ("a: [1, 2\n", 2, 1, "flow sequence"),
        ("a: 1\nb: !nope x\n", 2, 4, "unknown tag `!nope`"),
        (
            "x:\n  y: !file {path: /nonexistent/zz}\n",
            2,
            6,
            "cannot open /nonexistent/zz",
        ),
        ("x: !file {mode: read}\n", 1, 4, "needs a `path`"),
        ("x: !file {path: /tmp, mode: exec}\n", 1, 4, "option `mode`"),
        (
            "x: !file {path: /tmp, create: maybe}\n",
            1,
            4,
            "option `create`",
        ),
        (
            "x: !file {path: /tmp, path: /tmp}\n",
            1,
            23,
            "duplicate key \"path\"",
        ),
        ("a: 1\na: 2\n", 2, 1, "duplicate key \"a\""),
        ("x: !file {path: /tmp, size: 3}\n", 1, 4, "no option `size`"),
        ("x: !file /tmp\n", 1, 4, "expects a map"),
        ("a: &x 1\nb: *x\n", 2, 4, "alias"),
    ] {
        let err = resolve(yaml).unwrap_err();
        let text = err.to_string();
        assert!(
            text.starts_with(&format!("test.yaml:{line}:{column}: ")),
            "{yaml:?}: {text}"
        );
        assert!(text.contains(needle), "{yaml:?}: {text}");
    }
}

#[test]
fn failing_configurations_leak_nothing() {
    let _g = lock();
    let s = Scratch::new("leak");
    std::fs::create_dir(s.path("d")).unwrap();
    std::fs::write(s.path("f"), "").unwrap();
    let yaml = format!(
        "a: !file {{path: {d}}}\nb: !file {{path: {f}, mode: readwrite}}\n\
         c: !socket {{bind: '127.0.0.1:0'}}\nd: !socket {{bind: {sock}}}\ne: !fd stderr\n\
         f: !executable\ng: !file {{path: {missing}}}\n",
        d = s.p("d"),
        f = s.p("f"),
        sock = s.p("s.sock"),
        missing = s.p("missing"),
    );
    let before = open_fds();
    let err = resolve(&yaml).unwrap_err();
    assert_eq!(err.location.line, 7, "{err}");
    assert_eq!(open_fds(), before);
    // A syntax error after resources were opened.
    let yaml = format!("a: !file {{path: {}}}\nb: [\n", s.p("d"));
    let before = open_fds();
    assert!(resolve(&yaml).is_err());
    assert_eq!(open_fds(), before);
    // And a successful resolve closes everything once the plan is dropped.
    let before = open_fds();
    let p = plan(&format!(
        "a: !file {{path: {}}}\nc: !socket {{bind: '127.0.0.1:0'}}\n",
        s.p("d")
    ));
    assert_eq!(open_fds(), before + 2);
    drop(p);
    assert_eq!(open_fds(), before);
}

#[test]
fn an_fd_inside_the_deepest_nesting_the_parser_accepts_is_planned() {
    // The parser and the reader allow MAX_DEPTH nested collections (leaves are no level);
    // planning used to count the leaf as one more level and refused this tree.
    let _g = lock();
    let depth = argdata::MAX_DEPTH;
    let yaml = format!("{}!fd stdout{}\n", "[".repeat(depth), "]".repeat(depth));
    let p = plan(&yaml);
    let mut v = value(&p);
    for _ in 0..depth {
        let Value::Seq(mut items) = v else {
            panic!("not a sequence: {v:?}")
        };
        v = items.remove(0);
    }
    assert_eq!(v, Value::from(argdata::Fd(1)));
    let too_deep = format!("{}1{}\n", "[".repeat(depth + 1), "]".repeat(depth + 1));
    assert!(resolve(&too_deep).is_err());
}
