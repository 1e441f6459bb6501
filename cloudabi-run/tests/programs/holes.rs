//! `holes`: the operation classes Landlock does not check (metadata, lookups, path-named UNIX
//! sockets, TCP fast open, memfd execution, other processes' limits), tried through and past
//! the grants. The test lays out `base/{ro,rw}` (granted) beside `base/outside.txt`,
//! `base/outside-link`, `base/outside.sock` (stream listener) and `base/outside.dgram`
//! (datagram socket), and checks from the host side that none of them changed or was reached.
//!
//! Arguments: `ro=N rw=N self=N conn=N port=P ustream=PATH udgram=PATH`: the read-only and
//! read-write directories, this program's own executable (read-only), an accepted TCP
//! connection, the port of a TCP listener outside, and the absolute host paths of the
//! outside UNIX sockets.

use std::collections::HashMap;

use crate::{
    AF_UNIX, CLOSE, CONNECT, EXIT, FCHDIR, FORK, O_CREAT, O_RDONLY, O_WRONLY, Report, SOCK_DGRAM, SOCK_STREAM,
    SOCKET, WAIT4, c, openat, read_all, s0, s1, s2, s3, s4, s5, sys, write_buf,
};

const FSTAT: i64 = 5;
const PREAD64: i64 = 17;
const SENDTO: i64 = 44;
const FCHMOD: i64 = 91;
const SETXATTR: i64 = 188;
const FSETXATTR: i64 = 190;
const INOTIFY_ADD_WATCH: i64 = 254;
const FCHOWNAT: i64 = 260;
const NEWFSTATAT: i64 = 262;
const READLINKAT: i64 = 267;
const FCHMODAT: i64 = 268;
const UTIMENSAT: i64 = 280;
const INOTIFY_INIT1: i64 = 294;
const PRLIMIT64: i64 = 302;
const MEMFD_CREATE: i64 = 319;
const EXECVEAT: i64 = 322;

const O_PATH: i64 = 0o10000000;
const AT_EMPTY_PATH: i64 = 0x1000;
const MFD_CLOEXEC: i64 = 1;
const MFD_EXEC: i64 = 0x10;
const MSG_FASTOPEN: i64 = 0x2000_0000;
const AF_INET: u16 = 2;
const AF_UNSPEC: u16 = 0;
const RLIMIT_CORE: i64 = 4;
const RLIMIT_NOFILE: i64 = 7;
const IN_ALL_EVENTS: i64 = 0xfff;
/// Reported when a lookup through `..` ends inside the grant it started from.
const STAYED_IN_GRANT: i32 = 0;

/// `(st_dev, st_ino)` of `fstatat(dir, path)` (`None` for `fstat(dir)`).
fn stat_id(dir: i64, path: Option<&str>) -> Result<(u64, u64), i32> {
    let mut st = [0u64; 18];
    match path {
        Some(p) => {
            let p = c(p);
            s4(NEWFSTATAT, dir, p.as_ptr() as i64, st.as_mut_ptr() as i64, 0)?;
        }
        None => {
            s2(FSTAT, dir, st.as_mut_ptr() as i64)?;
        }
    }
    Ok((st[0], st[1]))
}

/// An `Ok` lookup through `..` that ended at the grant itself counts as denied.
fn outside(dir: i64, path: &str) -> Result<i64, i32> {
    let got = stat_id(dir, Some(path))?;
    if stat_id(dir, None) == Ok(got) {
        Err(STAYED_IN_GRANT)
    } else {
        Ok(got.1 as i64)
    }
}

/// `struct sockaddr_un` for `path`, and its length.
fn sockaddr_un(path: &str) -> ([u8; 110], i64) {
    let mut sa = [0u8; 110];
    sa[..2].copy_from_slice(&(AF_UNIX as u16).to_ne_bytes());
    let b = path.as_bytes();
    let n = b.len().min(107);
    sa[2..2 + n].copy_from_slice(&b[..n]);
    (sa, (2 + n + 1) as i64)
}

