//! Which invoice each Stripe payment intent paid: what a refund needs on current API versions.
//!
//! A subscription payment's sale is keyed by its invoice (its checkout session names the same
//! invoice, so the two are recorded once). Up to API version 2024-12-18 a charge names its
//! invoice, and its refund finds the sale. From 2025-03-31 ("Basil") on, a charge and a payment
//! intent no longer name their invoice; the link is in the invoice's `payments` and in the
//! `invoice_payment.paid` event. The verifier keeps the links it has seen, so that a refund
//! that names only the payment intent is sent under the invoice: in its memory, and, through
//! [`ProviderEvent::track`](super::ProviderEvent::track), in the client's durable backend
//! when it has one ([`Backend::remember`](crate::client::Backend::remember)), where every
//! replica and every later process finds them.

use std::cell::RefCell;
use std::collections::{HashMap, VecDeque};
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

/// How long a link is kept in a durable backend's store: longer than Stripe lets a payment be
/// refunded (180 days) or disputed (120 days after it).
pub(crate) const KEEP_FOR: Duration = Duration::from_secs(400 * 24 * 60 * 60);

/// The key a link is kept under in a durable backend ([`Backend::remember`](crate::client::Backend::remember)).
pub(crate) fn key(payment_intent: &str) -> String {
    format!("stripe:invoice-of:{payment_intent}")
}

/// How many links are kept unless configured: at about 100 bytes each, 10 MB at most.
pub(crate) const DEFAULT_CAPACITY: usize = 100_000;

/// The most recent `capacity` values a verifier keeps in memory, by key: the invoice each
/// Stripe payment intent paid, and the state of each subscription's trial. The oldest key is
/// forgotten first.
#[derive(Debug)]
pub(crate) struct Recent {
    capacity: usize,
    inner: Mutex<Entries>,
}

#[derive(Debug, Default)]
struct Entries {
    values: HashMap<String, String>,
    /// The keys in the order they were first recorded, to forget the oldest first.
    order: VecDeque<String>,
}

impl Recent {
    pub(crate) fn new(capacity: usize) -> Self {
        Self {
            capacity,
            inner: Mutex::default(),
        }
    }

    /// Keeps `value` under `key` (replacing what it held), forgetting the oldest key when full.
    pub(crate) fn record(&self, key: &str, value: &str) {
        if self.capacity == 0 {
            return;
        }
        let mut entries = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        if entries
            .values
            .insert(key.to_owned(), value.to_owned())
            .is_some()
        {
            return; // already kept: its place in the order stays
        }
        entries.order.push_back(key.to_owned());
        while entries.order.len() > self.capacity {
            if let Some(oldest) = entries.order.pop_front() {
                entries.values.remove(&oldest);
            }
        }
    }

    /// The value kept under `key`, if it still is.
    pub(crate) fn get(&self, key: &str) -> Option<String> {
        let entries = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        entries.values.get(key).cloned()
    }
}

/// The links one event is read with: the verifier's memory, and the links this event showed,
/// which [`ProviderEvent::track`](super::ProviderEvent::track) also keeps in a durable backend.
pub(crate) struct EventLinks<'a> {
    memory: &'a Recent,
    shown: RefCell<Vec<(String, String)>>,
}

impl<'a> EventLinks<'a> {
    pub(crate) fn new(memory: &'a Recent) -> Self {
        Self {
            memory,
            shown: RefCell::default(),
        }
    }

    /// Remembers that `payment_intent` paid `invoice`.
    pub(crate) fn record(&self, payment_intent: &str, invoice: &str) {
        self.memory.record(payment_intent, invoice);
        self.shown
            .borrow_mut()
            .push((payment_intent.to_owned(), invoice.to_owned()));
    }

    /// The invoice `payment_intent` paid, if this verifier has seen it.
    pub(crate) fn invoice_of(&self, payment_intent: &str) -> Option<String> {
        self.memory.get(payment_intent)
    }

    /// The links the event showed: payment intent, invoice.
    pub(crate) fn into_shown(self) -> Vec<(String, String)> {
        self.shown.into_inner()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_oldest_link_goes_first_and_the_size_stays_bounded() {
        let links = Recent::new(2);
        links.record("pi_1", "in_1");
        links.record("pi_2", "in_2");
        links.record("pi_1", "in_1"); // seen again: no second place in the order
        links.record("pi_3", "in_3");
        assert_eq!(links.get("pi_1"), None);
        assert_eq!(links.get("pi_2").as_deref(), Some("in_2"));
        assert_eq!(links.get("pi_3").as_deref(), Some("in_3"));
        let inner = links.inner.lock().unwrap();
        assert_eq!((inner.values.len(), inner.order.len()), (2, 2));
    }

    #[test]
    fn a_capacity_of_zero_keeps_nothing() {
        let links = Recent::new(0);
        links.record("pi_1", "in_1");
        assert_eq!(links.get("pi_1"), None);
    }
}
