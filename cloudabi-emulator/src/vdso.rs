//! The vDSO: an in-memory ELF image whose dynamic symbol table exports one function
//! `cloudabi_sys_<name>` per CloudABI system call.
//!
//! A CloudABI program finds its system calls by walking the image that `AT_SYSINFO_EHDR`
//! points to: `PT_DYNAMIC`, then `DT_HASH` (for the symbol count), `DT_SYMTAB` and
//! `DT_STRTAB`. Each exported function is a small machine-code trampoline that
//!
//! 1. saves the guest's TLS word and puts the host's back (see [`crate::tls`]),
//! 2. calls [`crate::syscalls::dispatch`] with the C arguments and the system call number,
//! 3. restores the guest's TLS word and returns the errno.
//!
//! On x86-64 the first six arguments stay in their registers, the seventh (only
//! `mem_map` has one) is copied from the guest's stack, and the number is passed as the
//! eighth argument on the stack. On AArch64 all seven arguments stay in `x0`-`x6` and the
//! number goes to `x7`.
//!
//! ```
//! use cloudabi_emulator::{elf::HOST_MACHINE, vdso};
//!
//! // An image whose trampolines would call a dispatcher at this (made-up) address; it is
//! // only inspected here, never run.
//! let image = vdso::build_image(HOST_MACHINE, 0x1000);
//! // Found the way a CloudABI C library looks system calls up.
//! assert!(vdso::find_symbol(&image, "cloudabi_sys_fd_write").is_some());
//! assert!(vdso::find_symbol(&image, "cloudabi_sys_no_such_call").is_none());
//! // The image mapped for guests, built once per process around the real dispatcher.
//! let mapped = vdso::mapped()?;
//! assert!(vdso::find_symbol(mapped, "cloudabi_sys_proc_exit").is_some());
//! # Ok::<(), std::io::Error>(())
//! ```

use std::io;
use std::sync::OnceLock;

use cloudabi_types::SYSCALLS;

use crate::elf::{ELFOSABI_CLOUDABI, EM_AARCH64, EM_X86_64, PF_R, PF_X, PT_DYNAMIC, PT_LOAD};

const DT_NULL: u64 = 0;
const DT_HASH: u64 = 4;
const DT_STRTAB: u64 = 5;
const DT_SYMTAB: u64 = 6;
const DT_STRSZ: u64 = 10;
const DT_SYMENT: u64 = 11;
const STB_GLOBAL_STT_FUNC: u8 = 0x12;
/// Symbols point into the single loaded segment; there is no section header table, so
/// they name the absolute pseudo-section.
const SHN_ABS: u16 = 0xfff1;

/// The trampoline for system call `number` on x86-64 calling `dispatch`.
///
/// Entry: `rsp` is 8 modulo 16, `[rsp+8]` is the caller's seventh argument slot. After
/// pushing `rbx`, the number and the seventh argument, `rsp` is 16-byte aligned again at
/// the call, as the SysV ABI requires.
fn trampoline_x86_64(number: u32, dispatch: u64) -> Vec<u8> {
    let mut c = Vec::with_capacity(64);
    c.push(0x53); // push rbx
    c.extend_from_slice(&[0x64, 0x48, 0x8b, 0x1c, 0x25, 0, 0, 0, 0]); // mov rbx, fs:[0]
    c.extend_from_slice(&[0x64, 0x48, 0x8b, 0x04, 0x25, 16, 0, 0, 0]); // mov rax, fs:[16]
    c.extend_from_slice(&[0x64, 0x48, 0x89, 0x04, 0x25, 0, 0, 0, 0]); // mov fs:[0], rax
    c.extend_from_slice(&[0x48, 0x8b, 0x44, 0x24, 0x10]); // mov rax, [rsp+16]
    c.push(0x68); // push imm32 (the number, 8th argument)
    c.extend_from_slice(&number.to_le_bytes());
    c.push(0x50); // push rax (7th argument)
    c.extend_from_slice(&[0x48, 0xb8]); // movabs rax, dispatch
    c.extend_from_slice(&dispatch.to_le_bytes());
    c.extend_from_slice(&[0xff, 0xd0]); // call rax
    c.extend_from_slice(&[0x48, 0x83, 0xc4, 0x10]); // add rsp, 16
    c.extend_from_slice(&[0x64, 0x48, 0x89, 0x1c, 0x25, 0, 0, 0, 0]); // mov fs:[0], rbx
    c.extend_from_slice(&[0x0f, 0xb7, 0xc0]); // movzx eax, ax
    c.push(0x5b); // pop rbx
    c.push(0xc3); // ret
    c
}

