//! The writer: new rows go to the store in batches, one transaction (one sync) per batch.
//!
//! Every write (an [`Outbox::enqueue`](crate::Outbox::enqueue), a `send_in_background`
//! handed to the outbox) hands its row to one task and awaits its own row's commit: the rows
//! that arrive while a transaction commits go together in the next (group commit), so that
//! concurrent requests share one commit (and, for money on SQLite, one `fsync`) instead of
//! queueing for one each. Same on SQLite and on Postgres.
//!
//! A caller that stops waiting (past its limit) withdraws its row while the writer has not
//! taken it: `StoreError::TimedOut`, the row is not in the table. Once the writer has taken
//! it, what an error means depends on the store:
//!
//! - SQLite: a batch waits for another connection's write no longer than its first row's
//!   limit, and then its commit is waited for, half a second at most past the caller's limit:
//!   an error means it was rolled back, nothing of it is in the table, so the event can go
//!   another way without going twice. Past that half second (a disk that hangs in `fsync`),
//!   as on Postgres;
//! - Postgres: the caller waits no longer than its limit (`StoreError::Unanswered`): a server
//!   gone silent holds no request. The row may or may not be in the table; its event is held
//!   for a write-back (`crate::recover`), and may be sent twice: a lead is idempotent on its
//!   customer, a sale and a refund on their transaction id. The writer gives the batch up too,
//!   its connection closed and never used again, a second past the server's own statement
//!   timeout (which rolls it back when the server still answers).
//!
//! While this process's relay runs, the writer offers it as many rows as it has free send
//! slots: a row offered and preceded by no live row of its transaction or customer is leased to
//! the relay as it is written, and handed to it with its event, so that it is sent without a
//! claim or a read back (see `Inner::hand_off_room`). A row not leased waits for a claim.

use std::collections::HashSet;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use affitor::client::Event;
use tokio::sync::{mpsc, oneshot};
use tokio_util::sync::CancellationToken;

use crate::metrics;
use crate::shared::Inner;
use crate::stats::Counters;
use crate::store::{Claimed, Facts, Inserted, NewRow, Store, StoreError};
use crate::sync::lock;

/// The most rows one transaction takes.
pub(crate) const MAX_BATCH: usize = 1024;

/// How many rows may wait for the writer: past it, a write waits for room (within its limit).
const QUEUE: usize = 4 * MAX_BATCH;

/// The way to the writer task.
#[derive(Debug)]
pub(crate) struct Writer {
    rows: mpsc::Sender<Pending>,
    /// How long a caller past its limit still waits for the batch its row is in: SQLite's wait
    /// for the lock ends by its first row's limit, and its commit follows, but on a disk that
    /// hangs; a server may go silent mid-batch.
    batch_grace: Duration,
    /// Asks the writer to end once the rows already handed to it are written (`shutdown`).
    stop: CancellationToken,
    /// Closed when the writer has ended (its sender goes with the thread or the task), its
    /// connections closed; taken by the first [`Writer::stop`].
    ended: Mutex<Option<oneshot::Receiver<()>>>,
}

/// A row waiting for the writer, and where to say how its transaction went.
#[derive(Debug)]
pub(crate) struct Pending {
    pub(crate) row: NewRow,
    /// The row's event, for the relay when the row is leased to it as it is written (`None`
    /// while no relay runs here).
    event: Option<Event>,
    written: oneshot::Sender<Result<(), Arc<StoreError>>>,
    /// When its caller gives up: a SQLite batch waits for another connection's write no longer
    /// than its rows' first.
    #[cfg_attr(not(feature = "sqlite"), allow(dead_code))]
    give_up_at: std::time::Instant,
    /// [`WAITING`] until the writer takes the row ([`TAKEN`]) or its caller withdraws it
    /// ([`WITHDRAWN`]), whichever comes first.
    state: Arc<AtomicU8>,
}

const WAITING: u8 = 0;
const TAKEN: u8 = 1;
const WITHDRAWN: u8 = 2;

/// Moves `state` from [`WAITING`] to `to`: whether this call did it.
fn leave_waiting(state: &AtomicU8, to: u8) -> bool {
    state
        .compare_exchange(WAITING, to, Ordering::AcqRel, Ordering::Acquire)
        .is_ok()
}

