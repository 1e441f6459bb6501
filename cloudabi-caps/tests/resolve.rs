//! Resolution beneath a directory against a real file system: the walk, `openat2` and
//! the placement of entries agree on escapes and on how many symbolic links one lookup
//! may follow.

use std::fs;
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::fs::symlink;
use std::path::Path;

use cloudabi_caps::Error;
use cloudabi_caps::resolve::{
    MAX_SYMLINKS, Strategy, check_relative, open_beneath, place, place_following,
};
use rustix::fs::{Mode, OFlags};

fn open_dir(path: &Path) -> OwnedFd {
    OwnedFd::from(fs::File::open(path).unwrap())
}

/// `l0 -> l1 -> ... -> l{n-1} -> target`: following `l0` expands `n` links.
fn chain(dir: &Path, n: u32) {
    for i in 0..n {
        let next = if i + 1 == n {
            "target".to_owned()
        } else {
            format!("l{}", i + 1)
        };
        symlink(next, dir.join(format!("l{i}"))).unwrap();
    }
}

fn os_errno(e: &Error) -> Option<i32> {
    match e {
        Error::Os(e) => e.raw_os_error(),
        Error::Escape => None,
    }
}

#[test]
fn placement_follows_as_many_links_as_the_walk() {
    let tmp = tempfile::tempdir().unwrap();
    fs::write(tmp.path().join("target"), b"x").unwrap();
    chain(tmp.path(), MAX_SYMLINKS);
    let dir = open_dir(tmp.path());
    let at = place_following(dir.as_fd(), b"l0", true).unwrap();
    assert_eq!(at.name().to_bytes(), b"target");
    for strategy in [Strategy::Walk, Strategy::Auto] {
        open_beneath(
            dir.as_fd(),
            b"l0",
            OFlags::RDONLY,
            Mode::empty(),
            true,
            strategy,
        )
        .unwrap();
    }
}

#[test]
fn one_link_more_is_a_loop_everywhere() {
    let tmp = tempfile::tempdir().unwrap();
    fs::write(tmp.path().join("target"), b"x").unwrap();
    chain(tmp.path(), MAX_SYMLINKS + 1);
    let dir = open_dir(tmp.path());
    let e = place_following(dir.as_fd(), b"l0", true).unwrap_err();
    assert_eq!(os_errno(&e), Some(libc::ELOOP));
    for strategy in [Strategy::Walk, Strategy::Auto] {
        let e = open_beneath(
            dir.as_fd(),
            b"l0",
            OFlags::RDONLY,
            Mode::empty(),
            true,
            strategy,
        )
        .unwrap_err();
        assert_eq!(os_errno(&e), Some(libc::ELOOP), "{strategy:?}");
    }
}

#[test]
fn placement_refuses_escapes() {
    let tmp = tempfile::tempdir().unwrap();
    fs::create_dir(tmp.path().join("sub")).unwrap();
    symlink("/etc/passwd", tmp.path().join("abs")).unwrap();
    symlink("../../outside", tmp.path().join("sub/up")).unwrap();
    let dir = open_dir(tmp.path());
    assert!(matches!(
        place(dir.as_fd(), b"/etc/passwd"),
        Err(Error::Escape)
    ));
    assert!(matches!(place(dir.as_fd(), b"../x"), Err(Error::Escape)));
    assert!(matches!(
        place_following(dir.as_fd(), b"abs", true),
        Err(Error::Escape)
    ));
    assert!(matches!(
        place_following(dir.as_fd(), b"sub/up", true),
        Err(Error::Escape)
    ));
    // Not following: the link itself is the entry.
    let at = place_following(dir.as_fd(), b"abs", false).unwrap();
    assert_eq!(at.name().to_bytes(), b"abs");
    assert_eq!(at.parent_path(), b".");
    let at = place(dir.as_fd(), b"sub/new").unwrap();
    assert_eq!(
        (at.parent_path(), at.name().to_bytes()),
        (&b"sub"[..], &b"new"[..])
    );
}

#[test]
fn shapes_rejected_before_any_lookup() {
    assert_eq!(
        os_errno(&check_relative(b"").unwrap_err()),
        Some(libc::ENOENT)
    );
    assert_eq!(
        os_errno(&check_relative(b"a\0b").unwrap_err()),
        Some(libc::EINVAL)
    );
    assert!(matches!(check_relative(b"/a"), Err(Error::Escape)));
    check_relative(b"a/../b").unwrap();
}

/// A mode given with `O_DIRECTORY` (and no `O_CREAT`) is ignored, as `openat(2)` ignores
/// it, rather than handed to `openat2`, which refuses a non-zero mode with `EINVAL`.
#[test]
fn directory_opens_ignore_the_mode() {
    let tmp = tempfile::tempdir().unwrap();
    fs::create_dir(tmp.path().join("sub")).unwrap();
    let dir = open_dir(tmp.path());
    let flags = OFlags::RDONLY | OFlags::DIRECTORY;
    for strategy in [Strategy::Auto, Strategy::Walk] {
        open_beneath(
            dir.as_fd(),
            b"sub",
            flags,
            Mode::from_raw_mode(0o666),
            true,
            strategy,
        )
        .unwrap();
    }
}
