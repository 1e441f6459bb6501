//! `Serialize` and `Deserialize` for [`Fd`], [`Timestamp`] and [`Value`].
//!
//! Both serialize as a newtype struct with a private marker name, which this crate's
//! serializer and deserializer turn into an fd or timestamp leaf; other formats see the
//! plain number (the descriptor, or nanoseconds since the epoch).

use alloc::string::String;
use alloc::vec::Vec;
use core::fmt;

use ::serde::de::{self, Deserialize, Deserializer, MapAccess, Visitor};
use ::serde::ser::{Serialize, Serializer};

use super::markers::{FD_MARKER, TIMESTAMP_MARKER};
use crate::fd::Fd;
use crate::timestamp::Timestamp;
use crate::value::Value;

impl Serialize for Fd {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_newtype_struct(FD_MARKER, &self.0)
    }
}

impl<'de> Deserialize<'de> for Fd {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Fd, D::Error> {
        deserializer.deserialize_newtype_struct(FD_MARKER, FdVisitor)
    }
}

struct FdVisitor;

impl<'de> Visitor<'de> for FdVisitor {
    type Value = Fd;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a file descriptor")
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Fd, E> {
        i32::try_from(v)
            .map(Fd)
            .map_err(|_| E::invalid_value(de::Unexpected::Signed(v), &self))
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Fd, E> {
        i32::try_from(v)
            .map(Fd)
            .map_err(|_| E::invalid_value(de::Unexpected::Unsigned(v), &self))
    }

    fn visit_newtype_struct<D: Deserializer<'de>>(self, d: D) -> Result<Fd, D::Error> {
        d.deserialize_any(self)
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Fd, A::Error> {
        let n = marked_entry(map, FD_MARKER, &self)?;
        i32::try_from(n)
            .map(Fd)
            .map_err(|_| de::Error::custom("file descriptor out of range"))
    }
}

impl Serialize for Timestamp {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        // Serde's buffering (`flatten`, untagged enums) has no 128-bit integers, so
        // nanoseconds that fit an `i64` (years 1677 to 2262) go out as one.
        let nanos = self.as_nanos();
        match i64::try_from(nanos) {
            Ok(n) => serializer.serialize_newtype_struct(TIMESTAMP_MARKER, &n),
            Err(_) => serializer.serialize_newtype_struct(TIMESTAMP_MARKER, &nanos),
        }
    }
}

impl<'de> Deserialize<'de> for Timestamp {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Timestamp, D::Error> {
        deserializer.deserialize_newtype_struct(TIMESTAMP_MARKER, TimestampVisitor)
    }
}

struct TimestampVisitor;

impl TimestampVisitor {
    fn nanos<E: de::Error>(&self, v: i128) -> Result<Timestamp, E> {
        Timestamp::from_nanos(v).ok_or_else(|| E::custom("timestamp out of range"))
    }
}

impl<'de> Visitor<'de> for TimestampVisitor {
    type Value = Timestamp;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a timestamp (nanoseconds since 1970-01-01T00:00:00Z)")
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Timestamp, E> {
        self.nanos(v.into())
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Timestamp, E> {
        self.nanos(v.into())
    }

    fn visit_i128<E: de::Error>(self, v: i128) -> Result<Timestamp, E> {
        self.nanos(v)
    }

    fn visit_u128<E: de::Error>(self, v: u128) -> Result<Timestamp, E> {
        let v = i128::try_from(v).map_err(|_| E::custom("timestamp out of range"))?;
        self.nanos(v)
    }

    fn visit_newtype_struct<D: Deserializer<'de>>(self, d: D) -> Result<Timestamp, D::Error> {
        d.deserialize_any(self)
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Timestamp, A::Error> {
        let nanos = marked_entry(map, TIMESTAMP_MARKER, &self)?;
        self.nanos(nanos)
    }
}

/// Reads the single `{ marker: value }` entry that stands for a marked leaf when it went
/// through `deserialize_any` (for example inside `#[serde(flatten)]`).
fn marked_entry<'de, A>(mut map: A, marker: &str, exp: &dyn de::Expected) -> Result<i128, A::Error>
where
    A: MapAccess<'de>,
{
    match map.next_key::<alloc::string::String>()?.as_deref() {
        Some(key) if key == marker => {}
        _ => return Err(de::Error::invalid_type(de::Unexpected::Map, exp)),
    }
    let WideInt(value) = map.next_value()?;
    if map.next_key::<de::IgnoredAny>()?.is_some() {
        return Err(de::Error::invalid_type(de::Unexpected::Map, exp));
    }
    Ok(value)
}

/// Any integer, read through `deserialize_any` (buffered content may hold any width).
struct WideInt(i128);

impl<'de> Deserialize<'de> for WideInt {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<WideInt, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = WideInt;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an integer")
            }

