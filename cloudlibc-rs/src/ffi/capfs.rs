//! `capfs.h`: capability-checked file access for C.
//!
//! C code names capabilities by plain descriptor numbers, so the rights of each
//! descriptor live in a process-wide table keyed by number, device and inode (a reused
//! number is recognized as a new file). A descriptor missing from the table has the
//! rights its open mode allows (see [`crate::capfs::rights_from_open_mode`]); every
//! descriptor this API opens is entered with the rights it derived.

use std::collections::HashMap;
use std::ffi::{CStr, OsStr, c_char, c_int};
use std::os::fd::{AsRawFd, BorrowedFd, IntoRawFd, RawFd};
use std::os::unix::ffi::OsStrExt;
use std::sync::Mutex;

use crate::capfs::{Dir, Error, File, OpenOptions, Rights, rights_from_open_mode};

#[derive(Clone, Copy)]
struct Entry {
    dev: u64,
    ino: u64,
    base: Rights,
    inheriting: Rights,
}

static TABLE: Mutex<Option<HashMap<RawFd, Entry>>> = Mutex::new(None);

fn identity(fd: BorrowedFd<'_>) -> Result<(u64, u64), Error> {
    let st = rustix::fs::fstat(fd)?;
    Ok((st.st_dev, st.st_ino))
}

/// The rights of `fd`: from the table if its entry still describes the same file.
fn rights_of(fd: BorrowedFd<'_>) -> Result<(Rights, Rights), Error> {
    let (dev, ino) = identity(fd)?;
    let table = TABLE.lock().unwrap_or_else(|p| p.into_inner());
    if let Some(e) = table.as_ref().and_then(|t| t.get(&fd.as_raw_fd()))
        && e.dev == dev
        && e.ino == ino
    {
        return Ok((e.base, e.inheriting));
    }
    drop(table);
    let base = rights_from_open_mode(fd)?;
    Ok((base, Rights::all()))
}

fn record(fd: BorrowedFd<'_>, base: Rights, inheriting: Rights) -> Result<(), Error> {
    let (dev, ino) = identity(fd)?;
    let mut table = TABLE.lock().unwrap_or_else(|p| p.into_inner());
    table.get_or_insert_with(HashMap::new).insert(
        fd.as_raw_fd(),
        Entry {
            dev,
            ino,
            base,
            inheriting,
        },
    );
    Ok(())
}

/// Runs `f`, turning an error into `-1` with `errno` set.
fn ret(f: impl FnOnce() -> Result<c_int, Error>) -> c_int {
    match f() {
        Ok(v) => v,
        Err(e) => {
            super::set_errno(e.errno());
            -1
        }
    }
}

/// # Safety
/// `fd` must be a descriptor number the caller holds open for the call.
unsafe fn borrow<'a>(fd: c_int) -> Result<BorrowedFd<'a>, Error> {
    if fd < 0 {
        return Err(rustix::io::Errno::BADF.into());
    }
    // SAFETY: the C caller holds `fd` open during the call (checked by fcntl below, which
    // turns an unused number into EBADF rather than misbehaving).
    if unsafe { libc::fcntl(fd, libc::F_GETFD) } < 0 {
        return Err(std::io::Error::last_os_error().into());
    }
    // SAFETY: open, as just checked, and the caller keeps it open during the call.
    Ok(unsafe { BorrowedFd::borrow_raw(fd) })
}

/// # Safety
/// `fd` must be a descriptor the caller holds open for the call.
unsafe fn dir<'a>(fd: c_int) -> Result<Dir<BorrowedFd<'a>>, Error> {
    // SAFETY: forwarded.
    let fd = unsafe { borrow(fd) }?;
    let (base, inheriting) = rights_of(fd)?;
    Dir::with_rights(fd, base, inheriting)
}

/// # Safety
/// `p` must be NULL or a NUL-terminated string.
unsafe fn path<'a>(p: *const c_char) -> Result<&'a OsStr, Error> {
    if p.is_null() {
        return Err(rustix::io::Errno::FAULT.into());
    }
    // SAFETY: NUL-terminated per the caller.
    Ok(OsStr::from_bytes(unsafe { CStr::from_ptr(p) }.to_bytes()))
}

