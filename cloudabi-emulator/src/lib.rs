//! Runs CloudABI executables on Linux.
//!
//! A CloudABI executable (a static position-independent ELF file with OSABI 17, built
//! for example with `cargo xtask cloudabi build`) expects a kernel that starts it with an
//! auxiliary vector and offers the 49 CloudABI system calls through a vDSO. This crate is
//! that kernel, in user space, for x86-64 and AArch64 Linux hosts:
//!
//! * [`elf`] validates the executable (typed [`elf::ElfError`]s for anything else);
//! * [`loader`] maps its segments at a kernel-randomized base and builds the auxiliary
//!   vector (argdata copy, random canary, random v4 UUID as process ID, thread ID, CPU
//!   count, page size, program headers, vDSO);
//! * [`vdso`] builds the vDSO image: one `cloudabi_sys_*` trampoline per system call that
//!   swaps the guest's thread pointer word for the host's, calls
//!   [`syscalls::dispatch`] and swaps back (see [`tls`]);
//! * [`syscalls`] implements the system calls against a per-process descriptor table
//!   with CloudABI rights.
//! * [`grant`] turns the mode a directory was granted with into its rights
//!   ([`Emulator::grant_mode`]; any other limit: [`Emulator::limit_rights`]).
//!
//! The guest runs in the emulator's own address space and threads; it is not a security
//! boundary by itself. Each guest thread is a host thread (`thread_create` starts one,
//! `thread_exit` returns to its start routine so the C library frees it); `proc_exec`
//! ends every other guest thread, then unmaps everything of the old program (image,
//! stack, startup block, `mem_map`ped memory) before entering the new one. `cloudabi-run --emulate` runs the emulator inside the same kernel
//! sandbox as native programs.
//!
//! ```no_run
//! use std::os::fd::OwnedFd;
//! use cloudabi_emulator::Emulator;
//!
//! let program = OwnedFd::from(std::fs::File::open("target/cloudabi/x86_64-unknown-cloudabi/hello")?);
//! let stdout = OwnedFd::from(std::fs::File::options().write(true).open("/dev/stdout")?);
//! // Argdata: a sequence holding descriptor 0 (the program's fd 0 is `stdout`).
//! let argdata = vec![0x07, 0x85, 0x03, 0, 0, 0, 0];
//! let status = Emulator::new(program, argdata, vec![stdout]).run()?;
//! assert_eq!(status, 0);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::convert::Infallible;
use std::io;
use std::os::fd::OwnedFd;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU32, Ordering};

use thiserror::Error;

pub mod elf;
/// Grant modes and the rights of a directory granted with each (from `cloudabi-caps`).
pub use cloudabi_caps::grant;
mod lifecycle;
pub mod loader;
pub mod syscalls;
pub mod tls;
pub mod vdso;

use cloudabi_types::Rights;
use elf::{ElfError, Executable, HOST_MACHINE};
use grant::GrantMode;
use lifecycle::GuestThread;
use loader::Mapping;
use syscalls::ExecError;
use tls::GuestTcb;

