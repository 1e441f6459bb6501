//! One error type for CloudABI programs: what reading the argdata, a system call or
//! formatting output can fail with.
//!
//! ```ignore
//! use program::cloudabi::{Argdata, Error, required};
//!
//! fn program_main(ad: Argdata<'_>) -> Result<(), Error> {
//!     let out = required(ad, "out")?.as_fd(&program::fds())?;
//!     program::cloudabi::sys::write_all(out, b"hi\n")?;
//!     Ok(())
//! }
//! program::main!(program_main);
//! ```
//!
//! (Not run as a doctest: it builds only for the CloudABI targets.)

#![forbid(unsafe_code)]

use argdata::Argdata;
use cloudabi_types::Errno;

/// Why a CloudABI program gave up; [`main!`](crate::main) turns an `Err` into exit
/// status 1.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The argdata is malformed or a value has the wrong type.
    #[error("argdata: {0}")]
    Argdata(#[from] argdata::Error),
    /// A required map key is absent.
    #[error("the argdata lacks `{0}`")]
    Missing(&'static str),
    /// A system call failed.
    #[error("system call failed: {0}")]
    Sys(#[from] Errno),
    /// Formatted output (`write!` to an [`FdWriter`](super::FdWriter)) failed.
    #[error("writing formatted output failed")]
    Write(#[from] core::fmt::Error),
    /// A check of the program's own failed; the text says which.
    #[error("{0}")]
    Failed(&'static str),
}

/// The value of `key` in the map `ad`: [`Error::Missing`] when absent, [`Error::Argdata`]
/// when `ad` is not a map.
///
/// # Errors
///
/// As described.
pub fn required<'a>(ad: Argdata<'a>, key: &'static str) -> Result<Argdata<'a>, Error> {
    ad.get(key)?.ok_or(Error::Missing(key))
}