/// The trampoline for system call `number` on AArch64 calling `dispatch`.
///
/// `tpidr_el0` holds the guest's TCB whose first word (`parent`) is the host's thread
/// pointer, as set up by [`crate::tls`].
fn trampoline_aarch64(number: u32, dispatch: u64) -> Vec<u8> {
    let words: [u32; 12] = [
        0xa9be_7bfd,                            // stp x29, x30, [sp, #-32]!
        0xf900_0bf3,                            // str x19, [sp, #16]
        0xd53b_d053,                            // mrs x19, tpidr_el0
        0xf940_0269,                            // ldr x9, [x19]
        0xd51b_d049,                            // msr tpidr_el0, x9
        0xd280_0007 | ((number & 0xffff) << 5), // movz x7, #number
        0x5800_00c9,                            // ldr x9, #24 (the literal below)
        0xd63f_0120,                            // blr x9
        0xd51b_d053,                            // msr tpidr_el0, x19
        0xf940_0bf3,                            // ldr x19, [sp, #16]
        0xa8c2_7bfd,                            // ldp x29, x30, [sp], #32
        0xd65f_03c0,                            // ret
    ];
    let mut c = Vec::with_capacity(56);
    for w in words {
        c.extend_from_slice(&w.to_le_bytes());
    }
    // `ldr x9, #24` at byte 24 reads the doubleword at byte 48, right after `ret`.
    c.extend_from_slice(&dispatch.to_le_bytes());
    c
}

/// The SysV ELF hash of a symbol name.
fn elf_hash(name: &[u8]) -> u32 {
    let mut h: u32 = 0;
    for &b in name {
        h = (h << 4).wrapping_add(u32::from(b));
        let g = h & 0xf000_0000;
        if g != 0 {
            h ^= g >> 24;
        }
        h &= !g;
    }
    h
}

fn put16(v: &mut [u8], at: usize, x: u16) {
    v[at..at + 2].copy_from_slice(&x.to_le_bytes());
}
fn put32(v: &mut [u8], at: usize, x: u32) {
    v[at..at + 4].copy_from_slice(&x.to_le_bytes());
}
fn put64(v: &mut [u8], at: usize, x: u64) {
    v[at..at + 8].copy_from_slice(&x.to_le_bytes());
}

