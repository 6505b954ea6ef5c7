//! The seam: [`Backend`], the one way an event leaves a client in the background, and the
//! client's methods that go through it.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use super::{DeliveryReport, DeliveryStats};
use crate::client::{Client, Error, Event, Outcome};

/// Where a client's background events go: its in-memory queue (what
/// [`ClientBuilder::build`](crate::client::ClientBuilder::build) installs), a durable outbox
/// (`affitor_outbox::Outbox` is one), or a delivery of your own, set with
/// [`Client::with_backend`]. Every handler keeps calling `send_in_background()`, whatever the
/// delivery, and the app calls [`Client::flush`], [`Client::shutdown`] and
/// [`Client::delivery_stats`] once, on the client: each asks the backend.
///
/// - [`deliver`](Self::deliver) is called in the handler, with the event validated (an invalid
///   request never gets here: the client's in-memory queue logs and counts it). It must return
///   at once (spawn what it has to await), and must not lose the event: when it cannot take
///   one, it hands it to [`Client::send_event_in_background`] of a client holding the memory
///   queue ([`Client::with_memory_queue`]), never of a client holding this backend.
/// - [`flush`](Self::flush) waits until what it took is delivered (by a durable backend,
///   stored) or given up on, within a deadline, and keeps taking events;
///   [`shutdown`](Self::shutdown) stops it for good, and stops what it sends through (the
///   memory queue it falls back to included), so that one `client.shutdown(deadline)` stops
///   everything. A second shutdown must be harmless.
/// - [`stats`](Self::stats) says what became of the events, as [`DeliveryStats`] defines.
/// - [`sent`](Self::sent) hears of each event the client sent itself, and its answer (a
///   backend that keeps a record of them, such as an outbox's journal); the default ignores it.
///
/// What a payment webhook needs to remember between deliveries, and where it stores a sale
/// before it answers the provider, is another seam: `affitor::webhook::PaymentState`, which an
/// outbox also implements.
///
/// The trait is object-safe: the client holds an `Arc<dyn Backend>`. A backend that hands
/// every event to the memory queue, counting the sales on the way:
///
/// ```
/// use std::future::Future;
/// use std::pin::Pin;
/// use std::sync::atomic::{AtomicU64, Ordering};
/// use std::sync::Arc;
/// use std::time::Duration;
///
/// use affitor::Client;
/// use affitor::client::{Backend, DeliveryReport, DeliveryStats, Endpoint, Event};
///
/// struct CountingSales {
///     /// A client holding the memory queue: never this backend.
///     queue: Client,
///     sales: AtomicU64,
/// }
///
/// impl Backend for CountingSales {
///     fn deliver(&self, event: Event) {
///         if event.endpoint() == Endpoint::Sale {
///             self.sales.fetch_add(1, Ordering::Relaxed);
///         }
///         self.queue.send_event_in_background(event);
///     }
///
///     fn flush(&self, deadline: Duration) -> Pin<Box<dyn Future<Output = DeliveryStats> + Send + '_>> {
///         Box::pin(self.queue.flush(deadline))
///     }
///
///     fn shutdown(&self, deadline: Duration) -> Pin<Box<dyn Future<Output = DeliveryReport> + Send + '_>> {
///         Box::pin(self.queue.shutdown(deadline))
///     }
///
///     fn stats(&self) -> DeliveryStats {
///         self.queue.delivery_stats()
///     }
/// }
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), affitor::Error> {
/// let direct = Client::builder().api_key("aff_key").base_url("http://127.0.0.1:9").build()?;
/// let counting = Arc::new(CountingSales { queue: direct.with_memory_queue(), sales: AtomicU64::new(0) });
/// let client = direct.with_backend(Arc::clone(&counting));
///
/// client.sale("in_1001", 4900).customer_key("user_1").send_in_background();
/// assert_eq!(counting.sales.load(Ordering::Relaxed), 1);
/// assert_eq!(client.delivery_stats().queued, 1);
///
/// let report = client.shutdown(Duration::ZERO).await; // no time to send it
/// assert_eq!(report.not_delivered(), 1);
/// # Ok(())
/// # }
/// ```
pub trait Backend: Send + Sync + 'static {
    /// Takes `event` for delivery, and returns at once.
    fn deliver(&self, event: Event);

    /// Takes `event` for delivery, as [`deliver`](Self::deliver) does, and resolves once it
    /// holds it: a durable backend once the event is written, or, when its store is slower
    /// than its own bound, once it has handed the event to the memory queue instead; the
    /// memory queue once the event is queued, waiting for room while it is full (2 s at most,
    /// then the event is dropped and counted). It never fails. This is how a request waits for
    /// the store when the store is behind (backpressure), rather than its event leaving the
    /// store. The default calls `deliver` and resolves at once. See the requests' `enqueue`.
    fn accept(&self, event: Event) -> Pin<Box<dyn Future<Output = ()> + Send + '_>> {
        self.deliver(event);
        Box::pin(std::future::ready(()))
    }

    /// Waits until every event taken so far is delivered (by a durable backend, stored: its
    /// relay owns it then) or given up on, or until `deadline` passes, and returns the counters
    /// then; keeps taking events meanwhile. See [`Client::flush`].
    fn flush(&self, deadline: Duration)
    -> Pin<Box<dyn Future<Output = DeliveryStats> + Send + '_>>;

    /// Stops taking events, sends what it holds within `deadline`, stops what it sends
    /// through, and reports what it could not deliver; harmless when called again. See
    /// [`Client::shutdown`].
    fn shutdown(
        &self,
        deadline: Duration,
    ) -> Pin<Box<dyn Future<Output = DeliveryReport> + Send + '_>>;

    /// Its counters now. See [`Client::delivery_stats`].
    fn stats(&self) -> DeliveryStats;

    /// What it is, for the client's `Debug` output (default: its type's name).
    fn name(&self) -> &'static str {
        std::any::type_name::<Self>()
    }

    /// Hears of an event the client sent itself, not through the backend (a request's
    /// `send().await`, [`Client::send_event`]), with the API's answer or the error `send`
    /// returns: for a backend that keeps a record of what was sent, such as an outbox's
    /// attribution journal. An invalid request is never sent, so never heard of, nor is a send
    /// whose future was dropped before the answer.
    ///
    /// It runs on the request's path, after the answer and before `send` returns: it must not
    /// block or wait (hand the record to a task, and drop it when that cannot keep up). The
    /// default does nothing, as the in-memory queue does.
    ///
    /// ```
    /// use affitor::client::{Backend, Event, Outcome};
    /// # use affitor::client::{DeliveryReport, DeliveryStats};
    /// # use std::{future::Future, pin::Pin, time::Duration};
    ///
    /// struct Logged;
    ///
    /// impl Backend for Logged {
    ///     fn sent(&self, event: &Event, answer: Result<&Outcome, &affitor::Error>) {
    ///         tracing::info!(endpoint = event.endpoint().name(), ok = answer.is_ok(), "sent");
    ///     }
    ///     // ...
    /// #   fn deliver(&self, _: Event) {}
    /// #   fn flush(&self, _: Duration) -> Pin<Box<dyn Future<Output = DeliveryStats> + Send + '_>> { Box::pin(async { DeliveryStats::default() }) }
    /// #   fn shutdown(&self, _: Duration) -> Pin<Box<dyn Future<Output = DeliveryReport> + Send + '_>> { Box::pin(async { DeliveryReport::default() }) }
    /// #   fn stats(&self) -> DeliveryStats { DeliveryStats::default() }
    /// }
    /// ```
    fn sent(&self, event: &Event, answer: Result<&Outcome, &Error>) {
        let _ = (event, answer);
    }
}

