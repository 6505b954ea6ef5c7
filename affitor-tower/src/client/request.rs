//! The typed requests: their builders, and the plain payloads they send.
//!
//! A builder owns a [`Client`] clone and collects the fields; `send` validates them (before any
//! I/O), turns them into a payload and hands the payload to the client's retrying path. The
//! payloads are plain serializable data, separate from the builders, so that a queue can hold
//! them and send them later through the same path ([`Client::send_payload`]).

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use serde::{Serialize, Serializer};
use serde_json::{Map, Value};

use super::Client;
use super::endpoint::Endpoint;
use super::error::{Error, ErrorKind};
use super::outcome::{
    Answer, ClickOutcome, LeadOutcome, RefundOutcome, SaleOutcome, decode_click, decode_lead,
    decode_refund, decode_sale,
};
use super::readiness::{Readiness, Verification};
use crate::ClickId;

/// The largest amount the API accepts, in cents.
const MAX_AMOUNT_CENTS: u64 = i64::MAX as u64;

/// A three-letter currency code, sent upper-case.
///
/// The API documents `USD`, `EUR` and `VND`; other ISO 4217 codes go in [`Currency::Other`].
/// Without a currency the API assumes `USD`.
///
/// ```
/// use affitor_tower::Currency;
///
/// assert_eq!(Currency::from_code("eur")?, Currency::Eur);
/// assert_eq!("gbp".parse::<Currency>()?, Currency::Other("GBP".into()));
/// assert_eq!(Currency::Vnd.to_string(), "VND");
/// assert!(Currency::from_code("dollars").is_err());
/// # Ok::<(), affitor_tower::Error>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Currency {
    /// US dollar, `USD` (the API's default).
    Usd,
    /// Euro, `EUR`.
    Eur,
    /// Vietnamese đồng, `VND`.
    Vnd,
    /// Another three-letter code, such as `GBP`. It is checked and upper-cased when the sale is
    /// sent; [`Currency::from_code`] checks it at once.
    Other(String),
}

impl Currency {
    /// Reads a three-letter code, in any case.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::InvalidCurrency`] unless `code` is three ASCII letters.
    ///
    /// ```
    /// use affitor_tower::{Currency, ErrorKind};
    ///
    /// assert_eq!(Currency::from_code("Usd")?, Currency::Usd);
    /// assert_eq!(Currency::from_code("US").unwrap_err().kind(), ErrorKind::InvalidCurrency);
    /// # Ok::<(), affitor_tower::Error>(())
    /// ```
    pub fn from_code(code: &str) -> Result<Self, Error> {
        let code = code.trim();
        if !is_currency_code(code) {
            return Err(invalid_currency(code));
        }
        Ok(match code.to_ascii_uppercase().as_str() {
            "USD" => Self::Usd,
            "EUR" => Self::Eur,
            "VND" => Self::Vnd,
            other => Self::Other(other.to_owned()),
        })
    }

    fn code(&self) -> &str {
        match self {
            Self::Usd => "USD",
            Self::Eur => "EUR",
            Self::Vnd => "VND",
            Self::Other(code) => code,
        }
    }

    fn validate(&self) -> Result<(), Error> {
        if is_currency_code(self.code()) {
            Ok(())
        } else {
            Err(invalid_currency(self.code()))
        }
    }
}

fn is_currency_code(code: &str) -> bool {
    code.len() == 3 && code.bytes().all(|byte| byte.is_ascii_alphabetic())
}

fn invalid_currency(code: &str) -> Error {
    // Show at most a few characters of what was given: it is the caller's input.
    let shown: String = code
        .chars()
        .take(8)
        .flat_map(char::escape_default)
        .collect();
    let ellipsis = if code.chars().count() > 8 { "…" } else { "" };
    Error::new(ErrorKind::InvalidCurrency)
        .with_endpoint(Endpoint::Sale)
        .with_detail(format!("`{shown}{ellipsis}`"))
}

impl fmt::Display for Currency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for c in self.code().chars() {
            fmt::Write::write_char(f, c.to_ascii_uppercase())?;
        }
        Ok(())
    }
}

impl FromStr for Currency {
    type Err = Error;

    fn from_str(code: &str) -> Result<Self, Self::Err> {
        Self::from_code(code)
    }
}

impl Serialize for Currency {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

/// What kind of sale it is. Without one the API assumes a one-time payment.
///
/// ```
/// let sale_type = affitor_tower::SaleType::Subscription;
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum SaleType {
    /// A one-time payment, `payment`.
    Payment,
    /// A subscription payment, `subscription`.
    Subscription,
}

/// How often a subscription renews.
///
/// ```
/// let interval = affitor_tower::SubscriptionInterval::Monthly;
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum SubscriptionInterval {
    /// `monthly`.
    Monthly,
    /// `quarterly`.
    Quarterly,
    /// `annual`.
    Annual,
}

/// The body of `POST /api/v1/track/lead`. Unset fields are omitted, never `null`.
#[derive(Clone, Default, PartialEq, Serialize)]
pub(crate) struct LeadPayload {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) customer_key: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) click_id: Option<ClickId>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) email: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) session_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) page_url: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub(crate) click_ids: Vec<ClickId>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) additional_data: Option<Map<String, Value>>,
}

impl fmt::Debug for LeadPayload {
    // The customer key and the email are personal data: shown only as present or not.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LeadPayload")
            .field(
                "customer_key",
                &self.customer_key.as_ref().map(|_| Redacted),
            )
            .field("click_id", &self.click_id)
            .field("email", &self.email.as_ref().map(|_| Redacted))
            .field("session_id", &self.session_id)
            .field("page_url", &self.page_url)
            .field("click_ids", &self.click_ids.len())
            .field("additional_data", &self.additional_data)
            .finish()
    }
}

/// The body of `POST /api/v1/track/sale`. Unset fields are omitted, never `null`.
#[derive(Clone, PartialEq, Serialize)]
pub(crate) struct SalePayload {
    pub(crate) transaction_id: String,
    pub(crate) amount_cents: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) customer_key: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) click_id: Option<ClickId>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) currency: Option<Currency>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) sale_type: Option<SaleType>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) is_recurring: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) subscription_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) subscription_interval: Option<SubscriptionInterval>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) product_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) line_items: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) additional_data: Option<Map<String, Value>>,
}

impl fmt::Debug for SalePayload {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SalePayload")
            .field("transaction_id", &self.transaction_id)
            .field("amount_cents", &self.amount_cents)
            .field(
                "customer_key",
                &self.customer_key.as_ref().map(|_| Redacted),
            )
            .field("click_id", &self.click_id)
            .field("currency", &self.currency)
            .field("sale_type", &self.sale_type)
            .field("is_recurring", &self.is_recurring)
            .field("subscription_id", &self.subscription_id)
            .field("subscription_interval", &self.subscription_interval)
            .field("product_id", &self.product_id)
            .field("line_items", &self.line_items.as_ref().map(|_| Redacted))
            .field("additional_data", &self.additional_data)
            .finish()
    }
}

