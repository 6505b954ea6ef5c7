//! The relay's writes: its claims, and the rows it settles (deleted, rescheduled, buried) or
//! lets go (its leases renewed or released). Each runs on the writer's thread
//! ([`SqliteStore::on_writer`]).

use std::sync::Arc;
use std::time::Duration;

use super::{SqliteStore, SqliteWriter, json_ids, now_millis};
use crate::journal::Answer;
use crate::store::{Claimed, ClaimedRow, StoreError, millis};

/// A leased row as read: its columns, or, for one that cannot be read (text that is not
/// UTF-8), its id and why, set aside as corrupt rather than failing the claim of every row.
type Leased = Result<ClaimedRow, (i64, String)>;

/// Every row a claim may take (`?1` the time), oldest first ([`candidate`](crate::store::candidate)'s columns): live,
/// held by no relay (or by one whose lease ran out), and due; a row never tried is due
/// whatever the clock says, so that every unstarted row older than one the claim reads is read
/// too.
const CLAIMABLE: &str = concat!(
    "
SELECT ",
    crate::store::candidate!(""),
    "
FROM affitor_outbox o
WHERE o.dead_at IS NULL
  AND (o.lease_until IS NULL OR o.lease_until <= ?1)
  AND (o.attempts = 0 OR o.next_attempt_at <= ?1)
ORDER BY o.id"
);

/// The unstarted rows, oldest first ([`candidate`](crate::store::candidate)'s columns), through their index: what a
/// claim reads while rows are being sent, without reading past them.
const UNSTARTED: &str = concat!(
    "
SELECT ",
    crate::store::candidate!(""),
    "
FROM affitor_outbox o INDEXED BY affitor_outbox_unstarted
WHERE o.dead_at IS NULL AND o.lease_until IS NULL AND o.attempts = 0
ORDER BY o.id"
);

