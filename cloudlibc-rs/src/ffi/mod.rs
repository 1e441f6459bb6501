//! The C ABI: every function of `argdata.h`, `program.h` and `capfs.h`.
//!
//! All raw pointers of this crate live in this module. Each exported function documents,
//! in its `# Safety` section, what the C caller must guarantee; these are the obligations
//! the reference headers state (pointers valid for the documented accesses, buffers and
//! arrays given to `argdata_from_buffer`, `argdata_create_binary`, `argdata_create_str`,
//! `argdata_create_map` and `argdata_create_seq` kept alive and unchanged while the value
//! is used, no concurrent mutation).
#![allow(non_camel_case_types, non_upper_case_globals)]

pub mod capfs;
mod node;
mod pool;
mod serialize;
pub mod start;
pub mod stream;

use std::ffi::{CStr, c_char, c_int, c_void};
use std::ptr;

use argdata::{Argdata, Fd, FdTable, Int64, MapIter, SeqIter, Timestamp, Value};

pub use node::argdata_t;
use node::{Buf, Node, boxed, node};
use serialize::Shape;

/// `intmax_t` and `uintmax_t` on Linux.
type intmax_t = i64;
type uintmax_t = u64;

/// The `convert_fd` callback of `argdata_from_buffer`.
pub type ConvertFd = unsafe extern "C" fn(*mut c_void, usize) -> c_int;

/// The converter for a buffer's fd leaves, for the `argdata` reader.
struct BufFds<'b>(&'b Buf);

impl argdata::FdConverter for BufFds<'_> {
    type Fd = Fd;

    fn convert(&self, index: u32) -> Option<Fd> {
        self.0.convert_fd(index).map(Fd)
    }
}

/// The constant `false`.
#[unsafe(no_mangle)]
pub static argdata_false: argdata_t = argdata_t::new(Node::Bool(false));
/// The constant `true`.
#[unsafe(no_mangle)]
pub static argdata_true: argdata_t = argdata_t::new(Node::Bool(true));
/// The constant null value.
#[unsafe(no_mangle)]
pub static argdata_null: argdata_t = argdata_t::new(Node::Null);

/// Stores `e` in the calling thread's `errno`.
pub(crate) fn set_errno(e: c_int) {
    // SAFETY: __errno_location returns a valid pointer to this thread's errno.
    unsafe { *libc::__errno_location() = e };
}

fn errno_of(e: argdata::Error) -> c_int {
    e.errno().linux()
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

/// # Safety
/// `p` must be valid for `n` bytes (or `n` is 0) for the chosen lifetime.
unsafe fn slice<'a>(p: *const u8, n: usize) -> &'a [u8] {
    if n == 0 {
        &[]
    } else {
        // SAFETY: guaranteed by the caller.
        unsafe { std::slice::from_raw_parts(p, n) }
    }
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

macro_rules! getter {
    ($ad:expr, $out:expr, |$b:ident| $from_buf:expr, $($pat:pat => $val:expr),* $(,)?) => {{
        // SAFETY: the C caller passes a pointer to a live value.
        let result: Result<_, c_int> = match unsafe { node($ad) } {
            Node::Buffer($b) => $from_buf,
            $($pat => $val,)*
            _ => Err(libc::EINVAL),
        };
        match result {
            Ok(v) => {
                // SAFETY: the C caller passes an output pointer valid for writes.
                unsafe { *$out = v };
                0
            }
            Err(e) => e,
        }
    }};
}

/// Gets a binary value: 0, or `EINVAL` for another type.
///
/// # Safety
///
/// `ad` must point to a live value; `data` and `len` must be valid for writes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn argdata_get_binary(
    ad: *const argdata_t,
    data: *mut *const c_void,
    len: *mut usize,
) -> c_int {
    let mut pair = (ptr::null::<c_void>(), 0usize);
    let out: *mut (*const c_void, usize) = &mut pair;
    let r = getter!(ad, out, |b| {
        // SAFETY: the buffer is valid per the caller of argdata_from_buffer.
        let v = unsafe { b.view() };
        v.as_binary().map(|s| (s.as_ptr().cast(), s.len())).map_err(errno_of)
    }, Node::Binary(p, n) => Ok((p.cast(), n)));
    if r == 0 {
        // SAFETY: valid for writes per the caller.
        unsafe {
            *data = pair.0;
            *len = pair.1;
        }
    }
    r
}

/// Gets a boolean: 0, or `EINVAL`.
///
/// # Safety
///
/// `ad` must point to a live value; `v` must be valid for writes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn argdata_get_bool(ad: *const argdata_t, v: *mut bool) -> c_int {
    getter!(ad, v, |b| {
        // SAFETY: the buffer is valid per the caller of argdata_from_buffer.
        unsafe { b.view() }.as_bool().map_err(errno_of)
    }, Node::Bool(x) => Ok(x))
}

