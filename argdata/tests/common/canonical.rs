//! What printing a reference vector row as YAML and encoding it again must give: used by
//! the YAML parser's tests and by the `argdata` tool's tests.
//!
//! The same text is `argdata/tests/common/canonical.rs` (for the published
//! `cloudabi-argdata` package, whose tests use nothing from outside) and
//! `test-support/src/canonical.rs` (for the tests of other crates). A test of
//! `cloudabi-test-support` fails when the two files differ.

#![allow(dead_code, unreachable_pub)]

use argdata::{Argdata, Value};

/// The canonical encoding of a valid row, fds written as their indices.
pub fn canonical(bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    Value::from_argdata(Argdata::new(bytes))
        .unwrap()
        .encode_raw_fds_into(&mut out)
        .unwrap();
    out
}

/// Whether the printer loses information for this value: it prints -0.0 as `0` and every
/// NaN as `.nan`, so those bytes cannot come back exactly.
pub fn printer_is_lossy(ad: Argdata<'_>) -> bool {
    lossy_value(&Value::from_argdata(ad).unwrap())
}

fn lossy_value(v: &Value) -> bool {
    match v {
        Value::Float(f) => {
            (f.is_nan() && f.to_bits() != f64::NAN.to_bits()) || f.to_bits() == (-0.0f64).to_bits()
        }
        Value::Map(e) => e.iter().any(|(k, v)| lossy_value(k) || lossy_value(v)),
        Value::Seq(items) => items.iter().any(lossy_value),
        _ => false,
    }
}
