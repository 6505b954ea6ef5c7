//! The providers' own webhooks (Stripe, Polar, Paddle, Lemon Squeezy), signed as they sign
//! them: each sale and refund reaches the API once, and a forged one never.

use std::time::Duration;

use affitor::client::Endpoint;
use affitor_mock::{Fault, RefundStatus, SignedWebhook};
use affitor_scenarios::Running;
use example_support::{PaymentProvider, sample};
use reqwest::StatusCode;
use serde_json::{Value, json};

use super::checkout::referred_user;

/// `event` signed with the app's demo secret of `provider`, now.
fn signed(provider: PaymentProvider, event: &Value) -> SignedWebhook {
    provider.demo_signed(event.to_string())
}

pub(super) async fn every_provider_sale_and_refund_reach_the_api_once(app: &Running) {
    let name = app.app.name;
    let (user_id, click_id) = referred_user(app).await;
    for provider in PaymentProvider::ALL {
        let key = format!("{provider}_sale_1");
        let sale = sample::sale(provider, &key, 2500, &user_id, Some(&click_id));
        for _ in 0..2 {
            deliver_signed(app, provider, &signed(provider, &sale), StatusCode::OK).await;
        }
        let refund = sample::refund(provider, &key, 2500, 1000);
        deliver_signed(app, provider, &signed(provider, &refund), StatusCode::OK).await;

        let transaction_id = sample::transaction_id(provider, &key);
        let sales: Vec<_> = app
            .mock
            .sales()
            .into_iter()
            .filter(|sale| sale.transaction_id == transaction_id)
            .collect();
        assert_eq!(sales.len(), 1, "{name}: {provider}: {sales:?}");
        assert_eq!(sales[0].amount_cents, 2500, "{name}: {provider}");
        assert_eq!(
            sales[0].customer_key.as_deref(),
            Some(user_id.as_str()),
            "{name}: {provider}"
        );
        assert_eq!(
            sales[0].partner_code.as_deref(),
            Some("partner"),
            "{name}: {provider}"
        );
        let refunds: Vec<_> = app
            .mock
            .refunds()
            .into_iter()
            .filter(|refund| refund.transaction_id == transaction_id)
            .collect();
        assert_eq!(refunds.len(), 1, "{name}: {provider}: {refunds:?}");
        assert_eq!(
            refunds[0].refund_amount_cents,
            Some(1000),
            "{name}: {provider}"
        );
        assert_eq!(
            refunds[0].status,
            RefundStatus::Refunded,
            "{name}: {provider}"
        );
    }
}

/// Posts `signed` to the provider's webhook and checks the status it answers.
async fn deliver_signed(
    app: &Running,
    provider: PaymentProvider,
    signed: &SignedWebhook,
    expected: StatusCode,
) {
    let answer = app
        .post_signed(&format!("/webhooks/{provider}"), signed)
        .await;
    assert_eq!(
        answer.status, expected,
        "{}: {provider}: {}",
        app.app.name, answer.text
    );
}

pub(super) async fn a_stripe_sale_is_recorded_once_however_often_it_is_delivered(app: &Running) {
    let (user_id, click_id) = referred_user(app).await;
    let event = sample::stripe_checkout_completed("pi_s1", 4900, &user_id, Some(&click_id));
    let delivery = signed(PaymentProvider::Stripe, &event);
    for _ in 0..3 {
        deliver_signed(app, PaymentProvider::Stripe, &delivery, StatusCode::OK).await;
    }
    // The provider signs each redelivery anew: the same event still records one sale.
    deliver_signed(
        app,
        PaymentProvider::Stripe,
        &signed(PaymentProvider::Stripe, &event),
        StatusCode::OK,
    )
    .await;
    let name = app.app.name;
    assert_eq!(app.mock.requests_to(Endpoint::Sale).len(), 4, "{name}");
    let sales = app.mock.sales();
    assert_eq!(sales.len(), 1, "{name}");
    assert_eq!(sales[0].transaction_id, "pi_s1", "{name}");
    assert_eq!(sales[0].amount_cents, 4900, "{name}");
    assert_eq!(
        sales[0].customer_key.as_deref(),
        Some(user_id.as_str()),
        "{name}"
    );
    assert_eq!(sales[0].partner_code.as_deref(), Some("partner"), "{name}");
}

