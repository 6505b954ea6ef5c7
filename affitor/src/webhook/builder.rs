//! The builder of both verifiers.

use std::fmt;
use std::marker::PhantomData;
use std::sync::Arc;
use std::time::Duration;

use super::currency::{Converter, CurrencyConverter};
use super::error::WebhookError;
use super::event::{DEFAULT_REFUND_GRACE, Tracking};
use super::signature::{
    Config, DEFAULT_BODY_LIMIT, DEFAULT_BODY_TIMEOUT, DEFAULT_TOLERANCE, Secrets,
};
use super::state::MemoryState;
use super::verifier::{Provider, Verifier};

impl<P: Provider> Verifier<P> {
    /// A verifier for the endpoint whose signing secret is `secret` (Stripe's `whsec_...`, from
    /// the dashboard or `stripe listen`; Polar's endpoint secret; Paddle's notification secret
    /// key; the signing secret you gave a Lemon Squeezy webhook).
    ///
    /// # Errors
    ///
    /// [`WebhookErrorKind::InvalidSecret`](super::WebhookErrorKind::InvalidSecret) when the
    /// secret is empty, or shorter than the provider takes (6 characters).
    ///
    /// ```
    /// use affitor::webhook::{Polar, Verifier};
    ///
    /// let polar = Verifier::<Polar>::new("polar_whs_test_secret")?;
    /// # Ok::<(), affitor::webhook::WebhookError>(())
    /// ```
    pub fn new(secret: impl Into<String>) -> Result<Self, WebhookError> {
        Self::builder().secret(secret).build()
    }

    /// A verifier whose secrets are those of the provider's variable
    /// ([`Provider::SECRET_VARIABLE`]: `STRIPE_WEBHOOK_SECRET`, `POLAR_WEBHOOK_SECRET`,
    /// `PADDLE_WEBHOOK_SECRET`, `LEMONSQUEEZY_WEBHOOK_SECRET`): one secret, or, during a
    /// rotation, several separated by commas or whitespace when each has the shape the
    /// provider issues (`whsec_new_signing_key,whsec_old_signing_key`); any other value is one secret, whole and
    /// trimmed ([`Provider::split_secrets`]). A Lemon Squeezy secret, chosen by you, is always
    /// one, spaces and commas included: give a rotation's two to [`Builder::secret`]. There is
    /// no fallback: a built-in secret would let anyone sign sales.
    ///
    /// # Errors
    ///
    /// [`WebhookErrorKind::MissingSecret`](super::WebhookErrorKind::MissingSecret) when the
    /// variable is unset or empty, and
    /// [`WebhookErrorKind::InvalidSecret`](super::WebhookErrorKind::InvalidSecret) for a
    /// secret shorter than the provider takes (6 characters).
    ///
    /// ```no_run
    /// use affitor::webhook::{Stripe, Verifier};
    ///
    /// let stripe = Verifier::<Stripe>::from_env()?;
    /// # Ok::<(), affitor::webhook::WebhookError>(())
    /// ```
    pub fn from_env() -> Result<Self, WebhookError> {
        match Secrets::from_env::<P>() {
            Some(secrets) => Builder::new(secrets).build(),
            None => Err(WebhookError::missing_secret(P::SECRET_VARIABLE)
                .with_detail(format!("{} is unset or empty", P::SECRET_VARIABLE))),
        }
    }

    /// A builder, for several secrets, the tolerance, the body limit and how events are
    /// tracked.
    ///
    /// ```
    /// use affitor::webhook::{Stripe, Verifier};
    ///
    /// let stripe = Verifier::<Stripe>::builder().secret("whsec_test_signing").build()?;
    /// # Ok::<(), affitor::webhook::WebhookError>(())
    /// ```
    pub fn builder() -> Builder<P> {
        Builder::new(Secrets::default())
    }
}

/// Builds a [`Verifier`]: made by [`Verifier::builder`].
///
/// ```
/// use std::time::Duration;
/// use affitor::webhook::{Stripe, Verifier};
///
/// let stripe = Verifier::<Stripe>::builder()
///     .secret("whsec_current_secret")
///     .secret("whsec_rolled_yesterday") // both are accepted during a rotation
///     .tolerance(Duration::from_secs(600))
///     .body_limit(256 * 1024)
///     .build()?;
/// # Ok::<(), affitor::webhook::WebhookError>(())
/// ```
#[must_use = "a builder does nothing until you call `build`"]
pub struct Builder<P> {
    pub(super) secrets: Secrets,
    tolerance: Duration,
    body_limit: usize,
    body_timeout: Duration,
    track_deadline: Duration,
    track_upgrades: bool,
    refund_grace: Duration,
    converter: Option<Converter>,
    provider: PhantomData<fn() -> P>,
}

