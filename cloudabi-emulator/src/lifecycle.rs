//! Guest threads: which host threads run guest code, how one goes back to the host, and
//! how `proc_exec` ends all but one of them.
//!
//! Every host thread that runs guest code owns a [`GuestThread`] record, attached for as
//! long as it may run guest code. It holds the thread's [`HostFrame`] (the way back to
//! the host, and the "in emulator" flag the system call dispatcher sets on entry and
//! clears on the way back to the guest), an "exit pending" flag and a signal stack.
//!
//! Ending a thread that is not the caller (CloudABI's `proc_exec` ends every other thread
//! of the process) must never leave an emulator lock held, so a thread only ever leaves
//! at a point where it holds none:
//!
//! * in guest code (flag clear): at once, from the handler of the stop signal, which
//!   jumps back to the thread's [`HostFrame`];
//! * in the dispatcher (flag set): the handler does nothing; the dispatcher sees the
//!   pending exit when the call returns and leaves instead of going back to the guest.
//!   The handler is installed without `SA_RESTART`, so a blocking host call fails with
//!   `EINTR`, and the handlers that loop on `EINTR` (or sleep on a host condition
//!   variable) check [`exit_requested`].
//!
//! The handler runs on the thread's own signal stack (`SA_ONSTACK`), never on the guest's
//! stack, and finds the thread's record at the bottom of that stack: it needs neither
//! thread-local storage (whose thread pointer belongs to the guest while guest code runs)
//! nor the allocator nor a lock. `proc_exec` sends the signal again every few
//! milliseconds until every other thread has detached, which covers a signal that arrives
//! just before a thread goes to sleep in the host.

use std::cell::Cell;
use std::io;
use std::sync::atomic::{AtomicBool, AtomicI32, Ordering, compiler_fence};
use std::sync::{Condvar, Mutex, MutexGuard, Once};
use std::time::Duration;

use crate::loader::Mapping;
use crate::tls::{self, HostFrame};

/// Marks the bottom of a guest thread's signal stack (ASCII "cloudabi").
const SIGNAL_STACK_MAGIC: u64 = u64::from_be_bytes(*b"cloudabi");
/// Size of a guest thread's signal stack unless the kernel asks for more.
const SIGNAL_STACK_SIZE: usize = 64 << 10;
/// How long `proc_exec` waits before signalling the remaining threads again.
const RESIGNAL_INTERVAL: Duration = Duration::from_millis(5);

/// The real-time signal that stops guest threads: `SIGRTMIN + 4` (glibc keeps the
/// signals below `SIGRTMIN` for itself), set by [`install_stop_handler`].
static STOP_SIGNAL: AtomicI32 = AtomicI32::new(0);

/// The state of one host thread that runs guest code. It lives on that thread's own
/// stack (no allocation: a thread starts and ends without the allocator) and must not
/// move between [`attach`] and [`detach`].
#[derive(Debug)]
pub(crate) struct GuestThread {
    frame: HostFrame,
    exit_pending: AtomicBool,
    tid: u32,
    /// The lock `thread_exit` asked to release, released once the thread is off the
    /// guest's stack. Only the owning thread touches it.
    join_lock: Cell<Option<JoinLock>>,
    /// The signal stack; its first two words are [`SIGNAL_STACK_MAGIC`] and the address of
    /// this record.
    signal_stack: Mapping,
    /// The signal stack the thread had before [`attach`] (`ss_sp`, `ss_flags`, `ss_size`).
    previous_signal_stack: (usize, i32, usize),
}

impl GuestThread {
    /// A record for the calling host thread.
    ///
    /// # Errors
    ///
    /// Mapping the signal stack failed.
    pub(crate) fn new() -> io::Result<GuestThread> {
        // SAFETY: getauxval has no preconditions; 0 means "not provided".
        let min = unsafe { libc::getauxval(libc::AT_MINSIGSTKSZ) } as usize;
        let bytes = SIGNAL_STACK_SIZE.max(min.saturating_mul(4));
        Ok(GuestThread {
            frame: HostFrame::new(),
            exit_pending: AtomicBool::new(false),
            tid: gettid(),
            join_lock: Cell::new(None),
            signal_stack: Mapping::anonymous(bytes, libc::PROT_READ | libc::PROT_WRITE)?,
            previous_signal_stack: (0, libc::SS_DISABLE, 0),
        })
    }

