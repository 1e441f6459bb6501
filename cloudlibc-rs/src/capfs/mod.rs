//! Capability-checked file access: every path is resolved strictly beneath a directory
//! descriptor, and every descriptor carries CloudABI [`Rights`].
//!
//! [`Rights`] is [`cloudabi_types::Rights`], CloudABI's `cloudabi_rights_t`; the sets of
//! rights this layer hands out (a read-only directory, an append-only file, ...) are
//! constants in [`rights`]. The rules themselves (presets, rights from an open mode, path
//! resolution beneath a directory) live in the `cloudabi-caps` crate, which this module
//! wraps with descriptor types and C errno values.
//!
//! Absolute paths, `..` components that would leave the directory and symbolic links
//! pointing outside it are refused with [`Error::Escape`] (`ENOTCAPABLE` in C), whatever
//! happens to the file system meanwhile (see `resolve` for how). Operations that a
//! descriptor's rights do not allow fail with [`Error::MissingRights`] (also
//! `ENOTCAPABLE`): a read-only directory cannot be used to create, remove or rename
//! anything, and an append-only file cannot seek or be truncated.
//!
//! Rights are enforced by this layer, not by the kernel: the raw descriptor
//! ([`AsFd`]) still allows whatever its open mode allows. Confining raw system calls is the
//! launcher's job.
//!
//! ```no_run
//! use cloudlibc_rs::capfs::{Dir, OpenOptions, rights};
//! # fn demo(fd: std::os::fd::OwnedFd) -> Result<(), cloudlibc_rs::capfs::Error> {
//! let root = Dir::from_fd(fd)?.limit(rights::DIRECTORY_READ_ONLY, rights::FILE_READ_ONLY);
//! let mut index = root.open_file("www/index.html", &OpenOptions::new().read(true))?;
//! assert!(root.open_file("../etc/passwd", &OpenOptions::new().read(true)).is_err());
//! # Ok(()) }
//! ```

use cloudabi_caps::resolve;
pub use cloudabi_caps::rights;

use std::ffi::{OsStr, OsString};
use std::fs::Metadata;
use std::io::{self, IoSlice, IoSliceMut, Read, Seek, SeekFrom, Write};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd, RawFd};
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::Path;

use rustix::fs::{AtFlags, Mode, OFlags};
use rustix::io::Errno;

pub use rights::Rights;

use resolve::Strategy;

/// The errno value this crate reports for [`Error::Escape`] and [`Error::MissingRights`].
///
/// This is a Linux-side errno, not a CloudABI one. CloudABI's own code for the condition
/// is [`cloudabi_types::Errno::NOTCAPABLE`] (76, `CLOUDABI_ENOTCAPABLE` in
/// `cloudabi_types.h`), but errno values reported to C here use Linux's numbering, where
/// 76 is already `ENOTUNIQ`. Linux has no `ENOTCAPABLE`, so `capfs.h` defines it as 200,
/// outside the range Linux uses (1 ... 133). Code translating to CloudABI's numbering
/// maps this value to [`cloudabi_types::Errno::NOTCAPABLE`].
pub const ENOTCAPABLE: i32 = 200;

/// Why a capability-checked operation failed.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The path is absolute, or leaves the directory through `..` or a symbolic link.
    #[error("path is absolute or escapes the directory capability")]
    Escape,
    /// The descriptor lacks rights the operation needs.
    #[error("capability lacks the rights {missing:?}")]
    MissingRights {
        /// The rights that were needed but not held.
        missing: Rights,
    },
    /// The operating system refused the operation.
    #[error(transparent)]
    Os(#[from] io::Error),
}

impl From<Errno> for Error {
    fn from(e: Errno) -> Self {
        Error::Os(e.into())
    }
}

impl From<cloudabi_caps::Error> for Error {
    fn from(e: cloudabi_caps::Error) -> Self {
        match e {
            cloudabi_caps::Error::Escape => Error::Escape,
            cloudabi_caps::Error::Os(e) => Error::Os(e),
        }
    }
}

