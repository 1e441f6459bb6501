//! The deserializer: reads Rust types straight from an [`Argdata`] view.

use alloc::string::String;
use core::fmt::Write as _;

use ::serde::de::value::BorrowedStrDeserializer;
use ::serde::de::{self, DeserializeSeed, IntoDeserializer, Visitor};

use super::error::{Error, ErrorKind, Result};
use super::markers::{FD_MARKER, TIMESTAMP_MARKER};
use crate::fd::{Fd, FdConverter, IdentityFds};
use crate::int::Wide;
use crate::reader::{Argdata, MAX_DEPTH, MapIter, SeqIter, Type};

/// Deserializes a `T` from encoded bytes; fd indices are taken as descriptor numbers
/// ([`IdentityFds`]). Strings and binary data may borrow from `bytes`.
///
/// ```
/// #[derive(serde::Deserialize)]
/// struct Greeting<'a> { text: &'a str }
/// let bytes = b"\x06\x86\x08text\x00\x84\x08hi\x00";
/// let g: Greeting<'_> = argdata::from_slice(bytes)?;
/// assert_eq!(g.text, "hi");
/// # Ok::<(), argdata::serde::Error>(())
/// ```
///
/// # Errors
/// Malformed data, a type mismatch, an integer out of range or a message from the
/// `Deserialize` impl, with the path of the value ([`Error::path`]).
pub fn from_slice<'de, T: de::Deserialize<'de>>(bytes: &'de [u8]) -> Result<T> {
    from_argdata(Argdata::new(bytes))
}

/// Like [`from_slice`], with fd indices translated by `fds` (for example an
/// [`FdTable`](crate::FdTable) over the descriptors received with the bytes).
///
/// # Errors
/// As [`from_slice`]; an index the converter rejects is
/// [`crate::ErrorKind::BadFd`].
pub fn from_slice_with_fds<'de, T, C>(bytes: &'de [u8], fds: &C) -> Result<T>
where
    T: de::Deserialize<'de>,
    C: FdConverter<Fd = Fd> + ?Sized,
{
    from_argdata_with_fds(Argdata::new(bytes), fds)
}

/// Deserializes a `T` from a reader view; fd indices are descriptor numbers.
///
/// # Errors
/// As [`from_slice`].
pub fn from_argdata<'de, T: de::Deserialize<'de>>(ad: Argdata<'de>) -> Result<T> {
    from_argdata_with_fds(ad, &IdentityFds)
}

/// Deserializes a `T` from a reader view with fd indices translated by `fds`.
///
/// # Errors
/// As [`from_slice_with_fds`].
pub fn from_argdata_with_fds<'de, T, C>(ad: Argdata<'de>, fds: &C) -> Result<T>
where
    T: de::Deserialize<'de>,
    C: FdConverter<Fd = Fd> + ?Sized,
{
    T::deserialize(Deserializer::with_fd_converter(ad, fds))
}

/// One step of the path from the root to the value being decoded.
#[derive(Clone, Copy, Debug)]
enum Segment<'a> {
    Root,
    Key(&'a str),
    /// A map key that is not a string.
    OtherKey,
    Index(usize),
}

/// The path to a value, as a chain of segments living on the stack.
#[derive(Clone, Copy, Debug)]
struct Path<'a> {
    parent: Option<&'a Path<'a>>,
    segment: Segment<'a>,
}

impl Path<'_> {
    const ROOT: Path<'static> = Path {
        parent: None,
        segment: Segment::Root,
    };

    fn render(&self) -> String {
        let mut segments = alloc::vec::Vec::new();
        let mut at = Some(self);
        while let Some(p) = at {
            segments.push(p.segment);
            at = p.parent;
        }
        let mut out = String::new();
        for segment in segments.iter().rev() {
            let dot = if out.is_empty() { "" } else { "." };
            // Writing to a String cannot fail.
            let _ = match segment {
                Segment::Root => Ok(()),
                Segment::Key(k) => write!(out, "{dot}{k}"),
                Segment::OtherKey => write!(out, "{dot}?"),
                Segment::Index(i) => write!(out, "[{i}]"),
            };
        }
        out
    }
}

