//! The Postgres outbox through PgBouncer in transaction mode, opened on its URL (the store's
//! tests that run there too, on pools of their own, are named `pgbouncer`).

use std::time::Duration;

use affitor_outbox::Outbox;

use crate::support::postgres::Schema;
use crate::support::{stand_in, wait_until};

const A_WHILE: Duration = Duration::from_secs(30);

/// An outbox opened on the pooler's URL starts (the pool it opens sends nothing PgBouncer refuses
/// at a connection's start), makes its tables, and delivers a lead.
#[tokio::test]
async fn an_outbox_opened_on_a_pgbouncer_url_starts_and_delivers() {
    let (mock, client) = stand_in().await;
    let schema = Schema::behind_pgbouncer("pooler_url").await;
    let outbox = Outbox::builder(client.clone())
        .poll_interval(Duration::from_millis(20))
        .open(&schema.pooler_url())
        .await
        .expect("the outbox opens through the pooler");
    outbox
        .enqueue(client.lead("user_1").click_id(mock.click("partner")))
        .await;
    wait_until("the lead delivered", A_WHILE, async || {
        !mock.leads().is_empty() && outbox.waiting().await.expect("the store answers") == 0
    })
    .await;
    assert_eq!(outbox.stats().fell_back, 0);
    outbox.shutdown(Duration::from_secs(1)).await;
}
