//! What an outbox's handles, its writes and its relay share.

use std::collections::VecDeque;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};

use affitor::Client;
use affitor::client::Event;
use tokio::sync::Notify;
use tokio_util::task::TaskTracker;

use crate::config::Config;
use crate::metrics;
use crate::spill::Spill;
use crate::stats::Counters;
use crate::store::{Claimed, Lease, Store};
use crate::sync::lock;
use crate::throttle::Throttle;

pub(crate) struct Inner {
    pub(crate) store: Store,
    /// The warning for events neither stored nor sent by the outbox (handed to the in-memory
    /// queue): at most one a minute, with how many since.
    pub(crate) fell_back_warning: Throttle,
    /// The warning for journal entries lost: at most one a minute, with how many since.
    pub(crate) journal_lost_warning: Throttle,
    /// The client the events the store cannot take fall back to: always with its in-memory
    /// queue as its backend, so that nothing falls back here.
    pub(crate) client: Client,
    pub(crate) config: Config,
    pub(crate) counters: Counters,
    /// Wakes the relay: a row was written.
    pub(crate) wake: Notify,
    /// The name this process's relay leases its rows under.
    pub(crate) owner: std::sync::Arc<str>,
    /// The rows the writer leased to this process's relay as it wrote them.
    pub(crate) handed: HandOff,
    /// The writes of events handed over by `send_in_background` (the outbox as a client's
    /// `Backend`), for `shutdown` to wait on.
    pub(crate) writes: TaskTracker,
    /// The events handed over by `send_in_background` that no write has taken yet, in the
    /// order they came: each write takes the oldest.
    pub(crate) handed_over: Mutex<VecDeque<Event>>,
    /// The runtime the outbox was opened on, where its relay runs: the writes of
    /// `send_in_background` go there first, so that they outlive the caller's runtime (an
    /// actix-web worker's, which stops with the server).
    pub(crate) home: Option<tokio::runtime::Handle>,
    /// Where the store is, a URL's password left out: for logs and `Debug`.
    pub(crate) location: String,
    /// The events held in memory while the store fails, and whether it does.
    pub(crate) spill: Spill,
    /// What was warned of the store's connection at start (`Outbox::tls_warning`).
    pub(crate) tls_warning: Option<String>,
}

impl Drop for Inner {
    /// The last handle went without `shutdown`: the events handed over that no write took
    /// and those the spill still holds go to the client's in-memory queue rather than with it.
    fn drop(&mut self) {
        let handed_over = std::mem::take(&mut *lock(&self.handed_over));
        for event in handed_over {
            self.fell_back(event, "its write's runtime ended before it ran");
        }
        for event in self.spill.close() {
            self.fell_back(
                event,
                "the outbox was dropped before the store answered again",
            );
        }
    }
}

impl Inner {
    /// Hands `event`, which the store could not take (`why`), to the client's in-memory queue:
    /// counted, and logged at most once a minute with how many since.
    pub(crate) fn fell_back(&self, event: Event, why: &str) {
        self.count_fall_back(&event, why);
        self.client.send_event_in_background(event);
    }

    /// As [`fell_back`](Self::fell_back), on a request's path: while the in-memory queue is
    /// full, the request waits for room until its `deadline` rather than the event being
    /// dropped (a drop at the deadline is counted by the queue, in `queue_full`).
    pub(crate) async fn fall_back_within(
        &self,
        event: Event,
        why: &str,
        deadline: tokio::time::Instant,
    ) {
        self.count_fall_back(&event, why);
        let room = self.client.enqueue_event(event);
        let _ = tokio::time::timeout_at(deadline, room).await;
    }

    fn count_fall_back(&self, event: &Event, why: &str) {
        Counters::add(&self.counters.fell_back);
        metrics::event(event.endpoint().name(), metrics::Result::FellBack);
        match self.fell_back_warning.due() {
            Some(since) => tracing::warn!(
                endpoint = event.endpoint().name(),
                location = %self.location,
                error = %why,
                since_last_warning = since,
                fell_back = self.counters.fell_back.load(Ordering::Relaxed),
                "Affitor event kept in memory only: the outbox store could not take it (at most \
                 one such warning a minute; `OutboxStats::fell_back` counts them all)"
            ),
            None => tracing::debug!(
                endpoint = event.endpoint().name(),
                error = %why,
                "Affitor event kept in memory only: the outbox store could not take it"
            ),
        }
    }

    /// Counts `count` journal entries that will never be written (`why`), and says so: at
    /// `warn` at most once a minute, with how many since, else at `debug`.
    pub(crate) fn journal_lost(&self, count: usize, why: &str) {
        if count == 0 {
            return;
        }
        let count = u64::try_from(count).unwrap_or(u64::MAX);
        metrics::journal_lost(count);
        let total = self
            .counters
            .journal_lost
            .fetch_add(count, Ordering::Relaxed)
            .saturating_add(count);
        match self.journal_lost_warning.due() {
            Some(since) => tracing::warn!(
                lost = count,
                since_last_warning = since,
                journal_lost = total,
                "Affitor outbox: journal entries were not written ({why}), and `affitor explain` \
                 will miss them (at most one such warning a minute; `OutboxStats::journal_lost` \
                 counts them all)"
            ),
            None => tracing::debug!(
                lost = count,
                "Affitor outbox: journal entries were not written ({why})"
            ),
        }
    }

