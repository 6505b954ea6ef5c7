//! A verified event, and what it asks of Affitor: a sale, a refund, or nothing and why.

use std::fmt;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use serde_json::{Map, Value};

use crate::{
    ClickId, Client, RefundRequest, SaleRequest,
    client::{Currency, SaleType},
    endpoint::Endpoint,
};

use super::currency::{self, SaleRate};
use super::refunds::RefundId;

/// A verified webhook event, and what it asks of Affitor.
///
/// Made by [`Verifier::verify`](super::Verifier::verify); [`track`](Self::track) sends it.
///
/// ```
/// # {
/// use affitor::webhook::{Action, Stripe, Verifier};
/// # use affitor_mock::SignedWebhook;
///
/// let stripe = Verifier::<Stripe>::new("whsec_test_signing")?;
/// # let body = r#"{"id":"evt_1","type":"customer.created","data":{"object":{}}}"#;
/// # let signed = SignedWebhook::stripe("whsec_test_signing", body);
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
    pub(super) tracking: Arc<Tracking>,
    /// The Stripe payment intent → invoice links the event showed, which `track` keeps in the
    /// verifier's payment state for the refunds to come.
    pub(super) links: Vec<(String, String)>,
    /// The key the delivery is known by when its provider signs no timestamp (Lemon
    /// Squeezy): a replay of a delivery handled before is found by it in the payment state.
    pub(super) delivery: Option<String>,
}

impl ProviderEvent {
    /// A verified event, tracked with `tracking`.
    pub(crate) fn new(
        id: String,
        event_type: String,
        action: Action,
        created: Option<SystemTime>,
        tracking: Arc<Tracking>,
    ) -> Self {
        // A payment for a change of plan is a sale unless the verifier says otherwise: the
        // same rule for every provider.
        let action = match action {
            Action::Sale(sale) if sale.upgrade && !tracking.track_upgrades => Action::Ignore(
                Ignored::BillingReason(sale.reason.unwrap_or_else(|| "upgrade".to_owned())),
            ),
            action => action,
        };
        Self {
            id,
            event_type,
            action,
            created,
            tracking,
            links: Vec::new(),
            delivery: None,
        }
    }

    /// The event, known by `delivery` against replays.
    pub(crate) fn with_delivery(mut self, delivery: String) -> Self {
        self.delivery = Some(delivery);
        self
    }

    /// The event, with the payment links it showed.
    pub(crate) fn with_links(mut self, links: Vec<(String, String)>) -> Self {
        self.links = links;
        self
    }
}

/// How long tracking an event inline may take before the handler answers 503 (default): under
/// the 10 s Polar gives a webhook endpoint to answer, and Stripe's own limit.
pub(crate) const DEFAULT_TRACK_DEADLINE: Duration = Duration::from_secs(8);

/// How long a refund whose sale Affitor does not know yet is answered 503 (so the provider
/// delivers it again) unless configured: a day from the event, within both Stripe's (three
/// days) and Polar's retry schedules.
pub(crate) const DEFAULT_REFUND_GRACE: Duration = Duration::from_secs(24 * 60 * 60);

/// How a verifier's events are tracked: its [`Builder`]'s settings, shared with each event.
#[derive(Clone)]
pub(crate) struct Tracking {
    /// Whether a payment for a change of plan is a sale ([`Builder::track_upgrades`]).
    pub(crate) track_upgrades: bool,
    /// What later deliveries need to know, and where a payment's event is stored
    /// ([`Verifier::with_payment_state`](super::Verifier::with_payment_state)).
    pub(crate) state: Arc<dyn super::PaymentState>,
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
            track_upgrades: true,
            state: Arc::new(super::state::MemoryState::new()),
            provider: "",
            deadline: DEFAULT_TRACK_DEADLINE,
            refund_grace: DEFAULT_REFUND_GRACE,
            converter: None,
        }
    }
}

impl fmt::Debug for Tracking {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Tracking")
            .field("track_upgrades", &self.track_upgrades)
            .field("provider", &self.provider)
            .field("deadline", &self.deadline)
            .field("refund_grace", &self.refund_grace)
            .field("converter", &self.converter)
            .finish_non_exhaustive()
    }
}

