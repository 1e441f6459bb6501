//! `cloudabi-emulate`: runs one CloudABI executable in this process.
//!
//! Two ways to start it:
//!
//! * By `cloudabi-run --emulate` (inside its sandbox), through the native startup
//!   protocol of `docs/startup.md`. Its argdata is a map
//!   `{executable: FD, argdata: BINARY, fds: [FD, ...], modes: [MODE | null, ...]}`: the
//!   program, the program's own encoded argdata (fd leaves numbered 0 ... n-1), the n
//!   descriptors it gets as 0 ... n-1, and for each of them the mode it was granted with
//!   (`read`, `write`, `append` or `readwrite` for a `!file` grant, null for anything
//!   else). A directory among them gets the rights of its mode
//!   (`cloudabi_emulator::grant::GrantMode::directory_rights`), so that the emulator
//!   itself refuses what the mode does not allow with `ENOTCAPABLE`; other descriptors
//!   keep the rights of their type and open mode. Without `modes` every descriptor keeps
//!   the rights of its type and open mode (a directory: every directory right).
//! * By hand: `cloudabi-emulate PROGRAM ARGDATA.yaml`, where the YAML is the program's
//!   argdata; `!fd stdin|stdout|stderr|N` name descriptors this shell holds and
//!   `!file {path: P, mode: read|write|readwrite|append}` opens a file or directory (mode
//!   `read` by default; a directory is opened read-only and gets the rights of its mode as
//!   above). They become the program's descriptors 0 ... n-1 in order of first
//!   appearance. There is no sandbox in this mode.
//!
//! The exit status is the program's; 127 if it cannot start, 64 for a bad command line.

#![deny(unsafe_code)]

use std::ffi::OsString;
use std::os::fd::{BorrowedFd, OwnedFd};
use std::process::ExitCode;

use argdata::yaml::{Node, Parser, ResolverError, TagResolver};
use argdata::{Argdata, Fd, Value};
use cloudabi_emulator::Emulator;
use cloudabi_emulator::grant::GrantMode;

const USAGE: &str = "usage: cloudabi-emulate PROGRAM ARGDATA.yaml";

/// Duplicates descriptor `fd` of this process.
#[allow(unsafe_code)]
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

/// `!file {path: P, mode: M}` for the by-hand mode; keeps what it opened open, with the
/// mode of each.
#[derive(Default)]
struct Files(Vec<(OwnedFd, GrantMode)>);

impl Files {
    /// The mode `fd` (a descriptor of this process) was opened with, if `!file` opened it.
    fn mode_of(&self, fd: i32) -> Option<GrantMode> {
        self.0
            .iter()
            .find(|(f, _)| std::os::fd::AsRawFd::as_raw_fd(f) == fd)
            .map(|(_, mode)| *mode)
    }
}

impl TagResolver for Files {
    fn resolve(&mut self, tag: &str, node: &Node) -> Option<Result<Value, ResolverError>> {
        (tag == "file").then(|| {
            let path = node
                .get("path")
                .and_then(Node::as_scalar)
                .ok_or_else(|| ResolverError::from("!file needs a path"))?;
            let mode: GrantMode = node
                .get("mode")
                .and_then(Node::as_scalar)
                .unwrap_or("read")
                .parse()
                .map_err(|e: cloudabi_emulator::grant::UnknownMode| {
                    ResolverError::from(e.to_string())
                })?;
            let mut options = std::fs::File::options();
            match mode {
                GrantMode::Read => options.read(true),
                GrantMode::Write => options.write(true),
                GrantMode::ReadWrite => options.read(true).write(true),
                GrantMode::Append => options.append(true),
            };
            // Linux opens directories read-only only; their mode becomes their rights.
            let file = match options.open(path) {
                Err(e) if e.kind() == std::io::ErrorKind::IsADirectory => std::fs::File::open(path),
                other => other,
            }
            .map_err(|e| ResolverError::from(format!("{path}: {e}")))?;
            let fd = OwnedFd::from(file);
            let value = Value::from(Fd(std::os::fd::AsRawFd::as_raw_fd(&fd)));
            self.0.push((fd, mode));
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
    let mut emulator = Emulator::new(OwnedFd::from(exe), encoded.bytes, fds);
    for (i, fd) in encoded.fds.iter().enumerate() {
        if let (Some(mode), Ok(i)) = (files.mode_of(fd.0), u32::try_from(i)) {
            emulator = emulator.grant_mode(i, mode);
        }
    }
    Ok(emulator)
}

/// The `modes` entry of the launcher's argdata: one mode or null per granted descriptor.
fn modes(ad: Argdata<'_>, count: usize) -> Result<Vec<Option<GrantMode>>, String> {
    let Some(list) = ad.get("modes").map_err(|e| e.to_string())? else {
        return Ok(vec![None; count]);
    };
    let mut out = Vec::with_capacity(count);
    for item in list.seq().map_err(|e| e.to_string())? {
        let item = item.map_err(|e| e.to_string())?;
        if out.len() == count {
            return Err(format!("more modes than the {count} descriptors"));
        }
        if item.is_null() {
            out.push(None);
        } else {
            let name = item.as_str().map_err(|e| format!("modes: {e}"))?;
            out.push(Some(name.parse().map_err(|e| format!("modes: {e}"))?));
        }
    }
    if out.len() != count {
        return Err(format!("{} modes for {count} descriptors", out.len()));
    }
    Ok(out)
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
    let modes = modes(ad, granted.len())?;
    let mut emulator = Emulator::new(dup(exe)?, bytes, granted);
    for (i, mode) in modes.into_iter().enumerate() {
        if let (Some(mode), Ok(i)) = (mode, u32::try_from(i)) {
            emulator = emulator.grant_mode(i, mode);
        }
    }
    Ok(emulator)
}

#[allow(unsafe_code)]
fn main() -> ExitCode {
    let args: Vec<OsString> = std::env::args_os().skip(1).collect();
    let emulator = if std::env::var_os(program::startup::ARGDATA_FD_ENV).is_some() {
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
