//! CloudABI rights: what a descriptor may be used for.

bitflags::bitflags! {
    /// A set of CloudABI rights (`cloudabi_rights_t`), with CloudABI's bit positions.
    ///
    /// Every descriptor in this layer carries *base* rights (operations on the descriptor
    /// itself) and, for directories, *inheriting* rights (the most that descriptors opened
    /// through it may get). Rights only ever shrink.
    #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
    pub struct Rights: u64 {
        /// `fdatasync`.
        const FD_DATASYNC = 1 << 0;
        /// `read`.
        const FD_READ = 1 << 1;
        /// `lseek` to any position (implies [`Rights::FD_TELL`]).
        const FD_SEEK = 1 << 2;
        /// Changing descriptor flags.
        const FD_STAT_PUT_FLAGS = 1 << 3;
        /// `fsync`.
        const FD_SYNC = 1 << 4;
        /// Reading the current offset.
        const FD_TELL = 1 << 5;
        /// `write`.
        const FD_WRITE = 1 << 6;
        /// `posix_fadvise`.
        const FILE_ADVISE = 1 << 7;
        /// `posix_fallocate`.
        const FILE_ALLOCATE = 1 << 8;
        /// Creating directories beneath a directory.
        const FILE_CREATE_DIRECTORY = 1 << 9;
        /// Creating files beneath a directory.
        const FILE_CREATE_FILE = 1 << 10;
        /// Creating FIFOs beneath a directory.
        const FILE_CREATE_FIFO = 1 << 11;
        /// Source of a hard link.
        const FILE_LINK_SOURCE = 1 << 12;
        /// Target directory of a hard link.
        const FILE_LINK_TARGET = 1 << 13;
        /// Opening files and directories beneath a directory.
        const FILE_OPEN = 1 << 14;
        /// Listing a directory.
        const FILE_READDIR = 1 << 15;
        /// Reading symbolic links beneath a directory.
        const FILE_READLINK = 1 << 16;
        /// Source directory of a rename.
        const FILE_RENAME_SOURCE = 1 << 17;
        /// Target directory of a rename.
        const FILE_RENAME_TARGET = 1 << 18;
        /// `fstat`.
        const FILE_STAT_FGET = 1 << 19;
        /// `ftruncate` (and opening with `O_TRUNC` beneath a directory).
        const FILE_STAT_FPUT_SIZE = 1 << 20;
        /// `futimens`.
        const FILE_STAT_FPUT_TIMES = 1 << 21;
        /// `fstatat` beneath a directory.
        const FILE_STAT_GET = 1 << 22;
        /// `utimensat` beneath a directory.
        const FILE_STAT_PUT_TIMES = 1 << 23;
        /// Creating symbolic links beneath a directory.
        const FILE_SYMLINK = 1 << 24;
        /// Removing files and directories beneath a directory.
        const FILE_UNLINK = 1 << 25;
        /// `mmap`.
        const MEM_MAP = 1 << 26;
        /// `mmap` with `PROT_EXEC`.
        const MEM_MAP_EXEC = 1 << 27;
        /// Polling for readability or writability.
        const POLL_FD_READWRITE = 1 << 28;
        /// Modifying a poll set.
        const POLL_MODIFY = 1 << 29;
        /// Polling for process termination.
        const POLL_PROC_TERMINATE = 1 << 30;
        /// Waiting on a poll set.
        const POLL_WAIT = 1 << 31;
        /// Executing the file.
        const PROC_EXEC = 1 << 32;
        /// `accept`.
        const SOCK_ACCEPT = 1 << 33;
        /// Binding sockets beneath a directory.
        const SOCK_BIND_DIRECTORY = 1 << 34;
        /// `bind`.
        const SOCK_BIND_SOCKET = 1 << 35;
        /// Connecting to sockets beneath a directory.
        const SOCK_CONNECT_DIRECTORY = 1 << 36;
        /// `connect`.
        const SOCK_CONNECT_SOCKET = 1 << 37;
        /// `listen`.
        const SOCK_LISTEN = 1 << 38;
        /// `shutdown`.
        const SOCK_SHUTDOWN = 1 << 39;
        /// `getsockname`, `getpeername`, `getsockopt`.
        const SOCK_STAT_GET = 1 << 40;
    }
}

