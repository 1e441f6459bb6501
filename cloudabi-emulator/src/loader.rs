//! Mapping a validated executable, and the startup block (auxiliary vector, argdata copy,
//! canary, process UUID, initial TCB) and stack a guest program starts with.
//!
//! [`crate::Emulator`] puts these together; each also works on its own:
//!
//! ```
//! use cloudabi_emulator::loader::{self, Mapping};
//!
//! // Anonymous memory, unmapped when the `Mapping` is dropped.
//! let page = Mapping::anonymous(4096, libc::PROT_READ | libc::PROT_WRITE)?;
//! assert_eq!(page.len(), 4096);
//! assert_eq!(page.addr() % 4096, 0);
//! // The process ID a program gets: a random (version 4, RFC 4122 variant) UUID.
//! let id = loader::random_uuid()?;
//! assert_eq!(id[6] >> 4, 4);
//! assert_eq!(id[8] >> 6, 0b10);
//! # Ok::<(), std::io::Error>(())
//! ```

use std::io;
use std::os::fd::{AsFd, AsRawFd};

use cloudabi_types::AuxType;

use crate::elf::{Executable, PF_R, PF_W, PF_X};
use crate::tls::GuestTcb;

/// Size of the main thread's stack (plus one guard page below it).
pub const STACK_SIZE: usize = 8 << 20;
/// Largest executable file read.
pub const MAX_EXECUTABLE_SIZE: u64 = 256 << 20;
/// Largest argdata accepted (as the native startup protocol).
pub const MAX_ARGDATA_SIZE: usize = 64 << 20;
const PAGE: usize = 4096;

/// An anonymous private mapping, unmapped on drop unless [`Mapping::leak`]ed.
#[derive(Debug)]
pub struct Mapping {
    addr: usize,
    len: usize,
}

impl Mapping {
    /// Maps `len` bytes (rounded up to pages) with protection `prot`, at an address the
    /// kernel picks (randomized by the kernel's ASLR).
    ///
    /// # Errors
    ///
    /// `mmap` failures.
    pub fn anonymous(len: usize, prot: libc::c_int) -> io::Result<Mapping> {
        let len = len
            .checked_next_multiple_of(PAGE)
            .ok_or_else(|| io::Error::from(io::ErrorKind::OutOfMemory))?;
        // SAFETY: a fresh anonymous mapping at a kernel-chosen address touches no
        // existing memory.
        let addr = unsafe {
            libc::mmap(
                core::ptr::null_mut(),
                len,
                prot,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_NORESERVE,
                -1,
                0,
            )
        };
        if addr == libc::MAP_FAILED {
            return Err(io::Error::last_os_error());
        }
        Ok(Mapping {
            addr: addr as usize,
            len,
        })
    }

    /// Start address.
    #[must_use]
    pub fn addr(&self) -> usize {
        self.addr
    }

    /// Length in bytes (a multiple of the page size).
    #[must_use]
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether the mapping is empty (never, for a successfully created one).
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Changes the protection of `len` bytes at `offset` (both page aligned).
    fn protect(&self, offset: usize, len: usize, prot: libc::c_int) -> io::Result<()> {
        assert!(offset.is_multiple_of(PAGE) && offset + len <= self.len);
        // SAFETY: the range lies inside this mapping, which no Rust reference points to
        // while its protection changes.
        if unsafe { libc::mprotect((self.addr + offset) as *mut libc::c_void, len, prot) } != 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(())
    }

    /// Copies `bytes` to `offset`, which must lie in a writable part of the mapping.
    fn write(&self, offset: usize, bytes: &[u8]) {
        assert!(offset + bytes.len() <= self.len);
        // SAFETY: the destination range is inside this mapping (checked above), writable
        // (the caller's duty) and not aliased by any Rust reference.
        unsafe {
            core::ptr::copy_nonoverlapping(
                bytes.as_ptr(),
                (self.addr + offset) as *mut u8,
                bytes.len(),
            );
        }
    }

    /// Gives the memory to the guest for good: it is never unmapped by this value.
    pub fn leak(self) -> usize {
        let addr = self.addr;
        core::mem::forget(self);
        addr
    }
}

impl Drop for Mapping {
    fn drop(&mut self) {
        // SAFETY: the range was mapped by `anonymous` and is owned by this value.
        unsafe {
            libc::munmap(self.addr as *mut libc::c_void, self.len);
        }
    }
}

fn prot_of(flags: u32) -> libc::c_int {
    let mut prot = libc::PROT_NONE;
    if flags & PF_R != 0 {
        prot |= libc::PROT_READ;
    }
    if flags & PF_W != 0 {
        prot |= libc::PROT_WRITE;
    }
    if flags & PF_X != 0 {
        prot |= libc::PROT_EXEC;
    }
    prot
}

