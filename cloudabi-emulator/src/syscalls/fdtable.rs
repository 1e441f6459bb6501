//! The guest's descriptor table: guest descriptor numbers mapped to host descriptors, each
//! with CloudABI base and inheriting rights.

use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::sync::atomic::AtomicU16;
use std::sync::{Arc, Mutex, RwLock};

use cloudabi_caps::rights as presets;
use cloudabi_types::{Errno, ExitCode, Fd, FileType, Rights, Signal};

use super::errno;

/// The most guest descriptors one process may hold.
pub(crate) const MAX_FDS: usize = 1 << 16;

/// How a forked child ended, once known.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Termination {
    /// The signal that ended it, or zero.
    pub(crate) signal: Signal,
    /// Its exit status when it exited.
    pub(crate) exitcode: ExitCode,
}

/// A child process behind a process descriptor (a Linux pidfd).
#[derive(Debug)]
pub(crate) struct Child {
    /// The process that forked it: only there does closing the descriptor kill it.
    pub(crate) owner: i32,
    /// Set once the child has been reaped.
    pub(crate) status: Mutex<Option<Termination>>,
}

/// What a descriptor refers to; shared by all guest descriptors duplicated from one
/// another (like a POSIX open file description).
#[derive(Debug)]
pub(crate) struct Object {
    /// The host descriptor.
    pub(crate) fd: OwnedFd,
    /// Its CloudABI type.
    pub(crate) filetype: FileType,
    /// For process descriptors, the child's state.
    pub(crate) child: Option<Child>,
    /// `FdFlags::DSYNC`, `RSYNC` and `SYNC` as requested by the guest. Linux cannot add
    /// these to an open descriptor, so writes through it are followed by `fdatasync` or
    /// `fsync` instead.
    pub(crate) sync: AtomicU16,
}

impl Object {
    /// Wraps a host descriptor of a known CloudABI type.
    pub(crate) fn new(fd: OwnedFd, filetype: FileType) -> Object {
        Object {
            fd,
            filetype,
            child: None,
            sync: AtomicU16::new(0),
        }
    }

    /// Reaps the child if it has ended (without waiting unless `block`), returning how it
    /// ended.
    pub(crate) fn reap(&self, block: bool) -> Result<Option<Termination>, Errno> {
        let Some(child) = &self.child else {
            return Err(Errno::BADF);
        };
        let mut status = child.status.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(done) = *status {
            return Ok(Some(done));
        }
        // SAFETY: an all-zero siginfo_t is a valid value of this plain C struct.
        let mut info: libc::siginfo_t = unsafe { core::mem::zeroed() };
        let flags = libc::WEXITED | if block { 0 } else { libc::WNOHANG };
        loop {
            // SAFETY: waitid on our own pidfd with a valid out pointer.
            let r = unsafe {
                libc::waitid(
                    libc::P_PIDFD,
                    self.fd.as_raw_fd() as libc::id_t,
                    &mut info,
                    flags,
                )
            };
            if r == 0 {
                break;
            }
            let e = errno::last();
            if e != Errno::INTR || crate::lifecycle::exit_requested() {
                return Err(e);
            }
        }
        // SAFETY: waitid succeeded, so the pid field is initialized (zero when nothing
        // changed state under WNOHANG).
        if unsafe { info.si_pid() } == 0 {
            return Ok(None);
        }
        // SAFETY: as above; si_status holds the exit status or signal number.
        let value = unsafe { info.si_status() };
        let done = if info.si_code == libc::CLD_EXITED {
            Termination {
                signal: Signal(0),
                exitcode: value as u32,
            }
        } else {
            Termination {
                signal: super::signal::signal_from_linux(value),
                exitcode: 0,
            }
        };
        *status = Some(done);
        Ok(Some(done))
    }
}

impl Drop for Object {
    fn drop(&mut self) {
        // Closing the last descriptor of a child kills it (and reaps it, so no zombie stays).
        if let Some(child) = &self.child {
            // SAFETY: getpid has no preconditions.
            if child.owner != unsafe { libc::getpid() } {
                return;
            }
            let done = child.status.lock().map(|s| s.is_some()).unwrap_or(true);
            if !done {
                // SAFETY: pidfd_send_signal on our own pidfd with no siginfo.
                unsafe {
                    libc::syscall(
                        libc::SYS_pidfd_send_signal,
                        self.fd.as_raw_fd(),
                        libc::SIGKILL,
                        core::ptr::null::<libc::siginfo_t>(),
                        0,
                    );
                }
                let _ = self.reap(true);
            }
        }
    }
}

/// One guest descriptor: the object and the rights this number carries.
#[derive(Clone, Debug)]
pub(crate) struct Entry {
    /// What it refers to.
    pub(crate) object: Arc<Object>,
    /// Rights on this descriptor.
    pub(crate) base: Rights,
    /// Rights descriptors derived from it may get.
    pub(crate) inheriting: Rights,
}

