//! The `file_*` system calls.
//!
//! Paths are resolved strictly beneath the directory descriptor they are relative to:
//! by `cloudabi_caps::resolve` (`openat2` with `RESOLVE_BENEATH`, or a careful walk on
//! old kernels), so absolute paths and escapes through `..` or symbolic links fail with
//! `ENOTCAPABLE`. Operations on a directory entry act on the final name relative to its
//! opened parent without following it (`resolve::place`); where CloudABI asks for a final
//! symbolic link to be followed, `resolve::place_following` resolves its target beneath
//! the same directory again. A trailing slash on the last component means "must be a
//! directory" and follows a final symbolic link, for every call (see `resolve`).

use std::ffi::CString;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::sync::Arc;

use cloudabi_caps::resolve::{self, Place, Strategy};

use cloudabi_types::{
    Advice, DirCookie, Dirent, Errno, Fd, FdFlags, FdStat, FileSize, FileStat, FileType, FsFlags,
    Lookup, LookupFlags, OFlags, Rights, UlFlags,
};
use rustix::fs::Mode;

use super::errno;
use super::fd::check;
use super::fdtable::{self, Entry, Object};
use super::mem::{GuestPtr, GuestSlice};
use super::process::Process;

/// The longest path accepted.
const PATH_MAX: u64 = 4096;

/// Copies a path argument out of guest memory.
fn read_path(range: GuestSlice<u8>) -> Result<Vec<u8>, Errno> {
    let path = range.read_bytes(PATH_MAX, Errno::NAMETOOLONG)?;
    check_path(&path)?;
    Ok(path)
}

/// Rejects paths that can never be beneath a directory.
fn check_path(path: &[u8]) -> Result<(), Errno> {
    resolve::check_relative(path).map_err(|e| errno::from_caps(&e))
}

/// The host descriptor of a directory entry, to resolve paths beneath (rights are checked
/// by the callers).
fn dir_fd(dir: &Entry) -> Result<BorrowedFd<'_>, Errno> {
    if dir.object.filetype != FileType::DIRECTORY {
        return Err(Errno::NOTDIR);
    }
    Ok(dir.host())
}

/// Opens `path` beneath the directory `dir` with `flags` (`O_CLOEXEC` added).
fn open_beneath(
    dir: &Entry,
    path: &[u8],
    flags: rustix::fs::OFlags,
    follow: bool,
) -> Result<OwnedFd, Errno> {
    resolve::open_beneath(
        dir_fd(dir)?,
        path,
        flags,
        Mode::from_raw_mode(0o666),
        follow,
        Strategy::Auto,
    )
    .map_err(|e| errno::from_caps(&e))
}

/// `fstat` of `path` beneath `dir` (of a final symbolic link itself unless `follow`).
fn stat_beneath(dir: &Entry, path: &[u8], follow: bool) -> Result<libc::stat, Errno> {
    let fd = open_beneath(dir, path, rustix::fs::OFlags::PATH, follow)?;
    // SAFETY: an all-zero `struct stat` is valid.
    let mut st: libc::stat = unsafe { core::mem::zeroed() };
    // SAFETY: valid descriptor and out pointer.
    check(unsafe { libc::fstat(fd.as_raw_fd(), &mut st) } as isize)?;
    Ok(st)
}

/// Opens the directory `path` beneath `dir`, following symbolic links.
fn open_dir_beneath(dir: &Entry, path: &[u8]) -> Result<OwnedFd, Errno> {
    use rustix::fs::OFlags;
    open_beneath(dir, path, OFlags::RDONLY | OFlags::DIRECTORY, true)
}

/// Opens the parent of `path` beneath `dir`. The final component must be a plain name
/// (not `.` or `..`): `EINVAL` otherwise.
fn place(dir: &Entry, path: &[u8]) -> Result<Place, Errno> {
    resolve::place(dir_fd(dir)?, path).map_err(|e| errno::from_caps(&e))
}

