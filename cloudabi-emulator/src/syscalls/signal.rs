//! CloudABI signal numbers and their Linux counterparts.

#![forbid(unsafe_code)]

use cloudabi_types::Signal;

/// CloudABI signals with their Linux numbers.
pub(super) const SIGNALS: [(Signal, i32); 26] = [
    (Signal::ABRT, libc::SIGABRT),
    (Signal::ALRM, libc::SIGALRM),
    (Signal::BUS, libc::SIGBUS),
    (Signal::CHLD, libc::SIGCHLD),
    (Signal::CONT, libc::SIGCONT),
    (Signal::FPE, libc::SIGFPE),
    (Signal::HUP, libc::SIGHUP),
    (Signal::ILL, libc::SIGILL),
    (Signal::INT, libc::SIGINT),
    (Signal::KILL, libc::SIGKILL),
    (Signal::PIPE, libc::SIGPIPE),
    (Signal::QUIT, libc::SIGQUIT),
    (Signal::SEGV, libc::SIGSEGV),
    (Signal::STOP, libc::SIGSTOP),
    (Signal::SYS, libc::SIGSYS),
    (Signal::TERM, libc::SIGTERM),
    (Signal::TRAP, libc::SIGTRAP),
    (Signal::TSTP, libc::SIGTSTP),
    (Signal::TTIN, libc::SIGTTIN),
    (Signal::TTOU, libc::SIGTTOU),
    (Signal::URG, libc::SIGURG),
    (Signal::USR1, libc::SIGUSR1),
    (Signal::USR2, libc::SIGUSR2),
    (Signal::VTALRM, libc::SIGVTALRM),
    (Signal::XCPU, libc::SIGXCPU),
    (Signal::XFSZ, libc::SIGXFSZ),
];

/// The CloudABI signal for a Linux one (`SIGKILL` for those CloudABI has no name for).
pub(crate) fn signal_from_linux(sig: i32) -> Signal {
    SIGNALS
        .iter()
        .find(|&&(_, l)| l == sig)
        .map_or(Signal::KILL, |&(s, _)| s)
}
