//! The Tower layer: where it finds the click id, and that the handler always gets the body as sent.

use std::convert::Infallible;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use crate::support::{BodyError, Scripted, Seen, Step, observe};
use affitor_tower::{
    AffitorLayer, ClickId,
    layer::AffitorBody,
    lookup::{ClickIdLookup, ClickIdSearch, ClickIdSource},
};
use bytes::Bytes;
use http::{HeaderMap, HeaderValue, Request};
use tower::{Service, ServiceBuilder, ServiceExt};

const LIMIT: usize = ClickIdSearch::DEFAULT_BODY_LIMIT;
const JSON: &[u8] = b"application/json";
const FORM: &[u8] = b"application/x-www-form-urlencoded";

fn request(method: &str, headers: &[(&str, &[u8])], body: Scripted) -> Request<Scripted> {
    let mut request = Request::builder().method(method).uri("/api/signup");
    for (name, value) in headers {
        request = request.header(*name, HeaderValue::from_bytes(value).unwrap());
    }
    request.body(body).unwrap()
}

async fn layered(layer: AffitorLayer, request: Request<Scripted>) -> Seen {
    ServiceBuilder::new()
        .layer(layer)
        .service_fn(observe::<AffitorBody<Scripted>>)
        .oneshot(request)
        .await
        .unwrap()
}

/// Sends the same request to the bare handler and through the layer, checks that the handler
/// saw the same body, and returns what it saw through the layer.
async fn compare(layer: AffitorLayer, make: impl Fn() -> Request<Scripted>) -> Seen {
    let bare = observe(make()).await.unwrap();
    let seen = layered(layer, make()).await;
    assert!(
        seen.data == bare.data,
        "the handler saw other data: {} bytes instead of {}",
        seen.data.len(),
        bare.data.len()
    );
    assert_eq!(seen.trailers, bare.trailers);
    assert_eq!(seen.error, bare.error);
    assert_eq!(seen.size_hint, bare.size_hint);
    assert_eq!(seen.headers, bare.headers);
    let lookup = seen
        .lookup
        .as_ref()
        .expect("the layer always inserts a lookup");
    // The lookup is the one extension that carries the click id: a `ClickId` extension is
    // only ever the one the request came with.
    assert_eq!(seen.click_id_extension, bare.click_id_extension);
    if let Some(earlier) = &seen.click_id_extension {
        assert_eq!(lookup.click_id(), Some(earlier));
        assert_eq!(lookup.source(), Some(&ClickIdSource::Extension));
    }
    seen
}

#[tokio::test]
async fn a_body_the_layer_does_not_read_streams_through_untouched() {
    // Which bodies are read is a rule of the lookup (the scenario crate's `lookup_rules`); here,
    // that the layer hands on a body it did not read as it came, and replays one it read.
    let json_body: &[u8] = br#"{"affitorClickId":"j-1"}"#;
    let seen = layered(
        AffitorLayer::new(),
        request("GET", &[("content-type", JSON)], Scripted::full(json_body)),
    )
    .await;
    assert!(!seen.replayed(), "{}", seen.body_debug);
    let seen = layered(
        AffitorLayer::new(),
        request("POST", &[("content-type", JSON)], Scripted::full(json_body)),
    )
    .await;
    assert!(seen.replayed(), "{}", seen.body_debug);
}

/// A compressed body (gzip JSON) is no JSON until the app decodes it: the layer does not wait
/// for it, and hands it on as it came; `identity` is no encoding.
#[tokio::test]
async fn a_compressed_body_is_not_read() {
    let json_body: &[u8] = br#"{"affitorClickId":"j-1"}"#;
    let make = |encoding: &'static [u8]| {
        move || {
            request(
                "POST",
                &[("content-type", JSON), ("content-encoding", encoding)],
                Scripted::full(json_body),
            )
        }
    };
    for encoding in [&b"gzip"[..], b"identity, br", b"x-custom"] {
        let seen = compare(AffitorLayer::new(), make(encoding)).await;
        assert!(!seen.replayed(), "{}", seen.body_debug);
        assert_eq!(seen.lookup.unwrap().click_id(), None);
    }
    let seen = compare(AffitorLayer::new(), make(b"identity")).await;
    assert!(seen.replayed(), "{}", seen.body_debug);
    assert_eq!(seen.lookup.unwrap().click_id().unwrap(), "j-1");
}