/// Like [`place`], but takes the final name literally: trailing slashes are ignored and
/// nothing is followed.
fn place_literal(dir: &Entry, path: &[u8]) -> Result<Place, Errno> {
    resolve::place_literal(dir_fd(dir)?, path).map_err(|e| errno::from_caps(&e))
}

/// The type of a placed entry itself, `None` when there is none.
fn entry_type(at: &Place) -> Result<Option<rustix::fs::FileType>, Errno> {
    at.entry_type().map_err(|e| errno::from_caps(&e))
}

/// Refuses to make a new entry that is not a directory under a name that must be one
/// (a trailing slash): `ENOENT`, as FreeBSD's lookup says for a name to be created or
/// renamed to that will not be a directory. An existing entry is left to the call (an
/// existing non-directory was refused with `ENOTDIR` by `place` already).
fn refuse_new_non_directory(at: &Place) -> Result<(), Errno> {
    if at.must_be_dir() && entry_type(at)?.is_none() {
        return Err(Errno::NOENT);
    }
    Ok(())
}

/// Like [`place`], but when `follow` is set and the entry is a symbolic link, resolves
/// its target (beneath `dir`) instead, repeatedly.
fn place_following(dir: &Entry, path: &[u8], follow: bool) -> Result<Place, Errno> {
    resolve::place_following(dir_fd(dir)?, path, follow).map_err(|e| errno::from_caps(&e))
}

/// The raw descriptor of a placed entry's parent.
fn at_fd(at: &Place) -> i32 {
    at.parent().as_raw_fd()
}

fn readlinkat(dirfd: i32, name: &std::ffi::CStr) -> Result<Vec<u8>, Errno> {
    let mut buf = vec![0u8; PATH_MAX as usize + 1];
    // SAFETY: the buffer has `buf.len()` writable bytes.
    let n = check(unsafe {
        libc::readlinkat(dirfd, name.as_ptr(), buf.as_mut_ptr().cast(), buf.len())
    })?;
    buf.truncate(n);
    Ok(buf)
}

/// `file_create(fd, path, path_len, type)`.
pub(crate) fn create(
    p: &Process,
    fd: Fd,
    path: GuestSlice<u8>,
    filetype: FileType,
) -> Result<(), Errno> {
    if filetype != FileType::DIRECTORY {
        return Err(Errno::INVAL);
    }
    let dir = p.fds.get_with(fd.0.into(), Rights::FILE_CREATE_DIRECTORY)?;
    // A trailing slash is what a new directory's name may have anyway; as on FreeBSD,
    // `mkdir` never follows a final symbolic link (an existing one is `EEXIST`).
    let at = place_literal(&dir, &read_path(path)?)?;
    // SAFETY: valid descriptor and NUL-terminated name.
    check(unsafe { libc::mkdirat(at_fd(&at), at.name().as_ptr(), 0o777) } as isize).map(drop)
}

/// `file_link(fd1, path1, path1_len, fd2, path2, path2_len)`.
pub(crate) fn link(
    p: &Process,
    fd1: Lookup,
    path1: GuestSlice<u8>,
    fd2: Fd,
    path2: GuestSlice<u8>,
) -> Result<(), Errno> {
    let from_dir = p.fds.get_with(fd1.fd.0.into(), Rights::FILE_LINK_SOURCE)?;
    let to_dir = p.fds.get_with(fd2.0.into(), Rights::FILE_LINK_TARGET)?;
    let from = place_following(
        &from_dir,
        &read_path(path1)?,
        fd1.flags.contains(LookupFlags::SYMLINK_FOLLOW),
    )?;
    let to = place(&to_dir, &read_path(path2)?)?;
    // A hard link is never a directory, so its new name cannot end with a slash.
    refuse_new_non_directory(&to)?;
    // SAFETY: valid descriptors and NUL-terminated names; the source is never followed
    // by the kernel (it was resolved above).
    check(unsafe {
        libc::linkat(
            at_fd(&from),
            from.name().as_ptr(),
            at_fd(&to),
            to.name().as_ptr(),
            0,
        )
    } as isize)
    .map(drop)
}