    /// The thread's way back to the host.
    pub(crate) fn frame(&self) -> *const HostFrame {
        &self.frame
    }

    /// The thread's Linux thread ID.
    pub(crate) fn tid(&self) -> u32 {
        self.tid
    }

    /// Whether `proc_exec` on another thread wants this thread gone.
    pub(crate) fn exit_requested(&self) -> bool {
        self.exit_pending.load(Ordering::Relaxed)
    }

    /// Leaves guest code for good: back to the host frame of [`tls::enter_and_return`].
    /// (A thread that never entered guest code cannot get here, as it makes no system
    /// calls and the stop signal's handler only acts on threads in guest code; should it
    /// anyway, it detaches and ends its host thread.)
    pub(crate) fn exit(&self) -> ! {
        self.frame.in_emulator.store(true, Ordering::Relaxed);
        if !self.frame.is_set() {
            detach(self);
            exit_host_thread()
        }
        // SAFETY: the frame belongs to this thread (only the owner calls `exit`, through
        // `current`) and was filled in by its `enter_and_return`, which runs until `leave`;
        // callers hold no lock, and the abandoned guest-stack frames own nothing.
        unsafe { tls::leave(&self.frame) }
    }

    /// Like [`GuestThread::exit`], releasing the CloudABI lock `lock` (with its
    /// `release` function) once the thread no longer runs on the guest's stack, so a
    /// joining thread may free that stack as soon as it sees the lock released.
    pub(crate) fn exit_releasing(&self, lock: JoinLock) -> ! {
        self.join_lock.set(Some(lock));
        self.exit()
    }
}

/// A CloudABI lock a thread releases as it ends (`thread_exit`), after it has left the
/// guest's stack. The release itself belongs to the system calls (`lock_unlock`), which
/// hand it down here, so this module needs nothing from them.
#[derive(Clone, Copy, Debug)]
pub(crate) struct JoinLock {
    /// The lock's guest address.
    pub(crate) addr: u64,
    /// Its scope (private or shared).
    pub(crate) scope: u64,
    /// Releases the lock at `addr` with scope `scope`; errors are ignored by the callee
    /// (the thread ends regardless).
    pub(crate) release: fn(u64, u64),
}

/// Ends the calling host thread immediately with the raw `exit` system call.
pub(crate) fn exit_host_thread() -> ! {
    loop {
        // SAFETY: SYS_exit ends only the calling thread; nothing of ours runs afterwards.
        unsafe { libc::syscall(libc::SYS_exit, 0) };
    }
}

/// A registered thread (the registry only dereferences it while the thread is attached).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct ThreadPtr(*const GuestThread);

// SAFETY: only the record's atomics and its immutable `tid` are read through the pointer
// by other threads, and only while the owning thread keeps it registered.
unsafe impl Send for ThreadPtr {}

/// The process's guest threads.
#[derive(Debug)]
struct Registry {
    threads: Vec<ThreadPtr>,
    /// A `proc_exec` is between [`begin_exec`] and its end.
    exec_in_progress: bool,
    /// Threads created by `thread_create` that have not attached yet.
    starting: usize,
}

static REGISTRY: Mutex<Registry> = Mutex::new(Registry {
    threads: Vec::new(),
    exec_in_progress: false,
    starting: 0,
});
/// Notified whenever the registry changes.
static CHANGED: Condvar = Condvar::new();

fn registry() -> MutexGuard<'static, Registry> {
    REGISTRY
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

thread_local! {
    /// The calling thread's record while it is attached.
    static CURRENT: Cell<*const GuestThread> = const { Cell::new(core::ptr::null()) };
}

fn gettid() -> u32 {
    // SAFETY: gettid has no preconditions.
    unsafe { libc::gettid() as u32 }
}

