//! The serializer: any `Serialize` type to an owned [`Value`], then to bytes.

use alloc::string::{String, ToString};
use alloc::vec::Vec;

use ::serde::ser::{self, Serialize};

use super::error::{Error, ErrorKind, Result};
use super::markers::{FD_MARKER, TIMESTAMP_MARKER};
use crate::encode::Encoded;
use crate::fd::Fd;
use crate::reader::MAX_DEPTH;
use crate::timestamp::Timestamp;
use crate::value::Value;

/// Serializes `value` and encodes it: the bytes plus the list of descriptors its
/// [`Fd`] fields name, deduplicated and numbered like [`Value::encode`] does.
///
/// ```
/// #[derive(serde::Serialize)]
/// struct Ports { http: u16, https: u16 }
/// let bytes = argdata::to_vec(&Ports { http: 80, https: 443 })?;
/// let ad = argdata::Argdata::new(&bytes);
/// assert_eq!(ad.get("https")?.unwrap().as_int::<u16>()?, 443);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// # Errors
/// A value holding file descriptors ([`ErrorKind::HasFds`](super::ErrorKind::HasFds): use
/// [`to_vec_with_fds`]), a `u128` above `i128::MAX`, a timestamp whose seconds do not fit
/// `i64`, a descriptor number that does not fit `i32`, nesting deeper than [`MAX_DEPTH`],
/// or a message from the `Serialize` impl.
pub fn to_vec<T: Serialize + ?Sized>(value: &T) -> Result<Vec<u8>> {
    let encoded = to_vec_with_fds(value)?;
    if !encoded.fds.is_empty() {
        return Err(Error::new(ErrorKind::HasFds(encoded.fds.len())));
    }
    Ok(encoded.bytes)
}

/// Serializes `value` to argdata bytes and the file descriptors its fd leaves name, in
/// order of first appearance (the leaves hold indices into that list), for sending with
/// [`argdata::socket`](crate::socket) or granting to a program.
///
/// ```
/// # use serde::Serialize;
/// #[derive(Serialize)]
/// struct Config { log: argdata::Fd, level: u8 }
/// let e = argdata::to_vec_with_fds(&Config { log: argdata::Fd(7), level: 2 })?;
/// assert_eq!(e.fds, [argdata::Fd(7)]);
/// # Ok::<(), argdata::serde::Error>(())
/// ```
///
/// # Errors
/// As [`to_vec`], except that descriptors are fine.
pub fn to_vec_with_fds<T: Serialize + ?Sized>(value: &T) -> Result<Encoded> {
    Ok(to_value(value)?.encode())
}

/// Serializes `value` into an owned [`Value`].
///
/// ```
/// use argdata::{Fd, Value};
///
/// #[derive(serde::Serialize)]
/// struct Listen { port: u16, socket: Fd }
///
/// let value = argdata::to_value(&Listen { port: 80, socket: Fd(3) })?;
/// assert_eq!(value, Value::map([("port", Value::from(80)), ("socket", Value::from(Fd(3)))]));
/// # Ok::<(), argdata::serde::Error>(())
/// ```
///
/// # Errors
/// As [`to_vec`].
pub fn to_value<T: Serialize + ?Sized>(value: &T) -> Result<Value> {
    value.serialize(ValueSerializer::new())
}

/// A serde serializer producing an owned [`Value`]; see [`to_value`].
///
/// Maps and sequences may nest at most [`MAX_DEPTH`] levels, so that the result can be
/// read back.
#[derive(Clone, Copy, Debug, Default)]
pub struct ValueSerializer {
    /// Number of enclosing maps and sequences.
    depth: usize,
}

impl ValueSerializer {
    /// A serializer for a top-level value.
    #[must_use]
    pub fn new() -> Self {
        ValueSerializer { depth: 0 }
    }

    /// The serializer for the contents of a new container at this level.
    fn nested(self) -> Result<ValueSerializer> {
        if self.depth >= MAX_DEPTH {
            return Err(Error::new(ErrorKind::Decode(crate::ErrorKind::TooDeep(
                MAX_DEPTH,
            ))));
        }
        Ok(ValueSerializer {
            depth: self.depth + 1,
        })
    }

    /// `{ variant: content }`, for the non-unit variants of an enum.
    fn variant(self, variant: &'static str, content: Value) -> Value {
        Value::Map(alloc::vec![(Value::Str(variant.into()), content)])
    }
}

fn int_value(v: Value, target: &'static str) -> Result<i128> {
    match v {
        Value::Int(i) => Ok(i),
        other => Err(Error::new(ErrorKind::Unexpected {
            expected: target,
            found: other.ty(),
        })),
    }
}

