//! The encoder and owned values: canonical output, round trips, fd renumbering.
#![cfg(feature = "std")]

use argdata::{
    Argdata, ErrorKind, Fd, FdTable, IdentityFds, MAX_DEPTH, Timestamp, Type, Value, yaml,
};

fn bytes(v: &Value) -> Vec<u8> {
    let e = v.encode();
    assert_eq!(e.bytes.len(), v.serialized_len());
    e.bytes
}

#[test]
fn leaves_use_the_canonical_form() {
    let cases: Vec<(Value, &[u8])> = vec![
        (Value::Null, b""),
        (Value::binary(*b"ab"), b"\x01ab"),
        (Value::from(false), b"\x02"),
        (Value::from(true), b"\x02\x01"),
        (Value::from(Fd(42)), b"\x03\0\0\0\0"),
        (Value::from(1.0), b"\x04\x3f\xf0\0\0\0\0\0\0"),
        (Value::from(-0.0), b"\x04\x80\0\0\0\0\0\0\0"),
        (Value::from(0), b"\x05"),
        (Value::from(1), b"\x05\x01"),
        (Value::from(-1), b"\x05\xff"),
        (Value::from(127), b"\x05\x7f"),
        (Value::from(128), b"\x05\x00\x80"),
        (Value::from(-128), b"\x05\x80"),
        (Value::from(-129), b"\x05\xff\x7f"),
        (Value::from(255u8), b"\x05\x00\xff"),
        (Value::from(i64::MIN), b"\x05\x80\0\0\0\0\0\0\0"),
        (
            Value::from(u64::MAX),
            b"\x05\x00\xff\xff\xff\xff\xff\xff\xff\xff",
        ),
        (Value::from("hi"), b"\x08hi\0"),
        (Value::from("a\0b"), b"\x08a\0b\0"),
        (Value::from(Timestamp::EPOCH), b"\x09"),
        (Value::from(Timestamp::from_nanos(-1).unwrap()), b"\x09\xff"),
        (Value::seq(Vec::<Value>::new()), b"\x07"),
        (Value::map(Vec::<(Value, Value)>::new()), b"\x06"),
        (Value::seq([Value::Null]), b"\x07\x80"),
        (Value::map([("k", 5)]), b"\x06\x83\x08k\0\x82\x05\x05"),
    ];
    for (value, want) in cases {
        assert_eq!(bytes(&value), want, "{value:?}");
        assert_eq!(value.ty(), Argdata::new(want).ty().unwrap());
    }
}

#[test]
fn ints_round_trip_at_every_edge() {
    let mut edges: Vec<i128> = vec![0, 1, -1, i128::MIN, i128::MAX];
    for bits in [8u32, 16, 32, 64, 120] {
        let max = (1i128 << (bits - 1)) - 1;
        edges.extend([max, max + 1, -max - 1, -max - 2, (1i128 << bits) - 1]);
    }
    for v in edges {
        let b = bytes(&Value::Int(v));
        // Shortest: stripping another byte would change the value.
        if b.len() > 2 {
            let (first, second) = (b[1], b[2]);
            assert!(
                !((first == 0 && second < 0x80) || (first == 0xff && second >= 0x80)),
                "{v} not minimal: {b:02x?}"
            );
        }
        assert_eq!(Argdata::new(&b).as_int::<i128>(), Ok(v));
        assert_eq!(Value::from_argdata(Argdata::new(&b)), Ok(Value::Int(v)));
    }
    assert_eq!(
        Argdata::new(&bytes(&Value::from(u64::MAX))).as_int::<u64>(),
        Ok(u64::MAX)
    );
    assert_eq!(
        Argdata::new(&bytes(&Value::from(i64::MIN))).as_int::<i64>(),
        Ok(i64::MIN)
    );
    // Above i128::MAX the reader works but an owned Value cannot hold it.
    let mut big = vec![5, 0];
    big.extend_from_slice(&u128::MAX.to_be_bytes());
    let err = Value::from_argdata(Argdata::new(&big)).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::OutOfRange);
}

