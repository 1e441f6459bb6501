//! Serde support (feature `serde`): typed decoding straight from encoded bytes, and
//! encoding of any `Serialize` type.
//!
//! * [`from_slice`] / [`from_argdata`] deserialize without copying: `&str` and `&[u8]`
//!   fields borrow from the input buffer.
//! * [`to_vec`] serializes into an [`Encoded`] (bytes plus fd list),
//!   and [`to_value`] into an owned [`Value`].
//!
//! # Data model
//!
//! | Rust | argdata |
//! | --- | --- |
//! | `bool` | bool |
//! | integers (`i8`..`i128`, `u8`..`u128`) | int, range-checked on decode |
//! | `f32`, `f64` | float (an int is also accepted when decoding a float) |
//! | `char`, `&str`, `String` | str |
//! | `&[u8]` / `serde_bytes` | binary |
//! | `Option<T>` | null for `None`, the value itself for `Some` |
//! | `()`, unit structs | null |
//! | sequences, tuples, tuple structs | seq |
//! | maps, structs | map (struct fields keyed by strings) |
//! | enums | externally tagged: a unit variant is its name as a str, any other variant a map with one entry from the name to the content |
//! | [`Fd`](crate::Fd) | fd leaf |
//! | [`Timestamp`](crate::Timestamp) | timestamp leaf |
//!
//! Newtype structs are transparent. The format is treated as human-readable (like the
//! YAML that configurations are written in), so types such as `std::net::IpAddr` use their
//! textual form.
//!
//! # File descriptors
//!
//! On the wire an fd leaf holds an index. Decoding hands that index to an
//! [`FdConverter`](crate::FdConverter) returning [`Fd`](crate::Fd):
//! [`from_slice`] and [`from_argdata`] use [`IdentityFds`](crate::IdentityFds) (the index
//! *is* the descriptor number, which is how a CloudABI program receives its startup
//! argdata), while [`from_slice_with_fds`] and [`Deserializer::with_fd_converter`] take any
//! converter, such as an [`FdTable`] over the fd list received with the
//! bytes. Encoding renumbers descriptors exactly like [`Value::encode`](crate::Value::encode).
//!
//! ```
//! use argdata::{Fd, Timestamp};
//! use serde::{Deserialize, Serialize};
//!
//! #[derive(Serialize, Deserialize, Debug, PartialEq)]
//! struct Config<'a> {
//!     name: &'a str,
//!     port: u16,
//!     socket: Fd,
//!     log: Option<Fd>,
//!     started: Timestamp,
//! }
//!
//! let config = Config {
//!     name: "web",
//!     port: 8080,
//!     socket: Fd(7),
//!     log: None,
//!     started: Timestamp::from_parts(1_500_000_000, 0).unwrap(),
//! };
//! let encoded = argdata::to_vec_with_fds(&config)?;
//! assert_eq!(encoded.fds, [Fd(7)]);
//! let table = argdata::FdTable(&encoded.fds);
//! let back: Config<'_> = argdata::from_slice_with_fds(&encoded.bytes, &table)?;
//! assert_eq!(back, config);
//!
//! // Errors name the path of the offending field.
//! let bad = argdata::to_vec(&argdata::Value::map([("port", 70000)]))?;
//! #[derive(Deserialize, Debug)]
//! struct Server { port: u16 }
//! let err = argdata::from_slice::<Server>(&bad).unwrap_err();
//! assert_eq!(err.path(), Some("port"));
//! assert!(err.to_string().starts_with("at `port`: integer 70000 out of range for u16"));
//! # Ok::<(), argdata::serde::Error>(())
//! ```
#![forbid(unsafe_code)]

mod de;
mod error;
mod impls;
mod markers;
mod ser;

pub use de::{Deserializer, from_argdata, from_argdata_with_fds, from_slice, from_slice_with_fds};
pub use error::{Error, ErrorKind, Result};
pub use ser::{ValueSerializer, to_value, to_vec, to_vec_with_fds};

use crate::encode::Encoded;
use crate::fd::FdTable;
use crate::value::Value;

/// Deserializes a `T` from an owned [`Value`]; fd leaves keep their descriptor numbers.
///
/// The value is encoded first, so this costs a copy; prefer [`from_slice`] on bytes.
///
/// ```
/// use argdata::{Fd, Value};
///
/// #[derive(serde::Deserialize, Debug, PartialEq)]
/// struct Listen { port: u16, socket: Fd }
///
/// let value = Value::map([("socket", Value::from(Fd(7))), ("port", Value::from(443))]);
/// let listen: Listen = argdata::from_value(&value)?;
/// assert_eq!(listen, Listen { port: 443, socket: Fd(7) });
/// # Ok::<(), argdata::serde::Error>(())
/// ```
///
/// # Errors
/// As [`from_slice`].
pub fn from_value<T: ::serde::de::DeserializeOwned>(value: &Value) -> Result<T> {
    let Encoded { bytes, fds } = value.encode();
    from_slice_with_fds(&bytes, &FdTable(&fds))
}
