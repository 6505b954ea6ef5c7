//! Leads whose click id the API refuses for good (here: already converted), which any visitor
//! can send: settled, never kept as dead letters with their emails; leads without a click id,
//! delivered for their customer key, or dropped when the API knows no such customer (an organic
//! signup); and the dead letters that are kept, deleted after their retention; on a SQLite file
//! and on Postgres.

use std::time::Duration;

use affitor::{ClickId, Client, client::Endpoint};
use affitor_mock::MockServer;
use affitor_outbox::{Outbox, OutboxBuilder};

use crate::support::{client_with, quick_policy, stand_in, wait_until};

const A_WHILE: Duration = Duration::from_secs(30);

/// How many signups reuse the one refused click id.
const SIGNUPS: usize = 30;

/// The outbox of a test, fast to poll.
fn builder(client: &Client) -> OutboxBuilder {
    Outbox::builder(client.clone()).poll_interval(Duration::from_millis(50))
}

/// A click id the stand-in refuses for a lead: its customer already bought.
async fn converted_click_id(mock: &MockServer, client: &Client) -> ClickId {
    let click_id = mock.click("partner");
    client
        .sale("in_converted", 100)
        .click_id(click_id.clone())
        .send()
        .await
        .expect("the stand-in records the sale");
    click_id
}

fn email(n: usize) -> String {
    format!("signup.{n}.refused@example.com")
}

/// 30 signups reuse a converted click id, each with its customer key: every one reaches the
/// stand-in again without the click id; the customers the API knows (half of them signed up
/// before, through a click of their own) get their lead, the others are dropped; no row stays.
async fn with_customer_keys(mock: &MockServer, client: &Client, outbox: &Outbox) {
    let refused = converted_click_id(mock, client).await;
    for n in (0..SIGNUPS).step_by(2) {
        client
            .lead(format!("user_{n}"))
            .click_id(mock.click("partner"))
            .send()
            .await
            .expect("the stand-in records the lead");
    }
    let before = mock.leads().len();
    for n in 0..SIGNUPS {
        outbox
            .enqueue(
                client
                    .lead(format!("user_{n}"))
                    .email(email(n))
                    .click_id(refused.clone()),
            )
            .await;
    }
    wait_until("every refused lead to be settled", A_WHILE, async || {
        outbox.stats().click_id_refused == SIGNUPS as u64
            && outbox.waiting().await.expect("the store answers") == 0
    })
    .await;

    let without_click_id: Vec<String> = mock
        .requests_to(Endpoint::Lead)
        .iter()
        .filter(|request| request.body.get("click_id").is_none())
        .filter_map(|request| request.body["customer_key"].as_str().map(str::to_owned))
        .collect();
    let mut expected: Vec<String> = (0..SIGNUPS).map(|n| format!("user_{n}")).collect();
    let mut received = without_click_id.clone();
    received.sort();
    expected.sort();
    assert_eq!(
        received, expected,
        "each sent again once, without the click id"
    );
    let accepted = &mock.leads()[before..];
    assert_eq!(accepted.len(), SIGNUPS / 2, "the customers the API knows");
    assert!(accepted.iter().all(|lead| lead.click_id.is_none()));
    let stats = outbox.stats();
    assert_eq!(
        (stats.click_id_refused, stats.delivered, stats.dead),
        (SIGNUPS as u64, SIGNUPS as u64 / 2, 0),
        "{stats:?}"
    );
    assert!(
        outbox
            .dead_letters()
            .await
            .expect("the store answers")
            .is_empty()
    );
}

/// 30 signups reuse a converted click id with no customer key: dropped and counted, not sent
/// again (nothing would name the customer), and no row stays.
async fn without_customer_keys(mock: &MockServer, client: &Client, outbox: &Outbox) {
    let refused = converted_click_id(mock, client).await;
    for n in 0..SIGNUPS {
        outbox
            .enqueue(client.lead("").email(email(n)).click_id(refused.clone()))
            .await;
    }
    wait_until("every refused lead to be dropped", A_WHILE, async || {
        outbox.stats().click_id_refused == SIGNUPS as u64
            && outbox.waiting().await.expect("the store answers") == 0
    })
    .await;
    assert_eq!(
        mock.requests_to(Endpoint::Lead).len(),
        SIGNUPS,
        "none sent again"
    );
    let stats = outbox.stats();
    assert_eq!((stats.delivered, stats.dead), (0, 0), "{stats:?}");
    assert!(
        outbox
            .dead_letters()
            .await
            .expect("the store answers")
            .is_empty()
    );
}

