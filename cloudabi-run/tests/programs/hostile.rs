//! A hostile test program for `cloudabi-run`'s sandbox.
//!
//! Built by the integration tests as a static executable (the sandbox's root is empty, so no
//! dynamic loader can be found) with plain `rustc`, std only. It receives its descriptors by
//! the startup protocol (docs/startup.md); the numbers are deterministic, so the test passes
//! them as `key=fd` arguments.
//!
//! Modes (first argument):
//! * `attack key=value...`: every escape attempt, one line each, `DENIED <name>: <errno>` or
//!   `ESCAPED <name>`, and every legitimate operation, `OK <name>` or `FAIL <name>: <why>`.
//! * `holes key=value...`: what Landlock does not check, see `holes.rs`.
//! * `exit N`, `signal N`, `sleep N`: exit with N, kill itself with signal N, sleep N seconds.
//! * `abort`: calls the C library's `abort()`.
//! * `orphan`: leaves an orphaned grandchild behind and prints `REAPED` once its zombie is
//!   gone (the namespace's init reaped it) or `ZOMBIE <pid>` if it is still there 5 s later.
//! * `linger`: forks a grandchild that sleeps 60 s holding standard output, then exits 0.
//! * `report`: prints `ENV <var>` for each environment variable, `FD <n>` for each open
//!   descriptor below 256 (before closing the argdata memfd), `SEALS <hex>` and
//!   `ARGDATA <hex>` for the memfd, `SIGIGN <n,...>` for the signals it starts with ignored,
//!   and `PID <pid>`.

mod holes;

use std::collections::HashMap;
use std::ffi::CString;
use std::io::Write;

unsafe extern "C" {
    fn syscall(n: i64, ...) -> i64;
    fn __errno_location() -> *mut i32;
}

const EPERM: i32 = 1;

/// Performs a raw system call; returns the result or `Err(errno)`.
fn sys(n: i64, a: [i64; 6]) -> Result<i64, i32> {
    // SAFETY: a raw system call with integer arguments or pointers to live local buffers. This
    // program deliberately makes calls the sandbox must refuse; none of them can corrupt this
    // process's memory beyond the buffers passed.
    let r = unsafe { syscall(n, a[0], a[1], a[2], a[3], a[4], a[5]) };
    if r < 0 {
        // SAFETY: errno is thread-local and always readable.
        Err(unsafe { *__errno_location() })
    } else {
        Ok(r)
    }
}

fn s0(n: i64) -> Result<i64, i32> {
    sys(n, [0; 6])
}
fn s1(n: i64, a: i64) -> Result<i64, i32> {
    sys(n, [a, 0, 0, 0, 0, 0])
}
fn s2(n: i64, a: i64, b: i64) -> Result<i64, i32> {
    sys(n, [a, b, 0, 0, 0, 0])
}
fn s3(n: i64, a: i64, b: i64, c: i64) -> Result<i64, i32> {
    sys(n, [a, b, c, 0, 0, 0])
}
fn s4(n: i64, a: i64, b: i64, c: i64, d: i64) -> Result<i64, i32> {
    sys(n, [a, b, c, d, 0, 0])
}
fn s5(n: i64, a: i64, b: i64, c: i64, d: i64, e: i64) -> Result<i64, i32> {
    sys(n, [a, b, c, d, e, 0])
}

