//! The zero-copy reader: every getter, every error kind, subfield edge cases.

use argdata::{
    Argdata, Errno, Error, ErrorKind, Fd, FdTable, IdentityFds, MAX_DEPTH, Timestamp, Type,
};

fn ad(bytes: &[u8]) -> Argdata<'_> {
    Argdata::new(bytes)
}

fn kind<T: std::fmt::Debug>(r: Result<T, Error>) -> ErrorKind {
    r.unwrap_err().kind()
}

fn wrong(expected: Type, found: Type) -> ErrorKind {
    ErrorKind::WrongType { expected, found }
}

#[test]
fn types_come_from_the_tag_byte() {
    let cases: [(&[u8], Type); 10] = [
        (b"", Type::Null),
        (b"\x01", Type::Binary),
        (b"\x02", Type::Bool),
        (b"\x03\0\0\0\0", Type::Fd),
        (b"\x04\0\0\0\0\0\0\0\0", Type::Float),
        (b"\x05", Type::Int),
        (b"\x06", Type::Map),
        (b"\x07", Type::Seq),
        (b"\x08\0", Type::Str),
        (b"\x09", Type::Timestamp),
    ];
    for (bytes, ty) in cases {
        assert_eq!(ad(bytes).ty(), Ok(ty));
        assert_eq!(
            Type::from_tag(bytes.first().copied().unwrap_or(0)),
            ty.tag().map(|_| ty)
        );
        assert_eq!(ty.to_string(), ty.name());
        assert_eq!(ad(bytes).validate(), Ok(()));
    }
    assert!(ad(b"").is_null());
    assert!(Argdata::NULL.is_null());
    assert_eq!(Argdata::default(), Argdata::NULL);
    for tag in [0u8, 10, 0x80, 0xff] {
        let err = ad(&[tag, 1, 2]).ty().unwrap_err();
        assert_eq!(err.kind(), ErrorKind::UnknownTag(tag));
        assert_eq!(err.offset(), Some(0));
        assert_eq!(err.errno(), Errno::Inval);
        // Every getter reports the unknown tag rather than a wrong type.
        assert_eq!(kind(ad(&[tag]).as_str()), ErrorKind::UnknownTag(tag));
        assert_eq!(kind(ad(&[tag]).as_int::<i32>()), ErrorKind::UnknownTag(tag));
        assert_eq!(kind(ad(&[tag]).map()), ErrorKind::UnknownTag(tag));
    }
}

#[test]
fn binary() {
    assert_eq!(ad(b"\x01").as_binary(), Ok(&b""[..]));
    assert_eq!(ad(b"\x01\x00\xff").as_binary(), Ok(&b"\x00\xff"[..]));
    assert_eq!(kind(ad(b"").as_binary()), wrong(Type::Binary, Type::Null));
    assert_eq!(
        kind(ad(b"\x08a\0").as_binary()),
        wrong(Type::Binary, Type::Str)
    );
}

#[test]
fn bool() {
    assert_eq!(ad(b"\x02").as_bool(), Ok(false));
    assert_eq!(ad(b"\x02\x01").as_bool(), Ok(true));
    for bad in [&b"\x02\x00"[..], b"\x02\x02", b"\x02\x01\x00", b"\x02\xff"] {
        let err = ad(bad).as_bool().unwrap_err();
        assert_eq!(err.kind(), ErrorKind::BadEncoding(Type::Bool));
        assert_eq!(err.offset(), Some(0));
        assert_eq!(err.errno(), Errno::Inval);
        assert!(ad(bad).validate().is_err());
    }
    assert_eq!(
        kind(ad(b"\x05\x01").as_bool()),
        wrong(Type::Bool, Type::Int)
    );
}

