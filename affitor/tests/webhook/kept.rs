//! No handled event ends in a 200 and a log line alone: a sale Affitor refuses, and an event
//! whose amount or currency cannot be read, are answered 500 so that the provider keeps them
//! (nothing wrong is sent meanwhile); what is acknowledged without being tracked is counted.

use super::tracked::setup;
use super::*;
use affitor::webhook::{LemonSqueezy, Paddle};

/// `path`'s event with `change` made to it, signed and delivered to `P`'s verifier (secret
/// `secret`) as it would reach the app.
fn changed<P: affitor::webhook::Provider>(
    secret: &str,
    sign: fn(&str, String) -> SignedWebhook,
    path: &str,
    change: impl FnOnce(&mut Value),
) -> ProviderEvent {
    let mut event: Value = serde_json::from_str(&fixture(path)).unwrap();
    change(&mut event);
    let signed = sign(secret, event.to_string());
    Verifier::<P>::new(secret)
        .unwrap()
        .verify(signed.headers(), signed.body())
        .unwrap()
}

fn stripe_changed(path: &str, change: impl FnOnce(&mut Value)) -> ProviderEvent {
    changed::<Stripe>(STRIPE_SECRET, SignedWebhook::stripe, path, change)
}

fn paddle_changed(path: &str, change: impl FnOnce(&mut Value)) -> ProviderEvent {
    changed::<Paddle>(PADDLE_SECRET, SignedWebhook::paddle, path, change)
}

fn lemon_changed(path: &str, change: impl FnOnce(&mut Value)) -> ProviderEvent {
    changed::<LemonSqueezy>(LEMON_SECRET, SignedWebhook::lemon_squeezy, path, change)
}

const PADDLE_SECRET: &str = "pdl_ntfset_01affitorkept";
const LEMON_SECRET: &str = "affitor-lemon-kept";

/// A partial refund whose refunded amount cannot be read was a full reversal: the partner lost
/// the whole commission for part of a refund. Now nothing is sent and the event is kept.
#[test]
fn a_partial_refund_whose_amount_cannot_be_read_reverses_nothing() {
    let stripe = stripe_changed("stripe/charge.refunded.partial.json", |event| {
        event["data"]["object"]["amount_refunded"] = json!("ten euros");
    });
    assert_eq!(stripe.action, Action::Unreadable("amount_refunded"));

    let polar = changed::<Polar>(
        POLAR_SECRET,
        SignedWebhook::polar,
        "polar/order.refunded.json",
        |event| event["data"]["refunded_amount"] = Value::Null,
    );
    assert_eq!(polar.action, Action::Unreadable("refunded_amount"));

    let paddle = paddle_changed("paddle/adjustment.updated.refund.json", |event| {
        event["data"]["totals"]["total"] = json!("11.00")
    });
    assert_eq!(paddle.action, Action::Unreadable("totals.total"));

    let lemon = lemon_changed("lemonsqueezy/order_refunded.partial.json", |event| {
        event["data"]["attributes"]["refunded_amount"] = Value::Null
    });
    assert_eq!(
        lemon.action,
        Action::Unreadable("data.attributes.refunded_amount")
    );

    // A full refund needs no amount: it is still one.
    let full = stripe_changed("stripe/charge.refunded.full.json", |event| {
        event["data"]["object"]["amount_refunded"] = Value::Null;
    });
    assert_eq!(refund(&full).amount_cents, None);
}

