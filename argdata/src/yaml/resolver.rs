//! The hook for tags the parser does not know itself: [`TagResolver`], the built-in
//! [`DefaultResolver`], and [`FdSpec`], what an `!fd` scalar names.

use core::fmt;

use super::error::ResolverError;
use super::node::Node;
use crate::fd::Fd;
use crate::value::Value;

/// What `!fd` names: a standard stream or a descriptor number.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum FdSpec {
    /// `!fd stdin`.
    Stdin,
    /// `!fd stdout`.
    Stdout,
    /// `!fd stderr`.
    Stderr,
    /// `!fd N`, a decimal number in `0..=i32::MAX`.
    Number(i32),
}

impl FdSpec {
    /// Parses the text of an `!fd` scalar.
    #[must_use]
    pub fn parse(s: &str) -> Option<FdSpec> {
        match s {
            "stdin" => Some(FdSpec::Stdin),
            "stdout" => Some(FdSpec::Stdout),
            "stderr" => Some(FdSpec::Stderr),
            _ if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) => {
                s.parse().ok().map(FdSpec::Number)
            }
            _ => None,
        }
    }

    /// The descriptor number in this process: 0, 1 and 2 for the standard streams.
    #[must_use]
    pub const fn number(self) -> i32 {
        match self {
            FdSpec::Stdin => 0,
            FdSpec::Stdout => 1,
            FdSpec::Stderr => 2,
            FdSpec::Number(n) => n,
        }
    }
}

/// Gives meaning to local tags (`!name`) other than the core ones.
///
/// Both methods have defaults: [`TagResolver::resolve`] rejects every tag and
/// [`TagResolver::resolve_fd`] maps `!fd` to [`Value::Fd`] with the number of
/// [`FdSpec::number`]. A launcher overrides them to open files, create sockets and map the
/// standard streams to descriptors of its own.
///
/// ```
/// use argdata::{Value, yaml::{Node, Parser, ResolverError, TagResolver}};
///
/// struct Env;
/// impl TagResolver for Env {
///     fn resolve(&mut self, tag: &str, node: &Node) -> Option<Result<Value, ResolverError>> {
///         (tag == "env").then(|| match node.as_scalar() {
///             Some("HOME") => Ok(Value::from("/home/demo")),
///             _ => Err("only HOME is known".into()),
///         })
///     }
/// }
/// let v = Parser::new("[!env HOME]").parse_with(&mut Env).unwrap();
/// assert_eq!(v, Value::seq(["/home/demo"]));
/// let err = Parser::new("- !env PATH").parse_with(&mut Env).unwrap_err();
/// assert_eq!(err.to_string(), "1:3: only HOME is known");
/// let err = Parser::new("- !nope x").parse_with(&mut Env).unwrap_err();
/// assert_eq!(err.to_string(), "1:3: unknown tag !nope");
/// ```
pub trait TagResolver {
    /// Resolves a node tagged `!tag` (`tag` is the part after `!`, never `fd`). Returns
    /// `None` for tags it does not know, which makes them an
    /// [`UnknownTag`](super::ErrorKind::UnknownTag) error.
    ///
    /// # Errors
    /// Whatever the resolver finds wrong with the node; the parser adds the position.
    fn resolve(&mut self, tag: &str, node: &Node) -> Option<Result<Value, ResolverError>> {
        let _ = (tag, node);
        None
    }

    /// Resolves `!fd stdin|stdout|stderr|N`.
    ///
    /// # Errors
    /// Whatever the resolver finds wrong; the default never fails.
    fn resolve_fd(&mut self, fd: FdSpec, node: &Node) -> Result<Value, ResolverError> {
        let _ = node;
        Ok(Value::Fd(Fd(fd.number())))
    }
}

/// The resolver that knows only the built-in tags.
#[derive(Clone, Copy, Debug, Default)]
pub struct DefaultResolver;

impl TagResolver for DefaultResolver {}

impl fmt::Display for FdSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FdSpec::Stdin => f.write_str("stdin"),
            FdSpec::Stdout => f.write_str("stdout"),
            FdSpec::Stderr => f.write_str("stderr"),
            FdSpec::Number(n) => write!(f, "{n}"),
        }
    }
}
