//! `argdata_reader_*` and `argdata_writer_*`: argdata messages over stream descriptors.
//!
//! Wire format (the reference library's): a 12-byte header holding the data length (8
//! bytes, big-endian) and the number of descriptors (4 bytes, big-endian), then the
//! encoded value. Descriptors travel as one `SCM_RIGHTS` message attached to the first
//! chunk of data, so a message with descriptors needs a UNIX socket; one without can use
//! any stream (pipe, file).

use std::ffi::{c_int, c_void};
use std::ptr;

use argdata::MAX_DEPTH;

use super::{Buf, Node, argdata_t, to_value};

/// Reads argdata messages from a stream; see `argdata.h`.
pub struct argdata_reader_t {
    max_data: usize,
    max_fds: usize,
    finished: bool,
    eof: bool,
    header: [u8; 12],
    header_len: usize,
    data: Vec<u8>,
    data_len: usize,
    fds: Vec<c_int>,
    got_fds: bool,
    not_socket: bool,
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
        max_data: max_data_len,
        max_fds: max_fds_len.min(253),
        finished: false,
        eof: false,
        header: [0; 12],
        header_len: 0,
        data: Vec::new(),
        data_len: 0,
        fds: Vec::new(),
        got_fds: false,
        not_socket: false,
        root: argdata_t(Node::Null),
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

fn errno() -> c_int {
    std::io::Error::last_os_error()
        .raw_os_error()
        .unwrap_or(libc::EIO)
}

/// Reads (part of) the next message from `fd`: 0 when a message is complete or at a
/// clean end-of-file, `EMSGSIZE` if it exceeds the limits, `EBADMSG` if malformed or
/// truncated, or the error of `read`/`recvmsg` (`EAGAIN`: call again).
///
/// # Safety
///
/// `ar` must be a live reader.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn argdata_reader_pull(ar: *mut argdata_reader_t, fd: c_int) -> c_int {
    // SAFETY: live per the caller.
    let r = unsafe { &mut *ar };
    if r.finished {
        r.finished = false;
        r.eof = false;
        r.header_len = 0;
        r.data_len = 0;
        r.got_fds = false;
        r.not_socket = false;
        r.root = argdata_t(Node::Null);
        close_all(&mut r.fds);
    }
    while r.header_len < 12 {
        let want = 12 - r.header_len;
        // SAFETY: the header buffer has room for the remaining bytes.
        let at = unsafe { r.header.as_mut_ptr().add(r.header_len) };
        let n = match recv_chunk(r, fd, at, want) {
            Ok(n) => n,
            Err(e) => return e,
        };
        if n == 0 {
            if r.header_len == 0 {
                r.finished = true;
                r.eof = true;
                return 0;
            }
            return libc::EBADMSG;
        }
        r.header_len += n;
    }
    let data_len = u64::from_be_bytes(r.header[..8].try_into().unwrap_or([0xff; 8]));
    let fds_len = u32::from_be_bytes(r.header[8..].try_into().unwrap_or([0xff; 4]));
    let (Ok(data_len), Ok(fds_len)) = (usize::try_from(data_len), usize::try_from(fds_len)) else {
        return libc::EMSGSIZE;
    };
    if data_len > r.max_data || fds_len > r.max_fds {
        return libc::EMSGSIZE;
    }
    if r.data.len() != data_len {
        r.data = vec![0; data_len];
    }
    while r.data_len < data_len {
        // SAFETY: the data buffer has room for the remaining bytes.
        let at = unsafe { r.data.as_mut_ptr().add(r.data_len) };
        let n = match recv_chunk(r, fd, at, data_len - r.data_len) {
            Ok(n) => n,
            Err(e) => return e,
        };
        if n == 0 {
            return libc::EBADMSG;
        }
        r.data_len += n;
    }
    if r.fds.len() != fds_len {
        return libc::EBADMSG;
    }
    let arg: *mut argdata_reader_t = r;
    r.root = argdata_t(Node::Buffer(Buf {
        ptr: r.data.as_ptr(),
        len: data_len,
        convert: Some(lookup_fd),
        arg: arg.cast(),
    }));
    r.finished = true;
    0
}

