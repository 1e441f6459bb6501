//! `cloudabi-run`: start a program with exactly the capabilities its YAML configuration names.
//!
//! See `cloudabi-run --help` and `docs/cloudabi-run.1.md`.

mod cli;

use std::io::{IsTerminal, Read, Write};
use std::path::Path;
use std::process::ExitCode;

use clap::Parser;
use cloudabi_run::config::{self, AmbientAuthority, MAX_CONFIG_LEN};
use cloudabi_run::launch::{INIT_FORWARDED, Launch, Limits, Running};
use cloudabi_run::sandbox::SandboxOptions;

use cli::Cli;

/// The launcher's own failures exit with this status, as the original `cloudabi-run` did.
const EXIT_LAUNCHER: u8 = 127;

/// Signals the launcher forwards to the program (through each instance's init, which passes
/// them on to the program's process group).
const FORWARDED: [libc::c_int; 6] = INIT_FORWARDED;

/// Forwarded signals that ask the program to stop: if it is still running [`GRACE`] after
/// the first of them, every instance is killed.
const STOPPING: [libc::c_int; 4] = [libc::SIGINT, libc::SIGTERM, libc::SIGHUP, libc::SIGQUIT];

/// How long a program may take to stop after a forwarded [`STOPPING`] signal (it may handle
/// or ignore the signal) before every instance is killed.
const GRACE: std::time::Duration = std::time::Duration::from_secs(3);

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            let code = if e.use_stderr() { EXIT_LAUNCHER } else { 0 };
            let _ = e.print();
            return ExitCode::from(code);
        }
    };
    match run(cli) {
        Ok(code) => code,
        Err(message) => {
            eprintln!("cloudabi-run: {message}");
            ExitCode::from(EXIT_LAUNCHER)
        }
    }
}

/// Reads the configuration: its text and its name for messages.
fn read_config(cli: &Cli) -> Result<(String, String), String> {
    let limit = MAX_CONFIG_LEN as u64 + 1;
    let mut bytes = Vec::new();
    let name = match cli.config.as_deref() {
        Some(p) if p != Path::new("-") => {
            let name = p.display().to_string();
            std::fs::File::open(p)
                .and_then(|f| f.take(limit).read_to_end(&mut bytes))
                .map_err(|e| format!("{name}: cannot read the configuration: {e}"))?;
            name
        }
        _ => {
            let stdin = std::io::stdin();
            if stdin.is_terminal() {
                return Err("no configuration: pass --config FILE or redirect standard \
                            input from a YAML file (see --help)"
                    .to_owned());
            }
            stdin
                .lock()
                .take(limit)
                .read_to_end(&mut bytes)
                .map_err(|e| format!("<stdin>: cannot read the configuration: {e}"))?;
            "<stdin>".to_owned()
        }
    };
    if bytes.len() > MAX_CONFIG_LEN {
        return Err(format!(
            "{name}: the configuration is larger than {MAX_CONFIG_LEN} bytes"
        ));
    }
    let text = String::from_utf8(bytes).map_err(|e| {
        let valid = &e.as_bytes()[..e.utf8_error().valid_up_to()];
        let line = valid.iter().filter(|b| **b == b'\n').count() + 1;
        let start = valid.iter().rposition(|b| *b == b'\n').map_or(0, |i| i + 1);
        let column = String::from_utf8_lossy(&valid[start..]).chars().count() + 1;
        format!("{name}:{line}:{column}: invalid UTF-8")
    })?;
    Ok((text, name))
}

