//! The store for a fleet of servers: a Postgres table shared by every relay.
//!
//! Times are the database's clock (`now()`), so the servers' clocks never disagree about a
//! lease. A claim reads its candidates in one snapshot, then leases them with an `UPDATE` that
//! takes only rows no lease holds: two relays that pick the same row wait for each other there,
//! and only the first takes it. The rows of a relay that crashed go again once its lease ends.
//!
//! Every statement works through a pooler in transaction mode (PgBouncer, Supabase's and Neon's
//! pooled connection strings): each runs in an explicit transaction, as an unnamed statement
//! (`persistent(false)`: nothing prepared outlives it), and sets what it needs with `SET LOCAL`;
//! nothing needs the same server connection twice. And none is at `search_path`'s mercy: each
//! names the outbox's tables in the schema they were found in at start ([`schema::Tables`]),
//! and the functions it calls as `pg_catalog`'s.
//!
//! Its rooms are SQLite's, and `tls.rs`: what to do about a refused certificate.

mod backlog;
mod claims;
mod facts;
mod journal;
mod purge;
pub(crate) mod schema;
pub(crate) mod tls;
mod writer;

#[cfg(test)]
pub(super) mod tests;

use std::time::Duration;

use sqlx::pool::PoolConnection;
use sqlx::postgres::{PgArguments, PgConnection, PgPool, PgRow};
use sqlx::query::{Query, QueryAs};
use sqlx::{Connection as _, FromRow, Postgres};
use tokio_util::task::AbortOnDropHandle;

use crate::recover::PROBE_TIMEOUT;

use crate::config::Config;

pub(crate) use writer::insert;

/// How long a call of the relay's, the probe's or a payment webhook's waits for the server's
/// answers before it gives the call up and closes its connection: a server gone silent (a
/// partition, a failover that left the socket open) costs a call its connection, not the relay
/// its loop until the OS gives the socket up.
const ANSWER_WITHIN: Duration = Duration::from_secs(10);

/// How a claim's walk and a search of the journal read: in one snapshot, read only
/// ([`begin`]'s `mode`).
const SNAPSHOT: &str = "ISOLATION LEVEL REPEATABLE READ, READ ONLY";

/// The `affitor_outbox` table in a Postgres database.
#[derive(Debug)]
pub(crate) struct PostgresStore {
    pool: PgPool,
    /// Where the tables are: every statement names them there.
    tables: schema::Tables,
    /// The writer's connection ([`PostgresStore::insert_batch`]), one of the pool's that it
    /// keeps: `None` until the first batch, and after an error, until the next batch takes
    /// another.
    writer: tokio::sync::Mutex<Option<writer::WriterConnection>>,
    /// How long the server lets a batch's statement run before it cancels it.
    statement_timeout: Duration,
    /// The probe's connection being opened: a connect slower than the probe's deadline (TLS
    /// and SCRAM over a long round trip, a cloud proxy) goes on past it, and the next probe
    /// takes it, where cancelling it at each deadline would never let one open.
    connecting:
        tokio::sync::Mutex<Option<AbortOnDropHandle<sqlx::Result<PoolConnection<Postgres>>>>>,
}

impl PostgresStore {
    /// Uses `pool`, once its schema is current and the outbox's own ([`schema::prepare`]):
    /// brought up to date when `config` lets the outbox migrate it.
    pub(crate) async fn open(pool: PgPool, config: &Config) -> Result<Self, schema::SchemaError> {
        let tables = schema::prepare(&pool, config.migrate)
            .await
            .map_err(|error| match error {
                schema::SchemaError::Database(error) => {
                    schema::SchemaError::Database(tls::explain(error, &pool.connect_options()))
                }
                unusable => unusable,
            })?;
        Ok(Self {
            pool,
            tables,
            writer: tokio::sync::Mutex::new(None),
            statement_timeout: config.enqueue_timeout,
            connecting: tokio::sync::Mutex::new(None),
        })
    }

    /// The schema of the outbox's tables, quoted: what a row written on a caller's connection
    /// names them in (`enqueue_in`).
    pub(crate) fn schema(&self) -> &str {
        self.tables.schema()
    }

