//! What a handler's own call to the API waits for beside a relay sending flat out, when the relay
//! sends through the handlers' client (its connection pool shared: the default) and when it
//! sends through a client of its own (`OutboxBuilder::relay_client`).
//!
//! A server runtime of two threads writes leads to the outbox as fast as it takes them (64
//! writers) while its relay sends up to 2,048 at once to a stand-in answering after 200 ms, on a
//! runtime of its own; beside them, 8 tasks of the server call the API inline, one call after
//! the other. It prints how much longer than the stand-in's 200 ms those calls took. Nothing
//! about time is asserted.
//!
//! ```sh
//! cargo test --release -p affitor-outbox --test relay_pool -- --ignored --nocapture
//! ```

#![cfg(feature = "sqlite")]
#![allow(clippy::unwrap_used)] // Tests may unwrap.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use affitor::Client;
use affitor_mock::{Fault, MockServer};
use affitor_outbox::Outbox;

const ANSWER: Duration = Duration::from_millis(200);
const MEASURED: Duration = Duration::from_secs(8);
const WRITERS: usize = 64;
const CALLERS: usize = 8;

#[test]
#[ignore = "a measurement: run it in release, with --nocapture"]
fn an_inline_call_beside_a_relay_sending_flat_out() {
    println!(
        "relay's client | inline calls | beyond 200 ms: p50 | p90 | p99 | max | rows delivered"
    );
    for round in 0..2 {
        for own in [false, true] {
            measure(round, own);
        }
    }
}

fn client_of(mock: &MockServer) -> Client {
    Client::builder()
        .base_url(mock.url())
        .api_key(mock.api_key())
        .build()
        .unwrap()
}

fn measure(round: usize, own: bool) {
    let stand_in = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let mock = stand_in
        .block_on(MockServer::builder().record_requests(false).start())
        .unwrap();
    mock.inject(Fault::delay(ANSWER).always());
    let server = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let dir = std::env::temp_dir().join(format!(
        "affitor-relay-pool-{}-{round}-{own}",
        std::process::id()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("outbox.db").to_string_lossy().into_owned();
    let (mut extra, delivered) = server.block_on(async {
        let handlers = client_of(&mock);
        let mut builder = Outbox::builder(handlers.clone());
        if own {
            builder = builder.relay_client(client_of(&mock));
        }
        let outbox = builder.open(&path).await.unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let click_id = mock.click("partner");
        let writers: Vec<_> = (0..WRITERS)
            .map(|writer| {
                let (outbox, handlers, stop) = (outbox.clone(), handlers.clone(), stop.clone());
                let click_id = click_id.clone();
                tokio::spawn(async move {
                    let mut n = 0;
                    while !stop.load(Ordering::Relaxed) {
                        let lead = handlers.lead(format!("user_{writer}_{n}"));
                        outbox.enqueue(lead.click_id(click_id.clone())).await;
                        n += 1;
                    }
                })
            })
            .collect();
        // The relay at its limit first (within 30 s).
        for _ in 0..3000 {
            if outbox.stats().in_flight >= 2000 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        let before = outbox.stats().delivered;
        let callers: Vec<_> = (0..CALLERS)
            .map(|caller| {
                let (handlers, click_id) = (handlers.clone(), click_id.clone());
                tokio::spawn(async move {
                    let mut extra = Vec::new();
                    let until = Instant::now() + MEASURED;
                    let mut n = 0;
                    while Instant::now() < until {
                        let started = Instant::now();
                        handlers
                            .lead(format!("inline_{caller}_{n}"))
                            .click_id(click_id.clone())
                            .send()
                            .await
                            .unwrap();
                        extra.push(started.elapsed().saturating_sub(ANSWER));
                        n += 1;
                    }
                    extra
                })
            })
            .collect();
        let mut extra = Vec::new();
        for caller in callers {
            extra.extend(caller.await.unwrap());
        }
        let delivered = outbox.stats().delivered - before;
        stop.store(true, Ordering::Relaxed);
        for writer in writers {
            writer.await.unwrap();
        }
        outbox.shutdown(Duration::from_secs(1)).await;
        (extra, delivered)
    });
    extra.sort();
    let at = |share: f64| {
        let index = ((extra.len() as f64 * share) as usize).min(extra.len() - 1);
        extra[index].as_secs_f64() * 1000.0
    };
    println!(
        "{} | {} | {:.1} ms | {:.1} ms | {:.1} ms | {:.1} ms | {delivered}",
        if own { "its own" } else { "the handlers'" },
        extra.len(),
        at(0.5),
        at(0.9),
        at(0.99),
        at(1.0),
    );
    drop(server);
    drop(stand_in);
    let _ = std::fs::remove_dir_all(&dir);
}