#[test]
fn subfield_length_prefixes() {
    for (len, prefix) in [
        (126usize, &[0xff][..]),
        (127, &[0x01, 0x80][..]),
        (16382, &[0x7f, 0xff][..]),
        (16383, &[0x01, 0x00, 0x80][..]),
    ] {
        // A binary of `len` bytes is a subfield of `len + 1` bytes.
        let v = Value::seq([Value::binary(vec![0x5a; len])]);
        let b = bytes(&v);
        assert_eq!(&b[1..1 + prefix.len()], prefix, "len {len}");
        assert_eq!(b.len(), 1 + prefix.len() + 1 + len);
        assert_eq!(Value::from_argdata(Argdata::new(&b)), Ok(v));
    }
}

#[test]
fn fds_are_deduplicated_in_order_of_first_appearance() {
    // Keys come before their values, depth first.
    let v = Value::map([
        (Value::from(Fd(30)), Value::seq([Fd(20), Fd(30), Fd(10)])),
        (Value::from("x"), Value::from(Fd(20))),
        (Value::from(Fd(40)), Value::Null),
    ]);
    let e = v.encode();
    assert_eq!(e.fds, [Fd(30), Fd(20), Fd(10), Fd(40)]);
    let indices: Vec<u32> = leaves(e.argdata())
        .into_iter()
        .filter(|l| l.ty() == Ok(Type::Fd))
        .map(|l| l.as_fd_index().unwrap())
        .collect();
    assert_eq!(indices, [0, 1, 0, 2, 1, 3]);
    assert_eq!(
        Value::from_argdata_with(e.argdata(), &FdTable(&e.fds)),
        Ok(v.clone())
    );
    let text = yaml::to_string(e.argdata()).unwrap();
    assert!(text.contains("? !fd \"0\"\n  : !!seq [\n    !fd \"1\",\n    !fd \"0\",\n"));

    // A shared fd list continues numbering and reuses existing entries.
    let mut out = Vec::new();
    let mut fds = vec![Fd(10)];
    Value::seq([Fd(50), Fd(10)]).encode_into(&mut out, &mut fds);
    assert_eq!(fds, [Fd(10), Fd(50)]);
    assert_eq!(out, b"\x07\x85\x03\0\0\0\x01\x85\x03\0\0\0\0");
}

#[test]
fn many_fds_use_the_sorted_index() {
    // Enough descriptors to switch from linear search to the sorted index, with repeats
    // and an order that is not sorted.
    let numbers: Vec<i32> = (0..200).map(|i| (i * 37) % 101).collect();
    let v = Value::seq(numbers.iter().map(|&n| Fd(n)));
    let e = v.encode();
    let mut expected: Vec<Fd> = Vec::new();
    for &n in &numbers {
        if !expected.contains(&Fd(n)) {
            expected.push(Fd(n));
        }
    }
    assert_eq!(e.fds, expected);
    assert_eq!(
        Value::from_argdata_with(e.argdata(), &FdTable(&e.fds)),
        Ok(v.clone())
    );
    // Starting from a long pre-filled list with a duplicate: the first entry wins.
    let mut fds: Vec<Fd> = (0..40).map(|n| Fd(1000 + n)).collect();
    fds.push(Fd(1003));
    let mut out = Vec::new();
    Value::seq([Fd(1003), Fd(7)]).encode_into(&mut out, &mut fds);
    assert_eq!(fds.len(), 42);
    assert_eq!(fds[41], Fd(7));
    assert_eq!(out, b"\x07\x85\x03\0\0\0\x03\x85\x03\0\0\0\x29");
}

#[test]
fn raw_fd_encoding() {
    let v = Value::seq([Fd(7), Fd(3), Fd(7)]);
    let mut out = vec![0xee];
    v.encode_raw_fds_into(&mut out).unwrap();
    assert_eq!(
        out,
        b"\xee\x07\x85\x03\0\0\0\x07\x85\x03\0\0\0\x03\x85\x03\0\0\0\x07"
    );
    let bad = Value::map([("fd", Fd(-1))]);
    let mut out = vec![1, 2];
    let err = bad.encode_raw_fds_into(&mut out).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::BadFd);
    assert_eq!(out, [1, 2]);
}

