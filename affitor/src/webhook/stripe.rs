//! Stripe: the `Stripe-Signature` header, and the events of a sale and a refund.

use std::time::SystemTime;

use serde::Deserialize;

use super::error::WebhookError;
use super::event::{Action, Ignored, ProviderEvent};
use super::links::EventLinks;
use super::payload::{
    Metadata, Parsed, Payment, PaymentFields, RefundFields, RefundKeys, Refunded, expandable,
    lenient, parse,
};
use super::refunds::RefundId;
use super::signature::TimestampedHeader;
use super::verifier::{Provider, SecretShape, Verifier, sealed::Scheme, utf8_key};
use crate::client::SaleType;

/// The prefix of an endpoint's signing secret.
const WHSEC: &str = "whsec_";

/// Stripe: its `Stripe-Signature` header, and the events of a sale and a refund. Used as
/// `Verifier<Stripe>` and, in `affitor-axum` and `affitor-actix`, `WebhookEvent<Stripe>`.
///
/// See the [module docs](super#stripe) for the events it tracks and the ids it keys them by. If
/// your program is connected to Affitor's Stripe integration, Affitor already reads your Stripe
/// events: do not also track them from a webhook, or each sale counts twice.
///
/// ```
/// use affitor::webhook::{Stripe, Verifier};
///
/// let stripe = Verifier::<Stripe>::new("whsec_test_secret_key")?; // or ::from_env()?
/// # Ok::<(), affitor::webhook::WebhookError>(())
/// ```
#[derive(Debug)]
pub enum Stripe {}

impl Provider for Stripe {
    const NAME: &'static str = "Stripe";
    const SECRET_VARIABLE: &'static str = "STRIPE_WEBHOOK_SECRET";
}

impl Scheme for Stripe {
    /// Stripe issues `whsec_` and 32 more.
    const MIN_SECRET_CHARS: usize = 12;
    const SECRET_PREFIXES: &'static [&'static str] = &[WHSEC];

    /// Stripe keys the HMAC with the secret string's bytes, `whsec_` prefix included.
    fn keys(secret: &str) -> Vec<Vec<u8>> {
        utf8_key(secret)
    }

    /// `whsec_` and at least 16 letters and digits: the endpoint's secret (Dashboard →
    /// Webhooks, or `stripe listen`).
    fn issued_shape(secret: &str) -> SecretShape {
        match secret.strip_prefix(WHSEC) {
            Some(rest) if rest.len() >= 16 && rest.bytes().all(|b| b.is_ascii_alphanumeric()) => {
                SecretShape::Usual
            }
            Some(_) => {
                SecretShape::Wrong("starts with whsec_ but is cut short or holds other characters")
            }
            None if ["sk_", "rk_", "pk_"]
                .iter()
                .any(|key| secret.starts_with(key)) =>
            {
                SecretShape::Wrong(
                    "is a Stripe API key, not the endpoint's signing secret (whsec_...)",
                )
            }
            None => {
                SecretShape::Wrong("does not start with whsec_, as Stripe's signing secrets do")
            }
        }
    }

    fn checkout_fields(customer_key: &str, metadata: serde_json::Value) -> serde_json::Value {
        serde_json::json!({
            "client_reference_id": customer_key,
            "metadata": metadata,
            "subscription_data": { "metadata": metadata },
        })
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
        HEADER.verify(config, headers, body, now)?;
        let Parsed {
            event_type,
            id,
            data,
            test_mode,
            created,
        } = parse::<Data>(body)?;
        let links = EventLinks::default();
        let action = action(&event_type, data, test_mode, &links);
        Ok(ProviderEvent::new(
            id.unwrap_or_default(),
            event_type,
            action,
            created,
            config.tracking.clone(),
        )
        .with_links(links.into_shown()))
    }
}

/// `Stripe-Signature: t=<unix time>,v1=<hex>[,v1=<hex>...]`.
const HEADER: TimestampedHeader = TimestampedHeader {
    name: "Stripe-Signature",
    separator: ',',
    timestamp: "t",
    signature: "v1",
    joiner: b".",
};

/// `data` of a Stripe event. The object is read field by field, never as a whole `Value`: the
/// fields the mapping skips cost only their scan.
#[derive(Deserialize)]
struct Data {
    #[serde(default)]
    object: Option<Object>,
    /// What the object's changed fields were before the event: for `charge.refunded`, the
    /// `amount_refunded` of the refunds before this one.
    #[serde(default)]
    previous_attributes: Option<Previous>,
}

