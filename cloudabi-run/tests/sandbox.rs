//! Runs the hostile test program and others through the launcher, each test inside
//! `unshare -m --propagation private`.

mod common;

use std::collections::BTreeSet;
use std::fs::{File, OpenOptions};
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::linux::net::SocketAddrExt;
use std::os::unix::fs::symlink;
use std::os::unix::net::{SocketAddr, UnixListener, UnixStream};
use std::time::{Duration, Instant};

use cloudabi_run::launch::{ExitStatus, GrantKind, Launch, Limits};
use cloudabi_run::sandbox::FileMode;
use cloudabi_run::{LaunchError, Stage};
use common::{Capture, hostile_program, inside_private_mount_ns, scratch_dir};

/// Every escape attempt the hostile program makes; each must be denied.
const ATTACKS: &[&str] = &[
    "argdata-memfd-write",
    "argdata-memfd-reopen-rw",
    "absolute-open-etc-passwd",
    "absolute-open-root-dir",
    "create-in-empty-root",
    "dotdot-escape",
    "dotdot-list-parent",
    "dotdot-from-nested",
    "fchdir-dotdot",
    "planted-relative-symlink",
    "planted-absolute-symlink",
    "created-symlink-escape",
    "proc-self-root",
    "proc-sys-write",
    "dev-tty",
    "write-readonly-dir",
    "create-in-readonly-dir",
    "truncate-in-readonly-dir",
    "unlink-in-readonly-dir",
    "mkdir-in-readonly-dir",
    "rename-readonly-file-out",
    "hardlink-readonly-file-into-writable-dir",
    "mknod-char-device",
    "mkfifo-in-readonly-dir",
    "exec-bin-sh",
    "open-by-handle-at",
    "name-to-handle-at",
    "chroot",
    "log-lseek",
    "log-ftruncate",
    "log-clear-append-then-pwrite",
    "log-pwritev2-noappend",
    "log-read",
    "ungranted-descriptors",
    "tcp-socket",
    "udp6-socket",
    "netlink-socket",
    "packet-socket",
    "x32-tcp-socket",
    "socketpair-inet",
    "connect-loopback-with-granted-socket",
    "bind-with-granted-socket",
    "connect-outside-abstract-unix-socket",
    "kill-launcher",
    "kill-parent",
    "pidfd-open-launcher",
    "ptrace-attach-launcher",
    "ptrace-traceme",
    "process-vm-readv-launcher",
    "mount-tmpfs",
    "umount-root",
    "fsopen",
    "unshare-user",
    "unshare-net",
    "setns",
    "clone-new-namespace",
    "clone3",
    "setuid-other",
    "capabilities",
    "sethostname",
    "settimeofday",
    "bpf",
    "keyctl",
    "add-key",
    "io-uring-setup",
    "perf-event-open",
    "userfaultfd",
    "tiocsti",
    "tioclinux",
    "personality",
    "init-module",
    "finit-module",
    "kexec-load",
    "reboot",
    "swapon",
    "iopl",
    "fanotify-init",
];

/// Every legitimate operation; each must succeed.
const LEGIT: &[&str] = &[
    "argdata-sealed",
    "environment-minimal",
    "read-granted-file",
    "read-nested-file",
    "list-granted-dir",
    "readwrite-dir-create-write-rename-remove",
    "append-log-write",
    "granted-unix-socket",
    "granted-tcp-listener-accept",
    "socketpair-unix",
    "fork-and-wait",
    "pid-is-2-child-of-init",
];

/// Nothing escaped or failed, every attack in `attacks` is reported `DENIED`, every use in
/// `legit` `OK`.
fn assert_verdicts(text: &str, attacks: &[&str], legit: &[&str]) {
    assert!(!text.contains("ESCAPED"), "{text}");
    assert!(!text.contains("FAIL"), "{text}");
    for a in attacks {
        let prefix = format!("DENIED {a}: ");
        assert!(
            text.lines().any(|l| l.starts_with(&prefix)),
            "attack {a} not reported as denied:\n{text}"
        );
    }
    for l in legit {
        let line = format!("OK {l}");
        assert!(
            text.lines().any(|x| x == line),
            "legitimate {l} did not succeed:\n{text}"
        );
    }
}