/// The body of `POST /api/v1/track/refund`. Unset fields are omitted, never `null`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub(crate) struct RefundPayload {
    pub(crate) transaction_id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) refund_amount_cents: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) refund_reason: Option<String>,
}

/// The body of `POST /api/v1/track/click`. Unset fields are omitted, never `null`.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub(crate) struct ClickPayload {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) affiliate_url: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) page_url: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) page_title: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) referrer_url: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) session_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) user_agent: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) screen_resolution: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) viewport_size: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) language: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) timezone: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) existing_click_id: Option<ClickId>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) additional_data: Option<Map<String, Value>>,
}

struct Redacted;

impl fmt::Debug for Redacted {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

/// A validated payload for one tracking endpoint: what a queue holds.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Payload {
    Click(ClickPayload),
    Lead(LeadPayload),
    Sale(SalePayload),
    Refund(RefundPayload),
}

/// The outcome of sending a [`Payload`].
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Outcome {
    Click(ClickOutcome),
    Lead(LeadOutcome),
    Sale(SaleOutcome),
    Refund(RefundOutcome),
}

macro_rules! payload_from {
    ($($variant:ident($payload:ty)),*) => {$(
        impl From<$payload> for Payload {
            fn from(payload: $payload) -> Self {
                Self::$variant(payload)
            }
        }
    )*};
}
payload_from!(
    Click(ClickPayload),
    Lead(LeadPayload),
    Sale(SalePayload),
    Refund(RefundPayload)
);

/// A payload that one endpoint accepts, and how to decode that endpoint's answer.
pub(crate) trait Call: Serialize {
    const ENDPOINT: Endpoint;
    type Outcome;
    /// Decodes the answer to this payload.
    fn decode(&self, answer: &Answer, key: &str) -> Result<Self::Outcome, Error>;
    /// A short name of the outcome for spans.
    fn label(outcome: &Self::Outcome) -> &'static str;
}

impl Call for LeadPayload {
    const ENDPOINT: Endpoint = Endpoint::Lead;
    type Outcome = LeadOutcome;

    fn decode(&self, answer: &Answer, key: &str) -> Result<LeadOutcome, Error> {
        decode_lead(answer, key)
    }

    fn label(outcome: &LeadOutcome) -> &'static str {
        match outcome {
            LeadOutcome::Tracked => "tracked",
            LeadOutcome::Provisional => "provisional",
            LeadOutcome::Test { .. } => "test",
        }
    }
}

impl Call for SalePayload {
    const ENDPOINT: Endpoint = Endpoint::Sale;
    type Outcome = SaleOutcome;

    fn decode(&self, answer: &Answer, key: &str) -> Result<SaleOutcome, Error> {
        decode_sale(answer, key)
    }

    fn label(outcome: &SaleOutcome) -> &'static str {
        match outcome {
            SaleOutcome::Recorded { .. } => "recorded",
            SaleOutcome::AlreadyRecorded => "already_recorded",
            SaleOutcome::NotAttributed { .. } => "not_attributed",
            SaleOutcome::Test { .. } => "test",
        }
    }
}

impl Call for RefundPayload {
    const ENDPOINT: Endpoint = Endpoint::Refund;
    type Outcome = RefundOutcome;

    fn decode(&self, answer: &Answer, key: &str) -> Result<RefundOutcome, Error> {
        let partial = self.refund_amount_cents.is_some_and(|amount| amount > 0);
        decode_refund(answer, key, partial)
    }

    fn label(outcome: &RefundOutcome) -> &'static str {
        match outcome {
            RefundOutcome::Reversed { .. } => "reversed",
            RefundOutcome::PartiallyRefunded { .. } => "partially_refunded",
            RefundOutcome::Skipped { .. } => "skipped",
            RefundOutcome::NoCommission => "no_commission",
            RefundOutcome::Other { .. } => "other",
        }
    }
}

impl Call for ClickPayload {
    const ENDPOINT: Endpoint = Endpoint::Click;
    type Outcome = ClickOutcome;

    fn decode(&self, answer: &Answer, key: &str) -> Result<ClickOutcome, Error> {
        decode_click(answer, key)
    }

    fn label(outcome: &ClickOutcome) -> &'static str {
        match outcome {
            ClickOutcome::Recorded { .. } => "recorded",
            ClickOutcome::Inactive { .. } => "inactive",
            ClickOutcome::Test { .. } => "test",
        }
    }
}

/// `Some(value)` unless it is empty or only whitespace.
fn non_empty(value: impl Into<String>) -> Option<String> {
    let value = value.into();
    (!value.trim().is_empty()).then_some(value)
}

/// Adds `test_mode: true` to `additional_data` when the client is in test mode.
fn with_test_mode(
    client: &Client,
    additional_data: Option<Map<String, Value>>,
) -> Option<Map<String, Value>> {
    let mut data = additional_data.unwrap_or_default();
    if client.inner.test_mode {
        data.insert("test_mode".to_owned(), Value::Bool(true));
    }
    (!data.is_empty()).then_some(data)
}

fn check_amount(endpoint: Endpoint, amount_cents: u64, zero_allowed: bool) -> Result<(), Error> {
    let problem = if amount_cents == 0 && !zero_allowed {
        "it is 0; it must be a positive whole number of cents (skip zero-amount payments)"
    } else if amount_cents > MAX_AMOUNT_CENTS {
        "it is larger than the API accepts (at most i64::MAX cents)"
    } else {
        return Ok(());
    };
    Err(Error::new(ErrorKind::InvalidAmount)
        .with_endpoint(endpoint)
        .with_detail(problem))
}

fn check_transaction_id(endpoint: Endpoint, transaction_id: &str) -> Result<(), Error> {
    if transaction_id.trim().is_empty() {
        return Err(Error::new(ErrorKind::MissingTransactionId).with_endpoint(endpoint));
    }
    Ok(())
}

fn missing_customer(endpoint: Endpoint) -> Error {
    Error::new(ErrorKind::MissingCustomer).with_endpoint(endpoint)
}

