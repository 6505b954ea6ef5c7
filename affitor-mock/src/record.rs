//! What the stand-in API saw and stored: the recorded requests and the rows it created.

use std::fmt;

use affitor::ClickId;

use affitor::client::Endpoint;

/// Whether `endpoint` answers errors in the agent envelope `{"error":{code,message}}`.
pub(crate) fn uses_agent_errors(endpoint: Endpoint) -> bool {
    matches!(endpoint, Endpoint::Readiness | Endpoint::TestEvent)
}

/// The endpoint a path names, including the legacy `/api/tracking/*` alias of the tracking
/// endpoints. `path` has no query.
pub(crate) fn endpoint_at(path: &str) -> Option<Endpoint> {
    match path.strip_prefix("/api/tracking/") {
        Some("click") => Some(Endpoint::Click),
        Some("lead") => Some(Endpoint::Lead),
        Some("sale") => Some(Endpoint::Sale),
        Some("refund") => Some(Endpoint::Refund),
        Some(_) => None,
        None => Endpoint::from_path(path),
    }
}

/// A request the stand-in received, as it arrived.
///
/// Every request the stand-in read is recorded, in order, including the ones a [`Fault`]
/// answered or dropped and the ones it rejected. `Debug` hides the `authorization` header.
///
/// [`Fault`]: super::Fault
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> std::io::Result<()> {
/// use affitor::client::Endpoint;
/// use affitor_mock::MockServer;
///
/// let mock = MockServer::start().await?;
/// // ... the code under test calls the API ...
/// for request in mock.requests_to(Endpoint::Sale) {
///     assert_eq!(request.bearer_token(), Some(mock.api_key()));
///     assert!(request.body["amount_cents"].is_u64());
/// }
/// # Ok(())
/// # }
/// ```
#[derive(Clone)]
#[non_exhaustive]
pub struct RecordedRequest {
    /// The request method.
    pub method: http::Method,
    /// The request target: the path with its query, e.g.
    /// `/api/v1/programs/me/readiness?force_recheck=true`.
    pub path: String,
    /// The request headers (names are lower-case), `authorization` included.
    pub headers: http::HeaderMap,
    /// The body parsed as JSON, or `Null` when it was empty or not JSON.
    pub body: serde_json::Value,
    /// The endpoint the request was for, or `None` for an unknown path or a wrong method.
    pub endpoint: Option<Endpoint>,
}

impl RecordedRequest {
    /// The value of header `name`, when present and valid UTF-8.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> std::io::Result<()> {
    /// # let mock = affitor_mock::MockServer::start().await?;
    /// for request in mock.requests() {
    ///     assert_eq!(request.header("content-type"), Some("application/json"));
    /// }
    /// # Ok(())
    /// # }
    /// ```
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|value| value.to_str().ok())
    }

    /// The token of an `Authorization: Bearer <token>` header, when present.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> std::io::Result<()> {
    /// use affitor::client::Endpoint;
    /// use affitor_mock::MockServer;
    ///
    /// let mock = MockServer::start().await?;
    /// // Clicks are never authenticated.
    /// assert!(mock.requests_to(Endpoint::Click).iter().all(|r| r.bearer_token().is_none()));
    /// # Ok(())
    /// # }
    /// ```
    pub fn bearer_token(&self) -> Option<&str> {
        self.header("authorization")
            .and_then(|value| value.strip_prefix("Bearer "))
            .map(str::trim)
    }
}

impl fmt::Debug for RecordedRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        struct Headers<'a>(&'a http::HeaderMap);
        impl fmt::Debug for Headers<'_> {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                let mut map = f.debug_map();
                for (name, value) in self.0 {
                    if name == http::header::AUTHORIZATION {
                        map.entry(name, &"<redacted>");
                    } else {
                        map.entry(name, value);
                    }
                }
                map.finish()
            }
        }
        f.debug_struct("RecordedRequest")
            .field("method", &self.method)
            .field("path", &self.path)
            .field("headers", &Headers(&self.headers))
            .field("body", &self.body)
            .field("endpoint", &self.endpoint)
            .finish()
    }
}

/// A click the stand-in recorded, through `POST /api/v1/track/click` or
/// [`MockServer::click`](super::MockServer::click).
///
/// Inactive-link clicks and rejected requests create no click.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> std::io::Result<()> {
/// use affitor_mock::MockServer;
///
/// let mock = MockServer::start().await?;
/// let click_id = mock.click("partner");
/// let clicks = mock.clicks();
/// assert_eq!(clicks[0].click_id.as_ref(), Some(&click_id));
/// assert_eq!(clicks[0].partner_code.as_deref(), Some("partner"));
/// # Ok(())
/// # }
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct RecordedClick {
    /// The click id issued, or `None` for a test-mode click.
    pub click_id: Option<ClickId>,
    /// The short code of the partner's link, or `None` for a test-mode click.
    pub partner_code: Option<String>,
    /// The `existing_click_id` sent with the click, if any.
    pub existing_click_id: Option<String>,
    /// The `user_agent` field, or the request's `User-Agent` header when the field was absent.
    pub user_agent: Option<String>,
    /// The `affiliate_url` field: the landing URL, with its `?aff=`.
    pub affiliate_url: Option<String>,
    /// The `referrer_url` field: the page the visitor came from.
    pub referrer_url: Option<String>,
    /// Whether this was a test-mode click (`additional_data.test_mode: true`).
    pub test: bool,
}