/// A serde deserializer over one argdata value.
///
/// Use it directly to pick the fd converter, or through [`from_slice`] and friends.
/// It keeps the path from the root so that errors can name the offending field, and it
/// refuses maps and sequences nested deeper than [`MAX_DEPTH`].
///
/// ```
/// use serde::Deserialize;
/// let ad = argdata::Argdata::new(&[0x03, 0, 0, 0, 1]);
/// let granted = [argdata::Fd(10), argdata::Fd(11)];
/// let table = argdata::FdTable(&granted);
/// let fd = argdata::Fd::deserialize(
///     argdata::serde::Deserializer::with_fd_converter(ad, &table),
/// )?;
/// assert_eq!(fd, argdata::Fd(11));
/// # Ok::<(), argdata::serde::Error>(())
/// ```
pub struct Deserializer<'de, 'a, C: ?Sized = IdentityFds> {
    ad: Argdata<'de>,
    fds: &'a C,
    path: Path<'a>,
    depth_left: usize,
}

impl<'de> Deserializer<'de, 'static, IdentityFds> {
    /// A deserializer for `ad` that takes fd indices as descriptor numbers.
    #[must_use]
    pub fn new(ad: Argdata<'de>) -> Self {
        Deserializer::with_fd_converter(ad, &IdentityFds)
    }
}

impl<'de, 'a, C> Deserializer<'de, 'a, C>
where
    C: FdConverter<Fd = Fd> + ?Sized,
{
    /// A deserializer for `ad` that translates fd indices with `fds`.
    #[must_use]
    pub fn with_fd_converter(ad: Argdata<'de>, fds: &'a C) -> Self {
        Deserializer {
            ad,
            fds,
            path: Path::ROOT,
            depth_left: MAX_DEPTH,
        }
    }

    fn child<'b>(
        &'b self,
        ad: Argdata<'de>,
        segment: Segment<'b>,
        depth_left: usize,
    ) -> Deserializer<'de, 'b, C> {
        Deserializer {
            ad,
            fds: self.fds,
            path: Path {
                parent: Some(&self.path),
                segment,
            },
            depth_left,
        }
    }

    fn locate(&self, e: Error) -> Error {
        e.locate(|| self.path.render(), Some(self.ad.offset()))
    }

    fn ty(&self) -> Result<Type> {
        Ok(self.ad.ty()?)
    }

    fn wide(&self) -> Result<Wide> {
        Ok(self.ad.wide_int()?)
    }

    fn unexpected(&self, expected: &'static str) -> Error {
        match self.ad.ty() {
            Ok(found) => Error::new(ErrorKind::Unexpected { expected, found }),
            Err(e) => e.into(),
        }
    }

    fn fd(&self) -> Result<Fd> {
        Ok(self.ad.as_fd(self.fds)?)
    }

    fn visit_int<V: Visitor<'de>>(&self, visitor: V) -> Result<V::Value> {
        match self.wide()? {
            Wide::Signed(v) => {
                if let Ok(v) = i64::try_from(v) {
                    visitor.visit_i64(v)
                } else if let Ok(v) = u64::try_from(v) {
                    visitor.visit_u64(v)
                } else {
                    visitor.visit_i128(v)
                }
            }
            Wide::Unsigned(v) => visitor.visit_u128(v),
        }
    }

    fn visit_seq_of<V: Visitor<'de>>(&self, iter: SeqIter<'de>, visitor: V) -> Result<V::Value> {
        let depth_left = self.ad.enter(self.depth_left)?;
        let mut access = SeqAccess {
            de: self,
            iter,
            index: 0,
            depth_left,
        };
        // Elements the visitor leaves unread are not checked.
        visitor.visit_seq(&mut access)
    }

    fn visit_map_of<V: Visitor<'de>>(&self, iter: MapIter<'de>, visitor: V) -> Result<V::Value> {
        let depth_left = self.ad.enter(self.depth_left)?;
        let mut access = MapAccess {
            de: self,
            iter,
            value: None,
            segment: Segment::Root,
            depth_left,
        };
        visitor.visit_map(&mut access)
    }

    /// Presents a leaf that serde has no native type for as a one-entry map from a
    /// marker name to its content, so that self-describing visitors can recognize it.
    fn visit_marked<V: Visitor<'de>>(&self, visitor: V) -> Result<V::Value> {
        match self.ty()? {
            Type::Fd => visitor.visit_map(MarkedLeaf {
                marker: Some(FD_MARKER),
                value: Some(MarkedValue::Fd(self.fd()?.0)),
            }),
            _ => visitor.visit_map(MarkedLeaf {
                marker: Some(TIMESTAMP_MARKER),
                value: Some(MarkedValue::Nanos(self.ad.as_timestamp()?.as_nanos())),
            }),
        }
    }

    fn any<V: Visitor<'de>>(&self, visitor: V) -> Result<V::Value> {
        match self.ty()? {
            Type::Null => visitor.visit_unit(),
            Type::Binary => visitor.visit_borrowed_bytes(self.ad.as_binary()?),
            Type::Bool => visitor.visit_bool(self.ad.as_bool()?),
            Type::Fd | Type::Timestamp => self.visit_marked(visitor),
            Type::Float => visitor.visit_f64(self.ad.as_float()?),
            Type::Int => self.visit_int(visitor),
            Type::Map => self.visit_map_of(self.ad.map()?, visitor),
            Type::Seq => self.visit_seq_of(self.ad.seq()?, visitor),
            Type::Str => visitor.visit_borrowed_str(self.ad.as_str()?),
        }
    }

    fn float(&self) -> Result<f64> {
        match self.ty()? {
            Type::Int => Ok(match self.wide()? {
                Wide::Signed(v) => v as f64,
                Wide::Unsigned(v) => v as f64,
            }),
            _ => Ok(self.ad.as_float()?),
        }
    }

    fn enum_<V: Visitor<'de>>(&self, visitor: V) -> Result<V::Value> {
        match self.ty()? {
            Type::Str => {
                visitor.visit_enum(BorrowedStrDeserializer::<Error>::new(self.ad.as_str()?))
            }
            Type::Map => {
                let mut entries = self.ad.map()?;
                let (key, value) = match (entries.next(), entries.next()) {
                    (Some(entry), None) => entry?,
                    _ => return Err(self.unexpected("a map with exactly one entry for an enum")),
                };
                let depth_left = self.ad.enter(self.depth_left)?;
                let name = key.as_str()?;
                visitor.visit_enum(EnumAccess {
                    de: self,
                    key,
                    name,
                    value,
                    depth_left,
                })
            }
            _ => Err(self.unexpected("a str or a one-entry map for an enum")),
        }
    }
}