#[test]
fn fd() {
    assert_eq!(ad(b"\x03\0\0\0\0").as_fd_index(), Ok(0));
    assert_eq!(ad(b"\x03\x01\x02\x03\x04").as_fd_index(), Ok(0x0102_0304));
    assert_eq!(ad(b"\x03\xff\xff\xff\xff").as_fd_index(), Ok(u32::MAX));
    for bad in [&b"\x03"[..], b"\x03\0\0\0", b"\x03\0\0\0\0\0"] {
        assert_eq!(
            kind(ad(bad).as_fd_index()),
            ErrorKind::BadEncoding(Type::Fd)
        );
        assert_eq!(
            kind(ad(bad).as_fd(&IdentityFds)),
            ErrorKind::BadEncoding(Type::Fd)
        );
    }
    let table = [Fd(10), Fd(11)];
    assert_eq!(ad(b"\x03\0\0\0\x01").as_fd(&FdTable(&table)), Ok(Fd(11)));
    let err = ad(b"\x03\0\0\0\x02").as_fd(&FdTable(&table)).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::BadFd);
    assert_eq!(err.errno(), Errno::BadF);
    assert_eq!(err.errno().linux(), 9);
    assert_eq!(ad(b"\x03\0\0\0\x07").as_fd(&IdentityFds), Ok(Fd(7)));
    assert_eq!(
        kind(ad(b"\x03\x80\0\0\0").as_fd(&IdentityFds)),
        ErrorKind::BadFd
    );
    // Closures are converters.
    let conv = |i: u32| (i < 3).then_some(i * 100);
    assert_eq!(ad(b"\x03\0\0\0\x02").as_fd(&conv), Ok(200));
    assert_eq!(kind(ad(b"\x03\0\0\0\x03").as_fd(&conv)), ErrorKind::BadFd);
    assert_eq!(kind(ad(b"\x02").as_fd_index()), wrong(Type::Fd, Type::Bool));
    assert_eq!(Fd(4).raw(), 4);
    assert_eq!(Fd(4).to_string(), "4");
}

#[test]
fn float() {
    assert_eq!(ad(b"\x04\x3f\xf0\0\0\0\0\0\0").as_float(), Ok(1.0));
    let neg_zero = ad(b"\x04\x80\0\0\0\0\0\0\0").as_float().unwrap();
    assert!(neg_zero == 0.0 && neg_zero.is_sign_negative());
    assert!(ad(b"\x04\x7f\xf8\0\0\0\0\0\0").as_float().unwrap().is_nan());
    for bad in [
        &b"\x04"[..],
        b"\x04\0",
        b"\x04\0\0\0\0\0\0\0",
        b"\x04\0\0\0\0\0\0\0\0\0",
    ] {
        assert_eq!(
            kind(ad(bad).as_float()),
            ErrorKind::BadEncoding(Type::Float)
        );
    }
    assert_eq!(kind(ad(b"\x05").as_float()), wrong(Type::Float, Type::Int));
}

fn int_bytes(payload: &[u8]) -> Vec<u8> {
    let mut v = vec![5];
    v.extend_from_slice(payload);
    v
}