/// Splits a relative `path` into its parent part and a final plain name, as
/// [`cloudabi_caps::resolve::split_parent`] does (which documents the cases).
///
/// ```
/// use cloudlibc_rs::capfs::{Error, split_parent};
///
/// assert_eq!(split_parent(b"www/index.html")?, (&b"www"[..], &b"index.html"[..]));
/// assert!(matches!(split_parent(b"/etc/passwd"), Err(Error::Escape)));
/// # Ok::<(), Error>(())
/// ```
///
/// # Errors
///
/// [`Error::Escape`] for an absolute path, [`Error::Os`] with `ENOENT` or `EINVAL` for an
/// empty path, a NUL byte or a final `.` or `..`.
pub fn split_parent(path: &[u8]) -> Result<(&[u8], &[u8]), Error> {
    Ok(resolve::split_parent(path)?)
}

impl From<Error> for io::Error {
    fn from(e: Error) -> Self {
        match e {
            Error::Os(e) => e,
            other => io::Error::new(io::ErrorKind::PermissionDenied, other),
        }
    }
}

impl Error {
    /// The errno value for C: [`ENOTCAPABLE`] for capability violations, the system's
    /// value otherwise (`EIO` if there is none).
    #[must_use]
    pub fn errno(&self) -> i32 {
        match self {
            Error::Escape | Error::MissingRights { .. } => ENOTCAPABLE,
            Error::Os(e) => e.raw_os_error().unwrap_or(libc::EIO),
        }
    }

    /// Whether this is a capability violation (escape or missing rights).
    #[must_use]
    pub fn is_not_capable(&self) -> bool {
        !matches!(self, Error::Os(_))
    }
}

/// Fails unless `held` contains all of `needed`.
fn require(held: Rights, needed: Rights) -> Result<(), Error> {
    let missing = needed - held;
    if missing.is_empty() {
        Ok(())
    } else {
        Err(Error::MissingRights { missing })
    }
}

/// The kind of a directory entry or file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FileType {
    /// A regular file.
    RegularFile,
    /// A directory.
    Directory,
    /// A symbolic link.
    Symlink,
    /// A character device.
    CharacterDevice,
    /// A block device.
    BlockDevice,
    /// A named pipe.
    Fifo,
    /// A UNIX domain socket.
    Socket,
    /// Not known (the file system did not say).
    Unknown,
}

impl From<rustix::fs::FileType> for FileType {
    fn from(t: rustix::fs::FileType) -> Self {
        use rustix::fs::FileType as T;
        match t {
            T::RegularFile => FileType::RegularFile,
            T::Directory => FileType::Directory,
            T::Symlink => FileType::Symlink,
            T::CharacterDevice => FileType::CharacterDevice,
            T::BlockDevice => FileType::BlockDevice,
            T::Fifo => FileType::Fifo,
            T::Socket => FileType::Socket,
            _ => FileType::Unknown,
        }
    }
}

/// One entry of a directory listing (never `.` or `..`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DirEntry {
    name: OsString,
    file_type: FileType,
}

impl DirEntry {
    /// The entry's name within its directory.
    #[must_use]
    pub fn name(&self) -> &OsStr {
        &self.name
    }

    /// The entry's kind, as the directory reports it.
    #[must_use]
    pub fn file_type(&self) -> FileType {
        self.file_type
    }
}

/// An iterator over a directory's entries, from [`Dir::entries`].
pub struct ReadDir {
    inner: rustix::fs::Dir,
}

impl Iterator for ReadDir {
    type Item = Result<DirEntry, Error>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            let entry = match self.inner.read()? {
                Ok(entry) => entry,
                Err(e) => return Some(Err(e.into())),
            };
            let name = entry.file_name().to_bytes();
            if name == b"." || name == b".." {
                continue;
            }
            return Some(Ok(DirEntry {
                name: OsString::from_vec(name.to_vec()),
                file_type: entry.file_type().into(),
            }));
        }
    }
}

impl std::fmt::Debug for ReadDir {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ReadDir").finish_non_exhaustive()
    }
}

/// How to open a file beneath a directory, like [`std::fs::OpenOptions`].
#[derive(Clone, Debug)]
pub struct OpenOptions {
    read: bool,
    write: bool,
    append: bool,
    create: bool,
    create_new: bool,
    truncate: bool,
    follow: bool,
    mode: u32,
}

impl Default for OpenOptions {
    fn default() -> Self {
        Self::new()
    }
}