/// A lead: a signup tied to the click that brought the visitor. Made by [`Client::lead`].
///
/// ```
/// # async fn signup(client: affitor_tower::Client, click_id: Option<affitor_tower::ClickId>) -> Result<(), affitor_tower::Error> {
/// use affitor_tower::LeadOutcome;
///
/// let outcome = client
///     .lead("user_123")
///     .click_id(click_id)
///     .email("ada@example.com")
///     .send()
///     .await?;
/// assert!(matches!(outcome, LeadOutcome::Tracked | LeadOutcome::Provisional | LeadOutcome::Test { .. }));
/// # Ok(())
/// # }
/// ```
#[must_use = "a lead does nothing until you call `send`"]
#[derive(Debug)]
pub struct LeadRequest {
    client: Client,
    payload: LeadPayload,
    event_name: Option<String>,
}

impl LeadRequest {
    pub(crate) fn new(client: Client, customer_key: String) -> Self {
        Self {
            client,
            payload: LeadPayload {
                customer_key: non_empty(customer_key),
                ..LeadPayload::default()
            },
            event_name: None,
        }
    }

    /// The click id from the visitor's `affitor_click_id` cookie. `None` leaves it unset.
    ///
    /// ```
    /// # let client = affitor_tower::Client::builder().api_key("aff_key").build()?;
    /// let click_id: affitor_tower::ClickId = "cust_42_1714000000000".parse()?;
    /// let lead = client.lead("user_123").click_id(click_id);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn click_id(mut self, click_id: impl Into<Option<ClickId>>) -> Self {
        self.payload.click_id = click_id.into();
        self
    }

    /// The user's email. The API hashes it before storing it; the client never logs it.
    ///
    /// ```
    /// # let client = affitor_tower::Client::builder().api_key("aff_key").build()?;
    /// let lead = client.lead("user_123").email("ada@example.com");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn email(mut self, email: impl Into<String>) -> Self {
        self.payload.email = non_empty(email);
        self
    }

    /// The browser session id.
    ///
    /// ```
    /// # let client = affitor_tower::Client::builder().api_key("aff_key").build()?;
    /// let lead = client.lead("user_123").session_id("sess_abc_1714000000000");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn session_id(mut self, session_id: impl Into<String>) -> Self {
        self.payload.session_id = non_empty(session_id);
        self
    }

    /// The page the signup happened on.
    ///
    /// ```
    /// # let client = affitor_tower::Client::builder().api_key("aff_key").build()?;
    /// let lead = client.lead("user_123").page_url("https://shop.example/signup");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn page_url(mut self, page_url: impl Into<String>) -> Self {
        self.payload.page_url = non_empty(page_url);
        self
    }

    /// Earlier click ids of the visitor (the tracker's `affitor_click_ids` cookie), oldest
    /// first.
    ///
    /// ```
    /// # let client = affitor_tower::Client::builder().api_key("aff_key").build()?;
    /// let earlier = ["cust_1_1".parse()?, "cust_1_2".parse()?];
    /// let lead = client.lead("user_123").click_ids(earlier);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn click_ids(mut self, click_ids: impl IntoIterator<Item = ClickId>) -> Self {
        self.payload.click_ids = click_ids.into_iter().collect();
        self
    }

    /// A label for the event, sent as `additional_data.event_name`.
    ///
    /// ```
    /// # let client = affitor_tower::Client::builder().api_key("aff_key").build()?;
    /// let lead = client.lead("user_123").event_name("signup");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn event_name(mut self, event_name: impl Into<String>) -> Self {
        self.event_name = non_empty(event_name);
        self
    }

    /// Sends the lead, with retries, and says what the API did with it.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::MissingCustomer`] before any I/O when there is neither a customer key nor a
    /// click id; otherwise the API's refusal or the transport failure (see [`Error`]).
    ///
    /// ```
    /// # async fn run(client: affitor_tower::Client) -> Result<(), affitor_tower::Error> {
    /// use affitor_tower::LeadOutcome;
    ///
    /// match client.lead("user_123").email("ada@example.com").send().await? {
    ///     LeadOutcome::Tracked => println!("lead tracked"),
    ///     other => println!("{other:?}"),
    /// }
    /// # Ok(())
    /// # }
    /// ```
    pub async fn send(self) -> Result<LeadOutcome, Error> {
        let (client, payload) = self.into_payload()?;
        client.call(&payload).await
    }

    /// Validates the lead and returns the client and the payload to send.
    pub(crate) fn into_payload(self) -> Result<(Client, LeadPayload), Error> {
        let Self {
            client,
            mut payload,
            event_name,
        } = self;
        if payload.customer_key.is_none() && payload.click_id.is_none() {
            return Err(missing_customer(Endpoint::Lead));
        }
        let mut data = Map::new();
        if let Some(event_name) = event_name {
            data.insert("event_name".to_owned(), Value::String(event_name));
        }
        payload.additional_data = with_test_mode(&client, Some(data));
        Ok((client, payload))
    }
}

/// A sale: a payment to attribute to the partner. Made by [`Client::sale`].
///
/// The transaction id is the idempotency key: a repeat answers 409, which the client reports
/// as [`SaleOutcome::AlreadyRecorded`], so the sale can be retried safely.
///
/// ```
/// # async fn paid(client: affitor_tower::Client) -> Result<(), affitor_tower::Error> {
/// use affitor_tower::{Currency, SaleType, SubscriptionInterval};
///
/// let outcome = client
///     .sale("in_1QxYz", 2490)
///     .customer_key("user_123")
///     .currency(Currency::Eur)
///     .sale_type(SaleType::Subscription)
///     .is_recurring(true)
///     .subscription_id("sub_xyz")
///     .subscription_interval(SubscriptionInterval::Monthly)
///     .send()
///     .await?;
/// println!("sale recorded: {}", outcome.is_recorded());
/// # Ok(())
/// # }
/// ```
#[must_use = "a sale does nothing until you call `send`"]
#[derive(Debug)]
pub struct SaleRequest {
    client: Client,
    payload: SalePayload,
}

impl SaleRequest {
    pub(crate) fn new(client: Client, transaction_id: String, amount_cents: u64) -> Self {
        Self {
            client,
            payload: SalePayload {
                transaction_id,
                amount_cents,
                customer_key: None,
                click_id: None,
                currency: None,
                sale_type: None,
                is_recurring: None,
                subscription_id: None,
                subscription_interval: None,
                product_id: None,
                line_items: None,
                additional_data: None,
            },
        }
    }

