//! The Postgres schema's versions: a start whose schema is current runs no DDL (and waits for
//! no transaction on the table), starts that race apply each version once, a schema ahead of
//! this outbox is used as it is, the app may apply the exported SQL itself, and another release
//! of the app shares the table during a rolling deploy.

use std::time::{Duration, Instant};

use affitor::client::IntoEvent as _;
use affitor_outbox::migrations::POSTGRES;
use affitor_outbox::{Outbox, OutboxError};
use sqlx::PgPool;

use crate::support::postgres::Schema;
use crate::support::{stand_in, wait_until};

const A_WHILE: Duration = Duration::from_secs(30);

/// How long a start may take here before the test fails: a start that waits for the open
/// transaction's lock would wait for ever.
const START_LIMIT: Duration = Duration::from_secs(5);

/// How another release of the app at schema version 1 writes a row (its `INSERT`), and the
/// statements its relay claims, leases and completes rows with (the claim's conditions on the
/// row, its lease, its delete), as they are: a later version of the schema must keep them
/// working.
const OTHER_INSERT: &str = "
INSERT INTO affitor_outbox (endpoint, body, transaction_id, other_transaction_id, customer_key)
VALUES ($1, $2, $3, $4, $5)";
const OTHER_CLAIMABLE: &str = "
SELECT o.id FROM affitor_outbox o
WHERE o.dead_at IS NULL
  AND (o.lease_until IS NULL OR o.lease_until <= now())
  AND (o.attempts = 0 OR o.next_attempt_at <= now())
  AND o.id > $1
ORDER BY o.id
LIMIT $2";
const OTHER_LEASE: &str = "
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

/// Applies every version of the exported SQL, each in a transaction of its own, as a migration
/// tool does.
async fn apply_exported(pool: &PgPool) {
    for migration in POSTGRES {
        let mut transaction = pool.begin().await.expect("a transaction");
        sqlx::raw_sql(migration.sql)
            .execute(&mut *transaction)
            .await
            .expect("the exported SQL");
        transaction.commit().await.expect("a commit");
    }
}

/// Writes a lead for `user` as the other release does.
async fn other_insert(
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
    sqlx::query(OTHER_INSERT)
        .bind("lead")
        .bind(lead.to_json())
        .bind(None::<&str>)
        .bind(None::<&str>)
        .bind(user)
        .execute(pool)
        .await
        .expect("the other release's insert");
}

/// What the other release's relay does with the rows waiting: claims them, leases them and
/// deletes them (as if delivered) with its own statements; the endpoint and body of each.
async fn other_relay_delivers(pool: &PgPool) -> Vec<(String, String)> {
    let candidates: Vec<i64> = sqlx::query_scalar(OTHER_CLAIMABLE)
        .bind(0_i64)
        .bind(100_i64)
        .fetch_all(pool)
        .await
        .expect("the other release's claim");
    let leased: Vec<(i64, String, String, Option<String>, i64, i64)> = sqlx::query_as(OTHER_LEASE)
        .bind("other-release")
        .bind(15_000.0_f64)
        .bind(&candidates)
        .fetch_all(pool)
        .await
        .expect("the other release's lease");
    assert_eq!(leased.len(), candidates.len(), "each candidate leased");
    sqlx::query("DELETE FROM affitor_outbox WHERE id = ANY($1)")
        .bind(&candidates)
        .execute(pool)
        .await
        .expect("the other release's delete");
    leased
        .into_iter()
        .map(|(_, endpoint, body, ..)| (endpoint, body))
        .collect()
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
    assert_eq!(versions(&pool).await, every_version());
    second.shutdown(Duration::from_secs(1)).await;
    first.shutdown(Duration::from_secs(1)).await;
}

/// Starts that race on a new schema each open: the advisory lock lets one apply each version,
/// and the others find it applied. The tables have every index of the last version.
#[tokio::test]
async fn starts_that_race_apply_each_version_once() {
    let (_mock, client) = stand_in().await;
    let schema = Schema::create("racing_starts").await;
    let start = async || {
        Outbox::builder(client.clone())
            .relay(false)
            .postgres(schema.pool().await)
            .await
            .expect("a start")
    };
    let (a, b, c, d) = tokio::join!(start(), start(), start(), start());
    let pool = schema.pool().await;
    assert_eq!(versions(&pool).await, every_version());
    let indexes: Vec<String> = sqlx::query_scalar(
        "SELECT indexname::text FROM pg_indexes
         WHERE tablename = 'affitor_outbox' AND schemaname = current_schema()
         ORDER BY indexname",
    )
    .fetch_all(&pool)
    .await
    .expect("the catalog");
    assert_eq!(
        indexes,
        [
            "affitor_outbox_live_by_customer",
            "affitor_outbox_pkey",
            "affitor_outbox_started",
            "affitor_outbox_transaction_id",
            "affitor_outbox_unstarted"
        ]
    );
    for outbox in [a, b, c, d] {
        outbox.shutdown(Duration::from_secs(1)).await;
    }
}

