//! Payment webhooks: Stripe and Polar events, verified and tracked as sales and refunds.
//!
//! **If your program is connected to Affitor's Stripe integration** (Affitor reads your Stripe
//! events itself), do not also send sales from a Stripe webhook: each sale would count twice.
//! This module is for programs that report their own sales.
//!
//! [`Stripe`] and [`Polar`] verify a delivery over its raw body, before anything is parsed, and
//! read from the event only what the sale or refund needs. [`Event::track`] sends it, and the
//! [`Tracked`] answer says what happened and which status to give the provider, so that it
//! redelivers only what a later attempt can still record:
//!
//! ```
//! use affitor_tower::Client;
//! use affitor_tower::webhook::Stripe;
//!
//! # async fn handler(client: Client, headers: http::HeaderMap, body: bytes::Bytes) -> http::StatusCode {
//! # let stripe = Stripe::new("whsec_test").unwrap();
//! // let stripe = Stripe::from_env()?; // STRIPE_WEBHOOK_SECRET, once at start-up
//! // In your handler, with the request's headers and its raw body:
//! let tracked = stripe.track(&client, &headers, &body).await;
//! tracked.status() // 200, 400 or 503: the answer to give Stripe
//! # }
//! ```
//!
//! `affitor-axum` and `affitor-actix` wrap this in an extractor per provider, so a handler is
//! one line; `affitor_tower::mock::SignedWebhook` signs events for your tests.
//!
//! # The answer
//!
//! | What happened | [`Tracked`] | Status |
//! |---|---|---|
//! | The sale or refund is recorded, or was before (a redelivery), or the sale is not attributed | `Sale`, `Refund` | 200 |
//! | An event that is not a sale or a refund for Affitor: another type, an unpaid session, amount 0, no customer key or click id | `Ignored` | 200 |
//! | A refund of a sale Affitor never recorded (an organic sale: a redelivery would not change it) | `Failed`, `SaleNotFound` | 200 |
//! | Affitor refused the call for good (a bad request) | `Failed` | 200 |
//! | Affitor could not be reached, failed, or refused the key: a later attempt can succeed | `Failed`, retryable | 503 |
//! | A missing, malformed, wrong or expired signature; a tampered body; a body that is not JSON or not an event | `Rejected` | 400 |
//! | A body over the limit (1 MiB unless set) | `Rejected` | 413 |
//!
//! Nothing is sent to Affitor for an `Ignored` or `Rejected` event. A provider redelivers on
//! any status but 2xx (Stripe for up to three days), so 503 keeps a sale with the provider
//! while Affitor is down, and 200 stops the redeliveries that cannot help.
//!
//! # Stripe
//!
//! | Event | Tracked as | `transaction_id` |
//! |---|---|---|
//! | `checkout.session.completed` with `payment_status: paid`, `checkout.session.async_payment_succeeded` (mode `payment`) | sale | the payment intent (`pi_...`) |
//! | the same, mode `subscription` | sale, `sale_type` subscription | the first invoice (`in_...`) |
//! | `invoice.paid` with `billing_reason: subscription_cycle` | recurring sale | the invoice (`in_...`) |
//! | `invoice.paid` with `billing_reason: subscription_create` | sale, `sale_type` subscription | the invoice (`in_...`) |
//! | `charge.refunded` | refund of the amount `amount_refunded` grew by (from `previous_attributes`), partial when under `amount` | the charge's invoice when it names one, else its payment intent; when it names both and Affitor knows no sale under the invoice, the payment intent |
//!
//! A refund must carry its sale's `transaction_id`, or Affitor answers 404. A one-off sale is
//! keyed by its payment intent, which every charge of it names. A subscription payment is keyed
//! by its invoice: a charge names its invoice up to API version 2024-12-18, so its refund finds
//! the sale; from 2025-03-31 ("Basil") on, a charge no longer names its invoice, and the refund
//! of a subscription payment is answered 404 (acknowledged with 200, and logged). The first
//! invoice of a subscription (`invoice.paid` with `subscription_create`) is a sale keyed by that
//! invoice, as its checkout session's sale is: a subscription created through Checkout sends
//! it twice, and Affitor records it once (409), while one created through the API, Billing or
//! a Payment Link is tracked at all. Other invoices (`manual`, `subscription_update`) are
//! ignored.
//!
//! The customer key is `metadata.affitor_customer_key`, else `client_reference_id`, else
//! `metadata.user_id`; the click id is `metadata.affitor_click_id`. A renewal reads both from
//! the subscription's metadata: `parent.subscription_details.metadata` (Basil) or
//! `subscription_details.metadata` (before). So put them in `metadata` and in
//! `subscription_data.metadata` when you create the Checkout Session.
//!
//! # Polar
//!
//! `order.paid` is a sale keyed by the order id (`total_amount`; a `subscription_cycle` order is
//! a recurring sale, any subscription order has `sale_type` subscription), `order.refunded` a
//! refund of that order (partial when `refunded_amount + refunded_tax_amount < total_amount`,
//! tax on both sides as the sale had it; Polar's `refunded_amount`
//! is the order's total refunded so far and its event names no earlier value, so a second partial
//! refund of one order is sent as that total: Affitor reverses a sale's commission once, and
//! answers a repeat refund `skipped`). The customer key is
//! `metadata.affitor_customer_key`, else `metadata.user_id`, else `customer.external_id`; the
//! click id `metadata.affitor_click_id`, else `metadata.reference_id` (a checkout link's
//! `?reference_id=`).
//!
//! # Signatures
//!
//! - Stripe: the `Stripe-Signature` header, `t=<unix time>,v1=<hex>[,v1=<hex>...]`; each `v1` is
//!   the HMAC-SHA256 of `{t}.{body}` keyed by the secret's bytes (`whsec_...` whole). Other
//!   schemes (`v0`) are ignored. A timestamp older than the tolerance is refused; one in the
//!   future is accepted, as Stripe's own libraries do (a clock that is behind must not turn
//!   payments away, and a future timestamp cannot be forged without the secret).
//! - Polar, and any sender of [Standard Webhooks](https://www.standardwebhooks.com/):
//!   `webhook-id`, `webhook-timestamp` and `webhook-signature`, a space-separated list of
//!   `v1,<base64>`, each the HMAC-SHA256 of `{id}.{timestamp}.{body}`. A secret is keyed by
//!   its UTF-8 bytes, as Polar's SDK does whatever the prefix, and a secret `whsec_<base64>`
//!   also by its decoded bytes, as the Standard Webhooks convention has it. The timestamp must be within the tolerance both ways.
//!
//! Both take several secrets, so that a rotated secret and its successor are accepted together,
//! and compare signatures in constant time. The tolerance is 5 minutes unless set.

