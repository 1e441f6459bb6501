//! cloudabi-run.
fn main() {}
