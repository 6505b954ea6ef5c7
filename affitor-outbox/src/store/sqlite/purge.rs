//! What is deleted, and what deleted rows leave behind: the dead letters (listed, retried,
//! purged), and the WAL, copied back into the file beside the writer and emptied after deletes.
//!
//! Every connection that deletes overwrites what it deletes (`secure_delete`, `schema.rs`), in
//! the row's page and in the pages it frees; but the WAL keeps the pages as each write left
//! them, the rows' emails with them, until it is checkpointed and emptied. After the relay's
//! deletes, the checkpointer's thread empties it (`wal_checkpoint(TRUNCATE)`): at most every
//! 5 s while rows are being sent, within a second once the relay is idle, and at once when it
//! stops or dead letters are purged ([`SqliteStore::checkpoint`]).

use std::path::Path;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::mpsc::{SyncSender, TrySendError};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::oneshot;

use super::{SqliteStore, SqliteWriter, now_millis};
use crate::store::{DeadLetter, StoreError, millis};
use crate::sync::lock;

/// How large the WAL grows before the writer copies it back into the file (SQLite's own
/// default, 1,000 pages of 4 KiB, about the same). Measured, not counted in rows: a batch of
/// one row writes whole pages of the table and its indexes, 4 to 20 KiB a row, so that 8,192
/// rows made a WAL of up to 160 MB, which filled a small disk by itself, and then, the disk
/// full, no checkpoint came to empty it.
const CHECKPOINT_BYTES: u64 = 4 * 1024 * 1024;

impl SqliteStore {
    pub(crate) async fn dead_letters(&self) -> Result<Vec<DeadLetter>, StoreError> {
        self.on_reader(|connection| {
            let mut letters = connection.prepare_cached(
                "SELECT id, endpoint, transaction_id, attempts, last_error FROM affitor_outbox
                 WHERE dead_at IS NOT NULL ORDER BY id",
            )?;
            let rows = letters.query_map([], |row| row.try_into().map(DeadLetter::from_row))?;
            rows.collect()
        })
        .await
    }

    pub(crate) async fn retry_dead_letters(&self) -> Result<u64, StoreError> {
        let retried = self
            .on_writer_or_alone(|connection| {
                connection.execute(
                    "UPDATE affitor_outbox SET dead_at = NULL, attempts = 0, next_attempt_at = ?1
                     WHERE dead_at IS NOT NULL",
                    [now_millis()],
                )
            })
            .await?;
        Ok(u64::try_from(retried).unwrap_or(0))
    }

    /// Deletes the dead letters given up on at least `older_than` ago, then empties the WAL at
    /// once: what they held (customers' emails) leaves the file's logs too.
    pub(crate) async fn purge_dead_letters(&self, older_than: Duration) -> Result<u64, StoreError> {
        let before = now_millis().saturating_sub(millis(older_than));
        let deleted = self
            .on_writer_or_alone(move |connection| {
                connection.execute(
                    "DELETE FROM affitor_outbox WHERE dead_at IS NOT NULL AND dead_at <= ?1",
                    [before],
                )
            })
            .await?;
        if deleted > 0 {
            self.logs.deleted();
            self.checkpoint(Duration::ZERO).await;
        }
        Ok(u64::try_from(deleted).unwrap_or(0))
    }

    /// Empties the WAL into the file when rows were deleted since the last time, at most every
    /// `every` (`ZERO`: now, tried a few times): what a deleted row held does not stay readable
    /// in the WAL. A checkpoint that could not finish (a connection was reading an older
    /// snapshot) runs again next time.
    pub(crate) async fn checkpoint(&self, every: Duration) {
        if !self.logs.due(every) {
            return;
        }
        let tries = if every.is_zero() { 3 } else { 1 };
        for tried in 1..=tries {
            match self.empty_wal().await {
                Ok(true) => return,
                Ok(false) if tried < tries => tokio::time::sleep(EMPTY_WAIT).await,
                Ok(false) => {
                    tracing::debug!(
                        "Affitor outbox WAL checkpoint could not finish; it runs again"
                    );
                }
                Err(error) => {
                    tracing::debug!(%error, "Affitor outbox WAL checkpoint failed; it runs again");
                    break;
                }
            }
        }
        self.logs.deleted();
    }

