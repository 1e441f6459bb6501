//! Shared helpers for the integration tests: loading the reference vectors.

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

/// Decodes a lowercase hex string.
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

/// Every row of every `tests/data/*.tsv` file, in a stable order.
pub fn rows() -> Vec<Row> {
    rows_in(&Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data"))
}

/// Every row of every `*.tsv` file in `dir`, in a stable order (`argdata-cli`'s tests read
/// this crate's vectors through it).
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
