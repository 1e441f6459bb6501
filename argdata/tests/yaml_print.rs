//! The YAML printer beyond the reference vectors: escapes, floats, dates, sink errors.
#![cfg(feature = "std")]

use std::fmt;

use argdata::{Argdata, ErrorKind, IdentityFds, Timestamp, Value, yaml};

/// The node part of the document for `v`.
fn node(v: &Value) -> String {
    let text = yaml::to_string(v.encode().argdata()).unwrap();
    text.strip_prefix(yaml::HEADER)
        .and_then(|t| t.strip_suffix('\n'))
        .unwrap()
        .to_owned()
}

#[test]
fn string_escapes() {
    let cases = [
        ("plain ascii ~", "plain ascii ~"),
        (
            "\0\x07\x08\t\n\x0b\x0c\r\x1b\"\\",
            r#"\0\a\b\t\n\v\f\r\e\"\\"#,
        ),
        ("\u{85}\u{a0}\u{2028}\u{2029}", r"\N\_\L\P"),
        ("\x01\x1f\x7f\u{80}\u{9f}", r"\x01\x1f\x7f\x80\x9f"),
        (
            "\u{fff9}\u{fffb}\u{fffe}\u{ffff}",
            r"\ufff9\ufffb\ufffe\uffff",
        ),
        ("\u{1fffe}\u{10ffff}", r"\U0001fffe\U0010ffff"),
        ("\u{a1}\u{fffc}\u{1f600}/", "\u{a1}\u{fffc}\u{1f600}/"),
        ("mixed\u{1}run", r"mixed\x01run"),
    ];
    for (input, escaped) in cases {
        assert_eq!(
            node(&Value::from(input)),
            format!("!!str \"{escaped}\""),
            "{input:?}"
        );
    }
}

#[test]
fn floats() {
    let cases = [
        (0.1 + 0.2, "3.0000000000000004e-1"),
        (1e100, "1e+100"),
        (f64::MAX, "1.7976931348623157e+308"),
        (f64::MIN_POSITIVE, "2.2250738585072014e-308"),
        (123.0, "1.23e+2"),
        (-7.5, "-7.5"),
        (9.99, "9.99"),
        (-0.0, "0"),
        (f64::NEG_INFINITY, "-.inf"),
        (-f64::NAN, ".nan"),
    ];
    for (v, text) in cases {
        assert_eq!(node(&Value::from(v)), format!("!!float \"{text}\""), "{v}");
    }
}

#[test]
fn timestamps() {
    let cases = [
        (0, 0, "1970-01-01T00:00:00.000000000Z"),
        (951_782_400, 5, "2000-02-29T00:00:00.000000005Z"),
        (-2_203_891_200, 0, "1900-03-01T00:00:00.000000000Z"),
        (-62_135_596_800, 0, "0001-01-01T00:00:00.000000000Z"),
        (-62_135_596_801, 0, "0000-12-31T23:59:59.000000000Z"),
        (-62_198_755_200, 0, "-001-01-01T00:00:00.000000000Z"),
        (253_402_300_800, 0, "10000-01-01T00:00:00.000000000Z"),
        // The last and first years gmtime_r can show (year - 1900 is a C int).
        (
            67_768_036_191_676_799,
            999_999_999,
            "2147485547-12-31T23:59:59.999999999Z",
        ),
        (
            -67_768_040_609_740_800,
            0,
            "-2147481748-01-01T00:00:00.000000000Z",
        ),
    ];
    for (secs, nanos, text) in cases {
        let t = Timestamp::from_parts(secs, nanos).unwrap();
        assert_eq!(
            node(&Value::from(t)),
            format!("!!timestamp \"{text}\""),
            "{secs}"
        );
    }
    // One second later, or earlier, is refused (see `far_years_are_refused`).
    for secs in [
        67_768_036_191_676_800,
        -67_768_040_609_740_801,
        i64::MAX,
        i64::MIN,
    ] {
        let v = Value::from(Timestamp::from_parts(secs, 0).unwrap());
        let err = yaml::to_string(v.encode().argdata()).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::OutOfRange, "{secs}");
    }
}

#[test]
fn binary_lengths() {
    let data: Vec<u8> = (0..=255u8).cycle().take(1000).collect();
    for len in [0, 1, 2, 3, 4, 5, 191, 192, 193, 194, 1000] {
        let printed = node(&Value::binary(&data[..len]));
        let inner = printed
            .strip_prefix("!!binary \"")
            .and_then(|p| p.strip_suffix('"'))
            .unwrap();
        assert_eq!(inner.len(), len.div_ceil(3) * 4);
        assert_eq!(decode_base64(inner), &data[..len]);
    }
}

fn decode_base64(text: &str) -> Vec<u8> {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = Vec::new();
    for chunk in text.as_bytes().chunks(4) {
        let vals: Vec<u32> = chunk
            .iter()
            .take_while(|&&c| c != b'=')
            .map(|c| ALPHABET.iter().position(|a| a == c).unwrap() as u32)
            .collect();
        let mut acc = 0u32;
        for (i, v) in vals.iter().enumerate() {
            acc |= v << (18 - 6 * i);
        }
        for i in 0..vals.len().saturating_sub(1) {
            out.push((acc >> (16 - 8 * i)) as u8);
        }
    }
    out
}

