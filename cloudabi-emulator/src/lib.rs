//! Runs CloudABI executables on Linux.
//!
//! A CloudABI executable (a static position-independent ELF file with OSABI 17, built
//! for example with `cargo xtask cloudabi build`) expects a kernel that starts it with an
//! auxiliary vector and offers the 49 CloudABI system calls through a vDSO. This crate is
//! that kernel, in user space, for x86-64 and AArch64 Linux hosts:
//!
//! * [`elf`] validates the executable (typed [`elf::ElfError`]s for anything else);
//! * [`loader`] maps its segments at a kernel-randomized base and builds the auxiliary
//!   vector (argdata copy, random canary, random v4 UUID as process ID, thread ID, CPU
//!   count, page size, program headers, vDSO);
//! * [`vdso`] builds the vDSO image: one `cloudabi_sys_*` trampoline per system call that
//!   swaps the guest's thread pointer word for the host's, calls
//!   [`syscalls::dispatch`] and swaps back (see [`tls`]);
//! * [`syscalls`] implements the system calls against a per-process descriptor table
//!   with CloudABI rights.
//! * [`grant`] turns the mode a directory was granted with into its rights
//!   ([`Emulator::grant_mode`]; any other limit: [`Emulator::limit_rights`]).
//!
//! The guest runs in the emulator's own address space and threads; it is not a security
//! boundary by itself. Each guest thread is a host thread (`thread_create` starts one,
//! `thread_exit` returns to its start routine so the C library frees it); `proc_exec`
//! ends every other guest thread, then unmaps everything of the old program (image,
//! stack, startup block, `mem_map`ped memory) before entering the new one. `cloudabi-run --emulate` runs the emulator inside the same kernel
//! sandbox as native programs.
//!
//! Unsafe code is denied crate-wide and allowed only in the modules that map memory,
//! switch the thread pointer, fork or make raw system calls (each `unsafe` block with its
//! `// SAFETY:` reasoning); inside [`syscalls`], only the handler families and the
//! checked guest-memory access are allowed it. Modules without unsafe code forbid it.
//!
//! ```no_run
//! use std::os::fd::OwnedFd;
//! use cloudabi_emulator::Emulator;
//!
//! let program = OwnedFd::from(std::fs::File::open("target/cloudabi/x86_64-unknown-cloudabi/hello")?);
//! let stdout = OwnedFd::from(std::fs::File::options().write(true).open("/dev/stdout")?);
//! // Argdata: a sequence holding descriptor 0 (the program's fd 0 is `stdout`).
//! let argdata = vec![0x07, 0x85, 0x03, 0, 0, 0, 0];
//! let status = Emulator::new(program, argdata, vec![stdout]).run()?;
//! assert_eq!(status, 0);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

#![deny(unsafe_code)]

pub mod elf;
#[allow(unsafe_code)]
mod emulator;
mod error;
/// Grant modes and the rights of a directory granted with each (from `cloudabi-caps`).
pub use cloudabi_caps::grant;
mod host;
#[allow(unsafe_code)]
mod lifecycle;
#[allow(unsafe_code)]
pub mod loader;
#[allow(unsafe_code)]
mod program;
pub mod syscalls;
#[allow(unsafe_code)]
mod threads;
#[allow(unsafe_code)]
pub mod tls;
#[allow(unsafe_code)]
pub mod vdso;

pub use emulator::Emulator;
pub use error::Error;
