//! Proves that reading allocates nothing: a counting global allocator watches every
//! getter, the iterators, `validate` and both YAML printers over all reference vectors.
//!
//! This is its own test binary because it replaces the global allocator.

mod common;

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::fmt;

use argdata::{Argdata, FdTable, IdentityFds, Type, yaml};

/// Forwards to the system allocator and counts allocations made by the current thread.
struct Counting;

thread_local! {
    static ALLOCATIONS: Cell<usize> = const { Cell::new(0) };
}

// SAFETY: every method forwards to `System` with the caller's arguments unchanged, so
// `System`'s guarantees carry over; the counter is a const-initialised thread-local
// `Cell`, which itself never allocates.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.with(|c| c.set(c.get() + 1));
        // SAFETY: the caller upholds `GlobalAlloc::alloc`'s contract for `layout`.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` was allocated by `System` (through this type) with `layout`.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        ALLOCATIONS.with(|c| c.set(c.get() + 1));
        // SAFETY: as for `dealloc`, and the caller upholds `realloc`'s size rules.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

fn allocations() -> usize {
    ALLOCATIONS.with(Cell::get)
}

/// A sink that checks the printed text against the expected text as it arrives,
/// without storing anything.
struct Compare<'e> {
    expected: &'e str,
    pos: usize,
}

impl fmt::Write for Compare<'_> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        let end = self.pos + s.len();
        if self.expected.get(self.pos..end) == Some(s) {
            self.pos = end;
            Ok(())
        } else {
            Err(fmt::Error)
        }
    }
}

/// Calls every getter on `ad` and on everything below it; returns a checksum so the
/// work cannot be optimised away.
fn walk(ad: Argdata<'_>, depth: usize) -> u64 {
    let mut sum = ad.as_bytes().len() as u64;
    let fds = [argdata::Fd(3), argdata::Fd(4)];
    sum = sum.wrapping_add(u64::from(ad.is_null()));
    sum = sum.wrapping_add(ad.as_binary().map_or(0, |b| b.len() as u64));
    sum = sum.wrapping_add(ad.as_bool().map_or(0, u64::from));
    sum = sum.wrapping_add(ad.as_fd_index().map_or(0, u64::from));
    sum = sum.wrapping_add(ad.as_fd(&FdTable(&fds)).map_or(0, |fd| fd.0 as u64));
    sum = sum.wrapping_add(ad.as_float().map_or(0, f64::to_bits));
    sum = sum.wrapping_add(ad.as_int::<i64>().map_or(0, |v| v as u64));
    sum = sum.wrapping_add(ad.as_int::<u64>().map_or(0, |v| v));
    sum = sum.wrapping_add(ad.as_int::<i128>().map_or(0, |v| v as u64));
    sum = sum.wrapping_add(ad.as_int::<u8>().map_or(0, u64::from));
    sum = sum.wrapping_add(ad.as_str().map_or(0, |s| s.len() as u64));
    sum = sum.wrapping_add(ad.as_c_str().map_or(0, |s| s.to_bytes().len() as u64));
    sum = sum.wrapping_add(ad.as_timestamp().map_or(0, |t| t.subsec_nanos().into()));
    sum = sum.wrapping_add(ad.get("hostname").map_or(0, |v| u64::from(v.is_some())));
    if depth > 0 {
        if let Ok(entries) = ad.map() {
            for (k, v) in entries.flatten() {
                sum = sum
                    .wrapping_add(walk(k, depth - 1))
                    .wrapping_add(walk(v, depth - 1));
            }
        }
        if let Ok(items) = ad.seq() {
            for item in items.flatten() {
                sum = sum.wrapping_add(walk(item, depth - 1));
            }
        }
    }
    sum.wrapping_add(match ad.ty() {
        Ok(Type::Map) => 1,
        Ok(_) => 2,
        Err(e) => e.offset().unwrap_or(0) as u64,
    })
}

#[test]
fn reading_and_printing_never_allocate() {
    let rows = common::rows();
    let before = allocations();
    let mut checksum = 0u64;
    let mut printed = 0;
    for row in &rows {
        let ad = Argdata::new(&row.bytes);
        checksum = checksum.wrapping_add(walk(ad, argdata::MAX_DEPTH));
        let validated = ad.validate();
        let mut sink = Compare {
            expected: &row.yaml,
            pos: 0,
        };
        let result = yaml::write_yaml(ad, &mut sink);
        if row.valid {
            assert!(validated.is_ok() && result.is_ok());
            assert_eq!(sink.pos, row.yaml.len());
            printed += 1;
        } else {
            assert!(validated.is_err() && result.is_err());
        }
        // The lenient (reference) printer writes every row's document, valid or not.
        let mut sink = Compare {
            expected: &row.yaml,
            pos: 0,
        };
        assert!(yaml::write_yaml_lenient(ad, &IdentityFds, &mut sink).is_ok());
        assert_eq!(sink.pos, row.yaml.len(), "{}", row.origin);
    }
    let after = allocations();
    assert_eq!(after - before, 0, "reading allocated");
    assert!(printed > 250 && checksum != 0);

    // The counter does work: an allocation on this thread is seen.
    let v = std::hint::black_box(vec![1u8; 16]);
    assert!(allocations() > after);
    drop(v);
}
