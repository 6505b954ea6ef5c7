//! Sample payment events, shaped as each provider sends them (only the fields that matter
//! here, and a few around them), for the `send-webhook` example and the scenario suite.
//!
//! Each event happens now (Stripe's `created`, Polar's `timestamp`, Paddle's `occurred_at`), as
//! a live event.

use std::time::{SystemTime, UNIX_EPOCH};

use serde_json::{Value, json};

use crate::provider::PaymentProvider;

/// `provider`'s event of a one-off payment of `amount_cents` USD by `customer_key`, through
/// `click_id`, keyed by `key`: its sale's transaction id is [`transaction_id`].
pub fn sale(
    provider: PaymentProvider,
    key: &str,
    amount_cents: u64,
    customer_key: &str,
    click_id: Option<&str>,
) -> Value {
    match provider {
        PaymentProvider::Stripe => {
            stripe_checkout_completed(key, amount_cents, customer_key, click_id)
        }
        PaymentProvider::Polar => {
            polar_order("order.paid", key, amount_cents, 0, customer_key, click_id)
        }
        PaymentProvider::Paddle => {
            paddle_transaction_completed(key, amount_cents, customer_key, click_id)
        }
        PaymentProvider::LemonSqueezy => lemon_squeezy_order(
            "order_created",
            key,
            amount_cents,
            0,
            customer_key,
            click_id,
        ),
    }
}

/// `provider`'s event of a refund of `refunded_cents` of the sale [`sale`] keyed by `key`.
pub fn refund(
    provider: PaymentProvider,
    key: &str,
    amount_cents: u64,
    refunded_cents: u64,
) -> Value {
    match provider {
        PaymentProvider::Stripe => stripe_charge_refunded(key, amount_cents, refunded_cents),
        PaymentProvider::Polar => polar_order(
            "order.refunded",
            key,
            amount_cents,
            refunded_cents,
            "",
            None,
        ),
        PaymentProvider::Paddle => paddle_refund_approved(key, amount_cents, refunded_cents),
        PaymentProvider::LemonSqueezy => lemon_squeezy_order(
            "order_refunded",
            key,
            amount_cents,
            refunded_cents,
            "",
            None,
        ),
    }
}

/// The transaction id of the sale of [`sale`] keyed by `key`, as Affitor records it.
pub fn transaction_id(provider: PaymentProvider, key: &str) -> String {
    match provider {
        PaymentProvider::LemonSqueezy => format!("orders/{key}"),
        _ => key.to_owned(),
    }
}

/// Paddle `transaction.completed` of the one-off transaction `transaction_id` of
/// `amount_cents` USD (tax included) by `customer_key`, through `click_id`.
pub fn paddle_transaction_completed(
    transaction_id: &str,
    amount_cents: u64,
    customer_key: &str,
    click_id: Option<&str>,
) -> Value {
    let total = amount_cents.to_string();
    json!({
        "event_id": format!("evt_{transaction_id}_completed"),
        "event_type": "transaction.completed",
        "occurred_at": now_rfc3339(),
        "notification_id": format!("ntf_{transaction_id}_completed"),
        "data": {
            "id": transaction_id,
            "status": "completed",
            "origin": "web",
            "subscription_id": null,
            "currency_code": "USD",
            "custom_data": metadata(customer_key, "affitor_customer_key", click_id),
            "details": { "totals": { "total": total, "grand_total": total, "currency_code": "USD" } },
        },
    })
}

/// Paddle `adjustment.updated`: the refund of `refunded_cents` of the transaction
/// `transaction_id` of `amount_cents`, approved.
pub fn paddle_refund_approved(
    transaction_id: &str,
    amount_cents: u64,
    refunded_cents: u64,
) -> Value {
    json!({
        "event_id": format!("evt_{transaction_id}_refunded"),
        "event_type": "adjustment.updated",
        "occurred_at": now_rfc3339(),
        "notification_id": format!("ntf_{transaction_id}_refunded"),
        "data": {
            "id": format!("adj_{transaction_id}"),
            "action": "refund",
            "type": if refunded_cents >= amount_cents { "full" } else { "partial" },
            "status": "approved",
            "transaction_id": transaction_id,
            "reason": "requested_by_customer",
            "currency_code": "USD",
            "totals": { "total": refunded_cents.to_string(), "currency_code": "USD" },
        },
    })
}

