//! Lemon Squeezy: signatures against vectors computed with Python's `hmac` (below), the scheme
//! of Lemon Squeezy's own Laravel package (`lmsqueezy/laravel`,
//! `src/Http/Middleware/VerifyWebhookSignature.php`: `hash_hmac('sha256', $payload, $secret)`
//! against `X-Signature`, the raw body, lower-case hex), rotation, redelivery, each event's
//! mapping, and whole deliveries against the stand-in.
//!
//! ```text
//! python3 -c 'import hmac, hashlib
//! print(hmac.new(b"affitor-lemon-vector", body, hashlib.sha256).hexdigest())'
//! ```

use super::tracked::setup;
use super::*;
use affitor::webhook::LemonSqueezy;

const SECRET: &str = "affitor-lemon-vector";
const BODY: &str = r#"{"meta":{"event_name":"customer_created"},"data":{"type":"customers","id":"1","attributes":{}}}"#;
const SIGNATURE: &str = "59a019dd7becfffb9a011dd95647822172a952e18d908e71eb2bedbb0c3dfca3";
/// The same body, signed with `affitor-lemon-old`.
const SIGNATURE_OLD_SECRET: &str =
    "d060e0a253e622f037f88266bfa3f12392489d802b484edc1efaf29d020359ef";

fn lemon_squeezy() -> Verifier<LemonSqueezy> {
    Verifier::new(SECRET).unwrap()
}

fn signed(body: impl Into<String>) -> SignedWebhook {
    SignedWebhook::lemon_squeezy(SECRET, body)
}

fn event(path: &str) -> ProviderEvent {
    let signed = signed(fixture(path));
    lemon_squeezy()
        .verify(signed.headers(), signed.body())
        .unwrap()
}

/// A fixture with `change` made to it, signed and read.
fn changed(path: &str, change: impl FnOnce(&mut Value)) -> ProviderEvent {
    let mut event: Value = serde_json::from_str(&fixture(path)).unwrap();
    change(&mut event);
    let signed = signed(event.to_string());
    lemon_squeezy()
        .verify(signed.headers(), signed.body())
        .unwrap()
}

#[test]
fn a_signature_computed_elsewhere_verifies() {
    let event = lemon_squeezy()
        .verify([("X-Signature", SIGNATURE)], BODY)
        .unwrap();
    assert_eq!(event.event_type, "customer_created");
    assert_eq!(event.id, "customers/1");
    assert_eq!(event.action, Action::Ignore(Ignored::EventType));
    // Upper-case hex is the same signature.
    let upper = SIGNATURE.to_uppercase();
    assert!(
        lemon_squeezy()
            .verify([("x-signature", &upper)], BODY)
            .is_ok()
    );
}

#[test]
fn the_stand_in_signs_as_lemon_squeezy_does() {
    let signed = signed(BODY);
    assert_eq!(signed.header("x-signature"), Some(SIGNATURE));
    assert_eq!(signed.header("x-event-name"), Some("customer_created"));
}

#[test]
fn either_secret_verifies_during_a_rotation() {
    let headers = [("X-Signature", SIGNATURE_OLD_SECRET)];
    assert_eq!(
        lemon_squeezy().verify(headers, BODY).unwrap_err().kind(),
        WebhookErrorKind::SignatureMismatch
    );
    let rotating = Verifier::<LemonSqueezy>::builder()
        .secret(SECRET)
        .secret("affitor-lemon-old")
        .build()
        .unwrap();
    assert!(rotating.verify(headers, BODY).is_ok());
    assert!(rotating.verify([("X-Signature", SIGNATURE)], BODY).is_ok());
}

#[test]
fn a_tampered_missing_or_malformed_signature_is_refused() {
    let tampered = BODY.replace("\"1\"", "\"2\"");
    let cases = [
        (
            vec![("X-Signature", SIGNATURE.to_owned())],
            tampered.as_str(),
            WebhookErrorKind::SignatureMismatch,
        ),
        (vec![], BODY, WebhookErrorKind::MissingSignature),
        (
            vec![("X-Signature", "sha256=".to_owned() + SIGNATURE)],
            BODY,
            WebhookErrorKind::MalformedSignature,
        ),
        (
            vec![("X-Signature", SIGNATURE[..40].to_owned())],
            BODY,
            WebhookErrorKind::MalformedSignature,
        ),
    ];
    for (headers, body, kind) in cases {
        let error = lemon_squeezy().verify(headers, body).unwrap_err();
        assert_eq!(error.kind(), kind, "{error}");
        assert_eq!(error.status(), 400);
        assert!(!error.to_string().contains(SECRET));
    }
}

#[test]
fn a_paid_order_is_a_sale_keyed_by_the_order() {
    let event = event("lemonsqueezy/order_created.json");
    assert_eq!(event.id, "orders/1012345");
    let sale = sale(&event);
    assert_eq!(sale.transaction_id, "orders/1012345");
    assert_eq!(sale.amount_cents, 4950);
    assert_eq!(sale.currency, Currency::Usd);
    assert_eq!(sale.customer_key.as_deref(), Some("user_lemon_1"));
    assert_eq!(sale.click_id, click_id("cust_fixture_1743465000002"));
    assert_eq!(sale.sale_type, SaleType::Payment);
    assert!(!sale.is_recurring && !sale.test_mode);
    let pending = changed("lemonsqueezy/order_created.json", |event| {
        event["data"]["attributes"]["status"] = json!("pending");
    });
    assert_eq!(pending.action, Action::Ignore(Ignored::NotPaid));
}

