//! Process startup for CloudABI: the work between the kernel's jump to the entry point
//! and the program's main function.

use core::cell::UnsafeCell;

use cloudabi_types::AuxType;

use super::sys;

#[cfg(target_arch = "x86_64")]
const R_RELATIVE: u32 = 8;
#[cfg(target_arch = "aarch64")]
const R_RELATIVE: u32 = 1027;

/// What the auxiliary vector told the program.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Aux {
    pub(crate) argdata: usize,
    pub(crate) argdata_len: usize,
    pub(crate) base: usize,
    pub(crate) phdr: usize,
    pub(crate) phnum: usize,
    pub(crate) pagesz: usize,
    pub(crate) vdso: usize,
}

/// Reads the auxiliary vector.
///
/// # Safety
///
/// `auxv` must point to a vector of 16-byte entries ending with `AT_NULL`.
unsafe fn read_auxv(mut auxv: *const u64) -> Aux {
    let mut a = Aux {
        pagesz: 4096,
        ..Aux::default()
    };
    loop {
        // SAFETY: each entry is two words (type in the low 32 bits, then the value).
        let (ty, val) = unsafe { (*auxv as u32, *auxv.add(1) as usize) };
        match AuxType(ty) {
            AuxType::NULL => return a,
            AuxType::ARGDATA => a.argdata = val,
            AuxType::ARGDATALEN => a.argdata_len = val,
            AuxType::BASE => a.base = val,
            AuxType::PHDR => a.phdr = val,
            AuxType::PHNUM => a.phnum = val,
            AuxType::PAGESZ => a.pagesz = val.max(1),
            AuxType::SYSINFO_EHDR => a.vdso = val,
            _ => {}
        }
        // SAFETY: not at AT_NULL yet, so the next entry exists.
        auxv = unsafe { auxv.add(2) };
    }
}

/// Applies the executable's `R_*_RELATIVE` relocations. Returns the page-rounded
/// `PT_GNU_RELRO` range, if any, and whether every relocation was understood.
///
/// Runs before any global is touched: it reads only the auxiliary vector's values and
/// the executable's own headers.
///
/// # Safety
///
/// `aux` must describe this very executable as loaded by the kernel.
unsafe fn relocate(aux: &Aux) -> (Option<(usize, usize)>, bool) {
    let mut dynamic = None;
    let mut relro = None;
    for i in 0..aux.phnum {
        // SAFETY: AT_PHDR/AT_PHNUM describe the loaded program header table.
        let (ty, vaddr, memsz) = unsafe {
            let ph = (aux.phdr + 56 * i) as *const u8;
            (
                (ph as *const u32).read_unaligned(),
                (ph.add(16) as *const u64).read_unaligned() as usize,
                (ph.add(40) as *const u64).read_unaligned() as usize,
            )
        };
        match ty {
            2 => dynamic = Some(aux.base + vaddr),
            0x6474_e552 => {
                let start = (aux.base + vaddr).next_multiple_of(aux.pagesz);
                let end = (aux.base + vaddr + memsz) / aux.pagesz * aux.pagesz;
                if end > start {
                    relro = Some((start, end - start));
                }
            }
            _ => {}
        }
    }
    let Some(dynamic) = dynamic else {
        return (relro, true);
    };
    let (mut rela, mut relasz) = (0usize, 0usize);
    let mut d = dynamic as *const u64;
    loop {
        // SAFETY: the dynamic section is a DT_NULL-terminated array of tag/value pairs.
        let (tag, val) = unsafe { (*d, *d.add(1) as usize) };
        match tag {
            0 => break,
            7 => rela = aux.base + val,
            8 => relasz = val,
            _ => {}
        }
        // SAFETY: not at DT_NULL yet.
        d = unsafe { d.add(2) };
    }
    let mut complete = true;
    let mut r = rela as *const u64;
    while relasz >= 24 {
        // SAFETY: DT_RELA/DT_RELASZ describe the relocation table; RELATIVE targets lie in
        // the writable part of the image.
        unsafe {
            let (offset, info, addend) = (*r as usize, *r.add(1), *r.add(2) as usize);
            if info as u32 == R_RELATIVE {
                ((aux.base + offset) as *mut usize).write_unaligned(aux.base.wrapping_add(addend));
            } else {
                complete = false;
            }
            r = r.add(3);
        }
        relasz -= 24;
    }
    (relro, complete)
}

