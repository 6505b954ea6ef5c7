//! Payment webhooks handed to the outbox: acknowledged once stored, and safe whatever happens
//! after. A restart, a second replica, a refund before its sale, an API slower than the
//! provider waits: each on a SQLite file and on Postgres.

#![allow(clippy::unwrap_used)] // a test fails loudly on purpose

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use affitor::Client;
use affitor::client::{Currency, Endpoint, IntoEvent as _, RetryPolicy};
use affitor::webhook::{
    CurrencyConverter, Custody, LemonSqueezy, Paddle, PaymentState, Stripe, Tracked, Verifier,
};
use affitor_mock::{Fault, MockServer, RefundStatus, SignedWebhook};
use affitor_outbox::{Outbox, OutboxBuilder};
use serde_json::{Value, json};

use crate::support::{Store, client_with, on_each_store, quick_policy, wait_until};

const STRIPE_SECRET: &str = "whsec_outbox_payments";
const PADDLE_SECRET: &str = "pdl_ntfset_outbox_payments";
const LEMON_SECRET: &str = "lemon_outbox_payments";

const A_WHILE: Duration = Duration::from_secs(30);

/// The invoice a Basil subscription payment is keyed by, and the payment intent that paid it.
const INVOICE: &str = "in_1RaBc9LkdIwHu7ixCycle0002";
const PAYMENT_INTENT: &str = "pi_3RaBcALkdIwHu7ixCycle0002";

/// A provider's event from the fixtures of `affitor`'s webhook tests.
fn fixture(path: &str) -> String {
    let path = format!(
        "{}/../affitor/tests/fixtures/webhook/{path}",
        env!("CARGO_MANIFEST_DIR")
    );
    std::fs::read_to_string(&path).unwrap_or_else(|error| panic!("{path}: {error}"))
}

/// A stand-in that knows the fixtures' click ids, and a client of it.
async fn stand_in() -> (MockServer, Client) {
    let mock = MockServer::start().await.expect("the stand-in API starts");
    for n in 0..5 {
        let id = format!("cust_fixture_174346500000{n}")
            .parse()
            .expect("a valid click id");
        mock.click_with_id("partner", id);
    }
    let client = client_with(&mock, quick_policy());
    (mock, client)
}

/// `body` as a Stripe event that happened `ago`.
fn stripe_event_at(body: &str, ago: Duration) -> String {
    let mut event: Value = serde_json::from_str(body).expect("a fixture is JSON");
    let at = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("a clock after 1970")
        - ago;
    event["created"] = json!(at.as_secs());
    event.to_string()
}

fn now(body: &str) -> String {
    stripe_event_at(body, Duration::ZERO)
}

/// One app's Stripe endpoint: its own verifier, whose payment state is `outbox`, and a client
/// whose backend is `outbox`.
struct App {
    stripe: Verifier<Stripe>,
    client: Client,
    outbox: Outbox,
}

impl App {
    fn new(client: &Client, outbox: Outbox) -> Self {
        Self {
            stripe: Verifier::<Stripe>::new(STRIPE_SECRET)
                .expect("a Stripe verifier")
                .with_payment_state(outbox.clone()),
            client: client.with_backend(outbox.clone()),
            outbox,
        }
    }

    async fn stripe(&self, body: &str) -> Tracked {
        let signed = SignedWebhook::stripe(STRIPE_SECRET, body);
        self.stripe
            .track(&self.client, signed.headers(), signed.body())
            .await
    }

    async fn stop(self) {
        self.client.shutdown(Duration::from_secs(5)).await;
    }
}

fn stored(tracked: &Tracked, endpoint: Endpoint) -> bool {
    tracked.status() == 200 && matches!(tracked, Tracked::Stored(e) if *e == endpoint)
}

/// The outbox settings of these tests: a quick relay, and a backoff in milliseconds.
fn quick(client: &Client) -> OutboxBuilder {
    Outbox::builder(client.clone())
        .poll_interval(Duration::from_millis(20))
        .backoff(Duration::from_millis(50), Duration::from_millis(200))
}

