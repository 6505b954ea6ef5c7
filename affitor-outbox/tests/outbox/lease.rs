//! Short leases, renewed while a send is in flight: two relays on one store, sends that take
//! many times the lease, each sale sent once, and the lease of a row being sent moving forward.

use std::time::Duration;

use affitor::Client;
use affitor_mock::{Fault, MockServer};
use affitor_outbox::{Outbox, OutboxBuilder};

use crate::support::{quick_policy, sale, sale_requests, wait_until};

const A_WHILE: Duration = Duration::from_secs(60);
const SALES: usize = 10;
/// A lease many times shorter than a send.
const LEASE: Duration = Duration::from_millis(300);
const SEND: Duration = Duration::from_secs(2);

/// A stand-in that answers every request after [`SEND`], and a client that waits for it.
async fn slow_stand_in() -> (MockServer, Client) {
    let mock = MockServer::start().await.expect("the stand-in API starts");
    mock.inject(Fault::delay(SEND).always());
    let client = mock
        .client_builder()
        .timeout(Duration::from_secs(30))
        .retry(quick_policy())
        .build()
        .expect("a client of the stand-in");
    (mock, client)
}

fn builder(client: &Client) -> OutboxBuilder {
    Outbox::builder(client.clone())
        .lease(LEASE)
        .poll_interval(Duration::from_millis(20))
}

/// Two relays share the store; sales are written and sent while `lease_until` (read by
/// `lease_until`, the largest of the rows leased, `None` when none is) must move forward
/// during the sends; each sale reaches the stand-in once.
async fn long_sends_keep_their_lease<F>(
    mock: MockServer,
    client: Client,
    first: Outbox,
    second: Outbox,
    mut lease_until: F,
) where
    F: AsyncFnMut() -> Option<i64>,
{
    for n in 0..SALES {
        first.enqueue(sale(&mock, &client, n)).await;
    }
    // A send under way: its lease is renewed while it lasts, many leases long.
    let mut seen = None;
    wait_until("a row being sent", A_WHILE, async || {
        seen = lease_until().await;
        seen.is_some()
    })
    .await;
    let seen = seen.expect("a lease was seen");
    wait_until("the lease renewed", A_WHILE, async || {
        lease_until().await.is_some_and(|until| until > seen)
    })
    .await;
    wait_until("every sale delivered", A_WHILE, async || {
        first.waiting().await.expect("the store answers") == 0
    })
    .await;
    let mut requested = sale_requests(&mock);
    requested.sort();
    let mut expected: Vec<String> = (0..SALES).map(|n| format!("in_{n}")).collect();
    expected.sort();
    assert_eq!(requested, expected, "each sale sent once, by one relay");
    let (a, b) = (first.stats(), second.stats());
    assert_eq!(a.delivered + b.delivered, SALES as u64, "{a:?} {b:?}");
}

#[cfg(feature = "sqlite")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_sends_longer_than_the_lease_keep_it_and_go_once() {
    let (mock, client) = slow_stand_in().await;
    let path = crate::support::sqlite_path("lease");
    let first = builder(&client).open(&path).await.unwrap();
    let second = builder(&client).open(&path).await.unwrap();
    let pool = sqlx::SqlitePool::connect(&format!("sqlite://{path}"))
        .await
        .unwrap();
    let lease_until = async || -> Option<i64> {
        sqlx::query_scalar::<_, Option<i64>>(
            "SELECT max(lease_until) FROM affitor_outbox WHERE lease_owner IS NOT NULL",
        )
        .fetch_one(&pool)
        .await
        .expect("the file reads")
    };
    long_sends_keep_their_lease(mock, client, first, second, lease_until).await;
}

#[cfg(feature = "postgres")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_sends_longer_than_the_lease_keep_it_and_go_once() {
    let (mock, client) = slow_stand_in().await;
    let schema = crate::support::postgres::Schema::create("lease").await;
    let pool = schema.pool().await;
    let first = builder(&client).postgres(pool.clone()).await.unwrap();
    let second = builder(&client)
        .postgres(schema.pool().await)
        .await
        .unwrap();
    let lease_until = async || -> Option<i64> {
        sqlx::query_scalar::<_, Option<i64>>(
            "SELECT (extract(epoch FROM max(lease_until)) * 1000)::bigint FROM affitor_outbox
             WHERE lease_owner IS NOT NULL",
        )
        .fetch_one(&pool)
        .await
        .expect("the table reads")
    };
    long_sends_keep_their_lease(mock, client, first, second, lease_until).await;
}
