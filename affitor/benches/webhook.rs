//! What verifying and mapping a payment webhook costs, against the HMAC-SHA256 check alone (the
//! least any verified handler does): a Stripe `checkout.session.completed` of 2 KiB and of
//! 20 KiB, and a Polar `order.paid`, a Paddle `transaction.completed` and a Lemon Squeezy
//! `order_created` of 2 KiB each.
//!
//! Run: `cargo bench -p affitor --bench webhook --features webhook`

#![allow(missing_docs, clippy::unwrap_used)]

use std::hint::black_box;
use std::time::Duration;

use affitor::webhook::{Action, LemonSqueezy, Paddle, Polar, Provider, Stripe, Verifier};
use affitor_mock::SignedWebhook;
use criterion::{Criterion, criterion_group, criterion_main};
use hmac::{Hmac, Mac};
use serde_json::{Value, json};
use sha2::Sha256;

const STRIPE_SECRET: &str = "whsec_bench_secret_0123456789abcdef";
const POLAR_SECRET: &str = "polar_whs_bench_secret_0123456789";
const PADDLE_SECRET: &str = "pdl_ntfset_bench_secret_0123456789";
const LEMON_SQUEEZY_SECRET: &str = "lemon_bench_secret_0123456789";

/// `event` grown to about `size` bytes with fields the mapping skips, as Stripe's real
/// sessions carry (line items, custom fields, payment method options...).
fn padded(mut event: Value, object: &[&str], size: usize) -> String {
    let mut n = 0;
    while event.to_string().len() < size {
        let mut target = &mut event;
        for key in object {
            target = &mut target[*key];
        }
        target[format!("extra_field_{n}")] = json!({
            "id": format!("li_1QpLyxLkdIwHu7ix{n:08}"), "object": "item", "amount_subtotal": 4900,
            "description": "Pro plan, billed once", "quantity": 1, "tax_rates": [],
        });
        n += 1;
    }
    event.to_string()
}

fn stripe_session(size: usize) -> String {
    let event = json!({
        "id": "evt_1QpLz2LkdIwHu7ixJkZbA1Qe", "object": "event", "type": "checkout.session.completed",
        "api_version": "2025-03-31.basil", "created": 1_743_465_600, "livemode": false,
        "data": { "object": {
            "id": "cs_test_a1B2c3D4e5F6g7H8i9J0kLmNoPqRsTuVwXyZ", "object": "checkout.session",
            "mode": "payment", "payment_status": "paid", "status": "complete",
            "payment_intent": "pi_3QpLyxLkdIwHu7ix0mS3hXkT", "amount_total": 4900, "currency": "usd",
            "client_reference_id": "user_42", "customer": "cus_RtYuIoPaSdFgHj",
            "metadata": { "affitor_click_id": "cust_42_1743465000000", "affitor_customer_key": "user_42", "program_id": "42" },
        }},
    });
    padded(event, &["data", "object"], size)
}

fn polar_order(size: usize) -> String {
    let event = json!({
        "type": "order.paid", "timestamp": "2025-06-01T10:00:05Z",
        "data": {
            "id": "b6a1f0c2-4e5d-4c3b-9a8f-7e6d5c4b3a21", "status": "paid", "total_amount": 1900,
            "currency": "usd", "billing_reason": "purchase",
            "metadata": { "affitor_click_id": "cust_42_1743465000000", "user_id": "user_42" },
            "customer": { "id": "9d8c7b6a-5f4e-4d3c-8b2a-1f0e9d8c7b6a", "external_id": "user_42" },
        },
    });
    padded(event, &["data"], size)
}

fn paddle_transaction(size: usize) -> String {
    let event = json!({
        "event_id": "evt_01hv8x2acma2gz8ttbzdfm2tge", "event_type": "transaction.completed",
        "occurred_at": "2025-04-01T00:00:10Z", "notification_id": "ntf_01hv8x2axxfzrs6wdpd2d2fbgg",
        "data": {
            "id": "txn_01hv8wptq8987qeep44cyrewp9", "status": "completed", "origin": "web",
            "currency_code": "USD", "subscription_id": null,
            "custom_data": { "affitor_click_id": "cust_42_1743465000000", "affitor_customer_key": "user_42" },
            "details": { "totals": { "total": "5500", "grand_total": "5500", "currency_code": "USD" } },
        },
    });
    padded(event, &["data"], size)
}

