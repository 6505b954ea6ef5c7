//! The deliveries a run with real provider signatures found lost or forged in silence: each is
//! now recorded once, or kept by the provider (a 5xx) until it can be.

use super::tracked::setup;
use super::*;

/// Delivers Stripe events to one verifier, as an app does: what it learns from one event (which
/// invoice a payment intent paid) serves the next.
struct StripeEndpoint {
    stripe: Verifier<Stripe>,
}

impl StripeEndpoint {
    fn new() -> Self {
        Self { stripe: stripe() }
    }

    async fn deliver(&self, client: &Client, body: &str) -> Tracked {
        let signed = SignedWebhook::stripe(STRIPE_SECRET, body);
        self.stripe
            .track(client, signed.headers(), signed.body())
            .await
    }
}

async fn deliver_stripe(client: &Client, body: &str) -> Tracked {
    StripeEndpoint::new().deliver(client, body).await
}

/// `body` as if it happened now: a redelivery keeps the event's `created`, so this is an event
/// the provider is still delivering.
fn happening_now(body: &str) -> String {
    let mut event: Value = serde_json::from_str(body).unwrap();
    let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap();
    if event.get("created").is_some() {
        event["created"] = json!(now.as_secs());
    } else {
        event["timestamp"] = json!("2999-01-01T00:00:00Z"); // Polar: not past any grace
    }
    event.to_string()
}

/// `body` with the field `name` of `data.object` set to `value`.
fn with(body: &str, name: &str, value: Value) -> String {
    let mut event: Value = serde_json::from_str(body).unwrap();
    event["data"]["object"][name] = value;
    event.to_string()
}

async fn deliver_polar(client: &Client, body: &str) -> Tracked {
    let signed = SignedWebhook::polar(POLAR_SECRET, body);
    polar().track(client, signed.headers(), signed.body()).await
}

fn is_reversed(tracked: &Tracked) -> bool {
    matches!(tracked, Tracked::Refund(RefundOutcome::Reversed { .. }))
}

/// From API version 2025-03-31 a charge names no invoice: the refund of a renewal names only
/// its payment intent. The verifier learns which invoice it paid from `invoice_payment.paid`,
/// and the refund finds the sale keyed by the invoice.
#[tokio::test]
async fn a_basil_subscription_refund_finds_its_sale_through_the_invoice_payment() {
    let (mock, client) = setup().await;
    let endpoint = StripeEndpoint::new();
    for path in [
        "stripe/invoice.paid.basil.json",
        "stripe/invoice_payment.paid.json",
    ] {
        let tracked = endpoint.deliver(&client, &fixture(path)).await;
        assert_eq!(tracked.status(), 200, "{path}: {tracked:?}");
    }
    let tracked = endpoint
        .deliver(&client, &fixture("stripe/charge.refunded.basil.json"))
        .await;
    assert!(is_reversed(&tracked), "{tracked:?}");
    let refunds = mock.refunds();
    assert_eq!(refunds.len(), 1);
    assert_eq!(refunds[0].transaction_id, "in_1RaBc9LkdIwHu7ixCycle0002");
}

/// An invoice payload that includes its `payments` (Basil) links them by itself.
#[tokio::test]
async fn a_basil_invoice_with_its_payments_links_them() {
    let (mock, client) = setup().await;
    let invoice = with(
        &fixture("stripe/invoice.paid.basil.json"),
        "payments",
        json!({"object": "list", "data": [{
            "object": "invoice_payment", "status": "paid",
            "payment": {"type": "payment_intent", "payment_intent": "pi_3RaBcALkdIwHu7ixCycle0002"}
        }]}),
    );
    let endpoint = StripeEndpoint::new();
    assert_eq!(endpoint.deliver(&client, &invoice).await.status(), 200);
    let tracked = endpoint
        .deliver(&client, &fixture("stripe/charge.refunded.basil.json"))
        .await;
    assert!(is_reversed(&tracked), "{tracked:?}");
    assert_eq!(
        mock.refunds()[0].transaction_id,
        "in_1RaBc9LkdIwHu7ixCycle0002"
    );
}

