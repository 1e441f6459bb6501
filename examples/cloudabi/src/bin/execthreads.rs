//! `execthreads` for CloudABI: starts threads that spin in guest code, sleep in system
//! calls or call into the emulator all the time, then replaces the whole process with
//! another program through `proc_exec`, either from the first thread or from a thread
//! of its own. `proc_exec` must end every other thread first (the lifecycle test of
//! `cloudabi-emulator`).
//!
//! Argdata: `{program: FD, out: FD, block: FD, from: "main" | "thread"}`. `block` is a
//! descriptor that never becomes readable (the read end of a pipe whose writer stays
//! quiet). The new program gets the argdata `[!fd 0]` and `out` as its descriptor 0 (with
//! `program` = `hello` it writes `Hello, fd 0!`). Exit status 1 if `proc_exec` fails.
#![no_std]
#![no_main]

extern crate alloc;

use alloc::vec;
use core::sync::atomic::{AtomicU32, AtomicU64, Ordering};

use argdata::{Argdata, Fd, Value};
use program::cloudabi::sys::{self, Errno, SyscallNumber};
use program::cloudabi::{Error, required};

/// `CLOUDABI_LOCK_WRLOCKED`.
const WRLOCKED: u32 = 0x4000_0000;
/// `CLOUDABI_SCOPE_PRIVATE`.
const PRIVATE: u8 = 4;
/// `CLOUDABI_EVENTTYPE_CONDVAR` and `CLOUDABI_EVENTTYPE_LOCK_WRLOCK`.
const CONDVAR: u8 = 2;
const LOCK_WRLOCK: u8 = 6;

/// What each started thread does.
#[derive(Clone, Copy)]
#[repr(usize)]
enum Role {
    /// Counts in a loop: never enters the emulator.
    Spin = 0,
    /// Calls `thread_yield` in a loop: mostly inside the emulator.
    Yield,
    /// Blocks in `fd_read` on `block`.
    Read,
    /// Blocks in `poll` on `block` with a one-hour timeout.
    Poll,
    /// Blocks in a condition variable wait nobody signals.
    Condvar,
    /// Blocks taking a lock the first thread holds.
    Lock,
    /// Waits until the others run, then calls `proc_exec`.
    Exec,
}

const ROLES: [Role; 7] = [
    Role::Spin,
    Role::Spin,
    Role::Yield,
    Role::Read,
    Role::Poll,
    Role::Condvar,
    Role::Lock,
];

/// How many threads have started their work.
static READY: AtomicU32 = AtomicU32::new(0);
/// Incremented by the spinning threads.
static SPINS: AtomicU64 = AtomicU64::new(0);
/// Held by the first thread (a made-up owner), wanted by the `Lock` thread.
static HELD: AtomicU32 = AtomicU32::new(WRLOCKED | 1);
/// The condition variable of the `Condvar` thread and its lock.
static CONDVAR_WORD: AtomicU32 = AtomicU32::new(0);
static CONDVAR_LOCK: AtomicU32 = AtomicU32::new(0);
/// Descriptors for the threads: `program`, `out`, `block`.
static FDS: [AtomicU32; 3] = [const { AtomicU32::new(0) }; 3];

/// A `cloudabi_subscription_t` of the 64-bit ABI for a lock or condition variable wait
/// (56 bytes: the fields in use, then the rest of the union).
#[repr(C)]
struct Subscription {
    userdata: u64,
    unused: u16,
    kind: u8,
    _pad: [u8; 5],
    /// The condition variable, or the lock.
    object: u64,
    /// The lock of a condition variable wait, or the lock's scope (first byte).
    lock: u64,
    condvar_scope: u8,
    lock_scope: u8,
    _rest: [u8; 22],
}

/// Calls `poll` with one subscription (the event is ignored: nothing is ever signalled).
fn poll_one(sub: &Subscription) -> Result<(), Errno> {
    type Poll = extern "C" fn(*const Subscription, *mut [u64; 4], usize, *mut usize) -> u16;
    let f = sys::entry(SyscallNumber::POLL).ok_or(Errno::NOSYS)?;
    // SAFETY: `f` is the vDSO's `poll`, whose C signature is `Poll` (with `Subscription`
    // and a 32-byte event laid out as the ABI's).
    let f: Poll = unsafe { core::mem::transmute(f) };
    let mut event = [0u64; 4];
    let mut n = 0usize;
    match f(sub, &mut event, 1, &mut n) {
        0 => Ok(()),
        e => Err(Errno(e)),
    }
}

