//! Resolution beneath a directory against a real file system: the walk, `openat2` and
//! the placement of entries agree on escapes and on how many symbolic links one lookup
//! may follow.

use std::fs;
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::fs::symlink;
use std::path::Path;

use cloudabi_caps::Error;
use cloudabi_caps::resolve::{
    MAX_SYMLINKS, Strategy, check_relative, open_beneath, openat2_detected, place, place_following,
    place_literal,
};
use rustix::fs::{FileType, Mode, OFlags};

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

/// The environment variable `cargo xtask test` sets for its second run of these tests, in
/// which a seccomp filter makes `openat2` fail with `ENOSYS`.
const WITHOUT_OPENAT2: &str = "CLOUDABI_TEST_WITHOUT_OPENAT2";

/// A file `f`, a directory `d`, links `lf -> f`, `ld -> d`, `dangling -> missing` and the
/// loop `loop1 -> loop2 -> loop1`.
fn tree() -> (tempfile::TempDir, OwnedFd) {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    fs::write(root.join("f"), b"x").unwrap();
    fs::create_dir(root.join("d")).unwrap();
    symlink("f", root.join("lf")).unwrap();
    symlink("d", root.join("ld")).unwrap();
    symlink("missing", root.join("dangling")).unwrap();
    symlink("loop2", root.join("loop1")).unwrap();
    symlink("loop1", root.join("loop2")).unwrap();
    let dir = open_dir(root);
    (tmp, dir)
}

/// The file type of what `path` opens to with `flags`, or the errno.
fn kind_of(
    dir: &OwnedFd,
    path: &[u8],
    flags: OFlags,
    follow: bool,
    strategy: Strategy,
) -> Result<FileType, i32> {
    open_beneath(dir.as_fd(), path, flags, Mode::empty(), follow, strategy)
        .map(|fd| FileType::from_raw_mode(rustix::fs::fstat(&fd).unwrap().st_mode))
        .map_err(|e| os_errno(&e).unwrap())
}

/// With `O_PATH` (what stat-style lookups use) the walk follows a final link when asked
/// and finds link loops, exactly as `openat2` does.
#[test]
fn path_opens_follow_final_links_and_find_loops_on_every_strategy() {
    let (_tmp, dir) = tree();
    let path = OFlags::PATH;
    for strategy in [Strategy::Walk, Strategy::Auto] {
        let k = |p: &[u8], follow| kind_of(&dir, p, path, follow, strategy);
        assert_eq!(k(b"lf", true), Ok(FileType::RegularFile), "{strategy:?}");
        assert_eq!(k(b"lf", false), Ok(FileType::Symlink), "{strategy:?}");
        assert_eq!(k(b"ld", true), Ok(FileType::Directory), "{strategy:?}");
        assert_eq!(k(b"loop1", true), Err(libc::ELOOP), "{strategy:?}");
        assert_eq!(k(b"loop1", false), Ok(FileType::Symlink), "{strategy:?}");
        assert_eq!(k(b"dangling", true), Err(libc::ENOENT), "{strategy:?}");
        assert_eq!(
            k(b"d/../lf", true),
            Ok(FileType::RegularFile),
            "{strategy:?}"
        );
    }
}

/// A trailing slash: the result must be a directory, and a final link is followed even
/// without `follow`, on every strategy and whatever the open flags.
#[test]
fn a_trailing_slash_needs_a_directory_on_every_strategy() {
    let (_tmp, dir) = tree();
    for strategy in [Strategy::Walk, Strategy::Auto] {
        for flags in [OFlags::PATH, OFlags::RDONLY] {
            for follow in [false, true] {
                let k = |p: &[u8]| kind_of(&dir, p, flags, follow, strategy);
                let what = format!("{strategy:?} {flags:?} follow {follow}");
                assert_eq!(k(b"f/"), Err(libc::ENOTDIR), "{what}");
                assert_eq!(k(b"lf/"), Err(libc::ENOTDIR), "{what}");
                assert_eq!(k(b"d/"), Ok(FileType::Directory), "{what}");
                assert_eq!(k(b"ld/"), Ok(FileType::Directory), "{what}");
                assert_eq!(k(b"ld//"), Ok(FileType::Directory), "{what}");
                assert_eq!(k(b"loop1/"), Err(libc::ELOOP), "{what}");
                assert_eq!(k(b"dangling/"), Err(libc::ENOENT), "{what}");
            }
        }
    }
}

