//! Granted descriptors as typed configuration fields: a program declares what it receives as
//! the std (and, with the `cap-std` feature, cap-std) types it will use, and decoding hands
//! over ownership of each granted descriptor exactly once, after checking that it is of the
//! declared kind.
//!
//! ```no_run
//! use std::net::TcpListener;
//! use std::os::unix::net::UnixStream;
//! use program::cap::Cap;
//!
//! #[derive(serde::Deserialize)]
//! struct Config {
//!     // A plain std type, through `deserialize_with`.
//!     #[serde(deserialize_with = "program::cap::deserialize")]
//!     listen: TcpListener,
//!     // Or the wrapper, which also works inside `Vec` and `Option`.
//!     log: Option<Cap<std::fs::File>>,
//!     peers: Vec<Cap<UnixStream>>,
//! }
//!
//! fn serve(config: Config) {
//!     for stream in config.listen.incoming().take(1) {
//!         // ...
//!         # let _ = stream;
//!     }
//!     let _log = config.log.map(Cap::into_inner);
//! }
//!
//! program::main!(typed serve);
//! ```
//!
//! A descriptor of the wrong kind (a directory where a socket is declared) is a decoding error
//! naming the field, so `main!(typed f)` exits with 65 before `f` runs, and `cloudabi-run`
//! points at the YAML line. Only descriptors the launcher granted can be claimed (see
//! [`crate::fds`]), each at most once: a second claim of the same number is an error, so two
//! owners of one descriptor cannot arise. The caller writes no `unsafe`.

use std::collections::BTreeSet;
use std::fmt;
use std::fs::File;
use std::net::{TcpListener, TcpStream, UdpSocket};
use std::ops::{Deref, DerefMut};
use std::os::fd::{FromRawFd, OwnedFd, RawFd};
use std::os::unix::net::{UnixDatagram, UnixListener, UnixStream};
use std::sync::Mutex;

use rustix::fs::FileType;
use rustix::net::{AddressFamily, SocketType};
use serde::de::{Deserialize, Deserializer, Error as _};

/// Descriptor numbers already claimed in this process.
static CLAIMED: Mutex<BTreeSet<RawFd>> = Mutex::new(BTreeSet::new());

/// Why a granted descriptor cannot become the declared type.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ClaimError {
    /// The number was not granted to this program (or the program was not started through
    /// the startup protocol or `--argdata`).
    #[error("descriptor {0} was not granted to this program")]
    NotGranted(RawFd),
    /// The descriptor was claimed before (it appears twice in the configuration, or was
    /// taken by other code).
    #[error("descriptor {0} is claimed twice")]
    ClaimedTwice(RawFd),
    /// The descriptor is not open.
    #[error("descriptor {0} is not open")]
    Closed(RawFd),
    /// The descriptor is of another kind than the field declares.
    #[error("descriptor {fd} is {found}, but {expected} is declared")]
    WrongKind {
        /// The number.
        fd: RawFd,
        /// What the field's type needs.
        expected: &'static str,
        /// What the descriptor is.
        found: String,
    },
}

/// A type a granted descriptor can become (see the module documentation).
pub trait FromGranted: Sized {
    /// What the type needs, for messages (`a listening TCP socket`).
    const EXPECTED: &'static str;

    /// Whether `fd` is of the right kind; `Err` says what it is instead.
    ///
    /// # Errors
    /// A description of the descriptor.
    fn check(fd: &OwnedFd) -> Result<(), String>;

    /// Converts the checked descriptor.
    fn from_owned(fd: OwnedFd) -> Self;
}

