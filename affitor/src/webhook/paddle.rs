//! Paddle Billing: the `Paddle-Signature` header, and the transactions and adjustments of a
//! sale and a refund.

use std::time::SystemTime;

use serde::Deserialize;

use super::error::{WebhookError, WebhookErrorKind};
use super::event::{Action, Ignored, ProviderEvent};
use super::payload::{
    Metadata, Payment, PaymentFields, RefundFields, RefundKeys, Refunded, lenient, minor_units,
    read_json, rfc3339,
};
use super::refunds::RefundId;
use super::signature::TimestampedHeader;
use super::verifier::{Provider, SecretShape, Verifier, sealed::Scheme, utf8_key};
use crate::client::SaleType;

/// The prefix of a notification destination's secret key.
const NTFSET: &str = "pdl_ntfset_";

/// Paddle Billing: its `Paddle-Signature` header, and the transactions and adjustments of a
/// sale and a refund. Used as `Verifier<Paddle>` and, in `affitor-axum` and `affitor-actix`,
/// `WebhookEvent<Paddle>`.
///
/// See the [module docs](super#paddle) for the events it tracks. The secret is the
/// notification destination's secret key (`pdl_ntfset_...`), keyed by its UTF-8 bytes.
///
/// ```
/// use affitor::webhook::{Paddle, Verifier};
///
/// let paddle = Verifier::<Paddle>::new("pdl_ntfset_test_secret_key")?; // or ::from_env()?
/// # Ok::<(), affitor::webhook::WebhookError>(())
/// ```
#[derive(Debug)]
pub enum Paddle {}

impl Provider for Paddle {
    const NAME: &'static str = "Paddle";
    const SECRET_VARIABLE: &'static str = "PADDLE_WEBHOOK_SECRET";
}

impl Scheme for Paddle {
    /// Paddle expects a 2xx within 5 s.
    const TRACK_DEADLINE: std::time::Duration = std::time::Duration::from_secs(4);
    /// Paddle issues `pdl_ntfset_`, an id and a key: some 60 more.
    const MIN_SECRET_CHARS: usize = 12;
    const SECRET_PREFIXES: &'static [&'static str] = &[NTFSET];

    fn keys(secret: &str) -> Vec<Vec<u8>> {
        utf8_key(secret)
    }

    /// `pdl_ntfset_...`: a notification destination's secret key.
    fn issued_shape(secret: &str) -> SecretShape {
        if secret.starts_with(NTFSET) && secret.len() >= NTFSET.len() + 16 {
            SecretShape::Usual
        } else if secret.contains("_apikey_") {
            SecretShape::Wrong("is a Paddle API key, not the notification destination's secret key")
        } else {
            SecretShape::Unusual(
                "does not look like a notification destination's secret key (pdl_ntfset_...)",
            )
        }
    }

    fn checkout_fields(_customer_key: &str, metadata: serde_json::Value) -> serde_json::Value {
        serde_json::json!({ "custom_data": metadata })
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
        // Paddle's own SDKs refuse a signature older than 5 s, which turns away any delivery
        // that waited in a queue: the verifier's tolerance (minutes) bounds replays instead.
        HEADER.verify(config, headers, body, now)?;
        let Envelope {
            event_id,
            event_type,
            occurred_at,
            data,
        } = read_json(body)?;
        let (Some(event_type), Some(data)) = (event_type, data) else {
            return Err(WebhookError::new(WebhookErrorKind::NotAnEvent)
                .with_detail("no `event_type` string or no `data` object"));
        };
        let action = match event_type.as_str() {
            "transaction.completed" => transaction_completed(data),
            "adjustment.created" | "adjustment.updated" => adjustment(data),
            _ => Action::Ignore(Ignored::EventType),
        };
        Ok(ProviderEvent::new(
            event_id.unwrap_or_default(),
            event_type,
            action,
            occurred_at.as_deref().and_then(rfc3339),
            config.tracking.clone(),
        ))
    }
}

