//! `cloudabi-run`: start a program with exactly the capabilities its YAML configuration names.
//!
//! See `cloudabi-run --help` and `docs/cloudabi-run.1.md`.

#![deny(unsafe_code)]

mod signals;

use std::io::{IsTerminal, Read, Write};
use std::path::Path;
use std::process::ExitCode;

use clap::Parser;
use cloudabi_run::config::{self, AmbientAuthority, MAX_CONFIG_LEN};
use cloudabi_run::error::Blame;
use cloudabi_run::launch::{ConfigErrorReport, ExitStatus, Launch, Limits};
use cloudabi_run::sandbox::SandboxOptions;

use cloudabi_run::cli::Cli;
use signals::StopPolicy;

/// Why the launcher gave up before (or instead of) passing on the program's status. Each
/// has its own exit status, as with `docker run`, `podman run` and `runc`, so that a script
/// can tell them from the program's own statuses.
#[derive(Debug, thiserror::Error)]
enum Failure {
    /// The options, the configuration or the sandbox: exit status 125.
    #[error("{0}")]
    Launcher(String),
    /// The program (or the emulator or runner started for it) exists but cannot be
    /// executed: 126.
    #[error("{0}")]
    CannotStart(String),
    /// The program (or the emulator or runner) does not exist: 127.
    #[error("{0}")]
    NotFound(String),
}

impl Failure {
    fn status(&self) -> u8 {
        match self {
            Failure::Launcher(_) => 125,
            Failure::CannotStart(_) => 126,
            Failure::NotFound(_) => 127,
        }
    }

    fn from_blame(blame: Blame, message: String) -> Failure {
        match blame {
            Blame::Launcher => Failure::Launcher(message),
            Blame::ProgramNotRunnable => Failure::CannotStart(message),
            Blame::ProgramNotFound => Failure::NotFound(message),
        }
    }
}

