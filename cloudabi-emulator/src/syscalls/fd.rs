//! The `fd_*` system calls.

use std::os::fd::{FromRawFd, OwnedFd};
use std::sync::Arc;
use std::sync::atomic::Ordering;

use cloudabi_types::{
    Errno, Fd, FdFlags, FdStat, FdsFlags, FileDelta, FileSize, FileType, Rights, Whence, abi64,
};

use super::errno;
use super::fdtable::{Entry, Object};
use super::mem::{GuestPtr, GuestSlice};
use super::process::Process;

/// Converts a libc return value to a result.
pub(crate) fn check(r: isize) -> Result<usize, Errno> {
    if r < 0 {
        Err(errno::last())
    } else {
        Ok(r as usize)
    }
}

/// An iovec count as the kernel wants it (`EINVAL` when absurd; the kernel enforces
/// `IOV_MAX`).
pub(crate) fn iov_count(len: u64) -> Result<libc::c_int, Errno> {
    libc::c_int::try_from(len).map_err(|_| Errno::INVAL)
}

/// The guest passes arrays of 64-bit `{ pointer, length }` pairs, which is exactly
/// Linux's `struct iovec` on the 64-bit hosts this crate supports, so they are handed to
/// the kernel as they are; the kernel checks every address.
const _: () = assert!(
    core::mem::size_of::<libc::iovec>() == core::mem::size_of::<cloudabi_types::abi64::Iovec>()
);

/// `fd_close(fd)`.
pub(crate) fn close(p: &Process, fd: Fd) -> Result<(), Errno> {
    p.fds.remove(fd.0.into()).map(drop)
}

/// `fd_create1(type, *fd)`: anonymous shared memory.
pub(crate) fn create1(p: &Process, filetype: FileType, fd: GuestPtr<Fd>) -> Result<(), Errno> {
    if filetype != FileType::SHARED_MEMORY {
        return Err(Errno::INVAL);
    }
    fd.check()?;
    // SAFETY: the name is a NUL-terminated string literal.
    let raw = unsafe { libc::memfd_create(c"cloudabi-shm".as_ptr(), libc::MFD_CLOEXEC) };
    if raw < 0 {
        return Err(errno::last());
    }
    // SAFETY: memfd_create returned a fresh descriptor that nothing else owns.
    let memfd = unsafe { OwnedFd::from_raw_fd(raw) };
    let entry = Entry {
        object: Arc::new(Object::new(memfd, FileType::SHARED_MEMORY)),
        base: cloudabi_caps::rights::SHARED_MEMORY,
        inheriting: Rights::empty(),
    };
    let new = p.fds.insert(entry)?;
    fd.write(new)
}

/// `fd_create2(type, *fd1, *fd2)`: socket pairs.
pub(crate) fn create2(
    p: &Process,
    filetype: FileType,
    fd1: GuestPtr<Fd>,
    fd2: GuestPtr<Fd>,
) -> Result<(), Errno> {
    let kind = match filetype {
        FileType::SOCKET_STREAM => libc::SOCK_STREAM,
        FileType::SOCKET_DGRAM => libc::SOCK_DGRAM,
        _ => return Err(Errno::INVAL),
    };
    fd1.check()?;
    fd2.check()?;
    let mut pair = [0; 2];
    // SAFETY: `pair` has room for the two descriptors socketpair returns.
    if unsafe {
        libc::socketpair(
            libc::AF_UNIX,
            kind | libc::SOCK_CLOEXEC,
            0,
            pair.as_mut_ptr(),
        )
    } != 0
    {
        return Err(errno::last());
    }
    let entries = pair
        .map(|raw| {
            // SAFETY: socketpair returned two fresh descriptors that nothing else owns.
            let fd = unsafe { OwnedFd::from_raw_fd(raw) };
            Entry {
                object: Arc::new(Object::new(fd, filetype)),
                base: cloudabi_caps::rights::SOCKET,
                inheriting: Rights::all(),
            }
        })
        .to_vec();
    let fds = p.fds.insert_all(entries)?;
    fd1.write(fds[0])?;
    fd2.write(fds[1])
}

/// `fd_datasync(fd)`.
pub(crate) fn datasync(p: &Process, fd: Fd) -> Result<(), Errno> {
    let e = p.fds.get_with(fd.0.into(), Rights::FD_DATASYNC)?;
    // SAFETY: plain system call on a descriptor we hold.
    check(unsafe { libc::fdatasync(e.raw()) } as isize).map(drop)
}