/// `Paddle-Signature: ts=<unix time>;h1=<hex>[;h1=<hex>...]`.
const HEADER: TimestampedHeader = TimestampedHeader {
    name: "Paddle-Signature",
    separator: ';',
    timestamp: "ts",
    signature: "h1",
    joiner: b":",
};

/// A Paddle notification: its event's id, type and time, and `data`.
#[derive(Deserialize)]
struct Envelope {
    #[serde(default, deserialize_with = "lenient")]
    event_id: Option<String>,
    #[serde(default, deserialize_with = "lenient")]
    event_type: Option<String>,
    /// When the event happened, RFC 3339: the same on every redelivery.
    #[serde(default, deserialize_with = "lenient")]
    occurred_at: Option<String>,
    data: Option<Entity>,
}

/// The fields of a transaction or an adjustment that a sale or refund needs.
#[derive(Default, Deserialize)]
#[serde(default)]
struct Entity {
    #[serde(deserialize_with = "lenient")]
    id: Option<String>,
    /// A transaction's: how it was made (`web`, `api`, `subscription_recurring`, ...).
    #[serde(deserialize_with = "lenient")]
    origin: Option<String>,
    #[serde(deserialize_with = "lenient")]
    subscription_id: Option<String>,
    #[serde(deserialize_with = "lenient")]
    currency_code: Option<String>,
    /// Yours, set at checkout; Paddle copies it to the subscription and its renewals.
    custom_data: Metadata,
    /// A transaction's totals.
    #[serde(deserialize_with = "lenient")]
    details: Option<Details>,
    /// An adjustment's: `refund`, `chargeback`, `chargeback_reverse`, `credit`, ...
    #[serde(deserialize_with = "lenient")]
    action: Option<String>,
    /// An adjustment's: `pending_approval`, `approved`, `rejected`, `reversed`.
    #[serde(deserialize_with = "lenient")]
    status: Option<String>,
    /// An adjustment's: the transaction it returns money of.
    #[serde(deserialize_with = "lenient")]
    transaction_id: Option<String>,
    /// An adjustment's: `full` or `partial`.
    #[serde(rename = "type", deserialize_with = "lenient")]
    kind: Option<String>,
    #[serde(deserialize_with = "lenient")]
    reason: Option<String>,
    /// An adjustment's totals.
    #[serde(deserialize_with = "lenient")]
    totals: Option<Totals>,
}

#[derive(Default, Deserialize)]
#[serde(default)]
struct Details {
    #[serde(deserialize_with = "lenient")]
    totals: Option<Totals>,
}

/// Amounts in minor units, written as strings.
#[derive(Default, Deserialize)]
#[serde(default)]
struct Totals {
    /// What the customer was charged: the total less any credit applied.
    #[serde(deserialize_with = "minor_units")]
    grand_total: Option<i64>,
    /// Subtotal, tax and discount: an adjustment's amount.
    #[serde(deserialize_with = "minor_units")]
    total: Option<i64>,
}

/// `transaction.completed`: a sale keyed by the transaction, a renewal when a subscription
/// billed it.
fn transaction_completed(transaction: Entity) -> Action {
    let totals = transaction
        .details
        .and_then(|details| details.totals)
        .unwrap_or_default();
    let metadata = &transaction.custom_data;
    Payment {
        transaction_id: transaction.id,
        amount_cents: totals.grand_total.or(totals.total),
        currency: transaction.currency_code,
        customer_key: metadata.first(&["affitor_customer_key", "user_id"]),
        click_id: metadata.get("affitor_click_id"),
        sale_type: if transaction.subscription_id.is_some() {
            SaleType::Subscription
        } else {
            SaleType::Payment
        },
        is_recurring: transaction.origin.as_deref() == Some("subscription_recurring"),
        subscription_id: transaction.subscription_id,
        test_mode: false,
        upgrade: transaction.origin.as_deref() == Some("subscription_update"),
        // Checkout's (`web`) or the API's (`api`) first transaction of a subscription; not a
        // payment method's change, a one-off charge, a renewal or a change of plan.
        opens_subscription: matches!(transaction.origin.as_deref(), Some("web" | "api")),
        reason: transaction.origin,
    }
    .into_action(PaymentFields {
        transaction_id: "id",
        amount: "details.totals.grand_total",
        currency: "currency_code",
        exponents: &super::currency::PADDLE,
    })
}

