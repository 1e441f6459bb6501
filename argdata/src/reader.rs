//! The zero-copy reader: [`Argdata`], a borrowed view of encoded bytes.
#![forbid(unsafe_code)]

use core::ffi::CStr;
use core::fmt;

use crate::error::{Error, ErrorKind, Result};
use crate::fd::FdConverter;
use crate::int::{self, Int, Wide};
use crate::timestamp::Timestamp;

/// Maximum nesting of maps and sequences that [`Argdata::validate`], the YAML printer and
/// `Value::from_argdata` accept. A container at the top level is at depth 1. These walks
/// recurse once per level, so the limit also bounds their stack use.
pub const MAX_DEPTH: usize = 128;

/// The type of an argdata value, given by its first byte (an empty value is null).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Type {
    /// The empty encoding.
    Null,
    /// Tag 1: raw bytes.
    Binary,
    /// Tag 2: `false` (empty payload) or `true` (`01`).
    Bool,
    /// Tag 3: a 4-byte big-endian index into the fd list.
    Fd,
    /// Tag 4: an 8-byte big-endian IEEE 754 double.
    Float,
    /// Tag 5: a big-endian two's complement integer.
    Int,
    /// Tag 6: alternating key and value subfields.
    Map,
    /// Tag 7: element subfields.
    Seq,
    /// Tag 8: UTF-8 text followed by a NUL byte.
    Str,
    /// Tag 9: an integer number of nanoseconds since 1970-01-01T00:00:00Z.
    Timestamp,
}

impl Type {
    /// The tag byte of this type (`None` for null, which has no tag).
    #[must_use]
    pub const fn tag(self) -> Option<u8> {
        Some(match self {
            Type::Null => return None,
            Type::Binary => 1,
            Type::Bool => 2,
            Type::Fd => 3,
            Type::Float => 4,
            Type::Int => 5,
            Type::Map => 6,
            Type::Seq => 7,
            Type::Str => 8,
            Type::Timestamp => 9,
        })
    }

    /// The type with tag byte `tag`, if there is one.
    #[must_use]
    pub const fn from_tag(tag: u8) -> Option<Type> {
        Some(match tag {
            1 => Type::Binary,
            2 => Type::Bool,
            3 => Type::Fd,
            4 => Type::Float,
            5 => Type::Int,
            6 => Type::Map,
            7 => Type::Seq,
            8 => Type::Str,
            9 => Type::Timestamp,
            _ => return None,
        })
    }

    /// Lower-case name of the type, as used in YAML tags (`"str"`, `"fd"`, ...).
    #[must_use]
    pub const fn name(self) -> &'static str {
        match self {
            Type::Null => "null",
            Type::Binary => "binary",
            Type::Bool => "bool",
            Type::Fd => "fd",
            Type::Float => "float",
            Type::Int => "int",
            Type::Map => "map",
            Type::Seq => "seq",
            Type::Str => "str",
            Type::Timestamp => "timestamp",
        }
    }
}

impl fmt::Display for Type {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A borrowed, zero-copy view of one encoded argdata value.
///
/// Creating a view checks nothing; every getter checks exactly what it reads and reports
/// malformed bytes as an [`Error`] carrying the byte offset. Nothing here allocates.
///
/// ```
/// use argdata::{Argdata, Type};
/// // A map { "port": 8080 }.
/// let bytes = b"\x06\x86\x08port\x00\x83\x05\x1f\x90";
/// let ad = Argdata::new(bytes);
/// assert_eq!(ad.ty().unwrap(), Type::Map);
/// let port: u16 = ad.get("port").unwrap().unwrap().as_int().unwrap();
/// assert_eq!(port, 8080);
/// ```
///
/// Two views are equal when their bytes are equal; their offsets are not compared.
#[derive(Clone, Copy)]
pub struct Argdata<'a> {
    /// The value's bytes (the first `len`), followed by whatever comes after the value in
    /// the message. The bytes after the value are never interpreted: they only let small
    /// integers be read with one fixed-size load, their extra bytes shifted out.
    data: &'a [u8],
    /// Length of the value; at most `data.len()`.
    len: usize,
    offset: usize,
}

