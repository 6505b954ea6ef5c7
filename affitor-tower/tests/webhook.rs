//! Payment webhooks: signatures against vectors computed outside this crate, every refused
//! delivery and its answer, the mapping of each documented event shape (fixtures under
//! `tests/fixtures/webhook/`), and whole deliveries tracked against the local stand-in API.
#![cfg(all(feature = "webhook", feature = "mock"))]
#![allow(clippy::unwrap_used)] // Tests may unwrap.

use std::io;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use affitor_tower::mock::{Endpoint, Fault, MockServer, RefundStatus, SignedWebhook};
use affitor_tower::webhook::{
    Action, Event, Ignored, Polar, Refund, Sale, Stripe, Tracked, WebhookErrorKind,
};
use affitor_tower::{
    ClickId, Client, Currency, ErrorKind, RefundOutcome, RetryPolicy, SaleOutcome, SaleType,
};
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

fn stripe() -> Stripe {
    Stripe::new(STRIPE_SECRET).unwrap()
}

fn polar() -> Polar {
    Polar::new(POLAR_SECRET).unwrap()
}

/// A fixture, signed now, read by the verifier.
fn stripe_event(path: &str) -> Event {
    let signed = SignedWebhook::stripe(STRIPE_SECRET, fixture(path));
    stripe().verify(signed.headers(), signed.body()).unwrap()
}

fn polar_event(path: &str) -> Event {
    let signed = SignedWebhook::polar(POLAR_SECRET, fixture(path));
    polar().verify(signed.headers(), signed.body()).unwrap()
}

fn sale(event: &Event) -> &Sale {
    match &event.action {
        Action::Sale(sale) => sale,
        other => panic!("{}: not a sale: {other:?}", event.event_type),
    }
}

fn refund(event: &Event) -> &Refund {
    match &event.action {
        Action::Refund(refund) => refund,
        other => panic!("{}: not a refund: {other:?}", event.event_type),
    }
}

fn click_id(value: &str) -> Option<ClickId> {
    Some(value.parse().unwrap())
}

mod vectors {
    //! Expected signatures computed with Python's `hmac` and `hashlib`, not with this crate:
    //!
    //! ```text
    //! python3 -c 'import hmac, hashlib, base64
    //! body = b"{\"id\":\"evt_vector\",...}"   # STRIPE_BODY below
    //! print(hmac.new(b"whsec_test_affitor_vector", b"1743465600." + body, hashlib.sha256).hexdigest())
    //! print(base64.b64encode(hmac.new(b"polar_whs_affitor_vector",
    //!       b"msg_vector.1743465600." + polar_body, hashlib.sha256).digest()))'
    //! ```
    use super::*;

    const STRIPE_BODY: &str =
        r#"{"id":"evt_vector","object":"event","type":"customer.created","data":{"object":{}}}"#;
    const STRIPE_V1: &str = "3de78f9faab45fd00d286fb83df2e309466d7a1b8bc885dd64b5399ff97964d5";
    /// The same body and time, signed with `whsec_old_affitor_vector`.
    const STRIPE_V1_OLD_SECRET: &str =
        "acb7ee945347bcfbb0dcd4da46ca653389b9e2db0f733b0daeaa04beb0378e5c";

    const POLAR_BODY: &str =
        r#"{"type":"checkout.created","timestamp":"2025-04-01T00:00:00Z","data":{"id":"chk_1"}}"#;
    const POLAR_V1: &str = "NOM+r9le+p7ku9O+UboRKMCYeFEyv+LQSN8Kj+4uoew=";

    fn stripe_header(v1: &str) -> String {
        format!("t={SIGNED_AT},v1={v1}")
    }

    #[test]
    fn a_stripe_signature_computed_elsewhere_verifies() {
        let header = stripe_header(STRIPE_V1);
        let event = stripe()
            .verify_at(
                [("Stripe-Signature", header.as_str())],
                STRIPE_BODY,
                at(SIGNED_AT + 10),
            )
            .unwrap();
        assert_eq!(event.id, "evt_vector");
        assert_eq!(event.event_type, "customer.created");
        assert_eq!(event.action, Action::Ignore(Ignored::EventType));
    }

