//! The stand-in Affitor API, driven over real HTTP on loopback with a tiny raw HTTP/1.1 client,
//! so these tests do not depend on the crate's own client.
#![cfg(feature = "mock")]
#![allow(clippy::unwrap_used)] // tests may unwrap, helpers included

use std::io;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use affitor_tower::mock::{Endpoint, Fault, MockServer, RefundStatus};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

// ---------------------------------------------------------------------------------------------
// A minimal HTTP/1.1 client.

#[derive(Debug)]
struct Reply {
    status: u16,
    headers: Vec<(String, String)>,
    body: Value,
}

impl Reply {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(key, _)| key.eq_ignore_ascii_case(name))
            .map(|(_, value)| value.as_str())
    }

    #[track_caller]
    fn assert_error(&self, status: u16, message: &str) {
        assert_eq!(self.status, status, "{self:?}");
        assert_eq!(self.body, json!({ "error": message }), "{self:?}");
    }
}

/// The raw bytes of one request.
fn request_bytes(method: &str, path: &str, authorization: Option<&str>, body: &[u8]) -> Vec<u8> {
    let mut head = format!(
        "{method} {path} HTTP/1.1\r\nHost: affitor.test\r\nUser-Agent: mock-tests/1\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\n",
        body.len()
    );
    if let Some(authorization) = authorization {
        head.push_str(&format!("Authorization: {authorization}\r\n"));
    }
    head.push_str("\r\n");
    let mut bytes = head.into_bytes();
    bytes.extend_from_slice(body);
    bytes
}

/// Reads one response; an `UnexpectedEof` error when the server closed without answering.
async fn read_reply(stream: &mut TcpStream) -> io::Result<Reply> {
    let mut buffer = Vec::new();
    let mut chunk = [0_u8; 4096];
    let head_end = loop {
        if let Some(end) = buffer.windows(4).position(|window| window == b"\r\n\r\n") {
            break end;
        }
        let read = stream.read(&mut chunk).await?;
        if read == 0 {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "the server closed the connection without answering",
            ));
        }
        buffer.extend_from_slice(&chunk[..read]);
    };
    let head = String::from_utf8_lossy(&buffer[..head_end]).into_owned();
    let mut lines = head.split("\r\n");
    let status_line = lines.next().unwrap_or_default();
    let status = status_line
        .split(' ')
        .nth(1)
        .and_then(|code| code.parse().ok())
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidData, status_line.to_owned()))?;
    let headers: Vec<(String, String)> = lines
        .filter_map(|line| line.split_once(':'))
        .map(|(name, value)| (name.trim().to_lowercase(), value.trim().to_owned()))
        .collect();
    let length: usize = headers
        .iter()
        .find(|(name, _)| name == "content-length")
        .and_then(|(_, value)| value.parse().ok())
        .unwrap_or(0);
    let mut body = buffer[head_end + 4..].to_vec();
    while body.len() < length {
        let read = stream.read(&mut chunk).await?;
        if read == 0 {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
        body.extend_from_slice(&chunk[..read]);
    }
    let body = if body.is_empty() {
        Value::Null
    } else {
        serde_json::from_slice(&body).map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?
    };
    Ok(Reply {
        status,
        headers,
        body,
    })
}

/// One request on a fresh connection.
async fn send(
    addr: SocketAddr,
    method: &str,
    path: &str,
    authorization: Option<&str>,
    body: &[u8],
) -> io::Result<Reply> {
    let mut stream = TcpStream::connect(addr).await?;
    stream
        .write_all(&request_bytes(method, path, authorization, body))
        .await?;
    read_reply(&mut stream).await
}

fn bearer(mock: &MockServer) -> String {
    format!("Bearer {}", mock.api_key())
}

/// POST with the program key.
async fn post(mock: &MockServer, endpoint: Endpoint, body: Value) -> Reply {
    let auth = bearer(mock);
    send(
        mock.addr(),
        "POST",
        endpoint.path(),
        Some(&auth),
        body.to_string().as_bytes(),
    )
    .await
    .unwrap()
}

/// POST without an `Authorization` header (as the browser does).
async fn post_anonymous(mock: &MockServer, endpoint: Endpoint, body: Value) -> Reply {
    send(
        mock.addr(),
        "POST",
        endpoint.path(),
        None,
        body.to_string().as_bytes(),
    )
    .await
    .unwrap()
}

/// POST with exactly this `Authorization` header value.
async fn post_with_auth(mock: &MockServer, endpoint: Endpoint, auth: &str, body: Value) -> Reply {
    send(
        mock.addr(),
        "POST",
        endpoint.path(),
        Some(auth),
        body.to_string().as_bytes(),
    )
    .await
    .unwrap()
}

/// GET with the program key.
async fn get(mock: &MockServer, path: &str) -> Reply {
    let auth = bearer(mock);
    send(mock.addr(), "GET", path, Some(&auth), b"")
        .await
        .unwrap()
}

async fn readiness(mock: &MockServer) -> Value {
    let reply = get(mock, Endpoint::Readiness.path()).await;
    assert_eq!(reply.status, 200, "{reply:?}");
    reply.body
}

fn click_body(code: &str) -> Value {
    json!({
        "affiliate_url": format!("https://shop.example/pricing?utm=x&aff={code}"),
        "page_url": "https://shop.example/pricing",
    })
}