impl fmt::Debug for Argdata<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Argdata")
            .field("buf", &self.as_bytes())
            .field("offset", &self.offset)
            .finish()
    }
}

impl PartialEq for Argdata<'_> {
    fn eq(&self, other: &Self) -> bool {
        self.as_bytes() == other.as_bytes()
    }
}

impl Eq for Argdata<'_> {}

impl core::hash::Hash for Argdata<'_> {
    fn hash<H: core::hash::Hasher>(&self, state: &mut H) {
        self.as_bytes().hash(state);
    }
}

impl Default for Argdata<'_> {
    fn default() -> Self {
        Argdata::NULL
    }
}

impl<'a> Argdata<'a> {
    /// The null value (an empty buffer).
    pub const NULL: Argdata<'static> = Argdata {
        data: &[],
        len: 0,
        offset: 0,
    };

    /// A view of the encoded value `buf`; error offsets count from its first byte.
    #[must_use]
    pub const fn new(buf: &'a [u8]) -> Self {
        Argdata {
            data: buf,
            len: buf.len(),
            offset: 0,
        }
    }

    /// A view of `buf` whose first byte sits at `offset` in some larger message; error
    /// offsets then count from the start of that message.
    #[must_use]
    pub const fn with_offset(buf: &'a [u8], offset: usize) -> Self {
        Argdata {
            data: buf,
            len: buf.len(),
            offset,
        }
    }

    /// The encoded bytes of this value (tag byte and payload).
    #[must_use]
    #[inline]
    pub const fn as_bytes(&self) -> &'a [u8] {
        self.data.split_at(self.len).0
    }

    /// Offset of this value's first byte, counted as described at [`Argdata::with_offset`].
    #[must_use]
    pub const fn offset(&self) -> usize {
        self.offset
    }

    /// The type of the value, from its tag byte.
    ///
    /// # Errors
    /// [`ErrorKind::UnknownTag`] if the first byte is not a type tag.
    #[inline]
    pub fn ty(&self) -> Result<Type> {
        match self.as_bytes().first() {
            None => Ok(Type::Null),
            Some(&tag) => {
                Type::from_tag(tag).ok_or(Error::at(ErrorKind::UnknownTag(tag), self.offset))
            }
        }
    }

    /// Whether this is the null value (an empty buffer).
    #[must_use]
    pub const fn is_null(&self) -> bool {
        self.len == 0
    }

    /// The payload after the tag byte, if the value has type `expected`.
    #[inline]
    fn payload(&self, expected: Type) -> Result<&'a [u8]> {
        match self.as_bytes().split_first() {
            Some((&tag, rest)) if Some(tag) == expected.tag() => Ok(rest),
            _ => Err(self.wrong_type(expected)),
        }
    }

    #[cold]
    fn wrong_type(&self, expected: Type) -> Error {
        match self.ty() {
            Ok(found) => Error::at(ErrorKind::WrongType { expected, found }, self.offset),
            Err(e) => e,
        }
    }

    #[cold]
    fn bad(&self, ty: Type) -> Error {
        Error::at(ErrorKind::BadEncoding(ty), self.offset)
    }

    /// The bytes of a binary value.
    ///
    /// # Errors
    /// [`ErrorKind::WrongType`] or [`ErrorKind::UnknownTag`] if this is not a binary value.
    #[inline]
    pub fn as_binary(&self) -> Result<&'a [u8]> {
        self.payload(Type::Binary)
    }

    /// A boolean.
    ///
    /// # Errors
    /// Wrong type, or [`ErrorKind::BadEncoding`] for a payload other than empty or `01`.
    #[inline]
    pub fn as_bool(&self) -> Result<bool> {
        match self.payload(Type::Bool)? {
            [] => Ok(false),
            [1] => Ok(true),
            _ => Err(self.bad(Type::Bool)),
        }
    }

    /// The raw fd index stored in an fd value (its position in the fd list).
    ///
    /// # Errors
    /// Wrong type, or [`ErrorKind::BadEncoding`] unless the payload is exactly 4 bytes.
    #[inline]
    pub fn as_fd_index(&self) -> Result<u32> {
        match *self.payload(Type::Fd)? {
            [a, b, c, d] => Ok(u32::from_be_bytes([a, b, c, d])),
            _ => Err(self.bad(Type::Fd)),
        }
    }

    /// An fd value converted by `converter` (for example an
    /// [`FdTable`](crate::FdTable) of the descriptors received with the bytes).
    ///
    /// # Errors
    /// As [`Argdata::as_fd_index`], or [`ErrorKind::BadFd`] if the converter rejects it.
    pub fn as_fd<C: FdConverter + ?Sized>(&self, converter: &C) -> Result<C::Fd> {
        let index = self.as_fd_index()?;
        converter
            .convert(index)
            .ok_or(Error::at(ErrorKind::BadFd, self.offset))
    }

    /// A floating point number.
    ///
    /// # Errors
    /// Wrong type, or [`ErrorKind::BadEncoding`] unless the payload is exactly 8 bytes.
    #[inline]
    pub fn as_float(&self) -> Result<f64> {
        let payload = self.payload(Type::Float)?;
        let bytes: [u8; 8] = payload.try_into().map_err(|_| self.bad(Type::Float))?;
        Ok(f64::from_be_bytes(bytes))
    }

    /// An integer, converted to any primitive integer type `T`. Non-minimal encodings
    /// (redundant leading `00` or `ff` bytes) are accepted.
    ///
    /// ```
    /// use argdata::{Argdata, ErrorKind};
    /// let ad = Argdata::new(&[0x05, 0x00, 0xff]);
    /// assert_eq!(ad.as_int::<u8>().unwrap(), 255);
    /// assert_eq!(ad.as_int::<i8>().unwrap_err().kind(), ErrorKind::OutOfRange);
    /// ```
    ///
    /// # Errors
    /// Wrong type, or [`ErrorKind::OutOfRange`] if the value does not fit `T`.
    #[inline]
    pub fn as_int<T: Int>(&self) -> Result<T> {
        if let Some(v) = self.small_int() {
            return int::convert_small(v, self.offset);
        }
        let payload = self.payload(Type::Int)?;
        int::convert(int::decode(payload, self.offset)?, self.offset)
    }

    /// An integer as the reference C getters see it: an `i64` if it fits, else a `u64`
    /// if it fits (see [`Int64`](crate::Int64)).
    ///
    /// ```
    /// use argdata::{Argdata, ErrorKind, Int64};
    /// assert_eq!(Argdata::new(&[0x05, 0xff]).as_int64(), Ok(Int64::Signed(-1)));
    /// let two_to_64 = [0x05, 0x01, 0, 0, 0, 0, 0, 0, 0, 0];
    /// let err = Argdata::new(&two_to_64).as_int64().unwrap_err();
    /// assert_eq!(err.kind(), ErrorKind::IntTooWide);
    /// ```
    ///
    /// # Errors
    /// Wrong type, or [`ErrorKind::IntTooWide`] (class `ERANGE`) if it fits neither.
    #[inline(always)]
    pub fn as_int64(&self) -> Result<crate::Int64> {
        if let Some(v) = self.small_int() {
            return Ok(crate::Int64::Signed(v));
        }
        int::narrow(self.wide_int()?, self.offset)
    }

    /// The value of an integer with at most 8 payload bytes (which always fits `i64`);
    /// `None` for anything else, including a longer integer and another type.
    #[inline(always)]
    fn small_int(&self) -> Option<i64> {
        // When 8 bytes follow the tag in the message, one fixed-size load reads them all
        // and a shift by the payload length drops the bytes past the value.
        if let Some((&[tag, ref window @ ..], _)) = self.data.split_first_chunk::<9>()
            && Some(tag) == Type::Int.tag()
            && (1..=9).contains(&self.len)
        {
            return Some(int::decode_window(*window, self.len - 1));
        }
        match self.payload(Type::Int) {
            Ok(payload) if payload.len() <= 8 => Some(int::decode_small(payload)),
            _ => None,
        }
    }

    pub(crate) fn wide_int(&self) -> Result<Wide> {
        int::decode(self.payload(Type::Int)?, self.offset)
    }

    /// A string, without its terminating NUL byte. NUL bytes inside are allowed.
    ///
    /// # Errors
    /// Wrong type, [`ErrorKind::BadEncoding`] if the terminating NUL is missing, or
    /// [`ErrorKind::BadUtf8`] (offset of the first bad byte).
    #[inline]
    pub fn as_str(&self) -> Result<&'a str> {
        let text = self.str_with_nul()?;
        let text = &text[..text.len() - 1];
        crate::utf8::from_utf8(text)
            .map_err(|e| Error::at(ErrorKind::BadUtf8, self.offset + 1 + e.valid_up_to()))
    }

    /// The string payload including its terminating NUL byte.
    #[inline]
    fn str_with_nul(&self) -> Result<&'a [u8]> {
        let payload = self.payload(Type::Str)?;
        match payload.last() {
            Some(0) => Ok(payload),
            _ => Err(self.bad(Type::Str)),
        }
    }

    /// A string as a C string (borrowing the terminating NUL byte from the buffer).
    ///
    /// # Errors
    /// As [`Argdata::as_str`], or [`ErrorKind::NulInString`] if the string holds a NUL byte.
    pub fn as_c_str(&self) -> Result<&'a CStr> {
        let text = self.as_str()?;
        if let Some(pos) = text.bytes().position(|b| b == 0) {
            return Err(Error::at(ErrorKind::NulInString, self.offset + 1 + pos));
        }
        let with_nul = &self.as_bytes()[1..];
        CStr::from_bytes_with_nul(with_nul)
            .map_err(|_| Error::at(ErrorKind::NulInString, self.offset))
    }

    /// A timestamp.
    ///
    /// # Errors
    /// Wrong type, or [`ErrorKind::OutOfRange`] if its seconds do not fit an `i64`.
    pub fn as_timestamp(&self) -> Result<Timestamp> {
        let range = Error::at(ErrorKind::OutOfRange, self.offset);
        match int::decode(self.payload(Type::Timestamp)?, self.offset)? {
            Wide::Signed(nanos) => Timestamp::from_nanos(nanos).ok_or(range),
            Wide::Unsigned(_) => Err(range),
        }
    }

    /// Iterates over the (key, value) pairs of a map, in stored order.
    ///
    /// The iterator yields `Err` once for malformed data and then stops.
    ///
    /// # Errors
    /// Wrong type.
    #[inline]
    pub fn map(&self) -> Result<MapIter<'a>> {
        self.payload(Type::Map)?;
        Ok(MapIter {
            fields: Fields::new(self),
        })
    }

    /// Iterates over the elements of a sequence.
    ///
    /// The iterator yields `Err` once for malformed data and then stops.
    ///
    /// # Errors
    /// Wrong type.
    #[inline]
    pub fn seq(&self) -> Result<SeqIter<'a>> {
        self.payload(Type::Seq)?;
        Ok(SeqIter {
            fields: Fields::new(self),
        })
    }

    /// The value of the first entry of a map whose key is the string `key`.
    /// Entries with keys of other types are skipped.
    ///
    /// # Errors
    /// Wrong type, or malformed map data met before the key was found.
    pub fn get(&self, key: &str) -> Result<Option<Argdata<'a>>> {
        let want = key.as_bytes();
        for entry in self.map()? {
            let (k, v) = entry?;
            let kb = k.as_bytes();
            if kb.len() == want.len() + 2
                && kb[0] == 8
                && kb[kb.len() - 1] == 0
                && &kb[1..kb.len() - 1] == want
            {
                return Ok(Some(v));
            }
        }
        Ok(None)
    }

    /// Checks the whole tree: every leaf must decode with its getter (ints must fit `i128`
    /// or `u128`) and maps and sequences may nest at most [`MAX_DEPTH`] deep.
    ///
    /// # Errors
    /// The first problem found, depth first.
    pub fn validate(&self) -> Result<()> {
        self.validate_depth(MAX_DEPTH)
    }

    fn validate_depth(&self, depth_left: usize) -> Result<()> {
        match self.ty()? {
            Type::Null | Type::Binary => Ok(()),
            Type::Bool => self.as_bool().map(drop),
            Type::Fd => self.as_fd_index().map(drop),
            Type::Float => self.as_float().map(drop),
            Type::Int => self.wide_int().map(drop),
            Type::Str => self.as_str().map(drop),
            Type::Timestamp => self.as_timestamp().map(drop),
            Type::Map => {
                let inner = self.enter(depth_left)?;
                for entry in self.map()? {
                    let (k, v) = entry?;
                    k.validate_depth(inner)?;
                    v.validate_depth(inner)?;
                }
                Ok(())
            }
            Type::Seq => {
                let inner = self.enter(depth_left)?;
                for entry in self.seq()? {
                    entry?.validate_depth(inner)?;
                }
                Ok(())
            }
        }
    }

    /// Depth budget left for the children of this container.
    pub(crate) fn enter(&self, depth_left: usize) -> Result<usize> {
        depth_left
            .checked_sub(1)
            .ok_or(Error::at(ErrorKind::TooDeep(MAX_DEPTH), self.offset))
    }
}

