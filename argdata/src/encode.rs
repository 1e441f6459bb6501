//! The encoder: [`Value`] to bytes plus an fd list (feature `alloc`).
//!
//! The output is the canonical form the reference library produces: shortest integers
//! and shortest subfield lengths.
//!
//! Encoding into a `Vec` is one pass over the tree. A map or sequence inside another is
//! written after a one-byte placeholder for its length; once its contents are written the
//! length is known, and in the rare case that it needs more than one byte (contents of 128
//! bytes or more) the contents are moved up to make room. Moving costs time proportional
//! to the size of such large nested containers per level, so below [`PATCH_DEPTH`]
//! levels the encoder switches to measuring a subtree first (a second walk over it, with
//! the sizes of its containers kept in one side vector) and then writing it straight.
//! Either way there is no allocation per node.
#![forbid(unsafe_code)]

use alloc::vec::Vec;

use crate::error::{Error, ErrorKind, Result};
use crate::fd::Fd;
use crate::int;
use crate::reader::Argdata;
use crate::value::Value;

/// Nesting level from which subtrees are measured before they are written instead of
/// being patched afterwards; bounds the moving cost to this many moves per byte.
const PATCH_DEPTH: usize = 8;

/// Longest text whose whole field fits the 16 bytes of one [`gather`] word;
/// longer text is copied (two words for up to 29 bytes measured no faster).
const SHORT_STR: usize = 13;

/// The bytes of `s` (at most 16) as a little-endian word, zero above `s.len()`.
///
/// Gathered with at most three fixed-size loads whose overlaps hold the same bytes, so
/// OR-ing them together needs no variable-length copy (a `memcpy` call costs more than
/// the whole field for the keys and short text that make up most configurations).
#[inline(always)]
fn gather(s: &[u8]) -> u128 {
    let n = s.len();
    if n >= 8 {
        let lo = u64::from_le_bytes(s[..8].try_into().unwrap_or_default());
        let hi = u64::from_le_bytes(s[n - 8..].try_into().unwrap_or_default());
        u128::from(lo) | (u128::from(hi) << (8 * (n - 8)))
    } else if n >= 4 {
        let lo = u32::from_le_bytes(s[..4].try_into().unwrap_or_default());
        let hi = u32::from_le_bytes(s[n - 4..].try_into().unwrap_or_default());
        u128::from(lo) | (u128::from(hi) << (8 * (n - 4)))
    } else if n > 0 {
        u128::from(s[0])
            | (u128::from(s[n / 2]) << (8 * (n / 2)))
            | (u128::from(s[n - 1]) << (8 * (n - 1)))
    } else {
        0
    }
}

/// Length byte and tag of a text field of `n` bytes (`n` below 126), as the low two bytes
/// of a little-endian word.
#[inline(always)]
fn str_head(n: usize) -> u128 {
    u128::from((n as u8 + 2) | 0x80) | (8 << 8)
}

/// Encoded bytes together with the fd list their fd leaves index into.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Encoded {
    /// The encoded value.
    pub bytes: Vec<u8>,
    /// Descriptors, deduplicated, in order of first appearance (depth first, keys before
    /// values); an fd leaf with index `i` stands for `fds[i]`.
    pub fds: Vec<Fd>,
}

impl Encoded {
    /// A reader view of the bytes.
    #[must_use]
    pub fn argdata(&self) -> Argdata<'_> {
        Argdata::new(&self.bytes)
    }
}

/// Size of the length prefix of a subfield of `len` bytes.
#[inline]
const fn prefix_len(len: usize) -> usize {
    if len < 0x80 {
        1
    } else {
        (usize::BITS - len.leading_zeros()).div_ceil(7) as usize
    }
}

/// The length prefix for `len`: big-endian groups of 7 bits, the last one flagged with
/// the high bit. Returns the buffer and how many of its bytes are used (from the start).
#[inline]
fn prefix_bytes(len: usize) -> ([u8; 10], usize) {
    let n = prefix_len(len);
    let mut b = [0u8; 10];
    for (i, slot) in b[..n].iter_mut().enumerate() {
        *slot = ((len >> (7 * (n - 1 - i))) & 0x7f) as u8;
    }
    b[n - 1] |= 0x80;
    (b, n)
}