fn dir_fd(path: &std::path::Path) -> OwnedFd {
    File::open(path).expect("open dir").into()
}

#[test]
fn hostile_program_is_contained() {
    if !inside_private_mount_ns("hostile_program_is_contained") {
        return;
    }
    let base = scratch_dir("hostile");
    let ro = base.join("ro");
    let rw = base.join("rw");
    std::fs::create_dir_all(ro.join("sub/deeper")).unwrap();
    std::fs::create_dir_all(&rw).unwrap();
    std::fs::write(ro.join("hello.txt"), "hello\n").unwrap();
    std::fs::write(ro.join("sub/deeper/nested.txt"), "nested\n").unwrap();
    std::fs::write(base.join("outside.txt"), "secret\n").unwrap();
    std::fs::write(rw.join("planted.txt"), "planted\n").unwrap();
    symlink("../outside.txt", ro.join("escape-link")).unwrap();
    symlink("/etc/passwd", ro.join("abs-link")).unwrap();
    let log_path = base.join("log.txt");
    std::fs::write(&log_path, "before\n").unwrap();
    let log: OwnedFd = OpenOptions::new()
        .append(true)
        .open(&log_path)
        .unwrap()
        .into();

    let (mut mine, theirs) = UnixStream::pair().unwrap();
    mine.write_all(b"pong").unwrap();
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let client = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
    let target = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = target.local_addr().unwrap().port();
    // An unconnected, unbound TCP socket created outside: connect and bind must fail.
    let tcp = unbound_tcp_socket();
    let abstract_name = format!("cloudabi-run-test-{}", std::process::id());
    let _abstract =
        UnixListener::bind_addr(&SocketAddr::from_abstract_name(abstract_name.as_bytes()).unwrap())
            .unwrap();

    let (out, stdout) = Capture::new();
    let launch = Launch::new(hostile_program())
        .grant(dir_fd(&ro), GrantKind::Dir(FileMode::Read))
        .grant(dir_fd(&rw), GrantKind::Dir(FileMode::ReadWrite))
        .grant(log, GrantKind::File(FileMode::Append))
        .grant(theirs.into(), GrantKind::Socket)
        .grant(listener.into(), GrantKind::Socket)
        .grant(tcp, GrantKind::Other)
        .grant(stdout, GrantKind::Stdout);
    assert_eq!(launch.fd_numbers(), vec![3, 4, 5, 6, 7, 8, 1]);
    let outcome = launch
        .arg("attack")
        .arg("ro=3")
        .arg("rw=4")
        .arg("log=5")
        .arg("sock=6")
        .arg("listener=7")
        .arg("tcp=8")
        .arg(format!("outer_pid={}", std::process::id()))
        .arg(format!("port={port}"))
        .arg(format!("abstract={abstract_name}"))
        .argdata(b"test-argdata".to_vec())
        .timeout(Duration::from_secs(60))
        .run()
        .expect("launch");
    let text = out.collect();
    println!("{text}");
    assert_eq!(outcome.statuses, vec![ExitStatus::Exited(0)], "{text}");
    assert!(text.lines().any(|l| l == "DONE"), "{text}");
    assert_verdicts(&text, ATTACKS, LEGIT);
    let reported = text.lines().filter(|l| l.starts_with("DENIED ")).count();
    assert_eq!(reported, ATTACKS.len(), "{text}");

    // Nothing outside was touched; the log only grew.
    assert_eq!(
        std::fs::read_to_string(&log_path).unwrap(),
        "before\nsandboxed line\n"
    );
    assert_eq!(
        std::fs::read_to_string(base.join("outside.txt")).unwrap(),
        "secret\n"
    );
    assert_eq!(
        std::fs::read_to_string(ro.join("hello.txt")).unwrap(),
        "hello\n"
    );
    assert!(!rw.join("stolen.txt").exists() && !rw.join("hl.txt").exists());
    let mut reply = [0u8; 4];
    mine.read_exact(&mut reply).unwrap();
    assert_eq!(&reply, b"ping");
    let mut hi = String::new();
    let mut client = client;
    client.read_to_string(&mut hi).unwrap();
    assert_eq!(hi, "hi");
    std::fs::remove_dir_all(&base).unwrap();
}

