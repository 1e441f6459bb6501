//! Serializing an `argdata_t` tree the way the reference library does, for
//! `argdata_serialized_length`, `argdata_serialize` and `argdata_print_yaml`.
//!
//! Values built in memory are encoded canonically. A value from `argdata_from_buffer` is
//! opaque: it is never validated, its length is its buffer's length and its bytes are
//! copied as they are, except for the fd leaves the reference reaches
//! ([`argdata::Argdata::fd_leaves`]), which are renumbered when an fd array is given: a
//! descriptor the buffer's converter maps joins the shared list, one it rejects is
//! written as [`INVALID_FD_INDEX`] and stays out of the list. Both kinds of leaf count
//! towards the fd total of `argdata_serialized_length`.
//!
//! Writing is two walks: the first measures (and records the size of every container
//! built in memory, in pre-order), the second writes, so that every length prefix is
//! known before its contents. Memory-built containers may nest at most [`MAX_DEPTH`]
//! levels (`EINVAL` beyond); buffers are walked without recursion.

use std::collections::HashMap;
use std::ffi::c_int;

use argdata::{Fd, INVALID_FD_INDEX, MAX_DEPTH, Timestamp, Type, Value};

use super::{Buf, Node, argdata_t, node, slice};

const fn tag(t: Type) -> u8 {
    match t.tag() {
        Some(b) => b,
        None => 0,
    }
}

const MAP_TAG: u8 = tag(Type::Map);
const SEQ_TAG: u8 = tag(Type::Seq);

/// The descriptors of one serialization, deduplicated in order of first appearance.
#[derive(Default)]
pub(crate) struct FdList {
    /// `fds[i]` is the descriptor written as index `i`.
    pub(crate) fds: Vec<Fd>,
    index: HashMap<c_int, u32>,
}

impl FdList {
    /// The index of `fd`, appending it if it is new.
    fn index_of(&mut self, fd: c_int) -> Result<u32, c_int> {
        if let Some(&i) = self.index.get(&fd) {
            return Ok(i);
        }
        // Fewer than 2^31 descriptors, so that the index is also a valid `Fd` number.
        let i = u32::try_from(self.fds.len())
            .ok()
            .filter(|&i| i <= i32::MAX as u32)
            .ok_or(libc::EMFILE)?;
        self.fds.push(Fd(fd));
        self.index.insert(fd, i);
        Ok(i)
    }
}

/// Encoded length and number of fd leaves of `ad`.
///
/// # Safety
/// `ad` must point to a live value whose referenced memory is valid.
pub(crate) unsafe fn length(ad: *const argdata_t) -> Result<(usize, usize), c_int> {
    // SAFETY: forwarded from the caller.
    unsafe { measure(ad, MAX_DEPTH, &mut Vec::new()) }
}

/// The encoding of `ad`. With `list`, fd leaves are renumbered into it; without, leaves
/// built in memory hold their descriptor numbers and buffers are copied verbatim.
///
/// # Safety
/// As [`length`].
pub(crate) unsafe fn serialize(
    ad: *const argdata_t,
    list: Option<&mut FdList>,
) -> Result<Vec<u8>, c_int> {
    let mut sizes = Vec::new();
    // SAFETY: forwarded from the caller.
    let (len, _) = unsafe { measure(ad, MAX_DEPTH, &mut sizes) }?;
    let mut w = Writer {
        out: Vec::with_capacity(len),
        sizes: &sizes,
        next: 0,
        list,
    };
    // SAFETY: forwarded from the caller.
    unsafe { w.value(ad) }?;
    debug_assert_eq!(w.out.len(), len);
    Ok(w.out)
}

/// A leaf built in memory as an owned value; `None` for buffers and containers.
///
/// # Safety
/// The pointers inside `node` must be valid as their creator promised.
unsafe fn leaf(node: &Node) -> Result<Option<Value>, c_int> {
    Ok(Some(match *node {
        Node::Buffer(_) | Node::Map(..) | Node::Seq(..) => return Ok(None),
        // SAFETY: valid per the caller of argdata_create_binary.
        Node::Binary(p, n) => Value::Binary(unsafe { slice(p, n) }.to_vec()),
        Node::Bool(b) => Value::Bool(b),
        Node::Fd(fd) => Value::Fd(Fd(fd)),
        Node::Float(f) => Value::Float(f),
        Node::IntS(v) => Value::Int(i128::from(v)),
        Node::IntU(v) => Value::Int(i128::from(v)),
        Node::Str(p, n) => {
            // SAFETY: valid per the caller of argdata_create_str.
            let bytes = unsafe { slice(p, n) };
            Value::Str(
                std::str::from_utf8(bytes)
                    .map_err(|_| libc::EILSEQ)?
                    .to_owned(),
            )
        }
        Node::Timestamp(s, ns) => {
            Value::Timestamp(Timestamp::from_parts(s, ns).ok_or(libc::EINVAL)?)
        }
        Node::Null => Value::Null,
    }))
}

/// The children of a memory-built container, keys and values interleaved for maps.
///
/// # Safety
/// The arrays inside `node` must hold the promised number of valid pointers.
unsafe fn children(node: &Node) -> Option<impl Iterator<Item = *const argdata_t>> {
    let (first, second, n) = match *node {
        Node::Map(keys, values, n) => (keys, Some(values), n),
        Node::Seq(items, n) => (items, None, n),
        _ => return None,
    };
    Some((0..n).flat_map(move |i| {
        // SAFETY: both arrays hold `n` valid pointers per the caller of
        // argdata_create_map / argdata_create_seq.
        let a = unsafe { *first.add(i) };
        // SAFETY: as above.
        let b = second.map(|s| unsafe { *s.add(i) });
        std::iter::once(a).chain(b)
    }))
}