/// A lead (signup) the stand-in recorded.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> std::io::Result<()> {
/// # let mock = affitor_mock::MockServer::start().await?;
/// for lead in mock.leads() {
///     assert!(lead.authenticated, "leads must be sent from the server, with the key");
/// }
/// # Ok(())
/// # }
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct RecordedLead {
    /// The `click_id` sent, if any.
    pub click_id: Option<String>,
    /// The `customer_key` sent, if any.
    pub customer_key: Option<String>,
    /// The `email` sent, if any.
    pub email: Option<String>,
    /// The partner the customer is attributed to, or `None` for a test-mode lead.
    pub partner_code: Option<String>,
    /// Whether the request carried the program key as a Bearer token.
    pub authenticated: bool,
    /// Whether the lead was recorded as provisional (a browser lead on a program that requires
    /// server-side leads).
    pub provisional: bool,
    /// Whether this was a test-mode lead.
    pub test: bool,
}

/// A sale the stand-in stored: an attributed sale, or a test-mode sale.
///
/// A sale outside the attribution window is not stored (the platform creates nothing).
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> std::io::Result<()> {
/// # let mock = affitor_mock::MockServer::start().await?;
/// for sale in mock.sales() {
///     assert_eq!(sale.currency, "USD");
///     assert!(!sale.refunded);
/// }
/// # Ok(())
/// # }
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct RecordedSale {
    /// The idempotency key: the payment processor's invoice or charge id.
    pub transaction_id: String,
    /// The gross amount in minor units; 0 for a test-mode sale sent without an amount.
    pub amount_cents: u64,
    /// The currency (`USD` when none was sent).
    pub currency: String,
    /// The `customer_key` sent, if any.
    pub customer_key: Option<String>,
    /// The `click_id` sent, if any.
    pub click_id: Option<String>,
    /// The partner credited (last click), or `None` for a test-mode sale.
    pub partner_code: Option<String>,
    /// The sale id returned.
    pub sale_id: u64,
    /// The commission created, or `None` for a test-mode sale.
    pub commission_id: Option<u64>,
    /// The commission amount in minor units: the stand-in pays 20% of the amount, rounded.
    pub commission_cents: u64,
    /// Whether a refund has been recorded against this sale.
    pub refunded: bool,
    /// Whether this was a test-mode sale.
    pub test: bool,
}

/// A refund the stand-in processed (a sale was found for its transaction id).
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> std::io::Result<()> {
/// use affitor_mock::RefundStatus;
/// # let mock = affitor_mock::MockServer::start().await?;
/// for refund in mock.refunds() {
///     assert_ne!(refund.status, RefundStatus::Skipped, "each refund is reported once");
/// }
/// # Ok(())
/// # }
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct RecordedRefund {
    /// The original sale's transaction id.
    pub transaction_id: String,
    /// The `refund_amount_cents` sent; `None` when absent or 0 (a full refund).
    pub refund_amount_cents: Option<u64>,
    /// The `refund_reason` sent, if any.
    pub reason: Option<String>,
    /// What the refund did.
    pub status: RefundStatus,
    /// The commission deducted, in minor units (0 when nothing was deducted).
    pub deduction_cents: u64,
    /// The commission concerned, if the sale had one.
    pub commission_id: Option<u64>,
}

/// What a refund did to the sale's commission.
///
/// ```
/// use affitor_mock::RefundStatus;
///
/// assert_eq!(RefundStatus::Reversed.as_str(), "reversed");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum RefundStatus {
    /// A full refund: the commission was reversed.
    Reversed,
    /// A partial refund: the commission was reduced in proportion.
    Refunded,
    /// The commission had already been claimed by an earlier refund: nothing changed.
    Skipped,
    /// The sale had no commission (a test-mode sale).
    NoCommission,
}

impl RefundStatus {
    /// The wire value of `status`: `reversed`, `refunded`, `skipped` or `no_commission`.
    ///
    /// ```
    /// use affitor_mock::RefundStatus;
    ///
    /// assert_eq!(RefundStatus::NoCommission.as_str(), "no_commission");
    /// ```
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Reversed => "reversed",
            Self::Refunded => "refunded",
            Self::Skipped => "skipped",
            Self::NoCommission => "no_commission",
        }
    }
}

impl fmt::Display for RefundStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}
