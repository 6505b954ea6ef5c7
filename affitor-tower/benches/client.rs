//! The per-call cost of `client.sale(..).send()` against a raw reqwest POST of the same JSON to
//! the same local stand-in API, both over kept-alive connections.
//!
//! Run with `cargo bench -p affitor-tower --bench client --features mock`.
#![allow(missing_docs, clippy::unwrap_used)] // A benchmark binary.

use std::hint::black_box;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use affitor_tower::mock::MockServer;
use affitor_tower::{Client, SaleOutcome};
use criterion::{Criterion, criterion_group, criterion_main};
use reqwest::header::{AUTHORIZATION, CONTENT_TYPE, USER_AGENT};

fn sale(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let mock = runtime.block_on(MockServer::start()).unwrap();
    let click_id = mock.click("partner");
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
    // Unique transaction ids, so that every call records a sale (no 409 shortcut).
    let next_id = AtomicU64::new(0);
    let transaction_id = || format!("in_bench_{}", next_id.fetch_add(1, Ordering::Relaxed));

    let mut group = c.benchmark_group("sale");
    group.measurement_time(Duration::from_secs(8));
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
    group.finish();
    runtime.block_on(mock.shutdown());
}

criterion_group!(benches, sale);
criterion_main!(benches);
