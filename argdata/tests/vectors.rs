//! Runs every row of the reference vectors through the library and the CLI.
#![cfg(feature = "std")]

mod common;

use std::io::Write;
use std::process::{Command, Stdio};

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

fn run_cli(args: &[&str], stdin: &[u8]) -> std::process::Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_argdata"))
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn argdata");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin)
        .expect("write stdin");
    child.wait_with_output().expect("wait for argdata")
}

#[test]
fn cli_decode_matches_every_row() {
    for row in rows() {
        let out = run_cli(&["decode"], &row.bytes);
        let stderr = String::from_utf8_lossy(&out.stderr);
        if row.valid {
            assert!(out.status.success(), "{}: {stderr}", row.origin);
            assert_eq!(
                String::from_utf8_lossy(&out.stdout),
                row.yaml,
                "{}",
                row.origin
            );
        } else {
            assert_eq!(out.status.code(), Some(65), "{}: {stderr}", row.origin);
            assert!(out.stdout.is_empty(), "{}", row.origin);
            let err = Argdata::new(&row.bytes).validate().unwrap_err();
            let want = format!("at byte offset {}", err.offset().unwrap());
            assert!(stderr.contains(&want), "{}: {stderr}", row.origin);
            assert!(
                stderr.contains(&err.kind().to_string()),
                "{}: {stderr}",
                row.origin
            );
        }
    }
}

#[test]
fn cli_reads_a_file_argument() {
    let dir = std::env::temp_dir().join(format!("argdata-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("in.bin");
    std::fs::write(&path, [0x05, 0x2a]).unwrap();
    let out = run_cli(&["decode", path.to_str().unwrap()], b"");
    assert!(out.status.success());
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "%TAG ! tag:nuxi.nl,2015:cloudabi/\n---\n!!int \"42\"\n"
    );
    std::fs::write(&path, [0x07, 0x81, 0x0a]).unwrap();
    let out = run_cli(&["decode", path.to_str().unwrap()], b"");
    assert_eq!(out.status.code(), Some(65));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("in.bin: invalid argdata: unknown type tag 0x0a at byte offset 2"));
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn cli_reports_usage_and_io_errors() {
    let out = run_cli(&[], b"");
    assert_eq!(out.status.code(), Some(64));
    assert!(String::from_utf8_lossy(&out.stderr).contains("argdata decode [FILE]"));
    let out = run_cli(&["frobnicate"], b"");
    assert_eq!(out.status.code(), Some(64));
    let out = run_cli(&["decode", "a", "b"], b"");
    assert_eq!(out.status.code(), Some(64));
    let out = run_cli(&["decode", "/nonexistent/argdata/input"], b"");
    assert_eq!(out.status.code(), Some(74));
    assert!(String::from_utf8_lossy(&out.stderr).contains("/nonexistent/argdata/input"));
    let out = run_cli(&["--help"], b"");
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).contains("decode"));
}

/// `argdata decode` follows the reference getters: an integer wider than 64 bits is an
/// error, an fd index that is no C `int` descriptor prints as `!fd "invalid"`.
#[test]
fn cli_refuses_wide_ints_and_shows_unusable_fd_indices() {
    // [fd 0x80000000, 2^64]
    let bytes = [
        7, 0x85, 3, 0x80, 0, 0, 0, 0x8a, 5, 1, 0, 0, 0, 0, 0, 0, 0, 0,
    ];
    let out = run_cli(&["decode"], &bytes);
    assert_eq!(out.status.code(), Some(65));
    assert!(out.stdout.is_empty());
    assert_eq!(
        String::from_utf8_lossy(&out.stderr),
        "argdata: stdin: invalid argdata: integer does not fit 64 bits (int64_t or uint64_t) \
         at byte offset 8\n"
    );
    let out = run_cli(&["decode"], &bytes[..7]);
    assert!(out.status.success());
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "%TAG ! tag:nuxi.nl,2015:cloudabi/\n---\n!!seq [\n  !fd \"invalid\",\n]\n"
    );
}
