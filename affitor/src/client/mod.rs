//! The Affitor API client: typed requests, typed outcomes, retries per endpoint.
//!
//! A map of the rooms, for "how is a sale sent?":
//!
//! - `mod.rs` (here): [`Client`], the handle every request starts from;
//! - `builder.rs`: [`ClientBuilder`], the configuration checked once; `api_key.rs`: the API
//!   key, redacted in `Debug` output;
//! - one file per endpoint, each with its builder, its wire payload (`Serialize`), the wire
//!   struct of its answer (`Deserialize`), its outcome and decoding, `send` and
//!   `send_in_background`: `lead.rs`, `sale/` (and the sale's [`Currency`], [`SaleType`],
//!   [`SubscriptionInterval`]), `refund.rs`, `click.rs`, and `readiness/` (the readiness read
//!   and the verification chain);
//! - `request.rs`: what every request builder shares (field cleaning, validation, redaction);
//! - `transport.rs`: the one call path, `Transport::call`: headers, the retry loop (which
//!   returns the attempts it took), reading the answer, the span;
//! - `answer.rs`: a final answer, handed to its endpoint's decoder; `lenient.rs`: the field
//!   readers that make the wire structs as forgiving as the API needs;
//! - `retry.rs`: [`RetryPolicy`] and the pure decision of whether and when to retry;
//! - `error.rs`: [`Error`] and [`ErrorKind`]; `error_body.rs`: the API's three error shapes;
//! - `delivery/`: [`Backend`], the one way an event leaves in the background, and its
//!   default, the in-memory queue with its worker and its counters; it sends through the
//!   transport, which knows nothing of it;
//! - `event.rs`: [`Event`], a validated request held as a value (what a durable outbox
//!   stores), [`IntoEvent`], and [`Client::send_event`];
//! - `bound.rs`: [`BoundClient`], the client bound to one request's click id;
//! - `endpoint.rs`: what the client needs to know of each [`Endpoint`].
//!
//! A sale sent inline: `Client::sale` → `SaleRequest` setters → `SaleRequest::send` validates
//! into a `SalePayload` → `Transport::call` (retry loop) → `SalePayload::decode` reads the
//! `SaleAnswer` into a [`SaleOutcome`]. In the background: `SaleRequest::send_in_background`
//! validates the same way and hands the event to the client's backend: the in-memory queue's
//! worker later sends it through the same `Transport::call` (an outbox stores it first, and its
//! relay sends it with `Client::send_event`).

mod answer;
mod api_key;
mod bound;
mod builder;
mod click;
mod delivery;
mod endpoint;
mod error;
mod error_body;
mod event;
mod lead;
mod lenient;
mod metrics;
pub(crate) mod readiness;
mod refund;
mod request;
mod retry;
mod sale;
mod transport;

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use crate::ClickId;

pub use self::bound::BoundClient;
pub use self::builder::ClientBuilder;
pub use self::click::{ClickOutcome, ClickRequest, Consent};
pub use self::delivery::{
    Backend, DeliveryReport, DeliveryStats, UndeliveredEvent, UndeliveredReason,
};
pub use self::error::{Error, ErrorKind};
pub use self::event::{Event, IntoEvent, Outcome};
pub use self::lead::{LeadOutcome, LeadRequest};
use self::readiness::{ReadinessRequest, VerificationRequest};
pub use self::refund::{RefundOutcome, RefundRequest};
pub use self::retry::RetryPolicy;
pub use self::sale::{Currency, SaleOutcome, SaleRequest, SaleType, SubscriptionInterval};
use self::transport::Transport;
pub use crate::endpoint::Endpoint;

