//! `hostile` for CloudABI: a guest that tries to break out of `cloudabi-run --emulate`, in
//! two layers, and checks that legitimate work still succeeds.
//!
//! * **CloudABI layer** (`ca-*`): system calls through the vDSO, which the emulator must
//!   refuse with a specific CloudABI errno (absolute paths, `..`, symbolic links leading
//!   out, rights it does not hold, descriptors it was never given, bad pointers, W^X, ...).
//!   Changes beneath the read-only directory (`ca-*-in-read-only-dir`, ...) fail with
//!   `ENOTCAPABLE` too: `cloudabi-run --emulate` passes each grant's mode to the emulator,
//!   which gives the directory read-only rights (the `linux-*` attempts show that the
//!   kernel sandbox refuses the same changes underneath on its own).
//! * **Linux layer** (`linux-*`, x86-64 only): raw `syscall` instructions that bypass the
//!   emulator entirely. The guest runs inside the emulator's process, so only the kernel
//!   sandbox stands in the way; each attempt expects the errno that sandbox produces
//!   (seccomp `EPERM`/`ENOSYS`, Landlock `EACCES`/`EPERM`, the grants' own detached
//!   mounts' `ENOENT` beyond `..`, `EROFS` in read-only grants and `EXDEV` between grants,
//!   the empty read-only root's `ENOENT`/`EROFS`, sealed non-executable memfds' `EACCES`,
//!   the PID namespace's `ESRCH`, the network namespace's
//!   `ECONNREFUSED`, the launcher's append relay's `ESPIPE`), so that a missing layer
//!   turns the line into `ESCAPED`.
//!
//! Every attempt prints one line to `out`: `DENIED name: reason` when refused with the
//! expected error, `ESCAPED name: ...` when it succeeded or failed differently; legitimate
//! operations print `OK name` or `FAIL name: why`. The last line is `DONE`.
//!
//! Argdata: `{ro: FD, rw: FD, log: FD, out: FD, outer_pid: INT, abstract: STR}`. `ro` is a
//! directory granted read-only holding `hello.txt` ("hello\n"), `sub/deeper/nested.txt`
//! ("nested\n"), `inside-link` (to `hello.txt`), `escape-link` (to `../secret.txt`) and
//! `abs-link` (an absolute path); `secret.txt` lies next to `ro`. `rw` is an empty
//! directory granted read-write, `log` a file granted append-only. `outer_pid` is a process
//! outside the sandbox, `abstract` the name of an abstract UNIX socket listening outside.
#![no_std]
#![no_main]

extern crate alloc;

use alloc::format;
use alloc::string::String;
use alloc::vec;
use alloc::vec::Vec;
use core::sync::atomic::{AtomicU32, Ordering};

use argdata::Argdata;
use program::cloudabi::sys::{self, Errno, SyscallNumber as N};

/// CloudABI constants (`cloudabi_types`), spelled out: this program checks the ABI as a
/// foreign program would see it.
mod abi {
    pub(crate) const FD_DATASYNC: u64 = 0x1;
    pub(crate) const FD_READ: u64 = 0x2;
    pub(crate) const FD_SEEK: u64 = 0x4;
    pub(crate) const FD_TELL: u64 = 0x20;
    pub(crate) const FD_WRITE: u64 = 0x40;
    pub(crate) const FILE_ALLOCATE: u64 = 0x100;
    pub(crate) const FILE_CREATE_DIRECTORY: u64 = 0x200;
    pub(crate) const FILE_CREATE_FILE: u64 = 0x400;
    pub(crate) const FILE_LINK_SOURCE: u64 = 0x1000;
    pub(crate) const FILE_LINK_TARGET: u64 = 0x2000;
    pub(crate) const FILE_OPEN: u64 = 0x4000;
    pub(crate) const FILE_READDIR: u64 = 0x8000;
    pub(crate) const FILE_READLINK: u64 = 0x10000;
    pub(crate) const FILE_STAT_FGET: u64 = 0x80000;
    pub(crate) const FILE_STAT_FPUT_SIZE: u64 = 0x10_0000;
    pub(crate) const FILE_RENAME_SOURCE: u64 = 0x2_0000;
    pub(crate) const FILE_RENAME_TARGET: u64 = 0x4_0000;
    pub(crate) const FILE_STAT_GET: u64 = 0x40_0000;
    pub(crate) const FILE_SYMLINK: u64 = 0x100_0000;
    pub(crate) const FILE_UNLINK: u64 = 0x200_0000;
    pub(crate) const MEM_MAP: u64 = 0x400_0000;
    pub(crate) const PROC_EXEC: u64 = 0x1_0000_0000;

    /// A read-only directory: open, list, stat, read links.
    pub(crate) const DIR_READ_ONLY: u64 =
        FILE_OPEN | FILE_READDIR | FILE_READLINK | FILE_STAT_FGET | FILE_STAT_GET;
    /// What files opened beneath a read-only directory may get.
    pub(crate) const FILE_READ_ONLY: u64 = FD_READ | FD_SEEK | FD_TELL | FILE_STAT_FGET;
    /// Rights that change a directory's entries.
    pub(crate) const DIR_CHANGE: u64 = FILE_CREATE_DIRECTORY
        | FILE_CREATE_FILE
        | FILE_LINK_SOURCE
        | FILE_LINK_TARGET
        | FILE_RENAME_SOURCE
        | FILE_RENAME_TARGET
        | FILE_SYMLINK
        | FILE_UNLINK;
    /// Rights that change a file's contents.
    pub(crate) const FILE_CHANGE: u64 = FD_WRITE | FILE_ALLOCATE | FILE_STAT_FPUT_SIZE;

    pub(crate) const O_CREAT: u64 = 0x1;
    pub(crate) const O_DIRECTORY: u64 = 0x2;
    pub(crate) const O_TRUNC: u64 = 0x8;
    pub(crate) const FDFLAG_APPEND: u16 = 0x1;
    pub(crate) const FDSTAT_RIGHTS: u64 = 0x2;
    pub(crate) const FILESTAT_SIZE: u64 = 0x10;
    pub(crate) const SYMLINK_FOLLOW: u64 = 1 << 32;
    pub(crate) const WHENCE_SET: u64 = 3;
    pub(crate) const WHENCE_END: u64 = 2;
    pub(crate) const FILETYPE_DIRECTORY: u64 = 0x20;
    pub(crate) const FILETYPE_SOCKET_STREAM: u64 = 0x82;
    pub(crate) const ULFLAG_REMOVEDIR: u64 = 0x1;
    pub(crate) const PROT_EXEC: u64 = 0x1;
    pub(crate) const PROT_WRITE: u64 = 0x2;
    pub(crate) const PROT_READ: u64 = 0x4;
    pub(crate) const MAP_ANON: u64 = 0x1;
    pub(crate) const MAP_PRIVATE: u64 = 0x4;
    pub(crate) const MAP_SHARED: u64 = 0x8;
    pub(crate) const MAP_ANON_FD: u64 = 0xffff_ffff;
    pub(crate) const EVENT_FD_READ: u8 = 3;
    pub(crate) const EVENT_PROC_TERMINATE: u8 = 7;
    pub(crate) const SCOPE_PRIVATE: u64 = 4;
    pub(crate) const LOCK_WRLOCKED: u32 = 0x4000_0000;
    pub(crate) const PROCESS_CHILD: u32 = 0xffff_ffff;
}

/// An address in the upper (kernel) half of the x86-64 / AArch64 address space.
const KERNEL_ADDRESS: u64 = 0xffff_8000_0000_0000;

/// Calls CloudABI system call `n` through the vDSO with `args` (at most seven), padded with
/// zeros to seven integer arguments (unused ones are ignored by the callee; the seventh
/// travels on the stack on x86-64, as the trampoline expects).
fn ca(n: N, args: &[u64]) -> Errno {
    let Some(f) = sys::entry(n) else {
        return Errno::NOSYS;
    };
    let mut a = [0u64; 7];
    a[..args.len()].copy_from_slice(args);
    // SAFETY: `f` is the vDSO's entry for `n`; every CloudABI system call takes at most
    // seven integer or pointer arguments and returns a 16-bit errno, so calling it with
    // seven 64-bit integers is ABI-compatible. Pointers passed are to live locals or are
    // deliberately bad (the point of this program), which the emulator must reject.
    let f: extern "C" fn(u64, u64, u64, u64, u64, u64, u64) -> u16 =
        unsafe { core::mem::transmute(f) };
    Errno(f(a[0], a[1], a[2], a[3], a[4], a[5], a[6]))
}

/// `cloudabi_fdstat_t`.
#[repr(C, align(8))]
#[derive(Clone, Copy, Default)]
struct FdStat {
    filetype: u8,
    _pad: u8,
    flags: u16,
    _pad2: [u8; 4],
    base: u64,
    inheriting: u64,
}

/// `cloudabi_filestat_t`.
#[repr(C, align(8))]
#[derive(Clone, Copy, Default)]
struct FileStat {
    dev: u64,
    ino: u64,
    filetype: u8,
    nlink: u32,
    size: u64,
    atim: u64,
    mtim: u64,
    ctim: u64,
}

