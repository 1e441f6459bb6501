//! Loading the reference vectors (`argdata/tests/data/*.tsv`): one encoded value a row, with
//! whether the reference getters accept it and the YAML the reference printer gives.
//!
//! The same text is `argdata/tests/common/vectors.rs`, so that the published
//! `cloudabi-argdata` package tests itself with nothing from outside and with no features
//! switched on by other crates, and `test-support/src/vectors.rs`, for the tests of other
//! crates. A test of `cloudabi-test-support` fails when the two files differ.

#![allow(dead_code, unreachable_pub)]

use std::path::Path;

/// One row of a reference vector file.
pub struct Row {
    /// File and line, for failure messages.
    pub origin: String,
    /// The hex column as written (`-` for the empty buffer).
    pub hex: String,
    /// The encoded bytes.
    pub bytes: Vec<u8>,
    /// Whether the reference getters accept every part of the value.
    pub valid: bool,
    /// The YAML the reference printer gives.
    pub yaml: String,
}

/// Decodes a lowercase hex string (`-` is the empty buffer).
pub fn unhex(hex: &str) -> Vec<u8> {
    if hex == "-" {
        return Vec::new();
    }
    assert!(hex.len().is_multiple_of(2), "odd hex length: {hex}");
    (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).expect("bad hex"))
        .collect()
}

/// Undoes the escaping of the YAML column (`\n`, `\t`, `\\`).
fn unescape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('n') => out.push('\n'),
            Some('t') => out.push('\t'),
            Some('\\') => out.push('\\'),
            other => panic!("unknown escape \\{other:?} in vector file"),
        }
    }
    out
}

/// Every row of every `*.tsv` file in `dir`, in a stable order.
pub fn rows_in(dir: &Path) -> Vec<Row> {
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .expect("tests/data")
        .map(|e| e.expect("dir entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "tsv"))
        .collect();
    files.sort();
    assert!(
        files.len() >= 3,
        "vector files missing in {}",
        dir.display()
    );
    let mut rows = Vec::new();
    for file in files {
        let name = file.file_name().unwrap().to_string_lossy().into_owned();
        let text = std::fs::read_to_string(&file).expect("read vector file");
        for (n, line) in text.lines().enumerate() {
            if line.is_empty() {
                continue;
            }
            let cols: Vec<&str> = line.split('\t').collect();
            assert_eq!(cols.len(), 3, "{name}:{}: expected 3 columns", n + 1);
            let valid = match cols[1] {
                "valid" => true,
                "invalid" => false,
                other => panic!("{name}:{}: bad validity {other:?}", n + 1),
            };
            rows.push(Row {
                origin: format!("{name}:{}", n + 1),
                hex: cols[0].to_owned(),
                bytes: unhex(cols[0]),
                valid,
                yaml: unescape(cols[2]),
            });
        }
    }
    rows
}
