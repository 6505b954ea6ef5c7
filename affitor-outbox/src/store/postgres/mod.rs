//! The store for a fleet of servers: a Postgres table shared by every relay.
//!
//! Times are the database's clock (`now()`), so the servers' clocks never disagree about a
//! lease. A claim reads its candidates in one snapshot, then leases them with an `UPDATE` that
//! takes only rows no lease holds: two relays that pick the same row wait for each other there,
//! and only the first takes it. The rows of a relay that crashed go again once its lease ends.

use std::time::Duration;

use sqlx::Connection as _;
use sqlx::PgConnection;
use sqlx::postgres::PgPool;

pub(crate) mod schema;
pub(crate) mod tls;

use super::{Claimed, DeadLetter, Facts, Inserted, Lease, NewRow, millis};
use crate::config::Config;

const INSERT: &str = "
INSERT INTO affitor_outbox (endpoint, body, transaction_id, other_transaction_id, customer_key)
VALUES ($1, $2, $3, $4, $5)";

/// Rows written together, none of them offered to the relay (the relay has no free send slot,
/// or none runs here), as five arrays of one length, in the arrays' order: a plain insert, with
/// nothing to look up and nothing to return.
const INSERT_UNOFFERED: &str = "
INSERT INTO affitor_outbox (endpoint, body, transaction_id, other_transaction_id, customer_key)
SELECT endpoint, body, transaction_id, other_transaction_id, customer_key
FROM UNNEST($1::text[], $2::text[], $3::text[], $4::text[], $5::text[]) WITH ORDINALITY
    AS b (endpoint, body, transaction_id, other_transaction_id, customer_key, n)
ORDER BY n";

/// The customer's half of the condition under which an offered row `b` is leased as it is
/// written (the other half is [`transaction_free`](super::transaction_free)): none of the
/// customer's rows is live, started or not: one lookup by key in
/// `affitor_outbox_live_by_customer` (schema version 2).
///
/// Version 1 had no index of the unstarted rows by customer, and asked instead whether any
/// unstarted row existed at all: the first live entry of `affitor_outbox_unstarted` answered.
/// But the entries of rows claimed or deleted stay in an index until no snapshot can see their
/// rows, and while any session of the database held an old one (a long query, a backup, a
/// transaction left open), that walk visited every such entry at every batch: 104,509 of them,
/// 27 ms, after a few minutes of signups, and the writes fell from thousands of rows a second to
/// a few hundred. A lookup by key visits the customer's own entries alone.
///
/// It asks for any live row, not for started and unstarted ones apart: no other index's
/// condition follows from this one's, so the planner has no other index to walk. Asked apart,
/// the unstarted half matched `affitor_outbox_unstarted` too, and the planner, its statistics
/// saying that index was small, walked it whole for each row (28,802 entries a row, a second a
/// batch, in a run where a snapshot was held).
macro_rules! customer_free {
    () => {
        "(b.customer_key IS NULL OR NOT EXISTS (
             SELECT 1 FROM affitor_outbox e
             WHERE e.customer_key = b.customer_key AND e.dead_at IS NULL OFFSET 0))"
    };
}

/// `customer_free!` as schema version 1 can answer it, without the index of the live rows by
/// customer: none of the customer's rows has started, and no row at all waits
/// unstarted (the first live entry of `affitor_outbox_unstarted` answers). Used only until
/// version 2's index is built.
macro_rules! customer_free_v1 {
    () => {
        "(b.customer_key IS NULL OR (NOT EXISTS (
             SELECT 1 FROM affitor_outbox e
             WHERE e.customer_key = b.customer_key AND e.dead_at IS NULL
               AND (e.lease_until IS NOT NULL OR e.attempts > 0) OFFSET 0)
           AND NOT EXISTS (
             SELECT 1 FROM affitor_outbox e
             WHERE e.dead_at IS NULL AND e.lease_until IS NULL AND e.attempts = 0 OFFSET 0)))"
    };
}

/// The text of `INSERT_BATCH`, its customer's condition `$customer_free`.
macro_rules! insert_batch {
    ($customer_free:expr) => {
        concat!(
            "
INSERT INTO affitor_outbox (endpoint, body, transaction_id, other_transaction_id, customer_key,
    lease_owner, lease_until)
SELECT endpoint, body, transaction_id, other_transaction_id, customer_key,
    CASE WHEN leased THEN $7::text END,
    CASE WHEN leased THEN now() + $8::float8 * interval '1 millisecond' END
FROM (
    SELECT b.*, $7::text IS NOT NULL AND b.offered AND ",
            super::transaction_free!(" OFFSET 0"),
            "
         AND ",
            $customer_free,
            " AS leased
    FROM UNNEST($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::bool[])
        WITH ORDINALITY
        AS b (endpoint, body, transaction_id, other_transaction_id, customer_key, offered, n)
    OFFSET 0
) batch
ORDER BY n
RETURNING id, lease_owner IS NOT NULL"
        )
    };
}

