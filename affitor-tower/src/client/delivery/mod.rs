//! Background delivery: what `send_in_background` does with an event.
//!
//! Each client holds one bounded queue (`queue.rs`), drained by one worker task that sends each
//! event through the client's [`Transport`](super::transport::Transport), as `send` does, and
//! a shutdown that flushes it within a deadline. The transport knows nothing of the queue: the
//! worker hands it the queue's retry counter with each event.
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

mod queue;

use std::sync::atomic::AtomicU64;

pub(super) use self::queue::{DEFAULT_CAPACITY, DEFAULT_MAX_IN_FLIGHT, Delivery};
use super::Client;
use super::click::{ClickOutcome, ClickPayload};
use super::endpoint::Endpoint;
use super::error::Error;
use super::lead::{LeadOutcome, LeadPayload};
use super::refund::{RefundOutcome, RefundPayload};
use super::sale::{SaleOutcome, SalePayload};
use super::transport::Transport;

/// The counters of a client's background delivery. Read them with [`Client::delivery_stats`].
///
/// Every `send_in_background` call (see [sending in the background](Client#sending-in-the-background)) is counted in
/// [`pending`](Self::pending) while its event waits or is being sent, then exactly once in
/// [`delivered`](Self::delivered), [`failed`](Self::failed) or [`dropped`](Self::dropped).
/// Clones of a client share one queue and these counters. Inline `send().await` calls are not
/// counted.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), affitor_tower::Error> {
/// let client = affitor_tower::Client::builder().api_key("aff_key").build()?;
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
    /// Events the API answered with an outcome: any [`SaleOutcome`](crate::SaleOutcome) (a
    /// sale answered 409, already recorded, included), [`LeadOutcome`](crate::LeadOutcome),
    /// [`RefundOutcome`](crate::RefundOutcome) or [`ClickOutcome`](crate::ClickOutcome).
    pub delivered: u64,
    /// Retry attempts: each attempt after the first one of an event, whatever became of it.
    pub retried: u64,
    /// Events never sent, or abandoned: the queue was full, the client was shut down, there
    /// was no tokio runtime to run the worker, the event was still waiting or being sent when
    /// [`Client::shutdown`]'s deadline passed, or it was a lead or a click being sent when the
    /// worker's runtime stopped (a sale or a refund goes back to the queue instead).
    pub dropped: u64,
    /// Events given up on: invalid (never queued), refused by the API (a 4xx, or an answer
    /// with `success: false`), an answer that could not be read, or retries that ran out
    /// (attempts or [`RetryPolicy::deadline`](crate::RetryPolicy::deadline)).
    pub failed: u64,
    /// Events in the queue now, waiting or being sent.
    pub pending: u64,
    /// Of [`pending`](Self::pending), the events being sent now: at most
    /// [`ClientBuilder::max_in_flight`](crate::ClientBuilder::max_in_flight).
    pub in_flight: u64,
    /// What limited delivery, losing events: of [`dropped`](Self::dropped), those refused
    /// because the queue held [`queue_capacity`](crate::ClientBuilder::queue_capacity) events.
    pub queue_full: u64,
    /// What limited delivery, delaying events: those queued while
    /// [`max_in_flight`](crate::ClientBuilder::max_in_flight) events were being sent, so that
    /// they waited for a free slot. Growing with `queue_full`, it says the API answers slower
    /// than events arrive: raise `max_in_flight`.
    pub in_flight_limited: u64,
}

/// An event that [`Client::shutdown`] could not deliver.
///
/// ```
/// # async fn stop(client: affitor_tower::Client) {
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
/// use affitor_tower::UndeliveredReason;
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
/// ```
/// # async fn stop(client: affitor_tower::Client) {
/// use std::time::Duration;
///
/// let report = client.shutdown(Duration::from_secs(10)).await;
/// if report.is_complete() {
///     println!("{} events flushed", report.delivered);
/// } else {
///     eprintln!("{} events not delivered", report.undelivered.len());
/// }
/// # }
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct DeliveryReport {
    /// Events delivered since the client stopped accepting new ones.
    pub delivered: u64,
    /// Events not delivered since the client stopped accepting new ones: given up on during
    /// the flush, or still waiting or being sent at the deadline. At most the queue capacity.
    pub undelivered: Vec<UndeliveredEvent>,
    /// The client's counters once the flush ended.
    pub stats: DeliveryStats,
}

impl DeliveryReport {
    /// Whether every event queued before the shutdown was delivered.
    ///
    /// ```
    /// assert!(affitor_tower::DeliveryReport::default().is_complete());
    /// ```
    pub fn is_complete(&self) -> bool {
        self.undelivered.is_empty()
    }
}

/// Queues a validated event for `client`'s worker, or counts and logs why it could not be
/// validated: the whole of every `send_in_background`.
pub(super) fn queue<P: Into<Payload>>(
    client: &Client,
    endpoint: Endpoint,
    validated: Result<(Client, P), Error>,
) {
    let delivery = &client.inner.delivery;
    match validated {
        Ok((_, payload)) => delivery.enqueue(client, payload.into()),
        Err(error) => delivery.invalid(endpoint, &error),
    }
}

/// A validated payload for one tracking endpoint: what the queue holds.
#[derive(Clone, Debug, PartialEq)]
pub(super) enum Payload {
    Click(ClickPayload),
    Lead(LeadPayload),
    Sale(SalePayload),
    Refund(RefundPayload),
}

/// The outcome of sending a [`Payload`].
#[derive(Clone, Debug, PartialEq)]
pub(super) enum Outcome {
    Click(ClickOutcome),
    Lead(LeadOutcome),
    Sale(SaleOutcome),
    Refund(RefundOutcome),
}

impl Payload {
    /// Sends the payload through `transport`, as `send` does, adding its retries to
    /// `retries` when given.
    pub(in crate::client) async fn send(
        &self,
        transport: &Transport,
        retries: Option<&AtomicU64>,
    ) -> Result<Outcome, Error> {
        match self {
            Self::Click(click) => transport
                .call_counting(click, retries)
                .await
                .result
                .map(Outcome::Click),
            Self::Lead(lead) => transport
                .call_counting(lead, retries)
                .await
                .result
                .map(Outcome::Lead),
            Self::Sale(sale) => transport
                .call_counting(sale, retries)
                .await
                .result
                .map(Outcome::Sale),
            Self::Refund(refund) => transport
                .call_counting(refund, retries)
                .await
                .result
                .map(Outcome::Refund),
        }
    }
}

macro_rules! payload_from {
    ($($variant:ident($payload:ty)),*) => {$(
        impl From<$payload> for Payload {
            fn from(payload: $payload) -> Self {
                Self::$variant(payload)
            }
        }
    )*};
}
payload_from!(
    Click(ClickPayload),
    Lead(LeadPayload),
    Sale(SalePayload),
    Refund(RefundPayload)
);
