//! `argdata_reader_*` and `argdata_writer_*`: argdata messages over stream descriptors.
//!
//! The framing is the reference library's, implemented once in [`argdata::socket`]: an
//! 8-byte big-endian data length, then the encoded value; the descriptors travel as one
//! `SCM_RIGHTS` message on the first `sendmsg` of the message, and the reader takes them
//! from its first `recvmsg` (so a message with descriptors needs a UNIX socket; one
//! without can use any stream, a pipe or a file). These functions drive
//! [`ArgdataReader::try_pull`] and [`OutgoingMessage::send`] one step at a time, so that
//! `EAGAIN` on a non-blocking descriptor returns and the next call carries on.

use std::ffi::{c_int, c_void};
use std::os::fd::{BorrowedFd, IntoRawFd};
use std::ptr;

use argdata::MAX_DEPTH;
use argdata::socket::{ArgdataReader, OutgoingMessage};

use super::to_value;
use crate::node::{Buf, Node, argdata_t};

/// Reads argdata messages from a stream; see `argdata.h`.
pub struct argdata_reader_t {
    inner: ArgdataReader,
    finished: bool,
    eof: bool,
    data: Vec<u8>,
    fds: Vec<c_int>,
    root: argdata_t,
}

/// Creates a reader accepting messages of at most `max_data_len` bytes and
/// `max_fds_len` descriptors.
#[unsafe(no_mangle)]
pub extern "C" fn argdata_reader_create(
    max_data_len: usize,
    max_fds_len: usize,
) -> *mut argdata_reader_t {
    Box::into_raw(Box::new(argdata_reader_t {
        inner: ArgdataReader::new(max_data_len, max_fds_len),
        finished: false,
        eof: false,
        data: Vec::new(),
        fds: Vec::new(),
        root: argdata_t::new(Node::Null),
    }))
}

fn close_all(fds: &mut Vec<c_int>) {
    for fd in fds.drain(..) {
        if fd >= 0 {
            // SAFETY: the reader owns every descriptor it received and has not released.
            unsafe { libc::close(fd) };
        }
    }
}

/// Frees a reader and closes descriptors it still owns.
///
/// # Safety
///
/// `ar` must be NULL or come from `argdata_reader_create`, and not be used afterwards.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn argdata_reader_free(ar: *mut argdata_reader_t) {
    if ar.is_null() {
        return;
    }
    // SAFETY: from Box::into_raw per the caller.
    let mut r = unsafe { Box::from_raw(ar) };
    close_all(&mut r.fds);
}

/// The last message read, or NULL at end-of-file.
///
/// # Safety
///
/// `ar` must be a live reader whose last `argdata_reader_pull` returned 0.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn argdata_reader_get(ar: *const argdata_reader_t) -> *const argdata_t {
    // SAFETY: live per the caller.
    let r = unsafe { &*ar };
    if !r.finished || r.eof {
        return ptr::null();
    }
    &r.root
}

/// Stops the reader owning `fd` (a process-local descriptor from the last message).
///
/// # Safety
///
/// `ar` must be a live reader.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn argdata_reader_release_fd(ar: *mut argdata_reader_t, fd: c_int) {
    // SAFETY: live per the caller.
    let r = unsafe { &mut *ar };
    for slot in &mut r.fds {
        if *slot == fd {
            *slot = -1;
        }
    }
}

unsafe extern "C" fn lookup_fd(arg: *mut c_void, index: usize) -> c_int {
    // SAFETY: `arg` is the reader that built the root value, which lives as long as it.
    let r = unsafe { &*arg.cast::<argdata_reader_t>() };
    r.fds.get(index).copied().unwrap_or(-1)
}

