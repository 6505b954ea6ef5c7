//! `WebhookEvent<Stripe>` and `WebhookEvent<Polar>` in a real actix-web app, against the local Affitor API
//! stand-in: the one-line handlers, and every refused delivery with its answer.

#![allow(clippy::unwrap_used)]

use std::time::{Duration, SystemTime};

use actix_web::http::StatusCode;
use actix_web::test::{self, TestRequest};
use actix_web::{App, HttpResponse, web};
use affitor_actix::affitor::client::RetryPolicy;
use affitor_actix::affitor::webhook::{Polar, Stripe, Verifier};
use affitor_actix::{Affitor, AffitorClient, Client, WebhookEvent};
use affitor_mock::{Fault, MockServer, SignedWebhook};
use serde_json::json;

const STRIPE_SECRET: &str = "whsec_actix_test_key";
const POLAR_SECRET: &str = "polar_whs_actix_test";

/// The handlers a user writes: one line each, the client from the middleware or the app data.
async fn stripe(affitor: AffitorClient, event: WebhookEvent<Stripe>) -> HttpResponse {
    event.track(affitor.client()).await
}

async fn polar(affitor: web::Data<Client>, event: WebhookEvent<Polar>) -> HttpResponse {
    event.track(affitor.get_ref()).await
}

async fn setup() -> (MockServer, Client) {
    let mock = MockServer::start().await.unwrap();
    mock.click_with_id("partner", "cust_actix_1".parse().unwrap());
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
    (mock, affitor)
}

macro_rules! app {
    ($affitor:expr) => {
        test::init_service(
            App::new()
                .wrap(Affitor::new().client($affitor.clone()))
                .app_data(web::Data::new($affitor.clone()))
                .app_data(web::Data::new(
                    Verifier::<Stripe>::builder()
                        .secret(STRIPE_SECRET)
                        .body_limit(4096)
                        .build()
                        .unwrap(),
                ))
                .app_data(Verifier::<Polar>::new(POLAR_SECRET).unwrap())
                .route("/webhooks/stripe", web::post().to(stripe))
                .route("/webhooks/polar", web::post().to(polar)),
        )
        .await
    };
}

fn request(path: &str, signed: &SignedWebhook) -> actix_http::Request {
    let mut request = TestRequest::post().uri(path);
    for (name, value) in signed.headers() {
        request = request.insert_header((name, value));
    }
    request.set_payload(signed.body().to_owned()).to_request()
}

fn checkout_completed(payment_intent: &str) -> String {
    json!({
        "id": "evt_actix", "type": "checkout.session.completed",
        "data": { "object": {
            "object": "checkout.session", "mode": "payment", "payment_status": "paid",
            "payment_intent": payment_intent, "amount_total": 4900, "currency": "usd",
            "metadata": { "affitor_click_id": "cust_actix_1", "affitor_customer_key": "user_1" },
        }},
    })
    .to_string()
}

#[actix_web::test]
async fn a_signed_stripe_event_is_one_sale_however_often_it_comes() {
    let (mock, affitor) = setup().await;
    let app = app!(affitor);
    let signed = SignedWebhook::stripe(STRIPE_SECRET, checkout_completed("pi_actix_1"));
    for _ in 0..2 {
        let response = test::call_service(&app, request("/webhooks/stripe", &signed)).await;
        assert_eq!(response.status(), StatusCode::OK);
    }
    let sales = mock.sales();
    assert_eq!(sales.len(), 1);
    assert_eq!(sales[0].transaction_id, "pi_actix_1");
}

#[actix_web::test]
async fn a_signed_polar_order_is_a_sale() {
    let (mock, affitor) = setup().await;
    let app = app!(affitor);
    let order = json!({"type": "order.paid", "data": {
        "id": "order_actix_1", "total_amount": 1900, "currency": "usd",
        "metadata": {"affitor_click_id": "cust_actix_1"},
    }});
    let signed = SignedWebhook::polar(POLAR_SECRET, order.to_string());
    let response = test::call_service(&app, request("/webhooks/polar", &signed)).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(mock.sales()[0].transaction_id, "order_actix_1");
}

