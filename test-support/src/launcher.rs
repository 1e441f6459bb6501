//! The harness of `cloudabi-run`'s integration tests and benchmarks: building static test
//! programs, running each sandbox test inside `unshare -m --propagation private`, scratch
//! directories, free ports and capturing a granted pipe.
//!
//! Helpers that build into the caller's temporary folder take its [`Target`]; helpers that
//! start the launcher take the path of the binary under test
//! (`env!("CARGO_BIN_EXE_cloudabi-run")`, known only in the calling target).

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::TcpListener;
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::Mutex;

use crate::Target;

/// Set in the environment of a test run re-executed under `unshare`.
const INSIDE: &str = "CLOUDABI_RUN_TEST_INSIDE_UNSHARE";
/// Carries the path of the hostile program into the re-executed test.
const HOSTILE: &str = "CLOUDABI_RUN_TEST_HOSTILE";

/// Compiles `src_rel_path` (relative to the package folder of `target`) with `rustc` as a
/// static executable named `name` in the temporary folder of `target`, once per process and
/// `name`. When `env_override` is set in the environment, its value is the path of an
/// already built program and nothing is compiled. `extra_rustc_args` are passed to `rustc`
/// after the common flags.
pub fn static_test_program(
    target: &Target,
    src_rel_path: &str,
    name: &str,
    env_override: &str,
    extra_rustc_args: &[&str],
) -> PathBuf {
    build_static(
        &target.manifest_dir().join(src_rel_path),
        target.tmp_dir(),
        name,
        env_override,
        extra_rustc_args,
    )
}

/// [`static_test_program`] for the source file `src`, built into `dir`.
pub(crate) fn build_static(
    src: &Path,
    dir: &Path,
    name: &str,
    env_override: &str,
    extra_rustc_args: &[&str],
) -> PathBuf {
    if let Ok(p) = std::env::var(env_override) {
        return PathBuf::from(p);
    }
    static BUILT: Mutex<BTreeMap<String, PathBuf>> = Mutex::new(BTreeMap::new());
    let mut built = BUILT.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(p) = built.get(name) {
        return p.clone();
    }
    let out = dir.join(name);
    let tmp = dir.join(format!("{name}.{}", std::process::id()));
    let rustc = std::env::var("RUSTC").unwrap_or_else(|_| "rustc".to_owned());
    let status = Command::new(rustc)
        .args([
            "--edition",
            "2024",
            "-O",
            "-C",
            "target-feature=+crt-static",
        ])
        .args(extra_rustc_args)
        .arg("-o")
        .arg(&tmp)
        .arg(src)
        .status()
        .expect("run rustc");
    assert!(status.success(), "building {} failed", src.display());
    std::fs::rename(&tmp, &out).expect("rename test program");
    built.insert(name.to_owned(), out.clone());
    out
}

/// Builds a workspace binary or example statically with `cargo rustc -p PACKAGE
/// TARGET_ARGS -- -C target-feature=+crt-static` in the target directory of `target` (the
/// flag applies to the final link only, so dependencies are reused), once per process and
/// output; returns `<target dir>/debug/OUTPUT`. When `env_override` is set in the
/// environment, its value is the path of an already built program and nothing is built.
pub fn static_cargo_binary(
    target: &Target,
    package: &str,
    target_args: &[&str],
    output: &str,
    env_override: &str,
) -> PathBuf {
    if let Ok(p) = std::env::var(env_override) {
        return PathBuf::from(p);
    }
    static BUILT: Mutex<BTreeMap<String, PathBuf>> = Mutex::new(BTreeMap::new());
    let mut built = BUILT.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(p) = built.get(output) {
        return p.clone();
    }
    let root = crate::workspace_root();
    let target = target.target_dir();
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
    let status = Command::new(cargo)
        .current_dir(root)
        .args(["rustc", "--quiet", "-p", package])
        .args(target_args)
        .arg("--target-dir")
        .arg(target)
        .args(["--", "-C", "target-feature=+crt-static"])
        .status()
        .expect("run cargo");
    assert!(status.success(), "building {output} statically failed");
    let path = target.join("debug").join(output);
    built.insert(output.to_owned(), path.clone());
    path
}

/// Runs the launcher at `launcher` with `args`, the configuration on standard input.
pub fn run_stdin(launcher: &Path, args: &[&str], yaml: &str) -> Output {
    let mut child = Command::new(launcher)
        .args(args)
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
    child.wait_with_output().unwrap()
}

/// A TCP port on 127.0.0.1 that nobody listens on right now, and that no earlier call in
/// this test process returned. It is taken below the kernel's ephemeral range
/// (`net.ipv4.ip_local_port_range`), so that a parallel test binding port 0 cannot be handed
/// it between this probe and the caller's own bind; the start is spread by process id so
/// that test processes running side by side probe different ports.
pub fn free_port() -> u16 {
    static GIVEN: Mutex<BTreeMap<u16, ()>> = Mutex::new(BTreeMap::new());
    let mut given = GIVEN.lock().unwrap_or_else(|e| e.into_inner());
    let low = std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
        .ok()
        .and_then(|s| s.split_whitespace().next()?.parse::<u16>().ok())
        .unwrap_or(32768);
    let (first, span) = if low > 12_000 {
        (10_000u16, low - 10_000)
    } else {
        // An unusual range: fall back to ports above it.
        (low.max(1024), 1000)
    };
    let span = u32::from(span);
    let start = std::process::id() % span;
    for i in 0..span {
        let port = first + ((start + i) % span) as u16;
        if given.contains_key(&port) {
            continue;
        }
        if TcpListener::bind(("127.0.0.1", port)).is_ok() {
            given.insert(port, ());
            return port;
        }
    }
    panic!("no free TCP port in {first}..{}", u32::from(first) + span);
}

