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
//!   hexadecimal numbers are integers; decimals with a point or exponent, `.inf` and `.nan`
//!   are floats; anything else is a string. Quoted and block scalars are always strings.
//!
//! Anchors are accepted but aliases are rejected, so the tree can never grow larger than
//! the text (no "billion laughs"). Input is limited to [`DEFAULT_MAX_LEN`] bytes unless the
//! caller raises the limit, and collections nest at most [`MAX_DEPTH`] deep.
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
//! # Ok::<(), yaml::ParseError>(())
//! ```

use alloc::borrow::ToOwned;
use alloc::boxed::Box;
use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;
use core::fmt;

use saphyr_parser::{Event, Marker, ScalarStyle, Span, Tag};

use crate::fd::Fd;
use crate::reader::MAX_DEPTH;
use crate::timestamp::Timestamp;
use crate::value::Value;

/// The longest input, in bytes, that [`Parser`] accepts unless told otherwise.
pub const DEFAULT_MAX_LEN: usize = 16 << 20;

/// The tag prefix that `!name` stands for in argdata documents.
pub const CLOUDABI_TAG_PREFIX: &str = "tag:nuxi.nl,2015:cloudabi/";

const CORE_TAG_PREFIX: &str = "tag:yaml.org,2002:";

/// The error type a [`TagResolver`] returns; wrapped into [`ParseErrorKind::Resolver`].
pub type ResolverError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// A YAML parse error: what went wrong and where.
///
/// Displays as `FILE:LINE:COLUMN: message`, or `LINE:COLUMN: message` without a file name.
#[derive(Debug, thiserror::Error)]
#[error("{}{}:{}: {kind}", file_prefix(.file.as_deref()), .line, .column)]
pub struct ParseError {
    file: Option<String>,
    line: usize,
    column: usize,
    #[source]
    kind: ParseErrorKind,
}

fn file_prefix(file: Option<&str>) -> String {
    file.map(|f| format!("{f}:")).unwrap_or_default()
}

impl ParseError {
    fn new(kind: ParseErrorKind, line: usize, column: usize) -> Self {
        ParseError {
            file: None,
            line,
            column,
            kind,
        }
    }

    fn at_node(kind: ParseErrorKind, node: &Node) -> Self {
        ParseError::new(kind, node.line, node.column)
    }

    fn at_marker(kind: ParseErrorKind, m: Marker) -> Self {
        ParseError::new(kind, m.line(), m.col() + 1)
    }

    /// What went wrong.
    #[must_use]
    pub fn kind(&self) -> &ParseErrorKind {
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

    /// The file name given to [`Parser::with_file_name`], if any.
    #[must_use]
    pub fn file_name(&self) -> Option<&str> {
        self.file.as_deref()
    }
}

/// What went wrong while parsing, without the position.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ParseErrorKind {
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
    /// Collections nest deeper than [`MAX_DEPTH`].
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
    /// A [`TagResolver`] rejected a node.
    #[error("{0}")]
    Resolver(#[source] ResolverError),
}

/// What a node holds.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum NodeKind {
    /// A scalar's text, after unquoting and unescaping.
    Scalar(String),
    /// A mapping's entries, in order.
    Map(Vec<(Node, Node)>),
    /// A sequence's items.
    Seq(Vec<Node>),
}

/// A node of the YAML document as written, before tags are applied.
///
/// A [`TagResolver`] receives the node carrying its tag, children included.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Node {
    /// The tag in short form: `!!int` for core tags, `!name` for CloudABI and local tags,
    /// `!<uri>` for any other; `None` if the node has no tag.
    pub tag: Option<String>,
    /// The contents.
    pub kind: NodeKind,
    /// Whether this is a plain scalar (not quoted, not a block scalar); only untagged
    /// plain scalars are subject to the core schema's null/bool/number rules.
    pub plain: bool,
    /// Line of the node's start, counted from 1.
    pub line: usize,
    /// Column of the node's start, in characters counted from 1.
    pub column: usize,
}

impl Node {
    /// The text of a scalar node.
    #[must_use]
    pub fn as_scalar(&self) -> Option<&str> {
        match &self.kind {
            NodeKind::Scalar(s) => Some(s),
            _ => None,
        }
    }

