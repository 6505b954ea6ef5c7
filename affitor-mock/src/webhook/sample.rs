//! Sample payment events, shaped as each provider sends them: the fields a webhook handler
//! reads, and a few around them. Each happens now, as a live event unless marked as one of the
//! provider's test mode.

use std::fmt;
use std::time::{SystemTime, UNIX_EPOCH};

use serde_json::{Value, json};

use super::SignedWebhook;
use crate::time::iso8601;

/// A payment provider whose events [`SampleEvent`] writes.
///
/// ```
/// use affitor_mock::WebhookProvider;
///
/// let names: Vec<&str> = WebhookProvider::ALL.iter().map(|provider| provider.name()).collect();
/// assert_eq!(names, ["stripe", "polar", "paddle", "lemon-squeezy"]);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum WebhookProvider {
    /// Stripe: a `Stripe-Signature` header.
    Stripe,
    /// Polar: Standard Webhooks headers.
    Polar,
    /// Paddle Billing: a `Paddle-Signature` header.
    Paddle,
    /// Lemon Squeezy: an `X-Signature` header.
    LemonSqueezy,
}

impl WebhookProvider {
    /// Every provider.
    pub const ALL: [Self; 4] = [Self::Stripe, Self::Polar, Self::Paddle, Self::LemonSqueezy];

    /// Its name in lower case, words joined by `-`: `stripe`, `polar`, `paddle`,
    /// `lemon-squeezy`.
    ///
    /// ```
    /// assert_eq!(affitor_mock::WebhookProvider::LemonSqueezy.name(), "lemon-squeezy");
    /// ```
    pub fn name(self) -> &'static str {
        match self {
            Self::Stripe => "stripe",
            Self::Polar => "polar",
            Self::Paddle => "paddle",
            Self::LemonSqueezy => "lemon-squeezy",
        }
    }
}

impl WebhookProvider {
    /// Whether its events say that they are of its test mode: Stripe's `livemode` and Lemon
    /// Squeezy's `meta.test_mode` do; Polar's and Paddle's events say nothing of it (their
    /// sandboxes are accounts of their own, with their own secrets).
    ///
    /// ```
    /// use affitor_mock::WebhookProvider;
    ///
    /// assert!(WebhookProvider::Stripe.has_test_mode());
    /// assert!(!WebhookProvider::Polar.has_test_mode());
    /// ```
    pub fn has_test_mode(self) -> bool {
        matches!(self, Self::Stripe | Self::LemonSqueezy)
    }
}

