//! Runs every row of the reference vectors through the library.
#![cfg(feature = "std")]

mod common;

use argdata::{Argdata, Fd, IdentityFds, Value, yaml};
use common::rows;

#[test]
fn vector_files_are_complete() {
    let rows = rows();
    assert_eq!(rows.len(), 297, "row count of tests/data/*.tsv changed");
    assert_eq!(rows.iter().filter(|r| !r.valid).count(), 21);
}

#[test]
fn library_prints_valid_rows_exactly_and_rejects_invalid_rows() {
    for row in rows() {
        let ad = Argdata::new(&row.bytes);
        let printed = yaml::to_string(ad);
        if row.valid {
            assert_eq!(printed.as_deref(), Ok(row.yaml.as_str()), "{}", row.origin);
            ad.validate()
                .unwrap_or_else(|e| panic!("{}: {e}", row.origin));
            Value::from_argdata(ad).unwrap_or_else(|e| panic!("{}: {e}", row.origin));
        } else {
            let err = printed.expect_err(&row.origin);
            assert!(err.offset().is_some(), "{}: no offset", row.origin);
            assert!(err.offset().unwrap() < row.bytes.len(), "{}", row.origin);
            assert_eq!(ad.validate(), Err(err), "{}", row.origin);
            assert!(Value::from_argdata(ad).is_err(), "{}", row.origin);
        }
    }
}

/// The lenient printer is the reference printer: every row, valid or not, prints exactly
/// as the reference implementation printed it (fd indices through the identity).
#[test]
fn lenient_printer_matches_the_reference_on_every_row() {
    for row in rows() {
        let printed = yaml::to_string_lenient(Argdata::new(&row.bytes), &IdentityFds);
        assert_eq!(printed, row.yaml, "{}", row.origin);
    }
}

#[test]
fn valid_rows_survive_a_round_trip_through_value() {
    for row in rows().into_iter().filter(|r| r.valid) {
        let value = Value::from_argdata(Argdata::new(&row.bytes)).unwrap();
        // Fd leaves keep their numbers when written raw, so the YAML must not change.
        let mut raw = Vec::new();
        value.encode_raw_fds_into(&mut raw).unwrap();
        assert_eq!(
            yaml::to_string(Argdata::new(&raw)).unwrap(),
            row.yaml,
            "{}",
            row.origin
        );
        assert_eq!(raw.len(), value.serialized_len(), "{}", row.origin);
        // The canonical encoding is a fixed point. (Values are compared through their
        // encodings: `Value`'s `PartialEq` follows IEEE rules, so NaN != NaN.)
        let again = Value::from_argdata(Argdata::new(&raw)).unwrap();
        let mut raw2 = Vec::new();
        again.encode_raw_fds_into(&mut raw2).unwrap();
        assert_eq!(raw2, raw, "{}", row.origin);
        // Renumbered encoding decodes back to the same fds through the fd list.
        let encoded = value.encode();
        let table = argdata::FdTable(&encoded.fds);
        let mut raw3 = Vec::new();
        Value::from_argdata_with(encoded.argdata(), &table)
            .unwrap()
            .encode_raw_fds_into(&mut raw3)
            .unwrap();
        assert_eq!(raw3, raw, "{}", row.origin);
        assert!(encoded.fds.iter().all(|fd| fd.0 >= 0), "{}", row.origin);
        let _: Vec<Fd> = encoded.fds;
    }
}

#[test]
fn canonical_rows_are_reproduced_byte_for_byte() {
    // Every valid row except the deliberately non-minimal integer encodings is already in
    // the reference's canonical form.
    let non_minimal = ["050001"];
    let mut checked = 0;
    for row in rows().into_iter().filter(|r| r.valid) {
        if non_minimal.contains(&row.hex.as_str()) {
            continue;
        }
        let value = Value::from_argdata(Argdata::new(&row.bytes)).unwrap();
        let mut raw = Vec::new();
        value.encode_raw_fds_into(&mut raw).unwrap();
        assert_eq!(raw, row.bytes, "{}", row.origin);
        checked += 1;
    }
    assert!(checked > 250);
}
