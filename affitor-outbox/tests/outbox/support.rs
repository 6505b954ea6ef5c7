//! What the outbox tests share: the stand-in API and its clients, fresh stores, waiting.

use std::path::PathBuf;
use std::time::Duration;

use affitor::Client;
use affitor::client::{IntoEvent, RetryPolicy};
use affitor_mock::{MockServer, poll_until, quick_retries};
use affitor_outbox::{Outbox, OutboxBuilder};

/// Retries inside one `send` that keep the tests fast: two attempts, milliseconds apart; a
/// refund does not wait for its sale (the relay orders them).
pub(crate) fn quick_policy() -> RetryPolicy {
    quick_retries()
        .max_attempts(2)
        .refund_not_found_window(Duration::ZERO)
}

/// A client of `mock` with `retry`.
pub(crate) fn client_with(mock: &MockServer, retry: RetryPolicy) -> Client {
    mock.client_builder()
        .retry(retry)
        .build()
        .expect("a client of the stand-in")
}

/// A fresh stand-in API and a client of it with [`quick_policy`].
pub(crate) async fn stand_in() -> (MockServer, Client) {
    let mock = MockServer::start().await.expect("the stand-in API starts");
    let client = client_with(&mock, quick_policy());
    (mock, client)
}

/// A sale the stand-in attributes: `in_<n>`, 100 cents, from a fresh click of the partner
/// `partner`.
pub(crate) fn sale(mock: &MockServer, client: &Client, n: usize) -> affitor::SaleRequest {
    client
        .sale(format!("in_{n}"), 100)
        .click_id(mock.click("partner"))
}

/// Where a test's outbox stores: a new SQLite file, or a new schema of the test server (and a
/// pool of the test's own on it), opened as often as the test restarts its app.
#[allow(clippy::large_enum_variant)] // one per test
pub(crate) enum Store {
    #[cfg(feature = "sqlite")]
    Sqlite(String),
    #[cfg(feature = "postgres")]
    Postgres(postgres::Schema, sqlx::PgPool),
}

impl Store {
    /// A new SQLite file for the test at `path` (its module path).
    #[cfg(feature = "sqlite")]
    pub(crate) fn sqlite(path: &str) -> Self {
        Self::Sqlite(sqlite_path(&test_name(path)))
    }

    /// A new Postgres schema for the test at `path` (its module path).
    #[cfg(feature = "postgres")]
    pub(crate) async fn postgres(path: &str) -> Self {
        let schema = postgres::Schema::create(&test_name(path)).await;
        let pool = schema.own_pool().await;
        Self::Postgres(schema, pool)
    }

    /// A new Postgres schema and role for the test at `path`, the outbox's pools reaching it
    /// through PgBouncer in transaction mode ([`postgres::Schema::behind_pgbouncer`]).
    #[cfg(feature = "postgres")]
    pub(crate) async fn pgbouncer(path: &str) -> Self {
        let schema = postgres::Schema::behind_pgbouncer(&test_name(path)).await;
        let pool = schema.own_pool().await;
        Self::Postgres(schema, pool)
    }

    /// An outbox of `builder` on this store (on Postgres, with a pool of its own).
    pub(crate) async fn open(&self, builder: OutboxBuilder) -> Outbox {
        match self {
            #[cfg(feature = "sqlite")]
            Self::Sqlite(path) => builder.open(path).await.expect("the SQLite outbox opens"),
            #[cfg(feature = "postgres")]
            Self::Postgres(schema, _) => builder
                .postgres(schema.pool().await)
                .await
                .expect("the Postgres outbox opens"),
        }
    }

    /// The SQLite file's path; `None` on Postgres.
    pub(crate) fn file(&self) -> Option<&str> {
        match self {
            #[cfg(feature = "sqlite")]
            Self::Sqlite(path) => Some(path),
            #[cfg(feature = "postgres")]
            Self::Postgres(..) => None,
        }
    }

