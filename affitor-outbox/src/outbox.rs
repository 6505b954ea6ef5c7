//! The outbox handle: enqueue, counters, dead letters and shutdown.

use std::fmt;
use std::future::{Future, pending};
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use affitor::Client;
use affitor::client::{Backend, DeliveryReport, DeliveryStats, Event, IntoEvent, Outcome};
use tokio::sync::Notify;
use tokio::time::Instant;
use tokio_util::task::TaskTracker;

use crate::config::Config;
use crate::connection::OutboxConnection;
use crate::error::OutboxError;
use crate::journal::{InlineEntries, JournalEntry};
use crate::metrics;
use crate::recover;
use crate::relay::{LAST_CALL, Relay};
use crate::shared::{HandOff, Inner};
use crate::spill::Spill;
use crate::stats::{Backlog, Counters, OutboxStats};
use crate::store::{DeadLetter, Facts, Store, StoreError};
use crate::sync::lock;
use crate::throttle::Throttle;
use crate::writer::Writer;

/// At most one warning per this many seconds for the events the store could not take, and
/// for the journal's entries lost.
const WARNING_EVERY: u64 = 60;

/// A durable outbox: events written to a store (SQLite or Postgres) before the request
/// answers, and delivered by a relay. See the [crate documentation](crate).
///
/// Cheap to clone: clones share one store, one relay and one set of counters. Open it once at
/// start-up, keep it in your application state, make it the [backend](#impl-Backend-for-Outbox)
/// of the client your handlers use, and call that client's
/// [`shutdown`](affitor::Client::shutdown) at the end of `main` (it stops the outbox too; an
/// outbox used without a client calls its own [`shutdown`](Self::shutdown)). The relay is a task on the tokio runtime `open` ran on; it runs until
/// `shutdown`, or until that runtime stops (what it was sending then goes again when its lease
/// ends).
///
/// ```no_run
/// # async fn signup(outbox: affitor_outbox::Outbox, client: affitor::Client) {
/// // Where a handler would call `send_in_background`:
/// outbox.enqueue(client.lead("user_123").email("ada@example.com")).await;
/// # }
/// ```
#[derive(Clone)]
pub struct Outbox {
    pub(crate) inner: Arc<Inner>,
    /// The task that writes new rows to the store, a batch per transaction; it ends at
    /// `shutdown`, or when the last handle is dropped.
    writer: Arc<Writer>,
    /// The relay, until `shutdown` stops it.
    relay: Arc<Mutex<Option<Relay>>>,
    /// The journal's entries of the events the client sent itself, waiting for their write.
    sent: Arc<InlineEntries>,
}

impl Outbox {
    /// Starts the outbox on `store`: its writer, and its relay (when `config` runs one),
    /// sending through `relay_client`.
    pub(crate) fn start(
        store: Store,
        client: Client,
        relay_client: Client,
        config: Config,
        location: String,
        tls_warning: Option<String>,
    ) -> Self {
        let relay = config.relay;
        let inner = Arc::new(Inner {
            store,
            fell_back_warning: Throttle::new(WARNING_EVERY),
            journal_lost_warning: Throttle::new(WARNING_EVERY),
            // Whatever backend `client` holds (this outbox's, even), the fallback goes to its
            // in-memory queue: never back here.
            client: client.with_memory_queue(),
            config,
            counters: Counters::default(),
            wake: Notify::new(),
            owner: format!("{}-{:016x}", std::process::id(), fastrand::u64(..)).into(),
            handed: HandOff::default(),
            writes: TaskTracker::new(),
            handed_over: Mutex::default(),
            home: tokio::runtime::Handle::try_current().ok(),
            location,
            spill: Spill::default(),
            tls_warning,
        });
        let writer = Arc::new(Writer::start(&inner));
        // The relay holds no backend of its client (this outbox's would keep it alive).
        let relay =
            relay.then(|| Relay::start(Arc::clone(&inner), relay_client.with_memory_queue()));
        Self {
            inner,
            writer,
            relay: Arc::new(Mutex::new(relay)),
            sent: Arc::default(),
        }
    }

