//! The harness of the scenario suite: the table of example apps, and each app started on a real
//! port of 127.0.0.1, against a local Affitor API stand-in of its own.
//!
//! A new app joins the suite with one row in [`APPS`]; every scenario then runs against it.
//! The load and faults tools (`src/bin`) start the signup example through [`signup`].

/// The examples of README.md, compiled and run as doctests.
#[cfg(doctest)]
#[doc = include_str!("../../README.md")]
pub struct ReadmeDoctests;

/// The examples of each library crate's README (its crates.io page), compiled and run as
/// doctests.
#[cfg(doctest)]
pub mod crate_readmes {
    /// `affitor/README.md`.
    #[doc = include_str!("../../affitor/README.md")]
    pub struct Affitor;
    /// `affitor-tower/README.md`.
    #[doc = include_str!("../../affitor-tower/README.md")]
    pub struct AffitorTower;
    /// `affitor-axum/README.md`.
    #[doc = include_str!("../../affitor-axum/README.md")]
    pub struct AffitorAxum;
    /// `affitor-actix/README.md`.
    #[doc = include_str!("../../affitor-actix/README.md")]
    pub struct AffitorActix;
    /// `affitor-outbox/README.md`.
    #[doc = include_str!("../../affitor-outbox/README.md")]
    pub struct AffitorOutbox;
    /// `affitor-mock/README.md`.
    #[doc = include_str!("../../affitor-mock/README.md")]
    pub struct AffitorMock;
}

use std::future::Future;
use std::io;
use std::net::TcpListener;
use std::pin::Pin;
use std::time::Duration;

use affitor::{Client, client::RetryPolicy};
use affitor_mock::{MockServer, SignedWebhook, quick_retries};
use example_support::{AppConfig, PaymentWebhooks};
use reqwest::StatusCode;
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

pub mod signup;

/// What an example app offers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// `GET /` and `POST /api/signup`.
    Signup,
    /// The signup routes, `POST /api/checkout`, and the payment webhooks: `POST /webhooks/stripe`,
    /// `POST /webhooks/polar` (on the demo secrets) and `POST /webhooks/payment`.
    Checkout,
}

/// A running server, as a future that the harness spawns, and how to stop it.
pub struct Served {
    future: Pin<Box<dyn Future<Output = io::Result<()>> + Send>>,
    stop: Option<Box<dyn FnOnce() + Send + Sync>>,
}

impl std::fmt::Debug for Served {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Served").finish_non_exhaustive()
    }
}

/// One row of the table: an example app and how to serve it on a listener.
#[derive(Clone, Copy)]
pub struct ExampleApp {
    /// The package name.
    pub name: &'static str,
    /// What it offers.
    pub kind: Kind,
    /// Serves the app on a listener; a checkout app mounts the payment webhooks given.
    serve: fn(TcpListener, AppConfig, PaymentWebhooks) -> io::Result<Served>,
}

impl std::fmt::Debug for ExampleApp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name)
    }
}

/// Every example app.
pub const APPS: [ExampleApp; 4] = [
    ExampleApp {
        name: "axum-signup",
        kind: Kind::Signup,
        serve: |listener, config, _| serve_axum(listener, axum_signup::app(config)),
    },
    ExampleApp {
        name: "axum-checkout",
        kind: Kind::Checkout,
        serve: |listener, config, webhooks| {
            serve_axum(listener, axum_checkout::app(config, webhooks))
        },
    },
    ExampleApp {
        name: "actix-signup",
        kind: Kind::Signup,
        serve: |listener, config, _| serve_actix(actix_signup::serve(listener, config)?),
    },
    ExampleApp {
        name: "actix-checkout",
        kind: Kind::Checkout,
        serve: |listener, config, webhooks| {
            serve_actix(actix_checkout::serve(listener, config, webhooks)?)
        },
    },
];

