//! The one call path: each endpoint's request goes through [`Transport::call`], which sets the
//! headers, runs the retry loop, reads the answer (bounded) and hands it to the endpoint's
//! decoder, in a span that names the endpoint, the outcome and the attempts.

use std::borrow::Cow;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use http::StatusCode;
use http::header::{AUTHORIZATION, CONTENT_TYPE, HeaderValue, RETRY_AFTER, USER_AGENT};
use reqwest::Url;
use serde::Serialize;
use tracing::Instrument;

use super::answer::Answer;
use super::api_key::ApiKey;
use super::endpoint::Endpoint;
use super::error::{Error, ErrorKind};
use super::metrics;
use super::retry::{self, Failure, Next, RetryPolicy};

/// The most bytes of an answer that are read; the API's answers are a few hundred bytes.
const MAX_BODY_LEN: usize = 256 * 1024;

/// A request one endpoint accepts, and how to read that endpoint's answer. Each endpoint's
/// file implements it for its wire payload.
pub(crate) trait Call {
    /// Where it goes.
    const ENDPOINT: Endpoint;
    /// What the caller gets.
    type Outcome;
    /// The JSON body; `None` for a `GET`.
    fn body(&self) -> Result<Option<Bytes>, serde_json::Error>;
    /// Whether the readiness read bypasses the API's cache (`?force_recheck=true`).
    fn force_recheck(&self) -> bool {
        false
    }
    /// Reads the final answer. `key` is removed from any text taken from it.
    fn decode(&self, answer: &Answer, key: &str) -> Result<Self::Outcome, Error>;
    /// A short name of the outcome, for the span.
    fn label(outcome: &Self::Outcome) -> &'static str;
}

/// The JSON body of a payload.
pub(crate) fn json_body<T: Serialize>(payload: &T) -> Result<Option<Bytes>, serde_json::Error> {
    serde_json::to_vec(payload).map(|body| Some(Bytes::from(body)))
}

/// The HTTP client the builder makes when it is handed none: no redirects (the API answers
/// where it is asked), idle connections kept a minute, no Nagle delay, and a connection given
/// up within half of an attempt's `timeout` (5 s at most): a connect that never completes
/// (a host that drops SYNs in a failover) is then a [`Failure::Connect`] (the request never
/// left, so it is retried, and a sale is not left uncertain), not the attempt's timeout. For an
/// API on this machine (`local`), no proxy from the environment (`HTTP_PROXY`, ...).
pub(super) fn own_http_client(timeout: Duration, local: bool) -> Result<reqwest::Client, Error> {
    let builder = reqwest::Client::builder()
        .connect_timeout((timeout / 2).min(Duration::from_secs(5)))
        .redirect(reqwest::redirect::Policy::none())
        .pool_idle_timeout(Duration::from_secs(60))
        .tcp_nodelay(true);
    let builder = if local { builder.no_proxy() } else { builder };
    builder
        .build()
        .map_err(|error| Error::new(ErrorKind::HttpClient).with_source(error))
}

/// How a call went: its result, and how many attempts it took.
#[derive(Debug)]
pub(crate) struct Attempted<T> {
    pub(crate) result: Result<T, Error>,
    pub(crate) attempts: u32,
}

/// The HTTP side of a client: its connection pool, its URLs and headers, its timeout and
/// retry policy.
pub(crate) struct Transport {
    pub(super) http: reqwest::Client,
    pub(super) urls: [Url; Endpoint::ALL.len()],
    pub(super) readiness_recheck_url: Url,
    pub(super) api_key: ApiKey,
    pub(super) bearer: HeaderValue,
    pub(super) user_agent: HeaderValue,
    pub(super) timeout: Duration,
    pub(super) retry: RetryPolicy,
}

struct RawResponse {
    status: StatusCode,
    retry_after: Option<Duration>,
    body: Bytes,
}

impl Transport {
    /// Sends `call` to its endpoint, with retries, and decodes the outcome.
    pub(crate) async fn call<C: Call>(&self, call: &C) -> Result<C::Outcome, Error> {
        self.call_counting(call, None).await.result
    }

    /// [`call`](Self::call), adding each retry to `retries` as it starts (the background
    /// delivery's counter), and saying how many attempts it took.
    pub(crate) async fn call_counting<C: Call>(
        &self,
        call: &C,
        retries: Option<&AtomicU64>,
    ) -> Attempted<C::Outcome> {
        self.call_since(call, retries, Instant::now()).await
    }

