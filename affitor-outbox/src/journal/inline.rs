//! The journal's entries of the events a client sent itself ([`Backend::sent`]): written off
//! the request's path by one task at a time, each batch in a transaction of its own.
//!
//! [`Backend::sent`]: affitor::client::Backend::sent

use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex, PoisonError};

use super::JournalEntry;
use crate::shared::Inner;
use crate::throttle::Throttle;

/// At most this many entries wait for their write: past it, a slow or failing store loses the
/// newest ones (counted in `OutboxStats::journal_lost`), never the request's time.
const MAX_WAITING: usize = 1024;

/// Seconds between two warnings of entries lost.
const LOST_WARNING_EVERY: u64 = 60;

/// The entries waiting for their write, and whether a task is writing them.
#[derive(Debug)]
pub(crate) struct InlineEntries {
    state: Mutex<Waiting>,
    /// Told when the task ends, none waiting: what [`InlineEntries::written`] waits for.
    idle: tokio::sync::Notify,
    /// The warning of entries lost: at most one a minute, with how many since.
    lost_warning: Throttle,
}

impl Default for InlineEntries {
    fn default() -> Self {
        Self {
            state: Mutex::default(),
            idle: tokio::sync::Notify::new(),
            lost_warning: Throttle::new(LOST_WARNING_EVERY),
        }
    }
}

#[derive(Debug, Default)]
struct Waiting {
    entries: Vec<JournalEntry>,
    writing: bool,
}

impl InlineEntries {
    /// Takes `entries` to write, and returns at once: a task writes them, started on the
    /// outbox's runtime (or the caller's) unless one is writing already.
    pub(crate) fn push(self: &Arc<Self>, inner: &Arc<Inner>, entries: Vec<JournalEntry>) {
        if entries.is_empty() {
            return;
        }
        let start = {
            let mut waiting = self.lock();
            if waiting.entries.len() + entries.len() > MAX_WAITING {
                drop(waiting);
                self.lost(inner, entries.len(), "more than 1,024 wait for the store");
                return;
            }
            waiting.entries.extend(entries);
            !std::mem::replace(&mut waiting.writing, true)
        };
        if !start {
            return;
        }
        // Dropped with the task, run or not (a runtime shut down drops it unpolled): another
        // push starts the next.
        let mut writing = Writing {
            entries: Arc::clone(self),
            done: false,
        };
        let runtime = inner
            .home
            .clone()
            .or_else(|| tokio::runtime::Handle::try_current().ok());
        let Some(runtime) = runtime else {
            let lost = std::mem::take(&mut self.lock().entries).len();
            self.lost(inner, lost, "no tokio runtime");
            return;
        };
        let inner = Arc::clone(inner);
        runtime.spawn(async move {
            while let Some(batch) = writing.next() {
                let count = batch.len();
                if let Err(error) = inner.store.write_journal(batch).await {
                    let why = format!("the store failed: {error}");
                    writing.entries.lost(&inner, count, &why);
                }
            }
        });
    }

    /// Counts `count` entries lost, and says so: at `warn` at most once a minute, else at
    /// `debug`.
    fn lost(&self, inner: &Inner, count: usize, why: &str) {
        let count = u64::try_from(count).unwrap_or(u64::MAX);
        crate::metrics::journal_lost(count);
        let total = inner
            .counters
            .journal_lost
            .fetch_add(count, Ordering::Relaxed)
            .saturating_add(count);
        match self.lost_warning.due() {
            Some(since) => tracing::warn!(
                lost = count,
                since_last_warning = since,
                journal_lost = total,
                "Affitor outbox: journal entries of the client's own sends were not written \
                 ({why}), and `affitor explain` will miss them (at most one such warning a \
                 minute; `OutboxStats::journal_lost` counts them all)"
            ),
            None => tracing::debug!(
                lost = count,
                "Affitor outbox: journal entries of the client's own sends were not written ({why})"
            ),
        }
    }

    /// Waits until the entries taken so far are written (or given up on), or `until`: a
    /// flush or a shutdown waits for them, as a process may freeze or end next.
    pub(crate) async fn written(&self, until: tokio::time::Instant) {
        loop {
            let idle = self.idle.notified();
            let mut idle = std::pin::pin!(idle);
            idle.as_mut().enable();
            if !self.lock().writing {
                return;
            }
            if tokio::time::timeout_at(until, idle).await.is_err() {
                return;
            }
        }
    }

    /// No task writes any more.
    fn ended(&self, waiting: &mut Waiting) {
        waiting.writing = false;
        self.idle.notify_waiters();
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Waiting> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// The one task writing the entries: while it lives, no other starts.
struct Writing {
    entries: Arc<InlineEntries>,
    /// It found none waiting, and said so in the same lock.
    done: bool,
}

impl Writing {
    /// The entries waiting now; `None` when there are none, and then the next push starts a
    /// task of its own.
    fn next(&mut self) -> Option<Vec<JournalEntry>> {
        let mut waiting = self.entries.lock();
        if waiting.entries.is_empty() {
            self.entries.ended(&mut waiting);
            self.done = true;
            return None;
        }
        Some(std::mem::take(&mut waiting.entries))
    }
}

impl Drop for Writing {
    fn drop(&mut self) {
        if !self.done {
            let entries = &self.entries;
            entries.ended(&mut entries.lock());
        }
    }
}
