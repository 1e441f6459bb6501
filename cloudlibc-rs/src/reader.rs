//! The reading half of `argdata.h`, the same code for both targets (`core` only, no
//! allocation): the constants `argdata_false`, `argdata_true` and `argdata_null`, the
//! getters `argdata_get_binary`, `_bool`, `_fd`, `_float`, `_int_s`, `_int_u`, `_str`,
//! `_str_c` and `_timestamp`, and map and sequence iteration.
//!
//! Values are the nodes of `node.rs`. On the host they are built in memory by the
//! `argdata_create_*` functions or view a buffer (`argdata_from_buffer`, `ffi`); on
//! CloudABI every value views the startup argdata (`cloudabi`). A buffer's values are
//! read with the `argdata` crate's reader, whose errors become errno values here
//! (`errno_of`): Linux numbers on the host, CloudABI numbers on CloudABI, which differ.
//! The iterators keep their state inside the caller's `argdata_map_iterator_t` and
//! `argdata_seq_iterator_t`, laid out as `include/argdata.h` declares them.
#![allow(non_camel_case_types, non_upper_case_globals)]

use core::ffi::{CStr, c_char, c_int, c_long, c_void};
use core::ptr;

use argdata::{Int64, MapIter, SeqIter, Timestamp};

pub use crate::node::argdata_t;
use crate::node::{Node, node, slice};

/// `intmax_t` and `uintmax_t` (64 bits on every supported target).
type intmax_t = i64;
type uintmax_t = u64;

/// `struct timespec` of CloudABI (`time_t` is 64 bits, `tv_nsec` a `long`).
#[cfg(target_os = "cloudabi")]
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct timespec {
    /// Seconds since the epoch.
    pub tv_sec: i64,
    /// Nanoseconds, 0 to 999999999.
    pub tv_nsec: c_long,
}
#[cfg(not(target_os = "cloudabi"))]
use libc::timespec;

/// The errno values the getters return, as the target numbers them.
#[cfg(not(target_os = "cloudabi"))]
mod num {
    use core::ffi::c_int;

    pub(super) const EBADF: c_int = libc::EBADF;
    pub(super) const EILSEQ: c_int = libc::EILSEQ;
    pub(super) const EINVAL: c_int = libc::EINVAL;
    pub(super) const EIO: c_int = libc::EIO;
    pub(super) const ERANGE: c_int = libc::ERANGE;
}

/// The errno values the getters return, as the target numbers them.
#[cfg(target_os = "cloudabi")]
mod num {
    use cloudabi_types::Errno;
    use core::ffi::c_int;

    pub(super) const EBADF: c_int = Errno::BADF.0 as c_int;
    pub(super) const EILSEQ: c_int = Errno::ILSEQ.0 as c_int;
    pub(super) const EINVAL: c_int = Errno::INVAL.0 as c_int;
    pub(super) const EIO: c_int = Errno::IO.0 as c_int;
    pub(super) const ERANGE: c_int = Errno::RANGE.0 as c_int;
}

use num::{EBADF, EILSEQ, EINVAL, EIO, ERANGE};

/// The errno value of a reader error, in the target's numbering.
pub(crate) fn errno_of(e: argdata::Error) -> c_int {
    match e.errno() {
        argdata::Errno::Range => ERANGE,
        argdata::Errno::BadF => EBADF,
        argdata::Errno::IlSeq => EILSEQ,
        argdata::Errno::Io => EIO,
        // `Inval`, and any class added later.
        _ => EINVAL,
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

macro_rules! getter {
    ($ad:expr, $out:expr, |$b:ident| $from_buf:expr, $($pat:pat => $val:expr),* $(,)?) => {{
        // SAFETY: the C caller passes a pointer to a live value.
        let result: Result<_, c_int> = match unsafe { node($ad) } {
            Node::Buffer($b) => $from_buf,
            $($pat => $val,)*
            _ => Err(EINVAL),
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
        // SAFETY: the buffer stays valid (see `Buf::view`).
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
        // SAFETY: the buffer stays valid (see `Buf::view`).
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
        // SAFETY: the buffer stays valid (see `Buf::view`).
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
        // SAFETY: the buffer stays valid (see `Buf::view`).
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
            // SAFETY: the buffer stays valid (see `Buf::view`).
            unsafe { b.view() }.as_int64().map_err(errno_of)
        }
        Node::IntS(v) => Ok(Int64::Signed(v)),
        Node::IntU(v) => Ok(i64::try_from(v).map_or(Int64::Unsigned(v), Int64::Signed)),
        _ => Err(EINVAL),
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
        Ok(_) => ERANGE,
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
        _ => ERANGE,
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
        // SAFETY: the buffer stays valid (see `Buf::view`).
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
        // SAFETY: the buffer stays valid (see `Buf::view`).
        let v = unsafe { b.view() };
        v.as_c_str().map(CStr::as_ptr).map_err(errno_of)
    }, Node::Str(p, n) => {
        // SAFETY: the string and the byte after it are readable, as documented above.
        let bytes = unsafe { slice(p, n + 1) };
        if bytes[..n].contains(&0) || bytes[n] != 0 {
            Err(EILSEQ)
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
pub unsafe extern "C" fn argdata_get_timestamp(ad: *const argdata_t, ts: *mut timespec) -> c_int {
    getter!(ad, ts, |b| {
        // SAFETY: the buffer stays valid (see `Buf::view`).
        let v = unsafe { b.view() };
        v.as_timestamp().map(to_timespec).map_err(errno_of)
    }, Node::Timestamp(s, ns) => Ok(timespec { tv_sec: s, tv_nsec: c_long::from(ns as i32) }))
}

fn to_timespec(t: Timestamp) -> timespec {
    timespec {
        tv_sec: t.secs(),
        tv_nsec: c_long::from(t.subsec_nanos() as i32),
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