/// The reversals the stand-in made, by the transaction id they were recorded under.
fn reversals(mock: &MockServer) -> Vec<String> {
    mock.refunds()
        .into_iter()
        .map(|refund| refund.transaction_id)
        .collect()
}

/// A subscription's payment, then a deploy (a new process: the verifier's memory is gone),
/// then its refund, which names only the payment intent (Stripe API versions from
/// 2025-03-31): reversed once, under the invoice the sale was recorded under.
async fn a_refund_after_a_restart_finds_its_invoice(store: Store) {
    let (mock, client) = stand_in().await;
    let before = App::new(&client, store.open(quick(&client)).await);
    for path in [
        "stripe/invoice.paid.basil.json",
        "stripe/invoice_payment.paid.json",
    ] {
        let tracked = before.stripe(&now(&fixture(path))).await;
        assert_eq!(tracked.status(), 200, "{path}: {tracked:?}");
    }
    wait_until("the sale", A_WHILE, async || mock.sales().len() == 1).await;
    before.stop().await;

    let after = App::new(&client, store.open(quick(&client)).await);
    let refund = now(&fixture("stripe/charge.refunded.basil.json"));
    let tracked = after.stripe(&refund).await;
    assert!(stored(&tracked, Endpoint::Refund), "{tracked:?}");
    wait_until("the reversal", A_WHILE, async || !mock.refunds().is_empty()).await;
    wait_until("the outbox idle", A_WHILE, async || {
        after.outbox.waiting().await.unwrap() == 0
    })
    .await;
    assert_eq!(reversals(&mock), [INVOICE]);
    after.stop().await;
}
on_each_store!(a_refund_after_a_restart_finds_its_invoice);

/// Stripe from API version 2025-03-31 on, in the worst order: the refund naming only its
/// payment intent, then the payment's link to its invoice, then the invoice's sale. The stored
/// refund waits with the relay's usual backoff (a few calls, not one a second), takes the
/// invoice as its other id when the link comes, and goes behind the sale once that is stored:
/// reversed under the invoice within seconds of `invoice.paid`.
async fn a_stripe_refund_before_its_link_and_its_sale_is_reversed_under_the_invoice(store: Store) {
    let (mock, client) = stand_in().await;
    let app = App::new(
        &client,
        store
            .open(Outbox::builder(client.clone()).poll_interval(Duration::from_millis(20)))
            .await,
    );
    let refund = app
        .stripe(&now(&fixture("stripe/charge.refunded.basil.json")))
        .await;
    assert!(stored(&refund, Endpoint::Refund), "{refund:?}");
    wait_until("a first try of the refund", A_WHILE, async || {
        !mock.requests_to(Endpoint::Refund).is_empty()
    })
    .await;
    // A while in the relay's backoff (1 s, doubling) before the rest comes.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let tried_before = mock.requests_to(Endpoint::Refund).len();

    let link = app
        .stripe(&now(&fixture("stripe/invoice_payment.paid.json")))
        .await;
    assert_eq!(link.status(), 200, "{link:?}");
    let sale = app
        .stripe(&now(&fixture("stripe/invoice.paid.basil.json")))
        .await;
    assert!(stored(&sale, Endpoint::Sale), "{sale:?}");
    let paid = std::time::Instant::now();
    wait_until("the reversal", A_WHILE, async || !mock.refunds().is_empty()).await;
    let reversed_after = paid.elapsed();

    println!(
        "{tried_before} refund calls before the link and the sale; reversed {reversed_after:?} \
         after invoice.paid"
    );
    assert!(
        tried_before <= 4,
        "{tried_before} refund calls in about 3 s"
    );
    assert!(
        reversed_after < Duration::from_secs(5),
        "reversed {reversed_after:?} after invoice.paid"
    );
    assert_eq!(reversals(&mock), [INVOICE]);
    app.stop().await;
}
on_each_store!(a_stripe_refund_before_its_link_and_its_sale_is_reversed_under_the_invoice);

