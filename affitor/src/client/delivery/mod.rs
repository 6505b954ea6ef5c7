//! Background delivery: what `send_in_background` does with an event.
//!
//! A client holds exactly one [`Backend`] (`backend.rs`), the only way an event leaves in the
//! background: the requests' `send_in_background` and [`Client::send_event_in_background`]
//! hand it their events, and [`Client::flush`], [`Client::shutdown`] and
//! [`Client::delivery_stats`] ask it. The builder installs the in-memory queue (`queue.rs`,
//! its `Backend` impl below); [`Client::with_backend`] installs another (a durable outbox) in
//! a copy of the client, whose queue stays reachable through [`Client::with_memory_queue`]:
//! what that backend cannot take goes there, never back to itself. An invalid request never
//! reaches a backend: the queue counts and logs it.
//!
//! The queue sends each event through the client's [`Transport`](super::transport::Transport),
//! as `send` does, with one worker task, and a shutdown flushes it within a deadline. The
//! transport knows nothing of the queue: the worker hands it the queue's retry counter with
//! each event.
//!
//! The queue counts every event it holds, waiting or being sent, against its capacity, so its
//! memory is bounded whatever the API does. The worker runs on the tokio runtime the client was
//! built on, or, when that one has stopped or there was none, on the runtime of the
//! `send_in_background` call that starts it (it ends when the queue is empty, and starts again
//! with the next event); it sends up to `max_in_flight` events at once (default 4,096, sized for
//! an API answering in 200 ms), keeping the ordering keys of those in a map so that choosing the
//! next event costs the same with thousands in flight, and never sends two
//! events that touch the same transaction or the same customer at the same time, nor out of
//! their queue order.
//!
//! The queue holds [`Event`]s, and knows of them only what `Event` says (its endpoint, its
//! transaction id, its customer key): it depends on no endpoint's payload. The requests'
//! `send_in_background` is written once, below.

mod backend;
mod losses;
mod queue;

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

pub use self::backend::Backend;
pub(super) use self::queue::{DEFAULT_CAPACITY, DEFAULT_MAX_IN_FLIGHT, Delivery};
#[cfg(doc)]
use super::Client;
use super::endpoint::Endpoint;
use super::event::{Event, IntoEvent};
use super::{ClickRequest, LeadRequest, RefundRequest, SaleRequest};

/// The counters of a client's background delivery. Read them with [`Client::delivery_stats`].
///
/// Every `send_in_background` call (see [sending in the background](Client#sending-in-the-background)) is counted in
/// [`pending`](Self::pending) while its event waits or is being sent, then exactly once in
/// [`delivered`](Self::delivered), [`failed`](Self::failed) or [`dropped`](Self::dropped).
/// Clones of a client share one queue and these counters. Inline `send().await` calls are not
/// counted. A [`Backend`] other than the in-memory queue fills them in its own way (an outbox's
/// are its own counters added to those of the queue it falls back to): see its documentation.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), affitor::Error> {
/// let client = affitor::Client::builder().api_key("aff_key").build()?;
/// let stats = client.delivery_stats();
/// assert_eq!(stats.queued, 0);
/// assert_eq!(stats.delivered + stats.failed + stats.dropped + stats.pending, 0);
/// # Ok(())
/// # }
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub struct DeliveryStats {
    /// Events accepted into the queue.
    pub queued: u64,
    /// Events the API answered with an outcome: any [`SaleOutcome`](crate::client::SaleOutcome) (a
    /// sale answered 409, already recorded, included), [`LeadOutcome`](crate::client::LeadOutcome),
    /// [`RefundOutcome`](crate::client::RefundOutcome) or [`ClickOutcome`](crate::client::ClickOutcome)
    /// (a click on an inactive link, `ClickOutcome::Inactive`, included: the API's answer, not
    /// a refusal of the call).
    pub delivered: u64,
    /// Retry attempts: each attempt after the first one of an event, whatever became of it.
    pub retried: u64,
    /// Events never sent, or abandoned: the queue was full, the client was shut down, there
    /// was no tokio runtime to run the worker, the event was still waiting or being sent when
    /// [`Client::shutdown`]'s deadline passed, or it was a lead or a click being sent when the
    /// worker's runtime stopped (a sale or a refund goes back to the queue instead).
    pub dropped: u64,
    /// Events given up on: invalid (never queued), refused by the API (a 4xx, or a lead's, a
    /// sale's or a refund's answer with `success: false`), an answer that could not be read, or
    /// retries that ran out
    /// (attempts or [`RetryPolicy::deadline`](crate::client::RetryPolicy::deadline)).
    pub failed: u64,
    /// Events in the queue now, waiting or being sent.
    pub pending: u64,
    /// Of [`pending`](Self::pending), the events being sent now: at most
    /// [`ClientBuilder::max_in_flight`](crate::client::ClientBuilder::max_in_flight).
    pub in_flight: u64,
    /// What limited delivery, losing events: of [`dropped`](Self::dropped), those refused
    /// because the queue held [`queue_capacity`](crate::client::ClientBuilder::queue_capacity) events.
    pub queue_full: u64,
    /// What limited delivery, delaying events: those queued while
    /// [`max_in_flight`](crate::client::ClientBuilder::max_in_flight) events were being sent, so that
    /// they waited for a free slot. Growing with `queue_full`, it says the API answers slower
    /// than events arrive: raise `max_in_flight`.
    pub in_flight_limited: u64,
}

