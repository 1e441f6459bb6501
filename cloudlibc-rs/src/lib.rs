//! C API shim.
