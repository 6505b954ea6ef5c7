//! The embedded store: a SQLite file, in WAL mode.
//!
//! Times are the process's clock in Unix milliseconds. SQLite lets one writer at a time, so a
//! claim (an `UPDATE … RETURNING`) is atomic across the processes that share the file; a row is
//! never claimed by two relays while its lease lasts.

use std::path::Path;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use sqlx::sqlite::{
    SqliteConnectOptions, SqliteConnection, SqliteJournalMode, SqlitePool, SqlitePoolOptions,
    SqliteSynchronous,
};

use super::{Claimed, DeadLetter, NewRow, millis};
use crate::builder::Config;

/// The page size of a new file (SQLite's default), in bytes.
const PAGE_SIZE: u64 = 4096;

/// How long a write waits for another writer before it fails.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS affitor_outbox (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    endpoint TEXT NOT NULL,
    body TEXT NOT NULL,
    transaction_id TEXT,
    customer_key TEXT,
    attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt_at INTEGER NOT NULL,
    lease_owner TEXT,
    lease_until INTEGER,
    dead_at INTEGER,
    last_error TEXT,
    created_at INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS affitor_outbox_due
    ON affitor_outbox (next_attempt_at) WHERE dead_at IS NULL;
CREATE INDEX IF NOT EXISTS affitor_outbox_transaction
    ON affitor_outbox (transaction_id, id) WHERE dead_at IS NULL;
CREATE INDEX IF NOT EXISTS affitor_outbox_customer
    ON affitor_outbox (customer_key, id) WHERE dead_at IS NULL;
";

const INSERT: &str = "
INSERT INTO affitor_outbox (endpoint, body, transaction_id, customer_key, next_attempt_at, created_at)
VALUES (?1, ?2, ?3, ?4, ?5, ?5)";

const CLAIM: &str = "
UPDATE affitor_outbox SET lease_owner = ?1, lease_until = ?2
WHERE id IN (
    SELECT o.id FROM affitor_outbox o
    WHERE o.dead_at IS NULL
      AND o.next_attempt_at <= ?3
      AND (o.lease_until IS NULL OR o.lease_until <= ?3)
      AND NOT EXISTS (
          SELECT 1 FROM affitor_outbox e
          WHERE e.transaction_id = o.transaction_id AND e.id < o.id AND e.dead_at IS NULL)
      AND NOT EXISTS (
          SELECT 1 FROM affitor_outbox e
          WHERE e.customer_key = o.customer_key AND e.id < o.id AND e.dead_at IS NULL)
    ORDER BY o.id
    LIMIT ?4)
RETURNING id, endpoint, body, attempts";

/// A SQLite file holding the `affitor_outbox` table.
#[derive(Debug)]
pub(crate) struct SqliteStore {
    pool: SqlitePool,
}

impl SqliteStore {
    /// Opens (creating when missing) the file at `path`, its folder and its table.
    pub(crate) async fn open(path: &Path, config: &Config) -> sqlx::Result<Self> {
        if let Some(folder) = path
            .parent()
            .filter(|folder| !folder.as_os_str().is_empty())
        {
            std::fs::create_dir_all(folder)?;
        }
        let mut options = SqliteConnectOptions::new()
            .filename(path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .busy_timeout(BUSY_TIMEOUT);
        if let Some(bytes) = config.max_file_size {
            // SQLite's own limit, in pages of PAGE_SIZE bytes: past it a write fails with
            // SQLITE_FULL, as on a full disk.
            let pages = (bytes / PAGE_SIZE).max(1);
            options = options
                .pragma("page_size", PAGE_SIZE.to_string())
                .pragma("max_page_count", pages.to_string());
        }
        let pool = SqlitePoolOptions::new()
            .max_connections(config.connections.max(1))
            .connect_with(options)
            .await?;
        sqlx::raw_sql(SCHEMA).execute(&pool).await?;
        Ok(Self { pool })
    }

    pub(crate) async fn insert(&self, row: &NewRow<'_>) -> sqlx::Result<()> {
        let mut connection = self.pool.acquire().await?;
        if row.is_money() {
            // A sale or a refund reaches the disk before the request answers.
            durable_insert(&mut connection, row).await
        } else {
            insert(&mut connection, row).await
        }
    }

    pub(crate) async fn claim(
        &self,
        owner: &str,
        lease: Duration,
        limit: i64,
    ) -> sqlx::Result<Vec<Claimed>> {
        let now = now_millis();
        let rows: Vec<(i64, String, String, i64)> = sqlx::query_as(CLAIM)
            .bind(owner)
            .bind(now.saturating_add(millis(lease)))
            .bind(now)
            .bind(limit)
            .fetch_all(&self.pool)
            .await?;
        Ok(rows.into_iter().map(Claimed::from_row).collect())
    }

    pub(crate) async fn complete(&self, id: i64) -> sqlx::Result<()> {
        sqlx::query("DELETE FROM affitor_outbox WHERE id = ?1")
            .bind(id)
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
             SET attempts = attempts + 1, next_attempt_at = ?3, last_error = ?4,
                 lease_owner = NULL, lease_until = NULL
             WHERE id = ?1 AND lease_owner = ?2",
        )
        .bind(id)
        .bind(owner)
        .bind(now_millis().saturating_add(millis(after)))
        .bind(error)
        .execute(&self.pool)
        .await
        .map(drop)
    }

