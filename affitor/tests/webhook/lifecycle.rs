//! One lifecycle rule for every provider: each provider's free trial start, first payment,
//! renewal and change of plan read as the same kind of event, with the provider's reason sent
//! in `additional_data.billing_reason`; a trial's first paid invoice is the first sale.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use super::*;
use affitor::client::Event;
use affitor::webhook::{
    Builder, Custody, Fact, LemonSqueezy, Paddle, PaymentState, Provider, StateFuture,
};

const PADDLE_SECRET: &str = "pdl_ntfset_lifecycle_key";
const LEMON_SECRET: &str = "lemon lifecycle";

/// A moment of a subscription's life.
#[derive(Clone, Copy, Debug)]
enum Moment {
    /// A free trial begins: nothing paid.
    TrialStart,
    /// The first payment.
    First,
    /// A renewal (also a trial's first paid invoice, as every provider labels it).
    Renewal,
    /// A change of plan: an upgrade's proration.
    Upgrade,
    /// A payment of nothing on a running subscription: a card's change (Paddle), a downgrade
    /// paid by the balance's credit. Not a trial: the next renewal is a renewal.
    FreeChange,
}

const MOMENTS: [Moment; 4] = [
    Moment::TrialStart,
    Moment::First,
    Moment::Renewal,
    Moment::Upgrade,
];

/// What every provider's event of `moment` must read as: a sale, recurring or not; `None`
/// for a trial's start, which sends nothing.
fn expected(moment: Moment) -> Option<bool> {
    match moment {
        Moment::TrialStart => None,
        Moment::First | Moment::Upgrade => Some(false),
        Moment::Renewal => Some(true),
        Moment::FreeChange => None,
    }
}

fn edit(path: &str, change: impl FnOnce(&mut Value)) -> String {
    let mut event: Value = serde_json::from_str(&fixture(path)).unwrap();
    change(&mut event);
    event.to_string()
}

/// The four providers' verifiers, each with upgrades tracked or not.
struct Endpoints {
    stripe: Verifier<Stripe>,
    paddle: Verifier<Paddle>,
    polar: Verifier<Polar>,
    lemon_squeezy: Verifier<LemonSqueezy>,
}

fn verifier<P: Provider>(builder: Builder<P>, secret: &str, upgrades: bool) -> Verifier<P> {
    builder
        .secret(secret)
        .track_upgrades(upgrades)
        .build()
        .unwrap()
}

impl Endpoints {
    fn new(upgrades: bool) -> Self {
        Self {
            stripe: verifier(Verifier::builder(), STRIPE_SECRET, upgrades),
            paddle: verifier(Verifier::builder(), PADDLE_SECRET, upgrades),
            polar: verifier(Verifier::builder(), POLAR_SECRET, upgrades),
            lemon_squeezy: verifier(Verifier::builder(), LEMON_SECRET, upgrades),
        }
    }

    /// The same verifiers, each storing its sales and refunds in `state`.
    fn storing_in(self, state: &Arc<Stored>) -> Self {
        Self {
            stripe: self.stripe.with_payment_state(Arc::clone(state)),
            paddle: self.paddle.with_payment_state(Arc::clone(state)),
            polar: self.polar.with_payment_state(Arc::clone(state)),
            lemon_squeezy: self.lemon_squeezy.with_payment_state(Arc::clone(state)),
        }
    }

    /// Every provider's event at `moment`.
    fn at(&self, moment: Moment) -> Vec<(&'static str, ProviderEvent)> {
        self.at_again(moment, 0)
    }

    /// Every provider's event at the `nth` moment of its kind (a later renewal): an event of
    /// its own, whose provider's id differs, as each of a provider's events has its own.
    fn at_again(&self, moment: Moment, nth: u32) -> Vec<(&'static str, ProviderEvent)> {
        let id = format!("{moment:?}{nth}");
        vec![
            ("Stripe", self.stripe_event(moment, &id)),
            ("Paddle", self.paddle_event(moment, &id)),
            ("Polar", self.polar_at(moment)),
            ("Lemon Squeezy", self.lemon_squeezy_event(moment, &id)),
        ]
    }

