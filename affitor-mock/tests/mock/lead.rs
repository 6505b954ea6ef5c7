//! Lead

use crate::support::*;

#[tokio::test]
async fn a_server_lead_binds_the_customer_key_for_later_sales() {
    let mock = MockServer::start().await.unwrap();
    let click_id = mock.click("partner");
    let reply = post(
        &mock,
        Endpoint::Lead,
        json!({ "click_id": click_id.as_str(), "customer_key": "user_1", "email": "a@example.com" }),
    )
    .await;
    assert_eq!(reply.status, 200);
    assert_eq!(
        reply.body,
        json!({ "success": true, "message": "Lead tracked successfully" })
    );

    let leads = mock.leads();
    assert_eq!(leads.len(), 1);
    assert_eq!(leads[0].click_id.as_deref(), Some(click_id.as_str()));
    assert_eq!(leads[0].customer_key.as_deref(), Some("user_1"));
    assert_eq!(leads[0].email.as_deref(), Some("a@example.com"));
    assert_eq!(leads[0].partner_code.as_deref(), Some("partner"));
    assert!(leads[0].authenticated && !leads[0].provisional && !leads[0].test);

    // The sale needs only the customer key now: click -> lead -> sale attribution.
    let reply = post(
        &mock,
        Endpoint::Sale,
        json!({ "transaction_id": "in_42", "amount_cents": 2500, "customer_key": "user_1" }),
    )
    .await;
    assert_eq!(reply.status, 200, "{reply:?}");
    assert_eq!(reply.body["message"], "Sale tracked successfully");
    assert_eq!(mock.sales()[0].partner_code.as_deref(), Some("partner"));

    // A lead by customer key alone finds the same customer (now converted).
    post(&mock, Endpoint::Lead, json!({ "customer_key": "user_1" }))
        .await
        .assert_error(
            400,
            "Customer status cannot be updated to lead. Current status: conversion",
        );
}

#[tokio::test]
async fn a_repeated_lead_is_accepted_while_the_customer_is_a_lead() {
    let mock = MockServer::start().await.unwrap();
    let click_id = mock.click("partner");
    for _ in 0..2 {
        let reply = post(
            &mock,
            Endpoint::Lead,
            json!({ "click_id": click_id.as_str(), "customer_key": "user_1" }),
        )
        .await;
        assert_eq!(reply.status, 200, "{reply:?}");
    }
    assert_eq!(mock.leads().len(), 2);
}

#[tokio::test]
async fn lead_auth_rules() {
    let mock = MockServer::start().await.unwrap();
    let click_id = mock.click("partner");
    let body = json!({ "click_id": click_id.as_str(), "customer_key": "user_1" });

    for auth in [
        "Bearer aff_wrong",
        "Bearer ",
        "Basic aff_test_key",
        "bearer aff_test_key",
        "",
    ] {
        post_with_auth(&mock, Endpoint::Lead, auth, body.clone())
            .await
            .assert_error(401, "Invalid API token");
    }
    // A management key is not a program key.
    post_with_auth(
        &mock,
        Endpoint::Lead,
        "Bearer affk_management",
        body.clone(),
    )
    .await
    .assert_error(401, "Invalid API token");

    // Browser mode: no header at all.
    let reply = post_anonymous(&mock, Endpoint::Lead, body).await;
    assert_eq!(
        reply.body,
        json!({ "success": true, "message": "Lead tracked successfully" })
    );
    assert!(!mock.leads()[0].authenticated);
}

#[tokio::test]
async fn browser_leads_are_provisional_when_the_program_requires_server_leads() {
    let mock = MockServer::builder()
        .lead_auth_server_required(true)
        .start()
        .await
        .unwrap();
    let click_id = mock.click("partner");
    let body = json!({ "click_id": click_id.as_str(), "customer_key": "user_1" });

    let reply = post_anonymous(&mock, Endpoint::Lead, body.clone()).await;
    assert_eq!(
        reply.body,
        json!({
            "success": true,
            "provisional": true,
            "message": "Lead recorded as provisional. This program requires server-side (Bearer) lead tracking to settle attribution.",
        })
    );
    // The server lead settles it.
    let reply = post(&mock, Endpoint::Lead, body).await;
    assert_eq!(
        reply.body,
        json!({ "success": true, "message": "Lead tracked successfully" })
    );
    let leads = mock.leads();
    assert!(leads[0].provisional && !leads[0].authenticated);
    assert!(!leads[1].provisional && leads[1].authenticated);
}

#[tokio::test]
async fn lead_rejections_use_the_documented_strings() {
    let mock = MockServer::start().await.unwrap();
    post(&mock, Endpoint::Lead, json!({ "email": "a@example.com" }))
        .await
        .assert_error(400, "click_id or customer_key is required");
    post(
        &mock,
        Endpoint::Lead,
        json!({ "click_id": "", "customer_key": null }),
    )
    .await
    .assert_error(400, "click_id or customer_key is required");
    post(&mock, Endpoint::Lead, json!({ "click_id": "cust_999_1" }))
        .await
        .assert_error(
            400,
            "Customer not found. Provide a valid click_id or customer_key.",
        );
    post(&mock, Endpoint::Lead, json!({ "customer_key": "nobody" }))
        .await
        .assert_error(
            400,
            "Customer not found. Provide a valid click_id or customer_key.",
        );

    mock.other_program_link("THEIRS");
    let foreign = mock.click("THEIRS");
    post(
        &mock,
        Endpoint::Lead,
        json!({ "click_id": foreign.as_str() }),
    )
    .await
    .assert_error(400, "Customer does not belong to this program");
    assert!(mock.leads().is_empty());
}