/// `file_rename(fd1, path1, path1_len, fd2, path2, path2_len)`.
pub(crate) fn rename(
    p: &Process,
    fd1: Fd,
    path1: GuestSlice<u8>,
    fd2: Fd,
    path2: GuestSlice<u8>,
) -> Result<(), Errno> {
    let from_dir = p.fds.get_with(fd1.0.into(), Rights::FILE_RENAME_SOURCE)?;
    let to_dir = p.fds.get_with(fd2.0.into(), Rights::FILE_RENAME_TARGET)?;
    let from = place(&from_dir, &read_path(path1)?)?;
    let to = place(&to_dir, &read_path(path2)?)?;
    // A trailing slash on either side: what is renamed must be a directory. The source's
    // own slash, and an existing target's, were checked by `place` already; a new target
    // name with a slash is only for a directory (`ENOENT` otherwise, as on FreeBSD).
    if entry_type(&from)?.is_some_and(|t| t != rustix::fs::FileType::Directory) {
        refuse_new_non_directory(&to)?;
    }
    // SAFETY: valid descriptors and NUL-terminated names.
    check(unsafe {
        libc::renameat(
            at_fd(&from),
            from.name().as_ptr(),
            at_fd(&to),
            to.name().as_ptr(),
        )
    } as isize)
    .map(drop)
}

/// `file_symlink(path1, path1_len, fd, path2, path2_len)`.
pub(crate) fn symlink(
    p: &Process,
    path1: GuestSlice<u8>,
    fd: Fd,
    path2: GuestSlice<u8>,
) -> Result<(), Errno> {
    let target = path1.read_bytes(PATH_MAX, Errno::NAMETOOLONG)?;
    let target = CString::new(target).map_err(|_| Errno::INVAL)?;
    let dir = p.fds.get_with(fd.0.into(), Rights::FILE_SYMLINK)?;
    let at = place(&dir, &read_path(path2)?)?;
    // A symbolic link is not a directory: its new name cannot end with a slash.
    refuse_new_non_directory(&at)?;
    // SAFETY: NUL-terminated strings and a valid descriptor. The link's text is stored
    // as given; following it later is checked like any other path.
    check(unsafe { libc::symlinkat(target.as_ptr(), at_fd(&at), at.name().as_ptr()) } as isize)
        .map(drop)
}

/// `file_unlink(fd, path, path_len, flags)`.
pub(crate) fn unlink(
    p: &Process,
    fd: Fd,
    path: GuestSlice<u8>,
    flags: UlFlags,
) -> Result<(), Errno> {
    let flags = UlFlags::from_bits(flags.bits()).ok_or(Errno::INVAL)?;
    let dir = p.fds.get_with(fd.0.into(), Rights::FILE_UNLINK)?;
    let at = place(&dir, &read_path(path)?)?;
    let removedir = flags.contains(UlFlags::REMOVEDIR);
    let linux = if removedir { libc::AT_REMOVEDIR } else { 0 };
    // SAFETY: valid descriptor and NUL-terminated name.
    match check(unsafe { libc::unlinkat(at_fd(&at), at.name().as_ptr(), linux) } as isize) {
        // Without `AT_REMOVEDIR`, Linux says `EISDIR` only for a directory, which FreeBSD
        // (and so CloudABI) refuses to unlink with `EPERM`.
        Err(Errno::ISDIR) if !removedir => Err(Errno::PERM),
        result => result.map(drop),
    }
}

/// `file_readlink(fd, path, path_len, buf, buf_len, *bufused)`.
pub(crate) fn readlink(
    p: &Process,
    fd: Fd,
    path: GuestSlice<u8>,
    buf: GuestSlice<u8>,
    bufused: GuestPtr<u64>,
) -> Result<(), Errno> {
    let dir = p.fds.get_with(fd.0.into(), Rights::FILE_READLINK)?;
    let at = place(&dir, &read_path(path)?)?;
    let target = readlinkat(at_fd(&at), at.name())?;
    let n = target
        .len()
        .min(usize::try_from(buf.len()).unwrap_or(usize::MAX));
    buf.write_bytes(&target[..n])?;
    bufused.write(n as u64)
}

