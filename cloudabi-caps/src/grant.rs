//! Grant modes: how a file or directory was granted (`read`, `write`, `append` or
//! `readwrite`, the `mode` of a `!file` grant), their names, and the CloudABI rights a
//! directory gets from its mode.
//!
//! Linux opens every directory read-only, so a directory descriptor does not show
//! whether it was granted for reading, writing, appending or both. Whoever knows the
//! mode (the launcher, which passes it to the emulator) limits the directory to
//! [`GrantMode::directory_rights`], and the guest then gets `ENOTCAPABLE` for anything the
//! mode does not allow. A granted *file* needs none of this: its mode shows in how it was
//! opened ([`crate::rights::from_open_flags`]).
//!
//! [`GrantMode::directory_rights`] is the one place where a mode becomes rights. It is
//! built from the presets of [`crate::rights`]:
//!
//! | mode | base rights of the directory | inheriting rights (what is opened beneath it) |
//! |---|---|---|
//! | `read` | `DIRECTORY_READ_ONLY`: open, list, read links, stat, poll | the same for subdirectories; files `FILE_READ_ONLY` plus `FILE_INSPECT` (read, seek, stat, map, run) |
//! | `write` | every directory right but listing and reading links: create, open, rename, link, symlink, unlink, set times | the same for subdirectories; files every right but `FILE_INSPECT` (write, seek, truncate, allocate, sync; no reading, mapping or running) |
//! | `append` | open, create files and directories, stat, sync, poll (no listing, removal, rename or link) | the same for subdirectories; files `FILE_APPEND_ONLY` (write at the end, sync, stat) |
//! | `readwrite` | unchanged: every directory right | unchanged |
//!
//! The result is always intersected with what the descriptor's type allows, so rights
//! only ever shrink.
//!
//! ```
//! use cloudabi_caps::{GrantMode, Rights};
//!
//! let mode: GrantMode = "read".parse()?;
//! let (base, inheriting) = mode.directory_rights();
//! assert!(base.contains(Rights::FILE_OPEN | Rights::FILE_READDIR));
//! assert!(!base.intersects(Rights::FILE_CREATE_FILE | Rights::FILE_UNLINK));
//! assert!(inheriting.contains(Rights::FD_READ));
//! assert!(!inheriting.contains(Rights::FD_WRITE));
//! # Ok::<(), cloudabi_caps::UnknownMode>(())
//! ```

use core::fmt;
use core::str::FromStr;

use crate::rights as presets;
use cloudabi_types::Rights;
use thiserror::Error;

/// How a file or directory was granted: the `mode` of a `!file` grant.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum GrantMode {
    /// Read only.
    Read,
    /// Write only: create and change, but neither read nor list.
    Write,
    /// Append only: create, and add to the end of files.
    Append,
    /// Read and write.
    ReadWrite,
}

/// A mode name other than `read`, `write`, `append` and `readwrite`.
#[derive(Clone, Debug, PartialEq, Eq, Error)]
#[error("unknown grant mode {0:?} (read, write, append or readwrite)")]
pub struct UnknownMode(pub String);

/// What a directory granted for appending may do itself.
const APPEND_DIRECTORY: Rights = Rights::FILE_OPEN
    .union(Rights::FILE_CREATE_FILE)
    .union(Rights::FILE_CREATE_DIRECTORY)
    .union(Rights::FILE_STAT_FGET)
    .union(Rights::FILE_STAT_GET)
    .union(Rights::FD_SYNC)
    .union(Rights::FD_DATASYNC)
    .union(Rights::POLL_FD_READWRITE);

/// What a directory granted for writing may not do: list itself or read links.
const WRITE_DIRECTORY: Rights = presets::DIRECTORY
    .difference(Rights::FILE_READDIR)
    .difference(Rights::FILE_READLINK);

impl GrantMode {
    /// Every mode, in the order of the table in the [module documentation](self).
    pub const ALL: [GrantMode; 4] = [
        GrantMode::Read,
        GrantMode::Write,
        GrantMode::Append,
        GrantMode::ReadWrite,
    ];

    /// The mode's name as written in a grant: `read`, `write`, `append` or `readwrite`.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            GrantMode::Read => "read",
            GrantMode::Write => "write",
            GrantMode::Append => "append",
            GrantMode::ReadWrite => "readwrite",
        }
    }

    /// The `(base, inheriting)` rights of a directory granted with this mode (see the
    /// table in the [module documentation](self)). `readwrite` returns every right, so that
    /// limiting a directory to it changes nothing.
    #[must_use]
    pub const fn directory_rights(self) -> (Rights, Rights) {
        match self {
            GrantMode::Read => {
                let base = presets::DIRECTORY_READ_ONLY;
                let files = presets::FILE_READ_ONLY.union(presets::FILE_INSPECT);
                (base, base.union(files))
            }
            GrantMode::Write => {
                let files = presets::REGULAR_FILE.difference(presets::FILE_INSPECT);
                (WRITE_DIRECTORY, WRITE_DIRECTORY.union(files))
            }
            GrantMode::Append => (
                APPEND_DIRECTORY,
                APPEND_DIRECTORY.union(presets::FILE_APPEND_ONLY),
            ),
            GrantMode::ReadWrite => (Rights::all(), Rights::all()),
        }
    }
}

impl fmt::Display for GrantMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for GrantMode {
    type Err = UnknownMode;

    fn from_str(s: &str) -> Result<GrantMode, UnknownMode> {
        GrantMode::ALL
            .into_iter()
            .find(|m| m.as_str() == s)
            .ok_or_else(|| UnknownMode(s.to_owned()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_parse_and_print() {
        let named = [
            ("read", GrantMode::Read),
            ("write", GrantMode::Write),
            ("append", GrantMode::Append),
            ("readwrite", GrantMode::ReadWrite),
        ];
        for (name, mode) in named {
            assert_eq!(name.parse::<GrantMode>(), Ok(mode));
            assert_eq!(mode.to_string(), name);
        }
        for bad in ["Read", "rw", "read-write", " read", ""] {
            assert_eq!(bad.parse::<GrantMode>(), Err(UnknownMode(bad.to_owned())));
        }
    }

    #[test]
    fn readwrite_changes_nothing() {
        assert_eq!(
            GrantMode::ReadWrite.directory_rights(),
            (Rights::all(), Rights::all())
        );
    }
}
