//! UTF-8 validation tuned for the short strings typical of argdata.
//!
//! This is the crate's only module with `unsafe` code, and it has exactly one unsafe
//! block: turning bytes that were just checked into a `&str`.
//!
//! Why: the safe ways to get a `&str` (`core::str::from_utf8`, `utf8_chunks`, the
//! `ascii` crate) all run a byte or word loop whose exit branch is mispredicted at the
//! end of nearly every short string. Map keys and values in configurations are mostly
//! ASCII and 0 to 64 bytes long, so the ASCII check below covers every length up to 64
//! with a fixed number of (possibly overlapping) loads chosen by one length dispatch,
//! and longer strings with a plain word loop. Anything that is not pure ASCII goes to
//! `core::str::from_utf8`, which also gives the position of an error.
#![allow(unsafe_code)]

use core::str::Utf8Error;

/// Every byte's high bit, for eight bytes at once.
const HIGH_BITS: u64 = 0x8080_8080_8080_8080;

/// Eight bytes of `b` starting at `at`, as a word (the caller keeps `at + 8 <= b.len()`).
#[inline(always)]
fn word(b: &[u8], at: usize) -> u64 {
    let mut chunk = [0u8; 8];
    chunk.copy_from_slice(&b[at..at + 8]);
    u64::from_ne_bytes(chunk)
}

/// Whether every byte of `b` is ASCII (below 0x80).
///
/// Short inputs are covered by loads from the front and the back that may overlap; the
/// result only depends on the OR of all bytes, so reading a byte twice does no harm.
#[inline]
fn is_ascii(b: &[u8]) -> bool {
    let n = b.len();
    let ored = match n {
        0 => 0,
        1..=3 => u64::from(b[0] | b[n / 2] | b[n - 1]),
        4..=7 => {
            let front = u32::from_ne_bytes([b[0], b[1], b[2], b[3]]);
            let back = u32::from_ne_bytes([b[n - 4], b[n - 3], b[n - 2], b[n - 1]]);
            u64::from(front | back)
        }
        8..=64 => {
            // Four words from the front and four from the back, each start clamped into
            // `0..=n - 8`: together they cover all `n` bytes, with no branch on `n`.
            let last = n - 8;
            word(b, 0)
                | word(b, last.min(8))
                | word(b, last.min(16))
                | word(b, last.min(24))
                | word(b, n.saturating_sub(32))
                | word(b, n.saturating_sub(24))
                | word(b, n.saturating_sub(16))
                | word(b, last)
        }
        _ => {
            let mut acc = word(b, n - 8);
            let mut chunks = b.chunks_exact(8);
            for chunk in &mut chunks {
                let mut w = [0u8; 8];
                w.copy_from_slice(chunk);
                acc |= u64::from_ne_bytes(w);
            }
            acc
        }
    };
    // Bytes of at most 4 (for n < 8) are widened with zero high bits, so this mask also
    // works for them.
    ored & HIGH_BITS == 0
}

/// `bytes` as a `&str` if they are valid UTF-8; the same result as
/// `core::str::from_utf8`, faster on short ASCII text (the crate root exports it as
/// `str_from_utf8`, the check the reader's string getters make).
///
/// ```
/// assert_eq!(argdata::str_from_utf8(b"key"), Ok("key"));
/// assert_eq!(argdata::str_from_utf8(b"\xff").unwrap_err().valid_up_to(), 0);
/// ```
///
/// # Errors
/// Where the bytes are not UTF-8, the error `core::str::from_utf8` gives.
#[inline]
pub fn from_utf8(bytes: &[u8]) -> Result<&str, Utf8Error> {
    if is_ascii(bytes) {
        // SAFETY: `is_ascii` returned true, so every byte of `bytes` is below 0x80. Each
        // such byte is a complete one-byte UTF-8 sequence, so `bytes` is valid UTF-8.
        // (The tests below check `is_ascii` against `<[u8]>::is_ascii` for every length
        // and every position of a non-ASCII byte, and run under AddressSanitizer.)
        return Ok(unsafe { core::str::from_utf8_unchecked(bytes) });
    }
    core::str::from_utf8(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Checks `from_utf8` against core's validator on `b`.
    fn same(b: &[u8]) {
        assert_eq!(is_ascii(b), b.is_ascii(), "{b:x?}");
        match (from_utf8(b), core::str::from_utf8(b)) {
            (Ok(ours), Ok(core)) => {
                assert_eq!(ours, core);
                assert_eq!(ours.as_ptr(), b.as_ptr());
                assert_eq!(ours.len(), b.len());
            }
            (Err(ours), Err(core)) => assert_eq!(ours, core, "{b:x?}"),
            (ours, core) => panic!("{b:x?}: ours {ours:?}, core {core:?}"),
        }
    }

    #[test]
    fn all_sequences_of_one_to_three_bytes() {
        for a in 0..=255u8 {
            same(&[a]);
            for b in 0..=255u8 {
                same(&[a, b]);
            }
        }
        for a in 0..=255u8 {
            for b in 0..=255u8 {
                for c in 0..=255u8 {
                    same(&[a, b, c]);
                }
            }
        }
    }

    /// SplitMix64, so the random tests are reproducible.
    struct Rng(u64);

    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
            let mut z = self.0;
            z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
            z ^ (z >> 31)
        }
    }

    const SAMPLES: [&str; 6] = ["a", "~", "\u{e9}", "\u{20ac}", "\u{1f600}", "\0"];

    #[test]
    fn random_strings_of_every_length() {
        let mut rng = Rng(7);
        let mut buf = [0u8; 400];
        for len in 0..=200usize {
            for round in 0..200 {
                // Pure ASCII in most rounds, mixed text in the rest.
                let mut n = 0;
                while n < len {
                    let r = rng.next();
                    if round % 4 != 0 || r & 1 == 0 {
                        buf[n] = (r >> 8) as u8 & 0x7f;
                        n += 1;
                    } else {
                        let s = SAMPLES[(r >> 8) as usize % SAMPLES.len()].as_bytes();
                        if n + s.len() > len {
                            break;
                        }
                        buf[n..n + s.len()].copy_from_slice(s);
                        n += s.len();
                    }
                }
                same(&buf[..n]);
                // The same bytes at an odd start, so loads are unaligned differently.
                buf.copy_within(0..n, 1);
                same(&buf[1..=n]);
            }
        }
    }

    #[test]
    fn a_bad_byte_at_every_position() {
        let mut buf = [b'x'; 100];
        for len in 1..=100usize {
            for pos in 0..len {
                for bad in [0x80, 0xbf, 0xc0, 0xc3, 0xe2, 0xf0, 0xf5, 0xff] {
                    buf[pos] = bad;
                    same(&buf[..len]);
                    // A two-byte character cut off or completed at the same position.
                    if pos + 1 < len {
                        buf[pos + 1] = 0xa9;
                        same(&buf[..len]);
                        buf[pos + 1] = b'x';
                    }
                    buf[pos] = b'x';
                }
            }
        }
        // Valid multi-byte text with a stray byte after it.
        let mut text = [0u8; 80];
        for pos in 0..76 {
            text.fill(b'y');
            text[pos..pos + 4].copy_from_slice("\u{1f600}".as_bytes());
            same(&text);
            for end in 0..=80 {
                same(&text[..end]);
            }
        }
    }
}