fn unbound_tcp_socket() -> OwnedFd {
    rustix::net::socket(
        rustix::net::AddressFamily::INET,
        rustix::net::SocketType::STREAM,
        None,
    )
    .expect("socket")
}

fn report(launch: Launch) -> (cloudabi_run::launch::Outcome, String) {
    let (out, stdout) = Capture::new();
    let outcome = launch
        .grant(stdout, GrantKind::Stdout)
        .arg("report")
        .run()
        .expect("launch");
    (outcome, out.collect())
}

#[test]
fn descriptors_are_renumbered_and_others_closed() {
    if !inside_private_mount_ns("descriptors_are_renumbered_and_others_closed") {
        return;
    }
    // Ungranted, inheritable descriptors in the launcher must not reach the program.
    let leak = rustix::fs::open(
        "/dev/null",
        rustix::fs::OFlags::RDONLY,
        rustix::fs::Mode::empty(),
    )
    .unwrap();
    let leak_raw = leak.as_raw_fd();
    let base = scratch_dir("fds");
    // Grants in an order that differs from their numbers in the launcher.
    File::create(base.join("a")).unwrap();
    let a: OwnedFd = File::open(base.join("a")).unwrap().into();
    let b: OwnedFd = File::open(&base).unwrap().into();
    let c: OwnedFd = File::create(base.join("c")).unwrap().into();
    let argdata = b"\x01\x02\x03argdata".to_vec();
    let (outcome, text) = report(
        Launch::new(hostile_program())
            .grant(c, GrantKind::File(FileMode::Write))
            .grant(b, GrantKind::Dir(FileMode::Read))
            .grant(a, GrantKind::File(FileMode::Read))
            .argdata(argdata.clone()),
    );
    assert_eq!(outcome.exit_code(), 0, "{text}");
    let fds: BTreeSet<i32> = text
        .lines()
        .filter_map(|l| l.strip_prefix("FD "))
        .map(|n| n.parse().unwrap())
        .collect();
    assert_eq!(
        fds,
        (0..=6).collect(),
        "{text} (leaked launcher fd was {leak_raw})"
    );
    let envs: Vec<&str> = text
        .lines()
        .filter_map(|l| l.strip_prefix("ENV "))
        .collect();
    assert_eq!(envs, vec!["CLOUDABI_ARGDATA_FD=6"], "{text}");
    assert!(text.lines().any(|l| l == "SEALS f"), "{text}");
    let hex: String = argdata.iter().map(|b| format!("{b:02x}")).collect();
    assert!(
        text.lines().any(|l| l == format!("ARGDATA {hex}")),
        "{text}"
    );
    // Only SIGPIPE starts ignored (CloudABI reports EPIPE instead).
    assert!(text.lines().any(|l| l == "SIGIGN 13"), "{text}");
    // The program is process 2 of its PID namespace; process 1 is the launcher's init.
    assert!(text.lines().any(|l| l == "PID 2"), "{text}");
    assert!(text.lines().any(|l| l == "PPID 1"), "{text}");
    drop(leak);
    std::fs::remove_dir_all(&base).unwrap();
}