    /// For a mapping, the value of the first entry whose key is the scalar `key`.
    #[must_use]
    pub fn get(&self, key: &str) -> Option<&Node> {
        match &self.kind {
            NodeKind::Map(entries) => entries
                .iter()
                .find(|(k, _)| k.as_scalar() == Some(key))
                .map(|(_, v)| v),
            _ => None,
        }
    }

    fn kind_name(&self) -> &'static str {
        match self.kind {
            NodeKind::Scalar(_) => "scalar",
            NodeKind::Map(_) => "mapping",
            NodeKind::Seq(_) => "sequence",
        }
    }
}

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
    /// [`UnknownTag`](ParseErrorKind::UnknownTag) error.
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

/// Parses one YAML document into a [`Value`] with the [`DefaultResolver`].
///
/// # Errors
/// See [`Parser::parse_with`].
pub fn from_str(text: &str) -> Result<Value, ParseError> {
    Parser::new(text).parse()
}

/// A configurable YAML parser; see the [module documentation](self).
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
    /// plain or quoted, text), with [`ParseErrorKind::DuplicateKey`] at the second one. Off
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
    pub fn parse(&self) -> Result<Value, ParseError> {
        self.parse_with(&mut DefaultResolver)
    }

    /// Parses the document into a tree of [`Node`]s without applying tags.
    ///
    /// # Errors
    /// Syntax errors, an input over the length limit, no document or more than one,
    /// aliases, and nesting deeper than [`MAX_DEPTH`].
    pub fn parse_nodes(&self) -> Result<Node, ParseError> {
        self.build_tree().map_err(|e| self.name(e))
    }

    /// Parses the document, handing local tags other than the built-in ones to `resolver`.
    ///
    /// # Errors
    /// As [`Parser::parse_nodes`], plus unknown tags, tags on the wrong kind of node,
    /// scalars that are not valid for their tag, numbers out of range, and whatever the
    /// resolver reports.
    pub fn parse_with<R: TagResolver + ?Sized>(
        &self,
        resolver: &mut R,
    ) -> Result<Value, ParseError> {
        let root = self.parse_nodes()?;
        node_to_value(&root, resolver).map_err(|e| self.name(e))
    }

    fn name(&self, mut e: ParseError) -> ParseError {
        e.file.clone_from(&self.file);
        e
    }

    fn build_tree(&self) -> Result<Node, ParseError> {
        if self.text.len() > self.max_len {
            return Err(ParseError::new(
                ParseErrorKind::TooLarge {
                    len: self.text.len(),
                    limit: self.max_len,
                },
                1,
                1,
            ));
        }
        let mut builder = TreeBuilder {
            unique_keys: self.unique_keys,
            ..TreeBuilder::default()
        };
        let mut events = saphyr_parser::Parser::new_from_str(self.text);
        loop {
            let (event, span) = match events.next_event() {
                None => break,
                Some(Ok(e)) => e,
                Some(Err(e)) => {
                    return Err(ParseError::at_marker(
                        ParseErrorKind::Syntax(e.info().to_owned()),
                        *e.marker(),
                    ));
                }
            };
            if builder.event(event, span)? {
                break;
            }
        }
        builder
            .root
            .ok_or(ParseError::new(ParseErrorKind::NoDocument, 1, 1))
    }
}

/// An open collection while the tree is built.
struct Open {
    node: Node,
    key: Option<Node>,
    /// A mapping's scalar keys so far (tag, plain, text), to refuse a repeated one.
    seen: std::collections::HashSet<(Option<String>, bool, String)>,
}

#[derive(Default)]
struct TreeBuilder {
    stack: Vec<Open>,
    root: Option<Node>,
    documents: usize,
    unique_keys: bool,
}

fn short_tag(tag: &Tag) -> String {
    let full_len = tag.handle.len() + tag.suffix.len();
    if tag.handle == CORE_TAG_PREFIX {
        format!("!!{}", tag.suffix)
    } else if tag.handle == CLOUDABI_TAG_PREFIX || tag.handle == "!" {
        format!("!{}", tag.suffix)
    } else if tag.handle.is_empty() {
        // A verbatim tag.
        match tag.suffix.strip_prefix(CORE_TAG_PREFIX) {
            Some(rest) => format!("!!{rest}"),
            None => match tag.suffix.strip_prefix(CLOUDABI_TAG_PREFIX) {
                Some(rest) => format!("!{rest}"),
                None if tag.suffix.starts_with('!') => tag.suffix.clone(),
                None => format!("!<{}>", tag.suffix),
            },
        }
    } else {
        let mut s = String::with_capacity(full_len + 3);
        s.push_str("!<");
        s.push_str(&tag.handle);
        s.push_str(&tag.suffix);
        s.push('>');
        s
    }
}

