//! Integer payloads: decoding into any primitive integer type, and the shortest encoding.
#![forbid(unsafe_code)]

use crate::error::{Error, ErrorKind, Result};

/// An integer as read from the wire, before conversion to the caller's type.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Wide {
    /// Any value that fits `i128`.
    Signed(i128),
    /// A value above `i128::MAX`.
    Unsigned(u128),
}

/// An integer as the reference C library hands it out: through `intmax_t` or `uintmax_t`.
///
/// This is the one place that decides which wire integers C programs (and so the YAML
/// printer, which mirrors the reference printer) can see: a value that fits `i64` is
/// [`Int64::Signed`], a larger one that fits `u64` is [`Int64::Unsigned`], and anything
/// else is out of range for every reference getter (`ERANGE`, printed as `!!null`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Int64 {
    /// A value in `i64::MIN ..= i64::MAX`.
    Signed(i64),
    /// A value in `i64::MAX + 1 ..= u64::MAX`.
    Unsigned(u64),
}

impl Int64 {
    /// The value, widened to `i128`.
    #[must_use]
    pub const fn to_i128(self) -> i128 {
        match self {
            Int64::Signed(v) => v as i128,
            Int64::Unsigned(v) => v as i128,
        }
    }
}

/// Narrows a wire integer to what the reference getters accept; see [`Int64`].
pub(crate) fn narrow(w: Wide, offset: usize) -> Result<Int64> {
    let too_wide = Error::at(ErrorKind::IntTooWide, offset);
    match w {
        Wide::Signed(v) => match i64::try_from(v) {
            Ok(s) => Ok(Int64::Signed(s)),
            Err(_) => u64::try_from(v).map(Int64::Unsigned).map_err(|_| too_wide),
        },
        Wide::Unsigned(_) => Err(too_wide),
    }
}

/// Sign-extends a big-endian two's complement payload of at most 8 bytes (empty is zero).
/// Redundant leading sign bytes change nothing, so none need stripping.
///
/// Payload lengths vary from value to value, so rather than a loop over the bytes (whose
/// exit the processor mispredicts) two loads that overlap in the middle cover the payload:
/// two 4-byte words for 4 to 8 bytes, three single bytes for 1 to 3. Where they overlap
/// they hold the same bytes, so or-ing them together after shifting each into place gives
/// the big-endian number; a final pair of shifts sign-extends it.
#[inline]
pub(crate) fn decode_small(p: &[u8]) -> i64 {
    debug_assert!(p.len() <= 8);
    let p = p.get(..8).unwrap_or(p);
    let n = p.len();
    let unsigned = match (p.first_chunk::<4>(), p.last_chunk::<4>()) {
        (Some(&head), Some(&tail)) => {
            u64::from(u32::from_be_bytes(head)) << (8 * (n - 4))
                | u64::from(u32::from_be_bytes(tail))
        }
        _ => match (p.first(), p.get(n / 2), p.last()) {
            (Some(&a), Some(&b), Some(&c)) => {
                u64::from(a) << (8 * (n - 1)) | u64::from(b) << (8 * (n - 1 - n / 2)) | u64::from(c)
            }
            _ => return 0,
        },
    };
    // Move the payload's sign bit to the top, then shift back in copies of it.
    let unused = 64 - 8 * n as u32;
    ((unsigned << unused) as i64) >> unused
}

/// Sign-extends the first `n` bytes (at most 8) of `window`, a big-endian two's complement
/// payload followed by unrelated bytes, which are shifted out. No branch depends on `n`.
#[inline]
pub(crate) fn decode_window(window: [u8; 8], n: usize) -> i64 {
    debug_assert!(n <= 8);
    // `n` is at most 8, so the shift is at most 64; a shift of 64 (empty payload) is zero.
    let shift = 64 - 8 * (n as u32);
    i64::from_be_bytes(window).checked_shr(shift).unwrap_or(0)
}

/// Decodes a big-endian two's complement payload (empty means zero). Redundant leading
/// sign bytes are accepted; values outside `i128::MIN..=u128::MAX` are out of range.
#[inline]
pub(crate) fn decode(payload: &[u8], offset: usize) -> Result<Wide> {
    if payload.len() <= 8 {
        return Ok(Wide::Signed(i128::from(decode_small(payload))));
    }
    decode_long(payload, offset)
}

fn decode_long(payload: &[u8], offset: usize) -> Result<Wide> {
    let mut p = payload;
    while let [first, second, ..] = *p {
        let redundant =
            (first == 0x00 && second & 0x80 == 0) || (first == 0xff && second & 0x80 != 0);
        if !redundant {
            break;
        }
        p = &p[1..];
    }
    match p.len() {
        0 => Ok(Wide::Signed(0)),
        1..=16 => {
            let fill = if p[0] & 0x80 != 0 { 0xff } else { 0x00 };
            let mut bytes = [fill; 16];
            bytes[16 - p.len()..].copy_from_slice(p);
            Ok(Wide::Signed(i128::from_be_bytes(bytes)))
        }
        17 if p[0] == 0 => {
            let mut bytes = [0; 16];
            bytes.copy_from_slice(&p[1..]);
            Ok(Wide::Unsigned(u128::from_be_bytes(bytes)))
        }
        _ => Err(Error::at(ErrorKind::OutOfRange, offset)),
    }
}

