//! The second-refund alarm (`attention`) fires for what needs a person, and only that: a
//! further refund of a sale, whose rest of the commission Affitor leaves paid. The documented
//! twins of one refund (Stripe's `refund.created` and `charge.refunded`, a dispute's `created`
//! and lost `closed`, Paddle's two approved events of one adjustment) and a plain redelivery
//! are the same refund again.
#![cfg(feature = "metrics")]

use std::future::Future;

use super::tracked::setup;
use super::*;
use affitor::webhook::Paddle;

const PADDLE_SECRET: &str = "pdl_ntfset_01affitoralarms";

/// One verifier per provider, as an app has: what one delivery teaches serves the next.
struct Webhooks {
    client: Client,
    stripe: Verifier<Stripe>,
    paddle: Verifier<Paddle>,
}

impl Webhooks {
    /// Delivers `path`'s Stripe event, changed by `change`, as if it happened now.
    async fn stripe(&self, path: &str, change: impl FnOnce(&mut Value)) -> Tracked {
        let mut event: Value = serde_json::from_str(&fixture(path)).unwrap();
        event["created"] = json!(
            SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .unwrap()
                .as_secs()
        );
        change(&mut event);
        let signed = SignedWebhook::stripe(STRIPE_SECRET, event.to_string());
        self.stripe
            .track(&self.client, signed.headers(), signed.body())
            .await
    }

    async fn paddle(&self, path: &str, change: impl FnOnce(&mut Value)) -> Tracked {
        let mut event: Value = serde_json::from_str(&fixture(path)).unwrap();
        event["occurred_at"] = json!("2999-01-01T00:00:00Z");
        change(&mut event);
        let signed = SignedWebhook::paddle(PADDLE_SECRET, event.to_string());
        self.paddle
            .track(&self.client, signed.headers(), signed.body())
            .await
    }
}

