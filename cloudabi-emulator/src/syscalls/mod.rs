//! The CloudABI system calls, implemented on Linux.
