//! Shared helpers of this crate's integration tests: the reference vectors and what the
//! printers must do with them.
//!
//! Everything here is this crate's own (no test-support crate), so that the published
//! package's tests build alone and the tests without default features (`no_alloc.rs`) see
//! only the features they ask for.

#![allow(dead_code, unreachable_pub)]

#[cfg(feature = "alloc")]
pub mod canonical;
mod vectors;

use std::path::Path;

pub use vectors::Row;
use vectors::rows_in;

/// Every row of every `tests/data/*.tsv` file, in a stable order.
pub fn rows() -> Vec<Row> {
    rows_in(&Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data"))
}

/// Checks how the two printers relate on any bytes: the lenient printer always writes a
/// whole document; the strict printer fails exactly where `validate` does, or on data the
/// reference cannot represent (an integer wider than 64 bits, a timestamp whose year does
/// not fit a C `int`), and otherwise prints what the lenient printer prints.
#[cfg(feature = "alloc")]
pub fn check_printers(bytes: &[u8]) -> Result<String, argdata::Error> {
    use argdata::{Argdata, ErrorKind, IdentityFds, yaml};
    let ad = Argdata::new(bytes);
    let valid = ad.validate();
    let strict = yaml::to_string(ad);
    let lenient = yaml::to_string_lenient(ad, &IdentityFds);
    assert!(
        lenient.starts_with(yaml::HEADER) && lenient.ends_with('\n'),
        "{bytes:02x?}: {lenient}"
    );
    match (&valid, &strict) {
        (Ok(()), Ok(text)) => assert_eq!(text, &lenient, "{bytes:02x?}"),
        (Err(v), Ok(text)) => panic!("{bytes:02x?}: printed {text} but {v}"),
        (_, Err(p)) if matches!(p.kind(), ErrorKind::IntTooWide | ErrorKind::OutOfRange) => {}
        (Ok(()), Err(p)) => panic!("{bytes:02x?}: valid but {p}"),
        (Err(v), Err(p)) => assert_eq!(v, p, "{bytes:02x?}"),
    }
    strict
}