/// Before Basil an invoice names its payment intent, and a charge its invoice: both ways
/// still find the sale.
#[tokio::test]
async fn a_pre_basil_subscription_refund_finds_its_sale() {
    let (mock, client) = setup().await;
    let legacy = fixture("stripe/invoice.paid.legacy.json");
    assert_eq!(deliver_stripe(&client, &legacy).await.status(), 200);
    // The charge names its invoice.
    let tracked = deliver_stripe(&client, &fixture("stripe/charge.refunded.partial.json")).await;
    assert!(
        matches!(
            tracked,
            Tracked::Refund(RefundOutcome::PartiallyRefunded { .. })
        ),
        "{tracked:?}"
    );
    // A charge read without its invoice still finds it through the invoice's payment intent.
    let (mock2, client2) = setup().await;
    let endpoint = StripeEndpoint::new();
    let invoice = with(
        &legacy,
        "payment_intent",
        json!("pi_3PzXy9LkdIwHu7ix0Cycle01"),
    );
    assert_eq!(endpoint.deliver(&client2, &invoice).await.status(), 200);
    let charge = with(
        &fixture("stripe/charge.refunded.partial.json"),
        "invoice",
        Value::Null,
    );
    let tracked = endpoint.deliver(&client2, &charge).await;
    assert_eq!(tracked.status(), 200, "{tracked:?}");
    assert_eq!(
        mock2.refunds()[0].transaction_id,
        "in_1PzXy9LkdIwHu7ixCycle0001"
    );
    assert_eq!(mock.refunds().len(), 1);
}

/// A refund delivered before its sale (whose delivery failed and waits in the provider's
/// retry schedule) is answered 503 and nothing is sent; delivered again after the sale, it
/// reverses the commission.
#[tokio::test]
async fn a_refund_before_its_sale_is_kept_by_the_provider_until_the_sale_lands() {
    let (mock, client) = setup().await;
    let refund = happening_now(&fixture("stripe/charge.refunded.full.json"));
    let early = deliver_stripe(&client, &refund).await;
    assert!(
        matches!(&early, Tracked::AwaitingSale(error) if error.kind() == ErrorKind::SaleNotFound),
        "{early:?}"
    );
    assert_eq!(early.status(), 503);
    assert!(mock.refunds().is_empty());

    let sale = fixture("stripe/checkout.session.completed.payment.json");
    assert_eq!(deliver_stripe(&client, &sale).await.status(), 200);
    let redelivered = deliver_stripe(&client, &refund).await;
    assert!(is_reversed(&redelivered), "{redelivered:?}");
    assert_eq!(mock.refunds().len(), 1);

    // Polar, the same.
    let refund = happening_now(&fixture("polar/order.refunded.json"));
    assert_eq!(deliver_polar(&client, &refund).await.status(), 503);
    assert_eq!(
        deliver_polar(&client, &fixture("polar/order.paid.json"))
            .await
            .status(),
        200
    );
    let redelivered = deliver_polar(&client, &refund).await;
    assert_eq!(redelivered.status(), 200, "{redelivered:?}");
    assert!(matches!(redelivered, Tracked::Refund(_)), "{redelivered:?}");
}

/// Past the refund grace (default a day) the refund of a sale Affitor never recorded is an
/// organic sale's: acknowledged, so that the provider stops delivering it.
#[tokio::test]
async fn a_refund_past_its_grace_is_acknowledged() {
    let (mock, client) = setup().await;
    let old = fixture("stripe/charge.refunded.full.json"); // from 2025
    let tracked = deliver_stripe(&client, &old).await;
    assert!(
        matches!(&tracked, Tracked::Failed(error) if error.kind() == ErrorKind::SaleNotFound),
        "{tracked:?}"
    );
    assert_eq!(tracked.status(), 200);

    // A grace of zero acknowledges at once, however new the refund.
    let stripe = Verifier::<Stripe>::builder()
        .secret(STRIPE_SECRET)
        .refund_grace(Duration::ZERO)
        .build()
        .unwrap();
    let signed = SignedWebhook::stripe(STRIPE_SECRET, happening_now(&old));
    let tracked = stripe.track(&client, signed.headers(), signed.body()).await;
    assert_eq!(tracked.status(), 200, "{tracked:?}");
    assert!(mock.refunds().is_empty());
}

