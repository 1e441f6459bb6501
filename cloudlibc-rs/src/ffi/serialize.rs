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
//! As in the reference, a map or sequence measures itself once, when it is made
//! ([`Shape::of_children`]): its encoded length, how deeply memory-built containers nest
//! below it, and whether any fd leaf or buffer lies below. The length of a leaf follows
//! from the leaf itself. So `argdata_serialized_length` costs nothing unless fd leaves
//! may have to be counted, and `argdata_serialize` is one walk that writes every length
//! prefix straight from the children's known lengths into the caller's buffer, without
//! allocating. Memory-built containers may nest at most [`MAX_DEPTH`] levels (`EINVAL`
//! beyond, found before anything is written); buffers are walked without recursion.

use std::collections::HashMap;
use std::ffi::c_int;

use argdata::{Fd, INVALID_FD_INDEX, MAX_DEPTH, Timestamp, Type, Value};

pub(crate) use crate::node::Shape;
use crate::node::slice;
use crate::node::{Buf, Node, argdata_t, node};

const fn tag(t: Type) -> u8 {
    match t.tag() {
        Some(b) => b,
        None => 0,
    }
}

const BINARY_TAG: u8 = tag(Type::Binary);
const BOOL_TAG: u8 = tag(Type::Bool);
const FD_TAG: u8 = tag(Type::Fd);
const FLOAT_TAG: u8 = tag(Type::Float);
const INT_TAG: u8 = tag(Type::Int);
const MAP_TAG: u8 = tag(Type::Map);
const SEQ_TAG: u8 = tag(Type::Seq);
const STR_TAG: u8 = tag(Type::Str);

/// The length recorded for a tree whose encoding would not fit in `usize` (possible by
/// referring to one large subtree many times); serializing it fails with `ERANGE`.
const TOO_LONG: usize = usize::MAX;

impl Shape {
    /// The shape of a leaf, a buffer, or a container (whose shape is stored).
    #[inline(always)]
    fn of(node: Node) -> Shape {
        let leaf = |len| Shape {
            len,
            depth: 0,
            fds: false,
        };
        match node {
            Node::Map(.., s) | Node::Seq(.., s) => s,
            Node::Buffer(b) => Shape {
                len: b.len,
                depth: 0,
                fds: true,
            },
            Node::Fd(_) => Shape {
                len: 5,
                depth: 0,
                fds: true,
            },
            Node::Binary(_, n) => leaf(n.checked_add(1).unwrap_or(TOO_LONG)),
            Node::Bool(b) => leaf(1 + usize::from(b)),
            Node::Float(_) => leaf(9),
            Node::IntS(v) => leaf(1 + int_s_len(v)),
            Node::IntU(v) => leaf(1 + int_u_len(v)),
            Node::Str(_, n) => leaf(n.checked_add(2).unwrap_or(TOO_LONG)),
            Node::Timestamp(s, ns) => leaf(
                Timestamp::from_parts(s, ns).map_or(0, |t| Value::Timestamp(t).serialized_len()),
            ),
            Node::Null => leaf(0),
        }
    }

    /// Counts `child` into the shape of the container being measured.
    ///
    /// # Safety
    /// `child` must point to a live value.
    #[inline(always)]
    unsafe fn add(&mut self, child: *const argdata_t) {
        // SAFETY: guaranteed by the caller.
        let s = Shape::of(unsafe { node(child) });
        self.len = field_len(s.len)
            .and_then(|l| self.len.checked_add(l))
            .unwrap_or(TOO_LONG);
        self.depth = self.depth.max(s.depth);
        self.fds |= s.fds;
    }

    /// The shape of a container holding the `n` values of `first` (interleaved with those
    /// of `second` for a map).
    ///
    /// # Safety
    /// `first` (and `second`, if given) must hold `n` pointers to live values.
    pub(crate) unsafe fn of_children(
        first: *const *const argdata_t,
        second: Option<*const *const argdata_t>,
        n: usize,
    ) -> Shape {
        let mut total = Shape {
            len: 1,
            depth: 0,
            fds: false,
        };
        for i in 0..n {
            // SAFETY: both arrays hold `n` pointers to live values per the caller.
            unsafe {
                total.add(*first.add(i));
                if let Some(second) = second {
                    total.add(*second.add(i));
                }
            }
        }
        total.depth = total.depth.saturating_add(1);
        total
    }
}

