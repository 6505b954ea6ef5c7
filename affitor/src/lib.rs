//! The Affitor API client for Rust: leads, sales and refunds reported to Affitor's tracking API,
//! inline or in the background, and payment webhooks verified and tracked as sales and refunds.
//!
//! A partner shares a link (`?aff=CODE`); the Affitor browser tracker stores the click id in the
//! first-party cookie `affitor_click_id`; your backend reports the signup (a lead) and the payment
//! (a sale, or a refund) to the Affitor tracking API, and the partner earns a commission.
//!
//! ```
//! # async fn signup(click_id: Option<affitor::ClickId>) -> Result<(), affitor::Error> {
//! use affitor::Client;
//! use affitor::client::SaleOutcome;
//!
//! let affitor = Client::from_env()?; // AFFITOR_API_KEY, and AFFITOR_API_URL if not the default
//!
//! // A signup: never waits on Affitor.
//! affitor.lead("user_123").click_id(click_id).send_in_background();
//!
//! // A payment: inline, with the outcome.
//! match affitor.sale("in_1001", 4900).customer_key("user_123").send().await? {
//!     SaleOutcome::Recorded { commission_id, .. } => println!("commission {commission_id:?}"),
//!     outcome => println!("{outcome:?}"),
//! }
//! # Ok(())
//! # }
//! ```
//!
//! This crate depends on no web framework. `affitor-tower` finds the click id in each request
//! (a Tower layer), `affitor-axum` and `affitor-actix` hand it and this client to a handler,
//! `affitor-outbox` stores events before they are sent, and `affitor-mock` is a local stand-in
//! of the API for your tests.
//!
//! At the root is what a handler uses: [`Client`], the [`ClickId`], the requests the client
//! builds ([`LeadRequest`], [`SaleRequest`], [`RefundRequest`], [`ClickRequest`]) and [`Error`].
//! Each module holds one concept:
//!
//! | module | what | feature |
//! |---|---|---|
//! | [`client`] | the client's builder and retry policy, the outcomes, the currencies, background delivery behind one [`Backend`](client::Backend) and its counters, events held as values | always |
//! | [`readiness`] | is the integration live: the program's gates and the synthetic verification chain | always |
//! | [`webhook`] | Stripe, Polar, Paddle and Lemon Squeezy payment webhooks, verified and tracked as sales and refunds | `webhook` |
//!
//! Feature `metrics` counts what the client does with its events through the `metrics` facade
//! (see [`client`]). The client's TLS is `rustls` (a default feature) or, with `native-tls`,
//! the platform's; built with neither, it speaks plain HTTP only (the stand-in's).
#![cfg_attr(docsrs, feature(doc_cfg))]

mod click_id;
pub mod client;
mod endpoint;
mod throttle;
#[cfg(feature = "webhook")]
pub mod webhook;

pub use click_id::{ClickId, InvalidClickId};
pub use client::{ClickRequest, Client, Error, LeadRequest, RefundRequest, SaleRequest};

/// Is the integration live? The program's readiness gates and the synthetic verification chain,
/// as the Affitor CLI's onboarding check reads them: [`Client::readiness`] and
/// [`Client::verification`].
///
/// ```
/// use affitor::readiness::{Readiness, ReadinessState};
///
/// # async fn check(client: affitor::Client) -> Result<(), affitor::Error> {
/// let readiness: Readiness = client.readiness().send().await?;
/// if readiness.state != ReadinessState::LiveVerified {
///     eprintln!("not live yet: {:?}, blocked by {:?}", readiness.state, readiness.blocker);
/// }
/// # Ok(())
/// # }
/// ```
pub mod readiness {
    pub use crate::client::readiness::{
        ChainRun, ChainVerdict, EventCounts, EventTimes, Gate, GateReport, GateStatus, Gates,
        Readiness, ReadinessRequest, ReadinessState, StepVerdict, Verification,
        VerificationRequest,
    };
}

/// What the sibling crates of this workspace (`affitor-tower`, `affitor-outbox`) share with this
/// one and nothing else: not part of the API, and no semver promise covers it.
#[doc(hidden)]
pub mod __private {
    pub use crate::throttle::Throttle;

    /// `client` with a connection pool of its own (`None` when its pool is the caller's): an
    /// outbox relay's sends, on a runtime of their own.
    pub fn with_own_connections(client: &crate::Client) -> Option<crate::Client> {
        client.with_own_connections()
    }
}
