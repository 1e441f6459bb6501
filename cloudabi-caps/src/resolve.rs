//! Path resolution strictly beneath a directory descriptor.
//!
//! The fast path is `openat2(2)` with `RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS`, which lets
//! the kernel refuse absolute paths, `..` escapes and symbolic links pointing outside. On
//! kernels without `openat2` the path is walked one component at a time instead: every
//! component is opened with `O_NOFOLLOW` relative to a descriptor this code holds, `..`
//! pops back to the previously held descriptor (so renaming a directory out from under
//! the walk cannot lead outside), and symbolic links are read through their own
//! descriptor and spliced into the remaining path, counting at most [`MAX_SYMLINKS`].
//!
//! Operations on a directory entry (create, remove, rename, link) act on a final name
//! relative to its parent: [`open_parent`] opens the parent, [`place`] does the same for
//! the emulator (always handing back a descriptor of its own), and [`place_following`]
//! also follows a final symbolic link by resolving its target beneath the same directory
//! again, for the system calls that CloudABI lets follow one.
//!
//! A trailing slash on the last component means "this must be a directory", as on the
//! original CloudABI kernel (FreeBSD): [`open_beneath`] then follows a final symbolic link
//! whatever `follow` says and fails with `ENOTDIR` on anything but a directory, and
//! [`place`] and [`place_following`] follow a final link to the entry it names and refuse
//! an existing entry that is not a directory with `ENOTDIR` ([`Place::must_be_dir`] tells
//! the caller that the rule applies, for entries yet to be created). Only
//! [`place_literal`] and [`split_parent`] ignore trailing slashes.
//!
//! ```no_run
//! use cloudabi_caps::resolve::{Strategy, open_beneath};
//! use rustix::fs::{Mode, OFlags};
//! # fn demo(dir: std::os::fd::BorrowedFd<'_>) -> Result<(), cloudabi_caps::Error> {
//! let index = open_beneath(dir, b"www/index.html", OFlags::RDONLY, Mode::empty(), true, Strategy::Auto)?;
//! assert!(open_beneath(dir, b"../etc/passwd", OFlags::RDONLY, Mode::empty(), true, Strategy::Auto).is_err());
//! # drop(index); Ok(()) }
//! ```

use std::ffi::CString;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::sync::atomic::{AtomicU8, Ordering};

use rustix::fs::{AtFlags, FileType, Mode, OFlags, ResolveFlags};
use rustix::io::Errno;

use crate::Error;

/// Symbolic links followed during one resolution before giving up with `ELOOP`: 40, the
/// limit the kernel applies to `openat2` (Linux's `MAXSYMLINKS`), so that the fast path,
/// the component walk and [`place_following`] all accept the same paths. (The reference
/// emulator's own walk allowed 127 expansions; the kernel's fast path cannot go past 40.)
pub const MAX_SYMLINKS: u32 = 40;

/// How often `openat2` is retried when it reports a possible `..` race (`EAGAIN`).
const OPENAT2_RETRIES: u32 = 32;

/// Which resolver to use.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Strategy {
    /// `openat2` if the kernel has it, else [`Strategy::Walk`].
    Auto,
    /// Always walk component by component.
    Walk,
}

/// 0: unknown, 1: `openat2` works, 2: `openat2` is missing.
static OPENAT2: AtomicU8 = AtomicU8::new(0);