mod builder;
mod error;
mod payload;
pub(crate) mod polar;
pub(crate) mod signature;
mod stripe;

use std::fmt;
use std::time::Duration;

use http::StatusCode;

use crate::{
    ClickId, Client, Currency, ErrorKind, RefundOutcome, RefundRequest, SaleOutcome, SaleRequest,
    SaleType,
};

pub use builder::Builder;
pub use error::{WebhookError, WebhookErrorKind};
pub use polar::Polar;
pub use stripe::Stripe;

/// A verified webhook event, and what it asks of Affitor.
///
/// Made by [`Stripe::verify`] and [`Polar::verify`]; [`track`](Self::track) sends it.
///
/// ```
/// # #[cfg(feature = "mock")] {
/// use affitor_tower::webhook::{Action, Stripe};
/// # use affitor_tower::mock::SignedWebhook;
///
/// let stripe = Stripe::new("whsec_test")?;
/// # let body = r#"{"id":"evt_1","type":"customer.created","data":{"object":{}}}"#;
/// # let signed = SignedWebhook::stripe("whsec_test", body);
/// # let (headers, body) = (signed.headers(), signed.body());
/// let event = stripe.verify(headers, body)?;
/// match &event.action {
///     Action::Sale(sale) => println!("a sale of {} cents", sale.amount_cents),
///     Action::Refund(refund) => println!("a refund of {}", refund.transaction_id),
///     Action::Ignore(why) => println!("{} ignored: {why}", event.event_type),
///     _ => {}
/// }
/// # }
/// # Ok::<(), affitor_tower::webhook::WebhookError>(())
/// ```
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub struct Event {
    /// The provider's id of the event (Stripe `evt_...`) or of the delivery (Standard Webhooks
    /// `webhook-id`), for your logs.
    pub id: String,
    /// The event's type, such as `checkout.session.completed` or `order.paid`.
    pub event_type: String,
    /// What the event asks of Affitor.
    pub action: Action,
    /// How long [`track`](Self::track) may take: the verifier's
    /// [`track_deadline`](Builder::track_deadline).
    deadline: Duration,
}

