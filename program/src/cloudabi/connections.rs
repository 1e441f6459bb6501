//! Connections handed to a server over a UNIX socket (`docs/connections.md`).
//!
//! CloudABI has no `accept`: a server gets one end of a stream socket pair (from
//! `cloudabi-run`'s `!connections {bind: ADDR}`, or from anything speaking the protocol) and
//! receives each connected socket as one argdata message in the framing of
//! `argdata::socket`, the reference C library's `argdata_writer_push` /
//! `argdata_reader_pull`:
//!
//! * an 8-byte header: the data length, big-endian;
//! * the encoded argdata value `{connection: !fd 0, peer: "ADDRESS"}`, whose fd leaf 0 is
//!   the first descriptor of the message.
//!
//! The descriptors travel as one `SCM_RIGHTS` message on the first bytes of the message.
//! [`Connections`] reads as the reference reader does: one `sock_recv` of at most the
//! header with room for [`MAX_FDS`] descriptors (those are the message's; there is no
//! count on the wire), then plain `fd_read`s for the rest, so descriptors attached to
//! later bytes are closed by the kernel. Lengths are checked before anything is
//! allocated, descriptors a message carries besides the connection are closed, and a
//! stream that ends between two messages means there are no more connections.
//!
//! ```no_run
//! use program::cloudabi::connections::{ConnectionError, Connections};
//! use program::cloudabi::sys;
//!
//! /// Answers every connection arriving on `stream` (the descriptor the configuration
//! /// names, say `connections: !connections {bind: 127.0.0.1:8080}`) with "204".
//! fn serve(stream: u32) -> Result<(), ConnectionError> {
//!     let mut connections = Connections::new(stream);
//!     loop {
//!         match connections.accept() {
//!             Ok(Some(c)) => {
//!                 // `c.fd` is a connected socket, `c.peer` the client's address as text.
//!                 let _ = sys::sock_send_all(c.fd, b"HTTP/1.0 204 No Content\r\n\r\n");
//!                 let _ = sys::fd_close(c.fd);
//!             }
//!             Ok(None) => return Ok(()),                // the launcher closed the stream
//!             Err(e) if e.is_recoverable() => continue, // a malformed message was skipped
//!             Err(e) => return Err(e),                  // the stream is out of step
//!         }
//!     }
//! }
//! ```
//!
//! (The example only compiles for a CloudABI target.)

#![forbid(unsafe_code)]

// The crate root does not link `alloc`; this module needs it for the peer text and the
// message buffer.
extern crate alloc;

use alloc::string::{String, ToString};
use alloc::vec::Vec;

use super::sys::{self, Errno, RiFlags, RoFlags};

/// Size of a message header: the data length as a big-endian `u64`.
pub const HEADER_LEN: usize = 8;

/// Most descriptors one message may carry. The protocol sends exactly one; a little room
/// beyond that lets a message with a few extra descriptors be read (and them closed)
/// instead of breaking the stream.
pub const MAX_FDS: usize = 4;

/// The default bound on a message's data length ([`Connections::with_max_len`]).
pub const DEFAULT_MAX_LEN: usize = 4096;

/// The largest bound [`Connections::with_max_len`] accepts.
pub const MAX_LEN_LIMIT: usize = 1 << 20;

/// Why no connection could be taken from the stream.
///
/// After an error for which [`ConnectionError::is_recoverable`] is false the stream is at
/// an unknown position inside a message and cannot be read further. Descriptors that
/// arrived with a failed message have been closed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ConnectionError {
    /// `sock_recv` or `fd_read` on the stream failed.
    #[error("receiving from the connection stream: {0}")]
    Recv(Errno),
    /// The header announces more data than the configured bound.
    #[error("message of {len} bytes exceeds the limit of {max} bytes")]
    TooLong {
        /// The length from the header.
        len: u64,
        /// The bound.
        max: usize,
    },
    /// More descriptors arrived than there was room for (the surplus was closed).
    #[error("more than {MAX_FDS} descriptors arrived with one message")]
    FdsTruncated,
    /// The stream ended inside a message.
    #[error("connection stream closed in the middle of a message")]
    UnexpectedEof,
    /// The message is not valid argdata of the expected shape.
    #[error("malformed connection message: {0}")]
    Decode(#[from] argdata::Error),
    /// The message lacks a field (`connection` or `peer`).
    #[error("connection message lacks `{0}`")]
    MissingField(&'static str),
}

impl ConnectionError {
    /// Whether the message was read completely, so that the next [`Connections::accept`]
    /// starts at a message boundary: true for [`ConnectionError::Decode`] and
    /// [`ConnectionError::MissingField`].
    #[must_use]
    pub fn is_recoverable(&self) -> bool {
        matches!(
            self,
            ConnectionError::Decode(_) | ConnectionError::MissingField(_)
        )
    }
}

/// One connection taken from the stream.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Connection {
    /// The connected socket, a descriptor of this process; the caller closes it.
    pub fd: u32,
    /// The client's address as the launcher wrote it (`1.2.3.4:5678`, `[::1]:5678`,
    /// `unix`).
    pub peer: String,
}

