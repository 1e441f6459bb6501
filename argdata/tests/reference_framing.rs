//! The message framing of the reference library (`argdata_writer_push` /
//! `argdata_reader_pull`), with every byte written out by hand: an 8-byte big-endian data
//! length, then the data; the descriptors ride as one `SCM_RIGHTS` control message on the
//! first `sendmsg` of the message, which starts with the header.
#![cfg(all(feature = "std", any(target_os = "linux", target_os = "android")))]

use std::fs::File;
use std::io::{IoSliceMut, Read, Write};
use std::mem::MaybeUninit;
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::net::UnixStream;

use argdata::socket::{self, ArgdataReader, ArgdataWriter};
use rustix::net::{RecvAncillaryBuffer, RecvAncillaryMessage, RecvFlags, recvmsg};
use socket_support::{raw_send, same_file, write_end_closed};

mod socket_support;

/// The sequence `[!fd 0, !fd 1]`: tag 07, then two subfields of 5 bytes (`85`), each an fd
/// leaf (tag 03) with a 4-byte big-endian index.
const SEQ_FD0_FD1: [u8; 13] = [0x07, 0x85, 0x03, 0, 0, 0, 0, 0x85, 0x03, 0, 0, 0, 1];

/// The string "hi": tag 08, the text, a NUL.
const STR_HI: [u8; 4] = [0x08, b'h', b'i', 0];

#[test]
fn reads_two_reference_messages_in_a_row() {
    let (mut a, b) = UnixStream::pair().unwrap();
    let file = File::open("/proc/self/exe").unwrap();
    let (pipe_r, pipe_w) = std::io::pipe().unwrap();

    // Message 1: length 13, the sequence, both descriptors on this one sendmsg.
    let mut first = vec![0, 0, 0, 0, 0, 0, 0, 13];
    first.extend(SEQ_FD0_FD1);
    raw_send(&a, &first, &[file.as_fd(), pipe_w.as_fd()]);
    // Message 2: no descriptors, so the reference uses a plain write.
    a.write_all(&[0, 0, 0, 0, 0, 0, 0, 4, 0x08, b'h', b'i', 0])
        .unwrap();
    drop(a);

    let mut reader = ArgdataReader::new(64, 4);
    let m = reader.pull(&b).unwrap().expect("first message");
    assert_eq!(m.bytes(), SEQ_FD0_FD1);
    assert_eq!(m.fds().len(), 2);
    assert!(same_file(&m.fds()[0], &file));
    assert!(same_file(&m.fds()[1], &pipe_w));
    let m2 = reader.pull(&b).unwrap().expect("second message");
    assert_eq!(m2.bytes(), STR_HI);
    assert!(m2.fds().is_empty());
    assert_eq!(m2.argdata().as_str().unwrap(), "hi");
    assert!(
        reader.pull(&b).unwrap().is_none(),
        "clean end of the stream"
    );

    drop(pipe_w);
    assert!(!write_end_closed(&pipe_r));
    drop(m);
    assert!(
        write_end_closed(&pipe_r),
        "the message's descriptors are closed"
    );
}

#[test]
fn header_written_in_pieces_is_reassembled() {
    // The reference reads the rest of a short header with further reads.
    let (mut a, b) = UnixStream::pair().unwrap();
    let file = File::open("/proc/self/exe").unwrap();
    raw_send(&a, &[0, 0, 0], &[file.as_fd()]);
    a.write_all(&[0, 0, 0, 0, 13]).unwrap();
    a.write_all(&SEQ_FD0_FD1[..6]).unwrap();
    a.write_all(&SEQ_FD0_FD1[6..]).unwrap();
    drop(a);
    let m = ArgdataReader::new(64, 2).pull(&b).unwrap().unwrap();
    assert_eq!(m.bytes(), SEQ_FD0_FD1);
    assert_eq!(m.fds().len(), 1);
    assert!(same_file(&m.fds()[0], &file));
}