    /// [`call_counting`](Self::call_counting) as the rest of a call that began at `since`: its
    /// deadline, and a refund's window for its sale, count from then.
    pub(crate) async fn call_since<C: Call>(
        &self,
        call: &C,
        retries: Option<&AtomicU64>,
        since: Instant,
    ) -> Attempted<C::Outcome> {
        let endpoint = C::ENDPOINT;
        let started = Instant::now();
        let span = tracing::info_span!(
            "affitor",
            endpoint = endpoint.name(),
            outcome = tracing::field::Empty,
            attempts = tracing::field::Empty,
        );
        let attempted = async {
            let body = match call.body() {
                Ok(body) => body,
                Err(error) => {
                    let error = Error::new(ErrorKind::Decode)
                        .with_endpoint(endpoint)
                        .with_detail("the request could not be serialized")
                        .with_source(error);
                    return Attempted {
                        result: Err(error),
                        attempts: 0,
                    };
                }
            };
            let Attempted { result, attempts } = self
                .execute(endpoint, call.force_recheck(), body, retries, since)
                .await;
            let result = result.and_then(|answer| call.decode(&answer, self.api_key.expose()));
            Attempted { result, attempts }
        }
        .instrument(span.clone())
        .await;
        span.record("attempts", attempted.attempts);
        let outcome = record(&span, attempted.result.as_ref().map(C::label));
        metrics::call_took(endpoint, outcome, started.elapsed().as_secs_f64());
        attempted
    }

    /// The retry loop: attempts until a final answer (2xx, or 409 for a sale), a failure that
    /// is not worth retrying, or the end of the attempts or of the deadline.
    async fn execute(
        &self,
        endpoint: Endpoint,
        force_recheck: bool,
        body: Option<Bytes>,
        retries: Option<&AtomicU64>,
        start: Instant,
    ) -> Attempted<Answer> {
        let policy = &self.retry;
        let mut attempt = 0;
        let mut uncertain = false;
        loop {
            attempt += 1;
            let remaining = policy.deadline.saturating_sub(start.elapsed());
            let limit = self.timeout.min(remaining);
            let span = self.attempt_span(endpoint, force_recheck, attempt);
            let sent =
                tokio::time::timeout(limit, self.attempt(endpoint, force_recheck, body.clone()))
                    .instrument(span.clone())
                    .await;
            match &sent {
                Ok(Ok(response)) => {
                    span.record("http.response.status_code", response.status.as_u16());
                    if !response.status.is_success() {
                        span.record("error.type", response.status.as_str());
                    }
                }
                Ok(Err(error)) => {
                    // A connect that timed out is both: it never left.
                    let kind = if error.is_connect() {
                        "connect"
                    } else if error.is_timeout() {
                        "timeout"
                    } else {
                        "network"
                    };
                    span.record("error.type", kind);
                }
                Err(_elapsed) => {
                    span.record("error.type", "timeout");
                }
            }
            let (failure, retry_after, error) = match sent {
                Ok(Ok(response)) => {
                    let status = response.status;
                    if status.is_success()
                        || (endpoint == Endpoint::Sale && status == StatusCode::CONFLICT)
                    {
                        let answer = Answer {
                            status,
                            body: response.body,
                            after_uncertain_attempt: uncertain,
                        };
                        return Attempted {
                            result: Ok(answer),
                            attempts: attempt,
                        };
                    }
                    let error = Error::from_response(
                        endpoint,
                        status,
                        response.retry_after,
                        &response.body,
                        self.api_key.expose(),
                    );
                    let failure = if error.kind() == ErrorKind::CommissionNotCreated {
                        Failure::CommissionNotCreated
                    } else {
                        Failure::Status(status)
                    };
                    (failure, error.retry_after(), error)
                }
                Ok(Err(error)) => {
                    let (failure, kind) = if error.is_connect() {
                        (Failure::Connect, ErrorKind::Connect)
                    } else if error.is_timeout() {
                        (Failure::Timeout, ErrorKind::Timeout)
                    } else if error.is_builder() {
                        let error = Error::new(ErrorKind::HttpClient)
                            .with_endpoint(endpoint)
                            .with_source(error.without_url());
                        return Attempted {
                            result: Err(error),
                            attempts: attempt,
                        };
                    } else {
                        (Failure::Network, ErrorKind::Network)
                    };
                    let error = Error::new(kind)
                        .with_endpoint(endpoint)
                        .with_source(error.without_url());
                    (failure, None, error)
                }
                Err(_elapsed) => (
                    Failure::Timeout,
                    None,
                    Error::new(ErrorKind::Timeout).with_endpoint(endpoint),
                ),
            };
            let decision = retry::decide(
                policy,
                endpoint,
                failure,
                attempt,
                start.elapsed(),
                retry_after,
                fastrand::f64(),
            );
            match decision {
                Next::RetryAfter(wait) => {
                    uncertain |= failure.may_have_been_processed();
                    if let Some(retries) = retries {
                        retries.fetch_add(1, Ordering::Relaxed);
                    }
                    metrics::count(&metrics::RETRIED, endpoint, None, 1);
                    tracing::debug!(
                        failure = ?failure,
                        attempt,
                        wait_ms = u64::try_from(wait.as_millis()).unwrap_or(u64::MAX),
                        "affitor call failed; retrying"
                    );
                    tokio::time::sleep(wait).await;
                }
                Next::GiveUp => {
                    return Attempted {
                        result: Err(error.with_attempts(attempt)),
                        attempts: attempt,
                    };
                }
            }
        }
    }

