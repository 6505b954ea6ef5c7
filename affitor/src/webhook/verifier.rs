//! The one verifier of every provider, `Verifier<P>`, and the `Provider` trait it is generic
//! over.

use std::fmt;
use std::marker::PhantomData;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use super::error::WebhookError;
use super::event::{ProviderEvent, Tracking};
use super::signature::Config;
use super::track::{self, Tracked};
use crate::Client;
use crate::throttle::Throttle;

/// Warnings about refused deliveries, of every provider: at most one per 10 s.
static REFUSED: Throttle = Throttle::new(10);

/// A payment provider whose webhooks a [`Verifier`] checks and reads: [`Stripe`](super::Stripe),
/// [`Polar`](super::Polar), [`Paddle`](super::Paddle) or [`LemonSqueezy`](super::LemonSqueezy).
///
/// Each is a type with no value, used only as `Verifier<Stripe>`, `WebhookEvent<Polar>`: it
/// names the signature scheme and the events read. Sealed: the schemes are this crate's.
///
/// ```
/// use affitor::webhook::{Provider, Stripe};
///
/// assert_eq!(Stripe::NAME, "Stripe");
/// assert_eq!(Stripe::SECRET_VARIABLE, "STRIPE_WEBHOOK_SECRET");
/// ```
pub trait Provider: sealed::Scheme + Send + Sync + 'static {
    /// The provider's name, as errors and logs print it.
    const NAME: &'static str;
    /// The environment variable [`Verifier::from_env`] reads the signing secrets from.
    const SECRET_VARIABLE: &'static str;

    /// How one signing secret compares with those the provider issues: Stripe's `whsec_...`,
    /// Polar's `polar_whs_...` (or a Standard Webhooks `whsec_<base64>`), Paddle's
    /// `pdl_ntfset_...`, Lemon Squeezy's 6 to 40 characters. For a check at start-up or in a
    /// diagnostic; a verifier takes any secret that is not empty and not shorter than the
    /// provider takes (6 characters). Split a variable's value with
    /// [`split_secrets`](Self::split_secrets), as [`Verifier::from_env`] does, and check each
    /// secret.
    ///
    /// ```
    /// use affitor::webhook::{Provider, SecretShape, Stripe};
    ///
    /// assert_eq!(Stripe::secret_shape("whsec_0123456789abcdefABCDEF"), SecretShape::Usual);
    /// match Stripe::secret_shape("sk_live_0123456789") {
    ///     SecretShape::Wrong(why) => assert!(why.contains("Stripe API key")),
    ///     shape => panic!("{shape:?}"),
    /// }
    /// ```
    fn secret_shape(secret: &str) -> SecretShape {
        let secret = secret.trim();
        let quote = |c: char| c == '"' || c == '\'';
        if secret.is_empty() {
            SecretShape::Wrong("is empty")
        } else if secret.starts_with(quote) || secret.ends_with(quote) {
            SecretShape::Wrong("is in quotes, which become part of the secret: remove them")
        } else {
            Self::issued_shape(secret)
        }
    }

    /// The secrets a variable's `value` holds, as [`Verifier::from_env`] reads it: several,
    /// split at commas and whitespace, only when each has the shape the provider issues (a
    /// rotation of Stripe's `whsec_...`, Polar's, Paddle's); otherwise the whole value, trimmed,
    /// as one secret. A Lemon Squeezy secret is chosen by you and may hold spaces or commas:
    /// its value is always one secret (give a rotation's two to
    /// [`Builder::secret`](super::Builder::secret)). Empty when the value holds none.
    ///
    /// ```
    /// use affitor::webhook::{LemonSqueezy, Provider, Stripe};
    ///
    /// let (new, old) = ("whsec_0123456789abcdefABCDEF", "whsec_FEDCBA9876543210fedcba");
    /// assert_eq!(Stripe::split_secrets(&format!("{new},{old}")), [new, old]);
    /// assert_eq!(Stripe::split_secrets(" whsec_test_signing secret\n"), ["whsec_test_signing secret"]);
    /// assert_eq!(LemonSqueezy::split_secrets("my shop 2024"), ["my shop 2024"]);
    /// assert!(Stripe::split_secrets(" , ").is_empty());
    /// ```
    fn split_secrets(value: &str) -> Vec<&str> {
        super::signature::split::<Self>(value)
    }
}

