//! `clock_res_get` and `clock_time_get`.

use cloudabi_types::{ClockId, Errno, Timestamp};

use super::errno;
use super::mem::GuestPtr;

/// The Linux clock behind a CloudABI clock.
pub(crate) fn linux_clock(id: ClockId) -> Result<libc::clockid_t, Errno> {
    match id {
        ClockId::MONOTONIC => Ok(libc::CLOCK_MONOTONIC),
        ClockId::PROCESS_CPUTIME_ID => Ok(libc::CLOCK_PROCESS_CPUTIME_ID),
        ClockId::REALTIME => Ok(libc::CLOCK_REALTIME),
        ClockId::THREAD_CPUTIME_ID => Ok(libc::CLOCK_THREAD_CPUTIME_ID),
        _ => Err(Errno::INVAL),
    }
}

fn to_ns(ts: &libc::timespec) -> u64 {
    (ts.tv_sec as u64)
        .saturating_mul(1_000_000_000)
        .saturating_add(ts.tv_nsec as u64)
}

/// The current value of a Linux clock in nanoseconds.
pub(crate) fn now(clock: libc::clockid_t) -> Result<u64, Errno> {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: valid clock id and out pointer.
    if unsafe { libc::clock_gettime(clock, &mut ts) } != 0 {
        return Err(errno::last());
    }
    Ok(to_ns(&ts))
}

/// `clock_res_get(clock_id, *resolution)`.
pub(crate) fn res_get(clock_id: ClockId, resolution: GuestPtr<Timestamp>) -> Result<(), Errno> {
    let clock = linux_clock(clock_id)?;
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: valid clock id and out pointer.
    if unsafe { libc::clock_getres(clock, &mut ts) } != 0 {
        return Err(errno::last());
    }
    resolution.write(to_ns(&ts).max(1))
}

/// `clock_time_get(clock_id, precision, *time)`.
pub(crate) fn time_get(clock_id: ClockId, time: GuestPtr<Timestamp>) -> Result<(), Errno> {
    let clock = linux_clock(clock_id)?;
    time.write(now(clock)?)
}
