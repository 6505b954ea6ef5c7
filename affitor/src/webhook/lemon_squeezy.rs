//! Lemon Squeezy: the `X-Signature` header, and the orders and subscription invoices of a sale
//! and a refund.

use std::time::SystemTime;

use serde::Deserialize;

use super::error::{WebhookError, WebhookErrorKind, excerpt};
use super::event::{Action, Ignored, ProviderEvent};
use super::payload::{
    Metadata, Payment, PaymentFields, RefundFields, RefundKeys, Refunded, lenient, minor_units,
    read_json, rfc3339, text,
};
use super::refunds::RefundId;
use super::signature::{decode_hex, find_headers};
use super::verifier::{Provider, SecretShape, Verifier, sealed::Scheme, utf8_key};
use crate::client::SaleType;

/// Lemon Squeezy: its `X-Signature` header, and the orders and subscription invoices of a sale
/// and a refund. Used as `Verifier<LemonSqueezy>` and, in `affitor-axum` and `affitor-actix`,
/// `WebhookEvent<LemonSqueezy>`.
///
/// See the [module docs](super#lemon-squeezy) for the events it tracks. The secret is the
/// signing secret you chose for the webhook, whole (spaces and commas are part of it), keyed by
/// its UTF-8 bytes.
///
/// ```
/// use affitor::webhook::{LemonSqueezy, Verifier};
///
/// let lemon_squeezy = Verifier::<LemonSqueezy>::new("a signing secret")?; // or ::from_env()?
/// # Ok::<(), affitor::webhook::WebhookError>(())
/// ```
#[derive(Debug)]
pub enum LemonSqueezy {}

impl Provider for LemonSqueezy {
    const NAME: &'static str = "Lemon Squeezy";
    const SECRET_VARIABLE: &'static str = "LEMONSQUEEZY_WEBHOOK_SECRET";
}

impl Scheme for LemonSqueezy {
    /// Its secret is yours, spaces and commas included: no shape tells a list from one.
    const ISSUES_SECRETS: bool = false;

    fn keys(secret: &str) -> Vec<Vec<u8>> {
        utf8_key(secret)
    }

    /// The signing secret chosen in Lemon Squeezy's dashboard: 6 to 40 characters.
    fn issued_shape(secret: &str) -> SecretShape {
        match secret.chars().count() {
            0..6 => SecretShape::Wrong(
                "is shorter than the 6 characters Lemon Squeezy asks of a signing secret",
            ),
            6..=40 => SecretShape::Usual,
            _ => SecretShape::Unusual(
                "is longer than the 40 characters Lemon Squeezy takes for a signing secret",
            ),
        }
    }

    fn checkout_fields(_customer_key: &str, metadata: serde_json::Value) -> serde_json::Value {
        serde_json::json!({ "checkout_data": { "custom": metadata } })
    }

    fn verify<K, V>(
        verifier: &Verifier<Self>,
        headers: impl IntoIterator<Item = (K, V)>,
        body: &[u8],
        _now: SystemTime,
    ) -> Result<ProviderEvent, WebhookError>
    where
        K: AsRef<str>,
        V: AsRef<[u8]>,
    {
        let config = &verifier.config;
        let [header] = find_headers(headers, ["x-signature"]);
        let Some(header) = header else {
            return Err(WebhookError::new(WebhookErrorKind::MissingSignature)
                .with_detail("no `X-Signature` header"));
        };
        let header = header.as_ref();
        let signature = std::str::from_utf8(header)
            .ok()
            .and_then(|text| decode_hex(text.trim()))
            .ok_or_else(|| {
                WebhookError::new(WebhookErrorKind::MalformedSignature).with_detail(format!(
                    "`X-Signature` {} is not 64 hex digits",
                    excerpt(header, 40)
                ))
            })?;
        // The signature covers the body alone: there is no timestamp to bound a replay. A
        // replayed sale is recorded once, under its transaction id; and a payment state that stores events
        // remembers the deliveries it stored, by their signature, to acknowledge a replay
        // without storing it again.
        let delivery = super::state::delivery_key("lemon-squeezy", &hex(&signature));
        config.check_signatures(&[body], &[signature], "X-Signature")?;
        let Envelope { meta, data } = read_json(body)?;
        let (Some(event_name), Some(data)) = (meta.event_name, data) else {
            return Err(WebhookError::new(WebhookErrorKind::NotAnEvent)
                .with_detail("no `meta.event_name` string or no `data` object"));
        };
        let test_mode = meta.test_mode.unwrap_or(false);
        let key = data.key();
        let id = key.clone().unwrap_or_default();
        let attributes = data.attributes;
        let refund = event_name.ends_with("_refunded");
        // A refund happened when the object was last updated; a payment when it was made.
        let created = if refund {
            attributes.updated_at.as_deref()
        } else {
            attributes.created_at.as_deref()
        }
        .and_then(rfc3339);
        let action = match event_name.as_str() {
            "order_created" => order_created(key, attributes, &meta.custom_data, test_mode),
            "subscription_payment_success" => {
                subscription_payment(key, attributes, &meta.custom_data, test_mode)
            }
            "order_refunded" | "subscription_payment_refunded" => {
                refunded(key, &attributes, test_mode)
            }
            _ => Action::Ignore(Ignored::EventType),
        };
        Ok(
            ProviderEvent::new(id, event_name, action, created, config.tracking.clone())
                .with_delivery(delivery),
        )
    }
}