/// Bytes of the shortest two's complement encoding of `v` (none for 0).
#[inline]
fn int_s_len(v: i64) -> usize {
    if v == 0 {
        return 0;
    }
    // Magnitude bits of the value plus one sign bit.
    let m = if v < 0 { !v } else { v } as u64;
    (65 - m.leading_zeros() as usize).div_ceil(8)
}

/// Bytes of the shortest two's complement encoding of `v` (a leading zero byte when its
/// top bit is set, so 9 for values from 2^63).
#[inline]
fn int_u_len(v: u64) -> usize {
    if v == 0 {
        return 0;
    }
    (65 - v.leading_zeros() as usize).div_ceil(8)
}

/// Bytes of the length prefix of a subfield of `len` bytes.
#[inline]
fn prefix_len(len: usize) -> usize {
    if len < 0x80 {
        1
    } else {
        (usize::BITS - len.leading_zeros()).div_ceil(7) as usize
    }
}

/// A subfield's whole size (prefix and value), `None` if `len` is [`TOO_LONG`] or the sum
/// overflows.
#[inline]
fn field_len(len: usize) -> Option<usize> {
    if len == TOO_LONG {
        return None;
    }
    len.checked_add(prefix_len(len))
}

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

/// The encoded length of `ad`, or `EINVAL` if memory-built containers nest deeper than
/// [`MAX_DEPTH`], or `ERANGE` if the encoding would not fit in memory.
///
/// # Safety
/// `ad` must point to a live value.
unsafe fn checked_len(ad: *const argdata_t) -> Result<usize, c_int> {
    // SAFETY: forwarded from the caller.
    let shape = Shape::of(unsafe { node(ad) });
    if usize::from(shape.depth) > MAX_DEPTH {
        return Err(libc::EINVAL);
    }
    if shape.len == TOO_LONG {
        return Err(libc::ERANGE);
    }
    Ok(shape.len)
}

/// Encoded length and number of fd leaves of `ad`.
///
/// # Safety
/// `ad` must point to a live value whose referenced memory is valid.
pub(crate) unsafe fn length(ad: *const argdata_t) -> Result<(usize, usize), c_int> {
    // SAFETY: forwarded from the caller.
    let len = unsafe { checked_len(ad) }?;
    // SAFETY: as above; the depth was checked.
    Ok((len, unsafe { count_fds(ad) }))
}

/// The fd leaves below `ad`, counted the way the reference does.
///
/// # Safety
/// `ad` must point to a live value nesting at most [`MAX_DEPTH`] levels.
unsafe fn count_fds(ad: *const argdata_t) -> usize {
    // SAFETY: forwarded from the caller.
    let node = unsafe { node(ad) };
    match node {
        // SAFETY: the buffer is valid per the caller of argdata_from_buffer.
        Node::Buffer(b) => unsafe { b.view() }.fd_leaves().count(),
        Node::Fd(_) => 1,
        Node::Map(.., s) | Node::Seq(.., s) if !s.fds => 0,
        Node::Map(keys, values, n, _) => (0..n)
            // SAFETY: both arrays hold `n` live values per argdata_create_map's caller,
            // and they nest less deeply than `ad`.
            .map(|i| unsafe { count_fds(*keys.add(i)) + count_fds(*values.add(i)) })
            .sum(),
        Node::Seq(items, n, _) => (0..n)
            // SAFETY: as above, per argdata_create_seq's caller.
            .map(|i| unsafe { count_fds(*items.add(i)) })
            .sum(),
        _ => 0,
    }
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
    // SAFETY: forwarded from the caller.
    let len = unsafe { checked_len(ad) }?;
    let mut out = vec![0; len];
    let mut w = Writer {
        out: &mut out,
        pos: 0,
        list,
    };
    // SAFETY: forwarded from the caller; the depth was checked.
    unsafe { w.value(ad, MAX_DEPTH) }?;
    debug_assert_eq!(w.pos, len);
    Ok(out)
}