/// Takes ownership of the granted descriptor `fd` as a `T`, once.
///
/// # Errors
/// See [`ClaimError`]. A descriptor of the wrong kind stays unclaimed and open.
pub fn claim<T: FromGranted>(fd: argdata::Fd) -> Result<T, ClaimError> {
    let n = fd.0;
    let granted = u64::try_from(n)
        .ok()
        .and_then(|u| crate::fds().0.and_then(|p| p.convert(u)));
    if granted.is_none() {
        return Err(ClaimError::NotGranted(n));
    }
    let mut claimed = CLAIMED.lock().unwrap_or_else(|e| e.into_inner());
    if claimed.contains(&n) {
        return Err(ClaimError::ClaimedTwice(n));
    }
    // SAFETY: F_GETFD only inspects the descriptor table.
    if unsafe { libc::fcntl(n, libc::F_GETFD) } == -1 {
        return Err(ClaimError::Closed(n));
    }
    // SAFETY: `n` is open, was granted to this program by the launcher (checked above, so
    // nothing in the runtime owns it) and has not been claimed before in this process (the
    // registry is checked and updated under one lock): this becomes its only owner. Should the
    // kind not match, ownership is given up again with `into_raw_fd` before anything closes
    // it.
    let owned = unsafe { OwnedFd::from_raw_fd(n) };
    if let Err(found) = T::check(&owned) {
        let _ = std::os::fd::IntoRawFd::into_raw_fd(owned);
        return Err(ClaimError::WrongKind {
            fd: n,
            expected: T::EXPECTED,
            found,
        });
    }
    claimed.insert(n);
    Ok(T::from_owned(owned))
}

/// For `#[serde(deserialize_with = "program::cap::deserialize")]` on a field of a
/// [`FromGranted`] type: decodes an fd leaf and [`claim`]s it.
///
/// # Errors
/// Not an fd leaf, or a [`ClaimError`] (as a custom error, which the decoder locates at the
/// field).
pub fn deserialize<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: FromGranted,
{
    let fd = argdata::Fd::deserialize(d)?;
    claim(fd).map_err(D::Error::custom)
}

/// A granted descriptor as a `T`: derefs to it, [`Cap::into_inner`] gives it up. Use it where
/// `deserialize_with` does not reach (`Vec<Cap<T>>`, `Option<Cap<T>>`).
pub struct Cap<T>(T);

impl<T> Cap<T> {
    /// The value.
    pub fn into_inner(self) -> T {
        self.0
    }
}

impl<T> Deref for Cap<T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.0
    }
}

impl<T> DerefMut for Cap<T> {
    fn deref_mut(&mut self) -> &mut T {
        &mut self.0
    }
}

impl<T: fmt::Debug> fmt::Debug for Cap<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl<'de, T: FromGranted> Deserialize<'de> for Cap<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        deserialize(d).map(Cap)
    }
}

/// What a descriptor is, in words.
fn describe(fd: &OwnedFd) -> String {
    let Ok(st) = rustix::fs::fstat(fd) else {
        return "unknown".to_owned();
    };
    match FileType::from_raw_mode(st.st_mode) {
        FileType::Directory => "a directory".to_owned(),
        FileType::RegularFile => "a regular file".to_owned(),
        FileType::Fifo => "a pipe".to_owned(),
        FileType::CharacterDevice => "a character device".to_owned(),
        FileType::BlockDevice => "a block device".to_owned(),
        FileType::Symlink => "a symbolic link".to_owned(),
        FileType::Socket => {
            let family = match rustix::net::sockopt::socket_domain(fd) {
                Ok(AddressFamily::INET) => "IPv4",
                Ok(AddressFamily::INET6) => "IPv6",
                Ok(AddressFamily::UNIX) => "UNIX",
                _ => "other",
            };
            let ty = match rustix::net::sockopt::socket_type(fd) {
                Ok(SocketType::STREAM) => "stream",
                Ok(SocketType::DGRAM) => "datagram",
                Ok(SocketType::SEQPACKET) => "seqpacket",
                _ => "other",
            };
            let listening = rustix::net::sockopt::socket_acceptconn(fd).unwrap_or(false);
            format!(
                "a {}{family} {ty} socket",
                if listening { "listening " } else { "" }
            )
        }
        FileType::Unknown => "unknown".to_owned(),
    }
}

/// Whether `fd` is a socket of `families` and `ty`, listening or not.
fn is_socket(fd: &OwnedFd, families: &[AddressFamily], ty: SocketType, listening: bool) -> bool {
    let is_sock = rustix::fs::fstat(fd)
        .is_ok_and(|st| FileType::from_raw_mode(st.st_mode) == FileType::Socket);
    is_sock
        && rustix::net::sockopt::socket_domain(fd).is_ok_and(|f| families.contains(&f))
        && rustix::net::sockopt::socket_type(fd).is_ok_and(|t| t == ty)
        && (ty == SocketType::DGRAM
            || rustix::net::sockopt::socket_acceptconn(fd).is_ok_and(|l| l == listening))
}