impl OpenOptions {
    /// No access, follow symbolic links, mode `0o666` for created files.
    #[must_use]
    pub fn new() -> Self {
        OpenOptions {
            read: false,
            write: false,
            append: false,
            create: false,
            create_new: false,
            truncate: false,
            follow: true,
            mode: 0o666,
        }
    }

    /// Open for reading (needs [`Rights::FD_READ`] in the directory's inheriting rights).
    pub fn read(&mut self, yes: bool) -> &mut Self {
        self.read = yes;
        self
    }

    /// Open for writing (needs [`Rights::FD_WRITE`] in the inheriting rights).
    pub fn write(&mut self, yes: bool) -> &mut Self {
        self.write = yes;
        self
    }

    /// Open for appending: the file gets no right to seek or truncate.
    pub fn append(&mut self, yes: bool) -> &mut Self {
        self.append = yes;
        self
    }

    /// Create the file if missing (needs [`Rights::FILE_CREATE_FILE`]).
    pub fn create(&mut self, yes: bool) -> &mut Self {
        self.create = yes;
        self
    }

    /// Create the file, failing if it exists (needs [`Rights::FILE_CREATE_FILE`]).
    pub fn create_new(&mut self, yes: bool) -> &mut Self {
        self.create_new = yes;
        self
    }

    /// Truncate the file (needs [`Rights::FILE_STAT_FPUT_SIZE`] among the directory's
    /// inheriting rights, since the opened file changes its size).
    pub fn truncate(&mut self, yes: bool) -> &mut Self {
        self.truncate = yes;
        self
    }

    /// Whether a symbolic link as the final component is followed (default: yes).
    pub fn follow_symlinks(&mut self, yes: bool) -> &mut Self {
        self.follow = yes;
        self
    }

    /// Permission bits for a created file (default `0o666`, less the umask).
    pub fn mode(&mut self, mode: u32) -> &mut Self {
        self.mode = mode & 0o7777;
        self
    }

    /// Translates `open(2)` flags. Only access mode, `O_CREAT`, `O_EXCL`, `O_TRUNC`,
    /// `O_APPEND` and `O_NOFOLLOW` carry meaning; `O_CLOEXEC` is always set and the
    /// remaining flags are rejected with `EINVAL`, except `O_NONBLOCK` and the
    /// `O_SYNC` family, which are ignored here and may be set on the result with `fcntl`.
    ///
    /// # Errors
    ///
    /// `EINVAL` for flags outside that set.
    pub fn from_flags(flags: i32, mode: u32) -> Result<Self, Error> {
        let known = libc::O_ACCMODE
            | libc::O_CREAT
            | libc::O_EXCL
            | libc::O_TRUNC
            | libc::O_APPEND
            | libc::O_NOFOLLOW
            | libc::O_CLOEXEC
            | libc::O_NONBLOCK
            | libc::O_SYNC
            | libc::O_DSYNC
            | libc::O_NOCTTY;
        if flags & !known != 0 {
            return Err(Errno::INVAL.into());
        }
        let mut o = OpenOptions::new();
        match flags & libc::O_ACCMODE {
            libc::O_RDONLY => o.read(true),
            libc::O_WRONLY => o.write(true),
            libc::O_RDWR => o.read(true).write(true),
            _ => return Err(Errno::INVAL.into()),
        };
        o.append(flags & libc::O_APPEND != 0)
            .truncate(flags & libc::O_TRUNC != 0)
            .follow_symlinks(flags & libc::O_NOFOLLOW == 0)
            .mode(mode);
        if flags & libc::O_CREAT != 0 {
            if flags & libc::O_EXCL != 0 {
                o.create_new(true);
            } else {
                o.create(true);
            }
        }
        Ok(o)
    }

    fn oflags(&self) -> OFlags {
        let mut f = match (self.read, self.write || self.append) {
            (true, true) => OFlags::RDWR,
            (false, true) => OFlags::WRONLY,
            _ => OFlags::RDONLY,
        };
        if self.append {
            f |= OFlags::APPEND;
        }
        if self.create_new {
            f |= OFlags::CREATE | OFlags::EXCL;
        } else if self.create {
            f |= OFlags::CREATE;
        }
        if self.truncate {
            f |= OFlags::TRUNC;
        }
        f
    }

