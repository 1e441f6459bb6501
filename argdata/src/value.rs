//! Owned argdata values and builders (feature `alloc`).
#![forbid(unsafe_code)]

use alloc::string::String;
use alloc::vec::Vec;

use crate::error::{Error, ErrorKind, Result};
use crate::fd::{Fd, FdConverter, IdentityFds};
use crate::int::Wide;
use crate::reader::{Argdata, MAX_DEPTH, Type};
use crate::timestamp::Timestamp;

/// An owned argdata tree.
///
/// Equality follows IEEE rules for floats (`NaN != NaN`, `0.0 == -0.0`); compare
/// encodings to compare bit patterns.
///
/// Build one with the constructors and `From` impls, then turn it into bytes with
/// [`Value::encode`]:
///
/// ```
/// use argdata::{Fd, Value};
/// let v = Value::map([
///     ("name", Value::from("demo")),
///     ("log", Value::from(Fd(7))),
///     ("ports", Value::seq([80, 443])),
/// ]);
/// let encoded = v.encode();
/// assert_eq!(encoded.fds, [Fd(7)]);
/// let back = argdata::Value::from_argdata(encoded.argdata()).unwrap();
/// assert_eq!(back.get("ports"), Some(&Value::seq([80, 443])));
/// ```
#[derive(Clone, Debug, PartialEq, Default)]
pub enum Value {
    /// The null value.
    #[default]
    Null,
    /// Raw bytes.
    Binary(Vec<u8>),
    /// A boolean.
    Bool(bool),
    /// A file descriptor; encoded as an index into the fd list (see [`Value::encode`]).
    Fd(Fd),
    /// A double.
    Float(f64),
    /// An integer. Every `i64` and `u64` fits.
    Int(i128),
    /// Key/value pairs, in order. Keys may be of any type; duplicates are kept.
    Map(Vec<(Value, Value)>),
    /// A sequence.
    Seq(Vec<Value>),
    /// Text; may contain NUL characters.
    Str(String),
    /// A point in time.
    Timestamp(Timestamp),
}

impl Value {
    /// A map from `(key, value)` pairs, in the order given.
    pub fn map<K, V, I>(entries: I) -> Value
    where
        K: Into<Value>,
        V: Into<Value>,
        I: IntoIterator<Item = (K, V)>,
    {
        Value::Map(
            entries
                .into_iter()
                .map(|(k, v)| (k.into(), v.into()))
                .collect(),
        )
    }

    /// A sequence.
    pub fn seq<T: Into<Value>, I: IntoIterator<Item = T>>(items: I) -> Value {
        Value::Seq(items.into_iter().map(Into::into).collect())
    }

    /// A binary value holding a copy of `bytes`.
    pub fn binary(bytes: impl Into<Vec<u8>>) -> Value {
        Value::Binary(bytes.into())
    }

    /// The type of this value.
    #[must_use]
    pub const fn ty(&self) -> Type {
        match self {
            Value::Null => Type::Null,
            Value::Binary(_) => Type::Binary,
            Value::Bool(_) => Type::Bool,
            Value::Fd(_) => Type::Fd,
            Value::Float(_) => Type::Float,
            Value::Int(_) => Type::Int,
            Value::Map(_) => Type::Map,
            Value::Seq(_) => Type::Seq,
            Value::Str(_) => Type::Str,
            Value::Timestamp(_) => Type::Timestamp,
        }
    }

    /// For a map, the value of the first entry whose key is the string `key`.
    #[must_use]
    pub fn get(&self, key: &str) -> Option<&Value> {
        match self {
            Value::Map(entries) => entries
                .iter()
                .find(|(k, _)| matches!(k, Value::Str(s) if s == key))
                .map(|(_, v)| v),
            _ => None,
        }
    }