impl PartialEq for Tracking {
    fn eq(&self, other: &Self) -> bool {
        let same_converter = match (&self.converter, &other.converter) {
            (Some(a), Some(b)) => Arc::ptr_eq(&a.0, &b.0),
            (a, b) => a.is_none() && b.is_none(),
        };
        self.provider == other.provider
            && self.track_upgrades == other.track_upgrades
            && self.deadline == other.deadline
            && self.refund_grace == other.refund_grace
            && same_converter
            && std::ptr::addr_eq(Arc::as_ptr(&self.state), Arc::as_ptr(&other.state))
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
    /// would take for USD), a refund that does not say it is full and whose amount is
    /// unreadable (which would reverse the whole commission), or an amount in a currency whose
    /// minor unit affitor does not know for the provider (a guess could pay a hundred times the
    /// sale; a warning names the currency). Nothing is sent, and
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
    /// The idempotency key, and the key its refund will name (see the [module docs](crate::webhook)).
    pub transaction_id: String,
    /// The amount paid, in the currency's ISO 4217 minor units (read from the provider's own:
    /// Stripe writes ISK with two decimals, ISO with none); never 0.
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
    /// Why the provider took the payment, as it names it, sent as
    /// `additional_data.billing_reason`: Stripe's invoice `billing_reason`
    /// (`subscription_create`, `subscription_cycle`, `subscription_update`), Paddle's `origin`
    /// (`web`, `subscription_recurring`, `subscription_update`, ...), Polar's `billing_reason`,
    /// Lemon Squeezy's invoice `billing_reason`; the event's type where the provider names none
    /// (a Stripe checkout session, a Lemon Squeezy order).
    pub reason: Option<String>,
    /// Whether it pays for a change of plan (an upgrade, a proration), which the verifier's
    /// [`track_upgrades`](super::Builder::track_upgrades) decides on.
    pub(super) upgrade: bool,
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
        let data = self.additional_data();
        if !data.is_empty() {
            request = request.additional_data(data);
        }
        request.test_mode(self.test_mode)
    }

    /// What the sale sends in `additional_data`: the provider's reason.
    fn additional_data(&self) -> Map<String, Value> {
        let mut data = Map::new();
        if let Some(reason) = &self.reason {
            data.insert("billing_reason".to_owned(), Value::from(reason.as_str()));
        }
        data
    }

    /// Whether its amount is in a currency the API does not take, to be converted.
    pub(super) fn is_converted(&self) -> bool {
        !self.currency.is_supported()
    }

