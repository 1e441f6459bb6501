//! The `program_main` entry point for Rust programs.
//!
//! A CloudABI-style program gets its whole configuration, descriptors included, as one
//! argdata value. [`main!`] turns a function taking that value into the program's `main`:
//!
//! ```no_run
//! fn program_main(ad: argdata::Argdata<'_>) -> Result<(), argdata::Error> {
//!     let greeting = ad.get("greeting")?.map_or(Ok("hello"), |v| v.as_str())?;
//!     println!("{greeting}");
//!     Ok(())
//! }
//! program::main!(program_main);
//! ```
//!
//! Before the function runs, the generated `main` receives the argdata as
//! `docs/startup.md` describes ([`startup::load`]): from the sealed memfd a launcher
//! announces in `CLOUDABI_ARGDATA_FD`, or, for debugging by hand, from
//! `PROGRAM --argdata FILE`. Started without either, the program prints
//! `PROGRAM: no argdata: ...` and exits with status 64.
//!
//! The function may return `()`, [`std::process::ExitCode`], or a `Result` of either with
//! any error that implements [`std::fmt::Display`] (printed as `PROGRAM: error`,
//! exit status 1); see [`Outcome`]. A panic is reported by the standard panic hook and
//! ends the program with status 101, as in any Rust program.
//!
//! Descriptors: an fd leaf holds the descriptor number the program sees. Convert it with
//! [`fds`], which accepts only the numbers the launcher granted:
//!
//! ```no_run
//! fn program_main(ad: argdata::Argdata<'_>) -> Result<(), argdata::Error> {
//!     let log = ad.get("log")?.expect("log").as_fd(&program::fds())?;
//!     # let _ = log;
//!     Ok(())
//! }
//! program::main!(program_main);
//! ```

#![cfg_attr(target_os = "cloudabi", no_std)]
// Unsafe code only where allowed below: the CloudABI runtime, the descriptor-taking modules
// and the entry points that must run before any other code.
#![deny(unsafe_code)]
// On docs.rs, feature-gated items carry a badge naming their feature.
#![cfg_attr(docsrs, feature(doc_cfg))]

#[cfg(target_os = "cloudabi")]
#[allow(unsafe_code)]
pub mod cloudabi;
#[cfg(target_os = "cloudabi")]
pub use cloudabi::{Fds, Outcome, argdata, fds, raw_argdata};

#[cfg(all(not(target_os = "cloudabi"), feature = "serde"))]
#[cfg_attr(docsrs, doc(cfg(feature = "serde")))]
#[allow(unsafe_code)]
pub mod cap;
#[cfg(not(target_os = "cloudabi"))]
#[allow(unsafe_code)]
pub mod launch;
#[cfg(not(target_os = "cloudabi"))]
#[allow(unsafe_code)]
pub mod startup;

#[cfg(not(target_os = "cloudabi"))]
use std::ffi::OsString;
#[cfg(not(target_os = "cloudabi"))]
use std::fmt::Display;
#[cfg(not(target_os = "cloudabi"))]
use std::os::fd::RawFd;
#[cfg(not(target_os = "cloudabi"))]
use std::process::ExitCode;
#[cfg(not(target_os = "cloudabi"))]
use std::sync::OnceLock;

#[cfg(not(target_os = "cloudabi"))]
use argdata::Argdata;

#[cfg(not(target_os = "cloudabi"))]
pub use startup::{FdPolicy, Startup, StartupError};

#[cfg(not(target_os = "cloudabi"))]
static STARTUP: OnceLock<Startup> = OnceLock::new();

#[cfg(not(target_os = "cloudabi"))]
/// Runs the startup protocol once and keeps its result for the rest of the process.
///
/// Later calls return the stored argdata without reading anything.
///
/// # Safety
///
/// As [`startup::load`]: call it before any other thread exists, with no other owner of
/// the descriptor named by `CLOUDABI_ARGDATA_FD`.
///
/// # Errors
///
/// Any [`StartupError`] of the first call.
#[allow(unsafe_code)]
pub unsafe fn init(args: impl Iterator<Item = OsString>) -> Result<&'static Startup, StartupError> {
    if let Some(s) = STARTUP.get() {
        return Ok(s);
    }
    // SAFETY: forwarded from this function's own contract.
    let startup = unsafe { startup::load(args) }?;
    Ok(STARTUP.get_or_init(|| startup))
}

