//! The SQLite outbox against the stand-in API: delivery, order, outages, a full file, corrupt
//! rows, and writes in the caller's transaction.

use std::time::Duration;

use affitor::client::{Endpoint, RetryPolicy};
use affitor_mock::{Fault, MockServer, RefundStatus};
use affitor_outbox::{Outbox, OutboxError};

use crate::support::{
    client_with, quick_policy, sale, sale_requests, sqlite, sqlite_path, stand_in, wait_until,
};

const A_WHILE: Duration = Duration::from_secs(20);

#[tokio::test]
async fn each_event_is_written_then_delivered_once() {
    let (mock, client) = stand_in().await;
    let click_id = mock.click("partner");
    let outbox = Outbox::open(&sqlite_path("once"), client.clone())
        .await
        .unwrap();

    outbox
        .enqueue(client.lead("user_1").click_id(click_id))
        .await;
    outbox.enqueue(sale(&mock, &client, 1)).await;
    outbox.enqueue(client.refund("in_1")).await;
    wait_until("the outbox to empty", A_WHILE, async || {
        outbox.waiting().await.unwrap() == 0
    })
    .await;

    assert_eq!(mock.leads().len(), 1);
    assert_eq!(sale_requests(&mock), ["in_1"]);
    assert_eq!(mock.refunds().len(), 1);
    assert_eq!(mock.refunds()[0].status, RefundStatus::Reversed);
    let stats = outbox.shutdown(Duration::from_secs(1)).await;
    assert_eq!((stats.enqueued, stats.delivered, stats.dead), (3, 3, 0));
}

/// As a client's backend, the outbox takes every `send_in_background`: the handler code is the
/// same with or without it, and nothing reaches the client's in-memory queue.
#[tokio::test]
async fn send_in_background_goes_through_the_outbox_set_as_the_clients_backend() {
    let (mock, direct) = stand_in().await;
    let click_id = mock.click("partner");
    // No relay: what `send_in_background` hands over stays in the store, to be seen there.
    let path = sqlite_path("backend");
    let outbox = Outbox::builder(direct.clone())
        .relay(false)
        .open(&path)
        .await
        .unwrap();
    let client = direct.with_backend(outbox.clone());
    assert!(format!("{client:?}").contains("affitor_outbox::Outbox"));

    client
        .lead("user_1")
        .click_id(click_id)
        .send_in_background();
    sale(&mock, &client, 1).send_in_background();
    client.refund("in_1").send_in_background();
    // An invalid event is refused at once, as without a backend.
    client.lead("").send_in_background();

    let stats = outbox.shutdown(Duration::from_secs(5)).await;
    assert_eq!(stats.enqueued, 3, "{stats:?}");
    assert_eq!(stats.fell_back, 0, "{stats:?}");
    assert_eq!(outbox.waiting().await.unwrap(), 3);
    assert_eq!(direct.delivery_stats().queued, 0);
    assert_eq!(direct.delivery_stats().failed, 1);
    assert!(
        mock.requests().is_empty(),
        "nothing was sent: the relay is off"
    );

    // A relay on the same file delivers them.
    let relay = Outbox::open(&path, direct.clone()).await.unwrap();
    wait_until("the outbox to empty", A_WHILE, async || {
        relay.waiting().await.unwrap() == 0
    })
    .await;
    assert_eq!(mock.leads().len(), 1);
    assert_eq!(sale_requests(&mock), ["in_1"]);
    assert_eq!(mock.refunds().len(), 1);
    relay.shutdown(Duration::from_secs(1)).await;
}

#[tokio::test]
async fn a_refund_waits_for_its_sale() {
    let (mock, _) = stand_in().await;
    // The sale's first attempt fails, and the client tries again 300 ms later: a refund sent
    // meanwhile would find no sale (and, with no window to wait in, be given up on).
    let client = client_with(
        &mock,
        RetryPolicy::default()
            .max_attempts(2)
            .base_delay(Duration::from_millis(300))
            .max_delay(Duration::from_millis(300))
            .refund_not_found_window(Duration::ZERO),
    );
    mock.inject(Fault::status(503).on(Endpoint::Sale).times(1));
    let outbox = Outbox::open(&sqlite_path("order"), client.clone())
        .await
        .unwrap();

    outbox.enqueue(sale(&mock, &client, 1)).await;
    outbox.enqueue(client.refund("in_1")).await;
    wait_until("the outbox to empty", A_WHILE, async || {
        outbox.waiting().await.unwrap() == 0
    })
    .await;

    let refunds = mock.refunds();
    assert_eq!(refunds.len(), 1, "the refund found its sale");
    assert_eq!(refunds[0].status, RefundStatus::Reversed);
    assert_eq!(outbox.stats().dead, 0);
    assert!(outbox.dead_letters().await.unwrap().is_empty());
}