#[test]
fn listen_fds_mode_numbers_sockets_first() {
    if !inside_private_mount_ns("listen_fds_mode_numbers_sockets_first") {
        return;
    }
    let base = scratch_dir("listen");
    let dir: OwnedFd = File::open(&base).unwrap().into();
    let sock: OwnedFd = TcpListener::bind("127.0.0.1:0").unwrap().into();
    let launch = Launch::new(hostile_program())
        .listen_fds(true)
        .grant(dir, GrantKind::Dir(FileMode::Read))
        .grant_named(sock, GrantKind::Socket, "http");
    assert_eq!(launch.fd_numbers(), vec![4, 3]);
    let (outcome, text) = report(launch);
    assert_eq!(outcome.exit_code(), 0, "{text}");
    let envs: Vec<&str> = text
        .lines()
        .filter_map(|l| l.strip_prefix("ENV "))
        .collect();
    assert_eq!(
        envs,
        vec![
            "CLOUDABI_ARGDATA_FD=5",
            "LISTEN_FDNAMES=http",
            "LISTEN_FDS=1",
            // The program's pid as it sees it: 2, after its init.
            "LISTEN_PID=2"
        ],
        "{text}"
    );
    std::fs::remove_dir_all(&base).unwrap();
}

#[test]
fn exit_status_and_signals_propagate() {
    if !inside_private_mount_ns("exit_status_and_signals_propagate") {
        return;
    }
    let o = Launch::new(hostile_program())
        .arg("exit")
        .arg("42")
        .run()
        .unwrap();
    assert_eq!(o.statuses, vec![ExitStatus::Exited(42)]);
    assert_eq!(o.exit_code(), 42);
    let o = Launch::new(hostile_program())
        .arg("signal")
        .arg("11")
        .run()
        .unwrap();
    assert_eq!(o.statuses, vec![ExitStatus::Signaled(11)]);
    assert_eq!(o.exit_code(), 139);
    // A signal the program sends its own process group takes its default action: the
    // program is not process 1, which would ignore it.
    let o = Launch::new(hostile_program())
        .arg("signal")
        .arg("15")
        .run()
        .unwrap();
    assert_eq!(o.statuses, vec![ExitStatus::Signaled(15)]);
    // The C library's abort() ends in SIGABRT.
    let o = Launch::new(hostile_program()).arg("abort").run().unwrap();
    assert_eq!(o.statuses, vec![ExitStatus::Signaled(libc::SIGABRT)]);
    assert_eq!(o.exit_code(), 134);
    // An exit code above 128 stays an exit code.
    let o = Launch::new(hostile_program())
        .arg("exit")
        .arg("130")
        .run()
        .unwrap();
    assert_eq!(o.statuses, vec![ExitStatus::Exited(130)]);
    // Three instances, one failing: the launcher reports the failure.
    let o = Launch::new(hostile_program())
        .arg("exit")
        .arg("0")
        .instances(3)
        .run()
        .unwrap();
    assert_eq!(o.statuses, vec![ExitStatus::Exited(0); 3]);
}

/// Waits (at most 30 s) until every init in `inits` has a child running `program`: an init
/// passes signals on only once it has started the program, and a signal sent before that
/// would be lost (the init of a PID namespace drops signals it has no handler for yet).
fn wait_until_programs_run(inits: &[i32], program: &std::path::Path) {
    use std::os::unix::fs::MetadataExt;
    let want = std::fs::metadata(program).unwrap();
    let runs = |init: i32| {
        let children = std::fs::read_to_string(format!("/proc/{init}/task/{init}/children"))
            .unwrap_or_default();
        children.split_whitespace().any(|pid| {
            std::fs::metadata(format!("/proc/{pid}/exe"))
                .is_ok_and(|m| (m.dev(), m.ino()) == (want.dev(), want.ino()))
        })
    };
    let deadline = Instant::now() + Duration::from_secs(30);
    while !inits.iter().all(|&init| runs(init)) {
        assert!(Instant::now() < deadline, "the programs did not start");
        std::thread::sleep(Duration::from_millis(10));
    }
}