/// The CloudABI type of a `st_mode`.
fn filetype_of(mode: libc::mode_t) -> FileType {
    match mode & libc::S_IFMT {
        libc::S_IFDIR => FileType::DIRECTORY,
        libc::S_IFREG => FileType::REGULAR_FILE,
        libc::S_IFLNK => FileType::SYMBOLIC_LINK,
        libc::S_IFSOCK | libc::S_IFIFO => FileType::SOCKET_STREAM,
        libc::S_IFCHR => FileType::CHARACTER_DEVICE,
        libc::S_IFBLK => FileType::BLOCK_DEVICE,
        _ => FileType::UNKNOWN,
    }
}

fn ns(sec: i64, nsec: i64) -> u64 {
    (sec.max(0) as u64)
        .saturating_mul(1_000_000_000)
        .saturating_add(nsec.max(0) as u64)
}

fn filestat(st: &libc::stat, filetype: FileType) -> FileStat {
    FileStat {
        st_dev: cloudabi_types::Device(st.st_dev),
        st_ino: cloudabi_types::Inode(st.st_ino),
        st_filetype: filetype,
        st_nlink: u32::try_from(st.st_nlink).unwrap_or(u32::MAX),
        st_size: st.st_size.max(0) as u64,
        st_atim: ns(st.st_atime, st.st_atime_nsec),
        st_mtim: ns(st.st_mtime, st.st_mtime_nsec),
        st_ctim: ns(st.st_ctime, st.st_ctime_nsec),
    }
}

/// `file_stat_fget(fd, *buf)`.
pub(crate) fn stat_fget(p: &Process, fd: Fd, buf: GuestPtr<FileStat>) -> Result<(), Errno> {
    let e = p.fds.get_with(fd.0.into(), Rights::FILE_STAT_FGET)?;
    // SAFETY: an all-zero `struct stat` is valid.
    let mut st: libc::stat = unsafe { core::mem::zeroed() };
    // SAFETY: valid descriptor and out pointer.
    check(unsafe { libc::fstat(e.raw(), &mut st) } as isize)?;
    let filetype = match e.object.filetype {
        FileType::UNKNOWN => filetype_of(st.st_mode),
        known => known,
    };
    buf.write(filestat(&st, filetype))
}

/// `file_stat_get(fd, path, path_len, *buf)`.
pub(crate) fn stat_get(
    p: &Process,
    fd: Lookup,
    path: GuestSlice<u8>,
    buf: GuestPtr<FileStat>,
) -> Result<(), Errno> {
    let dir = p.fds.get_with(fd.fd.0.into(), Rights::FILE_STAT_GET)?;
    let path = read_path(path)?;
    let st = stat_beneath(&dir, &path, fd.flags.contains(LookupFlags::SYMLINK_FOLLOW))?;
    buf.write(filestat(&st, filetype_of(st.st_mode)))
}

/// The `timespec` pair for `utimensat`/`futimens` from a `filestat` and flags.
fn times(stat: &FileStat, flags: FsFlags) -> Result<[libc::timespec; 2], Errno> {
    let pick = |set: FsFlags, now: FsFlags, value: u64| -> Result<libc::timespec, Errno> {
        match (flags.contains(set), flags.contains(now)) {
            (true, true) => Err(Errno::INVAL),
            (true, false) => Ok(libc::timespec {
                tv_sec: (value / 1_000_000_000) as libc::time_t,
                tv_nsec: (value % 1_000_000_000) as libc::c_long,
            }),
            (false, true) => Ok(libc::timespec {
                tv_sec: 0,
                tv_nsec: libc::UTIME_NOW,
            }),
            (false, false) => Ok(libc::timespec {
                tv_sec: 0,
                tv_nsec: libc::UTIME_OMIT,
            }),
        }
    };
    Ok([
        pick(FsFlags::ATIM, FsFlags::ATIM_NOW, stat.st_atim)?,
        pick(FsFlags::MTIM, FsFlags::MTIM_NOW, stat.st_mtim)?,
    ])
}

