//! A SQLite store that fills, then has room again: durable writes resume by themselves, within
//! about a second, whatever the writer and the relay were doing when the file filled.

#![allow(clippy::unwrap_used)] // a test fails loudly on purpose

use std::time::Duration;

use affitor::client::RetryPolicy;
use affitor_mock::{Fault, MockServer};
use affitor_outbox::{Outbox, OutboxBuilder};

use crate::support::{client_with, sale, sqlite, sqlite_path, stand_in, wait_until};

const A_WHILE: Duration = Duration::from_secs(20);

/// The file's limit; the test's own table (the "disk's other files") takes most of it.
const LIMIT: u64 = 256 * 1024;

/// The test's own table: what the limit leaves once the outbox's tables are created.
const BALLAST: usize = 176 * 1024;

/// Fills the file at `path` with a table of the test's own (its connection has no limit), up
/// to about `bytes`: what the test deletes to make room.
fn ballast(path: &str, bytes: usize) {
    let connection = sqlite(path);
    connection
        .execute_batch("CREATE TABLE ballast (blob BLOB NOT NULL)")
        .unwrap();
    for _ in 0..bytes / 8192 {
        connection
            .execute("INSERT INTO ballast (blob) VALUES (zeroblob(8192))", [])
            .unwrap();
    }
}

/// A file named for `name`, filled with ballast, and an outbox on it that the ballast leaves
/// little room, with no relay unless `builder` turns one on: the file's path and the builder.
fn small_file(name: &str, client: &affitor::Client) -> (String, OutboxBuilder) {
    let path = sqlite_path(name);
    ballast(&path, BALLAST);
    let builder = Outbox::builder(client.clone())
        .max_file_size(LIMIT)
        .relay(false);
    (path, builder)
}

/// Room again: the ballast goes (its pages are free for the outbox's rows).
fn make_room(path: &str) {
    sqlite(path).execute("DELETE FROM ballast", []).unwrap();
}

/// Enqueues sales `from..` until one is held in memory (the file is full): how many.
async fn fill(outbox: &Outbox, mock: &MockServer, client: &affitor::Client, from: usize) -> usize {
    let padding = "x".repeat(1500);
    let mut n = from;
    while outbox.stats().spilled == 0 {
        assert!(n < from + 1000, "the file never filled up");
        outbox
            .enqueue(sale(mock, client, n).product_id(&padding))
            .await;
        n += 1;
    }
    n - from
}

/// After room is made, the events held in memory are written to the store, and new events go
/// there too, none to the in-memory queue.
async fn writes_resume(outbox: &Outbox, mock: &MockServer, client: &affitor::Client, from: usize) {
    // More events, held while the file is full.
    for n in from..from + 5 {
        outbox.enqueue(sale(mock, client, n)).await;
    }
    let n = from + 5;
    wait_until("the events held to be written back", A_WHILE, async || {
        outbox.stats().spilled == 0
    })
    .await;
    let stats = outbox.stats();
    assert_eq!(stats.written_back, stats.spilled_total);
    assert!(stats.written_back >= 6, "{stats:?}");
    for n in n..n + 20 {
        outbox.enqueue(sale(mock, client, n)).await;
    }
    let after = outbox.stats();
    assert_eq!(after.enqueued, stats.enqueued + 20);
    assert_eq!((after.fell_back, after.spilled), (0, 0));
    assert_eq!(after.enqueued, n as u64 + 20);
}

/// A client whose in-memory queue outlasts the outage (what falls back still arrives).
fn patient_client(mock: &MockServer) -> affitor::Client {
    client_with(
        mock,
        RetryPolicy::default()
            .max_attempts(1000)
            .base_delay(Duration::from_millis(10))
            .max_delay(Duration::from_millis(50))
            .deadline(Duration::from_secs(15)),
    )
}