impl fmt::Display for WebhookProvider {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// What a [`SampleEvent`] reports.
///
/// ```
/// use affitor_mock::{SampleEvent, SampleKind, WebhookProvider};
///
/// let renewal = SampleEvent::new(WebhookProvider::Stripe, SampleKind::Renewal, "in_1").unwrap();
/// assert_eq!(renewal.event_type(), "invoice.paid");
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum SampleKind {
    /// A one-off payment: Stripe `checkout.session.completed`, Polar `order.paid`, Paddle
    /// `transaction.completed`, Lemon Squeezy `order_created`.
    Sale,
    /// A subscription's renewal: Stripe `invoice.paid` (`subscription_cycle`), Polar
    /// `order.paid` (`subscription_cycle`), Paddle `transaction.completed`
    /// (`subscription_recurring`), Lemon Squeezy `subscription_payment_success` (`renewal`).
    Renewal,
    /// A refund of a sale: Stripe `charge.refunded`, Polar `order.refunded`, Paddle
    /// `adjustment.updated` (a refund approved), Lemon Squeezy `order_refunded`.
    Refund,
    /// A chargeback of a sale: Stripe `charge.dispute.created`, Paddle `adjustment.created`
    /// (a chargeback). Polar and Lemon Squeezy send none.
    Dispute,
}

/// A sample payment event of a provider, shaped as the provider sends it, to sign with
/// [`sign`](Self::sign) and post to a webhook handler: what `affitor trigger` sends, and what
/// your tests can send without the provider.
///
/// The event's ids follow from `payment_id` alone, so the same sample is the same event: a
/// second delivery of it is a redelivery, which the handler acknowledges without a second sale.
/// `payment_id` is the payment's id as the provider names it (a Stripe payment intent `pi_...`
/// for a sale, an invoice `in_...` for a renewal; a Polar order; a Paddle transaction `txn_...`;
/// a Lemon Squeezy order or subscription invoice); for a refund or a dispute, the id of the sale
/// it returns.
///
/// ```
/// use affitor_mock::{SampleEvent, SampleKind, WebhookProvider};
///
/// let sale = SampleEvent::new(WebhookProvider::Stripe, SampleKind::Sale, "pi_demo_1")
///     .expect("Stripe has sales")
///     .amount_cents(4900)
///     .customer_key("user_42")
///     .click_id("cust_42_1714000000000");
/// assert_eq!(sale.transaction_id(), "pi_demo_1");
/// assert_eq!(sale.event_id().as_deref(), Some("evt_pi_demo_1_completed"));
/// let body = sale.to_json();
/// assert_eq!(body["data"]["object"]["metadata"]["affitor_click_id"], "cust_42_1714000000000");
///
/// let signed = sale.sign("whsec_test_signing"); // then post `signed.headers()` and `signed.body()`
/// assert!(signed.header("stripe-signature").is_some());
///
/// // Polar and Lemon Squeezy have no dispute events.
/// assert!(SampleEvent::new(WebhookProvider::Polar, SampleKind::Dispute, "order_1").is_none());
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SampleEvent {
    provider: WebhookProvider,
    kind: SampleKind,
    payment_id: String,
    amount_cents: u64,
    refunded_cents: Option<u64>,
    customer_key: Option<String>,
    click_id: Option<String>,
    test_mode: bool,
    /// When the event occurred: when it was made, so that its JSON is the same each time.
    occurred_at: SystemTime,
}

impl SampleEvent {
    /// The event `kind` of `provider` about the payment `payment_id`, of 49.00 USD; `None` when
    /// the provider sends no such event (a Polar or Lemon Squeezy dispute).
    ///
    /// ```
    /// use affitor_mock::{SampleEvent, SampleKind, WebhookProvider};
    ///
    /// let refund = SampleEvent::new(WebhookProvider::Paddle, SampleKind::Refund, "txn_1");
    /// assert_eq!(refund.map(|event| event.event_type()), Some("adjustment.updated"));
    /// ```
    pub fn new(
        provider: WebhookProvider,
        kind: SampleKind,
        payment_id: impl Into<String>,
    ) -> Option<Self> {
        let disputes = matches!(provider, WebhookProvider::Stripe | WebhookProvider::Paddle);
        (kind != SampleKind::Dispute || disputes).then(|| Self {
            provider,
            kind,
            payment_id: payment_id.into(),
            amount_cents: 4900,
            refunded_cents: None,
            customer_key: None,
            click_id: None,
            test_mode: false,
            occurred_at: SystemTime::now(),
        })
    }

    /// The payment's amount, in cents (default 4900): what the sale charged, or the sale a
    /// refund or a dispute returns.
    ///
    /// ```
    /// use affitor_mock::{SampleEvent, SampleKind, WebhookProvider};
    ///
    /// let sale = SampleEvent::new(WebhookProvider::Polar, SampleKind::Sale, "order_1").unwrap();
    /// assert_eq!(sale.amount_cents(1900).to_json()["data"]["total_amount"], 1900);
    /// ```
    #[must_use]
    pub fn amount_cents(mut self, amount_cents: u64) -> Self {
        self.amount_cents = amount_cents;
        self
    }

    /// How much a refund or a dispute returns, in cents (default: the whole amount).
    ///
    /// ```
    /// use affitor_mock::{SampleEvent, SampleKind, WebhookProvider};
    ///
    /// let partial = SampleEvent::new(WebhookProvider::Stripe, SampleKind::Refund, "pi_1")
    ///     .unwrap()
    ///     .refunded_cents(1000);
    /// assert_eq!(partial.to_json()["data"]["object"]["amount_refunded"], 1000);
    /// ```
    #[must_use]
    pub fn refunded_cents(mut self, refunded_cents: u64) -> Self {
        self.refunded_cents = Some(refunded_cents);
        self
    }

    /// The customer key the app's checkout wrote (its `affitor_customer_key`); blank leaves it
    /// out.
    ///
    /// ```
    /// use affitor_mock::{SampleEvent, SampleKind, WebhookProvider};
    ///
    /// let sale = SampleEvent::new(WebhookProvider::Paddle, SampleKind::Sale, "txn_1").unwrap();
    /// let body = sale.customer_key("user_42").to_json();
    /// assert_eq!(body["data"]["custom_data"]["affitor_customer_key"], "user_42");
    /// ```
    #[must_use]
    pub fn customer_key(mut self, customer_key: impl Into<String>) -> Self {
        self.customer_key = Some(customer_key.into()).filter(|key| !key.trim().is_empty());
        self
    }