/// A run of length-prefixed subfields: the first `left` bytes of `tail`. The bytes after
/// them (the rest of the message) are handed on to the fields as read-ahead room.
#[derive(Clone)]
pub(crate) struct Fields<'a> {
    tail: &'a [u8],
    /// Bytes of the run not yet parsed; at most `tail.len()`.
    left: usize,
    offset: usize,
}

impl fmt::Debug for Fields<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Fields")
            .field("rest", &self.rest())
            .field("offset", &self.offset)
            .finish()
    }
}

impl<'a> Fields<'a> {
    /// The payload of container `ad` (whose tag byte has been checked).
    #[inline]
    pub(crate) fn new(ad: &Argdata<'a>) -> Self {
        Fields {
            tail: ad.data.get(1..).unwrap_or_default(),
            left: ad.len.saturating_sub(1),
            offset: ad.offset + 1,
        }
    }

    #[inline]
    fn rest(&self) -> &'a [u8] {
        self.tail.split_at(self.left).0
    }

    #[inline]
    pub(crate) fn is_empty(&self) -> bool {
        self.left == 0
    }

    /// Parses the next subfield; on error the run is emptied so iteration stops.
    #[inline(always)]
    pub(crate) fn next_field(&mut self) -> Result<Argdata<'a>> {
        match parse_subfield(self.rest()) {
            Some((header, len)) => {
                let field = Argdata {
                    data: self.tail.split_at(header).1,
                    len,
                    offset: self.offset + header,
                };
                self.tail = self.tail.split_at(header + len).1;
                self.left -= header + len;
                self.offset += header + len;
                Ok(field)
            }
            None => {
                self.left = 0;
                Err(Error::at(ErrorKind::BadLength, self.offset))
            }
        }
    }
}

