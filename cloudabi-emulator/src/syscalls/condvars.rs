//! The kernel side of the process's condition variables: for each guest condition
//! variable, the queue of threads waiting on it (`condvar_wait` and `condvar_signal` in
//! `sync` work on it).

#![forbid(unsafe_code)]

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::{Mutex, MutexGuard};

/// Waiters on one condition variable, in arrival order.
#[derive(Debug, Default)]
pub(crate) struct Queue {
    pub(super) waiting: VecDeque<u64>,
    pub(super) woken: HashSet<u64>,
}

/// The kernel side of the process's condition variables.
#[derive(Debug, Default)]
pub(crate) struct CondvarTable {
    queues: Mutex<(u64, HashMap<u64, Queue>)>,
    pub(super) changed: std::sync::Condvar,
}

impl CondvarTable {
    /// Locks the table (also used to keep it consistent across `fork`).
    pub(crate) fn lock(&self) -> MutexGuard<'_, (u64, HashMap<u64, Queue>)> {
        self.queues.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Wakes every waiter so it looks at its state again (a pending thread exit).
    pub(crate) fn wake_all(&self) {
        // Under the lock: a waiter that checked before the exit was requested is then
        // already asleep on `changed` when the notification comes.
        let guard = self.lock();
        self.changed.notify_all();
        drop(guard);
    }

    /// Drops every queue (the program that waited on them was replaced).
    pub(crate) fn clear(&self) {
        self.lock().1.clear();
    }
}