/// Reads a whole executable from `fd` (from offset 0, at most [`MAX_EXECUTABLE_SIZE`]).
///
/// # Errors
///
/// Read errors, or `InvalidData` for a file above the limit.
pub fn read_executable(fd: impl AsFd) -> io::Result<Vec<u8>> {
    let fd = fd.as_fd();
    let mut bytes = Vec::new();
    let mut buf = vec![0u8; 1 << 16];
    loop {
        let offset = bytes.len() as u64;
        // SAFETY: `buf` is a valid writable buffer of the given length.
        let n = unsafe {
            libc::pread(
                fd.as_raw_fd(),
                buf.as_mut_ptr().cast(),
                buf.len(),
                offset as libc::off_t,
            )
        };
        match n {
            0 => return Ok(bytes),
            n if n > 0 => {
                let n = n as usize;
                if offset + n as u64 > MAX_EXECUTABLE_SIZE {
                    return Err(io::Error::new(
                        io::ErrorKind::InvalidData,
                        "executable is larger than 256 MiB",
                    ));
                }
                bytes.extend_from_slice(&buf[..n]);
            }
            _ => {
                let e = io::Error::last_os_error();
                if e.kind() != io::ErrorKind::Interrupted {
                    return Err(e);
                }
            }
        }
    }
}

/// A program mapped into memory.
#[derive(Debug)]
pub struct Image {
    /// The mapping holding all segments; its start is the load base.
    pub mapping: Mapping,
    /// Absolute entry point.
    pub entry: u64,
    /// Absolute address of the program headers (0 if no segment holds them).
    pub phdr: u64,
    /// Number of program headers.
    pub phnum: u16,
}

impl Image {
    /// Load base (`AT_BASE`).
    #[must_use]
    pub fn base(&self) -> u64 {
        self.mapping.addr() as u64
    }
}

/// Maps the segments of `exe` (parsed from `file`) at a kernel-chosen base with the
/// protections their flags ask for.
///
/// # Errors
///
/// `mmap`/`mprotect` failures.
pub fn map_image(file: &[u8], exe: &Executable) -> io::Result<Image> {
    let span =
        usize::try_from(exe.span).map_err(|_| io::Error::from(io::ErrorKind::OutOfMemory))?;
    let mapping = Mapping::anonymous(span, libc::PROT_NONE)?;
    // Pass 1: make every segment's pages writable and copy the file bytes in.
    let mut ranges = Vec::with_capacity(exe.segments.len());
    for s in &exe.segments {
        let start = (s.vaddr as usize) & !(PAGE - 1);
        let end = ((s.vaddr + s.memsz) as usize).next_multiple_of(PAGE);
        mapping.protect(start, end - start, libc::PROT_READ | libc::PROT_WRITE)?;
        let data = &file[s.offset as usize..(s.offset + s.filesz) as usize];
        mapping.write(s.vaddr as usize, data);
        ranges.push((start, end, prot_of(s.flags)));
    }
    // Pass 2: final protections; a page shared by two segments gets both protections.
    for (i, &(start, end, prot)) in ranges.iter().enumerate() {
        if end > start {
            mapping.protect(start, end - start, prot)?;
        }
        if i > 0 {
            let (_, prev_end, prev_prot) = ranges[i - 1];
            if prev_end > start {
                mapping.protect(start, PAGE, prot | prev_prot)?;
            }
        }
    }
    let base = mapping.addr() as u64;
    Ok(Image {
        entry: base + exe.entry,
        phdr: exe.phdr_vaddr.map_or(0, |v| base + v),
        phnum: exe.phnum,
        mapping,
    })
}

/// Fills `buf` from the kernel's random number generator.
///
/// # Errors
///
/// `getrandom` failures.
pub fn random_bytes(buf: &mut [u8]) -> io::Result<()> {
    let mut done = 0;
    while done < buf.len() {
        // SAFETY: writes at most `buf.len() - done` bytes into `buf`.
        let n = unsafe { libc::getrandom(buf[done..].as_mut_ptr().cast(), buf.len() - done, 0) };
        if n < 0 {
            let e = io::Error::last_os_error();
            if e.kind() != io::ErrorKind::Interrupted {
                return Err(e);
            }
        } else {
            done += n as usize;
        }
    }
    Ok(())
}

/// A random version 4 UUID (`AT_PID`).
///
/// # Errors
///
/// `getrandom` failures.
pub fn random_uuid() -> io::Result<[u8; 16]> {
    let mut id = [0u8; 16];
    random_bytes(&mut id)?;
    id[6] = (id[6] & 0x0f) | 0x40;
    id[8] = (id[8] & 0x3f) | 0x80;
    Ok(id)
}

