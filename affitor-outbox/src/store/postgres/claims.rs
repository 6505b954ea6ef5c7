//! The relay's writes: its claims, and the rows it settles (deleted, rescheduled, buried) or
//! lets go (its leases renewed or released).

use std::sync::Arc;
use std::time::Duration;

use sqlx::{PgConnection, Row as _};

use super::PostgresStore;
use crate::journal::{Answer, Columns};
use crate::store::{Claimed, ClaimedRow, Customers, millis};

/// Every row a claim may take, oldest first, after `$1` and at most `$2` of them
/// ([`candidate`](crate::store::candidate)'s columns): live, held by no relay (or by one whose
/// lease ran out), and due; a row never tried is due whatever the clock says, so that every
/// unstarted row older than one the claim reads is read too.
const CLAIMABLE: &str = concat!(
    "
SELECT ",
    crate::store::candidate!(" OFFSET 0"),
    "
FROM affitor_outbox o
WHERE o.dead_at IS NULL
  AND (o.lease_until IS NULL OR o.lease_until <= pg_catalog.now())
  AND (o.attempts = 0 OR o.next_attempt_at <= pg_catalog.now())
  AND o.id > $1
ORDER BY o.id
LIMIT $2"
);

/// The unstarted rows, oldest first, after `$1` and at most `$2` of them
/// ([`candidate`](crate::store::candidate)'s columns), through their index: what a claim reads
/// while rows are being sent, without reading past them.
const UNSTARTED: &str = concat!(
    "
SELECT ",
    crate::store::candidate!(" OFFSET 0"),
    "
FROM affitor_outbox o
WHERE o.dead_at IS NULL AND o.lease_until IS NULL AND o.attempts = 0 AND o.id > $1
ORDER BY o.id
LIMIT $2"
);

/// A [`ClaimedRow`]'s columns, as a claim's lease and the journal's search read them: an
/// infinite creation time (another program's; Postgres before 17 cannot subtract it) as a
/// time of no age.
macro_rules! claimed_columns {
    () => {
        "id, endpoint, body, other_transaction_id, attempts::bigint,
    CASE WHEN pg_catalog.isfinite(created_at)
        THEN (extract(epoch FROM pg_catalog.now() - created_at) * 1000)::bigint ELSE 0 END,
    CASE WHEN pg_catalog.isfinite(created_at)
        THEN (extract(epoch FROM created_at) * 1000)::bigint ELSE 0 END,
    last_error IS NOT NULL, click_id_source"
    };
}
pub(super) use claimed_columns;

/// Leases the rows of `$3` to `$1` for `$2` milliseconds, each that no relay took or put off
/// (a retry's backoff) meanwhile: what a claim took. A row another relay is leasing is waited
/// for, then left to it.
///
/// Every lease this store sets runs from `clock_timestamp()`, not `now()`: a transaction that
/// waited for a lock would otherwise set a lease that ended before it committed.
const LEASE: &str = concat!(
    "
UPDATE affitor_outbox
SET lease_owner = $1, lease_until = pg_catalog.clock_timestamp() + $2::float8 * interval '1 millisecond'
WHERE id = ANY($3) AND dead_at IS NULL
  AND (lease_until IS NULL OR lease_until <= pg_catalog.now())
  AND (attempts = 0 OR next_attempt_at <= pg_catalog.now())
RETURNING ",
    claimed_columns!()
);

impl PostgresStore {
    /// Claims up to `limit` rows for `owner`, for `lease`: the rows [`PostgresStore::choose`]
    /// takes, leased. Two relays may choose the same rows from the same snapshot: the lease's
    /// `UPDATE` waits for the other's and leaves them to it.
    pub(crate) async fn claim(
        &self,
        owner: &str,
        lease: Duration,
        limit: i64,
        everything: bool,
    ) -> sqlx::Result<Vec<Claimed>> {
        let taken = self.choose(limit, everything).await?;
        if taken.is_empty() {
            return Ok(Vec::new());
        }
        let rows: Vec<ClaimedRow> = self
            .fetch_all(
                self.query_as(LEASE)
                    .bind(owner)
                    .bind(millis(lease) as f64)
                    .bind(&taken),
            )
            .await?;
        Ok(rows.into_iter().map(Claimed::from_row).collect())
    }

