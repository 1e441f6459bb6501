//! `cloudabi-run --emulate`: run a real CloudABI executable under the emulator, in the same
//! sandbox as a native program.
//!
//! The sandboxed program is the statically linked `cloudabi-emulate` binary (crate
//! `cloudabi-emulator`). It receives, through the native startup protocol, the argdata
//! `{executable: FD, argdata: BINARY, fds: [FD, ...], modes: [MODE | null, ...]}`:
//!
//! * `executable`: the CloudABI executable (opened read-only here, before the sandbox
//!   starts);
//! * `argdata`: the program's own argdata encoded with CloudABI's numbering (the
//!   configuration's descriptors numbered 0 ... n-1 in order of first appearance);
//! * `fds`: those n descriptors; the emulator gives the program descriptor `i` = the
//!   `i`-th entry;
//! * `modes`: parallel to `fds`, the mode of each `!file` grant (`read`, `write`, `append`
//!   or `readwrite`, for files and directories alike) and null for everything else
//!   (`!fd`, sockets, the `!connections` channel). The emulator gives a directory the
//!   rights of its mode (`cloudabi_caps::GrantMode::directory_rights`), so that
//!   it refuses what the grant does not allow with `ENOTCAPABLE` before the kernel
//!   sandbox's Landlock rules are even reached; a file's mode already shows in how it was
//!   opened.
//!
//! The program's end of a `!connections` channel is one of the descriptors (its
//! [`Resource`] keeps the launcher's side), and the launcher accepts and passes connections
//! exactly as for a native program.
//!
//! ```
//! use std::path::Path;
//! use argdata::{Fd, Value};
//! use cloudabi_run::config::{self, AmbientAuthority};
//! use cloudabi_run::emulate;
//!
//! let authority = AmbientAuthority::claim();
//! let executable = Path::new("/bin/sh"); // any readable file: it is only opened
//! let yaml = "out: !fd stdout\ntmp: !file {path: /tmp}\n";
//! let resolved = config::resolve(yaml, "demo.yaml", executable, &authority)?;
//! let wrapped = emulate::wrap(resolved, executable)?;
//! // The program's descriptors in order of first appearance, then the executable.
//! assert_eq!(wrapped.value.get("fds"), Some(&Value::seq([Fd(0), Fd(1)])));
//! assert_eq!(wrapped.value.get("modes"), Some(&Value::seq([Value::Null, Value::from("read")])));
//! assert_eq!(wrapped.value.get("executable"), Some(&Value::from(Fd(2))));
//! assert_eq!(wrapped.resources.len(), 3);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::fs::File;
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};

use argdata::{Fd, Value};
use thiserror::Error;

use crate::config::{Origin, Resolved, Resource};
use crate::launch::GrantKind;
use crate::sandbox::FileMode;

/// Why an emulated launch could not be prepared.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum EmulateError {
    /// The CloudABI executable could not be opened.
    #[error("cannot open program {path}: {source}")]
    Open {
        /// The executable's path.
        path: PathBuf,
        /// The error of `open`.
        #[source]
        source: std::io::Error,
    },
    /// The configuration names a descriptor the resolver did not open (a bug).
    #[error("argdata names unknown resource {0}")]
    UnknownResource(i32),
}

/// The emulator binary used when `--emulator` is not given: `cloudabi-emulate` next to
/// the running `cloudabi-run`.
#[must_use]
pub fn default_emulator() -> PathBuf {
    std::env::current_exe()
        .ok()
        .and_then(|p| p.parent().map(|d| d.join("cloudabi-emulate")))
        .unwrap_or_else(|| PathBuf::from("cloudabi-emulate"))
}