/// Parses a subfield length: big-endian groups of 7 bits, the high bit marking the last
/// byte; a leading zero byte is rejected. Returns the header size and the field length,
/// which is known to fit in `rest`.
#[inline]
fn parse_subfield(rest: &[u8]) -> Option<(usize, usize)> {
    match rest.first() {
        // Fast path: lengths below 128 take one byte.
        Some(&b) if b & 0x80 != 0 => {
            let len = usize::from(b & 0x7f);
            return (len < rest.len()).then_some((1, len));
        }
        Some(0) | None => return None,
        Some(_) => {}
    }
    let mut len: usize = 0;
    for (i, &byte) in rest.iter().enumerate() {
        if len >> (usize::BITS - 7) != 0 {
            return None;
        }
        len = len << 7 | usize::from(byte & 0x7f);
        if byte & 0x80 != 0 {
            let header = i + 1;
            return (len <= rest.len() - header).then_some((header, len));
        }
    }
    None
}

/// Iterator over the entries of a map; see [`Argdata::map`].
#[derive(Clone, Debug)]
pub struct MapIter<'a> {
    fields: Fields<'a>,
}

impl<'a> Iterator for MapIter<'a> {
    type Item = Result<(Argdata<'a>, Argdata<'a>)>;

    #[inline]
    fn next(&mut self) -> Option<Self::Item> {
        if self.fields.is_empty() {
            return None;
        }
        Some(self.next_entry())
    }
}