    /// Asks the checkpointer's thread to empty the WAL: whether it did.
    async fn empty_wal(&self) -> Result<bool, StoreError> {
        let (answer, answered) = oneshot::channel();
        match self.logs.checkpointer.try_send(Ask::Empty(answer)) {
            Ok(()) => Ok(answered.await.map_err(|_| StoreError::Stopped)??),
            // The checkpointer is busy with the writer's question: next time.
            Err(TrySendError::Full(_)) => Ok(false),
            // No checkpointer's thread: the reader's connection does it.
            Err(TrySendError::Disconnected(_)) => self.on_reader(empty_wal).await,
        }
    }
}

/// Whether deleted rows may still be in the WAL, when it was last emptied, and the way to the
/// checkpointer's thread that empties it.
#[derive(Debug)]
pub(super) struct Logs {
    state: Mutex<(bool, Instant)>,
    checkpointer: SyncSender<Ask>,
}

impl Logs {
    pub(super) fn new(checkpointer: SyncSender<Ask>) -> Self {
        Self {
            state: Mutex::new((false, Instant::now())),
            checkpointer,
        }
    }

    /// Rows were deleted: the WAL may hold what they held.
    pub(super) fn deleted(&self) {
        lock(&self.state).0 = true;
    }

    /// Whether the WAL is to be emptied now (rows were deleted, and it was last emptied at least
    /// `every` ago); if so, it is taken as emptied.
    fn due(&self, every: Duration) -> bool {
        let mut state = lock(&self.state);
        let (dirty, last) = *state;
        if !dirty || last.elapsed() < every {
            return false;
        }
        *state = (false, Instant::now());
        true
    }
}

/// How long the checkpointer waits to empty the WAL: for the writer's batch under way, then for
/// the readers of an older snapshot, holding new writes back meanwhile (SQLite's `TRUNCATE`).
/// Short, so that a long read never holds the writer's batches up: a checkpoint that could not
/// finish runs again at the relay's next deletes, or once it is idle.
const EMPTY_WAIT: Duration = Duration::from_millis(250);

/// Copies the whole WAL into the file and empties it (`TRUNCATE`: the WAL file is left with no
/// byte): `false` when it could not finish, a connection still reading a snapshot that needs it.
pub(super) fn empty_wal(connection: &rusqlite::Connection) -> rusqlite::Result<bool> {
    connection.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |row| {
        row.get::<_, i64>(0).map(|busy| busy == 0)
    })
}

/// A question for the checkpointer's thread.
#[derive(Debug)]
pub(super) enum Ask {
    /// The writer's: copy what the WAL holds, beside the writer ([`SqliteWriter::checkpoint_if_due`]).
    Copy,
    /// The store's, after deletes: empty the WAL ([`SqliteStore::checkpoint`]), and answer
    /// whether it is empty.
    Empty(oneshot::Sender<rusqlite::Result<bool>>),
    /// The writer's, as it ends: the thread ends too.
    Stop,
}