/// A refund written before its sale (and its sale's first attempt failing) is not sent while
/// the sale waits: the sale goes first, whatever the rows' order.
#[tokio::test]
async fn a_refund_written_before_its_sale_waits_for_it() {
    let (mock, client) = stand_in().await;
    let outbox = Outbox::builder(client.clone())
        .relay(false)
        .open(&sqlite_path("refund_first"))
        .await
        .unwrap();
    outbox
        .enqueue(client.refund("in_7").or_transaction_id("pi_7"))
        .await;
    outbox.enqueue(sale(&mock, &client, 7)).await;
    outbox.shutdown(Duration::from_secs(1)).await;
    let relay = Outbox::builder(client.clone())
        .poll_interval(Duration::from_millis(20))
        .open(outbox.location())
        .await
        .unwrap();
    wait_until("the outbox to empty", A_WHILE, async || {
        relay.waiting().await.unwrap() == 0
    })
    .await;
    assert_eq!(sale_requests(&mock), ["in_7"]);
    let refunds = mock.requests_to(Endpoint::Refund);
    assert_eq!(refunds.len(), 1, "sent once, after its sale: {refunds:?}");
    assert_eq!(mock.refunds()[0].status, RefundStatus::Reversed);
}

/// The tables, indexes and outbox columns of the SQLite file at `path`, by name.
fn objects(path: &str) -> Vec<String> {
    sqlite(path)
        .prepare(
            "SELECT name FROM sqlite_master
             UNION ALL SELECT 'column ' || name FROM pragma_table_info('affitor_outbox')
             ORDER BY 1",
        )
        .and_then(|mut names| names.query_map([], |row| row.get(0))?.collect())
        .expect("the file's objects")
}

/// With `migrate(false)`, an outbox only checks the file: a missing file, an app's database
/// without the outbox's tables and a table without this version's columns and indexes are
/// refused, saying so, and left as they were; a file an outbox made opens.
#[tokio::test]
async fn migrate_false_checks_the_file_and_changes_nothing() {
    let (_mock, client) = stand_in().await;
    let checked = || Outbox::builder(client.clone()).relay(false).migrate(false);

    let missing = sqlite_path("migrate_missing");
    let error = checked().open(&missing).await.unwrap_err();
    assert!(matches!(error, OutboxError::Unusable { .. }), "{error:?}");
    assert!(error.to_string().contains("no file there"), "{error}");
    assert!(!std::path::Path::new(&missing).exists(), "no file created");

    let app = sqlite_path("migrate_app");
    sqlite(&app)
        .execute("CREATE TABLE users (id TEXT PRIMARY KEY)", [])
        .unwrap();
    let error = checked().open(&app).await.unwrap_err();
    assert!(matches!(error, OutboxError::Unusable { .. }), "{error:?}");
    let text = error.to_string();
    assert!(text.contains("tables are missing"), "{text}");
    assert!(text.contains("migrate(true)"), "{text}");
    assert_eq!(
        objects(&app),
        ["sqlite_autoindex_users_1", "users"],
        "nothing created"
    );

    let earlier = sqlite_path("migrate_earlier"); // another program's table of that name
    sqlite(&earlier)
        .execute_batch(
            "CREATE TABLE affitor_outbox (
            id INTEGER PRIMARY KEY AUTOINCREMENT, endpoint TEXT NOT NULL, body TEXT NOT NULL,
            transaction_id TEXT, customer_key TEXT, attempts INTEGER NOT NULL DEFAULT 0,
            next_attempt_at INTEGER NOT NULL, lease_owner TEXT, lease_until INTEGER,
            dead_at INTEGER, last_error TEXT, created_at INTEGER NOT NULL);",
        )
        .unwrap();
    let before = objects(&earlier);
    let error = checked().open(&earlier).await.unwrap_err();
    let text = error.to_string();
    assert!(matches!(error, OutboxError::Unusable { .. }), "{error:?}");
    assert!(text.contains("not this outbox's"), "{text}");
    assert!(text.contains("other_transaction_id"), "{text}");
    // A start would not add the columns: the fix is a file of its own, not a migration.
    assert!(!text.contains("migrate(true)"), "{text}");
    assert_eq!(objects(&earlier), before, "nothing changed");

    // Made by an outbox that migrates, as the app's start would: then it opens.
    let current = sqlite_path("migrate_current");
    Outbox::builder(client.clone())
        .relay(false)
        .open(&current)
        .await
        .unwrap()
        .shutdown(Duration::from_secs(1))
        .await;
    checked()
        .open(&current)
        .await
        .expect("a current file")
        .shutdown(Duration::from_secs(1))
        .await;
}

