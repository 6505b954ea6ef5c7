//! The example apps with a durable outbox (`AFFITOR_OUTBOX`): a signup over real HTTP is written
//! to the outbox, and its relay delivers the lead to the stand-in API exactly once, leaving the
//! outbox empty. Each app runs on a real port, with an outbox in a SQLite file of its own and in
//! a Postgres schema of its own.
//!
//! The Postgres tests need a server: `AFFITOR_TEST_POSTGRES`, or the one `bash .ci/postgres`
//! starts (`postgres://affitor:affitor@127.0.0.1:5432/affitor_test`); `bash .ci/test` starts it
//! and runs every test. Without one they fail within seconds, saying what to run.

use std::io;
use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

use affitor::Client;
use affitor::client::Endpoint;
use affitor_mock::{MockServer, poll_until};
use affitor_outbox::Outbox;
use affitor_scenarios::{ExampleApp, Kind, apps, client_of, wait_until};
use reqwest::StatusCode;
use serde_json::json;
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use test_support::postgres::{CONNECT_TIMEOUT, DEFAULT_URL, START_ONE, reachable};

/// Where the outbox of a test lives.
#[derive(Clone, Copy, Debug)]
enum Store {
    /// A SQLite file in a temp directory of its own.
    Sqlite,
    /// A schema of its own on the test Postgres server.
    Postgres,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_signup_goes_through_a_sqlite_outbox_once() {
    for app in apps(Kind::Signup) {
        a_signup_goes_through_the_outbox_once(app, Store::Sqlite).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_signup_goes_through_a_postgres_outbox_once() {
    for app in apps(Kind::Signup) {
        a_signup_goes_through_the_outbox_once(app, Store::Postgres).await;
    }
}

/// Signs up through `app` with an outbox in `store`, and checks that the stand-in received the
/// lead, with its click id, exactly once, that it went through the outbox (written there, never
/// kept in memory only), and that the outbox is empty afterwards.
async fn a_signup_goes_through_the_outbox_once(app: ExampleApp, store: Store) {
    let name = format!("{}/{store:?}", app.name);
    let mock = MockServer::start().await.expect("the stand-in API starts");
    let affitor = client_of(&mock);
    let outbox = open_outbox(store, app.name, affitor.clone()).await;
    let running = app.start_with(mock, affitor, Some(outbox.clone()));
    let mock = &running.mock;

    let click_id = mock.click("partner");
    let answer = running
        .post_json(
            "/api/signup",
            &json!({ "email": "ada@example.com", "password": "correct horse" }),
            &[("x-affitor-click-id", click_id.as_str())],
        )
        .await;
    assert_eq!(answer.status, StatusCode::OK, "{name}: signup");
    let user_id = answer.json["userId"].as_str().expect("a userId").to_owned();

    let leads = wait_until(&name, "the lead", || {
        let leads = mock.requests_to(Endpoint::Lead);
        (!leads.is_empty()).then_some(leads)
    })
    .await;
    assert_eq!(leads[0].body["customer_key"], user_id, "{name}");
    assert_eq!(leads[0].body["click_id"], click_id.as_str(), "{name}");
    wait_for_empty_outbox(&name, &outbox).await;

    // Stopped, the relay can send nothing more: what the stand-in has is all it will get.
    let stats = outbox.shutdown(Duration::from_secs(5)).await;
    assert_eq!(
        mock.requests_to(Endpoint::Lead).len(),
        1,
        "{name}: the lead is sent exactly once; the outbox: {stats:?}"
    );
    assert_eq!(
        stats.enqueued, 1,
        "{name}: the lead is written to the outbox"
    );
    assert_eq!(stats.delivered, 1, "{name}: the relay delivers it");
    assert_eq!(stats.fell_back, 0, "{name}: never kept in memory only");
    assert_eq!(
        outbox.waiting().await.expect("the outbox can be read"),
        0,
        "{name}: the outbox is empty"
    );
}

/// Polls the outbox until no row waits, for at most 10 s.
async fn wait_for_empty_outbox(name: &str, outbox: &Outbox) {
    let empty = poll_until(Duration::from_secs(10), async || {
        let waiting = outbox.waiting().await.expect("the outbox can be read");
        (waiting == 0).then_some(())
    })
    .await;
    assert!(
        empty.is_some(),
        "{name}: the outbox still holds rows after 10 s"
    );
}

/// Opens a fresh outbox for `app` in `store`, delivering through `client`.
async fn open_outbox(store: Store, app: &str, client: Client) -> Outbox {
    match store {
        Store::Sqlite => {
            let path = sqlite_path(app);
            Outbox::open(&path, client)
                .await
                .unwrap_or_else(|error| panic!("{app}: the SQLite outbox at {path}: {error}"))
        }
        Store::Postgres => {
            let pool = postgres_schema(app).await;
            Outbox::builder(client)
                .postgres(pool)
                .await
                .unwrap_or_else(|error| panic!("{app}: the Postgres outbox: {error}"))
        }
    }
}

/// A path for a new SQLite file, in a fresh directory of the system's temp dir.
fn sqlite_path(app: &str) -> String {
    let dir: PathBuf = std::env::temp_dir().join(format!(
        "affitor-scenarios-outbox-{app}-{}",
        std::process::id()
    ));
    // A directory left by an earlier run of this process id goes: the outbox starts empty.
    match std::fs::remove_dir_all(&dir) {
        Ok(()) => {}
        Err(error) if error.kind() == io::ErrorKind::NotFound => {}
        Err(error) => panic!("cannot clear {}: {error}", dir.display()),
    }
    std::fs::create_dir_all(&dir)
        .unwrap_or_else(|error| panic!("cannot create {}: {error}", dir.display()));
    dir.join("outbox.db").to_string_lossy().into_owned()
}

/// A pool on a fresh schema of its own for `app` on the test Postgres server: the outbox's
/// table (always `affitor_outbox`) is then the test's alone.
async fn postgres_schema(app: &str) -> PgPool {
    let (url, server) = match std::env::var("AFFITOR_TEST_POSTGRES") {
        Ok(url) if !url.trim().is_empty() => (url, "the server of AFFITOR_TEST_POSTGRES"),
        _ => (DEFAULT_URL.to_owned(), DEFAULT_URL),
    };
    let reached = PgConnectOptions::from_str(&url).map(|options| {
        reachable(options.get_host(), options.get_port())
            .map_err(|why| format!("{server} cannot be reached: {why}"))
    });
    if let Ok(Err(why)) = reached {
        panic!("the Postgres outbox scenarios need a Postgres server: {why}. {START_ONE}.");
    }
    let admin = PgPoolOptions::new()
        .acquire_timeout(CONNECT_TIMEOUT)
        .connect(&url)
        .await
        .unwrap_or_else(|error| {
            panic!(
                "the Postgres outbox scenarios need a Postgres server: {server} cannot be \
                 reached ({error}). {START_ONE}."
            )
        });
    let schema = format!(
        "scenario_outbox_{}_{}",
        app.replace('-', "_"),
        std::process::id()
    );
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
        "DROP SCHEMA IF EXISTS {schema} CASCADE; CREATE SCHEMA {schema};"
    )))
    .execute(&admin)
    .await
    .unwrap_or_else(|error| panic!("cannot create the schema {schema}: {error}"));
    admin.close().await;
    let options = PgConnectOptions::from_str(&url)
        .unwrap_or_else(|error| panic!("AFFITOR_TEST_POSTGRES is not a postgres:// URL: {error}"))
        .options([("search_path", schema.as_str())]);
    PgPoolOptions::new()
        .max_connections(4)
        .connect_with(options)
        .await
        .unwrap_or_else(|error| panic!("cannot connect to the schema {schema}: {error}"))
}
