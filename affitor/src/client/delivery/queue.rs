//! The queue behind `send_in_background`: its state, its worker and the shutdown's flush.

use std::collections::{HashMap, VecDeque};
use std::fmt;
use std::hash::{DefaultHasher, Hash, Hasher};
use std::pin::pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use tokio::sync::Notify;
use tokio::task::{JoinHandle, JoinSet};

use super::losses::{self, Label, Losses, Refused};
use super::{DeliveryReport, DeliveryStats, UndeliveredEvent, UndeliveredReason};
use crate::client::endpoint::Endpoint;
use crate::client::event::{Event, Outcome};
use crate::client::metrics::{self, Reason};
use crate::client::{Error, transport::Transport};

/// The default queue capacity: events waiting or being sent.
pub(crate) const DEFAULT_CAPACITY: usize = 16_384;
/// The default of the most events the worker sends at once: against an API that takes 200 ms
/// to answer, 4,096 in flight deliver about 20,000 events a second (64 delivered 320, and a
/// busy signup page lost most of its leads).
pub(crate) const DEFAULT_MAX_IN_FLIGHT: usize = 4_096;
/// How long the requests' `enqueue` waits for room in a full queue before the event is dropped.
pub(crate) const ROOM_WAIT: Duration = Duration::from_secs(2);
/// How far into the queue the worker looks for an event that may start now, past events that
/// wait for an earlier event of the same transaction or customer.
const LOOKAHEAD: usize = 128;
/// The longest an event in the queue waits out rate limits that ask for more than the retry
/// policy's cap, in all: past it, it fails as [`ErrorKind::RateLimited`](crate::client::ErrorKind).
const RATE_LIMIT_PATIENCE: Duration = Duration::from_secs(300);

/// A client's in-memory background delivery, its default [`Backend`](super::Backend): the
/// queue, its worker and its counters.
pub(crate) struct Delivery {
    shared: Arc<Shared>,
}

/// What the handle, the worker and its tasks share.
struct Shared {
    capacity: usize,
    max_in_flight: usize,
    state: Mutex<State>,
    /// Wakes the worker: an event was queued.
    wake: Notify,
    /// Wakes a shutdown: an event was settled.
    settled: Notify,
    /// Wakes an `accept` waiting for room: an event left the queue, or it is shutting down.
    room: Notify,
    /// Retry attempts, counted by the transport's retry loop as each retry starts.
    retried: AtomicU64,
    /// The runtime the client was built on, if any: the worker's first choice, since it
    /// usually outlives the runtimes of request handlers (actix-web's per-worker runtimes stop
    /// with the server, before `main` flushes the queue).
    home: Option<tokio::runtime::Handle>,
    /// What the worker sends each event through: the client's.
    transport: Arc<Transport>,
    /// The warnings about lost events, each at most once per interval.
    losses: Losses,
}

#[derive(Default)]
struct State {
    pending: VecDeque<Job>,
    /// The events being sent, by the id of the task that sends each.
    in_flight: HashMap<tokio::task::Id, Job>,
    /// The ordering keys of the events being sent, each with how many hold it.
    busy: HashMap<u64, u32>,
    /// Whether a worker task runs (or is about to).
    running: bool,
    worker: Option<JoinHandle<()>>,
    /// Set by the first shutdown: what became of the events since.
    closing: Option<Closing>,
    /// The requests' `enqueue`s waiting for room.
    waiters: usize,
    queued: u64,
    delivered: u64,
    dropped: u64,
    queue_full: u64,
    in_flight_limited: u64,
    failed: u64,
}

#[derive(Default)]
struct Closing {
    delivered: u64,
    undelivered: Vec<UndeliveredEvent>,
    /// The deadline passed and the worker is being stopped: what it was sending is reported,
    /// not put back in the queue.
    deadline_passed: bool,
}

/// A queued event.
struct Job {
    /// Shared with the task that sends it, so that an event interrupted by its runtime's end
    /// can go back to the queue.
    event: Arc<Event>,
    keys: Keys,
    /// Its place in the order events were queued.
    seq: u64,
}

