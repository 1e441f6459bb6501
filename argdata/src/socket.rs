//! Sending and receiving argdata messages over UNIX stream sockets (feature `std`, Linux).
//!
//! # Wire format
//!
//! The framing is the one of the reference C library's `argdata_writer_push` and
//! `argdata_reader_pull`. Each message is
//!
//! * a 12-byte header: the data length as an 8-byte big-endian number, then the number of
//!   file descriptors as a 4-byte big-endian number;
//! * the encoded argdata value, exactly as long as the header says;
//! * the descriptors themselves travel as one `SCM_RIGHTS` control message attached to
//!   the bytes; an fd leaf with index `i` refers to the `i`-th of them.
//!
//! [`ArgdataWriter`] sends the header on its own and attaches the descriptors to the first
//! chunk of the data; the reference writer attaches them to the header. [`ArgdataReader`]
//! receives every chunk (header included) with `recvmsg`, so it accepts both. Sending the
//! header separately also keeps the reference reader working on Linux: it reads the header
//! with a plain `read`, which would discard descriptors attached to those bytes.
//!
//! ```
//! use std::os::unix::net::UnixStream;
//! use argdata::socket::{ArgdataReader, ArgdataWriter};
//! use argdata::{Fd, Value};
//! use std::os::fd::{AsFd, AsRawFd};
//!
//! let (a, b) = UnixStream::pair()?;
//! let file = std::fs::File::open("/dev/null")?;
//! let config = Value::map([("log", Value::from(Fd(file.as_raw_fd())))]);
//! let encoded = config.encode();
//! // `encoded.fds` lists the descriptors in the order the bytes refer to them.
//! assert_eq!(encoded.fds, [Fd(file.as_raw_fd())]);
//! ArgdataWriter::new(1 << 20, 16).push(&a, &encoded.bytes, &[file.as_fd()])?;
//!
//! let message = ArgdataReader::new(1 << 20, 16).pull(&b)?.expect("a message");
//! assert_eq!(message.fds().len(), 1);
//! let log = message.argdata().get("log")?.unwrap().as_fd(&message.fd_converter())?;
//! // `log` is a `BorrowedFd` of the descriptor received with the message.
//! # let _ = log;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Errors and the stream
//!
//! An error other than [`SocketError::Io`] with `Interrupted` leaves the stream at an
//! unknown position inside a message; the connection should be dropped. Descriptors
//! received with a rejected message are closed.
#![forbid(unsafe_code)]

use std::io::{self, IoSlice, IoSliceMut};
use std::mem::MaybeUninit;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::vec::Vec;

use rustix::event::{PollFd, PollFlags, poll};
use rustix::net::{
    RecvAncillaryBuffer, RecvAncillaryMessage, RecvFlags, ReturnFlags, SendAncillaryBuffer,
    SendAncillaryMessage, SendFlags, recvmsg, send, sendmsg,
};

use crate::fd::{Fd, FdConverter};
use crate::reader::Argdata;

/// Size of the message header: an 8-byte data length and a 4-byte fd count, big-endian.
pub const HEADER_LEN: usize = 12;

/// Most descriptors Linux accepts in one `SCM_RIGHTS` control message.
pub const SCM_MAX_FD: usize = 253;

/// Data is read in pieces of at most this many bytes, so that a peer announcing a large
/// message makes the reader allocate only as much as it actually sends.
const READ_CHUNK: usize = 64 * 1024;

