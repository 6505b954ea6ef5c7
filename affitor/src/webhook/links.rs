//! Which invoice each Stripe payment intent paid: what a refund needs on current API versions.
//!
//! A subscription payment's sale is keyed by its invoice (its checkout session names the same
//! invoice, so the two are recorded once). Up to API version 2024-12-18 a charge names its
//! invoice, and its refund finds the sale. From 2025-03-31 ("Basil") on, a charge and a payment
//! intent no longer name their invoice; the link is in the invoice's `payments` and in the
//! `invoice_payment.paid` event. The verifier keeps the links it has seen, so that a refund
//! that names only the payment intent is sent under the invoice.

use std::collections::{HashMap, VecDeque};
use std::sync::{Mutex, PoisonError};

/// How many links are kept unless configured: at about 100 bytes each, 10 MB at most.
pub(crate) const DEFAULT_CAPACITY: usize = 100_000;

/// Payment intent → invoice, the most recent `capacity` of them.
#[derive(Debug)]
pub(crate) struct PaymentLinks {
    capacity: usize,
    inner: Mutex<Links>,
}

#[derive(Debug, Default)]
struct Links {
    invoice_of: HashMap<String, String>,
    /// The payment intents in the order they were linked, to forget the oldest first.
    order: VecDeque<String>,
}

impl PaymentLinks {
    pub(crate) fn new(capacity: usize) -> Self {
        Self {
            capacity,
            inner: Mutex::default(),
        }
    }

    /// Remembers that `payment_intent` paid `invoice`, forgetting the oldest link when full.
    pub(crate) fn record(&self, payment_intent: &str, invoice: &str) {
        if self.capacity == 0 {
            return;
        }
        let mut links = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        if links
            .invoice_of
            .insert(payment_intent.to_owned(), invoice.to_owned())
            .is_some()
        {
            return; // already linked: its place in the order stays
        }
        links.order.push_back(payment_intent.to_owned());
        while links.order.len() > self.capacity {
            if let Some(oldest) = links.order.pop_front() {
                links.invoice_of.remove(&oldest);
            }
        }
    }

    /// The invoice `payment_intent` paid, if it was seen.
    pub(crate) fn invoice_of(&self, payment_intent: &str) -> Option<String> {
        let links = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        links.invoice_of.get(payment_intent).cloned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_oldest_link_goes_first_and_the_size_stays_bounded() {
        let links = PaymentLinks::new(2);
        links.record("pi_1", "in_1");
        links.record("pi_2", "in_2");
        links.record("pi_1", "in_1"); // seen again: no second place in the order
        links.record("pi_3", "in_3");
        assert_eq!(links.invoice_of("pi_1"), None);
        assert_eq!(links.invoice_of("pi_2").as_deref(), Some("in_2"));
        assert_eq!(links.invoice_of("pi_3").as_deref(), Some("in_3"));
        let inner = links.inner.lock().unwrap();
        assert_eq!((inner.invoice_of.len(), inner.order.len()), (2, 2));
    }

    #[test]
    fn a_capacity_of_zero_keeps_nothing() {
        let links = PaymentLinks::new(0);
        links.record("pi_1", "in_1");
        assert_eq!(links.invoice_of("pi_1"), None);
    }
}
