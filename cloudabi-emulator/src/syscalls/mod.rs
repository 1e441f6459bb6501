//! The CloudABI system calls, implemented on Linux.
//!
//! Every `cloudabi_sys_*` entry point of the emulator's vDSO ends up in [`dispatch`] with
//! the call's C arguments and its number (the index in [`cloudabi_types::SYSCALLS`]).
//! `dispatch` finds the process state installed by [`Process::install`], decodes the
//! registers into the typed arguments the specification declares (`generated.rs`, written
//! by `cargo xtask gen`: the `Syscalls` trait and its decoder) and runs the handler, which
//! returns a CloudABI [`Errno`].
//!
//! The guest runs in the emulator's own address space, so guest pointers are host
//! pointers; handlers only touch guest memory through the checked helpers in `mem`.
//! Descriptor numbers the guest sees index a table of host descriptors, each with
//! CloudABI base and inheriting rights ([`cloudabi_types::Rights`]); an operation the
//! rights do not allow fails with `ENOTCAPABLE`, and paths are resolved strictly beneath
//! directory descriptors (by `cloudabi_caps::resolve`), so absolute paths and `..` escapes
//! fail with `ENOTCAPABLE` too. The conformance table is in `docs/syscalls.md`.
//!
//! A [`Process`] can also be used directly, without installing it, through
//! [`Process::call`]:
//!
//! ```
//! use cloudabi_emulator::syscalls::Process;
//! use cloudabi_types::{Errno, SyscallNumber};
//!
//! let process = Process::new(Vec::new()).unwrap();
//! let mut now = 0u64;
//! let err = process.call(
//!     SyscallNumber::CLOCK_TIME_GET,
//!     [1, 0, &mut now as *mut u64 as u64, 0, 0, 0, 0],
//! );
//! assert_eq!(err, Errno::SUCCESS);
//! assert!(now > 0);
//! // Descriptor 0 does not exist in an empty table.
//! let err = process.call(SyscallNumber::FD_CLOSE, [0; 7]);
//! assert_eq!(err, Errno::BADF);
//! ```

use cloudabi_types::{
    Advice, ClockId, Condvar, DirCookie, Errno, Event, ExitCode, Fd, FdStat, FdsFlags, FileDelta,
    FileSize, FileStat, FileType, FsFlags, Lock, Lookup, MFlags, MProt, MsFlags, NThreads, OFlags,
    Scope, SdFlags, Signal, SyscallNumber, Tid, Timestamp, UlFlags, Whence, abi64,
};

use generated::Syscalls;
use mem::{GuestPtr, GuestSlice};

#[allow(unsafe_code)]
mod clock;
mod condvars;
mod errno;
#[allow(unsafe_code)]
mod fd;
#[allow(unsafe_code)]
mod fdtable;
#[allow(unsafe_code)]
mod file;
mod generated;
mod host;
#[allow(unsafe_code)]
mod mem;
#[allow(unsafe_code)]
mod memory;
#[allow(unsafe_code)]
mod poll;
#[allow(unsafe_code)]
mod proc;
mod process;
mod signal;
#[allow(unsafe_code)]
mod sock;
#[allow(unsafe_code)]
mod sync;

pub use host::{ExecError, Host};
pub(crate) use process::wake_sleepers;
pub use process::{Process, release_retired_descriptors};

/// Forgets the old program's condition variable waiters and unmaps the memory it
/// mapped with `mem_map`; `proc_exec` calls this once the old program's threads are gone
/// and the new program is loaded.
pub(crate) fn release_old_program() {
    if let Some(process) = process::PROCESS.get() {
        process.condvars.clear();
    }
    memory::release_guest_mappings();
}

impl Process {
    /// Runs system call `number` with its C arguments (see [`dispatch`]) against this
    /// process and returns the errno.
    pub fn call(&self, number: SyscallNumber, args: [u64; 7]) -> Errno {
        match generated::call(self, number, args) {
            Ok(()) => Errno::SUCCESS,
            Err(e) => e,
        }
    }
}

/// The emulator's system calls: each method hands its typed arguments to the handler of
/// its family.
impl Syscalls for Process {
    fn clock_res_get(
        &self,
        clock_id: ClockId,
        resolution: GuestPtr<Timestamp>,
    ) -> Result<(), Errno> {
        clock::res_get(clock_id, resolution)
    }

    fn clock_time_get(
        &self,
        clock_id: ClockId,
        _precision: Timestamp,
        time: GuestPtr<Timestamp>,
    ) -> Result<(), Errno> {
        clock::time_get(clock_id, time)
    }