/// The ordering keys of an event (hashes of its transaction id and customer key): two events
/// that share one are sent one after the other, in queue order. A refund waits for the sale of
/// its transaction; a sale identified by a customer key waits for that customer's lead.
type Keys = [Option<u64>; 2];

fn keys(event: &Event) -> Keys {
    let key = |tag: u8, value: &str| {
        let mut hasher = DefaultHasher::new();
        (tag, value).hash(&mut hasher);
        hasher.finish()
    };
    [
        event.transaction_id().map(|id| key(0, id)),
        event
            .customer_key()
            .map(|customer_key| key(1, customer_key)),
    ]
}

/// How a send ended.
enum Settled {
    Delivered(Outcome),
    Failed(Error),
    Panicked,
}

impl Delivery {
    /// A queue of `capacity` events (at least 1), sending at most `max_in_flight` at once (at
    /// least 1) through `transport`.
    pub(crate) fn new(capacity: usize, max_in_flight: usize, transport: Arc<Transport>) -> Self {
        Self {
            shared: Arc::new(Shared {
                capacity: capacity.max(1),
                max_in_flight: max_in_flight.max(1),
                state: Mutex::default(),
                wake: Notify::new(),
                settled: Notify::new(),
                room: Notify::new(),
                retried: AtomicU64::new(0),
                home: tokio::runtime::Handle::try_current().ok(),
                transport,
                losses: Losses::new(),
            }),
        }
    }

    pub(crate) fn stats(&self) -> DeliveryStats {
        self.shared.lock().stats(&self.shared)
    }

    /// Queues a validated event, or counts and logs why a request could not be validated: the
    /// whole of every `send_in_background`.
    pub(super) fn queue(&self, validated: Result<Event, Error>) {
        match validated {
            Ok(event) => self.enqueue(event),
            Err(error) => {
                self.shared.lock().failed += 1;
                if let Some(endpoint) = error.endpoint() {
                    metrics::count(&metrics::FAILED, endpoint, Some(Reason::Invalid), 1);
                }
                tracing::warn!(error = %error, "Affitor event not queued: it is invalid");
            }
        }
    }

    /// Queues an event, or drops it (counted and logged) when the queue cannot take it; never
    /// waits (the lock is never held across an await).
    pub(super) fn enqueue(&self, event: Event) {
        match self.room(false) {
            Ok(state) => self.push(state, event),
            Err(refused) => self.refuse(&event, &refused),
        }
    }

