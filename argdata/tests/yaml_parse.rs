//! The YAML parser: print -> parse round trips over the reference vectors, the core
//! schema, tag resolution, limits and error positions.

#![cfg(feature = "yaml")]

mod common;

use argdata::yaml::{self, FdSpec, Node, NodeKind, Parser, ResolverError};
use argdata::{Argdata, Fd, MAX_DEPTH, Timestamp, Value};
use common::canonical::{canonical, printer_is_lossy};
use common::rows;

#[test]
fn printed_vectors_parse_back_to_their_canonical_encoding() {
    let mut exact = 0;
    let mut lossy = 0;
    for row in rows().into_iter().filter(|r| r.valid) {
        let ad = Argdata::new(&row.bytes);
        let text = yaml::to_string(ad).unwrap();
        let value = yaml::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", row.origin));
        let mut bytes = Vec::new();
        value.encode_raw_fds_into(&mut bytes).unwrap();
        // Printing again always gives the same text.
        assert_eq!(
            yaml::to_string(Argdata::new(&bytes)).unwrap(),
            text,
            "{}",
            row.origin
        );
        if printer_is_lossy(ad) {
            lossy += 1;
        } else {
            assert_eq!(bytes, canonical(&row.bytes), "{}", row.origin);
            exact += 1;
        }
    }
    assert!(exact > 260, "{exact}");
    // -0.0 in fixed.tsv.
    assert_eq!(lossy, 1);
}

#[test]
fn non_minimal_integers_reencode_minimally() {
    let value = yaml::from_str(&yaml::to_string(Argdata::new(b"\x05\x00\x01")).unwrap()).unwrap();
    assert_eq!(value, Value::Int(1));
    assert_eq!(value.encode().bytes, b"\x05\x01");
}

#[test]
fn integers_reach_the_64_bit_bounds_of_the_reference() {
    let v = yaml::from_str(
        "[-9223372036854775808, 18446744073709551615, !!int 0xffffffffffffffff, !!float -9223372036854775808, \
         !!float 100000000000000000000000]",
    )
    .unwrap();
    assert_eq!(
        v,
        Value::Seq(vec![
            Value::Int(i64::MIN.into()),
            Value::Int(u64::MAX.into()),
            Value::Int(u64::MAX.into()),
            Value::Float(i64::MIN as f64),
            Value::Float(1e23),
        ])
    );
}

#[test]
fn plain_scalars_follow_the_core_schema() {
    let v = yaml::from_str(
        "[null, ~, !!null '', Null, true, FALSE, 0, -12, +7, 0x1f, 0o17, 1.5, -.5e3, .inf, -.INF, \
         1e3, abc, '1', \"true\", 0x, 1_0, .nan]",
    )
    .unwrap();
    let Value::Seq(items) = v else { panic!() };
    let expected = [
        Value::Null,
        Value::Null,
        Value::Null,
        Value::Null,
        Value::Bool(true),
        Value::Bool(false),
        Value::Int(0),
        Value::Int(-12),
        Value::Int(7),
        Value::Int(31),
        Value::Int(15),
        Value::Float(1.5),
        Value::Float(-500.0),
        Value::Float(f64::INFINITY),
        Value::Float(f64::NEG_INFINITY),
        Value::Float(1000.0),
        Value::from("abc"),
        Value::from("1"),
        Value::from("true"),
        Value::from("0x"),
        Value::from("1_0"),
    ];
    assert_eq!(&items[..expected.len()], &expected);
    assert!(matches!(items[expected.len()], Value::Float(f) if f.is_nan()));
    assert_eq!(items.len(), expected.len() + 1);
}

#[test]
fn block_style_and_explicit_tags() {
    let v = yaml::from_str(
        "%TAG ! tag:nuxi.nl,2015:cloudabi/\n---\n\
         name: !!str 42\n\
         blob: !!binary |\n  aGVs\n  bG8=\n\
         when: !!timestamp 2001-12-14t21:59:43.10-05:00\n\
         fds: [!fd stdin, !fd stdout, !fd stderr, !fd 9]\n\
         text: |\n  two\n  lines\n\
         nested:\n  - a\n  - {b: !!float 1}\n\
         verbatim: !<tag:yaml.org,2002:int> '5'\n",
    )
    .unwrap();
    assert_eq!(v.get("name"), Some(&Value::from("42")));
    assert_eq!(v.get("blob"), Some(&Value::binary(*b"hello")));
    let when = Timestamp::from_parts(1_008_385_183, 100_000_000).unwrap();
    assert_eq!(v.get("when"), Some(&Value::Timestamp(when)));
    assert_eq!(
        v.get("fds"),
        Some(&Value::seq([Fd(0), Fd(1), Fd(2), Fd(9)]))
    );
    assert_eq!(v.get("text"), Some(&Value::from("two\nlines\n")));
    assert_eq!(
        v.get("nested"),
        Some(&Value::seq([
            Value::from("a"),
            Value::map([("b", Value::Float(1.0))])
        ]))
    );
    assert_eq!(v.get("verbatim"), Some(&Value::Int(5)));
}

