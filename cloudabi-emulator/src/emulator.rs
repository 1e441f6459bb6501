//! [`Emulator`]: the public way to run a CloudABI program, either in a forked child
//! ([`Emulator::run`]) or in this process ([`Emulator::exec`]), with limits on the
//! rights of its descriptors.

use std::convert::Infallible;
use std::io;
use std::os::fd::OwnedFd;

use cloudabi_types::Rights;

use crate::elf::{Executable, HOST_MACHINE};
use crate::error::Error;
use crate::grant::GrantMode;
use crate::{host, loader, program, syscalls};

/// A limit on one descriptor's rights, applied when the descriptor table is built.
#[derive(Clone, Copy, Debug)]
enum Limit {
    /// Intersect with these rights.
    Rights {
        fd: u32,
        base: Rights,
        inheriting: Rights,
    },
    /// Directories only: intersect with the grant mode's rights.
    Mode { fd: u32, mode: GrantMode },
}

impl Limit {
    fn fd(self) -> u32 {
        match self {
            Limit::Rights { fd, .. } | Limit::Mode { fd, .. } => fd,
        }
    }
}

/// A CloudABI program ready to run: its executable, argdata and descriptors.
#[derive(Debug)]
pub struct Emulator {
    executable: OwnedFd,
    argdata: Vec<u8>,
    fds: Vec<OwnedFd>,
    limits: Vec<Limit>,
}

impl Emulator {
    /// Prepares to run `executable` with the encoded `argdata`; `fds[i]` becomes the
    /// guest's descriptor `i`, so fd leaves in the argdata must use those numbers.
    #[must_use]
    pub fn new(executable: OwnedFd, argdata: Vec<u8>, fds: Vec<OwnedFd>) -> Emulator {
        Emulator {
            executable,
            argdata,
            fds,
            limits: Vec::new(),
        }
    }

    /// Gives guest descriptor `fd` at most `base` rights (on the descriptor itself) and
    /// `inheriting` rights (the most that descriptors opened through it may get). Each
    /// descriptor starts with every right its type and open mode allow; this keeps only
    /// those that are also in `base` and `inheriting` (an intersection: it never adds a
    /// right), so several calls for one descriptor combine. The limits are applied when
    /// the program's descriptor table is built, by [`run`](Emulator::run) as by
    /// [`exec`](Emulator::exec); a descriptor number the program does not get makes both
    /// fail with [`Error::NoSuchDescriptor`].
    ///
    /// ```no_run
    /// use std::os::fd::OwnedFd;
    /// use cloudabi_emulator::Emulator;
    /// use cloudabi_caps::rights;
    ///
    /// let program = OwnedFd::from(std::fs::File::open("target/cloudabi/x86_64-unknown-cloudabi/ls")?);
    /// let dir = OwnedFd::from(std::fs::File::open("/srv/www")?);
    /// let stdout = OwnedFd::from(std::fs::File::options().write(true).open("/dev/stdout")?);
    /// // Argdata {dir: !fd 0, out: !fd 1}.
    /// let argdata = argdata::Value::map([
    ///     ("dir", argdata::Value::from(argdata::Fd(0))),
    ///     ("out", argdata::Value::from(argdata::Fd(1))),
    /// ])
    /// .encode()
    /// .bytes;
    /// // The directory may be listed and opened, and only for reading.
    /// let _status = Emulator::new(program, argdata, vec![dir, stdout])
    ///     .limit_rights(0, rights::DIRECTORY_READ_ONLY, rights::FILE_READ_ONLY)
    ///     .run()?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[must_use]
    pub fn limit_rights(mut self, fd: u32, base: Rights, inheriting: Rights) -> Emulator {
        self.limits.push(Limit::Rights {
            fd,
            base,
            inheriting,
        });
        self
    }

    /// Gives guest descriptor `fd`, if it is a directory, the rights of a directory
    /// granted with `mode` ([`GrantMode::directory_rights`]; the table is in [`grant`](crate::grant)).
    /// Other descriptors are left as they are, since their open mode already shows in
    /// their rights (a directory is always open read-only on Linux, so its grant's mode
    /// does not). Applied like [`limit_rights`](Emulator::limit_rights).
    ///
    /// ```no_run
    /// use std::os::fd::OwnedFd;
    /// use cloudabi_emulator::Emulator;
    /// use cloudabi_emulator::grant::GrantMode;
    ///
    /// let program = OwnedFd::from(std::fs::File::open("target/cloudabi/x86_64-unknown-cloudabi/ls")?);
    /// let dir = OwnedFd::from(std::fs::File::open("/srv/www")?);
    /// // Creating, writing, removing or renaming beneath descriptor 0 fails with
    /// // ENOTCAPABLE in the emulator.
    /// let emulator = Emulator::new(program, Vec::new(), vec![dir]).grant_mode(0, GrantMode::Read);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[must_use]
    pub fn grant_mode(mut self, fd: u32, mode: GrantMode) -> Emulator {
        self.limits.push(Limit::Mode { fd, mode });
        self
    }

