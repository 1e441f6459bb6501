//! The sending side of the startup protocol: hand an argdata value and its descriptors
//! to a new program as `docs/startup.md` describes.
//!
//! [`command`] prepares a [`std::process::Command`] (used by tests and small launchers);
//! [`exec`] replaces the current process (used by `program_exec` in C).
//!
//! Numbering: an fd leaf naming 0, 1 or 2 keeps that number in the new program; every
//! other descriptor is deduplicated and numbered 3, 4, ... in order of first appearance
//! (depth first, keys before values). Standard descriptors the value does not name
//! become `/dev/null`. The encoded value goes into a sealed memfd at `3+n`, announced in
//! `CLOUDABI_ARGDATA_FD`, and every descriptor above it is closed at exec.
//!
//! ```no_run
//! use argdata::{Fd, Value};
//!
//! // The program gets its standard output and a count; it sees `{out: !fd 1, count: 3}`.
//! let value = Value::map([("out", Value::from(Fd(1))), ("count", Value::from(3))]);
//! let status = program::launch::command("./my-program", &value)?.status()?;
//! println!("{status}");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::ffi::{CString, OsStr};
use std::fs::File;
use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd, RawFd};
use std::os::unix::process::CommandExt;
use std::process::Command;

use argdata::{Fd, MAX_DEPTH, MapFdsError, Value};
use rustix::fs::MemfdFlags;

use crate::startup::{ARGDATA_FD_ENV, DIAGNOSTICS_FD_ENV, REQUIRED_SEALS};

/// Why a value could not be handed to a new program.
#[derive(Debug, thiserror::Error)]
pub enum LaunchError {
    /// The value holds a negative descriptor number.
    #[error("argdata names the invalid descriptor {0}")]
    BadFd(i32),
    /// The value nests deeper than [`argdata::MAX_DEPTH`].
    #[error("argdata nests deeper than {MAX_DEPTH} levels")]
    TooDeep,
    /// Creating the memfd or opening `/dev/null` failed.
    #[error("cannot prepare the new program's descriptors: {0}")]
    Io(#[from] io::Error),
}

/// How the new program's descriptors are made from this process's.
#[derive(Debug)]
pub struct Plan {
    bytes: Vec<u8>,
    stdio: [Option<RawFd>; 3],
    granted: Vec<RawFd>,
}

impl Plan {
    /// Numbers the descriptors in `value` and encodes it with the new numbers.
    ///
    /// ```
    /// use argdata::{Fd, Value};
    /// let plan = program::launch::Plan::new(&Value::seq([Fd(9), Fd(1), Fd(7), Fd(9)])).unwrap();
    /// assert_eq!(plan.granted(), [9, 7]);
    /// assert_eq!(plan.memfd_number(), 5);
    /// ```
    ///
    /// # Errors
    ///
    /// [`LaunchError::BadFd`] for a negative descriptor, [`LaunchError::TooDeep`].
    pub fn new(value: &Value) -> Result<Self, LaunchError> {
        let mut plan = Plan {
            bytes: Vec::new(),
            stdio: [None; 3],
            granted: Vec::new(),
        };
        let mut renumbered = value.clone();
        renumbered
            .map_fds(|fd| plan.number(fd))
            .map_err(|e| match e {
                MapFdsError::TooDeep => LaunchError::TooDeep,
                MapFdsError::Fd(e) => e,
            })?;
        renumbered
            .encode_raw_fds_into(&mut plan.bytes)
            .map_err(|_| LaunchError::BadFd(-1))?;
        Ok(plan)
    }

    /// The new program's number for `fd`: 0, 1 and 2 stay, any other descriptor gets the
    /// next free number from 3 on its first appearance.
    fn number(&mut self, Fd(fd): Fd) -> Result<Fd, LaunchError> {
        if fd < 0 {
            return Err(LaunchError::BadFd(fd));
        }
        if fd <= 2 {
            self.stdio[fd as usize] = Some(fd);
            return Ok(Fd(fd));
        }
        let index = match self.granted.iter().position(|&g| g == fd) {
            Some(i) => i,
            None => {
                self.granted.push(fd);
                self.granted.len() - 1
            }
        };
        Ok(Fd(
            3 + i32::try_from(index).map_err(|_| LaunchError::BadFd(fd))?
        ))
    }

    /// The encoded value, fd leaves holding the new program's numbers.
    #[must_use]
    pub fn bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// This process's descriptors that become 3, 4, ... in the new program.
    #[must_use]
    pub fn granted(&self) -> &[RawFd] {
        &self.granted
    }