    /// Writes the event to the store, and wakes the relay; returns once it is written.
    ///
    /// Never fails the request: an invalid event is logged and counted
    /// ([`OutboxStats::invalid`]), and an event the store cannot take within the
    /// [enqueue timeout](crate::OutboxBuilder::enqueue_timeout) (it is down, or the disk is full)
    /// is held in memory until a probe finds the store answering, then written to it
    /// ([`OutboxStats::spilled`]); while one is held, later events are held at once, without
    /// waiting for the store, and once it answers again each waits for its write-back behind
    /// those held before it. What memory cannot hold goes to the client's in-memory queue
    /// ([`OutboxStats::fell_back`]; see [`max_spilled`](crate::OutboxBuilder::max_spilled)),
    /// the call waiting there for room while that queue is full. Either way, the call returns
    /// within the enqueue timeout (on SQLite, and half a second for a commit under way).
    ///
    /// ```no_run
    /// # async fn checkout(outbox: affitor_outbox::Outbox, client: affitor::Client) {
    /// outbox.enqueue(client.sale("in_1001", 4900).customer_key("user_123")).await;
    /// # }
    /// ```
    pub async fn enqueue(&self, event: impl IntoEvent) {
        self.enqueue_watched(event, Unsettled::none(&self.inner))
            .await;
    }

    /// [`enqueue`](Self::enqueue); `unsettled` is settled once the event is written, held,
    /// handed on, or refused as invalid.
    async fn enqueue_watched(&self, event: impl IntoEvent, unsettled: Unsettled<'_>) {
        let inner = &self.inner;
        // One limit for the whole call: a write-back waited for after a failed write gets what
        // the write left of it.
        let deadline = tokio::time::Instant::now() + inner.config.enqueue_timeout;
        let event = match event.into_event() {
            Ok(event) => event,
            Err(error) => {
                Counters::add(&inner.counters.invalid);
                tracing::warn!(error = %error, "Affitor event not written to the outbox: it is invalid");
                unsettled.settle();
                return;
            }
        };
        if inner.spill.is_degraded() {
            // The store failed: no request waits behind it until the probe finds it answering.
            let why = "the store is failing";
            recover::spill(inner, &self.writer, event, why, deadline, unsettled).await;
            return;
        }
        // An error means the row is not in the table (the store says so), so the event is held
        // for a write-back, or sent from memory: it is never sent twice.
        let written = self
            .writer
            .write_event(inner, &event, Facts::default(), pending());
        match written.await {
            Ok(()) => {}
            // The writer has ended (`shutdown`): holding the event for a write-back is pointless.
            Err(error @ StoreError::Stopped) => inner.fell_back(event, &error.to_string()),
            Err(error) => {
                let why = self.not_taken(&error);
                recover::spill(inner, &self.writer, event, &why, deadline, unsettled).await;
                return;
            }
        }
        unsettled.settle();
    }

    /// Why the store did not take an event, in words.
    fn not_taken(&self, error: &StoreError) -> String {
        match error {
            StoreError::TimedOut => format!(
                "the store did not take it within {:?}",
                self.inner.config.enqueue_timeout
            ),
            error => error.to_string(),
        }
    }

