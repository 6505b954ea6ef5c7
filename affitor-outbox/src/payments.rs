//! The outbox as a payment webhook's [`PaymentState`]: the facts later deliveries need, kept
//! in the store's `affitor_outbox_facts` table (shared by every outbox on the same database),
//! and each sale or refund stored as a row, with the facts it showed, before the provider is
//! answered. A delivery costs the store two round trips: one to recall, one to store (a third
//! for a converted refund whose sale's rate is kept under its invoice alone).

use affitor::client::Event;
use affitor::webhook::{Custody, Fact, PaymentState, StateFuture};

use crate::Outbox;
use crate::store::{Facts, StoreError};

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
    /// One statement, whatever the number of keys.
    fn recall<'a>(&'a self, keys: &'a [String]) -> StateFuture<'a, Vec<Option<String>>> {
        let what = "the facts an event needs";
        Box::pin(self.on_store(what, self.inner.store.recall_all(keys)))
    }

    /// One transaction.
    fn remember<'a>(&'a self, facts: &'a [Fact]) -> StateFuture<'a, ()> {
        let what = "facts for later events";
        Box::pin(async move {
            self.on_store(what, self.inner.store.remember_all(&as_rows(facts)))
                .await
        })
    }

    /// Writes the event as [`enqueue`](Outbox::enqueue) does, but never falling back to memory,
    /// and its facts in the same transaction, so that a delivery is never known as stored
    /// before it is.
    fn store<'a>(&'a self, event: Event, facts: &'a [Fact]) -> StateFuture<'a, Custody> {
        Box::pin(async move {
            self.store_event(event, as_rows(facts)).await?;
            Ok(Custody::Stored)
        })
    }
}

impl Outbox {
    /// `call` on the store for a payment webhook, held to what its write is: refused at once
    /// while the store is failing, and given up past the enqueue timeout, so that the provider
    /// is answered 503 before its own deadline, and delivers the event again.
    async fn on_store<T>(
        &self,
        what: &str,
        call: impl Future<Output = Result<T, StoreError>>,
    ) -> Result<T, affitor::Error> {
        if self.inner.spill.is_degraded() {
            return Err(self.not_stored(what, "the store is failing (probed in the background)"));
        }
        let timeout = self.inner.config.enqueue_timeout;
        match tokio::time::timeout(timeout, call).await {
            Ok(answer) => answer.map_err(|error| self.not_stored(what, error)),
            Err(_) => {
                Err(self.not_stored(what, format!("the store did not answer within {timeout:?}")))
            }
        }
    }
}

/// The facts as the store writes them: each kept, and the refunds the aliases among them link.
fn as_rows(facts: &[Fact]) -> Facts {
    Facts {
        kept: facts
            .iter()
            .map(|fact| (fact.key.clone(), fact.value.clone(), fact.keep_for))
            .collect(),
        aliases: facts
            .iter()
            .filter_map(Fact::sale_alias)
            .map(|(named, sale)| (named.to_owned(), sale.to_owned()))
            .collect(),
        delivery: facts
            .iter()
            .find(|fact| fact.is_delivery())
            .map(|fact| fact.key.clone()),
    }
}
