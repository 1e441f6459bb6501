//! The thread pointer while guest code runs, and the jump into guest code.
//!
//! CloudABI programs keep their thread control block (TCB) pointer where the host's C
//! library keeps its own:
//!
//! * x86-64: the guest reads and writes the word at `%fs:0`. The `%fs` base stays the
//!   host thread's (glibc's TCB); glibc keeps its self pointer both at `%fs:0` and at
//!   `%fs:16`, so the vDSO trampolines restore `%fs:0` from `%fs:16` before calling the
//!   host and put the guest's value back afterwards.
//! * AArch64: the guest sets `tpidr_el0` itself. Its TCB's first word (`parent`, which
//!   CloudABI's C library copies into every TCB it installs) holds the host's
//!   `tpidr_el0`, which the trampolines load before calling the host.
//!
//! [`GuestTcb`] is the TCB a guest thread starts with; [`enter`] switches to the guest's
//! stack and thread pointer and calls its entry point.

/// The initial thread control block of a guest thread: CloudABI's `cloudabi_tcb_t`
/// (one pointer, `parent`) plus room so that the guest may read a 16-byte TCB.
#[repr(C, align(16))]
#[derive(Debug)]
pub struct GuestTcb {
    /// The runtime's private pointer: on AArch64 the host thread pointer.
    pub parent: u64,
    _reserved: u64,
}

impl GuestTcb {
    /// A TCB for a guest thread about to start on the calling host thread.
    #[must_use]
    pub fn for_current_thread() -> GuestTcb {
        GuestTcb {
            parent: host_thread_pointer(),
            _reserved: 0,
        }
    }
}

/// The calling host thread's thread pointer.
#[cfg(target_arch = "x86_64")]
fn host_thread_pointer() -> u64 {
    let tp: u64;
    // SAFETY: reads glibc's TCB self pointer at %fs:16, which exists for every thread
    // glibc created; no memory is written.
    unsafe {
        core::arch::asm!("mov {}, fs:[16]", out(reg) tp, options(nostack, readonly, preserves_flags));
    }
    tp
}

/// The calling host thread's thread pointer.
#[cfg(target_arch = "aarch64")]
fn host_thread_pointer() -> u64 {
    let tp: u64;
    // SAFETY: reading tpidr_el0 has no side effects.
    unsafe {
        core::arch::asm!("mrs {}, tpidr_el0", out(reg) tp, options(nostack, nomem, preserves_flags));
    }
    tp
}

/// Switches to the guest: installs `tcb` as the guest's TCB, moves to `stack_top`, and
/// calls `entry(arg0, arg1)`. Guest code leaves only through system calls that never
/// return (`proc_exit`, `thread_exit`, `proc_exec`); if the entry function does return
/// anyway, the process aborts with an invalid instruction.
///
/// # Safety
///
/// `entry` must be the address of code mapped executable, `stack_top` the 16-byte
/// aligned top of a writable stack nobody else uses, and `tcb` a pointer to a
/// [`GuestTcb`] that stays valid for as long as the thread runs guest code.
pub unsafe fn enter(entry: u64, arg0: u64, arg1: u64, stack_top: u64, tcb: *mut GuestTcb) -> ! {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: the caller guarantees a valid stack, entry and TCB; from here on the thread
    // belongs to the guest. `%fs:0` is the word the vDSO trampolines swap.
    unsafe {
        core::arch::asm!(
            "mov fs:[0], {tcb}",
            "mov rsp, {stack}",
            "xor ebp, ebp",
            "call {entry}",
            "ud2",
            tcb = in(reg) tcb,
            stack = in(reg) stack_top,
            entry = in(reg) entry,
            in("rdi") arg0,
            in("rsi") arg1,
            options(noreturn),
        );
    }
    #[cfg(target_arch = "aarch64")]
    // SAFETY: as above; on AArch64 the guest TCB is installed in tpidr_el0 and its
    // `parent` word already holds the host thread pointer for the trampolines.
    unsafe {
        core::arch::asm!(
            "msr tpidr_el0, x10",
            "mov sp, x11",
            "mov x29, xzr",
            "mov x30, xzr",
            "blr x9",
            "udf #0",
            in("x10") tcb,
            in("x11") stack_top,
            in("x9") entry,
            in("x0") arg0,
            in("x1") arg1,
            options(noreturn),
        );
    }
}
