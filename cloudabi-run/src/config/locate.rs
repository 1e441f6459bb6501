//! Mapping an argdata path, as a program's typed-configuration error names it, back to the
//! place in the YAML configuration the value came from.

use argdata::yaml::{Node, NodeKind, Parser};

use super::error::Location;
use super::limits::MAX_CONFIG_LEN;

/// One step of an argdata path.
#[derive(Debug, PartialEq, Eq)]
enum Step<'a> {
    Key(&'a str),
    Index(usize),
}

/// Splits `a.b[2].c` into its steps; `None` for a path this syntax cannot express (a key
/// shown as `?`, a malformed index).
fn steps(path: &str) -> Option<Vec<Step<'_>>> {
    let mut out = Vec::new();
    let mut rest = path;
    while !rest.is_empty() {
        if let Some(after) = rest.strip_prefix('[') {
            let (digits, tail) = after.split_once(']')?;
            out.push(Step::Index(digits.parse().ok()?));
            rest = tail;
        } else {
            let rest_key = rest.strip_prefix('.').unwrap_or(rest);
            let end = rest_key.find(['.', '[']).unwrap_or(rest_key.len());
            let key = &rest_key[..end];
            if key.is_empty() || key == "?" {
                return None;
            }
            out.push(Step::Key(key));
            rest = &rest_key[end..];
        }
    }
    Some(out)
}

/// Where in `text` (named `file`) the value at argdata `path` was written: the position of
/// the node itself, or of the deepest enclosing node that exists (a missing field is
/// reported at the map that lacks it). `None` if the text does not parse.
///
/// ```
/// use cloudabi_run::config::locate_value;
///
/// let yaml = "server:\n  port: lots\n  peers: [a, b]\n";
/// let at = locate_value(yaml, "conf.yaml", "server.port").unwrap();
/// assert_eq!(at.to_string(), "conf.yaml:2:9");
/// assert_eq!(locate_value(yaml, "conf.yaml", "server.peers[1]").unwrap().to_string(), "conf.yaml:3:14");
/// ```
#[must_use]
pub fn locate_value(text: &str, file: &str, path: &str) -> Option<Location> {
    let root = Parser::new(text)
        .with_file_name(file)
        .with_max_len(MAX_CONFIG_LEN)
        .parse_nodes()
        .ok()?;
    let mut at = &root;
    for step in steps(path).unwrap_or_default() {
        let next = match (&at.kind, step) {
            (NodeKind::Map(entries), Step::Key(k)) => entries
                .iter()
                .find(|(key, _)| key.as_scalar() == Some(k))
                .map(|(_, v)| v),
            (NodeKind::Seq(items), Step::Index(i)) => items.get(i),
            _ => None,
        };
        match next {
            Some(n) => at = n,
            None => break,
        }
    }
    Some(position(at, file))
}

fn position(node: &Node, file: &str) -> Location {
    Location {
        file: file.to_owned(),
        line: node.line,
        column: node.column,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_split_into_steps() {
        assert_eq!(steps(""), Some(vec![]));
        assert_eq!(
            steps("a.b[2].c"),
            Some(vec![
                Step::Key("a"),
                Step::Key("b"),
                Step::Index(2),
                Step::Key("c")
            ])
        );
        assert_eq!(steps("[0][1]"), Some(vec![Step::Index(0), Step::Index(1)]));
        assert_eq!(steps("a.?"), None);
        assert_eq!(steps("a[x]"), None);
        assert_eq!(steps("a[1"), None);
    }

    #[test]
    fn missing_values_point_at_the_enclosing_node() {
        let yaml = "%TAG ! tag:nuxi.nl,2015:cloudabi/\n---\nlog: !fd stderr\nweb:\n  root: 1\n";
        let at = |p: &str| locate_value(yaml, "f", p).map(|l| (l.line, l.column));
        assert_eq!(at("log"), Some((3, 6)));
        assert_eq!(at("web.root"), Some((5, 9)));
        // `web.listen` is missing: the map `web` is.
        assert_eq!(at("web.listen"), Some((5, 3)));
        assert_eq!(locate_value("a: [", "f", "a"), None);
    }
}
