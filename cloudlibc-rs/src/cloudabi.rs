//! The C API for CloudABI executables (`target_os = "cloudabi"`, `no_std`).
//!
//! Built as `libcloudlibc_rs.a` for `x86_64-unknown-cloudabi` or
//! `aarch64-unknown-cloudabi` (`cargo xtask cloudabi build`), this provides what a
//! freestanding C program needs to run as a CloudABI executable:
//!
//! * the entry point `_start`, which runs the startup of `program` (self-relocation, vDSO,
//!   TCB; see `program::cloudabi`) and calls the C function
//!   `void program_main(const argdata_t *ad)`; returning from it exits with status 0;
//! * the reading half of `argdata.h` ([`crate::reader`], the same code as on the host):
//!   the constants, the getters and map and sequence iteration, over a root value that
//!   views the startup argdata. Errors are CloudABI errno values. A descriptor is the
//!   program's own number (CloudABI numbers them 0 ... n-1);
//! * the system calls of `include/cloudabi_syscalls.h` as `cloudabi_sys_*` functions,
//!   forwarded to the vDSO (`ENOSYS` if it lacks one).
//!
//! `memcpy`, `memset`, `memcmp` and `strlen` come from the compiler's builtins.

use core::ffi::{c_int, c_void};
use core::ptr;

use argdata::Argdata;
use cloudabi_types::{Ciovec, Errno, Iovec, SyscallNumber};
use program::cloudabi::sys;

use crate::node::{Buf, Node};
use crate::reader::argdata_t;

// C only ever sees `argdata_t` as an opaque type behind a pointer.
#[allow(improper_ctypes)]
unsafe extern "C" {
    /// The C program's entry point.
    fn program_main(ad: *const argdata_t);
}

/// The fd callback of the startup argdata: index `i` is the program's descriptor `i`.
extern "C" fn own_fd(_: *mut c_void, index: usize) -> c_int {
    c_int::try_from(index).unwrap_or(-1)
}

fn c_main(ad: Argdata<'static>) -> u32 {
    let bytes = ad.as_bytes();
    let ad = argdata_t::new(Node::Buffer(Buf {
        ptr: bytes.as_ptr(),
        len: bytes.len(),
        convert: Some(own_fd),
        arg: ptr::null_mut(),
    }));
    // SAFETY: `program_main` is the C program's function with the documented signature;
    // `ad` outlives the call, and the startup bytes it views live as long as the program.
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
