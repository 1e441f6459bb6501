//! The global allocator of CloudABI programs, on `mem_map`.
//!
//! Small blocks (up to 64 KiB) come from power-of-two size classes carved out of 256 KiB
//! chunks and are recycled through one free list per class; larger blocks are mapped
//! and unmapped individually. A spin lock makes it safe for threads.

use core::alloc::{GlobalAlloc, Layout};
use core::cell::UnsafeCell;
use core::sync::atomic::{AtomicBool, Ordering};

use super::sys;

const MIN_SHIFT: u32 = 4;
const MAX_SHIFT: u32 = 16;
const CLASSES: usize = (MAX_SHIFT - MIN_SHIFT + 1) as usize;
const CHUNK: usize = 256 << 10;
const PAGE: usize = 4096;

struct State {
    /// Head of each class's free list (0: empty); a free block's first word links on.
    free: [usize; CLASSES],
    /// Unused part of the current chunk.
    next: usize,
    end: usize,
}

/// The allocator; `program` registers one as `#[global_allocator]` on CloudABI.
#[derive(Debug)]
pub struct Heap {
    lock: AtomicBool,
    state: UnsafeCell<StateCell>,
}

struct StateCell(State);

impl core::fmt::Debug for StateCell {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("State")
    }
}

// SAFETY: `state` is only accessed with `lock` held.
unsafe impl Sync for Heap {}

impl Heap {
    /// An empty heap.
    #[must_use]
    pub const fn new() -> Heap {
        Heap {
            lock: AtomicBool::new(false),
            state: UnsafeCell::new(StateCell(State {
                free: [0; CLASSES],
                next: 0,
                end: 0,
            })),
        }
    }

    fn with<R>(&self, f: impl FnOnce(&mut State) -> R) -> R {
        while self
            .lock
            .compare_exchange_weak(false, true, Ordering::Acquire, Ordering::Relaxed)
            .is_err()
        {
            core::hint::spin_loop();
        }
        // SAFETY: the lock is held, so this is the only reference.
        let r = f(unsafe { &mut (*self.state.get()).0 });
        self.lock.store(false, Ordering::Release);
        r
    }
}

impl Default for Heap {
    fn default() -> Heap {
        Heap::new()
    }
}

/// The size class for `layout`, or `None` for a block mapped on its own.
fn class(layout: Layout) -> Option<u32> {
    let size = layout.size().max(layout.align()).max(1 << MIN_SHIFT);
    let shift = size.next_power_of_two().trailing_zeros();
    (shift <= MAX_SHIFT).then_some(shift)
}

// SAFETY: blocks of a class are class-size aligned (chunks are page aligned and carved in
// aligned steps), at least as large as the request, and handed out at most once until
// freed; large blocks are page-aligned mappings of at least the requested size.
unsafe impl GlobalAlloc for Heap {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let Some(shift) = class(layout) else {
            if layout.align() > PAGE {
                return core::ptr::null_mut();
            }
            let Some(len) = layout.size().checked_next_multiple_of(PAGE) else {
                return core::ptr::null_mut();
            };
            return sys::mem_map_anon(len).unwrap_or(core::ptr::null_mut());
        };
        let size = 1usize << shift;
        let index = (shift - MIN_SHIFT) as usize;
        self.with(|s| {
            let head = s.free[index];
            if head != 0 {
                // SAFETY: a free block's first word holds the next free block.
                s.free[index] = unsafe { *(head as *const usize) };
                return head as *mut u8;
            }
            let mut at = s.next.next_multiple_of(size);
            if s.next == 0 || at + size > s.end {
                let Ok(chunk) = sys::mem_map_anon(CHUNK) else {
                    return core::ptr::null_mut();
                };
                s.next = chunk as usize;
                s.end = s.next + CHUNK;
                at = s.next;
            }
            s.next = at + size;
            at as *mut u8
        })
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        let Some(shift) = class(layout) else {
            let len = layout.size().next_multiple_of(PAGE);
            // SAFETY: `ptr` is a mapping of `len` bytes made by `alloc`.
            let _ = unsafe { sys::mem_unmap(ptr, len) };
            return;
        };
        let index = (shift - MIN_SHIFT) as usize;
        self.with(|s| {
            // SAFETY: the block is at least 16 bytes, aligned, and no longer used.
            unsafe { *(ptr as *mut usize) = s.free[index] };
            s.free[index] = ptr as usize;
        });
    }
}