impl Entry {
    /// Fails with `ENOTCAPABLE` unless the descriptor holds all of `base`.
    pub(crate) fn require(&self, base: Rights) -> Result<(), Errno> {
        if self.base.contains(base) {
            Ok(())
        } else {
            Err(Errno::NOTCAPABLE)
        }
    }

    /// The host descriptor.
    pub(crate) fn host(&self) -> BorrowedFd<'_> {
        self.object.fd.as_fd()
    }

    /// The raw host descriptor number.
    pub(crate) fn raw(&self) -> i32 {
        self.object.fd.as_raw_fd()
    }
}

/// The table itself.
#[derive(Debug, Default)]
pub(crate) struct FdTable {
    slots: RwLock<Vec<Option<Entry>>>,
}

impl FdTable {
    fn read(&self) -> std::sync::RwLockReadGuard<'_, Vec<Option<Entry>>> {
        self.slots.read().unwrap_or_else(|e| e.into_inner())
    }

    pub(crate) fn write(&self) -> std::sync::RwLockWriteGuard<'_, Vec<Option<Entry>>> {
        self.slots.write().unwrap_or_else(|e| e.into_inner())
    }

    /// Replaces the whole table (descriptor `i` becomes `entries[i]`).
    pub(crate) fn reset(&self, entries: Vec<Entry>) {
        let old = core::mem::replace(&mut *self.write(), entries.into_iter().map(Some).collect());
        drop(old);
    }

    /// Looks a descriptor up.
    pub(crate) fn get(&self, fd: u64) -> Result<Entry, Errno> {
        let fd = usize::try_from(fd).map_err(|_| Errno::BADF)?;
        self.read()
            .get(fd)
            .and_then(Clone::clone)
            .ok_or(Errno::BADF)
    }

    /// Looks a descriptor up and checks that it holds `base`.
    pub(crate) fn get_with(&self, fd: u64, base: Rights) -> Result<Entry, Errno> {
        let entry = self.get(fd)?;
        entry.require(base)?;
        Ok(entry)
    }

    /// Adds a descriptor at the lowest free number.
    pub(crate) fn insert(&self, entry: Entry) -> Result<Fd, Errno> {
        let mut slots = self.write();
        Self::insert_locked(&mut slots, entry)
    }

    /// Adds a descriptor with the table already locked.
    pub(crate) fn insert_locked(slots: &mut Vec<Option<Entry>>, entry: Entry) -> Result<Fd, Errno> {
        if let Some(i) = slots.iter().position(Option::is_none) {
            slots[i] = Some(entry);
            return Ok(Fd(i as u32));
        }
        if slots.len() >= MAX_FDS {
            return Err(Errno::MFILE);
        }
        slots.push(Some(entry));
        Ok(Fd((slots.len() - 1) as u32))
    }

    /// Adds several descriptors at once: either all or (on error) none.
    pub(crate) fn insert_all(&self, entries: Vec<Entry>) -> Result<Vec<Fd>, Errno> {
        let mut slots = self.write();
        let mut out = Vec::with_capacity(entries.len());
        for entry in entries {
            match Self::insert_locked(&mut slots, entry) {
                Ok(fd) => out.push(fd),
                Err(e) => {
                    for fd in out {
                        slots[fd.0 as usize] = None;
                    }
                    return Err(e);
                }
            }
        }
        Ok(out)
    }

    /// Removes a descriptor, returning what it was.
    pub(crate) fn remove(&self, fd: u64) -> Result<Entry, Errno> {
        let fd = usize::try_from(fd).map_err(|_| Errno::BADF)?;
        let mut slots = self.write();
        let entry = slots
            .get_mut(fd)
            .and_then(Option::take)
            .ok_or(Errno::BADF)?;
        while matches!(slots.last(), Some(None)) {
            slots.pop();
        }
        Ok(entry)
    }

    /// Makes `to` (which must be open) a copy of `from`.
    pub(crate) fn replace(&self, from: u64, to: u64) -> Result<(), Errno> {
        let from = usize::try_from(from).map_err(|_| Errno::BADF)?;
        let to = usize::try_from(to).map_err(|_| Errno::BADF)?;
        let mut slots = self.write();
        let entry = slots.get(from).and_then(Clone::clone).ok_or(Errno::BADF)?;
        let slot = slots
            .get_mut(to)
            .filter(|s| s.is_some())
            .ok_or(Errno::BADF)?;
        let old = slot.replace(entry);
        drop(slots);
        drop(old);
        Ok(())
    }

    /// Lowers the rights of `fd` to the given sets (which must not add any).
    pub(crate) fn restrict(&self, fd: u64, base: Rights, inheriting: Rights) -> Result<(), Errno> {
        let fd = usize::try_from(fd).map_err(|_| Errno::BADF)?;
        let mut slots = self.write();
        let entry = slots
            .get_mut(fd)
            .and_then(Option::as_mut)
            .ok_or(Errno::BADF)?;
        if !entry.base.contains(base) || !entry.inheriting.contains(inheriting) {
            return Err(Errno::NOTCAPABLE);
        }
        entry.base = base;
        entry.inheriting = inheriting;
        Ok(())
    }

    /// Intersects the rights of `fd` with `base` and `inheriting` (never adding any); when
    /// `directories_only`, descriptors of other types are left as they are.
    pub(crate) fn limit(
        &self,
        fd: u64,
        base: Rights,
        inheriting: Rights,
        directories_only: bool,
    ) -> Result<(), Errno> {
        let fd = usize::try_from(fd).map_err(|_| Errno::BADF)?;
        let mut slots = self.write();
        let entry = slots
            .get_mut(fd)
            .and_then(Option::as_mut)
            .ok_or(Errno::BADF)?;
        if directories_only && entry.object.filetype != FileType::DIRECTORY {
            return Ok(());
        }
        entry.base &= base;
        entry.inheriting &= inheriting;
        Ok(())
    }
}