/// The writer fills the file while the relay has nothing to do (the API takes every row at
/// once): the writer's batch is the one that hits "full".
#[tokio::test]
async fn writes_resume_once_the_file_has_room_after_the_writer_filled_it() {
    let (mock, _) = stand_in().await;
    let client = patient_client(&mock);
    let (path, builder) = small_file("full-writer", &client);
    // No relay: its rows stay, and fill the file.
    let outbox = builder.open(&path).await.unwrap();
    let sent = fill(&outbox, &mock, &client, 0).await;
    make_room(&path);
    writes_resume(&outbox, &mock, &client, sent).await;
}

/// The relay reschedules and claims while the file fills (the API answers 503): its writes hit
/// "full" too, between the writer's batches.
#[tokio::test]
async fn writes_and_claims_resume_once_the_file_has_room_after_the_relay_met_it_full() {
    let (mock, _) = stand_in().await;
    let client = patient_client(&mock);
    mock.inject(Fault::status(503).always());
    let (path, builder) = small_file("full-relay", &client);
    let outbox = builder
        .relay(true)
        .backoff(Duration::from_millis(10), Duration::from_millis(50))
        .poll_interval(Duration::from_millis(20))
        .open(&path)
        .await
        .unwrap();
    let sent = fill(&outbox, &mock, &client, 0).await;
    // The relay meets the full file for a while.
    tokio::time::sleep(Duration::from_millis(300)).await;
    make_room(&path);
    writes_resume(&outbox, &mock, &client, sent).await;
    mock.clear_faults();
    wait_until("every row to be delivered", A_WHILE, async || {
        outbox.waiting().await.unwrap() == 0
    })
    .await;
    // Each sale once: none both written back and sent from memory.
    let sales = crate::support::sale_requests(&mock);
    let distinct: std::collections::HashSet<_> = sales.iter().collect();
    assert_eq!(distinct.len() as u64, outbox.stats().enqueued);
}

/// A file that stays full: the events held in memory go to the in-memory queue once they waited
/// past `max_spill_wait`, and arrive from there; none is lost, none is written twice.
#[tokio::test]
async fn events_held_past_their_wait_go_to_the_memory_queue() {
    let (mock, _) = stand_in().await;
    let client = patient_client(&mock);
    let (path, builder) = small_file("full-wait", &client);
    let outbox = builder
        .max_spill_wait(Duration::from_millis(300))
        .open(&path)
        .await
        .unwrap();
    let sent = fill(&outbox, &mock, &client, 0).await;
    wait_until("the events held to go to memory", A_WHILE, async || {
        outbox.stats().spilled == 0
    })
    .await;
    let stats = outbox.stats();
    assert_eq!(stats.written_back, 0);
    assert_eq!(stats.fell_back, stats.spilled_total);
    assert_eq!(stats.enqueued + stats.fell_back, sent as u64);
    wait_until("the sales from memory", A_WHILE, async || {
        mock.sales().len() as u64 == stats.fell_back
    })
    .await;
}

/// An outbox that stops while its store fails: the probe ends, and what memory held goes to
/// the in-memory queue, which the client's shutdown drains: each sale arrives.
#[tokio::test]
async fn a_shutdown_while_the_store_fails_hands_what_is_held_to_the_memory_queue() {
    let (mock, _) = stand_in().await;
    let direct = patient_client(&mock);
    let (path, builder) = small_file("full-shutdown", &direct);
    let outbox = builder.open(&path).await.unwrap();
    let client = direct.with_backend(outbox.clone());
    fill(&outbox, &mock, &client, 0).await;
    for n in 1000..1005 {
        outbox.enqueue(sale(&mock, &client, n)).await;
    }
    let held = outbox.stats().spilled;
    assert!(held >= 6, "{:?}", outbox.stats());
    client.shutdown(Duration::from_secs(10)).await;
    let stats = outbox.stats();
    assert_eq!((stats.spilled, stats.fell_back), (0, held), "{stats:?}");
    assert_eq!(mock.sales().len() as u64, held);
}

