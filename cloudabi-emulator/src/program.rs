//! The loaded program: mapping an executable with its startup data and stack
//! ([`load`]), entering the first one on the calling thread ([`run_first`]) and
//! replacing it for `proc_exec` ([`replace`]).

use std::convert::Infallible;
use std::io;
use std::sync::Mutex;

use crate::elf::{Executable, HOST_MACHINE};
use crate::error::Error;
use crate::lifecycle::{self, GuestThread};
use crate::loader::{self, Mapping};
use crate::tls::{self, GuestTcb};
use crate::{syscalls, vdso};

/// Enters the first program (`file` with `argdata`) on the calling thread, which becomes
/// a guest thread; the process state must be installed already. Returns only if the
/// program cannot start; once it has run, the host thread ends when the program leaves
/// it.
pub(crate) fn run_first(file: Vec<u8>, argdata: Vec<u8>) -> Result<Infallible, Error> {
    lifecycle::install_stop_handler().map_err(Error::Load)?;
    let mut thread = GuestThread::new().map_err(Error::Load)?;
    lifecycle::attach(&mut thread, false);
    let result = load(file, argdata).map(|program| {
        let (entry, auxv, stack_top, tcb) = program.install();
        // SAFETY: `entry` lies in an executable segment of the image just mapped, the
        // stack is fresh and 16-byte aligned at its top, the TCB lives in the startup
        // block (mapped until the program is replaced), and `thread` outlives the call.
        unsafe { tls::enter_and_return(entry, auxv, 0, stack_top, tcb, thread.frame()) }
    });
    lifecycle::detach(&thread);
    result?;
    // The program no longer runs on this thread, but may on others.
    drop(thread);
    lifecycle::exit_host_thread()
}

/// The guest's memory owned by the loader, released (dropped) when the program is
/// replaced.
struct Loaded {
    _image: Mapping,
    _startup: Mapping,
    stack: Mapping,
}

static LOADED: Mutex<Option<Loaded>> = Mutex::new(None);

/// A program loaded but not yet running.
struct Program {
    memory: Loaded,
    entry: u64,
    auxv: u64,
    tcb: *mut GuestTcb,
}

impl Program {
    /// The top of the program's stack.
    fn stack_top(&self) -> u64 {
        (self.memory.stack.addr() + self.memory.stack.len()) as u64
    }

    /// Makes this the loaded program (releasing a previous one's memory) and returns
    /// where and how to enter it: entry point, auxiliary vector, stack top and TCB.
    fn install(self) -> (u64, u64, u64, *mut GuestTcb) {
        let stack_top = self.stack_top();
        let previous = LOADED
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .replace(self.memory);
        drop(previous);
        (self.entry, self.auxv, stack_top, self.tcb)
    }
}

fn gettid() -> u32 {
    // SAFETY: gettid has no preconditions.
    unsafe { libc::gettid() as u32 }
}

/// Maps `file` with `argdata`, a fresh stack and startup block.
fn load(file: Vec<u8>, argdata: Vec<u8>) -> Result<Program, Error> {
    let exe = Executable::parse(&file, HOST_MACHINE)?;
    let vdso = vdso::mapped().map_err(Error::Load)?.as_ptr() as u64;
    let image = loader::map_image(&file, &exe).map_err(Error::Load)?;
    drop((file, exe));
    let startup = loader::build_startup(&image, vdso, &argdata, gettid()).map_err(Error::Load)?;
    drop(argdata);
    let stack = loader::map_stack().map_err(Error::Load)?;
    Ok(Program {
        entry: image.entry,
        auxv: startup.auxv,
        tcb: startup.tcb,
        memory: Loaded {
            _image: image.mapping,
            _startup: startup.mapping,
            stack,
        },
    })
}

/// Replaces the running program (`proc_exec` on the calling guest thread) with `file`
/// and `argdata`.
///
/// Until the new program is loaded, any failure is returned and the old program goes on.
/// Then the other guest threads are stopped, the calling thread moves onto the new
/// program's stack, and the old program's image, startup block, stack and `mem_map`ped
/// memory are unmapped before the new program is entered: nothing of it stays mapped.
pub(crate) fn replace(file: Vec<u8>, argdata: Vec<u8>) -> Result<Infallible, Error> {
    let thread = lifecycle::current()
        .ok_or_else(|| Error::Load(io::Error::other("proc_exec from a non-guest thread")))?;
    let program = load(file, argdata)?;
    // Past the point of no return.
    lifecycle::stop_other_threads(syscalls::wake_sleepers);
    let stack_top = program.stack_top();
    let mut start = core::mem::ManuallyDrop::new(Replacement {
        program,
        frame: thread.frame(),
    });
    // SAFETY: the new stack is fresh and 16-byte aligned at its top, and nothing uses it
    // yet; `finish_replacement` moves the replacement out of this frame before anything
    // is unmapped, and this frame (on the old program's memory) is never returned to.
    unsafe {
        tls::run_on_stack(
            stack_top,
            finish_replacement,
            (&raw mut *start).cast::<core::ffi::c_void>(),
        )
    }
}

/// What [`finish_replacement`] needs.
struct Replacement {
    program: Program,
    frame: *const tls::HostFrame,
}

/// Second half of [`replace`], on the new program's stack: releases everything of the
/// old program and enters the new one.
///
/// # Safety
///
/// `arg` must point to a `ManuallyDrop<Replacement>` that is not used afterwards.
unsafe extern "C" fn finish_replacement(arg: *mut core::ffi::c_void) -> ! {
    // SAFETY: the caller passes a replacement it never touches again; reading moves it.
    let Replacement { program, frame } = unsafe { arg.cast::<Replacement>().read() };
    let (entry, auxv, stack_top, tcb) = program.install();
    syscalls::release_old_program();
    // Close what a `proc_exec` did not keep.
    syscalls::release_retired_descriptors();
    lifecycle::end_exec();
    // SAFETY: as for the first program (see `run_first`); `frame` is the calling
    // thread's frame, whose `enter_and_return` has not returned (the thread runs guest
    // code, or this exec, until it does), and nothing on this stack is needed any more.
    unsafe { tls::enter_for_good(entry, auxv, 0, stack_top, tcb, frame) }
}
