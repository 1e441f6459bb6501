//! The newtype-struct names by which this crate's serializer and deserializer recognise
//! the argdata types serde has no notion of. Not part of the public API.

#![forbid(unsafe_code)]

/// Marks an [`Fd`](crate::Fd).
pub(super) const FD_MARKER: &str = "$argdata::private::Fd";
/// Marks a [`Timestamp`](crate::Timestamp) (nanoseconds).
pub(super) const TIMESTAMP_MARKER: &str = "$argdata::private::Timestamp";
