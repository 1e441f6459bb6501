//! Property tests over generated values and hostile bytes (run with `--all-features`).
#![cfg(feature = "proptest")]

mod common;

use argdata::proptest::{hostile_bytes, value};
use argdata::{Argdata, FdTable, Value, yaml};
use proptest::prelude::*;

/// Encodes with the numbering of fds kept, for comparisons that must treat NaN and
/// `-0.0` bit for bit.
fn enc(v: &Value) -> argdata::Encoded {
    v.encode()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn encode_then_decode_is_the_identity(v in value()) {
        let e = enc(&v);
        prop_assert!(e.argdata().validate().is_ok());
        let back = Value::from_argdata_with(e.argdata(), &FdTable(&e.fds)).unwrap();
        prop_assert_eq!(enc(&back), e);
    }

    #[test]
    fn serialized_len_is_the_encoded_length(v in value()) {
        prop_assert_eq!(v.serialized_len(), enc(&v).bytes.len());
    }

    #[test]
    fn validate_and_printer_agree_and_never_panic(bytes in hostile_bytes()) {
        let ad = Argdata::new(&bytes);
        let valid = ad.validate();
        let _ = common::check_printers(&bytes);
        // Decoding into a `Value` succeeds on valid data, except for integers above
        // i128::MAX and fd indices above i32::MAX, which a `Value` cannot hold.
        if let Err(e) = Value::from_argdata(ad) {
            prop_assert!(
                valid.is_err()
                    || e.kind() == argdata::ErrorKind::OutOfRange
                    || e.kind() == argdata::ErrorKind::BadFd,
                "{:?}", e
            );
        }
    }

    #[test]
    fn printer_never_panics_on_noise(bytes in proptest::collection::vec(any::<u8>(), 0..256)) {
        let _ = common::check_printers(&bytes);
    }
}

/// `v` with every NaN replaced by `f64::NAN` and `-0.0` by `0.0`, and what the
/// printer refuses brought into range: integers cut to 64 bits, timestamps to years
/// that fit a C `int`.
#[cfg(feature = "yaml")]
fn yaml_canonical(v: Value) -> Value {
    match v {
        Value::Int(i) if i64::try_from(i).is_err() && u64::try_from(i).is_err() => {
            Value::Int(i128::from(i as i64))
        }
        Value::Timestamp(t) => Value::Timestamp(
            argdata::Timestamp::from_parts(t.secs() % 10_000_000_000_000_000, t.subsec_nanos())
                .unwrap_or(argdata::Timestamp::EPOCH),
        ),
        Value::Float(f) if f.is_nan() => Value::Float(f64::NAN),
        // Matches both zeros.
        Value::Float(0.0) => Value::Float(0.0),
        Value::Seq(items) => Value::Seq(items.into_iter().map(yaml_canonical).collect()),
        Value::Map(entries) => Value::Map(
            entries
                .into_iter()
                .map(|(k, v)| (yaml_canonical(k), yaml_canonical(v)))
                .collect(),
        ),
        other => other,
    }
}

#[cfg(feature = "yaml")]
proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    /// Printing then parsing gives back the same encoding (fd leaves keep their indices).
    /// The printer spells every NaN `.nan` and both zeros `0` (as the reference does), so
    /// floats are compared after mapping NaNs to one NaN and `-0.0` to `0.0`.
    #[test]
    fn print_then_parse_is_the_identity(v in value()) {
        let e = enc(&yaml_canonical(v));
        let text = yaml::to_string(e.argdata()).unwrap();
        let parsed = yaml::from_str(&text).map_err(|err| {
            TestCaseError::fail(format!("{err} in\n{text}"))
        })?;
        prop_assert_eq!(enc(&yaml_canonical(parsed)).bytes, e.bytes, "{}", text);
    }
}

#[cfg(feature = "serde")]
proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// `Value`'s serde impls go through the serde layer without change.
    #[test]
    fn value_round_trips_through_serde(v in value()) {
        let e = enc(&v);
        prop_assert_eq!(argdata::to_vec_with_fds(&v).unwrap(), e.clone());
        if e.fds.is_empty() {
            prop_assert_eq!(argdata::to_vec(&v).unwrap(), e.bytes.clone());
        } else {
            prop_assert!(argdata::to_vec(&v).is_err());
        }
        let back: Value = argdata::from_slice_with_fds(&e.bytes, &FdTable(&e.fds)).unwrap();
        prop_assert_eq!(enc(&back), e);
    }

    /// Typed decoding of hostile bytes reports errors and never panics.
    #[test]
    fn serde_decoding_never_panics(bytes in hostile_bytes()) {
        let _ = argdata::from_slice::<Value>(&bytes);
        let _ = argdata::from_slice::<Vec<Option<(String, i32)>>>(&bytes);
        let _ = argdata::from_slice::<std::collections::BTreeMap<String, Vec<argdata::Fd>>>(&bytes);
    }
}
