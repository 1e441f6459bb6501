//! Serde support: round trips, zero-copy borrowing, fds, error paths, hostile input.
#![cfg(feature = "serde")]

use std::collections::BTreeMap;

use argdata::serde::{Deserializer, ErrorKind};
use argdata::{Argdata, Fd, FdTable, Timestamp, Value};
use serde::{Deserialize, Serialize};

#[derive(Serialize, Deserialize, Debug, PartialEq, Clone)]
enum Transport {
    Stdio,
    Tcp { port: u16, socket: Fd },
    Unix(Fd),
    Pair(u8, i64),
}

#[derive(Serialize, Deserialize, Debug, PartialEq, Clone)]
struct Server {
    name: String,
    port: u16,
    transports: Vec<Transport>,
    log: Option<Fd>,
    backup: Option<Box<Server>>,
    weights: BTreeMap<String, f64>,
    started: Timestamp,
    enabled: bool,
    ratio: f32,
    big: i128,
    tuple: (u8, String, ()),
    ch: char,
}

fn sample() -> Server {
    let inner = Server {
        name: "inner".into(),
        port: 1,
        transports: vec![Transport::Stdio],
        log: Some(Fd(3)),
        backup: None,
        weights: BTreeMap::new(),
        started: Timestamp::from_nanos(-5).unwrap(),
        enabled: false,
        ratio: -0.5,
        big: i128::MIN,
        tuple: (0, String::new(), ()),
        ch: 'é',
    };
    Server {
        name: "outer \u{1f600}".into(),
        port: 65535,
        transports: vec![
            Transport::Tcp {
                port: 80,
                socket: Fd(9),
            },
            Transport::Unix(Fd(3)),
            Transport::Pair(7, -1),
            Transport::Stdio,
        ],
        log: None,
        backup: Some(Box::new(inner)),
        weights: [("a".to_string(), 1.5), ("b".to_string(), -0.0)].into(),
        started: Timestamp::MAX,
        enabled: true,
        ratio: 0.25,
        big: u64::MAX as i128 + 1,
        tuple: (255, "x".into(), ()),
        ch: 'z',
    }
}

#[test]
fn nested_round_trip_with_fds() {
    let s = sample();
    let e = argdata::to_vec_with_fds(&s).unwrap();
    // Descriptors are numbered by first appearance, depth first.
    assert_eq!(e.fds, [Fd(9), Fd(3)]);
    e.argdata().validate().unwrap();
    let back: Server = argdata::from_slice_with_fds(&e.bytes, &FdTable(&e.fds)).unwrap();
    assert_eq!(back, s);
    // Without a table, the wire indices come back as numbers.
    let raw: Server = argdata::from_slice(&e.bytes).unwrap();
    assert_eq!(
        raw.transports[0],
        Transport::Tcp {
            port: 80,
            socket: Fd(0)
        }
    );
    assert_eq!(raw.transports[1], Transport::Unix(Fd(1)));
    // Value round trip.
    let v = argdata::to_value(&s).unwrap();
    assert_eq!(v.encode(), e);
    let from_v: Server = argdata::from_value(&v).unwrap();
    assert_eq!(from_v, s);
}

#[test]
fn enum_encoding_is_externally_tagged() {
    assert_eq!(
        argdata::to_value(&Transport::Stdio).unwrap(),
        Value::from("Stdio")
    );
    assert_eq!(
        argdata::to_value(&Transport::Unix(Fd(4))).unwrap(),
        Value::map([("Unix", Value::Fd(Fd(4)))])
    );
    assert_eq!(
        argdata::to_value(&Transport::Pair(1, 2)).unwrap(),
        Value::map([("Pair", Value::seq([1, 2]))])
    );
    // A unit variant may also be written as a one-entry map to null.
    let e = Value::map([("Stdio", Value::Null)]).encode();
    assert_eq!(
        argdata::from_slice::<Transport>(&e.bytes).unwrap(),
        Transport::Stdio
    );
    // Two entries are not an enum.
    let e = Value::map([("Stdio", Value::Null), ("Unix", Value::Null)]).encode();
    let err = argdata::from_slice::<Transport>(&e.bytes).unwrap_err();
    assert!(matches!(err.kind(), ErrorKind::Unexpected { .. }), "{err}");
    let err = argdata::from_slice::<Transport>(&Value::from("Nope").encode().bytes).unwrap_err();
    assert!(err.to_string().contains("unknown variant `Nope`"), "{err}");
}