#[test]
fn encoding_into_a_slice() {
    let v = Value::map([("name", Value::from("demo")), ("fd", Value::from(Fd(9)))]);
    let n = v.serialized_len();
    let mut fds = Vec::new();
    let mut buf = vec![0xcc; n + 3];
    assert_eq!(v.encode_to_slice(&mut buf, &mut fds), Ok(n));
    assert_eq!(&buf[..n], v.encode().bytes);
    assert_eq!(&buf[n..], [0xcc; 3]);
    assert_eq!(fds, [Fd(9)]);

    let mut small = vec![0xcc; n - 1];
    let mut fds = Vec::new();
    let err = v.encode_to_slice(&mut small, &mut fds).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::BufferTooSmall { needed: n });
    assert_eq!(err.offset(), None);
    assert!(small.iter().all(|&b| b == 0xcc) && fds.is_empty());
    assert_eq!(Value::Null.encode_to_slice(&mut [], &mut fds), Ok(0));
}

#[test]
fn builders_and_accessors() {
    assert_eq!(Value::from(()), Value::Null);
    assert_eq!(Value::from(None::<i32>), Value::Null);
    assert_eq!(Value::from(Some(3u16)), Value::Int(3));
    assert_eq!(Value::from(1.5f32), Value::Float(1.5));
    assert_eq!(Value::from(String::from("s")), Value::Str("s".into()));
    assert_eq!(Value::from(&b"\x01"[..]), Value::Binary(vec![1]));
    assert_eq!(Value::from(vec![1u8]), Value::Binary(vec![1]));
    assert_eq!(
        Value::from(vec![Value::Null]),
        Value::Seq(vec![Value::Null])
    );
    assert_eq!(
        Value::from(vec![(Value::Null, Value::Null)]),
        Value::Map(vec![(Value::Null, Value::Null)])
    );
    assert_eq!([1, 2].into_iter().collect::<Value>(), Value::seq([1, 2]));
    let m = Value::map([("a", 1), ("b", 2), ("a", 3)]);
    assert_eq!(m.get("a"), Some(&Value::Int(1)));
    assert_eq!(m.get("z"), None);
    assert_eq!(Value::Int(1).get("a"), None);
    assert_eq!(Value::default(), Value::Null);
    assert_eq!(m.ty(), Type::Map);
    let ad = Argdata::new(b"\x05\x07");
    assert_eq!(Value::try_from(ad), Ok(Value::Int(7)));
}

#[test]
fn from_argdata_is_depth_limited() {
    let mut v = Value::Null;
    for _ in 0..MAX_DEPTH {
        v = Value::seq([v]);
    }
    let ok = v.encode();
    assert_eq!(Value::from_argdata(ok.argdata()), Ok(v.clone()));
    let too_deep = Value::seq([v]).encode();
    assert_eq!(
        Value::from_argdata(too_deep.argdata()).unwrap_err().kind(),
        ErrorKind::TooDeep(MAX_DEPTH)
    );
}