/// `fd_sync(fd)`.
pub(crate) fn sync(p: &Process, fd: Fd) -> Result<(), Errno> {
    let e = p.fds.get_with(fd.0.into(), Rights::FD_SYNC)?;
    // SAFETY: plain system call on a descriptor we hold.
    check(unsafe { libc::fsync(e.raw()) } as isize).map(drop)
}

/// `fd_dup(from, *fd)`.
pub(crate) fn dup(p: &Process, from: Fd, fd: GuestPtr<Fd>) -> Result<(), Errno> {
    let e = p.fds.get(from.0.into())?;
    fd.check()?;
    let new = p.fds.insert(e)?;
    fd.write(new)
}

/// `fd_replace(from, to)`.
pub(crate) fn replace(p: &Process, from: Fd, to: Fd) -> Result<(), Errno> {
    p.fds.replace(from.0.into(), to.0.into())
}

/// `fd_read(fd, iovs, iovs_len, *nread)`.
pub(crate) fn read(
    p: &Process,
    fd: Fd,
    iovs: GuestSlice<abi64::Iovec>,
    nread: GuestPtr<u64>,
) -> Result<(), Errno> {
    let e = p.fds.get_with(fd.0.into(), Rights::FD_READ)?;
    let count = iov_count(iovs.len())?;
    // SAFETY: the iovec array and the buffers it names are guest memory; the kernel
    // validates every address and fails with EFAULT instead of faulting.
    let n = check(unsafe { libc::readv(e.raw(), iovs.addr() as *const libc::iovec, count) })?;
    nread.write(n as u64)
}

/// `fd_pread(fd, iovs, iovs_len, offset, *nread)`.
pub(crate) fn pread(
    p: &Process,
    fd: Fd,
    iovs: GuestSlice<abi64::Iovec>,
    offset: FileSize,
    nread: GuestPtr<u64>,
) -> Result<(), Errno> {
    let e = p
        .fds
        .get_with(fd.0.into(), Rights::FD_READ | Rights::FD_SEEK)?;
    let count = iov_count(iovs.len())?;
    let offset = i64::try_from(offset).map_err(|_| Errno::INVAL)?;
    // SAFETY: as in `read`; the kernel validates the guest addresses.
    let n =
        check(unsafe { libc::preadv(e.raw(), iovs.addr() as *const libc::iovec, count, offset) })?;
    nread.write(n as u64)
}

/// The synchronous-I/O flags this emulator keeps for a descriptor.
const SYNC_FLAGS: FdFlags = FdFlags::DSYNC.union(FdFlags::RSYNC).union(FdFlags::SYNC);

/// After a successful write, makes it durable as the descriptor's `DSYNC`/`SYNC` flags
/// ask.
fn sync_after_write(e: &Entry) -> Result<(), Errno> {
    let flags = FdFlags::from_bits_retain(e.object.sync.load(Ordering::Relaxed));
    let r = if flags.contains(FdFlags::SYNC) {
        // SAFETY: plain system call on a descriptor we hold.
        unsafe { libc::fsync(e.raw()) }
    } else if flags.contains(FdFlags::DSYNC) {
        // SAFETY: as above.
        unsafe { libc::fdatasync(e.raw()) }
    } else {
        0
    };
    check(r as isize).map(drop)
}

/// `fd_write(fd, iovs, iovs_len, *nwritten)`.
pub(crate) fn write(
    p: &Process,
    fd: Fd,
    iovs: GuestSlice<abi64::Ciovec>,
    nwritten: GuestPtr<u64>,
) -> Result<(), Errno> {
    let e = p.fds.get_with(fd.0.into(), Rights::FD_WRITE)?;
    let count = iov_count(iovs.len())?;
    // SAFETY: the kernel only reads the guest's iovec array and buffers, validating them.
    let n = check(unsafe { libc::writev(e.raw(), iovs.addr() as *const libc::iovec, count) })?;
    sync_after_write(&e)?;
    nwritten.write(n as u64)
}

/// `fd_pwrite(fd, iovs, iovs_len, offset, *nwritten)`.
pub(crate) fn pwrite(
    p: &Process,
    fd: Fd,
    iovs: GuestSlice<abi64::Ciovec>,
    offset: FileSize,
    nwritten: GuestPtr<u64>,
) -> Result<(), Errno> {
    let e = p
        .fds
        .get_with(fd.0.into(), Rights::FD_WRITE | Rights::FD_SEEK)?;
    let count = iov_count(iovs.len())?;
    let offset = i64::try_from(offset).map_err(|_| Errno::INVAL)?;
    // SAFETY: as in `write`.
    let n =
        check(unsafe { libc::pwritev(e.raw(), iovs.addr() as *const libc::iovec, count, offset) })?;
    nwritten.write(n as u64)
}

