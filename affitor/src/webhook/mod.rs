//! Payment webhooks: Stripe, Polar, Paddle and Lemon Squeezy events, verified and tracked as
//! sales and refunds.
//!
//! **If your program is connected to Affitor's Stripe integration** (Affitor reads your Stripe
//! events itself), do not also send sales from a Stripe webhook: each sale would count twice.
//! This module is for programs that report their own sales.
//!
//! A [`Verifier`] of a [`Provider`] ([`Stripe`], [`Polar`], [`Paddle`], [`LemonSqueezy`])
//! verifies a delivery over its raw
//! body, before anything is parsed, and reads from the event only what the sale or refund
//! needs. [`ProviderEvent::track`] sends it, and the [`Tracked`] answer says what happened and
//! which status to give the provider, so that it redelivers only what a later attempt can still
//! record:
//!
//! ```
//! use affitor::Client;
//! use affitor::webhook::{Stripe, Verifier};
//!
//! # async fn handler(client: Client, headers: http::HeaderMap, body: bytes::Bytes) -> http::StatusCode {
//! # let stripe = Verifier::<Stripe>::new("whsec_test").unwrap();
//! // let stripe = Verifier::<Stripe>::from_env()?; // STRIPE_WEBHOOK_SECRET, once at start-up
//! // In your handler, with the request's headers and its raw body:
//! let tracked = stripe.track(&client, &headers, &body).await;
//! tracked.status() // 200, 400 or 503: the answer to give Stripe
//! # }
//! ```
//!
//! `affitor-axum` and `affitor-actix` wrap this in one extractor, `WebhookEvent<P>`, so a
//! handler is one line; `affitor_mock::SignedWebhook` signs events for your tests.
//!
//! # The answer
//!
//! | What happened | [`Tracked`] | Status |
//! |---|---|---|
//! | The sale or refund is recorded, or was before (a redelivery, or its twin event), or the sale is not attributed | `Sale`, `Refund` | 200 |
//! | An event that asks nothing of Affitor: an unpaid session, amount 0, no customer key or click id, a test-mode refund, a won dispute, a payment link kept for later, a Paddle refund not approved yet or a credit | `Ignored` | 200 |
//! | An event type this module does not handle (logged at `debug`) | `Ignored`, `EventType` | 200 |
//! | A refund of a sale Affitor does not know, while the event is younger than [`refund_grace`](Builder::refund_grace) (a day): the sale may still be on its way | `AwaitingSale` | 503 |
//! | The same, past the grace: an organic sale's refund, which a redelivery would not change | `Failed`, `SaleNotFound` | 200 |
//! | An amount in a currency the API does not take, and no [`CurrencyConverter`] with a rate for it: nothing is sent | `Failed`, `UnsupportedCurrency` | 500 |
//! | A sale recorded whose commission Affitor failed to create (a redelivery would be answered 409): logged at `error`, for Affitor support | `Failed`, `CommissionNotCreated` | 200 |
//! | Affitor refused the call (a 4xx: a wrong base URL, a redirect, an amount it does not take) | `Failed`, `Rejected` | 500 |
//! | A sale or refund whose amount or currency cannot be read: an amount without its currency would be taken for USD, a partial refund without its amount would reverse the whole commission | `Unreadable` | 500 |
//! | Affitor could not be reached, failed, or refused the key: a later attempt can succeed | `Failed`, retryable | 503 |
//! | A missing, malformed, wrong or expired signature; a tampered body; a body that is not JSON or not an event | `Rejected` | 400 |
//! | A body over the limit (1 MiB unless set) | `Rejected` | 413 |
//!
//! Nothing is sent to Affitor for an `Ignored`, `Unreadable`, `Rejected` or `UnsupportedCurrency`
//! event. A provider redelivers on any status but 2xx (Stripe for up to three days, Polar for
//! about one), so 503 keeps a sale with the provider while Affitor is down, 500 keeps an event
//! until the app is mended or configured (a converter set, a base URL corrected: then resend it
//! from the provider's dashboard), and 200 stops the redeliveries that cannot help. Every event
//! this module handles ends in a call to Affitor, a 5xx, or an `Ignored` reason logged at `info`
//! (`warn` for a missing field or a won dispute), and is counted, with the feature `metrics`,
//! in `affitor_webhook_events_total{provider, result}`: `tracked`, `ignored`, `kept` (answered
//! 5xx), `refused` (400 or 413), and `attention` for what is acknowledged but needs a person (a
//! commission not created, a won dispute, a missing field). Alert on any `attention`, and on
//! `kept` that keeps rising (a refund before its sale is kept a while, as it should be).
//!
//! # Currencies
//!
//! The Affitor API takes USD, EUR and VND. A sale or a partial refund in another currency is
//! converted before it is sent, with the verifier's
//! [`currency_converter`](Builder::currency_converter): amounts are in the currency's minor
//! units on both sides (JPY has none, KWD three), and the original amount and currency go in
//! the sale's `additional_data`. Without a converter (or without a rate for that currency) the
//! event is answered 500 and kept by the provider.
//!
//! # Test mode
//!
//! A Stripe event with `livemode: false`, or a Lemon Squeezy event with `meta.test_mode: true`,
//! is a test purchase: its sale is sent as an Affitor test event (`additional_data.test_mode`),
//! which pays no partner, and its refunds and disputes are ignored (there is no commission to
//! reverse). Polar's sandbox and Paddle's sandbox say nothing of it in their events: they are
//! separate accounts, with their own secrets, so point their webhooks at an app whose client
//! uses a test API key, or leave them unset.
//!
//! # Stripe
//!
//! | Event | Tracked as | `transaction_id` |
//! |---|---|---|
//! | `checkout.session.completed` with `payment_status: paid`, `checkout.session.async_payment_succeeded` (mode `payment`) | sale | the payment intent (`pi_...`) |
//! | the same, mode `subscription` | sale, `sale_type` subscription | the first invoice (`in_...`) |
//! | `invoice.paid` or its twin `invoice.payment_succeeded`, with `billing_reason: subscription_cycle` | recurring sale (once for both twins) | the invoice (`in_...`) |
//! | the same with `billing_reason: subscription_create` | sale, `sale_type` subscription | the invoice (`in_...`) |
//! | `invoice_payment.paid` (API versions from 2025-03-31) | nothing sent: the invoice's payment intent is kept for its refunds | |
//! | `charge.refunded`, or its twin `refund.created` | refund of the amount `amount_refunded` grew by (from `previous_attributes`), partial when under `amount`; `refund.created`: its `amount` (reversed once for both twins) | the sale's key (below) |
//! | `charge.dispute.created`, `charge.dispute.closed` with `status: lost` (its twin) | refund of the disputed amount, reason `dispute: <reason>` | the sale's key (below) |
//! | `charge.dispute.closed` with `status: won` | nothing sent; logged at `warn`: the commission reversed when it opened stays reversed | |
//!
//! A refund must carry its sale's `transaction_id`, or Affitor answers 404. A one-off sale is
//! keyed by its payment intent, which every charge, refund and dispute of it names. A
//! subscription payment is keyed by its invoice (its checkout session's sale names the same
//! invoice, so a subscription created through Checkout is recorded once, and one created
//! through the API, Billing or a Payment Link is tracked too). A refund finds the invoice:
//! - up to API version 2024-12-18, the charge names it;
//! - from 2025-03-31 ("Basil") on, a charge names only its payment intent, and the verifier
//!   finds the invoice that payment intent paid: it keeps the links the events it verified
//!   showed (`invoice_payment.paid`, and an invoice's `payments` or, before Basil, its
//!   `payment_intent`), the last 100,000 of them, in memory. So subscribe the endpoint to
//!   `invoice_payment.paid`, and verify with one `Stripe` shared by the app (it is cheap to
//!   clone). After a restart, the refund of a payment linked before it is tried under the
//!   payment intent, answered 503 within the refund grace, then acknowledged: look it up in
//!   the logs (`refund of a sale Affitor never recorded`, with its `transaction_id`) and reverse it
//!   in the dashboard.
//!
//! When a charge names both an invoice and a payment intent, and Affitor knows no sale under
//! the invoice, the payment intent is tried. Other invoices (`manual`, `subscription_update`)
//! are ignored.
//!
//! The customer key is `metadata.affitor_customer_key`, else `client_reference_id`, else
//! `metadata.user_id`; the click id is `metadata.affitor_click_id`. A renewal reads both from
//! the subscription's metadata: `parent.subscription_details.metadata` (Basil) or
//! `subscription_details.metadata` (before). So put them in `metadata` and in
//! `subscription_data.metadata` when you create the Checkout Session.
//!
//! # Polar
//!
//! `order.paid` is a sale keyed by the order id (`total_amount`; a `subscription_cycle` or
//! `subscription_meter_cycle` order is a recurring sale, any subscription order has
//! `sale_type` subscription), `order.refunded` a refund of that order (partial when
//! `refunded_amount + refunded_tax_amount < total_amount`, tax on both sides as the sale had
//! it; Polar's `refunded_amount` is the order's total refunded so far and its event names no
//! earlier value, so a second partial refund of one order is sent as that total: Affitor
//! reverses a sale's commission once, and answers a repeat refund `skipped`). The customer key
//! is `metadata.affitor_customer_key`, else `metadata.user_id`, else `customer.external_id`;
//! the click id `metadata.affitor_click_id`, else `metadata.reference_id` (a checkout link's
//! `?reference_id=`).
//!
//! # Paddle
//!
//! | Event | Tracked as | `transaction_id` |
//! |---|---|---|
//! | `transaction.completed` | sale (`details.totals.grand_total`, what was charged); `origin: subscription_recurring` a renewal; with a `subscription_id`, `sale_type` subscription | the transaction (`txn_...`) |
//! | `adjustment.created`, `adjustment.updated` with `action: refund` and `status: approved` | refund: `type: partial` of `totals.total`, full otherwise | the adjustment's `transaction_id` |
//! | the same with `action: chargeback` (approved when made) | refund, reason `chargeback: <reason>` | the same |
//! | an adjustment `pending_approval` or `rejected` | nothing sent: its approval, `adjustment.updated`, is the refund | |
//! | `action: chargeback_reverse` | nothing sent; logged at `warn`, as a Stripe dispute won | |
//! | `action: credit`, `chargeback_warning`, ... | nothing sent: no payment returned | |
//!
//! A refund is created `pending_approval` and approved later, so its `adjustment.updated` is
//! the one sent; when both events of one adjustment say `approved`, Affitor reverses the
//! commission once. The customer key is `custom_data.affitor_customer_key`, else
//! `custom_data.user_id`; the click id `custom_data.affitor_click_id`. Set `custom_data` on the
//! checkout (Paddle.js `customData`, or the transaction you create): Paddle copies a checkout's
//! `custom_data` to its subscription, and a subscription's to its renewals.
//!
//! # Lemon Squeezy
//!
//! | Event | Tracked as | `transaction_id` |
//! |---|---|---|
//! | `order_created` with `status: paid` | sale (`total`); the first payment of a subscription too (`sale_type` subscription) | `orders/<id>` |
//! | `subscription_payment_success` with `billing_reason: renewal` | recurring sale | `subscription-invoices/<id>` |
//! | the same with `billing_reason: initial` (its order is the sale) or `updated` | nothing sent | |
//! | `order_refunded`, `subscription_payment_refunded` | refund of that order or invoice, partial when `refunded_amount < total` | the same |
//!
//! The customer key is `meta.custom_data.affitor_customer_key`, else `meta.custom_data.user_id`;
//! the click id `meta.custom_data.affitor_click_id`: pass them as the checkout's
//! `checkout_data.custom` (or `?checkout[custom][affitor_click_id]=...` on a checkout link).
//! Lemon Squeezy has no dispute events: reverse a chargeback's commission in the Affitor
//! dashboard.
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
//! - Paddle: the `Paddle-Signature` header, `ts=<unix time>;h1=<hex>[;h1=<hex>...]`; each `h1`
//!   is the HMAC-SHA256 of `{ts}:{body}` keyed by the secret key's bytes. A timestamp older
//!   than the tolerance is refused (Paddle's SDKs allow 5 s, which refuses a delivery that
//!   waited in any queue); one in the future is accepted, as for Stripe.
//! - Lemon Squeezy: the `X-Signature` header, the hex HMAC-SHA256 of the body keyed by the
//!   signing secret's bytes. It signs no timestamp, so no replay window applies: a replayed
//!   delivery is a redelivery, recorded once under its transaction id.
//!
//! Each takes several secrets, so that a rotated secret and its successor are accepted
//! together, and compares signatures in constant time. The tolerance is 5 minutes unless set.

