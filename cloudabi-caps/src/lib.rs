//! CloudABI's capability rules, written once: which rights each kind of descriptor may
//! carry, what an open mode leaves of them, what a grant mode gives a directory, and how a
//! path is resolved strictly beneath a directory descriptor.
//!
//! * [`rights`]: the presets for every object type (directory, regular file, shared
//!   memory, socket, stream, process) and the reading, writing and positioning groups, and
//!   [`rights::from_open_flags`], the one rule for the rights a descriptor's open flags
//!   leave;
//! * [`grant`]: [`GrantMode`] (`read`, `write`, `append`, `readwrite`), parsed from and
//!   printed as its name, and the rights of a directory granted with each mode;
//! * [`resolve`]: resolution beneath a directory, by `openat2(RESOLVE_BENEATH)` or a
//!   component-by-component walk, and the placement of a directory entry through its
//!   parent.
//!
//! The C library crate (`cloudlibc-rs`, `capfs.h`) wraps these rules for C programs; the
//! emulator (`cloudabi-emulator`) and the launcher (`cloudabi-run`) use them directly.
//! This crate has no C code and no sandbox.
//!
//! # Where earlier copies of these rules disagreed
//!
//! * **Rights from the open mode.** One copy added `SOCK_SHUTDOWN` to every non-directory
//!   descriptor, the other removed `FILE_READDIR` from write-only ones. CloudABI's
//!   specification makes `sock_shutdown` a socket right, and the reference emulator
//!   (`cloudabi-utils`, `posix.c`) gives a descriptor the rights of its *type* (a regular
//!   file never holds `SOCK_SHUTDOWN`), while it treats `FILE_READDIR` like `FD_READ` when
//!   it decides whether to open for reading. So [`rights::from_open_flags`] is a mask that
//!   never adds a right, and a write-only descriptor loses `FILE_READDIR` with the other
//!   reading rights ([`rights::NEEDS_READ`]).
//! * **Symbolic links followed in one lookup.** The component walk allowed 40, the
//!   emulator's placement of a followed final link only 39. Both now allow
//!   [`resolve::MAX_SYMLINKS`] (40, the kernel's limit for the `openat2` fast path; the
//!   reference emulator's own walk stopped at 127 expansions, which the fast path cannot
//!   match).
//! * **A trailing slash on the last component.** The placement of an entry dropped it, so
//!   removing `link/` removed the link and `file/` was accepted as a name. The original
//!   kernel (FreeBSD) and the reference emulator both read it as "must be a directory" and
//!   follow a final link; [`resolve`] now does too, on both resolvers.
//! * **A final link under `O_PATH`.** The component walk returned the link itself when asked
//!   to follow it for an `O_PATH` open (a stat through a link reported the link, a loop gave
//!   no `ELOOP`); it now follows it as `openat2` does.
//!
//! ```
//! use cloudabi_caps::{GrantMode, Rights, rights};
//!
//! let (base, inheriting) = "append".parse::<GrantMode>()?.directory_rights();
//! assert!(base.contains(Rights::FILE_CREATE_FILE));
//! assert!(!inheriting.intersects(rights::FILE_POSITIONING));
//! let read_only = rights::REGULAR_FILE & rights::from_open_flags(libc::O_RDONLY);
//! assert!(!read_only.contains(Rights::FD_WRITE));
//! # Ok::<(), cloudabi_caps::UnknownMode>(())
//! ```

#![forbid(unsafe_code)]

pub mod grant;
pub mod resolve;
pub mod rights;

use std::io;

pub use cloudabi_types::Rights;
pub use grant::{GrantMode, UnknownMode};

/// Why a path could not be resolved beneath a directory.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The path is absolute, or leaves the directory through `..` or a symbolic link
    /// (CloudABI's `ENOTCAPABLE`).
    #[error("path is absolute or escapes the directory capability")]
    Escape,
    /// The operating system refused the operation.
    #[error(transparent)]
    Os(#[from] io::Error),
}

impl From<rustix::io::Errno> for Error {
    fn from(e: rustix::io::Errno) -> Self {
        Error::Os(e.into())
    }
}
