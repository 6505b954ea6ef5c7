//! `AffitorLayer::capture_clicks` in an axum app, against the local stand-in API over real HTTP
//! on 127.0.0.1: what is recorded, the cookies and `Cache-Control` on the response, what is
//! left alone, and, whenever the click is not recorded, no cookie and a page kept out of shared
//! caches.
#![cfg(all(feature = "layer", feature = "capture"))]
#![allow(clippy::unwrap_used)] // Tests may unwrap.

use std::time::Duration;

use affitor::client::Endpoint;
use affitor::client::RetryPolicy;
use affitor_mock::{Fault, MockServer};
use affitor_tower::{AffitorLayer, Client, capture::CaptureClicks, lookup::ClickIdLookup};
use axum::Router;
use axum::body::Body;
use axum::http::{HeaderMap, Request, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde_json::json;
use tower::ServiceExt;

mod limit;

const BROWSER: &str = "Mozilla/5.0 (X11; Linux x86_64; rv:140.0) Gecko/20100101 Firefox/140.0";

fn client(mock: &MockServer) -> Client {
    mock.client_builder()
        .retry(RetryPolicy::default().base_delay(Duration::from_millis(5)))
        .build()
        .unwrap()
}

/// The app: `/` answers a page; `/own-cookie` sets `affitor_click_id` itself; `/cached` is
/// public for a minute; `/session` sets a cookie of its own; `/slow` takes a while.
fn app(mock: &MockServer, capture: CaptureClicks) -> Router {
    async fn page() -> &'static str {
        "<h1>Welcome</h1>"
    }
    Router::new()
        .route("/", get(page))
        .route(
            "/own-cookie",
            get(|| async {
                (
                    [(header::SET_COOKIE, "affitor_click_id=mine; Path=/")],
                    "mine",
                )
            }),
        )
        .route(
            "/cached",
            get(|| async { ([(header::CACHE_CONTROL, "public, max-age=60")], "cached") }),
        )
        .route(
            "/session",
            get(|| async {
                (
                    [(header::SET_COOKIE, "session=s1; HttpOnly; Path=/")],
                    "session",
                )
            }),
        )
        .route(
            "/cdn",
            get(|| async {
                (
                    [
                        ("cache-control", "public, max-age=60"),
                        (CDN_CACHE_CONTROLS[0], "max-age=600"),
                        (CDN_CACHE_CONTROLS[1], "max-age=600"),
                        (CDN_CACHE_CONTROLS[2], "max-age=600"),
                    ],
                    "cdn",
                )
            }),
        )
        .route(
            "/private-field",
            get(|| async {
                (
                    [(header::CACHE_CONTROL, "private=\"set-cookie\", max-age=60")],
                    "private-field",
                )
            }),
        )
        .route(
            "/slow",
            get(|| async {
                tokio::time::sleep(Duration::from_millis(300)).await;
                "slow"
            }),
        )
        .route(
            "/lookup",
            get(
                |axum::Extension(lookup): axum::Extension<ClickIdLookup>| async move {
                    lookup
                        .click_id()
                        .map_or("none".to_owned(), |id| id.to_string())
                },
            ),
        )
        .layer(
            AffitorLayer::new()
                .client(client(mock))
                .capture_clicks(capture),
        )
}

/// The cache controls a CDN obeys over `Cache-Control` (RFC 9213 and its forerunners).
const CDN_CACHE_CONTROLS: [&str; 3] = [
    "cdn-cache-control",
    "cloudflare-cdn-cache-control",
    "surrogate-control",
];

/// A browser's navigation to `target` on `shop.example`, with extra headers.
fn visit(method: &str, target: &str, extra: &[(&str, &str)]) -> Request<Body> {
    let mut request = Request::builder()
        .method(method)
        .uri(target)
        .header("host", "shop.example")
        .header("user-agent", BROWSER)
        .header("sec-fetch-mode", "navigate");
    for (name, value) in extra {
        request = request.header(*name, *value);
    }
    request.body(Body::empty()).unwrap()
}