    /// The click id the app's checkout wrote (its `affitor_click_id`); blank leaves it out.
    ///
    /// ```
    /// use affitor_mock::{SampleEvent, SampleKind, WebhookProvider};
    ///
    /// let sale = SampleEvent::new(WebhookProvider::LemonSqueezy, SampleKind::Sale, "1").unwrap();
    /// let body = sale.click_id("cust_42_1").to_json();
    /// assert_eq!(body["meta"]["custom_data"]["affitor_click_id"], "cust_42_1");
    /// ```
    #[must_use]
    pub fn click_id(mut self, click_id: impl Into<String>) -> Self {
        self.click_id = Some(click_id.into()).filter(|id| !id.trim().is_empty());
        self
    }

    /// An event of the provider's test mode (default: a live one): Stripe's `livemode: false`,
    /// Lemon Squeezy's `meta.test_mode: true`. A webhook sends its sale as an Affitor test
    /// event, which pays no partner, and ignores its refund. Polar's and Paddle's events carry
    /// no such flag ([`WebhookProvider::has_test_mode`]): for them it changes nothing.
    ///
    /// ```
    /// use affitor_mock::{SampleEvent, SampleKind, WebhookProvider};
    ///
    /// let sale = SampleEvent::new(WebhookProvider::Stripe, SampleKind::Sale, "pi_1").unwrap();
    /// assert_eq!(sale.clone().test_mode(true).to_json()["livemode"], false);
    /// assert_eq!(sale.to_json()["livemode"], true);
    /// ```
    #[must_use]
    pub fn test_mode(mut self, test_mode: bool) -> Self {
        self.test_mode = test_mode;
        self
    }

    /// Its provider.
    ///
    /// ```
    /// use affitor_mock::{SampleEvent, SampleKind, WebhookProvider};
    ///
    /// let sale = SampleEvent::new(WebhookProvider::Polar, SampleKind::Sale, "order_1").unwrap();
    /// assert_eq!(sale.provider(), WebhookProvider::Polar);
    /// ```
    pub fn provider(&self) -> WebhookProvider {
        self.provider
    }

    /// What it reports.
    ///
    /// ```
    /// use affitor_mock::{SampleEvent, SampleKind, WebhookProvider};
    ///
    /// let sale = SampleEvent::new(WebhookProvider::Polar, SampleKind::Sale, "order_1").unwrap();
    /// assert_eq!(sale.kind(), SampleKind::Sale);
    /// ```
    pub fn kind(&self) -> SampleKind {
        self.kind
    }

    /// The provider's type of the event (Lemon Squeezy's `meta.event_name`).
    ///
    /// ```
    /// use affitor_mock::{SampleEvent, SampleKind, WebhookProvider};
    ///
    /// let dispute = SampleEvent::new(WebhookProvider::Stripe, SampleKind::Dispute, "pi_1").unwrap();
    /// assert_eq!(dispute.event_type(), "charge.dispute.created");
    /// ```
    pub fn event_type(&self) -> &'static str {
        use SampleKind::{Dispute, Refund, Renewal, Sale};
        use WebhookProvider::{LemonSqueezy, Paddle, Polar, Stripe};
        match (self.provider, self.kind) {
            (Stripe, Sale) => "checkout.session.completed",
            (Stripe, Renewal) => "invoice.paid",
            (Stripe, Refund) => "charge.refunded",
            (Stripe, Dispute) => "charge.dispute.created",
            (Polar, Sale | Renewal) => "order.paid",
            (Polar, Refund | Dispute) => "order.refunded",
            (Paddle, Sale | Renewal) => "transaction.completed",
            (Paddle, Refund) => "adjustment.updated",
            (Paddle, Dispute) => "adjustment.created",
            (LemonSqueezy, Sale) => "order_created",
            (LemonSqueezy, Renewal) => "subscription_payment_success",
            (LemonSqueezy, Refund | Dispute) => "order_refunded",
        }
    }