/// Gets a descriptor: 0, `EINVAL` for another type, `EBADF` if not granted.
///
/// # Safety
///
/// `ad` must point to a live value; `fd` must be valid for writes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn argdata_get_fd(ad: *const argdata_t, fd: *mut c_int) -> c_int {
    getter!(ad, fd, |b| {
        // SAFETY: the buffer is valid per the caller of argdata_from_buffer.
        let v = unsafe { b.view() };
        v.as_fd(&|i: u32| b.convert_fd(i)).map_err(errno_of)
    }, Node::Fd(x) => Ok(x))
}

/// Gets a float: 0, or `EINVAL`.
///
/// # Safety
///
/// `ad` must point to a live value; `v` must be valid for writes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn argdata_get_float(ad: *const argdata_t, v: *mut f64) -> c_int {
    getter!(ad, v, |b| {
        // SAFETY: the buffer is valid per the caller of argdata_from_buffer.
        unsafe { b.view() }.as_float().map_err(errno_of)
    }, Node::Float(x) => Ok(x))
}

/// The integer of a value, or an errno (`EINVAL`, `ERANGE`). Buffer integers go through
/// [`Argdata::as_int64`], the reference's rule: one that fits neither `int64_t` nor
/// `uint64_t` is out of range for every getter.
///
/// # Safety
/// `ad` must point to a live value.
#[inline(always)]
unsafe fn int_of(ad: *const argdata_t) -> Result<Int64, c_int> {
    // SAFETY: forwarded from the caller.
    match unsafe { node(ad) } {
        Node::Buffer(b) => {
            // SAFETY: the buffer is valid per the caller of argdata_from_buffer.
            unsafe { b.view() }.as_int64().map_err(errno_of)
        }
        Node::IntS(v) => Ok(Int64::Signed(v)),
        Node::IntU(v) => Ok(i64::try_from(v).map_or(Int64::Unsigned(v), Int64::Signed)),
        _ => Err(libc::EINVAL),
    }
}

/// Gets a signed integer within `min ..= max`: 0, `EINVAL`, or `ERANGE`.
///
/// # Safety
///
/// `ad` must point to a live value; `v` must be valid for writes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn argdata_get_int_s(
    ad: *const argdata_t,
    v: *mut intmax_t,
    min: intmax_t,
    max: intmax_t,
) -> c_int {
    // SAFETY: forwarded from the caller.
    match unsafe { int_of(ad) } {
        Ok(Int64::Signed(x)) if (min..=max).contains(&x) => {
            // SAFETY: valid for writes per the caller.
            unsafe { *v = x };
            0
        }
        // Above `i64::MAX`, so above any `max`.
        Ok(_) => libc::ERANGE,
        Err(e) => e,
    }
}

/// Gets an unsigned integer not above `max`: 0, `EINVAL`, or `ERANGE`.
///
/// # Safety
///
/// `ad` must point to a live value; `v` must be valid for writes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn argdata_get_int_u(
    ad: *const argdata_t,
    v: *mut uintmax_t,
    max: uintmax_t,
) -> c_int {
    // SAFETY: forwarded from the caller.
    let x = match unsafe { int_of(ad) } {
        Ok(Int64::Signed(x)) => u64::try_from(x).ok(),
        Ok(Int64::Unsigned(x)) => Some(x),
        Err(e) => return e,
    };
    match x {
        Some(x) if x <= max => {
            // SAFETY: valid for writes per the caller.
            unsafe { *v = x };
            0
        }
        _ => libc::ERANGE,
    }
}

