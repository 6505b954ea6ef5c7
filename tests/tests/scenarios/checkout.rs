//! The checkout apps: a referred user's checkout, and its payment tracked through the demo
//! webhook as a sale, once, or kept by the provider while it cannot be.

use affitor::client::Endpoint;
use affitor_mock::Fault;
use affitor_scenarios::{Running, wait_until};
use reqwest::StatusCode;
use serde_json::{Value, json};

/// Signs up through a partner's click, and waits for the lead to be recorded.
pub(super) async fn referred_user(app: &Running) -> (String, String) {
    let click_id = app.mock.click("partner");
    let cookie = format!("affitor_click_id={click_id}");
    let user_id = app
        .signup("ada@example.com", &json!({}), &[("cookie", &cookie)])
        .await;
    wait_until(app.app.name, "the recorded lead", || {
        (app.mock.leads().len() == 1).then_some(())
    })
    .await;
    (user_id, click_id.into_string())
}

fn payment(kind: &str, user_id: &str, invoice_id: &str) -> Value {
    json!({
        "type": kind,
        "data": { "userId": user_id, "amountCents": 4999, "invoiceId": invoice_id, "currency": "usd" },
    })
}

/// Posts `event` to the payment webhook, as the payment provider does, and checks the
/// status it answers.
async fn deliver(app: &Running, event: &Value, expected: StatusCode) {
    let answer = app.post_json("/webhooks/payment", event, &[]).await;
    assert_eq!(answer.status, expected, "{}: {}", app.app.name, answer.text);
}

pub(super) async fn checkout_carries_the_affitor_metadata(app: &Running) {
    let (user_id, click_id) = referred_user(app).await;
    let body = json!({ "userId": user_id, "priceId": "price_team_annual" });
    let answer = app.post_json("/api/checkout", &body, &[]).await;
    assert_eq!(
        answer.status,
        StatusCode::OK,
        "{}: {}",
        app.app.name,
        answer.text
    );
    let expected = json!({
        "affitor_click_id": click_id,
        "affitor_customer_key": user_id,
        "program_id": app.mock.program_id().to_string(),
    });
    assert_eq!(answer.json["metadata"], expected, "{}", app.app.name);
    assert_eq!(
        answer.json["subscription_data"]["metadata"], expected,
        "{}",
        app.app.name
    );
    assert_eq!(
        answer.json["line_items"][0]["price"], "price_team_annual",
        "{}",
        app.app.name
    );
    assert_eq!(answer.json["client_reference_id"], json!(user_id));

    // The other providers' checkouts carry the same keys where each reads them back.
    let keys = json!({
        "affitor_click_id": click_id,
        "affitor_customer_key": user_id,
        "program_id": app.mock.program_id().to_string(),
    });
    for (provider, pointer) in [
        ("polar", "/metadata"),
        ("paddle", "/custom_data"),
        ("lemonsqueezy", "/checkout_data/custom"),
    ] {
        let body = json!({ "userId": user_id, "provider": provider });
        let answer = app.post_json("/api/checkout", &body, &[]).await;
        assert_eq!(
            answer.status,
            StatusCode::OK,
            "{}: {provider}",
            app.app.name
        );
        assert_eq!(
            answer.json.pointer(pointer),
            Some(&keys),
            "{}: {provider}",
            app.app.name
        );
    }
    let body = json!({ "userId": user_id, "provider": "paypal" });
    let answer = app.post_json("/api/checkout", &body, &[]).await;
    assert_eq!(answer.status, StatusCode::BAD_REQUEST, "{}", app.app.name);
}

/// A checkout answers the user's email and click id: no one gets another user's by trying
/// the ids next to their own.
pub(super) async fn a_user_id_cannot_be_guessed(app: &Running) {
    let first = app.signup("ada@example.com", &json!({}), &[]).await;
    let second = app.signup("grace@example.com", &json!({}), &[]).await;
    for id in [&first, &second] {
        let random = id.strip_prefix("user_").unwrap_or_default();
        assert!(
            random.len() == 24 && random.bytes().all(|b| b.is_ascii_hexdigit()),
            "{}: {id}",
            app.app.name
        );
    }
    assert_ne!(first, second, "{}", app.app.name);
    for guess in ["user_1", "user_2", "user_0", "1"] {
        let answer = app
            .post_json("/api/checkout", &json!({ "userId": guess }), &[])
            .await;
        assert_eq!(
            answer.status,
            StatusCode::NOT_FOUND,
            "{}: {guess}",
            app.app.name
        );
        assert!(!answer.text.contains("example.com"), "{}", app.app.name);
    }
}