impl<'a> MapIter<'a> {
    #[inline]
    fn next_entry(&mut self) -> Result<(Argdata<'a>, Argdata<'a>)> {
        let key_start = self.fields.offset;
        let key = self.fields.next_field()?;
        if self.fields.is_empty() {
            return Err(Error::at(ErrorKind::MissingValue, key_start));
        }
        let value = self.fields.next_field()?;
        Ok((key, value))
    }
}

impl core::iter::FusedIterator for MapIter<'_> {}

/// Iterator over the elements of a sequence; see [`Argdata::seq`].
#[derive(Clone, Debug)]
pub struct SeqIter<'a> {
    fields: Fields<'a>,
}

impl<'a> Iterator for SeqIter<'a> {
    type Item = Result<Argdata<'a>>;

    #[inline]
    fn next(&mut self) -> Option<Self::Item> {
        if self.fields.is_empty() {
            return None;
        }
        Some(self.fields.next_field())
    }
}

impl core::iter::FusedIterator for SeqIter<'_> {}

#[cfg(test)]
mod tests {
    use super::*;

    /// A sequence holding an int with payload `payload`, then a string, so that the int
    /// has read-ahead room in the message.
    fn int_then_str(payload: &[u8]) -> ([u8; 40], usize) {
        let mut b = [0u8; 40];
        let mut n = 0;
        for &x in [7u8, (payload.len() as u8 + 1) | 0x80, 5]
            .iter()
            .chain(payload)
            .chain(b"\x8a\x08abcdefgh\x00")
        {
            b[n] = x;
            n += 1;
        }
        (b, n)
    }