/// The flags of a `file_stat_*put` call, `EINVAL` with bits the ABI does not name.
fn fsflags(flags: FsFlags) -> Result<FsFlags, Errno> {
    FsFlags::from_bits(flags.bits()).ok_or(Errno::INVAL)
}

const TIME_FLAGS: FsFlags = FsFlags::ATIM
    .union(FsFlags::ATIM_NOW)
    .union(FsFlags::MTIM)
    .union(FsFlags::MTIM_NOW);

/// `file_stat_fput(fd, *buf, flags)`.
pub(crate) fn stat_fput(
    p: &Process,
    fd: Fd,
    buf: GuestPtr<FileStat>,
    flags: FsFlags,
) -> Result<(), Errno> {
    let flags = fsflags(flags)?;
    let stat: FileStat = buf.read()?;
    if flags.contains(FsFlags::SIZE) {
        // Size and times cannot change in one call.
        if flags.intersects(TIME_FLAGS) {
            return Err(Errno::INVAL);
        }
        let e = p.fds.get_with(fd.0.into(), Rights::FILE_STAT_FPUT_SIZE)?;
        let size = i64::try_from(stat.st_size).map_err(|_| Errno::FBIG)?;
        // SAFETY: plain system call on a descriptor we hold.
        return check(unsafe { libc::ftruncate(e.raw(), size) } as isize).map(drop);
    }
    let e = p.fds.get_with(fd.0.into(), Rights::FILE_STAT_FPUT_TIMES)?;
    let ts = times(&stat, flags)?;
    // SAFETY: valid descriptor and a two-element timespec array.
    check(unsafe { libc::futimens(e.raw(), ts.as_ptr()) } as isize).map(drop)
}

/// `file_stat_put(fd, path, path_len, *buf, flags)`.
pub(crate) fn stat_put(
    p: &Process,
    fd: Lookup,
    path: GuestSlice<u8>,
    buf: GuestPtr<FileStat>,
    flags: FsFlags,
) -> Result<(), Errno> {
    let flags = fsflags(flags)?;
    if flags.contains(FsFlags::SIZE) {
        return Err(Errno::INVAL);
    }
    let stat: FileStat = buf.read()?;
    let ts = times(&stat, flags)?;
    let dir = p
        .fds
        .get_with(fd.fd.0.into(), Rights::FILE_STAT_PUT_TIMES)?;
    let path = read_path(path)?;
    match place_following(&dir, &path, fd.flags.contains(LookupFlags::SYMLINK_FOLLOW)) {
        Ok(at) => {
            // SAFETY: valid descriptor, NUL-terminated name, two-element array; the name
            // is never followed (symbolic links were resolved above).
            check(unsafe {
                libc::utimensat(
                    at_fd(&at),
                    at.name().as_ptr(),
                    ts.as_ptr(),
                    libc::AT_SYMLINK_NOFOLLOW,
                )
            } as isize)
            .map(drop)
        }
        // A path ending in `.` or `..` names a directory: open it beneath and use that.
        Err(Errno::INVAL) => {
            let opened = open_dir_beneath(&dir, &path)?;
            // SAFETY: valid descriptor and a two-element timespec array.
            check(unsafe { libc::futimens(opened.as_fd().as_raw_fd(), ts.as_ptr()) } as isize)
                .map(drop)
        }
        Err(e) => Err(e),
    }
}

