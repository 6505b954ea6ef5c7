//! The embedded store: a SQLite file, in WAL mode.
//!
//! Times are the process's clock in Unix milliseconds. SQLite lets one writer at a time, so a
//! claim (an `UPDATE … RETURNING`) is atomic across the processes that share the file; a row is
//! never claimed by two relays while its lease lasts.
//!
//! New rows are written in batches by the outbox's writer (`writer.rs`), on a thread of its own
//! with a connection of its own ([`SqliteWriter`]): one transaction per batch, a prepared
//! statement run once per row. The relay's frequent writes (its claims, deletes and renewals)
//! run on that thread and connection too, between two batches (see
//! [`SqliteStore::on_writer`]). Everything else goes through a pool of one connection.

use std::future::Future;
use std::path::Path;
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use sqlx::sqlite::{SqliteConnectOptions, SqliteConnection, SqlitePool, SqlitePoolOptions};
use tokio::sync::{mpsc, oneshot};

use super::{Claimed, DeadLetter, Inserted, Lease, NewRow, millis};
use crate::config::Config;

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
    other_transaction_id TEXT,
    customer_key TEXT,
    attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt_at INTEGER NOT NULL,
    lease_owner TEXT,
    lease_until INTEGER,
    dead_at INTEGER,
    last_error TEXT,
    created_at INTEGER NOT NULL
);
DROP INDEX IF EXISTS affitor_outbox_due;
CREATE INDEX IF NOT EXISTS affitor_outbox_transaction_id
    ON affitor_outbox (transaction_id, id) WHERE transaction_id IS NOT NULL AND dead_at IS NULL;
DROP INDEX IF EXISTS affitor_outbox_transaction;
DROP INDEX IF EXISTS affitor_outbox_customer;
CREATE INDEX IF NOT EXISTS affitor_outbox_started
    ON affitor_outbox (customer_key, id)
    WHERE dead_at IS NULL AND (lease_until IS NOT NULL OR attempts > 0);
CREATE INDEX IF NOT EXISTS affitor_outbox_unstarted
    ON affitor_outbox (id) WHERE dead_at IS NULL AND lease_until IS NULL AND attempts = 0;
CREATE TABLE IF NOT EXISTS affitor_outbox_facts (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL,
    expires_at INTEGER NOT NULL
);
";

/// The column a table made by an earlier version lacks.
const ADD_OTHER_TRANSACTION_ID: &str =
    "ALTER TABLE affitor_outbox ADD COLUMN other_transaction_id TEXT";

/// A row written as it is: by the writer when it is not offered to the relay, or in the
/// caller's own transaction ([`insert`]).
const INSERT: &str = "
INSERT INTO affitor_outbox (endpoint, body, transaction_id, other_transaction_id, customer_key,
    next_attempt_at, created_at)
VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?6)";

/// How many rows not offered to the relay one statement writes ([`INSERT_MANY`]).
const PLAIN_AT_ONCE: usize = 8;

/// [`PLAIN_AT_ONCE`] rows of [`INSERT`], in one statement: `?6n+1`–`?6n+5` the columns of the
/// n-th row, `?6n+6` its time.
static INSERT_MANY: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
    let values: Vec<String> = (0..PLAIN_AT_ONCE)
        .map(|n| {
            let p = 6 * n;
            format!(
                "(?{}, ?{}, ?{}, ?{}, ?{}, ?{}, ?{})",
                p + 1,
                p + 2,
                p + 3,
                p + 4,
                p + 5,
                p + 6,
                p + 6
            )
        })
        .collect();
    format!(
        "INSERT INTO affitor_outbox (endpoint, body, transaction_id, other_transaction_id, \
         customer_key, next_attempt_at, created_at) VALUES {}",
        values.join(", ")
    )
});

/// One row of a batch: the writer runs it once per row, in one transaction per batch (on its
/// own thread, a row costs a call into SQLite, not a round trip). `?1`–`?5` are the row's
/// columns, `?6` whether it is offered to the relay, `?7` the time, `?8` and `?9` the lease an
/// offered row takes when nothing precedes it (NULL: none). A row sees the rows written before
/// it in its batch; the writer offers none that shares a key with an earlier one anyway.
const INSERT_ONE: &str = concat!(
    "
INSERT INTO affitor_outbox (endpoint, body, transaction_id, other_transaction_id, customer_key,
    next_attempt_at, created_at, lease_owner, lease_until)
SELECT endpoint, body, transaction_id, other_transaction_id, customer_key, ?7, ?7,
    CASE WHEN leased THEN ?8 END, CASE WHEN leased THEN ?9 END
FROM (SELECT b.*, ?8 IS NOT NULL AND b.offered AND ",
    super::transaction_free!(""),
    "
         AND ",
    super::customer_free!("affitor_outbox e INDEXED BY affitor_outbox_unstarted", ""),
    " AS leased
    FROM (SELECT ?1 AS endpoint, ?2 AS body, ?3 AS transaction_id,
        ?4 AS other_transaction_id, ?5 AS customer_key, ?6 AS offered) b)
RETURNING id, lease_owner IS NOT NULL"
);

