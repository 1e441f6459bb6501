//! The document as written: a tree of [`Node`]s, before tags are applied. A
//! [`TagResolver`](super::TagResolver) sees the node it resolves in this form.

use alloc::string::String;
use alloc::vec::Vec;

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
/// A [`TagResolver`](super::TagResolver) receives the node carrying its tag, children included.
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

    pub(super) fn kind_name(&self) -> &'static str {
        match self.kind {
            NodeKind::Scalar(_) => "scalar",
            NodeKind::Map(_) => "mapping",
            NodeKind::Seq(_) => "sequence",
        }
    }
}