    /// Queues an event, waiting for room while the queue is full, [`ROOM_WAIT`] at most: the
    /// backpressure of the requests' `enqueue`. The requests waiting are let in first come,
    /// first served. An event still without room then, or whose wait is dropped (polled or
    /// not), is dropped and counted as [`enqueue`](Self::enqueue) drops it.
    pub(super) fn accept(&self, event: Event) -> impl Future<Output = ()> + Send + '_ {
        // Made now: a wait dropped before it is first polled counts its event too.
        let mut waiting = Waiting {
            delivery: self,
            event: Some(event),
            counted: false,
        };
        async move {
            let until = tokio::time::Instant::now() + ROOM_WAIT;
            while let Some(event) = waiting.event.take() {
                let mut freed = pin!(self.shared.room.notified());
                freed.as_mut().enable();
                let refused = match self.room(waiting.counted) {
                    Ok(mut state) => {
                        // Under the same lock: no newcomer takes the room meanwhile.
                        if std::mem::take(&mut waiting.counted) {
                            state.waiters -= 1;
                        }
                        return self.push(state, event);
                    }
                    Err(refused) => refused,
                };
                match refused {
                    Refused::Full => {
                        waiting.event = Some(event);
                        if !waiting.counted {
                            self.shared.lock().waiters += 1;
                            waiting.counted = true;
                        }
                        // Past the limit, the guard drops the event as the queue's refusal.
                        if tokio::time::timeout_at(until, freed).await.is_err() {
                            return;
                        }
                    }
                    refused => return self.refuse(&event, &refused),
                }
            }
        }
    }

    /// Counts and logs `event`, which the queue did not take.
    fn refuse(&self, event: &Event, refused: &Refused) {
        let shared = &self.shared;
        let mut state = shared.lock();
        state.dropped += 1;
        if matches!(refused, Refused::Full) {
            state.queue_full += 1;
        }
        let total = state.dropped;
        drop(state);
        let label = Label::of(event);
        let reason = match refused {
            Refused::ShutDown => Reason::ShutDown,
            Refused::Full => Reason::QueueFull,
            Refused::NoRuntime => Reason::NoRuntime,
        };
        metrics::count(&metrics::DROPPED, label.endpoint, Some(reason), 1);
        shared
            .losses
            .dropped(refused, &label, shared.capacity, total);
    }

    /// The state, locked, with room for one more event and a worker to send it; or why the
    /// queue cannot take one. A caller not `waiting` for room yet finds the queue full while
    /// requests wait for it: the room an event leaves is theirs, in the order they came. A
    /// worker is started first, so that a full queue whose worker's runtime stopped drains.
    fn room(&self, waiting: bool) -> Result<MutexGuard<'_, State>, Refused> {
        let shared = &self.shared;
        let mut state = shared.lock();
        if state.closing.is_some() {
            Err(Refused::ShutDown)
        } else if !state.worker_alive() && !state.spawn_worker(shared) {
            Err(Refused::NoRuntime)
        } else if state.held() >= shared.capacity || (!waiting && state.waiters > 0) {
            Err(Refused::Full)
        } else {
            Ok(state)
        }
    }

    /// Queues `event` in `state`, which [`room`](Self::room) gave, and wakes the worker.
    fn push(&self, mut state: MutexGuard<'_, State>, event: Event) {
        let shared = &self.shared;
        metrics::count(&metrics::QUEUED, event.endpoint(), None, 1);
        let keys = keys(&event);
        let seq = state.queued;
        state.pending.push_back(Job {
            event: Arc::new(event),
            keys,
            seq,
        });
        state.queued += 1;
        metrics::pending(state.held());
        if state.in_flight.len() >= shared.max_in_flight {
            state.in_flight_limited += 1;
        }
        drop(state);
        shared.wake.notify_one();
    }

    /// Waits until the queue is empty (nothing waiting or being sent) or `until` passes; the
    /// queue keeps taking events meanwhile.
    pub(super) async fn flush(&self, deadline: Duration) -> DeliveryStats {
        self.wait_until_empty(deadline_after(deadline)).await;
        self.stats()
    }

    async fn wait_until_empty(&self, until: tokio::time::Instant) {
        let shared = &self.shared;
        loop {
            let mut settled = pin!(shared.settled.notified());
            settled.as_mut().enable();
            {
                let mut state = shared.lock();
                if state.held() == 0 {
                    return;
                }
                // No worker yet, or its runtime stopped during the flush: start one, on this
                // runtime if the client's own is gone.
                if !state.worker_alive() && !state.pending.is_empty() {
                    state.spawn_worker(shared);
                }
            }
            if tokio::time::timeout_at(until, settled).await.is_err() {
                return;
            }
        }
    }

    pub(super) async fn shutdown(&self, deadline: Duration) -> DeliveryReport {
        let shared = &self.shared;
        let until = deadline_after(deadline);
        {
            let mut state = shared.lock();
            if state.closing.is_none() {
                state.closing = Some(Closing::default());
                tracing::info!(
                    pending = state.held(),
                    "Affitor delivery stops accepting events; flushing the queue"
                );
            }
        }
        // What waits for room is refused now, rather than at its limit.
        shared.room.notify_waiters();
        self.wait_until_empty(until).await;
        // Stop the worker, if any: its guard reports what it was sending.
        let worker = {
            let mut state = shared.lock();
            if let Some(closing) = state.closing.as_mut() {
                closing.deadline_passed = true;
            }
            state.worker.take()
        };
        if let Some(worker) = worker {
            worker.abort();
            let _ = worker.await;
        }
        let mut state = shared.lock();
        let never_sent: Vec<Job> = state.pending.drain(..).collect();
        state.dropped += never_sent.len() as u64;
        for job in &never_sent {
            metrics::count(
                &metrics::DROPPED,
                job.event.endpoint(),
                Some(Reason::NotSent),
                1,
            );
        }
        metrics::pending(state.held());
        let stats = state.stats(shared);
        let closing = state.closing.get_or_insert_with(Closing::default);
        closing.undelivered.extend(
            never_sent
                .iter()
                .map(|job| Label::of(&job.event).undelivered(UndeliveredReason::NotSent)),
        );
        // `failed` is counted by the caller, from `undelivered`.
        let report = DeliveryReport {
            delivered: closing.delivered,
            undelivered: closing.undelivered.clone(),
            stats,
            ..DeliveryReport::default()
        };
        drop(state);
        losses::shutdown(&report);
        report
    }
}