/// Stripe's refund and the payment intent's link to its invoice delivered at the same moment:
/// the refund read no link (it was not committed yet), and the link's write found no refund to
/// put under the invoice (it was not committed yet either). The refund, stored under the
/// payment intent alone, is put under the invoice when Affitor knows no sale under the
/// payment intent, and reversed behind the sale: never a dead letter days later.
async fn a_refund_written_beside_its_link_is_reversed_under_the_invoice(store: Store) {
    let (mock, client) = stand_in().await;
    let app = App::new(&client, store.open(quick(&client)).await);
    let link = app
        .stripe(&now(&fixture("stripe/invoice_payment.paid.json")))
        .await;
    assert_eq!(link.status(), 200, "{link:?}");
    // The refund as the webhook built it before the link was committed: under the payment
    // intent alone, and with no fact of its own.
    let refund = client
        .refund(PAYMENT_INTENT)
        .into_event()
        .expect("a valid refund");
    let custody = PaymentState::store(&app.outbox, refund, &[]).await;
    assert!(matches!(custody, Ok(Custody::Stored)), "{custody:?}");
    wait_until(
        "the refund tried under the payment intent",
        A_WHILE,
        async || !mock.requests_to(Endpoint::Refund).is_empty(),
    )
    .await;

    let sale = app
        .stripe(&now(&fixture("stripe/invoice.paid.basil.json")))
        .await;
    assert!(stored(&sale, Endpoint::Sale), "{sale:?}");
    wait_until("the reversal", A_WHILE, async || !mock.refunds().is_empty()).await;
    wait_until("the outbox idle", A_WHILE, async || {
        app.outbox.waiting().await.unwrap() == 0
    })
    .await;
    assert_eq!(reversals(&mock), [INVOICE]);
    assert!(app.outbox.dead_letters().await.unwrap().is_empty());
    app.stop().await;
}
on_each_store!(a_refund_written_beside_its_link_is_reversed_under_the_invoice);

/// Two replicas on one store: the sale and its link through one, the refund through the
/// other, each with its own verifier. One reversal, under the invoice.
async fn two_replicas_share_what_a_refund_needs(store: Store) {
    let (mock, client) = stand_in().await;
    let first = App::new(&client, store.open(quick(&client)).await);
    let second = App::new(&client, store.open(quick(&client)).await);
    for path in [
        "stripe/invoice.paid.basil.json",
        "stripe/invoice_payment.paid.json",
    ] {
        assert_eq!(first.stripe(&now(&fixture(path))).await.status(), 200);
    }
    let refund = now(&fixture("stripe/charge.refunded.basil.json"));
    let tracked = second.stripe(&refund).await;
    assert!(stored(&tracked, Endpoint::Refund), "{tracked:?}");
    wait_until("the reversal", A_WHILE, async || !mock.refunds().is_empty()).await;
    wait_until("both outboxes idle", A_WHILE, async || {
        first.outbox.waiting().await.unwrap() == 0
    })
    .await;
    assert_eq!(reversals(&mock), [INVOICE]);
    assert_eq!(mock.sales().len(), 1);
    first.stop().await;
    second.stop().await;
}
on_each_store!(two_replicas_share_what_a_refund_needs, pgbouncer);

/// A refund 29 hours old whose sale has not come yet (an outage longer than a day, inside
/// Stripe's three days of retries): stored, then reversed once its sale lands. Inline, past
/// the day of refund grace, it would be acknowledged without effect.
async fn an_old_refund_before_its_sale_is_reversed(store: Store) {
    let (mock, client) = stand_in().await;
    let app = App::new(&client, store.open(quick(&client)).await);
    let link = now(&fixture("stripe/invoice_payment.paid.json"));
    assert_eq!(app.stripe(&link).await.status(), 200);
    let old = Duration::from_secs(29 * 3600);
    let refund = stripe_event_at(&fixture("stripe/charge.refunded.basil.json"), old);
    let tracked = app.stripe(&refund).await;
    assert!(stored(&tracked, Endpoint::Refund), "{tracked:?}");

    // The relay tries it, and Affitor knows no sale yet: it waits.
    wait_until("a first try of the refund", A_WHILE, async || {
        !mock.requests_to(Endpoint::Refund).is_empty()
    })
    .await;
    assert!(mock.refunds().is_empty());
    assert_eq!(app.outbox.stats().dead, 0, "not given up on");

    let sale = stripe_event_at(&fixture("stripe/invoice.paid.basil.json"), old);
    assert!(stored(&app.stripe(&sale).await, Endpoint::Sale));
    wait_until("the reversal", A_WHILE, async || !mock.refunds().is_empty()).await;
    assert_eq!(reversals(&mock), [INVOICE]);
    assert_eq!(app.outbox.stats().dead, 0);
    app.stop().await;
}
on_each_store!(an_old_refund_before_its_sale_is_reversed);

