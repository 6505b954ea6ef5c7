//! The writer's connection, on the outbox's writer thread (`crate::writer`): new rows in
//! batches, one transaction each, and the jobs the store sends it between two batches.

use std::future::Future;
use std::path::Path;
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};
use std::time::Duration;

use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::purge::Checkpointer;
use super::{Job, now_millis, schema};
use crate::config::Config;
use crate::store::{Inserted, Lease, NewRow, StoreError, millis};

/// The most jobs the writer's thread takes between two batches.
const JOBS_AT_ONCE: usize = 64;

/// A row written as it is: by the writer when it is not offered to the relay, or in the
/// caller's own transaction ([`insert`]).
const INSERT: &str = "
INSERT INTO affitor_outbox (endpoint, body, transaction_id, other_transaction_id, customer_key,
    click_id_source, delivery_key, next_attempt_at, created_at)
VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?8)";

/// How many rows not offered to the relay one statement writes ([`INSERT_MANY`]).
const PLAIN_AT_ONCE: usize = 8;

/// [`PLAIN_AT_ONCE`] rows of [`INSERT`], in one statement: `?8n+1`–`?8n+7` the columns of the
/// n-th row, `?8n+8` its time.
static INSERT_MANY: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
    let values: Vec<String> = (0..PLAIN_AT_ONCE)
        .map(|n| {
            let p = 8 * n;
            let columns: Vec<String> = (1..=8).map(|k| format!("?{}", p + k)).collect();
            format!("({}, ?{})", columns.join(", "), p + 8)
        })
        .collect();
    format!(
        "INSERT INTO affitor_outbox (endpoint, body, transaction_id, other_transaction_id, \
         customer_key, click_id_source, delivery_key, next_attempt_at, created_at) VALUES {}",
        values.join(", ")
    )
});

/// The customer's half of the condition under which an offered row `b` is leased as it is
/// written (the other half is [`transaction_free`](crate::store::transaction_free)): none of
/// the customer's rows has started, and no row at all waits unstarted, since the unstarted
/// rows are not indexed by customer (a random key's index cost every row of a batch a WAL page
/// of its own) and any of them may be the customer's: the first entry of their index answers.
/// SQLite removes a row's entries with the row, so that walk never passes entries of rows
/// that are gone (Postgres keeps them while an old snapshot may see the rows: its store looks
/// the customer up by key instead).
macro_rules! customer_free {
    () => {
        "(b.customer_key IS NULL OR (NOT EXISTS (
             SELECT 1 FROM affitor_outbox e
             WHERE e.customer_key = b.customer_key AND e.dead_at IS NULL
               AND (e.lease_until IS NOT NULL OR e.attempts > 0))
           AND NOT EXISTS (
             SELECT 1 FROM affitor_outbox e INDEXED BY affitor_outbox_unstarted
             WHERE e.dead_at IS NULL AND e.lease_until IS NULL AND e.attempts = 0)))"
    };
}

/// One row of a batch: the writer runs it once per row, in one transaction per batch (on its
/// own thread, a row costs a call into SQLite, not a round trip). `?1`–`?7` are the row's
/// columns, `?8` whether it is offered to the relay, `?9` the time, `?10` and `?11` the lease an
/// offered row takes when nothing precedes it (NULL: none). A row sees the rows written before
/// it in its batch; the writer offers none that shares a key with an earlier one anyway.
const INSERT_ONE: &str = concat!(
    "
INSERT INTO affitor_outbox (endpoint, body, transaction_id, other_transaction_id, customer_key,
    click_id_source, delivery_key, next_attempt_at, created_at, lease_owner, lease_until)
SELECT endpoint, body, transaction_id, other_transaction_id, customer_key, click_id_source,
    delivery_key, ?9, ?9, CASE WHEN leased THEN ?10 END, CASE WHEN leased THEN ?11 END
FROM (SELECT b.*, ?10 IS NOT NULL AND b.offered AND ",
    crate::store::transaction_free!(""),
    "
         AND ",
    customer_free!(),
    " AS leased
    FROM (SELECT ?1 AS endpoint, ?2 AS body, ?3 AS transaction_id,
        ?4 AS other_transaction_id, ?5 AS customer_key, ?6 AS click_id_source,
        ?7 AS delivery_key, ?8 AS offered) b)
RETURNING id, lease_owner IS NOT NULL"
);

/// The writer's page cache, in KiB (SQLite's default is 2,000), so that a large backlog's
/// indexes stay in memory. Pages are allocated as they are read: a small outbox stays far
/// below it.
const CACHE_KIB: i64 = 32 * 1024;