impl Writer {
    /// Starts the writer: on a thread of its own for a SQLite store (its connection is
    /// synchronous, and the thread answers each row itself), a task on the current tokio
    /// runtime for Postgres. It ends at [`Writer::stop`], or when the outbox is dropped.
    pub(crate) fn start(inner: &Arc<Inner>) -> Self {
        let (rows, pending) = mpsc::channel(QUEUE);
        let (end, ended) = oneshot::channel::<()>();
        let stop = CancellationToken::new();
        let stopped = stop.clone();
        let weak = Arc::downgrade(inner);
        let batch_grace = match &inner.store {
            #[cfg(feature = "sqlite")]
            // Its commit: its wait for another connection's write ended by the caller's limit.
            Store::Sqlite(_) => Duration::from_millis(500),
            #[cfg(feature = "postgres")]
            Store::Postgres(_) => Duration::ZERO,
        };
        match &inner.store {
            #[cfg(feature = "sqlite")]
            Store::Sqlite(store) => match store.take_writer() {
                Some(connection) => {
                    let spawned = std::thread::Builder::new()
                        .name("affitor-outbox-writer".to_owned())
                        .spawn(move || {
                            write_on_thread(&weak, pending, &stopped, connection);
                            drop(end);
                        });
                    if let Err(error) = spawned {
                        // Its rows then fall back to the in-memory queue, as when a store fails.
                        tracing::error!(
                            error = %error,
                            "Affitor outbox: the writer's thread could not start; events go to \
                             the in-memory queue"
                        );
                    }
                }
                None => tracing::error!(
                    "Affitor outbox: the SQLite writer's connection was already taken; events \
                     go to the in-memory queue"
                ),
            },
            #[cfg(feature = "postgres")]
            Store::Postgres(_) => {
                tokio::spawn(async move {
                    write_batches(weak, pending, stopped).await;
                    drop(end);
                });
            }
        }
        Self {
            rows,
            batch_grace,
            stop,
            ended: Mutex::new(Some(ended)),
        }
    }

    /// Ends the writer (`shutdown`): it takes no row from now on (a write gets
    /// [`StoreError::Stopped`], and its event goes another way), writes those it has, closes
    /// its connections, and ends. Waits for that at most `deadline`.
    pub(crate) async fn stop(&self, deadline: Duration) {
        self.stop.cancel();
        let ended = lock(&self.ended).take();
        if let Some(ended) = ended
            && tokio::time::timeout(deadline, ended).await.is_err()
        {
            // Its last batch is under way: the writer ends with it (one enqueue timeout at most).
            tracing::debug!("Affitor outbox: the writer ends after its batch under way");
        }
    }

    /// Writes `event` with `facts` (one transaction with the rows that wait with it), its event
    /// handed to this process's relay while it has room: `Ok` once committed, counted in
    /// [`OutboxStats::enqueued`](crate::OutboxStats::enqueued). Given up at the enqueue timeout
    /// or once `give_up` resolves (a write-back that `shutdown` ends), as [`Writer::write`] does.
    pub(crate) async fn write_event(
        &self,
        inner: &Inner,
        event: &Event,
        facts: Facts,
        give_up: impl Future<Output = ()>,
    ) -> Result<(), StoreError> {
        let endpoint = event.endpoint().name();
        // The event itself goes with its row while the relay here has room for it: leased to
        // it as it is written, it is sent from memory. The writer wakes the relay.
        let handed = inner.may_hand_off().then(|| event.clone());
        let row = NewRow {
            facts,
            ..NewRow::of(event)
        };
        if self.stop.is_cancelled() && row.facts.is_empty() {
            // After `shutdown`: still stored, for the next start, with no writer.
            let alone = inner.store.insert_alone(row);
            tokio::time::timeout(inner.config.enqueue_timeout, alone)
                .await
                .map_err(|_| StoreError::Unanswered)??;
        } else {
            let limit = tokio::time::Instant::now() + inner.config.enqueue_timeout;
            let give_up = async {
                tokio::select! {
                    () = tokio::time::sleep_until(limit) => {}
                    () = give_up => {}
                }
            };
            self.write(row, handed, give_up, limit.into_std()).await?;
        }
        Counters::add(&inner.counters.enqueued);
        metrics::event(endpoint, metrics::Result::Enqueued);
        Ok(())
    }

