//! Parsing YAML into a [`Value`] (feature `yaml`).
//!
//! The parser reads what [`to_string`](super::to_string) prints and, more generally, one
//! YAML 1.2 document in block or flow style:
//!
//! * Core tags `!!null`, `!!bool`, `!!int`, `!!float`, `!!str`, `!!binary`,
//!   `!!timestamp`, `!!map` and `!!seq`.
//! * Local tags in the CloudABI namespace, written `!name` (with or without the
//!   `%TAG ! tag:nuxi.nl,2015:cloudabi/` directive). `!fd` is built in; every other one
//!   goes to a [`TagResolver`] supplied by the caller and is an error without one.
//! * Untagged plain scalars follow the YAML 1.2 core schema: `null`, `~` and the empty
//!   scalar are null; `true`/`false` are booleans; decimal, `0o` octal and `0x`
//!   hexadecimal numbers are integers (from `INT64_MIN` to `UINT64_MAX`, the bounds of the
//!   reference and of the C getters; beyond them an error); decimals with a point or exponent, `.inf` and `.nan`
//!   are floats; anything else is a string. Quoted and block scalars are always strings.
//!
//! Anchors are accepted but aliases are rejected, so the tree can never grow larger than
//! the text (no "billion laughs"). Input is limited to [`DEFAULT_MAX_LEN`] bytes unless the
//! caller raises the limit, and collections nest at most [`MAX_DEPTH`](crate::MAX_DEPTH) deep.
//!
//! Every error carries the line and column (both counted from 1) of the node or character
//! it is about, and the file name if one was given.
//!
//! ```
//! use argdata::{Fd, Value, yaml};
//!
//! let value = yaml::from_str("
//! name: demo
//! workers: 0x10
//! log: !fd stderr
//! ratio: .5
//! ports: [80, 443]
//! ")?;
//! assert_eq!(value.get("workers"), Some(&Value::Int(16)));
//! assert_eq!(value.get("log"), Some(&Value::Fd(Fd(2))));
//! assert_eq!(value.get("ports"), Some(&Value::seq([80, 443])));
//!
//! let err = yaml::Parser::new("a: !!int x\n").with_file_name("conf.yaml").parse().unwrap_err();
//! assert_eq!(err.to_string(), "conf.yaml:1:4: invalid !!int value \"x\"");
//! # Ok::<(), yaml::Error>(())
//! ```

use alloc::string::String;

pub use super::error::{Error, ErrorKind, ResolverError, Result};
pub use super::node::{Node, NodeKind};
pub use super::resolver::{DefaultResolver, FdSpec, TagResolver};
pub use super::tree::CLOUDABI_TAG_PREFIX;
use super::{schema, tree};
use crate::value::Value;

/// The longest input, in bytes, that [`Parser`] accepts unless told otherwise.
pub const DEFAULT_MAX_LEN: usize = 16 << 20;

/// Parses one YAML document into a [`Value`] with the [`DefaultResolver`].
///
/// ```
/// use argdata::{Value, yaml};
///
/// let value = yaml::from_str("{port: 80, hosts: [a, b], debug: false}")?;
/// assert_eq!(
///     value,
///     Value::map([
///         ("port", Value::from(80)),
///         ("hosts", Value::seq(["a", "b"])),
///         ("debug", Value::from(false)),
///     ])
/// );
/// # Ok::<(), yaml::Error>(())
/// ```
///
/// # Errors
/// See [`Parser::parse_with`].
pub fn from_str(text: &str) -> Result<Value> {
    Parser::new(text).parse()
}

/// A configurable YAML parser; see the [module documentation](self).
///
/// ```
/// use argdata::yaml::{ErrorKind, Parser};
///
/// let parser = Parser::new("a: 1\nb: 2\na: 3\n")
///     .with_file_name("app.yaml")
///     .with_max_len(1024)
///     .with_unique_keys();
/// let err = parser.parse().unwrap_err();
/// assert!(matches!(err.kind(), ErrorKind::DuplicateKey(key) if key == "a"));
/// assert_eq!(err.to_string(), "app.yaml:3:1: duplicate key \"a\" in a mapping");
///
/// // The tree as written, before tags and the core schema apply.
/// let root = Parser::new("port: !!str 80\n").parse_nodes()?;
/// let port = root.get("port").unwrap();
/// assert_eq!((port.tag.as_deref(), port.as_scalar()), (Some("!!str"), Some("80")));
/// # Ok::<(), argdata::yaml::Error>(())
/// ```
#[derive(Clone, Debug)]
pub struct Parser<'t> {
    text: &'t str,
    file: Option<String>,
    max_len: usize,
    unique_keys: bool,
}

impl<'t> Parser<'t> {
    /// A parser over `text`.
    #[must_use]
    pub fn new(text: &'t str) -> Self {
        Parser {
            text,
            file: None,
            max_len: DEFAULT_MAX_LEN,
            unique_keys: false,
        }
    }

    /// Names the input in error messages (`FILE:LINE:COLUMN: message`).
    #[must_use]
    pub fn with_file_name(mut self, name: impl Into<String>) -> Self {
        self.file = Some(name.into());
        self
    }

    /// Sets the longest input accepted, in bytes ([`DEFAULT_MAX_LEN`] by default).
    #[must_use]
    pub fn with_max_len(mut self, max_len: usize) -> Self {
        self.max_len = max_len;
        self
    }

    /// Refuses a mapping that has the same scalar key twice (compared as written: tag,
    /// plain or quoted, text), with [`ErrorKind::DuplicateKey`] at the second one. Off
    /// by default: an argdata map may repeat a key, and the YAML printer prints such maps as
    /// they are. Configuration files, where a repeated key is a mistake, turn
    /// it on.
    ///
    /// ```
    /// use argdata::yaml::Parser;
    ///
    /// assert!(Parser::new("a: 1\na: 2\n").parse().is_ok());
    /// let err = Parser::new("a: 1\na: 2\n").with_unique_keys().parse().unwrap_err();
    /// assert_eq!((err.line(), err.column()), (2, 1));
    /// ```
    #[must_use]
    pub fn with_unique_keys(mut self) -> Self {
        self.unique_keys = true;
        self
    }

    /// Parses the document with the [`DefaultResolver`].
    ///
    /// # Errors
    /// See [`Parser::parse_with`].
    pub fn parse(&self) -> Result<Value> {
        self.parse_with(&mut DefaultResolver)
    }

    /// Parses the document into a tree of [`Node`]s without applying tags.
    ///
    /// # Errors
    /// Syntax errors, an input over the length limit, no document or more than one,
    /// aliases, and nesting deeper than [`MAX_DEPTH`](crate::MAX_DEPTH).
    pub fn parse_nodes(&self) -> Result<Node> {
        tree::build(self.text, self.max_len, self.unique_keys).map_err(|e| self.name(e))
    }

    /// Parses the document, handing local tags other than the built-in ones to `resolver`.
    ///
    /// # Errors
    /// As [`Parser::parse_nodes`], plus unknown tags, tags on the wrong kind of node,
    /// scalars that are not valid for their tag, numbers out of range, and whatever the
    /// resolver reports.
    pub fn parse_with<R: TagResolver + ?Sized>(&self, resolver: &mut R) -> Result<Value> {
        let root = self.parse_nodes()?;
        schema::node_to_value(&root, resolver).map_err(|e| self.name(e))
    }

    fn name(&self, e: Error) -> Error {
        e.with_file(self.file.clone())
    }
}