    /// The provider's id of the event, the same for every delivery of this sample: Stripe's
    /// and Paddle's `evt_...`, Polar's `webhook-id`. `None` for Lemon Squeezy, whose events
    /// carry no id (its deliveries are told apart by their signature).
    ///
    /// ```
    /// use affitor_mock::{SampleEvent, SampleKind, WebhookProvider};
    ///
    /// let refund = SampleEvent::new(WebhookProvider::Polar, SampleKind::Refund, "order_1").unwrap();
    /// assert_eq!(refund.event_id().as_deref(), Some("msg_order_1_refunded"));
    /// ```
    pub fn event_id(&self) -> Option<String> {
        let id = &self.payment_id;
        let what = match self.kind {
            SampleKind::Sale => "completed",
            SampleKind::Renewal => "renewed",
            SampleKind::Refund => "refunded",
            SampleKind::Dispute => "disputed",
        };
        match self.provider {
            WebhookProvider::Stripe | WebhookProvider::Paddle => Some(format!("evt_{id}_{what}")),
            WebhookProvider::Polar => Some(format!("msg_{id}_{what}")),
            WebhookProvider::LemonSqueezy => None,
        }
    }

    /// The transaction id Affitor records the payment under (for a refund or a dispute, its
    /// sale's): `payment_id`, or for Lemon Squeezy `orders/<id>` (`subscription-invoices/<id>`
    /// for a renewal).
    ///
    /// ```
    /// use affitor_mock::{SampleEvent, SampleKind, WebhookProvider};
    ///
    /// let sale = SampleEvent::new(WebhookProvider::LemonSqueezy, SampleKind::Sale, "7").unwrap();
    /// assert_eq!(sale.transaction_id(), "orders/7");
    /// ```
    pub fn transaction_id(&self) -> String {
        match (self.provider, self.kind) {
            (WebhookProvider::LemonSqueezy, SampleKind::Renewal) => {
                format!("subscription-invoices/{}", self.payment_id)
            }
            (WebhookProvider::LemonSqueezy, _) => format!("orders/{}", self.payment_id),
            _ => self.payment_id.clone(),
        }
    }

    /// The event's body, as the provider sends it, dated when the event was made: the same
    /// body each time it is asked for.
    ///
    /// ```
    /// use affitor_mock::{SampleEvent, SampleKind, WebhookProvider};
    ///
    /// let renewal = SampleEvent::new(WebhookProvider::Paddle, SampleKind::Renewal, "txn_2").unwrap();
    /// assert_eq!(renewal.to_json()["data"]["origin"], "subscription_recurring");
    /// ```
    pub fn to_json(&self) -> Value {
        match self.provider {
            WebhookProvider::Stripe => self.stripe(),
            WebhookProvider::Polar => self.polar(),
            WebhookProvider::Paddle => self.paddle(),
            WebhookProvider::LemonSqueezy => self.lemon_squeezy(),
        }
    }

    /// The event signed now with `secret`, as its provider signs a delivery (Polar's with the
    /// event's [`event_id`](Self::event_id) as its `webhook-id`).
    ///
    /// ```
    /// use affitor_mock::{SampleEvent, SampleKind, WebhookProvider};
    ///
    /// let sale = SampleEvent::new(WebhookProvider::Polar, SampleKind::Sale, "order_1").unwrap();
    /// let signed = sale.sign("polar_whs_test_signing");
    /// assert_eq!(signed.header("webhook-id"), Some("msg_order_1_completed"));
    /// ```
    pub fn sign(&self, secret: &str) -> SignedWebhook {
        let body = self.to_json().to_string();
        match self.provider {
            WebhookProvider::Stripe => SignedWebhook::stripe(secret, body),
            WebhookProvider::Polar => {
                let id = self.event_id().unwrap_or_default();
                SignedWebhook::polar_at(secret, &id, body, SystemTime::now())
            }
            WebhookProvider::Paddle => SignedWebhook::paddle(secret, body),
            WebhookProvider::LemonSqueezy => SignedWebhook::lemon_squeezy(secret, body),
        }
    }

    /// What a refund or a dispute returns.
    fn returned_cents(&self) -> u64 {
        self.refunded_cents.unwrap_or(self.amount_cents)
    }

    /// The Affitor fields the app's checkout wrote, the customer key and the click id, as
    /// `checkout_fields` writes them (metadata values are strings).
    fn metadata(&self) -> Value {
        let mut metadata = serde_json::Map::new();
        if let Some(key) = &self.customer_key {
            metadata.insert("affitor_customer_key".to_owned(), json!(key));
        }
        if let Some(click_id) = &self.click_id {
            metadata.insert("affitor_click_id".to_owned(), json!(click_id));
        }
        Value::Object(metadata)
    }

