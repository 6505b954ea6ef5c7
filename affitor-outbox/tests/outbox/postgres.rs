//! The Postgres outbox: relays that share a table, leases that outlive a dead relay, a store
//! that does not answer, and a `key=value` location.

use std::time::Duration;

use affitor::client::Endpoint;
use affitor_mock::Fault;
use affitor_outbox::Outbox;

use crate::support::postgres::Schema;
use crate::support::{sale, sale_requests, stand_in, wait_until};

const A_WHILE: Duration = Duration::from_secs(30);

#[tokio::test]
async fn two_relays_deliver_each_row_once() {
    let (mock, client) = stand_in().await;
    mock.inject(Fault::delay(Duration::from_millis(20)).always());
    let schema = Schema::create("two_relays").await;
    let relay = |pool| {
        Outbox::builder(client.clone())
            .max_in_flight(8)
            .poll_interval(Duration::from_millis(10))
            .postgres(pool)
    };
    let first = relay(schema.pool().await).await.unwrap();
    let second = relay(schema.pool().await).await.unwrap();
    for n in 0..200 {
        let outbox = if n % 2 == 0 { &first } else { &second };
        outbox.enqueue(sale(&mock, &client, n)).await;
    }
    wait_until("the table to empty", A_WHILE, async || {
        first.waiting().await.unwrap() == 0
    })
    .await;

    let mut sent = sale_requests(&mock);
    assert_eq!(sent.len(), 200, "no row was sent twice");
    sent.sort();
    sent.dedup();
    assert_eq!(sent.len(), 200, "every row was sent");
    let (a, b) = (first.stats().delivered, second.stats().delivered);
    assert_eq!(a + b, 200);
    assert!(a > 0 && b > 0, "both relays delivered: {a} and {b}");
}

#[tokio::test]
async fn a_dead_relays_row_goes_again_when_its_lease_ends() {
    let (mock, client) = stand_in().await;
    let schema = Schema::create("lease").await;
    // The stand-in records the sale, then keeps the relay waiting for its answer.
    mock.inject(
        Fault::delay(Duration::from_secs(30))
            .on(Endpoint::Sale)
            .times(1),
    );

    // The first relay runs on a runtime of its own, which dies while it waits.
    let doomed = tokio::runtime::Runtime::new().unwrap();
    let pool = schema.pool().await;
    let dying_client = client.clone();
    let doomed_sale = sale(&mock, &client, 1);
    doomed.spawn(async move {
        let outbox = Outbox::builder(dying_client.clone())
            .lease(Duration::from_millis(500))
            .postgres(pool)
            .await
            .unwrap();
        outbox.enqueue(doomed_sale).await;
        std::future::pending::<()>().await;
    });
    wait_until("the sale to reach the API", A_WHILE, async || {
        mock.sales().len() == 1
    })
    .await;
    doomed.shutdown_background();

    // A second relay takes the row once the lease ends; the API answers 409: done.
    let survivor = Outbox::builder(client)
        .poll_interval(Duration::from_millis(50))
        .postgres(schema.pool().await)
        .await
        .unwrap();
    wait_until("the table to empty", A_WHILE, async || {
        survivor.waiting().await.unwrap() == 0
    })
    .await;
    assert_eq!(sale_requests(&mock), ["in_1", "in_1"]);
    assert_eq!(mock.sales().len(), 1, "recorded once");
    let stats = survivor.stats();
    assert_eq!((stats.delivered, stats.dead), (1, 0));
}

#[tokio::test]
async fn a_store_that_does_not_answer_hands_the_event_to_the_memory_queue() {
    let (mock, client) = stand_in().await;
    let schema = Schema::create("unavailable").await;
    let pool = schema.pool().await;
    let outbox = Outbox::builder(client.clone())
        .enqueue_timeout(Duration::from_millis(300))
        .postgres(pool.clone())
        .await
        .unwrap();
    // Another session holds the table: every write waits.
    let mut lock = pool.begin().await.unwrap();
    sqlx::query("LOCK TABLE affitor_outbox IN ACCESS EXCLUSIVE MODE")
        .execute(&mut *lock)
        .await
        .unwrap();

    outbox.enqueue(sale(&mock, &client, 1)).await;
    assert_eq!(outbox.stats().fell_back, 1);
    wait_until("the sale, from the memory queue", A_WHILE, async || {
        mock.sales().len() == 1
    })
    .await;
    lock.rollback().await.unwrap();
    assert_eq!(client.delivery_stats().delivered, 1);
    // The insert given up on never commits: with the lock gone, the table stays empty and the
    // sale is not sent a second time by the relay.
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(outbox.waiting().await.unwrap(), 0);
    assert_eq!(sale_requests(&mock).len(), 1);
}

/// A `key=value` connection string opens Postgres, and is shown without its password.
#[tokio::test]
async fn a_key_value_location_opens() {
    let (_mock, client) = stand_in().await;
    // The test server's URL as a key=value string: postgres://user:password@host:port/db.
    let url = crate::support::postgres::url();
    let rest = url.split_once("://").unwrap().1;
    let (credentials, address) = rest.split_once('@').unwrap();
    let (user, password) = credentials.split_once(':').unwrap();
    let (host_port, database) = address.split_once('/').unwrap();
    let (host, port) = host_port.split_once(':').unwrap_or((host_port, "5432"));
    let location =
        format!("host={host} port={port} user={user} password='{password}' dbname={database}");
    // It opens the database's default schema, which other test runs share: no relay, nothing
    // written.
    let opened = Outbox::builder(client)
        .relay(false)
        .open(&location)
        .await
        .unwrap();
    let shown = opened.location();
    assert!(shown.contains("password=***"), "{shown}");
    assert!(
        !shown.contains(&format!("password='{password}'")),
        "{shown}"
    );
    opened.shutdown(Duration::from_secs(1)).await;
}
