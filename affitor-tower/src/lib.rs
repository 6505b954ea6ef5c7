//! Affitor affiliate tracking for Tower: a layer that finds the click id in each request and
//! carries the [`Client`], and partner links (`?aff=CODE`) captured on the server.
//!
//! A partner shares a link (`?aff=CODE`); the Affitor browser tracker stores the click id in the
//! first-party cookie `affitor_click_id`; your backend reports the signup (a lead) and the payment
//! (a sale, or a refund) to the Affitor tracking API, and the partner earns a commission.
//!
//! ```
//! # #[cfg(feature = "layer")]
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
//! This crate is the Tower side of the integration; `affitor-axum` and `affitor-actix` build on
//! it, and the client itself lives in the framework-free crate `affitor`. At the root is what a
//! handler uses: [`AffitorLayer`], which finds the click id in each request and carries the
//! [`Client`]; and, re-exported from `affitor`, the [`ClickId`], the [`Client`], the requests it
//! builds ([`LeadRequest`], [`SaleRequest`], [`RefundRequest`], [`ClickRequest`]) and [`Error`].
//! The client's modules (its builder, the outcomes, background delivery, readiness, payment
//! webhooks) are `affitor`'s: add that crate to name them. Each module here holds one concept:
//!
//! | module | what | feature |
//! |---|---|---|
//! | [`layer`] | the Tower service, its response future and its replaying body | `layer` (default) |
//! | [`lookup`] | where the click id is searched ([`ClickIdSearch`](lookup::ClickIdSearch)) and what the lookup found | always |
//! | [`capture`] | partner links (`?aff=CODE`) captured on the server: a click recorded and the tracker's cookies set | `capture` (default) |
//! | [`adapter`] | what an adapter to another HTTP library drives: the lookup's two steps, capture's decision and cookies | always |
//!
//! The client's TLS is `rustls` (a default feature) or, with `native-tls`, the platform's.
#![cfg_attr(docsrs, feature(doc_cfg))]

pub mod adapter;
pub mod lookup;
// The parsers under the lookup: public to the fuzz targets only (`cargo fuzz` builds with
// `--cfg fuzzing`), not part of the API.
#[cfg(fuzzing)]
#[doc(hidden)]
pub mod parse;
#[cfg(not(fuzzing))]
mod parse;

#[cfg(feature = "capture")]
pub mod capture;
#[cfg(feature = "layer")]
pub mod layer;

pub use affitor::{ClickId, ClickRequest, Client, Error, LeadRequest, RefundRequest, SaleRequest};
#[cfg(feature = "layer")]
pub use layer::{AffitorLayer, FlushLayer};
