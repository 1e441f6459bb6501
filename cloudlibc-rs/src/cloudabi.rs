//! The C API for CloudABI executables (`target_os = "cloudabi"`, `no_std`).
//!
//! Built as `libcloudlibc_rs.a` for `x86_64-unknown-cloudabi` or
//! `aarch64-unknown-cloudabi` (`cargo xtask cloudabi build`), this provides what a
//! freestanding C program needs to run as a CloudABI executable:
//!
//! * the entry point `_start`, which runs the startup of `program` (self-relocation, vDSO,
//!   TCB; see `program::cloudabi`) and calls the C function
//!   `void program_main(const argdata_t *ad)`; returning from it exits with status 0;
//! * the reading half of `argdata.h`: `argdata_get_binary`, `_bool`, `_fd`, `_str`,
//!   `_str_c`, and map and sequence iteration. Errors are CloudABI errno values. A
//!   descriptor is the program's own number (CloudABI numbers them 0 ... n-1);
//! * the system calls of `include/cloudabi_syscalls.h` as `cloudabi_sys_*` functions,
//!   forwarded to the vDSO (`ENOSYS` if it lacks one).
//!
//! `memcpy`, `memset`, `memcmp` and `strlen` come from the compiler's builtins.

use core::ffi::{c_char, c_int, c_void};

use argdata::{Argdata, MapIter, SeqIter};
use cloudabi_types::{Ciovec, Errno, Iovec, SyscallNumber};
use program::cloudabi::sys;

/// `argdata_t`: a reader view; C code only ever holds pointers to it.
#[allow(non_camel_case_types)]
#[derive(Clone, Copy)]
pub struct argdata_t(Argdata<'static>);

// C only ever sees `argdata_t` as an opaque type behind a pointer.
#[allow(improper_ctypes)]
unsafe extern "C" {
    /// The C program's entry point.
    fn program_main(ad: *const argdata_t);
}

fn c_main(ad: Argdata<'static>) -> u32 {
    let ad = argdata_t(ad);
    // SAFETY: `program_main` is the C program's function with the documented signature;
    // `ad` outlives the call.
    unsafe { program_main(&ad) };
    0
}

/// The CloudABI entry point.
///
/// # Safety
///
/// Only the kernel (or emulator) calls it, once, with the auxiliary vector.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn _start(auxv: *const u64) -> ! {
    // SAFETY: forwarded from this function's contract.
    unsafe { program::cloudabi::start(auxv, c_main) }
}

fn errno(e: argdata::Error) -> c_int {
    let n = match e.kind().errno() {
        argdata::Errno::Range => Errno::RANGE,
        argdata::Errno::BadF => Errno::BADF,
        argdata::Errno::IlSeq => Errno::ILSEQ,
        argdata::Errno::Io => Errno::IO,
        _ => Errno::INVAL,
    };
    c_int::from(n.0)
}

/// Runs `f` on the value behind `ad` and stores its result in `out`.
///
/// # Safety
///
/// `ad` must come from this library and `out` be valid for writes.
unsafe fn get<T>(
    ad: *const argdata_t,
    out: *mut T,
    f: impl FnOnce(&Argdata<'static>) -> Result<T, argdata::Error>,
) -> c_int {
    // SAFETY: the caller passes a live argdata_t.
    match f(unsafe { &(*ad).0 }) {
        Ok(v) => {
            // SAFETY: the caller passes a writable out pointer.
            unsafe { out.write(v) };
            0
        }
        Err(e) => errno(e),
    }
}

/// `int argdata_get_binary(const argdata_t *, const void **, size_t *)`.
///
/// # Safety
///
/// Pointers as in C: a live `argdata_t` and writable outputs.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn argdata_get_binary(
    ad: *const argdata_t,
    value: *mut *const c_void,
    len: *mut usize,
) -> c_int {
    let mut bytes: (*const c_void, usize) = (core::ptr::null(), 0);
    // SAFETY: forwarded.
    let r = unsafe {
        get(ad, &mut bytes, |a| {
            a.as_binary().map(|b| (b.as_ptr().cast(), b.len()))
        })
    };
    if r == 0 {
        // SAFETY: forwarded.
        unsafe {
            value.write(bytes.0);
            len.write(bytes.1);
        }
    }
    r
}

/// `int argdata_get_bool(const argdata_t *, bool *)`.
///
/// # Safety
///
/// As [`argdata_get_binary`].
#[unsafe(no_mangle)]
pub unsafe extern "C" fn argdata_get_bool(ad: *const argdata_t, value: *mut bool) -> c_int {
    // SAFETY: forwarded.
    unsafe { get(ad, value, Argdata::as_bool) }
}

/// `int argdata_get_fd(const argdata_t *, int *)`: the program's own descriptor number.
///
/// # Safety
///
/// As [`argdata_get_binary`].
#[unsafe(no_mangle)]
pub unsafe extern "C" fn argdata_get_fd(ad: *const argdata_t, fd: *mut c_int) -> c_int {
    // SAFETY: forwarded.
    unsafe { get(ad, fd, |a| a.as_fd(&|i: u32| c_int::try_from(i).ok())) }
}

