//! A SQLite store that fills, then has room again: durable writes resume by themselves, within
//! about a second, whatever the writer and the relay were doing when the file filled.

use std::time::Duration;

use affitor::client::RetryPolicy;
use affitor_mock::{Fault, MockServer};
use affitor_outbox::Outbox;

use crate::support::{client_with, sale, sqlite, sqlite_path, stand_in, wait_until};

const A_WHILE: Duration = Duration::from_secs(20);

/// The file's limit; the test's own table (the "disk's other files") takes most of it.
const LIMIT: u64 = 256 * 1024;

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

/// Room again: the ballast goes (its pages are free for the outbox's rows).
fn make_room(path: &str) {
    sqlite(path).execute("DELETE FROM ballast", []).unwrap();
}

/// Enqueues sales `from..` until one is kept in memory only (the file is full): how many.
async fn fill(outbox: &Outbox, mock: &MockServer, client: &affitor::Client, from: usize) -> usize {
    let padding = "x".repeat(1500);
    let fell_back = outbox.stats().fell_back;
    let mut n = from;
    while outbox.stats().fell_back == fell_back {
        assert!(n < from + 1000, "the file never filled up");
        outbox
            .enqueue(sale(mock, client, n).product_id(&padding))
            .await;
        n += 1;
    }
    n - from
}

/// After room is made, a new event is written to the store, not kept in memory.
async fn writes_resume(outbox: &Outbox, mock: &MockServer, client: &affitor::Client, from: usize) {
    let mut n = from;
    wait_until("a write to reach the store again", A_WHILE, async || {
        let enqueued = outbox.stats().enqueued;
        outbox.enqueue(sale(mock, client, n)).await;
        n += 1;
        outbox.stats().enqueued > enqueued
    })
    .await;
    // And it stays so.
    let stats = outbox.stats();
    for _ in 0..20 {
        outbox.enqueue(sale(mock, client, n)).await;
        n += 1;
    }
    assert_eq!(outbox.stats().enqueued, stats.enqueued + 20);
    assert_eq!(outbox.stats().fell_back, stats.fell_back);
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
    let path = sqlite_path("full-writer");
    ballast(&path, 200 * 1024);
    // No relay: its rows stay, and fill the file.
    let outbox = Outbox::builder(client.clone())
        .max_file_size(LIMIT)
        .relay(false)
        .open(&path)
        .await
        .unwrap();
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
    let path = sqlite_path("full-relay");
    ballast(&path, 200 * 1024);
    let outbox = Outbox::builder(client.clone())
        .max_file_size(LIMIT)
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
    assert!(outbox.stats().delivered > 0);
}
