//! Where the events wait: one table, `affitor_outbox`, in SQLite or in Postgres.
//!
//! Both stores keep the same rows and answer the same questions (insert a batch, claim,
//! renew, complete, reschedule, bury, release), each in one statement (a batch: one
//! transaction, one statement on Postgres, one per row on SQLite), so the relay (`relay.rs`) knows nothing
//! of the database behind it. A row holds the event's endpoint name and the exact JSON body the
//! API receives ([`Event::to_json`]), its ordering keys (transaction id, customer key), its
//! attempts and the time of the next one, its lease (which relay holds it, until when), and,
//! once given up on, when and why (a dead letter, kept).
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
//! unstarted rows are indexed by id alone, and the walk reads every unstarted row older than the
//! rows it takes. An index of every row by customer took each new row at a random place: every
//! row of a batch dirtied a page of its own, which SQLite's WAL writes whole, and Postgres's
//! claims under load spent most of the server's time in it.
//!
//! Beside the events, a second table, `affitor_outbox_facts`, keeps what later events need
//! ([`affitor::webhook::PaymentState`]): which invoice a Stripe payment intent paid, a trial, a
//! delivery stored. Each
//! fact expires, and the relay deletes the expired ones.

/// The rows that go before a row `o` of the same transaction: the earlier live rows, except
/// that a sale never waits for a refund; and, for a refund, every live sale row of either of
/// its ids, written before it or after. One condition (true when none is live) for both
/// stores' claims, for `concat!`; a row without a transaction id (a lead) looks nothing up. `$probe` ends the subquery for a refund's other id (see
/// [`transaction_free`]): on Postgres, `OFFSET 0` keeps it one lookup for each refund, where
/// the planner could otherwise hash every live sale of the table once per claim.
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
            "o.id, o.customer_key, ",
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
    pub(crate) fn first(&mut self, customer: Option<&str>) -> bool {
        customer.is_none_or(|customer| {
            self.read
                .insert(std::hash::BuildHasher::hash_one(&self.hasher, customer))
        })
    }
}

mod error;
#[cfg(feature = "postgres")]
pub(crate) mod postgres;
#[cfg(feature = "sqlite")]
pub(crate) mod sqlite;

pub(crate) use error::StoreError;

use std::time::Duration;

use affitor::client::{Endpoint, Event};

/// A row to write: an event in its stored form.
#[derive(Debug)]
pub(crate) struct NewRow {
    /// Whether the writer offers the row to its own process's relay: leased to it as it is
    /// written when no live row of its transaction or customer is in the table (see
    /// [`transaction_free`]).
    pub(crate) offered: bool,
    pub(crate) endpoint: &'static str,
    pub(crate) body: String,
    pub(crate) transaction_id: Option<String>,
    /// A refund's other id ([`Event::other_transaction_id`]), kept beside the body.
    pub(crate) other_transaction_id: Option<String>,
    pub(crate) customer_key: Option<String>,
    /// What later events need to know once this row is stored (a payment webhook's facts:
    /// [`Fact`](affitor::webhook::Fact)): written in the row's transaction, so that a delivery
    /// is never known as stored before its row is.
    pub(crate) facts: Facts,
}

/// How soon a waiting refund goes again once a fact links it to its sale: not at once, as the
/// sale's own event comes with the link (Stripe sends `invoice_payment.paid` and
/// `invoice.paid` together), and the sale's row, once written, wakes its refunds and goes
/// first; but soon, for a sale delivered long before.
pub(crate) const LINKED_REFUND_DUE: Duration = Duration::from_secs(2);

/// What a payment webhook hands the store, beside a row or alone
/// ([`affitor::webhook::PaymentState`]).
#[derive(Clone, Debug, Default)]
pub(crate) struct Facts {
    /// Each value under its key, for about its duration.
    pub(crate) kept: Vec<(String, String, Duration)>,
    /// `(the id a refund names, the transaction id its sale is keyed by)`
    /// ([`Fact::sale_alias`](affitor::webhook::Fact::sale_alias)): each waiting refund under the
    /// first, with no other id yet, is put under the second (the first becoming its other id),
    /// and goes again within [`LINKED_REFUND_DUE`] (behind its sale's row, when that waits too).
    pub(crate) aliases: Vec<(String, String)>,
}

impl Facts {
    pub(crate) fn is_empty(&self) -> bool {
        self.kept.is_empty() && self.aliases.is_empty()
    }
}

impl NewRow {
    pub(crate) fn of(event: &Event) -> Self {
        Self {
            facts: Facts::default(),
            offered: false,
            endpoint: event.endpoint().name(),
            body: event.to_json(),
            transaction_id: event.transaction_id().map(str::to_owned),
            other_transaction_id: event.other_transaction_id().map(str::to_owned),
            customer_key: event.customer_key().map(str::to_owned),
        }
    }