#[tokio::test]
async fn an_existing_click_id_extension_is_never_overwritten() {
    let earlier: ClickId = "from-earlier-layer".parse().unwrap();
    let make = || {
        let mut request = request(
            "POST",
            &[
                ("x-affitor-click-id", b"from-header"),
                ("content-type", JSON),
            ],
            Scripted::full(&br#"{"affitorClickId":"from-body"}"#[..]),
        );
        request.extensions_mut().insert(earlier.clone());
        request
    };
    let seen = compare(AffitorLayer::new(), make).await;
    assert_eq!(seen.click_id_extension.as_ref(), Some(&earlier));
    assert!(!seen.replayed());
    assert_eq!(
        seen.lookup.unwrap(),
        ClickIdLookup::found(earlier, ClickIdSource::Extension, Vec::new())
    );
}

/// A JSON body of exactly `len` bytes with the click id at the start.
fn json_of_len(len: usize) -> Vec<u8> {
    let head = br#"{"affitorClickId":"sized","pad":""#;
    let tail = br#""}"#;
    let mut body = head.to_vec();
    body.resize(len - tail.len(), b'x');
    body.extend_from_slice(tail);
    assert_eq!(body.len(), len);
    body
}

#[tokio::test]
async fn bodies_at_and_around_the_limit() {
    let big = 10 * 1024 * 1024;
    for (len, read) in [
        (0, false),
        (LIMIT - 1, true),
        (LIMIT, true),
        (LIMIT + 1, false),
        (big, false),
    ] {
        let body = if len == 0 {
            Vec::new()
        } else {
            json_of_len(len)
        };
        let body = Bytes::from(body);
        let content_length = len.to_string();
        let headers = [
            ("content-type", JSON),
            ("content-length", content_length.as_bytes()),
        ];
        // With a Content-Length, in one frame.
        let seen = compare(AffitorLayer::new(), || {
            request("POST", &headers, Scripted::full(body.clone()))
        })
        .await;
        assert_eq!(seen.found().is_some(), read, "{len} bytes");
        assert_eq!(seen.size_hint, (len as u64, Some(len as u64)));
        // Over the limit with a Content-Length: never read.
        assert_eq!(seen.replayed(), read, "{len} bytes: {}", seen.body_debug);

        // Chunked (no Content-Length), in frames of pseudo-random sizes.
        let mut state = len as u64 + 1;
        let sizes = std::iter::repeat_with(move || {
            state = state
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (state >> 33) as usize % 9000 + 1
        });
        let sizes: Vec<usize> = sizes.take(len / 1000 + 2).collect();
        let seen = compare(AffitorLayer::new(), || {
            request(
                "POST",
                &headers[..1],
                Scripted::split(&body, sizes.iter().copied()),
            )
        })
        .await;
        assert_eq!(seen.found().is_some(), read, "chunked, {len} bytes");
        assert_eq!(seen.data.len(), len);
        assert_eq!(seen.replayed(), len > 0, "chunked, {len} bytes");
    }
}

#[tokio::test]
async fn a_smaller_limit_is_honoured() {
    let layer = AffitorLayer::new().search(ClickIdSearch::default().body_limit(100));
    for (len, found) in [(99, true), (100, true), (101, false)] {
        let body = Bytes::from(json_of_len(len));
        let seen = compare(layer.clone(), || {
            request(
                "POST",
                &[("content-type", JSON)],
                Scripted::split(&body, [7, 13, 50]),
            )
        })
        .await;
        assert_eq!(seen.found().is_some(), found, "{len} bytes");
    }
}

#[tokio::test]
async fn a_failing_body_reaches_the_handler_with_the_same_bytes_then_the_same_error() {
    let body = json_of_len(5000);
    let error = BodyError("connection reset");
    for failing_at in [0, 1, 1000, 4999] {
        for limit in [10_000, 2000] {
            let layer = AffitorLayer::new().search(ClickIdSearch::default().body_limit(limit));
            let make = || {
                let mut steps: Vec<Step> = body[..failing_at]
                    .chunks(700)
                    .map(|chunk| Step::Data(Bytes::copy_from_slice(chunk)))
                    .collect();
                steps.push(Step::Error(error.clone()));
                steps.push(Step::Data(Bytes::from_static(b"after the error")));
                request("POST", &[("content-type", JSON)], Scripted::new(steps))
            };
            let seen = compare(layer, make).await;
            assert_eq!(seen.data, &body[..failing_at]);
            assert_eq!(seen.error.as_deref(), Some("body failed: connection reset"));
            assert_eq!(seen.found(), None);
        }
    }
}

#[tokio::test]
async fn trailers_and_pending_frames_pass_through() {
    let mut trailers = HeaderMap::new();
    trailers.insert("x-checksum", HeaderValue::from_static("abc"));
    let make = || {
        let body = Scripted::new([
            Step::Pending,
            Step::Data(Bytes::from_static(br#"{"affitorClickId":"#)),
            Step::Pending,
            Step::Data(Bytes::from_static(br#""t-1"}"#)),
            Step::Pending,
            Step::Trailers(trailers.clone()),
        ]);
        request("POST", &[("content-type", JSON)], body)
    };
    let seen = compare(AffitorLayer::new(), make).await;
    assert_eq!(seen.found(), Some("t-1"));
    assert_eq!(seen.trailers, Some(trailers));
    assert!(seen.replayed());
}

#[tokio::test]
async fn size_hints_are_preserved() {
    let body = Bytes::from(json_of_len(3000));
    for make in [
        (|body: &Bytes| Scripted::full(body.clone())) as fn(&Bytes) -> Scripted,
        |body| Scripted::split(body, [1000, 1000]).with_length(3000),
        |body| Scripted::split(body, [1000, 1000]),
    ] {
        let seen = compare(AffitorLayer::new(), || {
            request("POST", &[("content-type", JSON)], make(&body))
        })
        .await;
        assert_eq!(seen.found(), Some("sized"));
    }
    // The hint also holds when the limit is passed in the middle of the body.
    let layer = AffitorLayer::new().search(ClickIdSearch::default().body_limit(1500));
    let seen = compare(layer, || {
        request(
            "POST",
            &[("content-type", JSON)],
            Scripted::split(&body, [1000, 1000]).with_length(3000),
        )
    })
    .await;
    assert_eq!(seen.size_hint, (3000, Some(3000)));
    assert_eq!(seen.found(), None);
}

/// A service that panics when called without a successful `poll_ready`, as a concurrency
/// limit or a buffer would fail. A clone is not ready.
#[derive(Default)]
struct MustBeReady {
    ready: bool,
    calls: Arc<Mutex<usize>>,
}

impl Clone for MustBeReady {
    fn clone(&self) -> Self {
        Self {
            ready: false,
            calls: self.calls.clone(),
        }
    }
}

impl Service<Request<AffitorBody<Scripted>>> for MustBeReady {
    type Response = Seen;
    type Error = Infallible;
    type Future = std::pin::Pin<Box<dyn Future<Output = Result<Seen, Infallible>> + Send>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        self.ready = true;
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: Request<AffitorBody<Scripted>>) -> Self::Future {
        assert!(self.ready, "called without poll_ready");
        self.ready = false;
        *self.calls.lock().unwrap() += 1;
        Box::pin(observe(request))
    }
}

#[tokio::test]
async fn the_service_polled_ready_is_the_one_called() {
    let inner = MustBeReady::default();
    let calls = inner.calls.clone();
    let mut service = ServiceBuilder::new()
        .layer(AffitorLayer::new())
        .service(inner);
    for body in [&br#"{"affitorClickId":"r-1"}"#[..], b"{}"] {
        let make = || {
            request(
                "POST",
                &[("content-type", JSON)],
                Scripted::split(body, [3]),
            )
        };
        // Two calls in a row on the same service, the first still reading its body.
        let first = service.ready().await.unwrap().call(make());
        let second = service.ready().await.unwrap().call(make());
        let (first, second) = tokio::join!(first, second);
        assert_eq!(first.unwrap().data, body);
        assert_eq!(second.unwrap().data, body);
    }
    assert_eq!(*calls.lock().unwrap(), 4);
    assert!(!service.get_ref().ready);
    let _inner: MustBeReady = service.into_inner();
}

#[tokio::test]
async fn works_inside_an_axum_router() {
    use axum::routing::post;
    use axum::{Extension, Json, Router};

    async fn signup(
        Extension(lookup): Extension<ClickIdLookup>,
        Json(body): Json<serde_json::Value>,
    ) -> Json<serde_json::Value> {
        Json(serde_json::json!({
            "clickId": lookup.click_id().map(ClickId::as_str),
            "source": lookup.source().map(ToString::to_string),
            "email": body["email"],
        }))
    }
    async fn raw(Extension(lookup): Extension<ClickIdLookup>, body: Bytes) -> String {
        format!("{lookup} | {}", String::from_utf8_lossy(&body))
    }

    let app = Router::new()
        .route("/api/signup", post(signup))
        .route("/raw", post(raw))
        .layer(AffitorLayer::new());
    let call = |uri: &str, headers: &[(&str, &[u8])], body: &'static str| {
        let mut request = Request::post(uri);
        for (name, value) in headers {
            request = request.header(*name, HeaderValue::from_bytes(value).unwrap());
        }
        let request = request.body(axum::body::Body::from(body)).unwrap();
        let app = app.clone();
        async move {
            let response = app.oneshot(request).await.unwrap();
            let status = response.status();
            let body = axum::body::to_bytes(response.into_body(), usize::MAX)
                .await
                .unwrap();
            (status, String::from_utf8(body.to_vec()).unwrap())
        }
    };

    let (status, body) = call(
        "/api/signup",
        &[("content-type", JSON)],
        r#"{"email":"a@b.c","affitorClickId":"ax-1"}"#,
    )
    .await;
    assert_eq!(status, 200);
    let body: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(
        body,
        serde_json::json!({"clickId": "ax-1", "source": "JSON body field `affitorClickId`", "email": "a@b.c"})
    );

    let (_, body) = call(
        "/api/signup",
        &[("content-type", JSON), ("cookie", b"affitor_click_id=ax-2")],
        r#"{"email":"a@b.c","affitorClickId":"ignored"}"#,
    )
    .await;
    assert!(body.contains(r#""clickId":"ax-2""#), "{body}");

    let (_, body) = call(
        "/raw",
        &[("content-type", FORM)],
        "affitor_click_id=ax-3&x=%20",
    )
    .await;
    assert_eq!(
        body,
        "click id found in the form body field `affitor_click_id` | affitor_click_id=ax-3&x=%20"
    );

    // Malformed JSON reaches axum's own `Json` rejection unchanged.
    let (status, _) = call("/api/signup", &[("content-type", JSON)], r#"{"email":"#).await;
    assert_eq!(status, 400);
}

#[tokio::test(flavor = "current_thread")]
async fn rejections_are_logged_with_source_and_reason_never_the_value() {
    if !test_support::alone!() {
        return;
    }
    let (logs, _guard) = test_support::Logs::capture("debug");

    let seen = layered(
        AffitorLayer::new(),
        request(
            "POST",
            &[
                ("x-affitor-click-id", b"secret header value"),
                ("cookie", b"affitor_click_id=secret\"cookie"),
                ("content-type", JSON),
            ],
            Scripted::full(&br#"{"affitorClickId":"secret\r\ninjected: yes"}"#[..]),
        ),
    )
    .await;
    assert_eq!(seen.lookup.unwrap().rejected().len(), 3);

    // Each rejection logged once, at `warn` or, within the interval of the last warning,
    // at `debug`: never more than one warning.
    let logs = logs.text();
    let lines: Vec<&str> = logs
        .lines()
        .filter(|line| line.contains("invalid click id"))
        .collect();
    assert_eq!(lines.len(), 3, "{logs}");
    assert!(
        lines.iter().filter(|line| line.contains("WARN")).count() <= 1,
        "{logs}"
    );
    for (line, source) in lines.iter().zip([
        "header `x-affitor-click-id`",
        "cookie `affitor_click_id`",
        "JSON body field `affitorClickId`",
    ]) {
        assert!(line.contains(source), "{line}");
        assert!(line.contains("forbidden byte"), "{line}");
    }
    assert!(!logs.contains("secret"), "{logs}");
    assert!(!logs.contains("injected"), "{logs}");
}
#[tokio::test]
async fn the_client_is_carried_into_every_request() {
    let client = affitor_tower::Client::builder()
        .api_key("aff_test_key")
        .build()
        .unwrap();
    let handler = tower::service_fn(|request: Request<AffitorBody<Scripted>>| async move {
        Ok::<_, Infallible>(request.extensions().get::<affitor_tower::Client>().cloned())
    });
    let service = ServiceBuilder::new()
        .layer(AffitorLayer::new().client(client))
        .service(handler);
    for request in [
        request("GET", &[], Scripted::new([])),
        request(
            "POST",
            &[("content-type", JSON)],
            Scripted::full(&br#"{"affitorClickId":"c-1"}"#[..]),
        ),
    ] {
        let carried = service.clone().oneshot(request).await.unwrap();
        assert!(carried.is_some());
    }
    // Without a client, nothing is inserted.
    let handler = tower::service_fn(|request: Request<AffitorBody<Scripted>>| async move {
        Ok::<_, Infallible>(
            request
                .extensions()
                .get::<affitor_tower::Client>()
                .is_some(),
        )
    });
    let service = ServiceBuilder::new()
        .layer(AffitorLayer::new())
        .service(handler);
    let carried = service
        .oneshot(request("GET", &[], Scripted::new([])))
        .await
        .unwrap();
    assert!(!carried);
}
