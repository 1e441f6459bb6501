//! Values as opaque bytes: which fd leaves the reference's serializer reaches and
//! renumbers (`Argdata::fd_leaves`, `Argdata::copy_with_fds`), on hand-built bytes.
#![cfg(feature = "alloc")]

use argdata::{Argdata, FdLeaf};

fn leaves(bytes: &[u8]) -> Vec<(usize, u32)> {
    Argdata::new(bytes)
        .fd_leaves()
        .map(|FdLeaf { offset, index }| (offset, index))
        .collect()
}

#[test]
fn leaves_of_single_values() {
    assert_eq!(leaves(&[]), []);
    assert_eq!(leaves(&[3, 0, 0, 0, 9]), [(0, 9)]);
    // Not exactly four payload bytes: not a leaf, copied as it is.
    assert_eq!(leaves(&[3, 0, 0, 9]), []);
    assert_eq!(leaves(&[3, 0, 0, 0, 0, 9]), []);
    // Other tags, known or not, are never looked into.
    assert_eq!(leaves(&[1, 3, 0, 0, 0, 9]), []);
    assert_eq!(leaves(&[0x0f, 0x85, 3, 0, 0, 0, 9]), []);
}

#[test]
fn leaves_in_containers_until_the_first_bad_length() {
    let bytes = [
        6, // map
        0x85, 3, 0, 0, 0, 4,    // fd 4 (offset 2)
        0x80, // null
        0x89, 7, 0x82, 2, 5, 0x84, 3, 0, 0, 0, // [bool 05, fd with 3 bytes]
        0x87, 7, 0x85, 3, 0xff, 0xff, 0xff, 0xf0, // [fd 0xfffffff0] (offset 21)
        0x85, 3, 0, 0, 0, 4, // fd 4 again (offset 27)
        0x00, 0x85, 3, 0, 0, 0, 6, // a length cannot start with 00: not walked
    ];
    assert_eq!(leaves(&bytes), [(2, 4), (21, 0xffff_fff0), (27, 4)]);
    let mut out = vec![0xaa];
    let mut seen = Vec::new();
    Argdata::new(&bytes).copy_with_fds(&mut out, |i| {
        seen.push(i);
        100 + seen.len() as u32
    });
    assert_eq!(seen, [4, 0xffff_fff0, 4]);
    let mut want = vec![0xaa];
    want.extend_from_slice(&bytes);
    want[1 + 3..1 + 7].copy_from_slice(&[0, 0, 0, 101]);
    want[1 + 22..1 + 26].copy_from_slice(&[0, 0, 0, 102]);
    want[1 + 28..1 + 32].copy_from_slice(&[0, 0, 0, 103]);
    assert_eq!(out, want);
}

#[test]
fn maps_are_walked_field_by_field() {
    // A map whose last key has no value: the reference still reaches the key.
    let bytes = [6, 0x81, 2, 0x85, 3, 0, 0, 0, 1, 0x85, 3, 0, 0, 0, 2];
    assert_eq!(leaves(&bytes), [(4, 1), (10, 2)]);
    // A subfield running past the end of its container stops the walk there, even when
    // the outer container goes on.
    let bytes = [7, 0x87, 7, 0x86, 3, 0, 0, 0, 1, 0x85, 3, 0, 0, 0, 2];
    assert_eq!(leaves(&bytes), [(10, 2)]);
}

#[test]
fn deep_nesting_needs_no_recursion() {
    // 100 000 nested sequences around one fd: the walk keeps its own stack.
    let depth = 100_000;
    // Built back to front, so that each level costs only its header.
    let mut rev = vec![7, 0, 0, 0, 3];
    for _ in 0..depth {
        let mut header = vec![7];
        argdata::push_subfield_len(&mut header, rev.len());
        rev.extend(header.iter().rev());
    }
    let bytes: Vec<u8> = rev.into_iter().rev().collect();
    let found = leaves(&bytes);
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].1, 7);
    assert_eq!(&bytes[found[0].0..], [3, 0, 0, 0, 7]);
}