macro_rules! deserialize_int {
    ($($method:ident $visit:ident $t:ty),* $(,)?) => {$(
        fn $method<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value> {
            let r = match self.wide() {
                Ok(Wide::Signed(v)) => <$t>::try_from(v)
                    .map_err(|_| Error::int_out_of_range(v, stringify!($t))),
                Ok(Wide::Unsigned(v)) => <$t>::try_from(v)
                    .map_err(|_| Error::int_out_of_range(v, stringify!($t))),
                Err(e) => Err(e),
            };
            r.and_then(|v| visitor.$visit(v)).map_err(|e| self.locate(e))
        }
    )*};
}

/// Runs `$body` and attaches this level's path to any error it returns.
macro_rules! located {
    ($self:ident, $body:expr) => {{
        // The closure gives `?` in `$body` a scope that ends here.
        #[allow(clippy::redundant_closure_call)]
        let r: Result<_> = (|| $body)();
        r.map_err(|e| $self.locate(e))
    }};
}

impl<'de, C> de::Deserializer<'de> for Deserializer<'de, '_, C>
where
    C: FdConverter<Fd = Fd> + ?Sized,
{
    type Error = Error;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value> {
        located!(self, self.any(visitor))
    }

    fn deserialize_bool<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value> {
        located!(self, visitor.visit_bool(self.ad.as_bool()?))
    }

    deserialize_int!(
        deserialize_i8 visit_i8 i8,
        deserialize_i16 visit_i16 i16,
        deserialize_i32 visit_i32 i32,
        deserialize_i64 visit_i64 i64,
        deserialize_i128 visit_i128 i128,
        deserialize_u8 visit_u8 u8,
        deserialize_u16 visit_u16 u16,
        deserialize_u32 visit_u32 u32,
        deserialize_u64 visit_u64 u64,
        deserialize_u128 visit_u128 u128,
    );

    fn deserialize_f32<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value> {
        located!(self, visitor.visit_f32(self.float()? as f32))
    }

    fn deserialize_f64<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value> {
        located!(self, visitor.visit_f64(self.float()?))
    }

    fn deserialize_char<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value> {
        located!(self, {
            let s = self.ad.as_str()?;
            let mut chars = s.chars();
            match (chars.next(), chars.next()) {
                (Some(c), None) => visitor.visit_char(c),
                _ => visitor.visit_borrowed_str(s),
            }
        })
    }

    fn deserialize_str<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value> {
        located!(self, visitor.visit_borrowed_str(self.ad.as_str()?))
    }

    fn deserialize_string<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value> {
        self.deserialize_str(visitor)
    }

    fn deserialize_bytes<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value> {
        located!(self, visitor.visit_borrowed_bytes(self.ad.as_binary()?))
    }

    fn deserialize_byte_buf<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value> {
        self.deserialize_bytes(visitor)
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value> {
        if self.ad.is_null() {
            located!(self, visitor.visit_none())
        } else {
            visitor.visit_some(self)
        }
    }

    fn deserialize_unit<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value> {
        located!(self, {
            if self.ad.is_null() {
                visitor.visit_unit()
            } else {
                Err(self.unexpected("null"))
            }
        })
    }

    fn deserialize_unit_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> Result<V::Value> {
        self.deserialize_unit(visitor)
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        name: &'static str,
        visitor: V,
    ) -> Result<V::Value> {
        match name {
            FD_MARKER => located!(self, visitor.visit_i32(self.fd()?.0)),
            TIMESTAMP_MARKER => {
                located!(self, visitor.visit_i128(self.ad.as_timestamp()?.as_nanos()))
            }
            _ => visitor.visit_newtype_struct(self),
        }
    }

    fn deserialize_seq<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value> {
        located!(self, self.visit_seq_of(self.ad.seq()?, visitor))
    }

    fn deserialize_tuple<V: Visitor<'de>>(self, _len: usize, visitor: V) -> Result<V::Value> {
        self.deserialize_seq(visitor)
    }

    fn deserialize_tuple_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _len: usize,
        visitor: V,
    ) -> Result<V::Value> {
        self.deserialize_seq(visitor)
    }

    fn deserialize_map<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value> {
        located!(self, self.visit_map_of(self.ad.map()?, visitor))
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value> {
        self.deserialize_map(visitor)
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value> {
        located!(self, self.enum_(visitor))
    }

    fn deserialize_identifier<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value> {
        self.deserialize_str(visitor)
    }

    fn deserialize_ignored_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value> {
        visitor.visit_unit()
    }

    fn is_human_readable(&self) -> bool {
        true
    }
}

struct SeqAccess<'s, 'de, 'a, C: ?Sized> {
    de: &'s Deserializer<'de, 'a, C>,
    iter: SeqIter<'de>,
    index: usize,
    depth_left: usize,
}

