//! Injected faults: answers the stand-in gives instead of (or on top of) the normal one.

use std::time::Duration;

use http::StatusCode;
use serde_json::{Value, json};

use affitor::client::Endpoint;

/// A fault to inject into the stand-in with [`MockServer::inject`](super::MockServer::inject).
///
/// A fault applies to the next matching request (once), unless [`times`](Fault::times) or
/// [`always`](Fault::always) says otherwise. It matches every endpoint unless
/// [`on`](Fault::on) narrows it. Faults apply only to requests for one of the six endpoints.
///
/// A request consumes at most one *delay* and at most one fault that changes the answer
/// (a status, a rate limit, a dropped connection or a lost response), each the first matching
/// one in the order they were injected. So a delay combines with the others: it holds back a
/// status, a processed answer, or the closing of a dropped connection.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> std::io::Result<()> {
/// use std::time::Duration;
/// use affitor::client::Endpoint;
/// use affitor_mock::{Fault, MockServer};
///
/// let mock = MockServer::start().await?;
/// mock.inject(Fault::delay(Duration::from_millis(20)).always());
/// mock.inject(Fault::status(503).on(Endpoint::Sale).times(2)); // late, and failing, twice
/// # Ok(())
/// # }
/// ```
#[derive(Debug, Clone)]
pub struct Fault {
    kind: FaultKind,
    endpoints: Vec<Endpoint>,
    times: Option<u32>,
}

#[derive(Debug, Clone)]
enum FaultKind {
    Status(StatusCode),
    Response(StatusCode, Value),
    ResponseAfterProcessing(StatusCode, Value),
    RateLimited(Duration),
    Delay(Duration),
    DropConnection,
    DropResponse,
    BodyLimit(usize),
}

impl Fault {
    /// Answers with `status` and the endpoint's documented error body for it, without
    /// processing the request.
    ///
    /// For a 500 the body is the endpoint's documented failure (`{"error":"Sale tracking
    /// failed"}`, the readiness `internal_error` envelope, ...); for any other status it is
    /// `{"error":"<reason phrase>"}`, or the agent envelope on the test-event and readiness
    /// endpoints.
    ///
    /// # Panics
    ///
    /// If `status` is not an HTTP status code (100 to 999).
    ///
    /// ```
    /// use affitor_mock::Fault;
    ///
    /// let outage = Fault::status(500).times(3);
    /// ```
    #[must_use]
    pub fn status(status: u16) -> Self {
        Self::new(FaultKind::Status(status_code(status)))
    }

    /// Answers with `status` and exactly `body`, without processing the request: for outcomes
    /// the stand-in never produces on its own.
    ///
    /// # Panics
    ///
    /// If `status` is not an HTTP status code (100 to 999).
    ///
    /// ```
    /// use affitor::client::Endpoint;
    /// use affitor_mock::Fault;
    /// use serde_json::json;
    ///
    /// let misconfigured = Fault::response(400, json!({"error": "Invalid referral link configuration"}))
    ///     .on(Endpoint::Click);
    /// ```
    #[must_use]
    pub fn response(status: u16, body: Value) -> Self {
        Self::new(FaultKind::Response(status_code(status), body))
    }

    /// Processes the request as usual (a sale is recorded, say), then answers `status` and
    /// exactly `body` instead of the normal answer: the API failing after its work was done,
    /// such as `500 {"error":"Failed to create commission"}` once the sale row is written.
    ///
    /// # Panics
    ///
    /// If `status` is not an HTTP status code (100 to 999).
    ///
    /// ```
    /// use affitor::client::Endpoint;
    /// use affitor_mock::Fault;
    /// use serde_json::json;
    ///
    /// let lost_commission =
    ///     Fault::response_after_processing(500, json!({"error": "Failed to create commission"}))
    ///         .on(Endpoint::Sale);
    /// ```
    #[must_use]
    pub fn response_after_processing(status: u16, body: Value) -> Self {
        Self::new(FaultKind::ResponseAfterProcessing(
            status_code(status),
            body,
        ))
    }