/// `fd_seek(fd, offset, whence, *newoffset)`.
pub(crate) fn seek(
    p: &Process,
    fd: Fd,
    offset: FileDelta,
    whence: Whence,
    newoffset: GuestPtr<FileSize>,
) -> Result<(), Errno> {
    let whence = match whence {
        Whence::CUR => libc::SEEK_CUR,
        Whence::END => libc::SEEK_END,
        Whence::SET => libc::SEEK_SET,
        _ => return Err(Errno::INVAL),
    };
    // Asking for the current offset only needs the right to tell.
    let needed = if whence == libc::SEEK_CUR && offset == 0 {
        Rights::FD_TELL
    } else {
        Rights::FD_SEEK
    };
    let e = p.fds.get(fd.0.into())?;
    if !e.base.intersects(needed | Rights::FD_SEEK) {
        return Err(Errno::NOTCAPABLE);
    }
    // SAFETY: plain system call on a descriptor we hold.
    let r = unsafe { libc::lseek(e.raw(), offset, whence) };
    let n = check(r as isize)?;
    newoffset.write(n as u64)
}

/// The CloudABI descriptor flags of a host descriptor.
pub(crate) fn fdflags(e: &Entry) -> Result<FdFlags, Errno> {
    let raw = e.raw();
    // SAFETY: F_GETFL takes no argument.
    let fl = unsafe { libc::fcntl(raw, libc::F_GETFL) };
    let fl = check(fl as isize)? as i32;
    let mut flags = FdFlags::empty();
    if fl & libc::O_APPEND != 0 {
        flags |= FdFlags::APPEND;
    }
    if fl & libc::O_NONBLOCK != 0 {
        flags |= FdFlags::NONBLOCK;
    }
    if fl & libc::O_SYNC == libc::O_SYNC {
        flags |= FdFlags::SYNC;
    } else if fl & libc::O_DSYNC != 0 {
        flags |= FdFlags::DSYNC;
    }
    Ok(flags | FdFlags::from_bits_retain(e.object.sync.load(Ordering::Relaxed)))
}

/// `fd_stat_get(fd, *buf)`.
pub(crate) fn stat_get(p: &Process, fd: Fd, buf: GuestPtr<FdStat>) -> Result<(), Errno> {
    let e = p.fds.get(fd.0.into())?;
    let stat = FdStat {
        fs_filetype: e.object.filetype,
        fs_flags: fdflags(&e)?,
        fs_rights_base: e.base,
        fs_rights_inheriting: e.inheriting,
        ..FdStat::default()
    };
    buf.write(stat)
}

/// `fd_stat_put(fd, *buf, flags)`.
pub(crate) fn stat_put(
    p: &Process,
    fd: Fd,
    buf: GuestPtr<FdStat>,
    flags: FdsFlags,
) -> Result<(), Errno> {
    let what = FdsFlags::from_bits(flags.bits())
        .filter(|f| !f.is_empty())
        .ok_or(Errno::INVAL)?;
    let stat: FdStat = buf.read()?;
    let e = p.fds.get(fd.0.into())?;
    if what.contains(FdsFlags::FLAGS) {
        e.require(Rights::FD_STAT_PUT_FLAGS)?;
        // SAFETY: F_GETFL takes no argument.
        let old = check(unsafe { libc::fcntl(e.raw(), libc::F_GETFL) } as isize)? as i32;
        // Dropping append mode would let the next write land anywhere: only a descriptor
        // that may seek anyway (not an append-only one) can do that.
        if old & libc::O_APPEND != 0 && !stat.fs_flags.contains(FdFlags::APPEND) {
            e.require(Rights::FD_SEEK)?;
        }
        let mut new = old & !(libc::O_APPEND | libc::O_NONBLOCK);
        if stat.fs_flags.contains(FdFlags::APPEND) {
            new |= libc::O_APPEND;
        }
        if stat.fs_flags.contains(FdFlags::NONBLOCK) {
            new |= libc::O_NONBLOCK;
        }
        // SAFETY: F_SETFL takes an int of flags.
        check(unsafe { libc::fcntl(e.raw(), libc::F_SETFL, new) } as isize)?;
        e.object
            .sync
            .store((stat.fs_flags & SYNC_FLAGS).bits(), Ordering::Relaxed);
    }
    if what.contains(FdsFlags::RIGHTS) {
        p.fds
            .restrict(fd.0.into(), stat.fs_rights_base, stat.fs_rights_inheriting)?;
    }
    Ok(())
}
