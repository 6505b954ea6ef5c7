//! The client's error type.

use std::error::Error as StdError;
use std::fmt;
use std::time::Duration;

use super::endpoint::Endpoint;
use super::error_body::ApiErrorBody;
use http::StatusCode;

type BoxError = Box<dyn StdError + Send + Sync + 'static>;

/// The longest API message kept in an [`Error`], in bytes. A server that answers with a page of
/// HTML should not fill a log line.
const MAX_MESSAGE_LEN: usize = 300;

/// What went wrong with an Affitor API call, or with building the client.
///
/// Errors say what happened and what to do about it; they never contain the API key. Branch on
/// [`Error::kind`], ask [`Error::is_retryable`] whether a later attempt could succeed, and read
/// the API's own words with [`Error::message`]. The cause underneath (the connection's error,
/// a store's) is the [`source`](StdError::source), not repeated in `Display`: an error report
/// that walks the chain (`anyhow`'s `{:#}`) shows each once.
///
/// ```
/// use affitor::{Client, client::ErrorKind};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let client = Client::builder().api_key("aff_live_secret").build().unwrap();
/// // Validation happens before any I/O: nothing is sent.
/// let error = client.sale("in_1001", 0).customer_key("user_1").send().await.unwrap_err();
/// assert_eq!(error.kind(), ErrorKind::InvalidAmount);
/// assert!(!error.is_retryable());
/// assert_eq!(error.status(), None);
/// assert!(!format!("{error} {error:?}").contains("secret"));
/// # }
/// ```
pub struct Error {
    inner: Box<Inner>,
}

struct Inner {
    kind: ErrorKind,
    endpoint: Option<Endpoint>,
    status: Option<StatusCode>,
    message: Option<String>,
    code: Option<String>,
    detail: Option<String>,
    retry_after: Option<Duration>,
    attempts: u32,
    source: Option<BoxError>,
}

/// The kind of an [`Error`].
///
/// ```
/// use affitor::{Client, client::ErrorKind};
///
/// let error = Client::builder().build().unwrap_err();
/// assert_eq!(error.kind(), ErrorKind::MissingApiKey);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorKind {
    /// No API key was given, or it is empty. Set `AFFITOR_API_KEY`.
    MissingApiKey,
    /// The API key cannot be sent in a header (it holds spaces or control characters).
    InvalidApiKey,
    /// The base URL does not parse, is not `http(s)`, carries credentials, or is plain `http://`
    /// to a host that is not loopback without `allow_insecure_http(true)`.
    InvalidBaseUrl,
    /// The HTTP client could not be built.
    HttpClient,
    /// A lead or a sale has neither a customer key nor a click id.
    MissingCustomer,
    /// An amount is zero, or larger than the API accepts (`i64::MAX` cents).
    InvalidAmount,
    /// The transaction id is empty.
    MissingTransactionId,
    /// A customer key or a transaction id holds a NUL character, or is longer than 1,024
    /// bytes: it is an identifier, and a durable store indexes it (hash a longer one).
    InvalidKey,
    /// The currency is not a three-letter code.
    InvalidCurrency,
    /// An amount in a currency the API does not take (it takes USD, EUR and VND), found before
    /// anything was sent: a sale in [`Currency::Other`](crate::client::Currency::Other), or a
    /// payment webhook's event with no currency converter, or none with a rate for it. Convert
    /// the amount first; a webhook's verifier does with one
    /// (`webhook::Builder::currency_converter`), then have the provider send the event again.
    UnsupportedCurrency,
    /// The click has no affiliate URL.
    MissingAffiliateUrl,
    /// The API refused the key (401 or 403).
    Unauthorized,
    /// The API asked to slow down (429); see [`Error::retry_after`].
    RateLimited,
    /// The API refused the request (400, 404 and other 4xx): it will not succeed as it is.
    Rejected,
    /// A refund names a transaction id under which the API recorded no sale (404 `Sale not
    /// found for transaction_id`): the sale was never tracked, was refused (an organic
    /// customer), or was not attributed. There is nothing to reverse, and a later attempt will
    /// not find more: do not retry.
    ///
    /// The client retries such a refund for
    /// [`RetryPolicy::refund_not_found_window`](crate::client::RetryPolicy::refund_not_found_window)
    /// before returning it, in case the sale is still on its way; widen that window when your
    /// payment provider may deliver a refund long before its sale.
    SaleNotFound,
    /// The API failed (5xx).
    Server,
    /// The API recorded the sale but failed to create its commission (500 `Failed to create
    /// commission`). The transaction id is used up: a retry would only be answered 409, so the
    /// client does not retry, and the error is not retryable. Contact Affitor support with the
    /// transaction id so that the partner's commission is created.
    CommissionNotCreated,
    /// No response within the per-attempt timeout or the call's deadline; or the server (or a
    /// proxy before it) answered that it did not process the request yet: 408, 425.
    Timeout,
    /// The API could not be reached: the request never left this machine.
    Connect,
    /// The connection broke after the request was sent and before a full response arrived: the
    /// request may or may not have been processed.
    Network,
    /// A successful response that could not be understood.
    Decode,
    /// A stored event could not be read back (see [`Event::from_json`](crate::client::Event::from_json)):
    /// its body is not the JSON of its endpoint, or its endpoint takes no event. Sending it
    /// would not mend it: keep it aside and look at it.
    InvalidEvent,
    /// A store could not write the event (an outbox's database is unreachable, its disk full;
    /// see `PaymentState::store`, feature `webhook`): nothing was stored, so
    /// it must come again. Retryable: a
    /// payment webhook answers 503 and the provider delivers it again. Made with
    /// [`Error::not_stored`].
    NotStored,
}

