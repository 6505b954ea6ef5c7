//! Sale

use crate::support::*;

#[tokio::test]
async fn sale_requires_the_program_key() {
    let mock = MockServer::start().await.unwrap();
    let click_id = mock.click("partner");
    let body =
        json!({ "transaction_id": "in_1", "amount_cents": 100, "click_id": click_id.as_str() });
    post_anonymous(&mock, Endpoint::Sale, body.clone())
        .await
        .assert_error(401, "Invalid API token");
    post_with_auth(&mock, Endpoint::Sale, "Bearer aff_wrong", body.clone())
        .await
        .assert_error(401, "Invalid API token");
    // Even in test mode.
    post_anonymous(
        &mock,
        Endpoint::Sale,
        json!({ "additional_data": { "test_mode": true } }),
    )
    .await
    .assert_error(401, "Invalid API token");
    assert!(mock.sales().is_empty());
}

#[tokio::test]
async fn sale_validation_order_and_strings() {
    let mock = MockServer::start().await.unwrap();
    let click_id = mock.click("partner");
    let click_id = click_id.as_str();
    let transaction = "transaction_id is required and must be a string";
    let amount = "amount_cents is required and must be a positive integer";
    let cases = [
        (
            json!({ "amount_cents": 100, "click_id": click_id }),
            transaction,
        ),
        (
            json!({ "transaction_id": "", "amount_cents": 100, "click_id": click_id }),
            transaction,
        ),
        (
            json!({ "transaction_id": 123, "amount_cents": 100, "click_id": click_id }),
            transaction,
        ),
        // transaction_id is checked before amount_cents.
        (json!({ "amount_cents": 0 }), transaction),
        (
            json!({ "transaction_id": "in_1", "click_id": click_id }),
            amount,
        ),
        (
            json!({ "transaction_id": "in_1", "amount_cents": 0, "click_id": click_id }),
            amount,
        ),
        (
            json!({ "transaction_id": "in_1", "amount_cents": -1, "click_id": click_id }),
            amount,
        ),
        (
            json!({ "transaction_id": "in_1", "amount_cents": 9.9, "click_id": click_id }),
            amount,
        ),
        (
            json!({ "transaction_id": "in_1", "amount_cents": "10", "click_id": click_id }),
            amount,
        ),
        (
            json!({ "transaction_id": "in_1", "amount_cents": null, "click_id": click_id }),
            amount,
        ),
        (
            json!({ "transaction_id": "in_1", "amount_cents": 100, "currency": "usd", "click_id": click_id }),
            "currency must be one of USD, EUR, VND",
        ),
        (
            json!({ "transaction_id": "in_1", "amount_cents": 100, "sale_type": "gift", "click_id": click_id }),
            "sale_type must be one of payment, subscription",
        ),
        (
            json!({ "transaction_id": "in_1", "amount_cents": 100, "subscription_interval": "weekly", "click_id": click_id }),
            "subscription_interval must be one of monthly, quarterly, annual",
        ),
        (
            json!({ "transaction_id": "in_1", "amount_cents": 100, "is_recurring": "yes", "click_id": click_id }),
            "is_recurring must be a boolean",
        ),
        (
            json!({ "transaction_id": "in_1", "amount_cents": 100 }),
            "Customer not found. Provide customer_key or click_id.",
        ),
        (
            json!({ "transaction_id": "in_1", "amount_cents": 100, "customer_key": "nobody" }),
            "Customer not found. Provide customer_key or click_id.",
        ),
    ];
    for (body, message) in cases {
        post(&mock, Endpoint::Sale, body)
            .await
            .assert_error(400, message);
    }
    assert!(mock.sales().is_empty());

    // A whole number written as a float is an integer, as in JavaScript.
    let reply = post(
        &mock,
        Endpoint::Sale,
        json!({ "transaction_id": "in_1", "amount_cents": 10.0, "click_id": click_id }),
    )
    .await;
    assert_eq!(reply.status, 200, "{reply:?}");
}

#[tokio::test]
async fn a_sale_for_another_programs_customer_is_not_attributed_here() {
    let mock = MockServer::start().await.unwrap();
    mock.other_program_link("THEIRS");
    let foreign = mock.click("THEIRS");
    post(
        &mock,
        Endpoint::Sale,
        json!({ "transaction_id": "in_1", "amount_cents": 100, "click_id": foreign.as_str() }),
    )
    .await
    .assert_error(
        400,
        "No affiliate attribution found for this customer in this program",
    );
}

