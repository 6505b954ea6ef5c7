//! The schema's version at a start: read without a lock, and brought up to date, once per
//! version across every instance, under an advisory lock.
//!
//! A start whose schema is current runs plain `SELECT`s (the catalog, then
//! `affitor_outbox_schema`): no DDL, and nothing that waits behind a transaction holding the
//! outbox's table. Only a start that finds its schema behind takes the lock, on a connection
//! of its own, and applies [`POSTGRES`]'s missing versions, each in its transaction.
//!
//! Version 2, an index the writes only go faster with, is not waited for: a start that lacks
//! it writes as version 1 did, and builds it `CONCURRENTLY` in the background (never holding
//! the table's writes), switching to it once it is valid ([`CustomerIndex`]).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use sqlx::postgres::PgPool;
use sqlx::{Connection as _, PgConnection};

use crate::migrations::{Migration, POSTGRES};

/// The advisory lock of the schema's upgrades: the key under which earlier versions of the
/// outbox created their table, so that one of them starting meanwhile waits for it too.
const LOCK_KEY: i64 = 7_367_325_063_530_520_841;

/// The advisory lock of version 2's build, one of the upgrade's own: the build may wait long
/// for the transactions open on the table (a long query's snapshot), and a start that upgrades
/// another schema of the database must not wait for it.
const BUILD_LOCK_KEY: i64 = LOCK_KEY + 2;

/// How long a start waits for another instance's upgrade (the advisory lock) to end.
const WAIT_FOR_OTHERS: Duration = Duration::from_secs(30);

/// How long an upgrade's statement waits for a lock on the outbox's tables before it gives up.
/// While it waits, every later query on the table queues behind it: kept short, so that the
/// fleet's writes stall at most this long once, rather than for as long as the transaction
/// that holds the table lasts.
const LOCK_TIMEOUT: Duration = Duration::from_secs(5);

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

/// The version this outbox needs to start: the last one applied in a transaction.
const REQUIRED: &Migration = &POSTGRES[0];

/// The version that indexes the live rows by customer, built `CONCURRENTLY`.
const CUSTOMER_INDEX: &Migration = &POSTGRES[1];

/// How often the background build tries the upgrade lock again while another instance holds it.
const LOCK_RETRY: Duration = Duration::from_millis(250);

/// The index [`CUSTOMER_INDEX`] builds.
const CUSTOMER_INDEX_NAME: &str = "affitor_outbox_live_by_customer";

/// Whether the index of version 2 is there and valid: the writer looks each new row's
/// customer up through it, and until then writes as version 1 did. Set at the start, or once
/// the background build ends.
#[derive(Clone, Debug, Default)]
pub(crate) struct CustomerIndex(Arc<AtomicBool>);

impl CustomerIndex {
    pub(crate) fn is_valid(&self) -> bool {
        self.0.load(Ordering::Acquire)
    }

    fn set_valid(&self) {
        self.0.store(true, Ordering::Release);
    }
}

/// The version of the schema the connection sees: 0 when the outbox's table or the version
/// table is missing (a new database, or a table made before the schema was versioned).
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

/// Whether the outbox's table is there (of a layout before versions, when [`version`] is 0).
async fn table_exists(pool: &PgPool) -> sqlx::Result<bool> {
    sqlx::query_scalar("SELECT to_regclass('affitor_outbox') IS NOT NULL")
        .fetch_one(pool)
        .await
}

