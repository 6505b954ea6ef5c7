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
//! - [`ClickId`], the validated click id, and the lookup types shared by every adapter;
//! - `AffitorLayer` (feature `layer`), a Tower layer that finds the click id in a header, a cookie
//!   or a JSON or form body field, and passes the body on byte for byte;
//! - `Client` (feature `client`), the typed, retrying client of the Affitor API, with background
//!   delivery;
//! - `mock` (feature `mock`), a local stand-in of the Affitor API for your tests.
#![cfg_attr(docsrs, feature(doc_cfg))]

mod click_id;
#[cfg(any(feature = "client", feature = "mock"))]
mod endpoint;
mod lookup;
pub mod parse;

#[cfg(feature = "client")]
mod client;
#[cfg(feature = "layer")]
mod layer;
#[cfg(feature = "mock")]
pub mod mock;

pub use click_id::{ClickId, ClickIdLookup, ClickIdSource, InvalidClickId, RejectedClickId};
#[cfg(feature = "client")]
pub use client::{
    BoundClient, ClickOutcome, ClickRequest, Client, ClientBuilder, Currency, DeliveryReport,
    DeliveryStats, Error, ErrorKind, LeadOutcome, LeadRequest, RefundOutcome, RefundRequest,
    RetryPolicy, SaleOutcome, SaleRequest, SaleType, SubscriptionInterval, UndeliveredEvent,
    UndeliveredReason,
};
#[cfg(any(feature = "client", feature = "mock"))]
pub use endpoint::Endpoint;
/// Is the integration live? The program's readiness gates and the synthetic verification chain,
/// as the Affitor CLI's onboarding check reads them: [`Client::readiness`] and
/// [`Client::verify`].
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
        Readiness, ReadinessRequest, ReadinessState, StepVerdict, Verification, VerifyRequest,
    };
}
#[cfg(feature = "layer")]
pub use layer::{AffitorBody, AffitorLayer, AffitorService, ResponseFuture};
pub use lookup::{BodyKind, BodyLookup, ClickIdSources, HeaderLookup};
