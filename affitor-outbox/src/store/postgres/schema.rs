//! Where the outbox's tables are, whose they are, and the schema's version at a start: read
//! without a lock, and brought up to date, once per version across every instance, under a
//! transaction's advisory lock.
//!
//! A start looks for `affitor_outbox` where `search_path` finds it (or, when it is missing, in
//! the schema the upgrade would make it in) and from then on every statement names the tables
//! in that schema ([`Tables`]), and the functions as `pg_catalog`'s: a table or a function of the
//! same name that a schema earlier on the path gets later changes nothing. Its tables must belong
//! to the outbox's role (or to a role it is a member of, or to a superuser): one that another
//! role made first, to read the events or to run its triggers as the app, stops the start,
//! saying which and what to do.
//!
//! A start whose schema is current runs plain `SELECT`s (the catalog, then
//! `affitor_outbox_schema`): no DDL, and nothing that waits behind a transaction holding the
//! outbox's table. Only a start that finds its schema behind takes the lock and applies
//! [`POSTGRES`]'s missing versions, all in one transaction (`pg_advisory_xact_lock` and `SET
//! LOCAL`: nothing outlives it, so it works through a pooler in transaction mode). A schema
//! ahead of this outbox (a newer release of the app migrated it) is used as it is: every version
//! only adds.

use std::time::Duration;

use sqlx::postgres::{PgArguments, PgPool};
use sqlx::query::Query;
use sqlx::{AssertSqlSafe, PgConnection, Postgres};

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

const TABLE_NAMES: [&str; 4] = [
    "affitor_outbox",
    "affitor_outbox_facts",
    "affitor_outbox_journal",
    "affitor_outbox_schema",
];

/// Why the schema cannot be used as it is.
#[derive(Debug)]
pub(crate) enum SchemaError {
    Database(sqlx::Error),
    /// The schema is behind and cannot be brought up to date now, is left to the app, or is
    /// not the outbox's own: what happened, and what to do.
    Unusable(String),
}

impl From<sqlx::Error> for SchemaError {
    fn from(error: sqlx::Error) -> Self {
        Self::Database(error)
    }
}

/// The schema the outbox's tables are in: its statements name them there.
#[derive(Debug, Clone)]
pub(crate) struct Tables {
    /// The schema's name, quoted as an identifier.
    schema: String,
}

impl Tables {
    fn in_schema(name: &str) -> Self {
        Self {
            schema: format!("\"{}\"", name.replace('"', "\"\"")),
        }
    }

    /// The schema, quoted as an identifier: what [`Tables::quoted`] takes back.
    pub(crate) fn schema(&self) -> &str {
        &self.schema
    }

    /// The tables in the schema [`Tables::schema`] answered.
    pub(crate) fn quoted(schema: &str) -> Self {
        Self {
            schema: schema.to_owned(),
        }
    }

    /// `sql` with each of the outbox's tables named in its schema: every `affitor_outbox...`
    /// that follows a space, a line's end or a parenthesis (where SQL names a table).
    pub(super) fn qualify(&self, sql: &str) -> AssertSqlSafe<String> {
        let mut qualified = String::with_capacity(sql.len() + 4 * self.schema.len());
        let mut rest = sql;
        while let Some(at) = rest.find("affitor_outbox") {
            let (before, after) = rest.split_at(at);
            qualified.push_str(before);
            if before.is_empty() || before.ends_with([' ', '\n', '(']) {
                qualified.push_str(&self.schema);
                qualified.push('.');
            }
            qualified.push_str("affitor_outbox");
            rest = &after["affitor_outbox".len()..];
        }
        qualified.push_str(rest);
        AssertSqlSafe(qualified)
    }

    /// The statement `sql`, its tables named in their schema, never kept prepared.
    pub(super) fn query(&self, sql: &'static str) -> Query<'static, Postgres, PgArguments> {
        sqlx::query(self.qualify(sql)).persistent(false)
    }
}

/// Finds the outbox's tables in `pool`'s database, checks whose they are and the schema's
/// version, and when it is behind, brings it up to date (`migrate`) or says what to run.
pub(crate) async fn prepare(pool: &PgPool, migrate: bool) -> Result<Tables, SchemaError> {
    let mut transaction = pool.begin().await?;
    let (tables, at) = locate(&mut transaction).await?;
    transaction.commit().await?;
    if at >= REQUIRED.version {
        return Ok(tables);
    }
    if !migrate {
        let found = if at > 0 {
            format!("its schema is at version {at}")
        } else {
            "its tables are missing (schema version 0)".to_owned()
        };
        return Err(SchemaError::Unusable(format!(
            "{found}, and this outbox needs version {} — an outbox opened with \
             `migrate(true)` (the default: the app's, at its start) applies the versions \
             after {at}, or apply those of affitor_outbox::migrations::POSTGRES with your \
             migration tool; this one, opened with `migrate(false)`, changes nothing",
            REQUIRED.version
        )));
    }
    let mut transaction = pool.begin().await?;
    upgrade(&mut transaction, &tables).await?;
    transaction.commit().await?;
    Ok(tables)
}

/// The schema of the outbox's tables: where `search_path` finds `affitor_outbox`, else the
/// first schema of the path that exists (where the upgrade makes it); and the version of the
/// schema there, once each of its tables is known to be the outbox's role's (or a role's it is
/// a member of, or a superuser's).
async fn locate(connection: &mut PgConnection) -> Result<(Tables, u32), SchemaError> {
    let schema: Option<String> = sqlx::query_scalar(
        "SELECT coalesce(
             (SELECT n.nspname FROM pg_catalog.pg_class c
              JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
              WHERE c.oid = pg_catalog.to_regclass('affitor_outbox')),
             pg_catalog.current_schema())",
    )
    .persistent(false)
    .fetch_one(&mut *connection)
    .await?;
    let Some(schema) = schema else {
        return Err(SchemaError::Unusable(
            "no schema of the connection's search_path exists, so the outbox has nowhere to \
             make its tables — create one (`CREATE SCHEMA affitor AUTHORIZATION <role>`), \
             then set the role's search_path to it (`ALTER ROLE <role> SET search_path = \
             affitor`)"
                .to_owned(),
        ));
    };
    let owners: Vec<(String, String, bool)> = sqlx::query_as(
        "SELECT c.relname::text, r.rolname::text,
             r.rolsuper OR pg_catalog.pg_has_role(c.relowner, 'MEMBER')
         FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
         JOIN pg_catalog.pg_roles r ON r.oid = c.relowner
         WHERE n.nspname = $1 AND c.relname = ANY($2)",
    )
    .bind(&schema)
    .bind(TABLE_NAMES)
    .persistent(false)
    .fetch_all(&mut *connection)
    .await?;
    if let Some((table, owner, _)) = owners.iter().find(|(_, _, ours)| !ours) {
        return Err(SchemaError::Unusable(not_ours(&schema, table, owner)));
    }
    let tables = Tables::in_schema(&schema);
    let exists = |name: &str| owners.iter().any(|(table, _, _)| table == name);
    if !(exists("affitor_outbox") && exists("affitor_outbox_schema")) {
        return Ok((tables, 0));
    }
    Ok((tables.clone(), version(connection, &tables).await?))
}