    /// Answers `429 Too Many Requests` with `Retry-After` set to `retry_after` (rounded up to
    /// whole seconds), without processing the request.
    ///
    /// ```
    /// use std::time::Duration;
    /// use affitor_mock::Fault;
    ///
    /// let throttled = Fault::rate_limited(Duration::from_secs(1)); // Retry-After: 1
    /// ```
    #[must_use]
    pub fn rate_limited(retry_after: Duration) -> Self {
        Self::new(FaultKind::RateLimited(retry_after))
    }

    /// Processes the request as usual, then waits `delay` before answering: the work is done
    /// even when the client gives up waiting.
    ///
    /// ```
    /// use std::time::Duration;
    /// use affitor_mock::Fault;
    ///
    /// let slow = Fault::delay(Duration::from_millis(200)).always();
    /// ```
    #[must_use]
    pub fn delay(delay: Duration) -> Self {
        Self::new(FaultKind::Delay(delay))
    }

    /// Closes the connection without processing the request or answering: the client sees
    /// the connection drop. The request still appears in
    /// [`requests`](super::MockServer::requests).
    ///
    /// ```
    /// use affitor_mock::Fault;
    ///
    /// let flaky = Fault::drop_connection().times(1);
    /// ```
    #[must_use]
    pub fn drop_connection() -> Self {
        Self::new(FaultKind::DropConnection)
    }

    /// Processes the request (a sale is recorded, say), then closes the connection without
    /// answering: a lost response. A retry of the same sale then gets a 409.
    ///
    /// ```
    /// use affitor::client::Endpoint;
    /// use affitor_mock::Fault;
    ///
    /// let lost = Fault::drop_response().on(Endpoint::Sale);
    /// ```
    #[must_use]
    pub fn drop_response() -> Self {
        Self::new(FaultKind::DropResponse)
    }

    /// Answers `413 Payload Too Large` (`{"error":"Payload Too Large"}`) to a request whose
    /// body is larger than `bytes`, without processing it: a gateway in front of the API that
    /// takes bodies up to a size (8 KiB, say). A request within the limit is answered as usual
    /// and does not use the fault up; with [`always`](Self::always), the limit stays.
    ///
    /// ```
    /// use affitor::client::Endpoint;
    /// use affitor_mock::Fault;
    ///
    /// let gateway = Fault::body_limit(8 * 1024).on(Endpoint::Click).always();
    /// ```
    #[must_use]
    pub fn body_limit(bytes: usize) -> Self {
        Self::new(FaultKind::BodyLimit(bytes))
    }

    /// Applies the fault only to requests for `endpoint`; call it again to add endpoints.
    ///
    /// ```
    /// use affitor::client::Endpoint;
    /// use affitor_mock::Fault;
    ///
    /// let fault = Fault::status(502).on(Endpoint::Lead).on(Endpoint::Sale);
    /// ```
    #[must_use]
    pub fn on(mut self, endpoint: Endpoint) -> Self {
        if !self.endpoints.contains(&endpoint) {
            self.endpoints.push(endpoint);
        }
        self
    }

    /// Applies the fault to the next `times` matching requests (the default is once).
    ///
    /// ```
    /// use affitor_mock::Fault;
    ///
    /// let fault = Fault::status(500).times(3);
    /// ```
    #[must_use]
    pub fn times(mut self, times: u32) -> Self {
        self.times = Some(times);
        self
    }

    /// Applies the fault to every matching request until
    /// [`clear_faults`](super::MockServer::clear_faults).
    ///
    /// ```
    /// use affitor_mock::Fault;
    ///
    /// let down = Fault::status(503).always();
    /// ```
    #[must_use]
    pub fn always(mut self) -> Self {
        self.times = None;
        self
    }

    fn new(kind: FaultKind) -> Self {
        Self {
            kind,
            endpoints: Vec::new(),
            times: Some(1),
        }
    }