    /// Fails if a limit names a descriptor the program does not get.
    fn check_limits(&self) -> Result<(), Error> {
        let count = self.fds.len();
        match self
            .limits
            .iter()
            .map(|l| l.fd())
            .find(|&fd| usize::try_from(fd).map_or(true, |fd| fd >= count))
        {
            Some(fd) => Err(Error::NoSuchDescriptor { fd, count }),
            None => Ok(()),
        }
    }

    /// The host descriptors the child of [`run`](Emulator::run) keeps, sorted: the
    /// granted ones, the executable and the standard streams (on which the child reports
    /// a program that cannot start).
    fn descriptors_to_keep(&self) -> Vec<i32> {
        let mut keep: Vec<i32> = self
            .fds
            .iter()
            .chain([&self.executable])
            .map(std::os::fd::AsRawFd::as_raw_fd)
            .chain([0, 1, 2])
            .collect();
        keep.sort_unstable();
        keep.dedup();
        keep
    }

    /// Runs the program in a child process (a `fork` of this one) and returns its exit
    /// status: the `proc_exit` value, or 128 plus the signal number if it was killed.
    /// A program that cannot be loaded gives an [`Error`](enum@Error) (reported in the child, exit
    /// status 127, when only the child finds out).
    ///
    /// The child keeps only the granted descriptors, the executable and the standard
    /// streams 0, 1 and 2 of this process: it closes every other descriptor it inherited
    /// before loading the program, so that, for example, the program sees the end of a
    /// pipe or socket once the caller closes its own end.
    ///
    /// # Errors
    ///
    /// Validation errors of the executable and of the rights limits (checked before
    /// forking), or `fork` and `waitpid` failures.
    pub fn run(self) -> Result<i32, Error> {
        let file = loader::read_executable(&self.executable).map_err(Error::Read)?;
        Executable::parse(&file, HOST_MACHINE)?;
        self.check_limits()?;
        // Computed before forking: the child of a multi-threaded caller should not allocate
        // before it has dropped everything it does not need.
        let keep = self.descriptors_to_keep();
        // SAFETY: the child only closes descriptors, runs the loader and the guest, then
        // leaves with _exit; it never returns into the caller's code.
        let pid = unsafe { libc::fork() };
        if pid < 0 {
            return Err(Error::Process(io::Error::last_os_error()));
        }
        if pid == 0 {
            // SAFETY: this fresh child only runs the loader and the guest and then leaves
            // with _exit; nothing it still uses owns a descriptor outside `keep`.
            unsafe { ::program::launch::close_all_but(&keep) };
            drop(keep);
            let Err(e) = self.exec();
            let msg = format!("cloudabi-emulator: {e}\n");
            // SAFETY: writes a local buffer to stderr, then ends the child at once.
            unsafe {
                libc::write(2, msg.as_ptr().cast(), msg.len());
                libc::_exit(127);
            }
        }
        drop(self);
        let mut status = 0;
        loop {
            // SAFETY: waits for the child created above; `status` is a valid out pointer.
            let r = unsafe { libc::waitpid(pid, &mut status, 0) };
            if r == pid {
                break;
            }
            let e = io::Error::last_os_error();
            if e.kind() != io::ErrorKind::Interrupted {
                return Err(Error::Process(e));
            }
        }
        if libc::WIFEXITED(status) {
            Ok(libc::WEXITSTATUS(status))
        } else {
            Ok(128 + libc::WTERMSIG(status))
        }
    }

    /// Runs the program in this process, on this thread: the process ends when the
    /// program does (`proc_exit`). Call it from a process that has nothing else to do,
    /// such as a sandboxed launcher. If the program ends this thread while others go on
    /// (`thread_exit` on its first thread, or `proc_exec` on another thread), the host
    /// thread ends too (the raw `exit` system call), so this never returns either.
    ///
    /// The emulator uses the real-time signal `SIGRTMIN + 4` to stop guest threads for
    /// `proc_exec`; the embedding process must leave it alone.
    ///
    /// # Errors
    ///
    /// Everything that prevents the program from starting; once it runs, this never
    /// returns.
    pub fn exec(self) -> Result<Infallible, Error> {
        self.check_limits()?;
        let count = self.fds.len();
        let process = syscalls::Process::new(self.fds).map_err(Error::Descriptors)?;
        for limit in self.limits {
            let applied = match limit {
                Limit::Rights {
                    fd,
                    base,
                    inheriting,
                } => process.limit_rights(fd, base, inheriting),
                Limit::Mode { fd, mode } => process.limit_to_grant(fd, mode),
            };
            applied.map_err(|_| Error::NoSuchDescriptor {
                fd: limit.fd(),
                count,
            })?;
        }
        process.set_host(&host::EMULATOR_HOST);
        process.install();
        let file = loader::read_executable(&self.executable).map_err(Error::Read)?;
        drop(self.executable);
        program::run_first(file, self.argdata)
    }
}
