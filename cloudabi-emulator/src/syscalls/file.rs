//! The `file_*` system calls.
//!
//! Paths are resolved strictly beneath the directory descriptor they are relative to:
//! directory parts by `cloudlibc_rs::capfs` (`openat2` with `RESOLVE_BENEATH`, or a
//! careful walk on old kernels), so absolute paths and escapes through `..` or symbolic
//! links fail with `ENOTCAPABLE`. Operations on a directory entry then act on the final
//! name relative to the opened parent without following it; where CloudABI asks for a
//! final symbolic link to be followed, this module reads the link and resolves its
//! target beneath the same directory again.

use std::ffi::{CString, OsStr};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::sync::Arc;

use cloudabi_types::{
    Advice, DirCookie, Dirent, Errno, FdFlags, FdStat, FileStat, FileType, FsFlags, LookupFlags,
    OFlags, Rights, UlFlags,
};
use cloudlibc_rs::capfs::{Dir, OpenOptions};

use super::fd::check;
use super::fdtable::{self, Entry, Object};
use super::{Process, errno, mem};

/// The longest path accepted.
const PATH_MAX: u64 = 4096;
/// How many symbolic links one lookup may expand.
const MAX_SYMLINKS: usize = 40;

/// Copies a path argument out of guest memory.
fn path(addr: u64, len: u64) -> Result<Vec<u8>, Errno> {
    let path = mem::read_bytes(addr, len, PATH_MAX, Errno::NAMETOOLONG)?;
    check_path(&path)?;
    Ok(path)
}

/// Rejects paths that can never be beneath a directory.
fn check_path(path: &[u8]) -> Result<(), Errno> {
    if path.is_empty() {
        return Err(Errno::NOENT);
    }
    if path.contains(&0) {
        return Err(Errno::INVAL);
    }
    if path[0] == b'/' {
        return Err(Errno::NOTCAPABLE);
    }
    Ok(())
}

/// Splits a `lookup` argument into descriptor and flags.
fn lookup(arg: u64) -> (u64, LookupFlags) {
    (
        arg & 0xffff_ffff,
        LookupFlags::from_bits_retain((arg >> 32) as u32),
    )
}

/// A resolver over a directory entry, with every right (rights are checked here, not by
/// capfs).
fn resolver(dir: &Entry) -> Result<Dir<BorrowedFd<'_>>, Errno> {
    if dir.object.filetype != FileType::DIRECTORY {
        return Err(Errno::NOTDIR);
    }
    Dir::with_rights(dir.host(), Rights::all(), Rights::all()).map_err(|e| errno::from_capfs(&e))
}

/// A directory entry to act on: the directory holding it and its name.
struct Place {
    parent: OwnedFd,
    name: CString,
    /// The path (relative to the original directory) of `parent`.
    parent_path: Vec<u8>,
}

impl Place {
    fn fd(&self) -> i32 {
        self.parent.as_raw_fd()
    }
}

/// Opens the parent of `path` beneath `dir`. The final component must be a plain name
/// (not `.` or `..`): `EINVAL` otherwise.
fn place(dir: &Entry, path: &[u8]) -> Result<Place, Errno> {
    let (parent, name) =
        cloudlibc_rs::capfs::split_parent(path).map_err(|e| errno::from_capfs(&e))?;
    // No directory part: the entry is in `dir` itself.
    let parent = if parent.is_empty() { &b"."[..] } else { parent };
    let opened = resolver(dir)?
        .open_dir(OsStr::from_bytes(parent))
        .map_err(|e| errno::from_capfs(&e))?
        .into_fd();
    Ok(Place {
        parent: opened,
        name: CString::new(name).map_err(|_| Errno::INVAL)?,
        parent_path: parent.to_vec(),
    })
}