/// Opens `path` beneath `dirfd` (flags as `open(2)`, see [`OpenOptions::from_flags`]).
/// Returns the new descriptor, or -1 with `errno` (`ENOTCAPABLE` for escapes and
/// missing rights).
///
/// # Safety
///
/// `path` must be a NUL-terminated string.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn capfs_openat(
    dirfd: c_int,
    path_: *const c_char,
    flags: c_int,
    mode: u32,
) -> c_int {
    ret(|| {
        // SAFETY: forwarded from the caller.
        let (d, p) = unsafe { (dir(dirfd)?, path(path_)?) };
        if flags & libc::O_DIRECTORY != 0 {
            if flags & libc::O_ACCMODE != libc::O_RDONLY || flags & libc::O_CREAT != 0 {
                return Err(rustix::io::Errno::INVAL.into());
            }
            let sub = d.open_dir(p)?;
            let (b, i) = (sub.base_rights(), sub.inheriting_rights());
            let fd = sub.into_fd();
            record(std::os::fd::AsFd::as_fd(&fd), b, i)?;
            return Ok(fd.into_raw_fd());
        }
        let options = OpenOptions::from_flags(flags & !libc::O_DIRECTORY, mode)?;
        let file = d.open_file(p, &options)?;
        let rights = file.rights();
        let fd = file.into_fd();
        record(std::os::fd::AsFd::as_fd(&fd), rights, Rights::empty())?;
        Ok(fd.into_raw_fd())
    })
}

/// Creates a directory beneath `dirfd`. 0, or -1 with `errno`.
///
/// # Safety
///
/// `path` must be a NUL-terminated string.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn capfs_mkdirat(dirfd: c_int, path_: *const c_char, mode: u32) -> c_int {
    ret(|| {
        // SAFETY: forwarded from the caller.
        let (d, p) = unsafe { (dir(dirfd)?, path(path_)?) };
        d.create_dir(p, mode)?;
        Ok(0)
    })
}

/// `fstatat` beneath `dirfd`; `flags` may hold `AT_SYMLINK_NOFOLLOW`. 0, or -1 with `errno`.
///
/// # Safety
///
/// `path` must be a NUL-terminated string and `st` valid for writes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn capfs_fstatat(
    dirfd: c_int,
    path_: *const c_char,
    st: *mut libc::stat,
    flags: c_int,
) -> c_int {
    ret(|| {
        if flags & !libc::AT_SYMLINK_NOFOLLOW != 0 {
            return Err(rustix::io::Errno::INVAL.into());
        }
        // SAFETY: forwarded from the caller.
        let (d, p) = unsafe { (dir(dirfd)?, path(path_)?) };
        let s = d.stat_raw(p, flags & libc::AT_SYMLINK_NOFOLLOW == 0)?;
        // SAFETY: valid for writes per the caller.
        unsafe { *st = s };
        Ok(0)
    })
}

/// Removes a file (or, with `AT_REMOVEDIR`, an empty directory) beneath `dirfd`.
///
/// # Safety
///
/// `path` must be a NUL-terminated string.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn capfs_unlinkat(dirfd: c_int, path_: *const c_char, flags: c_int) -> c_int {
    ret(|| {
        // SAFETY: forwarded from the caller.
        let (d, p) = unsafe { (dir(dirfd)?, path(path_)?) };
        match flags {
            0 => d.remove_file(p)?,
            libc::AT_REMOVEDIR => d.remove_dir(p)?,
            _ => return Err(rustix::io::Errno::INVAL.into()),
        }
        Ok(0)
    })
}

/// Renames `from` beneath `fromfd` to `to` beneath `tofd`.
///
/// # Safety
///
/// `from` and `to` must be NUL-terminated strings.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn capfs_renameat(
    fromfd: c_int,
    from: *const c_char,
    tofd: c_int,
    to: *const c_char,
) -> c_int {
    ret(|| {
        // SAFETY: forwarded from the caller.
        let (fd_, fp, td, tp) = unsafe { (dir(fromfd)?, path(from)?, dir(tofd)?, path(to)?) };
        fd_.rename(fp, &td, tp)?;
        Ok(0)
    })
}