impl TreeBuilder {
    fn new_node(tag: Option<&Tag>, kind: NodeKind, plain: bool, span: Span) -> Node {
        Node {
            tag: tag.map(short_tag),
            kind,
            plain,
            line: span.start.line(),
            column: span.start.col() + 1,
        }
    }

    fn finish(&mut self, node: Node) -> Result<(), ParseError> {
        match self.stack.last_mut() {
            None => {
                self.root = Some(node);
                Ok(())
            }
            Some(open) => {
                match &mut open.node.kind {
                    NodeKind::Seq(items) => items.push(node),
                    NodeKind::Map(entries) => match open.key.take() {
                        None => {
                            // With unique keys, scalars are compared as written (tag,
                            // plain or quoted, text): `1` and `"1"` are different keys.
                            if let NodeKind::Scalar(text) = &node.kind
                                && self.unique_keys
                                && !open
                                    .seen
                                    .insert((node.tag.clone(), node.plain, text.clone()))
                            {
                                return Err(ParseError::new(
                                    ParseErrorKind::DuplicateKey(text.clone()),
                                    node.line,
                                    node.column,
                                ));
                            }
                            open.key = Some(node);
                        }
                        Some(key) => entries.push((key, node)),
                    },
                    NodeKind::Scalar(_) => {}
                }
                Ok(())
            }
        }
    }

    fn open(&mut self, node: Node, span: Span) -> Result<(), ParseError> {
        if self.stack.len() >= MAX_DEPTH {
            return Err(ParseError::at_marker(
                ParseErrorKind::TooDeep(MAX_DEPTH),
                span.start,
            ));
        }
        self.stack.push(Open {
            node,
            key: None,
            seen: std::collections::HashSet::new(),
        });
        Ok(())
    }

    fn close(&mut self) -> Result<(), ParseError> {
        match self.stack.pop() {
            Some(open) => self.finish(open.node),
            None => Ok(()),
        }
    }

    /// Handles one event; returns whether the stream has ended.
    fn event(&mut self, event: Event<'_>, span: Span) -> Result<bool, ParseError> {
        match event {
            Event::StreamEnd => return Ok(true),
            Event::Nothing | Event::StreamStart | Event::DocumentEnd => {}
            Event::DocumentStart(_) => {
                self.documents += 1;
                if self.documents > 1 {
                    return Err(ParseError::at_marker(
                        ParseErrorKind::MultipleDocuments,
                        span.start,
                    ));
                }
            }
            Event::Alias(_) => {
                return Err(ParseError::at_marker(ParseErrorKind::Alias, span.start));
            }
            Event::Scalar(text, style, _anchor, tag) => {
                let plain = style == ScalarStyle::Plain;
                let node = Self::new_node(
                    tag.as_deref(),
                    NodeKind::Scalar(text.into_owned()),
                    plain,
                    span,
                );
                self.finish(node)?;
            }
            Event::SequenceStart(_anchor, tag) => {
                let node = Self::new_node(tag.as_deref(), NodeKind::Seq(Vec::new()), false, span);
                self.open(node, span)?;
            }
            Event::MappingStart(_anchor, tag) => {
                let node = Self::new_node(tag.as_deref(), NodeKind::Map(Vec::new()), false, span);
                self.open(node, span)?;
            }
            Event::SequenceEnd | Event::MappingEnd => self.close()?,
        }
        Ok(false)
    }
}