/// Errors from [`ArgdataWriter::push`] and [`ArgdataReader::pull`].
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SocketError {
    /// A system call failed.
    #[error("socket I/O failed: {0}")]
    Io(#[from] io::Error),
    /// The message is longer than the configured maximum.
    #[error("message of {len} bytes exceeds the limit of {max} bytes")]
    TooLong {
        /// Length of the message data (announced by the header when receiving).
        len: u64,
        /// The configured maximum.
        max: usize,
    },
    /// The message carries more descriptors than the configured maximum.
    #[error("message with {count} file descriptors exceeds the limit of {max}")]
    TooManyFds {
        /// Number of descriptors announced or received.
        count: u64,
        /// The configured maximum.
        max: usize,
    },
    /// The peer closed the connection inside a message.
    #[error("connection closed in the middle of a message")]
    UnexpectedEof,
    /// The descriptors received do not match the count in the header.
    #[error("message announced {declared} file descriptors but carried {received}")]
    FdCountMismatch {
        /// Count from the header.
        declared: u32,
        /// Descriptors actually received.
        received: usize,
    },
    /// The kernel truncated the control data (`MSG_CTRUNC`): the peer attached more
    /// descriptors than the reader has room for.
    #[error("control data truncated: too many file descriptors attached")]
    ControlTruncated,
    /// A message to send has descriptors but no data to attach them to, or names a
    /// negative descriptor.
    #[error("invalid file descriptor list for this message")]
    InvalidFds,
}

/// Result type of this module.
pub type Result<T, E = SocketError> = core::result::Result<T, E>;

/// Retries a system call after `EINTR`, and waits with `poll` after `EAGAIN`.
fn retry<T>(
    socket: BorrowedFd<'_>,
    events: PollFlags,
    mut call: impl FnMut() -> rustix::io::Result<T>,
) -> io::Result<T> {
    loop {
        match call() {
            Ok(v) => return Ok(v),
            Err(rustix::io::Errno::INTR) => {}
            Err(rustix::io::Errno::AGAIN) => {
                let mut fds = [PollFd::new(&socket, events)];
                match poll(&mut fds, None) {
                    Ok(_) | Err(rustix::io::Errno::INTR) => {}
                    Err(e) => return Err(e.into()),
                }
            }
            Err(e) => return Err(e.into()),
        }
    }
}

/// Sends argdata messages; see the [module documentation](self) for the framing.
///
/// `push` always sends a whole message: it loops over partial writes, retries after
/// `EINTR` and, on a non-blocking socket, waits with `poll` when the socket is full.
#[derive(Clone, Copy, Debug)]
pub struct ArgdataWriter {
    max_len: usize,
    max_fds: usize,
}

impl ArgdataWriter {
    /// A writer that refuses messages longer than `max_len` bytes or with more than
    /// `max_fds` descriptors (configure it like the receiving [`ArgdataReader`]).
    #[must_use]
    pub const fn new(max_len: usize, max_fds: usize) -> Self {
        ArgdataWriter { max_len, max_fds }
    }

    /// Sends the encoded value `bytes` with the descriptors `fds` attached (fd leaf `i`
    /// in `bytes` refers to `fds[i]`, as in [`Encoded`](crate::Encoded) after [`Value::encode`]).
    ///
    /// Taking borrowed descriptors (rather than the raw numbers of [`Encoded::fds`](crate::Encoded::fds)) means
    /// the descriptors are guaranteed to be open while they are sent.
    ///
    /// # Errors
    /// [`SocketError::TooLong`], [`SocketError::TooManyFds`],
    /// [`SocketError::InvalidFds`] (descriptors without data) or the system call's error.
    /// After an I/O error part of the message may have been sent.
    ///
    /// [`Value::encode`]: crate::Value::encode
    pub fn push(&self, socket: impl AsFd, bytes: &[u8], fds: &[BorrowedFd<'_>]) -> Result<()> {
        let socket = socket.as_fd();
        if bytes.len() > self.max_len {
            return Err(SocketError::TooLong {
                len: bytes.len() as u64,
                max: self.max_len,
            });
        }
        if fds.len() > self.max_fds {
            return Err(SocketError::TooManyFds {
                count: fds.len() as u64,
                max: self.max_fds,
            });
        }
        let count = u32::try_from(fds.len()).map_err(|_| SocketError::InvalidFds)?;
        if bytes.is_empty() && count > 0 {
            return Err(SocketError::InvalidFds);
        }
        let mut header = [0u8; HEADER_LEN];
        header[..8].copy_from_slice(&(bytes.len() as u64).to_be_bytes());
        header[8..].copy_from_slice(&count.to_be_bytes());
        send_all(socket, &header)?;

        let mut rest = bytes;
        if !fds.is_empty() {
            let mut space =
                std::vec![MaybeUninit::uninit(); rustix::cmsg_space!(ScmRights(fds.len()))];
            let sent = retry(socket, PollFlags::OUT, || {
                let mut control = SendAncillaryBuffer::new(&mut space);
                if !control.push(SendAncillaryMessage::ScmRights(fds)) {
                    return Err(rustix::io::Errno::NOBUFS);
                }
                sendmsg(
                    socket,
                    &[IoSlice::new(rest)],
                    &mut control,
                    SendFlags::NOSIGNAL,
                )
            })?;
            rest = &rest[sent..];
        }
        send_all(socket, rest)?;
        Ok(())
    }
}

/// Sends all of `bytes` without ancillary data.
fn send_all(socket: BorrowedFd<'_>, mut bytes: &[u8]) -> io::Result<()> {
    while !bytes.is_empty() {
        let n = retry(socket, PollFlags::OUT, || {
            send(socket, bytes, SendFlags::NOSIGNAL)
        })?;
        bytes = &bytes[n..];
    }
    Ok(())
}

/// Receives argdata messages; see the [module documentation](self) for the framing.
#[derive(Debug)]
pub struct ArgdataReader {
    max_len: usize,
    max_fds: usize,
    control: Vec<MaybeUninit<u8>>,
}

impl ArgdataReader {
    /// A reader that accepts messages of at most `max_len` bytes and `max_fds`
    /// descriptors. Linux passes at most [`SCM_MAX_FD`] descriptors in one control
    /// message, so larger `max_fds` values act like that one.
    #[must_use]
    pub fn new(max_len: usize, max_fds: usize) -> Self {
        let room = max_fds.min(SCM_MAX_FD);
        ArgdataReader {
            max_len,
            max_fds,
            control: std::vec![MaybeUninit::uninit(); rustix::cmsg_space!(ScmRights(room))],
        }
    }

    /// Receives one message, or `None` if the peer closed the connection between
    /// messages.
    ///
    /// Blocks until the whole message is there (on a non-blocking socket it waits with
    /// `poll`). Received descriptors have close-on-exec set.
    ///
    /// # Errors
    /// [`SocketError::TooLong`] or [`SocketError::TooManyFds`] if the header announces
    /// more than the limits, [`SocketError::ControlTruncated`] or
    /// [`SocketError::TooManyFds`] if more descriptors arrive than allowed,
    /// [`SocketError::FdCountMismatch`] if the count differs from the header,
    /// [`SocketError::UnexpectedEof`] if the connection closes inside a message, or the
    /// system call's error. Descriptors received with a failed message are closed.
    pub fn pull(&mut self, socket: impl AsFd) -> Result<Option<Message>> {
        let socket = socket.as_fd();
        let mut fds = Vec::new();
        let mut header = [0u8; HEADER_LEN];
        let mut got = 0;
        while got < HEADER_LEN {
            let n = self.recv(socket, &mut header[got..], &mut fds)?;
            if n == 0 {
                return if got == 0 && fds.is_empty() {
                    Ok(None)
                } else {
                    Err(SocketError::UnexpectedEof)
                };
            }
            got += n;
        }
        let len = u64::from_be_bytes(header[..8].try_into().unwrap_or_default());
        let declared = u32::from_be_bytes(header[8..].try_into().unwrap_or_default());
        let len = match usize::try_from(len) {
            Ok(l) if l <= self.max_len => l,
            _ => {
                return Err(SocketError::TooLong {
                    len,
                    max: self.max_len,
                });
            }
        };
        if declared as usize > self.max_fds {
            return Err(SocketError::TooManyFds {
                count: declared.into(),
                max: self.max_fds,
            });
        }

        let mut bytes = Vec::new();
        while bytes.len() < len {
            let start = bytes.len();
            let want = (len - start).min(READ_CHUNK);
            bytes.resize(start + want, 0);
            let n = self.recv(socket, &mut bytes[start..], &mut fds)?;
            bytes.truncate(start + n);
            if n == 0 {
                return Err(SocketError::UnexpectedEof);
            }
        }
        if fds.len() != declared as usize {
            return Err(SocketError::FdCountMismatch {
                declared,
                received: fds.len(),
            });
        }
        Ok(Some(Message { bytes, fds }))
    }

    /// One `recvmsg` into `buf`; descriptors that come along are appended to `fds`.
    fn recv(
        &mut self,
        socket: BorrowedFd<'_>,
        buf: &mut [u8],
        fds: &mut Vec<OwnedFd>,
    ) -> Result<usize> {
        let mut control = RecvAncillaryBuffer::new(&mut self.control);
        let msg = retry(socket, PollFlags::IN, || {
            recvmsg(
                socket,
                &mut [IoSliceMut::new(&mut *buf)],
                &mut control,
                RecvFlags::CMSG_CLOEXEC,
            )
        })?;
        for message in control.drain() {
            if let RecvAncillaryMessage::ScmRights(received) = message {
                fds.extend(received);
            }
        }
        if msg.flags.contains(ReturnFlags::CTRUNC) {
            return Err(SocketError::ControlTruncated);
        }
        if fds.len() > self.max_fds {
            return Err(SocketError::TooManyFds {
                count: fds.len() as u64,
                max: self.max_fds,
            });
        }
        Ok(msg.bytes)
    }
}

/// One received message: the encoded bytes and the descriptors that came with them.
///
/// The descriptors are owned: they are closed when the message is dropped unless taken
/// out with [`Message::into_parts`].
#[derive(Debug)]
pub struct Message {
    bytes: Vec<u8>,
    fds: Vec<OwnedFd>,
}

impl Message {
    /// A reader view of the value.
    #[must_use]
    pub fn argdata(&self) -> Argdata<'_> {
        Argdata::new(&self.bytes)
    }

    /// The encoded bytes.
    #[must_use]
    pub fn bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// The received descriptors; fd leaf `i` refers to `fds()[i]`.
    #[must_use]
    pub fn fds(&self) -> &[OwnedFd] {
        &self.fds
    }

    /// A converter from fd indices to the received descriptors, for
    /// [`Argdata::as_fd`].
    #[must_use]
    pub fn fd_converter(&self) -> MessageFds<'_> {
        MessageFds(&self.fds)
    }

    /// A converter from fd indices to the numbers of the received descriptors, as
    /// [`Fd`] values, for [`Value::from_argdata_with`](crate::Value::from_argdata_with)
    /// or the serde deserializer. The numbers stay valid while the message lives.
    #[must_use]
    pub fn fd_numbers(&self) -> MessageFdNumbers<'_> {
        MessageFdNumbers(&self.fds)
    }

    /// The bytes and the descriptors, taking ownership of both.
    #[must_use]
    pub fn into_parts(self) -> (Vec<u8>, Vec<OwnedFd>) {
        (self.bytes, self.fds)
    }
}

/// Maps fd indices to the descriptors of a [`Message`]; see [`Message::fd_converter`].
#[derive(Clone, Copy, Debug)]
pub struct MessageFds<'m>(&'m [OwnedFd]);

impl<'m> FdConverter for MessageFds<'m> {
    type Fd = BorrowedFd<'m>;

    fn convert(&self, index: u32) -> Option<BorrowedFd<'m>> {
        self.0.get(usize::try_from(index).ok()?).map(AsFd::as_fd)
    }
}

/// Maps fd indices to the numbers of a [`Message`]'s descriptors; see
/// [`Message::fd_numbers`].
#[derive(Clone, Copy, Debug)]
pub struct MessageFdNumbers<'m>(&'m [OwnedFd]);

impl FdConverter for MessageFdNumbers<'_> {
    type Fd = Fd;

    fn convert(&self, index: u32) -> Option<Fd> {
        self.0
            .get(usize::try_from(index).ok()?)
            .map(|fd| Fd(fd.as_raw_fd()))
    }
}
