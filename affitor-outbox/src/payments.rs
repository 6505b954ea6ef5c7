//! The outbox as a payment webhook's [`PaymentState`]: the facts later deliveries need, kept
//! in the store's `affitor_outbox_facts` table (shared by every outbox on the same database),
//! and each sale or refund stored as a row before the provider is answered.

use affitor::client::Event;
use affitor::webhook::{Custody, Fact, PaymentState, StateFuture};

use crate::Outbox;

/// A payment webhook whose verifier holds an outbox
/// ([`Verifier::with_payment_state`](affitor::webhook::Verifier::with_payment_state)) writes its
/// sale or refund here and answers the provider 200 once it is committed: *stored, will be
/// delivered*, whatever happens to the process after. A store that cannot write is answered
/// 503 (never kept in memory only), so that the provider delivers the event again; an event
/// the store cannot take within the [enqueue timeout](crate::OutboxBuilder::enqueue_timeout)
/// is an [`Error::not_stored`](affitor::Error::not_stored) too.
///
/// ```no_run
/// # async fn run(client: affitor::Client) -> Result<(), Box<dyn std::error::Error>> {
/// use affitor::webhook::{Stripe, Verifier};
/// use affitor_outbox::Outbox;
///
/// let outbox = Outbox::open("affitor-outbox.db", client.clone()).await?;
/// let stripe = Verifier::<Stripe>::from_env()?.with_payment_state(outbox.clone());
/// # Ok(())
/// # }
/// ```
impl PaymentState for Outbox {
    fn recall<'a>(&'a self, keys: &'a [String]) -> StateFuture<'a, Vec<Option<String>>> {
        Box::pin(async move {
            let mut values = Vec::with_capacity(keys.len());
            for key in keys {
                let value = self
                    .store()
                    .recall(key)
                    .await
                    .map_err(|error| self.not_stored("a fact an event needs", error))?;
                values.push(value);
            }
            Ok(values)
        })
    }

    fn remember<'a>(&'a self, facts: &'a [Fact]) -> StateFuture<'a, ()> {
        Box::pin(async move {
            for fact in facts {
                self.store()
                    .remember(&fact.key, &fact.value, fact.keep_for)
                    .await
                    .map_err(|error| self.not_stored("a fact for later events", error))?;
            }
            Ok(())
        })
    }

    /// Writes the event, as [`enqueue`](Outbox::enqueue) does but never falling back to
    /// memory, then its facts; the facts only once the event is committed, so that a delivery
    /// is never known as stored before it is.
    fn store<'a>(&'a self, event: Event, facts: &'a [Fact]) -> StateFuture<'a, Custody> {
        Box::pin(async move {
            self.store_event(event).await?;
            self.remember(facts).await?;
            Ok(Custody::Stored)
        })
    }
}