// x86-64 system call numbers.
const READ: i64 = 0;
const WRITE: i64 = 1;
const CLOSE: i64 = 3;
const RT_SIGACTION: i64 = 13;
const LSEEK: i64 = 8;
const IOCTL: i64 = 16;
const PWRITE64: i64 = 18;
const GETPID: i64 = 39;
const SOCKET: i64 = 41;
const CONNECT: i64 = 42;
const ACCEPT: i64 = 43;
const BIND: i64 = 49;
const SOCKETPAIR: i64 = 53;
const CLONE: i64 = 56;
const FORK: i64 = 57;
const EXECVE: i64 = 59;
const WAIT4: i64 = 61;
const KILL: i64 = 62;
const EXIT: i64 = 60;
const PIPE2: i64 = 293;
const ESRCH: i32 = 3;
const FCNTL: i64 = 72;
const FTRUNCATE: i64 = 77;
const FCHDIR: i64 = 81;
const PTRACE: i64 = 101;
const SETUID: i64 = 105;
const GETPPID: i64 = 110;
const CAPGET: i64 = 125;
const PERSONALITY: i64 = 135;
const CHROOT: i64 = 161;
const SETTIMEOFDAY: i64 = 164;
const MOUNT: i64 = 165;
const UMOUNT2: i64 = 166;
const SWAPON: i64 = 167;
const REBOOT: i64 = 169;
const SETHOSTNAME: i64 = 170;
const IOPL: i64 = 172;
const INIT_MODULE: i64 = 175;
const GETDENTS64: i64 = 217;
const KEXEC_LOAD: i64 = 246;
const ADD_KEY: i64 = 248;
const KEYCTL: i64 = 250;
const OPENAT: i64 = 257;
const MKDIRAT: i64 = 258;
const MKNODAT: i64 = 259;
const UNLINKAT: i64 = 263;
const RENAMEAT: i64 = 264;
const LINKAT: i64 = 265;
const SYMLINKAT: i64 = 266;
const UNSHARE: i64 = 272;
const PERF_EVENT_OPEN: i64 = 298;
const FANOTIFY_INIT: i64 = 300;
const NAME_TO_HANDLE_AT: i64 = 303;
const OPEN_BY_HANDLE_AT: i64 = 304;
const SETNS: i64 = 308;
const PROCESS_VM_READV: i64 = 310;
const FINIT_MODULE: i64 = 313;
const BPF: i64 = 321;
const USERFAULTFD: i64 = 323;
const PWRITEV2: i64 = 328;
const IO_URING_SETUP: i64 = 425;
const FSOPEN: i64 = 430;
const PIDFD_OPEN: i64 = 434;
const CLONE3: i64 = 435;
const X32_BIT: i64 = 0x4000_0000;

const O_RDONLY: i64 = 0;
const O_WRONLY: i64 = 1;
const O_RDWR: i64 = 2;
const O_CREAT: i64 = 0o100;
const O_TRUNC: i64 = 0o1000;
const O_DIRECTORY: i64 = 0o200000;
const O_CLOEXEC: i64 = 0o2000000;
const AT_FDCWD: i64 = -100;
const F_GETFD: i64 = 1;
const F_SETFL: i64 = 4;
const F_GET_SEALS: i64 = 1034;
const AF_UNIX: i64 = 1;
const AF_INET: i64 = 2;
const AF_INET6: i64 = 10;
const AF_NETLINK: i64 = 16;
const AF_PACKET: i64 = 17;
const SOCK_STREAM: i64 = 1;
const SOCK_DGRAM: i64 = 2;
const SOCK_RAW: i64 = 3;
const SIGCHLD: i64 = 17;

fn c(s: &str) -> CString {
    CString::new(s).expect("no NUL in literal")
}

fn openat(dir: i64, path: &str, flags: i64, mode: i64) -> Result<i64, i32> {
    let p = c(path);
    s4(OPENAT, dir, p.as_ptr() as i64, flags | O_CLOEXEC, mode)
}

fn read_all(fd: i64) -> Result<Vec<u8>, i32> {
    let mut out = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        let n = s3(READ, fd, buf.as_mut_ptr() as i64, buf.len() as i64)?;
        if n == 0 {
            return Ok(out);
        }
        out.extend_from_slice(&buf[..n as usize]);
    }
}

/// The names in the directory `fd` (one `getdents64` buffer's worth).
fn dir_names(fd: i64) -> Result<Vec<String>, i32> {
    let mut buf = [0u8; 8192];
    let n = s3(GETDENTS64, fd, buf.as_mut_ptr() as i64, buf.len() as i64)? as usize;
    let mut names = Vec::new();
    let mut off = 0;
    while off + 19 <= n {
        let reclen = u16::from_ne_bytes([buf[off + 16], buf[off + 17]]) as usize;
        let name = &buf[off + 19..off + reclen];
        let end = name.iter().position(|b| *b == 0).unwrap_or(name.len());
        names.push(String::from_utf8_lossy(&name[..end]).into_owned());
        off += reclen.max(1);
    }
    Ok(names)
}

