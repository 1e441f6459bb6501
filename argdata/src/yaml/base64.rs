//! Decoding `!!binary` scalars: standard, padded, canonical base64.

use alloc::vec::Vec;

fn base64_value(c: u8) -> Option<u32> {
    Some(u32::from(match c {
        b'A'..=b'Z' => c - b'A',
        b'a'..=b'z' => c - b'a' + 26,
        b'0'..=b'9' => c - b'0' + 52,
        b'+' => 62,
        b'/' => 63,
        _ => return None,
    }))
}

/// Standard base64 with padding; whitespace (line breaks in block scalars) is skipped.
pub(super) fn base64_decode(text: &str) -> Option<Vec<u8>> {
    let symbols: Vec<u8> = text
        .bytes()
        .filter(|b| !matches!(b, b' ' | b'\t' | b'\n' | b'\r'))
        .collect();
    if !symbols.len().is_multiple_of(4) {
        return None;
    }
    let mut out = Vec::with_capacity(symbols.len() / 4 * 3);
    let groups = symbols.len() / 4;
    for (n, group) in symbols.chunks_exact(4).enumerate() {
        let pad = if n + 1 == groups {
            group.iter().rev().take_while(|&&c| c == b'=').count()
        } else {
            0
        };
        if pad > 2 {
            return None;
        }
        let mut v = 0u32;
        for &c in &group[..4 - pad] {
            v = v << 6 | base64_value(c)?;
        }
        v <<= 6 * pad;
        let bytes = v.to_be_bytes();
        out.extend_from_slice(&bytes[1..4 - pad]);
        // Canonical form: the bits dropped by padding must be zero.
        if (pad == 1 && v & 0xff != 0) || (pad == 2 && v & 0xffff != 0) {
            return None;
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_is_strict() {
        assert_eq!(base64_decode("aGk=").as_deref(), Some(&b"hi"[..]));
        assert_eq!(base64_decode("aGk").as_deref(), None);
        assert_eq!(base64_decode("aGl=").as_deref(), None);
        assert_eq!(base64_decode("aG==aGk=").as_deref(), None);
        assert_eq!(base64_decode("aGVs\n bG8=").as_deref(), Some(&b"hello"[..]));
        assert_eq!(base64_decode("").as_deref(), Some(&b""[..]));
    }
}