impl<P: Provider> Builder<P> {
    pub(super) fn new(secrets: Secrets) -> Self {
        Self {
            secrets,
            tolerance: DEFAULT_TOLERANCE,
            body_limit: DEFAULT_BODY_LIMIT,
            body_timeout: DEFAULT_BODY_TIMEOUT,
            track_deadline: <P as super::verifier::sealed::Scheme>::TRACK_DEADLINE,
            track_upgrades: true,
            refund_grace: DEFAULT_REFUND_GRACE,
            converter: None,
            provider: PhantomData,
        }
    }

    /// Adds a signing secret, whole (spaces and commas are part of it). A delivery is accepted
    /// when any of them signed it: give the new and the old secret while rolling one.
    ///
    /// ```
    /// use affitor::webhook::{Stripe, Verifier};
    ///
    /// let stripe = Verifier::<Stripe>::builder().secret("whsec_first_secret").secret("whsec_second_secret");
    /// ```
    pub fn secret(mut self, secret: impl Into<String>) -> Self {
        self.secrets.push(secret.into());
        self
    }

    /// How far a signature's timestamp may be from now (default 5 minutes).
    ///
    /// ```
    /// # use std::time::Duration;
    /// use affitor::webhook::{Polar, Verifier};
    ///
    /// let polar = Verifier::<Polar>::builder().tolerance(Duration::from_secs(60));
    /// ```
    pub fn tolerance(mut self, tolerance: Duration) -> Self {
        self.tolerance = tolerance;
        self
    }

    /// The longest body accepted, in bytes (default 1 MiB); a longer one is answered 413.
    ///
    /// ```
    /// use affitor::webhook::{Stripe, Verifier};
    ///
    /// let stripe = Verifier::<Stripe>::builder().body_limit(256 * 1024);
    /// ```
    pub fn body_limit(mut self, bytes: usize) -> Self {
        self.body_limit = bytes;
        self
    }

    /// How long the `WebhookEvent` extractors of `affitor-axum` and `affitor-actix` wait for
    /// the whole body (default 10 s), counted from when the Affitor layer or middleware began
    /// waiting for it to look for a click id, if it did (its wait is not added on top); a body
    /// that has not come by then is answered 408 (`Duration::MAX`: no limit). Behind the layer,
    /// the extractor runs once the layer's own wait for the body has ended
    /// (`ClickIdSearch::body_timeout`, 5 s by default), so a shorter `body_timeout` answers at
    /// the end of the layer's wait. A provider sends its body at once: one that trickles in is
    /// a client holding a connection.
    ///
    /// ```
    /// # use std::time::Duration;
    /// use affitor::webhook::{Stripe, Verifier};
    ///
    /// let stripe = Verifier::<Stripe>::builder().body_timeout(Duration::from_secs(5));
    /// ```
    pub fn body_timeout(mut self, timeout: Duration) -> Self {
        self.body_timeout = timeout;
        self
    }

    /// The longest [`ProviderEvent::track`](super::ProviderEvent::track) waits for Affitor, retries included
    /// (default 8 s; 4 s for Paddle, which expects an answer within 5 s), before it gives up
    /// with a retryable timeout, answered 503 so that the provider delivers the event again.
    /// With a payment state that stores events (an outbox) it bounds the write there instead. Keep it
    /// under the provider's own limit (Polar gives an endpoint 10 s): a provider that times out counts the delivery as failed and may
    /// disable the endpoint. A sale or a refund cut short is safe to send again.
    ///
    /// ```
    /// # use std::time::Duration;
    /// use affitor::webhook::{Polar, Verifier};
    ///
    /// let polar = Verifier::<Polar>::builder().track_deadline(Duration::from_secs(5));
    /// ```
    pub fn track_deadline(mut self, deadline: Duration) -> Self {
        self.track_deadline = deadline;
        self
    }

    /// Whether a payment for a change of plan (an upgrade, a proration) is tracked as a sale
    /// (default `true`), the same rule for every provider: Stripe's invoices for
    /// `subscription_update`, Paddle's transactions of `origin: subscription_update`, Polar's
    /// `subscription_update` orders and Lemon Squeezy's `updated` invoices. Off, each is
    /// answered 200 and ignored ([`Ignored::BillingReason`](super::Ignored::BillingReason)).
    /// On Stripe API versions before 2018-10-31, a subscription's first invoice also says
    /// `subscription_update`: leave it on there.
    ///
    /// ```
    /// use affitor::webhook::{Stripe, Verifier};
    ///
    /// let stripe = Verifier::<Stripe>::builder().track_upgrades(false);
    /// ```
    pub fn track_upgrades(mut self, track_upgrades: bool) -> Self {
        self.track_upgrades = track_upgrades;
        self
    }