/// `int argdata_get_str(const argdata_t *, const char **, size_t *)`.
///
/// # Safety
///
/// As [`argdata_get_binary`].
#[unsafe(no_mangle)]
pub unsafe extern "C" fn argdata_get_str(
    ad: *const argdata_t,
    value: *mut *const c_char,
    len: *mut usize,
) -> c_int {
    let mut s: (*const c_char, usize) = (core::ptr::null(), 0);
    // SAFETY: forwarded.
    let r = unsafe {
        get(ad, &mut s, |a| {
            a.as_str().map(|t| (t.as_ptr().cast(), t.len()))
        })
    };
    if r == 0 {
        // SAFETY: forwarded.
        unsafe {
            value.write(s.0);
            len.write(s.1);
        }
    }
    r
}

/// `int argdata_get_str_c(const argdata_t *, const char **)`: fails with `EILSEQ` for a
/// string holding a NUL byte.
///
/// # Safety
///
/// As [`argdata_get_binary`].
#[unsafe(no_mangle)]
pub unsafe extern "C" fn argdata_get_str_c(
    ad: *const argdata_t,
    value: *mut *const c_char,
) -> c_int {
    // SAFETY: forwarded.
    unsafe { get(ad, value, |a| a.as_c_str().map(|c| c.as_ptr())) }
}

/// `ARGDATA_ITERATOR_END`.
const END: usize = usize::MAX;
/// `ARGDATA_ITERATOR_INVALID`.
const INVALID: usize = usize::MAX - 1;

/// `argdata_map_iterator_t`.
#[allow(non_camel_case_types)]
#[repr(C, align(16))]
pub struct argdata_map_iterator_t {
    index: usize,
    data: [u8; 128],
}

/// `argdata_seq_iterator_t`.
#[allow(non_camel_case_types)]
#[repr(C, align(16))]
pub struct argdata_seq_iterator_t {
    index: usize,
    data: [u8; 128],
}

/// What a map iterator keeps in its `data`: the rest of the map and the current entry.
#[derive(Clone)]
struct MapState {
    rest: MapIter<'static>,
    key: argdata_t,
    value: argdata_t,
}

/// What a sequence iterator keeps in its `data`.
#[derive(Clone)]
struct SeqState {
    rest: SeqIter<'static>,
    element: argdata_t,
}

const _: () = assert!(core::mem::size_of::<MapState>() <= 128);
const _: () = assert!(core::mem::size_of::<SeqState>() <= 128);
const _: () = assert!(core::mem::align_of::<MapState>() <= 8);
const _: () = assert!(core::mem::align_of::<SeqState>() <= 8);

impl argdata_map_iterator_t {
    fn state(&self) -> *const MapState {
        self.data.as_ptr().cast()
    }

    /// Moves to the next entry of `rest`.
    fn advance(&mut self, mut rest: MapIter<'static>, index: usize) {
        match rest.next() {
            Some(Ok((k, v))) => {
                let state = MapState {
                    rest,
                    key: argdata_t(k),
                    value: argdata_t(v),
                };
                // SAFETY: `data` is 128 bytes at offset 8, enough and aligned for MapState
                // (checked above); it holds plain data that needs no drop.
                unsafe { self.data.as_mut_ptr().cast::<MapState>().write(state) };
                self.index = index;
            }
            None => self.index = END,
            Some(Err(_)) => self.index = INVALID,
        }
    }
}

impl argdata_seq_iterator_t {
    fn state(&self) -> *const SeqState {
        self.data.as_ptr().cast()
    }

    fn advance(&mut self, mut rest: SeqIter<'static>, index: usize) {
        match rest.next() {
            Some(Ok(e)) => {
                let state = SeqState {
                    rest,
                    element: argdata_t(e),
                };
                // SAFETY: as for maps.
                unsafe { self.data.as_mut_ptr().cast::<SeqState>().write(state) };
                self.index = index;
            }
            None => self.index = END,
            Some(Err(_)) => self.index = INVALID,
        }
    }
}

/// `void argdata_map_iterate(const argdata_t *, argdata_map_iterator_t *)`.
///
/// # Safety
///
/// A live `argdata_t` and a writable iterator.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn argdata_map_iterate(
    ad: *const argdata_t,
    it: *mut argdata_map_iterator_t,
) {
    // SAFETY: forwarded.
    let (ad, it) = unsafe { (&*ad, &mut *it) };
    match ad.0.map() {
        Ok(rest) => it.advance(rest, 0),
        Err(_) => it.index = INVALID,
    }
}

/// `bool argdata_map_get(const argdata_map_iterator_t *, const argdata_t **, const argdata_t **)`.
///
/// # Safety
///
/// An iterator set up by [`argdata_map_iterate`] and writable outputs.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn argdata_map_get(
    it: *const argdata_map_iterator_t,
    key: *mut *const argdata_t,
    value: *mut *const argdata_t,
) -> bool {
    // SAFETY: forwarded.
    let it = unsafe { &*it };
    if it.index >= INVALID {
        return false;
    }
    let s = it.state();
    // SAFETY: a valid index means `advance` stored a MapState.
    unsafe {
        key.write(&raw const (*s).key);
        value.write(&raw const (*s).value);
    }
    true
}