/// Lemon Squeezy `order_created` (or `order_refunded`, with `refunded_cents`) of the order
/// `order_id` of `amount_cents` USD by `customer_key`, through `click_id`.
pub fn lemon_squeezy_order(
    event_name: &str,
    order_id: &str,
    amount_cents: u64,
    refunded_cents: u64,
    customer_key: &str,
    click_id: Option<&str>,
) -> Value {
    let status = match refunded_cents {
        0 => "paid",
        refunded if refunded >= amount_cents => "refunded",
        _ => "partial_refund",
    };
    json!({
        "meta": {
            "event_name": event_name,
            "test_mode": false,
            "custom_data": metadata(customer_key, "affitor_customer_key", click_id),
        },
        "data": {
            "type": "orders",
            "id": order_id,
            "attributes": {
                "status": status,
                "total": amount_cents,
                "refunded": refunded_cents > 0,
                "refunded_amount": refunded_cents,
                "currency": "USD",
                "created_at": now_rfc3339(),
                "updated_at": now_rfc3339(),
            },
        },
    })
}

/// Now, in Unix seconds.
fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |since| since.as_secs())
}

/// Now, in RFC 3339 (`2025-06-01T10:00:00Z`), as Polar writes its `timestamp`.
fn now_rfc3339() -> String {
    let seconds = now();
    let (days, rest) = (seconds / 86_400, seconds % 86_400);
    // The civil date of a day count (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let (era, day_of_era) = (z / 146_097, z % 146_097);
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let month_index = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * month_index + 2) / 5 + 1;
    let month = if month_index < 10 {
        month_index + 3
    } else {
        month_index - 9
    };
    let year = year_of_era + era * 400 + u64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        rest / 3600,
        rest % 3600 / 60,
        rest % 60
    )
}

/// Stripe `checkout.session.completed` of a one-off payment of `amount_cents` USD by
/// `customer_key`, through `click_id`; its sale is keyed by `payment_intent`.
pub fn stripe_checkout_completed(
    payment_intent: &str,
    amount_cents: u64,
    customer_key: &str,
    click_id: Option<&str>,
) -> Value {
    json!({
        "id": format!("evt_{payment_intent}_completed"),
        "object": "event",
        "api_version": "2025-03-31.basil",
        "created": now(),
        "type": "checkout.session.completed",
        "data": { "object": {
            "id": format!("cs_test_{payment_intent}"),
            "object": "checkout.session",
            "mode": "payment",
            "status": "complete",
            "payment_status": "paid",
            "payment_intent": payment_intent,
            "amount_total": amount_cents,
            "currency": "usd",
            "client_reference_id": customer_key,
            "metadata": metadata(customer_key, "affitor_customer_key", click_id),
        }},
        "livemode": true,
    })
}

/// Metadata as the checkout writes it: the customer key under `key_name`, and the click id
/// when there is one (metadata values are strings).
fn metadata(customer_key: &str, key_name: &str, click_id: Option<&str>) -> Value {
    let mut metadata = json!({ key_name: customer_key });
    if let Some(click_id) = click_id {
        metadata["affitor_click_id"] = json!(click_id);
    }
    metadata
}

/// Stripe `charge.refunded`: `refunded_cents` of the payment `payment_intent` of
/// `amount_cents`.
pub fn stripe_charge_refunded(
    payment_intent: &str,
    amount_cents: u64,
    refunded_cents: u64,
) -> Value {
    json!({
        "id": format!("evt_{payment_intent}_refunded"),
        "object": "event",
        "api_version": "2025-03-31.basil",
        "created": now(),
        "type": "charge.refunded",
        "data": { "object": {
            "id": format!("ch_{payment_intent}"),
            "object": "charge",
            "amount": amount_cents,
            "amount_refunded": refunded_cents,
            "refunded": refunded_cents >= amount_cents,
            "currency": "usd",
            "payment_intent": payment_intent,
        }},
        "livemode": true,
    })
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
    json!({
        "type": event_type,
        "timestamp": now_rfc3339(),
        "data": {
            "id": order_id,
            "status": if refunded_cents >= amount_cents { "refunded" } else { "paid" },
            "total_amount": amount_cents,
            "refunded_amount": refunded_cents,
            "currency": "usd",
            "billing_reason": "purchase",
            "metadata": metadata(customer_key, "user_id", click_id),
            "customer": { "external_id": customer_key },
        },
    })
}
