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
//! [`GuestTcb`] is the TCB a guest thread starts with. The crate-private entry points
//! below switch a host thread into guest code and back:
//!
//! * `enter_and_return` saves the host thread's callee-saved state in a `HostFrame`,
//!   switches to the guest's stack and thread pointer and calls the guest's entry point;
//!   it returns (like an ordinary call) once `leave` is called on that frame, from a
//!   system call such as `thread_exit` or from the signal handler that stops a thread
//!   for `proc_exec`. The thread's host stack frames are intact then, so a thread
//!   created with `pthread_create` can return from its start routine and the C library
//!   frees its stack.
//! * `enter_for_good` starts a replaced program on a thread that is already in
//!   `enter_and_return`: the earlier `HostFrame` stays the way back.
//! * `run_on_stack` continues on another stack (`proc_exec` moves onto the new
//!   program's stack before it unmaps the old one).
//!
//! ```
//! use cloudabi_emulator::tls::GuestTcb;
//!
//! // The TCB a guest thread starting on this host thread gets: its `parent` word is
//! // the host's thread pointer (which the AArch64 trampolines load again).
//! let tcb = GuestTcb::for_current_thread();
//! assert_ne!(tcb.parent, 0);
//! ```

use core::sync::atomic::{AtomicBool, AtomicU64, Ordering};

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

/// Where a guest thread goes back to in the host, and whether it runs emulator code.
///
/// The assembly below relies on the layout: the saved stack pointer at offset 0 and the
/// flag at [`HostFrame::IN_EMULATOR`].
#[repr(C)]
#[derive(Debug)]
pub(crate) struct HostFrame {
    /// The host stack pointer `enter_and_return` left its saved registers at (0 before).
    sp: AtomicU64,
    /// False while the thread runs guest code: set to false by the entry functions right
    /// before they jump into the guest, and to true by `leave` and by the system call
    /// dispatcher on entry (back to false when it returns to the guest).
    pub(crate) in_emulator: AtomicBool,
}

impl HostFrame {
    /// Offset of `in_emulator`, for the assembly.
    const IN_EMULATOR: usize = core::mem::offset_of!(HostFrame, in_emulator);

    /// A frame for a thread that runs emulator code and has not entered the guest yet.
    pub(crate) const fn new() -> HostFrame {
        HostFrame {
            sp: AtomicU64::new(0),
            in_emulator: AtomicBool::new(true),
        }
    }

    /// Whether `enter_and_return` has saved a way back in this frame.
    pub(crate) fn is_set(&self) -> bool {
        self.sp.load(Ordering::Acquire) != 0
    }
}

/// Saves the calling host thread's callee-saved registers (and, on AArch64, its thread
/// pointer and FPCR; on x86-64, MXCSR and the x87 control word) on its stack, records the
/// stack pointer in `frame`, marks the thread as running guest code, installs `tcb` as the
/// guest's TCB, moves to `stack_top` and calls `entry(arg0, arg1)`. Returns when [`leave`]
/// is called with `frame`. If the guest's entry function returns, the process dies with
/// an invalid instruction (guest threads end through system calls).
///
/// # Safety
///
/// `entry` must be the address of mapped guest code, `stack_top` the 16-byte aligned top
/// of a writable stack that nothing else uses, `tcb` a [`GuestTcb`] valid for as long as
/// the thread runs guest code, and `frame` a [`HostFrame`] that outlives the call and is
/// used by no other thread for entering.
#[cfg(target_arch = "x86_64")]
#[unsafe(naked)]
pub(crate) unsafe extern "C" fn enter_and_return(
    entry: u64,
    arg0: u64,
    arg1: u64,
    stack_top: u64,
    tcb: *mut GuestTcb,
    frame: *const HostFrame,
) {
    // Arguments: rdi entry, rsi arg0, rdx arg1, rcx stack_top, r8 tcb, r9 frame. The six
    // pushes plus the 8-byte slot for MXCSR and the x87 control word keep the saved area
    // 16-byte aligned; `leave` pops it in the opposite order.
    core::arch::naked_asm!(
        "push rbp",
        "push rbx",
        "push r12",
        "push r13",
        "push r14",
        "push r15",
        "sub rsp, 8",
        "stmxcsr dword ptr [rsp]",
        "fnstcw word ptr [rsp + 4]",
        "mov qword ptr [r9], rsp",
        "mov byte ptr [r9 + {in_emulator}], 0",
        "mov qword ptr fs:[0], r8",
        "mov rax, rdi",
        "mov rdi, rsi",
        "mov rsi, rdx",
        "mov rsp, rcx",
        "xor ebp, ebp",
        "call rax",
        "ud2",
        in_emulator = const HostFrame::IN_EMULATOR,
    )
}

