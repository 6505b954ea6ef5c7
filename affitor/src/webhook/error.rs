//! Why a webhook was refused, or a verifier could not be built.

use std::fmt;

use http::StatusCode;

/// Why a webhook delivery was refused before anything was sent to Affitor, or why a verifier
/// could not be built.
///
/// It says what went wrong and what to do; it never contains a secret, and shows at most a
/// short, escaped excerpt of what the request carried. [`status`](Self::status) is the answer
/// to give the provider.
///
/// ```
/// use affitor::webhook::{Stripe, Verifier, WebhookErrorKind};
///
/// let stripe = Verifier::<Stripe>::new("whsec_test_secret_key")?;
/// let header = format!("t=1700000000,v1={}", "0".repeat(64));
/// let error = stripe.verify([("stripe-signature", header)], b"{}").unwrap_err();
/// assert_eq!(error.kind(), WebhookErrorKind::SignatureMismatch);
/// assert_eq!(error.status(), http::StatusCode::BAD_REQUEST);
/// assert!(!format!("{error} {error:?}").contains("whsec_test_secret_key"));
/// # Ok::<(), affitor::webhook::WebhookError>(())
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct WebhookError {
    kind: WebhookErrorKind,
    /// The provider's variable, named by a [`WebhookErrorKind::MissingSecret`] message.
    secret_variable: Option<&'static str>,
    detail: Option<String>,
}

/// The kind of a [`WebhookError`].
///
/// ```
/// use affitor::webhook::{Polar, Verifier, WebhookErrorKind};
///
/// let error = Verifier::<Polar>::new("   ").unwrap_err();
/// assert_eq!(error.kind(), WebhookErrorKind::InvalidSecret);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum WebhookErrorKind {
    /// No signing secret was given (the provider's variable, such as `STRIPE_WEBHOOK_SECRET`,
    /// unset or empty). Found when the verifier is built.
    MissingSecret,
    /// A signing secret is empty (or only spaces), or shorter than the provider takes (6
    /// characters): a part of the secret, or a placeholder. Found when the verifier is built.
    InvalidSecret,
    /// The request has no signature header: it does not come from the provider, or a proxy
    /// dropped the header.
    MissingSignature,
    /// The signature headers are there but cannot be read (no timestamp, no `v1` signature).
    MalformedSignature,
    /// No signature matches the body with any configured secret: the secret is not this
    /// endpoint's, or the body was changed on the way (re-serialised JSON, a tampered body).
    SignatureMismatch,
    /// The signature is authentic but its timestamp is outside the tolerance: a replayed
    /// delivery, or a clock that is wrong.
    Expired,
    /// The body is longer than the verifier's limit. Answered 413.
    BodyTooLarge,
    /// The signed body is not JSON.
    NotJson,
    /// The signed body is JSON but not an event (no `type`, or no `data` object).
    NotAnEvent,
}

impl WebhookError {
    pub(crate) fn new(kind: WebhookErrorKind) -> Self {
        Self {
            kind,
            secret_variable: None,
            detail: None,
        }
    }

    /// A [`WebhookErrorKind::MissingSecret`] whose message says to set `variable`, the
    /// provider's [`SECRET_VARIABLE`](super::Provider::SECRET_VARIABLE).
    pub(crate) fn missing_secret(variable: &'static str) -> Self {
        Self {
            secret_variable: Some(variable),
            ..Self::new(WebhookErrorKind::MissingSecret)
        }
    }

    pub(crate) fn with_detail(mut self, detail: impl Into<String>) -> Self {
        self.detail = Some(detail.into());
        self
    }

    /// What went wrong.
    ///
    /// ```
    /// use affitor::webhook::{Stripe, Verifier, WebhookErrorKind};
    ///
    /// let stripe = Verifier::<Stripe>::new("whsec_test_secret_key")?;
    /// let error = stripe.verify(Vec::<(&str, &str)>::new(), b"{}").unwrap_err();
    /// assert_eq!(error.kind(), WebhookErrorKind::MissingSignature);
    /// # Ok::<(), affitor::webhook::WebhookError>(())
    /// ```
    pub fn kind(&self) -> WebhookErrorKind {
        self.kind
    }