/// The fields of `previous_attributes` the mapping reads.
#[derive(Default, Deserialize)]
#[serde(default)]
struct Previous {
    #[serde(deserialize_with = "lenient")]
    amount_refunded: Option<i64>,
}

/// The fields of a checkout session, an invoice or a charge that a sale or refund needs.
#[derive(Default, Deserialize)]
#[serde(default)]
struct Object {
    #[serde(deserialize_with = "lenient")]
    id: Option<String>,
    #[serde(deserialize_with = "lenient")]
    mode: Option<String>,
    #[serde(deserialize_with = "lenient")]
    payment_status: Option<String>,
    #[serde(deserialize_with = "expandable")]
    payment_intent: Option<String>,
    #[serde(deserialize_with = "expandable")]
    invoice: Option<String>,
    #[serde(deserialize_with = "expandable")]
    subscription: Option<String>,
    #[serde(deserialize_with = "lenient")]
    client_reference_id: Option<String>,
    #[serde(deserialize_with = "lenient")]
    currency: Option<String>,
    #[serde(deserialize_with = "lenient")]
    amount_total: Option<i64>,
    #[serde(deserialize_with = "lenient")]
    amount_paid: Option<i64>,
    #[serde(deserialize_with = "lenient")]
    amount: Option<i64>,
    #[serde(deserialize_with = "lenient")]
    amount_refunded: Option<i64>,
    #[serde(deserialize_with = "lenient")]
    refunded: Option<bool>,
    #[serde(deserialize_with = "lenient")]
    billing_reason: Option<String>,
    /// A dispute's status (`needs_response`, `lost`, `won`, an inquiry's `warning_...`), or a
    /// refund's (`succeeded`, `pending`, ...).
    #[serde(deserialize_with = "lenient")]
    status: Option<String>,
    /// A dispute's reason (`fraudulent`, ...), or a refund's.
    #[serde(deserialize_with = "lenient")]
    reason: Option<String>,
    /// From Basil on, an invoice's payments (when the payload includes them).
    #[serde(deserialize_with = "lenient")]
    payments: Option<InvoicePayments>,
    /// An `invoice_payment`'s payment.
    #[serde(deserialize_with = "lenient")]
    payment: Option<InvoicePaymentTarget>,
    metadata: Metadata,
    /// Before Basil (2025-03-31): the subscription's details on the invoice.
    #[serde(deserialize_with = "lenient")]
    subscription_details: Option<SubscriptionDetails>,
    /// From Basil on: `parent.subscription_details`.
    #[serde(deserialize_with = "lenient")]
    parent: Option<Parent>,
}

/// An invoice's `payments` list (Basil).
#[derive(Default, Deserialize)]
#[serde(default)]
struct InvoicePayments {
    data: Vec<InvoicePayment>,
}

/// One of an invoice's payments.
#[derive(Default, Deserialize)]
#[serde(default)]
struct InvoicePayment {
    #[serde(deserialize_with = "lenient")]
    status: Option<String>,
    #[serde(deserialize_with = "lenient")]
    payment: Option<InvoicePaymentTarget>,
}

/// What paid an invoice: `{"type": "payment_intent", "payment_intent": "pi_..."}`.
#[derive(Default, Deserialize)]
#[serde(default)]
struct InvoicePaymentTarget {
    #[serde(deserialize_with = "expandable")]
    payment_intent: Option<String>,
}

#[derive(Default, Deserialize)]
#[serde(default)]
struct Parent {
    #[serde(deserialize_with = "lenient")]
    subscription_details: Option<SubscriptionDetails>,
}

#[derive(Default, Deserialize)]
#[serde(default)]
struct SubscriptionDetails {
    #[serde(deserialize_with = "expandable")]
    subscription: Option<String>,
    metadata: Metadata,
}