    /// Your stable id of the customer, as sent with the lead. Tried first.
    ///
    /// The API knows the key only once the customer's lead has landed: until then a sale that
    /// names only the key is refused (400 `Customer not found`). A sale queued with
    /// `send_in_background` waits behind its customer's lead queued earlier; where the
    /// checkout carried the click id too (Stripe metadata `affitor_click_id`), set it with
    /// [`click_id`](Self::click_id) as well, so that the sale is attributed even if the lead
    /// never arrived.
    ///
    /// ```
    /// # let client = affitor_tower::Client::builder().api_key("aff_key").build()?;
    /// let sale = client.sale("in_1001", 4900).customer_key("user_123");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn customer_key(mut self, customer_key: impl Into<String>) -> Self {
        self.payload.customer_key = non_empty(customer_key);
        self
    }

    /// The click id, when the customer key is not known to Affitor. `None` leaves it unset.
    ///
    /// ```
    /// # let client = affitor_tower::Client::builder().api_key("aff_key").build()?;
    /// let click_id: affitor_tower::ClickId = "cust_42_1714000000000".parse()?;
    /// let sale = client.sale("in_1001", 4900).click_id(click_id);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn click_id(mut self, click_id: impl Into<Option<ClickId>>) -> Self {
        self.payload.click_id = click_id.into();
        self
    }

    /// The currency of the amount (the API assumes USD without one).
    ///
    /// ```
    /// # let client = affitor_tower::Client::builder().api_key("aff_key").build()?;
    /// use affitor_tower::Currency;
    ///
    /// let sale = client.sale("in_1001", 4900).currency(Currency::Eur);
    /// let sale = client.sale("in_1002", 4900).currency(Currency::from_code("gbp")?);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn currency(mut self, currency: Currency) -> Self {
        self.payload.currency = Some(currency);
        self
    }

    /// A one-time payment or a subscription payment.
    ///
    /// ```
    /// # let client = affitor_tower::Client::builder().api_key("aff_key").build()?;
    /// let sale = client.sale("in_1001", 4900).sale_type(affitor_tower::SaleType::Subscription);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn sale_type(mut self, sale_type: SaleType) -> Self {
        self.payload.sale_type = Some(sale_type);
        self
    }

    /// Whether the payment is a subscription renewal.
    ///
    /// ```
    /// # let client = affitor_tower::Client::builder().api_key("aff_key").build()?;
    /// let renewal = client.sale("in_1001", 2490).is_recurring(true);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn is_recurring(mut self, is_recurring: bool) -> Self {
        self.payload.is_recurring = Some(is_recurring);
        self
    }

    /// The payment provider's subscription id.
    ///
    /// ```
    /// # let client = affitor_tower::Client::builder().api_key("aff_key").build()?;
    /// let sale = client.sale("in_1001", 2490).subscription_id("sub_xyz");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn subscription_id(mut self, subscription_id: impl Into<String>) -> Self {
        self.payload.subscription_id = non_empty(subscription_id);
        self
    }

    /// How often the subscription renews.
    ///
    /// ```
    /// # let client = affitor_tower::Client::builder().api_key("aff_key").build()?;
    /// use affitor_tower::SubscriptionInterval;
    ///
    /// let sale = client.sale("in_1001", 2490).subscription_interval(SubscriptionInterval::Monthly);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn subscription_interval(mut self, interval: SubscriptionInterval) -> Self {
        self.payload.subscription_interval = Some(interval);
        self
    }

    /// Your product id, for per-product commission rules.
    ///
    /// ```
    /// # let client = affitor_tower::Client::builder().api_key("aff_key").build()?;
    /// let sale = client.sale("in_1001", 4900).product_id("prod_pro");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn product_id(mut self, product_id: impl Into<String>) -> Self {
        self.payload.product_id = non_empty(product_id);
        self
    }

    /// Structured line items, as any JSON (`null` leaves them unset).
    ///
    /// ```
    /// # let client = affitor_tower::Client::builder().api_key("aff_key").build()?;
    /// let items = serde_json::json!([{"sku": "pro", "quantity": 1}]);
    /// let sale = client.sale("in_1001", 4900).line_items(items);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn line_items(mut self, line_items: Value) -> Self {
        self.payload.line_items = (!line_items.is_null()).then_some(line_items);
        self
    }

    /// Extra data stored with the sale (`additional_data`).
    ///
    /// ```
    /// # let client = affitor_tower::Client::builder().api_key("aff_key").build()?;
    /// let mut data = serde_json::Map::new();
    /// data.insert("plan".into(), "pro".into());
    /// let sale = client.sale("in_1001", 4900).additional_data(data);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn additional_data(mut self, additional_data: Map<String, Value>) -> Self {
        self.payload.additional_data = Some(additional_data);
        self
    }

    /// Sends the sale, with retries, and says what the API did with it.
    ///
    /// # Errors
    ///
    /// Before any I/O: [`ErrorKind::MissingTransactionId`], [`ErrorKind::InvalidAmount`],
    /// [`ErrorKind::MissingCustomer`], [`ErrorKind::InvalidCurrency`]. Then the API's refusal
    /// or the transport failure (see [`Error`]). A duplicate (409) is not an error.
    ///
    /// ```
    /// # async fn run(client: affitor_tower::Client) -> Result<(), affitor_tower::Error> {
    /// let outcome = client.sale("in_1001", 4900).customer_key("user_123").send().await?;
    /// if !outcome.is_recorded() {
    ///     println!("not recorded: {outcome:?}");
    /// }
    /// # Ok(())
    /// # }
    /// ```
    pub async fn send(self) -> Result<SaleOutcome, Error> {
        let (client, payload) = self.into_payload()?;
        client.call(&payload).await
    }

    /// Validates the sale and returns the client and the payload to send.
    pub(crate) fn into_payload(self) -> Result<(Client, SalePayload), Error> {
        let Self {
            client,
            mut payload,
        } = self;
        check_transaction_id(Endpoint::Sale, &payload.transaction_id)?;
        check_amount(Endpoint::Sale, payload.amount_cents, false)?;
        if payload.customer_key.is_none() && payload.click_id.is_none() {
            return Err(missing_customer(Endpoint::Sale));
        }
        if let Some(currency) = &mut payload.currency {
            currency.validate()?;
            if let Currency::Other(code) = currency {
                code.make_ascii_uppercase();
            }
        }
        payload.additional_data = with_test_mode(&client, payload.additional_data.take());
        Ok((client, payload))
    }
}

/// A refund: reverses the commission of an earlier sale. Made by [`Client::refund`].
///
/// ```
/// # async fn refunded(client: affitor_tower::Client) -> Result<(), affitor_tower::Error> {
/// let outcome = client
///     .refund("in_1QxYz") // the original sale's transaction id
///     .amount_cents(1000) // a partial refund; leave it out for a full one
///     .reason("customer_request")
///     .send()
///     .await?;
/// println!("{outcome:?}");
/// # Ok(())
/// # }
/// ```
#[must_use = "a refund does nothing until you call `send`"]
#[derive(Debug)]
pub struct RefundRequest {
    client: Client,
    payload: RefundPayload,
}

impl RefundRequest {
    pub(crate) fn new(client: Client, transaction_id: String) -> Self {
        Self {
            client,
            payload: RefundPayload {
                transaction_id,
                refund_amount_cents: None,
                refund_reason: None,
            },
        }
    }