fn run(cli: Cli) -> Result<ExitCode, String> {
    let (text, name) = read_config(&cli)?;
    // The program must be there before anything is opened on its behalf.
    let meta = std::fs::metadata(&cli.program)
        .map_err(|e| format!("cannot open program {}: {e}", cli.program.display()))?;
    if !meta.is_file() {
        return Err(format!("{} is not a regular file", cli.program.display()));
    }

    if let Some(runner) = &cli.runner {
        let meta = std::fs::metadata(runner)
            .map_err(|e| format!("cannot open runner {}: {e}", runner.display()))?;
        if !meta.is_file() {
            return Err(format!("{} is not a regular file", runner.display()));
        }
    }

    // With --emulate the sandbox starts the emulator, which loads PROGRAM itself.
    let started = if cli.emulate {
        cli.emulator
            .clone()
            .unwrap_or_else(cloudabi_run::emulate::default_emulator)
    } else {
        cli.program.clone()
    };
    for binary in std::iter::once(&started).chain(&cli.runner) {
        if let Some(needs) = interpreter(binary) {
            let message = format!(
                "{} needs {needs} to start, but the sandbox's root file system is empty: link \
                 it statically (Rust: cargo rustc --release --bin NAME -- -C \
                 target-feature=+crt-static; C: cc -static)",
                binary.display()
            );
            if !cli.best_effort && !cli.check {
                return Err(message);
            }
            eprintln!("cloudabi-run: warning: {message}");
        }
    }

    let authority = AmbientAuthority::claim();
    let resolved =
        config::resolve(&text, &name, &cli.program, &authority).map_err(|e| e.to_string())?;
    let resolved = if cli.emulate {
        cloudabi_run::emulate::wrap(resolved, &cli.program).map_err(|e| e.to_string())?
    } else {
        resolved
    };
    let mut plan = resolved
        .plan(cli.listen_fds)
        .map_err(|e| format!("{name}: {e}"))?;
    // Files and socket paths the configuration created: removed again on every way out
    // until the program has started (and after --check, which starts nothing).
    let created = std::mem::take(&mut plan.created);
    if cli.check {
        let yaml = plan.to_yaml().map_err(|e| format!("{name}: {e}"))?;
        let mut out = std::io::stdout().lock();
        out.write_all(yaml.as_bytes())
            .and_then(|()| out.flush())
            .map_err(|e| format!("writing to standard output: {e}"))?;
        // `plan` and `created` are dropped here: every descriptor is closed, every path the
        // configuration created is removed, and nothing was started.
        return Ok(ExitCode::SUCCESS);
    }

    let launch = plan.apply(
        Launch::new(&started)
            .limits(Limits {
                memory: cli.memory,
                cpu_time: cli.cpu_time,
                max_fds: cli.max_fds,
            })
            .instances(cli.instances)
            .sandbox(SandboxOptions {
                best_effort: cli.best_effort,
                log_denials: cli.log_denials,
            }),
    );
    let launch = match &cli.runner {
        Some(runner) => launch.runner(runner),
        None => launch,
    };
    let launch = match cli.timeout {
        Some(t) => launch.timeout(t),
        None => launch,
    };

    let signals = block_forwarded_signals();
    let running = launch.spawn().map_err(|e| e.to_string())?;
    created.keep();
    for s in running.skipped() {
        eprintln!("cloudabi-run: warning: sandbox layer skipped: {s}");
    }
    if let Some(set) = signals {
        forward_signals(set, &running);
    }
    let outcome = running.wait().map_err(|e| e.to_string())?;
    if outcome.timed_out {
        eprintln!("cloudabi-run: the timeout expired; the program was killed");
    }
    Ok(ExitCode::from(
        u8::try_from(outcome.exit_code()).unwrap_or(EXIT_LAUNCHER),
    ))
}

/// What a program needs from the file system to start, if anything: the ELF interpreter
/// (dynamic loader) of a dynamically linked executable, or the interpreter of a `#!` script.
fn interpreter(program: &Path) -> Option<String> {
    let mut head = Vec::new();
    std::fs::File::open(program)
        .ok()?
        .take(64 * 1024)
        .read_to_end(&mut head)
        .ok()?;
    if let Some(rest) = head.strip_prefix(b"#!") {
        let line = rest.split(|b| *b == b'\n').next().unwrap_or_default();
        let text = String::from_utf8_lossy(line);
        return Some(format!("the script interpreter {}", text.trim()));
    }
    elf_interpreter(&head).map(|i| format!("the dynamic loader {i}"))
}