    /// `sqlite` or `postgres`: the SQL this store speaks, where the two differ.
    pub(crate) fn dialect<'a>(&self, sqlite: &'a str, postgres: &'a str) -> &'a str {
        match self {
            #[cfg(feature = "sqlite")]
            Self::Sqlite(_) => {
                let _ = postgres;
                sqlite
            }
            #[cfg(feature = "postgres")]
            Self::Postgres(..) => {
                let _ = sqlite;
                postgres
            }
        }
    }

    /// Runs the statement `sql`, on a connection of the test's own.
    pub(crate) async fn execute(&self, sql: &str) {
        match self {
            #[cfg(feature = "sqlite")]
            Self::Sqlite(path) => {
                sqlite(path).execute_batch(sql).expect("the statement runs");
            }
            #[cfg(feature = "postgres")]
            Self::Postgres(_, pool) => {
                sqlx::raw_sql(sqlx::AssertSqlSafe(sql))
                    .execute(pool)
                    .await
                    .expect("the statement runs");
            }
        }
    }

    /// The one row `sql` reads, each column an integer (NULL: `None`), on a connection of the
    /// test's own.
    pub(crate) async fn integers(&self, sql: &str) -> Vec<Option<i64>> {
        match self {
            #[cfg(feature = "sqlite")]
            Self::Sqlite(path) => sqlite(path)
                .query_row(sql, [], |row| {
                    (0..row.as_ref().column_count())
                        .map(|column| row.get(column))
                        .collect()
                })
                .expect("the row is read"),
            #[cfg(feature = "postgres")]
            Self::Postgres(_, pool) => {
                use sqlx::Row as _;
                let row = sqlx::query(sqlx::AssertSqlSafe(sql))
                    .fetch_one(pool)
                    .await
                    .expect("the row is read");
                (0..row.len())
                    .map(|column| row.try_get(column).expect("an integer"))
                    .collect()
            }
        }
    }

    /// Runs `sql`, then writes `event` through `outbox.enqueue_in`, in one transaction of the
    /// test's own; commits it when `commit`, else rolls it back.
    pub(crate) async fn enqueue_in_transaction(
        &self,
        outbox: &Outbox,
        sql: &str,
        event: impl IntoEvent,
        commit: bool,
    ) {
        match self {
            #[cfg(feature = "sqlite")]
            Self::Sqlite(path) => {
                let mut connection = sqlite(path);
                let mut transaction = connection.transaction().expect("a transaction");
                transaction.execute_batch(sql).expect("the statement runs");
                let written = outbox.enqueue_in(&mut transaction, event).await;
                written.expect("the event is written");
                match commit {
                    true => transaction.commit(),
                    false => transaction.rollback(),
                }
                .expect("the transaction ends");
            }
            #[cfg(feature = "postgres")]
            Self::Postgres(_, pool) => {
                let mut transaction = pool.begin().await.expect("a transaction");
                sqlx::raw_sql(sqlx::AssertSqlSafe(sql))
                    .execute(&mut *transaction)
                    .await
                    .expect("the statement runs");
                let written = outbox.enqueue_in(&mut *transaction, event).await;
                written.expect("the event is written");
                match commit {
                    true => transaction.commit().await,
                    false => transaction.rollback().await,
                }
                .expect("the transaction ends");
            }
        }
    }
}

/// A test's name from its module path, for a file or a schema: `outbox::order::a_sale` is
/// `order_a_sale`.
fn test_name(path: &str) -> String {
    let path = path.split_once("::").map_or(path, |(_crate, test)| test);
    path.replace("::", "_")
}

