//! From nodes to values: the core tags, `!fd`, the YAML 1.2 core schema for untagged
//! plain scalars, and the [`TagResolver`] for every other local tag.

use alloc::borrow::ToOwned;
use alloc::vec::Vec;

use super::base64::base64_decode;
use super::error::{Error, ErrorKind, Result};
use super::node::{Node, NodeKind};
use super::resolver::{FdSpec, TagResolver};
use super::scalar::{is_decimal, is_null, parse_bool, parse_float, parse_int};
use super::timestamp::parse_timestamp;
use crate::value::Value;

/// Applies tags and the core schema to a node tree.
pub(super) fn node_to_value<R: TagResolver + ?Sized>(node: &Node, r: &mut R) -> Result<Value> {
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
        return Err(Error::at_node(ErrorKind::UnknownTag(tag.to_owned()), node));
    };
    let resolved = if local == "fd" {
        let text = scalar_for(node, tag)?;
        let spec = FdSpec::parse(text).ok_or_else(|| invalid("!fd", node, text))?;
        r.resolve_fd(spec, node)
    } else {
        match r.resolve(local, node) {
            Some(result) => result,
            None => {
                return Err(Error::at_node(ErrorKind::UnknownTag(tag.to_owned()), node));
            }
        }
    };
    resolved.map_err(|e| Error::at_node(ErrorKind::Resolver(e), node))
}

fn invalid(tag: &'static str, node: &Node, text: &str) -> Error {
    Error::at_node(
        ErrorKind::InvalidScalar {
            tag,
            value: text.to_owned(),
        },
        node,
    )
}

fn out_of_range(tag: &'static str, node: &Node, text: &str) -> Error {
    Error::at_node(
        ErrorKind::OutOfRange {
            tag,
            value: text.to_owned(),
        },
        node,
    )
}

fn scalar_for<'n>(node: &'n Node, tag: &str) -> Result<&'n str> {
    node.as_scalar().ok_or_else(|| {
        Error::at_node(
            ErrorKind::WrongNodeKind {
                tag: tag.to_owned(),
                found: node.kind_name(),
            },
            node,
        )
    })
}

fn collection<R: TagResolver + ?Sized>(node: &Node, r: &mut R) -> Result<Value> {
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

fn untagged<R: TagResolver + ?Sized>(node: &Node, r: &mut R) -> Result<Value> {
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

fn core_tagged<R: TagResolver + ?Sized>(core: &str, node: &Node, r: &mut R) -> Result<Value> {
    let tag = node.tag.as_deref().unwrap_or_default();
    match core {
        "map" | "seq" => {
            let fits = matches!(
                (&node.kind, core),
                (NodeKind::Map(_), "map") | (NodeKind::Seq(_), "seq")
            );
            if !fits {
                return Err(Error::at_node(
                    ErrorKind::WrongNodeKind {
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
            // Decimal integers are valid floats too, of any length (the printer writes zero
            // as "0").
            match text.parse::<f64>() {
                Ok(f) if is_decimal(text) => Ok(Value::Float(f)),
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
        _ => Err(Error::at_node(ErrorKind::UnknownTag(tag.to_owned()), node)),
    }
}
