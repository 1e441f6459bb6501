//! Storage for the `argdata_t` nodes that `argdata_create_*` and `argdata_from_buffer`
//! hand out and `argdata_free` takes back.
//!
//! A C program builds a tree one node at a time, and a general-purpose allocator call
//! for every node costs more than encoding it. So nodes are cut, in order, from
//! [`CHUNK`]-byte blocks aligned to their size: each thread cuts from its own current
//! blocks without synchronization, one block for each of the two node sizes
//! ([`crate::node`]: two words for a leaf, five for a container or buffer). A block's
//! header counts the nodes that are still handed out, plus the ones not yet cut while a
//! thread is still cutting from it; `argdata_free` (from any thread) finds the header by
//! rounding the node's address down and decrements the count, and whoever brings it to
//! zero returns the block. A thread that exits gives up the uncut rest of its blocks.
//!
//! An emptied block is kept by the thread that emptied it, up to [`SPARE_MAX`] blocks, and
//! cut again (for either size) before a new one is allocated: a program that builds and
//! frees trees over and over would otherwise hand the memory back and fault it in again
//! every time (the general-purpose allocator keeps freed small nodes around in the same
//! way).
//!
//! The cost is memory: a block stays allocated while any one of its nodes is alive, and
//! a thread keeps up to `SPARE_MAX` empty blocks (8 MiB) until it exits.

use std::alloc::{Layout, alloc, dealloc, handle_alloc_error};
use std::cell::Cell;
use std::ptr;
use std::sync::atomic::{AtomicUsize, Ordering, fence};

use crate::node::{LARGE_WORDS, Node, SMALL_WORDS, argdata_t, store};

/// Size and alignment of a block.
const CHUNK: usize = 16 * 1024;
/// Bytes before the first node: the header, padded to a cache line.
const HEADER: usize = 64;
/// The two node sizes, in bytes: a header word and one word, or a whole `argdata_t`.
const SLOT: [usize; 2] = [8 * (1 + SMALL_WORDS), size_of::<argdata_t>()];
/// Nodes per block, for each size.
const SLOTS: [usize; 2] = [(CHUNK - HEADER) / SLOT[0], (CHUNK - HEADER) / SLOT[1]];

const LAYOUT: Layout = match Layout::from_size_align(CHUNK, CHUNK) {
    Ok(l) => l,
    Err(_) => panic!("bad block layout"),
};

const _: () = {
    assert!(size_of::<Header>() <= HEADER && HEADER.is_multiple_of(align_of::<argdata_t>()));
    assert!(align_of::<argdata_t>() <= HEADER);
    assert!(SLOT[0].is_multiple_of(align_of::<argdata_t>()));
    assert!(SLOT[1].is_multiple_of(align_of::<argdata_t>()));
    assert!(SLOT[1] == 8 * (1 + LARGE_WORDS));
};

/// Empty blocks a thread keeps for reuse.
const SPARE_MAX: usize = 512;

/// The start of every block.
struct Header {
    /// Nodes handed out and not freed, plus nodes not yet cut while a thread cuts here.
    live: AtomicUsize,
}

/// The blocks a thread cuts nodes from.
struct Cutter {
    /// The current block for each node size (null before the first node).
    block: [Cell<*mut u8>; 2],
    /// Index of the next node to cut in each; `SLOTS[size]` when the block is used up.
    next: [Cell<usize>; 2],
    /// Empty blocks, linked through their first word.
    spare: Cell<*mut u8>,
    /// How many blocks `spare` holds.
    spares: Cell<usize>,
}

impl Cutter {
    /// A block to cut nodes of size `size` from: a spare one, or a new one.
    fn take_block(&self, size: usize) -> *mut u8 {
        let block = self.spare.get();
        if block.is_null() {
            return new_block(size);
        }
        // SAFETY: spare blocks are owned by this list and start with the link.
        unsafe {
            self.spare.set(block.cast::<*mut u8>().read());
            init_header(block, size);
        }
        self.spares.set(self.spares.get() - 1);
        block
    }

    /// Keeps an emptied block, if there is room.
    ///
    /// # Safety
    /// Nothing may refer to `block` any more.
    unsafe fn keep(&self, block: *mut u8) -> bool {
        if self.spares.get() >= SPARE_MAX {
            return false;
        }
        // SAFETY: the block is unused and aligned for a pointer at its start.
        unsafe { block.cast::<*mut u8>().write(self.spare.get()) };
        self.spare.set(block);
        self.spares.set(self.spares.get() + 1);
        true
    }
}