/// Instantiates the test `$body`, an `async fn(Store)`, on each store this build has: a module
/// named after it, with the tests `sqlite` and `postgres`, each on a new store. A test
/// attribute before the name replaces `#[tokio::test]`. `, pgbouncer` after it adds the test
/// `pgbouncer`, on [`Store::pgbouncer`]: Postgres through PgBouncer in transaction mode.
#[allow(unused_macros)] // the relay binary's tests, which share this file, use none
macro_rules! on_each_store {
    ($body:ident $(, $also:ident)?) => {
        $crate::support::on_each_store!(
            #[tokio::test]
            $body $(, $also)?
        );
    };
    (#[$test:meta] $body:ident $(, $also:ident)?) => {
        mod $body {
            #[cfg(feature = "sqlite")]
            #[$test]
            async fn sqlite() {
                super::$body($crate::support::Store::sqlite(module_path!())).await;
            }

            #[cfg(feature = "postgres")]
            #[$test]
            async fn postgres() {
                super::$body($crate::support::Store::postgres(module_path!()).await).await;
            }

            $(
                #[cfg(feature = "postgres")]
                #[$test]
                async fn $also() {
                    super::$body($crate::support::Store::$also(module_path!()).await).await;
                }
            )?
        }
    };
}
#[allow(unused_imports)] // as above
pub(crate) use on_each_store;

/// A connection of the test's own to the SQLite file at `path` (created when missing), through
/// the outbox's `rusqlite`.
#[cfg(feature = "sqlite")]
pub(crate) fn sqlite(path: &str) -> affitor_outbox::rusqlite::Connection {
    let connection =
        affitor_outbox::rusqlite::Connection::open(path).expect("the SQLite file opens");
    connection
        .busy_timeout(Duration::from_secs(5))
        .expect("a busy timeout");
    connection
}

/// A path for a new SQLite file, in a directory of its own under this process's directory of
/// the system's temp dir. The directories of earlier runs are removed on the first call.
#[cfg_attr(not(feature = "sqlite"), allow(dead_code))]
pub(crate) fn sqlite_path(test: &str) -> String {
    static SWEPT: std::sync::Once = std::sync::Once::new();
    let runs = std::env::temp_dir().join("affitor-outbox-tests");
    SWEPT.call_once(|| sweep_ended_runs(&runs));
    let dir: PathBuf = runs
        .join(std::process::id().to_string())
        .join(format!("{test}-{:08x}", fastrand_u32()));
    std::fs::create_dir_all(&dir).expect("a temp dir");
    dir.join("outbox.db").to_string_lossy().into_owned()
}

/// Removes the directories under `runs` of the test processes that have ended (each is named by
/// its process's id), where `/proc` tells which have: a run's files are tens of megabytes.
fn sweep_ended_runs(runs: &std::path::Path) {
    if !std::path::Path::new("/proc/self").exists() {
        return;
    }
    let Ok(entries) = std::fs::read_dir(runs) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let ended = name
            .to_str()
            .and_then(|pid| pid.parse::<u32>().ok())
            .is_some_and(|pid| !std::path::Path::new("/proc").join(pid.to_string()).exists());
        if ended {
            let _ = std::fs::remove_dir_all(entry.path());
        }
    }
}

fn fastrand_u32() -> u32 {
    use std::hash::{BuildHasher, RandomState};
    RandomState::new().hash_one(std::time::SystemTime::now()) as u32
}

/// Waits until `done` holds, for at most `limit`; panics naming `what`.
pub(crate) async fn wait_until(what: &str, limit: Duration, mut done: impl AsyncFnMut() -> bool) {
    let held = poll_until(limit, async || done().await.then_some(())).await;
    assert!(held.is_some(), "gave up waiting for {what} after {limit:?}");
}

/// The transaction ids of the sales the stand-in received, in arrival order, whatever it
/// answered.
pub(crate) fn sale_requests(mock: &MockServer) -> Vec<String> {
    mock.requests_to(affitor::client::Endpoint::Sale)
        .iter()
        .filter_map(|request| request.body["transaction_id"].as_str().map(str::to_owned))
        .collect()
}

#[cfg(feature = "postgres")]
pub(crate) mod postgres {
    use std::str::FromStr;
    use std::sync::OnceLock;

    use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
    use test_support::postgres::{CONNECT_TIMEOUT, DEFAULT_URL, START_ONE, reachable};