    pub(crate) async fn bury(&self, id: i64, owner: &str, error: &str) -> sqlx::Result<()> {
        sqlx::query(
            "UPDATE affitor_outbox
             SET attempts = attempts + 1, dead_at = ?3, last_error = ?4,
                 lease_owner = NULL, lease_until = NULL
             WHERE id = ?1 AND lease_owner = ?2",
        )
        .bind(id)
        .bind(owner)
        .bind(now_millis())
        .bind(error)
        .execute(&self.pool)
        .await
        .map(drop)
    }

    pub(crate) async fn release(&self, owner: &str) -> sqlx::Result<u64> {
        sqlx::query(
            "UPDATE affitor_outbox SET lease_owner = NULL, lease_until = NULL
             WHERE lease_owner = ?1",
        )
        .bind(owner)
        .execute(&self.pool)
        .await
        .map(|done| done.rows_affected())
    }

    pub(crate) async fn dead_letters(&self, limit: i64) -> sqlx::Result<Vec<DeadLetter>> {
        let rows = sqlx::query_as(
            "SELECT id, endpoint, transaction_id, attempts, last_error FROM affitor_outbox
             WHERE dead_at IS NOT NULL ORDER BY id LIMIT ?1",
        )
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.into_iter().map(DeadLetter::from_row).collect())
    }

    pub(crate) async fn waiting(&self) -> sqlx::Result<u64> {
        let (count,): (i64,) =
            sqlx::query_as("SELECT count(*) FROM affitor_outbox WHERE dead_at IS NULL")
                .fetch_one(&self.pool)
                .await?;
        Ok(u64::try_from(count).unwrap_or(0))
    }
}

/// Writes `row` on `connection`: the outbox's own, or the caller's inside their transaction.
pub(crate) async fn insert(
    connection: &mut SqliteConnection,
    row: &NewRow<'_>,
) -> sqlx::Result<()> {
    sqlx::query(INSERT)
        .bind(row.endpoint)
        .bind(&row.body)
        .bind(row.transaction_id)
        .bind(row.customer_key)
        .bind(now_millis())
        .execute(connection)
        .await
        .map(drop)
}

/// [`insert`] with `synchronous=FULL`: the row is on the disk when it returns.
///
/// Plain `query` for the pragmas, not `raw_sql`: with `raw_sql` on a `&mut SqliteConnection`
/// the compiler cannot prove the future `Send`, and the future of
/// [`Outbox::enqueue`](crate::Outbox::enqueue) must be, for a web handler.
async fn durable_insert(connection: &mut SqliteConnection, row: &NewRow<'_>) -> sqlx::Result<()> {
    sqlx::query("PRAGMA synchronous = FULL")
        .execute(&mut *connection)
        .await?;
    let inserted = insert(&mut *connection, row).await;
    sqlx::query("PRAGMA synchronous = NORMAL")
        .execute(&mut *connection)
        .await?;
    inserted
}

fn now_millis() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, millis)
}