#[test]
fn a_subscription_counts_its_first_order_once_and_each_renewal() {
    let first = event("lemonsqueezy/order_created.subscription.json");
    let sale_of_first = sale(&first);
    assert_eq!(sale_of_first.sale_type, SaleType::Subscription);
    assert_eq!(sale_of_first.subscription_id.as_deref(), Some("456790"));
    assert!(!sale_of_first.is_recurring);
    assert_eq!(sale_of_first.customer_key.as_deref(), Some("user_lemon_3"));
    assert_eq!(sale_of_first.click_id, None);
    // Its invoice says `initial`: the order is the sale.
    let initial = event("lemonsqueezy/subscription_payment_success.initial.json");
    assert_eq!(
        initial.action,
        Action::Ignore(Ignored::BillingReason("initial".into()))
    );
    let renewal = event("lemonsqueezy/subscription_payment_success.json");
    let renewal = sale(&renewal);
    assert_eq!(renewal.transaction_id, "subscription-invoices/345678");
    assert_eq!(renewal.amount_cents, 2261);
    assert_eq!(renewal.currency, Currency::Eur);
    assert_eq!(renewal.sale_type, SaleType::Subscription);
    assert!(renewal.is_recurring);
    assert_eq!(renewal.subscription_id.as_deref(), Some("456789"));
}

#[test]
fn a_refund_names_its_order_partial_or_full() {
    let partial = event("lemonsqueezy/order_refunded.partial.json");
    let refund = refund(&partial);
    assert_eq!(refund.transaction_id, "orders/1012345");
    assert_eq!(refund.amount_cents, Some(1650));
    let full = changed("lemonsqueezy/order_refunded.partial.json", |event| {
        let attributes = &mut event["data"]["attributes"];
        attributes["status"] = json!("refunded");
        attributes["refunded_amount"] = json!(4950);
    });
    assert_eq!(refund_of(&full).amount_cents, None);
    let invoice = changed("lemonsqueezy/subscription_payment_success.json", |event| {
        event["meta"]["event_name"] = json!("subscription_payment_refunded");
        event["data"]["attributes"]["status"] = json!("refunded");
        event["data"]["attributes"]["refunded_amount"] = json!(2261);
    });
    assert_eq!(
        refund_of(&invoice).transaction_id,
        "subscription-invoices/345678"
    );
}

fn refund_of(event: &ProviderEvent) -> Refund {
    refund(event).clone()
}

#[test]
fn test_mode_sales_are_test_events_and_their_refunds_send_nothing() {
    let sale_event = changed("lemonsqueezy/order_created.json", |event| {
        event["meta"]["test_mode"] = json!(true);
    });
    assert!(sale(&sale_event).test_mode);
    let refund = changed("lemonsqueezy/order_refunded.partial.json", |event| {
        event["meta"]["test_mode"] = json!(true);
    });
    assert_eq!(refund.action, Action::Ignore(Ignored::TestRefund));
}

#[tokio::test]
async fn a_redelivered_order_and_its_refund_reach_the_api_once() {
    let (mock, client) = setup().await;
    let deliver = |body: String| {
        let signed = signed(body);
        let client = client.clone();
        async move {
            lemon_squeezy()
                .track(&client, signed.headers(), signed.body())
                .await
        }
    };
    let order = fixture("lemonsqueezy/order_created.json");
    let first = deliver(order.clone()).await;
    assert!(
        matches!(first, Tracked::Sale(SaleOutcome::Recorded { .. })),
        "{first:?}"
    );
    // No timestamp is signed: a replay is a redelivery, recorded once.
    let replayed = deliver(order).await;
    assert!(
        matches!(replayed, Tracked::Sale(SaleOutcome::AlreadyRecorded)),
        "{replayed:?}"
    );
    assert_eq!(replayed.status(), 200);

    let refunded = deliver(fixture("lemonsqueezy/order_refunded.partial.json")).await;
    assert!(matches!(refunded, Tracked::Refund(_)), "{refunded:?}");

    let test_sale = {
        let mut event: Value =
            serde_json::from_str(&fixture("lemonsqueezy/order_created.json")).unwrap();
        event["meta"]["test_mode"] = json!(true);
        event["data"]["id"] = json!("1012346");
        deliver(event.to_string()).await
    };
    assert_eq!(test_sale.status(), 200, "{test_sale:?}");

    let sales = mock.sales();
    assert_eq!(sales.len(), 2);
    assert_eq!(sales[0].transaction_id, "orders/1012345");
    assert_eq!(sales[0].partner_code.as_deref(), Some("partner"));
    let sent = mock.requests_to(Endpoint::Sale);
    let test_request = &sent.last().unwrap().body;
    assert_eq!(test_request["transaction_id"], "orders/1012346");
    assert_eq!(test_request["additional_data"]["test_mode"], true);
    let refunds = mock.refunds();
    assert_eq!(refunds.len(), 1);
    assert_eq!(refunds[0].transaction_id, "orders/1012345");
}
