//! How large a configuration may be.

#![forbid(unsafe_code)]

/// The longest configuration accepted, in bytes.
pub const MAX_CONFIG_LEN: usize = argdata::yaml::parse::DEFAULT_MAX_LEN;