    /// Whether the write must reach the disk before it returns: money (a sale or a refund) is
    /// written with SQLite's `synchronous=FULL`, a lead or a click with `NORMAL` (it survives a
    /// crash of the process, not of the machine).
    #[cfg_attr(not(feature = "sqlite"), allow(dead_code))]
    pub(crate) fn is_money(&self) -> bool {
        self.endpoint == Endpoint::Sale.name() || self.endpoint == Endpoint::Refund.name()
    }
}

/// A row a relay holds, claimed or handed over by its writer: its lease is the relay's until it
/// settles the row or the lease ends.
#[derive(Debug)]
pub(crate) struct Claimed {
    pub(crate) id: i64,
    /// Attempts made before this one.
    pub(crate) attempts: u32,
    /// How long ago the row was written, by the store's clock.
    pub(crate) age: Duration,
    /// The row's event, or why it cannot be read.
    pub(crate) event: Result<Event, Unreadable>,
}

/// A stored row that is no event: an endpoint this version does not know, or a body that does
/// not parse.
#[derive(Debug)]
pub(crate) struct Unreadable {
    /// The endpoint's name as stored.
    pub(crate) endpoint: String,
    pub(crate) why: String,
}

/// A claimed row as the stores' `RETURNING` gives it.
type ClaimedRow = (i64, String, String, Option<String>, i64, i64);

impl Claimed {
    fn from_row((id, endpoint, body, other_transaction_id, attempts, age): ClaimedRow) -> Self {
        Self {
            id,
            attempts: u32::try_from(attempts).unwrap_or(u32::MAX),
            age: Duration::from_millis(u64::try_from(age).unwrap_or(0)),
            event: read(&endpoint, &body, other_transaction_id.as_deref())
                .map_err(|why| Unreadable { endpoint, why }),
        }
    }

    /// A row this process just wrote and leased to its own relay: its event as it was given,
    /// never read back.
    pub(crate) fn written(id: i64, event: Event) -> Self {
        Self {
            id,
            attempts: 0,
            age: Duration::ZERO,
            event: Ok(event),
        }
    }

    /// The endpoint's name, as stored: for logs.
    pub(crate) fn endpoint(&self) -> &str {
        match &self.event {
            Ok(event) => event.endpoint().name(),
            Err(unreadable) => &unreadable.endpoint,
        }
    }
}

/// The event of a stored row, or why it cannot be read.
fn read(endpoint: &str, body: &str, other_transaction_id: Option<&str>) -> Result<Event, String> {
    let Some(name) = Endpoint::from_name(endpoint) else {
        return Err(format!(
            "a stored event could not be read back: `{endpoint}` is no endpoint of the Affitor API"
        ));
    };
    let event = Event::from_json(name, body).map_err(|error| error.to_string())?;
    Ok(match other_transaction_id {
        Some(other) => event.or_transaction_id(other),
        None => event,
    })
}

/// The relay new rows may be leased to as they are written, and for how long.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Lease<'a> {
    pub(crate) owner: &'a str,
    pub(crate) duration: Duration,
}

/// A row as a store's batch insert wrote it (see [`Store::line_up`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Inserted {
    pub(crate) id: i64,
    /// Whether it was leased to the batch's [`Lease`] owner.
    pub(crate) leased: bool,
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

/// An event given up on: refused by the API, out of attempts, or unreadable. Kept in the
/// store until someone deletes it; listed by [`Outbox::dead_letters`](crate::Outbox::dead_letters).
///
/// ```
/// # async fn list(outbox: affitor_outbox::Outbox) -> Result<(), affitor_outbox::OutboxError> {
/// for letter in outbox.dead_letters().await? {
///     eprintln!("#{} {} {:?}: {}", letter.id, letter.endpoint, letter.transaction_id, letter.error);
/// }
/// # Ok(())
/// # }
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct DeadLetter {
    /// The row's id in the `affitor_outbox` table.
    pub id: i64,
    /// The endpoint's name as stored (`lead`, `sale`, `refund`, `click`; anything in a corrupt
    /// row).
    pub endpoint: String,
    /// The transaction id of a sale or a refund.
    pub transaction_id: Option<String>,
    /// The attempts made.
    pub attempts: u32,
    /// Why it was given up on: the API's answer, or why the row could not be read.
    pub error: String,
}

impl DeadLetter {
    fn from_row(
        (id, endpoint, transaction_id, attempts, error): (
            i64,
            String,
            Option<String>,
            i64,
            Option<String>,
        ),
    ) -> Self {
        Self {
            id,
            endpoint,
            transaction_id,
            attempts: u32::try_from(attempts).unwrap_or(u32::MAX),
            error: error.unwrap_or_default(),
        }
    }
}