/// Bytes a value of `len` encoded bytes takes as a subfield of a map or sequence: its
/// length prefix (the shortest one, the only valid one) plus the value itself.
///
/// For code that assembles encodings from pieces, together with [`push_subfield_len`].
///
/// ```
/// assert_eq!(argdata::subfield_size(5), 6);
/// assert_eq!(argdata::subfield_size(128), 130);
/// ```
#[must_use]
pub const fn subfield_size(len: usize) -> usize {
    prefix_len(len) + len
}

/// Appends the length prefix of a subfield of `len` bytes to `out`; the value's bytes
/// must follow.
///
/// ```
/// let mut out = vec![];
/// argdata::push_subfield_len(&mut out, 128);
/// assert_eq!(out, [0x01, 0x80]);
/// ```
pub fn push_subfield_len(out: &mut Vec<u8>, len: usize) {
    let (b, n) = prefix_bytes(len);
    out.extend_from_slice(&b[..n]);
}

/// Encoded size of a leaf (containers are measured by `measure`).
#[inline]
fn leaf_len(v: &Value) -> usize {
    match v {
        Value::Null | Value::Map(_) | Value::Seq(_) => 0,
        Value::Binary(b) => 1 + b.len(),
        Value::Bool(b) => 1 + usize::from(*b),
        Value::Fd(_) => 5,
        Value::Float(_) => 9,
        Value::Int(i) => 1 + int::encoded_len(*i),
        Value::Str(s) => 2 + s.len(),
        Value::Timestamp(t) => 1 + int::encoded_len(t.as_nanos()),
    }
}

/// Encoded size of `v`, recording container sizes in pre-order into `sizes` if given.
fn measure(v: &Value, sizes: &mut Option<&mut Vec<usize>>) -> usize {
    let slot = match v {
        Value::Map(_) | Value::Seq(_) => sizes.as_mut().map(|s| {
            s.push(0);
            s.len() - 1
        }),
        leaf => return leaf_len(leaf),
    };
    let mut total = 1;
    match v {
        Value::Map(entries) => {
            for (k, v) in entries {
                total += measure_field(k, sizes) + measure_field(v, sizes);
            }
        }
        Value::Seq(items) => {
            for item in items {
                total += measure_field(item, sizes);
            }
        }
        _ => {}
    }
    if let (Some(s), Some(slot)) = (sizes.as_mut(), slot) {
        s[slot] = total;
    }
    total
}

/// Encoded size of `v` as a subfield (length prefix included); recurses only into
/// containers.
#[inline(always)]
fn measure_field(v: &Value, sizes: &mut Option<&mut Vec<usize>>) -> usize {
    let n = match v {
        Value::Map(_) | Value::Seq(_) => measure(v, sizes),
        leaf => leaf_len(leaf),
    };
    prefix_len(n) + n
}

/// Assigns wire indices to descriptors.
trait FdIndex {
    fn index(&mut self, fd: Fd) -> u32;
}

/// Writes fd numbers themselves; remembers whether a negative one was seen.
struct RawFds {
    negative: bool,
}

impl FdIndex for RawFds {
    fn index(&mut self, fd: Fd) -> u32 {
        u32::try_from(fd.0).unwrap_or_else(|_| {
            self.negative = true;
            0
        })
    }
}

/// Linear search is fastest for the few descriptors a configuration usually holds; past
/// this many a sorted index is kept as well.
const LINEAR_FDS: usize = 16;

/// Deduplicates descriptors into a list, numbering them by first appearance.
struct Renumber<'f> {
    list: &'f mut Vec<Fd>,
    /// `(fd, index)` sorted by fd, only once `list` outgrows [`LINEAR_FDS`].
    sorted: Vec<(Fd, u32)>,
}

fn index_u32(i: usize) -> u32 {
    u32::try_from(i).unwrap_or(u32::MAX)
}

impl<'f> Renumber<'f> {
    fn new(list: &'f mut Vec<Fd>) -> Self {
        let mut r = Renumber {
            list,
            sorted: Vec::new(),
        };
        if r.list.len() > LINEAR_FDS {
            r.build_index();
        }
        r
    }