fn is_cust_click_id(click_id: &str) -> bool {
    let parts: Vec<&str> = click_id.split('_').collect();
    parts.len() == 3
        && parts[0] == "cust"
        && parts[1..]
            .iter()
            .all(|part| !part.is_empty() && part.bytes().all(|b| b.is_ascii_digit()))
}

// ---------------------------------------------------------------------------------------------
// Click

#[tokio::test]
async fn a_click_is_recorded_without_auth_and_answers_a_click_id() {
    let mock = MockServer::start().await.unwrap();
    let reply = post_anonymous(&mock, Endpoint::Click, click_body("partner")).await;
    assert_eq!(reply.status, 200, "{reply:?}");
    assert_eq!(reply.header("content-type"), Some("application/json"));
    assert_eq!(reply.body["success"], true);
    assert_eq!(reply.body["partner_code"], "partner");
    assert_eq!(reply.body["cookie_window_days"], 60);
    let click_id = reply.body["click_id"].as_str().unwrap();
    assert!(is_cust_click_id(click_id), "{click_id}");

    let clicks = mock.clicks();
    assert_eq!(clicks.len(), 1);
    assert_eq!(clicks[0].click_id.as_ref().unwrap().as_str(), click_id);
    assert_eq!(clicks[0].partner_code.as_deref(), Some("partner"));
    assert_eq!(clicks[0].user_agent.as_deref(), Some("mock-tests/1"));
    assert!(!clicks[0].test);

    // The `user_agent` field wins over the header.
    let mut body = click_body("partner");
    body["user_agent"] = json!("Browser/2");
    post_anonymous(&mock, Endpoint::Click, body).await;
    assert_eq!(mock.clicks()[1].user_agent.as_deref(), Some("Browser/2"));
}

#[tokio::test]
async fn click_cookie_window_follows_the_builder() {
    let mock = MockServer::builder()
        .cookie_window_days(90)
        .start()
        .await
        .unwrap();
    let reply = post_anonymous(&mock, Endpoint::Click, click_body("partner")).await;
    assert_eq!(reply.body["cookie_window_days"], 90);
}

#[tokio::test]
async fn click_rejections_use_the_documented_strings() {
    let mock = MockServer::start().await.unwrap();
    let cases = [
        (json!({}), "affiliate_url is required"),
        (json!({ "affiliate_url": "" }), "affiliate_url is required"),
        (
            json!({ "affiliate_url": null }),
            "affiliate_url is required",
        ),
        (
            json!({ "affiliate_url": "pricing?aff=partner" }),
            "Invalid affiliate_url",
        ),
        (
            json!({ "affiliate_url": "https://?aff=partner" }),
            "Invalid affiliate_url",
        ),
        (
            json!({ "affiliate_url": "https://shop.example/pricing" }),
            "No aff parameter found in affiliate_url",
        ),
        (
            json!({ "affiliate_url": "https://shop.example/?aff=" }),
            "No aff parameter found in affiliate_url",
        ),
        (
            json!({ "affiliate_url": "https://shop.example/?aff=nobody" }),
            "Referral link not found",
        ),
    ];
    for (body, message) in cases {
        post_anonymous(&mock, Endpoint::Click, body)
            .await
            .assert_error(400, message);
    }
    assert!(mock.clicks().is_empty());
}

#[tokio::test]
async fn an_inactive_link_answers_200_with_success_false() {
    let mock = MockServer::start().await.unwrap();
    mock.inactive_link("OLD");
    let reply = post_anonymous(&mock, Endpoint::Click, click_body("OLD")).await;
    assert_eq!(reply.status, 200);
    assert_eq!(
        reply.body,
        json!({ "success": false, "message": "Referral link is inactive" })
    );
    assert!(mock.clicks().is_empty());

    // Re-activated, the same link records clicks again.
    mock.link("OLD");
    let reply = post_anonymous(&mock, Endpoint::Click, click_body("OLD")).await;
    assert_eq!(reply.body["success"], true);
}

#[tokio::test]
async fn existing_click_id_reuses_the_customer_and_the_last_click_wins() {
    let mock = MockServer::start().await.unwrap();
    mock.link("FIRST");
    mock.link("SECOND");
    let first = mock.click("FIRST");

    let mut body = click_body("SECOND");
    body["existing_click_id"] = json!(first.as_str());
    let reply = post_anonymous(&mock, Endpoint::Click, body).await;
    assert_eq!(reply.body["partner_code"], "SECOND");
    let second = reply.body["click_id"].as_str().unwrap().to_owned();
    assert_ne!(second, first.as_str());
    // Same customer: `cust_<customer>_...` shares the customer part.
    let customer = |id: &str| id.split('_').nth(1).unwrap().to_owned();
    assert_eq!(customer(&second), customer(first.as_str()));
    assert_eq!(
        mock.clicks()[1].existing_click_id.as_deref(),
        Some(first.as_str())
    );

    // A sale through the FIRST click id is credited to the last partner.
    let reply = post(
        &mock,
        Endpoint::Sale,
        json!({ "transaction_id": "in_1", "amount_cents": 1000, "click_id": first.as_str() }),
    )
    .await;
    assert_eq!(reply.status, 200, "{reply:?}");
    assert_eq!(mock.sales()[0].partner_code.as_deref(), Some("SECOND"));

    // Without existing_click_id, a click makes a new customer.
    let fresh = post_anonymous(&mock, Endpoint::Click, click_body("FIRST")).await;
    assert_ne!(
        customer(fresh.body["click_id"].as_str().unwrap()),
        customer(first.as_str())
    );
}

