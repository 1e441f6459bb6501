//! Command-line options of the `cloudabi-run` binary (here in the library so that man
//! pages and shell completions can be generated from them, see [`crate::command`]).

use std::path::PathBuf;
use std::time::Duration;

use clap::Parser;

const EXAMPLES: &str = "\
Examples:
  Serve the bundled demo site on 127.0.0.1:8080 (from the repository root):
    cloudabi-run target/release/webserver --config examples/webserver.yaml

  The same, configuration on standard input:
    cloudabi-run target/release/webserver < examples/webserver.yaml

  Show what a configuration grants, without starting anything:
    cloudabi-run --check target/release/webserver --config examples/webserver.yaml

  Four instances sharing one listening socket, at most 256 MiB each, killed after an hour:
    cloudabi-run --instances 4 --memory 256M --timeout 1h server --config server.yaml

  The AArch64 emulator running an AArch64 CloudABI program, through QEMU, sandboxed:
    cloudabi-run --emulate --emulator target/cloudabi/aarch64-linux/cloudabi-emulate \
      --runner /usr/bin/qemu-aarch64-static hello --config hello.yaml

Configuration (YAML; `%TAG ! tag:nuxi.nl,2015:cloudabi/` optional):
  !fd stdin|stdout|stderr|N          a descriptor the launcher holds
  !file {path: P, mode: M, create: B} M: read (default), write, append, readwrite;
                                     a directory grants access beneath it
  !socket {bind: A | connect: A, type: T}
                                     A: host:port, [v6]:port or /unix/path;
                                     T: stream (default), dgram, seqpacket
  !connections {bind: A, backlog: N} the launcher listens on A and passes each
                                     connection as {connection: !fd 0, peer: TEXT}
                                     over a socket pair (docs/connections.md)
  !executable                        the program's own executable, read-only

Exit status: the program's (128+N if killed by signal N); 125 if the launcher failed,
126 if the program cannot be started, 127 if it does not exist.
See cloudabi-run(1) (docs/cloudabi-run.1.md) for the whole story.";

/// Start a program with exactly the capabilities its YAML configuration names.
///
/// The configuration (from standard input, or `--config FILE`) is turned into open
/// descriptors and an argdata tree; the program then runs in a kernel sandbox (namespaces,
/// Landlock, seccomp) holding those descriptors and nothing else.
#[derive(Debug, Parser)]
#[command(name = "cloudabi-run", version, after_help = EXAMPLES)]
pub struct Cli {
    /// The program to start (a native Linux executable using program_main).
    #[arg(value_name = "PROGRAM")]
    pub program: PathBuf,

    /// Read the configuration from FILE instead of standard input (`-`: standard input).
    #[arg(short, long, value_name = "FILE")]
    pub config: Option<PathBuf>,

    /// Resolve the configuration without side effects (nothing is created, bound or
    /// connected), print the argdata the program would get as YAML, and exit without
    /// starting anything.
    #[arg(long)]
    pub check: bool,

    /// Run even when a sandbox layer is unavailable (older kernel, no user namespaces);
    /// skipped layers are reported on standard error.
    #[arg(long)]
    pub best_effort: bool,

    /// Limit the memory of each instance: bytes, or with a K, M or G suffix (powers of
    /// 1024). Enforced by a memory cgroup where available (an instance over the limit is
    /// killed and reported as out of memory), else as RLIMIT_AS (address space).
    #[arg(long, value_name = "SIZE", value_parser = parse_size)]
    pub memory: Option<u64>,

    /// Limit the processes and threads the program may have at once (per instance),
    /// enforced by a pids cgroup; without one, refused unless --best-effort.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    pub pids: Option<u64>,

    /// Limit the CPU time of each instance (RLIMIT_CPU), in seconds.
    #[arg(long, value_name = "SECONDS", value_parser = clap::value_parser!(u64).range(1..))]
    pub cpu_time: Option<u64>,

    /// Limit the descriptors of each instance (RLIMIT_NOFILE): highest number plus one.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    pub max_fds: Option<u64>,

    /// Kill the program after this long: seconds, or a number with ms, s, m or h.
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    pub timeout: Option<Duration>,

