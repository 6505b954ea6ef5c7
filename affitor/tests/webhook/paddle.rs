//! Paddle Billing: signatures against vectors computed with Python's `hmac` (below), rotation,
//! the replay window, each event's mapping, and whole deliveries against the stand-in.
//!
//! ```text
//! python3 -c 'import hmac, hashlib
//! print(hmac.new(b"pdl_ntfset_01affitorvector", b"1743465600:" + body, hashlib.sha256).hexdigest())'
//! ```

use super::tracked::setup;
use super::*;
use affitor::webhook::Paddle;

const SECRET: &str = "pdl_ntfset_01affitorvector";
const BODY: &str = r#"{"event_id":"evt_vector","event_type":"customer.created","occurred_at":"2025-04-01T00:00:00Z","data":{"id":"ctm_1"}}"#;
const H1: &str = "0c5be136a925c89a8fe2b84f2aaef9a5b2c35f38507723bb06efa2106645782e";
/// The same body and time, signed with `pdl_ntfset_01affitorold`.
const H1_OLD_SECRET: &str = "92d1b0a2c5da56bab4bbd195624732be9c9bd4d9f1bd11bfddc7694b0ee64038";

fn paddle() -> Verifier<Paddle> {
    Verifier::new(SECRET).unwrap()
}

fn header(h1: &str) -> String {
    format!("ts={SIGNED_AT};h1={h1}")
}

fn event(path: &str) -> ProviderEvent {
    let signed = SignedWebhook::paddle(SECRET, fixture(path));
    paddle().verify(signed.headers(), signed.body()).unwrap()
}

#[test]
fn a_signature_computed_elsewhere_verifies() {
    let event = paddle()
        .verify_at([("Paddle-Signature", header(H1))], BODY, at(SIGNED_AT + 10))
        .unwrap();
    assert_eq!(event.id, "evt_vector");
    assert_eq!(event.event_type, "customer.created");
    assert_eq!(event.action, Action::Ignore(Ignored::EventType));
    assert_eq!(event.created, Some(at(SIGNED_AT)));
}

