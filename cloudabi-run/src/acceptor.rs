//! Passing accepted connections to a program that cannot accept them itself (the
//! `!connections` tag; the protocol is described in `docs/connections.md`).
//!
//! CloudABI has no `accept`, `listen`, `bind` or `connect`: a server is handed its
//! connections. An [`Acceptor`] holds a listening socket and the launcher's end of a UNIX
//! stream socket pair (a *channel*) whose other end the program received; with several
//! instances, one channel per instance ([`Acceptor::add_channel`]), so that no two processes
//! ever read one stream, where they could split a message between them. Once started
//! ([`Acceptor::start`]), a thread accepts each connection and sends it, to the instances in
//! turn, as one message in the framing of [`argdata::socket`]: the map
//! `{connection: !fd 0, peer: "ADDRESS"}`, where descriptor 0 of the message is the
//! accepted socket and `peer` the client's address as text (`1.2.3.4:5678`, `[::1]:5678`,
//! or `unix` for a UNIX-socket client). The launcher closes its copy after sending.
//!
//! A channel whose program side is closed (its instance exited, or closed it) or on which a
//! send fails is dropped, and the connection goes to the next one. The thread stops, closing
//! the listener, when it is told to ([`Accepting::stop`], which
//! [`Running::wait`](crate::launch::Running::wait) calls once every instance has ended) or
//! when no channel is left. It only accepts a connection once some channel has room for
//! it, so a program that stops reading leaves clients in the listen backlog. Accept errors
//! that concern a single connection or a passing shortage (`ECONNABORTED`, `EINTR`,
//! `EMFILE`, `ENFILE`, `ENOBUFS`, `ENOMEM`, and the network errors Linux reports through
//! `accept`) are skipped; after a shortage the thread pauses [`SHORTAGE_PAUSE`] instead of
//! retrying at once.
//!
//! ```
//! use std::io::{Read, Write};
//! use std::net::{TcpListener, TcpStream};
//! use std::os::unix::net::UnixStream;
//! use argdata::socket::ArgdataReader;
//! use cloudabi_run::acceptor::Acceptor;
//!
//! let listener = TcpListener::bind("127.0.0.1:0")?;
//! let address = listener.local_addr()?;
//! let (launcher_end, program_end) = UnixStream::pair()?;
//! let accepting = Acceptor::new(listener.into(), launcher_end.into())?.start()?;
//!
//! let mut client = TcpStream::connect(address)?;
//! let message = ArgdataReader::new(4096, 1).pull(&program_end)?.expect("a message");
//! let peer = message.argdata().get("peer")?.expect("peer").as_str()?;
//! assert_eq!(peer, client.local_addr()?.to_string());
//! let (_, mut fds) = message.into_parts();
//! let mut connection = std::fs::File::from(fds.remove(0));
//! connection.write_all(b"hello")?;
//! let mut greeting = [0; 5];
//! client.read_exact(&mut greeting)?;
//! assert_eq!(&greeting, b"hello");
//!
//! let summary = accepting.stop();
//! assert_eq!(summary.passed, 1);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

#![forbid(unsafe_code)]

use std::fmt;
use std::io;
use std::net::SocketAddr;
use std::os::fd::{AsFd, AsRawFd, OwnedFd, RawFd};
use std::thread::JoinHandle;
use std::time::Duration;

use argdata::socket::{self, ArgdataWriter};
use argdata::{Fd, Value};
use rustix::event::{PollFd, PollFlags, Timespec, poll};
use rustix::io::Errno;
use rustix::net::{SocketAddrAny, SocketFlags};

/// How long the acceptor pauses after an accept error that signals a shortage (out of
/// descriptors or memory) before it tries again.
pub const SHORTAGE_PAUSE: Duration = Duration::from_millis(100);

/// The longest message the acceptor sends, in bytes (a peer address is far shorter).
pub const MAX_MESSAGE_LEN: usize = 4096;

/// The `peer` text of a connection whose client has no network address (a UNIX socket).
pub const UNIX_PEER: &str = "unix";