/// Opens `path` beneath `dir` with `flags` (`O_CLOEXEC` is always added) and `mode`.
/// When `follow` is false a symbolic link in the final component is not followed, unless
/// `path` ends with a slash (then the result must be a directory, `ENOTDIR` otherwise).
///
/// # Errors
///
/// [`Error::Escape`] for absolute paths and escapes through `..` or symbolic links,
/// [`Error::Os`] with the system's error otherwise (`ELOOP` after [`MAX_SYMLINKS`] links).
pub fn open_beneath(
    dir: BorrowedFd<'_>,
    path: &[u8],
    flags: OFlags,
    mode: Mode,
    follow: bool,
    strategy: Strategy,
) -> Result<OwnedFd, Error> {
    check_relative(path)?;
    let mut flags = flags | OFlags::CLOEXEC;
    // openat2 insists on a zero mode unless a file may be created. (`OFlags::TMPFILE`
    // includes `O_DIRECTORY`, so it must be tested as a whole.)
    let mode = if flags.contains(OFlags::CREATE) || flags.contains(OFlags::TMPFILE) {
        mode
    } else {
        Mode::empty()
    };
    // A trailing slash makes the kernel follow a final link anyway (and `openat2` ignores
    // `O_NOFOLLOW` then); the walk does the same.
    let follow = follow || has_trailing_slash(path);
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

/// Whether `path` ends with a slash, which makes its last component "must be a directory".
#[must_use]
pub fn has_trailing_slash(path: &[u8]) -> bool {
    path.ends_with(b"/")
}

/// Which resolver [`Strategy::Auto`] has settled on in this process: `Some(true)` once
/// `openat2` has worked, `Some(false)` once it was found missing (`ENOSYS`) and the
/// component walk is used instead, `None` before the first resolution.
#[must_use]
pub fn openat2_detected() -> Option<bool> {
    match OPENAT2.load(Ordering::Relaxed) {
        1 => Some(true),
        2 => Some(false),
        _ => None,
    }
}

/// Rejects the paths that can never be beneath a directory.
///
/// # Errors
///
/// An empty path: `ENOENT`; a path containing a NUL byte: `EINVAL`; an absolute path:
/// [`Error::Escape`].
pub fn check_relative(path: &[u8]) -> Result<(), Error> {
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
/// use cloudabi_caps::Error;
/// use cloudabi_caps::resolve::split_parent;
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
#[derive(Debug)]
pub enum Parent<'a> {
    /// The path had no directory part.
    Same(BorrowedFd<'a>),
    /// The directory part, opened with `O_PATH`.
    Opened(OwnedFd),
}

impl Parent<'_> {
    /// The descriptor to pass to the `*at` system call.
    #[must_use]
    pub fn fd(&self) -> BorrowedFd<'_> {
        match self {
            Parent::Same(fd) => *fd,
            Parent::Opened(fd) => fd.as_fd(),
        }
    }
}

/// Opens the parent directory of `path` beneath `dir` (with `O_PATH`, or not at all when
/// `path` has no directory part) and returns it with the final name.
///
/// # Errors
///
/// As [`split_parent`] and [`open_beneath`].
pub fn open_parent<'a, 'p>(
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

/// A directory entry to act on, from [`place`]: a descriptor of the directory holding it
/// (opened beneath the original directory) and its name.
#[derive(Debug)]
pub struct Place {
    parent: OwnedFd,
    name: CString,
    parent_path: Vec<u8>,
    must_be_dir: bool,
}

impl Place {
    /// The directory holding the entry, to pass to the `*at` system call.
    #[must_use]
    pub fn parent(&self) -> BorrowedFd<'_> {
        self.parent.as_fd()
    }

    /// The entry's name within [`Place::parent`]: a plain name, never `.` or `..`.
    #[must_use]
    pub fn name(&self) -> &CString {
        &self.name
    }

    /// The path of [`Place::parent`] relative to the original directory (`.` when the
    /// entry is in that directory itself).
    #[must_use]
    pub fn parent_path(&self) -> &[u8] {
        &self.parent_path
    }

    /// Whether the path ended with a slash (also one in a followed link's target): the
    /// entry must be a directory. When it exists, [`place`] and [`place_following`] have
    /// checked that it is one; an entry yet to be made must be made as a directory.
    #[must_use]
    pub fn must_be_dir(&self) -> bool {
        self.must_be_dir
    }

    /// The type of the entry itself (never following it), or `None` when there is none.
    ///
    /// # Errors
    ///
    /// The system's error when the entry cannot be looked at.
    pub fn entry_type(&self) -> Result<Option<FileType>, Error> {
        match rustix::fs::statat(
            &self.parent,
            self.name.as_c_str(),
            AtFlags::SYMLINK_NOFOLLOW,
        ) {
            Ok(st) => Ok(Some(FileType::from_raw_mode(st.st_mode))),
            Err(Errno::NOENT) => Ok(None),
            Err(e) => Err(e.into()),
        }
    }
}