/// Every row a claim may take (`?1` the time), oldest first ([`candidate`](super::candidate)'s columns): live,
/// held by no relay (or by one whose lease ran out), and due; a row never tried is due
/// whatever the clock says, so that every unstarted row older than one the claim reads is read
/// too.
const CLAIMABLE: &str = concat!(
    "
SELECT ",
    super::candidate!(""),
    "
FROM affitor_outbox o
WHERE o.dead_at IS NULL
  AND (o.lease_until IS NULL OR o.lease_until <= ?1)
  AND (o.attempts = 0 OR o.next_attempt_at <= ?1)
ORDER BY o.id"
);

/// The unstarted rows, oldest first ([`candidate`](super::candidate)'s columns), through their index: what a
/// claim reads while rows are being sent, without reading past them.
const UNSTARTED: &str = concat!(
    "
SELECT ",
    super::candidate!(""),
    "
FROM affitor_outbox o INDEXED BY affitor_outbox_unstarted
WHERE o.dead_at IS NULL AND o.lease_until IS NULL AND o.attempts = 0
ORDER BY o.id"
);

/// Leases the rows of `?4` (a JSON array of ids, [`json_ids`]) to `?1` until `?2`, `?3` the
/// time: what a claim took.
const LEASE: &str = "
UPDATE affitor_outbox SET lease_owner = ?1, lease_until = ?2
WHERE id IN (SELECT value FROM json_each(?4))
RETURNING id, endpoint, body, other_transaction_id, attempts, ?3 - created_at";

/// The live rows, counted in the two indexes that hold them between them (every live row has
/// started or not), each smaller than the table.
const WAITING: &str = "
SELECT (SELECT count(*) FROM affitor_outbox INDEXED BY affitor_outbox_unstarted
        WHERE dead_at IS NULL AND lease_until IS NULL AND attempts = 0)
     + (SELECT count(*) FROM affitor_outbox INDEXED BY affitor_outbox_started
        WHERE dead_at IS NULL AND (lease_until IS NOT NULL OR attempts > 0))";

/// Creates the file at `path` readable and writable by its owner only (it holds customers'
/// emails; SQLite gives its `-wal` and `-shm` files the same mode), or warns when an existing
/// one is readable by others.
fn create_private(path: &Path) -> std::io::Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
        match std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(path)
        {
            Ok(_) => {}
            Err(error) if error.kind() == std::io::ErrorKind::AlreadyExists => {
                let mode = std::fs::metadata(path)?.permissions().mode();
                if mode & 0o077 != 0 {
                    tracing::warn!(
                        path = %path.display(),
                        mode = format!("{:o}", mode & 0o777),
                        "the Affitor outbox file is readable by other users: it holds customers' \
                         emails; `chmod 600` it (and its -wal and -shm files)"
                    );
                }
            }
            Err(error) => return Err(error),
        }
    }
    #[cfg(not(unix))]
    let _ = path;
    Ok(())
}

/// The settings of both connections to the file, the pool's and the writer's: WAL; `NORMAL`
/// syncs (a batch with money in it is written with `FULL`); a deleted row's bytes overwritten,
/// not left in free pages, so that delivered leads' emails do not stay in the file; temporary
/// data in memory (a batch's INSERT reads the whole batch into a temporary table before it
/// writes, as it reads the table it writes; past 64 KiB SQLite would spill it to a file,
/// created and deleted for each batch).
const SETTINGS: [(&str, &str); 4] = [
    ("journal_mode", "WAL"),
    ("synchronous", "NORMAL"),
    ("secure_delete", "ON"),
    ("temp_store", "MEMORY"),
];

/// The file's limit, from `max_file_size`, in pages of [`PAGE_SIZE`] bytes (SQLite's own: past
/// it a write fails with `SQLITE_FULL`, as on a full disk).
fn page_limit(config: &Config) -> Option<u64> {
    config.max_file_size.map(|bytes| (bytes / PAGE_SIZE).max(1))
}

/// The least time between two checkpoints after deletes.
const CHECKPOINT_EVERY: Duration = Duration::from_secs(5);

/// Work for the writer's thread besides its batches, run on its connection: a relay's claim,
/// delete or renewal.
type Job = Box<dyn FnOnce(&mut SqliteWriter) + Send>;

/// The most jobs the writer's thread takes between two batches.
const JOBS_AT_ONCE: usize = 64;