/// Builds the vDSO image for `machine` ([`EM_X86_64`] or [`EM_AARCH64`]) whose
/// trampolines call the function at address `dispatch`. Addresses inside the image are
/// relative to its start, as in any shared object.
///
/// # Panics
///
/// If `machine` is neither of the two (a programming error, not input).
#[must_use]
pub fn build_image(machine: u16, dispatch: u64) -> Vec<u8> {
    let trampoline = match machine {
        EM_X86_64 => trampoline_x86_64,
        EM_AARCH64 => trampoline_aarch64,
        _ => panic!("no vDSO trampolines for ELF machine {machine}"),
    };
    let n = SYSCALLS.len();
    let nsyms = n + 1;
    let ehdr = 0usize;
    let phdrs = 64;
    let dynamic = phdrs + 2 * 56;
    let hash = dynamic + 6 * 16;
    let nbucket = 17usize;
    let symtab = (hash + 4 * (2 + nbucket + nsyms) + 7) & !7;
    let strtab = symtab + 24 * nsyms;
    let mut strings = vec![0u8];
    let mut name_offsets = Vec::with_capacity(n);
    for call in &SYSCALLS {
        name_offsets.push(strings.len());
        strings.extend_from_slice(b"cloudabi_sys_");
        strings.extend_from_slice(call.name.as_bytes());
        strings.push(0);
    }
    let text = (strtab + strings.len() + 15) & !15;
    let mut code = Vec::new();
    let mut code_offsets = Vec::with_capacity(n);
    for (number, _) in SYSCALLS.iter().enumerate() {
        while code.len() % 16 != 0 {
            code.push(if machine == EM_X86_64 { 0xcc } else { 0 });
        }
        code_offsets.push(text + code.len());
        code.extend(trampoline(number as u32, dispatch));
    }
    let size = text + code.len();
    let mut v = vec![0u8; size];

    // ELF header.
    v[ehdr..ehdr + 4].copy_from_slice(b"\x7fELF");
    v[4] = 2; // ELFCLASS64
    v[5] = 1; // little endian
    v[6] = 1; // EV_CURRENT
    v[7] = ELFOSABI_CLOUDABI;
    put16(&mut v, 16, 3); // ET_DYN
    put16(&mut v, 18, machine);
    put32(&mut v, 20, 1);
    put64(&mut v, 32, phdrs as u64);
    put16(&mut v, 52, 64);
    put16(&mut v, 54, 56);
    put16(&mut v, 56, 2);
    put16(&mut v, 58, 64);

    // PT_LOAD covering the whole image, and PT_DYNAMIC.
    let load = phdrs;
    put32(&mut v, load, PT_LOAD);
    put32(&mut v, load + 4, PF_R | PF_X);
    put64(&mut v, load + 32, size as u64);
    put64(&mut v, load + 40, size as u64);
    put64(&mut v, load + 48, 4096);
    let dynh = phdrs + 56;
    put32(&mut v, dynh, PT_DYNAMIC);
    put32(&mut v, dynh + 4, PF_R);
    for field in [8, 16, 24] {
        put64(&mut v, dynh + field, dynamic as u64);
    }
    put64(&mut v, dynh + 32, 6 * 16);
    put64(&mut v, dynh + 40, 6 * 16);
    put64(&mut v, dynh + 48, 8);

    // Dynamic section.
    let entries = [
        (DT_HASH, hash as u64),
        (DT_STRTAB, strtab as u64),
        (DT_SYMTAB, symtab as u64),
        (DT_STRSZ, strings.len() as u64),
        (DT_SYMENT, 24),
        (DT_NULL, 0),
    ];
    for (i, (tag, val)) in entries.into_iter().enumerate() {
        put64(&mut v, dynamic + 16 * i, tag);
        put64(&mut v, dynamic + 16 * i + 8, val);
    }

    // Symbols (index 0 is the null symbol).
    for i in 0..n {
        let at = symtab + 24 * (i + 1);
        put32(&mut v, at, name_offsets[i] as u32);
        v[at + 4] = STB_GLOBAL_STT_FUNC;
        put16(&mut v, at + 6, SHN_ABS);
        put64(&mut v, at + 8, code_offsets[i] as u64);
        let len = if i + 1 < n {
            code_offsets[i + 1] - code_offsets[i]
        } else {
            size - code_offsets[i]
        };
        put64(&mut v, at + 16, len as u64);
    }
    v[strtab..strtab + strings.len()].copy_from_slice(&strings);

    // SysV hash table: nbucket, nchain, buckets, chains.
    put32(&mut v, hash, nbucket as u32);
    put32(&mut v, hash + 4, nsyms as u32);
    let buckets = hash + 8;
    let chains = buckets + 4 * nbucket;
    for (i, call) in SYSCALLS.iter().enumerate() {
        let sym = (i + 1) as u32;
        let mut name = b"cloudabi_sys_".to_vec();
        name.extend_from_slice(call.name.as_bytes());
        let b = elf_hash(&name) as usize % nbucket;
        // Prepend to the bucket's chain.
        let head = u32::from_le_bytes(
            v[buckets + 4 * b..buckets + 4 * b + 4]
                .try_into()
                .unwrap_or([0; 4]),
        );
        put32(&mut v, chains + 4 * sym as usize, head);
        put32(&mut v, buckets + 4 * b, sym);
    }

    v[text..].copy_from_slice(&code);
    v
}

