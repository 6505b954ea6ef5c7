//! The leases of the rows a relay holds, renewed while their sends are in flight.
//!
//! A claim holds its rows for a short lease; while sends are in flight, a task of the relay
//! extends the lease of the rows it holds every third of it (one statement, naming them), so
//! that a long send (the client's retries) never loses its rows to another relay, and the rows
//! of a relay that died are free again within one lease. A row leased under the relay's name
//! that it does not hold (a write's answer that was lost, a relay stopped before its delete) is
//! not renewed: it goes again when its lease ends, however busy the relay. A send whose lease
//! may have run out, its renewals unanswered (a store gone silent), is stopped: another relay
//! may have taken its row, and two relays never send one row at once.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use tokio::time::Instant;
use tokio_util::task::AbortOnDropHandle;

use crate::shared::Inner;
use crate::sync::lock;

/// The ids of the rows being sent (see [`Sending`]) or, delivered, waiting for their delete
/// (see [`Deleting`]): the rows whose leases the relay renews, with those handed over and not
/// taken yet; and, for each row the store said it renewed, when that renewal began.
#[derive(Debug, Default)]
pub(super) struct Held {
    rows: Mutex<HashSet<i64>>,
    renewed: Mutex<HashMap<i64, Instant>>,
}

impl Held {
    fn lock(&self) -> MutexGuard<'_, HashSet<i64>> {
        lock(&self.rows)
    }

    /// Ends once the lease of row `id` may have run out: a `lease` (less a tenth, for the
    /// clocks of this process and the store's) from when it was asked for, `leased`, or from
    /// the last renewal the store said it extended.
    pub(super) async fn lapsed(&self, id: i64, leased: Instant, lease: Duration) {
        loop {
            let renewed = lock(&self.renewed).get(&id).copied();
            let from = renewed.map_or(leased, |renewed| renewed.max(leased));
            let ends = from + lease - lease / 10;
            if Instant::now() >= ends {
                return;
            }
            tokio::time::sleep_until(ends).await;
        }
    }

    /// Whether the row `id` is being sent or waits for its delete.
    pub(super) fn holds(&self, id: i64) -> bool {
        self.lock().contains(&id)
    }

    /// The delete of delivered rows `ids` ended: their leases are no longer renewed.
    pub(super) fn deleted(&self, ids: &[i64]) {
        let mut held = self.lock();
        for id in ids {
            held.remove(id);
        }
    }
}

/// A row being sent: counted in `in_flight` and held (its lease renewed) from the spawn of its
/// send to the end of its send, however it ends (a task aborted with the relay too); a row
/// delivered stays held until its delete ends ([`Sending::delivered`]), so that a slow delete
/// never lets this relay claim and send it again.
pub(super) struct Sending {
    inner: Arc<Inner>,
    held: Arc<Held>,
    id: i64,
    delivered: bool,
}

impl Sending {
    pub(super) fn start(inner: &Arc<Inner>, held: &Arc<Held>, id: i64) -> Self {
        inner.counters.in_flight.fetch_add(1, Ordering::Relaxed);
        held.lock().insert(id);
        Self {
            inner: Arc::clone(inner),
            held: Arc::clone(held),
            id,
            delivered: false,
        }
    }

    /// The send delivered the row: no longer in flight, and held until its [`Deleting`] ends.
    pub(super) fn delivered(mut self) {
        self.delivered = true;
    }
}

impl Drop for Sending {
    fn drop(&mut self) {
        if !self.delivered {
            self.held.lock().remove(&self.id);
        }
        self.inner
            .counters
            .in_flight
            .fetch_sub(1, Ordering::Relaxed);
    }
}

/// Delivered rows being deleted: held until dropped, however the delete ends (a task that
/// panicked too: its rows then go again when their lease ends), unless they are taken back
/// for the next delete.
pub(super) struct Deleting {
    held: Arc<Held>,
    ids: Vec<i64>,
}

impl Deleting {
    pub(super) fn new(held: &Arc<Held>, ids: Vec<i64>) -> Self {
        Self {
            held: Arc::clone(held),
            ids,
        }
    }

    pub(super) fn ids(&self) -> &[i64] {
        &self.ids
    }

    /// The rows stay held, for the next delete.
    pub(super) fn keep(mut self) {
        self.ids.clear();
    }
}

impl Drop for Deleting {
    fn drop(&mut self) {
        self.held.deleted(&self.ids);
    }
}

/// The task that renews a relay's leases; aborted when dropped.
#[derive(Debug)]
pub(super) struct Renewing(AbortOnDropHandle<()>);

impl Renewing {
    /// Spawns the renewals of the rows the relay holds: those in `held`, and those handed over.
    pub(super) fn start(inner: &Arc<Inner>, held: &Arc<Held>) -> Self {
        let renewals = renew(Arc::clone(inner), Arc::clone(held));
        Self(AbortOnDropHandle::new(tokio::spawn(renewals)))
    }

    /// Stops the renewals and waits for their task's end: a renewal under way is dropped, its
    /// connection back in the pool, before the relay releases its rows.
    pub(super) async fn end(self) {
        self.0.abort();
        let _ = self.0.await;
    }
}

/// Every third of the lease, while rows are being sent, extends the lease of each row the
/// relay holds (being sent, or handed over and not taken yet) to a full lease from now. A
/// renewal that fails, or has no answer by the next tick, is logged; the next one tries again
/// (past the lease, the sends of the rows stop: [`Held::lapsed`]).
async fn renew(inner: Arc<Inner>, held: Arc<Held>) {
    let lease = inner.config.lease;
    // Every third of the lease, so that two renewals can fail before it ends.
    let every = (lease / 3).max(Duration::from_millis(1));
    let mut ticks = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut ids = Vec::new();
    loop {
        ticks.tick().await;
        // Before the statement: the leases it extends run a lease from then at least.
        let began = Instant::now();
        ids.clear();
        // Handed over first, then held: a row taken in between is seen in `held` unless its
        // send is not spawned yet; one renewal missed leaves it two thirds of its lease.
        inner.handed.ids_into(&mut ids);
        ids.extend(held.lock().iter());
        if ids.is_empty() {
            continue;
        }
        // A renewal stuck on a silent connection must not outlast the lease it renews: given
        // up at the next tick, it leaves the next renewal a third of the lease on another.
        let renewed =
            tokio::time::timeout(every, inner.store.renew(&inner.owner, &ids, lease)).await;
        let error = match renewed {
            Ok(Ok(extended)) => {
                let held_now: HashSet<i64> = ids.iter().copied().collect();
                let mut renewed = lock(&held.renewed);
                // Only the rows still held or handed over: the others' sends have ended.
                renewed.retain(|id, _| held_now.contains(id));
                renewed.extend(extended.into_iter().map(|id| (id, began)));
                continue;
            }
            Ok(Err(error)) => error.to_string(),
            Err(_) => format!("the store did not answer within {every:?}"),
        };
        tracing::warn!(
            error,
            lease = ?lease,
            "Affitor outbox relay could not renew the lease of the rows it is sending; it \
             tries again (past the lease, their sends stop, and the rows go again)"
        );
    }
}