/// `cloudabi_ciovec_t` / `cloudabi_iovec_t`.
#[repr(C)]
#[derive(Clone, Copy)]
struct Iov {
    buf: u64,
    len: u64,
}

/// `cloudabi_send_in_t`.
#[repr(C)]
#[derive(Clone, Copy, Default)]
struct SendIn {
    data: u64,
    data_len: u64,
    fds: u64,
    fds_len: u64,
    flags: u16,
}

/// `cloudabi_recv_in_t`.
#[repr(C)]
#[derive(Clone, Copy, Default)]
struct RecvIn {
    data: u64,
    data_len: u64,
    fds: u64,
    fds_len: u64,
    flags: u16,
}

/// `cloudabi_recv_out_t`.
#[repr(C)]
#[derive(Clone, Copy, Default)]
struct RecvOut {
    datalen: u64,
    fdslen: u64,
    _sockname: [u8; 20],
    _peername: [u8; 20],
    flags: u16,
}

/// `cloudabi_subscription_t` (56 bytes): userdata, type at 10, the variant at 16.
#[repr(C, align(8))]
#[derive(Clone, Copy)]
struct Subscription([u8; 56]);

impl Subscription {
    /// A subscription of `kind` on descriptor `fd` (`fd_read`, `fd_write`,
    /// `proc_terminate` all keep the descriptor first in the variant).
    fn on_fd(kind: u8, fd: u32) -> Subscription {
        let mut s = [0u8; 56];
        s[0] = 0x5a;
        s[10] = kind;
        s[16..20].copy_from_slice(&fd.to_le_bytes());
        Subscription(s)
    }
}

/// `cloudabi_event_t` (32 bytes): error at 8, type at 10, the variant at 16.
#[repr(C, align(8))]
#[derive(Clone, Copy)]
struct Event([u8; 32]);

impl Event {
    fn error(&self) -> Errno {
        Errno(u16::from_le_bytes([self.0[8], self.0[9]]))
    }

    /// `proc_terminate.exitcode`.
    fn exitcode(&self) -> u32 {
        u32::from_le_bytes([self.0[24], self.0[25], self.0[26], self.0[27]])
    }

    /// `proc_terminate.signal`.
    fn signal(&self) -> u8 {
        self.0[20]
    }
}

fn ptr<T>(v: &T) -> u64 {
    v as *const T as u64
}

fn mptr<T>(v: &mut T) -> u64 {
    v as *mut T as u64
}

/// Opens `path` beneath `dir` with the given rights and flags.
fn open(
    dir: u32,
    path: &str,
    oflags: u64,
    base: u64,
    inheriting: u64,
    fdflags: u16,
) -> Result<u32, Errno> {
    let stat = FdStat {
        base,
        inheriting,
        flags: fdflags,
        ..FdStat::default()
    };
    let mut fd = u32::MAX;
    let e = ca(
        N::FILE_OPEN,
        &[
            u64::from(dir),
            path.as_ptr() as u64,
            path.len() as u64,
            oflags,
            ptr(&stat),
            mptr(&mut fd),
        ],
    );
    if e == Errno::SUCCESS { Ok(fd) } else { Err(e) }
}

/// Opens `path` beneath `dir` for reading.
fn open_read(dir: u32, path: &str) -> Result<u32, Errno> {
    open(dir, path, 0, abi::FILE_READ_ONLY, 0, 0)
}

fn read_all(fd: u32) -> Result<Vec<u8>, Errno> {
    let mut out = Vec::new();
    let mut buf = [0u8; 512];
    loop {
        let n = sys::fd_read(fd, &mut buf)?;
        if n == 0 {
            return Ok(out);
        }
        out.extend_from_slice(&buf[..n]);
    }
}

fn close(fd: u32) {
    let _ = sys::fd_close(fd);
}

fn file_stat(fd: u32) -> Result<FileStat, Errno> {
    let mut st = FileStat::default();
    match ca(N::FILE_STAT_FGET, &[u64::from(fd), mptr(&mut st)]) {
        Errno::SUCCESS => Ok(st),
        e => Err(e),
    }
}

/// A path-pair call (`file_rename`, `file_link`): `(fd1, path1, fd2, path2)`.
fn two_paths(n: N, fd1: u64, p1: &str, fd2: u32, p2: &str) -> Errno {
    ca(
        n,
        &[
            fd1,
            p1.as_ptr() as u64,
            p1.len() as u64,
            u64::from(fd2),
            p2.as_ptr() as u64,
            p2.len() as u64,
        ],
    )
}

fn unlink(dir: u32, path: &str, flags: u64) -> Errno {
    ca(
        N::FILE_UNLINK,
        &[
            u64::from(dir),
            path.as_ptr() as u64,
            path.len() as u64,
            flags,
        ],
    )
}

fn symlink(target: &str, dir: u32, path: &str) -> Errno {
    ca(
        N::FILE_SYMLINK,
        &[
            target.as_ptr() as u64,
            target.len() as u64,
            u64::from(dir),
            path.as_ptr() as u64,
            path.len() as u64,
        ],
    )
}

fn mkdir(dir: u32, path: &str) -> Errno {
    ca(
        N::FILE_CREATE,
        &[
            u64::from(dir),
            path.as_ptr() as u64,
            path.len() as u64,
            abi::FILETYPE_DIRECTORY,
        ],
    )
}

/// `fd_write` with one raw iovec.
fn write_iov(fd: u32, iovs: u64, count: u64) -> Errno {
    let mut n = 0u64;
    ca(N::FD_WRITE, &[u64::from(fd), iovs, count, mptr(&mut n)])
}

/// The outcome of an attempt at the CloudABI layer, as an errno.
fn outcome<T>(r: Result<T, Errno>) -> Errno {
    match r {
        Ok(_) => Errno::SUCCESS,
        Err(e) => e,
    }
}

/// Name of a CloudABI errno, for the report.
fn errno_name(e: Errno) -> &'static str {
    match e {
        Errno::SUCCESS => "success",
        Errno::TOOBIG => "E2BIG",
        Errno::ACCES => "EACCES",
        Errno::BADF => "EBADF",
        Errno::EXIST => "EEXIST",
        Errno::FAULT => "EFAULT",
        Errno::INVAL => "EINVAL",
        Errno::ISDIR => "EISDIR",
        Errno::LOOP => "ELOOP",
        Errno::NAMETOOLONG => "ENAMETOOLONG",
        Errno::NOENT => "ENOENT",
        Errno::NOEXEC => "ENOEXEC",
        Errno::NOSYS => "ENOSYS",
        Errno::NOTDIR => "ENOTDIR",
        Errno::NOTSUP => "ENOTSUP",
        Errno::PERM => "EPERM",
        Errno::SPIPE => "ESPIPE",
        Errno::XDEV => "EXDEV",
        Errno::NOTCAPABLE => "ENOTCAPABLE",
        _ => "E?",
    }
}

/// Writes the report lines and counts them per layer.
struct Report {
    out: u32,
    ca: u32,
    linux: u32,
    ok: u32,
}

impl Report {
    fn line(&self, s: &str) {
        let mut l = String::with_capacity(s.len() + 1);
        l.push_str(s);
        l.push('\n');
        let _ = sys::write_all(self.out, l.as_bytes());
    }

    /// A CloudABI-layer attempt that must fail with `expected`.
    fn ca(&mut self, name: &str, expected: Errno, got: Errno) {
        self.ca += 1;
        if got == expected {
            self.line(&format!("DENIED {name}: {} ({})", errno_name(got), got.0));
        } else if got == Errno::SUCCESS {
            self.line(&format!("ESCAPED {name}: succeeded"));
        } else {
            self.line(&format!(
                "ESCAPED {name}: {} ({}), expected {}",
                errno_name(got),
                got.0,
                errno_name(expected)
            ));
        }
    }

    /// The outcome of an open that must fail; should it succeed, prints what it could
    /// read, so that a leak shows in the output.
    fn leak(&self, opened: Result<u32, Errno>) -> Errno {
        match opened {
            Ok(fd) => {
                let got = read_all(fd).unwrap_or_default();
                close(fd);
                self.line(&format!("# read: {}", String::from_utf8_lossy(&got)));
                Errno::SUCCESS
            }
            Err(e) => e,
        }
    }

    /// A legitimate operation.
    fn ok(&mut self, name: &str, r: Result<(), String>) {
        self.ok += 1;
        match r {
            Ok(()) => self.line(&format!("OK {name}")),
            Err(why) => self.line(&format!("FAIL {name}: {why}")),
        }
    }
}

/// Checks that `r` produced exactly `want`.
fn expect_bytes(r: Result<Vec<u8>, Errno>, want: &[u8]) -> Result<(), String> {
    match r {
        Ok(b) if b == want => Ok(()),
        Ok(b) => Err(format!("read {} unexpected bytes", b.len())),
        Err(e) => Err(format!("{} ({})", errno_name(e), e.0)),
    }
}

fn err(e: Errno) -> String {
    format!("{} ({})", errno_name(e), e.0)
}