/// A launcher-like resolver: `!file {path, mode}`, and stdout mapped to a fd of its own.
struct Launcher {
    opened: Vec<String>,
}

impl yaml::TagResolver for Launcher {
    fn resolve(&mut self, tag: &str, node: &Node) -> Option<Result<Value, ResolverError>> {
        if tag != "file" {
            return None;
        }
        Some((|| {
            let path = node
                .get("path")
                .and_then(Node::as_scalar)
                .ok_or("!file needs a path")?;
            let mode = node.get("mode").and_then(Node::as_scalar).unwrap_or("r");
            if mode != "r" && mode != "w" {
                return Err(format!("bad mode {mode:?}").into());
            }
            self.opened.push(path.to_owned());
            Ok(Value::Fd(Fd(100 + self.opened.len() as i32)))
        })())
    }

    fn resolve_fd(&mut self, fd: FdSpec, _node: &Node) -> Result<Value, ResolverError> {
        match fd {
            FdSpec::Stdout => Ok(Value::Fd(Fd(50))),
            FdSpec::Number(n) if n > 10 => Err(format!("fd {n} not granted").into()),
            other => Ok(Value::Fd(Fd(other.number()))),
        }
    }
}

#[test]
fn resolver_handles_local_tags_and_fds() {
    let mut launcher = Launcher { opened: Vec::new() };
    let v = Parser::new("log: !file {path: /var/log/x, mode: w}\nout: !fd stdout\nin: !fd 0\n")
        .parse_with(&mut launcher)
        .unwrap();
    assert_eq!(launcher.opened, ["/var/log/x"]);
    assert_eq!(
        v,
        Value::map([("log", Fd(101)), ("out", Fd(50)), ("in", Fd(0))])
    );

    let err = Parser::new("a:\n  b: !file {path: /x, mode: rw}\n")
        .with_file_name("app.yaml")
        .parse_with(&mut launcher)
        .unwrap_err();
    assert_eq!(err.to_string(), "app.yaml:2:6: bad mode \"rw\"");
    assert!(matches!(err.kind(), yaml::ErrorKind::Resolver(_)));
    assert!(std::error::Error::source(&err).is_some());

    let err = Parser::new("- !fd 11\n")
        .parse_with(&mut launcher)
        .unwrap_err();
    assert_eq!(err.to_string(), "1:3: fd 11 not granted");

    // The default resolver knows no local tags.
    let err = yaml::from_str("x: !file {path: /x}").unwrap_err();
    assert_eq!(err.to_string(), "1:4: unknown tag !file");
}

#[test]
fn node_tree_keeps_tags_and_positions() {
    let root = Parser::new("%TAG ! tag:nuxi.nl,2015:cloudabi/\n---\n- !socket {a: 1}\n- \"q\"\n")
        .parse_nodes()
        .unwrap();
    let NodeKind::Seq(items) = &root.kind else {
        panic!("{root:?}")
    };
    assert_eq!(items[0].tag.as_deref(), Some("!socket"));
    assert_eq!((items[0].line, items[0].column), (3, 3));
    assert_eq!(items[0].get("a").and_then(Node::as_scalar), Some("1"));
    assert!(items[0].get("a").unwrap().plain);
    assert!(!items[1].plain);
    assert_eq!((items[1].line, items[1].column), (4, 3));
}

fn error(text: &str) -> String {
    Parser::new(text)
        .with_file_name("f.yaml")
        .parse()
        .unwrap_err()
        .to_string()
}

