//! The plain scalars of the YAML 1.2 core schema: null, booleans, integers and floats.

pub(super) fn is_null(s: &str) -> bool {
    matches!(s, "" | "~" | "null" | "Null" | "NULL")
}

pub(super) fn parse_bool(s: &str) -> Option<bool> {
    match s {
        "true" | "True" | "TRUE" => Some(true),
        "false" | "False" | "FALSE" => Some(false),
        _ => None,
    }
}

pub(super) fn is_decimal(s: &str) -> bool {
    let digits = s.strip_prefix(['-', '+']).unwrap_or(s);
    !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit())
}

/// A core-schema integer: `None` if `s` is not one, `Some(None)` if it fits neither `int64_t`
/// nor `uint64_t`. Those are the reference's bounds (yaml2argdata reads an integer literal as
/// `intmax_t`, else `uintmax_t`, else refuses it), and the C API's `argdata_get_int` could not
/// hand a wider one to a program anyway.
pub(super) fn parse_int(s: &str) -> Option<Option<i128>> {
    let (negative, unsigned) = match s.as_bytes().first() {
        Some(b'-') => (true, &s[1..]),
        Some(b'+') => (false, &s[1..]),
        _ => (false, s),
    };
    let (radix, digits) = if let Some(h) = s.strip_prefix("0x") {
        (16, h)
    } else if let Some(o) = s.strip_prefix("0o") {
        (8, o)
    } else if !unsigned.is_empty() && unsigned.bytes().all(|b| b.is_ascii_digit()) {
        (10, unsigned)
    } else {
        return None;
    };
    if digits.is_empty() || !digits.bytes().all(|b| char::from(b).is_digit(radix)) {
        return None;
    }
    let magnitude = u128::from_str_radix(digits, radix).ok();
    let value = magnitude.and_then(|m| {
        if radix == 10 && negative {
            0i128.checked_sub_unsigned(m)
        } else {
            i128::try_from(m).ok()
        }
    });
    let range = i128::from(i64::MIN)..=i128::from(u64::MAX);
    Some(value.filter(|v| range.contains(v)))
}

/// A core-schema float (a number with a point or an exponent, or `.inf`/`.nan`).
pub(super) fn parse_float(s: &str) -> Option<f64> {
    let (sign, body) = match s.as_bytes().first() {
        Some(b'-') => (-1.0, &s[1..]),
        Some(b'+') => (1.0, &s[1..]),
        _ => (1.0, s),
    };
    match body {
        ".inf" | ".Inf" | ".INF" => return Some(sign * f64::INFINITY),
        ".nan" | ".NaN" | ".NAN" if body.len() == s.len() => return Some(f64::NAN),
        _ => {}
    }
    // [0-9]* ( . [0-9]* )? ( [eE] [-+]? [0-9]+ )? with at least one mantissa digit and a
    // point or an exponent.
    let b = body.as_bytes();
    let mut i = 0;
    let int_digits = b.iter().take_while(|c| c.is_ascii_digit()).count();
    i += int_digits;
    let mut frac_digits = 0;
    let mut point = false;
    if b.get(i) == Some(&b'.') {
        point = true;
        i += 1;
        frac_digits = b[i..].iter().take_while(|c| c.is_ascii_digit()).count();
        i += frac_digits;
    }
    if int_digits + frac_digits == 0 {
        return None;
    }
    let mut exponent = false;
    if matches!(b.get(i), Some(b'e' | b'E')) {
        exponent = true;
        i += 1;
        if matches!(b.get(i), Some(b'-' | b'+')) {
            i += 1;
        }
        let exp_digits = b[i..].iter().take_while(|c| c.is_ascii_digit()).count();
        if exp_digits == 0 {
            return None;
        }
        i += exp_digits;
    }
    if i != b.len() || !(point || exponent) {
        return None;
    }
    s.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_follow_the_core_schema() {
        assert_eq!(parse_int("0x1F"), Some(Some(31)));
        assert_eq!(parse_int("0o17"), Some(Some(15)));
        assert_eq!(parse_int("-17"), Some(Some(-17)));
        assert_eq!(parse_int("+17"), Some(Some(17)));
        assert_eq!(parse_int("-0x1"), None);
        assert_eq!(parse_int("1_000"), None);
        // The 64-bit bounds, signed below and unsigned above, and one past each.
        assert_eq!(
            parse_int("-9223372036854775808"),
            Some(Some(i64::MIN.into()))
        );
        assert_eq!(parse_int("-9223372036854775809"), Some(None));
        assert_eq!(
            parse_int("18446744073709551615"),
            Some(Some(u64::MAX.into()))
        );
        assert_eq!(parse_int("0xffffffffffffffff"), Some(Some(u64::MAX.into())));
        assert_eq!(parse_int("18446744073709551616"), Some(None));
        assert_eq!(parse_int("0x10000000000000000"), Some(None));
        assert_eq!(
            parse_int("170141183460469231731687303715884105728"),
            Some(None)
        );
        assert_eq!(parse_float("1.5e+300"), Some(1.5e300));
        assert_eq!(parse_float(".5"), Some(0.5));
        assert_eq!(parse_float("-.inf"), Some(f64::NEG_INFINITY));
        assert!(parse_float(".NaN").unwrap().is_nan());
        assert_eq!(parse_float("-.nan"), None);
        assert_eq!(parse_float("1"), None);
        assert_eq!(parse_float("inf"), None);
        assert_eq!(parse_float("1e"), None);
        assert_eq!(parse_float("."), None);
    }
}
