//! What a verifier remembers between deliveries, and where a payment's event is kept: the
//! [`PaymentState`] seam, and the memory it uses unless told otherwise.
//!
//! A delivery can need what an earlier one showed: a Stripe refund that names only its payment
//! intent finds its sale under the invoice an `invoice_payment.paid` linked to it; a renewal is
//! a subscription's first sale when its trial began unpaid; a Lemon Squeezy delivery seen
//! before is a replay. Those facts, and the sale or refund itself when it must outlive the
//! process, are the payment state. [`ProviderEvent::track`](super::ProviderEvent::track) asks it
//! at most twice a delivery: once to [`recall`](PaymentState::recall) what it needs, once to
//! [`store`](PaymentState::store) the event with the facts it showed; a third time for a
//! converted refund whose sale's rate is kept under the invoice its payment intent paid alone.

use std::collections::{HashMap, VecDeque};
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use crate::Error;
use crate::client::Event;

/// A future a [`PaymentState`] answers with.
pub type StateFuture<'a, T> = Pin<Box<dyn Future<Output = Result<T, Error>> + Send + 'a>>;

/// Where a verifier keeps what later deliveries need, and where a payment's sale or refund is
/// stored when it must outlive the process.
///
/// Unless told otherwise ([`Verifier::with_payment_state`](super::Verifier::with_payment_state)),
/// a verifier keeps the facts in its own bounded memory and sends each sale or refund before it
/// answers the provider. `affitor_outbox::Outbox` implements it on its database: the facts are
/// shared by every replica and survive a restart, and [`store`](Self::store) writes the sale or
/// refund in the outbox, which delivers it, so the provider is answered once it is committed.
///
/// - [`recall`](Self::recall) answers the values kept under several keys at once.
/// - [`remember`](Self::remember) keeps facts, each for about its `keep_for`; writing a key
///   again replaces its value.
/// - [`store`](Self::store) takes the payment's event and the facts that hold once it is taken,
///   in one transaction, and answers [`Custody::Stored`] once both are committed; or, as the
///   default does, keeps nothing and hands the event back ([`Custody::Returned`]): the webhook
///   then sends it itself, and keeps the facts that hold once it is sent.
///
/// An error from any of them is answered 503, so that the provider delivers the event again.
///
/// A state keeps the last value written under a key; the webhook decides what to write, and
/// never moves a fact back: it recalls a key before writing it (a trial paid stays `paid`,
/// whatever start is shown again; a sale's refunds are only added to), and it writes with the
/// facts of a stored delivery, or of one that asked nothing, the fact that knows the delivery,
/// so that its replay is acknowledged without writing them again.
///
/// A state on a map of your own (a real one would expire what it keeps):
///
/// ```
/// use std::collections::HashMap;
/// use std::sync::Mutex;
///
/// use affitor::webhook::{Fact, PaymentState, StateFuture, Stripe, Verifier};
///
/// #[derive(Default)]
/// struct Facts(Mutex<HashMap<String, String>>);
///
/// impl PaymentState for Facts {
///     fn recall<'a>(&'a self, keys: &'a [String]) -> StateFuture<'a, Vec<Option<String>>> {
///         let facts = self.0.lock().unwrap();
///         let values = keys.iter().map(|key| facts.get(key).cloned()).collect();
///         Box::pin(std::future::ready(Ok(values)))
///     }
///
///     fn remember<'a>(&'a self, facts: &'a [Fact]) -> StateFuture<'a, ()> {
///         let mut kept = self.0.lock().unwrap();
///         for fact in facts {
///             kept.insert(fact.key.clone(), fact.value.clone());
///         }
///         Box::pin(std::future::ready(Ok(())))
///     }
/// }
///
/// let stripe = Verifier::<Stripe>::new("whsec_test_signing")?.with_payment_state(Facts::default());
/// # Ok::<(), affitor::webhook::WebhookError>(())
/// ```
pub trait PaymentState: Send + Sync + 'static {
    /// The values kept under `keys`, in their order: `None` where nothing is kept (or no
    /// longer). One round trip to the store.
    fn recall<'a>(&'a self, keys: &'a [String]) -> StateFuture<'a, Vec<Option<String>>>;

    /// Keeps `facts`, each under its key for about its `keep_for`, replacing what the key held.
    fn remember<'a>(&'a self, facts: &'a [Fact]) -> StateFuture<'a, ()>;

    /// Takes a payment's sale or refund `event` with the `facts` that hold once it is taken,
    /// in one transaction: [`Custody::Stored`] once both are committed, and then this state
    /// delivers the event. The default keeps nothing and hands the event back
    /// ([`Custody::Returned`]): the webhook sends it, then [`remember`](Self::remember)s the
    /// facts.
    ///
    /// Once it has stored an event, a state that gives up on delivering it (a dead letter)
    /// forgets the delivery's fact ([`Fact::is_delivery`]) with it, so that the provider's
    /// resend is stored again instead of acknowledged as a replay.
    fn store<'a>(&'a self, event: Event, facts: &'a [Fact]) -> StateFuture<'a, Custody> {
        let _ = facts;
        Box::pin(std::future::ready(Ok(Custody::Returned(event))))
    }
}