#[tokio::test]
async fn an_api_down_ten_times_the_backoff_ceiling_loses_nothing_and_its_backoff_stays_bounded() {
    // Ten ceilings: the backoff reaches its ceiling in about 3 s (0.1 s doubled), then stays.
    const OUTAGE: Duration = Duration::from_secs(20);
    let (mock, client) = stand_in().await;
    mock.inject(Fault::status(503).always());
    let path = sqlite_path("down");
    let max_backoff = Duration::from_secs(2);
    let outbox = Outbox::builder(client.clone())
        .backoff(Duration::from_millis(100), max_backoff)
        .poll_interval(Duration::from_millis(50))
        .open(&path)
        .await
        .unwrap();
    for n in 0..5 {
        outbox.enqueue(sale(&mock, &client, n)).await;
    }

    // Through the outage, no row ever waits longer than the backoff's ceiling for its next
    // attempt, and the attempts go on.
    let database = sqlite(&path);
    let started = tokio::time::Instant::now();
    while started.elapsed() < OUTAGE {
        tokio::time::sleep(Duration::from_secs(1)).await;
        let (rows, longest): (i64, Option<i64>) = database
            .query_row(
                "SELECT count(*), max(next_attempt_at) - CAST(unixepoch('subsec') * 1000 AS INTEGER)
                 FROM affitor_outbox WHERE dead_at IS NULL",
                [],
                |row| Ok((row.get(0)?, row.get(1)?)),
            )
            .unwrap();
        assert_eq!(rows, 5, "nothing lost, nothing given up");
        let longest = longest.unwrap_or_default();
        assert!(longest <= max_backoff.as_millis() as i64, "{longest} ms");
    }
    let stats = outbox.stats();
    assert_eq!((stats.delivered, stats.dead), (0, 0));
    // An attempt per row every ceiling (2 s) once the backoff reached it: about 8 a row on
    // the ceiling, of which 7 are asked for (a busy machine's relay runs a little late).
    let ceilings = OUTAGE.as_secs() / max_backoff.as_secs();
    assert!(stats.rescheduled >= 5 * (ceilings - 3), "{stats:?}");

    mock.clear_faults();
    wait_until("the outbox to empty", A_WHILE, async || {
        outbox.waiting().await.unwrap() == 0
    })
    .await;
    let mut recorded: Vec<String> = mock
        .sales()
        .into_iter()
        .map(|sale| sale.transaction_id)
        .collect();
    recorded.sort();
    assert_eq!(recorded, ["in_0", "in_1", "in_2", "in_3", "in_4"]);
    assert_eq!(outbox.stats().dead, 0);
}

