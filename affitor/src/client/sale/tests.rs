use serde_json::json;

use super::*;
use crate::client::ErrorKind;
use crate::client::request::tests::{body, client, test_client};
use crate::client::request::{MAX_AMOUNT_CENTS, MAX_KEY_LEN};

const KEY: &str = "aff_test_key";

fn answer(status: u16, body: &str) -> Answer {
    Answer {
        status: StatusCode::from_u16(status).unwrap(),
        body: Bytes::from(body.to_owned()),
        after_uncertain_attempt: false,
    }
}

fn kind(result: Result<(Client, SalePayload), Error>) -> ErrorKind {
    result.unwrap_err().kind()
}

#[test]
fn bodies_omit_unset_and_empty_fields() {
    let (_, sale) = client()
        .sale("in_1", 999)
        .click_id("c1".parse::<ClickId>().unwrap())
        .into_payload()
        .unwrap();
    assert_eq!(
        body(&sale),
        json!({"transaction_id": "in_1", "amount_cents": 999, "click_id": "c1"})
    );
    let (_, sale) = client()
        .sale("in_1", 1)
        .customer_key("u")
        .line_items(Value::Null)
        .product_id("")
        .into_payload()
        .unwrap();
    assert_eq!(
        body(&sale),
        json!({"transaction_id": "in_1", "amount_cents": 1, "customer_key": "u"})
    );
}

#[test]
fn full_body() {
    let mut extra = Map::new();
    extra.insert("plan".into(), json!("pro"));
    let (_, sale) = client()
        .sale("in_1", 2490)
        .customer_key("user_1")
        .click_id("c1".parse::<ClickId>().unwrap())
        .currency(Currency::Other("eur".into()))
        .sale_type(SaleType::Subscription)
        .is_recurring(true)
        .subscription_id("sub_1")
        .subscription_interval(SubscriptionInterval::Quarterly)
        .product_id("prod_1")
        .line_items(json!([{"sku": "a", "qty": 1}]))
        .additional_data(extra)
        .into_payload()
        .unwrap();
    assert_eq!(
        body(&sale),
        json!({
            "transaction_id": "in_1", "amount_cents": 2490, "customer_key": "user_1",
            "click_id": "c1", "currency": "EUR", "sale_type": "subscription",
            "is_recurring": true, "subscription_id": "sub_1",
            "subscription_interval": "quarterly", "product_id": "prod_1",
            "line_items": [{"sku": "a", "qty": 1}], "additional_data": {"plan": "pro"}
        })
    );
}

#[test]
fn currency_is_sent_upper_case() {
    for (currency, code) in [
        (Currency::Usd, "USD"),
        (Currency::Eur, "EUR"),
        (Currency::Vnd, "VND"),
        (Currency::from_code("eur").unwrap(), "EUR"),
        (Currency::Other("vnd".into()), "VND"),
    ] {
        let (_, sale) = client()
            .sale("in_1", 1)
            .customer_key("u")
            .currency(currency)
            .into_payload()
            .unwrap();
        assert_eq!(body(&sale)["currency"], json!(code));
    }
    assert_eq!(Currency::from_code(" usd ").unwrap(), Currency::Usd);
    assert_eq!(Currency::Other("chf".into()).to_string(), "CHF");
}

#[test]
fn a_currency_the_api_does_not_take_is_refused_before_it_is_sent() {
    for currency in [
        Currency::from_code("gbp").unwrap(),
        Currency::Other("chf".into()),
    ] {
        let error = client()
            .sale("in_1", 4900)
            .customer_key("u")
            .currency(currency.clone())
            .into_payload()
            .unwrap_err();
        assert_eq!(error.kind(), ErrorKind::UnsupportedCurrency, "{currency}");
        let message = error.to_string();
        assert!(
            message.contains(&format!("an amount in {currency}")),
            "{message}"
        );
        assert!(message.contains("currency_converter"), "{message}");
    }
}

#[test]
fn test_mode_is_added_to_additional_data() {
    let mut extra = Map::new();
    extra.insert("plan".into(), json!("pro"));
    let (_, sale) = test_client()
        .sale("in_1", 1)
        .customer_key("u")
        .additional_data(extra)
        .into_payload()
        .unwrap();
    assert_eq!(
        body(&sale)["additional_data"],
        json!({"plan": "pro", "test_mode": true})
    );
}

