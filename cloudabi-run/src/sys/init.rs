//! The instance's init (process 1 of its PID namespace) and the program's process: tying
//! the init's life to the launcher's, starting the program posix_spawn-style, and the loop
//! that forwards signals, reaps orphans and reports the program's wait status.

use std::ffi::{c_int, c_long, c_void};
use std::os::fd::RawFd;

use super::confine::restrict_landlock;
use super::fds::Placed;
use super::plan::ChildPlan;
use super::raw::{fail, write_decimal};
use super::stage::Stage;

/// Signals the init passes on to the program's process group. Others sent to the init from
/// outside have no effect (`SIGKILL` excepted: it ends the init and with it the namespace).
pub const INIT_FORWARDED: [c_int; 6] = [
    libc::SIGINT,
    libc::SIGTERM,
    libc::SIGHUP,
    libc::SIGQUIT,
    libc::SIGUSR1,
    libc::SIGUSR2,
];

/// Nothing outlives the launcher: the init is killed when the launcher's thread that cloned
/// it ends, however it ends (`SIGKILL` included), and with the init the kernel kills its
/// whole PID namespace. Had the launcher already gone before this took effect, the
/// lifeline's write end is closed: the child leaves at once.
///
/// # Safety
/// Only in the child right after `clone`; `lifeline_fd` is the read end of the launcher's
/// lifeline pipe and `err_fd` the error pipe.
pub(super) unsafe fn die_with_launcher(lifeline_fd: RawFd, err_fd: RawFd) {
    // SAFETY: `prctl` with integer arguments and `poll` on a local `pollfd`, both
    // async-signal-safe; `_exit` runs no destructors or atexit handlers.
    unsafe {
        if libc::prctl(
            libc::PR_SET_PDEATHSIG,
            libc::SIGKILL as libc::c_ulong,
            0,
            0,
            0,
        ) != 0
        {
            fail(err_fd, Stage::DieWithLauncher);
        }
        let mut lifeline = libc::pollfd {
            fd: lifeline_fd,
            events: libc::POLLIN,
            revents: 0,
        };
        if libc::poll(&mut lifeline, 1, 0) != 0 {
            libc::_exit(127);
        }
    }
}

/// Forks the program from the init and stays behind as the init: never returns.
///
/// Everything the child set up applies to the init and the program alike. The init blocks
/// the signals it handles (it waits for them synchronously) before forking, so none is lost
/// in between; blocked signals are queued even for a process 1.
///
/// # Safety
/// Only in the child after `clone`, once its setup is complete, with the descriptors
/// [`place_descriptors`](super::fds::place_descriptors) placed (`placed`);
/// `plan.program_stack` is the parent's allocation for the program's process.
pub(super) unsafe fn fork_program_and_wait(plan: &mut ChildPlan, placed: Placed) -> ! {
    // SAFETY: signal-set calls on a local; `prctl` with integer arguments; `clone` with
    // `CLONE_VM | CLONE_VFORK` on a stack the parent allocated (16-byte aligned end), whose
    // child runs only `program_entry` on `args`, a local that stays untouched while this
    // process is suspended; `close` and `init_loop` are async-signal-safe.
    unsafe {
        let mut init_set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut init_set);
        libc::sigaddset(&mut init_set, libc::SIGCHLD);
        for sig in INIT_FORWARDED {
            libc::sigaddset(&mut init_set, sig);
        }
        libc::sigprocmask(libc::SIG_BLOCK, &init_set, std::ptr::null_mut());
        // Outside a PID namespace (best-effort mode) orphans still come to the init.
        libc::prctl(libc::PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0);
        // The program is started the way posix_spawn does it: sharing this address space
        // (no page tables to copy, none to tear down at exec) on a stack of its own, while
        // the init is suspended until the program has called execveat or exited. No atfork
        // handlers run.
        let stack = plan.program_stack.as_mut_ptr_range().end as usize & !15;
        let args = ProgramArgs { plan, placed };
        let program = libc::clone(
            program_entry,
            stack as *mut c_void,
            libc::CLONE_VM | libc::CLONE_VFORK | libc::SIGCHLD,
            (&args as *const ProgramArgs<'_>).cast_mut().cast(),
        );
        if program < 0 {
            fail(placed.err, Stage::Fork);
        }
        // The program has now called execveat (or failed and exited), having made itself
        // the leader of a process group of its own; forwarded signals go to that group. The
        // launcher learns that exec succeeded from end-of-file on the error pipe, so the init
        // must not keep it open.
        libc::close(placed.err);
        init_loop(program, placed.status, &init_set)
    }
}