mod builder;
mod checkout;
mod currency;
mod error;
mod lemon_squeezy;
mod links;
mod paddle;
mod payload;
pub(crate) mod polar;
pub(crate) mod signature;
mod stripe;
mod verifier;

use std::fmt;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use http::StatusCode;
use serde_json::{Map, Value};

use crate::{
    ClickId, Client, RefundRequest, SaleRequest,
    client::{Currency, ErrorKind, RefundOutcome, SaleOutcome, SaleType},
    endpoint::Endpoint,
};

pub use builder::Builder;
pub use checkout::checkout_fields;
pub use currency::{CurrencyConverter, ExchangeRates};
pub use error::{WebhookError, WebhookErrorKind};
pub use lemon_squeezy::LemonSqueezy;
pub use paddle::Paddle;
pub use polar::Polar;
pub use stripe::Stripe;
pub use verifier::{Provider, Verifier};

/// A verified webhook event, and what it asks of Affitor.
///
/// Made by [`Verifier::verify`]; [`track`](Self::track) sends it.
///
/// ```
/// # {
/// use affitor::webhook::{Action, Stripe, Verifier};
/// # use affitor_mock::SignedWebhook;
///
/// let stripe = Verifier::<Stripe>::new("whsec_test")?;
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
/// # Ok::<(), affitor::webhook::WebhookError>(())
/// ```
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub struct ProviderEvent {
    /// The provider's id of the event (Stripe `evt_...`) or of the delivery (Standard Webhooks
    /// `webhook-id`), for your logs.
    pub id: String,
    /// The event's type, such as `checkout.session.completed` or `order.paid`.
    pub event_type: String,
    /// What the event asks of Affitor.
    pub action: Action,
    /// When the event happened, as the provider says (Stripe's `created`, Polar's `timestamp`):
    /// the same on every redelivery.
    pub created: Option<SystemTime>,
    /// How [`track`](Self::track) sends it: the verifier's settings.
    tracking: Arc<Tracking>,
}