    fn stripe(&self) -> Value {
        let id = &self.payment_id;
        let object = match self.kind {
            SampleKind::Sale => json!({
                "id": format!("cs_test_{id}"),
                "object": "checkout.session",
                "mode": "payment",
                "status": "complete",
                "payment_status": "paid",
                "payment_intent": id,
                "amount_total": self.amount_cents,
                "currency": "usd",
                "client_reference_id": self.customer_key,
                "metadata": self.metadata(),
            }),
            SampleKind::Renewal => json!({
                "id": id,
                "object": "invoice",
                "status": "paid",
                "billing_reason": "subscription_cycle",
                "amount_paid": self.amount_cents,
                "currency": "usd",
                "parent": {
                    "type": "subscription_details",
                    "subscription_details": {
                        "subscription": format!("sub_{id}"),
                        "metadata": self.metadata(),
                    },
                },
            }),
            SampleKind::Refund => json!({
                "id": format!("ch_{id}"),
                "object": "charge",
                "amount": self.amount_cents,
                "amount_refunded": self.returned_cents(),
                "refunded": self.returned_cents() >= self.amount_cents,
                "currency": "usd",
                "payment_intent": id,
            }),
            SampleKind::Dispute => json!({
                "id": format!("dp_{id}"),
                "object": "dispute",
                "amount": self.returned_cents(),
                "currency": "usd",
                "charge": format!("ch_{id}"),
                "payment_intent": id,
                "reason": "fraudulent",
                "status": "needs_response",
            }),
        };
        json!({
            "id": self.event_id(),
            "object": "event",
            "api_version": "2025-03-31.basil",
            "created": unix_seconds(self.occurred_at),
            "type": self.event_type(),
            "data": { "object": object },
            "livemode": !self.test_mode,
        })
    }

    fn polar(&self) -> Value {
        let refunded = match self.kind {
            SampleKind::Sale | SampleKind::Renewal => 0,
            SampleKind::Refund | SampleKind::Dispute => self.returned_cents(),
        };
        let status = match refunded {
            0 => "paid",
            refunded if refunded >= self.amount_cents => "refunded",
            _ => "partially_refunded",
        };
        let renewal = self.kind == SampleKind::Renewal;
        json!({
            "type": self.event_type(),
            "timestamp": iso8601(self.occurred_at),
            "data": {
                "id": self.payment_id,
                "status": status,
                "total_amount": self.amount_cents,
                "refunded_amount": refunded,
                "currency": "usd",
                "billing_reason": if renewal { "subscription_cycle" } else { "purchase" },
                "subscription_id": renewal.then(|| format!("sub_{}", self.payment_id)),
                "metadata": self.metadata(),
                "customer": { "external_id": self.customer_key },
            },
        })
    }

    fn paddle(&self) -> Value {
        let id = &self.payment_id;
        let data = match self.kind {
            SampleKind::Sale | SampleKind::Renewal => {
                let total = self.amount_cents.to_string();
                let renewal = self.kind == SampleKind::Renewal;
                json!({
                    "id": id,
                    "status": "completed",
                    "origin": if renewal { "subscription_recurring" } else { "web" },
                    "subscription_id": renewal.then(|| format!("sub_{id}")),
                    "currency_code": "USD",
                    "custom_data": self.metadata(),
                    "details": { "totals": {
                        "total": total, "grand_total": total, "currency_code": "USD",
                    }},
                })
            }
            SampleKind::Refund | SampleKind::Dispute => {
                let refund = self.kind == SampleKind::Refund;
                let full = self.returned_cents() >= self.amount_cents;
                json!({
                    "id": format!("adj_{id}_{}", if refund { "refund" } else { "chargeback" }),
                    "action": if refund { "refund" } else { "chargeback" },
                    "type": if full { "full" } else { "partial" },
                    "status": "approved",
                    "transaction_id": id,
                    "reason": if refund { "requested_by_customer" } else { "fraudulent" },
                    "currency_code": "USD",
                    "totals": {
                        "total": self.returned_cents().to_string(), "currency_code": "USD",
                    },
                })
            }
        };
        let event_id = self.event_id().unwrap_or_default();
        json!({
            "event_id": event_id,
            "event_type": self.event_type(),
            "occurred_at": iso8601(self.occurred_at),
            "notification_id": event_id.replacen("evt_", "ntf_", 1),
            "data": data,
        })
    }

