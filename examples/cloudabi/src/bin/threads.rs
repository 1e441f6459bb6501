//! `threads` for CloudABI: starts four threads that each format a line (allocating) and
//! write it to `out`, waits for all of them, then writes `all 4 threads done`.
//!
//! Argdata: `{out: FD}`. Exercises `thread_create`, `thread_exit`, `thread_yield`, the
//! allocator under concurrency and system calls from threads other than the first.
#![no_std]
#![no_main]

extern crate alloc;

use alloc::format;
use alloc::vec;
use core::fmt::Write;
use core::sync::atomic::{AtomicU32, Ordering};

use argdata::Argdata;
use program::cloudabi::FdWriter;
use program::cloudabi::sys;
use program::cloudabi::{Error, required};

const THREADS: u32 = 4;
/// `CLOUDABI_LOCK_WRLOCKED`.
const WRLOCKED: u32 = 0x4000_0000;

/// How many threads finished their work.
static DONE: AtomicU32 = AtomicU32::new(0);
/// One lock per thread, write-locked by it and released by `thread_exit`.
static LOCKS: [AtomicU32; THREADS as usize] = [const { AtomicU32::new(0) }; THREADS as usize];

extern "C" fn worker(tid: u32, argument: usize) -> ! {
    let (index, out) = (argument >> 32, (argument & 0xffff_ffff) as u32);
    let lock = &LOCKS[index];
    lock.store(tid | WRLOCKED, Ordering::SeqCst);
    let line = format!("thread {index} says hello\n");
    let _ = sys::write_all(out, line.as_bytes());
    DONE.fetch_add(1, Ordering::SeqCst);
    sys::thread_exit(lock)
}

fn program_main(ad: Argdata<'_>) -> Result<(), Error> {
    let out = required(ad, "out")?.as_fd(&program::fds())?;
    for index in 0..THREADS as usize {
        let stack = vec![0u8; 256 << 10].leak();
        // SAFETY: `worker` ends with thread_exit and shares only atomics; its stack is
        // leaked, so it stays allocated.
        unsafe { sys::thread_create(worker, stack, (index << 32) | out as usize) }?;
    }
    while DONE.load(Ordering::SeqCst) < THREADS {
        sys::thread_yield()?;
    }
    writeln!(FdWriter(out), "all {THREADS} threads done")?;
    Ok(())
}

program::main!(program_main);
