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

/// The client's address, as a test server puts it among the extensions.
fn peer(extensions: &http::Extensions) -> Option<std::net::IpAddr> {
    extensions
        .get::<std::net::SocketAddr>()
        .map(std::net::SocketAddr::ip)
}

fn from(address: [u8; 4], mut request: Request<Body>) -> Request<Body> {
    let address = std::net::SocketAddr::from((address, 40_000));
    request.extensions_mut().insert(address);
    request
}

/// A flood of cookieless visits to partner links from one address is a bounded number of
/// click calls, counted; another visitor is still recorded; and without the bound, every
/// visit is a click.
#[tokio::test]
async fn a_flood_of_visits_is_a_bounded_number_of_clicks() {
    use affitor_tower::capture::ClickLimit;

    let mock = MockServer::start().await.unwrap();
    for n in 0..30 {
        mock.link(&format!("partner{n}"));
    }
    let capture = CaptureClicks::new().client_address_from(peer).click_limit(
        ClickLimit::default()
            .burst(10)
            .refill(Duration::from_secs(3600)),
    );
    let app = app(&mock, capture.clone());

    // The same link, 50 times: one click, the rest repeats of it.
    for _ in 0..50 {
        let (response, _) = call(
            &app,
            from([198, 51, 100, 7], visit("GET", "/?aff=partner", &[])),
        )
        .await;
        assert_eq!(response.status(), StatusCode::OK);
    }
    assert_eq!(mock.requests_to(Endpoint::Click).len(), 1);
    // 30 partners' links: the burst of 10 (the first visit above was one), then nothing.
    for n in 0..30 {
        let target = format!("/?aff=partner{n}");
        let (response, text) =
            call(&app, from([198, 51, 100, 7], visit("GET", &target, &[]))).await;
        if n >= 9 {
            assert_served_private(&response, &text, "<h1>Welcome</h1>");
        }
    }
    assert_eq!(mock.requests_to(Endpoint::Click).len(), 10);
    let stats = capture.stats();
    assert_eq!(
        (stats.recorded, stats.repeated, stats.rate_limited),
        (10, 49, 21),
        "{stats:?}"
    );
    // Another visitor is recorded.
    let (response, _) = call(
        &app,
        from([203, 0, 113, 9], visit("GET", "/?aff=partner", &[])),
    )
    .await;
    assert_eq!(set_cookies(response.headers()).len(), 4);
    assert_eq!(mock.requests_to(Endpoint::Click).len(), 11);

    // Without the bound, each visit is a click.
    let unbounded = app_with(&mock, CaptureClicks::new().click_limit(ClickLimit::none()));
    for _ in 0..20 {
        call(
            &unbounded,
            from([198, 51, 100, 7], visit("GET", "/?aff=partner", &[])),
        )
        .await;
    }
    assert_eq!(mock.requests_to(Endpoint::Click).len(), 31);
    mock.shutdown().await;
}

fn app_with(mock: &MockServer, capture: CaptureClicks) -> Router {
    app(mock, capture.client_address_from(peer))
}

/// An app that serves TLS itself gets `Secure` cookies, as actix-web's middleware gives them:
/// from an `https` request URI (HTTP/2's `:scheme`, an absolute URI), or from
/// `CaptureClicks::secure(true)` when the server hands the layer origin-form URIs.
#[tokio::test]
async fn the_cookies_are_secure_when_the_app_serves_tls() {
    let mock = MockServer::start().await.unwrap();
    let secure = |response: &Response| {
        let cookies = set_cookies(response.headers());
        assert_eq!(cookies.len(), 4, "{cookies:?}");
        cookies.iter().all(|cookie| cookie.contains("; Secure"))
    };
    let app_of = |capture: CaptureClicks| app(&mock, capture);

    // The scheme of the request's URI.
    let absolute = visit("GET", "https://shop.example/?aff=partner", &[]);
    let (response, _) = call(&app_of(CaptureClicks::new()), absolute).await;
    assert!(secure(&response));
    // Origin-form, as most servers give it: plain unless configured.
    let (response, _) = call(
        &app_of(CaptureClicks::new()),
        visit("GET", "/?aff=partner", &[]),
    )
    .await;
    assert!(!secure(&response));
    let configured = CaptureClicks::new().secure(true);
    let (response, _) = call(&app_of(configured), visit("GET", "/?aff=partner", &[])).await;
    assert!(secure(&response));
    mock.shutdown().await;
}