async fn call(app: &Router, request: Request<Body>) -> (Response, String) {
    let response = app.clone().oneshot(request).await.unwrap();
    let (parts, body) = response.into_parts();
    let bytes = axum::body::to_bytes(body, 1 << 20).await.unwrap();
    let text = String::from_utf8_lossy(&bytes).into_owned();
    (Response::from_parts(parts, Body::empty()), text)
}

fn set_cookies(headers: &HeaderMap) -> Vec<String> {
    headers
        .get_all(header::SET_COOKIE)
        .iter()
        .map(|value| value.to_str().unwrap().to_owned())
        .collect()
}

fn cookie_value<'a>(set_cookies: &'a [String], name: &str) -> Option<&'a str> {
    set_cookies.iter().find_map(|set_cookie| {
        let pair = set_cookie.split(';').next()?;
        let (key, value) = pair.split_once('=')?;
        (key == name).then_some(value)
    })
}

/// Asserts the response to a partner link that was not recorded is the page as the handler
/// made it, with no cookie, kept out of shared caches: `Cache-Control: private` and
/// `Vary: cookie`, so that a CDN never serves this cookieless copy to the link's next visitor.
fn assert_served_private(response: &Response, text: &str, expected: &str) {
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(text, expected);
    assert_private_without_cookies(response.headers(), "");
}

fn assert_private_without_cookies(headers: &HeaderMap, described: &str) {
    assert!(set_cookies(headers).is_empty(), "{described} {headers:?}");
    assert_eq!(
        headers.get(header::CACHE_CONTROL).unwrap(),
        "private",
        "{described}"
    );
    assert_eq!(headers.get(header::VARY).unwrap(), "cookie", "{described}");
}

#[tokio::test]
async fn a_partner_link_is_recorded_and_the_cookies_set() {
    let mock = MockServer::start().await.unwrap();
    let app = app(&mock, CaptureClicks::new());
    let (response, text) = call(
        &app,
        visit(
            "GET",
            "/?aff=partner&utm_source=news",
            &[("referer", "https://news.example/")],
        ),
    )
    .await;
    assert_eq!(text, "<h1>Welcome</h1>");

    let clicks = mock.clicks();
    assert_eq!(clicks.len(), 1);
    let click_id = clicks[0].click_id.clone().unwrap();
    assert_eq!(clicks[0].partner_code.as_deref(), Some("partner"));
    assert_eq!(clicks[0].user_agent.as_deref(), Some(BROWSER));
    let body = &mock.requests_to(Endpoint::Click)[0].body;
    assert_eq!(
        body["affiliate_url"],
        "http://shop.example/?aff=partner&utm_source=news"
    );
    assert_eq!(body["referrer_url"], "https://news.example/");

    let cookies = set_cookies(response.headers());
    assert_eq!(cookies.len(), 4, "{cookies:?}");
    assert_eq!(
        cookie_value(&cookies, "affitor_click_id"),
        Some(click_id.as_str())
    );
    assert_eq!(
        cookie_value(&cookies, "customer_code"),
        Some(click_id.as_str())
    );
    assert_eq!(
        cookie_value(&cookies, "affitor_click_ids"),
        Some(click_id.as_str())
    );
    assert_eq!(
        cookie_value(&cookies, "affitor_aff_url"),
        Some("http://shop.example/?aff=partner&utm_source=news")
    );
    for cookie in &cookies {
        assert!(
            cookie.contains("Path=/") && cookie.contains("SameSite=Lax"),
            "{cookie}"
        );
        assert!(
            cookie.contains("Max-Age=5184000") && cookie.contains("Expires="),
            "{cookie}"
        );
        assert!(
            !cookie.contains("HttpOnly") && !cookie.contains("Secure"),
            "{cookie}"
        );
    }
    assert_eq!(
        response.headers()[header::CACHE_CONTROL],
        "private, no-store"
    );
    mock.shutdown().await;
}

