//! Sending and receiving argdata messages over UNIX stream sockets (feature `std`, Linux).
//!
//! # Wire format
//!
//! The framing is the one of the reference C library's `argdata_writer_push` and
//! `argdata_reader_pull` (NuxiNL/argdata). Each message is
//!
//! * an 8-byte header: the length of the data as a big-endian unsigned number;
//! * the encoded argdata value, exactly as long as the header says.
//!
//! There is no descriptor count on the wire. The descriptors travel as one `SCM_RIGHTS`
//! control message attached to the first `sendmsg` of the message, whose bytes start with
//! the header; an fd leaf with index `i` refers to the `i`-th of them. A message without
//! descriptors is sent with plain writes, so it can also go to a pipe or a file.
//!
//! [`ArgdataWriter`] sends header and data together, the descriptors on the first call,
//! as the reference does. [`ArgdataReader`] does what the reference reader does: one
//! `recvmsg` of at most the 8 header bytes with room for `max_fds` descriptors (the
//! descriptors that arrive with it are the message's; skipped when `max_fds` is 0 or the
//! descriptor is not a socket), then plain reads for the rest of the header and the data.
//! Descriptors a peer attaches to later bytes are not part of the message: the kernel
//! closes them.
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
//! The reference reports errors as `errno` values; [`Error::errno`] gives the one
//! it would return (`EMSGSIZE` for limits, `EBADMSG` for a truncated message). After an
//! error other than an interrupted or would-block [`Error::Io`], the stream is at an
//! unknown position inside a message and the connection should be dropped; descriptors
//! received with a rejected message are closed.
#![forbid(unsafe_code)]

use std::io::{self, IoSlice, IoSliceMut};
use std::mem::MaybeUninit;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::vec::Vec;

use rustix::event::{PollFd, PollFlags, poll};
use rustix::io::Errno;
use rustix::net::{
    RecvAncillaryBuffer, RecvAncillaryMessage, RecvFlags, ReturnFlags, SendAncillaryBuffer,
    SendAncillaryMessage, SendFlags, recvmsg, sendmsg,
};

use crate::fd::{Fd, FdConverter};
use crate::reader::Argdata;

/// Size of the message header: the data length as an 8-byte big-endian number.
pub const HEADER_LEN: usize = 8;

/// Most descriptors Linux accepts in one `SCM_RIGHTS` control message.
pub const SCM_MAX_FD: usize = 253;

/// Data is read in pieces of at most this many bytes, so that a peer announcing a large
/// message makes the reader allocate only as much as it actually sends.
const READ_CHUNK: usize = 64 * 1024;

/// The header of a message of `len` bytes.
#[must_use]
pub const fn encode_header(len: u64) -> [u8; HEADER_LEN] {
    len.to_be_bytes()
}

/// The data length a header announces.
#[must_use]
pub const fn decode_header(header: [u8; HEADER_LEN]) -> u64 {
    u64::from_be_bytes(header)
}

/// Errors from [`ArgdataWriter::push`] and [`ArgdataReader::pull`].
///
/// ```
/// use argdata::socket;
///
/// let err = socket::Error::TooManyFds { count: 3, max: 2 };
/// assert_eq!(err.to_string(), "message with 3 file descriptors exceeds the limit of 2");
/// assert_eq!(err.errno(), 90); // EMSGSIZE, as the reference reports it
/// assert!(!err.is_resumable());
/// ```
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
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
    /// The message has more descriptors than the configured maximum (to send, or
    /// received within the room the control buffer's alignment padding leaves).
    #[error("message with {count} file descriptors exceeds the limit of {max}")]
    TooManyFds {
        /// Number of descriptors to send or received.
        count: usize,
        /// The configured maximum.
        max: usize,
    },
    /// The peer closed the connection inside a message.
    #[error("connection closed in the middle of a message")]
    UnexpectedEof,
    /// The kernel truncated the control data (`MSG_CTRUNC`): the peer attached more
    /// descriptors than the reader's maximum.
    #[error("control data truncated: more file descriptors attached than allowed")]
    ControlTruncated,
}