#[tokio::test]
#[should_panic(expected = "no referral link `nobody`")]
async fn seeding_a_click_on_an_unknown_link_explains_what_to_do() {
    let mock = MockServer::start().await.unwrap();
    mock.click("nobody");
}

// ---------------------------------------------------------------------------------------------
// Lead

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

// ---------------------------------------------------------------------------------------------
// Sale

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

// ---------------------------------------------------------------------------------------------
// Refund

async fn seed_sale(mock: &MockServer, transaction_id: &str, amount_cents: u64) -> u64 {
    let click_id = mock.click("partner");
    let reply = post(
        mock,
        Endpoint::Sale,
        json!({ "transaction_id": transaction_id, "amount_cents": amount_cents,
                "click_id": click_id.as_str() }),
    )
    .await;
    assert_eq!(reply.status, 200, "{reply:?}");
    reply.body["commission_id"].as_u64().unwrap()
}

#[tokio::test]
async fn a_full_refund_reverses_once_then_is_skipped() {
    let mock = MockServer::start().await.unwrap();
    let commission_id = seed_sale(&mock, "in_1", 10_000).await;

    let reply = post(
        &mock,
        Endpoint::Refund,
        json!({ "transaction_id": "in_1", "refund_reason": "customer_request" }),
    )
    .await;
    assert_eq!(reply.status, 200);
    assert_eq!(
        reply.body,
        json!({ "success": true, "status": "reversed", "deductionAmount": 20.0,
                "commission_id": commission_id })
    );
    assert!(mock.sales()[0].refunded);

    let reply = post(&mock, Endpoint::Refund, json!({ "transaction_id": "in_1" })).await;
    assert_eq!(
        reply.body,
        json!({ "success": true, "status": "skipped", "reason": "already reversed",
                "commission_id": commission_id })
    );

    let refunds = mock.refunds();
    assert_eq!(refunds.len(), 2);
    assert_eq!(refunds[0].status, RefundStatus::Reversed);
    assert_eq!(refunds[0].deduction_cents, 2000);
    assert_eq!(refunds[0].reason.as_deref(), Some("customer_request"));
    assert_eq!(refunds[0].refund_amount_cents, None);
    assert_eq!(refunds[1].status, RefundStatus::Skipped);
    assert_eq!(refunds[1].deduction_cents, 0);
}

#[tokio::test]
async fn partial_and_zero_amount_refunds() {
    let mock = MockServer::start().await.unwrap();
    seed_sale(&mock, "in_partial", 10_000).await;
    seed_sale(&mock, "in_zero", 10_000).await;
    seed_sale(&mock, "in_more", 10_000).await;

    let reply = post(
        &mock,
        Endpoint::Refund,
        json!({ "transaction_id": "in_partial", "refund_amount_cents": 2500 }),
    )
    .await;
    assert_eq!(reply.body["status"], "refunded");
    assert_eq!(reply.body["deductionAmount"], 5.0);

    // 0 means a full refund, as does an amount of at least the sale's.
    for id in ["in_zero", "in_more"] {
        let amount = if id == "in_zero" { 0 } else { 20_000 };
        let reply = post(
            &mock,
            Endpoint::Refund,
            json!({ "transaction_id": id, "refund_amount_cents": amount }),
        )
        .await;
        assert_eq!(reply.body["status"], "reversed", "{id}: {reply:?}");
        assert_eq!(reply.body["deductionAmount"], 20.0);
    }
    let refunds = mock.refunds();
    assert_eq!(refunds[0].status, RefundStatus::Refunded);
    assert_eq!(refunds[0].refund_amount_cents, Some(2500));
    assert_eq!(refunds[0].deduction_cents, 500);
    assert_eq!(refunds[1].refund_amount_cents, None);
}

#[tokio::test]
async fn refund_rejections() {
    let mock = MockServer::start().await.unwrap();
    seed_sale(&mock, "in_1", 100).await;
    post(
        &mock,
        Endpoint::Refund,
        json!({ "transaction_id": "in_unknown" }),
    )
    .await
    .assert_error(404, "Sale not found for transaction_id");
    post(&mock, Endpoint::Refund, json!({}))
        .await
        .assert_error(400, "transaction_id is required");
    post(&mock, Endpoint::Refund, json!({ "transaction_id": "in_1", "refund_amount_cents": -5 }))
        .await
        .assert_error(
            400,
            "refund_amount_cents must be a non-negative integer (omit it, or send 0, for a full refund)",
        );
    post_anonymous(&mock, Endpoint::Refund, json!({ "transaction_id": "in_1" }))
        .await
        .assert_error(401, "Invalid API token");
    assert!(mock.refunds().is_empty());
    assert!(!mock.sales()[0].refunded);
}

#[tokio::test]
async fn refunding_a_test_sale_finds_no_commission() {
    let mock = MockServer::start().await.unwrap();
    post(
        &mock,
        Endpoint::Sale,
        json!({ "transaction_id": "test_1", "amount_cents": 100,
                "additional_data": { "test_mode": true } }),
    )
    .await;
    let reply = post(
        &mock,
        Endpoint::Refund,
        json!({ "transaction_id": "test_1" }),
    )
    .await;
    assert_eq!(
        reply.body,
        json!({ "success": true, "status": "no_commission",
                "message": "Sale has no commission to reverse" })
    );
    assert_eq!(mock.refunds()[0].status, RefundStatus::NoCommission);
}

// ---------------------------------------------------------------------------------------------
// Test mode

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

