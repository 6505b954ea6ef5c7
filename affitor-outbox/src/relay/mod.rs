//! The relay: takes the rows its writer handed over, claims the others, sends each, settles it.
//!
//! One task per outbox. Each turn of its loop takes the rows the writer leased to it as it
//! wrote them (see `writer.rs`), claims due rows from the store for the send slots left (oldest
//! first, none that an earlier live row of the same transaction or customer precedes; see
//! `store/mod.rs`), waits for a send to end, a row to be written or the next look, deletes the
//! rows delivered, purges the old dead letters, and counts what waits. Each send runs in a task
//! of its own, its HTTP exchanges on the send thread; each delete too, one at a time, so that
//! the sends go on while the store writes it.
//!
//! - `sends.rs`: the send thread.
//! - `settle.rs`: what an answer does to a row.
//! - `delete.rs`: the deletes of the rows delivered, and their tries while the store refuses.
//! - `lease.rs`: the rows held, and their leases renewed while they are sent.
//! - `purge.rs`: the dead letters' retention.

mod delete;
mod lease;
mod purge;
mod sends;
mod settle;

use std::sync::Arc;
use std::time::Duration;

use affitor::Client;
use futures_util::FutureExt;
use tokio::sync::watch;
use tokio::task::{JoinError, JoinHandle, JoinSet};
use tokio::time::Instant;
use tokio_util::task::AbortOnDropHandle;

use self::delete::{Refusals, Refused, delete};
use self::lease::{Deleting, Held, Renewing, Sending};
use self::sends::Sends;
use self::settle::{Delivered, Settler};
use crate::journal::Answer;
use crate::metrics;
use crate::shared::{Inner, claim_batch};
use crate::store::{Activity, Claimed, StoreError};

/// The longest a delivered row waits for its delete while sends are ending (a row delivered
/// but not deleted goes again only if this relay dies, when its lease ends: a lead's repeat is
/// harmless, a sale's is answered 409).
const DELETE_EVERY: Duration = Duration::from_millis(50);

/// The delivered rows that are deleted at once, however recent the last delete.
const DELETE_AT: usize = 512;

/// How often the rows waiting in the store are counted, for the `metrics` gauge.
const COUNT_EVERY: Duration = Duration::from_secs(1);

/// The longest [`Relay::stop`] waits for the send thread past its deadline: the sends cut short
/// are dropped at once, and the thread ends with them.
const THREAD_GRACE: Duration = Duration::from_secs(1);

/// The least a stop gives a last call to the store once its deadline has passed: one that
/// answers takes it in a moment (the rows released go again at once, not when their lease
/// ends), one gone silent holds the stop no longer.
pub(crate) const LAST_CALL: Duration = Duration::from_millis(250);

/// A running relay: how to stop it, the name its leases carry, and its send thread's end.
#[derive(Debug)]
pub(crate) struct Relay {
    stop: watch::Sender<bool>,
    task: JoinHandle<()>,
    /// Resolves (an error: nothing is sent on it) once the send thread has ended, its runtime
    /// dropped with the tasks left on it: nothing of the relay is on the wire then.
    sends_ended: tokio::sync::oneshot::Receiver<()>,
}

impl Relay {
    /// Spawns the relay on the current tokio runtime, sending through `client`.
    pub(crate) fn start(inner: Arc<Inner>, client: Client) -> Self {
        inner.handed.open();
        let (stop, stopped) = watch::channel(false);
        // The thread the sends run on; it stops with the last send.
        let (sends, sends_ended) = Sends::start(client);
        let run = Run::new(inner, sends);
        let task = tokio::spawn(run.run(stopped));
        Self {
            stop,
            task,
            sends_ended,
        }
    }

    /// Stops claiming, lets the sends end within `deadline` (those still under way then are
    /// dropped), waits for the send thread to end, then releases what is left: a row released
    /// is no longer on the wire.
    pub(crate) async fn stop(self, inner: &Inner, deadline: Duration) {
        let Self {
            stop,
            mut task,
            sends_ended,
        } = self;
        let started = Instant::now();
        // A batch the writer is committing may still lease rows to this relay, and commit them
        // after the release below: the writer, finding the hand-off closed, releases those
        // itself (`writer::hand_over`).
        inner.handed.close();
        stop.send_replace(true);
        if tokio::time::timeout(deadline, &mut task).await.is_err() {
            task.abort();
            let _ = task.await;
        }
        let left = deadline.saturating_sub(started.elapsed()).max(THREAD_GRACE);
        if tokio::time::timeout(left, sends_ended).await.is_err() {
            tracing::warn!("Affitor outbox relay's send thread had not ended at the deadline");
        }
        // A silent server holds no shutdown.
        let left = deadline.saturating_sub(started.elapsed()).max(LAST_CALL);
        let released = tokio::time::timeout(left, inner.store.release(&inner.owner)).await;
        match released.unwrap_or(Err(StoreError::TimedOut)) {
            Ok(0) => tracing::info!("Affitor outbox relay stopped"),
            Ok(released) => tracing::warn!(
                released,
                "Affitor outbox relay stopped with rows still being sent or deleted: they go \
                 again at the next start"
            ),
            Err(error) => tracing::warn!(
                error = %error,
                "Affitor outbox relay stopped; its rows go again when their lease ends"
            ),
        }
    }
}

