//! Where the events wait: one table, `affitor_outbox`, in SQLite or in Postgres.
//!
//! Both stores keep the same rows (`rows.rs`) and answer the same questions, each batch in one
//! transaction, under the same order (`rules.rs`), so the relay knows nothing of the database
//! behind it: [`Store`] hands each question to the store it is. Each store has the same rooms,
//! listed in ARCHITECTURE.md; `tests.rs` holds what both promise, one body run on each.

mod error;
#[cfg(feature = "postgres")]
pub(crate) mod postgres;
mod rows;
mod rules;
#[cfg(feature = "sqlite")]
pub(crate) mod sqlite;
#[cfg(test)]
mod tests;

pub(crate) use error::StoreError;
pub use rows::DeadLetter;
pub(crate) use rows::{
    AWAITING_SALE, Claimed, ClaimedRow, Facts, Inserted, LINKED_REFUND_DUE, Lease, NewRow,
    Unjournaled, UnjournaledRow, Unreadable,
};
pub(crate) use rules::{Customers, candidate, transaction_free, transaction_order};

use std::sync::Arc;
use std::time::Duration;

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

/// Methods of [`Store`] that hand their call, as it is, to the store it is.
macro_rules! forward {
    ($($(#[$doc:meta])* fn $name:ident($($arg:ident: $ty:ty),*) -> $out:ty;)*) => {$(
        $(#[$doc])*
        pub(crate) async fn $name(&self, $($arg: $ty),*) -> Result<$out, StoreError> {
            dispatch!(self, store => store.$name($($arg),*).await)
        }
    )*};
}

impl Store {
    /// The schema of the outbox's Postgres tables, quoted; `None` on SQLite.
    pub(crate) fn postgres_schema(&self) -> Option<&str> {
        match self {
            #[cfg(feature = "postgres")]
            Self::Postgres(store) => Some(store.schema()),
            #[cfg(feature = "sqlite")]
            Self::Sqlite(_) => None,
        }
    }

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

    forward! {
        /// The API answered: the rows are done, and deleted, with the journal's `answers` in
        /// the same transaction (shared, the relay keeps them for a delete that fails); the
        /// ids deleted. A row `owner` no longer leases is another relay's: left, its answer
        /// unwritten (the answers of rows not in `ids`, deleted before, are written).
        fn complete(owner: &str, ids: &[i64], answers: Arc<[crate::journal::Answer]>) -> Vec<i64>;
        /// The attempt failed: due again `after` from now, its lease released; with the
        /// journal's `answers` of it in the same transaction (the journal tells of an answer
        /// only once its row says so). `false`, and nothing written, when `owner` no longer
        /// holds the row: its lease ran out and another relay took it.
        fn reschedule(id: i64, owner: &str, after: Duration, error: &str,
            answers: Vec<crate::journal::Answer>) -> bool;
        /// Puts the refund `id`, leased by `owner` and with no other id, under the sale its
        /// alias fact `key` names ([`Facts::aliases`]), when that is kept: the refund was
        /// written as the fact came, and neither saw the other. The sale's id, if it did.
        fn link_refund(id: i64, owner: &str, key: &str) -> Option<String>;
        /// Given up on: kept as a dead letter, with why. With the journal's `answers`, in one
        /// transaction, and `false` for a row `owner` no longer holds, as for `reschedule`.
        fn bury(id: i64, owner: &str, error: &str, answers: Vec<crate::journal::Answer>) -> bool;
        /// Extends to `lease` from now `owner`'s lease on each row of `ids`, in one statement;
        /// the ids of those it extended. A row of `owner`'s not in `ids` is left to run out,
        /// and goes again.
        fn renew(owner: &str, ids: &[i64], lease: Duration) -> Vec<i64>;
        /// Releases every lease `owner` holds, so that the rows go again at once.
        fn release(owner: &str) -> u64;
        /// The dead letters, oldest first.
        fn dead_letters() -> Vec<DeadLetter>;
        /// Writes `row` alone, in a transaction of its own, on a connection the store keeps for
        /// its other calls (the writer has ended).
        fn insert_alone(row: NewRow) -> ();
        /// Checks that the outbox can write to its table: a row written and rolled back.
        fn probe() -> ();
        /// Makes every dead letter due again, its attempts reset; how many.
        fn retry_dead_letters() -> u64;
        /// Makes the dead letter `id` due again, its attempts reset; whether it was one.
        fn retry_dead_letter(id: i64) -> bool;
        /// Whether a lead of `customer` is a dead letter.
        fn dead_lead(customer: &str) -> bool;
        /// The rows waiting, in flight and dead, and the oldest waiting row's age.
        fn backlog() -> crate::stats::Backlog;
        /// Deletes the dead letters given up on at least `older_than` ago; how many.
        fn purge_dead_letters(older_than: Duration) -> u64;
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

    /// Keeps each `(key, value, keep_for)` of `facts` (`value` under `key` until `keep_for`
    /// from now, replacing what the key held), and links the waiting refunds its aliases name,
    /// in one transaction and one round trip: all of it, or none. A key given twice keeps its
    /// last value.
    pub(crate) async fn remember_all(&self, facts: &Facts) -> Result<(), StoreError> {
        if facts.is_empty() {
            return Ok(());
        }
        dispatch!(self, store => store.remember_all(facts).await)
    }

    forward! {
        /// Writes the journal's `entries` (a client's own sends) in a transaction of their own.
        fn write_journal(entries: Vec<crate::journal::JournalEntry>) -> ();
        /// Writes the journal's `answers` to rows the relay keeps, in a transaction of their own.
        fn write_answers(answers: Vec<crate::journal::Answer>) -> ();
    }

    /// The journal's entries naming any of `keys`, and the answers to their events; with what
    /// the table tells of each outbox row of theirs the journal holds no entry of: its storing
    /// (the relay journals it with the row's first answer), and for a row answered before the
    /// journal was turned on, its last answer; and of each dead letter retried since the
    /// journal's last entry of it, that it goes again. Both read in one snapshot: a row deleted
    /// meanwhile, its answer journaled with its delete, is told by one or the other.
    pub(crate) async fn journal(
        &self,
        keys: &crate::journal::Keys,
    ) -> Result<crate::journal::Found, StoreError> {
        let (mut found, unjournaled) = dispatch!(self, store => store.journal(keys).await)?;
        found.truncated |= unjournaled.len() >= crate::journal::search_limit!();
        for row in &unjournaled {
            if let Ok(event) = &row.row.event
                && keys.name(event)
            {
                found
                    .entries
                    .extend(crate::journal::JournalEntry::unjournaled(row, event));
            }
        }
        Ok(found)
    }

    forward! {
        /// Deletes the journal's entries written at least `older_than` ago; how many.
        fn purge_journal(older_than: Duration) -> u64;
        /// Deletes the expired facts; how many.
        fn purge_facts() -> u64;
        /// Rows waiting or being sent (not dead).
        fn waiting() -> u64;
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

/// The process's clock in Unix milliseconds: the times of the SQLite store's rows, and of the
/// journal's entries in either store.
pub(crate) fn now_millis() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, millis)
}

/// A duration in whole milliseconds, for SQL arithmetic.
pub(crate) fn millis(duration: Duration) -> i64 {
    i64::try_from(duration.as_millis()).unwrap_or(i64::MAX)
}
