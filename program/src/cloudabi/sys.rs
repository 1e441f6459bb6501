//! CloudABI system calls, reached through the vDSO the kernel (or emulator) provides.
//!
//! At startup `link_vdso` fills a table with the address of every `cloudabi_sys_*`
//! function the vDSO exports; the wrappers below call through that table. A call the
//! vDSO does not provide fails with [`Errno::NOSYS`].

use core::sync::atomic::{AtomicUsize, Ordering};

use cloudabi_types::{
    Ciovec, Event, EventType, Iovec, RecvIn, RecvOut, SYSCALLS, SendIn, SendOut, Subscription,
    SubscriptionClock, SubscriptionFdReadwrite, SubscriptionUnion, ThreadAttr,
};
pub use cloudabi_types::{
    ClockId, Dirent, Errno, FdFlags, FdStat, FileStat, FileType, LookupFlags, OFlags, RiFlags,
    Rights, RoFlags, SdFlags, SyscallNumber,
};

/// Addresses of the vDSO's functions, indexed by system call number (0: not provided).
static TABLE: [AtomicUsize; SYSCALLS.len()] = [const { AtomicUsize::new(0) }; SYSCALLS.len()];

fn slot(number: SyscallNumber) -> usize {
    TABLE[number.0 as usize].load(Ordering::Relaxed)
}

/// Reads a little-endian integer of `N` bytes at `p`.
///
/// # Safety
///
/// `p` must be readable for `N` bytes.
unsafe fn read<const N: usize>(p: *const u8) -> [u8; N] {
    let mut b = [0u8; N];
    // SAFETY: forwarded from the caller.
    unsafe { core::ptr::copy_nonoverlapping(p, b.as_mut_ptr(), N) };
    b
}

/// Links the system call table to the vDSO whose ELF header is at `ehdr`: finds
/// `PT_DYNAMIC`, then the symbol count (`DT_HASH`), the symbol and string tables, and
/// records every global function named `cloudabi_sys_<name>` for a known `<name>`.
///
/// # Safety
///
/// `ehdr` must point to a mapped, well-formed ELF image (the kernel's vDSO).
pub(crate) unsafe fn link_vdso(ehdr: *const u8) {
    // SAFETY: (whole function) the caller guarantees a readable, well-formed image; all
    // offsets come from its own headers.
    unsafe {
        let phoff = u64::from_le_bytes(read(ehdr.add(32))) as usize;
        let phnum = u16::from_le_bytes(read(ehdr.add(56))) as usize;
        let mut dynamic = None;
        for i in 0..phnum {
            let ph = ehdr.add(phoff + 56 * i);
            if u32::from_le_bytes(read(ph)) == 2 {
                dynamic = Some(u64::from_le_bytes(read(ph.add(16))) as usize);
            }
        }
        let Some(dynamic) = dynamic else { return };
        let (mut nsyms, mut symtab, mut strtab) = (0usize, 0usize, 0usize);
        let mut d = ehdr.add(dynamic);
        loop {
            let tag = u64::from_le_bytes(read(d));
            let val = u64::from_le_bytes(read(d.add(8))) as usize;
            match tag {
                0 => break,
                4 => nsyms = u32::from_le_bytes(read(ehdr.add(val + 4))) as usize,
                5 => strtab = val,
                6 => symtab = val,
                _ => {}
            }
            d = d.add(16);
        }
        if symtab == 0 || strtab == 0 {
            return;
        }
        for i in 1..nsyms {
            let sym = ehdr.add(symtab + 24 * i);
            let info = *sym.add(4);
            let other = *sym.add(5);
            // Global (bind 1), function (type 2), default visibility.
            if info != 0x12 || other & 3 != 0 {
                continue;
            }
            let name = ehdr.add(strtab + u32::from_le_bytes(read(sym)) as usize);
            let mut len = 0;
            while *name.add(len) != 0 {
                len += 1;
            }
            let name = core::slice::from_raw_parts(name, len);
            let Some(call) = name.strip_prefix(b"cloudabi_sys_") else {
                continue;
            };
            if let Some(n) = SYSCALLS.iter().position(|s| s.name.as_bytes() == call) {
                let value = u64::from_le_bytes(read(sym.add(8))) as usize;
                TABLE[n].store(ehdr as usize + value, Ordering::Relaxed);
            }
        }
    }
}