/// How many deliveries `scenario` makes `attention`, on every provider.
fn attention<F: Future<Output = ()>>(scenario: impl FnOnce(Webhooks) -> F) -> f64 {
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
            let webhooks = Webhooks {
                client,
                stripe: stripe(),
                paddle: Verifier::new(PADDLE_SECRET).unwrap(),
            };
            scenario(webhooks).await;
            drop(mock);
        });
    });
    handle
        .render()
        .lines()
        .filter(|line| line.starts_with("affitor_webhook_events_total{"))
        .filter(|line| line.contains("result=\"attention\""))
        .filter_map(|line| line.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

const SALE: &str = "stripe/checkout.session.completed.payment.json";

#[test]
fn a_stripe_refund_and_its_twin_are_one_refund() {
    let alarms = attention(|webhooks| async move {
        assert_eq!(webhooks.stripe(SALE, |_| ()).await.status(), 200);
        let refund = webhooks.stripe("stripe/refund.created.json", |_| ()).await;
        assert!(matches!(refund, Tracked::Refund(_)), "{refund:?}");
        let twin = webhooks
            .stripe("stripe/charge.refunded.full.json", |_| ())
            .await;
        assert!(matches!(twin, Tracked::Refund(_)), "{twin:?}");
    });
    assert_eq!(alarms, 0.0);
}

#[test]
fn a_dispute_opened_then_lost_is_one_reversal() {
    let alarms = attention(|webhooks| async move {
        assert_eq!(webhooks.stripe(SALE, |_| ()).await.status(), 200);
        let opened = webhooks
            .stripe("stripe/charge.dispute.created.json", |_| ())
            .await;
        assert!(matches!(opened, Tracked::Refund(_)), "{opened:?}");
        let lost = webhooks
            .stripe("stripe/charge.dispute.closed.lost.json", |_| ())
            .await;
        assert!(matches!(lost, Tracked::Refund(_)), "{lost:?}");
    });
    assert_eq!(alarms, 0.0);
}

#[test]
fn paddles_two_approved_events_of_one_adjustment_are_one_refund() {
    let alarms = attention(|webhooks| async move {
        let sale = webhooks
            .paddle("paddle/transaction.completed.json", |_| ())
            .await;
        assert_eq!(sale.status(), 200, "{sale:?}");
        // Approved when made (an adjustment approved at once), then updated, still approved.
        let created = webhooks
            .paddle("paddle/adjustment.created.refund.json", |event| {
                event["data"]["status"] = json!("approved");
            })
            .await;
        assert!(matches!(created, Tracked::Refund(_)), "{created:?}");
        let updated = webhooks
            .paddle("paddle/adjustment.updated.refund.json", |_| ())
            .await;
        assert!(matches!(updated, Tracked::Refund(_)), "{updated:?}");
    });
    assert_eq!(alarms, 0.0);
}

#[test]
fn a_redelivered_refund_is_the_same_refund() {
    let alarms = attention(|webhooks| async move {
        assert_eq!(webhooks.stripe(SALE, |_| ()).await.status(), 200);
        for _ in 0..3 {
            let tracked = webhooks.stripe("stripe/refund.created.json", |_| ()).await;
            assert_eq!(tracked.status(), 200, "{tracked:?}");
        }
    });
    assert_eq!(alarms, 0.0);
}

/// What the alarm is for: a partial refund, then the rest of the sale (each with its twin),
/// and a chargeback after a refund. Each further refund is counted once, not once per twin.
#[test]
fn a_further_refund_of_a_sale_raises_the_alarm_once() {
    let alarms = attention(|webhooks| async move {
        assert_eq!(webhooks.stripe(SALE, |_| ()).await.status(), 200);
        let refund = |id: &'static str, amount: u64| {
            move |event: &mut Value| {
                event["id"] = json!(format!("evt_{id}"));
                event["data"]["object"]["id"] = json!(id);
                event["data"]["object"]["amount"] = json!(amount);
            }
        };
        let charge = |id: &'static str, before: u64, so_far: u64| {
            move |event: &mut Value| {
                event["id"] = json!(format!("evt_{id}"));
                event["data"]["object"]["amount_refunded"] = json!(so_far);
                event["data"]["object"]["refunded"] = json!(so_far == 4900);
                event["data"]["previous_attributes"] = json!({ "amount_refunded": before });
            }
        };
        let ok = |tracked: Tracked| assert_eq!(tracked.status(), 200, "{tracked:?}");
        let (created, refunded) = (
            "stripe/refund.created.json",
            "stripe/charge.refunded.full.json",
        );
        ok(webhooks.stripe(created, refund("re_a", 1000)).await);
        ok(webhooks.stripe(refunded, charge("ch_a", 0, 1000)).await);
        ok(webhooks.stripe(created, refund("re_b", 3900)).await);
        ok(webhooks.stripe(refunded, charge("ch_b", 1000, 4900)).await);
        ok(webhooks
            .stripe("stripe/charge.dispute.created.json", |_| ())
            .await);
    });
    // `re_b` (its twin `ch_b` is the same refund), and the dispute.
    assert_eq!(alarms, 2.0);
}

/// A chargeback after a partial refund of a subscription's payment, on an API version whose
/// `charge.refunded` names the invoice (before 2025-03-31) while the dispute names only the
/// payment intent: the same sale's refunds, remembered under one key.
#[test]
fn a_chargeback_after_a_refund_that_named_the_invoice_raises_the_alarm() {
    let alarms = attention(|webhooks| async move {
        let ok = |tracked: Tracked| assert_eq!(tracked.status(), 200, "{tracked:?}");
        ok(webhooks
            .stripe("stripe/invoice.paid.legacy.json", |_| ())
            .await);
        let refunded = webhooks
            .stripe("stripe/charge.refunded.partial.json", |_| ())
            .await;
        assert!(matches!(refunded, Tracked::Refund(_)), "{refunded:?}");
        ok(webhooks
            .stripe("stripe/charge.dispute.created.json", |event| {
                let dispute = &mut event["data"]["object"];
                dispute["payment_intent"] = json!("pi_3PzXy9LkdIwHu7ix0Cycle01");
                dispute["charge"] = json!("ch_3PzXy9LkdIwHu7ix0Cycle01");
            })
            .await);
    });
    assert_eq!(alarms, 1.0);
}
