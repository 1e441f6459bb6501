//! The new mount namespace: private propagation, a detached mount for each granted file or
//! directory, and the empty, read-only tmpfs root the program sees (with the program file
//! at `/program` in runner mode).

use std::ffi::{CStr, c_char, c_int, c_long, c_uint};
use std::os::fd::RawFd;

use super::plan::{ExposePlan, GrantMount};
use super::raw::{fail, fail_with, set_errno, write_decimal, write_file};
use super::stage::Stage;

/// `AT_RECURSIVE`.
const AT_RECURSIVE: c_uint = 0x8000;
/// `OPEN_TREE_CLONE`: a detached copy of the mount at the path.
const OPEN_TREE_CLONE: c_uint = 1;
/// `MOVE_MOUNT_F_EMPTY_PATH`: the source of `move_mount` is the descriptor itself.
const MOVE_MOUNT_F_EMPTY_PATH: c_uint = 4;
/// `MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV | MOUNT_ATTR_NOEXEC`.
const MOUNT_ATTR_LOCKED_DOWN: u64 = 0x1 | 0x2 | 0x4 | 0x8;

/// `struct mount_attr` of `mount_setattr(2)`.
#[repr(C)]
struct MountAttr {
    attr_set: u64,
    attr_clr: u64,
    propagation: u64,
    userns_fd: u64,
}

/// A detached copy of the mount at `source` (recursive: with the mounts beneath it), with
/// `attrs` set on every mount of the copy, after checking that `source` is still the file
/// `dev`/`ino`. Returns the copy's `O_PATH` descriptor (close-on-exec), or -1 with errno set.
///
/// # Safety
/// Child side only (async-signal-safe system calls on the arguments and locals).
unsafe fn clone_mount(source: &CStr, dev: u64, ino: u64, attrs: u64, recursive: bool) -> c_int {
    let recurse = if recursive { AT_RECURSIVE } else { 0 };
    // SAFETY: `source` is NUL-terminated, `st` and `attr` are locals; the descriptor is
    // closed again on every failure path.
    unsafe {
        let tree = libc::syscall(
            libc::SYS_open_tree,
            libc::AT_FDCWD as c_long,
            source.as_ptr(),
            (OPEN_TREE_CLONE | libc::O_CLOEXEC as c_uint | recurse) as c_long,
        ) as c_int;
        if tree < 0 {
            return -1;
        }
        let mut st: libc::stat = std::mem::zeroed();
        let attr = MountAttr {
            attr_set: attrs,
            attr_clr: 0,
            propagation: 0,
            userns_fd: 0,
        };
        if libc::fstat(tree, &mut st) != 0 {
            libc::close(tree);
            return -1;
        }
        if st.st_dev != dev || st.st_ino != ino {
            libc::close(tree);
            set_errno(libc::ESTALE);
            return -1;
        }
        if libc::syscall(
            libc::SYS_mount_setattr,
            tree as c_long,
            c"".as_ptr(),
            (libc::AT_EMPTY_PATH as c_uint | recurse) as c_long,
            &attr as *const MountAttr,
            std::mem::size_of::<MountAttr>(),
        ) != 0
        {
            libc::close(tree);
            return -1;
        }
        tree
    }
}

/// Makes every mount of the child's new mount namespace private (`mount --make-rprivate /`),
/// so that nothing done below reaches the launcher's namespace.
///
/// # Safety
/// Only in the child after `clone` with `CLONE_NEWNS`; `err_fd` is the error pipe.
pub(super) unsafe fn make_private(err_fd: RawFd) {
    let null = std::ptr::null::<c_char>();
    // SAFETY: `mount` with NULL source, type and data and a literal target; async-signal-safe.
    unsafe {
        if libc::mount(
            null,
            c"/".as_ptr(),
            null,
            libc::MS_REC | libc::MS_PRIVATE,
            std::ptr::null(),
        ) != 0
        {
            fail(err_fd, Stage::MountPrivate);
        }
    }
}

/// Sets `vm.memfd_noexec` to 2 in the PID namespace the child leads. Writing it needs the
/// host's `/proc`, so this runs before the root is replaced.
///
/// # Safety
/// Only in the child after `clone` with `CLONE_NEWPID`; `err_fd` is the error pipe.
pub(super) unsafe fn refuse_executable_memfds(err_fd: RawFd) {
    // SAFETY: literal path and contents; child side as the caller guarantees.
    unsafe {
        if !write_file(c"/proc/sys/vm/memfd_noexec", b"2") {
            fail(err_fd, Stage::MemfdNoexec);
        }
    }
}

