//! Checked access to guest memory.
//!
//! The guest runs in the emulator's own address space, so a guest pointer is a host
//! pointer. Every read or write of guest memory done by the system call handlers goes
//! through this module, which rejects null, misaligned and wrapping pointers with
//! `EFAULT` and bounds every copy. It cannot tell whether an address is mapped: like a
//! kernel without fault recovery, touching an unmapped guest address faults the whole
//! (emulated) process, which is what the guest would get by touching it itself.
//!
//! Buffers that only the host kernel reads or writes (`read(2)`, `write(2)`, ...) are not
//! dereferenced here at all; handlers pass the raw addresses on, and the kernel validates
//! them and reports `EFAULT`.

use cloudabi_types::Errno;

/// The largest block a handler copies out of guest memory in one piece (path names,
/// argument data, descriptor lists are far smaller).
pub(crate) const MAX_COPY: u64 = 64 << 20;

/// Checks that `len` bytes at `addr` form a non-null, non-wrapping range aligned for `T`.
fn check<T>(addr: u64, len: u64) -> Result<usize, Errno> {
    if addr == 0 {
        return Err(Errno::FAULT);
    }
    if !addr.is_multiple_of(core::mem::align_of::<T>() as u64) {
        return Err(Errno::FAULT);
    }
    let end = addr.checked_add(len).ok_or(Errno::FAULT)?;
    if usize::try_from(end).is_err() || end > isize::MAX as u64 {
        return Err(Errno::FAULT);
    }
    usize::try_from(addr).map_err(|_| Errno::FAULT)
}

/// Marker for plain-data types that any bit pattern of the right size may be read as
/// (integers and the ABI structs made only of integers and integer newtypes).
///
/// # Safety
///
/// Implementors must be `Copy`, contain no references, pointers, `bool`s, enums with
/// invalid bit patterns or other types with invalid values.
pub(crate) unsafe trait Pod: Copy {}

// SAFETY: integers accept every bit pattern.
unsafe impl Pod for u8 {}
// SAFETY: as above.
unsafe impl Pod for u32 {}
// SAFETY: as above.
unsafe impl Pod for u64 {}
// SAFETY: transparent wrappers of u32 / u64 fields and byte arrays only.
unsafe impl Pod for cloudabi_types::abi64::Ciovec {}
// SAFETY: as above.
unsafe impl Pod for cloudabi_types::abi64::Iovec {}
// SAFETY: as above.
unsafe impl Pod for cloudabi_types::abi64::RecvIn {}
// SAFETY: as above.
unsafe impl Pod for cloudabi_types::abi64::SendIn {}
// SAFETY: as above.
unsafe impl Pod for cloudabi_types::abi64::ThreadAttr {}
// SAFETY: integer newtypes (`FileType`, `FdFlags`, `Rights`) and padding bytes only; the
// bitflags types are transparent over integers and keep unknown bits.
unsafe impl Pod for cloudabi_types::FdStat {}
// SAFETY: integer newtypes only.
unsafe impl Pod for cloudabi_types::FileStat {}
// SAFETY: integer newtypes, byte arrays and a union of such structs only.
unsafe impl Pod for cloudabi_types::abi64::Subscription {}
// SAFETY: as above.
unsafe impl Pod for cloudabi_types::Event {}
// SAFETY: integer newtypes only.
unsafe impl Pod for cloudabi_types::Dirent {}
// SAFETY: integer fields and a byte array only.
unsafe impl Pod for cloudabi_types::abi64::RecvOut {}
// SAFETY: one integer field.
unsafe impl Pod for cloudabi_types::abi64::SendOut {}

/// Reads one `T` from guest address `addr`.
pub(crate) fn read<T: Pod>(addr: u64) -> Result<T, Errno> {
    let at = check::<T>(addr, core::mem::size_of::<T>() as u64)?;
    // SAFETY: the address is non-null, aligned for `T` and the range does not wrap; the
    // guest shares our address space and handed us this pointer for exactly this object.
    // `T: Pod` accepts any bit pattern. A volatile read keeps the compiler from assuming
    // the memory cannot change underneath (other guest threads may write it).
    Ok(unsafe { core::ptr::read_volatile(at as *const T) })
}

/// Writes one `T` to guest address `addr`.
pub(crate) fn write<T: Pod>(addr: u64, value: T) -> Result<(), Errno> {
    let at = check::<T>(addr, core::mem::size_of::<T>() as u64)?;
    // SAFETY: as in `read`; the guest passed this address as an output of type `T`.
    unsafe { core::ptr::write_volatile(at as *mut T, value) };
    Ok(())
}

