//! No native Rust example needs `unsafe`: programs take their granted descriptors over
//! through `program::cap`. (The CloudABI guests in `examples/cloudabi/` are `no_std`
//! programs on raw system calls, threads included, and the hostile one attacks on purpose:
//! they are not covered.)

use std::path::{Path, PathBuf};

/// Every `.rs` file under `dir`.
fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            if path.file_name().is_some_and(|n| n == "target") {
                continue;
            }
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

#[test]
fn no_example_contains_unsafe() {
    let examples = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
    let mut files = Vec::new();
    rust_files(&examples.join("rust"), &mut files);
    rust_files(&examples.join("webserver/src"), &mut files);
    rust_files(&examples.join("http/src"), &mut files);
    assert!(files.len() >= 5, "{files:?}");
    let mut offenders = Vec::new();
    for f in &files {
        let text = std::fs::read_to_string(f).unwrap();
        for (i, line) in text.lines().enumerate() {
            let code = line.split("//").next().unwrap_or_default();
            if code
                .split(|c: char| !c.is_alphanumeric() && c != '_')
                .any(|w| w == "unsafe")
            {
                offenders.push(format!("{}:{}: {}", f.display(), i + 1, line.trim()));
            }
        }
    }
    assert!(
        offenders.is_empty(),
        "unsafe in examples:\n{}",
        offenders.join("\n")
    );
}
