//! The documented payloads, read as sales and refunds.

use super::*;

#[test]
fn a_one_off_checkout_is_a_sale_keyed_by_its_payment_intent() {
    let event = stripe_event("stripe/checkout.session.completed.payment.json");
    assert_eq!(event.id, "evt_1QpLz2LkdIwHu7ixJkZbA1Qe");
    let sale = sale(&event);
    assert_eq!(sale.transaction_id, "pi_3QpLyxLkdIwHu7ix0mS3hXkT");
    assert_eq!(sale.amount_cents, 4900);
    assert_eq!(sale.currency, Currency::Usd);
    assert_eq!(sale.customer_key.as_deref(), Some("user_42"));
    assert_eq!(sale.click_id, click_id("cust_fixture_1743465000000"));
    assert_eq!(sale.sale_type, SaleType::Payment);
    assert!(!sale.is_recurring);
    assert_eq!(sale.subscription_id, None);
}

#[test]
fn a_subscription_checkout_is_a_sale_keyed_by_its_first_invoice() {
    let event = stripe_event("stripe/checkout.session.completed.subscription.json");
    let sale = sale(&event);
    assert_eq!(sale.transaction_id, "in_1QpLzzLkdIwHu7ixT5y6U7i8");
    assert_eq!(sale.amount_cents, 2900);
    assert_eq!(sale.currency, Currency::Eur);
    assert_eq!(sale.customer_key.as_deref(), Some("user_43"));
    assert_eq!(sale.sale_type, SaleType::Subscription);
    assert!(!sale.is_recurring);
    assert_eq!(
        sale.subscription_id.as_deref(),
        Some("sub_1QpLzzLkdIwHu7ixA9s8D7f6")
    );
}

#[test]
fn an_async_payment_is_a_sale_once_it_succeeds() {
    let event = stripe_event("stripe/checkout.session.async_payment_succeeded.json");
    let sale = sale(&event);
    assert_eq!(sale.transaction_id, "pi_3QpM1aLkdIwHu7ix1sepaDD1");
    assert_eq!(sale.amount_cents, 9900);
    assert_eq!(sale.customer_key.as_deref(), Some("user_44"));

    // Its checkout.session.completed came earlier, unpaid: nothing to track yet.
    let mut pending: Value = serde_json::from_str(&fixture(
        "stripe/checkout.session.async_payment_succeeded.json",
    ))
    .unwrap();
    pending["type"] = json!("checkout.session.completed");
    pending["data"]["object"]["payment_status"] = json!("unpaid");
    let signed = SignedWebhook::stripe(STRIPE_SECRET, pending.to_string());
    let event = stripe().verify(signed.headers(), signed.body()).unwrap();
    assert_eq!(event.action, Action::Ignore(Ignored::NotPaid));
}

#[test]
fn a_renewal_reads_the_subscription_details_of_basil() {
    let event = stripe_event("stripe/invoice.paid.basil.json");
    let sale = sale(&event);
    assert_eq!(sale.transaction_id, "in_1RaBc9LkdIwHu7ixCycle0002");
    assert_eq!(sale.amount_cents, 2900);
    assert_eq!(sale.currency, Currency::Eur);
    assert_eq!(sale.customer_key.as_deref(), Some("user_43"));
    assert_eq!(sale.click_id, click_id("cust_fixture_1743465000001"));
    assert_eq!(sale.sale_type, SaleType::Subscription);
    assert!(sale.is_recurring);
    assert_eq!(
        sale.subscription_id.as_deref(),
        Some("sub_1QpLzzLkdIwHu7ixA9s8D7f6")
    );
}

#[test]
fn a_renewal_reads_the_older_shape_too() {
    let event = stripe_event("stripe/invoice.paid.legacy.json");
    let sale = sale(&event);
    assert_eq!(sale.transaction_id, "in_1PzXy9LkdIwHu7ixCycle0001");
    assert_eq!(sale.amount_cents, 4900);
    assert_eq!(sale.customer_key.as_deref(), Some("user_42"));
    assert!(sale.is_recurring);
    assert_eq!(
        sale.subscription_id.as_deref(),
        Some("sub_1PmNbVLkdIwHu7ixQwErTy12")
    );
}

