//! Argdata: CloudABI's configuration format.
//!
//! A CloudABI program receives its whole configuration, including every file descriptor
//! it may use, as one argdata value: a tree of maps, sequences, strings, integers,
//! floats, booleans, binary blobs, timestamps, file descriptors and nulls, in a compact
//! binary encoding (see `docs/argdata-format.md`).
//!
//! * [`Argdata`] is a zero-copy, `no_std` reader over encoded bytes. It never allocates,
//!   never panics on hostile input and reports problems as an [`Error`] with a byte offset.
//! * [`Value`] (feature `alloc`) is an owned tree with builders, and the encoder that
//!   writes the canonical encoding and gathers the fd list.
//! * [`yaml`] prints a value as YAML, byte for byte like the reference C library, and
//!   (feature `yaml`) parses YAML back into a [`Value`].
//!
//! # Decoding
//!
//! ```
//! use argdata::{Argdata, Type};
//!
//! // { "hostname": "nuxi.nl", "workers": 4 }
//! let bytes = b"\x06\x8a\x08hostname\x00\x89\x08nuxi.nl\x00\x89\x08workers\x00\x82\x05\x04";
//! let ad = Argdata::new(bytes);
//! ad.validate()?;
//! assert_eq!(ad.get("hostname")?.unwrap().as_str()?, "nuxi.nl");
//! let workers: u32 = ad.get("workers")?.unwrap().as_int()?;
//! assert_eq!(workers, 4);
//! for entry in ad.map()? {
//!     let (key, value) = entry?;
//!     println!("{} is a {}", key.as_str()?, value.ty()?);
//! }
//!
//! // Malformed data is an error with an offset, never a panic.
//! let err = Argdata::new(b"\x07\x85").validate().unwrap_err();
//! assert_eq!(err.to_string(), "malformed subfield length at byte offset 1");
//! # Ok::<(), argdata::Error>(())
//! ```
//!
//! # Encoding
//!
//! ```
//! # #[cfg(feature = "alloc")] {
//! use argdata::{Fd, Value, yaml};
//!
//! let config = Value::map([
//!     ("listen", Value::from(Fd(5))),
//!     ("logfile", Value::from(Fd(9))),
//!     ("also_listen", Value::from(Fd(5))),
//! ]);
//! let encoded = config.encode();
//! // Descriptors are deduplicated and numbered by first appearance.
//! assert_eq!(encoded.fds, [Fd(5), Fd(9)]);
//! assert_eq!(encoded.bytes.len(), config.serialized_len());
//! let text = yaml::to_string(encoded.argdata())?;
//! assert!(text.ends_with("? !!str \"also_listen\"\n  : !fd \"0\",\n}\n"));
//! # }
//! # Ok::<(), argdata::Error>(())
//! ```
//!
//! # Features
//!
//! * `alloc`: [`Value`], the encoder and [`yaml::to_string`].
//! * `std` (default, implies `alloc`): I/O helpers and, on Linux, `socket` (messages with
//!   descriptors over UNIX sockets, wire-compatible with the reference
//!   `argdata_writer_push` / `argdata_reader_pull`).
//! * `yaml` (default, implies `std`): the YAML parser (`yaml::from_str`, `yaml::Parser`
//!   with a `yaml::TagResolver` hook for a launcher's own tags).
//!
//! The `argdata decode` / `encode` command-line tool is the separate `argdata-cli` crate.
//! * `serde` (implies `alloc`): `serde` module, `from_slice`, `to_vec` and friends.
//! * `arbitrary`: `arbitrary::Arbitrary` for [`Value`], [`Fd`] and [`Timestamp`].
//! * `proptest` (implies `std`): `proptest` module with strategies for [`Value`].
//!
//! # Errors
//!
//! Each layer has one error type, named `Error` in its module, with a `Result<T, E = Error>`
//! beside it; where an error has several causes, an `ErrorKind` in the same module tells
//! them apart (as in `serde_json::Error` and its category, or `toml::de::Error`):
//!
//! | Layer | Error | Kind | Result | Position |
//! | --- | --- | --- | --- | --- |
//! | reader, encoder, YAML printer | [`Error`] | [`ErrorKind`] | [`Result`] | byte offset |
//! | YAML parser (feature `yaml`) | `yaml::Error` | `yaml::ErrorKind` | `yaml::Result` | file, line, column |
//! | serde (feature `serde`) | `serde::Error` | `serde::ErrorKind` | `serde::Result` | path and byte offset |
//! | sockets (feature `std`, Linux) | `socket::Error` | (the enum itself) | `socket::Result` | none |
//!
//! The YAML printer reports the reader's [`Error`], since what can fail while printing is
//! the data it reads (or the output sink). A layer built on another converts its errors
//! with `From` (`?` turns an [`Error`] into a `serde::Error`, an `std::io::Error` into a
//! `socket::Error`). The serde functions re-exported here (`from_slice`, `to_vec`, ...)
//! return `serde::Result`, as they do in their own module.
//!
//! # Limits
//!
//! Walks over a whole tree ([`Argdata::validate`], [`Value::from_argdata`], the YAML
//! printer) recurse once per nesting level and stop at [`MAX_DEPTH`] levels.
#![no_std]
// On docs.rs, feature-gated items carry a badge naming their feature.
#![cfg_attr(docsrs, feature(doc_cfg))]
// Unsafe code is denied everywhere and forbidden in every module but `utf8`, whose one
// unsafe block is justified there.
#![deny(unsafe_code)]
// Docs link to `Value` and friends, which exist only with `alloc`.
#![cfg_attr(not(feature = "alloc"), allow(rustdoc::broken_intra_doc_links))]

#[cfg(feature = "alloc")]
extern crate alloc;
#[cfg(feature = "std")]
extern crate std;

mod error;
mod fd;
mod int;
mod reader;
mod timestamp;
mod utf8;
pub mod yaml;

pub use utf8::from_utf8 as str_from_utf8;

#[cfg(feature = "alloc")]
mod encode;
#[cfg(feature = "alloc")]
mod opaque;
#[cfg(feature = "alloc")]
mod value;

#[cfg(feature = "alloc")]
pub use encode::{Encoded, push_subfield_len, subfield_size};
pub use error::{Errno, Error, ErrorKind, Result};
pub use fd::{Fd, FdConverter, FdTable, IdentityFds};
pub use int::{Int, Int64};
#[cfg(feature = "alloc")]
pub use opaque::{FdLeaf, FdLeaves, INVALID_FD_INDEX};
pub use reader::{Argdata, MAX_DEPTH, MapIter, SeqIter, Type};
pub use timestamp::{Timestamp, UtcDateTime};
#[cfg(feature = "alloc")]
pub use value::{MapFdsError, Value};

#[cfg(feature = "serde")]
pub mod serde;
#[cfg(all(feature = "std", any(target_os = "linux", target_os = "android")))]
pub mod socket;
#[cfg(feature = "arbitrary")]
mod testing;
#[cfg(feature = "arbitrary")]
pub use testing::{MAX_ARBITRARY_DEPTH, MAX_ARBITRARY_LEN};
#[cfg(feature = "proptest")]
pub mod proptest;
#[cfg(feature = "serde")]
pub use crate::serde::{
    from_argdata, from_slice, from_slice_with_fds, from_value, to_value, to_vec, to_vec_with_fds,
};
