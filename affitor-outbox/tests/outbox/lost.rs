//! Connections a failover leaves open and silent for ever (their peer gone without a reset),
//! while new connections reach the server: a call of the relay's on one of them is given up
//! and its connection closed, and the relay goes on with new ones.

use std::time::Duration;

use affitor_mock::Fault;
use affitor_outbox::Outbox;

use crate::support::postgres::Schema;
use crate::support::{sale, stand_in, wait_until};

/// Longer than the relay's deadline on a call (10 s) and a few claims after it.
const A_WHILE: Duration = Duration::from_secs(90);

/// The relay deletes a delivered sale while another transaction holds its row, so that its
/// call is on the wire when its connection is lost; the sales written after are delivered.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_relays_call_on_a_connection_lost_for_ever_costs_the_call_not_the_relay() {
    let (mock, client) = stand_in().await;
    let schema = Schema::create("lost").await;
    let (proxy, location) = schema.through_proxy().await;
    let outbox = Outbox::builder(client.clone())
        .enqueue_timeout(Duration::from_secs(1))
        .poll_interval(Duration::from_millis(50))
        .open(&location)
        .await
        .unwrap();
    let own = schema.own_pool().await;

    // The first sale is answered after a second: its row is locked meanwhile, so that the
    // relay's delete waits for the lock.
    mock.inject(Fault::delay(Duration::from_secs(1)));
    outbox.enqueue(sale(&mock, &client, 0)).await;
    let lock = schema.stall_the_delete(&own, "UPDATE").await;
    proxy.lose_open_connections();
    lock.rollback().await.unwrap();

    for n in 1..=5 {
        outbox.enqueue(sale(&mock, &client, n)).await;
    }
    wait_until("the sales written after delivered", A_WHILE, async || {
        let sales = mock.sales();
        (1..=5).all(|n| {
            let id = format!("in_{n}");
            sales.iter().any(|sale| sale.transaction_id == id)
        })
    })
    .await;
    // The server's side of the lost connections goes with an RST, and their locks with it.
    proxy.reset();
    outbox.shutdown(Duration::from_secs(5)).await;
}
