//! The `cloudabi-run` command line: option errors, configuration errors (exit 125, nothing
//! started), missing or unrunnable programs (127, 126), `--check`, exit status pass-through, limits, timeout, instances and listen-fds.
//! Every test that starts a program runs inside `unshare -m --propagation private`.

mod common;

use std::collections::BTreeMap;
use std::net::TcpListener;

use argdata::{Argdata, Fd, Value};
use common::cli::{Scratch, inside_private_mount_ns, probe, run, run_stdin, stderr, stdout};

/// What the probe printed, parsed.
#[derive(Debug, Default)]
struct Report {
    fds: BTreeMap<i32, String>,
    open_above: Vec<i32>,
    env: BTreeMap<String, String>,
    pid: i32,
    nofile: u64,
    address_space: u64,
    argdata: Vec<u8>,
    touched: Option<bool>,
    threads: Option<u64>,
}

fn reports(out: &str) -> Vec<Report> {
    let mut all = Vec::new();
    let mut r = Report::default();
    for line in out.lines() {
        let (word, rest) = line.split_once(' ').unwrap_or((line, ""));
        match word {
            "fd" => {
                let (n, what) = rest.split_once(' ').unwrap();
                if n == "0" && !r.fds.is_empty() {
                    all.push(std::mem::take(&mut r));
                }
                r.fds.insert(n.parse().unwrap(), what.to_owned());
            }
            "open" => r.open_above.push(rest.parse().unwrap()),
            "env" => {
                let (k, v) = rest.split_once('=').unwrap();
                r.env.insert(k.to_owned(), v.to_owned());
            }
            "pid" => r.pid = rest.parse().unwrap(),
            "nofile" => r.nofile = rest.parse().unwrap(),
            "as" => r.address_space = rest.parse().unwrap(),
            "argdata" => {
                r.argdata = (0..rest.len())
                    .step_by(2)
                    .map(|i| u8::from_str_radix(&rest[i..i + 2], 16).unwrap())
                    .collect();
            }
            "touch" => r.touched = Some(rest == "ok"),
            "threads" => r.threads = Some(rest.parse().unwrap()),
            "hog" => {}
            _ => panic!("unexpected probe line {line:?}"),
        }
    }
    if !r.fds.is_empty() {
        all.push(r);
    }
    all
}

fn probe_path() -> String {
    probe().display().to_string()
}

#[test]
fn help_and_version() {
    let o = run(&["--help"]);
    assert_eq!(o.status.code(), Some(0));
    let text = stdout(&o);
    for needle in [
        "--check",
        "--listen-fds",
        "--instances",
        "Examples:",
        "!socket",
        "125",
        "126",
        "127",
    ] {
        assert!(
            text.contains(needle),
            "{needle} missing from --help:\n{text}"
        );
    }
    let o = run(&["--version"]);
    assert_eq!(o.status.code(), Some(0));
    assert!(stdout(&o).starts_with("cloudabi-run "));
}

