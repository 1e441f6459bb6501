//! `argdata decode` on every row of the reference vectors, on files and on bad usage.

mod common;

use argdata::Argdata;
use cloudabi_test_support::argdata_vectors;
use common::run_cli;

#[test]
fn cli_decode_matches_every_row() {
    for row in argdata_vectors() {
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
        "argdata: <stdin>: invalid argdata: integer does not fit 64 bits (int64_t or uint64_t) \
         at byte offset 8\n"
    );
    let out = run_cli(&["decode"], &bytes[..7]);
    assert!(out.status.success());
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "%TAG ! tag:nuxi.nl,2015:cloudabi/\n---\n!!seq [\n  !fd \"invalid\",\n]\n"
    );
}
