//! The receiving side of the startup protocol (see `docs/startup.md`). [`load`] does it
//! all (what `program::main!` calls); the pieces are public for launchers and tests:
//!
//! ```
//! use std::os::fd::AsFd;
//!
//! // A launcher seals the argdata in a memfd; the program checks the seals and reads it.
//! let fd = program::launch::sealed_memfd(b"\x05\x07")?;
//! let bytes = program::startup::read_sealed_memfd(fd.as_fd())?;
//! assert_eq!(bytes, b"\x05\x07");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::ffi::{OsStr, OsString};
use std::fs::File;
use std::io::Read;
use std::os::fd::{AsFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use rustix::fs::SealFlags;

/// Name of the environment variable that announces the argdata memfd.
pub const ARGDATA_FD_ENV: &str = "CLOUDABI_ARGDATA_FD";

/// Name of the environment variable that announces the diagnostics pipe: the write end of
/// a pipe to the launcher, on which the program's startup code reports a configuration that
/// does not decode (see [`report_config_error`]).
pub const DIAGNOSTICS_FD_ENV: &str = "CLOUDABI_DIAGNOSTICS_FD";

/// The longest diagnostic line written to the launcher, in bytes.
pub const MAX_DIAGNOSTIC_LEN: usize = 1024;

/// The diagnostics pipe, taken from the environment by [`load`] until it is used or closed.
static DIAGNOSTICS: std::sync::Mutex<Option<OwnedFd>> = std::sync::Mutex::new(None);

/// The line [`report_config_error`] writes: `config-error TAB PATH TAB MESSAGE NEWLINE`, with
/// tabs, newlines and other control characters in `path` and `message` replaced by spaces,
/// cut to [`MAX_DIAGNOSTIC_LEN`] bytes in all.
///
/// ```
/// assert_eq!(
///     program::startup::diagnostic_line("listen", "invalid type:\tinteger"),
///     "config-error\tlisten\tinvalid type: integer\n"
/// );
/// ```
#[must_use]
pub fn diagnostic_line(path: &str, message: &str) -> String {
    let clean = |t: &str| -> String {
        t.chars()
            .map(|c| if c.is_control() { ' ' } else { c })
            .collect()
    };
    let mut line = format!("config-error\t{}\t{}", clean(path), clean(message));
    if line.len() >= MAX_DIAGNOSTIC_LEN {
        let mut end = MAX_DIAGNOSTIC_LEN - 1;
        while !line.is_char_boundary(end) {
            end -= 1;
        }
        line.truncate(end);
    }
    line.push('\n');
    line
}

/// Tells the launcher that the configuration does not decode at `path` (an argdata path
/// such as `peers[1].address`, empty for the whole value), so that it can point at the
/// place in the YAML file; then closes the diagnostics pipe. Does nothing when the program
/// was not started with one.
pub fn report_config_error(path: &str, message: &str) {
    if let Some(fd) = take_diagnostics() {
        let line = diagnostic_line(path, message);
        // One write of at most MAX_DIAGNOSTIC_LEN bytes, below PIPE_BUF: all or nothing.
        let _ = rustix::io::write(&fd, line.as_bytes());
    }
}

/// Closes the diagnostics pipe (the program's own code never needs it).
pub fn close_diagnostics() {
    drop(take_diagnostics());
}

fn take_diagnostics() -> Option<OwnedFd> {
    DIAGNOSTICS.lock().ok().and_then(|mut d| d.take())
}

/// Takes the diagnostics pipe named by [`DIAGNOSTICS_FD_ENV`] out of the environment and
/// keeps it for [`report_config_error`]. A number that is not an open descriptor above the
/// standard streams is ignored.
///
/// # Safety
/// As [`load`].
unsafe fn keep_diagnostics() {
    let Some(value) = std::env::var_os(DIAGNOSTICS_FD_ENV) else {
        return;
    };
    // SAFETY: the caller guarantees that no other thread touches the environment now.
    unsafe { std::env::remove_var(DIAGNOSTICS_FD_ENV) };
    let Some(fd) = value
        .to_str()
        .and_then(|s| s.parse::<RawFd>().ok())
        .filter(|fd| *fd >= 3)
    else {
        return;
    };
    // SAFETY: F_GETFD only inspects the descriptor table; an unused number yields EBADF.
    if unsafe { libc::fcntl(fd, libc::F_GETFD) } == -1 {
        return;
    }
    // SAFETY: the number is open and, by the protocol, the launcher's pipe that nothing else
    // in the process owns; this becomes its only owner.
    let owned = unsafe { OwnedFd::from_raw_fd(fd) };
    let _ = rustix::io::fcntl_setfd(&owned, rustix::io::FdFlags::CLOEXEC);
    if let Ok(mut d) = DIAGNOSTICS.lock() {
        *d = Some(owned);
    }
}

/// The largest argdata value accepted at startup: 64 MiB.
pub const MAX_ARGDATA_LEN: u64 = 64 << 20;

/// Exit status for a program started the wrong way (`EX_USAGE`).
pub const EXIT_USAGE: u8 = 64;

/// Exit status for a startup protocol violation by the launcher (`EX_OSERR`).
pub const EXIT_OSERR: u8 = 71;

/// The seals a launcher must have put on the argdata memfd.
pub(crate) const REQUIRED_SEALS: SealFlags = SealFlags::SEAL
    .union(SealFlags::SHRINK)
    .union(SealFlags::GROW)
    .union(SealFlags::WRITE);

/// Which descriptor numbers inside the argdata a program may use.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FdPolicy {
    /// Started through the startup protocol: exactly the numbers below the bound
    /// (0-2 and 3 ... 3+n-1, where the bound 3+n is the argdata memfd's number).
    Granted {
        /// One past the highest granted descriptor number (the memfd's number).
        limit: RawFd,
    },
    /// Started by hand with `--argdata FILE`: the fd leaves name descriptors that the
    /// shell already opened, so any non-negative number is passed through.
    Inherited,
}