/// Length and fd-leaf count of `ad`, appending the size of every memory-built container
/// (in pre-order) to `sizes`.
///
/// # Safety
/// `ad` must point to a live value whose referenced memory is valid.
unsafe fn measure(
    ad: *const argdata_t,
    depth: usize,
    sizes: &mut Vec<usize>,
) -> Result<(usize, usize), c_int> {
    // SAFETY: forwarded from the caller.
    let node = unsafe { node(ad) };
    if let Node::Buffer(b) = *node {
        // SAFETY: the buffer is valid per the caller of argdata_from_buffer.
        return Ok((b.len, unsafe { b.view() }.fd_leaves().count()));
    }
    if let Node::Fd(_) = *node {
        return Ok((Value::Fd(Fd(0)).serialized_len(), 1));
    }
    // SAFETY: forwarded from the caller.
    let Some(items) = (unsafe { children(node) }) else {
        // SAFETY: forwarded from the caller.
        let v = unsafe { leaf(node) }?;
        return Ok((v.map_or(0, |v| v.serialized_len()), 0));
    };
    let inner = depth.checked_sub(1).ok_or(libc::EINVAL)?;
    let slot = sizes.len();
    sizes.push(0);
    let (mut len, mut fds) = (1usize, 0usize);
    for child in items {
        // SAFETY: the children of a live container are live values.
        let (l, f) = unsafe { measure(child, inner, sizes) }?;
        len = len
            .checked_add(argdata::subfield_size(l))
            .ok_or(libc::ERANGE)?;
        fds += f;
    }
    sizes[slot] = len;
    Ok((len, fds))
}

/// The second walk: writes what [`measure`] measured.
struct Writer<'s, 'l> {
    out: Vec<u8>,
    /// Sizes of the memory-built containers, in pre-order, and the next one's position.
    sizes: &'s [usize],
    next: usize,
    list: Option<&'l mut FdList>,
}

impl Writer<'_, '_> {
    /// Writes `ad`.
    ///
    /// # Safety
    /// As [`measure`], on the same tree.
    unsafe fn value(&mut self, ad: *const argdata_t) -> Result<(), c_int> {
        // SAFETY: forwarded from the caller.
        let node = unsafe { node(ad) };
        match *node {
            // SAFETY: forwarded from the caller.
            Node::Buffer(b) => unsafe { self.buffer(&b) },
            Node::Fd(fd) => self.fd(fd),
            Node::Map(..) | Node::Seq(..) => {
                self.next += 1;
                self.out.push(if matches!(node, Node::Map(..)) {
                    MAP_TAG
                } else {
                    SEQ_TAG
                });
                // SAFETY: forwarded from the caller.
                for child in unsafe { children(node) }.into_iter().flatten() {
                    // SAFETY: the children of a live container are live values.
                    let len = unsafe { self.len_of(child) }?;
                    argdata::push_subfield_len(&mut self.out, len);
                    // SAFETY: as above.
                    unsafe { self.value(child) }?;
                }
                Ok(())
            }
            _ => {
                // SAFETY: forwarded from the caller.
                if let Some(v) = unsafe { leaf(node) }? {
                    v.encode_raw_fds_into(&mut self.out)
                        .map_err(|e| e.errno().linux())?;
                }
                Ok(())
            }
        }
    }

    /// The length [`measure`] found for `ad`, which is written next.
    ///
    /// # Safety
    /// As [`Writer::value`].
    unsafe fn len_of(&self, ad: *const argdata_t) -> Result<usize, c_int> {
        // SAFETY: forwarded from the caller.
        let node = unsafe { node(ad) };
        Ok(match *node {
            Node::Buffer(b) => b.len,
            Node::Fd(_) => Value::Fd(Fd(0)).serialized_len(),
            Node::Map(..) | Node::Seq(..) => *self.sizes.get(self.next).ok_or(libc::EINVAL)?,
            // SAFETY: forwarded from the caller.
            _ => unsafe { leaf(node) }?.map_or(0, |v| v.serialized_len()),
        })
    }

    fn fd(&mut self, fd: c_int) -> Result<(), c_int> {
        let number = match self.list.as_deref_mut() {
            // `index_of` keeps indices below 2^31.
            Some(list) => list.index_of(fd)? as i32,
            None => fd,
        };
        Value::Fd(Fd(number))
            .encode_raw_fds_into(&mut self.out)
            .map_err(|_| libc::EBADF)
    }

    /// Copies a buffer-backed value, renumbering its fd leaves if there is a list.
    ///
    /// # Safety
    /// The buffer must be valid as the caller of `argdata_from_buffer` promised.
    unsafe fn buffer(&mut self, b: &Buf) -> Result<(), c_int> {
        // SAFETY: guaranteed by the caller.
        let view = unsafe { b.view() };
        let Some(list) = self.list.as_deref_mut() else {
            self.out.extend_from_slice(view.as_bytes());
            return Ok(());
        };
        let mut failed = None;
        view.copy_with_fds(&mut self.out, |index| match b.convert_fd(index) {
            Some(fd) => list.index_of(fd).unwrap_or_else(|e| {
                failed = Some(e);
                INVALID_FD_INDEX
            }),
            None => INVALID_FD_INDEX,
        });
        failed.map_or(Ok(()), Err)
    }
}