/// `invoice.payment_succeeded` is `invoice.paid`'s twin: both are handled, one sale recorded.
#[tokio::test]
async fn a_renewal_and_its_twin_are_one_sale() {
    let (mock, client) = setup().await;
    let paid = fixture("stripe/invoice.paid.basil.json");
    let twin = paid.replace("\"invoice.paid\"", "\"invoice.payment_succeeded\"");
    let first = deliver_stripe(&client, &twin).await;
    assert!(
        matches!(first, Tracked::Sale(SaleOutcome::Recorded { .. })),
        "{first:?}"
    );
    let second = deliver_stripe(&client, &paid).await;
    assert!(
        matches!(second, Tracked::Sale(SaleOutcome::AlreadyRecorded)),
        "{second:?}"
    );
    let sales = mock.sales();
    assert_eq!(sales.len(), 1);
    assert_eq!(sales[0].transaction_id, "in_1RaBc9LkdIwHu7ixCycle0002");
}

/// `refund.created` is `charge.refunded`'s twin: both are handled, the commission reversed
/// once.
#[tokio::test]
async fn a_refund_and_its_twin_reverse_once() {
    let (mock, client) = setup().await;
    let sale = fixture("stripe/checkout.session.completed.payment.json");
    assert_eq!(deliver_stripe(&client, &sale).await.status(), 200);
    let first = deliver_stripe(&client, &fixture("stripe/refund.created.json")).await;
    assert!(is_reversed(&first), "{first:?}");
    let twin = deliver_stripe(&client, &fixture("stripe/charge.refunded.full.json")).await;
    assert!(
        matches!(twin, Tracked::Refund(RefundOutcome::Skipped { .. })),
        "{twin:?}"
    );
    let refunds = mock.refunds();
    let reversed: Vec<_> = refunds
        .iter()
        .filter(|refund| refund.status != RefundStatus::Skipped)
        .collect();
    assert_eq!(reversed.len(), 1, "{refunds:?}");
    assert_eq!(reversed[0].reason.as_deref(), Some("requested_by_customer"));
}

/// A chargeback reverses the commission when the dispute opens; a lost dispute's close is its
/// twin; a won one is reported, since the API cannot restore the commission.
#[tokio::test]
async fn a_dispute_reverses_the_commission() {
    let (mock, client) = setup().await;
    let sale = fixture("stripe/checkout.session.completed.payment.json");
    assert_eq!(deliver_stripe(&client, &sale).await.status(), 200);
    let opened = deliver_stripe(&client, &fixture("stripe/charge.dispute.created.json")).await;
    assert!(is_reversed(&opened), "{opened:?}");
    let lost = deliver_stripe(&client, &fixture("stripe/charge.dispute.closed.lost.json")).await;
    assert!(
        matches!(lost, Tracked::Refund(RefundOutcome::Skipped { .. })),
        "{lost:?}"
    );
    let refunds = mock.refunds();
    assert_eq!(refunds[0].reason.as_deref(), Some("dispute: fraudulent"));
    assert_eq!(refunds[0].status, RefundStatus::Reversed);

    let won = with(
        &fixture("stripe/charge.dispute.closed.lost.json"),
        "status",
        json!("won"),
    );
    let tracked = deliver_stripe(&client, &won).await;
    assert!(
        matches!(tracked, Tracked::Ignored(Ignored::DisputeWon)),
        "{tracked:?}"
    );
    assert_eq!(mock.refunds().len(), 2);
}

/// A dispute whose sale was never a partner's is acknowledged like any such refund.
#[tokio::test]
async fn a_dispute_closed_lost_alone_reverses_too() {
    let (mock, client) = setup().await;
    let sale = fixture("stripe/checkout.session.completed.payment.json");
    assert_eq!(deliver_stripe(&client, &sale).await.status(), 200);
    let lost = deliver_stripe(&client, &fixture("stripe/charge.dispute.closed.lost.json")).await;
    assert!(is_reversed(&lost), "{lost:?}");
    assert_eq!(mock.refunds().len(), 1);
}