/// The customers whose keys are `keys`, known to the stand-in from their browser leads: each
/// sent from a page, with the click id of a fresh click and no API key, so recorded as
/// provisional (the program requires server-side leads).
async fn browser_leads(mock: &MockServer, keys: &[&str]) {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

    for key in keys {
        let body = serde_json::json!({
            "click_id": mock.click("partner").as_str(),
            "customer_key": key,
        })
        .to_string();
        let mut stream = tokio::net::TcpStream::connect(mock.addr())
            .await
            .expect("the stand-in answers");
        let request = format!(
            "POST /api/v1/track/lead HTTP/1.1\r\nHost: {}\r\nContent-Type: application/json\r\n\
             Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
            mock.addr(),
            body.len()
        );
        stream.write_all(request.as_bytes()).await.expect("sent");
        let mut answer = String::new();
        stream.read_to_string(&mut answer).await.expect("an answer");
        assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    }
    let leads = mock.leads();
    assert!(leads.iter().all(|lead| lead.provisional), "{leads:?}");
}

/// A stand-in whose program requires server-side leads, a client of it, and the customers
/// `user_a`, `user_b` and `user_c` it knows from their browser leads.
async fn requiring_server_leads() -> (MockServer, Client) {
    let mock = MockServer::builder()
        .lead_auth_server_required(true)
        .start()
        .await
        .expect("the stand-in starts");
    let client = client_with(&mock, quick_policy());
    browser_leads(&mock, &KNOWN).await;
    (mock, client)
}

/// The customers the stand-in knows from their browser leads.
const KNOWN: [&str; 3] = ["user_a", "user_b", "user_c"];

/// Writes a lead for the customer key `key` alone, through `enqueue`.
async fn enqueued(outbox: &Outbox, client: &Client, key: &str) {
    outbox
        .enqueue(client.lead(key).email(format!("{key}@example.com")))
        .await;
}

/// Hands a lead for the customer key `key` alone to `send_in_background` of a client whose
/// backend is the outbox.
fn sent_in_background(outbox: &Outbox, client: &Client, key: &str) {
    client
        .clone()
        .with_backend(outbox.clone())
        .lead(key)
        .email(format!("{key}@example.com"))
        .send_in_background();
}

/// The leads of [`KNOWN`], written by `enqueue`, `send_in_background` and `enqueue_in` (by the
/// caller): each reaches the stand-in once, with the program key and no click id, and settles
/// the customer's browser lead; no row stays.
async fn known_customers_are_delivered(mock: &MockServer, outbox: &Outbox) {
    wait_until("the three leads delivered", A_WHILE, async || {
        outbox.stats().delivered == 3 && outbox.waiting().await.expect("the store answers") == 0
    })
    .await;
    let mut sent: Vec<String> = mock
        .requests_to(Endpoint::Lead)
        .iter()
        .filter(|request| request.bearer_token().is_some())
        .map(|request| {
            assert!(request.body.get("click_id").is_none(), "{:?}", request.body);
            request.body["customer_key"]
                .as_str()
                .unwrap_or_default()
                .to_owned()
        })
        .collect();
    sent.sort();
    assert_eq!(sent, KNOWN, "each sent once");
    let settled: Vec<_> = mock
        .leads()
        .into_iter()
        .filter(|lead| lead.authenticated)
        .collect();
    assert_eq!(settled.len(), 3, "{settled:?}");
    assert!(
        settled.iter().all(|lead| !lead.provisional
            && lead.click_id.is_none()
            && lead.partner_code.is_some()),
        "{settled:?}"
    );
    let stats = outbox.stats();
    assert_eq!(
        (
            stats.enqueued,
            stats.invalid,
            stats.customer_refused,
            stats.dead
        ),
        (3, 0, 0, 0),
        "{stats:?}"
    );
}