    fn condvar_signal(
        &self,
        condvar: GuestPtr<Condvar>,
        scope: Scope,
        nwaiters: NThreads,
    ) -> Result<(), Errno> {
        sync::condvar_signal(self, condvar, scope, nwaiters)
    }

    fn fd_close(&self, fd: Fd) -> Result<(), Errno> {
        fd::close(self, fd)
    }

    fn fd_create1(&self, r#type: FileType, fd: GuestPtr<Fd>) -> Result<(), Errno> {
        fd::create1(self, r#type, fd)
    }

    fn fd_create2(
        &self,
        r#type: FileType,
        fd1: GuestPtr<Fd>,
        fd2: GuestPtr<Fd>,
    ) -> Result<(), Errno> {
        fd::create2(self, r#type, fd1, fd2)
    }

    fn fd_datasync(&self, fd: Fd) -> Result<(), Errno> {
        fd::datasync(self, fd)
    }

    fn fd_dup(&self, from: Fd, fd: GuestPtr<Fd>) -> Result<(), Errno> {
        fd::dup(self, from, fd)
    }

    fn fd_pread(
        &self,
        fd: Fd,
        iovs: GuestSlice<abi64::Iovec>,
        offset: FileSize,
        nread: GuestPtr<u64>,
    ) -> Result<(), Errno> {
        fd::pread(self, fd, iovs, offset, nread)
    }

    fn fd_pwrite(
        &self,
        fd: Fd,
        iovs: GuestSlice<abi64::Ciovec>,
        offset: FileSize,
        nwritten: GuestPtr<u64>,
    ) -> Result<(), Errno> {
        fd::pwrite(self, fd, iovs, offset, nwritten)
    }

    fn fd_read(
        &self,
        fd: Fd,
        iovs: GuestSlice<abi64::Iovec>,
        nread: GuestPtr<u64>,
    ) -> Result<(), Errno> {
        fd::read(self, fd, iovs, nread)
    }

    fn fd_replace(&self, from: Fd, to: Fd) -> Result<(), Errno> {
        fd::replace(self, from, to)
    }

    fn fd_seek(
        &self,
        fd: Fd,
        offset: FileDelta,
        whence: Whence,
        newoffset: GuestPtr<FileSize>,
    ) -> Result<(), Errno> {
        fd::seek(self, fd, offset, whence, newoffset)
    }

    fn fd_stat_get(&self, fd: Fd, buf: GuestPtr<FdStat>) -> Result<(), Errno> {
        fd::stat_get(self, fd, buf)
    }

    fn fd_stat_put(&self, fd: Fd, buf: GuestPtr<FdStat>, flags: FdsFlags) -> Result<(), Errno> {
        fd::stat_put(self, fd, buf, flags)
    }

    fn fd_sync(&self, fd: Fd) -> Result<(), Errno> {
        fd::sync(self, fd)
    }

    fn fd_write(
        &self,
        fd: Fd,
        iovs: GuestSlice<abi64::Ciovec>,
        nwritten: GuestPtr<u64>,
    ) -> Result<(), Errno> {
        fd::write(self, fd, iovs, nwritten)
    }

    fn file_advise(
        &self,
        fd: Fd,
        offset: FileSize,
        len: FileSize,
        advice: Advice,
    ) -> Result<(), Errno> {
        file::advise(self, fd, offset, len, advice)
    }

    fn file_allocate(&self, fd: Fd, offset: FileSize, len: FileSize) -> Result<(), Errno> {
        file::allocate(self, fd, offset, len)
    }

    fn file_create(&self, fd: Fd, path: GuestSlice<u8>, r#type: FileType) -> Result<(), Errno> {
        file::create(self, fd, path, r#type)
    }

    fn file_link(
        &self,
        fd1: Lookup,
        path1: GuestSlice<u8>,
        fd2: Fd,
        path2: GuestSlice<u8>,
    ) -> Result<(), Errno> {
        file::link(self, fd1, path1, fd2, path2)
    }

    fn file_open(
        &self,
        dirfd: Lookup,
        path: GuestSlice<u8>,
        oflags: OFlags,
        fds: GuestPtr<FdStat>,
        fd: GuestPtr<Fd>,
    ) -> Result<(), Errno> {
        file::open(self, dirfd, path, oflags, fds, fd)
    }

    fn file_readdir(
        &self,
        fd: Fd,
        buf: GuestSlice<u8>,
        cookie: DirCookie,
        bufused: GuestPtr<u64>,
    ) -> Result<(), Errno> {
        file::readdir(self, fd, buf, cookie, bufused)
    }

    fn file_readlink(
        &self,
        fd: Fd,
        path: GuestSlice<u8>,
        buf: GuestSlice<u8>,
        bufused: GuestPtr<u64>,
    ) -> Result<(), Errno> {
        file::readlink(self, fd, path, buf, bufused)
    }

    fn file_rename(
        &self,
        fd1: Fd,
        path1: GuestSlice<u8>,
        fd2: Fd,
        path2: GuestSlice<u8>,
    ) -> Result<(), Errno> {
        file::rename(self, fd1, path1, fd2, path2)
    }

    fn file_stat_fget(&self, fd: Fd, buf: GuestPtr<FileStat>) -> Result<(), Errno> {
        file::stat_fget(self, fd, buf)
    }

    fn file_stat_fput(&self, fd: Fd, buf: GuestPtr<FileStat>, flags: FsFlags) -> Result<(), Errno> {
        file::stat_fput(self, fd, buf, flags)
    }

    fn file_stat_get(
        &self,
        fd: Lookup,
        path: GuestSlice<u8>,
        buf: GuestPtr<FileStat>,
    ) -> Result<(), Errno> {
        file::stat_get(self, fd, path, buf)
    }

    fn file_stat_put(
        &self,
        fd: Lookup,
        path: GuestSlice<u8>,
        buf: GuestPtr<FileStat>,
        flags: FsFlags,
    ) -> Result<(), Errno> {
        file::stat_put(self, fd, path, buf, flags)
    }

    fn file_symlink(
        &self,
        path1: GuestSlice<u8>,
        fd: Fd,
        path2: GuestSlice<u8>,
    ) -> Result<(), Errno> {
        file::symlink(self, path1, fd, path2)
    }

    fn file_unlink(&self, fd: Fd, path: GuestSlice<u8>, flags: UlFlags) -> Result<(), Errno> {
        file::unlink(self, fd, path, flags)
    }

    fn lock_unlock(&self, lock: GuestPtr<Lock>, scope: Scope) -> Result<(), Errno> {
        sync::lock_unlock(lock, scope)
    }

    fn mem_advise(&self, mapping: GuestSlice<u8>, advice: Advice) -> Result<(), Errno> {
        memory::advise(mapping, advice)
    }

    fn mem_map(
        &self,
        addr: GuestPtr<u8>,
        len: u64,
        prot: MProt,
        flags: MFlags,
        fd: Fd,
        off: FileSize,
        mem: GuestPtr<GuestPtr<u8>>,
    ) -> Result<(), Errno> {
        memory::map(self, addr, len, prot, flags, fd, off, mem)
    }

    fn mem_protect(&self, mapping: GuestSlice<u8>, prot: MProt) -> Result<(), Errno> {
        memory::protect(mapping, prot)
    }

    fn mem_sync(&self, mapping: GuestSlice<u8>, flags: MsFlags) -> Result<(), Errno> {
        memory::sync(mapping, flags)
    }

    fn mem_unmap(&self, mapping: GuestSlice<u8>) -> Result<(), Errno> {
        memory::unmap(mapping)
    }

    fn poll(
        &self,
        r#in: GuestPtr<abi64::Subscription>,
        out: GuestPtr<Event>,
        nsubscriptions: u64,
        nevents: GuestPtr<u64>,
    ) -> Result<(), Errno> {
        poll::poll(self, r#in, out, nsubscriptions, nevents)
    }

    fn proc_exec(&self, fd: Fd, data: GuestSlice<u8>, fds: GuestSlice<Fd>) -> Result<(), Errno> {
        proc::exec(self, fd, data, fds)
    }

    fn proc_exit(&self, rval: ExitCode) -> Result<(), Errno> {
        proc::exit(rval)
    }

    fn proc_fork(&self, fd: GuestPtr<Fd>, tid: GuestPtr<Tid>) -> Result<(), Errno> {
        proc::fork(self, fd, tid)
    }

    fn proc_raise(&self, sig: Signal) -> Result<(), Errno> {
        proc::raise(sig)
    }

    fn random_get(&self, buf: GuestSlice<u8>) -> Result<(), Errno> {
        proc::random_get(buf)
    }

    fn sock_recv(
        &self,
        sock: Fd,
        r#in: GuestPtr<abi64::RecvIn>,
        out: GuestPtr<abi64::RecvOut>,
    ) -> Result<(), Errno> {
        sock::recv(self, sock, r#in, out)
    }

    fn sock_send(
        &self,
        sock: Fd,
        r#in: GuestPtr<abi64::SendIn>,
        out: GuestPtr<abi64::SendOut>,
    ) -> Result<(), Errno> {
        sock::send(self, sock, r#in, out)
    }

    fn sock_shutdown(&self, sock: Fd, how: SdFlags) -> Result<(), Errno> {
        sock::shutdown(self, sock, how)
    }

    fn thread_create(
        &self,
        attr: GuestPtr<abi64::ThreadAttr>,
        tid: GuestPtr<Tid>,
    ) -> Result<(), Errno> {
        proc::thread_create(self, attr, tid)
    }

    fn thread_exit(&self, lock: GuestPtr<Lock>, scope: Scope) -> Result<(), Errno> {
        proc::thread_exit(self, lock, scope)
    }

    fn thread_yield(&self) -> Result<(), Errno> {
        proc::thread_yield()
    }
}

/// Runs syscall `number` (the alphabetical index, as [`cloudabi_types::SYSCALLS`]) with
/// its C arguments in order (pointer + length for a range count as two; unused slots
/// are 0) against the process installed with [`Process::install`]. Returns the CloudABI
/// errno (0 on success); `ENOSYS` when no process is installed or the number is unknown.
///
/// A `lookup` argument (a descriptor and lookup flags passed by value) takes one slot:
/// the descriptor in the low 32 bits, the flags in the high 32 bits.
#[allow(clippy::too_many_arguments)]
pub extern "C" fn dispatch(
    a0: u64,
    a1: u64,
    a2: u64,
    a3: u64,
    a4: u64,
    a5: u64,
    a6: u64,
    number: u64,
) -> u16 {
    let thread = crate::lifecycle::enter_emulator();
    let errno = match (process::PROCESS.get(), u32::try_from(number)) {
        (Some(process), Ok(number)) => {
            process
                .call(SyscallNumber(number), [a0, a1, a2, a3, a4, a5, a6])
                .0
        }
        _ => Errno::NOSYS.0,
    };
    // A thread that `proc_exec` on another thread ended leaves here.
    crate::lifecycle::leave_emulator(thread);
    errno
}

#[cfg(test)]
mod tests {
    use std::os::fd::OwnedFd;

    use super::*;

    fn process_with(file: std::fs::File) -> Process {
        Process::new(vec![OwnedFd::from(file)]).expect("classifies")
    }

    /// A process whose descriptor 0 is a fresh read-write regular file.
    fn process_with_file() -> Process {
        process_with(tempfile::tempfile().expect("temporary file"))
    }

    #[test]
    fn narrow_arguments_reach_the_handler_without_their_upper_bits() {
        let process = process_with_file();
        let mut newoffset = u64::MAX;
        // fd_seek(fd: u32, offset: i64, whence: u8, *newoffset), with garbage above the
        // descriptor and the whence value: descriptor 0, `Whence::SET`.
        let err = process.call(
            SyscallNumber::FD_SEEK,
            [
                0xdead_beef_0000_0000,
                0,
                0xffff_ff00 | u64::from(Whence::SET.0),
                &mut newoffset as *mut u64 as u64,
                7,
                7,
                7,
            ],
        );
        assert_eq!(err, Errno::SUCCESS);
        assert_eq!(newoffset, 0);
    }

    #[test]
    fn a_range_keeps_its_whole_length() {
        let process = process_with_file();
        let iov = [0u64, 0];
        let mut n = 0u64;
        // fd_write(fd, iovs, iovs_len, *nwritten): a length of 2^32 + 1 iovecs is absurd,
        // and cut to 32 bits it would be 1.
        let err = process.call(
            SyscallNumber::FD_WRITE,
            [
                0,
                iov.as_ptr() as u64,
                (1 << 32) | 1,
                &mut n as *mut u64 as u64,
                0,
                0,
                0,
            ],
        );
        assert_eq!(err, Errno::INVAL);
    }

    #[test]
    fn a_lookup_is_split_into_descriptor_and_flags() {
        let process = process_with(std::fs::File::open("/").expect("opens /"));
        let mut stat = FileStat::default();
        let path = b".";
        // file_stat_get(fd: lookup, path, path_len, *buf): descriptor 0 in the low half,
        // `SYMLINK_FOLLOW` in the high half.
        let lookup = u64::from(cloudabi_types::LookupFlags::SYMLINK_FOLLOW.bits()) << 32;
        let err = process.call(
            SyscallNumber::FILE_STAT_GET,
            [
                lookup,
                path.as_ptr() as u64,
                path.len() as u64,
                &mut stat as *mut FileStat as u64,
                0,
                0,
                0,
            ],
        );
        assert_eq!(err, Errno::SUCCESS);
        assert_eq!(stat.st_filetype, FileType::DIRECTORY);
        // Descriptor 1 in the low half does not exist.
        let err = process.call(
            SyscallNumber::FILE_STAT_GET,
            [
                lookup | 1,
                path.as_ptr() as u64,
                path.len() as u64,
                &mut stat as *mut FileStat as u64,
                0,
                0,
                0,
            ],
        );
        assert_eq!(err, Errno::BADF);
    }
}