    /// The ids of up to `limit` rows to claim: walks the candidate rows ([`CLAIMABLE`] with
    /// `everything`, else [`UNSTARTED`]) in one snapshot, a page at a time, and takes each that
    /// is free and whose customer no earlier row of the walk has ([`Customers`]). None is taken
    /// whose customer has an older live row in that snapshot, started or not; a dead letter
    /// holds back no one (retried, it goes after what its customer sent meanwhile, as it would
    /// have once dead).
    async fn choose(&self, limit: i64, everything: bool) -> sqlx::Result<Vec<i64>> {
        self.in_snapshot(async |snapshot| self.walk(snapshot, limit, everything).await)
            .await
    }

    /// The walk of [`PostgresStore::choose`], in its snapshot.
    async fn walk(
        &self,
        snapshot: &mut PgConnection,
        limit: i64,
        everything: bool,
    ) -> sqlx::Result<Vec<i64>> {
        let wanted = usize::try_from(limit).unwrap_or(usize::MAX);
        // As many as it may take: a row held back is rare, and the next page reads on.
        let page = limit.max(1);
        let mut taken: Vec<i64> = Vec::new();
        let mut customers = Customers::new();
        let mut after = 0_i64;
        while taken.len() < wanted {
            let rows: Vec<(i64, Option<String>, bool)> = self
                .query_as(if everything { CLAIMABLE } else { UNSTARTED })
                .bind(after)
                .bind(page)
                .fetch_all(&mut *snapshot)
                .await?;
            let read = rows.len();
            for (id, customer, free) in rows {
                after = id;
                if customers.first(customer.as_deref().map(str::as_bytes)) && free {
                    taken.push(id);
                    if taken.len() >= wanted {
                        break;
                    }
                }
            }
            if i64::try_from(read).unwrap_or(i64::MAX) < page {
                break;
            }
        }
        Ok(taken)
    }

    /// Deletes the delivered rows of `ids` that `owner` still leases, and writes the journal's
    /// `answers` of them in the same statement; the ids deleted.
    pub(crate) async fn complete(
        &self,
        owner: &str,
        ids: &[i64],
        answers: Arc<[Answer]>,
    ) -> sqlx::Result<Vec<i64>> {
        if answers.is_empty() {
            let delete = self
                .query_as(
                    "DELETE FROM affitor_outbox WHERE id = ANY($1) AND lease_owner = $2
                     RETURNING id",
                )
                .bind(ids)
                .bind(owner);
            let deleted: Vec<(i64,)> = self.fetch_all(delete).await?;
            return Ok(deleted.into_iter().map(|(id,)| id).collect());
        }
        let columns: Vec<Columns> = answers.iter().map(Answer::columns).collect();
        let complete = self.tables.query(super::journal::COMPLETE);
        let complete = super::journal::bind(complete, &columns)
            .bind(ids)
            .bind(owner);
        let deleted = self
            .transact(async |transaction| complete.fetch_all(transaction).await)
            .await?;
        deleted.iter().map(|row| row.try_get::<i64, _>(0)).collect()
    }

    pub(crate) async fn reschedule(
        &self,
        id: i64,
        owner: &str,
        after: Duration,
        error: &str,
        answers: Vec<Answer>,
    ) -> sqlx::Result<bool> {
        let update = self
            .query(
                "UPDATE affitor_outbox
             SET attempts = attempts + 1,
                 next_attempt_at = pg_catalog.now() + $3::float8 * interval '1 millisecond',
                 last_error = $4, lease_owner = NULL, lease_until = NULL
             WHERE id = $1 AND lease_owner = $2
             RETURNING id",
            )
            .bind(id)
            .bind(owner)
            .bind(millis(after) as f64)
            .bind(error);
        self.keep(update, &answers).await
    }