/// A listening socket and the launcher's ends of the channels to the program (one per
/// instance), not yet accepting. Dropping it closes them all.
pub struct Acceptor {
    listener: OwnedFd,
    channels: Vec<OwnedFd>,
}

impl fmt::Debug for Acceptor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Acceptor")
            .field("listener", &self.listener)
            .field("channels", &self.channels)
            .finish()
    }
}

impl Acceptor {
    /// An acceptor for `listener` (a listening stream socket) that passes connections over
    /// `channel` (the launcher's end of a UNIX stream socket pair). The listener is made
    /// non-blocking: it belongs to the launcher alone, and a connection that is reset
    /// between the readiness check and `accept` must not block the thread.
    ///
    /// # Errors
    /// Setting `O_NONBLOCK` on the listener failed.
    pub fn new(listener: OwnedFd, channel: OwnedFd) -> io::Result<Acceptor> {
        rustix::io::ioctl_fionbio(&listener, true)?;
        Ok(Acceptor {
            listener,
            channels: vec![channel],
        })
    }

    /// Adds the launcher's end of another channel (for another instance of the program).
    /// Connections are handed out in turn to the channels whose program side is still open
    /// and not backed up.
    pub fn add_channel(&mut self, channel: OwnedFd) {
        self.channels.push(channel);
    }

    /// The raw numbers of the listener and the channels (for bookkeeping: a configuration
    /// must not name them with `!fd`).
    pub fn raw_fds(&self) -> impl Iterator<Item = RawFd> + '_ {
        std::iter::once(self.listener.as_raw_fd())
            .chain(self.channels.iter().map(AsRawFd::as_raw_fd))
    }

    /// Starts the thread that accepts and passes connections.
    ///
    /// # Errors
    /// Creating the stop pipe or the thread failed; the listener and channels are closed.
    pub fn start(self) -> io::Result<Accepting> {
        let (stop_r, stop_w) = rustix::pipe::pipe_with(rustix::pipe::PipeFlags::CLOEXEC)?;
        let Acceptor { listener, channels } = self;
        let thread = std::thread::Builder::new()
            .name("acceptor".to_owned())
            .spawn(move || {
                Serve {
                    listener,
                    channels,
                    stop: stop_r,
                    next: 0,
                    passed: 0,
                }
                .run()
            })?;
        Ok(Accepting {
            stop: Some(stop_w),
            thread: Some(thread),
        })
    }
}

/// A running acceptor thread. Dropping it stops the thread and waits for it, like
/// [`Accepting::stop`].
pub struct Accepting {
    /// The write end of the stop pipe: closing it wakes the thread.
    stop: Option<OwnedFd>,
    thread: Option<JoinHandle<Summary>>,
}

impl fmt::Debug for Accepting {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Accepting")
            .field("running", &self.thread.is_some())
            .finish()
    }
}

impl Accepting {
    /// Tells the thread to stop, waits for it and reports what it did. A thread in the middle
    /// of sending a message finishes that first, which ends as soon as the program reads it
    /// or closes its end of the channel.
    #[must_use = "the summary says why the acceptor stopped"]
    pub fn stop(mut self) -> Summary {
        self.finish()
    }

    fn finish(&mut self) -> Summary {
        drop(self.stop.take());
        match self.thread.take().map(JoinHandle::join) {
            Some(Ok(summary)) => summary,
            Some(Err(_)) => Summary {
                passed: 0,
                ended: Ended::Panicked,
            },
            None => Summary {
                passed: 0,
                ended: Ended::Stopped,
            },
        }
    }
}

impl Drop for Accepting {
    fn drop(&mut self) {
        if self.thread.is_some() {
            let _ = self.finish();
        }
    }
}

/// What an acceptor thread did.
#[derive(Debug)]
pub struct Summary {
    /// Connections sent to the program.
    pub passed: u64,
    /// Why it stopped.
    pub ended: Ended,
}

