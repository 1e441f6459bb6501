//! YAML output in the syntax of the reference `argdata_print_yaml`, and (feature `yaml`)
//! a parser that reads it, or any YAML document, back into a `Value`: see the `parse`
//! module for the schema, the tags and the `TagResolver` hook.
#![forbid(unsafe_code)]

#[cfg(feature = "yaml")]
pub mod parse;
pub mod print;

#[cfg(feature = "yaml")]
pub use parse::{
    DefaultResolver, FdSpec, Node, NodeKind, ParseError, ParseErrorKind, Parser, ResolverError,
    TagResolver, from_str,
};
pub use print::{HEADER, write_yaml, write_yaml_lenient};
#[cfg(feature = "alloc")]
pub use print::{to_string, to_string_lenient};