fn write_buf(fd: i64, data: &[u8]) -> Result<i64, i32> {
    s3(WRITE, fd, data.as_ptr() as i64, data.len() as i64)
}

struct Report {
    out: std::io::Stdout,
}

impl Report {
    fn line(&mut self, s: String) {
        let mut o = self.out.lock();
        let _ = writeln!(o, "{s}");
        let _ = o.flush();
    }

    /// An escape attempt: `Err(errno)` means denied.
    fn attack(&mut self, name: &str, r: Result<i64, i32>) {
        match r {
            Err(e) => self.line(format!("DENIED {name}: {e}")),
            Ok(v) => self.line(format!("ESCAPED {name} ({v})")),
        }
    }

    /// A legitimate operation.
    fn legit(&mut self, name: &str, r: Result<(), String>) {
        match r {
            Ok(()) => self.line(format!("OK {name}")),
            Err(e) => self.line(format!("FAIL {name}: {e}")),
        }
    }
}

fn argdata_fd() -> i64 {
    std::env::var("CLOUDABI_ARGDATA_FD")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(-1)
}

fn report() {
    let mut r = Report {
        out: std::io::stdout(),
    };
    let mut envs: Vec<String> = std::env::vars_os()
        .map(|(k, v)| format!("{}={}", k.to_string_lossy(), v.to_string_lossy()))
        .collect();
    envs.sort();
    for e in envs {
        r.line(format!("ENV {e}"));
    }
    for fd in 0..256 {
        if s2(FCNTL, fd, F_GETFD).is_ok() {
            r.line(format!("FD {fd}"));
        }
    }
    let fd = argdata_fd();
    match s2(FCNTL, fd, F_GET_SEALS) {
        Ok(seals) => r.line(format!("SEALS {seals:x}")),
        Err(e) => r.line(format!("SEALS error {e}")),
    }
    let bytes = read_all(fd).unwrap_or_default();
    let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    r.line(format!("ARGDATA {hex}"));
    // Ignored signals: rt_sigaction(sig, NULL, &old) with the handler first in `old`.
    let ignored: Vec<String> = (1..=64)
        .filter(|&sig| {
            let mut old = [0u64; 4];
            s4(RT_SIGACTION, sig, 0, old.as_mut_ptr() as i64, 8).is_ok() && old[0] == 1
        })
        .map(|sig| sig.to_string())
        .collect();
    r.line(format!("SIGIGN {}", ignored.join(",")));
    r.line(format!("PID {}", s0(GETPID).unwrap_or(-1)));
    r.line(format!("PPID {}", s0(GETPPID).unwrap_or(-1)));
}

