//! The relay: claims due rows, sends each through the client, and settles it.
//!
//! One task per outbox takes the rows its writer leased to it as it wrote them (see
//! `writer.rs`), claims the others (oldest first, none that an earlier live row of the same
//! transaction or customer precedes; see `store/mod.rs`) up to the in-flight limit, and sends
//! each in a task of its own with [`Client::send_event`](affitor::Client::send_event),
//! which applies the endpoint's retry policy, its HTTP exchanges on the relay's send thread
//! (see `sends.rs`). Then the row is deleted (Affitor answered),
//! scheduled again after a backoff (a failure that may pass), or kept as a dead letter
//! (refused, out of attempts, or unreadable). The relay wakes when this process writes a row,
//! when a send ends, and every poll interval.
//!
//! A claim holds its rows for a short lease; while sends are in flight, a task of the relay
//! extends the lease of the rows it holds every third of it (one statement, naming them), so
//! that a long send (the client's retries) never loses its rows to another relay, and the rows
//! of a relay that died are free again within one lease. A row leased under the relay's name
//! that it does not hold (a write's answer that was lost, a delete that failed) is not renewed:
//! it goes again when its lease ends, however busy the relay.

use std::collections::HashSet;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use affitor::{
    Client, Error,
    client::{Endpoint, ErrorKind, Event},
};
use tokio::sync::watch;
use tokio::task::{JoinHandle, JoinSet};
use tracing::Instrument as _;

use crate::metrics;
use crate::sends::Sends;
use crate::shared::Inner;
use crate::stats::Counters;
use crate::store::{Activity, Claimed, StoreError};
use crate::throttle::Throttle;

/// A running relay: how to stop it, and the name its leases carry.
#[derive(Debug)]
pub(crate) struct Relay {
    stop: watch::Sender<bool>,
    task: JoinHandle<()>,
    owner: Arc<str>,
}

impl Relay {
    /// Spawns the relay on the current tokio runtime, sending through `client`.
    pub(crate) fn start(inner: Arc<Inner>, client: Client) -> Self {
        let owner = Arc::clone(&inner.owner);
        inner.handed.open();
        let (stop, stopped) = watch::channel(false);
        let task = tokio::spawn(run(inner, Arc::clone(&owner), client, stopped));
        Self { stop, task, owner }
    }

    /// Stops claiming, lets the sends end within `deadline`, then releases what is left.
    pub(crate) async fn stop(self, inner: &Inner, deadline: Duration) {
        let Self {
            stop,
            mut task,
            owner,
        } = self;
        // A batch the writer is committing may still lease rows to this relay, and commit them
        // after the release below: the writer, finding the hand-off closed, releases those
        // itself (`writer::hand_over`).
        inner.handed.close();
        stop.send_replace(true);
        if tokio::time::timeout(deadline, &mut task).await.is_err() {
            task.abort();
            let _ = task.await;
        }
        match inner.store.release(&owner).await {
            Ok(0) => tracing::info!("Affitor outbox relay stopped"),
            Ok(released) => tracing::warn!(
                released,
                "Affitor outbox relay stopped with rows still being sent: they go again at the \
                 next start"
            ),
            Err(error) => tracing::warn!(
                error = %error,
                "Affitor outbox relay stopped; its rows go again when their lease ends"
            ),
        }
    }
}

