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

//!
//! The queue holds [`Event`]s, and knows of them only what `Event` says (its endpoint, its
//! transaction id, its customer key): it depends on no endpoint's payload. The requests'
//! `send_in_background` is written once, below.

mod queue;

pub(super) use self::queue::{DEFAULT_CAPACITY, DEFAULT_MAX_IN_FLIGHT, Delivery};
use super::endpoint::Endpoint;
use std::sync::Arc;

use super::event::{Event, IntoEvent};
use super::{ClickRequest, Client, LeadRequest, RefundRequest, SaleRequest};

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
    /// [`RefundOutcome`](crate::client::RefundOutcome) or [`ClickOutcome`](crate::client::ClickOutcome).
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
/// ```
/// # async fn stop(client: affitor::Client) {
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
    /// assert!(affitor::client::DeliveryReport::default().is_complete());
    /// ```
    pub fn is_complete(&self) -> bool {
        self.undelivered.is_empty()
    }
}

/// Where a client's `send_in_background` hands its events, instead of its in-memory queue: a
/// durable outbox (`affitor_outbox::Outbox` is one), or a delivery of your own. Set it with
/// [`Client::with_backend`]; every handler keeps calling `send_in_background()`, whatever the
/// delivery.
///
/// [`deliver`](Self::deliver) is called in the handler, with the event validated: it must
/// return at once (spawn what it has to await), and must not lose the event: when it cannot
/// take one, it hands it to [`Client::send_event_in_background`] of a client without a
/// backend.
///
/// ```
/// use std::sync::{Arc, Mutex};
/// use affitor::Client;
/// use affitor::client::{Backend, Event};
///
/// /// Keeps the events, for a test.
/// #[derive(Default)]
/// struct Kept(Mutex<Vec<Event>>);
///
/// impl Backend for Kept {
///     fn deliver(&self, event: Event) {
///         self.0.lock().unwrap().push(event);
///     }
/// }
///
/// # fn main() -> Result<(), affitor::Error> {
/// let kept = Arc::new(Kept::default());
/// let client = Client::builder().api_key("aff_key").build()?.with_backend(kept.clone());
/// client.lead("user_1").click_id("cust_1".parse().ok()).send_in_background();
/// assert_eq!(kept.0.lock().unwrap().len(), 1);
/// # Ok(())
/// # }
/// ```
pub trait Backend: Send + Sync + 'static {
    /// Takes `event` for delivery, and returns at once.
    fn deliver(&self, event: Event);

    /// What it is, for the client's `Debug` output (default: its type's name).
    fn name(&self) -> &'static str {
        std::any::type_name::<Self>()
    }
}

impl<B: Backend + ?Sized> Backend for Arc<B> {
    fn deliver(&self, event: Event) {
        (**self).deliver(event);
    }

    fn name(&self) -> &'static str {
        (**self).name()
    }
}

impl Client {
    /// This client, its `send_in_background` handing events to `backend` instead of its
    /// in-memory queue; `send().await` is unchanged. Clones share the backend; the client it
    /// was made from keeps its queue (give that one to the backend, if it sends through a
    /// client: an outbox's relay does).
    ///
    /// ```
    /// use affitor::Client;
    /// # use affitor::client::{Backend, Event};
    /// # #[derive(Clone)] struct Outbox;
    /// # impl Backend for Outbox { fn deliver(&self, _: Event) {} }
    ///
    /// # fn main() -> Result<(), affitor::Error> {
    /// let direct = Client::builder().api_key("aff_key").build()?;
    /// // With `affitor-outbox`: `let outbox = Outbox::open("affitor-outbox.db", direct.clone()).await?;`
    /// # let outbox = Outbox;
    /// let client = direct.with_backend(outbox.clone()); // for the layer and the handlers
    /// client.lead("user_1").send_in_background(); // handed to the outbox
    /// # Ok(())
    /// # }
    /// ```
    #[must_use]
    pub fn with_backend(&self, backend: impl Backend) -> Client {
        Client {
            inner: Arc::clone(&self.inner),
            backend: Some(Arc::new(backend)),
        }
    }

    /// Queues an event for the client's background worker and returns at once, as the
    /// request's `send_in_background` does without a [`Backend`]: see
    /// [sending in the background](Client#sending-in-the-background). Always the in-memory
    /// queue, whatever the backend: an outbox hands an event here when its store cannot take
    /// it.
    ///
    /// ```
    /// # async fn fall_back(client: affitor::Client, event: affitor::client::Event) {
    /// client.send_event_in_background(event);
    /// # }
    /// ```
    pub fn send_event_in_background(&self, event: Event) {
        self.inner.delivery.queue(self, Ok(event));
    }

    /// Hands a validated request's event to the backend, or queues it.
    fn send_validated_in_background(&self, validated: Result<Event, super::Error>) {
        match (&self.backend, validated) {
            (Some(backend), Ok(event)) => backend.deliver(event),
            (_, validated) => self.inner.delivery.queue(self, validated),
        }
    }
}

/// The requests' `send_in_background`: each validates into an [`Event`] and hands it to its
/// client's queue, which counts and logs an invalid one.
macro_rules! send_in_background {
    ($($(#[$doc:meta])* $request:ident;)*) => {$(
        impl $request {
            $(#[$doc])*
            pub fn send_in_background(self) {
                let client = self.client.clone();
                client.send_validated_in_background(self.into_event());
            }
        }
    )*};
}

send_in_background! {
/// Queues the lead for the client's background worker and returns at once: see
/// [sending in the background](Client#sending-in-the-background). An invalid lead (neither
/// a customer key nor a click id) is logged and counted as failed.
///
/// ```
/// # async fn signup(client: affitor::Client, click_id: Option<affitor::ClickId>) {
/// client.lead("user_123").click_id(click_id).send_in_background();
/// # }
/// ```
LeadRequest;

/// Queues the sale for the client's background worker and returns at once: see
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

/// Queues the refund for the client's background worker and returns at once: see
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

/// Queues the click for the client's background worker and returns at once: see
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
