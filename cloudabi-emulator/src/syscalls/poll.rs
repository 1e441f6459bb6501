//! `poll`: waiting for clocks, descriptor readiness, process termination, locks and
//! condition variables.
//!
//! Lock and condition variable subscriptions take a different path from the others:
//! CloudABI only allows one of them, first, optionally followed by one clock as a
//! timeout. Everything else is turned into one Linux `ppoll` over the host descriptors,
//! with the nearest clock deadline as its timeout.

use std::os::fd::AsRawFd;

use cloudabi_types::abi64::{Subscription, SubscriptionClock};
use cloudabi_types::{
    Errno, Event, EventFdReadwrite, EventProcTerminate, EventRwFlags, EventType, EventUnion,
    FileType, Rights, SubClockFlags,
};

use super::fdtable::{Entry, Termination};
use super::mem::GuestPtr;
use super::process::Process;
use super::sync::{self, Deadline};
use super::{clock, errno, mem};

/// The most subscriptions one call may pass.
const MAX_SUBSCRIPTIONS: u64 = 4096;

/// `poll(in, out, nsubscriptions, *nevents)`.
pub(crate) fn poll(
    p: &Process,
    input: GuestPtr<Subscription>,
    output: GuestPtr<Event>,
    n: u64,
    nevents: GuestPtr<u64>,
) -> Result<(), Errno> {
    if n > MAX_SUBSCRIPTIONS {
        return Err(Errno::INVAL);
    }
    if nevents.addr() == 0 {
        return Err(Errno::FAULT);
    }
    let subs: Vec<Subscription> = input.read_array(n)?;
    // Refuse a bad event array before waiting (and perhaps taking a lock).
    if n > 0 {
        mem::check_array::<Event>(output.addr(), n)?;
    }
    let events = match subs.first().map(|s| s.r#type) {
        None => Vec::new(),
        Some(EventType::LOCK_RDLOCK | EventType::LOCK_WRLOCK | EventType::CONDVAR) => {
            poll_blocking(p, &subs)?
        }
        Some(_) => poll_ready(p, &subs)?,
    };
    output.write_array(&events)?;
    nevents.write(events.len() as u64)
}

/// An event with no type-specific payload.
fn event(sub: &Subscription, error: Errno) -> Event {
    Event {
        userdata: sub.userdata,
        error,
        r#type: sub.r#type,
        ..Event::default()
    }
}

/// The deadline of a clock subscription.
fn deadline(c: &SubscriptionClock) -> Result<Deadline, Errno> {
    let clock = clock::linux_clock(c.clock_id)?;
    let at = if c.flags.contains(SubClockFlags::ABSTIME) {
        c.timeout
    } else {
        clock::now(clock)?.saturating_add(c.timeout)
    };
    Ok(Deadline { clock, at })
}

/// One lock or condition variable subscription, optionally with a clock as timeout.
fn poll_blocking(p: &Process, subs: &[Subscription]) -> Result<Vec<Event>, Errno> {
    let first = &subs[0];
    let timeout = match subs {
        [_] => None,
        [_, clock] if clock.r#type == EventType::CLOCK => Some(clock),
        _ => return Err(Errno::NOTSUP),
    };
    let limit = match timeout {
        None => None,
        // SAFETY: (union read) the subscription's type says the clock member is active.
        Some(c) => match deadline(&unsafe { c.u.clock }) {
            Ok(d) => Some(d),
            Err(e) => return Ok(vec![event(c, e)]),
        },
    };
    let outcome = if first.r#type == EventType::CONDVAR {
        // SAFETY: (union read) the type says the condvar member is active; any bit
        // pattern is valid for it.
        let cv = unsafe { first.u.condvar };
        sync::condvar_wait(
            p,
            cv.condvar,
            u64::from(cv.condvar_scope.0),
            cv.lock,
            u64::from(cv.lock_scope.0),
            limit.as_ref(),
        )
    } else {
        // SAFETY: (union read) the type says the lock member is active.
        let lock = unsafe { first.u.lock };
        sync::acquire(
            lock.lock,
            u64::from(lock.lock_scope.0),
            first.r#type == EventType::LOCK_WRLOCK,
            limit.as_ref(),
        )
    };
    Ok(match outcome {
        Ok(true) => vec![event(first, Errno::SUCCESS)],
        Ok(false) => vec![event(timeout.unwrap_or(first), Errno::SUCCESS)],
        Err(e) => vec![event(first, e)],
    })
}