/// Names in directory `dir` (one `file_readdir` call's worth is plenty here).
fn list(dir: u32) -> Result<Vec<String>, Errno> {
    let mut buf = vec![0u8; 8192];
    let used = sys::file_readdir(dir, &mut buf, 0)?;
    let mut names = Vec::new();
    let mut at = 0;
    while at + 24 <= used {
        let namlen =
            u32::from_le_bytes([buf[at + 16], buf[at + 17], buf[at + 18], buf[at + 19]]) as usize;
        let Some(name) = buf.get(at + 24..at + 24 + namlen) else {
            break;
        };
        names.push(String::from_utf8_lossy(name).into_owned());
        at += 24 + namlen;
    }
    Ok(names)
}

/// Attacks through the emulator's system calls.
fn cloudabi_layer(r: &mut Report, ro: u32, rw: u32, log: u32) {
    use Errno as E;
    let everything = u64::MAX;

    // Paths that lead out of the directory.
    r.ca(
        "ca-absolute-path",
        E::NOTCAPABLE,
        r.leak(open_read(ro, "/etc/passwd")),
    );
    r.ca(
        "ca-dotdot",
        E::NOTCAPABLE,
        r.leak(open_read(ro, "../secret.txt")),
    );
    r.ca(
        "ca-dotdot-from-nested",
        E::NOTCAPABLE,
        r.leak(open_read(ro, "sub/deeper/../../../secret.txt")),
    );
    r.ca(
        "ca-dotdot-directory",
        E::NOTCAPABLE,
        outcome(open(ro, "..", abi::O_DIRECTORY, abi::DIR_READ_ONLY, 0, 0)),
    );
    r.ca(
        "ca-symlink-pointing-outside",
        E::NOTCAPABLE,
        r.leak(open_following(ro, "escape-link")),
    );
    r.ca(
        "ca-symlink-absolute",
        E::NOTCAPABLE,
        r.leak(open_following(ro, "abs-link")),
    );
    r.ca("ca-created-symlink-escape", E::NOTCAPABLE, {
        let made = symlink("../secret.txt", rw, "planted-link");
        if made == E::SUCCESS {
            let got = r.leak(open_following(rw, "planted-link"));
            let _ = unlink(rw, "planted-link", 0);
            got
        } else {
            made
        }
    });
    r.ca("ca-stat-outside", E::NOTCAPABLE, {
        let mut st = FileStat::default();
        let p = "../secret.txt";
        ca(
            N::FILE_STAT_GET,
            &[
                u64::from(ro),
                p.as_ptr() as u64,
                p.len() as u64,
                mptr(&mut st),
            ],
        )
    });
    r.ca("ca-readlink-outside", E::NOTCAPABLE, {
        let mut buf = [0u8; 64];
        let mut used = 0u64;
        let p = "../ro/escape-link";
        ca(
            N::FILE_READLINK,
            &[
                u64::from(ro),
                p.as_ptr() as u64,
                p.len() as u64,
                buf.as_mut_ptr() as u64,
                buf.len() as u64,
                mptr(&mut used),
            ],
        )
    });

    // Moving things across the directory's boundary.
    r.ca(
        "ca-rename-out",
        E::NOTCAPABLE,
        two_paths(
            N::FILE_RENAME,
            u64::from(ro),
            "hello.txt",
            rw,
            "../stolen.txt",
        ),
    );
    r.ca(
        "ca-rename-in-from-outside",
        E::NOTCAPABLE,
        two_paths(
            N::FILE_RENAME,
            u64::from(rw),
            "../secret.txt",
            rw,
            "stolen.txt",
        ),
    );
    r.ca(
        "ca-link-in-from-outside",
        E::NOTCAPABLE,
        two_paths(N::FILE_LINK, u64::from(ro), "../secret.txt", rw, "hl.txt"),
    );
    r.ca(
        "ca-link-following-escape-link",
        E::NOTCAPABLE,
        two_paths(
            N::FILE_LINK,
            u64::from(ro) | abi::SYMLINK_FOLLOW,
            "escape-link",
            rw,
            "hl.txt",
        ),
    );
    r.ca(
        "ca-symlink-created-outside",
        E::NOTCAPABLE,
        symlink("rw", rw, "../evil-link"),
    );
    r.ca("ca-mkdir-outside", E::NOTCAPABLE, mkdir(rw, "../evil-dir"));
    r.ca(
        "ca-unlink-outside",
        E::NOTCAPABLE,
        unlink(rw, "../secret.txt", 0),
    );

    // Rights: a directory restricted to reading hands out nothing more.
    let mut restricted = u32::MAX;
    let dup = ca(N::FD_DUP, &[u64::from(ro), mptr(&mut restricted)]);
    let lowered = FdStat {
        base: abi::DIR_READ_ONLY,
        inheriting: abi::FILE_READ_ONLY,
        ..FdStat::default()
    };
    let put = if dup == E::SUCCESS {
        ca(
            N::FD_STAT_PUT,
            &[u64::from(restricted), ptr(&lowered), abi::FDSTAT_RIGHTS],
        )
    } else {
        dup
    };
    r.ca(
        "ca-open-beyond-inheriting-rights",
        E::NOTCAPABLE,
        if put == E::SUCCESS {
            outcome(open(
                restricted,
                "hello.txt",
                0,
                abi::FD_READ | abi::FD_WRITE,
                0,
                0,
            ))
        } else {
            put
        },
    );
    r.ca(
        "ca-create-without-create-right",
        E::NOTCAPABLE,
        if put == E::SUCCESS {
            outcome(open(
                restricted,
                "new.txt",
                abi::O_CREAT,
                abi::FD_READ,
                0,
                0,
            ))
        } else {
            put
        },
    );
    r.ca(
        "ca-widen-directory-rights",
        E::NOTCAPABLE,
        if put == E::SUCCESS {
            let all = FdStat {
                base: everything,
                inheriting: everything,
                ..FdStat::default()
            };
            ca(
                N::FD_STAT_PUT,
                &[u64::from(restricted), ptr(&all), abi::FDSTAT_RIGHTS],
            )
        } else {
            put
        },
    );
    if dup == E::SUCCESS {
        close(restricted);
    }

    // A file opened with only the right to read.
    let hello = open(ro, "hello.txt", 0, abi::FD_READ | abi::MEM_MAP, 0, 0);
    let on_hello = |f: &dyn Fn(u32) -> Errno| match hello {
        Ok(fd) => f(fd),
        Err(e) => e,
    };
    r.ca(
        "ca-write-read-only-fd",
        E::NOTCAPABLE,
        on_hello(&|fd| outcome(sys::fd_write(fd, b"overwrite\n"))),
    );
    r.ca(
        "ca-widen-file-rights",
        E::NOTCAPABLE,
        on_hello(&|fd| {
            let all = FdStat {
                base: everything,
                inheriting: everything,
                ..FdStat::default()
            };
            ca(
                N::FD_STAT_PUT,
                &[u64::from(fd), ptr(&all), abi::FDSTAT_RIGHTS],
            )
        }),
    );
    r.ca(
        "ca-truncate-read-only-fd",
        E::NOTCAPABLE,
        on_hello(&|fd| {
            let st = FileStat::default();
            ca(
                N::FILE_STAT_FPUT,
                &[u64::from(fd), ptr(&st), abi::FILESTAT_SIZE],
            )
        }),
    );
    r.ca(
        "ca-open-beneath-a-file",
        E::NOTCAPABLE,
        on_hello(&|fd| outcome(open_read(fd, "x"))),
    );
    r.ca(
        "ca-mem-map-exec-without-right",
        E::NOTCAPABLE,
        on_hello(&|fd| {
            let mut addr = 0u64;
            ca(
                N::MEM_MAP,
                &[
                    0,
                    4096,
                    abi::PROT_READ | abi::PROT_EXEC,
                    abi::MAP_PRIVATE,
                    u64::from(fd),
                    0,
                    mptr(&mut addr),
                ],
            )
        }),
    );
    r.ca(
        "ca-mem-map-shared-writable-read-only-file",
        E::NOTCAPABLE,
        on_hello(&|fd| {
            let mut addr = 0u64;
            ca(
                N::MEM_MAP,
                &[
                    0,
                    4096,
                    abi::PROT_READ | abi::PROT_WRITE,
                    abi::MAP_SHARED,
                    u64::from(fd),
                    0,
                    mptr(&mut addr),
                ],
            )
        }),
    );
    r.ca(
        "ca-proc-exec-without-exec-right",
        E::NOTCAPABLE,
        on_hello(&|fd| sys::proc_exec(fd, &[], &[])),
    );
    r.ca(
        "ca-proc-exec-directory",
        E::NOTCAPABLE,
        sys::proc_exec(ro, &[], &[]),
    );
    // A descriptor that may be executed, but with descriptors it does not hold or an
    // absurd number of them.
    let runnable = open(ro, "hello.txt", 0, abi::FD_READ | abi::PROC_EXEC, 0, 0);
    r.ca(
        "ca-proc-exec-ungranted-descriptors",
        E::BADF,
        match runnable {
            Ok(fd) => sys::proc_exec(fd, &[], &[9999]),
            Err(e) => e,
        },
    );
    r.ca(
        "ca-proc-exec-huge-descriptor-count",
        E::TOOBIG,
        match runnable {
            Ok(fd) => ca(N::PROC_EXEC, &[u64::from(fd), 0, 0, 8, 1 << 40]),
            Err(e) => e,
        },
    );
    if let Ok(fd) = runnable {
        close(fd);
    }
    if let Ok(fd) = hello {
        close(fd);
    }

    // The append-only log: no seeking, truncating or positioned writes.
    r.ca("ca-log-seek", E::NOTCAPABLE, {
        let mut at = 0u64;
        ca(
            N::FD_SEEK,
            &[u64::from(log), 0, abi::WHENCE_SET, mptr(&mut at)],
        )
    });
    r.ca("ca-log-truncate", E::NOTCAPABLE, {
        let st = FileStat::default();
        ca(
            N::FILE_STAT_FPUT,
            &[u64::from(log), ptr(&st), abi::FILESTAT_SIZE],
        )
    });
    r.ca("ca-log-pwrite", E::NOTCAPABLE, {
        let data = b"overwrite\n";
        let iov = Iov {
            buf: data.as_ptr() as u64,
            len: data.len() as u64,
        };
        let mut n = 0u64;
        ca(
            N::FD_PWRITE,
            &[u64::from(log), ptr(&iov), 1, 0, mptr(&mut n)],
        )
    });
    // An append-only file the program opens itself gets no positioning rights either.
    let appended = open(
        rw,
        "appended.txt",
        abi::O_CREAT,
        abi::FD_WRITE | abi::FD_SEEK | abi::FILE_STAT_FPUT_SIZE,
        0,
        abi::FDFLAG_APPEND,
    );
    r.ca(
        "ca-append-fd-seek",
        E::NOTCAPABLE,
        match appended {
            Ok(fd) => {
                let mut at = 0u64;
                ca(
                    N::FD_SEEK,
                    &[u64::from(fd), 0, abi::WHENCE_END, mptr(&mut at)],
                )
            }
            Err(e) => e,
        },
    );
    if let Ok(fd) = appended {
        close(fd);
        let _ = unlink(rw, "appended.txt", 0);
    }

    // Descriptors that were never granted.
    r.ca(
        "ca-write-ungranted-fd",
        E::BADF,
        outcome(sys::fd_write(9999, b"x")),
    );
    r.ca(
        "ca-read-ungranted-fd",
        E::BADF,
        outcome(sys::fd_read(u32::MAX - 1, &mut [0u8; 4])),
    );
    r.ca("ca-dup-ungranted-fd", E::BADF, {
        let mut fd = 0u32;
        ca(N::FD_DUP, &[4096, mptr(&mut fd)])
    });
    r.ca(
        "ca-replace-into-ungranted-fd",
        E::BADF,
        ca(N::FD_REPLACE, &[u64::from(ro), 777]),
    );
    r.ca(
        "ca-close-ungranted-fd",
        E::BADF,
        outcome(sys::fd_close(65535)),
    );

    // Bad pointers and lengths: errors, never a crash.
    r.ca("ca-null-iovec-array", E::FAULT, write_iov(r.out, 0, 1));
    r.ca("ca-kernel-address-buffer", E::FAULT, {
        let iov = Iov {
            buf: KERNEL_ADDRESS,
            len: 16,
        };
        write_iov(r.out, ptr(&iov), 1)
    });
    r.ca("ca-wrapping-buffer", E::FAULT, {
        let iov = Iov {
            buf: u64::MAX - 8,
            len: 16,
        };
        write_iov(r.out, ptr(&iov), 1)
    });
    r.ca(
        "ca-huge-iovec-count",
        E::INVAL,
        write_iov(r.out, KERNEL_ADDRESS, 1 << 40),
    );
    r.ca(
        "ca-null-output-pointer",
        E::FAULT,
        ca(N::FD_STAT_GET, &[u64::from(ro)]),
    );
    r.ca("ca-misaligned-output-pointer", E::FAULT, {
        let mut buf = [0u64; 4];
        ca(
            N::FD_STAT_GET,
            &[u64::from(ro), buf.as_mut_ptr() as u64 + 1],
        )
    });
    r.ca("ca-wrapping-path-pointer", E::FAULT, {
        let mut fd = 0u32;
        let st = FdStat {
            base: abi::FD_READ,
            ..FdStat::default()
        };
        ca(
            N::FILE_OPEN,
            &[u64::from(ro), u64::MAX - 2, 8, 0, ptr(&st), mptr(&mut fd)],
        )
    });
    r.ca("ca-huge-path-length", E::NAMETOOLONG, {
        let mut fd = 0u32;
        let st = FdStat {
            base: abi::FD_READ,
            ..FdStat::default()
        };
        let p = "hello.txt";
        ca(
            N::FILE_OPEN,
            &[
                u64::from(ro),
                p.as_ptr() as u64,
                1 << 40,
                0,
                ptr(&st),
                mptr(&mut fd),
            ],
        )
    });
    r.ca(
        "ca-random-get-kernel-address",
        E::FAULT,
        ca(N::RANDOM_GET, &[KERNEL_ADDRESS, 16]),
    );
    r.ca("ca-poll-huge-count", E::INVAL, {
        let mut n = 0u64;
        ca(N::POLL, &[8, 8, 1 << 40, mptr(&mut n)])
    });
    r.ca("ca-poll-null-subscriptions", E::FAULT, {
        let mut events = [Event([0; 32])];
        let mut n = 0u64;
        ca(N::POLL, &[0, events.as_mut_ptr() as u64, 1, mptr(&mut n)])
    });

    // Memory: never writable and executable at once.
    r.ca("ca-mem-map-writable-executable", E::NOTSUP, {
        let mut addr = 0u64;
        ca(
            N::MEM_MAP,
            &[
                0,
                4096,
                abi::PROT_READ | abi::PROT_WRITE | abi::PROT_EXEC,
                abi::MAP_ANON | abi::MAP_PRIVATE,
                abi::MAP_ANON_FD,
                0,
                mptr(&mut addr),
            ],
        )
    });
    r.ca(
        "ca-mem-protect-writable-executable",
        E::NOTSUP,
        match sys::mem_map_anon(4096) {
            Ok(page) => {
                let e = ca(
                    N::MEM_PROTECT,
                    &[
                        page as u64,
                        4096,
                        abi::PROT_READ | abi::PROT_WRITE | abi::PROT_EXEC,
                    ],
                );
                // SAFETY: the page was mapped just above and nothing refers to it.
                let _ = unsafe { sys::mem_unmap(page, 4096) };
                e
            }
            Err(e) => e,
        },
    );

    // Sockets and poll on descriptors not held.
    let mut pair = [u32::MAX; 2];
    let made = ca(
        N::FD_CREATE2,
        &[
            abi::FILETYPE_SOCKET_STREAM,
            mptr(&mut pair[0]),
            mptr(&mut pair[1]),
        ],
    );
    let send = |fds: &[u32]| -> Errno {
        if made != E::SUCCESS {
            return made;
        }
        let data = b"x";
        let iov = Iov {
            buf: data.as_ptr() as u64,
            len: 1,
        };
        let si = SendIn {
            data: ptr(&iov),
            data_len: 1,
            fds: fds.as_ptr() as u64,
            fds_len: fds.len() as u64,
            flags: 0,
        };
        let mut so = 0u64;
        ca(N::SOCK_SEND, &[u64::from(pair[0]), ptr(&si), mptr(&mut so)])
    };
    r.ca("ca-sock-send-ungranted-fds", E::BADF, send(&[ro, 4242]));
    r.ca("ca-sock-send-too-many-fds", E::INVAL, send(&[ro; 300]));
    r.ca("ca-sock-send-on-directory", E::NOTCAPABLE, {
        let si = SendIn::default();
        let mut so = 0u64;
        ca(N::SOCK_SEND, &[u64::from(ro), ptr(&si), mptr(&mut so)])
    });
    if made == E::SUCCESS {
        close(pair[0]);
        close(pair[1]);
    }
    let poll_one = |sub: Subscription| -> Errno {
        let mut events = [Event([0; 32])];
        let mut n = 0u64;
        let e = ca(
            N::POLL,
            &[ptr(&sub), events.as_mut_ptr() as u64, 1, mptr(&mut n)],
        );
        match (e, n) {
            (Errno::SUCCESS, 1) => events[0].error(),
            (Errno::SUCCESS, _) => Errno::SUCCESS,
            (e, _) => e,
        }
    };
    r.ca(
        "ca-poll-ungranted-fd",
        E::BADF,
        poll_one(Subscription::on_fd(abi::EVENT_FD_READ, 31337)),
    );
    r.ca(
        "ca-poll-terminate-non-process",
        E::NOTCAPABLE,
        poll_one(Subscription::on_fd(abi::EVENT_PROC_TERMINATE, r.out)),
    );
    r.ca("ca-unlock-lock-held-by-another-thread", E::PERM, {
        let word = AtomicU32::new(abi::LOCK_WRLOCKED | 0x1234);
        ca(N::LOCK_UNLOCK, &[word.as_ptr() as u64, abi::SCOPE_PRIVATE])
    });

    // `ro` was granted read-only, and `cloudabi-run --emulate` passes that mode to the
    // emulator, which gives the directory read-only rights: the emulator itself refuses
    // every change beneath it, before the kernel's Landlock rules (which the raw
    // `linux-*` attempts below check on their own) are even reached.
    r.ca(
        "ca-create-in-read-only-dir",
        E::NOTCAPABLE,
        outcome(open(
            ro,
            "new.txt",
            abi::O_CREAT,
            abi::FD_WRITE,
            0,
            abi::FDFLAG_APPEND,
        )),
    );
    r.ca(
        "ca-truncate-in-read-only-dir",
        E::NOTCAPABLE,
        outcome(open(
            ro,
            "hello.txt",
            abi::O_TRUNC,
            abi::FD_WRITE | abi::FILE_STAT_FPUT_SIZE,
            0,
            0,
        )),
    );
    r.ca(
        "ca-open-for-writing-in-read-only-dir",
        E::NOTCAPABLE,
        outcome(open(
            ro,
            "hello.txt",
            0,
            abi::FD_WRITE,
            0,
            abi::FDFLAG_APPEND,
        )),
    );
    r.ca(
        "ca-inherit-writing-in-read-only-dir",
        E::NOTCAPABLE,
        outcome(open(
            ro,
            "sub",
            abi::O_DIRECTORY,
            abi::DIR_READ_ONLY,
            abi::FILE_READ_ONLY | abi::FD_WRITE,
            0,
        )),
    );
    r.ca(
        "ca-mkdir-in-read-only-dir",
        E::NOTCAPABLE,
        mkdir(ro, "newdir"),
    );
    r.ca(
        "ca-unlink-in-read-only-dir",
        E::NOTCAPABLE,
        unlink(ro, "hello.txt", 0),
    );
    r.ca(
        "ca-rename-read-only-file-away",
        E::NOTCAPABLE,
        two_paths(N::FILE_RENAME, u64::from(ro), "hello.txt", rw, "stolen.txt"),
    );
    r.ca(
        "ca-hardlink-read-only-file",
        E::NOTCAPABLE,
        two_paths(N::FILE_LINK, u64::from(ro), "hello.txt", rw, "hl.txt"),
    );
}

