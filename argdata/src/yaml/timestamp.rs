//! Parsing `!!timestamp` scalars in every form YAML allows into a [`Timestamp`].

use crate::timestamp::Timestamp;

/// Days from 1970-01-01 to the given proleptic Gregorian date.
fn days_from_civil(year: i64, month: i64, day: i64) -> Option<i64> {
    let y = if month <= 2 {
        year.checked_sub(1)?
    } else {
        year
    };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let mp = if month > 2 { month - 3 } else { month + 9 };
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era.checked_mul(146_097)?
        .checked_add(doe)?
        .checked_sub(719_468)
}

fn days_in_month(year: i64, month: i64) -> i64 {
    match month {
        2 if year % 4 == 0 && (year % 100 != 0 || year % 400 == 0) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Splits off a run of 1 to `max` ASCII digits.
fn digits(s: &str, min: usize, max: usize) -> Option<(i64, &str)> {
    let n = s.bytes().take_while(u8::is_ascii_digit).count();
    if n < min || n > max {
        return None;
    }
    Some((s[..n].parse().ok()?, &s[n..]))
}

/// A YAML timestamp (`2001-12-14`, `2001-12-14t21:59:43.10-05:00`, `2001-12-14 21:59:43.10 Z`,
/// ...). Years may have more than four digits and a sign. `None` if `s` is not a timestamp,
/// `Some(None)` if it does not fit a [`Timestamp`].
pub(super) fn parse_timestamp(s: &str) -> Option<Option<Timestamp>> {
    let (negative, rest) = match s.strip_prefix('-') {
        Some(r) => (true, r),
        None => (false, s.strip_prefix('+').unwrap_or(s)),
    };
    // The printer pads years to four characters sign included, so `-001` is year -1.
    let (year, rest) = digits(rest, if negative { 1 } else { 4 }, 18)?;
    let year = if negative { -year } else { year };
    let (month, rest) = digits(rest.strip_prefix('-')?, 1, 2)?;
    let (day, rest) = digits(rest.strip_prefix('-')?, 1, 2)?;
    if !(1..=12).contains(&month) || day < 1 || day > days_in_month(year, month) {
        return None;
    }
    let (mut secs, mut nanos, mut offset) = (0i64, 0i64, 0i64);
    if !rest.is_empty() {
        let rest = if let Some(r) = rest.strip_prefix(['T', 't']) {
            r
        } else {
            let trimmed = rest.trim_start_matches([' ', '\t']);
            if trimmed.len() == rest.len() {
                return None;
            }
            trimmed
        };
        let (h, rest) = digits(rest, 1, 2)?;
        let (m, rest) = digits(rest.strip_prefix(':')?, 2, 2)?;
        let (sec, mut rest) = digits(rest.strip_prefix(':')?, 2, 2)?;
        if h > 23 || m > 59 || sec > 60 {
            return None;
        }
        secs = h * 3600 + m * 60 + sec;
        if let Some(r) = rest.strip_prefix('.') {
            let n = r.bytes().take_while(u8::is_ascii_digit).count();
            if n == 0 || n > 9 {
                return None;
            }
            nanos = r[..n].parse::<i64>().ok()? * 10i64.pow(9 - n as u32);
            rest = &r[n..];
        }
        let zone = rest.trim_start_matches([' ', '\t']);
        if zone == "Z" || zone == "z" {
        } else if zone.is_empty() {
            if !rest.is_empty() {
                return None;
            }
        } else {
            let (sign, z) = match zone.as_bytes()[0] {
                b'+' => (1, &zone[1..]),
                b'-' => (-1, &zone[1..]),
                _ => return None,
            };
            let (zh, z) = digits(z, 1, 2)?;
            let zm = match z.strip_prefix(':') {
                Some(z) => {
                    let (zm, z) = digits(z, 2, 2)?;
                    if !z.is_empty() {
                        return None;
                    }
                    zm
                }
                None if z.is_empty() => 0,
                None => return None,
            };
            if zh > 23 || zm > 59 {
                return None;
            }
            offset = sign * (zh * 3600 + zm * 60);
        }
    }
    let days = days_from_civil(year, month, day)?;
    let total = i128::from(days) * 86_400 + i128::from(secs) - i128::from(offset);
    Some(Timestamp::from_nanos(
        total * 1_000_000_000 + i128::from(nanos),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_in_every_yaml_form() {
        let t = |s| parse_timestamp(s).flatten().map(Timestamp::as_nanos);
        assert_eq!(t("1970-01-01"), Some(0));
        assert_eq!(t("1970-01-01T00:00:01.5Z"), Some(1_500_000_000));
        assert_eq!(t("1970-01-01 01:00:00 +01:00"), Some(0));
        assert_eq!(t("1970-01-01t00:00:00-1"), Some(3_600_000_000_000));
        assert_eq!(t("1969-12-31T23:59:59.999999999Z"), Some(-1));
        assert_eq!(
            t("-0001-03-01T00:00:00Z"),
            Some(-62_193_657_600 * 1_000_000_000)
        );
        assert_eq!(t("2001-02-29"), None);
        assert_eq!(t("2001-01-01T25:00:00Z"), None);
        assert_eq!(t("2001-01-01T00:00:00.1234567890Z"), None);
        assert_eq!(parse_timestamp("99999999999999-01-01"), Some(None));
    }
}
