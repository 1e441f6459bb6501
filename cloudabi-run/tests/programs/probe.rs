//! A static test program for the `cloudabi-run` CLI tests: reports what it was started with.
//!
//! It reads its argdata (the sealed memfd named by `CLOUDABI_ARGDATA_FD`) and prints to
//! standard output, one per line: `fd N TYPE MODE` for every descriptor below the memfd,
//! `open N` for any descriptor above it that is open, `env KEY=VALUE`, `pid N`,
//! `nofile N`, `as N`, and `argdata HEX`. Keys of its top-level argdata map steer it:
//! `ignore: N` ignores signal N, `touch: FD` creates `marker` in that directory, `sleep: N`
//! sleeps N seconds, `abort: ANY` calls the C library's `abort()`, `await: FD` waits (up to
//! 60 s) until a file `go` exists in that directory, `log: FD` writes 1000 numbered lines to
//! that descriptor, `say: TEXT` writes TEXT and a newline to standard output at once, and
//! `exit: N` is its exit status (keys are acted on in order). Only std and a few libc functions are used, so that
//! rustc alone can build it statically.

use std::ffi::c_int;
use std::io::{Read, Write};
use std::mem::ManuallyDrop;
use std::os::fd::FromRawFd;
use std::os::unix::fs::FileTypeExt;

unsafe extern "C" {
    fn fcntl(fd: c_int, cmd: c_int, ...) -> c_int;
    fn openat(dirfd: c_int, path: *const std::ffi::c_char, flags: c_int, ...) -> c_int;
    fn getrlimit(resource: c_int, rlim: *mut [u64; 2]) -> c_int;
    fn getpid() -> c_int;
    fn signal(signum: c_int, handler: usize) -> usize;
}

const SIG_IGN: usize = 1;

const F_GETFL: c_int = 3;
const O_ACCMODE: c_int = 3;
const O_APPEND: c_int = 0o2000;
const O_RDONLY: c_int = 0;
const O_WRONLY: c_int = 1;
const O_CREAT: c_int = 0o100;
const O_CLOEXEC: c_int = 0o2000000;

/// One subfield: a length in 7-bit groups, the last with the top bit set.
fn subfield(b: &[u8]) -> Option<(&[u8], &[u8])> {
    let mut len = 0usize;
    for (i, byte) in b.iter().enumerate().take(5) {
        len = (len << 7) | usize::from(byte & 0x7f);
        if byte & 0x80 != 0 {
            let rest = &b[i + 1..];
            return (len <= rest.len()).then(|| rest.split_at(len));
        }
    }
    None
}

/// The top-level map's entries whose keys are strings.
fn entries(ad: &[u8]) -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    let Some((&6, mut rest)) = ad.split_first() else {
        return out;
    };
    while !rest.is_empty() {
        let Some((k, r)) = subfield(rest) else { break };
        let Some((v, r)) = subfield(r) else { break };
        rest = r;
        if let Some((&8, key)) = k.split_first() {
            let key = key.strip_suffix(&[0]).unwrap_or(key);
            out.push((String::from_utf8_lossy(key).into_owned(), v.to_vec()));
        }
    }
    out
}

fn int(v: &[u8]) -> Option<i64> {
    let (&5, digits) = v.split_first()? else {
        return None;
    };
    let mut n: i64 = if digits.first().is_some_and(|b| b & 0x80 != 0) { -1 } else { 0 };
    for b in digits.iter().take(8) {
        n = (n << 8) | i64::from(*b);
    }
    Some(n)
}

fn text(v: &[u8]) -> Option<String> {
    let (&8, bytes) = v.split_first()? else {
        return None;
    };
    Some(String::from_utf8_lossy(bytes.strip_suffix(&[0])?).into_owned())
}

/// Borrows descriptor `fd` as a file (never closed here).
fn borrow_file(fd: c_int) -> ManuallyDrop<std::fs::File> {
    // SAFETY: the File is never dropped, so the descriptor is only borrowed.
    ManuallyDrop::new(unsafe { std::fs::File::from_raw_fd(fd) })
}

fn fd_leaf(v: &[u8]) -> Option<c_int> {
    match v {
        [3, a, b, c, d] => Some(i32::from_be_bytes([*a, *b, *c, *d])),
        _ => None,
    }
}

fn describe(fd: c_int) -> Option<String> {
    // SAFETY: the File is never dropped, so the descriptor is only borrowed for fstat.
    let f = ManuallyDrop::new(unsafe { std::fs::File::from_raw_fd(fd) });
    let meta = f.metadata().ok()?;
    let t = meta.file_type();
    let ty = if t.is_dir() {
        "dir"
    } else if t.is_file() {
        "file"
    } else if t.is_socket() {
        "socket"
    } else if t.is_fifo() {
        "fifo"
    } else if t.is_char_device() {
        "chr"
    } else {
        "other"
    };
    // SAFETY: F_GETFL takes no further argument and only reads the descriptor's flags.
    let fl = unsafe { fcntl(fd, F_GETFL) };
    let mode = match fl & O_ACCMODE {
        0 => "r",
        1 => "w",
        _ => "rw",
    };
    let append = if fl & O_APPEND != 0 { "+append" } else { "" };
    Some(format!("{ty} {mode}{append}"))
}