/// `adjustment.created` and `adjustment.updated`: a refund or a chargeback of a transaction,
/// counted once approved (a refund waits for Paddle's approval; a chargeback is approved when
/// it is made). Both events of one adjustment may say `approved`: Affitor reverses a sale's
/// commission once.
fn adjustment(adjustment: Entity) -> Action {
    let action = adjustment.action.as_deref().unwrap_or_default();
    let reason = match action {
        "refund" => adjustment.reason,
        "chargeback" => Some(match adjustment.reason {
            Some(reason) => format!("chargeback: {reason}"),
            None => "chargeback".to_owned(),
        }),
        "chargeback_reverse" => return Action::Ignore(Ignored::DisputeWon),
        "" => return Action::Ignore(Ignored::MissingField("action")),
        other => return Action::Ignore(Ignored::ReturnsNoPayment(other.to_owned())),
    };
    match adjustment.status.as_deref() {
        Some("approved") => {}
        Some(status) => return Action::Ignore(Ignored::NotApproved(status.to_owned())),
        None => return Action::Ignore(Ignored::MissingField("status")),
    }
    let Some(transaction_id) = adjustment.transaction_id else {
        return Action::Ignore(Ignored::MissingField("transaction_id"));
    };
    // `type: partial` returns `totals.total`; `full` the whole transaction.
    let full = adjustment.kind.as_deref() == Some("full");
    let returned = adjustment.totals.and_then(|totals| totals.total);
    Refunded::of(returned, None, full).into_action(
        RefundKeys {
            transaction_id,
            other_transaction_id: None,
            reason,
            // Both events of one adjustment name it: one refund.
            identity: adjustment.id.map(RefundId::Refund),
            fields: RefundFields {
                amount: "totals.total",
                currency: "currency_code",
                exponents: &super::currency::PADDLE,
            },
        },
        adjustment.currency_code.as_deref(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_signature_header_keeps_every_h1() {
        let one = "a".repeat(64);
        let two = "b".repeat(64);
        let (ts, signatures) = HEADER
            .parse(format!("ts=1671552777;h1={one};h1={two};h2=zz").as_bytes())
            .unwrap();
        assert_eq!(ts, 1_671_552_777);
        assert_eq!(signatures, [vec![0xaa; 32], vec![0xbb; 32]]);
    }

    #[test]
    fn a_header_without_ts_or_h1_is_malformed() {
        for header in [
            "h1=".to_owned() + &"a".repeat(64),
            "ts=1".to_owned(),
            "ts=x;h1=00".into(),
        ] {
            let error = HEADER.parse(header.as_bytes()).unwrap_err();
            assert_eq!(
                error.kind(),
                WebhookErrorKind::MalformedSignature,
                "{header}"
            );
        }
    }

    #[test]
    fn secret_shapes() {
        assert_eq!(
            Paddle::secret_shape(
                "pdl_ntfset_01gkpjp8bkm3tm53kdgkx6sms7_6h3qd3uFSi9YCD3OLYAShQI90XTI5vEI"
            ),
            SecretShape::Usual
        );
        assert!(matches!(
            Paddle::secret_shape("pdl_live_apikey_01abc"),
            SecretShape::Wrong(_)
        ));
        assert!(matches!(
            Paddle::secret_shape("something"),
            SecretShape::Unusual(_)
        ));
    }
}
