//! `cloudabi-emulate`: runs one CloudABI executable in this process.
//!
//! Two ways to start it:
//!
//! * By `cloudabi-run --emulate` (inside its sandbox), through the native startup
//!   protocol of `docs/startup.md`. Its argdata is a map
//!   `{executable: FD, argdata: BINARY, fds: [FD, ...]}`: the program, the program's own
//!   encoded argdata (fd leaves numbered 0 ... n-1), and the n descriptors it gets as
//!   0 ... n-1.
//! * By hand: `cloudabi-emulate PROGRAM ARGDATA.yaml`, where the YAML is the program's
//!   argdata; `!fd stdin|stdout|stderr|N` name descriptors this shell holds and
//!   `!file {path: P, mode: read|write|readwrite|append}` opens a file or directory (mode
//!   `read` by default). They become the program's descriptors 0 ... n-1 in order of first
//!   appearance. There is no sandbox in this mode.
//!
//! The exit status is the program's; 127 if it cannot start, 64 for a bad command line.

use std::ffi::OsString;
use std::os::fd::{BorrowedFd, OwnedFd};
use std::process::ExitCode;

use argdata::yaml::{Node, Parser, ResolverError, TagResolver};
use argdata::{Argdata, Fd, Value};
use cloudabi_emulator::Emulator;

const USAGE: &str = "usage: cloudabi-emulate PROGRAM ARGDATA.yaml";

/// Duplicates descriptor `fd` of this process.
fn dup(fd: i32) -> Result<OwnedFd, String> {
    if fd < 0 {
        return Err(format!("bad descriptor {fd}"));
    }
    // SAFETY: only borrowed long enough to duplicate; an fd that is not open makes the
    // duplication fail with EBADF.
    let b = unsafe { BorrowedFd::borrow_raw(fd) };
    b.try_clone_to_owned()
        .map_err(|e| format!("descriptor {fd}: {e}"))
}

/// `!file {path: P, mode: M}` for the by-hand mode; keeps what it opened open.
#[derive(Default)]
struct Files(Vec<OwnedFd>);

impl TagResolver for Files {
    fn resolve(&mut self, tag: &str, node: &Node) -> Option<Result<Value, ResolverError>> {
        (tag == "file").then(|| {
            let path = node
                .get("path")
                .and_then(Node::as_scalar)
                .ok_or_else(|| ResolverError::from("!file needs a path"))?;
            let mode = node.get("mode").and_then(Node::as_scalar).unwrap_or("read");
            let mut options = std::fs::File::options();
            match mode {
                "read" => options.read(true),
                "write" => options.write(true),
                "readwrite" => options.read(true).write(true),
                "append" => options.append(true),
                _ => {
                    return Err(ResolverError::from(
                        "mode: read, write, readwrite or append",
                    ));
                }
            };
            let file = options
                .open(path)
                .map_err(|e| ResolverError::from(format!("{path}: {e}")))?;
            let fd = OwnedFd::from(file);
            let value = Value::from(Fd(std::os::fd::AsRawFd::as_raw_fd(&fd)));
            self.0.push(fd);
            Ok(value)
        })
    }
}

fn by_hand(program: &OsString, yaml: &OsString) -> Result<Emulator, String> {
    let exe =
        std::fs::File::open(program).map_err(|e| format!("{}: {e}", program.to_string_lossy()))?;
    let text =
        std::fs::read_to_string(yaml).map_err(|e| format!("{}: {e}", yaml.to_string_lossy()))?;
    let mut files = Files::default();
    let value = Parser::new(&text)
        .parse_with(&mut files)
        .map_err(|e| format!("{}: {e}", yaml.to_string_lossy()))?;
    let encoded = value.encode();
    let fds = encoded
        .fds
        .iter()
        .map(|fd| dup(fd.0))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Emulator::new(OwnedFd::from(exe), encoded.bytes, fds))
}

fn from_launcher(ad: Argdata<'_>) -> Result<Emulator, String> {
    let fds = program::fds();
    let field = |key: &str| {
        ad.get(key)
            .map_err(|e| e.to_string())?
            .ok_or_else(|| format!("argdata lacks \"{key}\""))
    };
    let exe = field("executable")?
        .as_fd(&fds)
        .map_err(|e| e.to_string())?;
    let bytes = field("argdata")?
        .as_binary()
        .map_err(|e| e.to_string())?
        .to_vec();
    let mut granted = Vec::new();
    for fd in field("fds")?.seq().map_err(|e| e.to_string())? {
        let fd = fd.and_then(|f| f.as_fd(&fds)).map_err(|e| e.to_string())?;
        granted.push(dup(fd)?);
    }
    Ok(Emulator::new(dup(exe)?, bytes, granted))
}

fn main() -> ExitCode {
    let args: Vec<OsString> = std::env::args_os().skip(1).collect();
    let emulator = if std::env::var_os("CLOUDABI_ARGDATA_FD").is_some() {
        // SAFETY: first thing in main, single-threaded, nothing else owns the descriptor.
        match unsafe { program::init(std::iter::empty()) } {
            Ok(startup) => from_launcher(Argdata::new(startup.bytes())),
            Err(e) => {
                eprintln!("cloudabi-emulate: {e}");
                return ExitCode::from(e.exit_status());
            }
        }
    } else if let [program, yaml] = args.as_slice() {
        by_hand(program, yaml)
    } else {
        eprintln!("{USAGE}");
        return ExitCode::from(64);
    };
    let emulator = match emulator {
        Ok(e) => e,
        Err(e) => {
            eprintln!("cloudabi-emulate: {e}");
            return ExitCode::from(127);
        }
    };
    let Err(e) = emulator.exec();
    eprintln!("cloudabi-emulate: {e}");
    ExitCode::from(127)
}
