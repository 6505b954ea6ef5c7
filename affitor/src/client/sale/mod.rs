//! A sale: a payment to attribute to the partner (`POST /api/v1/track/sale`), and the values
//! only a sale carries: its [`Currency`], [`SaleType`] and [`SubscriptionInterval`].

mod values;

use std::fmt;

use bytes::Bytes;
use http::StatusCode;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

pub use self::values::{Currency, SaleType, SubscriptionInterval};
use super::answer::{Answer, TestData};
use super::endpoint::Endpoint;
use super::error::{Error, clean_message};
use super::lenient;
use super::request::{
    Redacted, check_amount, check_key, check_transaction_id, missing_customer, non_empty,
    with_test_mode,
};
use super::transport::{Call, json_body};
use super::{Client, Outcome};
use crate::ClickId;

/// A sale: a payment to attribute to the partner. Made by [`Client::sale`].
///
/// The transaction id is the idempotency key: a repeat answers 409, which the client reports
/// as [`SaleOutcome::AlreadyRecorded`], so the sale can be retried safely.
///
/// ```
/// # async fn paid(client: affitor::Client) -> Result<(), affitor::Error> {
/// use affitor::client::{Currency, SaleType, SubscriptionInterval};
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
    pub(super) client: Client,
    payload: SalePayload,
    /// A test event, whatever the client's test mode.
    test_mode: bool,
}