/// Wraps a resolved configuration for `executable` into the configuration of the emulator
/// binary, as the module documentation describes. Plan the result as usual and launch the
/// emulator binary with it.
///
/// # Errors
///
/// See [`EmulateError`].
pub fn wrap(resolved: Resolved, executable: &Path) -> Result<Resolved, EmulateError> {
    let Resolved {
        value,
        resources,
        created,
    } = resolved;
    // The encoder numbers the descriptors 0 ... n-1 in order of first appearance, as
    // CloudABI does; `encoded.fds[i]` is the resource the program sees as descriptor `i`.
    let encoded = value.encode();
    let mut slots: Vec<Option<Resource>> = resources.into_iter().map(Some).collect();
    let mut ordered = Vec::with_capacity(encoded.fds.len() + 1);
    for fd in &encoded.fds {
        let r = usize::try_from(fd.0)
            .ok()
            .and_then(|i| slots.get_mut(i))
            .and_then(Option::take)
            .ok_or(EmulateError::UnknownResource(fd.0))?;
        ordered.push(r);
    }
    // Resources no leaf names are closed here, as planning a native launch does.
    drop(slots);
    let file = File::open(executable).map_err(|source| EmulateError::Open {
        path: executable.to_path_buf(),
        source,
    })?;
    let n = ordered.len();
    let modes: Vec<Value> = ordered
        .iter()
        .map(|r| grant_mode(r.kind).map_or(Value::Null, Value::from))
        .collect();
    ordered.push(Resource {
        fd: OwnedFd::from(file),
        kind: GrantKind::File(FileMode::Read),
        origin: Origin::Executable(executable.to_path_buf()),
        acceptor: None,
        deferred: None,
    });
    let value = Value::map([
        ("executable", Value::from(Fd(n as i32))),
        ("argdata", Value::binary(encoded.bytes)),
        ("fds", Value::seq((0..n).map(|i| Value::from(Fd(i as i32))))),
        ("modes", Value::seq(modes)),
    ]);
    Ok(Resolved {
        value,
        resources: ordered,
        created,
    })
}

/// The mode name the emulator expects for a grant (see the module documentation): the
/// mode of a file or directory, `None` for anything else.
#[must_use]
pub fn grant_mode(kind: GrantKind) -> Option<&'static str> {
    match kind {
        GrantKind::File(mode) | GrantKind::Dir(mode) => Some(mode.as_str()),
        GrantKind::Socket
        | GrantKind::Stdin
        | GrantKind::Stdout
        | GrantKind::Stderr
        | GrantKind::Other => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn resource(kind: GrantKind) -> Resource {
        Resource {
            fd: OwnedFd::from(File::open("/dev/null").unwrap()),
            kind,
            origin: Origin::Inherited(0),
            acceptor: None,
            deferred: None,
        }
    }

    #[test]
    fn modes_run_parallel_to_fds_in_first_appearance_order() {
        // Resources 0..4; the argdata names 3, 1, 0, 3 and never 2.
        let resources = vec![
            resource(GrantKind::Dir(FileMode::Read)),
            resource(GrantKind::Socket),
            resource(GrantKind::File(FileMode::Write)),
            resource(GrantKind::Dir(FileMode::Append)),
        ];
        let value = Value::seq([
            Value::from(Fd(3)),
            Value::from(Fd(1)),
            Value::from(Fd(0)),
            Value::from(Fd(3)),
        ]);
        let resolved = Resolved {
            value,
            resources,
            created: crate::config::CreatedPaths::default(),
        };
        let wrapped = wrap(resolved, Path::new("/dev/null")).unwrap();
        assert_eq!(wrapped.resources.len(), 4);
        assert_eq!(
            wrapped.value.get("fds"),
            Some(&Value::seq([0, 1, 2].map(|i| Value::from(Fd(i)))))
        );
        assert_eq!(
            wrapped.value.get("modes"),
            Some(&Value::seq([
                Value::from("append"),
                Value::Null,
                Value::from("read"),
            ]))
        );
        assert_eq!(wrapped.value.get("executable"), Some(&Value::from(Fd(3))));
        assert_eq!(
            wrapped.resources[3].kind,
            GrantKind::File(FileMode::Read),
            "the executable comes last"
        );
    }

    #[test]
    fn mode_names() {
        let names = [
            (GrantKind::File(FileMode::Read), Some("read")),
            (GrantKind::Dir(FileMode::Write), Some("write")),
            (GrantKind::Dir(FileMode::Append), Some("append")),
            (GrantKind::File(FileMode::ReadWrite), Some("readwrite")),
            (GrantKind::Stdout, None),
            (GrantKind::Other, None),
            (GrantKind::Socket, None),
        ];
        for (kind, name) in names {
            assert_eq!(grant_mode(kind), name, "{kind:?}");
        }
    }
}
