//! The example's binary under a Lambda runtime of this test's own: a stand-in of the Lambda
//! Runtime API on 127.0.0.1 hands the function one invocation, a signup through a function URL
//! (API Gateway's payload format 2.0). The moment the function posts its response, the test
//! freezes the process (SIGSTOP), as Lambda does once the response has left, and looks for the
//! lead at the Affitor stand-in.
//!
//! The stand-in answers the lead's first attempt `429 Retry-After: 1`, so the lead is delivered
//! by the client's retry, a second after the handler answered: with the flush, before the
//! response leaves; without it (`AFFITOR_FLUSH_DEADLINE_MS=0`), in a process frozen by then,
//! where it waits until the process is thawed.

#![allow(clippy::unwrap_used)]

use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use affitor::client::Endpoint;
use affitor_mock::{Fault, MockServer, poll_until};
use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::{get, post};
use rustix::process::{Pid, Signal, kill_process};
use serde_json::{Value, json};
use tokio::sync::mpsc;

/// The request id of the one invocation.
const REQUEST_ID: &str = "8476a536-e9f4-11e8-9739-2dfe598c3fcd";

/// What the Runtime API stand-in shares with its handlers.
struct Runtime {
    /// The invocation to hand out, once.
    event: Value,
    handed_out: AtomicBool,
    /// The function's process, frozen once it has answered.
    function: OnceLock<Pid>,
    /// What the function posted: its response, or an error.
    posted: mpsc::UnboundedSender<Posted>,
    /// Whether the process was frozen when its response arrived.
    frozen: Mutex<bool>,
}

enum Posted {
    Response(Value),
    Error(String),
}

/// `GET /2018-06-01/runtime/invocation/next`: the invocation, then nothing more (the function
/// waits for its next one, frozen).
async fn next(State(runtime): State<Arc<Runtime>>) -> (HeaderMap, String) {
    if runtime.handed_out.swap(true, Ordering::SeqCst) {
        std::future::pending::<()>().await;
    }
    let deadline = SystemTime::now().duration_since(UNIX_EPOCH).unwrap() + Duration::from_secs(30);
    let mut headers = HeaderMap::new();
    headers.insert("lambda-runtime-aws-request-id", REQUEST_ID.parse().unwrap());
    headers.insert(
        "lambda-runtime-deadline-ms",
        deadline.as_millis().to_string().parse().unwrap(),
    );
    headers.insert(
        "lambda-runtime-invoked-function-arn",
        "arn:aws:lambda:us-east-1:123456789012:function:signup"
            .parse()
            .unwrap(),
    );
    headers.insert(
        "lambda-runtime-trace-id",
        "Root=1-5bef4de7-ad49b0e87f6ef6c87fc2e700".parse().unwrap(),
    );
    (headers, runtime.event.to_string())
}

/// `POST /2018-06-01/runtime/invocation/{id}/response`: the process is frozen first, as Lambda
/// freezes it once the response has left, then the response is kept.
async fn response(State(runtime): State<Arc<Runtime>>, body: String) -> StatusCode {
    if let Some(&pid) = runtime.function.get() {
        kill_process(pid, Signal::STOP).unwrap();
        *runtime.frozen.lock().unwrap() = true;
    }
    let _ = runtime
        .posted
        .send(Posted::Response(serde_json::from_str(&body).unwrap()));
    StatusCode::ACCEPTED
}

/// `POST .../invocation/{id}/error` and `/runtime/init/error`.
async fn error(State(runtime): State<Arc<Runtime>>, body: String) -> StatusCode {
    let _ = runtime.posted.send(Posted::Error(body));
    StatusCode::ACCEPTED
}

/// A signup through a function URL: `POST /api/signup` with the click id's cookie.
fn signup_event(click_id: &str) -> Value {
    json!({
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": "/api/signup",
        "rawQueryString": "",
        "cookies": [format!("affitor_click_id={click_id}")],
        "headers": {
            "content-type": "application/json",
            "host": "abcdefghij.lambda-url.us-east-1.on.aws",
            "user-agent": "Mozilla/5.0"
        },
        "requestContext": {
            "accountId": "123456789012",
            "apiId": "abcdefghij",
            "domainName": "abcdefghij.lambda-url.us-east-1.on.aws",
            "domainPrefix": "abcdefghij",
            "http": {
                "method": "POST",
                "path": "/api/signup",
                "protocol": "HTTP/1.1",
                "sourceIp": "198.51.100.7",
                "userAgent": "Mozilla/5.0"
            },
            "requestId": "req-1",
            "routeKey": "$default",
            "stage": "$default",
            "time": "24/Nov/2026:00:00:00 +0000",
            "timeEpoch": 1_795_478_400_000_u64
        },
        "body": json!({"email": "ada@example.com", "password": "correct horse"}).to_string(),
        "isBase64Encoded": false
    })
}

