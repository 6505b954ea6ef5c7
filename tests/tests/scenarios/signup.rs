//! The signup apps: the click id found wherever the browser sends it, and the lead tracked
//! without keeping the user waiting.

use std::time::Duration;

use affitor::client::Endpoint;
use affitor_mock::Fault;
use affitor_scenarios::{Running, user_id, wait_until};
use reqwest::StatusCode;
use serde_json::{Value, json};

pub(super) async fn signup_page_is_served(app: &Running) {
    let answer = app.get("/").await;
    assert_eq!(answer.status, StatusCode::OK, "{}", app.app.name);
    assert!(answer.text.contains("affitor_click_id"), "{}", app.app.name);
    assert!(answer.text.contains("affitorClickId"), "{}", app.app.name);
}

/// Asserts that `lead` is the lead of `user_id`, carrying `click_id`, or no click id.
fn assert_lead(app: &Running, lead: &Value, user_id: &str, click_id: Option<&str>) {
    let name = app.app.name;
    assert_eq!(lead["customer_key"], user_id, "{name}: {lead}");
    match click_id {
        Some(click_id) => assert_eq!(lead["click_id"], click_id, "{name}: {lead}"),
        None => assert!(lead.get("click_id").is_none(), "{name}: {lead}"),
    }
}

/// Signs up with the click id sent one way, and checks the lead carries it.
async fn lead_carries(app: &Running, click_id: &str, extra: Value, headers: &[(&str, &str)]) {
    let user_id = app.signup("ada@example.com", &extra, headers).await;
    let leads = app.leads_received(1).await;
    assert_lead(app, &leads[0], &user_id, Some(click_id));
    assert_eq!(leads[0]["email"], "ada@example.com", "{}", app.app.name);
}

pub(super) async fn click_id_in_the_header(app: &Running) {
    let click_id = app.mock.click("partner");
    let header = [("x-affitor-click-id", click_id.as_str())];
    lead_carries(app, click_id.as_str(), json!({}), &header).await;
    // The click id was known to the API: the lead is attributed.
    wait_until(app.app.name, "a tracked lead", || {
        (app.mock.leads().len() == 1).then_some(())
    })
    .await;
}

pub(super) async fn click_id_in_the_cookie(app: &Running) {
    let click_id = app.mock.click("partner");
    let cookie = format!("theme=dark; affitor_click_id={click_id}");
    lead_carries(app, click_id.as_str(), json!({}), &[("cookie", &cookie)]).await;
}

pub(super) async fn click_id_in_the_legacy_cookie(app: &Running) {
    let click_id = app.mock.click("partner");
    let cookie = format!("customer_code={click_id}");
    lead_carries(app, click_id.as_str(), json!({}), &[("cookie", &cookie)]).await;
}

pub(super) async fn click_id_in_a_json_body(app: &Running) {
    let click_id = app.mock.click("partner");
    let extra = json!({ "affitorClickId": click_id.as_str() });
    lead_carries(app, click_id.as_str(), extra, &[]).await;
}

pub(super) async fn click_id_in_a_form_body(app: &Running) {
    let click_id = app.mock.click("partner");
    let form =
        format!("email=ada%40example.com&password=correct+horse&affitor_click_id={click_id}");
    let answer = app.post_form("/api/signup", &form, &[]).await;
    assert_eq!(
        answer.status,
        StatusCode::OK,
        "{}: {}",
        app.app.name,
        answer.text
    );
    let user_id = user_id(&answer);
    let leads = app.leads_received(1).await;
    assert_lead(app, &leads[0], &user_id, Some(click_id.as_str()));
    assert_eq!(leads[0]["email"], "ada@example.com", "{}", app.app.name);
}

pub(super) async fn no_click_id(app: &Running) {
    let user_id = app.signup("ada@example.com", &json!({}), &[]).await;
    let leads = app.leads_received(1).await;
    assert_lead(app, &leads[0], &user_id, None);
}

pub(super) async fn header_wins_over_cookie_and_body(app: &Running) {
    let header = app.mock.click("partner");
    let cookie = app.mock.click("partner");
    let body = app.mock.click("partner");
    let cookie = format!("affitor_click_id={cookie}");
    let headers = [
        ("x-affitor-click-id", header.as_str()),
        ("cookie", cookie.as_str()),
    ];
    let extra = json!({ "affitorClickId": body.as_str() });
    lead_carries(app, header.as_str(), extra, &headers).await;
}

pub(super) async fn invalid_values_are_ignored(app: &Running) {
    // An invalid header and cookie are passed over; the valid body field wins.
    let click_id = app.mock.click("partner");
    let long = "a".repeat(129);
    let headers = [
        ("x-affitor-click-id", long.as_str()),
        (
            "cookie",
            "affitor_click_id=\"a b\"; customer_code=%3Cscript%3E",
        ),
    ];
    let extra = json!({ "affitorClickId": click_id.as_str() });
    lead_carries(app, click_id.as_str(), extra, &headers).await;

    // With only invalid values, the signup goes on without a click id.
    let extra = json!({ "affitorClickId": "x\r\nSet-Cookie: a=b" });
    let user_id = app.signup("bob@example.com", &extra, &headers).await;
    let leads = app.leads_received(2).await;
    assert_lead(app, &leads[1], &user_id, None);
}