/// Every node of a tree, depth first, keys before values.
fn leaves(ad: Argdata<'_>) -> Vec<Argdata<'_>> {
    let mut out = vec![ad];
    if let Ok(entries) = ad.map() {
        for entry in entries {
            let (k, v) = entry.unwrap();
            out.extend(leaves(k));
            out.extend(leaves(v));
        }
    } else if let Ok(items) = ad.seq() {
        for item in items {
            out.extend(leaves(item.unwrap()));
        }
    }
    out
}

/// A small deterministic generator (xorshift), so the test needs no extra crates.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

fn random_value(rng: &mut Rng, depth: u32) -> Value {
    let kinds = if depth == 0 { 8 } else { 10 };
    match rng.below(kinds) {
        0 => Value::Null,
        1 => Value::Binary((0..rng.below(300)).map(|_| rng.next() as u8).collect()),
        2 => Value::Bool(rng.below(2) == 1),
        3 => Value::Fd(Fd(rng.below(8) as i32)),
        4 => Value::Float(f64::from_bits(rng.next())),
        5 => {
            let shift = rng.below(128) as u32;
            Value::Int((i128::from(rng.next() as i64) << 64 | i128::from(rng.next())) >> shift)
        }
        6 => Value::Str(
            (0..rng.below(200))
                .map(|_| char::from_u32(rng.below(0x800) as u32).unwrap_or('?'))
                .collect(),
        ),
        7 => Value::Timestamp(
            Timestamp::from_parts(rng.next() as i64, rng.below(1_000_000_000) as u32).unwrap(),
        ),
        8 => Value::Seq(
            (0..rng.below(6))
                .map(|_| random_value(rng, depth - 1))
                .collect(),
        ),
        _ => Value::Map(
            (0..rng.below(6))
                .map(|_| (random_value(rng, depth - 1), random_value(rng, depth - 1)))
                .collect(),
        ),
    }
}

#[test]
fn random_trees_round_trip() {
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    for _ in 0..500 {
        let v = random_value(&mut rng, 5);
        let e = v.encode();
        assert_eq!(e.bytes.len(), v.serialized_len());
        let ad = e.argdata();
        ad.validate().unwrap();
        let back = Value::from_argdata_with(ad, &FdTable(&e.fds)).unwrap();
        // Compare encodings: floats may be NaN.
        assert_eq!(back.encode(), e);
        // The strict printer shows what the lenient one does, except that it refuses
        // what the reference cannot represent (ints wider than 64 bits, far years).
        let text = yaml::to_string_lenient(ad, &IdentityFds);
        assert!(text.starts_with(yaml::HEADER) && text.ends_with('\n'));
        match yaml::to_string(ad) {
            Ok(strict) => assert_eq!(strict, text),
            Err(e) => assert!(
                matches!(e.kind(), ErrorKind::IntTooWide | ErrorKind::OutOfRange),
                "{e}: {text}"
            ),
        }
        // Every fd index is in range and every fd was used.
        let used: Vec<u32> = leaves(ad)
            .into_iter()
            .filter_map(|l| l.as_fd_index().ok())
            .collect();
        assert!(used.iter().all(|&i| (i as usize) < e.fds.len()));
        assert_eq!(
            used.iter().max().map_or(0, |&m| m as usize + 1),
            e.fds.len()
        );
    }
}

/// A deliberately simple encoder (children first, then prefix them) as an oracle.
fn naive(v: &Value, fds: &mut Vec<Fd>) -> Vec<u8> {
    fn field(out: &mut Vec<u8>, body: Vec<u8>) {
        let mut groups = vec![(body.len() & 0x7f) as u8 | 0x80];
        let mut n = body.len() >> 7;
        while n > 0 {
            groups.push((n & 0x7f) as u8);
            n >>= 7;
        }
        out.extend(groups.iter().rev());
        out.extend(body);
    }
    fn int(tag: u8, v: i128) -> Vec<u8> {
        let mut b = v.to_be_bytes().to_vec();
        while b.len() > 1 && ((b[0] == 0 && b[1] < 0x80) || (b[0] == 0xff && b[1] >= 0x80)) {
            b.remove(0);
        }
        if v == 0 {
            b.clear();
        }
        b.insert(0, tag);
        b
    }
    match v {
        Value::Null => vec![],
        Value::Binary(b) => [&[1][..], b].concat(),
        Value::Bool(b) => {
            if *b {
                vec![2, 1]
            } else {
                vec![2]
            }
        }
        Value::Fd(fd) => {
            let i = fds.iter().position(|f| f == fd).unwrap_or_else(|| {
                fds.push(*fd);
                fds.len() - 1
            });
            [&[3][..], &(i as u32).to_be_bytes()].concat()
        }
        Value::Float(f) => [&[4][..], &f.to_be_bytes()].concat(),
        Value::Int(i) => int(5, *i),
        Value::Str(s) => [&[8][..], s.as_bytes(), &[0]].concat(),
        Value::Timestamp(t) => int(9, t.as_nanos()),
        Value::Map(entries) => {
            let mut out = vec![6];
            for (k, v) in entries {
                let k = naive(k, fds);
                field(&mut out, k);
                let v = naive(v, fds);
                field(&mut out, v);
            }
            out
        }
        Value::Seq(items) => {
            let mut out = vec![7];
            for item in items {
                let b = naive(item, fds);
                field(&mut out, b);
            }
            out
        }
    }
}

/// A chain of `depth` single-child containers, each with a large sibling so that every
/// level needs a multi-byte length.
fn deep_and_wide(rng: &mut Rng, depth: u32) -> Value {
    let mut v = random_value(rng, 2);
    for level in 0..depth {
        let filler = Value::binary(vec![level as u8; 100 + (rng.below(400) as usize)]);
        v = if level % 2 == 0 {
            Value::seq([filler, v, Value::Fd(Fd(level as i32 % 5))])
        } else {
            Value::map([(Value::Fd(Fd(9)), v), (Value::from("pad"), filler)])
        };
    }
    v
}

#[test]
fn encoder_matches_a_naive_oracle() {
    let mut rng = Rng(0x1234_5678_9abc_def1);
    let mut trees: Vec<Value> = (0..300).map(|_| random_value(&mut rng, 6)).collect();
    for depth in [1, 7, 8, 9, 15, 40] {
        trees.push(deep_and_wide(&mut rng, depth));
    }
    for v in &trees {
        let mut want_fds = Vec::new();
        let want = naive(v, &mut want_fds);
        let got = v.encode();
        assert_eq!(got.bytes, want);
        assert_eq!(got.fds, want_fds);
        assert_eq!(v.serialized_len(), want.len());
        let mut buf = vec![0u8; want.len()];
        let mut fds = Vec::new();
        assert_eq!(v.encode_to_slice(&mut buf, &mut fds), Ok(want.len()));
        assert_eq!((buf, fds), (want, want_fds));
    }
}

/// `levels` sequences nested inside each other around `leaf`.
fn nested(levels: usize, leaf: Value) -> Value {
    (0..levels).fold(leaf, |inner, _| Value::seq([inner]))
}

#[test]
fn map_fds_visits_leaves_in_encoder_order() {
    let mut v = Value::map([
        (Value::from(Fd(5)), Value::seq([Fd(2), Fd(5)])),
        (Value::from("x"), Value::from(Fd(8))),
    ]);
    let expected = v.encode().fds;
    let mut seen = Vec::new();
    v.map_fds(|fd| {
        seen.push(fd);
        Ok::<_, ()>(Fd(fd.0 * 10))
    })
    .unwrap();
    assert_eq!(seen, [Fd(5), Fd(2), Fd(5), Fd(8)]);
    let mut first = Vec::new();
    for fd in seen {
        if !first.contains(&fd) {
            first.push(fd);
        }
    }
    assert_eq!(first, expected);
    assert_eq!(v.get("x"), Some(&Value::from(Fd(80))));
}

#[test]
fn map_fds_depth_limit_is_the_readers() {
    // Leaves do not count as a level: MAX_DEPTH containers around an fd are fine, as
    // `Argdata::validate` accepts them.
    let mut ok = nested(argdata::MAX_DEPTH, Value::from(Fd(1)));
    ok.encode().argdata().validate().unwrap();
    ok.map_fds(|_| Ok::<_, ()>(Fd(0))).unwrap();
    assert!(ok.encode().argdata().validate().is_ok());
    let mut deep = nested(argdata::MAX_DEPTH + 1, Value::Null);
    assert_eq!(
        deep.map_fds(Ok::<_, ()>),
        Err(argdata::MapFdsError::TooDeep)
    );
}

#[test]
fn map_fds_stops_at_the_first_refusal() {
    let mut v = Value::seq([Fd(1), Fd(-1), Fd(2)]);
    let mut calls = 0;
    let r = v.map_fds(|fd| {
        calls += 1;
        if fd.0 < 0 {
            Err(fd.0)
        } else {
            Ok(Fd(fd.0 + 1))
        }
    });
    assert_eq!(r, Err(argdata::MapFdsError::Fd(-1)));
    assert_eq!(calls, 2);
}