/// `open` following a final symbolic link.
fn open_following(dir: u32, path: &str) -> Result<u32, Errno> {
    let stat = FdStat {
        base: abi::FILE_READ_ONLY,
        ..FdStat::default()
    };
    let mut fd = u32::MAX;
    let e = ca(
        N::FILE_OPEN,
        &[
            u64::from(dir) | abi::SYMLINK_FOLLOW,
            path.as_ptr() as u64,
            path.len() as u64,
            0,
            ptr(&stat),
            mptr(&mut fd),
        ],
    );
    if e == Errno::SUCCESS { Ok(fd) } else { Err(e) }
}

/// Lines written by the worker threads of `threads`.
static THREADS_DONE: AtomicU32 = AtomicU32::new(0);
static THREADS_OK: AtomicU32 = AtomicU32::new(0);
static THREAD_LOCKS: [AtomicU32; 2] = [const { AtomicU32::new(0) }; 2];

extern "C" fn worker(tid: u32, index: usize) -> ! {
    let lock = &THREAD_LOCKS[index];
    lock.store(tid | abi::LOCK_WRLOCKED, Ordering::SeqCst);
    let mut buf = [0u8; 32];
    if sys::random_get(&mut buf).is_ok() && buf.iter().any(|&b| b != 0) {
        THREADS_OK.fetch_add(1, Ordering::SeqCst);
    }
    THREADS_DONE.fetch_add(1, Ordering::SeqCst);
    sys::thread_exit(lock)
}