/// The calling thread's record, if it runs guest code.
pub(crate) fn current() -> Option<&'static GuestThread> {
    // SAFETY: CURRENT points to a live record from `attach` until `detach` clears it, and
    // a thread only calls this in between (the record outlives both).
    unsafe { CURRENT.get().as_ref() }
}

/// Whether the calling guest thread has been asked to end (by `proc_exec` on another
/// thread): blocking system calls check this when interrupted.
pub(crate) fn exit_requested() -> bool {
    current().is_some_and(GuestThread::exit_requested)
}

/// Installs the handler of the stop signal (once per process).
pub(crate) fn install_stop_handler() -> io::Result<()> {
    static ONCE: Once = Once::new();
    let mut result = Ok(());
    ONCE.call_once(|| {
        let signal = libc::SIGRTMIN() + 4;
        // SAFETY: a zeroed sigaction is a valid starting value; the handler is an
        // `extern "C"` function with the SA_SIGINFO signature, and it is async-signal-safe
        // (see `on_stop_signal`).
        unsafe {
            let mut action: libc::sigaction = core::mem::zeroed();
            action.sa_sigaction = on_stop_signal as *const () as usize;
            action.sa_flags = libc::SA_SIGINFO | libc::SA_ONSTACK;
            libc::sigfillset(&mut action.sa_mask);
            if libc::sigaction(signal, &action, core::ptr::null_mut()) != 0 {
                result = Err(io::Error::last_os_error());
                return;
            }
        }
        STOP_SIGNAL.store(signal, Ordering::Relaxed);
    });
    if STOP_SIGNAL.load(Ordering::Relaxed) == 0 && result.is_ok() {
        return Err(io::Error::other(
            "the stop signal handler could not be installed",
        ));
    }
    result
}

/// The record of the calling thread as found through its signal stack.
fn record_from_signal_stack() -> Option<&'static GuestThread> {
    // SAFETY: an all-zero stack_t is a valid out value; sigaltstack only reads the
    // thread's settings (no errno write on success, which is guaranteed here).
    let ss = unsafe {
        let mut ss: libc::stack_t = core::mem::zeroed();
        libc::sigaltstack(core::ptr::null(), &mut ss);
        ss
    };
    if ss.ss_flags & libc::SS_DISABLE != 0 || ss.ss_sp.is_null() || ss.ss_size < 16 {
        return None;
    }
    let words = ss.ss_sp.cast::<u64>();
    // SAFETY: the signal stack is mapped memory of at least 16 bytes (checked above); a
    // foreign one (not made by `attach`) fails the magic check.
    let (magic, record) = unsafe { (words.read(), words.add(1).read()) };
    if magic != SIGNAL_STACK_MAGIC {
        return None;
    }
    // SAFETY: `attach` wrote the record's address next to the magic; the record lives
    // until after `detach` took the signal stack down again.
    unsafe { (record as *const GuestThread).as_ref() }
}

/// The stop signal's handler. Async-signal-safe: it reads the thread's signal stack
/// settings and two atomics, and either returns or jumps back to the host frame; it
/// allocates nothing and takes no lock.
extern "C" fn on_stop_signal(_: libc::c_int, _: *mut libc::siginfo_t, _: *mut libc::c_void) {
    let Some(thread) = record_from_signal_stack() else {
        return;
    };
    if !thread.exit_pending.load(Ordering::Relaxed) {
        return;
    }
    if thread.frame.in_emulator.load(Ordering::Relaxed) {
        // In the dispatcher: it leaves when the call returns.
        return;
    }
    // Guest code (or the trampoline around a call) was interrupted: it holds none of the
    // emulator's locks, so the thread may leave right here.
    thread.exit()
}