impl From<String> for Failure {
    fn from(message: String) -> Failure {
        Failure::Launcher(message)
    }
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            let code = if e.use_stderr() { 125 } else { 0 };
            let _ = e.print();
            return ExitCode::from(code);
        }
    };
    match run(cli) {
        Ok(code) => code,
        Err(failure) => {
            eprintln!("cloudabi-run: {failure}");
            ExitCode::from(failure.status())
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

fn run(cli: Cli) -> Result<ExitCode, Failure> {
    let (text, name) = read_config(&cli)?;

    // Whatever is started must be there and runnable before anything is opened or created
    // on the program's behalf. `--check` only warns about what would not start.
    let started = match check_started(&cli) {
        Ok(started) => started,
        Err(Failure::CannotStart(message)) if cli.check => {
            eprintln!("cloudabi-run: warning: {message}");
            started_binary(&cli)
        }
        Err(e) => return Err(e),
    };

    let authority = AmbientAuthority::claim();
    if cli.check {
        let checked =
            config::check(&text, &name, &cli.program, &authority).map_err(|e| e.to_string())?;
        let checked = if cli.emulate {
            checked
                .map(|r| cloudabi_run::emulate::wrap(r, &cli.program))
                .map_err(|e| e.to_string())?
        } else {
            checked
        };
        let yaml = checked
            .to_yaml(cli.listen_fds)
            .map_err(|e| format!("{name}: {e}"))?;
        let mut out = std::io::stdout().lock();
        out.write_all(yaml.as_bytes())
            .and_then(|()| out.flush())
            .map_err(|e| format!("writing to standard output: {e}"))?;
        // Every descriptor is closed here; nothing was created, bound or started.
        return Ok(ExitCode::SUCCESS);
    }
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
    // until the program has started.
    let created = std::mem::take(&mut plan.created);

    let launch = plan.apply(
        Launch::new(&started)
            .limits(Limits {
                memory: cli.memory,
                pids: cli.pids,
                cpu_time: cli.cpu_time,
                max_fds: cli.max_fds,
            })
            .instances(cli.instances)
            // Under --emulate the argdata is the emulator's, not the configuration's.
            .diagnostics(!cli.emulate)
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

    let signals = signals::block_forwarded();
    let running = launch
        .spawn()
        .map_err(|e| Failure::from_blame(e.blame(), e.to_string()))?;
    created.keep();
    for s in running.skipped() {
        eprintln!("cloudabi-run: warning: sandbox layer skipped: {s}");
    }
    if let Some(set) = signals {
        let policy = StopPolicy {
            signal: cli.stop_signal,
            timeout: cli.stop_timeout,
        };
        signals::forward(set, &running, policy);
    }
    let outcome = running.wait().map_err(|e| e.to_string())?;
    if outcome.timed_out {
        eprintln!("cloudabi-run: the timeout expired; the program was killed");
    }
    if !cli.quiet {
        let mut reported: Vec<&ConfigErrorReport> = Vec::new();
        for report in outcome.config_errors.iter().flatten() {
            // Instances of one configuration report the same error.
            if !reported.contains(&report) {
                report_config_error(&text, &name, report);
                reported.push(report);
            }
        }
        report_statuses(&cli.program, &outcome.statuses, &outcome.out_of_memory);
    }
    // A status is 0 to 255, or 128 + a signal number below 65.
    Ok(ExitCode::from(
        u8::try_from(outcome.exit_code()).unwrap_or(u8::MAX),
    ))
}

/// What the sandbox executes: the program, or with `--emulate` the emulator.
fn started_binary(cli: &Cli) -> std::path::PathBuf {
    if cli.emulate {
        cli.emulator
            .clone()
            .unwrap_or_else(cloudabi_run::emulate::default_emulator)
    } else {
        cli.program.clone()
    }
}

/// Checks that the program (and the emulator and runner started for it) can be started,
/// and returns what the sandbox executes.
fn check_started(cli: &Cli) -> Result<std::path::PathBuf, Failure> {
    if cli.emulate {
        let cloudabi = inspect(&cli.program, "program")?;
        if !matches!(cloudabi, Binary::Elf { cloudabi: true, .. }) {
            return Err(Failure::CannotStart(format!(
                "{} is not a CloudABI executable (an ELF file with OSABI 17), which --emulate \
                 needs",
                cli.program.display()
            )));
        }
    }
    let started = started_binary(cli);
    let what = if cli.emulate { "emulator" } else { "program" };
    let lenient = cli.best_effort;
    match &cli.runner {
        Some(runner) => {
            check_binary(runner, "runner", lenient)?;
            // The runner reads the binary; it need not be executable by itself.
            inspect(&started, what)?;
        }
        None => check_binary(&started, what, lenient)?,
    }
    Ok(started)
}

/// Says where in the configuration the value is that the program's startup code could not
/// decode into its typed configuration.
fn report_config_error(text: &str, name: &str, report: &ConfigErrorReport) {
    let place = config::locate_value(text, name, &report.path)
        .map_or_else(|| name.to_owned(), |l| l.to_string());
    let what = if report.path.is_empty() {
        "its configuration".to_owned()
    } else {
        format!("`{}`", report.path)
    };
    eprintln!(
        "cloudabi-run: {place}: the program cannot use {what}: {}",
        report.message
    );
}

/// Says on standard error how each instance that did not exit with 0 ended, so that a
/// failing program is noticed even when it was not granted standard error itself.
fn report_statuses(program: &Path, statuses: &[ExitStatus], out_of_memory: &[bool]) {
    for (i, status) in statuses.iter().enumerate() {
        let oom = if out_of_memory.get(i) == Some(&true) {
            ": out of memory (the --memory limit was reached)"
        } else {
            ""
        };
        let who = if statuses.len() == 1 {
            program.display().to_string()
        } else {
            format!("{} (instance {})", program.display(), i + 1)
        };
        match *status {
            ExitStatus::Exited(0) => {}
            ExitStatus::Exited(code) => {
                eprintln!("cloudabi-run: {who} exited with status {code}{oom}");
            }
            ExitStatus::Signaled(sig) => {
                let name = signals::name(sig).unwrap_or("an unnamed signal");
                eprintln!("cloudabi-run: {who} was killed by signal {sig} ({name}){oom}");
            }
        }
    }
}

/// What a binary is, from its first bytes.
enum Binary {
    /// An ELF file: whether it is a CloudABI executable (OSABI 17), and its `PT_INTERP`.
    Elf {
        cloudabi: bool,
        interpreter: Option<String>,
    },
    /// A `#!` script, with its interpreter line.
    Script(String),
    /// Anything else: no kernel will execute it.
    Other,
}

/// Opens `path` (a `what`: program, emulator, runner) and tells what it is; a missing file is
/// [`Failure::NotFound`], anything that is not a readable regular file
/// [`Failure::CannotStart`].
fn inspect(path: &Path, what: &str) -> Result<Binary, Failure> {
    let shown = path.display();
    let meta = std::fs::metadata(path).map_err(|e| {
        let message = format!("cannot open {what} {shown}: {e}");
        match e.kind() {
            std::io::ErrorKind::NotFound | std::io::ErrorKind::NotADirectory => {
                Failure::NotFound(message)
            }
            _ => Failure::CannotStart(message),
        }
    })?;
    if !meta.is_file() {
        return Err(Failure::CannotStart(format!(
            "{what} {shown} is not a regular file"
        )));
    }
    let mut head = Vec::new();
    std::fs::File::open(path)
        .and_then(|f| f.take(64 * 1024).read_to_end(&mut head))
        .map_err(|e| Failure::CannotStart(format!("cannot read {what} {shown}: {e}")))?;
    if let Some(rest) = head.strip_prefix(b"#!") {
        let line = rest.split(|b| *b == b'\n').next().unwrap_or_default();
        return Ok(Binary::Script(
            String::from_utf8_lossy(line).trim().to_owned(),
        ));
    }
    if head.starts_with(b"\x7fELF") {
        const EI_OSABI: usize = 7;
        const ELFOSABI_CLOUDABI: u8 = 17;
        return Ok(Binary::Elf {
            cloudabi: head.get(EI_OSABI) == Some(&ELFOSABI_CLOUDABI),
            interpreter: elf_interpreter(&head),
        });
    }
    Ok(Binary::Other)
}

/// Checks that `path` can be executed in the sandbox's empty root: an executable file that is
/// a native, statically linked ELF executable. Needing a loader or a script interpreter is
/// only a warning with `lenient` (best-effort mode and `--check`).
fn check_binary(path: &Path, what: &str, lenient: bool) -> Result<(), Failure> {
    let binary = inspect(path, what)?;
    let shown = path.display();
    if rustix::fs::access(path, rustix::fs::Access::EXEC_OK).is_err() {
        return Err(Failure::CannotStart(format!(
            "{what} {shown} is not executable (no execute permission)"
        )));
    }
    let needs = match binary {
        Binary::Other => {
            return Err(Failure::CannotStart(format!(
                "{what} {shown} is not an executable (neither ELF nor a #! script)"
            )));
        }
        Binary::Elf { cloudabi: true, .. } => {
            return Err(Failure::CannotStart(format!(
                "{what} {shown} is a CloudABI executable: run it with --emulate"
            )));
        }
        Binary::Elf {
            interpreter: None, ..
        } => return Ok(()),
        Binary::Elf {
            interpreter: Some(i),
            ..
        } => format!("the dynamic loader {i}"),
        Binary::Script(line) => format!("the script interpreter {line}"),
    };
    let message = format!(
        "{shown} needs {needs} to start, but the sandbox's root file system is empty: link \
         it statically (Rust: cargo rustc --release --bin NAME -- -C \
         target-feature=+crt-static; C: cc -static)"
    );
    if !lenient {
        return Err(Failure::CannotStart(message));
    }
    eprintln!("cloudabi-run: warning: {message}");
    Ok(())
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
