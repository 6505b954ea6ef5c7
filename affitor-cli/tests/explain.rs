//! `affitor explain` run as a person runs it, against an app's outbox with its attribution
//! journal on (a SQLite file; a Postgres schema when `AFFITOR_TEST_POSTGRES` is set), whose
//! relay sends to the local stand-in of the API: a sale credited with its ids and its partial
//! refund under it, a sale refunded in full as reversed, a sale whose click was older than the
//! window with both ages, a dead letter with its reason, and a partner link captured by the
//! signup example before its lead.

#![allow(clippy::unwrap_used)] // Tests may unwrap.

mod support;

use std::time::Duration;

use affitor::client::Endpoint;
use affitor_mock::{Fault, MockServer, poll_until, quick_retries};
use affitor_outbox::{Outbox, journal};
use support::{PostgresSchema, TempDir, affitor, document, stdout};

const A_WHILE: Duration = Duration::from_secs(30);

async fn each_sale_is_explained(location: &str) {
    let mock = MockServer::start().await.unwrap();
    let client = mock
        .client_builder()
        .retry(quick_retries())
        .build()
        .unwrap();
    let app = Outbox::builder(client.clone())
        .poll_interval(Duration::from_millis(50))
        .max_attempts(1)
        .journal(journal::DEFAULT_RETENTION)
        .open(location)
        .await
        .unwrap();
    let click = mock.click("partner");
    app.enqueue(client.lead("cust_1").click_id(click.clone()))
        .await;
    app.enqueue(
        client
            .sale("in_1", 4900)
            .customer_key("cust_1")
            .click_id(click),
    )
    .await;
    app.enqueue(client.refund("in_1").amount_cents(1000)).await;
    let stale = mock.click_at("partner", 61);
    app.enqueue(
        client
            .sale("in_2", 100)
            .customer_key("cust_2")
            .click_id(stale),
    )
    .await;
    poll_until(A_WHILE, async || {
        (app.waiting().await.unwrap() == 0).then_some(())
    })
    .await
    .expect("every event is delivered");
    let env = [("AFFITOR_OUTBOX", location)];

    let credited = affitor(&["explain", "--transaction", "in_1"], &env).await;
    assert!(credited.status.success(), "{credited:?}");
    let text = stdout(&credited);
    assert!(text.contains("credited: sale "), "{text}");
    assert!(
        text.contains("refund in_1: answered"),
        "the refund under its sale: {text}"
    );
    assert!(
        text.contains("lead customer cust_1"),
        "the lead and its click: {text}"
    );

    let unknown = affitor(&["explain", "--transaction", "in_unknown"], &env).await;
    assert_eq!(unknown.status.code(), Some(1), "{unknown:?}");
    assert!(
        stdout(&unknown).contains("nothing in the journal, which holds entries from @"),
        "an empty timeline says from when the journal holds entries: {unknown:?}"
    );
    let unknown = affitor(&["explain", "--transaction", "in_unknown", "--json"], &env).await;
    let unknown = document(&unknown);
    assert_eq!(unknown["verdict"]["state"], "unknown", "{unknown}");
    assert!(
        unknown["journal_since"].is_u64(),
        "a time, as every time in the document: {unknown}"
    );

    let expired = affitor(&["explain", "--customer", "cust_2", "--json"], &env).await;
    assert_eq!(expired.status.code(), Some(1), "{expired:?}");
    let verdict = &document(&expired)["verdict"];
    assert_eq!(verdict["credited"], false, "{verdict}");
    assert_eq!(
        (&verdict["click_age_days"], &verdict["window_days"]),
        (&61.into(), &60.into())
    );
    let text = stdout(&affitor(&["explain", "--customer", "cust_2"], &env).await);
    assert!(
        text.contains("61 days old against a window of 60 days"),
        "{text}"
    );

    mock.inject(Fault::status(400).on(Endpoint::Sale).always());
    app.enqueue(client.sale("in_dead", 100).click_id(mock.click("partner")))
        .await;
    poll_until(A_WHILE, async || {
        (app.backlog().await.unwrap().dead == 1).then_some(())
    })
    .await
    .expect("the sale becomes a dead letter");
    let dead = affitor(&["explain", "--transaction", "in_dead"], &env).await;
    assert_eq!(dead.status.code(), Some(1), "{dead:?}");
    assert!(
        stdout(&dead).contains("not credited: a dead letter: "),
        "{dead:?}"
    );
    app.shutdown(Duration::from_secs(1)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_sale_is_explained_on_sqlite() {
    let dir = TempDir::new("explain");
    each_sale_is_explained(&dir.sqlite_location("outbox.db")).await;
}

/// On Postgres (`AFFITOR_TEST_POSTGRES`; skipped without it), in a schema of its own.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_sale_is_explained_on_postgres() {
    let Some(schema) = PostgresSchema::create("cli_explain").await else {
        return;
    };
    each_sale_is_explained(&schema.location).await;
    schema.drop_all().await;
}

/// A subject is required, and one only.
#[tokio::test]
async fn explain_needs_one_subject() {
    let run = affitor(&["explain"], &[]).await;
    assert_eq!(run.status.code(), Some(2), "{run:?}");
    let run = affitor(&["explain", "--customer", "a", "--click", "b"], &[]).await;
    assert_eq!(run.status.code(), Some(2), "{run:?}");
}

/// The checkout example on an outbox with its journal on: a Stripe sale through a partner's
/// click, then refunded in full, is explained as reversed with its ids, its refund under it
/// (exit 1: the partner earns nothing of it); a sale whose click is
/// older than the program's window, as not credited with both ages; a sale triggered in test
/// mode (no `--live`), as not credited for it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_checkout_examples_sales_are_explained() {
    use example_support::{AppConfig, PaymentWebhooks};

    let mock = MockServer::start().await.unwrap();
    let dir = TempDir::new("checkout");
    let path = dir.sqlite_location("outbox.db");
    let outbox = Outbox::builder(mock.client())
        .poll_interval(Duration::from_millis(50))
        .journal(journal::DEFAULT_RETENTION)
        .open(&path)
        .await
        .unwrap();
    let config = AppConfig::new(
        mock.client(),
        mock.program_id().to_string(),
        Some(outbox.clone()),
    );
    let app = axum_checkout::app(config, PaymentWebhooks::demo());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/webhooks/stripe", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    let trigger = async |event: &str, live: bool, click_id: &str, customer_key: &str| {
        let secret = "whsec_affitor_rs_demo_only";
        let mut args = vec![
            "trigger",
            "stripe",
            event,
            "--to",
            &url,
            "--secret",
            secret,
            "--click-id",
            click_id,
            "--customer-key",
            customer_key,
        ];
        if live {
            args.push("--live");
        }
        let run = affitor(&args, &[]).await;
        assert!(run.status.success(), "{run:?}");
    };
    let fresh = mock.click("partner");
    trigger("sale", true, fresh.as_str(), "user_fresh").await;
    trigger("refund", true, fresh.as_str(), "user_fresh").await;
    trigger(
        "sale",
        true,
        mock.click_at("partner", 61).as_str(),
        "user_stale",
    )
    .await;
    // Without `--live`, as `affitor trigger` goes by default: a test-mode sale.
    trigger("sale", false, mock.click("partner").as_str(), "user_test").await;
    poll_until(A_WHILE, async || {
        (outbox.waiting().await.unwrap() == 0).then_some(())
    })
    .await
    .expect("the sales and the refund are delivered");
    let env = [("AFFITOR_OUTBOX", path.as_str())];

    let reversed = affitor(&["explain", "--customer", "user_fresh"], &env).await;
    assert_eq!(reversed.status.code(), Some(1), "{reversed:?}");
    let text = stdout(&reversed);
    assert!(text.contains("reversed: sale "), "{text}");
    assert!(text.contains("then refunded in full"), "{text}");
    assert!(text.contains(": answered: reversed"), "{text}");
    // The refund names the payment, and the invoice the sale was tracked under as its other id:
    // it shows under the sale by the sale's own id too.
    let json = affitor(&["explain", "--customer", "user_fresh", "--json"], &env).await;
    let json: serde_json::Value = serde_json::from_slice(&json.stdout).unwrap();
    let sale = json["timeline"]
        .as_array()
        .and_then(|entries| entries.iter().find(|entry| entry["endpoint"] == "sale"))
        .and_then(|sale| sale["transaction_id"].as_str())
        .expect("the sale's entry names its transaction")
        .to_owned();
    let verdict = &json["verdict"];
    assert_eq!(
        (&verdict["state"], &verdict["credited"]),
        (&"reversed".into(), &false.into()),
        "{verdict}"
    );
    assert!(verdict["commission_id"].is_u64(), "{verdict}");
    let by_sale = affitor(&["explain", "--transaction", &sale], &env).await;
    assert_eq!(by_sale.status.code(), Some(1), "{by_sale:?}");
    let text = stdout(&by_sale);
    assert!(text.contains(": answered: reversed"), "{text}");
    assert!(text.contains("reversed: sale "), "{text}");
    let test = affitor(&["explain", "--customer", "user_test"], &env).await;
    assert_eq!(test.status.code(), Some(1), "{test:?}");
    let text = stdout(&test);
    assert!(
        text.contains("not credited: sent in test mode, which credits no partner"),
        "{text}"
    );
    let stale = affitor(&["explain", "--customer", "user_stale"], &env).await;
    assert_eq!(stale.status.code(), Some(1), "{stale:?}");
    let text = stdout(&stale);
    assert!(
        text.contains("61 days old against a window of 60 days"),
        "{text}"
    );
    outbox.shutdown(Duration::from_secs(1)).await;
}