/// Creating under a name with a trailing slash, or a name that ends in `.` or `..`: the
/// walk answers as `openat2` does, `EISDIR` whatever the name is (`openat` alone would
/// refuse `O_CREAT | O_DIRECTORY` with `EINVAL`), and nothing is made.
#[test]
fn creating_under_a_directory_name_is_eisdir_on_every_strategy() {
    let (tmp, dir) = tree();
    let flags = OFlags::RDWR | OFlags::CREATE;
    for strategy in [Strategy::Walk, Strategy::Auto] {
        let k = |p: &[u8]| kind_of(&dir, p, flags, false, strategy);
        let paths = [
            &b"new/"[..],
            b"d/",
            b"ld/",
            b"d/..",
            b"d/.",
            b".",
            b"f/",
            b"lf/",
            b"loop1/",
            b"dangling/",
        ];
        for path in paths {
            assert_eq!(
                k(path),
                Err(libc::EISDIR),
                "{strategy:?} {}",
                String::from_utf8_lossy(path)
            );
        }
        assert!(!tmp.path().join("new").exists(), "{strategy:?}");
        assert_eq!(k(b"new"), Ok(FileType::RegularFile), "{strategy:?}");
        fs::remove_file(tmp.path().join("new")).unwrap();
    }
}

/// Placing an entry with a trailing slash follows a final link to the entry it names and
/// refuses an existing non-directory; without one the name is taken as it is.
#[test]
fn placement_with_a_trailing_slash_needs_a_directory() {
    let (_tmp, dir) = tree();
    let name = |p: &[u8]| -> Result<(Vec<u8>, bool), i32> {
        place(dir.as_fd(), p)
            .map(|at| (at.name().to_bytes().to_vec(), at.must_be_dir()))
            .map_err(|e| os_errno(&e).unwrap())
    };
    assert_eq!(name(b"lf"), Ok((b"lf".to_vec(), false)));
    assert_eq!(name(b"ld"), Ok((b"ld".to_vec(), false)));
    assert_eq!(name(b"f/"), Err(libc::ENOTDIR));
    assert_eq!(name(b"lf/"), Err(libc::ENOTDIR));
    assert_eq!(name(b"ld/"), Ok((b"d".to_vec(), true)));
    assert_eq!(name(b"d//"), Ok((b"d".to_vec(), true)));
    assert_eq!(name(b"loop1/"), Err(libc::ELOOP));
    // A name yet to be made is placed, marked as one that must become a directory.
    assert_eq!(name(b"new/"), Ok((b"new".to_vec(), true)));
    assert_eq!(name(b"dangling/"), Ok((b"missing".to_vec(), true)));
    // Following without a slash does not require a directory.
    let at = place_following(dir.as_fd(), b"lf", true).unwrap();
    assert_eq!((at.name().to_bytes(), at.must_be_dir()), (&b"f"[..], false));
    // The literal placement ignores the slash and follows nothing.
    let at = place_literal(dir.as_fd(), b"lf/").unwrap();
    assert_eq!((at.name().to_bytes(), at.must_be_dir()), (&b"lf"[..], true));
    assert_eq!(at.entry_type().unwrap(), Some(FileType::Symlink));
}

/// In the run without `openat2`, the resolver must have detected it as missing, so that
/// the tests above exercised the walk through [`Strategy::Auto`] as well.
#[test]
fn detection_matches_the_environment() {
    let (_tmp, dir) = tree();
    kind_of(&dir, b"f", OFlags::PATH, true, Strategy::Auto).unwrap();
    let detected = openat2_detected();
    assert!(
        detected.is_some(),
        "a resolution through Auto settles the strategy"
    );
    if std::env::var_os(WITHOUT_OPENAT2).is_some() {
        assert_eq!(
            detected,
            Some(false),
            "{WITHOUT_OPENAT2} is set, but openat2 worked"
        );
    }
}