    #[test]
    fn the_stand_in_signs_stripe_events_as_stripe_does() {
        let signed = SignedWebhook::stripe_at(STRIPE_SECRET, STRIPE_BODY, at(SIGNED_AT));
        assert_eq!(
            signed.header("stripe-signature"),
            Some(stripe_header(STRIPE_V1).as_str())
        );
        assert_eq!(signed.body(), STRIPE_BODY);
    }

    #[test]
    fn any_v1_of_any_secret_verifies_during_a_rotation() {
        // Stripe sends one v1 per active secret while the old one is rolled.
        let header = format!(
            "t={SIGNED_AT},v1={},v0=ignored,v1={STRIPE_V1_OLD_SECRET}",
            "0".repeat(64)
        );
        let only_new = stripe();
        let error = only_new
            .verify_at(
                [("stripe-signature", header.as_str())],
                STRIPE_BODY,
                at(SIGNED_AT),
            )
            .unwrap_err();
        assert_eq!(error.kind(), WebhookErrorKind::SignatureMismatch);

        let rotating = Stripe::builder()
            .secret(STRIPE_SECRET)
            .secret("whsec_old_affitor_vector")
            .build()
            .unwrap();
        rotating
            .verify_at(
                [("stripe-signature", header.as_str())],
                STRIPE_BODY,
                at(SIGNED_AT),
            )
            .unwrap();
    }