/// Why a guest could not be started.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum Error {
    /// Reading the executable failed.
    #[error("reading the executable: {0}")]
    Read(#[source] io::Error),
    /// The file is not a CloudABI executable for this machine.
    #[error(transparent)]
    Elf(#[from] ElfError),
    /// Mapping memory or creating the startup data failed.
    #[error("loading the executable: {0}")]
    Load(#[source] io::Error),
    /// Classifying the granted descriptors failed.
    #[error("setting up descriptors: {0}")]
    Descriptors(#[source] io::Error),
    /// `fork` or `waitpid` failed (only [`Emulator::run`]).
    #[error("starting the emulated process: {0}")]
    Process(#[source] io::Error),
    /// [`Emulator::limit_rights`] or [`Emulator::grant_mode`] named a descriptor the
    /// program does not get.
    #[error("rights limited for descriptor {fd}, but the program gets only {count}")]
    NoSuchDescriptor {
        /// The descriptor named.
        fd: u32,
        /// How many descriptors the program gets (0 ... count-1).
        count: usize,
    },
}

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
    /// granted with `mode` ([`GrantMode::directory_rights`]; the table is in [`grant`]).
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
            unsafe { program::launch::close_all_but(&keep) };
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
        process.install();
        syscalls::set_host(&EMULATOR_HOST);
        let file = loader::read_executable(&self.executable).map_err(Error::Read)?;
        drop(self.executable);
        lifecycle::install_stop_handler().map_err(Error::Load)?;
        let mut thread = GuestThread::new().map_err(Error::Load)?;
        lifecycle::attach(&mut thread, false);
        let result = load(file, self.argdata).map(|program| {
            let (entry, auxv, stack_top, tcb) = program.install();
            // SAFETY: `entry` lies in an executable segment of the image just mapped, the
            // stack is fresh and 16-byte aligned at its top, the TCB lives in the startup
            // block (mapped until the program is replaced), and `thread` outlives the call.
            unsafe { tls::enter_and_return(entry, auxv, 0, stack_top, tcb, thread.frame()) }
        });
        lifecycle::detach(&thread);
        result?;
        // The program no longer runs on this thread, but may on others.
        drop(thread);
        syscalls::exit_host_thread()
    }
}

/// The guest's memory owned by the loader, released (dropped) when the program is
/// replaced.
struct Loaded {
    _image: Mapping,
    _startup: Mapping,
    stack: Mapping,
}

static LOADED: Mutex<Option<Loaded>> = Mutex::new(None);

/// A program loaded but not yet running.
struct Program {
    memory: Loaded,
    entry: u64,
    auxv: u64,
    tcb: *mut GuestTcb,
}

impl Program {
    /// The top of the program's stack.
    fn stack_top(&self) -> u64 {
        (self.memory.stack.addr() + self.memory.stack.len()) as u64
    }

    /// Makes this the loaded program (releasing a previous one's memory) and returns
    /// where and how to enter it: entry point, auxiliary vector, stack top and TCB.
    fn install(self) -> (u64, u64, u64, *mut GuestTcb) {
        let stack_top = self.stack_top();
        let previous = LOADED
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .replace(self.memory);
        drop(previous);
        (self.entry, self.auxv, stack_top, self.tcb)
    }
}

fn gettid() -> u32 {
    // SAFETY: gettid has no preconditions.
    unsafe { libc::gettid() as u32 }
}

/// Maps `file` with `argdata`, a fresh stack and startup block.
fn load(file: Vec<u8>, argdata: Vec<u8>) -> Result<Program, Error> {
    let exe = Executable::parse(&file, HOST_MACHINE)?;
    let vdso = vdso::mapped().map_err(Error::Load)?.as_ptr() as u64;
    let image = loader::map_image(&file, &exe).map_err(Error::Load)?;
    drop((file, exe));
    let startup = loader::build_startup(&image, vdso, &argdata, gettid()).map_err(Error::Load)?;
    drop(argdata);
    let stack = loader::map_stack().map_err(Error::Load)?;
    Ok(Program {
        entry: image.entry,
        auxv: startup.auxv,
        tcb: startup.tcb,
        memory: Loaded {
            _image: image.mapping,
            _startup: startup.mapping,
            stack,
        },
    })
}

/// Replaces the running program (`proc_exec` on the calling guest thread) with `file`
/// and `argdata`.
///
/// Until the new program is loaded, any failure is returned and the old program goes on.
/// Then the other guest threads are stopped, the calling thread moves onto the new
/// program's stack, and the old program's image, startup block, stack and `mem_map`ped
/// memory are unmapped before the new program is entered: nothing of it stays mapped.
fn replace(file: Vec<u8>, argdata: Vec<u8>) -> Result<Infallible, Error> {
    let thread = lifecycle::current()
        .ok_or_else(|| Error::Load(io::Error::other("proc_exec from a non-guest thread")))?;
    let program = load(file, argdata)?;
    // Past the point of no return.
    lifecycle::stop_other_threads();
    let stack_top = program.stack_top();
    let mut start = core::mem::ManuallyDrop::new(Replacement {
        program,
        frame: thread.frame(),
    });
    // SAFETY: the new stack is fresh and 16-byte aligned at its top, and nothing uses it
    // yet; `finish_replacement` moves the replacement out of this frame before anything
    // is unmapped, and this frame (on the old program's memory) is never returned to.
    unsafe {
        tls::run_on_stack(
            stack_top,
            finish_replacement,
            (&raw mut *start).cast::<core::ffi::c_void>(),
        )
    }
}

/// What [`finish_replacement`] needs.
struct Replacement {
    program: Program,
    frame: *const tls::HostFrame,
}

/// Second half of [`replace`], on the new program's stack: releases everything of the
/// old program and enters the new one.
///
/// # Safety
///
/// `arg` must point to a `ManuallyDrop<Replacement>` that is not used afterwards.
unsafe extern "C" fn finish_replacement(arg: *mut core::ffi::c_void) -> ! {
    // SAFETY: the caller passes a replacement it never touches again; reading moves it.
    let Replacement { program, frame } = unsafe { arg.cast::<Replacement>().read() };
    let (entry, auxv, stack_top, tcb) = program.install();
    syscalls::release_old_program();
    // Close what a `proc_exec` did not keep.
    syscalls::release_retired_descriptors();
    lifecycle::end_exec();
    // SAFETY: as for the first program (see `Emulator::exec`); `frame` is the calling
    // thread's frame, whose `enter_and_return` has not returned (the thread runs guest
    // code, or this exec, until it does), and nothing on this stack is needed any more.
    unsafe { tls::enter_for_good(entry, auxv, 0, stack_top, tcb, frame) }
}

/// The loader and thread hooks [`syscalls`] calls for `proc_exec` and `thread_create`.
#[derive(Debug)]
struct EmulatorHost;

static EMULATOR_HOST: EmulatorHost = EmulatorHost;

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

impl syscalls::Host for EmulatorHost {
    fn exec(&self, executable: OwnedFd, data: Vec<u8>) -> Result<Infallible, ExecError> {
        let file = loader::read_executable(&executable)?;
        drop(executable);
        match replace(file, data) {
            // Kept typed: `proc_exec` owes the guest `ENOEXEC` for these.
            Err(Error::Elf(e)) => Err(ExecError::NotExecutable(e)),
            Err(Error::Read(e) | Error::Load(e) | Error::Descriptors(e) | Error::Process(e)) => {
                Err(ExecError::Io(e))
            }
            Err(e @ Error::NoSuchDescriptor { .. }) => Err(ExecError::Io(io::Error::other(e))),
        }
    }

    fn spawn_thread(
        &self,
        entry: u64,
        stack: u64,
        stack_len: u64,
        argument: u64,
    ) -> io::Result<u32> {
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

    fn exit_thread(&self) -> ! {
        match lifecycle::current() {
            Some(thread) => thread.exit(),
            None => syscalls::exit_host_thread(),
        }
    }
}