/// Rows written together, as six arrays of one length, in the arrays' order (their ids
/// follow it: the relay sends a customer's rows in id order); `$7` and `$8` the lease (owner,
/// milliseconds) an offered row takes when nothing precedes it (NULL: none). The statement's
/// snapshot is taken before it inserts, so a row of the batch never sees another: the writer
/// offers no row that shares a key with an earlier one of its batch.
///
/// A row is leased only when no live row of its transaction or its customer exists: each a
/// lookup by key ([`transaction_free`](super::transaction_free), `customer_free`), never a
/// walk from an index's head, whose cost would grow with the entries that a long-held snapshot
/// keeps in the table. Each row's `leased` is worked out once: `OFFSET 0` keeps the planner
/// from pulling the `batch` subquery up into the `INSERT`, where each of the two `CASE`s that
/// read `leased` got a copy of its lookups.
const INSERT_BATCH: &str = insert_batch!(customer_free!());

/// [`INSERT_BATCH`] on a schema without version 2's index (until its build ends).
const INSERT_BATCH_V1: &str = insert_batch!(customer_free_v1!());

/// Every row a claim may take, oldest first, after `$1` and at most `$2` of them
/// ([`candidate`](super::candidate)'s columns): live, held by no relay (or by one whose lease
/// ran out), and due; a row never tried is due whatever the clock says, so that every unstarted
/// row older than one the claim reads is read too.
const CLAIMABLE: &str = concat!(
    "
SELECT ",
    super::candidate!(" OFFSET 0"),
    "
FROM affitor_outbox o
WHERE o.dead_at IS NULL
  AND (o.lease_until IS NULL OR o.lease_until <= now())
  AND (o.attempts = 0 OR o.next_attempt_at <= now())
  AND o.id > $1
ORDER BY o.id
LIMIT $2"
);

/// The unstarted rows, oldest first, after `$1` and at most `$2` of them
/// ([`candidate`](super::candidate)'s columns), through their index: what a claim reads while
/// rows are being sent, without reading past them.
const UNSTARTED: &str = concat!(
    "
SELECT ",
    super::candidate!(" OFFSET 0"),
    "
FROM affitor_outbox o
WHERE o.dead_at IS NULL AND o.lease_until IS NULL AND o.attempts = 0 AND o.id > $1
ORDER BY o.id
LIMIT $2"
);

/// Leases the rows of `$3` to `$1` for `$2` milliseconds, each that no relay took meanwhile:
/// what a claim took. A row another relay is leasing is waited for, then left to it.
const LEASE: &str = "
UPDATE affitor_outbox
SET lease_owner = $1, lease_until = now() + $2::float8 * interval '1 millisecond'
WHERE id = ANY($3) AND dead_at IS NULL AND (lease_until IS NULL OR lease_until <= now())
RETURNING id, endpoint, body, other_transaction_id, attempts::bigint,
    (extract(epoch FROM now() - created_at) * 1000)::bigint";

/// The `affitor_outbox` table in a Postgres database.
#[derive(Debug)]
pub(crate) struct PostgresStore {
    pool: PgPool,
    /// The writer's own connection ([`PostgresStore::insert_batch`]), taken out of the pool so
    /// that it never waits for the pool's turns nor holds one of its connections: `None` until
    /// the first batch, and after an error, until the next batch opens another.
    writer: tokio::sync::Mutex<Option<WriterConnection>>,
    /// How long the server lets a batch's statement run before it cancels it.
    statement_timeout: Duration,
    /// Whether version 2's index is there: which statement writes a batch.
    customer_index: schema::CustomerIndex,
}

/// The writer's connection, whether its session waits for the WAL flush (`None`: the server's
/// default, not known), and when it last answered.
#[derive(Debug)]
struct WriterConnection {
    connection: PgConnection,
    synchronous: Option<bool>,
    answered: tokio::time::Instant,
}

/// How long the writer's connection may sit idle before a batch checks that it still answers:
/// a connection a firewall or the server dropped while idle is replaced before a batch is sent
/// on it, rather than the batch waiting for TCP to give up.
const IDLE_CHECK: Duration = Duration::from_secs(5);

