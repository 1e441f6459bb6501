//! Argdata messages over UNIX stream sockets: framing, descriptors, limits, errors.
#![cfg(all(feature = "std", any(target_os = "linux", target_os = "android")))]

use std::fs::File;
use std::io::{Read, Write};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::os::unix::net::UnixStream;

use argdata::socket::{self, ArgdataReader, ArgdataWriter, HEADER_LEN};
use argdata::{Encoded, Fd, Value};
use socket_support::{raw_send, same_file, write_end_closed};

mod socket_support;

/// Sends `encoded` with the descriptors its fd list names. Every test keeps the files it
/// encodes open until the message is sent, which is what makes borrowing them sound.
fn send(
    writer: &ArgdataWriter,
    socket: &UnixStream,
    encoded: &Encoded,
) -> Result<(), socket::Error> {
    let fds: Vec<BorrowedFd<'_>> = encoded
        .fds
        .iter()
        // SAFETY: each number in `encoded.fds` comes from a descriptor the calling test still
        // holds open (a `File` or socket alive for the whole call), and none of them is -1.
        .map(|fd| unsafe { BorrowedFd::borrow_raw(fd.0) })
        .collect();
    writer.push(socket, &encoded.bytes, &fds)
}

fn header(len: u64) -> [u8; HEADER_LEN] {
    len.to_be_bytes()
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
    let mut wire = header(data.len() as u64).to_vec();
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
    assert_eq!(wire[..HEADER_LEN], header(4));
    assert_eq!(&wire[HEADER_LEN..], b"\x08hi\x00");
}

#[test]
fn too_long_messages_are_rejected() {
    let (a, b) = UnixStream::pair().unwrap();
    let e = Value::binary(vec![0u8; 100]).encode();
    let err = send(&ArgdataWriter::new(50, 0), &a, &e).unwrap_err();
    assert!(
        matches!(err, socket::Error::TooLong { len: 101, max: 50 }),
        "{err}"
    );
    send(&ArgdataWriter::new(200, 0), &a, &e).unwrap();
    let err = ArgdataReader::new(100, 0).pull(&b).unwrap_err();
    assert!(
        matches!(err, socket::Error::TooLong { len: 101, max: 100 }),
        "{err}"
    );
    // A header announcing an absurd length is refused before anything is allocated.
    let (mut a, b) = UnixStream::pair().unwrap();
    a.write_all(&header(u64::MAX)).unwrap();
    let err = ArgdataReader::new(1 << 20, 0).pull(&b).unwrap_err();
    assert!(matches!(err, socket::Error::TooLong { .. }), "{err}");
}

#[test]
fn too_many_fds_are_rejected_and_closed() {
    let (pipe_r, pipe_w) = std::io::pipe().unwrap();
    let w = pipe_w.as_fd();
    let data = Value::seq([Fd(0), Fd(1), Fd(2)]).encode().bytes;

    // The writer refuses more than its own limit.
    let (a, b) = UnixStream::pair().unwrap();
    let err = ArgdataWriter::new(64, 2)
        .push(&a, &data, &[w, w, w])
        .unwrap_err();
    assert!(
        matches!(err, socket::Error::TooManyFds { count: 3, max: 2 }),
        "{err}"
    );
    assert_eq!(err.errno(), libc_emsgsize());
    // The reader has room for one: the kernel truncates the control message.
    ArgdataWriter::new(64, 3)
        .push(&a, &data, &[w, w, w])
        .unwrap();
    let err = ArgdataReader::new(64, 1).pull(&b).unwrap_err();
    assert!(
        matches!(
            err,
            socket::Error::ControlTruncated | socket::Error::TooManyFds { .. }
        ),
        "{err}"
    );
    assert_eq!(err.errno(), libc_emsgsize(), "the reference says EMSGSIZE");
    drop((a, b));
    // Two over a limit of one fit the padding of the control buffer; still refused.
    let (a, b) = UnixStream::pair().unwrap();
    let mut wire = header(data.len() as u64).to_vec();
    wire.extend(&data);
    raw_send(&a, &wire, &[w, w]);
    let err = ArgdataReader::new(64, 1).pull(&b).unwrap_err();
    assert_eq!(err.errno(), libc_emsgsize(), "{err}");
    drop((a, b));

    // Every copy that travelled is closed again.
    drop(pipe_w);
    assert!(write_end_closed(&pipe_r));
}

