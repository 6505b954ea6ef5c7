//! Sample payment events, shaped as each provider sends them ([`affitor_mock::SampleEvent`]),
//! for the scenario suite; `affitor trigger` (the `affitor-cli` package) signs the same ones and
//! sends them to a running app.
//!
//! Each event happens now (Stripe's `created`, Polar's `timestamp`, Paddle's `occurred_at`), as
//! a live event.

use affitor_mock::{SampleEvent, SampleKind};
use serde_json::Value;

use crate::provider::PaymentProvider;

/// `provider`'s sample `kind` about the payment `key`: every provider has sales and refunds.
fn sample(provider: PaymentProvider, kind: SampleKind, key: &str) -> SampleEvent {
    SampleEvent::new(provider.webhook_provider(), kind, key)
        .unwrap_or_else(|| unreachable!("every provider has sales and refunds"))
}

/// `provider`'s event of a one-off payment of `amount_cents` USD by `customer_key`, through
/// `click_id`, keyed by `key`: its sale's transaction id is [`transaction_id`].
pub fn sale(
    provider: PaymentProvider,
    key: &str,
    amount_cents: u64,
    customer_key: &str,
    click_id: Option<&str>,
) -> Value {
    sample(provider, SampleKind::Sale, key)
        .amount_cents(amount_cents)
        .customer_key(customer_key)
        .click_id(click_id.unwrap_or_default())
        .to_json()
}

/// `provider`'s event of a refund of `refunded_cents` of the sale [`sale`] keyed by `key`.
pub fn refund(
    provider: PaymentProvider,
    key: &str,
    amount_cents: u64,
    refunded_cents: u64,
) -> Value {
    sample(provider, SampleKind::Refund, key)
        .amount_cents(amount_cents)
        .refunded_cents(refunded_cents)
        .to_json()
}

/// The transaction id of the sale of [`sale`] keyed by `key`, as Affitor records it.
pub fn transaction_id(provider: PaymentProvider, key: &str) -> String {
    sample(provider, SampleKind::Sale, key).transaction_id()
}

/// Stripe `checkout.session.completed` of a one-off payment of `amount_cents` USD by
/// `customer_key`, through `click_id`; its sale is keyed by `payment_intent`.
pub fn stripe_checkout_completed(
    payment_intent: &str,
    amount_cents: u64,
    customer_key: &str,
    click_id: Option<&str>,
) -> Value {
    sale(
        PaymentProvider::Stripe,
        payment_intent,
        amount_cents,
        customer_key,
        click_id,
    )
}

/// Stripe `charge.refunded`: `refunded_cents` of the payment `payment_intent` of
/// `amount_cents`.
pub fn stripe_charge_refunded(
    payment_intent: &str,
    amount_cents: u64,
    refunded_cents: u64,
) -> Value {
    refund(
        PaymentProvider::Stripe,
        payment_intent,
        amount_cents,
        refunded_cents,
    )
}

/// Polar `order.paid` (or `order.refunded`, with `refunded_cents`) of the one-off order
/// `order_id` of `amount_cents` USD by `customer_key`, through `click_id`.
pub fn polar_order(
    event_type: &str,
    order_id: &str,
    amount_cents: u64,
    refunded_cents: u64,
    customer_key: &str,
    click_id: Option<&str>,
) -> Value {
    let kind = if event_type == "order.refunded" {
        SampleKind::Refund
    } else {
        SampleKind::Sale
    };
    let mut event = sample(PaymentProvider::Polar, kind, order_id)
        .amount_cents(amount_cents)
        .customer_key(customer_key)
        .click_id(click_id.unwrap_or_default());
    if kind == SampleKind::Refund {
        event = event.refunded_cents(refunded_cents);
    }
    event.to_json()
}