/// Makes `thread` (created on the calling thread) the calling thread's record: installs
/// its signal stack, unblocks the stop signal and registers it. `spawned` tells that the
/// thread was announced by [`begin_spawn`]. `thread` must stay where it is until
/// [`detach`].
pub(crate) fn attach(thread: &mut GuestThread, spawned: bool) {
    let base = thread.signal_stack.addr() as *mut u64;
    // SAFETY: the signal stack is a fresh writable mapping of at least 64 KiB owned by
    // the record; its first two words mark it (the kernel fills it from the top).
    unsafe {
        base.write(SIGNAL_STACK_MAGIC);
        base.add(1).write(thread as *const GuestThread as u64);
    }
    let stack = libc::stack_t {
        ss_sp: base.cast(),
        ss_flags: 0,
        ss_size: thread.signal_stack.len(),
    };
    // SAFETY: an all-zero stack_t is a valid out value; the new signal stack is owned by
    // the record, which stays alive until `detach` restores the previous one.
    unsafe {
        let mut old: libc::stack_t = core::mem::zeroed();
        if libc::sigaltstack(&stack, &mut old) == 0 {
            thread.previous_signal_stack = (old.ss_sp as usize, old.ss_flags, old.ss_size);
        }
    }
    let signal = STOP_SIGNAL.load(Ordering::Relaxed);
    if signal != 0 {
        // SAFETY: an empty signal set is valid to build and pass.
        unsafe {
            let mut set: libc::sigset_t = core::mem::zeroed();
            libc::sigemptyset(&mut set);
            libc::sigaddset(&mut set, signal);
            libc::pthread_sigmask(libc::SIG_UNBLOCK, &set, core::ptr::null_mut());
        }
    }
    CURRENT.set(thread);
    let mut registry = registry();
    registry.threads.push(ThreadPtr(thread));
    if spawned {
        registry.starting = registry.starting.saturating_sub(1);
    }
    drop(registry);
    CHANGED.notify_all();
}

/// Undoes [`attach`] once the calling thread is back in the host for good: releases the
/// lock `thread_exit` named, unregisters the thread (which lets a waiting `proc_exec`
/// go on) and restores the previous signal stack.
pub(crate) fn detach(thread: &GuestThread) {
    if let Some(lock) = thread.join_lock.take() {
        // Still registered: a `proc_exec` elsewhere waits before it unmaps guest memory.
        (lock.release)(lock.addr, lock.scope);
    }
    let me = ThreadPtr(thread);
    let mut registry = registry();
    registry.threads.retain(|&t| t != me);
    drop(registry);
    CHANGED.notify_all();
    CURRENT.set(core::ptr::null());
    let (sp, flags, size) = thread.previous_signal_stack;
    let old = libc::stack_t {
        ss_sp: sp as *mut libc::c_void,
        ss_flags: flags & libc::SS_DISABLE,
        ss_size: size,
    };
    // SAFETY: puts back the settings `attach` replaced (or disables the signal stack);
    // the thread does not run on the signal stack here.
    unsafe { libc::sigaltstack(&old, core::ptr::null_mut()) };
}

/// The dispatcher's entry hook: marks the calling guest thread as running emulator code.
/// Returns the record (null for threads that are not guest threads).
#[inline]
pub(crate) fn enter_emulator() -> *const GuestThread {
    let thread = CURRENT.get();
    // SAFETY: see `current`.
    if let Some(t) = unsafe { thread.as_ref() } {
        t.frame.in_emulator.store(true, Ordering::Relaxed);
        compiler_fence(Ordering::SeqCst);
    }
    thread
}

/// The dispatcher's exit hook: marks the thread as running guest code again, unless an
/// exit is pending, in which case the thread leaves instead of returning to the guest.
#[inline]
pub(crate) fn leave_emulator(thread: *const GuestThread) {
    // SAFETY: `thread` came from `enter_emulator` on this thread and is still attached.
    if let Some(t) = unsafe { thread.as_ref() } {
        compiler_fence(Ordering::SeqCst);
        t.frame.in_emulator.store(false, Ordering::Relaxed);
        // A stop signal from here on finds the flag clear and ends the thread itself.
        compiler_fence(Ordering::SeqCst);
        if t.exit_pending.load(Ordering::Relaxed) {
            t.exit();
        }
    }
}

/// The calling thread is one `proc_exec` is ending: the error of `begin_exec` and
/// `begin_spawn`.
#[derive(Debug)]
pub(crate) struct Ending;

