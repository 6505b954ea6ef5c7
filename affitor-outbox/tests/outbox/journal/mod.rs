//! The attribution journal through the public API, on a SQLite file and on Postgres: what
//! `Outbox::explain` tells of a sale credited then refunded in full, one whose click was too
//! old, a dead letter, a partner link captured and the events sent inline, a probe of a
//! refused partner code (not journaled), the limit of the entries waiting, the retention,
//! deletes and entries the store refuses, and an outbox without a journal.

use std::convert::Infallible;
use std::time::Duration;

use affitor::client::Endpoint;
use affitor_mock::Fault;
use affitor_outbox::journal::{self, NotCredited, Step, Subject, Unknown, Verdict};
use affitor_outbox::{Outbox, OutboxBuilder};
use affitor_tower::{AffitorLayer, capture::CaptureClicks};
use tower::{ServiceBuilder, ServiceExt as _};

use crate::support::{Store, on_each_store, stand_in, wait_until};

mod before;
mod misread;
mod refused;
mod verdict;

pub(crate) const A_WHILE: Duration = Duration::from_secs(30);

/// An outbox with the journal on, and a quick relay.
pub(crate) fn journaled(client: &affitor::Client) -> OutboxBuilder {
    Outbox::builder(client.clone())
        .poll_interval(Duration::from_millis(50))
        .journal(journal::DEFAULT_RETENTION)
}

async fn a_sale_is_explained_from_its_click_to_its_refund(store: Store) {
    let (mock, client) = stand_in().await;
    let outbox = store.open(journaled(&client).max_attempts(1)).await;
    let click = mock.click("partner");
    outbox
        .enqueue(client.lead("cust_1").click_id(click.clone()))
        .await;
    outbox
        .enqueue(
            client
                .sale("in_1", 4900)
                .customer_key("cust_1")
                .click_id(click.clone()),
        )
        .await;
    outbox.enqueue(client.refund("in_1")).await;
    let stale = mock.click_at("partner", 61);
    outbox
        .enqueue(
            client
                .sale("in_2", 100)
                .customer_key("cust_2")
                .click_id(stale),
        )
        .await;
    wait_until("every row to be delivered", A_WHILE, async || {
        outbox.waiting().await.expect("the store answers") == 0
    })
    .await;

    // Credited, then refunded in full.
    let reversed = outbox
        .explain(Subject::Click(click.as_str().to_owned()))
        .await
        .expect("the journal reads");
    assert!(
        matches!(
            reversed.verdict,
            Verdict::Reversed {
                sale_id: Some(_),
                commission_id: Some(_)
            }
        ),
        "{reversed:?}"
    );
    let steps: Vec<(&str, &Step)> = reversed
        .entries
        .iter()
        .map(|entry| (entry.endpoint.as_str(), &entry.step))
        .collect();
    assert!(steps.contains(&(
        "sale",
        &Step::Stored {
            amount: Some(4900),
            currency: None
        }
    )));
    assert!(
        steps.iter().any(|(endpoint, _)| *endpoint == "lead"),
        "{steps:?}"
    );
    assert!(
        steps
            .iter()
            .any(|(endpoint, step)| *endpoint == "refund" && matches!(step, Step::Answered(_))),
        "the refund shows under its sale: {steps:?}"
    );

    let expired = outbox
        .explain(Subject::Customer("cust_2".into()))
        .await
        .expect("the journal reads");
    assert_eq!(
        expired.verdict,
        Verdict::NotCredited(NotCredited::NotAttributed {
            reason: "attribution_window_expired".into(),
            click_age_days: Some(61),
            window_days: Some(60),
        })
    );
    assert!(
        expired
            .verdict
            .to_string()
            .contains("61 days old against a window of 60")
    );

    mock.inject(Fault::status(400).on(Endpoint::Sale).always());
    outbox
        .enqueue(client.sale("in_3", 100).click_id(mock.click("partner")))
        .await;
    wait_until("a dead letter", A_WHILE, async || {
        outbox.backlog().await.expect("the store answers").dead == 1
    })
    .await;
    let dead = outbox
        .explain(Subject::Transaction("in_3".into()))
        .await
        .expect("the journal reads");
    assert!(
        matches!(
            dead.verdict,
            Verdict::NotCredited(NotCredited::DeadLetter(_))
        ),
        "{dead:?}"
    );
    outbox.shutdown(Duration::from_secs(1)).await;
}
on_each_store!(a_sale_is_explained_from_its_click_to_its_refund);