/// Like [`place`], but when `follow` is set and the entry is a symbolic link, resolves
/// its target (beneath `dir`) instead, repeatedly.
fn place_following(dir: &Entry, path: &[u8], follow: bool) -> Result<Place, Errno> {
    let mut path = path.to_vec();
    for _ in 0..MAX_SYMLINKS {
        let at = place(dir, &path)?;
        if !follow {
            return Ok(at);
        }
        let st = match fstatat(at.fd(), &at.name, false) {
            Ok(st) => st,
            Err(Errno::NOENT) => return Ok(at),
            Err(e) => return Err(e),
        };
        if st.st_mode & libc::S_IFMT != libc::S_IFLNK {
            return Ok(at);
        }
        let target = readlinkat(at.fd(), &at.name)?;
        if target.first() == Some(&b'/') {
            return Err(Errno::NOTCAPABLE);
        }
        let mut next = at.parent_path.clone();
        next.push(b'/');
        next.extend_from_slice(&target);
        path = next;
    }
    Err(Errno::LOOP)
}

fn fstatat(dirfd: i32, name: &CString, follow: bool) -> Result<libc::stat, Errno> {
    // SAFETY: an all-zero `struct stat` is valid.
    let mut st: libc::stat = unsafe { core::mem::zeroed() };
    let flags = if follow { 0 } else { libc::AT_SYMLINK_NOFOLLOW };
    // SAFETY: valid descriptor, NUL-terminated name and out pointer.
    check(unsafe { libc::fstatat(dirfd, name.as_ptr(), &mut st, flags) } as isize)?;
    Ok(st)
}

fn readlinkat(dirfd: i32, name: &CString) -> Result<Vec<u8>, Errno> {
    let mut buf = vec![0u8; PATH_MAX as usize + 1];
    // SAFETY: the buffer has `buf.len()` writable bytes.
    let n = check(unsafe {
        libc::readlinkat(dirfd, name.as_ptr(), buf.as_mut_ptr().cast(), buf.len())
    })?;
    buf.truncate(n);
    Ok(buf)
}

/// `file_create(fd, path, path_len, type)`.
pub(crate) fn create(p: &Process, args: &[u64; 7]) -> Result<(), Errno> {
    if args[3] != u64::from(FileType::DIRECTORY.0) {
        return Err(Errno::INVAL);
    }
    let dir = p.fds.get_with(args[0], Rights::FILE_CREATE_DIRECTORY)?;
    let at = place(&dir, &path(args[1], args[2])?)?;
    // SAFETY: valid descriptor and NUL-terminated name.
    check(unsafe { libc::mkdirat(at.fd(), at.name.as_ptr(), 0o777) } as isize).map(drop)
}

/// `file_link(fd1, path1, path1_len, fd2, path2, path2_len)`.
pub(crate) fn link(p: &Process, args: &[u64; 7]) -> Result<(), Errno> {
    let (fd1, flags) = lookup(args[0]);
    let from_dir = p.fds.get_with(fd1, Rights::FILE_LINK_SOURCE)?;
    let to_dir = p.fds.get_with(args[3], Rights::FILE_LINK_TARGET)?;
    let from = place_following(
        &from_dir,
        &path(args[1], args[2])?,
        flags.contains(LookupFlags::SYMLINK_FOLLOW),
    )?;
    let to = place(&to_dir, &path(args[4], args[5])?)?;
    // SAFETY: valid descriptors and NUL-terminated names; the source is never followed
    // by the kernel (it was resolved above).
    check(
        unsafe { libc::linkat(from.fd(), from.name.as_ptr(), to.fd(), to.name.as_ptr(), 0) }
            as isize,
    )
    .map(drop)
}

/// `file_rename(fd1, path1, path1_len, fd2, path2, path2_len)`.
pub(crate) fn rename(p: &Process, args: &[u64; 7]) -> Result<(), Errno> {
    let from_dir = p.fds.get_with(args[0], Rights::FILE_RENAME_SOURCE)?;
    let to_dir = p.fds.get_with(args[3], Rights::FILE_RENAME_TARGET)?;
    let from = place(&from_dir, &path(args[1], args[2])?)?;
    let to = place(&to_dir, &path(args[4], args[5])?)?;
    // SAFETY: valid descriptors and NUL-terminated names.
    check(
        unsafe { libc::renameat(from.fd(), from.name.as_ptr(), to.fd(), to.name.as_ptr()) }
            as isize,
    )
    .map(drop)
}

