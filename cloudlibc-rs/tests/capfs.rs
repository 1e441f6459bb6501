//! Adversarial tests for capability-checked file access: every escape must be refused
//! (with both resolvers), legitimate nested access must work, and rights must hold.

mod common;

use std::io::{Read, Seek, SeekFrom, Write};
use std::os::unix::fs::symlink;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use cloudlibc_rs::capfs::{Dir, Error, OpenOptions, Rights, rights};
use common::TempDir;

/// A tree: root/{secret-outside} and root/sandbox/{a/b/file.txt, links...}.
fn setup() -> (TempDir, Dir) {
    let t = TempDir::new("capfs");
    std::fs::write(t.path().join("secret"), "outside").unwrap();
    let s = t.path().join("sandbox");
    std::fs::create_dir_all(s.join("a/b")).unwrap();
    std::fs::write(s.join("a/b/file.txt"), "inside").unwrap();
    symlink("../secret", s.join("up")).unwrap();
    symlink("/etc/passwd", s.join("abs")).unwrap();
    symlink("a/b/file.txt", s.join("good")).unwrap();
    symlink("b/../../a/b", s.join("a/rel")).unwrap();
    symlink("loop2", s.join("loop1")).unwrap();
    symlink("loop1", s.join("loop2")).unwrap();
    symlink("a/../..", s.join("dotdot")).unwrap();
    let dir = Dir::from_fd(std::fs::File::open(&s).unwrap().into()).unwrap();
    (t, dir)
}

fn read() -> OpenOptions {
    let mut o = OpenOptions::new();
    o.read(true);
    o
}

fn both(dir: &Dir, path: &str) -> [Result<String, Error>; 2] {
    let f = |r: Result<cloudlibc_rs::capfs::File, Error>| {
        r.map(|mut f| {
            let mut s = String::new();
            f.read_to_string(&mut s).unwrap();
            s
        })
    };
    [
        f(dir.open_file(path, &read())),
        f(dir.__open_file_walk(Path::new(path), &read())),
    ]
}

fn assert_escape(dir: &Dir, path: &str) {
    for (i, r) in both(dir, path).into_iter().enumerate() {
        match r {
            Err(Error::Escape) => {}
            other => panic!("{path} (resolver {i}): expected Escape, got {other:?}"),
        }
    }
}

#[test]
fn escapes_are_refused() {
    let (_t, dir) = setup();
    for p in [
        "/etc/passwd",
        "..",
        "../secret",
        "a/../../secret",
        "a/b/../../../secret",
        "up",
        "abs",
        "dotdot/secret",
        "a/./../../secret",
    ] {
        assert_escape(&dir, p);
    }
    assert_eq!(Error::Escape.errno(), cloudlibc_rs::capfs::ENOTCAPABLE);
    assert!(matches!(
        dir.metadata("../secret", true),
        Err(Error::Escape)
    ));
    assert!(matches!(dir.metadata("up", true), Err(Error::Escape)));
    // Without following, the link itself is inside and may be inspected.
    assert!(dir.metadata("up", false).unwrap().file_type().is_symlink());
    assert!(matches!(dir.open_dir(".."), Err(Error::Escape)));
    assert!(matches!(
        dir.__open_dir_walk(Path::new("a/../..")),
        Err(Error::Escape)
    ));
    assert!(matches!(dir.remove_file("../secret"), Err(Error::Escape)));
    assert!(matches!(
        dir.rename("a/b/file.txt", &dir, "../stolen"),
        Err(Error::Escape)
    ));
    assert!(matches!(dir.symlink("x", "../newlink"), Err(Error::Escape)));
    assert!(matches!(dir.read_link("../sandbox/up"), Err(Error::Escape)));
    assert!(matches!(
        dir.create_dir("/tmp/x", 0o755),
        Err(Error::Escape)
    ));
    assert!(std::fs::read_to_string(_t.path().join("secret")).unwrap() == "outside");
}

#[test]
fn loops_fail() {
    let (_t, dir) = setup();
    for r in both(&dir, "loop1") {
        match r {
            Err(Error::Os(e)) => assert_eq!(e.raw_os_error(), Some(libc::ELOOP)),
            other => panic!("expected ELOOP, got {other:?}"),
        }
    }
}