/// The address of the vDSO's function for system call `number`, if it provides one
/// (for C bindings that call it with the call's C signature).
#[must_use]
pub fn entry(number: SyscallNumber) -> Option<usize> {
    Some(slot(number)).filter(|&f| f != 0)
}

macro_rules! call {
    ($number:ident, ($($arg:expr),*), ($($ty:ty),*)) => {{
        let f = slot(SyscallNumber::$number);
        if f == 0 {
            Errno::NOSYS
        } else {
            // SAFETY: `f` is the vDSO's entry point for this call, whose C signature is
            // the one spelled out here (CloudABI ABI); the arguments are valid for it.
            let f: extern "C" fn($($ty),*) -> u16 = unsafe { core::mem::transmute(f) };
            Errno(f($($arg),*))
        }
    }};
}

fn check(e: Errno) -> Result<(), Errno> {
    if e == Errno::SUCCESS { Ok(()) } else { Err(e) }
}

/// Writes `data` to descriptor `fd`; returns the number of bytes written.
///
/// # Errors
///
/// The errno of `fd_write`.
pub fn fd_write(fd: u32, data: &[u8]) -> Result<usize, Errno> {
    let iov = Ciovec {
        buf: data.as_ptr() as u64,
        buf_len: data.len() as u64,
    };
    let mut n = 0usize;
    check(call!(
        FD_WRITE,
        (fd, &iov, 1, &mut n),
        (u32, *const Ciovec, usize, *mut usize)
    ))?;
    Ok(n)
}

/// Writes all of `data` to `fd`, retrying short writes.
///
/// # Errors
///
/// The errno of `fd_write`; `EIO` if it wrote nothing.
pub fn write_all(fd: u32, mut data: &[u8]) -> Result<(), Errno> {
    while !data.is_empty() {
        let n = fd_write(fd, data)?;
        if n == 0 {
            return Err(Errno::IO);
        }
        data = &data[n.min(data.len())..];
    }
    Ok(())
}

/// Reads into `buf` from `fd`; returns the number of bytes read (0 at end of file).
///
/// # Errors
///
/// The errno of `fd_read`.
pub fn fd_read(fd: u32, buf: &mut [u8]) -> Result<usize, Errno> {
    let iov = Iovec {
        buf: buf.as_mut_ptr() as u64,
        buf_len: buf.len() as u64,
    };
    let mut n = 0usize;
    check(call!(
        FD_READ,
        (fd, &iov, 1, &mut n),
        (u32, *const Iovec, usize, *mut usize)
    ))?;
    Ok(n)
}

/// Closes `fd`.
///
/// # Errors
///
/// The errno of `fd_close`.
pub fn fd_close(fd: u32) -> Result<(), Errno> {
    check(call!(FD_CLOSE, (fd), (u32)))
}

/// Opens `path` beneath the directory `dir` with the rights and flags of `stat` (its file
/// type is ignored); returns the new descriptor. With `LookupFlags::SYMLINK_FOLLOW` a
/// symbolic link as the last component is followed (links elsewhere in the path always
/// are); resolution never leaves `dir`.
///
/// # Errors
///
/// The errno of `file_open`: for example `NOENT` for a missing file, `NOTCAPABLE` for a
/// path (or link) leading out of `dir` or rights `dir` cannot hand out.
pub fn file_open(
    dir: u32,
    path: &[u8],
    lookup: LookupFlags,
    oflags: OFlags,
    stat: &FdStat,
) -> Result<u32, Errno> {
    // `cloudabi_lookup_t` is an 8-byte struct `{fd, flags}` passed by value: in one
    // integer register on both x86-64 and AArch64, the descriptor in the low half.
    let lookup = u64::from(dir) | (u64::from(lookup.bits()) << 32);
    let mut fd = 0u32;
    check(call!(
        FILE_OPEN,
        (
            lookup,
            path.as_ptr(),
            path.len(),
            oflags.bits(),
            stat,
            &mut fd
        ),
        (u64, *const u8, usize, u16, *const FdStat, *mut u32)
    ))?;
    Ok(fd)
}