/// Creates a symbolic link `link` beneath `dirfd` holding `target`.
///
/// # Safety
///
/// `target` and `link` must be NUL-terminated strings.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn capfs_symlinkat(
    target: *const c_char,
    dirfd: c_int,
    link: *const c_char,
) -> c_int {
    ret(|| {
        // SAFETY: forwarded from the caller.
        let (t, d, l) = unsafe { (path(target)?, dir(dirfd)?, path(link)?) };
        d.symlink(t, l)?;
        Ok(0)
    })
}

/// Reads the symbolic link `path` beneath `dirfd` into `buf` (not NUL-terminated, cut at
/// `len` bytes like `readlink(2)`). Returns the number of bytes stored, or -1.
///
/// # Safety
///
/// `path` must be a NUL-terminated string and `buf` valid for writes of `len` bytes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn capfs_readlinkat(
    dirfd: c_int,
    path_: *const c_char,
    buf: *mut c_char,
    len: usize,
) -> isize {
    let mut n = 0usize;
    let r = ret(|| {
        // SAFETY: forwarded from the caller.
        let (d, p) = unsafe { (dir(dirfd)?, path(path_)?) };
        let target = d.read_link(p)?;
        let bytes = target.as_bytes();
        n = bytes.len().min(len);
        // SAFETY: `buf` is valid for `len` bytes per the caller and `n <= len`.
        unsafe { std::ptr::copy_nonoverlapping(bytes.as_ptr(), buf.cast::<u8>(), n) };
        Ok(0)
    });
    if r < 0 { -1 } else { n as isize }
}

/// Lists `dirfd`: calls `callback(arg, name, d_type)` for every entry except `.` and `..`
/// (`d_type` as in `struct dirent`); stops early when the callback returns non-zero and
/// returns that value. 0 when all entries were visited, -1 with `errno` on error.
///
/// # Safety
///
/// `callback` must be callable with `arg`; the name it gets lives only during the call.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn capfs_readdir(
    dirfd: c_int,
    callback: unsafe extern "C" fn(*mut std::ffi::c_void, *const c_char, u8) -> c_int,
    arg: *mut std::ffi::c_void,
) -> c_int {
    ret(|| {
        // SAFETY: forwarded from the caller.
        let d = unsafe { dir(dirfd)? };
        for entry in d.entries()? {
            let entry = entry?;
            let name = std::ffi::CString::new(entry.name().as_bytes())
                .map_err(|_| Error::from(rustix::io::Errno::INVAL))?;
            let t = match entry.file_type() {
                crate::capfs::FileType::RegularFile => libc::DT_REG,
                crate::capfs::FileType::Directory => libc::DT_DIR,
                crate::capfs::FileType::Symlink => libc::DT_LNK,
                crate::capfs::FileType::CharacterDevice => libc::DT_CHR,
                crate::capfs::FileType::BlockDevice => libc::DT_BLK,
                crate::capfs::FileType::Fifo => libc::DT_FIFO,
                crate::capfs::FileType::Socket => libc::DT_SOCK,
                crate::capfs::FileType::Unknown => libc::DT_UNKNOWN,
            };
            // SAFETY: callable with `arg` per the caller; `name` outlives the call.
            let r = unsafe { callback(arg, name.as_ptr(), t) };
            if r != 0 {
                return Ok(r);
            }
        }
        Ok(0)
    })
}

/// Limits the rights of `fd` to `base` and `inheriting` (they never grow). 0 or -1.
#[unsafe(no_mangle)]
pub extern "C" fn capfs_limit(fd: c_int, base: u64, inheriting: u64) -> c_int {
    ret(|| {
        // SAFETY: the C caller passes a descriptor it holds open for the call.
        let b = unsafe { borrow(fd)? };
        let (old_base, old_inh) = rights_of(b)?;
        record(
            b,
            old_base & Rights::from_bits_truncate(base),
            old_inh & Rights::from_bits_truncate(inheriting),
        )?;
        Ok(0)
    })
}