/// The startup block: auxiliary vector, argdata copy, canary, process UUID and the main
/// thread's initial TCB, all in one read-write mapping the guest keeps.
#[derive(Debug)]
pub struct Startup {
    /// The mapping holding everything.
    pub mapping: Mapping,
    /// Address of the first auxiliary vector entry.
    pub auxv: u64,
    /// Address of the initial TCB.
    pub tcb: *mut GuestTcb,
}

const AUXV_ENTRIES: usize = 13;
const CANARY_LEN: usize = 16;

/// Builds the startup block for `image`, the vDSO at `vdso`, the given argdata, and
/// the main thread `tid`.
///
/// # Errors
///
/// `mmap` or `getrandom` failures; `InvalidInput` for argdata above
/// [`MAX_ARGDATA_SIZE`].
pub fn build_startup(image: &Image, vdso: u64, argdata: &[u8], tid: u32) -> io::Result<Startup> {
    if argdata.len() > MAX_ARGDATA_SIZE {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "argdata is larger than 64 MiB",
        ));
    }
    let tcb_off = 0;
    let auxv_off = 16;
    let canary_off = auxv_off + AUXV_ENTRIES * 16;
    let pid_off = canary_off + CANARY_LEN;
    let argdata_off = pid_off + 16;
    let mapping = Mapping::anonymous(
        argdata_off + argdata.len().max(1),
        libc::PROT_READ | libc::PROT_WRITE,
    )?;
    let base = mapping.addr() as u64;
    let tcb = GuestTcb::for_current_thread();
    let mut tcb_bytes = [0u8; 16];
    tcb_bytes[..8].copy_from_slice(&tcb.parent.to_le_bytes());
    mapping.write(tcb_off, &tcb_bytes);
    let mut canary = [0u8; CANARY_LEN];
    random_bytes(&mut canary)?;
    mapping.write(canary_off, &canary);
    mapping.write(pid_off, &random_uuid()?);
    mapping.write(argdata_off, argdata);
    // SAFETY: sysconf has no preconditions.
    let pagesz = unsafe { libc::sysconf(libc::_SC_PAGESIZE) }.max(1) as u64;
    let ncpus = std::thread::available_parallelism().map_or(1, |n| n.get()) as u64;
    let entries: [(AuxType, u64); AUXV_ENTRIES] = [
        (AuxType::ARGDATA, base + argdata_off as u64),
        (AuxType::ARGDATALEN, argdata.len() as u64),
        (AuxType::BASE, image.base()),
        (AuxType::CANARY, base + canary_off as u64),
        (AuxType::CANARYLEN, CANARY_LEN as u64),
        (AuxType::NCPUS, ncpus),
        (AuxType::PAGESZ, pagesz),
        (AuxType::PHDR, image.phdr),
        (AuxType::PHNUM, u64::from(image.phnum)),
        (AuxType::PID, base + pid_off as u64),
        (AuxType::SYSINFO_EHDR, vdso),
        (AuxType::TID, u64::from(tid)),
        (AuxType::NULL, 0),
    ];
    for (i, (ty, value)) in entries.into_iter().enumerate() {
        let mut e = [0u8; 16];
        e[..4].copy_from_slice(&ty.0.to_le_bytes());
        e[8..].copy_from_slice(&value.to_le_bytes());
        mapping.write(auxv_off + 16 * i, &e);
    }
    Ok(Startup {
        auxv: base + auxv_off as u64,
        tcb: (base as usize + tcb_off) as *mut GuestTcb,
        mapping,
    })
}