/// What a verified event asks of Affitor. The links between payment intents and invoices it
/// names are noted in `links`, for the refunds to come.
fn action(event_type: &str, data: Data, test_mode: bool, links: &EventLinks) -> Action {
    let object = data.object.unwrap_or_default();
    let previous = data.previous_attributes.unwrap_or_default();
    let action = match event_type {
        "checkout.session.completed" | "checkout.session.async_payment_succeeded" => {
            checkout_session(object, event_type)
        }
        // Twins: both are sent for each paid invoice, and both are one sale under its id.
        "invoice.paid" | "invoice.payment_succeeded" => invoice(object, links),
        "invoice_payment.paid" => invoice_payment(object, links),
        "charge.refunded" => charge_refunded(object, previous),
        // Twin of `charge.refunded` (Affitor reverses a sale's commission once).
        "refund.created" => refund_created(object),
        // An inquiry (`warning_needs_response`, `warning_under_review`, `warning_closed`) is a
        // question from the card issuer: Stripe withdraws no funds, so nothing is reversed.
        "charge.dispute.created" | "charge.dispute.closed" if is_inquiry(&object) => {
            Action::Ignore(Ignored::Inquiry(object.status.unwrap_or_default()))
        }
        "charge.dispute.created" => dispute(object),
        "charge.dispute.closed" => match object.status.as_deref() {
            // Twin of `charge.dispute.created`, for an endpoint that listens to this one only.
            Some("lost") => dispute(object),
            Some("won") => Action::Ignore(Ignored::DisputeWon),
            _ => Action::Ignore(Ignored::EventType),
        },
        _ => Action::Ignore(Ignored::EventType),
    };
    match action {
        Action::Sale(mut sale) => {
            sale.test_mode = test_mode;
            Action::Sale(sale)
        }
        Action::Refund(_) if test_mode => Action::Ignore(Ignored::TestRefund),
        action => action,
    }
}

fn checkout_session(session: Object, event_type: &str) -> Action {
    if session.payment_status.as_deref() != Some("paid") {
        return match session.payment_status.as_deref() {
            Some("no_payment_required") => Action::Ignore(Ignored::NoAmount),
            _ => Action::Ignore(Ignored::NotPaid),
        };
    }
    let subscription = session.mode.as_deref() == Some("subscription");
    let (transaction_id, field) = if subscription {
        (session.invoice, "invoice")
    } else {
        (session.payment_intent, "payment_intent")
    };
    let metadata = &session.metadata;
    let (reference_key, reference_click_id) = client_reference(session.client_reference_id);
    Payment {
        transaction_id,
        amount_cents: session.amount_total,
        currency: session.currency,
        customer_key: metadata
            .get("affitor_customer_key")
            .or(reference_key)
            .or_else(|| metadata.get("user_id")),
        click_id: metadata.get("affitor_click_id").or(reference_click_id),
        sale_type: if subscription {
            SaleType::Subscription
        } else {
            SaleType::Payment
        },
        is_recurring: false,
        subscription_id: session.subscription,
        test_mode: false,
        reason: Some(event_type.to_owned()),
        upgrade: false,
        // A subscription's checkout is its first payment.
        opens_subscription: subscription,
    }
    .into_action(PaymentFields {
        transaction_id: field,
        amount: "amount_total",
        currency: "currency",
        exponents: &super::currency::STRIPE,
    })
}

/// The prefix of a click id carried in a Checkout Session's `client_reference_id`, as a Payment
/// Link or a pricing table carries it (`?client_reference_id=affitor_<click id>`): never taken
/// for a customer key.
const CLICK_REFERENCE_PREFIX: &str = "affitor_";

/// What a session's `client_reference_id` holds: `(customer key, click id)`, a click id when it
/// has the prefix, the customer key otherwise.
fn client_reference(reference: Option<String>) -> (Option<String>, Option<String>) {
    match reference {
        Some(reference) => match reference.strip_prefix(CLICK_REFERENCE_PREFIX) {
            Some(click_id) => (None, Some(click_id.to_owned())),
            None => (Some(reference), None),
        },
        None => (None, None),
    }
}