    /// Start N copies of the program sharing the same descriptors (e.g. one listening
    /// socket); the launcher exits when all have.
    #[arg(long, value_name = "N", default_value_t = 1,
          value_parser = clap::value_parser!(u32).range(1..=1024))]
    pub instances: u32,

    /// systemd socket activation: number sockets first from 3 and set LISTEN_FDS,
    /// LISTEN_FDNAMES (the map keys naming the sockets) and LISTEN_PID.
    #[arg(long)]
    pub listen_fds: bool,

    /// Have the kernel log seccomp and Landlock denials to the audit log (dmesg, ausearch).
    #[arg(long)]
    pub log_denials: bool,

    /// PROGRAM is a CloudABI executable (ELF OSABI 17): run it under the emulator, inside
    /// the same sandbox, with descriptors numbered 0 ... n-1 (docs/cloudabi-target.md).
    #[arg(long)]
    pub emulate: bool,

    /// The statically linked emulator binary for --emulate (default: `cloudabi-emulate`
    /// next to cloudabi-run; build it with `cargo xtask cloudabi emulator --arch x86_64`).
    #[arg(long, value_name = "PATH", requires = "emulate")]
    pub emulator: Option<PathBuf>,

    /// Do not report on standard error that the program exited with a non-zero status or
    /// was killed by a signal.
    #[arg(short, long)]
    pub quiet: bool,

    /// How long the program may take to exit after the launcher was asked to stop
    /// (SIGINT, SIGTERM, SIGHUP or SIGQUIT) before every instance is killed.
    #[arg(long, value_name = "DURATION", default_value = "3s", value_parser = parse_duration)]
    pub stop_timeout: Duration,

    /// The signal the program gets when the launcher is asked to stop (default: the one the
    /// launcher received): INT, TERM, HUP, QUIT, USR1, USR2 or KILL, by name or number.
    #[arg(long, value_name = "SIGNAL", value_parser = crate::signal_names::parse_stop_signal)]
    pub stop_signal: Option<libc::c_int>,

    /// Start the program (with --emulate: the emulator) through PATH, a statically linked
    /// user-mode CPU emulator such as qemu-aarch64-static, for a binary built for another
    /// architecture. It runs in the same sandbox; the binary appears read-only at /program.
    #[arg(long, value_name = "PATH")]
    pub runner: Option<PathBuf>,
}

/// Errors of the option value parsers.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ValueError {
    /// Not a number with an accepted suffix.
    #[error("expected {0}")]
    Malformed(&'static str),
    /// The number does not fit.
    #[error("value too large")]
    TooLarge,
    /// Zero where it makes no sense.
    #[error("must be greater than zero")]
    Zero,
}

/// `1234`, `64K`, `256M`, `2G` (powers of 1024; a trailing `B` or `iB` is allowed).
pub fn parse_size(s: &str) -> Result<u64, ValueError> {
    const WHAT: &str = "a size such as 1048576, 512K, 256M or 2G";
    let t = s.trim();
    let t = t
        .strip_suffix("iB")
        .or_else(|| t.strip_suffix('B'))
        .unwrap_or(t);
    let (digits, shift) = match t.char_indices().last() {
        Some((i, 'K' | 'k')) => (&t[..i], 10),
        Some((i, 'M' | 'm')) => (&t[..i], 20),
        Some((i, 'G' | 'g')) => (&t[..i], 30),
        Some((i, 'T' | 't')) => (&t[..i], 40),
        _ => (t, 0),
    };
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(ValueError::Malformed(WHAT));
    }
    let n: u64 = digits.parse().map_err(|_| ValueError::TooLarge)?;
    if n == 0 {
        return Err(ValueError::Zero);
    }
    n.checked_mul(1 << shift).ok_or(ValueError::TooLarge)
}