#[derive(Deserialize, Debug)]
struct Borrowing<'a> {
    text: &'a str,
    #[serde(borrow)]
    blob: &'a [u8],
    items: Vec<&'a str>,
}

#[test]
fn strings_and_bytes_borrow_from_the_input() {
    let e = Value::map([
        ("text", Value::from("hello")),
        ("blob", Value::binary([1u8, 2, 3])),
        ("items", Value::seq(["p", "q"])),
    ])
    .encode();
    let b: Borrowing<'_> = argdata::from_slice(&e.bytes).unwrap();
    assert_eq!(b.text, "hello");
    assert_eq!(b.blob, [1, 2, 3]);
    assert_eq!(b.items, ["p", "q"]);
    let range = e.bytes.as_ptr_range();
    for p in [b.text.as_ptr(), b.blob.as_ptr(), b.items[1].as_ptr()] {
        assert!(range.contains(&p), "not borrowed from the input");
    }
}

#[derive(Deserialize, Debug)]
#[allow(dead_code)]
struct Port {
    port: u16,
}

#[derive(Deserialize, Debug)]
#[allow(dead_code)]
struct Config {
    server: Port,
    listeners: Vec<Port>,
    mode: Option<Transport>,
}

fn config_error(v: Value) -> argdata::serde::Error {
    argdata::from_value::<Config>(&v).unwrap_err()
}

fn good_config() -> Vec<(Value, Value)> {
    vec![
        ("server".into(), Value::map([("port", 1)])),
        ("listeners".into(), Value::seq([Value::map([("port", 2)])])),
    ]
}

#[test]
fn errors_name_the_path() {
    let mut c = good_config();
    c[0].1 = Value::map([("port", 70000)]);
    let err = config_error(Value::Map(c));
    assert_eq!(err.path(), Some("server.port"));
    assert!(
        err.to_string()
            .starts_with("at `server.port`: integer 70000 out of range for u16 (byte offset "),
        "{err}"
    );
    assert!(err.offset().is_some());

    let mut c = good_config();
    c[1].1 = Value::seq([Value::map([("port", 2)]), Value::map([("port", "x")])]);
    let err = config_error(Value::Map(c));
    assert_eq!(err.path(), Some("listeners[1].port"));
    assert_eq!(
        err.kind(),
        &ErrorKind::Decode(argdata::ErrorKind::WrongType {
            expected: argdata::Type::Int,
            found: argdata::Type::Str
        })
    );

    let mut c = good_config();
    c[1].1 = Value::seq([Value::map([("prt", 2)])]);
    let err = config_error(Value::Map(c));
    assert_eq!(err.path(), Some("listeners[0]"));
    assert!(err.to_string().contains("missing field `port`"), "{err}");

    let mut c = good_config();
    c.push((
        "mode".into(),
        Value::map([("Tcp", Value::map([("port", 1), ("socket", -1)]))]),
    ));
    let err = config_error(Value::Map(c));
    assert_eq!(err.path(), Some("mode.Tcp.socket"), "{err}");

    let err = config_error(Value::map([("server", 5)]));
    assert_eq!(err.path(), Some("server"));

    let err = config_error(Value::seq([1]));
    assert_eq!(err.path(), Some(""));
    assert!(!err.to_string().starts_with("at "), "{err}");
}