fn attack(args: &HashMap<String, String>) {
    let mut r = Report {
        out: std::io::stdout(),
    };
    let num = |k: &str| -> i64 {
        args.get(k)
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("missing argument {k}=N"))
    };
    let ro = num("ro");
    let rw = num("rw");
    let log = num("log");
    let sock = num("sock");
    let listener = num("listener");
    let tcp = num("tcp");
    let outer_pid = num("outer_pid");
    let port = num("port");
    let abstract_name = args.get("abstract").cloned().unwrap_or_default();

    // The argdata memfd: sealed, unwritable, then closed like the program crate does.
    let md = argdata_fd();
    r.legit(
        "argdata-sealed",
        match s2(FCNTL, md, F_GET_SEALS) {
            Ok(0xf) => Ok(()),
            other => Err(format!("{other:?}")),
        },
    );
    r.attack("argdata-memfd-write", write_buf(md, b"x"));
    r.attack(
        "argdata-memfd-reopen-rw",
        openat(AT_FDCWD, &format!("/proc/self/fd/{md}"), O_RDWR, 0),
    );
    let _ = s1(CLOSE, md);
    // Descriptors that were not granted.
    r.attack(
        "ungranted-descriptors",
        match (md..1024).find(|fd| s2(FCNTL, *fd, F_GETFD).is_ok()) {
            Some(fd) => Ok(fd),
            None => Err(9),
        },
    );

    r.legit(
        "environment-minimal",
        match std::env::vars_os().count() {
            1 => Ok(()),
            n => Err(format!("{n} variables")),
        },
    );

    // Legitimate operations.
    r.legit(
        "read-granted-file",
        openat(ro, "hello.txt", O_RDONLY, 0)
            .and_then(read_all)
            .map_err(|e| e.to_string())
            .and_then(|b| (b == b"hello\n").then_some(()).ok_or("content".into())),
    );
    r.legit(
        "read-nested-file",
        openat(ro, "sub/deeper/nested.txt", O_RDONLY, 0)
            .and_then(read_all)
            .map_err(|e| e.to_string())
            .and_then(|b| (b == b"nested\n").then_some(()).ok_or("content".into())),
    );
    r.legit(
        "list-granted-dir",
        (|| {
            let d = openat(ro, ".", O_RDONLY | O_DIRECTORY, 0)?;
            let mut buf = [0u8; 4096];
            let n = s3(GETDENTS64, d, buf.as_mut_ptr() as i64, buf.len() as i64)?;
            Ok::<_, i32>(n)
        })()
        .map_err(|e| e.to_string())
        .and_then(|n| (n > 0).then_some(()).ok_or("empty".into())),
    );
    r.legit(
        "readwrite-dir-create-write-rename-remove",
        (|| {
            let step = |name: &'static str| move |e: i32| format!("{name}: {e}");
            let f = openat(rw, "made.txt", O_WRONLY | O_CREAT | O_TRUNC, 0o644)
                .map_err(step("create"))?;
            write_buf(f, b"made\n").map_err(step("write"))?;
            s1(CLOSE, f).map_err(step("close"))?;
            s3(MKDIRAT, rw, c("madedir").as_ptr() as i64, 0o755).map_err(step("mkdir"))?;
            let (a, b) = (c("made.txt"), c("madedir/moved.txt"));
            s4(RENAMEAT, rw, a.as_ptr() as i64, rw, b.as_ptr() as i64).map_err(step("rename"))?;
            let back = openat(rw, "madedir/moved.txt", O_RDONLY, 0)
                .and_then(read_all)
                .map_err(step("read back"))?;
            s3(UNLINKAT, rw, b.as_ptr() as i64, 0).map_err(step("unlink"))?;
            s3(UNLINKAT, rw, c("madedir").as_ptr() as i64, 0x200).map_err(step("rmdir"))?;
            Ok::<_, String>(back)
        })()
        .and_then(|b| (b == b"made\n").then_some(()).ok_or("content".into())),
    );
    r.legit(
        "append-log-write",
        write_buf(log, b"sandboxed line\n")
            .map(|_| ())
            .map_err(|e| e.to_string()),
    );
    r.legit(
        "granted-unix-socket",
        (|| {
            let mut buf = [0u8; 4];
            let n = s3(READ, sock, buf.as_mut_ptr() as i64, 4)?;
            write_buf(sock, b"ping")?;
            Ok::<_, i32>(buf[..n as usize].to_vec())
        })()
        .map_err(|e| e.to_string())
        .and_then(|b| (b == b"pong").then_some(()).ok_or("content".into())),
    );
    r.legit(
        "granted-tcp-listener-accept",
        (|| {
            let conn = s3(ACCEPT, listener, 0, 0)?;
            write_buf(conn, b"hi")?;
            s1(CLOSE, conn)
        })()
        .map(|_| ())
        .map_err(|e| e.to_string()),
    );
    r.legit(
        "socketpair-unix",
        (|| {
            let mut sv = [0i32; 2];
            s4(SOCKETPAIR, AF_UNIX, SOCK_STREAM, 0, sv.as_mut_ptr() as i64)
        })()
        .map(|_| ())
        .map_err(|e| e.to_string()),
    );
    r.legit(
        "fork-and-wait",
        (|| {
            let pid = s0(FORK)?;
            if pid == 0 {
                std::process::exit(7);
            }
            let mut status = 0i32;
            s4(WAIT4, pid, &mut status as *mut i32 as i64, 0, 0)?;
            Ok::<_, i32>(status)
        })()
        .map_err(|e| e.to_string())
        .and_then(|st| (st == 7 << 8).then_some(()).ok_or(format!("status {st}"))),
    );
    r.legit(
        "pid-is-2-child-of-init",
        match (s0(GETPID), s0(GETPPID)) {
            (Ok(2), Ok(1)) => Ok(()),
            other => Err(format!("{other:?}")),
        },
    );

    // Filesystem escapes.
    r.attack(
        "absolute-open-etc-passwd",
        openat(AT_FDCWD, "/etc/passwd", O_RDONLY, 0),
    );
    r.attack(
        "absolute-open-root-dir",
        openat(AT_FDCWD, "/", O_RDONLY | O_DIRECTORY, 0),
    );
    r.attack(
        "create-in-empty-root",
        openat(AT_FDCWD, "/evil", O_WRONLY | O_CREAT, 0o644),
    );
    r.attack(
        "dotdot-escape",
        openat(ro, "../../../../../../etc/passwd", O_RDONLY, 0),
    );
    // `..` of a grant's root is that root again: listing it lists the grant.
    r.attack(
        "dotdot-list-parent",
        openat(ro, "..", O_RDONLY | O_DIRECTORY, 0).and_then(|fd| {
            let names = dir_names(fd)?;
            if names.iter().any(|n| n == "outside.txt") {
                Ok(names.len() as i64)
            } else {
                Err(0)
            }
        }),
    );
    r.attack(
        "dotdot-from-nested",
        openat(ro, "sub/deeper/../../../outside.txt", O_RDONLY, 0),
    );
    r.attack(
        "fchdir-dotdot",
        s1(FCHDIR, ro).and_then(|_| openat(AT_FDCWD, "../outside.txt", O_RDONLY, 0)),
    );
    r.attack(
        "planted-relative-symlink",
        openat(ro, "escape-link", O_RDONLY, 0),
    );
    r.attack(
        "planted-absolute-symlink",
        openat(ro, "abs-link", O_RDONLY, 0),
    );
    r.attack(
        "created-symlink-escape",
        (|| {
            let (t, l) = (c("../outside.txt"), c("mylink"));
            s3(SYMLINKAT, t.as_ptr() as i64, rw, l.as_ptr() as i64)?;
            openat(rw, "mylink", O_RDONLY, 0)
        })(),
    );
    r.attack(
        "proc-self-root",
        openat(AT_FDCWD, "/proc/self/root/etc/passwd", O_RDONLY, 0),
    );
    r.attack(
        "proc-sys-write",
        openat(AT_FDCWD, "/proc/sys/kernel/hostname", O_WRONLY, 0),
    );
    r.attack("dev-tty", openat(AT_FDCWD, "/dev/tty", O_RDWR, 0));
    r.attack("write-readonly-dir", openat(ro, "hello.txt", O_WRONLY, 0));
    r.attack(
        "create-in-readonly-dir",
        openat(ro, "new.txt", O_WRONLY | O_CREAT, 0o644),
    );
    r.attack(
        "truncate-in-readonly-dir",
        openat(ro, "hello.txt", O_RDONLY | O_TRUNC, 0),
    );
    r.attack(
        "unlink-in-readonly-dir",
        s3(UNLINKAT, ro, c("hello.txt").as_ptr() as i64, 0),
    );
    r.attack(
        "mkdir-in-readonly-dir",
        s3(MKDIRAT, ro, c("newdir").as_ptr() as i64, 0o755),
    );
    r.attack(
        "rename-readonly-file-out",
        s4(
            RENAMEAT,
            ro,
            c("hello.txt").as_ptr() as i64,
            rw,
            c("stolen.txt").as_ptr() as i64,
        ),
    );
    r.attack(
        "hardlink-readonly-file-into-writable-dir",
        s5(
            LINKAT,
            ro,
            c("hello.txt").as_ptr() as i64,
            rw,
            c("hl.txt").as_ptr() as i64,
            0,
        ),
    );
    r.attack(
        "mknod-char-device",
        s4(
            MKNODAT,
            rw,
            c("null").as_ptr() as i64,
            0o020000 | 0o666,
            (1 << 8) | 3,
        ),
    );
    r.attack(
        "mkfifo-in-readonly-dir",
        s4(MKNODAT, ro, c("fifo").as_ptr() as i64, 0o010000 | 0o666, 0),
    );
    r.attack("exec-bin-sh", {
        let sh = c("/bin/sh");
        let argv = [sh.as_ptr(), std::ptr::null()];
        let envp = [std::ptr::null::<i8>()];
        s3(
            EXECVE,
            sh.as_ptr() as i64,
            argv.as_ptr() as i64,
            envp.as_ptr() as i64,
        )
    });
    r.attack("open-by-handle-at", {
        let mut handle = [0u8; 136];
        handle[0] = 128;
        s3(OPEN_BY_HANDLE_AT, ro, handle.as_mut_ptr() as i64, O_RDONLY)
    });
    r.attack("name-to-handle-at", {
        let mut handle = [0u8; 136];
        handle[0] = 128;
        let mut mount_id = 0i32;
        s5(
            NAME_TO_HANDLE_AT,
            ro,
            c("hello.txt").as_ptr() as i64,
            handle.as_mut_ptr() as i64,
            &mut mount_id as *mut i32 as i64,
            0,
        )
    });
    r.attack("chroot", s1(CHROOT, c("/").as_ptr() as i64));

    // The append-only log.
    r.attack("log-lseek", s3(LSEEK, log, 0, 0));
    r.attack("log-ftruncate", s2(FTRUNCATE, log, 0));
    r.attack(
        "log-clear-append-then-pwrite",
        s3(FCNTL, log, F_SETFL, 0).and_then(|_| s4(PWRITE64, log, c("X").as_ptr() as i64, 1, 0)),
    );
    r.attack("log-pwritev2-noappend", {
        let data = b"OVERWRITE";
        let iov = [data.as_ptr() as i64, data.len() as i64];
        s5(
            PWRITEV2,
            log,
            iov.as_ptr() as i64,
            1,
            0,
            0x20, /* RWF_NOAPPEND */
        )
    });
    r.attack("log-read", {
        let mut buf = [0u8; 16];
        s3(READ, log, buf.as_mut_ptr() as i64, 16)
    });

    // Network.
    r.attack("tcp-socket", s3(SOCKET, AF_INET, SOCK_STREAM, 0));
    r.attack("udp6-socket", s3(SOCKET, AF_INET6, SOCK_DGRAM, 0));
    r.attack("netlink-socket", s3(SOCKET, AF_NETLINK, SOCK_RAW, 0));
    r.attack("packet-socket", s3(SOCKET, AF_PACKET, SOCK_RAW, 0));
    r.attack(
        "x32-tcp-socket",
        s3(X32_BIT | SOCKET, AF_INET, SOCK_STREAM, 0),
    );
    r.attack(
        "socketpair-inet",
        s4(
            SOCKETPAIR,
            AF_INET,
            SOCK_STREAM,
            0,
            [0i32; 2].as_mut_ptr() as i64,
        ),
    );
    let sockaddr_in = |port: i64| -> [u8; 16] {
        let mut a = [0u8; 16];
        a[0..2].copy_from_slice(&(AF_INET as u16).to_ne_bytes());
        a[2..4].copy_from_slice(&(port as u16).to_be_bytes());
        a[4..8].copy_from_slice(&[127, 0, 0, 1]);
        a
    };
    r.attack("connect-loopback-with-granted-socket", {
        let a = sockaddr_in(port);
        s3(CONNECT, tcp, a.as_ptr() as i64, 16)
    });
    r.attack("bind-with-granted-socket", {
        let a = sockaddr_in(0);
        s3(BIND, tcp, a.as_ptr() as i64, 16)
    });
    r.attack("connect-outside-abstract-unix-socket", {
        let mut a = vec![0u8; 2];
        a[0..2].copy_from_slice(&(AF_UNIX as u16).to_ne_bytes());
        a.push(0);
        a.extend_from_slice(abstract_name.as_bytes());
        s3(SOCKET, AF_UNIX, SOCK_STREAM, 0)
            .and_then(|s| s3(CONNECT, s, a.as_ptr() as i64, a.len() as i64))
    });

    // Other processes.
    r.attack("kill-launcher", s2(KILL, outer_pid, 0));
    r.attack(
        "kill-parent",
        s0(GETPPID).and_then(|p| if p == 0 { Err(3) } else { s2(KILL, p, 0) }),
    );
    r.attack("pidfd-open-launcher", s2(PIDFD_OPEN, outer_pid, 0));
    r.attack("ptrace-attach-launcher", s4(PTRACE, 16, outer_pid, 0, 0));
    r.attack("ptrace-traceme", s4(PTRACE, 0, 0, 0, 0));
    r.attack("process-vm-readv-launcher", {
        let mut buf = [0u8; 8];
        let local = [buf.as_mut_ptr() as i64, 8];
        let remote = [0x400000i64, 8];
        sys(
            PROCESS_VM_READV,
            [
                outer_pid,
                local.as_ptr() as i64,
                1,
                remote.as_ptr() as i64,
                1,
                0,
            ],
        )
    });

    // Namespaces, mounts, privileges.
    r.attack(
        "mount-tmpfs",
        s5(
            MOUNT,
            c("none").as_ptr() as i64,
            c("/").as_ptr() as i64,
            c("tmpfs").as_ptr() as i64,
            0,
            0,
        ),
    );
    r.attack("umount-root", s2(UMOUNT2, c("/").as_ptr() as i64, 2));
    r.attack("fsopen", s2(FSOPEN, c("tmpfs").as_ptr() as i64, 0));
    r.attack("unshare-user", s1(UNSHARE, 0x1000_0000));
    r.attack("unshare-net", s1(UNSHARE, 0x4000_0000));
    r.attack("setns", s2(SETNS, 0, 0));
    r.attack(
        "clone-new-namespace",
        sys(CLONE, [0x0002_0000 | SIGCHLD, 0, 0, 0, 0, 0]),
    );
    r.attack("clone3", {
        let args = [0u64; 11];
        s2(CLONE3, args.as_ptr() as i64, 88)
    });
    r.attack("setuid-other", s1(SETUID, 1000));
    r.attack("capabilities", {
        let mut hdr = [0x2008_0522u32, 0];
        let mut data = [0u32; 6];
        s2(CAPGET, hdr.as_mut_ptr() as i64, data.as_mut_ptr() as i64).and_then(|_| {
            if data.iter().all(|d| *d == 0) {
                Err(EPERM)
            } else {
                Ok(data[0] as i64)
            }
        })
    });
    r.attack("sethostname", s2(SETHOSTNAME, c("evil").as_ptr() as i64, 4));
    r.attack("settimeofday", {
        let tv = [0i64; 2];
        s2(SETTIMEOFDAY, tv.as_ptr() as i64, 0)
    });

    // Kernel attack surface.
    r.attack("bpf", s3(BPF, 0, 0, 0));
    r.attack("keyctl", s2(KEYCTL, 0, -3));
    r.attack(
        "add-key",
        s5(
            ADD_KEY,
            c("user").as_ptr() as i64,
            c("k").as_ptr() as i64,
            0,
            0,
            -3,
        ),
    );
    r.attack("io-uring-setup", {
        let mut params = [0u8; 120];
        s2(IO_URING_SETUP, 8, params.as_mut_ptr() as i64)
    });
    r.attack("perf-event-open", {
        let mut attr = [0u8; 128];
        attr[4..8].copy_from_slice(&128u32.to_ne_bytes());
        s5(PERF_EVENT_OPEN, attr.as_mut_ptr() as i64, 0, -1, -1, 0)
    });
    r.attack("userfaultfd", s1(USERFAULTFD, 0));
    r.attack("tiocsti", {
        let ch = b'x';
        s3(IOCTL, 0, 0x5412, &ch as *const u8 as i64)
    });
    r.attack("tioclinux", {
        let ch = 2u8;
        s3(IOCTL, 1, 0x541C, &ch as *const u8 as i64)
    });
    r.attack("personality", s1(PERSONALITY, 0x0040_0000));
    r.attack("init-module", s3(INIT_MODULE, 0, 0, 0));
    r.attack("finit-module", s3(FINIT_MODULE, 0, 0, 0));
    r.attack("kexec-load", s4(KEXEC_LOAD, 0, 0, 0, 0));
    r.attack("reboot", s4(REBOOT, 0xfee1dead, 0x28121969, 0x4321fedc, 0));
    r.attack("swapon", s2(SWAPON, c("/swap").as_ptr() as i64, 0));
    r.attack("iopl", s1(IOPL, 3));
    r.attack("fanotify-init", s2(FANOTIFY_INIT, 0, 0));

    r.line("DONE".to_owned());
}