#[test]
fn forwarded_signals_reach_the_program() {
    if !inside_private_mount_ns("forwarded_signals_reach_the_program") {
        return;
    }
    for sig in [libc::SIGTERM, libc::SIGINT, libc::SIGUSR1] {
        let start = Instant::now();
        let running = Launch::new(hostile_program())
            .arg("sleep")
            .arg("60")
            .instances(2)
            .timeout(Duration::from_secs(30))
            .spawn()
            .unwrap();
        wait_until_programs_run(&running.pids(), &hostile_program());
        running.signal(sig);
        let o = running.wait().unwrap();
        assert!(!o.timed_out);
        assert_eq!(o.statuses, vec![ExitStatus::Signaled(sig); 2]);
        assert_eq!(o.exit_code(), 128 + sig);
        assert!(start.elapsed() < Duration::from_secs(5), "{sig}");
    }
    // SIGKILL kills everything, as with the timeout.
    let running = Launch::new(hostile_program())
        .arg("sleep")
        .arg("60")
        .spawn()
        .unwrap();
    running.signal(libc::SIGKILL);
    assert_eq!(
        running.wait().unwrap().statuses,
        vec![ExitStatus::Signaled(libc::SIGKILL)]
    );
}

#[test]
fn orphans_are_reaped_by_the_init() {
    if !inside_private_mount_ns("orphans_are_reaped_by_the_init") {
        return;
    }
    let (outcome, text) = {
        let (out, stdout) = Capture::new();
        let o = Launch::new(hostile_program())
            .arg("orphan")
            .grant(stdout, GrantKind::Stdout)
            .timeout(Duration::from_secs(30))
            .run()
            .unwrap();
        (o, out.collect())
    };
    assert_eq!(outcome.statuses, vec![ExitStatus::Exited(0)], "{text}");
    // Without an init reaping it, the orphan would stay a zombie of process 1.
    assert_eq!(text, "REAPED\n");
}

#[test]
fn nothing_is_left_running_after_the_program() {
    if !inside_private_mount_ns("nothing_is_left_running_after_the_program") {
        return;
    }
    // The program exits and leaves a child sleeping 60 s that holds the output pipe: when
    // the init follows the program, the kernel kills the rest of the namespace, so the pipe
    // reaches end-of-file at once.
    let start = Instant::now();
    let (out, stdout) = Capture::new();
    let o = Launch::new(hostile_program())
        .arg("linger")
        .grant(stdout, GrantKind::Stdout)
        .run()
        .unwrap();
    assert_eq!(o.statuses, vec![ExitStatus::Exited(0)]);
    assert_eq!(out.collect(), "PARENT EXITS\n");
    assert!(start.elapsed() < Duration::from_secs(10));
}

#[test]
fn instances_share_descriptors_and_read_their_own_argdata() {
    if !inside_private_mount_ns("instances_share_descriptors_and_read_their_own_argdata") {
        return;
    }
    let (outcome, text) = report(
        Launch::new(hostile_program())
            .instances(3)
            .argdata(b"shared".to_vec()),
    );
    assert_eq!(outcome.statuses.len(), 3);
    assert_eq!(outcome.exit_code(), 0, "{text}");
    let hex: String = b"shared".iter().map(|b| format!("{b:02x}")).collect();
    let n = text
        .lines()
        .filter(|l| *l == format!("ARGDATA {hex}"))
        .count();
    assert_eq!(n, 3, "{text}");
}

#[test]
fn timeout_kills_the_program() {
    if !inside_private_mount_ns("timeout_kills_the_program") {
        return;
    }
    let start = Instant::now();
    let o = Launch::new(hostile_program())
        .arg("sleep")
        .arg("60")
        .instances(2)
        .timeout(Duration::from_millis(300))
        .run()
        .unwrap();
    assert!(o.timed_out);
    assert_eq!(o.statuses, vec![ExitStatus::Signaled(9); 2]);
    assert_eq!(o.exit_code(), 137);
    assert!(start.elapsed() < Duration::from_secs(10));
}

