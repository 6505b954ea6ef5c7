//! What the client tests share: retry policies that keep them fast, clients of the stand-in
//! API, and waiting for a condition.

use std::collections::BTreeSet;
use std::time::Duration;

use affitor::{
    ClickId, Client,
    client::{DeliveryStats, LeadOutcome, RetryPolicy},
};
pub(crate) use affitor_mock::quick_retries;
use affitor_mock::{MockServer, poll_until};

/// Retries in tens of milliseconds, for long enough to outlast a short outage.
pub(crate) fn patient_retries() -> RetryPolicy {
    quick_retries()
        .max_attempts(1000)
        .base_delay(Duration::from_millis(10))
        .max_delay(Duration::from_millis(50))
        .deadline(Duration::from_secs(20))
}

/// A client of `mock` with [`patient_retries`].
pub(crate) fn patient_client(mock: &MockServer) -> Client {
    mock.client_builder()
        .retry(patient_retries())
        .build()
        .expect("a client of the stand-in")
}

/// A fresh stand-in API and a client of it.
pub(crate) async fn setup() -> (MockServer, Client) {
    let mock = MockServer::start().await.unwrap();
    let client = mock.client();
    (mock, client)
}

/// A customer with a click and a lead, known to the stand-in as `customer_key`.
pub(crate) async fn customer(mock: &MockServer, client: &Client, customer_key: &str) -> ClickId {
    let click_id = mock.click("partner");
    let outcome = client
        .lead(customer_key)
        .click_id(click_id.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(outcome, LeadOutcome::Tracked);
    click_id
}

/// Waits until `ready` holds (a minute at most, then fails saying `what` it waited for).
pub(crate) async fn until(what: &str, mut ready: impl FnMut() -> bool) {
    let waited = poll_until(Duration::from_secs(60), async || ready().then_some(())).await;
    assert!(waited.is_some(), "timed out waiting for {what}");
}

/// Waits until every one of `calls` `send_in_background` calls is settled: delivered, failed
/// or dropped, and nothing is pending.
pub(crate) async fn settled(client: &Client, calls: u64) -> DeliveryStats {
    let mut stats = client.delivery_stats();
    until("every event to settle", || {
        stats = client.delivery_stats();
        stats.pending == 0 && stats.delivered + stats.failed + stats.dropped == calls
    })
    .await;
    stats
}

/// Queues a sale of 4900 cents from `click_id` for each id.
pub(crate) fn queue_sales(
    client: &Client,
    click_id: &ClickId,
    ids: impl IntoIterator<Item = String>,
) {
    for id in ids {
        client
            .sale(id, 4900)
            .click_id(click_id.clone())
            .send_in_background();
    }
}

/// `count` ids: `<prefix>_0`, `<prefix>_1`...
pub(crate) fn ids(prefix: &str, count: usize) -> Vec<String> {
    (0..count).map(|n| format!("{prefix}_{n}")).collect()
}

/// The transaction ids of the sales the stand-in recorded.
pub(crate) fn recorded_sales(mock: &MockServer) -> Vec<String> {
    mock.sales()
        .into_iter()
        .map(|sale| sale.transaction_id)
        .collect()
}

/// The ids, as a set.
pub(crate) fn as_set(ids: &[String]) -> BTreeSet<String> {
    ids.iter().cloned().collect()
}