fn invoice(invoice: Object, links: &EventLinks) -> Action {
    // Keep which payment intent paid it, for its refund: named on the invoice up to
    // 2024-12-18, in its `payments` from Basil on (when the payload includes them).
    if let Some(invoice_id) = &invoice.id {
        let payment_intents = invoice.payment_intent.iter().chain(
            invoice
                .payments
                .iter()
                .flat_map(|payments| &payments.data)
                .filter(|payment| payment.status.as_deref().is_none_or(|s| s == "paid"))
                .filter_map(|payment| payment.payment.as_ref()?.payment_intent.as_ref()),
        );
        for payment_intent in payment_intents {
            links.record(payment_intent, invoice_id);
        }
    }
    // A renewal, or the first payment of a subscription (also its checkout session's sale,
    // under the same invoice id when it went through Checkout: recorded once).
    // A change of plan (an upgrade, a proration) is a sale too, as on every provider: on API
    // versions before 2018-10-31 a subscription's first invoice says `subscription_update`.
    let (is_recurring, upgrade) = match invoice.billing_reason.as_deref() {
        // A usage threshold reached mid-period is billed then: the subscription's recurring
        // payment, as Polar's `subscription_meter_cycle` order is.
        Some("subscription_cycle" | "subscription_threshold") => (true, false),
        Some("subscription_create") => (false, false),
        Some("subscription_update") => (false, true),
        Some(other) => return Action::Ignore(Ignored::BillingReason(other.to_owned())),
        None => return Action::Ignore(Ignored::MissingField("billing_reason")),
    };
    let reason = invoice.billing_reason.clone();
    let details = invoice
        .parent
        .and_then(|parent| parent.subscription_details)
        .or(invoice.subscription_details)
        .unwrap_or_default();
    let metadata = &details.metadata;
    Payment {
        transaction_id: invoice.id,
        amount_cents: invoice.amount_paid,
        currency: invoice.currency,
        customer_key: metadata.first(&["affitor_customer_key", "user_id"]),
        click_id: metadata.get("affitor_click_id"),
        sale_type: SaleType::Subscription,
        is_recurring,
        subscription_id: details.subscription.or(invoice.subscription),
        test_mode: false,
        opens_subscription: reason.as_deref() == Some("subscription_create"),
        reason,
        upgrade,
    }
    .into_action(PaymentFields {
        transaction_id: "id",
        amount: "amount_paid",
        currency: "currency",
        exponents: &super::currency::STRIPE,
    })
}

/// `invoice_payment.paid` (Basil): which invoice a payment intent paid.
fn invoice_payment(payment: Object, links: &EventLinks) -> Action {
    let payment_intent = payment.payment.and_then(|target| target.payment_intent);
    match (payment.invoice, payment_intent) {
        (Some(invoice), Some(payment_intent)) => {
            links.record(&payment_intent, &invoice);
            Action::Ignore(Ignored::PaymentLinked)
        }
        (None, _) => Action::Ignore(Ignored::MissingField("invoice")),
        // Paid otherwise (out of band): no refund will name a payment intent.
        (Some(_), None) => Action::Ignore(Ignored::EventType),
    }
}

/// The keys of the sale a payment was for: a subscription payment's sale is keyed by its
/// invoice, a one-off's by its payment intent. The invoice is the one the object names (up to
/// API version 2024-12-18); the payment intent is tried second. A payment intent alone is
/// looked up when the event is tracked: the invoice a kept link names goes first (`track.rs`).
fn sale_keys(
    invoice: Option<String>,
    payment_intent: Option<String>,
) -> Option<(String, Option<String>)> {
    match (invoice, payment_intent) {
        (Some(invoice), payment_intent) => Some((invoice, payment_intent)),
        (None, Some(payment_intent)) => Some((payment_intent, None)),
        (None, None) => None,
    }
}

fn charge_refunded(charge: Object, previous: Previous) -> Action {
    let Some((transaction_id, other_transaction_id)) =
        sale_keys(charge.invoice, charge.payment_intent)
    else {
        return Action::Ignore(Ignored::MissingField("payment_intent"));
    };
    // `amount_refunded` adds up every refund of the charge so far: this refund is what it grew
    // by since `previous_attributes`, or all of it when the event names no earlier value.
    let before = previous.amount_refunded.unwrap_or(0).max(0);
    let this_refund = match charge.amount_refunded {
        Some(so_far) if so_far <= before => return Action::Ignore(Ignored::NoAmount),
        so_far => so_far.map(|so_far| so_far - before),
    };
    // A full refund is one refund of the whole charge; the last of several partial refunds
    // that add up to it is still a partial one.
    let full = charge.refunded.unwrap_or(false) && before == 0;
    // The charge's refunds so far tell this refund from the next (its twin, `refund.created`,
    // names the refund's own id).
    let identity = charge
        .amount_refunded
        .and_then(|so_far| u64::try_from(so_far).ok())
        .map(RefundId::Total);
    Refunded::of(this_refund, charge.amount, full).into_action(
        RefundKeys {
            transaction_id,
            other_transaction_id,
            reason: None,
            identity,
            fields: REFUND_FIELDS,
        },
        charge.currency.as_deref(),
    )
}

/// A Stripe refund's amount and currency fields.
const REFUND_FIELDS: RefundFields = RefundFields {
    amount: "amount_refunded",
    currency: "currency",
    exponents: &super::currency::STRIPE,
};

