//! The Affitor API client for Rust: leads, sales and refunds reported to Affitor's tracking API,
//! inline or in the background, and payment webhooks verified and tracked as sales and refunds.
//!
//! A partner shares a link (`?aff=CODE`); the Affitor browser tracker stores the click id in the
//! first-party cookie `affitor_click_id`; your backend reports the signup (a lead) and the payment
//! (a sale, or a refund) to the Affitor tracking API, and the partner earns a commission.
//!
//! ```
//! # async fn signup(click_id: Option<affitor::ClickId>) -> Result<(), affitor::Error> {
//! use affitor::Client;
//! use affitor::client::SaleOutcome;
//!
//! let affitor = Client::from_env()?; // AFFITOR_API_KEY, and AFFITOR_API_URL if not the default
//!
//! // A signup: never waits on Affitor.
//! affitor.lead("user_123").click_id(click_id).send_in_background();
//!
//! // A payment: inline, with the outcome.
//! match affitor.sale("in_1001", 4900).customer_key("user_123").send().await? {
//!     SaleOutcome::Recorded { commission_id, .. } => println!("commission {commission_id:?}"),
//!     outcome => println!("{outcome:?}"),
//! }
//! # Ok(())
//! # }
//! ```
//!
//! This crate depends on no web framework. `affitor-tower` finds the click id in each request
//! (a Tower layer), `affitor-axum` and `affitor-actix` hand it and this client to a handler,
//! `affitor-outbox` stores events before they are sent, and `affitor-mock` is a local stand-in
//! of the API for your tests.
//!
//! At the root is what a handler uses: [`Client`], the [`ClickId`], the requests the client
//! builds ([`LeadRequest`], [`SaleRequest`], [`RefundRequest`], [`ClickRequest`]), [`Error`], and
//! [`ErrorReport`], which prints any error with its causes on one line.
//! Each module holds one concept:
//!
//! | module | what | feature |
//! |---|---|---|
//! | [`client`] | the client's builder and retry policy, the outcomes, the currencies, background delivery behind one [`Backend`](client::Backend) and its counters, events held as values | always |
//! | [`readiness`] | is the integration live: the program's gates and the synthetic verification chain | always |
//! | [`webhook`] | Stripe, Polar, Paddle and Lemon Squeezy payment webhooks, verified and tracked as sales and refunds | `webhook` |
//!
//! The client's TLS is `rustls` (a default feature) or, with `native-tls`, the platform's
//! (OpenSSL on Linux: `libssl-dev` and `pkg-config` to build); built with neither, it speaks
//! plain HTTP only (the stand-in's), and building a client for an `https` base URL warns
//! that its calls will fail, unless you give it a client of your own. On docs.rs each item
//! says which feature it needs.
//!
//! # The client on its own
//!
//! Requests are validated before any I/O, unset fields are never sent, and each answer is a
//! typed outcome ([`SaleOutcome`](client::SaleOutcome): `Recorded`, `AlreadyRecorded` for a
//! redelivered payment, `NotAttributed` for an organic sale):
//!
//! - Retries follow what is safe per endpoint: a sale retries timeouts, lost connections, 5xx,
//!   408, 425 and 429 (its transaction id makes a repeat harmless, and a 409 after a lost answer
//!   is reported as recorded); a lead or a click only when the request never reached the API,
//!   or on 408, 425, 429 and 503. The waits grow exponentially with full jitter, honour
//!   `Retry-After`, and stop at one deadline per call ([`RetryPolicy`](client::RetryPolicy)).
//! - The API key never appears in `Debug`, `Display`, logs or errors. Plain `http://` is
//!   refused except on loopback, unless you allow it
//!   ([`allow_insecure_http`](client::ClientBuilder::allow_insecure_http)).
//! - [`test_mode(true)`](client::ClientBuilder::test_mode) marks every event as a test event,
//!   which pays no partner.
//! - [`Client::verification`] runs the synthetic click → lead → sale chain, and
//!   [`Client::readiness`] reads the program's gates: is the integration live.
//!
//! # Background delivery
//!
//! `send_in_background()` hands the event to the client's
//! [`Backend`](client::Backend) and returns at once: by default an in-memory queue whose worker
//! sends up to [`max_in_flight`](client::ClientBuilder::max_in_flight) events at once (4,096:
//! an API that answers in 200 ms still takes about 20,000 a second). A full queue
//! ([`queue_capacity`](client::ClientBuilder::queue_capacity), 16,384, about 530 bytes an event)
//! drops the event and logs it, unless the request waits for room with `enqueue().await` (2 s at
//! most); [`Client::delivery_stats`] counts what was queued, delivered,
//! retried, dropped and failed, and what limited delivery (`queue_full`, `in_flight_limited`).
//! [`Client::flush`] waits for what was queued (at the end of a batch job, before a test's
//! assertions) and leaves the client usable; [`Client::shutdown`] flushes and stops: call it once
//! the server has stopped. A deploy, a crash or an out-of-memory kill loses what the queue still
//! holds: `affitor-outbox` is the durable [`Backend`](client::Backend) that writes each event to a
//! store first.
//!
//! # Delivery you can watch
//!
//! With the feature `metrics` (the same feature in `affitor-axum`, `affitor-actix` and
//! `affitor-outbox`), install any [`metrics`](https://docs.rs/metrics) recorder: the client
//! counts its events queued, delivered, retried, dropped and failed (by reason), times each
//! call, and gauges its queue. Each HTTP attempt is a `tracing` span with OpenTelemetry's HTTP
//! client attribute names (`http.request.method`, `server.address`, `url.full`,
//! `http.response.status_code`, `http.request.resend_count`, `error.type`); an outbox relay's
//! send of a row is an `affitor.outbox.deliver` span around them (`outbox.row`,
//! `affitor.endpoint`, `outbox.attempt`). Serve the figures (a Prometheus page, say) on an
//! address of their own, never on the app's public port: they are your business's leads and
//! sales.
//!
//! | Metric | Labels | Alert on |
//! |---|---|---|
//! | `affitor_events_dropped_total` | `endpoint`, `reason` (`queue_full`, `shut_down`, `no_runtime`, `interrupted`, `not_sent`) | any increase: commissions lost |
//! | `affitor_events_failed_total` | `endpoint`, `reason` (`invalid`, `refused`, `retries_exhausted`, `panicked`) | any increase |
//! | `affitor_requests_retried_total` | `endpoint` | a rate well above the usual: the API is struggling |
//! | `affitor_events_queued_total`, `affitor_events_delivered_total` | `endpoint` | queued growing apart from delivered |
//! | `affitor_request_duration_seconds` (histogram) | `endpoint`, `outcome` | p99 near the retry deadline |
//! | `affitor_delivery_pending` (gauge) | | near `queue_capacity` |
//! | `affitor_webhook_events_total` (feature `webhook`) | `provider`, `result` (`tracked`, `stored`, `ignored`, `kept`, `refused`, `attention`) | any `attention` (acknowledged, but a person must act); `kept` that keeps rising (answered 5xx: the provider keeps the event) |
//! | `affitor_outbox_events_total` (`affitor-outbox`) | `endpoint`, `result` (`enqueued`, `spilled`, `written_back`, `fell_back`, `delivered`, `rescheduled`, `dead_lettered`, `click_id_refused`, `customer_refused`, `interrupted`) | any `dead_lettered`, `fell_back` or `interrupted` |
//! | `affitor_outbox_waiting`, `affitor_outbox_in_flight` (gauges, `affitor-outbox`) | | waiting that keeps growing: the relay cannot keep up, or the API is down |
//! | `affitor_outbox_dead_letters` (gauge, `affitor-outbox`) | | above zero: events given up on, kept for a person to mend and retry |
//! | `affitor_outbox_spilled` (gauge, `affitor-outbox`) | | above zero for long: the store fails, and its events wait in memory to be written back |
//! | `affitor_outbox_journal_lost_total` (`affitor-outbox`) | | any increase: `affitor explain` misses those entries of the attribution journal |
//!
//! Partner-link capture counts what it did in `affitor_tower::capture::CaptureStats`
//! (`recorded`, `repeated`, and what each bound held back), for you to export beside these.
// Without the feature `webhook`, its module's link goes to docs.rs.
//!
#![cfg_attr(
    not(feature = "webhook"),
    doc = "[`webhook`]: https://docs.rs/affitor/latest/affitor/webhook/"
)]
#![cfg_attr(docsrs, feature(doc_cfg))]
// Doc examples compile without warnings (an unused import is an error); they may define a
// function they do not call, or bind a value only to show its type.
#![doc(test(attr(deny(warnings), allow(dead_code, unused_variables))))]

mod click_id;
pub mod client;
mod endpoint;
mod report;
mod throttle;
#[cfg(feature = "webhook")]
pub mod webhook;

pub use click_id::{ClickId, InvalidClickId};
pub use client::{ClickRequest, Client, Error, LeadRequest, RefundRequest, SaleRequest};
pub use report::ErrorReport;

/// Is the integration live? The program's readiness gates and the synthetic verification chain,
/// as the Affitor CLI's onboarding check reads them: [`Client::readiness`] and
/// [`Client::verification`].
///
/// ```
/// use affitor::readiness::{Readiness, ReadinessState};
///
/// # async fn check(client: affitor::Client) -> Result<(), affitor::Error> {
/// let readiness: Readiness = client.readiness().send().await?;
/// if readiness.state != ReadinessState::LiveVerified {
///     eprintln!("not live yet: {:?}, blocked by {:?}", readiness.state, readiness.blocker);
/// }
/// # Ok(())
/// # }
/// ```
pub mod readiness {
    pub use crate::client::readiness::{
        ChainRun, ChainVerdict, EventCounts, EventTimes, Gate, GateReport, GateStatus, Gates,
        Readiness, ReadinessRequest, ReadinessState, StepVerdict, Verification,
        VerificationRequest,
    };
}