/// How a verifier's events are tracked: its [`Builder`]'s settings, shared with each event.
#[derive(Debug)]
pub(crate) struct Tracking {
    /// The provider's name ([`Provider::NAME`]), for the metric's label.
    pub(crate) provider: &'static str,
    /// How long [`ProviderEvent::track`] may take ([`Builder::track_deadline`]).
    pub(crate) deadline: Duration,
    /// How long after the event a refund whose sale is unknown is answered 503
    /// ([`Builder::refund_grace`]).
    pub(crate) refund_grace: Duration,
    /// Converts amounts in currencies the API does not take ([`Builder::currency_converter`]).
    pub(crate) converter: Option<currency::Converter>,
}

impl Default for Tracking {
    fn default() -> Self {
        Self {
            provider: "",
            deadline: signature::DEFAULT_TRACK_DEADLINE,
            refund_grace: signature::DEFAULT_REFUND_GRACE,
            converter: None,
        }
    }
}

impl PartialEq for Tracking {
    fn eq(&self, other: &Self) -> bool {
        let same_converter = match (&self.converter, &other.converter) {
            (Some(a), Some(b)) => Arc::ptr_eq(&a.0, &b.0),
            (a, b) => a.is_none() && b.is_none(),
        };
        self.provider == other.provider
            && self.deadline == other.deadline
            && self.refund_grace == other.refund_grace
            && same_converter
    }
}

