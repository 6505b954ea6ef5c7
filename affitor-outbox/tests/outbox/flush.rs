//! `Client::flush` and `affitor_tower::FlushLayer` with an outbox: a response waits for this
//! process's writes to be committed, never for rows other processes wrote (on a shared
//! Postgres, every replica's) nor for the relay's sends.

#![allow(clippy::unwrap_used)] // a test fails loudly on purpose

use std::convert::Infallible;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use affitor::client::Endpoint;
use affitor_mock::Fault;
use affitor_outbox::Outbox;
use affitor_tower::FlushLayer;
use tower::{ServiceBuilder, ServiceExt as _};

use crate::support::{Store, on_each_store, stand_in, wait_until};

/// The rows another process left waiting.
const OTHERS: usize = 1_000;

/// The flush's deadline: what a response would wait if the flush waited for the store.
const DEADLINE: Duration = Duration::from_secs(30);

/// With [`OTHERS`] rows another process wrote waiting in the store, a request through
/// `FlushLayer` stores its own lead and answers long before the flush's deadline.
async fn a_response_waits_for_its_own_writes_alone(store: Store) {
    let (mock, direct) = stand_in().await;
    // Another process: a writer alone, whose relay runs elsewhere (or not yet).
    let other = store
        .open(Outbox::builder(direct.clone()).relay(false))
        .await;
    let click_id = mock.click("partner");
    let mut writes = tokio::task::JoinSet::new();
    for n in 0..OTHERS {
        let lead = direct.lead(format!("other_{n}")).click_id(click_id.clone());
        let other = other.clone();
        writes.spawn(async move { other.enqueue(lead).await });
    }
    writes.join_all().await;
    assert_eq!(
        other.waiting().await.unwrap(),
        OTHERS as u64,
        "{:?}",
        other.stats()
    );

    // This process: an outbox whose relay sends, and a handler that tracks a lead.
    let outbox = store.open(Outbox::builder(direct.clone())).await;
    let client = direct.with_backend(outbox.clone());
    let handled = Arc::new(Mutex::new(None::<Instant>));
    let service = ServiceBuilder::new()
        .layer(FlushLayer::new(client.clone(), DEADLINE))
        .service_fn({
            let handled = Arc::clone(&handled);
            let click_id = click_id.clone();
            move |_: http::Request<()>| {
                let (client, handled) = (client.clone(), Arc::clone(&handled));
                let click_id = click_id.clone();
                async move {
                    client
                        .lead("user_1")
                        .click_id(click_id.clone())
                        .send_in_background();
                    *handled.lock().unwrap() = Some(Instant::now());
                    Ok::<_, Infallible>(http::Response::new(()))
                }
            }
        });
    let response = service.oneshot(http::Request::new(())).await.unwrap();
    let handled = handled.lock().unwrap().expect("the handler ran");
    let waited = handled.elapsed();
    drop(response);

    println!("answered {waited:?} after the handler, {OTHERS} rows of another process waiting");
    assert!(
        waited < DEADLINE / 6,
        "the response waited {waited:?} for rows it did not write"
    );
    assert_eq!(
        outbox.stats().enqueued,
        1,
        "its own lead is stored before it answers"
    );
    outbox.shutdown(Duration::from_secs(5)).await;
    other.shutdown(Duration::from_secs(5)).await;
    drop(mock);
}

on_each_store!(
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    a_response_waits_for_its_own_writes_alone
);

/// A flush once the lead is stored leaves nothing pending, though the relay is still sending
/// it: a stored row is the relay's, and `FlushLayer` warns only of what a frozen runtime
/// would lose.
async fn a_row_being_sent_is_not_pending_after_a_flush(store: Store) {
    let (mock, direct) = stand_in().await;
    mock.inject(Fault::delay(Duration::from_secs(5)).on(Endpoint::Lead));
    let outbox = store
        .open(Outbox::builder(direct.clone()).poll_interval(Duration::from_millis(20)))
        .await;
    let client = direct.with_backend(outbox.clone());
    client
        .lead("user_1")
        .click_id(mock.click("partner"))
        .send_in_background();
    wait_until(
        "the relay to send the lead",
        Duration::from_secs(20),
        async || outbox.stats().in_flight == 1,
    )
    .await;
    let stats = client.flush(Duration::from_secs(1)).await;
    assert_eq!(stats.pending, 0, "{stats:?}");
    outbox.shutdown(Duration::from_secs(1)).await;
}
on_each_store!(a_row_being_sent_is_not_pending_after_a_flush);
