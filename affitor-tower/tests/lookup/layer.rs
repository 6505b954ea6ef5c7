//! The Tower layer: where it finds the click id, and that the handler always gets the body as sent.

use std::convert::Infallible;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use crate::support::{BodyError, Scripted, Seen, Step, observe};
use affitor_tower::{
    AffitorBody, AffitorLayer, ClickId, ClickIdLookup, ClickIdSearch, ClickIdSource,
    InvalidClickId, RejectedClickId,
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

fn rejected(source: ClickIdSource, reason: InvalidClickId) -> RejectedClickId {
    RejectedClickId::new(source, reason)
}

fn header() -> ClickIdSource {
    ClickIdSource::header("x-affitor-click-id")
}
fn cookie() -> ClickIdSource {
    ClickIdSource::cookie("affitor_click_id")
}
fn legacy_cookie() -> ClickIdSource {
    ClickIdSource::cookie("customer_code")
}
fn json_camel() -> ClickIdSource {
    ClickIdSource::json_field("affitorClickId")
}
fn json_snake() -> ClickIdSource {
    ClickIdSource::json_field("affitor_click_id")
}
fn form() -> ClickIdSource {
    ClickIdSource::form_field("affitor_click_id")
}

struct Case {
    what: &'static str,
    method: &'static str,
    headers: Vec<(&'static str, &'static [u8])>,
    body: &'static [u8],
    found: Option<(&'static str, ClickIdSource)>,
    rejected: Vec<RejectedClickId>,
}

fn case(
    what: &'static str,
    headers: Vec<(&'static str, &'static [u8])>,
    body: &'static [u8],
) -> Case {
    Case {
        what,
        method: "POST",
        headers,
        body,
        found: None,
        rejected: Vec::new(),
    }
}

impl Case {
    fn found(mut self, click_id: &'static str, source: ClickIdSource) -> Self {
        self.found = Some((click_id, source));
        self
    }
    fn rejects(mut self, source: ClickIdSource, reason: InvalidClickId) -> Self {
        self.rejected.push(rejected(source, reason));
        self
    }
    fn method(mut self, method: &'static str) -> Self {
        self.method = method;
        self
    }
}

async fn run(cases: Vec<Case>) {
    for case in cases {
        let seen = compare(AffitorLayer::new(), || {
            request(
                case.method,
                &case.headers,
                Scripted::full(Bytes::from_static(case.body)),
            )
        })
        .await;
        let lookup = seen.lookup.unwrap();
        let expected = match &case.found {
            Some((click_id, source)) => ClickIdLookup::found(
                click_id.parse().unwrap(),
                source.clone(),
                case.rejected.clone(),
            ),
            None => ClickIdLookup::not_found(case.rejected.clone()),
        };
        assert_eq!(lookup, expected, "{}", case.what);
    }
}

#[tokio::test]
async fn finds_the_click_id_in_every_source() {
    run(vec![
        case("header", vec![("x-affitor-click-id", b"h-1")], b"").found("h-1", header()),
        case(
            "header, any case",
            vec![("X-Affitor-Click-Id", b" h-2\t")],
            b"",
        )
        .found("h-2", header()),
        case(
            "cookie",
            vec![("cookie", b"a=1; affitor_click_id=c-1; b=2")],
            b"",
        )
        .found("c-1", cookie()),
        case(
            "quoted cookie",
            vec![("cookie", b"affitor_click_id=\"c-2\"")],
            b"",
        )
        .found("c-2", cookie()),
        case("legacy cookie", vec![("cookie", b"customer_code=l-1")], b"")
            .found("l-1", legacy_cookie()),
        case(
            "JSON camelCase",
            vec![("content-type", JSON)],
            br#"{"affitorClickId":"j-1"}"#,
        )
        .found("j-1", json_camel()),
        case(
            "JSON snake_case",
            vec![("content-type", JSON)],
            br#"{"affitor_click_id":"j-2"}"#,
        )
        .found("j-2", json_snake()),
        case(
            "JSON with charset",
            vec![("content-type", b"Application/JSON; charset=utf-8")],
            br#"{"email":"a@b.c","affitorClickId":"j-3","password":"x"}"#,
        )
        .found("j-3", json_camel()),
        case(
            "JSON suffix type",
            vec![("content-type", b"application/vnd.api+json")],
            br#"{"affitorClickId":"j-4"}"#,
        )
        .found("j-4", json_camel()),
        case(
            "JSON escapes",
            vec![("content-type", JSON)],
            br#"{"affitor\u0043lickId":"j\u002d5"}"#,
        )
        .found("j-5", json_camel()),
        case(
            "JSON by PUT",
            vec![("content-type", JSON)],
            br#"{"affitorClickId":"j-6"}"#,
        )
        .method("PUT")
        .found("j-6", json_camel()),
        case(
            "JSON by PATCH",
            vec![("content-type", JSON)],
            br#"{"affitorClickId":"j-7"}"#,
        )
        .method("PATCH")
        .found("j-7", json_camel()),
        case(
            "form",
            vec![("content-type", FORM)],
            b"email=a%40b.c&affitor_click_id=f-1",
        )
        .found("f-1", form()),
        case(
            "form, encoded",
            vec![("content-type", FORM)],
            b"affitor%5Fclick%5Fid=f%2D2",
        )
        .found("f-2", form()),
        case("nothing", vec![], b""),
        case(
            "other cookies",
            vec![("cookie", b"session=abc; theme=dark")],
            b"",
        ),
        case(
            "JSON without the field",
            vec![("content-type", JSON)],
            br#"{"email":"a@b.c"}"#,
        ),
        case(
            "malformed JSON",
            vec![("content-type", JSON)],
            br#"{"affitorClickId":"j-1""#,
        ),
        case(
            "JSON array",
            vec![("content-type", JSON)],
            br#"[{"affitorClickId":"j-1"}]"#,
        ),
    ])
    .await;
}

#[tokio::test]
async fn reads_a_body_only_when_it_may_hold_the_click_id() {
    let json_body: &[u8] = br#"{"affitorClickId":"j-1"}"#;
    run(vec![
        case("GET", vec![("content-type", JSON)], json_body).method("GET"),
        case("DELETE", vec![("content-type", JSON)], json_body).method("DELETE"),
        case("OPTIONS", vec![("content-type", JSON)], json_body).method("OPTIONS"),
        case("no content type", vec![], json_body),
        case("text", vec![("content-type", b"text/plain")], json_body),
        case(
            "JSON sent as a form",
            vec![("content-type", FORM)],
            json_body,
        ),
        case(
            "form sent as JSON",
            vec![("content-type", JSON)],
            b"affitor_click_id=f-1",
        ),
        case(
            "multipart",
            vec![("content-type", b"multipart/form-data; boundary=x")],
            json_body,
        ),
    ])
    .await;

    // A body the layer does not read streams through untouched.
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

#[tokio::test]
async fn sources_take_precedence_in_order() {
    let everything: Vec<(&str, &[u8])> = vec![
        ("x-affitor-click-id", b"from-header"),
        (
            "cookie",
            b"customer_code=from-legacy; affitor_click_id=from-cookie",
        ),
        ("content-type", JSON),
    ];
    let both_fields: &[u8] = br#"{"affitor_click_id":"from-snake","affitorClickId":"from-camel"}"#;
    run(vec![
        case("header first", everything.clone(), both_fields).found("from-header", header()),
        case("then the cookie", everything[1..].to_vec(), both_fields)
            .found("from-cookie", cookie()),
        case(
            "then the legacy cookie",
            vec![
                ("cookie", b"customer_code=from-legacy"),
                ("content-type", JSON),
            ],
            both_fields,
        )
        .found("from-legacy", legacy_cookie()),
        case(
            "then the camelCase field",
            vec![("content-type", JSON)],
            both_fields,
        )
        .found("from-camel", json_camel()),
        case(
            "an invalid header gives way to the cookie",
            vec![
                ("x-affitor-click-id", b"bad value"),
                ("cookie", b"affitor_click_id=ok"),
            ],
            b"",
        )
        .rejects(
            header(),
            InvalidClickId::ForbiddenByte {
                byte: b' ',
                position: 3,
            },
        )
        .found("ok", cookie()),
        case(
            "an invalid cookie gives way to the body",
            vec![("cookie", b"affitor_click_id=\"\""), ("content-type", JSON)],
            br#"{"affitorClickId":"", "affitor_click_id":"ok"}"#,
        )
        .rejects(cookie(), InvalidClickId::Empty)
        .rejects(json_camel(), InvalidClickId::Empty)
        .found("ok", json_snake()),
    ])
    .await;

    // A custom order: the body field before the header still reads the header first (cheap
    // sources always come first), and only the configured sources are looked at.
    let sources = ClickIdSearch::new([
        ClickIdSource::json_field("clickId"),
        ClickIdSource::header("X-Click-Id"),
    ]);
    let layer = AffitorLayer::new().search(sources);
    let make = |headers: &[(&str, &[u8])]| {
        request(
            "POST",
            headers,
            Scripted::full(&br#"{"clickId":"from-body"}"#[..]),
        )
    };
    let seen = layered(
        layer.clone(),
        make(&[("x-click-id", b"from-header"), ("content-type", JSON)]),
    )
    .await;
    assert_eq!(seen.found(), Some("from-header"));
    let seen = layered(
        layer.clone(),
        make(&[("x-affitor-click-id", b"default"), ("content-type", JSON)]),
    )
    .await;
    assert_eq!(seen.found(), Some("from-body"));
    let seen = layered(layer, make(&[("cookie", b"affitor_click_id=default")])).await;
    assert_eq!(seen.found(), None);
}

#[tokio::test]
async fn rejects_invalid_values_and_says_why() {
    const LONG: &[u8] = &[b'a'; 129];
    const LONGEST: &[u8] = &[b'a'; 128];
    let too_long = InvalidClickId::TooLong { len: 129 };
    let forbidden = |byte, position| InvalidClickId::ForbiddenByte { byte, position };
    run(vec![
        case("empty header", vec![("x-affitor-click-id", b"")], b"")
            .rejects(header(), InvalidClickId::Empty),
        case("longest header", vec![("x-affitor-click-id", LONGEST)], b"")
            .found(std::str::from_utf8(LONGEST).unwrap(), header()),
        case("long header", vec![("x-affitor-click-id", LONG)], b"").rejects(header(), too_long),
        case("space", vec![("x-affitor-click-id", b"a b")], b"")
            .rejects(header(), forbidden(b' ', 1)),
        case("quote", vec![("x-affitor-click-id", b"a\"b")], b"")
            .rejects(header(), forbidden(b'"', 1)),
        case("non-UTF-8", vec![("x-affitor-click-id", b"ab\xff")], b"")
            .rejects(header(), forbidden(0xff, 2)),
        case(
            "non-ASCII UTF-8",
            vec![("cookie", b"affitor_click_id=caf\xc3\xa9")],
            b"",
        )
        .rejects(cookie(), forbidden(0xc3, 3)),
        case("empty cookie", vec![("cookie", b"affitor_click_id=")], b"")
            .rejects(cookie(), InvalidClickId::Empty),
        case(
            "percent-encoded cookie",
            vec![("cookie", b"affitor_click_id=a%20b")],
            b"",
        )
        .rejects(cookie(), forbidden(b'%', 1)),
        case(
            "CR LF in JSON",
            vec![("content-type", JSON)],
            br#"{"affitorClickId":"a\r\nSet-Cookie: x"}"#,
        )
        .rejects(json_camel(), forbidden(b'\r', 1)),
        case(
            "NUL in JSON",
            vec![("content-type", JSON)],
            br#"{"affitorClickId":"a\u0000"}"#,
        )
        .rejects(json_camel(), forbidden(0, 1)),
        case(
            "non-ASCII in JSON",
            vec![("content-type", JSON)],
            br#"{"affitorClickId":"\u00e9"}"#,
        )
        .rejects(json_camel(), forbidden(0xc3, 0)),
        case(
            "long JSON",
            vec![("content-type", JSON)],
            Box::leak(
                format!(r#"{{"affitorClickId":"{}"}}"#, "a".repeat(129))
                    .into_bytes()
                    .into_boxed_slice(),
            ),
        )
        .rejects(json_camel(), too_long),
        case(
            "CR LF in a form",
            vec![("content-type", FORM)],
            b"affitor_click_id=a%0D%0Ab",
        )
        .rejects(form(), forbidden(b'\r', 1)),
        case(
            "plus in a form",
            vec![("content-type", FORM)],
            b"affitor_click_id=a+b",
        )
        .rejects(form(), forbidden(b' ', 1)),
        case(
            "empty form field",
            vec![("content-type", FORM)],
            b"affitor_click_id=&x=1",
        )
        .rejects(form(), InvalidClickId::Empty),
    ])
    .await;
}

#[tokio::test]
async fn duplicate_cookies_each_get_a_chance_in_order() {
    run(vec![
        case(
            "first valid wins",
            vec![("cookie", b"affitor_click_id=first; affitor_click_id=second")],
            b"",
        )
        .found("first", cookie()),
        case(
            "an invalid first gives way",
            vec![("cookie", b"affitor_click_id=; affitor_click_id=second")],
            b"",
        )
        .rejects(cookie(), InvalidClickId::Empty)
        .found("second", cookie()),
        case(
            "several Cookie headers",
            vec![
                ("cookie", b"theme=dark; broken"),
                ("cookie", b"affitor_click_id=from-second-header"),
            ],
            b"",
        )
        .found("from-second-header", cookie()),
        case(
            "malformed pairs are skipped",
            vec![("cookie", b"=x; ;; noequals; affitor_click_id = spaced ")],
            b"",
        )
        .found("spaced", cookie()),
        case(
            "name is exact",
            vec![("cookie", b"Affitor_Click_Id=x; affitor_click_idx=y")],
            b"",
        ),
    ])
    .await;
}

#[tokio::test]
async fn json_fields_must_be_top_level_strings_and_the_last_occurrence_wins() {
    let json = |what, body: &'static [u8]| case(what, vec![("content-type", JSON)], body);
    run(vec![
        json(
            "nested in an object",
            br#"{"user":{"affitorClickId":"n-1"}}"#,
        ),
        json(
            "nested in an array",
            br#"{"list":[{"affitorClickId":"n-1"}],"a":["affitorClickId"]}"#,
        ),
        json(
            "a key in a nested string",
            br#"{"note":"\"affitorClickId\":\"n-1\""}"#,
        ),
        json("null", br#"{"affitorClickId":null}"#),
        json("number", br#"{"affitorClickId":12345}"#),
        json("object", br#"{"affitorClickId":{"id":"n-1"}}"#),
        json(
            "nested then top level",
            br#"{"user":{"affitorClickId":"inner"},"affitorClickId":"outer"}"#,
        )
        .found("outer", json_camel()),
        json(
            "repeated: last wins",
            br#"{"affitorClickId":"first","affitorClickId":"last"}"#,
        )
        .found("last", json_camel()),
        json(
            "repeated: a last null hides the first",
            br#"{"affitorClickId":"first","affitorClickId":null}"#,
        ),
        json(
            "a non-string falls to the next field",
            br#"{"affitorClickId":1,"affitor_click_id":"snake"}"#,
        )
        .found("snake", json_snake()),
        case(
            "form: last wins",
            vec![("content-type", FORM)],
            b"affitor_click_id=first&affitor_click_id=last",
        )
        .found("last", form()),
    ])
    .await;
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

/// Collects what the layer logs.
#[derive(Clone, Default)]
struct Logs(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Logs {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(bytes);
        Ok(bytes.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test(flavor = "current_thread")]
async fn rejections_are_logged_with_source_and_reason_never_the_value() {
    let logs = Logs::default();
    let writer = logs.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_writer(move || writer.clone())
        .with_ansi(false)
        .with_max_level(tracing::Level::WARN)
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);

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

    let logs = String::from_utf8(logs.0.lock().unwrap().clone()).unwrap();
    let lines: Vec<&str> = logs.lines().collect();
    assert_eq!(lines.len(), 3, "{logs}");
    for (line, source) in lines.iter().zip([
        "header `x-affitor-click-id`",
        "cookie `affitor_click_id`",
        "JSON body field `affitorClickId`",
    ]) {
        assert!(line.contains("WARN"), "{line}");
        assert!(line.contains(source), "{line}");
        assert!(line.contains("forbidden byte"), "{line}");
    }
    assert!(!logs.contains("secret"), "{logs}");
    assert!(!logs.contains("injected"), "{logs}");
}

#[cfg(feature = "client")]
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