impl FdPolicy {
    /// Converts a descriptor number found in the argdata to a process-local descriptor,
    /// or `None` if the number was not granted to this program.
    ///
    /// ```
    /// use program::FdPolicy;
    /// let p = FdPolicy::Granted { limit: 5 };
    /// assert_eq!(p.convert(4), Some(4));
    /// assert_eq!(p.convert(5), None);
    /// assert_eq!(FdPolicy::Inherited.convert(9), Some(9));
    /// ```
    #[must_use]
    pub fn convert(self, number: u64) -> Option<RawFd> {
        let fd = RawFd::try_from(number).ok()?;
        match self {
            FdPolicy::Granted { limit } if fd < limit => Some(fd),
            FdPolicy::Granted { .. } => None,
            FdPolicy::Inherited => Some(fd),
        }
    }
}

/// Why a program could not obtain its argdata at startup.
#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    /// Started with neither `CLOUDABI_ARGDATA_FD` nor a debugging flag.
    #[error("no argdata: start this program with cloudabi-run, or pass --argdata-yaml FILE")]
    NoArgdata,
    /// The command line did not have the form `PROGRAM --argdata-yaml FILE` or
    /// `PROGRAM --argdata FILE`.
    #[error(
        "unexpected command line argument {0:?}: \
         usage: PROGRAM --argdata-yaml FILE | --argdata FILE"
    )]
    Usage(OsString),
    /// The file named by `--argdata-yaml` is not valid argdata YAML.
    #[error("{0}")]
    Yaml(#[source] argdata::yaml::Error),
    /// The YAML names a descriptor that cannot be encoded.
    #[error("cannot encode the argdata from YAML: {0}")]
    Encode(#[source] argdata::Error),
    /// `CLOUDABI_ARGDATA_FD` does not hold a descriptor number of 3 or more.
    #[error("{ARGDATA_FD_ENV}={0:?} is not a descriptor number of 3 or more")]
    BadFdNumber(OsString),
    /// The announced descriptor is not open or cannot be inspected.
    #[error("cannot inspect the argdata descriptor: {0}")]
    Inspect(#[source] std::io::Error),
    /// The announced descriptor is not a memfd carrying all four required seals.
    #[error(
        "the argdata descriptor is not a memfd sealed with \
         F_SEAL_SEAL|F_SEAL_SHRINK|F_SEAL_GROW|F_SEAL_WRITE (has {0:?})"
    )]
    NotSealed(SealFlags),
    /// The argdata is larger than [`MAX_ARGDATA_LEN`].
    #[error("argdata of {0} bytes exceeds the limit of 64 MiB")]
    TooLarge(u64),
    /// Reading the argdata memfd failed.
    #[error("cannot read the argdata: {0}")]
    Read(#[source] std::io::Error),
    /// Reading the file named by `--argdata` failed.
    #[error("cannot read {}: {source}", path.display())]
    ReadFile {
        /// The file named on the command line.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
}

impl StartupError {
    /// The exit status a program reports for this error: 64 (`EX_USAGE`) when the program
    /// was started the wrong way by hand, 71 (`EX_OSERR`) when the launcher broke the
    /// protocol.
    #[must_use]
    pub fn exit_status(&self) -> u8 {
        match self {
            StartupError::NoArgdata
            | StartupError::Usage(_)
            | StartupError::ReadFile { .. }
            | StartupError::Yaml(_)
            | StartupError::Encode(_) => EXIT_USAGE,
            _ => EXIT_OSERR,
        }
    }
}

/// The argdata a program was started with, and the rule for its descriptors.
#[derive(Debug)]
pub struct Startup {
    bytes: Vec<u8>,
    fds: FdPolicy,
}

impl Startup {
    /// Wraps bytes and a descriptor policy, e.g. for tests or embedding.
    #[must_use]
    pub fn new(bytes: Vec<u8>, fds: FdPolicy) -> Self {
        Startup { bytes, fds }
    }

    /// The encoded argdata.
    #[must_use]
    pub fn bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// The rule deciding which descriptor numbers are valid.
    #[must_use]
    pub fn fd_policy(&self) -> FdPolicy {
        self.fds
    }
}

/// Reads the sealed argdata memfd `fd`, checks its seals and size, and returns its bytes.
///
/// The descriptor is not closed; see [`read_sealed_memfd_owned`] for the closing variant.
///
/// # Errors
///
/// [`StartupError::Inspect`] when `fd` cannot be queried, [`StartupError::NotSealed`] when
/// a seal is missing (or `fd` is no memfd), [`StartupError::TooLarge`] and
/// [`StartupError::Read`].
pub fn read_sealed_memfd(fd: BorrowedFd<'_>) -> Result<Vec<u8>, StartupError> {
    let seals = match rustix::fs::fcntl_get_seals(fd) {
        Ok(seals) => seals,
        // Files that do not support sealing answer EINVAL: they are not memfds.
        Err(rustix::io::Errno::INVAL) => SealFlags::empty(),
        Err(e) => return Err(StartupError::Inspect(e.into())),
    };
    if !seals.contains(REQUIRED_SEALS) {
        return Err(StartupError::NotSealed(seals));
    }
    let size = rustix::fs::fstat(fd)
        .map_err(|e| StartupError::Inspect(e.into()))?
        .st_size;
    let size = u64::try_from(size).unwrap_or(0);
    if size > MAX_ARGDATA_LEN {
        return Err(StartupError::TooLarge(size));
    }
    let file = File::from(fd.try_clone_to_owned().map_err(StartupError::Inspect)?);
    let len = usize::try_from(size).map_err(|_| StartupError::TooLarge(size))?;
    let mut bytes = vec![0; len];
    // The seals forbid shrinking and growing, so the size read above is final; read
    // positionally so that the descriptor's offset does not matter.
    file.read_exact_at(&mut bytes, 0)
        .map_err(StartupError::Read)?;
    Ok(bytes)
}

/// Like [`read_sealed_memfd`], then closes the descriptor (also on error).
///
/// # Errors
///
/// As [`read_sealed_memfd`].
pub fn read_sealed_memfd_owned(fd: OwnedFd) -> Result<Vec<u8>, StartupError> {
    read_sealed_memfd(fd.as_fd())
}

/// Reads a file of encoded argdata named on the command line, at most 64 MiB.
fn read_argdata_file(path: &Path) -> Result<Vec<u8>, StartupError> {
    let err = |source| StartupError::ReadFile {
        path: path.to_owned(),
        source,
    };
    let file = File::open(path).map_err(err)?;
    let mut bytes = Vec::new();
    file.take(MAX_ARGDATA_LEN + 1)
        .read_to_end(&mut bytes)
        .map_err(err)?;
    if bytes.len() as u64 > MAX_ARGDATA_LEN {
        return Err(StartupError::TooLarge(bytes.len() as u64));
    }
    Ok(bytes)
}

/// How the file named on the command line is encoded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Format {
    /// `--argdata FILE`: encoded bytes.
    Binary,
    /// `--argdata-yaml FILE`: YAML as `argdata decode` prints it.
    Yaml,
}

/// Parses the debugging command line: `--argdata FILE`, `--argdata-yaml FILE`, or the
/// `--flag=FILE` forms.
fn parse_args(mut args: impl Iterator<Item = OsString>) -> Result<(Format, PathBuf), StartupError> {
    let Some(first) = args.next() else {
        return Err(StartupError::NoArgdata);
    };
    let bytes = first.as_bytes();
    let (format, path) = if let Some(f) = flag(bytes) {
        (
            f,
            args.next()
                .ok_or_else(|| StartupError::Usage(first.clone()))?,
        )
    } else if let Some(rest) = bytes.strip_prefix(b"--argdata=") {
        (Format::Binary, OsStr::from_bytes(rest).to_owned())
    } else if let Some(rest) = bytes.strip_prefix(b"--argdata-yaml=") {
        (Format::Yaml, OsStr::from_bytes(rest).to_owned())
    } else {
        return Err(StartupError::Usage(first));
    };
    if let Some(extra) = args.next() {
        return Err(StartupError::Usage(extra));
    }
    Ok((format, PathBuf::from(path)))
}

fn flag(arg: &[u8]) -> Option<Format> {
    match arg {
        b"--argdata" => Some(Format::Binary),
        b"--argdata-yaml" => Some(Format::Yaml),
        _ => None,
    }
}

/// Turns YAML text into encoded bytes whose fd leaves hold the descriptor numbers the
/// YAML names (`!fd stdin|stdout|stderr|N`).
fn encode_yaml(text: &str, path: &Path) -> Result<Vec<u8>, StartupError> {
    let value = argdata::yaml::Parser::new(text)
        .with_file_name(path.display().to_string())
        .parse()
        .map_err(StartupError::Yaml)?;
    let mut bytes = Vec::new();
    value
        .encode_raw_fds_into(&mut bytes)
        .map_err(StartupError::Encode)?;
    if bytes.len() as u64 > MAX_ARGDATA_LEN {
        return Err(StartupError::TooLarge(bytes.len() as u64));
    }
    Ok(bytes)
}

/// Obtains the argdata the way `docs/startup.md` describes: from the sealed memfd named
/// by `CLOUDABI_ARGDATA_FD` (then closed, and the variable removed from the environment),
/// or else from `--argdata FILE` in `args` (the command line without the program name).
/// A diagnostics pipe named by `CLOUDABI_DIAGNOSTICS_FD` is taken out of the environment
/// too and kept, close-on-exec, for [`report_config_error`].
///
/// # Safety
///
/// The caller must ensure that no other thread reads or writes the environment while
/// this runs (call it first thing in `main`), and that nothing else in the process owns
/// or uses the descriptor named by `CLOUDABI_ARGDATA_FD`: it is closed here.
///
/// # Errors
///
/// Any [`StartupError`]; [`StartupError::exit_status`] tells how to exit.
pub unsafe fn load(args: impl Iterator<Item = OsString>) -> Result<Startup, StartupError> {
    // SAFETY: forwarded from this function's own contract.
    unsafe { keep_diagnostics() };
    let Some(value) = std::env::var_os(ARGDATA_FD_ENV) else {
        let (format, path) = parse_args(args)?;
        let raw = read_argdata_file(&path)?;
        let bytes = match format {
            Format::Binary => raw,
            Format::Yaml => {
                let text = String::from_utf8(raw).map_err(|e| StartupError::ReadFile {
                    path: path.clone(),
                    source: std::io::Error::new(std::io::ErrorKind::InvalidData, e),
                })?;
                encode_yaml(&text, &path)?
            }
        };
        return Ok(Startup {
            bytes,
            fds: FdPolicy::Inherited,
        });
    };
    // SAFETY: the caller guarantees that no other thread touches the environment now.
    unsafe { std::env::remove_var(ARGDATA_FD_ENV) };
    let fd: RawFd = value
        .to_str()
        .and_then(|s| s.parse().ok())
        .filter(|fd| *fd >= 3)
        .ok_or_else(|| StartupError::BadFdNumber(value.clone()))?;
    // SAFETY: F_GETFD only inspects the descriptor table; an unused number yields EBADF.
    if unsafe { libc::fcntl(fd, libc::F_GETFD) } == -1 {
        return Err(StartupError::Inspect(std::io::Error::last_os_error()));
    }
    // SAFETY: the number is open (checked just above) and the caller guarantees that
    // nothing else owns it, so this becomes its only owner and closes it when dropped.
    let owned = unsafe { OwnedFd::from_raw_fd(fd) };
    let bytes = read_sealed_memfd_owned(owned)?;
    Ok(Startup {
        bytes,
        fds: FdPolicy::Granted { limit: fd },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(v: &[&str]) -> impl Iterator<Item = OsString> {
        v.iter().map(OsString::from).collect::<Vec<_>>().into_iter()
    }

    #[test]
    fn command_line_forms() {
        assert!(matches!(
            parse_args(args(&[])),
            Err(StartupError::NoArgdata)
        ));
        let x = PathBuf::from("x");
        for (argv, format) in [
            (&["--argdata", "x"][..], Format::Binary),
            (&["--argdata=x"][..], Format::Binary),
            (&["--argdata-yaml", "x"][..], Format::Yaml),
            (&["--argdata-yaml=x"][..], Format::Yaml),
        ] {
            assert_eq!(parse_args(args(argv)).unwrap(), (format, x.clone()));
        }
        assert!(matches!(
            parse_args(args(&["--argdata-yaml"])),
            Err(StartupError::Usage(_))
        ));
        assert!(matches!(
            parse_args(args(&["--argdata"])),
            Err(StartupError::Usage(_))
        ));
        assert!(matches!(
            parse_args(args(&["--argdata", "x", "z"])),
            Err(StartupError::Usage(_))
        ));
        assert!(matches!(
            parse_args(args(&["-v"])),
            Err(StartupError::Usage(_))
        ));
    }

    #[test]
    fn yaml_is_encoded_with_descriptor_numbers() {
        let bytes = encode_yaml(
            "greeting: hi\nout: [!fd stdout, !fd 7]\n",
            Path::new("t.yaml"),
        )
        .unwrap();
        let ad = argdata::Argdata::new(&bytes);
        assert_eq!(ad.get("greeting").unwrap().unwrap().as_str().unwrap(), "hi");
        let fds: Vec<u32> = ad
            .get("out")
            .unwrap()
            .unwrap()
            .seq()
            .unwrap()
            .map(|v| v.unwrap().as_fd_index().unwrap())
            .collect();
        assert_eq!(fds, [1, 7]);
        let err = encode_yaml("a: [", Path::new("t.yaml")).unwrap_err();
        assert!(err.to_string().starts_with("t.yaml:"), "{err}");
        assert_eq!(err.exit_status(), 64);
    }

    #[test]
    fn exit_statuses() {
        assert_eq!(StartupError::NoArgdata.exit_status(), 64);
        assert_eq!(
            StartupError::NotSealed(SealFlags::empty()).exit_status(),
            71
        );
    }

    #[test]
    fn memfd_seals_are_checked() {
        use rustix::fs::{MemfdFlags, fcntl_add_seals, memfd_create};
        let fd = memfd_create("argdata", MemfdFlags::CLOEXEC | MemfdFlags::ALLOW_SEALING).unwrap();
        rustix::io::write(&fd, b"\x06hello").unwrap();
        // Not sealed yet.
        assert!(matches!(
            read_sealed_memfd(fd.as_fd()),
            Err(StartupError::NotSealed(_))
        ));
        fcntl_add_seals(&fd, SealFlags::SHRINK | SealFlags::GROW | SealFlags::WRITE).unwrap();
        assert!(matches!(
            read_sealed_memfd(fd.as_fd()),
            Err(StartupError::NotSealed(_))
        ));
        fcntl_add_seals(&fd, SealFlags::SEAL).unwrap();
        assert_eq!(read_sealed_memfd(fd.as_fd()).unwrap(), b"\x06hello");
        // A regular file is no memfd.
        let file = File::open("/proc/self/exe").unwrap();
        assert!(matches!(
            read_sealed_memfd(file.as_fd()),
            Err(StartupError::NotSealed(_))
        ));
    }
}