/// `file_advise(fd, offset, len, advice)`.
pub(crate) fn advise(
    p: &Process,
    fd: Fd,
    offset: FileSize,
    len: FileSize,
    advice: Advice,
) -> Result<(), Errno> {
    let advice = match advice {
        Advice::DONTNEED => libc::POSIX_FADV_DONTNEED,
        Advice::NOREUSE => libc::POSIX_FADV_NOREUSE,
        Advice::NORMAL => libc::POSIX_FADV_NORMAL,
        Advice::RANDOM => libc::POSIX_FADV_RANDOM,
        Advice::SEQUENTIAL => libc::POSIX_FADV_SEQUENTIAL,
        Advice::WILLNEED => libc::POSIX_FADV_WILLNEED,
        _ => return Err(Errno::INVAL),
    };
    let e = p.fds.get_with(fd.0.into(), Rights::FILE_ADVISE)?;
    let offset = i64::try_from(offset).map_err(|_| Errno::INVAL)?;
    let len = i64::try_from(len).map_err(|_| Errno::INVAL)?;
    // SAFETY: plain system call on a descriptor we hold; returns an errno value.
    let r = unsafe { libc::posix_fadvise(e.raw(), offset, len, advice) };
    if r != 0 {
        return Err(errno::from_linux(r));
    }
    Ok(())
}

/// `file_allocate(fd, offset, len)`.
pub(crate) fn allocate(p: &Process, fd: Fd, offset: FileSize, len: FileSize) -> Result<(), Errno> {
    let e = p.fds.get_with(fd.0.into(), Rights::FILE_ALLOCATE)?;
    let offset = i64::try_from(offset).map_err(|_| Errno::INVAL)?;
    let len = i64::try_from(len).map_err(|_| Errno::INVAL)?;
    // SAFETY: plain system call on a descriptor we hold; returns an errno value.
    let r = unsafe { libc::posix_fallocate(e.raw(), offset, len) };
    if r != 0 {
        return Err(errno::from_linux(r));
    }
    Ok(())
}