    /// Rights the directory itself needs for this open.
    fn dir_rights_needed(&self) -> Rights {
        let mut r = Rights::FILE_OPEN;
        if self.create || self.create_new {
            r |= Rights::FILE_CREATE_FILE;
        }
        r
    }

    /// Rights the new descriptor needs, taken from the directory's inheriting rights.
    fn file_rights_needed(&self) -> Rights {
        let mut r = Rights::empty();
        if self.read {
            r |= Rights::FD_READ;
        }
        if self.write || self.append {
            r |= Rights::FD_WRITE;
        }
        // Truncating is changing the file's size: the opened file must be allowed to.
        if self.truncate {
            r |= Rights::FILE_STAT_FPUT_SIZE;
        }
        r
    }

    /// The rights a file opened this way ends up with, given the inheriting rights: the
    /// open flags' rule ([`rights::from_open_flags`]), and no reading rights unless asked
    /// for (a descriptor opened for neither reading nor writing is still `O_RDONLY`).
    fn file_rights(&self, inheriting: Rights) -> Rights {
        // `OFlags` are the kernel's `O_*` bits.
        let mut r = inheriting
            & rights::REGULAR_FILE
            & rights::from_open_flags(self.oflags().bits() as i32);
        if !self.read {
            r -= rights::FILE_INSPECT;
        }
        r
    }
}

/// A directory capability: a directory descriptor and its rights. `F` is [`OwnedFd`] for
/// an owned capability or [`BorrowedFd`] for one borrowed from elsewhere.
#[derive(Debug)]
pub struct Dir<F = OwnedFd> {
    fd: F,
    base: Rights,
    inheriting: Rights,
}

impl Dir<OwnedFd> {
    /// Takes a directory descriptor with every directory right, inheriting every right.
    ///
    /// # Errors
    ///
    /// `ENOTDIR` if `fd` is not a directory, or `fstat` errors.
    pub fn from_fd(fd: OwnedFd) -> Result<Self, Error> {
        Dir::with_rights(fd, rights::DIRECTORY, Rights::all())
    }
}

impl<'a> Dir<BorrowedFd<'a>> {
    /// Borrows a directory descriptor with every directory right.
    ///
    /// # Errors
    ///
    /// As [`Dir::from_fd`].
    pub fn borrowed(fd: BorrowedFd<'a>) -> Result<Self, Error> {
        Dir::with_rights(fd, rights::DIRECTORY, Rights::all())
    }
}

impl<F: AsFd> Dir<F> {
    /// Wraps a directory descriptor with the given base and inheriting rights.
    ///
    /// # Errors
    ///
    /// `ENOTDIR` if `fd` is not a directory, or `fstat` errors.
    pub fn with_rights(fd: F, base: Rights, inheriting: Rights) -> Result<Self, Error> {
        let st = rustix::fs::fstat(&fd)?;
        if rustix::fs::FileType::from_raw_mode(st.st_mode) != rustix::fs::FileType::Directory {
            return Err(Errno::NOTDIR.into());
        }
        Ok(Dir {
            fd,
            base: base & rights::DIRECTORY,
            inheriting,
        })
    }

    /// Drops rights: the result holds the intersection with `base` and `inheriting`.
    #[must_use]
    pub fn limit(self, base: Rights, inheriting: Rights) -> Self {
        Dir {
            fd: self.fd,
            base: self.base & base,
            inheriting: self.inheriting & inheriting,
        }
    }

    /// The rights for operations on this directory.
    #[must_use]
    pub fn base_rights(&self) -> Rights {
        self.base
    }

    /// The most that descriptors opened through this directory may get.
    #[must_use]
    pub fn inheriting_rights(&self) -> Rights {
        self.inheriting
    }

    /// Gives up the capability and returns the descriptor.
    pub fn into_fd(self) -> F {
        self.fd
    }

    fn raw(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }

    /// Opens (or creates) a file beneath this directory.
    ///
    /// # Errors
    ///
    /// [`Error::Escape`], [`Error::MissingRights`] or the system's error.
    pub fn open_file(&self, path: impl AsRef<Path>, options: &OpenOptions) -> Result<File, Error> {
        self.open_file_with(path.as_ref(), options, Strategy::Auto)
    }