#[tokio::test]
async fn a_corrupt_row_is_set_aside_and_reported() {
    let (mock, client) = stand_in().await;
    let path = sqlite_path("corrupt");
    // A writer only, so that the rows below are in place before a relay looks.
    let writer = Outbox::builder(client.clone())
        .relay(false)
        .open(&path)
        .await
        .unwrap();
    writer.enqueue(sale(&mock, &client, 1)).await;
    let database = sqlite(&path);
    for (endpoint, body) in [("sale", "{\"amount_cents\": \"lots\"}"), ("teleport", "{}")] {
        database
            .execute(
                "INSERT INTO affitor_outbox (endpoint, body, next_attempt_at, created_at)
                 VALUES (?1, ?2, 0, 0)",
                [endpoint, body],
            )
            .unwrap();
    }

    let relay = Outbox::open(&path, client).await.unwrap();
    // A dead letter is counted once the store keeps it: waited for as well.
    wait_until("the rows to be settled and counted", A_WHILE, async || {
        relay.waiting().await.unwrap() == 0 && relay.stats().corrupt == 2
    })
    .await;

    assert_eq!(sale_requests(&mock), ["in_1"]);
    let stats = relay.stats();
    assert_eq!((stats.delivered, stats.corrupt), (1, 2));
    let letters = relay.dead_letters().await.unwrap();
    let endpoints: Vec<&str> = letters
        .iter()
        .map(|letter| letter.endpoint.as_str())
        .collect();
    assert_eq!(endpoints, ["sale", "teleport"]);
    assert!(
        letters
            .iter()
            .all(|letter| letter.error.contains("could not be read back"))
    );
}

/// A stand-in that answers 503 until told otherwise, a client whose memory queue retries for
/// longer than that lasts (however slowly a busy machine fills the file), and the builder of an
/// outbox whose file fills at 64 KiB, past which it holds three events in memory.
async fn a_file_soon_full() -> (MockServer, affitor::Client, affitor_outbox::OutboxBuilder) {
    let (mock, _) = stand_in().await;
    let client = client_with(
        &mock,
        RetryPolicy::default()
            .max_attempts(100_000)
            .base_delay(Duration::from_millis(10))
            .max_delay(Duration::from_millis(20))
            .deadline(Duration::from_secs(120)),
    );
    mock.inject(Fault::status(503).always());
    let builder = Outbox::builder(client.clone())
        .max_file_size(64 * 1024)
        .max_spilled(3);
    (mock, client, builder)
}

#[tokio::test]
async fn a_full_file_hands_events_to_the_memory_queue() {
    let (mock, client, builder) = a_file_soon_full().await;
    // Past the three events held in memory for the store, the rest go to the memory queue.
    let outbox = builder
        .backoff(Duration::from_millis(10), Duration::from_millis(50))
        .open(&sqlite_path("full"))
        .await
        .unwrap();
    let padding = "x".repeat(2000);
    let mut sent = 0;
    while outbox.stats().fell_back == 0 {
        assert!(sent < 500, "the file never filled up");
        outbox
            .enqueue(sale(&mock, &client, sent).product_id(&padding))
            .await;
        sent += 1;
    }
    let stats = outbox.stats();
    assert_eq!(stats.spilled, 3);
    assert_eq!(
        stats.enqueued + stats.fell_back + stats.spilled,
        sent as u64
    );

    mock.clear_faults();
    wait_until("every sale to arrive", A_WHILE, async || {
        mock.sales().len() == sent
    })
    .await;
    assert!(
        client.delivery_stats().delivered >= 1,
        "the memory queue delivered the rest"
    );
}

/// A full file, a full spill and a full memory queue: a request waits for room in the queue
/// (within its enqueue timeout) rather than its event being dropped, so every sale arrives.
#[tokio::test]
async fn past_a_full_file_a_request_waits_for_room_in_the_memory_queue() {
    let (mock, _) = stand_in().await;
    mock.inject(Fault::delay(Duration::from_millis(150)).always());
    let client = mock
        .client_builder()
        .retry(quick_policy())
        .queue_capacity(2)
        .max_in_flight(1)
        .build()
        .unwrap();
    // No relay: the file stays full, so every event past the spill goes to the memory queue.
    let outbox = Outbox::builder(client.clone())
        .relay(false)
        .max_file_size(64 * 1024)
        .max_spilled(3)
        .open(&sqlite_path("full-queue"))
        .await
        .unwrap();
    let padding = "x".repeat(2000);
    let mut sent = 0;
    while outbox.stats().spilled < 3 {
        assert!(sent < 500, "the file never filled up");
        outbox
            .enqueue(sale(&mock, &client, sent).product_id(&padding))
            .await;
        sent += 1;
    }
    for n in sent..sent + 8 {
        outbox.enqueue(sale(&mock, &client, n)).await;
    }
    assert_eq!(outbox.stats().fell_back, 8);
    let fell_back: Vec<String> = (sent..sent + 8).map(|n| format!("in_{n}")).collect();
    wait_until("the sales kept in memory to arrive", A_WHILE, async || {
        let arrived = sale_requests(&mock);
        fell_back.iter().all(|id| arrived.contains(id))
    })
    .await;
    let stats = client.delivery_stats();
    assert_eq!((stats.dropped, stats.queue_full), (0, 0), "{stats:?}");
}