impl Drop for Cutter {
    fn drop(&mut self) {
        for ((block, next), slots) in self.block.iter().zip(&self.next).zip(SLOTS) {
            let (block, next) = (block.get(), next.get());
            if !block.is_null() {
                // SAFETY: the uncut nodes of this thread's block are counted in its header
                // and are given up exactly once, here.
                unsafe { release(block, slots - next) };
            }
        }
        let mut block = self.spare.replace(ptr::null_mut());
        while !block.is_null() {
            // SAFETY: spare blocks start with the link and came from `new_block`.
            unsafe {
                let next = block.cast::<*mut u8>().read();
                dealloc(block, LAYOUT);
                block = next;
            }
        }
    }
}

thread_local! {
    static CUTTER: Cutter = const {
        Cutter {
            block: [Cell::new(ptr::null_mut()), Cell::new(ptr::null_mut())],
            next: [Cell::new(SLOTS[0]), Cell::new(SLOTS[1])],
            spare: Cell::new(ptr::null_mut()),
            spares: Cell::new(0),
        }
    };
}

/// A fresh block whose header counts all its nodes of size `size` as live.
fn new_block(size: usize) -> *mut u8 {
    // SAFETY: LAYOUT has a non-zero size.
    let block = unsafe { alloc(LAYOUT) };
    if block.is_null() {
        handle_alloc_error(LAYOUT);
    }
    // SAFETY: the block is fresh and unused.
    unsafe { init_header(block, size) };
    block
}

/// Writes the header of a block that is about to be cut into nodes of size `size`: all
/// of them count as live.
///
/// # Safety
/// `block` must be a CHUNK-byte block from `alloc(LAYOUT)` that nothing refers to.
unsafe fn init_header(block: *mut u8, size: usize) {
    // SAFETY: the block is CHUNK bytes, aligned to CHUNK, so the header fits at its start.
    unsafe {
        block.cast::<Header>().write(Header {
            live: AtomicUsize::new(SLOTS[size]),
        });
    }
}

/// Takes `n` nodes off the count of `block`, returning it when none remain.
///
/// # Safety
/// `block` must come from [`new_block`], and the `n` nodes must be counted in it and
/// not released before.
unsafe fn release(block: *mut u8, n: usize) {
    if n == 0 {
        return;
    }
    // SAFETY: the block is alive while its count is above zero, which these `n` make it.
    let header = unsafe { &*block.cast::<Header>() };
    if header.live.fetch_sub(n, Ordering::Release) == n {
        // Every other node's release happened before this one.
        fence(Ordering::Acquire);
        // SAFETY: nothing refers to the block any more (the header is not read again
        // until the block is cut anew); it was allocated with LAYOUT.
        let kept = CUTTER
            .try_with(|c| unsafe { c.keep(block) })
            .unwrap_or(false);
        if !kept {
            // SAFETY: as above.
            unsafe { dealloc(block, LAYOUT) };
        }
    }
}

/// A fresh, uninitialized node: five words if `large`, else two.
pub(crate) fn alloc_node(large: bool) -> *mut argdata_t {
    let size = usize::from(large);
    let slot = CUTTER
        .try_with(|c| {
            let mut i = c.next[size].get();
            if i == SLOTS[size] {
                // The old block, if any, has all its nodes handed out: its count no
                // longer depends on this thread.
                c.block[size].set(c.take_block(size));
                i = 0;
            }
            c.next[size].set(i + 1);
            // SAFETY: node `i` lies inside the block, after the header.
            unsafe { c.block[size].get().add(HEADER + i * SLOT[size]) }
        })
        .unwrap_or_else(|_| {
            // The thread is exiting: a block for this one node.
            let block = new_block(size);
            // SAFETY: all nodes are counted; every node but one is given up.
            unsafe {
                release(block, SLOTS[size] - 1);
                block.add(HEADER)
            }
        });
    slot.cast::<argdata_t>()
}

/// Gives back a node made by [`alloc_node`].
///
/// # Safety
/// `node` must come from [`alloc_node`], not be freed before, nor used afterwards.
pub(crate) unsafe fn free_node(node: *mut argdata_t) {
    let offset = node as usize & (CHUNK - 1);
    let block = node.cast::<u8>().wrapping_sub(offset);
    // SAFETY: nodes lie inside their CHUNK-aligned block, which counts this one.
    unsafe { release(block, 1) };
}

/// Moves `node` into a node of its own from the pool, as small as its kind allows.
#[inline(always)]
pub(crate) fn boxed(node: Node) -> *mut argdata_t {
    // SAFETY: `alloc_node` returns a fresh slot of the asked size, aligned for a word.
    unsafe { store(node, alloc_node) }
}
