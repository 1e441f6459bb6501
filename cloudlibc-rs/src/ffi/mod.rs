//! The C ABI of the host: every function of `argdata.h`, `program.h` and `capfs.h`.
//!
//! The reading half of `argdata.h` (getters, iterators, the constants) is
//! [`crate::reader`], shared with CloudABI executables and re-exported here; this module
//! adds creation, `argdata_free`, serialization and YAML printing, the stream reader and
//! writer, `program.h` and `capfs.h`. All raw pointers of this crate live in these
//! modules and the node layout they share. Each exported function documents,
//! in its `# Safety` section, what the C caller must guarantee; these are the obligations
//! the reference headers state (pointers valid for the documented accesses, buffers and
//! arrays given to `argdata_from_buffer`, `argdata_create_binary`, `argdata_create_str`,
//! `argdata_create_map` and `argdata_create_seq` kept alive and unchanged while the value
//! is used, no concurrent mutation).
#![allow(non_camel_case_types, non_upper_case_globals)]

pub mod capfs;
pub(crate) mod pool;
mod serialize;
pub mod start;
pub mod stream;

use std::ffi::{CStr, c_char, c_int, c_void};
use std::ptr;

use argdata::{Argdata, Fd, FdTable, Timestamp, Value};

use crate::node::{Buf, Node, node, slice};
use crate::reader::errno_of;
pub use crate::reader::*;
use pool::boxed;
use serialize::Shape;

/// `intmax_t` and `uintmax_t` on Linux.
type intmax_t = i64;
type uintmax_t = u64;

/// The `convert_fd` callback of `argdata_from_buffer`.
pub type ConvertFd = crate::node::ConvertFd;

/// The converter for a buffer's fd leaves, for the `argdata` reader.
struct BufFds<'b>(&'b Buf);

impl argdata::FdConverter for BufFds<'_> {
    type Fd = Fd;

    fn convert(&self, index: u32) -> Option<Fd> {
        self.0.convert_fd(index).map(Fd)
    }
}

/// Stores `e` in the calling thread's `errno`.
pub(crate) fn set_errno(e: c_int) {
    // SAFETY: __errno_location returns a valid pointer to this thread's errno.
    unsafe { *libc::__errno_location() = e };
}

/// Creates a value viewing `len` encoded bytes at `buf`.
///
/// # Safety
///
/// `buf` must be valid for reads of `len` bytes, unchanged while the value and anything
/// obtained from it is used; `convert_fd`, if not NULL, must be callable with
/// `convert_fd_arg`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn argdata_from_buffer(
    buf: *const c_void,
    len: usize,
    convert_fd: Option<ConvertFd>,
    convert_fd_arg: *mut c_void,
) -> *mut argdata_t {
    boxed(Node::Buffer(Buf {
        ptr: buf.cast(),
        len,
        convert: convert_fd,
        arg: convert_fd_arg,
    }))
}

/// Creates a binary value (not copied).
///
/// # Safety
///
/// `buf` must be valid for reads of `len` bytes while the value is used.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn argdata_create_binary(buf: *const c_void, len: usize) -> *mut argdata_t {
    boxed(Node::Binary(buf.cast(), len))
}

/// Creates an fd value; a negative number fails with `EBADF`.
#[unsafe(no_mangle)]
pub extern "C" fn argdata_create_fd(fd: c_int) -> *mut argdata_t {
    if fd < 0 {
        set_errno(libc::EBADF);
        return ptr::null_mut();
    }
    boxed(Node::Fd(fd))
}

/// Creates a float value.
#[unsafe(no_mangle)]
pub extern "C" fn argdata_create_float(v: f64) -> *mut argdata_t {
    boxed(Node::Float(v))
}

/// Creates a signed integer value.
#[unsafe(no_mangle)]
pub extern "C" fn argdata_create_int_s(v: intmax_t) -> *mut argdata_t {
    boxed(Node::IntS(v))
}

/// Creates an unsigned integer value.
#[unsafe(no_mangle)]
pub extern "C" fn argdata_create_int_u(v: uintmax_t) -> *mut argdata_t {
    boxed(Node::IntU(v))
}

/// Creates a map of `n` pairs (arrays not copied).
///
/// # Safety
///
/// `keys` and `values` must each point to `n` pointers to live values, which are read
/// here (the map's encoded length is computed once, as the reference does) and must stay
/// valid and unchanged while the map is used.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn argdata_create_map(
    keys: *const *const argdata_t,
    values: *const *const argdata_t,
    n: usize,
) -> *mut argdata_t {
    // SAFETY: forwarded from the caller, who promises both arrays hold `n` live values now.
    let shape = unsafe { Shape::of_children(keys, Some(values), n) };
    boxed(Node::Map(keys, values, n, shape))
}