    /// The refunded amount, for a partial refund. 0 means a full refund, as does leaving it out.
    ///
    /// ```
    /// # let client = affitor_tower::Client::builder().api_key("aff_key").build()?;
    /// let partial = client.refund("in_1001").amount_cents(1000);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn amount_cents(mut self, amount_cents: u64) -> Self {
        self.payload.refund_amount_cents = (amount_cents > 0).then_some(amount_cents);
        self
    }

    /// Why the payment was refunded, kept for audit.
    ///
    /// ```
    /// # let client = affitor_tower::Client::builder().api_key("aff_key").build()?;
    /// let refund = client.refund("in_1001").reason("customer_request");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn reason(mut self, reason: impl Into<String>) -> Self {
        self.payload.refund_reason = non_empty(reason);
        self
    }

    /// Sends the refund, with retries (a 404 is retried for a short while, in case the sale
    /// is still on its way), and says what the API did with it.
    ///
    /// # Errors
    ///
    /// Before any I/O: [`ErrorKind::MissingTransactionId`], [`ErrorKind::InvalidAmount`]. Then
    /// the API's refusal (404 when no sale has the transaction id) or the transport failure.
    ///
    /// ```
    /// # async fn run(client: affitor_tower::Client) -> Result<(), affitor_tower::Error> {
    /// use affitor_tower::RefundOutcome;
    ///
    /// match client.refund("in_1001").send().await? {
    ///     RefundOutcome::NoCommission => println!("nothing to reverse"),
    ///     other => println!("{other:?}"),
    /// }
    /// # Ok(())
    /// # }
    /// ```
    pub async fn send(self) -> Result<RefundOutcome, Error> {
        let (client, payload) = self.into_payload()?;
        client.call(&payload).await
    }

    /// Validates the refund and returns the client and the payload to send.
    pub(crate) fn into_payload(self) -> Result<(Client, RefundPayload), Error> {
        let Self { client, payload } = self;
        check_transaction_id(Endpoint::Refund, &payload.transaction_id)?;
        if let Some(amount) = payload.refund_amount_cents {
            check_amount(Endpoint::Refund, amount, true)?;
        }
        Ok((client, payload))
    }
}

/// A click reported from the server, for when the browser tracker cannot run. Made by
/// [`Client::click`]. It is sent without the API key: the `aff` code is its credential.
///
/// ```
/// # async fn landed(client: affitor_tower::Client) -> Result<(), affitor_tower::Error> {
/// use affitor_tower::ClickOutcome;
///
/// let outcome = client
///     .click("https://shop.example/pricing?aff=abc123")
///     .page_title("Pricing")
///     .referrer_url("https://news.example/")
///     .user_agent("Mozilla/5.0")
///     .send()
///     .await?;
/// if let ClickOutcome::Recorded { click_id, cookie_window_days, .. } = outcome {
///     println!("set affitor_click_id={click_id} for {cookie_window_days} days");
/// }
/// # Ok(())
/// # }
/// ```
#[must_use = "a click does nothing until you call `send`"]
#[derive(Debug)]
pub struct ClickRequest {
    client: Client,
    payload: ClickPayload,
}

impl ClickRequest {
    pub(crate) fn new(client: Client, affiliate_url: String) -> Self {
        Self {
            client,
            payload: ClickPayload {
                affiliate_url: non_empty(affiliate_url),
                ..ClickPayload::default()
            },
        }
    }

    /// The page the visitor landed on.
    ///
    /// ```
    /// # let client = affitor_tower::Client::builder().api_key("aff_key").build()?;
    /// let click = client.click("https://shop.example/?aff=abc").page_url("https://shop.example/");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn page_url(mut self, page_url: impl Into<String>) -> Self {
        self.payload.page_url = non_empty(page_url);
        self
    }

    /// The title of that page.
    ///
    /// ```
    /// # let client = affitor_tower::Client::builder().api_key("aff_key").build()?;
    /// let click = client.click("https://shop.example/?aff=abc").page_title("Pricing");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn page_title(mut self, page_title: impl Into<String>) -> Self {
        self.payload.page_title = non_empty(page_title);
        self
    }

    /// The page the visitor came from.
    ///
    /// ```
    /// # let client = affitor_tower::Client::builder().api_key("aff_key").build()?;
    /// let click = client.click("https://shop.example/?aff=abc").referrer_url("https://news.example/");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn referrer_url(mut self, referrer_url: impl Into<String>) -> Self {
        self.payload.referrer_url = non_empty(referrer_url);
        self
    }

    /// The browser session id.
    ///
    /// ```
    /// # let client = affitor_tower::Client::builder().api_key("aff_key").build()?;
    /// let click = client.click("https://shop.example/?aff=abc").session_id("sess_xyz_1234");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn session_id(mut self, session_id: impl Into<String>) -> Self {
        self.payload.session_id = non_empty(session_id);
        self
    }

    /// The visitor's `User-Agent`. Without it the API records the client's own.
    ///
    /// ```
    /// # let client = affitor_tower::Client::builder().api_key("aff_key").build()?;
    /// let click = client.click("https://shop.example/?aff=abc").user_agent("Mozilla/5.0");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn user_agent(mut self, user_agent: impl Into<String>) -> Self {
        self.payload.user_agent = non_empty(user_agent);
        self
    }

    /// The screen size, such as `1920x1080`.
    ///
    /// ```
    /// # let client = affitor_tower::Client::builder().api_key("aff_key").build()?;
    /// let click = client.click("https://shop.example/?aff=abc").screen_resolution("1920x1080");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn screen_resolution(mut self, screen_resolution: impl Into<String>) -> Self {
        self.payload.screen_resolution = non_empty(screen_resolution);
        self
    }

    /// The browser viewport size, such as `1440x900`.
    ///
    /// ```
    /// # let client = affitor_tower::Client::builder().api_key("aff_key").build()?;
    /// let click = client.click("https://shop.example/?aff=abc").viewport_size("1440x900");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn viewport_size(mut self, viewport_size: impl Into<String>) -> Self {
        self.payload.viewport_size = non_empty(viewport_size);
        self
    }

    /// The browser language, such as `en-US`.
    ///
    /// ```
    /// # let client = affitor_tower::Client::builder().api_key("aff_key").build()?;
    /// let click = client.click("https://shop.example/?aff=abc").language("en-US");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn language(mut self, language: impl Into<String>) -> Self {
        self.payload.language = non_empty(language);
        self
    }

    /// The browser time zone, such as `America/New_York`.
    ///
    /// ```
    /// # let client = affitor_tower::Client::builder().api_key("aff_key").build()?;
    /// let click = client.click("https://shop.example/?aff=abc").timezone("America/New_York");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn timezone(mut self, timezone: impl Into<String>) -> Self {
        self.payload.timezone = non_empty(timezone);
        self
    }

    /// The click id the visitor already has: the API reuses that customer (the new partner
    /// still wins). `None` leaves it unset.
    ///
    /// ```
    /// # let client = affitor_tower::Client::builder().api_key("aff_key").build()?;
    /// let earlier: affitor_tower::ClickId = "cust_42_1714000000000".parse()?;
    /// let click = client.click("https://shop.example/?aff=new").existing_click_id(earlier);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn existing_click_id(mut self, click_id: impl Into<Option<ClickId>>) -> Self {
        self.payload.existing_click_id = click_id.into();
        self
    }

    /// Sends the click, with retries, and says what the API did with it.
    ///
    /// # Errors
    ///
    /// [`ErrorKind::MissingAffiliateUrl`] before any I/O when the affiliate URL is empty
    /// (outside test mode); otherwise the API's refusal or the transport failure.
    ///
    /// ```
    /// # async fn run(client: affitor_tower::Client) -> Result<(), affitor_tower::Error> {
    /// use affitor_tower::ClickOutcome;
    ///
    /// let outcome = client.click("https://shop.example/?aff=abc123").send().await?;
    /// if let ClickOutcome::Inactive { message, .. } = outcome {
    ///     println!("link inactive: {message}");
    /// }
    /// # Ok(())
    /// # }
    /// ```
    pub async fn send(self) -> Result<ClickOutcome, Error> {
        let (client, payload) = self.into_payload()?;
        client.call(&payload).await
    }

    /// Validates the click and returns the client and the payload to send.
    pub(crate) fn into_payload(self) -> Result<(Client, ClickPayload), Error> {
        let Self {
            client,
            mut payload,
        } = self;
        if payload.affiliate_url.is_none() && !client.inner.test_mode {
            return Err(Error::new(ErrorKind::MissingAffiliateUrl).with_endpoint(Endpoint::Click));
        }
        let mut additional_data = Map::new();
        // The one call without the key: in test mode, the program id links the test event.
        if let (true, Some(program_id)) = (client.inner.test_mode, &client.inner.program_id) {
            additional_data.insert("program_id".to_owned(), Value::from(program_id.as_str()));
        }
        payload.additional_data = with_test_mode(&client, Some(additional_data));
        Ok((client, payload))
    }
}