/// Copies `count` elements of `T` starting at guest address `addr`.
pub(crate) fn read_array<T: Pod>(addr: u64, count: u64) -> Result<Vec<T>, Errno> {
    if count == 0 {
        return Ok(Vec::new());
    }
    let bytes = count
        .checked_mul(core::mem::size_of::<T>() as u64)
        .ok_or(Errno::FAULT)?;
    if bytes > MAX_COPY {
        return Err(Errno::NOMEM);
    }
    check::<T>(addr, bytes)?;
    (0..count)
        .map(|i| read::<T>(addr + i * core::mem::size_of::<T>() as u64))
        .collect()
}

/// Checks, without touching it, that an array of `count` elements of `T` at `addr` could
/// be written (non-null, aligned, not wrapping); an empty array may be null.
pub(crate) fn check_array<T>(addr: u64, count: u64) -> Result<(), Errno> {
    if count == 0 {
        return Ok(());
    }
    let bytes = count
        .checked_mul(core::mem::size_of::<T>() as u64)
        .ok_or(Errno::FAULT)?;
    check::<T>(addr, bytes).map(drop)
}

/// Writes `values` to guest memory starting at `addr`.
pub(crate) fn write_array<T: Pod>(addr: u64, values: &[T]) -> Result<(), Errno> {
    if values.is_empty() {
        return Ok(());
    }
    let size = core::mem::size_of::<T>() as u64;
    check::<T>(addr, size * values.len() as u64)?;
    for (i, v) in values.iter().enumerate() {
        write(addr + i as u64 * size, *v)?;
    }
    Ok(())
}

/// Copies `len` bytes starting at guest address `addr`, at most `limit` of them
/// (longer ranges fail with `error`).
pub(crate) fn read_bytes(addr: u64, len: u64, limit: u64, error: Errno) -> Result<Vec<u8>, Errno> {
    if len > limit.min(MAX_COPY) {
        return Err(error);
    }
    if len == 0 {
        return Ok(Vec::new());
    }
    let at = check::<u8>(addr, len)?;
    let mut out = vec![0u8; len as usize];
    // SAFETY: the source range is non-null and does not wrap (checked); the destination
    // is a fresh buffer of exactly `len` bytes, so the two cannot overlap.
    unsafe { core::ptr::copy_nonoverlapping(at as *const u8, out.as_mut_ptr(), out.len()) };
    Ok(out)
}

/// Copies `data` into guest memory at `addr`.
pub(crate) fn write_bytes(addr: u64, data: &[u8]) -> Result<(), Errno> {
    if data.is_empty() {
        return Ok(());
    }
    let at = check::<u8>(addr, data.len() as u64)?;
    // SAFETY: the destination range is non-null and does not wrap (checked) and was given
    // to us by the guest as an output buffer at least this long; `data` is host memory
    // owned by the caller, distinct from it.
    unsafe { core::ptr::copy_nonoverlapping(data.as_ptr(), at as *mut u8, data.len()) };
    Ok(())
}

/// The 32-bit word at guest address `addr`, as an atomic (locks and condition variables).
pub(crate) fn atomic_u32(addr: u64) -> Result<&'static core::sync::atomic::AtomicU32, Errno> {
    let at = check::<u32>(addr, 4)?;
    // SAFETY: non-null and 4-byte aligned (checked). The guest declared this word an
    // atomically accessed lock or condition variable shared with the kernel, so all
    // accesses to it (guest and host) are atomic. It lives as long as the guest keeps it
    // mapped; handlers only use the reference for the duration of the call.
    Ok(unsafe { &*(at as *const core::sync::atomic::AtomicU32) })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rejects_null_misaligned_and_wrapping() {
        assert_eq!(read::<u64>(0), Err(Errno::FAULT));
        let x = [0u64; 2];
        let addr = x.as_ptr() as u64;
        assert_eq!(read::<u64>(addr + 1), Err(Errno::FAULT));
        assert_eq!(read::<u64>(addr), Ok(0));
        assert_eq!(
            read_bytes(u64::MAX - 2, 8, 100, Errno::INVAL),
            Err(Errno::FAULT)
        );
        assert_eq!(read_bytes(addr, 200, 100, Errno::INVAL), Err(Errno::INVAL));
        assert_eq!(read_array::<u64>(addr, u64::MAX), Err(Errno::FAULT));
        assert_eq!(check_array::<u32>(0, 0), Ok(()));
        assert_eq!(check_array::<u32>(0, 1), Err(Errno::FAULT));
        assert_eq!(check_array::<u32>(addr + 2, 1), Err(Errno::FAULT));
    }

    #[test]
    fn round_trips() {
        let mut buf = [0u8; 16];
        let addr = buf.as_mut_ptr() as u64;
        write_bytes(addr, b"hello").unwrap();
        assert_eq!(read_bytes(addr, 5, 100, Errno::INVAL).unwrap(), b"hello");
        let mut words = [0u32; 4];
        write_array(words.as_mut_ptr() as u64, &[1u32, 2, 3]).unwrap();
        assert_eq!(words, [1, 2, 3, 0]);
    }
}