#[test]
fn int_range_edges() {
    let i64_min = int_bytes(&i64::MIN.to_be_bytes());
    let i64_max = int_bytes(&i64::MAX.to_be_bytes());
    let mut u64_max = vec![5, 0];
    u64_max.extend_from_slice(&u64::MAX.to_be_bytes());
    assert_eq!(ad(&i64_min).as_int::<i64>(), Ok(i64::MIN));
    assert_eq!(kind(ad(&i64_min).as_int::<u64>()), ErrorKind::OutOfRange);
    assert_eq!(ad(&i64_max).as_int::<i64>(), Ok(i64::MAX));
    assert_eq!(ad(&i64_max).as_int::<u64>(), Ok(i64::MAX as u64));
    assert_eq!(ad(&u64_max).as_int::<u64>(), Ok(u64::MAX));
    assert_eq!(kind(ad(&u64_max).as_int::<i64>()), ErrorKind::OutOfRange);
    assert_eq!(ad(&u64_max).as_int::<i128>(), Ok(u64::MAX.into()));

    let i128_min = int_bytes(&i128::MIN.to_be_bytes());
    assert_eq!(ad(&i128_min).as_int::<i128>(), Ok(i128::MIN));
    assert_eq!(kind(ad(&i128_min).as_int::<u128>()), ErrorKind::OutOfRange);
    let mut u128_max = vec![5, 0];
    u128_max.extend_from_slice(&u128::MAX.to_be_bytes());
    assert_eq!(ad(&u128_max).as_int::<u128>(), Ok(u128::MAX));
    assert_eq!(kind(ad(&u128_max).as_int::<i128>()), ErrorKind::OutOfRange);
    assert_eq!(ad(&u128_max).validate(), Ok(()));
    // 17 significant bytes that are not a leading zero: beyond u128.
    let mut too_big = vec![5, 1];
    too_big.extend_from_slice(&[0; 16]);
    let err = ad(&too_big).as_int::<u128>().unwrap_err();
    assert_eq!(
        (err.kind(), err.errno()),
        (ErrorKind::OutOfRange, Errno::Range)
    );
    assert_eq!(err.errno().linux(), 34);
    assert!(ad(&too_big).validate().is_err());
    let mut too_small = vec![5, 0xfe];
    too_small.extend_from_slice(&[0; 16]);
    assert_eq!(kind(ad(&too_small).as_int::<i128>()), ErrorKind::OutOfRange);

    // Every primitive type at its boundaries.
    macro_rules! edges {
        ($($t:ty),*) => {$(
            for v in [<$t>::MIN as i128, <$t>::MAX as i128, 0, 1, -1] {
                let min_ok = v >= <$t>::MIN as i128;
                let bytes = int_bytes(&v.to_be_bytes());
                let got = ad(&bytes).as_int::<$t>();
                if min_ok { assert_eq!(got.map(|x| x as i128), Ok(v)); }
                else { assert_eq!(kind(got), ErrorKind::OutOfRange); }
            }
            let above = int_bytes(&(<$t>::MAX as i128 + 1).to_be_bytes());
            assert_eq!(kind(ad(&above).as_int::<$t>()), ErrorKind::OutOfRange);
            let below = int_bytes(&(<$t>::MIN as i128 - 1).to_be_bytes());
            assert_eq!(kind(ad(&below).as_int::<$t>()), ErrorKind::OutOfRange);
        )*};
    }
    edges!(i8, i16, i32, i64, isize, u8, u16, u32, u64, usize);
}

#[test]
fn int_encodings() {
    assert_eq!(ad(b"\x05").as_int::<i32>(), Ok(0));
    assert_eq!(ad(b"\x05\x00").as_int::<i32>(), Ok(0));
    assert_eq!(ad(b"\x05\xff").as_int::<i32>(), Ok(-1));
    assert_eq!(ad(b"\x05\x80").as_int::<i32>(), Ok(-128));
    assert_eq!(ad(b"\x05\x00\x80").as_int::<i32>(), Ok(128));
    assert_eq!(kind(ad(b"\x05\x80").as_int::<u32>()), ErrorKind::OutOfRange);
    // Non-minimal forms are accepted, however long.
    assert_eq!(ad(b"\x05\x00\x01").as_int::<u8>(), Ok(1));
    assert_eq!(ad(b"\x05\xff\xff").as_int::<i8>(), Ok(-1));
    assert_eq!(ad(b"\x05\xff\x80").as_int::<i8>(), Ok(-128));
    let mut long = vec![5];
    long.extend_from_slice(&[0; 40]);
    long.push(7);
    assert_eq!(ad(&long).as_int::<u8>(), Ok(7));
    let mut long_neg = vec![5];
    long_neg.extend_from_slice(&[0xff; 40]);
    assert_eq!(ad(&long_neg).as_int::<i8>(), Ok(-1));
    // A leading 00 before a byte with the top bit set is needed, not redundant.
    assert_eq!(ad(b"\x05\x00\xff").as_int::<i16>(), Ok(255));
    assert_eq!(
        kind(ad(b"\x08\0").as_int::<i8>()),
        wrong(Type::Int, Type::Str)
    );
    assert_eq!(
        kind(ad(b"\x09").as_int::<i8>()),
        wrong(Type::Int, Type::Timestamp)
    );
}

