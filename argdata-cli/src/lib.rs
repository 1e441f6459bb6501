//! The `argdata` command-line tool: its options ([`Cli`], [`command`]) and what each
//! subcommand does ([`run`]). The binary (`src/main.rs`) only parses, runs and maps a
//! [`Failure`] to its exit status; `cargo xtask install` builds the man page and the
//! shell completions from [`command`].
//!
//! ```text
//! argdata decode [FILE]           print encoded argdata (FILE, or standard input) as YAML
//! argdata encode [-f] [FILE]      write YAML (FILE, or standard input) as canonical argdata
//! ```
//!
//! `encode` cannot pass file descriptors along, so an `!fd N` leaf is written holding
//! index `N` itself (`stdin`, `stdout` and `stderr` become 0, 1 and 2), which is what
//! `decode` prints for an fd leaf: `decode` then `encode` gives back the same bytes.

#![forbid(unsafe_code)]

use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use clap::{CommandFactory, Parser, Subcommand};

/// Exit status for command-line usage errors (`EX_USAGE` of `sysexits.h`), also used for
/// clap's own errors (unknown option, missing or extra argument).
pub const EX_USAGE: u8 = 64;
/// Exit status for malformed input data (`EX_DATAERR`).
pub const EX_DATAERR: u8 = 65;
/// Exit status for a file that cannot be read or output that cannot be written
/// (`EX_IOERR`).
pub const EX_IOERR: u8 = 74;

const AFTER_HELP: &str = "\
FILE is read whole; without FILE, or when FILE is `-`, standard input is read (messages
then call it <stdin>).

Exit status: 0 on success, 64 for a usage error (including `encode` refusing to write to a
terminal), 65 for input that is not valid argdata or YAML, 74 for an I/O error.

Examples:
  argdata encode config.yaml > config.ad
  argdata decode config.ad
  printf 'port: 8080\\n' | argdata encode | argdata decode

See argdata(1) (docs/argdata.1.md).";

/// Print encoded argdata as YAML, or encode YAML as argdata.
///
/// Argdata is CloudABI's configuration format: a tree of maps, sequences, strings,
/// numbers, timestamps and file descriptors. `decode` prints it in the YAML dialect of the
/// reference `argdata_print_yaml`, which `encode` (and `cloudabi-run`) read back.
#[derive(Debug, Parser)]
#[command(
    name = "argdata",
    version,
    arg_required_else_help = true,
    override_usage = "argdata decode [FILE]\n       argdata encode [--force] [FILE]",
    after_help = AFTER_HELP
)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands of `argdata`.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Print encoded argdata (FILE, or standard input) as YAML on standard output.
    ///
    /// The output is byte for byte what the reference `argdata_print_yaml` prints; data
    /// it cannot represent (malformed bytes, an integer wider than 64 bits) is an error
    /// naming the byte offset, and nothing is printed.
    Decode {
        /// The encoded argdata (`-`: standard input, the default).
        #[arg(value_name = "FILE")]
        file: Option<PathBuf>,
    },
    /// Write YAML (FILE, or standard input) as canonical argdata to standard output.
    ///
    /// An `!fd N` leaf is written as index N (`stdin`, `stdout`, `stderr`: 0, 1, 2). The
    /// output is binary, so it is refused when standard output is a terminal, unless
    /// --force is given. Nothing is written when the input has an error.
    Encode {
        /// The YAML to encode (`-`: standard input, the default).
        #[arg(value_name = "FILE")]
        file: Option<PathBuf>,
        /// Write the binary output even when standard output is a terminal.
        #[arg(short, long)]
        force: bool,
    },
}

/// The clap command of `argdata`, for man pages and shell completions.
pub fn command() -> clap::Command {
    Cli::command()
}