fn libc_emsgsize() -> i32 {
    rustix::io::Errno::MSGSIZE.raw_os_error()
}

#[test]
fn descriptors_on_later_bytes_are_not_the_message_s() {
    // The reference only takes descriptors with its first receive; a plain read of the
    // bytes they came with makes the kernel close them.
    let (pipe_r, pipe_w) = std::io::pipe().unwrap();
    let (mut a, b) = UnixStream::pair().unwrap();
    a.write_all(&header(13)).unwrap();
    raw_send(
        &a,
        &[0x07, 0x85, 0x03, 0, 0, 0, 0, 0x85, 0x03, 0, 0, 0, 1],
        &[pipe_w.as_fd()],
    );
    drop(pipe_w);
    let m = ArgdataReader::new(64, 4).pull(&b).unwrap().unwrap();
    assert_eq!(m.bytes().len(), 13);
    assert!(m.fds().is_empty());
    assert!(write_end_closed(&pipe_r), "no copy is left behind");
    // The leaves do not resolve.
    let mut it = m.argdata().seq().unwrap();
    let first = it.next().unwrap().unwrap();
    assert!(first.as_fd(&m.fd_converter()).is_err());
}

#[test]
fn a_reader_without_fd_room_takes_plain_reads() {
    // As in the reference, max_fds 0 means no recvmsg: the descriptors are dropped and
    // the message is read.
    let (pipe_r, pipe_w) = std::io::pipe().unwrap();
    let (a, b) = UnixStream::pair().unwrap();
    let mut wire = header(5).to_vec();
    wire.extend([0x03, 0, 0, 0, 0]);
    raw_send(&a, &wire, &[pipe_w.as_fd()]);
    drop(pipe_w);
    let m = ArgdataReader::new(64, 0).pull(&b).unwrap().unwrap();
    assert_eq!(m.bytes(), [0x03, 0, 0, 0, 0]);
    assert!(m.fds().is_empty());
    assert!(write_end_closed(&pipe_r));
}

#[test]
fn pipes_carry_messages_without_descriptors() {
    let (r, w) = std::io::pipe().unwrap();
    let writer = ArgdataWriter::new(64, 1);
    writer.push(&w, b"\x08hi\x00", &[]).unwrap();
    writer.push(&w, b"", &[]).unwrap();
    // Descriptors need a socket, as with the reference's sendmsg.
    let err = writer.push(&w, b"\x03\0\0\0\0", &[w.as_fd()]).unwrap_err();
    assert_eq!(
        err.errno(),
        rustix::io::Errno::NOTSOCK.raw_os_error(),
        "{err}"
    );
    drop(w);
    let mut reader = ArgdataReader::new(64, 1);
    assert_eq!(reader.pull(&r).unwrap().unwrap().bytes(), b"\x08hi\x00");
    assert_eq!(reader.pull(&r).unwrap().unwrap().bytes(), b"");
    assert!(reader.pull(&r).unwrap().is_none());
}

