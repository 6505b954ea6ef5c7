//! The endpoint rules: what each endpoint answers, and what it stores, for a given state.
//!
//! Each rule follows the platform's documented behaviour: the validation order, the exact
//! error strings and the response shapes of the API reference.

mod click;
mod lead;
mod readiness;
mod refund;
mod sale;
mod test_event;

use std::time::SystemTime;

use http::StatusCode;
use serde_json::{Value, json};

use super::state::{JsonBody, State};
use affitor::client::Endpoint;

/// One request, as the rules see it.
#[derive(Debug)]
pub(crate) struct Call<'a> {
    pub(crate) endpoint: Endpoint,
    pub(crate) authorization: Option<&'a str>,
    pub(crate) user_agent: Option<&'a str>,
    pub(crate) query: &'a str,
    pub(crate) body: &'a JsonBody,
}

/// The answer to a request, and what to say about it in the event log.
#[derive(Debug)]
pub(crate) struct Reply {
    pub(crate) status: StatusCode,
    pub(crate) body: Value,
    pub(crate) retry_after: Option<u64>,
    /// A short label of what happened (`recorded`, `duplicate`, `rejected`, ...).
    pub(crate) outcome: &'static str,
    /// The transaction id or click id concerned, if any.
    pub(crate) subject: Option<String>,
}

impl Reply {
    fn ok(body: Value, outcome: &'static str) -> Self {
        Self {
            status: StatusCode::OK,
            body,
            retry_after: None,
            outcome,
            subject: None,
        }
    }

    /// `{"error": message}`, the tracking endpoints' error shape.
    fn error(status: StatusCode, message: impl Into<String>, outcome: &'static str) -> Self {
        Self {
            status,
            body: json!({ "error": message.into() }),
            retry_after: None,
            outcome,
            subject: None,
        }
    }

    fn bad_request(message: impl Into<String>) -> Self {
        Self::error(StatusCode::BAD_REQUEST, message, "rejected")
    }

    fn unauthorized() -> Self {
        Self::error(
            StatusCode::UNAUTHORIZED,
            "Invalid API token",
            "unauthorized",
        )
    }

    fn about(mut self, subject: Option<&str>) -> Self {
        self.subject = subject.map(str::to_owned);
        self
    }
}

/// What the `Authorization` header proves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Auth {
    Absent,
    Valid,
    Invalid,
}
impl State {
    /// Answers one request to a known endpoint.
    pub(crate) fn handle(&mut self, call: &Call<'_>) -> Reply {
        let now = SystemTime::now();
        match call.endpoint {
            Endpoint::Click => self.track_click(call, now),
            Endpoint::Lead => self.track_lead(call, now),
            Endpoint::Sale => self.track_sale(call, now),
            Endpoint::Refund => self.track_refund(call),
            Endpoint::TestEvent => self.test_event(call, now),
            Endpoint::Readiness => self.get_readiness(call, now),
            // An endpoint of a newer `affitor` that this stand-in does not play yet.
            endpoint => Reply::error(
                StatusCode::NOT_FOUND,
                format!("The stand-in does not serve {endpoint}"),
                "unknown",
            ),
        }
    }

    fn auth(&self, authorization: Option<&str>) -> Auth {
        let Some(header) = authorization else {
            return Auth::Absent;
        };
        match header.strip_prefix("Bearer ").map(str::trim) {
            Some(token) if !token.is_empty() && token == self.config.api_key => Auth::Valid,
            _ => Auth::Invalid,
        }
    }

    fn test_mode_reply(&mut self, kind: &str, program_id: Option<u64>) -> Reply {
        let event_id = self.next_test_event_id();
        Reply::ok(
            json!({
                "success": true,
                "message": format!("Test {kind} event tracked successfully"),
                "data": { "eventId": event_id, "programId": program_id, "test_mode": true },
            }),
            "test",
        )
    }
}