/// Why an acceptor thread stopped.
#[derive(Debug)]
#[non_exhaustive]
pub enum Ended {
    /// [`Accepting::stop`] was called (or the [`Accepting`] dropped).
    Stopped,
    /// The program closed every copy of its end of every channel (typically: it exited).
    ProgramClosed,
    /// Sending a connection failed on the last open channel (the program closed its end
    /// while it was being sent, or too many descriptors are in flight).
    SendFailed(socket::Error),
    /// `accept` or `poll` failed in a way that retrying cannot fix.
    Listener(io::Error),
    /// The thread panicked (a bug).
    Panicked,
}

/// The acceptor thread's state.
struct Serve {
    listener: OwnedFd,
    /// The channels still open, in turn order.
    channels: Vec<OwnedFd>,
    stop: OwnedFd,
    /// Index in `channels` where the search for the next channel starts.
    next: usize,
    passed: u64,
}

/// What the acceptor waits for besides the stop pipe and closed channels.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Want {
    /// A connection to accept.
    Connection,
    /// Room to send in at least one channel.
    Room,
    /// Nothing: just the time (a pause after a shortage).
    Pause(Duration),
}

impl Serve {
    fn run(mut self) -> Summary {
        let ended = self.serve();
        Summary {
            passed: self.passed,
            ended,
        }
    }

    /// Waits for a connection, then for a channel with room, accepts and passes it on.
    fn serve(&mut self) -> Ended {
        let writer = ArgdataWriter::new(MAX_MESSAGE_LEN, 1);
        loop {
            if let Err(e) = self.wait(Want::Connection) {
                return e;
            }
            // A message is far smaller than the room `POLLOUT` promises, so the send below
            // does not block while an instance is busy and the stop pipe stays effective.
            let mut room = match self.wait(Want::Room) {
                Ok(room) => room,
                Err(e) => return e,
            };
            let (connection, address) =
                match rustix::net::acceptfrom_with(&self.listener, SocketFlags::CLOEXEC) {
                    Ok(accepted) => accepted,
                    Err(e) if is_shortage(e) => match self.wait(Want::Pause(SHORTAGE_PAUSE)) {
                        Ok(_) => continue,
                        Err(e) => return e,
                    },
                    Err(e) if is_transient(e) => continue,
                    Err(e) => return Ended::Listener(e.into()),
                };
            let bytes = message(&peer_text(address));
            // Pass it to the next channel with room; a channel whose send fails is dropped
            // (its instance closed it) and the next one tried.
            loop {
                let i = self.pick(&room);
                match writer.push(&self.channels[i], &bytes, &[connection.as_fd()]) {
                    Ok(()) => {
                        self.passed += 1;
                        self.next = i + 1;
                        break;
                    }
                    Err(e) => {
                        self.channels.remove(i);
                        self.next = i;
                        if self.channels.is_empty() {
                            return Ended::SendFailed(e);
                        }
                        room = match self.wait(Want::Room) {
                            Ok(room) => room,
                            Err(e) => return e,
                        };
                    }
                }
            }
            // `connection`, the launcher's copy, is closed here.
        }
    }

    /// The first channel with room at or after `next` (cyclically). `room` is not empty.
    fn pick(&self, room: &[bool]) -> usize {
        let n = self.channels.len();
        (0..n)
            .map(|k| (self.next + k) % n)
            .find(|i| room[*i])
            .unwrap_or(0)
    }