/// What a webhook event asks of Affitor: a sale, a refund, or nothing.
///
/// ```
/// use affitor::webhook::{Action, Ignored};
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
    /// A sale or refund event with a field this module cannot read (named), without which
    /// sending it could record the wrong amount: an amount without its currency (which the API
    /// would take for USD), or a refund that does not say it is full and whose amount is
    /// unreadable (which would reverse the whole commission). Nothing is sent, and
    /// [`track`](ProviderEvent::track) answers 500 so that the provider keeps the event. The
    /// provider's payload changed: report it, with the event.
    Unreadable(&'static str),
}

/// A sale read from a payment event. [`request`](Self::request) turns it into a
/// [`SaleRequest`] you can add to before sending.
///
/// ```
/// use affitor::webhook::{Action, ProviderEvent};
///
/// # async fn run(client: affitor::Client, event: ProviderEvent) -> Result<(), affitor::Error> {
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
    /// The currency of `amount_cents`.
    pub currency: Currency,
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
    /// A payment of the provider's test mode (Stripe `livemode: false`): sent as an Affitor
    /// test event, which pays no commission.
    pub test_mode: bool,
}

impl Sale {
    /// The sale request for `client`, with every field the event gave.
    ///
    /// ```
    /// # fn build(client: affitor::Client, sale: affitor::webhook::Sale) {
    /// let request = sale.request(&client); // then `.send().await`
    /// # }
    /// ```
    pub fn request(&self, client: &Client) -> SaleRequest {
        let mut request = client
            .sale(&self.transaction_id, self.amount_cents)
            .currency(self.currency.clone())
            .click_id(self.click_id.clone())
            .sale_type(self.sale_type);
        if let Some(customer_key) = &self.customer_key {
            request = request.customer_key(customer_key);
        }
        if self.is_recurring {
            request = request.is_recurring(true);
        }
        if let Some(subscription_id) = &self.subscription_id {
            request = request.subscription_id(subscription_id);
        }
        request.test_mode(self.test_mode)
    }

