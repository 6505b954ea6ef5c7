//! Group commit: many concurrent enqueues share few transactions, each stored and delivered
//! once; a store that cannot be written makes them fall back, with one warning per interval;
//! a customer's events, written one after another, go one after another, each as soon as the
//! one before it is delivered; a relay in a process of its own drains what writers stored.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use affitor::Client;
use affitor_mock::MockServer;
use affitor_outbox::Outbox;
use tracing_subscriber::layer::{Context, Layer, SubscriberExt};

use crate::support::{Store, on_each_store, sale, sale_requests, stand_in, wait_until};

const A_WHILE: Duration = Duration::from_secs(60);
const CONCURRENT: usize = 1000;

/// Counts the warnings whose message says an event was kept in memory only.
#[derive(Clone, Default)]
struct FellBackWarnings(Arc<AtomicUsize>);

impl<S: tracing::Subscriber> Layer<S> for FellBackWarnings {
    fn on_event(&self, event: &tracing::Event<'_>, _: Context<'_, S>) {
        struct Message(bool);
        impl tracing::field::Visit for Message {
            fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn std::fmt::Debug) {
                if field.name() == "message" {
                    self.0 |= format!("{value:?}").contains("kept in memory only");
                }
            }
        }
        if *event.metadata().level() != tracing::Level::WARN {
            return;
        }
        let mut message = Message(false);
        event.record(&mut message);
        if message.0 {
            self.0.fetch_add(1, Ordering::Relaxed);
        }
    }
}

/// `CONCURRENT` sales enqueued at once: each written, in far fewer transactions than rows,
/// then delivered once.
async fn a_thousand_concurrent_enqueues_are_written_in_a_few_transactions_and_sent_once(
    store: Store,
) {
    let (mock, client) = stand_in().await;
    let builder = Outbox::builder(client.clone())
        .poll_interval(Duration::from_millis(20))
        .enqueue_timeout(A_WHILE); // what is tested is batching, not a busy machine's speed
    let outbox = store.open(builder).await;
    enqueue_sales_at_once(&mock, &client, &outbox, CONCURRENT).await;
    let stats = outbox.stats();
    assert_eq!(stats.enqueued, CONCURRENT as u64, "{stats:?}");
    assert_eq!(stats.fell_back, 0, "{stats:?}");
    // The writer takes the rows that wait (up to 1,024) in one transaction: 1,000 rows written
    // at once take a handful; one transaction per row would be 1,000.
    assert!(
        stats.batches >= 1 && stats.batches <= CONCURRENT as u64 / 10,
        "1,000 concurrent enqueues took {} transactions",
        stats.batches
    );
    wait_until("every sale delivered", A_WHILE, async || {
        outbox.waiting().await.expect("the store answers") == 0
    })
    .await;
    each_sale_recorded_once(&mock, CONCURRENT);
    assert_eq!(outbox.stats().delivered, CONCURRENT as u64);
}
on_each_store!(
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    a_thousand_concurrent_enqueues_are_written_in_a_few_transactions_and_sent_once,
    pgbouncer
);

/// Enqueues the sales `in_0` to `in_<count - 1>` through `outbox`, all at once, and waits for
/// each to be stored.
async fn enqueue_sales_at_once(mock: &MockServer, client: &Client, outbox: &Outbox, count: usize) {
    let mut writes = tokio::task::JoinSet::new();
    for n in 0..count {
        let (outbox, event) = (outbox.clone(), sale(mock, client, n));
        writes.spawn(async move { outbox.enqueue(event).await });
    }
    writes.join_all().await;
}

/// The stand-in recorded each of the sales `in_0` to `in_<count - 1>` once, and no other. (A
/// request the client retried inside one send, when the stand-in is slow under a busy machine,
/// may appear twice in its requests: the relay sent it once.)
fn each_sale_recorded_once(mock: &MockServer, count: usize) {
    let mut recorded: Vec<String> = mock
        .sales()
        .into_iter()
        .map(|sale| sale.transaction_id)
        .collect();
    recorded.sort();
    let mut expected: Vec<String> = (0..count).map(|n| format!("in_{n}")).collect();
    expected.sort();
    assert_eq!(recorded, expected, "each sale recorded once");
}

