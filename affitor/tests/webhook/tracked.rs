//! Whole deliveries against the stand-in API: what is recorded, and the answer.

use super::*;

pub(super) async fn setup() -> (MockServer, Client) {
    let mock = MockServer::start().await.unwrap();
    for n in 0..5 {
        let id = format!("cust_fixture_174346500000{n}").parse().unwrap();
        mock.click_with_id("partner", id);
    }
    let client = mock.client();
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
    let tracked = deliver_stripe(&client, &fixture("stripe/charge.refunded.partial.json")).await;
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

/// A one-off Checkout sale is keyed by its payment intent; a charge of it that also names an
/// invoice (`invoice_creation`) finds the sale under the payment intent once Affitor knows
/// none under the invoice.
#[tokio::test]
async fn a_refund_naming_an_invoice_and_a_payment_intent_finds_a_one_off_sale() {
    let (mock, client) = setup().await;
    deliver_stripe(
        &client,
        &fixture("stripe/checkout.session.completed.payment.json"),
    )
    .await;
    let mut refund: Value =
        serde_json::from_str(&fixture("stripe/charge.refunded.full.json")).unwrap();
    refund["data"]["object"]["invoice"] = json!("in_1QpLyxLkdIwHu7ixInvoiced");
    let tracked = deliver_stripe(&client, &refund.to_string()).await;
    assert!(
        matches!(tracked, Tracked::Refund(RefundOutcome::Reversed { .. })),
        "{tracked:?}"
    );
    let refunds = mock.refunds();
    assert_eq!(refunds.len(), 1);
    assert_eq!(refunds[0].transaction_id, "pi_3QpLyxLkdIwHu7ix0mS3hXkT");
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

    let other = json!({"id": "evt_x", "type": "payment_intent.created", "data": {"object": {}}});
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

/// An Affitor slower than the provider waits is cut short and answered 503: the provider
/// delivers the event again, and the sale (already recorded, or not) is recorded once.
#[tokio::test]
async fn tracking_that_outlasts_its_deadline_is_answered_503() {
    let (mock, client) = setup().await;
    mock.inject(
        Fault::delay(Duration::from_secs(5))
            .on(Endpoint::Sale)
            .times(1),
    );
    let stripe = Verifier::<Stripe>::builder()
        .secret(STRIPE_SECRET)
        .track_deadline(Duration::from_millis(300))
        .build()
        .unwrap();
    let body = fixture("stripe/checkout.session.completed.payment.json");
    let signed = SignedWebhook::stripe(STRIPE_SECRET, body.clone());
    let tracked = stripe.track(&client, signed.headers(), signed.body()).await;
    assert!(
        matches!(&tracked, Tracked::Failed(error) if error.kind() == ErrorKind::Timeout),
        "{tracked:?}"
    );
    assert_eq!(tracked.status(), http::StatusCode::SERVICE_UNAVAILABLE);

    // The redelivery: the stand-in recorded the first attempt; this one is its 409.
    let signed = SignedWebhook::stripe(STRIPE_SECRET, body);
    let tracked = stripe.track(&client, signed.headers(), signed.body()).await;
    assert_eq!(tracked.status(), http::StatusCode::OK, "{tracked:?}");
    assert_eq!(mock.sales().len(), 1);
}

/// An organic sale (its customer came through no partner's link, so the API knows no such
/// customer): acknowledged, never answered 500 for the provider to retry for days, as nothing
/// is there to mend.
#[tokio::test]
async fn an_organic_sale_is_acknowledged() {
    let mock = MockServer::start().await.unwrap();
    let client = mock.client();
    let body = fixture("stripe/checkout.session.completed.payment.json");
    let tracked = deliver_stripe(&client, &body).await;
    assert!(
        matches!(&tracked, Tracked::Failed(error) if error.is_organic_sale()),
        "{tracked:?}"
    );
    assert_eq!(tracked.status(), 200);
    assert_eq!(mock.requests_to(Endpoint::Sale).len(), 1);
    assert!(mock.sales().is_empty());
}