/// The writer's own connection to the file: synchronous, for the writer's thread, which
/// writes each batch in one transaction and answers its rows itself (see `crate::writer`), with
/// no hop to another thread and back, and runs the store's other writes between batches
/// ([`SqliteStore::on_writer`](super::SqliteStore::on_writer)), each a statement prepared once.
pub(crate) struct SqliteWriter {
    pub(super) connection: rusqlite::Connection,
    /// The jobs sent to the thread ([`SqliteStore::on_writer`](super::SqliteStore::on_writer)),
    /// and those taken, not run yet.
    jobs: mpsc::UnboundedReceiver<Job>,
    taken: Vec<Job>,
    /// How long a batch waits for another connection's write: one enqueue timeout.
    batch_wait: Duration,
    /// Whether a batch or a job (a claim, a delete, a renewal) wrote since the WAL's size was
    /// last looked at.
    pub(super) wrote: bool,
    /// The WAL's path (the file's, and `-wal`): its size says when to checkpoint.
    pub(super) wal: std::path::PathBuf,
    /// The thread that copies most of the WAL back into the file, beside the writer's.
    pub(super) checkpointer: Checkpointer,
}

impl std::fmt::Debug for SqliteWriter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqliteWriter").finish_non_exhaustive()
    }
}

impl SqliteWriter {
    /// Opens the file the reader opened (its schema in place), with the same settings; a batch
    /// waits for another connection's write at most one enqueue timeout. Its commits never
    /// checkpoint the WAL: the writer does, between batches
    /// ([`SqliteWriter::checkpoint_if_due`]), and the store after deletes.
    pub(super) fn open(
        path: &Path,
        config: &Config,
        jobs: mpsc::UnboundedReceiver<Job>,
    ) -> rusqlite::Result<Self> {
        let connection = schema::connect(path, config, config.enqueue_timeout)?;
        connection.pragma_update(None, "wal_autocheckpoint", 0)?;
        // The WAL file is cut to what it holds when this connection starts it over: its size
        // is what it holds (`checkpoint_if_due`).
        connection.pragma_update(None, "journal_size_limit", 0)?;
        connection.pragma_update(None, "cache_size", -CACHE_KIB)?;
        let checkpointer = Checkpointer::start(path)?;
        Ok(Self {
            connection,
            jobs,
            taken: Vec::new(),
            batch_wait: config.enqueue_timeout,
            wrote: false,
            wal: {
                let mut wal = path.as_os_str().to_owned();
                wal.push("-wal");
                wal.into()
            },
            checkpointer,
        })
    }

