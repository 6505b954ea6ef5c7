//! Another program holding the SQLite file's write lock (a migration, a script, a second app on
//! the same file): no request waits past its enqueue timeout and a margin, and each event is
//! kept, then stored once.

use std::time::{Duration, Instant};

use affitor_outbox::Outbox;

use crate::support::{sale, sqlite, sqlite_path, stand_in, wait_until};

const A_WHILE: Duration = Duration::from_secs(30);

/// A sale that reaches the writer while the batch before it waits for the lock is taken just
/// before its own limit: its batch waits no longer than that limit, where it waited a whole
/// enqueue timeout more (twice the timeout in all).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lock_held_elsewhere_holds_no_request_past_its_limit() {
    const LIMIT: Duration = Duration::from_secs(1);
    let (mock, client) = stand_in().await;
    let path = sqlite_path("locked");
    // No relay: its claims would wait for the lock on the writer's thread too, and the rows
    // behind them would be given up before any batch took them.
    let outbox = Outbox::builder(client.clone())
        .enqueue_timeout(LIMIT)
        .relay(false)
        .open(&path)
        .await
        .unwrap();
    let other = sqlite(&path);
    other.execute_batch("BEGIN IMMEDIATE").unwrap();

    let timed = |n: usize| {
        let (outbox, event) = (outbox.clone(), sale(&mock, &client, n));
        tokio::spawn(async move {
            let started = Instant::now();
            outbox.enqueue(event).await;
            started.elapsed()
        })
    };
    let first = timed(1);
    tokio::time::sleep(Duration::from_millis(100)).await;
    let second = timed(2);
    let waited = [first.await.unwrap(), second.await.unwrap()];
    // A bound on liveness, not on speed: the margin the outbox promises, and the machine's pace.
    let bound = LIMIT + Duration::from_millis(500) + Duration::from_millis(400);
    assert!(waited.iter().all(|waited| *waited < bound), "{waited:?}");

    other.execute_batch("ROLLBACK").unwrap();
    wait_until("both sales written back", A_WHILE, async || {
        outbox.stats().spilled == 0
    })
    .await;
    let rows = "SELECT count(*), count(DISTINCT transaction_id) FROM affitor_outbox";
    let (rows, sales): (i64, i64) = other
        .query_row(rows, [], |row| Ok((row.get(0)?, row.get(1)?)))
        .unwrap();
    assert_eq!((rows, sales), (2, 2), "each sale stored once");
    outbox.shutdown(Duration::from_secs(1)).await;
}