impl PostgresStore {
    /// Uses `pool`, once its schema is current ([`schema::prepare`]): brought up to date
    /// when `config` lets the outbox migrate it.
    pub(crate) async fn open(pool: PgPool, config: &Config) -> Result<Self, schema::SchemaError> {
        let customer_index = schema::prepare(&pool, config.migrate)
            .await
            .map_err(|error| match error {
                schema::SchemaError::Database(error) => {
                    schema::SchemaError::Database(tls::explain(error, &pool.connect_options()))
                }
                behind => behind,
            })?;
        Ok(Self {
            pool,
            writer: tokio::sync::Mutex::new(None),
            statement_timeout: config.enqueue_timeout,
            customer_index,
        })
    }

    /// A connection for the writer, out of the pool: its batches are cancelled (and rolled
    /// back) by the server past the statement timeout.
    ///
    /// The session runs one statement, and plans it for each batch (`force_custom_plan`): a
    /// generic plan, made once after five runs and often while the table is nearly empty, took
    /// a full scan of another index as cheap as the lookup of each new row's key, and grew with
    /// the table (batches of 7 to 10 ms instead of 0.3 under load, in one run of two). A plan
    /// for each batch costs a fraction of a millisecond of the server's time, and follows the
    /// table as it grows.
    async fn connect_writer(&self) -> sqlx::Result<WriterConnection> {
        let mut connection = self.pool.acquire().await?.detach();
        sqlx::query("SELECT set_config('statement_timeout', $1, false)")
            .bind(millis(self.statement_timeout).max(1).to_string())
            .execute(&mut connection)
            .await?;
        // Postgres 12 and later; on an older server the batches keep the generic plan.
        if let Err(error) = sqlx::query("SET plan_cache_mode = force_custom_plan")
            .execute(&mut connection)
            .await
        {
            tracing::debug!(%error, "Affitor outbox: plan_cache_mode not set (Postgres before 12)");
        }
        Ok(WriterConnection {
            connection,
            synchronous: None,
            answered: tokio::time::Instant::now(),
        })
    }

    /// Writes `rows` in one statement, its own transaction, in their order, on the writer's
    /// connection, and answers how each was written (none, when none was offered to the
    /// relay); gives up at `give_up_at` only before the statement is sent
    /// ([`sqlx::Error::PoolTimedOut`]: none of the rows is in the table). Once it is, its end is
    /// waited for: the server cancels it past the statement timeout (the enqueue timeout), and
    /// an error means it was rolled back.
    ///
    /// A batch without money (leads, clicks) is committed with `synchronous_commit = off`, as
    /// SQLite's are with `synchronous=NORMAL`: it survives the app's crash (the server has it),
    /// and the server's own crash may lose its last fraction of a second of such batches; a
    /// batch with a sale or a refund waits for the server's WAL flush. The session is switched
    /// only when a batch's kind differs from the last one's.
    pub(crate) async fn insert_batch(
        &self,
        rows: &[&NewRow],
        lease: Option<Lease<'_>>,
        give_up_at: tokio::time::Instant,
    ) -> sqlx::Result<Vec<Inserted>> {
        let column = |field: fn(&NewRow) -> Option<&str>| -> Vec<Option<&str>> {
            rows.iter().map(|row| field(row)).collect()
        };
        let endpoints = column(|row| Some(row.endpoint));
        let bodies = column(|row| Some(&row.body));
        let transaction_ids = column(|row| row.transaction_id.as_deref());
        let other_transaction_ids = column(|row| row.other_transaction_id.as_deref());
        let customer_keys = column(|row| row.customer_key.as_deref());
        let offered: Vec<bool> = rows.iter().map(|row| row.offered).collect();
        let money = rows.iter().any(|row| row.is_money());
        let timed_out = |_| sqlx::Error::PoolTimedOut;
        let mut slot = tokio::time::timeout_at(give_up_at, self.writer.lock())
            .await
            .map_err(timed_out)?;
        // Taken for the batch: an error leaves the slot empty, and the connection is closed.
        // One idle for a while is checked first (nothing of the batch is sent yet), and
        // replaced when it does not answer.
        let idle = slot
            .as_ref()
            .is_some_and(|writer| writer.answered.elapsed() >= IDLE_CHECK);
        if let Some(mut writer) = slot.take_if(|_| idle) {
            let answers = tokio::time::timeout_at(give_up_at, writer.connection.ping()).await;
            if matches!(answers, Ok(Ok(()))) {
                *slot = Some(writer);
            }
        }
        let mut writer = match slot.take() {
            Some(writer) => writer,
            None => tokio::time::timeout_at(give_up_at, self.connect_writer())
                .await
                .map_err(timed_out)??,
        };
        if writer.synchronous != Some(money) {
            let set = if money {
                "SET synchronous_commit = on"
            } else {
                "SET synchronous_commit = off"
            };
            tokio::time::timeout_at(give_up_at, sqlx::query(set).execute(&mut writer.connection))
                .await
                .map_err(timed_out)??;
            writer.synchronous = Some(money);
        }
        // The facts the rows came with go in the rows' transaction: all of them, or none (an
        // error closes the connection, and the transaction with it). So does the wake of the
        // refunds waiting for a sale of the batch: they go behind it, not after their backoff.
        let mut facts = Facts::default();
        for row in rows {
            facts.kept.extend(row.facts.kept.iter().cloned());
            facts.aliases.extend(row.facts.aliases.iter().cloned());
        }
        let sales: Vec<&str> = rows
            .iter()
            .filter(|row| row.endpoint == "sale")
            .filter_map(|row| row.transaction_id.as_deref())
            .collect();
        let in_transaction = !facts.is_empty() || !sales.is_empty();
        if in_transaction {
            sqlx::query("BEGIN").execute(&mut writer.connection).await?;
        }
        let inserted: Vec<(i64, bool)> = if lease.is_some() && offered.contains(&true) {
            let statement = if self.customer_index.is_valid() {
                INSERT_BATCH
            } else {
                INSERT_BATCH_V1
            };
            sqlx::query_as(statement)
                .bind(endpoints)
                .bind(bodies)
                .bind(transaction_ids)
                .bind(other_transaction_ids)
                .bind(customer_keys)
                .bind(offered)
                .bind(lease.map(|lease| lease.owner))
                .bind(lease.map(|lease| millis(lease.duration) as f64))
                .fetch_all(&mut writer.connection)
                .await?
        } else {
            sqlx::query(INSERT_UNOFFERED)
                .bind(endpoints)
                .bind(bodies)
                .bind(transaction_ids)
                .bind(other_transaction_ids)
                .bind(customer_keys)
                .execute(&mut writer.connection)
                .await?;
            Vec::new()
        };
        if in_transaction {
            remember_on(&mut writer.connection, &facts).await?;
            if !sales.is_empty() {
                sqlx::query(WAKE_REFUNDS)
                    .bind(&sales)
                    .execute(&mut writer.connection)
                    .await?;
            }
            sqlx::query("COMMIT")
                .execute(&mut writer.connection)
                .await?;
        }
        writer.answered = tokio::time::Instant::now();
        *slot = Some(writer);
        Ok(inserted
            .into_iter()
            .map(|(id, leased)| Inserted { id, leased })
            .collect())
    }

