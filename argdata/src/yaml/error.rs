//! The YAML parser's error ([`Error`], with its [`Result`]): what went wrong
//! ([`ErrorKind`]) and where (line, column and the file name if one was given).

use alloc::boxed::Box;
use alloc::format;
use alloc::string::String;

use saphyr_parser::Marker;

use super::node::Node;

/// The error type a [`TagResolver`](super::TagResolver) returns; wrapped into
/// [`ErrorKind::Resolver`].
pub type ResolverError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// Result type of the YAML parser.
pub type Result<T, E = Error> = core::result::Result<T, E>;

/// The YAML parser's error: what went wrong and where.
///
/// Displays as `FILE:LINE:COLUMN: message`, or `LINE:COLUMN: message` without a file name.
///
/// ```
/// use argdata::yaml::{self, ErrorKind};
///
/// let err = yaml::from_str("[&x 1, *x]").unwrap_err();
/// assert!(matches!(err.kind(), ErrorKind::Alias));
/// assert_eq!((err.line(), err.column(), err.file_name()), (1, 8, None));
/// assert_eq!(err.to_string(), "1:8: aliases are not supported");
/// ```
#[derive(Debug, thiserror::Error)]
#[error("{}{}:{}: {kind}", file_prefix(.file.as_deref()), .line, .column)]
pub struct Error {
    file: Option<String>,
    line: usize,
    column: usize,
    #[source]
    kind: ErrorKind,
}

fn file_prefix(file: Option<&str>) -> String {
    file.map(|f| format!("{f}:")).unwrap_or_default()
}

impl Error {
    pub(super) fn new(kind: ErrorKind, line: usize, column: usize) -> Self {
        Error {
            file: None,
            line,
            column,
            kind,
        }
    }

    pub(super) fn at_node(kind: ErrorKind, node: &Node) -> Self {
        Error::new(kind, node.line, node.column)
    }

    pub(super) fn at_marker(kind: ErrorKind, m: Marker) -> Self {
        Error::new(kind, m.line(), m.col() + 1)
    }

    /// The same error, naming the input `file`.
    pub(super) fn with_file(mut self, file: Option<String>) -> Self {
        self.file = file;
        self
    }

    /// What went wrong.
    #[must_use]
    pub fn kind(&self) -> &ErrorKind {
        &self.kind
    }

    /// The line, counted from 1.
    #[must_use]
    pub fn line(&self) -> usize {
        self.line
    }

    /// The column in characters, counted from 1.
    #[must_use]
    pub fn column(&self) -> usize {
        self.column
    }

    /// The file name given to [`Parser::with_file_name`](super::Parser::with_file_name), if any.
    #[must_use]
    pub fn file_name(&self) -> Option<&str> {
        self.file.as_deref()
    }
}

/// What went wrong while parsing, without the position.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ErrorKind {
    /// The text is not well-formed YAML.
    #[error("{0}")]
    Syntax(String),
    /// The input is longer than the parser's limit.
    #[error("input of {len} bytes exceeds the limit of {limit} bytes")]
    TooLarge {
        /// Length of the input.
        len: usize,
        /// The limit in force.
        limit: usize,
    },
    /// The stream holds no document.
    #[error("no YAML document in input")]
    NoDocument,
    /// The stream holds more than one document.
    #[error("more than one YAML document in input")]
    MultipleDocuments,
    /// A mapping has the same key twice.
    #[error("duplicate key {0:?} in a mapping")]
    DuplicateKey(String),
    /// An alias (`*name`) was used; aliases are not supported.
    #[error("aliases are not supported")]
    Alias,
    /// Collections nest deeper than [`MAX_DEPTH`](crate::MAX_DEPTH).
    #[error("nesting deeper than {0} levels")]
    TooDeep(usize),
    /// A tag that is neither a known core tag, `!fd`, nor accepted by the resolver.
    #[error("unknown tag {0}")]
    UnknownTag(String),
    /// A tag was put on a node of the wrong kind (e.g. `!!int` on a mapping).
    #[error("{tag} cannot be applied to a {found}")]
    WrongNodeKind {
        /// The tag, as written in short form.
        tag: String,
        /// `scalar`, `mapping` or `sequence`.
        found: &'static str,
    },
    /// A tagged scalar does not hold a valid value for its tag.
    #[error("invalid {tag} value {value:?}")]
    InvalidScalar {
        /// The tag, in short form (`!!int`, `!fd`, ...).
        tag: &'static str,
        /// The scalar text.
        value: String,
    },
    /// A number or timestamp lies outside what argdata can hold.
    #[error("{tag} value {value:?} out of range")]
    OutOfRange {
        /// The tag, in short form.
        tag: &'static str,
        /// The scalar text.
        value: String,
    },
    /// A [`TagResolver`](super::TagResolver) rejected a node.
    #[error("{0}")]
    Resolver(#[source] ResolverError),
}
