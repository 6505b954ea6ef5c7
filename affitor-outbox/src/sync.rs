//! A mutex's guard, taken whether or not a panic poisoned it.

use std::sync::{Mutex, MutexGuard, PoisonError};

/// Locks `mutex`, poisoned or not: what the outbox keeps under a lock (events held, rows
/// leased, a task's handle) is whole between two statements, and a panic elsewhere must not
/// stop the events still waiting.
pub(crate) fn lock<T: ?Sized>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}