    /// The number the argdata memfd gets in the new program (`3+n`).
    #[must_use]
    pub fn memfd_number(&self) -> RawFd {
        3 + RawFd::try_from(self.granted.len()).unwrap_or(RawFd::MAX - 3)
    }

    /// Creates the sealed memfd, opens `/dev/null` for missing standard descriptors and
    /// returns everything [`Prepared::arrange`] needs.
    ///
    /// # Errors
    ///
    /// Any error creating, writing or sealing the memfd or opening `/dev/null`.
    pub fn prepare(&self) -> Result<Prepared, LaunchError> {
        let memfd = sealed_memfd(&self.bytes)?;
        let mut keep = Vec::new();
        let mut sources = Vec::with_capacity(self.granted.len() + 4);
        for (i, src) in self.stdio.iter().enumerate() {
            match src {
                Some(fd) => sources.push(*fd),
                None => {
                    let null = if i == 0 {
                        File::open("/dev/null")?
                    } else {
                        File::options().write(true).open("/dev/null")?
                    };
                    sources.push(null.as_raw_fd());
                    keep.push(OwnedFd::from(null));
                }
            }
        }
        sources.extend_from_slice(&self.granted);
        sources.push(memfd.as_raw_fd());
        let scratch = vec![-1; sources.len()];
        keep.push(memfd);
        Ok(Prepared {
            sources,
            scratch,
            _keep: keep,
        })
    }
}

/// Writes `bytes` into a memfd named `argdata`, seals it as the protocol requires and
/// leaves its offset at 0 (`docs/startup.md`). Every launcher's argdata memfd comes from
/// here.
///
/// # Errors
///
/// Any error of `memfd_create`, `write` (an interrupted write is retried),
/// `fcntl(F_ADD_SEALS)` or `lseek`.
pub fn sealed_memfd(bytes: &[u8]) -> io::Result<OwnedFd> {
    let fd = rustix::fs::memfd_create("argdata", MemfdFlags::CLOEXEC | MemfdFlags::ALLOW_SEALING)?;
    let mut rest = bytes;
    while !rest.is_empty() {
        match rustix::io::write(&fd, rest) {
            Ok(n) => rest = &rest[n..],
            Err(rustix::io::Errno::INTR) => {}
            Err(e) => return Err(e.into()),
        }
    }
    rustix::fs::fcntl_add_seals(&fd, REQUIRED_SEALS)?;
    rustix::fs::seek(&fd, rustix::fs::SeekFrom::Start(0))?;
    Ok(fd)
}

/// The environment entry `CLOUDABI_ARGDATA_FD=<memfd>` that announces the argdata memfd.
///
/// ```
/// assert_eq!(program::launch::argdata_fd_env(5).as_bytes(), b"CLOUDABI_ARGDATA_FD=5");
/// ```
#[must_use]
pub fn argdata_fd_env(memfd: RawFd) -> CString {
    env_entry(ARGDATA_FD_ENV, memfd)
}

/// The environment entry `CLOUDABI_DIAGNOSTICS_FD=<fd>` that announces the diagnostics
/// pipe ([`crate::startup::DIAGNOSTICS_FD_ENV`]).
#[must_use]
pub fn diagnostics_fd_env(fd: RawFd) -> CString {
    env_entry(DIAGNOSTICS_FD_ENV, fd)
}

/// `NAME=<number>`: neither part can hold a NUL byte.
fn env_entry(name: &str, number: RawFd) -> CString {
    let mut bytes = Vec::with_capacity(name.len() + 12);
    bytes.extend_from_slice(name.as_bytes());
    bytes.push(b'=');
    bytes.extend_from_slice(number.to_string().as_bytes());
    CString::new(bytes).unwrap_or_default()
}

/// Descriptors ready to be moved into place, in a child after `fork` or before `exec`.
#[derive(Debug)]
pub struct Prepared {
    /// Source for target `i` (0, 1, 2, then 3 ... 3+n-1, then the memfd at 3+n).
    sources: Vec<RawFd>,
    /// Preallocated space for the temporary copies (no allocation while arranging).
    scratch: Vec<RawFd>,
    /// Descriptors this preparation opened (memfd, `/dev/null`).
    _keep: Vec<OwnedFd>,
}

impl Prepared {
    /// The number of the memfd in the new program.
    #[must_use]
    pub fn memfd_number(&self) -> RawFd {
        RawFd::try_from(self.sources.len()).unwrap_or(RawFd::MAX) - 1
    }

