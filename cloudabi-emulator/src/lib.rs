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
//!
//! The guest runs in the emulator's own address space and threads; it is not a security
//! boundary by itself. `cloudabi-run --emulate` runs the emulator inside the same kernel
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

use thiserror::Error;

pub mod elf;
pub mod loader;
pub mod syscalls;
pub mod tls;
pub mod vdso;

use elf::{ElfError, Executable, HOST_MACHINE};
use loader::Mapping;
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
}

/// A CloudABI program ready to run: its executable, argdata and descriptors.
#[derive(Debug)]
pub struct Emulator {
    executable: OwnedFd,
    argdata: Vec<u8>,
    fds: Vec<OwnedFd>,
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
        }
    }

    /// Runs the program in a child process (a `fork` of this one) and returns its exit
    /// status: the `proc_exit` value, or 128 plus the signal number if it was killed.
    /// A program that cannot be loaded gives an [`Error`](enum@Error) (reported in the child, exit
    /// status 127, when only the child finds out).
    ///
    /// # Errors
    ///
    /// Validation errors of the executable (checked before forking), or `fork` and
    /// `waitpid` failures.
    pub fn run(self) -> Result<i32, Error> {
        let file = loader::read_executable(&self.executable).map_err(Error::Read)?;
        Executable::parse(&file, HOST_MACHINE)?;
        // SAFETY: the child only runs the loader and the guest, then leaves with _exit;
        // it never returns into the caller's code.
        let pid = unsafe { libc::fork() };
        if pid < 0 {
            return Err(Error::Process(io::Error::last_os_error()));
        }
        if pid == 0 {
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
    /// such as a sandboxed launcher.
    ///
    /// # Errors
    ///
    /// Everything that prevents the program from starting; once it runs, this never
    /// returns.
    pub fn exec(self) -> Result<Infallible, Error> {
        let process = syscalls::Process::new(self.fds).map_err(Error::Descriptors)?;
        process.install();
        syscalls::set_host(&EMULATOR_HOST);
        let file = loader::read_executable(&self.executable).map_err(Error::Read)?;
        drop(self.executable);
        start(file, self.argdata)
    }
}

/// The guest's memory owned by the loader, released when the program is replaced.
struct Loaded {
    image: Mapping,
    startup: Mapping,
}

static LOADED: Mutex<Option<Loaded>> = Mutex::new(None);

fn gettid() -> u32 {
    // SAFETY: gettid has no preconditions.
    unsafe { libc::gettid() as u32 }
}

/// Loads `file` and jumps to it with `argdata` on the calling thread.
///
/// Both buffers are released before the jump: nothing on this frame is ever dropped.
fn start(file: Vec<u8>, argdata: Vec<u8>) -> Result<Infallible, Error> {
    let exe = Executable::parse(&file, HOST_MACHINE)?;
    let vdso = vdso::mapped().map_err(Error::Load)?.as_ptr() as u64;
    let image = loader::map_image(&file, &exe).map_err(Error::Load)?;
    drop((file, exe));
    let startup = loader::build_startup(&image, vdso, &argdata, gettid()).map_err(Error::Load)?;
    drop(argdata);
    let stack = loader::map_stack().map_err(Error::Load)?;
    let entry = image.entry;
    let auxv = startup.auxv;
    let tcb = startup.tcb;
    let stack_top = (stack.addr() + stack.len()) as u64;
    // The stack of a replaced program is still in use by this very call; it is given up
    // (left mapped) rather than unmapped.
    let _ = stack.leak();
    let previous = LOADED
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .replace(Loaded {
            image: image.mapping,
            startup: startup.mapping,
        });
    if let Some(old) = previous {
        drop(old.image);
        drop(old.startup);
    }
    // Past the point of no return: close what a `proc_exec` did not keep.
    syscalls::release_retired_descriptors();
    // SAFETY: `entry` lies in an executable segment of the image just mapped, the stack
    // is fresh and 16-byte aligned at its top, and the TCB lives in the startup block,
    // which stays mapped until the program is replaced.
    unsafe { tls::enter(entry, auxv, 0, stack_top, tcb) }
}

/// The loader and thread hooks [`syscalls`] calls for `proc_exec` and `thread_create`.
#[derive(Debug)]
struct EmulatorHost;

static EMULATOR_HOST: EmulatorHost = EmulatorHost;

/// What a new host thread needs to start guest code.
struct ThreadStart {
    entry: u64,
    stack_top: u64,
    argument: u64,
    tid: std::sync::mpsc::SyncSender<u32>,
}

extern "C" fn thread_main(arg: *mut libc::c_void) -> *mut libc::c_void {
    // SAFETY: `arg` is the `Box<ThreadStart>` leaked by `spawn_thread` for this thread.
    let start = unsafe { Box::from_raw(arg.cast::<ThreadStart>()) };
    let tid = gettid();
    let mut tcb = GuestTcb::for_current_thread();
    let (entry, stack_top, argument) = (start.entry, start.stack_top, start.argument);
    if start.tid.send(tid).is_err() {
        return core::ptr::null_mut();
    }
    drop(start);
    // SAFETY: the guest asked for a thread with this entry and stack (`thread_create`);
    // the TCB lives in this frame, which never returns.
    unsafe { tls::enter(entry, u64::from(tid), argument, stack_top, &mut tcb) }
}

impl syscalls::Host for EmulatorHost {
    fn exec(&self, executable: OwnedFd, data: Vec<u8>) -> io::Result<Infallible> {
        let file = loader::read_executable(&executable)?;
        drop(executable);
        match start(file, data) {
            Err(Error::Elf(e)) => Err(io::Error::new(io::ErrorKind::InvalidData, e)),
            Err(Error::Read(e) | Error::Load(e) | Error::Descriptors(e) | Error::Process(e)) => {
                Err(e)
            }
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
        let (tx, rx) = std::sync::mpsc::sync_channel(1);
        let start = Box::into_raw(Box::new(ThreadStart {
            entry,
            stack_top,
            argument,
            tid: tx,
        }));
        // SAFETY: plain pthread calls on a local attribute object; on success the new
        // thread owns `start`, on failure it is reclaimed here.
        unsafe {
            let mut attr: libc::pthread_attr_t = core::mem::zeroed();
            libc::pthread_attr_init(&mut attr);
            libc::pthread_attr_setdetachstate(&mut attr, libc::PTHREAD_CREATE_DETACHED);
            libc::pthread_attr_setstacksize(&mut attr, 256 << 10);
            let mut thread: libc::pthread_t = core::mem::zeroed();
            let r = libc::pthread_create(&mut thread, &attr, thread_main, start.cast());
            libc::pthread_attr_destroy(&mut attr);
            if r != 0 {
                drop(Box::from_raw(start));
                return Err(io::Error::from_raw_os_error(r));
            }
        }
        rx.recv()
            .map_err(|_| io::Error::other("guest thread failed to start"))
    }
}
