//! What the click capture costs a request, apart from the API call: the decision for a request
//! without `aff` (the cost every request pays) and with one, and, for a recorded click, the
//! cookies and the response headers; and what `capture_clicks` adds to `AffitorLayer` for a
//! request without `aff`.
//!
//! Run: `cargo bench -p affitor-tower --bench capture --no-default-features --features layer,capture`
//!
//! Instructions, without the timer's noise: run the built bench binary under
//! `valgrind --tool=callgrind` with `--count STEP CALLS` (see [`count`]) or
//! `--count-layer SIDE CASE CALLS` (see [`count_layer`]) for two call counts, and divide the
//! difference by the difference of the counts.

#![allow(missing_docs, clippy::unwrap_used)]

use std::convert::Infallible;
use std::future::Future;
use std::hint::black_box;
use std::pin::pin;
use std::task::{Context, Poll, Waker};

use affitor_tower::adapter::{Decision, PartnerClick, Visit};
use affitor_tower::{AffitorLayer, ClickId, Client, capture::CaptureClicks};
use bytes::Bytes;
use criterion::{Criterion, criterion_group};
use http::{HeaderMap, HeaderValue, Request, Response};
use http_body_util::Full;
use tower::{Layer, Service, ServiceExt};

/// The headers a current desktop Chrome sends on a navigation.
fn browser_headers() -> HeaderMap {
    let mut headers = HeaderMap::new();
    for (name, value) in [
        ("host", "shop.example.com"),
        ("connection", "keep-alive"),
        (
            "sec-ch-ua",
            "\"Chromium\";v=\"124\", \"Google Chrome\";v=\"124\"",
        ),
        ("sec-ch-ua-mobile", "?0"),
        ("sec-ch-ua-platform", "\"Linux\""),
        ("upgrade-insecure-requests", "1"),
        (
            "user-agent",
            "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) \
             Chrome/124.0.0.0 Safari/537.36",
        ),
        (
            "accept",
            "text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,*/*;q=0.8",
        ),
        ("sec-fetch-site", "cross-site"),
        ("sec-fetch-mode", "navigate"),
        ("sec-fetch-user", "?1"),
        ("sec-fetch-dest", "document"),
        ("referer", "https://news.example.org/best-tools-2026"),
        ("accept-encoding", "gzip, deflate, br, zstd"),
        ("accept-language", "en-US,en;q=0.9"),
        (
            "cookie",
            "theme=dark; _ga=GA1.1.123456789.1714000000; session=s3ss10n",
        ),
    ] {
        headers.append(name, HeaderValue::from_static(value));
    }
    headers
}

