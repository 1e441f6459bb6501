//! `clock_res_get` and `clock_time_get`.

use cloudabi_types::{ClockId, Errno};

use super::{errno, mem};

/// The Linux clock behind a CloudABI clock.
pub(crate) fn linux_clock(id: u64) -> Result<libc::clockid_t, Errno> {
    let id = u32::try_from(id).map_err(|_| Errno::INVAL)?;
    match ClockId(id) {
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
pub(crate) fn res_get(args: &[u64; 7]) -> Result<(), Errno> {
    let clock = linux_clock(args[0])?;
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: valid clock id and out pointer.
    if unsafe { libc::clock_getres(clock, &mut ts) } != 0 {
        return Err(errno::last());
    }
    mem::write(args[1], to_ns(&ts).max(1))
}

/// `clock_time_get(clock_id, precision, *time)`.
pub(crate) fn time_get(args: &[u64; 7]) -> Result<(), Errno> {
    let clock = linux_clock(args[0])?;
    mem::write(args[2], now(clock)?)
}