/// What one non-blocking subscription waits for.
enum Wait {
    /// Already decided: deliver this event.
    Now(Event),
    /// A clock deadline.
    Clock(Deadline),
    /// Readiness of a host descriptor (index into the `ppoll` array).
    Fd(Entry, usize),
    /// A child process to end (index into the `ppoll` array).
    Proc(Entry, usize),
}

/// Clocks, descriptor readiness and process termination.
fn poll_ready(p: &Process, subs: &[Subscription]) -> Result<Vec<Event>, Errno> {
    let mut pollfds: Vec<libc::pollfd> = Vec::new();
    let mut waits = Vec::with_capacity(subs.len());
    for sub in subs {
        let wait = match prepare(p, sub, &mut pollfds) {
            Ok(w) => w,
            Err(e) => Wait::Now(event(sub, e)),
        };
        waits.push(wait);
    }
    loop {
        let mut timeout: Option<std::time::Duration> = None;
        for wait in &waits {
            let left = match wait {
                Wait::Now(_) => Some(std::time::Duration::ZERO),
                Wait::Clock(d) => Some(d.remaining()?.unwrap_or_default()),
                _ => None,
            };
            if let Some(left) = left {
                timeout = Some(timeout.map_or(left, |t| t.min(left)));
            }
        }
        let ts = timeout.map(|t| libc::timespec {
            tv_sec: t.as_secs() as libc::time_t,
            tv_nsec: t.subsec_nanos() as libc::c_long,
        });
        for pfd in &mut pollfds {
            pfd.revents = 0;
        }
        // SAFETY: `pollfds` is a valid array of its length; the timeout is optional.
        let r = unsafe {
            libc::ppoll(
                pollfds.as_mut_ptr(),
                pollfds.len() as libc::nfds_t,
                ts.as_ref().map_or(core::ptr::null(), |t| t as *const _),
                core::ptr::null(),
            )
        };
        if r < 0 {
            let e = errno::last();
            // Interrupted: go on waiting, unless `proc_exec` on another thread ends this
            // one (the dispatcher then ends it).
            if e == Errno::INTR && !crate::lifecycle::exit_requested() {
                continue;
            }
            return Err(e);
        }
        let mut events = Vec::new();
        for (sub, wait) in subs.iter().zip(&waits) {
            match wait {
                Wait::Now(ev) => events.push(*ev),
                Wait::Clock(d) => {
                    if d.remaining()?.is_none() {
                        events.push(event(sub, Errno::SUCCESS));
                    }
                }
                Wait::Fd(entry, i) => {
                    if let Some(ev) = readiness(sub, entry, pollfds[*i].revents) {
                        events.push(ev);
                    }
                }
                Wait::Proc(entry, i) => {
                    if pollfds[*i].revents != 0 {
                        match entry.object.reap(false) {
                            Ok(Some(done)) => events.push(terminated(sub, done)),
                            Ok(None) => {}
                            Err(e) => events.push(event(sub, e)),
                        }
                    }
                }
            }
        }
        if !events.is_empty() {
            return Ok(events);
        }
    }
}

