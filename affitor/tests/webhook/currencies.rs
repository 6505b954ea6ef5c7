//! Each provider's amounts read as that provider counts them (its docs' zero-decimal and
//! three-decimal currencies), into the ISO 4217 minor units the converter reckons in: Stripe's
//! ISK, two-decimal in its API, is not paid 100 times over.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use super::tracked::setup;
use super::*;

use affitor::webhook::{Builder, CurrencyConverter, ExchangeRates, LemonSqueezy, Paddle, Provider};

const PADDLE_SECRET: &str = "pdl_ntfset_01affitorcurrency";
const LEMON_SECRET: &str = "affitor-lemon-currency";

/// `path`'s event with `change` made to it, signed and read by `P`'s verifier.
fn changed<P: Provider>(
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

/// The Stripe checkout session fixture, paid `amount` in `currency` (Stripe's lower case).
fn stripe_session(currency: &str, amount: u64) -> Value {
    let mut event: Value =
        serde_json::from_str(&fixture("stripe/checkout.session.completed.payment.json")).unwrap();
    event["data"]["object"]["currency"] = json!(currency);
    event["data"]["object"]["amount_total"] = json!(amount);
    event
}

fn stripe_sale(currency: &str, amount: u64) -> (u64, String) {
    let signed = SignedWebhook::stripe(STRIPE_SECRET, stripe_session(currency, amount).to_string());
    let event = stripe().verify(signed.headers(), signed.body()).unwrap();
    let sale = sale(&event);
    (sale.amount_cents, sale.currency.to_string())
}

fn paddle_sale(currency: &str, amount: &str) -> (u64, String) {
    let event = changed::<Paddle>(
        PADDLE_SECRET,
        SignedWebhook::paddle,
        "paddle/transaction.completed.json",
        |event| {
            event["data"]["currency_code"] = json!(currency);
            event["data"]["details"]["totals"]["grand_total"] = json!(amount);
        },
    );
    let sale = sale(&event);
    (sale.amount_cents, sale.currency.to_string())
}

fn polar_sale(currency: &str, amount: u64) -> (u64, String) {
    let mut event: Value = serde_json::from_str(&fixture("polar/order.paid.json")).unwrap();
    event["data"]["currency"] = json!(currency);
    event["data"]["total_amount"] = json!(amount);
    let signed = SignedWebhook::polar(POLAR_SECRET, event.to_string());
    let event = polar().verify(signed.headers(), signed.body()).unwrap();
    let sale = sale(&event);
    (sale.amount_cents, sale.currency.to_string())
}

fn lemon_squeezy_sale(currency: &str, amount: u64) -> (u64, String) {
    let event = changed::<LemonSqueezy>(
        LEMON_SECRET,
        SignedWebhook::lemon_squeezy,
        "lemonsqueezy/order_created.json",
        |event| {
            event["data"]["attributes"]["currency"] = json!(currency);
            event["data"]["attributes"]["total"] = json!(amount);
        },
    );
    let sale = sale(&event);
    (sale.amount_cents, sale.currency.to_string())
}

fn read(amount: u64, code: &str) -> (u64, String) {
    (amount, code.to_owned())
}

/// Stripe writes kr 1,000 as `100000` (ISK stays two-decimal in its API): the sale is 1000
/// krónur, and converted at $0.0072 a króna it is $7.20, not $720.
#[tokio::test]
async fn a_stripe_isk_sale_of_100000_converts_as_1000_kronur() {
    assert_eq!(stripe_sale("isk", 100_000), read(1000, "ISK"));

    let (mock, client) = setup().await;
    let stripe = Verifier::<Stripe>::builder()
        .secret(STRIPE_SECRET)
        .currency_converter(ExchangeRates::to(Currency::Usd).with_rate("ISK", 0.0072))
        .build()
        .unwrap();
    let signed = SignedWebhook::stripe(STRIPE_SECRET, stripe_session("isk", 100_000).to_string());
    let tracked = stripe.track(&client, signed.headers(), signed.body()).await;
    assert!(
        matches!(tracked, Tracked::Sale(SaleOutcome::Recorded { .. })),
        "{tracked:?}"
    );
    let sale = &mock.sales()[0];
    assert_eq!((sale.amount_cents, sale.currency.as_str()), (720, "USD"));
    let sent = &mock.requests_to(Endpoint::Sale)[0].body;
    assert_eq!(sent["additional_data"]["original_amount"], json!(1000));
    assert_eq!(sent["additional_data"]["original_currency"], json!("ISK"));

    // Its partial refund is counted the same way: `100000` refunded is 1000 krónur.
    let mut refund: Value =
        serde_json::from_str(&fixture("stripe/charge.refunded.partial.json")).unwrap();
    let charge = &mut refund["data"]["object"];
    charge["currency"] = json!("isk");
    charge["amount"] = json!(490_000);
    charge["amount_captured"] = json!(490_000);
    charge["amount_refunded"] = json!(100_000);
    let signed = SignedWebhook::stripe(STRIPE_SECRET, refund.to_string());
    let event = stripe.verify(signed.headers(), signed.body()).unwrap();
    let refund = super::refund(&event);
    assert_eq!(refund.amount_cents, Some(1000));
    assert_eq!(refund.currency, Some(Currency::from_code("ISK").unwrap()));
}

/// Stripe's zero-decimal and three-decimal currencies are ISO's: ¥5000 is `5000`, KWD 12.500
/// is `12500`, and so they stay.
#[test]
fn stripe_reads_zero_and_three_decimal_currencies_as_iso_counts_them() {
    assert_eq!(stripe_sale("jpy", 5000), read(5000, "JPY"));
    assert_eq!(stripe_sale("krw", 55_000), read(55_000, "KRW"));
    assert_eq!(stripe_sale("kwd", 12_500), read(12_500, "KWD"));
    assert_eq!(stripe_sale("bhd", 12_500), read(12_500, "BHD"));
    // HUF is two-decimal in Stripe's charges (zero-decimal only in its payouts).
    assert_eq!(stripe_sale("huf", 150_000), read(150_000, "HUF"));
}

/// Paddle's lowest denomination of JPY and KRW is the whole unit; Paddle sells in no
/// three-decimal currency (its table lists none: see `webhook::currency`).
#[test]
fn paddle_reads_zero_decimal_currencies_whole() {
    assert_eq!(paddle_sale("JPY", "5000"), read(5000, "JPY"));
    assert_eq!(paddle_sale("KRW", "55000"), read(55_000, "KRW"));
    assert_eq!(paddle_sale("EUR", "5500"), read(5500, "EUR"));
}

/// Polar's "cents" of JPY are yen; Polar sells in no three-decimal currency.
#[test]
fn polar_reads_yen_whole() {
    assert_eq!(polar_sale("jpy", 5000), read(5000, "JPY"));
    assert_eq!(polar_sale("eur", 1900), read(1900, "EUR"));
}

/// Lemon Squeezy counts as ISO 4217 does: yen whole, dinars in thousandths.
#[test]
fn lemon_squeezy_reads_zero_and_three_decimal_currencies_as_iso_counts_them() {
    assert_eq!(lemon_squeezy_sale("JPY", 5000), read(5000, "JPY"));
    assert_eq!(lemon_squeezy_sale("KWD", 12_500), read(12_500, "KWD"));
    assert_eq!(lemon_squeezy_sale("ISK", 1000), read(1000, "ISK"));
}

/// Polar sells in Stripe's zero-decimal currencies (its table was yen alone): CLP 5,000 is
/// `5000`, read whole, not as 50 pesos.
#[test]
fn polar_reads_every_zero_decimal_currency_whole() {
    assert_eq!(polar_sale("clp", 5000), read(5000, "CLP"));
    assert_eq!(polar_sale("krw", 55_000), read(55_000, "KRW"));
    // UGX and ISK in hundredths, as Stripe charges them.
    assert_eq!(polar_sale("ugx", 500_000), read(5000, "UGX"));
}

/// A currency whose minor unit a provider's table does not list is refused, not guessed as
/// two-decimal: a wrong guess pays a hundred times the sale (or a hundredth), a refusal costs
/// the provider one more delivery. The event is unreadable (500: the provider keeps it),
/// nothing is sent, and a warning names the currency and what to do.
#[tokio::test(flavor = "current_thread")]
async fn an_amount_in_a_currency_the_provider_table_does_not_list_is_refused() {
    if !test_support::alone!() {
        return;
    }
    let (logs, _guard) = test_support::Logs::capture("warn");
    // A currency Paddle does not sell in, and one that does not exist.
    for code in ["KWD", "XYZ"] {
        let event = changed::<Paddle>(
            PADDLE_SECRET,
            SignedWebhook::paddle,
            "paddle/transaction.completed.json",
            |event| event["data"]["currency_code"] = json!(code),
        );
        assert_eq!(
            event.action,
            Action::Unreadable("currency_code"),
            "{code}: {event:?}"
        );
    }
    let logged = logs.text();
    assert!(logged.contains("an amount in KWD"), "{logged}");
    assert!(
        logged.contains("minor unit affitor does not know"),
        "{logged}"
    );
    assert!(logged.contains("update affitor"), "{logged}");

    // Tracked: answered 500, nothing sent; a partial refund in it too.
    let (mock, client) = setup().await;
    let signed = SignedWebhook::stripe(STRIPE_SECRET, stripe_session("iqd", 12_500).to_string());
    let tracked = stripe()
        .track(&client, signed.headers(), signed.body())
        .await;
    assert!(
        matches!(tracked, Tracked::Unreadable("currency")),
        "{tracked:?}"
    );
    assert_eq!(tracked.status(), 500);
    let mut refund: Value =
        serde_json::from_str(&fixture("stripe/charge.refunded.partial.json")).unwrap();
    refund["data"]["object"]["currency"] = json!("iqd");
    let signed = SignedWebhook::stripe(STRIPE_SECRET, refund.to_string());
    let event = stripe().verify(signed.headers(), signed.body()).unwrap();
    assert_eq!(event.action, Action::Unreadable("currency"));
    assert!(mock.requests().is_empty(), "{:?}", mock.requests());
}

/// A converter whose rate moves between a sale and its refund, as a live one does.
struct Moving(Arc<AtomicU64>);

impl Moving {
    /// A Stripe verifier that converts pounds at `rate` (an `f64`'s bits), which the test moves.
    fn stripe(rate: &Arc<AtomicU64>) -> Builder<Stripe> {
        Verifier::<Stripe>::builder()
            .secret(STRIPE_SECRET)
            .currency_converter(Self(Arc::clone(rate)))
    }
}

impl CurrencyConverter for Moving {
    fn rate(&self, from: &str) -> Option<(Currency, f64)> {
        (from == "GBP").then(|| {
            (
                Currency::Usd,
                f64::from_bits(self.0.load(Ordering::Relaxed)),
            )
        })
    }
}

/// A sale in a converted currency is sent again as it was sent, and its refund is converted at
/// its rate: the full refund of a £49 sale is the $62.23 it was sent as, the whole sale, though
/// the pound has fallen since (at that day's rate it would read to the API as a partial refund,
/// and leave ~2% of the commission paid).
#[tokio::test]
async fn a_refund_in_a_converted_currency_converts_at_its_sales_rate() {
    let (mock, client) = setup().await;
    let rate = Arc::new(AtomicU64::new(1.27_f64.to_bits()));
    let stripe = Moving::stripe(&rate).build().unwrap();
    let deliver = async |body: String| {
        let signed = SignedWebhook::stripe(STRIPE_SECRET, body);
        stripe.track(&client, signed.headers(), signed.body()).await
    };
    let sold = deliver(stripe_session("gbp", 4900).to_string()).await;
    assert_eq!(sold.status(), 200, "{sold:?}");
    assert_eq!(mock.sales()[0].amount_cents, 6223);

    rate.store(1.25_f64.to_bits(), Ordering::Relaxed);
    // Its redelivery (answered after the deadline the first time, say) sends what was sent.
    let again = deliver(stripe_session("gbp", 4900).to_string()).await;
    assert_eq!(again.status(), 200, "{again:?}");
    let sales = mock.requests_to(Endpoint::Sale);
    assert_eq!(sales.len(), 2);
    assert_eq!(
        sales[1].body["amount_cents"],
        json!(6223),
        "not £49 at 1.25"
    );

    let mut refund: Value = serde_json::from_str(&fixture("stripe/refund.created.json")).unwrap();
    refund["data"]["object"]["currency"] = json!("gbp");
    let refunded = deliver(refund.to_string()).await;
    assert_eq!(refunded.status(), 200, "{refunded:?}");
    let refund = &mock.refunds()[0];
    assert_eq!(
        refund.refund_amount_cents,
        Some(6223),
        "not $61.25 at today's rate"
    );
    assert_eq!(refund.status, RefundStatus::Reversed);

    // A sale the verifier kept no rate of (sold before this version, or the rate forgotten)
    // is converted at today's rate, as before.
    let mut unknown: Value = serde_json::from_str(&fixture("stripe/refund.created.json")).unwrap();
    let object = &mut unknown["data"]["object"];
    object["currency"] = json!("gbp");
    object["id"] = json!("re_unknown_rate");
    object["payment_intent"] = json!("pi_no_rate_kept");
    unknown["id"] = json!("evt_unknown_rate");
    let refunded = deliver(unknown.to_string()).await;
    assert_eq!(refunded.status(), 200, "{refunded:?}");
    let sent = mock.requests_to(Endpoint::Refund);
    let last = &sent.last().unwrap().body;
    assert_eq!(last["refund_amount_cents"], json!(6125), "{last}");
}

/// A converted sale whose send is cut off by the track deadline (Affitor may have it) keeps the
/// rate it went at: the provider's redelivery, once the rate has moved, sends the same amount.
#[tokio::test]
async fn a_converted_sale_cut_off_by_the_deadline_is_sent_again_as_it_went() {
    let (mock, client) = setup().await;
    let rate = Arc::new(AtomicU64::new(1.27_f64.to_bits()));
    let stripe = Moving::stripe(&rate)
        .track_deadline(Duration::from_millis(300))
        .build()
        .unwrap();
    let deliver = async || {
        let signed = SignedWebhook::stripe(STRIPE_SECRET, stripe_session("gbp", 4900).to_string());
        stripe.track(&client, signed.headers(), signed.body()).await
    };
    mock.inject(
        Fault::delay(Duration::from_secs(2))
            .on(Endpoint::Sale)
            .times(1),
    );
    let cut_off = deliver().await;
    assert_eq!(cut_off.status(), 503, "{cut_off:?}");

    rate.store(1.25_f64.to_bits(), Ordering::Relaxed);
    let again = deliver().await;
    assert_eq!(again.status(), 200, "{again:?}");
    let sent: Vec<Value> = mock
        .requests_to(Endpoint::Sale)
        .into_iter()
        .map(|request| request.body["amount_cents"].clone())
        .collect();
    assert!(sent.len() >= 2, "{sent:?}");
    assert!(sent.iter().all(|amount| *amount == json!(6223)), "{sent:?}");
}
