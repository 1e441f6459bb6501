//! The life cycle of guest threads and programs under the emulator, with real CloudABI
//! executables from `examples/cloudabi/` run by the static `cloudabi-emulate` (natively
//! on x86-64, under `qemu-aarch64-static` for AArch64) as a child process, so that the
//! test can look at its memory in `/proc/PID`:
//!
//! * `proc_exec` ends every other thread first, whether they spin in guest code, sleep in
//!   a system call or keep calling into the emulator, and whether the exec comes from the
//!   first thread or another one (`execthreads`);
//! * an ended thread gives its host thread's memory back: creating and joining thousands
//!   of threads keeps the emulator's size flat (`threadloop`);
//! * a replaced program leaves nothing mapped: a program that execs itself hundreds of
//!   times keeps the number of mappings flat (`reexec`).
//!
//! Under `qemu-aarch64-static` only the number of mappings is checked (see
//! `sizes_tell`).
//!
//! They need Debian's toolchain (`cargo xtask cloudabi install-toolchain`). Without it
//! each test prints why and passes as skipped; set `CLOUDABI_REQUIRE_TOOLCHAIN=1` (as CI
//! does) to make a missing toolchain a failure.

use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, ChildStdout, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use cloudabi_test_support::guest::{aarch64_tools_present, built, emulator};

/// The CloudABI target triple and `cloudabi-emulate` architecture of a run.
#[derive(Clone, Copy, Debug)]
enum Arch {
    X86_64,
    Aarch64,
}

impl Arch {
    fn triple(self) -> &'static str {
        match self {
            Arch::X86_64 => "x86_64-unknown-cloudabi",
            Arch::Aarch64 => "aarch64-unknown-cloudabi",
        }
    }

    /// The folder with the built examples, or `None` to skip (see `cloudabi_test_support::guest`).
    fn examples(self) -> Option<PathBuf> {
        let dir = built(self.triple())?;
        match self {
            Arch::X86_64 => Some(dir),
            Arch::Aarch64 => aarch64_tools_present().then_some(dir),
        }
    }

    /// A command that runs `cloudabi-emulate PROGRAM YAML`.
    fn command(self, program: &Path, yaml: &Path) -> Command {
        let mut command = match self {
            Arch::X86_64 => Command::new(emulator("x86_64")),
            Arch::Aarch64 => {
                let mut c = Command::new("qemu-aarch64-static");
                c.arg(emulator("aarch64"));
                c
            }
        };
        command.arg(program).arg(yaml);
        command
    }
}