/// The last handle dropped without `shutdown` while the store is full: the events held in
/// memory for it go to the client's memory queue, which delivers them, rather than with the
/// outbox.
#[tokio::test]
async fn events_held_for_a_full_file_outlive_an_outbox_dropped_without_shutdown() {
    let (mock, client, builder) = a_file_soon_full().await;
    let outbox = builder.open(&sqlite_path("dropped-full")).await.unwrap();
    let padding = "x".repeat(2000);
    let mut sent = 0;
    while outbox.stats().spilled < 3 {
        assert!(sent < 500, "the file never filled up");
        outbox
            .enqueue(sale(&mock, &client, sent).product_id(&padding))
            .await;
        sent += 1;
    }
    assert_eq!(outbox.stats().fell_back, 0);
    drop(outbox);

    mock.clear_faults();
    let held: Vec<String> = (sent - 3..sent).map(|n| format!("in_{n}")).collect();
    wait_until("the sales held in memory to arrive", A_WHILE, async || {
        let arrived = sale_requests(&mock);
        held.iter().all(|id| arrived.contains(id))
    })
    .await;
}

/// A `send_in_background` write that its runtime's end cuts short (another connection holds
/// the file) is counted, not only logged.
#[test]
fn a_write_its_runtime_cut_short_is_counted() {
    let runtime = tokio::runtime::Runtime::new().expect("a runtime");
    let path = sqlite_path("interrupted");
    let (outbox, _other) = runtime.block_on(async {
        let (mock, direct) = stand_in().await;
        let outbox = Outbox::open(&path, direct.clone()).await.unwrap();
        let other = sqlite(&path);
        other.execute_batch("BEGIN IMMEDIATE").unwrap();
        direct
            .with_backend(outbox.clone())
            .lead("user_1")
            .click_id(mock.click("partner"))
            .send_in_background();
        tokio::time::sleep(Duration::from_millis(300)).await;
        (outbox, other)
    });
    drop(runtime);
    assert_eq!(outbox.stats().interrupted, 1, "{:?}", outbox.stats());
}

/// A rusqlite connection outside any transaction takes an event too: written at once.
#[tokio::test]
async fn a_row_written_on_the_callers_connection_is_delivered() {
    let (mock, client) = stand_in().await;
    let path = sqlite_path("connection");
    let outbox = Outbox::builder(client.clone())
        .poll_interval(Duration::from_millis(20))
        .open(&path)
        .await
        .unwrap();
    let mut database = sqlite(&path);
    outbox
        .enqueue_in(&mut database, sale(&mock, &client, 3))
        .await
        .unwrap();
    wait_until("the sale", A_WHILE, async || !mock.sales().is_empty()).await;
    assert_eq!(sale_requests(&mock), ["in_3"]);
    assert_eq!(outbox.stats().enqueued, 1);
}

#[tokio::test]
async fn an_invalid_event_is_counted_and_never_written() {
    let (_mock, client) = stand_in().await;
    let outbox = Outbox::open(&sqlite_path("invalid"), client.clone())
        .await
        .unwrap();
    outbox
        .enqueue(client.sale("in_1", 0).customer_key("user_1"))
        .await;
    let stats = outbox.stats();
    assert_eq!((stats.invalid, stats.enqueued), (1, 0));
    assert_eq!(outbox.waiting().await.unwrap(), 0);
}

/// An enqueue timeout too long for a deadline or for SQLite's busy timeout is taken as an hour:
/// it panicked the writer's thread, and every event fell back to memory.
#[tokio::test]
async fn an_enqueue_timeout_of_any_length_keeps_the_outbox_durable() {
    let (mock, client) = stand_in().await;
    let outbox = Outbox::builder(client.clone())
        .enqueue_timeout(Duration::MAX)
        .open(&sqlite_path("timeout-max"))
        .await
        .unwrap();
    outbox.enqueue(sale(&mock, &client, 1)).await;
    wait_until("the sale", A_WHILE, async || mock.sales().len() == 1).await;
    let stats = outbox.shutdown(Duration::from_secs(5)).await;
    assert_eq!((stats.enqueued, stats.fell_back), (1, 0), "{stats:?}");
}