    /// Writes the event on `connection`, inside your own transaction: the event is stored if
    /// and only if the transaction commits. The relay finds it at its next look
    /// ([`poll_interval`](crate::OutboxBuilder::poll_interval)). The table must be in the same
    /// database as the outbox: on SQLite, a connection to the outbox's file (through
    /// `affitor_outbox::rusqlite`, feature `sqlite`); on Postgres, a `sqlx::PgConnection`
    /// (feature `postgres`). See [`OutboxConnection`].
    ///
    /// # Errors
    ///
    /// [`OutboxError::Invalid`] for an invalid event, [`OutboxError::Store`] when the write
    /// fails: your transaction decides what becomes of it.
    ///
    /// ```
    /// # #[cfg(feature = "sqlite")]
    /// # async fn signup(
    /// #     database: &mut affitor_outbox::rusqlite::Connection,
    /// #     outbox: affitor_outbox::Outbox,
    /// #     client: affitor::Client,
    /// # ) -> Result<(), Box<dyn std::error::Error>> {
    /// let mut transaction = database.transaction()?;
    /// transaction.execute("INSERT INTO users (id) VALUES (?1)", ["user_123"])?;
    /// outbox.enqueue_in(&mut transaction, client.lead("user_123")).await?;
    /// transaction.commit()?; // the user and their lead, or neither
    /// # Ok(())
    /// # }
    /// ```
    ///
    /// A rusqlite connection is not `Send`: where the handler's future must be (axum,
    /// actix-web's `spawn`), write in a blocking task, and wait there for the outbox's write
    /// (one `INSERT`, on your connection: it waits for nothing else):
    ///
    /// ```
    /// # #[cfg(feature = "sqlite")]
    /// # async fn signup(
    /// #     database: std::sync::Arc<std::sync::Mutex<affitor_outbox::rusqlite::Connection>>,
    /// #     outbox: affitor_outbox::Outbox,
    /// #     client: affitor::Client,
    /// # ) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    /// let runtime = tokio::runtime::Handle::current();
    /// tokio::task::spawn_blocking(move || {
    ///     let mut database = database.lock().map_err(|_| "the database's lock is poisoned")?;
    ///     let mut transaction = database.transaction()?;
    ///     transaction.execute("INSERT INTO users (id) VALUES (?1)", ["user_123"])?;
    ///     runtime.block_on(outbox.enqueue_in(&mut transaction, client.lead("user_123")))?;
    ///     transaction.commit()?;
    ///     Ok::<_, Box<dyn std::error::Error + Send + Sync>>(())
    /// })
    /// .await?
    /// # }
    /// ```
    pub async fn enqueue_in<C>(
        &self,
        connection: &mut C,
        event: impl IntoEvent,
    ) -> Result<(), OutboxError>
    where
        C: OutboxConnection + ?Sized,
    {
        let event = event.into_event().map_err(OutboxError::Invalid)?;
        connection
            .insert_event(&event, self.inner.store.postgres_schema())
            .await?;
        Counters::add(&self.inner.counters.enqueued);
        metrics::event(event.endpoint().name(), metrics::Result::Enqueued);
        self.inner.stored();
        Ok(())
    }

    /// Where the store is, as logs show it: a SQLite path, or a Postgres URL with its password
    /// left out.
    ///
    /// ```no_run
    /// # async fn run(outbox: affitor_outbox::Outbox) {
    /// println!("Affitor events are written to {}", outbox.location());
    /// # }
    /// ```
    pub fn location(&self) -> &str {
        &self.inner.location
    }

    /// What the outbox warned of its connection when it opened, or `None`: a Postgres server on
    /// another machine reached below `sslmode=verify-full`, where a machine on the path could
    /// read or pose as it. `affitor doctor` reports it. `None` on SQLite.
    ///
    /// ```no_run
    /// # async fn run(outbox: affitor_outbox::Outbox) {
    /// if let Some(warning) = outbox.tls_warning() {
    ///     eprintln!("{warning}");
    /// }
    /// # }
    /// ```
    pub fn tls_warning(&self) -> Option<&str> {
        self.inner.tls_warning.as_deref()
    }

    /// This process's counters.
    ///
    /// ```no_run
    /// # async fn run(outbox: affitor_outbox::Outbox) {
    /// println!("{} delivered", outbox.stats().delivered);
    /// # }
    /// ```
    pub fn stats(&self) -> OutboxStats {
        let spilled = self
            .inner
            .spill
            .len
            .load(std::sync::atomic::Ordering::Relaxed);
        self.inner.counters.snapshot(spilled)
    }

    /// The rows in the store that wait or are being sent, whoever wrote them.
    ///
    /// # Errors
    ///
    /// [`OutboxError::Store`] when the store cannot be read.
    ///
    /// ```no_run
    /// # async fn run(outbox: affitor_outbox::Outbox) -> Result<(), affitor_outbox::OutboxError> {
    /// println!("{} events waiting", outbox.waiting().await?);
    /// # Ok(())
    /// # }
    /// ```
    pub async fn waiting(&self) -> Result<u64, OutboxError> {
        Ok(self.inner.store.waiting().await?)
    }

    /// The dead letters in the store, oldest first: events refused by the API, out of attempts,
    /// or unreadable. They stay until the relay deletes them past their
    /// [retention](crate::OutboxBuilder::dead_letter_retention), or
    /// [`purge_dead_letters`](Self::purge_dead_letters) does.
    ///
    /// # Errors
    ///
    /// [`OutboxError::Store`] when the store cannot be read.
    ///
    /// ```no_run
    /// # async fn run(outbox: affitor_outbox::Outbox) -> Result<(), affitor_outbox::OutboxError> {
    /// for letter in outbox.dead_letters().await? {
    ///     eprintln!("{}: {}", letter.endpoint, letter.error);
    /// }
    /// # Ok(())
    /// # }
    /// ```
    pub async fn dead_letters(&self) -> Result<Vec<DeadLetter>, OutboxError> {
        Ok(self.inner.store.dead_letters().await?)
    }