/// A Lemon Squeezy event: `meta` (the event's name, your custom data, test mode) and `data`,
/// a JSON:API resource.
#[derive(Deserialize)]
struct Envelope {
    #[serde(default)]
    meta: Meta,
    data: Option<Resource>,
}

#[derive(Default, Deserialize)]
#[serde(default)]
struct Meta {
    #[serde(deserialize_with = "lenient")]
    event_name: Option<String>,
    /// Yours, from the checkout's `checkout_data.custom` (or `?checkout[custom][...]=`).
    custom_data: Metadata,
    #[serde(deserialize_with = "lenient")]
    test_mode: Option<bool>,
}

/// An order or a subscription invoice.
#[derive(Default, Deserialize)]
#[serde(default)]
struct Resource {
    /// `orders` or `subscription-invoices`.
    #[serde(rename = "type", deserialize_with = "lenient")]
    kind: Option<String>,
    #[serde(deserialize_with = "text")]
    id: Option<String>,
    attributes: Attributes,
}

impl Resource {
    /// The transaction id of the resource's sale: `orders/<id>` or
    /// `subscription-invoices/<id>`, its path in Lemon Squeezy's API; `None` without an id.
    fn key(&self) -> Option<String> {
        let id = self.id.as_deref()?;
        Some(format!("{}/{id}", self.kind.as_deref().unwrap_or("orders")))
    }
}

#[derive(Default, Deserialize)]
#[serde(default)]
struct Attributes {
    /// `paid`, `pending`, `failed`, `refunded`, `partial_refund`, ...
    #[serde(deserialize_with = "lenient")]
    status: Option<String>,
    /// The amount paid, tax included, in minor units.
    #[serde(deserialize_with = "minor_units")]
    total: Option<i64>,
    #[serde(deserialize_with = "minor_units")]
    refunded_amount: Option<i64>,
    #[serde(deserialize_with = "lenient")]
    currency: Option<String>,
    /// A subscription invoice's: `initial`, `renewal` or `updated`.
    #[serde(deserialize_with = "lenient")]
    billing_reason: Option<String>,
    #[serde(deserialize_with = "minor_units")]
    subscription_id: Option<i64>,
    /// An order's first item, which names its subscription when it started one.
    #[serde(deserialize_with = "lenient")]
    first_order_item: Option<OrderItem>,
    #[serde(deserialize_with = "lenient")]
    created_at: Option<String>,
    #[serde(deserialize_with = "lenient")]
    updated_at: Option<String>,
}

#[derive(Default, Deserialize)]
#[serde(default)]
struct OrderItem {
    #[serde(deserialize_with = "minor_units")]
    subscription_id: Option<i64>,
}

/// `order_created`: a sale keyed by the order, once paid. The first payment of a subscription
/// is its order (its `subscription_payment_success` says `initial`, and is not counted again).
fn order_created(
    key: Option<String>,
    order: Attributes,
    custom: &Metadata,
    test_mode: bool,
) -> Action {
    if order
        .status
        .as_deref()
        .is_some_and(|status| status != "paid")
    {
        return Action::Ignore(Ignored::NotPaid);
    }
    let subscription_id = order
        .first_order_item
        .and_then(|item| item.subscription_id)
        .filter(|id| *id > 0);
    let mut payment = sale(key, order.total, order.currency, custom, test_mode)
        .subscription(subscription_id, false);
    // A subscription's order is its first payment; a renewal or a change of plan is an invoice.
    payment.opens_subscription = true;
    // An order names no reason: the event's type stands for it.
    payment.reason = Some("order_created".to_owned());
    payment.into_action(PAYMENT_FIELDS)
}