/// The client of the Affitor API.
///
/// Cheap to clone: clones share one connection pool, one configuration and one background
/// queue. Build it once at start-up with [`Client::from_env`] or [`Client::builder`], and make
/// requests from it: [`lead`](Client::lead), [`sale`](Client::sale), [`refund`](Client::refund),
/// [`click`](Client::click), [`readiness`](Client::readiness), [`verification`](Client::verification).
///
/// ```no_run
/// use affitor::{Client, client::SaleOutcome};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), affitor::Error> {
/// let client = Client::from_env()?; // AFFITOR_API_KEY, AFFITOR_API_URL
/// match client.sale("in_1001", 4900).customer_key("user_42").send().await? {
///     SaleOutcome::Recorded { commission_id, .. } => println!("commission {commission_id:?}"),
///     SaleOutcome::AlreadyRecorded => println!("seen before"),
///     other => println!("{other:?}"),
/// }
/// # Ok(())
/// # }
/// ```
///
/// The API key never appears in `Debug` output, errors or logs:
///
/// ```
/// let client = affitor::Client::builder().api_key("aff_live_s3cret").build()?;
/// assert!(!format!("{client:?}").contains("s3cret"));
/// # Ok::<(), affitor::Error>(())
/// ```
///
/// # Sending in the background
///
/// Each tracking request has two ways to go: `send().await`, which returns the outcome or the
/// error, and `send_in_background()`, which hands the event to the client's [`Backend`] and
/// returns at once. The backend is the client's in-memory queue and its background worker,
/// unless [`Client::with_backend`] installed another (a durable outbox): whichever it is,
/// [`Client::flush`], [`Client::shutdown`] and [`Client::delivery_stats`] go through it, so the
/// app flushes, stops and watches its delivery on the client alone. `send_in_background` never
/// blocks and never fails the request in progress; with the in-memory queue:
///
/// - an invalid event is logged at `warn` and counted as [`failed`](DeliveryStats::failed);
/// - an event that finds the queue full ([`ClientBuilder::queue_capacity`]) or the client shut
///   down is counted as [`dropped`](DeliveryStats::dropped) and named at `debug`; a `warn`
///   says how many were dropped, at most once every 10 s (an overload is not a flood of
///   lines), and so for the events given up on;
/// - the worker sends each event as `send` does, with the same retries, never two events of
///   the same transaction or the same customer at once nor out of their queue order (a refund
///   waits for its sale, a sale named by customer key for that customer's lead);
/// - [`Client::delivery_stats`] says what became of the events, and [`Client::shutdown`]
///   flushes the queue before the process exits.
///
/// A request's `enqueue().await` is the way to wait rather than lose: it returns once the
/// event is queued, and while the queue is full it waits for an event to leave it, 2 s at
/// most (an event still without room is then dropped, as above).
///
/// Call it from within a tokio runtime; the worker runs on the one the client was built on,
/// while it runs, else on the caller's. Where the caller can ask for a redelivery (a payment
/// webhook answering 503), prefer `send` and its error: nothing is then lost when the process
/// stops.
///
/// ```
/// # async fn paid(client: affitor::Client) {
/// client.sale("in_1001", 4900).customer_key("user_123").send_in_background();
/// # }
/// ```
#[derive(Clone)]
pub struct Client {
    inner: Arc<Inner>,
    /// Where every background event goes: `inner.memory`, unless [`Client::with_backend`]
    /// installed another.
    backend: Arc<dyn Backend>,
}

struct Inner {
    transport: Arc<Transport>,
    base_url: String,
    test_mode: bool,
    program_id: Option<String>,
    /// The in-memory queue: the backend the builder installs, and the one a backend falls
    /// back to ([`Client::with_memory_queue`]). It holds the transport, not the client.
    memory: Arc<delivery::Delivery>,
}

impl Client {
    /// A builder, to set the API key and the rest.
    ///
    /// ```
    /// use std::time::Duration;
    ///
    /// let client = affitor::Client::builder()
    ///     .api_key("aff_live_key")
    ///     .timeout(Duration::from_secs(5))
    ///     .build()?;
    /// # Ok::<(), affitor::Error>(())
    /// ```
    pub fn builder() -> ClientBuilder {
        ClientBuilder::default()
    }

    /// A client configured from the environment: the key from `AFFITOR_API_KEY`, the base URL
    /// from `AFFITOR_API_URL` (or its alias `AFFITOR_API_BASE`; `https://api.affitor.com`
    /// when neither is set), plain `http://` to another machine with
    /// `AFFITOR_ALLOW_INSECURE_HTTP=1`. [`ClientBuilder::from_env`] reads the same, for a
    /// client that sets more (a user agent, a timeout).
    ///
    /// # Errors
    ///
    /// [`ErrorKind::MissingApiKey`] when `AFFITOR_API_KEY` is unset or empty, and the errors of
    /// [`ClientBuilder::build`].
    ///
    /// ```no_run
    /// let client = affitor::Client::from_env()?;
    /// # Ok::<(), affitor::Error>(())
    /// ```
    pub fn from_env() -> Result<Self, Error> {
        ClientBuilder::from_env().build()
    }