    /// Makes every dead letter due again, its attempts reset, and wakes the relay: once what
    /// made them fail is mended (a key, a currency, the API's refusal of a customer). Returns how
    /// many.
    ///
    /// A payment event's delivery was forgotten when it died, so the provider's resend of it
    /// meanwhile is stored as a row of its own: both go, and Affitor records the sale once (the
    /// other is answered as recorded before) and reverses a refund once.
    ///
    /// # Errors
    ///
    /// [`OutboxError::Store`] when the store cannot be written.
    ///
    /// ```no_run
    /// # async fn mended(outbox: affitor_outbox::Outbox) -> Result<(), affitor_outbox::OutboxError> {
    /// let retried = outbox.retry_dead_letters().await?;
    /// println!("{retried} dead letters go again");
    /// # Ok(())
    /// # }
    /// ```
    pub async fn retry_dead_letters(&self) -> Result<u64, OutboxError> {
        let retried = self.inner.store.retry_dead_letters().await?;
        self.inner.stored();
        Ok(retried)
    }

    /// Makes the dead letter `id` ([`DeadLetter::id`]) due again, its attempts reset, and wakes
    /// the relay; answers whether it was a dead letter (`false`: no such row, or not dead).
    ///
    /// # Errors
    ///
    /// [`OutboxError::Store`] when the store cannot be written.
    ///
    /// ```no_run
    /// # async fn mended(outbox: affitor_outbox::Outbox) -> Result<(), affitor_outbox::OutboxError> {
    /// if let Some(letter) = outbox.dead_letters().await?.first() {
    ///     outbox.retry_dead_letter(letter.id).await?;
    /// }
    /// # Ok(())
    /// # }
    /// ```
    pub async fn retry_dead_letter(&self, id: i64) -> Result<bool, OutboxError> {
        let retried = self.inner.store.retry_dead_letter(id).await?;
        if retried {
            self.inner.stored();
        }
        Ok(retried)
    }

    /// The rows in the store now, whoever wrote them: waiting, in flight and dead, and how long
    /// the oldest has waited. One read of the table.
    ///
    /// # Errors
    ///
    /// [`OutboxError::Store`] when the store cannot be read.
    ///
    /// ```no_run
    /// # async fn report(outbox: affitor_outbox::Outbox) -> Result<(), affitor_outbox::OutboxError> {
    /// let backlog = outbox.backlog().await?;
    /// println!("{} waiting, {} dead", backlog.waiting, backlog.dead);
    /// # Ok(())
    /// # }
    /// ```
    pub async fn backlog(&self) -> Result<Backlog, OutboxError> {
        Ok(self.inner.store.backlog().await?)
    }

    /// Deletes the dead letters given up on at least `older_than` ago (and, on SQLite, clears
    /// them from its logs): what they held (customers' emails) is not kept for ever. Returns
    /// how many.
    ///
    /// # Errors
    ///
    /// [`OutboxError::Store`] when the store cannot be written.
    ///
    /// ```no_run
    /// # async fn clean(outbox: affitor_outbox::Outbox) -> Result<(), affitor_outbox::OutboxError> {
    /// let thirty_days = std::time::Duration::from_secs(30 * 24 * 3600);
    /// outbox.purge_dead_letters(thirty_days).await?;
    /// # Ok(())
    /// # }
    /// ```
    pub async fn purge_dead_letters(&self, older_than: Duration) -> Result<u64, OutboxError> {
        Ok(self.inner.store.purge_dead_letters(older_than).await?)
    }