/// The vectors of Paddle's own Node SDK (`src/__tests__/notifications/webhooks-validator.test.ts`
/// of `PaddleHQ/paddle-node-sdk`: secret `VALID_SECRET`, signed at 1698796800). Their bodies are
/// not events: a signature that verifies ends in `NotAnEvent`, one that does not in
/// `SignatureMismatch`. Where the SDK refuses a signature 6 s old, this verifier's window is
/// minutes.
#[test]
fn the_vectors_of_paddles_node_sdk() {
    const SDK_TS: u64 = 1_698_796_800;
    const SDK_H1: &str = "a300428748dce5c70e4da19bffd60769591ea969c99dea3105d0ec9612cf43f9";
    let sdk = Verifier::<Paddle>::new("VALID_SECRET").unwrap();
    let check = |body: &str, header: String, verifier: &Verifier<Paddle>, seconds_later| {
        verifier
            .verify_at(
                [("Paddle-Signature", header)],
                body,
                at(SDK_TS + seconds_later),
            )
            .unwrap_err()
            .kind()
    };
    let valid = format!("ts={SDK_TS};h1={SDK_H1}");
    let body = r#"{"data": ["1", "2"]}"#;
    assert_eq!(
        check(body, valid.clone(), &sdk, 1),
        WebhookErrorKind::NotAnEvent
    );
    // Several hashes, and a scheme to come (`h2`), skipped.
    let several = format!(
        "ts={SDK_TS};h1={h};h1={h};h2=RANDOM_HASH",
        h = "28981e941fae76e53db32f3d2a83cb69db41476595e84e1970a1b5d98f62b261"
    );
    assert_eq!(
        check(r#"{"data": "value"}"#, several, &sdk, 1),
        WebhookErrorKind::NotAnEvent
    );
    let other_secret = Verifier::<Paddle>::new("INVALID_VALID_SECRET").unwrap();
    assert_eq!(
        check(body, valid.clone(), &other_secret, 1),
        WebhookErrorKind::SignatureMismatch
    );
    assert_eq!(
        check(body, format!("ts=9876;h1={SDK_H1}"), &sdk, 1),
        WebhookErrorKind::SignatureMismatch
    );
    assert_eq!(
        check(r#"{ "data": [ "1", "2" ]}"#, valid.clone(), &sdk, 1),
        WebhookErrorKind::SignatureMismatch
    );
    for header in [
        "invalid_header",
        "h1=invalid_header",
        "ts=1234;h2=invalid_header",
    ] {
        assert_eq!(
            check(body, header.to_owned(), &sdk, 1),
            WebhookErrorKind::MalformedSignature,
            "{header}"
        );
    }
    // The SDK refuses it after 5 s; here it is good for the tolerance (5 minutes).
    assert_eq!(
        check(body, valid.clone(), &sdk, 6),
        WebhookErrorKind::NotAnEvent
    );
    assert_eq!(
        check(body, valid, &sdk, 4 * 86_400),
        WebhookErrorKind::Expired
    );
}

#[test]
fn the_stand_in_signs_as_paddle_does() {
    let signed = SignedWebhook::paddle_at(SECRET, BODY, at(SIGNED_AT));
    assert_eq!(signed.header("paddle-signature"), Some(header(H1).as_str()));
}

#[test]
fn any_h1_of_any_secret_verifies_during_a_rotation() {
    let both = format!("ts={SIGNED_AT};h1={};h1={H1_OLD_SECRET}", "0".repeat(64));
    let only_new = paddle().verify_at([("paddle-signature", &both)], BODY, at(SIGNED_AT));
    assert_eq!(
        only_new.unwrap_err().kind(),
        WebhookErrorKind::SignatureMismatch
    );
    let rotating = Verifier::<Paddle>::builder()
        .secret(SECRET)
        .secret("pdl_ntfset_01affitorold")
        .build()
        .unwrap();
    assert!(
        rotating
            .verify_at([("paddle-signature", &both)], BODY, at(SIGNED_AT))
            .is_ok()
    );
}

#[test]
fn the_replay_window_is_minutes_not_seconds() {
    let verify = |seconds_later| {
        paddle().verify_at(
            [("Paddle-Signature", header(H1))],
            BODY,
            at(SIGNED_AT + seconds_later),
        )
    };
    // Paddle's SDKs refuse this one (over 5 s): a delivery that waited in a queue.
    assert!(verify(240).is_ok());
    assert_eq!(verify(301).unwrap_err().kind(), WebhookErrorKind::Expired);
    // A clock behind Paddle's does not turn payments away.
    assert!(
        paddle()
            .verify_at(
                [("Paddle-Signature", header(H1))],
                BODY,
                at(SIGNED_AT - 600)
            )
            .is_ok()
    );
}

#[test]
fn a_tampered_missing_or_malformed_signature_is_refused() {
    let tampered = BODY.replace("ctm_1", "ctm_2");
    let cases = [
        (
            vec![("Paddle-Signature", header(H1))],
            tampered.as_str(),
            WebhookErrorKind::SignatureMismatch,
        ),
        (vec![], BODY, WebhookErrorKind::MissingSignature),
        (
            vec![("Paddle-Signature", format!("h1={H1}"))],
            BODY,
            WebhookErrorKind::MalformedSignature,
        ),
        (
            vec![("Paddle-Signature", format!("ts={SIGNED_AT};h1=xyz"))],
            BODY,
            WebhookErrorKind::MalformedSignature,
        ),
        (
            vec![("Stripe-Signature", header(H1))],
            BODY,
            WebhookErrorKind::MissingSignature,
        ),
    ];
    for (headers, body, kind) in cases {
        let error = paddle()
            .verify_at(headers, body, at(SIGNED_AT))
            .unwrap_err();
        assert_eq!(error.kind(), kind, "{error}");
        assert_eq!(error.status(), 400);
        assert!(!error.to_string().contains(SECRET));
    }
}

#[test]
fn a_completed_transaction_is_a_sale_of_its_grand_total() {
    let event = event("paddle/transaction.completed.json");
    assert_eq!(event.id, "evt_01hv8x2acma2gz8ttbzdfm2tge");
    let sale = sale(&event);
    assert_eq!(sale.transaction_id, "txn_01hv8wptq8987qeep44cyrewp9");
    assert_eq!(sale.amount_cents, 5500);
    assert_eq!(sale.currency, Currency::Usd);
    assert_eq!(sale.customer_key.as_deref(), Some("user_paddle_1"));
    assert_eq!(sale.click_id, click_id("cust_fixture_1743465000000"));
    assert_eq!(sale.sale_type, SaleType::Payment);
    assert!(!sale.is_recurring);
}

#[test]
fn a_subscription_renewal_is_recurring() {
    let event = event("paddle/transaction.completed.renewal.json");
    let sale = sale(&event);
    assert_eq!(sale.transaction_id, "txn_01hvakn2g5t1yxvyc9b3wm7e5q");
    assert_eq!(sale.amount_cents, 3451);
    assert_eq!(sale.currency, Currency::Eur);
    assert_eq!(sale.sale_type, SaleType::Subscription);
    assert!(sale.is_recurring);
    assert_eq!(
        sale.subscription_id.as_deref(),
        Some("sub_01hv8y5ehszzq0yv20ttx3166y")
    );
}

#[test]
fn a_refund_counts_once_approved() {
    let pending = event("paddle/adjustment.created.refund.json");
    assert_eq!(
        pending.action,
        Action::Ignore(Ignored::NotApproved("pending_approval".into()))
    );
    let approved = event("paddle/adjustment.updated.refund.json");
    let refund = refund(&approved);
    assert_eq!(refund.transaction_id, "txn_01hv8wptq8987qeep44cyrewp9");
    assert_eq!(refund.amount_cents, Some(1100));
    assert_eq!(refund.reason.as_deref(), Some("requested_by_customer"));
    let mut rejected: Value =
        serde_json::from_str(&fixture("paddle/adjustment.updated.refund.json")).unwrap();
    rejected["data"]["status"] = json!("rejected");
    let signed = SignedWebhook::paddle(SECRET, rejected.to_string());
    let rejected = paddle().verify(signed.headers(), signed.body()).unwrap();
    assert_eq!(
        rejected.action,
        Action::Ignore(Ignored::NotApproved("rejected".into()))
    );
}

#[test]
fn a_chargeback_is_a_full_refund_and_its_reversal_is_a_dispute_won() {
    let chargeback = event("paddle/adjustment.created.chargeback.json");
    let refund = refund(&chargeback);
    assert_eq!(refund.transaction_id, "txn_01hv8wptq8987qeep44cyrewp9");
    assert_eq!(refund.amount_cents, None);
    assert_eq!(refund.reason.as_deref(), Some("chargeback: fraudulent"));
    let with_action = |action: &str| {
        let mut event: Value =
            serde_json::from_str(&fixture("paddle/adjustment.created.chargeback.json")).unwrap();
        event["data"]["action"] = json!(action);
        let signed = SignedWebhook::paddle(SECRET, event.to_string());
        paddle()
            .verify(signed.headers(), signed.body())
            .unwrap()
            .action
    };
    assert_eq!(
        with_action("chargeback_reverse"),
        Action::Ignore(Ignored::DisputeWon)
    );
    assert_eq!(
        with_action("credit"),
        Action::Ignore(Ignored::ReturnsNoPayment("credit".into()))
    );
    assert_eq!(
        with_action("chargeback_warning"),
        Action::Ignore(Ignored::ReturnsNoPayment("chargeback_warning".into()))
    );
}

#[tokio::test]
async fn a_sale_and_its_refund_reach_the_api_once() {
    let (mock, client) = setup().await;
    let deliver = |path: &str| {
        // Happened now, as far as the refund grace can tell.
        let mut event: Value = serde_json::from_str(&fixture(path)).unwrap();
        event["occurred_at"] = json!("2999-01-01T00:00:00Z");
        let signed = SignedWebhook::paddle(SECRET, event.to_string());
        let client = client.clone();
        async move {
            paddle()
                .track(&client, signed.headers(), signed.body())
                .await
        }
    };
    // The refund first: its sale may still be on its way, so Paddle is asked to redeliver.
    let early = deliver("paddle/adjustment.updated.refund.json").await;
    assert!(matches!(early, Tracked::AwaitingSale(_)), "{early:?}");
    assert_eq!(early.status(), 503);

    let sale = deliver("paddle/transaction.completed.json").await;
    assert!(
        matches!(sale, Tracked::Sale(SaleOutcome::Recorded { .. })),
        "{sale:?}"
    );
    let again = deliver("paddle/transaction.completed.json").await;
    assert!(
        matches!(again, Tracked::Sale(SaleOutcome::AlreadyRecorded)),
        "{again:?}"
    );

    assert_eq!(
        deliver("paddle/adjustment.created.refund.json")
            .await
            .status(),
        200
    );
    let refunded = deliver("paddle/adjustment.updated.refund.json").await;
    assert!(matches!(refunded, Tracked::Refund(_)), "{refunded:?}");
    assert_eq!(refunded.status(), 200);

    let sales = mock.sales();
    assert_eq!(sales.len(), 1);
    assert_eq!(sales[0].transaction_id, "txn_01hv8wptq8987qeep44cyrewp9");
    assert_eq!(sales[0].partner_code.as_deref(), Some("partner"));
    let refunds = mock.refunds();
    assert_eq!(refunds.len(), 1);
    assert_eq!(refunds[0].transaction_id, "txn_01hv8wptq8987qeep44cyrewp9");
    assert_eq!(refunds[0].refund_amount_cents, Some(1100));
}
