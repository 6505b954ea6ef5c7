//! An event sent to Affitor, and what became of it: the answer to give the provider.

use std::borrow::Cow;
use std::time::{Duration, SystemTime};

use http::StatusCode;

use crate::Client;
use crate::client::{Endpoint, ErrorKind, IntoEvent, RefundOutcome, SaleOutcome};

use super::error::WebhookError;
use super::event::{Action, Ignored, ProviderEvent, Refund, Sale};
use super::links;

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
    /// The sale or the refund (its endpoint named) is written in the client's durable backend
    /// (an outbox), which delivers it, in order and with retries, whatever happens to this
    /// process: answered 200, as the provider need not deliver it again. What the client's
    /// [`Backend::is_durable`](crate::client::Backend::is_durable) makes of every sale and refund.
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
            Self::Sale(_) | Self::Refund(_) | Self::Stored(_) | Self::Ignored(_) => StatusCode::OK,
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

/// What a trial's key holds: begun, or paid since.
const TRIAL_STARTED: &str = "started";
const TRIAL_PAID: &str = "paid";

/// How long a trial is remembered: longer than any trial lasts.
const TRIAL_KEPT: Duration = Duration::from_secs(400 * 24 * 60 * 60);

/// How long a durable backend remembers a delivery of a provider that signs no timestamp.
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

