//! Building the [`Node`] tree from the YAML event stream: one document, no aliases,
//! nesting at most [`MAX_DEPTH`] deep, optionally unique keys; tags kept in short form.

use alloc::borrow::ToOwned;
use alloc::format;
use alloc::string::String;
use alloc::vec::Vec;

use saphyr_parser::{Event, ScalarStyle, Span, Tag};

use super::error::{Error, ErrorKind, Result};
use super::node::{Node, NodeKind};
use crate::reader::MAX_DEPTH;

/// The tag prefix that `!name` stands for in argdata documents.
pub const CLOUDABI_TAG_PREFIX: &str = "tag:nuxi.nl,2015:cloudabi/";

/// The prefix of the core tags, written `!!name`.
const CORE_TAG_PREFIX: &str = "tag:yaml.org,2002:";

/// Parses `text` into a node tree; `max_len` and `unique_keys` as [`Parser`](super::Parser)
/// sets them.
pub(super) fn build(text: &str, max_len: usize, unique_keys: bool) -> Result<Node> {
    if text.len() > max_len {
        return Err(Error::new(
            ErrorKind::TooLarge {
                len: text.len(),
                limit: max_len,
            },
            1,
            1,
        ));
    }
    let mut builder = TreeBuilder {
        unique_keys,
        ..TreeBuilder::default()
    };
    let mut events = saphyr_parser::Parser::new_from_str(text);
    loop {
        let (event, span) = match events.next_event() {
            None => break,
            Some(Ok(e)) => e,
            Some(Err(e)) => {
                return Err(Error::at_marker(
                    ErrorKind::Syntax(e.info().to_owned()),
                    *e.marker(),
                ));
            }
        };
        if builder.event(event, span)? {
            break;
        }
    }
    builder.root.ok_or(Error::new(ErrorKind::NoDocument, 1, 1))
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

    fn finish(&mut self, node: Node) -> Result<()> {
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
                                return Err(Error::new(
                                    ErrorKind::DuplicateKey(text.clone()),
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

    fn open(&mut self, node: Node, span: Span) -> Result<()> {
        if self.stack.len() >= MAX_DEPTH {
            return Err(Error::at_marker(ErrorKind::TooDeep(MAX_DEPTH), span.start));
        }
        self.stack.push(Open {
            node,
            key: None,
            seen: std::collections::HashSet::new(),
        });
        Ok(())
    }

    fn close(&mut self) -> Result<()> {
        match self.stack.pop() {
            Some(open) => self.finish(open.node),
            None => Ok(()),
        }
    }

    /// Handles one event; returns whether the stream has ended.
    fn event(&mut self, event: Event<'_>, span: Span) -> Result<bool> {
        match event {
            Event::StreamEnd => return Ok(true),
            Event::Nothing | Event::StreamStart | Event::DocumentEnd => {}
            Event::DocumentStart(_) => {
                self.documents += 1;
                if self.documents > 1 {
                    return Err(Error::at_marker(ErrorKind::MultipleDocuments, span.start));
                }
            }
            Event::Alias(_) => {
                return Err(Error::at_marker(ErrorKind::Alias, span.start));
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
