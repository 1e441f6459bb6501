//! Shared helpers for the tests that run the `argdata` binary: the reference vectors of the
//! `argdata` crate and a way to run the tool.

#![allow(dead_code, unreachable_pub)]

use std::io::Write;
use std::path::Path;
use std::process::{Command, Output, Stdio};

#[allow(unexpected_cfgs)]
#[path = "../../../argdata/tests/common/mod.rs"]
mod vectors;

#[path = "../../../argdata/tests/common/canonical.rs"]
pub mod canonical;

pub use vectors::Row;

/// Every row of the `argdata` crate's reference vectors (`argdata/tests/data/*.tsv`).
pub fn rows() -> Vec<Row> {
    vectors::rows_in(&Path::new(env!("CARGO_MANIFEST_DIR")).join("../argdata/tests/data"))
}

/// Runs `argdata ARGS...` with `stdin` as its standard input; collects its output.
pub fn run_cli(args: &[&str], stdin: &[u8]) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_argdata"))
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn argdata");
    let mut input = child.stdin.take().unwrap();
    // The tool may exit without reading its input (usage errors): a broken pipe is fine.
    let _ = input.write_all(stdin);
    drop(input);
    child.wait_with_output().expect("wait for argdata")
}