impl<'de, C> de::SeqAccess<'de> for SeqAccess<'_, 'de, '_, C>
where
    C: FdConverter<Fd = Fd> + ?Sized,
{
    type Error = Error;

    fn next_element_seed<T: DeserializeSeed<'de>>(&mut self, seed: T) -> Result<Option<T::Value>> {
        let Some(item) = self.iter.next() else {
            return Ok(None);
        };
        let index = self.index;
        self.index += 1;
        let item = item.map_err(|e| {
            let path = Path {
                parent: Some(&self.de.path),
                segment: Segment::Index(index),
            };
            Error::from(e).locate(|| path.render(), None)
        })?;
        let child = self.de.child(item, Segment::Index(index), self.depth_left);
        let offset = item.offset();
        let path = Path {
            parent: Some(&self.de.path),
            segment: Segment::Index(index),
        };
        seed.deserialize(child)
            .map(Some)
            .map_err(|e| e.locate(|| path.render(), Some(offset)))
    }
}

struct MapAccess<'s, 'de, 'a, C: ?Sized> {
    de: &'s Deserializer<'de, 'a, C>,
    iter: MapIter<'de>,
    value: Option<Argdata<'de>>,
    segment: Segment<'de>,
    depth_left: usize,
}

impl<'de, C> de::MapAccess<'de> for MapAccess<'_, 'de, '_, C>
where
    C: FdConverter<Fd = Fd> + ?Sized,
{
    type Error = Error;

    fn next_key_seed<K: DeserializeSeed<'de>>(&mut self, seed: K) -> Result<Option<K::Value>> {
        let Some(entry) = self.iter.next() else {
            return Ok(None);
        };
        let (key, value) = entry.map_err(|e| self.de.locate(e.into()))?;
        self.segment = match key.as_str() {
            Ok(k) => Segment::Key(k),
            Err(_) => Segment::OtherKey,
        };
        self.value = Some(value);
        let child = self.de.child(key, self.segment, self.depth_left);
        seed.deserialize(child).map(Some)
    }

    fn next_value_seed<V: DeserializeSeed<'de>>(&mut self, seed: V) -> Result<V::Value> {
        let value = self.value.take().ok_or_else(|| {
            self.de
                .locate(de::Error::custom("map value requested before its key"))
        })?;
        let child = self.de.child(value, self.segment, self.depth_left);
        let offset = value.offset();
        // An error the seed makes after taking the value (a `deserialize_with` function's
        // own check, say) belongs to this entry, not to the map.
        let path = Path {
            parent: Some(&self.de.path),
            segment: self.segment,
        };
        seed.deserialize(child)
            .map_err(|e| e.locate(|| path.render(), Some(offset)))
    }
}

