//! Shared helpers for the system call tests: host buffers stand in for guest memory.
#![allow(dead_code, unreachable_pub)]

use std::os::fd::OwnedFd;

use cloudabi_emulator::syscalls::Process;
use cloudabi_types::{Errno, FdStat, Syscall};

/// Calls system call `name` on `p` with up to seven arguments.
pub fn sys(p: &Process, name: &str, args: &[u64]) -> Errno {
    let call = Syscall::by_name(name).unwrap_or_else(|| panic!("no syscall {name}"));
    let mut slots = [0u64; 7];
    slots[..args.len()].copy_from_slice(args);
    p.call(call.number, slots)
}

/// The address of a host object, as a guest pointer.
pub fn ptr<T: ?Sized>(x: &T) -> u64 {
    x as *const T as *const u8 as u64
}

/// The address of a mutable host object, as a guest pointer.
pub fn mptr<T: ?Sized>(x: &mut T) -> u64 {
    x as *mut T as *mut u8 as u64
}

/// A `lookup` argument.
pub fn lookup(fd: u32, follow: bool) -> u64 {
    u64::from(fd) | (u64::from(follow as u32) << 32)
}

/// Opens a host path as an owned descriptor.
pub fn open(path: &std::path::Path, write: bool) -> OwnedFd {
    std::fs::OpenOptions::new()
        .read(true)
        .write(write)
        .open(path)
        .unwrap()
        .into()
}

/// A process whose descriptor 0 is a fresh temporary directory.
pub fn process_in_tempdir() -> (tempfile::TempDir, Process) {
    let dir = tempfile::tempdir().unwrap();
    let fd = open(dir.path(), false);
    (dir, Process::new(vec![fd]).unwrap())
}

/// `file_symlink(target, dir 0, name)`.
pub fn symlink(p: &Process, target: &str, name: &str) -> Errno {
    sys(
        p,
        "file_symlink",
        &[
            target.as_ptr() as u64,
            target.len() as u64,
            0,
            name.as_ptr() as u64,
            name.len() as u64,
        ],
    )
}

/// `fd_stat_get` as a value.
pub fn fdstat(p: &Process, fd: u32) -> Result<FdStat, Errno> {
    let mut st = FdStat::default();
    match sys(p, "fd_stat_get", &[fd.into(), mptr(&mut st)]) {
        Errno::SUCCESS => Ok(st),
        e => Err(e),
    }
}

/// Opens `path` beneath descriptor `dir` with `oflags` and the given rights.
pub fn file_open(
    p: &Process,
    dir: u32,
    path: &str,
    oflags: cloudabi_types::OFlags,
    base: cloudabi_types::Rights,
    inheriting: cloudabi_types::Rights,
) -> Result<u32, Errno> {
    file_open_with_flags(
        p,
        dir,
        path,
        oflags,
        base,
        inheriting,
        cloudabi_types::FdFlags::empty(),
    )
}

/// [`file_open`] with descriptor flags (`APPEND`, `NONBLOCK`, ...) for the new descriptor.
pub fn file_open_with_flags(
    p: &Process,
    dir: u32,
    path: &str,
    oflags: cloudabi_types::OFlags,
    base: cloudabi_types::Rights,
    inheriting: cloudabi_types::Rights,
    flags: cloudabi_types::FdFlags,
) -> Result<u32, Errno> {
    let stat = FdStat {
        fs_flags: flags,
        fs_rights_base: base,
        fs_rights_inheriting: inheriting,
        ..FdStat::default()
    };
    let mut fd = u32::MAX;
    match sys(
        p,
        "file_open",
        &[
            lookup(dir, true),
            path.as_ptr() as u64,
            path.len() as u64,
            oflags.bits().into(),
            ptr(&stat),
            mptr(&mut fd),
        ],
    ) {
        Errno::SUCCESS => Ok(fd),
        e => Err(e),
    }
}

/// Opens `path` beneath descriptor `dir` for reading only (no flags, no inheritable rights).
pub fn open_read(p: &Process, dir: u32, path: &str) -> Result<u32, Errno> {
    file_open(
        p,
        dir,
        path,
        cloudabi_types::OFlags::empty(),
        cloudabi_types::Rights::FD_READ,
        cloudabi_types::Rights::empty(),
    )
}

/// Writes `data` to guest descriptor `fd` with `fd_write`.
pub fn write(p: &Process, fd: u32, data: &[u8]) -> Result<usize, Errno> {
    let iov = [cloudabi_types::Ciovec {
        buf: data.as_ptr() as u64,
        buf_len: data.len() as u64,
    }];
    let mut n = 0u64;
    match sys(p, "fd_write", &[fd.into(), ptr(&iov), 1, mptr(&mut n)]) {
        Errno::SUCCESS => Ok(n as usize),
        e => Err(e),
    }
}

/// Reads up to `len` bytes from guest descriptor `fd` with `fd_read`.
pub fn read(p: &Process, fd: u32, len: usize) -> Result<Vec<u8>, Errno> {
    let mut buf = vec![0u8; len];
    let iov = [cloudabi_types::Iovec {
        buf: buf.as_mut_ptr() as u64,
        buf_len: len as u64,
    }];
    let mut n = 0u64;
    match sys(p, "fd_read", &[fd.into(), ptr(&iov), 1, mptr(&mut n)]) {
        Errno::SUCCESS => {
            buf.truncate(n as usize);
            Ok(buf)
        }
        e => Err(e),
    }
}

/// Creates a connected pair of sockets of type `ty` with `fd_create2`.
pub fn fd_create2(p: &Process, ty: cloudabi_types::FileType) -> Result<(u32, u32), Errno> {
    let (mut a, mut b) = (0u32, 0u32);
    match sys(p, "fd_create2", &[ty.0.into(), mptr(&mut a), mptr(&mut b)]) {
        Errno::SUCCESS => Ok((a, b)),
        e => Err(e),
    }
}

/// The environment variable `cargo xtask test` sets for its second run of the path tests,
/// in which a seccomp filter makes `openat2` fail with `ENOSYS`.
pub const WITHOUT_OPENAT2: &str = "CLOUDABI_TEST_WITHOUT_OPENAT2";

/// In the run without `openat2`, checks that the resolver did detect it as missing (so the
/// component walk, not the fast path, answered the lookups just made).
pub fn check_resolver_detection() {
    if std::env::var_os(WITHOUT_OPENAT2).is_some() {
        assert_eq!(
            cloudabi_caps::resolve::openat2_detected(),
            Some(false),
            "{WITHOUT_OPENAT2} is set, but openat2 was not refused"
        );
    }
}