fn unix_connect(path: &str) -> Result<i64, i32> {
    let fd = s3(SOCKET, AF_UNIX, SOCK_STREAM, 0)?;
    let (sa, len) = sockaddr_un(path);
    let r = s3(CONNECT, fd, sa.as_ptr() as i64, len);
    let _ = s1(CLOSE, fd);
    r
}

fn unix_sendto(path: &str) -> Result<i64, i32> {
    let fd = s3(SOCKET, AF_UNIX, SOCK_DGRAM, 0)?;
    let (sa, len) = sockaddr_un(path);
    let msg = b"escaped";
    let r = sys(
        SENDTO,
        [
            fd,
            msg.as_ptr() as i64,
            msg.len() as i64,
            0,
            sa.as_ptr() as i64,
            len,
        ],
    );
    let _ = s1(CLOSE, fd);
    r
}

/// `utimensat(dir, path, {{0, 0}, {0, 0}}, 0)`: both times set to the epoch.
fn utimes(dir: i64, path: Option<&str>) -> Result<i64, i32> {
    let times = [0i64; 4];
    let p = path.map(c);
    let ptr = p.as_ref().map_or(0, |p| p.as_ptr() as i64);
    s4(UTIMENSAT, dir, ptr, times.as_ptr() as i64, 0)
}

fn fsetxattr_at(dir: i64, path: &str) -> Result<i64, i32> {
    let fd = openat(dir, path, O_RDONLY, 0)?;
    let (name, value) = (c("user.cloudabi-escape"), b"1");
    let r = s5(
        FSETXATTR,
        fd,
        name.as_ptr() as i64,
        value.as_ptr() as i64,
        1,
        0,
    );
    let _ = s1(CLOSE, fd);
    r
}

/// In a child process: copies this program into a memfd and executes it (`exit 77`).
/// Returns the child's exit status, or `Err(errno)` of the step that failed.
fn memfd_exec(own: i64) -> Result<i64, i32> {
    let child = s0(FORK)?;
    if child == 0 {
        let code = (|| -> Result<(), i32> {
            let name = c("payload");
            let m = s2(MEMFD_CREATE, name.as_ptr() as i64, MFD_CLOEXEC)?;
            let mut buf = vec![0u8; 1 << 16];
            let mut off = 0i64;
            loop {
                let n = s4(PREAD64, own, buf.as_mut_ptr() as i64, buf.len() as i64, off)?;
                if n == 0 {
                    break;
                }
                write_buf(m, &buf[..n as usize])?;
                off += n;
            }
            let args = [c("payload"), c("exit"), c("77")];
            let argv = [args[0].as_ptr(), args[1].as_ptr(), args[2].as_ptr(), std::ptr::null()];
            let envp = [std::ptr::null::<i8>()];
            let empty = c("");
            s5(
                EXECVEAT,
                m,
                empty.as_ptr() as i64,
                argv.as_ptr() as i64,
                envp.as_ptr() as i64,
                AT_EMPTY_PATH,
            )?;
            Ok(())
        })();
        let _ = s1(EXIT, i64::from(code.err().unwrap_or(1)));
    }
    let mut status = 0i32;
    s4(WAIT4, child, &mut status as *mut i32 as i64, 0, 0)?;
    let code = (status >> 8) & 0xff;
    if code == 77 { Ok(77) } else { Err(code) }
}