#[tokio::test]
async fn a_recorded_sale_answers_ids_and_a_repeat_is_a_409() {
    let mock = MockServer::start().await.unwrap();
    let click_id = mock.click("partner");
    let body = json!({
        "transaction_id": "in_1",
        "amount_cents": 9999,
        "currency": "EUR",
        "sale_type": "subscription",
        "is_recurring": true,
        "subscription_interval": "monthly",
        "click_id": click_id.as_str(),
        "customer_key": null,
    });
    let reply = post(&mock, Endpoint::Sale, body.clone()).await;
    assert_eq!(reply.status, 200);
    assert_eq!(reply.body["success"], true);
    assert!(reply.body["sale_id"].is_u64() && reply.body["commission_id"].is_u64());
    assert_eq!(reply.body["message"], "Sale tracked successfully");

    let sales = mock.sales();
    assert_eq!(sales.len(), 1);
    let sale = &sales[0];
    assert_eq!(sale.transaction_id, "in_1");
    assert_eq!(sale.amount_cents, 9999);
    assert_eq!(sale.currency, "EUR");
    assert_eq!(sale.click_id.as_deref(), Some(click_id.as_str()));
    assert_eq!(sale.customer_key, None);
    assert_eq!(sale.partner_code.as_deref(), Some("partner"));
    assert_eq!(Some(sale.sale_id), reply.body["sale_id"].as_u64());
    assert_eq!(sale.commission_id, reply.body["commission_id"].as_u64());
    assert_eq!(sale.commission_cents, 2000);
    assert!(!sale.refunded && !sale.test);

    let duplicate = "Duplicate transaction_id. This sale has already been recorded.";
    post(&mock, Endpoint::Sale, body)
        .await
        .assert_error(409, duplicate);
    // Uniqueness is global: another customer, another amount, the same id.
    let other = mock.click("partner");
    post(
        &mock,
        Endpoint::Sale,
        json!({ "transaction_id": "in_1", "amount_cents": 5, "click_id": other.as_str() }),
    )
    .await
    .assert_error(409, duplicate);
    // Test sales collide too.
    post(
        &mock,
        Endpoint::Sale,
        json!({ "transaction_id": "in_1", "additional_data": { "test_mode": true } }),
    )
    .await
    .assert_error(409, duplicate);
    assert_eq!(mock.sales().len(), 1);

    // Default currency.
    let reply = post(
        &mock,
        Endpoint::Sale,
        json!({ "transaction_id": "in_2", "amount_cents": 5, "click_id": other.as_str() }),
    )
    .await;
    assert_eq!(reply.status, 200);
    assert_eq!(mock.sales()[1].currency, "USD");
}

#[tokio::test]
async fn a_sale_is_attributed_only_within_the_window_from_the_first_click() {
    let mock = MockServer::start().await.unwrap();
    let stale = mock.click_at("partner", 61);
    let reply = post(
        &mock,
        Endpoint::Sale,
        json!({ "transaction_id": "in_late", "amount_cents": 100, "click_id": stale.as_str() }),
    )
    .await;
    assert_eq!(reply.status, 200);
    assert_eq!(
        reply.body,
        json!({
            "success": true,
            "attributed": false,
            "reason": "attribution_window_expired",
            "click_age_days": 61,
            "window_days": 60,
            "sale_id": null,
            "commission_id": null,
        })
    );
    assert!(mock.sales().is_empty(), "nothing is created");

    // Nothing was stored, so the transaction id is still free.
    let edge = mock.click_at("partner", 60);
    let reply = post(
        &mock,
        Endpoint::Sale,
        json!({ "transaction_id": "in_late", "amount_cents": 100, "click_id": edge.as_str() }),
    )
    .await;
    assert_eq!(reply.status, 200);
    assert_eq!(
        reply.body["message"], "Sale tracked successfully",
        "{reply:?}"
    );

    // A later click by the same visitor keeps the first-click anchor.
    let mut body = click_body("partner");
    body["existing_click_id"] = json!(stale.as_str());
    let recent = post_anonymous(&mock, Endpoint::Click, body).await;
    let reply = post(
        &mock,
        Endpoint::Sale,
        json!({ "transaction_id": "in_3", "amount_cents": 100,
                "click_id": recent.body["click_id"].as_str().unwrap() }),
    )
    .await;
    assert_eq!(reply.body["attributed"], false, "{reply:?}");
}

#[tokio::test]
async fn the_window_follows_the_builder() {
    let mock = MockServer::builder()
        .attribution_window_days(30)
        .start()
        .await
        .unwrap();
    let click_id = mock.click_at("partner", 31);
    let reply = post(
        &mock,
        Endpoint::Sale,
        json!({ "transaction_id": "in_1", "amount_cents": 100, "click_id": click_id.as_str() }),
    )
    .await;
    assert_eq!(reply.body["window_days"], 30);
    assert_eq!(reply.body["click_age_days"], 31);
}

#[tokio::test]
async fn the_customer_key_is_tried_before_the_click_id() {
    let mock = MockServer::start().await.unwrap();
    mock.link("KEYED");
    mock.link("CLICKED");
    let keyed = mock.click("KEYED");
    post(
        &mock,
        Endpoint::Lead,
        json!({ "click_id": keyed.as_str(), "customer_key": "user_1" }),
    )
    .await;
    let clicked = mock.click("CLICKED");
    post(
        &mock,
        Endpoint::Sale,
        json!({ "transaction_id": "in_1", "amount_cents": 100,
                "customer_key": "user_1", "click_id": clicked.as_str() }),
    )
    .await;
    // An unknown key falls back to the click id.
    post(
        &mock,
        Endpoint::Sale,
        json!({ "transaction_id": "in_2", "amount_cents": 100,
                "customer_key": "unknown", "click_id": clicked.as_str() }),
    )
    .await;
    let partners: Vec<_> = mock
        .sales()
        .into_iter()
        .map(|sale| sale.partner_code.unwrap())
        .collect();
    assert_eq!(partners, ["KEYED", "CLICKED"]);
}