// ---------------------------------------------------------------------------------------------
// Test event: the synthetic chain

#[tokio::test]
async fn a_chain_answers_an_attributed_verdict() {
    let mock = MockServer::start().await.unwrap();
    let reply = post(&mock, Endpoint::TestEvent, json!({ "type": "chain" })).await;
    assert_eq!(reply.status, 200, "{reply:?}");
    let data = &reply.body["data"];
    assert_eq!(data["type"], "chain");
    assert_eq!(data["short_code"], "afftest42");
    assert_eq!(
        data["verdict"],
        json!({ "click": "attributed", "lead": "attributed", "sale": "attributed" })
    );
    assert_eq!(data["attributed"], true);
    let key = data["customer_key"].as_str().unwrap();
    let parts: Vec<&str> = key.split('_').collect();
    assert_eq!(parts[..4], ["aff", "test", "ck", "42"], "{key}");
    assert!(parts[4].parse::<u128>().is_ok(), "{key}");
    assert!(
        parts[5].len() == 6 && parts[5].bytes().all(|b| b.is_ascii_hexdigit()),
        "{key}"
    );
    // All synthetic rows are test rows: nothing real is stored.
    assert!(mock.sales().is_empty());
}

#[tokio::test]
async fn chains_are_limited_to_ten_per_hour() {
    let mock = MockServer::start().await.unwrap();
    for _ in 0..10 {
        let reply = post(&mock, Endpoint::TestEvent, json!({ "type": "chain" })).await;
        assert_eq!(reply.status, 200);
    }
    let reply = post(&mock, Endpoint::TestEvent, json!({ "type": "chain" })).await;
    assert_eq!(reply.status, 429);
    let retry_after: u64 = reply.header("retry-after").unwrap().parse().unwrap();
    assert!((1..=3600).contains(&retry_after), "{retry_after}");
    assert_eq!(
        reply.body,
        json!({ "error": {
            "status": 429,
            "code": "rate_limited",
            "message": "Too many synthetic chains (max 10/program/hour).",
            "retry_after_seconds": retry_after,
        }})
    );
    // Legacy single events are not chains, and are not limited.
    let reply = post(&mock, Endpoint::TestEvent, json!({ "event_type": "click" })).await;
    assert_eq!(reply.status, 200);
}

