//! How an `argdata_t` is stored, and how it is read (both targets, `core` only).
//!
//! A C program that builds a large tree makes one node per leaf, and each node is written
//! when it is made, read when its container measures itself, read again when the tree is
//! serialized, and released when it is freed. With a million leaves that traffic, not
//! the encoding, is what the time goes to, so a node takes as little memory as its
//! contents need: one header word (the kind, plus any field that fits beside it) and
//! then only the words that kind uses. Leaves (integers, floats, strings, binaries,
//! descriptors, timestamps, booleans, null) are two words; containers and buffer-backed
//! values are five ([`argdata_t`] is that full size, so a value kept by value, in an
//! iterator or a static, can hold any kind). The host's pool (`ffi/pool.rs`) hands out
//! slots of either size, so a node pointer may refer to fewer bytes than `argdata_t` has:
//! nodes are therefore only ever read through [`node`], which reads the header first and
//! then only the words its kind has, and never through a reference to the whole struct.
//!
//! The rest of the crate works with [`Node`], the decoded form, which is `Copy`. This
//! module knows the layout only; where a node's memory comes from is the caller's
//! business ([`store`]). On CloudABI every value is a [`Node::Buffer`] view of the
//! startup argdata (`cloudabi.rs`) or of a part of it.

use core::ffi::{c_int, c_void};
use core::ptr;

use argdata::Argdata;

/// The `convert_fd` callback of `argdata_from_buffer`: translates the fd index of a
/// buffer's fd leaf into a descriptor number, or a negative number to reject it.
pub(crate) type ConvertFd = unsafe extern "C" fn(*mut c_void, usize) -> c_int;

/// What a memory-built container records about itself when it is made (computed by the
/// host's `ffi/serialize.rs`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Shape {
    /// Encoded length in bytes, or `usize::MAX` where it would not fit.
    pub(crate) len: usize,
    /// Levels of memory-built containers, this one included (saturating; leaves and
    /// buffers count 0).
    pub(crate) depth: u16,
    /// Whether an fd leaf or a buffer (which may hold fd leaves) lies below.
    pub(crate) fds: bool,
}

/// `n` bytes at `p` as a slice (`p` may be anything when `n` is 0).
///
/// # Safety
/// `p` must be valid for `n` bytes (or `n` is 0) for the chosen lifetime.
#[inline(always)]
pub(crate) unsafe fn slice<'a>(p: *const u8, n: usize) -> &'a [u8] {
    if n == 0 {
        &[]
    } else {
        // SAFETY: guaranteed by the caller.
        unsafe { core::slice::from_raw_parts(p, n) }
    }
}

/// An encoded buffer with the callback translating its fd indices.
#[derive(Clone, Copy)]
pub(crate) struct Buf {
    pub(crate) ptr: *const u8,
    pub(crate) len: usize,
    pub(crate) convert: Option<ConvertFd>,
    pub(crate) arg: *mut c_void,
}

impl Buf {
    /// A reader view of the buffer.
    ///
    /// # Safety
    ///
    /// `ptr` must be valid for reads of `len` bytes that do not change while the view (of
    /// any lifetime the caller picks) is used; C callers promise this for the buffers they
    /// hand to `argdata_from_buffer`, the stream reader keeps its own buffers alive, and
    /// on CloudABI the startup argdata lives as long as the program.
    pub(crate) unsafe fn view<'a>(&self) -> Argdata<'a> {
        if self.len == 0 {
            return Argdata::NULL;
        }
        // SAFETY: guaranteed by this function's contract.
        Argdata::new(unsafe { core::slice::from_raw_parts(self.ptr, self.len) })
    }

    /// A value viewing `ad`, a part of this buffer, with the same fd callback.
    pub(crate) fn child(&self, ad: Argdata<'_>) -> argdata_t {
        argdata_t::new(Node::Buffer(Buf {
            ptr: ad.as_bytes().as_ptr(),
            len: ad.as_bytes().len(),
            convert: self.convert,
            arg: self.arg,
        }))
    }

    /// Translates fd index `index` through the callback; `None` if rejected.
    pub(crate) fn convert_fd(&self, index: u32) -> Option<c_int> {
        let convert = self.convert?;
        // SAFETY: the callback and its argument were supplied together by the C caller of
        // argdata_from_buffer (or by this crate), who promises they may be called so.
        let fd = unsafe { convert(self.arg, index as usize) };
        (fd >= 0).then_some(fd)
    }
}

