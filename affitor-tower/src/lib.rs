//! Affitor affiliate tracking for Rust web backends.
//!
//! A partner shares a link (`?aff=CODE`); the Affitor browser tracker stores the click id in the
//! first-party cookie `affitor_click_id`; your backend reports the signup (a lead) and the payment
//! (a sale, or a refund) to the Affitor tracking API, and the partner earns a commission.
//!
//! ```
//! # #[cfg(all(feature = "layer", feature = "client"))]
//! # async fn run() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
//! use affitor_tower::{AffitorLayer, Client, lookup::ClickIdLookup};
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
//! This crate is the framework-agnostic core; `affitor-axum` and `affitor-actix` build on it.
//! At the root is what a handler uses: [`AffitorLayer`], which finds the click id in each
//! request and carries the [`Client`]; the [`ClickId`]; the requests the client builds
//! ([`LeadRequest`], [`SaleRequest`], [`RefundRequest`], [`ClickRequest`]); and [`Error`]. Each
//! module holds one concept:
//!
//! | module | what | feature |
//! |---|---|---|
//! | [`client`] | the client's builder and retry policy, the outcomes, the currencies, background delivery and its counters, events held as values | `client` |
//! | [`layer`] | the Tower service, its response future and its replaying body | `layer` |
//! | [`lookup`] | where the click id is searched ([`ClickIdSearch`](lookup::ClickIdSearch)), what the lookup found, and the steps an adapter to another HTTP library drives | always |
//! | [`capture`] | partner links (`?aff=CODE`) captured on the server: a click recorded and the tracker's cookies set | `capture` (default) |
//! | [`readiness`] | is the integration live: the program's gates and the synthetic verification chain | `client` |
//! | [`webhook`] | Stripe, Polar, Paddle and Lemon Squeezy payment webhooks, verified and tracked as sales and refunds | `webhook` |
//! | [`mock`] | a local stand-in of the Affitor API for your tests | `mock` |
//!
//! Feature `metrics` counts what the client does with its events through the `metrics` facade
//! (see [`client`]). The client's TLS is `rustls` (a default feature) or, with `native-tls`,
//! the platform's; built with neither, it speaks plain HTTP only (the stand-in's).
#![cfg_attr(docsrs, feature(doc_cfg))]

mod click_id;
#[cfg(any(feature = "client", feature = "mock"))]
mod endpoint;
pub mod lookup;
mod throttle;
// The parsers under the lookup: public to the fuzz targets only (`cargo fuzz` builds with
// `--cfg fuzzing`), not part of the API.
#[cfg(fuzzing)]
#[doc(hidden)]
pub mod parse;
#[cfg(not(fuzzing))]
mod parse;

#[cfg(feature = "capture")]
pub mod capture;
#[cfg(feature = "client")]
pub mod client;
#[cfg(feature = "layer")]
pub mod layer;
#[cfg(feature = "mock")]
pub mod mock;
#[cfg(feature = "webhook")]
pub mod webhook;

pub use click_id::ClickId;
#[cfg(feature = "client")]
pub use client::{ClickRequest, Client, Error, LeadRequest, RefundRequest, SaleRequest};
#[cfg(feature = "layer")]
pub use layer::AffitorLayer;

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
    pub use crate::client::readiness::{
        ChainRun, ChainVerdict, EventCounts, EventTimes, Gate, GateReport, GateStatus, Gates,
        Readiness, ReadinessRequest, ReadinessState, StepVerdict, Verification,
        VerificationRequest,
    };
}