/// The function's process, killed when dropped (thawed first, so that it can die).
struct Function(Child);

impl Drop for Function {
    fn drop(&mut self) {
        if let Ok(id) = i32::try_from(self.0.id())
            && let Some(pid) = Pid::from_raw(id)
        {
            let _ = kill_process(pid, Signal::CONT);
        }
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Runs the function on a runtime of its own for one signup, with `AFFITOR_FLUSH_DEADLINE_MS`
/// at `flush_millis`, against `mock`; returns the function's response and its process (frozen).
async fn invoke_and_freeze(mock: &MockServer, flush_millis: u64) -> (Value, Function) {
    let click_id = mock.click("partner");
    // The lead's first attempt is told to come back in a second.
    mock.inject(
        Fault::rate_limited(Duration::from_secs(1))
            .on(Endpoint::Lead)
            .times(1),
    );
    let (posted, mut posts) = mpsc::unbounded_channel();
    let runtime = Arc::new(Runtime {
        event: signup_event(click_id.as_str()),
        handed_out: AtomicBool::new(false),
        function: OnceLock::new(),
        posted,
        frozen: Mutex::new(false),
    });
    let api = Router::new()
        .route("/2018-06-01/runtime/invocation/next", get(next))
        .route(
            "/2018-06-01/runtime/invocation/{id}/response",
            post(response),
        )
        .route("/2018-06-01/runtime/invocation/{id}/error", post(error))
        .route("/2018-06-01/runtime/init/error", post(error))
        .with_state(Arc::clone(&runtime));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, api).await.unwrap() });

    let child = Command::new(env!("CARGO_BIN_EXE_lambda-signup"))
        .env("AWS_LAMBDA_RUNTIME_API", address.to_string())
        .env("AWS_LAMBDA_FUNCTION_NAME", "signup")
        .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128")
        .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
        .env("AFFITOR_API_URL", mock.url())
        .env("AFFITOR_API_KEY", mock.api_key())
        .env("AFFITOR_FLUSH_DEADLINE_MS", flush_millis.to_string())
        .env_remove("AFFITOR_OUTBOX")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("the example's binary starts");
    let function = Function(child);
    let pid = Pid::from_raw(i32::try_from(function.0.id()).unwrap()).unwrap();
    runtime.function.set(pid).unwrap();

    let posted = tokio::time::timeout(Duration::from_secs(30), posts.recv())
        .await
        .expect("the function answers its invocation")
        .unwrap();
    let response = match posted {
        Posted::Response(response) => response,
        Posted::Error(error) => panic!("the function failed: {error}"),
    };
    assert!(
        *runtime.frozen.lock().unwrap(),
        "frozen as its response arrived"
    );
    (response, function)
}

/// The function's answer: 200 with the new user's id.
fn assert_signed_up(response: &Value) {
    assert_eq!(response["statusCode"], 200, "{response}");
    let body: Value = serde_json::from_str(response["body"].as_str().unwrap()).unwrap();
    assert!(
        body["userId"].as_str().unwrap().starts_with("user_"),
        "{body}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_the_flush_the_lead_is_delivered_before_the_response_leaves() {
    let mock = MockServer::start().await.unwrap();
    let (response, _function) = invoke_and_freeze(&mock, 10_000).await;
    assert_signed_up(&response);
    // Frozen since its response arrived: the lead was delivered before.
    let leads = mock.leads();
    assert_eq!(leads.len(), 1, "{leads:?}");
    assert_eq!(
        mock.requests_to(Endpoint::Lead).len(),
        2,
        "the 429, then the retry"
    );
    mock.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_the_flush_the_frozen_process_holds_the_lead() {
    let mock = MockServer::start().await.unwrap();
    let (response, function) = invoke_and_freeze(&mock, 0).await;
    assert_signed_up(&response);
    // The retry was due a second after the first attempt: the frozen process never sends it.
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert!(mock.leads().is_empty(), "{:?}", mock.leads());
    // The first attempt races the response: frozen first, it has not left yet.
    let attempts = mock.requests_to(Endpoint::Lead).len();
    assert!(attempts <= 1, "at most the 429'd attempt, not {attempts}");
    // Thawed (the next invocation, if Lambda sends one), it sends it: the lead was only held.
    let pid = Pid::from_raw(i32::try_from(function.0.id()).unwrap()).unwrap();
    kill_process(pid, Signal::CONT).unwrap();
    let delivered = poll_until(Duration::from_secs(10), async || {
        (mock.leads().len() == 1).then_some(())
    })
    .await;
    assert!(delivered.is_some(), "the thawed process delivers the lead");
    drop(function);
    mock.shutdown().await;
}