#[actix_web::test]
async fn refused_deliveries_say_why_and_send_nothing() {
    let (mock, affitor) = setup().await;
    let app = app!(affitor);
    let body = checkout_completed("pi_actix_2");
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
        let response = test::call_service(&app, request("/webhooks/stripe", &signed)).await;
        assert_eq!(response.status(), expected);
        let text = String::from_utf8(test::read_body(response).await.to_vec()).unwrap();
        assert!(text.contains(message), "{text}");
        assert!(!text.contains(STRIPE_SECRET), "{text}");
    }
    assert!(mock.requests().is_empty());
}

#[actix_web::test]
async fn an_app_without_the_verifier_says_how_to_register_it() {
    let (_mock, affitor) = setup().await;
    let app = test::init_service(
        App::new()
            .wrap(Affitor::new().client(affitor))
            .route("/webhooks/stripe", web::post().to(stripe)),
    )
    .await;
    let signed = SignedWebhook::stripe(STRIPE_SECRET, checkout_completed("pi_actix_3"));
    let response = test::call_service(&app, request("/webhooks/stripe", &signed)).await;
    assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
    let text = String::from_utf8(test::read_body(response).await.to_vec()).unwrap();
    assert!(
        text.contains("web::Data::new(Verifier::<Stripe>::from_env()?)"),
        "{text}"
    );
}

#[actix_web::test]
async fn the_provider_is_asked_to_redeliver_while_the_api_is_down() {
    let (mock, affitor) = setup().await;
    let app = app!(affitor);
    let signed = SignedWebhook::stripe(STRIPE_SECRET, checkout_completed("pi_actix_4"));
    mock.inject(Fault::status(503).always());
    let response = test::call_service(&app, request("/webhooks/stripe", &signed)).await;
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    mock.clear_faults();
    let response = test::call_service(&app, request("/webhooks/stripe", &signed)).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(mock.sales().len(), 1);
}

/// A body that trickles in held the extractor, its connection and its buffer for as long as
/// the sender liked: it is answered 408 once the verifier's `body_timeout` passes.
#[actix_web::test]
async fn a_body_that_does_not_come_is_answered_408() {
    use futures_util::StreamExt;

    let (mock, affitor) = setup().await;
    let app = test::init_service(
        App::new()
            .app_data(web::Data::new(affitor.clone()))
            .app_data(
                Verifier::<Stripe>::builder()
                    .secret(STRIPE_SECRET)
                    .body_timeout(Duration::from_millis(200))
                    .build()
                    .unwrap(),
            )
            .route("/webhooks/stripe", web::post().to(stripe_from_data)),
    )
    .await;
    let signed = SignedWebhook::stripe(STRIPE_SECRET, checkout_completed("pi_actix_slow"));
    let first: Result<bytes::Bytes, actix_web::error::PayloadError> = Ok(
        bytes::Bytes::copy_from_slice(&signed.body().as_bytes()[..10]),
    );
    let trickle: actix_http::BoxedPayloadStream = Box::pin(
        futures_util::stream::once(async move { first }).chain(futures_util::stream::pending()),
    );
    let mut request = TestRequest::post().uri("/webhooks/stripe");
    for (name, value) in signed.headers() {
        request = request.insert_header((name, value));
    }
    let (request, _) = request
        .to_request()
        .replace_payload(actix_http::Payload::Stream { payload: trickle });
    let started = std::time::Instant::now();
    let response = test::call_service(&app, request).await;
    assert_eq!(response.status(), StatusCode::REQUEST_TIMEOUT);
    assert!(started.elapsed() < Duration::from_secs(5));
    let body = test::read_body(response).await;
    assert!(
        String::from_utf8_lossy(&body).contains("body_timeout"),
        "{body:?}"
    );
    assert!(mock.requests().is_empty());
}

