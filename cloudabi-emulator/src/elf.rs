//! Parsing and validating CloudABI executables.
//!
//! A CloudABI executable is a 64-bit little-endian ELF file of type `ET_DYN` (a static
//! position-independent executable) whose `EI_OSABI` byte is 17 (`ELFOSABI_CLOUDABI`).
//! It has no interpreter: the program relocates itself at startup. [`Executable::parse`]
//! checks all of that, and every program header the loader relies on, before anything
//! is mapped; untrusted bytes give an [`ElfError`], never a panic.
//!
//! ```
//! use cloudabi_emulator::elf::{ElfError, Executable, HOST_MACHINE};
//!
//! // A file that does not start with the ELF magic number.
//! let err = Executable::parse(b"#!/bin/sh\n", HOST_MACHINE).unwrap_err();
//! assert!(matches!(err, ElfError::NotElf));
//! // The magic number alone is not a whole ELF header.
//! let err = Executable::parse(b"\x7fELF", HOST_MACHINE).unwrap_err();
//! assert!(matches!(err, ElfError::Truncated(_)));
//! ```

#![forbid(unsafe_code)]

use thiserror::Error;

/// `EI_OSABI` value of CloudABI executables.
pub const ELFOSABI_CLOUDABI: u8 = 17;
/// `e_machine` of x86-64.
pub const EM_X86_64: u16 = 62;
/// `e_machine` of AArch64.
pub const EM_AARCH64: u16 = 183;

/// `e_machine` of the architecture this emulator runs on.
#[cfg(target_arch = "x86_64")]
pub const HOST_MACHINE: u16 = EM_X86_64;
/// `e_machine` of the architecture this emulator runs on.
#[cfg(target_arch = "aarch64")]
pub const HOST_MACHINE: u16 = EM_AARCH64;

pub(crate) const PT_LOAD: u32 = 1;
pub(crate) const PT_DYNAMIC: u32 = 2;
pub(crate) const PT_INTERP: u32 = 3;
pub(crate) const PT_PHDR: u32 = 6;
pub(crate) const PF_X: u32 = 1;
pub(crate) const PF_W: u32 = 2;
pub(crate) const PF_R: u32 = 4;

const EHDR_SIZE: usize = 64;
const PHDR_SIZE: usize = 56;
const ET_DYN: u16 = 3;
/// Largest number of program headers accepted.
const MAX_PHNUM: usize = 256;
/// Largest address span a program's segments may cover (the sum of all `PT_LOAD`s).
pub const MAX_IMAGE_SPAN: u64 = 1 << 32;
/// Page size segments must be aligned to (congruence of offset and address).
const PAGE: u64 = 4096;

/// Why a file is not a CloudABI executable this emulator can run.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ElfError {
    /// The file is shorter than the structure that had to be read.
    #[error("truncated ELF file: {0} ends beyond the end of the file")]
    Truncated(&'static str),
    /// The first four bytes are not `\x7fELF`.
    #[error("not an ELF file")]
    NotElf,
    /// Only 64-bit little-endian files are CloudABI executables for x86-64 and AArch64.
    #[error("not a 64-bit little-endian ELF file")]
    WrongClass,
    /// `EI_OSABI` is not 17.
    #[error("not a CloudABI executable (ELF OSABI {0}, expected 17)")]
    NotCloudAbi(u8),
    /// The file is not `ET_DYN`: CloudABI executables are position independent.
    #[error("not a position-independent executable (ELF type {0})")]
    NotPie(u16),
    /// The file is for another processor.
    #[error("executable is for ELF machine {found}, this emulator runs machine {expected}")]
    WrongMachine {
        /// `e_machine` of the host.
        expected: u16,
        /// `e_machine` of the file.
        found: u16,
    },
    /// Program header table size or entry size are not what ELF64 prescribes.
    #[error("malformed program header table")]
    BadProgramHeaders,
    /// A `PT_INTERP` header: the program wants a dynamic linker, which CloudABI lacks.
    #[error("dynamically linked executable (PT_INTERP): CloudABI executables are static")]
    Interpreter,
    /// A loadable segment is inconsistent (file size above memory size, bad alignment,
    /// overflowing addresses, overlap with an earlier segment, or outside the file).
    #[error("malformed loadable segment {index}: {reason}")]
    BadSegment {
        /// Index of the program header.
        index: usize,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// No `PT_LOAD` segment at all.
    #[error("no loadable segments")]
    NoSegments,
    /// The entry point lies outside every executable segment.
    #[error("entry point {0:#x} is not inside an executable segment")]
    BadEntry(u64),
    /// The segments span more than [`MAX_IMAGE_SPAN`] bytes of address space.
    #[error("segments span {0:#x} bytes, more than the supported maximum")]
    TooLarge(u64),
}

/// One `PT_LOAD` segment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Segment {
    /// Offset of the segment's bytes in the file.
    pub offset: u64,
    /// Address relative to the load base.
    pub vaddr: u64,
    /// Bytes taken from the file.
    pub filesz: u64,
    /// Bytes in memory (the rest is zero-filled).
    pub memsz: u64,
    /// `PF_R`, `PF_W`, `PF_X` bits.
    pub flags: u32,
}

