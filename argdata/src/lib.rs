//! Argdata: CloudABI's configuration format.
#![no_std]
#![forbid(unsafe_code)]