/// Works out the CloudABI type of a host descriptor and the most rights it can carry
/// given its type and open mode (`cloudabi_caps::rights`): `(type, base, inheriting)`.
pub(crate) fn classify(fd: BorrowedFd<'_>) -> Result<(FileType, Rights, Rights), Errno> {
    // SAFETY: an all-zero `struct stat` is a valid value; fstat fills it on success.
    let mut st: libc::stat = unsafe { core::mem::zeroed() };
    // SAFETY: valid descriptor and out pointer.
    if unsafe { libc::fstat(fd.as_raw_fd(), &mut st) } != 0 {
        return Err(errno::last());
    }
    // SAFETY: F_GETFL takes no argument.
    let flags = unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_GETFL) };
    if flags < 0 {
        return Err(errno::last());
    }
    let (filetype, base, inheriting) = match st.st_mode & libc::S_IFMT {
        libc::S_IFDIR => (
            FileType::DIRECTORY,
            presets::DIRECTORY,
            presets::DIRECTORY_INHERITING,
        ),
        libc::S_IFREG => {
            if is_memfd(fd, &st) {
                (
                    FileType::SHARED_MEMORY,
                    presets::SHARED_MEMORY,
                    Rights::empty(),
                )
            } else {
                (
                    FileType::REGULAR_FILE,
                    presets::REGULAR_FILE,
                    Rights::empty(),
                )
            }
        }
        libc::S_IFSOCK => {
            let mut ty: libc::c_int = 0;
            let mut len = core::mem::size_of::<libc::c_int>() as libc::socklen_t;
            // SAFETY: SO_TYPE writes one int into `ty`, whose size `len` holds.
            let r = unsafe {
                libc::getsockopt(
                    fd.as_raw_fd(),
                    libc::SOL_SOCKET,
                    libc::SO_TYPE,
                    (&mut ty as *mut libc::c_int).cast(),
                    &mut len,
                )
            };
            let filetype = if r == 0 && ty == libc::SOCK_DGRAM {
                FileType::SOCKET_DGRAM
            } else {
                FileType::SOCKET_STREAM
            };
            (filetype, presets::SOCKET, Rights::all())
        }
        // CloudABI has no pipes; they behave like one direction of a stream socket.
        libc::S_IFIFO => (FileType::SOCKET_STREAM, presets::STREAM, Rights::empty()),
        libc::S_IFCHR => (FileType::CHARACTER_DEVICE, presets::STREAM, Rights::empty()),
        libc::S_IFBLK => (FileType::BLOCK_DEVICE, presets::STREAM, Rights::empty()),
        _ => (FileType::UNKNOWN, Rights::FILE_STAT_FGET, Rights::empty()),
    };
    let base = if filetype == FileType::DIRECTORY {
        base
    } else {
        base & presets::from_open_flags(flags)
    };
    Ok((filetype, base, inheriting))
}

/// Whether `fd` (a regular file with status `st`) is a memfd, an anonymous shared memory
/// object: it has no name in any directory and supports seals.
fn is_memfd(fd: BorrowedFd<'_>, st: &libc::stat) -> bool {
    // SAFETY: F_GET_SEALS takes no argument; it fails on files that cannot be sealed.
    st.st_nlink == 0 && unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_GET_SEALS) } >= 0
}

/// Builds a table entry for a host descriptor with the most rights its type allows.
pub(crate) fn entry_for(fd: OwnedFd) -> Result<Entry, Errno> {
    let (filetype, base, inheriting) = classify(fd.as_fd())?;
    Ok(Entry {
        object: Arc::new(Object::new(fd, filetype)),
        base,
        inheriting,
    })
}
