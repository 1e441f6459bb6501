//! The generated `main` end to end: the typed variant, exit statuses for success,
//! errors, panics and explicit codes, bad configurations, ungranted descriptors and
//! missing argdata.
#![cfg(feature = "serde")]

use std::os::fd::{AsRawFd, OwnedFd};
use std::process::{Command, Output, Stdio};

use argdata::{Fd, Value};

fn probe() -> std::path::PathBuf {
    let exe = std::env::current_exe().unwrap();
    exe.parent()
        .unwrap()
        .parent()
        .unwrap()
        .join("examples/startup-probe")
}

fn launch(value: &Value) -> (Output, String) {
    let (mut r, w) = std::io::pipe().unwrap();
    let w = OwnedFd::from(w);
    let mut v = value.clone();
    if let Value::Map(entries) = &mut v {
        for (_, val) in entries.iter_mut() {
            if *val == Value::Fd(Fd(-100)) {
                *val = Value::Fd(Fd(w.as_raw_fd()));
            }
        }
    }
    let mut cmd = program::launch::command(probe(), &v).unwrap();
    let out = cmd.stdin(Stdio::null()).output().unwrap();
    drop(w);
    let mut s = String::new();
    std::io::Read::read_to_string(&mut r, &mut s).unwrap();
    (out, s)
}

fn config(action: &str) -> Value {
    // Fd(-100) is replaced by the write end of a pipe in `launch`. Granting fd 2 keeps
    // the program's stderr (otherwise the protocol makes it /dev/null); the typed
    // configuration ignores the extra key.
    Value::map([
        ("action", Value::from(action)),
        ("out", Value::Fd(Fd(-100))),
        ("stderr", Value::Fd(Fd(2))),
    ])
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[test]
fn typed_success() {
    let (out, piped) = launch(&config("ok"));
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(piped, "ok on fd 3\n");
}

#[test]
fn error_exits_1() {
    let (out, _) = launch(&config("fail"));
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(stderr(&out), "startup-probe: asked to fail\n");
}

#[test]
fn panic_exits_101() {
    let (out, _) = launch(&config("panic"));
    assert_eq!(out.status.code(), Some(101));
    assert!(stderr(&out).contains("asked to panic"), "{}", stderr(&out));
}

#[test]
fn exit_code_is_passed_through() {
    let (out, _) = launch(&config("exit3"));
    assert_eq!(out.status.code(), Some(3));
}

#[test]
fn bad_config_exits_65() {
    let (out, _) = launch(&Value::map([
        ("action", Value::from(5)),
        ("e", Value::Fd(Fd(2))),
    ]));
    assert_eq!(out.status.code(), Some(65));
    assert!(
        stderr(&out).starts_with("startup-probe: invalid argdata: "),
        "{}",
        stderr(&out)
    );
}

#[test]
fn ungranted_descriptor_is_rejected() {
    // By hand with a YAML file, fd numbers pass through: fd 1 works.
    let dir = std::env::temp_dir().join(format!("program-startup-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let yaml = dir.join("c.yaml");
    std::fs::write(&yaml, "action: ok\nout: !fd stdout\n").unwrap();
    let out = Command::new(probe())
        .arg("--argdata-yaml")
        .arg(&yaml)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(String::from_utf8_lossy(&out.stdout), "ok on fd 1\n");
    // Through the protocol with only 0-2 and the memfd (3), fd 3 is not granted.
    let memfd = {
        let mut bytes = Vec::new();
        Value::map([("action", Value::from("ok")), ("out", Value::Fd(Fd(3)))])
            .encode_raw_fds_into(&mut bytes)
            .unwrap();
        program::launch::sealed_memfd(&bytes).unwrap()
    };
    let raw = memfd.as_raw_fd();
    let mut cmd = Command::new(probe());
    cmd.env_clear().env("CLOUDABI_ARGDATA_FD", "3");
    // SAFETY: dup2/fcntl are async-signal-safe; they place the memfd at fd 3.
    unsafe {
        std::os::unix::process::CommandExt::pre_exec(&mut cmd, move || {
            let r = if raw == 3 {
                libc::fcntl(3, libc::F_SETFD, 0)
            } else {
                libc::dup2(raw, 3)
            };
            if r < 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let out = cmd.output().unwrap();
    assert_eq!(out.status.code(), Some(65), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("file descriptor rejected"),
        "{}",
        stderr(&out)
    );
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn no_argdata_exits_64() {
    let out = Command::new(probe()).output().unwrap();
    assert_eq!(out.status.code(), Some(64));
    assert_eq!(
        stderr(&out),
        "startup-probe: no argdata: start this program with cloudabi-run, or pass --argdata-yaml FILE\n"
    );
    let out = Command::new(probe()).arg("--bogus").output().unwrap();
    assert_eq!(out.status.code(), Some(64));
}

#[test]
fn the_sealed_memfd_is_read_from_offset_zero() {
    // docs/startup.md: the launcher leaves the memfd's offset at 0, so a receiver that
    // reads it with read(2) sees the whole value.
    let fd = program::launch::sealed_memfd(b"\x06abc").unwrap();
    assert_eq!(
        rustix::fs::seek(&fd, rustix::fs::SeekFrom::Current(0)).unwrap(),
        0
    );
    let mut buf = [0u8; 8];
    assert_eq!(rustix::io::read(&fd, &mut buf).unwrap(), 4);
    assert_eq!(
        program::launch::argdata_fd_env(7).as_bytes(),
        b"CLOUDABI_ARGDATA_FD=7"
    );
    assert_eq!(
        program::launch::diagnostics_fd_env(8).as_bytes(),
        b"CLOUDABI_DIAGNOSTICS_FD=8"
    );
}

#[test]
fn close_range_marks_a_range_close_on_exec() {
    // Copies at fixed high numbers, so that the range holds no descriptor of a test
    // running beside this one (the default soft limit is 1024).
    let null = std::fs::File::open("/dev/null").unwrap();
    let fds: Vec<i32> = (0..3)
        .map(|_| {
            // SAFETY: duplicates a descriptor this test owns; F_DUPFD leaves close-on-exec clear.
            let fd = unsafe { libc::fcntl(null.as_raw_fd(), libc::F_DUPFD, 1000) };
            assert!(fd >= 1000, "{}", std::io::Error::last_os_error());
            fd
        })
        .collect();
    let (lo, hi) = (*fds.iter().min().unwrap(), *fds.iter().max().unwrap());
    assert_eq!(hi - lo, 2, "{fds:?}");
    for fd in &fds {
        // SAFETY: reads the flags of a descriptor this test owns.
        assert_eq!(unsafe { libc::fcntl(*fd, libc::F_GETFD) }, 0);
    }
    // SAFETY: marking close-on-exec closes nothing; the range holds only this test's copies.
    unsafe {
        program::launch::close_range(
            lo as u32,
            hi as u32,
            program::launch::RangeAction::CloseOnExec,
        )
    };
    for fd in &fds {
        // SAFETY: reads the flags of a descriptor this test owns, then closes it once.
        unsafe {
            assert_eq!(libc::fcntl(*fd, libc::F_GETFD), libc::FD_CLOEXEC);
            libc::close(*fd);
        }
    }
}
