//! The embedded store: a SQLite file, in WAL mode, through rusqlite alone.
//!
//! Times are the process's clock in Unix milliseconds. SQLite lets one writer at a time, so a
//! claim (an `UPDATE … RETURNING`) is atomic across the processes that share the file; a row is
//! never claimed by two relays while its lease lasts.
//!
//! Three connections to the file, each on a thread of its own:
//!
//! - the writer's ([`SqliteWriter`], `writer.rs`), on the outbox's writer thread: new rows in
//!   batches, one transaction per batch, and between two batches every other write, sent to it
//!   as a job ([`SqliteStore::on_writer`]): the relay's claims, deletes, renewals, reschedules
//!   and burials (`claims.rs`), the dead letters' retry and purge (`purge.rs`; once the thread
//!   has ended, on the reader's connection), the facts (`facts.rs`). SQLite takes one write at a time: on one connection, each waits exactly as
//!   long as the other runs;
//! - the reader's, for what only reads (the rows waiting, the dead letters, the facts a webhook
//!   recalls) and the check at open, on tokio's blocking threads ([`SqliteStore::on_reader`]):
//!   a read in WAL mode never waits for a write, so a request's read is not queued behind the
//!   writer's group commit;
//! - the checkpointer's (`purge.rs`), which copies the WAL back into the file beside the
//!   writer, and empties it after deletes, so that a delivered row's email does not stay there.
//!
//! The tables and the settings of every connection are in `schema.rs`.

mod backlog;
mod claims;
mod facts;
mod journal;
mod purge;
mod schema;
mod writer;

#[cfg(test)]
pub(super) mod tests;

use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use tokio::sync::{mpsc, oneshot};

use super::{StoreError, now_millis};
use crate::config::Config;
use crate::sync::lock;

pub(crate) use writer::{SqliteWriter, insert};

/// Work for the writer's thread besides its batches, run on its connection between two of them.
type Job = Box<dyn FnOnce(&mut SqliteWriter) + Send>;

/// A row written and rolled back when the outbox opens: the check that it can write, and that
/// the table has this outbox's columns.
const PROBE: &str = "
INSERT INTO affitor_outbox (endpoint, body, transaction_id, other_transaction_id,
    customer_key, click_id_source, delivery_key, attempts, next_attempt_at, lease_owner,
    lease_until, dead_at, last_error, created_at)
VALUES ('probe', '', NULL, NULL, NULL, NULL, NULL, 0, 0, NULL, NULL, NULL, NULL, 0)";

/// A SQLite file holding the `affitor_outbox` table.
#[derive(Debug)]
pub(crate) struct SqliteStore {
    /// The way to the writer's thread, for [`SqliteStore::on_writer`].
    jobs: mpsc::UnboundedSender<Job>,
    /// The writer's own connection, until the writer's thread takes it
    /// ([`SqliteStore::take_writer`]).
    writer: Mutex<Option<SqliteWriter>>,
    /// The connection for reads, used on tokio's blocking threads ([`SqliteStore::on_reader`]).
    reader: Arc<Mutex<rusqlite::Connection>>,
    /// Whether a probe's work is still running on the reader's connection, its caller gone
    /// perhaps (the probe's deadline is shorter than the busy timeout).
    probing: Arc<AtomicBool>,
    /// Whether deleted rows may still be in the WAL, and the way to empty it.
    logs: purge::Logs,
}

impl SqliteStore {
    /// What the file at `path` lacks of this version's tables, read on a blocking thread
    /// without changing anything: `None` when they are current, else what is wrong and what to
    /// do. An outbox opened with `migrate(false)` asks before it opens the file.
    pub(crate) async fn behind(path: &Path) -> Result<Option<String>, StoreError> {
        let path = path.to_owned();
        tokio::task::spawn_blocking(move || schema::behind(&path))
            .await
            .map_err(|_| StoreError::Stopped)?
            .map_err(StoreError::from)
    }

    /// Opens (creating when missing, private to its owner) the file at `path`, its folder and
    /// its tables (unless `migrate(false)`: then they were found current), on a blocking
    /// thread.
    pub(crate) async fn open(path: &Path, config: &Config) -> Result<Self, StoreError> {
        let (path, config) = (path.to_owned(), config.clone());
        tokio::task::spawn_blocking(move || Self::open_here(&path, &config))
            .await
            .map_err(|_| StoreError::Stopped)?
    }

    fn open_here(path: &Path, config: &Config) -> Result<Self, StoreError> {
        if let Some(folder) = path
            .parent()
            .filter(|folder| !folder.as_os_str().is_empty())
        {
            std::fs::create_dir_all(folder)?;
        }
        schema::create_private(path)?;
        let reader = schema::connect(path, config, schema::BUSY_TIMEOUT)?;
        if config.migrate {
            schema::create_tables(&reader)?;
        }
        let (jobs, queued) = mpsc::unbounded_channel();
        let writer = SqliteWriter::open(path, config, queued)?;
        let logs = purge::Logs::new(writer.checkpointer.asks());
        Ok(Self {
            jobs,
            writer: Mutex::new(Some(writer)),
            reader: Arc::new(Mutex::new(reader)),
            probing: Arc::default(),
            logs,
        })
    }

    /// The writer's connection, for the writer's thread: `None` once taken.
    pub(crate) fn take_writer(&self) -> Option<SqliteWriter> {
        lock(&self.writer).take()
    }