pub(super) async fn an_unknown_user_cannot_check_out(app: &Running) {
    let answer = app
        .post_json("/api/checkout", &json!({ "userId": "nobody" }), &[])
        .await;
    assert_eq!(answer.status, StatusCode::NOT_FOUND, "{}", app.app.name);
    assert!(
        answer.json["error"].is_string(),
        "{}: {}",
        app.app.name,
        answer.text
    );
}

pub(super) async fn a_payment_is_tracked_as_an_attributed_sale(app: &Running) {
    let (user_id, _) = referred_user(app).await;
    let event = payment("payment.succeeded", &user_id, "in_1");
    deliver(app, &event, StatusCode::OK).await;
    let sales = app.mock.sales();
    assert_eq!(sales.len(), 1, "{}", app.app.name);
    assert_eq!(sales[0].transaction_id, "in_1", "{}", app.app.name);
    assert_eq!(sales[0].amount_cents, 4999, "{}", app.app.name);
    assert_eq!(sales[0].currency, "USD", "{}", app.app.name);
    assert!(
        sales[0].commission_id.is_some(),
        "{}: {:?}",
        app.app.name,
        sales[0]
    );
}

pub(super) async fn a_redelivered_payment_is_recorded_once(app: &Running) {
    let (user_id, _) = referred_user(app).await;
    let event = payment("payment.succeeded", &user_id, "in_2");
    for _ in 0..3 {
        deliver(app, &event, StatusCode::OK).await;
    }
    assert_eq!(
        app.mock.requests_to(Endpoint::Sale).len(),
        3,
        "{}",
        app.app.name
    );
    assert_eq!(app.mock.sales().len(), 1, "{}", app.app.name);
}

pub(super) async fn a_refund_reverses_the_commission(app: &Running) {
    let (user_id, _) = referred_user(app).await;
    let sale = payment("payment.succeeded", &user_id, "in_3");
    deliver(app, &sale, StatusCode::OK).await;
    let refund = payment("payment.refunded", &user_id, "in_3");
    for _ in 0..2 {
        deliver(app, &refund, StatusCode::OK).await;
    }
    let refunds = app.mock.refunds();
    assert_eq!(refunds.len(), 2, "{}: {refunds:?}", app.app.name);
    assert_eq!(refunds[0].transaction_id, "in_3", "{}", app.app.name);
    assert!(app.mock.sales()[0].refunded, "{}", app.app.name);
}

pub(super) async fn the_webhook_answers_503_while_the_api_is_down_then_200(app: &Running) {
    webhook_redelivered_after(app, Fault::status(500), "in_4").await;
}

pub(super) async fn the_webhook_answers_503_while_the_key_is_refused_then_200(app: &Running) {
    // A regenerated key invalidates the old one at once: until the new one is deployed,
    // the payment must stay with the provider, not be acknowledged and lost.
    let refused = Fault::response(401, json!({ "error": "Invalid API token" }));
    webhook_redelivered_after(app, refused, "in_6").await;
}

/// While `fault` answers every call the webhook asks for redelivery (503); once it is
/// cleared, the redelivered payment is recorded, once.
async fn webhook_redelivered_after(app: &Running, fault: Fault, invoice_id: &str) {
    let (user_id, _) = referred_user(app).await;
    let event = payment("payment.succeeded", &user_id, invoice_id);
    app.mock.inject(fault.always());
    deliver(app, &event, StatusCode::SERVICE_UNAVAILABLE).await;
    assert!(app.mock.sales().is_empty(), "{}", app.app.name);

    app.mock.clear_faults();
    for _ in 0..2 {
        deliver(app, &event, StatusCode::OK).await;
    }
    assert_eq!(app.mock.sales().len(), 1, "{}", app.app.name);
}

pub(super) async fn a_payment_that_cannot_be_tracked_is_kept_by_the_provider(app: &Running) {
    // A payment of 0 has nothing to track: acknowledged, nothing sent.
    let mut event = payment("payment.succeeded", "user_1", "in_5");
    event["data"]["amountCents"] = json!(0);
    deliver(app, &event, StatusCode::OK).await;
    // An amount in no currency it can name is not sent (the API would take it for USD),
    // and not acknowledged either: the provider keeps it until the app is mended.
    event["data"]["amountCents"] = json!(100);
    event["data"]["currency"] = json!("dollars");
    deliver(app, &event, StatusCode::INTERNAL_SERVER_ERROR).await;
    assert!(
        app.mock.requests_to(Endpoint::Sale).is_empty(),
        "{}",
        app.app.name
    );

    // A malformed event is the provider's bug: a 4xx says so.
    let answer = app
        .post_json("/webhooks/payment", &json!({ "type": "nope" }), &[])
        .await;
    assert!(
        answer.status.is_client_error(),
        "{}: {}",
        app.app.name,
        answer.status
    );
}