    /// The span of one HTTP attempt, with OpenTelemetry's HTTP client attribute names (the
    /// status and the error type are recorded when it ends). The URL holds no secret: the key
    /// goes in a header.
    fn attempt_span(&self, endpoint: Endpoint, force_recheck: bool, attempt: u32) -> tracing::Span {
        let url = if force_recheck {
            &self.readiness_recheck_url
        } else {
            &self.urls[endpoint.index()]
        };
        let method = if endpoint.is_get() { "GET" } else { "POST" };
        tracing::debug_span!(
            "affitor.http",
            otel.name = method,
            otel.kind = "client",
            http.request.method = method,
            server.address = url.host_str().unwrap_or_default(),
            server.port = url.port_or_known_default(),
            url.full = url.as_str(),
            http.request.resend_count = (attempt > 1).then(|| attempt - 1),
            http.response.status_code = tracing::field::Empty,
            error.type = tracing::field::Empty,
        )
    }

    /// One attempt: send the request and read the answer (bounded).
    async fn attempt(
        &self,
        endpoint: Endpoint,
        force_recheck: bool,
        body: Option<Bytes>,
    ) -> Result<RawResponse, reqwest::Error> {
        let url = if force_recheck {
            self.readiness_recheck_url.clone()
        } else {
            self.urls[endpoint.index()].clone()
        };
        let mut request = if endpoint.is_get() {
            self.http.get(url)
        } else {
            self.http
                .post(url)
                .header(CONTENT_TYPE, HeaderValue::from_static("application/json"))
                .body(body.unwrap_or_default())
        };
        request = request.header(USER_AGENT, self.user_agent.clone());
        if endpoint.sends_key() {
            request = request.header(AUTHORIZATION, self.bearer.clone());
        }
        let mut response = request.send().await?;
        let status = response.status();
        let retry_after = response
            .headers()
            .get(RETRY_AFTER)
            .and_then(|value| retry::parse_retry_after(value.as_bytes()));
        let mut body = BytesMut::new();
        while let Some(chunk) = response.chunk().await? {
            let room = MAX_BODY_LEN - body.len();
            body.extend_from_slice(&chunk[..chunk.len().min(room)]);
            if body.len() == MAX_BODY_LEN {
                break;
            }
        }
        Ok(RawResponse {
            status,
            retry_after,
            body: body.freeze(),
        })
    }
}

/// Records how the call ended in its span, and returns the outcome's name (or the error's
/// kind).
fn record(span: &tracing::Span, result: Result<&'static str, &Error>) -> Cow<'static, str> {
    match result {
        Ok(label) => {
            span.record("outcome", label);
            span.in_scope(|| tracing::debug!("affitor call done"));
            Cow::Borrowed(label)
        }
        Err(error) => {
            let kind = format!("{:?}", error.kind());
            span.record("outcome", kind.as_str());
            span.in_scope(|| {
                tracing::debug!(
                    status = error.status().map(|status| status.as_u16()),
                    "affitor call failed"
                );
            });
            Cow::Owned(kind)
        }
    }
}