impl ProviderEvent {
    /// Tracks the event, and says what happened and what to answer the provider; logs it too.
    /// Nothing is sent for an ignored event.
    ///
    /// With a client whose backend is [durable](crate::client::Backend::is_durable) (an outbox), a sale or a
    /// refund is written in its store and answered once written ([`Tracked::Stored`]): the
    /// backend delivers it, and holds a refund until its sale is known. Otherwise it is sent
    /// inline, with the client's retries, within the verifier's
    /// [`track_deadline`](super::Builder::track_deadline).
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
        let sent = tokio::time::timeout(deadline, self.hand_over(client)).await;
        let tracked = sent.unwrap_or_else(|_| {
            Tracked::Failed(crate::Error::new(ErrorKind::Timeout).with_detail(format!(
                "no answer within the webhook's track deadline of {deadline:?}"
            )))
        });
        self.log(&tracked);
        count(self.tracking.provider, tracked.result());
        tracked
    }

    /// Acknowledges a replay the client's backend remembers; otherwise keeps the facts the
    /// event showed, stores or sends its sale or refund, and remembers the delivery.
    async fn hand_over(&self, client: &Client) -> Tracked {
        let backend = client.backend();
        let Some(delivery) = &self.delivery else {
            return self.hand_over_once(client).await;
        };
        match backend.recall(delivery).await {
            Ok(Some(_)) => return Tracked::Ignored(Ignored::Replayed),
            Ok(None) => {}
            Err(error) => return Tracked::Failed(error),
        }
        let tracked = self.hand_over_once(client).await;
        if matches!(
            tracked,
            Tracked::Stored(_) | Tracked::Sale(_) | Tracked::Refund(_)
        ) && let Err(error) = backend.remember(delivery, &self.id, DELIVERY_KEPT).await
        {
            // Stored all the same: a replay would be stored again, and recorded once.
            tracing::warn!(id = self.id, %error, "webhook: the delivery could not be remembered");
        }
        tracked
    }

    /// Keeps the facts the event showed, then stores or sends its sale or refund.
    async fn hand_over_once(&self, client: &Client) -> Tracked {
        let backend = client.backend();
        for (payment_intent, invoice) in &self.links {
            let key = links::key(payment_intent);
            if let Err(error) = backend.remember(&key, invoice, links::KEEP_FOR).await {
                return Tracked::Failed(error);
            }
        }
        // A trial's start is remembered; its first paid invoice, a "renewal" to the provider,
        // is the subscription's first sale.
        if let Action::Ignore(Ignored::TrialStarted(subscription)) = &self.action {
            let key = self.trial_key(subscription);
            self.tracking.trials.record(&key, TRIAL_STARTED);
            if let Err(error) = backend.remember(&key, TRIAL_STARTED, TRIAL_KEPT).await {
                return Tracked::Failed(error);
            }
        }
        let paid_trial = match self.trial_paid_now(client).await {
            Ok(paid_trial) => paid_trial,
            Err(error) => return Tracked::Failed(error),
        };
        let action = match (&self.action, &paid_trial) {
            (Action::Sale(sale), Some(_)) => Cow::Owned(Action::Sale(Sale {
                is_recurring: false,
                ..sale.clone()
            })),
            (action, _) => Cow::Borrowed(action),
        };
        let tracked = self.send_or_store(&action, client).await;
        if let Some(key) = paid_trial
            && matches!(tracked, Tracked::Stored(_) | Tracked::Sale(_))
        {
            self.tracking.trials.record(&key, TRIAL_PAID);
            if let Err(error) = backend.remember(&key, TRIAL_PAID, TRIAL_KEPT).await {
                tracing::warn!(id = self.id, %error, "webhook: a trial's first payment could not be remembered");
            }
        }
        tracked
    }

    /// The key a subscription's trial is remembered under.
    fn trial_key(&self, subscription: &str) -> String {
        format!("trial:{}:{subscription}", self.tracking.provider)
    }

    /// The trial's key when this event is the first paid renewal of a subscription whose trial
    /// began without a payment.
    async fn trial_paid_now(&self, client: &Client) -> Result<Option<String>, crate::Error> {
        let Action::Sale(sale) = &self.action else {
            return Ok(None);
        };
        let (true, Some(subscription)) = (sale.is_recurring, &sale.subscription_id) else {
            return Ok(None);
        };
        let key = self.trial_key(subscription);
        let state = match self.tracking.trials.get(&key) {
            Some(state) => Some(state),
            None => client.backend().recall(&key).await?,
        };
        Ok((state.as_deref() == Some(TRIAL_STARTED)).then_some(key))
    }

    /// Stores the sale or refund of `action` in a durable backend, or sends it.
    async fn send_or_store(&self, action: &Action, client: &Client) -> Tracked {
        let backend = client.backend();
        if !backend.is_durable() {
            return self.send(action, client).await;
        }
        let event = match action {
            Action::Sale(sale) => sale
                .request_to_send(client, &self.tracking)
                .and_then(IntoEvent::into_event),
            Action::Refund(refund) => match self.refund_request(refund, client).await {
                Ok(request) => request.into_event(),
                Err(error) => Err(error),
            },
            Action::Ignore(why) => return Tracked::Ignored(why.clone()),
            Action::Unreadable(field) => return Tracked::Unreadable(field),
        };
        let event = match event {
            Ok(event) => event,
            Err(error) => return Tracked::Failed(error),
        };
        let endpoint = event.endpoint();
        match backend.store(event).await {
            Ok(()) => Tracked::Stored(endpoint),
            Err(error) => Tracked::Failed(error),
        }
    }

    /// Sends the sale or the refund, or nothing.
    async fn send(&self, action: &Action, client: &Client) -> Tracked {
        match action {
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
            Action::Refund(refund) => {
                let sent = match self.refund_request(refund, client).await {
                    Ok(request) => request.send().await,
                    Err(error) => Err(error),
                };
                match sent {
                    Ok(outcome) => Tracked::Refund(outcome),
                    Err(error)
                        if error.kind() == ErrorKind::SaleNotFound
                            && self.within_refund_grace() =>
                    {
                        Tracked::AwaitingSale(error)
                    }
                    Err(error) => Tracked::Failed(error),
                }
            }
            Action::Ignore(why) => Tracked::Ignored(why.clone()),
            Action::Unreadable(field) => Tracked::Unreadable(field),
        }
    }

    /// The refund's request: under its transaction id, or under the invoice a durable
    /// backend knows its Stripe payment intent paid, and then under the other id the sale may
    /// be keyed by.
    async fn refund_request(
        &self,
        refund: &Refund,
        client: &Client,
    ) -> Result<crate::RefundRequest, crate::Error> {
        let amount = refund.amount_to_send(&self.tracking)?;
        let (transaction_id, other) = match &refund.other_transaction_id {
            Some(other) => (refund.transaction_id.clone(), Some(other.clone())),
            None => match self.invoice_paid_by(&refund.transaction_id, client).await? {
                Some(invoice) => (invoice, Some(refund.transaction_id.clone())),
                None => (refund.transaction_id.clone(), None),
            },
        };
        let request = refund.request_for(client, &transaction_id, amount);
        Ok(match other {
            Some(other) => request.or_transaction_id(other),
            None => request,
        })
    }

    /// The invoice a Stripe payment intent paid, as the client's backend keeps it (a
    /// durable one, shared by every replica); `None` for any other id, or a link not kept.
    async fn invoice_paid_by(
        &self,
        payment_intent: &str,
        client: &Client,
    ) -> Result<Option<String>, crate::Error> {
        if self.tracking.provider != <super::Stripe as super::Provider>::NAME
            || !payment_intent.starts_with("pi_")
        {
            return Ok(None);
        }
        client.backend().recall(&links::key(payment_intent)).await
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