    /// Moves every source descriptor to its target number and marks all descriptors above
    /// the memfd close-on-exec. Uses only async-signal-safe system calls and allocates
    /// nothing, so it may run in a child between `fork` and `exec`.
    ///
    /// # Errors
    ///
    /// The error of the failing `fcntl` or `dup2`; descriptors may then be half arranged.
    pub fn arrange(&mut self) -> io::Result<()> {
        let base = self.memfd_number() + 1;
        for (src, tmp) in self.sources.iter().zip(self.scratch.iter_mut()) {
            // SAFETY: fcntl(F_DUPFD_CLOEXEC) only reads the descriptor table; an invalid
            // source makes it fail with EBADF, which is reported.
            let fd = unsafe { libc::fcntl(*src, libc::F_DUPFD_CLOEXEC, base) };
            if fd < 0 {
                return Err(io::Error::last_os_error());
            }
            *tmp = fd;
        }
        for (target, tmp) in self.scratch.iter().enumerate() {
            let target = RawFd::try_from(target).unwrap_or(RawFd::MAX);
            // SAFETY: dup2 replaces `target`, which the protocol reserves for this copy;
            // the caller is about to exec, so nothing else relies on the old descriptor.
            if unsafe { libc::dup2(*tmp, target) } < 0 {
                return Err(io::Error::last_os_error());
            }
        }
        cloexec_from(base);
        Ok(())
    }
}

/// Marks every descriptor from `base` up close-on-exec.
fn cloexec_from(base: RawFd) {
    let first = u32::try_from(base).unwrap_or(u32::MAX);
    // SAFETY: marking descriptors close-on-exec closes none of them.
    unsafe { close_range(first, u32::MAX, RangeAction::CloseOnExec) };
}

/// What [`close_range`] does to each descriptor of its range.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RangeAction {
    /// Close it.
    Close,
    /// Set its close-on-exec flag, leaving it open until the next `exec`.
    CloseOnExec,
}

/// Closes, or marks close-on-exec, every descriptor numbered `first ..= last`; an empty
/// range (`first > last`) does nothing. This is the one `close_range` of the workspace:
/// the launchers and the emulator clear their descriptor tables with it.
///
/// It makes system calls only (no allocation, no locks), so a child may call it between
/// `fork` or `clone` and `exec`. It uses `close_range(2)`; where that fails (Linux before
/// 5.9, or a filter that refuses the call) it falls back to one `close` or `fcntl` per
/// number, up to the soft `RLIMIT_NOFILE` (at most 2^20 numbers; 2^16 when the limit
/// cannot be read). Numbers that are not open are skipped.
///
/// # Safety
///
/// With [`RangeAction::Close`], nothing in this process may still use a descriptor of the
/// range afterwards (typically: the caller is a fresh child that is about to `exec` or
/// `_exit`, or that has dropped every object owning such a descriptor). With
/// [`RangeAction::CloseOnExec`] there is no requirement beyond what `exec` itself implies.
pub unsafe fn close_range(first: u32, last: u32, action: RangeAction) {
    if first > last {
        return;
    }
    let flags = match action {
        RangeAction::Close => 0,
        RangeAction::CloseOnExec => libc::CLOSE_RANGE_CLOEXEC,
    };
    // SAFETY: close_range takes numbers only; the caller vouches for the range (above).
    let ret = unsafe {
        libc::syscall(
            libc::SYS_close_range,
            libc::c_uint::from(first),
            libc::c_uint::from(last),
            flags,
        )
    };
    if ret == 0 {
        return;
    }
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: `limit` is a valid local for getrlimit to write a `struct rlimit` into.
    let max: u32 = if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) } == 0 {
        u32::try_from(limit.rlim_cur.min(1 << 20)).unwrap_or(1 << 20)
    } else {
        1 << 16
    };
    let end = max.min(last.saturating_add(1));
    for fd in first..end {
        let Ok(fd) = libc::c_int::try_from(fd) else {
            break;
        };
        match action {
            // SAFETY: as for close_range above, one number at a time; EBADF for a number
            // that is not open is harmless.
            RangeAction::Close => unsafe {
                libc::close(fd);
            },
            // SAFETY: F_SETFD only sets a flag; EBADF as above.
            RangeAction::CloseOnExec => unsafe {
                libc::fcntl(fd, libc::F_SETFD, libc::FD_CLOEXEC);
            },
        }
    }
}

