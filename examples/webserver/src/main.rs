//! The demo web server: started by `cloudabi-run` with a configuration such as
//! `examples/webserver.yaml`:
//!
//! ```yaml
//! socket: !socket {bind: 127.0.0.1:8080}   # required: a listening stream socket
//! root: !file {path: examples/www}         # required: the document root (read-only)
//! log: !file {path: access.log, mode: append, create: true}   # optional
//! errors: !fd stderr                     # optional: where start-up errors go
//! ```
//!
//! The argdata is decoded into a typed [`Config`] by `program::main!(typed ...)`, which
//! accepts only descriptors the launcher granted. The server accepts connections one at a
//! time and serves each with [`webserver::handle`]; run several copies on the same socket
//! with `cloudabi-run --instances N`.

use std::collections::hash_map::RandomState;
use std::fs::File;
use std::hash::{BuildHasher, Hasher};
use std::io::Write;
use std::net::TcpListener;
use std::os::fd::{FromRawFd, OwnedFd};
use std::os::unix::net::UnixListener;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use rustix::net::AddressFamily;

/// How long a client may take to send its request or accept the response.
const CLIENT_TIMEOUT: Duration = Duration::from_secs(10);

/// The configuration, decoded from the argdata; the launcher's `!socket` and `!file` tags
/// become the descriptors. Other keys are ignored, so that a configuration can grant
/// `!fd stderr` (under any key) to see start-up errors.
#[derive(serde::Deserialize)]
struct Config {
    /// A listening stream socket (TCP or UNIX).
    socket: argdata::Fd,
    /// The document root, a directory.
    root: argdata::Fd,
    /// Where to append one line per request.
    #[serde(default)]
    log: Option<argdata::Fd>,
}

/// Why the server could not start.
#[derive(Debug, thiserror::Error)]
enum StartError {
    #[error("`socket`, `root` and `log` must be distinct descriptors")]
    Shared,
    #[error("`socket` is not a listening stream socket: {0}")]
    NotListening(std::io::Error),
}

/// Takes ownership of a descriptor the launcher granted.
fn own(fd: argdata::Fd) -> OwnedFd {
    // SAFETY: the typed decoder accepted `fd` only because the launcher granted it to this
    // process; nothing else in the program uses it, and `program_main` takes each of the
    // (checked distinct) descriptors exactly once.
    unsafe { OwnedFd::from_raw_fd(fd.raw()) }
}

enum Listener {
    Tcp(TcpListener),
    Unix(UnixListener),
}

fn program_main(config: Config) -> Result<(), StartError> {
    let Config { socket, root, log } = config;
    if socket == root || Some(socket) == log || Some(root) == log {
        return Err(StartError::Shared);
    }
    let (socket, root) = (own(socket), File::from(own(root)));
    let mut log = log.map(|fd| File::from(own(fd)));

    let family = rustix::net::getsockname(&socket)
        .map_err(|e| StartError::NotListening(e.into()))?
        .address_family();
    let listener = if family == AddressFamily::UNIX {
        Listener::Unix(UnixListener::from(socket))
    } else {
        Listener::Tcp(TcpListener::from(socket))
    };
    let instance = format!("{:016x}", RandomState::new().build_hasher().finish());

    loop {
        let accepted = match &listener {
            Listener::Tcp(l) => l.accept().map(|(s, peer)| {
                (
                    std::os::unix::net::UnixStream::from(OwnedFd::from(s)),
                    peer.to_string(),
                )
            }),
            Listener::Unix(l) => l.accept().map(|(s, _)| (s, "unix".to_owned())),
        };
        let (mut stream, peer) = match accepted {
            Ok(c) => c,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) if e.raw_os_error() == Some(rustix::io::Errno::INVAL.raw_os_error()) => {
                return Err(StartError::NotListening(e));
            }
            // Transient failures (the client went away, descriptor limits): keep serving.
            Err(_) => continue,
        };
        let _ = stream.set_read_timeout(Some(CLIENT_TIMEOUT));
        let _ = stream.set_write_timeout(Some(CLIENT_TIMEOUT));
        if let Ok(served) = webserver::handle(&mut stream, &root, &instance)
            && let Some(log) = log.as_mut()
        {
            let _ = log.write_all(served.log_line(&peer, unix_secs()).as_bytes());
        }
    }
}

program::main!(typed program_main);

/// Seconds since 1970-01-01 (0 if the clock is before that).
fn unix_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}