impl SaleRequest {
    pub(super) fn new(client: Client, transaction_id: String, amount_cents: u64) -> Self {
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
            test_mode: false,
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
    /// # async fn run(client: affitor::Client) -> Result<(), Box<dyn std::error::Error>> {
    /// client.sale("in_1001", 4900).customer_key("user_123").send().await?;
    /// # Ok(())
    /// # }
    /// ```
    pub fn customer_key(mut self, customer_key: impl Into<String>) -> Self {
        self.payload.customer_key = non_empty(customer_key);
        self
    }

    /// The click id, when the customer key is not known to Affitor. `None` leaves it unset.
    ///
    /// ```
    /// # async fn run(client: affitor::Client) -> Result<(), Box<dyn std::error::Error>> {
    /// let click_id: affitor::ClickId = "cust_42_1714000000000".parse()?;
    /// client.sale("in_1001", 4900).click_id(click_id).send().await?;
    /// # Ok(())
    /// # }
    /// ```
    pub fn click_id(mut self, click_id: impl Into<Option<ClickId>>) -> Self {
        self.payload.click_id = click_id.into();
        self
    }

    /// The currency of the amount (the API assumes USD without one).
    ///
    /// ```
    /// # async fn run(client: affitor::Client) -> Result<(), Box<dyn std::error::Error>> {
    /// use affitor::client::Currency;
    ///
    /// let in_euros = client.sale("in_1001", 4900).customer_key("user_123").currency(Currency::Eur);
    /// in_euros.send().await?;
    /// let code = "eur"; // from the payment processor
    /// let in_its_currency = client.sale("in_1002", 4900).customer_key("user_123");
    /// in_its_currency.currency(Currency::from_code(code)?).send().await?;
    /// # Ok(())
    /// # }
    /// ```
    pub fn currency(mut self, currency: Currency) -> Self {
        self.payload.currency = Some(currency);
        self
    }

    /// A one-time payment or a subscription payment.
    ///
    /// ```
    /// # async fn run(client: affitor::Client) -> Result<(), Box<dyn std::error::Error>> {
    /// client.sale("in_1001", 4900).customer_key("user_123").sale_type(affitor::client::SaleType::Subscription).send().await?;
    /// # Ok(())
    /// # }
    /// ```
    pub fn sale_type(mut self, sale_type: SaleType) -> Self {
        self.payload.sale_type = Some(sale_type);
        self
    }

    /// Whether the payment is a subscription renewal.
    ///
    /// ```
    /// # async fn run(client: affitor::Client) -> Result<(), Box<dyn std::error::Error>> {
    /// client.sale("in_1001", 2490).customer_key("user_123").is_recurring(true).send().await?;
    /// # Ok(())
    /// # }
    /// ```
    pub fn is_recurring(mut self, is_recurring: bool) -> Self {
        self.payload.is_recurring = Some(is_recurring);
        self
    }

    /// The payment provider's subscription id.
    ///
    /// ```
    /// # async fn run(client: affitor::Client) -> Result<(), Box<dyn std::error::Error>> {
    /// client.sale("in_1001", 2490).customer_key("user_123").subscription_id("sub_xyz").send().await?;
    /// # Ok(())
    /// # }
    /// ```
    pub fn subscription_id(mut self, subscription_id: impl Into<String>) -> Self {
        self.payload.subscription_id = non_empty(subscription_id);
        self
    }

    /// How often the subscription renews.
    ///
    /// ```
    /// # async fn run(client: affitor::Client) -> Result<(), Box<dyn std::error::Error>> {
    /// use affitor::client::SubscriptionInterval;
    ///
    /// let renewal = client.sale("in_1001", 2490).customer_key("user_123").is_recurring(true);
    /// renewal.subscription_interval(SubscriptionInterval::Monthly).send().await?;
    /// # Ok(())
    /// # }
    /// ```
    pub fn subscription_interval(mut self, interval: SubscriptionInterval) -> Self {
        self.payload.subscription_interval = Some(interval);
        self
    }

    /// Your product id, for per-product commission rules.
    ///
    /// ```
    /// # async fn run(client: affitor::Client) -> Result<(), Box<dyn std::error::Error>> {
    /// client.sale("in_1001", 4900).customer_key("user_123").product_id("prod_pro").send().await?;
    /// # Ok(())
    /// # }
    /// ```
    pub fn product_id(mut self, product_id: impl Into<String>) -> Self {
        self.payload.product_id = non_empty(product_id);
        self
    }

    /// Structured line items, as any JSON (`null` leaves them unset).
    ///
    /// ```
    /// # async fn run(client: affitor::Client) -> Result<(), Box<dyn std::error::Error>> {
    /// let items = serde_json::json!([{"sku": "pro", "quantity": 1}]);
    /// client.sale("in_1001", 4900).customer_key("user_123").line_items(items).send().await?;
    /// # Ok(())
    /// # }
    /// ```
    pub fn line_items(mut self, line_items: Value) -> Self {
        self.payload.line_items = (!line_items.is_null()).then_some(line_items);
        self
    }

    /// Extra data stored with the sale (`additional_data`). A `test_mode` of its own is left out
    /// of a live call: [`test_mode`](Self::test_mode) and the client's decide.
    ///
    /// ```
    /// # async fn run(client: affitor::Client) -> Result<(), Box<dyn std::error::Error>> {
    /// let mut data = serde_json::Map::new();
    /// data.insert("plan".into(), "pro".into());
    /// client.sale("in_1001", 4900).customer_key("user_123").additional_data(data).send().await?;
    /// # Ok(())
    /// # }
    /// ```
    pub fn additional_data(mut self, additional_data: Map<String, Value>) -> Self {
        self.payload.additional_data = Some(additional_data);
        self
    }

    /// Sends this sale as a test event (`additional_data.test_mode`), as the client's
    /// [`test_mode`](crate::client::ClientBuilder::test_mode) does for every call: Affitor records it
    /// apart and pays no commission on it. For a payment made in the provider's test mode.
    ///
    /// ```
    /// # async fn run(client: affitor::Client) -> Result<(), Box<dyn std::error::Error>> {
    /// client.sale("pi_test_1", 4900).customer_key("user_123").test_mode(true).send().await?;
    /// # Ok(())
    /// # }
    /// ```
    pub fn test_mode(mut self, test_mode: bool) -> Self {
        self.test_mode = test_mode;
        self
    }

    /// Sends the sale, with retries, and says what the API did with it.
    ///
    /// # Errors
    ///
    /// Before any I/O: [`ErrorKind::MissingTransactionId`](crate::client::ErrorKind::MissingTransactionId), [`ErrorKind::InvalidAmount`](crate::client::ErrorKind::InvalidAmount),
    /// [`ErrorKind::MissingCustomer`](crate::client::ErrorKind::MissingCustomer), [`ErrorKind::InvalidKey`](crate::client::ErrorKind::InvalidKey), [`ErrorKind::InvalidCurrency`](crate::client::ErrorKind::InvalidCurrency), [`ErrorKind::UnsupportedCurrency`](crate::client::ErrorKind::UnsupportedCurrency). Then the API's refusal
    /// or the transport failure (see [`Error`]). A duplicate (409) is not an error.
    ///
    /// ```
    /// # async fn run(client: affitor::Client) -> Result<(), affitor::Error> {
    /// let outcome = client.sale("in_1001", 4900).customer_key("user_123").send().await?;
    /// if !outcome.is_recorded() {
    ///     println!("not recorded: {outcome:?}");
    /// }
    /// # Ok(())
    /// # }
    /// ```
    pub async fn send(self) -> Result<SaleOutcome, Error> {
        let (client, payload) = self.into_payload()?;
        let answer = client.transport().call(&payload).await;
        client.sent(payload, &answer, Outcome::Sale);
        answer
    }

    /// Validates the sale and returns the client and the payload to send.
    pub(super) fn into_payload(self) -> Result<(Client, SalePayload), Error> {
        let Self {
            client,
            mut payload,
            test_mode,
        } = self;
        check_transaction_id(Endpoint::Sale, &payload.transaction_id)?;
        check_amount(Endpoint::Sale, payload.amount_cents, false)?;
        if payload.customer_key.is_none() && payload.click_id.is_none() {
            return Err(missing_customer(Endpoint::Sale));
        }
        let customer_key = payload.customer_key.as_deref();
        check_key(Endpoint::Sale, "customer key", customer_key)?;
        if let Some(currency) = &mut payload.currency {
            *currency = currency.checked()?;
        }
        let test_mode = test_mode || client.test_mode();
        payload.additional_data = with_test_mode(test_mode, payload.additional_data.take());
        Ok((client, payload))
    }
}

/// The body of `POST /api/v1/track/sale`. Unset fields are omitted, never `null`.
#[derive(Clone, PartialEq, Serialize, Deserialize)]
pub(super) struct SalePayload {
    pub(super) transaction_id: String,
    pub(super) amount_cents: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) customer_key: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) click_id: Option<ClickId>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) currency: Option<Currency>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) sale_type: Option<SaleType>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) is_recurring: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) subscription_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) subscription_interval: Option<SubscriptionInterval>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) product_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) line_items: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) additional_data: Option<Map<String, Value>>,
}

