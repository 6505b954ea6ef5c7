//! The connections [`Outbox::enqueue_in`](crate::Outbox::enqueue_in) writes on.

use std::future::Future;
use std::pin::Pin;

use affitor::client::Event;

use crate::error::OutboxError;
use crate::store::NewRow;

mod sealed {
    pub trait Sealed {}
}

/// A database connection an [`Outbox`](crate::Outbox) can write an event on, inside your own
/// transaction:
///
/// - SQLite (feature `sqlite`): a `rusqlite::Connection` or a `rusqlite::Transaction` on the
///   outbox's file, through `affitor_outbox::rusqlite`. Pass `&mut transaction`.
/// - Postgres (feature `postgres`): a `sqlx::PgConnection`, through
///   `affitor_outbox::sqlx`. Pass `&mut *transaction`.
///
/// ```
/// # #[cfg(feature = "postgres")]
/// # async fn checkout(
/// #     pool: affitor_outbox::sqlx::PgPool,
/// #     outbox: affitor_outbox::Outbox,
/// #     client: affitor::Client,
/// # ) -> Result<(), Box<dyn std::error::Error>> {
/// use affitor_outbox::sqlx;
///
/// let mut transaction = pool.begin().await?;
/// sqlx::query("INSERT INTO orders (id, amount_cents) VALUES ('in_1001', 4900)")
///     .execute(&mut *transaction)
///     .await?;
/// outbox
///     .enqueue_in(&mut *transaction, client.sale("in_1001", 4900).customer_key("user_123"))
///     .await?;
/// transaction.commit().await?; // the order and its sale, or neither
/// # Ok(())
/// # }
/// ```
pub trait OutboxConnection: sealed::Sealed {
    /// Writes `event` as an outbox row on this connection; on Postgres, into the table in
    /// `schema` (quoted) when the outbox's tables are known to be there.
    #[doc(hidden)]
    fn insert_event<'a>(
        &'a mut self,
        event: &'a Event,
        schema: Option<&'a str>,
    ) -> Pin<Box<dyn Future<Output = Result<(), OutboxError>> + Send + 'a>>;
}

#[cfg(feature = "postgres")]
impl sealed::Sealed for sqlx::PgConnection {}

#[cfg(feature = "postgres")]
impl OutboxConnection for sqlx::PgConnection {
    fn insert_event<'a>(
        &'a mut self,
        event: &'a Event,
        schema: Option<&'a str>,
    ) -> Pin<Box<dyn Future<Output = Result<(), OutboxError>> + Send + 'a>> {
        Box::pin(async move {
            crate::store::postgres::insert(self, schema, &NewRow::of(event))
                .await
                .map_err(|error| crate::store::StoreError::from(error).into())
        })
    }
}

/// The rusqlite connections: `event` written at once (SQLite's write is a call, not a round
/// trip), the future only handing over its outcome.
macro_rules! sqlite_connections {
    ($($connection:ty),*) => {$(
        #[cfg(feature = "sqlite")]
        impl sealed::Sealed for $connection {}

        #[cfg(feature = "sqlite")]
        impl OutboxConnection for $connection {
            fn insert_event<'a>(
                &'a mut self,
                event: &'a Event,
                _schema: Option<&'a str>,
            ) -> Pin<Box<dyn Future<Output = Result<(), OutboxError>> + Send + 'a>> {
                let written = crate::store::sqlite::insert(self, &NewRow::of(event))
                    .map_err(|error| crate::store::StoreError::from(error).into());
                Box::pin(std::future::ready(written))
            }
        }
    )*};
}

sqlite_connections!(rusqlite::Connection, rusqlite::Transaction<'_>);