/// A read of the program's readiness. Made by [`Client::readiness`].
///
/// ```
/// # async fn check(client: affitor_tower::Client) -> Result<(), affitor_tower::Error> {
/// let readiness = client.readiness().send().await?;
/// println!("{:?}, verified: {}", readiness.state, readiness.integration_verified);
/// # Ok(())
/// # }
/// ```
#[must_use = "a readiness read does nothing until you call `send`"]
#[derive(Debug)]
pub struct ReadinessRequest {
    client: Client,
    force_recheck: bool,
}

impl ReadinessRequest {
    pub(crate) fn new(client: Client) -> Self {
        Self {
            client,
            force_recheck: false,
        }
    }

    /// Bypasses the API's tracking-gate cache (`?force_recheck=true`). The API allows one
    /// forced read per program per minute.
    ///
    /// ```
    /// # let client = affitor_tower::Client::builder().api_key("aff_key").build()?;
    /// let read = client.readiness().force_recheck(true);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn force_recheck(mut self, force_recheck: bool) -> Self {
        self.force_recheck = force_recheck;
        self
    }

    /// Reads the readiness, with retries.
    ///
    /// # Errors
    ///
    /// The API's refusal (401 for a bad key) or the transport failure.
    ///
    /// ```
    /// # async fn run(client: affitor_tower::Client) -> Result<(), affitor_tower::Error> {
    /// let readiness = client.readiness().send().await?;
    /// println!("verified: {}", readiness.integration_verified);
    /// # Ok(())
    /// # }
    /// ```
    pub async fn send(self) -> Result<Readiness, Error> {
        self.client.fetch_readiness(self.force_recheck).await
    }
}

/// A verification of the integration, as `affitor onboard` does it: run the synthetic click →
/// lead → sale chain, then poll readiness until the integration is verified. Made by
/// [`Client::verify`].
///
/// ```
/// # async fn verify(client: affitor_tower::Client) -> Result<(), affitor_tower::Error> {
/// use std::time::Duration;
///
/// let verification = client
///     .verify()
///     .polls(3)
///     .poll_interval(Duration::from_secs(3))
///     .send()
///     .await?;
/// println!("verified: {}", verification.is_verified());
/// # Ok(())
/// # }
/// ```
#[must_use = "a verification does nothing until you call `send`"]
#[derive(Debug)]
pub struct VerifyRequest {
    client: Client,
    polls: u32,
    poll_interval: Duration,
}

impl VerifyRequest {
    pub(crate) fn new(client: Client) -> Self {
        Self {
            client,
            polls: 6,
            poll_interval: DEFAULT_MAX_POLL_INTERVAL,
        }
    }

    /// How many times readiness is read at most (at least 1). Default 6.
    ///
    /// ```
    /// # let client = affitor_tower::Client::builder().api_key("aff_key").build()?;
    /// let verify = client.verify().polls(3);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn polls(mut self, polls: u32) -> Self {
        self.polls = polls.max(1);
        self
    }

    /// The longest wait between two readiness reads. Default 5 s.
    ///
    /// The wait is the one the API asks for in each answer (`poll.retry_after_seconds`, 5 s
    /// when it gives none), but never longer than this: a verification takes at most about
    /// `polls` × `poll_interval` plus the calls themselves, whatever the API says. The API's
    /// wait is honoured in full while it is shorter.
    ///
    /// ```
    /// # let client = affitor_tower::Client::builder().api_key("aff_key").build()?;
    /// let verify = client.verify().poll_interval(std::time::Duration::from_secs(1));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn poll_interval(mut self, poll_interval: Duration) -> Self {
        self.poll_interval = poll_interval;
        self
    }

    /// Runs the chain once, then reads readiness until `integration_verified` or until the
    /// polls run out (once only, when the chain was not attributed).
    ///
    /// # Errors
    ///
    /// [`ErrorKind::RateLimited`] with [`Error::retry_after`] when the program ran too many
    /// chains (10 per hour; never retried), the API's refusal, or the transport failure.
    ///
    /// ```
    /// # async fn run(client: affitor_tower::Client) -> Result<(), affitor_tower::Error> {
    /// let verification = client.verify().send().await?;
    /// println!("verified: {}", verification.is_verified());
    /// # Ok(())
    /// # }
    /// ```
    pub async fn send(self) -> Result<Verification, Error> {
        let chain = self.client.run_chain().await?;
        let polls = if chain.attributed { self.polls } else { 1 };
        let mut readiness = self.client.fetch_readiness(false).await?;
        for _ in 1..polls {
            if readiness.integration_verified {
                break;
            }
            tokio::time::sleep(poll_wait(&readiness, self.poll_interval)).await;
            readiness = self.client.fetch_readiness(false).await?;
        }
        Ok(Verification { chain, readiness })
    }
}