/// An event waiting for room in [`Delivery::accept`]: dropped as the queue's refusal when the
/// wait ends without it queued, at its limit or cancelled.
struct Waiting<'a> {
    delivery: &'a Delivery,
    event: Option<Event>,
    /// Whether it is counted in `State::waiters`.
    counted: bool,
}

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        if self.counted {
            self.delivery.shared.lock().waiters -= 1;
        }
        if let Some(event) = self.event.take() {
            self.delivery.refuse(&event, &Refused::Full);
        }
    }
}

/// The instant `deadline` from now; a year for a deadline too far to represent.
fn deadline_after(deadline: Duration) -> tokio::time::Instant {
    let now = tokio::time::Instant::now();
    now.checked_add(deadline)
        .unwrap_or_else(|| now + Duration::from_secs(365 * 24 * 3600))
}

impl fmt::Debug for Delivery {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Delivery")
            .field("capacity", &self.shared.capacity)
            .field("max_in_flight", &self.shared.max_in_flight)
            .field("stats", &self.stats())
            .finish()
    }
}

impl Shared {
    /// Locks the state; never held across an await. A poisoned lock is still usable: every
    /// update leaves the state consistent.
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Records how the send of task `task` ended.
    fn settle(&self, task: tokio::task::Id, settled: Settled) {
        let mut state = self.lock();
        let Some(job) = state.take_in_flight(task) else {
            return;
        };
        let label = Label::of(&job.event);
        let delivered = matches!(settled, Settled::Delivered(_));
        if delivered {
            state.delivered += 1;
        } else {
            state.failed += 1;
        }
        let (name, reason) = match &settled {
            Settled::Delivered(_) => (&metrics::DELIVERED, None),
            Settled::Failed(error) if error.is_retryable() => {
                (&metrics::FAILED, Some(Reason::RetriesExhausted))
            }
            Settled::Failed(_) => (&metrics::FAILED, Some(Reason::Refused)),
            Settled::Panicked => (&metrics::FAILED, Some(Reason::Panicked)),
        };
        metrics::count(name, label.endpoint, reason, 1);
        metrics::pending(state.held());
        let closing = state.closing.as_mut();
        match (&settled, closing) {
            (Settled::Delivered(_), Some(closing)) => closing.delivered += 1,
            (_, Some(closing)) => {
                let failed = label.clone().undelivered(UndeliveredReason::Failed);
                closing.undelivered.push(failed);
            }
            (_, None) => {}
        }
        let failed = state.failed;
        drop(state);
        self.settled.notify_waiters();
        self.room.notify_one();
        let endpoint = label.endpoint.name();
        let transaction_id = label.transaction_id.as_deref();
        match settled {
            Settled::Delivered(outcome) => {
                tracing::debug!(
                    endpoint,
                    transaction_id,
                    ?outcome,
                    "Affitor event delivered"
                );
            }
            Settled::Failed(error) => self.losses.given_up(&label, &error, failed),
            Settled::Panicked => tracing::error!(
                endpoint,
                transaction_id,
                "Affitor event not delivered: sending it panicked"
            ),
        }
    }
}

impl State {
    /// Events held: waiting or being sent.
    fn held(&self) -> usize {
        self.pending.len() + self.in_flight.len()
    }

    fn stats(&self, shared: &Shared) -> DeliveryStats {
        DeliveryStats {
            queued: self.queued,
            delivered: self.delivered,
            retried: shared.retried.load(Ordering::Relaxed),
            dropped: self.dropped,
            failed: self.failed,
            pending: self.held() as u64,
            in_flight: self.in_flight.len() as u64,
            queue_full: self.queue_full,
            in_flight_limited: self.in_flight_limited,
        }
    }