    /// Copies a borrowed value into an owned one; fd indices become `Fd(index)`
    /// (see [`IdentityFds`]).
    ///
    /// ```
    /// use argdata::{Argdata, Fd, Value};
    ///
    /// // A sequence of fd index 1 (`85` + 4 bytes) and `null` (an empty subfield).
    /// let value = Value::from_argdata(Argdata::new(b"\x07\x85\x03\x00\x00\x00\x01\x80"))?;
    /// assert_eq!(value, Value::seq([Value::from(Fd(1)), Value::Null]));
    /// # Ok::<(), argdata::Error>(())
    /// ```
    ///
    /// # Errors
    /// Any error the getters report, or [`ErrorKind::TooDeep`] beyond [`MAX_DEPTH`];
    /// [`ErrorKind::OutOfRange`] for integers above `i128::MAX`.
    pub fn from_argdata(ad: Argdata<'_>) -> Result<Value> {
        Value::from_argdata_with(ad, &IdentityFds)
    }

    /// Like [`Value::from_argdata`], with fd indices translated by `converter`.
    ///
    /// # Errors
    /// As [`Value::from_argdata`], and [`ErrorKind::BadFd`] if `converter` rejects an fd.
    pub fn from_argdata_with<C>(ad: Argdata<'_>, converter: &C) -> Result<Value>
    where
        C: FdConverter<Fd = Fd> + ?Sized,
    {
        from_argdata_depth(ad, converter, MAX_DEPTH)
    }
}

fn from_argdata_depth<C>(ad: Argdata<'_>, conv: &C, depth_left: usize) -> Result<Value>
where
    C: FdConverter<Fd = Fd> + ?Sized,
{
    Ok(match ad.ty()? {
        Type::Null => Value::Null,
        Type::Binary => Value::Binary(ad.as_binary()?.into()),
        Type::Bool => Value::Bool(ad.as_bool()?),
        Type::Fd => Value::Fd(ad.as_fd(conv)?),
        Type::Float => Value::Float(ad.as_float()?),
        Type::Int => match ad.wide_int()? {
            Wide::Signed(v) => Value::Int(v),
            Wide::Unsigned(_) => return Err(Error::at(ErrorKind::OutOfRange, ad.offset())),
        },
        Type::Str => Value::Str(ad.as_str()?.into()),
        Type::Timestamp => Value::Timestamp(ad.as_timestamp()?),
        Type::Map => {
            let inner = ad.enter(depth_left)?;
            let mut entries = Vec::new();
            for entry in ad.map()? {
                let (k, v) = entry?;
                entries.push((
                    from_argdata_depth(k, conv, inner)?,
                    from_argdata_depth(v, conv, inner)?,
                ));
            }
            Value::Map(entries)
        }
        Type::Seq => {
            let inner = ad.enter(depth_left)?;
            let mut items = Vec::new();
            for item in ad.seq()? {
                items.push(from_argdata_depth(item?, conv, inner)?);
            }
            Value::Seq(items)
        }
    })
}

impl TryFrom<Argdata<'_>> for Value {
    type Error = Error;

    fn try_from(ad: Argdata<'_>) -> Result<Value> {
        Value::from_argdata(ad)
    }
}

macro_rules! from_int {
    ($($t:ty),*) => {$(
        impl From<$t> for Value {
            fn from(v: $t) -> Value {
                Value::Int(v.into())
            }
        }
    )*};
}
from_int!(i8, i16, i32, i64, i128, u8, u16, u32, u64);

impl From<bool> for Value {
    fn from(v: bool) -> Value {
        Value::Bool(v)
    }
}

impl From<f64> for Value {
    fn from(v: f64) -> Value {
        Value::Float(v)
    }
}

impl From<f32> for Value {
    fn from(v: f32) -> Value {
        Value::Float(v.into())
    }
}

impl From<&str> for Value {
    fn from(v: &str) -> Value {
        Value::Str(v.into())
    }
}

impl From<String> for Value {
    fn from(v: String) -> Value {
        Value::Str(v)
    }
}

impl From<&[u8]> for Value {
    fn from(v: &[u8]) -> Value {
        Value::Binary(v.into())
    }
}

impl From<Vec<u8>> for Value {
    fn from(v: Vec<u8>) -> Value {
        Value::Binary(v)
    }
}

impl From<Fd> for Value {
    fn from(v: Fd) -> Value {
        Value::Fd(v)
    }
}

impl From<Timestamp> for Value {
    fn from(v: Timestamp) -> Value {
        Value::Timestamp(v)
    }
}

impl From<()> for Value {
    fn from((): ()) -> Value {
        Value::Null
    }
}

impl<T: Into<Value>> From<Option<T>> for Value {
    fn from(v: Option<T>) -> Value {
        v.map_or(Value::Null, Into::into)
    }
}

impl From<Vec<Value>> for Value {
    fn from(v: Vec<Value>) -> Value {
        Value::Seq(v)
    }
}

impl From<Vec<(Value, Value)>> for Value {
    fn from(v: Vec<(Value, Value)>) -> Value {
        Value::Map(v)
    }
}

/// Why [`Value::map_fds`] stopped.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum MapFdsError<E> {
    /// Maps and sequences nest deeper than [`MAX_DEPTH`] (the limit [`Argdata::validate`]
    /// and the YAML parser apply: leaves do not count as a level).
    #[error("maps and sequences nest deeper than {MAX_DEPTH} levels")]
    TooDeep,
    /// The mapping function refused a descriptor.
    #[error("{0}")]
    Fd(E),
}