impl SqliteWriter {
    /// Copies the WAL back into the file once it holds [`CHECKPOINT_BYTES`] or more, in two
    /// steps: the checkpointer's thread copies what the WAL holds (a passive
    /// checkpoint, on a connection of its own: it holds up no write), then this thread copies
    /// the frames written meanwhile, a few hundred pages, between two batches, so that the
    /// next batch starts the WAL over. The writer calls it after it answers a batch's rows.
    ///
    /// SQLite's own checkpoint would run inside a commit, its `fsync`s in the way of every row
    /// of the batch, and the writer's thread copying the whole WAL would hold every request up
    /// while it copies. The checkpointer's thread alone never lets the WAL start over: SQLite
    /// restarts it only at a write that finds every frame copied.
    pub(crate) fn checkpoint_if_due(&mut self) {
        match self.checkpointer.phase() {
            Phase::Idle if self.wal_is_large() => self.checkpointer.begin(),
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

    /// Whether the WAL holds [`CHECKPOINT_BYTES`] or more. The writer's connection truncates
    /// the WAL file when it starts it over (`journal_size_limit = 0`), so that its size is
    /// what it holds; a WAL started over by another connection (an app's `enqueue_in`) keeps
    /// its size until the writer's next checkpoint, which comes sooner, not later.
    fn wal_is_large(&mut self) -> bool {
        if !std::mem::take(&mut self.wrote) {
            return false;
        }
        std::fs::metadata(&self.wal).is_ok_and(|wal| wal.len() >= CHECKPOINT_BYTES)
    }

    /// The writer's thread ends: the checkpointer's thread ends (its copy under way done), then
    /// the WAL is emptied into the file (nothing writes any more), and the connection closes.
    pub(crate) fn close(mut self) {
        self.checkpointer.stop();
        match empty_wal(&self.connection) {
            Ok(true) => {}
            Ok(false) => tracing::debug!("Affitor outbox WAL left as it is: a read holds it"),
            Err(error) => tracing::debug!(%error, "Affitor outbox WAL could not be emptied"),
        }
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
/// [`SqliteWriter::checkpoint_if_due`]), and empties it when the store asks after deletes. It
/// ends with the writer's thread ([`SqliteWriter::close`]), or when dropped.
#[derive(Debug)]
pub(super) struct Checkpointer {
    phase: Arc<AtomicU8>,
    asks: SyncSender<Ask>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Checkpointer {
    pub(super) fn start(path: &Path) -> rusqlite::Result<Self> {
        let connection = rusqlite::Connection::open(path)?;
        connection.busy_timeout(EMPTY_WAIT)?;
        connection.pragma_update(None, "synchronous", "NORMAL")?;
        let phase = Arc::new(AtomicU8::new(Phase::Idle as u8));
        // Room for the writer's question and the store's at once.
        let (asks, asked) = std::sync::mpsc::sync_channel::<Ask>(2);
        let copied = Arc::clone(&phase);
        // Not `affitor-outbox-…`: Linux keeps 15 bytes of a thread's name, and the writer's
        // thread (`affitor-outbox-writer`) would look the same in `top` and `perf`.
        let spawned = std::thread::Builder::new()
            .name("affitor-checkpoint".to_owned())
            .spawn(move || {
                while let Ok(ask) = asked.recv() {
                    match ask {
                        Ask::Copy => {
                            let checkpoint = connection.query_row(
                                "PRAGMA wal_checkpoint(PASSIVE)",
                                [],
                                |_| Ok(()),
                            );
                            if let Err(error) = checkpoint {
                                tracing::debug!(
                                    %error,
                                    "Affitor outbox WAL checkpoint failed; the writer copies the WAL"
                                );
                            }
                            copied.store(Phase::Copied as u8, Ordering::Release);
                        }
                        Ask::Empty(answer) => {
                            let _ = answer.send(empty_wal(&connection));
                        }
                        Ask::Stop => break,
                    }
                }
            });
        let thread = spawned
            .inspect_err(|error| {
                // The writer's thread then copies the whole WAL itself at each checkpoint, and the
                // reader's connection empties it after deletes.
                tracing::warn!(
                    error = %error,
                    "Affitor outbox: the checkpointer's thread could not start; the writer \
                     copies the WAL itself"
                );
            })
            .ok();
        Ok(Self {
            phase,
            asks,
            thread,
        })
    }

    /// Ends the thread, and waits for it (a checkpoint under way, a few hundred milliseconds
    /// at most): the store's later questions go to the reader's connection.
    fn stop(&mut self) {
        if let Some(thread) = self.thread.take() {
            let _ = self.asks.send(Ask::Stop);
            let _ = thread.join();
        }
    }

    /// The way to the thread, for the store's questions.
    pub(super) fn asks(&self) -> SyncSender<Ask> {
        self.asks.clone()
    }

    fn phase(&self) -> Phase {
        match self.phase.load(Ordering::Acquire) {
            1 => Phase::Copying,
            2 => Phase::Copied,
            _ => Phase::Idle,
        }
    }

    /// Asks the checkpointer's thread to copy the WAL; with no thread, the writer copies it
    /// all at its next look.
    fn begin(&self) {
        // Set first: the thread may be done before `try_send` returns.
        self.phase.store(Phase::Copying as u8, Ordering::Release);
        if self.asks.try_send(Ask::Copy).is_err() {
            self.phase.store(Phase::Copied as u8, Ordering::Release);
        }
    }

    fn end(&self) {
        self.phase.store(Phase::Idle as u8, Ordering::Release);
    }
}

impl Drop for Checkpointer {
    /// Never stopped by [`SqliteWriter::close`] (the writer's thread did not start): the
    /// thread ends after what it is doing, unwaited for.
    fn drop(&mut self) {
        if self.thread.take().is_some() {
            let _ = self.asks.try_send(Ask::Stop);
        }
    }
}