/// A [`ClaimedRow`]'s columns, `$now` the parameter of the time, as a claim's lease and the
/// journal's search read them: each cast to the type the outbox writes, as SQLite keeps
/// whatever another program wrote (a body as a blob, a time as a real), so that such a row
/// still reads.
macro_rules! claimed_columns {
    ($now:literal) => {
        concat!(
            "id, CAST(endpoint AS TEXT), CAST(body AS TEXT), CAST(other_transaction_id AS TEXT),
    CAST(attempts AS INTEGER), CAST(",
            $now,
            " - CAST(created_at AS INTEGER) AS INTEGER), CAST(created_at AS INTEGER),
    last_error IS NOT NULL, CAST(click_id_source AS TEXT)"
        )
    };
}
pub(super) use claimed_columns;

/// Leases the rows of `?4` (a JSON array of ids, [`json_ids`]) to `?1` until `?2`, `?3` the
/// time: what a claim took.
const LEASE: &str = concat!(
    "
UPDATE affitor_outbox SET lease_owner = ?1, lease_until = ?2
WHERE id IN (SELECT value FROM json_each(?4))
RETURNING ",
    claimed_columns!("?3")
);

impl SqliteStore {
    pub(crate) async fn claim(
        &self,
        owner: &str,
        lease: Duration,
        limit: i64,
        everything: bool,
    ) -> Result<Vec<Claimed>, StoreError> {
        let owner = owner.to_owned();
        let rows = self
            .on_writer(move |writer| writer.claim(&owner, lease, limit, everything))
            .await?;
        // Read here, not on the writer's thread: each row's event is parsed from its JSON.
        Ok(rows
            .into_iter()
            .map(|row| row.map_or_else(|(id, why)| Claimed::unreadable(id, why), Claimed::from_row))
            .collect())
    }

    /// Deletes the rows of `ids` that `owner` still leases, delivered, with the journal's
    /// `answers` of them (and those of rows deleted before, which a refused write left for
    /// this one); the ids deleted. The WAL keeps what they held until the relay's next
    /// checkpoint ([`SqliteStore::checkpoint`]).
    pub(crate) async fn complete(
        &self,
        owner: &str,
        ids: &[i64],
        answers: Arc<[Answer]>,
    ) -> Result<Vec<i64>, StoreError> {
        let (owner, asked, ids) = (owner.to_owned(), ids.to_vec(), json_ids(ids));
        let deleted = self
            .on_writer(move |writer| {
                let transaction = writer.connection.transaction()?;
                let deleted: Vec<i64> = transaction
                    .prepare_cached(
                        "DELETE FROM affitor_outbox
                         WHERE id IN (SELECT value FROM json_each(?1)) AND lease_owner = ?2
                         RETURNING id",
                    )?
                    .query_map(rusqlite::params![ids, owner], |row| row.get(0))?
                    .collect::<rusqlite::Result<_>>()?;
                // What is left of the rows asked, another relay's, when there are answers.
                let taken: Vec<i64> = if answers.is_empty() {
                    Vec::new()
                } else {
                    transaction
                        .prepare_cached(
                            "SELECT id FROM affitor_outbox
                             WHERE id IN (SELECT value FROM json_each(?1))",
                        )?
                        .query_map([ids], |row| row.get(0))?
                        .collect::<rusqlite::Result<_>>()?
                };
                let answers = Answer::of_deleted(&answers, &asked, &deleted, &taken);
                super::journal::write_answers(&transaction, &answers)?;
                transaction.commit().map(|()| deleted)
            })
            .await?;
        self.logs.deleted();
        Ok(deleted)
    }

    pub(crate) async fn reschedule(
        &self,
        id: i64,
        owner: &str,
        after: Duration,
        error: &str,
        answers: Vec<Answer>,
    ) -> Result<bool, StoreError> {
        let (owner, error) = (owner.to_owned(), error.to_owned());
        self.on_writer(move |writer| {
            let transaction = writer.connection.transaction()?;
            let kept = transaction
                .prepare_cached(
                    "UPDATE affitor_outbox
                     SET attempts = attempts + 1, next_attempt_at = ?3, last_error = ?4,
                         lease_owner = NULL, lease_until = NULL
                     WHERE id = ?1 AND lease_owner = ?2",
                )?
                .execute(rusqlite::params![
                    id,
                    owner,
                    now_millis().saturating_add(millis(after)),
                    error
                ])?;
            kept_with(transaction, kept, &answers)
        })
        .await
    }

    pub(crate) async fn bury(
        &self,
        id: i64,
        owner: &str,
        error: &str,
        answers: Vec<Answer>,
    ) -> Result<bool, StoreError> {
        let (owner, error) = (owner.to_owned(), error.to_owned());
        self.on_writer(move |writer| {
            let transaction = writer.connection.transaction()?;
            // The delivery's fact goes with the row: the provider's resend is stored again.
            transaction
                .prepare_cached(
                    "DELETE FROM affitor_outbox_facts WHERE key = (
                         SELECT delivery_key FROM affitor_outbox
                         WHERE id = ?1 AND lease_owner = ?2)",
                )?
                .execute(rusqlite::params![id, owner])?;
            let kept = transaction
                .prepare_cached(
                    "UPDATE affitor_outbox
                     SET attempts = attempts + 1, dead_at = ?3, last_error = ?4,
                         lease_owner = NULL, lease_until = NULL
                     WHERE id = ?1 AND lease_owner = ?2",
                )?
                .execute(rusqlite::params![id, owner, now_millis(), error])?;
            kept_with(transaction, kept, &answers)
        })
        .await
    }

    pub(crate) async fn renew(
        &self,
        owner: &str,
        ids: &[i64],
        lease: Duration,
    ) -> Result<Vec<i64>, StoreError> {
        let (owner, ids) = (owner.to_owned(), json_ids(ids));
        self.on_writer(move |writer| {
            writer
                .connection
                .prepare_cached(
                    "UPDATE affitor_outbox SET lease_until = ?2
                     WHERE lease_owner = ?1 AND dead_at IS NULL
                       AND id IN (SELECT value FROM json_each(?3))
                     RETURNING id",
                )?
                .query_map(
                    rusqlite::params![owner, now_millis().saturating_add(millis(lease)), ids],
                    |row| row.get(0),
                )?
                .collect()
        })
        .await
    }

    pub(crate) async fn release(&self, owner: &str) -> Result<u64, StoreError> {
        let owner = owner.to_owned();
        let released = self
            .on_writer(move |writer| {
                writer
                    .connection
                    .prepare_cached(
                        "UPDATE affitor_outbox SET lease_owner = NULL, lease_until = NULL
                         WHERE lease_owner = ?1",
                    )?
                    .execute([owner])
            })
            .await?;
        Ok(u64::try_from(released).unwrap_or(0))
    }
}