fn serve_axum(listener: TcpListener, app: axum::Router) -> io::Result<Served> {
    listener.set_nonblocking(true)?;
    let listener = tokio::net::TcpListener::from_std(listener)?;
    Ok(Served {
        future: Box::pin(example_support::serve_axum(
            listener,
            app,
            std::future::pending(),
        )),
        stop: None,
    })
}

fn serve_actix(server: actix_web::dev::Server) -> io::Result<Served> {
    // actix-web runs its workers on threads of their own: stop them with the server.
    let handle = server.handle();
    Ok(Served {
        future: Box::pin(server),
        stop: Some(Box::new(move || drop(handle.stop(false)))),
    })
}

/// The apps that offer at least what `kind` offers.
pub fn apps(kind: Kind) -> impl Iterator<Item = ExampleApp> {
    APPS.into_iter()
        .filter(move |app| kind == Kind::Signup || app.kind == kind)
}

/// The retry policy of the apps under test: the default's shape, with short waits.
pub fn fast_retries() -> RetryPolicy {
    quick_retries()
        .base_delay(Duration::from_millis(20))
        .max_delay(Duration::from_millis(100))
        .retry_after_cap(Duration::from_secs(1))
        .deadline(Duration::from_secs(5))
        .refund_not_found_window(Duration::from_millis(200))
}

/// The Affitor client of the apps under test: `mock`'s, with [`fast_retries`].
pub fn client_of(mock: &MockServer) -> Client {
    mock.client_builder()
        .timeout(Duration::from_secs(3))
        .retry(fast_retries())
        .build()
        .expect("a client for the stand-in API")
}

impl ExampleApp {
    /// Starts the app on 127.0.0.1, port 0, with a fresh stand-in API (and every payment
    /// webhook, on the demo secrets).
    pub async fn start(self) -> Running {
        self.start_with_webhooks(PaymentWebhooks::demo()).await
    }

    /// [`start`](Self::start), with the payment `webhooks` given.
    pub async fn start_with_webhooks(self, webhooks: PaymentWebhooks) -> Running {
        let mock = MockServer::start().await.expect("the stand-in API starts");
        let affitor = client_of(&mock);
        self.serve_on(mock, affitor, None, webhooks)
    }

    /// Starts the app on 127.0.0.1, port 0, with `mock`, the client `affitor` of it, and the
    /// durable `outbox`, if any.
    pub fn start_with(
        self,
        mock: MockServer,
        affitor: Client,
        outbox: Option<affitor_outbox::Outbox>,
    ) -> Running {
        self.serve_on(mock, affitor, outbox, PaymentWebhooks::demo())
    }

    fn serve_on(
        self,
        mock: MockServer,
        affitor: Client,
        outbox: Option<affitor_outbox::Outbox>,
        webhooks: PaymentWebhooks,
    ) -> Running {
        let config = AppConfig::new(affitor.clone(), mock.program_id().to_string(), outbox);
        let listener = TcpListener::bind("127.0.0.1:0").expect("a free port");
        let addr = listener.local_addr().expect("the port");
        let served = (self.serve)(listener, config, webhooks).expect("the app serves");
        let task = tokio::spawn(served.future);
        Running {
            app: self,
            url: format!("http://{addr}"),
            mock,
            affitor,
            http: reqwest::Client::new(),
            task,
            stop: served.stop,
        }
    }
}

/// An example app serving on a real port, and its stand-in API.
pub struct Running {
    /// The app.
    pub app: ExampleApp,
    /// Where it listens, as `http://127.0.0.1:PORT`.
    pub url: String,
    /// The stand-in API it talks to.
    pub mock: MockServer,
    /// A clone of its Affitor client, sharing its delivery counters.
    pub affitor: Client,
    http: reqwest::Client,
    task: tokio::task::JoinHandle<io::Result<()>>,
    stop: Option<Box<dyn FnOnce() + Send + Sync>>,
}

impl std::fmt::Debug for Running {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Running")
            .field("app", &self.app)
            .field("url", &self.url)
            .finish_non_exhaustive()
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            stop();
        }
        self.task.abort();
    }
}