/// A dispute whose status starts with `warning_` is an inquiry: the card issuer asks, Stripe
/// withdraws no funds, and the commission stands (it was reversed as a chargeback of the
/// whole amount). Its opening and its close are acknowledged and logged at `info` with why; the
/// same dispute escalated to a chargeback and lost is reversed when it closes.
#[tokio::test(flavor = "current_thread")]
async fn a_dispute_inquiry_is_no_chargeback() {
    if !test_support::alone!() {
        return;
    }
    let (captured, _guard) = test_support::Logs::capture("info");
    let (mock, client) = setup().await;
    let endpoint = StripeEndpoint::new();
    let sale = fixture("stripe/checkout.session.completed.payment.json");
    assert_eq!(endpoint.deliver(&client, &sale).await.status(), 200);
    let opened = with(
        &fixture("stripe/charge.dispute.created.json"),
        "status",
        json!("warning_needs_response"),
    );
    let tracked = endpoint.deliver(&client, &opened).await;
    assert!(
        matches!(&tracked, Tracked::Ignored(Ignored::Inquiry(s)) if s == "warning_needs_response"),
        "{tracked:?}"
    );
    assert_eq!(tracked.status(), 200);
    let closed = with(
        &fixture("stripe/charge.dispute.closed.lost.json"),
        "status",
        json!("warning_closed"),
    );
    let tracked = endpoint.deliver(&client, &closed).await;
    assert!(
        matches!(&tracked, Tracked::Ignored(Ignored::Inquiry(s)) if s == "warning_closed"),
        "{tracked:?}"
    );
    assert!(mock.refunds().is_empty(), "{:?}", mock.refunds());
    let logs = captured.text();
    let said = logs
        .lines()
        .filter(|line| line.contains("a dispute inquiry (`warning_"))
        .collect::<Vec<_>>();
    assert_eq!(said.len(), 2, "{logs}");
    assert!(said.iter().all(|line| line.contains(" INFO ")), "{logs}");
    assert!(said[0].contains("no funds are withdrawn"), "{logs}");

    // Escalated to a chargeback, and lost: its close reverses the commission.
    let lost = endpoint
        .deliver(&client, &fixture("stripe/charge.dispute.closed.lost.json"))
        .await;
    assert!(is_reversed(&lost), "{lost:?}");
}

/// A sale in a currency the API does not take is not sent without a converter: the provider
/// is answered 500 and keeps the event. With one, the amount is converted in minor units.
#[tokio::test]
async fn a_currency_the_api_does_not_take_is_converted_or_kept() {
    let (mock, client) = setup().await;
    let in_yen = with(
        &with(
            &fixture("stripe/checkout.session.completed.payment.json"),
            "currency",
            json!("jpy"),
        ),
        "amount_total",
        json!(5000),
    );
    let kept = deliver_stripe(&client, &in_yen).await;
    assert!(
        matches!(&kept, Tracked::Failed(error) if error.kind() == ErrorKind::UnsupportedCurrency),
        "{kept:?}"
    );
    assert_eq!(kept.status(), 500);
    assert!(
        mock.requests().is_empty(),
        "nothing is sent: {:?}",
        mock.requests()
    );

    let stripe = Verifier::<Stripe>::builder()
        .secret(STRIPE_SECRET)
        .currency_converter(
            affitor::webhook::ExchangeRates::to(Currency::Usd)
                .with_rate("JPY", 0.0067)
                .with_rate("KWD", 3.25),
        )
        .build()
        .unwrap();
    let signed = SignedWebhook::stripe(STRIPE_SECRET, in_yen.clone());
    let tracked = stripe.track(&client, signed.headers(), signed.body()).await;
    assert!(
        matches!(tracked, Tracked::Sale(SaleOutcome::Recorded { .. })),
        "{tracked:?}"
    );
    let sale = &mock.sales()[0];
    assert_eq!((sale.amount_cents, sale.currency.as_str()), (3350, "USD")); // ¥5000 = $33.50
    let sent = &mock.requests_to(Endpoint::Sale)[0].body;
    assert_eq!(sent["additional_data"]["original_amount"], json!(5000));
    assert_eq!(sent["additional_data"]["original_currency"], json!("JPY"));

    // KWD has three decimals: 12.500 KWD is $40.63.
    let in_dinars = with(
        &with(&in_yen, "currency", json!("kwd")),
        "payment_intent",
        json!("pi_kwd_1"),
    )
    .replace("\"amount_total\":5000", "\"amount_total\":12500");
    let signed = SignedWebhook::stripe(STRIPE_SECRET, in_dinars);
    let tracked = stripe.track(&client, signed.headers(), signed.body()).await;
    assert_eq!(tracked.status(), 200, "{tracked:?}");
    let sale = mock
        .sales()
        .into_iter()
        .find(|s| s.transaction_id == "pi_kwd_1")
        .unwrap();
    assert_eq!((sale.amount_cents, sale.currency.as_str()), (4063, "USD"));
}