/// What to say about the table `schema.table`, which belongs to `owner`: a role the outbox's is
/// not a member of, and no superuser.
fn not_ours(schema: &str, table: &str, owner: &str) -> String {
    format!(
        "the table {schema}.{table}, which this connection's search_path finds first, belongs \
         to the role {owner}, not to the outbox's (nor to a role it is a member of, nor to a \
         superuser): another \
         role may have made it to read the events or to run code as the app — if it is yours, \
         give it to the outbox's role (`ALTER TABLE {schema}.{table} OWNER TO CURRENT_USER`, \
         run as {owner}) or make the outbox's role a member of {owner} (`GRANT {owner} TO \
         <role>`); if it is not, drop it, and check who may create in the schemas of the \
         role's search_path"
    )
}

/// The version of the schema at `tables`: 0 when it records none.
async fn version(connection: &mut PgConnection, tables: &Tables) -> sqlx::Result<u32> {
    let version: i32 = sqlx::query_scalar(
        tables.qualify("SELECT coalesce(pg_catalog.max(version), 0) FROM affitor_outbox_schema"),
    )
    .persistent(false)
    .fetch_one(connection)
    .await?;
    Ok(u32::try_from(version).unwrap_or(0))
}

/// Takes the upgrade lock in `transaction`, then applies each version the schema at `tables`
/// lacks, there: all of them, or none.
async fn upgrade(transaction: &mut PgConnection, tables: &Tables) -> Result<(), SchemaError> {
    let Tables { schema } = tables;
    // The migrations name their tables as a migration tool runs them: on the search_path,
    // here the tables' schema alone (pg_temp last, so that no temporary table comes first).
    sqlx::raw_sql(AssertSqlSafe(format!(
        "SET LOCAL search_path = {schema}, pg_temp;
         SET LOCAL lock_timeout = '{}ms';
         SELECT pg_catalog.pg_advisory_xact_lock({LOCK_KEY});",
        WAIT_FOR_OTHERS.as_millis()
    )))
    .execute(&mut *transaction)
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
    sqlx::raw_sql(AssertSqlSafe(format!(
        "SET LOCAL lock_timeout = '{}ms'",
        LOCK_TIMEOUT.as_millis()
    )))
    .execute(&mut *transaction)
    .await?;
    // Read again under the lock: another instance may have applied them meanwhile.
    let at = locate(transaction).await?.1;
    for migration in POSTGRES.iter().filter(|migration| migration.version > at) {
        apply(transaction, migration).await?;
    }
    Ok(())
}

async fn apply(transaction: &mut PgConnection, migration: &Migration) -> Result<(), SchemaError> {
    sqlx::raw_sql(migration.sql)
        .execute(transaction)
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
    tracing::info!(
        version = migration.version,
        name = migration.name,
        "Affitor outbox: schema upgraded"
    );
    Ok(())
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
    SchemaError::Unusable(format!(
        "{what}; nothing was changed — start again (the next start applies it), or apply \
         affitor_outbox::migrations::POSTGRES with your migration tool"
    ))
}

#[cfg(test)]
mod tests {
    use super::Tables;

    /// Every table a statement names is named in the schema, quoted; a name that only starts
    /// like a table's (a column or an alias after a dot) is left as it is.
    #[test]
    fn each_table_is_named_in_its_schema() {
        let tables = Tables::in_schema("shop \"eu\"");
        let sql = "SELECT f.value FROM affitor_outbox o
JOIN affitor_outbox_facts f ON f.key = o.customer_key
WHERE EXISTS (SELECT 1 FROM affitor_outbox e WHERE e.id = o.id)
  AND o.id IN (SELECT id FROM\naffitor_outbox_schema)";
        let sqlx::AssertSqlSafe(qualified) = tables.qualify(sql);
        assert_eq!(
            qualified,
            "SELECT f.value FROM \"shop \"\"eu\"\"\".affitor_outbox o
JOIN \"shop \"\"eu\"\"\".affitor_outbox_facts f ON f.key = o.customer_key
WHERE EXISTS (SELECT 1 FROM \"shop \"\"eu\"\"\".affitor_outbox e WHERE e.id = o.id)
  AND o.id IN (SELECT id FROM\n\"shop \"\"eu\"\"\".affitor_outbox_schema)"
        );
    }
}
