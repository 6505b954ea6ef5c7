//! The unsigned demo payment webhook, `POST /webhooks/payment`.

use affitor::client::{BoundClient, Currency};
use affitor::webhook;
use serde::Deserialize;

/// The body of `POST /webhooks/payment`, as a payment provider would send it.
#[derive(Clone, Debug, Deserialize)]
#[serde(tag = "type", content = "data")]
pub enum PaymentEvent {
    /// A payment went through: track a sale.
    #[serde(rename = "payment.succeeded")]
    Succeeded(Payment),
    /// A payment was refunded: track a refund of the sale with the same invoice id.
    #[serde(rename = "payment.refunded")]
    Refunded(Payment),
}

impl PaymentEvent {
    /// Tracks the event inline with the request's bound client: a sale for a payment (keyed by
    /// its invoice id, for the paying user), a refund for a refund. What happened is a
    /// provider's webhook's [`Tracked`](webhook::Tracked), logged, whose
    /// [`status`](webhook::Tracked::status) is the answer: the providers' webhooks' own (the
    /// provider keeps what is not tracked yet: 503 while Affitor is down, 500 until the app is
    /// mended).
    pub async fn track(self, affitor: &BoundClient) -> webhook::Tracked {
        let tracked = self.send(affitor).await;
        let status = tracked.status();
        if status.is_success() {
            tracing::info!(?tracked, "payment webhook: answered {status}");
        } else {
            tracing::warn!(
                ?tracked,
                "payment webhook: answered {status}, so that the provider keeps it"
            );
        }
        tracked
    }

    async fn send(self, affitor: &BoundClient) -> webhook::Tracked {
        use webhook::{Ignored, Tracked};

        match self {
            // A free trial, a full discount: nothing to track.
            Self::Succeeded(payment) if payment.amount_cents == 0 => {
                Tracked::Ignored(Ignored::NoAmount)
            }
            Self::Succeeded(payment) => {
                let mut sale = affitor
                    .sale(&payment.invoice_id, payment.amount_cents)
                    .customer_key(&payment.user_id);
                match payment.currency() {
                    Ok(Some(currency)) => sale = sale.currency(currency),
                    Ok(None) => {}
                    Err(error) => return Tracked::Failed(error),
                }
                sale.send()
                    .await
                    .map_or_else(Tracked::Failed, Tracked::Sale)
            }
            Self::Refunded(payment) => affitor
                .refund(&payment.invoice_id)
                .send()
                .await
                .map_or_else(Tracked::Failed, Tracked::Refund),
        }
    }
}

/// One payment of a [`PaymentEvent`].
#[derive(Clone, Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Payment {
    /// The paying user's id: the Affitor `customer_key`.
    pub user_id: String,
    /// The amount, in cents.
    pub amount_cents: u64,
    /// The provider's invoice id: the Affitor `transaction_id`, and the idempotency key.
    pub invoice_id: String,
    /// The ISO 4217 currency code (default `USD`).
    pub currency: Option<String>,
}

impl Payment {
    /// The payment's currency, if it names one, checked as a three-letter ISO 4217 code.
    pub fn currency(&self) -> Result<Option<Currency>, affitor::Error> {
        self.currency
            .as_deref()
            .map(Currency::from_code)
            .transpose()
    }
}