/// Stripe's test mode (`livemode: false`) is an Affitor test event: no partner is paid for a
/// test purchase, and its refund reverses nothing.
#[tokio::test]
async fn a_test_mode_payment_is_a_test_event() {
    let (mock, client) = setup().await;
    let live = fixture("stripe/checkout.session.completed.payment.json");
    let mut test: Value = serde_json::from_str(&live).unwrap();
    test["livemode"] = json!(false);
    let tracked = deliver_stripe(&client, &test.to_string()).await;
    assert!(
        matches!(tracked, Tracked::Sale(SaleOutcome::Test { .. })),
        "{tracked:?}"
    );
    let sent = &mock.requests_to(Endpoint::Sale)[0].body;
    assert_eq!(sent["additional_data"]["test_mode"], json!(true));
    assert!(mock.sales().iter().all(|sale| sale.test));

    let mut refund: Value =
        serde_json::from_str(&fixture("stripe/charge.refunded.full.json")).unwrap();
    refund["livemode"] = json!(false);
    let tracked = deliver_stripe(&client, &refund.to_string()).await;
    assert!(
        matches!(tracked, Tracked::Ignored(Ignored::TestRefund)),
        "{tracked:?}"
    );
    assert!(mock.requests_to(Endpoint::Refund).is_empty());
}

/// Polar's metered renewals (`subscription_meter_cycle`) are recurring sales.
#[tokio::test]
async fn a_polar_metered_renewal_is_recurring() {
    let (mock, client) = setup().await;
    let body = fixture("polar/order.paid.json").replace(
        "\"billing_reason\": \"subscription_cycle\"",
        "\"billing_reason\": \"subscription_meter_cycle\"",
    );
    assert_eq!(deliver_polar(&client, &body).await.status(), 200);
    let sent = &mock.requests_to(Endpoint::Sale)[0].body;
    assert_eq!(sent["is_recurring"], json!(true));
    assert_eq!(mock.sales().len(), 1);
}

/// A partial refund, then the rest of the same sale: Affitor reverses a sale's commission once,
/// so the second refund is warned with both events' ids, whatever the API answered.
#[tokio::test(flavor = "current_thread")]
async fn a_second_refund_of_one_sale_is_warned_with_both_ids() {
    if !test_support::alone!() {
        return;
    }
    let (captured, _guard) = test_support::Logs::capture("warn");
    let (mock, client) = setup().await;
    let endpoint = StripeEndpoint::new();
    let sale = fixture("stripe/invoice.paid.legacy.json");
    assert_eq!(endpoint.deliver(&client, &sale).await.status(), 200);
    let partial = fixture("stripe/charge.refunded.partial.json");
    let first = endpoint.deliver(&client, &partial).await;
    assert!(matches!(first, Tracked::Refund(_)), "{first:?}");
    assert!(
        !captured.text().contains("second refund"),
        "{}",
        captured.text()
    );

    let mut rest: Value = serde_json::from_str(&partial).unwrap();
    rest["id"] = json!("evt_3PzXy9LkdIwHu7ix0RefundRest");
    rest["data"]["object"]["amount_refunded"] = rest["data"]["object"]["amount"].clone();
    rest["data"]["previous_attributes"] = json!({"amount_refunded": 1000});
    let second = endpoint.deliver(&client, &rest.to_string()).await;
    assert_eq!(second.status(), 200, "{second:?}");
    let logs = captured.text();
    assert!(logs.contains("a second refund of the same sale"), "{logs}");
    assert!(logs.contains("evt_3PzXy9LkdIwHu7ix0RefundPart"), "{logs}");
    assert!(logs.contains("evt_3PzXy9LkdIwHu7ix0RefundRest"), "{logs}");
    assert_eq!(mock.refunds().len(), 2, "both sent: the API decides");
}