/// Checks the schema of `pool`'s database, and when it is behind, brings it up to date
/// (`migrate`) or says what to run. A schema ahead of this outbox (a newer version of the app
/// migrated it) is used as it is: every version only adds. The index of version 2 is looked
/// for, and when it is missing, built in the background (`migrate`) or warned about.
pub(crate) async fn prepare(pool: &PgPool, migrate: bool) -> Result<CustomerIndex, SchemaError> {
    let mut connection = pool.acquire().await?;
    let at = version(&mut connection).await?;
    if at < REQUIRED.version {
        if !migrate {
            let found = if at > 0 {
                format!("its schema is at version {at}")
            } else if table_exists(pool).await? {
                "its table predates the versioned schema (version 0)".to_owned()
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
        // A connection of its own, closed at the end whatever happens: the session-level lock
        // and the session's settings end with it, never handed back to the pool.
        let mut upgrading = pool.acquire().await?.detach();
        let upgraded = upgrade(&mut upgrading).await;
        if let Err(error) = upgrading.close().await {
            tracing::debug!(%error, "Affitor outbox: the schema upgrade's connection did not close cleanly");
        }
        upgraded?;
    }
    let index = CustomerIndex::default();
    if customer_index_is_valid(&mut connection).await? {
        index.set_valid();
    } else if migrate {
        tokio::spawn(build_customer_index(pool.clone(), index.clone()));
    } else {
        tracing::warn!(
            "Affitor outbox: schema version {} ({}) is not applied: apply it from \
             affitor_outbox::migrations::POSTGRES (one statement, outside a transaction); \
             until then, while a session of the database holds an old snapshot, the writes \
             slow down as the relay delivers",
            CUSTOMER_INDEX.version,
            CUSTOMER_INDEX.name
        );
    }
    Ok(index)
}

/// Whether the index of version 2 is in the catalog, valid (a `CONCURRENTLY` build that failed
/// leaves an invalid one).
async fn customer_index_is_valid(connection: &mut PgConnection) -> sqlx::Result<bool> {
    let valid: Option<bool> = sqlx::query_scalar(
        "SELECT i.indisvalid FROM pg_index i
         WHERE i.indexrelid = to_regclass($1) AND i.indrelid = to_regclass('affitor_outbox')",
    )
    .bind(CUSTOMER_INDEX_NAME)
    .fetch_optional(connection)
    .await?;
    Ok(valid == Some(true))
}

/// Builds the index of version 2 `CONCURRENTLY`, on a connection of its own, under a lock of
/// its own (one instance builds it; the others find it there): the table's writes go on meanwhile,
/// and the build waits for the transactions open on the table to end. Sets `index` once it is
/// valid; a build that fails leaves the writes as they were, and is tried again at the next
/// start.
async fn build_customer_index(pool: PgPool, index: CustomerIndex) {
    let built = async {
        let mut connection = pool.acquire().await?.detach();
        // Neither the build nor the lock's wait has a limit here: nothing waits for them.
        sqlx::query("SELECT set_config('lock_timeout', '0', false), set_config('statement_timeout', '0', false)")
            .execute(&mut connection)
            .await?;
        // Tried, not waited for: a session waiting for the lock would hold a snapshot, which
        // the build of the instance that holds it waits for (`CONCURRENTLY`), for ever.
        loop {
            let locked: bool = sqlx::query_scalar("SELECT pg_try_advisory_lock($1)")
                .bind(BUILD_LOCK_KEY)
                .fetch_one(&mut connection)
                .await?;
            if locked {
                break;
            }
            tokio::time::sleep(LOCK_RETRY).await;
        }
        if !customer_index_is_valid(&mut connection).await? {
            // What a build that failed left, invalid: `IF NOT EXISTS` would keep it.
            sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
                "DROP INDEX CONCURRENTLY IF EXISTS {CUSTOMER_INDEX_NAME}"
            )))
            .execute(&mut connection)
            .await?;
            sqlx::raw_sql(CUSTOMER_INDEX.sql)
                .execute(&mut connection)
                .await?;
        }
        sqlx::query(
            "INSERT INTO affitor_outbox_schema (version, name) VALUES ($1, $2)
             ON CONFLICT (version) DO NOTHING",
        )
        .bind(i32::try_from(CUSTOMER_INDEX.version).unwrap_or(i32::MAX))
        .bind(CUSTOMER_INDEX.name)
        .execute(&mut connection)
        .await?;
        let valid = customer_index_is_valid(&mut connection).await?;
        if let Err(error) = connection.close().await {
            tracing::debug!(%error, "Affitor outbox: the index build's connection did not close cleanly");
        }
        Ok::<_, sqlx::Error>(valid)
    };
    match built.await {
        Ok(true) => {
            index.set_valid();
            tracing::info!(
                version = CUSTOMER_INDEX.version,
                name = CUSTOMER_INDEX.name,
                "Affitor outbox: schema upgraded"
            );
        }
        Ok(false) => tracing::warn!(
            version = CUSTOMER_INDEX.version,
            "Affitor outbox: the index of schema version {} was built but is not valid; the \
             next start builds it again",
            CUSTOMER_INDEX.version
        ),
        Err(error) => tracing::warn!(
            %error,
            version = CUSTOMER_INDEX.version,
            "Affitor outbox: schema version {} ({}) could not be applied; the outbox writes as \
             version 1 did, and the next start tries again",
            CUSTOMER_INDEX.version,
            CUSTOMER_INDEX.name
        ),
    }
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
    let missing = POSTGRES.iter().filter(|migration| migration.version > at);
    // The versions built outside a transaction are left to the background build.
    for migration in missing.filter(|migration| migration.transaction) {
        let mut transaction = connection.begin().await?;
        let applied = sqlx::raw_sql(migration.sql)
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
            });
        applied?;
        transaction.commit().await?;
        tracing::info!(
            version = migration.version,
            name = migration.name,
            "Affitor outbox: schema upgraded"
        );
    }
    sqlx::query("SELECT pg_advisory_unlock($1)")
        .bind(LOCK_KEY)
        .execute(&mut *connection)
        .await?;
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
