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

use core::marker::PhantomData;

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
// SAFETY: a transparent wrapper of a `u32`.
unsafe impl Pod for cloudabi_types::Fd {}
// SAFETY: as above.
unsafe impl Pod for cloudabi_types::Tid {}

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

/// A guest pointer to a `T`, as a system call argument: only an address, which the
/// checked helpers of this module validate whenever it is used.
#[repr(transparent)]
pub(crate) struct GuestPtr<T> {
    addr: u64,
    to: PhantomData<fn() -> T>,
}

impl<T> Clone for GuestPtr<T> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<T> Copy for GuestPtr<T> {}

impl<T> core::fmt::Debug for GuestPtr<T> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "GuestPtr({:#x})", self.addr)
    }
}

impl<T> PartialEq for GuestPtr<T> {
    fn eq(&self, other: &Self) -> bool {
        self.addr == other.addr
    }
}

impl<T> Eq for GuestPtr<T> {}

// SAFETY: a `GuestPtr` is transparent over a `u64` (the `PhantomData` has no bytes), and
// every address is a valid value: it is only checked when used.
unsafe impl<T> Pod for GuestPtr<T> {}

impl<T> GuestPtr<T> {
    /// The pointer with guest address `addr`.
    pub(crate) const fn new(addr: u64) -> Self {
        GuestPtr {
            addr,
            to: PhantomData,
        }
    }

    /// The guest address.
    pub(crate) const fn addr(self) -> u64 {
        self.addr
    }

    /// Checks, without touching it, that one `T` could be written here.
    pub(crate) fn check(self) -> Result<(), Errno> {
        check_array::<T>(self.addr, 1)
    }
}

impl<T: Pod> GuestPtr<T> {
    /// Reads the `T` it points to ([`read`]).
    pub(crate) fn read(self) -> Result<T, Errno> {
        read(self.addr)
    }

    /// Writes `value` where it points ([`write`]).
    pub(crate) fn write(self, value: T) -> Result<(), Errno> {
        write(self.addr, value)
    }

    /// Copies the `count` elements starting here ([`read_array`]).
    pub(crate) fn read_array(self, count: u64) -> Result<Vec<T>, Errno> {
        read_array(self.addr, count)
    }

    /// Writes `values` starting here ([`write_array`]).
    pub(crate) fn write_array(self, values: &[T]) -> Result<(), Errno> {
        write_array(self.addr, values)
    }
}

impl GuestPtr<cloudabi_types::Condvar> {
    /// The condition variable word, as an atomic ([`atomic_u32`]).
    pub(crate) fn atomic(self) -> Result<&'static core::sync::atomic::AtomicU32, Errno> {
        atomic_u32(self.addr)
    }
}

/// A guest range of `len` elements of `T` (a pointer and a length) as a system call
/// argument; checked when used, like [`GuestPtr`].
pub(crate) struct GuestSlice<T> {
    start: GuestPtr<T>,
    len: u64,
}

impl<T> Clone for GuestSlice<T> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<T> Copy for GuestSlice<T> {}

impl<T> core::fmt::Debug for GuestSlice<T> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "GuestSlice({:#x}, {})", self.start.addr, self.len)
    }
}

impl<T> GuestSlice<T> {
    /// The range of `len` elements starting at guest address `addr`.
    pub(crate) const fn new(addr: u64, len: u64) -> Self {
        GuestSlice {
            start: GuestPtr::new(addr),
            len,
        }
    }

    /// The guest address of the first element.
    pub(crate) const fn addr(self) -> u64 {
        self.start.addr
    }

    /// The number of elements.
    pub(crate) const fn len(self) -> u64 {
        self.len
    }
}

impl<T: Pod> GuestSlice<T> {
    /// Copies every element ([`read_array`]).
    pub(crate) fn read_all(self) -> Result<Vec<T>, Errno> {
        read_array(self.start.addr, self.len)
    }
}

impl GuestSlice<u8> {
    /// Copies the bytes, at most `limit` of them (longer ranges fail with `error`;
    /// [`read_bytes`]).
    pub(crate) fn read_bytes(self, limit: u64, error: Errno) -> Result<Vec<u8>, Errno> {
        read_bytes(self.start.addr, self.len, limit, error)
    }

    /// Copies `data` to the start of the range ([`write_bytes`]); the caller keeps it no
    /// longer than the range.
    pub(crate) fn write_bytes(self, data: &[u8]) -> Result<(), Errno> {
        write_bytes(self.start.addr, data)
    }
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
