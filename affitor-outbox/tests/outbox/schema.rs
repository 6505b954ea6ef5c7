//! The Postgres schema's versions: a start whose schema is current runs no DDL (and waits for
//! no transaction on the table), a table of the layout before versions is upgraded without a
//! lock on it, the app may apply the exported SQL itself, and an old and a new version of the
//! app share the table during a rolling deploy.

use std::time::{Duration, Instant};

use affitor::client::IntoEvent as _;
use affitor_outbox::migrations::POSTGRES;
use affitor_outbox::{Outbox, OutboxError};
use sqlx::PgPool;

use crate::support::postgres::{Schema, index_is_valid};
use crate::support::{stand_in, wait_until};

const A_WHILE: Duration = Duration::from_secs(30);

/// How long a start may take here before the test fails: a start that waits for the open
/// transaction's lock would wait for ever.
const START_LIMIT: Duration = Duration::from_secs(5);

/// What an outbox ran at each start before the schema was versioned (the previous release's
/// statement, as it was).
const PREVIOUS_START: &str = "
BEGIN;
SELECT pg_advisory_xact_lock(7367325063530520841);
CREATE TABLE IF NOT EXISTS affitor_outbox (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    endpoint TEXT NOT NULL,
    body TEXT NOT NULL,
    transaction_id TEXT,
    other_transaction_id TEXT,
    customer_key TEXT,
    attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    lease_owner TEXT,
    lease_until TIMESTAMPTZ,
    dead_at TIMESTAMPTZ,
    last_error TEXT,
    created_at TIMESTAMPTZ NOT NULL DEFAULT now()
);
ALTER TABLE affitor_outbox ADD COLUMN IF NOT EXISTS other_transaction_id TEXT;
DROP INDEX IF EXISTS affitor_outbox_due;
DROP INDEX IF EXISTS affitor_outbox_transaction;
DROP INDEX IF EXISTS affitor_outbox_customer;
CREATE INDEX IF NOT EXISTS affitor_outbox_transaction_id
    ON affitor_outbox (transaction_id, id) WHERE transaction_id IS NOT NULL AND dead_at IS NULL;
CREATE INDEX IF NOT EXISTS affitor_outbox_started
    ON affitor_outbox (customer_key, id)
    WHERE dead_at IS NULL AND (lease_until IS NOT NULL OR attempts > 0);
CREATE INDEX IF NOT EXISTS affitor_outbox_unstarted
    ON affitor_outbox (id) WHERE dead_at IS NULL AND lease_until IS NULL AND attempts = 0;
CREATE TABLE IF NOT EXISTS affitor_outbox_facts (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL,
    expires_at TIMESTAMPTZ NOT NULL
);
COMMIT;
";

/// How the previous release wrote a row (its `INSERT`), and the statements its relay claimed,
/// leased and completed rows with (the claim's conditions on the row, its lease, its delete).
const PREVIOUS_INSERT: &str = "
INSERT INTO affitor_outbox (endpoint, body, transaction_id, other_transaction_id, customer_key)
VALUES ($1, $2, $3, $4, $5)";
const PREVIOUS_CLAIMABLE: &str = "
SELECT o.id FROM affitor_outbox o
WHERE o.dead_at IS NULL
  AND (o.lease_until IS NULL OR o.lease_until <= now())
  AND (o.attempts = 0 OR o.next_attempt_at <= now())
  AND o.id > $1
ORDER BY o.id
LIMIT $2";
const PREVIOUS_LEASE: &str = "
UPDATE affitor_outbox
SET lease_owner = $1, lease_until = now() + $2::float8 * interval '1 millisecond'
WHERE id = ANY($3) AND dead_at IS NULL AND (lease_until IS NULL OR lease_until <= now())
RETURNING id, endpoint, body, other_transaction_id, attempts::bigint,
    (extract(epoch FROM now() - created_at) * 1000)::bigint";

/// The schema's recorded versions.
async fn versions(pool: &PgPool) -> Vec<i32> {
    sqlx::query_scalar("SELECT version FROM affitor_outbox_schema ORDER BY version")
        .fetch_all(pool)
        .await
        .expect("the version table")
}

/// Every version of the schema, as the version table records them once all are applied.
fn every_version() -> Vec<i32> {
    POSTGRES
        .iter()
        .map(|migration| i32::try_from(migration.version).expect("a small number"))
        .collect()
}

/// Waits until every version is recorded and version 2's index is valid: the start builds it in
/// the background, once the transactions open on the table have ended.
async fn every_version_applied(pool: &PgPool) {
    wait_until("every version applied", A_WHILE, async || {
        versions(pool).await == every_version() && index_is_valid(pool).await
    })
    .await;
}

