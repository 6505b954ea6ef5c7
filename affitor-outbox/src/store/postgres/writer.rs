//! The writer's connection, one of the pool's that it keeps, and its batches: one statement a
//! batch, in its own transaction; and a row written in the caller's own transaction.

use std::time::Duration;

use sqlx::pool::PoolConnection;
use sqlx::{AssertSqlSafe, Connection as _, PgConnection, Postgres};
use tokio::time::Instant;

use super::PostgresStore;
use super::schema::Tables;
use crate::store::{Facts, Inserted, Lease, NewRow, millis};

/// A row written as it is, in the caller's own transaction ([`insert`]).
const INSERT: &str = "
INSERT INTO affitor_outbox (endpoint, body, transaction_id, other_transaction_id, customer_key,
    click_id_source, delivery_key)
VALUES ($1, $2, $3, $4, $5, $6, $7)";

/// Rows written together, none of them offered to the relay (the relay has no free send slot,
/// or none runs here), as seven arrays of one length, in the arrays' order: a plain insert,
/// with nothing to look up and nothing to return.
const INSERT_UNOFFERED: &str = "
INSERT INTO affitor_outbox (endpoint, body, transaction_id, other_transaction_id, customer_key,
    click_id_source, delivery_key)
SELECT endpoint, body, transaction_id, other_transaction_id, customer_key, click_id_source,
    delivery_key
FROM UNNEST($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[],
        $7::text[])
    WITH ORDINALITY
    AS b (endpoint, body, transaction_id, other_transaction_id, customer_key, click_id_source,
        delivery_key, n)
ORDER BY n";

/// The customer's half of the condition under which an offered row `b` is leased as it is
/// written (the other half is [`transaction_free`](crate::store::transaction_free)): none of
/// the customer's rows is live, started or not. One lookup by key in
/// `affitor_outbox_live_by_customer`, never a walk from an index's head, which would visit the
/// entries of every row delivered while an old snapshot is held (a long query, a backup).
///
/// It asks for any live row, not for started and unstarted ones apart: no other index's
/// condition follows from this one's, so the planner has no other index to walk.
macro_rules! customer_free {
    () => {
        "(b.customer_key IS NULL OR NOT EXISTS (
             SELECT 1 FROM affitor_outbox e
             WHERE e.customer_key = b.customer_key AND e.dead_at IS NULL OFFSET 0))"
    };
}

/// Rows written together, as eight arrays of one length, in the arrays' order (their ids
/// follow it: the relay sends a customer's rows in id order); `$9` and `$10` the lease (owner,
/// milliseconds) an offered row takes when nothing precedes it (NULL: none). The statement's
/// snapshot is taken before it inserts, so a row of the batch never sees another: the writer
/// offers no row that shares a key with an earlier one of its batch.
///
/// A row is leased only when no live row of its transaction or its customer exists, each a
/// lookup by key. Each row's `leased` is worked out once: `OFFSET 0` keeps the planner from
/// pulling the `batch` subquery up into the `INSERT`, where each of the two `CASE`s that read
/// `leased` got a copy of its lookups.
pub(super) const INSERT_BATCH: &str = concat!(
    "
INSERT INTO affitor_outbox (endpoint, body, transaction_id, other_transaction_id, customer_key,
    click_id_source, delivery_key, lease_owner, lease_until)
SELECT endpoint, body, transaction_id, other_transaction_id, customer_key, click_id_source,
    delivery_key, CASE WHEN leased THEN $9::text END,
    CASE WHEN leased THEN pg_catalog.clock_timestamp() + $10::float8 * interval '1 millisecond' END
FROM (
    SELECT b.*, $9::text IS NOT NULL AND b.offered AND ",
    crate::store::transaction_free!(" OFFSET 0"),
    "
         AND ",
    customer_free!(),
    " AS leased
    FROM UNNEST($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[],
            $7::text[], $8::bool[])
        WITH ORDINALITY
        AS b (endpoint, body, transaction_id, other_transaction_id, customer_key,
            click_id_source, delivery_key, offered, n)
    OFFSET 0
) batch
ORDER BY n
RETURNING id, lease_owner IS NOT NULL"
);

/// The writer's connection, and when it last answered: one of the pool's, counted in its
/// `max_connections`, which the writer keeps between batches, so that it never waits for the
/// pool's turns once it has one.
///
/// It never goes back to the pool: dropped (an error, a batch given up), it is detached and its
/// socket closed at once, so that a connection left mid-transaction or silent is neither reused
/// nor waited on, and the pool may open another in its place.
#[derive(Debug)]
pub(super) struct WriterConnection {
    /// `None` only once closed or dropped.
    connection: Option<PoolConnection<Postgres>>,
    answered: Instant,
}

impl Drop for WriterConnection {
    fn drop(&mut self) {
        if let Some(connection) = self.connection.take() {
            drop(connection.detach());
        }
    }
}