    /// Waits for `want`, the stop pipe or the closing of channels (which are removed).
    /// Returns, for `Want::Room`, which channels have room (at least one), otherwise an
    /// empty list; or why the thread must end.
    fn wait(&mut self, want: Want) -> Result<Vec<bool>, Ended> {
        let timeout = match want {
            Want::Pause(d) => Timespec::try_from(d).ok(),
            _ => None,
        };
        loop {
            let channel_events = if want == Want::Room {
                PollFlags::OUT
            } else {
                // No events asked for: HUP and ERR are always reported.
                PollFlags::empty()
            };
            let mut fds = Vec::with_capacity(self.channels.len() + 2);
            fds.push(PollFd::new(&self.stop, PollFlags::IN));
            fds.extend(self.channels.iter().map(|c| PollFd::new(c, channel_events)));
            if want == Want::Connection {
                fds.push(PollFd::new(&self.listener, PollFlags::IN));
            }
            let n = match poll(&mut fds, timeout.as_ref()) {
                Ok(n) => n,
                Err(Errno::INTR) => continue,
                Err(e) => return Err(Ended::Listener(e.into())),
            };
            let revents: Vec<PollFlags> = fds.iter().map(PollFd::revents).collect();
            drop(fds);
            if !revents[0].is_empty() {
                return Err(Ended::Stopped);
            }
            let closed = PollFlags::HUP | PollFlags::ERR | PollFlags::NVAL;
            let mut room = Vec::with_capacity(self.channels.len());
            let mut kept = Vec::with_capacity(self.channels.len());
            let next = self.next;
            for (i, (c, r)) in std::mem::take(&mut self.channels)
                .into_iter()
                .zip(&revents[1..])
                .enumerate()
            {
                if !r.intersects(closed) {
                    room.push(r.contains(PollFlags::OUT));
                    kept.push(c);
                } else if i < next {
                    // Keep the turn on the same channel as the list shrinks.
                    self.next -= 1;
                }
            }
            self.channels = kept;
            if self.channels.is_empty() {
                return Err(Ended::ProgramClosed);
            }
            match want {
                Want::Pause(_) if n == 0 => return Ok(Vec::new()),
                Want::Room if room.contains(&true) => return Ok(room),
                Want::Connection if revents.last().is_some_and(|r| !r.is_empty()) => {
                    return Ok(Vec::new());
                }
                _ => {}
            }
        }
    }
}

/// Accept errors after which trying again at once would fail again.
fn is_shortage(e: Errno) -> bool {
    matches!(
        e,
        Errno::MFILE | Errno::NFILE | Errno::NOBUFS | Errno::NOMEM
    )
}

/// Accept errors that concern one connection only: it was aborted, the call interrupted,
/// or (as `accept(2)` documents for Linux) a network error pending on the new connection.
fn is_transient(e: Errno) -> bool {
    matches!(
        e,
        Errno::AGAIN
            | Errno::INTR
            | Errno::CONNABORTED
            | Errno::PROTO
            | Errno::PERM
            | Errno::NETDOWN
            | Errno::NOPROTOOPT
            | Errno::HOSTDOWN
            | Errno::NONET
            | Errno::HOSTUNREACH
            | Errno::OPNOTSUPP
            | Errno::NETUNREACH
            | Errno::TIMEDOUT
    )
}

/// The `peer` text for a client address: `ip:port` (`[ipv6]:port`) for network clients,
/// [`UNIX_PEER`] otherwise.
#[must_use]
pub fn peer_text(address: Option<SocketAddrAny>) -> String {
    address
        .and_then(|a| SocketAddr::try_from(a).ok())
        .map_or_else(|| UNIX_PEER.to_owned(), |a| a.to_string())
}

