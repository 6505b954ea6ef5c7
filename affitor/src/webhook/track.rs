//! An event sent to Affitor, and what became of it: the answer to give the provider.

use std::borrow::Cow;
use std::time::{Duration, SystemTime};

use http::StatusCode;

use crate::Client;
use crate::client::{Endpoint, ErrorKind, Event, IntoEvent, Outcome, RefundOutcome, SaleOutcome};

use super::currency::SaleRate;
use super::error::WebhookError;
use super::event::{Action, Ignored, ProviderEvent, Refund, Sale};
use super::links;
use super::refunds::{Judged, RefundId, Refunds};
use super::state::{Custody, Fact};

/// What became of a webhook delivery, and the status to answer the provider:
/// [`status`](Self::status). See the table in the [module docs](crate::webhook).
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
    /// The sale or the refund (its endpoint named) is written in the verifier's
    /// [`PaymentState`](super::PaymentState) (an outbox), which delivers it, in order and with
    /// retries, whatever happens to this process: answered 200, as the provider need not
    /// deliver it again. What a state that stores events makes of every sale and refund.
    Stored(Endpoint),
    /// The refund was sent: what Affitor did with it.
    Refund(RefundOutcome),
    /// Nothing was sent, and why.
    Ignored(Ignored),
    /// A refund whose sale Affitor does not know yet, while the event is younger than the
    /// verifier's [`refund_grace`](super::Builder::refund_grace): the sale may still be on its way
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
    /// The status to answer the provider: 200 when handled (an organic sale, which the API
    /// credits no one for, too), 503 when the provider should deliver again later, 500 when it
    /// should keep the event until the app is mended or configured to take it, 400 (or 413)
    /// for a delivery that was refused.
    ///
    /// ```
    /// use affitor::webhook::{Ignored, Tracked};
    ///
    /// let tracked = Tracked::Ignored(Ignored::EventType);
    /// assert_eq!(tracked.status(), http::StatusCode::OK);
    /// ```
    pub fn status(&self) -> StatusCode {
        match self {
            Self::Sale(_) | Self::Refund(_) | Self::Stored(_) | Self::Ignored(_) => StatusCode::OK,
            Self::AwaitingSale(_) => StatusCode::SERVICE_UNAVAILABLE,
            Self::Failed(error) if error.is_retryable() => StatusCode::SERVICE_UNAVAILABLE,
            Self::Failed(error) if acknowledged(error) || error.is_organic_sale() => StatusCode::OK,
            Self::Failed(_) | Self::Unreadable(_) => StatusCode::INTERNAL_SERVER_ERROR,
            Self::Rejected(error) => error.status(),
        }
    }

    /// What the event came to, for the `result` label of the webhook metric.
    fn result(&self) -> &'static str {
        match self {
            Self::Sale(_) | Self::Refund(_) => "tracked",
            Self::Stored(_) => "stored",
            Self::Ignored(Ignored::MissingField(_) | Ignored::DisputeWon) => "attention",
            Self::Failed(error) if acknowledged(error) => "attention",
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

/// What a trial's key holds: begun, or paid since ([`TRIAL_PAID`] and the provider's id of the
/// event that paid it).
const TRIAL_STARTED: &str = "started";
const TRIAL_PAID: &str = "paid:";

/// The provider's id of the event that paid the trial whose key holds `trial`, once paid.
fn paid_by(trial: Option<&str>) -> Option<&str> {
    trial?.strip_prefix(TRIAL_PAID)
}

/// How long a trial is remembered: longer than any trial lasts (Stripe allows up to 730 days),
/// so that its first paid invoice is still told from a renewal.
const TRIAL_KEPT: Duration = Duration::from_secs(760 * 24 * 60 * 60);

/// How long a sale's refunds are remembered: longer than a payment can be refunded.
const REFUND_KEPT: Duration = Duration::from_secs(400 * 24 * 60 * 60);

/// How long a stored delivery is remembered: longer than any provider redelivers (Stripe for
/// three days, Polar for about one).
const DELIVERY_KEPT: Duration = Duration::from_secs(30 * 24 * 60 * 60);

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

/// What a delivery asks its [`PaymentState`](super::PaymentState) before anything is sent or
/// stored: whether it was stored before, what its subscription's trial is, which invoice its
/// Stripe payment intent paid, the refunds of its sale known before, and the rate its converted
/// sale was sent at. Asked in one trip (but for the rate a refund finds only under the
/// invoice: [`ProviderEvent::recall_invoice_rate`]).
#[derive(Default)]
struct Recalled {
    replayed: bool,
    /// The trial's value: begun (`started`), or paid since, by the event it names.
    trial: Option<String>,
    invoice: Option<String>,
    /// The refund fact of the sale this event refunds.
    refunds: Option<String>,
    /// The rate this event's converted sale, or the sale it refunds, was sent at before.
    rate: Option<SaleRate>,
}

/// The keys of [`Recalled`], in the order they are asked.
#[derive(Default)]
struct Wanted {
    keys: Vec<String>,
    delivery: Option<usize>,
    trial: Option<usize>,
    invoice: Option<usize>,
    refunds: Option<usize>,
    /// The sale's rate, under each id the event names its sale by.
    rates: Vec<usize>,
}

impl Wanted {
    fn push(&mut self, key: String) -> Option<usize> {
        self.keys.push(key);
        Some(self.keys.len() - 1)
    }

    fn read(&self, values: &[Option<String>]) -> Recalled {
        let value = |index: Option<usize>| index.and_then(|i| values.get(i)).cloned().flatten();
        Recalled {
            replayed: value(self.delivery).is_some(),
            trial: value(self.trial),
            invoice: value(self.invoice),
            refunds: value(self.refunds),
            rate: self
                .rates
                .iter()
                .find_map(|&i| value(Some(i)).as_deref().and_then(SaleRate::read)),
        }
    }
}

impl ProviderEvent {
    /// Tracks the event, and says what happened and what to answer the provider; logs it too.
    /// Nothing is sent for an ignored event.
    ///
    /// A verifier whose [`PaymentState`](super::PaymentState) stores events (an outbox: see
    /// [`Verifier::with_payment_state`](super::Verifier::with_payment_state)) writes a sale or a
    /// refund there and answers once it is committed ([`Tracked::Stored`]): the state delivers
    /// it, and holds a refund until its sale is known. Otherwise it is sent inline, with the
    /// client's retries, within the verifier's [`track_deadline`](super::Builder::track_deadline).
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
        let client = client.as_ref();
        let deadline = self.tracking.deadline;
        let mut second_refund = None;
        let sent = tokio::time::timeout(deadline, self.hand_over(client, &mut second_refund)).await;
        let tracked = sent.unwrap_or_else(|_| {
            Tracked::Failed(crate::Error::new(ErrorKind::Timeout).with_detail(format!(
                "no answer within the webhook's track deadline of {deadline:?}"
            )))
        });
        self.log(&tracked);
        let result = match (&second_refund, tracked.status()) {
            (Some(earlier), StatusCode::OK) => {
                self.log_second_refund(earlier, &tracked);
                "attention"
            }
            _ => tracked.result(),
        };
        count(self.tracking.provider, result);
        tracked
    }

    /// Recalls what the delivery needs (one trip to the payment state; another for the rate of
    /// a converted refund's invoice, see [`Self::recall_invoice_rate`]), then stores its sale or
    /// refund with the facts it showed (one more), or sends it and keeps those facts (a
    /// converted sale's rate before it is sent).
    ///
    /// `second_refund` is set to the provider's ids of the events of the sale's earlier
    /// refunds, when this event is a further refund of the sale (not the same one again).
    async fn hand_over(&self, client: &Client, second_refund: &mut Option<String>) -> Tracked {
        let wanted = self.wanted();
        let mut recalled = if wanted.keys.is_empty() {
            Recalled::default()
        } else {
            match self.tracking.state.recall(&wanted.keys).await {
                Ok(values) => wanted.read(&values),
                Err(error) => return Tracked::Failed(error),
            }
        };
        if recalled.replayed {
            return Tracked::Ignored(Ignored::Replayed);
        }
        if let Err(error) = self.recall_invoice_rate(&mut recalled).await {
            return Tracked::Failed(error);
        }
        let mut facts = self.facts_shown(&recalled);
        // What holds once the sale or refund is taken.
        let mut once_taken = Vec::new();
        let request = match &self.action {
            Action::Sale(sale) => {
                // A trial's first paid invoice, a "renewal" to the provider, is the
                // subscription's first sale.
                let sale = match self.paid_trial(&recalled) {
                    Some(key) => {
                        let paid = format!("{TRIAL_PAID}{}", self.id);
                        once_taken.push(Fact::new(key, paid, TRIAL_KEPT));
                        Cow::Owned(Sale {
                            is_recurring: false,
                            ..sale.clone()
                        })
                    }
                    None => Cow::Borrowed(sale),
                };
                // The rate is kept whatever becomes of the sale: its redelivery, once the
                // rate has moved, sends what this one did.
                sale.request_to_send(client, &self.tracking, recalled.rate.as_ref())
                    .and_then(|(request, rate)| {
                        facts.extend(rate.iter().flat_map(|rate| self.rate_facts(&sale, rate)));
                        request.into_event()
                    })
            }
            Action::Refund(refund) => {
                if let Judged::New { value, second } = self.judge_refund(refund, &recalled) {
                    once_taken.push(Fact::new(self.refund_key(refund), value, REFUND_KEPT));
                    *second_refund = second;
                }
                self.refund_request(refund, client, &recalled)
                    .and_then(IntoEvent::into_event)
            }
            Action::Ignore(why) => return self.keep(facts, Tracked::Ignored(why.clone())).await,
            Action::Unreadable(field) => return self.keep(facts, Tracked::Unreadable(field)).await,
        };
        match request {
            Ok(event) => self.store_or_send(event, client, facts, once_taken).await,
            Err(error) => self.keep(facts, Tracked::Failed(error)).await,
        }
    }

    /// Hands `event` to the payment state with every fact (one transaction, for a state that
    /// stores events); or, handed back, sends it, then keeps the facts shown and, once it is
    /// taken, those of `once_taken`.
    async fn store_or_send(
        &self,
        event: Event,
        client: &Client,
        mut facts: Vec<Fact>,
        once_taken: Vec<Fact>,
    ) -> Tracked {
        let endpoint = event.endpoint();
        let stored: Vec<Fact> = facts
            .iter()
            .chain(&once_taken)
            .cloned()
            .chain(self.delivery_fact())
            .collect();
        match self.tracking.state.store(event, &stored).await {
            Ok(Custody::Stored) => Tracked::Stored(endpoint),
            Ok(Custody::Returned(event)) => {
                // A converted sale's rate is kept before it goes: a send cut off by the
                // deadline may still reach Affitor, and its redelivery must send the same.
                let rates: Vec<Fact> = facts
                    .iter()
                    .filter(|fact| SaleRate::is_key(&fact.key))
                    .cloned()
                    .collect();
                if !rates.is_empty() {
                    if let Err(error) = self.tracking.state.remember(&rates).await {
                        return Tracked::Failed(error);
                    }
                }
                let tracked = self.send(&event, client).await;
                if matches!(tracked, Tracked::Sale(_) | Tracked::Refund(_)) {
                    facts.extend(once_taken);
                }
                self.keep(facts, tracked).await
            }
            Err(error) => Tracked::Failed(error),
        }
    }

    /// What the payment state is asked before the event is handled. An event that leaves
    /// nothing in it (an ignored one that shows no fact) asks it nothing: answered 200 while
    /// the store fails, rather than 503 (a provider disables an endpoint that fails for long).
    fn wanted(&self) -> Wanted {
        let mut wanted = Wanted::default();
        let leaves_nothing = match &self.action {
            Action::Ignore(Ignored::TrialStarted(_)) => false,
            Action::Ignore(_) | Action::Unreadable(_) => self.links.is_empty(),
            Action::Sale(_) | Action::Refund(_) => false,
        };
        if leaves_nothing {
            return wanted;
        }
        if let Some(fact) = self.delivery_fact() {
            wanted.delivery = wanted.push(fact.key);
        }
        match &self.action {
            Action::Sale(Sale {
                is_recurring: true,
                subscription_id: Some(subscription),
                ..
            })
            | Action::Ignore(Ignored::TrialStarted(subscription)) => {
                wanted.trial = wanted.push(self.trial_key(subscription));
            }
            Action::Refund(refund) => {
                if refund.other_transaction_id.is_none()
                    && self.tracking.provider == <super::Stripe as super::Provider>::NAME
                    && refund.transaction_id.starts_with("pi_")
                {
                    wanted.invoice = wanted.push(links::key(&refund.transaction_id));
                }
                wanted.refunds = wanted.push(self.refund_key(refund));
            }
            _ => {}
        }
        // A converted sale's rate, under each id the event names the sale by.
        let named: Vec<&String> = match &self.action {
            Action::Sale(sale) if sale.is_converted() => vec![&sale.transaction_id],
            Action::Refund(refund) if refund.is_converted() => {
                std::iter::once(&refund.transaction_id)
                    .chain(&refund.other_transaction_id)
                    .collect()
            }
            _ => Vec::new(),
        };
        for transaction_id in named {
            let index = wanted.push(SaleRate::key(self.tracking.provider, transaction_id));
            wanted.rates.extend(index);
        }
        wanted
    }

    /// The facts the event showed, kept whatever becomes of its sale or refund: the Stripe
    /// payment intent → invoice links, and a trial's start, unless the trial is paid since (a
    /// late redelivery of its start, or a replay, never makes its next renewal a first sale).
    fn facts_shown(&self, recalled: &Recalled) -> Vec<Fact> {
        let mut facts: Vec<Fact> = self
            .links
            .iter()
            .map(|(payment_intent, invoice)| {
                Fact::new(
                    links::key(payment_intent),
                    invoice.as_str(),
                    links::KEEP_FOR,
                )
            })
            .collect();
        if let Action::Ignore(Ignored::TrialStarted(subscription)) = &self.action {
            if paid_by(recalled.trial.as_deref()).is_none() {
                facts.push(Fact::new(
                    self.trial_key(subscription),
                    TRIAL_STARTED,
                    TRIAL_KEPT,
                ));
            }
        }
        facts
    }

    /// The fact a delivery is known by, so that its redelivery is acknowledged without being
    /// stored or sent again: its provider's delivery id (Lemon Squeezy: its signature), or the
    /// provider's id of the event.
    fn delivery_fact(&self) -> Option<Fact> {
        let key = match (&self.delivery, self.id.is_empty()) {
            (Some(delivery), _) => delivery.clone(),
            (None, false) => super::state::delivery_key(self.tracking.provider, &self.id),
            (None, true) => return None,
        };
        Some(Fact::new(key, self.id.as_str(), DELIVERY_KEPT))
    }

    /// The rate of the invoice a converted refund's payment intent paid, when it is known
    /// only under the invoice (a sale whose event did not name the payment intent): a second
    /// trip to the payment state, for that refund alone.
    async fn recall_invoice_rate(&self, recalled: &mut Recalled) -> Result<(), crate::Error> {
        let (Action::Refund(refund), Some(invoice)) = (&self.action, &recalled.invoice) else {
            return Ok(());
        };
        if refund.is_converted() && recalled.rate.is_none() {
            let key = [SaleRate::key(self.tracking.provider, invoice)];
            let values = self.tracking.state.recall(&key).await?;
            recalled.rate = values
                .into_iter()
                .flatten()
                .find_map(|v| SaleRate::read(&v));
        }
        Ok(())
    }

    /// The facts that keep the rate `sale` was converted at, under each id its refunds may
    /// name: its transaction id, and the Stripe payment intents the event shows paid it.
    fn rate_facts(&self, sale: &Sale, rate: &SaleRate) -> Vec<Fact> {
        let paid_by = self
            .links
            .iter()
            .filter(|(_, invoice)| *invoice == sale.transaction_id)
            .map(|(payment_intent, _)| payment_intent);
        std::iter::once(&sale.transaction_id)
            .chain(paid_by)
            .map(|named| {
                let key = SaleRate::key(self.tracking.provider, named);
                Fact::new(key, rate.value(), REFUND_KEPT)
            })
            .collect()
    }

    /// The trial's key when this event is the first paid renewal of a subscription whose trial
    /// began without a payment: the trial is begun, or was paid by this very event (stored, and
    /// given up on since: [`Fact::is_delivery`]), which is then the first sale again.
    fn paid_trial(&self, recalled: &Recalled) -> Option<String> {
        let Action::Sale(Sale {
            is_recurring: true,
            subscription_id: Some(subscription),
            ..
        }) = &self.action
        else {
            return None;
        };
        let trial = recalled.trial.as_deref();
        let first = trial == Some(TRIAL_STARTED)
            || paid_by(trial).is_some_and(|by| !by.is_empty() && by == self.id);
        first.then(|| self.trial_key(subscription))
    }

    /// The key the refunds of a sale are remembered under: its Stripe payment intent when the
    /// event names one beside the invoice (a `charge.refunded` before API version 2025-03-31),
    /// as every refund and dispute of that sale names it.
    fn refund_key(&self, refund: &Refund) -> String {
        let sale = refund
            .other_transaction_id
            .as_deref()
            .unwrap_or(&refund.transaction_id);
        format!("refund:{}:{sale}", self.tracking.provider)
    }

    /// What `refund` is to the refunds of its sale known before: the same again, or a new one
    /// (and then whether it is a further refund of the sale). A refund whose event names no
    /// identity of its own is known by the event's id.
    fn judge_refund(&self, refund: &Refund, recalled: &Recalled) -> Judged {
        let identity = refund
            .identity
            .clone()
            .unwrap_or_else(|| RefundId::Refund(self.id.clone()));
        Refunds::read(recalled.refunds.as_deref().unwrap_or_default()).judge(&identity, &self.id)
    }

    /// A further refund of one sale: the API may answer it without a further reversal (a
    /// partial refund, then a full one, leaves the rest of the commission paid), so it is
    /// counted `attention` and warned with the events' ids, whatever the API answered.
    fn log_second_refund(&self, earlier: &str, tracked: &Tracked) {
        let transaction_id = match &self.action {
            Action::Refund(refund) => refund.transaction_id.as_str(),
            _ => "",
        };
        tracing::warn!(
            id = self.id,
            earlier_refunds = earlier,
            transaction_id,
            ?tracked,
            "webhook: a second refund of the same sale: Affitor reverses a sale's commission \
             once (a partial refund deducts its share; a later refund of the same sale is \
             answered `skipped`), so the rest may still be paid; check the commission in the \
             Affitor dashboard and adjust it by hand"
        );
    }

    /// The key a subscription's trial is remembered under.
    fn trial_key(&self, subscription: &str) -> String {
        format!("trial:{}:{subscription}", self.tracking.provider)
    }

    /// Keeps `facts` in the payment state, and answers `tracked`; or, when they cannot be kept,
    /// a failure, so that the provider delivers the event again and they are kept then.
    ///
    /// A delivery that asks nothing of Affitor and shows facts (a trial's start, a payment's
    /// link) is remembered with them, as a stored one is: its redelivery is acknowledged, and
    /// never writes them again over what came since.
    async fn keep(&self, mut facts: Vec<Fact>, tracked: Tracked) -> Tracked {
        if facts.is_empty() {
            return tracked;
        }
        if matches!(tracked, Tracked::Ignored(_)) {
            facts.extend(self.delivery_fact());
        }
        match self.tracking.state.remember(&facts).await {
            Ok(()) => tracked,
            Err(error) => {
                tracing::warn!(
                    id = self.id,
                    ?tracked,
                    "webhook: what the event showed could not be kept: answering 503 so that \
                     the provider delivers it again"
                );
                Tracked::Failed(error)
            }
        }
    }

    /// Sends the sale or the refund.
    async fn send(&self, event: &Event, client: &Client) -> Tracked {
        match client.send_event(event).await {
            Ok(Outcome::Sale(outcome)) => Tracked::Sale(outcome),
            Ok(Outcome::Refund(outcome)) => Tracked::Refund(outcome),
            Ok(other) => Tracked::Failed(
                crate::Error::new(ErrorKind::Decode)
                    .with_detail(format!("a payment's event answered {other:?}")),
            ),
            Err(error)
                if error.kind() == ErrorKind::SaleNotFound
                    && event.endpoint() == Endpoint::Refund
                    && self.within_refund_grace() =>
            {
                Tracked::AwaitingSale(error)
            }
            Err(error) => Tracked::Failed(error),
        }
    }

    /// The refund's request: under its transaction id, or under the invoice its Stripe payment
    /// intent paid (as the payment state recalled it), and then under the other id the sale may
    /// be keyed by.
    fn refund_request(
        &self,
        refund: &Refund,
        client: &Client,
        recalled: &Recalled,
    ) -> Result<crate::RefundRequest, crate::Error> {
        let amount = refund.amount_to_send(&self.tracking, recalled.rate.as_ref())?;
        let (transaction_id, other) = match (&refund.other_transaction_id, &recalled.invoice) {
            (Some(other), _) => (refund.transaction_id.clone(), Some(other.clone())),
            (None, Some(invoice)) => (invoice.clone(), Some(refund.transaction_id.clone())),
            (None, None) => (refund.transaction_id.clone(), None),
        };
        let request = refund.request_for(client, &transaction_id, amount);
        Ok(match other {
            Some(other) => request.or_transaction_id(other),
            None => request,
        })
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
            Tracked::Stored(endpoint) => {
                tracing::info!(
                    id,
                    event_type,
                    %endpoint,
                    "webhook: stored in the outbox, which delivers it"
                );
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
                tracing::warn!(
                    id,
                    event_type,
                    transaction_id,
                    other_transaction_id,
                    "webhook: refund of a sale Affitor never recorded (an organic sale, or one \
                     whose sale never came within the refund grace): acknowledged without \
                     effect; if a partner referred it, reverse its commission in the Affitor \
                     dashboard (an outbox holds such refunds until their sale lands)"
                );
            }
            Tracked::Failed(error) if error.is_retryable() => {
                // As an error value: the subscriber prints its causes too (a store's answer).
                tracing::warn!(
                    id,
                    event_type,
                    error = error as &dyn std::error::Error,
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
            Tracked::Failed(error) if error.is_organic_sale() => {
                tracing::info!(
                    id,
                    event_type,
                    %error,
                    "webhook: an organic sale (no partner brought this customer): Affitor \
                     credits no one for it; acknowledged"
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