/// A SQLite file holding the `affitor_outbox` table.
#[derive(Debug)]
pub(crate) struct SqliteStore {
    pool: SqlitePool,
    /// The way to the writer's thread, for [`SqliteStore::on_writer`].
    jobs: mpsc::UnboundedSender<Job>,
    /// The writer's own connection, until the writer's thread takes it
    /// ([`SqliteStore::take_writer`]).
    writer: std::sync::Mutex<Option<SqliteWriter>>,
    /// Deleted rows not yet checkpointed out of the WAL, and when the last checkpoint ran.
    checkpoint: std::sync::Mutex<(bool, std::time::Instant)>,
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
        create_private(path)?;
        let mut options = SETTINGS.iter().fold(
            SqliteConnectOptions::new()
                .filename(path)
                .create_if_missing(true)
                .busy_timeout(BUSY_TIMEOUT),
            |options, (name, value)| options.pragma(*name, *value),
        );
        if let Some(pages) = page_limit(config) {
            options = options
                .pragma("page_size", PAGE_SIZE.to_string())
                .pragma("max_page_count", pages.to_string());
        }
        // Two connections: the writer's own, for the new rows (a statement every millisecond
        // or so under load, on a thread of its own: see `writer.rs`), and one in a pool for
        // everything else (the relay's claims and deletes, a few a second), queued on it in
        // order. SQLite takes one write at a time: the rare times the two meet, one waits for
        // the other.
        let pool = SqlitePoolOptions::new()
            .max_connections(1)
            .connect_with(options)
            .await?;
        sqlx::raw_sql(SCHEMA).execute(&pool).await?;
        add_column(&pool).await?;
        let (jobs, queued) = mpsc::unbounded_channel();
        let writer = SqliteWriter::open(path, config, queued).map_err(from_rusqlite)?;
        Ok(Self {
            pool,
            jobs,
            writer: std::sync::Mutex::new(Some(writer)),
            checkpoint: std::sync::Mutex::new((false, std::time::Instant::now())),
        })
    }

    /// The writer's connection, for the writer's thread: `None` once taken.
    pub(crate) fn take_writer(&self) -> Option<SqliteWriter> {
        self.writer
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .take()
    }

    /// Checks that the outbox can write here: a row written and rolled back.
    pub(crate) async fn probe(&self) -> sqlx::Result<()> {
        let mut transaction = self.pool.begin().await?;
        sqlx::query(super::PROBE).execute(&mut *transaction).await?;
        transaction.rollback().await
    }

    /// Copies the WAL into the file and empties it, when rows were deleted since the last
    /// time (at most every [`CHECKPOINT_EVERY`] unless `now`): what a delivered row held does
    /// not stay readable in the WAL.
    pub(crate) async fn checkpoint(&self, now: bool) {
        {
            let mut state = self
                .checkpoint
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            let (dirty, last) = *state;
            if !dirty || (!now && last.elapsed() < CHECKPOINT_EVERY) {
                return;
            }
            *state = (false, std::time::Instant::now());
        }
        if let Err(error) = sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)")
            .execute(&self.pool)
            .await
        {
            tracing::debug!(%error, "Affitor outbox WAL checkpoint failed; it runs again later");
            self.mark_deleted();
        }
    }

    fn mark_deleted(&self) {
        self.checkpoint
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .0 = true;
    }

    /// Runs `job` on the writer's thread and connection, between two of its batches: the
    /// relay's claims, deletes and renewals, each a write SQLite lets one connection make at a
    /// time.
    ///
    /// On the pool's connection they met the writer's batches hundreds of times a second
    /// under load: whichever came second slept in SQLite's busy handler (1, 2, 5 ms and on
    /// between tries, `strace` showed the writer asleep a fifth of the time) with every row of
    /// a batch waiting; and each write of one connection emptied the other's page cache, read
    /// again from the file at its next statement. On the one connection, each waits exactly as
    /// long as the other runs, and the cache stays warm.
    async fn on_writer<T: Send + 'static>(
        &self,
        job: impl FnOnce(&mut SqliteWriter) -> rusqlite::Result<T> + Send + 'static,
    ) -> sqlx::Result<T> {
        let (answer, answered) = oneshot::channel();
        // Either fails only once the writer's thread has ended: its receiver went with it.
        self.jobs
            .send(Box::new(move |writer: &mut SqliteWriter| {
                let _ = answer.send(job(writer));
            }))
            .map_err(|_| sqlx::Error::WorkerCrashed)?;
        answered
            .await
            .map_err(|_| sqlx::Error::WorkerCrashed)?
            .map_err(from_rusqlite)
    }

    pub(crate) async fn claim(
        &self,
        owner: &str,
        lease: Duration,
        limit: i64,
        everything: bool,
    ) -> sqlx::Result<Vec<Claimed>> {
        let owner = owner.to_owned();
        let rows = self
            .on_writer(move |writer| writer.claim(&owner, lease, limit, everything))
            .await?;
        // Read here, not on the writer's thread: each row's event is parsed from its JSON.
        Ok(rows.into_iter().map(Claimed::from_row).collect())
    }

    pub(crate) async fn complete(&self, ids: &[i64]) -> sqlx::Result<()> {
        let ids = json_ids(ids);
        self.on_writer(move |writer| writer.delete(&ids)).await?;
        self.mark_deleted();
        self.checkpoint(false).await;
        Ok(())
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

    pub(crate) async fn renew(
        &self,
        owner: &str,
        ids: &[i64],
        lease: Duration,
    ) -> sqlx::Result<u64> {
        let (owner, ids) = (owner.to_owned(), json_ids(ids));
        let renewed = self
            .on_writer(move |writer| writer.renew(&owner, &ids, lease))
            .await?;
        Ok(u64::try_from(renewed).unwrap_or(0))
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

    pub(crate) async fn retry_dead_letters(&self) -> sqlx::Result<u64> {
        sqlx::query(
            "UPDATE affitor_outbox SET dead_at = NULL, attempts = 0, next_attempt_at = ?1,
                 last_error = NULL
             WHERE dead_at IS NOT NULL",
        )
        .bind(now_millis())
        .execute(&self.pool)
        .await
        .map(|done| done.rows_affected())
    }

    pub(crate) async fn purge_dead_letters(&self, older_than: Duration) -> sqlx::Result<u64> {
        let deleted =
            sqlx::query("DELETE FROM affitor_outbox WHERE dead_at IS NOT NULL AND dead_at <= ?1")
                .bind(now_millis().saturating_sub(millis(older_than)))
                .execute(&self.pool)
                .await?
                .rows_affected();
        if deleted > 0 {
            self.mark_deleted();
            self.checkpoint(true).await;
        }
        Ok(deleted)
    }

    pub(crate) async fn waiting(&self) -> sqlx::Result<u64> {
        let (count,): (i64,) = sqlx::query_as(WAITING).fetch_one(&self.pool).await?;
        Ok(u64::try_from(count).unwrap_or(0))
    }

    pub(crate) async fn remember(
        &self,
        key: &str,
        value: &str,
        keep_for: Duration,
    ) -> sqlx::Result<()> {
        sqlx::query(
            "INSERT INTO affitor_outbox_facts (key, value, expires_at) VALUES (?1, ?2, ?3)
             ON CONFLICT (key) DO UPDATE SET value = excluded.value,
                 expires_at = excluded.expires_at",
        )
        .bind(key)
        .bind(value)
        .bind(now_millis().saturating_add(millis(keep_for)))
        .execute(&self.pool)
        .await
        .map(drop)
    }

    pub(crate) async fn recall(&self, key: &str) -> sqlx::Result<Option<String>> {
        sqlx::query_scalar(
            "SELECT value FROM affitor_outbox_facts WHERE key = ?1 AND expires_at > ?2",
        )
        .bind(key)
        .bind(now_millis())
        .fetch_optional(&self.pool)
        .await
    }

    pub(crate) async fn purge_facts(&self) -> sqlx::Result<u64> {
        sqlx::query("DELETE FROM affitor_outbox_facts WHERE expires_at <= ?1")
            .bind(now_millis())
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

/// The writer's own connection to the file: synchronous, for the writer's thread, which
/// writes each batch in one transaction and answers its rows itself (see `writer.rs`), with no
/// hop to another thread and back, and runs the relay's claims, deletes and renewals between
/// batches ([`SqliteStore::on_writer`]), each a statement prepared once.
pub(crate) struct SqliteWriter {
    connection: rusqlite::Connection,
    /// The jobs sent to the thread ([`SqliteStore::on_writer`]), and those taken, not run yet.
    jobs: mpsc::UnboundedReceiver<Job>,
    taken: Vec<Job>,
    /// Rows written since the last checkpoint began.
    unchecked: usize,
    /// The thread that copies most of the WAL back into the file, beside the writer's.
    checkpointer: Checkpointer,
}

impl std::fmt::Debug for SqliteWriter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqliteWriter").finish_non_exhaustive()
    }
}

/// How many rows the writer writes between two checkpoints of the WAL: a row writes a fraction
/// of a page of the table and of the unstarted rows' index, so that the WAL holds a few
/// thousand pages at most, and a page written by several batches is copied once.
const CHECKPOINT_ROWS: usize = 8192;

impl SqliteWriter {
    /// Opens the file the pool opened (its schema in place), with the pool's settings; it
    /// waits for the other connection's write at most one enqueue timeout. Its commits never
    /// checkpoint the WAL: the writer does, between batches ([`SqliteWriter::checkpoint_if_due`]).
    fn open(
        path: &Path,
        config: &Config,
        jobs: mpsc::UnboundedReceiver<Job>,
    ) -> rusqlite::Result<Self> {
        let connection = rusqlite::Connection::open(path)?;
        connection.busy_timeout(config.enqueue_timeout)?;
        for (name, value) in SETTINGS {
            connection.pragma_update(None, name, value)?;
        }
        connection.pragma_update(None, "wal_autocheckpoint", 0)?;
        if let Some(pages) = page_limit(config) {
            connection.pragma_update(None, "max_page_count", pages)?;
        }
        let checkpointer = Checkpointer::start(path)?;
        Ok(Self {
            connection,
            jobs,
            taken: Vec::new(),
            unchecked: 0,
            checkpointer,
        })
    }

    /// Waits for rows (into `batch`, at most `limit`) or for jobs, whichever come first:
    /// `false` once both ways are closed and nothing is left (the outbox and its relay are
    /// gone), when the writer's thread ends. The rows' way closes with the outbox's last
    /// handle; a relay still delivering then is served on until it ends.
    pub(crate) fn wait<T>(
        &mut self,
        rows: &mut mpsc::Receiver<T>,
        batch: &mut Vec<T>,
        limit: usize,
    ) -> bool {
        let (jobs, taken) = (&mut self.jobs, &mut self.taken);
        block_on(std::future::poll_fn(|context| {
            // `Ready(0)`: that way is closed and empty.
            let rows = rows.poll_recv_many(context, batch, limit);
            let jobs = jobs.poll_recv_many(context, taken, JOBS_AT_ONCE);
            match (rows, jobs) {
                (Poll::Ready(0), Poll::Ready(0)) => Poll::Ready(false),
                (Poll::Ready(1..), _) | (_, Poll::Ready(1..)) => Poll::Ready(true),
                _ => Poll::Pending,
            }
        }))
    }

    /// Runs the jobs taken by [`SqliteWriter::wait`], in the order they came.
    pub(crate) fn run_jobs(&mut self) {
        let mut taken = std::mem::take(&mut self.taken);
        for job in taken.drain(..) {
            job(self);
        }
        // The vector's room, for the next ones.
        self.taken = taken;
    }

    /// Claims for `owner`, for `lease`, up to `limit` rows, in one transaction: each that is
    /// free and whose customer no earlier row read has (see [`candidate`](super::candidate)). With `everything`,
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
    ) -> rusqlite::Result<Vec<super::ClaimedRow>> {
        let now = now_millis();
        let limit = usize::try_from(limit).unwrap_or(0);
        let transaction = self
            .connection
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        let mut taken = Vec::new();
        {
            let mut customers = super::Customers::new();
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
                let first_of_customer = customers.first(row.get_ref(1)?.as_str_or_null()?);
                if first_of_customer && row.get::<_, bool>(2)? {
                    taken.push(row.get::<_, i64>(0)?);
                }
            }
        }
        let claimed = if taken.is_empty() {
            Vec::new()
        } else {
            let mut lease_them = transaction.prepare_cached(LEASE)?;
            let rows = lease_them.query_map(
                rusqlite::params![
                    owner,
                    now.saturating_add(millis(lease)),
                    now,
                    json_ids(&taken)
                ],
                |row| {
                    Ok((
                        row.get(0)?,
                        row.get(1)?,
                        row.get(2)?,
                        row.get(3)?,
                        row.get(4)?,
                        row.get(5)?,
                    ))
                },
            )?;
            rows.collect::<rusqlite::Result<Vec<_>>>()?
        };
        transaction.commit()?;
        Ok(claimed)
    }

    /// Deletes the rows of `ids` (a JSON array, [`json_ids`]).
    fn delete(&mut self, ids: &str) -> rusqlite::Result<usize> {
        self.connection
            .prepare_cached(
                "DELETE FROM affitor_outbox WHERE id IN (SELECT value FROM json_each(?1))",
            )?
            .execute([ids])
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

    /// Extends to `lease` from now the lease `owner` holds on the rows of `ids` (a JSON array,
    /// [`json_ids`]); how many.
    fn renew(&mut self, owner: &str, ids: &str, lease: Duration) -> rusqlite::Result<usize> {
        self.connection
            .prepare_cached(
                "UPDATE affitor_outbox SET lease_until = ?2
                 WHERE lease_owner = ?1 AND dead_at IS NULL
                   AND id IN (SELECT value FROM json_each(?3))",
            )?
            .execute(rusqlite::params![
                owner,
                now_millis().saturating_add(millis(lease)),
                ids
            ])
    }

    /// Copies the WAL back into the file once [`CHECKPOINT_ROWS`] were written since the last
    /// time, in two steps: the checkpointer's thread copies what the WAL holds (a passive
    /// checkpoint, on a connection of its own: it holds up no write), then this thread copies
    /// the frames written meanwhile, a few hundred pages, between two batches, so that the
    /// next batch starts the WAL over. The writer calls it after it answers a batch's rows.
    ///
    /// SQLite's own checkpoint, every 1,000 pages, would run inside the commit that crosses
    /// them, its `fsync`s in the way of every row of the batch; the writer's thread copying the
    /// whole WAL itself held up every request for the 10 to 20 ms it took, a few times a
    /// second under load. The checkpointer's thread alone never lets the WAL start over: the
    /// writer keeps adding frames while it copies, and SQLite restarts the WAL only at a write
    /// that finds every frame copied.
    pub(crate) fn checkpoint_if_due(&mut self) {
        match self.checkpointer.phase() {
            Phase::Idle if self.unchecked >= CHECKPOINT_ROWS => {
                self.unchecked = 0;
                self.checkpointer.begin();
            }
            Phase::Copied => {
                let checkpoint =
                    self.connection
                        .query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(()));
                if let Err(error) = checkpoint {
                    tracing::debug!(
                        %error,
                        "Affitor outbox WAL checkpoint failed; it runs again later"
                    );
                }
                self.checkpointer.end();
            }
            Phase::Idle | Phase::Copying => {}
        }
    }

    /// Writes `rows` in one transaction, one statement per row: with `synchronous=FULL`
    /// when one of them is money (a sale or a refund reaches the disk before the request
    /// answers), else `NORMAL` (a lead survives a crash of the process, not of the machine).
    /// An error means it was rolled back: none of the rows is in the table. With a `lease`,
    /// each offered row that nothing precedes is leased to its owner (see
    /// [`Store::line_up`](super::Store::line_up) for the answer's order).
    pub(crate) fn insert_batch(
        &mut self,
        rows: &[&NewRow],
        lease: Option<Lease<'_>>,
    ) -> sqlx::Result<Vec<Inserted>> {
        let money = rows.iter().any(|row| row.is_money());
        if money {
            self.connection
                .pragma_update(None, "synchronous", "FULL")
                .map_err(from_rusqlite)?;
        }
        let now = now_millis();
        let written = self.insert(rows, lease, now);
        if written.is_ok() {
            self.unchecked += rows.len();
        }
        // Whatever became of the reset, the batch's fate is the statement's: an error here
        // after it committed would send its rows from memory too. A connection left at FULL is
        // only slower.
        if money && let Err(error) = self.connection.pragma_update(None, "synchronous", "NORMAL") {
            tracing::warn!(
                error = %error,
                "Affitor outbox: the write connection could not go back to synchronous=NORMAL"
            );
        }
        written.map_err(from_rusqlite)
    }

    fn insert(
        &mut self,
        rows: &[&NewRow],
        lease: Option<Lease<'_>>,
        now: i64,
    ) -> rusqlite::Result<Vec<Inserted>> {
        let owner = lease.map(|lease| lease.owner);
        let until = lease.map(|lease| now.saturating_add(millis(lease.duration)));
        // Rolled back when dropped before its commit: on any error, none of the rows is in.
        let transaction = self
            .connection
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        let mut inserted = Vec::with_capacity(rows.len());
        {
            // A row offered to the relay asks whether anything precedes it; the others (every
            // row, when the relay has no room) are plain inserts, up to [`PLAIN_AT_ONCE`] in one
            // statement: each statement reads and writes `sqlite_sequence` once (the table's
            // `AUTOINCREMENT`), and its rows take the ids after the last one's, in order.
            let mut offered = transaction.prepare_cached(INSERT_ONE)?;
            let mut plain_one = transaction.prepare_cached(INSERT)?;
            let mut plain_many = transaction.prepare_cached(&INSERT_MANY)?;
            let mut rest = rows;
            while let Some((row, after)) = rest.split_first() {
                if row.offered && owner.is_some() {
                    inserted.push(offered.query_row(
                        rusqlite::params![
                            row.endpoint,
                            row.body,
                            row.transaction_id,
                            row.other_transaction_id,
                            row.customer_key,
                            row.offered,
                            now,
                            owner,
                            until,
                        ],
                        |row| {
                            Ok(Inserted {
                                id: row.get(0)?,
                                leased: row.get(1)?,
                            })
                        },
                    )?);
                    rest = after;
                    continue;
                }
                let plain = rest
                    .iter()
                    .take(PLAIN_AT_ONCE)
                    .take_while(|row| !row.offered || owner.is_none())
                    .count();
                let (these, after) = rest.split_at(plain);
                if plain == PLAIN_AT_ONCE {
                    let values: Vec<&dyn rusqlite::ToSql> = these
                        .iter()
                        .flat_map(|row| plain_values(row, &now))
                        .collect();
                    plain_many.execute(values.as_slice())?;
                } else {
                    for row in these {
                        plain_one.execute(plain_values(row, &now))?;
                    }
                }
                let last = transaction.last_insert_rowid();
                let first = last - i64::try_from(plain).unwrap_or(0) + 1;
                inserted.extend((first..=last).map(|id| Inserted { id, leased: false }));
                rest = after;
            }
        }
        transaction.commit()?;
        Ok(inserted)
    }
}