    fn build_index(&mut self) {
        self.sorted = self
            .list
            .iter()
            .enumerate()
            .map(|(i, &fd)| (fd, index_u32(i)))
            .collect();
        // Ties are ordered by index, so deduplication keeps the first appearance.
        self.sorted.sort_unstable();
        self.sorted.dedup_by_key(|e| e.0);
    }
}

impl FdIndex for Renumber<'_> {
    fn index(&mut self, fd: Fd) -> u32 {
        if self.sorted.is_empty() {
            if let Some(i) = self.list.iter().position(|&f| f == fd) {
                return index_u32(i);
            }
            self.list.push(fd);
            if self.list.len() > LINEAR_FDS {
                self.build_index();
            }
            return index_u32(self.list.len() - 1);
        }
        match self.sorted.binary_search_by_key(&fd, |e| e.0) {
            Ok(pos) => self.sorted[pos].1,
            Err(pos) => {
                let i = index_u32(self.list.len());
                self.list.push(fd);
                self.sorted.insert(pos, (fd, i));
                i
            }
        }
    }
}

/// Where the encoder writes: a growing `Vec`, or a slice known to be large enough.
trait Out {
    fn pos(&self) -> usize;
    fn put(&mut self, bytes: &[u8]);
    /// Writes the first `n` bytes of `bytes`. A fixed-size source lets a `Vec` copy all
    /// `N` bytes and cut back, instead of a variable-length copy per small leaf.
    fn put_head<const N: usize>(&mut self, bytes: &[u8; N], n: usize);
    /// Writes `head`, then `body`, then `last`.
    fn put_framed(&mut self, head: [u8; 2], body: &[u8], last: u8);
    fn byte(&mut self, b: u8);
    /// Extends the output by `n` zero bytes.
    fn grow(&mut self, n: usize);
    /// The whole output written so far.
    fn written(&mut self) -> &mut [u8];
}

impl Out for Vec<u8> {
    #[inline]
    fn pos(&self) -> usize {
        self.len()
    }
    #[inline]
    fn put(&mut self, bytes: &[u8]) {
        self.extend_from_slice(bytes);
    }
    #[inline]
    fn put_head<const N: usize>(&mut self, bytes: &[u8; N], n: usize) {
        let end = self.len() + n;
        self.extend_from_slice(bytes);
        self.truncate(end);
    }
    #[inline]
    fn put_framed(&mut self, head: [u8; 2], body: &[u8], last: u8) {
        // One capacity check for the whole field.
        self.reserve(body.len() + 3);
        self.extend_from_slice(&head);
        self.extend_from_slice(body);
        self.push(last);
    }
    #[inline]
    fn byte(&mut self, b: u8) {
        self.push(b);
    }
    fn grow(&mut self, n: usize) {
        self.resize(self.len() + n, 0);
    }
    fn written(&mut self) -> &mut [u8] {
        self
    }
}

/// A slice of exactly the encoded size (checked before writing starts).
struct SliceOut<'o> {
    buf: &'o mut [u8],
    pos: usize,
}

impl Out for SliceOut<'_> {
    #[inline]
    fn pos(&self) -> usize {
        self.pos
    }
    #[inline]
    fn put(&mut self, bytes: &[u8]) {
        let end = self.pos + bytes.len();
        self.buf[self.pos..end].copy_from_slice(bytes);
        self.pos = end;
    }
    #[inline]
    fn put_head<const N: usize>(&mut self, bytes: &[u8; N], n: usize) {
        self.put(&bytes[..n]);
    }
    #[inline]
    fn put_framed(&mut self, head: [u8; 2], body: &[u8], last: u8) {
        self.put(&head);
        self.put(body);
        self.byte(last);
    }
    #[inline]
    fn byte(&mut self, b: u8) {
        self.buf[self.pos] = b;
        self.pos += 1;
    }
    fn grow(&mut self, n: usize) {
        self.buf[self.pos..self.pos + n].fill(0);
        self.pos += n;
    }
    fn written(&mut self) -> &mut [u8] {
        &mut self.buf[..self.pos]
    }
}

/// Container sizes of a measured subtree, consumed in pre-order.
struct Known {
    sizes: Vec<usize>,
    next: usize,
}

struct Encoder<O, F> {
    out: O,
    fds: F,
    known: Option<Known>,
}