/// How a signing secret compares with those its provider issues: what
/// [`Provider::secret_shape`] finds. The reason is a phrase about the secret, written to follow
/// its variable's name (`STRIPE_WEBHOOK_SECRET is a Stripe API key, ...`); it never holds the
/// secret.
///
/// ```
/// use affitor::webhook::{Polar, Provider, SecretShape};
///
/// let told = match Polar::secret_shape("my-own-secret") {
///     SecretShape::Usual => "in the provider's shape".to_owned(),
///     SecretShape::Unusual(why) => format!("check it: {why}"),
///     SecretShape::Wrong(why) => format!("every delivery will be refused: {why}"),
///     _ => "see the provider's dashboard".to_owned(),
/// };
/// assert!(told.starts_with("check it: does not start with polar_whs_"));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum SecretShape {
    /// As the provider issues its signing secrets.
    Usual,
    /// Not the shape the provider issues, but it may be the secret (Polar's SDK takes any
    /// string): worth a look.
    Unusual(&'static str),
    /// Not this provider's signing secret (an API key, a secret in quotes, cut short): every
    /// delivery will be refused.
    Wrong(&'static str),
}

pub(crate) mod sealed {
    use std::time::SystemTime;

    use super::super::ProviderEvent;
    use super::super::error::WebhookError;
    use super::{SecretShape, Verifier};

    /// What a provider's verifier does that the others do not: how a secret keys the HMAC, and
    /// how a delivery is verified and read. Not nameable outside this crate.
    pub trait Scheme: Sized {
        /// How long tracking an event inline may take by default: under the time the
        /// provider gives an endpoint to answer.
        const TRACK_DEADLINE: std::time::Duration = super::super::event::DEFAULT_TRACK_DEADLINE;

        /// Whether the provider issues its signing secrets in a shape of its own (then
        /// `SecretShape::Usual`), which tells a rotation's list from one secret; `false` for a
        /// secret its user chooses, which may hold spaces and commas.
        const ISSUES_SECRETS: bool = true;

        /// The fewest characters of a secret the provider gives or takes, after its prefix:
        /// 6, Lemon Squeezy's least for a secret its user chooses (Polar's SDK takes one too);
        /// more where the provider only issues them. A shorter key is a piece of a secret or
        /// a placeholder, which anyone could guess and sign with.
        const MIN_SECRET_CHARS: usize = 6;

        /// The prefixes the provider's secrets start with (`whsec_`), which no one has to
        /// guess: [`MIN_SECRET_CHARS`](Self::MIN_SECRET_CHARS) counts what follows them.
        const SECRET_PREFIXES: &'static [&'static str] = &[];

        /// The HMAC key bytes of one secret (several when a secret can be read two ways).
        fn keys(secret: &str) -> Vec<Vec<u8>>;

        /// How a secret, trimmed, not empty and not quoted, compares with those the provider
        /// issues: see `Provider::secret_shape`.
        fn issued_shape(secret: &str) -> SecretShape;

        /// The checkout-creation fields that carry `metadata` (the Affitor keys) to the
        /// provider's events: see `checkout_fields`.
        fn checkout_fields(customer_key: &str, metadata: serde_json::Value) -> serde_json::Value;

        /// Verifies the delivery's signature over `body` as of `now`, then reads its event.
        /// `body` is within the limit already.
        fn verify<K, V>(
            verifier: &Verifier<Self>,
            headers: impl IntoIterator<Item = (K, V)>,
            body: &[u8],
            now: SystemTime,
        ) -> Result<ProviderEvent, WebhookError>
        where
            K: AsRef<str>,
            V: AsRef<[u8]>;
    }
}

