//! A process killed with SIGKILL while its events wait, or while they are being sent, and
//! started again: nothing lost, nothing sent twice.
//!
//! The test runs this test binary again as the child process: `writer_and_relay`, ignored in
//! a normal run, is the child's body, told what to do by environment variables.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use affitor::ClickId;
use affitor_mock::{Fault, MockServer};
use affitor_outbox::Outbox;

use crate::support::{quick_policy, sale_requests, sqlite_path, stand_in, wait_until};

const SALES: usize = 20;

/// Where the child opens its outbox: a SQLite file, or a Postgres schema of the test server.
#[derive(Clone, Copy)]
enum Store<'a> {
    Sqlite(&'a str),
    #[cfg(feature = "postgres")]
    Postgres(&'a str),
}

/// Starts this test binary as the child, and waits for the line it prints when ready.
fn child(path: &str, mock: &MockServer, clicks: &str, role: &str) -> Child {
    child_on(Store::Sqlite(path), mock, clicks, role)
}

/// [`child`], on `store`.
fn child_on(store: Store<'_>, mock: &MockServer, clicks: &str, role: &str) -> Child {
    let mut command = Command::new(std::env::current_exe().expect("the test binary"));
    match store {
        Store::Sqlite(path) => command.env("OUTBOX_CHILD_PATH", path),
        #[cfg(feature = "postgres")]
        Store::Postgres(schema) => command.env("OUTBOX_CHILD_SCHEMA", schema),
    };
    let mut child = command
        .args([
            "--ignored",
            "--exact",
            "crash::writer_and_relay",
            "--nocapture",
        ])
        .env("OUTBOX_CHILD_API_URL", mock.url())
        .env("OUTBOX_CHILD_API_KEY", mock.api_key())
        .env("OUTBOX_CHILD_CLICKS", clicks)
        .env("OUTBOX_CHILD_ROLE", role)
        .stdout(Stdio::piped())
        .spawn()
        .expect("the child process starts");
    let stdout = child.stdout.take().expect("the child's stdout");
    let mut lines = BufReader::new(stdout).lines().map_while(Result::ok);
    let ready = lines.any(|line| line == "outbox-child: ready");
    assert!(ready, "the child ended before it was ready");
    // Keep reading, so that the child's test harness can still write its report.
    std::thread::spawn(move || lines.for_each(drop));
    child
}

/// Two stand-ins that know the same clicks: one that never answers while a first process sends
/// (killed meanwhile), then one that does, for the process that takes over; and the clicks, as
/// the child reads them.
async fn hanging_then_up() -> (MockServer, MockServer, String) {
    let (hanging, _) = stand_in().await;
    hanging.inject(Fault::delay(Duration::from_secs(60)).always());
    let (up, _) = stand_in().await;
    let clicks: Vec<ClickId> = (0..SALES).map(|_| hanging.click("partner")).collect();
    for click_id in &clicks {
        up.click_with_id("partner", click_id.clone());
    }
    let clicks: Vec<&str> = clicks.iter().map(ClickId::as_str).collect();
    let clicks = clicks.join(",");
    (hanging, up, clicks)
}

/// Each of the [`SALES`] sales reached `up` once.
fn assert_each_sale_sent_once(up: &MockServer) {
    let mut delivered = sale_requests(up);
    delivered.sort();
    let mut expected: Vec<String> = (0..SALES).map(|n| format!("in_{n}")).collect();
    expected.sort();
    assert_eq!(delivered, expected, "each sale sent once after the restart");
}

#[tokio::test]
async fn a_process_killed_while_events_wait_delivers_each_once_when_started_again() {
    // The API is down for the first process, up for the second. Two stand-ins rather than one
    // that comes back: a request the first process wrote just before it died may still be
    // read after, and it must not count as the second process's.
    let (down, _) = stand_in().await;
    down.inject(Fault::status(503).always());
    let (up, _) = stand_in().await;
    let path = sqlite_path("sigkill");
    let clicks: Vec<ClickId> = (0..SALES).map(|_| down.click("partner")).collect();
    for click_id in &clicks {
        up.click_with_id("partner", click_id.clone());
    }
    let clicks: Vec<&str> = clicks.iter().map(ClickId::as_str).collect();
    let clicks = clicks.join(",");

    // The first process writes its sales while the API is down, and is killed.
    let mut first = child(&path, &down, &clicks, "write");
    wait_until(
        "the first process to try a sale",
        Duration::from_secs(30),
        async || !sale_requests(&down).is_empty(),
    )
    .await;
    first.kill().expect("SIGKILL");
    first.wait().expect("the killed child is reaped");
    assert!(down.sales().is_empty());
    assert!(!sale_requests(&down).is_empty(), "the first process tried");

    // A second process, with the API up, delivers what the first left.
    let mut second = child(&path, &up, "", "relay");
    let status = tokio::task::spawn_blocking(move || second.wait())
        .await
        .unwrap()
        .unwrap();
    assert!(status.success(), "the relay process failed: {status}");

    let mut delivered = sale_requests(&up);
    delivered.sort();
    let mut expected: Vec<String> = (0..SALES).map(|n| format!("in_{n}")).collect();
    expected.sort();
    assert_eq!(delivered, expected, "each sale sent once after the restart");
    assert_eq!(up.sales().len(), SALES);
}

/// SIGKILLed while every row is being sent (the API answers in a minute): the rows stay
/// leased by a relay that is dead. A new process, with the default lease (15 s), sends them
/// once its lease has ended: all of them, each once, within its 30 s.
#[tokio::test]
async fn a_process_killed_while_sending_has_its_rows_sent_again_within_a_lease() {
    let path = sqlite_path("sigkill-sending");
    let leased = async {
        let leased: i64 = crate::support::sqlite(&path)
            .query_row(LEASED, [], |row| row.get(0))
            .unwrap();
        leased
    };
    sent_again_after_a_kill_while_sending(Store::Sqlite(&path), leased).await;
}

/// The same on Postgres: a relay SIGKILLed while it sends every row leaves them leased in the
/// shared table; a relay of another process sends them once the lease (15 s) has ended, each
/// once, within its 30 s.
#[cfg(feature = "postgres")]
#[tokio::test]
async fn a_postgres_relay_killed_while_sending_has_its_rows_sent_again_within_a_lease() {
    let schema = crate::support::postgres::Schema::create("sigkill_sending").await;
    let leased = async {
        let pool = schema.pool().await;
        let (leased,): (i64,) = sqlx::query_as(LEASED).fetch_one(&pool).await.unwrap();
        pool.close().await;
        leased
    };
    sent_again_after_a_kill_while_sending(Store::Postgres(schema.name()), leased).await;
}

/// How many rows carry a relay's lease.
const LEASED: &str =
    "SELECT count(*) FROM affitor_outbox WHERE lease_owner IS NOT NULL AND lease_until IS NOT NULL";

/// SIGKILLs a child that is sending every row of `store`, checks with `leased` (awaited after
/// the kill) that the dead relay still holds each of them, then runs a relay in another process
/// with the default lease: it sends each sale once.
async fn sent_again_after_a_kill_while_sending(
    store: Store<'_>,
    leased: impl std::future::Future<Output = i64>,
) {
    let (hanging, up, clicks) = hanging_then_up().await;
    // Ready once every sale is being sent.
    let mut first = child_on(store, &hanging, &clicks, "send");
    first.kill().expect("SIGKILL");
    first.wait().expect("the killed child is reaped");
    assert_eq!(
        leased.await,
        SALES as i64,
        "every row was held by the killed relay"
    );

    // The `relay` child waits at most 30 s for the store to empty.
    let mut second = child_on(store, &up, "", "relay-default-lease");
    let status = tokio::task::spawn_blocking(move || second.wait())
        .await
        .expect("the wait for the relay process ends")
        .expect("the relay process is reaped");
    assert!(status.success(), "the relay process failed: {status}");
    assert_each_sale_sent_once(&up);
}

/// The child process of the tests above: `write` writes the sales and waits to be killed;
/// `send` does too, once every sale is being sent (with the default lease); `relay` (and
/// `relay-default-lease`) delivers what the store holds and exits.
#[tokio::test]
#[ignore = "the child process of the SIGKILL test, which runs it"]
async fn writer_and_relay() {
    let var = |name: &str| std::env::var(name).unwrap_or_else(|_| panic!("{name} is set"));
    let mock_url = var("OUTBOX_CHILD_API_URL");
    let client = affitor::Client::builder()
        .api_key(var("OUTBOX_CHILD_API_KEY"))
        .base_url(&mock_url)
        .retry(quick_policy())
        .build()
        .unwrap();
    // A short lease: the rows the killed process was sending when it died go again soon (the
    // `send` and `relay-default-lease` roles keep the default).
    let role = var("OUTBOX_CHILD_ROLE");
    let mut builder = Outbox::builder(client.clone());
    if !matches!(role.as_str(), "send" | "relay-default-lease") {
        builder = builder.lease(Duration::from_secs(1));
    }
    let builder = builder
        .backoff(Duration::from_millis(20), Duration::from_millis(100))
        .poll_interval(Duration::from_millis(20));
    let outbox = match std::env::var("OUTBOX_CHILD_SCHEMA") {
        #[cfg(feature = "postgres")]
        Ok(schema) => {
            let pool = crate::support::postgres::Schema::existing(&schema)
                .pool()
                .await;
            builder.postgres(pool).await.unwrap()
        }
        _ => builder.open(&var("OUTBOX_CHILD_PATH")).await.unwrap(),
    };
    match role.as_str() {
        "write" | "send" => {
            let clicks = var("OUTBOX_CHILD_CLICKS");
            for (n, click_id) in clicks.split(',').enumerate() {
                let click_id: ClickId = click_id.parse().unwrap();
                outbox
                    .enqueue(client.sale(format!("in_{n}"), 100).click_id(click_id))
                    .await;
            }
            assert_eq!(outbox.stats().enqueued, SALES as u64);
            if role == "send" {
                wait_until(
                    "every sale being sent",
                    Duration::from_secs(30),
                    async || outbox.stats().in_flight == SALES as u64,
                )
                .await;
            }
            println!("outbox-child: ready");
            std::future::pending::<()>().await;
        }
        _ => {
            println!("outbox-child: ready");
            wait_until("the outbox to empty", Duration::from_secs(30), async || {
                outbox.waiting().await.unwrap() == 0
            })
            .await;
            assert_eq!(outbox.stats().delivered, SALES as u64);
        }
    }
}