pub(super) async fn a_stripe_refund_reverses_the_commission(app: &Running) {
    let (user_id, click_id) = referred_user(app).await;
    let sale = sample::stripe_checkout_completed("pi_s2", 4900, &user_id, Some(&click_id));
    deliver_signed(
        app,
        PaymentProvider::Stripe,
        &signed(PaymentProvider::Stripe, &sale),
        StatusCode::OK,
    )
    .await;
    let refund = sample::stripe_charge_refunded("pi_s2", 4900, 4900);
    for _ in 0..2 {
        deliver_signed(
            app,
            PaymentProvider::Stripe,
            &signed(PaymentProvider::Stripe, &refund),
            StatusCode::OK,
        )
        .await;
    }
    let name = app.app.name;
    let refunds = app.mock.refunds();
    assert_eq!(refunds.len(), 2, "{name}: {refunds:?}");
    assert_eq!(refunds[0].transaction_id, "pi_s2", "{name}");
    assert_eq!(refunds[0].status, RefundStatus::Reversed, "{name}");
    assert_eq!(
        refunds[1].status,
        RefundStatus::Skipped,
        "{name}: a redelivery"
    );
    assert!(app.mock.sales()[0].refunded, "{name}");
}

pub(super) async fn a_polar_order_and_its_refund(app: &Running) {
    let (user_id, click_id) = referred_user(app).await;
    let paid = sample::polar_order("order.paid", "order_p1", 1900, 0, &user_id, Some(&click_id));
    deliver_signed(
        app,
        PaymentProvider::Polar,
        &signed(PaymentProvider::Polar, &paid),
        StatusCode::OK,
    )
    .await;
    let refunded = sample::polar_order(
        "order.refunded",
        "order_p1",
        1900,
        500,
        &user_id,
        Some(&click_id),
    );
    deliver_signed(
        app,
        PaymentProvider::Polar,
        &signed(PaymentProvider::Polar, &refunded),
        StatusCode::OK,
    )
    .await;
    let name = app.app.name;
    let sales = app.mock.sales();
    assert_eq!(sales.len(), 1, "{name}");
    assert_eq!(sales[0].transaction_id, "order_p1", "{name}");
    let refunds = app.mock.refunds();
    assert_eq!(refunds[0].status, RefundStatus::Refunded, "{name}");
    assert_eq!(refunds[0].refund_amount_cents, Some(500), "{name}");
}