/// A payment whose amount cannot be read (absent, negative, a string where the provider writes
/// a number, a fraction of a minor unit) was acknowledged as one of nothing: a sale, or a
/// chargeback's reversal, lost with a 200. Now the event is kept with the provider.
#[test]
fn a_payment_whose_amount_cannot_be_read_is_kept() {
    for amount in [Value::Null, json!("4900"), json!(-4900), json!(49.5)] {
        let sale = stripe_changed("stripe/checkout.session.completed.payment.json", |event| {
            event["data"]["object"]["amount_total"] = amount.clone();
        });
        assert_eq!(sale.action, Action::Unreadable("amount_total"), "{amount}");
        let dispute = stripe_changed("stripe/charge.dispute.created.json", |event| {
            event["data"]["object"]["amount"] = amount.clone();
        });
        assert_eq!(dispute.action, Action::Unreadable("amount"), "{amount}");
        let refund = stripe_changed("stripe/refund.created.json", |event| {
            event["data"]["object"]["amount"] = amount.clone();
        });
        assert_eq!(refund.action, Action::Unreadable("amount"), "{amount}");
    }
    let paddle = paddle_changed("paddle/transaction.completed.json", |event| {
        event["data"]["details"]["totals"]["grand_total"] = json!("49.99");
        event["data"]["details"]["totals"]["total"] = json!("49.99");
    });
    assert_eq!(
        paddle.action,
        Action::Unreadable("details.totals.grand_total")
    );
    let polar = changed::<Polar>(
        POLAR_SECRET,
        SignedWebhook::polar,
        "polar/order.paid.json",
        |event| {
            event["data"]["total_amount"] = Value::Null;
            event["data"]["amount"] = Value::Null;
        },
    );
    assert_eq!(polar.action, Action::Unreadable("total_amount"));
    let lemon = lemon_changed("lemonsqueezy/order_created.json", |event| {
        event["data"]["attributes"]["total"] = json!("forty-nine")
    });
    assert_eq!(lemon.action, Action::Unreadable("data.attributes.total"));

    // Nothing paid is still nothing to track.
    let free = stripe_changed("stripe/checkout.session.completed.payment.json", |event| {
        event["data"]["object"]["amount_total"] = json!(0);
    });
    assert_eq!(free.action, Action::Ignore(Ignored::NoAmount));
}

/// An amount without a readable currency was sent without one, which the API takes for USD:
/// ¥5,000 recorded as $50.00. Now the sale is not sent, nor a partial refund's amount.
#[test]
fn an_amount_without_its_currency_is_not_sent_as_dollars() {
    for currency in [Value::Null, json!("US$"), json!(7)] {
        let sale = stripe_changed("stripe/checkout.session.completed.payment.json", |event| {
            event["data"]["object"]["currency"] = currency.clone();
        });
        assert_eq!(sale.action, Action::Unreadable("currency"), "{currency}");
        let refund = stripe_changed("stripe/charge.refunded.partial.json", |event| {
            event["data"]["object"]["currency"] = currency.clone();
        });
        assert_eq!(refund.action, Action::Unreadable("currency"), "{currency}");
    }
    let paddle = paddle_changed("paddle/transaction.completed.json", |event| {
        event["data"]["currency_code"] = Value::Null
    });
    assert_eq!(paddle.action, Action::Unreadable("currency_code"));
    let lemon = lemon_changed("lemonsqueezy/order_created.json", |event| {
        event["data"]["attributes"]["currency"] = json!("dollars")
    });
    assert_eq!(lemon.action, Action::Unreadable("data.attributes.currency"));
}

#[tokio::test]
async fn an_unreadable_event_is_answered_500_and_sends_nothing() {
    let (mock, client) = setup().await;
    let event = stripe_changed("stripe/checkout.session.completed.payment.json", |event| {
        event["data"]["object"]["currency"] = Value::Null;
    });
    let tracked = event.track(&client).await;
    assert!(
        matches!(tracked, Tracked::Unreadable("currency")),
        "{tracked:?}"
    );
    assert_eq!(tracked.status(), 500);
    assert!(mock.requests().is_empty(), "{:?}", mock.requests());
}

