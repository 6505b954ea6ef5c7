//! What the four example apps share, so that each app's own code is only its framework's wiring.
//!
//! - [`Environment`] (`environment`): the example contract's configuration (`ADDR`,
//!   `AFFITOR_API_URL`, `AFFITOR_API_KEY`, ...) and the [`AppConfig`] the apps serve with;
//!   with no API URL it starts the local Affitor API stand-in (`stand_in`), which prints its
//!   URL and API key, and with `AFFITOR_OUTBOX` it opens the durable outbox (`outbox`).
//! - [`init_tracing`], [`announce`] and [`announce_webhooks`] (`console`): the log, and the
//!   printed lines that say how to try an app.
//! - [`start_metrics`] and [`metrics_page`] (`metrics`): the Prometheus page, served on an
//!   address of its own (`METRICS_ADDR`), never on the app's port, with the capture's stats
//!   ([`export_capture_stats`]).
//! - [`REQUEST_TIMEOUT`] and its kin (`timeouts`): the bounds every example server keeps.
//! - [`signup_page`], [`SignupForm`], [`SignupResponse`] and [`SignupError`] (`signup`): the
//!   signup page and its request and answers, and the consent predicate ([`consented`]) whose
//!   refused partner links the page's banner sends back; [`Users`] (`users`): an in-memory user store
//!   standing in for the app's database.
//! - [`CheckoutRequest`] and [`checkout_session`] (`checkout`): the checkout of the checkout
//!   apps, for a [`PaymentProvider`] (`provider`).
//! - [`PaymentWebhooks`] (`webhooks`): the verifiers of the signed payment webhooks mounted;
//!   [`PaymentEvent`] (`payment`): the unsigned demo payment webhook, tracked as a provider's
//!   is, and answered its [`Tracked::status`](affitor::webhook::Tracked::status); [`sample`]: sample provider events for the scenario suite
//!   (`affitor trigger` sends the same ones to a running app).
//! - [`shut_down`] (`shutdown`): stopping delivery as an app ends, logging what was left.

mod checkout;
mod console;
mod environment;
mod metrics;
mod outbox;
mod payment;
mod provider;
pub mod sample;
mod serve;
mod shutdown;
mod signup;
mod stand_in;
mod timeouts;
mod users;
mod webhooks;

pub use checkout::{CheckoutRequest, checkout_session};
pub use console::{announce, announce_webhooks, init_tracing};
pub use environment::{AppConfig, DEFAULT_ADDR, Environment, SetupError};
pub use metrics::{
    CAPTURE_METRIC, DEFAULT_METRICS_ADDR, METRICS_VARIABLE, MetricsAddr, export_capture_stats,
    install_metrics, metrics_page, serve_metrics, start_metrics,
};
pub use payment::{Payment, PaymentEvent};
pub use provider::PaymentProvider;
pub use serve::serve_axum;
pub use shutdown::{log_delivery_report, shut_down};
pub use signup::{
    CONSENT_COOKIE, SIGNUP_PAGE, SignupError, SignupForm, SignupResponse, consented, signup_page,
};
pub use stand_in::DEMO_CLICK_ID;
pub use timeouts::{DISCONNECT_TIMEOUT, HEAD_TIMEOUT, KEEP_ALIVE, REQUEST_TIMEOUT};
pub use users::{User, Users};
pub use webhooks::PaymentWebhooks;