    /// Claims up to `limit` rows for `owner`, for `lease`: walks the candidate rows ([`CLAIMABLE`]
    /// with `everything`, else [`UNSTARTED`]) in one snapshot, a page at a time, takes each that is
    /// free and whose customer no earlier row of the walk has ([`super::Customers`]), then
    /// leases them. Two relays may pick the same rows from the same snapshot: the lease's
    /// `UPDATE` waits for the other's and leaves them to it. Neither takes a row whose customer
    /// has an older live row in that snapshot, started or not; a dead letter holds back no one
    /// (retried, it goes after what its customer sent meanwhile, as it would have once dead).
    pub(crate) async fn claim(
        &self,
        owner: &str,
        lease: Duration,
        limit: i64,
        everything: bool,
    ) -> sqlx::Result<Vec<Claimed>> {
        // As many as it may take: a row held back is rare, and the next page reads on.
        let page = limit.max(1);
        let mut taken: Vec<i64> = Vec::new();
        {
            let mut snapshot = self.pool.begin().await?;
            sqlx::query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
                .execute(&mut *snapshot)
                .await?;
            let mut customers = super::Customers::new();
            let mut after = 0_i64;
            loop {
                let rows: Vec<(i64, Option<String>, bool)> =
                    sqlx::query_as(if everything { CLAIMABLE } else { UNSTARTED })
                        .bind(after)
                        .bind(page)
                        .fetch_all(&mut *snapshot)
                        .await?;
                let read = rows.len();
                for (id, customer, free) in rows {
                    after = id;
                    if customers.first(customer.as_deref()) && free {
                        taken.push(id);
                        if taken.len() >= usize::try_from(limit).unwrap_or(usize::MAX) {
                            break;
                        }
                    }
                }
                let full = taken.len() >= usize::try_from(limit).unwrap_or(usize::MAX);
                if full || i64::try_from(read).unwrap_or(i64::MAX) < page {
                    break;
                }
            }
            snapshot.commit().await?;
        }
        if taken.is_empty() {
            return Ok(Vec::new());
        }
        let rows: Vec<super::ClaimedRow> = sqlx::query_as(LEASE)
            .bind(owner)
            .bind(millis(lease) as f64)
            .bind(&taken)
            .fetch_all(&self.pool)
            .await?;
        Ok(rows.into_iter().map(Claimed::from_row).collect())
    }

