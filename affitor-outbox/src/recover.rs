//! The way back from a failing store: what a failed write does with its event, and the probe
//! that ends the degraded state and writes the spill back (see [`crate::spill`]).
//!
//! While the outbox is degraded, a task probes the store every [`PROBE_EVERY`] (a row written
//! and rolled back, under [`PROBE_TIMEOUT`]; on SQLite, the WAL emptied first). Once it answers, the events held are written
//! through the writer, a batch at a time, as requests' are; one that fails again goes back to
//! the spill, and the probe goes on. The events held past
//! [`max_spill_wait`](crate::OutboxBuilder::max_spill_wait) go to the client's in-memory
//! queue. The task ends once nothing is held and the store answers, or at `shutdown`.

use std::sync::{Arc, Weak};
use std::time::Duration;

use affitor::client::Event;
use futures_util::future::join_all;
use tokio_util::sync::CancellationToken;

use crate::metrics;
use crate::outbox::Unsettled;
use crate::shared::Inner;
use crate::spill::{Offer, Spilled};
use crate::stats::Counters;
use crate::store::Facts;
use crate::sync::lock;
use crate::writer::{MAX_BATCH, Writer};

/// How often the store is probed while the outbox is degraded.
const PROBE_EVERY: Duration = Duration::from_millis(500);

/// How long a probe waits for the store's answer.
pub(crate) const PROBE_TIMEOUT: Duration = Duration::from_secs(1);

/// What becomes of `event`, which the store could not take (`why`): held in the spill, and the
/// probe started when this made the outbox degraded; handed to the client's in-memory queue
/// when the spill is full or closed (waiting for room there until `deadline`), or the writer
/// has stopped. Once the store answers again,
/// waits (until the request's `deadline` at most) for the event's write-back behind those held
/// before it: the requests go at the store's pace again, in the order they came. `unsettled`
/// is settled once the event is held (the spill accounts for it then) or handed on.
pub(crate) async fn spill(
    inner: &Arc<Inner>,
    writer: &Arc<Writer>,
    event: Event,
    why: &str,
    deadline: tokio::time::Instant,
    unsettled: Unsettled<'_>,
) {
    let endpoint = event.endpoint().name();
    match inner.spill.offer(event, inner.config.max_spilled) {
        Offer::Held { began, written } => {
            unsettled.settle();
            Counters::add(&inner.counters.spilled_total);
            metrics::event(endpoint, metrics::Result::Spilled);
            if began {
                degraded(inner, writer, why);
            }
            if let Some(written) = written {
                // Not written in time, or handed to the in-memory queue: it goes either way, once.
                let _ = tokio::time::timeout_at(deadline, written).await;
            }
        }
        Offer::Refused(event, began) => {
            if began {
                degraded(inner, writer, why);
            }
            // Handed on: the in-memory queue counts a wait for its room cut short.
            unsettled.settle();
            inner.fall_back_within(*event, why, deadline).await;
        }
    }
}

/// A write failed (`why`): the outbox is degraded from now on, when it was not, and the probe
/// starts.
pub(crate) fn failed(inner: &Arc<Inner>, writer: &Arc<Writer>, why: &str) {
    if inner.spill.degrade() {
        degraded(inner, writer, why);
    }
}

/// The outbox has just become degraded: said once, and the probe started on the outbox's
/// runtime (else the caller's).
fn degraded(inner: &Arc<Inner>, writer: &Arc<Writer>, why: &str) {
    tracing::warn!(
        location = %inner.location,
        error = %why,
        "Affitor outbox store failed: new events are held in memory (at most {}, for at most \
         {:?} each) and written to it once it answers again; it is probed every {PROBE_EVERY:?}",
        inner.config.max_spilled,
        inner.config.max_spill_wait,
    );
    let Some(runtime) = inner
        .home
        .clone()
        .or_else(|| tokio::runtime::Handle::try_current().ok())
    else {
        return;
    };
    let task = runtime.spawn(probe(
        Arc::downgrade(inner),
        Arc::downgrade(writer),
        inner.spill.stop.clone(),
    ));
    // A task that ended its turn just now may still be in the slot: it is done anyway.
    *lock(&inner.spill.probe) = Some(task);
}

