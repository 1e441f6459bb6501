//! Threads, locks, condition variables and `poll`.
//!
//! The lock and condition variable tests play the part of cloudlibc: they take locks in
//! "userspace" with compare-and-swap and only call the emulator when the protocol says so
//! (contended locks, `KERNEL_MANAGED` set, waiting on a condition variable).

mod syscalls_support;

use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, LazyLock, mpsc};
use std::time::{Duration, Instant};

use cloudabi_emulator::syscalls::{ExecError, Host, Process};
use cloudabi_types::{
    Errno, Event, EventRwFlags, EventType, FileType, Lock, Scope, SubClockFlags, Subscription,
    SubscriptionClock, SubscriptionCondvar, SubscriptionFdReadwrite, SubscriptionLock,
    SubscriptionUnion, ThreadAttr,
};
use syscalls_support::*;

const WRLOCKED: u32 = Lock::WRLOCKED.0;
const KM: u32 = Lock::KERNEL_MANAGED.0;
const PRIVATE: u64 = Scope::PRIVATE.0 as u64;

/// The process shared by the threads of these tests.
static PROCESS: LazyLock<(tempfile::TempDir, Process)> = LazyLock::new(process_in_tempdir);

fn p() -> &'static Process {
    &PROCESS.1
}

fn tid() -> u32 {
    // SAFETY: gettid has no preconditions.
    unsafe { libc::gettid() as u32 }
}

/// Runs `poll` on the given subscriptions, returning the events.
fn poll(p: &Process, subs: &[Subscription]) -> Result<Vec<Event>, Errno> {
    let mut events = vec![Event::default(); subs.len()];
    let mut n = 0u64;
    match sys(
        p,
        "poll",
        &[
            ptr(subs),
            events.as_mut_ptr() as u64,
            subs.len() as u64,
            mptr(&mut n),
        ],
    ) {
        Errno::SUCCESS => {
            events.truncate(n as usize);
            Ok(events)
        }
        e => Err(e),
    }
}

fn clock_sub(userdata: u64, timeout: u64, abs: bool) -> Subscription {
    Subscription {
        userdata,
        r#type: EventType::CLOCK,
        u: SubscriptionUnion {
            clock: SubscriptionClock {
                clock_id: cloudabi_types::ClockId::MONOTONIC,
                timeout,
                flags: if abs {
                    SubClockFlags::ABSTIME
                } else {
                    SubClockFlags::empty()
                },
                ..SubscriptionClock::default()
            },
        },
        ..Subscription::default()
    }
}

fn lock_sub(lock: &AtomicU32, write: bool) -> Subscription {
    Subscription {
        userdata: 7,
        r#type: if write {
            EventType::LOCK_WRLOCK
        } else {
            EventType::LOCK_RDLOCK
        },
        u: SubscriptionUnion {
            lock: SubscriptionLock {
                lock: lock.as_ptr() as u64,
                lock_scope: Scope::PRIVATE,
            },
        },
        ..Subscription::default()
    }
}

fn fd_sub(userdata: u64, fd: u32, ty: EventType) -> Subscription {
    Subscription {
        userdata,
        r#type: ty,
        u: SubscriptionUnion {
            fd_readwrite: SubscriptionFdReadwrite {
                fd: cloudabi_types::Fd(fd),
                ..Default::default()
            },
        },
        ..Subscription::default()
    }
}

/// How often a lock had to be taken through the emulator (contention).
static SLOW_PATHS: AtomicU64 = AtomicU64::new(0);