/// The relay's task: the sends in flight, the rows delivered and not deleted yet, and when
/// each duty was last done.
struct Run {
    inner: Arc<Inner>,
    /// What each send settles its row with.
    settler: Arc<Settler>,
    /// The sends in flight, each answering its row when it is to be deleted.
    sending: JoinSet<Option<Delivered>>,
    /// The rows being sent or waiting for their delete, for their renewals.
    held: Arc<Held>,
    /// Rows delivered and not deleted yet, held (their leases renewed) until their delete ends.
    done: Vec<i64>,
    /// The delete under way, if any: it answers what the store refused of it, to try again.
    /// Aborted when dropped: a relay aborted at its stop's deadline leaves no delete behind.
    deleting: Option<AbortOnDropHandle<Result<(), Refused>>>,
    /// The deletes the store refused since it last took one.
    refusals: Refusals,
    /// A claim from every row the relay may take, not only from those never tried (a retry
    /// due, a lease run out, another process's rows): once a poll interval, however often it
    /// claims meanwhile.
    look: Pace,
    /// The deletes of the rows delivered, while sends are ending.
    delete: Pace,
    /// The purges of the old dead letters.
    purge: Pace,
    /// The counts of the rows waiting in the store, for the `metrics` gauge.
    count: Pace,
}

impl Run {
    fn new(inner: Arc<Inner>, sends: Sends) -> Self {
        Self {
            settler: Arc::new(Settler::new(Arc::clone(&inner), sends)),
            sending: JoinSet::new(),
            held: Arc::default(),
            done: Vec::new(),
            deleting: None,
            refusals: Refusals::default(),
            look: Pace::due_now(inner.config.poll_interval),
            delete: Pace {
                every: DELETE_EVERY,
                last: Some(Instant::now()),
            },
            purge: Pace::due_now(purge::purge_every(&inner.config)),
            count: Pace::due_now(COUNT_EVERY),
            inner,
        }
    }

    /// The relay's loop, until it is stopped or its outbox dropped.
    async fn run(mut self, mut stopped: watch::Receiver<bool>) {
        // Ends with this loop, however it ends (an aborted relay's task too, when dropped).
        let renewing = Renewing::start(&self.inner, &self.held);
        // Stopped by `Relay::stop`, or the outbox's last handle dropped without it (the stop's
        // sender went with it): either way no one will send this relay more work.
        while !*stopped.borrow() && stopped.has_changed().is_ok() {
            self.take_handed();
            self.claim().await;
            self.wait(&mut stopped).await;
            self.delete_done().await;
            self.purge_if_due().await;
            self.count().await;
        }
        self.finish(&stopped).await;
        renewing.end().await;
    }

    /// Sends the rows the writer handed over (leased as they were written: no query), as many
    /// as there are free send slots.
    fn take_handed(&mut self) {
        for row in self.inner.handed.take(self.room()) {
            self.send(row);
        }
    }

    /// Claims due rows from the store for the free send slots, a batch at a time: when rows
    /// are known to wait there, and once a poll interval for every row a claim may take
    /// (another process's, or due again after a backoff, or a lease run out).
    async fn claim(&mut self) {
        let handed = &self.inner.handed;
        let room = self.room();
        let stored = handed.any_stored();
        let everything = self.look.is_due();
        let can_claim = room >= claim_batch(self.limit()) || (room > 0 && self.sending.is_empty());
        if !can_claim {
            if everything && !stored {
                // A look is due but the rows handed over fill the slots: the writer leaves a
                // claim's worth free from now on, so that the rows waiting in the store are
                // never starved by the newest.
                handed.rows_may_wait();
            }
            return;
        }
        if !stored && !everything {
            return;
        }
        if everything {
            self.look.done();
        }
        handed.claiming();
        let lease = self.inner.config.lease;
        // Before the claim: its leases run at least a lease from now.
        let leased = Instant::now();
        match self
            .inner
            .store
            .claim(&self.inner.owner, lease, room, everything)
            .await
        {
            Ok(rows) => {
                if rows.len() >= room {
                    self.inner.handed.rows_may_wait();
                }
                for mut row in rows {
                    // A row this relay holds, its lease run out while the store did not answer
                    // (a silent server): its send or its delete is under way already.
                    if !self.held.holds(row.id) {
                        row.leased = leased;
                        self.send(row);
                    }
                }
            }
            Err(error) => {
                self.inner.handed.rows_may_wait();
                tracing::warn!(
                    error = %error,
                    "Affitor outbox relay could not claim rows; it tries again"
                );
            }
        }
    }