#[test]
fn integer_ranges() {
    for (v, ok) in [(255i128, true), (256, false), (-1, false), (0, true)] {
        let e = Value::Int(v).encode();
        assert_eq!(argdata::from_slice::<u8>(&e.bytes).is_ok(), ok, "{v}");
    }
    let e = Value::Int(i128::from(i64::MIN)).encode();
    assert_eq!(argdata::from_slice::<i64>(&e.bytes).unwrap(), i64::MIN);
    let err = argdata::from_slice::<i32>(&e.bytes).unwrap_err();
    assert_eq!(
        err.to_string(),
        "integer -9223372036854775808 out of range for i32 (byte offset 0)"
    );
    // u128 beyond i128 decodes, but cannot be re-encoded through `Value`.
    let mut bytes = vec![5u8, 0];
    bytes.extend([0xff; 16]);
    assert_eq!(argdata::from_slice::<u128>(&bytes).unwrap(), u128::MAX);
    let err = argdata::to_vec(&u128::MAX).unwrap_err();
    assert!(matches!(err.kind(), ErrorKind::IntOutOfRange { .. }));
    // Floats accept integers.
    let e = Value::Int(3).encode();
    assert_eq!(argdata::from_slice::<f64>(&e.bytes).unwrap(), 3.0);
}

#[test]
fn fd_converter_rejection_is_bad_fd() {
    let e = argdata::to_vec_with_fds(&vec![Fd(4), Fd(5)]).unwrap();
    let only_one = [Fd(40)];
    let err =
        argdata::from_slice_with_fds::<Vec<Fd>, _>(&e.bytes, &FdTable(&only_one)).unwrap_err();
    assert_eq!(err.kind(), &ErrorKind::Decode(argdata::ErrorKind::BadFd));
    assert_eq!(err.path(), Some("[1]"));
    let conv = |i: u32| Some(Fd(100 + i as i32));
    let fds: Vec<Fd> = Deserialize::deserialize(Deserializer::with_fd_converter(
        Argdata::new(&e.bytes),
        &conv,
    ))
    .unwrap();
    assert_eq!(fds, [Fd(100), Fd(101)]);
}

#[derive(Serialize, Deserialize, Debug, PartialEq)]
struct Flat {
    a: u8,
    #[serde(flatten)]
    rest: Inner,
}

#[derive(Serialize, Deserialize, Debug, PartialEq)]
struct Inner {
    fd: Fd,
    when: Timestamp,
}

#[test]
fn fds_and_timestamps_survive_flatten() {
    let f = Flat {
        a: 1,
        rest: Inner {
            fd: Fd(6),
            when: Timestamp::from_parts(10, 5).unwrap(),
        },
    };
    let e = argdata::to_vec_with_fds(&f).unwrap();
    assert_eq!(e.fds, [Fd(6)]);
    let back: Flat = argdata::from_slice_with_fds(&e.bytes, &FdTable(&e.fds)).unwrap();
    assert_eq!(back, f);
}

#[test]
fn depth_is_limited() {
    // Decoding: a chain of sequences deeper than MAX_DEPTH.
    let mut v = Value::Null;
    for _ in 0..argdata::MAX_DEPTH + 1 {
        v = Value::seq([v]);
    }
    let e = v.encode();
    let err = argdata::from_slice::<serde::de::IgnoredAny>(&e.bytes);
    // IgnoredAny does not descend; a recursive type does.
    assert!(err.is_ok());
    #[derive(Deserialize, Debug)]
    #[allow(dead_code)]
    struct Nest(Vec<Nest>);
    let err = argdata::from_slice::<Nest>(&e.bytes).unwrap_err();
    assert_eq!(
        err.kind(),
        &ErrorKind::Decode(argdata::ErrorKind::TooDeep(argdata::MAX_DEPTH))
    );
    // Encoding refuses what could not be read back.
    #[derive(Serialize)]
    struct Chain(Option<Box<Chain>>, Vec<u8>);
    let mut c = Chain(None, vec![]);
    for _ in 0..argdata::MAX_DEPTH {
        c = Chain(Some(Box::new(c)), vec![]);
    }
    let err = argdata::to_vec(&c).unwrap_err();
    assert!(
        matches!(
            err.kind(),
            ErrorKind::Decode(argdata::ErrorKind::TooDeep(_))
        ),
        "{err}"
    );
}