/// Why a subcommand failed. [`Failure::status`] is the exit status to use.
#[derive(Debug, thiserror::Error)]
pub enum Failure {
    /// The input file (or standard input) could not be read.
    #[error("{name}: {source}")]
    Read {
        /// The file as given, or `<stdin>`.
        name: String,
        /// What went wrong.
        source: std::io::Error,
    },
    /// Standard output could not be written.
    #[error("<stdout>: {0}")]
    Write(std::io::Error),
    /// `decode`: the bytes are not argdata the reference printer accepts.
    #[error("{name}: invalid argdata: {source}")]
    InvalidArgdata {
        /// The file as given, or `<stdin>`.
        name: String,
        /// The error, with its byte offset.
        source: argdata::Error,
    },
    /// `encode`: the input is not UTF-8; `line` and `column` (from 1) locate the first
    /// bad byte.
    #[error("{name}:{line}:{column}: input is not valid UTF-8")]
    NotUtf8 {
        /// The file as given, or `<stdin>`.
        name: String,
        /// Line of the first bad byte.
        line: usize,
        /// Column (in characters) of the first bad byte.
        column: usize,
    },
    /// `encode`: the YAML does not parse; the error names file, line and column.
    #[error("{0}")]
    Yaml(#[from] argdata::yaml::Error),
    /// `encode`: the value cannot be encoded (a negative `!fd` index).
    #[error("{name}: {source}")]
    Encode {
        /// The file as given, or `<stdin>`.
        name: String,
        /// The encoder's error.
        source: argdata::Error,
    },
    /// `encode` with standard output on a terminal and no `--force`.
    #[error(
        "refusing to write binary argdata to a terminal; redirect standard output \
         (argdata encode FILE > OUT) or pass --force"
    )]
    Terminal,
}

impl Failure {
    /// The exit status for this failure: [`EX_USAGE`], [`EX_DATAERR`] or [`EX_IOERR`].
    pub fn status(&self) -> u8 {
        match self {
            Failure::Read { .. } | Failure::Write(_) => EX_IOERR,
            Failure::InvalidArgdata { .. }
            | Failure::NotUtf8 { .. }
            | Failure::Yaml(_)
            | Failure::Encode { .. } => EX_DATAERR,
            Failure::Terminal => EX_USAGE,
        }
    }
}

/// Whether `encode` must refuse to run: its output is binary, which garbles a terminal.
pub fn refuses_binary_output(stdout_is_terminal: bool, force: bool) -> bool {
    stdout_is_terminal && !force
}

/// Where the input comes from, and its name in messages.
struct Input<'a> {
    path: Option<&'a Path>,
}

impl<'a> Input<'a> {
    fn new(file: Option<&'a Path>) -> Self {
        Input {
            path: file.filter(|p| *p != Path::new("-")),
        }
    }

    fn name(&self) -> String {
        match self.path {
            Some(p) => p.display().to_string(),
            None => "<stdin>".to_owned(),
        }
    }

    fn read(&self, stdin: &mut dyn Read) -> Result<Vec<u8>, Failure> {
        let result = match self.path {
            Some(p) => std::fs::read(p),
            None => {
                let mut data = Vec::new();
                stdin.read_to_end(&mut data).map(|_| data)
            }
        };
        result.map_err(|source| Failure::Read {
            name: self.name(),
            source,
        })
    }
}

/// Runs one subcommand: input from the named file or `stdin`, output to `stdout`, whose
/// being a terminal decides whether `encode` may write (see [`refuses_binary_output`]).
/// Nothing is read or written when that refusal applies.
pub fn run(
    cli: &Cli,
    stdin: &mut dyn Read,
    stdout: &mut dyn Write,
    stdout_is_terminal: bool,
) -> Result<(), Failure> {
    let output = match &cli.command {
        Command::Decode { file } => decode(&Input::new(file.as_deref()), stdin)?,
        Command::Encode { file, force } => {
            if refuses_binary_output(stdout_is_terminal, *force) {
                return Err(Failure::Terminal);
            }
            encode(&Input::new(file.as_deref()), stdin)?
        }
    };
    stdout
        .write_all(&output)
        .and_then(|()| stdout.flush())
        .map_err(Failure::Write)
}

