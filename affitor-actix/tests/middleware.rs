//! The `Affitor` middleware: where it finds the click id, and that the handler always reads the
//! body as it was sent.

#![allow(clippy::unwrap_used)]

mod support;

use actix_http::Request;
use actix_web::dev::Service;
use actix_web::http::Method;
use actix_web::http::header::HeaderValue;
use actix_web::test::{self, TestRequest};
use actix_web::{App, HttpMessage, HttpResponse, HttpServer, web};
use affitor_actix::{Affitor, ClickId, ClickIdLookup, ClickIdSearch, ClickIdSource, Client};
use bytes::Bytes;
use support::{Seen, Step, chunk, json_of_len, observe, scripted, seens, take_one};

const LIMIT: usize = ClickIdSearch::DEFAULT_BODY_LIMIT;
const JSON: &str = "application/json";
const FORM: &str = "application/x-www-form-urlencoded";

/// A request to send, to the bare handler and through the middleware.
#[derive(Clone)]
struct Req {
    method: Method,
    headers: Vec<(&'static str, Vec<u8>)>,
    body: Body,
}

#[derive(Clone)]
enum Body {
    /// No body at all.
    None,
    /// A body with its `Content-Length`.
    Fixed(Bytes),
    /// A streamed body, without `Content-Length`.
    Stream(Vec<Step>),
}

fn req(method: Method) -> Req {
    Req {
        method,
        headers: Vec::new(),
        body: Body::None,
    }
}

fn get() -> Req {
    req(Method::GET)
}

fn post() -> Req {
    req(Method::POST)
}

impl Req {
    fn header(mut self, name: &'static str, value: impl AsRef<[u8]>) -> Self {
        self.headers.push((name, value.as_ref().to_vec()));
        self
    }

    fn json(self, body: impl Into<Bytes>) -> Self {
        self.header("content-type", JSON).body(body)
    }

    fn body(mut self, body: impl Into<Bytes>) -> Self {
        self.body = Body::Fixed(body.into());
        self
    }

    fn stream(mut self, steps: Vec<Step>) -> Self {
        self.body = Body::Stream(steps);
        self
    }