/// Gets a string and its length: 0, `EINVAL`, or `EILSEQ` for bad UTF-8.
///
/// # Safety
///
/// `ad` must point to a live value; `s` and `len` must be valid for writes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn argdata_get_str(
    ad: *const argdata_t,
    s: *mut *const c_char,
    len: *mut usize,
) -> c_int {
    let mut pair = (ptr::null::<c_char>(), 0usize);
    let out: *mut (*const c_char, usize) = &mut pair;
    let r = getter!(ad, out, |b| {
        // SAFETY: the buffer is valid per the caller of argdata_from_buffer.
        let v = unsafe { b.view() };
        v.as_str().map(|t| (t.as_ptr().cast(), t.len())).map_err(errno_of)
    }, Node::Str(p, n) => Ok((p.cast(), n)));
    if r == 0 {
        // SAFETY: valid for writes per the caller.
        unsafe {
            *s = pair.0;
            *len = pair.1;
        }
    }
    r
}

/// Gets a string as a C string: 0, `EINVAL`, or `EILSEQ` (bad UTF-8 or an inner NUL).
///
/// # Safety
///
/// `ad` must point to a live value; `s` must be valid for writes. For values made by
/// `argdata_create_str`, the byte after the string must be readable (and should be NUL).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn argdata_get_str_c(ad: *const argdata_t, s: *mut *const c_char) -> c_int {
    getter!(ad, s, |b| {
        // SAFETY: the buffer is valid per the caller of argdata_from_buffer.
        let v = unsafe { b.view() };
        v.as_c_str().map(CStr::as_ptr).map_err(errno_of)
    }, Node::Str(p, n) => {
        // SAFETY: the string and the byte after it are readable, as documented above.
        let bytes = unsafe { slice(p, n + 1) };
        if bytes[..n].contains(&0) || bytes[n] != 0 {
            Err(libc::EILSEQ)
        } else {
            Ok(p.cast())
        }
    })
}

/// Gets a timestamp: 0, `EINVAL`, or `ERANGE`.
///
/// # Safety
///
/// `ad` must point to a live value; `ts` must be valid for writes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn argdata_get_timestamp(
    ad: *const argdata_t,
    ts: *mut libc::timespec,
) -> c_int {
    getter!(ad, ts, |b| {
        // SAFETY: the buffer is valid per the caller of argdata_from_buffer.
        let v = unsafe { b.view() };
        v.as_timestamp().map(timespec).map_err(errno_of)
    }, Node::Timestamp(s, ns) => Ok(libc::timespec { tv_sec: s, tv_nsec: libc::c_long::from(ns as i32) }))
}

fn timespec(t: Timestamp) -> libc::timespec {
    libc::timespec {
        tv_sec: t.secs(),
        tv_nsec: libc::c_long::from(t.subsec_nanos() as i32),
    }
}

/// `ARGDATA_ITERATOR_END`.
const ITER_END: usize = usize::MAX;
/// `ARGDATA_ITERATOR_INVALID`.
const ITER_INVALID: usize = usize::MAX - 1;

/// `argdata_map_iterator_t`: an index and 128 bytes of state.
#[repr(C, align(16))]
pub struct argdata_map_iterator_t {
    index: usize,
    data: [u8; 128],
}

/// `argdata_seq_iterator_t`: an index and 128 bytes of state.
#[repr(C, align(16))]
pub struct argdata_seq_iterator_t {
    index: usize,
    data: [u8; 128],
}

#[derive(Clone)]
enum MapState {
    /// `key` and `value` always hold `Node::Buffer`s carrying the fd callback.
    Buffer {
        iter: MapIter<'static>,
        key: argdata_t,
        value: argdata_t,
    },
    Memory {
        keys: *const *const argdata_t,
        values: *const *const argdata_t,
        left: usize,
    },
}

#[derive(Clone)]
enum SeqState {
    /// `item` always holds a `Node::Buffer` carrying the fd callback.
    Buffer {
        iter: SeqIter<'static>,
        item: argdata_t,
    },
    Memory {
        items: *const *const argdata_t,
        left: usize,
    },
}

const _: () = {
    assert!(size_of::<MapState>() <= 128 && align_of::<MapState>() <= 8);
    assert!(size_of::<SeqState>() <= 128 && align_of::<SeqState>() <= 8);
};