/// Applies tags and the core schema to a node tree.
fn node_to_value<R: TagResolver + ?Sized>(node: &Node, r: &mut R) -> Result<Value, ParseError> {
    let Some(tag) = node.tag.as_deref() else {
        return untagged(node, r);
    };
    if let Some(core) = tag.strip_prefix("!!") {
        return core_tagged(core, node, r);
    }
    let local = tag
        .strip_prefix('!')
        .filter(|t| !t.starts_with('<') && !t.is_empty());
    let Some(local) = local else {
        return Err(ParseError::at_node(
            ParseErrorKind::UnknownTag(tag.to_owned()),
            node,
        ));
    };
    let resolved = if local == "fd" {
        let text = scalar_for(node, tag)?;
        let spec = FdSpec::parse(text).ok_or_else(|| invalid("!fd", node, text))?;
        r.resolve_fd(spec, node)
    } else {
        match r.resolve(local, node) {
            Some(result) => result,
            None => {
                return Err(ParseError::at_node(
                    ParseErrorKind::UnknownTag(tag.to_owned()),
                    node,
                ));
            }
        }
    };
    resolved.map_err(|e| ParseError::at_node(ParseErrorKind::Resolver(e), node))
}

fn invalid(tag: &'static str, node: &Node, text: &str) -> ParseError {
    ParseError::at_node(
        ParseErrorKind::InvalidScalar {
            tag,
            value: text.to_owned(),
        },
        node,
    )
}

fn out_of_range(tag: &'static str, node: &Node, text: &str) -> ParseError {
    ParseError::at_node(
        ParseErrorKind::OutOfRange {
            tag,
            value: text.to_owned(),
        },
        node,
    )
}

fn scalar_for<'n>(node: &'n Node, tag: &str) -> Result<&'n str, ParseError> {
    node.as_scalar().ok_or_else(|| {
        ParseError::at_node(
            ParseErrorKind::WrongNodeKind {
                tag: tag.to_owned(),
                found: node.kind_name(),
            },
            node,
        )
    })
}

fn collection<R: TagResolver + ?Sized>(node: &Node, r: &mut R) -> Result<Value, ParseError> {
    match &node.kind {
        NodeKind::Map(entries) => {
            let mut out = Vec::with_capacity(entries.len());
            for (k, v) in entries {
                out.push((node_to_value(k, r)?, node_to_value(v, r)?));
            }
            Ok(Value::Map(out))
        }
        NodeKind::Seq(items) => {
            let mut out = Vec::with_capacity(items.len());
            for item in items {
                out.push(node_to_value(item, r)?);
            }
            Ok(Value::Seq(out))
        }
        NodeKind::Scalar(_) => Ok(Value::Null),
    }
}

fn untagged<R: TagResolver + ?Sized>(node: &Node, r: &mut R) -> Result<Value, ParseError> {
    let NodeKind::Scalar(text) = &node.kind else {
        return collection(node, r);
    };
    if !node.plain {
        return Ok(Value::Str(text.clone()));
    }
    if is_null(text) {
        return Ok(Value::Null);
    }
    if let Some(b) = parse_bool(text) {
        return Ok(Value::Bool(b));
    }
    if let Some(i) = parse_int(text) {
        return i
            .map(Value::Int)
            .ok_or_else(|| out_of_range("!!int", node, text));
    }
    if let Some(f) = parse_float(text) {
        return Ok(Value::Float(f));
    }
    Ok(Value::Str(text.clone()))
}

fn core_tagged<R: TagResolver + ?Sized>(
    core: &str,
    node: &Node,
    r: &mut R,
) -> Result<Value, ParseError> {
    let tag = node.tag.as_deref().unwrap_or_default();
    match core {
        "map" | "seq" => {
            let fits = matches!(
                (&node.kind, core),
                (NodeKind::Map(_), "map") | (NodeKind::Seq(_), "seq")
            );
            if !fits {
                return Err(ParseError::at_node(
                    ParseErrorKind::WrongNodeKind {
                        tag: tag.to_owned(),
                        found: node.kind_name(),
                    },
                    node,
                ));
            }
            collection(node, r)
        }
        "str" => Ok(Value::Str(scalar_for(node, tag)?.to_owned())),
        "null" => {
            let text = scalar_for(node, tag)?;
            if is_null(text) {
                Ok(Value::Null)
            } else {
                Err(invalid("!!null", node, text))
            }
        }
        "bool" => {
            let text = scalar_for(node, tag)?;
            parse_bool(text)
                .map(Value::Bool)
                .ok_or_else(|| invalid("!!bool", node, text))
        }
        "int" => {
            let text = scalar_for(node, tag)?;
            match parse_int(text) {
                Some(Some(i)) => Ok(Value::Int(i)),
                Some(None) => Err(out_of_range("!!int", node, text)),
                None => Err(invalid("!!int", node, text)),
            }
        }
        "float" => {
            let text = scalar_for(node, tag)?;
            if let Some(f) = parse_float(text) {
                return Ok(Value::Float(f));
            }
            // Integers are valid floats too (the printer writes zero as "0").
            match parse_int(text) {
                Some(Some(i)) if is_decimal(text) => Ok(Value::Float(i as f64)),
                _ => Err(invalid("!!float", node, text)),
            }
        }
        "binary" => {
            let text = scalar_for(node, tag)?;
            base64_decode(text)
                .map(Value::Binary)
                .ok_or_else(|| invalid("!!binary", node, text))
        }
        "timestamp" => {
            let text = scalar_for(node, tag)?;
            match parse_timestamp(text) {
                Some(Some(t)) => Ok(Value::Timestamp(t)),
                Some(None) => Err(out_of_range("!!timestamp", node, text)),
                None => Err(invalid("!!timestamp", node, text)),
            }
        }
        _ => Err(ParseError::at_node(
            ParseErrorKind::UnknownTag(tag.to_owned()),
            node,
        )),
    }
}