pub(super) async fn a_forged_stale_or_broken_webhook_is_refused_and_nothing_is_sent(app: &Running) {
    let name = app.app.name;
    let event = sample::stripe_checkout_completed("pi_s3", 4900, "user_1", None);
    let body = event.to_string();
    let secret = PaymentProvider::Stripe.demo_secret();
    let an_hour_ago = std::time::SystemTime::now() - Duration::from_secs(3600);
    let valid = SignedWebhook::stripe(secret, body.clone());
    let cases = [
        (
            "a wrong secret",
            SignedWebhook::stripe("whsec_not_the_apps", body.clone()),
            400,
        ),
        (
            "an expired signature",
            SignedWebhook::stripe_at(secret, body.clone(), an_hour_ago),
            400,
        ),
        ("not JSON", SignedWebhook::stripe(secret, "not json"), 400),
        (
            "not an event",
            SignedWebhook::stripe(secret, "{\"hello\":1}"),
            400,
        ),
        (
            "over the limit",
            SignedWebhook::stripe(secret, format!("{{\"pad\":\"{}\"}}", "x".repeat(1 << 20))),
            413,
        ),
        (
            "Polar's headers on Stripe's route",
            SignedWebhook::polar(PaymentProvider::Polar.demo_secret(), body.clone()),
            400,
        ),
    ];
    for (case, signed, status) in cases {
        let answer = app.post_signed("/webhooks/stripe", &signed).await;
        assert_eq!(
            answer.status.as_u16(),
            status,
            "{name}: {case}: {}",
            answer.text
        );
        assert!(!answer.text.contains(secret), "{name}: {case}");
    }
    // A missing signature, and a tampered body.
    let answer = app.post_json("/webhooks/stripe", &event, &[]).await;
    assert_eq!(
        answer.status,
        StatusCode::BAD_REQUEST,
        "{name}: {}",
        answer.text
    );
    let signature = valid.header("stripe-signature").unwrap_or_default();
    let tampered = body.replace("4900", "4901");
    let answer = app
        .post_form(
            "/webhooks/stripe",
            &tampered,
            &[
                ("stripe-signature", signature),
                ("content-type", "application/json"),
            ],
        )
        .await;
    assert_eq!(
        answer.status,
        StatusCode::BAD_REQUEST,
        "{name}: {}",
        answer.text
    );
    assert!(
        app.mock.requests().is_empty(),
        "{name}: {:?}",
        app.mock.requests()
    );
}

pub(super) async fn a_webhook_with_nothing_to_track_is_acknowledged(app: &Running) {
    let name = app.app.name;
    let other = json!({"id": "evt_other", "type": "customer.created", "data": {"object": {}}});
    let free = sample::stripe_checkout_completed("pi_s4", 0, "user_1", None);
    for event in [other, free] {
        deliver_signed(
            app,
            PaymentProvider::Stripe,
            &signed(PaymentProvider::Stripe, &event),
            StatusCode::OK,
        )
        .await;
    }
    assert!(
        app.mock.requests().is_empty(),
        "{name}: {:?}",
        app.mock.requests()
    );
    // The refund of a sale Affitor does not know: while it is new, the sale may still be on
    // its way (the provider is asked to deliver it again); a day later, it never will.
    let mut refund = sample::stripe_charge_refunded("pi_never_sold", 4900, 4900);
    deliver_signed(
        app,
        PaymentProvider::Stripe,
        &signed(PaymentProvider::Stripe, &refund),
        StatusCode::SERVICE_UNAVAILABLE,
    )
    .await;
    let two_days = 2 * 24 * 3600;
    refund["created"] = json!(refund["created"].as_u64().unwrap_or_default() - two_days);
    deliver_signed(
        app,
        PaymentProvider::Stripe,
        &signed(PaymentProvider::Stripe, &refund),
        StatusCode::OK,
    )
    .await;
    assert!(app.mock.refunds().is_empty(), "{name}");
}

pub(super) async fn a_webhook_is_redelivered_while_the_api_fails_and_recorded_once(app: &Running) {
    let (user_id, click_id) = referred_user(app).await;
    let event = sample::stripe_checkout_completed("pi_s5", 4900, &user_id, Some(&click_id));
    // Every attempt of the first two deliveries fails: the provider is asked to redeliver.
    app.mock.inject(Fault::status(503).always());
    for _ in 0..2 {
        deliver_signed(
            app,
            PaymentProvider::Stripe,
            &signed(PaymentProvider::Stripe, &event),
            StatusCode::SERVICE_UNAVAILABLE,
        )
        .await;
    }
    assert!(app.mock.sales().is_empty(), "{}", app.app.name);
    app.mock.clear_faults();
    for _ in 0..2 {
        deliver_signed(
            app,
            PaymentProvider::Stripe,
            &signed(PaymentProvider::Stripe, &event),
            StatusCode::OK,
        )
        .await;
    }
    assert_eq!(app.mock.sales().len(), 1, "{}", app.app.name);
}