#[test]
fn setup_failure_is_reported_and_nothing_runs() {
    if !inside_private_mount_ns("setup_failure_is_reported_and_nothing_runs") {
        return;
    }
    // An impossible resource limit: the child fails before exec.
    let (out, stdout) = Capture::new();
    let err = Launch::new(hostile_program())
        .arg("report")
        .grant(stdout, GrantKind::Stdout)
        .limits(Limits {
            max_fds: Some(u64::MAX - 1),
            ..Limits::default()
        })
        .run()
        .expect_err("must fail");
    match &err {
        LaunchError::Setup { stage, .. } => assert_eq!(stage.0, Some(Stage::ResourceLimit)),
        other => panic!("unexpected error {other}"),
    }
    assert!(err.to_string().contains("resource limit"), "{err}");
    assert_eq!(out.collect(), "", "the program must not have run");

    // A dynamically linked program cannot start in the empty root: exec fails cleanly.
    if std::path::Path::new("/bin/true").exists() {
        let err = Launch::new("/bin/true").run().expect_err("must fail");
        match err {
            LaunchError::Setup { stage, .. } => assert_eq!(stage.0, Some(Stage::Exec)),
            other => panic!("unexpected error {other}"),
        }
    }
    // A missing program is reported before anything starts.
    let err = Launch::new("/nonexistent/program").run().err().unwrap();
    assert!(matches!(err, LaunchError::Program { .. }), "{err}");
}

#[test]
fn fd_numbering_helper() {
    use cloudabi_run::launch::{argdata_fd_number, child_fd_numbers};
    let kinds = [
        GrantKind::Dir(FileMode::Read),
        GrantKind::Stderr,
        GrantKind::Socket,
        GrantKind::File(FileMode::Append),
        GrantKind::Socket,
    ];
    assert_eq!(child_fd_numbers(&kinds, false), vec![3, 2, 4, 5, 6]);
    assert_eq!(child_fd_numbers(&kinds, true), vec![5, 2, 3, 6, 4]);
    assert_eq!(argdata_fd_number(&kinds), 7);
}

#[test]
fn log_denials_mode_is_accepted_by_the_kernel() {
    if !inside_private_mount_ns("log_denials_mode_is_accepted_by_the_kernel") {
        return;
    }
    let (out, stdout) = Capture::new();
    let running = Launch::new(hostile_program())
        .arg("attack-one")
        .grant(stdout, GrantKind::Stdout)
        .sandbox(cloudabi_run::sandbox::SandboxOptions {
            best_effort: false,
            log_denials: true,
        })
        .spawn()
        .expect("spawn with log_denials");
    assert!(running.skipped().is_empty(), "{:?}", running.skipped());
    let o = running.wait().unwrap();
    assert_eq!(o.exit_code(), 0);
    assert_eq!(
        out.collect(),
        "DENIED tcp-socket: 1\nDENIED absolute-open-root-dir: 13\n"
    );
}

/// What the `holes` mode tries that must fail: lookups, metadata writes and UNIX socket
/// connections through `..` or on read-only grants, TCP fast open, memfd execution and
/// another process's limits (see `tests/programs/holes.rs`).
const HOLE_ATTACKS: &[&str] = &[
    "stat-outside-through-dotdot",
    "stat-parent-through-dotdot",
    "stat-rw-parent-through-dotdot",
    "stat-host-proc-through-dotdot",
    "stat-host-etc-through-dotdot",
    "opath-outside-through-dotdot",
    "list-host-proc-through-dotdot",
    "readlink-outside-through-dotdot",
    "chmod-outside-through-dotdot",
    "chmod-readonly-grant-file",
    "fchmod-readonly-grant-dir",
    "chmod-readwrite-grant-file",
    "chown-readonly-grant-file",
    "utimensat-readonly-grant-file",
    "utimensat-readonly-grant-dir",
    "utimensat-outside-through-dotdot",
    "setxattr-readonly-grant-file",
    "setxattr-readwrite-grant-file",
    "setxattr-outside-through-dotdot",
    "inotify-outside-through-dotdot",
    "connect-outside-unix-stream-through-dotdot",
    "connect-outside-unix-stream-absolute",
    "sendto-outside-unix-dgram-through-dotdot",
    "sendto-outside-unix-dgram-absolute",
    "tcp-fastopen-outside",
    "memfd-exec",
    "memfd-create-exec-flag",
    "prlimit-init",
];