    /// Stops the outbox: the events handed to it are written, then the relay claims nothing
    /// more and finishes the rows it is sending, for at most `deadline`; rows still being sent
    /// then are released, to go again at the next start (or at once, on another relay). Then
    /// the writer ends, and every task and thread the outbox started has ended, its connections
    /// closed, within `deadline` (a batch under way, at most one enqueue timeout more; the
    /// relay's send thread, cut short, at most a second more); no send of the relay is on the
    /// wire then. The store still answers a person's calls ([`waiting`](Self::waiting),
    /// [`dead_letters`](Self::dead_letters), [`retry_dead_letters`](Self::retry_dead_letters),
    /// [`purge_dead_letters`](Self::purge_dead_letters)). Events enqueued later are still
    /// written to the store, each on its own. Returns the
    /// counters once stopped. The client holding the outbox as its backend calls it from its
    /// own [`shutdown`](affitor::Client::shutdown), which also stops the in-memory queue: call
    /// that one, once. Calling this one again is harmless. Dropping the last handle without it
    /// stops the relay too, with no deadline: its sends end on their own, and the rows it still
    /// holds are released.
    ///
    /// ```no_run
    /// # async fn stop(outbox: affitor_outbox::Outbox) {
    /// let stats = outbox.shutdown(std::time::Duration::from_secs(5)).await;
    /// println!("{} delivered", stats.delivered);
    /// # }
    /// ```
    pub async fn shutdown(&self, deadline: Duration) -> OutboxStats {
        // The events `send_in_background` handed over are written first, so the relay can
        // still send them, and the rest waits in the store.
        let started = tokio::time::Instant::now();
        let writes = &self.inner.writes;
        writes.close();
        if tokio::time::timeout(deadline, writes.wait()).await.is_err() {
            tracing::warn!(
                writing = writes.len(),
                "the Affitor outbox stopped before every event handed to it was written"
            );
        }
        // What no write took (its runtime ended first, or the deadline came) is sent from
        // memory: the client's shutdown drains that queue next.
        let handed_over = std::mem::take(&mut *lock(&self.inner.handed_over));
        for event in handed_over {
            self.inner
                .fell_back(event, "the outbox stopped before its write ran");
        }
        let until = instant_after(deadline.saturating_sub(started.elapsed()));
        self.sent.stop(until).await;
        // What waits in memory for the store goes to the in-memory queue, which the client's
        // shutdown drains next.
        recover::stop(&self.inner, deadline.saturating_sub(started.elapsed())).await;
        let relay = lock(&self.relay).take();
        if let Some(relay) = relay {
            relay
                .stop(&self.inner, deadline.saturating_sub(started.elapsed()))
                .await;
        }
        // Last, as the relay's last deletes and releases are its jobs on SQLite.
        self.writer
            .stop(deadline.saturating_sub(started.elapsed()))
            .await;
        self.stats()
    }

    /// [`enqueue`](Self::enqueue), for the oldest event `send_in_background` handed over:
    /// taken and first polled in one lock, so that the events reach the writer (or the spill)
    /// in the order they came, as one task each may run in any order. If its runtime drops it
    /// before the write is settled, that is logged and counted.
    async fn write_oldest(self) {
        let mut write = None;
        std::future::poll_fn(|cx| {
            if let Some(write) = &mut write {
                return Future::poll(Pin::as_mut(write), cx);
            }
            let mut handed_over = lock(&self.inner.handed_over);
            let Some(event) = handed_over.pop_front() else {
                return std::task::Poll::Ready(());
            };
            let first = write.insert(Box::pin(self.clone().write(event)));
            Future::poll(Pin::as_mut(first), cx)
        })
        .await;
    }

    /// [`enqueue`](Self::enqueue), for an event `send_in_background` handed over: if its
    /// runtime drops it before the event is written or held, that is logged and counted.
    async fn write(self, event: Event) {
        let unsettled = Unsettled::new(&self.inner, vec![event.endpoint().name()]);
        self.enqueue_watched(event, unsettled).await;
    }
}