/// Enqueues `count` sales to a store that cannot take them, on an outbox that holds none in
/// memory for it (`max_spilled(0)`): each falls back to the memory queue, counted, with one
/// warning for all of them. The calling test runs
/// [`test_support::alone!`], for the count of warnings to be complete.
async fn unwritable_store_falls_back_with_one_warning(
    mock: &MockServer,
    client: &Client,
    outbox: &Outbox,
    count: usize,
) {
    let warnings = FellBackWarnings::default();
    let subscriber = tracing_subscriber::registry().with(warnings.clone());
    let _guard = tracing::subscriber::set_default(subscriber);
    for n in 0..count {
        outbox.enqueue(sale(mock, client, n)).await;
    }
    let stats = outbox.stats();
    assert_eq!(
        (stats.enqueued, stats.fell_back),
        (0, count as u64),
        "{stats:?}"
    );
    assert_eq!(
        warnings.0.load(Ordering::Relaxed),
        1,
        "one warning a minute"
    );
    wait_until("the sales, from the memory queue", A_WHILE, async || {
        mock.sales().len() == count
    })
    .await;
}

/// How many sales of one customer
/// [`a_customers_sales_are_each_claimed_once_the_one_before_is_delivered`] enqueues.
const CHAIN: usize = 5;

/// Sales of one customer, each enqueued once the one before it is in the table: each is held
/// behind the one before it (the claim's order), then claimed as soon as that one is delivered
/// and deleted. The relay polls once an hour here: no sale after the first may wait for a poll.
async fn a_customers_sales_are_each_claimed_once_the_one_before_is_delivered(store: Store) {
    let (mock, client) = stand_in().await;
    let outbox = store.open(polling_hourly(&client)).await;
    for n in 0..CHAIN {
        outbox
            .enqueue(sale(&mock, &client, n).customer_key("customer_1"))
            .await;
    }
    wait_until("every sale delivered", A_WHILE, async || {
        outbox.waiting().await.expect("the store answers") == 0
    })
    .await;
    let expected: Vec<String> = (0..CHAIN).map(|n| format!("in_{n}")).collect();
    assert_eq!(sale_requests(&mock), expected, "in order, each once");
}
on_each_store!(
    a_customers_sales_are_each_claimed_once_the_one_before_is_delivered,
    pgbouncer
);

/// How many sales [`a_relay_of_its_own_drains_the_rows_writers_stored`] writes before its relay
/// starts: many times what the relay sends at once ([`RELAY_IN_FLIGHT`]).
const BACKLOG: usize = 400;

/// The most rows the relay of [`a_relay_of_its_own_drains_the_rows_writers_stored`] sends at once.
const RELAY_IN_FLIGHT: usize = 16;

/// The web servers' outbox writes only (`relay(false)`) and a relay of its own, which wrote
/// none of the rows, delivers them: every sale once. That relay polls once an hour, so it
/// looks at the store when it starts and never again here: a claim that came back full (it
/// takes no more than its free send slots) and the deletes of delivered rows each lead to the
/// next claim as slots free up, until the backlog is gone.
async fn a_relay_of_its_own_drains_the_rows_writers_stored(store: Store) {
    let (mock, client) = stand_in().await;
    let writer = store
        .open(Outbox::builder(client.clone()).relay(false))
        .await;
    enqueue_sales_at_once(&mock, &client, &writer, BACKLOG).await;
    assert_eq!(writer.stats().fell_back, 0);
    assert_eq!(
        writer.waiting().await.expect("the store answers"),
        BACKLOG as u64
    );
    assert!(mock.sales().is_empty(), "the writer sends nothing");
    let relay = store
        .open(polling_hourly(&client).max_in_flight(RELAY_IN_FLIGHT))
        .await;
    wait_until("the backlog delivered", A_WHILE, async || {
        relay.waiting().await.expect("the store answers") == 0
    })
    .await;
    each_sale_recorded_once(&mock, BACKLOG);
    assert_eq!(relay.stats().delivered, BACKLOG as u64);
    assert_eq!(writer.stats().delivered, 0, "the writer sends nothing");
    relay.shutdown(Duration::from_secs(5)).await;
    writer.shutdown(Duration::from_secs(5)).await;
}
on_each_store!(
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    a_relay_of_its_own_drains_the_rows_writers_stored
);