/// The signup example on an outbox with its journal on, over HTTP: a visit to a partner link is
/// captured (the layer's click, sent inline), the signup's lead carries its click id, and
/// `explain --click` tells the click first, then the lead, and no sale yet.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_captured_click_is_explained_before_its_lead() {
    let mock = MockServer::start().await.unwrap();
    let dir = std::env::temp_dir().join(format!("affitor-cli-signup-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("outbox.db").to_string_lossy().into_owned();
    let outbox = Outbox::builder(mock.client())
        .poll_interval(Duration::from_millis(50))
        .journal(journal::DEFAULT_RETENTION)
        .open(&path)
        .await
        .unwrap();
    let config = example_support::AppConfig::new(
        mock.client(),
        mock.program_id().to_string(),
        Some(outbox.clone()),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let app = axum_signup::app(config);
    tokio::spawn(example_support::serve_axum(
        listener,
        app,
        std::future::pending(),
    ));

    let visit = http(
        address,
        "GET /?aff=partner HTTP/1.1\r\nSec-Fetch-Mode: navigate\r\n",
    )
    .await;
    let click_id = visit
        .lines()
        .find_map(|line| line.strip_prefix("set-cookie: affitor_click_id="))
        .and_then(|cookie| cookie.split(';').next())
        .unwrap_or_else(|| panic!("the click id's cookie: {visit}"))
        .to_owned();
    let body = r#"{"email":"ada@example.com","password":"correct horse"}"#;
    let signup = format!(
        "POST /api/signup HTTP/1.1\r\nCookie: affitor_click_id={click_id}\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    let signed_up = http(address, &signup).await;
    assert!(signed_up.starts_with("HTTP/1.1 200"), "{signed_up}");
    // Settled too: its row deleted with its storing journaled, after the stand-in counted it.
    poll_until(A_WHILE, async || {
        let waiting = outbox.waiting().await.expect("the store answers");
        (mock.leads().len() == 1 && waiting == 0).then_some(())
    })
    .await
    .expect("the lead is delivered and settled");
    let env = [("AFFITOR_OUTBOX", path.as_str())];
    let run = affitor(&["explain", "--click", &click_id], &env).await;
    assert_eq!(run.status.code(), Some(1), "no sale yet: {run:?}");
    let text = stdout(&run);
    // The example's consent predicate said yes.
    let click = text.find(&format!(
        "click click {click_id}: captured, partner partner, consent given"
    ));
    let lead = text.find(&format!("click {click_id}: stored"));
    assert!(
        click.is_some() && click < lead,
        "the click, then its lead: {text}"
    );
    assert!(text.contains("by partner partner)"), "{text}");
    // The lead's click id came from the cookie the capture set.
    let from_cookie = "stored, its click id from a cookie";
    assert!(text.contains(from_cookie), "{text}");
    let json = affitor(&["explain", "--click", &click_id, "--json"], &env).await;
    let timeline = &document(&json)["timeline"];
    assert_eq!(timeline[0]["consent"], "given", "{timeline}");
    assert_eq!(timeline[1]["click_id_source"], "a cookie", "{timeline}");
    outbox.shutdown(Duration::from_secs(1)).await;
    std::fs::remove_dir_all(&dir).unwrap();
}

/// Sends `head` (a request line and headers, the `Host`, `User-Agent` and `Connection` headers
/// added; a body after a blank line) to `address`, and returns the answer, its header names in
/// lowercase.
async fn http(address: std::net::SocketAddr, head: &str) -> String {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

    let (head, body) = head.split_once("\r\n\r\n").unwrap_or((head.trim_end(), ""));
    let request = format!(
        "{head}\r\nHost: shop.example\r\nUser-Agent: Mozilla/5.0 (X11; Linux x86_64; rv:140.0) \
         Firefox/140.0\r\nConnection: close\r\n\r\n{body}"
    );
    let mut stream = tokio::net::TcpStream::connect(address).await.unwrap();
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).await.unwrap();
    answer
        .lines()
        .map(|line| match line.split_once(':') {
            Some((name, value)) if !name.contains(' ') => {
                format!("{}:{value}", name.to_ascii_lowercase())
            }
            _ => line.to_owned(),
        })
        .collect::<Vec<_>>()
        .join("\n")
}
