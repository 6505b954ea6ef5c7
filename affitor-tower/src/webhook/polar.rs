//! Polar: Standard Webhooks signatures, and the orders of a sale and a refund.

use std::fmt;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use serde::Deserialize;

use super::builder::Builder;
use super::error::{WebhookError, WebhookErrorKind, excerpt};
use super::payload::{Metadata, Parsed, Payment, currency, lenient, non_empty, parse, partial};
use super::signature::{Config, Key, Secrets, any_matches, check_timestamp, find_headers};
use super::{Action, Ignored, ProviderEvent, Refund, Tracked, verify_and_track};
use crate::{Client, client::SaleType};

/// The environment variable [`Polar::from_env`] reads.
const SECRET_VARIABLE: &str = "POLAR_WEBHOOK_SECRET";

/// The prefix of a Standard Webhooks secret whose key is the base64 that follows.
const WHSEC: &str = "whsec_";

/// Verifies Polar webhooks ([Standard Webhooks](https://www.standardwebhooks.com/):
/// `webhook-id`, `webhook-timestamp`, `webhook-signature`) and reads their orders.
///
/// See the [module docs](super) for the events it tracks. A secret is keyed by its UTF-8 bytes,
/// as Polar's SDK does whatever its prefix, and a secret `whsec_<base64>` also by its decoded
/// bytes, as the Standard Webhooks convention has it; so this verifies Polar and any Standard
/// Webhooks sender.
///
/// Cheap to clone (one `Arc`); the secrets never appear in its `Debug` output, in errors or in
/// logs.
///
/// ```
/// # #[cfg(feature = "mock")] {
/// use affitor_tower::webhook::Polar;
/// # use affitor_tower::mock::SignedWebhook;
///
/// let polar = Polar::new("polar_whs_test_secret")?; // or Polar::from_env()?
/// # let body = r#"{"type":"checkout.created","data":{}}"#;
/// # let signed = SignedWebhook::polar("polar_whs_test_secret", body);
/// # let (headers, body) = (signed.headers(), signed.body());
/// let event = polar.verify(headers, body)?;
/// assert_eq!(event.event_type, "checkout.created");
/// assert!(!format!("{polar:?}").contains("polar_whs_test_secret"));
/// # }
/// # Ok::<(), affitor_tower::webhook::WebhookError>(())
/// ```
#[derive(Clone)]
pub struct Polar {
    config: Arc<Config>,
}

impl Polar {
    /// A verifier for the endpoint whose secret is `secret`.
    ///
    /// # Errors
    ///
    /// [`WebhookErrorKind::InvalidSecret`] when the secret is empty.
    ///
    /// ```
    /// let polar = affitor_tower::webhook::Polar::new("polar_whs_test_secret")?;
    /// # Ok::<(), affitor_tower::webhook::WebhookError>(())
    /// ```
    pub fn new(secret: impl Into<String>) -> Result<Self, WebhookError> {
        Self::builder().secret(secret).build()
    }

    /// A verifier whose secret is `POLAR_WEBHOOK_SECRET`: one secret, or several separated by
    /// commas (during a rotation).
    ///
    /// # Errors
    ///
    /// [`WebhookErrorKind::MissingSecret`] when the variable is unset or empty, and those of
    /// [`Polar::new`].
    ///
    /// ```no_run
    /// let polar = affitor_tower::webhook::Polar::from_env()?;
    /// # Ok::<(), affitor_tower::webhook::WebhookError>(())
    /// ```
    pub fn from_env() -> Result<Self, WebhookError> {
        match Secrets::from_env(SECRET_VARIABLE) {
            Some(secrets) => Builder::<Self>::new(secrets).build(),
            None => Err(WebhookError::new(WebhookErrorKind::MissingSecret)
                .with_detail(format!("{SECRET_VARIABLE} is unset or empty"))),
        }
    }