/// cloudlibc-style write lock.
fn wrlock(p: &Process, lock: &AtomicU32) {
    if lock
        .compare_exchange(0, WRLOCKED | tid(), Ordering::Acquire, Ordering::Relaxed)
        .is_ok()
    {
        return;
    }
    SLOW_PATHS.fetch_add(1, Ordering::Relaxed);
    let ev = poll(p, &[lock_sub(lock, true)]).unwrap();
    assert_eq!(
        (ev.len(), ev[0].error, ev[0].r#type),
        (1, Errno::SUCCESS, EventType::LOCK_WRLOCK)
    );
    assert_eq!(lock.load(Ordering::Relaxed) & !KM, WRLOCKED | tid());
}

/// cloudlibc-style write unlock.
fn wrunlock(p: &Process, lock: &AtomicU32) {
    if lock
        .compare_exchange(WRLOCKED | tid(), 0, Ordering::Release, Ordering::Relaxed)
        .is_err()
    {
        assert_eq!(
            sys(p, "lock_unlock", &[lock.as_ptr() as u64, PRIVATE]),
            Errno::SUCCESS
        );
    }
}

/// cloudlibc-style read lock.
fn rdlock(p: &Process, lock: &AtomicU32) {
    let v = lock.load(Ordering::Relaxed);
    if v & (WRLOCKED | KM) == 0
        && lock
            .compare_exchange(v, v + 1, Ordering::Acquire, Ordering::Relaxed)
            .is_ok()
    {
        return;
    }
    let ev = poll(p, &[lock_sub(lock, false)]).unwrap();
    assert_eq!((ev.len(), ev[0].error), (1, Errno::SUCCESS));
}

/// cloudlibc-style read unlock: the last reader of a managed lock upgrades and calls
/// the kernel.
fn rdunlock(p: &Process, lock: &AtomicU32) {
    loop {
        let v = lock.load(Ordering::Relaxed);
        assert_eq!(v & WRLOCKED, 0);
        if v == 1 | KM {
            if lock
                .compare_exchange(
                    v,
                    WRLOCKED | KM | tid(),
                    Ordering::Acquire,
                    Ordering::Relaxed,
                )
                .is_ok()
            {
                assert_eq!(
                    sys(p, "lock_unlock", &[lock.as_ptr() as u64, PRIVATE]),
                    Errno::SUCCESS
                );
                return;
            }
        } else if lock
            .compare_exchange(v, v - 1, Ordering::Release, Ordering::Relaxed)
            .is_ok()
        {
            return;
        }
    }
}

#[test]
fn lock_stress_with_readers_and_writers() {
    let lock = Arc::new(AtomicU32::new(0));
    let counter = Arc::new(AtomicU64::new(0));
    let (writers, readers, rounds) = (4, 2, 3000);
    let mut handles = Vec::new();
    for _ in 0..writers {
        let (lock, counter) = (lock.clone(), counter.clone());
        handles.push(std::thread::spawn(move || {
            for _ in 0..rounds {
                wrlock(p(), &lock);
                // A non-atomic read-modify-write: lost updates would show a broken lock.
                let v = counter.load(Ordering::Relaxed);
                if v % 7 == 0 {
                    std::thread::yield_now();
                }
                counter.store(v + 1, Ordering::Relaxed);
                wrunlock(p(), &lock);
            }
        }));
    }
    for _ in 0..readers {
        let (lock, counter) = (lock.clone(), counter.clone());
        handles.push(std::thread::spawn(move || {
            for _ in 0..rounds {
                rdlock(p(), &lock);
                let a = counter.load(Ordering::Relaxed);
                std::hint::spin_loop();
                assert_eq!(
                    a,
                    counter.load(Ordering::Relaxed),
                    "writer ran during a read lock"
                );
                rdunlock(p(), &lock);
            }
        }));
    }
    for h in handles {
        h.join().unwrap();
    }
    assert_eq!(counter.load(Ordering::Relaxed), writers * rounds);
    assert_eq!(lock.load(Ordering::Relaxed), 0);
    assert!(
        SLOW_PATHS.load(Ordering::Relaxed) > 0,
        "the emulator's side was never exercised"
    );
}

#[test]
fn lock_unlock_checks_owner_and_scope() {
    let lock = AtomicU32::new(WRLOCKED | KM | tid());
    assert_eq!(
        sys(p(), "lock_unlock", &[lock.as_ptr() as u64, 99]),
        Errno::INVAL
    );
    assert_eq!(
        sys(p(), "lock_unlock", &[lock.as_ptr() as u64, PRIVATE]),
        Errno::SUCCESS
    );
    assert_eq!(lock.load(Ordering::Relaxed), 0);
    let other = AtomicU32::new(WRLOCKED | KM | (tid() + 1));
    assert_eq!(
        sys(p(), "lock_unlock", &[other.as_ptr() as u64, PRIVATE]),
        Errno::PERM
    );
    assert_eq!(sys(p(), "lock_unlock", &[2, PRIVATE]), Errno::FAULT);
    // Taking a lock we already hold for writing is a deadlock.
    let mine = AtomicU32::new(WRLOCKED | tid());
    let ev = poll(p(), &[lock_sub(&mine, true)]).unwrap();
    assert_eq!(ev[0].error, Errno::DEADLK);
}

#[test]
fn lock_wait_times_out() {
    let lock = AtomicU32::new(WRLOCKED | (tid() + 1));
    let start = Instant::now();
    let ev = poll(
        p(),
        &[lock_sub(&lock, true), clock_sub(9, 30_000_000, false)],
    )
    .unwrap();
    assert!(start.elapsed() >= Duration::from_millis(30));
    assert_eq!(
        (ev.len(), ev[0].r#type, ev[0].userdata),
        (1, EventType::CLOCK, 9)
    );
}

/// A queue protected by a CloudABI lock, with a condition variable for "not empty".
struct Channel {
    lock: AtomicU32,
    cv: AtomicU32,
    items: AtomicU64,
}

fn condvar_sub(ch: &Channel) -> Subscription {
    Subscription {
        userdata: 3,
        r#type: EventType::CONDVAR,
        u: SubscriptionUnion {
            condvar: SubscriptionCondvar {
                condvar: ch.cv.as_ptr() as u64,
                lock: ch.lock.as_ptr() as u64,
                condvar_scope: Scope::PRIVATE,
                lock_scope: Scope::PRIVATE,
            },
        },
        ..Subscription::default()
    }
}

#[test]
fn condvar_producer_consumer() {
    let ch = Arc::new(Channel {
        lock: AtomicU32::new(0),
        cv: AtomicU32::new(0),
        items: AtomicU64::new(0),
    });
    let (consumers, per_consumer) = (3u64, 500u64);
    let consumed = Arc::new(AtomicU64::new(0));
    let mut handles = Vec::new();
    for _ in 0..consumers {
        let (ch, consumed) = (ch.clone(), consumed.clone());
        handles.push(std::thread::spawn(move || {
            for _ in 0..per_consumer {
                wrlock(p(), &ch.lock);
                while ch.items.load(Ordering::Relaxed) == 0 {
                    let ev = poll(p(), &[condvar_sub(&ch)]).unwrap();
                    assert_eq!(
                        (ev[0].r#type, ev[0].error),
                        (EventType::CONDVAR, Errno::SUCCESS)
                    );
                    // The kernel hands the lock back write-locked by us.
                    assert_eq!(ch.lock.load(Ordering::Relaxed) & !KM, WRLOCKED | tid());
                }
                ch.items.fetch_sub(1, Ordering::Relaxed);
                consumed.fetch_add(1, Ordering::Relaxed);
                wrunlock(p(), &ch.lock);
            }
        }));
    }
    for _ in 0..consumers * per_consumer {
        wrlock(p(), &ch.lock);
        ch.items.fetch_add(1, Ordering::Relaxed);
        if ch.cv.load(Ordering::Relaxed) != 0 {
            assert_eq!(
                sys(p(), "condvar_signal", &[ch.cv.as_ptr() as u64, PRIVATE, 1]),
                Errno::SUCCESS
            );
        }
        wrunlock(p(), &ch.lock);
    }
    for h in handles {
        h.join().unwrap();
    }
    assert_eq!(consumed.load(Ordering::Relaxed), consumers * per_consumer);
    assert_eq!(ch.cv.load(Ordering::Relaxed), 0, "no waiters left");
}

#[test]
fn condvar_wait_times_out_and_relocks() {
    let ch = Channel {
        lock: AtomicU32::new(0),
        cv: AtomicU32::new(0),
        items: AtomicU64::new(0),
    };
    wrlock(p(), &ch.lock);
    let start = Instant::now();
    let ev = poll(p(), &[condvar_sub(&ch), clock_sub(4, 20_000_000, false)]).unwrap();
    assert!(start.elapsed() >= Duration::from_millis(20));
    assert_eq!(
        (ev.len(), ev[0].r#type, ev[0].userdata),
        (1, EventType::CLOCK, 4)
    );
    assert_eq!(ch.lock.load(Ordering::Relaxed) & !KM, WRLOCKED | tid());
    assert_eq!(ch.cv.load(Ordering::Relaxed), 0);
    wrunlock(p(), &ch.lock);
    // Waiting without holding the lock is refused.
    let ev = poll(p(), &[condvar_sub(&ch)]).unwrap();
    assert_eq!(ev[0].error, Errno::PERM);
    assert_eq!(
        sys(p(), "condvar_signal", &[ch.cv.as_ptr() as u64, 0, 1]),
        Errno::INVAL
    );
    assert_eq!(
        sys(p(), "condvar_signal", &[ch.cv.as_ptr() as u64, PRIVATE, 1]),
        Errno::SUCCESS
    );
}

#[test]
fn poll_clocks_relative_and_absolute() {
    let start = Instant::now();
    let ev = poll(
        p(),
        &[
            clock_sub(1, 40_000_000, false),
            clock_sub(2, 5_000_000_000, false),
        ],
    )
    .unwrap();
    assert!(start.elapsed() >= Duration::from_millis(40));
    assert!(start.elapsed() < Duration::from_secs(4));
    assert_eq!(
        (ev.len(), ev[0].userdata, ev[0].error),
        (1, 1, Errno::SUCCESS)
    );
    // An absolute deadline in the past fires at once.
    let ev = poll(p(), &[clock_sub(5, 1, true)]).unwrap();
    assert_eq!(ev[0].userdata, 5);
    let mut now = 0u64;
    assert_eq!(
        sys(p(), "clock_time_get", &[1, 0, mptr(&mut now)]),
        Errno::SUCCESS
    );
    let start = Instant::now();
    poll(p(), &[clock_sub(6, now + 25_000_000, true)]).unwrap();
    assert!(start.elapsed() >= Duration::from_millis(20));
    // A bad clock is reported in the event; no subscriptions give no events.
    let mut bad = clock_sub(8, 0, false);
    // Writing a union field is safe; the clock member is the active one.
    bad.u.clock.clock_id = cloudabi_types::ClockId(77);
    assert_eq!(poll(p(), &[bad]).unwrap()[0].error, Errno::INVAL);
    assert_eq!(poll(p(), &[]).unwrap().len(), 0);
    let mut n = 0u64;
    assert_eq!(
        sys(p(), "poll", &[0, 0, 100_000, mptr(&mut n)]),
        Errno::INVAL
    );
    assert_eq!(sys(p(), "poll", &[0, 0, 1, 0]), Errno::FAULT);
}

#[test]
fn poll_descriptor_readiness() {
    let (a, b) = fd_create2(p(), FileType::SOCKET_STREAM).expect("fd_create2");
    // Nothing to read yet: only the timeout fires.
    let ev = poll(
        p(),
        &[
            fd_sub(1, b, EventType::FD_READ),
            clock_sub(2, 10_000_000, false),
        ],
    )
    .unwrap();
    assert_eq!((ev.len(), ev[0].userdata), (1, 2));
    write(p(), a, b"abc").unwrap();
    let ev = poll(
        p(),
        &[
            fd_sub(1, b, EventType::FD_READ),
            fd_sub(3, a, EventType::FD_WRITE),
        ],
    )
    .unwrap();
    assert_eq!(ev.len(), 2);
    assert_eq!((ev[0].userdata, ev[0].r#type), (1, EventType::FD_READ));
    // SAFETY: fd_read events carry the fd_readwrite member.
    assert_eq!(unsafe { ev[0].u.fd_readwrite.nbytes }, 3);
    assert_eq!(ev[1].r#type, EventType::FD_WRITE);
    // Hang-up is reported.
    assert_eq!(sys(p(), "fd_close", &[a.into()]), Errno::SUCCESS);
    let ev = poll(p(), &[fd_sub(1, b, EventType::FD_READ)]).unwrap();
    // SAFETY: as above.
    assert!(unsafe { ev[0].u.fd_readwrite.flags }.contains(EventRwFlags::HANGUP));
    // Errors come back in the events.
    let ev = poll(
        p(),
        &[
            fd_sub(1, 4000, EventType::FD_READ),
            fd_sub(2, 0, EventType::FD_READ),
        ],
    )
    .unwrap();
    assert_eq!((ev[0].error, ev[1].error), (Errno::BADF, Errno::NOTCAPABLE));
    let lock = AtomicU32::new(0);
    let ev = poll(p(), &[clock_sub(1, 0, false), lock_sub(&lock, true)]).unwrap();
    assert!(ev.iter().any(|e| e.error == Errno::NOTSUP));
    assert_eq!(sys(p(), "fd_close", &[b.into()]), Errno::SUCCESS);
}

/// Runs guest "thread entry points" (host functions here) on host threads.
struct TestHost;

impl Host for TestHost {
    fn exec(
        &self,
        _: std::os::fd::OwnedFd,
        _: Vec<u8>,
    ) -> Result<std::convert::Infallible, ExecError> {
        Err(std::io::Error::from_raw_os_error(libc::ENOEXEC).into())
    }

    fn spawn_thread(
        &self,
        entry: u64,
        _stack: u64,
        _len: u64,
        argument: u64,
    ) -> std::io::Result<u32> {
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            tx.send(tid()).unwrap();
            // SAFETY: the tests pass the address of an `extern "C" fn(u32, u64)`.
            let entry: extern "C" fn(u32, u64) = unsafe { std::mem::transmute(entry as usize) };
            entry(tid(), argument);
        });
        rx.recv().map_err(std::io::Error::other)
    }
}

static HOST: TestHost = TestHost;

/// What a test thread gets: a join lock and a flag.
struct ThreadArg {
    join: AtomicU32,
    started: AtomicBool,
    seen_tid: AtomicU32,
}

extern "C" fn thread_main(tid: u32, arg: u64) {
    // SAFETY: the test passes a pointer to a `ThreadArg` that outlives the thread's use.
    let arg = unsafe { &*(arg as *const ThreadArg) };
    arg.join.store(WRLOCKED | tid, Ordering::Release);
    arg.seen_tid.store(tid, Ordering::Release);
    arg.started.store(true, Ordering::Release);
    std::thread::sleep(Duration::from_millis(20));
    sys(p(), "thread_exit", &[arg.join.as_ptr() as u64, PRIVATE]);
    unreachable!("thread_exit returned");
}

#[test]
fn thread_create_exit_and_join() {
    p().set_host(&HOST);
    let arg = Box::new(ThreadArg {
        join: AtomicU32::new(0),
        started: AtomicBool::new(false),
        seen_tid: AtomicU32::new(0),
    });
    let attr = ThreadAttr {
        entry_point: thread_main as *const () as u64,
        stack: 0,
        stack_len: 0,
        argument: &*arg as *const ThreadArg as u64,
    };
    let mut new_tid = 0u32;
    assert_eq!(
        sys(p(), "thread_create", &[ptr(&attr), mptr(&mut new_tid)]),
        Errno::SUCCESS
    );
    while !arg.started.load(Ordering::Acquire) {
        std::thread::yield_now();
    }
    assert_eq!(arg.seen_tid.load(Ordering::Relaxed), new_tid);
    // Join: wait for the lock the thread releases when it exits.
    let ev = poll(p(), &[lock_sub(&arg.join, false)]).unwrap();
    assert_eq!(ev[0].error, Errno::SUCCESS);
    assert_eq!(
        arg.join.load(Ordering::Relaxed),
        1,
        "read-locked by us after the exit"
    );
    assert_eq!(
        sys(p(), "thread_create", &[0, mptr(&mut new_tid)]),
        Errno::FAULT
    );
    assert_eq!(sys(p(), "thread_yield", &[]), Errno::SUCCESS);
}