impl<O: Out, F: FdIndex> Encoder<O, F> {
    #[inline]
    fn length(&mut self, len: usize) {
        if len < 0x80 {
            self.out.byte(len as u8 | 0x80);
        } else {
            let (b, n) = prefix_bytes(len);
            self.out.put(&b[..n]);
        }
    }

    #[inline]
    fn int(&mut self, tag: u8, v: i128) {
        let (bytes, n) = int::encode(v);
        self.out.byte(tag);
        self.out.put(&bytes[16 - n..]);
    }

    /// Writes an int or timestamp leaf as a subfield: length byte, tag and the shortest
    /// payload (at most 16 bytes, so the length always takes one byte) in one write.
    #[inline(always)]
    fn int_field(&mut self, tag: u8, v: i128) {
        if let Ok(small) = i64::try_from(v) {
            // Common case: 64-bit arithmetic and a 10-byte scratch array.
            let n = int::encoded_len_i64(small);
            let mut b = [0u8; 10];
            b[0] = (n as u8 + 1) | 0x80;
            b[1] = tag;
            b[2..].copy_from_slice(&int::encode_i64_front(small, n));
            self.out.put_head(&b, n + 2);
            return;
        }
        let n = int::encoded_len(v);
        let mut b = [0u8; 18];
        b[0] = (n as u8 + 1) | 0x80;
        b[1] = tag;
        if n > 0 {
            // Move the significant bytes to the front.
            b[2..].copy_from_slice(&(v << (8 * (16 - n))).to_be_bytes());
        }
        self.out.put_head(&b, n + 2);
    }

    /// Writes `v` as a subfield of a container at nesting level `depth`.
    #[inline(always)]
    fn field(&mut self, v: &Value, depth: usize) {
        match v {
            Value::Map(_) | Value::Seq(_) => self.container_field(v, depth),
            Value::Int(i) => self.int_field(5, *i),
            Value::Timestamp(t) => self.int_field(9, t.as_nanos()),
            // Fixed-size leaves: each one write of a constant-size array.
            Value::Null => self.out.byte(0x80),
            Value::Bool(b) => {
                let b = u8::from(*b);
                self.out.put_head(&[0x81 + b, 2, 1], 2 + usize::from(b));
            }
            Value::Float(f) => {
                let mut b = [0x89, 4, 0, 0, 0, 0, 0, 0, 0, 0];
                b[2..].copy_from_slice(&f.to_be_bytes());
                self.out.put(&b);
            }
            Value::Str(s) if s.len() <= SHORT_STR => {
                // Keys and short text: the whole field (length byte, tag, text, NUL) in
                // one word, written as one fixed-size store.
                let n = s.len();
                let field = str_head(n) | (gather(s.as_bytes()) << 16);
                self.out.put_head(&field.to_le_bytes(), n + 3);
            }
            Value::Str(s) if s.len() < 0x80 - 2 => {
                // Length byte and tag, text, NUL: the length takes one byte.
                self.out
                    .put_framed([(s.len() as u8 + 2) | 0x80, 8], s.as_bytes(), 0);
            }
            leaf => {
                self.length(leaf_len(leaf));
                self.leaf(leaf);
            }
        }
    }

    fn container_field(&mut self, v: &Value, depth: usize) {
        if let Some(known) = &self.known {
            let len = known.sizes[known.next];
            self.length(len);
            self.value(v, depth);
        } else if depth >= PATCH_DEPTH {
            let mut sizes = Vec::new();
            let len = measure(v, &mut Some(&mut sizes));
            self.length(len);
            self.known = Some(Known { sizes, next: 0 });
            self.value(v, depth);
            self.known = None;
        } else {
            // Placeholder for a one-byte length, patched once the size is known.
            let at = self.out.pos();
            self.out.byte(0);
            self.value(v, depth);
            let len = self.out.pos() - at - 1;
            if len < 0x80 {
                self.out.written()[at] = len as u8 | 0x80;
            } else {
                let (b, n) = prefix_bytes(len);
                self.out.grow(n - 1);
                let buf = self.out.written();
                buf.copy_within(at + 1..at + 1 + len, at + n);
                buf[at..at + n].copy_from_slice(&b[..n]);
            }
        }
    }