/// What the program's process needs from the init's stack; valid while the init is
/// suspended by `CLONE_VFORK`.
struct ProgramArgs<'a> {
    plan: &'a ChildPlan,
    placed: Placed,
}

/// Entry point of the program's process on its own stack.
extern "C" fn program_entry(arg: *mut c_void) -> c_int {
    // SAFETY: `arg` points to the `ProgramArgs` on the init's stack, which stays untouched
    // and valid: the init does not run again until this process has exec'd or exited.
    unsafe {
        let args = &*(arg as *const ProgramArgs<'_>);
        exec_program(args.plan, args.placed)
    }
}

/// The program's side of the init's fork: its own process group and Landlock domain, its pid
/// in `LISTEN_PID`, default signal handling, then `execveat`. It shares the init's memory
/// (`CLONE_VM`), so it writes nothing but its own stack, errno and the `LISTEN_PID` buffer
/// (which the init never reads).
///
/// # Safety
/// Only in the process forked by the init, with the plan the child was given and the
/// descriptors it placed.
unsafe fn exec_program(plan: &ChildPlan, placed: Placed) -> ! {
    // SAFETY: async-signal-safe system calls on locals and on memory of `plan`, which this
    // process owns as a private copy.
    unsafe {
        libc::setpgid(0, 0);
        // Without a PID namespace (best-effort mode) the init's death does not end the
        // program: it gets the same request for itself.
        if plan.ns.clone_flags & libc::CLONE_NEWPID as c_long == 0 {
            libc::prctl(
                libc::PR_SET_PDEATHSIG,
                libc::SIGKILL as libc::c_ulong,
                0,
                0,
                0,
            );
        }
        if plan.scope_program {
            // The same rules once more, as a domain nested in the init's: the ruleset scopes
            // signals, so the program can no longer signal the init (outside its domain),
            // while the init can still signal in. (A ruleset handling only the scope would
            // not do: Landlock denies cross-directory renames in any domain whose rules do not
            // grant `refer`.)
            restrict_landlock(
                placed.ruleset,
                plan.landlock_flags,
                placed.err,
                Stage::ProgramDomain,
            );
            libc::close(placed.ruleset);
        }
        if let Some((buf, len)) = plan.listen_pid {
            write_decimal(buf, len, libc::getpid() as u64);
        }
        // As on CloudABI, writing without a reader fails with EPIPE instead of raising
        // SIGPIPE (docs/abi.md): the program starts with SIGPIPE ignored, whatever the
        // launcher's own disposition. Every other signal keeps its default action.
        libc::signal(libc::SIGPIPE, libc::SIG_IGN);
        let mut empty: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut empty);
        libc::sigprocmask(libc::SIG_SETMASK, &empty, std::ptr::null_mut());
        libc::syscall(
            libc::SYS_execveat,
            placed.prog as c_long,
            c"".as_ptr(),
            plan.argv.as_ptr(),
            plan.envp.as_ptr(),
            libc::AT_EMPTY_PATH as c_long,
        );
        fail(placed.err, Stage::Exec)
    }
}

/// The init: waits for the signals in `set` (all blocked), passes the forwarded ones on to the
/// program's process group, reaps every child, and once `program` has ended writes its raw
/// wait status to `status_fd` and exits with the shell-style code (the launcher prefers the
/// written status, which also tells signal deaths apart from exit codes above 128).
///
/// # Safety
/// Only in the init after forking the program.
unsafe fn init_loop(program: libc::pid_t, status_fd: RawFd, set: &libc::sigset_t) -> ! {
    // SAFETY: async-signal-safe system calls on locals only.
    unsafe {
        loop {
            let sig = libc::sigwaitinfo(set, std::ptr::null_mut());
            if sig < 0 {
                continue;
            }
            if sig != libc::SIGCHLD {
                if libc::kill(-program, sig) != 0 {
                    libc::kill(program, sig);
                }
                continue;
            }
            loop {
                let mut status: c_int = 0;
                let pid = libc::waitpid(-1, &mut status, libc::WNOHANG);
                if pid <= 0 {
                    break;
                }
                if pid == program {
                    let bytes = status.to_ne_bytes();
                    libc::write(status_fd, bytes.as_ptr().cast(), bytes.len());
                    let code = if libc::WIFSIGNALED(status) {
                        128 + libc::WTERMSIG(status)
                    } else {
                        libc::WEXITSTATUS(status)
                    };
                    // Leaving ends the PID namespace: the kernel kills whatever is left.
                    libc::_exit(code)
                }
            }
        }
    }
}