    /// Hands `row` to the writer and waits for its transaction to commit. Once `give_up`
    /// resolves (the enqueue timeout, or `shutdown` ending a write-back), the row is withdrawn
    /// if the writer has not taken it yet ([`StoreError::TimedOut`]: it will never be written);
    /// once taken, see the module docs ([`StoreError::Unanswered`]). `event` is
    /// the row's, for this process's relay (`None`: the row waits for a claim); `give_up_at`,
    /// when the limit in `give_up` is reached.
    pub(crate) async fn write(
        &self,
        row: NewRow,
        event: Option<Event>,
        give_up: impl Future<Output = ()>,
        give_up_at: std::time::Instant,
    ) -> Result<(), StoreError> {
        let stopped = || StoreError::Stopped;
        let (written, mut committed) = oneshot::channel();
        let state = Arc::new(AtomicU8::new(WAITING));
        let pending = Pending {
            row,
            event,
            written,
            give_up_at,
            state: Arc::clone(&state),
        };
        let mut give_up = std::pin::pin!(give_up);
        // `biased`: an answer that is ready wins over a limit reached at the same time.
        tokio::select! {
            biased;
            sent = self.rows.send(pending) => sent.map_err(|_| stopped())?,
            () = &mut give_up => return Err(StoreError::TimedOut), // never handed over
        }
        let outcome = tokio::select! {
            biased;
            outcome = &mut committed => outcome,
            () = &mut give_up => {
                if leave_waiting(&state, WITHDRAWN) {
                    return Err(StoreError::TimedOut);
                }
                // The writer has the row in a batch: how it ends is the answer, if it comes.
                tokio::time::timeout(self.batch_grace, committed)
                    .await
                    .map_err(|_| StoreError::Unanswered)?
            }
        };
        match outcome.map_err(|_| stopped())? {
            Ok(()) => Ok(()),
            Err(error) => Err(StoreError::of_batch(&error)),
        }
    }
}

/// The SQLite writer's thread: takes the rows waiting (at most [`MAX_BATCH`]), writes them in
/// one transaction, tells each how it went, then runs the relay's claims, deletes and renewals
/// that came meanwhile, and only then checkpoints the WAL when one is due; ends at `stop`, or
/// when the outbox and its relay are gone, once what it was given is done, its connections
/// closed.
#[cfg(feature = "sqlite")]
fn write_on_thread(
    inner: &Weak<Inner>,
    mut pending: mpsc::Receiver<Pending>,
    stop: &CancellationToken,
    mut connection: crate::store::sqlite::SqliteWriter,
) {
    let mut batch = Vec::with_capacity(MAX_BATCH);
    while connection.wait(&mut pending, &mut batch, MAX_BATCH, stop) {
        if let Some(inner) = take(inner, &mut batch) {
            // Read after the offer: a relay that started or stopped since only leases fewer
            // rows.
            let lease = inner.hand_off_lease();
            let rows: Vec<&NewRow> = batch.iter().map(|pending| &pending.row).collect();
            // It waits for another connection's write until its first row's caller gives up:
            // a caller is never held past its limit by another program's lock.
            let until = batch.iter().map(|pending| pending.give_up_at).min();
            let wait =
                until.map(|until| until.saturating_duration_since(std::time::Instant::now()));
            let began = tokio::time::Instant::now();
            let written = connection.insert_batch(&rows, lease, wait.unwrap_or_default());
            drop(rows);
            let unclaimed = answer(&inner, &mut batch, written, began);
            if !unclaimed.is_empty()
                && let Err(error) = connection.release_rows(&inner.owner, &unclaimed)
            {
                release_failed(unclaimed.len(), &error);
            }
        }
        connection.run_jobs();
        connection.checkpoint_if_due();
    }
    connection.close();
}

