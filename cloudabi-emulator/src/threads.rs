//! Starting guest threads (`thread_create`): one detached host thread per guest thread,
//! which attaches itself as a guest thread (see [`crate::lifecycle`]) and enters the
//! guest's entry point on the guest's own stack.

use std::io;
use std::sync::atomic::{AtomicU32, Ordering};

use crate::lifecycle::{self, GuestThread};
use crate::tls::{self, GuestTcb};

/// What a new host thread needs to start guest code. It lives on the creating thread's
/// stack until the new thread has read it and set `state`, so that starting a thread
/// allocates nothing on the new thread.
struct ThreadStart {
    entry: u64,
    stack_top: u64,
    argument: u64,
    /// 0 until the new thread is done with this structure; then its thread ID, or
    /// `u32::MAX` if it could not start.
    state: AtomicU32,
}

impl ThreadStart {
    /// Sets `state` and wakes the creating thread. The structure may be gone as soon as
    /// the store is visible: the wake-up only names its address (a private futex).
    fn report(start: *const ThreadStart, state: u32) {
        // SAFETY: the creating thread keeps the structure until it sees a non-zero state.
        let word = unsafe { &(*start).state };
        let address = word.as_ptr();
        word.store(state, Ordering::Release);
        // SAFETY: FUTEX_WAKE on a private futex does not access the memory at `address`.
        unsafe {
            libc::syscall(
                libc::SYS_futex,
                address,
                libc::FUTEX_WAKE | libc::FUTEX_PRIVATE_FLAG,
                1,
            );
        }
    }

    /// Waits (on the creating thread) until the new thread reported.
    fn wait(&self) -> u32 {
        loop {
            let state = self.state.load(Ordering::Acquire);
            if state != 0 {
                return state;
            }
            // SAFETY: FUTEX_WAIT on a valid aligned word of this process, expecting 0;
            // spurious returns and EINTR only make the loop look again.
            unsafe {
                libc::syscall(
                    libc::SYS_futex,
                    self.state.as_ptr(),
                    libc::FUTEX_WAIT | libc::FUTEX_PRIVATE_FLAG,
                    0,
                    core::ptr::null::<libc::timespec>(),
                );
            }
        }
    }
}

extern "C" fn thread_main(arg: *mut libc::c_void) -> *mut libc::c_void {
    let start = arg.cast::<ThreadStart>().cast_const();
    // SAFETY: `arg` is the creating thread's `ThreadStart`, valid until `report`.
    let (entry, stack_top, argument) =
        unsafe { ((*start).entry, (*start).stack_top, (*start).argument) };
    let Ok(mut thread) = GuestThread::new() else {
        lifecycle::spawn_failed();
        ThreadStart::report(start, u32::MAX);
        return core::ptr::null_mut();
    };
    lifecycle::attach(&mut thread, true);
    let tid = thread.tid();
    let mut tcb = GuestTcb::for_current_thread();
    ThreadStart::report(start, tid);
    if !thread.exit_requested() {
        // SAFETY: the guest asked for a thread with this entry and stack (`thread_create`);
        // the TCB and the record live in this frame, which stays until the call returns.
        unsafe {
            tls::enter_and_return(
                entry,
                u64::from(tid),
                argument,
                stack_top,
                &mut tcb,
                thread.frame(),
            );
        }
    }
    // Back from the guest (`thread_exit`, or stopped by `proc_exec`): detach, then return
    // so that the C library frees this thread's stack.
    lifecycle::detach(&thread);
    drop(thread);
    core::ptr::null_mut()
}

/// Starts guest code `entry(tid, argument)` on a new host thread with the guest's stack
/// (`stack`, `stack_len` bytes); returns the new thread's Linux thread ID once it runs.
pub(crate) fn spawn(entry: u64, stack: u64, stack_len: u64, argument: u64) -> io::Result<u32> {
    let stack_top = stack
        .checked_add(stack_len)
        .ok_or_else(|| io::Error::from(io::ErrorKind::InvalidInput))?
        & !15;
    // Waits while a `proc_exec` runs; fails if it ends the calling thread.
    lifecycle::begin_spawn().map_err(|_| io::Error::from_raw_os_error(libc::EINTR))?;
    let start = ThreadStart {
        entry,
        stack_top,
        argument,
        state: AtomicU32::new(0),
    };
    // SAFETY: plain pthread calls on a local attribute object; the new thread only
    // uses `start` until it reports, and this frame waits for that.
    unsafe {
        let mut attr: libc::pthread_attr_t = core::mem::zeroed();
        libc::pthread_attr_init(&mut attr);
        libc::pthread_attr_setdetachstate(&mut attr, libc::PTHREAD_CREATE_DETACHED);
        libc::pthread_attr_setstacksize(&mut attr, 256 << 10);
        let mut thread: libc::pthread_t = core::mem::zeroed();
        let arg = (&raw const start).cast_mut().cast();
        let r = libc::pthread_create(&mut thread, &attr, thread_main, arg);
        libc::pthread_attr_destroy(&mut attr);
        if r != 0 {
            lifecycle::spawn_failed();
            return Err(io::Error::from_raw_os_error(r));
        }
    }
    match start.wait() {
        u32::MAX => Err(io::Error::other("guest thread failed to start")),
        tid => Ok(tid),
    }
}