impl ErrorKind {
    /// Whether this kind is found before any I/O: configuration or request validation.
    const fn is_local(self) -> bool {
        matches!(
            self,
            Self::MissingApiKey
                | Self::InvalidApiKey
                | Self::InvalidBaseUrl
                | Self::HttpClient
                | Self::MissingCustomer
                | Self::InvalidAmount
                | Self::MissingTransactionId
                | Self::InvalidKey
                | Self::InvalidCurrency
                | Self::UnsupportedCurrency
                | Self::MissingAffiliateUrl
                | Self::InvalidEvent
        )
    }
}

impl Error {
    pub(crate) fn new(kind: ErrorKind) -> Self {
        Self {
            inner: Box::new(Inner {
                kind,
                endpoint: None,
                status: None,
                message: None,
                code: None,
                detail: None,
                retry_after: None,
                attempts: 0,
                source: None,
            }),
        }
    }

    /// The endpoint of the call or request that failed, if known.
    pub(crate) fn endpoint(&self) -> Option<Endpoint> {
        self.inner.endpoint
    }

    pub(crate) fn with_endpoint(mut self, endpoint: Endpoint) -> Self {
        self.inner.endpoint = Some(endpoint);
        self
    }

    /// A local detail for the message (a length, a value that is safe to show).
    pub(crate) fn with_detail(mut self, detail: impl Into<String>) -> Self {
        self.inner.detail = Some(detail.into());
        self
    }

    pub(crate) fn with_source(mut self, source: impl Into<BoxError>) -> Self {
        self.inner.source = Some(source.into());
        self
    }

    pub(crate) fn with_attempts(mut self, attempts: u32) -> Self {
        self.inner.attempts = attempts;
        self
    }

    /// An error for a response with a non-success `status` and `body`. `key` is removed from
    /// the API's message, should a server ever echo it.
    pub(crate) fn from_response(
        endpoint: Endpoint,
        status: StatusCode,
        retry_after_header: Option<Duration>,
        body: &[u8],
        key: &str,
    ) -> Self {
        let parsed = ApiErrorBody::parse(body);
        let kind = match status {
            StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => ErrorKind::Unauthorized,
            StatusCode::TOO_MANY_REQUESTS => ErrorKind::RateLimited,
            // Not processed, and may be later: the server (or a proxy) gave up waiting for the
            // request, or will not take it yet.
            status if super::retry::not_processed(status) => ErrorKind::Timeout,
            // The API's own 404 (with its error body), not a proxy's page for a wrong URL.
            StatusCode::NOT_FOUND if endpoint == Endpoint::Refund && parsed.message.is_some() => {
                ErrorKind::SaleNotFound
            }
            status
                if status.is_server_error()
                    && endpoint == Endpoint::Sale
                    && parsed.message.as_deref().is_some_and(is_commission_failure) =>
            {
                ErrorKind::CommissionNotCreated
            }
            status if status.is_server_error() => ErrorKind::Server,
            _ => ErrorKind::Rejected,
        };
        let mut error = Self::new(kind).with_endpoint(endpoint);
        error.inner.status = Some(status);
        error.inner.message = parsed.message.map(|message| clean_message(&message, key));
        error.inner.code = parsed.code.map(|code| clean_message(&code, key));
        error.inner.retry_after =
            retry_after_header.or(parsed.retry_after_seconds.map(Duration::from_secs));
        error
    }

