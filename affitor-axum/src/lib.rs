//! Affitor affiliate tracking for [axum](https://docs.rs/axum): track a signup or a payment in one
//! line.
//!
//! Install [`AffitorLayer`] with your [`Client`]; it finds the click id in every request (the
//! `x-affitor-click-id` header, the `affitor_click_id` cookie, the `affitorClickId` field of a JSON
//! body or the `affitor_click_id` field of a form; [`ClickIdSearch`] has the whole list) and
//! passes the body on byte for byte. Then take [`AffitorClient`] in a handler: its requests carry
//! that click id.
//!
//! # Add it
//!
//! ```toml
//! [dependencies]
//! affitor-axum = "0.1"
//! axum = "0.8"
//! serde = { version = "1", features = ["derive"] }
//! tokio = { version = "1", features = ["macros", "rt-multi-thread", "net", "signal"] }
//!
//! [dev-dependencies]
//! # The stand-in Affitor API, for your tests (see "Test it" below).
//! affitor-mock = "0.1"
//! tower = { version = "0.5", features = ["util"] }
//! ```
//!
//! # A tracked lead, served, and stopped gracefully
//!
//! The whole `src/main.rs` of an app that tracks each signup as a lead, records the partner links
//! its visitors arrive by (`?aff=`), and flushes the client's queue once the server has stopped:
//!
#![cfg_attr(feature = "capture", doc = "```no_run")]
#![cfg_attr(not(feature = "capture"), doc = "```ignore")]
//! use std::net::SocketAddr;
//! use std::time::Duration;
//!
//! use affitor_axum::{AffitorClient, AffitorLayer, CaptureClicks, Client};
//! use axum::{Json, Router, http::StatusCode, response::Html, routing::{get, post}};
//! use serde::Deserialize;
//!
//! #[derive(Deserialize)]
//! struct Signup {
//!     email: String,
//! }
//!
//! async fn signup(affitor: AffitorClient, Json(form): Json<Signup>) -> StatusCode {
//!     let user_id = "user_123"; // create the user in your database
//!     affitor.lead(user_id).email(form.email).send_in_background(); // never waits on Affitor
//!     StatusCode::CREATED
//! }
//!
//! fn app(affitor: Client) -> Router {
//!     Router::new()
//!         .route("/", get(|| async { Html("<h1>Welcome</h1>") }))
//!         .route("/api/signup", post(signup))
//!         .layer(
//!             AffitorLayer::new()
//!                 .client(affitor)
//!                 // `?aff=` links recorded by the server; the visitor's address limits the clicks.
//!                 .capture_clicks(CaptureClicks::new().client_address_from(affitor_axum::connect_info)),
//!         )
//! }
//!
//! #[tokio::main]
//! async fn main() -> Result<(), Box<dyn std::error::Error>> {
//!     // AFFITOR_API_KEY, and AFFITOR_API_URL if not the default; if the key is missing, `main`
//!     // prints what to do.
//!     let affitor = Client::from_env()?;
//!     let listener = tokio::net::TcpListener::bind("127.0.0.1:3000").await?;
//!     // `with_connect_info` gives the capture each visitor's address.
//!     let service = app(affitor.clone()).into_make_service_with_connect_info::<SocketAddr>();
//!     axum::serve(listener, service)
//!         .with_graceful_shutdown(async { tokio::signal::ctrl_c().await.unwrap_or_default() })
//!         .await?;
//!     // The server has stopped: deliver what is still queued, for at most 5 s.
//!     let report = affitor.shutdown(Duration::from_secs(5)).await;
//!     println!("{} events not delivered", report.not_delivered()); // refused or never sent
//!     Ok(())
//! }
//! ```
//!
//! [`AffitorClickId`] gives the click id alone; `Option<AffitorClickId>` when it is optional.
//! An extractor used without the layer answers 500 with a message that says to install it.
//! When your [`Client`] lives in the router state, take [`AffitorClient<FromState>`](FromState)
//! instead, and install the layer without a client.
//!
//! A payment is a sale; answer 503 when a later attempt could succeed, so that the payment
//! provider delivers the event again:
//!
//! ```
//! use affitor_axum::AffitorClient;
//! use axum::{Json, http::StatusCode};
//! use serde::Deserialize;
//!
//! #[derive(Deserialize)]
//! struct Payment {
//!     invoice_id: String,
//!     user_id: String,
//!     amount_cents: u64,
//! }
//!
//! async fn payment(affitor: AffitorClient, Json(payment): Json<Payment>) -> StatusCode {
//!     let sale = affitor.sale(payment.invoice_id, payment.amount_cents).customer_key(payment.user_id);
//!     match sale.send().await {
//!         Ok(_) => StatusCode::OK, // recorded, already recorded, or not attributed
//!         Err(error) if error.is_retryable() => StatusCode::SERVICE_UNAVAILABLE, // redeliver later
//!         Err(_) => StatusCode::OK, // a bad request does not get better by retrying
//!     }
//! }
//! # let _: axum::Router = axum::Router::new().route("/webhooks/payment", axum::routing::post(payment));
//! ```
//!
//! # Partner links captured on the server
//!
//! With the feature `capture` (on by default), [`CaptureClicks`] records the click of a `GET` whose
//! query has `?aff=CODE` through the client, and sets the Affitor tracker's cookies on the
//! response, as the example above does; the later signup then carries that click id. Serve with
//! `into_make_service_with_connect_info::<SocketAddr>()` and give
//! [`client_address_from(connect_info)`](connect_info) as above, so that clicks are limited per
//! visitor; behind a proxy, `trust_proxy_headers` says which headers to read instead.
//!
//! # Test it with the stand-in
//!
//! [`affitor_mock::MockServer`](https://docs.rs/affitor-mock) is a local stand-in of the Affitor
//! API: give your app its client, send a request, and look at what the stand-in received. No
//! network, no account:
//!
//! ```
//! use std::time::Duration;
//!
//! use affitor_axum::{AffitorClient, AffitorLayer, Client};
//! use affitor_mock::MockServer;
//! use axum::{Router, body::Body, http::{Request, StatusCode}, routing::post};
//! use tower::ServiceExt; // `oneshot`
//!
//! async fn signup(affitor: AffitorClient) -> StatusCode {
//!     affitor.lead("user_123").send_in_background();
//!     StatusCode::CREATED
//! }
//!
//! fn app(affitor: Client) -> Router {
//!     Router::new().route("/api/signup", post(signup)).layer(AffitorLayer::new().client(affitor))
//! }
//!
//! #[tokio::main(flavor = "current_thread")]
//! async fn main() -> Result<(), Box<dyn std::error::Error>> {
//!     let mock = MockServer::start().await?;
//!     let click_id = mock.click("partner"); // a visitor came through the partner's link
//!     let request = Request::post("/api/signup")
//!         .header("cookie", format!("affitor_click_id={click_id}"))
//!         .body(Body::empty())?;
//!
//!     let response = app(mock.client()).oneshot(request).await?;
//!
//!     assert_eq!(response.status(), StatusCode::CREATED);
//!     assert!(mock.wait_until(Duration::from_secs(5), |mock| mock.leads().len() == 1).await);
//!     assert_eq!(mock.leads()[0].click_id.as_deref(), Some(click_id.as_str()));
//!     Ok(())
//! }
//! ```
//!
//! # Payment webhooks
//!
//! With the feature `webhook`, `WebhookEvent<P>` verifies a payment provider's
//! webhook and tracks its sale or refund: the handler is one line,
//! `event.track(&affitor).await`, and answers the status the provider needs.

#![cfg_attr(docsrs, feature(doc_cfg))]

#[cfg(feature = "capture")]
mod capture;
mod click_id;
mod client;
#[cfg(feature = "webhook")]
mod webhook;

pub use affitor;
pub use affitor::client::BoundClient;
pub use affitor_tower;
#[cfg(feature = "capture")]
pub use affitor_tower::adapter::HeldClick;
#[cfg(feature = "capture")]
pub use affitor_tower::capture::{CaptureClicks, HeldClickKey};
pub use affitor_tower::{
    AffitorLayer, ClickId, Client, FlushLayer,
    lookup::{ClickIdLookup, ClickIdSearch, ClickIdSource},
};
#[cfg(feature = "capture")]
pub use capture::connect_info;
pub use click_id::{AffitorClickId, ClickIdRejection};
pub use client::{AffitorClient, ClientRejection, FromLayer, FromState};
#[cfg(feature = "webhook")]
pub use webhook::{WebhookEvent, WebhookRejection};