impl<B: Backend + ?Sized> Backend for Arc<B> {
    fn deliver(&self, event: Event) {
        (**self).deliver(event);
    }

    fn accept(&self, event: Event) -> Pin<Box<dyn Future<Output = ()> + Send + '_>> {
        (**self).accept(event)
    }

    fn flush(
        &self,
        deadline: Duration,
    ) -> Pin<Box<dyn Future<Output = DeliveryStats> + Send + '_>> {
        (**self).flush(deadline)
    }

    fn shutdown(
        &self,
        deadline: Duration,
    ) -> Pin<Box<dyn Future<Output = DeliveryReport> + Send + '_>> {
        (**self).shutdown(deadline)
    }

    fn stats(&self) -> DeliveryStats {
        (**self).stats()
    }

    fn name(&self) -> &'static str {
        (**self).name()
    }

    fn sent(&self, event: &Event, answer: Result<&Outcome, &Error>) {
        (**self).sent(event, answer);
    }
}

impl Client {
    /// This client, its background events handed to `backend` instead of its current one;
    /// `send().await` is unchanged. Clones share the backend. The client it was made from is
    /// unchanged, and the in-memory queue stays the one of both: a backend that sends through
    /// a client, or falls back to one, holds [`with_memory_queue`](Self::with_memory_queue)
    /// of it (an outbox takes care of that itself).
    ///
    /// ```
    /// use affitor::Client;
    /// # use affitor::client::{Backend, DeliveryReport, DeliveryStats, Event};
    /// # use std::{future::Future, pin::Pin, time::Duration};
    /// # #[derive(Clone)] struct Outbox;
    /// # impl Backend for Outbox {
    /// #     fn deliver(&self, _: Event) {}
    /// #     fn flush(&self, _: Duration) -> Pin<Box<dyn Future<Output = DeliveryStats> + Send + '_>> { Box::pin(async { DeliveryStats::default() }) }
    /// #     fn shutdown(&self, _: Duration) -> Pin<Box<dyn Future<Output = DeliveryReport> + Send + '_>> { Box::pin(async { DeliveryReport::default() }) }
    /// #     fn stats(&self) -> DeliveryStats { DeliveryStats::default() }
    /// # }
    ///
    /// # fn main() -> Result<(), affitor::Error> {
    /// let direct = Client::builder().api_key("aff_key").build()?;
    /// // With `affitor-outbox`: `let outbox = Outbox::open("affitor-outbox.db", direct.clone()).await?;`
    /// # let outbox = Outbox;
    /// let client = direct.with_backend(outbox); // for the layer and the handlers
    /// client.lead("user_1").send_in_background(); // handed to the outbox
    /// # Ok(())
    /// # }
    /// ```
    #[must_use]
    pub fn with_backend(&self, backend: impl Backend) -> Client {
        Client {
            inner: Arc::clone(&self.inner),
            backend: Arc::new(backend),
        }
    }