/// The attributes (type, size, times) of the file `fd` refers to.
///
/// # Errors
///
/// The errno of `file_stat_fget`.
pub fn file_stat_fget(fd: u32) -> Result<FileStat, Errno> {
    let mut stat = FileStat::default();
    check(call!(FILE_STAT_FGET, (fd, &mut stat), (u32, *mut FileStat)))?;
    Ok(stat)
}

/// What [`sock_recv`] received.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Received {
    /// Bytes stored at the start of the data buffer (0: the peer closed the stream).
    pub bytes: usize,
    /// Descriptors stored at the start of the descriptor buffer; they now belong to the
    /// caller.
    pub fds: usize,
    /// Whether data or descriptors were cut off for lack of room.
    pub flags: RoFlags,
}

/// Receives data into `buf` and descriptors (at most `fds.len()`; the rest are closed
/// and, unless `fds` is empty, reported with `RoFlags::FDS_TRUNCATED`) into `fds` from
/// socket `sock`.
///
/// # Errors
///
/// The errno of `sock_recv`.
pub fn sock_recv(
    sock: u32,
    buf: &mut [u8],
    fds: &mut [u32],
    flags: RiFlags,
) -> Result<Received, Errno> {
    let iov = Iovec {
        buf: buf.as_mut_ptr() as u64,
        buf_len: buf.len() as u64,
    };
    let input = RecvIn {
        ri_data: &iov as *const Iovec as u64,
        ri_data_len: 1,
        ri_fds: fds.as_mut_ptr() as u64,
        ri_fds_len: fds.len() as u64,
        ri_flags: flags,
    };
    let mut out = RecvOut::default();
    check(call!(
        SOCK_RECV,
        (sock, &input, &mut out),
        (u32, *const RecvIn, *mut RecvOut)
    ))?;
    Ok(Received {
        bytes: usize::try_from(out.ro_datalen).map_or(buf.len(), |n| n.min(buf.len())),
        fds: usize::try_from(out.ro_fdslen).map_or(fds.len(), |n| n.min(fds.len())),
        flags: out.ro_flags,
    })
}

/// Sends `data` (no descriptors) on socket `sock`; returns the number of bytes sent. A
/// peer that has gone away gives `PIPE`, never a signal.
///
/// # Errors
///
/// The errno of `sock_send`.
pub fn sock_send(sock: u32, data: &[u8]) -> Result<usize, Errno> {
    let iov = Ciovec {
        buf: data.as_ptr() as u64,
        buf_len: data.len() as u64,
    };
    let input = SendIn {
        si_data: &iov as *const Ciovec as u64,
        si_data_len: 1,
        ..SendIn::default()
    };
    let mut out = SendOut::default();
    check(call!(
        SOCK_SEND,
        (sock, &input, &mut out),
        (u32, *const SendIn, *mut SendOut)
    ))?;
    Ok(usize::try_from(out.so_datalen).map_or(data.len(), |n| n.min(data.len())))
}

/// Sends all of `data` on socket `sock` with [`sock_send`], retrying short sends.
///
/// # Errors
///
/// The errno of `sock_send`; `IO` if it sent nothing.
pub fn sock_send_all(sock: u32, mut data: &[u8]) -> Result<(), Errno> {
    while !data.is_empty() {
        let n = sock_send(sock, data)?;
        if n == 0 {
            return Err(Errno::IO);
        }
        data = &data[n..];
    }
    Ok(())
}

