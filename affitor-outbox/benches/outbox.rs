//! What the outbox costs and how fast its relay drains, against the local stand-in API
//! answering at once, on a SQLite file and on Postgres.
//!
//! ```sh
//! cargo bench -p affitor-outbox --all-features --bench outbox
//! # Postgres: AFFITOR_TEST_POSTGRES, or the server `bash .ci/postgres` starts
//! ```
//!
//! For each store, with the attribution journal off and then on, it measures in one sitting:
//! - enqueue latency, one request at a time: a lead (SQLite `synchronous=NORMAL`) and a sale
//!   (SQLite `synchronous=FULL`), median and p99 over 2,000 writes each;
//! - enqueue throughput with 64 concurrent writers (as 64 concurrent signups would);
//! - relay throughput: 20,000 leads written with no relay running, then a relay started, timed
//!   until the table is empty (each row claimed, sent over HTTP, answered, deleted);
//! - for SQLite, what the process wrote to the disk per event over all of the above (Linux's
//!   `/proc/self/io`): a count, where the times depend on what else the machine runs.

use std::str::FromStr;
use std::time::{Duration, Instant};

use affitor::Client;
use affitor_mock::MockServer;
use affitor_outbox::Outbox;

const SEQUENTIAL: usize = 2_000;
const WRITERS: usize = 64;
const PER_WRITER: usize = 100;
const RELAYED: usize = 20_000;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mock = MockServer::builder()
        .record_requests(false)
        .log_events(false)
        .start()
        .await?;
    let client = Client::builder()
        .api_key(mock.api_key())
        .base_url(mock.url())
        .queue_capacity(100_000)
        .build()?;
    println!(
        "| store | lead enqueue p50 / p99 | sale enqueue p50 / p99 | enqueues/s, {WRITERS} writers | relay rows/s | disk writes per event |"
    );
    println!("|---|---|---|---|---|---|");

    let dir = std::env::temp_dir().join(format!("affitor-outbox-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    for journal in [false, true] {
        let path = dir.join(format!("outbox-{journal}.db"));
        let sqlite = Store::Sqlite(path.to_string_lossy().into_owned());
        measure("SQLite (WAL)", &sqlite, journal, &mock, &client).await?;
    }
    std::fs::remove_dir_all(&dir)?;

    let url = std::env::var("AFFITOR_TEST_POSTGRES")
        .unwrap_or_else(|_| "postgres://affitor:affitor@127.0.0.1:5432/affitor_test".into());
    match sqlx::PgPool::connect(&url).await {
        Ok(admin) => {
            let schema = format!("outbox_bench_{}", std::process::id());
            sqlx::raw_sql(sqlx::AssertSqlSafe(format!("CREATE SCHEMA {schema}")))
                .execute(&admin)
                .await?;
            let options = sqlx::postgres::PgConnectOptions::from_str(&url)?
                .options([("search_path", schema.as_str())]);
            let postgres = Store::Postgres(Box::new(options));
            for journal in [false, true] {
                measure("Postgres", &postgres, journal, &mock, &client).await?;
            }
            sqlx::raw_sql(sqlx::AssertSqlSafe(format!("DROP SCHEMA {schema} CASCADE")))
                .execute(&admin)
                .await?;
        }
        Err(error) => println!(
            "| Postgres | not measured: no server at {url} ({error}); run `bash .ci/postgres` | | | | |"
        ),
    }
    Ok(())
}

enum Store {
    Sqlite(String),
    Postgres(Box<sqlx::postgres::PgConnectOptions>),
}

impl Store {
    async fn open(
        &self,
        client: &Client,
        relay: bool,
        journal: bool,
    ) -> Result<Outbox, Box<dyn std::error::Error>> {
        let mut builder = Outbox::builder(client.clone())
            .relay(relay)
            .max_in_flight(256)
            .poll_interval(Duration::from_millis(50));
        if journal {
            builder = builder.journal(affitor_outbox::journal::DEFAULT_RETENTION);
        }
        Ok(match self {
            Self::Sqlite(path) => builder.open(path).await?,
            Self::Postgres(options) => {
                let pool = sqlx::postgres::PgPoolOptions::new()
                    .max_connections(16)
                    .connect_with((**options).clone())
                    .await?;
                builder.postgres(pool).await?
            }
        })
    }
}

