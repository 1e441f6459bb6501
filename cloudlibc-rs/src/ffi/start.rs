//! `program.h`: start-up for C programs, `program_get_raw_argdata`, `program_exec`.

use std::ffi::{c_char, c_int, c_void};
use std::os::fd::BorrowedFd;
use std::ptr;
use std::sync::OnceLock;

use argdata::MAX_DEPTH;

use super::{set_errno, to_value};
use crate::node::{Buf, Node, argdata_t};

/// The root value handed to `program_main`, built once at start-up.
struct Root(argdata_t);

// SAFETY: the root views the start-up bytes, which live in a static and never change.
unsafe impl Send for Root {}
// SAFETY: as above; argdata_t is immutable.
unsafe impl Sync for Root {}

static ROOT: OnceLock<Root> = OnceLock::new();

/// The `convert_fd` callback of the root: accepts the granted descriptors only.
unsafe extern "C" fn convert_granted(_arg: *mut c_void, index: usize) -> c_int {
    u32::try_from(index)
        .ok()
        .and_then(|i| argdata::FdConverter::convert(&program::fds(), i))
        .unwrap_or(-1)
}

/// Called by the `main` in `program_start.c`: receives the argdata and runs `entry`.
/// Returns the exit status (`entry` returning means success).
///
/// # Safety
///
/// `argv` must hold `argc` valid C strings, as `main` receives them; this must run before
/// the program starts other threads; `entry` must be NULL or a function taking the root.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn __cloudlibc_rs_start(
    argc: c_int,
    argv: *const *const c_char,
    entry: Option<unsafe extern "C" fn(*const argdata_t)>,
) -> c_int {
    let _ = (argc, argv);
    let name = program::program_name();
    let Some(entry) = entry else {
        eprintln!("{name}: the program defines neither main nor program_main");
        return 70;
    };
    // SAFETY: called from `main` before other threads exist, per this function's contract.
    let startup = match unsafe { program::init(std::env::args_os().skip(1)) } {
        Ok(s) => s,
        Err(e) => {
            eprintln!("{name}: {e}");
            return c_int::from(e.exit_status());
        }
    };
    // C programs decode their argdata themselves: the diagnostics pipe is not theirs.
    program::startup::close_diagnostics();
    let bytes = startup.bytes();
    let root = ROOT.get_or_init(|| {
        Root(argdata_t::new(Node::Buffer(Buf {
            ptr: bytes.as_ptr(),
            len: bytes.len(),
            convert: Some(convert_granted),
            arg: ptr::null_mut(),
        })))
    });
    // SAFETY: the root lives in a static for the rest of the process.
    unsafe { entry(&root.0) };
    0
}

/// Stores the start-up argdata in `*buf` and `*len` (NULL and 0 before start-up).
///
/// # Safety
///
/// `buf` and `len` must be valid for writes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn program_get_raw_argdata(buf: *mut *const c_void, len: *mut usize) {
    let (p, n) = match program::raw_argdata() {
        Some(b) => (b.as_ptr().cast(), b.len()),
        None => (ptr::null(), 0),
    };
    // SAFETY: valid for writes per the caller.
    unsafe {
        *buf = p;
        *len = n;
    }
}

/// Replaces the process by the executable `fd`, handing it `ad` (see `program.h`).
///
/// # Safety
///
/// `ad` must point to a live value.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn program_exec(fd: c_int, ad: *const argdata_t) -> c_int {
    if fd < 0 {
        return libc::EBADF;
    }
    // SAFETY: forwarded from the caller.
    let value = match unsafe { to_value(ad, MAX_DEPTH) } {
        Ok(v) => v,
        Err(e) => return e,
    };
    // SAFETY: F_GETFD only inspects the descriptor table.
    if unsafe { libc::fcntl(fd, libc::F_GETFD) } < 0 {
        return libc::EBADF;
    }
    // SAFETY: `fd` is open (checked above) and only borrowed for the exec attempt.
    let exe = unsafe { BorrowedFd::borrow_raw(fd) };
    let err = program::launch::exec(exe, &value);
    let e = err.raw_os_error().unwrap_or(libc::EIO);
    set_errno(e);
    e
}