    /// A builder, for several secrets, the tolerance and the body limit.
    ///
    /// ```
    /// let polar = affitor_tower::webhook::Polar::builder().secret("polar_whs_test").build()?;
    /// # Ok::<(), affitor_tower::webhook::WebhookError>(())
    /// ```
    pub fn builder() -> Builder<Self> {
        Builder::new(Secrets::default())
    }

    /// How far a signature's timestamp may lie in the past or in the future.
    ///
    /// ```
    /// let polar = affitor_tower::webhook::Polar::new("polar_whs_test")?;
    /// assert_eq!(polar.tolerance().as_secs(), 300);
    /// # Ok::<(), affitor_tower::webhook::WebhookError>(())
    /// ```
    pub fn tolerance(&self) -> Duration {
        self.config.tolerance
    }

    /// The longest body accepted, in bytes: read no more than this from the request.
    ///
    /// ```
    /// let polar = affitor_tower::webhook::Polar::new("polar_whs_test")?;
    /// assert_eq!(polar.body_limit(), 1024 * 1024);
    /// # Ok::<(), affitor_tower::webhook::WebhookError>(())
    /// ```
    pub fn body_limit(&self) -> usize {
        self.config.body_limit
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
    /// use affitor_tower::webhook::{Polar, WebhookErrorKind};
    ///
    /// let polar = Polar::new("polar_whs_test")?;
    /// let error = polar.verify([("webhook-id", "msg_1")], b"{}").unwrap_err();
    /// assert_eq!(error.kind(), WebhookErrorKind::MissingSignature);
    /// # Ok::<(), affitor_tower::webhook::WebhookError>(())
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
    /// # #[cfg(feature = "mock")] {
    /// use std::time::{Duration, UNIX_EPOCH};
    /// use affitor_tower::webhook::{Polar, WebhookErrorKind};
    ///
    /// let polar = Polar::new("polar_whs_test")?;
    /// let signed_at = UNIX_EPOCH + Duration::from_secs(1_700_000_000);
    /// # let body = r#"{"type":"checkout.created","data":{}}"#;
    /// # let signed = affitor_tower::mock::SignedWebhook::polar_at("polar_whs_test", "msg_1", body, signed_at);
    /// # let (headers, body) = (signed.headers(), signed.body());
    /// let early = signed_at - Duration::from_secs(301);
    /// let error = polar.verify_at(headers, body, early).unwrap_err();
    /// assert_eq!(error.kind(), WebhookErrorKind::Expired);
    /// # }
    /// # Ok::<(), affitor_tower::webhook::WebhookError>(())
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
        self.config.check_size(body)?;
        let [id, timestamp, signature] = find_headers(
            headers,
            ["webhook-id", "webhook-timestamp", "webhook-signature"],
        );
        let (Some(id), Some(timestamp), Some(signature)) = (id, timestamp, signature) else {
            return Err(
                WebhookError::new(WebhookErrorKind::MissingSignature).with_detail(
                    "Standard Webhooks needs the `webhook-id`, `webhook-timestamp` and \
                 `webhook-signature` headers",
                ),
            );
        };
        let (id, timestamp_text) = (id.as_ref(), timestamp.as_ref());
        let timestamp = std::str::from_utf8(timestamp_text)
            .ok()
            .and_then(|text| text.trim().parse::<i64>().ok())
            .ok_or_else(|| {
                WebhookError::new(WebhookErrorKind::MalformedSignature).with_detail(format!(
                    "`webhook-timestamp` {} is not a Unix time",
                    excerpt(timestamp_text, 24)
                ))
            })?;
        let signatures = parse_signatures(signature.as_ref())?;
        let signed = [id, b".", timestamp_text, b".", body];
        if !any_matches(&self.config.keys, &signed, &signatures) {
            return Err(
                WebhookError::new(WebhookErrorKind::SignatureMismatch).with_detail(format!(
                    "{} `v1` signature(s) tried with {} secret(s)",
                    signatures.len(),
                    self.config.keys.len()
                )),
            );
        }
        check_timestamp(timestamp, now, self.config.tolerance, true)?;
        let Parsed {
            event_type,
            data: order,
            created,
            ..
        } = parse::<Order>(body)?;
        let action = match event_type.as_str() {
            "order.paid" => order_paid(order),
            "order.refunded" => order_refunded(order),
            _ => Action::Ignore(Ignored::EventType),
        };
        // Standard Webhooks bodies carry no id: the header does.
        Ok(ProviderEvent::new(
            String::from_utf8_lossy(id).into_owned(),
            event_type,
            action,
            created,
            self.config.tracking.clone(),
        ))
    }