/// Legitimate work that must keep working.
fn legitimate(r: &mut Report, ro: u32, rw: u32, log: u32) {
    r.ok(
        "read-nested-file",
        expect_bytes(
            open_read(ro, "sub/deeper/nested.txt").and_then(|fd| {
                let b = read_all(fd);
                close(fd);
                b
            }),
            b"nested\n",
        ),
    );
    r.ok(
        "read-through-inside-symlink",
        expect_bytes(
            open_following(ro, "inside-link").and_then(|fd| {
                let b = read_all(fd);
                close(fd);
                b
            }),
            b"hello\n",
        ),
    );
    r.ok(
        "list-dir",
        match list(ro) {
            Ok(names) => {
                let want = ["hello.txt", "sub", "inside-link", "escape-link", "abs-link"];
                match want.iter().find(|w| !names.iter().any(|n| n == *w)) {
                    None => Ok(()),
                    Some(missing) => Err(format!("{missing} not listed")),
                }
            }
            Err(e) => Err(err(e)),
        },
    );
    r.ok("dir-rights-reflect-grant-modes", {
        let rights = |fd: u32| {
            let mut st = FdStat::default();
            match ca(N::FD_STAT_GET, &[u64::from(fd), mptr(&mut st)]) {
                Errno::SUCCESS => Ok((st.base, st.inheriting)),
                e => Err(err(e)),
            }
        };
        (|| -> Result<(), String> {
            let (base, inheriting) = rights(ro)?;
            if base & abi::DIR_READ_ONLY != abi::DIR_READ_ONLY
                || inheriting & abi::FILE_READ_ONLY != abi::FILE_READ_ONLY
            {
                return Err(format!("ro lacks read rights: {base:#x}/{inheriting:#x}"));
            }
            if base & (abi::DIR_CHANGE | abi::FILE_CHANGE) != 0
                || inheriting & (abi::DIR_CHANGE | abi::FILE_CHANGE) != 0
            {
                return Err(format!("ro may change things: {base:#x}/{inheriting:#x}"));
            }
            let (base, inheriting) = rights(rw)?;
            if base & abi::DIR_CHANGE != abi::DIR_CHANGE
                || inheriting & abi::FILE_CHANGE != abi::FILE_CHANGE
            {
                return Err(format!("rw lacks write rights: {base:#x}/{inheriting:#x}"));
            }
            Ok(())
        })()
    });
    r.ok("rw-create-write-rename-remove", {
        (|| -> Result<(), String> {
            let step = |what: &'static str| move |e: Errno| format!("{what}: {}", err(e));
            let fd = open(
                rw,
                "made.txt",
                abi::O_CREAT | abi::O_TRUNC,
                abi::FD_WRITE | abi::FD_DATASYNC,
                0,
                0,
            )
            .map_err(step("create"))?;
            sys::write_all(fd, b"made\n").map_err(step("write"))?;
            close(fd);
            let e = mkdir(rw, "madedir");
            if e != Errno::SUCCESS {
                return Err(step("mkdir")(e));
            }
            let e = two_paths(
                N::FILE_RENAME,
                u64::from(rw),
                "made.txt",
                rw,
                "madedir/moved.txt",
            );
            if e != Errno::SUCCESS {
                return Err(step("rename")(e));
            }
            let back = open_read(rw, "madedir/moved.txt").and_then(|fd| {
                let b = read_all(fd);
                close(fd);
                b
            });
            expect_bytes(back, b"made\n")?;
            let e = unlink(rw, "madedir/moved.txt", 0);
            if e != Errno::SUCCESS {
                return Err(step("unlink")(e));
            }
            let e = unlink(rw, "madedir", abi::ULFLAG_REMOVEDIR);
            if e != Errno::SUCCESS {
                return Err(step("rmdir")(e));
            }
            Ok(())
        })()
    });
    r.ok(
        "append-log",
        sys::write_all(log, b"emulated line\n").map_err(err),
    );
    r.ok("fork-and-wait", {
        let mut fd = 0u32;
        let mut tid = 0u32;
        match ca(N::PROC_FORK, &[mptr(&mut fd), mptr(&mut tid)]) {
            Errno::SUCCESS if fd == abi::PROCESS_CHILD => sys::proc_exit(7),
            Errno::SUCCESS => {
                let sub = Subscription::on_fd(abi::EVENT_PROC_TERMINATE, fd);
                let mut events = [Event([0; 32])];
                let mut n = 0u64;
                let e = ca(
                    N::POLL,
                    &[ptr(&sub), events.as_mut_ptr() as u64, 1, mptr(&mut n)],
                );
                close(fd);
                let ev = events[0];
                match (e, n, ev.error(), ev.signal(), ev.exitcode()) {
                    (Errno::SUCCESS, 1, Errno::SUCCESS, 0, 7) => Ok(()),
                    other => Err(format!(
                        "poll {} n={} error {} signal {} exit {}",
                        other.0.0, other.1, other.2.0, other.3, other.4
                    )),
                }
            }
            e => Err(err(e)),
        }
    });
    r.ok("threads", {
        let mut result = Ok(());
        for index in 0..THREAD_LOCKS.len() {
            let stack = vec![0u8; 128 << 10].leak();
            // SAFETY: `worker` ends with thread_exit, shares only atomics and gets a
            // leaked stack that nothing else uses.
            if let Err(e) = unsafe { sys::thread_create(worker, stack, index) } {
                result = Err(err(e));
            }
        }
        if result.is_ok() {
            let want = THREAD_LOCKS.len() as u32;
            while THREADS_DONE.load(Ordering::SeqCst) < want {
                let _ = sys::thread_yield();
            }
            if THREADS_OK.load(Ordering::SeqCst) != want {
                result = Err(String::from("random_get failed in a thread"));
            }
        }
        result
    });
    r.ok("mem-map-then-protect-read-exec", {
        match sys::mem_map_anon(4096) {
            Ok(page) => {
                // SAFETY: the page was just mapped read-write and nothing else uses it;
                // it is never executed, only re-protected and unmapped.
                let e = unsafe { sys::mem_protect(page, 4096, 4 | 1) };
                // SAFETY: as above.
                let _ = unsafe { sys::mem_unmap(page, 4096) };
                e.map_err(err)
            }
            Err(e) => Err(err(e)),
        }
    });
    r.ok("socket-pair-passes-a-descriptor", {
        (|| -> Result<(), String> {
            let mut pair = [u32::MAX; 2];
            let e = ca(
                N::FD_CREATE2,
                &[
                    abi::FILETYPE_SOCKET_STREAM,
                    mptr(&mut pair[0]),
                    mptr(&mut pair[1]),
                ],
            );
            if e != Errno::SUCCESS {
                return Err(err(e));
            }
            let data = b"y";
            let iov = Iov {
                buf: data.as_ptr() as u64,
                len: 1,
            };
            let fds = [ro];
            let si = SendIn {
                data: ptr(&iov),
                data_len: 1,
                fds: fds.as_ptr() as u64,
                fds_len: 1,
                flags: 0,
            };
            let mut so = 0u64;
            let e = ca(N::SOCK_SEND, &[u64::from(pair[0]), ptr(&si), mptr(&mut so)]);
            if e != Errno::SUCCESS {
                return Err(format!("send: {}", err(e)));
            }
            let mut byte = [0u8; 1];
            let riov = Iov {
                buf: byte.as_mut_ptr() as u64,
                len: 1,
            };
            let mut got = [u32::MAX; 1];
            let ri = RecvIn {
                data: ptr(&riov),
                data_len: 1,
                fds: got.as_mut_ptr() as u64,
                fds_len: 1,
                flags: 0,
            };
            let mut ro_out = RecvOut::default();
            let e = ca(
                N::SOCK_RECV,
                &[u64::from(pair[1]), ptr(&ri), mptr(&mut ro_out)],
            );
            if e != Errno::SUCCESS {
                return Err(format!("recv: {}", err(e)));
            }
            let same = match (file_stat(got[0]), file_stat(ro)) {
                (Ok(a), Ok(b)) => a.dev == b.dev && a.ino == b.ino,
                _ => false,
            };
            close(got[0]);
            close(pair[0]);
            close(pair[1]);
            if ro_out.datalen == 1 && ro_out.fdslen == 1 && byte == *b"y" && same {
                Ok(())
            } else {
                Err(String::from("wrong message or descriptor"))
            }
        })()
    });
}