/// The store behind an outbox.
#[derive(Debug)]
pub(crate) enum Store {
    #[cfg(feature = "sqlite")]
    Sqlite(sqlite::SqliteStore),
    #[cfg(feature = "postgres")]
    Postgres(postgres::PostgresStore),
}

/// Calls the same method on whichever store this is.
macro_rules! dispatch {
    ($store:expr, $store_ref:ident => $call:expr) => {
        match *$store {
            #[cfg(feature = "sqlite")]
            Store::Sqlite(ref $store_ref) => $call.map_err(StoreError::from),
            #[cfg(feature = "postgres")]
            Store::Postgres(ref $store_ref) => $call.map_err(StoreError::from),
        }
    };
}

impl Store {
    /// The writer's answer for a batch of `rows` from what the store `inserted`: in the rows'
    /// order (ids are handed out in it); none when no row was offered and the store answered
    /// none (Postgres's plain insert); or none, should the store's answer not line up with
    /// the batch (as many ids as rows, none leased that was not offered): its rows are written
    /// all the same, and those leased go again when their lease ends.
    pub(crate) fn line_up<'a>(
        rows: impl ExactSizeIterator<Item = &'a NewRow> + Clone,
        mut inserted: Vec<Inserted>,
    ) -> Vec<Inserted> {
        // A store need not answer for a batch of which no row was offered: none is leased.
        if inserted.is_empty() && rows.clone().all(|row| !row.offered) {
            return inserted;
        }
        inserted.sort_by_key(|row| row.id);
        let count = rows.len();
        // A row leased that was not offered: the answer is not in the rows' order.
        let lined_up = inserted.len() == count
            && inserted
                .iter()
                .zip(rows)
                .all(|(written, row)| row.offered || !written.leased);
        if !lined_up {
            // An error would send them a second way.
            tracing::error!(
                rows = count,
                ids = inserted.len(),
                "Affitor outbox: the store's answer to a batch does not line up with its rows; \
                 its rows are sent once their lease ends"
            );
            inserted.clear();
        }
        inserted
    }

    /// Claims up to `limit` due rows for `owner`, for `lease`; oldest first. Without
    /// `everything`, only of the unstarted rows (never tried nor leased), read through their
    /// index rather than past every row being sent: a retry that is due or a lease that ran
    /// out waits for a claim of everything (the relay makes one every poll interval), and holds
    /// back its customer's later rows meanwhile.
    pub(crate) async fn claim(
        &self,
        owner: &str,
        lease: Duration,
        limit: usize,
        everything: bool,
    ) -> Result<Vec<Claimed>, StoreError> {
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        let mut rows =
            dispatch!(self, store => store.claim(owner, lease, limit, everything).await)?;
        rows.sort_by_key(|row| row.id);
        Ok(rows)
    }

    /// The API answered: the rows are done, and deleted.
    pub(crate) async fn complete(&self, ids: &[i64]) -> Result<(), StoreError> {
        dispatch!(self, store => store.complete(ids).await)
    }

    /// The attempt failed and may succeed later: the row is due again `after` from now, its
    /// lease released.
    pub(crate) async fn reschedule(
        &self,
        id: i64,
        owner: &str,
        after: Duration,
        error: &str,
    ) -> Result<(), StoreError> {
        dispatch!(self, store => store.reschedule(id, owner, after, error).await)
    }

    /// The row is given up on: kept as a dead letter, with why.
    pub(crate) async fn bury(&self, id: i64, owner: &str, error: &str) -> Result<(), StoreError> {
        dispatch!(self, store => store.bury(id, owner, error).await)
    }

    /// Extends to `lease` from now the lease `owner` holds on each row of `ids`, in one
    /// statement: a relay renews the rows it is sending, so that a long send keeps them; how
    /// many. A row leased to `owner` and not in `ids` (leased by a write whose answer was lost,
    /// say) is left to run out, and then goes again.
    pub(crate) async fn renew(
        &self,
        owner: &str,
        ids: &[i64],
        lease: Duration,
    ) -> Result<u64, StoreError> {
        dispatch!(self, store => store.renew(owner, ids, lease).await)
    }

    /// Releases every lease `owner` holds, so that the rows go again at once.
    pub(crate) async fn release(&self, owner: &str) -> Result<u64, StoreError> {
        dispatch!(self, store => store.release(owner).await)
    }

    /// The dead letters, oldest first, at most `limit`.
    pub(crate) async fn dead_letters(&self, limit: i64) -> Result<Vec<DeadLetter>, StoreError> {
        dispatch!(self, store => store.dead_letters(limit).await)
    }

    /// Checks that the outbox can write to its table: a row written and rolled back.
    pub(crate) async fn probe(&self) -> Result<(), StoreError> {
        dispatch!(self, store => store.probe().await)
    }

    /// Makes every dead letter due again, its attempts reset; how many.
    pub(crate) async fn retry_dead_letters(&self) -> Result<u64, StoreError> {
        dispatch!(self, store => store.retry_dead_letters().await)
    }

    /// Deletes the dead letters given up on at least `older_than` ago; how many.
    pub(crate) async fn purge_dead_letters(&self, older_than: Duration) -> Result<u64, StoreError> {
        dispatch!(self, store => store.purge_dead_letters(older_than).await)
    }

    /// After the relay's deletes: what deleted rows held is cleared from the store's logs
    /// (SQLite's WAL emptied, a checkpoint that holds the writer up while it runs: at most every
    /// 5 s while the relay is sending, within a second once it is idle, at once when it
    /// stops); nothing to do on Postgres.
    pub(crate) async fn after_deletes(&self, relay: Activity) {
        match self {
            #[cfg(feature = "sqlite")]
            Store::Sqlite(store) => store.checkpoint(relay.checkpoint_every()).await,
            #[cfg(feature = "postgres")]
            Store::Postgres(_) => {
                let _ = relay;
            }
        }
    }

    /// Keeps `value` under `key` until `keep_for` from now, replacing what the key held.
    #[cfg(test)]
    pub(crate) async fn remember(
        &self,
        key: &str,
        value: &str,
        keep_for: Duration,
    ) -> Result<(), StoreError> {
        dispatch!(self, store => store.remember(key, value, keep_for).await)
    }

    /// The value kept under `key`, unless it expired.
    #[cfg(test)]
    pub(crate) async fn recall(&self, key: &str) -> Result<Option<String>, StoreError> {
        dispatch!(self, store => store.recall(key).await)
    }

    /// The values kept under each of `keys`, in their order: `None` where a key holds nothing,
    /// or held a fact that expired. One statement, one round trip, however many keys.
    pub(crate) async fn recall_all(
        &self,
        keys: &[String],
    ) -> Result<Vec<Option<String>>, StoreError> {
        if keys.is_empty() {
            return Ok(Vec::new());
        }
        dispatch!(self, store => store.recall_all(keys).await)
    }

    /// Keeps each `(key, value, keep_for)` of `facts` as [`remember`](Self::remember) does, and
    /// links the waiting refunds its aliases name, in one transaction and one round trip: all
    /// of it, or none. A key given twice keeps its last value.
    pub(crate) async fn remember_all(&self, facts: &Facts) -> Result<(), StoreError> {
        if facts.is_empty() {
            return Ok(());
        }
        dispatch!(self, store => store.remember_all(facts).await)
    }

    /// Deletes the expired facts; how many.
    pub(crate) async fn purge_facts(&self) -> Result<u64, StoreError> {
        dispatch!(self, store => store.purge_facts().await)
    }

    /// The dead letters kept.
    pub(crate) async fn dead(&self) -> Result<u64, StoreError> {
        dispatch!(self, store => store.dead().await)
    }

    /// Rows waiting or being sent (not dead).
    pub(crate) async fn waiting(&self) -> Result<u64, StoreError> {
        dispatch!(self, store => store.waiting().await)
    }
}