    /// Starts a lead: the user `customer_key` signed up. Pass `""` when only the click id is
    /// known, and set it with [`LeadRequest::click_id`].
    ///
    /// ```
    /// # async fn run(client: affitor::Client) -> Result<(), affitor::Error> {
    /// let outcome = client.lead("user_123").email("ada@example.com").send().await?;
    /// # Ok(())
    /// # }
    /// ```
    pub fn lead(&self, customer_key: impl Into<String>) -> LeadRequest {
        LeadRequest::new(self.clone(), customer_key.into())
    }

    /// Starts a sale of `amount_cents` (in minor units), keyed by `transaction_id`, the payment
    /// processor's invoice or charge id (the idempotency key).
    ///
    /// ```
    /// # async fn run(client: affitor::Client) -> Result<(), affitor::Error> {
    /// let outcome = client.sale("in_1001", 4900).customer_key("user_123").send().await?;
    /// # Ok(())
    /// # }
    /// ```
    pub fn sale(&self, transaction_id: impl Into<String>, amount_cents: u64) -> SaleRequest {
        SaleRequest::new(self.clone(), transaction_id.into(), amount_cents)
    }

    /// Starts a refund of the sale keyed by `transaction_id` (the original sale's id).
    ///
    /// ```
    /// # async fn run(client: affitor::Client) -> Result<(), affitor::Error> {
    /// let outcome = client.refund("in_1001").send().await?;
    /// # Ok(())
    /// # }
    /// ```
    pub fn refund(&self, transaction_id: impl Into<String>) -> RefundRequest {
        RefundRequest::new(self.clone(), transaction_id.into())
    }

    /// Starts a server-side click on `affiliate_url`, the landing URL with its `?aff=` code.
    ///
    /// ```
    /// # async fn run(client: affitor::Client) -> Result<(), affitor::Error> {
    /// let outcome = client.click("https://shop.example/?aff=abc123").send().await?;
    /// # Ok(())
    /// # }
    /// ```
    pub fn click(&self, affiliate_url: impl Into<String>) -> ClickRequest {
        ClickRequest::new(self.clone(), affiliate_url.into())
    }

    /// Starts a read of the program's readiness.
    ///
    /// ```
    /// # async fn run(client: affitor::Client) -> Result<(), affitor::Error> {
    /// let readiness = client.readiness().force_recheck(true).send().await?;
    /// # Ok(())
    /// # }
    /// ```
    pub fn readiness(&self) -> ReadinessRequest {
        ReadinessRequest::new(self.clone())
    }

    /// Starts a verification of the integration: the synthetic chain, then readiness polls.
    ///
    /// ```
    /// # async fn run(client: affitor::Client) -> Result<(), affitor::Error> {
    /// let verification = client.verification().send().await?;
    /// # Ok(())
    /// # }
    /// ```
    pub fn verification(&self) -> VerificationRequest {
        VerificationRequest::new(self.clone())
    }

    /// The base URL, without a trailing `/`.
    ///
    /// ```
    /// let client = affitor::Client::builder().api_key("aff_key").build()?;
    /// assert_eq!(client.base_url(), "https://api.affitor.com");
    /// # Ok::<(), affitor::Error>(())
    /// ```
    pub fn base_url(&self) -> &str {
        &self.inner.base_url
    }

    /// This client, bound to a request's click id: see [`BoundClient`].
    ///
    /// ```
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let client = affitor::Client::builder().api_key("aff_example").build()?;
    /// let affitor = client.bind(None); // a request without a click id
    /// assert!(affitor.click_id().is_none());
    /// # Ok(())
    /// # }
    /// ```
    pub fn bind(&self, click_id: Option<ClickId>) -> BoundClient {
        BoundClient::new(self.clone(), click_id)
    }

    /// The counters of the background delivery, shared by every clone of this client: its
    /// [`Backend`]'s.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), affitor::Error> {
    /// let client = affitor::Client::builder().api_key("aff_key").build()?;
    /// client.sale("in_1", 0).customer_key("user_1").send_in_background(); // an invalid amount
    /// assert_eq!(client.delivery_stats().failed, 1);
    /// # Ok(())
    /// # }
    /// ```
    pub fn delivery_stats(&self) -> DeliveryStats {
        self.backend.stats()
    }

