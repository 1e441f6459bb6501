//! Path resolution strictly beneath a directory descriptor.
//!
//! The fast path is `openat2(2)` with `RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS`, which lets
//! the kernel refuse absolute paths, `..` escapes and symbolic links pointing outside. On
//! kernels without `openat2` the path is walked one component at a time instead: every
//! component is opened with `O_NOFOLLOW` relative to a descriptor this code holds, `..`
//! pops back to the previously held descriptor (so renaming a directory out from under
//! the walk cannot lead outside), and symbolic links are read through their own
//! descriptor and spliced into the remaining path, counting at most [`MAX_SYMLINKS`].

use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::sync::atomic::{AtomicU8, Ordering};

use rustix::fs::{FileType, Mode, OFlags, ResolveFlags};
use rustix::io::Errno;

use super::Error;

/// Symbolic links followed during one resolution before giving up with `ELOOP`.
pub(crate) const MAX_SYMLINKS: u32 = 40;

/// How often `openat2` is retried when it reports a possible `..` race (`EAGAIN`).
const OPENAT2_RETRIES: u32 = 32;

/// Which resolver to use.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Strategy {
    /// `openat2` if the kernel has it, else [`Strategy::Walk`].
    Auto,
    /// Always walk component by component.
    Walk,
}

/// 0: unknown, 1: `openat2` works, 2: `openat2` is missing.
static OPENAT2: AtomicU8 = AtomicU8::new(0);

/// Opens `path` beneath `dir` with `flags` (`O_CLOEXEC` is always added) and `mode`.
/// When `follow` is false a symbolic link in the final component is not followed.
pub(crate) fn open_beneath(
    dir: BorrowedFd<'_>,
    path: &[u8],
    flags: OFlags,
    mode: Mode,
    follow: bool,
    strategy: Strategy,
) -> Result<OwnedFd, Error> {
    check_relative(path)?;
    let mut flags = flags | OFlags::CLOEXEC;
    // openat2 insists on a zero mode unless a file may be created.
    let mode = if flags.intersects(OFlags::CREATE | OFlags::TMPFILE) {
        mode
    } else {
        Mode::empty()
    };
    if !follow {
        flags |= OFlags::NOFOLLOW;
    }
    if strategy == Strategy::Auto && OPENAT2.load(Ordering::Relaxed) != 2 {
        let resolve = ResolveFlags::BENEATH | ResolveFlags::NO_MAGICLINKS;
        for _ in 0..OPENAT2_RETRIES {
            match rustix::fs::openat2(dir, path, flags, mode, resolve) {
                Ok(fd) => {
                    OPENAT2.store(1, Ordering::Relaxed);
                    return Ok(fd);
                }
                Err(Errno::XDEV) => return Err(Error::Escape),
                Err(Errno::AGAIN) => continue,
                Err(Errno::NOSYS) => {
                    OPENAT2.store(2, Ordering::Relaxed);
                    break;
                }
                Err(e) => return Err(e.into()),
            }
        }
        if OPENAT2.load(Ordering::Relaxed) != 2 {
            return Err(Errno::AGAIN.into());
        }
    }
    walk(dir, path, flags, mode, follow)
}

/// Rejects the paths that can never be beneath a directory.
pub(crate) fn check_relative(path: &[u8]) -> Result<(), Error> {
    if path.is_empty() {
        return Err(Errno::NOENT.into());
    }
    if path.contains(&0) {
        return Err(Errno::INVAL.into());
    }
    if path[0] == b'/' {
        return Err(Error::Escape);
    }
    Ok(())
}

/// Splits a relative `path` into the part naming the parent directory and a final
/// component that is a plain name, for operations that act on a directory entry (create,
/// remove, rename, link).
///
/// Trailing slashes are ignored. The parent part is empty when `path` has no directory part
/// (the entry is in the directory itself); otherwise it never is.
///
/// # Errors
///
/// Nothing is opened; only the shape of `path` is checked:
/// - an empty path: [`Error::Os`] with `ENOENT`;
/// - a path containing a NUL byte, or whose final component is `.` or `..`: [`Error::Os`]
///   with `EINVAL`;
/// - an absolute path: [`Error::Escape`].
///
/// ```
/// use cloudlibc_rs::capfs::{Error, split_parent};
///
/// let (parent, name) = split_parent(b"www/docs/notes.txt")?;
/// assert_eq!((parent, name), (&b"www/docs"[..], &b"notes.txt"[..]));
/// assert_eq!(split_parent(b"new-dir//")?, (&b""[..], &b"new-dir"[..]));
/// assert!(matches!(split_parent(b"/etc/passwd"), Err(Error::Escape)));
/// assert!(split_parent(b"www/..").is_err());
/// # Ok::<(), Error>(())
/// ```
pub fn split_parent(path: &[u8]) -> Result<(&[u8], &[u8]), Error> {
    check_relative(path)?;
    let mut end = path.len();
    while end > 0 && path[end - 1] == b'/' {
        end -= 1;
    }
    let trimmed = &path[..end];
    let (parent, name) = match trimmed.iter().rposition(|&b| b == b'/') {
        Some(i) => (&trimmed[..i], &trimmed[i + 1..]),
        None => (&trimmed[..0], trimmed),
    };
    if name.is_empty() || name == b"." || name == b".." {
        return Err(Errno::INVAL.into());
    }
    Ok((parent, name))
}