    pub(crate) async fn complete(&self, ids: &[i64]) -> sqlx::Result<()> {
        sqlx::query("DELETE FROM affitor_outbox WHERE id = ANY($1)")
            .bind(ids)
            .execute(&self.pool)
            .await
            .map(drop)
    }

    pub(crate) async fn reschedule(
        &self,
        id: i64,
        owner: &str,
        after: Duration,
        error: &str,
    ) -> sqlx::Result<()> {
        sqlx::query(
            "UPDATE affitor_outbox
             SET attempts = attempts + 1,
                 next_attempt_at = now() + $3::float8 * interval '1 millisecond',
                 last_error = $4, lease_owner = NULL, lease_until = NULL
             WHERE id = $1 AND lease_owner = $2",
        )
        .bind(id)
        .bind(owner)
        .bind(millis(after) as f64)
        .bind(error)
        .execute(&self.pool)
        .await
        .map(drop)
    }

    pub(crate) async fn bury(&self, id: i64, owner: &str, error: &str) -> sqlx::Result<()> {
        sqlx::query(
            "UPDATE affitor_outbox
             SET attempts = attempts + 1, dead_at = now(), last_error = $3,
                 lease_owner = NULL, lease_until = NULL
             WHERE id = $1 AND lease_owner = $2",
        )
        .bind(id)
        .bind(owner)
        .bind(error)
        .execute(&self.pool)
        .await
        .map(drop)
    }

    pub(crate) async fn renew(
        &self,
        owner: &str,
        ids: &[i64],
        lease: Duration,
    ) -> sqlx::Result<u64> {
        sqlx::query(
            "UPDATE affitor_outbox
             SET lease_until = now() + $2::float8 * interval '1 millisecond'
             WHERE lease_owner = $1 AND dead_at IS NULL AND id = ANY($3)",
        )
        .bind(owner)
        .bind(millis(lease) as f64)
        .bind(ids)
        .execute(&self.pool)
        .await
        .map(|done| done.rows_affected())
    }

    /// Releases the leases `owner` holds on the rows of `ids`.
    pub(crate) async fn release_rows(&self, owner: &str, ids: &[i64]) -> sqlx::Result<u64> {
        sqlx::query(
            "UPDATE affitor_outbox SET lease_owner = NULL, lease_until = NULL
             WHERE lease_owner = $1 AND id = ANY($2)",
        )
        .bind(owner)
        .bind(ids)
        .execute(&self.pool)
        .await
        .map(|done| done.rows_affected())
    }

    pub(crate) async fn release(&self, owner: &str) -> sqlx::Result<u64> {
        sqlx::query(
            "UPDATE affitor_outbox SET lease_owner = NULL, lease_until = NULL
             WHERE lease_owner = $1",
        )
        .bind(owner)
        .execute(&self.pool)
        .await
        .map(|done| done.rows_affected())
    }