/// Compiles `cloudabi-run`'s `tests/programs/hostile.rs` as a static executable (once per
/// process), into the temporary folder of `target`.
pub fn hostile_program(target: &Target) -> PathBuf {
    build_static(
        &crate::workspace_root().join("cloudabi-run/tests/programs/hostile.rs"),
        target.tmp_dir(),
        "cloudabi-run-hostile",
        HOSTILE,
        &["-C", "panic=abort"],
    )
}

/// True in a test run re-executed by [`rerun_in_private_mount_ns`].
pub fn in_rerun() -> bool {
    std::env::var_os(INSIDE).is_some()
}

/// Returns true when the caller is inside a private mount namespace and should run the test
/// body. Otherwise runs this very test again under `unshare -m --propagation private` with
/// `env` set, asserts that it passed and returns false.
pub fn rerun_in_private_mount_ns(test_name: &str, env: &[(&str, String)]) -> bool {
    if in_rerun() {
        return true;
    }
    let exe = std::env::current_exe().expect("current_exe");
    let out = Command::new("unshare")
        .args(["-m", "--propagation", "private"])
        .arg(exe)
        .args([test_name, "--exact", "--nocapture", "--test-threads=1"])
        .env(INSIDE, "1")
        .envs(env.iter().map(|(k, v)| (k, v)))
        .output()
        .expect("run unshare");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success() && stdout.contains("1 passed"),
        "{test_name} under unshare failed:\n{stdout}\n{stderr}"
    );
    false
}

/// For a benchmark's `main`: unless already inside, runs this executable again, with the same
/// arguments and `env` set, under `unshare -m --propagation private` and exits with its status.
pub fn bench_in_private_mount_ns(env: &[(&str, &std::ffi::OsStr)]) {
    if in_rerun() {
        return;
    }
    let exe = std::env::current_exe().expect("current_exe");
    let status = Command::new("unshare")
        .args(["-m", "--propagation", "private"])
        .arg(exe)
        .args(std::env::args_os().skip(1))
        .env(INSIDE, "1")
        .envs(env.iter().copied())
        .status()
        .expect("run unshare");
    std::process::exit(status.code().unwrap_or(1));
}

/// The demo web server's configuration: serving `www` on 127.0.0.1:`port`, appending to `log`.
pub fn webserver_config(port: u16, www: &str, log: &str) -> String {
    format!(
        "%TAG ! tag:nuxi.nl,2015:cloudabi/\n---\nsocket: !socket {{bind: '127.0.0.1:{port}'}}\n\
         root: !file {{path: {www}}}\nlog: !file {{path: {log}, mode: append, create: true}}\n"
    )
}

/// [`rerun_in_private_mount_ns`] for tests that run the hostile program: it is built before
/// re-executing (into the temporary folder of `target`), and its path handed down.
pub fn inside_private_mount_ns(target: &Target, test_name: &str) -> bool {
    if in_rerun() {
        return true;
    }
    let program = hostile_program(target).display().to_string();
    rerun_in_private_mount_ns(test_name, &[(HOSTILE, program)])
}

/// A pipe whose write end is granted; `collect` reads everything once writers are gone.
pub struct Capture {
    reader: std::thread::JoinHandle<Vec<u8>>,
}

impl Capture {
    /// Starts reading; returns the capture and the write end to grant.
    pub fn new() -> (Capture, OwnedFd) {
        let (r, w) = std::io::pipe().expect("pipe");
        let reader = std::thread::spawn(move || {
            let mut r = r;
            let mut v = Vec::new();
            r.read_to_end(&mut v).expect("read pipe");
            v
        });
        (Capture { reader }, w.into())
    }

    /// Everything written, once every copy of the write end is closed.
    pub fn collect(self) -> String {
        String::from_utf8(self.reader.join().expect("reader")).expect("utf-8 output")
    }
}

/// A fresh scratch directory (left in place).
pub fn scratch_dir(tag: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!(
        "cloudabi-run-test-{tag}-{}-{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default()
            .as_nanos()
    ));
    std::fs::create_dir_all(&d).expect("scratch dir");
    d
}

/// A fresh scratch directory, removed on drop.
pub struct Scratch(
    /// The directory.
    pub PathBuf,
);

impl Scratch {
    /// A new directory whose name contains `tag`.
    pub fn new(tag: &str) -> Scratch {
        Scratch(scratch_dir(tag))
    }

    /// The path of `name` inside.
    pub fn path(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }

    /// The path of `name` inside, as a string (for configurations).
    pub fn p(&self, name: &str) -> String {
        self.path(name).display().to_string()
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Waits until the file at `path` holds at least `lines` complete lines, or `limit` has
/// passed, and returns its text either way (the caller's assertion then shows what is there).
///
/// A server writes a request's log line after it has sent the answer, and the line then
/// travels through the launcher's append relay: a test that has read the answer must wait
/// for the line before it stops the server, or it races the write.
pub fn wait_for_lines(path: &Path, lines: usize, limit: std::time::Duration) -> String {
    let deadline = std::time::Instant::now() + limit;
    loop {
        let text = std::fs::read_to_string(path).unwrap_or_default();
        let complete = text.bytes().filter(|&b| b == b'\n').count();
        if complete >= lines || std::time::Instant::now() >= deadline {
            return text;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}