    /// Verifies a delivery, reads its event and tracks it with `client`: what happened, and
    /// the status to answer with ([`Tracked::status`]). The one call a handler needs.
    ///
    /// ```
    /// # async fn handler(polar: affitor_tower::webhook::Polar, client: affitor_tower::Client,
    /// #     headers: http::HeaderMap, body: bytes::Bytes) -> http::StatusCode {
    /// polar.track(&client, &headers, &body).await.status()
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
        verify_and_track(self.verify(headers, body), client.as_ref(), "polar").await
    }
}

impl Builder<Polar> {
    /// The verifier.
    ///
    /// # Errors
    ///
    /// [`WebhookErrorKind::MissingSecret`] without a secret, and
    /// [`WebhookErrorKind::InvalidSecret`] for an empty one.
    ///
    /// ```
    /// let polar = affitor_tower::webhook::Polar::builder().secret("polar_whs_test").build()?;
    /// # Ok::<(), affitor_tower::webhook::WebhookError>(())
    /// ```
    pub fn build(self) -> Result<Polar, WebhookError> {
        let config = self.config("Polar", keys)?;
        Ok(Polar { config })
    }
}

/// The HMAC keys of a Polar secret, the one a sender signs with first: the UTF-8 bytes of the
/// whole secret (what Polar's own SDK hands to Standard Webhooks, whatever the prefix), and,
/// for a `whsec_` secret whose rest is base64, those bytes decoded (the Standard Webhooks
/// convention, which other senders follow). Both come from the user's own secret, so trying
/// both accepts no signature that neither reading of the secret makes.
pub(crate) fn keys(secret: &str) -> Result<Vec<Key>, WebhookError> {
    let decoded = secret
        .strip_prefix(WHSEC)
        .and_then(|encoded| BASE64.decode(encoded).ok())
        .filter(|bytes| !bytes.is_empty())
        .map(|bytes| Key::new(&bytes));
    Ok(decoded
        .into_iter()
        .chain([Key::new(secret.as_bytes())])
        .collect())
}

impl fmt::Debug for Polar {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Polar")
            .field("secrets", &self.config.keys.len())
            .field("tolerance", &self.config.tolerance)
            .field("body_limit", &self.config.body_limit)
            .finish()
    }
}

/// Reads `v1,<base64> v1,<base64> ...`: every `v1` signature (other versions are skipped).
fn parse_signatures(header: &[u8]) -> Result<Vec<Vec<u8>>, WebhookError> {
    let signatures: Vec<Vec<u8>> = header
        .split(|byte| byte.is_ascii_whitespace())
        .filter_map(|item| {
            let encoded = item.strip_prefix(b"v1,")?;
            BASE64
                .decode(encoded)
                .ok()
                .filter(|bytes| bytes.len() == 32)
        })
        .collect();
    if signatures.is_empty() {
        return Err(
            WebhookError::new(WebhookErrorKind::MalformedSignature).with_detail(format!(
                "no `v1,<base64>` signature in `webhook-signature` {}",
                excerpt(header, 40)
            )),
        );
    }
    Ok(signatures)
}

