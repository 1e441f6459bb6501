//! The error type of the serde layer: a kind, the path of the value and its byte offset.

use alloc::string::{String, ToString};
use core::fmt;

/// Result type of the serde layer.
pub type Result<T, E = Error> = core::result::Result<T, E>;

/// What went wrong while (de)serializing.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ErrorKind {
    /// The encoded data is malformed or has the wrong type (see [`crate::ErrorKind`]).
    #[error("{0}")]
    Decode(crate::ErrorKind),
    /// An integer does not fit the Rust type it is decoded into or encoded from.
    #[error("integer {value} out of range for {target}")]
    IntOutOfRange {
        /// The integer, in decimal.
        value: String,
        /// The type it had to fit (`"u16"`, `"argdata int"`, ...).
        target: &'static str,
    },
    /// A value has a shape the target type cannot take (for example an enum given as a
    /// sequence).
    #[error("expected {expected}, found {found}")]
    Unexpected {
        /// What the target type accepts.
        expected: &'static str,
        /// The argdata type found.
        found: crate::Type,
    },
    /// A message from a `Serialize` or `Deserialize` implementation (missing fields,
    /// unknown variants, ...).
    #[error("{0}")]
    Custom(String),
    /// [`to_vec`](crate::serde::to_vec) was given a value holding file descriptors, which
    /// plain bytes cannot carry; [`to_vec_with_fds`](crate::serde::to_vec_with_fds) returns
    /// them beside the bytes.
    #[error(
        "the value holds {0} file descriptor(s), which bytes alone cannot carry: use to_vec_with_fds"
    )]
    HasFds(usize),
}

/// An error of the serde layer.
///
/// Besides its [`ErrorKind`] it records where the problem is: the path of the value inside
/// the tree (`server.port`, `listeners[2]`; struct fields and map keys joined by dots,
/// sequence positions in brackets, enum variants as a field) and, when decoding, the byte
/// offset of the value.
///
/// ```
/// # use serde::Deserialize;
/// #[derive(Deserialize, Debug)]
/// struct Server { port: u16 }
/// #[derive(Deserialize, Debug)]
/// struct Config { servers: Vec<Server> }
///
/// let v = argdata::Value::map([(
///     "servers",
///     argdata::Value::seq([argdata::Value::map([("port", -1)])]),
/// )]);
/// let err = argdata::from_value::<Config>(&v).unwrap_err();
/// assert_eq!(err.path(), Some("servers[0].port"));
/// assert_eq!(
///     err.to_string(),
///     "at `servers[0].port`: integer -1 out of range for u16 (byte offset 23)",
/// );
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Error {
    kind: ErrorKind,
    path: Option<String>,
    offset: Option<usize>,
}

impl core::error::Error for Error {
    fn source(&self) -> Option<&(dyn core::error::Error + 'static)> {
        Some(&self.kind)
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(path) = self.path.as_deref().filter(|p| !p.is_empty()) {
            write!(f, "at `{path}`: ")?;
        }
        fmt::Display::fmt(&self.kind, f)?;
        if let Some(offset) = self.offset {
            write!(f, " (byte offset {offset})")?;
        }
        Ok(())
    }
}

impl Error {
    /// An error of `kind` with no position yet.
    #[must_use]
    pub fn new(kind: ErrorKind) -> Self {
        Error {
            kind,
            path: None,
            offset: None,
        }
    }

    /// What went wrong.
    #[must_use]
    pub fn kind(&self) -> &ErrorKind {
        &self.kind
    }

    /// Path of the offending value (`""` for the top level), if known.
    #[must_use]
    pub fn path(&self) -> Option<&str> {
        self.path.as_deref()
    }

    /// Byte offset of the offending value in the decoded buffer, if known.
    #[must_use]
    pub fn offset(&self) -> Option<usize> {
        self.offset
    }

    pub(crate) fn int_out_of_range(value: impl fmt::Display, target: &'static str) -> Self {
        Error::new(ErrorKind::IntOutOfRange {
            value: value.to_string(),
            target,
        })
    }

    /// Fills in the path and offset unless an inner level already did.
    pub(crate) fn locate(mut self, path: impl FnOnce() -> String, offset: Option<usize>) -> Self {
        if self.path.is_none() {
            self.path = Some(path());
        }
        if self.offset.is_none() {
            self.offset = offset;
        }
        self
    }
}

impl From<crate::Error> for Error {
    fn from(e: crate::Error) -> Self {
        Error {
            kind: ErrorKind::Decode(e.kind()),
            path: None,
            offset: e.offset(),
        }
    }
}

impl ::serde::de::Error for Error {
    fn custom<T: fmt::Display>(msg: T) -> Self {
        Error::new(ErrorKind::Custom(msg.to_string()))
    }
}

impl ::serde::ser::Error for Error {
    fn custom<T: fmt::Display>(msg: T) -> Self {
        Error::new(ErrorKind::Custom(msg.to_string()))
    }
}
