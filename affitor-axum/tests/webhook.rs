//! `WebhookEvent<Stripe>` and `WebhookEvent<Polar>` on a real axum `Router`, against the local Affitor API
//! stand-in: the one-line handlers, and every refused delivery with its answer.
#![allow(clippy::unwrap_used)] // a test fails loudly on purpose

use std::time::{Duration, SystemTime};

use affitor::client::RetryPolicy;
use affitor_axum::affitor::webhook::{Polar, Stripe, Verifier};
use affitor_axum::{AffitorClient, AffitorLayer, Client, WebhookEvent};
use affitor_mock::{Fault, MockServer, SignedWebhook};
use axum::Router;
use axum::body::Body;
use axum::extract::{FromRef, State};
use axum::routing::post;
use http::{Request, StatusCode};
use http_body_util::BodyExt;
use serde_json::json;
use tower::ServiceExt;

const STRIPE_SECRET: &str = "whsec_axum_test_key";
const POLAR_SECRET: &str = "polar_whs_axum_test";

#[derive(Clone, FromRef)]
struct AppState {
    affitor: Client,
    stripe: Verifier<Stripe>,
    polar: Verifier<Polar>,
}

/// The handlers a user writes: one line each, the client from the layer or from the state.
async fn stripe(affitor: AffitorClient, event: WebhookEvent<Stripe>) -> StatusCode {
    event.track(affitor.client()).await
}

async fn polar(State(affitor): State<Client>, event: WebhookEvent<Polar>) -> StatusCode {
    event.track(&affitor).await
}

async fn app() -> (MockServer, Router) {
    let mock = MockServer::start().await.unwrap();
    mock.click_with_id("partner", "cust_axum_1".parse().unwrap());
    let affitor = mock
        .client_builder()
        .retry(
            RetryPolicy::default()
                .base_delay(Duration::from_millis(5))
                .max_delay(Duration::from_millis(20))
                .deadline(Duration::from_secs(2)),
        )
        .build()
        .unwrap();
    let state = AppState {
        affitor: affitor.clone(),
        stripe: Verifier::<Stripe>::builder()
            .secret(STRIPE_SECRET)
            .body_limit(4096)
            .build()
            .unwrap(),
        polar: Verifier::<Polar>::new(POLAR_SECRET).unwrap(),
    };
    let router = Router::new()
        .route("/webhooks/stripe", post(stripe))
        .route("/webhooks/polar", post(polar))
        .with_state(state)
        .layer(AffitorLayer::new().client(affitor));
    (mock, router)
}

fn checkout_completed(payment_intent: &str) -> String {
    json!({
        "id": "evt_axum", "type": "checkout.session.completed",
        "data": { "object": {
            "object": "checkout.session", "mode": "payment", "payment_status": "paid",
            "payment_intent": payment_intent, "amount_total": 4900, "currency": "usd",
            "metadata": { "affitor_click_id": "cust_axum_1", "affitor_customer_key": "user_1" },
        }},
    })
    .to_string()
}

async fn deliver(app: &Router, path: &str, signed: &SignedWebhook) -> (StatusCode, String) {
    let mut request = Request::post(path);
    for (name, value) in signed.headers() {
        request = request.header(name, value);
    }
    let request = request.body(Body::from(signed.body().to_owned())).unwrap();
    let response = app.clone().oneshot(request).await.unwrap();
    let status = response.status();
    let body = response.into_body().collect().await.unwrap().to_bytes();
    (status, String::from_utf8_lossy(&body).into_owned())
}

#[tokio::test]
async fn a_signed_stripe_event_is_one_sale_however_often_it_comes() {
    let (mock, app) = app().await;
    let signed = SignedWebhook::stripe(STRIPE_SECRET, checkout_completed("pi_axum_1"));
    for _ in 0..2 {
        let (status, body) = deliver(&app, "/webhooks/stripe", &signed).await;
        assert_eq!(status, StatusCode::OK, "{body}");
    }
    let sales = mock.sales();
    assert_eq!(sales.len(), 1);
    assert_eq!(sales[0].transaction_id, "pi_axum_1");
}

