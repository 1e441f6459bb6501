//! `argdata`: inspect argdata from the command line.
//!
//! ```text
//! argdata decode [FILE]   print encoded argdata (FILE or stdin) as YAML
//! argdata encode [FILE]   turn YAML (FILE or stdin) into canonical argdata on stdout
//! ```
//!
//! `encode` cannot pass file descriptors along, so an `!fd N` leaf is written holding
//! index `N` itself (`stdin`, `stdout` and `stderr` become 0, 1 and 2), which is what
//! `decode` prints for an fd leaf: `decode` then `encode` gives back the same bytes.

use std::io::{Read, Write};
use std::process::ExitCode;

/// Exit status for command-line usage errors (`EX_USAGE`).
const EX_USAGE: u8 = 64;
/// Exit status for malformed input data (`EX_DATAERR`).
const EX_DATAERR: u8 = 65;
/// Exit status for I/O failures (`EX_IOERR`).
const EX_IOERR: u8 = 74;

/// A subcommand: its name, a one-line usage text and the function that runs it.
struct Command {
    name: &'static str,
    usage: &'static str,
    run: fn(&[String]) -> Result<(), Failure>,
}

const COMMANDS: &[Command] = &[
    Command {
        name: "decode",
        usage: "decode [FILE]   print encoded argdata (FILE, or stdin) as YAML",
        run: decode,
    },
    Command {
        name: "encode",
        usage: "encode [FILE]   write YAML (FILE, or stdin) as canonical argdata to stdout",
        run: encode,
    },
];

/// Why a subcommand failed, with the exit status to use.
struct Failure {
    status: u8,
    message: String,
}

impl Failure {
    fn new(status: u8, message: impl Into<String>) -> Self {
        Failure {
            status,
            message: message.into(),
        }
    }
}

fn usage() -> String {
    let mut text = String::from("usage:\n");
    for c in COMMANDS {
        text.push_str("  argdata ");
        text.push_str(c.usage);
        text.push('\n');
    }
    text
}

/// Reads all of FILE, or stdin for `None` or `-`.
fn read_input(path: Option<&str>) -> Result<Vec<u8>, Failure> {
    let mut data = Vec::new();
    let result = match path {
        None | Some("-") => std::io::stdin().lock().read_to_end(&mut data).map(drop),
        Some(p) => std::fs::read(p).map(|d| data = d),
    };
    result.map_err(|e| Failure::new(EX_IOERR, format!("{}: {e}", path.unwrap_or("stdin"))))?;
    Ok(data)
}

fn decode(args: &[String]) -> Result<(), Failure> {
    let path = match args {
        [] => None,
        [p] => Some(p.as_str()),
        _ => return Err(Failure::new(EX_USAGE, usage())),
    };
    let data = read_input(path)?;
    let text = argdata::yaml::to_string(argdata::Argdata::new(&data)).map_err(|e| {
        Failure::new(
            EX_DATAERR,
            format!("{}: invalid argdata: {e}", path.unwrap_or("stdin")),
        )
    })?;
    let mut stdout = std::io::stdout().lock();
    stdout
        .write_all(text.as_bytes())
        .and_then(|()| stdout.flush())
        .map_err(|e| Failure::new(EX_IOERR, format!("stdout: {e}")))
}

fn encode(args: &[String]) -> Result<(), Failure> {
    let path = match args {
        [] => None,
        [p] => Some(p.as_str()),
        _ => return Err(Failure::new(EX_USAGE, usage())),
    };
    let name = match path {
        None | Some("-") => "stdin",
        Some(p) => p,
    };
    let data = read_input(path)?;
    let text = std::str::from_utf8(&data).map_err(|e| {
        // Report the position of the first bad byte like a parse error.
        let good = &data[..e.valid_up_to()];
        let line = good.iter().filter(|&&b| b == b'\n').count() + 1;
        let line_start = good.iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1);
        let column = String::from_utf8_lossy(&good[line_start..]).chars().count() + 1;
        Failure::new(
            EX_DATAERR,
            format!("{name}:{line}:{column}: input is not valid UTF-8"),
        )
    })?;
    let value = argdata::yaml::Parser::new(text)
        .with_file_name(name)
        .parse()
        .map_err(|e| Failure::new(EX_DATAERR, e.to_string()))?;
    // `!fd N` is written as index N: the tool has no descriptors to pass along.
    let mut bytes = Vec::new();
    value
        .encode_raw_fds_into(&mut bytes)
        .map_err(|e| Failure::new(EX_DATAERR, format!("{name}: {e}")))?;
    let mut stdout = std::io::stdout().lock();
    stdout
        .write_all(&bytes)
        .and_then(|()| stdout.flush())
        .map_err(|e| Failure::new(EX_IOERR, format!("stdout: {e}")))
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let Some(name) = args.first() else {
        eprint!("{}", usage());
        return ExitCode::from(EX_USAGE);
    };
    if name == "-h" || name == "--help" {
        print!("{}", usage());
        return ExitCode::SUCCESS;
    }
    let Some(command) = COMMANDS.iter().find(|c| c.name == name) else {
        eprint!("argdata: unknown command {name:?}\n{}", usage());
        return ExitCode::from(EX_USAGE);
    };
    match (command.run)(&args[1..]) {
        Ok(()) => ExitCode::SUCCESS,
        Err(f) => {
            eprintln!("argdata: {}", f.message.trim_end());
            ExitCode::from(f.status)
        }
    }
}