/// Writes a lead for `user` as the previous release did.
async fn previous_insert(
    pool: &PgPool,
    client: &affitor::Client,
    mock: &affitor_mock::MockServer,
    user: &str,
) {
    let lead = client
        .lead(user)
        .click_id(mock.click("partner"))
        .into_event()
        .expect("a valid lead");
    sqlx::query(PREVIOUS_INSERT)
        .bind("lead")
        .bind(lead.to_json())
        .bind(None::<&str>)
        .bind(None::<&str>)
        .bind(user)
        .execute(pool)
        .await
        .expect("the previous release's insert");
}

/// A second start, while another session holds a transaction open that read the table (and
/// one that wrote to it), opens at once: it reads the schema's version and runs no DDL, which
/// would wait for those transactions and stall every later query on the table behind it.
#[tokio::test]
async fn a_start_whose_schema_is_current_waits_for_no_transaction() {
    let (_mock, client) = stand_in().await;
    let schema = Schema::create("current_start").await;
    let pool = schema.pool().await;
    let first = Outbox::builder(client.clone())
        .postgres(pool.clone())
        .await
        .expect("the first start creates the schema");

    let mut reader = pool.begin().await.expect("a transaction");
    let _: i64 = sqlx::query_scalar("SELECT count(*) FROM affitor_outbox")
        .fetch_one(&mut *reader)
        .await
        .expect("a read");
    let mut writer = pool.begin().await.expect("a transaction");
    sqlx::query("INSERT INTO affitor_outbox (endpoint, body) VALUES ('lead', '{}')")
        .execute(&mut *writer)
        .await
        .expect("a write");

    let started = Instant::now();
    let second = tokio::time::timeout(
        START_LIMIT,
        Outbox::builder(client).postgres(schema.pool().await),
    )
    .await
    .expect("the second start waited for the open transactions")
    .expect("the second start");
    println!(
        "second start with transactions open on the table: {:?}",
        started.elapsed()
    );

    writer.rollback().await.expect("a rollback");
    reader.rollback().await.expect("a rollback");
    every_version_applied(&pool).await;
    second.shutdown(Duration::from_secs(1)).await;
    first.shutdown(Duration::from_secs(1)).await;
}

/// A table the previous release made (no version table) is brought to version 1 without a lock
/// on it, while a transaction that wrote to it is still open, and its rows are delivered.
#[tokio::test]
async fn a_table_of_the_previous_layout_is_versioned_without_a_lock() {
    let (mock, client) = stand_in().await;
    let schema = Schema::create("previous_layout").await;
    let pool = schema.pool().await;
    sqlx::raw_sql(PREVIOUS_START)
        .execute(&pool)
        .await
        .expect("the previous release's start");
    previous_insert(&pool, &client, &mock, "user_old").await;
    let mut writer = pool.begin().await.expect("a transaction");
    sqlx::query("INSERT INTO affitor_outbox (endpoint, body) VALUES ('lead', '{}')")
        .execute(&mut *writer)
        .await
        .expect("a write");

    let started = Instant::now();
    let outbox = tokio::time::timeout(
        START_LIMIT,
        Outbox::builder(client.clone())
            .poll_interval(Duration::from_millis(20))
            .postgres(schema.pool().await),
    )
    .await
    .expect("the upgrade waited for the open transaction")
    .expect("the upgrade");
    println!(
        "upgrade of the previous layout with a write open: {:?}",
        started.elapsed()
    );
    writer.rollback().await.expect("a rollback");

    every_version_applied(&pool).await;
    wait_until(
        "the previous release's row delivered",
        A_WHILE,
        async || mock.leads().len() == 1 && outbox.waiting().await.unwrap_or(1) == 0,
    )
    .await;
    outbox.shutdown(Duration::from_secs(1)).await;
}

/// A table at version 1 (the first versioned release) is brought to the last version at the
/// next start, which does not wait for version 2's index (built in the background), and its
/// waiting rows are delivered.
#[tokio::test]
async fn a_table_at_version_1_is_upgraded() {
    let (mock, client) = stand_in().await;
    let schema = Schema::create("version_1").await;
    let pool = schema.pool().await;
    let mut transaction = pool.begin().await.expect("a transaction");
    sqlx::raw_sql(POSTGRES[0].sql)
        .execute(&mut *transaction)
        .await
        .expect("version 1");
    transaction.commit().await.expect("a commit");
    previous_insert(&pool, &client, &mock, "user_v1").await;
    assert_eq!(versions(&pool).await, [1]);

    let outbox = Outbox::builder(client.clone())
        .poll_interval(Duration::from_millis(20))
        .postgres(schema.pool().await)
        .await
        .expect("the upgrade");
    every_version_applied(&pool).await;
    wait_until(
        "the row written at version 1 delivered",
        A_WHILE,
        async || mock.leads().len() == 1 && outbox.waiting().await.unwrap_or(1) == 0,
    )
    .await;
    outbox.shutdown(Duration::from_secs(1)).await;
}