#[tokio::test]
async fn a_signed_polar_order_is_a_sale() {
    let (mock, app) = app().await;
    let order = json!({"type": "order.paid", "data": {
        "id": "order_axum_1", "total_amount": 1900, "currency": "usd", "billing_reason": "purchase",
        "metadata": {"reference_id": "cust_axum_1"},
    }});
    let signed = SignedWebhook::polar(POLAR_SECRET, order.to_string());
    let (status, body) = deliver(&app, "/webhooks/polar", &signed).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(mock.sales()[0].transaction_id, "order_axum_1");
}

#[tokio::test]
async fn refused_deliveries_say_why_and_send_nothing() {
    let (mock, app) = app().await;
    let body = checkout_completed("pi_axum_2");
    let an_hour_ago = SystemTime::now() - Duration::from_secs(3600);
    let cases = [
        (
            SignedWebhook::stripe("whsec_someone_else", body.clone()),
            StatusCode::BAD_REQUEST,
            "no webhook signature matches",
        ),
        (
            SignedWebhook::stripe_at(STRIPE_SECRET, body.clone(), an_hour_ago),
            StatusCode::BAD_REQUEST,
            "too old",
        ),
        (
            SignedWebhook::stripe(STRIPE_SECRET, "not json"),
            StatusCode::BAD_REQUEST,
            "not JSON",
        ),
        (
            SignedWebhook::stripe(
                STRIPE_SECRET,
                format!("{{\"pad\":\"{}\"}}", "x".repeat(5000)),
            ),
            StatusCode::PAYLOAD_TOO_LARGE,
            "more than 4096 bytes",
        ),
        (
            SignedWebhook::polar(POLAR_SECRET, body.clone()),
            StatusCode::BAD_REQUEST,
            "no signature header",
        ),
    ];
    for (signed, expected, message) in cases {
        let (status, text) = deliver(&app, "/webhooks/stripe", &signed).await;
        assert_eq!(status, expected, "{text}");
        assert!(text.contains(message), "{text}");
        assert!(!text.contains(STRIPE_SECRET), "{text}");
    }
    // A Stripe delivery to the Polar route lacks the Standard Webhooks headers.
    let signed = SignedWebhook::stripe(STRIPE_SECRET, body);
    let (status, text) = deliver(&app, "/webhooks/polar", &signed).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{text}");
    assert!(mock.requests().is_empty());
}

#[tokio::test]
async fn the_provider_is_asked_to_redeliver_while_the_api_is_down() {
    let (mock, app) = app().await;
    let signed = SignedWebhook::stripe(STRIPE_SECRET, checkout_completed("pi_axum_3"));
    mock.inject(Fault::status(503).always());
    let (status, _) = deliver(&app, "/webhooks/stripe", &signed).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    mock.clear_faults();
    let (status, _) = deliver(&app, "/webhooks/stripe", &signed).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(mock.sales().len(), 1);
}

/// A body that trickles in held the extractor, its connection and its buffer for as long as
/// the sender liked: over a real connection, it is answered 408 once the verifier's
/// `body_timeout` passes.
#[tokio::test]
async fn a_body_that_does_not_come_is_answered_408() {
    let (mock, router) = slow_stripe_route().await;
    let answer = stalled_delivery(router).await;
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(answer.contains("body_timeout"), "{answer}");
    assert!(mock.requests().is_empty());
}

/// Behind the Affitor layer, which waits for a JSON body to look for a click id first, the
/// extractor's `body_timeout` counts from when the layer began to wait: the delivery is still
/// answered 408 by the extractor, the two waits not added up.
#[tokio::test]
async fn a_body_that_does_not_come_is_answered_408_behind_the_layer() {
    use affitor_axum::affitor_tower::lookup::ClickIdSearch;

    let (mock, router) = slow_stripe_route().await;
    let search = ClickIdSearch::default().body_timeout(Duration::from_millis(300));
    let router = router.layer(AffitorLayer::new().client(mock.client()).search(search));
    let answer = stalled_delivery(router).await;
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(answer.contains("body_timeout"), "{answer}");
    assert!(mock.requests().is_empty());
}