/// Attacks with raw Linux system calls, bypassing the emulator.
#[cfg(target_arch = "x86_64")]
mod linux {
    use alloc::format;
    use alloc::string::String;
    use alloc::vec::Vec;

    use super::{FileStat, Report, file_stat};

    const READ: u64 = 0;
    const WRITE: u64 = 1;
    const CLOSE: u64 = 3;
    const FSTAT: u64 = 5;
    const LSEEK: u64 = 8;
    const IOCTL: u64 = 16;
    const SOCKET: u64 = 41;
    const CONNECT: u64 = 42;
    const EXECVE: u64 = 59;
    const KILL: u64 = 62;
    const FCNTL: u64 = 72;
    const FTRUNCATE: u64 = 77;
    const FCHDIR: u64 = 81;
    const PTRACE: u64 = 101;
    const GETPPID: u64 = 110;
    const PERSONALITY: u64 = 135;
    const CHROOT: u64 = 161;
    const MOUNT: u64 = 165;
    const SETHOSTNAME: u64 = 170;
    const INIT_MODULE: u64 = 175;
    const KEYCTL: u64 = 250;
    const OPENAT: u64 = 257;
    const MKDIRAT: u64 = 258;
    const UNLINKAT: u64 = 263;
    const RENAMEAT: u64 = 264;
    const LINKAT: u64 = 265;
    const SYMLINKAT: u64 = 266;
    const UNSHARE: u64 = 272;
    const PERF_EVENT_OPEN: u64 = 298;
    const SETNS: u64 = 308;
    const PROCESS_VM_READV: u64 = 310;
    const BPF: u64 = 321;
    const USERFAULTFD: u64 = 323;
    const IO_URING_SETUP: u64 = 425;
    const FSOPEN: u64 = 430;
    const CLONE3: u64 = 435;
    const SENDTO: u64 = 44;
    const FCHMOD: u64 = 91;
    const FSETXATTR: u64 = 190;
    const NEWFSTATAT: u64 = 262;
    const FCHMODAT: u64 = 268;
    const UTIMENSAT: u64 = 280;
    const PRLIMIT64: u64 = 302;
    const MEMFD_CREATE: u64 = 319;
    const EXECVEAT: u64 = 322;

    const EPERM: i32 = 1;
    const ENOENT: i32 = 2;
    const ESRCH: i32 = 3;
    const EBADF: i32 = 9;
    const EACCES: i32 = 13;
    const EXDEV: i32 = 18;
    const EINVAL: i32 = 22;
    const ESPIPE: i32 = 29;
    const EROFS: i32 = 30;
    const ENOSYS: i32 = 38;
    const ECONNREFUSED: i32 = 111;

    const AT_FDCWD: u64 = -100i64 as u64;
    const O_RDONLY: u64 = 0;
    const O_WRONLY: u64 = 1;
    const O_RDWR: u64 = 2;
    const O_CREAT: u64 = 0o100;
    const O_DIRECTORY: u64 = 0o200000;
    const O_TMPFILE: u64 = 0o20000000 | O_DIRECTORY;
    const O_CLOEXEC: u64 = 0o2000000;
    const O_ACCMODE: u64 = 3;
    const F_GETFD: u64 = 1;
    const F_GETFL: u64 = 3;
    const AF_UNIX: u64 = 1;
    const AF_INET: u64 = 2;
    const AF_INET6: u64 = 10;
    const AF_NETLINK: u64 = 16;
    const AF_PACKET: u64 = 17;
    const SOCK_STREAM: u64 = 1;
    const SOCK_DGRAM: u64 = 2;
    const SOCK_RAW: u64 = 3;
    const S_IFMT: u32 = 0o170000;
    const S_IFCHR: u32 = 0o020000;

    /// Performs a raw Linux system call.
    fn syscall(n: u64, a: [u64; 6]) -> Result<u64, i32> {
        let r: i64;
        // SAFETY: a raw system call with integer arguments or pointers to live locals.
        // This program deliberately makes calls the sandbox must refuse; none of them can
        // touch this process's memory beyond the buffers passed.
        unsafe {
            core::arch::asm!(
                "syscall",
                inlateout("rax") n as i64 => r,
                in("rdi") a[0],
                in("rsi") a[1],
                in("rdx") a[2],
                in("r10") a[3],
                in("r8") a[4],
                in("r9") a[5],
                lateout("rcx") _,
                lateout("r11") _,
                options(nostack),
            );
        }
        if (-4095..0).contains(&r) {
            Err(-r as i32)
        } else {
            Ok(r as u64)
        }
    }

    fn s(n: u64, a: &[u64]) -> Result<u64, i32> {
        let mut args = [0u64; 6];
        args[..a.len()].copy_from_slice(a);
        syscall(n, args)
    }

    /// A NUL-terminated copy of `s`.
    fn c(s: &str) -> Vec<u8> {
        let mut v = Vec::with_capacity(s.len() + 1);
        v.extend_from_slice(s.as_bytes());
        v.push(0);
        v
    }

    fn openat(dir: u64, path: &str, flags: u64) -> Result<u64, i32> {
        let p = c(path);
        s(OPENAT, &[dir, p.as_ptr() as u64, flags | O_CLOEXEC, 0o644])
    }

    fn close(fd: u64) {
        let _ = s(CLOSE, &[fd]);
    }