    /// Rows are waiting in the store that no relay holds (written by `enqueue_in`, made due
    /// again): the relay claims them at its next turn.
    pub(crate) fn stored(&self) {
        self.handed.stored.store(true, Ordering::Release);
        self.wake.notify_one();
    }

    /// The lease under which the writer may hand rows to this process's relay, while it runs.
    pub(crate) fn hand_off_lease(&self) -> Option<Lease<'_>> {
        self.handed.is_open().then(|| Lease {
            owner: &self.owner,
            duration: self.config.lease,
        })
    }

    /// Whether a row written now may be handed to this process's relay: it runs and has a free
    /// send slot. Read on each write without a lock, so that a request's event is copied for the
    /// relay only when it may be used; the writer's offer decides ([`Inner::hand_off_room`]).
    pub(crate) fn may_hand_off(&self) -> bool {
        let in_flight = self.counters.in_flight.load(Ordering::Relaxed);
        self.handed.open.load(Ordering::Acquire)
            && usize::try_from(in_flight).is_ok_and(|busy| busy < self.config.max_in_flight)
    }

    /// How many rows the writer may lease to the relay now: its free send slots, less the
    /// rows handed over and not yet taken, and less one claim's worth while rows wait in the
    /// store, so that the oldest are never starved by the newest.
    pub(crate) fn hand_off_room(&self) -> usize {
        let in_flight = self.counters.in_flight.load(Ordering::Relaxed);
        let reserved = if self.handed.stored.load(Ordering::Acquire) {
            claim_batch(self.config.max_in_flight)
        } else {
            0
        };
        let busy = usize::try_from(in_flight)
            .unwrap_or(usize::MAX)
            .saturating_add(self.handed.len())
            .saturating_add(reserved);
        self.config.max_in_flight.saturating_sub(busy)
    }
}

/// The least free send slots for which the relay claims (each claim is one query, which reads
/// past the rows being sent).
pub(crate) fn claim_batch(max_in_flight: usize) -> usize {
    (max_in_flight / 8).max(1)
}

/// The rows a writer leased to its own process's relay as it wrote them, for the relay to send
/// without claiming them (and without reading them back: each holds its event as it was
/// given). The relay opens it when it starts and closes it when it stops.
#[derive(Debug, Default)]
pub(crate) struct HandOff {
    open: AtomicBool,
    rows: Mutex<Vec<Claimed>>,
    /// Rows may be waiting in the store that no relay holds: written unleased, or left by the
    /// last claim, which was full.
    stored: AtomicBool,
}

impl HandOff {
    pub(crate) fn open(&self) {
        self.open.store(true, Ordering::Release);
    }

    /// No row is handed over from now on; those already are stay leased to the relay, which
    /// releases them when it stops.
    pub(crate) fn close(&self) {
        self.open.store(false, Ordering::Release);
    }

    /// Whether the relay takes the rows handed over: it runs, and has not begun to stop.
    pub(crate) fn is_open(&self) -> bool {
        self.open.load(Ordering::Acquire)
    }

    /// Hands `rows` to the relay; `stored` when some of their batch was written unleased.
    pub(crate) fn give(&self, rows: Vec<Claimed>, stored: bool) {
        if stored {
            self.stored.store(true, Ordering::Release);
        }
        if !rows.is_empty() {
            self.lock().extend(rows);
        }
    }

    /// Up to `at_most` of the rows handed over, oldest first.
    pub(crate) fn take(&self, at_most: usize) -> Vec<Claimed> {
        let mut rows = self.lock();
        let taken = rows.len().min(at_most);
        rows.drain(..taken).collect()
    }

    /// The ids of the rows handed over and not taken yet, added to `ids`: leased to the relay,
    /// which renews them with the rows it sends.
    pub(crate) fn ids_into(&self, ids: &mut Vec<i64>) {
        ids.extend(self.lock().iter().map(|row| row.id));
    }

    pub(crate) fn len(&self) -> usize {
        self.lock().len()
    }

    /// Whether rows may wait in the store that no relay holds.
    pub(crate) fn any_stored(&self) -> bool {
        self.stored.load(Ordering::Acquire)
    }

    /// A claim starts: it takes what waits in the store, and whatever is written unleased
    /// from now on marks it again.
    pub(crate) fn claiming(&self) {
        self.stored.store(false, Ordering::Release);
    }

    /// Rows may wait in the store that no relay holds (a claim took as many as it asked for, or
    /// failed, or a look is due): the writer leaves a claim's worth of send slots free until the
    /// next claim.
    pub(crate) fn rows_may_wait(&self) {
        self.stored.store(true, Ordering::Release);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<Claimed>> {
        lock(&self.rows)
    }
}