/// Replaces the launcher's descriptor of every granted file and directory by the same one
/// reopened (with the launcher's flags) through a detached copy of its mount: the new
/// descriptor goes to `moves[grant.target].0`. Runs while the host paths still resolve and
/// `/proc` is there.
///
/// # Safety
/// Only in the child after `clone` with `CLONE_NEWNS`; the grants' `proc_path` buffers are
/// the parent's (`/proc/self/fd/` and 21 NUL bytes), `moves` has an entry for every target,
/// and `err_fd` is the error pipe.
pub(super) unsafe fn reopen_grants(
    grants: &mut [GrantMount],
    moves: &mut [(RawFd, RawFd)],
    err_fd: RawFd,
) {
    for g in grants.iter_mut() {
        // SAFETY: child side; `g.source` is NUL-terminated and `g.proc_path` ends with 21
        // NUL bytes, of which the first 20 take the digits and the last stays NUL, so the
        // path passed to `open` is NUL-terminated; `st` is a local.
        unsafe {
            let tree = clone_mount(&g.source, g.dev, g.ino, g.attrs, true);
            if tree < 0 {
                fail(err_fd, Stage::GrantMount);
            }
            let digits = g.proc_path.len() - 21;
            write_decimal(g.proc_path.as_mut_ptr().add(digits), 20, tree as u64);
            let fd = libc::open(g.proc_path.as_ptr().cast(), g.flags | libc::O_CLOEXEC);
            let mut st: libc::stat = std::mem::zeroed();
            if fd < 0 || libc::fstat(fd, &mut st) != 0 {
                fail(err_fd, Stage::GrantMount);
            }
            if st.st_dev != g.dev || st.st_ino != g.ino {
                set_errno(libc::ESTALE);
                fail(err_fd, Stage::GrantMount);
            }
            libc::close(tree);
            moves[g.target as usize].0 = fd;
        }
    }
}

/// Mounts the empty tmpfs on `mountpoint` (with the program file at `/program` if `expose`
/// is given), makes it the root with `pivot_root`, detaches the old root and remounts the
/// new one read-only.
///
/// # Safety
/// Only in the child after `clone` with `CLONE_NEWNS`, after [`make_private`]; `mountpoint`
/// and the paths of `expose` are the parent's NUL-terminated strings; `err_fd` is the error
/// pipe.
pub(super) unsafe fn enter_empty_root(
    mountpoint: &CStr,
    expose: Option<&ExposePlan>,
    err_fd: RawFd,
) {
    let null = std::ptr::null::<c_char>();
    // SAFETY: async-signal-safe system calls on NUL-terminated literals, on the caller's
    // strings and on a descriptor opened here; every failure ends the child.
    unsafe {
        // Runner mode: take a detached, read-only copy of the program file's mount now,
        // while its path still resolves (the empty root may be mounted over it).
        let mut tree: c_int = -1;
        if let Some(e) = expose {
            tree = clone_mount(&e.source, e.dev, e.ino, MOUNT_ATTR_LOCKED_DOWN, false);
            if tree < 0 {
                fail(err_fd, Stage::ExposeProgram);
            }
        }
        if libc::mount(
            c"cloudabi-root".as_ptr(),
            mountpoint.as_ptr(),
            c"tmpfs".as_ptr(),
            libc::MS_NOSUID | libc::MS_NODEV | libc::MS_NOEXEC,
            c"mode=0555,size=4k,nr_inodes=2".as_ptr().cast(),
        ) != 0
        {
            fail(err_fd, Stage::MountEmptyRoot);
        }
        if let Some(e) = expose {
            let f = libc::open(
                e.target.as_ptr(),
                libc::O_CREAT | libc::O_EXCL | libc::O_WRONLY | libc::O_CLOEXEC,
                0o444 as libc::mode_t,
            );
            if f < 0 {
                fail(err_fd, Stage::ExposeProgram);
            }
            libc::close(f);
            if libc::syscall(
                libc::SYS_move_mount,
                tree as c_long,
                c"".as_ptr(),
                libc::AT_FDCWD as c_long,
                e.target.as_ptr(),
                MOVE_MOUNT_F_EMPTY_PATH as c_long,
            ) != 0
            {
                fail(err_fd, Stage::ExposeProgram);
            }
            libc::close(tree);
        }
        // rustix's `chdir` and `pivot_root` are bare system calls; a `&CStr` path is passed
        // as it is, without a copy.
        if let Err(e) = rustix::process::chdir(mountpoint)
            .and_then(|()| rustix::process::pivot_root(c".", c"."))
        {
            fail_with(err_fd, Stage::PivotRoot, e);
        }
        // The old root is now stacked on top of the new one: detach it.
        if libc::umount2(c".".as_ptr(), libc::MNT_DETACH) != 0 || libc::chdir(c"/".as_ptr()) != 0 {
            fail(err_fd, Stage::DetachOldRoot);
        }
        if libc::mount(
            null,
            c"/".as_ptr(),
            null,
            libc::MS_REMOUNT
                | libc::MS_BIND
                | libc::MS_RDONLY
                | libc::MS_NOSUID
                | libc::MS_NODEV
                | libc::MS_NOEXEC,
            std::ptr::null(),
        ) != 0
        {
            fail(err_fd, Stage::RemountRootReadOnly);
        }
    }
}