/// Verifies the webhooks of the provider `P` and reads their sales and refunds:
/// `Verifier<Stripe>`, `Verifier<Polar>`, `Verifier<Paddle>`, `Verifier<LemonSqueezy>`.
///
/// Build one at start-up from the endpoint's signing secret, share it with the app (it is cheap
/// to clone: one `Arc`), and call [`track`](Self::track) in the webhook's handler, or
/// [`verify`](Self::verify) to look at the event first. The secrets never appear in its `Debug`
/// output, in errors or in logs.
///
/// ```
/// # {
/// use affitor::webhook::{Stripe, Verifier};
/// # use affitor_mock::SignedWebhook;
///
/// let stripe = Verifier::<Stripe>::new("whsec_test_secret_key")?; // or ::from_env()?
/// # let body = r#"{"id":"evt_1","type":"customer.created","data":{"object":{}}}"#;
/// # let signed = SignedWebhook::stripe("whsec_test_secret_key", body);
/// # let (headers, body) = (signed.headers(), signed.body());
/// // `headers`: the request's headers (an `http::HeaderMap`, or (name, value) pairs);
/// // `body`: its raw bytes, as they arrived.
/// let event = stripe.verify(headers, body)?;
/// assert_eq!(event.event_type, "customer.created");
/// assert!(!format!("{stripe:?}").contains("whsec_test_secret_key"));
/// # }
/// # Ok::<(), affitor::webhook::WebhookError>(())
/// ```
pub struct Verifier<P> {
    pub(super) config: Arc<Config>,
    provider: PhantomData<fn() -> P>,
}

impl<P: Provider> Verifier<P> {
    pub(super) fn from_config(config: Arc<Config>) -> Self {
        Self {
            config,
            provider: PhantomData,
        }
    }

    /// This verifier, keeping what later deliveries need in `state`, and storing each sale or
    /// refund there when `state` stores events (see [`PaymentState`](super::PaymentState)).
    /// Unless set, a verifier keeps those facts in its own bounded memory and sends each sale
    /// or refund before it answers the provider.
    ///
    /// With `affitor-outbox`, give it the outbox: its sales and refunds are then answered once
    /// committed in the outbox, which delivers them, and a refund finds its Stripe invoice
    /// whichever replica saw the payment.
    ///
    /// ```
    /// use affitor::webhook::{Stripe, Verifier};
    /// # use affitor::webhook::{Fact, PaymentState, StateFuture};
    /// # struct Outbox;
    /// # impl PaymentState for Outbox {
    /// #     fn recall<'a>(&'a self, keys: &'a [String]) -> StateFuture<'a, Vec<Option<String>>> { Box::pin(async { Ok(vec![None; keys.len()]) }) }
    /// #     fn remember<'a>(&'a self, _: &'a [Fact]) -> StateFuture<'a, ()> { Box::pin(async { Ok(()) }) }
    /// # }
    /// // let outbox = affitor_outbox::Outbox::open("affitor-outbox.db", client.clone()).await?;
    /// # let outbox = Outbox;
    /// let stripe = Verifier::<Stripe>::new("whsec_test_signing")?.with_payment_state(outbox);
    /// # Ok::<(), affitor::webhook::WebhookError>(())
    /// ```
    #[must_use]
    pub fn with_payment_state(self, state: impl super::PaymentState) -> Self {
        let mut config = Config::clone(&self.config);
        config.tracking = Arc::new(Tracking {
            state: Arc::new(state),
            ..Tracking::clone(&config.tracking)
        });
        Self::from_config(Arc::new(config))
    }

    /// How far a signature's timestamp may lie from now (Stripe's and Paddle's: in the past
    /// only; Lemon Squeezy signs none; see the [module docs](super#signatures)).
    ///
    /// ```
    /// use affitor::webhook::{Polar, Verifier};
    ///
    /// let polar = Verifier::<Polar>::new("polar_whs_test_signing")?;
    /// assert_eq!(polar.tolerance().as_secs(), 300);
    /// # Ok::<(), affitor::webhook::WebhookError>(())
    /// ```
    pub fn tolerance(&self) -> Duration {
        self.config.tolerance
    }

