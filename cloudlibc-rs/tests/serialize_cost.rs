//! `argdata_serialized_length` and `argdata_serialize` on trees built through the C API:
//! the exact bytes for hand-written cases, and no heap allocation on the way (lengths are
//! known from creation, output goes straight into the caller's buffer).

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::ffi::c_int;
use std::ptr;

use cloudlibc_rs::ffi::*;

/// Counts the allocations made by the current thread while counting is on.
struct Counting;

thread_local! {
    static COUNTING: Cell<bool> = const { Cell::new(false) };
    static COUNT: Cell<usize> = const { Cell::new(0) };
}

// SAFETY: forwards every call to the system allocator unchanged.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        if COUNTING.try_with(Cell::get).unwrap_or(false) {
            let _ = COUNT.try_with(|c| c.set(c.get() + 1));
        }
        // SAFETY: forwarded from the caller.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: forwarded from the caller.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static ALLOC: Counting = Counting;

/// Allocations made by `f` on this thread.
fn allocations(f: impl FnOnce()) -> usize {
    COUNT.with(|c| c.set(0));
    COUNTING.with(|c| c.set(true));
    f();
    COUNTING.with(|c| c.set(false));
    COUNT.with(Cell::get)
}

/// Length, fd count, bytes and returned fd number of `ad`, with an fd array.
fn encode(ad: *const argdata_t) -> (usize, usize, Vec<u8>, usize) {
    let (mut len, mut nfds) = (usize::MAX, usize::MAX);
    // SAFETY: `ad` is live; the outputs are valid for writes.
    unsafe { argdata_serialized_length(ad, &mut len, &mut nfds) };
    let mut out = vec![0xaa; len];
    let mut fds: Vec<c_int> = vec![-1; nfds];
    // SAFETY: `out` and `fds` have the sizes just reported.
    let n = unsafe { argdata_serialize(ad, out.as_mut_ptr().cast(), fds.as_mut_ptr()) };
    (len, nfds, out, n)
}

#[test]
fn integers_encode_shortest_at_every_boundary() {
    let signed: &[(i64, &[u8])] = &[
        (0, &[0x05]),
        (1, &[0x05, 0x01]),
        (-1, &[0x05, 0xff]),
        (127, &[0x05, 0x7f]),
        (128, &[0x05, 0x00, 0x80]),
        (-128, &[0x05, 0x80]),
        (-129, &[0x05, 0xff, 0x7f]),
        (32767, &[0x05, 0x7f, 0xff]),
        (32768, &[0x05, 0x00, 0x80, 0x00]),
        (
            i64::MAX,
            &[0x05, 0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff],
        ),
        (i64::MIN, &[0x05, 0x80, 0, 0, 0, 0, 0, 0, 0]),
    ];
    for &(v, want) in signed {
        let ad = argdata_create_int_s(v);
        let (len, nfds, out, n) = encode(ad);
        assert_eq!((len, nfds, n, &out[..]), (want.len(), 0, 0, want), "{v}");
        // SAFETY: made above, freed once.
        unsafe { argdata_free(ad) };
    }
    // The same values inside a sequence, each followed by more output.
    let items: Vec<*const argdata_t> = signed
        .iter()
        .map(|&(v, _)| argdata_create_int_s(v).cast_const())
        .collect();
    // SAFETY: live values.
    let seq = unsafe { argdata_create_seq(items.as_ptr(), items.len()) };
    let mut want = vec![0x07];
    for &(_, bytes) in signed {
        want.push(0x80 | bytes.len() as u8);
        want.extend_from_slice(bytes);
    }
    assert_eq!(encode(seq).2, want);
    // SAFETY: each made above, freed once.
    unsafe {
        argdata_free(seq);
        for p in items {
            argdata_free(p.cast_mut());
        }
    }
    let unsigned: &[(u64, &[u8])] = &[
        (0, &[0x05]),
        (255, &[0x05, 0x00, 0xff]),
        (1 << 63, &[0x05, 0x00, 0x80, 0, 0, 0, 0, 0, 0, 0]),
        (
            u64::MAX,
            &[0x05, 0x00, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff],
        ),
    ];
    for &(v, want) in unsigned {
        let ad = argdata_create_int_u(v);
        let (len, _, out, _) = encode(ad);
        assert_eq!((len, &out[..]), (want.len(), want), "{v}");
        // SAFETY: made above, freed once.
        unsafe { argdata_free(ad) };
    }
}

