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
//! - [`AffitorClickId`] extracts the click id alone, and rejects a request without one with a
//!   400 that says why; `Option<AffitorClickId>` is `None` instead. Without the layer, both
//!   answer 500 and say to install it.
//! - Keep your [`Client`] in the router state already? Take
//!   [`AffitorClient<FromState>`](FromState) instead: it reads the client through `FromRef`, and
//!   the layer, installed as `AffitorLayer::new()`, only finds the click id.
//! - `send_in_background()` queues the event and returns at once; `client.shutdown(deadline)`,
//!   once the server has stopped, sends what is still queued (the defaults and the counters are
//!   in `affitor`'s docs, "Background delivery"). A deploy or a crash loses what is queued:
//!   `affitor-outbox` stores each event first, with the same handlers.
//! - No key at hand? `Client::from_env()` fails, and `main` prints what to do: `Error { kind:
//!   MissingApiKey, message: "no Affitor API key — set AFFITOR_API_KEY …" }`. To try without an
//!   account, run against the stand-in ([below](#test-it-with-the-stand-in)).
//!
//! # Payments
//!
//! A sale is tracked where the payment is known to be real: from the payment provider's signed
//! webhook, or in your own code once it has confirmed the payment with the provider. A route
//! that tracks a sale from an unsigned request body records a sale, and pays a commission, for
//! whatever anyone posts to it.
//!
//! With the feature `webhook`, [`WebhookEvent<P>`][webhook-event] verifies the delivery's signature
//! over its raw body with the [`Verifier<P>`][verifier] of the router state,
//! reads the sale or refund from the event, tracks it, and answers the status the provider needs
//! (503 when a later delivery can still succeed, so that the provider redelivers). The handler is
//! one line:
//!
//! ```toml
//! [dependencies]
//! affitor-axum = { version = "0.1", features = ["webhook"] }
//! ```
//!
#![cfg_attr(feature = "webhook", doc = "```no_run")]
#![cfg_attr(not(feature = "webhook"), doc = "```ignore")]
//! use affitor_axum::affitor::webhook::{Stripe, Verifier};
//! use affitor_axum::{AffitorClient, AffitorLayer, Client, WebhookEvent};
//! use axum::{Router, http::StatusCode, routing::post};
//!
//! async fn stripe_webhook(affitor: AffitorClient, event: WebhookEvent<Stripe>) -> StatusCode {
//!     event.track(&affitor).await
//! }
//!
//! fn app(affitor: Client, stripe: Verifier<Stripe>) -> Router {
//!     Router::new()
//!         .route("/webhooks/stripe", post(stripe_webhook))
//!         .with_state(stripe) // several providers: each verifier a field of the state
//!         .layer(AffitorLayer::new().client(affitor))
//! }
//!
//! fn main() -> Result<(), Box<dyn std::error::Error>> {
//!     let affitor = Client::builder().api_key("aff_your_program_key").build()?;
//!     // The endpoint's signing secret, and never a built-in fallback: anyone could sign with it.
//!     let stripe = Verifier::<Stripe>::from_env()?; // STRIPE_WEBHOOK_SECRET
//!     let _app = app(affitor, stripe); // serve it as in `main` above
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
//! # Serverless runtimes
//!
//! AWS Lambda (`lambda_http` runs a Tower service), Vercel's Rust runtime and Cloud Run with CPU
//! only during requests freeze the process once the response has left: an event queued with
//! `send_in_background()` would wait for a process that no longer runs. One line keeps it: a
//! [`FlushLayer`] around the app waits, at most its deadline, for the client's events before the
//! response leaves.
//!
//! ```
//! use std::time::Duration;
//!
//! use affitor_axum::{AffitorLayer, Client, FlushLayer};
//! use axum::Router;
//!
//! fn app(client: Client) -> Router {
//!     Router::new()
//!         .layer(AffitorLayer::new().client(client.clone()))
//!         .layer(FlushLayer::new(client, Duration::from_secs(2))) // Lambda, Vercel, Cloud Run
//! }
//!
//! fn main() -> Result<(), affitor_axum::affitor::Error> {
//!     let _app = app(Client::builder().api_key("aff_key").build()?);
//!     Ok(())
//! }
//! ```
//!
//! The wait is for every event the client holds: on these runtimes an instance serves one
//! request at a time. A payment webhook needs none of it with an outbox on Postgres (its 200
//! means *stored*). The one line, runtime by runtime:
//!
//! - **AWS Lambda** (`lambda_http`): `lambda_http::run(app)`, with the `FlushLayer` in `app` as
//!   above. The repository's `examples/lambda-signup` is the signup example so, deployed with
//!   `cargo lambda`; its test runs the binary under a stand-in of the Lambda Runtime API, freezes
//!   the process (SIGSTOP) the moment its response arrives, as Lambda does, and finds the lead
//!   delivered.
//! - **Vercel** (`vercel_runtime` 2): its `run` runs a Tower service (an axum router with its
//!   `axum` feature): the same layer around it.
//! - **Google Cloud Run** with CPU allocated only during requests, and any host that throttles
//!   the process between requests: the same layer around the axum router, or `enqueue().await`
//!   with an outbox, whose relay delivers on the next instance that runs.
//!
//! # Loco and Leptos
//!
//! Both serve through axum: add the layer to the `axum::Router` each hands you, and the
//! extractors work in their handlers as in any axum handler. The code below builds against axum
//! alone; the lines that need the framework are the comments around it.
//!
//! **Loco** (`loco-rs`): its controllers are axum handlers, and `Hooks::after_routes` gets the
//! app's router (`AxumRouter` is `axum::Router`) once Loco has built it:
//!
//! ```
//! use affitor_axum::{AffitorClient, AffitorLayer, Client};
//! use axum::Router;
//!
//! // src/app.rs:
//! //     impl Hooks for App {
//! //         async fn after_routes(router: AxumRouter, _ctx: &AppContext) -> Result<AxumRouter> {
//! //             Ok(with_affitor(router, Client::from_env().map_err(Error::wrap)?))
//! //         }
//! //     }
//! fn with_affitor(router: Router, affitor: Client) -> Router {
//!     router.layer(AffitorLayer::new().client(affitor))
//! }
//!
//! // A controller, with Loco's `State(ctx): State<AppContext>` beside it as usual.
//! async fn register(affitor: AffitorClient) -> &'static str {
//!     affitor.lead("user_123").email("ada@example.com").enqueue().await;
//!     "welcome"
//! }
//!
//! fn main() -> Result<(), affitor_axum::affitor::Error> {
//!     let affitor = Client::builder().api_key("aff_key").build()?;
//!     let routes = Router::new().route("/api/auth/register", axum::routing::post(register));
//!     let _app: Router = with_affitor(routes, affitor);
//!     Ok(())
//! }
//! ```
//!
//! **Leptos** (`leptos_axum`): the layer goes on the router after `leptos_routes`, and a server
//! function reads the extractors with `leptos_axum::extract()`, which runs an axum
//! `FromRequestParts` over the request's parts, as this does:
//!
//! ```
//! use affitor_axum::{AffitorClient, AffitorLayer, Client, ClientRejection};
//! use axum::extract::FromRequestParts;
//! use axum::http::request::Parts;
//!
//! // main.rs:
//! //     let app = Router::new()
//! //         .leptos_routes(&leptos_options, routes, { let o = leptos_options.clone(); move || shell(o.clone()) })
//! //         .fallback(leptos_axum::file_and_error_handler(shell))
//! //         .with_state(leptos_options)
//! //         .layer(AffitorLayer::new().client(affitor));
//! //
//! // A server function:
//! //     #[server]
//! //     async fn sign_up(email: String) -> Result<(), ServerFnError> {
//! //         let user_id = create_user(&email).await?;
//! //         let affitor: AffitorClient = leptos_axum::extract().await?;
//! //         affitor.lead(&user_id).email(&email).enqueue().await;
//! //         Ok(())
//! //     }
//! async fn extract(parts: &mut Parts) -> Result<AffitorClient, ClientRejection> {
//!     AffitorClient::from_request_parts(parts, &()).await // what `leptos_axum::extract()` does
//! }
//!
//! fn main() -> Result<(), affitor_axum::affitor::Error> {
//!     let affitor = Client::builder().api_key("aff_key").build()?;
//!     let _layer = AffitorLayer::new().client(affitor);
//!     let _ = extract;
//!     Ok(())
//! }
//! ```
//!
//! Poem and Salvo, through their Tower compatibility, are in `affitor-tower`'s docs.

// The webhook's items exist with the feature `webhook`; without it, their links go to docs.rs.
//!
#![cfg_attr(feature = "webhook", doc = "[webhook-event]: WebhookEvent")]
#![cfg_attr(feature = "webhook", doc = "[verifier]: affitor::webhook::Verifier")]
#![cfg_attr(feature = "webhook", doc = "[webhook-guide]: affitor::webhook")]
#![cfg_attr(
    not(feature = "webhook"),
    doc = "[webhook-event]: https://docs.rs/affitor-axum/latest/affitor_axum/struct.WebhookEvent.html"
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
