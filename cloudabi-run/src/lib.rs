//! `cloudabi-run`'s core: start a program with exactly the descriptors it is granted, numbered
//! as described in `docs/startup.md`, inside a kernel sandbox (namespaces with an empty root,
//! Landlock, seccomp, no capabilities).
//!
//! The configuration layer (YAML to descriptors and argdata) calls [`launch::Launch`]: it
//! grants descriptors, asks [`launch::Launch::fd_numbers`] which numbers the program will see,
//! encodes the argdata with those numbers, and runs.
//!
//! Linux only. Raw system calls are confined to the private `sys` module, the only one
//! allowed `unsafe` code; its safe signal wrappers are public as [`signals`].

#![deny(unsafe_code)]

pub mod acceptor;
pub mod cgroup;
pub mod cli;
pub mod config;
pub mod emulate;
pub mod error;
pub mod launch;
pub mod sandbox;
pub mod signal_names;
#[allow(unsafe_code)]
mod sys;

/// The command line of the `cloudabi-run` binary (options, help texts), for generating its
/// man page and shell completions.
pub fn command() -> clap::Command {
    <cli::Cli as clap::CommandFactory>::command()
}

pub use error::{LaunchError, SandboxError};
pub use sys::Stage;
pub use sys::signals;

#[cfg(test)]
mod tests {
    #[test]
    fn command_is_the_binarys_command_line() {
        let cmd = super::command();
        assert_eq!(cmd.get_name(), "cloudabi-run");
        assert!(cmd.get_version().is_some());
        for long in ["config", "check", "stop-signal", "emulate", "runner"] {
            assert!(
                cmd.get_arguments().any(|a| a.get_long() == Some(long)),
                "--{long}"
            );
        }
        // The value parsers are the binary's too.
        let parse = |args: &[&str]| cmd.clone().try_get_matches_from(args);
        assert!(parse(&["cloudabi-run", "--stop-signal", "TERM", "p"]).is_ok());
        assert!(parse(&["cloudabi-run", "--stop-signal", "SEGV", "p"]).is_err());
        assert!(parse(&["cloudabi-run", "--memory", "lots", "p"]).is_err());
    }
}