    /// The sale in a currency the API takes: itself, or converted with `tracking`'s converter
    /// (the original amount and currency kept in `additional_data`).
    fn request_to_send(
        &self,
        client: &Client,
        tracking: &Tracking,
    ) -> Result<SaleRequest, crate::Error> {
        let from = &self.currency;
        if currency::is_supported(from) {
            return Ok(self.request(client));
        }
        let (amount_cents, into) = currency::to_supported(
            Endpoint::Sale,
            self.amount_cents,
            from,
            tracking.converter.as_ref(),
        )?;
        let converted = Self {
            amount_cents,
            currency: into,
            ..self.clone()
        };
        let mut original = Map::new();
        original.insert("original_amount".to_owned(), Value::from(self.amount_cents));
        original.insert(
            "original_currency".to_owned(),
            Value::from(from.to_string()),
        );
        Ok(converted.request(client).additional_data(original))
    }
}

/// A refund read from a refund event. [`request`](Self::request) turns it into a
/// [`RefundRequest`].
///
/// ```
/// # fn build(client: affitor::Client, refund: affitor::webhook::Refund) {
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
    /// The currency of `amount_cents`: always there with an amount; for a full refund, when
    /// the event names a valid one.
    pub currency: Option<Currency>,
    /// Why, when the provider says: a dispute's reason, for example.
    pub reason: Option<String>,
}

impl Refund {
    /// The refund request for `client`.
    ///
    /// ```
    /// # fn build(client: affitor::Client, refund: affitor::webhook::Refund) {
    /// let request = refund.request(&client); // then `.send().await`
    /// # }
    /// ```
    pub fn request(&self, client: &Client) -> RefundRequest {
        self.request_for(client, &self.transaction_id, self.amount_cents)
    }

    /// The refund request for `client`, naming the sale `transaction_id`, its amount `amount`.
    fn request_for(
        &self,
        client: &Client,
        transaction_id: &str,
        amount: Option<u64>,
    ) -> RefundRequest {
        let mut request = client.refund(transaction_id);
        if let Some(reason) = &self.reason {
            request = request.reason(reason);
        }
        match amount {
            Some(amount_cents) => request.amount_cents(amount_cents),
            None => request,
        }
    }

    /// The amount to send, in the currency the sale was sent in: converted like the sale when
    /// the event's currency is one the API does not take. A full refund needs no amount.
    fn amount_to_send(&self, tracking: &Tracking) -> Result<Option<u64>, crate::Error> {
        match (self.amount_cents, &self.currency) {
            (Some(amount), Some(from)) if !currency::is_supported(from) => {
                let converter = tracking.converter.as_ref();
                let (amount, _) =
                    currency::to_supported(Endpoint::Refund, amount, from, converter)?;
                Ok(Some(amount))
            }
            (amount, _) => Ok(amount),
        }
    }
}

