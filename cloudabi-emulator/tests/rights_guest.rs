//! Limiting descriptor rights with a real CloudABI guest (`examples/cloudabi`, built through
//! `cloudabi_test_support::guest`): `Emulator::limit_rights` reaches the guest, and the
//! child of `Emulator::run` keeps only the descriptors it grants.

use std::io::Read;
use std::os::fd::{AsRawFd, OwnedFd};
use std::sync::mpsc;
use std::time::Duration;

use argdata::{Fd, Value};
use cloudabi_emulator::grant::GrantMode;
use cloudabi_emulator::{Emulator, Error};
use cloudabi_test_support::guest;
use cloudabi_types::Rights;

#[test]
fn emulator_rejects_limits_on_descriptors_it_does_not_grant() {
    let Some(dir) = guest::built("x86_64-unknown-cloudabi") else {
        return;
    };
    let (bytes, fds) = guest::encode(&Value::seq([Value::from(Fd(1))]));
    let r = Emulator::new(guest::open(&dir.join("hello")), bytes, fds)
        .grant_mode(3, GrantMode::Read)
        .run();
    assert!(
        matches!(r, Err(Error::NoSuchDescriptor { fd: 3, count: 1 })),
        "{r:?}"
    );
}

fn pipe() -> (std::fs::File, OwnedFd) {
    let (r, w) = rustix::pipe::pipe().unwrap();
    (std::fs::File::from(r), w)
}

#[test]
fn emulator_limit_rights_reaches_the_guest() {
    let Some(dir) = guest::built("x86_64-unknown-cloudabi") else {
        return;
    };
    let hello = dir.join("hello");
    let run = |limit: Option<Rights>| {
        let (mut r, w) = pipe();
        let value = Value::seq([Value::from(Fd(w.as_raw_fd()))]);
        let (bytes, fds) = guest::encode(&value);
        drop(w);
        let mut emulator = Emulator::new(guest::open(&hello), bytes, fds);
        if let Some(base) = limit {
            emulator = emulator.limit_rights(0, base, Rights::empty());
        }
        let status = emulator.run().unwrap();
        let mut out = String::new();
        r.read_to_string(&mut out).unwrap();
        (status, out)
    };
    assert_eq!(run(None), (0, "Hello, fd 0!\n".to_owned()));
    // Everything but the right to write: the guest's write fails and it reports an error.
    let (status, out) = run(Some(Rights::all() - Rights::FD_WRITE));
    assert_ne!(status, 0);
    assert_eq!(out, "");
}

/// The child of `Emulator::run` closes what it was not granted: the guest (`threadloop`,
/// which writes `1` and then waits for one byte on `in`) sees the end of its input pipe
/// once this process closes the write end, although the child was forked while that write
/// end was open here. Without the closing, the child's inherited copy of the write end
/// keeps the pipe open and the guest waits forever.
#[test]
fn run_closes_descriptors_the_guest_was_not_given() {
    let Some(dir) = guest::built("x86_64-unknown-cloudabi") else {
        return;
    };
    let (mut out_r, out_w) = pipe();
    let (in_r, in_w) = pipe();
    let in_r = OwnedFd::from(in_r);
    let value = Value::map([
        ("out", Value::from(Fd(out_w.as_raw_fd()))),
        ("in", Value::from(Fd(in_r.as_raw_fd()))),
        ("count", Value::from(1u32)),
        ("every", Value::from(1u32)),
    ]);
    let (bytes, fds) = guest::encode(&value);
    drop((out_w, in_r));
    let program = guest::open(&dir.join("threadloop"));
    let (done_tx, done_rx) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = done_tx.send(Emulator::new(program, bytes, fds).run().unwrap());
    });
    // Wait for the guest to ask for its acknowledgement, then close the only write end.
    let mut first = [0u8; 2];
    out_r.read_exact(&mut first).unwrap();
    assert_eq!(&first, b"1\n");
    drop(in_w);
    let status = done_rx
        .recv_timeout(Duration::from_secs(30))
        .expect("the guest never saw the end of its input: the child kept the write end");
    // End of input instead of an acknowledgement: the guest fails.
    assert_ne!(status, 0);
    let mut rest = String::new();
    out_r.read_to_string(&mut rest).unwrap();
    assert_eq!(rest, "");
}
