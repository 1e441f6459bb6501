//! The `mem_*` system calls. Mappings live in the emulator's own address space, which the
//! guest shares.

use std::collections::BTreeMap;
use std::sync::{Mutex, MutexGuard};

use cloudabi_types::{Advice, Errno, Fd, FileSize, MFlags, MProt, MsFlags, Rights};

use super::errno;
use super::fd::check;
use super::mem::{GuestPtr, GuestSlice};
use super::process::Process;

/// Linux page protection for CloudABI's, refusing writable executable pages (W^X) and
/// bits CloudABI does not define, both with `ENOTSUP` (as the original emulator does).
fn prot(prot: MProt) -> Result<i32, Errno> {
    let prot = MProt::from_bits(prot.bits()).ok_or(Errno::NOTSUP)?;
    if prot.contains(MProt::WRITE | MProt::EXEC) {
        return Err(Errno::NOTSUP);
    }
    let mut out = libc::PROT_NONE;
    if prot.contains(MProt::READ) {
        out |= libc::PROT_READ;
    }
    if prot.contains(MProt::WRITE) {
        out |= libc::PROT_WRITE;
    }
    if prot.contains(MProt::EXEC) {
        out |= libc::PROT_EXEC;
    }
    Ok(out)
}

/// A guest address range as a pointer and length (checked not to wrap).
fn range(addr: u64, len: u64) -> Result<(*mut libc::c_void, usize), Errno> {
    addr.checked_add(len).ok_or(Errno::INVAL)?;
    let len = usize::try_from(len).map_err(|_| Errno::INVAL)?;
    Ok((addr as *mut libc::c_void, len))
}

/// The address ranges the guest mapped with `mem_map` and has not unmapped, as disjoint
/// `start -> end` pairs (page aligned; touching ranges are merged). `proc_exec` unmaps
/// them all: the new program starts without the old one's heap and thread stacks.
static GUEST_MAPPINGS: Mutex<BTreeMap<usize, usize>> = Mutex::new(BTreeMap::new());

fn guest_mappings() -> MutexGuard<'static, BTreeMap<usize, usize>> {
    GUEST_MAPPINGS
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Removes `start..end` from the set, splitting ranges that stick out on either side.
fn forget(set: &mut BTreeMap<usize, usize>, start: usize, end: usize) {
    // Ranges are disjoint and sorted, so their ends grow with their starts: going down
    // from the last range that starts below `end`, the overlapping ones come first.
    let overlapping: Vec<(usize, usize)> = set
        .range(..end)
        .rev()
        .take_while(|&(_, &e)| e > start)
        .map(|(&s, &e)| (s, e))
        .collect();
    for (s, e) in overlapping {
        set.remove(&s);
        if s < start {
            set.insert(s, start);
        }
        if e > end {
            set.insert(end, e);
        }
    }
}

/// Adds `start..end` to the set, merged with ranges it touches.
fn remember(set: &mut BTreeMap<usize, usize>, mut start: usize, mut end: usize) {
    forget(set, start, end);
    if let Some((&s, &e)) = set.range(..start).next_back()
        && e == start
    {
        set.remove(&s);
        start = s;
    }
    if let Some(e) = set.remove(&end) {
        end = e;
    }
    set.insert(start, end);
}

/// `len` rounded up to whole pages (saturating: the kernel rejects such lengths anyway).
fn page_round(len: usize) -> usize {
    len.checked_next_multiple_of(page_size())
        .unwrap_or(usize::MAX)
}

/// Unmaps everything the guest mapped with `mem_map` and still holds (`proc_exec`, once
/// no thread of the old program runs any more).
pub(crate) fn release_guest_mappings() {
    let set = core::mem::take(&mut *guest_mappings());
    for (start, end) in set {
        // SAFETY: the range was mapped by the replaced program, none of whose threads
        // runs any more; the emulator keeps nothing of its own there.
        unsafe { libc::munmap(start as *mut libc::c_void, end - start) };
    }
}

/// `mem_map(addr, len, prot, flags, fd, off, *mem)`.
#[allow(clippy::too_many_arguments)]
pub(crate) fn map(
    p: &Process,
    addr: GuestPtr<u8>,
    len: u64,
    prot_bits: MProt,
    flags: MFlags,
    fd: Fd,
    off: FileSize,
    out: GuestPtr<GuestPtr<u8>>,
) -> Result<(), Errno> {
    let protection = prot(prot_bits)?;
    let flags = MFlags::from_bits(flags.bits()).ok_or(Errno::INVAL)?;
    let mut linux = match (
        flags.contains(MFlags::PRIVATE),
        flags.contains(MFlags::SHARED),
    ) {
        (true, false) => libc::MAP_PRIVATE,
        (false, true) => libc::MAP_SHARED,
        _ => return Err(Errno::INVAL),
    };
    if flags.contains(MFlags::FIXED) {
        linux |= libc::MAP_FIXED;
    }
    let offset = i64::try_from(off).map_err(|_| Errno::INVAL)?;
    let (start, len) = range(addr.addr(), len)?;
    let start = if flags.contains(MFlags::FIXED) {
        start
    } else {
        core::ptr::null_mut()
    };
    // Keeps the descriptor open until the mapping exists.
    let entry;
    let host_fd = if flags.contains(MFlags::ANON) {
        if fd != Fd::MAP_ANON_FD || off != 0 {
            return Err(Errno::INVAL);
        }
        linux |= libc::MAP_ANONYMOUS;
        -1
    } else {
        let mut needed = Rights::MEM_MAP;
        if protection & libc::PROT_READ != 0 {
            needed |= Rights::FD_READ;
        }
        if protection & libc::PROT_WRITE != 0 && linux & libc::MAP_SHARED != 0 {
            needed |= Rights::FD_WRITE;
        }
        if protection & libc::PROT_EXEC != 0 {
            needed |= Rights::MEM_MAP_EXEC;
        }
        entry = p.fds.get_with(fd.0.into(), needed)?;
        entry.raw()
    };
    // Held across the mapping, so the set matches what is mapped even when guest threads
    // map and unmap concurrently.
    let mut set = guest_mappings();
    // SAFETY: mmap either picks a fresh address range or, with MAP_FIXED, replaces pages
    // the guest itself asked to replace; it never touches memory otherwise.
    let r = unsafe { libc::mmap(start, len, protection, linux, host_fd, offset) };
    if r == libc::MAP_FAILED {
        return Err(errno::last());
    }
    if let Err(e) = out.write(GuestPtr::new(r as u64)) {
        // SAFETY: unmapping exactly the range just mapped, which nothing else knows of.
        unsafe { libc::munmap(r, len) };
        return Err(e);
    }
    let at = r as usize;
    remember(&mut set, at, at.saturating_add(page_round(len)));
    Ok(())
}