/// Reads a little-endian `u32`/`u64` at `at`, if in bounds.
fn get32(v: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_le_bytes(
        v.get(at..at.checked_add(4)?)?.try_into().ok()?,
    ))
}
fn get64(v: &[u8], at: usize) -> Option<u64> {
    Some(u64::from_le_bytes(
        v.get(at..at.checked_add(8)?)?.try_into().ok()?,
    ))
}
fn index(v: u64) -> Option<usize> {
    usize::try_from(v).ok()
}

/// Finds the exported function `name` in a vDSO `image` the way a CloudABI C library
/// does (`PT_DYNAMIC`, then `DT_HASH`, `DT_SYMTAB`, `DT_STRTAB`) and returns its offset
/// from the image's start. Every read is bounds-checked: a malformed image gives `None`.
#[must_use]
pub fn find_symbol(image: &[u8], name: &str) -> Option<u64> {
    let phoff = index(get64(image, 32)?)?;
    let phnum = usize::from(u16::from_le_bytes([*image.get(56)?, *image.get(57)?]));
    let dynamic = (0..phnum)
        .map(|i| phoff + 56 * i)
        .find(|&p| get32(image, p) == Some(PT_DYNAMIC))
        .and_then(|p| get64(image, p + 16))?;
    let (mut nsyms, mut sym, mut str) = (0, 0, 0);
    let mut d = index(dynamic)?;
    loop {
        match get64(image, d)? {
            DT_NULL => break,
            DT_HASH => nsyms = get32(image, index(get64(image, d + 8)?)?.checked_add(4)?)?,
            DT_SYMTAB => sym = index(get64(image, d + 8)?)?,
            DT_STRTAB => str = index(get64(image, d + 8)?)?,
            _ => {}
        }
        d = d.checked_add(16)?;
    }
    for i in 1..nsyms as usize {
        let s = sym.checked_add(i.checked_mul(24)?)?;
        if *image.get(s + 4)? != STB_GLOBAL_STT_FUNC {
            continue;
        }
        let off = str.checked_add(get32(image, s)? as usize)?;
        let rest = image.get(off..)?;
        let end = rest.iter().position(|&c| c == 0)?;
        if &rest[..end] == name.as_bytes() {
            return get64(image, s + 8);
        }
    }
    None
}

