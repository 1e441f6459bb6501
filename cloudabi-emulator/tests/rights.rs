//! Limiting descriptor rights: the grant-mode mapping for directories
//! (`grant::GrantMode::directory_rights`), `Process::limit_rights` and
//! `Process::limit_to_grant` against real directories. (With a real guest:
//! `rights_guest.rs`.)

mod syscalls_support;

use cloudabi_caps::rights as presets;
use cloudabi_emulator::grant::{GrantMode, UnknownMode};
use cloudabi_emulator::syscalls::Process;
use cloudabi_types::{Errno, FdFlags, FileType, OFlags, Rights};
use syscalls_support::{fdstat, file_open_with_flags, mptr, open, sys};

/// Rights that change a directory's entries.
const DIR_CHANGE: Rights = Rights::FILE_CREATE_DIRECTORY
    .union(Rights::FILE_CREATE_FILE)
    .union(Rights::FILE_LINK_SOURCE)
    .union(Rights::FILE_LINK_TARGET)
    .union(Rights::FILE_RENAME_SOURCE)
    .union(Rights::FILE_RENAME_TARGET)
    .union(Rights::FILE_SYMLINK)
    .union(Rights::FILE_UNLINK)
    .union(Rights::FILE_STAT_PUT_TIMES);

#[test]
fn modes_parse_and_print() {
    for mode in GrantMode::ALL {
        assert_eq!(mode.as_str().parse::<GrantMode>(), Ok(mode));
        assert_eq!(mode.to_string(), mode.as_str());
    }
    assert_eq!("rw".parse::<GrantMode>(), Err(UnknownMode("rw".to_owned())));
    assert_eq!("".parse::<GrantMode>(), Err(UnknownMode(String::new())));
}

#[test]
fn read_mode_reads_and_changes_nothing() {
    let (base, inheriting) = GrantMode::Read.directory_rights();
    assert_eq!(base, presets::DIRECTORY_READ_ONLY);
    assert!(inheriting.contains(presets::DIRECTORY_READ_ONLY | presets::FILE_READ_ONLY));
    assert!(inheriting.contains(Rights::PROC_EXEC | Rights::MEM_MAP_EXEC));
    assert!(!base.intersects(DIR_CHANGE | presets::FILE_MODIFY));
    assert!(!inheriting.intersects(DIR_CHANGE | presets::FILE_MODIFY));
}

#[test]
fn write_mode_changes_but_neither_lists_nor_reads() {
    let (base, inheriting) = GrantMode::Write.directory_rights();
    assert!(base.contains(DIR_CHANGE | Rights::FILE_OPEN));
    assert!(!base.intersects(Rights::FILE_READDIR | Rights::FILE_READLINK));
    assert!(inheriting.contains(DIR_CHANGE | presets::FILE_MODIFY | presets::FILE_POSITIONING));
    assert!(!inheriting.intersects(presets::FILE_INSPECT | Rights::FILE_READDIR));
}

#[test]
fn append_mode_creates_and_appends_only() {
    let (base, inheriting) = GrantMode::Append.directory_rights();
    assert!(
        base.contains(Rights::FILE_OPEN | Rights::FILE_CREATE_FILE | Rights::FILE_CREATE_DIRECTORY)
    );
    let forbidden = Rights::FILE_UNLINK
        | Rights::FILE_RENAME_SOURCE
        | Rights::FILE_RENAME_TARGET
        | Rights::FILE_LINK_SOURCE
        | Rights::FILE_LINK_TARGET
        | Rights::FILE_SYMLINK
        | Rights::FILE_READDIR;
    assert!(!base.intersects(forbidden));
    assert!(inheriting.contains(presets::FILE_APPEND_ONLY));
    assert!(!inheriting.intersects(forbidden | presets::FILE_POSITIONING | presets::FILE_INSPECT));
}

#[test]
fn readwrite_mode_changes_nothing() {
    assert_eq!(
        GrantMode::ReadWrite.directory_rights(),
        (Rights::all(), Rights::all())
    );
}

/// A temporary directory holding `hello.txt` and `sub/`, granted as descriptor 0, and
/// `/dev/null` opened for reading as descriptor 1.
fn tree() -> (tempfile::TempDir, Process) {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("hello.txt"), "hello\n").unwrap();
    std::fs::create_dir(dir.path().join("sub")).unwrap();
    let fds = vec![
        open(dir.path(), false),
        open(std::path::Path::new("/dev/null"), false),
    ];
    (dir, Process::new(fds).unwrap())
}

fn path_call(p: &Process, name: &str, dir: u32, path: &str, last: u64) -> Errno {
    sys(
        p,
        name,
        &[dir.into(), path.as_ptr() as u64, path.len() as u64, last],
    )
}

