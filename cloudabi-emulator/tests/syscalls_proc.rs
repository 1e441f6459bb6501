//! Processes: `proc_fork`, `proc_exit`, `proc_raise`, `proc_exec` and waiting for a child
//! with `poll` (`proc_terminate`).
//!
//! Forked children only call `proc_exit`/`proc_raise` through the emulator, so they never
//! return into the test harness.

mod syscalls_support;

use std::sync::Mutex;

use cloudabi_emulator::syscalls::{self, ExecError, Host, Process};
use cloudabi_types::{
    Errno, Event, EventType, Fd, FileType, Rights, Signal, Subscription, SubscriptionProcTerminate,
    SubscriptionUnion, SyscallNumber,
};
use syscalls_support::*;

/// Forks; in the child runs `child` (which must end the process) and in the parent
/// returns the process descriptor.
fn fork(p: &Process, child: impl FnOnce()) -> u32 {
    let (mut fd, mut tid) = (0u32, 0u32);
    assert_eq!(
        sys(p, "proc_fork", &[mptr(&mut fd), mptr(&mut tid)]),
        Errno::SUCCESS
    );
    if fd == Fd::PROCESS_CHILD.0 {
        // SAFETY: gettid has no preconditions.
        if tid != unsafe { libc::gettid() } as u32 {
            sys(p, "proc_exit", &[99]);
        }
        child();
        sys(p, "proc_exit", &[98]);
        unreachable!("proc_exit returned");
    }
    fd
}