/// The `PT_INTERP` path of a 64-bit little-endian ELF executable whose program headers lie
/// within `head`.
fn elf_interpreter(head: &[u8]) -> Option<String> {
    let u16_at = |o: usize| head.get(o..o + 2).map(|b| u16::from_le_bytes([b[0], b[1]]));
    let u64_at = |o: usize| {
        head.get(o..o + 8)
            .and_then(|b| b.try_into().ok())
            .map(u64::from_le_bytes)
    };
    let u32_at = |o: usize| {
        head.get(o..o + 4)
            .and_then(|b| b.try_into().ok())
            .map(u32::from_le_bytes)
    };
    // ELF magic, 64-bit class, little-endian.
    if head.get(..6)? != b"\x7fELF\x02\x01" {
        return None;
    }
    let phoff = usize::try_from(u64_at(32)?).ok()?;
    let phentsize = usize::from(u16_at(54)?);
    let phnum = usize::from(u16_at(56)?);
    for i in 0..phnum.min(256) {
        let ph = phoff.checked_add(i.checked_mul(phentsize)?)?;
        const PT_INTERP: u32 = 3;
        if u32_at(ph)? == PT_INTERP {
            let off = usize::try_from(u64_at(ph + 8)?).ok()?;
            let len = usize::try_from(u64_at(ph + 32)?).ok()?;
            let bytes = head.get(off..off.checked_add(len)?)?;
            let bytes = bytes.split(|b| *b == 0).next().unwrap_or_default();
            return Some(String::from_utf8_lossy(bytes).into_owned());
        }
    }
    None
}

/// Blocks the forwarded signals in this thread (and so in threads started later), so that
/// one thread can wait for them. The sandboxed children start with an empty mask.
fn block_forwarded_signals() -> Option<libc::sigset_t> {
    // SAFETY: `sigset_t` is plain data; the set is initialised by sigemptyset before use and
    // pthread_sigmask only reads it.
    unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        for s in FORWARDED {
            libc::sigaddset(&mut set, s);
        }
        (libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut()) == 0).then_some(set)
    }
}

/// Starts a thread that passes each forwarded signal on to every instance and, after the
/// first [`STOPPING`] one, kills them all if they are still running [`GRACE`] later.
fn forward_signals(set: libc::sigset_t, running: &Running) {
    let pids = running.pids();
    std::thread::spawn(move || {
        let mut deadline: Option<std::time::Instant> = None;
        loop {
            let sig = match deadline {
                None => {
                    let mut sig: libc::c_int = 0;
                    // SAFETY: `set` is an initialised signal set and `sig` a valid out-pointer.
                    if unsafe { libc::sigwait(&set, &mut sig) } != 0 {
                        return;
                    }
                    sig
                }
                Some(d) => {
                    let left = d.saturating_duration_since(std::time::Instant::now());
                    if left.is_zero() {
                        for &pid in &pids {
                            signal_instance(pid, libc::SIGKILL);
                        }
                        return;
                    }
                    let ts = libc::timespec {
                        tv_sec: left.as_secs() as libc::time_t,
                        tv_nsec: left.subsec_nanos() as libc::c_long,
                    };
                    // SAFETY: `set` and `ts` are initialised; no siginfo is asked for.
                    let sig = unsafe { libc::sigtimedwait(&set, std::ptr::null_mut(), &ts) };
                    if sig < 0 {
                        // EAGAIN (time is up) or EINTR: check the deadline again.
                        continue;
                    }
                    sig
                }
            };
            for &pid in &pids {
                signal_instance(pid, sig);
            }
            if deadline.is_none() && STOPPING.contains(&sig) {
                deadline = Some(std::time::Instant::now() + GRACE);
            }
        }
    });
}

/// Signals one instance through its init (`pid`, as the launcher sees it), which passes the
/// forwarded signals on to the program's process group; `SIGKILL` ends the init and with it
/// the instance's whole PID namespace. Once the launcher has reaped the instance this fails
/// harmlessly with ESRCH; the launcher exits right after reaping the last instance.
fn signal_instance(pid: i32, sig: libc::c_int) {
    // SAFETY: kill has no memory-safety preconditions.
    unsafe {
        libc::kill(pid, sig);
    }
}
