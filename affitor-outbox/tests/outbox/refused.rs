//! Leads whose click id the API refuses for good (here: already converted), which any visitor
//! can send: settled, never kept as dead letters with their emails; leads without a click id,
//! delivered for their customer key, or dropped when the API knows no such customer (an organic
//! signup); and the dead letters that are kept: listed, retried, purged, and deleted after
//! their retention; on a SQLite file and on Postgres.

use std::time::Duration;

use affitor::{ClickId, Client, client::Endpoint};
use affitor_mock::{Fault, MockServer};
use affitor_outbox::{Outbox, OutboxBuilder};

use crate::support::{Store, client_with, on_each_store, quick_policy, sale, stand_in, wait_until};

const A_WHILE: Duration = Duration::from_secs(30);

/// How many signups reuse the one refused click id.
const SIGNUPS: usize = 30;

/// The outbox of a test, fast to poll.
fn builder(client: &Client) -> OutboxBuilder {
    Outbox::builder(client.clone()).poll_interval(Duration::from_millis(50))
}

/// A click id the stand-in refuses for a lead: its customer already bought.
pub(crate) async fn converted_click_id(mock: &MockServer, client: &Client) -> ClickId {
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

/// The rows left in the table, and those holding one of the signups' emails.
async fn rows(store: &Store) -> (i64, i64) {
    let counts = store
        .integers(
            "SELECT count(*), count(*) FILTER (WHERE body LIKE '%refused@example.com%')
             FROM affitor_outbox",
        )
        .await;
    (counts[0].unwrap_or(0), counts[1].unwrap_or(0))
}

/// No dead letter is kept and no row is left (none with a signup's email); then the outbox
/// stops.
async fn nothing_kept(store: &Store, outbox: Outbox) {
    let letters = outbox.dead_letters().await.expect("the store answers");
    assert!(letters.is_empty(), "{letters:?}");
    assert_eq!(rows(store).await, (0, 0));
    outbox.shutdown(Duration::from_secs(1)).await;
}

/// 30 signups reuse a converted click id, each with its customer key: every one reaches the
/// stand-in again without the click id; the customers the API knows (half of them signed up
/// before, through a click of their own) get their lead, the others are dropped; no row stays.
async fn leads_with_a_refused_click_id_go_again_for_their_customer_key(store: Store) {
    let (mock, client) = stand_in().await;
    let outbox = store.open(builder(&client)).await;
    let refused = converted_click_id(&mock, &client).await;
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
    nothing_kept(&store, outbox).await;
}
on_each_store!(leads_with_a_refused_click_id_go_again_for_their_customer_key);

/// The leads of [`KNOWN`], written by `enqueue`, `send_in_background` and `enqueue_in` (by the
/// caller): each reaches the stand-in once, with the program key and no click id, and settles
/// the customer's browser lead; no row stays.
async fn leads_without_a_click_id_are_delivered_for_their_customer_key(store: Store) {
    let (mock, client) = requiring_server_leads().await;
    let outbox = store.open(builder(&client)).await;
    let lead = |key: &str| client.lead(key).email(format!("{key}@example.com"));
    outbox.enqueue(lead("user_a")).await;
    let backend = client.clone().with_backend(outbox.clone());
    backend
        .lead("user_b")
        .email("user_b@example.com")
        .send_in_background();
    store
        .enqueue_in_transaction(&outbox, "", lead("user_c"), true)
        .await;
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
    assert_eq!(rows(&store).await.0, 0);
    outbox.shutdown(Duration::from_secs(1)).await;
}
on_each_store!(leads_without_a_click_id_are_delivered_for_their_customer_key);

/// Organic signups: leads for customer keys the stand-in does not know, written by `enqueue`
/// and `send_in_background`, each sent once, refused (`Customer not found`), then deleted and
/// counted; none kept as a dead letter.
async fn leads_without_a_click_id_of_unknown_customers_are_dropped(store: Store) {
    let (mock, client) = stand_in().await;
    let outbox = store.open(builder(&client)).await;
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
    nothing_kept(&store, outbox).await;
}
on_each_store!(leads_without_a_click_id_of_unknown_customers_are_dropped);

/// An organic sale: a sale for a customer key no partner brought (the stand-in knows no such
/// customer), refused `Customer not found`. Sent once, counted and journaled as not
/// attributed, never kept as a dead letter (which `affitor status` would call for a person).
async fn a_sale_no_partner_brought_is_settled_not_buried(store: Store) {
    let (mock, client) = stand_in().await;
    let outbox = store
        .open(builder(&client).journal(affitor_outbox::journal::DEFAULT_RETENTION))
        .await;
    outbox
        .enqueue(client.sale("in_organic", 4900).customer_key("organic_1"))
        .await;
    wait_until("the organic sale settled", A_WHILE, async || {
        outbox.stats().customer_refused == 1
            && outbox.waiting().await.expect("the store answers") == 0
    })
    .await;
    assert_eq!(mock.requests_to(Endpoint::Sale).len(), 1, "sent once");
    let stats = outbox.stats();
    assert_eq!((stats.dead, stats.rescheduled), (0, 0), "{stats:?}");
    assert_eq!(outbox.backlog().await.expect("the store answers").dead, 0);
    let explained = outbox
        .explain(affitor_outbox::journal::Subject::Transaction(
            "in_organic".into(),
        ))
        .await
        .expect("the journal is read");
    assert!(
        matches!(
            explained.verdict,
            affitor_outbox::journal::Verdict::NotCredited(
                affitor_outbox::journal::NotCredited::NotAttributed { .. }
            )
        ),
        "{explained:?}"
    );
    outbox.shutdown(Duration::from_secs(1)).await;
}
on_each_store!(a_sale_no_partner_brought_is_settled_not_buried);

/// A sale named by its customer alone, whose lead was given up on: the API knows no such
/// customer because of that, not because no partner brought them. The sale is kept as a dead
/// letter beside its lead, and once both are retried the lead lands first and the sale is
/// credited.
async fn a_sale_behind_a_dead_lead_is_kept_with_it(store: Store) {
    let (mock, client) = stand_in().await;
    let outbox = store.open(builder(&client).max_attempts(1)).await;
    mock.inject(Fault::status(400).on(Endpoint::Lead).always());
    outbox
        .enqueue(client.lead("cust_9").click_id(mock.click("partner")))
        .await;
    wait_until("the lead given up on", A_WHILE, async || {
        outbox.backlog().await.expect("the store answers").dead == 1
    })
    .await;
    outbox
        .enqueue(client.sale("in_9", 4900).customer_key("cust_9"))
        .await;
    wait_until("the sale kept beside it", A_WHILE, async || {
        outbox.backlog().await.expect("the store answers").dead == 2
    })
    .await;
    assert_eq!(outbox.stats().customer_refused, 0, "{:?}", outbox.stats());

    mock.clear_faults();
    assert_eq!(outbox.retry_dead_letters().await.expect("retried"), 2);
    wait_until("both delivered", A_WHILE, async || {
        mock.sales().len() == 1 && outbox.waiting().await.expect("the store answers") == 0
    })
    .await;
    assert_eq!(mock.leads().len(), 1);
    outbox.shutdown(Duration::from_secs(1)).await;
}
on_each_store!(a_sale_behind_a_dead_lead_is_kept_with_it);

/// 30 signups reuse a converted click id with no customer key: dropped and counted, not sent
/// again (nothing would name the customer), and no row stays. On SQLite, the emails leave the
/// WAL too, once the relay's quiet moment came.
async fn leads_with_a_refused_click_id_and_no_customer_key_are_dropped(store: Store) {
    let (mock, client) = stand_in().await;
    let outbox = store.open(builder(&client)).await;
    let refused = converted_click_id(&mock, &client).await;
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
    if let Some(path) = store.file() {
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
            async || !readable(&format!("{path}-wal")) && !readable(path),
        )
        .await;
    }
    nothing_kept(&store, outbox).await;
}
on_each_store!(leads_with_a_refused_click_id_and_no_customer_key_are_dropped);