#[tokio::test]
async fn the_handler_sees_the_request_and_its_lookup_as_without_capture() {
    let mock = MockServer::start().await.unwrap();
    let app = app(&mock, CaptureClicks::new());
    let (_, text) = call(&app, visit("GET", "/lookup?aff=partner", &[])).await;
    assert_eq!(text, "none");
    let (_, text) = call(
        &app,
        visit(
            "GET",
            "/lookup?aff=partner",
            &[("cookie", "affitor_click_id=cust_1_1")],
        ),
    )
    .await;
    assert_eq!(text, "cust_1_1");
    mock.shutdown().await;
}

#[tokio::test]
async fn the_handlers_own_cookies_and_cache_control_are_kept() {
    let mock = MockServer::start().await.unwrap();
    let app = app(&mock, CaptureClicks::new());

    let (response, _) = call(&app, visit("GET", "/session?aff=partner", &[])).await;
    let cookies = set_cookies(response.headers());
    assert_eq!(cookies.len(), 5, "{cookies:?}");
    assert_eq!(cookies[0], "session=s1; HttpOnly; Path=/");

    let (response, _) = call(&app, visit("GET", "/cached?aff=partner", &[])).await;
    assert_eq!(set_cookies(response.headers()).len(), 4);
    assert_eq!(
        response.headers()[header::CACHE_CONTROL],
        "private, max-age=60"
    );

    // A response that sets the click id itself keeps its cookie, private to the browser.
    let (response, text) = call(&app, visit("GET", "/own-cookie?aff=partner", &[])).await;
    assert_eq!(text, "mine");
    assert_eq!(
        set_cookies(response.headers()),
        ["affitor_click_id=mine; Path=/"]
    );
    assert_eq!(response.headers()[header::CACHE_CONTROL], "private");
    mock.shutdown().await;
}

/// A CDN that obeys `CDN-Cache-Control` (or Cloudflare's, or `Surrogate-Control`) over
/// `Cache-Control` would store a partner link's response, cookies or none: they are removed
/// from it. A field-qualified `private="set-cookie"` lets a shared cache store the rest: the
/// response is made private.
#[tokio::test]
async fn a_cdns_own_cache_controls_are_removed_from_a_partner_links_response() {
    let mock = MockServer::start().await.unwrap();
    let app = app(&mock, CaptureClicks::new());
    let prefetch = [("sec-purpose", "prefetch")];
    let cdn_controls = |headers: &HeaderMap| {
        CDN_CACHE_CONTROLS
            .iter()
            .filter(|name| headers.contains_key(**name))
            .count()
    };

    // Recorded: the cookies, and no CDN may store them.
    let (response, _) = call(&app, visit("GET", "/cdn?aff=partner", &[])).await;
    assert_eq!(set_cookies(response.headers()).len(), 4);
    assert_eq!(
        response.headers()[header::CACHE_CONTROL],
        "private, max-age=60"
    );
    assert_eq!(cdn_controls(response.headers()), 0, "{response:?}");
    // Not recorded: the cookieless copy, which no CDN may store either.
    let (response, _) = call(&app, visit("GET", "/cdn?aff=partner", &prefetch)).await;
    assert!(set_cookies(response.headers()).is_empty());
    assert_eq!(
        response.headers()[header::CACHE_CONTROL],
        "private, max-age=60"
    );
    assert_eq!(cdn_controls(response.headers()), 0, "{response:?}");
    // No partner link: the handler's headers, untouched.
    let (response, _) = call(&app, visit("GET", "/cdn", &[])).await;
    assert_eq!(cdn_controls(response.headers()), 3, "{response:?}");

    let (response, _) = call(&app, visit("GET", "/private-field?aff=partner", &prefetch)).await;
    assert_eq!(
        response.headers()[header::CACHE_CONTROL],
        "private, max-age=60"
    );
    assert_eq!(response.headers()[header::VARY], "cookie");
    mock.shutdown().await;
}

