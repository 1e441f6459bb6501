//! `cloudabi-run --emulate`: run a real CloudABI executable under the emulator, in the same
//! sandbox as a native program.
//!
//! The sandboxed program is the statically linked `cloudabi-emulate` binary (crate
//! `cloudabi-emulator`). It receives, through the native startup protocol, the argdata
//! `{executable: FD, argdata: BINARY, fds: [FD, ...]}`: the CloudABI executable (opened
//! read-only here, before the sandbox starts), the program's own argdata encoded with
//! CloudABI's numbering (the configuration's descriptors numbered 0 ... n-1 in order of
//! first appearance), and those n descriptors. The emulator then gives the program
//! descriptor `i` = the `i`-th entry of `fds`. The program's end of a `!connections` channel
//! is one of them (its [`Resource`] keeps the launcher's side), and the launcher accepts and
//! passes connections exactly as for a native program.

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
    let Resolved { value, resources } = resolved;
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
    ordered.push(Resource {
        fd: OwnedFd::from(file),
        kind: GrantKind::File(FileMode::Read),
        origin: Origin::Executable(executable.to_path_buf()),
        acceptor: None,
    });
    let value = Value::map([
        ("executable", Value::from(Fd(n as i32))),
        ("argdata", Value::binary(encoded.bytes)),
        ("fds", Value::seq((0..n).map(|i| Value::from(Fd(i as i32))))),
    ]);
    Ok(Resolved {
        value,
        resources: ordered,
    })
}