/// `subscription_payment_success`: a renewal, or a change of plan, keyed by the subscription
/// invoice.
fn subscription_payment(
    key: Option<String>,
    invoice: Attributes,
    custom: &Metadata,
    test_mode: bool,
) -> Action {
    // A renewal, or a change of plan (`updated`: an upgrade's proration), a sale as on every
    // provider; `initial` is the subscription's first payment, whose order is the sale.
    let (is_recurring, upgrade) = match invoice.billing_reason.as_deref() {
        Some("renewal") => (true, false),
        Some("updated") => (false, true),
        Some(other) => return Action::Ignore(Ignored::BillingReason(other.to_owned())),
        None => return Action::Ignore(Ignored::MissingField("billing_reason")),
    };
    let mut payment = sale(key, invoice.total, invoice.currency, custom, test_mode)
        .subscription(invoice.subscription_id, is_recurring);
    payment.reason = invoice.billing_reason;
    payment.upgrade = upgrade;
    payment.into_action(PAYMENT_FIELDS)
}

/// The sale of a payment, before its kind is known.
fn sale(
    key: Option<String>,
    total: Option<i64>,
    currency: Option<String>,
    custom: &Metadata,
    test_mode: bool,
) -> Payment {
    Payment {
        transaction_id: key,
        amount_cents: total,
        currency,
        customer_key: custom.first(&["affitor_customer_key", "user_id"]),
        click_id: custom.get("affitor_click_id"),
        sale_type: SaleType::Payment,
        is_recurring: false,
        subscription_id: None,
        test_mode,
        reason: None,
        upgrade: false,
        opens_subscription: false,
    }
}

impl Payment {
    /// The payment of the subscription `id`, if any: a renewal with `is_recurring`.
    fn subscription(mut self, id: Option<i64>, is_recurring: bool) -> Self {
        if let Some(id) = id {
            self.sale_type = SaleType::Subscription;
            self.subscription_id = Some(id.to_string());
        }
        self.is_recurring = is_recurring;
        self
    }
}

/// `order_refunded`, `subscription_payment_refunded`: the refund of the order's or the
/// invoice's sale, partial when less than its total was refunded.
fn refunded(key: Option<String>, refunded: &Attributes, test_mode: bool) -> Action {
    if test_mode {
        return Action::Ignore(Ignored::TestRefund);
    }
    let Some(transaction_id) = key else {
        return Action::Ignore(Ignored::MissingField("data.id"));
    };
    let full = refunded.status.as_deref() == Some("refunded");
    Refunded::of(refunded.refunded_amount, refunded.total, full).into_action(
        RefundKeys {
            transaction_id,
            other_transaction_id: None,
            reason: None,
            identity: refunded
                .refunded_amount
                .and_then(|total| u64::try_from(total).ok())
                .map(RefundId::Total),
            fields: RefundFields {
                amount: "data.attributes.refunded_amount",
                currency: "data.attributes.currency",
                exponents: &super::currency::LEMON_SQUEEZY,
            },
        },
        refunded.currency.as_deref(),
    )
}

/// Lemon Squeezy's order and invoice id and currency fields.
const PAYMENT_FIELDS: PaymentFields = PaymentFields {
    transaction_id: "data.id",
    amount: "data.attributes.total",
    currency: "data.attributes.currency",
    exponents: &super::currency::LEMON_SQUEEZY,
};

/// `bytes` as lowercase hex digits.
fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write as _;
    bytes
        .iter()
        .fold(String::with_capacity(2 * bytes.len()), |mut hex, byte| {
            let _ = write!(hex, "{byte:02x}");
            hex
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_shapes() {
        assert!(matches!(
            LemonSqueezy::secret_shape("abc"),
            SecretShape::Wrong(_)
        ));
        assert_eq!(
            LemonSqueezy::secret_shape("a-signing-secret"),
            SecretShape::Usual
        );
        assert!(matches!(
            LemonSqueezy::secret_shape(&"x".repeat(41)),
            SecretShape::Unusual(_)
        ));
    }
}