/// Reads (part of) the next message from `fd`: 0 when a message is complete or at a
/// clean end-of-file, `EMSGSIZE` if it exceeds the limits, `EBADMSG` if truncated, or the
/// error of `read`/`recvmsg` (`EAGAIN`, `EINTR`: call again, it carries on).
///
/// # Safety
///
/// `ar` must be a live reader, and `fd` a descriptor that stays open during the call.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn argdata_reader_pull(ar: *mut argdata_reader_t, fd: c_int) -> c_int {
    // SAFETY: live per the caller.
    let r = unsafe { &mut *ar };
    if r.finished {
        r.finished = false;
        r.eof = false;
        r.root = argdata_t::new(Node::Null);
        r.data = Vec::new();
        close_all(&mut r.fds);
    }
    if fd < 0 {
        return libc::EBADF;
    }
    // SAFETY: `fd` is not -1 (checked above) and stays open for this call per the
    // caller; the borrow does not outlive the call.
    let stream = unsafe { BorrowedFd::borrow_raw(fd) };
    match r.inner.try_pull(stream) {
        Ok(None) => {
            r.finished = true;
            r.eof = true;
            0
        }
        Ok(Some(message)) => {
            let (data, fds) = message.into_parts();
            r.data = data;
            r.fds = fds.into_iter().map(IntoRawFd::into_raw_fd).collect();
            let arg: *mut argdata_reader_t = r;
            r.root = argdata_t::new(Node::Buffer(Buf {
                ptr: r.data.as_ptr(),
                len: r.data.len(),
                convert: Some(lookup_fd),
                arg: arg.cast(),
            }));
            r.finished = true;
            0
        }
        Err(e) => e.errno(),
    }
}

/// Writes argdata messages to a stream; see `argdata.h`.
pub struct argdata_writer_t {
    next: *const argdata_t,
    message: Option<OutgoingMessage<Vec<u8>>>,
    fds: Vec<c_int>,
}

/// Creates a writer.
#[unsafe(no_mangle)]
pub extern "C" fn argdata_writer_create() -> *mut argdata_writer_t {
    Box::into_raw(Box::new(argdata_writer_t {
        next: ptr::null(),
        message: None,
        fds: Vec::new(),
    }))
}

/// Frees a writer.
///
/// # Safety
///
/// `aw` must be NULL or come from `argdata_writer_create`, and not be used afterwards.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn argdata_writer_free(aw: *mut argdata_writer_t) {
    if !aw.is_null() {
        // SAFETY: from Box::into_raw per the caller.
        drop(unsafe { Box::from_raw(aw) });
    }
}

/// Sets the value the next `argdata_writer_push` calls transmit.
///
/// # Safety
///
/// `aw` must be a live writer; `ad` a live value until the first push after this call.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn argdata_writer_set(aw: *mut argdata_writer_t, ad: *const argdata_t) {
    // SAFETY: live per the caller.
    unsafe { (*aw).next = ad };
}

/// Writes (part of) the current message to `fd`: 0 when done (or nothing to send), else
/// the error of `write`/`sendmsg` (`EAGAIN`, `EINTR`: call again, it carries on;
/// `ENOTSOCK`: descriptors need a UNIX socket), `EINVAL`/`EBADF` for a value that cannot
/// be encoded.
///
/// # Safety
///
/// `aw` must be a live writer, `fd` a descriptor that stays open during the call, and the
/// descriptors of the value set stay open until the message is sent.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn argdata_writer_push(aw: *mut argdata_writer_t, fd: c_int) -> c_int {
    // SAFETY: live per the caller.
    let w = unsafe { &mut *aw };
    if !w.next.is_null() {
        // SAFETY: the value set by argdata_writer_set is live per that call's contract.
        let value = match unsafe { to_value(w.next, MAX_DEPTH) } {
            Ok(v) => v,
            Err(e) => return e,
        };
        w.next = ptr::null();
        let mut body = Vec::new();
        let mut fds = Vec::new();
        value.encode_into(&mut body, &mut fds);
        if fds.iter().any(|f| f.0 < 0) {
            return libc::EBADF;
        }
        w.fds = fds.iter().map(|f| f.0).collect();
        w.message = Some(OutgoingMessage::new(body));
    }
    let Some(message) = w.message.as_mut() else {
        return 0;
    };
    if fd < 0 {
        return libc::EBADF;
    }
    // SAFETY: `fd` is not -1 (checked above) and stays open for this call per the
    // caller; the borrow does not outlive the call.
    let stream = unsafe { BorrowedFd::borrow_raw(fd) };
    let attached: Vec<BorrowedFd<'_>> = w
        .fds
        .iter()
        // SAFETY: each number is non-negative (checked when the message was set) and, per
        // this function's contract, stays open until the message is sent; the borrows end
        // with this call.
        .map(|&f| unsafe { BorrowedFd::borrow_raw(f) })
        .collect();
    loop {
        match message.send(stream, &attached) {
            Ok(false) => {}
            Ok(true) => break,
            Err(e) => return e.raw_os_error().unwrap_or(libc::EIO),
        }
    }
    w.message = None;
    w.fds.clear();
    0
}