    /// Spawns the send of `row`: counted in flight and its lease renewed until it ends; stopped
    /// once its lease may have run out, its renewals unanswered.
    fn send(&mut self, row: Claimed) {
        let leased = row.leased;
        let sending = Sending::start(&self.inner, &self.held, row.id);
        let (settler, held) = (Arc::clone(&self.settler), Arc::clone(&self.held));
        let (id, lease) = (row.id, self.inner.config.lease);
        self.sending.spawn(async move {
            let lapsed = held.lapsed(id, leased, lease);
            let done = settler.deliver(row, lapsed).await;
            done.inspect(|_| sending.delivered())
        });
    }

    /// Waits for a send to end, a row to be written, the next look, or the stop.
    async fn wait(&mut self, stopped: &mut watch::Receiver<bool>) {
        tokio::select! {
            Some(sent) = self.sending.join_next(), if !self.sending.is_empty() => {
                self.ended(sent);
            }
            () = self.inner.wake.notified() => {}
            () = tokio::time::sleep(self.inner.config.poll_interval) => {}
            _ = stopped.changed() => {}
        }
    }

    /// Every send that has ended since, then their rows deleted in one statement, in a task
    /// of its own once the last delete has ended: at most every [`DELETE_EVERY`] while sends
    /// are ending, so that a busy relay's deletes are few and large (each one's turn on the
    /// store is one a write waits for).
    async fn delete_done(&mut self) {
        while let Some(sent) = self.sending.try_join_next() {
            self.ended(sent);
        }
        match self.deleting.take_if(|task| task.is_finished()) {
            Some(ended) => self.try_again(ended.await),
            None if self.deleting.is_some() => return,
            None => {}
        }
        let idle = self.sending.is_empty();
        // While the store refuses deletes, each waits its turn however many rows are done.
        let at_once = !self.refusals.any() && (idle || self.done.len() >= DELETE_AT);
        if !at_once && !self.delete.waited(self.refusals.wait(DELETE_EVERY)) {
            return;
        }
        let activity = if idle {
            Activity::Idle
        } else {
            Activity::Sending
        };
        let inner = Arc::clone(&self.inner);
        let deleting = Deleting::new(&self.held, std::mem::take(&mut self.done));
        let answers = self.settler.take_answers();
        self.deleting = Some(AbortOnDropHandle::new(tokio::spawn(async move {
            let deleted = delete(&inner, deleting.ids(), answers, activity).await;
            match &deleted {
                // Still held: tried again with the next delete, not sent again.
                Err(refused) if !refused.rows.is_empty() => deleting.keep(),
                _ if !deleting.ids().is_empty() => {
                    // The rows held behind those (a customer's next event, a refund's sale)
                    // may be due now: claimed at the next turn, not at the next poll.
                    inner.handed.rows_may_wait();
                    inner.wake.notify_one();
                }
                _ => {}
            }
            deleted
        })));
        self.delete.done();
    }

    /// What the store refused of a delete that ended, its rows and their journal's entries:
    /// with the next delete.
    fn try_again(&mut self, ended: Result<Result<(), Refused>, JoinError>) {
        match ended {
            Ok(Ok(())) => self.refusals.taken(),
            Ok(Err(refused)) => {
                self.refusals.refused(&refused);
                self.done.extend(refused.rows);
                self.settler.put_back(refused.entries.iter().cloned());
            }
            Err(error) => tracing::error!(
                error = %error,
                "Affitor outbox delete failed unexpectedly; its rows go again when their lease ends"
            ),
        }
    }

    async fn purge_if_due(&mut self) {
        if self.purge.is_due() {
            self.purge.done();
            purge::purge(&self.inner).await;
        }
    }

    /// The rows in flight, and the rows waiting in the store (at most once a second), for the
    /// `metrics` gauges.
    async fn count(&mut self) {
        metrics::gauge(metrics::IN_FLIGHT, self.sending.len() as u64);
        if cfg!(feature = "metrics") && self.count.is_due() {
            self.count.done();
            if let Ok(rows) = self.inner.store.waiting().await {
                metrics::gauge(metrics::WAITING, rows);
            }
        }
    }