impl Error {
    /// The `errno` value the reference library returns for this error: `EMSGSIZE` for
    /// [`TooLong`](Self::TooLong), [`TooManyFds`](Self::TooManyFds) and
    /// [`ControlTruncated`](Self::ControlTruncated), `EBADMSG` for
    /// [`UnexpectedEof`](Self::UnexpectedEof), and the system call's own for
    /// [`Io`](Self::Io) (`EIO` if it has none).
    #[must_use]
    pub fn errno(&self) -> i32 {
        match self {
            Error::Io(e) => e.raw_os_error().unwrap_or(Errno::IO.raw_os_error()),
            Error::TooLong { .. } | Error::TooManyFds { .. } | Error::ControlTruncated => {
                Errno::MSGSIZE.raw_os_error()
            }
            Error::UnexpectedEof => Errno::BADMSG.raw_os_error(),
        }
    }

    /// Whether the call may simply be repeated: an interrupted or would-block
    /// [`Io`](Self::Io) error from a `try_` method, which keeps its progress.
    #[must_use]
    pub fn is_resumable(&self) -> bool {
        matches!(self, Error::Io(e) if matches!(
            e.kind(),
            io::ErrorKind::WouldBlock | io::ErrorKind::Interrupted
        ))
    }
}

/// Result type of the socket layer.
pub type Result<T, E = Error> = core::result::Result<T, E>;

/// Makes a system call. When `wait` is set it is retried after `EINTR`, and after
/// `EAGAIN` once `poll` reports the socket ready; otherwise every error is returned.
fn call<T>(
    socket: BorrowedFd<'_>,
    events: PollFlags,
    wait: bool,
    mut f: impl FnMut() -> rustix::io::Result<T>,
) -> rustix::io::Result<T> {
    loop {
        match f() {
            Err(Errno::INTR) if wait => {}
            Err(Errno::AGAIN) if wait => {
                let mut fds = [PollFd::new(&socket, events)];
                match poll(&mut fds, None) {
                    Ok(_) | Err(Errno::INTR) => {}
                    Err(e) => return Err(e),
                }
            }
            other => return other,
        }
    }
}

/// Sends argdata messages; see the [module documentation](self) for the framing.
///
/// `push` always sends a whole message: it loops over partial writes, retries after
/// `EINTR` and, on a non-blocking socket, waits with `poll` when the socket is full.
/// [`OutgoingMessage`] sends one step at a time instead.
///
/// ```
/// use std::os::unix::net::UnixStream;
/// use argdata::socket::{self, ArgdataReader, ArgdataWriter};
///
/// let (a, b) = UnixStream::pair()?;
/// let writer = ArgdataWriter::new(16, 0);
/// // `"hi"`: a string (08) with its NUL; no descriptors.
/// writer.push(&a, b"\x08hi\x00", &[])?;
/// let message = ArgdataReader::new(16, 0).pull(&b)?.expect("a message");
/// assert_eq!(message.argdata().as_str()?, "hi");
///
/// // The writer refuses what the reader would.
/// let err = writer.push(&a, &[0; 17], &[]).unwrap_err();
/// assert!(matches!(err, socket::Error::TooLong { len: 17, max: 16 }));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Copy, Debug)]
pub struct ArgdataWriter {
    max_len: usize,
    max_fds: usize,
}

impl ArgdataWriter {
    /// A writer that refuses messages longer than `max_len` bytes or with more than
    /// `max_fds` descriptors (configure it like the receiving [`ArgdataReader`]; the
    /// reference writer has no limits of its own).
    #[must_use]
    pub const fn new(max_len: usize, max_fds: usize) -> Self {
        ArgdataWriter { max_len, max_fds }
    }