#[test]
fn only_a_cycle_invoice_is_a_renewal() {
    let mut first: Value =
        serde_json::from_str(&fixture("stripe/invoice.paid.basil.json")).unwrap();
    first["data"]["object"]["billing_reason"] = json!("subscription_create");
    let signed = SignedWebhook::stripe(STRIPE_SECRET, first.to_string());
    let event = stripe().verify(signed.headers(), signed.body()).unwrap();
    // The first invoice of a subscription: a sale keyed by the invoice, not a renewal.
    let sale = sale(&event);
    assert_eq!(
        sale.transaction_id,
        first["data"]["object"]["id"].as_str().unwrap()
    );
    assert_eq!(sale.sale_type, SaleType::Subscription);
    assert!(!sale.is_recurring);

    let mut manual = first.clone();
    manual["data"]["object"]["billing_reason"] = json!("manual");
    let signed = SignedWebhook::stripe(STRIPE_SECRET, manual.to_string());
    let event = stripe().verify(signed.headers(), signed.body()).unwrap();
    assert_eq!(
        event.action,
        Action::Ignore(Ignored::BillingReason("manual".into()))
    );
}

/// A metered subscription's usage billed mid-period, when it reaches its threshold, is a
/// payment of the subscription: a recurring sale, as its period's invoice and Polar's meter
/// cycle are, even with upgrades not tracked.
#[test]
fn a_usage_threshold_invoice_is_a_renewal() {
    let mut threshold: Value =
        serde_json::from_str(&fixture("stripe/invoice.paid.basil.json")).unwrap();
    threshold["data"]["object"]["billing_reason"] = json!("subscription_threshold");
    let signed = SignedWebhook::stripe(STRIPE_SECRET, threshold.to_string());
    let no_upgrades = Verifier::<Stripe>::builder()
        .secret(STRIPE_SECRET)
        .track_upgrades(false)
        .build()
        .unwrap();
    for verifier in [stripe(), no_upgrades] {
        let event = verifier.verify(signed.headers(), signed.body()).unwrap();
        let sale = sale(&event);
        assert_eq!(sale.transaction_id, "in_1RaBc9LkdIwHu7ixCycle0002");
        assert_eq!(sale.amount_cents, 2900);
        assert_eq!(sale.sale_type, SaleType::Subscription);
        assert!(sale.is_recurring);
        assert_eq!(sale.reason.as_deref(), Some("subscription_threshold"));
        assert_eq!(
            sale.subscription_id.as_deref(),
            Some("sub_1QpLzzLkdIwHu7ixA9s8D7f6")
        );
    }
}

#[test]
fn a_full_refund_names_the_payment_intent() {
    let event = stripe_event("stripe/charge.refunded.full.json");
    let refund = refund(&event);
    assert_eq!(refund.transaction_id, "pi_3QpLyxLkdIwHu7ix0mS3hXkT");
    assert_eq!(refund.amount_cents, None);
}

#[test]
fn a_partial_refund_of_a_renewal_names_its_invoice() {
    let event = stripe_event("stripe/charge.refunded.partial.json");
    let refund = refund(&event);
    assert_eq!(refund.transaction_id, "in_1PzXy9LkdIwHu7ixCycle0001");
    assert_eq!(refund.amount_cents, Some(1000));
}

