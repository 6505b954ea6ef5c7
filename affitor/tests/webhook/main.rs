//! Payment webhooks: signatures against vectors computed outside this crate, every refused
//! delivery and its answer, the mapping of each documented event shape (fixtures under
//! `tests/fixtures/webhook/`), and whole deliveries tracked against the local stand-in API.

#![cfg(feature = "webhook")]
#![allow(clippy::unwrap_used)] // Tests may unwrap.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use affitor::client::Endpoint;
use affitor::webhook::{
    Action, Ignored, Polar, ProviderEvent, Refund, Sale, Stripe, Tracked, Verifier,
    WebhookErrorKind,
};
use affitor::{
    ClickId, Client,
    client::{Currency, ErrorKind, RefundOutcome, SaleOutcome, SaleType},
};
use affitor_mock::{Fault, MockServer, RefundStatus, SignedWebhook};
use serde_json::{Value, json};

const STRIPE_SECRET: &str = "whsec_test_affitor_vector";
const POLAR_SECRET: &str = "polar_whs_affitor_vector";

/// 2025-04-01T00:00:00Z, the time the vectors were signed at.
const SIGNED_AT: u64 = 1_743_465_600;

fn at(seconds: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(seconds)
}

fn fixture(path: &str) -> String {
    let path = format!(
        "{}/tests/fixtures/webhook/{path}",
        env!("CARGO_MANIFEST_DIR")
    );
    std::fs::read_to_string(&path).unwrap_or_else(|error| panic!("{path}: {error}"))
}

fn stripe() -> Verifier<Stripe> {
    Verifier::<Stripe>::new(STRIPE_SECRET).unwrap()
}

fn polar() -> Verifier<Polar> {
    Verifier::<Polar>::new(POLAR_SECRET).unwrap()
}

/// A fixture, signed now, read by the verifier.
fn stripe_event(path: &str) -> ProviderEvent {
    let signed = SignedWebhook::stripe(STRIPE_SECRET, fixture(path));
    stripe().verify(signed.headers(), signed.body()).unwrap()
}

fn polar_event(path: &str) -> ProviderEvent {
    let signed = SignedWebhook::polar(POLAR_SECRET, fixture(path));
    polar().verify(signed.headers(), signed.body()).unwrap()
}

fn sale(event: &ProviderEvent) -> &Sale {
    match &event.action {
        Action::Sale(sale) => sale,
        other => panic!("{}: not a sale: {other:?}", event.event_type),
    }
}

fn refund(event: &ProviderEvent) -> &Refund {
    match &event.action {
        Action::Refund(refund) => refund,
        other => panic!("{}: not a refund: {other:?}", event.event_type),
    }
}

fn click_id(value: &str) -> Option<ClickId> {
    Some(value.parse().unwrap())
}

mod vectors;

mod refused;

mod mapping;

mod tracked;

mod lost;

mod secrets;

mod paddle;

mod lemon_squeezy;

mod checkout;

mod kept;

mod lifecycle;

mod currencies;

mod alarms;