    fn open_file_with(
        &self,
        path: &Path,
        options: &OpenOptions,
        strategy: Strategy,
    ) -> Result<File, Error> {
        require(self.base, options.dir_rights_needed())?;
        require(self.inheriting, options.file_rights_needed())?;
        let fd = resolve::open_beneath(
            self.raw(),
            path.as_os_str().as_bytes(),
            options.oflags(),
            Mode::from_raw_mode(options.mode),
            options.follow,
            strategy,
        )?;
        let rights = if is_dir(&fd)? {
            // A directory opened for reading: it may only be listed through `Dir`.
            return Err(Errno::ISDIR.into());
        } else {
            options.file_rights(self.inheriting)
        };
        Ok(File { fd, rights })
    }

    /// Opens a directory beneath this one; it gets this directory's inheriting rights.
    ///
    /// # Errors
    ///
    /// [`Error::Escape`], [`Error::MissingRights`], `ENOTDIR` or the system's error.
    pub fn open_dir(&self, path: impl AsRef<Path>) -> Result<Dir, Error> {
        self.open_dir_with(path.as_ref(), Strategy::Auto)
    }

    fn open_dir_with(&self, path: &Path, strategy: Strategy) -> Result<Dir, Error> {
        require(self.base, Rights::FILE_OPEN)?;
        let fd = resolve::open_beneath(
            self.raw(),
            path.as_os_str().as_bytes(),
            OFlags::RDONLY | OFlags::DIRECTORY,
            Mode::empty(),
            true,
            strategy,
        )?;
        Ok(Dir {
            fd,
            base: self.inheriting & rights::DIRECTORY,
            inheriting: self.inheriting,
        })
    }

    /// Creates a directory beneath this one.
    ///
    /// # Errors
    ///
    /// [`Error::Escape`], [`Error::MissingRights`] or the system's error.
    pub fn create_dir(&self, path: impl AsRef<Path>, mode: u32) -> Result<(), Error> {
        require(self.base, Rights::FILE_CREATE_DIRECTORY)?;
        let (parent, name) = resolve::open_parent(
            self.raw(),
            path.as_ref().as_os_str().as_bytes(),
            Strategy::Auto,
        )?;
        rustix::fs::mkdirat(parent.fd(), name, Mode::from_raw_mode(mode & 0o7777))?;
        Ok(())
    }

    /// Lists this directory.
    ///
    /// # Errors
    ///
    /// [`Error::MissingRights`] without [`Rights::FILE_READDIR`], or the system's error.
    pub fn entries(&self) -> Result<ReadDir, Error> {
        require(self.base, Rights::FILE_READDIR)?;
        // `Dir::read_from` opens its own descriptor for `.`, so this directory's offset is
        // left alone and listing twice starts from the beginning each time.
        Ok(ReadDir {
            inner: rustix::fs::Dir::read_from(self.raw())?,
        })
    }

    /// Returns the metadata of `path` beneath this directory (of a final symbolic link
    /// itself when `follow` is false).
    ///
    /// # Errors
    ///
    /// [`Error::Escape`], [`Error::MissingRights`] or the system's error.
    pub fn metadata(&self, path: impl AsRef<Path>, follow: bool) -> Result<Metadata, Error> {
        let fd = self.open_path(path.as_ref(), follow, Strategy::Auto)?;
        Ok(std::fs::File::from(fd).metadata()?)
    }

    /// Opens `path` with `O_PATH`, for `fstat` (needs [`Rights::FILE_STAT_GET`]).
    fn open_path(&self, path: &Path, follow: bool, strategy: Strategy) -> Result<OwnedFd, Error> {
        require(self.base, Rights::FILE_STAT_GET)?;
        Ok(resolve::open_beneath(
            self.raw(),
            path.as_os_str().as_bytes(),
            OFlags::PATH,
            Mode::empty(),
            follow,
            strategy,
        )?)
    }

    /// `fstat`s `path` beneath this directory into a C `struct stat`.
    ///
    /// # Errors
    ///
    /// As [`Dir::metadata`].
    pub fn stat_raw(&self, path: impl AsRef<Path>, follow: bool) -> Result<libc::stat, Error> {
        let fd = self.open_path(path.as_ref(), follow, Strategy::Auto)?;
        fstat_raw(fd.as_fd())
    }