/// An answer of the app under test.
#[derive(Debug)]
pub struct Answer {
    /// The status.
    pub status: StatusCode,
    /// The body, as JSON (`Null` when it is not JSON).
    pub json: Value,
    /// The body, as text.
    pub text: String,
}

impl Running {
    /// Posts `body` as JSON to `path`, with extra `headers`.
    pub async fn post_json(&self, path: &str, body: &Value, headers: &[(&str, &str)]) -> Answer {
        let request = self.http.post(format!("{}{path}", self.url)).json(body);
        self.send(request, headers).await
    }

    /// Posts `body` as a form to `path`, with extra `headers`.
    pub async fn post_form(&self, path: &str, body: &str, headers: &[(&str, &str)]) -> Answer {
        let request = self
            .http
            .post(format!("{}{path}", self.url))
            // As some clients write it: a media type's case and parameters are no matter.
            .header(
                "content-type",
                "Application/x-www-form-urlencoded; charset=UTF-8",
            )
            .body(body.to_owned());
        self.send(request, headers).await
    }

    /// Posts a signed webhook delivery to `path`: its headers and its body, as the provider
    /// sends them.
    pub async fn post_signed(&self, path: &str, signed: &SignedWebhook) -> Answer {
        let mut request = self
            .http
            .post(format!("{}{path}", self.url))
            .body(signed.body().to_owned());
        for (name, value) in signed.headers() {
            request = request.header(name, value);
        }
        self.send(request, &[]).await
    }

    /// Gets `path`.
    pub async fn get(&self, path: &str) -> Answer {
        self.send(self.http.get(format!("{}{path}", self.url)), &[])
            .await
    }

    async fn send(&self, mut request: reqwest::RequestBuilder, headers: &[(&str, &str)]) -> Answer {
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        let response = request.send().await.expect("the app answers");
        let status = response.status();
        let text = response.text().await.expect("the app's body");
        let json = serde_json::from_str(&text).unwrap_or(Value::Null);
        Answer { status, json, text }
    }

    /// Posts `chunks` to `path` with `Transfer-Encoding: chunked`, one HTTP chunk each, over a
    /// raw connection, and returns the status and the body.
    pub async fn post_chunked(&self, path: &str, content_type: &str, chunks: &[&[u8]]) -> Answer {
        let addr = self.url.trim_start_matches("http://");
        let mut stream = tokio::net::TcpStream::connect(addr).await.expect("connect");
        let head = format!(
            "POST {path} HTTP/1.1\r\nhost: {addr}\r\ncontent-type: {content_type}\r\n\
             transfer-encoding: chunked\r\nconnection: close\r\n\r\n"
        );
        stream.write_all(head.as_bytes()).await.expect("write");
        for chunk in chunks.iter().filter(|chunk| !chunk.is_empty()) {
            let size = format!("{:x}\r\n", chunk.len());
            stream.write_all(size.as_bytes()).await.expect("write");
            stream.write_all(chunk).await.expect("write");
            stream.write_all(b"\r\n").await.expect("write");
            stream.flush().await.expect("flush");
        }
        stream.write_all(b"0\r\n\r\n").await.expect("write");
        let mut raw = Vec::new();
        stream.read_to_end(&mut raw).await.expect("read");
        parse_raw_response(&raw)
    }

    /// Posts to `path` a request whose head says `Content-Length: announced` and whose body
    /// stops after `sent`, then waits (at most `bound`, generous) for what the server does.
    pub async fn post_stalled(
        &self,
        path: &str,
        headers: &[(&str, &str)],
        sent: &str,
        announced: usize,
        bound: Duration,
    ) -> Stalled {
        let addr = self.url.trim_start_matches("http://");
        let mut stream = tokio::net::TcpStream::connect(addr).await.expect("connect");
        let mut head = format!("POST {path} HTTP/1.1\r\nhost: {addr}\r\n");
        for (name, value) in headers {
            head.push_str(&format!("{name}: {value}\r\n"));
        }
        head.push_str(&format!("content-length: {announced}\r\n\r\n{sent}"));
        stream.write_all(head.as_bytes()).await.expect("write");
        stream.flush().await.expect("flush");
        read_answer(&mut stream, bound).await
    }