fn readdir(p: &Process, dir: u32) -> Errno {
    let mut buf = [0u8; 512];
    let mut used = 0u64;
    sys(
        p,
        "file_readdir",
        &[
            dir.into(),
            mptr(&mut buf),
            buf.len() as u64,
            0,
            mptr(&mut used),
        ],
    )
}

#[test]
fn read_grant_refuses_every_change_with_enotcapable() {
    let (dir, p) = tree();
    let before = fdstat(&p, 0).unwrap();
    p.limit_to_grant(0, GrantMode::Read).unwrap();
    let st = fdstat(&p, 0).unwrap();
    assert_eq!(st.fs_filetype, FileType::DIRECTORY);
    assert_eq!(
        (st.fs_rights_base, st.fs_rights_inheriting),
        (
            before.fs_rights_base & presets::DIRECTORY_READ_ONLY,
            before.fs_rights_inheriting & GrantMode::Read.directory_rights().1
        )
    );
    assert!(!st.fs_rights_base.intersects(DIR_CHANGE));
    assert!(!st.fs_rights_inheriting.intersects(presets::FILE_MODIFY));

    // Reading still works.
    assert_eq!(readdir(&p, 0), Errno::SUCCESS);
    let fd = syscalls_support::open_read(&p, 0, "hello.txt").unwrap();
    assert_eq!(syscalls_support::read(&p, fd, 16).unwrap(), b"hello\n");
    let sub = file_open_with_flags(
        &p,
        0,
        "sub",
        OFlags::DIRECTORY,
        presets::DIRECTORY_READ_ONLY,
        presets::FILE_READ_ONLY,
        FdFlags::empty(),
    )
    .unwrap();
    assert_eq!(
        fdstat(&p, sub).unwrap().fs_rights_base,
        presets::DIRECTORY_READ_ONLY
    );

    // Every change fails in the emulator, with ENOTCAPABLE.
    let none = FdFlags::empty();
    let write = file_open_with_flags(
        &p,
        0,
        "hello.txt",
        OFlags::empty(),
        Rights::FD_WRITE,
        Rights::empty(),
        FdFlags::APPEND,
    );
    assert_eq!(write, Err(Errno::NOTCAPABLE));
    let create = file_open_with_flags(
        &p,
        0,
        "new.txt",
        OFlags::CREAT,
        Rights::FD_READ,
        Rights::empty(),
        none,
    );
    assert_eq!(create, Err(Errno::NOTCAPABLE));
    let truncate = file_open_with_flags(
        &p,
        0,
        "hello.txt",
        OFlags::TRUNC,
        Rights::FD_READ,
        Rights::empty(),
        none,
    );
    assert_eq!(truncate, Err(Errno::NOTCAPABLE));
    let inherit_write = file_open_with_flags(
        &p,
        0,
        "sub",
        OFlags::DIRECTORY,
        presets::DIRECTORY_READ_ONLY,
        Rights::FD_WRITE,
        none,
    );
    assert_eq!(inherit_write, Err(Errno::NOTCAPABLE));
    let mkdir = path_call(&p, "file_create", 0, "d", FileType::DIRECTORY.0.into());
    assert_eq!(mkdir, Errno::NOTCAPABLE);
    assert_eq!(
        path_call(&p, "file_unlink", 0, "hello.txt", 0),
        Errno::NOTCAPABLE
    );
    // Nothing changed on disk.
    assert_eq!(
        std::fs::read_to_string(dir.path().join("hello.txt")).unwrap(),
        "hello\n"
    );
    let mut names: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    names.sort();
    assert_eq!(names, ["hello.txt", "sub"]);
}

#[test]
fn write_grant_creates_but_does_not_read_or_list() {
    let (dir, p) = tree();
    p.limit_to_grant(0, GrantMode::Write).unwrap();
    assert_eq!(readdir(&p, 0), Errno::NOTCAPABLE);
    assert_eq!(
        syscalls_support::open_read(&p, 0, "hello.txt"),
        Err(Errno::NOTCAPABLE)
    );
    let fd = file_open_with_flags(
        &p,
        0,
        "made.txt",
        OFlags::CREAT | OFlags::TRUNC,
        Rights::FD_WRITE,
        Rights::empty(),
        FdFlags::empty(),
    )
    .unwrap();
    assert_eq!(syscalls_support::write(&p, fd, b"made\n"), Ok(5));
    assert_eq!(
        path_call(&p, "file_unlink", 0, "hello.txt", 0),
        Errno::SUCCESS
    );
    assert_eq!(
        std::fs::read_to_string(dir.path().join("made.txt")).unwrap(),
        "made\n"
    );
    assert!(!dir.path().join("hello.txt").exists());
}