/// A partner link captured by `affitor-tower`'s layer, then a lead and a sale sent inline
/// (`send().await`) by a client whose backend is the outbox: each is journaled, and the click's
/// story starts with the click, its partner, the visitor's consent and the click id the API
/// issued.
async fn a_captured_click_and_the_events_sent_inline_are_journaled(store: Store) {
    let (mock, direct) = stand_in().await;
    let outbox = store
        .open(Outbox::builder(direct.clone()).journal(journal::DEFAULT_RETENTION))
        .await;
    let client = direct.with_backend(outbox.clone());
    let capture =
        CaptureClicks::new().consent(|visit| visit.cookie("cookie_consent") == Some("all"));
    land(&client, capture, &[("cookie", "cookie_consent=all")]).await;
    let click_id = mock.clicks()[0]
        .click_id
        .clone()
        .expect("the layer captured the click");

    client
        .lead("cust_1")
        // As `affitor-tower`'s lookup notes an id it finds.
        .click_id(click_id.clone().found_in("a header"))
        .send()
        .await
        .expect("the lead is tracked");
    let sale = client.sale("in_1", 4900).customer_key("cust_1");
    assert!(
        sale.click_id(click_id.clone())
            .send()
            .await
            .expect("the sale is answered")
            .is_recorded()
    );
    // Written by a task of the outbox, after the answers.
    let subject = Subject::Click(click_id.as_str().to_owned());
    wait_until("the sale's answer in the journal", A_WHILE, async || {
        let explained = outbox
            .explain(subject.clone())
            .await
            .expect("the journal reads");
        explained.verdict.is_credited()
    })
    .await;

    let explained = outbox.explain(subject).await.expect("the journal reads");
    let first = &explained.entries[0];
    assert_eq!(
        (
            first.endpoint.as_str(),
            &first.step,
            first.click_id.as_deref()
        ),
        (
            "click",
            &Step::Clicked {
                partner_code: Some("partner".into()),
                consent: Some("given".into()),
            },
            Some(click_id.as_str())
        ),
        "{explained:?}"
    );
    let sent = Step::Sent {
        amount: Some(4900),
        currency: None,
    };
    assert!(
        explained
            .entries
            .iter()
            .any(|entry| entry.endpoint == "sale" && entry.step == sent),
        "{explained:?}"
    );
    let lead = explained
        .entries
        .iter()
        .find(|entry| entry.endpoint == "lead" && matches!(entry.step, Step::Sent { .. }));
    assert_eq!(
        lead.and_then(|lead| lead.click_id_source.as_deref()),
        Some("a header"),
        "{explained:?}"
    );
    assert_eq!(
        outbox.stats().enqueued,
        0,
        "nothing went through the outbox's rows"
    );

    // A sale whose own `send` failed: nothing retries it, and the verdict says so.
    mock.inject(Fault::status(400).on(Endpoint::Sale).always());
    let refused = client.sale("in_2", 100).customer_key("cust_1").send().await;
    assert!(refused.is_err(), "{refused:?}");
    let subject = Subject::Transaction("in_2".into());
    wait_until("the failed send in the journal", A_WHILE, async || {
        let explained = outbox
            .explain(subject.clone())
            .await
            .expect("the journal reads");
        matches!(
            explained.verdict,
            Verdict::NotCredited(NotCredited::SendFailed(_))
        )
    })
    .await;

    // A flush waits for the entries of the sends before it: a process may freeze next.
    mock.clear_faults();
    // Answered or refused, it is journaled with its answer.
    let _ = client.lead("cust_2").send().await;
    client.flush(Duration::from_secs(5)).await;
    let explained = outbox
        .explain(Subject::Customer("cust_2".into()))
        .await
        .expect("the journal reads");
    assert_eq!(
        explained.entries.len(),
        2,
        "sent and answered: {explained:?}"
    );
    outbox.shutdown(Duration::from_secs(1)).await;
}
on_each_store!(a_captured_click_and_the_events_sent_inline_are_journaled);