    /// The longest body accepted, in bytes: read no more than this from the request.
    ///
    /// ```
    /// use affitor::webhook::{Stripe, Verifier};
    ///
    /// let stripe = Verifier::<Stripe>::new("whsec_test_signing")?;
    /// assert_eq!(stripe.body_limit(), 1024 * 1024);
    /// # Ok::<(), affitor::webhook::WebhookError>(())
    /// ```
    pub fn body_limit(&self) -> usize {
        self.config.body_limit
    }

    /// How long to wait for the whole body of a delivery (see
    /// [`Builder::body_timeout`](super::Builder::body_timeout)).
    ///
    /// ```
    /// use affitor::webhook::{Stripe, Verifier};
    ///
    /// let stripe = Verifier::<Stripe>::new("whsec_test_signing")?;
    /// assert_eq!(stripe.body_timeout().as_secs(), 10);
    /// # Ok::<(), affitor::webhook::WebhookError>(())
    /// ```
    pub fn body_timeout(&self) -> Duration {
        self.config.body_timeout
    }

    /// Verifies a delivery and reads its event, now.
    ///
    /// `headers` are the request's headers: an `&http::HeaderMap`, actix-web's, or any
    /// `(name, value)` pairs (names in any case). `body` is the raw body, as it arrived.
    ///
    /// # Errors
    ///
    /// A [`WebhookError`] when the body is over the limit, a signature header is missing, a
    /// signature is malformed, wrong or out of the tolerance, or the body is not an event.
    ///
    /// ```
    /// use affitor::webhook::{Stripe, Verifier, WebhookErrorKind};
    ///
    /// let stripe = Verifier::<Stripe>::new("whsec_test_signing")?;
    /// let header = format!("t=1700000000,v1={}", "ab".repeat(32)); // not Stripe's
    /// let error = stripe.verify([("Stripe-Signature", header)], b"{}").unwrap_err();
    /// assert_eq!(error.kind(), WebhookErrorKind::SignatureMismatch);
    /// # Ok::<(), affitor::webhook::WebhookError>(())
    /// ```
    pub fn verify<K, V>(
        &self,
        headers: impl IntoIterator<Item = (K, V)>,
        body: impl AsRef<[u8]>,
    ) -> Result<ProviderEvent, WebhookError>
    where
        K: AsRef<str>,
        V: AsRef<[u8]>,
    {
        self.verify_at(headers, body, SystemTime::now())
    }

    /// [`verify`](Self::verify) as of `now`: for tests, and for events kept to be verified
    /// later.
    ///
    /// # Errors
    ///
    /// Those of [`verify`](Self::verify).
    ///
    /// ```
    /// # {
    /// use std::time::{Duration, UNIX_EPOCH};
    /// use affitor::webhook::{Polar, Verifier, WebhookErrorKind};
    ///
    /// let polar = Verifier::<Polar>::new("polar_whs_test_signing")?;
    /// let signed_at = UNIX_EPOCH + Duration::from_secs(1_700_000_000);
    /// # let body = r#"{"type":"checkout.created","data":{}}"#;
    /// # let signed = affitor_mock::SignedWebhook::polar_at("polar_whs_test_signing", "msg_1", body, signed_at);
    /// # let (headers, body) = (signed.headers(), signed.body());
    /// let early = signed_at - Duration::from_secs(301);
    /// let error = polar.verify_at(headers, body, early).unwrap_err();
    /// assert_eq!(error.kind(), WebhookErrorKind::Expired);
    /// # }
    /// # Ok::<(), affitor::webhook::WebhookError>(())
    /// ```
    pub fn verify_at<K, V>(
        &self,
        headers: impl IntoIterator<Item = (K, V)>,
        body: impl AsRef<[u8]>,
        now: SystemTime,
    ) -> Result<ProviderEvent, WebhookError>
    where
        K: AsRef<str>,
        V: AsRef<[u8]>,
    {
        let body = body.as_ref();
        let verified = self
            .config
            .check_size(body)
            .and_then(|()| P::verify(self, headers, body, now));
        if let Err(error) = &verified {
            track::count(P::NAME, "refused");
            // Anyone can post to a webhook: a flood of forgeries is one warning per interval.
            match REFUSED.due() {
                Some(suppressed) => tracing::warn!(
                    provider = P::NAME,
                    %error,
                    suppressed,
                    "webhook: refused (`suppressed`: how many more since the last warning, \
                     logged at debug)"
                ),
                None => tracing::debug!(provider = P::NAME, %error, "webhook: refused"),
            }
        }
        verified
    }

