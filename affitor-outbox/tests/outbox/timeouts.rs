//! How long the server works for a call the outbox gave up: no longer than the outbox waits.

use std::time::Duration;

use affitor_outbox::Outbox;

use crate::support::{Store, stand_in, wait_until};

/// A call whose table is locked elsewhere is given up after its wait (10 s), and the server
/// cancels its statement with it: no backend of the outbox is left waiting for the lock.
#[tokio::test]
async fn a_call_given_up_is_cancelled_on_the_server() {
    let (_mock, client) = stand_in().await;
    let store = Store::postgres(module_path!()).await;
    let outbox = store.open(Outbox::builder(client).relay(false)).await;
    // Refutable only when the SQLite store is built too.
    #[allow(irrefutable_let_patterns)]
    let Store::Postgres(schema, pool) = &store else {
        panic!("a Postgres store");
    };
    let mut lock = pool.begin().await.expect("a transaction of the test's own");
    sqlx::raw_sql("LOCK TABLE affitor_outbox IN ACCESS EXCLUSIVE MODE")
        .execute(&mut *lock)
        .await
        .expect("the table is locked");

    assert!(outbox.waiting().await.is_err(), "the table is locked");
    let waiting = format!(
        "SELECT pg_catalog.count(*) FROM pg_catalog.pg_stat_activity
         WHERE wait_event_type = 'Lock' AND query LIKE '%{}%'",
        schema.name()
    );
    wait_until(
        "the server to cancel the call",
        Duration::from_secs(3),
        async || store.integers(&waiting).await == [Some(0)],
    )
    .await;
    lock.rollback().await.expect("the lock is released");
    outbox.shutdown(Duration::from_secs(1)).await;
}