    /// A response that could not be decoded.
    pub(crate) fn decode(endpoint: Endpoint, what: impl Into<String>) -> Self {
        Self::new(ErrorKind::Decode)
            .with_endpoint(endpoint)
            .with_detail(what)
    }

    /// What kind of error this is.
    ///
    /// ```
    /// use affitor::{Client, client::ErrorKind};
    ///
    /// let error = Client::builder().api_key("aff_x").base_url("ftp://example.com").build().unwrap_err();
    /// assert_eq!(error.kind(), ErrorKind::InvalidBaseUrl);
    /// ```
    pub fn kind(&self) -> ErrorKind {
        self.inner.kind
    }

    /// The HTTP status of the API's answer, when there was one.
    ///
    /// ```
    /// let error = affitor::Client::builder().build().unwrap_err();
    /// assert_eq!(error.status(), None); // nothing was sent
    /// ```
    pub fn status(&self) -> Option<StatusCode> {
        self.inner.status
    }

    /// The API's own message, such as `"Invalid API token"` or `"Sale not found for
    /// transaction_id"`, read from any of the API's error shapes (`{"error": "..."}`,
    /// `{"error": {"code", "message"}}`, `{"message": "..."}`).
    ///
    /// ```
    /// let error = affitor::Client::builder().build().unwrap_err();
    /// assert_eq!(error.message(), None); // not an answer of the API
    /// ```
    pub fn message(&self) -> Option<&str> {
        self.inner.message.as_deref()
    }

    /// The API's machine-readable error code, such as `"rate_limited"` or `"invalid_key"`, when
    /// the answer had one.
    ///
    /// ```
    /// let error = affitor::Client::builder().build().unwrap_err();
    /// assert_eq!(error.code(), None);
    /// ```
    pub fn code(&self) -> Option<&str> {
        self.inner.code.as_deref()
    }

    /// How long the API asked to wait before trying again (`Retry-After`, or the body's
    /// `retry_after_seconds`).
    ///
    /// ```
    /// let error = affitor::Client::builder().build().unwrap_err();
    /// assert_eq!(error.retry_after(), None);
    /// ```
    pub fn retry_after(&self) -> Option<Duration> {
        self.inner.retry_after
    }

    /// Whether the same call, made again later, could succeed: the API was unreachable
    /// ([`Connect`](ErrorKind::Connect)), slow ([`Timeout`](ErrorKind::Timeout)), cut off
    /// ([`Network`](ErrorKind::Network)), failing ([`Server`](ErrorKind::Server)) or rate
    /// limiting ([`RateLimited`](ErrorKind::RateLimited); see [`Error::retry_after`]), or it
    /// refused the key ([`Unauthorized`](ErrorKind::Unauthorized)): the event is sound, the
    /// setup is not, and the same call succeeds once the key is fixed (regenerating a key
    /// invalidates the old one at once, so this happens during every key rotation). Anything
    /// else will not get better by trying again: configuration errors, invalid requests, a
    /// refund of a sale that was never recorded
    /// ([`SaleNotFound`](ErrorKind::SaleNotFound)), a sale recorded without its commission
    /// ([`CommissionNotCreated`](ErrorKind::CommissionNotCreated)), an answer that is not the
    /// API's ([`Decode`](ErrorKind::Decode)) and other refusals.
    ///
    /// It answers "could a later attempt succeed", not "did nothing happen": after a timeout, a
    /// broken connection or a 5xx, the API may have processed the call. Trying again is still
    /// safe for every call, which is why this says `true`:
    /// - a **sale** or a **refund** is keyed by its transaction id: a repeat is answered 409
    ///   or `skipped`, never counted twice;
    /// - a **lead** is idempotent on the customer: a repeat is accepted, or refused as
    ///   already converted, and never creates a second customer;
    /// - a **click** repeated may be recorded twice: a visit counted twice, no money involved.
    ///
    /// The client's own retry loop is stricter for leads and clicks: it repeats them only when
    /// the request surely was not processed (see [`RetryPolicy`](crate::client::RetryPolicy)), so that
    /// one `send` never records an event twice by itself; it never repeats a refused key
    /// either. Trying again after that is the caller's choice: a webhook handler answers 503
    /// on a retryable error, so that the payment provider delivers the event again later and
    /// no sale is lost while the API is down or the key is being replaced.
    ///
    /// ```
    /// let error = affitor::Client::builder().build().unwrap_err();
    /// assert!(!error.is_retryable());
    /// ```
    pub fn is_retryable(&self) -> bool {
        matches!(
            self.inner.kind,
            ErrorKind::RateLimited
                | ErrorKind::Unauthorized
                | ErrorKind::Server
                | ErrorKind::Timeout
                | ErrorKind::Connect
                | ErrorKind::Network
                | ErrorKind::NotStored
        )
    }

