//! The payment providers whose checkout and webhook the checkout apps take.

use std::fmt;

use affitor::webhook::{LemonSqueezy, Paddle, Polar, Provider as _, Stripe};
use affitor_mock::{SignedWebhook, WebhookProvider};

use crate::environment::SetupError;

/// A payment provider of the checkout apps: whose checkout `POST /api/checkout` prepares, and
/// whose webhook they take at `POST /webhooks/<name>`.
///
/// Not the library's [`Provider`](affitor::webhook::Provider) trait, which each provider's
/// webhook type ([`Stripe`], [`Polar`], ...) implements: this names one of those types, to
/// choose among them at run time.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PaymentProvider {
    /// Stripe, at `POST /webhooks/stripe`.
    Stripe,
    /// Polar, at `POST /webhooks/polar`.
    Polar,
    /// Paddle Billing, at `POST /webhooks/paddle`.
    Paddle,
    /// Lemon Squeezy, at `POST /webhooks/lemonsqueezy`.
    LemonSqueezy,
}

impl PaymentProvider {
    /// Every provider, in the order the apps mount them.
    pub const ALL: [Self; 4] = [Self::Stripe, Self::Polar, Self::Paddle, Self::LemonSqueezy];

    /// The environment variable of its signing secret.
    pub fn secret_variable(self) -> &'static str {
        match self {
            Self::Stripe => Stripe::SECRET_VARIABLE,
            Self::Polar => Polar::SECRET_VARIABLE,
            Self::Paddle => Paddle::SECRET_VARIABLE,
            Self::LemonSqueezy => LemonSqueezy::SECRET_VARIABLE,
        }
    }

    /// The secret the apps use on the local stand-in when the variable is unset: a demo, never
    /// a real one.
    pub fn demo_secret(self) -> &'static str {
        match self {
            Self::Stripe => "whsec_affitor_rs_demo_only",
            Self::Polar => "polar_whs_affitor_rs_demo_only",
            Self::Paddle => "pdl_ntfset_affitor_rs_demo_only",
            Self::LemonSqueezy => "lemonsqueezy_affitor_rs_demo_only",
        }
    }

    /// The secret of the environment (the first, during a rotation), else the demo one (and
    /// `true`): what to sign a sample event with (`affitor trigger --secret-file -`).
    pub fn secret(self) -> (String, bool) {
        let value = std::env::var(self.secret_variable()).unwrap_or_default();
        // Read as the verifier reads it; the first of a rotation signs.
        let secrets = match self {
            Self::Stripe => Stripe::split_secrets(&value),
            Self::Polar => Polar::split_secrets(&value),
            Self::Paddle => Paddle::split_secrets(&value),
            Self::LemonSqueezy => LemonSqueezy::split_secrets(&value),
        };
        match secrets.first() {
            Some(secret) => ((*secret).to_owned(), false),
            None => (self.demo_secret().to_owned(), true),
        }
    }

    /// `body` signed now with `secret`, as the provider signs a delivery.
    pub fn sign(self, secret: &str, body: impl Into<String>) -> SignedWebhook {
        match self {
            Self::Stripe => SignedWebhook::stripe(secret, body),
            Self::Polar => SignedWebhook::polar(secret, body),
            Self::Paddle => SignedWebhook::paddle(secret, body),
            Self::LemonSqueezy => SignedWebhook::lemon_squeezy(secret, body),
        }
    }

    /// The same provider, as `affitor-mock` names it for its sample events.
    pub fn webhook_provider(self) -> WebhookProvider {
        match self {
            Self::Stripe => WebhookProvider::Stripe,
            Self::Polar => WebhookProvider::Polar,
            Self::Paddle => WebhookProvider::Paddle,
            Self::LemonSqueezy => WebhookProvider::LemonSqueezy,
        }
    }

    /// `body` signed now with the demo secret, as the apps on the stand-in take it.
    pub fn demo_signed(self, body: impl Into<String>) -> SignedWebhook {
        self.sign(self.demo_secret(), body)
    }
}

impl fmt::Display for PaymentProvider {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Stripe => "stripe",
            Self::Polar => "polar",
            Self::Paddle => "paddle",
            Self::LemonSqueezy => "lemonsqueezy",
        })
    }
}

impl std::str::FromStr for PaymentProvider {
    type Err = SetupError;

    fn from_str(name: &str) -> Result<Self, SetupError> {
        Self::ALL
            .into_iter()
            .find(|provider| provider.to_string() == name)
            .ok_or_else(|| {
                SetupError(format!(
                    "`{name}` is not a provider: `stripe`, `polar`, `paddle` or `lemonsqueezy`"
                ))
            })
    }
}