/// An event that [`Client::shutdown`] could not deliver.
///
/// ```
/// # async fn stop(client: affitor::Client) {
/// use std::time::Duration;
///
/// for event in client.shutdown(Duration::from_secs(5)).await.undelivered {
///     eprintln!("{} {:?}: {:?}", event.endpoint, event.transaction_id, event.reason);
/// }
/// # }
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct UndeliveredEvent {
    /// Where it was going: [`Endpoint::Click`], [`Endpoint::Lead`], [`Endpoint::Sale`] or
    /// [`Endpoint::Refund`].
    pub endpoint: Endpoint,
    /// The transaction id of a sale or a refund; `None` for a lead or a click.
    pub transaction_id: Option<String>,
    /// What became of it.
    pub reason: UndeliveredReason,
}

/// Why [`Client::shutdown`] could not deliver an event.
///
/// ```
/// use affitor::client::UndeliveredReason;
///
/// fn may_be_recorded(reason: UndeliveredReason) -> bool {
///     matches!(reason, UndeliveredReason::Interrupted)
/// }
/// assert!(!may_be_recorded(UndeliveredReason::NotSent));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum UndeliveredReason {
    /// Given up on during the flush: the API refused it, or its retries ran out. Counted in
    /// [`DeliveryStats::failed`].
    Failed,
    /// It was being sent when the deadline passed, or it was a lead or a click being sent when
    /// the worker's runtime stopped during the flush (a sale or a refund is then sent again):
    /// the API may or may not have it. A sale or a refund can be sent again safely (its
    /// transaction id makes a repeat harmless). Counted in [`DeliveryStats::dropped`].
    Interrupted,
    /// It was still waiting in the queue when the deadline passed: never sent. Counted in
    /// [`DeliveryStats::dropped`].
    NotSent,
}

/// What [`Client::shutdown`] did with the events queued before it: how many it delivered, and
/// which ones it could not.
///
/// Two scopes. [`delivered`](Self::delivered), [`failed`](Self::failed),
/// [`undelivered`](Self::undelivered) and [`kept`](Self::kept) tell of the flush, from the
/// moment the client stopped accepting events; [`stats`](Self::stats) and
/// [`not_delivered`](Self::not_delivered) tell of the client's whole life, and so count the
/// events the API refused before the shutdown too: log `not_delivered`, not
/// `undelivered.len()`, as "N events not delivered".
///
/// ```
/// # async fn stop(client: affitor::Client) {
/// use std::time::Duration;
///
/// let report = client.shutdown(Duration::from_secs(10)).await;
/// match report.not_delivered() {
///     0 => println!("every event delivered ({} during the flush)", report.delivered),
///     lost => eprintln!(
///         "{lost} events not delivered: {} refused or given up on, {} dropped, {} kept",
///         report.stats.failed, report.stats.dropped, report.kept
///     ),
/// }
/// # }
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct DeliveryReport {
    /// Events delivered since the client stopped accepting new ones.
    pub delivered: u64,
    /// Events given up on since the client stopped accepting new ones: refused by the API (a
    /// 4xx, or a lead's, a sale's or a refund's answer with `success: false`), an answer that
    /// could not be read, or retries that ran out. The in-memory queue also lists each in
    /// [`undelivered`](Self::undelivered), as [`UndeliveredReason::Failed`]; an outbox counts
    /// here the dead letters of its flush.
    pub failed: u64,
    /// Events not delivered since the client stopped accepting new ones: given up on during
    /// the flush, or still waiting or being sent at the deadline. At most the queue capacity.
    pub undelivered: Vec<UndeliveredEvent>,
    /// Events left in a durable store when the flush ended (an outbox's rows, whoever wrote
    /// them), sent at its next start: not lost, and not listed in
    /// [`undelivered`](Self::undelivered). Always 0 for the in-memory queue.
    pub kept: u64,
    /// The client's counters once the flush ended.
    pub stats: DeliveryStats,
}

impl DeliveryReport {
    /// Whether every event queued before the shutdown was delivered: none given up on, none
    /// left undelivered, none kept for later. Events refused before the shutdown are not
    /// counted here: see [`not_delivered`](Self::not_delivered).
    ///
    /// ```
    /// assert!(affitor::client::DeliveryReport::default().is_complete());
    /// ```
    pub fn is_complete(&self) -> bool {
        self.undelivered.is_empty() && self.failed == 0 && self.kept == 0
    }

