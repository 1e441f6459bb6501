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
}