/// What the relay is doing when it has deleted rows, for [`Store::after_deletes`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Activity {
    /// Rows are being sent: more deletes are coming.
    Sending,
    /// Nothing is being sent.
    Idle,
    /// The relay is stopping: its last deletes are done.
    Stopped,
}

impl Activity {
    /// The least time between two checkpoints of SQLite's WAL after deletes.
    #[cfg(feature = "sqlite")]
    fn checkpoint_every(self) -> Duration {
        match self {
            Self::Sending => Duration::from_secs(5),
            Self::Idle => Duration::from_secs(1),
            Self::Stopped => Duration::ZERO,
        }
    }
}

/// A row written and rolled back when a SQLite outbox opens: the check that it can write, and
/// that the table has this outbox's columns (Postgres's says `now()` for the times).
#[cfg(feature = "sqlite")]
pub(crate) const PROBE: &str = "
INSERT INTO affitor_outbox (endpoint, body, transaction_id, other_transaction_id,
    customer_key, attempts, next_attempt_at, lease_owner, lease_until, dead_at, last_error,
    created_at)
VALUES ('probe', '', NULL, NULL, NULL, 0, 0, NULL, NULL, NULL, NULL, 0)";

/// A duration in whole milliseconds, for SQL arithmetic.
pub(crate) fn millis(duration: Duration) -> i64 {
    i64::try_from(duration.as_millis()).unwrap_or(i64::MAX)
}