/// The probe's task: every [`PROBE_EVERY`], the events held too long go to the in-memory queue,
/// and, when the store answers, the others are written back. Ends once nothing is held and the
/// outbox is healthy again, when the outbox is gone, or once `stop` is cancelled (`shutdown`).
async fn probe(inner: Weak<Inner>, writer: Weak<Writer>, stop: CancellationToken) {
    loop {
        tokio::select! {
            () = tokio::time::sleep(PROBE_EVERY) => {}
            () = stop.cancelled() => return,
        }
        let (Some(inner), Some(writer)) = (inner.upgrade(), writer.upgrade()) else {
            return;
        };
        for event in inner.spill.expired(inner.config.max_spill_wait) {
            inner.fell_back(
                event,
                "the store did not answer again within max_spill_wait",
            );
        }
        let answered = tokio::select! {
            answered = tokio::time::timeout(PROBE_TIMEOUT, inner.store.probe()) => answered,
            () = stop.cancelled() => return,
        };
        if !matches!(answered, Ok(Ok(()))) {
            continue;
        }
        inner.spill.answering();
        if write_back(&inner, &writer).await {
            tracing::info!(
                location = %inner.location,
                written_back = inner.counters.written_back.load(std::sync::atomic::Ordering::Relaxed),
                "Affitor outbox store answers again: the events held in memory are written to it"
            );
            return;
        }
    }
}

/// Writes the events held to the store, [`MAX_BATCH`] at a time, all of a batch at once (one
/// transaction, as concurrent requests' are): `true` once nothing is held and the outbox is
/// healthy again; `false` when a write failed or was given up at `shutdown`'s deadline (its
/// events are held again).
async fn write_back(inner: &Arc<Inner>, writer: &Arc<Writer>) -> bool {
    let give_up = &inner.spill.give_up;
    loop {
        if give_up.is_cancelled() {
            return false;
        }
        let mut taken = inner.spill.take(MAX_BATCH);
        if taken.is_empty() {
            if inner.spill.recovered() {
                return true;
            }
            continue;
        }
        let count = taken.len();
        // The runtime's end may drop this task before they are written: counted, then.
        let unsettled = Unsettled::new(
            inner,
            taken
                .iter()
                .map(|spilled| spilled.event.endpoint().name())
                .collect(),
        );
        // On this task, each write first polled in the order the events came, so that their
        // rows reach the writer in that order: a customer's lead before their sale.
        let writes = taken.iter().map(|spilled| {
            let write =
                writer.write_event(inner, &spilled.event, Facts::default(), give_up.cancelled());
            async move { write.await.is_ok() }
        });
        let written = join_all(writes).await;
        unsettled.settle();
        for spilled in taken
            .iter_mut()
            .zip(&written)
            .filter_map(|(spilled, written)| written.then_some(spilled))
        {
            if let Some(written) = spilled.written.take() {
                let _ = written.send(());
            }
            Counters::add(&inner.counters.written_back);
            metrics::event(
                spilled.event.endpoint().name(),
                metrics::Result::WrittenBack,
            );
        }
        let again: Vec<Spilled> = taken
            .into_iter()
            .zip(written)
            .filter_map(|(spilled, written)| (!written).then_some(spilled))
            .collect();
        inner.spill.written(count - again.len());
        if again.is_empty() {
            inner.spill.resume();
            continue;
        }
        for event in inner.spill.put_back(again) {
            inner.fell_back(event, "the outbox stopped before the store answered again");
        }
        return false;
    }
}

/// Stops the probe (`shutdown`) within `deadline`, and hands every event still held to the
/// client's in-memory queue: from now on nothing is held.
///
/// A write-back under way goes on until the deadline, then is given up: each of its events
/// not written yet is withdrawn from the writer, or, its batch under way on Postgres (its
/// outcome unknown, as an enqueue's past its timeout), sent from memory all the same (the API
/// takes a lead once a customer, a sale or a refund once a transaction id). On SQLite a batch
/// under way is waited for: a local file answers.
pub(crate) async fn stop(inner: &Inner, deadline: Duration) {
    inner.spill.stop.cancel();
    let task = lock(&inner.spill.probe).take();
    if let Some(mut task) = task
        && tokio::time::timeout(deadline, &mut task).await.is_err()
    {
        inner.spill.give_up.cancel();
        // Its writes answer at once now; what they did not write is held again.
        let _ = task.await;
    }
    for event in inner.spill.close() {
        inner.fell_back(event, "the outbox stopped before the store answered again");
    }
}