impl fmt::Debug for SalePayload {
    // Every field is named here, so that a new one cannot be left out of `Debug` (or shown
    // unredacted) without a compile error.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let Self {
            transaction_id,
            amount_cents,
            customer_key,
            click_id,
            currency,
            sale_type,
            is_recurring,
            subscription_id,
            subscription_interval,
            product_id,
            line_items,
            additional_data,
        } = self;
        f.debug_struct("SalePayload")
            .field("transaction_id", transaction_id)
            .field("amount_cents", amount_cents)
            .field("customer_key", &customer_key.as_ref().map(|_| Redacted))
            .field("click_id", click_id)
            .field("currency", currency)
            .field("sale_type", sale_type)
            .field("is_recurring", is_recurring)
            .field("subscription_id", subscription_id)
            .field("subscription_interval", subscription_interval)
            .field("product_id", product_id)
            .field("line_items", &line_items.as_ref().map(|_| Redacted))
            .field("additional_data", additional_data)
            .finish()
    }
}

/// What the API did with a sale.
///
/// Every variant is a success for a webhook handler: the sale is where it belongs.
///
/// ```
/// use affitor::client::SaleOutcome;
///
/// fn describe(outcome: &SaleOutcome) -> &'static str {
///     match outcome {
///         SaleOutcome::Recorded { .. } => "commission created",
///         SaleOutcome::AlreadyRecorded => "duplicate delivery, nothing to do",
///         SaleOutcome::NotAttributed { .. } => "organic sale",
///         SaleOutcome::Test { .. } => "test event",
///         _ => "something new",
///     }
/// }
/// assert_eq!(describe(&SaleOutcome::AlreadyRecorded), "duplicate delivery, nothing to do");
/// assert!(SaleOutcome::AlreadyRecorded.is_recorded());
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum SaleOutcome {
    /// The sale and its commission were created by this call.
    ///
    /// The ids are `None` only when the answer to the attempt that recorded the sale was lost
    /// (a timeout, a broken connection, a 5xx) and the retry found the transaction id already
    /// recorded (409).
    #[non_exhaustive]
    Recorded {
        /// The id of the sale.
        sale_id: Option<u64>,
        /// The id of the partner's commission.
        commission_id: Option<u64>,
    },
    /// The transaction id was recorded before this call (409): a duplicate delivery.
    AlreadyRecorded,
    /// The customer's attribution window had expired: the sale is organic and nothing was
    /// created (the transaction id stays free).
    #[non_exhaustive]
    NotAttributed {
        /// Why, such as `"attribution_window_expired"`.
        reason: String,
        /// Days since the customer's first click, when given.
        click_age_days: Option<u32>,
        /// The program's attribution window in days, when given.
        window_days: Option<u32>,
    },
    /// A test-mode event was stored; nothing touched attribution or commissions.
    #[non_exhaustive]
    Test {
        /// The id of the test event, when given.
        event_id: Option<u64>,
    },
}