/// Lemon Squeezy retries a delivery three times over about 2.5 minutes, then never again: a
/// refund that comes before its sale is stored, acknowledged, and reversed once the sale
/// lands, however late.
async fn a_lemon_squeezy_refund_before_its_sale_is_reversed(store: Store) {
    let (mock, client) = stand_in().await;
    let outbox = store.open(quick(&client)).await;
    let app = client.with_backend(outbox.clone());
    let lemon = Verifier::<LemonSqueezy>::new(LEMON_SECRET)
        .unwrap()
        .with_payment_state(outbox.clone());
    let deliver = async |path: &str| {
        let signed = SignedWebhook::lemon_squeezy(LEMON_SECRET, fixture(path));
        lemon.track(&app, signed.headers(), signed.body()).await
    };
    let refund = deliver("lemonsqueezy/order_refunded.partial.json").await;
    assert!(stored(&refund, Endpoint::Refund), "{refund:?}");
    wait_until("a first try of the refund", A_WHILE, async || {
        !mock.requests_to(Endpoint::Refund).is_empty()
    })
    .await;
    let sale = deliver("lemonsqueezy/order_created.json").await;
    assert!(stored(&sale, Endpoint::Sale), "{sale:?}");
    wait_until("the reversal", A_WHILE, async || !mock.refunds().is_empty()).await;
    assert_eq!(reversals(&mock), ["orders/1012345"]);
    assert_eq!(mock.sales().len(), 1);
    app.shutdown(Duration::from_secs(5)).await;
}
on_each_store!(a_lemon_squeezy_refund_before_its_sale_is_reversed);

/// Past the refund patience, a refund whose sale never came is a dead letter that says so:
/// never acknowledged and dropped; and its delivery, resent, is stored again.
async fn a_refund_whose_sale_never_came_is_a_dead_letter(store: Store) {
    let (mock, client) = stand_in().await;
    let outbox = store
        .open(quick(&client).refund_patience(Duration::from_millis(300)))
        .await;
    let app = App::new(&client, outbox);
    let refund = now(&fixture("stripe/charge.refunded.basil.json"));
    assert!(stored(&app.stripe(&refund).await, Endpoint::Refund));
    // Written, then counted: wait for both.
    wait_until("the dead letter", A_WHILE, async || {
        !app.outbox.dead_letters().await.unwrap().is_empty() && app.outbox.stats().dead > 0
    })
    .await;
    let letters = app.outbox.dead_letters().await.unwrap();
    assert_eq!(letters.len(), 1);
    assert_eq!(app.outbox.stats().dead, 1);
    assert_eq!(letters[0].transaction_id.as_deref(), Some(PAYMENT_INTENT));
    assert!(
        letters[0].error.contains("no sale recorded under"),
        "{}",
        letters[0].error
    );
    assert!(mock.refunds().is_empty());

    // Resent from the provider's dashboard once it died: stored again, never acknowledged as
    // a replay with nothing done.
    let resent = app.stripe(&refund).await;
    assert!(stored(&resent, Endpoint::Refund), "{resent:?}");
    assert_eq!(app.outbox.stats().enqueued, 2);
    app.stop().await;
}
on_each_store!(a_refund_whose_sale_never_came_is_a_dead_letter);

/// A converter whose rate moves between a sale and its refund, as a live one does.
struct Moving(Arc<AtomicU64>);

impl CurrencyConverter for Moving {
    fn rate(&self, from: &str) -> Option<(Currency, f64)> {
        let rate = f64::from_bits(self.0.load(Ordering::Relaxed));
        (from == "GBP").then_some((Currency::Usd, rate))
    }
}

