//! `proc_exec` keeps exactly the listed descriptors: the ones it drops are closed once the
//! loader has reached the point of no return (`release_retired_descriptors`), not leaked
//! into the new program's process.
//!
//! A test binary of its own: it installs its own process-global state and `Host`.

mod syscalls_support;

use std::os::fd::OwnedFd;
use std::sync::Mutex;

use cloudabi_emulator::syscalls::{self, ExecError, Host, Process};
use cloudabi_types::{Errno, FdStat, FileType, SyscallNumber};
use rustix::event::{PollFd, PollFlags, poll};
use syscalls_support::*;

/// How many table slots the simulated loader released.
static RELEASED: Mutex<Vec<usize>> = Mutex::new(Vec::new());

/// Plays the loader: everything loaded, so it releases the retired table, then (being a
/// test, it cannot jump into a new program) reports a failure after that point.
struct LoaderAtPointOfNoReturn;

impl Host for LoaderAtPointOfNoReturn {
    fn exec(&self, _: OwnedFd, _: Vec<u8>) -> Result<std::convert::Infallible, ExecError> {
        RELEASED
            .lock()
            .unwrap()
            .push(syscalls::release_retired_descriptors());
        Err(std::io::Error::from_raw_os_error(libc::ENOEXEC).into())
    }

    fn spawn_thread(&self, _: u64, _: u64, _: u64, _: u64) -> std::io::Result<u32> {
        Err(std::io::Error::from_raw_os_error(libc::EAGAIN))
    }
}

static HOST: LoaderAtPointOfNoReturn = LoaderAtPointOfNoReturn;

/// Whether every copy of the pipe's write end is closed (the read end sees a hang-up).
fn hung_up(read_end: &OwnedFd) -> bool {
    let mut fds = [PollFd::new(read_end, PollFlags::IN)];
    poll(&mut fds, Some(&rustix::event::Timespec::default())).unwrap();
    fds[0].revents().contains(PollFlags::HUP)
}

#[test]
fn dropped_descriptors_are_closed_after_exec() {
    let dir = tempfile::tempdir().unwrap();
    let exe = dir.path().join("prog");
    std::fs::write(&exe, b"\x7fELF").unwrap();
    let (read_end, write_end) = rustix::pipe::pipe().unwrap();
    // Guest descriptors: 0 the directory, 1 the executable, 2 the pipe's write end.
    let p = Process::new(vec![open(dir.path(), false), open(&exe, false), write_end]).unwrap();
    p.set_host(&HOST);
    p.install();
    assert!(!hung_up(&read_end), "the guest still holds the write end");

    // Keep only the directory; the pipe's write end is not passed on.
    let keep = [0u32];
    let data = *b"argdata";
    let number = u64::from(SyscallNumber::PROC_EXEC.0);
    let errno = syscalls::dispatch(1, ptr(&data), 7, ptr(&keep), 1, 0, 0, number);
    assert_eq!(Errno(errno), Errno::NOEXEC);

    // The loader released the three slots of the old table, and with them the only copy
    // of the write end: nothing of the old program survives in the new one.
    assert_eq!(*RELEASED.lock().unwrap(), [3]);
    assert!(hung_up(&read_end), "the dropped descriptor was leaked");
    // The new table holds just the kept directory, renumbered to 0.
    assert_eq!(installed_filetype(0), Ok(FileType::DIRECTORY));
    assert_eq!(installed_filetype(1), Err(Errno::BADF));
    assert_eq!(installed_filetype(2), Err(Errno::BADF));
}

/// The type of guest descriptor `fd` in the installed process (through `dispatch`).
fn installed_filetype(fd: u64) -> Result<FileType, Errno> {
    let mut st = FdStat::default();
    let number = u64::from(SyscallNumber::FD_STAT_GET.0);
    match Errno(syscalls::dispatch(fd, mptr(&mut st), 0, 0, 0, 0, 0, number)) {
        Errno::SUCCESS => Ok(st.fs_filetype),
        e => Err(e),
    }
}