    /// Records that task `task` sends `job`: its ordering keys are busy until it settles.
    fn start(&mut self, task: tokio::task::Id, job: Job) {
        for key in job.keys.iter().flatten() {
            *self.busy.entry(*key).or_default() += 1;
        }
        self.in_flight.insert(task, job);
    }

    /// The job task `task` was sending, no longer in flight; its ordering keys freed.
    fn take_in_flight(&mut self, task: tokio::task::Id) -> Option<Job> {
        let job = self.in_flight.remove(&task)?;
        for key in job.keys.iter().flatten() {
            if let Some(holders) = self.busy.get_mut(key) {
                *holders -= 1;
                if *holders == 0 {
                    self.busy.remove(key);
                }
            }
        }
        Some(job)
    }

    /// Whether a worker runs (or is about to). A runtime that shuts down before it first polls
    /// the worker drops it without running any of its code, `running` included: its task is
    /// then finished, and a new worker is needed.
    fn worker_alive(&self) -> bool {
        self.running
            && self
                .worker
                .as_ref()
                .is_some_and(|worker| !worker.is_finished())
    }

    /// Spawns the worker on the runtime the client was built on, or else on the current one;
    /// `false` when neither runs.
    ///
    /// A runtime that was shut down drops what is spawned on it at once, so a worker that is
    /// already finished here (it cannot finish on its own: it needs the state lock, which the
    /// caller holds) means that runtime is gone, and the next one is tried.
    fn spawn_worker(&mut self, shared: &Arc<Shared>) -> bool {
        let current = tokio::runtime::Handle::try_current().ok();
        for runtime in shared.home.iter().chain(current.as_ref()) {
            let worker = runtime.spawn(work(Arc::clone(shared)));
            if !worker.is_finished() {
                self.running = true;
                self.worker = Some(worker);
                return true;
            }
        }
        false
    }

    /// Takes the first event, among the first [`LOOKAHEAD`], that shares no ordering key with
    /// an event being sent or with an earlier event still waiting.
    fn take_ready(&mut self) -> Option<Job> {
        let mut waiting: Vec<u64> = Vec::new();
        let busy = &self.busy;
        let index = self.pending.iter().take(LOOKAHEAD).position(|job| {
            let busy = |key: &u64| waiting.contains(key) || busy.contains_key(key);
            if job.keys.iter().flatten().any(busy) {
                waiting.extend(job.keys.iter().flatten());
                false
            } else {
                true
            }
        })?;
        self.pending.remove(index)
    }
}

/// The worker: sends the queued events, up to `max_in_flight` at once, and ends when the queue
/// is empty.
async fn work(shared: Arc<Shared>) {
    let mut guard = WorkerGuard {
        shared: Arc::clone(&shared),
        finished: false,
    };
    let mut tasks = JoinSet::new();
    loop {
        {
            let mut state = shared.lock();
            while tasks.len() < shared.max_in_flight {
                let Some(job) = state.take_ready() else {
                    break;
                };
                let event = Arc::clone(&job.event);
                let shared = Arc::clone(&shared);
                let task = tasks.spawn(async move { send(&event, &shared).await });
                state.start(task.id(), job);
            }
            if tasks.is_empty() {
                // Nothing is being sent, so nothing waits for an ordering key: the queue is
                // empty.
                state.running = false;
                guard.finished = true;
                return;
            }
        }
        tokio::select! {
            Some(joined) = tasks.join_next_with_id() => match joined {
                Ok((task, Ok(outcome))) => shared.settle(task, Settled::Delivered(outcome)),
                Ok((task, Err(error))) => shared.settle(task, Settled::Failed(error)),
                // Only a runtime shutting down cancels a send (the worker never aborts one):
                // stop, and let the guard put the event back.
                Err(error) if error.is_cancelled() => return,
                Err(error) => shared.settle(error.id(), Settled::Panicked),
            },
            () = shared.wake.notified() => {}
        }
    }
}

