//! The C API of this project, implemented in Rust on the `argdata` crate:
//!
//! * `include/argdata.h`: the reference argdata C API (values, getters, iterators,
//!   builders, serialization, YAML printing, stream reader and writer);
//! * `include/program.h`: `program_main`, `program_get_raw_argdata`, `program_exec`;
//! * `include/capfs.h`: capability-checked file access ([`capfs`] for Rust).
//!
//! The reading half of `argdata.h` (getters and iterators, [`reader`]) and the layout of
//! a value (`node.rs`) are the same code on the host and for CloudABI executables
//! (`cloudabi`, `no_std`); the host adds creation, serialization, YAML printing, streams
//! and `capfs` (`ffi`).
//!
//! Built as `libcloudlibc_rs.a`, the library also carries the C `main` that receives the
//! argdata (`docs/startup.md`) and calls the program's `program_main`:
//!
//! ```text
//! cc prog.c -Icloudlibc-rs/include target/release/libcloudlibc_rs.a -lpthread -ldl -lm
//! ```

#![cfg_attr(target_os = "cloudabi", no_std)]
// A C library is mostly unsafe code, but a new module starts without it.
#![deny(unsafe_code)]

#[cfg(not(target_os = "cloudabi"))]
#[allow(unsafe_code)]
pub mod capfs;
#[cfg(target_os = "cloudabi")]
#[allow(unsafe_code)]
pub mod cloudabi;
#[cfg(not(target_os = "cloudabi"))]
#[allow(unsafe_code)]
pub mod ffi;
#[allow(unsafe_code)]
mod node;
#[allow(unsafe_code)]
pub mod reader;
