//! The `program_main` entry point.
