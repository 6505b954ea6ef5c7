//! The journal's entries of the events a client sent itself ([`Backend::sent`]): written off
//! the request's path by one task at a time, each batch in a transaction of its own.
//!
//! [`Backend::sent`]: affitor::client::Backend::sent

use std::sync::{Arc, Mutex};

use tokio_util::sync::CancellationToken;

use super::{InWrite, JournalEntry};
use crate::shared::Inner;
use crate::sync::lock;

/// At most this many entries wait for their write: past it, a slow or failing store loses the
/// newest ones (counted in `OutboxStats::journal_lost`), never the request's time.
const MAX_WAITING: usize = 1024;

/// The entries waiting for their write, and the task writing them, if one is.
#[derive(Debug, Default)]
pub(crate) struct InlineEntries {
    state: Mutex<Waiting>,
    /// Told when the task ends, none waiting: what [`InlineEntries::written`] waits for.
    idle: tokio::sync::Notify,
}

#[derive(Debug, Default)]
struct Waiting {
    entries: Vec<JournalEntry>,
    /// Cancels the task writing them: a stop past its deadline frees the store's connection.
    writing: Option<CancellationToken>,
}

impl InlineEntries {
    /// Takes `entries` to write, and returns at once: a task writes them, started on the
    /// outbox's runtime (or the caller's) unless one is writing already.
    pub(crate) fn push(self: &Arc<Self>, inner: &Arc<Inner>, entries: Vec<JournalEntry>) {
        if entries.is_empty() {
            return;
        }
        let stop = {
            let mut waiting = self.lock();
            if waiting.entries.len() + entries.len() > MAX_WAITING {
                drop(waiting);
                lost(inner, entries.len(), "more than 1,024 wait for the store");
                return;
            }
            waiting.entries.extend(entries);
            if waiting.writing.is_some() {
                return;
            }
            waiting.writing.insert(CancellationToken::new()).clone()
        };
        // Dropped with the task, run or not (a runtime shut down drops it unpolled): another
        // push starts the next.
        let mut writing = Writing {
            entries: Arc::clone(self),
            inner: Arc::clone(inner),
            done: false,
        };
        let runtime = inner
            .home
            .clone()
            .or_else(|| tokio::runtime::Handle::try_current().ok());
        let Some(runtime) = runtime else {
            let dropped = std::mem::take(&mut self.lock().entries).len();
            lost(inner, dropped, "no tokio runtime");
            return;
        };
        let inner = Arc::clone(inner);
        runtime.spawn(async move {
            while let Some(batch) = writing.next() {
                let count = batch.len();
                let why = "of the client's own sends: the outbox stopped at its deadline, or \
                           the runtime ended, during their write";
                let in_write = InWrite::new(&inner, count, why);
                let written = tokio::select! {
                    written = inner.store.write_journal(batch) => written,
                    () = stop.cancelled() => return,
                };
                in_write.answered();
                if let Err(error) = written {
                    lost(&inner, count, &format!("the store failed: {error}"));
                }
            }
        });
    }

    /// Waits until the entries taken so far are written (or given up on), or `until`: a
    /// flush or a shutdown waits for them, as a process may freeze or end next.
    pub(crate) async fn written(&self, until: tokio::time::Instant) {
        loop {
            let idle = self.idle.notified();
            let mut idle = std::pin::pin!(idle);
            idle.as_mut().enable();
            if self.lock().writing.is_none() {
                return;
            }
            if tokio::time::timeout_at(until, idle).await.is_err() {
                return;
            }
        }
    }

    /// Waits as [`written`](Self::written) does, then gives up the write still under way, its
    /// entries and those waiting counted lost: a stop holds no connection of the store past
    /// its deadline.
    pub(crate) async fn stop(&self, until: tokio::time::Instant) {
        self.written(until).await;
        if let Some(writing) = &self.lock().writing {
            writing.cancel();
        }
    }

    /// No task writes any more.
    fn ended(&self, waiting: &mut Waiting) {
        waiting.writing = None;
        self.idle.notify_waiters();
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Waiting> {
        lock(&self.state)
    }
}

/// Counts `count` entries of the client's own sends lost (`why`), and says so.
fn lost(inner: &Inner, count: usize, why: &str) {
    inner.journal_lost(count, &format!("of the client's own sends: {why}"));
}

/// The one task writing the entries: while it lives, no other starts. Dropped before it is
/// done (its runtime ended), it counts the entries still waiting lost.
struct Writing {
    entries: Arc<InlineEntries>,
    inner: Arc<Inner>,
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
            let mut waiting = self.entries.lock();
            let dropped = std::mem::take(&mut waiting.entries).len();
            self.entries.ended(&mut waiting);
            drop(waiting);
            lost(
                &self.inner,
                dropped,
                "the outbox stopped at its deadline, or the runtime ended, before their write",
            );
        }
    }
}