    fn stripe_at(&self, moment: Moment) -> ProviderEvent {
        self.stripe_event(moment, &format!("{moment:?}0"))
    }

    fn stripe_event(&self, moment: Moment, id: &str) -> ProviderEvent {
        let body = edit("stripe/invoice.paid.basil.json", |event| {
            event["id"] = json!(format!("evt_lifecycle_{id}"));
            let invoice = &mut event["data"]["object"];
            invoice["billing_reason"] = json!(match moment {
                Moment::TrialStart | Moment::First => "subscription_create",
                Moment::Renewal => "subscription_cycle",
                Moment::Upgrade | Moment::FreeChange => "subscription_update",
            });
            if let Moment::TrialStart | Moment::FreeChange = moment {
                invoice["amount_paid"] = json!(0);
            }
        });
        let signed = SignedWebhook::stripe(STRIPE_SECRET, body);
        self.stripe.verify(signed.headers(), signed.body()).unwrap()
    }

    fn paddle_event(&self, moment: Moment, id: &str) -> ProviderEvent {
        let body = edit("paddle/transaction.completed.json", |event| {
            event["event_id"] = json!(format!("evt_lifecycle_{id}"));
            let transaction = &mut event["data"];
            transaction["subscription_id"] = json!("sub_01lifecycle");
            transaction["origin"] = json!(match moment {
                Moment::TrialStart | Moment::First => "web",
                Moment::Renewal => "subscription_recurring",
                Moment::Upgrade => "subscription_update",
                Moment::FreeChange => "subscription_payment_method_change",
            });
            if let Moment::TrialStart | Moment::FreeChange = moment {
                transaction["details"]["totals"]["grand_total"] = json!("0");
                transaction["details"]["totals"]["total"] = json!("0");
            }
        });
        let signed = SignedWebhook::paddle(PADDLE_SECRET, body);
        self.paddle.verify(signed.headers(), signed.body()).unwrap()
    }

    fn polar_at(&self, moment: Moment) -> ProviderEvent {
        let body = edit("polar/order.paid.json", |event| {
            let order = &mut event["data"];
            order["billing_reason"] = json!(match moment {
                Moment::TrialStart | Moment::First => "subscription_create",
                Moment::Renewal => "subscription_cycle",
                Moment::Upgrade | Moment::FreeChange => "subscription_update",
            });
            if let Moment::TrialStart | Moment::FreeChange = moment {
                order["total_amount"] = json!(0);
                order["amount"] = json!(0);
            }
        });
        let signed = SignedWebhook::polar(POLAR_SECRET, body);
        self.polar.verify(signed.headers(), signed.body()).unwrap()
    }

    fn lemon_squeezy_event(&self, moment: Moment, id: &str) -> ProviderEvent {
        let mut body = match moment {
            Moment::TrialStart | Moment::First => {
                edit("lemonsqueezy/order_created.subscription.json", |event| {
                    // The subscription its invoices name.
                    event["data"]["attributes"]["first_order_item"]["subscription_id"] =
                        json!(456_789);
                    // The click its renewals carry (the stand-in knows it).
                    event["meta"]["custom_data"]["affitor_click_id"] =
                        json!("cust_fixture_1743465000003");
                    if let Moment::TrialStart = moment {
                        event["data"]["attributes"]["total"] = json!(0);
                    }
                })
            }
            Moment::Renewal | Moment::Upgrade | Moment::FreeChange => {
                edit("lemonsqueezy/subscription_payment_success.json", |event| {
                    if let Moment::Upgrade | Moment::FreeChange = moment {
                        event["data"]["attributes"]["billing_reason"] = json!("updated");
                    }
                    if let Moment::FreeChange = moment {
                        event["data"]["attributes"]["total"] = json!(0);
                    }
                })
            }
        };
        // Lemon Squeezy's deliveries are known by their signature: an event of its own differs.
        // A later payment is an invoice of its own.
        let mut event: Value = serde_json::from_str(&body).unwrap();
        event["meta"]["webhook_id"] = json!(format!("lifecycle_{id}"));
        if let Moment::Renewal | Moment::Upgrade | Moment::FreeChange = moment {
            event["data"]["id"] = json!(format!("lifecycle_{id}"));
        }
        body = event.to_string();
        let signed = SignedWebhook::lemon_squeezy(LEMON_SECRET, body);
        self.lemon_squeezy
            .verify(signed.headers(), signed.body())
            .unwrap()
    }
}