/// `file_symlink(path1, path1_len, fd, path2, path2_len)`.
pub(crate) fn symlink(p: &Process, args: &[u64; 7]) -> Result<(), Errno> {
    let target = mem::read_bytes(args[0], args[1], PATH_MAX, Errno::NAMETOOLONG)?;
    let target = CString::new(target).map_err(|_| Errno::INVAL)?;
    let dir = p.fds.get_with(args[2], Rights::FILE_SYMLINK)?;
    let at = place(&dir, &path(args[3], args[4])?)?;
    // SAFETY: NUL-terminated strings and a valid descriptor. The link's text is stored
    // as given; following it later is checked like any other path.
    check(unsafe { libc::symlinkat(target.as_ptr(), at.fd(), at.name.as_ptr()) } as isize).map(drop)
}

/// `file_unlink(fd, path, path_len, flags)`.
pub(crate) fn unlink(p: &Process, args: &[u64; 7]) -> Result<(), Errno> {
    let flags = u8::try_from(args[3])
        .ok()
        .and_then(UlFlags::from_bits)
        .ok_or(Errno::INVAL)?;
    let dir = p.fds.get_with(args[0], Rights::FILE_UNLINK)?;
    let at = place(&dir, &path(args[1], args[2])?)?;
    let removedir = flags.contains(UlFlags::REMOVEDIR);
    let linux = if removedir { libc::AT_REMOVEDIR } else { 0 };
    // SAFETY: valid descriptor and NUL-terminated name.
    match check(unsafe { libc::unlinkat(at.fd(), at.name.as_ptr(), linux) } as isize) {
        // Without `AT_REMOVEDIR`, Linux says `EISDIR` only for a directory, which FreeBSD
        // (and so CloudABI) refuses to unlink with `EPERM`.
        Err(Errno::ISDIR) if !removedir => Err(Errno::PERM),
        result => result.map(drop),
    }
}