/// A sale the API refuses (a proxy's 404 for a wrong base URL, a redirect, a 422) was
/// answered 200 and lost. Now the provider keeps it (500), and its redelivery, once the app
/// is mended, records it once.
#[tokio::test]
async fn a_sale_affitor_refuses_is_kept_until_the_app_is_mended() {
    let (mock, client) = setup().await;
    let body = fixture("stripe/checkout.session.completed.payment.json");
    let signed = SignedWebhook::stripe(STRIPE_SECRET, body.clone());
    for status in [404, 308, 422] {
        mock.inject(Fault::status(status).on(Endpoint::Sale).times(1));
        let tracked = stripe()
            .track(&client, signed.headers(), signed.body())
            .await;
        assert!(
            matches!(&tracked, Tracked::Failed(error) if error.kind() == ErrorKind::Rejected),
            "{status}: {tracked:?}"
        );
        assert_eq!(tracked.status(), 500, "{status}");
    }
    assert!(mock.sales().is_empty());
    let tracked = stripe()
        .track(&client, signed.headers(), signed.body())
        .await;
    assert!(
        matches!(tracked, Tracked::Sale(SaleOutcome::Recorded { .. })),
        "{tracked:?}"
    );
    assert_eq!(mock.sales().len(), 1);
}

/// A sale recorded whose commission the API failed to create is acknowledged (a redelivery
/// would be answered 409), logged at `error` and counted: the one case for support.
#[tokio::test]
async fn a_sale_recorded_without_its_commission_is_acknowledged() {
    let (mock, client) = setup().await;
    mock.inject(
        Fault::response_after_processing(500, json!({"message": "Failed to create commission"}))
            .on(Endpoint::Sale)
            .times(1),
    );
    let body = fixture("stripe/checkout.session.completed.payment.json");
    let signed = SignedWebhook::stripe(STRIPE_SECRET, body);
    let tracked = stripe()
        .track(&client, signed.headers(), signed.body())
        .await;
    assert!(
        matches!(&tracked, Tracked::Failed(error) if error.kind() == ErrorKind::CommissionNotCreated),
        "{tracked:?}"
    );
    assert_eq!(tracked.status(), 200);
}

/// `affitor_webhook_events_total{provider, result}` counts every delivery by what it came
/// to, so that what needs a person (`attention`) and what the provider keeps (`kept`) can be
/// alerted on.
#[cfg(feature = "metrics")]
#[test]
fn every_delivery_is_counted_by_what_it_came_to() {
    use metrics_exporter_prometheus::PrometheusBuilder;

    let recorder = PrometheusBuilder::new().build_recorder();
    let handle = recorder.handle();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    metrics::with_local_recorder(&recorder, || {
        runtime.block_on(async {
            let (mock, client) = setup().await;
            let deliver = |body: String| {
                let signed = SignedWebhook::stripe(STRIPE_SECRET, body);
                let client = client.clone();
                async move {
                    stripe()
                        .track(&client, signed.headers(), signed.body())
                        .await
                }
            };
            let sale = fixture("stripe/checkout.session.completed.payment.json");
            assert_eq!(deliver(sale.clone()).await.status(), 200); // tracked
            assert_eq!(deliver(sale.clone()).await.status(), 200); // tracked: recorded before
            let other = json!({"id": "evt_x", "type": "customer.created", "data": {"object": {}}});
            assert_eq!(deliver(other.to_string()).await.status(), 200); // ignored
            let won = json!({"id": "evt_w", "type": "charge.dispute.closed",
                "data": {"object": {"status": "won", "payment_intent": "pi_1", "amount": 100}}});
            assert_eq!(deliver(won.to_string()).await.status(), 200); // attention
            mock.inject(Fault::status(422).on(Endpoint::Sale).times(1));
            let renewal = fixture("stripe/invoice.paid.basil.json");
            assert_eq!(deliver(renewal).await.status(), 500); // kept
            let forged = SignedWebhook::stripe("whsec_someone_else", sale);
            let tracked = stripe()
                .track(&client, forged.headers(), forged.body())
                .await;
            assert_eq!(tracked.status(), 400); // refused
        });
    });

    let text = handle.render();
    let count = |result: &str| {
        let name =
            format!("affitor_webhook_events_total{{provider=\"Stripe\",result=\"{result}\"}}");
        text.lines()
            .find_map(|line| line.strip_prefix(&name)?.trim().parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    assert_eq!(count("tracked"), 2.0, "{text}");
    assert_eq!(count("ignored"), 1.0, "{text}");
    assert_eq!(count("attention"), 1.0, "{text}");
    assert_eq!(count("kept"), 1.0, "{text}");
    assert_eq!(count("refused"), 1.0, "{text}");
}
