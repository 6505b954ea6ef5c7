//! `affitor outbox` run as a person runs it, against an app's outbox (a SQLite file; a Postgres
//! schema when `AFFITOR_TEST_POSTGRES` is set) whose relay sends to the local stand-in of the
//! API: a dead letter listed with its reason, retried, and delivered by the app's relay; and
//! `affitor status`, which exits 1 while it waits and 0 once it is delivered.

#![allow(clippy::unwrap_used)] // Tests may unwrap.

mod support;

use std::time::Duration;

use affitor::client::Endpoint;
use affitor_mock::{Fault, MockServer, poll_until, quick_retries};
use affitor_outbox::Outbox;
use serde_json::Value;
use support::{PostgresSchema, TempDir, affitor, document, stdout};

const A_WHILE: Duration = Duration::from_secs(30);

/// The password of a `postgres://user:password@host` URL.
fn password(location: &str) -> Option<&str> {
    let (_, rest) = location.split_once("://")?;
    let (user_info, _) = rest.split_once('@')?;
    user_info.split_once(':').map(|(_, password)| password)
}

/// A sale the stand-in refuses for good becomes a dead letter in the app's outbox at
/// `location`: `affitor outbox dead-letters` shows it with its reason, `affitor outbox retry`
/// makes it due again, and the app's relay delivers it. `affitor status` exits 1 while the dead
/// letter waits, 0 after.
async fn a_dead_letter_is_listed_retried_and_delivered(location: &str) {
    let mock = MockServer::start().await.unwrap();
    let client = mock
        .client_builder()
        .retry(quick_retries())
        .build()
        .unwrap();
    let app = Outbox::builder(client.clone())
        .poll_interval(Duration::from_millis(50))
        .open(location)
        .await
        .unwrap();
    mock.inject(Fault::status(400).on(Endpoint::Sale).always());
    app.enqueue(client.sale("in_dead", 100).click_id(mock.click("partner")))
        .await;
    let dead = poll_until(A_WHILE, async || {
        let letters = app.dead_letters().await.unwrap();
        letters.first().map(|letter| letter.id)
    })
    .await
    .expect("the sale becomes a dead letter");
    let env = [
        ("AFFITOR_OUTBOX", location),
        ("AFFITOR_API_URL", mock.url()),
        ("AFFITOR_API_KEY", mock.api_key()),
    ];

    let status = affitor(&["status"], &env).await;
    assert_eq!(status.status.code(), Some(1), "{status:?}");
    assert!(stdout(&status).contains("dead letters"), "{status:?}");
    let status = document(&affitor(&["status", "--json"], &env).await);
    assert_eq!(status["ok"], false, "{status}");
    assert_eq!(status["outbox"]["dead"], 1, "{status}");
    if let Some(password) = password(location) {
        let shown = status.to_string();
        assert!(!shown.contains(&format!(":{password}@")), "{shown}");
    }

    let listed = affitor(&["outbox", "dead-letters"], &env).await;
    assert!(listed.status.success(), "{listed:?}");
    let text = stdout(&listed);
    assert!(text.contains("1 dead letter in"), "{text}");
    assert!(text.contains(&format!("#{dead} sale in_dead, ")), "{text}");
    let listed = document(&affitor(&["outbox", "dead-letters", "--json"], &env).await);
    let letter = &listed["dead_letters"][0];
    assert_eq!(
        (&letter["id"], &letter["endpoint"]),
        (&dead.into(), &"sale".into())
    );
    assert!(
        letter["reason"].as_str().unwrap().contains("400"),
        "{listed}"
    );

    let unknown = affitor(&["outbox", "retry", "--id", &(dead + 1).to_string()], &env).await;
    assert_eq!(unknown.status.code(), Some(1), "{unknown:?}");
    assert!(stdout(&unknown).contains("no dead letter #"), "{unknown:?}");

    mock.clear_faults();
    let retried = affitor(&["outbox", "retry", "--id", &dead.to_string()], &env).await;
    assert!(retried.status.success(), "{retried:?}");
    assert!(
        stdout(&retried).contains("the app's relay sends it"),
        "{retried:?}"
    );
    poll_until(A_WHILE, async || (mock.sales().len() == 1).then_some(()))
        .await
        .expect("the app's relay delivers the retried sale");
    let listed = document(&affitor(&["outbox", "dead-letters", "--json"], &env).await);
    assert_eq!(listed["dead_letters"], Value::Array(Vec::new()), "{listed}");
    let purged =
        document(&affitor(&["outbox", "purge", "--older-than", "7d", "--json"], &env).await);
    assert_eq!(purged["purged"], 0, "{purged}");
    app.shutdown(Duration::from_secs(1)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dead_letter_is_listed_retried_and_delivered_on_sqlite() {
    let dir = TempDir::new("outbox");
    a_dead_letter_is_listed_retried_and_delivered(&dir.sqlite_location("outbox.db")).await;
}

/// On Postgres (`AFFITOR_TEST_POSTGRES`; skipped without it), in a schema of its own.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dead_letter_is_listed_retried_and_delivered_on_postgres() {
    let Some(schema) = PostgresSchema::create("cli_outbox").await else {
        return;
    };
    a_dead_letter_is_listed_retried_and_delivered(&schema.location).await;
    schema.drop_all().await;
}

/// A row that has waited over an hour (here: no relay runs) makes `status` exit 1, the row's
/// age shown.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_fails_while_a_row_waits_over_an_hour() {
    let mock = MockServer::start().await.unwrap();
    let dir = TempDir::new("stuck");
    let path = dir.sqlite_location("outbox.db");
    let client = mock.client_builder().build().unwrap();
    let app = Outbox::builder(client.clone())
        .relay(false)
        .open(&path)
        .await
        .unwrap();
    app.enqueue(client.lead("user_stuck")).await;
    poll_until(A_WHILE, async || {
        (app.waiting().await.unwrap() == 1).then_some(())
    })
    .await
    .expect("the lead is written");
    app.shutdown(Duration::from_secs(1)).await;
    let env = [
        ("AFFITOR_OUTBOX", path.as_str()),
        ("AFFITOR_API_URL", mock.url()),
        ("AFFITOR_API_KEY", mock.api_key()),
    ];
    let fresh = document(&affitor(&["status", "--json"], &env).await);
    assert_eq!(fresh["outbox"]["ok"], true, "{fresh}");

    let connection = affitor_outbox::rusqlite::Connection::open(&path).unwrap();
    let two_hours_ms = 2 * 3600 * 1000;
    let sql = format!("UPDATE affitor_outbox SET created_at = created_at - {two_hours_ms}");
    connection.execute(&sql, []).unwrap();
    drop(connection);
    let run = affitor(&["status", "--json"], &env).await;
    assert_eq!(run.status.code(), Some(1), "{run:?}");
    let status = document(&run);
    assert_eq!(status["outbox"]["ok"], false, "{status}");
    assert_eq!(status["outbox"]["dead"], 0, "{status}");
    let age = status["outbox"]["oldest_waiting_seconds"].as_u64().unwrap();
    assert!(age >= 2 * 3600, "{status}");
}

