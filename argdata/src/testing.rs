//! `arbitrary::Arbitrary` for [`Value`], [`Fd`] and [`Timestamp`] (feature `arbitrary`),
//! for fuzzers.
//!
//! Generated values are bounded: maps and sequences nest at most [`MAX_ARBITRARY_DEPTH`]
//! levels and hold at most [`MAX_ARBITRARY_LEN`] entries each, so a fuzzer's input of any
//! size yields a value that encodes quickly and reads back within [`MAX_DEPTH`](crate::MAX_DEPTH).
#![forbid(unsafe_code)]

use alloc::string::String;
use alloc::vec::Vec;

use arbitrary::{Arbitrary, Result, Unstructured};

use crate::fd::Fd;
use crate::timestamp::Timestamp;
use crate::value::Value;

/// Deepest nesting of maps and sequences in an arbitrary [`Value`].
pub const MAX_ARBITRARY_DEPTH: usize = 8;
/// Most entries of one arbitrary map or sequence.
pub const MAX_ARBITRARY_LEN: usize = 16;

impl<'a> Arbitrary<'a> for Fd {
    fn arbitrary(u: &mut Unstructured<'a>) -> Result<Self> {
        // Descriptor numbers are never negative.
        Ok(Fd(u.int_in_range(0..=i32::MAX)?))
    }
}

impl<'a> Arbitrary<'a> for Timestamp {
    fn arbitrary(u: &mut Unstructured<'a>) -> Result<Self> {
        let nanos = u.int_in_range(Timestamp::MIN.as_nanos()..=Timestamp::MAX.as_nanos())?;
        Ok(Timestamp::from_nanos(nanos).unwrap_or(Timestamp::EPOCH))
    }
}

impl<'a> Arbitrary<'a> for Value {
    fn arbitrary(u: &mut Unstructured<'a>) -> Result<Self> {
        arbitrary_value(u, MAX_ARBITRARY_DEPTH)
    }
}

/// A value whose containers nest at most `depth_left` more levels.
fn arbitrary_value(u: &mut Unstructured<'_>, depth_left: usize) -> Result<Value> {
    let kinds = if depth_left == 0 { 10 } else { 12 };
    Ok(match u.choose_index(kinds)? {
        0 => Value::Null,
        1 => Value::Binary(Vec::arbitrary(u)?),
        2 => Value::Bool(bool::arbitrary(u)?),
        3 => Value::Fd(Fd::arbitrary(u)?),
        4 => Value::Float(f64::arbitrary(u)?),
        // Small integers are the common case; also cover the full range.
        5 => Value::Int(i8::arbitrary(u)?.into()),
        6 => Value::Int(i128::arbitrary(u)?),
        7 => Value::Str(String::arbitrary(u)?),
        8 => Value::Timestamp(Timestamp::arbitrary(u)?),
        9 => Value::Int(i64::arbitrary(u)?.into()),
        10 => {
            let mut items = Vec::new();
            while items.len() < MAX_ARBITRARY_LEN && !u.is_empty() && bool::arbitrary(u)? {
                items.push(arbitrary_value(u, depth_left - 1)?);
            }
            Value::Seq(items)
        }
        _ => {
            let mut entries = Vec::new();
            while entries.len() < MAX_ARBITRARY_LEN && !u.is_empty() && bool::arbitrary(u)? {
                entries.push((
                    arbitrary_value(u, depth_left - 1)?,
                    arbitrary_value(u, depth_left - 1)?,
                ));
            }
            Value::Map(entries)
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn depth(v: &Value) -> usize {
        match v {
            Value::Seq(items) => 1 + items.iter().map(depth).max().unwrap_or(0),
            Value::Map(entries) => {
                1 + entries
                    .iter()
                    .map(|(k, v)| depth(k).max(depth(v)))
                    .max()
                    .unwrap_or(0)
            }
            _ => 0,
        }
    }

    #[test]
    fn values_are_bounded_and_encodable() {
        let mut seen_containers = 0;
        for seed in 0..500u32 {
            // A cheap pseudo-random byte stream per seed.
            let mut x = seed.wrapping_mul(2_654_435_761).wrapping_add(1);
            let data: Vec<u8> = (0..4096)
                .map(|_| {
                    x ^= x << 13;
                    x ^= x >> 17;
                    x ^= x << 5;
                    x as u8
                })
                .collect();
            let v = Value::arbitrary(&mut Unstructured::new(&data)).unwrap();
            assert!(depth(&v) <= MAX_ARBITRARY_DEPTH);
            if depth(&v) > 0 {
                seen_containers += 1;
            }
            let e = v.encode();
            e.argdata().validate().unwrap();
            assert_eq!(e.bytes.len(), v.serialized_len());
        }
        assert!(seen_containers > 50);
    }
}