#[tokio::test]
async fn what_is_not_a_click_reaches_no_api_and_changes_no_page() {
    let mock = MockServer::start().await.unwrap();
    let app = app(&mock, CaptureClicks::new());
    let same_partner =
        "affitor_click_id=cust_1_1; affitor_aff_url=http://shop.example/?aff=partner";
    // No partner link: the page is untouched.
    for request in [
        visit("GET", "/", &[]),
        visit("GET", "/?aff=not%20valid", &[]),
    ] {
        let response = app.clone().oneshot(request).await.unwrap();
        assert!(set_cookies(response.headers()).is_empty());
        assert!(response.headers().get(header::CACHE_CONTROL).is_none());
        assert!(response.headers().get(header::VARY).is_none());
    }
    // A partner link not recorded: no cookie, and kept out of shared caches.
    let requests = [
        visit("HEAD", "/?aff=partner", &[]),
        visit("POST", "/?aff=partner", &[]),
        visit("GET", "/?aff=partner", &[("sec-purpose", "prefetch")]),
        visit("GET", "/?aff=partner", &[("purpose", "prefetch")]),
        visit("GET", "/?aff=partner", &[("cookie", same_partner)]),
        Request::get("/?aff=partner")
            .header("host", "shop.example")
            .header(
                "user-agent",
                "Slackbot-LinkExpanding 1.0 (+https://api.slack.com/robots)",
            )
            .body(Body::empty())
            .unwrap(),
    ];
    for request in requests {
        let described = format!(
            "{} {} {:?}",
            request.method(),
            request.uri(),
            request.headers()
        );
        let response = app.clone().oneshot(request).await.unwrap();
        assert_private_without_cookies(response.headers(), &described);
    }
    assert!(mock.requests_to(Endpoint::Click).is_empty());
    mock.shutdown().await;
}

#[tokio::test]
async fn a_partner_change_sends_the_earlier_click_id() {
    let mock = MockServer::start().await.unwrap();
    mock.link("newpartner");
    let earlier = mock.click("partner");
    let app = app(&mock, CaptureClicks::new());
    let cookie = format!(
        "affitor_click_id={earlier}; affitor_click_ids={earlier}; \
         affitor_aff_url=http://shop.example/?aff=partner"
    );
    let (response, _) = call(
        &app,
        visit("GET", "/?aff=newpartner", &[("cookie", &cookie)]),
    )
    .await;
    let recorded = mock.clicks().pop().unwrap();
    assert_eq!(
        recorded.existing_click_id.as_deref(),
        Some(earlier.as_str())
    );
    let click_id = recorded.click_id.unwrap();
    let cookies = set_cookies(response.headers());
    assert_eq!(
        cookie_value(&cookies, "affitor_click_id"),
        Some(click_id.as_str())
    );
    let ids = cookie_value(&cookies, "affitor_click_ids").unwrap();
    if click_id != earlier {
        assert_eq!(ids, format!("{earlier}%7C{click_id}"));
    }
    mock.shutdown().await;
}

#[tokio::test]
async fn the_page_is_served_unchanged_when_the_api_does_not_record_the_click() {
    let mock = MockServer::start().await.unwrap();
    mock.inactive_link("sleeping");
    let app = app(&mock, CaptureClicks::new());
    // 400 "Referral link not found", and `success: false` for an inactive link.
    for target in ["/?aff=unknown", "/?aff=sleeping"] {
        let (response, text) = call(&app, visit("GET", target, &[])).await;
        assert_served_private(&response, &text, "<h1>Welcome</h1>");
    }
    // 5xx, a dropped connection, and a click id that is not a valid `ClickId`.
    for fault in [
        Fault::status(500).always(),
        Fault::drop_connection().always(),
        Fault::response(200, json!({"success": true, "click_id": "bad id; Path=/x"})).always(),
    ] {
        mock.clear_faults();
        mock.inject(fault.on(Endpoint::Click));
        let (response, text) = call(&app, visit("GET", "/?aff=partner", &[])).await;
        assert_served_private(&response, &text, "<h1>Welcome</h1>");
    }
    mock.shutdown().await;
}

#[tokio::test]
async fn the_page_does_not_wait_for_a_slow_api_past_the_deadline() {
    let mock = MockServer::start().await.unwrap();
    mock.inject(Fault::delay(Duration::from_secs(60)).on(Endpoint::Click));
    let app = app(
        &mock,
        CaptureClicks::new().deadline(Duration::from_millis(100)),
    );
    // A guard against a hang, not a measure of speed: the API answers after a minute.
    let (response, text) = tokio::time::timeout(
        Duration::from_secs(30),
        call(&app, visit("GET", "/?aff=partner", &[])),
    )
    .await
    .expect("the page is served without the API's answer");
    assert_served_private(&response, &text, "<h1>Welcome</h1>");
    mock.shutdown().await;
}