    /// This client with the backend [`ClientBuilder::build`](crate::client::ClientBuilder::build)
    /// installed: its in-memory queue, shared by every client made from the same build. What a
    /// [`Backend`] falls back to, or sends through, so that nothing it hands on comes back to
    /// it.
    ///
    /// ```
    /// # fn main() -> Result<(), affitor::Error> {
    /// let client = affitor::Client::builder().api_key("aff_key").build()?;
    /// let queue = client.with_memory_queue();
    /// assert!(format!("{queue:?}").contains("memory queue"));
    /// # Ok(())
    /// # }
    /// ```
    #[must_use]
    pub fn with_memory_queue(&self) -> Client {
        Client {
            inner: Arc::clone(&self.inner),
            backend: Arc::clone(&self.inner.memory) as Arc<dyn Backend>,
        }
    }

    /// Hands a validated event to the client's backend and returns at once, as the requests'
    /// `send_in_background` does: see [sending in the background](Client#sending-in-the-background).
    /// A backend falling back to the in-memory queue calls it on
    /// [`with_memory_queue`](Self::with_memory_queue).
    ///
    /// ```
    /// # async fn fall_back(client: affitor::Client, event: affitor::client::Event) {
    /// client.with_memory_queue().send_event_in_background(event);
    /// # }
    /// ```
    pub fn send_event_in_background(&self, event: Event) {
        self.backend.deliver(event);
    }

    /// Hands a validated event to the client's backend and waits until it holds it
    /// ([`Backend::accept`]), as the requests' `enqueue` does. A backend falling back to the
    /// in-memory queue on a request's path calls it on
    /// [`with_memory_queue`](Self::with_memory_queue), so that the request waits for room in a
    /// full queue rather than its event being dropped; bound the wait with a timeout. The
    /// event is the backend's from this call on: with the memory queue, a wait dropped before
    /// it ends, polled or not, drops the event and counts it, as a full queue's refusal is.
    ///
    /// ```
    /// # async fn fall_back(client: affitor::Client, event: affitor::client::Event) {
    /// let queue = client.with_memory_queue();
    /// let room = queue.enqueue_event(event);
    /// let _ = tokio::time::timeout(std::time::Duration::from_millis(500), room).await;
    /// # }
    /// ```
    pub fn enqueue_event(&self, event: Event) -> impl Future<Output = ()> + Send + '_ {
        self.backend.accept(event)
    }

    /// Hands a validated request's event to the backend; an invalid one is counted and logged
    /// by the in-memory queue.
    pub(in crate::client) fn send_validated_in_background(&self, validated: Result<Event, Error>) {
        match validated {
            Ok(event) => self.backend.deliver(event),
            Err(error) => self.inner.memory.queue(Err(error)),
        }
    }

    /// Tells the backend of `event`, sent inline, and its `answer` ([`Backend::sent`]), the
    /// answer made an [`Outcome`] by `outcome`.
    pub(in crate::client) fn sent<O: Clone>(
        &self,
        event: impl Into<Event>,
        answer: &Result<O, Error>,
        outcome: fn(O) -> Outcome,
    ) {
        let event = event.into();
        match answer {
            Ok(answer) => self.backend.sent(&event, Ok(&outcome(answer.clone()))),
            Err(error) => self.backend.sent(&event, Err(error)),
        }
    }

    /// Hands a validated request's event to the backend and waits until it holds it
    /// ([`Backend::accept`]); an invalid one is counted and logged by the in-memory queue.
    pub(in crate::client) async fn enqueue_validated(&self, validated: Result<Event, Error>) {
        match validated {
            Ok(event) => self.backend.accept(event).await,
            Err(error) => self.inner.memory.queue(Err(error)),
        }
    }
}
