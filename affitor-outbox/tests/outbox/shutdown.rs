//! What `shutdown` leaves: a person's calls (the dead letters, the backlog, their retry and
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