/// What an `argdata_t` holds.
#[derive(Clone, Copy)]
pub(crate) enum Node {
    Buffer(Buf),
    Binary(*const u8, usize),
    Bool(bool),
    Fd(c_int),
    Float(f64),
    IntS(i64),
    IntU(u64),
    /// Keys, values, number of pairs, and the shape measured when the map was made.
    Map(
        *const *const argdata_t,
        *const *const argdata_t,
        usize,
        Shape,
    ),
    /// Items, their number, and the shape measured when the sequence was made.
    Seq(*const *const argdata_t, usize, Shape),
    Str(*const u8, usize),
    /// Seconds and nanoseconds (kept apart: `Timestamp` is 16-aligned).
    Timestamp(i64, u32),
    Null,
}

/// One stored word: a number or one of the pointers a node holds.
#[derive(Clone, Copy)]
#[repr(C)]
union Word {
    n: u64,
    bytes: *const u8,
    nodes: *const *const argdata_t,
    convert: Option<ConvertFd>,
    arg: *mut c_void,
}

const _: () = assert!(size_of::<Word>() == 8 && align_of::<Word>() == 8);

const ZERO: Word = Word { n: 0 };

/// The kinds, in the low byte of the header word.
const NULL: u64 = 0;
/// The value is bit 8.
const BOOL: u64 = 1;
/// The descriptor number is the upper half.
const FD: u64 = 2;
/// Word 1: the bits.
const FLOAT: u64 = 3;
/// Word 1: the value.
const INT_S: u64 = 4;
/// Word 1: the value.
const INT_U: u64 = 5;
/// Word 1: the pointer; the length is above the kind byte, or, where it is
/// [`LONG`], in word 2 (a five-word node).
const STR: u64 = 6;
/// As [`STR`].
const BINARY: u64 = 7;
/// The nanoseconds are the upper half; word 1: the seconds.
const TIMESTAMP: u64 = 8;
/// Words 1 to 4: keys, values, pairs, encoded length; the shape's depth is bits 8 to 23
/// and its fd flag bit 24.
const MAP: u64 = 9;
/// Words 1 to 3: items, count, encoded length; depth and fd flag as for [`MAP`].
const SEQ: u64 = 10;
/// Words 1 to 4: bytes, length, converter, its argument.
const BUFFER: u64 = 11;

/// The length above the kind byte that says the real one is in word 2.
const LONG: u64 = (1 << 56) - 1;

/// Words a node of each size has after its header.
pub(crate) const SMALL_WORDS: usize = 1;
pub(crate) const LARGE_WORDS: usize = 4;

/// An argdata value as C sees it (opaque; only pointers cross the boundary).
///
/// This is the largest node; pointers handed to C may refer to a smaller one (see the
/// module documentation).
#[derive(Clone, Copy)]
#[repr(C)]
pub struct argdata_t {
    head: u64,
    words: [Word; LARGE_WORDS],
}

// SAFETY: an argdata_t is never mutated after creation; the pointers it holds refer to
// data the C caller promises not to change while the value is in use, so sharing it
// between threads is as safe as sharing that data, which C programs already coordinate.
unsafe impl Sync for argdata_t {}

/// Packs a container's shape (everything but its length) into a header.
const fn shape_head(kind: u64, s: Shape) -> u64 {
    kind | (s.depth as u64) << 8 | (s.fds as u64) << 24
}

/// A leaf's header and its one word.
#[inline(always)]
const fn small(head: u64, w: Word) -> (u64, [Word; LARGE_WORDS], usize) {
    (head, [w, ZERO, ZERO, ZERO], SMALL_WORDS)
}

/// A string or binary's header and words.
#[inline(always)]
const fn bytes_parts(kind: u64, p: *const u8, n: usize) -> (u64, [Word; LARGE_WORDS], usize) {
    if (n as u64) < LONG {
        (
            kind | (n as u64) << 8,
            [Word { bytes: p }, ZERO, ZERO, ZERO],
            SMALL_WORDS,
        )
    } else {
        (
            kind | LONG << 8,
            [Word { bytes: p }, Word { n: n as u64 }, ZERO, ZERO],
            LARGE_WORDS,
        )
    }
}

impl argdata_t {
    /// Stores `node`.
    pub(crate) const fn new(node: Node) -> argdata_t {
        let (head, words, _) = Self::parts(node);
        argdata_t { head, words }
    }