/// Stores the rights of `fd` in `*base` and `*inheriting` (either may be NULL). 0 or -1.
///
/// # Safety
///
/// Non-NULL pointers must be valid for writes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn capfs_rights(fd: c_int, base: *mut u64, inheriting: *mut u64) -> c_int {
    ret(|| {
        // SAFETY: the C caller passes a descriptor it holds open for the call.
        let b = unsafe { borrow(fd)? };
        let (rb, ri) = rights_of(b)?;
        // SAFETY: non-NULL pointers are valid for writes per the caller.
        unsafe {
            if !base.is_null() {
                *base = rb.bits();
            }
            if !inheriting.is_null() {
                *inheriting = ri.bits();
            }
        }
        Ok(0)
    })
}

/// `lseek` checked against the rights of `fd` (an append-only file cannot seek).
#[unsafe(no_mangle)]
pub extern "C" fn capfs_lseek(fd: c_int, offset: i64, whence: c_int) -> i64 {
    let mut pos = 0u64;
    let r = ret(|| {
        // SAFETY: the C caller passes a descriptor it holds open for the call.
        let b = unsafe { borrow(fd)? };
        let (rights, _) = rights_of(b)?;
        let f = File::with_rights(b, rights)?;
        let from = match whence {
            libc::SEEK_SET => std::io::SeekFrom::Start(
                u64::try_from(offset).map_err(|_| Error::from(rustix::io::Errno::INVAL))?,
            ),
            libc::SEEK_CUR => std::io::SeekFrom::Current(offset),
            libc::SEEK_END => std::io::SeekFrom::End(offset),
            _ => return Err(rustix::io::Errno::INVAL.into()),
        };
        pos = f.seek_checked(from)?;
        Ok(0)
    });
    if r < 0 { -1 } else { pos as i64 }
}

/// `ftruncate` checked against the rights of `fd` (an append-only file cannot truncate).
#[unsafe(no_mangle)]
pub extern "C" fn capfs_ftruncate(fd: c_int, len: i64) -> c_int {
    ret(|| {
        // SAFETY: the C caller passes a descriptor it holds open for the call.
        let b = unsafe { borrow(fd)? };
        let (rights, _) = rights_of(b)?;
        let len = u64::try_from(len).map_err(|_| Error::from(rustix::io::Errno::INVAL))?;
        File::with_rights(b, rights)?.set_len(len)?;
        Ok(0)
    })
}

/// `write` checked against the rights of `fd`.
///
/// # Safety
///
/// `buf` must be valid for reads of `len` bytes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn capfs_write(fd: c_int, buf: *const std::ffi::c_void, len: usize) -> isize {
    let mut n = 0usize;
    let r = ret(|| {
        // SAFETY: the C caller passes a descriptor it holds open for the call.
        let b = unsafe { borrow(fd)? };
        let (rights, _) = rights_of(b)?;
        // SAFETY: readable per the caller.
        let data = unsafe { crate::node::slice(buf.cast(), len) };
        n = File::with_rights(b, rights)?.write_checked(data)?;
        Ok(0)
    });
    if r < 0 { -1 } else { n as isize }
}

/// `read` checked against the rights of `fd`.
///
/// # Safety
///
/// `buf` must be valid for writes of `len` bytes.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn capfs_read(fd: c_int, buf: *mut std::ffi::c_void, len: usize) -> isize {
    let mut n = 0usize;
    let r = ret(|| {
        // SAFETY: the C caller passes a descriptor it holds open for the call.
        let b = unsafe { borrow(fd)? };
        let (rights, _) = rights_of(b)?;
        let data: &mut [u8] = if len == 0 {
            &mut []
        } else {
            // SAFETY: writable for `len` bytes per the caller.
            unsafe { std::slice::from_raw_parts_mut(buf.cast::<u8>(), len) }
        };
        n = File::with_rights(b, rights)?.read_checked(data)?;
        Ok(0)
    });
    if r < 0 { -1 } else { n as isize }
}
