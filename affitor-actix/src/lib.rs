//! Affitor affiliate tracking for [actix-web](https://docs.rs/actix-web): track a signup or a
//! payment in one line.
//!
//! Wrap your app in the [`Affitor`] middleware with your [`Client`]; it finds the click id in
//! every request (the `x-affitor-click-id` header, the `affitor_click_id` cookie, the
//! `affitorClickId` field of a JSON body or the `affitor_click_id` field of a form;
//! [`ClickIdSearch`] has the whole list) and passes the body on byte for byte. Then take
//! [`AffitorClient`] in a handler: its requests carry that click id.
//!
//! ```
//! use actix_web::{App, HttpResponse, web};
//! use affitor_actix::{Affitor, AffitorClient, Client};
//! use serde::Deserialize;
//!
//! #[derive(Deserialize)]
//! struct Signup { email: String }
//!
//! async fn signup(affitor: AffitorClient, form: web::Json<Signup>) -> HttpResponse {
//!     let user_id = "user_123"; // create the user in your database
//!     affitor.lead(user_id).email(form.into_inner().email).send_in_background(); // never waits
//!     HttpResponse::Created().finish()
//! }
//!
//! #[derive(Deserialize)]
//! struct Payment { invoice_id: String, user_id: String, amount_cents: u64 }
//!
//! async fn payment(affitor: AffitorClient, payment: web::Json<Payment>) -> HttpResponse {
//!     let payment = payment.into_inner();
//!     let sale = affitor.sale(payment.invoice_id, payment.amount_cents).customer_key(payment.user_id);
//!     match sale.send().await {
//!         Ok(_) => HttpResponse::Ok().finish(), // recorded, already recorded, or not attributed
//!         Err(error) if error.is_retryable() => HttpResponse::ServiceUnavailable().finish(), // redeliver later
//!         Err(_) => HttpResponse::Ok().finish(), // a bad request does not get better by retrying
//!     }
//! }
//!
//! # fn main() -> Result<(), affitor_actix::affitor::Error> {
//! let affitor = Client::from_env().or_else(|_| Client::builder().api_key("aff_example").build())?;
//! let app = App::new()
//!     .wrap(Affitor::new().client(affitor))
//!     .route("/api/signup", web::post().to(signup))
//!     .route("/webhooks/payment", web::post().to(payment));
//! # drop(app);
//! # Ok(())
//! # }
//! ```
//!
//! [`AffitorClickId`] gives the click id alone. An extractor used without the middleware answers
//! 500 with a message that says to install it. Mind that actix-web turns every extractor error
//! into `None` for an `Option<T>`: `Option<AffitorClickId>` is `None` on a misconfigured app too
//! (the extractor logs it at `error` level); `AffitorClient::click_id()` reads an optional click
//! id and still fails loudly.
//!
//! With the feature `webhook`, `WebhookEvent<P>` verifies a payment provider's
//! webhook and tracks its sale or refund: the handler is one line,
//! `event.track(&affitor).await`, and answers the status the provider needs.
//!
//! # Background delivery and shutdown
//!
//! `send_in_background()` queues the event for the client's delivery worker, which runs on the
//! tokio runtime the client was built on: build it in `main` (`#[actix_web::main]`), not in the
//! `HttpServer::new` closure, so the worker outlives the runtimes actix-web gives each of its
//! worker threads. Once the server's future has resolved, call `client.shutdown(deadline)` to
//! flush what is still queued.
//!
//! The middleware, the extractors and their messages mean the same as those of `affitor-axum`,
//! and the click id is found by the same code (`affitor_tower::lookup`): a team can move
//! between the two frameworks without a change in behaviour.

#![cfg_attr(docsrs, feature(doc_cfg))]

mod click_id;
mod client;
mod middleware;
#[cfg(feature = "webhook")]
mod webhook;

pub use affitor;
pub use affitor::client::BoundClient;
pub use affitor_tower;
#[cfg(feature = "capture")]
pub use affitor_tower::capture::CaptureClicks;
pub use affitor_tower::{
    ClickId, Client,
    lookup::{ClickIdLookup, ClickIdSearch, ClickIdSource},
};
pub use click_id::{AffitorClickId, ClickIdRejection};
pub use client::{AffitorClient, ClientRejection};
pub use middleware::Affitor;
#[cfg(feature = "webhook")]
pub use webhook::{WebhookEvent, WebhookRejection};

/// The plumbing of the [`Affitor`] middleware: the types actix-web names when it wraps your
/// service. You need them only to name the type of a wrapped service.
///
/// ```
/// use actix_web::dev::{ServiceRequest, ServiceResponse, Transform, fn_service};
/// use actix_web::{Error, HttpResponse};
/// use affitor_actix::{Affitor, dev::AffitorMiddleware};
///
/// // A wrapped service, named: the middleware around a service of your own.
/// async fn wrap<S>(service: S) -> Result<AffitorMiddleware<S>, ()>
/// where
///     S: actix_web::dev::Service<ServiceRequest, Response = ServiceResponse, Error = Error>
///         + 'static,
/// {
///     Affitor::new().new_transform(service).await
/// }
/// # drop(wrap(fn_service(|request: ServiceRequest| async {
/// #     Ok::<_, Error>(request.into_response(HttpResponse::Ok()))
/// # })));
/// ```
pub mod dev {
    pub use crate::middleware::{AffitorMiddleware, ResponseFuture};
}