/// `file_open(dirfd, path, path_len, oflags, *fds, *fd)`.
pub(crate) fn open(
    p: &Process,
    dirfd: Lookup,
    path: GuestSlice<u8>,
    oflags: OFlags,
    fds: GuestPtr<FdStat>,
    new_fd: GuestPtr<Fd>,
) -> Result<(), Errno> {
    let lflags = dirfd.flags;
    let oflags = OFlags::from_bits(oflags.bits()).ok_or(Errno::INVAL)?;
    let wanted: FdStat = fds.read()?;
    new_fd.check()?;
    let path = read_path(path)?;
    let dir = p.fds.get(dirfd.fd.0.into())?;

    let requested = wanted.fs_rights_base | wanted.fs_rights_inheriting;
    let read = wanted
        .fs_rights_base
        .intersects(Rights::FD_READ | Rights::FILE_READDIR | Rights::MEM_MAP_EXEC);
    let write = wanted.fs_rights_base.intersects(
        Rights::FD_DATASYNC
            | Rights::FD_WRITE
            | Rights::FILE_ALLOCATE
            | Rights::FILE_STAT_FPUT_SIZE,
    );
    let flags = wanted.fs_flags;
    let mut needed_base = Rights::FILE_OPEN;
    let mut needed_inheriting = requested;
    if oflags.contains(OFlags::CREAT) {
        needed_base |= Rights::FILE_CREATE_FILE;
    }
    if oflags.contains(OFlags::TRUNC) {
        needed_inheriting |= Rights::FILE_STAT_FPUT_SIZE;
    }
    if flags.contains(FdFlags::DSYNC) {
        needed_inheriting |= Rights::FD_DATASYNC;
    }
    if flags.intersects(FdFlags::RSYNC | FdFlags::SYNC) {
        needed_inheriting |= Rights::FD_SYNC;
    }
    // Writing anywhere but the end needs the right to seek.
    if write && !flags.contains(FdFlags::APPEND) && !oflags.contains(OFlags::TRUNC) {
        needed_inheriting |= Rights::FD_SEEK;
    }
    dir.require(needed_base)?;
    if !dir.inheriting.contains(needed_inheriting) {
        return Err(Errno::NOTCAPABLE);
    }

    dir_fd(&dir)?;
    if oflags.contains(OFlags::CREAT) && resolve::has_trailing_slash(&path) {
        // Linux says `EISDIR` for any `O_CREAT` open of a name with a trailing slash;
        // FreeBSD looks the name up first: `ENOTDIR` for an existing non-directory (also
        // through a link), `ENOENT` for a name that does not exist (a new file is never
        // a directory). What is left is an existing directory, which `creat` never opens:
        // `EEXIST` with `excl`, `EISDIR` otherwise (as for the name without the slash).
        // Answered here, before either resolver, whose Linux answer (`EISDIR` for every
        // such name) is not FreeBSD's.
        refuse_new_non_directory(&place(&dir, &path)?)?;
        return Err(if oflags.contains(OFlags::EXCL) {
            Errno::EXIST
        } else {
            Errno::ISDIR
        });
    }
    let follow = lflags.contains(LookupFlags::SYMLINK_FOLLOW);
    let open_dir = || -> Result<OwnedFd, Errno> {
        if !follow {
            let st = stat_beneath(&dir, &path, false)?;
            if st.st_mode & libc::S_IFMT == libc::S_IFLNK {
                return Err(Errno::LOOP);
            }
        }
        open_dir_beneath(&dir, &path)
    };
    let fd = if oflags.contains(OFlags::DIRECTORY) {
        if oflags.contains(OFlags::CREAT) {
            return Err(Errno::INVAL);
        }
        if write {
            return Err(Errno::ISDIR);
        }
        open_dir()?
    } else {
        use rustix::fs::OFlags as HostFlags;
        let truncate = oflags.contains(OFlags::TRUNC);
        let append = flags.contains(FdFlags::APPEND);
        // Truncating is done below with `ftruncate`, on a descriptor open for writing.
        let mut host = match (read || !write, write || truncate || append) {
            (true, true) => HostFlags::RDWR,
            (false, true) => HostFlags::WRONLY,
            _ => HostFlags::RDONLY,
        };
        if append {
            host |= HostFlags::APPEND;
        }
        if oflags.contains(OFlags::CREAT) {
            host |= HostFlags::CREATE;
            if oflags.contains(OFlags::EXCL) {
                host |= HostFlags::EXCL;
            }
        }
        let opened = open_beneath(&dir, &path, host, follow).and_then(|fd| {
            // A directory is opened through `open_dir` below, never as a file.
            let st = rustix::fs::fstat(&fd).map_err(|e| errno::from_linux(e.raw_os_error()))?;
            if rustix::fs::FileType::from_raw_mode(st.st_mode) == rustix::fs::FileType::Directory {
                Err(Errno::ISDIR)
            } else {
                Ok(fd)
            }
        });
        match opened {
            Ok(fd) => {
                if truncate {
                    // SAFETY: plain system call on the descriptor just opened for writing.
                    check(unsafe { libc::ftruncate(fd.as_raw_fd(), 0) } as isize)?;
                }
                fd
            }
            Err(code) => {
                if code == Errno::ISDIR && !write && !truncate && !oflags.contains(OFlags::CREAT) {
                    open_dir()?
                } else {
                    return Err(code);
                }
            }
        }
    };
    if flags.contains(FdFlags::NONBLOCK) {
        // SAFETY: F_GETFL/F_SETFL on the descriptor just opened.
        unsafe {
            let fl = libc::fcntl(fd.as_raw_fd(), libc::F_GETFL);
            libc::fcntl(fd.as_raw_fd(), libc::F_SETFL, fl | libc::O_NONBLOCK);
        }
    }
    let (filetype, max_base, max_inheriting) = fdtable::classify(fd.as_fd())?;
    let object = Object::new(fd, filetype);
    let sync = flags & (FdFlags::DSYNC | FdFlags::RSYNC | FdFlags::SYNC);
    object
        .sync
        .store(sync.bits(), std::sync::atomic::Ordering::Relaxed);
    let entry = Entry {
        object: Arc::new(object),
        base: wanted.fs_rights_base & max_base,
        inheriting: wanted.fs_rights_inheriting & max_inheriting,
    };
    let new = p.fds.insert(entry)?;
    new_fd.write(new)
}

/// Size of the fixed part of a CloudABI directory entry.
const DIRENT_SIZE: usize = core::mem::size_of::<Dirent>();