/// A validated CloudABI executable.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Executable {
    /// `e_machine`.
    pub machine: u16,
    /// Entry point relative to the load base.
    pub entry: u64,
    /// Offset of the program headers in the file.
    pub phoff: u64,
    /// Number of program headers.
    pub phnum: u16,
    /// Address of the program headers relative to the load base, if a loaded segment
    /// contains them (used for `AT_PHDR`).
    pub phdr_vaddr: Option<u64>,
    /// The loadable segments in file order.
    pub segments: Vec<Segment>,
    /// One past the highest address any segment uses, relative to the base (page aligned).
    pub span: u64,
}

fn u16_at(b: &[u8], off: usize, what: &'static str) -> Result<u16, ElfError> {
    let s = b.get(off..off + 2).ok_or(ElfError::Truncated(what))?;
    Ok(u16::from_le_bytes([s[0], s[1]]))
}

fn u32_at(b: &[u8], off: usize, what: &'static str) -> Result<u32, ElfError> {
    let s = b.get(off..off + 4).ok_or(ElfError::Truncated(what))?;
    Ok(u32::from_le_bytes([s[0], s[1], s[2], s[3]]))
}

fn u64_at(b: &[u8], off: usize, what: &'static str) -> Result<u64, ElfError> {
    let s = b.get(off..off + 8).ok_or(ElfError::Truncated(what))?;
    let mut a = [0; 8];
    a.copy_from_slice(s);
    Ok(u64::from_le_bytes(a))
}

fn round_up(v: u64, to: u64) -> Option<u64> {
    v.checked_add(to - 1).map(|v| v & !(to - 1))
}