    /// Removes a file or symbolic link beneath this directory.
    ///
    /// # Errors
    ///
    /// [`Error::Escape`], [`Error::MissingRights`] or the system's error.
    pub fn remove_file(&self, path: impl AsRef<Path>) -> Result<(), Error> {
        self.unlink(path.as_ref(), AtFlags::empty())
    }

    /// Removes an empty directory beneath this directory.
    ///
    /// # Errors
    ///
    /// [`Error::Escape`], [`Error::MissingRights`] or the system's error.
    pub fn remove_dir(&self, path: impl AsRef<Path>) -> Result<(), Error> {
        self.unlink(path.as_ref(), AtFlags::REMOVEDIR)
    }

    fn unlink(&self, path: &Path, flags: AtFlags) -> Result<(), Error> {
        require(self.base, Rights::FILE_UNLINK)?;
        let (parent, name) =
            resolve::open_parent(self.raw(), path.as_os_str().as_bytes(), Strategy::Auto)?;
        rustix::fs::unlinkat(parent.fd(), name, flags)?;
        Ok(())
    }

    /// Renames `from` beneath this directory to `to` beneath `to_dir` (which may be this
    /// directory). Needs [`Rights::FILE_RENAME_SOURCE`] here and
    /// [`Rights::FILE_RENAME_TARGET`] on `to_dir`.
    ///
    /// # Errors
    ///
    /// [`Error::Escape`], [`Error::MissingRights`] or the system's error.
    pub fn rename<G: AsFd>(
        &self,
        from: impl AsRef<Path>,
        to_dir: &Dir<G>,
        to: impl AsRef<Path>,
    ) -> Result<(), Error> {
        require(self.base, Rights::FILE_RENAME_SOURCE)?;
        require(to_dir.base, Rights::FILE_RENAME_TARGET)?;
        let (from_parent, from_name) = resolve::open_parent(
            self.raw(),
            from.as_ref().as_os_str().as_bytes(),
            Strategy::Auto,
        )?;
        let (to_parent, to_name) = resolve::open_parent(
            to_dir.raw(),
            to.as_ref().as_os_str().as_bytes(),
            Strategy::Auto,
        )?;
        rustix::fs::renameat(from_parent.fd(), from_name, to_parent.fd(), to_name)?;
        Ok(())
    }

    /// Creates a symbolic link at `link` beneath this directory, pointing to `target`.
    /// The target text is stored as given; following it later through this layer is
    /// refused if it points outside.
    ///
    /// # Errors
    ///
    /// [`Error::Escape`], [`Error::MissingRights`] or the system's error.
    pub fn symlink(&self, target: impl AsRef<Path>, link: impl AsRef<Path>) -> Result<(), Error> {
        require(self.base, Rights::FILE_SYMLINK)?;
        let target = target.as_ref().as_os_str().as_bytes();
        if target.contains(&0) {
            return Err(Errno::INVAL.into());
        }
        let (parent, name) = resolve::open_parent(
            self.raw(),
            link.as_ref().as_os_str().as_bytes(),
            Strategy::Auto,
        )?;
        rustix::fs::symlinkat(target, parent.fd(), name)?;
        Ok(())
    }

    /// Reads the target of the symbolic link `path` beneath this directory.
    ///
    /// # Errors
    ///
    /// [`Error::Escape`], [`Error::MissingRights`] or the system's error.
    pub fn read_link(&self, path: impl AsRef<Path>) -> Result<OsString, Error> {
        require(self.base, Rights::FILE_READLINK)?;
        let (parent, name) = resolve::open_parent(
            self.raw(),
            path.as_ref().as_os_str().as_bytes(),
            Strategy::Auto,
        )?;
        let target = rustix::fs::readlinkat(parent.fd(), name, Vec::new())?;
        Ok(OsString::from_vec(target.into_bytes()))
    }

    /// Test hook: opens a file, always with the component-by-component resolver.
    #[doc(hidden)]
    pub fn __open_file_walk(&self, path: &Path, options: &OpenOptions) -> Result<File, Error> {
        self.open_file_with(path, options, Strategy::Walk)
    }

