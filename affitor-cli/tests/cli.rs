//! The `affitor` binary, run as a person or a script runs it, against real servers on
//! 127.0.0.1: the local stand-in of the Affitor API, and the axum checkout example on an
//! ephemeral port.

#![allow(clippy::unwrap_used)] // Tests may unwrap.

mod support;

use std::process::Command;

use affitor::client::Endpoint;
use affitor_mock::{Fault, MockServer};
use example_support::PaymentProvider;
use serde_json::Value;
use support::{PostgresSchema, TempDir, affitor, api_env, checkout_app, document, pairs, stdout};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn test_chain_against_the_stand_in_ends_attributed_and_verified() {
    let mock = MockServer::start().await.unwrap();
    let env = api_env(&mock);
    let run = affitor(
        &["test", "chain", "--json", "--timeout", "30"],
        &pairs(&env),
    )
    .await;
    assert!(run.status.success(), "{run:?}");
    let result = document(&run);
    assert_eq!(result["command"], "test chain");
    assert_eq!(result["verified"], true, "{result}");
    assert_eq!(result["chain"]["attributed"], true, "{result}");
    for step in ["click", "lead", "sale"] {
        assert_eq!(result["chain"]["verdict"][step], "attributed", "{result}");
    }
    let last = result["readiness"].as_array().unwrap().last().unwrap();
    assert_eq!(last["integration_verified"], true, "{result}");

    // As a person reads it: each verdict on a line, no colour (NO_COLOR), no spinner (not a
    // terminal).
    let run = affitor(&["test", "chain"], &pairs(&env)).await;
    assert!(run.status.success(), "{run:?}");
    let text = stdout(&run);
    assert!(
        text.contains("click attributed · lead attributed · sale attributed"),
        "{text}"
    );
    assert!(text.contains("integration verified"), "{text}");
    assert!(!text.contains('\x1b'), "{text}");
    mock.shutdown().await;
}