#[test]
fn str_and_c_str() {
    assert_eq!(ad(b"\x08\0").as_str(), Ok(""));
    assert_eq!(ad(b"\x08hello\0").as_str(), Ok("hello"));
    assert_eq!(ad(b"\x08a\0b\0").as_str(), Ok("a\0b"));
    assert_eq!(ad(b"\x08caf\xc3\xa9\0").as_str(), Ok("caf\u{e9}"));
    for bad in [&b"\x08"[..], b"\x08a", b"\x08\x01"] {
        let err = ad(bad).as_str().unwrap_err();
        assert_eq!(err.kind(), ErrorKind::BadEncoding(Type::Str));
        assert_eq!(err.errno(), Errno::Inval);
    }
    // Bad UTF-8 reports the offset of the first bad byte.
    for (bytes, offset) in [
        (&b"\x08\xff\0"[..], 1),
        (b"\x08ab\xc3\0", 3),
        (b"\x08\xed\xa0\x80\0", 1),      // surrogate
        (b"\x08\xc0\xaf\0", 1),          // overlong
        (b"\x08x\xf4\x90\x80\x80\0", 2), // above U+10FFFF
    ] {
        let err = ad(bytes).as_str().unwrap_err();
        assert_eq!(
            (err.kind(), err.offset()),
            (ErrorKind::BadUtf8, Some(offset))
        );
        assert_eq!(err.errno(), Errno::IlSeq);
        assert_eq!(err.errno().linux(), 84);
        assert_eq!(kind(ad(bytes).as_c_str()), ErrorKind::BadUtf8);
    }
    assert_eq!(ad(b"\x08hello\0").as_c_str().unwrap().to_bytes(), b"hello");
    assert_eq!(ad(b"\x08\0").as_c_str().unwrap().to_bytes(), b"");
    let err = ad(b"\x08ab\0c\0").as_c_str().unwrap_err();
    assert_eq!(
        (err.kind(), err.offset()),
        (ErrorKind::NulInString, Some(3))
    );
    assert_eq!(err.errno(), Errno::IlSeq);
    assert_eq!(
        kind(ad(b"\x01a\0").as_str()),
        wrong(Type::Str, Type::Binary)
    );
    assert_eq!(kind(ad(b"").as_c_str()), wrong(Type::Str, Type::Null));
}

#[test]
fn timestamps() {
    assert_eq!(ad(b"\x09").as_timestamp(), Ok(Timestamp::EPOCH));
    let t = ad(b"\x09\xff").as_timestamp().unwrap();
    assert_eq!(
        (t.secs(), t.subsec_nanos(), t.as_nanos()),
        (-1, 999_999_999, -1)
    );
    let t = ad(b"\x09\x3b\x9a\xca\x01").as_timestamp().unwrap();
    assert_eq!((t.secs(), t.subsec_nanos()), (1, 1));
    assert_eq!(Timestamp::from_parts(1, 1), Some(t));
    assert_eq!(Timestamp::from_parts(1, 1_000_000_000), None);
    assert_eq!(Timestamp::from_parts(i64::MIN, 0), Some(Timestamp::MIN));
    assert_eq!(
        Timestamp::from_parts(i64::MAX, 999_999_999),
        Some(Timestamp::MAX)
    );
    assert_eq!(Timestamp::from_nanos(Timestamp::MAX.as_nanos() + 1), None);
    assert_eq!(Timestamp::from_nanos(Timestamp::MIN.as_nanos() - 1), None);
    for edge in [Timestamp::MIN, Timestamp::MAX] {
        let bytes = int_bytes(&edge.as_nanos().to_be_bytes());
        let mut bytes = bytes;
        bytes[0] = 9;
        assert_eq!(ad(&bytes).as_timestamp(), Ok(edge));
        let mut beyond = int_bytes(&(edge.as_nanos() + edge.as_nanos().signum()).to_be_bytes());
        beyond[0] = 9;
        let err = ad(&beyond).as_timestamp().unwrap_err();
        assert_eq!(err.kind(), ErrorKind::OutOfRange);
        assert!(ad(&beyond).validate().is_err());
    }
    let mut huge = vec![9, 0];
    huge.extend_from_slice(&[0xff; 16]);
    assert_eq!(kind(ad(&huge).as_timestamp()), ErrorKind::OutOfRange);
    assert_eq!(
        kind(ad(b"\x05").as_timestamp()),
        wrong(Type::Timestamp, Type::Int)
    );
}

