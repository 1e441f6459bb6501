//! Running the `argdata` binary from the tests. (The reference vectors of the `argdata`
//! crate, which `decode.rs` and `encode.rs` also use, come from `cloudabi-test-support`.)

#![allow(dead_code, unreachable_pub)]

use std::io::Write;
use std::process::{Command, Output, Stdio};

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