            fn visit_i64<E: de::Error>(self, v: i64) -> Result<WideInt, E> {
                Ok(WideInt(v.into()))
            }

            fn visit_u64<E: de::Error>(self, v: u64) -> Result<WideInt, E> {
                Ok(WideInt(v.into()))
            }

            fn visit_i128<E: de::Error>(self, v: i128) -> Result<WideInt, E> {
                Ok(WideInt(v))
            }
        }
        d.deserialize_any(V)
    }
}

/// Serializes every node as its natural serde counterpart; fd and timestamp leaves use
/// the same markers as [`Fd`] and [`Timestamp`], so a `Value` round-trips through
/// [`to_value`](crate::to_value) unchanged.
impl Serialize for Value {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use ::serde::ser::{SerializeMap, SerializeSeq};
        match self {
            Value::Null => serializer.serialize_unit(),
            Value::Binary(b) => serializer.serialize_bytes(b),
            Value::Bool(b) => serializer.serialize_bool(*b),
            Value::Fd(fd) => fd.serialize(serializer),
            Value::Float(f) => serializer.serialize_f64(*f),
            Value::Int(i) => match i64::try_from(*i) {
                Ok(i) => serializer.serialize_i64(i),
                Err(_) => match u64::try_from(*i) {
                    Ok(u) => serializer.serialize_u64(u),
                    Err(_) => serializer.serialize_i128(*i),
                },
            },
            Value::Map(entries) => {
                let mut map = serializer.serialize_map(Some(entries.len()))?;
                for (k, v) in entries {
                    map.serialize_entry(k, v)?;
                }
                map.end()
            }
            Value::Seq(items) => {
                let mut seq = serializer.serialize_seq(Some(items.len()))?;
                for item in items {
                    seq.serialize_element(item)?;
                }
                seq.end()
            }
            Value::Str(s) => serializer.serialize_str(s),
            Value::Timestamp(t) => t.serialize(serializer),
        }
    }
}

/// Accepts any self-describing input. With this crate's deserializer fd leaves become
/// [`Value::Fd`] (numbers from its fd converter) and timestamps [`Value::Timestamp`].
impl<'de> Deserialize<'de> for Value {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Value, D::Error> {
        deserializer.deserialize_any(ValueVisitor)
    }
}

struct ValueVisitor;

impl<'de> Visitor<'de> for ValueVisitor {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any argdata value")
    }

    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Value, E> {
        Ok(Value::from(v))
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Value, E> {
        Ok(Value::from(v))
    }

    fn visit_i128<E: de::Error>(self, v: i128) -> Result<Value, E> {
        Ok(Value::Int(v))
    }

    fn visit_u128<E: de::Error>(self, v: u128) -> Result<Value, E> {
        i128::try_from(v)
            .map(Value::Int)
            .map_err(|_| E::custom("integer above i128::MAX cannot be held by a Value"))
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Value, E> {
        Ok(Value::Float(v))
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Value, E> {
        Ok(Value::Str(v.into()))
    }

    fn visit_string<E: de::Error>(self, v: String) -> Result<Value, E> {
        Ok(Value::Str(v))
    }

    fn visit_bytes<E: de::Error>(self, v: &[u8]) -> Result<Value, E> {
        Ok(Value::Binary(v.into()))
    }

    fn visit_byte_buf<E: de::Error>(self, v: Vec<u8>) -> Result<Value, E> {
        Ok(Value::Binary(v))
    }

    fn visit_unit<E: de::Error>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_none<E: de::Error>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        Value::deserialize(d)
    }

    fn visit_newtype_struct<D: Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        Value::deserialize(d)
    }

    fn visit_seq<A: de::SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = seq.next_element()? {
            items.push(item);
        }
        Ok(Value::Seq(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut entries = Vec::new();
        while let Some(key) = map.next_key::<Value>()? {
            if entries.is_empty() {
                let marker = match &key {
                    Value::Str(s) if s == FD_MARKER => Some(true),
                    Value::Str(s) if s == TIMESTAMP_MARKER => Some(false),
                    _ => None,
                };
                if let Some(is_fd) = marker {
                    let WideInt(n) = map.next_value()?;
                    if map.next_key::<de::IgnoredAny>()?.is_some() {
                        return Err(de::Error::custom("marked leaf with more than one entry"));
                    }
                    return if is_fd {
                        i32::try_from(n)
                            .map(|n| Value::Fd(Fd(n)))
                            .map_err(|_| de::Error::custom("file descriptor out of range"))
                    } else {
                        Timestamp::from_nanos(n)
                            .map(Value::Timestamp)
                            .ok_or_else(|| de::Error::custom("timestamp out of range"))
                    };
                }
            }
            entries.push((key, map.next_value()?));
        }
        Ok(Value::Map(entries))
    }
}