/// Hand-built integers around the 64-bit limits: the strict printer refuses what fits
/// neither `int64_t` nor `uint64_t` (the reference prints `!!null "null"` there).
#[test]
fn ints_beyond_64_bits_are_refused() {
    let doc = |node: &str| format!("{}{node}\n", yaml::HEADER);
    // u64::MAX with a sign byte, and i64::MIN: both representable.
    let u64_max = [5, 0, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff];
    assert_eq!(
        yaml::to_string(Argdata::new(&u64_max)).unwrap(),
        doc("!!int \"18446744073709551615\"")
    );
    let i64_min = [5, 0x80, 0, 0, 0, 0, 0, 0, 0];
    assert_eq!(
        yaml::to_string(Argdata::new(&i64_min)).unwrap(),
        doc("!!int \"-9223372036854775808\"")
    );
    // 2^64, i64::MIN - 1 and u128::MAX are not, wherever they sit.
    let two_to_64 = [5, 1, 0, 0, 0, 0, 0, 0, 0, 0];
    let below_i64_min = [5, 0xff, 0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff];
    let mut u128_max = vec![5, 0];
    u128_max.extend_from_slice(&[0xff; 16]);
    for bytes in [&two_to_64[..], &below_i64_min, &u128_max] {
        let err = yaml::to_string(Argdata::new(bytes)).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::IntTooWide, "{bytes:02x?}");
        assert_eq!(err.offset(), Some(0));
        assert_eq!(
            yaml::to_string_lenient(Argdata::new(bytes), &IdentityFds),
            doc("!!null \"null\"")
        );
    }
    // Inside a sequence [1, 2^64] the error names the second element's offset.
    let seq = [7, 0x82, 5, 1, 0x8a, 5, 1, 0, 0, 0, 0, 0, 0, 0, 0];
    let err = yaml::to_string(Argdata::new(&seq)).unwrap_err();
    assert_eq!((err.kind(), err.offset()), (ErrorKind::IntTooWide, Some(5)));
    assert_eq!(
        err.to_string(),
        "integer does not fit 64 bits (int64_t or uint64_t) at byte offset 5"
    );
}

/// An fd index is shown as a C `int` descriptor: above `INT_MAX` there is none.
#[test]
fn fd_indices_beyond_int_print_as_invalid() {
    let doc = |node: &str| format!("{}{node}\n", yaml::HEADER);
    let int_max = [3, 0x7f, 0xff, 0xff, 0xff];
    assert_eq!(
        yaml::to_string(Argdata::new(&int_max)).unwrap(),
        doc("!fd \"2147483647\"")
    );
    for bytes in [[3, 0x80, 0, 0, 0], [3, 0xff, 0xff, 0xff, 0xff]] {
        assert_eq!(
            yaml::to_string(Argdata::new(&bytes)).unwrap(),
            doc("!fd \"invalid\""),
            "{bytes:02x?}"
        );
    }
}

/// A timestamp whose year minus 1900 does not fit a C `int` is refused (the reference's
/// `gmtime_r` fails and it prints `!!null "null"`).
#[test]
fn far_years_are_refused() {
    // i64::MAX seconds as nanoseconds, 0x1dcd64ffffffffffc4653600: year 292277026596.
    let far = [
        9, 0x1d, 0xcd, 0x64, 0xff, 0xff, 0xff, 0xff, 0xff, 0xc4, 0x65, 0x36, 0x00,
    ];
    let err = yaml::to_string(Argdata::new(&far)).unwrap_err();
    assert_eq!((err.kind(), err.offset()), (ErrorKind::OutOfRange, Some(0)));
    assert_eq!(
        yaml::to_string_lenient(Argdata::new(&far), &IdentityFds),
        format!("{}!!null \"null\"\n", yaml::HEADER)
    );
}

#[test]
fn nesting_and_indentation() {
    let v = Value::map([(
        Value::seq([Value::Null]),
        Value::map([("k", Value::seq(Vec::<Value>::new()))]),
    )]);
    assert_eq!(
        node(&v),
        "!!map {\n  ? !!seq [\n    !!null \"null\",\n  ]\n  : !!map {\n    ? !!str \"k\"\n    : !!seq [],\n  },\n}"
    );
    // Indentation deeper than the internal run of spaces.
    let mut deep = Value::from(1);
    for _ in 0..40 {
        deep = Value::seq([deep]);
    }
    let text = node(&deep);
    assert!(text.contains(&format!("\n{}!!int \"1\",\n", " ".repeat(80))));
}

struct Failing(usize);

impl fmt::Write for Failing {
    fn write_str(&mut self, _: &str) -> fmt::Result {
        if self.0 == 0 {
            return Err(fmt::Error);
        }
        self.0 -= 1;
        Ok(())
    }
}

#[test]
fn sink_errors_are_reported() {
    let v = Value::seq([1, 2, 3]).encode();
    for budget in 0..6 {
        let err = yaml::write_yaml(v.argdata(), &mut Failing(budget)).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Write);
    }
}

#[test]
fn strictness_inside_containers() {
    // The reference prints `!!seq [ !!null "null", ]` here; this printer refuses.
    let err = yaml::to_string(Argdata::new(b"\x07\x81\x08")).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::BadEncoding(argdata::Type::Str));
    assert_eq!(err.offset(), Some(2));
    let mut partial = String::new();
    assert!(yaml::write_yaml(Argdata::new(b"\x07\x82\x05\x01\x81\x0a"), &mut partial).is_err());
    assert!(partial.starts_with(yaml::HEADER));
}