impl Executable {
    /// Validates `file` as a CloudABI executable for `machine` (usually [`HOST_MACHINE`]).
    ///
    /// # Errors
    ///
    /// An [`ElfError`] naming the first problem found.
    pub fn parse(file: &[u8], machine: u16) -> Result<Executable, ElfError> {
        if file.len() < 4 {
            return Err(ElfError::Truncated("ELF header"));
        }
        if &file[..4] != b"\x7fELF" {
            return Err(ElfError::NotElf);
        }
        if file.len() < EHDR_SIZE {
            return Err(ElfError::Truncated("ELF header"));
        }
        // EI_CLASS = ELFCLASS64, EI_DATA = ELFDATA2LSB.
        if file[4] != 2 || file[5] != 1 {
            return Err(ElfError::WrongClass);
        }
        if file[7] != ELFOSABI_CLOUDABI {
            return Err(ElfError::NotCloudAbi(file[7]));
        }
        let e_type = u16_at(file, 16, "ELF header")?;
        if e_type != ET_DYN {
            return Err(ElfError::NotPie(e_type));
        }
        let found = u16_at(file, 18, "ELF header")?;
        if found != machine {
            return Err(ElfError::WrongMachine {
                expected: machine,
                found,
            });
        }
        let entry = u64_at(file, 24, "ELF header")?;
        let phoff = u64_at(file, 32, "ELF header")?;
        let phentsize = u16_at(file, 54, "ELF header")?;
        let phnum = u16_at(file, 56, "ELF header")?;
        if usize::from(phentsize) != PHDR_SIZE || phnum == 0 || usize::from(phnum) > MAX_PHNUM {
            return Err(ElfError::BadProgramHeaders);
        }
        let table_start = usize::try_from(phoff).map_err(|_| ElfError::BadProgramHeaders)?;
        let table_len = usize::from(phnum) * PHDR_SIZE;
        let table_end = table_start
            .checked_add(table_len)
            .ok_or(ElfError::BadProgramHeaders)?;
        if table_end > file.len() {
            return Err(ElfError::Truncated("program header table"));
        }

        let mut segments: Vec<Segment> = Vec::new();
        let mut phdr_vaddr = None;
        let mut explicit_phdr = None;
        for index in 0..usize::from(phnum) {
            let at = table_start + index * PHDR_SIZE;
            let p_type = u32_at(file, at, "program header")?;
            let flags = u32_at(file, at + 4, "program header")?;
            let offset = u64_at(file, at + 8, "program header")?;
            let vaddr = u64_at(file, at + 16, "program header")?;
            let filesz = u64_at(file, at + 32, "program header")?;
            let memsz = u64_at(file, at + 40, "program header")?;
            let align = u64_at(file, at + 48, "program header")?;
            match p_type {
                PT_INTERP => return Err(ElfError::Interpreter),
                PT_PHDR => explicit_phdr = Some(vaddr),
                PT_LOAD => {
                    let bad = |reason| ElfError::BadSegment { index, reason };
                    if filesz > memsz {
                        return Err(bad("file size exceeds memory size"));
                    }
                    if align > 1 && (!align.is_power_of_two() || align > 1 << 30) {
                        return Err(bad("alignment is not a power of two"));
                    }
                    if offset % PAGE != vaddr % PAGE {
                        return Err(bad("offset and address differ modulo the page size"));
                    }
                    let file_end = offset
                        .checked_add(filesz)
                        .ok_or(bad("file range overflows"))?;
                    if file_end > file.len() as u64 {
                        return Err(bad("file range lies outside the file"));
                    }
                    let end = vaddr
                        .checked_add(memsz)
                        .ok_or(bad("address range overflows"))?;
                    if end > MAX_IMAGE_SPAN {
                        return Err(ElfError::TooLarge(end));
                    }
                    // Segments come in address order and never overlap; two may share a
                    // page (the loader then gives it both protections).
                    if let Some(prev) = segments.last()
                        && vaddr < prev.vaddr + prev.memsz
                    {
                        return Err(bad("overlaps or precedes the previous segment"));
                    }
                    if phoff >= offset && (table_end as u64) <= file_end {
                        phdr_vaddr = Some(vaddr + (phoff - offset));
                    }
                    segments.push(Segment {
                        offset,
                        vaddr,
                        filesz,
                        memsz,
                        flags,
                    });
                }
                _ => {}
            }
        }
        let Some(last) = segments.last() else {
            return Err(ElfError::NoSegments);
        };
        let span = round_up(last.vaddr + last.memsz, PAGE).ok_or(ElfError::TooLarge(u64::MAX))?;
        if !segments
            .iter()
            .any(|s| s.flags & PF_X != 0 && entry >= s.vaddr && entry < s.vaddr + s.memsz)
        {
            return Err(ElfError::BadEntry(entry));
        }
        Ok(Executable {
            machine: found,
            entry,
            phoff,
            phnum,
            phdr_vaddr: explicit_phdr.or(phdr_vaddr),
            segments,
            span,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A minimal valid CloudABI executable: one R+X segment holding the headers and a
    /// two-byte entry point.
    fn minimal(machine: u16) -> Vec<u8> {
        let mut f = vec![0u8; 0x100];
        f[..4].copy_from_slice(b"\x7fELF");
        f[4] = 2;
        f[5] = 1;
        f[6] = 1;
        f[7] = ELFOSABI_CLOUDABI;
        f[16..18].copy_from_slice(&ET_DYN.to_le_bytes());
        f[18..20].copy_from_slice(&machine.to_le_bytes());
        f[24..32].copy_from_slice(&0xf0u64.to_le_bytes());
        f[32..40].copy_from_slice(&64u64.to_le_bytes());
        f[52..54].copy_from_slice(&64u16.to_le_bytes());
        f[54..56].copy_from_slice(&56u16.to_le_bytes());
        f[56..58].copy_from_slice(&1u16.to_le_bytes());
        let ph = 64;
        f[ph..ph + 4].copy_from_slice(&PT_LOAD.to_le_bytes());
        f[ph + 4..ph + 8].copy_from_slice(&(PF_R | PF_X).to_le_bytes());
        f[ph + 32..ph + 40].copy_from_slice(&0x100u64.to_le_bytes());
        f[ph + 40..ph + 48].copy_from_slice(&0x100u64.to_le_bytes());
        f[ph + 48..ph + 56].copy_from_slice(&0x1000u64.to_le_bytes());
        f
    }

    #[test]
    fn accepts_minimal_executable() {
        let exe = Executable::parse(&minimal(EM_X86_64), EM_X86_64).unwrap();
        assert_eq!(exe.entry, 0xf0);
        assert_eq!(exe.span, 0x1000);
        assert_eq!(exe.phdr_vaddr, Some(64));
        assert_eq!(exe.segments.len(), 1);
    }

    #[test]
    fn rejects_linux_osabi() {
        let mut f = minimal(EM_X86_64);
        f[7] = 0;
        assert_eq!(
            Executable::parse(&f, EM_X86_64),
            Err(ElfError::NotCloudAbi(0))
        );
    }

    #[test]
    fn rejects_wrong_machine_and_type() {
        let f = minimal(EM_AARCH64);
        assert_eq!(
            Executable::parse(&f, EM_X86_64),
            Err(ElfError::WrongMachine {
                expected: EM_X86_64,
                found: EM_AARCH64
            })
        );
        let mut f = minimal(EM_X86_64);
        f[16] = 2;
        assert_eq!(Executable::parse(&f, EM_X86_64), Err(ElfError::NotPie(2)));
    }

    #[test]
    fn rejects_interpreter_and_bad_entry() {
        let mut f = minimal(EM_X86_64);
        f[64..68].copy_from_slice(&PT_INTERP.to_le_bytes());
        assert_eq!(Executable::parse(&f, EM_X86_64), Err(ElfError::Interpreter));
        let mut f = minimal(EM_X86_64);
        f[24..32].copy_from_slice(&0x5000u64.to_le_bytes());
        assert_eq!(
            Executable::parse(&f, EM_X86_64),
            Err(ElfError::BadEntry(0x5000))
        );
    }

    #[test]
    fn rejects_segments_outside_file() {
        let mut f = minimal(EM_X86_64);
        f[64 + 32..64 + 40].copy_from_slice(&0x1000u64.to_le_bytes());
        f[64 + 40..64 + 48].copy_from_slice(&0x1000u64.to_le_bytes());
        assert!(matches!(
            Executable::parse(&f, EM_X86_64),
            Err(ElfError::BadSegment { index: 0, .. })
        ));
    }

    #[test]
    fn rejects_overlapping_segments() {
        let mut f = minimal(EM_X86_64);
        f.resize(0x200, 0);
        f[56..58].copy_from_slice(&2u16.to_le_bytes());
        let (a, b) = (64, 64 + 56);
        let first: Vec<u8> = f[a..a + 56].to_vec();
        f[b..b + 56].copy_from_slice(&first);
        // The second segment starts inside the first (0x80 < 0x100).
        f[b + 8..b + 16].copy_from_slice(&0x80u64.to_le_bytes());
        f[b + 16..b + 24].copy_from_slice(&0x80u64.to_le_bytes());
        assert!(matches!(
            Executable::parse(&f, EM_X86_64),
            Err(ElfError::BadSegment { index: 1, .. })
        ));
        // Right after it, in the same page: accepted.
        f[b + 8..b + 16].copy_from_slice(&0x100u64.to_le_bytes());
        f[b + 16..b + 24].copy_from_slice(&0x100u64.to_le_bytes());
        assert_eq!(Executable::parse(&f, EM_X86_64).unwrap().segments.len(), 2);
    }

    #[test]
    fn every_truncation_is_an_error() {
        let f = minimal(EM_X86_64);
        for len in 0..f.len() {
            assert!(
                Executable::parse(&f[..len], EM_X86_64).is_err(),
                "len {len}"
            );
        }
    }
}
