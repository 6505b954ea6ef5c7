//! Affitor affiliate tracking for [axum](https://docs.rs/axum): track a signup or a payment in one
//! line.
//!
//! Install [`AffitorLayer`] with your [`Client`]; it finds the click id in every request (the
//! `x-affitor-click-id` header, the `affitor_click_id` cookie, the `affitorClickId` field of a JSON
//! body or the `affitor_click_id` field of a form; [`ClickIdSearch`] has the whole list) and
//! passes the body on byte for byte. Then take [`AffitorClient`] in a handler: its requests carry
//! that click id.
//!
//! ```
//! use affitor_axum::{AffitorClient, AffitorLayer, Client};
//! use axum::{Json, Router, http::StatusCode, routing::post};
//! use serde::Deserialize;
//!
//! #[derive(Deserialize)]
//! struct Signup { email: String }
//!
//! async fn signup(affitor: AffitorClient, Json(form): Json<Signup>) -> StatusCode {
//!     let user_id = "user_123"; // create the user in your database
//!     affitor.lead(user_id).email(form.email).send_in_background(); // never waits on Affitor
//!     StatusCode::CREATED
//! }
//!
//! #[derive(Deserialize)]
//! struct Payment { invoice_id: String, user_id: String, amount_cents: u64 }
//!
//! async fn payment(affitor: AffitorClient, Json(payment): Json<Payment>) -> StatusCode {
//!     let sale = affitor.sale(payment.invoice_id, payment.amount_cents).customer_key(payment.user_id);
//!     match sale.send().await {
//!         Ok(_) => StatusCode::OK, // recorded, already recorded, or not attributed
//!         Err(error) if error.is_retryable() => StatusCode::SERVICE_UNAVAILABLE, // redeliver later
//!         Err(_) => StatusCode::OK, // a bad request does not get better by retrying
//!     }
//! }
//!
//! # fn main() -> Result<(), affitor_axum::affitor::Error> {
//! let affitor = Client::from_env().or_else(|_| Client::builder().api_key("aff_example").build())?;
//! let app: Router = Router::new()
//!     .route("/api/signup", post(signup))
//!     .route("/webhooks/payment", post(payment))
//!     .layer(AffitorLayer::new().client(affitor));
//! # drop(app);
//! # Ok(())
//! # }
//! ```
//!
//! [`AffitorClickId`] gives the click id alone; `Option<AffitorClickId>` when it is optional.
//! An extractor used without the layer answers 500 with a message that says to install it.
//! When your [`Client`] lives in the router state, take [`AffitorClient<FromState>`](FromState)
//! instead, and install the layer without a client.
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
pub use affitor_tower::capture::CaptureClicks;
pub use affitor_tower::{
    AffitorLayer, ClickId, Client,
    lookup::{ClickIdLookup, ClickIdSearch, ClickIdSource},
};
#[cfg(feature = "capture")]
pub use capture::connect_info;
pub use click_id::{AffitorClickId, ClickIdRejection};
pub use client::{AffitorClient, ClientRejection, FromLayer, FromState};
#[cfg(feature = "webhook")]
pub use webhook::{WebhookEvent, WebhookRejection};
