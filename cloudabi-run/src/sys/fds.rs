//! The descriptor table the program starts with: the granted descriptors at exactly
//! `0 ..= last`, the launcher's helper descriptors right after them, nothing else.

use std::os::fd::RawFd;

use super::plan::ChildPlan;
use super::raw::fail;
use super::stage::Stage;

/// Where [`place_descriptors`] put the helper descriptors (all close-on-exec).
#[derive(Clone, Copy)]
pub(super) struct Placed {
    /// The error pipe's write end.
    pub(super) err: RawFd,
    /// The status pipe's write end.
    pub(super) status: RawFd,
    /// The program (`O_PATH`).
    pub(super) prog: RawFd,
    /// The Landlock ruleset (open only if the plan has one).
    pub(super) ruleset: RawFd,
}

/// Moves every granted descriptor to its target (close-on-exec cleared), puts the error
/// pipe, the status pipe, the program and the ruleset right after the last target, and
/// closes every other descriptor. Everything is first copied above every source and target,
/// so that no placement overwrites a descriptor still to be moved.
///
/// # Safety
/// Only in the child after `clone` (async-signal-safe `fcntl`, `dup3` and `program::launch::close_range` on
/// numbers only; the only memory written is `plan.scratch`, which the parent allocated with
/// the length of `plan.moves`); `plan.moves` targets are exactly `0 ..= last`.
pub(super) unsafe fn place_descriptors(plan: &mut ChildPlan) -> Placed {
    let mut err_fd = plan.err_fd;
    // Targets are 0 ..= last; the helpers follow right after.
    let last = plan.moves.len() as RawFd - 1;
    let err_target = last + 1;
    let status_target = last + 2;
    let prog_target = last + 3;
    let ruleset_target = last + 4;
    let mut base = ruleset_target + 1;
    for &(src, _) in &plan.moves {
        base = base.max(src + 1);
    }
    base = base
        .max(err_fd + 1)
        .max(plan.status_fd + 1)
        .max(plan.prog_fd + 1);
    if let Some(r) = plan.ruleset_fd {
        base = base.max(r + 1);
    }
    // SAFETY: descriptor-table system calls only (no pointers); each failure is reported on
    // the error pipe's current number and ends the child.
    unsafe {
        // First copy everything above every source and target, then place the copies.
        let tmp_err = libc::fcntl(err_fd, libc::F_DUPFD_CLOEXEC, base);
        if tmp_err < 0 {
            fail(err_fd, Stage::Descriptors);
        }
        err_fd = tmp_err;
        for i in 0..plan.moves.len() {
            let t = libc::fcntl(plan.moves[i].0, libc::F_DUPFD_CLOEXEC, base);
            if t < 0 {
                fail(err_fd, Stage::Descriptors);
            }
            plan.scratch[i] = t;
        }
        let tmp_status = libc::fcntl(plan.status_fd, libc::F_DUPFD_CLOEXEC, base);
        let tmp_prog = libc::fcntl(plan.prog_fd, libc::F_DUPFD_CLOEXEC, base);
        let tmp_ruleset = match plan.ruleset_fd {
            Some(r) => libc::fcntl(r, libc::F_DUPFD_CLOEXEC, base),
            None => 0,
        };
        if tmp_status < 0 || tmp_prog < 0 || tmp_ruleset < 0 {
            fail(err_fd, Stage::Descriptors);
        }
        for i in 0..plan.moves.len() {
            if libc::dup3(plan.scratch[i], plan.moves[i].1, 0) < 0 {
                fail(err_fd, Stage::Descriptors);
            }
        }
        if libc::dup3(err_fd, err_target, libc::O_CLOEXEC) < 0 {
            fail(err_fd, Stage::Descriptors);
        }
        err_fd = err_target;
        if libc::dup3(tmp_status, status_target, libc::O_CLOEXEC) < 0
            || libc::dup3(tmp_prog, prog_target, libc::O_CLOEXEC) < 0
            || (plan.ruleset_fd.is_some()
                && libc::dup3(tmp_ruleset, ruleset_target, libc::O_CLOEXEC) < 0)
        {
            fail(err_fd, Stage::Descriptors);
        }
        // Everything this child still uses sits at or below `ruleset_target`.
        program::launch::close_range(
            u32::try_from(ruleset_target + 1).unwrap_or(u32::MAX),
            u32::MAX,
            program::launch::RangeAction::Close,
        );
    }
    Placed {
        err: err_fd,
        status: status_target,
        prog: prog_target,
        ruleset: ruleset_target,
    }
}
