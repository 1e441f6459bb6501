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
//! The argdata is decoded into a typed [`Config`] by `program::main!(typed ...)`: each
//! descriptor field is taken over by `program::cap`, which accepts only descriptors the
//! launcher granted, each once, and checks its kind (a directory given as the socket is a
//! configuration error naming `socket`). No `unsafe` is needed.
//!
//! Connections are served concurrently, each on a thread of its own, at most
//! [`MAX_CONNECTIONS`] at once: with that many open, the server accepts the next one only
//! when one of them ends. Each connection has its own deadlines, counted from its accept:
//! the request head must have arrived within [`HEAD_DEADLINE`] (else 408), the answer must
//! have been sent within [`ANSWER_DEADLINE`]; a client that sends a byte a second is cut at
//! the deadline, not kept alive by every byte. The access log gets exactly one line per
//! answered request, at most 4096 bytes (`PIPE_BUF`; a longer request is cut in the line),
//! written with a single `write` under a lock (the log is a pipe to the launcher's append
//! relay) and before the connection is closed, so a client that has read its answer to the
//! end knows that its line is on its way. Several copies of the server can share the
//! socket: `cloudabi-run --instances N`.

use std::collections::hash_map::RandomState;
use std::fs::File;
use std::hash::{BuildHasher, Hasher};
use std::io::Write;
use std::net::TcpListener;
use std::os::fd::OwnedFd;
use std::os::unix::net::{UnixListener, UnixStream};
use std::sync::{Arc, Condvar, Mutex, PoisonError};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use program::cap::FromGranted;

/// How long after its accept a connection's request head must have arrived.
const HEAD_DEADLINE: Duration = Duration::from_secs(10);
/// How long after its accept a connection's answer must have been sent.
const ANSWER_DEADLINE: Duration = Duration::from_secs(30);
/// The most connections served at once.
const MAX_CONNECTIONS: usize = 64;
/// Stack size of a connection's thread: `handle` needs a few KiB; the default 2 MiB would
/// make 64 threads reserve 128 MiB of address space under `cloudabi-run --memory`.
const THREAD_STACK: usize = 256 * 1024;

/// The configuration, decoded from the argdata; the launcher's `!socket` and `!file` tags
/// become the descriptors. Other keys are ignored, so that a configuration can grant
/// `!fd stderr` (under any key) to see start-up errors.
#[derive(serde::Deserialize)]
struct Config {
    /// A listening stream socket (TCP or UNIX).
    #[serde(deserialize_with = "program::cap::deserialize")]
    socket: Listener,
    /// The document root, a directory.
    #[serde(deserialize_with = "program::cap::deserialize")]
    root: cap_std::fs::Dir,
    /// Where to append one line per request.
    #[serde(default)]
    log: Option<program::cap::Cap<File>>,
}

/// Why the server stopped.
#[derive(Debug, thiserror::Error)]
enum StartError {
    #[error("`socket` is not a listening stream socket: {0}")]
    NotListening(std::io::Error),
}

/// The listening socket: TCP or UNIX.
enum Listener {
    Tcp(TcpListener),
    Unix(UnixListener),
}

impl FromGranted for Listener {
    const EXPECTED: &'static str = "a listening TCP or UNIX stream socket";

    fn check(fd: &OwnedFd) -> Result<(), String> {
        TcpListener::check(fd).or_else(|_| UnixListener::check(fd))
    }

    fn from_owned(fd: OwnedFd) -> Self {
        if TcpListener::check(&fd).is_ok() {
            Listener::Tcp(TcpListener::from(fd))
        } else {
            Listener::Unix(UnixListener::from(fd))
        }
    }
}

fn program_main(config: Config) -> Result<(), StartError> {
    let Config {
        socket: listener,
        root,
        log,
    } = config;
    let log = log.map(program::cap::Cap::into_inner);
    let shared = Arc::new(Shared {
        root,
        log: log.map(Mutex::new),
        instance: format!("{:016x}", RandomState::new().build_hasher().finish()),
    });
    let slots = Arc::new(Slots::new(MAX_CONNECTIONS));

    loop {
        let slot = Slots::take(&slots);
        let accepted = match &listener {
            Listener::Tcp(l) => l
                .accept()
                .map(|(s, peer)| (UnixStream::from(OwnedFd::from(s)), peer.to_string())),
            Listener::Unix(l) => l.accept().map(|(s, _)| (s, "unix".to_owned())),
        };
        let accepted_at = Instant::now();
        let (stream, peer) = match accepted {
            Ok(c) => c,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) if e.raw_os_error() == Some(rustix::io::Errno::INVAL.raw_os_error()) => {
                return Err(StartError::NotListening(e));
            }
            // Transient failures (the client went away, descriptor limits): keep serving.
            Err(_) => continue,
        };
        let conn = webserver::Deadline::new(
            stream,
            accepted_at + HEAD_DEADLINE,
            accepted_at + ANSWER_DEADLINE,
        );
        let shared = Arc::clone(&shared);
        // When the thread cannot be made, the closure (with the connection and the slot)
        // is dropped: the client sees the connection closed, the slot is free again.
        let _ = std::thread::Builder::new()
            .stack_size(THREAD_STACK)
            .spawn(move || {
                serve(conn, &peer, &shared);
                drop(slot);
            });
    }
}

/// What every connection's thread uses.
struct Shared {
    root: cap_std::fs::Dir,
    log: Option<Mutex<File>>,
    instance: String,
}

/// Serves one connection and logs the request, then closes the connection.
fn serve(mut conn: webserver::Deadline, peer: &str, shared: &Shared) {
    let Ok(served) = webserver::handle(&mut conn, &shared.root, &shared.instance) else {
        // The client went away or ran out of time before its answer was sent: nothing was
        // answered, nothing is logged.
        return;
    };
    if let Some(log) = &shared.log {
        let line = served.log_line(peer, unix_secs());
        let mut log = log.lock().unwrap_or_else(PoisonError::into_inner);
        // One write of the whole line, at most `PIPE_BUF` bytes (`http::MAX_LOG_LINE`), so
        // atomic even towards other processes on the same pipe; the lock also orders the
        // threads of this one.
        let _ = log.write_all(line.as_bytes());
    }
    drop(conn);
}

/// A counting semaphore for connection slots.
struct Slots {
    free: Mutex<usize>,
    freed: Condvar,
}

/// One taken slot; dropping it frees it.
struct Slot(Arc<Slots>);

impl Slots {
    fn new(n: usize) -> Slots {
        Slots {
            free: Mutex::new(n),
            freed: Condvar::new(),
        }
    }

    /// Waits until a slot is free and takes it.
    fn take(slots: &Arc<Slots>) -> Slot {
        let mut free = slots.free.lock().unwrap_or_else(PoisonError::into_inner);
        while *free == 0 {
            free = slots
                .freed
                .wait(free)
                .unwrap_or_else(PoisonError::into_inner);
        }
        *free -= 1;
        Slot(Arc::clone(slots))
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut free = self.0.free.lock().unwrap_or_else(PoisonError::into_inner);
        *free += 1;
        self.0.freed.notify_one();
    }
}

program::main!(typed program_main);

/// Seconds since 1970-01-01 (0 if the clock is before that).
fn unix_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}