/// What the `holes` mode does that must keep working.
const HOLE_LEGIT: &[&str] = &[
    "dotdot-stays-in-grant",
    "utimensat-readwrite-grant",
    "create-and-write-in-readwrite-grant",
    "read-in-readonly-grant",
    "inotify-inside-grant",
    "connect-unix-socket-in-readwrite-grant",
    "memfd-create-plain",
    "prlimit-self",
];

/// Mode, modification time and whether the attacker's extended attribute is there.
fn host_view(path: &std::path::Path) -> (u32, i64, bool) {
    use std::os::unix::fs::MetadataExt;
    let m = std::fs::symlink_metadata(path).unwrap();
    let mut buf = [0u8; 16];
    let xattr = rustix::fs::lgetxattr(path, "user.cloudabi-escape", &mut buf).is_ok();
    (m.mode(), m.mtime(), xattr)
}

#[test]
fn hostile_program_cannot_reach_past_its_grants() {
    use std::os::unix::net::UnixDatagram;
    if !inside_private_mount_ns("hostile_program_cannot_reach_past_its_grants") {
        return;
    }
    let base = scratch_dir("holes");
    let (ro, rw) = (base.join("ro"), base.join("rw"));
    std::fs::create_dir_all(&ro).unwrap();
    std::fs::create_dir_all(&rw).unwrap();
    std::fs::write(ro.join("hello.txt"), "hello\n").unwrap();
    std::fs::write(rw.join("planted.txt"), "planted\n").unwrap();
    std::fs::write(base.join("outside.txt"), "secret\n").unwrap();
    symlink("outside.txt", base.join("outside-link")).unwrap();
    let ustream = UnixListener::bind(base.join("outside.sock")).unwrap();
    ustream.set_nonblocking(true).unwrap();
    let udgram = UnixDatagram::bind(base.join("outside.dgram")).unwrap();
    udgram.set_nonblocking(true).unwrap();
    let inside = UnixListener::bind(rw.join("inside.sock")).unwrap();
    inside.set_nonblocking(true).unwrap();
    let inside_ro = UnixListener::bind(ro.join("inside-ro.sock")).unwrap();
    inside_ro.set_nonblocking(true).unwrap();
    let outside_tcp = TcpListener::bind("127.0.0.1:0").unwrap();
    outside_tcp.set_nonblocking(true).unwrap();
    let port = outside_tcp.local_addr().unwrap().port();
    let server = TcpListener::bind("127.0.0.1:0").unwrap();
    let _client = TcpStream::connect(server.local_addr().unwrap()).unwrap();
    let (conn, _) = server.accept().unwrap();
    let own: OwnedFd = File::open(hostile_program()).unwrap().into();

    let watched = [
        base.join("outside.txt"),
        base.join("outside-link"),
        ro.clone(),
        ro.join("hello.txt"),
    ];
    let before: Vec<_> = watched.iter().map(|p| host_view(p)).collect();
    let planted_before = host_view(&rw.join("planted.txt"));

    let (out, stdout) = Capture::new();
    let launch = Launch::new(hostile_program())
        .grant(dir_fd(&ro), GrantKind::Dir(FileMode::Read))
        .grant(dir_fd(&rw), GrantKind::Dir(FileMode::ReadWrite))
        .grant(own, GrantKind::Other)
        .grant(conn.into(), GrantKind::Socket)
        .grant(stdout, GrantKind::Stdout);
    assert_eq!(launch.fd_numbers(), vec![3, 4, 5, 6, 1]);
    let outcome = launch
        .arg("holes")
        .arg("ro=3")
        .arg("rw=4")
        .arg("self=5")
        .arg("conn=6")
        .arg(format!("port={port}"))
        .arg(format!("ustream={}", base.join("outside.sock").display()))
        .arg(format!("udgram={}", base.join("outside.dgram").display()))
        .timeout(Duration::from_secs(60))
        .run()
        .expect("launch");
    let text = out.collect();
    println!("{text}");
    assert_eq!(outcome.statuses, vec![ExitStatus::Exited(0)], "{text}");
    assert!(text.lines().any(|l| l == "DONE"), "{text}");
    assert_verdicts(&text, HOLE_ATTACKS, HOLE_LEGIT);

    // Seen from the host: nothing outside changed, nothing outside was reached.
    let after: Vec<_> = watched.iter().map(|p| host_view(p)).collect();
    assert_eq!(before, after, "mode, mtime or xattr changed: {watched:?}");
    let planted = host_view(&rw.join("planted.txt"));
    assert_eq!(planted.0, planted_before.0, "chmod in the read-write grant");
    assert!(
        !planted.2,
        "an extended attribute was set in the read-write grant"
    );
    assert_eq!(
        planted.1, 0,
        "utimensat in the read-write grant did not apply"
    );
    assert_eq!(
        std::fs::read_to_string(rw.join("created.txt")).unwrap(),
        "created\n"
    );
    let would_block = |r: std::io::Result<()>| matches!(r, Err(ref e) if e.kind() == std::io::ErrorKind::WouldBlock);
    assert!(
        would_block(ustream.accept().map(drop)),
        "the outside UNIX stream socket was reached"
    );
    let mut buf = [0u8; 64];
    assert!(
        would_block(udgram.recv(&mut buf).map(drop)),
        "the outside UNIX datagram socket was reached"
    );
    assert!(
        would_block(outside_tcp.accept().map(drop)),
        "the outside TCP listener was reached"
    );
    assert!(
        inside.accept().is_ok(),
        "the UNIX socket inside the read-write grant was not reached"
    );
    // A socket inside the read-only grant: refused where Landlock controls connecting
    // (ABI 9); below that, the documented limit (docs/threat-model.md), checked so that
    // this test notices when the kernel changes.
    let ro_line = text
        .lines()
        .find_map(|l| l.strip_prefix("RESULT connect-unix-socket-in-readonly-grant: "))
        .unwrap_or_else(|| panic!("no read-only socket result:\n{text}"));
    if cloudabi_run::sandbox::landlock_abi() >= 9 {
        assert_eq!(ro_line, libc::EACCES.to_string(), "{text}");
        assert!(
            would_block(inside_ro.accept().map(drop)),
            "the UNIX socket inside the read-only grant was reached"
        );
    } else {
        assert_eq!(ro_line, "connected", "{text}");
        assert!(inside_ro.accept().is_ok(), "{text}");
    }
    std::fs::remove_dir_all(&base).unwrap();
}

#[test]
fn ignored_signals_of_the_launcher_are_not_inherited() {
    if !inside_private_mount_ns("ignored_signals_of_the_launcher_are_not_inherited") {
        return;
    }
    // As a shell leaves a background job (SIGINT, SIGQUIT) or nohup (SIGHUP); this process
    // is the test's own re-executed copy, so nothing else sees the change.
    for sig in [
        libc::SIGINT,
        libc::SIGQUIT,
        libc::SIGHUP,
        libc::SIGUSR1,
        libc::SIGTERM,
    ] {
        // SAFETY: setting a signal to SIG_IGN installs no handler code; this process runs
        // this one test only.
        unsafe { libc::signal(sig, libc::SIG_IGN) };
    }
    let (outcome, text) = report(Launch::new(hostile_program()));
    assert_eq!(outcome.exit_code(), 0, "{text}");
    assert!(text.lines().any(|l| l == "SIGIGN 13"), "{text}");
}