/// `void argdata_map_next(argdata_map_iterator_t *)`.
///
/// # Safety
///
/// As [`argdata_map_get`].
#[unsafe(no_mangle)]
pub unsafe extern "C" fn argdata_map_next(it: *mut argdata_map_iterator_t) {
    // SAFETY: forwarded.
    let it = unsafe { &mut *it };
    if it.index >= INVALID {
        return;
    }
    // SAFETY: a valid index means `advance` stored a MapState.
    let rest = unsafe { (*it.state()).rest.clone() };
    it.advance(rest, it.index + 1);
}

/// `void argdata_seq_iterate(const argdata_t *, argdata_seq_iterator_t *)`.
///
/// # Safety
///
/// As [`argdata_map_iterate`].
#[unsafe(no_mangle)]
pub unsafe extern "C" fn argdata_seq_iterate(
    ad: *const argdata_t,
    it: *mut argdata_seq_iterator_t,
) {
    // SAFETY: forwarded.
    let (ad, it) = unsafe { (&*ad, &mut *it) };
    match ad.0.seq() {
        Ok(rest) => it.advance(rest, 0),
        Err(_) => it.index = INVALID,
    }
}

/// `bool argdata_seq_get(const argdata_seq_iterator_t *, const argdata_t **)`.
///
/// # Safety
///
/// As [`argdata_map_get`].
#[unsafe(no_mangle)]
pub unsafe extern "C" fn argdata_seq_get(
    it: *const argdata_seq_iterator_t,
    element: *mut *const argdata_t,
) -> bool {
    // SAFETY: forwarded.
    let it = unsafe { &*it };
    if it.index >= INVALID {
        return false;
    }
    // SAFETY: a valid index means `advance` stored a SeqState.
    unsafe { element.write(&raw const (*it.state()).element) };
    true
}

/// `void argdata_seq_next(argdata_seq_iterator_t *)`.
///
/// # Safety
///
/// As [`argdata_map_get`].
#[unsafe(no_mangle)]
pub unsafe extern "C" fn argdata_seq_next(it: *mut argdata_seq_iterator_t) {
    // SAFETY: forwarded.
    let it = unsafe { &mut *it };
    if it.index >= INVALID {
        return;
    }
    // SAFETY: a valid index means `advance` stored a SeqState.
    let rest = unsafe { (*it.state()).rest.clone() };
    it.advance(rest, it.index + 1);
}

macro_rules! forward {
    ($(#[$doc:meta])* $name:ident = $number:ident ($($arg:ident : $ty:ty),*)) => {
        $(#[$doc])*
        ///
        /// # Safety
        ///
        /// As the system call: pointers valid for what it reads and writes.
        #[unsafe(no_mangle)]
        pub unsafe extern "C" fn $name($($arg: $ty),*) -> u16 {
            match sys::entry(SyscallNumber::$number) {
                // SAFETY: the vDSO's function for this call has this C signature.
                Some(f) => unsafe {
                    let f: unsafe extern "C" fn($($ty),*) -> u16 = core::mem::transmute(f);
                    f($($arg),*)
                },
                None => Errno::NOSYS.0,
            }
        }
    };
}

forward!(
    /// `cloudabi_sys_fd_close(fd)`.
    cloudabi_sys_fd_close = FD_CLOSE(fd: u32)
);
forward!(
    /// `cloudabi_sys_fd_read(fd, iovs, iovs_len, nread)`.
    cloudabi_sys_fd_read = FD_READ(fd: u32, iovs: *const Iovec, iovs_len: usize, nread: *mut usize)
);
forward!(
    /// `cloudabi_sys_fd_write(fd, iovs, iovs_len, nwritten)`.
    cloudabi_sys_fd_write = FD_WRITE(fd: u32, iovs: *const Ciovec, iovs_len: usize, nwritten: *mut usize)
);
forward!(
    /// `cloudabi_sys_file_readdir(fd, buf, buf_len, cookie, bufused)`.
    cloudabi_sys_file_readdir = FILE_READDIR(fd: u32, buf: *mut c_void, buf_len: usize, cookie: u64, bufused: *mut usize)
);
forward!(
    /// `cloudabi_sys_random_get(buf, buf_len)`.
    cloudabi_sys_random_get = RANDOM_GET(buf: *mut c_void, buf_len: usize)
);
forward!(
    /// `cloudabi_sys_clock_time_get(clock_id, precision, time)`.
    cloudabi_sys_clock_time_get = CLOCK_TIME_GET(clock_id: u32, precision: u64, time: *mut u64)
);

/// `cloudabi_sys_proc_exit(rval)`: ends the process.
#[unsafe(no_mangle)]
pub extern "C" fn cloudabi_sys_proc_exit(rval: u32) -> ! {
    sys::proc_exit(rval)
}