#[test]
fn every_provider_reads_each_moment_as_the_same_kind_of_event() {
    let endpoints = Endpoints::new(true);
    for moment in MOMENTS {
        for (provider, event) in endpoints.at(moment) {
            match (expected(moment), &event.action) {
                (None, Action::Ignore(Ignored::TrialStarted(_))) => {}
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
    let endpoints = Endpoints::new(false);
    for (provider, event) in endpoints.at(Moment::Upgrade) {
        assert!(
            matches!(&event.action, Action::Ignore(Ignored::BillingReason(_))),
            "{provider}: {:?}",
            event.action
        );
    }
    // The other moments are unchanged.
    for (provider, event) in endpoints.at(Moment::Renewal) {
        assert!(sale(&event).is_recurring, "{provider}");
    }
}

/// The reason goes to Affitor in `additional_data.billing_reason`, with the sale.
#[tokio::test]
async fn the_providers_reason_is_sent_with_the_sale() {
    let (mock, client) = super::tracked::setup().await;
    let event = Endpoints::new(true).stripe_at(Moment::Upgrade);
    let tracked = event.track(&client).await;
    assert_eq!(tracked.status(), 200, "{tracked:?}");
    let sales = mock.requests_to(Endpoint::Sale);
    assert_eq!(
        sales[0].body["additional_data"]["billing_reason"],
        "subscription_update"
    );
}

/// A trial's first paid invoice, which every provider labels a renewal, is the subscription's
/// first sale; the renewals after it are renewals.
#[tokio::test]
async fn the_first_payment_after_a_trial_is_the_first_sale_on_every_provider() {
    let (mock, client) = super::tracked::setup().await;
    // One verifier per provider, as an app has: its memory holds the trial.
    let endpoints = Endpoints::new(true);
    let sent = |n: usize| {
        let sales = mock.requests_to(Endpoint::Sale);
        sales[n]
            .body
            .get("is_recurring")
            .cloned()
            .unwrap_or(json!(false))
    };
    let (trials, renewals, next) = (
        endpoints.at(Moment::TrialStart),
        endpoints.at(Moment::Renewal),
        endpoints.at_again(Moment::Renewal, 1),
    );
    let events = trials.iter().zip(&renewals).zip(&next);
    for (n, (((provider, trial), (_, renewal)), (_, next))) in events.enumerate() {
        assert_eq!(trial.track(&client).await.status(), 200, "{provider}");
        assert_eq!(renewal.track(&client).await.status(), 200, "{provider}");
        assert_eq!(
            sent(2 * n),
            json!(false),
            "{provider}: the trial's first payment"
        );
        next.track(&client).await;
        assert_eq!(
            sent(2 * n + 1),
            json!(true),
            "{provider}: a renewal after it"
        );
    }
}

/// A payment of nothing on a running subscription (a card's change, a downgrade paid by its
/// credit) starts no trial: the renewal after it is a renewal, never a second first sale.
#[tokio::test]
async fn a_free_change_of_a_running_subscription_is_no_trial() {
    let (mock, client) = super::tracked::setup().await;
    let endpoints = Endpoints::new(true);
    let (first, change, renewal) = (
        endpoints.at(Moment::First),
        endpoints.at(Moment::FreeChange),
        endpoints.at(Moment::Renewal),
    );
    let events = first.iter().zip(&change).zip(&renewal);
    for (n, (((provider, first), (_, change)), (_, renewal))) in events.enumerate() {
        let tracked = first.track(&client).await;
        assert_eq!(tracked.status(), 200, "{provider}: {tracked:?}");
        assert_eq!(
            change.action,
            Action::Ignore(Ignored::NoAmount),
            "{provider}"
        );
        assert_eq!(change.track(&client).await.status(), 200, "{provider}");
        assert_eq!(renewal.track(&client).await.status(), 200, "{provider}");
        let sales = mock.requests_to(Endpoint::Sale);
        assert_eq!(
            sales.len(),
            2 * (n + 1),
            "{provider}: the change sends nothing"
        );
        let recurring = sales[2 * n + 1].body.get("is_recurring").cloned();
        assert_eq!(recurring, Some(json!(true)), "{provider}: the renewal");
    }
}

/// A trial paid stays paid. Its start delivered again (the provider's retry, or a replayed
/// Lemon Squeezy body, which signs no timestamp) is a delivery handled before, acknowledged
/// without effect; the same start shown by another event (Stripe sends `invoice.paid` and its
/// twin `invoice.payment_succeeded`) finds the trial paid. Either way the next renewal is a
/// renewal, never a second first sale.
#[tokio::test]
async fn a_paid_trial_never_moves_back_to_started() {
    let (mock, client) = super::tracked::setup().await;
    let endpoints = Endpoints::new(true);
    let last_sent = || {
        let sales = mock.requests_to(Endpoint::Sale);
        let last = sales.last().unwrap();
        last.body
            .get("is_recurring")
            .cloned()
            .unwrap_or(json!(false))
    };
    let (starts, shown_again) = (
        endpoints.at(Moment::TrialStart),
        endpoints.at_again(Moment::TrialStart, 1),
    );
    let (paid, next) = (
        endpoints.at(Moment::Renewal),
        endpoints.at_again(Moment::Renewal, 1),
    );
    let events = starts.iter().zip(&shown_again).zip(paid.iter().zip(&next));
    for (((provider, start), (_, shown_again)), ((_, paid), (_, next))) in events {
        assert_eq!(start.track(&client).await.status(), 200, "{provider}");
        assert_eq!(paid.track(&client).await.status(), 200, "{provider}");
        assert_eq!(last_sent(), json!(false), "{provider}: the first sale");

        let redelivered = start.track(&client).await;
        assert!(
            matches!(redelivered, Tracked::Ignored(Ignored::Replayed)),
            "{provider}: {redelivered:?}"
        );
        let twin = shown_again.track(&client).await;
        assert_eq!(twin.status(), 200, "{provider}: {twin:?}");

        assert_eq!(next.track(&client).await.status(), 200, "{provider}");
        assert_eq!(last_sent(), json!(true), "{provider}: a renewal");
    }
}

/// A payment state that stores the events, as an outbox does, and gives up on one as an
/// outbox's dead letter does: the fact that knew its delivery goes with it.
#[derive(Default)]
struct Stored {
    /// Each fact's value, and how long it is to be kept.
    facts: Mutex<HashMap<String, (String, Duration)>>,
    /// Each event stored, with the key of its delivery's fact.
    events: Mutex<Vec<(Event, Option<String>)>>,
}

impl PaymentState for Stored {
    fn recall<'a>(&'a self, keys: &'a [String]) -> StateFuture<'a, Vec<Option<String>>> {
        let facts = self.facts.lock().unwrap();
        let values = keys
            .iter()
            .map(|key| facts.get(key).map(|(value, _)| value.clone()))
            .collect();
        Box::pin(std::future::ready(Ok(values)))
    }

    fn remember<'a>(&'a self, facts: &'a [Fact]) -> StateFuture<'a, ()> {
        self.keep(facts);
        Box::pin(std::future::ready(Ok(())))
    }

    fn store<'a>(&'a self, event: Event, facts: &'a [Fact]) -> StateFuture<'a, Custody> {
        let delivery = facts.iter().find(|fact| fact.is_delivery());
        let delivery = delivery.map(|fact| fact.key.clone());
        self.events.lock().unwrap().push((event, delivery));
        self.keep(facts);
        Box::pin(std::future::ready(Ok(Custody::Stored)))
    }
}

impl Stored {
    fn keep(&self, facts: &[Fact]) {
        let mut kept = self.facts.lock().unwrap();
        for fact in facts {
            kept.insert(fact.key.clone(), (fact.value.clone(), fact.keep_for));
        }
    }

    /// `time` passes: the facts to be kept for less have expired.
    fn pass(&self, time: Duration) {
        self.facts
            .lock()
            .unwrap()
            .retain(|_, (_, keep_for)| *keep_for > time);
    }

    /// Gives up on the event stored last.
    fn give_up_last(&self) {
        let events = self.events.lock().unwrap();
        if let Some((_, Some(delivery))) = events.last() {
            self.facts.lock().unwrap().remove(delivery);
        }
    }

    /// Whether the event stored last is a recurring sale.
    fn last_is_recurring(&self) -> bool {
        let events = self.events.lock().unwrap();
        let (event, _) = events.last().expect("an event stored");
        let body: Value = serde_json::from_str(&event.to_json()).unwrap();
        body.get("is_recurring") == Some(&json!(true))
    }
}

/// A trial's first paid invoice that a payment state stored and then gave up on (a dead
/// letter), resent from the provider's dashboard: stored again, and the first sale again, never
/// a renewal; while it was stored, its redelivery was a replay.
#[tokio::test]
async fn a_trials_first_payment_given_up_and_resent_is_the_first_sale_again() {
    let (_mock, client) = super::tracked::setup().await;
    let state = Arc::new(Stored::default());
    let endpoints = Endpoints::new(true).storing_in(&state);
    let (starts, paid) = (
        endpoints.at(Moment::TrialStart),
        endpoints.at(Moment::Renewal),
    );
    for ((provider, start), (_, paid)) in starts.iter().zip(&paid) {
        assert_eq!(start.track(&client).await.status(), 200, "{provider}");
        let stored = paid.track(&client).await;
        assert!(
            matches!(stored, Tracked::Stored(_)),
            "{provider}: {stored:?}"
        );
        assert!(!state.last_is_recurring(), "{provider}: the first sale");
        let replayed = paid.track(&client).await;
        assert!(
            matches!(replayed, Tracked::Ignored(Ignored::Replayed)),
            "{provider}: {replayed:?}"
        );

        state.give_up_last();
        let resent = paid.track(&client).await;
        assert!(
            matches!(resent, Tracked::Stored(_)),
            "{provider}: {resent:?}"
        );
        assert!(
            !state.last_is_recurring(),
            "{provider}: resent, the first sale"
        );
    }
}

/// A trial as long as Stripe lets one last (730 days): its first paid invoice, two years on, is
/// still the subscription's first sale, never a renewal: the trial's fact outlives the trial.
#[tokio::test]
async fn the_first_payment_after_a_two_year_trial_is_still_the_first_sale() {
    let (_mock, client) = super::tracked::setup().await;
    let state = Arc::new(Stored::default());
    let endpoints = Endpoints::new(true).storing_in(&state);
    let (starts, paid) = (
        endpoints.at(Moment::TrialStart),
        endpoints.at(Moment::Renewal),
    );
    for ((provider, start), (_, paid)) in starts.iter().zip(&paid) {
        assert_eq!(start.track(&client).await.status(), 200, "{provider}");
        state.pass(Duration::from_secs(730 * 24 * 60 * 60));
        assert_eq!(paid.track(&client).await.status(), 200, "{provider}");
        assert!(!state.last_is_recurring(), "{provider}: a renewal");
    }
}