/// Why an event asks nothing of Affitor. Each is answered 200: a redelivery would not change it.
///
/// ```
/// use affitor::webhook::Ignored;
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
    /// A refund or a dispute of the provider's test mode: its sale was sent as a test event,
    /// which holds no commission to reverse (the API has no test refunds).
    TestRefund,
    /// A dispute the merchant won. Its commission was reversed when the dispute opened
    /// (`charge.dispute.created`) and the API has no call to restore it: restore it in the
    /// Affitor dashboard if the partner is owed it. Logged at `warn`.
    DisputeWon,
    /// Stripe `invoice_payment.paid`: nothing to send, but the verifier now knows which
    /// invoice the payment intent paid, so that a refund naming only the payment intent finds
    /// its sale.
    PaymentLinked,
    /// A Paddle refund not approved (yet): its status (`pending_approval`, `rejected`). Its
    /// approval comes as `adjustment.updated`, which is the refund.
    NotApproved(String),
    /// A Paddle adjustment that returns no payment (named: a `credit` to the customer's
    /// balance, a `chargeback_warning`).
    ReturnsNoPayment(String),
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
            Self::TestRefund => f.write_str("a refund of test mode: its sale paid no commission"),
            Self::DisputeWon => f.write_str(
                "a dispute won: the commission reversed when it opened stays reversed; restore \
                 it in the Affitor dashboard if the partner is owed it",
            ),
            Self::PaymentLinked => {
                f.write_str("links an invoice to its payment intent, for the refunds to come")
            }
            Self::NotApproved(status) => write!(
                f,
                "a refund not approved: `{}`; its approval will be the refund",
                status.escape_default()
            ),
            Self::ReturnsNoPayment(action) => write!(
                f,
                "an adjustment `{}`, which returns no payment",
                action.escape_default()
            ),
        }
    }
}

/// What became of a webhook delivery, and the status to answer the provider:
/// [`status`](Self::status). See the table in the [module docs](self).
///
/// ```
/// use affitor::client::SaleOutcome;
/// use affitor::webhook::{Ignored, Tracked};
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
    /// A refund whose sale Affitor does not know yet, while the event is younger than the
    /// verifier's [`refund_grace`](Builder::refund_grace): the sale may still be on its way
    /// (its delivery failed and waits in the provider's retry schedule). Answered 503, so the
    /// provider delivers the refund again after the sale.
    AwaitingSale(crate::Error),
    /// Affitor did not take the sale or refund. Answered 503 when a later attempt can succeed
    /// ([`Error::is_retryable`](crate::Error::is_retryable)), so the provider redelivers. 200
    /// for a refund of a sale Affitor never recorded, past the refund grace
    /// ([`ErrorKind::SaleNotFound`]: an organic sale's), and for a sale recorded without its
    /// commission ([`ErrorKind::CommissionNotCreated`]: a redelivery would be answered 409;
    /// logged at `error`, to take to Affitor support). 500 otherwise: an amount in a currency
    /// the API does not take and no converter for it ([`ErrorKind::UnsupportedCurrency`]), or
    /// a call Affitor refused ([`ErrorKind::Rejected`]: a base URL that is wrong, an amount it
    /// does not take), so that the provider keeps the event until the app is mended, and you
    /// resend it from the provider's dashboard.
    Failed(crate::Error),
    /// A sale or refund event with a field this module cannot read (named): nothing was sent
    /// (see [`Action::Unreadable`]). Answered 500, so that the provider keeps the event.
    Unreadable(&'static str),
    /// The delivery was refused before anything was sent: see [`WebhookError::status`].
    Rejected(WebhookError),
}