    fn to_request(&self) -> Request {
        let mut test = TestRequest::default()
            .method(self.method.clone())
            .uri("/api/signup");
        for (name, value) in &self.headers {
            test = test.append_header((*name, HeaderValue::from_bytes(value).unwrap()));
        }
        match &self.body {
            Body::None => test.to_request(),
            Body::Fixed(bytes) => test.set_payload(bytes.clone()).to_request(),
            Body::Stream(steps) => test.to_request().replace_payload(scripted(steps)).0,
        }
    }
}

/// What the handler sees without the middleware.
async fn bare(request: &Req) -> Seen {
    let seens = seens();
    let app = test::init_service(
        App::new()
            .app_data(seens.clone())
            .default_service(web::to(observe)),
    )
    .await;
    test::call_service(&app, request.to_request()).await;
    take_one(&seens)
}

/// What the handler sees through the middleware.
async fn wrapped(affitor: Affitor, request: &Req) -> Seen {
    let seens = seens();
    let app = test::init_service(
        App::new()
            .app_data(seens.clone())
            .wrap(affitor)
            .default_service(web::to(observe)),
    )
    .await;
    test::call_service(&app, request.to_request()).await;
    take_one(&seens)
}

/// Sends the request to the bare handler and through the middleware, checks that the handler
/// read the same bytes, the same error and the same headers, and returns what it saw through
/// the middleware.
async fn compare(affitor: Affitor, request: &Req) -> Seen {
    let bare = bare(request).await;
    let seen = wrapped(affitor, request).await;
    assert!(
        seen.data == bare.data,
        "the handler read other data: {} bytes instead of {}",
        seen.data.len(),
        bare.data.len()
    );
    assert_eq!(seen.error, bare.error);
    assert_eq!(seen.content_length, bare.content_length);
    assert!(
        seen.lookup.is_some(),
        "the middleware always inserts a lookup"
    );
    // The lookup is the one extension that carries the click id: no `ClickId` of its own.
    assert_eq!(seen.click_id_extension, None);
    seen
}

fn found(seen: &Seen) -> Option<(&str, &ClickIdSource)> {
    let lookup = seen.lookup.as_ref().unwrap();
    Some((lookup.click_id()?.as_str(), lookup.source()?))
}

fn header() -> ClickIdSource {
    ClickIdSource::header("x-affitor-click-id")
}
fn cookie() -> ClickIdSource {
    ClickIdSource::cookie("affitor_click_id")
}
fn json_camel() -> ClickIdSource {
    ClickIdSource::json_field("affitorClickId")
}

/// Two chunks of a JSON body that holds the click id `inbody`: the handler reading them as
/// two chunks shows the middleware did not read the body.
fn two_json_chunks() -> Vec<Step> {
    vec![chunk(r#"{"affitorClickId":"#), chunk(r#""inbody"}"#)]
}

/// A streamed body is read to its end before the lookup. Which sources win, what is rejected
/// and which bodies are read are the lookup's rules, run through this middleware and the Tower
/// layer alike in the scenario crate's `lookup_rules`.
#[actix_web::test]
async fn a_chunked_body_is_read_whole_before_the_lookup() {
    let request = post()
        .header("content-type", JSON)
        .stream(vec![chunk(r#"{"affitorCl"#), chunk(r#"ickId":"abc"}"#)]);
    let seen = compare(Affitor::new(), &request).await;
    assert_eq!(found(&seen), Some(("abc", &json_camel())));
}

#[actix_web::test]
async fn reads_a_body_only_when_it_may_hold_the_click_id() {
    let cases: Vec<(&str, Req)> = vec![
        ("a GET", req(Method::GET).header("content-type", JSON)),
        ("a DELETE", req(Method::DELETE).header("content-type", JSON)),
        ("plain text", post().header("content-type", "text/plain")),
        (
            "multipart",
            post().header("content-type", "multipart/form-data; boundary=x"),
        ),
        ("no content type", post()),
        (
            "a header already gave the click id",
            post()
                .header("content-type", JSON)
                .header("x-affitor-click-id", "fromheader"),
        ),
        (
            "a cookie already gave the click id",
            post()
                .header("content-type", JSON)
                .header("cookie", "affitor_click_id=fromcookie"),
        ),
        (
            "a compressed body",
            post()
                .header("content-type", JSON)
                .header("content-encoding", "gzip"),
        ),
    ];
    for (what, request) in cases {
        let request = request.stream(two_json_chunks());
        let seen = compare(Affitor::new(), &request).await;
        assert_eq!(seen.chunks.len(), 2, "{what}: the body was read");
        assert_ne!(
            found(&seen).map(|(id, _)| id),
            Some("inbody"),
            "{what}: the body was parsed"
        );
    }

    // Sources without a body field never read the body.
    let only_headers = Affitor::new().search(ClickIdSearch::new([header(), cookie()]));
    let request = post()
        .header("content-type", JSON)
        .stream(two_json_chunks());
    let seen = compare(only_headers, &request).await;
    assert_eq!(seen.chunks.len(), 2);
    assert_eq!(found(&seen), None);

    // Nor does a form body when only JSON fields are configured.
    let only_json = Affitor::new().search(ClickIdSearch::new([json_camel()]));
    let request = post()
        .header("content-type", FORM)
        .stream(vec![chunk("affitor_click_id="), chunk("abc")]);
    let seen = compare(only_json, &request).await;
    assert_eq!(seen.chunks.len(), 2);
    assert_eq!(found(&seen), None);
}

#[actix_web::test]
async fn an_existing_click_id_extension_is_never_overwritten() {
    let seens = seens();
    let app = test::init_service(
        App::new()
            .app_data(seens.clone())
            .wrap(Affitor::new())
            // Registered last, so it runs first.
            .wrap_fn(|request, service| {
                request
                    .extensions_mut()
                    .insert("fromauth".parse::<ClickId>().unwrap());
                service.call(request)
            })
            .default_service(web::to(observe)),
    )
    .await;
    let request = TestRequest::post()
        .insert_header(("x-affitor-click-id", "fromheader"))
        .insert_header(("content-type", JSON))
        .set_payload(r#"{"affitorClickId":"inbody"}"#)
        .to_request();
    test::call_service(&app, request).await;
    let seen = take_one(&seens);
    assert_eq!(found(&seen), Some(("fromauth", &ClickIdSource::Extension)));
    // Kept as it was, not overwritten, and not doubled.
    assert_eq!(seen.click_id_extension.unwrap(), "fromauth");
    assert_eq!(seen.data, br#"{"affitorClickId":"inbody"}"#);
}

#[actix_web::test]
async fn the_client_is_carried_into_every_request() {
    let client = Client::builder().api_key("aff_test_key").build().unwrap();
    for request in [get(), post().json(r#"{"affitorClickId":"abc"}"#)] {
        let seen = compare(Affitor::new().client(client.clone()), &request).await;
        assert!(seen.client);
    }
    let seen = compare(Affitor::new(), &get()).await;
    assert!(!seen.client);
}

#[actix_web::test]
async fn bodies_with_a_length_at_and_around_the_limit() {
    for (len, parsed) in [
        (0, false),
        (LIMIT - 1, true),
        (LIMIT, true),
        (LIMIT + 1, false),
    ] {
        let body = if len == 0 {
            Vec::new()
        } else {
            json_of_len(len)
        };
        let request = post().json(body);
        let seen = compare(Affitor::new(), &request).await;
        assert_eq!(seen.data.len(), len);
        assert_eq!(seen.content_length, Some(len.to_string()));
        let source = json_camel();
        let expected = parsed.then_some(("abc", &source));
        assert_eq!(found(&seen), expected, "{len} bytes");
    }

    // 10 MiB announced by its `Content-Length`: never read.
    let big = json_of_len(10 * 1024 * 1024);
    let seen = compare(Affitor::new(), &post().json(big)).await;
    assert_eq!(seen.data.len(), 10 * 1024 * 1024);
    assert_eq!(found(&seen), None);
}

/// `body` streamed in chunks of `size` bytes.
fn chunks_of(body: &[u8], size: usize) -> Vec<Step> {
    body.chunks(size)
        .map(|part| chunk(Bytes::copy_from_slice(part)))
        .collect()
}

#[actix_web::test]
async fn streamed_bodies_at_and_around_the_limit() {
    for (len, parsed) in [(LIMIT - 1, true), (LIMIT, true), (LIMIT + 1, false)] {
        let steps = chunks_of(&json_of_len(len), 1000);
        let request = post().header("content-type", JSON).stream(steps.clone());
        let seen = compare(Affitor::new(), &request).await;
        assert_eq!(seen.data.len(), len);
        assert_eq!(seen.content_length, None);
        let source = json_camel();
        let expected = parsed.then_some(("abc", &source));
        assert_eq!(found(&seen), expected, "{len} bytes");
        if !parsed {
            // Past the limit, what was read is handed on gathered, then the chunk that passed
            // the limit; every byte in order (`compare` checked them against the bare app).
            assert_eq!(seen.chunks.len(), 2, "{len} bytes");
        }
    }

    // 10 MiB in 64 KiB chunks: the middleware stops after the limit, the handler reads it all.
    let big = json_of_len(10 * 1024 * 1024);
    let request = post()
        .header("content-type", JSON)
        .stream(chunks_of(&big, LIMIT));
    let seen = compare(Affitor::new(), &request).await;
    assert!(seen.data == big);
    assert_eq!(seen.chunks.len(), 160);
    assert_eq!(found(&seen), None);

    // One chunk larger than the limit.
    let request = post()
        .header("content-type", JSON)
        .stream(vec![chunk(big.clone())]);
    let seen = compare(Affitor::new(), &request).await;
    assert!(seen.data == big);
    assert_eq!(found(&seen), None);
}

#[actix_web::test]
async fn a_smaller_limit_is_honoured() {
    let small = Affitor::new().search(ClickIdSearch::default().body_limit(10));
    let body = r#"{"affitorClickId":"abc"}"#;
    let seen = compare(small.clone(), &post().json(body)).await;
    assert_eq!(found(&seen), None);
    let request = post()
        .header("content-type", JSON)
        .stream(chunks_of(body.as_bytes(), 4));
    let seen = compare(small, &request).await;
    assert_eq!(found(&seen), None);
    // The 8 bytes read within the limit gathered into one chunk, then the chunk that passed
    // it, then the rest as it comes: 6 chunks sent, 5 handed on, the same bytes.
    assert_eq!(seen.chunks.len(), 5);
    assert_eq!(seen.data, body.as_bytes());
}

#[actix_web::test]
async fn a_failing_body_reaches_the_handler_with_the_same_bytes_then_the_same_error() {
    for steps in [
        vec![chunk(r#"{"affitorClickId":"abc""#), Step::Fail],
        vec![chunk("{"), chunk(r#""affitorClickId":"abc"}"#), Step::Fail],
        vec![Step::Fail],
        vec![Step::Fail, chunk(r#"{"affitorClickId":"abc"}"#)],
    ] {
        let request = post().header("content-type", JSON).stream(steps);
        let seen = compare(Affitor::new(), &request).await;
        assert!(seen.error.is_some(), "the error was lost");
        assert_eq!(found(&seen), None);
    }
    // An error after the limit is never read by the middleware, yet reaches the handler.
    let mut steps = chunks_of(&json_of_len(LIMIT + 10), 1000);
    steps.push(Step::Fail);
    let request = post().header("content-type", JSON).stream(steps);
    let seen = compare(Affitor::new(), &request).await;
    assert_eq!(seen.data.len(), LIMIT + 10);
    assert!(seen.error.is_some());
}

#[derive(serde::Deserialize, serde::Serialize)]
struct Signup {
    email: String,
}

async fn signup_json(
    request: actix_web::HttpRequest,
    form: web::Either<web::Json<Signup>, web::Form<Signup>>,
) -> HttpResponse {
    let click_id = request
        .extensions()
        .get::<ClickIdLookup>()
        .and_then(|lookup| lookup.click_id().cloned());
    let email = form.into_inner().email;
    HttpResponse::Ok().body(format!("{email} {click_id:?}"))
}

#[actix_web::test]
async fn actix_body_extractors_work_after_the_middleware_read_the_body() {
    let app = test::init_service(
        App::new()
            .wrap(Affitor::new())
            .route("/api/signup", web::post().to(signup_json)),
    )
    .await;
    let json = TestRequest::post()
        .uri("/api/signup")
        .set_json(serde_json::json!({ "email": "a@example.com", "affitorClickId": "abc" }))
        .to_request();
    let body = test::call_and_read_body(&app, json).await;
    assert_eq!(body, r#"a@example.com Some(ClickId("abc"))"#);

    let form = TestRequest::post()
        .uri("/api/signup")
        .set_form([("email", "a@example.com"), ("affitor_click_id", "abc")])
        .to_request();
    let body = test::call_and_read_body(&app, form).await;
    assert_eq!(body, r#"a@example.com Some(ClickId("abc"))"#);
}

/// Sends a raw HTTP/1.1 request and returns the response.
async fn raw_http(addr: std::net::SocketAddr, request: &[u8]) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    stream.write_all(request).await.unwrap();
    let mut response = Vec::new();
    stream.read_to_end(&mut response).await.unwrap();
    String::from_utf8(response).unwrap()
}

#[actix_web::test]
async fn replays_real_http_bodies_chunked_or_not() {
    async fn echo(request: actix_web::HttpRequest, body: Bytes) -> HttpResponse {
        let lookup = request
            .extensions()
            .get::<ClickIdLookup>()
            .cloned()
            .unwrap();
        HttpResponse::Ok().body(format!("{lookup}; {} bytes", body.len()))
    }
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let server = HttpServer::new(|| {
        App::new()
            .wrap(Affitor::new())
            .app_data(web::PayloadConfig::new(1 << 20))
            .route("/", web::post().to(echo))
    })
    .workers(1)
    .disable_signals()
    .listen(listener)
    .unwrap()
    .run();
    let handle = server.handle();
    actix_web::rt::spawn(server);

    let json = r#"{"affitorClickId":"abc"}"#;
    let response = raw_http(
        addr,
        format!(
            "POST / HTTP/1.1\r\nhost: x\r\nconnection: close\r\ncontent-type: application/json\r\n\
             content-length: {}\r\n\r\n{json}",
            json.len()
        )
        .as_bytes(),
    )
    .await;
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    assert!(
        response.ends_with("click id found in the JSON body field `affitorClickId`; 24 bytes"),
        "{response}"
    );

    // Chunked, in two chunks.
    let response = raw_http(
        addr,
        b"POST / HTTP/1.1\r\nhost: x\r\nconnection: close\r\ncontent-type: application/json\r\n\
          transfer-encoding: chunked\r\n\r\n\
          c\r\n{\"affitorCli\r\nc\r\nckId\":\"abc\"}\r\n0\r\n\r\n",
    )
    .await;
    assert!(
        response.ends_with("click id found in the JSON body field `affitorClickId`; 24 bytes"),
        "{response}"
    );

    // Chunked, 200 KiB: past the limit, the handler still reads every byte.
    let mut request = b"POST / HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\
        content-type: application/json\r\ntransfer-encoding: chunked\r\n\r\n"
        .to_vec();
    let body = json_of_len(200 * 1024);
    for part in body.chunks(10_000) {
        request.extend_from_slice(format!("{:x}\r\n", part.len()).as_bytes());
        request.extend_from_slice(part);
        request.extend_from_slice(b"\r\n");
    }
    request.extend_from_slice(b"0\r\n\r\n");
    let response = raw_http(addr, &request).await;
    assert!(
        response.contains("no click id in the request (its body was not searched: it is over")
            && response.ends_with(&format!("; {} bytes", 200 * 1024)),
        "{}",
        &response[..400.min(response.len())]
    );

    handle.stop(false).await;
}

/// A body in thousands of 1-byte chunks is held as its bytes, not a chunk each: the handler
/// gets it in one chunk, every byte.
#[actix_web::test]
async fn a_body_in_one_byte_chunks_is_held_as_its_bytes() {
    let body = json_of_len(60 * 1024);
    let request = post()
        .header("content-type", JSON)
        .stream(chunks_of(&body, 1));
    let seen = compare(Affitor::new(), &request).await;
    assert_eq!(found(&seen).map(|(id, _)| id), Some("abc"));
    assert!(seen.data == body);
    assert_eq!(seen.chunks.len(), 1);
}

/// A body that never comes does not hold the request: on a real server, a route that does
/// not exist answers 404, and a handler reads the body once it comes, every byte.
#[actix_web::test]
async fn a_body_that_never_comes_does_not_hold_the_request() {
    use std::time::Duration;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    async fn answer(stream: &mut tokio::net::TcpStream) -> String {
        let mut response = Vec::new();
        let mut buffer = [0; 4096];
        while !String::from_utf8_lossy(&response).contains("\r\n\r\n")
            || !String::from_utf8_lossy(&response).ends_with('}')
                && String::from_utf8_lossy(&response).starts_with("HTTP/1.1 200")
        {
            let n = stream.read(&mut buffer).await.unwrap();
            assert!(n > 0, "closed without an answer");
            response.extend_from_slice(&buffer[..n]);
        }
        String::from_utf8_lossy(&response).into_owned()
    }

    let search = ClickIdSearch::default().body_timeout(Duration::from_millis(200));
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let server = HttpServer::new(move || {
        App::new()
            .wrap(Affitor::new().search(search.clone()))
            .route("/echo", web::post().to(|body: Bytes| async move { body }))
    })
    .workers(1)
    .listen(listener)
    .unwrap()
    .run();
    let handle = server.handle();
    actix_web::rt::spawn(server);

    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    stream
        .write_all(
            b"POST /no/such/route HTTP/1.1\r\nHost: test\r\nContent-Type: application/json\r\n\
              Content-Length: 1000\r\n\r\n{\"affitor",
        )
        .await
        .unwrap();
    // A guard against a hang, not a measure of speed.
    let response = tokio::time::timeout(Duration::from_secs(20), answer(&mut stream))
        .await
        .expect("an answer while the body never comes");
    assert!(response.starts_with("HTTP/1.1 404"), "{response}");

    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    stream
        .write_all(
            b"POST /echo HTTP/1.1\r\nHost: test\r\nContent-Type: application/json\r\n\
              Content-Length: 27\r\n\r\n{\"affitorClickId\":",
        )
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(500)).await; // past the body timeout
    stream.write_all(b"\"cust_1\"}").await.unwrap();
    let response = tokio::time::timeout(Duration::from_secs(20), answer(&mut stream))
        .await
        .expect("the echo");
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    assert!(
        response.ends_with("{\"affitorClickId\":\"cust_1\"}"),
        "{response}"
    );
    handle.stop(false).await;
}