/// An enqueue that gives up waiting for the store hands its event to the memory queue only when
/// the store will never write it: one the writer had taken into a transaction is waited for.
/// Each lead arrives once, whichever way it went (the timeout fired while the writer committed
/// the row, and both the relay and the memory queue sent it).
#[tokio::test]
async fn an_enqueue_past_its_timeout_is_sent_once_whichever_way_it_goes() {
    const LEADS: usize = 400;
    let (mock, client) = stand_in().await;
    let click_id = mock.click("partner");
    let outbox = Outbox::builder(client.clone())
        .enqueue_timeout(Duration::from_micros(200))
        .open(&sqlite_path("enqueue-timeout"))
        .await
        .unwrap();

    let mut enqueues = tokio::task::JoinSet::new();
    for n in 0..LEADS {
        let lead = client.lead(format!("user_{n}")).click_id(click_id.clone());
        let outbox = outbox.clone();
        enqueues.spawn(async move { outbox.enqueue(lead).await });
    }
    enqueues.join_all().await;
    wait_until("every lead to arrive", A_WHILE, async || {
        mock.leads().len() >= LEADS && outbox.waiting().await.unwrap() == 0
    })
    .await;
    client.flush(Duration::from_secs(5)).await;

    let mut customers: Vec<String> = mock
        .requests_to(Endpoint::Lead)
        .iter()
        .filter_map(|request| request.body["customer_key"].as_str().map(str::to_owned))
        .collect();
    let sent = customers.len();
    customers.sort();
    customers.dedup();
    assert_eq!(customers.len(), LEADS, "every lead arrives");
    assert_eq!(sent, LEADS, "and none twice");
    let stats = outbox.shutdown(Duration::from_secs(1)).await;
    assert_eq!(stats.enqueued + stats.fell_back, LEADS as u64, "{stats:?}");
}

/// The relay's delete waits for another connection's write (the probe's checkpoint, another
/// process) longer than one enqueue timeout: one that gave up at a short enqueue timeout left
/// the delivered row to be sent again when its lease ended.
#[tokio::test]
async fn a_delivered_row_is_deleted_once_another_connections_write_ends() {
    let (mock, client) = stand_in().await;
    let click_id = mock.click("partner");
    let path = sqlite_path("delete-waits");
    let outbox = Outbox::builder(client.clone())
        .enqueue_timeout(Duration::from_millis(50))
        .lease(Duration::from_secs(120)) // a row left undeleted would not go again in this test
        .open(&path)
        .await
        .unwrap();
    // The answer comes late, so that the file is another connection's when the relay deletes.
    mock.inject(Fault::delay(Duration::from_millis(500)).on(Endpoint::Lead));
    outbox
        .enqueue(client.lead("user_1").click_id(click_id))
        .await;
    wait_until("the lead", A_WHILE, async || mock.leads().len() == 1).await;
    let mut other = sqlite(&path);
    let write = other
        .transaction_with_behavior(affitor_outbox::rusqlite::TransactionBehavior::Immediate)
        .unwrap();
    tokio::time::sleep(Duration::from_secs(1)).await; // the answer, then the relay's delete
    write.rollback().unwrap();

    wait_until("the delivered row to be deleted", A_WHILE, async || {
        outbox.waiting().await.unwrap() == 0
    })
    .await;
    assert_eq!(mock.requests_to(Endpoint::Lead).len(), 1);
    let stats = outbox.shutdown(Duration::from_secs(1)).await;
    assert_eq!((stats.enqueued, stats.delivered), (1, 1), "{stats:?}");
}