/// The Postgres writer's task: takes the rows waiting (at most [`MAX_BATCH`]), writes them in
/// one transaction, and tells each how it went; ends at `stop` once the rows it was given are
/// written, its connection closed, or when the outbox is dropped.
#[cfg(feature = "postgres")]
async fn write_batches(
    inner: Weak<Inner>,
    mut pending: mpsc::Receiver<Pending>,
    stop: CancellationToken,
) {
    let mut batch = Vec::with_capacity(MAX_BATCH);
    let mut closed = false;
    loop {
        let received = tokio::select! {
            received = pending.recv_many(&mut batch, MAX_BATCH) => received,
            () = stop.cancelled(), if !closed => {
                // No row comes in from now on; those already sent are still received.
                pending.close();
                closed = true;
                continue;
            }
        };
        if received == 0 {
            break;
        }
        let Some(inner) = take(&inner, &mut batch) else {
            continue;
        };
        // Read after the offer: a relay that started or stopped since only leases fewer rows.
        let lease = inner.hand_off_lease();
        // A batch gets a full enqueue timeout from when it is taken: one that waits for the
        // store (a lock) is not failed, all its rows falling back at once, for the time its
        // rows already waited in the queue.
        let began = tokio::time::Instant::now();
        let give_up_at = began + inner.config.enqueue_timeout;
        let rows: Vec<&NewRow> = batch.iter().map(|pending| &pending.row).collect();
        let (written, store) = match &inner.store {
            Store::Postgres(store) => (
                store
                    .insert_batch(&rows, lease, give_up_at)
                    .await
                    .map_err(StoreError::from),
                Some(store),
            ),
            // Never: a SQLite store's rows are written on the writer's thread.
            #[cfg(feature = "sqlite")]
            Store::Sqlite(_) => (Err(StoreError::Stopped), None),
        };
        drop(rows);
        let unclaimed = answer(&inner, &mut batch, written, began);
        if let Some(store) = store
            && !unclaimed.is_empty()
            && let Err(error) = store.release_rows(&inner.owner, &unclaimed).await
        {
            release_failed(unclaimed.len(), &error);
        }
    }
    // Stopped (the outbox still there): its connection is closed now, not when it is dropped.
    if let Some(inner) = inner.upgrade()
        && let Store::Postgres(store) = &inner.store
    {
        store.close_writer().await;
    }
}

/// The rows of a batch leased to a relay that stopped while the batch was written could not be
/// released: they go again when their lease ends.
fn release_failed(rows: usize, error: &dyn std::fmt::Display) {
    tracing::warn!(
        rows,
        error = %error,
        "Affitor outbox rows were written for a relay that has stopped, and could not be \
         released; they go again when their lease ends"
    );
}

/// Readies the rows received for their batch: those whose callers stopped waiting are left
/// out (the others cannot be withdrawn from here on), and the relay is offered what it has room
/// for. `None`, the batch emptied, when no row is left or when the outbox is gone (its callers
/// see the writer stopped; the loop ends with the channel).
fn take(inner: &Weak<Inner>, batch: &mut Vec<Pending>) -> Option<Arc<Inner>> {
    batch.retain(|row: &Pending| leave_waiting(&row.state, TAKEN));
    if batch.is_empty() {
        return None;
    }
    let Some(inner) = inner.upgrade() else {
        batch.clear();
        return None;
    };
    if inner.hand_off_lease().is_some() {
        offer(batch, inner.hand_off_room());
    }
    Some(inner)
}

/// Tells each row of `batch`, whose write `began` then, how its batch went, and hands the relay
/// the rows leased to it; the ids of those the relay will not take (it stopped meanwhile), for
/// the caller to release.
fn answer(
    inner: &Inner,
    batch: &mut Vec<Pending>,
    written: Result<Vec<Inserted>, StoreError>,
    began: tokio::time::Instant,
) -> Vec<i64> {
    let mut unclaimed = Vec::new();
    let written = written
        .map(|inserted| {
            Counters::add(&inner.counters.batches);
            let inserted = Store::line_up(batch.iter().map(|pending| &pending.row), inserted);
            unclaimed = hand_over(inner, batch, &inserted, began);
        })
        .map_err(Arc::new);
    for row in batch.drain(..) {
        let _ = row.written.send(written.clone());
    }
    unclaimed
}

/// Marks the rows of `batch` that the relay is offered: at most `room`, each with its event,
/// no refund, and none sharing a transaction id or a customer key with an earlier row of the
/// batch (the store sees no row of a batch while it writes it, so it could not hold such a row
/// back).
fn offer(batch: &mut [Pending], room: usize) {
    let mut room = room;
    let mut offered = Vec::with_capacity(batch.len());
    {
        let mut keys: HashSet<&str> = HashSet::new();
        for pending in batch.iter() {
            let row = &pending.row;
            let row_keys = [
                row.transaction_id.as_deref(),
                row.other_transaction_id.as_deref(),
                row.customer_key.as_deref(),
            ];
            let first = row_keys.iter().flatten().all(|key| !keys.contains(key));
            // A refund waits for its sale's row wherever it stands, written before it or
            // after (in this very batch, even): the claim knows that rule; a refund is rare.
            let refund = row.endpoint == affitor::client::Endpoint::Refund.name();
            let offer = room > 0 && pending.event.is_some() && first && !refund;
            room -= usize::from(offer);
            offered.push(offer);
            keys.extend(row_keys.into_iter().flatten());
        }
    }
    for (pending, offer) in batch.iter_mut().zip(offered) {
        pending.row.offered = offer;
    }
}