#[test]
fn option_errors_exit_125_and_a_missing_program_127() {
    for args in [
        &[][..],
        &["--bogus", "/bin/true"],
        &["--instances", "0", "/bin/true"],
        &["--memory", "lots", "/bin/true"],
        &["--timeout", "-1", "/bin/true"],
        &["/bin/true", "extra"],
    ] {
        let o = run(args);
        assert_eq!(o.status.code(), Some(125), "{args:?}");
        assert!(!stderr(&o).is_empty());
    }
    let o = run_stdin(&["/nonexistent/program"], "a: 1\n");
    assert_eq!(o.status.code(), Some(127), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("cannot open program /nonexistent/program"),
        "{}",
        stderr(&o)
    );
    let o = run(&["--config", "/nonexistent/conf.yaml", "/bin/true"]);
    assert_eq!(o.status.code(), Some(125));
    assert!(
        stderr(&o).contains("/nonexistent/conf.yaml: cannot read"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn configuration_errors_name_the_place_and_start_nothing() {
    let s = Scratch::new("bad");
    let probe = probe_path();
    // A configuration whose program would create a marker, broken on its last line.
    let yaml = format!(
        "%TAG ! tag:nuxi.nl,2015:cloudabi/\n---\ntouch: !file {{path: {}, mode: readwrite}}\n\
         out: !fd stdout\nbroken: [1, 2\n",
        s.p("")
    );
    let o = run_stdin(&[&probe], &yaml);
    assert_eq!(o.status.code(), Some(125));
    assert_eq!(stdout(&o), "");
    let err = stderr(&o);
    assert!(err.starts_with("cloudabi-run: <stdin>:6:1: "), "{err}");
    assert!(!s.path("marker").exists());

    // The same from a file: the file's name is in the message.
    std::fs::write(s.path("conf.yaml"), &yaml).unwrap();
    let conf = s.p("conf.yaml");
    let o = run(&["--config", &conf, &probe]);
    assert_eq!(o.status.code(), Some(125));
    assert!(
        stderr(&o).starts_with(&format!("cloudabi-run: {conf}:6:1: ")),
        "{}",
        stderr(&o)
    );

    // A resource that cannot be opened.
    let yaml = format!(
        "touch: !file {{path: {}, mode: readwrite}}\nlog: !file {{path: {}}}\n",
        s.p(""),
        s.p("missing.log")
    );
    let o = run_stdin(&[&probe], &yaml);
    assert_eq!(o.status.code(), Some(125));
    let err = stderr(&o);
    assert!(
        err.starts_with("cloudabi-run: <stdin>:2:6: cannot open "),
        "{err}"
    );
    assert!(!s.path("marker").exists());

    // A NUL character is not YAML; invalid UTF-8 is located too.
    let o = run_stdin(&[&probe], "a: 1\nb: \u{e9}\u{0}");
    assert_eq!(o.status.code(), Some(125));
    assert!(
        stderr(&o).starts_with("cloudabi-run: <stdin>:2:"),
        "{}",
        stderr(&o)
    );
    let mut bad = b"a: 1\nbb: ".to_vec();
    bad.push(0xff);
    let mut child = std::process::Command::new(common::cli::launcher())
        .arg(&probe)
        .stdin(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::io::Write::write_all(&mut child.stdin.take().unwrap(), &bad).unwrap();
    let o = child.wait_with_output().unwrap();
    assert_eq!(o.status.code(), Some(125));
    assert!(
        stderr(&o).contains("<stdin>:2:5: invalid UTF-8"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn check_prints_and_starts_nothing() {
    let s = Scratch::new("check");
    let probe = probe_path();
    let yaml = format!(
        "%TAG ! tag:nuxi.nl,2015:cloudabi/\n---\ntouch: !file {{path: {}, mode: readwrite}}\n\
         web: !socket {{bind: '127.0.0.1:0'}}\nout: !fd stdout\nexit: 3\n",
        s.p("")
    );
    let o = run_stdin(&["--check", &probe], &yaml);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let text = stdout(&o);
    assert!(
        text.starts_with("%TAG ! tag:nuxi.nl,2015:cloudabi/\n---\n!!map {\n"),
        "{text}"
    );
    assert!(
        text.contains("? !!str \"touch\"\n  : !fd \"3\",\n"),
        "{text}"
    );
    assert!(text.contains("? !!str \"web\"\n  : !fd \"4\",\n"), "{text}");
    assert!(text.contains("? !!str \"out\"\n  : !fd \"1\",\n"), "{text}");
    assert!(
        text.contains("# fd 4: stream socket bound to 127.0.0.1:0 (would be bound)\n"),
        "{text}"
    );
    assert!(!s.path("marker").exists(), "--check started the program");
    // The printed YAML is valid argdata YAML.
    let v = argdata::yaml::from_str(&text).unwrap();
    assert_eq!(v.get("exit"), Some(&Value::Int(3)));

    // `--config -` is standard input.
    let o = run_stdin(&["--check", "--config", "-", &probe], &yaml);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(stdout(&o).contains("? !!str \"web\"\n  : !fd \"4\",\n"));

    // With --listen-fds the socket is numbered first.
    let o = run_stdin(&["--check", "--listen-fds", &probe], &yaml);
    assert!(stdout(&o).contains("? !!str \"web\"\n  : !fd \"3\",\n"));
    // The port is free again: everything was closed.
    let port = {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let o = run_stdin(
        &["--check", &probe],
        &format!("web: !socket {{bind: '127.0.0.1:{port}'}}\n"),
    );
    assert_eq!(o.status.code(), Some(0));
    TcpListener::bind(("127.0.0.1", port)).expect("--check left the socket open");
}

#[test]
fn check_creates_binds_and_connects_nothing() {
    let s = Scratch::new("check-dry");
    let probe = probe_path();
    // A server the configuration connects to: --check must not reach it.
    let server = TcpListener::bind("127.0.0.1:0").unwrap();
    server.set_nonblocking(true).unwrap();
    let port = server.local_addr().unwrap().port();
    let yaml = format!(
        "log: !file {{path: {}, mode: append, create: true}}\n\
         ctl: !socket {{bind: {}}}\n\
         up: !socket {{connect: '127.0.0.1:{port}'}}\n\
         conns: !connections {{bind: {}}}\n",
        s.p("new.log"),
        s.p("ctl.sock"),
        s.p("conns.sock"),
    );
    let o = run_stdin(&["--check", &probe], &yaml);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let text = stdout(&o);
    for line in [
        format!(
            "# fd 3: file {}, append (would be created)\n",
            s.p("new.log")
        ),
        format!(
            "# fd 4: stream socket bound to {} (would be bound)\n",
            s.p("ctl.sock")
        ),
        format!("# fd 5: stream socket connected to 127.0.0.1:{port} (would be connected)\n"),
        format!(
            "# fd 6: connections accepted on {}, backlog 128, passed by the launcher (would be bound)\n",
            s.p("conns.sock")
        ),
    ] {
        assert!(text.contains(&line), "{line:?} missing from:\n{text}");
    }
    for name in ["new.log", "ctl.sock", "conns.sock"] {
        assert!(!s.path(name).exists(), "--check created {name}");
    }
    assert_eq!(
        server.accept().map(|_| ()).unwrap_err().kind(),
        std::io::ErrorKind::WouldBlock,
        "--check connected to the server"
    );

    // What a real start would refuse is still found: a missing directory for a file to
    // create, a UNIX socket path that exists.
    let o = run_stdin(
        &["--check", &probe],
        &format!(
            "a: 1\nlog: !file {{path: {}, create: true}}\n",
            s.p("missing/new.log")
        ),
    );
    assert_eq!(o.status.code(), Some(125), "{}", stderr(&o));
    assert!(
        stderr(&o).starts_with(&format!(
            "cloudabi-run: <stdin>:2:6: cannot open {}",
            s.p("missing/new.log")
        )),
        "{}",
        stderr(&o)
    );
    std::fs::write(s.path("taken.sock"), "").unwrap();
    let o = run_stdin(
        &["--check", &probe],
        &format!("ctl: !socket {{bind: {}}}\n", s.p("taken.sock")),
    );
    assert_eq!(o.status.code(), Some(125), "{}", stderr(&o));
    assert!(stderr(&o).contains("bind failed"), "{}", stderr(&o));
}

#[test]
fn program_sees_exactly_its_grants() {
    if !inside_private_mount_ns("program_sees_exactly_its_grants", &[]) {
        return;
    }
    let s = Scratch::new("grants");
    std::fs::write(s.path("in.txt"), "x").unwrap();
    let probe = probe_path();
    let yaml = format!(
        "out: !fd stdout\nfiles:\n  - !file {{path: {}}}\n  - !file {{path: {}, mode: append, create: true}}\n\
         dir: !file {{path: {}, mode: readwrite}}\ntouch: !file {{path: {}, mode: readwrite}}\n\
         self: !executable\nexit: 42\n",
        s.p("in.txt"),
        s.p("out.log"),
        s.p(""),
        s.p("")
    );
    let o = run_stdin(&[&probe], &yaml);
    // The program's exit status is passed on.
    assert_eq!(o.status.code(), Some(42), "{}", stderr(&o));
    let r = reports(&stdout(&o));
    assert_eq!(r.len(), 1, "{}", stdout(&o));
    let r = &r[0];
    let fds: Vec<(i32, &str)> = r.fds.iter().map(|(k, v)| (*k, v.as_str())).collect();
    assert_eq!(
        fds,
        [
            (0, "chr r"),
            (1, "fifo w"),
            (2, "chr w"),
            (3, "file r"),
            // Append-only files reach the program as a pipe (see cloudabi_run::sandbox).
            (4, "fifo w"),
            (5, "dir r"),
            (6, "dir r"),
            (7, "file r"),
        ]
    );
    // Above the memfd (8) only the diagnostics pipe (docs/startup.md).
    assert_eq!(r.open_above, [9]);
    // The environment holds only the memfd's number.
    let env: Vec<(&str, &str)> = r
        .env
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    assert_eq!(
        env,
        [
            ("CLOUDABI_ARGDATA_FD", "8"),
            ("CLOUDABI_DIAGNOSTICS_FD", "9")
        ]
    );
    assert_eq!(r.touched, Some(true));
    assert!(s.path("marker").exists());
    let v = Value::from_argdata(Argdata::new(&r.argdata)).unwrap();
    assert_eq!(
        v.get("files"),
        Some(&Value::seq([Value::Fd(Fd(3)), Value::Fd(Fd(4))]))
    );
    assert_eq!(v.get("out"), Some(&Value::Fd(Fd(1))));
    assert_eq!(v.get("self"), Some(&Value::Fd(Fd(7))));
}

#[test]
fn limits_timeout_and_instances() {
    if !inside_private_mount_ns("limits_timeout_and_instances", &[]) {
        return;
    }
    let probe = probe_path();
    let o = run_stdin(
        &[
            "--max-fds",
            "32",
            "--memory",
            "512M",
            "--cpu-time",
            "5",
            &probe,
        ],
        "out: !fd stdout\n",
    );
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let r = &reports(&stdout(&o))[0];
    assert_eq!(r.nofile, 32);
    if cloudabi_run::cgroup::available("memory") {
        // A memory cgroup holds the limit; the address space is not limited.
        assert_eq!(r.address_space, u64::MAX);
    } else {
        assert_eq!(r.address_space, 512 << 20);
    }

    let start = std::time::Instant::now();
    let o = run_stdin(
        &["--timeout", "500ms", &probe],
        "out: !fd stdout\nsleep: 30\n",
    );
    assert_eq!(o.status.code(), Some(137), "{}", stderr(&o));
    assert!(stderr(&o).contains("timeout expired"));
    assert!(start.elapsed() < std::time::Duration::from_secs(20));

    let o = run_stdin(&["--instances", "3", &probe], "out: !fd stdout\nexit: 0\n");
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert_eq!(reports(&stdout(&o)).len(), 3, "{}", stdout(&o));
}

#[test]
fn pids_and_memory_limits_hold_for_the_whole_instance() {
    if !inside_private_mount_ns("pids_and_memory_limits_hold_for_the_whole_instance", &[]) {
        return;
    }
    let probe = probe_path();
    let yaml = "out: !fd stdout\nthreads: 40\n";
    if cloudabi_run::cgroup::available("pids") {
        // The main thread and 4 more.
        let o = run_stdin(&["--pids", "5", &probe], yaml);
        assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
        assert_eq!(reports(&stdout(&o))[0].threads, Some(4), "{}", stdout(&o));
        // The legitimate path: without the limit all start.
        let o = run_stdin(&[&probe], yaml);
        assert_eq!(reports(&stdout(&o))[0].threads, Some(40), "{}", stdout(&o));
    } else {
        let o = run_stdin(&["--pids", "5", &probe], yaml);
        assert_eq!(o.status.code(), Some(125), "{}", stderr(&o));
        assert!(
            stderr(&o).contains("no pids cgroup controller"),
            "{}",
            stderr(&o)
        );
        let o = run_stdin(&["--best-effort", "--pids", "5", &probe], yaml);
        assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
        assert!(
            stderr(&o).contains("warning: sandbox layer skipped"),
            "{}",
            stderr(&o)
        );
    }

    // Memory: 512 MiB touched against a 64 MiB limit.
    let o = run_stdin(&["--memory", "64M", &probe], "out: !fd stdout\nhog: 512\n");
    assert_ne!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(!stdout(&o).contains("hog 512"), "{}", stdout(&o));
    if cloudabi_run::cgroup::available("memory") {
        assert_eq!(o.status.code(), Some(137), "{}", stderr(&o));
        assert_eq!(
            stderr(&o),
            format!(
                "cloudabi-run: {probe} was killed by signal 9 (SIGKILL): out of memory (the \
                 --memory limit was reached)\n"
            )
        );
    }
    // Within the limit all is well.
    let o = run_stdin(&["--memory", "256M", &probe], "out: !fd stdout\nhog: 16\n");
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(stdout(&o).contains("hog 16"), "{}", stdout(&o));
}

/// Starts the launcher on the probe with `yaml` (to which a `touch` of a scratch directory is
/// prepended, after `first`), waits until the program has created its marker, sends `sig` to
/// the launcher and returns its exit code and how long it took to exit after the signal.
fn signal_launcher(first: &str, yaml: &str, sig: i32) -> (Option<i32>, std::time::Duration) {
    signal_launcher_with(&[], first, yaml, sig)
}

/// [`signal_launcher`] with launcher options `args`.
fn signal_launcher_with(
    args: &[&str],
    first: &str,
    yaml: &str,
    sig: i32,
) -> (Option<i32>, std::time::Duration) {
    use std::time::{Duration, Instant};
    let s = Scratch::new("signal");
    let conf = s.path("conf.yaml");
    std::fs::create_dir(s.path("d")).unwrap();
    std::fs::write(
        &conf,
        format!(
            "{first}touch: !file {{path: {}, mode: readwrite}}\n{yaml}",
            s.p("d")
        ),
    )
    .unwrap();
    let mut child = std::process::Command::new(common::cli::launcher())
        .args(args)
        .arg(probe())
        .arg("--config")
        .arg(&conf)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while !s.path("d/marker").exists() {
        assert!(Instant::now() < deadline, "the program did not start");
        std::thread::sleep(Duration::from_millis(10));
    }
    let sent = Instant::now();
    // SAFETY: kill has no memory-safety preconditions.
    unsafe {
        libc::kill(child.id() as i32, sig);
    }
    let st = child.wait().unwrap();
    (st.code(), sent.elapsed())
}

#[test]
fn signals_reach_the_program() {
    if !inside_private_mount_ns("signals_reach_the_program", &[]) {
        return;
    }
    use std::time::Duration;
    // Ctrl-C: the program (no handler) dies by SIGINT at once, well before the 3 s fallback.
    for (sig, code) in [
        (libc::SIGINT, 130),
        (libc::SIGTERM, 143),
        (libc::SIGHUP, 129),
        (libc::SIGUSR1, 138),
    ] {
        let (got, took) = signal_launcher("", "sleep: 30\n", sig);
        assert_eq!(got, Some(code), "signal {sig}");
        // Well before the grace period (3 s), whatever the machine's load.
        assert!(took < Duration::from_millis(2500), "signal {sig}: {took:?}");
    }
    // A program that ignores SIGTERM is killed when the grace period is over.
    let (got, took) = signal_launcher("ignore: 15\n", "sleep: 30\n", libc::SIGTERM);
    assert_eq!(got, Some(137));
    assert!(
        took >= Duration::from_millis(2900) && took < Duration::from_secs(10),
        "{took:?}"
    );
    // abort() ends in SIGABRT.
    let o = run_stdin(&[&probe_path()], "abort: 1\n");
    assert_eq!(o.status.code(), Some(134), "{}", stderr(&o));
}

#[test]
fn stop_signal_and_stop_timeout_are_configurable() {
    if !inside_private_mount_ns("stop_signal_and_stop_timeout_are_configurable", &[]) {
        return;
    }
    use std::time::Duration;
    // Ctrl-C reaches the program as SIGTERM.
    let (got, _) =
        signal_launcher_with(&["--stop-signal", "TERM"], "", "sleep: 30\n", libc::SIGINT);
    assert_eq!(got, Some(128 + libc::SIGTERM));
    // Signals that do not ask to stop are passed on as they are.
    let (got, _) =
        signal_launcher_with(&["--stop-signal", "TERM"], "", "sleep: 30\n", libc::SIGUSR1);
    assert_eq!(got, Some(128 + libc::SIGUSR1));
    // A program that ignores SIGTERM gets the whole stop timeout: with 6 s it is still
    // running when the default 3 s would have killed it.
    let (got, took) = signal_launcher_with(
        &["--stop-timeout", "6s"],
        "ignore: 15\n",
        "sleep: 30\n",
        libc::SIGTERM,
    );
    assert_eq!(got, Some(137));
    assert!(
        took >= Duration::from_secs(6) && took < Duration::from_secs(25),
        "{took:?}"
    );
}

#[test]
fn the_launcher_says_how_the_program_ended() {
    if !inside_private_mount_ns("the_launcher_says_how_the_program_ended", &[]) {
        return;
    }
    let probe = probe_path();
    let o = run_stdin(&[&probe], "exit: 3\n");
    assert_eq!(o.status.code(), Some(3));
    assert_eq!(
        stderr(&o),
        format!("cloudabi-run: {probe} exited with status 3\n")
    );
    let o = run_stdin(&[&probe], "abort: 1\n");
    assert_eq!(o.status.code(), Some(134));
    assert_eq!(
        stderr(&o),
        format!("cloudabi-run: {probe} was killed by signal 6 (SIGABRT)\n")
    );
    // One line per failing instance, none for those that succeeded.
    let o = run_stdin(&["--instances", "2", &probe], "exit: 4\n");
    assert_eq!(o.status.code(), Some(4));
    assert_eq!(
        stderr(&o),
        format!(
            "cloudabi-run: {probe} (instance 1) exited with status 4\n\
             cloudabi-run: {probe} (instance 2) exited with status 4\n"
        )
    );
    for quiet in ["--quiet", "-q"] {
        let o = run_stdin(&[quiet, &probe], "exit: 3\n");
        assert_eq!(o.status.code(), Some(3));
        assert_eq!(stderr(&o), "");
    }
    let o = run_stdin(&[&probe], "exit: 0\n");
    assert_eq!(o.status.code(), Some(0));
    assert_eq!(stderr(&o), "");
}

#[test]
fn unrunnable_programs_exit_126_before_anything_is_created() {
    use std::os::unix::fs::PermissionsExt;
    let s = Scratch::new("unrunnable");
    let yaml = format!(
        "made: !file {{path: {}, mode: write, create: true}}\n",
        s.p("made")
    );
    let set_mode = |p: &str, mode: u32| {
        std::fs::set_permissions(p, std::fs::Permissions::from_mode(mode)).unwrap();
    };
    // The probe without execute permission.
    let plain = s.p("plain");
    std::fs::copy(probe(), &plain).unwrap();
    set_mode(&plain, 0o644);
    // Bytes no kernel executes.
    let junk = s.p("junk");
    std::fs::write(&junk, b"just some text\n").unwrap();
    set_mode(&junk, 0o755);
    // The identification bytes of a 64-bit little-endian CloudABI ELF file (OSABI 17).
    let cloudabi = s.p("cloudabi");
    let mut elf = b"\x7fELF\x02\x01\x01\x11".to_vec();
    elf.resize(64, 0);
    std::fs::write(&cloudabi, &elf).unwrap();
    set_mode(&cloudabi, 0o755);
    for (program, says) in [
        (plain.as_str(), "is not executable (no execute permission)"),
        (
            junk.as_str(),
            "is not an executable (neither ELF nor a #! script)",
        ),
        (
            cloudabi.as_str(),
            "is a CloudABI executable: run it with --emulate",
        ),
        (s.p("").as_str(), "is not a regular file"),
    ] {
        let o = run_stdin(&[program], &yaml);
        let err = stderr(&o);
        assert_eq!(o.status.code(), Some(126), "{program}: {err}");
        assert!(err.contains(says), "{program}: {err}");
        assert!(!s.path("made").exists(), "{program}: a file was created");
    }
    // --emulate wants a CloudABI executable.
    let o = run_stdin(&["--emulate", &probe().display().to_string()], &yaml);
    assert_eq!(o.status.code(), Some(126), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("is not a CloudABI executable"),
        "{}",
        stderr(&o)
    );
    assert!(!s.path("made").exists());
}

#[test]
fn listen_fds_like_systemd() {
    if !inside_private_mount_ns("listen_fds_like_systemd", &[]) {
        return;
    }
    let s = Scratch::new("listen");
    std::fs::write(s.path("f"), "").unwrap();
    let probe = probe_path();
    let yaml = format!(
        "out: !fd stdout\nconf: !file {{path: {}}}\nhttp: !socket {{bind: '127.0.0.1:0'}}\n\
         more: [!socket {{bind: {}}}]\n",
        s.p("f"),
        s.p("ctl.sock")
    );
    let o = run_stdin(&["--listen-fds", &probe], &yaml);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let r = &reports(&stdout(&o))[0];
    assert_eq!(r.fds.get(&3).map(String::as_str), Some("socket rw"));
    assert_eq!(r.fds.get(&4).map(String::as_str), Some("socket rw"));
    assert_eq!(r.fds.get(&5).map(String::as_str), Some("file r"));
    assert_eq!(r.env.get("LISTEN_FDS").map(String::as_str), Some("2"));
    assert_eq!(
        r.env.get("LISTEN_FDNAMES").map(String::as_str),
        Some("http:unknown")
    );
    // LISTEN_PID is the program's own pid as it sees it.
    assert_eq!(r.env.get("LISTEN_PID"), Some(&r.pid.to_string()));
    let v = Value::from_argdata(Argdata::new(&r.argdata)).unwrap();
    assert_eq!(v.get("http"), Some(&Value::Fd(Fd(3))));
    assert_eq!(v.get("conf"), Some(&Value::Fd(Fd(5))));
}

#[test]
fn programs_needing_a_loader_are_refused_with_a_reason() {
    let s = Scratch::new("loader");
    // This test executable is dynamically linked.
    let me = std::env::current_exe().unwrap().display().to_string();
    let o = run_stdin(&[&me], "a: 1\n");
    assert_eq!(o.status.code(), Some(126));
    assert!(
        stderr(&o).contains("needs the dynamic loader /"),
        "{}",
        stderr(&o)
    );
    std::fs::write(s.path("script"), "#!/bin/sh\nexit 0\n").unwrap();
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(s.path("script"), std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    let o = run_stdin(&[&s.p("script")], "a: 1\n");
    assert_eq!(o.status.code(), Some(126));
    assert!(
        stderr(&o).contains("needs the script interpreter /bin/sh"),
        "{}",
        stderr(&o)
    );
    // --check still reports (with a warning).
    let o = run_stdin(&["--check", &me], "a: 1\n");
    assert_eq!(o.status.code(), Some(0));
    assert!(stderr(&o).contains("warning:"));
}

/// Whether `/proc/PID/stat` shows the process stopped (state `T`).
fn is_stopped(pid: i32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .ok()
        .and_then(|s| Some(s.rsplit_once(") ")?.1.starts_with('T')))
        .unwrap_or(false)
}

#[test]
fn nothing_outlives_a_killed_launcher() {
    if !inside_private_mount_ns("nothing_outlives_a_killed_launcher", &[]) {
        return;
    }
    use std::io::BufRead;
    use std::process::{Command, Stdio};
    use std::time::{Duration, Instant};
    let s = Scratch::new("killed");
    std::fs::create_dir(s.path("d")).unwrap();
    let conf = s.path("conf.yaml");
    std::fs::write(
        &conf,
        format!(
            "out: !fd stdout\n\
             touch: !file {{path: {d}, mode: readwrite}}\n\
             await: !file {{path: {d}, mode: readwrite}}\n\
             log: !file {{path: {log}, mode: append, create: true}}\n\
             say: written\n\
             conns: !connections {{bind: {sock}}}\n\
             sleep: 60\n",
            d = s.p("d"),
            log = s.p("access.log"),
            sock = s.p("conns.sock"),
        ),
    )
    .unwrap();
    let mut child = Command::new(common::cli::launcher())
        .arg(probe())
        .arg("--config")
        .arg(&conf)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    // Every line the program prints, then `None` at end-of-file: the pipe's last write end
    // is gone only when every process of the sandbox is.
    let (tx, lines) = std::sync::mpsc::channel();
    let out = child.stdout.take().unwrap();
    std::thread::spawn(move || {
        for l in std::io::BufReader::new(out).lines() {
            let _ = tx.send(l.ok());
        }
        let _ = tx.send(None);
    });
    let deadline = Instant::now() + Duration::from_secs(20);
    while !s.path("d/marker").exists() {
        assert!(Instant::now() < deadline, "the program did not start");
        std::thread::sleep(Duration::from_millis(10));
    }
    // Freeze the launcher (every thread of it), then let the program write its log: nothing
    // inside the launcher can copy the lines now.
    let pid = child.id() as i32;
    // SAFETY: kill has no memory-safety preconditions.
    unsafe { libc::kill(pid, libc::SIGSTOP) };
    while !is_stopped(pid) {
        assert!(Instant::now() < deadline, "the launcher did not stop");
        std::thread::sleep(Duration::from_millis(5));
    }
    std::fs::write(s.path("d/go"), "").unwrap();
    assert_eq!(
        lines.recv_timeout(Duration::from_secs(30)),
        Ok(Some("written".to_owned()))
    );
    // SAFETY: as above.
    unsafe { libc::kill(pid, libc::SIGKILL) };
    use std::os::unix::process::ExitStatusExt;
    assert_eq!(child.wait().unwrap().signal(), Some(libc::SIGKILL));

    // The sandbox ends with the launcher: the program (asleep for 60 s) is gone.
    assert_eq!(
        lines.recv_timeout(Duration::from_secs(15)),
        Ok(None),
        "a process of the sandbox outlived the launcher"
    );
    // Everything the program wrote reached the log.
    let log = common::cli::wait_for_lines(&s.path("access.log"), 1000, Duration::from_secs(15));
    let expected: String = (0..1000).map(|i| format!("line {i}\n")).collect();
    assert_eq!(log, expected, "the append relay lost lines");
    // Nothing listens on the connections socket any more.
    let err = std::os::unix::net::UnixStream::connect(s.path("conns.sock")).unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::ConnectionRefused, "{err}");
}

/// The instance groups (`cloudabi-run-PID-N`) of launcher `pid` anywhere in the cgroup
/// hierarchies (a bounded walk of `/sys/fs/cgroup`).
fn instance_groups_of(pid: u32) -> Vec<std::path::PathBuf> {
    let prefix = format!("cloudabi-run-{pid}-");
    let mut found = Vec::new();
    let mut dirs = vec![(std::path::PathBuf::from("/sys/fs/cgroup"), 0)];
    while let Some((dir, depth)) = dirs.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for e in entries.flatten() {
            if !e.file_type().is_ok_and(|t| t.is_dir()) {
                continue;
            }
            if e.file_name().to_string_lossy().starts_with(&prefix) {
                found.push(e.path());
            } else if depth < 8 {
                dirs.push((e.path(), depth + 1));
            }
        }
    }
    found
}

#[test]
fn groups_left_by_a_killed_launcher_are_removed_by_the_next_one() {
    use std::process::{Command, Stdio};
    use std::time::{Duration, Instant};
    if !inside_private_mount_ns(
        "groups_left_by_a_killed_launcher_are_removed_by_the_next_one",
        &[],
    ) {
        return;
    }
    if !cloudabi_run::cgroup::available("pids") {
        eprintln!("no pids cgroup controller here: nothing to leave behind");
        return;
    }
    let s = Scratch::new("stale-cgroup");
    std::fs::create_dir(s.path("d")).unwrap();
    let conf = s.path("conf.yaml");
    std::fs::write(
        &conf,
        format!(
            "touch: !file {{path: {}, mode: readwrite}}\nsleep: 30\n",
            s.p("d")
        ),
    )
    .unwrap();
    let mut child = Command::new(common::cli::launcher())
        .args(["--pids", "20"])
        .arg(probe())
        .arg("--config")
        .arg(&conf)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let killed = child.id();
    let deadline = Instant::now() + Duration::from_secs(20);
    while !s.path("d/marker").exists() {
        assert!(Instant::now() < deadline, "the program did not start");
        std::thread::sleep(Duration::from_millis(10));
    }
    let groups = instance_groups_of(killed);
    assert!(!groups.is_empty(), "the instance has no group");
    child.kill().unwrap();
    child.wait().unwrap();
    // The instance dies with its launcher; its group stays behind, empty.
    for g in &groups {
        while !std::fs::read_to_string(g.join("cgroup.procs")).is_ok_and(|p| p.is_empty()) {
            assert!(Instant::now() < deadline, "{} did not empty", g.display());
            std::thread::sleep(Duration::from_millis(10));
        }
    }
    assert_eq!(instance_groups_of(killed), groups);

    // The next launcher with a group beside it removes it; its own run is unaffected.
    let o = run_stdin(&["--pids", "20", &probe_path()], "out: !fd stdout\n");
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert_eq!(instance_groups_of(killed), Vec::<std::path::PathBuf>::new());
}