/// The handler's own response headers.
fn response_headers() -> HeaderMap {
    let mut headers = HeaderMap::new();
    headers.insert(
        "content-type",
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    headers.insert("content-length", HeaderValue::from_static("2048"));
    headers
}

const PATH: &str = "/pricing";
const NO_AFF: Option<&str> = Some("plan=pro&utm_source=newsletter");
const AFF: Option<&str> = Some("plan=pro&aff=partner_42");

fn partner_click(capture: &CaptureClicks, headers: &HeaderMap) -> PartnerClick {
    match capture.decide(&Visit::new("GET", PATH, AFF, headers)) {
        Decision::Capture(click) => click,
        other => panic!("not a click: {other:?}"),
    }
}

/// One recorded click, after the API answered: the cookies, and the response's headers.
fn finish(click: &PartnerClick, click_id: &ClickId, response: &mut HeaderMap) {
    let cookies = click.cookies(click_id, 60);
    if let Some(update) = cookies.for_response(response) {
        for value in update.set_cookie_values() {
            response.append("set-cookie", HeaderValue::from_str(value).unwrap());
        }
        response.insert(
            "cache-control",
            HeaderValue::from_str(update.cache_control()).unwrap(),
        );
    }
}

fn capture(c: &mut Criterion) {
    let capture = CaptureClicks::new();
    let headers = browser_headers();
    let click_id: ClickId = "cust_1042_1714000000000".parse().unwrap();
    let mut group = c.benchmark_group("capture");
    group.bench_function("decide/no_aff", |b| {
        b.iter(|| capture.decide(&Visit::new("GET", PATH, black_box(NO_AFF), &headers)));
    });
    group.bench_function("decide/aff", |b| {
        b.iter(|| capture.decide(&Visit::new("GET", PATH, black_box(AFF), &headers)));
    });
    let click = partner_click(&capture, &headers);
    group.bench_function("cookies_and_headers", |b| {
        b.iter_batched_ref(
            response_headers,
            |response| finish(&click, &click_id, response),
            criterion::BatchSize::SmallInput,
        );
    });
    group.finish();
}

/// Runs `calls` times one step, for an instruction counter such as `valgrind --tool=callgrind`.
/// Steps: `none` (the fixed work only), `no_aff`, `aff` (the decision), `aff+cookies` (the
/// decision, the cookies and the response headers of a recorded click).
fn count(step: &str, calls: usize) {
    let capture = CaptureClicks::new();
    let headers = browser_headers();
    let click_id: ClickId = "cust_1042_1714000000000".parse().unwrap();
    for _ in 0..calls {
        let mut response = response_headers();
        match step {
            "none" => {}
            "no_aff" => {
                black_box(capture.decide(&Visit::new("GET", PATH, black_box(NO_AFF), &headers)));
            }
            "aff" => {
                black_box(capture.decide(&Visit::new("GET", PATH, black_box(AFF), &headers)));
            }
            "aff+cookies" => {
                let click = partner_click(&capture, black_box(&headers));
                finish(&click, &click_id, &mut response);
            }
            other => panic!("no step named {other}"),
        }
        black_box(response);
    }
}

/// Polls a future that never waits to its end.
fn run<F: Future>(future: F) -> F::Output {
    let mut future = pin!(future);
    let mut cx = Context::from_waker(Waker::noop());
    loop {
        if let Poll::Ready(output) = future.as_mut().poll(&mut cx) {
            return output;
        }
    }
}

/// The handler: a small page.
async fn page<B>(_: Request<B>) -> Result<Response<Full<Bytes>>, Infallible> {
    Ok(Response::new(Full::new(Bytes::from_static(
        b"<h1>Welcome</h1>",
    ))))
}

/// A browser's request: `GET /api/account` (`no_query`), `GET` with a query without `aff`
/// (`query`), or a JSON `POST` with the click id cookie (`post`).
fn layer_request(case: &str) -> Request<Full<Bytes>> {
    let (method, uri) = match case {
        "no_query" => ("GET", "/api/account"),
        "query" => ("GET", "/pricing?plan=pro&utm_source=newsletter"),
        "post" => ("POST", "/api/signup"),
        other => panic!("no case named {other}"),
    };
    let mut request = Request::builder().method(method).uri(uri);
    for (name, value) in browser_headers().iter() {
        request = request.header(name, value);
    }
    let body = if method == "POST" {
        request = request
            .header("content-type", "application/json")
            .header("cookie", "affitor_click_id=cust_1042_1714000000000");
        Bytes::from_static(br#"{"email":"jane@example.com","password":"correct horse"}"#)
    } else {
        Bytes::new()
    };
    request.body(Full::new(body)).unwrap()
}

/// Runs `calls` requests of `case` through `AffitorLayer` (`layer`), or through it with
/// `capture_clicks` (`capture`), for an instruction counter: the difference is what capture adds
/// to a request that is not a partner link. Each request is built in the loop, on every side.
fn count_layer(side: &str, case: &str, calls: usize) {
    let client = Client::builder().api_key("aff_bench_key").build().unwrap();
    let layer = AffitorLayer::new().client(client);
    let plain = layer.clone().layer(tower::service_fn(page));
    let capturing = layer
        .capture_clicks(CaptureClicks::new())
        .layer(tower::service_fn(page));
    for _ in 0..calls {
        let request = layer_request(case);
        let response = match side {
            "layer" => {
                let mut service = plain.clone();
                run(async { service.ready().await?.call(request).await })
            }
            "capture" => {
                let mut service = capturing.clone();
                run(async { service.ready().await?.call(request).await })
            }
            other => panic!("no side named {other}"),
        };
        black_box(response.unwrap());
    }
}

criterion_group!(benches, capture);

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let counted: Vec<&str> = args
        .iter()
        .map(String::as_str)
        .filter(|&arg| arg != "--bench")
        .collect();
    if let ["--count", step, calls] = counted[..] {
        count(step, calls.parse().unwrap());
        return;
    }
    if let ["--count-layer", side, case, calls] = counted[..] {
        count_layer(side, case, calls.parse().unwrap());
        return;
    }
    benches();
    Criterion::default().configure_from_args().final_summary();
}