/// Where a checkpoint stands: [`SqliteWriter::checkpoint_if_due`] begins one, the
/// checkpointer's thread copies the WAL, the writer's thread copies the rest and ends it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    Idle,
    Copying,
    Copied,
}

/// The checkpointer's thread, with a connection of its own to the file: it copies the WAL back
/// into the file when the writer asks, while the writer goes on writing (see
/// [`SqliteWriter::checkpoint_if_due`]). It ends with the writer, which holds the way to it.
struct Checkpointer {
    phase: Arc<std::sync::atomic::AtomicU8>,
    asks: std::sync::mpsc::SyncSender<()>,
}

impl Checkpointer {
    fn start(path: &Path) -> rusqlite::Result<Self> {
        let connection = rusqlite::Connection::open(path)?;
        connection.pragma_update(None, "synchronous", "NORMAL")?;
        let phase = Arc::new(std::sync::atomic::AtomicU8::new(Phase::Idle as u8));
        let (asks, asked) = std::sync::mpsc::sync_channel::<()>(1);
        let copied = Arc::clone(&phase);
        // Not `affitor-outbox-…`: Linux keeps 15 bytes of a thread's name, and the writer's
        // thread (`affitor-outbox-writer`) would look the same in `top` and `perf`.
        let spawned = std::thread::Builder::new()
            .name("affitor-checkpoint".to_owned())
            .spawn(move || {
                while asked.recv().is_ok() {
                    let checkpoint =
                        connection.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(()));
                    if let Err(error) = checkpoint {
                        tracing::debug!(
                            %error,
                            "Affitor outbox WAL checkpoint failed; the writer copies the WAL"
                        );
                    }
                    copied.store(Phase::Copied as u8, std::sync::atomic::Ordering::Release);
                }
            });
        if let Err(error) = spawned {
            // The writer's thread then copies the whole WAL itself at each checkpoint.
            tracing::warn!(
                error = %error,
                "Affitor outbox: the checkpointer's thread could not start; the writer copies \
                 the WAL itself"
            );
        }
        Ok(Self { phase, asks })
    }

    fn phase(&self) -> Phase {
        match self.phase.load(std::sync::atomic::Ordering::Acquire) {
            1 => Phase::Copying,
            2 => Phase::Copied,
            _ => Phase::Idle,
        }
    }

    /// Asks the checkpointer's thread to copy the WAL; with no thread, the writer copies it
    /// all at its next look.
    fn begin(&self) {
        // Set first: the thread may be done before `try_send` returns.
        self.phase
            .store(Phase::Copying as u8, std::sync::atomic::Ordering::Release);
        if self.asks.try_send(()).is_err() {
            self.phase
                .store(Phase::Copied as u8, std::sync::atomic::Ordering::Release);
        }
    }

    fn end(&self) {
        self.phase
            .store(Phase::Idle as u8, std::sync::atomic::Ordering::Release);
    }
}