/// Writes the encoding of `ad` to `buf` (see [`serialize`]); nothing is written if the
/// tree nests too deeply or is too long.
///
/// # Safety
/// As [`length`]; `buf` must be valid for writes of the length [`length`] reports.
pub(crate) unsafe fn serialize_into(
    ad: *const argdata_t,
    buf: *mut u8,
    list: Option<&mut FdList>,
) -> Result<(), c_int> {
    // SAFETY: forwarded from the caller.
    let len = unsafe { checked_len(ad) }?;
    let out: &mut [u8] = if len == 0 {
        &mut []
    } else {
        // SAFETY: `buf` is valid for `len` bytes of writes per the caller.
        unsafe { std::slice::from_raw_parts_mut(buf, len) }
    };
    let mut w = Writer { out, pos: 0, list };
    // SAFETY: forwarded from the caller; the depth was checked.
    unsafe { w.value(ad, MAX_DEPTH) }
}

/// The walk that writes: every value's length is known before it is written, so each
/// length prefix goes straight into place.
struct Writer<'o, 'l> {
    out: &'o mut [u8],
    pos: usize,
    list: Option<&'l mut FdList>,
}

impl Writer<'_, '_> {
    /// Appends `bytes`; `EINVAL` if they do not fit (which a value changed against its
    /// creator's promise could cause).
    #[inline(always)]
    fn put(&mut self, bytes: &[u8]) -> Result<(), c_int> {
        let end = self.pos + bytes.len();
        self.out
            .get_mut(self.pos..end)
            .ok_or(libc::EINVAL)?
            .copy_from_slice(bytes);
        self.pos = end;
        Ok(())
    }

    /// Appends the low `n` bytes of `v` (`n` at most 8), big-endian.
    #[inline(always)]
    fn put_low(&mut self, v: u64, n: usize) -> Result<(), c_int> {
        let bytes = v.to_be_bytes();
        match self.out.get_mut(self.pos..self.pos + 8) {
            // Room for a whole word: store all 8 bytes at once, shifted so that the
            // wanted ones come first (the rest is overwritten by what follows, or lies
            // beyond this value's end inside the buffer, which is written later).
            Some(dst) if n > 0 => {
                dst.copy_from_slice(&(v << (8 * (8 - n))).to_be_bytes());
                self.pos += n;
                Ok(())
            }
            _ => self.put(&bytes[8 - n..]),
        }
    }

    #[inline(always)]
    fn byte(&mut self, b: u8) -> Result<(), c_int> {
        *self.out.get_mut(self.pos).ok_or(libc::EINVAL)? = b;
        self.pos += 1;
        Ok(())
    }

    /// The length prefix of a subfield of `len` bytes: big-endian groups of seven bits,
    /// the last one marked by the top bit.
    #[inline(always)]
    fn prefix(&mut self, len: usize) -> Result<(), c_int> {
        if len < 0x80 {
            return self.byte(0x80 | len as u8);
        }
        let n = prefix_len(len);
        let mut b = [0u8; 10];
        for (i, slot) in b[..n].iter_mut().enumerate() {
            *slot = ((len >> (7 * (n - 1 - i))) & 0x7f) as u8;
        }
        b[n - 1] |= 0x80;
        self.put(&b[..n])
    }

    /// Writes a subfield: the length prefix of `child`, then `child`.
    ///
    /// # Safety
    /// As [`Writer::value`].
    #[inline(always)]
    unsafe fn field(&mut self, child: *const argdata_t, depth: usize) -> Result<(), c_int> {
        // SAFETY: forwarded from the caller.
        let node = unsafe { node(child) };
        self.prefix(Shape::of(node).len)?;
        match node {
            // SAFETY: forwarded from the caller.
            Node::Buffer(_) | Node::Map(..) | Node::Seq(..) => unsafe { self.node(node, depth) },
            // Leaves, the bulk of a large tree, are written here, in the container's loop.
            // SAFETY: forwarded from the caller.
            _ => unsafe { self.leaf(node) },
        }
    }

    /// Writes `ad`; `depth` is the number of container levels still allowed.
    ///
    /// # Safety
    /// `ad` must point to a live value whose referenced memory is valid.
    unsafe fn value(&mut self, ad: *const argdata_t, depth: usize) -> Result<(), c_int> {
        // SAFETY: forwarded from the caller.
        unsafe { self.node(node(ad), depth) }
    }