/// Sends `event` with the client's retries. A rate limit that asks for a longer wait than the
/// policy's cap ends a caller's call at once, for the caller to decide; an event in the queue
/// has no caller, so it waits here (holding its send slot, which slows the queue to the limit),
/// up to [`RATE_LIMIT_PATIENCE`] since its first attempt, rather than fail. A shorter wait the
/// retries honoured already: out of attempts, the event fails, as for any other answer.
async fn send(event: &Event, shared: &Shared) -> Result<Outcome, Error> {
    let started = tokio::time::Instant::now();
    let cap = shared.transport.retry.retry_after_cap;
    loop {
        let sent = event.send(&shared.transport, Some(&shared.retried)).await;
        let wait = match &sent {
            Err(error) if error.kind() == crate::client::ErrorKind::RateLimited => {
                error.retry_after()
            }
            _ => None,
        };
        let patient = |wait: &Duration| {
            *wait > cap && started.elapsed().saturating_add(*wait) <= RATE_LIMIT_PATIENCE
        };
        let Some(wait) = wait.filter(patient) else {
            return sent;
        };
        tracing::debug!(
            endpoint = event.endpoint().name(),
            retry_in = ?wait,
            "Affitor queued event rate limited: it waits the API's Retry-After, then goes again"
        );
        shared.retried.fetch_add(1, Ordering::Relaxed);
        tokio::time::sleep(wait).await;
    }
}

/// Puts the state right when the worker is stopped before the queue is empty: by a shutdown's
/// deadline, or because its runtime shut down. Its sends are aborted with it.
struct WorkerGuard {
    shared: Arc<Shared>,
    finished: bool,
}

impl Drop for WorkerGuard {
    fn drop(&mut self) {
        if self.finished {
            return;
        }
        let mut state = self.shared.lock();
        state.running = false;
        state.busy.clear();
        // In queue order (the tasks' ids are not), so that what goes back keeps it.
        let mut interrupted: Vec<Job> =
            std::mem::take(&mut state.in_flight).into_values().collect();
        interrupted.sort_by_key(|job| job.seq);
        if let Some(closing) = state
            .closing
            .as_mut()
            .filter(|closing| closing.deadline_passed)
        {
            // The shutdown's deadline: report them.
            closing.undelivered.extend(
                interrupted
                    .iter()
                    .map(|job| Label::of(&job.event).undelivered(UndeliveredReason::Interrupted)),
            );
            state.dropped += interrupted.len() as u64;
            for job in &interrupted {
                let endpoint = job.event.endpoint();
                metrics::count(&metrics::DROPPED, endpoint, Some(Reason::Interrupted), 1);
            }
            drop(state);
            self.shared.settled.notify_waiters();
            self.shared.room.notify_waiters();
            return;
        }
        // The runtime stopped. The API may or may not have these events. A sale or a refund
        // goes back to the front of the queue, in its order, for the next worker: its
        // transaction id makes a repeat harmless. A lead or a click is not repeated, as the
        // retry policy never repeats one that may have reached the API; it is dropped, and
        // said so.
        let mut lost = Vec::new();
        for job in interrupted.into_iter().rev() {
            match job.event.endpoint() {
                Endpoint::Sale | Endpoint::Refund => state.pending.push_front(job),
                _ => lost.push(Label::of(&job.event)),
            }
        }
        state.dropped += lost.len() as u64;
        for label in &lost {
            metrics::count(
                &metrics::DROPPED,
                label.endpoint,
                Some(Reason::Interrupted),
                1,
            );
        }
        let pending = state.pending.len();
        let closing = state.closing.as_mut();
        let flushing = closing.is_some();
        if let Some(closing) = closing {
            let interrupted = UndeliveredReason::Interrupted;
            let lost = lost
                .iter()
                .map(|label| label.clone().undelivered(interrupted));
            closing.undelivered.extend(lost);
        }
        drop(state);
        // Wakes a shutdown in progress, which starts another worker.
        self.shared.settled.notify_waiters();
        self.shared.room.notify_waiters();
        losses::interrupted(&lost);
        if pending > 0 && !flushing {
            tracing::warn!(
                pending,
                "Affitor delivery worker stopped with its runtime; the events it holds wait for \
                 the next `send_in_background` or `shutdown`"
            );
        }
    }
}

#[cfg(test)]
mod tests;
