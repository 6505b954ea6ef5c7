//! Affitor affiliate tracking for [actix-web](https://docs.rs/actix-web): track a signup or a
//! payment in one line.
//!
//! Wrap your app in the [`Affitor`] middleware with your [`Client`]; it finds the click id in
//! every request (the `x-affitor-click-id` header, the `affitor_click_id` cookie, the
//! `affitorClickId` field of a JSON body or the `affitor_click_id` field of a form;
//! [`ClickIdSearch`] has the whole list) and passes the body on byte for byte. Then take
//! [`AffitorClient`] in a handler: its requests carry that click id.
//!
//! # Add it
//!
//! ```toml
//! [dependencies]
//! affitor-actix = "0.1"
//! actix-web = "4"
//! serde = { version = "1", features = ["derive"] }
//!
//! [dev-dependencies]
//! # The stand-in Affitor API, for your tests (see "Test it" below).
//! affitor-mock = "0.1"
//! ```
//!
//! # A tracked lead, served, and stopped gracefully
//!
//! The whole `src/main.rs` of an app that tracks each signup as a lead, records the partner links
//! its visitors arrive by (`?aff=`), and flushes the client's queue once the server has stopped:
//!
#![cfg_attr(feature = "capture", doc = "```no_run")]
#![cfg_attr(not(feature = "capture"), doc = "```ignore")]
//! use std::time::Duration;
//!
//! use actix_web::{App, HttpResponse, HttpServer, web};
//! use affitor_actix::{Affitor, AffitorClient, CaptureClicks, Client};
//! use serde::Deserialize;
//!
//! #[derive(Deserialize)]
//! struct Signup {
//!     email: String,
//! }
//!
//! async fn signup(affitor: AffitorClient, form: web::Json<Signup>) -> HttpResponse {
//!     let user_id = "user_123"; // create the user in your database
//!     affitor.lead(user_id).email(form.into_inner().email).send_in_background(); // never waits
//!     HttpResponse::Created().finish()
//! }
//!
//! #[actix_web::main]
//! async fn main() -> Result<(), Box<dyn std::error::Error>> {
//!     // Built here, in `main`, not in the `HttpServer::new` closure: its delivery worker outlives
//!     // the runtimes actix-web gives its worker threads. AFFITOR_API_KEY, and AFFITOR_API_URL if
//!     // not the default; if the key is missing, `main` prints what to do.
//!     let affitor = Client::from_env()?;
//!     // `?aff=` links recorded by the server; one click limit for every worker.
//!     let capture = CaptureClicks::new();
//!     let (client, workers_capture) = (affitor.clone(), capture.clone());
//!     HttpServer::new(move || {
//!         App::new()
//!             .wrap(Affitor::new().client(client.clone()).capture_clicks(workers_capture.clone()))
//!             .route("/", web::get().to(|| async { HttpResponse::Ok().body("<h1>Welcome</h1>") }))
//!             .route("/api/signup", web::post().to(signup))
//!     })
//!     .bind("127.0.0.1:3000")?
//!     .run() // until Ctrl-C or SIGTERM, then a graceful stop
//!     .await?;
//!     // The server has stopped: deliver what is still queued, for at most 5 s.
//!     let report = affitor.shutdown(Duration::from_secs(5)).await;
//!     println!("{} events not delivered", report.not_delivered()); // refused or never sent
//!     Ok(())
//! }
//! ```
//!
//! [`AffitorClickId`] gives the click id alone. An extractor used without the middleware answers
//! 500 with a message that says to install it. Mind that actix-web turns every extractor error
//! into `None` for an `Option<T>`: `Option<AffitorClickId>` is `None` on a misconfigured app too
//! (the extractor logs it at `error` level); `AffitorClient::click_id()` reads an optional click
//! id and still fails loudly.
//!
//! # Payments
//!
//! A sale is tracked where the payment is known to be real: from the payment provider's signed
//! webhook, or in your own code once it has confirmed the payment with the provider. A route
//! that tracks a sale from an unsigned request body records a sale, and pays a commission, for
//! whatever anyone posts to it.
//!
//! With the feature `webhook`, [`WebhookEvent<P>`][webhook-event] verifies the delivery's signature
//! over its raw body with the [`Verifier<P>`][verifier] of the app data, reads
//! the sale or refund from the event, tracks it, and answers what the provider needs (503 when a
//! later delivery can still succeed, so that the provider redelivers). The handler is one line:
//!
#![cfg_attr(feature = "webhook", doc = "```no_run")]
#![cfg_attr(not(feature = "webhook"), doc = "```ignore")]
//! use actix_web::{App, HttpResponse, HttpServer, web};
//! use affitor_actix::affitor::webhook::{Stripe, Verifier};
//! use affitor_actix::{Affitor, AffitorClient, Client, WebhookEvent};
//!
//! async fn stripe_webhook(affitor: AffitorClient, event: WebhookEvent<Stripe>) -> HttpResponse {
//!     event.track(&affitor).await
//! }
//!
//! #[actix_web::main]
//! async fn main() -> Result<(), Box<dyn std::error::Error>> {
//!     let affitor = Client::from_env()?;
//!     // The endpoint's signing secret, and never a built-in fallback: anyone could sign with it.
//!     let stripe = web::Data::new(Verifier::<Stripe>::from_env()?); // STRIPE_WEBHOOK_SECRET
//!     let client = affitor.clone();
//!     HttpServer::new(move || {
//!         App::new()
//!             .wrap(Affitor::new().client(client.clone()))
//!             .app_data(stripe.clone())
//!             .route("/webhooks/stripe", web::post().to(stripe_webhook))
//!     })
//!     .bind("127.0.0.1:3000")?
//!     .run()
//!     .await?;
//!     affitor.shutdown(std::time::Duration::from_secs(5)).await;
//!     Ok(())
//! }
//! ```
//!
//! Polar, Paddle and Lemon Squeezy read the same (`WebhookEvent<Polar>`, ...). Which events
//! each provider sends, where the checkout must put the click id, what each answer means, and
//! how a durable outbox changes it (a 200 then means *stored*) are in the guide of
//! [`affitor::webhook`][webhook-guide]. If your program is connected to Affitor's Stripe integration, do not
//! also track Stripe sales here: each sale would count twice.
//!
//! # Partner links captured on the server
//!
//! With the feature `capture` (on by default), `Affitor::capture_clicks` records the click of a
//! `GET` whose query has `?aff=CODE` through the client, and sets the Affitor tracker's cookies on
//! the response, as the example above does; the later signup then carries that click id. The
//! middleware reads the visitor's address from the connection itself; behind a proxy,
//! `trust_proxy_headers` says which headers to read instead.
//!
//! # Background delivery and shutdown
//!
//! `send_in_background()` queues the event for the client's delivery worker, which runs on the
//! tokio runtime the client was built on: build it in `main` (`#[actix_web::main]`), not in the
//! `HttpServer::new` closure, so the worker outlives the runtimes actix-web gives each of its
//! worker threads. Once the server's future has resolved, call `client.shutdown(deadline)` to
//! flush what is still queued.
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
//! use actix_web::{App, HttpResponse, http::StatusCode, test, web};
//! use affitor_actix::{Affitor, AffitorClient};
//! use affitor_mock::MockServer;
//!
//! async fn signup(affitor: AffitorClient) -> HttpResponse {
//!     affitor.lead("user_123").send_in_background();
//!     HttpResponse::Created().finish()
//! }
//!
//! #[actix_web::main]
//! async fn main() -> Result<(), Box<dyn std::error::Error>> {
//!     let mock = MockServer::start().await?;
//!     let click_id = mock.click("partner"); // a visitor came through the partner's link
//!     let app = test::init_service(
//!         App::new()
//!             .wrap(Affitor::new().client(mock.client()))
//!             .route("/api/signup", web::post().to(signup)),
//!     )
//!     .await;
//!     let request = test::TestRequest::post()
//!         .uri("/api/signup")
//!         .insert_header(("cookie", format!("affitor_click_id={click_id}")))
//!         .to_request();
//!
//!     let response = test::call_service(&app, request).await;
//!
//!     assert_eq!(response.status(), StatusCode::CREATED);
//!     assert!(mock.wait_until(Duration::from_secs(5), |mock| mock.leads().len() == 1).await);
//!     assert_eq!(mock.leads()[0].click_id.as_deref(), Some(click_id.as_str()));
//!     Ok(())
//! }
//! ```
//!
//! The middleware, the extractors and their messages mean the same as those of `affitor-axum`,
//! and the click id is found by the same code (`affitor_tower::lookup`), with two differences
//! a team moving between the frameworks meets: without the middleware,
//! `Option<AffitorClickId>` is `None` here where axum answers 500; and where both the
//! middleware and the app data hold a client, `AffitorClient` takes the middleware's here,
//! where axum's `AffitorClient<FromState>` takes the state's.

// The webhook's items exist with the feature `webhook`; without it, their links go to docs.rs.
//!
#![cfg_attr(feature = "webhook", doc = "[webhook-event]: WebhookEvent")]
#![cfg_attr(feature = "webhook", doc = "[verifier]: affitor::webhook::Verifier")]
#![cfg_attr(feature = "webhook", doc = "[webhook-guide]: affitor::webhook")]
#![cfg_attr(
    not(feature = "webhook"),
    doc = "[webhook-event]: https://docs.rs/affitor-actix/latest/affitor_actix/struct.WebhookEvent.html"
)]
#![cfg_attr(
    not(feature = "webhook"),
    doc = "[verifier]: https://docs.rs/affitor/latest/affitor/webhook/struct.Verifier.html"
)]
#![cfg_attr(
    not(feature = "webhook"),
    doc = "[webhook-guide]: https://docs.rs/affitor/latest/affitor/webhook/"
)]
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
pub use affitor_tower::adapter::HeldClick;
#[cfg(feature = "capture")]
pub use affitor_tower::capture::{CaptureClicks, HeldClickKey};
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