#[test]
fn maps_and_get() {
    // { "a": 1, 2: "b", "a": 3, "c": null }
    let bytes =
        b"\x06\x83\x08a\0\x82\x05\x01\x82\x05\x02\x83\x08b\0\x83\x08a\0\x82\x05\x03\x83\x08c\0\x80";
    let m = ad(bytes);
    let entries: Vec<_> = m.map().unwrap().collect::<Result<_, _>>().unwrap();
    assert_eq!(entries.len(), 4);
    assert_eq!(entries[0].0.as_str(), Ok("a"));
    assert_eq!(entries[0].1.as_int::<u8>(), Ok(1));
    assert_eq!(entries[0].0.offset(), 2);
    assert_eq!(entries[1].0.as_int::<u8>(), Ok(2));
    assert!(entries[3].1.is_null());
    assert_eq!(
        m.get("a").unwrap().unwrap().as_int::<u8>(),
        Ok(1),
        "first match wins"
    );
    assert!(m.get("c").unwrap().unwrap().is_null());
    assert_eq!(m.get("b"), Ok(None), "values are not keys");
    assert_eq!(m.get(""), Ok(None));
    assert_eq!(m.validate(), Ok(()));
    assert_eq!(ad(b"\x06").map().unwrap().count(), 0);
    assert_eq!(ad(b"\x06").get("x"), Ok(None));
    assert_eq!(kind(ad(b"\x07").map()), wrong(Type::Map, Type::Seq));
    assert_eq!(kind(ad(b"\x07").get("x")), wrong(Type::Map, Type::Seq));

    // A key without a value.
    let bad = ad(b"\x06\x82\x08\0");
    let mut it = bad.map().unwrap();
    let err = it.next().unwrap().unwrap_err();
    assert_eq!(
        (err.kind(), err.offset()),
        (ErrorKind::MissingValue, Some(1))
    );
    assert!(it.next().is_none(), "iteration stops after an error");
    assert_eq!(kind(bad.get("x")), ErrorKind::MissingValue);
    assert_eq!(kind(bad.validate()), ErrorKind::MissingValue);
    // get() stops at the first malformed entry even when the key comes later...
    assert_eq!(kind(ad(b"\x06\x00").get("x")), ErrorKind::BadLength);
    // ...but finds a key before it.
    assert!(ad(b"\x06\x83\x08x\0\x80\x00").get("x").unwrap().is_some());
    // A key that looks like the string but lacks the NUL does not match.
    assert_eq!(ad(b"\x06\x82\x08x\x80").get("x"), Ok(None));
}

#[test]
fn sequences() {
    let s = ad(b"\x07\x80\x82\x05\x01\x81\x07");
    let items: Vec<_> = s.seq().unwrap().collect::<Result<_, _>>().unwrap();
    assert_eq!(items.len(), 3);
    assert!(items[0].is_null());
    assert_eq!(items[1].as_int::<i8>(), Ok(1));
    assert_eq!(items[1].offset(), 3);
    assert_eq!(items[2].seq().unwrap().count(), 0);
    assert_eq!(kind(ad(b"\x06").seq()), wrong(Type::Seq, Type::Map));

    // Elements before a malformed one are still seen, then one error, then the end.
    let mut it = ad(b"\x07\x82\x05\x01\x85\x05").seq().unwrap();
    assert!(it.next().unwrap().is_ok());
    let err = it.next().unwrap().unwrap_err();
    assert_eq!((err.kind(), err.offset()), (ErrorKind::BadLength, Some(4)));
    assert!(it.next().is_none());
    assert!(it.next().is_none());
}