/// The client's address, as `axum::serve` with `into_make_service_with_connect_info` puts it
/// among the extensions.
fn connect_info(extensions: &http::Extensions) -> Option<std::net::IpAddr> {
    extensions
        .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
        .map(|info| info.0.ip())
}

/// Serves `app` on 127.0.0.1 with each connection's peer address.
async fn serve(app: Router) -> (std::net::SocketAddr, tokio::task::JoinHandle<()>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let service = app.into_make_service_with_connect_info::<std::net::SocketAddr>();
    let server = tokio::spawn(async move {
        axum::serve(listener, service).await.unwrap();
    });
    (address, server)
}

/// A browser's `GET` of `target` over a connection of its own, without cookies: the
/// `Set-Cookie` values and the `Cache-Control` of the answer.
async fn browse(server: std::net::SocketAddr, target: &str) -> (Vec<String>, Option<String>) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    let mut stream = tokio::net::TcpStream::connect(server).await.unwrap();
    let request = format!(
        "GET {target} HTTP/1.1\r\nHost: shop.example\r\nUser-Agent: {BROWSER}\r\n\
         Sec-Fetch-Mode: navigate\r\nConnection: close\r\n\r\n"
    );
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut answer = Vec::new();
    stream.read_to_end(&mut answer).await.unwrap();
    let answer = String::from_utf8(answer).unwrap();
    let (head, _) = answer.split_once("\r\n\r\n").unwrap();
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    let values = |wanted: &str| {
        head.lines()
            .filter_map(|line| line.split_once(':'))
            .filter(|(name, _)| name.eq_ignore_ascii_case(wanted))
            .map(|(_, value)| value.trim().to_owned())
            .collect::<Vec<_>>()
    };
    (values("set-cookie"), values("cache-control").pop())
}

/// A visitor who opens a partner link, then opens it again in a second browser moments later
/// (the same address, no cookies yet), gets the same click id in both, from a real axum
/// server: one click call. The same when the second visit arrives while the first's call still
/// runs.
#[tokio::test]
async fn a_repeat_visit_gets_the_click_it_repeats_on_a_real_server() {
    let mock = MockServer::start().await.unwrap();
    mock.link("other");
    let capture = CaptureClicks::new().client_address_from(connect_info);
    let (server, serving) = serve(app(&mock, capture.clone())).await;

    let (first, first_cache) = browse(server, "/?aff=partner").await;
    let (second, second_cache) = browse(server, "/?aff=partner").await;
    assert_eq!(mock.requests_to(Endpoint::Click).len(), 1);
    let recorded = mock.clicks()[0].click_id.clone().unwrap().into_string();
    assert_eq!(first.len(), 4, "{first:?}");
    assert_eq!(second.len(), 4, "{second:?}");
    for cookies in [&first, &second] {
        assert_eq!(
            cookie_value(cookies, "affitor_click_id"),
            Some(recorded.as_str())
        );
    }
    // The companions too: the same cookies as the first visit's (their expiry counted from
    // each visit), and kept out of shared caches.
    let undated = |cookies: &[String]| {
        cookies
            .iter()
            .map(|cookie| {
                let attributes = cookie.split("; ");
                let kept = attributes.filter(|attribute| !attribute.starts_with("Expires="));
                kept.collect::<Vec<_>>().join("; ")
            })
            .collect::<Vec<_>>()
    };
    assert_eq!(undated(&first), undated(&second));
    assert_eq!(first_cache.as_deref(), Some("private, no-store"));
    assert_eq!(second_cache, first_cache);

    // The second browser while the first visit's call still runs: it waits for that answer.
    mock.inject(Fault::delay(Duration::from_millis(150)).on(Endpoint::Click));
    let (one, two) = tokio::join!(browse(server, "/?aff=other"), async {
        tokio::time::sleep(Duration::from_millis(30)).await;
        browse(server, "/?aff=other").await
    });
    assert_eq!(mock.requests_to(Endpoint::Click).len(), 2);
    let recorded = mock.clicks()[1].click_id.clone().unwrap().into_string();
    for (cookies, _) in [&one, &two] {
        assert_eq!(
            cookie_value(cookies, "affitor_click_id"),
            Some(recorded.as_str()),
            "{cookies:?}"
        );
    }
    let stats = capture.stats();
    assert_eq!((stats.recorded, stats.repeated), (2, 2), "{stats:?}");
    serving.abort();
    mock.shutdown().await;
}