    /// Waits for rows (into `batch`, at most `limit`) or for jobs, whichever come first:
    /// `false` once both ways are closed and nothing is left (the outbox and its relay are
    /// gone, or `stop` was asked), when the writer's thread ends. The rows' way closes with the
    /// outbox's last handle; a relay still delivering then is served on until it ends. At
    /// `stop` (`shutdown`, after the relay's), both close at once, what they hold still taken.
    pub(crate) fn wait<T>(
        &mut self,
        rows: &mut mpsc::Receiver<T>,
        batch: &mut Vec<T>,
        limit: usize,
        stop: &CancellationToken,
    ) -> bool {
        let (jobs, taken) = (&mut self.jobs, &mut self.taken);
        let mut stopped = std::pin::pin!(stop.cancelled());
        block_on(std::future::poll_fn(|context| {
            if stopped.as_mut().poll(context).is_ready() {
                rows.close();
                jobs.close();
            }
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

    /// Runs the jobs taken by [`SqliteWriter::wait`], in the order they came. They wait for
    /// another connection's write (the probe's checkpoint, another process) as the reader's do,
    /// not one enqueue timeout as a batch does: a delete that gave up sent its rows again at
    /// lease end.
    pub(crate) fn run_jobs(&mut self) {
        if self.taken.is_empty() {
            return;
        }
        self.wait_for_others(schema::BUSY_TIMEOUT);
        let mut taken = std::mem::take(&mut self.taken);
        for job in taken.drain(..) {
            job(self);
        }
        // The vector's room, for the next ones.
        self.taken = taken;
        self.wait_for_others(self.batch_wait);
    }

    /// Sets how long this connection's statements wait for another connection's write.
    fn wait_for_others(&self, wait: Duration) {
        // It fails only on a closed connection, whose next statement says so anyway.
        let _ = self.connection.busy_timeout(wait);
    }

    /// Writes `rows` in one transaction, one statement per row: with `synchronous=FULL`
    /// when one of them is money (a sale or a refund reaches the disk before the request
    /// answers), else `NORMAL` (a lead survives a crash of the process, not of the machine).
    /// It waits for another connection's write at most `wait` (and one enqueue timeout).
    /// An error means it was rolled back: none of the rows is in the table. With a `lease`,
    /// each offered row that nothing precedes is leased to its owner (see
    /// [`Store::line_up`](crate::store::Store::line_up) for the answer's order).
    pub(crate) fn insert_batch(
        &mut self,
        rows: &[&NewRow],
        lease: Option<Lease<'_>>,
        wait: Duration,
    ) -> Result<Vec<Inserted>, StoreError> {
        let money = rows.iter().any(|row| row.is_money());
        if money {
            self.connection.pragma_update(None, "synchronous", "FULL")?;
        }
        let now = now_millis();
        self.wait_for_others(wait.min(self.batch_wait));
        let written = self.insert(rows, lease, now);
        self.wait_for_others(self.batch_wait);
        if written.is_ok() {
            self.wrote = true;
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
        Ok(written?)
    }

    fn insert(
        &mut self,
        rows: &[&NewRow],
        lease: Option<Lease<'_>>,
        now: i64,
    ) -> rusqlite::Result<Vec<Inserted>> {
        let lease = lease.map(|lease| (lease.owner, now.saturating_add(millis(lease.duration))));
        // Rolled back when dropped before its commit: on any error, none of the rows is in.
        let transaction = self
            .connection
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        let inserted = write_rows(&transaction, rows, lease, now)?;
        // The facts the rows came with: in their transaction, all of them or none. And a
        // sale's waiting refunds go behind it now, not after their backoff.
        for row in rows.iter().filter(|row| !row.facts.is_empty()) {
            super::facts::keep(&transaction, &row.facts, now)?;
        }
        let sales = rows
            .iter()
            .filter(|row| row.endpoint == "sale")
            .filter_map(|row| row.transaction_id.as_deref());
        super::facts::wake_refunds(&transaction, sales, now)?;
        transaction.commit()?;
        Ok(inserted)
    }
}

/// Writes `rows` in `transaction`, in their order, and answers how each was written. A row
/// offered to the relay (when there is a `lease`: its owner, and until when) asks whether
/// anything precedes it; the others are plain inserts, up to [`PLAIN_AT_ONCE`] in one
/// statement: each statement reads and writes `sqlite_sequence` once (the table's
/// `AUTOINCREMENT`), and its rows take the ids after the last one's, in order.
fn write_rows(
    transaction: &rusqlite::Transaction<'_>,
    rows: &[&NewRow],
    lease: Option<(&str, i64)>,
    now: i64,
) -> rusqlite::Result<Vec<Inserted>> {
    let (owner, until) = (lease.map(|(owner, _)| owner), lease.map(|(_, until)| until));
    let mut offered = transaction.prepare_cached(INSERT_ONE)?;
    let mut plain_one = transaction.prepare_cached(INSERT)?;
    let mut plain_many = transaction.prepare_cached(&INSERT_MANY)?;
    let mut inserted = Vec::with_capacity(rows.len());
    let mut rest = rows;
    while let Some((row, after)) = rest.split_first() {
        if row.offered && owner.is_some() {
            let columns = rusqlite::params![
                row.endpoint,
                row.body,
                row.transaction_id,
                row.other_transaction_id,
                row.customer_key,
                row.click_id_source,
                row.facts.delivery,
                row.offered,
                now,
                owner,
                until,
            ];
            inserted.push(offered.query_row(columns, |row| {
                Ok(Inserted {
                    id: row.get(0)?,
                    leased: row.get(1)?,
                })
            })?);
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
    Ok(inserted)
}

/// Writes `row` on `connection`: the caller's, inside their transaction.
pub(crate) fn insert(connection: &rusqlite::Connection, row: &NewRow) -> rusqlite::Result<()> {
    connection
        .prepare_cached(INSERT)?
        .execute(plain_values(row, &now_millis()))
        .map(drop)
}

/// The values of a plain row of [`INSERT`] (and of each row of [`INSERT_MANY`]): its columns,
/// then `now`.
fn plain_values<'a>(row: &'a NewRow, now: &'a i64) -> [&'a dyn rusqlite::ToSql; 8] {
    [
        &row.endpoint,
        &row.body,
        &row.transaction_id,
        &row.other_transaction_id,
        &row.customer_key,
        &row.click_id_source,
        &row.facts.delivery,
        now,
    ]
}

/// Runs `future` on this thread until it is ready, parking the thread between polls: the
/// writer's thread waits on its two channels at once (tokio's channels need no runtime).
fn block_on<F: Future>(future: F) -> F::Output {
    struct Unpark(std::thread::Thread);
    impl Wake for Unpark {
        fn wake(self: Arc<Self>) {
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