/// A builder whose relay looks at the store at its start, then once an hour.
fn polling_hourly(client: &Client) -> affitor_outbox::OutboxBuilder {
    Outbox::builder(client.clone())
        .poll_interval(Duration::from_secs(3600))
        // What is tested is the claims' order, not a busy machine's speed: a write that timed
        // out would go to memory, and its sale would never be claimed from the table.
        .enqueue_timeout(A_WHILE)
}

#[cfg(feature = "sqlite")]
mod sqlite {
    use super::*;
    use crate::support::sqlite_path;

    /// The table is gone (dropped behind the outbox's back): every write fails at once.
    #[tokio::test]
    async fn a_store_that_cannot_be_written_falls_back_with_one_warning_a_minute() {
        if !test_support::alone!() {
            return;
        }
        let (mock, client) = stand_in().await;
        let path = sqlite_path("unwritable");
        let outbox = Outbox::builder(client.clone())
            .relay(false)
            .max_spilled(0)
            .open(&path)
            .await
            .unwrap();
        crate::support::sqlite(&path)
            .execute("DROP TABLE affitor_outbox", [])
            .unwrap();
        unwritable_store_falls_back_with_one_warning(&mock, &client, &outbox, 50).await;
    }
}

#[cfg(feature = "postgres")]
mod postgres {
    use super::*;
    use crate::support::postgres::Schema;

    /// Another session holds the table: every write waits, past the enqueue timeout.
    #[tokio::test]
    async fn a_store_that_cannot_be_written_falls_back_with_one_warning_a_minute() {
        if !test_support::alone!() {
            return;
        }
        let (mock, client) = stand_in().await;
        let schema = Schema::create("unwritable").await;
        let pool = schema.pool().await;
        let outbox = Outbox::builder(client.clone())
            .relay(false)
            .max_spilled(0)
            .enqueue_timeout(Duration::from_millis(100))
            .postgres(pool.clone())
            .await
            .unwrap();
        let mut lock = pool.begin().await.unwrap();
        sqlx::query("LOCK TABLE affitor_outbox IN ACCESS EXCLUSIVE MODE")
            .execute(&mut *lock)
            .await
            .unwrap();
        unwritable_store_falls_back_with_one_warning(&mock, &client, &outbox, 5).await;
        lock.rollback().await.unwrap();
        // The batches given up on never commit.
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert_eq!(outbox.waiting().await.unwrap(), 0);
        assert_eq!(sale_requests(&mock).len(), 5, "each sale sent once");
    }
}

/// A key no store can index (a NUL character, which Postgres's text refuses; 2 KB, past a
/// B-tree's entry) is refused before the store, with the event's other checks: the sales
/// written beside it, in the same batches, are stored and delivered, none kept in memory only,
/// and the store stays healthy.
async fn a_key_no_store_can_index_is_refused_before_the_batch(store: Store) {
    let (mock, client) = stand_in().await;
    let outbox = store
        .open(Outbox::builder(client.clone()).poll_interval(Duration::from_millis(50)))
        .await;
    let mut writes = tokio::task::JoinSet::new();
    for n in 0..100 {
        let (outbox, event) = (outbox.clone(), sale(&mock, &client, n));
        writes.spawn(async move { outbox.enqueue(event).await });
    }
    for customer in ["user\0nul".to_owned(), "k".repeat(2048)] {
        let event = client.sale("in_bad", 4900).customer_key(customer);
        let outbox = outbox.clone();
        writes.spawn(async move { outbox.enqueue(event).await });
    }
    writes.join_all().await;
    wait_until("the hundred sales delivered", A_WHILE, async || {
        outbox.stats().delivered == 100
    })
    .await;
    each_sale_recorded_once(&mock, 100);
    let stats = outbox.stats();
    let kept = (
        stats.enqueued,
        stats.invalid,
        stats.fell_back,
        stats.spilled_total,
    );
    assert_eq!(kept, (100, 2, 0, 0), "{stats:?}");
    outbox.shutdown(Duration::from_secs(5)).await;
}
on_each_store!(
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    a_key_no_store_can_index_is_refused_before_the_batch
);