fn is_null(s: &str) -> bool {
    matches!(s, "" | "~" | "null" | "Null" | "NULL")
}

fn parse_bool(s: &str) -> Option<bool> {
    match s {
        "true" | "True" | "TRUE" => Some(true),
        "false" | "False" | "FALSE" => Some(false),
        _ => None,
    }
}

fn is_decimal(s: &str) -> bool {
    let digits = s.strip_prefix(['-', '+']).unwrap_or(s);
    !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit())
}

/// A core-schema integer: `None` if `s` is not one, `Some(None)` if it does not fit `i128`.
fn parse_int(s: &str) -> Option<Option<i128>> {
    let (negative, unsigned) = match s.as_bytes().first() {
        Some(b'-') => (true, &s[1..]),
        Some(b'+') => (false, &s[1..]),
        _ => (false, s),
    };
    let (radix, digits) = if let Some(h) = s.strip_prefix("0x") {
        (16, h)
    } else if let Some(o) = s.strip_prefix("0o") {
        (8, o)
    } else if !unsigned.is_empty() && unsigned.bytes().all(|b| b.is_ascii_digit()) {
        (10, unsigned)
    } else {
        return None;
    };
    if digits.is_empty() || !digits.bytes().all(|b| char::from(b).is_digit(radix)) {
        return None;
    }
    let magnitude = u128::from_str_radix(digits, radix).ok();
    Some(magnitude.and_then(|m| {
        if radix == 10 && negative {
            0i128.checked_sub_unsigned(m)
        } else {
            i128::try_from(m).ok()
        }
    }))
}

/// A core-schema float (a number with a point or an exponent, or `.inf`/`.nan`).
fn parse_float(s: &str) -> Option<f64> {
    let (sign, body) = match s.as_bytes().first() {
        Some(b'-') => (-1.0, &s[1..]),
        Some(b'+') => (1.0, &s[1..]),
        _ => (1.0, s),
    };
    match body {
        ".inf" | ".Inf" | ".INF" => return Some(sign * f64::INFINITY),
        ".nan" | ".NaN" | ".NAN" if body.len() == s.len() => return Some(f64::NAN),
        _ => {}
    }
    // [0-9]* ( . [0-9]* )? ( [eE] [-+]? [0-9]+ )? with at least one mantissa digit and a
    // point or an exponent.
    let b = body.as_bytes();
    let mut i = 0;
    let int_digits = b.iter().take_while(|c| c.is_ascii_digit()).count();
    i += int_digits;
    let mut frac_digits = 0;
    let mut point = false;
    if b.get(i) == Some(&b'.') {
        point = true;
        i += 1;
        frac_digits = b[i..].iter().take_while(|c| c.is_ascii_digit()).count();
        i += frac_digits;
    }
    if int_digits + frac_digits == 0 {
        return None;
    }
    let mut exponent = false;
    if matches!(b.get(i), Some(b'e' | b'E')) {
        exponent = true;
        i += 1;
        if matches!(b.get(i), Some(b'-' | b'+')) {
            i += 1;
        }
        let exp_digits = b[i..].iter().take_while(|c| c.is_ascii_digit()).count();
        if exp_digits == 0 {
            return None;
        }
        i += exp_digits;
    }
    if i != b.len() || !(point || exponent) {
        return None;
    }
    s.parse().ok()
}

