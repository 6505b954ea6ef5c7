//! The store for a fleet of servers: a Postgres table shared by every relay.
//!
//! Times are the database's clock (`now()`), so the servers' clocks never disagree about a
//! lease. A claim reads its candidates in one snapshot, then leases them with an `UPDATE` that
//! takes only rows no lease holds: two relays that pick the same row wait for each other there,
//! and only the first takes it. The rows of a relay that crashed go again once its lease ends.
//!
//! Its rooms are SQLite's: the writer's connection and its batches (`writer.rs`), the relay's
//! claims and the rows it settles (`claims.rs`), the facts (`facts.rs`), the dead letters
//! (`purge.rs`), the schema's version and upgrade (`schema.rs`), and what to do about a refused
//! certificate (`tls.rs`).

mod claims;
mod facts;
mod purge;
pub(crate) mod schema;
pub(crate) mod tls;
mod writer;

#[cfg(test)]
pub(super) mod tests;

use std::time::Duration;

use sqlx::postgres::PgPool;

use crate::config::Config;

pub(crate) use writer::insert;

/// The `affitor_outbox` table in a Postgres database.
#[derive(Debug)]
pub(crate) struct PostgresStore {
    pool: PgPool,
    /// The writer's own connection ([`PostgresStore::insert_batch`]), out of the pool: `None`
    /// until the first batch, and after an error, until the next batch opens another.
    writer: tokio::sync::Mutex<Option<writer::WriterConnection>>,
    /// How long the server lets a batch's statement run before it cancels it.
    statement_timeout: Duration,
}

impl PostgresStore {
    /// Uses `pool`, once its schema is current ([`schema::prepare`]): brought up to date
    /// when `config` lets the outbox migrate it.
    pub(crate) async fn open(pool: PgPool, config: &Config) -> Result<Self, schema::SchemaError> {
        schema::prepare(&pool, config.migrate)
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
        })
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

    pub(crate) async fn waiting(&self) -> sqlx::Result<u64> {
        let (count,): (i64,) =
            sqlx::query_as("SELECT count(*) FROM affitor_outbox WHERE dead_at IS NULL")
                .fetch_one(&self.pool)
                .await?;
        Ok(u64::try_from(count).unwrap_or(0))
    }
}
