//! `cloudabi-run`'s core: start a program with exactly the descriptors it is granted, numbered
//! as described in `docs/startup.md`, inside a kernel sandbox (namespaces with an empty root,
//! Landlock, seccomp, no capabilities).
//!
//! The configuration layer (YAML to descriptors and argdata) calls [`launch::Launch`]: it
//! grants descriptors, asks [`launch::Launch::fd_numbers`] which numbers the program will see,
//! encodes the argdata with those numbers, and runs.
//!
//! Linux only. Raw system calls are confined to the private `sys` module.

pub mod acceptor;
pub mod cgroup;
pub mod config;
pub mod emulate;
pub mod error;
pub mod launch;
pub mod sandbox;
mod sys;

pub use error::{LaunchError, SandboxError};
pub use sys::Stage;