    /// How many events handed to the background delivery since the client was built were not
    /// delivered: those given up on ([`DeliveryStats::failed`]: refused by the API, invalid, out
    /// of retries; before the shutdown or during it), those dropped
    /// ([`DeliveryStats::dropped`]: never sent, or cut short), and those [`kept`](Self::kept)
    /// in a durable store for its next start. The honest number for "N events not delivered".
    ///
    /// ```
    /// assert_eq!(affitor::client::DeliveryReport::default().not_delivered(), 0);
    /// ```
    pub fn not_delivered(&self) -> u64 {
        self.stats.failed + self.stats.dropped + self.kept
    }
}

/// The in-memory queue as a backend: the one [`ClientBuilder::build`](super::ClientBuilder::build)
/// installs.
impl Backend for Delivery {
    fn deliver(&self, event: Event) {
        self.enqueue(event);
    }

    fn accept(&self, event: Event) -> Pin<Box<dyn Future<Output = ()> + Send + '_>> {
        Box::pin(Delivery::accept(self, event))
    }

    fn flush(
        &self,
        deadline: Duration,
    ) -> Pin<Box<dyn Future<Output = DeliveryStats> + Send + '_>> {
        Box::pin(Delivery::flush(self, deadline))
    }

    fn shutdown(
        &self,
        deadline: Duration,
    ) -> Pin<Box<dyn Future<Output = DeliveryReport> + Send + '_>> {
        Box::pin(async move {
            let mut report = Delivery::shutdown(self, deadline).await;
            let failed = report.undelivered.iter();
            let failed = failed.filter(|event| event.reason == UndeliveredReason::Failed);
            report.failed = failed.count() as u64;
            report
        })
    }

    fn stats(&self) -> DeliveryStats {
        Delivery::stats(self)
    }

    fn name(&self) -> &'static str {
        "memory queue"
    }
}

/// The requests' `send_in_background` and `enqueue`: each validates into an [`Event`] and hands
/// it to its client's backend; the in-memory queue counts and logs an invalid one.
macro_rules! send_in_background {
    ($($(#[$doc:meta])* $request:ident;)*) => {$(
        impl $request {
            $(#[$doc])*
            pub fn send_in_background(self) {
                let client = self.client.clone();
                client.send_validated_in_background(self.into_event());
            }

            /// Hands the event to the client's [`Backend`], as `send_in_background` does, and
            /// waits until the backend holds it ([`Backend::accept`]): with the in-memory
            /// queue, at once, or while it is full until an event leaves it, 2 s at most
            /// (then the event is dropped, counted in
            /// [`DeliveryStats::queue_full`](crate::client::DeliveryStats::queue_full));
            /// with a durable outbox, until its row is committed (a few
            /// milliseconds, as the outbox writes the rows that wait together), and when the
            /// store is behind, up to the outbox's enqueue timeout, after which the event goes
            /// to the memory queue. Never fails the request in progress.
            ///
            /// Use it where the answer should mean "stored": the request waits for the store
            /// rather than its event leaving it (backpressure), and an event it was waiting
            /// for is never only in memory when the process stops.
            ///
            /// ```
            /// # async fn signup(client: affitor::Client) {
            /// client.lead("user_123").email("ada@example.com").enqueue().await;
            /// # }
            /// ```
            pub async fn enqueue(self) {
                let client = self.client.clone();
                client.enqueue_validated(self.into_event()).await;
            }
        }
    )*};
}

send_in_background! {
/// Hands the lead to the client's [`Backend`] and returns at once: see
/// [sending in the background](Client#sending-in-the-background). An invalid lead (neither
/// a customer key nor a click id) is logged and counted as failed.
///
/// ```
/// # async fn signup(client: affitor::Client, click_id: Option<affitor::ClickId>) {
/// client.lead("user_123").click_id(click_id).send_in_background();
/// # }
/// ```
LeadRequest;

/// Hands the sale to the client's [`Backend`] and returns at once: see
/// [sending in the background](Client#sending-in-the-background). An invalid sale is logged
/// and counted as failed. A queued sale fails for good while the API refuses the key
/// (during a key rotation, say): where the caller can ask for a redelivery, prefer
/// [`send`](Self::send).
///
/// ```
/// # async fn paid(client: affitor::Client) {
/// client.sale("in_1001", 4900).customer_key("user_123").send_in_background();
/// # }
/// ```
SaleRequest;

/// Hands the refund to the client's [`Backend`] and returns at once: see
/// [sending in the background](Client#sending-in-the-background). It is never sent before
/// a sale of the same transaction queued earlier. An invalid refund is logged and counted
/// as failed.
///
/// ```
/// # async fn refunded(client: affitor::Client) {
/// client.refund("in_1001").reason("customer_request").send_in_background();
/// # }
/// ```
RefundRequest;

/// Hands the click to the client's [`Backend`] and returns at once: see
/// [sending in the background](Client#sending-in-the-background). Its answer (the click
/// id) is not available: use [`send`](Self::send) when you need it. An invalid click (no
/// affiliate URL) is logged and counted as failed.
///
/// ```
/// # async fn landed(client: affitor::Client) {
/// client.click("https://shop.example/?aff=abc123").send_in_background();
/// # }
/// ```
ClickRequest;
}