impl<S: PaymentState + ?Sized> PaymentState for Arc<S> {
    fn recall<'a>(&'a self, keys: &'a [String]) -> StateFuture<'a, Vec<Option<String>>> {
        (**self).recall(keys)
    }

    fn remember<'a>(&'a self, facts: &'a [Fact]) -> StateFuture<'a, ()> {
        (**self).remember(facts)
    }

    fn store<'a>(&'a self, event: Event, facts: &'a [Fact]) -> StateFuture<'a, Custody> {
        (**self).store(event, facts)
    }
}

/// One thing a later delivery needs to know: `value` under `key`, for about `keep_for`.
/// Made by the webhook; a [`PaymentState`] reads it.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Fact {
    /// What it is known by, such as `stripe:invoice-of:pi_123`.
    pub key: String,
    /// What it says, such as the invoice's id.
    pub value: String,
    /// How long it is worth keeping: longer than any later event that needs it can come.
    pub keep_for: Duration,
}

impl Fact {
    pub(crate) fn new(key: String, value: impl Into<String>, keep_for: Duration) -> Self {
        Self {
            key,
            value: value.into(),
            keep_for,
        }
    }

    /// When this fact says that a sale is named by another id in its refunds: `(the id a
    /// refund names, the transaction id the sale is keyed by)`. A Stripe payment intent that
    /// paid an invoice is one: from API version 2025-03-31 a refund names only the payment
    /// intent, and the sale is keyed by the invoice.
    ///
    /// A state that holds refunds for later gives each refund it holds under the first id the
    /// second as its other one, once the fact comes (the link can come after the refund): see
    /// [`RefundRequest::or_transaction_id`](crate::RefundRequest::or_transaction_id).
    ///
    /// ```
    /// # use affitor::webhook::Fact;
    /// fn alias(fact: &Fact) {
    ///     if let Some((payment_intent, invoice)) = fact.sale_alias() {
    ///         println!("refunds of {payment_intent} go under {invoice}");
    ///     }
    /// }
    /// ```
    pub fn sale_alias(&self) -> Option<(&str, &str)> {
        let named = super::links::payment_intent_of(&self.key)?;
        Some((named, self.value.as_str()))
    }

    /// The key of the fact that would make `named` a [`sale_alias`](Self::sale_alias): what a
    /// state that holds refunds looks up for a refund that Affitor knows no sale of under
    /// `named`, when the refund was written as the fact came (neither saw the other).
    ///
    /// ```
    /// # use affitor::webhook::Fact;
    /// assert_eq!(Fact::sale_alias_key("pi_3Q"), "stripe:invoice-of:pi_3Q");
    /// ```
    pub fn sale_alias_key(named: &str) -> String {
        super::links::key(named)
    }

    /// Whether this is the fact a delivery is known by, so that the provider's redelivery of
    /// it is acknowledged without being stored or sent again.
    ///
    /// A state that [stores](PaymentState::store) events forgets this fact when it gives up
    /// on the event it came with (a dead letter): the provider's resend of that event, from
    /// its dashboard say, is then taken again rather than acknowledged with nothing done.
    ///
    /// ```
    /// # use affitor::webhook::Fact;
    /// fn kept_with_its_row(facts: &[Fact]) -> Option<&str> {
    ///     facts.iter().find(|fact| fact.is_delivery()).map(|fact| fact.key.as_str())
    /// }
    /// ```
    pub fn is_delivery(&self) -> bool {
        self.key
            .split_once(':')
            .is_some_and(|(_, rest)| rest.starts_with(DELIVERY))
    }
}

/// What follows the provider's name in the key of a delivery's fact.
const DELIVERY: &str = "delivery:";

/// The key of the fact that knows a delivery of `provider`'s by `id` (its event id, or, for
/// Lemon Squeezy, which gives deliveries no id, its signature in hex).
pub(crate) fn delivery_key(provider: &str, id: &str) -> String {
    format!("{provider}:{DELIVERY}{id}")
}