impl ser::Serializer for ValueSerializer {
    type Ok = Value;
    type Error = Error;
    type SerializeSeq = SeqBuilder;
    type SerializeTuple = SeqBuilder;
    type SerializeTupleStruct = SeqBuilder;
    type SerializeTupleVariant = SeqBuilder;
    type SerializeMap = MapBuilder;
    type SerializeStruct = MapBuilder;
    type SerializeStructVariant = MapBuilder;

    fn serialize_bool(self, v: bool) -> Result<Value> {
        Ok(Value::Bool(v))
    }

    fn serialize_i8(self, v: i8) -> Result<Value> {
        Ok(Value::from(v))
    }

    fn serialize_i16(self, v: i16) -> Result<Value> {
        Ok(Value::from(v))
    }

    fn serialize_i32(self, v: i32) -> Result<Value> {
        Ok(Value::from(v))
    }

    fn serialize_i64(self, v: i64) -> Result<Value> {
        Ok(Value::from(v))
    }

    fn serialize_i128(self, v: i128) -> Result<Value> {
        Ok(Value::Int(v))
    }

    fn serialize_u8(self, v: u8) -> Result<Value> {
        Ok(Value::from(v))
    }

    fn serialize_u16(self, v: u16) -> Result<Value> {
        Ok(Value::from(v))
    }

    fn serialize_u32(self, v: u32) -> Result<Value> {
        Ok(Value::from(v))
    }

    fn serialize_u64(self, v: u64) -> Result<Value> {
        Ok(Value::from(v))
    }

    fn serialize_u128(self, v: u128) -> Result<Value> {
        i128::try_from(v)
            .map(Value::Int)
            .map_err(|_| Error::int_out_of_range(v, "argdata int (i128)"))
    }

    fn serialize_f32(self, v: f32) -> Result<Value> {
        Ok(Value::Float(v.into()))
    }

    fn serialize_f64(self, v: f64) -> Result<Value> {
        Ok(Value::Float(v))
    }

    fn serialize_char(self, v: char) -> Result<Value> {
        Ok(Value::Str(v.to_string()))
    }

    fn serialize_str(self, v: &str) -> Result<Value> {
        Ok(Value::Str(v.into()))
    }

    fn serialize_bytes(self, v: &[u8]) -> Result<Value> {
        Ok(Value::Binary(v.into()))
    }

    fn serialize_none(self) -> Result<Value> {
        Ok(Value::Null)
    }

    fn serialize_some<T: Serialize + ?Sized>(self, value: &T) -> Result<Value> {
        value.serialize(self)
    }

    fn serialize_unit(self) -> Result<Value> {
        Ok(Value::Null)
    }

    fn serialize_unit_struct(self, _name: &'static str) -> Result<Value> {
        Ok(Value::Null)
    }

    fn serialize_unit_variant(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
    ) -> Result<Value> {
        Ok(Value::Str(variant.into()))
    }

    fn serialize_newtype_struct<T: Serialize + ?Sized>(
        self,
        name: &'static str,
        value: &T,
    ) -> Result<Value> {
        match name {
            FD_MARKER => {
                let n = int_value(value.serialize(self)?, "an fd number")?;
                let fd = i32::try_from(n).map_err(|_| Error::int_out_of_range(n, "fd (i32)"))?;
                Ok(Value::Fd(Fd(fd)))
            }
            TIMESTAMP_MARKER => {
                let n = int_value(value.serialize(self)?, "timestamp nanoseconds")?;
                Timestamp::from_nanos(n)
                    .map(Value::Timestamp)
                    .ok_or_else(|| Error::int_out_of_range(n, "timestamp nanoseconds"))
            }
            _ => value.serialize(self),
        }
    }

    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
        value: &T,
    ) -> Result<Value> {
        let content = value.serialize(self.nested()?)?;
        Ok(self.variant(variant, content))
    }

    fn serialize_seq(self, len: Option<usize>) -> Result<SeqBuilder> {
        Ok(SeqBuilder {
            inner: self.nested()?,
            items: Vec::with_capacity(len.unwrap_or(0).min(256)),
            variant: None,
        })
    }

    fn serialize_tuple(self, len: usize) -> Result<SeqBuilder> {
        self.serialize_seq(Some(len))
    }

    fn serialize_tuple_struct(self, _name: &'static str, len: usize) -> Result<SeqBuilder> {
        self.serialize_seq(Some(len))
    }

    fn serialize_tuple_variant(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
        len: usize,
    ) -> Result<SeqBuilder> {
        let mut b = self.nested()?.serialize_seq(Some(len))?;
        b.variant = Some(variant);
        Ok(b)
    }

    fn serialize_map(self, len: Option<usize>) -> Result<MapBuilder> {
        Ok(MapBuilder {
            inner: self.nested()?,
            entries: Vec::with_capacity(len.unwrap_or(0).min(256)),
            key: None,
            variant: None,
        })
    }

    fn serialize_struct(self, _name: &'static str, len: usize) -> Result<MapBuilder> {
        self.serialize_map(Some(len))
    }

    fn serialize_struct_variant(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
        len: usize,
    ) -> Result<MapBuilder> {
        let mut b = self.nested()?.serialize_map(Some(len))?;
        b.variant = Some(variant);
        Ok(b)
    }

    fn collect_str<T: core::fmt::Display + ?Sized>(self, value: &T) -> Result<Value> {
        Ok(Value::Str(value.to_string()))
    }

    fn is_human_readable(&self) -> bool {
        true
    }
}