/// Descriptors received with the message being read; those still held when it is
/// dropped are closed.
struct Received {
    fds: [u32; MAX_FDS],
    len: usize,
}

impl Received {
    /// Removes descriptor `fd` from the list, so that it stays open.
    fn keep(&mut self, fd: u32) {
        if let Some(i) = self.fds[..self.len].iter().position(|&f| f == fd) {
            self.fds.copy_within(i + 1..self.len, i);
            self.len -= 1;
        }
    }
}

impl Drop for Received {
    fn drop(&mut self) {
        for &fd in &self.fds[..self.len] {
            let _ = sys::fd_close(fd);
        }
    }
}

/// Reads connections from a stream socket; see the [module documentation](self).
#[derive(Debug)]
pub struct Connections {
    stream: u32,
    max_len: usize,
    data: Vec<u8>,
}

impl Connections {
    /// A reader of the stream socket `stream`, accepting messages of at most
    /// [`DEFAULT_MAX_LEN`] bytes.
    #[must_use]
    pub const fn new(stream: u32) -> Self {
        Connections {
            stream,
            max_len: DEFAULT_MAX_LEN,
            data: Vec::new(),
        }
    }

    /// Sets the bound on a message's data length (at most [`MAX_LEN_LIMIT`]; larger values
    /// act like it).
    #[must_use]
    pub fn with_max_len(mut self, max_len: usize) -> Self {
        self.max_len = max_len.min(MAX_LEN_LIMIT);
        self
    }

    /// The stream socket this reader reads.
    #[must_use]
    pub fn stream(&self) -> u32 {
        self.stream
    }

    /// Waits for the next connection; `Ok(None)` when the stream ended between messages
    /// (the launcher stopped handing out connections).
    ///
    /// # Errors
    ///
    /// See [`ConnectionError`]; [`ConnectionError::is_recoverable`] tells whether reading
    /// may go on.
    pub fn accept(&mut self) -> Result<Option<Connection>, ConnectionError> {
        let mut received = Received {
            fds: [0; MAX_FDS],
            len: 0,
        };
        let mut header = [0u8; HEADER_LEN];
        // The first receive: the message's descriptors come with it.
        let mut got = recv_first(self.stream, &mut header, &mut received)?;
        if got == 0 {
            return Ok(None);
        }
        while got < HEADER_LEN {
            let n = sys::fd_read(self.stream, &mut header[got..]).map_err(ConnectionError::Recv)?;
            if n == 0 {
                return Err(ConnectionError::UnexpectedEof);
            }
            got += n;
        }
        let len = u64::from_be_bytes(header);
        let len = match usize::try_from(len) {
            Ok(l) if l <= self.max_len => l,
            _ => {
                return Err(ConnectionError::TooLong {
                    len,
                    max: self.max_len,
                });
            }
        };

        // Bounded by `max_len` (at most MAX_LEN_LIMIT) just above.
        self.data.clear();
        self.data.resize(len, 0);
        let mut filled = 0;
        while filled < len {
            let n = sys::fd_read(self.stream, &mut self.data[filled..])
                .map_err(ConnectionError::Recv)?;
            if n == 0 {
                return Err(ConnectionError::UnexpectedEof);
            }
            filled += n;
        }

        let message = argdata::Argdata::new(&self.data);
        let connection = message
            .get("connection")?
            .ok_or(ConnectionError::MissingField("connection"))?;
        let (fds, available) = (received.fds, received.len);
        let fd =
            connection.as_fd(&|i: u32| fds[..available].get(usize::try_from(i).ok()?).copied())?;
        let peer = message
            .get("peer")?
            .ok_or(ConnectionError::MissingField("peer"))?
            .as_str()?
            .to_string();
        received.keep(fd);
        // Any other descriptor of the message is closed when `received` drops.
        Ok(Some(Connection { fd, peer }))
    }
}

/// The first receive of a message: at most the header, with room for [`MAX_FDS`]
/// descriptors, which are stored in `received`.
fn recv_first(
    stream: u32,
    header: &mut [u8; HEADER_LEN],
    received: &mut Received,
) -> Result<usize, ConnectionError> {
    let r = sys::sock_recv(stream, header, &mut received.fds, RiFlags::empty())
        .map_err(ConnectionError::Recv)?;
    received.len = r.fds;
    if r.flags.contains(RoFlags::FDS_TRUNCATED) {
        return Err(ConnectionError::FdsTruncated);
    }
    Ok(r.bytes)
}