/// A click captured by a layer that asks no consent is journaled as such: "not asked", not
/// "given", so a support answer never claims a consent nobody gave.
async fn a_click_captured_without_asking_consent_is_journaled_as_not_asked(store: Store) {
    let (mock, direct) = stand_in().await;
    let outbox = store
        .open(Outbox::builder(direct.clone()).journal(journal::DEFAULT_RETENTION))
        .await;
    let client = direct.with_backend(outbox.clone());
    land(&client, CaptureClicks::new(), &[]).await;
    client.flush(Duration::from_secs(5)).await;
    let click_id = mock.clicks()[0]
        .click_id
        .clone()
        .expect("the layer captured the click");

    let explained = outbox
        .explain(Subject::Click(click_id.as_str().to_owned()))
        .await
        .expect("the journal reads");
    assert_eq!(
        explained.entries.first().map(|entry| &entry.step),
        Some(&Step::Clicked {
            partner_code: Some("partner".into()),
            consent: Some("not asked".into()),
        }),
        "{explained:?}"
    );
    outbox.shutdown(Duration::from_secs(1)).await;
}
on_each_store!(a_click_captured_without_asking_consent_is_journaled_as_not_asked);

/// A browser's visit of `/pricing?aff=partner`, with `headers` besides its own, through
/// `affitor-tower`'s layer capturing with `capture` and sending with `client`.
async fn land(client: &affitor::Client, capture: CaptureClicks, headers: &[(&str, &str)]) {
    let page = ServiceBuilder::new()
        .layer(
            AffitorLayer::new()
                .client(client.clone())
                .capture_clicks(capture),
        )
        .service_fn(|_: http::Request<_>| async {
            Ok::<_, Infallible>(http::Response::new(String::new()))
        });
    let mut visit = http::Request::get("/pricing?aff=partner")
        .header("host", "shop.example")
        .header(
            "user-agent",
            "Mozilla/5.0 (X11; Linux x86_64; rv:140.0) Firefox/140.0",
        )
        .header("sec-fetch-mode", "navigate");
    for (name, value) in headers {
        visit = visit.header(*name, *value);
    }
    let visit = visit.body(String::new()).expect("a valid request");
    page.oneshot(visit).await.expect("the page answers");
}

/// The capture layer's probe (a refused partner code tried again alone) is no visitor's click:
/// the API records it, and the journal keeps no entry of its click id.
async fn a_probe_of_a_refused_code_is_not_journaled(store: Store) {
    let (mock, direct) = stand_in().await;
    let outbox = store
        .open(Outbox::builder(direct.clone()).journal(journal::DEFAULT_RETENTION))
        .await;
    let client = direct.with_backend(outbox.clone());
    let inactive = serde_json::json!({"success": false, "message": "Referral link is inactive"});
    mock.inject(Fault::response(200, inactive).on(Endpoint::Click).times(1));
    land(&client, CaptureClicks::new(), &[]).await;
    // The probe runs in a task of its own, beside the page's answer.
    wait_until("the visit's call, then the probe", A_WHILE, async || {
        mock.requests_to(Endpoint::Click).len() == 2 && !mock.clicks().is_empty()
    })
    .await;
    let probed = mock.clicks()[0]
        .click_id
        .clone()
        .expect("the API recorded the probe");

    client.flush(Duration::from_secs(5)).await;
    let explained = outbox
        .explain(Subject::Click(probed.as_str().to_owned()))
        .await
        .expect("the journal reads");
    assert!(explained.entries.is_empty(), "{explained:?}");
    outbox.shutdown(Duration::from_secs(1)).await;
}
on_each_store!(a_probe_of_a_refused_code_is_not_journaled);

/// The entries of the client's own sends wait at most 1,024 for the store: past it, the newest
/// are lost, counted in `OutboxStats::journal_lost` and said at `warn`, and the send that made
/// them returns at once. Nothing else runs on this thread meanwhile, so the task that writes
/// them cannot start and every entry waits.
#[cfg(feature = "sqlite")]
#[tokio::test]
async fn entries_past_the_limit_are_counted_and_said() {
    use affitor::client::{Backend as _, IntoEvent as _, LeadOutcome, Outcome};

    if !test_support::alone!() {
        return;
    }
    let (logs, _guard) = test_support::Logs::capture("affitor_outbox=warn");
    let (_mock, client) = stand_in().await;
    let outbox = Store::sqlite(module_path!())
        .open(Outbox::builder(client.clone()).journal(journal::DEFAULT_RETENTION))
        .await;
    let lead = client.lead("cust_1").into_event().expect("a valid lead");
    let tracked = Outcome::Lead(LeadOutcome::Tracked);
    // Two entries a send (sent, answered): 512 sends fill the 1,024.
    for _ in 0..600 {
        outbox.sent(&lead, Ok(&tracked));
    }
    assert_eq!(outbox.stats().journal_lost, 2 * 88);
    let text = logs.text();
    assert!(
        text.contains("WARN") && text.contains("more than 1,024 wait for the store"),
        "{text}"
    );
    outbox.shutdown(Duration::from_secs(5)).await;
    assert_eq!(outbox.stats().journal_lost, 2 * 88, "the rest are written");
}