#[test]
fn nested_tree_encodes_with_long_prefixes_and_fds() {
    // { "k": [300 x 0], "fd": fd 7, "again": fd 7 }: the sequence is 1 + 300 * 2 = 601
    // bytes long, so its prefix takes two bytes: 601 = 4 * 128 + 89, 0x04 0xd9.
    let zero = argdata_create_int_u(0);
    let items = vec![zero.cast_const(); 300];
    // SAFETY: 300 live values.
    let seq = unsafe { argdata_create_seq(items.as_ptr(), items.len()) };
    let fd = argdata_create_fd(7);
    // SAFETY: NUL-terminated literals.
    let keys = unsafe {
        [
            argdata_create_str_c(c"k".as_ptr()),
            argdata_create_str_c(c"fd".as_ptr()),
            argdata_create_str_c(c"again".as_ptr()),
        ]
    };
    let kp = keys.map(<*mut argdata_t>::cast_const);
    let vp = [seq.cast_const(), fd.cast_const(), fd.cast_const()];
    // SAFETY: three live keys and values.
    let map = unsafe { argdata_create_map(kp.as_ptr(), vp.as_ptr(), 3) };

    let mut want = vec![0x06, 0x83, 0x08, b'k', 0x00, 0x04, 0xd9, 0x07];
    for _ in 0..300 {
        want.extend_from_slice(&[0x81, 0x05]);
    }
    want.extend_from_slice(&[0x84, 0x08, b'f', b'd', 0x00]);
    want.extend_from_slice(&[0x85, 0x03, 0, 0, 0, 0]);
    want.extend_from_slice(&[0x87, 0x08, b'a', b'g', b'a', b'i', b'n', 0x00]);
    want.extend_from_slice(&[0x85, 0x03, 0, 0, 0, 0]);
    let (len, nfds, out, n) = encode(map);
    assert_eq!((len, nfds, n), (want.len(), 2, 1));
    assert_eq!(out, want);

    // Without an fd array the descriptor numbers stay.
    let mut raw = vec![0u8; len];
    // SAFETY: `raw` has the reported size.
    let n = unsafe { argdata_serialize(map, raw.as_mut_ptr().cast(), ptr::null_mut()) };
    assert_eq!(n, 0);
    let at = want.len() - 4;
    assert_eq!(raw[at..], [0, 0, 0, 7]);

    // SAFETY: each made above, freed once.
    unsafe {
        argdata_free(map);
        for k in keys {
            argdata_free(k);
        }
        argdata_free(fd);
        argdata_free(seq);
        argdata_free(zero);
    }
}

#[test]
fn serializing_a_memory_tree_allocates_nothing() {
    let n = 1000;
    let texts: Vec<String> = (0..n).map(|i| format!("key{i}\0")).collect();
    let keys: Vec<*const argdata_t> = texts
        .iter()
        // SAFETY: NUL-terminated strings that outlive the values.
        .map(|t| unsafe { argdata_create_str_c(t.as_ptr().cast()) }.cast_const())
        .collect();
    let values: Vec<*const argdata_t> = (0..n)
        .map(|i| argdata_create_int_s(i as i64 * 1_000_003 - 40_000).cast_const())
        .collect();
    // SAFETY: `n` live keys and values.
    let map = unsafe { argdata_create_map(keys.as_ptr(), values.as_ptr(), n) };
    let (mut len, mut nfds) = (0, 0);
    // SAFETY: `map` is live.
    unsafe { argdata_serialized_length(map, &mut len, &mut nfds) };
    let mut out = vec![0u8; len];
    let mut fds: Vec<c_int> = vec![0; 1];

    let count = allocations(|| {
        // SAFETY: as above; `out` has the reported size.
        unsafe {
            argdata_serialized_length(map, &mut len, &mut nfds);
            argdata_serialize(map, out.as_mut_ptr().cast(), fds.as_mut_ptr());
            argdata_serialize(map, out.as_mut_ptr().cast(), ptr::null_mut());
        }
    });
    assert_eq!(count, 0);
    assert_eq!((out.len(), nfds), (len, 0));
    // The first key, "key0", is a 6-byte field.
    assert_eq!(out[..5], [0x06, 0x86, 0x08, b'k', b'e']);

    // SAFETY: each made above, freed once.
    unsafe {
        argdata_free(map);
        for p in keys.into_iter().chain(values) {
            argdata_free(p.cast_mut());
        }
    }
}

#[test]
fn nodes_are_not_allocated_one_by_one() {
    let n = 10_000;
    let mut nodes = Vec::with_capacity(n);
    let count = allocations(|| {
        for i in 0..n {
            nodes.push(argdata_create_int_s(i as i64));
        }
    });
    // Blocks hold hundreds of nodes each.
    assert!(count <= n / 100, "{count} allocations for {n} nodes");
    for p in nodes {
        // SAFETY: made above, freed once.
        unsafe { argdata_free(p) };
    }
}

#[test]
fn nodes_may_be_freed_by_other_threads_and_outlive_their_maker() {
    // Made on one thread (which then exits), read and freed on another.
    let made: Vec<usize> = std::thread::spawn(|| {
        (0..2000)
            .map(|i| argdata_create_int_u(i) as usize)
            .collect()
    })
    .join()
    .unwrap();
    std::thread::spawn(move || {
        for (i, p) in made.into_iter().enumerate() {
            let p = p as *mut argdata_t;
            let mut v = 0;
            // SAFETY: a live node made above; `v` is valid for writes.
            assert_eq!(unsafe { argdata_get_int_u(p, &mut v, u64::MAX) }, 0);
            assert_eq!(v, i as u64);
            // SAFETY: freed once.
            unsafe { argdata_free(p) };
        }
    })
    .join()
    .unwrap();
}
