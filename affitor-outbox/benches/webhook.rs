//! How long a payment webhook takes to answer its provider: sent inline (the answer waits for
//! Affitor) against stored in an outbox (the answer waits for the commit), with the local
//! stand-in API answering each sale after 200 ms, paired in one sitting.
//!
//! ```sh
//! cargo bench -p affitor-outbox --all-features --bench webhook
//! # Postgres too: AFFITOR_TEST_POSTGRES, or the server `bash .ci/postgres` starts
//! ```
//!
//! Each side verifies and tracks 400 distinct Stripe `invoice.paid` deliveries, 8 at a time (as
//! a provider's concurrent deliveries), in 4 rounds that alternate the sides; the answer time is
//! `Verifier::track` from the signed delivery to its `Tracked`. p50 and p99 over the rounds.

use std::str::FromStr;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use affitor::Client;
use affitor::client::Endpoint;
use affitor::webhook::{Stripe, Verifier};
use affitor_mock::{Fault, MockServer, SignedWebhook};
use affitor_outbox::Outbox;
use serde_json::{Value, json};

const SECRET: &str = "whsec_bench_signing";
const PER_ROUND: usize = 100;
const ROUNDS: usize = 4;
const CONCURRENT: usize = 8;
const API_LATENCY: Duration = Duration::from_millis(200);

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mock = MockServer::builder()
        .record_requests(false)
        .log_events(false)
        .start()
        .await?;
    mock.inject(Fault::delay(API_LATENCY).on(Endpoint::Sale).always());
    let client = Client::builder()
        .api_key(mock.api_key())
        .base_url(mock.url())
        .build()?;
    let fixture = format!(
        "{}/../affitor/tests/fixtures/webhook/stripe/invoice.paid.basil.json",
        env!("CARGO_MANIFEST_DIR")
    );
    let template: Value = serde_json::from_str(&std::fs::read_to_string(fixture)?)?;
    mock.click_with_id("partner", "cust_fixture_1743465000001".parse()?);
    let stripe = Verifier::<Stripe>::new(SECRET)?;

    let dir = std::env::temp_dir().join(format!("affitor-webhook-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let sqlite = Outbox::open(&dir.join("outbox.db").to_string_lossy(), client.clone()).await?;
    // Each side: its verifier (whose payment state stores the sale, or sends it), and its client.
    let mut sides = vec![
        ("inline", Arc::new(stripe.clone()), client.clone()),
        (
            "outbox, SQLite",
            Arc::new(stripe.clone().with_payment_state(sqlite.clone())),
            client.with_backend(sqlite.clone()),
        ),
    ];
    let postgres = match postgres(&client).await {
        Ok(outbox) => {
            sides.push((
                "outbox, Postgres",
                Arc::new(stripe.clone().with_payment_state(outbox.clone())),
                client.with_backend(outbox.clone()),
            ));
            Some(outbox)
        }
        Err(why) => {
            println!("Postgres not measured: {why}");
            None
        }
    };

    println!(
        "{} Stripe deliveries per side, {CONCURRENT} at a time, the API answering in {} ms",
        PER_ROUND * ROUNDS,
        API_LATENCY.as_millis()
    );
    let mut times = vec![Vec::new(); sides.len()];
    let mut next = 0_usize;
    for round in 0..ROUNDS {
        // Alternate which side goes first, so that neither always meets a warmer machine.
        let mut order: Vec<usize> = (0..sides.len()).collect();
        if round % 2 == 1 {
            order.reverse();
        }
        for side in order {
            let (_, stripe, client) = &sides[side];
            let bodies: Vec<String> = (0..PER_ROUND)
                .map(|_| {
                    next += 1;
                    delivery(&template, next)
                })
                .collect();
            times[side].extend(answer_times(stripe, client, bodies).await);
        }
    }

    println!("| side | answered 200 | p50 | p99 |");
    println!("|---|---|---|---|");
    for ((name, _, _), times) in sides.iter().zip(&mut times) {
        let ok = times.iter().filter(|(ok, _)| *ok).count();
        let mut durations: Vec<Duration> = times.iter().map(|(_, took)| *took).collect();
        durations.sort();
        println!(
            "| {name} | {ok} of {} | {:.1} ms | {:.1} ms |",
            durations.len(),
            millis(percentile(&durations, 0.50)),
            millis(percentile(&durations, 0.99)),
        );
    }

    // What the outboxes stored is delivered before the end.
    client
        .with_backend(sqlite.clone())
        .flush(Duration::from_secs(60))
        .await;
    sqlite.shutdown(Duration::from_secs(10)).await;
    if let Some(outbox) = postgres {
        client
            .with_backend(outbox.clone())
            .flush(Duration::from_secs(60))
            .await;
        outbox.shutdown(Duration::from_secs(10)).await;
    }
    let (recorded, sent) = (mock.sales().len(), PER_ROUND * ROUNDS * sides.len());
    println!("sales the stand-in recorded: {recorded} of {sent}");
    if recorded != sent {
        return Err(format!("{} sales never reached the stand-in", sent - recorded).into());
    }
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}

/// The template as delivery `n`: an invoice of its own, created now.
fn delivery(template: &Value, n: usize) -> String {
    let mut event = template.clone();
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |since| since.as_secs());
    event["id"] = json!(format!("evt_bench_{n}"));
    event["created"] = json!(now);
    event["data"]["object"]["id"] = json!(format!("in_bench_{n}"));
    event["data"]["object"]["payments"] = Value::Null;
    event.to_string()
}