/// Creates a sequence of `n` elements (array not copied).
///
/// # Safety
///
/// `items` must point to `n` pointers to live values, read here (as for
/// `argdata_create_map`) and valid and unchanged while the sequence is used.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn argdata_create_seq(
    items: *const *const argdata_t,
    n: usize,
) -> *mut argdata_t {
    // SAFETY: forwarded from the caller, who promises the array holds `n` live values now.
    let shape = unsafe { Shape::of_children(items, None, n) };
    boxed(Node::Seq(items, n, shape))
}

/// Creates a string value (not copied); `EILSEQ` if not UTF-8.
///
/// # Safety
///
/// `s` must be valid for reads of `len` bytes while the value is used.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn argdata_create_str(s: *const c_char, len: usize) -> *mut argdata_t {
    let bytes = if len == 0 {
        &[][..]
    } else {
        // SAFETY: guaranteed by the caller.
        unsafe { std::slice::from_raw_parts(s.cast::<u8>(), len) }
    };
    if argdata::str_from_utf8(bytes).is_err() {
        set_errno(libc::EILSEQ);
        return ptr::null_mut();
    }
    boxed(Node::Str(s.cast(), len))
}

/// Creates a string value from a NUL-terminated string (not copied).
///
/// # Safety
///
/// `s` must point to a NUL-terminated string that stays valid while the value is used.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn argdata_create_str_c(s: *const c_char) -> *mut argdata_t {
    // SAFETY: guaranteed by the caller.
    let len = unsafe { CStr::from_ptr(s) }.to_bytes().len();
    // SAFETY: the `len` bytes before the terminator are readable, as the caller promised.
    unsafe { argdata_create_str(s, len) }
}

/// Creates a timestamp value (copied); `EINVAL` if `tv_nsec` is not in 0 ... 999999999.
///
/// # Safety
///
/// `ts` must point to a valid `struct timespec`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn argdata_create_timestamp(ts: *const libc::timespec) -> *mut argdata_t {
    // SAFETY: guaranteed by the caller.
    let ts = unsafe { &*ts };
    let t = u32::try_from(ts.tv_nsec)
        .ok()
        .and_then(|ns| Timestamp::from_parts(ts.tv_sec, ns));
    match t {
        Some(t) => boxed(Node::Timestamp(t.secs(), t.subsec_nanos())),
        None => {
            set_errno(libc::EINVAL);
            ptr::null_mut()
        }
    }
}

/// Frees a value made by an `argdata_create_*` function or `argdata_from_buffer`.
///
/// # Safety
///
/// `ad` must be NULL or a pointer returned by one of those functions, not freed before,
/// and not used afterwards. The constants `argdata_null/true/false` must not be freed.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn argdata_free(ad: *mut argdata_t) {
    if !ad.is_null() {
        // SAFETY: the pointer came from `boxed`, and is freed once, per the caller.
        unsafe { pool::free_node(ad) };
    }
}

/// Converts a value (and everything below it) into an owned [`Value`], fds as the
/// process-local numbers.
///
/// # Safety
/// `ad` must point to a live `argdata_t` whose referenced memory is valid.
pub(crate) unsafe fn to_value(ad: *const argdata_t, depth: usize) -> Result<Value, c_int> {
    // SAFETY: forwarded from the caller.
    let node = unsafe { node(ad) };
    let inner = || depth.checked_sub(1).ok_or(libc::EINVAL);
    Ok(match node {
        Node::Buffer(b) => {
            // SAFETY: the buffer is valid per the caller of argdata_from_buffer.
            let view = unsafe { b.view() };
            Value::from_argdata_with(view, &BufFds(&b)).map_err(errno_of)?
        }
        Node::Binary(p, n) => Value::Binary(
            // SAFETY: the binary data is valid per the caller of argdata_create_binary.
            unsafe { slice(p, n) }.to_vec(),
        ),
        Node::Bool(b) => Value::Bool(b),
        Node::Fd(fd) => Value::Fd(Fd(fd)),
        Node::Float(f) => Value::Float(f),
        Node::IntS(v) => Value::Int(i128::from(v)),
        Node::IntU(v) => Value::Int(i128::from(v)),
        Node::Map(keys, values, n, _) => {
            let d = inner()?;
            let mut out = Vec::with_capacity(n.min(1 << 16));
            for i in 0..n {
                // SAFETY: both arrays hold `n` valid pointers per argdata_create_map's caller.
                let (k, v) = unsafe { (*keys.add(i), *values.add(i)) };
                // SAFETY: as above.
                out.push(unsafe { (to_value(k, d)?, to_value(v, d)?) });
            }
            Value::Map(out)
        }
        Node::Seq(items, n, _) => {
            let d = inner()?;
            let mut out = Vec::with_capacity(n.min(1 << 16));
            for i in 0..n {
                // SAFETY: the array holds `n` valid pointers per argdata_create_seq's caller.
                out.push(unsafe { to_value(*items.add(i), d)? });
            }
            Value::Seq(out)
        }
        Node::Str(p, n) => {
            // SAFETY: the string is valid per the caller of argdata_create_str.
            let bytes = unsafe { slice(p, n) };
            Value::Str(
                std::str::from_utf8(bytes)
                    .map_err(|_| libc::EILSEQ)?
                    .to_owned(),
            )
        }
        Node::Timestamp(s, ns) => {
            Value::Timestamp(Timestamp::from_parts(s, ns).ok_or(libc::EINVAL)?)
        }
        Node::Null => Value::Null,
    })
}