    /// How long after the event a refund whose sale Affitor does not know is answered 503, so
    /// that the provider delivers it again (default a day); after that it is acknowledged, as
    /// the refund of a sale that was never a partner's.
    ///
    /// A refund can arrive before its sale: the sale's delivery failed and waits in the
    /// provider's retry schedule while the refund is delivered at once. Keep the grace within
    /// that schedule (Stripe retries for three days, Polar for about one); `Duration::ZERO`
    /// acknowledges such a refund at once.
    ///
    /// ```
    /// # use std::time::Duration;
    /// use affitor::webhook::{Stripe, Verifier};
    ///
    /// let stripe = Verifier::<Stripe>::builder().refund_grace(Duration::from_secs(3600));
    /// ```
    pub fn refund_grace(mut self, grace: Duration) -> Self {
        self.refund_grace = grace;
        self
    }

    /// Converts amounts in currencies the Affitor API does not take (it takes USD, EUR and
    /// VND) before they are sent; see [`CurrencyConverter`]. Without one, such a sale is not
    /// sent and the provider is answered 500, so that it keeps the event until you set one and
    /// send it again.
    ///
    /// A refund is converted at its sale's rate, which the payment state keeps with the sale,
    /// so that a full refund is the whole sale whatever the rate has done since; at the day's
    /// rate when the state holds none (a sale it never saw or forgot, or a refund an outbox
    /// stored before its sale).
    ///
    /// ```
    /// use affitor::client::Currency;
    /// use affitor::webhook::{ExchangeRates, Polar, Verifier};
    ///
    /// let rates = ExchangeRates::to(Currency::Usd).with_rate("GBP", 1.27);
    /// let polar = Verifier::<Polar>::builder().secret("polar_whs_test_signing").currency_converter(rates).build()?;
    /// # Ok::<(), affitor::webhook::WebhookError>(())
    /// ```
    pub fn currency_converter(mut self, converter: impl CurrencyConverter) -> Self {
        self.converter = Some(Converter(Arc::new(converter)));
        self
    }

    /// The verifier.
    ///
    /// # Errors
    ///
    /// [`WebhookErrorKind::MissingSecret`](super::WebhookErrorKind::MissingSecret) without a
    /// secret, and [`WebhookErrorKind::InvalidSecret`](super::WebhookErrorKind::InvalidSecret)
    /// for an empty one, or one shorter than the provider takes (6 characters).
    ///
    /// ```
    /// use affitor::webhook::{Polar, Verifier};
    ///
    /// let polar = Verifier::<Polar>::builder().secret("polar_whs_test_signing").build()?;
    /// # Ok::<(), affitor::webhook::WebhookError>(())
    /// ```
    pub fn build(self) -> Result<Verifier<P>, WebhookError> {
        Ok(Verifier::from_config(Arc::new(Config {
            keys: self.secrets.keys::<P>()?,
            tolerance: self.tolerance,
            body_limit: self.body_limit,
            body_timeout: self.body_timeout,
            tracking: Arc::new(Tracking {
                provider: P::NAME,
                track_upgrades: self.track_upgrades,
                state: Arc::new(MemoryState::new()),
                deadline: self.track_deadline,
                refund_grace: self.refund_grace,
                converter: self.converter,
            }),
        })))
    }
}

impl<P> fmt::Debug for Builder<P> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Builder")
            .field("secrets", &self.secrets)
            .field("tolerance", &self.tolerance)
            .field("body_limit", &self.body_limit)
            .field("body_timeout", &self.body_timeout)
            .field("track_deadline", &self.track_deadline)
            .field("track_upgrades", &self.track_upgrades)
            .field("refund_grace", &self.refund_grace)
            .field("converter", &self.converter)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::super::{Paddle, Polar, Stripe, Verifier};

    /// Paddle wants a 2xx within 5 s: its verifier gives tracking 4 s by default; the others
    /// keep 8 s, under Polar's 10.
    #[test]
    fn the_default_track_deadline_is_under_each_providers_limit() {
        assert!(format!("{:?}", Verifier::<Paddle>::builder()).contains("track_deadline: 4s"));
        assert!(format!("{:?}", Verifier::<Polar>::builder()).contains("track_deadline: 8s"));
        assert!(format!("{:?}", Verifier::<Stripe>::builder()).contains("track_deadline: 8s"));
    }
}