#[test]
fn a_second_partial_refund_is_the_amount_it_adds() {
    // The charge's `amount_refunded` adds up its refunds; `previous_attributes` holds the sum
    // before this one. Affitor is told of this refund alone, never the total again.
    let body = fixture("stripe/charge.refunded.partial.json")
        .replace(r#""amount_refunded": 1000"#, r#""amount_refunded": 1500"#)
        .replace(r#""amount_refunded": 0"#, r#""amount_refunded": 1000"#);
    let signed = SignedWebhook::stripe(STRIPE_SECRET, body);
    let event = stripe().verify(signed.headers(), signed.body()).unwrap();
    assert_eq!(refund(&event).amount_cents, Some(500));
}

#[test]
fn a_refund_event_that_refunds_nothing_more_is_ignored() {
    let body = fixture("stripe/charge.refunded.partial.json")
        .replace(r#""amount_refunded": 0"#, r#""amount_refunded": 1000"#);
    let signed = SignedWebhook::stripe(STRIPE_SECRET, body);
    let event = stripe().verify(signed.headers(), signed.body()).unwrap();
    assert_eq!(event.action, Action::Ignore(Ignored::NoAmount));
}

#[test]
fn a_polar_order_is_a_sale_keyed_by_its_id() {
    let event = polar_event("polar/order.paid.json");
    assert!(
        event.id.starts_with("msg_"),
        "the delivery's webhook-id: {}",
        event.id
    );
    let sale = sale(&event);
    assert_eq!(sale.transaction_id, "b6a1f0c2-4e5d-4c3b-9a8f-7e6d5c4b3a21");
    assert_eq!(sale.amount_cents, 1900);
    assert_eq!(sale.currency, Currency::Usd);
    assert_eq!(sale.customer_key.as_deref(), Some("user_45"));
    assert_eq!(sale.click_id, click_id("cust_fixture_1743465000003"));
    assert_eq!(sale.sale_type, SaleType::Subscription);
    assert!(sale.is_recurring);
    assert_eq!(
        sale.subscription_id.as_deref(),
        Some("3c4d5e6f-7a8b-4c9d-0e1f-2a3b4c5d6e7f")
    );
}

#[test]
fn a_polar_purchase_through_a_checkout_link() {
    let mut order: Value = serde_json::from_str(&fixture("polar/order.paid.json")).unwrap();
    let data = &mut order["data"];
    data["billing_reason"] = json!("purchase");
    data["subscription_id"] = Value::Null;
    data["metadata"] = json!({ "reference_id": "cust_fixture_1743465000004" });
    data["customer"]["external_id"] = Value::Null;
    let signed = SignedWebhook::polar(POLAR_SECRET, order.to_string());
    let event = polar().verify(signed.headers(), signed.body()).unwrap();
    let sale = sale(&event);
    assert_eq!(sale.sale_type, SaleType::Payment);
    assert!(!sale.is_recurring);
    assert_eq!(sale.customer_key, None);
    assert_eq!(sale.click_id, click_id("cust_fixture_1743465000004"));
}

#[test]
fn a_polar_refund_names_the_order() {
    let event = polar_event("polar/order.refunded.json");
    let refund = refund(&event);
    assert_eq!(
        refund.transaction_id,
        "b6a1f0c2-4e5d-4c3b-9a8f-7e6d5c4b3a21"
    );
    assert_eq!(refund.amount_cents, Some(500));
}

/// The sale was the order's total, tax included: a refund counts the tax refunded with it.
#[test]
fn a_polar_refund_counts_its_tax_as_the_sale_did() {
    let mut order: Value = serde_json::from_str(&fixture("polar/order.refunded.json")).unwrap();
    let data = &mut order["data"];
    data["tax_amount"] = json!(380);
    data["total_amount"] = json!(2280);
    data["refunded_amount"] = json!(500);
    data["refunded_tax_amount"] = json!(100);
    let signed = SignedWebhook::polar(POLAR_SECRET, order.to_string());
    let event = polar().verify(signed.headers(), signed.body()).unwrap();
    assert_eq!(refund(&event).amount_cents, Some(600));
}

#[test]
fn events_that_ask_nothing() {
    let cases = [
        (
            json!({"type": "customer.subscription.updated", "data": {"object": {}}}),
            Ignored::EventType,
        ),
        (
            json!({"type": "checkout.session.completed", "data": {"object": {
                "mode": "payment", "payment_status": "paid", "payment_intent": "pi_1",
                "amount_total": 0, "metadata": {"affitor_customer_key": "user_1"}}}}),
            Ignored::NoAmount,
        ),
        (
            json!({"type": "checkout.session.completed", "data": {"object": {
                "mode": "payment", "payment_status": "no_payment_required", "amount_total": 0}}}),
            Ignored::NoAmount,
        ),
        (
            json!({"type": "checkout.session.completed", "data": {"object": {
                "mode": "payment", "payment_status": "paid", "payment_intent": "pi_1",
                "amount_total": 100, "metadata": {}}}}),
            Ignored::NoCustomer,
        ),
        (
            json!({"type": "checkout.session.completed", "data": {"object": {
                "mode": "payment", "payment_status": "paid", "amount_total": 100,
                "client_reference_id": "user_1"}}}),
            Ignored::MissingField("payment_intent"),
        ),
    ];
    for (body, expected) in cases {
        let signed = SignedWebhook::stripe(STRIPE_SECRET, body.to_string());
        let event = stripe().verify(signed.headers(), signed.body()).unwrap();
        assert_eq!(event.action, Action::Ignore(expected), "{body}");
    }
}

#[test]
fn parsing_is_lenient_about_what_it_does_not_need() {
    // Fields of new API versions, expanded ids, odd types and a bad click id.
    let body = json!({
        "id": "evt_future", "type": "checkout.session.completed", "api_version": "2030-01-01.future",
        "data": { "object": {
            "mode": "payment", "payment_status": "paid",
            "payment_intent": { "id": "pi_expanded", "object": "payment_intent" },
            "amount_total": 1500, "currency": "gbp", "client_reference_id": 42,
            "metadata": { "affitor_customer_key": 1234, "affitor_click_id": "bad id!" },
            "brand_new_field": { "nested": [1, 2, 3] },
        }},
    });
    let signed = SignedWebhook::stripe(STRIPE_SECRET, body.to_string());
    let event = stripe().verify(signed.headers(), signed.body()).unwrap();
    let sale = sale(&event);
    assert_eq!(sale.transaction_id, "pi_expanded");
    assert_eq!(sale.currency, Currency::Other("GBP".into()));
    assert_eq!(sale.customer_key.as_deref(), Some("1234"));
    assert_eq!(sale.click_id, None);
}