    pub(crate) async fn dead_letters(&self, limit: i64) -> sqlx::Result<Vec<DeadLetter>> {
        let rows = sqlx::query_as(
            "SELECT id, endpoint, transaction_id, attempts::bigint, last_error
             FROM affitor_outbox WHERE dead_at IS NOT NULL ORDER BY id LIMIT $1",
        )
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.into_iter().map(DeadLetter::from_row).collect())
    }

    /// Checks that the outbox can write here: a row written and rolled back.
    pub(crate) async fn probe(&self) -> sqlx::Result<()> {
        let mut transaction = self.pool.begin().await?;
        sqlx::query(
            "INSERT INTO affitor_outbox (endpoint, body, transaction_id, other_transaction_id,
                 customer_key, attempts, next_attempt_at, lease_owner, lease_until, dead_at,
                 last_error, created_at)
             VALUES ('probe', '', NULL, NULL, NULL, 0, now(), NULL, NULL, NULL, NULL, now())",
        )
        .execute(&mut *transaction)
        .await?;
        transaction.rollback().await
    }

    pub(crate) async fn retry_dead_letters(&self) -> sqlx::Result<u64> {
        sqlx::query(
            "UPDATE affitor_outbox SET dead_at = NULL, attempts = 0, next_attempt_at = now(),
                 last_error = NULL
             WHERE dead_at IS NOT NULL",
        )
        .execute(&self.pool)
        .await
        .map(|done| done.rows_affected())
    }

    pub(crate) async fn purge_dead_letters(&self, older_than: Duration) -> sqlx::Result<u64> {
        sqlx::query(
            "DELETE FROM affitor_outbox
             WHERE dead_at IS NOT NULL
               AND dead_at <= now() - $1::float8 * interval '1 millisecond'",
        )
        .bind(millis(older_than) as f64)
        .execute(&self.pool)
        .await
        .map(|done| done.rows_affected())
    }

    pub(crate) async fn waiting(&self) -> sqlx::Result<u64> {
        let (count,): (i64,) =
            sqlx::query_as("SELECT count(*) FROM affitor_outbox WHERE dead_at IS NULL")
                .fetch_one(&self.pool)
                .await?;
        Ok(u64::try_from(count).unwrap_or(0))
    }

    #[cfg(test)]
    pub(crate) async fn remember(
        &self,
        key: &str,
        value: &str,
        keep_for: Duration,
    ) -> sqlx::Result<()> {
        sqlx::query(
            "INSERT INTO affitor_outbox_facts (key, value, expires_at)
             VALUES ($1, $2, now() + $3::float8 * interval '1 millisecond')
             ON CONFLICT (key) DO UPDATE SET value = excluded.value,
                 expires_at = excluded.expires_at",
        )
        .bind(key)
        .bind(value)
        .bind(millis(keep_for) as f64)
        .execute(&self.pool)
        .await
        .map(drop)
    }

    #[cfg(test)]
    pub(crate) async fn recall(&self, key: &str) -> sqlx::Result<Option<String>> {
        sqlx::query_scalar(
            "SELECT value FROM affitor_outbox_facts WHERE key = $1 AND expires_at > now()",
        )
        .bind(key)
        .fetch_optional(&self.pool)
        .await
    }

    /// The values under each of `keys`, in their order (`None`: absent or expired), in one
    /// statement.
    pub(crate) async fn recall_all(&self, keys: &[String]) -> sqlx::Result<Vec<Option<String>>> {
        let values: Vec<(Option<String>,)> = sqlx::query_as(
            "SELECT f.value
             FROM UNNEST($1::text[]) WITH ORDINALITY AS k (key, n)
             LEFT JOIN affitor_outbox_facts f ON f.key = k.key AND f.expires_at > now()
             ORDER BY k.n",
        )
        .bind(keys)
        .fetch_all(&self.pool)
        .await?;
        Ok(values.into_iter().map(|(value,)| value).collect())
    }

    /// Upserts every fact and links the refunds its aliases name, in one transaction.
    pub(crate) async fn remember_all(&self, facts: &Facts) -> sqlx::Result<()> {
        let mut transaction = self.pool.begin().await?;
        remember_on(&mut transaction, facts).await?;
        transaction.commit().await
    }

    pub(crate) async fn purge_facts(&self) -> sqlx::Result<u64> {
        sqlx::query("DELETE FROM affitor_outbox_facts WHERE expires_at <= now()")
            .execute(&self.pool)
            .await
            .map(|done| done.rows_affected())
    }

    pub(crate) async fn dead(&self) -> sqlx::Result<u64> {
        let (count,): (i64,) =
            sqlx::query_as("SELECT count(*) FROM affitor_outbox WHERE dead_at IS NOT NULL")
                .fetch_one(&self.pool)
                .await?;
        Ok(u64::try_from(count).unwrap_or(0))
    }
}

/// Writes `row` on `connection`: the outbox's own, or the caller's inside their transaction.
pub(crate) async fn insert(connection: &mut PgConnection, row: &NewRow) -> sqlx::Result<()> {
    sqlx::query(INSERT)
        .bind(row.endpoint)
        .bind(&row.body)
        .bind(row.transaction_id.as_deref())
        .bind(row.other_transaction_id.as_deref())
        .bind(row.customer_key.as_deref())
        .execute(connection)
        .await
        .map(drop)
}

/// Puts the waiting refunds under each `$1` that have no other id under the sale's id `$2` (in
/// the row and in its body), `$1` becoming their other id, due
/// [`LINKED_REFUND_DUE`](super::LINKED_REFUND_DUE) (`$3` ms) from now at the latest: the claim
/// then holds them behind that sale's row, and they are sent under the id Affitor knows the
/// sale by.
const LINK_REFUNDS: &str = "
UPDATE affitor_outbox o SET transaction_id = a.sale, other_transaction_id = a.named,
    body = jsonb_set(o.body::jsonb, '{transaction_id}', to_jsonb(a.sale))::text,
    next_attempt_at = least(o.next_attempt_at, now() + $3::float8 * interval '1 millisecond')
FROM UNNEST($1::text[], $2::text[]) AS a (named, sale)
WHERE o.transaction_id = a.named AND o.endpoint = 'refund' AND o.other_transaction_id IS NULL
  AND o.dead_at IS NULL";

/// Makes the waiting refunds of the sales `$1` due now: written behind the sale's row, they go
/// once it is delivered, not after a backoff.
const WAKE_REFUNDS: &str = "
UPDATE affitor_outbox SET next_attempt_at = now()
WHERE transaction_id = ANY($1::text[]) AND endpoint = 'refund' AND dead_at IS NULL
  AND next_attempt_at > now()";