/// The default bound of the wait between two readiness reads: the API's own default
/// `poll.retry_after_seconds`, so that by default its wait is honoured.
const DEFAULT_MAX_POLL_INTERVAL: Duration = Duration::from_secs(5);

/// The wait before the next readiness read: the API's `poll.retry_after_seconds`, at most
/// `max`.
fn poll_wait(readiness: &Readiness, max: Duration) -> Duration {
    readiness.poll_interval.min(max)
}

/// The client a tracking request belongs to: the background delivery counts a request that
/// fails validation on that client's counters.
macro_rules! request_client {
    ($($request:ty),*) => {$(
        impl $request {
            pub(crate) fn client(&self) -> &Client {
                &self.client
            }
        }
    )*};
}
request_client!(LeadRequest, SaleRequest, RefundRequest, ClickRequest);

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn client() -> Client {
        Client::builder().api_key("aff_test_key").build().unwrap()
    }

    fn test_client() -> Client {
        Client::builder()
            .api_key("aff_test_key")
            .test_mode(true)
            .build()
            .unwrap()
    }

    fn click_id(value: &str) -> ClickId {
        value.parse().unwrap()
    }

    fn body<T: Serialize>(payload: &T) -> Value {
        serde_json::to_value(payload).unwrap()
    }

    #[test]
    fn minimal_bodies_omit_unset_fields() {
        let (_, lead) = client().lead("user_1").into_payload().unwrap();
        assert_eq!(body(&lead), json!({"customer_key": "user_1"}));
        let (_, sale) = client()
            .sale("in_1", 999)
            .click_id(click_id("c1"))
            .into_payload()
            .unwrap();
        assert_eq!(
            body(&sale),
            json!({"transaction_id": "in_1", "amount_cents": 999, "click_id": "c1"})
        );
        let (_, refund) = client().refund("in_1").into_payload().unwrap();
        assert_eq!(body(&refund), json!({"transaction_id": "in_1"}));
        let (_, click) = client()
            .click("https://shop.example/?aff=abc")
            .into_payload()
            .unwrap();
        assert_eq!(
            body(&click),
            json!({"affiliate_url": "https://shop.example/?aff=abc"})
        );
    }

    #[test]
    fn full_bodies() {
        let (_, lead) = client()
            .lead("user_1")
            .click_id(click_id("c1"))
            .email("a@example.com")
            .session_id("sess_1")
            .page_url("https://shop.example/signup")
            .click_ids([click_id("c0"), click_id("c1")])
            .event_name("signup")
            .into_payload()
            .unwrap();
        assert_eq!(
            body(&lead),
            json!({
                "customer_key": "user_1", "click_id": "c1", "email": "a@example.com",
                "session_id": "sess_1", "page_url": "https://shop.example/signup",
                "click_ids": ["c0", "c1"], "additional_data": {"event_name": "signup"}
            })
        );
        let mut extra = Map::new();
        extra.insert("plan".into(), json!("pro"));
        let (_, sale) = client()
            .sale("in_1", 2490)
            .customer_key("user_1")
            .click_id(click_id("c1"))
            .currency(Currency::Other("gbp".into()))
            .sale_type(SaleType::Subscription)
            .is_recurring(true)
            .subscription_id("sub_1")
            .subscription_interval(SubscriptionInterval::Quarterly)
            .product_id("prod_1")
            .line_items(json!([{"sku": "a", "qty": 1}]))
            .additional_data(extra)
            .into_payload()
            .unwrap();
        assert_eq!(
            body(&sale),
            json!({
                "transaction_id": "in_1", "amount_cents": 2490, "customer_key": "user_1",
                "click_id": "c1", "currency": "GBP", "sale_type": "subscription",
                "is_recurring": true, "subscription_id": "sub_1",
                "subscription_interval": "quarterly", "product_id": "prod_1",
                "line_items": [{"sku": "a", "qty": 1}], "additional_data": {"plan": "pro"}
            })
        );
        let (_, refund) = client()
            .refund("in_1")
            .amount_cents(500)
            .reason("customer_request")
            .into_payload()
            .unwrap();
        assert_eq!(
            body(&refund),
            json!({"transaction_id": "in_1", "refund_amount_cents": 500, "refund_reason": "customer_request"})
        );
        let (_, click) = client()
            .click("https://shop.example/?aff=abc")
            .page_url("https://shop.example/?aff=abc")
            .page_title("Home")
            .referrer_url("https://ref.example/")
            .session_id("sess_1")
            .user_agent("UA/1")
            .screen_resolution("1920x1080")
            .viewport_size("1440x900")
            .language("en-US")
            .timezone("Europe/Paris")
            .existing_click_id(click_id("c0"))
            .into_payload()
            .unwrap();
        assert_eq!(
            body(&click),
            json!({
                "affiliate_url": "https://shop.example/?aff=abc",
                "page_url": "https://shop.example/?aff=abc", "page_title": "Home",
                "referrer_url": "https://ref.example/", "session_id": "sess_1",
                "user_agent": "UA/1", "screen_resolution": "1920x1080",
                "viewport_size": "1440x900", "language": "en-US", "timezone": "Europe/Paris",
                "existing_click_id": "c0"
            })
        );
    }

    #[test]
    fn empty_values_and_none_are_omitted() {
        let (_, lead) = client()
            .lead("user_1")
            .click_id(None)
            .email("")
            .session_id("  ")
            .event_name("")
            .into_payload()
            .unwrap();
        assert_eq!(body(&lead), json!({"customer_key": "user_1"}));
        let (_, sale) = client()
            .sale("in_1", 1)
            .customer_key("u")
            .line_items(Value::Null)
            .product_id("")
            .into_payload()
            .unwrap();
        assert_eq!(
            body(&sale),
            json!({"transaction_id": "in_1", "amount_cents": 1, "customer_key": "u"})
        );
        let (_, refund) = client()
            .refund("in_1")
            .amount_cents(0)
            .into_payload()
            .unwrap();
        assert_eq!(body(&refund), json!({"transaction_id": "in_1"}));
    }

    #[test]
    fn currency_is_sent_upper_case() {
        for (currency, code) in [
            (Currency::Usd, "USD"),
            (Currency::Eur, "EUR"),
            (Currency::Vnd, "VND"),
            (Currency::from_code("jpy").unwrap(), "JPY"),
            (Currency::Other("chf".into()), "CHF"),
        ] {
            let (_, sale) = client()
                .sale("in_1", 1)
                .customer_key("u")
                .currency(currency)
                .into_payload()
                .unwrap();
            assert_eq!(body(&sale)["currency"], json!(code));
        }
        assert_eq!(Currency::from_code(" usd ").unwrap(), Currency::Usd);
        assert_eq!(Currency::Other("chf".into()).to_string(), "CHF");
    }

    #[test]
    fn test_mode_adds_test_mode_to_click_lead_and_sale() {
        let (_, lead) = test_client()
            .lead("user_1")
            .event_name("signup")
            .into_payload()
            .unwrap();
        assert_eq!(
            body(&lead)["additional_data"],
            json!({"event_name": "signup", "test_mode": true})
        );
        let mut extra = Map::new();
        extra.insert("plan".into(), json!("pro"));
        let (_, sale) = test_client()
            .sale("in_1", 1)
            .customer_key("u")
            .additional_data(extra)
            .into_payload()
            .unwrap();
        assert_eq!(
            body(&sale)["additional_data"],
            json!({"plan": "pro", "test_mode": true})
        );
        let (_, click) = test_client().click("").into_payload().unwrap();
        assert_eq!(
            body(&click),
            json!({"additional_data": {"test_mode": true}})
        );
        // Refunds have no additional_data in the API.
        let (_, refund) = test_client().refund("in_1").into_payload().unwrap();
        assert_eq!(body(&refund), json!({"transaction_id": "in_1"}));
    }

    #[test]
    fn validation_errors() {
        let kind = |result: Result<(Client, SalePayload), Error>| result.unwrap_err().kind();
        assert_eq!(
            kind(client().sale("", 1).customer_key("u").into_payload()),
            ErrorKind::MissingTransactionId
        );
        assert_eq!(
            kind(client().sale("  ", 1).customer_key("u").into_payload()),
            ErrorKind::MissingTransactionId
        );
        assert_eq!(
            kind(client().sale("in_1", 0).customer_key("u").into_payload()),
            ErrorKind::InvalidAmount
        );
        assert_eq!(
            kind(
                client()
                    .sale("in_1", MAX_AMOUNT_CENTS + 1)
                    .customer_key("u")
                    .into_payload()
            ),
            ErrorKind::InvalidAmount
        );
        assert!(
            client()
                .sale("in_1", MAX_AMOUNT_CENTS)
                .customer_key("u")
                .into_payload()
                .is_ok()
        );
        assert_eq!(
            kind(client().sale("in_1", 1).into_payload()),
            ErrorKind::MissingCustomer
        );
        assert_eq!(
            kind(client().sale("in_1", 1).customer_key(" ").into_payload()),
            ErrorKind::MissingCustomer
        );
        for bad in ["", "US", "USDX", "U$D", "ÜSD"] {
            assert_eq!(
                kind(
                    client()
                        .sale("in_1", 1)
                        .customer_key("u")
                        .currency(Currency::Other(bad.into()))
                        .into_payload()
                ),
                ErrorKind::InvalidCurrency,
                "{bad}"
            );
            assert_eq!(
                Currency::from_code(bad).unwrap_err().kind(),
                ErrorKind::InvalidCurrency
            );
        }
        assert_eq!(
            client().lead("").into_payload().unwrap_err().kind(),
            ErrorKind::MissingCustomer
        );
        assert!(
            client()
                .lead("")
                .click_id(click_id("c1"))
                .into_payload()
                .is_ok()
        );
        assert_eq!(
            client().refund("").into_payload().unwrap_err().kind(),
            ErrorKind::MissingTransactionId
        );
        assert_eq!(
            client()
                .refund("in_1")
                .amount_cents(u64::MAX)
                .into_payload()
                .unwrap_err()
                .kind(),
            ErrorKind::InvalidAmount
        );
        assert_eq!(
            client().click(" ").into_payload().unwrap_err().kind(),
            ErrorKind::MissingAffiliateUrl
        );
    }

    #[test]
    fn validation_messages_say_what_to_do() {
        let error = client()
            .sale("in_1", 0)
            .customer_key("u")
            .into_payload()
            .unwrap_err();
        assert_eq!(
            error.to_string(),
            "invalid amount for a sale: it is 0; it must be a positive whole number of cents \
             (skip zero-amount payments)"
        );
        let error = client().lead("").into_payload().unwrap_err();
        assert!(
            error
                .to_string()
                .starts_with("a lead needs a customer key or a click id")
        );
        let error = Currency::from_code("dollars!!!!").unwrap_err();
        assert!(
            error.to_string().starts_with("currency `dollars!…` is not"),
            "{error}"
        );
    }

    #[test]
    fn payload_debug_hides_personal_data() {
        let (_, lead) = client()
            .lead("user_secret_id")
            .email("ada@example.com")
            .into_payload()
            .unwrap();
        let debug = format!("{lead:?}");
        assert!(!debug.contains("ada@example.com"), "{debug}");
        assert!(!debug.contains("user_secret_id"), "{debug}");
        let builder = format!("{:?}", client().lead("u").email("ada@example.com"));
        assert!(!builder.contains("ada@"), "{builder}");
        assert!(!builder.contains("aff_test_key"), "{builder}");
        assert!(matches!(Payload::from(lead), Payload::Lead(_)));
    }

    #[test]
    fn the_api_sets_the_poll_wait_within_the_bound() {
        let with_hint = |seconds: u64| {
            Readiness::from_json(
                &json!({"state": "ready", "poll": {"retry_after_seconds": seconds}}),
            )
        };
        let max = Duration::from_secs(5);
        // The API's wait, in full while it is shorter than the bound.
        assert_eq!(poll_wait(&with_hint(1), max), Duration::from_secs(1));
        assert_eq!(poll_wait(&with_hint(5), max), Duration::from_secs(5));
        // Never longer than the bound.
        assert_eq!(poll_wait(&with_hint(600), max), max);
        assert_eq!(poll_wait(&with_hint(5), Duration::ZERO), Duration::ZERO);
        // No hint: the API's documented default of 5 s, within the bound.
        let no_hint = Readiness::from_json(&json!({"state": "ready"}));
        assert_eq!(
            poll_wait(&no_hint, Duration::from_secs(60)),
            Duration::from_secs(5)
        );
        assert_eq!(
            poll_wait(&no_hint, Duration::from_secs(2)),
            Duration::from_secs(2)
        );
        assert_eq!(
            VerifyRequest::new(client()).poll_interval,
            DEFAULT_MAX_POLL_INTERVAL
        );
    }
}