#[test]
fn validation_errors() {
    assert_eq!(
        kind(client().sale("", 1).customer_key("u").into_payload()),
        ErrorKind::MissingTransactionId
    );
    assert_eq!(
        kind(client().sale("  ", 1).customer_key("u").into_payload()),
        ErrorKind::MissingTransactionId
    );
    assert_eq!(
        kind(client().sale("in_1", 0).customer_key("u").into_payload()),
        ErrorKind::InvalidAmount
    );
    assert_eq!(
        kind(
            client()
                .sale("in_1", MAX_AMOUNT_CENTS + 1)
                .customer_key("u")
                .into_payload()
        ),
        ErrorKind::InvalidAmount
    );
    assert!(
        client()
            .sale("in_1", MAX_AMOUNT_CENTS)
            .customer_key("u")
            .into_payload()
            .is_ok()
    );
    assert_eq!(
        kind(client().sale("in_1", 1).into_payload()),
        ErrorKind::MissingCustomer
    );
    assert_eq!(
        kind(client().sale("in_1", 1).customer_key(" ").into_payload()),
        ErrorKind::MissingCustomer
    );
    // A key a store cannot index: refused before it reaches one.
    let long = "k".repeat(MAX_KEY_LEN + 1);
    for (transaction_id, customer_key) in [("in\0_1", "u"), ("in_1", "u\0"), ("in_1", &long)] {
        let sale = client().sale(transaction_id, 1).customer_key(customer_key);
        let Err(error) = sale.into_payload() else {
            panic!("refused")
        };
        assert_eq!(error.kind(), ErrorKind::InvalidKey);
        let message = error.to_string();
        assert!(!message.contains('\0'), "{message}");
        assert!(message.starts_with("the sale's "), "{message}");
    }
    let longest = "k".repeat(MAX_KEY_LEN);
    assert!(
        client()
            .sale(&longest, 1)
            .customer_key(&longest)
            .into_payload()
            .is_ok()
    );
    for bad in ["", "US", "USDX", "U$D", "ÜSD"] {
        assert_eq!(
            kind(
                client()
                    .sale("in_1", 1)
                    .customer_key("u")
                    .currency(Currency::Other(bad.into()))
                    .into_payload()
            ),
            ErrorKind::InvalidCurrency,
            "{bad}"
        );
        assert_eq!(
            Currency::from_code(bad).unwrap_err().kind(),
            ErrorKind::InvalidCurrency
        );
    }
}

#[test]
fn validation_messages_say_what_to_do() {
    let error = client()
        .sale("in_1", 0)
        .customer_key("u")
        .into_payload()
        .unwrap_err();
    assert_eq!(
        error.to_string(),
        "invalid amount for a sale: it is 0; it must be a positive whole number of cents \
         (skip zero-amount payments)"
    );
    let error = Currency::from_code("dollars!!!!").unwrap_err();
    assert!(
        error.to_string().starts_with("currency `dollars!…` is not"),
        "{error}"
    );
}

#[test]
fn outcomes() {
    assert_eq!(
        decode(
            &answer(
                200,
                r#"{"success":true,"sale_id":123,"commission_id":456,"message":"Sale tracked successfully"}"#
            ),
            KEY
        )
        .unwrap(),
        SaleOutcome::Recorded {
            sale_id: Some(123),
            commission_id: Some(456)
        }
    );
    assert_eq!(
        decode(
            &answer(
                200,
                r#"{"success":true,"attributed":false,"reason":"attribution_window_expired","click_age_days":75,"window_days":60,"sale_id":null,"commission_id":null}"#
            ),
            KEY
        )
        .unwrap(),
        SaleOutcome::NotAttributed {
            reason: "attribution_window_expired".into(),
            click_age_days: Some(75),
            window_days: Some(60)
        }
    );
    assert_eq!(
        decode(
            &answer(
                200,
                r#"{"success":true,"message":"Test sale event tracked successfully","data":{"eventId":77,"programId":42,"test_mode":true}}"#
            ),
            KEY
        )
        .unwrap(),
        SaleOutcome::Test { event_id: Some(77) }
    );
    let duplicate = r#"{"error":"Duplicate transaction_id. This sale has already been recorded."}"#;
    assert_eq!(
        decode(&answer(409, duplicate), KEY).unwrap(),
        SaleOutcome::AlreadyRecorded
    );
    let mut lost = answer(409, duplicate);
    lost.after_uncertain_attempt = true;
    assert_eq!(
        decode(&lost, KEY).unwrap(),
        SaleOutcome::Recorded {
            sale_id: None,
            commission_id: None
        }
    );
}

#[test]
fn decoding_is_lenient() {
    // Extra fields, string ids.
    assert_eq!(
        decode(
            &answer(
                200,
                r#"{"success":true,"sale_id":"9","commission_id":10,"new":[1]}"#
            ),
            KEY
        )
        .unwrap(),
        SaleOutcome::Recorded {
            sale_id: Some(9),
            commission_id: Some(10)
        }
    );
    assert_eq!(
        decode(&answer(201, "{}"), KEY).unwrap(),
        SaleOutcome::Recorded {
            sale_id: None,
            commission_id: None
        }
    );
    // A 409 is read from its status, whatever its body.
    assert_eq!(
        decode(&answer(409, ""), KEY).unwrap(),
        SaleOutcome::AlreadyRecorded
    );
    assert_eq!(
        decode(&answer(200, r#"{"attributed":false}"#), KEY).unwrap(),
        SaleOutcome::NotAttributed {
            reason: "not_attributed".into(),
            click_age_days: None,
            window_days: None
        }
    );
    let refused = decode(&answer(200, r#"{"success":false,"error":"nope"}"#), KEY).unwrap_err();
    assert_eq!(refused.kind(), ErrorKind::Rejected);
    assert_eq!(refused.message(), Some("nope"));
}
