//! What `shutdown` leaves: no send of its relay on the wire, and a person's calls (the dead letters, the backlog, their retry and
//! purge, as the CLI's `outbox retry` and `purge` make them) still answered; on a SQLite file
//! and on Postgres.

use std::time::Duration;

use affitor::client::Endpoint;
use affitor_mock::Fault;
use affitor_outbox::{Backlog, Outbox};

use crate::support::{Store, on_each_store, sale, stand_in, wait_until};

const A_WHILE: Duration = Duration::from_secs(30);

/// Two sales refused for good are dead letters; after `shutdown`, one is retried by its id, the
/// other purged, and the next start delivers the retried one.
async fn dead_letters_are_retried_and_purged_after_shutdown(store: Store) {
    let (mock, client) = stand_in().await;
    let builder = || Outbox::builder(client.clone()).poll_interval(Duration::from_millis(50));
    mock.inject(Fault::status(400).on(Endpoint::Sale).always());
    let outbox = store.open(builder()).await;
    outbox.enqueue(sale(&mock, &client, 1)).await;
    outbox.enqueue(sale(&mock, &client, 2)).await;
    wait_until("two dead letters", A_WHILE, async || {
        outbox.backlog().await.expect("the store answers").dead == 2
    })
    .await;
    outbox.shutdown(Duration::from_secs(1)).await;

    let letters = outbox.dead_letters().await.expect("the store answers");
    assert_eq!(letters.len(), 2, "{letters:?}");
    let retried = outbox.retry_dead_letter(letters[0].id).await;
    assert!(retried.expect("a retry after shutdown is written"));
    let purged = outbox.purge_dead_letters(Duration::ZERO).await;
    assert_eq!(purged.expect("a purge after shutdown is written"), 1);
    let none_left = outbox.retry_dead_letters().await;
    assert_eq!(none_left.expect("a retry after shutdown is written"), 0);
    let backlog = outbox.backlog().await.expect("the store answers");
    assert_eq!((backlog.waiting, backlog.dead), (1, 0), "{backlog:?}");

    mock.clear_faults();
    let next = store.open(builder()).await;
    wait_until("the retried sale to be delivered", A_WHILE, async || {
        next.backlog().await.expect("the store answers") == Backlog::default()
    })
    .await;
    assert_eq!(mock.sales().len(), 1);
    next.shutdown(Duration::from_secs(1)).await;
}
on_each_store!(dead_letters_are_retried_and_purged_after_shutdown);

/// An API that takes the relay's request and never answers: at `shutdown`'s deadline the send
/// is cut short, and when `shutdown` returns its connection is closed (the send thread has
/// ended) and its row is kept, released, and delivered by the next start.
#[cfg(feature = "sqlite")]
#[tokio::test]
async fn shutdown_ends_the_send_under_way() {
    use affitor::Client;
    use tokio::io::AsyncReadExt as _;

    let api = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("a port for the silent API");
    let client = Client::builder()
        .api_key("aff_test_key")
        .base_url(format!("http://{}", api.local_addr().expect("its address")))
        .build()
        .expect("a client of the silent API");
    let store = Store::sqlite(module_path!());
    let outbox = store.open(Outbox::builder(client.clone())).await;
    outbox.enqueue(client.lead("customer@example.com")).await;
    let (mut connection, _) = api.accept().await.expect("the relay connects");
    let mut request = [0; 1024];
    let read = connection.read(&mut request).await;
    assert!(read.expect("the relay's request") > 0);

    outbox.shutdown(Duration::from_millis(100)).await;
    // Read without waiting: the relay's end of the connection is closed already.
    let mut connection = connection.into_std().expect("a socket");
    connection.set_nonblocking(true).expect("a socket");
    let read = std::io::Read::read(&mut connection, &mut request);
    assert_eq!(read.ok(), Some(0), "the send still holds its connection");
    let backlog = outbox.backlog().await.expect("the store answers");
    assert_eq!((backlog.waiting, backlog.in_flight), (1, 0), "{backlog:?}");

    // The next start, with an API that answers, delivers it.
    let (mock, answering) = stand_in().await;
    let next = store.open(Outbox::builder(answering)).await;
    wait_until("the lead to be delivered", A_WHILE, async || {
        next.backlog().await.expect("the store answers") == Backlog::default()
    })
    .await;
    assert_eq!(mock.requests_to(Endpoint::Lead).len(), 1);
    next.shutdown(Duration::from_secs(1)).await;
}

/// Sales the store takes so slowly that each write gives up (a trigger sleeps past the
/// statement timeout), while its probe answers at once: the probe is writing them back when
/// `shutdown` comes. At its deadline the write-back is given up and `shutdown` returns with
/// nothing held and every sale handed to the client's in-memory queue, which delivers each
/// once.
#[cfg(feature = "postgres")]
#[tokio::test]
async fn shutdown_ends_a_write_back_under_way_without_losing_its_events() {
    use crate::support::sale_requests;

    let (mock, client) = stand_in().await;
    let store = Store::postgres(module_path!()).await;
    let outbox = store
        .open(Outbox::builder(client.clone()).enqueue_timeout(Duration::from_secs(1)))
        .await;
    store
        .execute(
            "CREATE FUNCTION slow_sale() RETURNS trigger LANGUAGE plpgsql AS
                 'BEGIN PERFORM pg_catalog.pg_sleep(30); RETURN NEW; END';
             CREATE TRIGGER slow_sale BEFORE INSERT ON affitor_outbox
                 FOR EACH ROW WHEN (NEW.endpoint = 'sale') EXECUTE FUNCTION slow_sale()",
        )
        .await;
    for n in 1..=3 {
        outbox.enqueue(sale(&mock, &client, n)).await;
    }
    assert_eq!(outbox.stats().spilled, 3, "{:?}", outbox.stats());
    let [Some(since)] = store
        .integers("SELECT (extract(epoch FROM clock_timestamp()) * 1000000)::bigint")
        .await[..]
    else {
        panic!("the server's clock");
    };
    let writing_back = format!(
        "SELECT count(*) FROM pg_stat_activity
         WHERE wait_event = 'PgSleep' AND query_start > to_timestamp({since} / 1000000.0)"
    );
    wait_until("the probe's write-back", A_WHILE, async || {
        store.integers(&writing_back).await != [Some(0)]
    })
    .await;

    outbox.shutdown(Duration::from_millis(100)).await;
    let stats = outbox.stats();
    assert_eq!((stats.spilled, stats.fell_back), (0, 3), "{stats:?}");
    client.shutdown(Duration::from_secs(5)).await;
    assert_eq!(mock.sales().len(), 3);
    assert_eq!(sale_requests(&mock).len(), 3, "each sale sent once");
}
