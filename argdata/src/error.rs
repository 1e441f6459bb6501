//! Errors reported by the reader, the encoder and the YAML printer.
#![forbid(unsafe_code)]

use core::fmt;

use crate::Type;

/// Result type used throughout this crate.
pub type Result<T, E = Error> = core::result::Result<T, E>;

/// What went wrong, without the position.
///
/// Every kind belongs to one of the error classes of the reference C library
/// (see [`ErrorKind::errno`]), so a C layer can translate it into an `errno` value.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, thiserror::Error)]
#[non_exhaustive]
pub enum ErrorKind {
    /// The value is well-formed but has another type than the getter asked for.
    #[error("expected {expected}, found {found}")]
    WrongType {
        /// The type the caller asked for.
        expected: Type,
        /// The type the value has.
        found: Type,
    },
    /// The first byte of a value is not one of the type tags 1 to 9.
    #[error("unknown type tag {0:#04x}")]
    UnknownTag(u8),
    /// The payload of a leaf does not have the layout its type requires (a bool other than
    /// empty or `01`, an fd that is not 4 bytes, a float that is not 8 bytes, a string
    /// without its terminating NUL byte).
    #[error("malformed {ty} payload: {rule}", ty = .0, rule = payload_rule(*.0))]
    BadEncoding(Type),
    /// A subfield length inside a map or sequence is malformed: it starts with a zero
    /// byte, is cut off, overflows, or runs past the end of its container.
    #[error("malformed subfield length")]
    BadLength,
    /// A map holds a key without a value.
    #[error("map key without a value")]
    MissingValue,
    /// A number (int, timestamp, fd index) does not fit the requested type.
    #[error("value out of range")]
    OutOfRange,
    /// An integer fits neither `i64` nor `u64`, so the reference C getters (and its
    /// printer) cannot represent it; see [`Int64`](crate::Int64).
    #[error("integer does not fit 64 bits (int64_t or uint64_t)")]
    IntTooWide,
    /// A file descriptor index was rejected by the [`FdConverter`](crate::FdConverter),
    /// or an fd cannot be represented.
    #[error("file descriptor rejected")]
    BadFd,
    /// A string is not valid UTF-8.
    #[error("string is not valid UTF-8")]
    BadUtf8,
    /// A string holds a NUL byte where a C string was asked for.
    #[error("string contains a NUL byte")]
    NulInString,
    /// Maps and sequences are nested deeper than the limit (`MAX_DEPTH` unless stated).
    #[error("nesting deeper than {0} levels")]
    TooDeep(usize),
    /// The caller's output buffer is too small; `needed` is the size required.
    #[error("output buffer too small ({needed} bytes needed)")]
    BufferTooSmall {
        /// Number of bytes the complete output takes.
        needed: usize,
    },
    /// The output sink (a [`core::fmt::Write`]) reported an error.
    #[error("output sink failed")]
    Write,
}

/// The layout rule a malformed payload of type `ty` breaks.
const fn payload_rule(ty: Type) -> &'static str {
    match ty {
        Type::Bool => "must be empty or 01",
        Type::Fd => "must be 4 bytes",
        Type::Float => "must be 8 bytes",
        Type::Str => "missing the terminating NUL byte",
        _ => "invalid layout",
    }
}

/// Error classes of the reference C library, for C bindings.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Errno {
    /// `EINVAL`: wrong type or malformed encoding.
    Inval,
    /// `ERANGE`: a number does not fit, or an output buffer is too small.
    Range,
    /// `EBADF`: a file descriptor was rejected.
    BadF,
    /// `EILSEQ`: bad UTF-8, or a NUL byte inside a C string.
    IlSeq,
    /// `EIO`: the output sink failed.
    Io,
}

impl Errno {
    /// The number Linux uses for this error class.
    #[must_use]
    pub const fn linux(self) -> i32 {
        match self {
            Errno::Inval => 22,
            Errno::Range => 34,
            Errno::BadF => 9,
            Errno::IlSeq => 84,
            Errno::Io => 5,
        }
    }
}

impl ErrorKind {
    /// The error class the reference C library reports for this kind.
    #[must_use]
    pub const fn errno(self) -> Errno {
        match self {
            ErrorKind::WrongType { .. }
            | ErrorKind::UnknownTag(_)
            | ErrorKind::BadEncoding(_)
            | ErrorKind::BadLength
            | ErrorKind::MissingValue
            | ErrorKind::TooDeep(_) => Errno::Inval,
            ErrorKind::OutOfRange | ErrorKind::IntTooWide | ErrorKind::BufferTooSmall { .. } => {
                Errno::Range
            }
            ErrorKind::BadFd => Errno::BadF,
            ErrorKind::BadUtf8 | ErrorKind::NulInString => Errno::IlSeq,
            ErrorKind::Write => Errno::Io,
        }
    }
}

/// An error with its kind and, where meaningful, the byte offset it was found at.
///
/// Offsets count from the start of the buffer given to [`Argdata::new`](crate::Argdata::new)
/// (or from the base given to [`Argdata::with_offset`](crate::Argdata::with_offset)).
///
/// ```
/// use argdata::{Argdata, Errno, ErrorKind, Type};
///
/// // `{a: 1}`, its value (an int, at offset 6) read as a string.
/// let ad = Argdata::new(b"\x06\x83\x08a\x00\x82\x05\x01");
/// let err = ad.get("a")?.unwrap().as_str().unwrap_err();
/// assert_eq!(err.kind(), ErrorKind::WrongType { expected: Type::Str, found: Type::Int });
/// assert_eq!(err.offset(), Some(6));
/// assert_eq!(err.errno(), Errno::Inval);
/// assert_eq!(err.to_string(), "expected str, found int at byte offset 6");
/// # Ok::<(), argdata::Error>(())
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, thiserror::Error)]
#[error("{kind}{}", OffsetSuffix(*.offset))]
pub struct Error {
    kind: ErrorKind,
    offset: Option<usize>,
}

struct OffsetSuffix(Option<usize>);

impl fmt::Display for OffsetSuffix {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Some(offset) => write!(f, " at byte offset {offset}"),
            None => Ok(()),
        }
    }
}

impl Error {
    /// An error of `kind` found at byte `offset`.
    #[must_use]
    pub const fn at(kind: ErrorKind, offset: usize) -> Self {
        Error {
            kind,
            offset: Some(offset),
        }
    }

    /// An error of `kind` that has no position (for example a too small output buffer).
    #[must_use]
    pub const fn new(kind: ErrorKind) -> Self {
        Error { kind, offset: None }
    }

    /// What went wrong.
    #[must_use]
    pub const fn kind(&self) -> ErrorKind {
        self.kind
    }

    /// The byte offset of the offending byte or value, if the error has one.
    #[must_use]
    pub const fn offset(&self) -> Option<usize> {
        self.offset
    }

    /// The error class of the reference C library (`EINVAL`, `ERANGE`, ...).
    #[must_use]
    pub const fn errno(&self) -> Errno {
        self.kind.errno()
    }
}

impl From<core::fmt::Error> for Error {
    fn from(_: core::fmt::Error) -> Self {
        Error::new(ErrorKind::Write)
    }
}