/// A subscription paid in pounds, then a deploy, then the pound falls and the payment is
/// refunded in full (`refund.created`, naming only the payment intent): the refund is
/// converted at the sale's rate, which the store kept, and reverses the whole commission.
async fn a_converted_refund_after_a_restart_is_the_whole_sale(store: Store) {
    let (mock, client) = stand_in().await;
    let rate = Arc::new(AtomicU64::new(1.27_f64.to_bits()));
    let app = |outbox: Outbox| App {
        stripe: Verifier::<Stripe>::builder()
            .secret(STRIPE_SECRET)
            .currency_converter(Moving(Arc::clone(&rate)))
            .build()
            .expect("a Stripe verifier")
            .with_payment_state(outbox.clone()),
        client: client.with_backend(outbox.clone()),
        outbox,
    };
    let in_pounds = |path: &str| now(&fixture(path).replace("\"eur\"", "\"gbp\""));
    let before = app(store.open(quick(&client)).await);
    for path in [
        "stripe/invoice.paid.basil.json",
        "stripe/invoice_payment.paid.json",
    ] {
        let tracked = before.stripe(&in_pounds(path)).await;
        assert_eq!(tracked.status(), 200, "{path}: {tracked:?}");
    }
    wait_until("the sale", A_WHILE, async || mock.sales().len() == 1).await;
    assert_eq!(mock.sales()[0].amount_cents, 3683, "£29.00 at 1.27");
    before.stop().await;

    rate.store(1.25_f64.to_bits(), Ordering::Relaxed);
    let after = app(store.open(quick(&client)).await);
    let mut refund: Value =
        serde_json::from_str(&fixture("stripe/refund.created.json")).expect("JSON");
    refund["data"]["object"]["currency"] = json!("gbp");
    refund["data"]["object"]["amount"] = json!(2900);
    refund["data"]["object"]["payment_intent"] = json!(PAYMENT_INTENT);
    let tracked = after.stripe(&now(&refund.to_string())).await;
    assert!(stored(&tracked, Endpoint::Refund), "{tracked:?}");
    wait_until("the reversal", A_WHILE, async || !mock.refunds().is_empty()).await;
    let reversal = &mock.refunds()[0];
    assert_eq!(reversal.transaction_id, INVOICE);
    assert_eq!(
        reversal.refund_amount_cents,
        Some(3683),
        "the whole sale, not £29.00 at 1.25"
    );
    assert_eq!(reversal.status, RefundStatus::Reversed);
    after.stop().await;
}
on_each_store!(a_converted_refund_after_a_restart_is_the_whole_sale);

/// With the API answering in 6 s, a Paddle delivery is acknowledged before the API has
/// answered (Paddle wants a 2xx within 5 s), and its sale lands once.
async fn a_paddle_delivery_is_answered_before_a_slow_api(store: Store) {
    let (mock, _) = stand_in().await;
    // One attempt per send: the stand-in's answer, not a retry, is what is waited for.
    let client = client_with(&mock, RetryPolicy::default().max_attempts(1));
    mock.inject(
        Fault::delay(Duration::from_secs(6))
            .on(Endpoint::Sale)
            .times(1),
    );
    let outbox = store.open(quick(&client)).await;
    let app = client.with_backend(outbox.clone());
    let paddle = Verifier::<Paddle>::new(PADDLE_SECRET)
        .unwrap()
        .with_payment_state(outbox.clone());
    let signed = SignedWebhook::paddle(PADDLE_SECRET, fixture("paddle/transaction.completed.json"));
    let tracked = paddle.track(&app, signed.headers(), signed.body()).await;
    assert!(stored(&tracked, Endpoint::Sale), "{tracked:?}");
    // Answered before the stand-in answered the sale (it answers after 6 s).
    assert_eq!(outbox.stats().delivered, 0, "answered only after the API");

    wait_until("the sale", A_WHILE, async || mock.sales().len() == 1).await;
    wait_until("the outbox idle", A_WHILE, async || {
        outbox.waiting().await.unwrap() == 0
    })
    .await;
    assert_eq!(mock.sales().len(), 1, "recorded once");
    app.shutdown(Duration::from_secs(5)).await;
}
on_each_store!(a_paddle_delivery_is_answered_before_a_slow_api);