    /// Whether the fault applies to a request for `endpoint` whose body is `body_len` bytes.
    fn matches(&self, endpoint: Endpoint, body_len: usize) -> bool {
        let applies = match self.kind {
            FaultKind::BodyLimit(limit) => body_len > limit,
            _ => true,
        };
        applies
            && self.times != Some(0)
            && (self.endpoints.is_empty() || self.endpoints.contains(&endpoint))
    }

    fn is_delay(&self) -> bool {
        matches!(self.kind, FaultKind::Delay(_))
    }
}

fn status_code(status: u16) -> StatusCode {
    match StatusCode::from_u16(status) {
        Ok(code) => code,
        Err(_) => panic!("Fault: {status} is not an HTTP status code (100 to 999)"),
    }
}

/// The faults a request triggers, taken from the list.
#[derive(Debug, Default)]
pub(crate) struct Triggered {
    /// How long to wait before answering.
    pub(crate) delay: Option<Duration>,
    /// What to do instead of the normal answer.
    pub(crate) effect: Option<Effect>,
}

/// A fault that changes the answer.
#[derive(Debug)]
pub(crate) enum Effect {
    /// Answer this instead of processing.
    Respond(Canned),
    /// Process, then answer this instead of the normal answer.
    ProcessThenRespond(Canned),
    /// Close the connection before processing.
    DropConnection,
    /// Process, then close the connection without answering.
    DropResponse,
}

/// A response that replaces the normal one.
#[derive(Debug)]
pub(crate) struct Canned {
    pub(crate) status: StatusCode,
    pub(crate) body: Value,
    pub(crate) retry_after: Option<u64>,
}

/// The injected faults, in injection order.
#[derive(Debug, Default)]
pub(crate) struct Faults {
    list: Vec<Fault>,
}

impl Faults {
    pub(crate) fn inject(&mut self, fault: Fault) {
        self.list.push(fault);
    }

    pub(crate) fn clear(&mut self) {
        self.list.clear();
    }

    /// Takes the faults a request for `endpoint` with a body of `body_len` bytes triggers,
    /// using up one of their `times`.
    pub(crate) fn take(&mut self, endpoint: Endpoint, body_len: usize) -> Triggered {
        let mut triggered = Triggered::default();
        let mut took_delay = false;
        let mut took_action = false;
        for fault in &mut self.list {
            if !fault.matches(endpoint, body_len) {
                continue;
            }
            let is_delay = fault.is_delay();
            if (is_delay && took_delay) || (!is_delay && took_action) {
                continue;
            }
            if let Some(times) = fault.times.as_mut() {
                *times -= 1;
            }
            match &fault.kind {
                FaultKind::Delay(delay) => {
                    took_delay = true;
                    triggered.delay = Some(*delay);
                }
                kind => {
                    took_action = true;
                    triggered.effect = Some(effect(kind, endpoint));
                }
            }
            if took_delay && took_action {
                break;
            }
        }
        self.list.retain(|fault| fault.times != Some(0));
        triggered
    }
}

fn effect(kind: &FaultKind, endpoint: Endpoint) -> Effect {
    match kind {
        FaultKind::Status(status) => Effect::Respond(Canned {
            status: *status,
            body: error_body(endpoint, *status, None),
            retry_after: None,
        }),
        FaultKind::Response(status, body) => Effect::Respond(Canned {
            status: *status,
            body: body.clone(),
            retry_after: None,
        }),
        FaultKind::ResponseAfterProcessing(status, body) => Effect::ProcessThenRespond(Canned {
            status: *status,
            body: body.clone(),
            retry_after: None,
        }),
        FaultKind::RateLimited(retry_after) => {
            let seconds = whole_seconds_up(*retry_after);
            Effect::Respond(Canned {
                status: StatusCode::TOO_MANY_REQUESTS,
                body: error_body(endpoint, StatusCode::TOO_MANY_REQUESTS, Some(seconds)),
                retry_after: Some(seconds),
            })
        }
        FaultKind::DropConnection => Effect::DropConnection,
        FaultKind::DropResponse => Effect::DropResponse,
        FaultKind::BodyLimit(_) => Effect::Respond(Canned {
            status: StatusCode::PAYLOAD_TOO_LARGE,
            body: error_body(endpoint, StatusCode::PAYLOAD_TOO_LARGE, None),
            retry_after: None,
        }),
        // Delays are taken apart from actions; keep a sane answer if one ever lands here.
        FaultKind::Delay(_) => Effect::Respond(Canned {
            status: StatusCode::INTERNAL_SERVER_ERROR,
            body: error_body(endpoint, StatusCode::INTERNAL_SERVER_ERROR, None),
            retry_after: None,
        }),
    }
}