/// What a webhook event asks of Affitor: a sale, a refund, or nothing.
///
/// ```
/// use affitor_tower::webhook::{Action, Ignored};
///
/// let action = Action::Ignore(Ignored::EventType);
/// assert!(matches!(action, Action::Ignore(_)));
/// ```
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub enum Action {
    /// A payment: track a sale.
    Sale(Sale),
    /// A refund: track the refund of the sale with the same transaction id.
    Refund(Refund),
    /// Nothing to send to Affitor, and why.
    Ignore(Ignored),
}

/// A sale read from a payment event. [`request`](Self::request) turns it into a
/// [`SaleRequest`] you can add to before sending.
///
/// ```
/// use affitor_tower::webhook::{Action, Event};
///
/// # async fn run(client: affitor_tower::Client, event: Event) -> Result<(), affitor_tower::Error> {
/// if let Action::Sale(sale) = &event.action {
///     let outcome = sale.request(&client).product_id("pro").send().await?;
/// }
/// # Ok(())
/// # }
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Sale {
    /// The idempotency key, and the key its refund will name (see the [module docs](self)).
    pub transaction_id: String,
    /// The amount paid, in minor units; never 0.
    pub amount_cents: u64,
    /// The currency, when the event names a valid one.
    pub currency: Option<Currency>,
    /// Your customer key, as sent with the lead.
    pub customer_key: Option<String>,
    /// The click id the checkout carried.
    pub click_id: Option<ClickId>,
    /// A one-time payment or a subscription payment.
    pub sale_type: SaleType,
    /// Whether it renews a subscription.
    pub is_recurring: bool,
    /// The provider's subscription id.
    pub subscription_id: Option<String>,
}

impl Sale {
    /// The sale request for `client`, with every field the event gave.
    ///
    /// ```
    /// # fn build(client: affitor_tower::Client, sale: affitor_tower::webhook::Sale) {
    /// let request = sale.request(&client); // then `.send().await`
    /// # }
    /// ```
    pub fn request(&self, client: &Client) -> SaleRequest {
        let mut request = client
            .sale(&self.transaction_id, self.amount_cents)
            .click_id(self.click_id.clone())
            .sale_type(self.sale_type);
        if let Some(customer_key) = &self.customer_key {
            request = request.customer_key(customer_key);
        }
        if let Some(currency) = &self.currency {
            request = request.currency(currency.clone());
        }
        if self.is_recurring {
            request = request.is_recurring(true);
        }
        if let Some(subscription_id) = &self.subscription_id {
            request = request.subscription_id(subscription_id);
        }
        request
    }
}

/// A refund read from a refund event. [`request`](Self::request) turns it into a
/// [`RefundRequest`].
///
/// ```
/// # fn build(client: affitor_tower::Client, refund: affitor_tower::webhook::Refund) {
/// let request = refund.request(&client).reason("requested_by_customer");
/// # }
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Refund {
    /// The transaction id of the sale it refunds.
    pub transaction_id: String,
    /// Another id the sale may be keyed by, tried when Affitor knows no sale under
    /// `transaction_id`: a Stripe charge that names both an invoice and a payment intent.
    pub other_transaction_id: Option<String>,
    /// The amount of this refund, for a partial one; `None` for a full refund.
    pub amount_cents: Option<u64>,
}

