//! CloudABI rights: the presets for every object type and the one rule for what a
//! descriptor's open mode leaves of them.
//!
//! The rights type itself is [`cloudabi_types::Rights`] (re-exported here and at the crate
//! root), generated from the ABI specification, so the bits are exactly CloudABI's
//! `cloudabi_rights_t`. The presets are plain constants rather than associated constants
//! because `Rights` belongs to `cloudabi-types`.
//!
//! Every descriptor carries *base* rights (operations on the descriptor itself) and, for
//! directories and sockets, *inheriting* rights (the most that descriptors opened or
//! received through it may get). Rights only ever shrink.
//!
//! | object type | base rights | inheriting rights |
//! |---|---|---|
//! | directory | [`DIRECTORY`] | [`DIRECTORY_INHERITING`] |
//! | regular file | [`REGULAR_FILE`] | none |
//! | shared memory | [`SHARED_MEMORY`] | none |
//! | socket | [`SOCKET`] | every right |
//! | pipe, character or block device | [`STREAM`] | none |
//! | process | [`PROCESS`] | none |
//!
//! ```
//! use cloudabi_caps::rights::{self, Rights};
//!
//! assert!(rights::DIRECTORY.contains(rights::DIRECTORY_READ_ONLY));
//! assert!(!rights::FILE_APPEND_ONLY.intersects(rights::FILE_POSITIONING));
//! assert!(rights::FILE_READ_ONLY.contains(Rights::FD_READ | Rights::FD_SEEK));
//! ```

pub use cloudabi_types::Rights;

/// Every right that makes sense on a regular file.
pub const REGULAR_FILE: Rights = Rights::FD_DATASYNC
    .union(Rights::FD_READ)
    .union(Rights::FD_SEEK)
    .union(Rights::FD_STAT_PUT_FLAGS)
    .union(Rights::FD_SYNC)
    .union(Rights::FD_TELL)
    .union(Rights::FD_WRITE)
    .union(Rights::FILE_ADVISE)
    .union(Rights::FILE_ALLOCATE)
    .union(Rights::FILE_STAT_FGET)
    .union(Rights::FILE_STAT_FPUT_SIZE)
    .union(Rights::FILE_STAT_FPUT_TIMES)
    .union(Rights::MEM_MAP)
    .union(Rights::MEM_MAP_EXEC)
    .union(Rights::POLL_FD_READWRITE)
    .union(Rights::PROC_EXEC);

/// Every right that makes sense on a directory.
pub const DIRECTORY: Rights = Rights::FD_STAT_PUT_FLAGS
    .union(Rights::FD_SYNC)
    .union(Rights::FD_DATASYNC)
    .union(Rights::FILE_ADVISE)
    .union(Rights::FILE_CREATE_DIRECTORY)
    .union(Rights::FILE_CREATE_FILE)
    .union(Rights::FILE_LINK_SOURCE)
    .union(Rights::FILE_LINK_TARGET)
    .union(Rights::FILE_OPEN)
    .union(Rights::FILE_READDIR)
    .union(Rights::FILE_READLINK)
    .union(Rights::FILE_RENAME_SOURCE)
    .union(Rights::FILE_RENAME_TARGET)
    .union(Rights::FILE_STAT_FGET)
    .union(Rights::FILE_STAT_FPUT_TIMES)
    .union(Rights::FILE_STAT_GET)
    .union(Rights::FILE_STAT_PUT_TIMES)
    .union(Rights::FILE_SYMLINK)
    .union(Rights::FILE_UNLINK)
    .union(Rights::POLL_FD_READWRITE);

/// The rights of a directory that may only be read: open, list, stat, readlink.
pub const DIRECTORY_READ_ONLY: Rights = Rights::FILE_OPEN
    .union(Rights::FILE_READDIR)
    .union(Rights::FILE_READLINK)
    .union(Rights::FILE_STAT_FGET)
    .union(Rights::FILE_STAT_GET)
    .union(Rights::POLL_FD_READWRITE);