/// What [`PaymentState::store`] did with a payment's event.
///
/// A state that takes the events while it has room, with their facts under one lock (a real
/// one writes both in a database transaction, and a worker of its own delivers the events):
///
/// ```
/// use std::collections::HashMap;
/// use std::sync::Mutex;
///
/// use affitor::client::Event;
/// use affitor::webhook::{Custody, Fact, PaymentState, StateFuture};
///
/// #[derive(Default)]
/// struct Kept {
///     events: Vec<Event>,
///     facts: HashMap<String, String>,
/// }
///
/// #[derive(Default)]
/// struct Durable(Mutex<Kept>);
///
/// impl PaymentState for Durable {
///     fn recall<'a>(&'a self, keys: &'a [String]) -> StateFuture<'a, Vec<Option<String>>> {
///         let kept = self.0.lock().unwrap();
///         let values = keys.iter().map(|key| kept.facts.get(key).cloned()).collect();
///         Box::pin(std::future::ready(Ok(values)))
///     }
///
///     fn remember<'a>(&'a self, facts: &'a [Fact]) -> StateFuture<'a, ()> {
///         let mut kept = self.0.lock().unwrap();
///         for fact in facts {
///             kept.facts.insert(fact.key.clone(), fact.value.clone());
///         }
///         Box::pin(std::future::ready(Ok(())))
///     }
///
///     fn store<'a>(&'a self, event: Event, facts: &'a [Fact]) -> StateFuture<'a, Custody> {
///         let mut kept = self.0.lock().unwrap();
///         if kept.events.len() >= 10_000 {
///             // Full: nothing is kept, and the webhook sends the event itself.
///             return Box::pin(std::future::ready(Ok(Custody::Returned(event))));
///         }
///         kept.events.push(event);
///         for fact in facts {
///             kept.facts.insert(fact.key.clone(), fact.value.clone());
///         }
///         Box::pin(std::future::ready(Ok(Custody::Stored)))
///     }
/// }
/// ```
#[derive(Debug)]
#[expect(
    clippy::large_enum_variant,
    reason = "made once a delivery and moved once: a box would cost more than it saves"
)]
pub enum Custody {
    /// The event and its facts are committed, and the state delivers the event.
    Stored,
    /// Nothing was kept: the event is handed back, for the webhook to send.
    Returned(Event),
}

/// How many facts a verifier keeps in memory: at about 100 bytes each, 10 MB at most.
const MEMORY_CAPACITY: usize = 100_000;

/// The state a verifier keeps unless given another: its most recent facts in memory, the
/// oldest forgotten first once it holds [`MEMORY_CAPACITY`]; events are sent, not stored.
pub(crate) struct MemoryState {
    capacity: usize,
    inner: Mutex<Entries>,
}

#[derive(Default)]
struct Entries {
    values: HashMap<String, String>,
    /// The keys in the order they were first kept, to forget the oldest first.
    order: VecDeque<String>,
}

impl MemoryState {
    pub(crate) fn new() -> Self {
        Self::with_capacity(MEMORY_CAPACITY)
    }

    fn with_capacity(capacity: usize) -> Self {
        Self {
            capacity,
            inner: Mutex::default(),
        }
    }

    fn keep(&self, key: &str, value: &str) {
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

    fn get(&self, key: &str) -> Option<String> {
        let entries = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        entries.values.get(key).cloned()
    }
}

impl PaymentState for MemoryState {
    fn recall<'a>(&'a self, keys: &'a [String]) -> StateFuture<'a, Vec<Option<String>>> {
        let values = keys.iter().map(|key| self.get(key)).collect();
        Box::pin(std::future::ready(Ok(values)))
    }

    fn remember<'a>(&'a self, facts: &'a [Fact]) -> StateFuture<'a, ()> {
        for fact in facts {
            self.keep(&fact.key, &fact.value);
        }
        Box::pin(std::future::ready(Ok(())))
    }
}

impl fmt::Debug for MemoryState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let entries = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        f.debug_struct("MemoryState")
            .field("capacity", &self.capacity)
            .field("facts", &entries.values.len())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_oldest_fact_goes_first_and_the_size_stays_bounded() {
        let memory = MemoryState::with_capacity(2);
        memory.keep("pi_1", "in_1");
        memory.keep("pi_2", "in_2");
        memory.keep("pi_1", "in_1"); // kept again: no second place in the order
        memory.keep("pi_3", "in_3");
        assert_eq!(memory.get("pi_1"), None);
        assert_eq!(memory.get("pi_2").as_deref(), Some("in_2"));
        assert_eq!(memory.get("pi_3").as_deref(), Some("in_3"));
        let inner = memory.inner.lock().unwrap();
        assert_eq!((inner.values.len(), inner.order.len()), (2, 2));
    }

    #[test]
    fn a_capacity_of_zero_keeps_nothing() {
        let memory = MemoryState::with_capacity(0);
        memory.keep("pi_1", "in_1");
        assert_eq!(memory.get("pi_1"), None);
    }

    #[tokio::test]
    async fn it_recalls_in_the_order_asked_and_hands_events_back() {
        let memory = MemoryState::new();
        let fact = Fact::new("b".to_owned(), "2", Duration::from_secs(1));
        memory.remember(std::slice::from_ref(&fact)).await.unwrap();
        let keys = ["a".to_owned(), "b".to_owned()];
        assert_eq!(
            memory.recall(&keys).await.unwrap(),
            [None, Some("2".to_owned())]
        );
        let client = crate::Client::builder()
            .api_key("aff_key")
            .base_url("http://127.0.0.1:9")
            .build()
            .unwrap();
        let event = crate::client::IntoEvent::into_event(client.lead("user_1")).unwrap();
        let custody = memory.store(event, &[fact]).await.unwrap();
        assert!(matches!(custody, Custody::Returned(_)), "{custody:?}");
    }
}