/// `mem_protect(mapping, mapping_len, prot)`.
pub(crate) fn protect(mapping: GuestSlice<u8>, prot_bits: MProt) -> Result<(), Errno> {
    let protection = prot(prot_bits)?;
    let (start, len) = range(mapping.addr(), mapping.len())?;
    // SAFETY: changes the protection of guest pages the guest names; never dereferences.
    check(unsafe { libc::mprotect(start, len, protection) } as isize).map(drop)
}

/// `mem_sync(mapping, mapping_len, flags)`.
pub(crate) fn sync(mapping: GuestSlice<u8>, flags: MsFlags) -> Result<(), Errno> {
    let flags = MsFlags::from_bits(flags.bits()).ok_or(Errno::INVAL)?;
    let mut linux = match (
        flags.contains(MsFlags::ASYNC),
        flags.contains(MsFlags::SYNC),
    ) {
        (true, false) => libc::MS_ASYNC,
        (false, true) => libc::MS_SYNC,
        _ => return Err(Errno::INVAL),
    };
    if flags.contains(MsFlags::INVALIDATE) {
        linux |= libc::MS_INVALIDATE;
    }
    let (start, len) = range(mapping.addr(), mapping.len())?;
    // SAFETY: msync only writes back pages; it never changes their contents.
    check(unsafe { libc::msync(start, len, linux) } as isize).map(drop)
}

/// `mem_unmap(mapping, mapping_len)`.
pub(crate) fn unmap(mapping: GuestSlice<u8>) -> Result<(), Errno> {
    let (start, len) = range(mapping.addr(), mapping.len())?;
    let mut set = guest_mappings();
    // SAFETY: removes guest pages the guest names, as it asked.
    check(unsafe { libc::munmap(start, len) } as isize)?;
    let at = start as usize;
    forget(&mut set, at, at.saturating_add(page_round(len)));
    Ok(())
}

/// `mem_advise(mapping, mapping_len, advice)`.
pub(crate) fn advise(mapping: GuestSlice<u8>, advice: Advice) -> Result<(), Errno> {
    let hint = advice;
    let advice = match hint {
        Advice::NORMAL => libc::MADV_NORMAL,
        Advice::RANDOM => libc::MADV_RANDOM,
        Advice::SEQUENTIAL => libc::MADV_SEQUENTIAL,
        Advice::WILLNEED => libc::MADV_WILLNEED,
        // Linux's MADV_DONTNEED throws private pages away, which a hint must not do;
        // like posix_madvise, treat these two as hints with no effect.
        Advice::DONTNEED | Advice::NOREUSE => libc::MADV_NORMAL,
        _ => return Err(Errno::INVAL),
    };
    let (start, len) = range(mapping.addr(), mapping.len())?;
    if matches!(hint, Advice::DONTNEED | Advice::NOREUSE) {
        // Still validate the range the way the kernel would.
        if !(start as usize).is_multiple_of(page_size()) {
            return Err(Errno::INVAL);
        }
        return Ok(());
    }
    // SAFETY: the advice values used never discard data.
    check(unsafe { libc::madvise(start, len, advice) } as isize).map(drop)
}

/// The host page size.
pub(crate) fn page_size() -> usize {
    // SAFETY: sysconf has no preconditions.
    let n = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    usize::try_from(n).unwrap_or(4096)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set_of(ranges: &[(usize, usize)]) -> BTreeMap<usize, usize> {
        let mut set = BTreeMap::new();
        for &(s, e) in ranges {
            remember(&mut set, s, e);
        }
        set
    }

    #[test]
    fn ranges_merge_split_and_vanish() {
        let mut set = set_of(&[(0x1000, 0x3000), (0x3000, 0x4000), (0x8000, 0x9000)]);
        assert_eq!(
            set.iter().map(|(&s, &e)| (s, e)).collect::<Vec<_>>(),
            [(0x1000, 0x4000), (0x8000, 0x9000)]
        );
        forget(&mut set, 0x2000, 0x3000);
        assert_eq!(
            set.iter().map(|(&s, &e)| (s, e)).collect::<Vec<_>>(),
            [(0x1000, 0x2000), (0x3000, 0x4000), (0x8000, 0x9000)]
        );
        forget(&mut set, 0x1800, 0x8800);
        assert_eq!(
            set.iter().map(|(&s, &e)| (s, e)).collect::<Vec<_>>(),
            [(0x1000, 0x1800), (0x8800, 0x9000)]
        );
        remember(&mut set, 0x0, 0x10000);
        assert_eq!(
            set.iter().map(|(&s, &e)| (s, e)).collect::<Vec<_>>(),
            [(0, 0x10000)]
        );
        forget(&mut set, 0, usize::MAX);
        assert!(set.is_empty());
    }
}