    /// An error of kind [`ErrorKind::NotStored`]: what a store (a webhook's payment state that
    /// stores events: an outbox) returns when it could not write an event, with the store's own
    /// error as its [`source`](StdError::source) (say where the store is in `source` only
    /// without its password).
    ///
    /// ```
    /// use std::error::Error as _;
    ///
    /// use affitor::client::ErrorKind;
    ///
    /// let error = affitor::Error::not_stored("database is locked");
    /// assert_eq!(error.kind(), ErrorKind::NotStored);
    /// assert!(error.is_retryable());
    /// let source = error.source().map(ToString::to_string);
    /// assert_eq!(source.as_deref(), Some("database is locked"));
    /// ```
    pub fn not_stored(source: impl Into<BoxError>) -> Self {
        Self::new(ErrorKind::NotStored).with_source(source)
    }

    /// Whether the API refused a sale because no partner brought its customer: it knows no
    /// such customer (`Customer not found`: no partner's link brought them, or the click id is
    /// stale or made up), or no partner's attribution of them in this program (`No affiliate
    /// attribution found`, `No partner-program relationship found`). An organic sale: the
    /// API's word, which credits no one, not a failure to mend and send again.
    ///
    /// Read from the answer's status (a 4xx refusal, [`ErrorKind::Rejected`]) and the API's
    /// [`message`](Self::message); `false` for any other endpoint and any other answer.
    ///
    /// ```
    /// let error = affitor::Client::builder().build().unwrap_err();
    /// assert!(!error.is_organic_sale()); // not an answer of the API
    /// ```
    pub fn is_organic_sale(&self) -> bool {
        self.refused_saying(Endpoint::Sale, NO_PARTNER)
    }

    /// Whether the API refused a lead for good because of the customer its click id names: no
    /// such customer (`Customer not found`), another program's (`Customer does not belong to
    /// this program`), or one that already converted (`Customer status cannot be updated to
    /// lead`). The API looks the customer up by the click id first, so for a lead that carried
    /// one, the click id is what it refused: anyone can send a signup with a stale, foreign or
    /// made-up click id. Sent again without it, the lead can still count for the customer key
    /// (when the API knows that customer); sent again as it is, it never will.
    ///
    /// Read from the answer's status (a 4xx refusal, [`ErrorKind::Rejected`]) and the API's
    /// [`message`](Self::message); `false` for any other endpoint and any other answer.
    ///
    /// ```
    /// let error = affitor::Client::builder().build().unwrap_err();
    /// assert!(!error.is_click_id_refused()); // not an answer of the API
    /// ```
    pub fn is_click_id_refused(&self) -> bool {
        self.refused_saying(Endpoint::Lead, CUSTOMER_REFUSED)
    }

    /// Whether this is a 4xx refusal ([`ErrorKind::Rejected`]) from `endpoint` whose message
    /// holds one of `phrases` (lowercase), in any case.
    fn refused_saying(&self, endpoint: Endpoint, phrases: &[&str]) -> bool {
        let inner = &*self.inner;
        inner.kind == ErrorKind::Rejected
            && inner.endpoint == Some(endpoint)
            && inner.status.is_some_and(|status| status.is_client_error())
            && inner.message.as_deref().is_some_and(|message| {
                let message = message.to_ascii_lowercase();
                phrases.iter().any(|phrase| message.contains(phrase))
            })
    }

    fn write_status(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.inner.status {
            Some(status) => write!(f, "{status}")?,
            None => f.write_str("error")?,
        }
        if let Some(endpoint) = self.inner.endpoint {
            write!(f, " from {endpoint}")?;
        }
        match (&self.inner.message, self.inner.status) {
            (Some(message), _) => write!(f, ": {message}"),
            (None, Some(status)) => {
                write!(f, ": {}", status.canonical_reason().unwrap_or("no message"))
            }
            (None, None) => Ok(()),
        }
    }