/// The fields of an order that a sale or refund needs.
#[derive(Default, Deserialize)]
#[serde(default)]
struct Order {
    #[serde(deserialize_with = "lenient")]
    id: Option<String>,
    #[serde(deserialize_with = "lenient")]
    total_amount: Option<i64>,
    /// Older orders' name of the amount.
    #[serde(deserialize_with = "lenient")]
    amount: Option<i64>,
    /// The amount refunded so far, tax excluded.
    #[serde(deserialize_with = "lenient")]
    refunded_amount: Option<i64>,
    /// The tax refunded so far.
    #[serde(deserialize_with = "lenient")]
    refunded_tax_amount: Option<i64>,
    #[serde(deserialize_with = "lenient")]
    status: Option<String>,
    #[serde(deserialize_with = "lenient")]
    currency: Option<String>,
    #[serde(deserialize_with = "lenient")]
    billing_reason: Option<String>,
    #[serde(deserialize_with = "lenient")]
    subscription_id: Option<String>,
    metadata: Metadata,
    #[serde(deserialize_with = "lenient")]
    customer: Option<Customer>,
}

#[derive(Default, Deserialize)]
#[serde(default)]
struct Customer {
    #[serde(deserialize_with = "lenient")]
    external_id: Option<String>,
}

fn order_paid(order: Order) -> Action {
    let reason = order.billing_reason.as_deref();
    let metadata = &order.metadata;
    let external_id = order
        .customer
        .and_then(|customer| customer.external_id)
        .and_then(|id| non_empty(&id));
    Payment {
        transaction_id: order.id,
        amount_cents: order.total_amount.or(order.amount),
        currency: order.currency,
        customer_key: metadata
            .first(&["affitor_customer_key", "user_id"])
            .or(external_id),
        click_id: metadata.first(&["affitor_click_id", "reference_id"]),
        sale_type: if order.subscription_id.is_some()
            || reason.is_some_and(|reason| reason.starts_with("subscription_"))
        {
            SaleType::Subscription
        } else {
            SaleType::Payment
        },
        // A renewal: a new period, or a period's metered usage.
        is_recurring: matches!(
            reason,
            Some("subscription_cycle" | "subscription_meter_cycle")
        ),
        subscription_id: order.subscription_id,
        test_mode: false,
    }
    .into_action("id")
}

fn order_refunded(order: Order) -> Action {
    let Some(transaction_id) = order.id else {
        return Action::Ignore(Ignored::MissingField("id"));
    };
    // The sale was the total, tax included: so is what is refunded of it.
    let refunded = order
        .refunded_amount
        .map(|amount| amount.saturating_add(order.refunded_tax_amount.unwrap_or(0).max(0)));
    Action::Refund(Refund {
        transaction_id,
        other_transaction_id: None,
        amount_cents: partial(
            refunded,
            order.total_amount.or(order.amount),
            order.status.as_deref() == Some("refunded"),
        ),
        currency: currency(order.currency.as_deref()),
        reason: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signatures_are_space_separated_and_only_v1_counts() {
        let one = BASE64.encode([1u8; 32]);
        let two = BASE64.encode([2u8; 32]);
        let header = format!("v1a,{one} v1,{one}  v1,{two} v1,short v2,{two}");
        assert_eq!(
            parse_signatures(header.as_bytes()).expect("readable"),
            vec![vec![1; 32], vec![2; 32]]
        );
        for header in ["", "v1,", "v1a,abc", "v1,not base64!"] {
            let error = parse_signatures(header.as_bytes()).expect_err(header);
            assert_eq!(error.kind(), WebhookErrorKind::MalformedSignature);
        }
    }

    #[test]
    fn a_whsec_secret_is_read_both_ways() {
        // Base64 after the prefix: the decoded bytes (Standard Webhooks) and the whole text
        // (Polar's SDK).
        assert_eq!(
            keys("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")
                .unwrap()
                .len(),
            2
        );
        // Anything else: the whole text only.
        for secret in ["polar_whs_anything at all", "whsec_not base64!", "whsec_"] {
            assert_eq!(keys(secret).unwrap().len(), 1, "{secret}");
        }
    }
}