/// Dead letters older than the retention are deleted by the relay itself, counted, and those
/// left are counted too.
async fn dead_letters_are_purged_after_their_retention(store: Store) {
    let (mock, client) = stand_in().await;
    let builder = builder(&client).dead_letter_retention(Duration::from_secs(1));
    let outbox = store.open(builder).await;
    mock.inject(Fault::status(400).on(Endpoint::Sale).always());
    for n in 0..3 {
        outbox.enqueue(sale(&mock, &client, n)).await;
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
    outbox.shutdown(Duration::from_secs(1)).await;
}
on_each_store!(dead_letters_are_purged_after_their_retention);

/// Dead letters are listed, retried once mended (each delivered once), and purged by age.
async fn dead_letters_are_listed_retried_and_purged(store: Store) {
    let (mock, client) = stand_in().await;
    let outbox = store.open(builder(&client)).await;
    let letters = async || {
        outbox
            .dead_letters()
            .await
            .expect("the store answers")
            .len()
    };
    // Refused for good while the fault lasts: buried.
    mock.inject(Fault::status(400).on(Endpoint::Sale).always());
    for n in 0..3 {
        outbox.enqueue(sale(&mock, &client, n)).await;
    }
    wait_until("three dead letters", A_WHILE, async || letters().await == 3).await;

    // Mended: retried, each delivered once.
    mock.clear_faults();
    let retried = outbox.retry_dead_letters().await;
    assert_eq!(retried.expect("the store answers"), 3);
    wait_until("the retried rows to be delivered", A_WHILE, async || {
        outbox.waiting().await.expect("the store answers") == 0 && mock.sales().len() == 3
    })
    .await;
    assert_eq!(letters().await, 0);

    // Purged by age: none is old enough, then all are.
    mock.inject(Fault::status(400).on(Endpoint::Sale).always());
    outbox.enqueue(sale(&mock, &client, 9)).await;
    wait_until("a dead letter", A_WHILE, async || letters().await == 1).await;
    let purged = async |older_than| {
        let purged = outbox.purge_dead_letters(older_than).await;
        purged.expect("the store answers")
    };
    assert_eq!(purged(Duration::from_secs(3600)).await, 0);
    // An age past any timestamp (`affitor outbox purge --older-than 3000000d`) is old enough
    // for none, not a store's error.
    assert_eq!(purged(Duration::from_secs(3_000_000 * 24 * 3600)).await, 0);
    assert_eq!(purged(Duration::MAX).await, 0);
    assert_eq!(purged(Duration::ZERO).await, 1);
    assert_eq!(letters().await, 0);
    outbox.shutdown(Duration::from_secs(1)).await;
}
on_each_store!(dead_letters_are_listed_retried_and_purged, pgbouncer);
