//! `threadloop` for CloudABI: creates and joins `count` threads one after the other, all
//! on the same stack, and stops after every `every` threads until the host lets it go on
//! (the lifecycle test of `cloudabi-emulator` measures the emulator's memory then: ended
//! threads must give their host resources back).
//!
//! Argdata: `{out: FD, in: FD, count: INT, every: INT}`. After each `every` threads it
//! writes `N\n` (threads so far) to `out` and reads one byte from `in`. A thread is
//! joined by waiting for the lock `thread_exit` releases, after which its stack is
//! reused at once: the emulator must not touch a guest stack after releasing the lock.
#![no_std]
#![no_main]

extern crate alloc;

use alloc::vec;
use core::fmt::Write;
use core::sync::atomic::{AtomicU32, Ordering};

use argdata::Argdata;
use program::cloudabi::FdWriter;
use program::cloudabi::sys;
use program::cloudabi::{Error, required};

/// `CLOUDABI_LOCK_WRLOCKED`.
const WRLOCKED: u32 = 0x4000_0000;

/// Write-locked while a thread runs; `thread_exit` releases it.
static JOIN: AtomicU32 = AtomicU32::new(0);
/// Threads that ran.
static RAN: AtomicU32 = AtomicU32::new(0);

extern "C" fn worker(_tid: u32, _: usize) -> ! {
    RAN.fetch_add(1, Ordering::SeqCst);
    sys::thread_exit(&JOIN)
}

fn program_main(ad: Argdata<'_>) -> Result<(), Error> {
    let fd = |key: &'static str| {
        required(ad, key)?
            .as_fd(&program::fds())
            .map_err(Error::from)
    };
    let int = |key: &'static str| -> Result<u32, Error> { Ok(required(ad, key)?.as_int()?) };
    let (out, input) = (fd("out")?, fd("in")?);
    let (count, every) = (int("count")?, int("every")?.max(1));
    let stack: &'static mut [u8] = vec![0u8; 256 << 10].leak();
    let (base, len) = (stack.as_mut_ptr(), stack.len());
    for n in 1..=count {
        JOIN.store(WRLOCKED, Ordering::SeqCst);
        // SAFETY: the previous thread is joined (its lock released), so nothing uses the
        // stack any more; it stays allocated for the program's life.
        let stack = unsafe { core::slice::from_raw_parts_mut(base, len) };
        // SAFETY: `worker` ends with thread_exit and touches only atomics.
        unsafe { sys::thread_create(worker, stack, 0) }?;
        while JOIN.load(Ordering::SeqCst) != 0 {
            sys::thread_yield()?;
        }
        if n % every == 0 {
            writeln!(FdWriter(out), "{n}")?;
            let mut ack = [0u8; 1];
            if sys::fd_read(input, &mut ack)? != 1 {
                return Err(Error::Failed("no acknowledgement"));
            }
        }
    }
    if RAN.load(Ordering::SeqCst) != count {
        return Err(Error::Failed("a thread did not run"));
    }
    writeln!(FdWriter(out), "done")?;
    Ok(())
}

program::main!(program_main);