    #[test]
    fn the_standard_webhooks_published_vector_verifies() {
        // The example of the Standard Webhooks specification (standard-webhooks/standard-webhooks
        // on GitHub, as reproduced by its libraries' tests): a `whsec_` secret is base64.
        let polar = Polar::new("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").unwrap();
        let headers = [
            ("webhook-id", "msg_p5jXN8AQM9LWM0D4loKWxJek"),
            ("webhook-timestamp", "1614265330"),
            (
                "webhook-signature",
                "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=",
            ),
        ];
        let error = polar
            .verify_at(headers, r#"{"test": 2432232314}"#, at(1_614_265_330))
            .unwrap_err();
        // Authentic, and not an event: the signature passed, the body has no `type`.
        assert_eq!(error.kind(), WebhookErrorKind::NotAnEvent);

        let tampered = polar
            .verify_at(headers, r#"{"test": 2432232315}"#, at(1_614_265_330))
            .unwrap_err();
        assert_eq!(tampered.kind(), WebhookErrorKind::SignatureMismatch);
    }

    #[test]
    fn a_polar_secret_is_used_as_its_bytes() {
        let headers = [
            ("Webhook-Id", "msg_vector"),
            ("Webhook-Timestamp", "1743465600"),
            (
                "Webhook-Signature",
                "v1,bm90IHRoaXMgb25lIGF0IGFsbCwgbm90IGF0IGFsbCE= v1,NOM+r9le+p7ku9O+UboRKMCYeFEyv+LQSN8Kj+4uoew=",
            ),
        ];
        let event = polar()
            .verify_at(headers, POLAR_BODY, at(SIGNED_AT - 60))
            .unwrap();
        assert_eq!(event.id, "msg_vector");
        assert_eq!(event.event_type, "checkout.created");

        let signed = SignedWebhook::polar_at(POLAR_SECRET, "msg_vector", POLAR_BODY, at(SIGNED_AT));
        assert_eq!(
            signed.header("webhook-signature"),
            Some(format!("v1,{POLAR_V1}").as_str())
        );
    }
}

mod refused {
    //! Every delivery refused before anything reaches Affitor, and its answer.
    use super::*;

    fn body() -> String {
        fixture("stripe/checkout.session.completed.payment.json")
    }

    fn stripe_error(headers: &[(&str, &str)], body: &str, now: SystemTime) -> WebhookErrorKind {
        let error = stripe()
            .verify_at(headers.iter().copied(), body, now)
            .unwrap_err();
        assert!(!error.to_string().contains(STRIPE_SECRET), "{error}");
        error.kind()
    }

    #[test]
    fn a_missing_signature() {
        let kind = stripe_error(
            &[("content-type", "application/json")],
            &body(),
            SystemTime::now(),
        );
        assert_eq!(kind, WebhookErrorKind::MissingSignature);
        let error = polar()
            .verify(
                [("webhook-id", "msg_1"), ("webhook-timestamp", "1")],
                body(),
            )
            .unwrap_err();
        assert_eq!(error.kind(), WebhookErrorKind::MissingSignature);
        assert_eq!(error.status(), 400);
    }

    #[test]
    fn a_malformed_signature() {
        for header in ["", "v1=abc", "t=soon,v1=abc", "t=1743465600"] {
            let kind = stripe_error(&[("stripe-signature", header)], &body(), SystemTime::now());
            assert_eq!(kind, WebhookErrorKind::MalformedSignature, "{header}");
        }
        let headers = [
            ("webhook-id", "m"),
            ("webhook-timestamp", "yesterday"),
            ("webhook-signature", "v1,AAAA"),
        ];
        let error = polar().verify(headers, body()).unwrap_err();
        assert_eq!(error.kind(), WebhookErrorKind::MalformedSignature);
    }

    #[test]
    fn a_wrong_secret() {
        let signed = SignedWebhook::stripe("whsec_someone_else", body());
        let error = stripe()
            .verify(signed.headers(), signed.body())
            .unwrap_err();
        assert_eq!(error.kind(), WebhookErrorKind::SignatureMismatch);
        assert_eq!(error.status(), 400);

        let signed = SignedWebhook::polar("polar_whs_someone_else", body());
        let error = polar().verify(signed.headers(), signed.body()).unwrap_err();
        assert_eq!(error.kind(), WebhookErrorKind::SignatureMismatch);
    }

    #[test]
    fn a_tampered_body() {
        let signed = SignedWebhook::stripe(STRIPE_SECRET, body());
        let tampered = signed.body().replace("4900", "4901");
        let error = stripe().verify(signed.headers(), tampered).unwrap_err();
        assert_eq!(error.kind(), WebhookErrorKind::SignatureMismatch);

        // Re-serialised JSON is a different body too: verify the raw bytes.
        let reserialised = serde_json::from_str::<Value>(signed.body())
            .unwrap()
            .to_string();
        let error = stripe().verify(signed.headers(), reserialised).unwrap_err();
        assert_eq!(error.kind(), WebhookErrorKind::SignatureMismatch);
    }

    #[test]
    fn an_expired_signature_and_the_future() {
        let signed = SignedWebhook::stripe_at(STRIPE_SECRET, body(), at(SIGNED_AT));
        let headers: Vec<_> = signed.headers().collect();
        stripe()
            .verify_at(headers.clone(), signed.body(), at(SIGNED_AT + 300))
            .unwrap();
        let kind = stripe_error(&headers, signed.body(), at(SIGNED_AT + 301));
        assert_eq!(kind, WebhookErrorKind::Expired);
        // Stripe's own libraries accept a timestamp ahead of the clock; so does this.
        stripe()
            .verify_at(headers.clone(), signed.body(), at(SIGNED_AT - 3600))
            .unwrap();
        // A wider tolerance accepts an older signature.
        let patient = Stripe::builder()
            .secret(STRIPE_SECRET)
            .tolerance(Duration::from_secs(600))
            .build()
            .unwrap();
        patient
            .verify_at(headers, signed.body(), at(SIGNED_AT + 500))
            .unwrap();

        // Standard Webhooks refuses both ways.
        let signed = SignedWebhook::polar_at(POLAR_SECRET, "msg_1", body(), at(SIGNED_AT));
        for now in [SIGNED_AT + 301, SIGNED_AT - 301] {
            let error = polar()
                .verify_at(signed.headers(), signed.body(), at(now))
                .unwrap_err();
            assert_eq!(error.kind(), WebhookErrorKind::Expired, "at {now}");
        }
        polar()
            .verify_at(signed.headers(), signed.body(), at(SIGNED_AT - 299))
            .unwrap();
    }

    #[test]
    fn a_body_over_the_limit() {
        let small = Stripe::builder()
            .secret(STRIPE_SECRET)
            .body_limit(1024)
            .build()
            .unwrap();
        assert_eq!(small.body_limit(), 1024);
        let signed = SignedWebhook::stripe(STRIPE_SECRET, body());
        let error = small.verify(signed.headers(), signed.body()).unwrap_err();
        assert_eq!(error.kind(), WebhookErrorKind::BodyTooLarge);
        assert_eq!(error.status(), 413);
    }

    #[test]
    fn a_body_that_is_not_json_or_not_an_event() {
        for (body, expected) in [
            ("not json", WebhookErrorKind::NotJson),
            ("{\"type\":", WebhookErrorKind::NotJson),
            ("[1, 2]", WebhookErrorKind::NotAnEvent),
            (r#"{"data":{"object":{}}}"#, WebhookErrorKind::NotAnEvent),
            (r#"{"type":"invoice.paid"}"#, WebhookErrorKind::NotAnEvent),
            (
                r#"{"type":"invoice.paid","data":"nope"}"#,
                WebhookErrorKind::NotAnEvent,
            ),
        ] {
            let signed = SignedWebhook::stripe(STRIPE_SECRET, body);
            let error = stripe()
                .verify(signed.headers(), signed.body())
                .unwrap_err();
            assert_eq!(error.kind(), expected, "{body}");
            assert_eq!(error.status(), 400, "{body}");
        }
    }

    #[test]
    fn a_verifier_needs_a_usable_secret() {
        assert_eq!(
            Stripe::builder().build().unwrap_err().kind(),
            WebhookErrorKind::MissingSecret
        );
        assert_eq!(
            Stripe::new("  ").unwrap_err().kind(),
            WebhookErrorKind::InvalidSecret
        );
        let error = Polar::new("whsec_%%%").unwrap_err();
        assert_eq!(error.kind(), WebhookErrorKind::InvalidSecret);
        assert!(!error.to_string().contains("%%%"));
    }
}

mod mapping {
    //! The documented payloads, read as sales and refunds.
    use super::*;

    #[test]
    fn a_one_off_checkout_is_a_sale_keyed_by_its_payment_intent() {
        let event = stripe_event("stripe/checkout.session.completed.payment.json");
        assert_eq!(event.id, "evt_1QpLz2LkdIwHu7ixJkZbA1Qe");
        let sale = sale(&event);
        assert_eq!(sale.transaction_id, "pi_3QpLyxLkdIwHu7ix0mS3hXkT");
        assert_eq!(sale.amount_cents, 4900);
        assert_eq!(sale.currency, Some(Currency::Usd));
        assert_eq!(sale.customer_key.as_deref(), Some("user_42"));
        assert_eq!(sale.click_id, click_id("cust_fixture_1743465000000"));
        assert_eq!(sale.sale_type, SaleType::Payment);
        assert!(!sale.is_recurring);
        assert_eq!(sale.subscription_id, None);
    }

    #[test]
    fn a_subscription_checkout_is_a_sale_keyed_by_its_first_invoice() {
        let event = stripe_event("stripe/checkout.session.completed.subscription.json");
        let sale = sale(&event);
        assert_eq!(sale.transaction_id, "in_1QpLzzLkdIwHu7ixT5y6U7i8");
        assert_eq!(sale.amount_cents, 2900);
        assert_eq!(sale.currency, Some(Currency::Eur));
        assert_eq!(sale.customer_key.as_deref(), Some("user_43"));
        assert_eq!(sale.sale_type, SaleType::Subscription);
        assert!(!sale.is_recurring);
        assert_eq!(
            sale.subscription_id.as_deref(),
            Some("sub_1QpLzzLkdIwHu7ixA9s8D7f6")
        );
    }

    #[test]
    fn an_async_payment_is_a_sale_once_it_succeeds() {
        let event = stripe_event("stripe/checkout.session.async_payment_succeeded.json");
        let sale = sale(&event);
        assert_eq!(sale.transaction_id, "pi_3QpM1aLkdIwHu7ix1sepaDD1");
        assert_eq!(sale.amount_cents, 9900);
        assert_eq!(sale.customer_key.as_deref(), Some("user_44"));

        // Its checkout.session.completed came earlier, unpaid: nothing to track yet.
        let mut pending: Value = serde_json::from_str(&fixture(
            "stripe/checkout.session.async_payment_succeeded.json",
        ))
        .unwrap();
        pending["type"] = json!("checkout.session.completed");
        pending["data"]["object"]["payment_status"] = json!("unpaid");
        let signed = SignedWebhook::stripe(STRIPE_SECRET, pending.to_string());
        let event = stripe().verify(signed.headers(), signed.body()).unwrap();
        assert_eq!(event.action, Action::Ignore(Ignored::NotPaid));
    }

    #[test]
    fn a_renewal_reads_the_subscription_details_of_basil() {
        let event = stripe_event("stripe/invoice.paid.basil.json");
        let sale = sale(&event);
        assert_eq!(sale.transaction_id, "in_1RaBc9LkdIwHu7ixCycle0002");
        assert_eq!(sale.amount_cents, 2900);
        assert_eq!(sale.currency, Some(Currency::Eur));
        assert_eq!(sale.customer_key.as_deref(), Some("user_43"));
        assert_eq!(sale.click_id, click_id("cust_fixture_1743465000001"));
        assert_eq!(sale.sale_type, SaleType::Subscription);
        assert!(sale.is_recurring);
        assert_eq!(
            sale.subscription_id.as_deref(),
            Some("sub_1QpLzzLkdIwHu7ixA9s8D7f6")
        );
    }

    #[test]
    fn a_renewal_reads_the_older_shape_too() {
        let event = stripe_event("stripe/invoice.paid.legacy.json");
        let sale = sale(&event);
        assert_eq!(sale.transaction_id, "in_1PzXy9LkdIwHu7ixCycle0001");
        assert_eq!(sale.amount_cents, 4900);
        assert_eq!(sale.customer_key.as_deref(), Some("user_42"));
        assert!(sale.is_recurring);
        assert_eq!(
            sale.subscription_id.as_deref(),
            Some("sub_1PmNbVLkdIwHu7ixQwErTy12")
        );
    }

    #[test]
    fn only_a_cycle_invoice_is_a_renewal() {
        let mut first: Value =
            serde_json::from_str(&fixture("stripe/invoice.paid.basil.json")).unwrap();
        first["data"]["object"]["billing_reason"] = json!("subscription_create");
        let signed = SignedWebhook::stripe(STRIPE_SECRET, first.to_string());
        let event = stripe().verify(signed.headers(), signed.body()).unwrap();
        assert_eq!(
            event.action,
            Action::Ignore(Ignored::BillingReason("subscription_create".into()))
        );
    }

    #[test]
    fn a_full_refund_names_the_payment_intent() {
        let event = stripe_event("stripe/charge.refunded.full.json");
        let refund = refund(&event);
        assert_eq!(refund.transaction_id, "pi_3QpLyxLkdIwHu7ix0mS3hXkT");
        assert_eq!(refund.amount_cents, None);
    }

    #[test]
    fn a_partial_refund_of_a_renewal_names_its_invoice() {
        let event = stripe_event("stripe/charge.refunded.partial.json");
        let refund = refund(&event);
        assert_eq!(refund.transaction_id, "in_1PzXy9LkdIwHu7ixCycle0001");
        assert_eq!(refund.amount_cents, Some(1000));
    }

    #[test]
    fn a_polar_order_is_a_sale_keyed_by_its_id() {
        let event = polar_event("polar/order.paid.json");
        assert!(
            event.id.starts_with("msg_"),
            "the delivery's webhook-id: {}",
            event.id
        );
        let sale = sale(&event);
        assert_eq!(sale.transaction_id, "b6a1f0c2-4e5d-4c3b-9a8f-7e6d5c4b3a21");
        assert_eq!(sale.amount_cents, 1900);
        assert_eq!(sale.currency, Some(Currency::Usd));
        assert_eq!(sale.customer_key.as_deref(), Some("user_45"));
        assert_eq!(sale.click_id, click_id("cust_fixture_1743465000003"));
        assert_eq!(sale.sale_type, SaleType::Subscription);
        assert!(sale.is_recurring);
        assert_eq!(
            sale.subscription_id.as_deref(),
            Some("3c4d5e6f-7a8b-4c9d-0e1f-2a3b4c5d6e7f")
        );
    }

    #[test]
    fn a_polar_purchase_through_a_checkout_link() {
        let mut order: Value = serde_json::from_str(&fixture("polar/order.paid.json")).unwrap();
        let data = &mut order["data"];
        data["billing_reason"] = json!("purchase");
        data["subscription_id"] = Value::Null;
        data["metadata"] = json!({ "reference_id": "cust_fixture_1743465000004" });
        data["customer"]["external_id"] = Value::Null;
        let signed = SignedWebhook::polar(POLAR_SECRET, order.to_string());
        let event = polar().verify(signed.headers(), signed.body()).unwrap();
        let sale = sale(&event);
        assert_eq!(sale.sale_type, SaleType::Payment);
        assert!(!sale.is_recurring);
        assert_eq!(sale.customer_key, None);
        assert_eq!(sale.click_id, click_id("cust_fixture_1743465000004"));
    }

    #[test]
    fn a_polar_refund_names_the_order() {
        let event = polar_event("polar/order.refunded.json");
        let refund = refund(&event);
        assert_eq!(
            refund.transaction_id,
            "b6a1f0c2-4e5d-4c3b-9a8f-7e6d5c4b3a21"
        );
        assert_eq!(refund.amount_cents, Some(500));
    }

    #[test]
    fn events_that_ask_nothing() {
        let cases = [
            (
                json!({"type": "customer.subscription.updated", "data": {"object": {}}}),
                Ignored::EventType,
            ),
            (
                json!({"type": "checkout.session.completed", "data": {"object": {
                    "mode": "payment", "payment_status": "paid", "payment_intent": "pi_1",
                    "amount_total": 0, "metadata": {"affitor_customer_key": "user_1"}}}}),
                Ignored::NoAmount,
            ),
            (
                json!({"type": "checkout.session.completed", "data": {"object": {
                    "mode": "payment", "payment_status": "no_payment_required", "amount_total": 0}}}),
                Ignored::NoAmount,
            ),
            (
                json!({"type": "checkout.session.completed", "data": {"object": {
                    "mode": "payment", "payment_status": "paid", "payment_intent": "pi_1",
                    "amount_total": 100, "metadata": {}}}}),
                Ignored::NoCustomer,
            ),
            (
                json!({"type": "checkout.session.completed", "data": {"object": {
                    "mode": "payment", "payment_status": "paid", "amount_total": 100,
                    "client_reference_id": "user_1"}}}),
                Ignored::MissingField("payment_intent"),
            ),
        ];
        for (body, expected) in cases {
            let signed = SignedWebhook::stripe(STRIPE_SECRET, body.to_string());
            let event = stripe().verify(signed.headers(), signed.body()).unwrap();
            assert_eq!(event.action, Action::Ignore(expected), "{body}");
        }
    }

    #[test]
    fn parsing_is_lenient_about_what_it_does_not_need() {
        // Fields of new API versions, expanded ids, odd types and a bad click id.
        let body = json!({
            "id": "evt_future", "type": "checkout.session.completed", "api_version": "2030-01-01.future",
            "data": { "object": {
                "mode": "payment", "payment_status": "paid",
                "payment_intent": { "id": "pi_expanded", "object": "payment_intent" },
                "amount_total": 1500, "currency": "gbp", "client_reference_id": 42,
                "metadata": { "affitor_customer_key": 1234, "affitor_click_id": "bad id!" },
                "brand_new_field": { "nested": [1, 2, 3] },
            }},
        });
        let signed = SignedWebhook::stripe(STRIPE_SECRET, body.to_string());
        let event = stripe().verify(signed.headers(), signed.body()).unwrap();
        let sale = sale(&event);
        assert_eq!(sale.transaction_id, "pi_expanded");
        assert_eq!(sale.currency, Some(Currency::Other("GBP".into())));
        assert_eq!(sale.customer_key.as_deref(), Some("1234"));
        assert_eq!(sale.click_id, None);
    }
}

mod tracked {
    //! Whole deliveries against the stand-in API: what is recorded, and the answer.
    use super::*;

    async fn setup() -> (MockServer, Client) {
        let mock = MockServer::start().await.unwrap();
        for n in 0..5 {
            let id = format!("cust_fixture_174346500000{n}").parse().unwrap();
            mock.click_with_id("partner", id);
        }
        let client = Client::builder()
            .api_key(mock.api_key())
            .base_url(mock.url())
            .timeout(Duration::from_secs(2))
            .retry(
                RetryPolicy::default()
                    .base_delay(Duration::from_millis(5))
                    .max_delay(Duration::from_millis(20))
                    .deadline(Duration::from_secs(3))
                    .refund_not_found_window(Duration::from_millis(50)),
            )
            .build()
            .unwrap();
        (mock, client)
    }

    async fn deliver_stripe(client: &Client, body: &str) -> Tracked {
        let signed = SignedWebhook::stripe(STRIPE_SECRET, body);
        stripe()
            .track(client, signed.headers(), signed.body())
            .await
    }

    #[tokio::test]
    async fn a_redelivered_event_is_one_sale() {
        let (mock, client) = setup().await;
        let body = fixture("stripe/checkout.session.completed.payment.json");
        let first = deliver_stripe(&client, &body).await;
        assert!(
            matches!(first, Tracked::Sale(SaleOutcome::Recorded { .. })),
            "{first:?}"
        );
        for _ in 0..2 {
            let again = deliver_stripe(&client, &body).await;
            assert!(
                matches!(again, Tracked::Sale(SaleOutcome::AlreadyRecorded)),
                "{again:?}"
            );
            assert_eq!(again.status(), 200);
        }
        assert_eq!(mock.requests_to(Endpoint::Sale).len(), 3);
        let sales = mock.sales();
        assert_eq!(sales.len(), 1);
        assert_eq!(sales[0].transaction_id, "pi_3QpLyxLkdIwHu7ix0mS3hXkT");
        assert_eq!(sales[0].partner_code.as_deref(), Some("partner"));
    }

    #[tokio::test]
    async fn the_sale_request_carries_every_field() {
        let (mock, client) = setup().await;
        let tracked = deliver_stripe(&client, &fixture("stripe/invoice.paid.basil.json")).await;
        assert_eq!(tracked.status(), 200, "{tracked:?}");
        let request = &mock.requests_to(Endpoint::Sale)[0].body;
        assert_eq!(request["transaction_id"], "in_1RaBc9LkdIwHu7ixCycle0002");
        assert_eq!(request["amount_cents"], 2900);
        assert_eq!(request["currency"], "EUR");
        assert_eq!(request["customer_key"], "user_43");
        assert_eq!(request["click_id"], "cust_fixture_1743465000001");
        assert_eq!(request["sale_type"], "subscription");
        assert_eq!(request["is_recurring"], true);
        assert_eq!(request["subscription_id"], "sub_1QpLzzLkdIwHu7ixA9s8D7f6");
    }

    #[tokio::test]
    async fn a_refund_finds_its_sale() {
        let (mock, client) = setup().await;
        deliver_stripe(
            &client,
            &fixture("stripe/checkout.session.completed.payment.json"),
        )
        .await;
        let tracked = deliver_stripe(&client, &fixture("stripe/charge.refunded.full.json")).await;
        assert!(
            matches!(tracked, Tracked::Refund(RefundOutcome::Reversed { .. })),
            "{tracked:?}"
        );

        deliver_stripe(&client, &fixture("stripe/invoice.paid.legacy.json")).await;
        let tracked =
            deliver_stripe(&client, &fixture("stripe/charge.refunded.partial.json")).await;
        assert!(
            matches!(
                tracked,
                Tracked::Refund(RefundOutcome::PartiallyRefunded { .. })
            ),
            "{tracked:?}"
        );

        let refunds = mock.refunds();
        assert_eq!(refunds.len(), 2);
        assert_eq!(refunds[0].status, RefundStatus::Reversed);
        assert_eq!(refunds[1].status, RefundStatus::Refunded);
        assert_eq!(refunds[1].refund_amount_cents, Some(1000));
    }

    #[tokio::test]
    async fn a_polar_order_and_its_refund() {
        let (mock, client) = setup().await;
        for path in ["polar/order.paid.json", "polar/order.refunded.json"] {
            let signed = SignedWebhook::polar(POLAR_SECRET, fixture(path));
            let tracked = polar()
                .track(&client, signed.headers(), signed.body())
                .await;
            assert_eq!(tracked.status(), 200, "{path}: {tracked:?}");
        }
        assert_eq!(mock.sales().len(), 1);
        assert_eq!(mock.refunds()[0].status, RefundStatus::Refunded);
    }

    #[tokio::test]
    async fn a_refund_of_a_sale_never_recorded_is_acknowledged() {
        let (mock, client) = setup().await;
        let tracked = deliver_stripe(&client, &fixture("stripe/charge.refunded.full.json")).await;
        match &tracked {
            Tracked::Failed(error) => assert_eq!(error.kind(), ErrorKind::SaleNotFound),
            other => panic!("{other:?}"),
        }
        assert_eq!(tracked.status(), 200);
        assert!(mock.refunds().is_empty());
    }

    #[tokio::test]
    async fn nothing_is_sent_for_a_refused_or_ignored_delivery() {
        let (mock, client) = setup().await;
        let body = fixture("stripe/checkout.session.completed.payment.json");
        let forged = SignedWebhook::stripe("whsec_someone_else", body.clone());
        let tracked = stripe()
            .track(&client, forged.headers(), forged.body())
            .await;
        assert!(
            matches!(&tracked, Tracked::Rejected(error) if error.kind() == WebhookErrorKind::SignatureMismatch)
        );
        assert_eq!(tracked.status(), 400);

        let zero = body.replace("\"amount_total\": 4900", "\"amount_total\": 0");
        let tracked = deliver_stripe(&client, &zero).await;
        assert!(
            matches!(tracked, Tracked::Ignored(Ignored::NoAmount)),
            "{tracked:?}"
        );
        assert_eq!(tracked.status(), 200);

        let other =
            json!({"id": "evt_x", "type": "payment_intent.created", "data": {"object": {}}});
        let tracked = deliver_stripe(&client, &other.to_string()).await;
        assert!(
            matches!(tracked, Tracked::Ignored(Ignored::EventType)),
            "{tracked:?}"
        );
        assert!(mock.requests().is_empty(), "{:?}", mock.requests());
    }

    #[tokio::test]
    async fn an_api_that_fails_gets_the_event_again_and_records_it_once() {
        let (mock, client) = setup().await;
        let body = fixture("stripe/checkout.session.completed.payment.json");
        mock.inject(Fault::status(503).always());
        for _ in 0..2 {
            let tracked = deliver_stripe(&client, &body).await;
            assert_eq!(tracked.status(), 503, "{tracked:?}");
        }
        assert!(mock.sales().is_empty());
        mock.clear_faults();
        assert_eq!(deliver_stripe(&client, &body).await.status(), 200);
        assert_eq!(deliver_stripe(&client, &body).await.status(), 200);
        assert_eq!(mock.sales().len(), 1);
    }
}

mod secrets {
    //! The secrets never appear in `Debug` output, errors or logs.
    use super::*;

    #[derive(Clone, Default)]
    struct Captured(Arc<Mutex<Vec<u8>>>);

    impl io::Write for Captured {
        fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(bytes);
            Ok(bytes.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn not_in_debug_output() {
        let stripe = Stripe::builder()
            .secret(STRIPE_SECRET)
            .secret("whsec_second_one")
            .build()
            .unwrap();
        let polar = Polar::new("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").unwrap();
        let builder = Polar::builder().secret(POLAR_SECRET);
        let shown = format!("{stripe:?} {polar:?} {builder:?}");
        for secret in [
            STRIPE_SECRET,
            "whsec_second_one",
            "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
            POLAR_SECRET,
        ] {
            assert!(!shown.contains(secret), "{shown}");
        }
        assert!(shown.contains("secrets: 2"), "{shown}");
    }

    #[tokio::test(flavor = "current_thread")]
    async fn not_in_errors_or_logs() {
        let captured = Captured::default();
        let writer = captured.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_max_level(tracing::Level::TRACE)
            .with_writer(move || writer.clone())
            .finish();
        let _guard = tracing::subscriber::set_default(subscriber);

        let mock = MockServer::start().await.unwrap();
        let client = Client::builder()
            .api_key(mock.api_key())
            .base_url(mock.url())
            .build()
            .unwrap();
        let body = fixture("stripe/checkout.session.completed.payment.json");
        let mut shown = String::new();
        for signed in [
            SignedWebhook::stripe(STRIPE_SECRET, body.clone()),
            SignedWebhook::stripe("whsec_someone_else", body.clone()),
            SignedWebhook::stripe_at(STRIPE_SECRET, body.clone(), at(SIGNED_AT)),
        ] {
            let tracked = stripe()
                .track(&client, signed.headers(), signed.body())
                .await;
            shown.push_str(&format!("{tracked:?}"));
        }
        let signed = SignedWebhook::polar(POLAR_SECRET, fixture("polar/order.paid.json"));
        shown.push_str(&format!(
            "{:?}",
            polar()
                .track(&client, signed.headers(), signed.body())
                .await
        ));

        let logs = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
        assert!(
            logs.contains("webhook"),
            "the deliveries were logged: {logs}"
        );
        for secret in [STRIPE_SECRET, POLAR_SECRET] {
            assert!(!logs.contains(secret), "{logs}");
            assert!(!shown.contains(secret), "{shown}");
        }
    }
}
