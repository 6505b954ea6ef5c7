//! What the relay's tests need of the outbox's world: the stand-in API and a client of it, a
//! fresh SQLite path or Postgres schema, waiting.

use std::time::Duration;

use affitor::Client;
use affitor_mock::{MockServer, poll_until, quick_retries};
use affitor_outbox::sqlx;

/// A fresh stand-in API, and a client of it whose retries keep the tests fast: two attempts,
/// milliseconds apart.
pub(crate) async fn stand_in() -> (MockServer, Client) {
    let mock = MockServer::start().await.expect("the stand-in API starts");
    let client = mock
        .client_builder()
        .retry(quick_retries().max_attempts(2))
        .build()
        .expect("a client of the stand-in");
    (mock, client)
}

/// A sale the stand-in attributes: `in_<n>`, 100 cents, from a fresh click of the partner
/// `partner`.
pub(crate) fn sale(mock: &MockServer, client: &Client, n: usize) -> affitor::SaleRequest {
    client
        .sale(format!("in_{n}"), 100)
        .click_id(mock.click("partner"))
}

/// The transaction ids of the sales the stand-in received, in arrival order.
pub(crate) fn sale_requests(mock: &MockServer) -> Vec<String> {
    mock.requests_to(affitor::client::Endpoint::Sale)
        .iter()
        .filter_map(|request| request.body["transaction_id"].as_str().map(str::to_owned))
        .collect()
}

/// A path for a new SQLite file, in a directory of its own under the system's temp dir.
pub(crate) fn sqlite_path(test: &str) -> String {
    let dir =
        std::env::temp_dir().join(format!("affitor-relay-test-{}-{test}", std::process::id()));
    // A directory left by an earlier run of the same process id goes first.
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("a temp dir");
    dir.join("outbox.db").to_string_lossy().into_owned()
}

/// Waits until `done` holds, for at most `limit`; panics naming `what`.
pub(crate) async fn wait_until(what: &str, limit: Duration, mut done: impl AsyncFnMut() -> bool) {
    let held = poll_until(limit, async || done().await.then_some(())).await;
    assert!(held.is_some(), "gave up waiting for {what} after {limit:?}");
}

/// The test server: `AFFITOR_TEST_POSTGRES`, or the one `.ci/postgres` starts.
pub(crate) fn postgres_url() -> String {
    std::env::var("AFFITOR_TEST_POSTGRES")
        .ok()
        .filter(|url| !url.trim().is_empty())
        .unwrap_or_else(|| "postgres://affitor:affitor@127.0.0.1:5432/affitor_test".into())
}

/// A schema of its own on the test server, dropped by [`drop_all`](Self::drop_all).
pub(crate) struct Schema {
    name: String,
    admin: sqlx::PgPool,
}

impl Schema {
    /// Creates a fresh schema; panics, saying what to run, when there is no server.
    pub(crate) async fn create(test: &str) -> Self {
        let url = postgres_url();
        let admin = sqlx::postgres::PgPoolOptions::new()
            .acquire_timeout(Duration::from_secs(3))
            .connect(&url)
            .await
            .unwrap_or_else(|error| {
                panic!(
                    "the Postgres relay test needs a Postgres server at {url} ({error}): start \
                     one with `export AFFITOR_TEST_POSTGRES=$(bash .ci/postgres)`"
                )
            });
        let name = format!("relay_{test}_{}", std::process::id());
        let sql = format!("DROP SCHEMA IF EXISTS {name} CASCADE; CREATE SCHEMA {name};");
        sqlx::raw_sql(sqlx::AssertSqlSafe(sql))
            .execute(&admin)
            .await
            .expect("the test's schema");
        Self { name, admin }
    }

    /// Its name.
    pub(crate) fn name(&self) -> &str {
        &self.name
    }

    /// The test server's URL on this schema: where an outbox in it is.
    pub(crate) fn location(&self) -> String {
        let url = postgres_url();
        let separator = if url.contains('?') { '&' } else { '?' };
        format!("{url}{separator}options[search_path]={}", self.name)
    }

    /// Drops the schema and what it holds.
    pub(crate) async fn drop_all(self) {
        let sql = format!("DROP SCHEMA IF EXISTS {} CASCADE;", self.name);
        sqlx::raw_sql(sqlx::AssertSqlSafe(sql))
            .execute(&self.admin)
            .await
            .expect("the test's schema dropped");
        self.admin.close().await;
    }
}