fn base64_value(c: u8) -> Option<u32> {
    Some(u32::from(match c {
        b'A'..=b'Z' => c - b'A',
        b'a'..=b'z' => c - b'a' + 26,
        b'0'..=b'9' => c - b'0' + 52,
        b'+' => 62,
        b'/' => 63,
        _ => return None,
    }))
}

/// Standard base64 with padding; whitespace (line breaks in block scalars) is skipped.
fn base64_decode(text: &str) -> Option<Vec<u8>> {
    let symbols: Vec<u8> = text
        .bytes()
        .filter(|b| !matches!(b, b' ' | b'\t' | b'\n' | b'\r'))
        .collect();
    if !symbols.len().is_multiple_of(4) {
        return None;
    }
    let mut out = Vec::with_capacity(symbols.len() / 4 * 3);
    let groups = symbols.len() / 4;
    for (n, group) in symbols.chunks_exact(4).enumerate() {
        let pad = if n + 1 == groups {
            group.iter().rev().take_while(|&&c| c == b'=').count()
        } else {
            0
        };
        if pad > 2 {
            return None;
        }
        let mut v = 0u32;
        for &c in &group[..4 - pad] {
            v = v << 6 | base64_value(c)?;
        }
        v <<= 6 * pad;
        let bytes = v.to_be_bytes();
        out.extend_from_slice(&bytes[1..4 - pad]);
        // Canonical form: the bits dropped by padding must be zero.
        if (pad == 1 && v & 0xff != 0) || (pad == 2 && v & 0xffff != 0) {
            return None;
        }
    }
    Some(out)
}

/// Days from 1970-01-01 to the given proleptic Gregorian date.
fn days_from_civil(year: i64, month: i64, day: i64) -> Option<i64> {
    let y = if month <= 2 {
        year.checked_sub(1)?
    } else {
        year
    };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let mp = if month > 2 { month - 3 } else { month + 9 };
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era.checked_mul(146_097)?
        .checked_add(doe)?
        .checked_sub(719_468)
}