    /// The status to answer the provider: 413 for a body over the limit, 400 for every other
    /// refused delivery (the provider shows it, and redelivers for a while), 500 for a
    /// verifier that could not be built.
    ///
    /// ```
    /// use affitor::webhook::{Stripe, Verifier};
    ///
    /// let stripe = Verifier::<Stripe>::new("whsec_test_secret_key")?;
    /// let error = stripe.verify([("stripe-signature", "nonsense")], b"{}").unwrap_err();
    /// assert_eq!(error.status().as_u16(), 400);
    /// # Ok::<(), affitor::webhook::WebhookError>(())
    /// ```
    pub fn status(&self) -> StatusCode {
        match self.kind {
            WebhookErrorKind::MissingSecret | WebhookErrorKind::InvalidSecret => {
                StatusCode::INTERNAL_SERVER_ERROR
            }
            WebhookErrorKind::BodyTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            _ => StatusCode::BAD_REQUEST,
        }
    }

    fn summary(&self) -> &'static str {
        match self.kind {
            WebhookErrorKind::MissingSecret => "no webhook signing secret",
            WebhookErrorKind::InvalidSecret => {
                "the webhook signing secret cannot be used: copy it again from the provider's \
                 dashboard"
            }
            WebhookErrorKind::MissingSignature => {
                "the webhook has no signature header: it does not come from the payment \
                 provider, or a proxy dropped the header"
            }
            WebhookErrorKind::MalformedSignature => "the webhook's signature header cannot be read",
            WebhookErrorKind::SignatureMismatch => {
                "no webhook signature matches the body: check that the secret is this \
                 endpoint's signing secret, and that the body reaches the verifier unchanged \
                 (the raw bytes, not re-serialised JSON)"
            }
            WebhookErrorKind::Expired => "the webhook's signature is too old or too new",
            WebhookErrorKind::BodyTooLarge => "the webhook's body is larger than the limit",
            WebhookErrorKind::NotJson => "the webhook's body is not JSON",
            WebhookErrorKind::NotAnEvent => "the webhook's body is not an event",
        }
    }
}

/// The `Debug` form leads with the error's `kind`, then its `message`: what
/// [`Display`](fmt::Display) says, what to do included. It is what `main` prints when it returns
/// the error (`Verifier::from_env()?` in `main`).
impl fmt::Debug for WebhookError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WebhookError")
            .field("kind", &self.kind)
            .field("message", &self.to_string())
            .finish()
    }
}

impl fmt::Display for WebhookError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.summary())?;
        if self.kind == WebhookErrorKind::MissingSecret {
            match self.secret_variable {
                Some(variable) => {
                    write!(f, ": set {variable}, or give the secret to the verifier")?
                }
                None => f.write_str(": give the secret to the verifier")?,
            }
        }
        if let Some(detail) = &self.detail {
            write!(f, " ({detail})")?;
        }
        Ok(())
    }
}

impl std::error::Error for WebhookError {}

/// At most `max` characters of `value`, escaped, for an error message about untrusted input.
pub(crate) fn excerpt(value: &[u8], max: usize) -> String {
    let text = String::from_utf8_lossy(value);
    let shown: String = text
        .chars()
        .take(max)
        .flat_map(char::escape_default)
        .collect();
    if text.chars().count() > max {
        format!("`{shown}…`")
    } else {
        format!("`{shown}`")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What `main` prints when `Verifier::from_env()?` fails says what to do.
    #[test]
    fn debug_leads_with_what_to_do() {
        let error = WebhookError::missing_secret("STRIPE_WEBHOOK_SECRET")
            .with_detail("STRIPE_WEBHOOK_SECRET is unset or empty");
        let debug = format!("{error:?}");
        assert!(
            debug.starts_with(
                "WebhookError { kind: MissingSecret, message: \"no webhook signing secret: set \
                 STRIPE_WEBHOOK_SECRET, or give the secret to the verifier"
            ),
            "{debug}"
        );
        assert!(
            debug.contains("STRIPE_WEBHOOK_SECRET is unset or empty"),
            "{debug}"
        );
    }
}