/// Shuts down the directions `how` of socket `sock`.
///
/// # Errors
///
/// The errno of `sock_shutdown`.
pub fn sock_shutdown(sock: u32, how: SdFlags) -> Result<(), Errno> {
    check(call!(SOCK_SHUTDOWN, (sock, how.bits()), (u32, u8)))
}

/// Waits until `fd` is readable (or at its end, or in error) or `timeout` nanoseconds of
/// the monotonic clock have passed; returns whether it became readable in time.
///
/// # Errors
///
/// The errno of `poll`, or the error the kernel reported for the descriptor.
pub fn wait_readable(fd: u32, timeout: u64) -> Result<bool, Errno> {
    let subscriptions = [
        Subscription {
            userdata: 1,
            r#type: EventType::FD_READ,
            u: SubscriptionUnion {
                fd_readwrite: SubscriptionFdReadwrite {
                    fd: cloudabi_types::Fd(fd),
                    ..SubscriptionFdReadwrite::default()
                },
            },
            ..Subscription::default()
        },
        Subscription {
            userdata: 2,
            r#type: EventType::CLOCK,
            u: SubscriptionUnion {
                clock: SubscriptionClock {
                    clock_id: ClockId::MONOTONIC,
                    timeout,
                    ..SubscriptionClock::default()
                },
            },
            ..Subscription::default()
        },
    ];
    let mut events = [Event::default(); 2];
    let mut n = 0usize;
    check(call!(
        POLL,
        (
            subscriptions.as_ptr(),
            events.as_mut_ptr(),
            subscriptions.len(),
            &mut n
        ),
        (*const Subscription, *mut Event, usize, *mut usize)
    ))?;
    let mut readable = false;
    for event in &events[..n.min(events.len())] {
        if event.userdata == 1 {
            if event.error != Errno::SUCCESS {
                return Err(event.error);
            }
            readable = true;
        }
    }
    Ok(readable)
}

/// Reads directory entries of `fd` starting at `cookie` into `buf` (packed `Dirent`
/// headers, each followed by its name); returns the number of bytes used.
///
/// # Errors
///
/// The errno of `file_readdir`.
pub fn file_readdir(fd: u32, buf: &mut [u8], cookie: u64) -> Result<usize, Errno> {
    let mut used = 0usize;
    check(call!(
        FILE_READDIR,
        (fd, buf.as_mut_ptr(), buf.len(), cookie, &mut used),
        (u32, *mut u8, usize, u64, *mut usize)
    ))?;
    Ok(used)
}

/// Fills `buf` with random bytes.
///
/// # Errors
///
/// The errno of `random_get`.
pub fn random_get(buf: &mut [u8]) -> Result<(), Errno> {
    check(call!(
        RANDOM_GET,
        (buf.as_mut_ptr(), buf.len()),
        (*mut u8, usize)
    ))
}

/// The time of clock `clock` ([`ClockId`] numbers: 1 monotonic, 3 realtime, ...) in
/// nanoseconds.
///
/// # Errors
///
/// The errno of `clock_time_get`.
pub fn clock_time_get(clock: u32) -> Result<u64, Errno> {
    let mut t = 0u64;
    check(call!(
        CLOCK_TIME_GET,
        (clock, 1, &mut t),
        (u32, u64, *mut u64)
    ))?;
    Ok(t)
}

/// Maps `len` bytes of fresh, zeroed, private read-write memory.
///
/// # Errors
///
/// The errno of `mem_map`.
pub fn mem_map_anon(len: usize) -> Result<*mut u8, Errno> {
    let mut addr: *mut u8 = core::ptr::null_mut();
    // prot READ|WRITE (4|2), flags ANON|PRIVATE (1|4), fd MAP_ANON_FD.
    check(call!(
        MEM_MAP,
        (core::ptr::null_mut(), len, 6, 5, u32::MAX, 0, &mut addr),
        (*mut u8, usize, u8, u8, u32, u64, *mut *mut u8)
    ))?;
    Ok(addr)
}