/// A timeout beyond a day is refused on the command line, naming the largest: never a panic
/// computing its deadline.
#[tokio::test]
async fn test_chain_refuses_a_timeout_beyond_a_day() {
    let env = [
        ("AFFITOR_API_KEY", "aff_x"),
        ("AFFITOR_API_URL", "http://127.0.0.1:9"),
    ];
    for timeout in ["18446744073709551615", "18446744073709551615m"] {
        let run = affitor(&["test", "chain", "--timeout", timeout], &env).await;
        assert_eq!(run.status.code(), Some(2), "{timeout}: {run:?}");
        let stderr = String::from_utf8_lossy(&run.stderr);
        assert!(stderr.contains("the largest timeout is 86400s"), "{stderr}");
        assert!(!stderr.contains("panicked"), "{stderr}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn single_test_events_are_sent_in_test_mode() {
    let mock = MockServer::start().await.unwrap();
    let env = api_env(&mock);
    let lead = affitor(&["test", "lead", "--json"], &pairs(&env)).await;
    assert!(lead.status.success(), "{lead:?}");
    assert_eq!(document(&lead)["outcome"], "test");
    let sale = affitor(&["test", "sale", "--json"], &pairs(&env)).await;
    assert!(sale.status.success(), "{sale:?}");
    assert_eq!(document(&sale)["outcome"], "test");
    let refund = affitor(&["test", "refund", "--json"], &pairs(&env)).await;
    assert!(refund.status.success(), "{refund:?}");
    assert_eq!(document(&refund)["outcome"], "no_commission");
    let leads = mock.leads();
    assert!(leads.iter().all(|lead| lead.test), "{leads:?}");
    // A test event never touches the program's customers, sales or commissions.
    assert!(
        mock.sales().iter().all(|sale| sale.test),
        "{:?}",
        mock.sales()
    );
    mock.shutdown().await;
}

/// A 429 is told with the wait it asks for; the chains' hourly limit only of `test chain`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rate_limit_is_told_with_its_wait_and_the_chains_only_of_a_chain() {
    let mock = MockServer::start().await.unwrap();
    let env = api_env(&mock);
    let minute = std::time::Duration::from_secs(60);
    for endpoint in [Endpoint::Lead, Endpoint::Sale, Endpoint::TestEvent] {
        mock.inject(Fault::rate_limited(minute).on(endpoint).always());
    }
    for command in ["lead", "sale", "chain"] {
        let run = affitor(&["test", command, "--json"], &pairs(&env)).await;
        assert_eq!(run.status.code(), Some(1), "{command}: {run:?}");
        let failed = document(&run);
        assert_eq!(failed["error"]["kind"], "RateLimited", "{failed}");
        let fix = failed["error"]["fix"].as_str().unwrap();
        assert!(fix.contains("1 min"), "{command}: {fix}");
        assert_eq!(
            fix.contains("chains"),
            command == "chain",
            "{command}: {fix}"
        );
        let text = stdout(&affitor(&["test", command], &pairs(&env)).await);
        assert!(text.contains(fix), "{command}: {text}");
    }
    mock.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn trigger_records_a_sale_once_and_a_second_trigger_is_a_redelivery() {
    let mock = MockServer::start().await.unwrap();
    let addr = checkout_app(&mock).await;
    let click_id = mock.click("partner");
    for provider in PaymentProvider::ALL {
        let url = format!("http://{addr}/webhooks/{provider}");
        let customer_key = format!("user_cli_{provider}");
        let trigger = |event: &'static str, extra: &'static [&'static str]| {
            // Live events (the app on this machine): a sale recorded, a refund reversing it.
            let mut args = vec![
                "trigger",
                provider.webhook_provider().name(),
                event,
                "--live",
                "--to",
                &url,
                "--secret",
                provider.demo_secret(),
                "--click-id",
                click_id.as_str(),
                "--customer-key",
                &customer_key,
                "--json",
            ];
            args.extend(extra);
            let args: Vec<String> = args.into_iter().map(str::to_owned).collect();
            async move {
                let args: Vec<&str> = args.iter().map(String::as_str).collect();
                affitor(&args, &[]).await
            }
        };
        let first = trigger("sale", &[]).await;
        assert!(first.status.success(), "{provider}: {first:?}");
        let first = document(&first);
        assert_eq!(first["status"], 200, "{provider}: {first}");
        let transaction_id = first["transaction_id"].as_str().unwrap().to_owned();
        let sales_of = || {
            mock.sales()
                .into_iter()
                .filter(|sale| sale.transaction_id == transaction_id)
                .collect::<Vec<_>>()
        };
        let sales = sales_of();
        assert_eq!(sales.len(), 1, "{provider}: {sales:?}");
        assert_eq!(sales[0].amount_cents, 4900, "{provider}");
        assert_eq!(
            sales[0].partner_code.as_deref(),
            Some("partner"),
            "{provider}"
        );

        // The same event again: the same provider event, acknowledged, no second sale.
        let again = trigger("sale", &[]).await;
        assert!(again.status.success(), "{provider}: {again:?}");
        let again = document(&again);
        assert_eq!(again["status"], 200, "{provider}: {again}");
        assert_eq!(again["event_id"], first["event_id"], "{provider}");
        assert_eq!(
            again["transaction_id"], first["transaction_id"],
            "{provider}"
        );
        assert_eq!(
            sales_of().len(),
            1,
            "{provider}: a redelivery is not a second sale"
        );

        // `--new-id`: another payment, another sale.
        let other = document(&trigger("sale", &["--new-id"]).await);
        assert_ne!(
            other["transaction_id"], first["transaction_id"],
            "{provider}"
        );
        assert!(
            mock.sales()
                .iter()
                .any(|sale| sale.transaction_id == other["transaction_id"]),
            "{provider}: {other}"
        );

        // The refund of the same flags returns that sale.
        let refund = document(&trigger("refund", &[]).await);
        assert_eq!(refund["status"], 200, "{provider}: {refund}");
        assert_eq!(
            refund["transaction_id"], first["transaction_id"],
            "{provider}"
        );
        assert!(
            mock.refunds()
                .iter()
                .any(|refund| refund.transaction_id == transaction_id),
            "{provider}: {:?}",
            mock.refunds()
        );
    }
    mock.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn trigger_sends_renewals_and_disputes_and_says_which_provider_has_none() {
    let mock = MockServer::start().await.unwrap();
    let addr = checkout_app(&mock).await;
    let click_id = mock.click("partner");
    let url = format!("http://{addr}/webhooks/stripe");
    let secret = PaymentProvider::Stripe.demo_secret();
    let common = [
        "--live",
        "--to",
        &url,
        "--secret",
        secret,
        "--click-id",
        click_id.as_str(),
        "--json",
    ];
    let run = |event: &'static str| {
        let mut args = vec!["trigger", "stripe", event];
        args.extend(common);
        let args: Vec<String> = args.into_iter().map(str::to_owned).collect();
        async move {
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            affitor(&args, &[]).await
        }
    };
    let renewal = document(&run("renewal").await);
    assert_eq!(renewal["status"], 200, "{renewal}");
    let recorded = mock.sales();
    assert!(
        recorded
            .iter()
            .any(|sale| sale.transaction_id == renewal["transaction_id"]),
        "no renewal in {recorded:?}"
    );
    let sent = mock.requests_to(Endpoint::Sale);
    assert_eq!(sent[0].body["transaction_id"], renewal["transaction_id"]);
    assert_eq!(sent[0].body["is_recurring"], true, "{}", sent[0].body);

    let paid = document(&run("sale").await);
    let dispute = document(&run("dispute").await);
    assert_eq!(dispute["status"], 200, "{dispute}");
    assert_eq!(dispute["transaction_id"], paid["transaction_id"]);
    assert!(
        mock.refunds()
            .iter()
            .any(|refund| refund.transaction_id == paid["transaction_id"]),
        "{:?}",
        mock.refunds()
    );

    let polar = affitor(
        &[
            "trigger", "polar", "dispute", "--to", &url, "--secret", secret,
        ],
        &[],
    )
    .await;
    assert!(!polar.status.success());
    assert!(
        stdout(&polar).contains("polar sends no dispute event"),
        "{polar:?}"
    );
    mock.shutdown().await;
}

/// Without --live, a real payment's id is refused before anything is posted: the app would send
/// a test sale of that transaction id, and the real sale would then be answered 409.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn trigger_refuses_a_real_payments_id_without_live() {
    let mock = MockServer::start().await.unwrap();
    let addr = checkout_app(&mock).await;
    let url = format!("http://{addr}/webhooks/stripe");
    let secret = PaymentProvider::Stripe.demo_secret();
    let args = [
        "trigger",
        "stripe",
        "sale",
        "--to",
        &url,
        "--secret",
        secret,
        "--id",
        "pi_3QpLyxLkdIwHu7ix0mS3hXkT",
        "--json",
    ];
    let run = affitor(&args, &[]).await;
    assert_eq!(run.status.code(), Some(1), "{run:?}");
    let error = &document(&run)["error"];
    let message = error["message"].as_str().unwrap();
    assert!(message.contains("a Stripe payment intent"), "{error}");
    assert!(message.contains("409"), "{error}");
    assert!(error["fix"].as_str().unwrap().contains("--live"), "{error}");
    assert!(mock.requests().is_empty(), "{:?}", mock.requests());
    mock.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_secret_is_refused_by_the_app_and_the_trigger_fails() {
    let mock = MockServer::start().await.unwrap();
    let addr = checkout_app(&mock).await;
    let url = format!("http://{addr}/webhooks/stripe");
    let run = affitor(
        &[
            "trigger",
            "stripe",
            "sale",
            "--to",
            &url,
            "--secret",
            "whsec_not_the_apps",
        ],
        &[],
    )
    .await;
    assert!(!run.status.success(), "{run:?}");
    let text = stdout(&run);
    assert!(text.contains("POST answered 400"), "{text}");
    assert!(text.contains("STRIPE_WEBHOOK_SECRET"), "{text}");
    assert!(mock.requests().is_empty());
    mock.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn doctor_without_an_api_key_fails_naming_it() {
    let run = affitor(&["doctor"], &[]).await;
    assert!(!run.status.success(), "{run:?}");
    assert_eq!(run.status.code(), Some(1));
    let text = stdout(&run);
    assert!(text.contains("✗ API key"), "{text}");
    assert!(text.contains("AFFITOR_API_KEY is unset"), "{text}");

    let run = affitor(&["doctor", "--json"], &[]).await;
    let result = document(&run);
    assert_eq!(result["ok"], false);
    let key = &result["checks"][0];
    assert_eq!(key["name"], "API key");
    assert_eq!(key["status"], "fail");
    assert!(
        key["detail"].as_str().unwrap().contains("AFFITOR_API_KEY"),
        "{key}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn doctor_names_an_unreachable_outbox_with_its_password_hidden() {
    let mock = MockServer::start().await.unwrap();
    // The chain first: then every readiness gate of the stand-in passes, and the outbox alone
    // fails.
    let env = api_env(&mock);
    assert!(
        affitor(&["test", "chain"], &pairs(&env))
            .await
            .status
            .success()
    );
    let location = "postgres://affitor:S3cr3t@127.0.0.1:1/x";
    let mut env = pairs(&env);
    env.push(("AFFITOR_OUTBOX", location));
    let run = affitor(&["doctor", "--json"], &env).await;
    assert_eq!(run.status.code(), Some(1), "{run:?}");
    let result = document(&run);
    let failed: Vec<&Value> = result["checks"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|check| check["status"] == "fail")
        .collect();
    assert_eq!(failed.len(), 1, "{result}");
    assert_eq!(failed[0]["name"], "outbox");
    let detail = failed[0]["detail"].as_str().unwrap();
    assert!(
        detail.contains("postgres://affitor:***@127.0.0.1:1/x"),
        "{detail}"
    );
    // What the system answered, after what failed.
    assert!(detail.contains("(cause: "), "{detail}");
    let everything =
        String::from_utf8_lossy(&run.stdout).into_owned() + &String::from_utf8_lossy(&run.stderr);
    assert!(!everything.contains("S3cr3t"), "{everything}");

    // With nothing wrong, it passes.
    let run = affitor(&["doctor"], &pairs(&api_env(&mock))).await;
    assert!(run.status.success(), "{}", stdout(&run));
    mock.shutdown().await;
}

/// The `outbox` check of a `doctor --json` run with `AFFITOR_OUTBOX` set to `location`.
async fn outbox_check(location: &str) -> Value {
    let run = affitor(&["doctor", "--json"], &[("AFFITOR_OUTBOX", location)]).await;
    let result = document(&run);
    result["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|check| check["name"] == "outbox")
        .unwrap_or_else(|| panic!("no outbox check: {result}"))
        .clone()
}

/// Opens an outbox at `location` (no relay), which makes its schema current, and closes it.
async fn open_and_close_an_outbox(location: &str) {
    let client = affitor::Client::builder()
        .api_key("aff_doctor_test")
        .build()
        .unwrap();
    affitor_outbox::Outbox::builder(client)
        .relay(false)
        .open(location)
        .await
        .unwrap()
        .shutdown(std::time::Duration::from_secs(1))
        .await;
}

/// The names of the outbox's tables, indexes and columns in the SQLite file at `path`.
fn sqlite_objects(path: &str) -> Vec<String> {
    let connection = affitor_outbox::rusqlite::Connection::open(path).unwrap();
    let mut names: Vec<String> = connection
        .prepare(
            "SELECT name FROM sqlite_master WHERE name GLOB 'affitor_outbox*'
             UNION ALL SELECT 'column ' || name FROM pragma_table_info('affitor_outbox')",
        )
        .unwrap()
        .query_map([], |row| row.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    names.sort();
    names
}

/// `doctor` only looks: a SQLite file without the outbox's tables, or with an earlier
/// version's, is reported as such and left as it was; a current one passes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn doctor_reports_an_outbox_schema_it_does_not_change_on_sqlite() {
    let dir = TempDir::new("doctor");
    let file = |name: &str| dir.sqlite_location(name);

    // The app's own database, which the outbox has not been opened on yet.
    let app = file("app.db");
    affitor_outbox::rusqlite::Connection::open(&app)
        .unwrap()
        .execute("CREATE TABLE users (id TEXT PRIMARY KEY)", [])
        .unwrap();
    let check = outbox_check(&app).await;
    assert_eq!(check["status"], "fail", "{check}");
    let detail = check["detail"].as_str().unwrap();
    assert!(detail.contains("tables are missing"), "{detail}");
    assert!(detail.contains("migrate(true)"), "{detail}");
    assert!(
        check["fix"].as_str().unwrap().contains("changed nothing"),
        "{check}"
    );
    assert!(sqlite_objects(&app).is_empty(), "nothing created");

    // Another program's table of that name (or another version's): a start would not add the
    // columns it lacks.
    let earlier = file("earlier.db");
    affitor_outbox::rusqlite::Connection::open(&earlier)
        .unwrap()
        .execute(
            "CREATE TABLE affitor_outbox (id INTEGER PRIMARY KEY AUTOINCREMENT, endpoint TEXT \
             NOT NULL, body TEXT NOT NULL, transaction_id TEXT, customer_key TEXT, attempts \
             INTEGER NOT NULL DEFAULT 0, next_attempt_at INTEGER NOT NULL, lease_owner TEXT, \
             lease_until INTEGER, dead_at INTEGER, last_error TEXT, created_at INTEGER NOT NULL)",
            [],
        )
        .unwrap();
    let before = sqlite_objects(&earlier);
    let check = outbox_check(&earlier).await;
    assert_eq!(check["status"], "fail", "{check}");
    let detail = check["detail"].as_str().unwrap();
    assert!(detail.contains("not this outbox's"), "{detail}");
    assert!(detail.contains("other_transaction_id"), "{detail}");
    assert_eq!(sqlite_objects(&earlier), before, "nothing changed");

    // One the outbox made: current.
    let current = file("outbox.db");
    open_and_close_an_outbox(&current).await;
    // Nothing on disk changes: no `-wal` or `-shm` file appears beside it, and its bytes stay.
    let on_disk = || {
        let mut files: Vec<(String, Vec<u8>)> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|entry| {
                let path = entry.unwrap().path();
                let name = path.file_name().unwrap().to_string_lossy().into_owned();
                (name, std::fs::read(&path).unwrap())
            })
            .collect();
        files.sort();
        files
    };
    // The app's connections close on their threads after its shutdown returns, the last one
    // removing the `-wal` and `-shm` files.
    let beside = |suffix: &str| std::path::Path::new(&format!("{current}{suffix}")).exists();
    for _ in 0..100 {
        if !beside("-wal") && !beside("-shm") {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let before = on_disk();
    let folder_time = |dir: &std::path::Path| std::fs::metadata(dir).unwrap().modified().unwrap();
    let folder_time_before = folder_time(dir.path());
    let check = outbox_check(&current).await;
    assert_eq!(check["status"], "pass", "{check}");
    assert!(
        check["detail"].as_str().unwrap().contains("schema current"),
        "{check}"
    );
    let names = |files: &[(String, Vec<u8>)]| -> Vec<String> {
        files.iter().map(|(name, _)| name.clone()).collect()
    };
    let after = on_disk();
    assert_eq!(names(&after), names(&before), "files created");
    assert!(after == before, "a file changed");
    // Not even for a while: a file created and deleted changes its folder's time.
    assert_eq!(
        folder_time(dir.path()),
        folder_time_before,
        "files created, then deleted"
    );
}

/// A SQLite path holding `=` is a path to `doctor`, as to the outbox: a current file is only
/// read (no `-wal` or `-shm` beside it), and a missing one is said to be the app's to create,
/// and is not created.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn doctor_reads_a_sqlite_path_with_an_equals_sign_and_creates_nothing() {
    let dir = TempDir::new("doctor-eq");
    let current = dir.sqlite_location("a=b.db");
    open_and_close_an_outbox(&current).await;
    let names = || {
        let mut names: Vec<String> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    };
    // The app's connections close on their threads after its shutdown returns.
    for _ in 0..100 {
        if names() == ["a=b.db"] {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(names(), ["a=b.db"]);
    // A file created and deleted meanwhile changes its folder's time.
    let folder_time = || std::fs::metadata(dir.path()).unwrap().modified().unwrap();
    let before = folder_time();

    let check = outbox_check(&current).await;
    assert_eq!(check["status"], "pass", "{check}");
    assert_eq!(folder_time(), before, "files created, then deleted");
    assert!(
        check["detail"].as_str().unwrap().contains("schema current"),
        "{check}"
    );
    assert_eq!(names(), ["a=b.db"], "files created");

    let missing = dir.sqlite_location("new/c=d.db");
    let check = outbox_check(&missing).await;
    assert_eq!(check["status"], "pass", "{check}");
    let detail = check["detail"].as_str().unwrap();
    assert!(detail.contains("the app creates it"), "{detail}");
    assert_eq!(names(), ["a=b.db"], "files created");
}

/// On Postgres (`AFFITOR_TEST_POSTGRES`; skipped without it), a database without the outbox's
/// tables is reported as such, and none are created.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn doctor_reports_missing_outbox_tables_it_does_not_create_on_postgres() {
    let Some(schema) = PostgresSchema::create("cli_doctor").await else {
        return;
    };
    let check = outbox_check(&schema.location).await;
    assert_eq!(check["status"], "fail", "{check}");
    let detail = check["detail"].as_str().unwrap();
    assert!(detail.contains("tables are missing"), "{detail}");
    assert!(detail.contains("version 0"), "{detail}");
    let tables: i64 =
        affitor_outbox::sqlx::query_scalar("SELECT count(*) FROM pg_tables WHERE schemaname = $1")
            .bind(&schema.name)
            .fetch_one(&schema.pool)
            .await
            .unwrap();
    assert_eq!(tables, 0, "nothing created");
    schema.drop_all().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mock_serves_the_stand_in_at_the_port_it_prints() {
    use std::io::{BufRead, BufReader};

    let mut child = Command::new(env!("CARGO_BIN_EXE_affitor"))
        .args(["mock", "--port", "0", "--json"])
        .env_clear()
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let first = tokio::task::spawn_blocking(move || {
        let mut line = String::new();
        BufReader::new(stdout).read_line(&mut line).map(|_| line)
    })
    .await
    .unwrap()
    .unwrap();
    let started: Value = serde_json::from_str(&first).unwrap();
    let url = started["url"].as_str().unwrap().to_owned();
    assert!(url.starts_with("http://127.0.0.1:"), "{started}");
    // The demo click id the examples' stand-in knows, which README's `curl` signs up with.
    assert_eq!(
        started["demo_click_id"],
        affitor_mock::DEMO_CLICK_ID,
        "{started}"
    );
    let env = [
        ("AFFITOR_API_URL", url.as_str()),
        ("AFFITOR_API_KEY", started["api_key"].as_str().unwrap()),
    ];
    let chain = affitor(&["test", "chain", "--json"], &env).await;
    child.kill().unwrap();
    let _ = child.wait();
    assert!(chain.status.success(), "{chain:?}");
    assert_eq!(document(&chain)["verified"], true);
}

/// A reader that went away before the command printed (`affitor mock --json | true`) ends it
/// with status 1 and no panic, where `println!` panics (status 101): the mock does not go on
/// serving with nobody to print to.
#[test]
fn a_closed_stdout_ends_the_command_quietly() {
    let (reader, writer) = std::io::pipe().unwrap();
    drop(reader);
    let mut child = Command::new(env!("CARGO_BIN_EXE_affitor"))
        .args(["mock", "--port", "0", "--json"])
        .env_clear()
        .stdout(writer)
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if std::time::Instant::now() > deadline {
            child.kill().unwrap();
            panic!("affitor mock went on with its stdout closed");
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    };
    let mut stderr = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut stderr).unwrap();
    assert_eq!(status.code(), Some(1), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
}