fn days_in_month(year: i64, month: i64) -> i64 {
    match month {
        2 if year % 4 == 0 && (year % 100 != 0 || year % 400 == 0) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Splits off a run of 1 to `max` ASCII digits.
fn digits(s: &str, min: usize, max: usize) -> Option<(i64, &str)> {
    let n = s.bytes().take_while(u8::is_ascii_digit).count();
    if n < min || n > max {
        return None;
    }
    Some((s[..n].parse().ok()?, &s[n..]))
}

/// A YAML timestamp (`2001-12-14`, `2001-12-14t21:59:43.10-05:00`, `2001-12-14 21:59:43.10 Z`,
/// ...). Years may have more than four digits and a sign. `None` if `s` is not a timestamp,
/// `Some(None)` if it does not fit a [`Timestamp`].
fn parse_timestamp(s: &str) -> Option<Option<Timestamp>> {
    let (negative, rest) = match s.strip_prefix('-') {
        Some(r) => (true, r),
        None => (false, s.strip_prefix('+').unwrap_or(s)),
    };
    // The printer pads years to four characters sign included, so `-001` is year -1.
    let (year, rest) = digits(rest, if negative { 1 } else { 4 }, 18)?;
    let year = if negative { -year } else { year };
    let (month, rest) = digits(rest.strip_prefix('-')?, 1, 2)?;
    let (day, rest) = digits(rest.strip_prefix('-')?, 1, 2)?;
    if !(1..=12).contains(&month) || day < 1 || day > days_in_month(year, month) {
        return None;
    }
    let (mut secs, mut nanos, mut offset) = (0i64, 0i64, 0i64);
    if !rest.is_empty() {
        let rest = if let Some(r) = rest.strip_prefix(['T', 't']) {
            r
        } else {
            let trimmed = rest.trim_start_matches([' ', '\t']);
            if trimmed.len() == rest.len() {
                return None;
            }
            trimmed
        };
        let (h, rest) = digits(rest, 1, 2)?;
        let (m, rest) = digits(rest.strip_prefix(':')?, 2, 2)?;
        let (sec, mut rest) = digits(rest.strip_prefix(':')?, 2, 2)?;
        if h > 23 || m > 59 || sec > 60 {
            return None;
        }
        secs = h * 3600 + m * 60 + sec;
        if let Some(r) = rest.strip_prefix('.') {
            let n = r.bytes().take_while(u8::is_ascii_digit).count();
            if n == 0 || n > 9 {
                return None;
            }
            nanos = r[..n].parse::<i64>().ok()? * 10i64.pow(9 - n as u32);
            rest = &r[n..];
        }
        let zone = rest.trim_start_matches([' ', '\t']);
        if zone == "Z" || zone == "z" {
        } else if zone.is_empty() {
            if !rest.is_empty() {
                return None;
            }
        } else {
            let (sign, z) = match zone.as_bytes()[0] {
                b'+' => (1, &zone[1..]),
                b'-' => (-1, &zone[1..]),
                _ => return None,
            };
            let (zh, z) = digits(z, 1, 2)?;
            let zm = match z.strip_prefix(':') {
                Some(z) => {
                    let (zm, z) = digits(z, 2, 2)?;
                    if !z.is_empty() {
                        return None;
                    }
                    zm
                }
                None if z.is_empty() => 0,
                None => return None,
            };
            if zh > 23 || zm > 59 {
                return None;
            }
            offset = sign * (zh * 3600 + zm * 60);
        }
    }
    let days = days_from_civil(year, month, day)?;
    let total = i128::from(days) * 86_400 + i128::from(secs) - i128::from(offset);
    Some(Timestamp::from_nanos(
        total * 1_000_000_000 + i128::from(nanos),
    ))
}

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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_follow_the_core_schema() {
        assert_eq!(parse_int("0x1F"), Some(Some(31)));
        assert_eq!(parse_int("0o17"), Some(Some(15)));
        assert_eq!(parse_int("-17"), Some(Some(-17)));
        assert_eq!(parse_int("+17"), Some(Some(17)));
        assert_eq!(parse_int("-0x1"), None);
        assert_eq!(parse_int("1_000"), None);
        assert_eq!(
            parse_int("-170141183460469231731687303715884105728"),
            Some(Some(i128::MIN))
        );
        assert_eq!(
            parse_int("170141183460469231731687303715884105728"),
            Some(None)
        );
        assert_eq!(parse_float("1.5e+300"), Some(1.5e300));
        assert_eq!(parse_float(".5"), Some(0.5));
        assert_eq!(parse_float("-.inf"), Some(f64::NEG_INFINITY));
        assert!(parse_float(".NaN").unwrap().is_nan());
        assert_eq!(parse_float("-.nan"), None);
        assert_eq!(parse_float("1"), None);
        assert_eq!(parse_float("inf"), None);
        assert_eq!(parse_float("1e"), None);
        assert_eq!(parse_float("."), None);
    }

    #[test]
    fn base64_is_strict() {
        assert_eq!(base64_decode("aGk=").as_deref(), Some(&b"hi"[..]));
        assert_eq!(base64_decode("aGk").as_deref(), None);
        assert_eq!(base64_decode("aGl=").as_deref(), None);
        assert_eq!(base64_decode("aG==aGk=").as_deref(), None);
        assert_eq!(base64_decode("aGVs\n bG8=").as_deref(), Some(&b"hello"[..]));
        assert_eq!(base64_decode("").as_deref(), Some(&b""[..]));
    }

    #[test]
    fn timestamps_in_every_yaml_form() {
        let t = |s| parse_timestamp(s).flatten().map(Timestamp::as_nanos);
        assert_eq!(t("1970-01-01"), Some(0));
        assert_eq!(t("1970-01-01T00:00:01.5Z"), Some(1_500_000_000));
        assert_eq!(t("1970-01-01 01:00:00 +01:00"), Some(0));
        assert_eq!(t("1970-01-01t00:00:00-1"), Some(3_600_000_000_000));
        assert_eq!(t("1969-12-31T23:59:59.999999999Z"), Some(-1));
        assert_eq!(
            t("-0001-03-01T00:00:00Z"),
            Some(-62_193_657_600 * 1_000_000_000)
        );
        assert_eq!(t("2001-02-29"), None);
        assert_eq!(t("2001-01-01T25:00:00Z"), None);
        assert_eq!(t("2001-01-01T00:00:00.1234567890Z"), None);
        assert_eq!(parse_timestamp("99999999999999-01-01"), Some(None));
    }
}