/// `file_readlink(fd, path, path_len, buf, buf_len, *bufused)`.
pub(crate) fn readlink(p: &Process, args: &[u64; 7]) -> Result<(), Errno> {
    let dir = p.fds.get_with(args[0], Rights::FILE_READLINK)?;
    let at = place(&dir, &path(args[1], args[2])?)?;
    let target = readlinkat(at.fd(), &at.name)?;
    let n = target
        .len()
        .min(usize::try_from(args[4]).unwrap_or(usize::MAX));
    mem::write_bytes(args[3], &target[..n])?;
    mem::write(args[5], n as u64)
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
pub(crate) fn stat_fget(p: &Process, args: &[u64; 7]) -> Result<(), Errno> {
    let e = p.fds.get_with(args[0], Rights::FILE_STAT_FGET)?;
    // SAFETY: an all-zero `struct stat` is valid.
    let mut st: libc::stat = unsafe { core::mem::zeroed() };
    // SAFETY: valid descriptor and out pointer.
    check(unsafe { libc::fstat(e.raw(), &mut st) } as isize)?;
    let filetype = match e.object.filetype {
        FileType::UNKNOWN => filetype_of(st.st_mode),
        known => known,
    };
    mem::write(args[1], filestat(&st, filetype))
}

/// `file_stat_get(fd, path, path_len, *buf)`.
pub(crate) fn stat_get(p: &Process, args: &[u64; 7]) -> Result<(), Errno> {
    let (fd, flags) = lookup(args[0]);
    let dir = p.fds.get_with(fd, Rights::FILE_STAT_GET)?;
    let path = path(args[1], args[2])?;
    let st = resolver(&dir)?
        .stat_raw(
            OsStr::from_bytes(&path),
            flags.contains(LookupFlags::SYMLINK_FOLLOW),
        )
        .map_err(|e| errno::from_capfs(&e))?;
    mem::write(args[3], filestat(&st, filetype_of(st.st_mode)))
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

fn fsflags(arg: u64) -> Result<FsFlags, Errno> {
    u16::try_from(arg)
        .ok()
        .and_then(FsFlags::from_bits)
        .ok_or(Errno::INVAL)
}

const TIME_FLAGS: FsFlags = FsFlags::ATIM
    .union(FsFlags::ATIM_NOW)
    .union(FsFlags::MTIM)
    .union(FsFlags::MTIM_NOW);

/// `file_stat_fput(fd, *buf, flags)`.
pub(crate) fn stat_fput(p: &Process, args: &[u64; 7]) -> Result<(), Errno> {
    let flags = fsflags(args[2])?;
    let stat: FileStat = mem::read(args[1])?;
    if flags.contains(FsFlags::SIZE) {
        // Size and times cannot change in one call.
        if flags.intersects(TIME_FLAGS) {
            return Err(Errno::INVAL);
        }
        let e = p.fds.get_with(args[0], Rights::FILE_STAT_FPUT_SIZE)?;
        let size = i64::try_from(stat.st_size).map_err(|_| Errno::FBIG)?;
        // SAFETY: plain system call on a descriptor we hold.
        return check(unsafe { libc::ftruncate(e.raw(), size) } as isize).map(drop);
    }
    let e = p.fds.get_with(args[0], Rights::FILE_STAT_FPUT_TIMES)?;
    let ts = times(&stat, flags)?;
    // SAFETY: valid descriptor and a two-element timespec array.
    check(unsafe { libc::futimens(e.raw(), ts.as_ptr()) } as isize).map(drop)
}

/// `file_stat_put(fd, path, path_len, *buf, flags)`.
pub(crate) fn stat_put(p: &Process, args: &[u64; 7]) -> Result<(), Errno> {
    let (fd, lflags) = lookup(args[0]);
    let flags = fsflags(args[4])?;
    if flags.contains(FsFlags::SIZE) {
        return Err(Errno::INVAL);
    }
    let stat: FileStat = mem::read(args[3])?;
    let ts = times(&stat, flags)?;
    let dir = p.fds.get_with(fd, Rights::FILE_STAT_PUT_TIMES)?;
    let path = path(args[1], args[2])?;
    match place_following(&dir, &path, lflags.contains(LookupFlags::SYMLINK_FOLLOW)) {
        Ok(at) => {
            // SAFETY: valid descriptor, NUL-terminated name, two-element array; the name
            // is never followed (symbolic links were resolved above).
            check(unsafe {
                libc::utimensat(
                    at.fd(),
                    at.name.as_ptr(),
                    ts.as_ptr(),
                    libc::AT_SYMLINK_NOFOLLOW,
                )
            } as isize)
            .map(drop)
        }
        // A path ending in `.` or `..` names a directory: open it beneath and use that.
        Err(Errno::INVAL) => {
            let opened = resolver(&dir)?
                .open_dir(OsStr::from_bytes(&path))
                .map_err(|e| errno::from_capfs(&e))?;
            // SAFETY: valid descriptor and a two-element timespec array.
            check(unsafe { libc::futimens(opened.as_fd().as_raw_fd(), ts.as_ptr()) } as isize)
                .map(drop)
        }
        Err(e) => Err(e),
    }
}

/// `file_advise(fd, offset, len, advice)`.
pub(crate) fn advise(p: &Process, args: &[u64; 7]) -> Result<(), Errno> {
    let advice = match u8::try_from(args[3]).map(Advice) {
        Ok(Advice::DONTNEED) => libc::POSIX_FADV_DONTNEED,
        Ok(Advice::NOREUSE) => libc::POSIX_FADV_NOREUSE,
        Ok(Advice::NORMAL) => libc::POSIX_FADV_NORMAL,
        Ok(Advice::RANDOM) => libc::POSIX_FADV_RANDOM,
        Ok(Advice::SEQUENTIAL) => libc::POSIX_FADV_SEQUENTIAL,
        Ok(Advice::WILLNEED) => libc::POSIX_FADV_WILLNEED,
        _ => return Err(Errno::INVAL),
    };
    let e = p.fds.get_with(args[0], Rights::FILE_ADVISE)?;
    let offset = i64::try_from(args[1]).map_err(|_| Errno::INVAL)?;
    let len = i64::try_from(args[2]).map_err(|_| Errno::INVAL)?;
    // SAFETY: plain system call on a descriptor we hold; returns an errno value.
    let r = unsafe { libc::posix_fadvise(e.raw(), offset, len, advice) };
    if r != 0 {
        return Err(errno::from_linux(r));
    }
    Ok(())
}

/// `file_allocate(fd, offset, len)`.
pub(crate) fn allocate(p: &Process, args: &[u64; 7]) -> Result<(), Errno> {
    let e = p.fds.get_with(args[0], Rights::FILE_ALLOCATE)?;
    let offset = i64::try_from(args[1]).map_err(|_| Errno::INVAL)?;
    let len = i64::try_from(args[2]).map_err(|_| Errno::INVAL)?;
    // SAFETY: plain system call on a descriptor we hold; returns an errno value.
    let r = unsafe { libc::posix_fallocate(e.raw(), offset, len) };
    if r != 0 {
        return Err(errno::from_linux(r));
    }
    Ok(())
}

/// `file_open(dirfd, path, path_len, oflags, *fds, *fd)`.
pub(crate) fn open(p: &Process, args: &[u64; 7]) -> Result<(), Errno> {
    let (dirfd, lflags) = lookup(args[0]);
    let oflags = u16::try_from(args[3])
        .ok()
        .and_then(OFlags::from_bits)
        .ok_or(Errno::INVAL)?;
    let wanted: FdStat = mem::read(args[4])?;
    mem::check_array::<u32>(args[5], 1)?;
    let path = path(args[1], args[2])?;
    let dir = p.fds.get(dirfd)?;

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

    let resolver = resolver(&dir)?;
    let os_path = OsStr::from_bytes(&path);
    let follow = lflags.contains(LookupFlags::SYMLINK_FOLLOW);
    let open_dir = || -> Result<OwnedFd, Errno> {
        if !follow {
            let st = resolver
                .stat_raw(os_path, false)
                .map_err(|e| errno::from_capfs(&e))?;
            if st.st_mode & libc::S_IFMT == libc::S_IFLNK {
                return Err(Errno::LOOP);
            }
        }
        resolver
            .open_dir(os_path)
            .map(Dir::into_fd)
            .map_err(|e| errno::from_capfs(&e))
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
        let truncate = oflags.contains(OFlags::TRUNC);
        let mut options = OpenOptions::new();
        options
            .read(read || !write)
            .write(write || truncate)
            .append(flags.contains(FdFlags::APPEND))
            .follow_symlinks(follow)
            .mode(0o666);
        if oflags.contains(OFlags::CREAT) {
            if oflags.contains(OFlags::EXCL) {
                options.create_new(true);
            } else {
                options.create(true);
            }
        }
        match resolver.open_file(os_path, &options) {
            Ok(file) => {
                let fd = file.into_fd();
                if truncate {
                    // SAFETY: plain system call on the descriptor just opened for writing.
                    check(unsafe { libc::ftruncate(fd.as_raw_fd(), 0) } as isize)?;
                }
                fd
            }
            Err(e) => {
                let code = errno::from_capfs(&e);
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
    mem::write(args[5], new.0)
}

/// Size of the fixed part of a CloudABI directory entry.
const DIRENT_SIZE: usize = core::mem::size_of::<Dirent>();

/// `file_readdir(fd, buf, buf_len, cookie, *bufused)`.
pub(crate) fn readdir(p: &Process, args: &[u64; 7]) -> Result<(), Errno> {
    let dir = p.fds.get_with(args[0], Rights::FILE_READDIR)?;
    if dir.object.filetype != FileType::DIRECTORY {
        return Err(Errno::NOTDIR);
    }
    let capacity = usize::try_from(args[2]).map_err(|_| Errno::INVAL)?;
    let cookie = DirCookie(args[3]);
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
    mem::write_bytes(args[1], &out)?;
    mem::write(args[4], out.len() as u64)
}
