//! Stands in for a runner such as `qemu-aarch64-static` in `tests/runner.rs`: started by
//! `cloudabi-run --runner THIS PROGRAM`, it gets the path `/program` as `argv[1]` and attacks
//! that file, which the sandbox shows read-only. One line per attempt on standard output:
//! `DENIED name: errno` when refused, `ESCAPED name` when it went through, and for the
//! legitimate read `OK read LEN HASH` (FNV-1a of the contents, which the test compares with
//! the file on the host).
//!
//! Built by the test as a static executable with plain `rustc`; it only needs `std` and the
//! raw system calls it declares itself.

use std::ffi::CString;
use std::io::{Read, Write};
use std::os::raw::{c_char, c_int, c_long, c_uint, c_ulong, c_void};

unsafe extern "C" {
    fn open(path: *const c_char, flags: c_int, ...) -> c_int;
    fn close(fd: c_int) -> c_int;
    fn unlink(path: *const c_char) -> c_int;
    fn rename(from: *const c_char, to: *const c_char) -> c_int;
    fn link(from: *const c_char, to: *const c_char) -> c_int;
    fn chmod(path: *const c_char, mode: c_uint) -> c_int;
    fn truncate(path: *const c_char, len: i64) -> c_int;
    fn mount(
        src: *const c_char,
        target: *const c_char,
        fstype: *const c_char,
        flags: c_ulong,
        data: *const c_void,
    ) -> c_int;
    fn umount2(target: *const c_char, flags: c_int) -> c_int;
    fn execve(path: *const c_char, argv: *const *const c_char, envp: *const *const c_char)
    -> c_int;
    fn mmap(addr: *mut c_void, len: usize, prot: c_int, flags: c_int, fd: c_int, off: i64)
    -> *mut c_void;
    fn syscall(number: c_long, ...) -> c_long;
    fn __errno_location() -> *mut c_int;
}

const O_RDONLY: c_int = 0;
const O_WRONLY: c_int = 1;
const O_RDWR: c_int = 2;
const O_CREAT: c_int = 0o100;
const O_TRUNC: c_int = 0o1000;
const O_DIRECTORY: c_int = 0o200000;
const PROT_READ: c_int = 1;
const PROT_WRITE: c_int = 2;
const PROT_EXEC: c_int = 4;
const MAP_SHARED: c_int = 1;
const MAP_PRIVATE: c_int = 2;
const MS_RDONLY: c_ulong = 1;
const MS_REMOUNT: c_ulong = 32;
const MS_BIND: c_ulong = 4096;
const MNT_DETACH: c_int = 2;
const SYS_OPEN_TREE: c_long = 428;
const OPEN_TREE_CLONE: c_long = 1;

fn errno() -> c_int {
    // SAFETY: reads the calling thread's errno.
    unsafe { *__errno_location() }
}

fn cstr(s: &str) -> CString {
    CString::new(s).expect("no NUL")
}

/// Prints the verdict of one attack: `result < 0` means the kernel refused it.
fn verdict(out: &mut impl Write, name: &str, result: c_long) {
    if result < 0 {
        writeln!(out, "DENIED {name}: {}", errno()).expect("write");
    } else {
        writeln!(out, "ESCAPED {name}").expect("write");
    }
}

/// Opens `path` with `flags`; a success is closed again.
fn try_open(path: &CString, flags: c_int) -> c_long {
    // SAFETY: a NUL-terminated path; the mode argument is read only with O_CREAT.
    let fd = unsafe { open(path.as_ptr(), flags, 0o644 as c_uint) };
    if fd >= 0 {
        // SAFETY: closing the descriptor just opened.
        unsafe { close(fd) };
    }
    fd as c_long
}

fn main() {
    let path = std::env::args().nth(1).expect("argv[1]: the program's path");
    let mut out = std::io::stdout().lock();
    let p = cstr(&path);
    let root = cstr("/");
    let other = cstr("/other");

    // The legitimate use: read the whole file.
    match std::fs::File::open(&path).and_then(|mut f| {
        let mut v = Vec::new();
        f.read_to_end(&mut v).map(|_| v)
    }) {
        Ok(bytes) => {
            let hash = bytes.iter().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
                (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3)
            });
            writeln!(out, "OK read {} {hash:016x}", bytes.len()).expect("write");
        }
        Err(e) => writeln!(out, "FAILED read: {e}").expect("write"),
    }

    verdict(&mut out, "open-readwrite", try_open(&p, O_RDWR));
    verdict(&mut out, "open-write-truncate", try_open(&p, O_WRONLY | O_TRUNC));
    verdict(&mut out, "create-beside", try_open(&other, O_WRONLY | O_CREAT));
    verdict(&mut out, "list-root", try_open(&root, O_RDONLY | O_DIRECTORY));
    // SAFETY (all calls below): NUL-terminated paths and null or valid pointers.
    verdict(&mut out, "truncate", unsafe { truncate(p.as_ptr(), 0) } as c_long);
    verdict(&mut out, "unlink", unsafe { unlink(p.as_ptr()) } as c_long);
    verdict(&mut out, "rename", unsafe { rename(p.as_ptr(), other.as_ptr()) } as c_long);
    verdict(&mut out, "link", unsafe { link(p.as_ptr(), other.as_ptr()) } as c_long);
    verdict(&mut out, "chmod", unsafe { chmod(p.as_ptr(), 0o6777) } as c_long);
    let null = std::ptr::null();
    verdict(&mut out, "remount-writable", unsafe {
        mount(null, p.as_ptr(), null, MS_REMOUNT | MS_BIND, std::ptr::null())
    } as c_long);
    verdict(&mut out, "remount-root-writable", unsafe {
        mount(null, root.as_ptr(), null, MS_REMOUNT | MS_BIND, std::ptr::null())
    } as c_long);
    verdict(&mut out, "bind-over", unsafe {
        mount(root.as_ptr(), p.as_ptr(), null, MS_BIND | MS_RDONLY, std::ptr::null())
    } as c_long);
    verdict(&mut out, "unmount", unsafe { umount2(p.as_ptr(), MNT_DETACH) } as c_long);
    verdict(&mut out, "open-tree", unsafe {
        syscall(SYS_OPEN_TREE, -100 as c_long, p.as_ptr(), OPEN_TREE_CLONE)
    });
    let argv = [p.as_ptr(), std::ptr::null()];
    let envp = [std::ptr::null()];
    verdict(&mut out, "execute", unsafe {
        execve(p.as_ptr(), argv.as_ptr(), envp.as_ptr())
    } as c_long);

    // Mappings of the file: executable (the mount is noexec) and shared-writable.
    // SAFETY: a read-only open of the path.
    let fd = unsafe { open(p.as_ptr(), O_RDONLY) };
    assert!(fd >= 0, "the read above worked, so this open does too");
    for (name, prot, flags) in [
        ("map-executable", PROT_READ | PROT_EXEC, MAP_PRIVATE),
        ("map-shared-writable", PROT_READ | PROT_WRITE, MAP_SHARED),
    ] {
        // SAFETY: a new mapping chosen by the kernel; never dereferenced.
        let m = unsafe { mmap(std::ptr::null_mut(), 4096, prot, flags, fd, 0) };
        verdict(&mut out, name, if m as isize == -1 { -1 } else { 0 });
    }
    // SAFETY: closing the descriptor opened above.
    unsafe { close(fd) };
}
