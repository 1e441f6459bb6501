//! Socket helpers of the framing tests (`socket.rs`, `reference_framing.rs`): sending bytes
//! as the reference writer does, and checking what happened to descriptors.

#![allow(dead_code, unreachable_pub)]

use std::fs::File;
use std::io::IoSlice;
use std::mem::MaybeUninit;
use std::os::fd::{AsFd, BorrowedFd};
use std::os::unix::fs::MetadataExt;
use std::os::unix::net::UnixStream;

use rustix::event::{PollFd, PollFlags, poll};
use rustix::net::{SendAncillaryBuffer, SendAncillaryMessage, SendFlags, sendmsg};

/// Sends `bytes` in one `sendmsg` with `fds` attached, as the reference writer's first call.
pub fn raw_send(socket: &UnixStream, bytes: &[u8], fds: &[BorrowedFd<'_>]) {
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
pub fn write_end_closed(read_end: &impl AsFd) -> bool {
    let mut fds = [PollFd::new(read_end, PollFlags::IN)];
    let zero = rustix::event::Timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    poll(&mut fds, Some(&zero)).unwrap();
    fds[0].revents().contains(PollFlags::HUP)
}

/// Whether two descriptors name the same file.
pub fn same_file(a: impl AsFd, b: impl AsFd) -> bool {
    let meta = |fd: BorrowedFd<'_>| {
        File::from(fd.try_clone_to_owned().unwrap())
            .metadata()
            .unwrap()
    };
    let (a, b) = (meta(a.as_fd()), meta(b.as_fd()));
    (a.dev(), a.ino()) == (b.dev(), b.ino())
}