    /// The server the tests use: `AFFITOR_TEST_POSTGRES`, or the one `.ci/postgres` starts.
    /// Fails at once, saying what to run, when nothing answers at its address.
    pub(crate) fn url() -> String {
        let url = std::env::var("AFFITOR_TEST_POSTGRES")
            .ok()
            .filter(|url| !url.trim().is_empty())
            .unwrap_or_else(|| DEFAULT_URL.to_owned());
        probe(&url);
        url
    }

    /// Panics, saying what to run, when nothing accepts a TCP connection at the URL's host and
    /// port within [`CONNECT_TIMEOUT`] (a `key=value` string is left to sqlx).
    fn probe(url: &str) {
        static REACHED: OnceLock<Result<(), String>> = OnceLock::new();
        let reached = REACHED.get_or_init(|| match PgConnectOptions::from_str(url) {
            Ok(options) => reachable(options.get_host(), options.get_port()),
            Err(_) => Ok(()),
        });
        if let Err(why) = reached {
            panic!("the Postgres outbox tests need a Postgres server: {why}. {START_ONE}.");
        }
    }

    /// The TLS set-up `.ci/postgres` makes beside the test server: its database `affitor_tls`
    /// (TLS connections only), the test CA that signed the server's certificate for
    /// `localhost`, and another CA that signed nothing.
    pub(crate) struct Tls {
        /// The CA's PEM file.
        pub(crate) ca: String,
        /// A CA that did not sign the server's certificate.
        pub(crate) other_ca: String,
        user: String,
        password: String,
        port: u16,
    }

    /// Where `.ci/postgres` puts the certificates; `AFFITOR_TEST_POSTGRES_TLS` names another
    /// folder (with `ca.crt` and `other-ca.crt`) for a server of your own set up the same way.
    const TLS_DIR: &str = "/var/lib/postgresql/affitor-tls";

    impl Tls {
        /// The set-up, or a panic saying what to run when it is missing.
        pub(crate) fn find() -> Self {
            let options = PgConnectOptions::from_str(&url())
                .expect("AFFITOR_TEST_POSTGRES is a postgres:// URL");
            let dir = std::env::var("AFFITOR_TEST_POSTGRES_TLS")
                .ok()
                .filter(|dir| !dir.trim().is_empty())
                .unwrap_or_else(|| TLS_DIR.to_owned());
            let file = |name: &str| format!("{dir}/{name}");
            for path in [file("ca.crt"), file("other-ca.crt")] {
                assert!(
                    std::path::Path::new(&path).is_file(),
                    "the Postgres TLS tests need the test CA at {path}, which `.ci/postgres` makes \
                     with the server's certificate, `ssl = on` and the TLS-only database \
                     `affitor_tls`: run `bash .ci/postgres` as root (or `bash .ci/test`, which \
                     runs it), or set AFFITOR_TEST_POSTGRES_TLS to a folder of your own server's"
                );
            }
            let url = url();
            let user_info = url
                .split_once("://")
                .and_then(|(_, rest)| rest.rsplit_once('@'))
                .map_or("", |(user_info, _)| user_info);
            let password = user_info
                .split_once(':')
                .map_or("", |(_, password)| password);
            Self {
                ca: file("ca.crt"),
                other_ca: file("other-ca.crt"),
                user: options.get_username().to_owned(),
                password: password.to_owned(),
                port: options.get_port(),
            }
        }

        /// A URL of the TLS-only database at `host`, with `query` (`sslmode=...`).
        pub(crate) fn url(&self, host: &str, query: &str) -> String {
            let Self {
                user,
                password,
                port,
                ..
            } = self;
            format!("postgres://{user}:{password}@{host}:{port}/affitor_tls?{query}")
        }

        /// The same as a `key=value` connection string, with `settings` (`sslmode=...`).
        pub(crate) fn key_values(&self, host: &str, settings: &str) -> String {
            let Self {
                user,
                password,
                port,
                ..
            } = self;
            format!(
                "host={host} port={port} user={user} password='{password}' dbname=affitor_tls \
                 {settings}"
            )
        }
    }

    /// A schema of its own for one test, and a way to open pools on it.
    pub(crate) struct Schema {
        options: PgConnectOptions,
        /// The test's own connections: to the server itself, on the schema.
        own: PgConnectOptions,
        name: String,
    }

