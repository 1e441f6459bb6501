//! The embedding API refuses anything that is not a CloudABI executable for this machine,
//! with a typed error and before starting anything.

use std::os::fd::OwnedFd;

use cloudabi_emulator::elf::{ElfError, Executable, HOST_MACHINE};
use cloudabi_emulator::{Emulator, Error};

fn emulate(bytes: &[u8]) -> Result<i32, Error> {
    let tmp = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(tmp.path(), bytes).unwrap();
    let fd = OwnedFd::from(std::fs::File::open(tmp.path()).unwrap());
    Emulator::new(fd, Vec::new(), Vec::new()).run()
}

#[test]
fn a_linux_executable_is_not_cloudabi() {
    let bytes = std::fs::read(std::env::current_exe().unwrap()).unwrap();
    assert!(matches!(
        emulate(&bytes),
        Err(Error::Elf(ElfError::NotCloudAbi(_)))
    ));
}

#[test]
fn text_and_empty_files_are_not_elf() {
    assert!(matches!(
        emulate(b"#!/bin/sh\necho hi\n"),
        Err(Error::Elf(ElfError::NotElf))
    ));
    assert!(matches!(
        emulate(b""),
        Err(Error::Elf(ElfError::Truncated(_)))
    ));
}

#[test]
fn a_patched_linux_executable_with_an_interpreter_is_refused() {
    // This test binary is dynamically linked: marking it CloudABI must still fail, on
    // PT_INTERP (or on its type if the toolchain made it non-PIE).
    let mut bytes = std::fs::read(std::env::current_exe().unwrap()).unwrap();
    bytes[7] = 17;
    let err = Executable::parse(&bytes, HOST_MACHINE).unwrap_err();
    assert!(
        matches!(err, ElfError::Interpreter | ElfError::NotPie(_)),
        "{err}"
    );
    assert!(matches!(emulate(&bytes), Err(Error::Elf(_))));
}
