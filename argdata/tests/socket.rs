//! Argdata messages over UNIX stream sockets: framing, descriptors, limits, errors.
#![cfg(all(feature = "std", any(target_os = "linux", target_os = "android")))]

use std::fs::File;
use std::io::{IoSlice, Read, Write};
use std::mem::MaybeUninit;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::os::unix::fs::MetadataExt;
use std::os::unix::net::UnixStream;

use argdata::socket::{ArgdataReader, ArgdataWriter, HEADER_LEN, SocketError};
use argdata::{Encoded, Fd, Value};
use rustix::event::{PollFd, PollFlags, poll};
use rustix::net::{SendAncillaryBuffer, SendAncillaryMessage, SendFlags, sendmsg};

/// Sends `encoded` with the descriptors its fd list names. Every test keeps the files it
/// encodes open until the message is sent, which is what makes borrowing them sound.
fn send(writer: &ArgdataWriter, socket: &UnixStream, encoded: &Encoded) -> Result<(), SocketError> {
    let fds: Vec<BorrowedFd<'_>> = encoded
        .fds
        .iter()
        // SAFETY: each number in `encoded.fds` comes from a descriptor the calling test still
        // holds open (a `File` or socket alive for the whole call), and none of them is -1.
        .map(|fd| unsafe { BorrowedFd::borrow_raw(fd.0) })
        .collect();
    writer.push(socket, &encoded.bytes, &fds)
}

fn header(len: u64, fds: u32) -> [u8; HEADER_LEN] {
    let mut h = [0; HEADER_LEN];
    h[..8].copy_from_slice(&len.to_be_bytes());
    h[8..].copy_from_slice(&fds.to_be_bytes());
    h
}

