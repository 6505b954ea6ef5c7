//! The relay's own client: what the builder gives it is what it sends through.

use std::time::Duration;

use affitor_mock::MockServer;
use affitor_outbox::Outbox;

use crate::support::{client_with, quick_policy, sqlite_path, wait_until};

/// Given a client of its own, the relay sends through it, and never through the client the
/// outbox was opened with (the handlers', here another API).
#[tokio::test]
async fn the_relay_sends_through_the_client_it_is_given() {
    let handlers_api = MockServer::start().await.unwrap();
    let relay_api = MockServer::start().await.unwrap();
    let handlers = client_with(&handlers_api, quick_policy());
    let outbox = Outbox::builder(handlers.clone())
        .relay_client(client_with(&relay_api, quick_policy()))
        .poll_interval(Duration::from_millis(10))
        .open(&sqlite_path("relay-client"))
        .await
        .unwrap();

    let click_id = relay_api.click("partner");
    outbox
        .enqueue(handlers.lead("user_1").click_id(click_id))
        .await;
    wait_until("the lead delivered", Duration::from_secs(30), async || {
        outbox.stats().delivered == 1
    })
    .await;

    assert_eq!(relay_api.leads().len(), 1);
    assert!(handlers_api.leads().is_empty());
    outbox.shutdown(Duration::from_secs(5)).await;
}
