//! The per-call cost of `client.sale(..).send()` against a raw reqwest POST of the same JSON to
//! the same local stand-in API, both over kept-alive connections.
//!
//! Run with `cargo bench -p affitor --bench client`.
#![allow(missing_docs, clippy::unwrap_used)] // A benchmark binary.

use std::hint::black_box;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use affitor::{ClickId, Client, client::SaleOutcome};
use affitor_mock::MockServer;
use criterion::{Criterion, criterion_group, criterion_main};
use reqwest::header::{AUTHORIZATION, CONTENT_TYPE, USER_AGENT};

/// A fresh stand-in with one click, so that both sides start from the same state.
fn stand_in(runtime: &tokio::runtime::Runtime) -> (MockServer, ClickId) {
    let mock = runtime.block_on(MockServer::start()).unwrap();
    let click_id = mock.click("partner");
    (mock, click_id)
}

fn sale(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    // Unique transaction ids, so that every call records a sale (no 409 shortcut).
    let next_id = AtomicU64::new(0);
    let transaction_id = || format!("in_bench_{}", next_id.fetch_add(1, Ordering::Relaxed));

    let mut group = c.benchmark_group("sale");
    group.measurement_time(Duration::from_secs(8));

    let (mock, click_id) = stand_in(&runtime);
    let raw = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .tcp_nodelay(true)
        .build()
        .unwrap();
    let url = format!("{}/api/v1/track/sale", mock.url());
    let bearer = format!("Bearer {}", mock.api_key());
    group.bench_function("raw_reqwest", |b| {
        b.iter(|| {
            runtime.block_on(async {
                let body = serde_json::to_vec(&serde_json::json!({
                    "transaction_id": transaction_id(),
                    "amount_cents": 4900,
                    "click_id": click_id.as_str(),
                }))
                .unwrap();
                let response = raw
                    .post(&url)
                    .header(CONTENT_TYPE, "application/json")
                    .header(AUTHORIZATION, &bearer)
                    .header(USER_AGENT, "bench")
                    .body(body)
                    .send()
                    .await
                    .unwrap();
                assert!(response.status().is_success());
                black_box(response.bytes().await.unwrap())
            })
        });
    });
    runtime.block_on(mock.shutdown());

    let (mock, click_id) = stand_in(&runtime);
    let client = Client::builder()
        .api_key(mock.api_key())
        .base_url(mock.url())
        .build()
        .unwrap();
    group.bench_function("affitor_client", |b| {
        b.iter(|| {
            runtime.block_on(async {
                let outcome = client
                    .sale(transaction_id(), 4900)
                    .click_id(click_id.clone())
                    .send()
                    .await
                    .unwrap();
                assert!(matches!(outcome, SaleOutcome::Recorded { .. }));
                black_box(outcome)
            })
        });
    });
    runtime.block_on(mock.shutdown());
    group.finish();
}

/// The same two calls measured in alternating blocks, so that a busy machine slows both
/// alike: prints the median per-call time of each and the median of the per-round ratios.
fn paired(runtime: &tokio::runtime::Runtime) {
    const ROUNDS: usize = 40;
    const CALLS: u32 = 300;
    let (mock, click_id) = stand_in(runtime);
    let client = Client::builder()
        .api_key(mock.api_key())
        .base_url(mock.url())
        .build()
        .unwrap();
    let raw = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .tcp_nodelay(true)
        .build()
        .unwrap();
    let url = format!("{}/api/v1/track/sale", mock.url());
    let bearer = format!("Bearer {}", mock.api_key());
    let mut next_id = 0_u64;
    let raw_block = |next_id: &mut u64| {
        let started = Instant::now();
        runtime.block_on(async {
            for _ in 0..CALLS {
                *next_id += 1;
                let body = serde_json::to_vec(&serde_json::json!({
                    "transaction_id": format!("in_paired_{next_id}"),
                    "amount_cents": 4900,
                    "click_id": click_id.as_str(),
                }))
                .unwrap();
                let response = raw
                    .post(&url)
                    .header(CONTENT_TYPE, "application/json")
                    .header(AUTHORIZATION, &bearer)
                    .header(USER_AGENT, "bench")
                    .body(body)
                    .send()
                    .await
                    .unwrap();
                assert!(response.status().is_success());
                black_box(response.bytes().await.unwrap());
            }
        });
        started.elapsed() / CALLS
    };
    let client_block = |next_id: &mut u64| {
        let started = Instant::now();
        runtime.block_on(async {
            for _ in 0..CALLS {
                *next_id += 1;
                let outcome = client
                    .sale(format!("in_paired_{next_id}"), 4900)
                    .click_id(click_id.clone())
                    .send()
                    .await
                    .unwrap();
                assert!(matches!(outcome, SaleOutcome::Recorded { .. }));
                black_box(outcome);
            }
        });
        started.elapsed() / CALLS
    };
    // Warm both connections and code paths.
    raw_block(&mut next_id);
    client_block(&mut next_id);
    let mut raw_times = Vec::new();
    let mut client_times = Vec::new();
    let mut ratios = Vec::new();
    for round in 0..ROUNDS {
        let (raw_time, client_time) = if round % 2 == 0 {
            let raw_time = raw_block(&mut next_id);
            (raw_time, client_block(&mut next_id))
        } else {
            let client_time = client_block(&mut next_id);
            (raw_block(&mut next_id), client_time)
        };
        ratios.push(client_time.as_secs_f64() / raw_time.as_secs_f64());
        raw_times.push(raw_time);
        client_times.push(client_time);
    }
    raw_times.sort();
    client_times.sort();
    ratios.sort_by(f64::total_cmp);
    println!(
        "sale/paired: raw_reqwest median {:?}, affitor_client median {:?}, \
         median ratio client/raw {:.3} ({ROUNDS} alternating rounds of {CALLS} calls)",
        raw_times[ROUNDS / 2],
        client_times[ROUNDS / 2],
        ratios[ROUNDS / 2],
    );
    runtime.block_on(mock.shutdown());
}

fn sale_paired(_: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    paired(&runtime);
}

criterion_group!(benches, sale, sale_paired);
criterion_main!(benches);