    /// Sends the encoded value `bytes` with the descriptors `fds` attached (fd leaf `i`
    /// in `bytes` refers to `fds[i]`, as in [`Encoded`](crate::Encoded) after [`Value::encode`]).
    ///
    /// Taking borrowed descriptors (rather than the raw numbers of [`Encoded::fds`](crate::Encoded::fds)) means
    /// the descriptors are guaranteed to be open while they are sent. Without descriptors
    /// `socket` may also be a pipe or a file.
    ///
    /// # Errors
    /// [`Error::TooLong`], [`Error::TooManyFds`] or the system call's error
    /// (`ENOTSOCK` for descriptors to a non-socket). After an I/O error part of the
    /// message may have been sent.
    ///
    /// [`Value::encode`]: crate::Value::encode
    pub fn push(&self, socket: impl AsFd, bytes: &[u8], fds: &[BorrowedFd<'_>]) -> Result<()> {
        let socket = socket.as_fd();
        if bytes.len() > self.max_len {
            return Err(Error::TooLong {
                len: bytes.len() as u64,
                max: self.max_len,
            });
        }
        if fds.len() > self.max_fds {
            return Err(Error::TooManyFds {
                count: fds.len(),
                max: self.max_fds,
            });
        }
        let mut message = OutgoingMessage::new(bytes);
        while !message.is_sent() {
            message.step(socket, fds, true)?;
        }
        Ok(())
    }
}

/// One framed message being sent, one system call at a time (for callers that drive a
/// non-blocking socket themselves, like the C API's `argdata_writer_push`).
#[derive(Clone, Debug)]
pub struct OutgoingMessage<D> {
    header: [u8; HEADER_LEN],
    data: D,
    sent: usize,
    not_socket: bool,
}

impl<D: AsRef<[u8]>> OutgoingMessage<D> {
    /// The message carrying the encoded value `data`.
    #[must_use]
    pub fn new(data: D) -> Self {
        OutgoingMessage {
            header: encode_header(data.as_ref().len() as u64),
            data,
            sent: 0,
            not_socket: false,
        }
    }

    /// Whether every byte has been sent.
    #[must_use]
    pub fn is_sent(&self) -> bool {
        self.sent == HEADER_LEN + self.data.as_ref().len()
    }