/// The vDSO of this process for the host machine, mapped read-only and executable on
/// first use (its trampolines call [`crate::syscalls::dispatch`]). It stays mapped for
/// the life of the process.
///
/// # Errors
///
/// `mmap`/`mprotect` failures (of the first call; later calls repeat the error).
pub fn mapped() -> io::Result<&'static [u8]> {
    static VDSO: OnceLock<Result<(usize, usize), (io::ErrorKind, String)>> = OnceLock::new();
    let result = VDSO.get_or_init(|| {
        let dispatch = crate::syscalls::dispatch as *const () as usize as u64;
        let image = build_image(crate::elf::HOST_MACHINE, dispatch);
        let fail = |e: io::Error| (e.kind(), e.to_string());
        let mapping =
            crate::loader::Mapping::anonymous(image.len(), libc::PROT_READ | libc::PROT_WRITE)
                .map_err(fail)?;
        // SAFETY: the mapping was just created with at least `image.len()` writable bytes
        // and nothing else refers to it.
        unsafe {
            core::ptr::copy_nonoverlapping(image.as_ptr(), mapping.addr() as *mut u8, image.len());
        }
        // SAFETY: changes the protection of the mapping created above.
        let r = unsafe {
            libc::mprotect(
                mapping.addr() as *mut libc::c_void,
                mapping.len(),
                libc::PROT_READ | libc::PROT_EXEC,
            )
        };
        if r != 0 {
            return Err(fail(io::Error::last_os_error()));
        }
        Ok((mapping.leak(), image.len()))
    });
    match result {
        // SAFETY: the range is mapped readable for the rest of the process (leaked above)
        // and never written again.
        Ok((addr, len)) => Ok(unsafe { core::slice::from_raw_parts(*addr as *const u8, *len) }),
        Err((kind, msg)) => Err(io::Error::new(*kind, msg.clone())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_syscall_is_exported_on_both_machines() {
        for machine in [EM_X86_64, EM_AARCH64] {
            let v = build_image(machine, 0x1122_3344_5566_7788);
            assert_eq!(get32(&v, 64), Some(PT_LOAD));
            assert_eq!(v[7], ELFOSABI_CLOUDABI);
            let mut seen = Vec::new();
            for call in &SYSCALLS {
                let at = find_symbol(&v, &format!("cloudabi_sys_{}", call.name))
                    .unwrap_or_else(|| panic!("{} missing", call.name));
                assert!((at as usize) < v.len());
                assert_eq!(at % 16, 0);
                seen.push(at);
            }
            seen.dedup();
            assert_eq!(seen.len(), SYSCALLS.len());
            assert_eq!(find_symbol(&v, "cloudabi_sys_nonexistent"), None);
            // Truncated images never panic.
            for len in (0..v.len()).step_by(7) {
                let _ = find_symbol(&v[..len], "cloudabi_sys_fd_write");
            }
        }
    }

    /// The SysV hash table leads to every symbol too (for consumers that use it).
    #[test]
    fn hash_chains_find_every_symbol() {
        let v = build_image(EM_X86_64, 0);
        let word = |at: usize| get32(&v, at).unwrap() as usize;
        let hash = 64 + 2 * 56 + 6 * 16;
        let symtab = (hash + 4 * (2 + 17 + SYSCALLS.len() + 1) + 7) & !7;
        let strtab = symtab + 24 * (SYSCALLS.len() + 1);
        let (nbucket, nchain) = (word(hash), word(hash + 4));
        assert_eq!(nchain, SYSCALLS.len() + 1);
        for call in &SYSCALLS {
            let name = format!("cloudabi_sys_{}", call.name);
            let mut i = word(hash + 8 + 4 * (elf_hash(name.as_bytes()) as usize % nbucket));
            let mut found = false;
            while i != 0 {
                let off = strtab + word(symtab + 24 * i);
                if v[off..].starts_with(name.as_bytes()) && v[off + name.len()] == 0 {
                    found = true;
                    break;
                }
                i = word(hash + 8 + 4 * nbucket + 4 * i);
            }
            assert!(found, "{name} not reachable through the hash table");
        }
    }

    #[test]
    fn trampolines_embed_number_and_dispatcher() {
        let t = trampoline_x86_64(48, 0xdead_beef_0000_1234);
        assert!(t.windows(5).any(|w| w == [0x68, 48, 0, 0, 0]));
        assert!(
            t.windows(8)
                .any(|w| w == 0xdead_beef_0000_1234u64.to_le_bytes())
        );
        let t = trampoline_aarch64(48, 0xdead_beef_0000_1234);
        assert_eq!(get32(&t, 20), Some(0xd280_0007 | (48 << 5)));
        assert_eq!(get64(&t, 48), Some(0xdead_beef_0000_1234));
    }
}
