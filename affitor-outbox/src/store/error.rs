//! What a store's operation can fail with: the database's own error, or one of the two ways the
//! outbox gives up on a write without it (too slow, or its writer gone).

use std::sync::Arc;

#[derive(Debug, thiserror::Error)]
pub(crate) enum StoreError {
    /// The store did not take the write in time (the enqueue timeout, or a Postgres pool with
    /// no free connection): nothing of it is in the table.
    #[error("the store did not answer in time")]
    TimedOut,
    /// The store did not answer a batch the writer had taken within the enqueue timeout (a
    /// silent Postgres, a disk that hangs): the row may or may not be in the table. Its event is written again
    /// once the store answers (at least once: a repeat is harmless to the API).
    #[error("the store did not answer in time; the event may be stored already, and goes again")]
    Unanswered,
    /// The thread or task that writes to the store has stopped: nothing more is written.
    #[error(
        "the outbox's writer has stopped (the outbox was shut down, or its runtime stopped); \
         open the outbox again to write to it"
    )]
    Stopped,
    /// The file or its folder could not be made or read.
    #[error(transparent)]
    Io(#[from] std::io::Error),
    #[cfg(feature = "sqlite")]
    #[error(transparent)]
    Sqlite(#[from] rusqlite::Error),
    #[cfg(feature = "postgres")]
    #[error(transparent)]
    Postgres(sqlx::Error),
    /// The error of a batch, shared by each of its rows.
    #[error(transparent)]
    Batch(Arc<StoreError>),
}

#[cfg(feature = "postgres")]
impl From<sqlx::Error> for StoreError {
    fn from(error: sqlx::Error) -> Self {
        match error {
            sqlx::Error::PoolTimedOut => Self::TimedOut,
            sqlx::Error::WorkerCrashed => Self::Stopped,
            error => Self::Postgres(error),
        }
    }
}

impl StoreError {
    /// `error`, shared by the rows of a batch, for one of them: a timeout or a stopped writer
    /// stays what it is, so that the caller can tell them apart.
    pub(crate) fn of_batch(error: &Arc<StoreError>) -> Self {
        match **error {
            Self::TimedOut => Self::TimedOut,
            Self::Unanswered => Self::Unanswered,
            Self::Stopped => Self::Stopped,
            _ => Self::Batch(Arc::clone(error)),
        }
    }

    /// The database's error as the public [`OutboxError`](crate::OutboxError) carries it: a
    /// `rusqlite::Error` (SQLite), a `sqlx::Error` (Postgres) or a `std::io::Error` (the file
    /// or its folder), to be downcast; the outbox's own (a timeout, a stopped writer) as itself.
    pub(crate) fn into_source(self) -> Box<dyn std::error::Error + Send + Sync> {
        match self {
            Self::Io(error) => Box::new(error),
            #[cfg(feature = "sqlite")]
            Self::Sqlite(error) => Box::new(error),
            #[cfg(feature = "postgres")]
            Self::Postgres(error) => Box::new(error),
            Self::Batch(shared) => match Arc::try_unwrap(shared) {
                Ok(error) => error.into_source(),
                Err(shared) => Box::new(Self::Batch(shared)),
            },
            error @ (Self::TimedOut | Self::Unanswered | Self::Stopped) => Box::new(error),
        }
    }
}
