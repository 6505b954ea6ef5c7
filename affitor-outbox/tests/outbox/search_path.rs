//! The Postgres outbox's statements are not at `search_path`'s mercy: a schema earlier on the
//! role's path, which another role can create in, gets a function or a table of the outbox's
//! names. Its function is never called, its table stops the start, saying whose it is, and a row
//! written in the caller's own transaction goes to the outbox's table whatever its path.

use std::str::FromStr;
use std::time::Duration;

use affitor_outbox::{Outbox, OutboxError};
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};

use crate::support::postgres::url;
use crate::support::{stand_in, wait_until};

const A_WHILE: Duration = Duration::from_secs(30);

/// The app's role and schema (`<name>`), and another role with a schema of its own
/// (`<name>_x`), which it lets the app's role use, as a careless grant would.
struct Roles {
    app: String,
    other: String,
    admin: PgPool,
}

impl Roles {
    async fn create(name: &str) -> Self {
        let app = format!("outbox_{name}_{}", std::process::id());
        let other = format!("{app}_x");
        let admin = PgPool::connect(&url()).await.expect("the test server");
        sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
            "DROP SCHEMA IF EXISTS {app} CASCADE; DROP SCHEMA IF EXISTS {other} CASCADE;
             DROP ROLE IF EXISTS {app}; DROP ROLE IF EXISTS {other};
             CREATE ROLE {app} LOGIN PASSWORD '{app}'; CREATE ROLE {other};
             CREATE SCHEMA {app} AUTHORIZATION {app};
             CREATE SCHEMA {other} AUTHORIZATION {other};
             GRANT USAGE ON SCHEMA {other} TO {app};"
        )))
        .execute(&admin)
        .await
        .expect("the roles and their schemas");
        Self { app, other, admin }
    }

    /// Runs `sql` as the other role, its schema first on its path.
    async fn as_other(&self, sql: &str) {
        let Self { other, .. } = self;
        sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
            "BEGIN; SET LOCAL ROLE {other}; SET LOCAL search_path = {other}; {sql}; COMMIT;"
        )))
        .execute(&self.admin)
        .await
        .expect("the other role's statements");
    }

    /// A pool as the app's role, with `search_path`.
    async fn app_pool(&self, search_path: &str) -> PgPool {
        let options = PgConnectOptions::from_str(&url())
            .expect("AFFITOR_TEST_POSTGRES is a postgres:// URL")
            .username(&self.app)
            .password(&self.app)
            .options([("search_path", search_path)]);
        PgPoolOptions::new()
            .connect_with(options)
            .await
            .expect("a pool as the app's role")
    }

    /// Makes the outbox's tables in the app's schema, as its first start does.
    async fn first_start(&self, client: &affitor::Client) {
        let outbox = Outbox::builder(client.clone())
            .postgres(self.app_pool(&self.app).await)
            .await
            .expect("the first start makes the tables");
        outbox.shutdown(Duration::from_secs(1)).await;
    }
}

/// A `now()` of another role's, on the path before `pg_catalog`, which records each call: the
/// outbox writes, claims, delivers and journals a lead without calling it.
#[tokio::test]
async fn a_function_of_the_same_name_earlier_on_the_path_is_never_called() {
    let (mock, client) = stand_in().await;
    let roles = Roles::create("path_function").await;
    roles.first_start(&client).await;
    let Roles { app, other, .. } = &roles;
    roles
        .as_other(&format!(
            "CREATE TABLE calls (n int);
             CREATE FUNCTION now() RETURNS timestamptz LANGUAGE sql VOLATILE AS
                 'INSERT INTO {other}.calls VALUES (1); SELECT pg_catalog.now()';
             GRANT INSERT ON calls TO {app}"
        ))
        .await;

    let pool = roles.app_pool(&format!("{other}, pg_catalog, {app}")).await;
    let outbox = Outbox::builder(client.clone())
        .poll_interval(Duration::from_millis(20))
        .journal(Duration::from_secs(3600))
        .postgres(pool)
        .await
        .expect("the outbox starts");
    outbox
        .enqueue(client.lead("user_1").click_id(mock.click("partner")))
        .await;
    wait_until("the lead delivered", A_WHILE, async || {
        outbox.waiting().await.expect("the store answers") == 0 && !mock.leads().is_empty()
    })
    .await;
    // Its journal entry went with its delete, into the app's own table.
    wait_until("the lead journaled", A_WHILE, async || {
        sqlx::query_scalar::<_, i64>(sqlx::AssertSqlSafe(format!(
            "SELECT count(*) FROM {app}.affitor_outbox_journal"
        )))
        .fetch_one(&roles.admin)
        .await
        .expect("the journal")
            == 1
    })
    .await;
    outbox.dead_letters().await.expect("the store answers");
    outbox.shutdown(Duration::from_secs(1)).await;

    let calls: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
        "SELECT count(*) FROM {other}.calls"
    )))
    .fetch_one(&roles.admin)
    .await
    .expect("the calls");
    assert_eq!(calls, 0, "the other role's now() ran as the app's role");
}