fn lemon_squeezy_order(size: usize) -> String {
    let event = json!({
        "meta": {
            "event_name": "order_created", "test_mode": false,
            "custom_data": { "affitor_click_id": "cust_42_1743465000000", "affitor_customer_key": "user_42" },
        },
        "data": {
            "type": "orders", "id": "1012345",
            "attributes": { "status": "paid", "total": 4950, "currency": "USD", "created_at": "2025-04-01T00:00:05Z" },
        },
    });
    padded(event, &["data", "attributes"], size)
}

/// A verifier of `P` on `secret`, tolerant of a day: the events are signed once, when the run
/// starts.
fn verifier<P: Provider>(secret: &str) -> Verifier<P> {
    Verifier::<P>::builder()
        .secret(secret)
        .tolerance(Duration::from_secs(86_400))
        .build()
        .unwrap()
}

/// The HMAC-SHA256 of `{t}.{body}` checked against the header's signature, as a handler
/// written by hand does it (the key set up per call, the hex decoded).
fn hmac_alone(secret: &str, header: &str, body: &[u8]) -> bool {
    let (t, v1) = header.split_once(",v1=").unwrap();
    let t = t.trim_start_matches("t=");
    let signature: Vec<u8> = (0..v1.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&v1[i..i + 2], 16).unwrap())
        .collect();
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(t.as_bytes());
    mac.update(b".");
    mac.update(body);
    mac.verify_slice(&signature).is_ok()
}

fn webhook(c: &mut Criterion) {
    let stripe = verifier::<Stripe>(STRIPE_SECRET);
    let mut group = c.benchmark_group("webhook");
    for (label, size) in [("2KiB", 2 * 1024), ("20KiB", 20 * 1024)] {
        let signed = SignedWebhook::stripe(STRIPE_SECRET, stripe_session(size));
        let header = signed.header("stripe-signature").unwrap().to_owned();
        let headers: Vec<(&str, &str)> = signed.headers().collect();
        let body = signed.body().as_bytes();
        assert!(hmac_alone(STRIPE_SECRET, &header, body));
        assert!(matches!(
            stripe.verify(headers.clone(), body).unwrap().action,
            Action::Sale(_)
        ));

        group.bench_function(format!("stripe/{label}/hmac_alone"), |b| {
            b.iter(|| hmac_alone(STRIPE_SECRET, black_box(&header), black_box(body)))
        });
        group.bench_function(format!("stripe/{label}/verify_and_map"), |b| {
            b.iter(|| stripe.verify(black_box(headers.iter().copied()), black_box(body)))
        });
        group.bench_function(format!("stripe/{label}/parse_value"), |b| {
            // For scale: the `serde_json::Value` parse a hand-written handler does next.
            b.iter(|| serde_json::from_slice::<Value>(black_box(body)).unwrap())
        });
    }
    // The others, 2 KiB each: verify and map.
    let others = [
        (
            "polar",
            SignedWebhook::polar(POLAR_SECRET, polar_order(2 * 1024)),
        ),
        (
            "paddle",
            SignedWebhook::paddle(PADDLE_SECRET, paddle_transaction(2 * 1024)),
        ),
        (
            "lemon_squeezy",
            SignedWebhook::lemon_squeezy(LEMON_SQUEEZY_SECRET, lemon_squeezy_order(2 * 1024)),
        ),
    ];
    let polar = verifier::<Polar>(POLAR_SECRET);
    let paddle = verifier::<Paddle>(PADDLE_SECRET);
    let lemon_squeezy = verifier::<LemonSqueezy>(LEMON_SQUEEZY_SECRET);
    for (provider, signed) in &others {
        let headers: Vec<(&str, &str)> = signed.headers().collect();
        let body = signed.body().as_bytes();
        let verify = |headers: &[(&str, &str)]| match *provider {
            "polar" => polar.verify(headers.iter().copied(), body),
            "paddle" => paddle.verify(headers.iter().copied(), body),
            _ => lemon_squeezy.verify(headers.iter().copied(), body),
        };
        assert!(matches!(verify(&headers).unwrap().action, Action::Sale(_)));
        group.bench_function(format!("{provider}/2KiB/verify_and_map"), |b| {
            b.iter(|| verify(black_box(&headers)))
        });
    }
    group.finish();
}

criterion_group!(benches, webhook);
criterion_main!(benches);