pub(super) async fn an_oversized_body_reaches_the_handler_whole(app: &Running) {
    // Past the 64 KiB limit the body is not searched, but the handler reads all of it.
    let click_id = app.mock.click("partner");
    let extra = json!({ "affitorClickId": click_id.as_str(), "padding": "p".repeat(100 * 1024) });
    let user_id = app.signup("ada@example.com", &extra, &[]).await;
    let leads = app.leads_received(1).await;
    assert_lead(app, &leads[0], &user_id, None);
    assert_eq!(leads[0]["email"], "ada@example.com", "{}", app.app.name);

    // The cookie is still read, whatever the body's size.
    let cookie = format!("affitor_click_id={click_id}");
    let user_id = app
        .signup("bob@example.com", &extra, &[("cookie", &cookie)])
        .await;
    let leads = app.leads_received(2).await;
    assert_lead(app, &leads[1], &user_id, Some(click_id.as_str()));
}

pub(super) async fn a_chunked_body_reaches_the_handler_whole(app: &Running) {
    let click_id = app.mock.click("partner");
    let body = format!(
        r#"{{"email":"ada@example.com","password":"correct horse","affitorClickId":"{click_id}"}}"#
    );
    let bytes = body.as_bytes();
    // Frames of 1, 7, 3, 16 bytes and the rest, splitting keys and values.
    let cuts = [1, 8, 11, 27];
    let mut chunks = Vec::new();
    let mut start = 0;
    for cut in cuts {
        chunks.push(&bytes[start..cut]);
        start = cut;
    }
    chunks.push(&bytes[start..]);
    let answer = app
        .post_chunked("/api/signup", "application/json", &chunks)
        .await;
    assert_eq!(
        answer.status,
        StatusCode::OK,
        "{}: {}",
        app.app.name,
        answer.text
    );
    let user_id = user_id(&answer);
    let leads = app.leads_received(1).await;
    assert_lead(app, &leads[0], &user_id, Some(click_id.as_str()));
}

pub(super) async fn a_bad_signup_is_refused_and_not_tracked(app: &Running) {
    let body = json!({ "email": "not-an-email", "password": "correct horse" });
    let answer = app.post_json("/api/signup", &body, &[]).await;
    assert_eq!(answer.status, StatusCode::BAD_REQUEST, "{}", app.app.name);
    assert!(
        answer.json["error"].is_string(),
        "{}: {}",
        app.app.name,
        answer.text
    );

    let answer = app
        .post_json("/api/signup", &json!({ "email": 1 }), &[])
        .await;
    assert!(
        answer.status.is_client_error(),
        "{}: {}",
        app.app.name,
        answer.status
    );

    app.signup("ada@example.com", &json!({}), &[]).await;
    let body = json!({ "email": "ADA@example.com", "password": "correct horse" });
    let answer = app.post_json("/api/signup", &body, &[]).await;
    assert_eq!(answer.status, StatusCode::CONFLICT, "{}", app.app.name);

    // Only the one good signup was tracked.
    app.leads_received(1).await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(
        app.mock.requests_to(Endpoint::Lead).len(),
        1,
        "{}",
        app.app.name
    );
}

pub(super) async fn signup_does_not_wait_for_a_slow_api(app: &Running) {
    // The stand-in records the lead at once but answers it only after 5 s.
    app.mock
        .inject(Fault::delay(Duration::from_secs(5)).always());
    let click_id = app.mock.click("partner");
    let extra = json!({ "affitorClickId": click_id.as_str() });
    app.signup("ada@example.com", &extra, &[]).await;
    // The signup has answered, and the API has not: the lead is still being delivered.
    assert_eq!(
        app.affitor.delivery_stats().delivered,
        0,
        "{}",
        app.app.name
    );
    let leads = app.leads_received(1).await;
    assert_eq!(leads[0]["click_id"], click_id.as_str(), "{}", app.app.name);
    assert_eq!(
        app.affitor.delivery_stats().delivered,
        0,
        "{}",
        app.app.name
    );
}

pub(super) async fn signup_succeeds_while_the_api_is_down(app: &Running) {
    app.mock.inject(Fault::status(500).always());
    let answer = app
        .post_json(
            "/api/signup",
            &json!({ "email": "ada@example.com", "password": "correct horse" }),
            &[],
        )
        .await;
    assert_eq!(
        answer.status,
        StatusCode::OK,
        "{}: {}",
        app.app.name,
        answer.text
    );
    user_id(&answer);
}
