//! Runs CloudABI executables on Linux.

pub mod syscalls;