    /// The header and the words of `node`, and how many of the words it uses.
    #[inline(always)]
    const fn parts(node: Node) -> (u64, [Word; LARGE_WORDS], usize) {
        match node {
            Node::Null => small(NULL, ZERO),
            Node::Bool(b) => small(BOOL | (b as u64) << 8, ZERO),
            Node::Fd(fd) => small(FD | (fd as u32 as u64) << 32, ZERO),
            Node::Float(f) => small(FLOAT, Word { n: f.to_bits() }),
            Node::IntS(v) => small(INT_S, Word { n: v as u64 }),
            Node::IntU(v) => small(INT_U, Word { n: v }),
            Node::Str(p, n) => bytes_parts(STR, p, n),
            Node::Binary(p, n) => bytes_parts(BINARY, p, n),
            Node::Timestamp(s, ns) => small(TIMESTAMP | (ns as u64) << 32, Word { n: s as u64 }),
            Node::Map(keys, values, n, s) => (
                shape_head(MAP, s),
                [
                    Word { nodes: keys },
                    Word { nodes: values },
                    Word { n: n as u64 },
                    Word { n: s.len as u64 },
                ],
                LARGE_WORDS,
            ),
            Node::Seq(items, n, s) => (
                shape_head(SEQ, s),
                [
                    Word { nodes: items },
                    Word { n: n as u64 },
                    Word { n: s.len as u64 },
                    ZERO,
                ],
                LARGE_WORDS,
            ),
            Node::Buffer(b) => (
                BUFFER,
                [
                    Word { bytes: b.ptr },
                    Word { n: b.len as u64 },
                    Word { convert: b.convert },
                    Word { arg: b.arg },
                ],
                LARGE_WORDS,
            ),
        }
    }

    /// What this value holds.
    pub(crate) fn get(&self) -> Node {
        // SAFETY: `self` is a whole argdata_t.
        unsafe { node(self) }
    }

    /// The buffer of a buffer-backed value (an empty one without fd callback otherwise).
    pub(crate) fn buf(&self) -> Buf {
        match self.get() {
            Node::Buffer(b) => b,
            _ => Buf {
                ptr: ptr::null(),
                len: 0,
                convert: None,
                arg: ptr::null_mut(),
            },
        }
    }
}

/// Reads the value at `ad`.
///
/// # Safety
/// `ad` must point to a live node: an `argdata_t`, or a node from [`boxed`].
#[inline(always)]
pub(crate) unsafe fn node(ad: *const argdata_t) -> Node {
    // SAFETY: every node starts with its header; word `i` is read only where the kind
    // has it, which the node's slot then holds (see `parts` and `boxed`).
    unsafe {
        let head = ad.cast::<u64>().read();
        let word = |i: usize| ad.cast::<Word>().add(1 + i).read();
        let upper = (head >> 32) as u32;
        let shape = |len: Word| Shape {
            len: len.n as usize,
            depth: (head >> 8) as u16,
            fds: head & 1 << 24 != 0,
        };
        let bytes = |p: Word| {
            let n = head >> 8;
            let n = if n == LONG { word(1).n } else { n };
            (p.bytes, n as usize)
        };
        match head & 0xff {
            BOOL => Node::Bool(head & 1 << 8 != 0),
            FD => Node::Fd(upper as i32),
            FLOAT => Node::Float(f64::from_bits(word(0).n)),
            INT_S => Node::IntS(word(0).n as i64),
            INT_U => Node::IntU(word(0).n),
            STR => {
                let (p, n) = bytes(word(0));
                Node::Str(p, n)
            }
            BINARY => {
                let (p, n) = bytes(word(0));
                Node::Binary(p, n)
            }
            TIMESTAMP => Node::Timestamp(word(0).n as i64, upper),
            MAP => Node::Map(
                word(0).nodes,
                word(1).nodes,
                word(2).n as usize,
                shape(word(3)),
            ),
            SEQ => Node::Seq(word(0).nodes, word(1).n as usize, shape(word(2))),
            BUFFER => Node::Buffer(Buf {
                ptr: word(0).bytes,
                len: word(1).n as usize,
                convert: word(2).convert,
                arg: word(3).arg,
            }),
            _ => Node::Null,
        }
    }
}