/// See the x86-64 version.
///
/// # Safety
///
/// As for the x86-64 version.
#[cfg(target_arch = "aarch64")]
#[unsafe(naked)]
pub(crate) unsafe extern "C" fn enter_and_return(
    entry: u64,
    arg0: u64,
    arg1: u64,
    stack_top: u64,
    tcb: *mut GuestTcb,
    frame: *const HostFrame,
) {
    // Arguments: x0 entry, x1 arg0, x2 arg1, x3 stack_top, x4 tcb, x5 frame. Saved area
    // (176 bytes): x19-x30 at 0-95, d8-d15 at 96-159, FPCR and tpidr_el0 at 160-175.
    core::arch::naked_asm!(
        "sub sp, sp, #176",
        "stp x19, x20, [sp, #0]",
        "stp x21, x22, [sp, #16]",
        "stp x23, x24, [sp, #32]",
        "stp x25, x26, [sp, #48]",
        "stp x27, x28, [sp, #64]",
        "stp x29, x30, [sp, #80]",
        "stp d8, d9, [sp, #96]",
        "stp d10, d11, [sp, #112]",
        "stp d12, d13, [sp, #128]",
        "stp d14, d15, [sp, #144]",
        "mrs x9, fpcr",
        "mrs x10, tpidr_el0",
        "stp x9, x10, [sp, #160]",
        "mov x9, sp",
        "str x9, [x5]",
        "add x9, x5, #{in_emulator}",
        "stlrb wzr, [x9]",
        "msr tpidr_el0, x4",
        "mov x9, x0",
        "mov x0, x1",
        "mov x1, x2",
        "mov sp, x3",
        "mov x29, xzr",
        "mov x30, xzr",
        "blr x9",
        "udf #0",
        in_emulator = const HostFrame::IN_EMULATOR,
    )
}

/// Starts guest code like [`enter_and_return`] but saves nothing: the thread goes back
/// through the frame an earlier `enter_and_return` of this thread saved (`frame`, which
/// is only marked as running guest code here).
///
/// # Safety
///
/// As for [`enter_and_return`]; in addition, `frame` must be the thread's frame from an
/// `enter_and_return` that has not returned, and nothing on the current stack may be
/// needed any more.
#[cfg(target_arch = "x86_64")]
#[unsafe(naked)]
pub(crate) unsafe extern "C" fn enter_for_good(
    entry: u64,
    arg0: u64,
    arg1: u64,
    stack_top: u64,
    tcb: *mut GuestTcb,
    frame: *const HostFrame,
) -> ! {
    core::arch::naked_asm!(
        "mov byte ptr [r9 + {in_emulator}], 0",
        "mov qword ptr fs:[0], r8",
        "mov rax, rdi",
        "mov rdi, rsi",
        "mov rsi, rdx",
        "mov rsp, rcx",
        "xor ebp, ebp",
        "call rax",
        "ud2",
        in_emulator = const HostFrame::IN_EMULATOR,
    )
}

/// See the x86-64 version.
///
/// # Safety
///
/// As for the x86-64 version.
#[cfg(target_arch = "aarch64")]
#[unsafe(naked)]
pub(crate) unsafe extern "C" fn enter_for_good(
    entry: u64,
    arg0: u64,
    arg1: u64,
    stack_top: u64,
    tcb: *mut GuestTcb,
    frame: *const HostFrame,
) -> ! {
    core::arch::naked_asm!(
        "add x9, x5, #{in_emulator}",
        "stlrb wzr, [x9]",
        "msr tpidr_el0, x4",
        "mov x9, x0",
        "mov x0, x1",
        "mov x1, x2",
        "mov sp, x3",
        "mov x29, xzr",
        "mov x30, xzr",
        "blr x9",
        "udf #0",
        in_emulator = const HostFrame::IN_EMULATOR,
    )
}