/// Waits for the child behind `fd` to end.
fn wait(p: &Process, fd: u32) -> Event {
    let sub = Subscription {
        userdata: 11,
        r#type: EventType::PROC_TERMINATE,
        u: SubscriptionUnion {
            proc_terminate: SubscriptionProcTerminate { fd: Fd(fd) },
        },
        ..Subscription::default()
    };
    let mut ev = Event::default();
    let mut n = 0u64;
    assert_eq!(
        sys(p, "poll", &[ptr(&sub), mptr(&mut ev), 1, mptr(&mut n)]),
        Errno::SUCCESS
    );
    assert_eq!(
        (n, ev.userdata, ev.r#type),
        (1, 11, EventType::PROC_TERMINATE)
    );
    ev
}

#[test]
fn fork_exit_and_wait() {
    let (_dir, p) = process_in_tempdir();
    let child = fork(&p, || {
        sys(&p, "proc_exit", &[42]);
    });
    let st = fdstat(&p, child).unwrap();
    assert_eq!(st.fs_filetype, FileType::PROCESS);
    assert!(st.fs_rights_base.contains(Rights::POLL_PROC_TERMINATE));
    let ev = wait(&p, child);
    assert_eq!(ev.error, Errno::SUCCESS);
    // SAFETY: proc_terminate events carry the proc_terminate member.
    let done = unsafe { ev.u.proc_terminate };
    assert_eq!((done.signal, done.exitcode), (Signal(0), 42));
    // Waiting again reports the same, from the cached status.
    // SAFETY: as above.
    assert_eq!(unsafe { wait(&p, child).u.proc_terminate }.exitcode, 42);
    assert_eq!(sys(&p, "fd_close", &[child.into()]), Errno::SUCCESS);
    assert_eq!(sys(&p, "proc_fork", &[0, 0]), Errno::FAULT);
}

#[test]
fn raise_terminates_or_is_ignored() {
    let (_dir, p) = process_in_tempdir();
    let killed = fork(&p, || {
        sys(&p, "proc_raise", &[Signal::TERM.0.into()]);
    });
    // SAFETY: proc_terminate events carry the proc_terminate member.
    let done = unsafe { wait(&p, killed).u.proc_terminate };
    assert_eq!(done.signal, Signal::TERM);
    let ignored = fork(&p, || {
        if sys(&p, "proc_raise", &[Signal::CHLD.0.into()]) == Errno::SUCCESS {
            sys(&p, "proc_exit", &[3]);
        }
    });
    // SAFETY: as above.
    let done = unsafe { wait(&p, ignored).u.proc_terminate };
    assert_eq!((done.signal, done.exitcode), (Signal(0), 3));
    assert_eq!(sys(&p, "proc_raise", &[0]), Errno::INVAL);
    assert_eq!(sys(&p, "proc_raise", &[200]), Errno::INVAL);
}

#[test]
fn closing_the_process_descriptor_kills_the_child() {
    let (_dir, p) = process_in_tempdir();
    let (a, b) = fd_create2(&p, FileType::SOCKET_STREAM).expect("fd_create2");
    let child = fork(&p, || {
        loop {
            // Holds its copy of `b` open until killed.
            sys(&p, "thread_yield", &[]);
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
    });
    assert_eq!(sys(&p, "fd_close", &[b.into()]), Errno::SUCCESS);
    assert_eq!(sys(&p, "fd_close", &[child.into()]), Errno::SUCCESS);
    // The child's end is gone with it: the stream reports end of file (well before the
    // five second timeout).
    let subs = [
        Subscription {
            userdata: 1,
            r#type: EventType::FD_READ,
            u: SubscriptionUnion {
                fd_readwrite: cloudabi_types::SubscriptionFdReadwrite {
                    fd: Fd(a),
                    ..Default::default()
                },
            },
            ..Subscription::default()
        },
        Subscription {
            userdata: 2,
            r#type: EventType::CLOCK,
            u: SubscriptionUnion {
                clock: cloudabi_types::SubscriptionClock {
                    clock_id: cloudabi_types::ClockId::MONOTONIC,
                    timeout: 5_000_000_000,
                    ..Default::default()
                },
            },
            ..Subscription::default()
        },
    ];
    let mut evs = [Event::default(); 2];
    let mut n = 0u64;
    assert_eq!(
        sys(&p, "poll", &[ptr(&subs), mptr(&mut evs), 2, mptr(&mut n)]),
        Errno::SUCCESS
    );
    assert_eq!((n, evs[0].userdata), (1, 1));
    assert_eq!(read(&p, a, 8).unwrap(), b"");
    // A non-process descriptor cannot be waited on.
    let sub = Subscription {
        r#type: EventType::PROC_TERMINATE,
        u: SubscriptionUnion {
            proc_terminate: SubscriptionProcTerminate { fd: Fd(a) },
        },
        ..Subscription::default()
    };
    let mut ev = Event::default();
    let mut n = 0u64;
    assert_eq!(
        sys(&p, "poll", &[ptr(&sub), mptr(&mut ev), 1, mptr(&mut n)]),
        Errno::SUCCESS
    );
    assert_eq!(ev.error, Errno::NOTCAPABLE);
}

/// What the test host saw when asked to exec.
static EXECS: Mutex<Vec<(Vec<u8>, Vec<FileType>)>> = Mutex::new(Vec::new());

struct ExecHost;

impl Host for ExecHost {
    fn exec(
        &self,
        _: std::os::fd::OwnedFd,
        data: Vec<u8>,
    ) -> Result<std::convert::Infallible, ExecError> {
        // Look at the renumbered table through the installed process.
        let mut types = Vec::new();
        for fd in 0..4u64 {
            let mut st = cloudabi_types::FdStat::default();
            let number = u64::from(SyscallNumber::FD_STAT_GET.0);
            if syscalls::dispatch(fd, mptr(&mut st), 0, 0, 0, 0, 0, number) == 0 {
                types.push(st.fs_filetype);
            }
        }
        EXECS.lock().unwrap().push((data, types));
        Err(std::io::Error::from_raw_os_error(libc::ENOEXEC).into())
    }

    fn spawn_thread(&self, _: u64, _: u64, _: u64, _: u64) -> std::io::Result<u32> {
        Err(std::io::Error::from_raw_os_error(libc::EAGAIN))
    }
}

static HOST: ExecHost = ExecHost;

#[test]
fn exec_renumbers_descriptors_and_restores_on_failure() {
    let dir = tempfile::tempdir().unwrap();
    let exe = dir.path().join("prog");
    std::fs::write(&exe, b"\x7fELF").unwrap();
    let p = Process::new(vec![open(dir.path(), false), open(&exe, false)]).unwrap();
    p.set_host(&HOST);
    p.install();
    let (mut a, mut b) = (0u32, 0u32);
    let call = |name: &str, args: &[u64]| {
        let number = cloudabi_types::Syscall::by_name(name).unwrap().number.0;
        let mut s = [0u64; 7];
        s[..args.len()].copy_from_slice(args);
        Errno(syscalls::dispatch(
            s[0],
            s[1],
            s[2],
            s[3],
            s[4],
            s[5],
            s[6],
            number.into(),
        ))
    };
    assert_eq!(
        call(
            "fd_create2",
            &[FileType::SOCKET_DGRAM.0.into(), mptr(&mut a), mptr(&mut b)]
        ),
        Errno::SUCCESS
    );
    let data = *b"argdata";
    // Keep the socket, then the directory: they become 0 and 1.
    let keep = [a, 0u32];
    assert_eq!(
        call("proc_exec", &[1, ptr(&data), 7, ptr(&keep), 2]),
        Errno::NOEXEC
    );
    let seen = EXECS.lock().unwrap().pop().unwrap();
    assert_eq!(seen.0, b"argdata");
    assert_eq!(seen.1, [FileType::SOCKET_DGRAM, FileType::DIRECTORY]);
    // The failed exec left the old table in place.
    let mut st = cloudabi_types::FdStat::default();
    assert_eq!(call("fd_stat_get", &[1, mptr(&mut st)]), Errno::SUCCESS);
    assert_eq!(st.fs_filetype, FileType::REGULAR_FILE);
    // Errors: a directory is not executable; unknown descriptors to keep.
    assert_eq!(
        call("proc_exec", &[0, ptr(&data), 7, ptr(&keep), 2]),
        Errno::NOTCAPABLE
    );
    let bad = [77u32];
    assert_eq!(
        call("proc_exec", &[1, ptr(&data), 7, ptr(&bad), 1]),
        Errno::BADF
    );
    assert_eq!(
        call("proc_exec", &[9, ptr(&data), 7, ptr(&bad), 1]),
        Errno::BADF
    );
    // Thread creation failures from the host come back as errno values.
    let attr = cloudabi_types::ThreadAttr::default();
    let mut tid = 0u32;
    assert_eq!(
        call("thread_create", &[ptr(&attr), mptr(&mut tid)]),
        Errno::AGAIN
    );
}

#[test]
fn the_host_belongs_to_its_process() {
    // Each process reaches only its own host: one without a host cannot start threads
    // (ENOSYS) even while another process of this test binary has one.
    let with = Process::new(Vec::new()).unwrap();
    with.set_host(&HOST);
    let without = Process::new(Vec::new()).unwrap();
    let attr = cloudabi_types::ThreadAttr::default();
    let mut tid = 0u32;
    assert_eq!(
        sys(&with, "thread_create", &[ptr(&attr), mptr(&mut tid)]),
        Errno::AGAIN
    );
    assert_eq!(
        sys(&without, "thread_create", &[ptr(&attr), mptr(&mut tid)]),
        Errno::NOSYS
    );
}
