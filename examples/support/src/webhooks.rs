//! The checkout apps' signed payment webhooks: which routes are mounted, on which secrets.

use affitor::webhook::{
    self, LemonSqueezy, Paddle, Polar, Stripe, Verifier, WebhookError, WebhookErrorKind,
};

use affitor_outbox::Outbox;

use crate::environment::SetupError;
use crate::provider::PaymentProvider;

/// The checkout apps' payment webhooks: the verifiers of the provider routes that are mounted,
/// and whether the unsigned demo route `POST /webhooks/payment` is.
///
/// A provider's route is mounted when its secret is set (`STRIPE_WEBHOOK_SECRET="new,old"` is
/// two, during a rotation), or on the local stand-in, where it takes a demo secret. Anywhere
/// else, a route without its secret is not mounted: a verifier on a secret anyone can read
/// would let anyone forge sales.
#[derive(Clone, Debug, Default)]
pub struct PaymentWebhooks {
    /// Verifies `POST /webhooks/stripe`; `None`: the route is not mounted.
    pub stripe: Option<Verifier<Stripe>>,
    /// Verifies `POST /webhooks/polar`; `None`: the route is not mounted.
    pub polar: Option<Verifier<Polar>>,
    /// Verifies `POST /webhooks/paddle`; `None`: the route is not mounted.
    pub paddle: Option<Verifier<Paddle>>,
    /// Verifies `POST /webhooks/lemonsqueezy`; `None`: the route is not mounted.
    pub lemon_squeezy: Option<Verifier<LemonSqueezy>>,
    /// Whether `POST /webhooks/payment` is mounted: it takes unsigned events, so only on the
    /// local stand-in.
    pub plain_payment: bool,
    /// The providers whose route verifies with the demo secret.
    pub demo: Vec<PaymentProvider>,
}

impl PaymentWebhooks {
    /// The verifiers of each provider's secret variable (`STRIPE_WEBHOOK_SECRET`, ..., as
    /// `Verifier::from_env` reads them). With a secret unset, the provider's route verifies
    /// with the demo secret `on_stand_in`, and is not mounted otherwise (a warning says so).
    pub fn from_env(on_stand_in: bool) -> Result<Self, SetupError> {
        let mut demo = Vec::new();
        let webhooks = Self {
            stripe: mounted(
                PaymentProvider::Stripe,
                on_stand_in,
                Verifier::from_env,
                &mut demo,
            )?,
            polar: mounted(
                PaymentProvider::Polar,
                on_stand_in,
                Verifier::from_env,
                &mut demo,
            )?,
            paddle: mounted(
                PaymentProvider::Paddle,
                on_stand_in,
                Verifier::from_env,
                &mut demo,
            )?,
            lemon_squeezy: mounted(
                PaymentProvider::LemonSqueezy,
                on_stand_in,
                Verifier::from_env,
                &mut demo,
            )?,
            plain_payment: on_stand_in,
            demo: Vec::new(),
        };
        if !on_stand_in {
            tracing::info!(
                "POST /webhooks/payment (unsigned demo events) is mounted only on the local \
                 stand-in"
            );
        }
        Ok(Self { demo, ..webhooks })
    }

    /// Every route, on the demo secrets: the apps on the local stand-in, as tests run them.
    pub fn demo() -> Self {
        let demo = |provider: PaymentProvider| provider.demo_secret().to_owned();
        Self {
            stripe: Verifier::new(demo(PaymentProvider::Stripe)).ok(),
            polar: Verifier::new(demo(PaymentProvider::Polar)).ok(),
            paddle: Verifier::new(demo(PaymentProvider::Paddle)).ok(),
            lemon_squeezy: Verifier::new(demo(PaymentProvider::LemonSqueezy)).ok(),
            plain_payment: true,
            demo: PaymentProvider::ALL.to_vec(),
        }
    }
}

impl PaymentWebhooks {
    /// These webhooks, keeping their payment state in `outbox` when there is one: each sale or
    /// refund is then stored in the outbox before the provider is answered, and the facts a
    /// later delivery needs (a Stripe refund's invoice, a trial, a delivery seen) are shared by
    /// every replica on its database.
    #[must_use]
    pub fn kept_in(self, outbox: Option<&Outbox>) -> Self {
        let Some(outbox) = outbox else {
            return self;
        };
        let keep = |outbox: &Outbox| outbox.clone();
        Self {
            stripe: self.stripe.map(|v| v.with_payment_state(keep(outbox))),
            polar: self.polar.map(|v| v.with_payment_state(keep(outbox))),
            paddle: self.paddle.map(|v| v.with_payment_state(keep(outbox))),
            lemon_squeezy: self
                .lemon_squeezy
                .map(|v| v.with_payment_state(keep(outbox))),
            ..self
        }
    }
}

/// The verifier of `provider`'s route: from its environment variable, else on the demo secret
/// `on_stand_in` (noted in `demo`), else none: the route is not mounted.
fn mounted<P: webhook::Provider>(
    provider: PaymentProvider,
    on_stand_in: bool,
    from_env: impl FnOnce() -> Result<Verifier<P>, WebhookError>,
    demo: &mut Vec<PaymentProvider>,
) -> Result<Option<Verifier<P>>, SetupError> {
    let variable = provider.secret_variable();
    match from_env() {
        Ok(verifier) => Ok(Some(verifier)),
        Err(error) if error.kind() == WebhookErrorKind::MissingSecret && on_stand_in => {
            demo.push(provider);
            Verifier::new(provider.demo_secret())
                .map(Some)
                .map_err(|error| SetupError(format!("the demo secret: {error}")))
        }
        Err(error) if error.kind() == WebhookErrorKind::MissingSecret => {
            tracing::warn!(
                "{variable} is unset: POST /webhooks/{provider} is not mounted; set it to the \
                 endpoint's signing secret (several, comma-separated, during a rotation)"
            );
            Ok(None)
        }
        Err(error) => Err(SetupError(format!("{variable}: {error}"))),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)] // Tests may unwrap.

    use super::*;

    fn unset() -> Result<Verifier<Stripe>, WebhookError> {
        Verifier::<Stripe>::builder().build()
    }

    fn rotating() -> Result<Verifier<Stripe>, WebhookError> {
        Verifier::<Stripe>::builder()
            .secret("whsec_new_signing_key")
            .secret("whsec_old_signing_key")
            .build()
    }

    fn empty() -> Result<Verifier<Stripe>, WebhookError> {
        Verifier::<Stripe>::builder().secret("  ").build()
    }

    #[test]
    fn a_route_without_its_secret_is_mounted_only_on_the_stand_in() {
        let mut demo = Vec::new();
        let away = mounted(PaymentProvider::Stripe, false, unset, &mut demo).unwrap();
        assert!(away.is_none());
        assert!(demo.is_empty());
        let local = mounted(PaymentProvider::Stripe, true, unset, &mut demo).unwrap();
        assert!(local.is_some());
        assert_eq!(demo, [PaymentProvider::Stripe]);
    }

    #[test]
    fn a_set_secret_is_used_anywhere_and_a_bad_one_stops_the_app() {
        let mut demo = Vec::new();
        let set = mounted(PaymentProvider::Stripe, false, rotating, &mut demo).unwrap();
        assert_eq!(
            format!("{set:?}").matches("secrets: 2").count(),
            1,
            "{set:?}"
        );
        assert!(demo.is_empty());
        let error = mounted(PaymentProvider::Stripe, true, empty, &mut demo).unwrap_err();
        assert!(
            error.to_string().starts_with("STRIPE_WEBHOOK_SECRET"),
            "{error}"
        );
    }
}
