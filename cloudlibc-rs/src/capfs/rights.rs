//! CloudABI rights and the presets this layer uses.
//!
//! The rights type itself is [`cloudabi_types::Rights`] (re-exported here and as
//! [`crate::capfs::Rights`]), generated from the ABI specification, so the bits a
//! descriptor carries here are exactly CloudABI's `cloudabi_rights_t`. This module adds
//! named sets of rights on top of it. They are plain constants rather than inherent
//! associated constants because `Rights` belongs to `cloudabi-types`.
//!
//! Every descriptor in this layer carries *base* rights (operations on the descriptor
//! itself) and, for directories, *inheriting* rights (the most that descriptors opened
//! through it may get). Rights only ever shrink.
//!
//! ```
//! use cloudlibc_rs::capfs::rights::{self, Rights};
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
}