    /// Test hook: opens a directory, always with the component-by-component resolver.
    #[doc(hidden)]
    pub fn __open_dir_walk(&self, path: &Path) -> Result<Dir, Error> {
        self.open_dir_with(path, Strategy::Walk)
    }
}

impl<F: AsFd> AsFd for Dir<F> {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

impl<F: AsFd> AsRawFd for Dir<F> {
    fn as_raw_fd(&self) -> RawFd {
        self.fd.as_fd().as_raw_fd()
    }
}

fn is_dir(fd: impl AsFd) -> Result<bool, Error> {
    let st = rustix::fs::fstat(fd)?;
    Ok(rustix::fs::FileType::from_raw_mode(st.st_mode) == rustix::fs::FileType::Directory)
}

fn fstat_raw(fd: BorrowedFd<'_>) -> Result<libc::stat, Error> {
    let mut st = std::mem::MaybeUninit::<libc::stat>::uninit();
    // SAFETY: `st` is valid for writes of a `struct stat`, which fstat fills on success.
    if unsafe { libc::fstat(fd.as_raw_fd(), st.as_mut_ptr()) } == -1 {
        return Err(io::Error::last_os_error().into());
    }
    // SAFETY: fstat returned 0, so it initialized the whole structure.
    Ok(unsafe { st.assume_init() })
}

/// A file capability: a descriptor and its rights. `F` is [`OwnedFd`] or [`BorrowedFd`].
#[derive(Debug)]
pub struct File<F = OwnedFd> {
    fd: F,
    rights: Rights,
}

/// The rights a descriptor's open mode allows: those of a regular file, less what its
/// open flags exclude ([`cloudabi_caps::rights::from_open_flags`]: reading only when
/// opened for reading, writing only when opened for writing, no seeking or truncating
/// when opened with `O_APPEND`). Directories get [`rights::DIRECTORY`].
///
/// # Errors
///
/// The system's error from `fcntl(F_GETFL)` or `fstat`.
pub fn rights_from_open_mode(fd: BorrowedFd<'_>) -> Result<Rights, Error> {
    if is_dir(fd)? {
        return Ok(rights::DIRECTORY);
    }
    let flags = rustix::fs::fcntl_getfl(fd)?;
    // `OFlags` are the kernel's `O_*` bits, as `fcntl(F_GETFL)` returned them.
    let flags = flags.bits() as i32;
    Ok(rights::REGULAR_FILE & rights::from_open_flags(flags))
}

impl File<OwnedFd> {
    /// Takes a descriptor with the rights its open mode allows ([`rights_from_open_mode`]).
    ///
    /// # Errors
    ///
    /// As [`rights_from_open_mode`].
    pub fn from_fd(fd: OwnedFd) -> Result<Self, Error> {
        let rights = rights_from_open_mode(fd.as_fd())?;
        Ok(File { fd, rights })
    }
}

impl<'a> File<BorrowedFd<'a>> {
    /// Borrows a descriptor with the rights its open mode allows.
    ///
    /// # Errors
    ///
    /// As [`rights_from_open_mode`].
    pub fn borrowed(fd: BorrowedFd<'a>) -> Result<Self, Error> {
        let rights = rights_from_open_mode(fd)?;
        Ok(File { fd, rights })
    }
}

impl<F: AsFd> File<F> {
    /// Wraps a descriptor with exactly `rights` (intersected with what its open mode allows).
    ///
    /// # Errors
    ///
    /// As [`rights_from_open_mode`].
    pub fn with_rights(fd: F, rights: Rights) -> Result<Self, Error> {
        let allowed = rights_from_open_mode(fd.as_fd())?;
        Ok(File {
            fd,
            rights: rights & allowed,
        })
    }

    /// Drops rights.
    #[must_use]
    pub fn limit(self, rights: Rights) -> Self {
        File {
            fd: self.fd,
            rights: self.rights & rights,
        }
    }

    /// The rights this capability holds.
    #[must_use]
    pub fn rights(&self) -> Rights {
        self.rights
    }

    /// Gives up the capability and returns the descriptor.
    pub fn into_fd(self) -> F {
        self.fd
    }