#[doc = include_str!("../docs/backend.md")]
impl Backend for Outbox {
    /// Writes the event as [`enqueue`](Outbox::enqueue) does, and resolves once it is written,
    /// or, past the enqueue timeout, handed to the memory queue: a request's `enqueue().await`.
    fn accept(&self, event: Event) -> Pin<Box<dyn Future<Output = ()> + Send + '_>> {
        Box::pin(self.enqueue(event))
    }

    fn deliver(&self, event: Event) {
        // One write per event, each taking the oldest waiting when it first runs. A runtime
        // that was shut down drops what is spawned on it at once, unpolled: the next runtime
        // is tried.
        lock(&self.inner.handed_over).push_back(event);
        let current = tokio::runtime::Handle::try_current().ok();
        for runtime in self.inner.home.iter().chain(current.as_ref()) {
            let outbox = self.clone();
            let ran = Arc::new(AtomicBool::new(false));
            let running = Arc::clone(&ran);
            self.inner.writes.spawn_on(
                async move {
                    running.store(true, Ordering::Relaxed);
                    outbox.write_oldest().await;
                },
                runtime,
            );
            // The write holds its flag until it ends, and has set it by then: a flag held by
            // this call alone and still unset was dropped unpolled. (The fence makes the
            // setting seen once the write's release of the flag is.)
            let alone = Arc::strong_count(&ran) == 1;
            std::sync::atomic::fence(Ordering::Acquire);
            let dropped = alone && !ran.load(Ordering::Relaxed);
            if !dropped {
                return;
            }
        }
        // No write will take it: one event fewer waits, so that each write still finds one.
        let Some(event) = lock(&self.inner.handed_over).pop_back() else {
            return;
        };
        self.inner
            .fell_back(event, "no tokio runtime to write it to the outbox on");
    }

    fn flush(
        &self,
        deadline: Duration,
    ) -> Pin<Box<dyn Future<Output = DeliveryStats> + Send + '_>> {
        Box::pin(self.flush_all(deadline))
    }

    fn shutdown(
        &self,
        deadline: Duration,
    ) -> Pin<Box<dyn Future<Output = DeliveryReport> + Send + '_>> {
        Box::pin(self.shutdown_all(deadline))
    }

    fn stats(&self) -> DeliveryStats {
        self.delivery_stats()
    }

    fn name(&self) -> &'static str {
        "affitor_outbox::Outbox"
    }

    /// With the [journal](crate::journal) on, journals the event and its answer (a captured
    /// click: its click id and partner code), written by a task off the request's path; a
    /// store that cannot keep up loses the entry (counted in `OutboxStats::journal_lost`, and
    /// logged), never the request's time.
    fn sent(&self, event: &Event, answer: Result<&Outcome, &affitor::Error>) {
        if self.inner.config.journal.is_some() {
            self.sent
                .push(&self.inner, JournalEntry::sent(event, answer));
        }
    }
}

impl Outbox {
    /// [`PaymentState::store`](affitor::webhook::PaymentState::store): the event written with
    /// `facts`, in one transaction, or the error that says neither is.
    pub(crate) async fn store_event(
        &self,
        event: Event,
        facts: Facts,
    ) -> Result<(), affitor::Error> {
        let endpoint = event.endpoint().name();
        if self.inner.spill.is_degraded() {
            // Never held in memory: the provider is told at once, and delivers it again.
            return Err(
                self.not_stored(endpoint, "the store is failing (probed in the background)")
            );
        }
        let why = match self
            .writer
            .write_event(&self.inner, &event, facts, pending())
            .await
        {
            Ok(()) => return Ok(()),
            Err(error) => self.not_taken(&error),
        };
        recover::failed(&self.inner, &self.writer, &why);
        Err(self.not_stored(endpoint, why))
    }

    /// An [`affitor::Error::not_stored`] for `what`, logged with the store's location (its
    /// password left out).
    pub(crate) fn not_stored(&self, what: &str, error: impl std::fmt::Display) -> affitor::Error {
        tracing::warn!(
            what,
            location = %self.inner.location,
            error = %error,
            "Affitor outbox could not write: the caller is told, so that it comes again"
        );
        affitor::Error::not_stored(format!("{what} in {}: {error}", self.inner.location))
    }
}

/// How often a flush looks whether this process's writes are committed: a write takes about a
/// millisecond.
const FLUSH_LOOK: Duration = Duration::from_millis(1);

impl Outbox {
    /// The outbox's counters as a client's: its own added to those of the in-memory queue it
    /// falls back to; `pending`, what is not stored yet: the writes under way (a flush hands
    /// the events held for a failing store to the memory queue, which counts them). A stored
    /// row, waiting or being sent, is the relay's ([`OutboxStats::in_flight`],
    /// [`Outbox::waiting`]): a flush that leaves it is done.
    fn delivery_stats(&self) -> DeliveryStats {
        let outbox = self.stats();
        let mut stats = self.inner.client.delivery_stats();
        stats.queued += outbox.enqueued;
        stats.delivered += outbox.delivered;
        stats.retried += outbox.rescheduled;
        stats.failed += outbox.invalid + outbox.dead + outbox.corrupt;
        stats.pending += self.inner.writes.len() as u64;
        stats
    }

