//! Affitor affiliate tracking for Rust web backends.
//!
//! A partner shares a link (`?aff=CODE`); the Affitor browser tracker stores the click id in the
//! first-party cookie `affitor_click_id`; your backend reports the signup (a lead) and the payment
//! (a sale, or a refund) to the Affitor tracking API, and the partner earns a commission.
//!
//! ```
//! # #[cfg(all(feature = "layer", feature = "client"))]
//! # async fn run() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
//! use affitor_tower::{AffitorLayer, ClickIdLookup, Client};
//! use tower::{ServiceBuilder, ServiceExt};
//!
//! let affitor = Client::from_env()?; // AFFITOR_API_KEY, and AFFITOR_API_URL if not the default
//!
//! // Any Tower service: the layer finds the click id and carries the client.
//! let signup = tower::service_fn(|request: http::Request<_>| async move {
//!     let click_id = request.extensions().get::<ClickIdLookup>().and_then(|l| l.click_id().cloned());
//!     let affitor = request.extensions().get::<Client>().cloned().expect("the layer carries it");
//!     // ... create the user ...
//!     affitor.bind(click_id).lead("user_123").send_in_background(); // never waits on Affitor
//!     Ok::<_, std::convert::Infallible>(http::Response::new(String::new()))
//! });
//! let service = ServiceBuilder::new().layer(AffitorLayer::new().client(affitor)).service(signup);
//!
//! let request = http::Request::post("/api/signup")
//!     .header("cookie", "affitor_click_id=cust_42_1714000000000")
//!     .body(http_body_util::Empty::<bytes::Bytes>::new())?;
//! service.oneshot(request).await?;
//! # Ok(())
//! # }
//! ```
//!
//! This crate is the framework-agnostic core; `affitor-axum` and `affitor-actix` build on it:
//! - [`ClickId`], the validated click id, [`ClickIdLookup`], what the lookup found in a request,
//!   and [`ClickIdSearch`], where it searches;
//! - `AffitorLayer` (feature `layer`), a Tower layer that finds the click id in a header, a cookie
//!   or a JSON or form body field, and passes the body on byte for byte;
//! - `Client` (feature `client`), the typed, retrying client of the Affitor API, with background
//!   delivery;
//! - `CaptureClicks` (feature `capture`, on by default), partner links captured on the server:
//!   with `AffitorLayer::capture_clicks`, a visit to `?aff=CODE` is recorded as a click and the
//!   response sets the tracker's cookies, with no JavaScript; the `capture` module has its rules
//!   and the steps an adapter drives;
//! - `webhook` (feature `webhook`), Stripe and Polar payment webhooks verified and tracked as
//!   sales and refunds;
//! - `mock` (feature `mock`), a local stand-in of the Affitor API for your tests;
//! - [`adapter`], the lookup's plumbing, for authors of an adapter to another HTTP library.
#![cfg_attr(docsrs, feature(doc_cfg))]

mod click_id;
#[cfg(any(feature = "client", feature = "mock"))]
mod endpoint;
mod lookup;
/// The parsers under the lookup, public for the fuzz targets only: not part of the API.
#[doc(hidden)]
pub mod parse;

#[cfg(feature = "capture")]
pub mod capture;
#[cfg(feature = "client")]
mod client;
#[cfg(feature = "layer")]
mod layer;
#[cfg(feature = "mock")]
pub mod mock;
#[cfg(feature = "webhook")]
pub mod webhook;