/// With `migrate(false)`, a start on a schema that is behind fails naming what to apply, and
/// opens once the app applied the exported SQL in its own transactions (as a migration tool
/// does; a second run of it changes nothing).
#[tokio::test]
async fn migrations_left_to_the_app_are_checked_at_the_start() {
    let (_mock, client) = stand_in().await;
    let schema = Schema::create("app_migrations").await;
    let pool = schema.pool().await;
    let error = Outbox::builder(client.clone())
        .migrate(false)
        .postgres(pool.clone())
        .await
        .map(drop)
        .expect_err("a schema that is behind");
    let text = error.to_string();
    println!("{text}");
    assert!(matches!(error, OutboxError::Unusable { .. }), "{error:?}");
    assert!(text.contains("version 0"), "{text}");
    assert!(text.contains("tables are missing"), "{text}");
    assert!(
        text.contains("affitor_outbox::migrations::POSTGRES"),
        "{text}"
    );
    let tables: i64 =
        sqlx::query_scalar("SELECT count(*) FROM pg_tables WHERE schemaname = current_schema()")
            .fetch_one(&pool)
            .await
            .expect("the catalog");
    assert_eq!(tables, 0, "nothing was created");

    for _ in 0..2 {
        for migration in POSTGRES {
            if !migration.transaction {
                sqlx::raw_sql(migration.sql)
                    .execute(&pool)
                    .await
                    .expect("the exported SQL, alone");
                continue;
            }
            let mut transaction = pool.begin().await.expect("a transaction");
            sqlx::raw_sql(migration.sql)
                .execute(&mut *transaction)
                .await
                .expect("the exported SQL");
            transaction.commit().await.expect("a commit");
        }
    }
    let outbox = Outbox::builder(client)
        .migrate(false)
        .postgres(pool.clone())
        .await
        .expect("the schema the app applied");
    // The index version 2 builds is known by the catalog: the app's tool records no version.
    assert_eq!(versions(&pool).await, [1]);
    assert!(index_is_valid(&pool).await);
    outbox.shutdown(Duration::from_secs(1)).await;
}

/// A rolling deploy: the previous release and this one run side by side on one table. Rows the
/// previous release wrote are delivered by this one; rows this one writes are claimed, leased
/// and completed by the previous release's statements; and a replica of the previous release
/// that restarts meanwhile (its start's DDL) leaves the versioned schema working.
#[tokio::test]
async fn the_previous_release_and_this_one_share_the_table() {
    let (mock, client) = stand_in().await;
    let schema = Schema::create("rolling_deploy").await;
    let pool = schema.pool().await;
    sqlx::raw_sql(PREVIOUS_START)
        .execute(&pool)
        .await
        .expect("the previous release's start");
    for user in ["user_old_1", "user_old_2"] {
        previous_insert(&pool, &client, &mock, user).await;
    }

    // This release delivers what the previous one wrote.
    let relay = Outbox::builder(client.clone())
        .poll_interval(Duration::from_millis(20))
        .postgres(schema.pool().await)
        .await
        .expect("this release's start");
    wait_until(
        "the previous release's rows delivered",
        A_WHILE,
        async || mock.leads().len() == 2 && relay.waiting().await.unwrap_or(1) == 0,
    )
    .await;
    relay.shutdown(Duration::from_secs(1)).await;

    // A replica of the previous release restarts: its start runs as it did.
    sqlx::raw_sql(PREVIOUS_START)
        .execute(&pool)
        .await
        .expect("the previous release's start");

    // This release writes (its relay elsewhere); the previous release's relay claims the rows.
    let writer = Outbox::builder(client.clone())
        .relay(false)
        .postgres(schema.pool().await)
        .await
        .expect("this release's start after the previous one's");
    for n in 0..2 {
        writer
            .enqueue(
                client
                    .lead(format!("user_new_{n}"))
                    .click_id(mock.click("partner")),
            )
            .await;
    }
    assert_eq!(writer.stats().fell_back, 0);
    let candidates: Vec<i64> = sqlx::query_scalar(PREVIOUS_CLAIMABLE)
        .bind(0_i64)
        .bind(100_i64)
        .fetch_all(&pool)
        .await
        .expect("the previous release's claim");
    assert_eq!(candidates.len(), 2);
    let leased: Vec<(i64, String, String, Option<String>, i64, i64)> =
        sqlx::query_as(PREVIOUS_LEASE)
            .bind("previous-release")
            .bind(15_000.0_f64)
            .bind(&candidates)
            .fetch_all(&pool)
            .await
            .expect("the previous release's lease");
    assert_eq!(leased.len(), 2);
    for (_, endpoint, body, ..) in &leased {
        assert_eq!(endpoint, "lead");
        let event: serde_json::Value = serde_json::from_str(body).expect("the row's JSON");
        assert!(event.to_string().contains("user_new_"), "{event}");
    }
    sqlx::query("DELETE FROM affitor_outbox WHERE id = ANY($1)")
        .bind(&candidates)
        .execute(&pool)
        .await
        .expect("the previous release's delete");
    assert_eq!(writer.waiting().await.expect("the count"), 0);
    every_version_applied(&pool).await;
    writer.shutdown(Duration::from_secs(1)).await;
}