impl Tracked {
    /// The status to answer the provider: 200 when handled, 503 when the provider should
    /// deliver again later, 500 when it should keep the event until the app is mended or
    /// configured to take it, 400 (or 413) for a delivery that was refused.
    ///
    /// ```
    /// use affitor::webhook::{Ignored, Tracked};
    ///
    /// let tracked = Tracked::Ignored(Ignored::EventType);
    /// assert_eq!(tracked.status(), http::StatusCode::OK);
    /// ```
    pub fn status(&self) -> StatusCode {
        match self {
            Self::Sale(_) | Self::Refund(_) | Self::Ignored(_) => StatusCode::OK,
            Self::AwaitingSale(_) => StatusCode::SERVICE_UNAVAILABLE,
            Self::Failed(error) if error.is_retryable() => StatusCode::SERVICE_UNAVAILABLE,
            Self::Failed(error) if acknowledged(error) => StatusCode::OK,
            Self::Failed(_) | Self::Unreadable(_) => StatusCode::INTERNAL_SERVER_ERROR,
            Self::Rejected(error) => error.status(),
        }
    }

    /// What the event came to, for the `result` label of the webhook metric.
    fn result(&self) -> &'static str {
        match self {
            Self::Sale(_) | Self::Refund(_) => "tracked",
            Self::Ignored(Ignored::MissingField(_) | Ignored::DisputeWon) => "attention",
            Self::Failed(error) if error.kind() == ErrorKind::CommissionNotCreated => "attention",
            Self::Ignored(_) | Self::Failed(_) if self.status() == StatusCode::OK => "ignored",
            Self::Rejected(_) => "refused",
            _ => "kept",
        }
    }
}

/// A failure that a redelivery would not mend, and that leaves nothing to keep: the refund of a
/// sale Affitor never recorded (past the refund grace), and a sale recorded whose commission
/// Affitor failed to create (a redelivery would be answered 409).
fn acknowledged(error: &crate::Error) -> bool {
    matches!(
        error.kind(),
        ErrorKind::SaleNotFound | ErrorKind::CommissionNotCreated
    )
}

/// Counts an event a verifier handled: `affitor_webhook_events_total{provider, result}`, with
/// the feature `metrics`.
#[cfg_attr(not(feature = "metrics"), allow(unused_variables))]
pub(crate) fn count(provider: &'static str, result: &'static str) {
    #[cfg(feature = "metrics")]
    ::metrics::counter!(
        "affitor_webhook_events_total",
        "provider" => provider,
        "result" => result
    )
    .increment(1);
}

impl ProviderEvent {
    /// Sends the sale or the refund inline (with the client's retries), and says what
    /// happened; logs it too. Nothing is sent for an ignored event.
    ///
    /// ```
    /// # async fn run(client: affitor::Client, event: affitor::webhook::ProviderEvent) {
    /// let status = event.track(&client).await.status(); // answer the provider with it
    /// # }
    /// ```
    ///
    /// `client` is a [`Client`], or anything that holds one: a [`BoundClient`](crate::client::BoundClient),
    /// or the `AffitorClient` extractor of `affitor-axum` and `affitor-actix`.
    pub async fn track(&self, client: impl AsRef<Client>) -> Tracked {
        let deadline = self.tracking.deadline;
        let sent = tokio::time::timeout(deadline, self.send(client.as_ref())).await;
        let tracked = sent.unwrap_or_else(|_| {
            Tracked::Failed(crate::Error::new(ErrorKind::Timeout).with_detail(format!(
                "no answer within the webhook's track deadline of {deadline:?}"
            )))
        });
        self.log(&tracked);
        count(self.tracking.provider, tracked.result());
        tracked
    }

    /// A verified event, tracked with `tracking`.
    pub(crate) fn new(
        id: String,
        event_type: String,
        action: Action,
        created: Option<SystemTime>,
        tracking: Arc<Tracking>,
    ) -> Self {
        Self {
            id,
            event_type,
            action,
            created,
            tracking,
        }
    }