/// A flush (a Lambda's, before it may freeze) while the store fails: what memory holds goes to
/// the in-memory queue, which the flush waits for.
#[tokio::test]
async fn a_flush_while_the_store_fails_sends_what_is_held() {
    let (mock, _) = stand_in().await;
    let direct = patient_client(&mock);
    let (path, builder) = small_file("full-flush", &direct);
    let outbox = builder.open(&path).await.unwrap();
    let client = direct.with_backend(outbox.clone());
    fill(&outbox, &mock, &client, 0).await;
    let held = outbox.stats().spilled;
    client.flush(Duration::from_secs(10)).await;
    let stats = outbox.stats();
    assert_eq!((stats.spilled, stats.fell_back), (0, held), "{stats:?}");
    assert_eq!(mock.sales().len() as u64, held);
}

/// The WAL is copied back into the file by its size, not after so many rows: rows written one
/// at a time (pages of WAL each) keep it to a few MB, where 8,192 of them grew it to tens of
/// MB, which filled a small disk by itself, and no checkpoint came to empty it.
#[tokio::test]
#[ignore = "run alone by .ci/test: how far the WAL grows depends on the copy's thread keeping \
            pace, which the suite's other tests, on the same cores and disk, hold back"]
async fn the_wal_stays_small_when_rows_come_one_at_a_time() {
    let (mock, client) = stand_in().await;
    let path = sqlite_path("wal-size");
    let outbox = Outbox::builder(client.clone())
        .relay(false)
        .open(&path)
        .await
        .unwrap();
    let wal = format!("{path}-wal");
    let mut largest = 0;
    for n in 0..2000 {
        let lead = client
            .lead(format!("user_{n}"))
            .click_id(mock.click("partner"));
        outbox.enqueue(lead).await;
        largest = largest.max(std::fs::metadata(&wal).map_or(0, |wal| wal.len()));
    }
    assert_eq!(outbox.stats().enqueued, 2000);
    // Four times the size that asks for a copy: the copy runs on a thread of its own, which
    // work beside it holds back (21 MB was seen in CI's suite, hence the test runs alone). Each
    // row adds pages of its own, so 2,000 of them without a copy make 25 MB.
    assert!(largest < 16 << 20, "the WAL grew to {largest} bytes");
}

/// The relay's deletes count toward the WAL's size as the batches' inserts do: rows delivered
/// one at a time, with no new row coming, keep it to a few MB, where they once grew it to
/// tens of MB after a load's requests stopped.
#[tokio::test]
#[ignore = "run alone by .ci/test: how far the WAL grows depends on the copy's thread keeping \
            pace, which the suite's other tests, on the same cores and disk, hold back"]
async fn the_wal_stays_small_while_the_relay_deletes_rows_one_at_a_time() {
    // Deleted one at a time with no copy between, they make 24 MB of WAL: enough rows that a
    // copy held back by a busy disk stays well below that.
    const ROWS: usize = 4000;
    let (mock, client) = stand_in().await;
    let path = sqlite_path("wal-deletes");
    let outbox = Outbox::builder(client.clone())
        .relay(false)
        .open(&path)
        .await
        .unwrap();
    let click_id = mock.click("partner");
    // One at a time, as in the test above: a row's pages are its own.
    for n in 0..ROWS {
        let lead = client.lead(format!("user_{n}")).click_id(click_id.clone());
        outbox.enqueue(lead).await;
    }
    outbox.shutdown(Duration::from_secs(5)).await;

    let outbox = Outbox::builder(client)
        .max_in_flight(1)
        .open(&path)
        .await
        .unwrap();
    let wal = format!("{path}-wal");
    let mut largest = 0;
    wait_until("every row delivered", Duration::from_secs(60), async || {
        largest = largest.max(std::fs::metadata(&wal).map_or(0, |wal| wal.len()));
        let backlog = outbox.backlog().await.unwrap();
        backlog.waiting + backlog.in_flight == 0
    })
    .await;
    assert_eq!(mock.leads().len(), ROWS);
    // Four times the size that asks for a copy, as in the test above: the copy keeps pace with
    // the deletes (4.3 MB alone, with four CPU hogs beside it too), but the suite's other tests
    // hold it back (9 MB was seen in CI's suite, hence the test runs alone).
    assert!(largest < 16 << 20, "the WAL grew to {largest} bytes");
    outbox.shutdown(Duration::from_secs(1)).await;
}