/// A store that cannot write: the payment is not acknowledged (503), so that the provider
/// delivers it again; nothing goes to the in-memory queue behind the caller's back.
#[cfg(feature = "sqlite")]
#[tokio::test]
async fn a_store_that_cannot_write_answers_503() {
    let (mock, client) = stand_in().await;
    let path = crate::support::sqlite_path("cannot_write");
    let outbox = quick(&client).open(&path).await.unwrap();
    let app = App::new(&client, outbox);
    // The table goes away under the outbox: every write fails.
    crate::support::sqlite(&path)
        .execute("DROP TABLE affitor_outbox", [])
        .unwrap();
    let tracked = app
        .stripe(&now(&fixture("stripe/invoice.paid.basil.json")))
        .await;
    assert_eq!(tracked.status(), 503, "{tracked:?}");
    assert!(
        matches!(&tracked, Tracked::Failed(error) if error.kind() == affitor::client::ErrorKind::NotStored),
        "{tracked:?}"
    );
    assert_eq!(app.outbox.stats().fell_back, 0);
    assert_eq!(app.client.delivery_stats().queued, 0);
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(mock.sales().is_empty());

    // The outbox is degraded: the provider's next delivery is answered 503 too, never held in
    // memory. Once the table is back, the probe finds it, and a delivery is stored again.
    let again = app
        .stripe(&now(&fixture("stripe/invoice.paid.basil.json")))
        .await;
    assert_eq!(again.status(), 503, "{again:?}");
    // An event that leaves nothing in the store is answered as ever: a provider disables an
    // endpoint that fails for long, and the payments behind it with it.
    let other = json!({"id": "evt_other", "type": "customer.created", "data": {"object": {}}});
    let ignored = app.stripe(&now(&other.to_string())).await;
    assert!(
        matches!(
            ignored,
            Tracked::Ignored(affitor::webhook::Ignored::EventType)
        ),
        "{ignored:?}"
    );
    let _tables = quick(&client).relay(false).open(&path).await.unwrap();
    wait_until(
        "a delivery stored again",
        Duration::from_secs(20),
        async || {
            let tracked = app
                .stripe(&now(&fixture("stripe/invoice.paid.basil.json")))
                .await;
            tracked.status() == 200
        },
    )
    .await;
    wait_until("the sale", Duration::from_secs(20), async || {
        mock.sales().len() == 1
    })
    .await;
    let stats = app.outbox.stats();
    assert_eq!((stats.fell_back, stats.spilled_total), (0, 0), "{stats:?}");
}

/// Without an outbox as its payment state, a Paddle delivery is answered within Paddle's 5 s even when the
/// API takes 6: 503 (Paddle delivers it again), never a timeout on Paddle's side.
#[tokio::test]
async fn inline_paddle_gives_up_within_paddles_limit() {
    let (mock, _) = stand_in().await;
    let client = client_with(&mock, RetryPolicy::default().max_attempts(1));
    mock.inject(
        Fault::delay(Duration::from_secs(6))
            .on(Endpoint::Sale)
            .always(),
    );
    let paddle = Verifier::<Paddle>::new(PADDLE_SECRET).unwrap();
    let signed = SignedWebhook::paddle(PADDLE_SECRET, fixture("paddle/transaction.completed.json"));
    let tracked = paddle.track(&client, signed.headers(), signed.body()).await;
    assert_eq!(tracked.status(), 503, "{tracked:?}");
    // Given up on (the client's timeout, or Paddle's 4 s deadline), not after the API's 6 s.
    let Tracked::Failed(error) = &tracked else {
        panic!("{tracked:?}")
    };
    assert_eq!(error.kind(), affitor::client::ErrorKind::Timeout, "{error}");
}

