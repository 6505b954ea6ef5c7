//! A customer's events go in order: their sale is not sent before their lead is delivered,
//! whether the lead is being sent, waiting to be retried, or waiting beside the sale in the
//! store when a relay first looks. Each on a SQLite file and on Postgres.

#![allow(clippy::unwrap_used)] // a test fails loudly on purpose

use std::time::Duration;

use affitor::Client;
use affitor::client::Endpoint;
use affitor_mock::{Fault, MockServer};
use affitor_outbox::{Outbox, OutboxBuilder};

use crate::support::{Store, on_each_store, stand_in, wait_until};

const A_WHILE: Duration = Duration::from_secs(30);

/// The customer whose lead and sale are ordered.
const CUSTOMER: &str = "user_ordered";

/// Two of the stand-in's answers to the lead fail (one `send`: the quick policy's two
/// attempts), the first late: the lead is in flight, then waits for its retry.
fn a_lead_that_fails_once(mock: &MockServer) {
    mock.inject(
        Fault::delay(Duration::from_millis(300))
            .on(Endpoint::Lead)
            .times(1),
    );
    mock.inject(Fault::status(503).on(Endpoint::Lead).times(2));
}

/// The relay's settings for these tests: a lead that failed goes again 200 ms later.
fn builder(client: &Client) -> OutboxBuilder {
    Outbox::builder(client.clone())
        .poll_interval(Duration::from_millis(20))
        .backoff(Duration::from_millis(200), Duration::from_millis(200))
}

/// The customer's lead, then their sale, enqueued one after the other.
async fn lead_then_sale(mock: &MockServer, client: &Client, outbox: &Outbox) {
    outbox
        .enqueue(client.lead(CUSTOMER).click_id(mock.click("partner")))
        .await;
    outbox
        .enqueue(client.sale("in_ordered", 4999).customer_key(CUSTOMER))
        .await;
}

/// Waits until the store is empty, then checks that every request for the lead (the failed
/// ones, and the one that succeeded) came before the first request for the sale, and that
/// each was recorded once.
async fn the_sale_came_after_the_lead(mock: &MockServer, outbox: &Outbox) {
    wait_until("the lead and the sale delivered", A_WHILE, async || {
        outbox.waiting().await.unwrap() == 0
    })
    .await;
    let order: Vec<Endpoint> = mock
        .requests()
        .into_iter()
        .filter_map(|request| request.endpoint)
        .filter(|endpoint| matches!(endpoint, Endpoint::Lead | Endpoint::Sale))
        .collect();
    let first_sale = order
        .iter()
        .position(|endpoint| *endpoint == Endpoint::Sale)
        .expect("the sale was sent");
    assert!(
        order[first_sale..].iter().all(|e| *e == Endpoint::Sale),
        "a request for the lead came after the sale: {order:?}"
    );
    assert_eq!(
        order.iter().filter(|e| **e == Endpoint::Lead).count(),
        3,
        "{order:?}"
    );
    assert_eq!(mock.leads().len(), 1);
    assert_eq!(mock.sales().len(), 1);
}

/// The lead is sent at once and fails; the sale, written meanwhile, waits while the lead is in
/// flight and while it waits for its retry.
async fn a_sale_waits_for_its_customers_lead_while_it_is_sent_and_retried(store: Store) {
    let (mock, client) = stand_in().await;
    let outbox = store.open(builder(&client)).await;
    a_lead_that_fails_once(&mock);
    lead_then_sale(&mock, &client, &outbox).await;
    the_sale_came_after_the_lead(&mock, &outbox).await;
}
on_each_store!(a_sale_waits_for_its_customers_lead_while_it_is_sent_and_retried);

/// Both rows wait in the store when a relay first looks (they were written with none running):
/// its first claim takes the lead and leaves the sale.
async fn a_sale_written_beside_its_customers_lead_is_not_claimed_with_it(store: Store) {
    let (mock, client) = stand_in().await;
    let writer = store.open(builder(&client).relay(false)).await;
    a_lead_that_fails_once(&mock);
    lead_then_sale(&mock, &client, &writer).await;
    assert_eq!(writer.waiting().await.unwrap(), 2);
    let relay = store.open(builder(&client)).await;
    the_sale_came_after_the_lead(&mock, &relay).await;
    relay.shutdown(Duration::from_secs(5)).await;
    writer.shutdown(Duration::from_secs(5)).await;
}
on_each_store!(a_sale_written_beside_its_customers_lead_is_not_claimed_with_it);

/// A customer's lead and sale handed over back to back by `send_in_background`, for many
/// customers at once on a runtime of several threads: each customer's lead is stored before
/// their sale (it takes the earlier row, which the relay sends first).
async fn events_handed_over_back_to_back_are_stored_in_that_order(store: Store) {
    const CUSTOMERS: usize = 300;
    let (mock, direct) = stand_in().await;
    let outbox = store.open(builder(&direct).relay(false)).await;
    let client = direct.with_backend(outbox.clone());
    let click_id = mock.click("partner");
    for n in 0..CUSTOMERS {
        let customer = format!("user_{n}");
        client
            .lead(&customer)
            .click_id(click_id.clone())
            .send_in_background();
        client
            .sale(format!("in_{n}"), 4900)
            .customer_key(&customer)
            .send_in_background();
    }
    client.flush(A_WHILE).await;
    let stored = store
        .integers("SELECT CAST(count(*) AS BIGINT) FROM affitor_outbox")
        .await;
    assert_eq!(stored, [Some(2 * CUSTOMERS as i64)]);
    let overtaken = store
        .integers(
            "SELECT CAST(count(*) AS BIGINT) FROM affitor_outbox sale
             JOIN affitor_outbox lead ON lead.customer_key = sale.customer_key
             WHERE sale.endpoint = 'sale' AND lead.endpoint = 'lead' AND sale.id < lead.id",
        )
        .await;
    assert_eq!(
        overtaken,
        [Some(0)],
        "sales stored before their customer's lead"
    );
    outbox.shutdown(Duration::from_secs(1)).await;
}
on_each_store!(
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    events_handed_over_back_to_back_are_stored_in_that_order
);
