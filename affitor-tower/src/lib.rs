//! Affitor affiliate tracking for Rust web backends.
//!
//! A partner shares a link (`?aff=CODE`); the Affitor browser tracker stores the click id in the
//! first-party cookie `affitor_click_id`; your backend reports the signup (a lead) and the payment
//! (a sale, or a refund) to the Affitor tracking API, and the partner earns a commission.
//!
//! This crate is the framework-agnostic core:
//! - [`ClickId`], the validated click id, and the lookup types shared by every adapter;
//! - `AffitorLayer` (feature `layer`), a Tower layer that finds the click id in a header, a cookie
//!   or a JSON or form body field, and passes the body on byte for byte;
//! - `Client` (feature `client`), the typed, retrying client of the Affitor API;
//! - `mock` (feature `mock`), a local stand-in of the Affitor API for your tests.
#![cfg_attr(docsrs, feature(doc_cfg))]

mod click_id;
#[cfg(any(feature = "client", feature = "mock"))]
mod endpoint;
mod lookup;
pub mod parse;

#[cfg(feature = "client")]
mod client;
#[cfg(feature = "client")]
mod delivery;
#[cfg(feature = "layer")]
mod layer;
#[cfg(feature = "mock")]
pub mod mock;

pub use click_id::{ClickId, ClickIdLookup, ClickIdSource, InvalidClickId, RejectedClickId};
#[cfg(feature = "client")]
pub use client::{
    BoundClient, ClickOutcome, ClickRequest, Client, ClientBuilder, Currency, Error, ErrorKind,
    LeadOutcome, LeadRequest, RefundOutcome, RefundRequest, RetryPolicy, SaleOutcome, SaleRequest,
    SaleType, SubscriptionInterval,
};
#[cfg(feature = "client")]
pub use delivery::{DeliveryReport, DeliveryStats, UndeliveredEvent, UndeliveredReason};
#[cfg(any(feature = "client", feature = "mock"))]
pub use endpoint::Endpoint;
/// Is the integration live? The program's readiness gates and the synthetic verification chain,
/// as the Affitor CLI's onboarding check reads them: [`Client::readiness`] and
/// [`Client::verify`].
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
