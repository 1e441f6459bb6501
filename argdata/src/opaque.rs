//! Encoded values handled as opaque bytes (feature `alloc`), the way the reference C
//! library serializes a value that came from a buffer.
//!
//! The reference never checks such a value before writing it out again: its length is the
//! buffer's length, its bytes are copied as they are, and only the fd leaves it can reach
//! get a new index. It reaches them by walking every map and sequence subfield by
//! subfield (maps are not split into keys and values), descending into each subfield
//! whose tag is map or sequence, until a subfield length does not parse; whatever
//! follows that point in the container is left alone. An fd leaf is one whose payload is
//! exactly four bytes; any other payload is copied unchanged. Since subfield lengths have
//! exactly one valid encoding and an fd index is always four bytes, renumbering never
//! changes the length or the structure of the value.
#![forbid(unsafe_code)]

use alloc::vec::Vec;

use crate::reader::{Argdata, Fields, Type};

/// The fd index written for a descriptor that cannot be passed on: it names no entry of
/// any fd list, so a reader rejects it (`EBADF`) and the value stays invalid there.
pub const INVALID_FD_INDEX: u32 = u32::MAX;

/// An fd leaf found by [`Argdata::fd_leaves`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct FdLeaf {
    /// Offset of the leaf's tag byte (counted like [`Argdata::offset`]); its 4-byte
    /// index follows right after it.
    pub offset: usize,
    /// The index stored in the leaf.
    pub index: u32,
}

/// Iterator over the fd leaves of a value, in the order they appear in the bytes; see
/// [`Argdata::fd_leaves`].
#[derive(Clone, Debug)]
pub struct FdLeaves<'a> {
    /// The value itself, until it has been looked at.
    start: Option<Argdata<'a>>,
    /// The subfields still to walk in each container entered, innermost last.
    open: Vec<Fields<'a>>,
}

impl Iterator for FdLeaves<'_> {
    type Item = FdLeaf;

    fn next(&mut self) -> Option<FdLeaf> {
        loop {
            let ad = match self.start.take() {
                Some(ad) => ad,
                None => {
                    let fields = self.open.last_mut()?;
                    // A subfield length that does not parse ends the walk of this
                    // container (the iterator then reports it empty).
                    match fields.next_field() {
                        Ok(field) => field,
                        Err(_) => {
                            self.open.pop();
                            continue;
                        }
                    }
                }
            };
            if let Some(fields) = self.open.last()
                && fields.is_empty()
            {
                // The container is done; leave it before descending, so that the
                // stack holds only containers with subfields left.
                self.open.pop();
            }
            match ad.as_bytes().first().copied().and_then(Type::from_tag) {
                Some(Type::Map | Type::Seq) => self.open.push(Fields::new(&ad)),
                Some(Type::Fd) => {
                    if let Ok(index) = ad.as_fd_index() {
                        return Some(FdLeaf {
                            offset: ad.offset(),
                            index,
                        });
                    }
                }
                _ => {}
            }
        }
    }
}

impl core::iter::FusedIterator for FdLeaves<'_> {}

impl<'a> Argdata<'a> {
    /// The fd leaves the reference library renumbers when it serializes this value as
    /// opaque bytes: every leaf with tag `03` and a 4-byte payload that is reached by
    /// walking maps and sequences subfield by subfield (a map's keys and values alike),
    /// where a subfield length that does not parse ends the walk of its container.
    /// Nothing else is checked, so this works on any bytes, in document order and
    /// without recursion.
    ///
    /// ```
    /// use argdata::Argdata;
    /// // A sequence [fd 7, fd with a 3-byte payload], then a zero byte, which cannot
    /// // start a subfield length, so the fd-like bytes after it are not looked at.
    /// let bytes = [7, 0x85, 3, 0, 0, 0, 7, 0x84, 3, 0, 0, 0, 0, 3, 0, 0, 0, 5];
    /// let leaves: Vec<_> = Argdata::new(&bytes).fd_leaves().map(|l| (l.offset, l.index)).collect();
    /// assert_eq!(leaves, [(2, 7)]);
    /// ```
    #[must_use]
    pub fn fd_leaves(&self) -> FdLeaves<'a> {
        FdLeaves {
            start: Some(*self),
            open: Vec::new(),
        }
    }

    /// Appends this value's bytes to `out` unchanged except for the fd leaves found by
    /// [`Argdata::fd_leaves`], whose index `i` is replaced by `renumber(i)` (called once
    /// per leaf, in order). The length written is always `self.as_bytes().len()`.
    ///
    /// ```
    /// use argdata::Argdata;
    /// let bytes = [7, 0x85, 3, 0, 0, 0, 7, 0x82, 0x02, 0x05];
    /// let mut out = Vec::new();
    /// Argdata::new(&bytes).copy_with_fds(&mut out, |i| i + 1);
    /// assert_eq!(out, [7, 0x85, 3, 0, 0, 0, 8, 0x82, 0x02, 0x05]);
    /// ```
    pub fn copy_with_fds<F: FnMut(u32) -> u32>(&self, out: &mut Vec<u8>, mut renumber: F) {
        let start = out.len();
        out.extend_from_slice(self.as_bytes());
        for leaf in self.fd_leaves() {
            // The payload lies within the value: `fd_leaves` only reports leaves whose
            // 4-byte payload it has seen.
            let at = start + (leaf.offset - self.offset()) + 1;
            if let Some(slot) = out.get_mut(at..at + 4) {
                slot.copy_from_slice(&renumber(leaf.index).to_be_bytes());
            }
        }
    }
}