/// A small xorshift generator, so the hostile-input test needs no extra crates.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

#[test]
fn hostile_input_never_panics() {
    let seed = argdata::to_vec_with_fds(&sample()).unwrap().bytes;
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let mut ok = 0;
    for round in 0..20_000 {
        let mut bytes = seed.clone();
        // Flip, drop or insert a few bytes, or use pure noise.
        if round % 10 == 0 {
            let n = (rng.next() % 64) as usize;
            bytes = (0..n).map(|_| rng.next() as u8).collect();
        } else {
            for _ in 0..1 + rng.next() % 4 {
                let i = (rng.next() as usize) % bytes.len().max(1);
                match rng.next() % 3 {
                    0 if !bytes.is_empty() => bytes[i] = rng.next() as u8,
                    1 if !bytes.is_empty() => {
                        bytes.remove(i);
                    }
                    _ => bytes.insert(i.min(bytes.len()), rng.next() as u8),
                }
            }
        }
        if argdata::from_slice::<Server>(&bytes).is_ok() {
            ok += 1;
        }
        let _ = argdata::from_slice::<Borrowing<'_>>(&bytes);
        let _ = argdata::from_slice::<Transport>(&bytes);
    }
    // Some single-byte changes keep the message valid (for example inside strings).
    assert!(ok > 0);
}

/// A `deserialize_with` check that fails after the value was decoded.
fn even<'de, D: serde::Deserializer<'de>>(d: D) -> Result<u32, D::Error> {
    let n = u32::deserialize(d)?;
    if n % 2 == 0 {
        Ok(n)
    } else {
        Err(serde::de::Error::custom(format!("{n} is odd")))
    }
}

#[test]
fn errors_of_deserialize_with_name_their_field() {
    #[derive(Debug, Deserialize)]
    #[allow(dead_code)]
    struct Inner {
        #[serde(deserialize_with = "even")]
        n: u32,
    }
    #[derive(Debug, Deserialize)]
    #[allow(dead_code)]
    struct Outer {
        inner: Inner,
        list: Vec<Wrapped>,
    }
    #[derive(Debug, Deserialize)]
    #[allow(dead_code)]
    struct Wrapped(#[serde(deserialize_with = "even")] u32);

    let decode = |v: Value| {
        let bytes = v.encode().bytes;
        argdata::from_slice::<Outer>(&bytes).unwrap_err()
    };
    let err = decode(Value::map([
        ("inner", Value::map([("n", 3)])),
        ("list", Value::seq(Vec::<Value>::new())),
    ]));
    assert_eq!(err.path(), Some("inner.n"), "{err}");
    assert_eq!(err.kind(), &ErrorKind::Custom("3 is odd".to_owned()));
    let err = decode(Value::map([
        ("inner", Value::map([("n", 2)])),
        ("list", Value::seq([Value::from(4), Value::from(5)])),
    ]));
    assert_eq!(err.path(), Some("list[1]"), "{err}");
}

#[test]
fn to_vec_is_bytes_and_refuses_descriptors() {
    // `{a: 1}`: map, one pair of subfields (key "a", int 1).
    assert_eq!(
        argdata::to_vec(&BTreeMap::from([("a", 1u8)])).unwrap(),
        b"\x06\x83\x08a\x00\x82\x05\x01"
    );
    let err = argdata::to_vec(&vec![Fd(4), Fd(4), Fd(5)]).unwrap_err();
    assert_eq!(err.kind(), &ErrorKind::HasFds(2));
    assert!(err.to_string().contains("use to_vec_with_fds"), "{err}");
    let e = argdata::to_vec_with_fds(&vec![Fd(4), Fd(4), Fd(5)]).unwrap();
    assert_eq!(e.fds, [Fd(4), Fd(5)]);
}