/// A SQLite error of the writer's connection, as the outbox's other errors are (sqlx's).
fn from_rusqlite(error: rusqlite::Error) -> sqlx::Error {
    sqlx::Error::Io(std::io::Error::other(error))
}

/// Writes `row` on `connection`: the writer's, or the caller's inside their transaction.
pub(crate) async fn insert(connection: &mut SqliteConnection, row: &NewRow) -> sqlx::Result<()> {
    sqlx::query(INSERT)
        .bind(row.endpoint)
        .bind(&row.body)
        .bind(row.transaction_id.as_deref())
        .bind(row.other_transaction_id.as_deref())
        .bind(row.customer_key.as_deref())
        .bind(now_millis())
        .execute(connection)
        .await
        .map(drop)
}

/// Adds the column that a table made by an earlier version lacks; a file another process
/// has just given it is left as it is.
async fn add_column(pool: &SqlitePool) -> sqlx::Result<()> {
    let (present,): (i64,) = sqlx::query_as(
        "SELECT count(*) FROM pragma_table_info('affitor_outbox')
         WHERE name = 'other_transaction_id'",
    )
    .fetch_one(pool)
    .await?;
    if present > 0 {
        return Ok(());
    }
    match sqlx::query(ADD_OTHER_TRANSACTION_ID).execute(pool).await {
        Err(error) if error.to_string().contains("duplicate column") => Ok(()),
        done => done.map(drop),
    }
}

