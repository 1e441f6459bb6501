//! [`Error`](enum@Error): why a guest could not be started.

#![forbid(unsafe_code)]

use std::io;

use thiserror::Error;

use crate::elf::ElfError;

/// Why a guest could not be started.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum Error {
    /// Reading the executable failed.
    #[error("reading the executable: {0}")]
    Read(#[source] io::Error),
    /// The file is not a CloudABI executable for this machine.
    #[error(transparent)]
    Elf(#[from] ElfError),
    /// Mapping memory or creating the startup data failed.
    #[error("loading the executable: {0}")]
    Load(#[source] io::Error),
    /// Classifying the granted descriptors failed.
    #[error("setting up descriptors: {0}")]
    Descriptors(#[source] io::Error),
    /// `fork` or `waitpid` failed (only [`Emulator::run`](crate::Emulator::run)).
    #[error("starting the emulated process: {0}")]
    Process(#[source] io::Error),
    /// [`Emulator::limit_rights`](crate::Emulator::limit_rights) or
    /// [`Emulator::grant_mode`](crate::Emulator::grant_mode) named a descriptor the
    /// program does not get.
    #[error("rights limited for descriptor {fd}, but the program gets only {count}")]
    NoSuchDescriptor {
        /// The descriptor named.
        fd: u32,
        /// How many descriptors the program gets (0 ... count-1).
        count: usize,
    },
}