/// Forks a child that forks a grandchild and exits at once; the grandchild exits too. The
/// grandchild is an orphan: only the namespace's init can reap it. A zombie still accepts
/// `kill(pid, 0)`; a reaped process gives `ESRCH`.
fn orphan() {
    let mut fds = [0i32; 2];
    s2(PIPE2, fds.as_mut_ptr() as i64, O_CLOEXEC).expect("pipe2");
    let child = s0(FORK).expect("fork");
    if child == 0 {
        let grandchild = s0(FORK).unwrap_or(-1);
        if grandchild == 0 {
            let _ = s1(EXIT, 0);
        }
        let _ = write_buf(i64::from(fds[1]), &(grandchild as i32).to_ne_bytes());
        let _ = s1(EXIT, 0);
    }
    let _ = s4(WAIT4, child, 0, 0, 0);
    let mut buf = [0u8; 4];
    let n = s3(READ, i64::from(fds[0]), buf.as_mut_ptr() as i64, 4);
    let grandchild = i64::from(i32::from_ne_bytes(buf));
    if n != Ok(4) || grandchild <= 0 {
        println!("FAIL orphan: no grandchild ({n:?})");
        return;
    }
    for _ in 0..500 {
        if s2(KILL, grandchild, 0) == Err(ESRCH) {
            println!("REAPED");
            return;
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    println!("ZOMBIE {grandchild}");
}

/// `key=value` arguments as a map (others are skipped).
fn key_values(args: &[String]) -> HashMap<String, String> {
    args.iter()
        .filter_map(|a| a.split_once('='))
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect()
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    match args.get(1).map(String::as_str) {
        Some("attack") => attack(&key_values(&args[2..])),
        Some("holes") => holes::holes(&key_values(&args[2..])),
        Some("exit") => std::process::exit(args[2].parse().unwrap_or(1)),
        Some("signal") => {
            let sig: i64 = args[2].parse().unwrap_or(9);
            // SIGSEGV from a real fault; any other signal sent to the own process group
            // (the program is process 2 of its namespace, so default actions apply).
            if sig == 11 {
                // SAFETY: deliberately crashes the process with SIGSEGV.
                unsafe { std::ptr::null_mut::<u8>().write_volatile(1) };
            }
            let _ = s2(KILL, 0, sig);
            std::process::exit(100);
        }
        Some("sleep") => {
            std::thread::sleep(std::time::Duration::from_secs(
                args[2].parse().unwrap_or(60),
            ));
        }
        Some("report") => report(),
        Some("abort") => std::process::abort(),
        Some("orphan") => orphan(),
        Some("linger") => {
            if s0(FORK) == Ok(0) {
                std::thread::sleep(std::time::Duration::from_secs(60));
                let _ = s1(EXIT, 0);
            }
            println!("PARENT EXITS");
        }
        Some("attack-one") => {
            // One seccomp and one Landlock denial, for --log-denials.
            let mut r = Report {
                out: std::io::stdout(),
            };
            r.attack("tcp-socket", s3(SOCKET, AF_INET, SOCK_STREAM, 0));
            r.attack(
                "absolute-open-root-dir",
                openat(AT_FDCWD, "/", O_RDONLY | O_DIRECTORY, 0),
            );
        }
        _ => std::process::exit(64),
    }
}