/// `refund.created`: the refund of `amount`, of the payment its payment intent made.
fn refund_created(refund: Object) -> Action {
    if matches!(refund.status.as_deref(), Some("failed" | "canceled")) {
        return Action::Ignore(Ignored::NoAmount);
    }
    let Some((transaction_id, other_transaction_id)) = sale_keys(None, refund.payment_intent)
    else {
        return Action::Ignore(Ignored::MissingField("payment_intent"));
    };
    match refund.amount.and_then(|amount| u64::try_from(amount).ok()) {
        // The refund names no charge total: its amount, which Affitor takes as a full refund
        // when it is the whole sale.
        Some(amount) if amount > 0 => Refunded::Part(amount).into_action(
            RefundKeys {
                transaction_id,
                other_transaction_id,
                reason: refund.reason,
                identity: refund.id.map(RefundId::Refund),
                fields: REFUND_FIELDS,
            },
            refund.currency.as_deref(),
        ),
        Some(_) => Action::Ignore(Ignored::NoAmount),
        None => Action::Unreadable("amount"),
    }
}

/// Whether a dispute is an inquiry, which Stripe's statuses `warning_needs_response`,
/// `warning_under_review` and `warning_closed` name: the issuer asks, no funds are withdrawn.
/// One it escalates to a chargeback takes a status without `warning_`.
fn is_inquiry(dispute: &Object) -> bool {
    dispute
        .status
        .as_deref()
        .is_some_and(|status| status.starts_with("warning_"))
}

/// `charge.dispute.created` (or `closed`, lost): a chargeback reverses the commission as a
/// refund of the disputed amount.
fn dispute(dispute: Object) -> Action {
    let Some((transaction_id, other_transaction_id)) = sale_keys(None, dispute.payment_intent)
    else {
        return Action::Ignore(Ignored::MissingField("payment_intent"));
    };
    match dispute.amount.and_then(|amount| u64::try_from(amount).ok()) {
        Some(amount) if amount > 0 => Refunded::Part(amount).into_action(
            RefundKeys {
                transaction_id,
                other_transaction_id,
                reason: Some(match dispute.reason {
                    Some(reason) => format!("dispute: {reason}"),
                    None => "dispute".to_owned(),
                }),
                identity: dispute.id.map(RefundId::Dispute),
                fields: REFUND_FIELDS,
            },
            dispute.currency.as_deref(),
        ),
        Some(_) => Action::Ignore(Ignored::NoAmount),
        None => Action::Unreadable("amount"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::webhook::WebhookErrorKind;

    #[test]
    fn the_signature_header_keeps_every_v1_and_skips_other_schemes() {
        let v1 = "a".repeat(64);
        let header = format!("t=12, v0={v1},v1={v1},v1=short,v2=x,v1={}", "B".repeat(64));
        let (timestamp, signatures) = HEADER.parse(header.as_bytes()).expect("readable");
        assert_eq!(timestamp, 12);
        assert_eq!(signatures, vec![vec![0xaa; 32], vec![0xbb; 32]]);
    }

    #[test]
    fn a_prefixed_client_reference_id_is_a_click_id() {
        let read = |reference: Option<&str>| client_reference(reference.map(str::to_owned));
        assert_eq!(
            read(Some("affitor_cust_42_1714000000000")),
            (None, Some("cust_42_1714000000000".to_owned()))
        );
        assert_eq!(read(Some("user_42")), (Some("user_42".to_owned()), None));
        assert_eq!(
            read(Some("Affitor_x")),
            (Some("Affitor_x".to_owned()), None)
        );
        assert_eq!(read(None), (None, None));
    }

    #[test]
    fn a_header_without_timestamp_or_v1_is_malformed() {
        for header in ["v1=00", "t=1", "t=x,v1=00", "", "garbage"] {
            let error = HEADER.parse(header.as_bytes()).expect_err(header);
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
            Stripe::secret_shape("whsec_0123456789abcdefABCDEF0123456789"),
            SecretShape::Usual
        );
        assert!(matches!(
            Stripe::secret_shape("whsec_short"),
            SecretShape::Wrong(_)
        ));
        assert!(
            matches!(Stripe::secret_shape("sk_live_abc"), SecretShape::Wrong(why) if why.contains("API key"))
        );
        assert!(matches!(
            Stripe::secret_shape("my_secret"),
            SecretShape::Wrong(_)
        ));
    }
}
