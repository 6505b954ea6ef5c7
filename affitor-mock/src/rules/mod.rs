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
    /// Why a call was refused, in the words of what it sent, for the event log (the answer
    /// keeps the API's own message).
    pub(crate) reason: Option<String>,
}

impl Reply {
    fn ok(body: Value, outcome: &'static str) -> Self {
        Self {
            status: StatusCode::OK,
            body,
            retry_after: None,
            outcome,
            subject: None,
            reason: None,
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
            reason: None,
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

    fn because(mut self, reason: impl Into<String>) -> Self {
        self.reason = Some(reason.into());
        self
    }
}

/// What a call named to find its customer, and why neither found one, in the words of what was
/// sent: the click id unknown (no click recorded with it), the customer key with no lead.
fn no_customer(click_id: Option<&str>, customer_key: Option<&str>) -> String {
    let click = click_id.map(|id| {
        format!(
            "no click has the click_id `{}` (a visit through a partner link, `?aff=CODE`, \
             makes one; `affitor mock` prints a demo click id)",
            loggable(id)
        )
    });
    let customer = customer_key.map(|key| {
        format!(
            "no lead has the customer_key `{}` (a lead with a click id makes it a customer)",
            loggable(key)
        )
    });
    match (click, customer) {
        (Some(click), Some(customer)) => format!("{click}, and {customer}"),
        (Some(one), None) | (None, Some(one)) => one,
        (None, None) => "it sent neither click_id nor customer_key".to_owned(),
    }
}

/// An id as the event log may show it: as is when it is a plain token (the click id alphabet),
/// otherwise a note of its length.
pub(crate) fn loggable(id: &str) -> String {
    if affitor::ClickId::from_bytes(id.as_bytes()).is_ok() {
        id.to_owned()
    } else {
        format!("<{} bytes, not shown>", id.len())
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