    /// Checks that the outbox can write here: a row written and rolled back, which the server
    /// cancels as the probe gives it up ([`PROBE_TIMEOUT`]), so that a probe left waiting for a
    /// lock holds no server connection past it.
    pub(crate) async fn probe(&self) -> sqlx::Result<()> {
        let connection = {
            let mut connecting = self.connecting.lock().await;
            let task = connecting.get_or_insert_with(|| {
                let pool = self.pool.clone();
                AbortOnDropHandle::new(tokio::spawn(async move { pool.acquire().await }))
            });
            let opened = task.await;
            *connecting = None;
            opened.map_err(|error| sqlx::Error::Io(std::io::Error::other(error)))??
        };
        self.call_on(connection, async |connection| {
            let mut transaction = connection.begin_with(begin("", PROBE_TIMEOUT)).await?;
            let probe = "INSERT INTO affitor_outbox (endpoint, body, transaction_id,
                    other_transaction_id, customer_key, click_id_source, delivery_key, attempts,
                    next_attempt_at, lease_owner, lease_until, dead_at, last_error, created_at)
                VALUES ('probe', '', NULL, NULL, NULL, NULL, NULL, 0, pg_catalog.now(), NULL,
                    NULL, NULL, NULL, pg_catalog.now())";
            self.query(probe).execute(&mut *transaction).await?;
            transaction.rollback().await
        })
        .await
    }

    /// Writes `row` alone on a connection of the pool (the writer has ended).
    pub(crate) async fn insert_alone(&self, row: crate::store::NewRow) -> sqlx::Result<()> {
        // A transaction for its statement timeout ([`begin`]).
        self.transact(async |transaction| insert(transaction, Some(self.schema()), &row).await)
            .await
    }

    /// The live rows: [`PostgresStore::backlog`]'s one scan of the table.
    pub(crate) async fn waiting(&self) -> sqlx::Result<u64> {
        Ok(self.backlog().await?.waiting)
    }

    /// The statement `sql`, its tables named in their schema, never kept prepared.
    fn query(&self, sql: &'static str) -> Query<'static, Postgres, PgArguments> {
        self.tables.query(sql)
    }

    /// [`PostgresStore::query`], its rows read as `O`.
    fn query_as<O>(&self, sql: &'static str) -> QueryAs<'static, Postgres, O, PgArguments>
    where
        O: for<'r> FromRow<'r, PgRow>,
    {
        sqlx::query_as(self.tables.qualify(sql)).persistent(false)
    }

    /// Runs `query` in a transaction of its own, and answers how many rows it changed.
    async fn execute(&self, query: Query<'_, Postgres, PgArguments>) -> sqlx::Result<u64> {
        self.transact(async |transaction| Ok(query.execute(transaction).await?.rows_affected()))
            .await
    }

    /// Runs `call` in a transaction of its own on a connection of the pool, within
    /// [`ANSWER_WITHIN`] ([`within`](Self::within)), and commits it once `call` succeeds.
    async fn transact<T>(
        &self,
        call: impl AsyncFnOnce(&mut PgConnection) -> sqlx::Result<T>,
    ) -> sqlx::Result<T> {
        self.transact_within(ANSWER_WITHIN, call).await
    }

    /// Runs `call` as [`transact`](Self::transact) does, but cancelled by the server at
    /// `limit` (at most [`ANSWER_WITHIN`]): for a caller that gives the call up sooner (a
    /// webhook at the enqueue timeout, a renewal at the next), so that its statement, waiting
    /// for a lock, holds no server connection past the pool's budget.
    async fn transact_within<T>(
        &self,
        limit: Duration,
        call: impl AsyncFnOnce(&mut PgConnection) -> sqlx::Result<T>,
    ) -> sqlx::Result<T> {
        self.transact_as("", limit, call).await
    }

    /// Runs `call` in a read-only transaction whose statements all read one snapshot of the
    /// database ([`SNAPSHOT`]): a transaction committed meanwhile is seen by all or none.
    async fn in_snapshot<T>(
        &self,
        call: impl AsyncFnOnce(&mut PgConnection) -> sqlx::Result<T>,
    ) -> sqlx::Result<T> {
        self.transact_as(SNAPSHOT, ANSWER_WITHIN, call).await
    }

    /// Runs `call` in a transaction begun in `mode` ([`begin`]'s), cancelled by the server at
    /// `limit`, on a connection of the pool ([`within`](Self::within)); commits it once `call`
    /// succeeds.
    async fn transact_as<T>(
        &self,
        mode: &str,
        limit: Duration,
        call: impl AsyncFnOnce(&mut PgConnection) -> sqlx::Result<T>,
    ) -> sqlx::Result<T> {
        self.within(async |connection| {
            let mut transaction = connection.begin_with(begin(mode, limit)).await?;
            let answer = call(&mut transaction).await?;
            transaction.commit().await?;
            Ok(answer)
        })
        .await
    }

    /// Runs `call` on a connection of the pool within [`ANSWER_WITHIN`]; a call left
    /// unanswered is an I/O timeout. Its connection, whose state is unknown, is closed rather
    /// than returned to the pool, as it is when the caller gives the call up first (a probe's
    /// or a webhook's deadline): sqlx would test it on its return with no deadline, and a
    /// silent server would keep its place in the pool until the OS gives the socket up.
    async fn within<T>(
        &self,
        call: impl AsyncFnOnce(&mut PgConnection) -> sqlx::Result<T>,
    ) -> sqlx::Result<T> {
        self.call_on(self.pool.acquire().await?, call).await
    }

    /// Runs `call` on `connection` within [`ANSWER_WITHIN`], as [`within`](Self::within) does.
    async fn call_on<T>(
        &self,
        connection: PoolConnection<Postgres>,
        call: impl AsyncFnOnce(&mut PgConnection) -> sqlx::Result<T>,
    ) -> sqlx::Result<T> {
        let mut calling = Calling {
            connection,
            answered: false,
        };
        let answer = tokio::time::timeout(ANSWER_WITHIN, call(&mut calling.connection)).await;
        calling.answered = answer.is_ok();
        answer.unwrap_or_else(|_| Err(sqlx::Error::Io(std::io::ErrorKind::TimedOut.into())))
    }

    /// Runs `query` in a transaction of its own, and answers its rows.
    async fn fetch_all<O>(
        &self,
        query: QueryAs<'_, Postgres, O, PgArguments>,
    ) -> sqlx::Result<Vec<O>>
    where
        O: for<'r> FromRow<'r, PgRow> + Send + Unpin,
    {
        self.transact(async |transaction| query.fetch_all(transaction).await)
            .await
    }

    /// Runs `query` in a transaction of its own, and answers its one row.
    async fn fetch_one<O>(&self, query: QueryAs<'_, Postgres, O, PgArguments>) -> sqlx::Result<O>
    where
        O: for<'r> FromRow<'r, PgRow> + Send + Unpin,
    {
        self.transact(async |transaction| query.fetch_one(transaction).await)
            .await
    }
}

/// How a transaction begins (in `mode`: `""` or [`SNAPSHOT`]): the server cancels its statements
/// at `limit`, at most [`ANSWER_WITHIN`], as the outbox gives the call up then, so that a
/// statement waiting for a lock does not go on holding a server connection after its own is
/// closed.
fn begin(mode: &str, limit: Duration) -> sqlx::AssertSqlSafe<String> {
    let millis = limit.min(ANSWER_WITHIN).as_millis().max(1);
    sqlx::AssertSqlSafe(format!(
        "BEGIN {mode}; SET LOCAL statement_timeout = '{millis}ms'"
    ))
}

/// A connection of the pool with a call on it: closed when dropped before the call answered.
struct Calling {
    connection: PoolConnection<Postgres>,
    answered: bool,
}

impl Drop for Calling {
    fn drop(&mut self) {
        if !self.answered {
            self.connection.close_on_drop();
        }
    }
}

/// The connection options of a parsed Postgres location: a URL as sqlx reads it, or a
/// `key=value` string's pairs, handed to sqlx as a URL's query of the same parameters.
///
/// sqlx reads `.pgpass` last for a URL, with the location's own host, port, database and user,
/// as libpq does; `PgConnectOptions::new()` would read it first, with the environment's, and
/// keep a password meant for another server (`localhost`'s sent to `host=prod-db`).
pub(crate) fn connect_options(
    postgres: &crate::location::Postgres,
) -> sqlx::Result<sqlx::postgres::PgConnectOptions> {
    use std::str::FromStr;

    use sqlx::postgres::PgConnectOptions;

    if let Some(url) = postgres.url() {
        return PgConnectOptions::from_str(url);
    }
    let mut query = Vec::new();
    for (key, value) in postgres.params() {
        let key = key.to_ascii_lowercase();
        match key.as_str() {
            "port" if value.parse::<u16>().is_err() => {
                let reason = format!("port `{value}` is not a number");
                return Err(sqlx::Error::Configuration(reason.into()));
            }
            "host" | "hostaddr" | "port" | "user" | "password" | "dbname" | "sslmode"
            | "sslrootcert" | "sslcert" | "sslkey" | "application_name" => {
                query.push(format!("{key}={}", percent_encode(value)));
            }
            // Refused or warned about when parsed.
            _ => {}
        }
    }
    PgConnectOptions::from_str(&format!("postgres:///?{}", query.join("&")))
}

/// `value` as a URL's query holds it: every byte but a letter, a digit, `-`, `.`, `_` or `~`
/// as `%XX` (a `+` too, which a query reads as a space).
fn percent_encode(value: &str) -> String {
    value
        .bytes()
        .map(|byte| match byte {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                char::from(byte).to_string()
            }
            _ => format!("%{byte:02X}"),
        })
        .collect()
}