/// An actix-web worker's runtime stops with the server: a write `send_in_background` handed
/// over there was dropped with it, uncounted. The write runs on the outbox's own runtime.
#[test]
fn a_write_outlives_the_runtime_of_the_handler_that_made_it() {
    let home = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let (mock, direct, outbox) = home.block_on(async {
        let (mock, direct) = stand_in().await;
        let outbox = Outbox::open(&sqlite_path("worker"), direct.clone())
            .await
            .unwrap();
        (mock, direct, outbox)
    });
    let client = direct.with_backend(outbox.clone());
    let click_id = mock.click("partner");

    // A worker's runtime: the handler hands the lead over, and the runtime stops at once.
    let worker = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    worker.block_on(async {
        client
            .lead("user_1")
            .click_id(click_id)
            .send_in_background();
    });
    drop(worker);

    home.block_on(async {
        wait_until("the lead to arrive", A_WHILE, async || {
            mock.leads().len() == 1
        })
        .await;
        let stats = outbox.shutdown(Duration::from_secs(5)).await;
        assert_eq!((stats.enqueued, stats.fell_back), (1, 0), "{stats:?}");
    });
}

/// The writer's commits never checkpoint the WAL; every 8,192 rows the checkpointer's thread
/// copies it into the file, and the writer copies the rest between two batches, so that the
/// next batch starts the WAL over. With no relay (no deletes, no other checkpoint), the rows
/// must still reach the database file rather than pile up in the WAL, and the WAL must start
/// over rather than grow: after 16 × 8,192 leads written 64 at a time (a WAL that never
/// started over would hold some 150 MB by then), the file holds most of them (a few hundred
/// bytes each) and the WAL stays under 64 MiB.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_writer_checkpoints_its_wal_when_no_relay_runs() {
    const LEADS: usize = 16 * 8192;
    let (mock, client) = stand_in().await;
    let click_id = mock.click("partner");
    let path = sqlite_path("checkpoint");
    let outbox = Outbox::builder(client.clone())
        .relay(false)
        .enqueue_timeout(A_WHILE) // what is tested is the checkpoint, not a busy machine's speed
        .open(&path)
        .await
        .unwrap();
    // 64 writers at a time, so that the rows go in batches.
    let mut writes = tokio::task::JoinSet::new();
    for writer in 0..64 {
        let (outbox, client, click_id) = (outbox.clone(), client.clone(), click_id.clone());
        writes.spawn(async move {
            for n in (writer..LEADS).step_by(64) {
                let lead = client.lead(format!("user_{n}")).click_id(click_id.clone());
                outbox.enqueue(lead).await;
            }
        });
    }
    writes.join_all().await;
    let stats = outbox.stats();
    assert_eq!(
        (stats.enqueued, stats.fell_back),
        (LEADS as u64, 0),
        "{stats:?}"
    );
    wait_until("the WAL copied into the file", A_WHILE, async || {
        std::fs::metadata(&path).expect("the outbox file").len() >= 8 * 1024 * 1024
    })
    .await;
    let wal = std::fs::metadata(format!("{path}-wal"))
        .expect("the outbox's WAL")
        .len();
    assert!(
        wal < 64 * 1024 * 1024,
        "the WAL is {wal} bytes: it never started over"
    );
}

/// An outbox whose last handle is dropped without `shutdown` stops its relay: it ends its sends
/// and claims nothing more (a row written after it, by another outbox on the same file, is left
/// to that one's relay), rather than running on with no handle to stop it.
#[tokio::test]
async fn an_outbox_dropped_without_shutdown_stops_its_relay() {
    let (mock, client) = stand_in().await;
    let path = sqlite_path("dropped");
    let outbox = Outbox::builder(client.clone())
        .poll_interval(Duration::from_millis(20))
        .open(&path)
        .await
        .unwrap();
    outbox
        .enqueue(client.lead("user_1").click_id(mock.click("partner")))
        .await;
    wait_until("the first lead delivered", A_WHILE, async || {
        outbox.waiting().await.unwrap() == 0
    })
    .await;
    drop(outbox);
    tokio::time::sleep(Duration::from_millis(100)).await;

    let writer_only = Outbox::builder(client.clone())
        .relay(false)
        .open(&path)
        .await
        .unwrap();
    writer_only
        .enqueue(client.lead("user_2").click_id(mock.click("partner")))
        .await;
    // Many polls of the dropped outbox's relay, had it run on.
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(mock.leads().len(), 1, "{:?}", mock.leads());
    assert_eq!(writer_only.waiting().await.unwrap(), 1);
}
