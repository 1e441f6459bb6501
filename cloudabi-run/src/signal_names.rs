//! Signal names for messages and options: `SIGSEGV` for a status line, `--stop-signal
//! TERM` for the command line. In the library so that the command line (`cli.rs`, shared
//! by the binary and [`crate::command`]) can refer to its value parser.

use crate::launch::INIT_FORWARDED;

/// The signals the launcher forwards to the program; `--stop-signal` may name one of them.
const FORWARDED: [libc::c_int; 6] = INIT_FORWARDED;

/// The standard signals by name, numbered as on this architecture. Written out because
/// neither `libc` nor `rustix` exposes the conventional `SIG...` names (glibc's
/// `sigabbrev_np` is not bound).
const NAMES: [(libc::c_int, &str); 31] = [
    (libc::SIGHUP, "SIGHUP"),
    (libc::SIGINT, "SIGINT"),
    (libc::SIGQUIT, "SIGQUIT"),
    (libc::SIGILL, "SIGILL"),
    (libc::SIGTRAP, "SIGTRAP"),
    (libc::SIGABRT, "SIGABRT"),
    (libc::SIGBUS, "SIGBUS"),
    (libc::SIGFPE, "SIGFPE"),
    (libc::SIGKILL, "SIGKILL"),
    (libc::SIGUSR1, "SIGUSR1"),
    (libc::SIGSEGV, "SIGSEGV"),
    (libc::SIGUSR2, "SIGUSR2"),
    (libc::SIGPIPE, "SIGPIPE"),
    (libc::SIGALRM, "SIGALRM"),
    (libc::SIGTERM, "SIGTERM"),
    (libc::SIGSTKFLT, "SIGSTKFLT"),
    (libc::SIGCHLD, "SIGCHLD"),
    (libc::SIGCONT, "SIGCONT"),
    (libc::SIGSTOP, "SIGSTOP"),
    (libc::SIGTSTP, "SIGTSTP"),
    (libc::SIGTTIN, "SIGTTIN"),
    (libc::SIGTTOU, "SIGTTOU"),
    (libc::SIGURG, "SIGURG"),
    (libc::SIGXCPU, "SIGXCPU"),
    (libc::SIGXFSZ, "SIGXFSZ"),
    (libc::SIGVTALRM, "SIGVTALRM"),
    (libc::SIGPROF, "SIGPROF"),
    (libc::SIGWINCH, "SIGWINCH"),
    (libc::SIGIO, "SIGIO"),
    (libc::SIGPWR, "SIGPWR"),
    (libc::SIGSYS, "SIGSYS"),
];

/// The conventional name of signal `sig` (`SIGSEGV`), if it is a standard one.
pub fn name(sig: i32) -> Option<&'static str> {
    NAMES.iter().find(|(n, _)| *n == sig).map(|(_, s)| *s)
}

/// A signal that `--stop-signal` can name.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("expected a signal the launcher forwards: {}", forwardable())]
pub struct NotForwarded;

fn forwardable() -> String {
    FORWARDED
        .iter()
        .filter_map(|s| name(*s))
        .collect::<Vec<_>>()
        .join(", ")
}

/// `TERM`, `SIGTERM`, `term` or `15`: one of the signals the init passes on (see
/// [`INIT_FORWARDED`]), or `SIGKILL`.
pub fn parse_stop_signal(s: &str) -> Result<libc::c_int, NotForwarded> {
    let t = s.trim();
    let sig = match t.parse::<i32>() {
        Ok(n) => n,
        Err(_) => {
            let upper = t.to_ascii_uppercase();
            let full = if upper.starts_with("SIG") {
                upper
            } else {
                format!("SIG{upper}")
            };
            NAMES
                .iter()
                .find(|(_, s)| *s == full)
                .map(|(n, _)| *n)
                .ok_or(NotForwarded)?
        }
    };
    if FORWARDED.contains(&sig) || sig == libc::SIGKILL {
        Ok(sig)
    } else {
        Err(NotForwarded)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_stop_signals() {
        assert_eq!(name(libc::SIGSEGV), Some("SIGSEGV"));
        assert_eq!(name(libc::SIGABRT), Some("SIGABRT"));
        assert_eq!(name(0), None);
        assert_eq!(name(64), None);
        for ok in ["TERM", "SIGTERM", "term", " SigTerm "] {
            assert_eq!(parse_stop_signal(ok), Ok(libc::SIGTERM), "{ok}");
        }
        assert_eq!(parse_stop_signal("2"), Ok(libc::SIGINT));
        assert_eq!(parse_stop_signal("QUIT"), Ok(libc::SIGQUIT));
        assert_eq!(parse_stop_signal("KILL"), Ok(libc::SIGKILL));
        for bad in ["", "SEGV", "SIGSTOP", "TERMX", "0", "99", "-15"] {
            assert_eq!(parse_stop_signal(bad), Err(NotForwarded), "{bad}");
        }
    }
}