    /// Sends the start of a request's head to `path`, then one more byte of it a second, never
    /// its end (a slow-headers attack): what the server did within `bound`.
    pub async fn head_trickled(&self, path: &str, bound: Duration) -> Stalled {
        let addr = self.url.trim_start_matches("http://");
        let stream = tokio::net::TcpStream::connect(addr).await.expect("connect");
        let (mut reader, mut writer) = stream.into_split();
        let head = format!("POST {path} HTTP/1.1\r\nhost: {addr}\r\nx-slow: ");
        writer.write_all(head.as_bytes()).await.expect("write");
        let trickle = tokio::spawn(async move {
            while writer.write_all(b"a").await.is_ok() {
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        });
        let outcome = read_answer(&mut reader, bound).await;
        trickle.abort();
        outcome
    }

    /// Signs up `email` with the JSON body `extra` merged in, and returns the new user id.
    pub async fn signup(&self, email: &str, extra: &Value, headers: &[(&str, &str)]) -> String {
        let mut body = serde_json::json!({ "email": email, "password": "correct horse" });
        if let (Some(body), Some(extra)) = (body.as_object_mut(), extra.as_object()) {
            body.extend(extra.clone());
        }
        let answer = self.post_json("/api/signup", &body, headers).await;
        assert_eq!(
            answer.status,
            StatusCode::OK,
            "{}: signup: {}",
            self.app.name,
            answer.text
        );
        user_id(&answer)
    }

    /// Waits until the stand-in API has received `count` lead requests, and returns their bodies.
    pub async fn leads_received(&self, count: usize) -> Vec<Value> {
        let endpoint = affitor::client::Endpoint::Lead;
        wait_until(self.app.name, "lead requests", || {
            let leads = self.mock.requests_to(endpoint);
            (leads.len() >= count).then(|| leads.into_iter().map(|lead| lead.body).collect())
        })
        .await
    }
}

/// Reads what the server sends on `stream` within `bound`: its answer's head, or the
/// connection closed, or nothing.
async fn read_answer(stream: &mut (impl tokio::io::AsyncRead + Unpin), bound: Duration) -> Stalled {
    let mut raw = Vec::new();
    let read = tokio::time::timeout(bound, async {
        let mut buffer = [0u8; 4096];
        loop {
            match stream.read(&mut buffer).await {
                Ok(0) | Err(_) => break,
                Ok(n) => raw.extend_from_slice(&buffer[..n]),
            }
            if raw.windows(4).any(|window| window == b"\r\n\r\n") {
                break;
            }
        }
    })
    .await;
    match (read, raw.is_empty()) {
        (Err(_), true) => Stalled::Unanswered,
        (_, true) => Stalled::Closed,
        (_, false) => Stalled::Answered(parse_raw_response(&raw).status),
    }
}

/// What a server did with a request whose body never came.
#[derive(Debug, PartialEq, Eq)]
pub enum Stalled {
    /// It answered, with this status.
    Answered(StatusCode),
    /// It closed the connection without an answer.
    Closed,
    /// Neither, within the test's bound.
    Unanswered,
}

impl Stalled {
    /// Whether the server cut the request short, as its timeouts should: a `408`, or the
    /// connection closed.
    pub fn was_cut_short(&self) -> bool {
        matches!(
            self,
            Self::Answered(StatusCode::REQUEST_TIMEOUT) | Self::Closed
        )
    }
}

/// Serves the process's Prometheus page on 127.0.0.1, port 0, as the apps' `METRICS_ADDR`
/// does, and returns its URL (`http://127.0.0.1:PORT/metrics`).
pub async fn metrics_url() -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("a free port");
    let addr = listener.local_addr().expect("the port");
    tokio::spawn(example_support::serve_metrics(listener));
    format!("http://{addr}/metrics")
}