/// The state inside an iterator's `data`.
///
/// # Safety
/// The iterator must have been initialized by the matching `*_iterate` function.
unsafe fn map_state(it: *const argdata_map_iterator_t) -> *mut MapState {
    // SAFETY: `data` lies 8 bytes into a 16-aligned struct, so it is 8-aligned, which the
    // assertion above shows suffices, and it is large enough.
    unsafe { ptr::addr_of!((*it).data).cast::<MapState>().cast_mut() }
}

/// See [`map_state`].
///
/// # Safety
/// As [`map_state`].
unsafe fn seq_state(it: *const argdata_seq_iterator_t) -> *mut SeqState {
    // SAFETY: as in `map_state`.
    unsafe { ptr::addr_of!((*it).data).cast::<SeqState>().cast_mut() }
}

/// Loads the next entry of a buffer map into the state; returns the new index.
#[inline(always)]
fn map_advance(state: &mut MapState, index: usize) -> usize {
    match state {
        MapState::Buffer { iter, key, value } => match iter.next() {
            None => ITER_END,
            Some(Err(_)) => ITER_INVALID,
            Some(Ok((k, v))) => {
                let buf = key.buf();
                *key = buf.child(k);
                *value = buf.child(v);
                index
            }
        },
        MapState::Memory { left, .. } => {
            if *left == 0 {
                ITER_END
            } else {
                index
            }
        }
    }
}

/// Starts iterating over a map: index 0, `ARGDATA_ITERATOR_END` for an empty map, or
/// `ARGDATA_ITERATOR_INVALID` for a value that is not a (well-formed) map.
///
/// # Safety
///
/// `ad` must point to a live value and `it` to writable iterator storage.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn argdata_map_iterate(
    ad: *const argdata_t,
    it: *mut argdata_map_iterator_t,
) {
    // SAFETY: `ad` is live per the caller.
    let state = match unsafe { node(ad) } {
        Node::Buffer(b) => {
            // SAFETY: the buffer is valid per the caller of argdata_from_buffer, for as long
            // as the value (and so this iterator) is used.
            match unsafe { b.view() }.map() {
                Ok(iter) => Some(MapState::Buffer {
                    iter,
                    key: argdata_t::new(Node::Buffer(b)),
                    value: argdata_t::new(Node::Buffer(b)),
                }),
                Err(_) => None,
            }
        }
        Node::Map(keys, values, left, _) => Some(MapState::Memory { keys, values, left }),
        _ => None,
    };
    let (state, index) = match state {
        Some(mut s) => {
            let index = map_advance(&mut s, 0);
            (s, index)
        }
        None => (
            MapState::Memory {
                keys: ptr::null(),
                values: ptr::null(),
                left: 0,
            },
            ITER_INVALID,
        ),
    };
    // SAFETY: `it` is writable per the caller; `map_state` points into it.
    unsafe {
        map_state(it).write(state);
        (*it).index = index;
    }
}

/// Gets the current entry; false past the end or after an error.
///
/// # Safety
///
/// `it` must have been initialized by `argdata_map_iterate`; `key` and `value` must be
/// valid for writes. The results point into `it` and live until it is advanced.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn argdata_map_get(
    it: *const argdata_map_iterator_t,
    key: *mut *const argdata_t,
    value: *mut *const argdata_t,
) -> bool {
    // SAFETY: initialized per the caller.
    if unsafe { (*it).index } >= ITER_INVALID {
        return false;
    }
    // SAFETY: initialized per the caller, so the state is valid.
    let (k, v) = match unsafe { &*map_state(it) } {
        MapState::Buffer { key, value, .. } => (key as *const argdata_t, value as *const argdata_t),
        // SAFETY: `left > 0` here, so both arrays have a current element.
        MapState::Memory { keys, values, .. } => unsafe { (**keys, **values) },
    };
    // SAFETY: valid for writes per the caller.
    unsafe {
        *key = k;
        *value = v;
    }
    true
}