async fn run(
    inner: Arc<Inner>,
    owner: Arc<str>,
    client: Client,
    mut stopped: watch::Receiver<bool>,
) {
    let config = &inner.config;
    let mut sending = JoinSet::new();
    // When the relay last claimed from every row it may take, not only from those never tried
    // (a retry due, a lease run out, another process's rows): once a poll interval, however
    // often it claims meanwhile.
    let mut looked_everywhere: Option<tokio::time::Instant> = None;
    // Rows delivered and not deleted yet, and when they were last deleted.
    let mut done: Vec<i64> = Vec::new();
    let mut deleted = tokio::time::Instant::now();
    // When the rows waiting in the store were last counted, for the `metrics` gauge.
    let mut counted: Option<tokio::time::Instant> = None;
    // When the dead letters were last purged and counted.
    let mut purged: Option<tokio::time::Instant> = None;
    let purge_every = purge_every(config.dead_letter_retention);
    // The rows being sent, for their renewals.
    let held = Arc::new(Held::default());
    // The thread the sends run on; it stops with the last send.
    let sends = Sends::start(client);
    // Ends with this loop, however it ends (an aborted relay's task too).
    let _renewing = Renewing(tokio::spawn(renew(
        Arc::clone(&inner),
        Arc::clone(&owner),
        Arc::clone(&held),
    )));
    loop {
        // Stopped by `Relay::stop`, or the outbox's last handle dropped without it (the stop's
        // sender went with it): either way no one will send this relay more work.
        if *stopped.borrow() || stopped.has_changed().is_err() {
            break;
        }
        // The free send slots go first to the rows the writer handed over (leased as they were
        // written: no query), then to due rows claimed from the store, a batch at a time: when
        // rows are known to wait there, and once a poll interval for every row a claim may take
        // (another process's, or due again after a backoff, or a lease run out). Then wait for
        // a slot, a new row or the next look.
        let limit = config.max_in_flight;
        let room = limit.saturating_sub(sending.len());
        for row in inner.handed.take(room) {
            send(&mut sending, &inner, &owner, &held, &sends, row);
        }
        let room = limit.saturating_sub(sending.len());
        let batch = crate::shared::claim_batch(limit);
        let stored = inner.handed.any_stored();
        let everything = looked_everywhere.is_none_or(|at| at.elapsed() >= config.poll_interval);
        let can_claim = room >= batch || (room > 0 && sending.is_empty());
        if everything && !stored && !can_claim {
            // A look is due (rows due again after a backoff, another process's) but the rows
            // handed over fill the slots: the writer leaves a claim's worth free from now on,
            // so that the rows waiting in the store are never starved by the newest.
            inner.handed.rows_may_wait();
        }
        if (stored || everything) && can_claim {
            if everything {
                looked_everywhere = Some(tokio::time::Instant::now());
            }
            inner.handed.claiming();
            match inner
                .store
                .claim(&owner, config.lease, room, everything)
                .await
            {
                Ok(rows) => {
                    if rows.len() >= room {
                        inner.handed.rows_may_wait();
                    }
                    for row in rows {
                        send(&mut sending, &inner, &owner, &held, &sends, row);
                    }
                }
                Err(error) => {
                    inner.handed.rows_may_wait();
                    tracing::warn!(
                        error = %error,
                        "Affitor outbox relay could not claim rows; it tries again"
                    );
                }
            }
        }
        tokio::select! {
            Some(sent) = sending.join_next(), if !sending.is_empty() => done.extend(delivered(sent)),
            () = inner.wake.notified() => {}
            () = tokio::time::sleep(config.poll_interval) => {}
            _ = stopped.changed() => {}
        }
        // Every send that has ended since, then their rows deleted in one statement: at most
        // every DELETE_EVERY while sends are ending, so that a busy relay's deletes are few and
        // large (each one's turn on the store is one a write waits for).
        while let Some(sent) = sending.try_join_next() {
            done.extend(delivered(sent));
        }
        if done.len() >= DELETE_AT || deleted.elapsed() >= DELETE_EVERY || sending.is_empty() {
            let any = !done.is_empty();
            let activity = if sending.is_empty() {
                Activity::Idle
            } else {
                Activity::Sending
            };
            complete(&inner, &mut done, activity).await;
            deleted = tokio::time::Instant::now();
            if any {
                // The rows held behind those (a customer's next event, a refund's sale) may be
                // due now: claimed at the next turn, not at the next poll.
                inner.handed.rows_may_wait();
            }
        }
        if purged.is_none_or(|at| at.elapsed() >= purge_every) {
            purged = Some(tokio::time::Instant::now());
            purge(&inner).await;
        }
        metrics::in_flight(sending.len());
        if cfg!(feature = "metrics")
            && counted.is_none_or(|at| at.elapsed() >= Duration::from_secs(1))
        {
            counted = Some(tokio::time::Instant::now());
            if let Ok(rows) = inner.store.waiting().await {
                metrics::waiting(rows);
            }
        }
    }
    // Stopping: the rows delivered so far are deleted, then the sends under way finish (the
    // caller's deadline bounds the wait), each delivered row deleted as its send ends, so that
    // a deadline that cuts the wait short leaves only the rows still being sent to go again at
    // the next start.
    complete(&inner, &mut done, Activity::Sending).await;
    while let Some(sent) = sending.join_next().await {
        if let Some(row) = delivered(sent) {
            done.push(row);
            complete(&inner, &mut done, Activity::Sending).await;
        }
    }
    // What the delivered rows held leaves the store's logs before the relay ends.
    inner.store.after_deletes(Activity::Stopped).await;
    if stopped.has_changed().is_err() {
        // Dropped, not stopped: what `Relay::stop` would do after this task, the rows handed
        // over and not sent go again at once rather than when their lease ends.
        inner.handed.close();
        if let Err(error) = inner.store.release(&owner).await {
            tracing::warn!(
                error = %error,
                "Affitor outbox relay of a dropped outbox stopped; its rows go again when their \
                 lease ends"
            );
        }
    }
}

