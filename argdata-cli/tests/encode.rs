//! `argdata encode`: YAML to canonical argdata, positions in error messages.

mod common;

use argdata::{Argdata, Fd, Value};
use cloudabi_test_support::argdata_vectors;
use cloudabi_test_support::canonical::{canonical, printer_is_lossy};
use common::run_cli;

#[test]
fn cli_decode_then_encode_gives_canonical_bytes() {
    for row in argdata_vectors().into_iter().filter(|r| r.valid) {
        let out = run_cli(&["encode"], row.yaml.as_bytes());
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "{}: {stderr}", row.origin);
        if !printer_is_lossy(Argdata::new(&row.bytes)) {
            assert_eq!(out.stdout, canonical(&row.bytes), "{}", row.origin);
        }
        // And the decoder prints the same text again.
        let back = run_cli(&["decode"], &out.stdout);
        assert_eq!(
            String::from_utf8_lossy(&back.stdout),
            row.yaml,
            "{}",
            row.origin
        );
    }
}

#[test]
fn cli_encode_reports_positions_and_writes_nothing_on_error() {
    let out = run_cli(&["encode"], b"a: 1\nb: [1, !!int x]\n");
    assert_eq!(out.status.code(), Some(65));
    assert!(out.stdout.is_empty());
    assert_eq!(
        String::from_utf8_lossy(&out.stderr),
        "argdata: <stdin>:2:8: invalid !!int value \"x\"\n"
    );

    let dir = std::env::temp_dir().join(format!("argdata-encode-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("conf.yaml");
    std::fs::write(&path, "x: {\n").unwrap();
    let out = run_cli(&["encode", path.to_str().unwrap()], b"");
    assert_eq!(out.status.code(), Some(65));
    assert!(out.stdout.is_empty());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.starts_with(&format!("argdata: {}:2:1: ", path.display())),
        "{stderr}"
    );

    std::fs::write(&path, b"a: \xff\n").unwrap();
    let out = run_cli(&["encode", path.to_str().unwrap()], b"");
    assert_eq!(out.status.code(), Some(65));
    assert!(String::from_utf8_lossy(&out.stderr).ends_with(&format!(
        "{}:1:4: input is not valid UTF-8\n",
        path.display()
    )));

    // A file argument that works, with fds written as their numbers.
    std::fs::write(&path, "log: !fd stderr\nport: 80\n").unwrap();
    let out = run_cli(&["encode", path.to_str().unwrap()], b"");
    assert!(out.status.success());
    let v = Value::from_argdata(Argdata::new(&out.stdout)).unwrap();
    assert_eq!(
        v,
        Value::map([("log", Value::from(Fd(2))), ("port", 80.into())])
    );
    std::fs::remove_dir_all(&dir).unwrap();

    let out = run_cli(&["encode", "a", "b"], b"");
    assert_eq!(out.status.code(), Some(64));
    let out = run_cli(&["encode", "/nonexistent/argdata/in.yaml"], b"");
    assert_eq!(out.status.code(), Some(74));
}
