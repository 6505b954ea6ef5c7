//! Which invoice each Stripe payment intent paid: what a refund needs on current API versions.
//!
//! A subscription payment's sale is keyed by its invoice (its checkout session names the same
//! invoice, so the two are recorded once). Up to API version 2024-12-18 a charge names its
//! invoice, and its refund finds the sale. From 2025-03-31 ("Basil") on, a charge and a payment
//! intent no longer name their invoice; the link is in the invoice's `payments` and in the
//! `invoice_payment.paid` event. The verifier keeps the links it has seen, so that a refund
//! that names only the payment intent is sent under the invoice: an event's links are
//! [`Fact`](super::Fact)s that [`ProviderEvent::track`](super::ProviderEvent::track) keeps in
//! the verifier's [`PaymentState`](super::PaymentState) (an outbox's is shared by every replica
//! and every later process), and a refund recalls them there.

use std::cell::RefCell;
use std::time::Duration;

/// How long a link is kept: longer than Stripe lets a payment be refunded (180 days) or
/// disputed (120 days after it).
pub(crate) const KEEP_FOR: Duration = Duration::from_secs(400 * 24 * 60 * 60);

/// What the key of a link starts with.
const PREFIX: &str = "stripe:invoice-of:";

/// The key a link is kept under in the [`PaymentState`](super::PaymentState).
pub(crate) fn key(payment_intent: &str) -> String {
    format!("{PREFIX}{payment_intent}")
}

/// The payment intent a link's key names; `None` for any other key.
pub(crate) fn payment_intent_of(key: &str) -> Option<&str> {
    key.strip_prefix(PREFIX).filter(|named| !named.is_empty())
}

/// The links one event shows, as it is read: payment intent, invoice.
#[derive(Default)]
pub(crate) struct EventLinks {
    shown: RefCell<Vec<(String, String)>>,
}

impl EventLinks {
    /// Notes that `payment_intent` paid `invoice`.
    pub(crate) fn record(&self, payment_intent: &str, invoice: &str) {
        self.shown
            .borrow_mut()
            .push((payment_intent.to_owned(), invoice.to_owned()));
    }

    /// The links the event showed: payment intent, invoice.
    pub(crate) fn into_shown(self) -> Vec<(String, String)> {
        self.shown.into_inner()
    }
}
