//! The order the stores keep, once for both: which rows a claim may take, and which new rows
//! the writer may lease to its relay as it writes them.
//!
//! The claim takes due rows, oldest first, that no relay holds and that no earlier live row
//! of the same transaction or customer precedes: so a customer's sale waits for their lead,
//! across relays and restarts. A refund waits for every live sale row of its transaction
//! (under either of its ids), whichever was written first; a sale never waits for a refund.
//! A refund committed while its sale's transaction is still open (Postgres hands out ids at
//! insert, not at commit) can go first: Affitor answers that it knows no such sale, and the
//! relay tries it again, for the [refund patience](crate::OutboxBuilder::refund_patience).
//!
//! The rules are one condition for both stores ([`transaction_order`], [`candidate`]), and
//! one way to claim: walk the candidate rows oldest first, and take each that is free and whose
//! customer no earlier row of the walk has ([`Customers`]). A customer's earlier rows are found
//! two ways. The rows whose delivery has started (leased or tried: a few thousand at most, the
//! rows being sent and those waiting for a retry) are indexed by customer, and looked up. The
//! unstarted rows are walked through their index, by id, and the walk reads every unstarted row
//! older than the rows it takes.

/// The rows that go before a row `o` of the same transaction: the earlier live rows, except
/// that a sale never waits for a refund; and, for a refund, every live sale row of either of
/// its ids, written before it or after. One condition (true when none is live) for both
/// stores' claims, for `concat!`; a row without a transaction id (a lead) looks nothing up.
/// `$probe` ends the subquery for a refund's other id (see [`transaction_free`]): on Postgres,
/// `OFFSET 0` keeps it one lookup for each refund, where the planner could otherwise hash every
/// live sale of the table once per claim.
macro_rules! transaction_order {
    ($probe:literal) => {
        concat!(
            "(o.transaction_id IS NULL OR NOT EXISTS (
          SELECT 1 FROM affitor_outbox e
          WHERE e.transaction_id = o.transaction_id AND e.id <> o.id AND e.dead_at IS NULL
            AND ((e.id < o.id AND NOT (e.endpoint = 'refund' AND o.endpoint = 'sale'))
                 OR (o.endpoint = 'refund' AND e.endpoint = 'sale'))))
      AND NOT (o.endpoint = 'refund' AND o.other_transaction_id IS NOT NULL AND EXISTS (
          SELECT 1 FROM affitor_outbox e
          WHERE e.transaction_id = o.other_transaction_id AND e.endpoint = 'sale'
            AND e.dead_at IS NULL",
            $probe,
            "))"
        )
    };
}
pub(crate) use transaction_order;

/// The columns a claim reads of each candidate row `o`: its id, its customer key, and whether it
/// is free: no row of its transaction goes before it ([`transaction_order`]), and no started
/// row of its customer is older. The claim also holds back a row whose customer an earlier row
/// of its walk has ([`Customers`]): that is how it finds a customer's unstarted rows. `$probe`
/// ends each subquery, as in [`transaction_order`].
macro_rules! candidate {
    ($probe:literal) => {
        concat!(
            "o.id, CAST(o.customer_key AS TEXT), ",
            $crate::store::transaction_order!($probe),
            "
      AND (o.customer_key IS NULL OR NOT EXISTS (
          SELECT 1 FROM affitor_outbox e
          WHERE e.customer_key = o.customer_key AND e.id < o.id AND e.dead_at IS NULL
            AND (e.lease_until IS NOT NULL OR e.attempts > 0)",
            $probe,
            "))"
        )
    };
}
pub(crate) use candidate;

/// The customers a claim's walk has read so far, by a hash of their key: a row whose customer
/// an earlier row of the walk has waits for it. Two keys that share a hash only hold a row back
/// until a later claim.
pub(crate) struct Customers {
    hasher: std::hash::RandomState,
    read: std::collections::HashSet<u64>,
}

impl Customers {
    pub(crate) fn new() -> Self {
        Self {
            hasher: std::hash::RandomState::new(),
            read: std::collections::HashSet::new(),
        }
    }

    /// Reads a row's customer: whether no earlier row of the walk had it (a row with none
    /// waits for no one).
    pub(crate) fn first(&mut self, customer: Option<&[u8]>) -> bool {
        customer.is_none_or(|customer| {
            self.read
                .insert(std::hash::BuildHasher::hash_one(&self.hasher, customer))
        })
    }
}

/// Half of the condition under which an offered row is leased as it is written, for both
/// stores' inserts (`b` the new row): no live row of its transaction is in the table, under
/// either of its ids. The other half is the store's: no live row of its customer. Stricter than
/// the claim's order ([`transaction_order`]): such a row is left to the claim, which knows
/// which of those rows it waits for.
///
/// Each key is one equality on its own index, looked up only when the row has that key (a lead
/// has no transaction id): a plan made when the table was empty (Postgres's generic plan of a
/// prepared statement) cannot turn it into a scan of another index. `$probe` ends each
/// subquery: Postgres's `OFFSET 0` keeps it a lookup for each new row, where the planner would
/// otherwise join the batch against the whole table.
macro_rules! transaction_free {
    ($probe:literal) => {
        concat!(
            "(b.transaction_id IS NULL OR NOT EXISTS (
             SELECT 1 FROM affitor_outbox e
             WHERE e.transaction_id = b.transaction_id AND e.dead_at IS NULL",
            $probe,
            "))
         AND (b.other_transaction_id IS NULL OR NOT EXISTS (
             SELECT 1 FROM affitor_outbox e
             WHERE e.transaction_id = b.other_transaction_id AND e.dead_at IS NULL",
            $probe,
            "))"
        )
    };
}
pub(crate) use transaction_free;