#[test]
fn append_grant_only_creates_and_appends() {
    let (dir, p) = tree();
    p.limit_to_grant(0, GrantMode::Append).unwrap();
    let none = FdFlags::empty();
    // Appending to a new or existing file works.
    let fd = file_open_with_flags(
        &p,
        0,
        "log.txt",
        OFlags::CREAT,
        Rights::FD_WRITE,
        Rights::empty(),
        FdFlags::APPEND,
    )
    .unwrap();
    assert_eq!(syscalls_support::write(&p, fd, b"one\n"), Ok(4));
    let fd = file_open_with_flags(
        &p,
        0,
        "hello.txt",
        OFlags::empty(),
        Rights::FD_WRITE,
        Rights::empty(),
        FdFlags::APPEND,
    )
    .unwrap();
    assert_eq!(syscalls_support::write(&p, fd, b"more\n"), Ok(5));
    assert_eq!(
        path_call(&p, "file_create", 0, "d", FileType::DIRECTORY.0.into()),
        Errno::SUCCESS
    );
    // Writing elsewhere than at the end, truncating, reading, listing and removing do not.
    let seek = file_open_with_flags(
        &p,
        0,
        "hello.txt",
        OFlags::empty(),
        Rights::FD_WRITE,
        Rights::empty(),
        none,
    );
    assert_eq!(seek, Err(Errno::NOTCAPABLE));
    let truncate = file_open_with_flags(
        &p,
        0,
        "hello.txt",
        OFlags::TRUNC,
        Rights::FD_WRITE,
        Rights::empty(),
        FdFlags::APPEND,
    );
    assert_eq!(truncate, Err(Errno::NOTCAPABLE));
    assert_eq!(
        syscalls_support::open_read(&p, 0, "hello.txt"),
        Err(Errno::NOTCAPABLE)
    );
    assert_eq!(readdir(&p, 0), Errno::NOTCAPABLE);
    assert_eq!(
        path_call(&p, "file_unlink", 0, "hello.txt", 0),
        Errno::NOTCAPABLE
    );
    assert_eq!(
        std::fs::read_to_string(dir.path().join("hello.txt")).unwrap(),
        "hello\nmore\n"
    );
    assert_eq!(
        std::fs::read_to_string(dir.path().join("log.txt")).unwrap(),
        "one\n"
    );
}

#[test]
fn readwrite_grant_and_non_directories_keep_their_rights() {
    let (_dir, p) = tree();
    let before = [fdstat(&p, 0).unwrap(), fdstat(&p, 1).unwrap()];
    p.limit_to_grant(0, GrantMode::ReadWrite).unwrap();
    // `/dev/null` is no directory: a grant mode leaves it alone.
    p.limit_to_grant(1, GrantMode::Append).unwrap();
    let after = [fdstat(&p, 0).unwrap(), fdstat(&p, 1).unwrap()];
    for (b, a) in before.iter().zip(&after) {
        assert_eq!(
            (b.fs_rights_base, b.fs_rights_inheriting),
            (a.fs_rights_base, a.fs_rights_inheriting)
        );
    }
    assert_eq!(p.limit_to_grant(2, GrantMode::Read), Err(Errno::BADF));
}

#[test]
fn limit_rights_intersects_and_never_adds() {
    let (_dir, p) = tree();
    let before = fdstat(&p, 1).unwrap();
    assert!(before.fs_rights_base.contains(Rights::FD_READ));
    // Asking for everything changes nothing.
    p.limit_rights(1, Rights::all(), Rights::all()).unwrap();
    assert_eq!(fdstat(&p, 1).unwrap().fs_rights_base, before.fs_rights_base);
    // Limits combine: what is left is in both.
    p.limit_rights(1, Rights::FD_READ | Rights::FILE_STAT_FGET, Rights::all())
        .unwrap();
    p.limit_rights(1, Rights::FILE_STAT_FGET | Rights::FD_WRITE, Rights::all())
        .unwrap();
    let st = fdstat(&p, 1).unwrap();
    assert_eq!(st.fs_rights_base, Rights::FILE_STAT_FGET);
    assert_eq!(st.fs_rights_inheriting, before.fs_rights_inheriting);
    assert_eq!(syscalls_support::read(&p, 1, 4), Err(Errno::NOTCAPABLE));
    // On a directory, the inheriting rights bound what is opened beneath it.
    p.limit_rights(0, Rights::all(), Rights::FD_READ).unwrap();
    assert!(syscalls_support::open_read(&p, 0, "hello.txt").is_ok());
    assert_eq!(
        file_open_with_flags(
            &p,
            0,
            "hello.txt",
            OFlags::empty(),
            Rights::FD_READ | Rights::FD_SEEK,
            Rights::empty(),
            FdFlags::empty()
        ),
        Err(Errno::NOTCAPABLE)
    );
    assert_eq!(
        p.limit_rights(7, Rights::empty(), Rights::empty()),
        Err(Errno::BADF)
    );
}