    /// Writes `node`, read from a live value (see [`Writer::value`]).
    ///
    /// # Safety
    /// As [`Writer::value`].
    unsafe fn node(&mut self, node: Node, depth: usize) -> Result<(), c_int> {
        match node {
            // SAFETY: forwarded from the caller.
            Node::Buffer(b) => unsafe { self.buffer(&b) },
            Node::Map(keys, values, n, _) => {
                let inner = depth.checked_sub(1).ok_or(libc::EINVAL)?;
                self.byte(MAP_TAG)?;
                for i in 0..n {
                    // SAFETY: both arrays hold `n` live values per argdata_create_map's
                    // caller.
                    unsafe {
                        self.field(*keys.add(i), inner)?;
                        self.field(*values.add(i), inner)?;
                    }
                }
                Ok(())
            }
            Node::Seq(items, n, _) => {
                let inner = depth.checked_sub(1).ok_or(libc::EINVAL)?;
                self.byte(SEQ_TAG)?;
                for i in 0..n {
                    // SAFETY: the array holds `n` live values per argdata_create_seq's
                    // caller.
                    unsafe { self.field(*items.add(i), inner) }?;
                }
                Ok(())
            }
            // SAFETY: forwarded from the caller.
            _ => unsafe { self.leaf(node) },
        }
    }

    /// Writes `node`, which is neither a container nor a buffer.
    ///
    /// # Safety
    /// As [`Writer::value`].
    #[inline(always)]
    unsafe fn leaf(&mut self, node: Node) -> Result<(), c_int> {
        match node {
            Node::Fd(fd) => {
                let number = match self.list.as_deref_mut() {
                    Some(list) => list.index_of(fd)?,
                    // Non-negative: argdata_create_fd refuses negative numbers.
                    None => fd as u32,
                };
                self.byte(FD_TAG)?;
                self.put(&number.to_be_bytes())
            }
            Node::IntS(v) => {
                let n = int_s_len(v);
                self.byte(INT_TAG)?;
                self.put_low(v as u64, n)
            }
            Node::IntU(v) => {
                let n = int_u_len(v);
                self.byte(INT_TAG)?;
                if n > 8 {
                    self.byte(0)?;
                }
                self.put_low(v, n.min(8))
            }
            Node::Str(p, n) => {
                self.byte(STR_TAG)?;
                // SAFETY: valid per the caller of argdata_create_str.
                self.put(unsafe { slice(p, n) })?;
                self.byte(0)
            }
            Node::Binary(p, n) => {
                self.byte(BINARY_TAG)?;
                // SAFETY: valid per the caller of argdata_create_binary.
                self.put(unsafe { slice(p, n) })
            }
            Node::Bool(b) => {
                self.byte(BOOL_TAG)?;
                if b { self.byte(1) } else { Ok(()) }
            }
            Node::Float(f) => {
                self.byte(FLOAT_TAG)?;
                self.put(&f.to_bits().to_be_bytes())
            }
            Node::Timestamp(s, ns) => {
                let t = Timestamp::from_parts(s, ns).ok_or(libc::EINVAL)?;
                let mut b = [0u8; 32];
                let n = Value::Timestamp(t)
                    .encode_to_slice(&mut b, &mut Vec::new())
                    .map_err(|_| libc::EINVAL)?;
                self.put(&b[..n])
            }
            Node::Null => Ok(()),
            // Callers route these to `Writer::node`; refusing them keeps the match total.
            Node::Buffer(_) | Node::Map(..) | Node::Seq(..) => Err(libc::EINVAL),
        }
    }

    /// Copies a buffer-backed value, renumbering its fd leaves if there is a list.
    ///
    /// # Safety
    /// The buffer must be valid as the caller of `argdata_from_buffer` promised.
    unsafe fn buffer(&mut self, b: &Buf) -> Result<(), c_int> {
        // SAFETY: guaranteed by the caller.
        let view = unsafe { b.view() };
        let Some(list) = self.list.as_deref_mut() else {
            return self.put(view.as_bytes());
        };
        let mut failed = None;
        let mut copy = Vec::with_capacity(b.len);
        view.copy_with_fds(&mut copy, |index| match b.convert_fd(index) {
            Some(fd) => list.index_of(fd).unwrap_or_else(|e| {
                failed = Some(e);
                INVALID_FD_INDEX
            }),
            None => INVALID_FD_INDEX,
        });
        if let Some(e) = failed {
            return Err(e);
        }
        self.put(&copy)
    }
}