/// The rights of a file that may only be read: read, seek, stat, map.
pub const FILE_READ_ONLY: Rights = Rights::FD_READ
    .union(Rights::FD_SEEK)
    .union(Rights::FD_TELL)
    .union(Rights::FILE_ADVISE)
    .union(Rights::FILE_STAT_FGET)
    .union(Rights::MEM_MAP)
    .union(Rights::POLL_FD_READWRITE);

/// The rights of an append-only file: write at the end, sync, stat; no seeking, no
/// truncating, no reading.
pub const FILE_APPEND_ONLY: Rights = Rights::FD_WRITE
    .union(Rights::FD_SYNC)
    .union(Rights::FD_DATASYNC)
    .union(Rights::FILE_STAT_FGET)
    .union(Rights::POLL_FD_READWRITE);

/// Rights that allow changing a file's contents or size.
pub const FILE_MODIFY: Rights = Rights::FD_WRITE
    .union(Rights::FILE_ALLOCATE)
    .union(Rights::FILE_STAT_FPUT_SIZE);

/// Rights that allow reading a file's contents.
pub const FILE_INSPECT: Rights = Rights::FD_READ
    .union(Rights::MEM_MAP)
    .union(Rights::MEM_MAP_EXEC)
    .union(Rights::PROC_EXEC);

/// Rights that let an append-only descriptor write elsewhere than at the end.
pub const FILE_POSITIONING: Rights = Rights::FD_SEEK
    .union(Rights::FILE_STAT_FPUT_SIZE)
    .union(Rights::FILE_ALLOCATE);

/// Rights descriptors opened through a directory may get: those of directories,
/// regular files and streams.
pub const DIRECTORY_INHERITING: Rights = DIRECTORY.union(REGULAR_FILE).union(STREAM);

/// Every right that makes sense on a shared memory object.
pub const SHARED_MEMORY: Rights = Rights::FD_READ
    .union(Rights::FD_WRITE)
    .union(Rights::FILE_STAT_FGET)
    .union(Rights::FILE_STAT_FPUT_SIZE)
    .union(Rights::MEM_MAP)
    .union(Rights::MEM_MAP_EXEC);

/// Rights for pipes, terminals and other character and block devices: plain I/O only.
pub const STREAM: Rights = Rights::FD_READ
    .union(Rights::FD_STAT_PUT_FLAGS)
    .union(Rights::FD_WRITE)
    .union(Rights::FILE_STAT_FGET)
    .union(Rights::POLL_FD_READWRITE);

/// Every right that makes sense on a socket: stream I/O and shutting it down.
pub const SOCKET: Rights = STREAM.union(Rights::SOCK_SHUTDOWN);

/// Every right that makes sense on a process descriptor.
pub const PROCESS: Rights = Rights::FILE_STAT_FGET.union(Rights::POLL_PROC_TERMINATE);

/// Rights that need a descriptor open for reading: [`FILE_INSPECT`] and listing a
/// directory. CloudABI counts `FILE_READDIR` among the reading rights (the reference
/// emulator opens a file for reading when any of `FD_READ`, `FILE_READDIR` or
/// `MEM_MAP_EXEC` is asked for).
pub const NEEDS_READ: Rights = FILE_INSPECT.union(Rights::FILE_READDIR);