/// How long the writer's connection may sit idle before a batch checks that it still answers:
/// a connection a firewall or the server dropped while idle is replaced before a batch is sent
/// on it, rather than the batch waiting for TCP to give up.
const IDLE_CHECK: Duration = Duration::from_secs(5);

/// How long past a batch's deadline the writer waits for a server that does not answer.
const SILENCE: Duration = Duration::from_secs(1);

impl PostgresStore {
    /// Writes `rows` in one statement, its own transaction, in their order, on the writer's
    /// connection, and answers how each was written (none, when none was offered to the
    /// relay); gives up at `give_up_at` before the statement is sent
    /// ([`sqlx::Error::PoolTimedOut`]: none of the rows is in the table). Once it is, the server
    /// cancels it past the statement timeout (the enqueue timeout), and an error means it was
    /// rolled back; a server that does not answer at all is given up on [`SILENCE`] later (an
    /// I/O timeout: the outcome is unknown, the connection closed).
    ///
    /// A batch without money (leads, clicks) is committed with `synchronous_commit = off`, as
    /// SQLite's are with `synchronous=NORMAL`: it survives the app's crash (the server has it),
    /// and the server's own crash may lose its last fraction of a second of such batches; a
    /// batch with a sale or a refund waits for the server's WAL flush.
    pub(crate) async fn insert_batch(
        &self,
        rows: &[&NewRow],
        lease: Option<Lease<'_>>,
        give_up_at: Instant,
    ) -> sqlx::Result<Vec<Inserted>> {
        let mut slot = tokio::time::timeout_at(give_up_at, self.writer.lock())
            .await
            .map_err(timed_out)?;
        // Taken for the batch: an error leaves the slot empty, and the connection is closed.
        let mut writer = self.ready_writer(slot.take(), give_up_at).await?;
        let money = rows.iter().any(|row| row.is_money());
        let begin =
            tokio::time::timeout_at(give_up_at, writer.begin(money, self.statement_timeout));
        begin.await.map_err(timed_out)??;
        // A server that stopped answering (a partition, a failover) is given up on a second
        // after its own statement timeout would have cancelled the batch: the connection is
        // dropped with `writer`, never reused, and the batch's outcome is unknown.
        let write = writer.write(&self.tables, rows, lease);
        let inserted = tokio::time::timeout_at(give_up_at + SILENCE, write)
            .await
            .map_err(unanswered)??;
        writer.answered = Instant::now();
        *slot = Some(writer);
        Ok(inserted)
    }

    /// Closes the writer's connection, and ends the probe's connect (the outbox stops): the
    /// server is told, within [`SILENCE`] (a silent one's socket is dropped).
    pub(crate) async fn close_writer(&self) {
        // The probe's connect, under way or done and not taken: aborted, or its connection
        // back in the pool, rather than held until the store is dropped.
        if let Ok(mut connecting) = self.connecting.try_lock() {
            connecting.take();
        }
        let Some(connection) = self
            .writer
            .lock()
            .await
            .take()
            .and_then(|mut writer| writer.connection.take())
        else {
            return;
        };
        // The pool's permit is kept until the server is told; a silent server's socket is
        // dropped with the future, and the permit with it.
        let closed = tokio::time::timeout(SILENCE, connection.close()).await;
        if !matches!(closed, Ok(Ok(()))) {
            tracing::debug!("Affitor outbox: the writer's connection closed without a goodbye");
        }
    }

    /// The writer's connection for a batch: `kept`, when it answered lately or answers a ping
    /// now (nothing of the batch is sent yet), else a new one.
    async fn ready_writer(
        &self,
        kept: Option<WriterConnection>,
        give_up_at: Instant,
    ) -> sqlx::Result<WriterConnection> {
        if let Some(mut writer) = kept {
            if writer.answered.elapsed() < IDLE_CHECK {
                return Ok(writer);
            }
            let answers = tokio::time::timeout_at(give_up_at, writer.connection()?.ping()).await;
            if matches!(answers, Ok(Ok(()))) {
                return Ok(writer);
            }
        }
        let connection = tokio::time::timeout_at(give_up_at, self.pool.acquire())
            .await
            .map_err(timed_out)??;
        // It keeps no session state: each batch sets what it needs for its own transaction.
        Ok(WriterConnection {
            connection: Some(connection),
            answered: Instant::now(),
        })
    }
}

impl WriterConnection {
    /// Begins a batch's transaction, in one round trip: the server cancels its statements past
    /// `statement_timeout`, and its commit waits for the WAL flush when it has `money`.
    ///
    /// Its statements are unnamed, so each is planned for its batch's own values: a generic
    /// plan, made once after five runs of a named one and often while the table was nearly
    /// empty, took a full scan of another index as cheap as the lookup of each new row's key,
    /// and grew with the table.
    async fn begin(&mut self, money: bool, statement_timeout: Duration) -> sqlx::Result<()> {
        let synchronous = if money { "on" } else { "off" };
        sqlx::raw_sql(AssertSqlSafe(format!(
            "BEGIN; SET LOCAL statement_timeout = '{}ms'; \
             SET LOCAL synchronous_commit = {synchronous}",
            millis(statement_timeout).max(1)
        )))
        .execute(self.connection()?)
        .await
        .map(drop)
    }