#[test]
fn writer_sends_header_and_data_with_the_descriptors_on_the_first_byte() {
    let (a, b) = UnixStream::pair().unwrap();
    let file = File::open("/proc/self/exe").unwrap();
    let (_pipe_r, pipe_w) = std::io::pipe().unwrap();
    ArgdataWriter::new(64, 2)
        .push(&a, &SEQ_FD0_FD1, &[file.as_fd(), pipe_w.as_fd()])
        .unwrap();
    ArgdataWriter::new(64, 2).push(&a, &STR_HI, &[]).unwrap();
    drop(a);

    // A reference-style first receive of exactly the 8 header bytes gets the descriptors.
    let mut head = [0u8; 8];
    let mut space = vec![MaybeUninit::uninit(); rustix::cmsg_space!(ScmRights(4))];
    let mut control = RecvAncillaryBuffer::new(&mut space);
    let got = recvmsg(
        &b,
        &mut [IoSliceMut::new(&mut head)],
        &mut control,
        RecvFlags::empty(),
    )
    .unwrap();
    assert_eq!(got.bytes, 8);
    assert_eq!(head, [0, 0, 0, 0, 0, 0, 0, 13]);
    let fds: Vec<OwnedFd> = control
        .drain()
        .flat_map(|m| match m {
            RecvAncillaryMessage::ScmRights(fds) => fds.collect::<Vec<_>>(),
            _ => Vec::new(),
        })
        .collect();
    assert_eq!(fds.len(), 2);
    assert!(same_file(&fds[0], &file));
    assert!(same_file(&fds[1], &pipe_w));

    // Then plain bytes: the data of message 1, the whole of message 2, end of stream.
    let mut rest = Vec::new();
    (&b).read_to_end(&mut rest).unwrap();
    let mut expected = SEQ_FD0_FD1.to_vec();
    expected.extend([0, 0, 0, 0, 0, 0, 0, 4, 0x08, b'h', b'i', 0]);
    assert_eq!(rest, expected);
}

#[test]
fn oversized_length_is_rejected_without_allocating_it() {
    let (mut a, b) = UnixStream::pair().unwrap();
    a.write_all(&[0xff; 8]).unwrap();
    drop(a);
    let err = ArgdataReader::new(1 << 20, 1).pull(&b).unwrap_err();
    assert!(
        matches!(
            err,
            socket::Error::TooLong {
                len: u64::MAX,
                max: 1048576
            }
        ),
        "{err}"
    );

    // One byte over the limit is refused; exactly the limit is fine.
    let (mut a, b) = UnixStream::pair().unwrap();
    a.write_all(&[0, 0, 0, 0, 0, 0, 0, 5, 0x01, 1, 2, 3, 4])
        .unwrap();
    drop(a);
    let err = ArgdataReader::new(4, 0).pull(&b).unwrap_err();
    assert!(
        matches!(err, socket::Error::TooLong { len: 5, max: 4 }),
        "{err}"
    );
    let (mut a, b) = UnixStream::pair().unwrap();
    a.write_all(&[0, 0, 0, 0, 0, 0, 0, 4]).unwrap();
    a.write_all(&STR_HI).unwrap();
    drop(a);
    let m = ArgdataReader::new(4, 0).pull(&b).unwrap().unwrap();
    assert_eq!(m.bytes(), STR_HI);
}

#[test]
fn end_of_stream_inside_a_message_is_an_error() {
    // Inside the header (after the first receive).
    let (mut a, b) = UnixStream::pair().unwrap();
    a.write_all(&[0, 0, 0]).unwrap();
    drop(a);
    let err = ArgdataReader::new(64, 1).pull(&b).unwrap_err();
    assert!(matches!(err, socket::Error::UnexpectedEof), "{err}");
    // Inside the data.
    let (mut a, b) = UnixStream::pair().unwrap();
    a.write_all(&[0, 0, 0, 0, 0, 0, 0, 4, 0x08, b'h']).unwrap();
    drop(a);
    let err = ArgdataReader::new(64, 1).pull(&b).unwrap_err();
    assert!(matches!(err, socket::Error::UnexpectedEof), "{err}");
}