pub fn holes(args: &HashMap<String, String>) {
    let mut r = Report {
        out: std::io::stdout(),
    };
    let num = |k: &str| -> i64 {
        args.get(k)
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("missing argument {k}=N"))
    };
    let text = |k: &str| args.get(k).cloned().unwrap_or_default();
    let (ro, rw, own, conn, port) = (num("ro"), num("rw"), num("self"), num("conn"), num("port"));
    let deep = "../".repeat(40);

    // Lookups through `..`: the grant's root is a root.
    r.legit(
        "dotdot-stays-in-grant",
        match (stat_id(ro, Some("..")), stat_id(ro, None)) {
            (Ok(a), Ok(b)) if a == b => Ok(()),
            other => Err(format!("{other:?}")),
        },
    );
    r.attack("stat-outside-through-dotdot", outside(ro, "../outside.txt"));
    r.attack("stat-parent-through-dotdot", outside(ro, ".."));
    r.attack("stat-rw-parent-through-dotdot", outside(rw, "../.."));
    r.attack(
        "stat-host-proc-through-dotdot",
        outside(ro, &format!("{deep}proc/1/status")),
    );
    r.attack(
        "stat-host-etc-through-dotdot",
        outside(ro, &format!("{deep}etc/passwd")),
    );
    r.attack(
        "opath-outside-through-dotdot",
        openat(ro, "../outside.txt", O_PATH, 0),
    );
    r.attack(
        "list-host-proc-through-dotdot",
        openat(ro, &format!("{deep}proc"), O_PATH, 0).and_then(|fd| outside(fd, ".")),
    );
    r.attack("readlink-outside-through-dotdot", {
        let mut buf = [0u8; 256];
        let p = c("../outside-link");
        s4(READLINKAT, ro, p.as_ptr() as i64, buf.as_mut_ptr() as i64, 256)
    });

    // Permissions, owners, times, extended attributes.
    r.attack("chmod-outside-through-dotdot", {
        let p = c("../outside.txt");
        s4(FCHMODAT, ro, p.as_ptr() as i64, 0o777, 0)
    });
    r.attack("chmod-readonly-grant-file", {
        let p = c("hello.txt");
        s4(FCHMODAT, ro, p.as_ptr() as i64, 0o777, 0)
    });
    r.attack("fchmod-readonly-grant-dir", s2(FCHMOD, ro, 0o777));
    r.attack("chmod-readwrite-grant-file", {
        let p = c("planted.txt");
        s4(FCHMODAT, rw, p.as_ptr() as i64, 0o777, 0)
    });
    r.attack("chown-readonly-grant-file", {
        let p = c("hello.txt");
        s5(FCHOWNAT, ro, p.as_ptr() as i64, 0, 0, 0)
    });
    r.attack(
        "utimensat-readonly-grant-file",
        utimes(ro, Some("hello.txt")),
    );
    r.attack("utimensat-readonly-grant-dir", utimes(ro, None));
    r.attack(
        "utimensat-outside-through-dotdot",
        utimes(ro, Some("../outside.txt")),
    );
    r.attack(
        "setxattr-readonly-grant-file",
        fsetxattr_at(ro, "hello.txt"),
    );
    r.attack(
        "setxattr-readwrite-grant-file",
        fsetxattr_at(rw, "planted.txt"),
    );
    r.attack(
        "setxattr-outside-through-dotdot",
        s1(FCHDIR, ro).and_then(|_| {
            let (p, name) = (c("../outside.txt"), c("user.cloudabi-escape"));
            let value = b"1";
            s5(
                SETXATTR,
                p.as_ptr() as i64,
                name.as_ptr() as i64,
                value.as_ptr() as i64,
                1,
                0,
            )
        }),
    );
    r.legit(
        "utimensat-readwrite-grant",
        utimes(rw, Some("planted.txt"))
            .map(|_| ())
            .map_err(|e| e.to_string()),
    );
    r.legit(
        "create-and-write-in-readwrite-grant",
        openat(rw, "created.txt", O_WRONLY | O_CREAT, 0o644)
            .and_then(|fd| write_buf(fd, b"created\n"))
            .map(|_| ())
            .map_err(|e| e.to_string()),
    );
    r.legit(
        "read-in-readonly-grant",
        openat(ro, "hello.txt", O_RDONLY, 0)
            .and_then(read_all)
            .map_err(|e| e.to_string())
            .and_then(|b| (b == b"hello\n").then_some(()).ok_or("content".into())),
    );

    // inotify: watches only what the grants reach.
    let inotify = s1(INOTIFY_INIT1, 0);
    r.attack(
        "inotify-outside-through-dotdot",
        inotify.and_then(|ifd| {
            s1(FCHDIR, ro)?;
            let p = c("../outside.txt");
            s3(INOTIFY_ADD_WATCH, ifd, p.as_ptr() as i64, IN_ALL_EVENTS)
        }),
    );
    r.legit(
        "inotify-inside-grant",
        inotify
            .and_then(|ifd| {
                s1(FCHDIR, ro)?;
                let p = c("hello.txt");
                s3(INOTIFY_ADD_WATCH, ifd, p.as_ptr() as i64, IN_ALL_EVENTS)
            })
            .map(|_| ())
            .map_err(|e| e.to_string()),
    );

    // Path-named UNIX sockets outside the grants, by relative and by absolute path.
    let _ = s1(FCHDIR, ro);
    r.attack(
        "connect-outside-unix-stream-through-dotdot",
        unix_connect("../outside.sock"),
    );
    r.attack(
        "connect-outside-unix-stream-absolute",
        unix_connect(&text("ustream")),
    );
    r.attack(
        "sendto-outside-unix-dgram-through-dotdot",
        unix_sendto("../outside.dgram"),
    );
    r.attack(
        "sendto-outside-unix-dgram-absolute",
        unix_sendto(&text("udgram")),
    );
    // Inside a read-only grant: denied only where Landlock has `resolve_unix` (ABI 9), so the
    // test, which knows the kernel's ABI, judges this line.
    let _ = s1(FCHDIR, ro);
    match unix_connect("inside-ro.sock") {
        Ok(_) => r.line("RESULT connect-unix-socket-in-readonly-grant: connected".into()),
        Err(e) => r.line(format!("RESULT connect-unix-socket-in-readonly-grant: {e}")),
    }
    let _ = s1(FCHDIR, rw);
    r.legit(
        "connect-unix-socket-in-readwrite-grant",
        unix_connect("inside.sock")
            .map(|_| ())
            .map_err(|e| e.to_string()),
    );

    // TCP fast open on a granted connection, after disconnecting it.
    r.attack("tcp-fastopen-outside", {
        let unspec = [AF_UNSPEC.to_ne_bytes(), [0, 0]].concat();
        let _ = s3(CONNECT, conn, unspec.as_ptr() as i64, 16);
        let mut sin = [0u8; 16];
        sin[..2].copy_from_slice(&AF_INET.to_ne_bytes());
        sin[2..4].copy_from_slice(&(port as u16).to_be_bytes());
        sin[4..8].copy_from_slice(&[127, 0, 0, 1]);
        let msg = b"GET / HTTP/1.0\r\n\r\n";
        sys(
            SENDTO,
            [
                conn,
                msg.as_ptr() as i64,
                msg.len() as i64,
                MSG_FASTOPEN,
                sin.as_ptr() as i64,
                16,
            ],
        )
    });

    // Code the configuration never granted: a memfd.
    r.attack("memfd-exec", memfd_exec(own));
    r.attack("memfd-create-exec-flag", {
        let name = c("x");
        s2(MEMFD_CREATE, name.as_ptr() as i64, MFD_CLOEXEC | MFD_EXEC)
    });
    r.legit(
        "memfd-create-plain",
        {
            let name = c("x");
            s2(MEMFD_CREATE, name.as_ptr() as i64, MFD_CLOEXEC)
                .and_then(|m| write_buf(m, b"data"))
        }
        .map(|_| ())
        .map_err(|e| e.to_string()),
    );

    // Resource limits: its own, never its init's.
    r.attack("prlimit-init", {
        let lim = [0u64; 2];
        s4(PRLIMIT64, 1, RLIMIT_CORE, lim.as_ptr() as i64, 0)
    });
    r.legit(
        "prlimit-self",
        {
            let mut old = [0u64; 2];
            s4(PRLIMIT64, 0, RLIMIT_NOFILE, 0, old.as_mut_ptr() as i64)
        }
        .map(|_| ())
        .map_err(|e| e.to_string()),
    );
    r.line("DONE".to_owned());
}
