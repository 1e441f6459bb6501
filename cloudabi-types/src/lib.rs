//! The CloudABI ABI, generated from `spec/` by `cargo xtask gen`.
#![no_std]
#![forbid(unsafe_code)]