    /// Waits until every event queued so far (and any queued meanwhile) is delivered (by a
    /// durable backend, stored) or given up on, or until `deadline` passes, and returns the
    /// counters then: `pending` is 0 when the queue was emptied. Its [`Backend`] does the
    /// waiting: an outbox waits until this process's writes are committed (then for what fell
    /// back to memory), not for its store to empty; its relay delivers what is stored. Unlike
    /// [`shutdown`](Self::shutdown), the client keeps taking events: call it at the end of a
    /// batch job, before a test's assertions, or before a serverless invocation freezes the
    /// process.
    ///
    /// ```
    /// # async fn job(client: affitor::Client) {
    /// use std::time::Duration;
    ///
    /// client.lead("user_123").send_in_background();
    /// let stats = client.flush(Duration::from_secs(5)).await;
    /// if stats.pending > 0 {
    ///     eprintln!("{} events still on their way", stats.pending);
    /// }
    /// client.lead("user_124").send_in_background(); // still taken
    /// # }
    /// ```
    pub async fn flush(&self, deadline: Duration) -> DeliveryStats {
        self.backend.flush(deadline).await
    }

    /// Stops the background delivery: from now on [`send_in_background`] drops events (counted
    /// and logged), while the events already queued are sent, with retries, until they are all
    /// settled or until `deadline` passes. Then reports what it could not deliver. Inline
    /// `send().await` calls keep working. It stops the client's [`Backend`], and what that one
    /// sends through: with an outbox, its relay and the in-memory queue it falls back to; see
    /// [`DeliveryReport::not_delivered`] for what to log. A second call is harmless.
    ///
    /// Call it once, after the web server has stopped taking requests, so that the events
    /// those last requests queued are sent before the process exits. An event whose retries
    /// outlast the deadline ([`RetryPolicy::deadline`](crate::client::RetryPolicy::deadline)) is
    /// reported as [`Interrupted`](UndeliveredReason::Interrupted).
    ///
    /// With axum, after [`with_graceful_shutdown`]:
    ///
    /// ```no_run
    /// use std::time::Duration;
    /// use axum::{Router, routing::get};
    ///
    /// # #[tokio::main]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let client = affitor::Client::from_env()?;
    /// let app = Router::new().route("/", get(|| async { "ok" })); // with the client inside
    /// let listener = tokio::net::TcpListener::bind("127.0.0.1:3000").await?;
    /// axum::serve(listener, app)
    ///     .with_graceful_shutdown(async {
    ///         let _ = tokio::signal::ctrl_c().await;
    ///     })
    ///     .await?;
    /// // No request is in progress any more: flush what the requests queued.
    /// let report = client.shutdown(Duration::from_secs(10)).await;
    /// for event in &report.undelivered {
    ///     eprintln!("not delivered: {} {:?}", event.endpoint, event.transaction_id);
    /// }
    /// # Ok(())
    /// # }
    /// ```
    ///
    /// With actix-web, whose server future ends after its own graceful stop (on SIGINT or
    /// SIGTERM, within `HttpServer::shutdown_timeout`), it is the same: `.await` the server,
    /// then call `client.shutdown(..)` (the `affitor-actix` crate and its `actix-signup`
    /// example show it whole).
    ///
    /// [`send_in_background`]: SaleRequest::send_in_background
    /// [`with_graceful_shutdown`]: https://docs.rs/axum/0.8/axum/serve/struct.Serve.html#method.with_graceful_shutdown
    pub async fn shutdown(&self, deadline: Duration) -> DeliveryReport {
        self.backend.shutdown(deadline).await
    }

    /// The call path that every request takes.
    fn transport(&self) -> &Transport {
        &self.inner.transport
    }

    /// Whether the client is in [test mode](ClientBuilder::test_mode).
    fn test_mode(&self) -> bool {
        self.inner.test_mode
    }
}

/// A `Client` is the client it holds; with [`BoundClient`]'s and the adapters' `AffitorClient`'s
/// own `AsRef<Client>`, one signature (`client: impl AsRef<Client>`) takes any of them.
impl AsRef<Client> for Client {
    fn as_ref(&self) -> &Client {
        self
    }
}

impl fmt::Debug for Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let inner = &*self.inner;
        f.debug_struct("Client")
            .field("base_url", &inner.base_url)
            .field("api_key", &inner.transport.api_key)
            .field("user_agent", &inner.transport.user_agent)
            .field("timeout", &inner.transport.timeout)
            .field("retry", &inner.transport.retry)
            .field("test_mode", &inner.test_mode)
            .field("program_id", &inner.program_id)
            .field("backend", &self.backend.name())
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clones_share_one_configuration() {
        let client = Client::builder().api_key("aff_key").build().unwrap();
        let clone = client.clone();
        assert!(Arc::ptr_eq(&client.inner, &clone.inner));
    }
}