/// Organic signups: leads for customer keys the stand-in does not know, written by `enqueue`
/// and `send_in_background`, each sent once, refused (`Customer not found`), then deleted and
/// counted; none kept as a dead letter.
async fn unknown_customers_are_dropped(mock: &MockServer, client: &Client, outbox: &Outbox) {
    for n in 0..SIGNUPS {
        let key = format!("organic_{n}");
        if n % 2 == 0 {
            outbox.enqueue(client.lead(&key).email(email(n))).await;
        } else {
            client
                .clone()
                .with_backend(outbox.clone())
                .lead(&key)
                .email(email(n))
                .send_in_background();
        }
    }
    wait_until("every organic signup settled", A_WHILE, async || {
        outbox.stats().customer_refused == SIGNUPS as u64
            && outbox.waiting().await.expect("the store answers") == 0
    })
    .await;
    assert_eq!(
        mock.requests_to(Endpoint::Lead).len(),
        SIGNUPS,
        "each sent once"
    );
    assert!(mock.leads().is_empty());
    let stats = outbox.stats();
    assert_eq!(
        (
            stats.enqueued,
            stats.delivered,
            stats.dead,
            stats.click_id_refused
        ),
        (SIGNUPS as u64, 0, 0, 0),
        "{stats:?}"
    );
    assert!(
        outbox
            .dead_letters()
            .await
            .expect("the store answers")
            .is_empty()
    );
}

#[cfg(feature = "sqlite")]
mod sqlite {
    use super::*;
    use crate::support::{sqlite, sqlite_path};

    /// The rows left in the file, and those holding one of the signups' emails.
    async fn rows(path: &str) -> (i64, i64) {
        sqlite(path)
            .query_row(
                "SELECT count(*), count(*) FILTER (WHERE body LIKE '%refused@example.com%')
                 FROM affitor_outbox",
                [],
                |row| Ok((row.get(0)?, row.get(1)?)),
            )
            .expect("the table is read")
    }

    #[tokio::test]
    async fn leads_with_a_refused_click_id_go_again_for_their_customer_key() {
        let (mock, client) = stand_in().await;
        let path = sqlite_path("refused_keys");
        let outbox = builder(&client).open(&path).await.unwrap();
        with_customer_keys(&mock, &client, &outbox).await;
        assert_eq!(rows(&path).await, (0, 0));
        outbox.shutdown(Duration::from_secs(1)).await;
    }

    #[tokio::test]
    async fn leads_without_a_click_id_are_delivered_for_their_customer_key() {
        let (mock, client) = requiring_server_leads().await;
        let path = sqlite_path("customer_key_only");
        let outbox = builder(&client).open(&path).await.unwrap();
        enqueued(&outbox, &client, "user_a").await;
        sent_in_background(&outbox, &client, "user_b");
        let mut connection = sqlite(&path);
        let mut transaction = connection.transaction().unwrap();
        outbox
            .enqueue_in(
                &mut transaction,
                client.lead("user_c").email("user_c@example.com"),
            )
            .await
            .unwrap();
        transaction.commit().unwrap();
        known_customers_are_delivered(&mock, &outbox).await;
        assert_eq!(rows(&path).await.0, 0);
        outbox.shutdown(Duration::from_secs(1)).await;
    }

    #[tokio::test]
    async fn leads_without_a_click_id_of_unknown_customers_are_dropped() {
        let (mock, client) = stand_in().await;
        let path = sqlite_path("organic");
        let outbox = builder(&client).open(&path).await.unwrap();
        unknown_customers_are_dropped(&mock, &client, &outbox).await;
        assert_eq!(rows(&path).await, (0, 0));
        outbox.shutdown(Duration::from_secs(1)).await;
    }

    #[tokio::test]
    async fn leads_with_a_refused_click_id_and_no_customer_key_are_dropped() {
        let (mock, client) = stand_in().await;
        let path = sqlite_path("refused_dropped");
        let outbox = builder(&client).open(&path).await.unwrap();
        without_customer_keys(&mock, &client, &outbox).await;
        assert_eq!(rows(&path).await, (0, 0));
        // Nor in the WAL once the relay's quiet moment came.
        let readable = |file: &str| {
            std::fs::read(file).is_ok_and(|bytes| {
                bytes
                    .windows(b"refused@example.com".len())
                    .any(|window| window == b"refused@example.com")
            })
        };
        wait_until(
            "the emails to leave the file and its WAL",
            A_WHILE,
            async || !readable(&format!("{path}-wal")) && !readable(&path),
        )
        .await;
        outbox.shutdown(Duration::from_secs(1)).await;
    }
}

#[cfg(feature = "postgres")]
mod postgres {
    use sqlx::postgres::PgPool;

    use super::*;
    use crate::support::postgres::Schema;