/// Commits `transaction`, which kept a row when it changed one (`kept`), with the journal's
/// `answers` of it; when it changed none, the row's lease went to another relay, which settles
/// it: nothing is written. Whether the row was kept.
fn kept_with(
    transaction: rusqlite::Transaction<'_>,
    kept: usize,
    answers: &[Answer],
) -> rusqlite::Result<bool> {
    if kept == 0 {
        return Ok(false);
    }
    super::journal::write_answers(&transaction, answers)?;
    transaction.commit().map(|()| true)
}

impl SqliteWriter {
    /// Claims for `owner`, for `lease`, up to `limit` rows, in one transaction: each that is
    /// free and whose customer no earlier row read has (see [`candidate`](crate::store::candidate)). With `everything`,
    /// of every row a claim may take ([`CLAIMABLE`]); otherwise of the unstarted ones alone
    /// ([`UNSTARTED`]), read through their index rather than past the rows being sent: a
    /// started row (a retry due, a lease run out) waits for the next claim of everything, and
    /// still holds back its customer's later rows. The rows as they are stored: the caller
    /// reads their events.
    fn claim(
        &mut self,
        owner: &str,
        lease: Duration,
        limit: i64,
        everything: bool,
    ) -> rusqlite::Result<Vec<Leased>> {
        let now = now_millis();
        let limit = usize::try_from(limit).unwrap_or(0);
        let transaction = self
            .connection
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        let mut taken = Vec::new();
        {
            let mut customers = crate::store::Customers::new();
            let mut candidates =
                transaction.prepare_cached(if everything { CLAIMABLE } else { UNSTARTED })?;
            let mut rows = if everything {
                candidates.query([now])?
            } else {
                candidates.query([])?
            };
            while taken.len() < limit
                && let Some(row) = rows.next()?
            {
                let first_of_customer = customers.first(row.get_ref(1)?.as_bytes_or_null()?);
                if first_of_customer && row.get::<_, bool>(2)? {
                    taken.push(row.get::<_, i64>(0)?);
                }
            }
        }
        let claimed = if taken.is_empty() {
            Vec::new()
        } else {
            let mut lease_them = transaction.prepare_cached(LEASE)?;
            let mut rows = lease_them.query(rusqlite::params![
                owner,
                now.saturating_add(millis(lease)),
                now,
                json_ids(&taken)
            ])?;
            let mut leased = Vec::new();
            while let Some(row) = rows.next()? {
                let id = row.get::<_, i64>(0)?;
                leased.push(ClaimedRow::try_from(row).map_err(|error| (id, error.to_string())));
            }
            leased
        };
        transaction.commit()?;
        Ok(claimed)
    }

    /// Releases the leases `owner` holds on the rows of `ids`, on the writer's thread (the
    /// rows of a batch written for a relay that stopped meanwhile).
    pub(crate) fn release_rows(&mut self, owner: &str, ids: &[i64]) -> rusqlite::Result<usize> {
        self.connection
            .prepare_cached(
                "UPDATE affitor_outbox SET lease_owner = NULL, lease_until = NULL
                 WHERE lease_owner = ?1 AND id IN (SELECT value FROM json_each(?2))",
            )?
            .execute(rusqlite::params![owner, json_ids(ids)])
    }
}