impl Refund {
    /// The refund request for `client`.
    ///
    /// ```
    /// # fn build(client: affitor_tower::Client, refund: affitor_tower::webhook::Refund) {
    /// let request = refund.request(&client); // then `.send().await`
    /// # }
    /// ```
    pub fn request(&self, client: &Client) -> RefundRequest {
        self.request_for(client, &self.transaction_id)
    }

    /// The refund request for `client`, naming the sale `transaction_id`.
    fn request_for(&self, client: &Client, transaction_id: &str) -> RefundRequest {
        let request = client.refund(transaction_id);
        match self.amount_cents {
            Some(amount_cents) => request.amount_cents(amount_cents),
            None => request,
        }
    }
}

/// Why an event asks nothing of Affitor. Each is answered 200: a redelivery would not change it.
///
/// ```
/// use affitor_tower::webhook::Ignored;
///
/// assert_eq!(Ignored::NoAmount.to_string(), "the amount is 0 or missing");
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Ignored {
    /// An event type that is neither a sale nor a refund for Affitor.
    EventType,
    /// A checkout session whose payment has not gone through yet (an asynchronous payment
    /// method): its `checkout.session.async_payment_succeeded` will be the sale.
    NotPaid,
    /// An invoice that is not a renewal (`billing_reason` other than `subscription_cycle`):
    /// the first invoice is tracked from its checkout session.
    BillingReason(String),
    /// The amount is 0 or missing: a free trial, a 100% coupon.
    NoAmount,
    /// Neither a customer key nor a click id: the customer did not come through a partner, or
    /// the checkout did not carry the Affitor metadata.
    NoCustomer,
    /// The event lacks a field the sale or refund needs (named).
    MissingField(&'static str),
}

impl fmt::Display for Ignored {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::EventType => f.write_str("not a sale or refund event"),
            Self::NotPaid => f.write_str("the payment has not gone through yet"),
            Self::BillingReason(reason) => {
                write!(
                    f,
                    "an invoice for `{}`, not a renewal",
                    reason.escape_default()
                )
            }
            Self::NoAmount => f.write_str("the amount is 0 or missing"),
            Self::NoCustomer => f.write_str("no customer key and no click id"),
            Self::MissingField(field) => write!(f, "the event has no `{field}`"),
        }
    }
}

/// What became of a webhook delivery, and the status to answer the provider:
/// [`status`](Self::status). See the table in the [module docs](self).
///
/// ```
/// use affitor_tower::SaleOutcome;
/// use affitor_tower::webhook::{Ignored, Tracked};
///
/// assert_eq!(Tracked::Sale(SaleOutcome::AlreadyRecorded).status().as_u16(), 200);
/// assert_eq!(Tracked::Ignored(Ignored::NoAmount).status().as_u16(), 200);
/// ```
#[derive(Debug)]
#[non_exhaustive]
pub enum Tracked {
    /// The sale was sent: what Affitor did with it (recorded, a duplicate, not attributed).
    Sale(SaleOutcome),
    /// The refund was sent: what Affitor did with it.
    Refund(RefundOutcome),
    /// Nothing was sent, and why.
    Ignored(Ignored),
    /// Affitor did not take the sale or refund. Answered 503 when a later attempt can succeed
    /// ([`Error::is_retryable`](crate::Error::is_retryable)), so the provider redelivers; 200
    /// otherwise.
    Failed(crate::Error),
    /// The delivery was refused before anything was sent: see [`WebhookError::status`].
    Rejected(WebhookError),
}

impl Tracked {
    /// The status to answer the provider: 200 when handled, 503 when the provider should
    /// deliver again later, 400 (or 413) for a delivery that was refused.
    ///
    /// ```
    /// use affitor_tower::webhook::{Ignored, Tracked};
    ///
    /// let tracked = Tracked::Ignored(Ignored::EventType);
    /// assert_eq!(tracked.status(), http::StatusCode::OK);
    /// ```
    pub fn status(&self) -> StatusCode {
        match self {
            Self::Failed(error) if error.is_retryable() => StatusCode::SERVICE_UNAVAILABLE,
            Self::Rejected(error) => error.status(),
            _ => StatusCode::OK,
        }
    }
}