/// A body over a limit set in front of the extractor (as tower-http's `RequestBodyLimitLayer`
/// wraps the body in `http_body_util::Limited`) is answered 413, as axum's own extractors
/// answer it, rather than 400 with the transport's words.
#[tokio::test]
async fn a_body_over_an_outer_limit_is_answered_413() {
    let (mock, router) = stripe_route(Duration::from_secs(10)).await;
    let router = router.layer(axum::middleware::map_request(
        |request: Request<Body>| async move {
            request.map(|body| Body::new(http_body_util::Limited::new(body, 64)))
        },
    ));
    let signed = SignedWebhook::stripe(STRIPE_SECRET, checkout_completed("pi_axum_limited"));
    let mut request = Request::post("/webhooks/stripe");
    for (name, value) in signed.headers() {
        request = request.header(name, value);
    }
    let response = router
        .oneshot(request.body(Body::from(signed.body().to_owned())).unwrap())
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::PAYLOAD_TOO_LARGE);
    let text = response.into_body().collect().await.unwrap().to_bytes();
    let text = String::from_utf8_lossy(&text);
    assert!(text.contains("raise that limit"), "{text}");
    assert!(mock.requests().is_empty());
}

/// `body_timeout(Duration::MAX)` sets no limit: a body that comes in two parts, the second
/// after a pause, is read whole and tracked (the deadline overflowed, and was taken as now).
#[tokio::test]
async fn a_body_timeout_of_duration_max_sets_no_limit() {
    let (mock, router) = stripe_route(Duration::MAX).await;
    mock.click_with_id("partner", "cust_axum_1".parse().unwrap());
    let answer = delivery_in_two_parts(router, Duration::from_millis(300)).await;
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert_eq!(mock.sales().len(), 1);
}

/// A Stripe route whose verifier waits 200 ms for a body, and its stand-in.
async fn slow_stripe_route() -> (MockServer, Router) {
    stripe_route(Duration::from_millis(200)).await
}

/// A Stripe route whose verifier waits `body_timeout` for a body, and its stand-in.
async fn stripe_route(body_timeout: Duration) -> (MockServer, Router) {
    let mock = MockServer::start().await.unwrap();
    let stripe_verifier = Verifier::<Stripe>::builder()
        .secret(STRIPE_SECRET)
        .body_timeout(body_timeout)
        .build()
        .unwrap();
    let router = Router::new()
        .route(
            "/webhooks/stripe",
            post(
                |State(affitor): State<Client>, event: WebhookEvent<Stripe>| async move {
                    event.track(&affitor).await
                },
            ),
        )
        .with_state(AppState {
            affitor: mock.client(),
            stripe: stripe_verifier,
            polar: Verifier::<Polar>::new(POLAR_SECRET).unwrap(),
        });
    (mock, router)
}

/// Serves `router` on a real port, sends it a signed Stripe delivery whose body stops after 10
/// bytes, and returns what it answered (the test waits at most 30 s).
async fn stalled_delivery(router: Router) -> String {
    delivery_paused(router, None).await
}

/// Serves `router` on a real port, sends it a signed Stripe delivery whose body's first 10
/// bytes come at once and the rest after `pause`, and returns what it answered.
async fn delivery_in_two_parts(router: Router, pause: Duration) -> String {
    delivery_paused(router, Some(pause)).await
}

/// A signed Stripe delivery to `router` on a real port: 10 bytes of its body, then the rest
/// after the pause, or nothing more without one; what it answered (waited for 30 s at most).
async fn delivery_paused(router: Router, pause: Option<Duration>) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, router).await });

    let signed = SignedWebhook::stripe(STRIPE_SECRET, checkout_completed("pi_axum_slow"));
    let mut head = format!(
        "POST /webhooks/stripe HTTP/1.1\r\nHost: test\r\nContent-Length: {}\r\n",
        signed.body().len()
    );
    for (name, value) in signed.headers() {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str("\r\n");
    let mut stream = tokio::net::TcpStream::connect(address).await.unwrap();
    stream.write_all(head.as_bytes()).await.unwrap();
    stream
        .write_all(&signed.body().as_bytes()[..10])
        .await
        .unwrap();
    // Then the rest after the pause, or nothing more: the answer comes anyway.
    if let Some(pause) = pause {
        tokio::time::sleep(pause).await;
        stream
            .write_all(&signed.body().as_bytes()[10..])
            .await
            .unwrap();
    }
    let mut answer = vec![0; 1024];
    let read = tokio::time::timeout(Duration::from_secs(30), stream.read(&mut answer))
        .await
        .expect("an answer")
        .unwrap();
    String::from_utf8_lossy(&answer[..read]).into_owned()
}