/// Writes `node` into a slot of its own, as small as its kind allows, and returns it.
///
/// `alloc(large)` provides the slot: five words if `large`, else two.
///
/// # Safety
/// `alloc` must return a fresh slot, aligned for a `u64`, with room for the words asked
/// for, that nothing else uses.
#[cfg(not(target_os = "cloudabi"))]
#[inline(always)]
pub(crate) unsafe fn store(
    node: Node,
    alloc: impl FnOnce(bool) -> *mut argdata_t,
) -> *mut argdata_t {
    let (head, words, used) = argdata_t::parts(node);
    let slot = alloc(used == LARGE_WORDS);
    // SAFETY: the slot is fresh, aligned for a Word and has room for the header and
    // `used` words (a large slot for the kinds that use more than one), per the caller.
    unsafe {
        slot.cast::<u64>().write(head);
        for (i, w) in words.iter().take(used).enumerate() {
            slot.cast::<Word>().add(1 + i).write(*w);
        }
    }
    slot
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ffi::pool::{boxed, free_node};

    /// The header and used words of a node as plain numbers, for comparing.
    fn bits(n: Node) -> Vec<u64> {
        let (head, words, used) = argdata_t::parts(n);
        // SAFETY: every word is 8 initialized bytes whichever field wrote it.
        let mut v: Vec<u64> = words[..used].iter().map(|w| unsafe { w.n }).collect();
        v.insert(0, head);
        v
    }

    extern "C" fn convert(_: *mut c_void, i: usize) -> c_int {
        i as c_int
    }

    fn samples() -> Vec<Node> {
        let text = b"some text";
        let p = text.as_ptr();
        let items = [ptr::null::<argdata_t>(); 2];
        let shape = Shape {
            len: 123_456_789_012,
            depth: 0xfffe,
            fds: true,
        };
        vec![
            Node::Null,
            Node::Bool(false),
            Node::Bool(true),
            Node::Fd(0),
            Node::Fd(i32::MAX),
            Node::Float(-0.0),
            Node::Float(f64::NAN),
            Node::IntS(i64::MIN),
            Node::IntS(-1),
            Node::IntU(u64::MAX),
            Node::Str(p, text.len()),
            Node::Str(p, 0),
            Node::Binary(p, (1 << 56) - 2),
            // Lengths from the long marker up keep the length in a word of their own.
            Node::Str(p, (1 << 56) - 1),
            Node::Binary(p, usize::MAX),
            Node::Timestamp(i64::MIN, 999_999_999),
            Node::Map(items.as_ptr(), items.as_ptr().wrapping_add(1), 2, shape),
            Node::Seq(
                items.as_ptr(),
                2,
                Shape {
                    fds: false,
                    ..shape
                },
            ),
            Node::Buffer(Buf {
                ptr: p,
                len: 3,
                convert: Some(convert),
                arg: ptr::null_mut(),
            }),
            Node::Buffer(Buf {
                ptr: p,
                len: 0,
                convert: None,
                arg: p.cast_mut().cast(),
            }),
        ]
    }

    #[test]
    fn every_kind_reads_back_from_its_own_slot() {
        for n in samples() {
            let slot = boxed(n);
            // SAFETY: `slot` was just filled by `boxed`.
            let back = unsafe { node(slot) };
            assert_eq!(bits(back), bits(n));
            assert_eq!(bits(argdata_t::new(n).get()), bits(n));
            // SAFETY: made by `boxed`, freed once.
            unsafe { free_node(slot) };
        }
    }

    #[test]
    fn leaves_take_two_words_and_the_rest_five() {
        for n in samples() {
            let large = matches!(n, Node::Map(..) | Node::Seq(..) | Node::Buffer(_))
                || matches!(n, Node::Str(_, l) | Node::Binary(_, l) if l as u64 >= LONG);
            assert_eq!(bits(n).len(), if large { 5 } else { 2 });
        }
        // Two leaves made one after the other lie next to each other (unless a block ended
        // between them), sixteen bytes apart.
        let gaps: Vec<usize> = (0..8)
            .map(|_| {
                let (a, b) = (boxed(Node::IntS(1)), boxed(Node::IntS(2)));
                let gap = (b as usize).wrapping_sub(a as usize);
                // SAFETY: made by `boxed`, freed once.
                unsafe {
                    free_node(a);
                    free_node(b);
                }
                gap
            })
            .collect();
        assert!(gaps.iter().filter(|&&g| g == 16).count() >= 7, "{gaps:?}");
    }
}
