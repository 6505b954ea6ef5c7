//! The connections [`Outbox::enqueue_in`](crate::Outbox::enqueue_in) writes on.

use std::future::Future;
use std::pin::Pin;

use affitor::client::Event;

use crate::store::NewRow;

mod sealed {
    pub trait Sealed {}
}

/// A database connection an [`Outbox`](crate::Outbox) can write an event on, inside your own
/// transaction: `sqlx::PgConnection` (feature `postgres`) and `sqlx::SqliteConnection`
/// (feature `sqlite`). Pass `&mut *transaction`.
///
/// ```
/// # #[cfg(feature = "postgres")]
/// # async fn checkout(
/// #     pool: sqlx::PgPool,
/// #     outbox: affitor_outbox::Outbox,
/// #     client: affitor::Client,
/// # ) -> Result<(), Box<dyn std::error::Error>> {
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
pub trait OutboxConnection: sealed::Sealed + Send {
    /// Writes `event` as an outbox row on this connection.
    #[doc(hidden)]
    fn insert_event<'a>(
        &'a mut self,
        event: &'a Event,
    ) -> Pin<Box<dyn Future<Output = sqlx::Result<()>> + Send + 'a>>;
}

#[cfg(feature = "postgres")]
impl sealed::Sealed for sqlx::PgConnection {}

#[cfg(feature = "postgres")]
impl OutboxConnection for sqlx::PgConnection {
    fn insert_event<'a>(
        &'a mut self,
        event: &'a Event,
    ) -> Pin<Box<dyn Future<Output = sqlx::Result<()>> + Send + 'a>> {
        Box::pin(async move { crate::store::postgres::insert(self, &NewRow::of(event)).await })
    }
}

#[cfg(feature = "sqlite")]
impl sealed::Sealed for sqlx::SqliteConnection {}

#[cfg(feature = "sqlite")]
impl OutboxConnection for sqlx::SqliteConnection {
    fn insert_event<'a>(
        &'a mut self,
        event: &'a Event,
    ) -> Pin<Box<dyn Future<Output = sqlx::Result<()>> + Send + 'a>> {
        Box::pin(async move { crate::store::sqlite::insert(self, &NewRow::of(event)).await })
    }
}