    fn lemon_squeezy(&self) -> Value {
        let now = iso8601(self.occurred_at);
        let (refunded, status) = match self.kind {
            SampleKind::Sale | SampleKind::Renewal => (0, "paid"),
            SampleKind::Refund | SampleKind::Dispute => {
                let refunded = self.returned_cents();
                let full = refunded >= self.amount_cents;
                (refunded, if full { "refunded" } else { "partial_refund" })
            }
        };
        let data = if self.kind == SampleKind::Renewal {
            json!({
                "type": "subscription-invoices",
                "id": self.payment_id,
                "attributes": {
                    "status": status,
                    "billing_reason": "renewal",
                    "subscription_id": numeric_id(&self.payment_id),
                    "total": self.amount_cents,
                    "currency": "USD",
                    "created_at": now,
                    "updated_at": now,
                },
            })
        } else {
            json!({
                "type": "orders",
                "id": self.payment_id,
                "attributes": {
                    "status": status,
                    "total": self.amount_cents,
                    "refunded": refunded > 0,
                    "refunded_amount": refunded,
                    "currency": "USD",
                    "created_at": now,
                    "updated_at": now,
                },
            })
        };
        json!({
            "meta": {
                "event_name": self.event_type(),
                "test_mode": self.test_mode,
                "custom_data": self.metadata(),
            },
            "data": data,
        })
    }
}

/// `at`, in Unix seconds.
fn unix_seconds(at: SystemTime) -> u64 {
    at.duration_since(UNIX_EPOCH)
        .map_or(0, |since| since.as_secs())
}

/// A positive number that stands for `text`, the same every time (FNV-1a), for the ids Lemon
/// Squeezy writes as numbers.
fn numeric_id(text: &str) -> u64 {
    let hash = text.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |hash, byte| {
        (hash ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3)
    });
    hash % 1_000_000_000 + 1
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_sample_names_its_kind_and_ids() {
        for provider in WebhookProvider::ALL {
            for kind in [
                SampleKind::Sale,
                SampleKind::Renewal,
                SampleKind::Refund,
                SampleKind::Dispute,
            ] {
                let Some(event) = SampleEvent::new(provider, kind, "pay_1") else {
                    assert!(matches!(
                        provider,
                        WebhookProvider::Polar | WebhookProvider::LemonSqueezy
                    ));
                    continue;
                };
                let body = event.to_json();
                let named = [
                    &body["type"],
                    &body["event_type"],
                    &body["meta"]["event_name"],
                ];
                assert!(
                    named.contains(&&json!(event.event_type())),
                    "{provider} {kind:?}: {body}"
                );
                // The same sample is the same event.
                assert_eq!(event.event_id(), event.clone().event_id());
            }
        }
        assert_eq!(numeric_id("a"), numeric_id("a"));
        assert_ne!(numeric_id("a"), numeric_id("b"));
    }

    #[test]
    fn test_mode_is_written_where_the_provider_has_a_flag() {
        for provider in WebhookProvider::ALL {
            let sale = SampleEvent::new(provider, SampleKind::Sale, "pay_1").unwrap();
            let (live, test) = (sale.to_json(), sale.test_mode(true).to_json());
            match provider {
                WebhookProvider::Stripe => {
                    assert_eq!(
                        (&live["livemode"], &test["livemode"]),
                        (&json!(true), &json!(false))
                    );
                }
                WebhookProvider::LemonSqueezy => assert_eq!(
                    (&live["meta"]["test_mode"], &test["meta"]["test_mode"]),
                    (&json!(false), &json!(true))
                ),
                _ => assert_eq!(live, test, "{provider}: no flag"),
            }
            assert_eq!(
                provider.has_test_mode(),
                live != test,
                "{provider}: has_test_mode says what is written"
            );
        }
    }

    #[test]
    fn without_a_customer_key_or_click_id_no_field_is_written() {
        let sale = SampleEvent::new(WebhookProvider::Stripe, SampleKind::Sale, "pi_1")
            .unwrap()
            .customer_key(" ")
            .click_id("");
        let body = sale.to_json();
        assert_eq!(body["data"]["object"]["metadata"], json!({}));
        assert_eq!(body["data"]["object"]["client_reference_id"], Value::Null);
    }
}