/// The outbox's tables, made by another role in its schema, on the path before the app's:
/// the start fails, naming the table, its owner and what to do; nothing is written there.
#[tokio::test]
async fn a_table_another_role_made_earlier_on_the_path_stops_the_start() {
    let (_mock, client) = stand_in().await;
    let roles = Roles::create("path_table").await;
    roles.first_start(&client).await;
    let Roles { app, other, .. } = &roles;
    let migration = affitor_outbox::migrations::POSTGRES[0].sql;
    roles
        .as_other(&format!(
            "{migration}; GRANT ALL ON ALL TABLES IN SCHEMA {other} TO {app}"
        ))
        .await;

    let pool = roles.app_pool(&format!("{other}, {app}")).await;
    let started = Outbox::builder(client.clone()).postgres(pool).await;
    let Err(OutboxError::Unusable { reason, .. }) = started else {
        panic!("the outbox started on another role's tables: {started:?}");
    };
    assert!(
        reason.contains(&format!("{other}.affitor_outbox"))
            && reason.contains("belongs to the role"),
        "{reason}"
    );
}

/// A lead written by `enqueue_in` in the app's own transaction, whose `search_path` puts another
/// schema's `affitor_outbox` first: the row goes to the outbox's table, and is delivered; the
/// other table gets nothing.
#[tokio::test]
async fn a_row_written_in_the_callers_transaction_goes_to_the_outboxs_table() {
    let (mock, client) = stand_in().await;
    let roles = Roles::create("path_enqueue_in").await;
    roles.first_start(&client).await;
    let Roles { app, other, .. } = &roles;
    let migration = affitor_outbox::migrations::POSTGRES[0].sql;
    roles
        .as_other(&format!(
            "{migration}; GRANT ALL ON ALL TABLES IN SCHEMA {other} TO {app};
             GRANT ALL ON ALL SEQUENCES IN SCHEMA {other} TO {app}"
        ))
        .await;

    let pool = roles.app_pool(app).await;
    let outbox = Outbox::builder(client.clone())
        .poll_interval(Duration::from_millis(20))
        .postgres(pool.clone())
        .await
        .expect("the outbox starts on the app's tables");
    let mut transaction = pool.begin().await.expect("a transaction");
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
        "SET LOCAL search_path = {other}, {app}"
    )))
    .execute(&mut *transaction)
    .await
    .expect("the caller's search_path");
    outbox
        .enqueue_in(
            &mut *transaction,
            client.lead("user_1").click_id(mock.click("partner")),
        )
        .await
        .expect("the lead written in the caller's transaction");
    transaction.commit().await.expect("the caller's commit");

    wait_until("the lead delivered", A_WHILE, async || {
        !mock.leads().is_empty()
    })
    .await;
    outbox.shutdown(Duration::from_secs(1)).await;
    let elsewhere: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
        "SELECT count(*) FROM {other}.affitor_outbox"
    )))
    .fetch_one(&roles.admin)
    .await
    .expect("the other table");
    assert_eq!(elsewhere, 0, "the lead was written to another role's table");
}