    /// Writes `rows` in the transaction [`WriterConnection::begin`] began, and with them the
    /// facts they came with and the wake of the refunds waiting for a sale among them (they go
    /// behind it, not after their backoff), then commits: all of it, or none (an error closes
    /// the connection, and the transaction with it).
    async fn write(
        &mut self,
        tables: &Tables,
        rows: &[&NewRow],
        lease: Option<Lease<'_>>,
    ) -> sqlx::Result<Vec<Inserted>> {
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
        let connection = self.connection()?;
        let inserted = insert_rows(connection, tables, rows, lease).await?;
        super::facts::keep(connection, tables, &facts).await?;
        super::facts::wake_refunds(connection, tables, &sales).await?;
        sqlx::raw_sql("COMMIT").execute(connection).await?;
        Ok(inserted)
    }

    /// The connection, while it is open.
    fn connection(&mut self) -> sqlx::Result<&mut PgConnection> {
        self.connection
            .as_deref_mut()
            .ok_or(sqlx::Error::PoolClosed)
    }
}

/// Writes `rows` in one statement: [`INSERT_BATCH`] when some are offered to a relay (how each
/// was written), else [`INSERT_UNOFFERED`] (no answer).
async fn insert_rows(
    connection: &mut PgConnection,
    tables: &Tables,
    rows: &[&NewRow],
    lease: Option<Lease<'_>>,
) -> sqlx::Result<Vec<Inserted>> {
    let column = |field: fn(&NewRow) -> Option<&str>| -> Vec<Option<&str>> {
        rows.iter().map(|row| field(row)).collect()
    };
    let query = |sql| {
        sqlx::query_as::<_, (i64, bool)>(tables.qualify(sql))
            .persistent(false)
            .bind(column(|row| Some(row.endpoint)))
            .bind(column(|row| Some(&row.body)))
            .bind(column(|row| row.transaction_id.as_deref()))
            .bind(column(|row| row.other_transaction_id.as_deref()))
            .bind(column(|row| row.customer_key.as_deref()))
            .bind(column(|row| row.click_id_source))
            .bind(column(|row| row.facts.delivery.as_deref()))
    };
    let offered: Vec<bool> = rows.iter().map(|row| row.offered).collect();
    let Some(lease) = lease.filter(|_| offered.contains(&true)) else {
        // It returns no row: nothing to answer.
        query(INSERT_UNOFFERED).fetch_all(connection).await?;
        return Ok(Vec::new());
    };
    let inserted = query(INSERT_BATCH)
        .bind(offered)
        .bind(lease.owner)
        .bind(millis(lease.duration) as f64)
        .fetch_all(connection)
        .await?;
    Ok(inserted
        .into_iter()
        .map(|(id, leased)| Inserted { id, leased })
        .collect())
}

/// Writes `row` on `connection`, the caller's, inside their transaction: unnamed, as every
/// statement of the outbox's, so that it works through a pooler in transaction mode, and into
/// the table in `schema` (the outbox's, when it is on Postgres), whatever the caller's
/// `search_path`.
pub(crate) async fn insert(
    connection: &mut PgConnection,
    schema: Option<&str>,
    row: &NewRow,
) -> sqlx::Result<()> {
    let sql = match schema {
        Some(schema) => Tables::quoted(schema).qualify(INSERT),
        None => AssertSqlSafe(INSERT.to_owned()),
    };
    let columns = [
        Some(row.endpoint),
        Some(row.body.as_str()),
        row.transaction_id.as_deref(),
        row.other_transaction_id.as_deref(),
        row.customer_key.as_deref(),
        row.click_id_source,
        row.facts.delivery.as_deref(),
    ];
    let query = sqlx::query(sql).persistent(false);
    let query = columns
        .into_iter()
        .fold(query, |query, value| query.bind(value));
    query.execute(connection).await.map(drop)
}

/// A batch sent and never answered: whether it committed is unknown (never "not in the
/// table", which would let its events go another way without going at least once).
fn unanswered(_: tokio::time::error::Elapsed) -> sqlx::Error {
    sqlx::Error::Io(std::io::Error::new(
        std::io::ErrorKind::TimedOut,
        "the server did not answer the batch: whether it committed is unknown",
    ))
}

/// A wait for the writer's turn, its connection or its settings that ran out: none of the
/// batch's rows is in the table.
fn timed_out(_: tokio::time::error::Elapsed) -> sqlx::Error {
    sqlx::Error::PoolTimedOut
}
