//! Errors of the configuration layer: every one names the file, line and column.

use std::fmt;
use std::io;
use std::path::PathBuf;

/// Where in the configuration an error was found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Location {
    /// The configuration's name: its path, or `<stdin>`.
    pub file: String,
    /// 1-based line.
    pub line: usize,
    /// 1-based column.
    pub column: usize,
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}", self.file, self.line, self.column)
    }
}

/// A configuration that could not be turned into descriptors and argdata.
///
/// Displayed as `file:line:column: message`. When this error is returned, every descriptor
/// opened for the configuration so far has been closed and nothing was started.
#[derive(Debug, thiserror::Error)]
#[error("{location}: {kind}")]
pub struct ConfigError {
    /// Where the problem is.
    pub location: Location,
    /// What the problem is.
    #[source]
    pub kind: ConfigErrorKind,
}

/// What went wrong in a configuration.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigErrorKind {
    /// The text is not valid YAML, or uses a YAML feature the parser rejects.
    #[error("{0}")]
    Syntax(String),
    /// A local tag other than `!fd`, `!file`, `!socket`, `!connections` and `!executable`.
    #[error("unknown tag `!{0}` (expected !fd, !file, !socket, !connections or !executable)")]
    UnknownTag(String),
    /// A tag was applied to the wrong kind of node.
    #[error("`!{tag}` expects {expected}")]
    Shape {
        /// The tag.
        tag: &'static str,
        /// What it expects, in words.
        expected: &'static str,
    },
    /// A key the tag does not know.
    #[error("`!{tag}` has no option `{key}`")]
    UnknownKey {
        /// The tag.
        tag: &'static str,
        /// The key found.
        key: String,
    },
    /// A key given twice.
    #[error("`!{tag}` option `{key}` given twice")]
    DuplicateKey {
        /// The tag.
        tag: &'static str,
        /// The key.
        key: String,
    },
    /// A required key is missing.
    #[error("`!{tag}` needs {what}")]
    MissingKey {
        /// The tag.
        tag: &'static str,
        /// What is missing, in words.
        what: &'static str,
    },
    /// An option has a value of the wrong type or outside its set.
    #[error("`!{tag}` option `{key}`: expected {expected}")]
    BadOption {
        /// The tag.
        tag: &'static str,
        /// The option.
        key: &'static str,
        /// The accepted values, in words.
        expected: &'static str,
    },
    /// `!fd` names something other than `stdin`, `stdout`, `stderr` or a number.
    #[error("`!fd` expects stdin, stdout, stderr or a descriptor number, not `{0}`")]
    BadFdName(String),
    /// `!fd N` names a descriptor the launcher does not hold.
    #[error("`!fd {fd}`: descriptor {fd} is not open in the launcher: {source}")]
    FdNotOpen {
        /// The number.
        fd: i32,
        /// The error of `fcntl(F_DUPFD_CLOEXEC)`.
        source: io::Error,
    },
    /// `!fd N` names a descriptor the launcher itself opened for this configuration.
    #[error("`!fd {0}`: descriptor {0} was opened by the launcher for this configuration")]
    FdOwnedByLauncher(i32),
    /// A `!file` path could not be opened.
    #[error("cannot open {path}: {source}")]
    Open {
        /// The path as written.
        path: PathBuf,
        /// The error.
        source: io::Error,
    },
    /// A `!socket` or `!connections` address could not be understood.
    #[error("bad socket address `{address}`: {reason}")]
    BadAddress {
        /// The address as written.
        address: String,
        /// Why it was rejected.
        reason: String,
    },
    /// Creating, binding, listening on or connecting a socket (for `!socket`, or the listener
    /// and socket pair of `!connections`) failed.
    #[error("socket {address}: {op} failed: {source}")]
    Socket {
        /// The address as written.
        address: String,
        /// The step that failed.
        op: &'static str,
        /// The error.
        source: io::Error,
    },
    /// The program named on the command line could not be opened for `!executable`.
    #[error("`!executable`: cannot open {path}: {source}")]
    Executable {
        /// The program's path.
        path: PathBuf,
        /// The error.
        source: io::Error,
    },
    /// More descriptors than the launcher can pass.
    #[error("more than {0} descriptors granted")]
    TooManyFds(usize),
}

impl ConfigErrorKind {
    /// Attaches a location.
    #[must_use]
    pub fn at(self, location: Location) -> ConfigError {
        ConfigError {
            location,
            kind: self,
        }
    }
}