#[test]
fn nested_access_works() {
    let (_t, dir) = setup();
    for p in [
        "a/b/file.txt",
        "good",
        "a/rel/file.txt",
        "a/../a/b/./file.txt",
        "./a/b/file.txt",
    ] {
        for r in both(&dir, p) {
            assert_eq!(r.unwrap(), "inside", "{p}");
        }
    }
    let sub = dir.open_dir("a").unwrap();
    assert_eq!(sub.read_link("rel").unwrap(), "b/../../a/b");
    // `..` from a subdirectory capability may not reach its parent.
    assert!(matches!(
        sub.open_file("../good", &read()),
        Err(Error::Escape)
    ));
    let mut names: Vec<_> = dir
        .entries()
        .unwrap()
        .map(|e| e.unwrap().name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(
        names,
        ["a", "abs", "dotdot", "good", "loop1", "loop2", "up"]
    );
    dir.create_dir("a/c", 0o755).unwrap();
    let mut f = dir
        .open_file("a/c/new", OpenOptions::new().write(true).create_new(true))
        .unwrap();
    f.write_all(b"hi").unwrap();
    dir.rename("a/c/new", &dir, "a/c/renamed").unwrap();
    assert_eq!(dir.metadata("a/c/renamed", true).unwrap().len(), 2);
    dir.symlink("renamed", "a/c/l").unwrap();
    assert_eq!(both(&dir, "a/c/l")[0].as_ref().unwrap(), "hi");
    dir.remove_file("a/c/l").unwrap();
    dir.remove_file("a/c/renamed").unwrap();
    dir.remove_dir("a/c").unwrap();
    assert!(dir.metadata("a/c", true).is_err());
}

#[test]
fn read_only_directory_cannot_write() {
    let (_t, dir) = setup();
    let ro = dir.limit(rights::DIRECTORY_READ_ONLY, rights::FILE_READ_ONLY);
    let missing = |r: Result<(), Error>| matches!(r, Err(Error::MissingRights { .. }));
    assert!(missing(ro.create_dir("x", 0o755)));
    assert!(missing(ro.remove_file("a/b/file.txt")));
    assert!(missing(ro.rename("a/b/file.txt", &ro, "moved")));
    assert!(missing(ro.symlink("x", "y")));
    assert!(matches!(
        ro.open_file("a/b/file.txt", OpenOptions::new().write(true)),
        Err(Error::MissingRights { .. })
    ));
    assert!(matches!(
        ro.open_file("new", OpenOptions::new().read(true).create(true)),
        Err(Error::MissingRights { .. })
    ));
    // Subdirectories inherit the read-only limit.
    let sub = ro.open_dir("a").unwrap();
    assert!(missing(sub.create_dir("x", 0o755)));
    // Reading still works.
    let mut s = String::new();
    ro.open_file("a/b/file.txt", &read())
        .unwrap()
        .read_to_string(&mut s)
        .unwrap();
    assert_eq!(s, "inside");
    let f = ro.open_file("a/b/file.txt", &read()).unwrap();
    assert!(matches!(
        f.write_checked(b"x"),
        Err(Error::MissingRights { .. })
    ));
}

#[test]
fn append_only_file_cannot_seek_or_truncate() {
    let (_t, dir) = setup();
    let mut f = dir
        .open_file("a/b/file.txt", OpenOptions::new().append(true))
        .unwrap();
    f.write_all(b"+more").unwrap();
    assert!(matches!(
        f.seek_checked(SeekFrom::Start(0)),
        Err(Error::MissingRights { .. })
    ));
    assert!(f.seek(SeekFrom::End(0)).is_err());
    assert!(matches!(f.set_len(0), Err(Error::MissingRights { .. })));
    assert!(matches!(
        f.read_checked(&mut [0; 4]),
        Err(Error::MissingRights { .. })
    ));
    // The same from a raw O_APPEND descriptor.
    let raw = std::fs::OpenOptions::new()
        .append(true)
        .open(_t.path().join("sandbox/a/b/file.txt"))
        .unwrap();
    let f = cloudlibc_rs::capfs::File::from_fd(raw.into()).unwrap();
    assert!(!f.rights().contains(Rights::FD_SEEK));
    assert!(matches!(f.set_len(0), Err(Error::MissingRights { .. })));
    assert_eq!(
        std::fs::read_to_string(_t.path().join("sandbox/a/b/file.txt")).unwrap(),
        "inside+more"
    );
}

/// Descriptors opened beneath a directory get exactly the directory's inheriting rights,
/// narrowed to what fits their type and open mode, as CloudABI `fdstat` values.
#[test]
fn rights_are_inherited_beneath_a_directory() {
    let (_t, dir) = setup();
    assert_eq!(dir.base_rights(), rights::DIRECTORY);
    assert_eq!(dir.inheriting_rights(), Rights::all());
    let inheriting = rights::FILE_READ_ONLY | Rights::FD_WRITE | rights::DIRECTORY_READ_ONLY;
    let dir = dir.limit(Rights::all(), inheriting);
    // A subdirectory: base limited to directory rights, same inheriting rights.
    let sub = dir.open_dir("a").unwrap();
    assert_eq!(
        sub.base_rights(),
        rights::DIRECTORY_READ_ONLY | Rights::FILE_ADVISE
    );
    assert_eq!(sub.inheriting_rights(), inheriting);
    let stat = cloudabi_types::FdStat {
        fs_filetype: cloudabi_types::FileType::DIRECTORY,
        fs_rights_base: sub.base_rights(),
        fs_rights_inheriting: sub.inheriting_rights(),
        ..cloudabi_types::FdStat::default()
    };
    assert!(!stat.fs_rights_base.contains(Rights::FILE_CREATE_FILE));
    // Files: the inheriting rights that fit a file opened in that mode.
    let f = sub.open_file("b/file.txt", &read()).unwrap();
    assert_eq!(f.rights(), rights::FILE_READ_ONLY);
    let f = sub
        .open_file("b/file.txt", OpenOptions::new().write(true))
        .unwrap();
    assert_eq!(
        f.rights(),
        Rights::FD_WRITE
            | Rights::FD_SEEK
            | Rights::FD_TELL
            | Rights::FILE_ADVISE
            | Rights::FILE_STAT_FGET
            | Rights::POLL_FD_READWRITE
    );
    let f = sub
        .open_file("b/file.txt", OpenOptions::new().append(true))
        .unwrap();
    assert_eq!(
        f.rights(),
        Rights::FD_WRITE
            | Rights::FD_TELL
            | Rights::FILE_ADVISE
            | Rights::FILE_STAT_FGET
            | Rights::POLL_FD_READWRITE
    );
    // Rights missing from the inheriting set cannot be asked for.
    let no_write = sub.limit(Rights::all(), rights::FILE_READ_ONLY);
    assert!(matches!(
        no_write.open_file("b/file.txt", OpenOptions::new().write(true)),
        Err(Error::MissingRights { missing }) if missing == Rights::FD_WRITE
    ));
    // Limiting never adds rights back.
    let again = no_write.limit(Rights::all(), Rights::all());
    assert_eq!(again.inheriting_rights(), rights::FILE_READ_ONLY);
}

/// Capability violations report the Linux-side `ENOTCAPABLE`, which stands for CloudABI's
/// `Errno::NOTCAPABLE` but cannot share its number (76 is Linux's `ENOTUNIQ`).
#[test]
fn not_capable_errno_relates_to_cloudabi() {
    use cloudlibc_rs::capfs::ENOTCAPABLE;
    let (_t, dir) = setup();
    let err = dir.open_file("../secret", &read()).unwrap_err();
    assert!(err.is_not_capable());
    assert_eq!(err.errno(), ENOTCAPABLE);
    assert_eq!(cloudabi_types::Errno::NOTCAPABLE.0, 76);
    assert_eq!(libc::ENOTUNIQ, 76);
    assert_ne!(ENOTCAPABLE, i32::from(cloudabi_types::Errno::NOTCAPABLE.0));
}

/// A thread keeps moving a directory between inside and outside the sandbox while
/// paths through it are resolved: nothing outside may ever be opened.
#[test]
fn rename_race_never_escapes() {
    let t = TempDir::new("race");
    let sandbox = t.path().join("sandbox");
    std::fs::create_dir_all(sandbox.join("d/e")).unwrap();
    std::fs::write(t.path().join("secret"), "outside").unwrap();
    std::fs::write(sandbox.join("inner"), "inside").unwrap();
    let dir = Dir::from_fd(std::fs::File::open(&sandbox).unwrap().into()).unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let mover = {
        let stop = stop.clone();
        let (inside, outside) = (sandbox.join("d"), t.path().join("moved"));
        std::thread::spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                let _ = std::fs::rename(&inside, &outside);
                let _ = std::fs::rename(&outside, &inside);
            }
        })
    };
    let mut inside_ok = 0;
    for i in 0..4000 {
        // d/e/../../../secret reaches `secret` if `d` was moved outside during the walk.
        let path = Path::new("d/e/../../../secret");
        let r = if i % 2 == 0 {
            dir.open_file(path, &read())
        } else {
            dir.__open_file_walk(path, &read())
        };
        if let Ok(mut f) = r {
            let mut s = String::new();
            f.read_to_string(&mut s).unwrap();
            panic!("escaped to a file holding {s:?}");
        }
        let path = Path::new("d/e/../../inner");
        let r = if i % 2 == 0 {
            dir.open_file(path, &read())
        } else {
            dir.__open_file_walk(path, &read())
        };
        if let Ok(mut f) = r {
            let mut s = String::new();
            f.read_to_string(&mut s).unwrap();
            assert_eq!(s, "inside");
            inside_ok += 1;
        }
    }
    stop.store(true, Ordering::Relaxed);
    mover.join().unwrap();
    // Some legitimate resolutions happen while `d` is in place.
    assert!(inside_ok > 0);
}

