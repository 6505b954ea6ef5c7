//! An event written in the caller's own database transaction (`enqueue_in`) exists only if that
//! transaction commits, on a SQLite file and on Postgres.

use std::time::Duration;

use affitor_outbox::Outbox;

use crate::support::{Store, on_each_store, sale, sale_requests, stand_in, wait_until};

const A_WHILE: Duration = Duration::from_secs(30);

/// A sale written beside an order that is rolled back is never sent; one written beside an
/// order that commits is sent once.
async fn a_row_written_in_the_callers_transaction_exists_only_if_it_commits(store: Store) {
    let (mock, client) = stand_in().await;
    let builder = Outbox::builder(client.clone()).poll_interval(Duration::from_millis(20));
    let outbox = store.open(builder).await;
    store
        .execute("CREATE TABLE orders (id TEXT PRIMARY KEY)")
        .await;
    let (order_1, order_2) = (
        "INSERT INTO orders VALUES ('in_1')",
        "INSERT INTO orders VALUES ('in_2')",
    );
    store
        .enqueue_in_transaction(&outbox, order_1, sale(&mock, &client, 1), false)
        .await;
    store
        .enqueue_in_transaction(&outbox, order_2, sale(&mock, &client, 2), true)
        .await;

    wait_until("the committed sale", A_WHILE, async || {
        !mock.sales().is_empty()
    })
    .await;
    // The rolled-back sale would have gone beside it: a moment for it to show, if it were there.
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(sale_requests(&mock), ["in_2"]);
    wait_until("the delivered sale's delete", A_WHILE, async || {
        outbox.waiting().await.expect("the store answers") == 0
    })
    .await;
}
on_each_store!(a_row_written_in_the_callers_transaction_exists_only_if_it_commits);