fn decode(input: &Input<'_>, stdin: &mut dyn Read) -> Result<Vec<u8>, Failure> {
    let data = input.read(stdin)?;
    argdata::yaml::to_string(argdata::Argdata::new(&data))
        .map(String::into_bytes)
        .map_err(|source| Failure::InvalidArgdata {
            name: input.name(),
            source,
        })
}

fn encode(input: &Input<'_>, stdin: &mut dyn Read) -> Result<Vec<u8>, Failure> {
    let data = input.read(stdin)?;
    let name = input.name();
    let text = std::str::from_utf8(&data).map_err(|e| {
        let good = &data[..e.valid_up_to()];
        let line = good.iter().filter(|&&b| b == b'\n').count() + 1;
        let line_start = good.iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1);
        let column = String::from_utf8_lossy(&good[line_start..]).chars().count() + 1;
        Failure::NotUtf8 {
            name: name.clone(),
            line,
            column,
        }
    })?;
    let value = argdata::yaml::Parser::new(text)
        .with_file_name(name.as_str())
        .parse()?;
    // The tool has no descriptors to pass along: `!fd N` is written as index N.
    let mut bytes = Vec::new();
    value
        .encode_raw_fds_into(&mut bytes)
        .map_err(|source| Failure::Encode { name, source })?;
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Cli {
        Cli::try_parse_from(args).unwrap()
    }

    #[test]
    fn command_is_consistent() {
        command().debug_assert();
    }

    #[test]
    fn binary_output_to_a_terminal_needs_force() {
        assert!(refuses_binary_output(true, false));
        assert!(!refuses_binary_output(true, true));
        assert!(!refuses_binary_output(false, false));
        assert!(!refuses_binary_output(false, true));
    }

    /// Standard input that fails the test when read.
    struct Untouched;

    impl Read for Untouched {
        fn read(&mut self, _: &mut [u8]) -> std::io::Result<usize> {
            panic!("standard input was read");
        }
    }

    #[test]
    fn encode_to_a_terminal_reads_and_writes_nothing() {
        let mut out = Vec::new();
        let err = run(
            &parse(&["argdata", "encode"]),
            &mut Untouched,
            &mut out,
            true,
        )
        .unwrap_err();
        assert!(matches!(err, Failure::Terminal), "{err}");
        assert_eq!(err.status(), EX_USAGE);
        assert!(err.to_string().contains("--force"), "{err}");
        assert!(out.is_empty());

        for force in ["--force", "-f"] {
            let mut out = Vec::new();
            let cli = parse(&["argdata", "encode", force, "-"]);
            run(&cli, &mut &b"7\n"[..], &mut out, true).unwrap();
            assert_eq!(out, [0x05, 0x07]);
        }
        // decode prints text: a terminal is fine.
        let mut out = Vec::new();
        run(
            &parse(&["argdata", "decode"]),
            &mut &[0x02, 0x01][..],
            &mut out,
            true,
        )
        .unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "%TAG ! tag:nuxi.nl,2015:cloudabi/\n---\n!!bool \"true\"\n"
        );
    }

    #[test]
    fn failures_map_to_their_exit_statuses() {
        let mut out = Vec::new();
        let err = run(
            &parse(&["argdata", "decode"]),
            &mut &[0x0a][..],
            &mut out,
            false,
        )
        .unwrap_err();
        assert_eq!(err.status(), EX_DATAERR);
        assert_eq!(
            err.to_string(),
            "<stdin>: invalid argdata: unknown type tag 0x0a at byte offset 0"
        );
        let err = run(
            &parse(&["argdata", "encode"]),
            &mut &b"[1,"[..],
            &mut out,
            false,
        )
        .unwrap_err();
        assert_eq!(err.status(), EX_DATAERR);
        assert!(err.to_string().starts_with("<stdin>:"), "{err}");
        let cli = parse(&["argdata", "decode", "/nonexistent/argdata/x"]);
        let err = run(&cli, &mut Untouched, &mut out, false).unwrap_err();
        assert_eq!(err.status(), EX_IOERR);
        assert!(out.is_empty());
    }
}