    /// `as_int` on `inside` and on `alone` agree with the byte-at-a-time decoder.
    fn same_result<T: Int + PartialEq + fmt::Debug>(inside: Argdata<'_>, alone: Argdata<'_>) {
        let payload = &alone.as_bytes()[1..];
        let want = int::decode(payload, 0)
            .and_then(|w| int::convert::<T>(w, 0))
            .map_err(|e| e.kind());
        let a = inside.as_int::<T>().map_err(|e| e.kind());
        let b = alone.as_int::<T>().map_err(|e| e.kind());
        assert_eq!(a, want, "{payload:x?}");
        assert_eq!(b, want, "{payload:x?}");
    }

    #[test]
    fn read_ahead_ints_match_exact_reads() {
        let patterns: [&[u8]; 6] = [
            &[0x00; 9],
            &[0xff; 9],
            &[0x80, 0, 0, 0, 0, 0, 0, 0, 1],
            &[0x7f, 0xff, 0xfe, 0x01, 0x80, 0x00, 0xa5, 0x5a, 0x33],
            &[0x00, 0x80, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07],
            &[0xff, 0x7f, 0x10, 0x20, 0x30, 0x40, 0x50, 0x60, 0x70],
        ];
        for pattern in patterns {
            for len in 0..=pattern.len() {
                let payload = &pattern[..len];
                let (buf, n) = int_then_str(payload);
                let mut items = Argdata::new(&buf[..n]).seq().unwrap();
                let inside = items.next().unwrap().unwrap();
                assert_eq!(items.next().unwrap().unwrap().as_str(), Ok("abcdefgh"));
                assert!(items.next().is_none());

                let mut alone = [0u8; 10];
                alone[0] = 5;
                alone[1..=len].copy_from_slice(payload);
                let alone = Argdata::new(&alone[..=len]);
                assert_eq!(inside, alone);
                assert_eq!(inside.as_bytes(), alone.as_bytes());
                same_result::<i64>(inside, alone);
                same_result::<u64>(inside, alone);
                same_result::<i8>(inside, alone);
                same_result::<u16>(inside, alone);
                same_result::<i128>(inside, alone);
                same_result::<u128>(inside, alone);
            }
        }
    }