/// A flood on one partner's link from ever new addresses spends that partner's bound: a visitor
/// of another partner still gets a click id, and the visits held back are counted.
#[tokio::test]
async fn a_flood_on_one_partner_leaves_clicks_for_the_others() {
    use affitor_tower::capture::ClickLimit;

    let mock = MockServer::start().await.unwrap();
    mock.link("flooded");
    let capture = CaptureClicks::new().client_address_from(peer).click_limit(
        ClickLimit::default()
            .per_partner(20, Duration::from_secs(3600))
            .total(50, Duration::from_secs(3600)),
    );
    let app = app(&mock, capture.clone());
    for n in 0..200u8 {
        let request = from([198, 51, n, 1], visit("GET", "/?aff=flooded", &[]));
        let (response, _) = call(&app, request).await;
        assert_eq!(response.status(), StatusCode::OK);
    }
    assert_eq!(mock.requests_to(Endpoint::Click).len(), 20);
    let (response, _) = call(
        &app,
        from([203, 0, 113, 9], visit("GET", "/?aff=partner", &[])),
    )
    .await;
    assert_eq!(set_cookies(response.headers()).len(), 4);
    assert_eq!(mock.requests_to(Endpoint::Click).len(), 21);
    let stats = capture.stats();
    assert_eq!(
        (stats.recorded, stats.rate_limited, stats.partner_limited),
        (21, 180, 180),
        "{stats:?}"
    );
    mock.shutdown().await;
}

/// A flood of invented partner codes, each visit from a new address (neither the address's
/// nor the partner's bound ever sees one twice), spends only the half of the total not kept
/// for the codes the API has recorded: the real partner's visitors keep getting their click
/// id. The API's refusals are learned: a refused code makes no second call.
#[tokio::test]
async fn a_flood_of_invented_codes_leaves_clicks_for_the_real_partners() {
    use affitor_tower::capture::ClickLimit;

    let mock = MockServer::start().await.unwrap();
    let capture = CaptureClicks::new()
        .client_address_from(peer)
        .click_limit(ClickLimit::default().total(41, Duration::from_secs(3600)));
    let app = app(&mock, capture.clone());
    // The real partner's first visitor: the API records the click; the code is known real.
    let (response, _) = call(
        &app,
        from([203, 0, 113, 1], visit("GET", "/?aff=partner", &[])),
    )
    .await;
    assert_eq!(set_cookies(response.headers()).len(), 4);

    // 200 invented codes from 200 addresses: of the 40 clicks left, they get the 20 not kept,
    // visits' calls and the probes (each code alone) that confirm their refusals, beside the
    // pages: the probes add no call to what the limit lets through.
    for n in 0..200u8 {
        let target = format!("/?aff=inv{n}");
        let (response, _) = call(&app, from([198, 51, n, 1], visit("GET", &target, &[]))).await;
        assert_eq!(response.status(), StatusCode::OK);
        assert!(set_cookies(response.headers()).is_empty());
    }
    // The last probe may still be on its way: the pages do not wait for it.
    let calls = affitor_mock::poll_until(Duration::from_secs(5), async || {
        let calls = mock.requests_to(Endpoint::Click).len();
        (calls >= 21).then_some(calls)
    })
    .await;
    assert_eq!(calls, Some(21));

    // The real partner's next 20 visitors, each from an address of their own: every one gets
    // a click id.
    for n in 0..20u8 {
        let (response, _) = call(
            &app,
            from([203, 0, 113, 10 + n], visit("GET", "/?aff=partner", &[])),
        )
        .await;
        assert_eq!(set_cookies(response.headers()).len(), 4, "visitor {n}");
    }
    assert_eq!(mock.requests_to(Endpoint::Click).len(), 41);

    // An invented code the API refused makes no second call, from any address.
    call(
        &app,
        from([198, 51, 250, 1], visit("GET", "/?aff=inv0", &[])),
    )
    .await;
    assert_eq!(mock.requests_to(Endpoint::Click).len(), 41);
    // A visit's call carries the visitor's user agent; a probe, the code alone.
    let probes = mock
        .requests_to(Endpoint::Click)
        .iter()
        .filter(|request| request.body.get("user_agent").is_none())
        .count() as u64;
    assert!(probes > 0, "the refusals are confirmed");
    let stats = capture.stats();
    assert_eq!(
        (stats.recorded, stats.total_limited, stats.refused_partner),
        (41 - probes, 180 + probes, 1),
        "{stats:?}"
    );
    mock.shutdown().await;
}