/// The encoded message for one connection: `{connection: !fd 0, peer: PEER}`, to be sent
/// with the connection as its only descriptor.
///
/// ```
/// let bytes = cloudabi_run::acceptor::message("127.0.0.1:4000");
/// let ad = argdata::Argdata::new(&bytes);
/// assert_eq!(ad.get("peer")?.unwrap().as_str()?, "127.0.0.1:4000");
/// # Ok::<(), argdata::Error>(())
/// ```
#[must_use]
pub fn message(peer: &str) -> Vec<u8> {
    Value::map([
        ("connection", Value::from(Fd(0))),
        ("peer", Value::from(peer)),
    ])
    .encode()
    .bytes
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn message_shape() {
        let bytes = message("[::1]:80");
        let value = Value::from_argdata(argdata::Argdata::new(&bytes)).unwrap();
        assert_eq!(
            value,
            Value::map([
                ("connection", Value::from(Fd(0))),
                ("peer", Value::from("[::1]:80")),
            ])
        );
        assert!(bytes.len() < MAX_MESSAGE_LEN);
    }

    /// What the program reads from its channel is the reference framing: an 8-byte
    /// big-endian length, then the map, with the connection attached to the first byte.
    #[test]
    fn channel_carries_the_reference_framing() {
        use rustix::net::{RecvAncillaryBuffer, RecvAncillaryMessage, RecvFlags, recvmsg};
        use std::io::{IoSliceMut, Read};
        use std::mem::MaybeUninit;

        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let address = listener.local_addr().unwrap();
        let (launcher_end, program_end) = std::os::unix::net::UnixStream::pair().unwrap();
        let accepting = Acceptor::new(listener.into(), launcher_end.into())
            .unwrap()
            .start()
            .unwrap();
        let client = std::net::TcpStream::connect(address).unwrap();
        let peer = client.local_addr().unwrap().to_string();

        // The reference reader's first receive: the 8 header bytes, with the descriptor.
        let mut head = [0u8; 8];
        let mut space = vec![MaybeUninit::uninit(); rustix::cmsg_space!(ScmRights(2))];
        let mut control = RecvAncillaryBuffer::new(&mut space);
        let got = recvmsg(
            &program_end,
            &mut [IoSliceMut::new(&mut head)],
            &mut control,
            RecvFlags::empty(),
        )
        .unwrap();
        let fds: Vec<OwnedFd> = control
            .drain()
            .flat_map(|m| match m {
                RecvAncillaryMessage::ScmRights(fds) => fds.collect::<Vec<_>>(),
                _ => Vec::new(),
            })
            .collect();
        assert_eq!(got.bytes, 8);
        assert_eq!(fds.len(), 1, "the connection rides on the header");

        // {connection: !fd 0, peer: PEER}, written out from the format.
        let mut expected = vec![0x06, 0x8c, 0x08];
        expected.extend(b"connection\0");
        expected.extend([0x85, 0x03, 0, 0, 0, 0, 0x86, 0x08]);
        expected.extend(b"peer\0");
        expected.push(0x80 | (peer.len() as u8 + 2));
        expected.push(0x08);
        expected.extend(peer.as_bytes());
        expected.push(0);
        assert_eq!(head, (expected.len() as u64).to_be_bytes());
        let mut data = vec![0; expected.len()];
        (&program_end).read_exact(&mut data).unwrap();
        assert_eq!(data, expected);

        let summary = accepting.stop();
        assert_eq!(summary.passed, 1);
        // The descriptor is the accepted connection: its peer is the client.
        let accepted = std::net::TcpStream::from(fds.into_iter().next().unwrap());
        assert_eq!(accepted.peer_addr().unwrap(), client.local_addr().unwrap());
    }

    #[test]
    fn peer_texts() {
        assert_eq!(peer_text(None), "unix");
        let v4: SocketAddr = "10.1.2.3:4567".parse().unwrap();
        assert_eq!(peer_text(Some(v4.into())), "10.1.2.3:4567");
        let v6: SocketAddr = "[::1]:80".parse().unwrap();
        assert_eq!(peer_text(Some(v6.into())), "[::1]:80");
        let unix = rustix::net::SocketAddrUnix::new("/tmp/x").unwrap();
        assert_eq!(peer_text(Some(unix.into())), "unix");
    }

    #[test]
    fn errors_are_sorted() {
        for e in [Errno::CONNABORTED, Errno::INTR, Errno::AGAIN] {
            assert!(is_transient(e) && !is_shortage(e));
        }
        for e in [Errno::MFILE, Errno::NFILE] {
            assert!(is_shortage(e) && !is_transient(e));
        }
        for e in [Errno::BADF, Errno::INVAL, Errno::NOTSOCK] {
            assert!(!is_shortage(e) && !is_transient(e));
        }
    }
}
