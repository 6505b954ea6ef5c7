//! `checkout_fields`: what it writes into each provider's checkout comes back in that
//! provider's payment event, read by its verifier as the sale's customer key and click id.

use super::*;
use affitor::webhook::{LemonSqueezy, Paddle, checkout_fields};

const CUSTOMER: &str = "user_checkout_1";

fn click() -> ClickId {
    "cust_fixture_1743465000004".parse().unwrap()
}

/// A fixture whose Affitor fields are replaced by `fields`, placed where the provider copies
/// them from the checkout into its event.
fn with_fields(path: &str, place: impl FnOnce(&mut Value)) -> String {
    let mut event: Value = serde_json::from_str(&fixture(path)).unwrap();
    place(&mut event);
    event.to_string()
}

fn assert_attributed(event: &ProviderEvent) {
    let sale = sale(event);
    assert_eq!(
        sale.customer_key.as_deref(),
        Some(CUSTOMER),
        "{}",
        event.event_type
    );
    assert_eq!(sale.click_id, Some(click()), "{}", event.event_type);
}

#[test]
fn stripe_reads_what_its_fields_put_in_the_session() {
    let fields = checkout_fields::<Stripe>(CUSTOMER, Some(&click()), None);
    let body = with_fields("stripe/checkout.session.completed.payment.json", |event| {
        let session = &mut event["data"]["object"];
        session["metadata"] = fields["metadata"].clone();
        session["client_reference_id"] = fields["client_reference_id"].clone();
    });
    let signed = SignedWebhook::stripe(STRIPE_SECRET, body);
    assert_attributed(&stripe().verify(signed.headers(), signed.body()).unwrap());
    // A renewal reads the subscription's metadata: `subscription_data.metadata`.
    let body = with_fields("stripe/invoice.paid.basil.json", |event| {
        event["data"]["object"]["parent"]["subscription_details"]["metadata"] =
            fields["subscription_data"]["metadata"].clone();
    });
    let signed = SignedWebhook::stripe(STRIPE_SECRET, body);
    assert_attributed(&stripe().verify(signed.headers(), signed.body()).unwrap());
}

#[test]
fn polar_reads_what_its_fields_put_in_the_checkout() {
    let fields = checkout_fields::<Polar>(CUSTOMER, Some(&click()), None);
    let body = with_fields("polar/order.paid.json", |event| {
        event["data"]["metadata"] = fields["metadata"].clone();
        event["data"]["customer"]["external_id"] = Value::Null;
    });
    let signed = SignedWebhook::polar(POLAR_SECRET, body);
    assert_attributed(&polar().verify(signed.headers(), signed.body()).unwrap());
}

#[test]
fn paddle_reads_what_its_fields_put_in_the_transaction() {
    let fields = checkout_fields::<Paddle>(CUSTOMER, Some(&click()), None);
    let body = with_fields("paddle/transaction.completed.json", |event| {
        event["data"]["custom_data"] = fields["custom_data"].clone();
    });
    let signed = SignedWebhook::paddle("pdl_ntfset_checkout_key", body);
    let paddle = Verifier::<Paddle>::new("pdl_ntfset_checkout_key").unwrap();
    assert_attributed(&paddle.verify(signed.headers(), signed.body()).unwrap());
}

#[test]
fn lemon_squeezy_reads_what_its_fields_put_in_the_checkout() {
    let fields = checkout_fields::<LemonSqueezy>(CUSTOMER, Some(&click()), None);
    let body = with_fields("lemonsqueezy/order_created.json", |event| {
        // Lemon Squeezy hands `checkout_data.custom` back as `meta.custom_data`.
        event["meta"]["custom_data"] = fields["checkout_data"]["custom"].clone();
    });
    let signed = SignedWebhook::lemon_squeezy("checkout secret", body);
    let lemon_squeezy = Verifier::<LemonSqueezy>::new("checkout secret").unwrap();
    assert_attributed(
        &lemon_squeezy
            .verify(signed.headers(), signed.body())
            .unwrap(),
    );
}