    /// What to run when the pooler tests find no pooler.
    const START_PGBOUNCER: &str = "Run every test with `bash .ci/test` (it installs and starts \
                                   PgBouncer), or start it with `export \
                                   AFFITOR_TEST_PGBOUNCER_TRANSACTION=$(bash .ci/pgbouncer \
                                   transaction)` (Debian's `pgbouncer` package, in front of the \
                                   server of `.ci/postgres`)";

    /// The test server's pooler in transaction mode: `AFFITOR_TEST_PGBOUNCER_TRANSACTION`.
    /// Fails at once, saying what to run, when it is not set.
    fn pgbouncer_url() -> String {
        std::env::var("AFFITOR_TEST_PGBOUNCER_TRANSACTION")
            .ok()
            .filter(|url| !url.trim().is_empty())
            .unwrap_or_else(|| {
                panic!(
                    "this test runs the outbox through PgBouncer in transaction mode, and \
                     AFFITOR_TEST_PGBOUNCER_TRANSACTION is not set. {START_PGBOUNCER}."
                )
            })
    }

    /// A name for `test`'s schema (and role): Postgres cuts a name at 63 bytes, so a longer one
    /// keeps its start and a hash of all.
    fn name_for(test: &str) -> String {
        let name = format!("outbox_{test}_{}", std::process::id());
        if name.len() <= 63 {
            return name;
        }
        let hash = std::hash::BuildHasher::hash_one(
            &std::hash::BuildHasherDefault::<std::hash::DefaultHasher>::default(),
            &name,
        );
        format!("{}_{:08x}", &name[..54], hash as u32)
    }

    /// Runs `sql` on the test server as its superuser; panics at once, saying what to run,
    /// when there is no server.
    async fn as_admin(sql: String) {
        let url = url();
        let admin = PgPoolOptions::new()
            .acquire_timeout(CONNECT_TIMEOUT)
            .connect(&url)
            .await
            .unwrap_or_else(|error| {
                panic!(
                    "the Postgres outbox tests need a Postgres server at {url} ({error}). \
                     {START_ONE}."
                )
            });
        sqlx::raw_sql(sqlx::AssertSqlSafe(sql))
            .execute(&admin)
            .await
            .expect("the test's schema (and role)");
        admin.close().await;
    }

    impl Schema {
        /// Creates a fresh schema on the test server; panics at once, saying what to run, when
        /// there is no server.
        pub(crate) async fn create(test: &str) -> Self {
            let name = name_for(test);
            as_admin(format!(
                "DROP SCHEMA IF EXISTS {name} CASCADE; CREATE SCHEMA {name};"
            ))
            .await;
            Self::existing(&name)
        }

        /// Creates a fresh schema and a role of the same name, which owns it and has it alone
        /// on its search_path (the role's setting), and opens the outbox's pools as that role
        /// through PgBouncer in transaction mode, where a startup `search_path` cannot go.
        /// Panics at once, saying what to run, when there is no pooler.
        pub(crate) async fn behind_pgbouncer(test: &str) -> Self {
            let pooler = PgConnectOptions::from_str(&pgbouncer_url())
                .expect("AFFITOR_TEST_PGBOUNCER_TRANSACTION is a postgres:// URL");
            // Not the name of the same test's schema on the server itself, which runs beside.
            let name = name_for(&format!("pooled_{test}"));
            as_admin(format!(
                "DROP SCHEMA IF EXISTS {name} CASCADE; DROP ROLE IF EXISTS {name};
                 CREATE ROLE {name} LOGIN PASSWORD '{name}';
                 ALTER ROLE {name} SET search_path = {name};
                 CREATE SCHEMA {name} AUTHORIZATION {name};"
            ))
            .await;
            Self {
                // PgBouncer refuses sqlx's default `extra_float_digits` at the start.
                options: pooler
                    .username(&name)
                    .password(&name)
                    .extra_float_digits(None),
                ..Self::existing(&name)
            }
        }