    /// Truncates or extends the file (needs [`Rights::FILE_STAT_FPUT_SIZE`]).
    ///
    /// # Errors
    ///
    /// [`Error::MissingRights`] or the system's error.
    pub fn set_len(&self, len: u64) -> Result<(), Error> {
        require(self.rights, Rights::FILE_STAT_FPUT_SIZE)?;
        rustix::fs::ftruncate(&self.fd, len)?;
        Ok(())
    }

    /// The file's metadata (needs [`Rights::FILE_STAT_FGET`]).
    ///
    /// # Errors
    ///
    /// [`Error::MissingRights`] or the system's error.
    pub fn metadata(&self) -> Result<Metadata, Error> {
        require(self.rights, Rights::FILE_STAT_FGET)?;
        let dup = rustix::io::fcntl_dupfd_cloexec(&self.fd, 0)?;
        Ok(std::fs::File::from(dup).metadata()?)
    }

    /// Flushes data and metadata to storage (needs [`Rights::FD_SYNC`]).
    ///
    /// # Errors
    ///
    /// [`Error::MissingRights`] or the system's error.
    pub fn sync_all(&self) -> Result<(), Error> {
        require(self.rights, Rights::FD_SYNC)?;
        rustix::fs::fsync(&self.fd)?;
        Ok(())
    }

    /// Reads at the current offset (needs [`Rights::FD_READ`]).
    ///
    /// # Errors
    ///
    /// [`Error::MissingRights`] or the system's error.
    pub fn read_checked(&self, buf: &mut [u8]) -> Result<usize, Error> {
        require(self.rights, Rights::FD_READ)?;
        Ok(rustix::io::read(&self.fd, buf)?)
    }

    /// Writes at the current offset, or at the end for append-only files (needs
    /// [`Rights::FD_WRITE`]).
    ///
    /// # Errors
    ///
    /// [`Error::MissingRights`] or the system's error.
    pub fn write_checked(&self, buf: &[u8]) -> Result<usize, Error> {
        require(self.rights, Rights::FD_WRITE)?;
        Ok(rustix::io::write(&self.fd, buf)?)
    }

    /// Repositions the offset. Needs [`Rights::FD_SEEK`], except that asking for the
    /// current offset (`SeekFrom::Current(0)`) needs only [`Rights::FD_TELL`].
    ///
    /// # Errors
    ///
    /// [`Error::MissingRights`] or the system's error.
    pub fn seek_checked(&self, pos: SeekFrom) -> Result<u64, Error> {
        if pos == SeekFrom::Current(0) {
            if !self.rights.intersects(Rights::FD_TELL | Rights::FD_SEEK) {
                return Err(Error::MissingRights {
                    missing: Rights::FD_TELL,
                });
            }
        } else {
            require(self.rights, Rights::FD_SEEK)?;
        }
        let pos = match pos {
            SeekFrom::Start(n) => rustix::fs::SeekFrom::Start(n),
            SeekFrom::End(n) => rustix::fs::SeekFrom::End(n),
            SeekFrom::Current(n) => rustix::fs::SeekFrom::Current(n),
        };
        Ok(rustix::fs::seek(&self.fd, pos)?)
    }
}

impl<F: AsFd> Read for File<F> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        Ok(self.read_checked(buf)?)
    }

    fn read_vectored(&mut self, bufs: &mut [IoSliceMut<'_>]) -> io::Result<usize> {
        require(self.rights, Rights::FD_READ)?;
        Ok(rustix::io::readv(&self.fd, bufs)?)
    }
}

impl<F: AsFd> Write for File<F> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        Ok(self.write_checked(buf)?)
    }

    fn write_vectored(&mut self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
        require(self.rights, Rights::FD_WRITE)?;
        Ok(rustix::io::writev(&self.fd, bufs)?)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl<F: AsFd> Seek for File<F> {
    fn seek(&mut self, pos: SeekFrom) -> io::Result<u64> {
        Ok(self.seek_checked(pos)?)
    }
}

impl<F: AsFd> AsFd for File<F> {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

impl<F: AsFd> AsRawFd for File<F> {
    fn as_raw_fd(&self) -> RawFd {
        self.fd.as_fd().as_raw_fd()
    }
}