impl Value {
    /// Replaces every fd leaf `fd` by `f(fd)`, in place.
    ///
    /// `f` sees the leaves depth first, a map's key before its value, so numbering the
    /// descriptors in the order `f` first sees them gives the order of [`Encoded::fds`].
    /// This is the one walk the launchers renumber descriptors with before they hand a
    /// value to a new program.
    ///
    /// ```
    /// use argdata::{Fd, Value};
    /// let mut v = Value::map([("a", Value::from(Fd(9))), ("b", Value::seq([Fd(4), Fd(9)]))]);
    /// let mut seen = Vec::new();
    /// v.map_fds(|fd| {
    ///     let n = seen.iter().position(|s| *s == fd).unwrap_or_else(|| {
    ///         seen.push(fd);
    ///         seen.len() - 1
    ///     });
    ///     Ok::<_, ()>(Fd(n as i32))
    /// })
    /// .unwrap();
    /// assert_eq!(seen, [Fd(9), Fd(4)]);
    /// assert_eq!(v.get("b"), Some(&Value::seq([Fd(1), Fd(0)])));
    /// ```
    ///
    /// # Errors
    /// [`MapFdsError::Fd`] with the first error of `f`, [`MapFdsError::TooDeep`] when maps
    /// and sequences nest deeper than [`MAX_DEPTH`]. The leaves visited before the error
    /// have already been replaced.
    ///
    /// [`Encoded::fds`]: crate::Encoded::fds
    pub fn map_fds<E, F>(&mut self, mut f: F) -> core::result::Result<(), MapFdsError<E>>
    where
        F: FnMut(Fd) -> core::result::Result<Fd, E>,
    {
        map_fds_depth(self, &mut f, MAX_DEPTH)
    }
}

fn map_fds_depth<E, F>(
    value: &mut Value,
    f: &mut F,
    depth_left: usize,
) -> core::result::Result<(), MapFdsError<E>>
where
    F: FnMut(Fd) -> core::result::Result<Fd, E>,
{
    match value {
        Value::Fd(fd) => *fd = f(*fd).map_err(MapFdsError::Fd)?,
        Value::Map(entries) => {
            let inner = depth_left.checked_sub(1).ok_or(MapFdsError::TooDeep)?;
            for (k, v) in entries {
                map_fds_depth(k, f, inner)?;
                map_fds_depth(v, f, inner)?;
            }
        }
        Value::Seq(items) => {
            let inner = depth_left.checked_sub(1).ok_or(MapFdsError::TooDeep)?;
            for item in items {
                map_fds_depth(item, f, inner)?;
            }
        }
        Value::Null
        | Value::Binary(_)
        | Value::Bool(_)
        | Value::Float(_)
        | Value::Int(_)
        | Value::Str(_)
        | Value::Timestamp(_) => {}
    }
    Ok(())
}

impl<T: Into<Value>> FromIterator<T> for Value {
    fn from_iter<I: IntoIterator<Item = T>>(iter: I) -> Value {
        Value::seq(iter)
    }
}