#[cfg(not(target_os = "cloudabi"))]
/// The encoded argdata the program was started with, once [`init`] (or [`main!`]) ran.
#[must_use]
pub fn raw_argdata() -> Option<&'static [u8]> {
    STARTUP.get().map(Startup::bytes)
}

#[cfg(not(target_os = "cloudabi"))]
/// The argdata the program was started with, once [`init`] (or [`main!`]) ran.
#[must_use]
pub fn argdata() -> Option<Argdata<'static>> {
    raw_argdata().map(Argdata::new)
}

#[cfg(not(target_os = "cloudabi"))]
/// The converter for fd leaves in the program's argdata: it accepts only the descriptor
/// numbers the launcher granted (0-2 and 3 ... 3+n-1, see `docs/startup.md`), or any
/// number when started by hand with `--argdata FILE`. Before startup it rejects all.
///
/// ```
/// let ad = argdata::Argdata::new(&[0x03, 0, 0, 0, 1]);
/// // Not started through the protocol here: every descriptor is rejected.
/// assert!(ad.as_fd(&program::fds()).is_err());
/// ```
#[must_use]
pub fn fds() -> Fds {
    Fds(STARTUP.get().map(Startup::fd_policy))
}

#[cfg(not(target_os = "cloudabi"))]
/// See [`fds`].
#[derive(Clone, Copy, Debug)]
pub struct Fds(Option<FdPolicy>);

#[cfg(not(target_os = "cloudabi"))]
impl argdata::FdConverter for Fds {
    type Fd = RawFd;

    fn convert(&self, index: u32) -> Option<RawFd> {
        self.0?.convert(u64::from(index))
    }
}

#[cfg(not(target_os = "cloudabi"))]
impl argdata::FdConverter for FdPolicy {
    type Fd = RawFd;

    fn convert(&self, index: u32) -> Option<RawFd> {
        FdPolicy::convert(*self, u64::from(index))
    }
}

#[cfg(not(target_os = "cloudabi"))]
/// What a program's main function may return, and how it becomes an exit status.
pub trait Outcome {
    /// Reports the outcome (errors to stderr, prefixed with `program`) and returns the
    /// exit status.
    fn report(self, program: &str) -> ExitCode;
}

#[cfg(not(target_os = "cloudabi"))]
impl Outcome for () {
    fn report(self, _program: &str) -> ExitCode {
        ExitCode::SUCCESS
    }
}

#[cfg(not(target_os = "cloudabi"))]
impl Outcome for ExitCode {
    fn report(self, _program: &str) -> ExitCode {
        self
    }
}

#[cfg(not(target_os = "cloudabi"))]
impl<T: Outcome, E: Display> Outcome for Result<T, E> {
    fn report(self, program: &str) -> ExitCode {
        match self {
            Ok(t) => t.report(program),
            Err(e) => {
                eprintln!("{program}: {e}");
                ExitCode::FAILURE
            }
        }
    }
}

#[cfg(not(target_os = "cloudabi"))]
/// The program's name for messages: the last component of `argv[0]`.
#[must_use]
pub fn program_name() -> String {
    let arg0 = std::env::args_os().next().unwrap_or_default();
    let path = std::path::Path::new(&arg0);
    path.file_name()
        .unwrap_or(arg0.as_os_str())
        .to_string_lossy()
        .into_owned()
}