/// Tracks each body through `client`, [`CONCURRENT`] at a time: whether it was answered 200,
/// and how long the answer took.
async fn answer_times(
    stripe: &Arc<Verifier<Stripe>>,
    client: &Client,
    bodies: Vec<String>,
) -> Vec<(bool, Duration)> {
    let bodies = Arc::new(tokio::sync::Mutex::new(bodies));
    let mut workers = tokio::task::JoinSet::new();
    for _ in 0..CONCURRENT {
        let (stripe, client, bodies) = (Arc::clone(stripe), client.clone(), Arc::clone(&bodies));
        workers.spawn(async move {
            let mut times = Vec::new();
            while let Some(body) = bodies.lock().await.pop() {
                let signed = SignedWebhook::stripe(SECRET, body);
                let started = Instant::now();
                let tracked = stripe.track(&client, signed.headers(), signed.body()).await;
                times.push((tracked.status().is_success(), started.elapsed()));
            }
            times
        });
    }
    let mut times = Vec::new();
    while let Some(done) = workers.join_next().await {
        times.extend(done.unwrap_or_default());
    }
    times
}

/// An outbox on a fresh schema of the test Postgres server.
async fn postgres(client: &Client) -> Result<Outbox, Box<dyn std::error::Error>> {
    use sqlx::postgres::{PgConnectOptions, PgPoolOptions};

    let url = std::env::var("AFFITOR_TEST_POSTGRES")
        .unwrap_or_else(|_| "postgres://affitor:affitor@127.0.0.1:5432/affitor_test".into());
    let admin = PgPoolOptions::new()
        .acquire_timeout(Duration::from_secs(3))
        .connect(&url)
        .await?;
    let schema = format!("webhook_bench_{}", std::process::id());
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
        "DROP SCHEMA IF EXISTS {schema} CASCADE; CREATE SCHEMA {schema};"
    )))
    .execute(&admin)
    .await?;
    let options = PgConnectOptions::from_str(&url)?.options([("search_path", schema.as_str())]);
    let pool = PgPoolOptions::new().connect_with(options).await?;
    Ok(Outbox::builder(client.clone()).postgres(pool).await?)
}

fn percentile(sorted: &[Duration], at: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let index = ((sorted.len() - 1) as f64 * at).round() as usize;
    sorted[index.min(sorted.len() - 1)]
}

fn millis(duration: Duration) -> f64 {
    duration.as_secs_f64() * 1000.0
}