#[test]
fn errors_name_file_line_and_column() {
    assert_eq!(
        error("a: [1, 2\nb: 3"),
        "f.yaml:2:2: illegal placement of ':' indicator"
    );
    assert_eq!(
        error("a: 1\nb: !!int 1.5\n"),
        "f.yaml:2:4: invalid !!int value \"1.5\""
    );
    assert_eq!(
        error("- !!bool yes"),
        "f.yaml:1:3: invalid !!bool value \"yes\""
    );
    assert_eq!(
        error("- !!null 0"),
        "f.yaml:1:3: invalid !!null value \"0\""
    );
    assert_eq!(
        error("- !!float abc"),
        "f.yaml:1:3: invalid !!float value \"abc\""
    );
    assert_eq!(
        error("- !!binary abc"),
        "f.yaml:1:3: invalid !!binary value \"abc\""
    );
    assert_eq!(
        error("- !!timestamp 2001-13-01"),
        "f.yaml:1:3: invalid !!timestamp value \"2001-13-01\""
    );
    assert_eq!(
        error("- !!timestamp 999999999999-01-01"),
        "f.yaml:1:3: !!timestamp value \"999999999999-01-01\" out of range"
    );
    assert_eq!(error("- !fd -1"), "f.yaml:1:3: invalid !fd value \"-1\"");
    assert_eq!(
        error("- !fd [1]"),
        "f.yaml:1:3: !fd cannot be applied to a sequence"
    );
    assert_eq!(
        error("- !!map [1]"),
        "f.yaml:1:3: !!map cannot be applied to a sequence"
    );
    assert_eq!(
        error("- !!int {}"),
        "f.yaml:1:3: !!int cannot be applied to a mapping"
    );
    assert_eq!(error("- !!set {}"), "f.yaml:1:3: unknown tag !!set");
    assert_eq!(
        error("- !<tag:example.com,2000:x> 1"),
        "f.yaml:1:3: unknown tag !<tag:example.com,2000:x>"
    );
    assert_eq!(
        error("- 170141183460469231731687303715884105728"),
        "f.yaml:1:3: !!int value \"170141183460469231731687303715884105728\" out of range"
    );
    // The reference reads an integer as intmax_t, else uintmax_t: one past either is refused,
    // tagged or not, where it stands.
    assert_eq!(
        error("- 18446744073709551616"),
        "f.yaml:1:3: !!int value \"18446744073709551616\" out of range"
    );
    assert_eq!(
        error("a: 1\nb: !!int -9223372036854775809\n"),
        "f.yaml:2:4: !!int value \"-9223372036854775809\" out of range"
    );
    assert_eq!(
        error("a: &x 1\nb: *x\n"),
        "f.yaml:2:4: aliases are not supported"
    );
    assert_eq!(
        error("1\n---\n2\n"),
        "f.yaml:2:1: more than one YAML document in input"
    );
    assert_eq!(error(""), "f.yaml:1:1: no YAML document in input");
    // Without a file name, just LINE:COLUMN.
    assert_eq!(
        yaml::from_str("[!!int x]").unwrap_err().to_string(),
        "1:2: invalid !!int value \"x\""
    );
}

#[test]
fn unique_keys_are_enforced_when_asked() {
    let unique = |text: &str| {
        Parser::new(text)
            .with_file_name("f.yaml")
            .with_unique_keys()
            .parse()
            .map_err(|e| e.to_string())
    };
    // Keys are unique within one mapping (at any depth), compared as written.
    assert_eq!(
        unique("a: 1\nb: 2\na: 3\n").unwrap_err(),
        "f.yaml:3:1: duplicate key \"a\" in a mapping"
    );
    assert_eq!(
        unique("outer:\n  x: 1\n  y: {x: 2, x: 3}\n").unwrap_err(),
        "f.yaml:3:13: duplicate key \"x\" in a mapping"
    );
    assert!(unique("a: 1\nb: {a: 2}\n'1': x\n1: y\n").is_ok());
    // By default a repeated key is kept, as an argdata map may hold one.
    let v = yaml::from_str("a: 1\na: 2\n").unwrap();
    assert!(
        matches!(&v, argdata::Value::Map(m) if m.len() == 2),
        "{v:?}"
    );
}

#[test]
fn limits_bound_depth_size_and_aliases() {
    let deep_ok = "[".repeat(MAX_DEPTH) + &"]".repeat(MAX_DEPTH);
    assert!(yaml::from_str(&deep_ok).is_ok());
    let too_deep = "[".repeat(MAX_DEPTH + 1) + &"]".repeat(MAX_DEPTH + 1);
    let err = yaml::from_str(&too_deep).unwrap_err();
    assert!(
        matches!(err.kind(), yaml::ErrorKind::TooDeep(MAX_DEPTH)),
        "{err}"
    );
    assert_eq!(err.column(), MAX_DEPTH + 1);
    // Block nesting is limited the same way.
    let mut block = String::new();
    for i in 0..=MAX_DEPTH {
        block.push_str(&" ".repeat(2 * i));
        block.push_str("- \n");
    }
    let err = yaml::from_str(&block).unwrap_err();
    assert!(matches!(err.kind(), yaml::ErrorKind::TooDeep(_)), "{err}");
    // The size limit.
    let err = Parser::new("[1, 2, 3]")
        .with_max_len(8)
        .parse()
        .unwrap_err();
    assert!(matches!(
        err.kind(),
        yaml::ErrorKind::TooLarge { len: 9, limit: 8 }
    ));
    assert!(Parser::new("[1, 2, 3]").with_max_len(9).parse().is_ok());
    // Billion laughs: the first alias stops the parse.
    let laughs = "a: &a [x, x]\nb: &b [*a, *a]\nc: [*b, *b]\n";
    let err = yaml::from_str(laughs).unwrap_err();
    assert!(matches!(err.kind(), yaml::ErrorKind::Alias));
}
