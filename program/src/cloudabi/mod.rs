//! The CloudABI side of `program` (`target_os = "cloudabi"`, `no_std` + `alloc`).
//!
//! A CloudABI executable starts at `_start(auxv)`, which [`main!`](crate::main) defines
//! and which hands over to [`start`]:
//!
//! 1. read the auxiliary vector;
//! 2. apply the executable's own `R_*_RELATIVE` relocations (it is a static PIE, and no
//!    global may be touched before this), then write-protect `PT_GNU_RELRO`;
//! 3. link the system call table to the vDSO named by `AT_SYSINFO_EHDR` ([`sys`]);
//! 4. install the main thread's TCB (copying the runtime's `parent` word, on x86-64 at
//!    `%fs:0`, on AArch64 in `tpidr_el0`);
//! 5. call the main function with the argdata from `AT_ARGDATA`/`AT_ARGDATALEN` and
//!    exit with its status through `proc_exit`.
//!
//! Memory comes from [`heap::Heap`] on `mem_map`; a panic ends the process with status
//! 101. Descriptors in the argdata are the program's own descriptor numbers, so [`fds`]
//! converts them unchanged.
//!
//! A server that gets its connections handed over a socket (`cloudabi-run`'s
//! `!connections`) reads them with [`connections::Connections`].

pub mod connections;
mod error;
pub mod heap;
pub(crate) mod rt;
pub mod sys;

pub use argdata::Argdata;
pub use error::{Error, required};
pub use rt::start;

#[global_allocator]
static HEAP: heap::Heap = heap::Heap::new();

#[panic_handler]
fn panic(_info: &core::panic::PanicInfo<'_>) -> ! {
    sys::proc_exit(101)
}

/// The encoded argdata the program was started with.
#[must_use]
pub fn raw_argdata() -> Option<&'static [u8]> {
    Some(rt::argdata_bytes())
}

/// The argdata the program was started with.
#[must_use]
pub fn argdata() -> Option<Argdata<'static>> {
    raw_argdata().map(Argdata::new)
}

/// The converter for fd leaves: on CloudABI an fd leaf is the descriptor number itself.
#[must_use]
pub fn fds() -> Fds {
    Fds
}

/// See [`fds`].
#[derive(Clone, Copy, Debug, Default)]
pub struct Fds;

impl argdata::FdConverter for Fds {
    type Fd = u32;

    fn convert(&self, index: u32) -> Option<u32> {
        Some(index)
    }
}

/// What a program's main function may return, and how it becomes an exit status.
pub trait Outcome {
    /// The exit status for `proc_exit`.
    fn exit_status(self) -> u32;
}

impl Outcome for () {
    fn exit_status(self) -> u32 {
        0
    }
}

impl Outcome for u32 {
    fn exit_status(self) -> u32 {
        self
    }
}

impl<T: Outcome, E> Outcome for Result<T, E> {
    fn exit_status(self) -> u32 {
        match self {
            Ok(t) => t.exit_status(),
            Err(_) => 1,
        }
    }
}

/// A descriptor usable with `write!`/`writeln!`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FdWriter(pub u32);

impl core::fmt::Write for FdWriter {
    fn write_str(&mut self, s: &str) -> core::fmt::Result {
        sys::write_all(self.0, s.as_bytes()).map_err(|_| core::fmt::Error)
    }
}

/// Defines the CloudABI entry point `_start`, which runs the startup described in the
/// module documentation and then calls `f` with the program's argdata. `f` returns any
/// [`Outcome`].
#[macro_export]
macro_rules! main {
    ($f:path) => {
        /// The CloudABI entry point, called by the kernel with the auxiliary vector.
        ///
        /// # Safety
        ///
        /// Only the kernel (or emulator) may call it, once.
        #[unsafe(no_mangle)]
        pub unsafe extern "C" fn _start(auxv: *const u64) -> ! {
            fn program_main_outcome(ad: $crate::cloudabi::Argdata<'static>) -> u32 {
                $crate::Outcome::exit_status($f(ad))
            }
            // SAFETY: `_start` is only ever called by the kernel with its auxv.
            unsafe { $crate::cloudabi::start(auxv, program_main_outcome) }
        }
    };
}