/// Closes every descriptor of this process except those in `keep` (sorted ascending,
/// without duplicates; negative numbers are ignored), through [`close_range`].
///
/// # Safety
///
/// As for [`close_range`] with [`RangeAction::Close`], for every descriptor not in `keep`.
pub unsafe fn close_all_but(keep: &[RawFd]) {
    let mut next: u32 = 0;
    for &fd in keep {
        let Ok(fd) = u32::try_from(fd) else {
            continue;
        };
        if fd > next {
            // SAFETY: the caller's promise, for the numbers below this kept one.
            unsafe { close_range(next, fd - 1, RangeAction::Close) };
        }
        next = next.max(fd.saturating_add(1));
    }
    // SAFETY: the caller's promise, for the numbers above the last kept one (a descriptor
    // number is at most `i32::MAX`, so `next` is above every kept one).
    unsafe { close_range(next, u32::MAX, RangeAction::Close) };
}

/// A [`Command`] that starts `program` with `value` through the startup protocol. The
/// environment is cleared except for `CLOUDABI_ARGDATA_FD`.
///
/// ```no_run
/// use argdata::{Fd, Value};
/// let mut cmd = program::launch::command("target/debug/examples/hello", &Value::seq([Fd(1)]))?;
/// let status = cmd.status()?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// # Errors
///
/// As [`Plan::new`] and [`Plan::prepare`].
pub fn command(program: impl AsRef<OsStr>, value: &Value) -> Result<Command, LaunchError> {
    let plan = Plan::new(value)?;
    let mut prepared = plan.prepare()?;
    let mut cmd = Command::new(program);
    cmd.env_clear()
        .env(ARGDATA_FD_ENV, prepared.memfd_number().to_string());
    // SAFETY: `arrange` only calls async-signal-safe functions and does not allocate, as
    // required between fork and exec; the descriptors it reads stay open because
    // `prepared` (holding the memfd) lives in the closure and the caller keeps the
    // granted descriptors open until the command is spawned.
    unsafe {
        cmd.pre_exec(move || prepared.arrange());
    }
    Ok(cmd)
}

/// Replaces the current process by the executable open as `executable`, handing it
/// `value`. Returns only on failure; descriptors may then already be renumbered, so the
/// caller should exit.
#[must_use]
pub fn exec(executable: BorrowedFd<'_>, value: &Value) -> io::Error {
    match exec_inner(executable, value) {
        Ok(never) => match never {},
        Err(LaunchError::Io(e)) => e,
        Err(LaunchError::BadFd(_)) => io::Error::from_raw_os_error(libc::EBADF),
        Err(LaunchError::TooDeep) => io::Error::from_raw_os_error(libc::EINVAL),
    }
}

fn exec_inner(
    executable: BorrowedFd<'_>,
    value: &Value,
) -> Result<std::convert::Infallible, LaunchError> {
    let plan = Plan::new(value)?;
    for fd in plan.granted() {
        // Fail before touching any descriptor if one is not open.
        // SAFETY: F_GETFD only inspects the descriptor table.
        if unsafe { libc::fcntl(*fd, libc::F_GETFD) } < 0 {
            return Err(LaunchError::BadFd(*fd));
        }
    }
    let mut prepared = plan.prepare()?;
    let base = prepared.memfd_number() + 1;
    let exe = rustix::io::fcntl_dupfd_cloexec(executable, base.max(64)).map_err(io::Error::from)?;
    let env = argdata_fd_env(prepared.memfd_number());
    let arg0 = exe_name(exe.as_fd());
    prepared.arrange()?;
    let argv = [arg0.as_ptr(), std::ptr::null()];
    let envp = [env.as_ptr(), std::ptr::null()];
    // SAFETY: argv and envp are NULL-terminated arrays of NUL-terminated strings that
    // outlive the call; the empty path with AT_EMPTY_PATH executes `exe` itself.
    unsafe {
        libc::syscall(
            libc::SYS_execveat,
            exe.as_raw_fd(),
            c"".as_ptr(),
            argv.as_ptr(),
            envp.as_ptr(),
            libc::AT_EMPTY_PATH,
        )
    };
    Err(io::Error::last_os_error().into())
}

/// `argv[0]` for an executable open as `fd`: its file name, if the kernel tells.
fn exe_name(fd: BorrowedFd<'_>) -> CString {
    let link = format!("/proc/self/fd/{}", fd.as_raw_fd());
    std::fs::read_link(link)
        .ok()
        .and_then(|p| p.file_name().map(|n| n.as_encoded_bytes().to_vec()))
        .and_then(|n| CString::new(n).ok())
        .unwrap_or_else(|| c"program".to_owned())
}
