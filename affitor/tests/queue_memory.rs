//! The memory a queued event holds in the background queue, measured with a counting
//! allocator: what the `queue_capacity` docs quote, and a bound that keeps it so.
//!
//! The API here accepts connections and never answers, and one event is sent at a time, so
//! every other event stays queued. Bytes, not time, are asserted.
//!
//! ```sh
//! cargo test -p affitor --test queue_memory -- --nocapture   # prints the figures
//! ```
#![allow(clippy::unwrap_used)] // Tests may unwrap.

use std::alloc::System;
use std::time::Duration;

use affitor::{ClickId, Client, client::Currency};
use stats_alloc::{INSTRUMENTED_SYSTEM, Region, StatsAlloc};

#[global_allocator]
static GLOBAL: &StatsAlloc<System> = &INSTRUMENTED_SYSTEM;

const EVENTS: usize = 10_000;

/// A client of an API that accepts connections and never answers, sending one event at a
/// time: every other event waits in the queue.
async fn client_of_a_silent_api() -> Client {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = listener.accept().await {
            held.push(socket);
        }
    });
    Client::builder()
        .api_key("aff_memory_test")
        .base_url(url)
        .timeout(Duration::from_secs(600))
        .max_in_flight(1)
        .queue_capacity(2 * EVENTS + 1)
        .build()
        .unwrap()
}

/// The bytes still allocated after `queue` ran, per event.
async fn bytes_per_event(queue: impl FnOnce()) -> usize {
    let region = Region::new(GLOBAL);
    queue();
    // Let the worker take the first event, so that what stays is the queue's.
    tokio::time::sleep(Duration::from_millis(100)).await;
    let change = region.change();
    let held = change.bytes_allocated as isize - change.bytes_deallocated as isize
        + change.bytes_reallocated;
    held.max(0) as usize / EVENTS
}

#[tokio::test(flavor = "current_thread")]
async fn a_queued_event_holds_well_under_a_kibibyte() {
    let client = client_of_a_silent_api().await;
    let click_id: ClickId = "cust_1743465600000_abcdefgh".parse().unwrap();
    // Warm up: the worker, the connection, the first growth of the queue.
    client
        .lead("warm_up")
        .click_id(click_id.clone())
        .send_in_background();
    tokio::time::sleep(Duration::from_millis(100)).await;

    let lead = bytes_per_event(|| {
        for n in 0..EVENTS {
            client
                .lead(format!("user_{n:08}"))
                .email(format!("customer{n:08}@example.com"))
                .click_id(click_id.clone())
                .send_in_background();
        }
    })
    .await;
    let sale = bytes_per_event(|| {
        for n in 0..EVENTS {
            client
                .sale(format!("in_1QpLyxLkdIwHu7ix{n:08}"), 4900)
                .customer_key(format!("user_{n:08}"))
                .currency(Currency::Eur)
                .product_id("pro_monthly")
                .send_in_background();
        }
    })
    .await;
    println!("bytes per queued event: lead {lead}, sale {sale}");
    assert_eq!(client.delivery_stats().pending as usize, 2 * EVENTS + 1);
    assert!(lead < 1024, "a queued lead holds {lead} bytes");
    assert!(sale < 1024, "a queued sale holds {sale} bytes");
}