/// Keeps `facts` on `connection`, in the caller's transaction: the upsert (one statement), then
/// the refunds its aliases link. A key given twice keeps its last value: Postgres would refuse
/// to update one row twice in one statement.
async fn remember_on(connection: &mut PgConnection, facts: &Facts) -> sqlx::Result<()> {
    if !facts.aliases.is_empty() {
        let (named, sales): (Vec<&str>, Vec<&str>) = facts
            .aliases
            .iter()
            .map(|(named, sale)| (named.as_str(), sale.as_str()))
            .unzip();
        sqlx::query(LINK_REFUNDS)
            .bind(named)
            .bind(sales)
            .bind(millis(super::LINKED_REFUND_DUE) as f64)
            .execute(&mut *connection)
            .await?;
    }
    let facts = &facts.kept;
    if facts.is_empty() {
        return Ok(());
    }
    let mut last = std::collections::HashMap::with_capacity(facts.len());
    for (index, (key, _, _)) in facts.iter().enumerate() {
        last.insert(key.as_str(), index);
    }
    let facts: Vec<&(String, String, Duration)> = facts
        .iter()
        .enumerate()
        .filter(|(index, (key, _, _))| last.get(key.as_str()) == Some(index))
        .map(|(_, fact)| fact)
        .collect();
    let keys: Vec<&str> = facts.iter().map(|(key, _, _)| key.as_str()).collect();
    let values: Vec<&str> = facts.iter().map(|(_, value, _)| value.as_str()).collect();
    let keep_for: Vec<f64> = facts
        .iter()
        .map(|(_, _, keep_for)| millis(*keep_for) as f64)
        .collect();
    sqlx::query(
        "INSERT INTO affitor_outbox_facts (key, value, expires_at)
         SELECT key, value, now() + keep_for * interval '1 millisecond'
         FROM UNNEST($1::text[], $2::text[], $3::float8[]) AS f (key, value, keep_for)
         ON CONFLICT (key) DO UPDATE SET value = excluded.value,
             expires_at = excluded.expires_at",
    )
    .bind(keys)
    .bind(values)
    .bind(keep_for)
    .execute(connection)
    .await
    .map(drop)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)] // a test fails loudly on purpose

    use std::str::FromStr;
    use std::time::Duration;

    use sqlx::postgres::{PgConnectOptions, PgPoolOptions};

    use crate::config::Config;
    use crate::store::Store;

    /// The test server: `AFFITOR_TEST_POSTGRES`, or the one `.ci/postgres` starts.
    fn url() -> String {
        std::env::var("AFFITOR_TEST_POSTGRES")
            .ok()
            .filter(|url| !url.trim().is_empty())
            .unwrap_or_else(|| "postgres://affitor:affitor@127.0.0.1:5432/affitor_test".into())
    }

    /// A store on a schema of its own, `name` and the process's id, made anew, its schema at
    /// the last version; the admin pool that drops the schema at the end.
    async fn fresh_store(name: &str) -> (sqlx::PgPool, sqlx::PgPool, Store, String) {
        let schema = format!("outbox_unit_{name}_{}", std::process::id());
        let admin = PgPoolOptions::new()
            .acquire_timeout(Duration::from_secs(3))
            .connect(&url())
            .await
            .unwrap_or_else(|error| {
                panic!(
                    "this test needs a Postgres server at AFFITOR_TEST_POSTGRES ({error}): run \
                     `bash .ci/test`, or `export AFFITOR_TEST_POSTGRES=$(bash .ci/postgres)`"
                )
            });
        sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
            "DROP SCHEMA IF EXISTS {schema} CASCADE; CREATE SCHEMA {schema};"
        )))
        .execute(&admin)
        .await
        .unwrap();
        let options = PgConnectOptions::from_str(&url())
            .unwrap()
            .options([("search_path", schema.as_str())]);
        let pool = PgPoolOptions::new().connect_with(options).await.unwrap();
        let store = Store::Postgres(
            super::PostgresStore::open(pool.clone(), &Config::default())
                .await
                .unwrap(),
        );
        // Version 2's index, built in the background of the start: waited for, so that no
        // build is left running when the test drops the schema.
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        loop {
            let valid: Option<bool> = sqlx::query_scalar(
                "SELECT indisvalid FROM pg_index
                 WHERE indexrelid = to_regclass('affitor_outbox_live_by_customer')",
            )
            .fetch_optional(&pool)
            .await
            .unwrap();
            if valid == Some(true) {
                break;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "version 2's index was not built"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        (admin, pool, store, schema)
    }

    async fn drop_schema(admin: &sqlx::PgPool, schema: &str) {
        sqlx::raw_sql(sqlx::AssertSqlSafe(format!("DROP SCHEMA {schema} CASCADE")))
            .execute(admin)
            .await
            .unwrap();
    }

    /// The writer's statement looks a new row's customer up by key. While another session
    /// holds an old snapshot (a long query, a backup, a transaction left open), the entries of
    /// the rows claimed and deleted since stay in the table's indexes; a batch reads none of
    /// them. Version 1's statement walked the unstarted rows' index from its head, through
    /// every such entry: 5,000 rows claimed and delivered cost each batch 5,000 visits to the
    /// table, growing with every row the relay delivered while the snapshot was held.
    #[tokio::test]
    async fn a_batch_reads_none_of_the_entries_an_old_snapshot_keeps() {
        let (admin, pool, _store, schema) = fresh_store("held_snapshot").await;
        let mut held = pool.begin().await.unwrap();
        sqlx::query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
            .execute(&mut *held)
            .await
            .unwrap();
        let _: i64 = sqlx::query_scalar("SELECT count(*) FROM affitor_outbox")
            .fetch_one(&mut *held)
            .await
            .unwrap();
        // 5,000 leads written unstarted, then claimed and delivered, as a relay leaves them.
        for statement in [
            "INSERT INTO affitor_outbox (endpoint, body, customer_key)
             SELECT 'lead', '{}', 'user_' || n FROM generate_series(1, 5000) n",
            "UPDATE affitor_outbox SET lease_owner = 'relay', lease_until = now() + interval '1 minute'",
            "DELETE FROM affitor_outbox",
        ] {
            sqlx::query(statement).execute(&pool).await.unwrap();
        }

        // A batch of one lead offered to the relay, measured and rolled back.
        let mut batch = pool.begin().await.unwrap();
        let plan: Vec<String> = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
            "EXPLAIN (ANALYZE, BUFFERS, COSTS OFF) {}",
            super::INSERT_BATCH
        )))
        .bind(vec!["lead"])
        .bind(vec!["{}"])
        .bind(vec![None::<&str>])
        .bind(vec![None::<&str>])
        .bind(vec![Some("user_new")])
        .bind(vec![true])
        .bind("relay")
        .bind(15_000.0_f64)
        .fetch_all(&mut *batch)
        .await
        .unwrap();
        batch.rollback().await.unwrap();
        held.rollback().await.unwrap();
        let plan = plan.join("\n");
        // The rows the index scans visited in the table, to check what their entries point to.
        let visited: u64 = plan
            .lines()
            .filter_map(|line| line.trim_start().strip_prefix("Heap Fetches: "))
            .map(|count| count.parse::<u64>().unwrap())
            .sum();
        println!("{plan}");
        assert!(
            plan.contains("Index Only Scan"),
            "the batch's lookups use no index:\n{plan}"
        );
        assert!(
            visited < 50,
            "the batch visited {visited} rows, the entries the snapshot keeps:\n{plan}"
        );
        drop_schema(&admin, &schema).await;
    }

    /// Several facts are kept in one statement and read back in one, in the order asked,
    /// `None` for a key never kept or expired; a key given twice keeps its last value, and
    /// `remember`/`recall` read and write the same table.
    #[tokio::test]
    async fn facts_are_kept_and_recalled_together_in_the_order_asked() {
        let (admin, _pool, store, schema) = fresh_store("facts").await;

        let day = Duration::from_secs(24 * 3600);
        let facts = [
            ("pi_1".to_owned(), "in_1".to_owned(), day),
            ("pi_2".to_owned(), "in_2".to_owned(), day),
            ("gone".to_owned(), "in_0".to_owned(), Duration::ZERO),
            ("pi_1".to_owned(), "in_1b".to_owned(), day),
        ];
        let facts = crate::store::Facts {
            kept: facts.to_vec(),
            aliases: Vec::new(),
        };
        store.remember_all(&facts).await.unwrap();
        store.remember("pi_3", "in_3", day).await.unwrap();
        let keys = ["pi_3", "missing", "pi_1", "gone", "pi_2", "pi_1"].map(str::to_owned);
        let values = store.recall_all(&keys).await.unwrap();
        assert_eq!(
            values,
            [
                Some("in_3".to_owned()),
                None,
                Some("in_1b".to_owned()),
                None,
                Some("in_2".to_owned()),
                Some("in_1b".to_owned()),
            ]
        );
        assert_eq!(store.recall("pi_2").await.unwrap().as_deref(), Some("in_2"));
        assert_eq!(store.recall("gone").await.unwrap(), None);
        assert_eq!(
            store.recall_all(&[]).await.unwrap(),
            Vec::<Option<String>>::new()
        );
        assert_eq!(store.purge_facts().await.unwrap(), 1);

        drop_schema(&admin, &schema).await;
    }
}