/// The longest a delivered row waits for its delete while sends are ending (a row delivered
/// but not deleted goes again only if this relay dies, when its lease ends: a lead's repeat is
/// harmless, a sale's is answered 409).
const DELETE_EVERY: Duration = Duration::from_millis(50);

/// The delivered rows that are deleted at once, however recent the last delete.
const DELETE_AT: usize = 512;

/// The task that renews the relay's leases; aborted when dropped.
struct Renewing(JoinHandle<()>);

impl Drop for Renewing {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// The ids of the rows being sent (see [`Sending`]): the rows whose leases the relay renews,
/// with those handed over and not taken yet.
#[derive(Debug, Default)]
struct Held(Mutex<HashSet<i64>>);

impl Held {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashSet<i64>> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// A row being sent: counted in `in_flight` and held (its lease renewed) from the spawn of its
/// send to the end of its send, however it ends (a task aborted with the relay too). A row
/// delivered then waits for its delete (at most [`DELETE_EVERY`]) no longer renewed: a lease
/// left unrenewed for less than a third of it still has most of it to run.
struct Sending {
    inner: Arc<Inner>,
    held: Arc<Held>,
    id: i64,
}

impl Sending {
    fn start(inner: &Arc<Inner>, held: &Arc<Held>, id: i64) -> Self {
        inner.counters.in_flight.fetch_add(1, Ordering::Relaxed);
        held.lock().insert(id);
        Self {
            inner: Arc::clone(inner),
            held: Arc::clone(held),
            id,
        }
    }
}

impl Drop for Sending {
    fn drop(&mut self) {
        self.held.lock().remove(&self.id);
        self.inner
            .counters
            .in_flight
            .fetch_sub(1, Ordering::Relaxed);
    }
}

/// Spawns the send of `row`.
fn send(
    sending: &mut JoinSet<Option<i64>>,
    inner: &Arc<Inner>,
    owner: &Arc<str>,
    held: &Arc<Held>,
    sends: &Sends,
    row: Claimed,
) {
    let guard = Sending::start(inner, held, row.id);
    let delivery = deliver(
        Arc::clone(inner),
        Arc::clone(owner),
        sends.clone(),
        row,
        guard,
    );
    sending.spawn(delivery);
}

/// Every third of the lease, while rows are being sent, extends the lease of each row the
/// relay holds (being sent, or handed over and not taken yet) to a full lease from now. A
/// renewal that fails is logged; the next one tries again (past the lease, another relay may
/// send the rows too: delivery is at least once).
async fn renew(inner: Arc<Inner>, owner: Arc<str>, held: Arc<Held>) {
    let lease = inner.config.lease;
    let every = renew_every(lease);
    let mut ticks = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut ids = Vec::new();
    loop {
        ticks.tick().await;
        ids.clear();
        // Handed over first, then held: a row taken in between is seen in `held` unless its
        // send is not spawned yet; one renewal missed leaves it two thirds of its lease.
        inner.handed.ids_into(&mut ids);
        ids.extend(held.lock().iter());
        if ids.is_empty() {
            continue;
        }
        if let Err(error) = inner.store.renew(&owner, &ids, lease).await {
            tracing::warn!(
                error = %error,
                lease = ?lease,
                "Affitor outbox relay could not renew the lease of the rows it is sending; it \
                 tries again (past the lease, another relay may send them too)"
            );
        }
    }
}

/// How often the leases are renewed: every third of the lease, so that two renewals can fail
/// before it ends.
fn renew_every(lease: Duration) -> Duration {
    (lease / 3).max(Duration::from_millis(1))
}

/// The longest wait between two purges of the dead letters.
const PURGE_EVERY: Duration = Duration::from_secs(300);

/// How often the relay purges the dead letters kept for `retention`: every 5 minutes, or
/// sooner for a shorter retention, at most once a second.
fn purge_every(retention: Duration) -> Duration {
    retention.clamp(Duration::from_secs(1), PURGE_EVERY)
}

/// Deletes the dead letters older than the retention, then counts those left (for
/// [`OutboxStats::dead_letters`](crate::OutboxStats::dead_letters) and the `metrics` gauge).
async fn purge(inner: &Inner) {
    let retention = inner.config.dead_letter_retention;
    match inner.store.purge_dead_letters(retention).await {
        Ok(0) => {}
        Ok(purged) => {
            inner.counters.purged.fetch_add(purged, Ordering::Relaxed);
            tracing::info!(
                purged,
                retention = ?retention,
                "Affitor outbox dead letters older than their retention deleted"
            );
        }
        Err(error) => tracing::warn!(
            error = %error,
            "Affitor outbox could not delete its old dead letters; it tries again later"
        ),
    }
    match inner.store.purge_facts().await {
        Ok(0) => {}
        Ok(expired) => tracing::debug!(expired, "Affitor outbox expired facts deleted"),
        Err(error) => tracing::warn!(
            error = %error,
            "Affitor outbox could not delete its expired facts; it tries again later"
        ),
    }
    if let Ok(dead) = inner.store.dead().await {
        inner.counters.dead_letters.store(dead, Ordering::Relaxed);
        metrics::dead_letters(dead);
    }
}

/// The row a send task delivered, if any; a task that panicked is logged (its row goes again
/// when its lease ends).
fn delivered(sent: Result<Option<i64>, tokio::task::JoinError>) -> Option<i64> {
    sent.unwrap_or_else(|error| {
        tracing::error!(
            error = %error,
            "Affitor outbox send failed unexpectedly; its row goes again when its lease ends"
        );
        None
    })
}

/// Deletes the rows of `done`, delivered, and empties it; then what deleted rows held leaves
/// the store's logs, as often as the relay's `activity` lets it. A row the store fails to delete
/// goes again when its lease ends (a sale's repeat is answered 409, and counts as done).
async fn complete(inner: &Inner, done: &mut Vec<i64>, activity: Activity) {
    if !done.is_empty() {
        if let Err(error) = inner.store.complete(done).await {
            tracing::warn!(
                rows = done.len(),
                error = %error,
                "Affitor outbox rows delivered, but the store could not delete them; they go \
                 again when their lease ends"
            );
        }
        done.clear();
    }
    inner.store.after_deletes(activity).await;
}

/// Sends one claimed row and settles it: its id when it was delivered (the relay deletes the
/// delivered rows together), `None` when it was rescheduled or buried here. `guard` counts the
/// send until it ends.
async fn deliver(
    inner: Arc<Inner>,
    owner: Arc<str>,
    sends: Sends,
    row: Claimed,
    guard: Sending,
) -> Option<i64> {
    // The row's span: the client's spans of its HTTP attempts nest in it.
    let span = tracing::info_span!(
        "affitor.outbox.deliver",
        outbox.row = row.id,
        affitor.endpoint = %row.endpoint(),
        outbox.attempt = row.attempts.saturating_add(1),
    );
    let settled = settle(&inner, &owner, &sends, &row).instrument(span).await;
    drop(guard);
    match settled {
        Ok(delivered) => delivered.then_some(row.id),
        Err(error) => {
            tracing::warn!(
                id = row.id,
                error = %error,
                "Affitor outbox row sent, but the store could not record it; it goes again \
                 when its lease ends"
            );
            None
        }
    }
}

/// Sends the row's event; `Ok(true)` when it is settled (Affitor answered, or it was a lead
/// whose click id Affitor refused: see [`send_without_click_id`]; or a lead without a click id
/// whose customer Affitor refused) and the row is to be deleted; `Ok(false)` when the row was rescheduled or buried.
async fn settle(
    inner: &Inner,
    owner: &str,
    sends: &Sends,
    row: &Claimed,
) -> Result<bool, StoreError> {
    let store = &inner.store;
    let counters = &inner.counters;
    let event = match &row.event {
        Ok(event) => event,
        Err(unreadable) => {
            Counters::add(&counters.corrupt);
            metrics::event(&unreadable.endpoint, metrics::Result::DeadLettered);
            tracing::error!(
                id = row.id,
                endpoint = %unreadable.endpoint,
                error = %unreadable.why,
                "Affitor outbox row set aside as a dead letter: it cannot be read"
            );
            return store
                .bury(row.id, owner, &unreadable.why)
                .await
                .map(|()| false);
        }
    };
    let transaction_id = event.transaction_id();
    let endpoint = event.endpoint().name();
    let attempt = row.attempts.saturating_add(1);
    let Err(error) = sends.send(event).await else {
        Counters::add(&counters.delivered);
        metrics::event(endpoint, metrics::Result::Delivered);
        tracing::debug!(
            id = row.id,
            endpoint,
            transaction_id,
            "Affitor event delivered"
        );
        return Ok(true);
    };
    // A lead without a click id names its customer by key alone: it settles a browser lead
    // (provisional, where the program requires server-side leads). The API refuses it for good
    // when it knows no such customer (an organic signup: no click brought them), or the
    // customer is another program's or has bought already. That is the API's word on a signup
    // anyone can make, not a loss: the row is deleted, counted, never kept as a dead letter.
    // (`is_click_id_refused` reads the refusal of the lead's customer, whatever named it.)
    if event.click_id().is_none() && error.is_click_id_refused() {
        Counters::add(&counters.customer_refused);
        metrics::event(endpoint, metrics::Result::CustomerRefused);
        tracing::debug!(
            id = row.id,
            error = %error,
            "Affitor lead without a click id dropped: the API knows no customer of its key to \
             count it for (an organic signup, most often)"
        );
        return Ok(true);
    }
    // Anyone can sign up with a stale, foreign or made-up click id: such a lead is settled
    // here, never kept as a dead letter (with its email) for a visitor to fill the store with.
    let error = if error.is_click_id_refused() && event.click_id().is_some() {
        match send_without_click_id(inner, sends, row, event, &error).await {
            Some(error) => error,
            None => return Ok(true),
        }
    } else {
        error
    };
    // A refund whose sale Affitor does not know yet: the sale may be behind it in this store,
    // in another replica's request, or in the provider's retries. Tried again for the refund
    // patience, whatever the attempts, then kept as a dead letter.
    if error.kind() == ErrorKind::SaleNotFound {
        return await_sale(inner, owner, row, event, &error).await;
    }
    if error.is_retryable() && attempt < inner.config.max_attempts {
        let wait = backoff(&inner.config, attempt, &error);
        Counters::add(&counters.rescheduled);
        metrics::event(endpoint, metrics::Result::Rescheduled);
        tracing::warn!(
            id = row.id,
            endpoint,
            transaction_id,
            attempt,
            retry_in = ?wait,
            error = %error,
            "Affitor event not delivered yet; it goes again after a backoff"
        );
        return store
            .reschedule(row.id, owner, wait, &error.to_string())
            .await
            .map(|()| false);
    }
    Counters::add(&counters.dead);
    metrics::event(endpoint, metrics::Result::DeadLettered);
    tracing::error!(
        id = row.id,
        endpoint,
        transaction_id,
        attempt,
        error = %error,
        "Affitor event given up on: kept as a dead letter in the outbox"
    );
    store
        .bury(row.id, owner, &error.to_string())
        .await
        .map(|()| false)
}

/// Settles a refund whose sale Affitor does not know: due again after a backoff while it is
/// younger than the refund patience, a dead letter naming the ids it was tried under after.
async fn await_sale(
    inner: &Inner,
    owner: &str,
    row: &Claimed,
    event: &Event,
    error: &Error,
) -> Result<bool, StoreError> {
    let (store, counters) = (&inner.store, &inner.counters);
    let patience = inner.config.refund_patience;
    let transaction_id = event.transaction_id();
    let other_transaction_id = event.other_transaction_id();
    let attempt = row.attempts.saturating_add(1);
    if row.age < patience {
        // Most such refunds are of organic sales, which never come: the waits grow with the
        // refund's age (an eighth of it, up to an hour), so that four days cost about 150
        // calls, not one per backoff ceiling.
        let wait = backoff(&inner.config, attempt, error)
            .max((row.age / 8).min(REFUND_WAIT_MAX))
            .min(patience - row.age);
        Counters::add(&counters.rescheduled);
        metrics::event(Endpoint::Refund.name(), metrics::Result::Rescheduled);
        tracing::info!(
            id = row.id,
            transaction_id,
            other_transaction_id,
            attempt,
            retry_in = ?wait,
            waited = ?row.age,
            patience = ?patience,
            "Affitor refund waits for its sale, which Affitor does not know yet"
        );
        let why = format!("waiting for its sale: {error}");
        return store
            .reschedule(row.id, owner, wait, &why)
            .await
            .map(|()| false);
    }
    Counters::add(&counters.dead);
    metrics::event(Endpoint::Refund.name(), metrics::Result::DeadLettered);
    let tried = match other_transaction_id {
        Some(other) => format!("`{}` nor `{other}`", transaction_id.unwrap_or_default()),
        None => format!("`{}`", transaction_id.unwrap_or_default()),
    };
    let why = format!(
        "no sale recorded under {tried} after {} h: the refund of a sale Affitor never \
         recorded (an organic customer's), or of one that was lost; if a partner referred it, \
         reverse its commission in the Affitor dashboard",
        row.age.as_secs() / 3600
    );
    tracing::warn!(
        id = row.id,
        transaction_id,
        other_transaction_id,
        attempt,
        "Affitor refund kept as a dead letter: {why}"
    );
    store.bury(row.id, owner, &why).await.map(|()| false)
}

/// The longest wait between two tries of a refund whose sale Affitor does not know.
const REFUND_WAIT_MAX: Duration = Duration::from_secs(3600);

/// One warning a minute, at most, for the leads whose click id the API refused: a visitor can
/// send as many as they like.
static CLICK_ID_REFUSED: Throttle = Throttle::new(60);

/// Settles a lead whose click id the API refused for good (`error`): sent again without it
/// when it has a customer key, so that the signup still counts for the customer; dropped
/// otherwise, or when that is refused too. `None` when it is settled (the row is to be deleted:
/// no email stays behind); `Some` of the error of the second send when it may pass (the row
/// goes again, or is out of attempts, as for any such failure).
async fn send_without_click_id(
    inner: &Inner,
    sends: &Sends,
    row: &Claimed,
    event: &Event,
    error: &Error,
) -> Option<Error> {
    let counters = &inner.counters;
    let endpoint = event.endpoint().name();
    Counters::add(&counters.click_id_refused);
    metrics::event(endpoint, metrics::Result::ClickIdRefused);
    let Some(again) = event.without_click_id() else {
        refused(
            row.id,
            error,
            "Affitor lead dropped: the API refused its click id for good, and it has no \
             customer key to count for",
        );
        return None;
    };
    match sends.send(&again).await {
        Ok(()) => {
            Counters::add(&counters.delivered);
            metrics::event(endpoint, metrics::Result::Delivered);
            refused(
                row.id,
                error,
                "Affitor lead sent again without its click id, which the API refused for good: \
                 it counts for its customer key",
            );
            None
        }
        Err(again) if again.is_retryable() => Some(again),
        Err(again) => {
            refused(
                row.id,
                &again,
                "Affitor lead dropped: the API refused its click id for good, and its customer \
                 key alone too",
            );
            None
        }
    }
}

/// Logs a lead settled for its refused click id: a warning at most once per interval, with how
/// many were left out since; the others at `debug`. The API's answer only: never the email or
/// the customer key.
fn refused(id: i64, error: &Error, what: &'static str) {
    match CLICK_ID_REFUSED.due() {
        Some(suppressed) => tracing::warn!(
            id,
            error = %error,
            since_last_warning = suppressed,
            "{what} (at most one such warning a minute)"
        ),
        None => tracing::debug!(id, error = %error, "{what}"),
    }
}

/// The wait before attempt `attempt + 1`: `initial` doubled per failed attempt, up to `max`,
/// drawn between half and all of it; a longer `Retry-After` is waited, up to `max` (a short
/// one does not cut the backoff: a run of 429s with `Retry-After: 0` would spend the attempts
/// in minutes).
fn backoff(config: &crate::config::Config, attempt: u32, error: &Error) -> Duration {
    let exponent = attempt.saturating_sub(1).min(32);
    let full = config
        .backoff_initial
        .saturating_mul(1 << exponent.min(31))
        .min(config.backoff_max);
    let drawn = full.mul_f64(0.5 + fastrand::f64() / 2.0);
    match error.retry_after() {
        Some(asked) if error.kind() == ErrorKind::RateLimited => {
            drawn.max(asked.min(config.backoff_max))
        }
        _ => drawn,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;

    #[test]
    fn dead_letters_are_purged_every_few_minutes_at_most() {
        let hour = Duration::from_secs(3600);
        assert_eq!(purge_every(7 * 24 * hour), PURGE_EVERY);
        assert_eq!(
            purge_every(Duration::from_secs(30)),
            Duration::from_secs(30)
        );
        assert_eq!(purge_every(Duration::ZERO), Duration::from_secs(1));
    }

    #[test]
    fn the_backoff_doubles_and_stays_under_its_ceiling() {
        let config = Config {
            backoff_initial: Duration::from_secs(1),
            backoff_max: Duration::from_secs(60),
            ..Config::default()
        };
        let error = affitor::Client::builder().build().unwrap_err();
        for attempt in 1..200 {
            let wait = backoff(&config, attempt, &error);
            let full = Duration::from_secs(1u64 << (attempt - 1).min(20)).min(config.backoff_max);
            assert!(wait >= full / 2 && wait <= full, "{attempt}: {wait:?}");
        }
    }

    /// A `Retry-After` longer than the backoff is waited (up to the ceiling); a shorter one,
    /// even 0, does not shorten it.
    #[tokio::test]
    async fn a_retry_after_lengthens_the_backoff_and_never_shortens_it() {
        use affitor::client::RetryPolicy;
        use affitor_mock::{Fault, MockServer};

        let config = Config {
            backoff_initial: Duration::from_secs(10),
            backoff_max: Duration::from_secs(600),
            ..Config::default()
        };
        let mock = MockServer::start().await.unwrap();
        let client = mock
            .client_builder()
            .retry(RetryPolicy::default().max_attempts(1))
            .build()
            .unwrap();
        for (asked, expected) in [(0, None), (120, Some(120)), (86_400, Some(600))] {
            mock.inject(Fault::rate_limited(Duration::from_secs(asked)));
            let error = client.refund("in_1").send().await.unwrap_err();
            assert_eq!(error.kind(), ErrorKind::RateLimited, "{error}");
            assert_eq!(error.retry_after(), Some(Duration::from_secs(asked)));
            for _ in 0..50 {
                let wait = backoff(&config, 1, &error);
                match expected {
                    Some(seconds) => assert_eq!(wait, Duration::from_secs(seconds)),
                    None => assert!(wait >= Duration::from_secs(5), "{wait:?}"),
                }
            }
        }
    }
}