/// Waits while a `proc_exec` is in progress; fails if it wants the calling thread gone.
fn wait_for_exec(
    mut registry: MutexGuard<'static, Registry>,
) -> Result<MutexGuard<'static, Registry>, Ending> {
    while registry.exec_in_progress {
        if exit_requested() {
            return Err(Ending);
        }
        registry = CHANGED
            .wait(registry)
            .unwrap_or_else(std::sync::PoisonError::into_inner);
    }
    Ok(registry)
}

/// Starts a `proc_exec`: waits for one in progress on another thread to end (it may end
/// this thread instead: `Err`, and the dispatcher then leaves).
pub(crate) fn begin_exec() -> Result<(), Ending> {
    let mut registry = wait_for_exec(registry())?;
    registry.exec_in_progress = true;
    Ok(())
}

/// Ends a `proc_exec`, failed or complete.
pub(crate) fn end_exec() {
    registry().exec_in_progress = false;
    CHANGED.notify_all();
}

/// Announces a thread about to be created (`thread_create`); waits while a `proc_exec`
/// is in progress, which may end the calling thread instead (`Err`).
pub(crate) fn begin_spawn() -> Result<(), Ending> {
    let mut registry = wait_for_exec(registry())?;
    registry.starting += 1;
    // Room for every announced thread, so that `attach` on the new thread does not
    // allocate.
    let room = registry.starting;
    registry.threads.reserve(room);
    Ok(())
}

/// Withdraws a [`begin_spawn`] announcement whose thread will never attach.
pub(crate) fn spawn_failed() {
    let mut registry = registry();
    registry.starting = registry.starting.saturating_sub(1);
    drop(registry);
    CHANGED.notify_all();
}

/// Ends every guest thread but the caller and waits until they have detached (after
/// which none of them touches guest memory again). Part of a `proc_exec` past its point
/// of no return, between [`begin_exec`] and [`end_exec`]. `wake_sleepers` wakes the
/// threads asleep on guest condition variables (state of the system calls, passed in by
/// the caller) so that they see their pending exit.
pub(crate) fn stop_other_threads(wake_sleepers: fn()) {
    let me = ThreadPtr(CURRENT.get());
    let signal = STOP_SIGNAL.load(Ordering::Relaxed);
    // SAFETY: getpid has no preconditions.
    let pid = unsafe { libc::getpid() };
    let mut registry = registry();
    loop {
        let mut others = false;
        for &t in registry.threads.iter().filter(|&&t| t != me) {
            others = true;
            // SAFETY: registered records stay alive until their thread unregisters,
            // which needs the registry lock held here.
            let thread = unsafe { &*t.0 };
            thread.exit_pending.store(true, Ordering::SeqCst);
            if signal != 0 {
                // SAFETY: tgkill on a thread of this process that is still registered
                // (so it has not finished); a thread that already left just ignores it.
                unsafe { libc::syscall(libc::SYS_tgkill, pid, thread.tid, signal) };
            }
        }
        if !others && registry.starting == 0 {
            return;
        }
        drop(registry);
        // Threads waiting for an exec to end, and those asleep on a condition variable.
        CHANGED.notify_all();
        wake_sleepers();
        registry = CHANGED
            .wait_timeout(self::registry(), RESIGNAL_INTERVAL)
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .0;
    }
}

/// The registry lock, held across `fork` so that the child's copy is consistent.
#[derive(Debug)]
pub(crate) struct ForkGuard(MutexGuard<'static, Registry>);

/// Takes the registry lock for a `fork`; drop the guard in the parent, pass it to
/// [`ForkGuard::in_child`] in the child.
pub(crate) fn lock_for_fork() -> ForkGuard {
    ForkGuard(registry())
}

impl ForkGuard {
    /// In the child of a `fork`: the calling thread is the only one left, and no
    /// `proc_exec` is in progress there.
    pub(crate) fn in_child(mut self) {
        let me = ThreadPtr(CURRENT.get());
        self.0.threads.retain(|&t| t == me);
        self.0.exec_in_progress = false;
        self.0.starting = 0;
        drop(self);
        if let Some(thread) = current() {
            thread.exit_pending.store(false, Ordering::Relaxed);
        }
    }
}