/// A schema a newer release of the app migrated (a version after this outbox's last, which
/// only adds) is used as it is, whether this outbox may migrate or not: nothing is changed, and
/// its events are delivered.
#[tokio::test]
async fn a_schema_ahead_of_this_outbox_is_used_as_it_is() {
    let (mock, client) = stand_in().await;
    let schema = Schema::create("schema_ahead").await;
    let pool = schema.pool().await;
    apply_exported(&pool).await;
    let next = POSTGRES.len() + 1;
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
        "ALTER TABLE affitor_outbox ADD COLUMN added_later TEXT;
         INSERT INTO affitor_outbox_schema (version, name) VALUES ({next}, 'added_later');"
    )))
    .execute(&pool)
    .await
    .expect("a later version");
    let ahead = versions(&pool).await;

    for migrate in [false, true] {
        let outbox = Outbox::builder(client.clone())
            .migrate(migrate)
            .poll_interval(Duration::from_millis(20))
            .postgres(schema.pool().await)
            .await
            .expect("a schema ahead opens");
        outbox
            .enqueue(client.lead("user_1").click_id(mock.click("partner")))
            .await;
        wait_until("the lead delivered", A_WHILE, async || {
            outbox.waiting().await.unwrap_or(1) == 0
        })
        .await;
        assert_eq!(outbox.stats().delivered, 1);
        outbox.shutdown(Duration::from_secs(1)).await;
    }
    assert_eq!(versions(&pool).await, ahead, "nothing changed");
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
        apply_exported(&pool).await;
    }
    let outbox = Outbox::builder(client)
        .migrate(false)
        .postgres(pool.clone())
        .await
        .expect("the schema the app applied");
    assert_eq!(versions(&pool).await, every_version());
    outbox.shutdown(Duration::from_secs(1)).await;
}

/// A rolling deploy: another release of the app on the same schema version and this one run
/// side by side on one table. Rows the other release wrote are delivered by this one; rows this
/// one writes are claimed, leased and completed by the other release's statements; and the
/// other release's migrations, run again meanwhile, leave the schema working.
#[tokio::test]
async fn another_release_and_this_one_share_the_table() {
    let (mock, client) = stand_in().await;
    let schema = Schema::create("rolling_deploy").await;
    let pool = schema.pool().await;
    apply_exported(&pool).await;
    for user in ["user_old_1", "user_old_2"] {
        other_insert(&pool, &client, &mock, user).await;
    }

    // This release delivers what the other one wrote.
    let relay = Outbox::builder(client.clone())
        .poll_interval(Duration::from_millis(20))
        .postgres(schema.pool().await)
        .await
        .expect("this release's start");
    wait_until("the other release's rows delivered", A_WHILE, async || {
        mock.leads().len() == 2 && relay.waiting().await.unwrap_or(1) == 0
    })
    .await;
    relay.shutdown(Duration::from_secs(1)).await;

    // The other release's migrations run again, as its deploy may run them.
    apply_exported(&pool).await;

    // This release writes (its relay elsewhere); the other release's relay claims the rows.
    let writer = Outbox::builder(client.clone())
        .relay(false)
        .postgres(schema.pool().await)
        .await
        .expect("this release's start after the other one's");
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
    let delivered = other_relay_delivers(&pool).await;
    assert_eq!(delivered.len(), 2);
    for (endpoint, body) in &delivered {
        assert_eq!(endpoint, "lead");
        let event: serde_json::Value = serde_json::from_str(body).expect("the row's JSON");
        assert!(event.to_string().contains("user_new_"), "{event}");
    }
    assert_eq!(writer.waiting().await.expect("the count"), 0);
    assert_eq!(versions(&pool).await, every_version());
    writer.shutdown(Duration::from_secs(1)).await;
}

/// Each exported version follows the one before it, runs in the app's transaction (none of its
/// own), and records itself.
#[test]
fn versions_follow_each_other_and_record_themselves() {
    for (index, migration) in POSTGRES.iter().enumerate() {
        assert_eq!(migration.version as usize, index + 1);
        let upper = migration.sql.to_ascii_uppercase();
        assert!(!upper.contains("BEGIN;") && !upper.contains("COMMIT"));
        let record = format!(
            "INSERT INTO affitor_outbox_schema (version, name) VALUES ({}, '{}')",
            migration.version, migration.name
        );
        assert!(migration.sql.contains(&record), "{}", migration.version);
    }
}
