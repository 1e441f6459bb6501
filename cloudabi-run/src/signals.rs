//! The launcher's signal handling: the thread that forwards signals to the instances and
//! enforces the stop timeout (names for messages and options are in
//! `cloudabi_run::signal_names`).

use std::time::{Duration, Instant};

use cloudabi_run::launch::{INIT_FORWARDED, Running};
pub(crate) use cloudabi_run::signal_names::name;
use cloudabi_run::signals::{SignalSet, kill};

/// Signals the launcher forwards to the program (through each instance's init, which passes
/// them on to the program's process group).
const FORWARDED: [libc::c_int; 6] = INIT_FORWARDED;

/// Forwarded signals that ask the program to stop: they are replaced by the stop signal, and
/// if the program is still running the stop timeout after the first of them, every instance
/// is killed.
const STOPPING: [libc::c_int; 4] = [libc::SIGINT, libc::SIGTERM, libc::SIGHUP, libc::SIGQUIT];

/// How the launcher asks the program to stop.
#[derive(Clone, Copy, Debug)]
pub(crate) struct StopPolicy {
    /// Sent instead of the stopping signal the launcher received (`None`: that signal).
    pub(crate) signal: Option<libc::c_int>,
    /// How long after the first stopping signal the program may take before it is killed.
    pub(crate) timeout: Duration,
}

/// Blocks the forwarded signals in this thread (and so in threads started later), so that
/// one thread can wait for them. The sandboxed children start with an empty mask.
pub(crate) fn block_forwarded() -> Option<SignalSet> {
    let set = SignalSet::new(&FORWARDED);
    set.block_in_thread().is_ok().then_some(set)
}

/// Starts a thread that passes each forwarded signal on to every instance (a stopping one
/// replaced by the policy's signal) and, after the first stopping one, kills them all if
/// they are still running the policy's timeout later.
pub(crate) fn forward(set: SignalSet, running: &Running, policy: StopPolicy) {
    let pids = running.pids();
    std::thread::spawn(move || {
        let mut deadline: Option<Instant> = None;
        loop {
            let sig = match deadline {
                None => match set.wait() {
                    Ok(sig) => sig,
                    Err(_) => return,
                },
                Some(d) => {
                    let left = d.saturating_duration_since(Instant::now());
                    if left.is_zero() {
                        for &pid in &pids {
                            signal_instance(pid, libc::SIGKILL);
                        }
                        return;
                    }
                    match set.wait_timeout(left) {
                        Some(sig) => sig,
                        // Time is up or the wait was interrupted: check the deadline again.
                        None => continue,
                    }
                }
            };
            let stopping = STOPPING.contains(&sig);
            let sent = match policy.signal {
                Some(s) if stopping => s,
                _ => sig,
            };
            for &pid in &pids {
                signal_instance(pid, sent);
            }
            if deadline.is_none() && stopping {
                deadline = Some(Instant::now() + policy.timeout);
            }
        }
    });
}

/// Signals one instance through its init (`pid`, as the launcher sees it), which passes the
/// forwarded signals on to the program's process group; `SIGKILL` ends the init and with it
/// the instance's whole PID namespace. Once the launcher has reaped the instance this fails
/// harmlessly with ESRCH; the launcher exits right after reaping the last instance.
fn signal_instance(pid: i32, sig: libc::c_int) {
    kill(pid, sig);
}