/// Opening with truncation needs the right to change a file's size among the directory's
/// inheriting rights (the opened file is what changes), not among its own base rights.
#[test]
fn truncating_open_needs_the_size_right_for_the_file() {
    let (t, dir) = setup();
    let mut trunc = OpenOptions::new();
    trunc.write(true).truncate(true);
    // A full directory capability: the file is emptied.
    dir.open_file("a/b/file.txt", &trunc).unwrap();
    assert_eq!(
        std::fs::read_to_string(t.path().join("sandbox/a/b/file.txt")).unwrap(),
        ""
    );
    std::fs::write(t.path().join("sandbox/a/b/file.txt"), "inside").unwrap();
    // Without FILE_STAT_FPUT_SIZE to hand down, the open is refused and nothing changes.
    let dir = dir.limit(Rights::all(), Rights::all() - Rights::FILE_STAT_FPUT_SIZE);
    assert!(matches!(
        dir.open_file("a/b/file.txt", &trunc),
        Err(Error::MissingRights { .. })
    ));
    assert_eq!(
        std::fs::read_to_string(t.path().join("sandbox/a/b/file.txt")).unwrap(),
        "inside"
    );
}

/// A descriptor taken over from its open mode gets the rights of a regular file narrowed
/// by that mode, never more: `SOCK_SHUTDOWN` is a socket right (CloudABI's
/// `sock_shutdown`), so a file opened for reading and writing does not get it.
#[test]
fn open_mode_rights_are_a_regular_files_at_most() {
    let (t, _dir) = setup();
    let path = t.path().join("sandbox/a/b/file.txt");
    let rw = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(&path)
        .unwrap();
    let f = cloudlibc_rs::capfs::File::from_fd(rw.into()).unwrap();
    assert_eq!(f.rights(), rights::REGULAR_FILE);
    assert!(!f.rights().contains(Rights::SOCK_SHUTDOWN));
    let ro = std::fs::File::open(&path).unwrap();
    let f = cloudlibc_rs::capfs::File::from_fd(ro.into()).unwrap();
    assert_eq!(f.rights(), rights::REGULAR_FILE - rights::FILE_MODIFY);
}