#[test]
fn subfield_lengths() {
    let seq_of = |prefix: &[u8], body_len: usize| {
        let mut v = vec![7];
        v.extend_from_slice(prefix);
        v.push(1);
        v.extend(std::iter::repeat_n(0xaa, body_len - 1));
        v
    };
    // One-byte lengths up to 127, two bytes from 128; groups are big-endian.
    for (prefix, len) in [
        (&[0x81][..], 1),
        (&[0xff][..], 127),
        (&[0x01, 0x80][..], 128),
        (&[0x01, 0x81][..], 129),
        (&[0x7f, 0xff][..], 16383),
        (&[0x01, 0x00, 0x80][..], 16384),
    ] {
        let bytes = seq_of(prefix, len);
        let item = ad(&bytes).seq().unwrap().next().unwrap().unwrap();
        assert_eq!(item.as_binary().unwrap().len(), len - 1);
        assert_eq!(item.offset(), 1 + prefix.len());
    }
    // Length zero is the null value.
    assert!(
        ad(b"\x07\x80")
            .seq()
            .unwrap()
            .next()
            .unwrap()
            .unwrap()
            .is_null()
    );
    let bad: [&[u8]; 8] = [
        b"\x07\x00\x81\x01",                                 // leading zero byte
        b"\x07\x00\x80",                                     // leading zero byte, even for length 0
        b"\x07\x01",                                         // cut off inside the length
        b"\x07\x81",                                         // length runs past the end
        b"\x07\x83\x01\x01",                                 // length runs past the end
        b"\x07\x01\x01\x01\x01\x01\x01\x01\x01\x01\x01\x81", // overflows usize
        b"\x07\x7f\x7f\x7f\x7f\x7f\x7f\x7f\x7f\x7f\xff",     // overflows usize
        b"\x06\x81\x05\x81",                                 // value runs past the end
    ];
    for bytes in bad {
        let err = ad(bytes).validate().unwrap_err();
        assert_eq!(err.kind(), ErrorKind::BadLength, "{bytes:02x?}");
        assert!(err.offset().unwrap() < bytes.len());
        assert_eq!(err.errno(), Errno::Inval);
    }
    // Nested offsets are absolute.
    let err = ad(b"\x07\x84\x07\x82\x08x").validate().unwrap_err();
    assert_eq!(
        (err.kind(), err.offset()),
        (ErrorKind::BadEncoding(Type::Str), Some(4))
    );
}

fn nested_seqs(depth: usize) -> Vec<u8> {
    // Built inside out: each level wraps the previous one as its only element.
    let mut v = vec![7];
    for _ in 1..depth {
        let len = v.len();
        let mut prefix = Vec::new();
        let mut n = len;
        prefix.push((n & 0x7f) as u8 | 0x80);
        n >>= 7;
        while n > 0 {
            prefix.push((n & 0x7f) as u8);
            n >>= 7;
        }
        prefix.reverse();
        let mut outer = vec![7];
        outer.extend_from_slice(&prefix);
        outer.extend_from_slice(&v);
        v = outer;
    }
    v
}

#[test]
fn depth_limit() {
    assert_eq!(ad(&nested_seqs(MAX_DEPTH)).validate(), Ok(()));
    let err = ad(&nested_seqs(MAX_DEPTH + 1)).validate().unwrap_err();
    assert_eq!(err.kind(), ErrorKind::TooDeep(MAX_DEPTH));
    assert_eq!(err.errno(), Errno::Inval);
    // Far deeper input fails cleanly instead of exhausting the stack.
    let deep = nested_seqs(10_000);
    assert_eq!(kind(ad(&deep).validate()), ErrorKind::TooDeep(MAX_DEPTH));
    let mut sink = String::new();
    let printed = argdata::yaml::write_yaml(ad(&deep), &mut sink);
    assert_eq!(kind(printed), ErrorKind::TooDeep(MAX_DEPTH));
}

#[test]
fn offsets_and_messages() {
    let err = Argdata::with_offset(b"\x07\x85", 100)
        .validate()
        .unwrap_err();
    assert_eq!(err.offset(), Some(101));
    assert_eq!(
        err.to_string(),
        "malformed subfield length at byte offset 101"
    );
    assert_eq!(Argdata::with_offset(b"\x05", 7).offset(), 7);
    // Views compare by bytes only.
    assert_eq!(Argdata::with_offset(b"\x05", 7), ad(b"\x05"));
    assert_ne!(ad(b"\x05"), ad(b"\x05\x00"));
    assert_eq!(ad(b"\x05\x01").as_bytes(), b"\x05\x01");
    let e = Error::new(ErrorKind::BufferTooSmall { needed: 9 });
    assert_eq!(e.offset(), None);
    assert_eq!(e.to_string(), "output buffer too small (9 bytes needed)");
    assert_eq!(e.errno(), Errno::Range);
    let e = Error::at(wrong(Type::Str, Type::Int), 3);
    assert_eq!(e.to_string(), "expected str, found int at byte offset 3");
    assert_eq!(Error::from(std::fmt::Error).kind(), ErrorKind::Write);
    assert_eq!(Error::from(std::fmt::Error).errno().linux(), 5);
    assert_eq!(Errno::Inval.linux(), 22);
    let _: &dyn std::error::Error = &e;
}