struct EnumAccess<'s, 'de, 'a, C: ?Sized> {
    de: &'s Deserializer<'de, 'a, C>,
    key: Argdata<'de>,
    name: &'de str,
    value: Argdata<'de>,
    depth_left: usize,
}

impl<'s, 'de, 'a, C> de::EnumAccess<'de> for EnumAccess<'s, 'de, 'a, C>
where
    C: FdConverter<Fd = Fd> + ?Sized,
{
    type Error = Error;
    type Variant = Self;

    fn variant_seed<V: DeserializeSeed<'de>>(self, seed: V) -> Result<(V::Value, Self)> {
        let child = self
            .de
            .child(self.key, Segment::Key(self.name), self.depth_left);
        let variant = seed.deserialize(child)?;
        Ok((variant, self))
    }
}

impl<'de, C> de::VariantAccess<'de> for EnumAccess<'_, 'de, '_, C>
where
    C: FdConverter<Fd = Fd> + ?Sized,
{
    type Error = Error;

    fn unit_variant(self) -> Result<()> {
        de::Deserialize::deserialize(self.content())
    }

    fn newtype_variant_seed<T: DeserializeSeed<'de>>(self, seed: T) -> Result<T::Value> {
        seed.deserialize(self.content())
    }

    fn tuple_variant<V: Visitor<'de>>(self, _len: usize, visitor: V) -> Result<V::Value> {
        de::Deserializer::deserialize_seq(self.content(), visitor)
    }

    fn struct_variant<V: Visitor<'de>>(
        self,
        _fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value> {
        de::Deserializer::deserialize_map(self.content(), visitor)
    }
}

impl<'s, 'de, 'a, C> EnumAccess<'s, 'de, 'a, C>
where
    C: FdConverter<Fd = Fd> + ?Sized,
{
    fn content(&self) -> Deserializer<'de, 's, C> {
        self.de
            .child(self.value, Segment::Key(self.name), self.depth_left)
    }
}

/// Content of a [`MarkedLeaf`].
enum MarkedValue {
    Fd(i32),
    Nanos(i128),
}

/// A one-entry map `{ marker: value }` standing for an fd or timestamp leaf in
/// `deserialize_any`.
struct MarkedLeaf {
    marker: Option<&'static str>,
    value: Option<MarkedValue>,
}

impl<'de> de::MapAccess<'de> for MarkedLeaf {
    type Error = Error;

    fn next_key_seed<K: DeserializeSeed<'de>>(&mut self, seed: K) -> Result<Option<K::Value>> {
        match self.marker.take() {
            Some(marker) => seed.deserialize(marker.into_deserializer()).map(Some),
            None => Ok(None),
        }
    }

    fn next_value_seed<V: DeserializeSeed<'de>>(&mut self, seed: V) -> Result<V::Value> {
        match self.value.take() {
            Some(MarkedValue::Fd(fd)) => seed.deserialize(fd.into_deserializer()),
            // Serde's buffering (`flatten`, untagged enums) has no 128-bit integers, so
            // nanoseconds that fit go out as an `i64`.
            Some(MarkedValue::Nanos(n)) => match i64::try_from(n) {
                Ok(n) => seed.deserialize(n.into_deserializer()),
                Err(_) => seed.deserialize(n.into_deserializer()),
            },
            None => Err(de::Error::custom("map value requested before its key")),
        }
    }
}