/// A sale written by `enqueue_in` in the app's own transaction is journaled with its row, so
/// its answer is explained; one whose transaction rolled back leaves no entry.
async fn a_sale_written_in_the_apps_transaction_is_explained(store: Store) {
    let (mock, client) = stand_in().await;
    let outbox = store.open(journaled(&client)).await;
    let click = mock.click("partner");
    let sale = |id: &str| {
        client
            .sale(id, 4900)
            .customer_key("cust_1")
            .click_id(click.clone())
    };
    store
        .enqueue_in_transaction(&outbox, "", sale("in_1"), true)
        .await;
    store
        .enqueue_in_transaction(&outbox, "", sale("in_2"), false)
        .await;
    let subject = Subject::Transaction("in_1".into());
    wait_until("the sale credited in the journal", A_WHILE, async || {
        let explained = outbox
            .explain(subject.clone())
            .await
            .expect("the journal reads");
        explained.verdict.is_credited()
    })
    .await;
    let rolled_back = outbox
        .explain(Subject::Transaction("in_2".into()))
        .await
        .expect("the journal reads");
    assert!(rolled_back.entries.is_empty(), "{rolled_back:?}");
    outbox.shutdown(Duration::from_secs(1)).await;
}
on_each_store!(a_sale_written_in_the_apps_transaction_is_explained);

/// Past the journal's retention, the relay deletes a delivered sale's entries, but not those of
/// a dead letter still in the outbox: its story stays whole while a person may ask for it.
async fn entries_past_the_retention_are_purged_but_a_dead_letters(store: Store) {
    let (mock, client) = stand_in().await;
    let outbox = store
        .open(
            Outbox::builder(client.clone())
                .poll_interval(Duration::from_millis(50))
                .max_attempts(1)
                .journal(Duration::from_secs(1)),
        )
        .await;
    outbox
        .enqueue(client.sale("in_1", 100).click_id(mock.click("partner")))
        .await;
    wait_until("the sale to be delivered", A_WHILE, async || {
        outbox.waiting().await.expect("the store answers") == 0
    })
    .await;
    mock.inject(Fault::status(400).on(Endpoint::Sale).always());
    outbox
        .enqueue(client.sale("in_2", 100).click_id(mock.click("partner")))
        .await;
    wait_until("a dead letter", A_WHILE, async || {
        outbox.backlog().await.expect("the store answers").dead == 1
    })
    .await;

    wait_until(
        "the delivered sale's entries to be purged",
        A_WHILE,
        async || {
            let explained = outbox
                .explain(Subject::Transaction("in_1".into()))
                .await
                .expect("the journal reads");
            explained.entries.is_empty()
        },
    )
    .await;
    let dead = outbox
        .explain(Subject::Transaction("in_2".into()))
        .await
        .expect("the journal reads");
    assert!(
        matches!(dead.entries.first(), Some(entry) if matches!(entry.step, Step::Stored { .. })),
        "{dead:?}"
    );
    assert!(
        matches!(
            dead.verdict,
            Verdict::NotCredited(NotCredited::DeadLetter(_))
        ),
        "{dead:?}"
    );
    // The dead letter's entries, kept past the retention, say nothing of from when the journal
    // is whole: it holds no other.
    assert_eq!(dead.journal_since, None, "{dead:?}");
    outbox.shutdown(Duration::from_secs(1)).await;
}
on_each_store!(entries_past_the_retention_are_purged_but_a_dead_letters);