fn subscription(kind: u8, object: &AtomicU32, lock: u64) -> Subscription {
    Subscription {
        userdata: 1,
        unused: 0,
        kind,
        _pad: [0; 5],
        object: object.as_ptr() as u64,
        lock,
        condvar_scope: PRIVATE,
        lock_scope: PRIVATE,
        _rest: [0; 22],
    }
}

/// Replaces the process with `program`; returns only if that fails.
fn exec() -> Errno {
    let encoded = Value::seq([Value::from(Fd(0))]).encode();
    let (program, out) = (FDS[0].load(Ordering::SeqCst), FDS[1].load(Ordering::SeqCst));
    sys::proc_exec(program, &encoded.bytes, &[out])
}

/// Waits until every worker has started, then a little longer so that the blocking
/// ones are asleep in the emulator.
fn wait_for_workers() {
    while READY.load(Ordering::SeqCst) < ROLES.len() as u32 {
        let _ = sys::thread_yield();
    }
    let _ = sys::wait_readable(FDS[2].load(Ordering::SeqCst), 50_000_000);
}

extern "C" fn worker(tid: u32, role: usize) -> ! {
    let block = FDS[2].load(Ordering::SeqCst);
    match role {
        r if r == Role::Spin as usize => {
            READY.fetch_add(1, Ordering::SeqCst);
            loop {
                SPINS.fetch_add(1, Ordering::Relaxed);
            }
        }
        r if r == Role::Yield as usize => {
            READY.fetch_add(1, Ordering::SeqCst);
            loop {
                let _ = sys::thread_yield();
            }
        }
        r if r == Role::Read as usize => {
            READY.fetch_add(1, Ordering::SeqCst);
            let mut buf = [0u8; 1];
            let _ = sys::fd_read(block, &mut buf);
        }
        r if r == Role::Poll as usize => {
            READY.fetch_add(1, Ordering::SeqCst);
            let _ = sys::wait_readable(block, 3_600_000_000_000);
        }
        r if r == Role::Condvar as usize => {
            CONDVAR_LOCK.store(WRLOCKED | tid, Ordering::SeqCst);
            READY.fetch_add(1, Ordering::SeqCst);
            let lock = CONDVAR_LOCK.as_ptr() as u64;
            let _ = poll_one(&subscription(CONDVAR, &CONDVAR_WORD, lock));
        }
        r if r == Role::Lock as usize => {
            READY.fetch_add(1, Ordering::SeqCst);
            let _ = poll_one(&subscription(LOCK_WRLOCK, &HELD, u64::from(PRIVATE)));
        }
        _ => {
            wait_for_workers();
            let _ = exec();
            let _ = sys::write_all(FDS[1].load(Ordering::SeqCst), b"exec failed\n");
            sys::proc_exit(1);
        }
    }
    // Only reached if a blocking call returned, which must not happen before the exec.
    let _ = sys::write_all(FDS[1].load(Ordering::SeqCst), b"woke up\n");
    sys::proc_exit(2)
}

fn start(role: Role) -> Result<(), Error> {
    let stack = vec![0u8; 256 << 10].leak();
    // SAFETY: `worker` never returns and shares only atomics; its stack is leaked.
    unsafe { sys::thread_create(worker, stack, role as usize) }?;
    Ok(())
}

fn program_main(ad: Argdata<'_>) -> Result<(), Error> {
    let field = |key: &'static str| {
        required(ad, key)?
            .as_fd(&program::fds())
            .map_err(Error::from)
    };
    for (slot, key) in FDS.iter().zip(["program", "out", "block"]) {
        slot.store(field(key)?, Ordering::SeqCst);
    }
    let from_thread = match ad.get("from")? {
        Some(from) => from.as_str()? == "thread",
        None => false,
    };
    for role in ROLES {
        start(role)?;
    }
    if from_thread {
        start(Role::Exec)?;
        // The first thread is one of those the exec ends: asleep in fd_read.
        let mut buf = [0u8; 1];
        let _ = sys::fd_read(FDS[2].load(Ordering::SeqCst), &mut buf);
        let _ = sys::write_all(FDS[1].load(Ordering::SeqCst), b"woke up\n");
        return Err(Error::Failed("the first thread woke up after the exec"));
    }
    wait_for_workers();
    let _ = exec();
    let _ = sys::write_all(FDS[1].load(Ordering::SeqCst), b"exec failed\n");
    Err(Error::Failed("exec failed"))
}

program::main!(program_main);
