//! The helpers of `cloudabi-run`'s command-line tests, on top of [`crate::launcher`]: the
//! static probe program, running a test body inside `unshare -m --propagation private`,
//! running the launcher, the demo web servers and HTTP requests to them.
//!
//! As in [`crate::launcher`], helpers that start the launcher take the path of the binary
//! under test, and helpers that build take the calling [`Target`].

use std::io::{Read, Write};
use std::net::TcpStream;
use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use crate::Target;
use crate::launcher::{self as common, Scratch};

/// Carries the path of the probe program into the re-executed test.
const PROBE: &str = "CLOUDABI_RUN_CLI_TEST_PROBE";

/// Compiles `cloudabi-run`'s `tests/programs/probe.rs` as a static executable (once per
/// process), into the temporary folder of `target`.
pub fn probe(target: &Target) -> PathBuf {
    common::build_static(
        &crate::workspace_root().join("cloudabi-run/tests/programs/probe.rs"),
        target.tmp_dir(),
        "cloudabi-run-cli-probe",
        PROBE,
        &[],
    )
}

/// True when the caller is inside a private mount namespace and should run the test body.
/// Otherwise builds the probe, runs this very test again under
/// `unshare -m --propagation private` (with the probe's path and `extra_env` set), asserts
/// that it passed and returns false.
pub fn inside_private_mount_ns(
    target: &Target,
    test_name: &str,
    extra_env: &[(&str, String)],
) -> bool {
    if common::in_rerun() {
        return true;
    }
    let mut env = vec![(PROBE, probe(target).display().to_string())];
    env.extend(extra_env.iter().cloned());
    common::rerun_in_private_mount_ns(test_name, &env)
}

/// Runs the launcher at `launcher` with `args` and standard input from /dev/null.
pub fn run(launcher: &Path, args: &[&str]) -> Output {
    Command::new(launcher)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .expect("start cloudabi-run")
}

/// The standard output of `o`, lossily decoded.
pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// The standard error of `o`, lossily decoded.
pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// A document root with files inside and a secret and escaping symlinks around it.
pub fn site(s: &Scratch) {
    std::fs::create_dir_all(s.path("www/docs")).unwrap();
    std::fs::write(s.path("www/index.html"), "<h1>sandboxed</h1>\n").unwrap();
    std::fs::write(s.path("www/style.css"), "h1 { color: red }\n").unwrap();
    std::fs::write(s.path("www/docs/notes.txt"), "notes\n").unwrap();
    std::fs::write(s.path("secret.txt"), "TOP SECRET\n").unwrap();
    symlink("../secret.txt", s.path("www/escape")).unwrap();
    symlink("/etc/passwd", s.path("www/passwd")).unwrap();
}

/// One request; returns (status, headers, body).
pub fn fetch(port: u16, request: &str) -> (u16, String, String) {
    let mut c = TcpStream::connect(("127.0.0.1", port)).unwrap();
    c.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    c.write_all(request.as_bytes()).unwrap();
    let mut raw = Vec::new();
    c.read_to_end(&mut raw).unwrap();
    let text = String::from_utf8_lossy(&raw).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let status = head.get(9..12).and_then(|s| s.parse().ok()).unwrap_or(0);
    (status, head.to_owned(), body.to_owned())
}

/// A `GET` of `path`; returns (status, headers, body).
pub fn get(port: u16, path: &str) -> (u16, String, String) {
    fetch(
        port,
        &format!("GET {path} HTTP/1.1\r\nHost: localhost\r\n\r\n"),
    )
}

/// Stops the launcher with SIGTERM: it forwards the signal through each instance's init to
/// the server, which has no handler and ends (the launcher then exits with 143).
pub fn stop(mut child: Child) -> std::process::ExitStatus {
    // SAFETY: kill has no memory-safety preconditions.
    unsafe {
        libc::kill(child.id() as i32, libc::SIGTERM);
    }
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if let Some(st) = child.try_wait().unwrap() {
            return st;
        }
        assert!(Instant::now() < deadline, "the launcher did not stop");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Starts the launcher at `launcher` as `cloudabi-run [extra] SERVER --config CONF` serving
/// `s/www` on `port`, logging to `s/access.log`, and waits until the port accepts
/// connections.
pub fn start(launcher: &Path, s: &Scratch, server: &Path, port: u16, extra: &[&str]) -> Child {
    let conf = s.path("webserver.yaml");
    std::fs::write(
        &conf,
        common::webserver_config(port, &s.p("www"), &s.p("access.log")),
    )
    .unwrap();
    let child = Command::new(launcher)
        .args(["--timeout", "120"])
        .args(extra)
        .arg(server)
        .arg("--config")
        .arg(&conf)
        .stdin(Stdio::null())
        .spawn()
        .expect("start cloudabi-run");
    let deadline = Instant::now() + Duration::from_secs(10);
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "the server did not come up");
        std::thread::sleep(Duration::from_millis(20));
    }
    child
}

/// The static C demo server (`examples/webserver-c/webserver.c`): the path in the environment
/// variable `env_override` if set, else built here with the command line its header
/// documents: `libcloudlibc_rs.a` (release) if needed, then `cc -static`, in the target
/// directory and temporary folder of `target`.
pub fn c_webserver(target: &Target, env_override: &str) -> PathBuf {
    if let Ok(p) = std::env::var(env_override) {
        return PathBuf::from(p);
    }
    let root = crate::workspace_root();
    let tmp = target.tmp_dir();
    let target = target.target_dir();
    let lib = target.join("release/libcloudlibc_rs.a");
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
    let status = Command::new(cargo)
        .current_dir(root)
        .args(["build", "--quiet", "--release", "-p", "cloudlibc-rs"])
        .arg("--target-dir")
        .arg(target)
        .status()
        .expect("run cargo");
    assert!(status.success(), "building libcloudlibc_rs.a failed");
    let out = tmp.join("webserver-c");
    let cc = std::env::var("CC").unwrap_or_else(|_| "cc".to_owned());
    let status = Command::new(cc)
        .args(["-static", "-O2", "-Wall", "-Wextra", "-Werror", "-o"])
        .arg(&out)
        .arg(root.join("examples/webserver-c/webserver.c"))
        .arg("-I")
        .arg(root.join("cloudlibc-rs/include"))
        .arg(&lib)
        .args(["-lpthread", "-ldl", "-lm"])
        .output()
        .expect("run cc");
    // The linker warns that parts of the Rust standard library would need glibc's shared
    // libraries at run time (user and host name lookups, which the server never makes).
    assert!(
        status.status.success(),
        "compiling webserver.c failed:\n{}",
        String::from_utf8_lossy(&status.stderr)
    );
    out
}