/// Goes back to the host: restores the host thread pointer, marks the thread as running
/// emulator code, and returns from the `enter_and_return` that filled in `frame`, with
/// the registers it saved. Everything the thread had on the guest's stack (and on a
/// signal stack, when called from a signal handler) is abandoned without being dropped.
///
/// # Safety
///
/// `frame` must belong to the calling thread and have been filled in by an
/// `enter_and_return` that has not returned yet ([`HostFrame::is_set`]); nothing on the
/// current stack may need dropping, and the thread must hold no lock it would have to
/// release.
#[cfg(target_arch = "x86_64")]
#[unsafe(naked)]
pub(crate) unsafe extern "C" fn leave(frame: *const HostFrame) -> ! {
    // Argument: rdi frame. `fninit` empties the x87 stack (the guest may have been stopped
    // in the middle of x87 or MMX code) before the saved control word is loaded again.
    core::arch::naked_asm!(
        "mov rax, qword ptr fs:[16]",
        "mov qword ptr fs:[0], rax",
        "mov byte ptr [rdi + {in_emulator}], 1",
        "mov rsp, qword ptr [rdi]",
        "fninit",
        "fldcw word ptr [rsp + 4]",
        "ldmxcsr dword ptr [rsp]",
        "add rsp, 8",
        "pop r15",
        "pop r14",
        "pop r13",
        "pop r12",
        "pop rbx",
        "pop rbp",
        "cld",
        "ret",
        in_emulator = const HostFrame::IN_EMULATOR,
    )
}

/// See the x86-64 version.
///
/// # Safety
///
/// As for the x86-64 version.
#[cfg(target_arch = "aarch64")]
#[unsafe(naked)]
pub(crate) unsafe extern "C" fn leave(frame: *const HostFrame) -> ! {
    core::arch::naked_asm!(
        "add x9, x0, #{in_emulator}",
        "mov w10, #1",
        "stlrb w10, [x9]",
        "ldr x9, [x0]",
        "mov sp, x9",
        "ldp x9, x10, [sp, #160]",
        "msr fpcr, x9",
        "msr tpidr_el0, x10",
        "ldp d14, d15, [sp, #144]",
        "ldp d12, d13, [sp, #128]",
        "ldp d10, d11, [sp, #112]",
        "ldp d8, d9, [sp, #96]",
        "ldp x29, x30, [sp, #80]",
        "ldp x27, x28, [sp, #64]",
        "ldp x25, x26, [sp, #48]",
        "ldp x23, x24, [sp, #32]",
        "ldp x21, x22, [sp, #16]",
        "ldp x19, x20, [sp, #0]",
        "add sp, sp, #176",
        "ret",
        in_emulator = const HostFrame::IN_EMULATOR,
    )
}

/// Calls `f(arg)` on the stack that ends at `stack_top`; `f` never returns.
///
/// # Safety
///
/// `stack_top` must be the 16-byte aligned top of a writable stack that nothing else
/// uses; whatever lives on the current stack is never dropped, so `f` must take what it
/// needs out of `arg` before that memory goes away.
#[cfg(target_arch = "x86_64")]
#[unsafe(naked)]
pub(crate) unsafe extern "C" fn run_on_stack(
    stack_top: u64,
    f: unsafe extern "C" fn(*mut core::ffi::c_void) -> !,
    arg: *mut core::ffi::c_void,
) -> ! {
    core::arch::naked_asm!(
        "mov rsp, rdi",
        "xor ebp, ebp",
        "mov rdi, rdx",
        "call rsi",
        "ud2",
    )
}

/// See the x86-64 version.
///
/// # Safety
///
/// As for the x86-64 version.
#[cfg(target_arch = "aarch64")]
#[unsafe(naked)]
pub(crate) unsafe extern "C" fn run_on_stack(
    stack_top: u64,
    f: unsafe extern "C" fn(*mut core::ffi::c_void) -> !,
    arg: *mut core::ffi::c_void,
) -> ! {
    core::arch::naked_asm!(
        "mov sp, x0",
        "mov x29, xzr",
        "mov x30, xzr",
        "mov x0, x2",
        "blr x1",
        "udf #0",
    )
}