/// Lemon Squeezy signs no timestamp: a delivery replayed later, even after a restart, is
/// acknowledged without being stored or sent again.
async fn lemon_squeezy_replays_are_acknowledged_once(store: Store) {
    let (mock, client) = stand_in().await;
    let lemon = Verifier::<LemonSqueezy>::new(LEMON_SECRET).unwrap();
    let signed =
        SignedWebhook::lemon_squeezy(LEMON_SECRET, fixture("lemonsqueezy/order_created.json"));
    let first = store.open(quick(&client)).await;
    let app = client.with_backend(first.clone());
    let tracked = lemon
        .clone()
        .with_payment_state(first.clone())
        .track(&app, signed.headers(), signed.body())
        .await;
    assert!(stored(&tracked, Endpoint::Sale), "{tracked:?}");
    wait_until("the sale", A_WHILE, async || mock.sales().len() == 1).await;
    app.shutdown(Duration::from_secs(5)).await;

    let second = store.open(quick(&client)).await;
    let app = client.with_backend(second.clone());
    let replayed = lemon
        .with_payment_state(second.clone())
        .track(&app, signed.headers(), signed.body())
        .await;
    assert_eq!(replayed.status(), 200);
    assert!(
        matches!(
            replayed,
            Tracked::Ignored(affitor::webhook::Ignored::Replayed)
        ),
        "{replayed:?}"
    );
    assert_eq!(second.stats().enqueued, 0, "not stored again");
    assert_eq!(mock.requests_to(Endpoint::Sale).len(), 1, "not sent again");
    app.shutdown(Duration::from_secs(5)).await;
}
on_each_store!(lemon_squeezy_replays_are_acknowledged_once);

/// A provider that retries after a timeout delivers the same event again: each is acknowledged
/// and stored once (Stripe: a checkout's sale three times; Paddle: a refund three times before
/// its sale), so one row and one call to the API each.
async fn a_redelivered_event_is_stored_and_sent_once(store: Store) {
    let (mock, client) = stand_in().await;
    let app = App::new(&client, store.open(quick(&client)).await);
    let checkout = now(&fixture("stripe/checkout.session.completed.payment.json"));
    let tracked: Vec<Tracked> = [
        app.stripe(&checkout).await,
        app.stripe(&checkout).await,
        app.stripe(&checkout).await,
    ]
    .into();
    assert!(stored(&tracked[0], Endpoint::Sale), "{tracked:?}");
    for again in &tracked[1..] {
        assert_eq!(again.status(), 200, "{again:?}");
        assert!(
            matches!(again, Tracked::Ignored(affitor::webhook::Ignored::Replayed)),
            "{again:?}"
        );
    }
    wait_until("the sale", A_WHILE, async || mock.sales().len() == 1).await;

    let paddle = Verifier::<Paddle>::new(PADDLE_SECRET)
        .unwrap()
        .with_payment_state(app.outbox.clone());
    let deliver = async |path: &str| {
        let signed = SignedWebhook::paddle(PADDLE_SECRET, fixture(path));
        paddle
            .track(&app.client, signed.headers(), signed.body())
            .await
    };
    let refunds = [
        deliver("paddle/adjustment.updated.refund.json").await,
        deliver("paddle/adjustment.updated.refund.json").await,
        deliver("paddle/adjustment.updated.refund.json").await,
    ];
    assert!(stored(&refunds[0], Endpoint::Refund), "{refunds:?}");
    assert!(
        refunds[1..]
            .iter()
            .all(|again| matches!(again, Tracked::Ignored(affitor::webhook::Ignored::Replayed)))
    );
    let sale = deliver("paddle/transaction.completed.json").await;
    assert!(stored(&sale, Endpoint::Sale), "{sale:?}");
    wait_until("the reversal", A_WHILE, async || !mock.refunds().is_empty()).await;
    wait_until("the outbox idle", A_WHILE, async || {
        app.outbox.waiting().await.unwrap() == 0
    })
    .await;

    assert_eq!(mock.requests_to(Endpoint::Sale).len(), 2, "one call a sale");
    assert_eq!(mock.refunds().len(), 1, "one reversal");
    assert_eq!(app.outbox.stats().enqueued, 3, "one row an event");
    app.stop().await;
}
on_each_store!(a_redelivered_event_is_stored_and_sent_once);