impl Rights {
    /// Every right that makes sense on a regular file.
    pub const REGULAR_FILE: Rights = Rights::FD_DATASYNC
        .union(Rights::FD_READ)
        .union(Rights::FD_SEEK)
        .union(Rights::FD_STAT_PUT_FLAGS)
        .union(Rights::FD_SYNC)
        .union(Rights::FD_TELL)
        .union(Rights::FD_WRITE)
        .union(Rights::FILE_ADVISE)
        .union(Rights::FILE_ALLOCATE)
        .union(Rights::FILE_STAT_FGET)
        .union(Rights::FILE_STAT_FPUT_SIZE)
        .union(Rights::FILE_STAT_FPUT_TIMES)
        .union(Rights::MEM_MAP)
        .union(Rights::MEM_MAP_EXEC)
        .union(Rights::POLL_FD_READWRITE)
        .union(Rights::PROC_EXEC);

    /// Every right that makes sense on a directory.
    pub const DIRECTORY: Rights = Rights::FD_STAT_PUT_FLAGS
        .union(Rights::FD_SYNC)
        .union(Rights::FD_DATASYNC)
        .union(Rights::FILE_ADVISE)
        .union(Rights::FILE_CREATE_DIRECTORY)
        .union(Rights::FILE_CREATE_FILE)
        .union(Rights::FILE_CREATE_FIFO)
        .union(Rights::FILE_LINK_SOURCE)
        .union(Rights::FILE_LINK_TARGET)
        .union(Rights::FILE_OPEN)
        .union(Rights::FILE_READDIR)
        .union(Rights::FILE_READLINK)
        .union(Rights::FILE_RENAME_SOURCE)
        .union(Rights::FILE_RENAME_TARGET)
        .union(Rights::FILE_STAT_FGET)
        .union(Rights::FILE_STAT_FPUT_TIMES)
        .union(Rights::FILE_STAT_GET)
        .union(Rights::FILE_STAT_PUT_TIMES)
        .union(Rights::FILE_SYMLINK)
        .union(Rights::FILE_UNLINK)
        .union(Rights::POLL_FD_READWRITE)
        .union(Rights::SOCK_BIND_DIRECTORY)
        .union(Rights::SOCK_CONNECT_DIRECTORY);

    /// The rights of a directory that may only be read: open, list, stat, readlink.
    pub const DIRECTORY_READ_ONLY: Rights = Rights::FILE_OPEN
        .union(Rights::FILE_READDIR)
        .union(Rights::FILE_READLINK)
        .union(Rights::FILE_STAT_FGET)
        .union(Rights::FILE_STAT_GET)
        .union(Rights::POLL_FD_READWRITE);

    /// The rights of a file that may only be read: read, seek, stat, map.
    pub const FILE_READ_ONLY: Rights = Rights::FD_READ
        .union(Rights::FD_SEEK)
        .union(Rights::FD_TELL)
        .union(Rights::FILE_ADVISE)
        .union(Rights::FILE_STAT_FGET)
        .union(Rights::MEM_MAP)
        .union(Rights::POLL_FD_READWRITE);

    /// The rights of an append-only file: write at the end, sync, stat; no seeking, no
    /// truncating, no reading.
    pub const FILE_APPEND_ONLY: Rights = Rights::FD_WRITE
        .union(Rights::FD_SYNC)
        .union(Rights::FD_DATASYNC)
        .union(Rights::FILE_STAT_FGET)
        .union(Rights::POLL_FD_READWRITE);

    /// Rights that allow changing a file's contents or size.
    pub const FILE_MODIFY: Rights = Rights::FD_WRITE
        .union(Rights::FILE_ALLOCATE)
        .union(Rights::FILE_STAT_FPUT_SIZE);

    /// Rights that allow reading a file's contents.
    pub const FILE_INSPECT: Rights = Rights::FD_READ
        .union(Rights::MEM_MAP)
        .union(Rights::MEM_MAP_EXEC)
        .union(Rights::PROC_EXEC);

    /// Rights that let an append-only descriptor write elsewhere than at the end.
    pub const FILE_POSITIONING: Rights = Rights::FD_SEEK
        .union(Rights::FILE_STAT_FPUT_SIZE)
        .union(Rights::FILE_ALLOCATE);
}