    fn value(&mut self, v: &Value, depth: usize) {
        match v {
            Value::Map(entries) => {
                if let Some(known) = &mut self.known {
                    known.next += 1;
                }
                self.out.byte(6);
                for (k, v) in entries {
                    self.field(k, depth + 1);
                    self.field(v, depth + 1);
                }
            }
            Value::Seq(items) => {
                if let Some(known) = &mut self.known {
                    known.next += 1;
                }
                self.out.byte(7);
                for item in items {
                    self.field(item, depth + 1);
                }
            }
            leaf => self.leaf(leaf),
        }
    }

    #[inline(always)]
    fn leaf(&mut self, v: &Value) {
        match v {
            Value::Null | Value::Map(_) | Value::Seq(_) => {}
            Value::Binary(b) => {
                self.out.byte(1);
                self.out.put(b);
            }
            Value::Bool(b) => {
                self.out.byte(2);
                if *b {
                    self.out.byte(1);
                }
            }
            Value::Fd(fd) => {
                let index = self.fds.index(*fd);
                self.out.byte(3);
                self.out.put(&index.to_be_bytes());
            }
            Value::Float(f) => {
                self.out.byte(4);
                self.out.put(&f.to_be_bytes());
            }
            Value::Int(i) => self.int(5, *i),
            Value::Str(s) => {
                self.out.byte(8);
                self.out.put(s.as_bytes());
                self.out.byte(0);
            }
            Value::Timestamp(t) => self.int(9, t.as_nanos()),
        }
    }
}

fn encode_with<O: Out, F: FdIndex>(v: &Value, out: O, fds: F) -> Encoder<O, F> {
    let mut e = Encoder {
        out,
        fds,
        known: None,
    };
    e.value(v, 0);
    e
}

impl Value {
    /// Number of bytes [`Value::encode`] produces for this value.
    #[must_use]
    pub fn serialized_len(&self) -> usize {
        measure(self, &mut None)
    }

    /// Encodes the value. Fd leaves are renumbered: descriptors are deduplicated and
    /// numbered in order of first appearance (depth first, keys before values), and the
    /// bytes hold indices into [`Encoded::fds`].
    ///
    /// ```
    /// use argdata::{Fd, Value};
    /// let v = Value::seq([Fd(9), Fd(4), Fd(9)]);
    /// let e = v.encode();
    /// assert_eq!(e.fds, [Fd(9), Fd(4)]);
    /// assert_eq!(e.argdata().seq().unwrap().map(|x| x.unwrap().as_fd_index().unwrap())
    ///     .collect::<Vec<_>>(), [0, 1, 0]);
    /// ```
    #[must_use]
    pub fn encode(&self) -> Encoded {
        let mut e = Encoded::default();
        self.encode_into(&mut e.bytes, &mut e.fds);
        e
    }

    /// Appends the encoding to `out`. Descriptors are looked up in, and new ones appended
    /// to, `fds`, so several values can share one fd list.
    pub fn encode_into(&self, out: &mut Vec<u8>, fds: &mut Vec<Fd>) {
        encode_with(self, out, Renumber::new(fds));
    }

    /// Writes the encoding to the start of `out` and returns its length; fds as in
    /// [`Value::encode_into`]. Allocates nothing unless new fds are appended (or the tree
    /// nests deeper than a few levels, see the module notes).
    ///
    /// # Errors
    /// [`ErrorKind::BufferTooSmall`] if `out` is shorter than [`Value::serialized_len`];
    /// `out` and `fds` are then left untouched.
    pub fn encode_to_slice(&self, out: &mut [u8], fds: &mut Vec<Fd>) -> Result<usize> {
        let total = self.serialized_len();
        let buf = out
            .get_mut(..total)
            .ok_or(Error::new(ErrorKind::BufferTooSmall { needed: total }))?;
        let e = encode_with(self, SliceOut { buf, pos: 0 }, Renumber::new(fds));
        debug_assert_eq!(e.out.pos, total);
        Ok(total)
    }

    /// Appends the encoding to `out` with every fd leaf holding the descriptor number
    /// itself, without an fd list (for `--argdata FILE`-style input, where the leaves name
    /// descriptors the reader already holds).
    ///
    /// # Errors
    /// [`ErrorKind::BadFd`] if an fd is negative; `out` is then left as it was.
    pub fn encode_raw_fds_into(&self, out: &mut Vec<u8>) -> Result<()> {
        let start = out.len();
        let e = encode_with(self, &mut *out, RawFds { negative: false });
        if e.fds.negative {
            out.truncate(start);
            return Err(Error::new(ErrorKind::BadFd));
        }
        Ok(())
    }
}