    /// Sends the sale or the refund, or nothing.
    async fn send(&self, client: &Client) -> Tracked {
        match &self.action {
            Action::Sale(sale) => {
                let request = match sale.request_to_send(client, &self.tracking) {
                    Ok(request) => request,
                    Err(error) => return Tracked::Failed(error),
                };
                match request.send().await {
                    Ok(outcome) => Tracked::Sale(outcome),
                    Err(error) => Tracked::Failed(error),
                }
            }
            Action::Refund(refund) => match self.send_refund(refund, client).await {
                Ok(outcome) => Tracked::Refund(outcome),
                Err(error)
                    if error.kind() == ErrorKind::SaleNotFound && self.within_refund_grace() =>
                {
                    Tracked::AwaitingSale(error)
                }
                Err(error) => Tracked::Failed(error),
            },
            Action::Ignore(why) => Tracked::Ignored(why.clone()),
            Action::Unreadable(field) => Tracked::Unreadable(field),
        }
    }

    /// Sends the refund under its transaction id, then, when Affitor knows no sale under it,
    /// under the other one the sale may be keyed by.
    async fn send_refund(
        &self,
        refund: &Refund,
        client: &Client,
    ) -> Result<RefundOutcome, crate::Error> {
        let amount = refund.amount_to_send(&self.tracking)?;
        let sent = refund
            .request_for(client, &refund.transaction_id, amount)
            .send()
            .await;
        match (sent, &refund.other_transaction_id) {
            (Err(error), Some(other)) if error.kind() == ErrorKind::SaleNotFound => {
                refund.request_for(client, other, amount).send().await
            }
            (sent, _) => sent,
        }
    }

    /// Whether the event is younger than the verifier's refund grace; one that does not say
    /// when it happened is taken as new (the provider's retry schedule bounds it).
    fn within_refund_grace(&self) -> bool {
        let age = self
            .created
            .and_then(|created| SystemTime::now().duration_since(created).ok())
            .unwrap_or(Duration::ZERO);
        age < self.tracking.refund_grace
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
            Tracked::Ignored(why @ (Ignored::MissingField(_) | Ignored::DisputeWon)) => {
                // A payment event without the id its sale needs, or a commission to restore
                // by hand: look into it.
                tracing::warn!(id, event_type, %why, "webhook: nothing tracked");
            }
            Tracked::Ignored(why @ Ignored::EventType) => {
                tracing::debug!(id, event_type, %why, "webhook: not an event for Affitor");
            }
            Tracked::Ignored(why) => {
                tracing::info!(id, event_type, %why, "webhook: nothing to track");
            }
            Tracked::AwaitingSale(_) => {
                tracing::warn!(
                    id,
                    event_type,
                    "webhook: refund of a sale Affitor does not know yet: answering 503 so that \
                     the provider delivers it again after its sale"
                );
            }
            Tracked::Failed(error) if error.kind() == ErrorKind::UnsupportedCurrency => {
                tracing::warn!(
                    id,
                    event_type,
                    %error,
                    "webhook: not sent: answering 500 so that the provider keeps the event"
                );
            }
            Tracked::Failed(error) if error.kind() == ErrorKind::SaleNotFound => {
                let (transaction_id, other_transaction_id) = match &self.action {
                    Action::Refund(refund) => (
                        Some(refund.transaction_id.as_str()),
                        refund.other_transaction_id.as_deref(),
                    ),
                    _ => (None, None),
                };
                tracing::info!(
                    id,
                    event_type,
                    transaction_id,
                    other_transaction_id,
                    "webhook: refund of a sale Affitor never recorded (an organic sale, or one \
                     whose sale never came within the refund grace): acknowledged"
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
            Tracked::Failed(error) if error.kind() == ErrorKind::CommissionNotCreated => {
                tracing::error!(
                    id,
                    event_type,
                    %error,
                    "webhook: the sale is recorded without its commission: take its transaction \
                     id to Affitor support; acknowledged, as a redelivery would be answered 409"
                );
            }
            Tracked::Failed(error) => {
                tracing::error!(
                    id,
                    event_type,
                    %error,
                    "webhook: Affitor refused it: answering 500 so that the provider keeps the \
                     event; mend what the error says, then resend it from the provider's dashboard"
                );
            }
            Tracked::Unreadable(field) => {
                tracing::error!(
                    id,
                    event_type,
                    field,
                    "webhook: a field the sale or refund needs cannot be read: nothing sent, \
                     answering 500 so that the provider keeps the event; report its payload"
                );
            }
            Tracked::Rejected(error) => {
                tracing::warn!(id, event_type, %error, "webhook: refused");
            }
        }
    }
}