    /// The rows left in the table, and those holding one of the signups' emails.
    async fn rows(pool: &PgPool) -> (i64, i64) {
        sqlx::query_as(
            "SELECT count(*), count(*) FILTER (WHERE body LIKE '%refused@example.com%')
             FROM affitor_outbox",
        )
        .fetch_one(pool)
        .await
        .expect("the table is read")
    }

    #[tokio::test]
    async fn leads_with_a_refused_click_id_go_again_for_their_customer_key() {
        let (mock, client) = stand_in().await;
        let schema = Schema::create("refused_keys").await;
        let pool = schema.pool().await;
        let outbox = builder(&client).postgres(pool.clone()).await.unwrap();
        with_customer_keys(&mock, &client, &outbox).await;
        assert_eq!(rows(&pool).await, (0, 0));
        outbox.shutdown(Duration::from_secs(1)).await;
    }

    #[tokio::test]
    async fn leads_without_a_click_id_are_delivered_for_their_customer_key() {
        let (mock, client) = requiring_server_leads().await;
        let schema = Schema::create("customer_key_only").await;
        let pool = schema.pool().await;
        let outbox = builder(&client).postgres(pool.clone()).await.unwrap();
        enqueued(&outbox, &client, "user_a").await;
        sent_in_background(&outbox, &client, "user_b");
        let mut transaction = pool.begin().await.unwrap();
        outbox
            .enqueue_in(
                &mut *transaction,
                client.lead("user_c").email("user_c@example.com"),
            )
            .await
            .unwrap();
        transaction.commit().await.unwrap();
        known_customers_are_delivered(&mock, &outbox).await;
        assert_eq!(rows(&pool).await.0, 0);
        outbox.shutdown(Duration::from_secs(1)).await;
    }

    #[tokio::test]
    async fn leads_without_a_click_id_of_unknown_customers_are_dropped() {
        let (mock, client) = stand_in().await;
        let schema = Schema::create("organic").await;
        let pool = schema.pool().await;
        let outbox = builder(&client).postgres(pool.clone()).await.unwrap();
        unknown_customers_are_dropped(&mock, &client, &outbox).await;
        assert_eq!(rows(&pool).await, (0, 0));
        outbox.shutdown(Duration::from_secs(1)).await;
    }

    #[tokio::test]
    async fn leads_with_a_refused_click_id_and_no_customer_key_are_dropped() {
        let (mock, client) = stand_in().await;
        let schema = Schema::create("refused_dropped").await;
        let pool = schema.pool().await;
        let outbox = builder(&client).postgres(pool.clone()).await.unwrap();
        without_customer_keys(&mock, &client, &outbox).await;
        assert_eq!(rows(&pool).await, (0, 0));
        outbox.shutdown(Duration::from_secs(1)).await;
    }
}

/// Dead letters older than the retention are deleted by the relay itself, counted, and those
/// left are counted too.
async fn purged_after_their_retention(mock: &MockServer, client: &Client, outbox: &Outbox) {
    mock.inject(affitor_mock::Fault::status(400).on(Endpoint::Sale).always());
    for n in 0..3 {
        outbox.enqueue(crate::support::sale(mock, client, n)).await;
    }
    wait_until("the dead letters to be purged", A_WHILE, async || {
        let stats = outbox.stats();
        stats.dead == 3 && stats.purged == 3 && stats.dead_letters == 0
    })
    .await;
    assert!(
        outbox
            .dead_letters()
            .await
            .expect("the store answers")
            .is_empty()
    );
}

#[cfg(feature = "sqlite")]
#[tokio::test]
async fn dead_letters_are_purged_after_their_retention_on_sqlite() {
    let (mock, client) = stand_in().await;
    let outbox = builder(&client)
        .dead_letter_retention(Duration::from_secs(1))
        .open(&crate::support::sqlite_path("retention"))
        .await
        .unwrap();
    purged_after_their_retention(&mock, &client, &outbox).await;
    outbox.shutdown(Duration::from_secs(1)).await;
}

#[cfg(feature = "postgres")]
#[tokio::test]
async fn dead_letters_are_purged_after_their_retention_on_postgres() {
    let (mock, client) = stand_in().await;
    let schema = crate::support::postgres::Schema::create("retention").await;
    let outbox = builder(&client)
        .dead_letter_retention(Duration::from_secs(1))
        .postgres(schema.pool().await)
        .await
        .unwrap();
    purged_after_their_retention(&mock, &client, &outbox).await;
    outbox.shutdown(Duration::from_secs(1)).await;
}
