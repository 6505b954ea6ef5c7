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
//!
//! # Other frameworks: Poem and Salvo
//!
//! axum runs the layer as it is (`affitor-axum` adds the extractors), and so do the frameworks
//! that serve through axum (Loco, Leptos: see `affitor-axum`'s docs). Poem and Salvo run Tower
//! layers through a compatibility feature of their own (`tower-compat`), but neither runs
//! [`AffitorLayer`], a layer over `http::Request`s, as it is: each needs a few lines of glue. With
//! it, the [`ClickIdLookup`](lookup::ClickIdLookup) reaches the handler in the request's
//! extensions (and the [`Client`], with `.client(client)` on the layer), and a body the layer read
//! for the click id reaches it byte for byte. The glue is the repository's
//! [`examples/frameworks`](https://github.com/affitor/affitor-rs/tree/main/examples/frameworks),
//! compiled and tested in CI: its test serves each app on 127.0.0.1 and sends it one request with
//! the `affitor_click_id` cookie and one with `affitorClickId` in its JSON body.
//!
//! - **Poem 3**: `TowerLayerCompatExt::compat` calls the layer's service with a `poem::Request`,
//!   so `AffitorLayer::new().compat()` does not compile. `HttpLayer` (one file,
//!   `examples/frameworks/src/poem_app.rs`, to copy) sits between: it hands the layer an
//!   `http::Request`, and puts the `poem::Request` back together for the endpoint, with the
//!   layer's extensions and what Poem keeps beside the request (the addresses, the path
//!   parameters, the upgrade). The handler reads the lookup with Poem's own
//!   `Data<&ClickIdLookup>`, which answers 500 without the layer.
//! - **Salvo 0.85**: `TowerLayerCompat::compat` hands the layer an `http::Request<ReqBody>`, but
//!   the service underneath (`FlowCtrlService`) takes a `ReqBody` back, where the layer passes the
//!   body on as an [`AffitorBody<ReqBody>`](layer::AffitorBody): one `map_request` boxes it back
//!   (`affitor_hoop` in `examples/frameworks/src/salvo_app.rs`). Salvo then merges the request,
//!   extensions included, into its own, and the handler reads the lookup from them.
//!
//! Any other HTTP library drives the lookup and the capture itself through [`adapter`], as the
//! actix-web middleware does.
//!
//! # Slow and hostile requests
//!
//! The layer holds what it reads of a body as its bytes, however small the chunks it came in,
//! and waits for it at most [`ClickIdSearch::body_timeout`](lookup::ClickIdSearch::body_timeout)
//! (5 s): a body that is not coming (a JSON `POST` to a route that never reads it) does not hold
//! the request, which goes on with what was read put back. The webhook extractors of
//! `affitor-axum` and `affitor-actix` wait for a delivery's body at most the verifier's
//! `body_timeout` (10 s) counted from the request's arrival at the layer, its 5 s wait included,
//! not added ([`BodyWaitStarted`](adapter::BodyWaitStarted)), then answer 408. A body that does
//! come is then tracked within the verifier's `track_deadline` (8 s, then 503): a delivery sent
//! at once, as providers send them, is answered within 10 s; one whose body took most of its
//! 10 s to come can take up to 18 s, unless the server bounds the whole request (tower-http's
//! `TimeoutLayer` outermost, as the repository's example apps do). An invalid click id, or a
//! refused webhook, on every request is one warning per 10 s.
//!
//! One cost is the framework's, not this crate's: actix-http decodes a body sent in 1-byte
//! chunks a chunk at a time, so 200 such bodies at once stall an actix app's other requests for
//! a few hundred milliseconds, with or without the middleware. A reverse proxy that buffers
//! request bodies (nginx's default, `proxy_request_buffering on`) hands the app each body whole.
//!
//! # Serverless runtimes
//!
//! [`FlushLayer`] waits, at most its deadline, for the client's background events before the
//! response leaves, for runtimes that freeze the process once it has (AWS Lambda, Vercel, Cloud
//! Run with CPU only during requests): see `affitor-axum`'s docs for the line per runtime.
#![cfg_attr(docsrs, feature(doc_cfg))]
// Doc examples compile without warnings (an unused import is an error); they may define a
// function they do not call, or bind a value only to show its type.
#![doc(test(attr(deny(warnings), allow(dead_code, unused_variables))))]

pub mod adapter;
pub mod lookup;
// The parsers under the lookup: public to the fuzz targets only (`cargo fuzz` builds with
// `--cfg fuzzing`), not part of the API.
#[cfg(fuzzing)]
#[doc(hidden)]
pub mod parse;
#[cfg(not(fuzzing))]
mod parse;
mod throttle;

#[cfg(feature = "capture")]
pub mod capture;
#[cfg(feature = "layer")]
pub mod layer;

pub use affitor::{ClickId, ClickRequest, Client, Error, LeadRequest, RefundRequest, SaleRequest};
#[cfg(feature = "layer")]
pub use layer::{AffitorLayer, FlushLayer};