#[tokio::test]
async fn legacy_test_events_and_rejections() {
    let mock = MockServer::start().await.unwrap();
    for kind in ["click", "lead", "sale"] {
        let reply = post(
            &mock,
            Endpoint::TestEvent,
            json!({ "event_type": kind, "program_id": 42 }),
        )
        .await;
        assert_eq!(reply.status, 200);
        let data = &reply.body["data"];
        assert_eq!(data["event_type"], kind);
        assert!(data["event_id"].is_u64());
        assert_eq!(data["received"], true);
        assert_eq!(data["attributed"], false);
        assert_eq!(data["message"], format!("Test {kind} event recorded"));
    }
    post(
        &mock,
        Endpoint::TestEvent,
        json!({ "event_type": "refund" }),
    )
    .await
    .assert_error(400, "Invalid event_type: expected click, lead or sale");
    post(&mock, Endpoint::TestEvent, json!({ "type": "single" }))
        .await
        .assert_error(400, r#"Invalid type: expected "chain""#);
    post(&mock, Endpoint::TestEvent, json!({}))
        .await
        .assert_error(400, r#"Send {"type":"chain"} (or a legacy "event_type")"#);
    post_anonymous(&mock, Endpoint::TestEvent, json!({ "type": "chain" }))
        .await
        .assert_error(401, "Invalid API token");
}

// ---------------------------------------------------------------------------------------------
// Readiness

#[tokio::test]
async fn readiness_requires_the_key_in_the_agent_envelope() {
    let mock = MockServer::start().await.unwrap();
    for auth in [None, Some("Bearer aff_wrong")] {
        let reply = send(mock.addr(), "GET", Endpoint::Readiness.path(), auth, b"")
            .await
            .unwrap();
        assert_eq!(reply.status, 401);
        assert_eq!(
            reply.body,
            json!({ "error": { "code": "invalid_key", "message": "Invalid API token." } })
        );
    }
}

#[tokio::test]
async fn readiness_follows_the_state_to_integration_verified() {
    let mock = MockServer::start().await.unwrap();
    let fresh = readiness(&mock).await;
    assert_eq!(fresh["program_id"], 42);
    assert_eq!(fresh["state"], "ready");
    assert_eq!(fresh["integration_verified"], false);
    assert_eq!(fresh["blocker"], "tracking");
    assert_eq!(fresh["gates"]["profile"]["status"], "pass");
    assert_eq!(fresh["gates"]["economics"]["status"], "pass");
    assert_eq!(
        fresh["gates"]["payout"],
        json!({ "status": "pass", "mode": "stripe" })
    );
    assert_eq!(fresh["gates"]["tracking"]["status"], "fail");
    assert_eq!(
        fresh["gates"]["tracking"]["next_action"],
        "install_tracker_or_send_events"
    );
    assert!(
        fresh["gates"]["tracking"]["checked_at"]
            .as_str()
            .unwrap()
            .ends_with('Z')
    );
    assert_eq!(fresh["gates"]["live"]["status"], "fail");
    assert_eq!(
        fresh["gates"]["live"]["next_action"],
        "run_synthetic_sale_chain"
    );
    assert_eq!(fresh["key_rotated_at"], Value::Null);
    assert_eq!(fresh["poll"], json!({ "retry_after_seconds": 5 }));

    post(&mock, Endpoint::TestEvent, json!({ "type": "chain" })).await;
    let verified = readiness(&mock).await;
    assert_eq!(verified["state"], "integration_verified");
    assert_eq!(verified["integration_verified"], true);
    assert_eq!(verified["blocker"], Value::Null);
    assert_eq!(verified["gates"]["tracking"]["detail"], "receiving_events");
    assert_eq!(
        verified["gates"]["live"],
        json!({ "status": "pass",
                "test_chain": { "click": "attributed", "lead": "attributed", "sale": "attributed" } })
    );
}

#[tokio::test]
async fn readiness_reports_real_events_and_live_verified() {
    let mock = MockServer::start().await.unwrap();
    post_anonymous(&mock, Endpoint::Click, click_body("partner")).await;
    let tracking = readiness(&mock).await;
    assert_eq!(tracking["state"], "ready");
    assert_eq!(tracking["blocker"], "live");
    assert_eq!(tracking["integration_verified"], false);
    assert_eq!(tracking["counts_24h"]["clicks"], 1);
    assert!(tracking["last_event_at"]["click"].is_string());
    assert_eq!(tracking["last_event_at"]["sale"], Value::Null);

    seed_sale(&mock, "in_1", 100).await;
    // force_recheck is accepted, and recorded with the path.
    let reply = get(&mock, "/api/v1/programs/me/readiness?force_recheck=true").await;
    assert_eq!(reply.status, 200);
    assert_eq!(reply.body["state"], "live_verified");
    assert_eq!(reply.body["integration_verified"], true);
    assert_eq!(
        reply.body["counts_24h"],
        json!({ "clicks": 2, "leads": 0, "sales": 1 })
    );
    let recorded = mock.requests_to(Endpoint::Readiness);
    assert_eq!(
        recorded.last().unwrap().path,
        "/api/v1/programs/me/readiness?force_recheck=true"
    );
}

// ---------------------------------------------------------------------------------------------
// Bodies, routing and recording

#[tokio::test]
async fn malformed_bodies_get_a_400_that_says_so() {
    let mock = MockServer::start().await.unwrap();
    let auth = bearer(&mock);
    for endpoint in [
        Endpoint::Click,
        Endpoint::Lead,
        Endpoint::Sale,
        Endpoint::Refund,
        Endpoint::TestEvent,
    ] {
        let reply = send(
            mock.addr(),
            "POST",
            endpoint.path(),
            Some(&auth),
            b"{\"transaction_id\":",
        )
        .await
        .unwrap();
        assert_eq!(reply.status, 400, "{endpoint}");
        let message = reply.body["error"].as_str().unwrap();
        assert!(message.starts_with("Malformed JSON body: "), "{message}");

        let reply = send(mock.addr(), "POST", endpoint.path(), Some(&auth), b"[1, 2]")
            .await
            .unwrap();
        reply.assert_error(400, "Request body must be a JSON object");
    }
    // The recorded body of a malformed request is Null.
    assert!(
        mock.requests()
            .iter()
            .all(|r| r.body.is_null() || r.body.is_array())
    );
}

#[tokio::test]
async fn requests_are_recorded_in_order_with_headers_and_bodies() {
    let mock = MockServer::start().await.unwrap();
    let auth = bearer(&mock);
    post_anonymous(&mock, Endpoint::Click, click_body("partner")).await;
    post(&mock, Endpoint::Sale, json!({ "transaction_id": "in_x" })).await;
    send(mock.addr(), "GET", "/nowhere?x=1", Some(&auth), b"")
        .await
        .unwrap();

    let requests = mock.requests();
    assert_eq!(requests.len(), 3);
    assert_eq!(requests[0].method, http::Method::POST);
    assert_eq!(requests[0].path, "/api/v1/track/click");
    assert_eq!(requests[0].endpoint, Some(Endpoint::Click));
    assert_eq!(requests[0].bearer_token(), None);
    assert_eq!(requests[0].body, click_body("partner"));
    assert_eq!(requests[1].bearer_token(), Some("aff_test_key"));
    assert_eq!(
        requests[1].header("authorization"),
        Some("Bearer aff_test_key")
    );
    assert_eq!(requests[1].header("user-agent"), Some("mock-tests/1"));
    assert_eq!(requests[1].body, json!({ "transaction_id": "in_x" }));
    assert_eq!(requests[2].path, "/nowhere?x=1");
    assert_eq!(requests[2].endpoint, None);
    assert_eq!(requests[2].body, Value::Null);
    assert_eq!(mock.requests_to(Endpoint::Sale).len(), 1);

    // Debug never shows the key.
    let debug = format!("{:?}", requests[1]);
    assert!(!debug.contains("aff_test_key"), "{debug}");
    assert!(debug.contains("<redacted>"), "{debug}");
}

#[tokio::test]
async fn unknown_paths_wrong_methods_and_the_legacy_alias() {
    let mock = MockServer::start().await.unwrap();
    let auth = bearer(&mock);
    send(
        mock.addr(),
        "POST",
        "/api/v1/track/nothing",
        Some(&auth),
        b"{}",
    )
    .await
    .unwrap()
    .assert_error(404, "Not found");
    let reply = send(mock.addr(), "GET", "/api/v1/track/sale", Some(&auth), b"")
        .await
        .unwrap();
    reply.assert_error(405, "Method not allowed: use POST");
    assert_eq!(reply.header("allow"), Some("POST"));
    let reply = send(
        mock.addr(),
        "POST",
        Endpoint::Readiness.path(),
        Some(&auth),
        b"{}",
    )
    .await
    .unwrap();
    reply.assert_error(405, "Method not allowed: use GET");

    // `/api/tracking/*` is the legacy alias of the tracking endpoints.
    let body = click_body("partner").to_string();
    let reply = send(
        mock.addr(),
        "POST",
        "/api/tracking/click",
        None,
        body.as_bytes(),
    )
    .await
    .unwrap();
    assert_eq!(reply.body["success"], true);
    assert_eq!(
        mock.requests().last().unwrap().endpoint,
        Some(Endpoint::Click)
    );
}

#[tokio::test]
async fn a_body_over_one_mebibyte_is_a_413() {
    let mock = MockServer::start().await.unwrap();
    let auth = bearer(&mock);
    let mut big = b"{\"transaction_id\":\"".to_vec();
    big.resize(1024 * 1024 + 1, b'a');
    let reply = send(
        mock.addr(),
        "POST",
        Endpoint::Sale.path(),
        Some(&auth),
        &big,
    )
    .await
    .unwrap();
    reply.assert_error(413, "Request body too large: the limit is 1 MiB");
    assert!(mock.sales().is_empty());

    // Just under the limit is read (and rejected for what it is).
    let mut json = b"{\"pad\":\"".to_vec();
    json.resize(1024 * 1024 - 2, b'a');
    json.extend_from_slice(b"\"}");
    let reply = send(
        mock.addr(),
        "POST",
        Endpoint::Sale.path(),
        Some(&auth),
        &json,
    )
    .await
    .unwrap();
    reply.assert_error(400, "transaction_id is required and must be a string");
}

#[tokio::test]
async fn no_input_crashes_the_server() {
    let mock = MockServer::start().await.unwrap();
    let auth = bearer(&mock);
    let deep = "[".repeat(10_000);
    let bodies: Vec<Vec<u8>> = vec![
        b"".to_vec(),
        b"null".to_vec(),
        b"\"text\"".to_vec(),
        b"12".to_vec(),
        b"{\"amount_cents\": 1e400}".to_vec(),
        b"{\"transaction_id\": \"in\", \"amount_cents\": 18446744073709551615, \"click_id\": []}"
            .to_vec(),
        b"{\"transaction_id\": \"in\", \"amount_cents\": 1.7976931348623157e308}".to_vec(),
        b"{\"refund_amount_cents\": {}, \"transaction_id\": {}}".to_vec(),
        b"{\"affiliate_url\": \"https://x/?aff=%ff%fe\", \"additional_data\": 5}".to_vec(),
        b"{\"additional_data\": {\"test_mode\": \"true\", \"program_id\": [1]}}".to_vec(),
        b"{\"type\": null, \"event_type\": 3}".to_vec(),
        vec![0xff, 0xfe, 0x00, 0x7b],
        deep.into_bytes(),
    ];
    for endpoint in [
        Endpoint::Click,
        Endpoint::Lead,
        Endpoint::Sale,
        Endpoint::Refund,
        Endpoint::TestEvent,
        Endpoint::Readiness,
    ] {
        for body in &bodies {
            for auth in [None, Some(auth.as_str())] {
                let method = endpoint.method();
                let reply = send(mock.addr(), method.as_str(), endpoint.path(), auth, body)
                    .await
                    .unwrap();
                assert!(
                    [200, 400, 401, 404, 409].contains(&reply.status),
                    "{endpoint} {:?}: {reply:?}",
                    String::from_utf8_lossy(body)
                );
                assert!(reply.body.is_object(), "{reply:?}");
            }
        }
    }
    // Still serving.
    let reply = post_anonymous(&mock, Endpoint::Click, click_body("partner")).await;
    assert_eq!(reply.body["success"], true);
}

// ---------------------------------------------------------------------------------------------
// Faults

#[tokio::test]
async fn a_status_fault_answers_the_documented_body_then_wears_off() {
    let mock = MockServer::start().await.unwrap();
    let click_id = mock.click("partner");
    mock.inject(Fault::status(500).on(Endpoint::Sale).times(2));
    let body =
        json!({ "transaction_id": "in_1", "amount_cents": 100, "click_id": click_id.as_str() });

    // Other endpoints are not affected.
    let reply = post_anonymous(&mock, Endpoint::Click, click_body("partner")).await;
    assert_eq!(reply.status, 200);

    for _ in 0..2 {
        post(&mock, Endpoint::Sale, body.clone())
            .await
            .assert_error(500, "Sale tracking failed");
    }
    assert!(
        mock.sales().is_empty(),
        "a status fault does not process the request"
    );
    let reply = post(&mock, Endpoint::Sale, body).await;
    assert_eq!(reply.status, 200);
    assert_eq!(mock.requests_to(Endpoint::Sale).len(), 3);
}

#[tokio::test]
async fn status_faults_on_every_endpoint() {
    let mock = MockServer::start().await.unwrap();
    mock.inject(Fault::status(500).times(6));
    let cases = [
        (Endpoint::Click, json!({ "error": "Click tracking failed" })),
        (Endpoint::Lead, json!({ "error": "Lead tracking failed" })),
        (Endpoint::Sale, json!({ "error": "Sale tracking failed" })),
        (
            Endpoint::Refund,
            json!({ "error": "Refund tracking failed" }),
        ),
        (
            Endpoint::TestEvent,
            json!({ "error": { "code": "internal_error", "message": "Test event failed", "status": 500 } }),
        ),
    ];
    for (endpoint, expected) in cases {
        let reply = post(&mock, endpoint, json!({})).await;
        assert_eq!((reply.status, reply.body), (500, expected), "{endpoint}");
    }
    let reply = get(&mock, Endpoint::Readiness.path()).await;
    assert_eq!(reply.status, 500);
    assert_eq!(
        reply.body,
        json!({ "error": { "code": "internal_error", "status": 500, "retry_after_seconds": 10,
                           "message": "Failed to compute readiness. Retry shortly." } })
    );

    mock.inject(Fault::status(503));
    post(&mock, Endpoint::Sale, json!({}))
        .await
        .assert_error(503, "Service Unavailable");
}

#[tokio::test]
async fn a_rate_limit_fault_sets_retry_after() {
    let mock = MockServer::start().await.unwrap();
    mock.inject(Fault::rate_limited(Duration::from_secs(1)).times(1));
    let reply = post(&mock, Endpoint::Lead, json!({})).await;
    reply.assert_error(429, "Too many requests");
    assert_eq!(reply.header("retry-after"), Some("1"));

    mock.inject(Fault::rate_limited(Duration::from_millis(10)).on(Endpoint::TestEvent));
    let reply = post(&mock, Endpoint::TestEvent, json!({ "type": "chain" })).await;
    assert_eq!(reply.status, 429);
    assert_eq!(reply.header("retry-after"), Some("1"));
    assert_eq!(reply.body["error"]["code"], "rate_limited");
    assert_eq!(reply.body["error"]["retry_after_seconds"], 1);
}

#[tokio::test]
async fn a_response_fault_answers_exactly_the_given_body() {
    let mock = MockServer::start().await.unwrap();
    let body = json!({ "error": "Invalid referral link configuration" });
    mock.inject(Fault::response(400, body.clone()).on(Endpoint::Click));
    let reply = post_anonymous(&mock, Endpoint::Click, click_body("partner")).await;
    assert_eq!((reply.status, reply.body), (400, body));
}

#[tokio::test]
async fn faults_always_apply_until_cleared() {
    let mock = MockServer::start().await.unwrap();
    mock.inject(Fault::status(502).always());
    for _ in 0..3 {
        assert_eq!(
            post_anonymous(&mock, Endpoint::Click, click_body("partner"))
                .await
                .status,
            502
        );
    }
    mock.clear_faults();
    assert_eq!(
        post_anonymous(&mock, Endpoint::Click, click_body("partner"))
            .await
            .status,
        200
    );
}

#[tokio::test]
async fn a_delay_fault_does_the_work_then_answers_late() {
    let mock = Arc::new(MockServer::start().await.unwrap());
    let click_id = mock.click("partner");
    // Long enough that a slow machine never sees the answer before the check below.
    mock.inject(Fault::delay(Duration::from_secs(2)).on(Endpoint::Sale));
    let body =
        json!({ "transaction_id": "in_slow", "amount_cents": 100, "click_id": click_id.as_str() });
    let request = tokio::spawn({
        let mock = Arc::clone(&mock);
        async move { post(&mock, Endpoint::Sale, body).await }
    });
    // The sale is stored while the answer is still being held back.
    let mut polls = 0;
    while mock.sales().is_empty() {
        polls += 1;
        assert!(polls < 1000, "the sale was never recorded");
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    assert!(!request.is_finished(), "the answer should still be delayed");
    let reply = request.await.unwrap();
    assert_eq!(reply.status, 200);
}

#[tokio::test]
async fn a_dropped_connection_processes_nothing() {
    let mock = MockServer::start().await.unwrap();
    let click_id = mock.click("partner");
    mock.inject(Fault::drop_connection().on(Endpoint::Sale).times(1));
    let body =
        json!({ "transaction_id": "in_1", "amount_cents": 100, "click_id": click_id.as_str() });
    let auth = bearer(&mock);
    let result = send(
        mock.addr(),
        "POST",
        Endpoint::Sale.path(),
        Some(&auth),
        body.to_string().as_bytes(),
    )
    .await;
    assert!(result.is_err(), "{result:?}");
    assert!(mock.sales().is_empty());
    assert_eq!(
        mock.requests_to(Endpoint::Sale).len(),
        1,
        "the attempt is still recorded"
    );

    // The retry goes through.
    assert_eq!(post(&mock, Endpoint::Sale, body).await.status, 200);
    assert_eq!(mock.sales().len(), 1);
}

#[tokio::test]
async fn a_dropped_response_is_a_lost_answer_and_the_retry_is_a_409() {
    let mock = MockServer::start().await.unwrap();
    let click_id = mock.click("partner");
    mock.inject(Fault::drop_response().on(Endpoint::Sale));
    let body =
        json!({ "transaction_id": "in_1", "amount_cents": 100, "click_id": click_id.as_str() });
    let auth = bearer(&mock);
    let result = send(
        mock.addr(),
        "POST",
        Endpoint::Sale.path(),
        Some(&auth),
        body.to_string().as_bytes(),
    )
    .await;
    assert!(result.is_err(), "{result:?}");
    assert_eq!(
        mock.sales().len(),
        1,
        "the sale was recorded before the connection closed"
    );

    post(&mock, Endpoint::Sale, body).await.assert_error(
        409,
        "Duplicate transaction_id. This sale has already been recorded.",
    );
}

#[tokio::test]
async fn refusing_connections_closes_everything_then_listens_on_the_same_port() {
    let mock = MockServer::start().await.unwrap();
    let addr = mock.addr();
    seed_sale(&mock, "in_1", 100).await;

    // A kept-alive connection, as a pooled client would hold.
    let mut pooled = TcpStream::connect(addr).await.unwrap();
    pooled
        .write_all(&request_bytes(
            "POST",
            Endpoint::Click.path(),
            None,
            click_body("partner").to_string().as_bytes(),
        ))
        .await
        .unwrap();
    assert_eq!(read_reply(&mut pooled).await.unwrap().status, 200);

    mock.refuse_connections_for(Duration::from_millis(200))
        .await;
    let refused = TcpStream::connect(addr).await;
    assert_eq!(
        refused.unwrap_err().kind(),
        io::ErrorKind::ConnectionRefused
    );
    let mut buffer = [0_u8; 16];
    let closed = pooled.read(&mut buffer).await;
    assert!(matches!(closed, Ok(0) | Err(_)), "{closed:?}");

    // Back on the same port, with the same state.
    let mut attempts = 0;
    let reply = loop {
        match send(
            addr,
            "GET",
            Endpoint::Readiness.path(),
            Some(&bearer(&mock)),
            b"",
        )
        .await
        {
            Ok(reply) => break reply,
            Err(_) => {
                attempts += 1;
                assert!(attempts < 500, "the port was never re-bound");
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
    };
    assert_eq!(reply.status, 200);
    assert_eq!(mock.addr(), addr);
    post(&mock, Endpoint::Refund, json!({ "transaction_id": "in_1" })).await;
    assert_eq!(mock.refunds().len(), 1);
}

// ---------------------------------------------------------------------------------------------
// Lifecycle and logs

#[tokio::test]
async fn shutdown_closes_the_port_and_dropping_the_handle_stops_the_server() {
    let mock = MockServer::start().await.unwrap();
    let addr = mock.addr();
    let mut idle = TcpStream::connect(addr).await.unwrap();
    mock.shutdown().await;
    assert!(TcpStream::connect(addr).await.is_err());
    let mut buffer = [0_u8; 16];
    assert!(matches!(idle.read(&mut buffer).await, Ok(0) | Err(_)));

    let mock = MockServer::start().await.unwrap();
    let addr = mock.addr();
    drop(mock);
    let mut attempts = 0;
    while TcpStream::connect(addr).await.is_ok() {
        attempts += 1;
        assert!(
            attempts < 500,
            "the server kept listening after the handle was dropped"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl io::Write for Captured {
    fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(bytes);
        Ok(bytes.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// Captures what `tracing` writes on this thread at `info` and above.
fn capture_logs() -> (Captured, tracing::subscriber::DefaultGuard) {
    let captured = Captured::default();
    let subscriber = tracing_subscriber::fmt()
        .with_ansi(false)
        .with_max_level(tracing::Level::INFO)
        .with_writer({
            let captured = captured.clone();
            move || captured.clone()
        })
        .finish();
    (captured, tracing::subscriber::set_default(subscriber))
}

impl Captured {
    fn text(&self) -> String {
        String::from_utf8(self.0.lock().unwrap().clone()).unwrap()
    }
}

// Current-thread runtimes, so the server's tasks log to this thread's subscriber.
#[tokio::test(flavor = "current_thread")]
async fn log_events_logs_one_line_per_event_without_secrets() {
    let (captured, _guard) = capture_logs();
    let mock = MockServer::builder()
        .api_key("aff_secret_key")
        .log_events(true)
        .start()
        .await
        .unwrap();
    let click = post_anonymous(&mock, Endpoint::Click, click_body("partner")).await;
    let click_id = click.body["click_id"].as_str().unwrap().to_owned();
    post(
        &mock,
        Endpoint::Lead,
        json!({ "click_id": click_id, "customer_key": "u1", "email": "someone@example.com" }),
    )
    .await;
    post(
        &mock,
        Endpoint::Sale,
        json!({ "transaction_id": "in_logged", "amount_cents": 100, "customer_key": "u1" }),
    )
    .await;
    post(
        &mock,
        Endpoint::Sale,
        json!({ "transaction_id": "bad\nid", "amount_cents": 100 }),
    )
    .await;

    let output = captured.text();
    let lines: Vec<&str> = output.lines().collect();
    assert_eq!(lines.len(), 4, "{output}");
    assert!(lines[0].contains("endpoint=\"click\""), "{output}");
    assert!(lines[0].contains("outcome=\"recorded\""), "{output}");
    assert!(lines[0].contains(&click_id), "{output}");
    assert!(lines[1].contains("outcome=\"tracked\""), "{output}");
    assert!(
        lines[2].contains("in_logged") && lines[2].contains("status=200"),
        "{output}"
    );
    assert!(lines[3].contains("<6 bytes, not shown>"), "{output}");
    assert!(!output.contains("aff_secret_key"), "{output}");
    assert!(!output.contains("someone@example.com"), "{output}");
}

#[tokio::test(flavor = "current_thread")]
async fn without_log_events_the_stand_in_is_quiet() {
    let (captured, _guard) = capture_logs();
    let mock = MockServer::start().await.unwrap();
    let reply = post_anonymous(&mock, Endpoint::Click, click_body("partner")).await;
    assert_eq!(reply.status, 200);
    assert_eq!(captured.text(), "");
}
