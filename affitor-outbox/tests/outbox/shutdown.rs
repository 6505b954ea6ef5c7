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