impl Event {
    /// Sends the sale or the refund inline (with the client's retries), and says what
    /// happened; logs it too. Nothing is sent for an ignored event.
    ///
    /// ```
    /// # async fn run(client: affitor_tower::Client, event: affitor_tower::webhook::Event) {
    /// let status = event.track(&client).await.status(); // answer the provider with it
    /// # }
    /// ```
    ///
    /// `client` is a [`Client`], or anything that holds one: a [`BoundClient`](crate::BoundClient),
    /// or the `AffitorClient` extractor of `affitor-axum` and `affitor-actix`.
    pub async fn track(&self, client: impl AsRef<Client>) -> Tracked {
        let sent = tokio::time::timeout(self.deadline, self.send(client.as_ref())).await;
        let tracked = sent.unwrap_or_else(|_| {
            Tracked::Failed(crate::Error::new(ErrorKind::Timeout).with_detail(format!(
                "no answer within the webhook's track deadline of {:?}",
                self.deadline
            )))
        });
        self.log(&tracked);
        tracked
    }

    /// The event with its tracking deadline.
    pub(crate) fn within(mut self, deadline: Duration) -> Self {
        self.deadline = deadline;
        self
    }

    /// Sends the sale or the refund, or nothing.
    async fn send(&self, client: &Client) -> Tracked {
        match &self.action {
            Action::Sale(sale) => match sale.request(client).send().await {
                Ok(outcome) => Tracked::Sale(outcome),
                Err(error) => Tracked::Failed(error),
            },
            Action::Refund(refund) => {
                let mut sent = refund.request(client).send().await;
                // No sale under the first key: the sale may be keyed by the other one.
                if let (Err(error), Some(other)) = (&sent, &refund.other_transaction_id)
                    && error.kind() == ErrorKind::SaleNotFound
                {
                    sent = refund.request_for(client, other).send().await;
                }
                match sent {
                    Ok(outcome) => Tracked::Refund(outcome),
                    Err(error) => Tracked::Failed(error),
                }
            }
            Action::Ignore(why) => Tracked::Ignored(why.clone()),
        }
    }

    fn log(&self, tracked: &Tracked) {
        let (id, event_type) = (self.id.as_str(), self.event_type.as_str());
        match tracked {
            Tracked::Sale(outcome) => {
                tracing::info!(id, event_type, ?outcome, "webhook: sale tracked");
            }
            Tracked::Refund(outcome) => {
                tracing::info!(id, event_type, ?outcome, "webhook: refund tracked");
            }
            Tracked::Ignored(why @ Ignored::MissingField(_)) => {
                // A payment event without the id its sale needs: look into it.
                tracing::warn!(id, event_type, %why, "webhook: nothing tracked");
            }
            Tracked::Ignored(why) => {
                tracing::debug!(id, event_type, %why, "webhook: nothing to track");
            }
            Tracked::Failed(error) if error.kind() == ErrorKind::SaleNotFound => {
                tracing::info!(
                    id,
                    event_type,
                    "webhook: refund of a sale Affitor never recorded (an organic sale, or one \
                     keyed differently): acknowledged"
                );
            }
            Tracked::Failed(error) if error.is_retryable() => {
                tracing::warn!(
                    id,
                    event_type,
                    %error,
                    "webhook: Affitor cannot take it now: answering 503 so the provider redelivers"
                );
            }
            Tracked::Failed(error) => {
                tracing::error!(
                    id,
                    event_type,
                    %error,
                    "webhook: Affitor refused it: acknowledging it, a redelivery would not help"
                );
            }
            Tracked::Rejected(error) => {
                tracing::warn!(id, event_type, %error, "webhook: refused");
            }
        }
    }
}

/// Verifies, maps and tracks one delivery: the body of `Stripe::track` and `Polar::track`.
async fn verify_and_track(
    verified: Result<Event, WebhookError>,
    client: &Client,
    provider: &'static str,
) -> Tracked {
    match verified {
        Ok(event) => event.track(client).await,
        Err(error) => {
            tracing::warn!(provider, %error, "webhook: refused");
            Tracked::Rejected(error)
        }
    }
}