/// Hands the rows of `batch` the store leased to the relay (`inserted`, in the batch's order),
/// each with its event and when its batch `began` (its lease runs a lease from then at least),
/// and wakes the relay: once per batch. When the relay stopped while the
/// batch was written, it takes none: their ids are returned instead, to be released.
///
/// `Relay::stop` closes the hand-off, then releases every lease of the relay; a batch that
/// read the hand-off open may commit after that release. Read after the commit, a hand-off
/// still open means the release comes later and finds these rows; a closed one, that it may
/// have come already: the writer releases them itself, so that they go again at once rather
/// than when their lease ends.
fn hand_over(
    inner: &Inner,
    batch: &mut [Pending],
    inserted: &[Inserted],
    began: tokio::time::Instant,
) -> Vec<i64> {
    let mut handed = Vec::new();
    // The store's answer could not be matched to the rows: all of them are in the table.
    let mut stored = inserted.is_empty();
    for (pending, row) in batch.iter_mut().zip(inserted) {
        match pending.event.take() {
            Some(event) if row.leased => handed.push(Claimed::written(row.id, event, began)),
            _ => stored = true,
        }
    }
    if !handed.is_empty() && !inner.handed.is_open() {
        return handed.iter().map(|row| row.id).collect();
    }
    inner.handed.give(handed, stored);
    inner.wake.notify_one();
    Vec::new()
}

#[cfg(test)]
mod tests {
    use affitor::client::IntoEvent as _;

    use super::*;

    /// A row waiting for the writer, with `keys` (transaction id, other transaction id,
    /// customer key) and an event for the relay.
    fn pending(keys: [Option<&str>; 3]) -> Pending {
        let [transaction_id, other_transaction_id, customer_key] =
            keys.map(|key| key.map(str::to_owned));
        let (written, _) = oneshot::channel();
        Pending {
            row: NewRow {
                offered: false,
                endpoint: "lead",
                body: "{}".to_owned(),
                transaction_id,
                other_transaction_id,
                customer_key,
                facts: crate::store::Facts::default(),
                click_id_source: None,
            },
            give_up_at: std::time::Instant::now(),
            event: Some(
                affitor::Client::builder()
                    .api_key("sk_test")
                    .build()
                    .expect("a client")
                    .lead("user_1")
                    .into_event()
                    .expect("a valid lead"),
            ),
            written,
            state: Arc::new(AtomicU8::new(TAKEN)),
        }
    }

    fn offered(batch: &[Pending]) -> Vec<bool> {
        batch.iter().map(|pending| pending.row.offered).collect()
    }

    #[test]
    fn a_row_sharing_a_key_with_an_earlier_one_of_its_batch_is_not_offered() {
        let mut batch = vec![
            pending([Some("in_1"), None, Some("user_1")]), // a sale
            pending([Some("in_1"), Some("pi_1"), None]),   // its refund: behind it
            pending([None, None, Some("user_1")]),         // the same customer's lead
            pending([Some("pi_1"), None, None]),           // the refund's other id
            pending([None, None, Some("user_2")]),         // a stranger
            pending([None, None, None]),                   // no key at all
        ];
        offer(&mut batch, 100);
        assert_eq!(offered(&batch), [true, false, false, false, true, true]);
    }

    #[test]
    fn a_refund_is_left_to_the_claim_even_ahead_of_its_sale() {
        let mut batch = vec![
            pending([Some("in_1"), None, None]),
            pending([Some("in_1"), None, Some("user_1")]),
        ];
        batch[0].row.endpoint = "refund";
        batch[1].row.endpoint = "sale";
        offer(&mut batch, 10);
        assert_eq!(offered(&batch), [false, false]);
    }

    #[test]
    fn no_more_rows_are_offered_than_the_relay_has_room_for() {
        let mut batch: Vec<_> = ["user_1", "user_2", "user_3"]
            .map(|key| pending([None, None, Some(key)]))
            .into();
        offer(&mut batch, 2);
        assert_eq!(offered(&batch), [true, true, false]);
        offer(&mut batch, 0);
        assert_eq!(offered(&batch), [false, false, false]);
    }

    #[test]
    fn a_row_without_its_event_is_not_offered() {
        let mut batch = vec![pending([None, None, Some("user_1")])];
        batch[0].event = None;
        offer(&mut batch, 10);
        assert_eq!(offered(&batch), [false]);
    }
}