/// Collects the elements of a sequence, tuple or tuple variant.
#[doc(hidden)]
#[derive(Debug)]
pub struct SeqBuilder {
    inner: ValueSerializer,
    items: Vec<Value>,
    variant: Option<&'static str>,
}

impl SeqBuilder {
    fn push<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<()> {
        self.items.push(value.serialize(self.inner)?);
        Ok(())
    }

    fn finish(self) -> Value {
        let seq = Value::Seq(self.items);
        match self.variant {
            Some(variant) => self.inner.variant(variant, seq),
            None => seq,
        }
    }
}

impl ser::SerializeSeq for SeqBuilder {
    type Ok = Value;
    type Error = Error;

    fn serialize_element<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<()> {
        self.push(value)
    }

    fn end(self) -> Result<Value> {
        Ok(self.finish())
    }
}

impl ser::SerializeTuple for SeqBuilder {
    type Ok = Value;
    type Error = Error;

    fn serialize_element<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<()> {
        self.push(value)
    }

    fn end(self) -> Result<Value> {
        Ok(self.finish())
    }
}

impl ser::SerializeTupleStruct for SeqBuilder {
    type Ok = Value;
    type Error = Error;

    fn serialize_field<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<()> {
        self.push(value)
    }

    fn end(self) -> Result<Value> {
        Ok(self.finish())
    }
}

impl ser::SerializeTupleVariant for SeqBuilder {
    type Ok = Value;
    type Error = Error;

    fn serialize_field<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<()> {
        self.push(value)
    }

    fn end(self) -> Result<Value> {
        Ok(self.finish())
    }
}

/// Collects the entries of a map, struct or struct variant.
#[doc(hidden)]
#[derive(Debug)]
pub struct MapBuilder {
    inner: ValueSerializer,
    entries: Vec<(Value, Value)>,
    key: Option<Value>,
    variant: Option<&'static str>,
}

impl MapBuilder {
    fn finish(self) -> Value {
        let map = Value::Map(self.entries);
        match self.variant {
            Some(variant) => self.inner.variant(variant, map),
            None => map,
        }
    }

    fn field<T: Serialize + ?Sized>(&mut self, key: &'static str, value: &T) -> Result<()> {
        let value = value.serialize(self.inner)?;
        self.entries.push((Value::Str(String::from(key)), value));
        Ok(())
    }
}

impl ser::SerializeMap for MapBuilder {
    type Ok = Value;
    type Error = Error;

    fn serialize_key<T: Serialize + ?Sized>(&mut self, key: &T) -> Result<()> {
        self.key = Some(key.serialize(self.inner)?);
        Ok(())
    }

    fn serialize_value<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<()> {
        let key = self
            .key
            .take()
            .ok_or_else(|| <Error as ser::Error>::custom("map value serialized before its key"))?;
        let value = value.serialize(self.inner)?;
        self.entries.push((key, value));
        Ok(())
    }

    fn end(self) -> Result<Value> {
        Ok(self.finish())
    }
}

impl ser::SerializeStruct for MapBuilder {
    type Ok = Value;
    type Error = Error;

    fn serialize_field<T: Serialize + ?Sized>(
        &mut self,
        key: &'static str,
        value: &T,
    ) -> Result<()> {
        self.field(key, value)
    }

    fn end(self) -> Result<Value> {
        Ok(self.finish())
    }
}

impl ser::SerializeStructVariant for MapBuilder {
    type Ok = Value;
    type Error = Error;

    fn serialize_field<T: Serialize + ?Sized>(
        &mut self,
        key: &'static str,
        value: &T,
    ) -> Result<()> {
        self.field(key, value)
    }

    fn end(self) -> Result<Value> {
        Ok(self.finish())
    }
}