/// The main thread's thread control block: `parent` first, as CloudABI defines it.
#[repr(C, align(16))]
struct Tcb(UnsafeCell<[usize; 2]>);

// SAFETY: written once during single-threaded startup, then only by the CPU's view of the
// thread pointer.
unsafe impl Sync for Tcb {}

static MAIN_TCB: Tcb = Tcb(UnsafeCell::new([0; 2]));

/// Installs the main thread's TCB, copying the runtime's `parent` word from the TCB the
/// kernel started the thread with.
///
/// # Safety
///
/// Call once, at startup, on the main thread.
unsafe fn install_tcb() {
    let tcb = MAIN_TCB.0.get();
    // SAFETY: the kernel started this thread with a valid TCB pointer; MAIN_TCB is ours.
    unsafe {
        #[cfg(target_arch = "x86_64")]
        {
            let old: *const usize;
            core::arch::asm!("mov {}, fs:[0]", out(reg) old, options(nostack, readonly));
            if !old.is_null() {
                (*tcb)[0] = *old;
            }
            core::arch::asm!("mov fs:[0], {}", in(reg) tcb, options(nostack));
        }
        #[cfg(target_arch = "aarch64")]
        {
            let old: *const usize;
            core::arch::asm!("mrs {}, tpidr_el0", out(reg) old, options(nostack, nomem));
            if !old.is_null() {
                (*tcb)[0] = *old;
            }
            core::arch::asm!("msr tpidr_el0, {}", in(reg) tcb, options(nostack, nomem));
        }
    }
}

/// The argdata bytes the program was started with (empty before startup).
static ARGDATA: UnsafeCell2 = UnsafeCell2(UnsafeCell::new((0, 0)));

struct UnsafeCell2(UnsafeCell<(usize, usize)>);
// SAFETY: written once during single-threaded startup, read-only afterwards.
unsafe impl Sync for UnsafeCell2 {}

/// The raw argdata.
pub(crate) fn argdata_bytes() -> &'static [u8] {
    // SAFETY: set once in `start` before main runs, to memory the kernel keeps mapped.
    unsafe {
        let (ptr, len) = *ARGDATA.0.get();
        if ptr == 0 {
            &[]
        } else {
            core::slice::from_raw_parts(ptr as *const u8, len)
        }
    }
}

/// Runs the whole startup and then `main`, and exits with its status.
///
/// # Safety
///
/// Call only from the entry point, with the kernel's auxiliary vector.
pub unsafe fn start(auxv: *const u64, main: fn(argdata::Argdata<'static>) -> u32) -> ! {
    // SAFETY: forwarded from the caller.
    let aux = unsafe { read_auxv(auxv) };
    // SAFETY: `aux` came from the kernel for this executable.
    let (relro, complete) = unsafe { relocate(&aux) };
    // Globals may be used from here on.
    if aux.vdso != 0 {
        // SAFETY: AT_SYSINFO_EHDR points to the kernel's vDSO image.
        unsafe { sys::link_vdso(aux.vdso as *const u8) };
    }
    if !complete {
        sys::proc_exit(127);
    }
    if let Some((start, len)) = relro {
        // SAFETY: the RELRO range holds only relocated pointers nothing writes again.
        let _ = unsafe { sys::mem_protect(start as *mut u8, len, 4) };
    }
    // SAFETY: single-threaded startup.
    unsafe {
        install_tcb();
        *ARGDATA.0.get() = (aux.argdata, aux.argdata_len);
    }
    let status = main(argdata::Argdata::new(argdata_bytes()));
    sys::proc_exit(status)
}