    /// Verifies a delivery, reads its event and tracks it with `client`: what happened, and
    /// the status to answer with ([`Tracked::status`]). The one call a handler needs.
    ///
    /// `client` is a [`Client`], or anything that holds one: a
    /// [`BoundClient`](crate::client::BoundClient), or the `AffitorClient` extractor of
    /// `affitor-axum` and `affitor-actix`.
    ///
    /// ```
    /// use affitor::webhook::{Stripe, Verifier};
    ///
    /// # async fn handler(stripe: Verifier<Stripe>, client: affitor::Client,
    /// #     headers: http::HeaderMap, body: bytes::Bytes) -> http::StatusCode {
    /// stripe.track(&client, &headers, &body).await.status()
    /// # }
    /// ```
    pub async fn track<K, V>(
        &self,
        client: impl AsRef<Client>,
        headers: impl IntoIterator<Item = (K, V)>,
        body: impl AsRef<[u8]>,
    ) -> Tracked
    where
        K: AsRef<str>,
        V: AsRef<[u8]>,
    {
        match self.verify(headers, body) {
            Ok(event) => event.track(client).await,
            Err(error) => Tracked::Rejected(error),
        }
    }
}

impl<P> Clone for Verifier<P> {
    fn clone(&self) -> Self {
        Self {
            config: self.config.clone(),
            provider: PhantomData,
        }
    }
}

impl<P: Provider> fmt::Debug for Verifier<P> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Verifier")
            .field("provider", &P::NAME)
            .field("secrets", &self.config.keys.len())
            .field("tolerance", &self.config.tolerance)
            .field("body_limit", &self.config.body_limit)
            .field("body_timeout", &self.config.body_timeout)
            .finish()
    }
}

/// The HMAC key of a secret read as its UTF-8 bytes, whole: Stripe's (`whsec_` prefix
/// included), Paddle's and Lemon Squeezy's.
pub(super) fn utf8_key(secret: &str) -> Vec<Vec<u8>> {
    vec![secret.as_bytes().to_vec()]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::webhook::{LemonSqueezy, Paddle, Polar, Stripe};

    /// What every provider refuses, before its own shape: nothing, or a secret in quotes
    /// (copied from a `.env` file with them, they become part of it).
    #[test]
    fn every_provider_refuses_an_empty_or_quoted_secret() {
        fn refused<P: Provider>(secret: &str) -> bool {
            matches!(P::secret_shape(secret), SecretShape::Wrong(_))
        }
        let good = "whsec_0123456789abcdefABCDEF0123456789";
        assert_eq!(
            Stripe::secret_shape(&format!(" {good}\n")),
            SecretShape::Usual
        );
        for secret in [
            "",
            "  ",
            &format!("\"{good}\""),
            &format!("'{good}'"),
            "\"a-signing-secret",
        ] {
            assert!(refused::<Stripe>(secret), "{secret}");
            assert!(refused::<Polar>(secret), "{secret}");
            assert!(refused::<Paddle>(secret), "{secret}");
            assert!(refused::<LemonSqueezy>(secret), "{secret}");
        }
        assert!(matches!(
            Stripe::secret_shape("'whsec_x'"),
            SecretShape::Wrong(why) if why.contains("quotes")
        ));
    }
}