        /// The URL of a schema [`behind_pgbouncer`](Self::behind_pgbouncer): PgBouncer's, as
        /// the schema's role.
        pub(crate) fn pooler_url(&self) -> String {
            let pooler = PgConnectOptions::from_str(&pgbouncer_url())
                .expect("AFFITOR_TEST_PGBOUNCER_TRANSACTION is a postgres:// URL");
            let (host, port, name) = (pooler.get_host(), pooler.get_port(), &self.name);
            let database = pooler.get_database().unwrap_or("affitor_test");
            format!("postgres://{name}:{name}@{host}:{port}/{database}")
        }

        /// The schema `name` that [`create`](Self::create) made, in another process: a child
        /// process's way to the schema of its test.
        pub(crate) fn existing(name: &str) -> Self {
            let options = PgConnectOptions::from_str(&url())
                .expect("AFFITOR_TEST_POSTGRES is a postgres:// URL")
                .options([("search_path", name)]);
            Self {
                own: options.clone(),
                options,
                name: name.to_owned(),
            }
        }

        /// The schema's name: for a child process of the crash tests (which need SQLite too).
        #[cfg_attr(not(feature = "sqlite"), allow(dead_code))]
        pub(crate) fn name(&self) -> &str {
            &self.name
        }

        /// A TCP proxy to the test server, and the schema's location through it: the network's
        /// faults (a server gone silent, connections lost) for an outbox opened there.
        pub(crate) async fn through_proxy(&self) -> (test_support::proxy::Proxy, String) {
            let url = url();
            let options: PgConnectOptions = url.parse().expect("the test server's URL parses");
            let server = format!("{}:{}", options.get_host(), options.get_port());
            let target = server
                .parse()
                .expect("the URL names the server as host:port");
            let proxy = test_support::proxy::Proxy::start(target)
                .await
                .expect("the proxy listens");
            let through = url.replacen(&server, &proxy.addr().to_string(), 1);
            assert_ne!(through, url, "the URL names the server as host:port");
            let separator = if through.contains('?') { '&' } else { '?' };
            let location = format!("{through}{separator}options[search_path]={}", self.name);
            (proxy, location)
        }

        /// A new pool on the schema, for an outbox.
        pub(crate) async fn pool(&self) -> PgPool {
            PgPoolOptions::new()
                .max_connections(8)
                .connect_with(self.options.clone())
                .await
                .expect("a pool on the test schema")
        }

        /// A new pool on the schema for the test's own statements, on the server itself.
        pub(crate) async fn own_pool(&self) -> PgPool {
            PgPoolOptions::new()
                .max_connections(8)
                .connect_with(self.own.clone())
                .await
                .expect("a pool on the test schema")
        }

        /// Locks the one row of the outbox (`FOR UPDATE` or `FOR KEY SHARE`) in a transaction
        /// of the test's own on `own`, then waits for a relay's delete to wait for the lock:
        /// the row is released when the transaction ends.
        pub(crate) async fn stall_the_delete(
            &self,
            own: &PgPool,
            lock: &str,
        ) -> sqlx::Transaction<'static, sqlx::Postgres> {
            let mut holding = own.begin().await.expect("a transaction");
            let locked: Vec<(i64,)> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
                "SELECT id FROM affitor_outbox FOR {lock}"
            )))
            .fetch_all(&mut *holding)
            .await
            .expect("the row locked");
            assert_eq!(locked.len(), 1, "the one row, locked");
            crate::support::wait_until(
                "the relay's delete waiting for the lock",
                std::time::Duration::from_secs(90),
                async || {
                    let waiting: i64 = sqlx::query_scalar(
                        "SELECT count(*) FROM pg_stat_activity
                         WHERE wait_event_type = 'Lock'
                             AND query LIKE '%DELETE FROM%affitor_outbox%'
                             AND position($1 IN query) > 0",
                    )
                    .bind(&self.name)
                    .fetch_one(own)
                    .await
                    .expect("the server's activity");
                    waiting == 1
                },
            )
            .await;
            holding
        }
    }
}