fn whole_seconds_up(duration: Duration) -> u64 {
    let seconds = duration.as_secs();
    if duration.subsec_nanos() > 0 {
        seconds.saturating_add(1)
    } else {
        seconds
    }
}

/// The body the endpoint answers for an injected `status`.
fn error_body(endpoint: Endpoint, status: StatusCode, retry_after: Option<u64>) -> Value {
    let reason = status.canonical_reason().unwrap_or("Error");
    if crate::record::uses_agent_errors(endpoint) {
        let (code, message) = match (endpoint, status.as_u16()) {
            (Endpoint::Readiness, 500) => (
                "internal_error".to_owned(),
                "Failed to compute readiness. Retry shortly.".to_owned(),
            ),
            (_, 500) => ("internal_error".to_owned(), "Test event failed".to_owned()),
            (_, 429) => ("rate_limited".to_owned(), "Too many requests".to_owned()),
            _ => (
                reason.to_lowercase().replace([' ', '-'], "_"),
                reason.to_owned(),
            ),
        };
        let retry_after = match (retry_after, status.as_u16()) {
            (Some(seconds), _) => Some(seconds),
            (None, 500) if endpoint == Endpoint::Readiness => Some(10),
            _ => None,
        };
        let mut error = json!({ "code": code, "message": message, "status": status.as_u16() });
        if let (Some(seconds), Some(map)) = (retry_after, error.as_object_mut()) {
            map.insert("retry_after_seconds".to_owned(), json!(seconds));
        }
        return json!({ "error": error });
    }
    let message = match (endpoint, status.as_u16()) {
        (Endpoint::Click, 500) => "Click tracking failed",
        (Endpoint::Lead, 500) => "Lead tracking failed",
        (Endpoint::Sale, 500) => "Sale tracking failed",
        (Endpoint::Refund, 500) => "Refund tracking failed",
        (_, 401) => "Invalid API token",
        (_, 429) => "Too many requests",
        _ => reason,
    };
    json!({ "error": message })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_fault_applies_once_by_default_and_then_is_gone() {
        let mut faults = Faults::default();
        faults.inject(Fault::status(500));
        assert!(matches!(
            faults.take(Endpoint::Sale, 0).effect,
            Some(Effect::Respond(Canned { status, .. })) if status == 500
        ));
        assert!(faults.take(Endpoint::Sale, 0).effect.is_none());
        assert!(faults.list.is_empty());
    }

    #[test]
    fn on_narrows_and_accumulates_endpoints() {
        let mut faults = Faults::default();
        faults.inject(
            Fault::drop_connection()
                .on(Endpoint::Lead)
                .on(Endpoint::Sale)
                .always(),
        );
        assert!(faults.take(Endpoint::Click, 0).effect.is_none());
        assert!(matches!(
            faults.take(Endpoint::Lead, 0).effect,
            Some(Effect::DropConnection)
        ));
        assert!(matches!(
            faults.take(Endpoint::Sale, 0).effect,
            Some(Effect::DropConnection)
        ));
    }

    #[test]
    fn a_delay_combines_with_one_action_in_injection_order() {
        let mut faults = Faults::default();
        faults.inject(Fault::delay(Duration::from_millis(5)).times(2));
        faults.inject(Fault::status(503).times(1));
        faults.inject(Fault::status(502).times(1));
        let first = faults.take(Endpoint::Refund, 0);
        assert_eq!(first.delay, Some(Duration::from_millis(5)));
        assert!(
            matches!(first.effect, Some(Effect::Respond(Canned { status, .. })) if status == 503)
        );
        let second = faults.take(Endpoint::Refund, 0);
        assert_eq!(second.delay, Some(Duration::from_millis(5)));
        assert!(
            matches!(second.effect, Some(Effect::Respond(Canned { status, .. })) if status == 502)
        );
        let third = faults.take(Endpoint::Refund, 0);
        assert!(third.delay.is_none() && third.effect.is_none());
    }

    #[test]
    fn a_response_after_processing_keeps_its_status_and_body() {
        let mut faults = Faults::default();
        let body = json!({"error": "Failed to create commission"});
        faults.inject(Fault::response_after_processing(500, body.clone()).on(Endpoint::Sale));
        assert!(faults.take(Endpoint::Lead, 0).effect.is_none());
        match faults.take(Endpoint::Sale, 0).effect {
            Some(Effect::ProcessThenRespond(canned)) => {
                assert_eq!(canned.status, StatusCode::INTERNAL_SERVER_ERROR);
                assert_eq!(canned.body, body);
                assert_eq!(canned.retry_after, None);
            }
            other => panic!("expected a processed-then-500, got {other:?}"),
        }
        assert!(faults.take(Endpoint::Sale, 0).effect.is_none());
    }

    #[test]
    fn a_body_limit_refuses_only_the_bodies_over_it() {
        let mut faults = Faults::default();
        faults.inject(Fault::body_limit(8192).on(Endpoint::Click).always());
        assert!(faults.take(Endpoint::Click, 8192).effect.is_none());
        assert!(faults.take(Endpoint::Lead, 10_000).effect.is_none());
        for _ in 0..2 {
            match faults.take(Endpoint::Click, 8193).effect {
                Some(Effect::Respond(canned)) => {
                    assert_eq!(canned.status, StatusCode::PAYLOAD_TOO_LARGE);
                    assert_eq!(canned.body, json!({"error": "Payload Too Large"}));
                }
                other => panic!("expected a canned 413, got {other:?}"),
            }
        }
        // Once, by default: a body within the limit does not use it up.
        faults.clear();
        faults.inject(Fault::body_limit(10));
        assert!(faults.take(Endpoint::Sale, 5).effect.is_none());
        assert!(faults.take(Endpoint::Sale, 50).effect.is_some());
        assert!(faults.take(Endpoint::Sale, 50).effect.is_none());
    }

    #[test]
    fn rate_limits_round_retry_after_up() {
        let mut faults = Faults::default();
        faults.inject(Fault::rate_limited(Duration::from_millis(1500)));
        match faults.take(Endpoint::Sale, 0).effect {
            Some(Effect::Respond(canned)) => {
                assert_eq!(canned.status, StatusCode::TOO_MANY_REQUESTS);
                assert_eq!(canned.retry_after, Some(2));
                assert_eq!(canned.body, json!({"error": "Too many requests"}));
            }
            other => panic!("expected a canned 429, got {other:?}"),
        }
    }

    #[test]
    fn status_bodies_follow_the_endpoint_documentation() {
        let status = StatusCode::INTERNAL_SERVER_ERROR;
        assert_eq!(
            error_body(Endpoint::Sale, status, None),
            json!({"error": "Sale tracking failed"})
        );
        assert_eq!(
            error_body(Endpoint::Readiness, status, None),
            json!({"error": {"code": "internal_error", "status": 500, "retry_after_seconds": 10,
                             "message": "Failed to compute readiness. Retry shortly."}})
        );
        assert_eq!(
            error_body(Endpoint::Click, StatusCode::SERVICE_UNAVAILABLE, None),
            json!({"error": "Service Unavailable"})
        );
        assert_eq!(
            error_body(Endpoint::TestEvent, StatusCode::SERVICE_UNAVAILABLE, None)["error"]["code"],
            "service_unavailable"
        );
    }

    #[test]
    #[should_panic(expected = "not an HTTP status code")]
    fn an_impossible_status_is_refused() {
        let _ = Fault::status(1000);
    }
}
