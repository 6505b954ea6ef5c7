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
    Claimed, ClaimedRow, Facts, Inserted, LINKED_REFUND_DUE, Lease, NewRow, Unjournaled,
    UnjournaledRow, Unreadable,
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

    /// The API answered: the rows are done, and deleted, and the journal's `answers` written
    /// in the same transaction (none when it is off). Shared, not copied: the relay keeps them
    /// for a delete that fails.
    pub(crate) async fn complete(
        &self,
        ids: &[i64],
        answers: Arc<[crate::journal::Answer]>,
    ) -> Result<(), StoreError> {
        dispatch!(self, store => store.complete(ids, answers).await)
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

    /// The dead letters, oldest first.
    pub(crate) async fn dead_letters(&self) -> Result<Vec<DeadLetter>, StoreError> {
        dispatch!(self, store => store.dead_letters().await)
    }

    /// Writes `row` alone, in a transaction of its own, on a connection the store keeps for
    /// its other calls: once the writer has ended (`shutdown`), what is enqueued still goes
    /// to the store, and no task is started for it.
    pub(crate) async fn insert_alone(&self, row: NewRow) -> Result<(), StoreError> {
        dispatch!(self, store => store.insert_alone(row).await)
    }

    /// Checks that the outbox can write to its table: a row written and rolled back.
    pub(crate) async fn probe(&self) -> Result<(), StoreError> {
        dispatch!(self, store => store.probe().await)
    }

    /// Makes every dead letter due again, its attempts reset (its last error stays until its
    /// next answer); how many.
    pub(crate) async fn retry_dead_letters(&self) -> Result<u64, StoreError> {
        dispatch!(self, store => store.retry_dead_letters().await)
    }

    /// Makes the dead letter `id` due again, its attempts reset (its last error stays until
    /// its next answer: the journal knows it answered); whether it was one.
    pub(crate) async fn retry_dead_letter(&self, id: i64) -> Result<bool, StoreError> {
        dispatch!(self, store => store.retry_dead_letter(id).await)
    }

    /// The rows waiting, in flight and dead, and the oldest waiting row's age.
    pub(crate) async fn backlog(&self) -> Result<crate::stats::Backlog, StoreError> {
        dispatch!(self, store => store.backlog().await)
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

    /// Writes the journal's `entries` (of no outbox row: a client's own sends) in a
    /// transaction of their own.
    pub(crate) async fn write_journal(
        &self,
        entries: Vec<crate::journal::JournalEntry>,
    ) -> Result<(), StoreError> {
        dispatch!(self, store => store.write_journal(entries).await)
    }

    /// Writes the journal's `answers` to rows the relay keeps (retried, buried), in a
    /// transaction of their own.
    pub(crate) async fn write_answers(
        &self,
        answers: Vec<crate::journal::Answer>,
    ) -> Result<(), StoreError> {
        dispatch!(self, store => store.write_answers(answers).await)
    }

    /// The journal's entries naming any of `keys`, and the answers to their events; with what
    /// the table tells of each outbox row of theirs the journal holds no entry of: its storing
    /// (the relay journals it with the row's first answer), and for a row answered before the
    /// journal was turned on, its last answer.
    pub(crate) async fn journal(
        &self,
        keys: &crate::journal::Keys,
    ) -> Result<crate::journal::Found, StoreError> {
        let mut found = dispatch!(self, store => store.journal(keys).await)?;
        let unjournaled = dispatch!(self, store => store.unjournaled(keys).await)?;
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

    /// When the journal's first entry still kept was written (entries are appended in time
    /// order), in Unix milliseconds, but for the entries of rows still in the outbox, which the
    /// purge keeps past the retention (a dead letter's); `None` when it holds no other.
    pub(crate) async fn journal_since(&self) -> Result<Option<i64>, StoreError> {
        dispatch!(self, store => store.journal_since().await)
    }

    /// Deletes the journal's entries written at least `older_than` ago; how many.
    pub(crate) async fn purge_journal(&self, older_than: Duration) -> Result<u64, StoreError> {
        dispatch!(self, store => store.purge_journal(older_than).await)
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