/// The rights a descriptor's open flags (`open(2)`'s `O_*` flags, as `fcntl(F_GETFL)`
/// reports them) leave: no [`FILE_MODIFY`] when opened read-only, no [`NEEDS_READ`] when
/// opened write-only, no [`FILE_POSITIONING`] when opened with `O_APPEND`; every other
/// right is left alone. Intersect it with the preset of the descriptor's type.
///
/// This is the only place where an open mode becomes rights. It does not apply to
/// directories, which Linux always opens read-only whatever their grant.
///
/// ```
/// use cloudabi_caps::rights::{self, Rights, from_open_flags};
///
/// let write_only = rights::REGULAR_FILE & from_open_flags(libc::O_WRONLY);
/// assert!(write_only.contains(Rights::FD_WRITE | Rights::FD_SEEK));
/// assert!(!write_only.intersects(Rights::FD_READ | Rights::MEM_MAP));
/// let append = rights::REGULAR_FILE & from_open_flags(libc::O_WRONLY | libc::O_APPEND);
/// assert!(!append.intersects(Rights::FD_SEEK | Rights::FILE_STAT_FPUT_SIZE));
/// ```
#[must_use]
pub const fn from_open_flags(flags: i32) -> Rights {
    let mut allowed = Rights::all();
    match flags & libc::O_ACCMODE {
        libc::O_RDONLY => allowed = allowed.difference(FILE_MODIFY),
        libc::O_WRONLY => allowed = allowed.difference(NEEDS_READ),
        _ => {}
    }
    if flags & libc::O_APPEND != 0 {
        allowed = allowed.difference(FILE_POSITIONING);
    }
    allowed
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn presets_fit_their_file_type() {
        assert!(DIRECTORY.contains(DIRECTORY_READ_ONLY));
        for preset in [
            FILE_READ_ONLY,
            FILE_APPEND_ONLY,
            FILE_MODIFY,
            FILE_INSPECT,
            FILE_POSITIONING,
        ] {
            assert!(REGULAR_FILE.contains(preset), "{preset:?}");
        }
    }

    #[test]
    fn read_only_presets_cannot_modify() {
        let writing = FILE_MODIFY
            | Rights::FILE_CREATE_DIRECTORY
            | Rights::FILE_CREATE_FILE
            | Rights::FILE_LINK_TARGET
            | Rights::FILE_RENAME_SOURCE
            | Rights::FILE_RENAME_TARGET
            | Rights::FILE_STAT_FPUT_TIMES
            | Rights::FILE_STAT_PUT_TIMES
            | Rights::FILE_SYMLINK
            | Rights::FILE_UNLINK;
        assert!(!DIRECTORY_READ_ONLY.intersects(writing));
        assert!(!FILE_READ_ONLY.intersects(writing));
        assert!(!FILE_APPEND_ONLY.intersects(FILE_POSITIONING | FILE_INSPECT));
    }

    #[test]
    fn bits_are_cloudabi_rights_t() {
        // Spot checks against the values in the ABI specification.
        assert_eq!(Rights::FD_READ.bits(), 0x2);
        assert_eq!(Rights::FILE_OPEN.bits(), 0x4000);
        assert_eq!(Rights::POLL_FD_READWRITE.bits(), 0x1000_0000);
        assert_eq!(DIRECTORY_READ_ONLY.bits(), 0x1049_C000);
    }

    #[test]
    fn open_flags_mask_each_access_mode() {
        // O_RDONLY = 0, O_WRONLY = 1, O_RDWR = 2, O_APPEND = 0o2000 on Linux.
        let read_only = REGULAR_FILE & from_open_flags(0);
        assert!(read_only.contains(FILE_INSPECT | Rights::FD_SEEK));
        assert!(!read_only.intersects(FILE_MODIFY));
        let write_only = REGULAR_FILE & from_open_flags(1);
        assert!(write_only.contains(FILE_MODIFY | FILE_POSITIONING));
        assert!(!write_only.intersects(FILE_INSPECT));
        assert_eq!(REGULAR_FILE & from_open_flags(2), REGULAR_FILE);
        let append = REGULAR_FILE & from_open_flags(1 | 0o2000);
        assert!(append.contains(Rights::FD_WRITE));
        assert!(!append.intersects(FILE_POSITIONING | FILE_INSPECT));
        // A mask, not a type: it never adds a right the type lacks.
        assert!(!(REGULAR_FILE & from_open_flags(2)).contains(Rights::SOCK_SHUTDOWN));
    }

    #[test]
    fn listing_is_a_reading_right() {
        assert!(from_open_flags(0).contains(Rights::FILE_READDIR));
        assert!(!from_open_flags(1).contains(Rights::FILE_READDIR));
        assert!(from_open_flags(2).contains(Rights::FILE_READDIR));
    }

    #[test]
    fn type_presets_match_the_table() {
        assert!(SOCKET.contains(Rights::SOCK_SHUTDOWN));
        for preset in [REGULAR_FILE, DIRECTORY, SHARED_MEMORY, STREAM, PROCESS] {
            assert!(!preset.contains(Rights::SOCK_SHUTDOWN), "{preset:?}");
        }
        assert!(DIRECTORY_INHERITING.contains(DIRECTORY | REGULAR_FILE | STREAM));
    }
}