/// A guest stack of [`STACK_SIZE`] bytes above an inaccessible guard page.
///
/// # Errors
///
/// `mmap`/`mprotect` failures.
pub fn map_stack() -> io::Result<Mapping> {
    let m = Mapping::anonymous(STACK_SIZE + PAGE, libc::PROT_READ | libc::PROT_WRITE)?;
    m.protect(0, PAGE, libc::PROT_NONE)?;
    Ok(m)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::elf::{ELFOSABI_CLOUDABI, EM_X86_64, Executable};

    /// An executable with an R+X segment (file 0..0x1100, address 0) and an RW segment
    /// sharing its last page (file 0x1100..0x1180 at 0x1100, memory up to 0x3000).
    fn image() -> Vec<u8> {
        let mut f = vec![0u8; 0x1180];
        f[..4].copy_from_slice(b"\x7fELF");
        f[4] = 2;
        f[5] = 1;
        f[7] = ELFOSABI_CLOUDABI;
        f[16..18].copy_from_slice(&3u16.to_le_bytes());
        f[18..20].copy_from_slice(&EM_X86_64.to_le_bytes());
        f[24..32].copy_from_slice(&0x1000u64.to_le_bytes());
        f[32..40].copy_from_slice(&64u64.to_le_bytes());
        f[54..56].copy_from_slice(&56u16.to_le_bytes());
        f[56..58].copy_from_slice(&2u16.to_le_bytes());
        let segs: [(u32, u64, u64, u64); 2] = [
            (PF_R | PF_X, 0, 0x1100, 0x1100),
            (PF_R | PF_W, 0x1100, 0x80, 0x1f00),
        ];
        for (i, (flags, at, filesz, memsz)) in segs.into_iter().enumerate() {
            let p = 64 + 56 * i;
            f[p..p + 4].copy_from_slice(&1u32.to_le_bytes());
            f[p + 4..p + 8].copy_from_slice(&flags.to_le_bytes());
            f[p + 8..p + 16].copy_from_slice(&at.to_le_bytes());
            f[p + 16..p + 24].copy_from_slice(&at.to_le_bytes());
            f[p + 32..p + 40].copy_from_slice(&filesz.to_le_bytes());
            f[p + 40..p + 48].copy_from_slice(&memsz.to_le_bytes());
            f[p + 48..p + 56].copy_from_slice(&0x1000u64.to_le_bytes());
        }
        f[0x1000] = 0xc3;
        for (i, b) in f[0x1100..0x1180].iter_mut().enumerate() {
            *b = i as u8 + 1;
        }
        f
    }

    #[test]
    fn segments_are_copied_zero_filled_and_protected() {
        let file = image();
        let exe = Executable::parse(&file, EM_X86_64).unwrap();
        let img = map_image(&file, &exe).unwrap();
        assert_eq!(img.entry, img.base() + 0x1000);
        assert_eq!(img.phdr, img.base() + 64);
        // SAFETY: the whole span is mapped and at least readable (PF_R everywhere).
        let mem = unsafe { core::slice::from_raw_parts(img.base() as *const u8, 0x3000) };
        assert_eq!(&mem[..0x1180], &file[..]);
        assert!(mem[0x1180..0x3000].iter().all(|&b| b == 0));
        let maps = std::fs::read_to_string("/proc/self/maps").unwrap();
        let perms = |addr: u64| {
            maps.lines()
                .find_map(|l| {
                    let (range, rest) = l.split_once(' ')?;
                    let (lo, hi) = range.split_once('-')?;
                    let (lo, hi) = (
                        u64::from_str_radix(lo, 16).ok()?,
                        u64::from_str_radix(hi, 16).ok()?,
                    );
                    (lo <= addr && addr < hi).then(|| rest[..4].to_string())
                })
                .unwrap()
        };
        assert_eq!(perms(img.base()), "r-xp");
        // The shared page gets both segments' protections; the rest is RW only.
        assert_eq!(perms(img.base() + 0x1000), "rwxp");
        assert_eq!(perms(img.base() + 0x2000), "rw-p");
    }

    #[test]
    fn startup_block_holds_auxv_and_argdata() {
        let file = image();
        let exe = Executable::parse(&file, EM_X86_64).unwrap();
        let img = map_image(&file, &exe).unwrap();
        let s = build_startup(&img, 0x1234_5000, b"\x07\x85", 42).unwrap();
        let mut found = std::collections::HashMap::new();
        let mut at = s.auxv;
        loop {
            // SAFETY: the auxv lies in the startup mapping and ends with AT_NULL.
            let (ty, val) = unsafe { (*(at as *const u32), *((at + 8) as *const u64)) };
            if ty == 0 {
                break;
            }
            found.insert(ty, val);
            at += 16;
        }
        assert_eq!(found.len(), 12);
        assert_eq!(found[&AuxType::SYSINFO_EHDR.0], 0x1234_5000);
        assert_eq!(found[&AuxType::TID.0], 42);
        assert_eq!(found[&AuxType::BASE.0], img.base());
        assert_eq!(found[&AuxType::ARGDATALEN.0], 2);
        // SAFETY: ARGDATA points at the copy in the startup mapping, PID at 16 bytes.
        let (argdata, pid) = unsafe {
            (
                core::slice::from_raw_parts(found[&AuxType::ARGDATA.0] as *const u8, 2),
                core::slice::from_raw_parts(found[&AuxType::PID.0] as *const u8, 16),
            )
        };
        assert_eq!(argdata, b"\x07\x85");
        assert_eq!(pid[6] >> 4, 4, "version 4 UUID");
        assert_eq!(pid[8] >> 6, 2, "RFC 4122 variant");
        assert!(build_startup(&img, 0, &vec![0; MAX_ARGDATA_SIZE + 1], 1).is_err());
    }
}