/// Opens the parent of `path` beneath `dir` (always as a new descriptor, open for reading,
/// `.` when `path` has no directory part) and returns it with the final name, taken
/// literally: trailing slashes are ignored and nothing is followed. For the entry a path
/// names under CloudABI's rules, use [`place`].
///
/// # Errors
///
/// As [`split_parent`] (the final component must be a plain name) and [`open_beneath`].
pub fn place_literal(dir: BorrowedFd<'_>, path: &[u8]) -> Result<Place, Error> {
    let (parent, name) = split_parent(path)?;
    let parent = if parent.is_empty() { &b"."[..] } else { parent };
    let opened = open_beneath(
        dir,
        parent,
        OFlags::RDONLY | OFlags::DIRECTORY,
        Mode::empty(),
        true,
        Strategy::Auto,
    )?;
    Ok(Place {
        parent: opened,
        name: CString::new(name).map_err(|_| Error::from(Errno::INVAL))?,
        parent_path: parent.to_vec(),
        must_be_dir: has_trailing_slash(path),
    })
}

/// Opens the parent of `path` beneath `dir` (always as a new descriptor, open for reading,
/// `.` when `path` has no directory part) and returns it with the final name, not
/// following a final symbolic link, unless `path` ends with a slash: then the entry must be
/// a directory, a final link is followed to the entry it names (as [`place_following`]),
/// and an existing entry that is not a directory is refused.
///
/// # Errors
///
/// As [`split_parent`] (the final component must be a plain name) and [`open_beneath`];
/// with a trailing slash as [`place_following`], and `ENOTDIR` for an existing entry that
/// is not a directory.
pub fn place(dir: BorrowedFd<'_>, path: &[u8]) -> Result<Place, Error> {
    place_following(dir, path, false)
}

/// Like [`place`], but when `follow` is set (or `path` ends with a slash) and the entry is
/// a symbolic link, places its target (beneath `dir`) instead, repeatedly: at most
/// [`MAX_SYMLINKS`] links. A trailing slash, on `path` or on a followed link's target,
/// requires the entry to be a directory when it exists.
///
/// # Errors
///
/// As [`place_literal`]; [`Error::Escape`] for a link with an absolute target, `ELOOP` after
/// [`MAX_SYMLINKS`] links, `ENOTDIR` for an existing non-directory that must be one.
pub fn place_following(dir: BorrowedFd<'_>, path: &[u8], follow: bool) -> Result<Place, Error> {
    let mut path = path.to_vec();
    let mut links = 0;
    let mut must_be_dir = false;
    loop {
        let mut at = place_literal(dir, &path)?;
        must_be_dir |= at.must_be_dir;
        at.must_be_dir = must_be_dir;
        let kind = at.entry_type()?;
        if kind == Some(FileType::Symlink) && (follow || must_be_dir) {
            links += 1;
            if links > MAX_SYMLINKS {
                return Err(Errno::LOOP.into());
            }
            let target =
                rustix::fs::readlinkat(&at.parent, at.name.as_c_str(), Vec::new())?.into_bytes();
            if target.is_empty() {
                return Err(Errno::NOENT.into());
            }
            if target.first() == Some(&b'/') {
                return Err(Error::Escape);
            }
            let mut next = at.parent_path;
            next.push(b'/');
            next.extend_from_slice(&target);
            path = next;
            continue;
        }
        if must_be_dir && kind.is_some_and(|k| k != FileType::Directory) {
            return Err(Errno::NOTDIR.into());
        }
        return Ok(at);
    }
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
            // Only `.`, `..` or slashes were left: the result is the current directory
            // (which cannot be created: `EISDIR`, as `openat2` says).
            if flags.contains(OFlags::CREATE) {
                return Err(Errno::ISDIR.into());
            }
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
        // Creating under a name that must be a directory: Linux answers `EISDIR` without
        // looking the name up (whatever it is), as `openat2` shows; `openat` with
        // `O_CREAT | O_DIRECTORY` would say `EINVAL` instead.
        if must_be_dir && flags.contains(OFlags::CREATE) {
            return Err(Errno::ISDIR.into());
        }
        let mut last_flags = flags | OFlags::NOFOLLOW;
        if must_be_dir {
            last_flags |= OFlags::DIRECTORY;
        }
        match rustix::fs::openat(cur, comp.as_slice(), last_flags, mode) {
            // `O_PATH | O_NOFOLLOW` opens a final symbolic link itself instead of failing:
            // when following, splice its target like any other link.
            Ok(fd)
                if follow
                    && flags.contains(OFlags::PATH)
                    && FileType::from_raw_mode(rustix::fs::fstat(&fd)?.st_mode)
                        == FileType::Symlink =>
            {
                must_be_dir |= splice_link(fd.as_fd(), &mut pending, &mut links)?;
            }
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