fn check_socket(
    fd: &OwnedFd,
    families: &[AddressFamily],
    ty: SocketType,
    listening: bool,
) -> Result<(), String> {
    if is_socket(fd, families, ty, listening) {
        Ok(())
    } else {
        Err(describe(fd))
    }
}

const INET: [AddressFamily; 2] = [AddressFamily::INET, AddressFamily::INET6];
const UNIX: [AddressFamily; 1] = [AddressFamily::UNIX];

impl FromGranted for OwnedFd {
    const EXPECTED: &'static str = "any descriptor";
    fn check(_: &OwnedFd) -> Result<(), String> {
        Ok(())
    }
    fn from_owned(fd: OwnedFd) -> Self {
        fd
    }
}

impl FromGranted for File {
    const EXPECTED: &'static str = "a file, pipe or device (not a directory or socket)";
    fn check(fd: &OwnedFd) -> Result<(), String> {
        match rustix::fs::fstat(fd).map(|st| FileType::from_raw_mode(st.st_mode)) {
            Ok(FileType::Directory | FileType::Socket) | Err(_) => Err(describe(fd)),
            Ok(_) => Ok(()),
        }
    }
    fn from_owned(fd: OwnedFd) -> Self {
        File::from(fd)
    }
}

impl FromGranted for TcpListener {
    const EXPECTED: &'static str = "a listening TCP socket";
    fn check(fd: &OwnedFd) -> Result<(), String> {
        check_socket(fd, &INET, SocketType::STREAM, true)
    }
    fn from_owned(fd: OwnedFd) -> Self {
        TcpListener::from(fd)
    }
}

impl FromGranted for TcpStream {
    const EXPECTED: &'static str = "a connected TCP socket";
    fn check(fd: &OwnedFd) -> Result<(), String> {
        check_socket(fd, &INET, SocketType::STREAM, false)
    }
    fn from_owned(fd: OwnedFd) -> Self {
        TcpStream::from(fd)
    }
}

impl FromGranted for UdpSocket {
    const EXPECTED: &'static str = "a UDP socket";
    fn check(fd: &OwnedFd) -> Result<(), String> {
        check_socket(fd, &INET, SocketType::DGRAM, false)
    }
    fn from_owned(fd: OwnedFd) -> Self {
        UdpSocket::from(fd)
    }
}

impl FromGranted for UnixListener {
    const EXPECTED: &'static str = "a listening UNIX stream socket";
    fn check(fd: &OwnedFd) -> Result<(), String> {
        check_socket(fd, &UNIX, SocketType::STREAM, true)
    }
    fn from_owned(fd: OwnedFd) -> Self {
        UnixListener::from(fd)
    }
}

impl FromGranted for UnixStream {
    const EXPECTED: &'static str = "a connected UNIX stream socket";
    fn check(fd: &OwnedFd) -> Result<(), String> {
        check_socket(fd, &UNIX, SocketType::STREAM, false)
    }
    fn from_owned(fd: OwnedFd) -> Self {
        UnixStream::from(fd)
    }
}

impl FromGranted for UnixDatagram {
    const EXPECTED: &'static str = "a UNIX datagram socket";
    fn check(fd: &OwnedFd) -> Result<(), String> {
        check_socket(fd, &UNIX, SocketType::DGRAM, false)
    }
    fn from_owned(fd: OwnedFd) -> Self {
        UnixDatagram::from(fd)
    }
}

/// A granted directory, beneath which paths are opened with `cap-std` (never above it:
/// `..` and absolute symbolic links are refused).
#[cfg(feature = "cap-std")]
impl FromGranted for cap_std::fs::Dir {
    const EXPECTED: &'static str = "a directory";
    fn check(fd: &OwnedFd) -> Result<(), String> {
        match rustix::fs::fstat(fd).map(|st| FileType::from_raw_mode(st.st_mode)) {
            Ok(FileType::Directory) => Ok(()),
            _ => Err(describe(fd)),
        }
    }
    fn from_owned(fd: OwnedFd) -> Self {
        cap_std::fs::Dir::from_std_file(File::from(fd))
    }
}