/// `body_timeout(Duration::MAX)` sets no limit: a body that comes in two parts, the second
/// after a pause, is read whole and tracked (the deadline overflowed, and was taken as now).
#[actix_web::test]
async fn a_body_timeout_of_duration_max_sets_no_limit() {
    use futures_util::StreamExt;

    let (mock, affitor) = setup().await;
    let app = test::init_service(
        App::new()
            .app_data(web::Data::new(affitor.clone()))
            .app_data(
                Verifier::<Stripe>::builder()
                    .secret(STRIPE_SECRET)
                    .body_timeout(Duration::MAX)
                    .build()
                    .unwrap(),
            )
            .route("/webhooks/stripe", web::post().to(stripe_from_data)),
    )
    .await;
    let signed = SignedWebhook::stripe(STRIPE_SECRET, checkout_completed("pi_actix_unbounded"));
    let body = bytes::Bytes::copy_from_slice(signed.body().as_bytes());
    let (first, rest) = (body.slice(..10), body.slice(10..));
    let parts: actix_http::BoxedPayloadStream =
        Box::pin(futures_util::stream::once(async move { Ok(first) }).chain(
            futures_util::stream::once(async move {
                tokio::time::sleep(Duration::from_millis(300)).await;
                Ok(rest)
            }),
        ));
    let mut request = TestRequest::post().uri("/webhooks/stripe");
    for (name, value) in signed.headers() {
        request = request.insert_header((name, value));
    }
    let (request, _) = request
        .to_request()
        .replace_payload(actix_http::Payload::Stream { payload: parts });
    let response = test::call_service(&app, request).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(mock.sales().len(), 1);
}

/// Behind the Affitor middleware, which waits for a JSON body to look for a click id first, the
/// extractor's `body_timeout` counts from when the middleware began to wait: the delivery is
/// still answered 408 by the extractor, the two waits not added up.
#[actix_web::test]
async fn a_body_that_does_not_come_is_answered_408_behind_the_middleware() {
    use affitor_actix::affitor_tower::lookup::ClickIdSearch;
    use futures_util::StreamExt;

    let (mock, affitor) = setup().await;
    let search = ClickIdSearch::default().body_timeout(Duration::from_millis(300));
    let app = test::init_service(
        App::new()
            .wrap(Affitor::new().client(affitor.clone()).search(search))
            .app_data(web::Data::new(affitor.clone()))
            .app_data(
                Verifier::<Stripe>::builder()
                    .secret(STRIPE_SECRET)
                    .body_timeout(Duration::from_millis(200))
                    .build()
                    .unwrap(),
            )
            .route("/webhooks/stripe", web::post().to(stripe_from_data)),
    )
    .await;
    let signed = SignedWebhook::stripe(STRIPE_SECRET, checkout_completed("pi_actix_slow_2"));
    let first: Result<bytes::Bytes, actix_web::error::PayloadError> = Ok(
        bytes::Bytes::copy_from_slice(&signed.body().as_bytes()[..10]),
    );
    let trickle: actix_http::BoxedPayloadStream = Box::pin(
        futures_util::stream::once(async move { first }).chain(futures_util::stream::pending()),
    );
    let mut request = TestRequest::post().uri("/webhooks/stripe");
    for (name, value) in signed.headers() {
        request = request.insert_header((name, value));
    }
    let (request, _) = request
        .to_request()
        .replace_payload(actix_http::Payload::Stream { payload: trickle });
    let response = test::call_service(&app, request).await;
    assert_eq!(response.status(), StatusCode::REQUEST_TIMEOUT);
    let body = test::read_body(response).await;
    assert!(
        String::from_utf8_lossy(&body).contains("body_timeout"),
        "{body:?}"
    );
    assert!(mock.requests().is_empty());
}

async fn stripe_from_data(affitor: web::Data<Client>, event: WebhookEvent<Stripe>) -> HttpResponse {
    event.track(affitor.get_ref()).await
}

/// A payload over a limit set in front of the extractor (`PayloadError::Overflow`) is answered
/// 413, as actix-web's own extractors answer it, rather than 400 with the transport's words.
#[actix_web::test]
async fn a_body_over_an_outer_limit_is_answered_413() {
    use actix_web::error::PayloadError;
    use actix_web::{FromRequest, ResponseError};

    let verifier = Verifier::<Stripe>::new(STRIPE_SECRET).unwrap();
    let request = TestRequest::post()
        .app_data(web::Data::new(verifier))
        .to_http_request();
    let overflow: actix_http::BoxedPayloadStream =
        Box::pin(futures_util::stream::iter([Err(PayloadError::Overflow)]));
    let mut payload = actix_web::dev::Payload::from(overflow);
    let rejection = WebhookEvent::<Stripe>::from_request(&request, &mut payload)
        .await
        .map(|_| ())
        .expect_err("refused");
    assert_eq!(rejection.status_code(), StatusCode::PAYLOAD_TOO_LARGE);
    assert!(
        rejection.to_string().contains("raise that limit"),
        "{rejection}"
    );
}