    fn write_attempts(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.inner.attempts > 1 {
            write!(f, " (gave up after {} attempts)", self.inner.attempts)?;
        }
        Ok(())
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let inner = &*self.inner;
        let call = inner.endpoint.map_or("the call", Endpoint::name);
        let detail = inner.detail.as_deref().unwrap_or("");
        match inner.kind {
            ErrorKind::MissingApiKey => f.write_str(
                "no Affitor API key — set AFFITOR_API_KEY or call `ClientBuilder::api_key` \
                 with the program key from Program Settings",
            ),
            ErrorKind::InvalidApiKey => write!(
                f,
                "the Affitor API key {detail} — copy the program key (it starts with `aff_`) \
                 from Program Settings into AFFITOR_API_KEY"
            ),
            ErrorKind::InvalidBaseUrl => write!(f, "invalid Affitor API base URL: {detail}"),
            ErrorKind::HttpClient => {
                f.write_str("could not build the HTTP client for the Affitor API")?;
                match &inner.detail {
                    Some(detail) => write!(f, ": {detail}"),
                    None => Ok(()),
                }
            }
            ErrorKind::MissingCustomer => write!(
                f,
                "a {call} needs a customer key or a click id — pass your user id as the \
                 customer key, or set `.click_id(...)` from the `affitor_click_id` cookie"
            ),
            ErrorKind::InvalidAmount => write!(f, "invalid amount for a {call}: {detail}"),
            ErrorKind::MissingTransactionId => write!(
                f,
                "a {call} needs a transaction id — pass the payment processor's invoice or \
                 charge id (it is the idempotency key)"
            ),
            ErrorKind::InvalidKey => write!(
                f,
                "the {call}'s {detail} — pass an identifier of at most {} bytes with no NUL \
                 character (hash a longer one)",
                super::request::MAX_KEY_LEN
            ),
            ErrorKind::InvalidCurrency => write!(
                f,
                "currency {detail} is not a three-letter ISO 4217 code — use `Currency::Usd`, \
                 `Currency::Eur`, `Currency::Vnd` or `Currency::from_code(\"GBP\")`"
            ),
            ErrorKind::UnsupportedCurrency => write!(f, "cannot send a {call}: {detail}"),
            ErrorKind::MissingAffiliateUrl => f.write_str(
                "a click needs the affiliate URL — pass the landing URL with its `?aff=` code",
            ),
            ErrorKind::InvalidEvent => write!(
                f,
                "a stored {call} event could not be read back: {detail} — the row is corrupt \
                 or was not written by `Event::to_json`; keep it aside and look at it"
            ),
            ErrorKind::NotStored => f.write_str(
                "the event was not stored: its durable store could not write it — nothing was \
                 kept, so it must come again; check that the store's database is reachable and \
                 its disk has room",
            ),
            ErrorKind::Unauthorized => {
                self.write_status(f)?;
                f.write_str(
                    " — check AFFITOR_API_KEY: it must be the program key (starting with \
                     `aff_`) from Program Settings",
                )
            }
            ErrorKind::RateLimited => {
                self.write_status(f)?;
                match inner.retry_after {
                    Some(wait) => write!(f, " — wait {} s and try again", wait.as_secs().max(1))?,
                    None => f.write_str(" — slow down and try again later")?,
                }
                self.write_attempts(f)
            }
            ErrorKind::SaleNotFound => {
                self.write_status(f)?;
                f.write_str(
                    " — no sale was recorded under this transaction id: it was never tracked, \
                     or was not attributed; nothing to reverse",
                )?;
                self.write_attempts(f)
            }
            ErrorKind::Rejected => {
                self.write_status(f)?;
                if inner.status.is_some_and(|status| status.is_redirection()) {
                    f.write_str(" — check that AFFITOR_API_URL points at the Affitor API")?;
                } else {
                    f.write_str(" — the request will not succeed as it is; fix it, do not retry")?;
                }
                self.write_attempts(f)
            }
            ErrorKind::Server => {
                self.write_status(f)?;
                f.write_str(" — the Affitor API failed; try again later")?;
                self.write_attempts(f)
            }
            ErrorKind::CommissionNotCreated => {
                self.write_status(f)?;
                f.write_str(
                    " — the sale was recorded but its commission was not: do not retry (the \
                     transaction id is used up); contact Affitor support with the transaction id",
                )?;
                self.write_attempts(f)
            }
            ErrorKind::Timeout if inner.status.is_some() => {
                self.write_status(f)?;
                f.write_str(
                    " — the Affitor API, or a proxy before it, did not process the request; \
                     try again later",
                )?;
                self.write_attempts(f)
            }
            ErrorKind::Timeout => {
                write!(
                    f,
                    "the {call} call timed out — the Affitor API is slow or unreachable; try \
                     again later, or raise the timeout"
                )?;
                self.write_attempts(f)
            }
            ErrorKind::Connect => {
                write!(
                    f,
                    "could not connect to the Affitor API for the {call} call — check \
                     AFFITOR_API_URL and the network"
                )?;
                self.write_attempts(f)
            }
            ErrorKind::Network => {
                write!(
                    f,
                    "the connection broke during the {call} call before the answer arrived — \
                     it may or may not have been processed; try again later"
                )?;
                self.write_attempts(f)
            }
            ErrorKind::Decode => write!(
                f,
                "unexpected answer to the {call} call: {detail} — check that AFFITOR_API_URL \
                 points at the Affitor API"
            ),
        }
    }
}