/// `30` (seconds), `1.5`, `500ms`, `30s`, `10m`, `2h`.
pub fn parse_duration(s: &str) -> Result<Duration, ValueError> {
    const WHAT: &str = "a duration such as 30, 1.5, 500ms, 30s, 10m or 2h";
    let t = s.trim();
    let (num, unit) = if let Some(n) = t.strip_suffix("ms") {
        (n, 0.001)
    } else if let Some(n) = t.strip_suffix('s') {
        (n, 1.0)
    } else if let Some(n) = t.strip_suffix('m') {
        (n, 60.0)
    } else if let Some(n) = t.strip_suffix('h') {
        (n, 3600.0)
    } else {
        (t, 1.0)
    };
    if num.is_empty() || !num.bytes().all(|b| b.is_ascii_digit() || b == b'.') {
        return Err(ValueError::Malformed(WHAT));
    }
    let v: f64 = num.parse().map_err(|_| ValueError::Malformed(WHAT))?;
    let secs = v * unit;
    if secs <= 0.0 {
        return Err(ValueError::Zero);
    }
    Duration::try_from_secs_f64(secs).map_err(|_| ValueError::TooLarge)
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn command_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn sizes() {
        assert_eq!(parse_size("1234"), Ok(1234));
        assert_eq!(parse_size("64K"), Ok(64 << 10));
        assert_eq!(parse_size("256M"), Ok(256 << 20));
        assert_eq!(parse_size("256MiB"), Ok(256 << 20));
        assert_eq!(parse_size("2g"), Ok(2 << 30));
        assert_eq!(parse_size("0"), Err(ValueError::Zero));
        assert_eq!(
            parse_size("99999999999999999999"),
            Err(ValueError::TooLarge)
        );
        assert_eq!(parse_size("17179869184G"), Err(ValueError::TooLarge));
        for bad in ["", "M", "-1", "1.5M", "12X", "1 M"] {
            assert!(
                matches!(parse_size(bad), Err(ValueError::Malformed(_))),
                "{bad}"
            );
        }
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("30"), Ok(Duration::from_secs(30)));
        assert_eq!(parse_duration("1.5"), Ok(Duration::from_millis(1500)));
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("10m"), Ok(Duration::from_secs(600)));
        assert_eq!(parse_duration("2h"), Ok(Duration::from_secs(7200)));
        assert_eq!(parse_duration("0"), Err(ValueError::Zero));
        assert_eq!(
            parse_duration("1e300h"),
            Err(ValueError::Malformed(
                "a duration such as 30, 1.5, 500ms, 30s, 10m or 2h"
            ))
        );
        assert_eq!(
            parse_duration("99999999999999999999999h"),
            Err(ValueError::TooLarge)
        );
        for bad in ["", "s", "-3", "3d", "1..2", "inf", "nan"] {
            assert!(parse_duration(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn options() {
        let cli = Cli::try_parse_from([
            "cloudabi-run",
            "--memory",
            "1M",
            "--cpu-time",
            "5",
            "--max-fds",
            "64",
            "--pids",
            "16",
            "--timeout",
            "2s",
            "--instances",
            "3",
            "--listen-fds",
            "--best-effort",
            "--log-denials",
            "--check",
            "-c",
            "conf.yaml",
            "./prog",
        ])
        .unwrap();
        assert_eq!(cli.memory, Some(1 << 20));
        assert_eq!(cli.cpu_time, Some(5));
        assert_eq!(cli.max_fds, Some(64));
        assert_eq!(cli.pids, Some(16));
        assert_eq!(cli.timeout, Some(Duration::from_secs(2)));
        assert_eq!(cli.instances, 3);
        assert!(cli.listen_fds && cli.best_effort && cli.log_denials && cli.check);
        assert!(!cli.quiet && cli.stop_signal.is_none());
        assert_eq!(cli.stop_timeout, Duration::from_secs(3));
        let q = Cli::try_parse_from([
            "cloudabi-run",
            "-q",
            "--stop-timeout",
            "10s",
            "--stop-signal",
            "TERM",
            "p",
        ])
        .unwrap();
        assert!(q.quiet);
        assert_eq!(q.stop_timeout, Duration::from_secs(10));
        assert_eq!(q.stop_signal, Some(libc::SIGTERM));
        assert_eq!(cli.config, Some(PathBuf::from("conf.yaml")));
        assert_eq!(cli.program, PathBuf::from("./prog"));

        let d = Cli::try_parse_from(["cloudabi-run", "prog"]).unwrap();
        assert_eq!(d.instances, 1);
        assert!(d.config.is_none() && !d.check && d.timeout.is_none());

        for bad in [
            &["cloudabi-run"][..],
            &["cloudabi-run", "--instances", "0", "p"],
            &["cloudabi-run", "--instances", "x", "p"],
            &["cloudabi-run", "--max-fds", "0", "p"],
            &["cloudabi-run", "--memory", "lots", "p"],
            &["cloudabi-run", "--bogus", "p"],
            &["cloudabi-run", "p", "extra"],
            &["cloudabi-run", "--stop-signal", "SEGV", "p"],
            &["cloudabi-run", "--stop-timeout", "0", "p"],
        ] {
            assert!(Cli::try_parse_from(bad).is_err(), "{bad:?}");
        }
    }
}