/// Reads up to `len` bytes to `at`. Until the message's descriptors have arrived this
/// uses `recvmsg` with room for them: on Linux, a plain `read` of the bytes that carry
/// an `SCM_RIGHTS` message would discard the descriptors. Non-sockets fall back to `read`.
fn recv_chunk(
    r: &mut argdata_reader_t,
    fd: c_int,
    at: *mut u8,
    len: usize,
) -> Result<usize, c_int> {
    if !r.got_fds && !r.not_socket {
        let space = cmsg_space(r.max_fds.max(1));
        let mut control = vec![0u64; space.div_ceil(8)];
        let mut iov = libc::iovec {
            iov_base: at.cast(),
            iov_len: len,
        };
        // SAFETY: an all-zero msghdr is a valid empty header.
        let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
        msg.msg_iov = &mut iov;
        msg.msg_iovlen = 1;
        msg.msg_control = control.as_mut_ptr().cast();
        msg.msg_controllen = space;
        // SAFETY: msg points to valid buffers of the stated sizes (`at` has `len` bytes
        // of room, per the callers).
        let n = unsafe { libc::recvmsg(fd, &mut msg, libc::MSG_CMSG_CLOEXEC) };
        if n < 0 {
            let e = errno();
            if e != libc::ENOTSOCK {
                return Err(e);
            }
            r.not_socket = true;
        } else {
            // SAFETY: walking the control messages the kernel wrote into `control`.
            unsafe {
                let mut c = libc::CMSG_FIRSTHDR(&msg);
                while !c.is_null() {
                    if (*c).cmsg_level == libc::SOL_SOCKET && (*c).cmsg_type == libc::SCM_RIGHTS {
                        let count = ((*c).cmsg_len as usize - libc::CMSG_LEN(0) as usize) / 4;
                        let p = libc::CMSG_DATA(c).cast::<c_int>();
                        for i in 0..count {
                            r.fds.push(p.add(i).read_unaligned());
                        }
                        r.got_fds = true;
                    }
                    c = libc::CMSG_NXTHDR(&msg, c);
                }
            }
            if msg.msg_flags & libc::MSG_CTRUNC != 0 {
                return Err(libc::EBADMSG);
            }
            return Ok(n as usize);
        }
    }
    // SAFETY: `at` has room for `len` bytes, per the callers.
    let n = unsafe { libc::read(fd, at.cast(), len) };
    if n < 0 { Err(errno()) } else { Ok(n as usize) }
}

fn cmsg_space(fds: usize) -> usize {
    // SAFETY: CMSG_SPACE is a pure size computation.
    unsafe { libc::CMSG_SPACE(u32::try_from(fds * 4).unwrap_or(u32::MAX)) as usize }
}

/// Writes argdata messages to a stream; see `argdata.h`.
pub struct argdata_writer_t {
    next: *const argdata_t,
    data: Vec<u8>,
    sent: usize,
    fds: Vec<c_int>,
}

/// Creates a writer.
#[unsafe(no_mangle)]
pub extern "C" fn argdata_writer_create() -> *mut argdata_writer_t {
    Box::into_raw(Box::new(argdata_writer_t {
        next: ptr::null(),
        data: Vec::new(),
        sent: 0,
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
/// the error of `write`/`sendmsg` (`EAGAIN`: call again), `EINVAL`/`EBADF` for a value
/// that cannot be encoded.
///
/// # Safety
///
/// `aw` must be a live writer.
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
        w.data.clear();
        w.data.extend_from_slice(&(body.len() as u64).to_be_bytes());
        w.data.extend_from_slice(&(fds.len() as u32).to_be_bytes());
        w.data.extend_from_slice(&body);
        w.fds = fds.iter().map(|f| f.0).collect();
        w.sent = 0;
    }
    while w.sent < w.data.len() {
        let rest = &w.data[w.sent..];
        let n = if w.fds.is_empty() {
            // SAFETY: `rest` is a valid buffer of its length.
            unsafe { libc::write(fd, rest.as_ptr().cast(), rest.len()) }
        } else {
            let space = cmsg_space(w.fds.len());
            let mut control = vec![0u64; space.div_ceil(8)];
            let mut iov = libc::iovec {
                iov_base: rest.as_ptr().cast_mut().cast(),
                iov_len: rest.len(),
            };
            // SAFETY: an all-zero msghdr is a valid empty header.
            let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
            msg.msg_iov = &mut iov;
            msg.msg_iovlen = 1;
            msg.msg_control = control.as_mut_ptr().cast();
            msg.msg_controllen = space;
            // SAFETY: filling the single control message inside `control`, sized by
            // CMSG_SPACE for these descriptors; sendmsg only reads the buffers.
            unsafe {
                let c = libc::CMSG_FIRSTHDR(&msg);
                (*c).cmsg_level = libc::SOL_SOCKET;
                (*c).cmsg_type = libc::SCM_RIGHTS;
                (*c).cmsg_len = libc::CMSG_LEN(u32::try_from(w.fds.len() * 4).unwrap_or(0)) as _;
                let p = libc::CMSG_DATA(c).cast::<c_int>();
                for (i, fd) in w.fds.iter().enumerate() {
                    p.add(i).write_unaligned(*fd);
                }
                libc::sendmsg(fd, &msg, libc::MSG_NOSIGNAL)
            }
        };
        if n < 0 {
            return errno();
        }
        w.sent += n as usize;
        w.fds.clear();
    }
    0
}
