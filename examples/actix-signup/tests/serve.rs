//! The app on a real port, against the stand-in API, from a plain tokio runtime and from actix's.

#![allow(clippy::unwrap_used)]

use std::time::Duration;

use affitor_mock::MockServer;
use example_support::AppConfig;
use serde_json::{Value, json};

async fn config(mock: &MockServer) -> AppConfig {
    AppConfig::new(mock.client(), mock.program_id().to_string(), None)
}

/// Starts the app on an ephemeral port; returns its URL and the server's handle.
fn start(config: AppConfig) -> (String, actix_web::dev::ServerHandle) {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let server = actix_signup::serve(listener, config).unwrap();
    let handle = server.handle();
    tokio::spawn(server);
    (url, handle)
}

async fn signs_up_and_tracks_the_lead() {
    let mock = MockServer::start().await.unwrap();
    let click_id = mock.click("partner");
    let config = config(&mock).await;
    let affitor = config.affitor.clone();
    let (url, handle) = start(config);
    let http = reqwest::Client::new();

    let page = http.get(format!("{url}/")).send().await.unwrap();
    assert_eq!(page.status(), 200);
    assert!(page.text().await.unwrap().contains("affitorClickId"));

    // JSON, with the click id in the cookie.
    let response = http
        .post(format!("{url}/api/signup"))
        .header("cookie", format!("affitor_click_id={click_id}"))
        .json(&json!({ "email": "ada@example.com", "password": "correct horse" }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    let ada = body["userId"].as_str().unwrap().to_owned();
    assert!(ada.starts_with("user_"), "{body}");

    // A form, with the click id in the body.
    let response = http
        .post(format!("{url}/api/signup"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!(
            "email=bob%40example.com&password=correct+horse&affitor_click_id={click_id}"
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    let bob = body["userId"].as_str().unwrap().to_owned();
    assert!(bob.starts_with("user_") && bob != ada, "{body}");

    // The same email again, and a weak password.
    let response = http
        .post(format!("{url}/api/signup"))
        .json(&json!({ "email": "ada@example.com", "password": "correct horse" }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 409);
    let body: Value = response.json().await.unwrap();
    assert!(body["error"].as_str().unwrap().contains("exists"));
    let response = http
        .post(format!("{url}/api/signup"))
        .json(&json!({ "email": "eve@example.com", "password": "short" }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);

    handle.stop(true).await;
    // The leads were queued in the background: flush them, then look.
    let report = affitor.shutdown(Duration::from_secs(5)).await;
    assert!(report.is_complete(), "{report:?}");
    let leads = mock.leads();
    assert_eq!(leads.len(), 2);
    for user in [&ada, &bob] {
        let lead = leads
            .iter()
            .find(|lead| lead.customer_key.as_deref() == Some(user))
            .unwrap_or_else(|| panic!("no lead for {user}: {leads:?}"));
        assert_eq!(lead.click_id.as_deref(), Some(click_id.as_str()));
    }
}

#[tokio::test]
async fn serves_from_a_tokio_test() {
    signs_up_and_tracks_the_lead().await;
}

#[actix_web::test]
async fn serves_from_an_actix_test() {
    signs_up_and_tracks_the_lead().await;
}