    fn errno_name(e: i32) -> &'static str {
        match e {
            EPERM => "EPERM",
            ENOENT => "ENOENT",
            ESRCH => "ESRCH",
            EBADF => "EBADF",
            EACCES => "EACCES",
            14 => "EFAULT",
            EXDEV => "EXDEV",
            EINVAL => "EINVAL",
            ESPIPE => "ESPIPE",
            EROFS => "EROFS",
            ECONNREFUSED => "ECONNREFUSED",
            ENOSYS => "ENOSYS",
            _ => "E?",
        }
    }

    /// `struct stat` of x86-64 Linux, the fields used here.
    struct Stat {
        dev: u64,
        ino: u64,
        mode: u32,
        rdev: u64,
    }

    fn fstat(fd: u64) -> Result<Stat, i32> {
        let mut buf = [0u64; 18];
        s(FSTAT, &[fd, buf.as_mut_ptr() as u64])?;
        Ok(Stat {
            dev: buf[0],
            ino: buf[1],
            mode: buf[3] as u32,
            rdev: buf[5],
        })
    }

    impl Report {
        /// A Linux-layer attempt that must fail with `expected`; the reason printed is
        /// the negated errno, as the system call returned it.
        fn linux(&mut self, name: &str, expected: i32, got: Result<u64, i32>) {
            self.linux += 1;
            match got {
                Err(e) if e == expected => {
                    self.line(&format!("DENIED {name}: -{e} ({})", errno_name(e)));
                }
                Err(e) => self.line(&format!(
                    "ESCAPED {name}: -{e} ({}), expected -{expected} ({}): a sandbox layer is missing",
                    errno_name(e),
                    errno_name(expected)
                )),
                Ok(v) => self.line(&format!("ESCAPED {name}: succeeded ({v})")),
            }
        }
    }

    /// The host descriptor of the emulator that backs guest descriptor `fd`, found by
    /// comparing device and inode numbers over host descriptors 0..64.
    fn host_fd(fd: u32) -> Option<u64> {
        let want: FileStat = file_stat(fd).ok()?;
        (0..64).find(|&h| matches!(fstat(h), Ok(st) if st.dev == want.dev && st.ino == want.ino))
    }

    /// Reads what `fd` holds (at most 4 KiB).
    fn read_some(fd: u64) -> Result<Vec<u8>, i32> {
        let mut buf = [0u8; 4096];
        let n = s(READ, &[fd, buf.as_mut_ptr() as u64, buf.len() as u64])?;
        Ok(buf[..n as usize].to_vec())
    }

    /// An open that, if it succeeds, also prints what it could read (so that a leak of
    /// the secret shows in the output); returns how many bytes that was.
    fn open_and_read(r: &Report, dir: u64, path: &str, flags: u64) -> Result<u64, i32> {
        let fd = openat(dir, path, flags)?;
        let got = read_some(fd).unwrap_or_default();
        close(fd);
        r.line(&format!("# read: {}", String::from_utf8_lossy(&got)));
        Ok(got.len() as u64)
    }

    /// Runs the Linux-layer attacks and legitimate raw calls.
    #[allow(clippy::too_many_lines)]
    pub(crate) fn attacks(
        r: &mut Report,
        ro: u32,
        rw: u32,
        log: u32,
        outer_pid: u64,
        abstract_name: &str,
    ) {
        let found = (host_fd(ro), host_fd(rw), host_fd(log), host_fd(r.out));
        let (Some(hro), Some(hrw), Some(hlog), Some(hout)) = found else {
            r.line(&format!(
                "FAIL linux-find-host-descriptors: ro/rw/log/out found {:?}",
                found
            ));
            return;
        };
        let line = b"OK linux-raw-write-stdout\n";
        r.ok += 1;
        if s(WRITE, &[hout, line.as_ptr() as u64, line.len() as u64]) != Ok(line.len() as u64) {
            r.line("FAIL linux-raw-write-stdout");
        }
        r.ok("linux-read-granted-file", {
            match openat(hro, "hello.txt", O_RDONLY).and_then(|fd| {
                let b = read_some(fd);
                close(fd);
                b
            }) {
                Ok(b) if b == b"hello\n" => Ok(()),
                Ok(_) => Err(String::from("wrong content")),
                Err(e) => Err(format!("-{e}")),
            }
        });

        // The file system beyond the granted directories.
        r.linux(
            "linux-open-etc-passwd",
            ENOENT,
            open_and_read(r, AT_FDCWD, "/etc/passwd", O_RDONLY),
        );
        r.linux(
            "linux-open-proc-self-mem",
            ENOENT,
            openat(AT_FDCWD, "/proc/self/mem", O_RDWR),
        );
        // The root is an empty read-only tmpfs. (An unnamed temporary file: were the
        // sandbox missing, nothing would be left behind in the host's root.)
        r.linux(
            "linux-create-in-root",
            EROFS,
            openat(AT_FDCWD, "/", O_TMPFILE | O_RDWR).inspect(|&fd| close(fd)),
        );
        // Each granted directory is the root of a detached mount of its own: `..` from it
        // is the directory itself, and what lies beside it does not exist in the sandbox.
        r.linux(
            "linux-dotdot-from-host-dir-fd",
            ENOENT,
            openat(hro, "../..", O_RDONLY | O_DIRECTORY).and_then(|fd| {
                let same = matches!((fstat(fd), fstat(hro)), (Ok(a), Ok(b)) if a.ino == b.ino && a.dev == b.dev);
                close(fd);
                if same { Err(ENOENT) } else { Ok(fd) }
            }),
        );
        r.linux(
            "linux-stat-secret-next-to-dir",
            ENOENT,
            (|| {
                let mut st = [0u64; 18];
                let p = c("../secret.txt");
                s(NEWFSTATAT, &[hro, p.as_ptr() as u64, st.as_mut_ptr() as u64, 0])
            })(),
        );
        r.linux(
            "linux-read-secret-next-to-dir",
            ENOENT,
            open_and_read(r, hro, "../secret.txt", O_RDONLY),
        );
        r.linux(
            "linux-symlink-pointing-outside",
            ENOENT,
            open_and_read(r, hro, "escape-link", O_RDONLY),
        );
        r.linux(
            "linux-created-symlink-escape",
            ENOENT,
            (|| {
                let (t, l) = (c("../secret.txt"), c("raw-link"));
                s(SYMLINKAT, &[t.as_ptr() as u64, hrw, l.as_ptr() as u64])?;
                let got = open_and_read(r, hrw, "raw-link", O_RDONLY);
                let _ = s(UNLINKAT, &[hrw, l.as_ptr() as u64, 0]);
                got
            })(),
        );
        r.linux(
            "linux-fchdir-dotdot",
            ENOENT,
            s(FCHDIR, &[hro]).and_then(|_| open_and_read(r, AT_FDCWD, "../secret.txt", O_RDONLY)),
        );
        r.linux(
            "linux-write-read-only-dir-file",
            EROFS,
            openat(hro, "hello.txt", O_WRONLY),
        );
        r.linux(
            "linux-create-in-read-only-dir",
            EROFS,
            openat(hro, "new.txt", O_WRONLY | O_CREAT),
        );
        r.linux(
            "linux-mkdir-in-read-only-dir",
            EROFS,
            s(MKDIRAT, &[hro, c("newdir").as_ptr() as u64, 0o755]),
        );
        r.linux(
            "linux-unlink-in-read-only-dir",
            EROFS,
            s(UNLINKAT, &[hro, c("hello.txt").as_ptr() as u64, 0]),
        );
        r.linux(
            "linux-rename-read-only-file-out",
            EXDEV,
            s(
                RENAMEAT,
                &[
                    hro,
                    c("hello.txt").as_ptr() as u64,
                    hrw,
                    c("stolen.txt").as_ptr() as u64,
                ],
            ),
        );
        r.linux(
            "linux-hardlink-read-only-file",
            EXDEV,
            s(
                LINKAT,
                &[
                    hro,
                    c("hello.txt").as_ptr() as u64,
                    hrw,
                    c("hl.txt").as_ptr() as u64,
                    0,
                ],
            ),
        );
        // The log reaches the emulator as a pipe the launcher appends from.
        r.linux("linux-log-lseek", ESPIPE, s(LSEEK, &[hlog, 0, 0]));
        r.linux("linux-log-ftruncate", EINVAL, s(FTRUNCATE, &[hlog, 0]));
        // The emulator's own descriptors beyond the granted ones (its executable, its
        // argdata): none may be writable.
        r.linux("linux-write-emulator-private-fds", EBADF, {
            let granted: Vec<(u64, u64)> = [hro, hrw, hlog, hout]
                .iter()
                .filter_map(|&h| fstat(h).ok().map(|st| (st.dev, st.ino)))
                .collect();
            let mut outcome = Err(EBADF);
            let mut private = Vec::new();
            for h in 0..1024 {
                if s(FCNTL, &[h, F_GETFD]).is_err() {
                    continue;
                }
                let Ok(st) = fstat(h) else { continue };
                // /dev/null (1:3) stands in for ungranted standard streams.
                let dev_null = st.mode & S_IFMT == S_IFCHR && st.rdev == 0x103;
                if dev_null || granted.contains(&(st.dev, st.ino)) {
                    continue;
                }
                private.push(h);
                let byte = [0u8; 1];
                // A zero-length write checks the descriptor's mode without writing.
                match s(WRITE, &[h, byte.as_ptr() as u64, 0]) {
                    Err(EBADF) => {}
                    other => {
                        let mode = s(FCNTL, &[h, F_GETFL]).map(|f| f & O_ACCMODE);
                        r.line(&format!(
                            "# private host fd {h}: write {other:?}, mode {mode:?}"
                        ));
                        outcome = other.map(|_| h);
                    }
                }
            }
            r.line(&format!("# emulator-private host fds: {private:?}"));
            outcome
        });

        // Networking, other processes, the kernel.
        r.linux(
            "linux-socket-inet",
            EPERM,
            s(SOCKET, &[AF_INET, SOCK_STREAM, 0]),
        );
        r.linux(
            "linux-socket-inet6-udp",
            EPERM,
            s(SOCKET, &[AF_INET6, SOCK_DGRAM, 0]),
        );
        r.linux(
            "linux-socket-netlink",
            EPERM,
            s(SOCKET, &[AF_NETLINK, SOCK_RAW, 0]),
        );
        r.linux(
            "linux-socket-packet",
            EPERM,
            s(SOCKET, &[AF_PACKET, SOCK_RAW, 0]),
        );
        // Abstract UNIX socket names belong to a network namespace: the sandbox's own
        // has none of the host's (Landlock's scoping would refuse with EPERM next).
        r.linux(
            "linux-connect-abstract-unix-socket",
            ECONNREFUSED,
            s(SOCKET, &[AF_UNIX, SOCK_STREAM, 0]).and_then(|sock| {
                let mut addr = [0u8; 110];
                addr[0] = AF_UNIX as u8;
                let name = abstract_name.as_bytes();
                let n = name.len().min(addr.len() - 3);
                addr[3..3 + n].copy_from_slice(&name[..n]);
                let got = s(CONNECT, &[sock, addr.as_ptr() as u64, 3 + n as u64]);
                close(sock);
                got
            }),
        );
        r.linux("linux-kill-init", EPERM, s(KILL, &[1, 0]));
        r.linux(
            "linux-kill-outside-process",
            ESRCH,
            s(KILL, &[outer_pid, 0]),
        );
        r.linux("linux-ptrace-traceme", EPERM, s(PTRACE, &[0, 0, 0, 0]));
        r.linux(
            "linux-ptrace-seize-parent",
            EPERM,
            s(GETPPID, &[]).and_then(|ppid| s(PTRACE, &[0x4206, ppid, 0, 0])),
        );
        r.linux("linux-process-vm-readv-init", EPERM, {
            let mut buf = [0u8; 8];
            let local = [buf.as_mut_ptr() as u64, 8];
            let remote = [0x40_0000u64, 8];
            s(
                PROCESS_VM_READV,
                &[1, local.as_ptr() as u64, 1, remote.as_ptr() as u64, 1, 0],
            )
        });
        r.linux(
            "linux-ioctl-tiocsti",
            EPERM,
            s(IOCTL, &[hout, 0x5412, c("x").as_ptr() as u64]),
        );
        // Targets and arguments are chosen so that, were the sandbox missing, nothing
        // would change on the host (each call would fail differently, or do nothing).
        r.linux(
            "linux-mount",
            EPERM,
            s(
                MOUNT,
                &[
                    c("none").as_ptr() as u64,
                    c("").as_ptr() as u64,
                    c("tmpfs").as_ptr() as u64,
                    0,
                    0,
                ],
            ),
        );
        r.linux("linux-fsopen", EPERM, s(FSOPEN, &[0, 0]));
        r.linux("linux-chroot", EPERM, s(CHROOT, &[c("/").as_ptr() as u64]));
        r.linux("linux-setns", EPERM, s(SETNS, &[u64::MAX, 0]));
        r.linux("linux-clone3", ENOSYS, s(CLONE3, &[0, 0]));
        r.linux("linux-bpf", EPERM, s(BPF, &[0, 0, 0]));
        r.linux("linux-io-uring-setup", EPERM, s(IO_URING_SETUP, &[1, 0]));
        r.linux(
            "linux-perf-event-open",
            EPERM,
            s(PERF_EVENT_OPEN, &[0, 0, u64::MAX, u64::MAX, 0]),
        );
        r.linux("linux-userfaultfd", EPERM, s(USERFAULTFD, &[0]));
        r.linux("linux-keyctl", EPERM, s(KEYCTL, &[0, (-3i64) as u64, 0]));
        // CloudABI has no permissions, owners or extended attributes; times change only
        // where the grant is writable.
        r.linux(
            "linux-chmod-read-only-dir-file",
            EPERM,
            s(FCHMODAT, &[hro, c("hello.txt").as_ptr() as u64, 0o777, 0]),
        );
        r.linux(
            "linux-chmod-read-write-dir",
            EPERM,
            s(FCHMOD, &[hrw, 0o777]),
        );
        r.linux(
            "linux-utimensat-read-only-dir-file",
            EROFS,
            (|| {
                let times = [0u64; 4];
                let p = c("hello.txt");
                s(UTIMENSAT, &[hro, p.as_ptr() as u64, times.as_ptr() as u64, 0])
            })(),
        );
        r.linux(
            "linux-setxattr-read-write-dir",
            EPERM,
            (|| {
                let (name, value) = (c("user.escape"), b"1");
                s(FSETXATTR, &[hrw, name.as_ptr() as u64, value.as_ptr() as u64, 1, 0])
            })(),
        );
        // An executable memfd would run code no grant named: memfds are sealed
        // non-executable (vm.memfd_noexec), so even an empty one fails with EACCES rather
        // than ENOEXEC.
        r.linux(
            "linux-exec-memfd",
            EACCES,
            (|| {
                let name = c("payload");
                let m = s(MEMFD_CREATE, &[name.as_ptr() as u64, 1])?;
                let (empty, argv, envp) = (c(""), [0u64], [0u64]);
                let got = s(
                    EXECVEAT,
                    &[m, empty.as_ptr() as u64, argv.as_ptr() as u64, envp.as_ptr() as u64, 0x1000],
                );
                close(m);
                got
            })(),
        );
        r.linux(
            "linux-sendto-fastopen",
            EPERM,
            (|| {
                let fd = s(SOCKET, &[AF_UNIX, SOCK_DGRAM, 0])?;
                let msg = b"x";
                let got = s(SENDTO, &[fd, msg.as_ptr() as u64, 1, 0x2000_0000, 0, 0]);
                close(fd);
                got
            })(),
        );
        r.linux(
            "linux-prlimit-init",
            EPERM,
            (|| {
                let lim = [0u64; 2];
                s(PRLIMIT64, &[1, 4, lim.as_ptr() as u64, 0])
            })(),
        );
        r.linux("linux-init-module", EPERM, s(INIT_MODULE, &[0, 0, 0]));
        r.linux("linux-sethostname", EPERM, s(SETHOSTNAME, &[0, 1]));
        r.linux("linux-personality", EPERM, s(PERSONALITY, &[0]));
        r.linux(
            "linux-exec-bin-sh",
            ENOENT,
            (|| {
                let (sh, dash_c) = (c("/bin/sh"), c("-c"));
                let cmd = c("echo ESCAPED linux-exec-bin-sh: a shell ran");
                let argv = [
                    sh.as_ptr() as u64,
                    dash_c.as_ptr() as u64,
                    cmd.as_ptr() as u64,
                    0,
                ];
                let envp = [0u64];
                s(
                    EXECVE,
                    &[
                        sh.as_ptr() as u64,
                        argv.as_ptr() as u64,
                        envp.as_ptr() as u64,
                    ],
                )
            })(),
        );

        // Last: without the sandbox these would succeed and change the namespaces of the
        // rest of the run, or replace the program.
        r.linux("linux-unshare-user", EPERM, s(UNSHARE, &[0x1000_0000]));
    }
}

