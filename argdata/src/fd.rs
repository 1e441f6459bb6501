//! File descriptors inside argdata.
//!
//! On the wire an fd leaf holds a 32-bit index into a list of descriptors that travels next
//! to the bytes (an `SCM_RIGHTS` message, or the descriptors a launcher grants). The reader
//! hands that index to an [`FdConverter`], which decides what it means in this process.
#![forbid(unsafe_code)]

/// A file descriptor number as held by an owned [`Value`](crate::Value).
///
/// This is only a number: it owns nothing and closes nothing.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Fd(pub i32);

impl Fd {
    /// The descriptor number.
    #[must_use]
    pub const fn raw(self) -> i32 {
        self.0
    }
}

/// The number, for calls that take a raw descriptor. `Fd` owns nothing, so it offers no
/// `AsFd` (that would let safe code borrow a descriptor nobody keeps open); to own a granted
/// descriptor as a `File`, socket or directory, see `program::cap`.
///
/// ```
/// use std::os::fd::AsRawFd;
/// assert_eq!(argdata::Fd(4).as_raw_fd(), 4);
/// ```
#[cfg(all(feature = "std", unix))]
impl std::os::fd::AsRawFd for Fd {
    fn as_raw_fd(&self) -> std::os::fd::RawFd {
        self.0
    }
}

impl core::fmt::Display for Fd {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        core::fmt::Display::fmt(&self.0, f)
    }
}

/// Turns the fd index stored in argdata into a descriptor of this process.
///
/// Returning `None` rejects the index; the getter then fails with
/// [`ErrorKind::BadFd`](crate::ErrorKind::BadFd).
///
/// Closures `Fn(u32) -> Option<T>` implement this trait:
///
/// ```
/// use argdata::Argdata;
/// let ad = Argdata::new(&[0x03, 0, 0, 0, 1]);
/// let granted = [7, 9];
/// let fd = ad.as_fd(&|i: u32| granted.get(i as usize).copied()).unwrap();
/// assert_eq!(fd, 9);
/// ```
pub trait FdConverter {
    /// What an index converts to.
    type Fd;

    /// Converts the index `index`, or rejects it with `None`.
    fn convert(&self, index: u32) -> Option<Self::Fd>;
}

impl<F, T> FdConverter for F
where
    F: Fn(u32) -> Option<T>,
{
    type Fd = T;

    fn convert(&self, index: u32) -> Option<T> {
        self(index)
    }
}

/// Looks indices up in a list of descriptors (index `i` is `list[i]`); others are rejected.
#[derive(Clone, Copy, Debug)]
pub struct FdTable<'t>(pub &'t [Fd]);

impl FdConverter for FdTable<'_> {
    type Fd = Fd;

    fn convert(&self, index: u32) -> Option<Fd> {
        self.0.get(usize::try_from(index).ok()?).copied()
    }
}

/// Takes every index as the descriptor number itself (`Fd(index)`); rejects indices above
/// `i32::MAX`. This is what a decoder without an fd table does.
#[derive(Clone, Copy, Debug, Default)]
pub struct IdentityFds;

impl FdConverter for IdentityFds {
    type Fd = Fd;

    fn convert(&self, index: u32) -> Option<Fd> {
        i32::try_from(index).ok().map(Fd)
    }
}