/// The `Debug` form leads with the error's `kind`, then its `message`: what
/// [`Display`](fmt::Display) says, what to do included. It is what `main` prints when it returns
/// the error (`fn main() -> Result<(), Box<dyn Error>>`, or `?` in `main`), so a missing key
/// reads `Error { kind: MissingApiKey, message: "no Affitor API key — set AFFITOR_API_KEY …" }`.
/// What is known of the call follows: its `endpoint` and `status`, the API's own words as
/// `api_message` when it answered, and the rest. Like `Display`, it never holds the API key.
impl fmt::Debug for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let inner = &*self.inner;
        let mut debug = f.debug_struct("Error");
        debug.field("kind", &inner.kind);
        debug.field("message", &self.to_string());
        if let Some(endpoint) = inner.endpoint {
            debug.field("endpoint", &endpoint.name());
        }
        if let Some(status) = inner.status {
            debug.field("status", &status);
        }
        if let Some(message) = &inner.message {
            debug.field("api_message", message);
        }
        if let Some(code) = &inner.code {
            debug.field("code", code);
        }
        if let Some(detail) = &inner.detail {
            debug.field("detail", detail);
        }
        if let Some(retry_after) = inner.retry_after {
            debug.field("retry_after", &retry_after);
        }
        if !inner.kind.is_local() {
            debug.field("attempts", &inner.attempts);
        }
        if let Some(source) = &inner.source {
            debug.field("source", source);
        }
        debug.finish()
    }
}

impl StdError for Error {
    fn source(&self) -> Option<&(dyn StdError + 'static)> {
        self.inner
            .source
            .as_deref()
            .map(|source| source as &(dyn StdError + 'static))
    }
}

/// Whether a sale's 5xx message is the API's `Failed to create commission`, alone or with a
/// cause after it: it answers so when the sale row was written but its commission was not,
/// and the transaction id is then used up (a repeat is answered 409).
fn is_commission_failure(message: &str) -> bool {
    const FAILURE: &str = "failed to create commission";
    message
        .trim_start()
        .get(..FAILURE.len())
        .is_some_and(|start| start.eq_ignore_ascii_case(FAILURE))
}

/// What a sale's refusal says when no partner brought its customer ([`Error::is_organic_sale`]).
const NO_PARTNER: &[&str] = &[
    "customer not found",
    "no affiliate attribution found",
    "no partner-program relationship found",
];

/// What a lead's refusal says when it names its customer: unknown, another program's, or
/// converted (the stand-in's and the API's words, `affitor-mock/src/rules/lead.rs`).
const CUSTOMER_REFUSED: &[&str] = &[
    "customer not found",
    "does not belong to this program",
    "cannot be updated to lead",
];

/// Bounds a message from the network, replaces control characters and removes the key.
pub(crate) fn clean_message(message: &str, key: &str) -> String {
    let mut cleaned: String = message
        .trim()
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    if !key.is_empty() && cleaned.contains(key) {
        cleaned = cleaned.replace(key, "[redacted]");
    }
    if cleaned.len() > MAX_MESSAGE_LEN {
        let mut end = MAX_MESSAGE_LEN;
        while !cleaned.is_char_boundary(end) {
            end -= 1;
        }
        cleaned.truncate(end);
        cleaned.push('…');
    }
    cleaned
}

#[cfg(test)]
mod tests;
