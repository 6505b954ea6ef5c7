//! Polar: Standard Webhooks signatures, and the orders of a sale and a refund.

use std::time::SystemTime;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use serde::Deserialize;

use super::error::{WebhookError, WebhookErrorKind, excerpt};
use super::event::{Action, Ignored, ProviderEvent};
use super::payload::{
    Metadata, Parsed, Payment, PaymentFields, RefundFields, RefundKeys, Refunded, lenient,
    non_empty, parse,
};
use super::refunds::RefundId;
use super::signature::{check_timestamp, find_headers};
use super::verifier::{Provider, SecretShape, Verifier, sealed::Scheme};
use crate::client::SaleType;

/// The prefix of a Standard Webhooks secret whose key is the base64 that follows.
const WHSEC: &str = "whsec_";
/// The prefix of a webhook secret as Polar issues it.
const POLAR_WHS: &str = "polar_whs_";

/// Polar, and any sender of [Standard Webhooks](https://www.standardwebhooks.com/)
/// (`webhook-id`, `webhook-timestamp`, `webhook-signature`): its orders' sales and refunds. Used
/// as `Verifier<Polar>` and, in `affitor-axum` and `affitor-actix`, `WebhookEvent<Polar>`.
///
/// See the [module docs](super#polar) for the events it tracks. A secret is keyed by its UTF-8
/// bytes, as Polar's SDK does whatever its prefix, and a secret `whsec_<base64>` also by its
/// decoded bytes, as the Standard Webhooks convention has it.
///
/// ```
/// use affitor::webhook::{Polar, Verifier};
///
/// let polar = Verifier::<Polar>::new("polar_whs_test_secret")?; // or ::from_env()?
/// # Ok::<(), affitor::webhook::WebhookError>(())
/// ```
#[derive(Debug)]
pub enum Polar {}

impl Provider for Polar {
    const NAME: &'static str = "Polar";
    const SECRET_VARIABLE: &'static str = "POLAR_WEBHOOK_SECRET";
}

impl Scheme for Polar {
    const SECRET_PREFIXES: &'static [&'static str] = &[POLAR_WHS, WHSEC];

    fn keys(secret: &str) -> Vec<Vec<u8>> {
        keys(secret)
    }

    /// `polar_whs_...` as Polar issues it, or a Standard Webhooks `whsec_<base64>`; Polar's SDK
    /// takes any string, so another shape is only unusual.
    fn issued_shape(secret: &str) -> SecretShape {
        if let Some(rest) = secret.strip_prefix(POLAR_WHS) {
            return if rest.len() >= 16 {
                SecretShape::Usual
            } else {
                SecretShape::Unusual("starts with polar_whs_ but is short")
            };
        }
        if let Some(rest) = secret.strip_prefix(WHSEC) {
            let base64 = |b: u8| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'/' | b'=');
            return if !rest.is_empty() && rest.bytes().all(base64) {
                SecretShape::Usual
            } else {
                SecretShape::Unusual("starts with whsec_ but what follows is not base64")
            };
        }
        if ["polar_oat_", "polar_pat_", "polar_at_"]
            .iter()
            .any(|token| secret.starts_with(token))
        {
            return SecretShape::Wrong("is a Polar access token, not the webhook's secret");
        }
        SecretShape::Unusual("does not start with polar_whs_, as Polar's webhook secrets do")
    }

    fn checkout_fields(_customer_key: &str, metadata: serde_json::Value) -> serde_json::Value {
        serde_json::json!({ "metadata": metadata })
    }

    fn verify<K, V>(
        verifier: &Verifier<Self>,
        headers: impl IntoIterator<Item = (K, V)>,
        body: &[u8],
        now: SystemTime,
    ) -> Result<ProviderEvent, WebhookError>
    where
        K: AsRef<str>,
        V: AsRef<[u8]>,
    {
        let config = &verifier.config;
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
        config.check_signatures(&[id, b".", timestamp_text, b".", body], &signatures, "v1")?;
        check_timestamp(timestamp, now, config.tolerance, true)?;
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
            config.tracking.clone(),
        ))
    }
}

/// The HMAC keys of a Polar secret, the one a sender signs with first: the UTF-8 bytes of the
/// whole secret (what Polar's own SDK hands to Standard Webhooks, whatever the prefix), and,
/// for a `whsec_` secret whose rest is base64, those bytes decoded (the Standard Webhooks
/// convention, which other senders follow). Both come from the user's own secret, so trying
/// both accepts no signature that neither reading of the secret makes.
pub(crate) fn keys(secret: &str) -> Vec<Vec<u8>> {
    let decoded = secret
        .strip_prefix(WHSEC)
        .and_then(|encoded| BASE64.decode(encoded).ok())
        .filter(|bytes| !bytes.is_empty());
    decoded
        .into_iter()
        .chain([secret.as_bytes().to_vec()])
        .collect()
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
        upgrade: reason == Some("subscription_update"),
        opens_subscription: reason == Some("subscription_create"),
        reason: reason.map(str::to_owned),
    }
    .into_action(PaymentFields {
        transaction_id: "id",
        amount: "total_amount",
        currency: "currency",
        exponents: &super::currency::POLAR,
    })
}

fn order_refunded(order: Order) -> Action {
    let Some(transaction_id) = order.id else {
        return Action::Ignore(Ignored::MissingField("id"));
    };
    // The sale was the total, tax included: so is what is refunded of it.
    let refunded = order
        .refunded_amount
        .map(|amount| amount.saturating_add(order.refunded_tax_amount.unwrap_or(0).max(0)));
    let full = order.status.as_deref() == Some("refunded");
    let identity = refunded
        .and_then(|total| u64::try_from(total).ok())
        .map(RefundId::Total);
    Refunded::of(refunded, order.total_amount.or(order.amount), full).into_action(
        RefundKeys {
            transaction_id,
            other_transaction_id: None,
            reason: None,
            identity,
            fields: RefundFields {
                amount: "refunded_amount",
                currency: "currency",
                exponents: &super::currency::POLAR,
            },
        },
        order.currency.as_deref(),
    )
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
        assert_eq!(keys("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").len(), 2);
        // Anything else: the whole text only.
        for secret in ["polar_whs_anything at all", "whsec_not base64!", "whsec_"] {
            assert_eq!(keys(secret).len(), 1, "{secret}");
        }
    }

    #[test]
    fn secret_shapes() {
        assert_eq!(
            Polar::secret_shape("polar_whs_0123456789abcdefghij"),
            SecretShape::Usual
        );
        assert_eq!(
            Polar::secret_shape("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"),
            SecretShape::Usual
        );
        assert!(matches!(
            Polar::secret_shape("polar_oat_abc"),
            SecretShape::Wrong(_)
        ));
        assert!(matches!(
            Polar::secret_shape("anything"),
            SecretShape::Unusual(_)
        ));
    }
}