    /// Checks that the outbox can write here: the WAL emptied into the file, then a row
    /// written and rolled back (on the reader's connection: the writer's thread has not
    /// started yet, or the outbox is degraded). After a full disk, the WAL filled it: it is
    /// emptied before any write is let through again, or it would fill it again. One at a
    /// time: while the last probe's work runs (a lock another process holds, waited for up to
    /// the busy timeout), a probe answers at once that the store did not answer in time, rather
    /// than queue a blocking thread behind it each time.
    pub(crate) async fn probe(&self) -> Result<(), StoreError> {
        if self.probing.swap(true, Ordering::AcqRel) {
            return Err(StoreError::TimedOut);
        }
        let probing = Probing(Arc::clone(&self.probing));
        self.on_reader(move |connection| {
            let _probing = probing;
            purge::empty_wal(connection)?;
            let transaction = connection.unchecked_transaction()?;
            transaction.execute(PROBE, [])?;
            transaction.rollback()
        })
        .await
    }

    /// Writes `row` alone on the reader's connection (the writer's thread has ended).
    pub(crate) async fn insert_alone(&self, row: crate::store::NewRow) -> Result<(), StoreError> {
        self.on_reader(move |connection| insert(connection, &row))
            .await
    }

    /// The live rows, counted in the two indexes that hold them between them (every live row
    /// has started or not), each smaller than the table.
    pub(crate) async fn waiting(&self) -> Result<u64, StoreError> {
        self.on_reader(|connection| {
            connection
                .prepare_cached(
                    "SELECT (SELECT count(*) FROM affitor_outbox INDEXED BY affitor_outbox_unstarted
                        WHERE dead_at IS NULL AND lease_until IS NULL AND attempts = 0)
                     + (SELECT count(*) FROM affitor_outbox INDEXED BY affitor_outbox_started
                        WHERE dead_at IS NULL AND (lease_until IS NOT NULL OR attempts > 0))",
                )?
                .query_row([], |row| row.get::<_, i64>(0))
        })
        .await
        .map(|count| u64::try_from(count).unwrap_or(0))
    }

    /// Runs `job` on the writer's thread and connection, between two of its batches: every
    /// write but the batches themselves, each a write SQLite lets one connection make at a
    /// time.
    ///
    /// On a connection of their own, the relay's writes and the writer's batches slept in
    /// SQLite's busy handler whenever they met, and each emptied the other's page cache; on
    /// one, each waits exactly as long as the other runs, and the cache stays warm.
    async fn on_writer<T: Send + 'static>(
        &self,
        job: impl FnOnce(&mut SqliteWriter) -> rusqlite::Result<T> + Send + 'static,
    ) -> Result<T, StoreError> {
        let (answer, answered) = oneshot::channel();
        // Either fails only once the writer's thread has ended: its receiver went with it.
        self.jobs
            .send(Box::new(move |writer: &mut SqliteWriter| {
                let _ = answer.send(job(writer));
                // A job's writes (a delete above all) grow the WAL as a batch's do.
                writer.wrote = true;
            }))
            .map_err(|_| StoreError::Stopped)?;
        Ok(answered.await.map_err(|_| StoreError::Stopped)??)
    }

    /// Runs a person's `write` (a dead letter's retry, their purge) on the writer's thread
    /// while it runs, and on the reader's connection once it has ended: an outbox shut down
    /// still answers them, as the CLI's `outbox retry` and `purge` need.
    async fn on_writer_or_alone<T: Send + 'static>(
        &self,
        write: impl FnOnce(&rusqlite::Connection) -> rusqlite::Result<T> + Send + 'static,
    ) -> Result<T, StoreError> {
        // Taken by the connection that runs it: still here if the writer's thread never did.
        let slot = Arc::new(Mutex::new(Some(write)));
        let on_thread = Arc::clone(&slot);
        let written = self
            .on_writer(move |writer| {
                let write = lock(&on_thread).take();
                write.map(|write| write(&writer.connection)).transpose()
            })
            .await;
        match written {
            Ok(Some(done)) => Ok(done),
            Ok(None) | Err(StoreError::Stopped) => {
                let write = lock(&slot).take();
                match write {
                    Some(write) => self.on_reader(write).await,
                    None => Err(StoreError::Stopped),
                }
            }
            Err(error) => Err(error),
        }
    }

    /// Runs `read` on the reader's connection, on one of tokio's blocking threads: a read in
    /// WAL mode waits for no write, so it is not queued behind the writer's batches.
    async fn on_reader<T: Send + 'static>(
        &self,
        read: impl FnOnce(&rusqlite::Connection) -> rusqlite::Result<T> + Send + 'static,
    ) -> Result<T, StoreError> {
        let reader = Arc::clone(&self.reader);
        let read = tokio::task::spawn_blocking(move || read(&lock(&reader)));
        Ok(read.await.map_err(|_| StoreError::Stopped)??)
    }
}

/// A probe's work under way: ends with it, however it ends.
struct Probing(Arc<AtomicBool>);

impl Drop for Probing {
    fn drop(&mut self) {
        self.0.store(false, Ordering::Release);
    }
}

/// `ids` as one JSON array, for `json_each`: one statement whatever their number.
fn json_ids(ids: &[i64]) -> String {
    // Numbers only: serializing them cannot fail.
    serde_json::to_string(ids).unwrap_or_default()
}
