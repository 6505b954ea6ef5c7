//! Lambda is a fleet: each instance a process of its own. A partner link held until the
//! visitor's consent on one instance is recorded when the consent lands on another, as both
//! sign held clicks with the same secret.

#![allow(clippy::unwrap_used)]

use std::time::Duration;

use affitor_axum::HeldClickKey;
use affitor_mock::MockServer;
use axum::body::{Body, to_bytes};
use axum::http::{Request, StatusCode};
use example_support::AppConfig;
use tower::ServiceExt as _;

/// A secret every instance is given (`AFFITOR_HELD_CLICK_SECRET`).
const SECRET: &str = "the fleet's secret, at least 32 bytes long";

/// A browser's: the capture records no bot's visit.
const BROWSER: &str = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0";

#[tokio::test]
async fn a_consent_that_lands_on_another_instance_records_the_held_click() {
    let mock = MockServer::start().await.unwrap();
    let instance = || {
        let config = AppConfig::new(mock.client(), mock.program_id().to_string(), None);
        let held = HeldClickKey::from_secret(SECRET).unwrap();
        lambda_signup::app(config, Duration::from_secs(2), held)
    };
    let (first, second) = (instance(), instance());

    // The gateway appends the visitor's address to `X-Forwarded-For`.
    let landing = Request::get("/?aff=partner")
        .header("host", "shop.example")
        .header("user-agent", BROWSER)
        .header("cookie", "cookie_consent=necessary")
        .header("x-forwarded-for", "203.0.113.7")
        .body(Body::empty())
        .unwrap();
    let page = first.oneshot(landing).await.unwrap();
    let page = to_bytes(page.into_body(), 1 << 20).await.unwrap();
    let page = String::from_utf8_lossy(&page);
    let start = r#"<meta name="affitor-held-click" content=""#;
    let held = page
        .split_once(start)
        .and_then(|(_, rest)| rest.split_once('"'))
        .map(|(held, _)| held.to_owned())
        .expect("the page holds the visit");
    assert!(mock.clicks().is_empty(), "nothing recorded before consent");

    let consent = Request::post("/api/consent")
        .header("host", "shop.example")
        .header("user-agent", BROWSER)
        .header("cookie", "cookie_consent=all")
        .header("sec-fetch-site", "same-origin")
        .header("affitor-held-click", &held)
        .header("x-forwarded-for", "203.0.113.7")
        .body(Body::empty())
        .unwrap();
    let answer = second.oneshot(consent).await.unwrap();
    assert_eq!(answer.status(), StatusCode::NO_CONTENT);
    let clicks = mock.clicks();
    assert_eq!(clicks.len(), 1, "{clicks:?}");
    assert_eq!(clicks[0].partner_code.as_deref(), Some("partner"));
}