/// Number of bytes of the shortest encoding of `v` (zero for zero).
#[cfg(feature = "alloc")]
#[inline]
pub(crate) const fn encoded_len(v: i128) -> usize {
    let magnitude_bits = if v < 0 {
        128 - (!v).leading_zeros()
    } else {
        128 - v.leading_zeros()
    };
    if v == 0 {
        0
    } else {
        // One more bit for the sign, rounded up to whole bytes.
        (magnitude_bits as usize + 8) / 8
    }
}

/// [`encoded_len`] for an `i64` (at most 8), in 64-bit arithmetic without branches.
#[cfg(feature = "alloc")]
#[inline]
pub(crate) const fn encoded_len_i64(v: i64) -> usize {
    // Bits of the magnitude (of `!v` for negative `v`), plus one for the sign, rounded up
    // to whole bytes; zero takes no bytes at all.
    let magnitude_bits = 64 - (v ^ (v >> 63)).leading_zeros();
    ((magnitude_bits as usize + 8) / 8) * (v != 0) as usize
}

/// The `n` (at most 8) low-order bytes of `v` in big-endian order, moved to the front of
/// the returned array; the rest is zero.
#[cfg(feature = "alloc")]
#[inline]
pub(crate) const fn encode_i64_front(v: i64, n: usize) -> [u8; 8] {
    // A shift of 64 (for `n == 0`) leaves nothing.
    let shift = 64 - 8 * n as u32;
    match (v as u64).checked_shl(shift) {
        Some(x) => x.to_be_bytes(),
        None => [0; 8],
    }
}

/// The shortest encoding of `v`: the last [`encoded_len`] bytes of the returned array.
#[cfg(feature = "alloc")]
#[inline]
pub(crate) const fn encode(v: i128) -> ([u8; 16], usize) {
    (v.to_be_bytes(), encoded_len(v))
}

mod private {
    pub trait Sealed: Sized {
        fn from_i128(v: i128) -> Option<Self>;
        fn from_u128(v: u128) -> Option<Self>;
        fn from_i64(v: i64) -> Option<Self>;
    }
}

/// Primitive integer types that [`Argdata::as_int`](crate::Argdata::as_int) can return:
/// `i8` to `i128`, `u8` to `u128`, `isize` and `usize`. Sealed.
pub trait Int: private::Sealed + Sized + Copy {}

macro_rules! impl_int {
    ($($t:ty),*) => {$(
        impl private::Sealed for $t {
            #[inline]
            fn from_i128(v: i128) -> Option<Self> {
                <$t>::try_from(v).ok()
            }
            #[inline]
            fn from_u128(v: u128) -> Option<Self> {
                <$t>::try_from(v).ok()
            }
            #[inline]
            fn from_i64(v: i64) -> Option<Self> {
                <$t>::try_from(v).ok()
            }
        }
        impl Int for $t {}
    )*};
}
impl_int!(
    i8, i16, i32, i64, i128, isize, u8, u16, u32, u64, u128, usize
);

/// Converts a value decoded by [`decode_small`] into `T`.
#[inline]
pub(crate) fn convert_small<T: Int>(v: i64, offset: usize) -> Result<T> {
    <T as private::Sealed>::from_i64(v).ok_or(Error::at(ErrorKind::OutOfRange, offset))
}

pub(crate) fn convert<T: Int>(w: Wide, offset: usize) -> Result<T> {
    match w {
        Wide::Signed(v) => <T as private::Sealed>::from_i128(v),
        Wide::Unsigned(v) => <T as private::Sealed>::from_u128(v),
    }
    .ok_or(Error::at(ErrorKind::OutOfRange, offset))
}

#[cfg(test)]
mod tests {
    use super::decode_small;

    /// The payload's value, one byte at a time.
    fn byte_by_byte(p: &[u8]) -> i64 {
        match p.split_first() {
            None => 0,
            Some((&first, rest)) => rest.iter().fold(i64::from(first.cast_signed()), |v, &b| {
                v << 8 | i64::from(b)
            }),
        }
    }

    #[test]
    fn small_payloads_of_every_length_decode_as_byte_by_byte() {
        // A fixed pseudo-random stream (SplitMix64), so that a failure repeats.
        let mut state = 7u64;
        let mut next = move || {
            state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
            let z = (state ^ (state >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
            let z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
            z ^ (z >> 31)
        };
        let edges: [[u8; 8]; 4] = [[0; 8], [0xff; 8], [0x80, 0, 0, 0, 0, 0, 0, 0], [0x7f; 8]];
        for n in 0..=8 {
            for bytes in edges
                .into_iter()
                .chain((0..2000).map(|_| next().to_be_bytes()))
            {
                let p = &bytes[..n];
                assert_eq!(decode_small(p), byte_by_byte(p), "{p:02x?}");
            }
        }
        assert_eq!(decode_small(&[0xfe]), -2);
        assert_eq!(decode_small(&[0x00, 0xff]), 255);
        assert_eq!(decode_small(&[0x80, 0, 0, 0, 0, 0, 0, 0]), i64::MIN);
    }
}
