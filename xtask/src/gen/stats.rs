//! Figures about the generated output, printed after a run.

/// How many constants and layout assertions the generators wrote.
#[derive(Default)]
pub(super) struct Stats {
    pub(super) rust_asserts: usize,
    pub(super) rust_offsets: usize,
    pub(super) c_asserts: usize,
    pub(super) constants: usize,
}
