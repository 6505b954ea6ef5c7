//! Test mode

use crate::support::*;

#[tokio::test]
async fn test_mode_answers_test_events_and_never_touches_attribution() {
    let mock = MockServer::start().await.unwrap();
    let test = json!({ "test_mode": true, "program_id": "42" });

    let click = post_anonymous(&mock, Endpoint::Click, json!({ "additional_data": test })).await;
    assert_eq!(
        click.body,
        json!({ "success": true, "message": "Test click event tracked successfully",
                "data": { "eventId": 1, "programId": 42, "test_mode": true } })
    );
    // No customer is needed for a test lead; without a program id, programId is null.
    let lead = post_anonymous(
        &mock,
        Endpoint::Lead,
        json!({ "click_id": "test_lead_001", "customer_key": "test_customer",
                "additional_data": { "test_mode": true } }),
    )
    .await;
    assert_eq!(lead.body["message"], "Test lead event tracked successfully");
    assert_eq!(
        lead.body["data"],
        json!({ "eventId": 2, "programId": null, "test_mode": true })
    );
    // A test sale needs the key, but neither a transaction id nor an amount nor a customer.
    let sale = post(
        &mock,
        Endpoint::Sale,
        json!({ "additional_data": { "test_mode": true }, "amount_cents": 9999 }),
    )
    .await;
    assert_eq!(sale.body["message"], "Test sale event tracked successfully");
    assert_eq!(
        sale.body["data"],
        json!({ "eventId": 3, "programId": 42, "test_mode": true })
    );

    let clicks = mock.clicks();
    assert!(clicks[0].test && clicks[0].click_id.is_none());
    let leads = mock.leads();
    assert!(leads[0].test && leads[0].partner_code.is_none());
    let sales = mock.sales();
    assert!(sales[0].test);
    assert!(sales[0].transaction_id.starts_with("test_txn_"));
    assert_eq!(sales[0].amount_cents, 9999);
    assert_eq!(sales[0].commission_id, None);
    assert_eq!(sales[0].partner_code, None);

    // A test lead does not bind the key: a real sale by that key finds no customer.
    post(
        &mock,
        Endpoint::Sale,
        json!({ "transaction_id": "in_1", "amount_cents": 100, "customer_key": "test_customer" }),
    )
    .await
    .assert_error(400, "Customer not found. Provide customer_key or click_id.");

    // Test events are not real events.
    let verdict = readiness(&mock).await;
    assert_eq!(
        verdict["counts_24h"],
        json!({ "clicks": 0, "leads": 0, "sales": 0 })
    );
    assert_eq!(
        verdict["last_event_at"],
        json!({ "click": null, "lead": null, "sale": null })
    );
    assert_eq!(verdict["gates"]["tracking"]["status"], "pass");
}

#[tokio::test]
async fn a_test_lead_with_the_key_reports_the_program_and_a_wrong_key_is_refused() {
    let mock = MockServer::builder().program_id(7).start().await.unwrap();
    let body = json!({ "customer_key": "x", "additional_data": { "test_mode": true } });
    let reply = post(&mock, Endpoint::Lead, body.clone()).await;
    assert_eq!(reply.body["data"]["programId"], 7);
    post_with_auth(&mock, Endpoint::Lead, "Bearer aff_wrong", body)
        .await
        .assert_error(401, "Invalid API token");
}