/// Sends `bytes` in one `sendmsg` with `fds` attached, like the reference writer does.
fn raw_send(socket: &UnixStream, bytes: &[u8], fds: &[BorrowedFd<'_>]) {
    let mut space = vec![MaybeUninit::uninit(); rustix::cmsg_space!(ScmRights(fds.len()))];
    let mut control = SendAncillaryBuffer::new(&mut space);
    assert!(control.push(SendAncillaryMessage::ScmRights(fds)));
    let n = sendmsg(
        socket,
        &[IoSlice::new(bytes)],
        &mut control,
        SendFlags::empty(),
    )
    .unwrap();
    assert_eq!(n, bytes.len());
}

/// Whether every copy of a pipe's write end has been closed (the read end sees a hangup).
fn write_end_closed(read_end: &impl AsFd) -> bool {
    let mut fds = [PollFd::new(read_end, PollFlags::IN)];
    let zero = rustix::event::Timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    poll(&mut fds, Some(&zero)).unwrap();
    fds[0].revents().contains(PollFlags::HUP)
}

fn same_file(a: impl AsFd, b: impl AsFd) -> bool {
    let a = File::from(a.as_fd().try_clone_to_owned().unwrap())
        .metadata()
        .unwrap();
    let b = File::from(b.as_fd().try_clone_to_owned().unwrap())
        .metadata()
        .unwrap();
    (a.dev(), a.ino()) == (b.dev(), b.ino())
}

#[test]
fn round_trip_with_fds() {
    let (a, b) = UnixStream::pair().unwrap();
    let file = File::open("/proc/self/exe").unwrap();
    let (pipe_r, pipe_w) = std::io::pipe().unwrap();
    let v = Value::map([
        ("exe", Value::from(Fd(file.as_raw_fd()))),
        ("pipe", Value::from(Fd(pipe_w.as_raw_fd()))),
        ("again", Value::from(Fd(file.as_raw_fd()))),
        ("name", Value::from("x")),
    ]);
    let e = v.encode();
    send(&ArgdataWriter::new(1024, 4), &a, &e).unwrap();
    let msg = ArgdataReader::new(1024, 4).pull(&b).unwrap().unwrap();
    assert_eq!(msg.bytes(), e.bytes);
    assert_eq!(msg.fds().len(), 2);
    let ad = msg.argdata();
    let exe = ad
        .get("exe")
        .unwrap()
        .unwrap()
        .as_fd(&msg.fd_converter())
        .unwrap();
    let again = ad
        .get("again")
        .unwrap()
        .unwrap()
        .as_fd(&msg.fd_converter())
        .unwrap();
    assert_ne!(exe.as_raw_fd(), file.as_raw_fd(), "a new descriptor");
    assert!(same_file(exe, &file));
    assert_eq!(exe.as_raw_fd(), again.as_raw_fd());
    // The received pipe end writes into our pipe.
    let pipe = ad
        .get("pipe")
        .unwrap()
        .unwrap()
        .as_fd(&msg.fd_converter())
        .unwrap();
    File::from(pipe.try_clone_to_owned().unwrap())
        .write_all(b"ping")
        .unwrap();
    let mut buf = [0; 4];
    (&pipe_r).read_exact(&mut buf).unwrap();
    assert_eq!(&buf, b"ping");
    // Close-on-exec is set on received descriptors.
    let flags = rustix::io::fcntl_getfd(exe).unwrap();
    assert!(flags.contains(rustix::io::FdFlags::CLOEXEC));
    // Decoding into an owned value with the received numbers.
    let owned = Value::from_argdata_with(msg.argdata(), &msg.fd_numbers()).unwrap();
    assert_eq!(owned.get("exe"), Some(&Value::Fd(Fd(exe.as_raw_fd()))));
    // Dropping the message closes its descriptors.
    drop(pipe_w);
    assert!(!write_end_closed(&pipe_r));
    drop(msg);
    assert!(write_end_closed(&pipe_r));
}

#[test]
fn interleaved_messages_and_clean_eof() {
    let (a, b) = UnixStream::pair().unwrap();
    let file = File::open("/proc/self/exe").unwrap();
    let writer = ArgdataWriter::new(4096, 2);
    let messages = [
        Value::from(1),
        Value::map([("fd", Value::from(Fd(file.as_raw_fd())))]),
        Value::Null,
        Value::seq([Value::from("two"), Value::from(Fd(file.as_raw_fd()))]),
        Value::binary(vec![7u8; 3000]),
    ];
    for m in &messages {
        send(&writer, &a, &m.encode()).unwrap();
    }
    drop(a);
    let mut reader = ArgdataReader::new(4096, 2);
    for m in &messages {
        let msg = reader.pull(&b).unwrap().unwrap();
        assert_eq!(msg.bytes(), m.encode().bytes);
        assert_eq!(msg.fds().len(), m.encode().fds.len());
        for fd in msg.fds() {
            assert!(same_file(fd, &file));
        }
    }
    assert!(reader.pull(&b).unwrap().is_none());
}

#[test]
fn reference_framing_with_fds_on_the_header_is_accepted() {
    let (a, b) = UnixStream::pair().unwrap();
    let file = File::open("/proc/self/exe").unwrap();
    let data = Value::seq([Fd(0)]).encode().bytes;
    let mut wire = header(data.len() as u64, 1).to_vec();
    wire.extend(&data);
    raw_send(&a, &wire, &[file.as_fd()]);
    let msg = ArgdataReader::new(64, 1).pull(&b).unwrap().unwrap();
    assert_eq!(msg.bytes(), data);
    assert!(same_file(&msg.fds()[0], &file));
}

#[test]
fn writer_sends_the_reference_header() {
    let (a, mut b) = UnixStream::pair().unwrap();
    let e = Value::from("hi").encode();
    send(&ArgdataWriter::new(64, 0), &a, &e).unwrap();
    let mut wire = [0; HEADER_LEN + 4];
    b.read_exact(&mut wire).unwrap();
    assert_eq!(wire[..HEADER_LEN], header(4, 0));
    assert_eq!(&wire[HEADER_LEN..], b"\x08hi\x00");
}

#[test]
fn too_long_messages_are_rejected() {
    let (a, b) = UnixStream::pair().unwrap();
    let e = Value::binary(vec![0u8; 100]).encode();
    let err = send(&ArgdataWriter::new(50, 0), &a, &e).unwrap_err();
    assert!(
        matches!(err, SocketError::TooLong { len: 101, max: 50 }),
        "{err}"
    );
    send(&ArgdataWriter::new(200, 0), &a, &e).unwrap();
    let err = ArgdataReader::new(100, 0).pull(&b).unwrap_err();
    assert!(
        matches!(err, SocketError::TooLong { len: 101, max: 100 }),
        "{err}"
    );
    // A header announcing an absurd length is refused before anything is allocated.
    let (mut a, b) = UnixStream::pair().unwrap();
    a.write_all(&header(u64::MAX, 0)).unwrap();
    let err = ArgdataReader::new(1 << 20, 0).pull(&b).unwrap_err();
    assert!(matches!(err, SocketError::TooLong { .. }), "{err}");
}

#[test]
fn too_many_fds_are_rejected_and_closed() {
    let (pipe_r, pipe_w) = std::io::pipe().unwrap();
    let w = pipe_w.as_fd();
    let data = Value::seq([Fd(0), Fd(1), Fd(2)]).encode().bytes;

    // The header announces more than the reader allows.
    let (a, b) = UnixStream::pair().unwrap();
    let err = ArgdataWriter::new(64, 2)
        .push(&a, &data, &[w, w, w])
        .unwrap_err();
    assert!(
        matches!(err, SocketError::TooManyFds { count: 3, max: 2 }),
        "{err}"
    );
    ArgdataWriter::new(64, 3)
        .push(&a, &data, &[w, w, w])
        .unwrap();
    let err = ArgdataReader::new(64, 1).pull(&b).unwrap_err();
    assert!(
        matches!(err, SocketError::TooManyFds { count: 3, max: 1 }),
        "{err}"
    );
    drop((a, b));

    // The header lies: one fd announced, three attached.
    let (a, b) = UnixStream::pair().unwrap();
    let mut wire = header(data.len() as u64, 1).to_vec();
    wire.extend(&data);
    raw_send(&a, &wire, &[w, w, w]);
    let err = ArgdataReader::new(64, 1).pull(&b).unwrap_err();
    assert!(
        matches!(
            err,
            SocketError::ControlTruncated | SocketError::TooManyFds { .. }
        ),
        "{err}"
    );
    drop((a, b));

    // Within the limit but not what the header says.
    let (a, b) = UnixStream::pair().unwrap();
    let mut wire = header(data.len() as u64, 3).to_vec();
    wire.extend(&data);
    raw_send(&a, &wire, &[w, w]);
    let err = ArgdataReader::new(64, 4).pull(&b).unwrap_err();
    assert!(
        matches!(
            err,
            SocketError::FdCountMismatch {
                declared: 3,
                received: 2
            }
        ),
        "{err}"
    );
    drop((a, b));

    // Every copy that travelled is closed again.
    drop(pipe_w);
    assert!(write_end_closed(&pipe_r));
}

#[test]
fn eof_inside_a_message_is_an_error() {
    // Inside the header.
    let (mut a, b) = UnixStream::pair().unwrap();
    a.write_all(&header(10, 0)[..5]).unwrap();
    drop(a);
    let err = ArgdataReader::new(64, 0).pull(&b).unwrap_err();
    assert!(matches!(err, SocketError::UnexpectedEof), "{err}");
    // Inside the data.
    let (mut a, b) = UnixStream::pair().unwrap();
    a.write_all(&header(10, 0)).unwrap();
    a.write_all(b"\x01abc").unwrap();
    drop(a);
    let err = ArgdataReader::new(64, 0).pull(&b).unwrap_err();
    assert!(matches!(err, SocketError::UnexpectedEof), "{err}");
}

#[test]
fn descriptors_without_data_are_refused() {
    // A negative descriptor number cannot reach the writer at all: it takes `BorrowedFd`s.
    let (a, _b) = UnixStream::pair().unwrap();
    let err = ArgdataWriter::new(64, 4)
        .push(&a, &[], &[a.as_fd()])
        .unwrap_err();
    assert!(matches!(err, SocketError::InvalidFds), "{err}");
}

#[test]
fn large_messages_on_non_blocking_sockets() {
    let (a, b) = UnixStream::pair().unwrap();
    a.set_nonblocking(true).unwrap();
    b.set_nonblocking(true).unwrap();
    let file = File::open("/proc/self/exe").unwrap();
    let big: Vec<u8> = (0..3_000_000u32).map(|i| (i * 7) as u8).collect();
    let v = Value::seq([Value::from(Fd(file.as_raw_fd())), Value::binary(big)]);
    let e = v.encode();
    let sender = std::thread::spawn({
        let e = e.clone();
        move || {
            let writer = ArgdataWriter::new(4 << 20, 1);
            send(&writer, &a, &e).unwrap();
            send(&writer, &a, &e).unwrap();
        }
    });
    let mut reader = ArgdataReader::new(4 << 20, 1);
    for _ in 0..2 {
        let msg = reader.pull(&b).unwrap().unwrap();
        assert!(msg.bytes() == e.bytes.as_slice());
        assert!(same_file(&msg.fds()[0], &file));
    }
    sender.join().unwrap();
    assert!(reader.pull(&b).unwrap().is_none());
}

#[test]
fn owned_fds_can_be_taken() {
    let (a, b) = UnixStream::pair().unwrap();
    let file = File::open("/proc/self/exe").unwrap();
    ArgdataWriter::new(64, 1)
        .push(
            &a,
            &Value::from(Fd(file.as_raw_fd())).encode().bytes,
            &[file.as_fd()],
        )
        .unwrap();
    let (bytes, fds): (Vec<u8>, Vec<OwnedFd>) = ArgdataReader::new(64, 1)
        .pull(&b)
        .unwrap()
        .unwrap()
        .into_parts();
    assert_eq!(bytes, [3, 0, 0, 0, 0]);
    assert!(same_file(&fds[0], &file));
}

/// The reference reader takes the header with a plain `read` and the data with one
/// `recvmsg`; a plain `read` would drop descriptors attached to the header bytes, so the
/// writer must attach them to the data.
#[test]
fn writer_suits_the_reference_reader() {
    use rustix::net::{RecvAncillaryBuffer, RecvAncillaryMessage, RecvFlags, recvmsg};
    use std::io::IoSliceMut;

    let (a, mut b) = UnixStream::pair().unwrap();
    let file = File::open("/proc/self/exe").unwrap();
    let e = Value::seq([Fd(file.as_raw_fd())]).encode();
    send(&ArgdataWriter::new(64, 1), &a, &e).unwrap();
    let mut head = [0; HEADER_LEN];
    b.read_exact(&mut head).unwrap();
    assert_eq!(head, header(e.bytes.len() as u64, 1));
    let mut data = vec![0; e.bytes.len()];
    let mut space = vec![MaybeUninit::uninit(); rustix::cmsg_space!(ScmRights(1))];
    let mut control = RecvAncillaryBuffer::new(&mut space);
    let got = recvmsg(
        &b,
        &mut [IoSliceMut::new(&mut data)],
        &mut control,
        RecvFlags::empty(),
    )
    .unwrap();
    assert_eq!(got.bytes, e.bytes.len());
    assert_eq!(data, e.bytes);
    let fds: Vec<OwnedFd> = control
        .drain()
        .flat_map(|m| match m {
            RecvAncillaryMessage::ScmRights(fds) => fds.collect::<Vec<_>>(),
            _ => Vec::new(),
        })
        .collect();
    assert_eq!(fds.len(), 1);
    assert!(same_file(&fds[0], &file));
}