fn main() {
    let mut report = String::new();
    let memfd: c_int = std::env::var("CLOUDABI_ARGDATA_FD")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(-1);
    let mut ad = Vec::new();
    if memfd >= 0 {
        // SAFETY: the launcher passed this descriptor to this process alone.
        let mut f = unsafe { std::fs::File::from_raw_fd(memfd) };
        let _ = f.read_to_end(&mut ad);
    }
    for fd in 0..memfd.max(3) {
        let d = describe(fd).unwrap_or_else(|| "closed".to_owned());
        report.push_str(&format!("fd {fd} {d}\n"));
    }
    for fd in memfd.max(3)..memfd.max(3) + 64 {
        if describe(fd).is_some() {
            report.push_str(&format!("open {fd}\n"));
        }
    }
    let mut env: Vec<(String, String)> = std::env::vars().collect();
    env.sort();
    for (k, v) in env {
        report.push_str(&format!("env {k}={v}\n"));
    }
    // SAFETY: getpid has no preconditions.
    report.push_str(&format!("pid {}\n", unsafe { getpid() }));
    for (name, res) in [("nofile", 7), ("as", 9)] {
        let mut lim = [0u64; 2];
        // SAFETY: `lim` is a valid struct rlimit (two u64s).
        if unsafe { getrlimit(res, &mut lim) } == 0 {
            report.push_str(&format!("{name} {}\n", lim[0]));
        }
    }
    let hex: String = ad.iter().map(|b| format!("{b:02x}")).collect();
    report.push_str(&format!("argdata {hex}\n"));

    let mut code = 0;
    for (key, value) in entries(&ad) {
        match key.as_str() {
            "touch" => {
                if let Some(dir) = fd_leaf(&value) {
                    // SAFETY: a NUL-terminated literal path; the result is checked.
                    let fd = unsafe {
                        openat(dir, c"marker".as_ptr(), O_WRONLY | O_CREAT | O_CLOEXEC, 0o644)
                    };
                    report.push_str(&format!("touch {}\n", if fd >= 0 { "ok" } else { "failed" }));
                }
            }
            "sleep" => {
                if let Some(n) = int(&value) {
                    std::thread::sleep(std::time::Duration::from_secs(n as u64));
                }
            }
            "ignore" => {
                if let Some(n) = int(&value) {
                    // SAFETY: installs SIG_IGN, no handler code runs.
                    unsafe { signal(n as c_int, SIG_IGN) };
                }
            }
            "abort" => std::process::abort(),
            "await" => {
                if let Some(dir) = fd_leaf(&value) {
                    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
                    // SAFETY: a NUL-terminated literal path; a descriptor it returns is
                    // only checked for and then leaked (the process is short-lived).
                    while unsafe { openat(dir, c"go".as_ptr(), O_RDONLY | O_CLOEXEC) } < 0
                        && std::time::Instant::now() < deadline
                    {
                        std::thread::sleep(std::time::Duration::from_millis(5));
                    }
                }
            }
            "log" => {
                if let Some(fd) = fd_leaf(&value) {
                    let mut f = borrow_file(fd);
                    for i in 0..1000 {
                        let _ = writeln!(f, "line {i}");
                    }
                }
            }
            "say" => {
                if let Some(t) = text(&value) {
                    let mut out = std::io::stdout().lock();
                    let _ = writeln!(out, "{t}");
                    let _ = out.flush();
                }
            }
            "threads" => {
                // Starts up to N threads that wait, and reports how many could start.
                if let Some(n) = int(&value) {
                    let (tx, rx) = std::sync::mpsc::channel::<()>();
                    let rx = std::sync::Arc::new(std::sync::Mutex::new(rx));
                    let mut started = Vec::new();
                    for _ in 0..n {
                        let rx = rx.clone();
                        match std::thread::Builder::new()
                            .stack_size(64 << 10)
                            .spawn(move || {
                                let _ = rx.lock().map(|r| r.recv());
                            }) {
                            Ok(h) => started.push(h),
                            Err(_) => break,
                        }
                    }
                    report.push_str(&format!("threads {}\n", started.len()));
                    drop(tx);
                    for h in started {
                        let _ = h.join();
                    }
                }
            }
            "hog" => {
                // Allocates and touches N MiB.
                if let Some(n) = int(&value) {
                    let mut held: Vec<Vec<u8>> = Vec::new();
                    for _ in 0..n {
                        held.push(vec![1u8; 1 << 20]);
                    }
                    report.push_str(&format!("hog {}\n", held.len()));
                }
            }
            "exit" => code = int(&value).unwrap_or(0) as i32,
            _ => {}
        }
    }
    let _ = std::io::stdout().write_all(report.as_bytes());
    let _ = std::io::stdout().flush();
    std::process::exit(code);
}
