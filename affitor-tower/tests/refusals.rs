//! One visitor never silences a partner: behind an API gateway that answers 413 to a click
//! body over its limit, a visit with a 10 KiB `Referer` neither loses its own click (the
//! visitor's fields are bounded before the call) nor, when the gateway still refuses it, makes
//! the partner's code refused for the next visitors. Only the API's word on the code (no such
//! referral link) refuses it. On a real axum server on 127.0.0.1, against the stand-in API.
#![cfg(all(feature = "layer", feature = "capture"))]
#![allow(clippy::unwrap_used)] // Tests may unwrap.

use std::net::SocketAddr;
use std::time::Duration;

use affitor::client::{Endpoint, RetryPolicy};
use affitor_mock::{Fault, MockServer};
use affitor_tower::AffitorLayer;
use affitor_tower::capture::{CaptureClicks, ProxyHeaders};
use axum::Router;
use axum::routing::get;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const BROWSER: &str = "Mozilla/5.0 (X11; Linux x86_64; rv:140.0) Gecko/20100101 Firefox/140.0";

/// The app behind a proxy that names each visitor's address in `X-Forwarded-For`, which the
/// click limit counts clicks by; served on 127.0.0.1.
async fn serve(
    mock: &MockServer,
    capture: CaptureClicks,
) -> (SocketAddr, tokio::task::JoinHandle<()>) {
    let client = mock
        .client_builder()
        .retry(RetryPolicy::default().base_delay(Duration::from_millis(5)))
        .build()
        .unwrap();
    let app = Router::new()
        .route("/", get(|| async { "<h1>Welcome</h1>" }))
        .layer(
            AffitorLayer::new()
                .client(client)
                .capture_clicks(capture.trust_proxy_headers(ProxyHeaders::XForwarded)),
        );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let server = tokio::spawn(async move {
        axum::serve(listener, app).await.unwrap();
    });
    (address, server)
}

/// A browser's `GET` of `target` from the visitor at `visitor`, with `extra` header lines: the
/// `affitor_click_id` the answer sets, if any.
async fn browse(server: SocketAddr, target: &str, visitor: &str, extra: &str) -> Option<String> {
    let mut stream = tokio::net::TcpStream::connect(server).await.unwrap();
    let request = format!(
        "GET {target} HTTP/1.1\r\nHost: shop.example\r\nUser-Agent: {BROWSER}\r\n\
         Sec-Fetch-Mode: navigate\r\nX-Forwarded-For: {visitor}\r\n{extra}Connection: close\r\n\r\n"
    );
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut answer = Vec::new();
    stream.read_to_end(&mut answer).await.unwrap();
    let answer = String::from_utf8(answer).unwrap();
    let (head, body) = answer.split_once("\r\n\r\n").unwrap();
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    assert!(
        body.contains("<h1>Welcome</h1>"),
        "the page is served: {body}"
    );
    head.lines()
        .filter_map(|line| line.split_once(':'))
        .filter(|(name, _)| name.eq_ignore_ascii_case("set-cookie"))
        .filter_map(|(_, value)| value.trim().strip_prefix("affitor_click_id="))
        .map(|value| value.split(';').next().unwrap_or_default().to_owned())
        .next()
}

/// The click calls the stand-in has received, once they are `expected` (or after 5 s): a refused
/// code's probe runs beside the page, which does not wait for it. Then a moment for the probe's
/// answer, over loopback on this same thread, to be learned.
async fn click_calls(mock: &MockServer, expected: usize) -> usize {
    let calls = affitor_mock::poll_until(Duration::from_secs(5), async || {
        let calls = mock.requests_to(Endpoint::Click).len();
        (calls >= expected).then_some(calls)
    })
    .await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    calls.unwrap_or_else(|| mock.requests_to(Endpoint::Click).len())
}

/// A `Referer` of 10 KiB: a search page with a long query.
fn long_referer() -> String {
    format!(
        "Referer: https://search.example/results?q={}\r\n",
        "x".repeat(10 * 1024)
    )
}

/// The run: a gateway that answers 413 past 8 KiB, a visit to `/?aff=real` with a
/// 10 KiB `Referer`, then an ordinary visit from another address. Both get a click id: the
/// referrer went without its query, and no 413 came.
#[tokio::test]
async fn a_long_referer_behind_an_8_kib_gateway_still_gets_its_click() {
    let mock = MockServer::start().await.unwrap();
    mock.link("real");
    mock.inject(Fault::body_limit(8 * 1024).on(Endpoint::Click).always());
    let capture = CaptureClicks::new();
    let (server, serving) = serve(&mock, capture.clone()).await;

    let first = browse(server, "/?aff=real", "198.51.100.7", &long_referer()).await;
    assert!(first.is_some(), "the long-referer visit gets its click id");
    let sent = &mock.requests_to(Endpoint::Click)[0].body;
    assert_eq!(sent["referrer_url"], "https://search.example/results");
    let second = browse(server, "/?aff=real", "203.0.113.9", "").await;
    assert!(second.is_some(), "the next visitor gets a click id");
    assert_eq!(mock.clicks().len(), 2);
    assert_eq!(capture.stats().refused_partner, 0);
    serving.abort();
    mock.shutdown().await;
}

