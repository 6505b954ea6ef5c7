//! What a person asks of the store (the CLI's `status` and `outbox retry`): the rows waiting,
//! in flight and dead with the oldest one's age (a retried dead letter's from its retry), and
//! one dead letter sent again by its id; on a SQLite file and on Postgres.

use std::time::Duration;

use affitor::client::Endpoint;
use affitor_mock::Fault;
use affitor_outbox::{Backlog, Outbox};

use crate::support::{Store, on_each_store, sale, stand_in, wait_until};

const A_WHILE: Duration = Duration::from_secs(30);

/// A row written with no relay waits, and is counted with its age; refused for good, it is
/// dead; retried by its id (a wrong id retries nothing), it is delivered and nothing is left.
async fn a_dead_letter_is_counted_and_retried_by_its_id(store: Store) {
    let (mock, client) = stand_in().await;
    let builder = || Outbox::builder(client.clone()).poll_interval(Duration::from_millis(50));
    let app = store.open(builder().relay(false)).await;
    assert_eq!(
        app.backlog().await.expect("the store answers"),
        Backlog::default()
    );
    app.enqueue(sale(&mock, &client, 1)).await;
    wait_until("the row to be written", A_WHILE, async || {
        app.waiting().await.expect("the store answers") == 1
    })
    .await;
    let backlog = app.backlog().await.expect("the store answers");
    assert_eq!(
        (backlog.waiting, backlog.in_flight, backlog.dead),
        (1, 0, 0)
    );
    assert!(backlog.oldest_waiting.is_some(), "{backlog:?}");
    app.shutdown(Duration::from_secs(1)).await;

    mock.inject(Fault::status(400).on(Endpoint::Sale).always());
    let outbox = store.open(builder()).await;
    wait_until("a dead letter", A_WHILE, async || {
        outbox.backlog().await.expect("the store answers").dead == 1
    })
    .await;
    let backlog = outbox.backlog().await.expect("the store answers");
    assert_eq!((backlog.waiting, backlog.oldest_waiting), (0, None));
    let letter = outbox.dead_letters().await.expect("the store answers")[0].clone();

    mock.clear_faults();
    let retried = outbox.retry_dead_letter(letter.id + 1).await;
    assert!(
        !retried.expect("the store answers"),
        "no dead letter has that id"
    );
    assert!(
        outbox
            .retry_dead_letter(letter.id)
            .await
            .expect("the store answers")
    );
    wait_until("the retried row to be delivered", A_WHILE, async || {
        outbox.backlog().await.expect("the store answers") == Backlog::default()
    })
    .await;
    assert_eq!(mock.sales().len(), 1);
    outbox.shutdown(Duration::from_secs(1)).await;
}
on_each_store!(a_dead_letter_is_counted_and_retried_by_its_id);

/// A refund whose sale Affitor does not know waits for it by design (up to the refund
/// patience): counted apart, and left out of the oldest row's age, however long it has waited,
/// so that `affitor status` does not call it stuck.
async fn a_refund_waiting_for_its_sale_is_counted_apart_from_the_age(store: Store) {
    let (_mock, client) = stand_in().await;
    let outbox = store
        .open(Outbox::builder(client.clone()).poll_interval(Duration::from_millis(20)))
        .await;
    outbox.enqueue(client.refund("in_organic")).await;
    wait_until("the refund to wait for its sale", A_WHILE, async || {
        outbox.stats().rescheduled >= 1
    })
    .await;
    // Two hours old.
    store
        .execute(store.dialect(
            "UPDATE affitor_outbox SET created_at = created_at - 7200000",
            "UPDATE affitor_outbox SET created_at = created_at - interval '2 hours'",
        ))
        .await;
    let backlog = outbox.backlog().await.expect("the store answers");
    assert_eq!(
        (
            backlog.waiting,
            backlog.awaiting_sale,
            backlog.oldest_waiting
        ),
        (1, 1, None),
        "{backlog:?}"
    );
    outbox.shutdown(Duration::from_secs(1)).await;
}
on_each_store!(a_refund_waiting_for_its_sale_is_counted_apart_from_the_age);

/// A dead letter two hours old, retried while no relay runs to send it: it waits from its
/// retry, not from when it was written, so that `affitor status` does not call it stuck.
async fn a_retried_dead_letter_waits_from_its_retry(store: Store) {
    let (mock, client) = stand_in().await;
    mock.inject(Fault::status(400).on(Endpoint::Sale).always());
    let outbox = store
        .open(Outbox::builder(client.clone()).poll_interval(Duration::from_millis(20)))
        .await;
    outbox.enqueue(sale(&mock, &client, 1)).await;
    wait_until("a dead letter", A_WHILE, async || {
        outbox.backlog().await.expect("the store answers").dead == 1
    })
    .await;
    outbox.shutdown(Duration::from_secs(1)).await;
    store
        .execute(store.dialect(
            "UPDATE affitor_outbox SET created_at = created_at - 7200000",
            "UPDATE affitor_outbox SET created_at = created_at - interval '2 hours'",
        ))
        .await;

    let operator = store
        .open(Outbox::builder(client.clone()).relay(false))
        .await;
    assert_eq!(operator.retry_dead_letters().await.expect("retried"), 1);
    let backlog = operator.backlog().await.expect("the store answers");
    assert_eq!((backlog.waiting, backlog.dead), (1, 0), "{backlog:?}");
    assert!(
        backlog
            .oldest_waiting
            .is_some_and(|age| age < Duration::from_secs(3600)),
        "{backlog:?}"
    );
    operator.shutdown(Duration::from_secs(1)).await;
}
on_each_store!(a_retried_dead_letter_waits_from_its_retry);
