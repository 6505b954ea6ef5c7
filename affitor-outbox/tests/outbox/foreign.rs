//! Rows another program wrote or edited in the outbox's table, by hand or with a tool of its
//! own: each still goes when its event can be read, and one that cannot is set aside as a dead
//! letter with why; none stops the relay's claims of the others.

use std::time::Duration;

use crate::support::{Store, on_each_store, sale, sale_requests, stand_in, wait_until};

const A_WHILE: Duration = Duration::from_secs(30);

/// Each store's own ways of holding what the outbox never writes: on SQLite, whose columns keep
/// any type, a body and a customer key as blobs and times out of range; on Postgres, an
/// infinite time. Then, on SQLite, a body that is not UTF-8 text.
async fn rows_edited_by_another_program_go_or_are_set_aside(store: Store) {
    let (mock, client) = stand_in().await;
    let writer = store
        .open(affitor_outbox::Outbox::builder(client.clone()).relay(false))
        .await;
    for n in 1..=2 {
        writer.enqueue(sale(&mock, &client, n)).await;
    }
    writer.shutdown(Duration::from_secs(1)).await;
    // As `affitor status` reads it, before and after the edits below.
    assert_eq!(
        writer.backlog().await.expect("the store answers").waiting,
        2
    );
    store
        .execute(store.dialect(
            "UPDATE affitor_outbox SET body = CAST(body AS BLOB),
                 customer_key = CAST('cust' AS BLOB), created_at = -9223372036854775808
             WHERE id = 1;
             UPDATE affitor_outbox SET created_at = 1.5e300 WHERE id = 2;
             INSERT INTO affitor_outbox (endpoint, body, next_attempt_at, created_at)
             VALUES ('sale', CAST(X'7B22FF' AS TEXT), 0, 0);",
            "UPDATE affitor_outbox SET created_at = '-infinity' WHERE id = 1;
             UPDATE affitor_outbox SET created_at = 'infinity' WHERE id = 2;",
        ))
        .await;

    let backlog = writer.backlog().await.expect("an infinite time is read");
    assert!(backlog.waiting >= 2, "{backlog:?}");
    // As `affitor explain` reads a row not answered yet, from the table.
    let explained = writer
        .explain(affitor_outbox::journal::Subject::Transaction("in_1".into()))
        .await
        .expect("the edited row is read");
    assert_eq!(explained.entries.len(), 1, "its storing: {explained:?}");
    let relay = store
        .open(affitor_outbox::Outbox::builder(client).poll_interval(Duration::from_millis(50)))
        .await;
    // A dead letter is counted once the store keeps it: waited for too.
    let rows = if store.file().is_some() { 3 } else { 2 };
    wait_until("the rows to be settled and counted", A_WHILE, async || {
        let stats = relay.stats();
        relay.waiting().await.expect("the store answers") == 0
            && stats.delivered + stats.corrupt == rows
    })
    .await;
    // The two sales go side by side: in either order.
    let mut sent = sale_requests(&mock);
    sent.sort();
    assert_eq!(sent, ["in_1", "in_2"]);
    let letters = relay.dead_letters().await.expect("the store answers");
    assert_eq!(relay.stats().corrupt, letters.len() as u64);
    if store.file().is_some() {
        assert_eq!(letters.len(), 1, "{letters:?}");
        assert!(
            letters[0].error.contains("could not be read back"),
            "{letters:?}"
        );
    }
    relay.shutdown(Duration::from_secs(1)).await;
}
on_each_store!(rows_edited_by_another_program_go_or_are_set_aside);