/// Requests that keep coming, without pause, while the store answers again: each waits for its
/// event's write-back behind those held before it, so the events held are written and new ones
/// go to the store again. Held at once as before, they refilled the spill as fast as it emptied,
/// and the outbox kept new events in memory only for as long as the requests came.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_held_are_written_back_while_requests_keep_coming() {
    let (mock, _) = stand_in().await;
    let client = patient_client(&mock);
    let path = sqlite_path("full-busy");
    // Room for what the requests write once the store answers: 32 MiB freed by `make_room`.
    let ballast = sqlite(&path);
    ballast
        .execute_batch(
            "CREATE TABLE ballast (blob BLOB NOT NULL);
             WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 4096)
             INSERT INTO ballast SELECT zeroblob(8192) FROM n;",
        )
        .unwrap();
    let size: u64 = ballast
        .query_row(
            "SELECT page_count * page_size FROM pragma_page_count(), pragma_page_size()",
            [],
            |row| row.get(0),
        )
        .unwrap();
    drop(ballast);
    let outbox = Outbox::builder(client.clone())
        .max_file_size(size + LIMIT - 200 * 1024)
        .relay(false)
        .open(&path)
        .await
        .unwrap();
    let sent = fill(&outbox, &mock, &client, 0).await;

    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let click_id = mock.click("partner");
    let mut requests = tokio::task::JoinSet::new();
    for task in 0..8 {
        let (outbox, client, click_id, stop) = (
            outbox.clone(),
            client.clone(),
            click_id.clone(),
            stop.clone(),
        );
        requests.spawn(async move {
            let mut n = 0;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let lead = client
                    .lead(format!("user_{task}_{n}"))
                    .click_id(click_id.clone());
                outbox.enqueue(lead).await;
                tokio::task::yield_now().await;
                n += 1;
            }
        });
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(outbox.stats().spilled > 0, "the requests' events are held");
    make_room(&path);
    wait_until(
        "nothing held while requests keep coming",
        A_WHILE,
        async || outbox.stats().spilled == 0,
    )
    .await;
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    requests.join_all().await;

    let before = outbox.stats();
    outbox.enqueue(sale(&mock, &client, sent)).await;
    let after = outbox.stats();
    assert_eq!(
        after.enqueued,
        before.enqueued + 1,
        "written to the store: {after:?}"
    );
    assert_eq!(after.spilled, 0);
}

/// The events held while the file is full are written back in the order they came, on a
/// runtime of several threads: each write of a batch first runs in that order, so a customer's
/// lead reaches the table before their sale (the relay sends a customer's rows by id). One task
/// each, as they were, the last spawned often ran first and took the earlier id.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_held_are_written_back_in_the_order_they_came() {
    let (mock, _) = stand_in().await;
    let client = patient_client(&mock);
    let (path, builder) = small_file("full-order", &client);
    let outbox = builder.open(&path).await.unwrap();
    let sent = fill(&outbox, &mock, &client, 0).await;
    let held: Vec<usize> = (sent..sent + 60).collect();
    for &n in &held {
        outbox.enqueue(sale(&mock, &client, n)).await;
    }
    make_room(&path);
    wait_until("the events held to be written back", A_WHILE, async || {
        outbox.stats().spilled == 0
    })
    .await;
    outbox.shutdown(Duration::from_secs(1)).await;
    let written: Vec<usize> = sqlite(&path)
        .prepare("SELECT transaction_id FROM affitor_outbox ORDER BY id")
        .unwrap()
        .query_map([], |row| row.get::<_, String>(0))
        .unwrap()
        .map(|id| id.unwrap()["in_".len()..].parse().unwrap())
        .filter(|n| *n >= sent)
        .collect();
    assert_eq!(written, held, "written back out of their order");
}