    /// The client's flush: this process's writes under way, then the in-memory queue it fell
    /// back to. What is committed is the relay's to deliver, whoever wrote it: a flush never
    /// waits for the store to empty (on a shared database, other processes' rows, or a refund
    /// waiting days for its sale, would hold every flush for its whole deadline).
    async fn flush_all(&self, deadline: Duration) -> DeliveryStats {
        let until = instant_after(deadline);
        while !self.inner.writes.is_empty() {
            let now = Instant::now();
            if now >= until {
                break;
            }
            tokio::time::sleep(FLUSH_LOOK.min(until - now)).await;
        }
        self.sent.written(until).await;
        // What waits in memory for a failing store is sent now: a flush is asked before the
        // process may freeze (Lambda).
        for event in self.inner.spill.drain() {
            self.inner
                .fell_back(event, "flushed while the store was failing");
        }
        let _ = self
            .inner
            .client
            .flush(until.saturating_duration_since(Instant::now()))
            .await;
        self.delivery_stats()
    }

    /// The client's shutdown: the outbox's, then the in-memory queue's, within one deadline.
    async fn shutdown_all(&self, deadline: Duration) -> DeliveryReport {
        let until = instant_after(deadline);
        let before = self.stats();
        Outbox::shutdown(self, deadline).await;
        let remaining = until.saturating_duration_since(Instant::now());
        let mut report = self.inner.client.shutdown(remaining).await;
        let after = self.stats();
        report.delivered += after.delivered - before.delivered;
        report.failed += (after.dead + after.corrupt) - (before.dead + before.corrupt);
        let left = until
            .saturating_duration_since(Instant::now())
            .max(LAST_CALL);
        let counted = tokio::time::timeout(left, self.inner.store.waiting()).await;
        let counted = counted.unwrap_or_else(|_| Err(StoreError::TimedOut));
        report.kept = match counted {
            Ok(rows) => rows,
            Err(error) => {
                // What this process wrote and did not settle, at least, is in the store.
                let settled = after.delivered + after.dead + after.corrupt;
                let kept = after.enqueued.saturating_sub(settled);
                tracing::warn!(
                    error = %error,
                    location = %self.inner.location,
                    kept,
                    "Affitor outbox could not count the rows left in its store; reporting those \
                     this process wrote and did not deliver"
                );
                kept
            }
        };
        report.stats = self.delivery_stats();
        tracing::info!(
            delivered_during_flush = report.delivered,
            failed_during_flush = report.failed,
            kept = report.kept,
            not_delivered = report.not_delivered(),
            location = %self.inner.location,
            "Affitor outbox and in-memory queue stopped; the rows kept go at the next start"
        );
        report
    }
}

/// The instant `deadline` from now; a year for a deadline too far to represent.
fn instant_after(deadline: Duration) -> Instant {
    let now = Instant::now();
    now.checked_add(deadline)
        .unwrap_or_else(|| now + Duration::from_secs(365 * 24 * 3600))
}

/// Writes under way of events of the named endpoints that nothing else accounts for (a
/// `send_in_background` event's until it is written or held; the spill's write-back of the
/// events it held), until they are settled: dropped before (by the end of their runtime), each
/// is counted interrupted, and logged.
pub(crate) struct Unsettled<'a> {
    inner: &'a Inner,
    endpoints: Vec<&'static str>,
}

impl<'a> Unsettled<'a> {
    /// The writes of events of `endpoints`, under way on `inner`'s outbox.
    pub(crate) fn new(inner: &'a Inner, endpoints: Vec<&'static str>) -> Self {
        Self { inner, endpoints }
    }

    /// No write to watch (a request's, which its caller accounts for): counts nothing.
    pub(crate) fn none(inner: &'a Inner) -> Self {
        Self::new(inner, Vec::new())
    }

    /// The writes ended (written, held, or handed on): nothing to count.
    pub(crate) fn settle(mut self) {
        self.endpoints.clear();
    }
}

impl Drop for Unsettled<'_> {
    fn drop(&mut self) {
        if self.endpoints.is_empty() {
            return;
        }
        for endpoint in &self.endpoints {
            Counters::add(&self.inner.counters.interrupted);
            metrics::event(endpoint, metrics::Result::Interrupted);
        }
        tracing::error!(
            events = self.endpoints.len(),
            endpoint = self.endpoints[0],
            "Affitor event's write to the outbox stopped by its runtime's shutdown: it may \
             be lost; await `Outbox::shutdown` before the runtime the outbox was opened on \
             ends"
        );
    }
}

impl fmt::Debug for Outbox {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Outbox")
            .field("location", &self.inner.location)
            .field("config", &self.inner.config)
            .field("stats", &self.stats())
            .finish_non_exhaustive()
    }
}
