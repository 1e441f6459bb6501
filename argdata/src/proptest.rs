//! Proptest strategies for argdata values (feature `proptest`).
//!
//! ```
//! use proptest::prelude::*;
//!
//! proptest! {
//!     fn encoded_length_is_predicted(v in argdata::proptest::value()) {
//!         prop_assert_eq!(v.encode().bytes.len(), v.serialized_len());
//!     }
//! }
//! # encoded_length_is_predicted();
//! ```
#![forbid(unsafe_code)]

use std::string::String;
use std::vec;
use std::vec::Vec;

use ::proptest::collection;
use ::proptest::prelude::*;

use crate::fd::Fd;
use crate::timestamp::Timestamp;
use crate::value::Value;

/// Any [`Fd`] with a non-negative number.
pub fn fd() -> impl Strategy<Value = Fd> {
    (0..=i32::MAX).prop_map(Fd)
}

/// Any [`Timestamp`].
pub fn timestamp() -> impl Strategy<Value = Timestamp> {
    (Timestamp::MIN.as_nanos()..=Timestamp::MAX.as_nanos())
        .prop_map(|n| Timestamp::from_nanos(n).unwrap_or(Timestamp::EPOCH))
}

/// Any leaf (every type but map and sequence), covering edge cases: NaN and infinite
/// floats, the whole `i128` range, strings with NUL and non-ASCII characters.
pub fn leaf() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        collection::vec(any::<u8>(), 0..24).prop_map(Value::Binary),
        any::<bool>().prop_map(Value::Bool),
        fd().prop_map(Value::Fd),
        ::proptest::num::f64::ANY.prop_map(Value::Float),
        any::<i8>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<i128>().prop_map(Value::Int),
        any::<String>().prop_map(Value::Str),
        "[a-z\\x00]{0,4}".prop_map(Value::Str),
        timestamp().prop_map(Value::Timestamp),
    ]
}

/// Values nested at most `depth` levels, with about `size` nodes in total and at most
/// `items` entries per map or sequence.
pub fn value_with(depth: u32, size: u32, items: u32) -> impl Strategy<Value = Value> {
    let items = items as usize;
    leaf().prop_recursive(depth, size, items as u32, move |inner| {
        prop_oneof![
            collection::vec(inner.clone(), 0..=items).prop_map(Value::Seq),
            collection::vec((inner.clone(), inner), 0..=items).prop_map(Value::Map),
        ]
    })
}

/// Any [`Value`]: up to 6 levels deep, about 64 nodes, at most 8 entries per container.
///
/// ```
/// use proptest::prelude::*;
/// use argdata::{Argdata, Value};
///
/// proptest! {
///     fn decoding_an_encoding_gives_the_value_back(v in argdata::proptest::value()) {
///         let encoded = v.encode();
///         let back = Value::from_argdata(Argdata::new(&encoded.bytes)).unwrap();
///         // Floats compare by bits: NaN is a valid value too.
///         prop_assert_eq!(back.encode().bytes, encoded.bytes);
///     }
/// }
/// # decoding_an_encoding_gives_the_value_back();
/// ```
pub fn value() -> impl Strategy<Value = Value> {
    value_with(6, 64, 8)
}

/// Same as [`value`].
pub fn any_value() -> impl Strategy<Value = Value> {
    value()
}

/// Byte strings that are mostly close to valid encodings: an encoded [`value`] with a
/// few bytes overwritten, removed or inserted, or plain noise. Good input for "never
/// panics" properties.
pub fn hostile_bytes() -> impl Strategy<Value = Vec<u8>> {
    let edits = collection::vec((any::<u16>(), any::<u8>(), 0u8..3), 0..4);
    prop_oneof![
        collection::vec(any::<u8>(), 0..64),
        (value(), edits).prop_map(|(v, edits)| {
            let mut bytes = v.encode().bytes;
            for (at, byte, op) in edits {
                let i = usize::from(at) % (bytes.len() + 1);
                match op {
                    0 if i < bytes.len() => bytes[i] = byte,
                    1 if i < bytes.len() => {
                        bytes.remove(i);
                    }
                    _ => bytes.insert(i, byte),
                }
            }
            bytes
        }),
    ]
}