/// A page the app served to a browser, with its headers.
#[derive(Debug)]
pub struct Page {
    /// The status.
    pub status: StatusCode,
    /// The headers.
    pub headers: reqwest::header::HeaderMap,
    /// The body, as text.
    pub text: String,
}

impl Page {
    /// The `Set-Cookie` values, in order.
    pub fn set_cookies(&self) -> Vec<&str> {
        self.headers
            .get_all(reqwest::header::SET_COOKIE)
            .iter()
            .filter_map(|value| value.to_str().ok())
            .collect()
    }

    /// The value the response sets for the cookie `name`.
    pub fn cookie(&self, name: &str) -> Option<&str> {
        self.set_cookies().into_iter().find_map(|set_cookie| {
            let pair = set_cookie.split(';').next()?;
            let (key, value) = pair.split_once('=')?;
            (key.trim() == name).then_some(value.trim())
        })
    }

    /// The `Cookie` header a browser sends back after this page: the name and value of each
    /// cookie it set.
    pub fn cookie_header(&self) -> String {
        self.set_cookies()
            .into_iter()
            .filter_map(|set_cookie| set_cookie.split(';').next())
            .collect::<Vec<_>>()
            .join("; ")
    }
}

/// The user agent of a current desktop browser.
pub const BROWSER: &str = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) \
                           Chrome/142.0.0.0 Safari/537.36";

impl Running {
    /// Opens `path` as a browser navigating to it (`method`, a browser's `User-Agent`, `Accept`
    /// and `Sec-Fetch-Mode: navigate`), with `headers` added or replacing those.
    pub async fn open(&self, method: &str, path: &str, headers: &[(&str, &str)]) -> Page {
        use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
        let mut map = HeaderMap::new();
        for (name, value) in [
            ("user-agent", BROWSER),
            ("accept", "text/html,application/xhtml+xml,*/*;q=0.8"),
            ("sec-fetch-mode", "navigate"),
        ]
        .iter()
        .chain(headers)
        {
            let name = HeaderName::from_bytes(name.as_bytes()).expect("a header name");
            map.insert(name, HeaderValue::from_str(value).expect("a header value"));
        }
        let method = reqwest::Method::from_bytes(method.as_bytes()).expect("a method");
        let response = self
            .http
            .request(method, format!("{}{path}", self.url))
            .headers(map)
            .send()
            .await
            .expect("the app answers");
        Page {
            status: response.status(),
            headers: response.headers().clone(),
            text: response.text().await.expect("the app's body"),
        }
    }
}

/// The `userId` of a signup answer.
pub fn user_id(answer: &Answer) -> String {
    answer.json["userId"]
        .as_str()
        .unwrap_or_else(|| panic!("a userId in {}", answer.text))
        .to_owned()
}

/// Polls `check` until it gives a value, for at most 10 s; panics naming `app` and `what`.
pub async fn wait_until<T>(app: &str, what: &str, mut check: impl FnMut() -> Option<T>) -> T {
    affitor_mock::poll_until(Duration::from_secs(10), async || check())
        .await
        .unwrap_or_else(|| panic!("{app}: {what} never came"))
}

fn parse_raw_response(raw: &[u8]) -> Answer {
    let text = String::from_utf8_lossy(raw);
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let code = head
        .split_whitespace()
        .nth(1)
        .and_then(|code| code.parse().ok())
        .unwrap_or(0);
    let chunked = head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked");
    let body = if chunked {
        dechunk(body)
    } else {
        body.to_owned()
    };
    Answer {
        status: StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
        json: serde_json::from_str(&body).unwrap_or(Value::Null),
        text: body,
    }
}

fn dechunk(mut body: &str) -> String {
    let mut out = String::new();
    while let Some((size, rest)) = body.split_once("\r\n") {
        let Ok(size) = usize::from_str_radix(size.trim(), 16) else {
            break;
        };
        if size == 0 || rest.len() < size {
            break;
        }
        out.push_str(&rest[..size]);
        body = rest[size..].trim_start_matches("\r\n");
    }
    out
}