    /// The sale in a currency the API takes: itself, or converted (the original amount and
    /// currency kept in `additional_data`) at the rate `kept` for its transaction before, else
    /// with `tracking`'s converter, and then the rate to keep for it (none when it was kept).
    pub(super) fn request_to_send(
        &self,
        client: &Client,
        tracking: &Tracking,
        kept: Option<&SaleRate>,
    ) -> Result<(SaleRequest, Option<SaleRate>), crate::Error> {
        let from = &self.currency;
        if !self.is_converted() {
            return Ok((self.request(client), None));
        }
        let (amount_cents, into, new) = match kept.and_then(|r| r.sale(self.amount_cents, from)) {
            Some((sent, into)) => (sent, into, None),
            None => {
                let converter = tracking.converter.as_ref();
                let (sent, into) =
                    currency::to_supported(Endpoint::Sale, self.amount_cents, from, converter)?;
                let rate = SaleRate::new(from.clone(), self.amount_cents, into.clone(), sent);
                (sent, into, rate)
            }
        };
        let converted = Self {
            amount_cents,
            currency: into,
            ..self.clone()
        };
        let mut original = self.additional_data();
        original.insert("original_amount".to_owned(), Value::from(self.amount_cents));
        original.insert(
            "original_currency".to_owned(),
            Value::from(from.to_string()),
        );
        Ok((converted.request(client).additional_data(original), new))
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
    /// The amount of this refund, for a partial one, in ISO 4217 minor units as
    /// [`Sale::amount_cents`]; `None` for a full refund.
    pub amount_cents: Option<u64>,
    /// The currency of `amount_cents`: always there with an amount; for a full refund, when
    /// the event names a valid one.
    pub currency: Option<Currency>,
    /// Why, when the provider says: a dispute's reason, for example.
    pub reason: Option<String>,
    /// What tells this refund from the sale's others (the provider's id of the refund, or the
    /// sale's refunded total); `None`: the event's id stands for it.
    pub(super) identity: Option<RefundId>,
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
    pub(super) fn request_for(
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

    /// Whether its amount is in a currency the API does not take, to be converted.
    pub(super) fn is_converted(&self) -> bool {
        self.amount_cents.is_some()
            && self
                .currency
                .as_ref()
                .is_some_and(|from| !from.is_supported())
    }

    /// The amount to send, in the currency the sale was sent in: converted like the sale when
    /// the event's currency is one the API does not take, at the sale's `rate` when it is
    /// known, else at today's. A full refund needs no amount.
    pub(super) fn amount_to_send(
        &self,
        tracking: &Tracking,
        rate: Option<&SaleRate>,
    ) -> Result<Option<u64>, crate::Error> {
        let (Some(amount), Some(from)) = (self.amount_cents, &self.currency) else {
            return Ok(self.amount_cents);
        };
        if from.is_supported() {
            return Ok(Some(amount));
        }
        if let Some(sent) = rate.and_then(|rate| rate.refund(amount, from)) {
            return Ok(Some(sent));
        }
        let converter = tracking.converter.as_ref();
        let (amount, _) = currency::to_supported(Endpoint::Refund, amount, from, converter)?;
        Ok(Some(amount))
    }
}

/// Why an event asks nothing of Affitor. Each is answered 200: a redelivery would not change it.
///
/// ```
/// use affitor::webhook::Ignored;
///
/// assert_eq!(Ignored::NoAmount.to_string(), "nothing was paid or refunded");
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Ignored {
    /// An event type that is neither a sale nor a refund for Affitor.
    EventType,
    /// A checkout session whose payment has not gone through yet (an asynchronous payment
    /// method): its `checkout.session.async_payment_succeeded` will be the sale.
    NotPaid,
    /// A payment whose reason asks nothing of Affitor (named): a Stripe invoice for `manual`
    /// billing, a Lemon Squeezy subscription's `initial` invoice (its order is the sale), or a
    /// change of plan with [`track_upgrades`](super::Builder::track_upgrades) off.
    BillingReason(String),
    /// Nothing was paid or refunded: an amount of 0 (a free trial, a 100% coupon), a refund
    /// that failed, a charge that refunds nothing more. An amount that cannot be read is
    /// [`Action::Unreadable`], not this.
    NoAmount,
    /// Neither a customer key nor a click id: the customer did not come through a partner, or
    /// the checkout did not carry the Affitor metadata.
    NoCustomer,
    /// The event lacks a field the sale or refund needs (named).
    MissingField(&'static str),
    /// A refund or a dispute of the provider's test mode: its sale was sent as a test event,
    /// which holds no commission to reverse (the API has no test refunds).
    TestRefund,
    /// A dispute the merchant won. A chargeback's commission was reversed when it opened
    /// (`charge.dispute.created`) and the API has no call to restore it: restore it in the
    /// Affitor dashboard if the partner is owed it. An inquiry that escalated to a chargeback
    /// opened as an inquiry, so its commission was never reversed and stands. Logged at
    /// `warn`.
    DisputeWon,
    /// A Stripe dispute that is an inquiry (its status named: `warning_needs_response`,
    /// `warning_under_review`, `warning_closed`): the card issuer asks about the payment and
    /// Stripe withdraws no funds, so the commission stands. Logged at `info`. If the issuer
    /// escalates it to a chargeback that the merchant loses, its `charge.dispute.closed` with
    /// `status: lost` reverses the commission.
    Inquiry(String),
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
    /// A subscription (its id named) began without a payment: a free trial, a 100% coupon. Its
    /// first paid invoice, which the providers label a renewal, is sent as its first sale
    /// (`is_recurring: false`): the verifier remembers the trial in its
    /// [`PaymentState`](super::PaymentState).
    TrialStarted(String),
    /// A delivery handled before, delivered again (the provider retried, or, for Lemon Squeezy,
    /// which signs no timestamp, a replay): the verifier's [`PaymentState`](super::PaymentState)
    /// remembers the deliveries it stored, and those that asked nothing but showed facts (a
    /// trial's start, a payment's link), and takes each once: a replay never writes its facts
    /// again over what came since (a trial paid since stays paid). A stored delivery is
    /// forgotten when the state gives its event up (a dead letter), so that a resend of it is
    /// stored again.
    Replayed,
}

impl fmt::Display for Ignored {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::EventType => f.write_str("not a sale or refund event"),
            Self::NotPaid => f.write_str("the payment has not gone through yet"),
            Self::BillingReason(reason) => {
                write!(
                    f,
                    "a payment for `{}`, which is not tracked",
                    reason.escape_default()
                )
            }
            Self::NoAmount => f.write_str("nothing was paid or refunded"),
            Self::NoCustomer => f.write_str("no customer key and no click id"),
            Self::MissingField(field) => write!(f, "the event has no `{field}`"),
            Self::TestRefund => f.write_str("a refund of test mode: its sale paid no commission"),
            Self::DisputeWon => f.write_str(
                "a dispute won: a commission reversed when the chargeback opened stays \
                 reversed (restore it in the Affitor dashboard if the partner is owed it); an \
                 inquiry escalated to a chargeback was never reversed, and its commission stands",
            ),
            Self::Inquiry(status) => write!(
                f,
                "a dispute inquiry (`{}`): the card issuer asks, no funds are withdrawn, the \
                 commission stands; a chargeback lost after it is reversed when it closes",
                status.escape_default()
            ),
            Self::PaymentLinked => {
                f.write_str("links an invoice to its payment intent, for the refunds to come")
            }
            Self::NotApproved(status) => write!(
                f,
                "a refund not approved: `{}`; its approval will be the refund",
                status.escape_default()
            ),
            Self::Replayed => f.write_str("a delivery handled before, delivered again"),
            Self::TrialStarted(subscription) => write!(
                f,
                "subscription `{}` began without a payment: its first paid invoice will be its \
                 first sale",
                subscription.escape_default()
            ),
            Self::ReturnsNoPayment(action) => write!(
                f,
                "an adjustment `{}`, which returns no payment",
                action.escape_default()
            ),
        }
    }
}