impl<O: Out + ?Sized> Out for &mut O {
    #[inline]
    fn pos(&self) -> usize {
        (**self).pos()
    }
    #[inline]
    fn put(&mut self, bytes: &[u8]) {
        (**self).put(bytes);
    }
    #[inline]
    fn put_head<const N: usize>(&mut self, bytes: &[u8; N], n: usize) {
        (**self).put_head(bytes, n);
    }
    #[inline]
    fn put_framed(&mut self, head: [u8; 2], body: &[u8], last: u8) {
        (**self).put_framed(head, body, last);
    }
    #[inline]
    fn byte(&mut self, b: u8) {
        (**self).byte(b);
    }
    fn grow(&mut self, n: usize) {
        (**self).grow(n);
    }
    fn written(&mut self) -> &mut [u8] {
        (**self).written()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefixes() {
        for (len, want) in [
            (0usize, &[0x80][..]),
            (127, &[0xff]),
            (128, &[0x01, 0x80]),
            (16383, &[0x7f, 0xff]),
            (16384, &[0x01, 0x00, 0x80]),
            (
                usize::MAX,
                &[0x01, 0x7f, 0x7f, 0x7f, 0x7f, 0x7f, 0x7f, 0x7f, 0x7f, 0xff],
            ),
        ] {
            let (b, n) = prefix_bytes(len);
            assert_eq!(&b[..n], want, "{len}");
            assert_eq!(prefix_len(len), n);
        }
    }

    #[test]
    fn i64_fast_path_matches_wide_encoding() {
        let mut values = alloc::vec![0i64, 1, -1, 127, 128, -128, -129, i64::MAX, i64::MIN];
        for shift in 0..64 {
            let p = 1i64 << shift;
            values.extend([
                p,
                p.wrapping_sub(1),
                p.wrapping_neg(),
                !p,
                p ^ 0x5a5a_5a5a_5a5a_5a5a,
            ]);
        }
        for v in values {
            let n = int::encoded_len_i64(v);
            assert_eq!(n, int::encoded_len(i128::from(v)), "{v}");
            let (wide, wide_n) = int::encode(i128::from(v));
            let front = int::encode_i64_front(v, n);
            assert_eq!(front[..n], wide[16 - wide_n..], "{v}");
            assert!(front[n..].iter().all(|&b| b == 0), "{v}");
        }
    }

    #[test]
    fn short_text_fields_match_the_layout() {
        let text = "0123456789abcdefghijklmnopqrstuvwxyz";
        for n in 0..=text.len() {
            let s = &text[..n];
            let got = Value::seq([s]).encode().bytes;
            let mut want = alloc::vec![7, (n as u8 + 2) | 0x80, 8];
            want.extend_from_slice(s.as_bytes());
            want.push(0);
            assert_eq!(got, want, "{n}");
            let g = gather(&s.as_bytes()[..n.min(16)]).to_le_bytes();
            assert_eq!(g[..n.min(16)], s.as_bytes()[..n.min(16)], "{n}");
            assert!(g[n.min(16)..].iter().all(|&b| b == 0), "{n}");
        }
    }

    #[test]
    fn fixed_size_leaf_fields() {
        let v = Value::seq([
            Value::Null,
            Value::Bool(false),
            Value::Bool(true),
            Value::Float(1.5),
        ]);
        let mut want = alloc::vec![7, 0x80, 0x81, 2, 0x82, 2, 1, 0x89, 4];
        want.extend_from_slice(&1.5f64.to_be_bytes());
        assert_eq!(v.encode().bytes, want);
        assert_eq!(v.serialized_len(), want.len());
    }

    #[test]
    fn int_lengths() {
        for (v, n) in [
            (0i128, 0usize),
            (1, 1),
            (-1, 1),
            (127, 1),
            (128, 2),
            (-128, 1),
            (-129, 2),
            (i128::MAX, 16),
            (i128::MIN, 16),
        ] {
            assert_eq!(int::encoded_len(v), n, "{v}");
        }
    }
}