/// A request's write is the outbox row alone: the relay journals the row's storing with its
/// first answer, in one row. Until then `explain` reads the row itself, with where its click
/// id was found; a dead letter retried keeps the one entry of its storing.
async fn a_rows_storing_is_journaled_by_the_relay_with_its_first_answer(store: Store) {
    let (mock, client) = stand_in().await;
    let builder = || journaled(&client).max_attempts(1);
    let click = || mock.click("partner").found_in("cookie `affitor_click_id`");
    let outbox = store.open(builder().relay(false)).await;
    outbox
        .enqueue(client.sale("in_1", 4900).click_id(click()))
        .await;
    let entries = "SELECT count(*) FROM affitor_outbox_journal";
    assert_eq!(
        store.integers(entries).await,
        [Some(0)],
        "the request wrote no entry"
    );
    let waiting = explain(&outbox, "in_1").await;
    assert_eq!(waiting.entries.len(), 1, "{waiting:?}");
    assert_eq!(
        waiting.entries[0].step,
        Step::Stored {
            amount: Some(4900),
            currency: None
        }
    );
    assert_eq!(
        waiting.entries[0].click_id_source.as_deref(),
        Some("cookie `affitor_click_id`")
    );
    assert_eq!(waiting.verdict, Verdict::OnItsWay { next_attempt: None });
    outbox.shutdown(Duration::from_secs(1)).await;

    let outbox = store.open(builder()).await;
    wait_until("the sale credited", A_WHILE, async || {
        explain(&outbox, "in_1").await.verdict.is_credited()
    })
    .await;
    let credited = explain(&outbox, "in_1").await;
    assert_eq!(credited.entries.len(), 2, "{credited:?}");
    assert_eq!(
        credited.entries[0], waiting.entries[0],
        "stored as it was read"
    );
    assert_eq!(
        store.integers(entries).await,
        [Some(1)],
        "the storing and its first answer are one row"
    );

    mock.inject(Fault::status(400).on(Endpoint::Sale));
    outbox
        .enqueue(client.sale("in_2", 100).click_id(click()))
        .await;
    wait_until("a dead letter", A_WHILE, async || {
        outbox.backlog().await.expect("the store answers").dead == 1
    })
    .await;
    assert_eq!(outbox.retry_dead_letters().await.expect("retried"), 1);
    wait_until("the retried sale credited", A_WHILE, async || {
        explain(&outbox, "in_2").await.verdict.is_credited()
    })
    .await;
    let retried = explain(&outbox, "in_2").await;
    let steps: Vec<&Step> = retried.entries.iter().map(|entry| &entry.step).collect();
    assert!(
        matches!(
            steps.as_slice(),
            [
                Step::Stored { .. },
                Step::DeadLetter(_),
                Step::Recorded { .. }
            ]
        ),
        "{steps:?}"
    );
    outbox.shutdown(Duration::from_secs(1)).await;
}
on_each_store!(a_rows_storing_is_journaled_by_the_relay_with_its_first_answer);

/// What the journal tells of transaction `id`.
pub(crate) async fn explain(outbox: &Outbox, id: &str) -> journal::Explanation {
    outbox
        .explain(Subject::Transaction(id.to_owned()))
        .await
        .expect("the journal reads")
}

/// Asserts that sale `id`, sent twice, is told as stored once, recorded, then already recorded,
/// and credited.
pub(crate) async fn assert_recorded_then_repeated(outbox: &Outbox, id: &str) {
    let explained = explain(outbox, id).await;
    let steps: Vec<&Step> = explained.entries.iter().map(|entry| &entry.step).collect();
    assert!(
        matches!(
            steps.as_slice(),
            [
                Step::Stored { .. },
                Step::Recorded { .. },
                Step::AlreadyRecorded
            ]
        ),
        "{steps:?}"
    );
    assert!(explained.verdict.is_credited(), "{}", explained.verdict);
}

/// Without `journal`, nothing is written: once its row is delivered and deleted, the journal
/// cannot tell of the sale.
async fn an_outbox_without_a_journal_keeps_none(store: Store) {
    let (mock, client) = stand_in().await;
    let outbox = store
        .open(Outbox::builder(client.clone()).poll_interval(Duration::from_millis(50)))
        .await;
    outbox
        .enqueue(client.sale("in_1", 100).click_id(mock.click("partner")))
        .await;
    wait_until("the row to be delivered", A_WHILE, async || {
        outbox.waiting().await.expect("the store answers") == 0
    })
    .await;
    assert_eq!(mock.sales().len(), 1);
    let entries = "SELECT count(*) FROM affitor_outbox_journal";
    assert_eq!(store.integers(entries).await, [Some(0)]);
    let explained = explain(&outbox, "in_1").await;
    assert!(explained.entries.is_empty(), "{explained:?}");
    assert_eq!(
        explained.verdict,
        Verdict::Unknown(Unknown::NothingJournaled)
    );
    assert_eq!(explained.journal_since, None, "the journal is empty");
    outbox.shutdown(Duration::from_secs(1)).await;
}
on_each_store!(an_outbox_without_a_journal_keeps_none);