async fn measure(
    name: &str,
    store: &Store,
    journal: bool,
    mock: &MockServer,
    client: &Client,
) -> Result<(), Box<dyn std::error::Error>> {
    let written_before = bytes_written();
    let writer = store.open(client, false, journal).await?;

    let mut leads = Vec::with_capacity(SEQUENTIAL);
    for n in 0..SEQUENTIAL {
        let lead = client
            .lead(format!("bench_lead_{n}"))
            .click_id(mock.click("partner"));
        let start = Instant::now();
        writer.enqueue(lead).await;
        leads.push(start.elapsed());
    }
    let mut sales = Vec::with_capacity(SEQUENTIAL);
    for n in 0..SEQUENTIAL {
        let sale = client
            .sale(format!("bench_in_{n}"), 4900)
            .customer_key(format!("bench_lead_{n}"));
        let start = Instant::now();
        writer.enqueue(sale).await;
        sales.push(start.elapsed());
    }

    let start = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for w in 0..WRITERS {
        let writer = writer.clone();
        let client = client.clone();
        let clicks: Vec<_> = (0..PER_WRITER).map(|_| mock.click("partner")).collect();
        tasks.spawn(async move {
            for (n, click_id) in clicks.into_iter().enumerate() {
                writer
                    .enqueue(client.lead(format!("bench_w{w}_{n}")).click_id(click_id))
                    .await;
            }
        });
    }
    while tasks.join_next().await.is_some() {}
    let concurrent = (WRITERS * PER_WRITER) as f64 / start.elapsed().as_secs_f64();
    assert_eq!(writer.stats().fell_back, 0, "every event was written");

    // Empty the table, then time a relay over RELAYED fresh rows.
    drain(store, client, journal).await?;
    for n in 0..RELAYED {
        writer
            .enqueue(
                client
                    .lead(format!("bench_relay_{n}"))
                    .click_id(mock.click("partner")),
            )
            .await;
    }
    let start = Instant::now();
    let relay = store.open(client, true, journal).await?;
    while relay.waiting().await? > 0 {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let relayed = RELAYED as f64 / start.elapsed().as_secs_f64();
    let stats = relay.shutdown(Duration::from_secs(5)).await;
    assert_eq!(
        stats.delivered, RELAYED as u64,
        "every row delivered: {stats:?}"
    );

    writer.shutdown(Duration::from_secs(5)).await;
    // Postgres's writes are the server's, not this process's.
    let written = match (store, written_before, bytes_written()) {
        (Store::Sqlite(_), Some(before), Some(after)) => {
            let events = 2 * SEQUENTIAL + WRITERS * PER_WRITER + RELAYED;
            format!("{:.1} KB", (after - before) as f64 / events as f64 / 1000.0)
        }
        _ => "n/a".to_owned(),
    };
    let name = if journal {
        format!("{name}, journal on")
    } else {
        name.to_owned()
    };
    println!(
        "| {name} | {} / {} | {} / {} | {concurrent:.0} | {relayed:.0} | {written} |",
        micros(&mut leads, 0.5),
        micros(&mut leads, 0.99),
        micros(&mut sales, 0.5),
        micros(&mut sales, 0.99),
    );
    Ok(())
}

/// Delivers what the table holds, so that the relay measurement starts from an empty table.
async fn drain(
    store: &Store,
    client: &Client,
    journal: bool,
) -> Result<(), Box<dyn std::error::Error>> {
    let relay = store.open(client, true, journal).await?;
    while relay.waiting().await? > 0 {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    relay.shutdown(Duration::from_secs(5)).await;
    Ok(())
}

fn micros(samples: &mut [Duration], quantile: f64) -> String {
    samples.sort();
    let index = ((samples.len() as f64 * quantile) as usize).min(samples.len() - 1);
    format!("{} µs", samples[index].as_micros())
}

/// What this process has written to the disk so far, in bytes (Linux only).
fn bytes_written() -> Option<u64> {
    let io = std::fs::read_to_string("/proc/self/io").ok()?;
    io.lines()
        .find_map(|line| line.strip_prefix("write_bytes: "))?
        .parse()
        .ok()
}
