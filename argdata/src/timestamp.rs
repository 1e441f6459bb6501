//! Points in time, as stored by timestamp leaves.
#![forbid(unsafe_code)]

/// A point in time: nanoseconds since 1970-01-01T00:00:00Z, like a `struct timespec`.
///
/// The whole seconds ([`Timestamp::secs`]) always fit an `i64`, as `time_t` does in the
/// reference library; the nanoseconds ([`Timestamp::subsec_nanos`]) are always in
/// `0..1_000_000_000`, so times before 1970 have negative seconds and positive nanoseconds.
///
/// ```
/// use argdata::Timestamp;
/// let t = Timestamp::from_nanos(-1).unwrap();
/// assert_eq!((t.secs(), t.subsec_nanos()), (-1, 999_999_999));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp {
    nanos: i128,
}

const NANOS_PER_SEC: i128 = 1_000_000_000;

impl Timestamp {
    /// The earliest representable time (`i64::MIN` seconds).
    pub const MIN: Timestamp = Timestamp {
        nanos: i64::MIN as i128 * NANOS_PER_SEC,
    };
    /// The latest representable time (`i64::MAX` seconds and 999 999 999 nanoseconds).
    pub const MAX: Timestamp = Timestamp {
        nanos: i64::MAX as i128 * NANOS_PER_SEC + (NANOS_PER_SEC - 1),
    };
    /// 1970-01-01T00:00:00Z.
    pub const EPOCH: Timestamp = Timestamp { nanos: 0 };

    /// A time given in nanoseconds since the epoch, or `None` if its seconds overflow `i64`.
    #[must_use]
    pub const fn from_nanos(nanos: i128) -> Option<Timestamp> {
        if nanos < Self::MIN.nanos || nanos > Self::MAX.nanos {
            None
        } else {
            Some(Timestamp { nanos })
        }
    }

    /// A time given as seconds and nanoseconds, like a `struct timespec`; `None` if
    /// `nanos` is not below one billion.
    #[must_use]
    pub const fn from_parts(secs: i64, nanos: u32) -> Option<Timestamp> {
        if nanos as i128 >= NANOS_PER_SEC {
            None
        } else {
            Some(Timestamp {
                nanos: secs as i128 * NANOS_PER_SEC + nanos as i128,
            })
        }
    }

    /// Whole seconds since the epoch, rounded towards negative infinity (`tv_sec`).
    #[must_use]
    pub const fn secs(self) -> i64 {
        // In range by construction.
        self.nanos.div_euclid(NANOS_PER_SEC) as i64
    }

    /// Nanoseconds past [`Timestamp::secs`], in `0..1_000_000_000` (`tv_nsec`).
    #[must_use]
    pub const fn subsec_nanos(self) -> u32 {
        self.nanos.rem_euclid(NANOS_PER_SEC) as u32
    }

    /// Total nanoseconds since the epoch.
    #[must_use]
    pub const fn as_nanos(self) -> i128 {
        self.nanos
    }

    /// The calendar date and time of day in UTC (proleptic Gregorian calendar, no leap
    /// seconds). Defined for every timestamp, years before 1 and after 9999 included.
    ///
    /// ```
    /// use argdata::{Timestamp, UtcDateTime};
    /// let t = Timestamp::from_parts(1_709_210_096, 7).unwrap();
    /// assert_eq!(
    ///     t.to_utc(),
    ///     UtcDateTime { year: 2024, month: 2, day: 29, hour: 12, minute: 34, second: 56, nanosecond: 7 }
    /// );
    /// assert_eq!(Timestamp::from_nanos(-1).unwrap().to_utc().year, 1969);
    /// ```
    #[must_use]
    pub const fn to_utc(self) -> UtcDateTime {
        let secs = self.secs();
        let days = secs.div_euclid(86_400);
        let tod = secs.rem_euclid(86_400) as u32;
        // Count from 0000-03-01, so that a leap day is the last day of its year, in eras of
        // 400 years (146 097 days) that all have the same shape.
        let z = days + 719_468;
        let era = z.div_euclid(146_097);
        let doe = z.rem_euclid(146_097);
        let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
        let mp = (5 * doy + 2) / 153;
        // Both small and positive by the arithmetic above.
        let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
        let month = (if mp < 10 { mp + 3 } else { mp - 9 }) as u32;
        UtcDateTime {
            year: yoe + era * 400 + (month <= 2) as i64,
            month,
            day,
            hour: tod / 3_600,
            minute: tod / 60 % 60,
            second: tod % 60,
            nanosecond: self.subsec_nanos(),
        }
    }
}

/// A [`Timestamp`] as a UTC calendar date and time of day ([`Timestamp::to_utc`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct UtcDateTime {
    /// The year; 0 is 1 BC, negative years are earlier.
    pub year: i64,
    /// 1 ... 12.
    pub month: u32,
    /// 1 ... 31.
    pub day: u32,
    /// 0 ... 23.
    pub hour: u32,
    /// 0 ... 59.
    pub minute: u32,
    /// 0 ... 59.
    pub second: u32,
    /// 0 ... 999 999 999.
    pub nanosecond: u32,
}