/// A directory to act in: either the capability itself or a parent opened beneath it.
pub(crate) enum Parent<'a> {
    /// The path had no directory part.
    Same(BorrowedFd<'a>),
    /// The directory part, opened with `O_PATH`.
    Opened(OwnedFd),
}

impl Parent<'_> {
    /// The descriptor to pass to the `*at` system call.
    pub(crate) fn fd(&self) -> BorrowedFd<'_> {
        match self {
            Parent::Same(fd) => *fd,
            Parent::Opened(fd) => fd.as_fd(),
        }
    }
}

/// Opens the parent directory of `path` beneath `dir` and returns it with the final name.
pub(crate) fn open_parent<'a, 'p>(
    dir: BorrowedFd<'a>,
    path: &'p [u8],
    strategy: Strategy,
) -> Result<(Parent<'a>, &'p [u8]), Error> {
    let (parent, name) = split_parent(path)?;
    if parent.is_empty() {
        return Ok((Parent::Same(dir), name));
    }
    let fd = open_beneath(
        dir,
        parent,
        OFlags::PATH | OFlags::DIRECTORY,
        Mode::empty(),
        true,
        strategy,
    )?;
    Ok((Parent::Opened(fd), name))
}

/// Pushes the components of `path` onto `pending` so that the first is popped first.
fn push_components(pending: &mut Vec<Vec<u8>>, path: &[u8]) {
    for comp in path.split(|&b| b == b'/').rev() {
        if !comp.is_empty() {
            pending.push(comp.to_vec());
        }
    }
}

/// Reads the target of the symbolic link open as `link` (an `O_PATH | O_NOFOLLOW`
/// descriptor) and splices it into `pending`.
fn splice_link(
    link: BorrowedFd<'_>,
    pending: &mut Vec<Vec<u8>>,
    links: &mut u32,
) -> Result<bool, Error> {
    *links += 1;
    if *links > MAX_SYMLINKS {
        return Err(Errno::LOOP.into());
    }
    let target = rustix::fs::readlinkat(link, c"", Vec::new())?.into_bytes();
    if target.is_empty() {
        return Err(Errno::NOENT.into());
    }
    if target[0] == b'/' {
        return Err(Error::Escape);
    }
    push_components(pending, &target);
    Ok(target.ends_with(b"/"))
}

/// The component-by-component resolver used when `openat2` is unavailable.
fn walk(
    dir: BorrowedFd<'_>,
    path: &[u8],
    flags: OFlags,
    mode: Mode,
    follow: bool,
) -> Result<OwnedFd, Error> {
    let mut pending = Vec::new();
    push_components(&mut pending, path);
    let mut must_be_dir = path.ends_with(b"/");
    let mut stack: Vec<OwnedFd> = Vec::new();
    let mut links = 0;
    loop {
        let cur = stack.last().map_or(dir, |fd| fd.as_fd());
        let Some(comp) = pending.pop() else {
            // Only `.`, `..` or slashes were left: the result is the current directory.
            return Ok(rustix::fs::openat(
                cur,
                c".",
                flags | OFlags::DIRECTORY,
                mode,
            )?);
        };
        match comp.as_slice() {
            b"." => continue,
            b".." => {
                if stack.pop().is_none() {
                    return Err(Error::Escape);
                }
                continue;
            }
            _ => {}
        }
        if !pending.is_empty() {
            let fd = rustix::fs::openat(
                cur,
                comp.as_slice(),
                OFlags::PATH | OFlags::NOFOLLOW | OFlags::CLOEXEC,
                Mode::empty(),
            )?;
            match FileType::from_raw_mode(rustix::fs::fstat(&fd)?.st_mode) {
                FileType::Symlink => {
                    splice_link(fd.as_fd(), &mut pending, &mut links)?;
                }
                FileType::Directory => stack.push(fd),
                _ => return Err(Errno::NOTDIR.into()),
            }
            continue;
        }
        let mut last_flags = flags | OFlags::NOFOLLOW;
        if must_be_dir {
            last_flags |= OFlags::DIRECTORY;
        }
        match rustix::fs::openat(cur, comp.as_slice(), last_flags, mode) {
            Ok(fd) => return Ok(fd),
            Err(e @ (Errno::LOOP | Errno::NOTDIR)) if follow => {
                // The final component may be a symbolic link: look at it without following.
                let link = rustix::fs::openat(
                    cur,
                    comp.as_slice(),
                    OFlags::PATH | OFlags::NOFOLLOW | OFlags::CLOEXEC,
                    Mode::empty(),
                )?;
                if FileType::from_raw_mode(rustix::fs::fstat(&link)?.st_mode) != FileType::Symlink {
                    return Err(e.into());
                }
                must_be_dir |= splice_link(link.as_fd(), &mut pending, &mut links)?;
            }
            Err(e) => return Err(e.into()),
        }
    }
}