/// Without an API key, readiness is unknown: `status` says so, with what to do, and exits 1.
#[tokio::test]
async fn status_without_an_api_key_fails_naming_it() {
    let run = affitor(&["status"], &[]).await;
    assert_eq!(run.status.code(), Some(1), "{run:?}");
    let text = stdout(&run);
    assert!(text.contains("no Affitor API key"), "{text}");
    assert!(text.contains("AFFITOR_OUTBOX is unset"), "{text}");
}

/// An age that is not one people type, or zero, is refused before anything is opened.
#[tokio::test]
async fn purge_refuses_an_age_it_cannot_read_or_zero() {
    for age in ["30", "0d", "1w"] {
        let run = affitor(&["outbox", "purge", "--older-than", age], &[]).await;
        assert_eq!(run.status.code(), Some(2), "{age}: {run:?}");
        let stderr = String::from_utf8_lossy(&run.stderr);
        assert!(stderr.contains("7d, 36h or 90m"), "{age}: {stderr}");
    }
}

/// A location with no outbox yet is shown as the outbox parsed it (here the `sqlite:` prefix
/// left out), never as the variable's text: a mistyped Postgres URL read as a new SQLite path
/// may hold a password, which only the outbox's parsing knows to leave out.
#[tokio::test]
async fn a_new_outbox_is_shown_as_the_outbox_parsed_it() {
    let dir = TempDir::new("new-outbox");
    let path = dir.sqlite_location("new.db");
    let variable = format!("sqlite:{path}");
    let env = [("AFFITOR_OUTBOX", variable.as_str())];
    for args in [
        &["status", "--json"][..],
        &["outbox", "dead-letters", "--json"],
        &["outbox", "purge", "--older-than", "7d", "--json"],
    ] {
        let run = affitor(args, &env).await;
        let result = document(&run);
        let location = if args[0] == "status" {
            &result["outbox"]["location"]
        } else {
            &result["location"]
        };
        assert_eq!(location, &Value::from(path.as_str()), "{args:?}: {result}");
        let human = affitor(&args[..args.len() - 1], &env).await;
        let text = stdout(&human);
        assert!(text.contains(&format!("no outbox at {path} yet")), "{text}");
        assert!(!text.contains(&variable), "{args:?}: {text}");
    }
    let retry = affitor(&["outbox", "retry", "--json"], &env).await;
    assert_eq!(retry.status.code(), Some(1), "{retry:?}");
    let message = document(&retry)["error"]["message"].clone();
    assert_eq!(
        message,
        format!("no outbox at {path} yet: there is no dead letter to retry"),
    );
    let explain = affitor(&["explain", "--customer", "u1", "--json"], &env).await;
    let message = document(&explain)["error"]["message"].clone();
    assert!(
        message
            .as_str()
            .unwrap()
            .starts_with(&format!("no outbox at {path} yet")),
        "{message}"
    );
    assert!(!dir.path().join("new.db").exists(), "nothing created");
}