#[tokio::test]
async fn the_click_call_runs_beside_a_slow_handler() {
    let mock = MockServer::start().await.unwrap();
    // The handler takes 300 ms, longer than the deadline: the click, sent when the request
    // arrived, answered meanwhile.
    let app = app(&mock, CaptureClicks::new().deadline(Duration::from_secs(5)));
    let (response, text) = call(&app, visit("GET", "/slow?aff=partner", &[])).await;
    assert_eq!(text, "slow");
    assert_eq!(set_cookies(response.headers()).len(), 4);
    mock.shutdown().await;
}

#[tokio::test]
async fn consent_and_extra_bots_are_honoured() {
    let mock = MockServer::start().await.unwrap();
    let capture = CaptureClicks::new()
        .consent(|visit| visit.cookie("consent") == Some("yes"))
        .bot_user_agent("Firefox/140");
    let app = app(&mock, capture);
    let (response, _) = call(
        &app,
        visit("GET", "/?aff=partner", &[("cookie", "consent=yes")]),
    )
    .await;
    assert!(
        set_cookies(response.headers()).is_empty(),
        "a Firefox/140 is a bot here"
    );

    let capture = CaptureClicks::new().consent(|visit| visit.cookie("consent") == Some("yes"));
    let app = self::app(&mock, capture);
    let (response, _) = call(
        &app,
        visit("GET", "/?aff=partner", &[("cookie", "consent=no")]),
    )
    .await;
    assert!(set_cookies(response.headers()).is_empty());
    assert!(mock.requests_to(Endpoint::Click).is_empty());
    let (response, _) = call(
        &app,
        visit("GET", "/?aff=partner", &[("cookie", "consent=yes")]),
    )
    .await;
    assert_eq!(set_cookies(response.headers()).len(), 4);
    mock.shutdown().await;
}

#[tokio::test]
async fn secure_and_domain_follow_the_options() {
    let mock = MockServer::start().await.unwrap();
    let capture = CaptureClicks::new()
        .cookie_domain("shop.example")
        .trust_proxy_headers(affitor_tower::capture::ProxyHeaders::XForwarded);
    let app = app(&mock, capture);
    let (response, _) = call(
        &app,
        visit("GET", "/?aff=partner", &[("x-forwarded-proto", "https")]),
    )
    .await;
    for cookie in set_cookies(response.headers()) {
        assert!(
            cookie.contains("; Secure") && cookie.contains("; Domain=shop.example"),
            "{cookie}"
        );
    }
    let body = &mock.requests_to(Endpoint::Click)[0].body;
    assert_eq!(body["affiliate_url"], "https://shop.example/?aff=partner");
    mock.shutdown().await;
}

#[tokio::test]
async fn without_a_client_nothing_is_recorded() {
    let app = Router::new()
        .route("/", get(|| async { "page".into_response() }))
        .layer(AffitorLayer::new().capture_clicks(CaptureClicks::new()));
    // Capture is not running: the page goes out as the handler made it.
    let (response, text) = call(&app, visit("GET", "/?aff=partner", &[])).await;
    assert_eq!(text, "page");
    assert!(set_cookies(response.headers()).is_empty());
    assert!(response.headers().get(header::CACHE_CONTROL).is_none());
}

#[tokio::test]
async fn the_client_may_be_set_after_capture_clicks() {
    let mock = MockServer::start().await.unwrap();
    let app = Router::new().route("/", get(|| async { "page" })).layer(
        AffitorLayer::new()
            .capture_clicks(CaptureClicks::new())
            .client(client(&mock)),
    );
    let (response, _) = call(&app, visit("GET", "/?aff=partner", &[])).await;
    assert_eq!(set_cookies(response.headers()).len(), 4);
    mock.shutdown().await;
}
