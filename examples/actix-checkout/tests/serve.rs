//! The app on a real port, against the stand-in API: signup, checkout, sale, refund.

#![allow(clippy::unwrap_used)]

use affitor::client::Endpoint;
use affitor_mock::{Fault, MockServer, RefundStatus};
use example_support::{AppConfig, PaymentWebhooks};
use serde_json::{Value, json};

#[tokio::test]
async fn signup_checkout_sale_and_refund() {
    let mock = MockServer::start().await.unwrap();
    let click_id = mock.click("partner");
    let config = AppConfig::new(mock.client(), mock.program_id().to_string(), None);
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let server = actix_checkout::serve(listener, config, PaymentWebhooks::demo()).unwrap();
    let handle = server.handle();
    tokio::spawn(server);
    let http = reqwest::Client::new();
    let post = |path: &str, body: Value| http.post(format!("{url}{path}")).json(&body).send();

    let response = http
        .post(format!("{url}/api/signup"))
        .header("x-affitor-click-id", click_id.as_str())
        .json(&json!({ "email": "ada@example.com", "password": "correct horse" }))
        .send()
        .await
        .unwrap();
    let user: Value = response.json().await.unwrap();
    let user_id = user["userId"].as_str().unwrap().to_owned();

    // The checkout carries the click id the user signed up with.
    let response = post("/api/checkout", json!({ "userId": user_id }))
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let session: Value = response.json().await.unwrap();
    let metadata = json!({
        "affitor_click_id": click_id.as_str(),
        "affitor_customer_key": user_id,
        "program_id": mock.program_id().to_string(),
    });
    assert_eq!(session["metadata"], metadata);
    assert_eq!(session["subscription_data"]["metadata"], metadata);

    let response = post("/api/checkout", json!({ "userId": "nobody" }))
        .await
        .unwrap();
    assert_eq!(response.status(), 404);
    let error: Value = response.json().await.unwrap();
    assert!(error["error"].is_string());

    // The sale, tracked inline by the customer key.
    let paid = json!({
        "type": "payment.succeeded",
        "data": { "userId": user_id, "amountCents": 4999, "invoiceId": "in_1", "currency": "EUR" },
    });
    let response = post("/webhooks/payment", paid.clone()).await.unwrap();
    assert_eq!(response.status(), 200);
    let sales = mock.sales();
    assert_eq!(sales.len(), 1);
    assert_eq!(sales[0].customer_key.as_deref(), Some(user_id.as_str()));
    assert_eq!(sales[0].currency, "EUR");
    assert_eq!(sales[0].amount_cents, 4999);

    // Redelivered: already recorded, still 200.
    let response = post("/webhooks/payment", paid).await.unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(mock.sales().len(), 1);

    // The API is down: 503, so the provider redelivers.
    mock.inject(Fault::status(503).on(Endpoint::Sale).always());
    let paid = json!({
        "type": "payment.succeeded",
        "data": { "userId": user_id, "amountCents": 1000, "invoiceId": "in_2" },
    });
    let response = post("/webhooks/payment", paid).await.unwrap();
    assert_eq!(response.status(), 503);
    mock.clear_faults();

    let refunded = json!({
        "type": "payment.refunded",
        "data": { "userId": user_id, "amountCents": 4999, "invoiceId": "in_1" },
    });
    let response = post("/webhooks/payment", refunded).await.unwrap();
    assert_eq!(response.status(), 200);
    let refunds = mock.refunds();
    assert_eq!(refunds.len(), 1);
    assert_eq!(refunds[0].status, RefundStatus::Reversed);

    handle.stop(true).await;
}