/// The program id goes where the Affitor guides put it: beside the click id, in the session's
/// `metadata` and `subscription_data.metadata` for Stripe, in the custom fields of the others.
#[test]
fn the_program_id_goes_beside_the_click_id() {
    let stripe = checkout_fields::<Stripe>(CUSTOMER, Some(&click()), Some("42"));
    assert_eq!(stripe["metadata"]["program_id"], "42");
    assert_eq!(stripe["subscription_data"]["metadata"]["program_id"], "42");
    let polar = checkout_fields::<Polar>(CUSTOMER, None, Some("42"));
    assert_eq!(polar["metadata"]["program_id"], "42");
    let paddle = checkout_fields::<Paddle>(CUSTOMER, None, Some("42"));
    assert_eq!(paddle["custom_data"]["program_id"], "42");
    let lemon = checkout_fields::<LemonSqueezy>(CUSTOMER, None, Some("42"));
    assert_eq!(lemon["checkout_data"]["custom"]["program_id"], "42");
    // Blank is left out.
    let blank = checkout_fields::<Paddle>(CUSTOMER, None, Some(" "));
    assert_eq!(
        blank,
        json!({ "custom_data": { "affitor_customer_key": CUSTOMER } })
    );
}

#[test]
fn without_a_click_id_the_customer_key_still_goes() {
    let fields = checkout_fields::<Stripe>(CUSTOMER, None, None);
    assert_eq!(
        fields["metadata"],
        json!({ "affitor_customer_key": CUSTOMER })
    );
}

/// A Payment Link (or a pricing table) makes its session without the app: no metadata, and the
/// page's script put the click id in `client_reference_id` behind `affitor_`. The sale sent
/// carries that click id, no customer key, and is attributed to its partner.
#[tokio::test]
async fn a_payment_link_checkout_is_attributed_to_the_click_id_it_carries() {
    let mock = MockServer::start().await.unwrap();
    let click_id = mock.click("partner");
    let client = mock.client();
    let body = with_fields("stripe/checkout.session.completed.payment.json", |event| {
        let session = &mut event["data"]["object"];
        session["metadata"] = json!({});
        session["payment_link"] = json!("plink_1QpLyxLkdIwHu7ixPayLink");
        session["client_reference_id"] = json!(format!("affitor_{click_id}"));
    });
    let signed = SignedWebhook::stripe(STRIPE_SECRET, body);
    let tracked = stripe()
        .track(&client, signed.headers(), signed.body())
        .await;
    assert!(
        matches!(tracked, Tracked::Sale(SaleOutcome::Recorded { .. })),
        "{tracked:?}"
    );
    let sent = &mock.requests_to(Endpoint::Sale)[0].body;
    assert_eq!(sent["click_id"], click_id.as_str());
    assert_eq!(sent.get("customer_key"), None, "{sent}");
    let sales = mock.sales();
    assert_eq!(sales.len(), 1);
    assert_eq!(sales[0].transaction_id, "pi_3QpLyxLkdIwHu7ix0mS3hXkT");
    assert_eq!(sales[0].partner_code.as_deref(), Some("partner"));
}

/// Metadata wins over a prefixed `client_reference_id`, and an unprefixed one is still the
/// customer key.
#[test]
fn metadata_wins_over_a_click_id_in_the_client_reference_id() {
    let read = |metadata: Value, reference: &str| {
        let body = with_fields("stripe/checkout.session.completed.payment.json", |event| {
            let session = &mut event["data"]["object"];
            session["metadata"] = metadata;
            session["client_reference_id"] = json!(reference);
        });
        let signed = SignedWebhook::stripe(STRIPE_SECRET, body);
        let event = stripe().verify(signed.headers(), signed.body()).unwrap();
        let sale = sale(&event);
        (sale.customer_key.clone(), sale.click_id.clone())
    };
    let fields = checkout_fields::<Stripe>(CUSTOMER, Some(&click()), None);
    assert_eq!(
        read(fields["metadata"].clone(), "affitor_cust_other_1"),
        (Some(CUSTOMER.to_owned()), Some(click()))
    );
    assert_eq!(
        read(json!({}), "affitor_cust_other_1"),
        (None, Some("cust_other_1".parse().unwrap()))
    );
    assert_eq!(read(json!({}), CUSTOMER), (Some(CUSTOMER.to_owned()), None));
}