    pub(crate) async fn bury(
        &self,
        id: i64,
        owner: &str,
        error: &str,
        answers: Vec<Answer>,
    ) -> sqlx::Result<bool> {
        // The delivery's fact goes with the row: the provider's resend is stored again.
        let update = self
            .query(
                "WITH dead AS (
                 UPDATE affitor_outbox
                 SET attempts = attempts + 1, dead_at = pg_catalog.now(), last_error = $3,
                     lease_owner = NULL, lease_until = NULL
                 WHERE id = $1 AND lease_owner = $2
                 RETURNING delivery_key),
             forgotten AS (
                 DELETE FROM affitor_outbox_facts WHERE key IN (SELECT delivery_key FROM dead))
             SELECT 1 FROM dead",
            )
            .bind(id)
            .bind(owner)
            .bind(error);
        self.keep(update, &answers).await
    }

    /// Runs `update`, which keeps a row and returns it, with the journal's `answers` of it in
    /// one transaction: the journal tells of an answer only once its row says so. When it
    /// returns none, the row's lease went to another relay, which settles it: nothing is
    /// written. Whether the row was kept.
    async fn keep(
        &self,
        update: sqlx::query::Query<'_, sqlx::Postgres, sqlx::postgres::PgArguments>,
        answers: &[Answer],
    ) -> sqlx::Result<bool> {
        self.transact(async |transaction| {
            if update.fetch_optional(&mut *transaction).await?.is_none() {
                return Ok(false);
            }
            super::journal::write_answers(transaction, &self.tables, answers).await?;
            Ok(true)
        })
        .await
    }

    /// Extends the leases `owner` holds on the rows of `ids`, but for a row another
    /// transaction has locked (this relay's own delete waiting behind a lock, say): the rest
    /// are never held up behind it. Given up at a third of the lease, as the relay gives a
    /// renewal up at the next.
    pub(crate) async fn renew(
        &self,
        owner: &str,
        ids: &[i64],
        lease: Duration,
    ) -> sqlx::Result<Vec<i64>> {
        let renew = self
            .query_as::<(i64,)>(
                "UPDATE affitor_outbox
             SET lease_until = pg_catalog.clock_timestamp() + $2::float8 * interval '1 millisecond'
             WHERE id IN (SELECT id FROM affitor_outbox
                          WHERE lease_owner = $1 AND dead_at IS NULL AND id = ANY($3)
                          FOR NO KEY UPDATE SKIP LOCKED)
             RETURNING id",
            )
            .bind(owner)
            .bind(millis(lease) as f64)
            .bind(ids);
        let renewed = self
            .transact_within(lease / 3, async |transaction| {
                renew.fetch_all(transaction).await
            })
            .await?;
        Ok(renewed.into_iter().map(|(id,)| id).collect())
    }

    /// Releases the leases `owner` holds on the rows of `ids`: the rows of a batch written for
    /// a relay that stopped meanwhile.
    pub(crate) async fn release_rows(&self, owner: &str, ids: &[i64]) -> sqlx::Result<u64> {
        self.execute(
            self.query(
                "UPDATE affitor_outbox SET lease_owner = NULL, lease_until = NULL
             WHERE lease_owner = $1 AND id = ANY($2)",
            )
            .bind(owner)
            .bind(ids),
        )
        .await
    }

    pub(crate) async fn release(&self, owner: &str) -> sqlx::Result<u64> {
        self.execute(
            self.query(
                "UPDATE affitor_outbox SET lease_owner = NULL, lease_until = NULL
             WHERE lease_owner = $1",
            )
            .bind(owner),
        )
        .await
    }
}