/// Moves to the next entry (index `ARGDATA_ITERATOR_END` past the last one,
/// `ARGDATA_ITERATOR_INVALID` on corrupt data).
///
/// # Safety
///
/// `it` must have been initialized by `argdata_map_iterate`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn argdata_map_next(it: *mut argdata_map_iterator_t) {
    // SAFETY: initialized per the caller.
    let index = unsafe { (*it).index };
    if index >= ITER_INVALID {
        return;
    }
    // SAFETY: initialized per the caller, so the state is valid and uniquely borrowed.
    let state = unsafe { &mut *map_state(it) };
    if let MapState::Memory { keys, values, left } = state {
        // SAFETY: `left > 0`, so stepping one element stays within (or one past) the arrays.
        unsafe {
            *keys = keys.add(1);
            *values = values.add(1);
        }
        *left -= 1;
    }
    let next = map_advance(state, index + 1);
    // SAFETY: writable per the caller.
    unsafe { (*it).index = next };
}

#[inline(always)]
fn seq_advance(state: &mut SeqState, index: usize) -> usize {
    match state {
        SeqState::Buffer { iter, item } => match iter.next() {
            None => ITER_END,
            Some(Err(_)) => ITER_INVALID,
            Some(Ok(v)) => {
                *item = item.buf().child(v);
                index
            }
        },
        SeqState::Memory { left, .. } => {
            if *left == 0 {
                ITER_END
            } else {
                index
            }
        }
    }
}

/// Starts iterating over a sequence (see `argdata_map_iterate`).
///
/// # Safety
///
/// `ad` must point to a live value and `it` to writable iterator storage.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn argdata_seq_iterate(
    ad: *const argdata_t,
    it: *mut argdata_seq_iterator_t,
) {
    // SAFETY: `ad` is live per the caller.
    let state = match unsafe { node(ad) } {
        Node::Buffer(b) => {
            // SAFETY: as in argdata_map_iterate.
            match unsafe { b.view() }.seq() {
                Ok(iter) => Some(SeqState::Buffer {
                    iter,
                    item: argdata_t::new(Node::Buffer(b)),
                }),
                Err(_) => None,
            }
        }
        Node::Seq(items, left, _) => Some(SeqState::Memory { items, left }),
        _ => None,
    };
    let (state, index) = match state {
        Some(mut s) => {
            let index = seq_advance(&mut s, 0);
            (s, index)
        }
        None => (
            SeqState::Memory {
                items: ptr::null(),
                left: 0,
            },
            ITER_INVALID,
        ),
    };
    // SAFETY: `it` is writable per the caller; `seq_state` points into it.
    unsafe {
        seq_state(it).write(state);
        (*it).index = index;
    }
}

/// Gets the current element; false past the end or after an error.
///
/// # Safety
///
/// `it` must have been initialized by `argdata_seq_iterate`; `element` must be valid for
/// writes. The result points into `it` and lives until it is advanced.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn argdata_seq_get(
    it: *const argdata_seq_iterator_t,
    element: *mut *const argdata_t,
) -> bool {
    // SAFETY: initialized per the caller.
    if unsafe { (*it).index } >= ITER_INVALID {
        return false;
    }
    // SAFETY: initialized per the caller, so the state is valid.
    let e = match unsafe { &*seq_state(it) } {
        SeqState::Buffer { item, .. } => item as *const argdata_t,
        // SAFETY: `left > 0` here, so the array has a current element.
        SeqState::Memory { items, .. } => unsafe { **items },
    };
    // SAFETY: valid for writes per the caller.
    unsafe { *element = e };
    true
}

/// Moves to the next element (see `argdata_map_next`).
///
/// # Safety
///
/// `it` must have been initialized by `argdata_seq_iterate`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn argdata_seq_next(it: *mut argdata_seq_iterator_t) {
    // SAFETY: initialized per the caller.
    let index = unsafe { (*it).index };
    if index >= ITER_INVALID {
        return;
    }
    // SAFETY: initialized per the caller, so the state is valid and uniquely borrowed.
    let state = unsafe { &mut *seq_state(it) };
    if let SeqState::Memory { items, left } = state {
        // SAFETY: `left > 0`, so stepping one element stays within (or one past) the array.
        unsafe { *items = items.add(1) };
        *left -= 1;
    }
    let next = seq_advance(state, index + 1);
    // SAFETY: writable per the caller.
    unsafe { (*it).index = next };
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