fn now_millis() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, millis)
}

/// The values of a plain row of [`INSERT`] (and of each row of [`INSERT_MANY`]): its columns,
/// then `now`.
fn plain_values<'a>(row: &'a NewRow, now: &'a i64) -> [&'a dyn rusqlite::ToSql; 6] {
    [
        &row.endpoint,
        &row.body,
        &row.transaction_id,
        &row.other_transaction_id,
        &row.customer_key,
        now,
    ]
}

/// `ids` as one JSON array, for `json_each`: one statement whatever their number.
fn json_ids(ids: &[i64]) -> String {
    // Numbers only: serializing them cannot fail.
    serde_json::to_string(ids).unwrap_or_default()
}

/// Runs `future` on this thread until it is ready, parking the thread between polls: the
/// writer's thread waits on its two channels at once (tokio's channels need no runtime).
fn block_on<F: Future>(future: F) -> F::Output {
    struct Unpark(std::thread::Thread);
    impl Wake for Unpark {
        fn wake(self: Arc<Self>) {
            self.0.unpark();
        }
        fn wake_by_ref(self: &Arc<Self>) {
            self.0.unpark();
        }
    }
    let waker = Waker::from(Arc::new(Unpark(std::thread::current())));
    let mut context = Context::from_waker(&waker);
    let mut future = std::pin::pin!(future);
    loop {
        if let Poll::Ready(output) = future.as_mut().poll(&mut context) {
            return output;
        }
        std::thread::park();
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)] // a test fails loudly on purpose

    use super::*;

    /// The lease of the relay `relay_a`.
    const RELAY_A: Lease<'static> = Lease {
        owner: "relay_a",
        duration: Duration::from_secs(15),
    };

    /// A new store in a folder of its own under the temp dir (`test` names it), and its
    /// writer's connection.
    async fn new_store(test: &str) -> (std::path::PathBuf, SqliteStore, SqliteWriter) {
        let folder = std::env::temp_dir().join(format!(
            "affitor-outbox-unit-{test}-{}-{}",
            std::process::id(),
            now_millis()
        ));
        let store = SqliteStore::open(&folder.join("outbox.db"), &Config::default())
            .await
            .unwrap();
        let writer = store.take_writer().unwrap();
        (folder, store, writer)
    }

    /// A lead of `customer` as the writer gets it, offered to the relay or not.
    fn lead(customer: &str, offered: bool) -> NewRow {
        NewRow {
            offered,
            endpoint: "lead",
            body: format!("{{\"customer_key\":\"{customer}\"}}"),
            transaction_id: None,
            other_transaction_id: None,
            customer_key: Some(customer.to_owned()),
        }
    }

    /// The ids a batch answers are the ids its rows were written under, in the batch's order,
    /// however its offered and plain rows alternate (plain rows go up to eight in one
    /// statement), and each leased row is the one the store leased: the relay deletes by these
    /// ids what it delivered.
    #[tokio::test]
    async fn a_batch_answers_the_id_and_lease_of_each_of_its_rows() {
        let (folder, store, mut writer) = new_store("ids").await;
        // 2 offered (leased: nothing waits before them), 11 plain (8 + 3), 1 offered (not
        // leased: rows wait unstarted before it), then 9 plain (8 + 1).
        let rows: Vec<NewRow> = (0..23)
            .map(|n| lead(&format!("user_{n}"), matches!(n, 0 | 1 | 13)))
            .collect();
        let batch: Vec<&NewRow> = rows.iter().collect();
        let inserted = writer.insert_batch(&batch, Some(RELAY_A)).unwrap();

        let written: Vec<(i64, String, Option<String>)> =
            sqlx::query_as("SELECT id, body, lease_owner FROM affitor_outbox ORDER BY id")
                .fetch_all(&store.pool)
                .await
                .unwrap();
        assert_eq!(written.len(), rows.len());
        for ((row, answer), (id, body, owner)) in rows.iter().zip(&inserted).zip(&written) {
            assert_eq!((answer.id, &row.body), (*id, body));
            assert_eq!(
                answer.leased,
                owner.as_deref() == Some("relay_a"),
                "row {id}"
            );
        }
        let leased: Vec<bool> = inserted.iter().map(|row| row.leased).collect();
        assert_eq!(leased, (0..23).map(|n| n < 2).collect::<Vec<_>>());
        let _ = std::fs::remove_dir_all(folder);
    }

    /// The writer releases the rows it leased to a relay that stopped meanwhile: those of `ids`
    /// that the relay holds, and no other relay's.
    #[tokio::test]
    async fn the_writer_releases_only_the_named_rows_of_the_named_relay() {
        let (folder, store, mut writer) = new_store("release").await;
        let rows: Vec<NewRow> = (0..3).map(|n| lead(&format!("user_{n}"), true)).collect();
        let batch: Vec<&NewRow> = rows.iter().collect();
        let inserted = writer.insert_batch(&batch, Some(RELAY_A)).unwrap();
        let ids: Vec<i64> = inserted.iter().map(|row| row.id).collect();
        assert_eq!(writer.release_rows("relay_b", &ids).unwrap(), 0);
        assert_eq!(writer.release_rows("relay_a", &ids[..2]).unwrap(), 2);
        let leases: Vec<(Option<String>, Option<i64>)> =
            sqlx::query_as("SELECT lease_owner, lease_until FROM affitor_outbox ORDER BY id")
                .fetch_all(&store.pool)
                .await
                .unwrap();
        assert_eq!(leases[0], (None, None));
        assert_eq!(leases[1], (None, None));
        assert_eq!(leases[2].0.as_deref(), Some("relay_a"));
        let _ = std::fs::remove_dir_all(folder);
    }
}