#[test]
fn try_pull_resumes_after_eagain() {
    let (mut a, b) = UnixStream::pair().unwrap();
    b.set_nonblocking(true).unwrap();
    let file = File::open("/proc/self/exe").unwrap();
    let mut reader = ArgdataReader::new(64, 1);
    let would_block = |r: Result<Option<argdata::socket::Message>, socket::Error>| match r {
        Err(e) => e.is_resumable() && e.errno() == rustix::io::Errno::AGAIN.raw_os_error(),
        Ok(_) => false,
    };
    assert!(would_block(reader.try_pull(&b)));
    // Three header bytes with the descriptor, then the rest in two steps.
    raw_send(&a, &[0, 0, 0], &[file.as_fd()]);
    assert!(would_block(reader.try_pull(&b)));
    a.write_all(&[0, 0, 0, 0, 5, 0x03]).unwrap();
    assert!(would_block(reader.try_pull(&b)));
    a.write_all(&[0, 0, 0, 0]).unwrap();
    let m = reader.try_pull(&b).unwrap().unwrap();
    assert_eq!(m.bytes(), [0x03, 0, 0, 0, 0]);
    assert_eq!(m.fds().len(), 1);
    assert!(same_file(&m.fds()[0], &file));
    drop(a);
    assert!(reader.try_pull(&b).unwrap().is_none());
}

#[test]
fn errors_map_to_the_reference_errno() {
    assert_eq!(
        socket::Error::UnexpectedEof.errno(),
        rustix::io::Errno::BADMSG.raw_os_error()
    );
    let long = socket::Error::TooLong { len: 9, max: 8 };
    assert_eq!(long.errno(), libc_emsgsize());
    assert!(!long.is_resumable());
}

#[test]
fn eof_inside_a_message_is_an_error() {
    // Inside the header.
    let (mut a, b) = UnixStream::pair().unwrap();
    a.write_all(&header(10)[..5]).unwrap();
    drop(a);
    let err = ArgdataReader::new(64, 0).pull(&b).unwrap_err();
    assert!(matches!(err, socket::Error::UnexpectedEof), "{err}");
    // Inside the data.
    let (mut a, b) = UnixStream::pair().unwrap();
    a.write_all(&header(10)).unwrap();
    a.write_all(b"\x01abc").unwrap();
    drop(a);
    let err = ArgdataReader::new(64, 0).pull(&b).unwrap_err();
    assert!(matches!(err, socket::Error::UnexpectedEof), "{err}");
}

#[test]
fn descriptors_may_come_with_a_null_value() {
    // The header always carries them, so even zero bytes of data can.
    let (a, b) = UnixStream::pair().unwrap();
    ArgdataWriter::new(64, 4)
        .push(&a, &[], &[a.as_fd()])
        .unwrap();
    let m = ArgdataReader::new(64, 4).pull(&b).unwrap().unwrap();
    assert!(m.bytes().is_empty());
    assert_eq!(m.fds().len(), 1);
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

#[test]
fn outgoing_message_and_try_pull_interleave_on_non_blocking_sockets() {
    use argdata::socket::OutgoingMessage;
    let (a, b) = UnixStream::pair().unwrap();
    a.set_nonblocking(true).unwrap();
    b.set_nonblocking(true).unwrap();
    let file = File::open("/proc/self/exe").unwrap();
    // A binary leaf of 1 MiB: tag 01, then the bytes. Far more than the socket buffers.
    let mut data = vec![0x01];
    data.extend((0..1u32 << 20).map(|i| (i % 251) as u8));
    let mut out = OutgoingMessage::new(data.clone());
    let mut reader = ArgdataReader::new(2 << 20, 1);
    let mut blocked = 0;
    let mut got = None;
    loop {
        match out.send(&a, &[file.as_fd()]) {
            Ok(true) => break,
            Ok(false) => {}
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                blocked += 1;
                match reader.try_pull(&b) {
                    Ok(m) => got = m,
                    Err(e) => assert!(e.is_resumable(), "{e}"),
                }
            }
            Err(e) => panic!("{e}"),
        }
    }
    assert!(out.is_sent());
    assert!(blocked > 0, "the socket filled up at least once");
    let m = match got {
        Some(m) => m,
        None => loop {
            match reader.try_pull(&b) {
                Ok(Some(m)) => break m,
                Ok(None) => panic!("end of stream"),
                Err(e) => assert!(e.is_resumable(), "{e}"),
            }
        },
    };
    assert!(m.bytes() == data.as_slice());
    assert_eq!(m.fds().len(), 1);
    assert!(same_file(&m.fds()[0], &file));
}