/// A stricter gateway (1 KiB) still refuses a long visit's click (413): that visitor gets no click
/// id, but the code is not taken for refused, and the next visitor, from another address, gets
/// one. A code the API does not know is refused, and makes no second call.
#[tokio::test]
async fn a_413_refuses_the_visit_not_the_partner() {
    let mock = MockServer::start().await.unwrap();
    mock.link("real");
    mock.inject(Fault::body_limit(1024).on(Endpoint::Click).always());
    let capture = CaptureClicks::new();
    let (server, serving) = serve(&mock, capture.clone()).await;

    // A referrer within the bound, a page with a long path: the click's body is still over
    // this gateway's limit.
    let long_page = format!("Referer: https://blog.example/{}\r\n", "p".repeat(990));
    let refused = browse(server, "/?aff=real", "198.51.100.7", &long_page).await;
    assert_eq!(refused, None, "the gateway refused this visit's click");
    assert_eq!(mock.requests_to(Endpoint::Click).len(), 1);
    assert!(mock.clicks().is_empty());

    let next = browse(server, "/?aff=real", "203.0.113.9", "").await;
    assert!(
        next.is_some(),
        "the next visitor of the partner gets a click id"
    );
    assert_eq!(mock.requests_to(Endpoint::Click).len(), 2);
    assert_eq!(mock.clicks().len(), 1);

    // The API's own word on a code does refuse it, once a call of the code alone (the probe)
    // is refused too: no further call for an unknown link.
    assert_eq!(
        browse(server, "/?aff=ghost", "198.51.100.20", "").await,
        None
    );
    assert_eq!(click_calls(&mock, 4).await, 4, "the visit's, the probe");
    assert_eq!(
        browse(server, "/?aff=ghost", "198.51.100.21", "").await,
        None
    );
    assert_eq!(mock.requests_to(Endpoint::Click).len(), 4);
    assert_eq!(capture.stats().refused_partner, 1);
    serving.abort();
    mock.shutdown().await;
}

/// A refusal is learned from the code alone, never from a visitor's call. The API answers one
/// visit's call "inactive" (as it might for something in that visitor's fields): the probe, a
/// call of the code alone without the visitor's path, query, referrer, user agent or language,
/// is recorded, so the code is not refused, and the next visitor gets a click id.
#[tokio::test]
async fn a_refusal_the_probe_does_not_confirm_refuses_nothing() {
    let mock = MockServer::start().await.unwrap();
    mock.link("real");
    mock.inject(
        Fault::response(
            200,
            serde_json::json!({"success": false, "message": "Referral link is inactive"}),
        )
        .on(Endpoint::Click)
        .times(1),
    );
    let capture = CaptureClicks::new();
    let (server, serving) = serve(&mock, capture.clone()).await;

    let referer = "Referer: https://search.example/?q=anything\r\nAccept-Language: fr-FR\r\n";
    let first = browse(server, "/?aff=real&utm_source=x", "198.51.100.7", referer).await;
    assert_eq!(first, None, "this visit's call was refused");
    click_calls(&mock, 2).await;
    let calls = mock.requests_to(Endpoint::Click);
    assert_eq!(calls.len(), 2, "the visit's call, then the probe");
    assert_eq!(
        calls[1].body,
        serde_json::json!({"affiliate_url": "http://shop.example/?aff=real"}),
        "the probe carries none of the visitor's fields"
    );

    let next = browse(server, "/?aff=real", "203.0.113.9", "").await;
    assert!(next.is_some(), "the next visitor gets a click id");
    assert_eq!(capture.stats().refused_partner, 0);
    serving.abort();
    mock.shutdown().await;
}

/// Only an answer that says the link is inactive or unknown refuses a code: a `success: false`
/// for any other reason (here a rate limit the API reports in the body) teaches nothing, and
/// every visit still sends its click.
#[tokio::test]
async fn a_success_false_that_names_no_inactive_link_refuses_nothing() {
    let mock = MockServer::start().await.unwrap();
    mock.link("real");
    mock.inject(
        Fault::response(
            200,
            serde_json::json!({"success": false, "message": "Too many requests, slow down"}),
        )
        .on(Endpoint::Click)
        .always(),
    );
    let capture = CaptureClicks::new();
    let (server, serving) = serve(&mock, capture.clone()).await;
    for visitor in ["198.51.100.7", "203.0.113.9", "203.0.113.10"] {
        assert_eq!(browse(server, "/?aff=real", visitor, "").await, None);
    }
    assert_eq!(
        mock.requests_to(Endpoint::Click).len(),
        3,
        "one call a visit, no probe"
    );
    assert_eq!(capture.stats().refused_partner, 0);
    serving.abort();
    mock.shutdown().await;
}