/// Kills process `pid` unless dropped within `limit` (a hung guest must fail the test,
/// not hang it).
struct Watchdog {
    done: Option<mpsc::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Watchdog {
    fn new(pid: u32, limit: Duration) -> Watchdog {
        let (done, rx) = mpsc::channel::<()>();
        let thread = std::thread::spawn(move || {
            if let Err(mpsc::RecvTimeoutError::Timeout) = rx.recv_timeout(limit) {
                eprintln!("watchdog: killing {pid} after {limit:?}");
                // SAFETY: kill on our own child, which has not been reaped yet.
                unsafe { libc::kill(pid as i32, libc::SIGKILL) };
            }
        });
        Watchdog {
            done: Some(done),
            thread: Some(thread),
        }
    }
}

impl Drop for Watchdog {
    fn drop(&mut self) {
        drop(self.done.take());
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// A guest running under `cloudabi-emulate`, with its standard input and output piped.
struct Guest {
    child: Child,
    input: Option<ChildStdin>,
    output: BufReader<ChildStdout>,
    watchdog: Option<Watchdog>,
    _yaml: tempfile::TempDir,
}

impl Guest {
    /// Starts `program` of `arch` with the argdata `yaml` (the body after the tag line).
    fn start(arch: Arch, program: &Path, yaml: &str, limit: Duration) -> Guest {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("argdata.yaml");
        std::fs::write(
            &path,
            format!("%TAG ! tag:nuxi.nl,2015:cloudabi/\n---\n{yaml}"),
        )
        .unwrap();
        let mut child = arch
            .command(program, &path)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start cloudabi-emulate");
        let watchdog = Watchdog::new(child.id(), limit);
        Guest {
            input: child.stdin.take(),
            output: BufReader::new(child.stdout.take().unwrap()),
            child,
            watchdog: Some(watchdog),
            _yaml: dir,
        }
    }

    /// The next line of output (without the newline), or `None` at the end.
    fn line(&mut self) -> Option<String> {
        let mut line = String::new();
        match self.output.read_line(&mut line).unwrap() {
            0 => None,
            _ => Some(line.trim_end().to_string()),
        }
    }

    /// Lets a guest waiting on its standard input go on.
    fn ack(&mut self) {
        self.input.as_mut().unwrap().write_all(b"y").unwrap();
    }

    /// The rest of the output and the exit status.
    fn finish(mut self) -> (String, ExitStatus) {
        let mut rest = String::new();
        self.output.read_to_string(&mut rest).unwrap();
        let status = self.child.wait().unwrap();
        drop(self.input.take());
        drop(self.watchdog.take());
        (rest, status)
    }
}

/// Size figures of a running process.
#[derive(Clone, Copy, Debug)]
struct Memory {
    /// `VmSize` in KiB.
    virtual_kib: u64,
    /// `VmRSS` in KiB.
    resident_kib: u64,
    /// Lines of `/proc/PID/maps`.
    mappings: usize,
}

fn memory(pid: u32) -> Memory {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let field = |name: &str| -> u64 {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .unwrap_or_else(|| panic!("{name} missing in /proc/{pid}/status"))
    };
    let maps = std::fs::read_to_string(format!("/proc/{pid}/maps")).unwrap();
    Memory {
        virtual_kib: field("VmSize:"),
        resident_kib: field("VmRSS:"),
        mappings: maps.lines().count(),
    }
}

/// Runs `execthreads` (threads spinning, yielding and asleep in `fd_read`, `poll`, a
/// condition variable and a lock), which execs `hello` from the first thread or from a
/// thread of its own: `hello` must run and the process exit 0.
fn exec_ends_other_threads(arch: Arch, from: &str, rounds: usize) {
    let Some(dir) = arch.examples() else {
        return;
    };
    for _ in 0..rounds {
        // `block` is standard input, which the test never writes to.
        let yaml = format!(
            "program: !file {{path: {}}}\nout: !fd stdout\nblock: !fd stdin\nfrom: {from}\n",
            dir.join("hello").display()
        );
        let guest = Guest::start(
            arch,
            &dir.join("execthreads"),
            &yaml,
            Duration::from_secs(120),
        );
        let (out, status) = guest.finish();
        assert_eq!(out, "Hello, fd 0!\n", "exec from {from} ({arch:?})");
        assert!(status.success(), "exec from {from} ({arch:?}): {status}");
    }
}

#[test]
fn x86_64_exec_from_first_thread_ends_the_others() {
    exec_ends_other_threads(Arch::X86_64, "main", 5);
}

#[test]
fn x86_64_exec_from_another_thread_ends_the_others() {
    exec_ends_other_threads(Arch::X86_64, "thread", 5);
}

#[test]
fn aarch64_exec_ends_other_threads_under_qemu() {
    exec_ends_other_threads(Arch::Aarch64, "main", 2);
    exec_ends_other_threads(Arch::Aarch64, "thread", 2);
}

/// Runs `threadloop` with `count` threads, sampling the emulator's memory every `every`
/// threads; returns the samples.
fn thread_loop(arch: Arch, dir: &Path, count: u32, every: u32) -> Vec<Memory> {
    let yaml = format!("out: !fd stdout\nin: !fd stdin\ncount: {count}\nevery: {every}\n");
    let mut guest = Guest::start(
        arch,
        &dir.join("threadloop"),
        &yaml,
        Duration::from_secs(300),
    );
    let pid = guest.child.id();
    let mut samples = Vec::new();
    let mut expected = every;
    while let Some(line) = guest.line() {
        if line == "done" {
            break;
        }
        assert_eq!(line, expected.to_string());
        samples.push(memory(pid));
        expected += every;
        guest.ack();
    }
    let (rest, status) = guest.finish();
    assert!(status.success() && rest.is_empty(), "{status}: {rest}");
    assert_eq!(samples.len(), (count / every) as usize);
    samples
}

/// Growth from the first sample to the largest later one: virtual KiB, resident KiB,
/// mappings.
fn growth(samples: &[Memory]) -> (u64, u64, usize) {
    let first = samples[0];
    let max = |f: fn(&Memory) -> u64| samples.iter().map(f).max().unwrap();
    (
        max(|m| m.virtual_kib).saturating_sub(first.virtual_kib),
        max(|m| m.resident_kib).saturating_sub(first.resident_kib),
        samples
            .iter()
            .map(|m| m.mappings)
            .max()
            .unwrap()
            .saturating_sub(first.mappings),
    )
}

fn ended_threads_free_their_host_threads(arch: Arch) {
    let Some(dir) = arch.examples() else {
        return;
    };
    // A leaked host thread keeps its 256 KiB stack and guard page: two mappings and over
    // 1 GiB of address space for the 4,500 threads between the first and last sample.
    let samples = thread_loop(arch, &dir, 5000, 500);
    let (virt, rss, maps) = growth(&samples);
    eprintln!("threadloop ({arch:?}) samples: {samples:?}");
    eprintln!(
        "growth after 4,500 more threads: {virt} KiB virtual, {rss} KiB resident, {maps} mappings"
    );
    assert!(maps < 32, "{maps} more mappings");
    if sizes_tell(arch) {
        assert!(virt < 16 << 10, "virtual size grew by {virt} KiB");
        assert!(rss < 16 << 10, "resident size grew by {rss} KiB");
    }
}

/// Whether the process sizes of a run tell about the emulator. Under `qemu-aarch64-static`
/// (7.2) they do not: qemu itself keeps about 280 KiB per guest thread that ever ran
/// (a plain C program that creates and joins threads grows as much), and its translation
/// cache grows with every newly loaded program. Guest mappings are host mappings there,
/// so the number of mappings still counts.
fn sizes_tell(arch: Arch) -> bool {
    matches!(arch, Arch::X86_64)
}

#[test]
fn x86_64_ended_threads_free_their_host_threads() {
    ended_threads_free_their_host_threads(Arch::X86_64);
}

#[test]
fn aarch64_ended_threads_free_their_host_threads_under_qemu() {
    ended_threads_free_their_host_threads(Arch::Aarch64);
}

fn replaced_programs_leave_nothing_mapped(arch: Arch) {
    let Some(dir) = arch.examples() else {
        return;
    };
    let program = dir.join("reexec");
    let (rounds, every) = (200u32, 20u32);
    let yaml = format!(
        "self: !file {{path: {}}}\nout: !fd stdout\nin: !fd stdin\nleft: {rounds}\nevery: {every}\n",
        program.display()
    );
    let mut guest = Guest::start(arch, &program, &yaml, Duration::from_secs(300));
    let pid = guest.child.id();
    let mut samples = Vec::new();
    let mut left = rounds;
    loop {
        let line = guest.line().expect("reexec ended early");
        assert_eq!(line, format!("left {left}"));
        samples.push(memory(pid));
        guest.ack();
        if left == 0 {
            break;
        }
        left -= every;
    }
    let (rest, status) = guest.finish();
    assert!(status.success(), "{status}: {rest}");
    assert_eq!(rest, format!("done {}\n", 100 << 10));
    let (virt, rss, maps) = growth(&samples);
    eprintln!("reexec ({arch:?}) samples: {samples:?}");
    eprintln!(
        "growth after {rounds} execs: {virt} KiB virtual, {rss} KiB resident, {maps} mappings"
    );
    // A leaked program would keep at least its 8 MiB stack, guard page and heap chunk.
    assert!(maps < 16, "{maps} more mappings");
    if sizes_tell(arch) {
        assert!(virt < 16 << 10, "virtual size grew by {virt} KiB");
        assert!(rss < 16 << 10, "resident size grew by {rss} KiB");
    }
}

#[test]
fn x86_64_replaced_programs_leave_nothing_mapped() {
    replaced_programs_leave_nothing_mapped(Arch::X86_64);
}

#[test]
fn aarch64_replaced_programs_leave_nothing_mapped_under_qemu() {
    replaced_programs_leave_nothing_mapped(Arch::Aarch64);
}
