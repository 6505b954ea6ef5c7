//! The schema's version at a start: read without a lock, and brought up to date, once per
//! version across every instance, under an advisory lock.
//!
//! A start whose schema is current runs plain `SELECT`s (the catalog, then
//! `affitor_outbox_schema`): no DDL, and nothing that waits behind a transaction holding the
//! outbox's table. Only a start that finds its schema behind takes the lock, on a connection
//! of its own, and applies [`POSTGRES`]'s missing versions, each in its transaction. A schema
//! ahead of this outbox (a newer release of the app migrated it) is used as it is: every
//! version only adds.

use std::time::Duration;

use sqlx::postgres::PgPool;
use sqlx::{Connection as _, PgConnection};

use crate::migrations::{Migration, POSTGRES};

/// The advisory lock of the schema's upgrades, one key for every instance on the database.
const LOCK_KEY: i64 = 7_367_325_063_530_520_841;

/// How long a start waits for another instance's upgrade (the advisory lock) to end.
const WAIT_FOR_OTHERS: Duration = Duration::from_secs(30);

/// How long an upgrade's statement waits for a lock on the outbox's tables before it gives up.
/// While it waits, every later query on the table queues behind it: kept short, so that the
/// fleet's writes stall at most this long once, rather than for as long as the transaction
/// that holds the table lasts.
const LOCK_TIMEOUT: Duration = Duration::from_secs(5);

/// The version this outbox needs: the last.
const REQUIRED: &Migration = &POSTGRES[POSTGRES.len() - 1];

/// Why the schema cannot be used as it is.
#[derive(Debug)]
pub(crate) enum SchemaError {
    /// The database's error.
    Database(sqlx::Error),
    /// The schema is behind and cannot be brought up to date now, or is left to the app:
    /// what happened, and what to do.
    Behind(String),
}

impl From<sqlx::Error> for SchemaError {
    fn from(error: sqlx::Error) -> Self {
        Self::Database(error)
    }
}

/// Checks the schema of `pool`'s database, and when it is behind, brings it up to date
/// (`migrate`) or says what to run.
pub(crate) async fn prepare(pool: &PgPool, migrate: bool) -> Result<(), SchemaError> {
    let at = version(&mut *pool.acquire().await?).await?;
    if at >= REQUIRED.version {
        return Ok(());
    }
    if !migrate {
        let found = if at > 0 {
            format!("its schema is at version {at}")
        } else {
            "its tables are missing (schema version 0)".to_owned()
        };
        return Err(SchemaError::Behind(format!(
            "{found}, and this outbox needs version {} — an outbox opened with \
             `migrate(true)` (the default: the app's, at its start) applies the versions \
             after {at}, or apply those of affitor_outbox::migrations::POSTGRES with your \
             migration tool; this one, opened with `migrate(false)`, changes nothing",
            REQUIRED.version
        )));
    }
    // A connection of its own, closed at the end whatever happens: the session-level lock and
    // the session's settings end with it, never handed back to the pool.
    let mut upgrading = pool.acquire().await?.detach();
    let upgraded = upgrade(&mut upgrading).await;
    if let Err(error) = upgrading.close().await {
        tracing::debug!(%error, "Affitor outbox: the schema upgrade's connection did not close cleanly");
    }
    upgraded
}

/// The version of the schema the connection sees: 0 when the outbox's table or the version
/// table is missing.
async fn version(connection: &mut PgConnection) -> sqlx::Result<u32> {
    let exists: bool = sqlx::query_scalar(
        "SELECT to_regclass('affitor_outbox') IS NOT NULL
            AND to_regclass('affitor_outbox_schema') IS NOT NULL",
    )
    .fetch_one(&mut *connection)
    .await?;
    if !exists {
        return Ok(0);
    }
    let version: i32 =
        sqlx::query_scalar("SELECT coalesce(max(version), 0) FROM affitor_outbox_schema")
            .fetch_one(&mut *connection)
            .await?;
    Ok(u32::try_from(version).unwrap_or(0))
}

/// Takes the upgrade lock on `connection`, then applies each version the schema lacks, in its
/// own transaction.
async fn upgrade(connection: &mut PgConnection) -> Result<(), SchemaError> {
    set_lock_timeout(connection, WAIT_FOR_OTHERS).await?;
    sqlx::query("SELECT pg_advisory_lock($1)")
        .bind(LOCK_KEY)
        .execute(&mut *connection)
        .await
        .map_err(|error| {
            timed_out(
                error,
                format!(
                    "another instance has been upgrading the outbox's schema for more than {} s",
                    WAIT_FOR_OTHERS.as_secs()
                ),
            )
        })?;
    set_lock_timeout(connection, LOCK_TIMEOUT).await?;
    // Read again under the lock: another instance may have applied them meanwhile.
    let at = version(connection).await?;
    for migration in POSTGRES.iter().filter(|migration| migration.version > at) {
        apply(connection, migration).await?;
    }
    sqlx::query("SELECT pg_advisory_unlock($1)")
        .bind(LOCK_KEY)
        .execute(&mut *connection)
        .await?;
    Ok(())
}

/// Applies `migration` in a transaction of its own.
async fn apply(connection: &mut PgConnection, migration: &Migration) -> Result<(), SchemaError> {
    let mut transaction = connection.begin().await?;
    sqlx::raw_sql(migration.sql)
        .execute(&mut *transaction)
        .await
        .map_err(|error| {
            timed_out(
                error,
                format!(
                    "the upgrade to version {} ({}) waited more than {} s for a lock on \
                     affitor_outbox: a long transaction holds the table",
                    migration.version,
                    migration.name,
                    LOCK_TIMEOUT.as_secs()
                ),
            )
        })?;
    transaction.commit().await?;
    tracing::info!(
        version = migration.version,
        name = migration.name,
        "Affitor outbox: schema upgraded"
    );
    Ok(())
}

async fn set_lock_timeout(connection: &mut PgConnection, timeout: Duration) -> sqlx::Result<()> {
    sqlx::query("SELECT set_config('lock_timeout', $1, false)")
        .bind(format!("{}ms", timeout.as_millis()))
        .execute(connection)
        .await
        .map(drop)
}

/// `error`, when it is a lock wait that ran out (`lock_not_available`), as what happened and
/// what to do; any other error as it is.
fn timed_out(error: sqlx::Error, what: String) -> SchemaError {
    let lock_not_available = error
        .as_database_error()
        .and_then(|database| database.code())
        .is_some_and(|code| code == "55P03");
    if !lock_not_available {
        return SchemaError::Database(error);
    }
    SchemaError::Behind(format!(
        "{what}; nothing was changed — start again (the next start applies it), or apply \
         affitor_outbox::migrations::POSTGRES with your migration tool"
    ))
}