    /// Stopping: the rows delivered so far are deleted, then the sends under way finish (the
    /// caller's deadline bounds the wait), each delivered row deleted as its send ends, so that
    /// a deadline that cuts the wait short leaves only the rows still being sent to go again at
    /// the next start.
    async fn finish(mut self, stopped: &watch::Receiver<bool>) {
        // Awaited in place: a stop's deadline that drops this future aborts the delete too
        // (its handle's drop), whose rows the stop then releases, to go again.
        if let Some(deleting) = &mut self.deleting {
            let ended = deleting.await;
            self.deleting = None;
            self.try_again(ended);
        }
        let (inner, activity) = (Arc::clone(&self.inner), Activity::Sending);
        let inner = inner.as_ref();
        let done = std::mem::take(&mut self.done);
        let deleted = delete(inner, &done, self.settler.take_answers(), activity).await;
        self.held.deleted(&done);
        self.stopping(deleted);
        while let Some(sent) = self.sending.join_next().await {
            self.ended(sent);
            let done = std::mem::take(&mut self.done);
            if !done.is_empty() {
                let deleted = delete(inner, &done, self.settler.take_answers(), activity).await;
                self.held.deleted(&done);
                self.stopping(deleted);
            }
        }
        // Entries refused by the last delete have no next one: the settler, dropped with the
        // relay, counts them lost.
        // What the delivered rows held leaves the store's logs before the relay ends.
        self.inner.store.after_deletes(Activity::Stopped).await;
        if stopped.has_changed().is_err() {
            // Dropped, not stopped: what `Relay::stop` would do after this task, the rows
            // handed over and not sent go again at once rather than when their lease ends.
            self.inner.handed.close();
            if let Err(error) = self.inner.store.release(&self.inner.owner).await {
                tracing::warn!(
                    error = %error,
                    "Affitor outbox relay of a dropped outbox stopped; its rows go again when \
                     their lease ends"
                );
            }
        }
    }

    /// A send that ended: the row it delivered, if any, waits for the next delete, its
    /// journal entry with it (never before it: the entry is written in its row's delete). A
    /// task that panicked is logged: its row goes again when its lease ends.
    fn ended(&mut self, sent: Result<Option<Delivered>, JoinError>) {
        match sent {
            Ok(Some(delivered)) => {
                self.done.push(delivered.row);
                self.settler.put_back(delivered.answer.into_iter());
            }
            Ok(None) => {}
            Err(error) => tracing::error!(
                error = %error,
                "Affitor outbox send failed unexpectedly; its row goes again when its lease ends"
            ),
        }
    }

    /// What the store refused of a delete while the relay stops: its rows go again once
    /// released, its entries with the next delete, if any; those of the rows released without
    /// their storing, which is journaled when they are answered again.
    fn stopping(&mut self, deleted: Result<(), Refused>) {
        if let Err(refused) = deleted {
            self.refusals.refused(&refused);
            let rows = &refused.rows;
            let entries = Answer::of_deleted(&refused.entries, rows, &[], rows);
            self.settler.put_back(entries.into_iter());
        }
    }

    /// How many rows the relay sends at once.
    fn limit(&self) -> usize {
        self.inner.config.max_in_flight
    }

    /// The free send slots.
    fn room(&self) -> usize {
        self.limit().saturating_sub(self.sending.len())
    }
}

impl Drop for Run {
    /// A relay aborted at its stop's deadline: the sends that ended since it last looked, and
    /// a delete that ended refused, hold entries no delete will write; the settler counts them
    /// lost once the last send is gone. (A delete still under way is aborted, and counts its
    /// own.)
    fn drop(&mut self) {
        while let Some(sent) = self.sending.try_join_next() {
            if let Ok(Some(delivered)) = sent {
                self.settler.put_back(delivered.answer.into_iter());
            }
        }
        if let Some(Ok(Err(refused))) = self.deleting.take().and_then(FutureExt::now_or_never) {
            self.settler.put_back(refused.entries.iter().cloned());
        }
    }
}

/// A duty done at most once per interval.
#[derive(Debug)]
struct Pace {
    every: Duration,
    last: Option<Instant>,
}

impl Pace {
    /// Due at once, then once per `every`.
    fn due_now(every: Duration) -> Self {
        Self { every, last: None }
    }

    fn is_due(&self) -> bool {
        self.waited(self.every)
    }

    /// Whether `wait` has passed since the duty was last done.
    fn waited(&self, wait: Duration) -> bool {
        self.last.is_none_or(|at| at.elapsed() >= wait)
    }

    /// The duty is done now.
    fn done(&mut self) {
        self.last = Some(Instant::now());
    }
}