#[cfg(not(target_os = "cloudabi"))]
/// Runs `f` with the program's argdata; what [`main!`] expands to.
///
/// # Safety
///
/// As [`init`]: call it first thing in `main`, before other threads exist.
#[allow(unsafe_code)]
pub unsafe fn run<F, R>(f: F) -> ExitCode
where
    F: FnOnce(Argdata<'static>) -> R,
    R: Outcome,
{
    let name = program_name();
    // SAFETY: forwarded from this function's own contract.
    match unsafe { init(std::env::args_os().skip(1)) } {
        Ok(startup) => {
            startup::close_diagnostics();
            f(Argdata::new(startup.bytes())).report(&name)
        }
        Err(e) => {
            eprintln!("{name}: {e}");
            ExitCode::from(e.exit_status())
        }
    }
}

#[cfg(not(target_os = "cloudabi"))]
/// Exit status for argdata that does not decode into the typed configuration
/// (`EX_DATAERR`).
pub const EXIT_DATAERR: u8 = 65;

#[cfg(not(target_os = "cloudabi"))]
/// The converter for typed decoding: fd leaves become [`argdata::Fd`], granted ones only.
#[derive(Clone, Copy, Debug)]
pub struct TypedFds(Fds);

#[cfg(not(target_os = "cloudabi"))]
impl argdata::FdConverter for TypedFds {
    type Fd = argdata::Fd;

    fn convert(&self, index: u32) -> Option<argdata::Fd> {
        self.0.convert(index).map(argdata::Fd)
    }
}

#[cfg(not(target_os = "cloudabi"))]
/// [`fds`] for `serde` decoding with [`argdata::from_slice_with_fds`].
#[must_use]
pub fn typed_fds() -> TypedFds {
    TypedFds(fds())
}

#[cfg(not(target_os = "cloudabi"))]
/// Runs `f` with the program's argdata decoded into `C` (feature `serde`); what
/// `main!(typed f)` expands to. Argdata that does not decode is reported as
/// `PROGRAM: invalid argdata: ...` with exit status 65 (`EX_DATAERR`), before `f` runs.
///
/// # Safety
///
/// As [`init`]: call it first thing in `main`, before other threads exist.
#[cfg(feature = "serde")]
#[allow(unsafe_code)]
pub unsafe fn run_typed<C, F, R>(f: F) -> ExitCode
where
    C: serde::Deserialize<'static>,
    F: FnOnce(C) -> R,
    R: Outcome,
{
    let name = program_name();
    // SAFETY: forwarded from this function's own contract.
    match unsafe { init(std::env::args_os().skip(1)) } {
        Ok(startup) => match argdata::from_slice_with_fds(startup.bytes(), &typed_fds()) {
            Ok(config) => {
                startup::close_diagnostics();
                f(config).report(&name)
            }
            Err(e) => {
                eprintln!("{name}: invalid argdata: {e}");
                startup::report_config_error(e.path().unwrap_or(""), &e.kind().to_string());
                ExitCode::from(EXIT_DATAERR)
            }
        },
        Err(e) => {
            eprintln!("{name}: {e}");
            ExitCode::from(e.exit_status())
        }
    }
}

#[cfg(not(target_os = "cloudabi"))]
/// Defines `fn main` to receive the argdata and call the given function with it.
///
/// `main!(f)`: `f` takes an [`argdata::Argdata`] and returns any [`Outcome`] (see the
/// crate documentation). `main!(typed f)` (feature `serde`): `f` takes any type that
/// implements `serde::Deserialize<'static>`, decoded from the argdata with granted
/// descriptors only ([`run_typed`]):
///
/// ```no_run
/// # #[cfg(feature = "serde")] mod demo {
/// #[derive(serde::Deserialize)]
/// struct Config<'a> {
///     greeting: &'a str,
///     out: argdata::Fd,
/// }
///
/// fn start(config: Config<'static>) {
///     let _ = (config.greeting, config.out);
/// }
/// program::main!(typed start);
/// # }
/// # fn main() {}
/// ```
#[macro_export]
macro_rules! main {
    (typed $f:path) => {
        fn main() -> ::std::process::ExitCode {
            // SAFETY: this runs first in `main`, before the program could start a thread
            // or take ownership of the argdata descriptor.
            unsafe { $crate::run_typed($f) }
        }
    };
    ($f:path) => {
        fn main() -> ::std::process::ExitCode {
            // SAFETY: this runs first in `main`, before the program could start a thread
            // or take ownership of the argdata descriptor.
            unsafe { $crate::run($f) }
        }
    };
}
