//! One lifecycle rule for every provider: each provider's first payment, renewal, change of
//! plan and free trial start read as the same kind of event, with the provider's reason sent
//! in `additional_data.billing_reason`.

use super::*;
use affitor::webhook::{LemonSqueezy, Paddle};

const PADDLE_SECRET: &str = "pdl_ntfset_lifecycle";
const LEMON_SECRET: &str = "lemon lifecycle";

/// A moment of a subscription's life.
#[derive(Clone, Copy, Debug)]
enum Moment {
    /// A free trial begins: nothing paid.
    TrialStart,
    /// The first payment.
    First,
    /// A renewal.
    Renewal,
    /// A change of plan: an upgrade's proration.
    Upgrade,
}

/// What every provider's event of `moment` must read as: a sale (recurring or not), or
/// nothing because nothing was paid.
fn expected(moment: Moment) -> Option<bool> {
    match moment {
        Moment::TrialStart => None,
        Moment::First | Moment::Upgrade => Some(false),
        Moment::Renewal => Some(true),
    }
}

fn edit(path: &str, change: impl FnOnce(&mut Value)) -> String {
    let mut event: Value = serde_json::from_str(&fixture(path)).unwrap();
    change(&mut event);
    event.to_string()
}

fn stripe_at(moment: Moment, builder: affitor::webhook::Builder<Stripe>) -> ProviderEvent {
    let body = edit("stripe/invoice.paid.basil.json", |event| {
        let invoice = &mut event["data"]["object"];
        invoice["billing_reason"] = json!(match moment {
            Moment::TrialStart | Moment::First => "subscription_create",
            Moment::Renewal => "subscription_cycle",
            Moment::Upgrade => "subscription_update",
        });
        if let Moment::TrialStart = moment {
            invoice["amount_paid"] = json!(0);
        }
    });
    let signed = SignedWebhook::stripe(STRIPE_SECRET, body);
    let stripe = builder.secret(STRIPE_SECRET).build().unwrap();
    stripe.verify(signed.headers(), signed.body()).unwrap()
}

fn paddle_at(moment: Moment, builder: affitor::webhook::Builder<Paddle>) -> ProviderEvent {
    let body = edit("paddle/transaction.completed.json", |event| {
        let transaction = &mut event["data"];
        transaction["subscription_id"] = json!("sub_01lifecycle");
        transaction["origin"] = json!(match moment {
            Moment::TrialStart | Moment::First => "web",
            Moment::Renewal => "subscription_recurring",
            Moment::Upgrade => "subscription_update",
        });
        if let Moment::TrialStart = moment {
            transaction["details"]["totals"]["grand_total"] = json!("0");
            transaction["details"]["totals"]["total"] = json!("0");
        }
    });
    let signed = SignedWebhook::paddle(PADDLE_SECRET, body);
    let paddle = builder.secret(PADDLE_SECRET).build().unwrap();
    paddle.verify(signed.headers(), signed.body()).unwrap()
}

fn polar_at(moment: Moment, builder: affitor::webhook::Builder<Polar>) -> ProviderEvent {
    let body = edit("polar/order.paid.json", |event| {
        let order = &mut event["data"];
        order["billing_reason"] = json!(match moment {
            Moment::TrialStart | Moment::First => "subscription_create",
            Moment::Renewal => "subscription_cycle",
            Moment::Upgrade => "subscription_update",
        });
        if let Moment::TrialStart = moment {
            order["total_amount"] = json!(0);
            order["amount"] = json!(0);
        }
    });
    let signed = SignedWebhook::polar(POLAR_SECRET, body);
    let polar = builder.secret(POLAR_SECRET).build().unwrap();
    polar.verify(signed.headers(), signed.body()).unwrap()
}

fn lemon_squeezy_at(
    moment: Moment,
    builder: affitor::webhook::Builder<LemonSqueezy>,
) -> ProviderEvent {
    let body = match moment {
        Moment::TrialStart | Moment::First => {
            edit("lemonsqueezy/order_created.subscription.json", |event| {
                if let Moment::TrialStart = moment {
                    event["data"]["attributes"]["total"] = json!(0);
                }
            })
        }
        Moment::Renewal | Moment::Upgrade => {
            edit("lemonsqueezy/subscription_payment_success.json", |event| {
                if let Moment::Upgrade = moment {
                    event["data"]["attributes"]["billing_reason"] = json!("updated");
                }
            })
        }
    };
    let signed = SignedWebhook::lemon_squeezy(LEMON_SECRET, body);
    let lemon = builder.secret(LEMON_SECRET).build().unwrap();
    lemon.verify(signed.headers(), signed.body()).unwrap()
}

/// The events of every provider at `moment`, with upgrades tracked or not.
fn every_provider(moment: Moment, upgrades: bool) -> Vec<(&'static str, ProviderEvent)> {
    vec![
        (
            "Stripe",
            stripe_at(
                moment,
                Verifier::<Stripe>::builder().track_upgrades(upgrades),
            ),
        ),
        (
            "Paddle",
            paddle_at(
                moment,
                Verifier::<Paddle>::builder().track_upgrades(upgrades),
            ),
        ),
        (
            "Polar",
            polar_at(
                moment,
                Verifier::<Polar>::builder().track_upgrades(upgrades),
            ),
        ),
        (
            "Lemon Squeezy",
            lemon_squeezy_at(
                moment,
                Verifier::<LemonSqueezy>::builder().track_upgrades(upgrades),
            ),
        ),
    ]
}

#[test]
fn every_provider_reads_each_moment_as_the_same_kind_of_event() {
    for moment in [
        Moment::TrialStart,
        Moment::First,
        Moment::Renewal,
        Moment::Upgrade,
    ] {
        for (provider, event) in every_provider(moment, true) {
            match (expected(moment), &event.action) {
                (None, Action::Ignore(Ignored::NoAmount)) => {}
                (Some(recurring), Action::Sale(sale)) => {
                    assert_eq!(sale.is_recurring, recurring, "{provider}: {moment:?}");
                    assert!(sale.reason.is_some(), "{provider}: {moment:?}: a reason");
                }
                (expected, action) => {
                    panic!("{provider}: {moment:?}: expected {expected:?}, read {action:?}")
                }
            }
        }
    }
}

#[test]
fn with_upgrades_off_no_provider_tracks_a_change_of_plan() {
    for (provider, event) in every_provider(Moment::Upgrade, false) {
        assert!(
            matches!(&event.action, Action::Ignore(Ignored::BillingReason(_))),
            "{provider}: {:?}",
            event.action
        );
    }
    // The other moments are unchanged.
    for (provider, event) in every_provider(Moment::Renewal, false) {
        assert!(sale(&event).is_recurring, "{provider}");
    }
}

/// The reason goes to Affitor in `additional_data.billing_reason`, with the sale.
#[tokio::test]
async fn the_providers_reason_is_sent_with_the_sale() {
    let (mock, client) = super::tracked::setup().await;
    let event = stripe_at(Moment::Upgrade, Verifier::<Stripe>::builder());
    let tracked = event.track(&client).await;
    assert_eq!(tracked.status(), 200, "{tracked:?}");
    let sales = mock.requests_to(Endpoint::Sale);
    assert_eq!(
        sales[0].body["additional_data"]["billing_reason"],
        "subscription_update"
    );
}
