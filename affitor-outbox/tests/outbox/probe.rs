//! The probe of a degraded Postgres outbox under faults: after a restart, on a server whose
//! connections are slow to set up, the outbox is durable again; while a lock holds the table,
//! the probes given up hold no server connection beyond the pool's budget; a write-back its
//! runtime's end cuts short is counted.

use std::str::FromStr;
use std::time::Duration;

use affitor_outbox::Outbox;
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};

use crate::support::postgres::Schema;
use crate::support::{stand_in, wait_until};

/// Postgres restarts (every connection reset) under an outbox that only writes (a web server
/// beside a relay process), on a server whose connections take `connect` to set up. The write
/// that meets the dead connection holds its event in memory; the server answers again at once,
/// so the probe makes the outbox durable again, and the event is written back.
async fn durable_again_after_a_restart(connect: Duration) {
    let (_mock, client) = stand_in().await;
    let schema = Schema::create(&format!("probe_connect_{}", connect.as_millis())).await;
    let (proxy, location) = schema.through_proxy().await;
    proxy.delay_connects(connect);
    let outbox = Outbox::builder(client.clone())
        .relay(false)
        .enqueue_timeout(Duration::from_secs(5))
        .open(&location)
        .await
        .expect("the outbox opens");
    outbox.enqueue(client.lead("user_1")).await;
    assert_eq!(outbox.stats().enqueued, 1);

    proxy.reset();
    outbox.enqueue(client.lead("user_2")).await;
    assert_eq!(outbox.stats().spilled, 1, "{:?}", outbox.stats());
    wait_until(
        "the event written back",
        Duration::from_secs(30),
        async || outbox.stats().spilled == 0,
    )
    .await;
    assert_eq!(outbox.stats().written_back, 1, "{:?}", outbox.stats());
    outbox.shutdown(Duration::from_secs(2)).await;
}

#[tokio::test]
async fn after_a_restart_the_outbox_is_durable_again() {
    durable_again_after_a_restart(Duration::from_millis(300)).await;
}

/// Connections that take longer to set up than a probe waits for its answer (1 s).
#[tokio::test]
async fn after_a_restart_connections_slower_than_a_probe_make_it_durable_again() {
    durable_again_after_a_restart(Duration::from_millis(1500)).await;
}

/// While another session locks the outbox's table, the outbox is degraded and probes it, each
/// probe given up after a second: the server never holds more of the outbox's connections than
/// its pool allows, as a probe's statement ends when the probe gives it up.
#[tokio::test]
async fn probes_given_up_hold_no_connection_beyond_the_pools_budget() {
    let (_mock, client) = stand_in().await;
    let schema = Schema::create("probe_budget").await;
    let name = format!("affitor_probe_budget_{}", std::process::id());
    let options = PgConnectOptions::from_str(&crate::support::postgres::url())
        .expect("the test server's URL parses")
        .options([("search_path", schema.name())])
        .application_name(&name);
    let pool = PgPoolOptions::new()
        .max_connections(3)
        .connect_with(options)
        .await
        .expect("the test server answers");
    let outbox = Outbox::builder(client.clone())
        .relay(false)
        .enqueue_timeout(Duration::from_millis(300))
        .postgres(pool)
        .await
        .expect("the outbox opens");
    let own = schema.own_pool().await;
    let mut lock = own.begin().await.expect("a transaction of the test's own");
    sqlx::raw_sql("LOCK TABLE affitor_outbox IN ACCESS EXCLUSIVE MODE")
        .execute(&mut *lock)
        .await
        .expect("the table is locked");

    outbox.enqueue(client.lead("user_1")).await;
    assert_eq!(outbox.stats().spilled, 1, "held in memory: the probe runs");
    let mut most = 0;
    for _ in 0..40 {
        tokio::time::sleep(Duration::from_millis(200)).await;
        most = most.max(backends(&own, &name).await);
    }
    lock.rollback().await.expect("the lock is let go");
    outbox.shutdown(Duration::from_secs(2)).await;
    assert!(most <= 3, "{most} server connections of a pool of 3");
}

/// The server's connections named `name` (their `application_name`), counted on `own`.
async fn backends(own: &PgPool, name: &str) -> i64 {
    sqlx::query_scalar("SELECT count(*) FROM pg_stat_activity WHERE application_name = $1")
        .bind(name)
        .fetch_one(own)
        .await
        .expect("pg_stat_activity is read")
}

/// The end of the runtime an outbox was opened on, while the probe writes back an event held in
/// memory (a trigger makes its insert wait for a lock the test holds): that event may be lost,
/// and it is counted interrupted, not only logged, as a `send_in_background` write cut short is.
#[test]
fn a_write_back_its_runtime_cut_short_is_counted() {
    let own = tokio::runtime::Runtime::new().expect("the test's runtime");
    let app = tokio::runtime::Runtime::new().expect("the app's runtime");
    let schema = own.block_on(Schema::create("probe_cut_short"));
    let (proxy, location) = own.block_on(schema.through_proxy());
    let (outbox, client) = app.block_on(async {
        let (_mock, client) = stand_in().await;
        let outbox = Outbox::builder(client.clone())
            .relay(false)
            // Longer than the test: the write-back waits on the lock until the runtime ends.
            .enqueue_timeout(Duration::from_secs(60))
            .open(&location)
            .await
            .expect("the outbox opens");
        outbox.enqueue(client.lead("user_1")).await;
        (outbox, client)
    });
    // Another test of this process may hold the same key: the wait below is for this holder.
    let key = i64::from(std::process::id());
    let (pool, holder, holder_pid) = own.block_on(async {
        let pool = schema.own_pool().await;
        sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
            "CREATE FUNCTION hold_user_2() RETURNS trigger LANGUAGE plpgsql AS $$
             BEGIN PERFORM pg_advisory_xact_lock({key}); RETURN NEW; END $$;
             CREATE TRIGGER hold_user_2 BEFORE INSERT ON affitor_outbox
             FOR EACH ROW WHEN (NEW.customer_key = 'user_2') EXECUTE FUNCTION hold_user_2();"
        )))
        .execute(&pool)
        .await
        .expect("the trigger");
        let mut holder = pool.acquire().await.expect("a connection");
        let holder_pid: i32 = sqlx::query_scalar("SELECT pg_backend_pid()")
            .fetch_one(&mut *holder)
            .await
            .expect("the holder's backend");
        sqlx::query("SELECT pg_advisory_lock($1)")
            .bind(key)
            .execute(&mut *holder)
            .await
            .expect("the lock");
        (pool, holder, holder_pid)
    });

    proxy.reset();
    app.block_on(outbox.enqueue(client.lead("user_2")));
    assert_eq!(outbox.stats().spilled, 1, "{:?}", outbox.stats());
    own.block_on(wait_until(
        "the write-back to wait for the lock",
        Duration::from_secs(30),
        async || {
            sqlx::query_scalar::<_, i64>(
                "SELECT count(*) FROM pg_stat_activity WHERE $1 = ANY(pg_blocking_pids(pid))",
            )
            .bind(holder_pid)
            .fetch_one(&pool)
            .await
            .expect("pg_locks is read")
                > 0
        },
    ));
    assert_eq!(outbox.stats().interrupted, 0);
    drop(app);
    assert_eq!(outbox.stats().interrupted, 1, "{:?}", outbox.stats());
    // Dropped on a runtime: the outbox's pool and the test's own connections.
    own.block_on(async move {
        drop(outbox);
        drop(holder);
        pool.close().await;
    });
}