/// Works out what a subscription waits for, adding descriptors to `pollfds`.
fn prepare(
    p: &Process,
    sub: &Subscription,
    pollfds: &mut Vec<libc::pollfd>,
) -> Result<Wait, Errno> {
    match sub.r#type {
        // SAFETY: (union read) the type says the clock member is active.
        EventType::CLOCK => Ok(Wait::Clock(deadline(&unsafe { sub.u.clock })?)),
        EventType::FD_READ | EventType::FD_WRITE => {
            let read = sub.r#type == EventType::FD_READ;
            // SAFETY: (union read) the type says the fd_readwrite member is active.
            let fd = unsafe { sub.u.fd_readwrite }.fd;
            let needed = Rights::POLL_FD_READWRITE
                | if read {
                    Rights::FD_READ
                } else {
                    Rights::FD_WRITE
                };
            let entry = p.fds.get_with(u64::from(fd.0), needed)?;
            pollfds.push(libc::pollfd {
                fd: entry.raw(),
                events: if read { libc::POLLIN } else { libc::POLLOUT },
                revents: 0,
            });
            Ok(Wait::Fd(entry, pollfds.len() - 1))
        }
        EventType::PROC_TERMINATE => {
            // SAFETY: (union read) the type says the proc_terminate member is active.
            let fd = unsafe { sub.u.proc_terminate }.fd;
            let entry = p
                .fds
                .get_with(u64::from(fd.0), Rights::POLL_PROC_TERMINATE)?;
            if entry.object.filetype != FileType::PROCESS || entry.object.child.is_none() {
                return Err(Errno::BADF);
            }
            if let Some(done) = entry.object.reap(false)? {
                return Ok(Wait::Now(terminated(sub, done)));
            }
            pollfds.push(libc::pollfd {
                fd: entry.object.fd.as_raw_fd(),
                events: libc::POLLIN,
                revents: 0,
            });
            Ok(Wait::Proc(entry, pollfds.len() - 1))
        }
        // Lock and condition variable waits must come first and alone.
        EventType::LOCK_RDLOCK | EventType::LOCK_WRLOCK | EventType::CONDVAR => Err(Errno::NOTSUP),
        _ => Err(Errno::INVAL),
    }
}

/// The event for a ready descriptor, if it is ready.
fn readiness(sub: &Subscription, entry: &Entry, revents: i16) -> Option<Event> {
    if revents & libc::POLLNVAL != 0 {
        return Some(event(sub, Errno::BADF));
    }
    let wanted = if sub.r#type == EventType::FD_READ {
        libc::POLLIN
    } else {
        libc::POLLOUT
    };
    if revents & (wanted | libc::POLLHUP | libc::POLLERR) == 0 {
        return None;
    }
    let mut flags = EventRwFlags::empty();
    if revents & libc::POLLHUP != 0 {
        flags |= EventRwFlags::HANGUP;
    }
    let nbytes = if sub.r#type == EventType::FD_READ {
        readable_bytes(entry)
    } else {
        0
    };
    Some(Event {
        u: EventUnion {
            fd_readwrite: EventFdReadwrite {
                nbytes,
                flags,
                ..EventFdReadwrite::default()
            },
        },
        ..event(sub, Errno::SUCCESS)
    })
}

/// How many bytes a read would return right now (best effort).
fn readable_bytes(entry: &Entry) -> u64 {
    let raw = entry.raw();
    if entry.object.filetype == FileType::REGULAR_FILE {
        // SAFETY: an all-zero `struct stat` is valid; fstat/lseek on our descriptor.
        let mut st: libc::stat = unsafe { core::mem::zeroed() };
        // SAFETY: valid descriptor and out pointer.
        if unsafe { libc::fstat(raw, &mut st) } != 0 {
            return 0;
        }
        // SAFETY: lseek with SEEK_CUR and offset 0 only reads the offset.
        let at = unsafe { libc::lseek(raw, 0, libc::SEEK_CUR) };
        return (st.st_size as u64).saturating_sub(at.max(0) as u64);
    }
    let mut n: libc::c_int = 0;
    // SAFETY: FIONREAD writes one int.
    if unsafe { libc::ioctl(raw, libc::FIONREAD, &mut n) } != 0 {
        return 0;
    }
    n.max(0) as u64
}

/// The event for a child that ended.
fn terminated(sub: &Subscription, done: Termination) -> Event {
    Event {
        u: EventUnion {
            proc_terminate: EventProcTerminate {
                signal: done.signal,
                exitcode: done.exitcode,
                ..EventProcTerminate::default()
            },
        },
        ..event(sub, Errno::SUCCESS)
    }
}