    /// Makes one `sendmsg` (or, without descriptors to a non-socket, `writev`) with as
    /// much of the message as is left; the descriptors `fds` go with the first one, and
    /// must be the same on every call. Returns whether the message is now sent.
    ///
    /// # Errors
    /// The system call's error, including `EAGAIN` and `EINTR`, after which calling
    /// again carries on where the last call stopped.
    pub fn send(&mut self, socket: impl AsFd, fds: &[BorrowedFd<'_>]) -> io::Result<bool> {
        self.step(socket.as_fd(), fds, false)?;
        Ok(self.is_sent())
    }

    fn step(
        &mut self,
        socket: BorrowedFd<'_>,
        fds: &[BorrowedFd<'_>],
        wait: bool,
    ) -> io::Result<()> {
        if self.is_sent() {
            return Ok(());
        }
        let data = self.data.as_ref();
        let (head, body) = if self.sent < HEADER_LEN {
            (&self.header[self.sent..], data)
        } else {
            (&[][..], &data[self.sent - HEADER_LEN..])
        };
        let slices = [IoSlice::new(head), IoSlice::new(body)];
        let first = self.sent == 0 && !fds.is_empty();
        let n = if first {
            let mut space =
                std::vec![MaybeUninit::uninit(); rustix::cmsg_space!(ScmRights(fds.len()))];
            call(socket, PollFlags::OUT, wait, || {
                let mut control = SendAncillaryBuffer::new(&mut space);
                if !control.push(SendAncillaryMessage::ScmRights(fds)) {
                    return Err(Errno::NOBUFS);
                }
                sendmsg(socket, &slices, &mut control, SendFlags::NOSIGNAL)
            })?
        } else {
            call(socket, PollFlags::OUT, wait, || {
                if self.not_socket {
                    return rustix::io::writev(socket, &slices);
                }
                match sendmsg(
                    socket,
                    &slices,
                    &mut SendAncillaryBuffer::default(),
                    SendFlags::NOSIGNAL,
                ) {
                    Err(Errno::NOTSOCK) => {
                        self.not_socket = true;
                        rustix::io::writev(socket, &slices)
                    }
                    other => other,
                }
            })?
        };
        if n == 0 {
            return Err(io::ErrorKind::WriteZero.into());
        }
        self.sent += n;
        Ok(())
    }
}

/// Receives argdata messages; see the [module documentation](self) for the framing.
///
/// The reader keeps the progress of the message it is reading, so that
/// [`try_pull`](Self::try_pull) can stop at `EAGAIN` and carry on later.
///
/// ```
/// use std::io::Write;
/// use std::os::unix::net::UnixStream;
/// use argdata::socket::{ArgdataReader, encode_header};
///
/// let (mut a, b) = UnixStream::pair()?;
/// b.set_nonblocking(true)?;
/// let mut reader = ArgdataReader::new(1024, 4);
///
/// // Half a message: the header of a 2-byte value (`true`) and its first byte.
/// a.write_all(&encode_header(2))?;
/// a.write_all(b"\x02")?;
/// let err = reader.try_pull(&b).unwrap_err();
/// assert!(err.is_resumable(), "{err}");
///
/// // The rest arrives; the reader carries on where it stopped.
/// a.write_all(b"\x01")?;
/// let message = reader.try_pull(&b)?.expect("a message");
/// assert!(message.argdata().as_bool()?);
///
/// // The peer closes between messages: the clean end of the stream.
/// drop(a);
/// assert!(reader.try_pull(&b)?.is_none());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug)]
pub struct ArgdataReader {
    max_len: usize,
    max_fds: usize,
    control: Vec<MaybeUninit<u8>>,
    /// Whether the first receive of the current message (the one that may carry its
    /// descriptors) has been made.
    started: bool,
    header: [u8; HEADER_LEN],
    header_len: usize,
    data: Vec<u8>,
    fds: Vec<OwnedFd>,
}

impl ArgdataReader {
    /// A reader that accepts messages of at most `max_len` bytes and `max_fds`
    /// descriptors. Linux passes at most [`SCM_MAX_FD`] descriptors in one control
    /// message, so larger `max_fds` values act like that one. With `max_fds` 0 the reader
    /// only makes plain reads, as the reference does, and descriptors sent anyway are
    /// closed by the kernel.
    #[must_use]
    pub fn new(max_len: usize, max_fds: usize) -> Self {
        let max_fds = max_fds.min(SCM_MAX_FD);
        ArgdataReader {
            max_len,
            max_fds,
            control: std::vec![MaybeUninit::uninit(); rustix::cmsg_space!(ScmRights(max_fds))],
            started: false,
            header: [0; HEADER_LEN],
            header_len: 0,
            data: Vec::new(),
            fds: Vec::new(),
        }
    }

    /// Receives one message, or `None` if the peer closed the connection between
    /// messages.
    ///
    /// Blocks until the whole message is there (on a non-blocking socket it waits with
    /// `poll`). Received descriptors have close-on-exec set. `socket` may also be a
    /// pipe or a file, for messages without descriptors.
    ///
    /// # Errors
    /// [`Error::TooLong`] if the header announces more than `max_len`,
    /// [`Error::ControlTruncated`] or [`Error::TooManyFds`] if more than
    /// `max_fds` descriptors arrive,
    /// [`Error::UnexpectedEof`] if the connection closes inside a message, or the
    /// system call's error. Descriptors received with a failed message are closed.
    pub fn pull(&mut self, socket: impl AsFd) -> Result<Option<Message>> {
        self.advance(socket.as_fd(), true)
    }

    /// Like [`pull`](Self::pull), but makes each system call once: on a non-blocking
    /// socket that has no more bytes yet it returns the `EAGAIN` error (and `EINTR` when
    /// interrupted), see [`Error::is_resumable`], keeping what it has read so far;
    /// the next call carries on.
    ///
    /// # Errors
    /// As for [`pull`](Self::pull).
    pub fn try_pull(&mut self, socket: impl AsFd) -> Result<Option<Message>> {
        self.advance(socket.as_fd(), false)
    }

    fn advance(&mut self, socket: BorrowedFd<'_>, wait: bool) -> Result<Option<Message>> {
        let result = self.read_message(socket, wait);
        match &result {
            Err(e) if e.is_resumable() && !wait => {}
            _ => self.reset(),
        }
        result
    }

    /// Forgets the current message, closing the descriptors received with it.
    fn reset(&mut self) {
        self.started = false;
        self.header_len = 0;
        self.data = Vec::new();
        self.fds.clear();
    }

    fn read_message(&mut self, socket: BorrowedFd<'_>, wait: bool) -> Result<Option<Message>> {
        if !self.started {
            if self.max_fds > 0 {
                match self.recv_first(socket, wait) {
                    Ok(0) => return Ok(None),
                    Ok(n) => self.header_len = n,
                    Err(Error::Io(e))
                        if e.raw_os_error() == Some(Errno::NOTSOCK.raw_os_error()) => {}
                    Err(e) => return Err(e),
                }
            }
            self.started = true;
        }
        while self.header_len < HEADER_LEN {
            let n = call(socket, PollFlags::IN, wait, || {
                rustix::io::read(socket, &mut self.header[self.header_len..])
            })
            .map_err(io::Error::from)?;
            if n == 0 {
                return if self.header_len == 0 {
                    Ok(None)
                } else {
                    Err(Error::UnexpectedEof)
                };
            }
            self.header_len += n;
        }
        let announced = decode_header(self.header);
        let len = match usize::try_from(announced) {
            Ok(l) if l <= self.max_len => l,
            _ => {
                return Err(Error::TooLong {
                    len: announced,
                    max: self.max_len,
                });
            }
        };
        while self.data.len() < len {
            let start = self.data.len();
            let want = (len - start).min(READ_CHUNK);
            self.data.resize(start + want, 0);
            let got = call(socket, PollFlags::IN, wait, || {
                rustix::io::read(socket, &mut self.data[start..])
            });
            let n = match got {
                Ok(n) => n,
                Err(e) => {
                    self.data.truncate(start);
                    return Err(io::Error::from(e).into());
                }
            };
            self.data.truncate(start + n);
            if n == 0 {
                return Err(Error::UnexpectedEof);
            }
        }
        Ok(Some(Message {
            bytes: core::mem::take(&mut self.data),
            fds: core::mem::take(&mut self.fds),
        }))
    }

    /// The first receive of a message: at most the header, with room for `max_fds`
    /// descriptors, which become the message's.
    fn recv_first(&mut self, socket: BorrowedFd<'_>, wait: bool) -> Result<usize> {
        let mut control = RecvAncillaryBuffer::new(&mut self.control);
        let header = &mut self.header;
        let msg = call(socket, PollFlags::IN, wait, || {
            recvmsg(
                socket,
                &mut [IoSliceMut::new(&mut header[..])],
                &mut control,
                RecvFlags::CMSG_CLOEXEC,
            )
        })
        .map_err(io::Error::from)?;
        for message in control.drain() {
            if let RecvAncillaryMessage::ScmRights(received) = message {
                self.fds.extend(received);
            }
        }
        if msg.flags.contains(ReturnFlags::CTRUNC) {
            return Err(Error::ControlTruncated);
        }
        // The control buffer may have room for a few more than `max_fds` (alignment
        // padding, which the reference also lets through); this reader is strict.
        if self.fds.len() > self.max_fds {
            return Err(Error::TooManyFds {
                count: self.fds.len(),
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