impl SaleOutcome {
    /// Whether the sale is recorded: by this call ([`SaleOutcome::Recorded`]) or by an earlier
    /// one ([`SaleOutcome::AlreadyRecorded`]).
    ///
    /// ```
    /// use affitor::client::SaleOutcome;
    /// assert!(SaleOutcome::AlreadyRecorded.is_recorded());
    /// ```
    pub fn is_recorded(&self) -> bool {
        matches!(self, Self::Recorded { .. } | Self::AlreadyRecorded)
    }
}

/// What the client reads of the API's answer to a sale.
#[derive(Debug, Deserialize)]
struct SaleAnswer {
    #[serde(default, deserialize_with = "lenient::flag")]
    success: Option<bool>,
    #[serde(default, deserialize_with = "lenient::flag")]
    attributed: Option<bool>,
    #[serde(default, deserialize_with = "lenient::text")]
    reason: Option<String>,
    #[serde(default, deserialize_with = "lenient::small")]
    click_age_days: Option<u32>,
    #[serde(default, deserialize_with = "lenient::small")]
    window_days: Option<u32>,
    #[serde(default, deserialize_with = "lenient::id")]
    sale_id: Option<u64>,
    #[serde(default, deserialize_with = "lenient::id")]
    commission_id: Option<u64>,
    #[serde(default, deserialize_with = "lenient::object")]
    data: Option<TestData>,
}

/// Reads the answer to a sale.
pub(super) fn decode(answer: &Answer, key: &str) -> Result<SaleOutcome, Error> {
    // The one final answer read from its status alone: its body is an error message.
    if answer.status == StatusCode::CONFLICT {
        return Ok(if answer.after_uncertain_attempt {
            SaleOutcome::Recorded {
                sale_id: None,
                commission_id: None,
            }
        } else {
            SaleOutcome::AlreadyRecorded
        });
    }
    let wire: SaleAnswer = answer.read(Endpoint::Sale)?;
    if let Some(event_id) = TestData::event(wire.data.as_ref()) {
        return Ok(SaleOutcome::Test { event_id });
    }
    if wire.attributed == Some(false) {
        return Ok(SaleOutcome::NotAttributed {
            reason: wire.reason.map_or_else(
                || "not_attributed".to_owned(),
                |reason| clean_message(&reason, key),
            ),
            click_age_days: wire.click_age_days,
            window_days: wire.window_days,
        });
    }
    if wire.success == Some(false) {
        return Err(answer.refusal(Endpoint::Sale, key));
    }
    Ok(SaleOutcome::Recorded {
        sale_id: wire.sale_id,
        commission_id: wire.commission_id,
    })
}

impl Call for SalePayload {
    const ENDPOINT: Endpoint = Endpoint::Sale;
    type Outcome = SaleOutcome;

    fn body(&self) -> Result<Option<Bytes>, serde_json::Error> {
        json_body(self)
    }

    fn decode(&self, answer: &Answer, key: &str) -> Result<SaleOutcome, Error> {
        decode(answer, key)
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

#[cfg(test)]
mod tests;