/// `file_readdir(fd, buf, buf_len, cookie, *bufused)`.
pub(crate) fn readdir(
    p: &Process,
    fd: Fd,
    buf: GuestSlice<u8>,
    cookie: DirCookie,
    bufused: GuestPtr<u64>,
) -> Result<(), Errno> {
    let dir = p.fds.get_with(fd.0.into(), Rights::FILE_READDIR)?;
    if dir.object.filetype != FileType::DIRECTORY {
        return Err(Errno::NOTDIR);
    }
    let capacity = usize::try_from(buf.len()).map_err(|_| Errno::INVAL)?;
    // A private descriptor for the listing, so that concurrent listings of the same
    // directory do not move each other's offset.
    // SAFETY: opening "." relative to a directory we hold.
    let raw = unsafe {
        libc::openat(
            dir.raw(),
            c".".as_ptr(),
            libc::O_RDONLY | libc::O_DIRECTORY | libc::O_CLOEXEC,
        )
    };
    let listing = check(raw as isize)?;
    // SAFETY: openat returned a fresh descriptor that nothing else owns.
    let listing = unsafe { <OwnedFd as std::os::fd::FromRawFd>::from_raw_fd(listing as i32) };
    if cookie != DirCookie::START {
        let at = i64::try_from(cookie.0).map_err(|_| Errno::INVAL)?;
        // SAFETY: seeking a directory descriptor we own to a cookie from getdents64.
        check(unsafe { libc::lseek(listing.as_raw_fd(), at, libc::SEEK_SET) } as isize)?;
    }
    let mut out: Vec<u8> = Vec::new();
    let mut chunk = vec![0u8; 32 * 1024];
    'fill: while out.len() < capacity {
        // SAFETY: the chunk buffer has `chunk.len()` writable bytes.
        let n = check(unsafe {
            libc::syscall(
                libc::SYS_getdents64,
                listing.as_raw_fd(),
                chunk.as_mut_ptr(),
                chunk.len(),
            ) as isize
        })?;
        if n == 0 {
            break;
        }
        let mut at = 0;
        while at + 19 <= n {
            let rec = &chunk[at..n];
            let ino = u64::from_ne_bytes(rec[0..8].try_into().map_err(|_| Errno::IO)?);
            let off = u64::from_ne_bytes(rec[8..16].try_into().map_err(|_| Errno::IO)?);
            let reclen = usize::from(u16::from_ne_bytes([rec[16], rec[17]]));
            if reclen < 19 || reclen > rec.len() {
                return Err(Errno::IO);
            }
            let dtype = rec[18];
            let name_area = &rec[19..reclen];
            let namelen = name_area
                .iter()
                .position(|&b| b == 0)
                .unwrap_or(name_area.len());
            let name = &name_area[..namelen];
            let entry = Dirent {
                d_next: DirCookie(off),
                d_ino: cloudabi_types::Inode(ino),
                d_namlen: namelen as u32,
                d_type: match dtype {
                    libc::DT_DIR => FileType::DIRECTORY,
                    libc::DT_REG => FileType::REGULAR_FILE,
                    libc::DT_LNK => FileType::SYMBOLIC_LINK,
                    libc::DT_SOCK | libc::DT_FIFO => FileType::SOCKET_STREAM,
                    libc::DT_CHR => FileType::CHARACTER_DEVICE,
                    libc::DT_BLK => FileType::BLOCK_DEVICE,
                    _ => FileType::UNKNOWN,
                },
            };
            let mut bytes = [0u8; DIRENT_SIZE];
            bytes[0..8].copy_from_slice(&entry.d_next.0.to_ne_bytes());
            bytes[8..16].copy_from_slice(&entry.d_ino.0.to_ne_bytes());
            bytes[16..20].copy_from_slice(&entry.d_namlen.to_ne_bytes());
            bytes[20] = entry.d_type.0;
            out.extend_from_slice(&bytes);
            out.extend_from_slice(name);
            if out.len() >= capacity {
                out.truncate(capacity);
                break 'fill;
            }
            at += reclen;
        }
    }
    buf.write_bytes(&out)?;
    bufused.write(out.len() as u64)
}