/// Why the program could not start its run (exit status 1).
#[derive(Debug)]
enum Error {
    /// The argdata is malformed or lacks a descriptor.
    Argdata,
}

impl From<argdata::Error> for Error {
    fn from(_: argdata::Error) -> Error {
        Error::Argdata
    }
}

fn program_main(ad: Argdata<'_>) -> Result<(), Error> {
    let fds = program::fds();
    let fd =
        |key: &str| -> Result<u32, Error> { Ok(ad.get(key)?.ok_or(Error::Argdata)?.as_fd(&fds)?) };
    let (ro, rw, log, out) = (fd("ro")?, fd("rw")?, fd("log")?, fd("out")?);
    let mut r = Report {
        out,
        ca: 0,
        linux: 0,
        ok: 0,
    };
    r.ok("stdout-write", Ok(()));
    legitimate(&mut r, ro, rw, log);
    cloudabi_layer(&mut r, ro, rw, log);
    #[cfg(target_arch = "x86_64")]
    {
        let outer_pid = match ad.get("outer_pid")? {
            Some(v) => v.as_int::<u64>()?,
            None => 0,
        };
        let name = match ad.get("abstract")? {
            Some(v) => v.as_str()?,
            None => "cloudabi-hostile",
        };
        linux::attacks(&mut r, ro, rw, log, outer_pid, name);
    }
    r.line(&format!("DONE ca={} linux={} ok={}", r.ca, r.linux, r.ok));
    Ok(())
}

program::main!(program_main);