#[cfg(feature = "capture")]
pub use capture::CaptureClicks;
pub use click_id::{ClickId, ClickIdLookup, ClickIdSource, InvalidClickId, RejectedClickId};
#[cfg(feature = "client")]
pub use client::{
    BoundClient, ClickOutcome, ClickRequest, Client, ClientBuilder, Currency, DeliveryReport,
    DeliveryStats, Error, ErrorKind, Event, IntoEvent, LeadOutcome, LeadRequest, RefundOutcome,
    RefundRequest, RetryPolicy, SaleOutcome, SaleRequest, SaleType, SubscriptionInterval,
    UndeliveredEvent, UndeliveredReason,
};
#[cfg(any(feature = "client", feature = "mock"))]
pub use endpoint::Endpoint;
/// Is the integration live? The program's readiness gates and the synthetic verification chain,
/// as the Affitor CLI's onboarding check reads them: [`Client::readiness`] and
/// [`Client::verification`].
///
/// ```
/// use affitor_tower::readiness::{Readiness, ReadinessState};
///
/// # async fn check(client: affitor_tower::Client) -> Result<(), affitor_tower::Error> {
/// let readiness: Readiness = client.readiness().send().await?;
/// if readiness.state != ReadinessState::LiveVerified {
///     eprintln!("not live yet: {:?}, blocked by {:?}", readiness.state, readiness.blocker);
/// }
/// # Ok(())
/// # }
/// ```
#[cfg(feature = "client")]
pub mod readiness {
    pub use crate::client::{
        ChainRun, ChainVerdict, EventCounts, EventTimes, Gate, GateReport, GateStatus, Gates,
        Readiness, ReadinessRequest, ReadinessState, StepVerdict, Verification,
        VerificationRequest,
    };
}
#[cfg(feature = "layer")]
pub use layer::{AffitorBody, AffitorLayer, AffitorService, ResponseFuture};
pub use lookup::ClickIdSearch;

/// The click id lookup as an adapter drives it: for authors of an adapter to another HTTP
/// library. axum and actix-web users never need it: `AffitorLayer` and the actix middleware run
/// it for them.
///
/// An adapter runs the lookup in two steps over a request, and inserts the [`ClickIdLookup`]
/// it ends with into the request:
///
/// 1. [`lookup_headers`](adapter::lookup_headers) looks in the headers and cookies, asking the
///    adapter for each [`WantedHeader`](adapter::WantedHeader). It ends the lookup
///    ([`HeaderLookup::Done`](adapter::HeaderLookup::Done)) or asks for the body
///    ([`HeaderLookup::ReadBody`](adapter::HeaderLookup::ReadBody)).
/// 2. The adapter reads the body up to [`BodyLookup::limit`](adapter::BodyLookup::limit) bytes,
///    keeping what it read to hand on to the handler byte for byte, and ends the lookup with
///    [`BodyLookup::finish`](adapter::BodyLookup::finish) (or
///    [`finish_without_body`](adapter::BodyLookup::finish_without_body) when the body was longer
///    or failed).
///
/// A [`ClickId`] extension set by an earlier middleware wins: an adapter that finds one skips
/// both steps and reports it as found in [`ClickIdSource::Extension`].
///
/// ```
/// use affitor_tower::adapter::{self, HeaderLookup};
/// use affitor_tower::{ClickIdLookup, ClickIdSearch};
///
/// // A request, as some HTTP library holds it.
/// let headers = [("content-type", "application/json")];
/// let body = br#"{"affitorClickId":"abc123"}"#;
///
/// let step = adapter::lookup_headers(&ClickIdSearch::default(), "POST", |header| {
///     let values = headers.iter().filter(|(name, _)| *name == header.name());
///     values.map(|(_, value)| value.as_bytes()).collect::<Vec<_>>()
/// });
/// let lookup: ClickIdLookup = match step {
///     HeaderLookup::Done(lookup) => lookup,
///     HeaderLookup::ReadBody(read) if body.len() <= read.limit() => read.finish(body),
///     HeaderLookup::ReadBody(read) => read.finish_without_body(),
/// };
/// assert_eq!(lookup.click_id().unwrap(), "abc123");
/// ```
pub mod adapter {
    pub use crate::lookup::{
        BodyKind, BodyLookup, HeaderLookup, WantedHeader, header_names, lookup_headers,
    };
}
