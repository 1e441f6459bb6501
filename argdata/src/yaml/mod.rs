//! YAML output in the syntax of the reference `argdata_print_yaml`, and (feature `yaml`)
//! a parser that reads it, or any YAML document, back into a `Value`: see the `parse`
//! module for the schema, the tags and the `TagResolver` hook.
//!
//! The parser reports a `yaml::Error` with its line and column (and
//! `yaml::Result`); the printer reports the reader's [`argdata::Error`](crate::Error) with
//! the byte offset of the value it could not print.
//!
//! ```
//! # #[cfg(feature = "yaml")] {
//! let value = argdata::yaml::from_str("server:\n  port: 80\n  name: www\n")?;
//! let encoded = value.encode();
//! let text = argdata::yaml::to_string(argdata::Argdata::new(&encoded.bytes))?;
//! assert!(text.contains("? !!str \"port\"\n    : !!int \"80\",\n"), "{text}");
//! // What the printer writes, the parser reads back to the same value.
//! assert_eq!(argdata::yaml::from_str(&text)?, value);
//! # }
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
#![forbid(unsafe_code)]

#[cfg(feature = "yaml")]
pub mod parse;
pub mod print;

// The parser's private parts; `parse` is their public face. Dependencies go one way:
// `node` <- `error` <- `resolver`; `scalar`, `base64` and `timestamp` stand alone;
// `tree` (events to nodes) uses `node` and `error`; `schema` (nodes to values) uses all
// of those but `tree`; `parse` uses `tree` and `schema`.
#[cfg(feature = "yaml")]
mod base64;
#[cfg(feature = "yaml")]
mod error;
#[cfg(feature = "yaml")]
mod node;
#[cfg(feature = "yaml")]
mod resolver;
#[cfg(feature = "yaml")]
mod scalar;
#[cfg(feature = "yaml")]
mod schema;
#[cfg(feature = "yaml")]
mod timestamp;
#[cfg(feature = "yaml")]
mod tree;

#[cfg(feature = "yaml")]
pub use parse::{
    DefaultResolver, Error, ErrorKind, FdSpec, Node, NodeKind, Parser, ResolverError, Result,
    TagResolver, from_str,
};
pub use print::{HEADER, write_yaml, write_yaml_lenient};
#[cfg(feature = "alloc")]
pub use print::{to_string, to_string_lenient};