    #[test]
    fn bytes_after_a_value_are_never_read_as_it() {
        // A null element followed by an int: the int's tag must not be taken for the
        // null's.
        let buf = [7, 0x80, 0x82, 5, 1, 0x82, 5, 2, 0x82, 5, 3, 0x82, 5, 4];
        let mut items = Argdata::new(&buf).seq().unwrap();
        let null = items.next().unwrap().unwrap();
        assert!(null.is_null());
        assert_eq!(null.ty(), Ok(Type::Null));
        assert_eq!(
            null.as_int::<i64>().unwrap_err().kind(),
            ErrorKind::WrongType {
                expected: Type::Int,
                found: Type::Null
            }
        );
        assert!(
            items
                .map(|v| v.unwrap().as_int::<i64>().unwrap())
                .eq([1, 2, 3, 4])
        );

        // A string that ends right before another field's bytes still needs its own NUL.
        let buf = [7, 0x83, 8, b'a', b'b', 0x81, 0];
        let s = Argdata::new(&buf).seq().unwrap().next().unwrap().unwrap();
        assert_eq!(
            s.as_str().unwrap_err().kind(),
            ErrorKind::BadEncoding(Type::Str)
        );
        assert_eq!(s.as_bytes(), b"\x08ab");
    }

    #[test]
    fn nested_containers_stop_at_their_end() {
        // [[1, 2], 3]: the inner sequence must not run into the outer one's bytes.
        let buf = [7, 0x87, 7, 0x82, 5, 1, 0x82, 5, 2, 0x82, 5, 3];
        let mut outer = Argdata::new(&buf).seq().unwrap();
        let inner = outer.next().unwrap().unwrap();
        assert!(
            inner
                .seq()
                .unwrap()
                .map(|v| v.unwrap().as_int::<i64>().unwrap())
                .eq([1, 2])
        );
        assert_eq!(outer.next().unwrap().unwrap().as_int::<i64>(), Ok(3));
        assert!(outer.next().is_none());
    }

    #[test]
    fn bad_utf8_offset() {
        let buf = [7, 0x86, 8, b'o', b'k', 0xc3, 0x28, 0];
        let s = Argdata::new(&buf).seq().unwrap().next().unwrap().unwrap();
        let err = s.as_str().unwrap_err();
        assert_eq!(err.kind(), ErrorKind::BadUtf8);
        assert_eq!(err.offset(), Some(5));
        // Valid text beyond ASCII takes the full check.
        let buf = "\u{8}a\u{e9}\u{20ac}\u{1f600}\0";
        assert_eq!(
            Argdata::new(buf.as_bytes()).as_str(),
            Ok("a\u{e9}\u{20ac}\u{1f600}")
        );
        // A truncated sequence at the end.
        let buf = [8, b'x', 0xe2, 0x82, 0];
        let err = Argdata::new(&buf).as_str().unwrap_err();
        assert_eq!(err.offset(), Some(2));
    }
}
