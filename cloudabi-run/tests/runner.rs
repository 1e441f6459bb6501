//! `cloudabi-run --runner`: a program for another architecture, started through a user-mode
//! CPU emulator (`qemu-aarch64-static`) inside the same sandbox.
//!
//! The attack test needs no QEMU: a static test program (`tests/programs/runner_probe.rs`)
//! takes the runner's place and attacks the file it is handed at `/program`. The AArch64 test
//! runs the CloudABI examples built for `aarch64-unknown-cloudabi` under the AArch64 emulator
//! through QEMU; it needs Debian's toolchain (`cargo xtask cloudabi install-toolchain`) and
//! is skipped without it unless `CLOUDABI_REQUIRE_TOOLCHAIN` is set, as in CI.

mod common;

use cloudabi_test_support::guest;
use common::{launcher, run_stdin, wait_for_lines};

use std::io::Write;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::PathBuf;
use std::process::{Command, Stdio};

/// Carries the path of the probe into the re-executed test.
const PROBE: &str = "CLOUDABI_RUN_TEST_RUNNER_PROBE";

fn probe() -> PathBuf {
    common::static_test_program(
        "tests/programs/runner_probe.rs",
        "cloudabi-run-runner-probe",
        PROBE,
        &[],
    )
}

fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
        (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// Every attack of the probe; each must print `DENIED`.
const ATTACKS: [&str; 17] = [
    "open-readwrite",
    "open-write-truncate",
    "create-beside",
    "list-root",
    "truncate",
    "unlink",
    "rename",
    "link",
    "chmod",
    "remount-writable",
    "remount-root-writable",
    "bind-over",
    "unmount",
    "open-tree",
    "execute",
    "map-executable",
    "map-shared-writable",
];

#[test]
fn runner_reads_the_program_but_cannot_change_execute_or_escape_it() {
    let name = "runner_reads_the_program_but_cannot_change_execute_or_escape_it";
    if !common::in_rerun() {
        let env = [(PROBE, probe().display().to_string())];
        common::rerun_in_private_mount_ns(name, &env);
        return;
    }
    let scratch = common::Scratch::new("runner");
    let payload = scratch.path("payload.bin");
    let bytes: Vec<u8> = (0..10_000u32).map(|i| (i * 7 % 251) as u8).collect();
    std::fs::write(&payload, &bytes).expect("write payload");
    std::fs::set_permissions(&payload, std::fs::Permissions::from_mode(0o644)).expect("chmod");
    let before = std::fs::metadata(&payload).expect("stat");

    let probe = probe();
    let out = run_stdin(
        &[
            "--runner",
            probe.to_str().expect("utf-8 path"),
            payload.to_str().expect("utf-8 path"),
        ],
        "out: !fd stdout\n",
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stdout}\n{stderr}");
    let expected_read = format!("OK read {} {:016x}", bytes.len(), fnv1a(&bytes));
    assert!(stdout.lines().any(|l| l == expected_read), "{stdout}");
    for attack in ATTACKS {
        let prefix = format!("DENIED {attack}: ");
        assert!(
            stdout.lines().any(|l| l.starts_with(&prefix)),
            "{attack} was not denied:\n{stdout}"
        );
    }
    assert!(!stdout.contains("ESCAPED"), "{stdout}");
    assert_eq!(stdout.lines().count(), ATTACKS.len() + 1, "{stdout}");

    let after = std::fs::metadata(&payload).expect("stat");
    assert_eq!(std::fs::read(&payload).expect("read payload"), bytes);
    assert_eq!(after.mode(), before.mode());
    assert_eq!(after.mtime_nsec(), before.mtime_nsec());
    assert_eq!(after.ino(), before.ino());
    assert!(!scratch.path("other").exists());
}

#[test]
fn a_missing_or_dynamic_runner_is_refused_before_anything_starts() {
    let scratch = common::Scratch::new("runner-bad");
    let payload = scratch.path("payload.bin");
    std::fs::write(&payload, b"data").expect("write payload");
    let marker = scratch.path("marker");
    let yaml = format!(
        "out: !file {{path: {}, mode: write, create: true}}\n",
        marker.display()
    );

    let out = run_stdin(
        &[
            "--runner",
            "/nonexistent/qemu",
            payload.to_str().expect("utf-8 path"),
        ],
        &yaml,
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(127), "{stderr}");
    assert!(stderr.contains("/nonexistent/qemu"), "{stderr}");

    // Every Debian system has a dynamically linked /bin/true.
    let out = run_stdin(
        &[
            "--runner",
            "/bin/true",
            payload.to_str().expect("utf-8 path"),
        ],
        &yaml,
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(126), "{stderr}");
    assert!(
        stderr.contains("/bin/true") && stderr.contains("dynamic loader"),
        "{stderr}"
    );
    assert!(
        !marker.exists(),
        "a refused launch must not open (create) anything"
    );
}

#[test]
fn aarch64_cloudabi_programs_run_sandboxed_through_qemu() {
    let name = "aarch64_cloudabi_programs_run_sandboxed_through_qemu";
    if !common::in_rerun() {
        if !guest::toolchain_present() || !guest::aarch64_tools_present() {
            return;
        }
        let triple = "aarch64-unknown-cloudabi";
        guest::xtask(&["build", "--target", triple, "--example", "hello"]);
        guest::xtask(&["build", "--target", triple, "--example", "ls"]);
        guest::xtask(&["build", "--target", triple, "--example", "threads"]);
        guest::xtask(&["build", "--target", triple, "--example", "webserver"]);
        guest::xtask(&["emulator", "--arch", "aarch64"]);
        common::rerun_in_private_mount_ns(name, &[]);
        return;
    }
    let root = guest::root();
    let programs = root.join("target/cloudabi/aarch64-unknown-cloudabi");
    let emulator = root.join("target/cloudabi/aarch64-linux/cloudabi-emulate");
    let run = |program: &str, yaml: &str| {
        let out = Command::new(launcher())
            .current_dir(&root)
            .arg("--emulate")
            .arg("--emulator")
            .arg(&emulator)
            .args(["--runner", "/usr/bin/qemu-aarch64-static"])
            .arg(programs.join(program))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .and_then(|mut child| {
                child
                    .stdin
                    .take()
                    .expect("stdin")
                    .write_all(yaml.as_bytes())?;
                child.wait_with_output()
            })
            .expect("run cloudabi-run");
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        assert!(
            out.status.success(),
            "{program}: {stdout}\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        stdout
    };

    let hello = run("hello", "greeting: Hello from AArch64\nout: [!fd stdout]\n");
    assert_eq!(hello, "Hello from AArch64, fd 0!\n");

    let ls = run("ls", "dir: !file {path: examples/www}\nout: !fd stdout\n");
    let mut listed: Vec<&str> = ls.lines().collect();
    listed.sort_unstable();
    let mut expected: Vec<String> = std::fs::read_dir(root.join("examples/www"))
        .expect("list examples/www")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    expected.sort_unstable();
    assert_eq!(listed, expected);

    let threads = run(
        "threads",
        &std::fs::read_to_string(root.join("examples/cloudabi/threads.yaml"))
            .expect("threads.yaml"),
    );
    assert!(threads.contains("all 4 threads done"), "{threads}");

    // The web server, its connections accepted by the launcher (`!connections`).
    let port = common::free_port();
    let scratch = common::Scratch::new("runner-web");
    let log = scratch.path("access.log");
    let config = scratch.path("webserver.yaml");
    std::fs::write(
        &config,
        format!(
            "connections: !connections {{bind: 127.0.0.1:{port}}}\n\
             root: !file {{path: {}}}\n\
             log: !file {{path: {}, mode: append, create: true}}\n",
            root.join("examples/www").display(),
            log.display()
        ),
    )
    .expect("write configuration");
    /// Kills the launcher if the test fails half-way.
    struct KillOnDrop(std::process::Child);
    impl Drop for KillOnDrop {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
    let mut server = Command::new(launcher())
        .arg("--emulate")
        .arg("--emulator")
        .arg(&emulator)
        .args([
            "--runner",
            "/usr/bin/qemu-aarch64-static",
            "--timeout",
            "120s",
        ])
        .arg(programs.join("webserver"))
        .arg("--config")
        .arg(&config)
        .stdin(Stdio::null())
        .spawn()
        .map(KillOnDrop)
        .expect("start the web server");
    let get = |path: &str| -> String {
        use std::io::Read;
        // The launcher listens once it has read the configuration.
        let started = std::time::Instant::now();
        let mut conn = loop {
            match std::net::TcpStream::connect(("127.0.0.1", port)) {
                Ok(c) => break c,
                Err(e) if started.elapsed() > std::time::Duration::from_secs(30) => {
                    panic!("connect: {e}")
                }
                Err(_) => std::thread::sleep(std::time::Duration::from_millis(50)),
            }
        };
        write!(conn, "GET {path} HTTP/1.0\r\n\r\n").expect("send request");
        let mut answer = String::new();
        conn.read_to_string(&mut answer).expect("read answer");
        answer
    };
    let index = get("/index.html");
    let expected = std::fs::read_to_string(root.join("examples/www/index.html")).expect("index");
    assert!(index.starts_with("HTTP/1.1 200"), "{index}");
    assert!(index.ends_with(&expected), "{index}");
    let escape = get("/../../etc/passwd");
    assert!(escape.starts_with("HTTP/1.1 403"), "{escape}");
    // The server logs a request after answering it: wait for both lines before stopping it.
    let logged = wait_for_lines(&log, 2, std::time::Duration::from_secs(60));
    // SAFETY: signalling the launcher this test started.
    unsafe { libc::kill(server.0.id() as i32, libc::SIGTERM) };
    let status = server.0.wait().expect("wait for the web server");
    assert_eq!(status.code(), Some(128 + libc::SIGTERM), "{status}");
    assert_eq!(logged.lines().count(), 2, "{logged}");
    assert!(logged.contains("\"GET /index.html\" 200"), "{logged}");
}