/// Computes the encoded size and the number of fd leaves of a value, as the reference
/// does: a value from `argdata_from_buffer` is opaque, so its size is its buffer's length
/// and its fd leaves are those `argdata_serialize` would renumber (counted even when
/// their converter rejects them), however malformed the rest is. Only a tree built in
/// memory nesting deeper than `MAX_DEPTH` fails: both are then 0 and `errno` is `EINVAL`.
///
/// # Safety
///
/// `ad` must point to a live value; `size` must be valid for writes; `n_fds` NULL or valid.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn argdata_serialized_length(
    ad: *const argdata_t,
    size: *mut usize,
    n_fds: *mut usize,
) {
    // SAFETY: forwarded from the caller.
    let (len, fds) = unsafe { serialize::length(ad) }.unwrap_or_else(|e| {
        set_errno(e);
        (0, 0)
    });
    // SAFETY: `size` is valid for writes per the caller.
    unsafe { *size = len };
    if !n_fds.is_null() {
        // SAFETY: non-NULL `n_fds` is valid for writes per the caller.
        unsafe { *n_fds = fds };
    }
}

/// Encodes a value into `buf`. With `fds` non-NULL, descriptors are renumbered 0, 1, ...
/// in order of first appearance and `fds[i]` receives the descriptor encoded as `i`; the
/// number of distinct descriptors is returned. A buffer-backed value is copied as it is
/// except for its fd leaves: one its converter rejects is written as index 0xffffffff
/// and not listed. With `fds` NULL, fd leaves built in memory hold the descriptor
/// numbers, buffers are copied verbatim, and 0 is returned. On a memory-built tree
/// nesting deeper than `MAX_DEPTH` nothing is written, 0 is returned and `errno` is set.
///
/// # Safety
///
/// `ad` must point to a live value; `buf` must be valid for writes of the size
/// `argdata_serialized_length` reports; `fds` NULL or valid for as many `int`s as it
/// reports fd leaves.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn argdata_serialize(
    ad: *const argdata_t,
    buf: *mut c_void,
    fds: *mut c_int,
) -> usize {
    let mut list = serialize::FdList::default();
    let wanted = (!fds.is_null()).then_some(&mut list);
    // SAFETY: forwarded from the caller; `buf` holds as many bytes as
    // argdata_serialized_length reported for the same (unchanged) value, which is what
    // `serialize_into` writes.
    if let Err(e) = unsafe { serialize::serialize_into(ad, buf.cast(), wanted) } {
        set_errno(e);
        return 0;
    }
    if fds.is_null() {
        return 0;
    }
    for (i, fd) in list.fds.iter().enumerate() {
        // SAFETY: `fds` has room for every fd leaf per the caller; distinct fds are fewer.
        unsafe { *fds.add(i) = fd.0 };
    }
    list.fds.len()
}

/// Writes a value as YAML to `fp`, as the reference printer does: it never fails on
/// malformed data. A leaf that does not decode prints as `!!null "null"`, a map or
/// sequence stops at its first entry that does not parse (or prints as `!!null "null"`
/// if that is the first), an integer outside `int64_t` and `uint64_t` prints as
/// `!!null "null"`, and a descriptor prints as its process-local number, or as
/// `!fd "invalid"` where the buffer's converter rejects it. Only a memory-built tree
/// nesting deeper than `MAX_DEPTH` prints as `!!null "null"` with `errno` set.
///
/// # Safety
///
/// `ad` must point to a live value and `fp` to an open `FILE`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn argdata_print_yaml(ad: *const argdata_t, fp: *mut libc::FILE) {
    // Printing the serialized tree shows what printing node by node would: buffers keep
    // their bytes and structure, and every fd leaf indexes `list`, or no entry at all
    // where its converter rejected it.
    let mut list = serialize::FdList::default();
    // SAFETY: forwarded from the caller.
    let text = match unsafe { serialize::serialize(ad, Some(&mut list)) } {
        Ok(bytes) => argdata::yaml::to_string_lenient(Argdata::new(&bytes), &FdTable(&list.fds)),
        Err(e) => {
            set_errno(e);
            argdata::yaml::to_string_lenient(Argdata::NULL, &FdTable(&[]))
        }
    };
    // SAFETY: `fp` is an open FILE per the caller; the buffer holds `text.len()` bytes.
    unsafe { libc::fwrite(text.as_ptr().cast(), 1, text.len(), fp) };
}