/// Unmaps `len` bytes at `addr`.
///
/// # Safety
///
/// Nothing may use the range afterwards.
///
/// # Errors
///
/// The errno of `mem_unmap`.
pub unsafe fn mem_unmap(addr: *mut u8, len: usize) -> Result<(), Errno> {
    check(call!(MEM_UNMAP, (addr, len), (*mut u8, usize)))
}

/// Changes the protection of `len` bytes at `addr` (`prot`: READ 4, WRITE 2, EXEC 1).
///
/// # Safety
///
/// Nothing may access the range in a way the new protection forbids.
///
/// # Errors
///
/// The errno of `mem_protect`.
pub unsafe fn mem_protect(addr: *mut u8, len: usize, prot: u8) -> Result<(), Errno> {
    check(call!(MEM_PROTECT, (addr, len, prot), (*mut u8, usize, u8)))
}

/// Starts a thread running `entry(tid, argument)` on the stack `stack`, which must stay
/// allocated (and be used by nothing else) until the thread has exited; returns its ID.
///
/// # Safety
///
/// `entry` must never return (end the thread with [`thread_exit`]) and must be safe to
/// run concurrently with the rest of the program.
///
/// # Errors
///
/// The errno of `thread_create`.
pub unsafe fn thread_create(
    entry: extern "C" fn(u32, usize) -> !,
    stack: &'static mut [u8],
    argument: usize,
) -> Result<u32, Errno> {
    let attr = ThreadAttr {
        entry_point: entry as usize as u64,
        stack: stack.as_mut_ptr() as u64,
        stack_len: stack.len() as u64,
        argument: argument as u64,
    };
    let mut tid = 0u32;
    check(call!(
        THREAD_CREATE,
        (&attr, &mut tid),
        (*const ThreadAttr, *mut u32)
    ))?;
    Ok(tid)
}

/// Ends the calling thread, releasing the write-locked `lock` (process-private scope),
/// which a joining thread may wait for.
pub fn thread_exit(lock: &core::sync::atomic::AtomicU32) -> ! {
    // Scope 4: CLOUDABI_SCOPE_PRIVATE.
    let _ = call!(THREAD_EXIT, (lock.as_ptr(), 4), (*mut u32, u8));
    trap()
}

/// Lets other threads run.
///
/// # Errors
///
/// The errno of `thread_yield`.
pub fn thread_yield() -> Result<(), Errno> {
    check(call!(THREAD_YIELD, (), ()))
}

/// Replaces the program with the executable `fd`, started with the encoded argdata
/// `data` and the descriptors `fds` (the new program's 0 ... n-1). Returns only on failure.
pub fn proc_exec(fd: u32, data: &[u8], fds: &[u32]) -> Errno {
    call!(
        PROC_EXEC,
        (fd, data.as_ptr(), data.len(), fds.as_ptr(), fds.len()),
        (u32, *const u8, usize, *const u32, usize)
    )
}

/// Ends the process with exit status `code`.
pub fn proc_exit(code: u32) -> ! {
    let _ = call!(PROC_EXIT, (code), (u32));
    // Without a working proc_exit there is no way out: stop with an invalid instruction.
    trap()
}

/// Stops the process with an invalid instruction.
pub(crate) fn trap() -> ! {
    // SAFETY: raises SIGILL; nothing after it runs.
    unsafe {
        #[cfg(target_arch = "x86_64")]
        core::arch::asm!("ud2", options(noreturn, nomem, nostack));
        #[cfg(target_arch = "aarch64")]
        core::arch::asm!("udf #0", options(noreturn, nomem, nostack));
    }
}
