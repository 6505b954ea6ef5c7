//! Events the outbox handled before its journal was turned on: `Outbox::explain` says from
//! when the journal holds entries, tells a row still in the table from the table (a retry due,
//! a dead letter), and finds the later answers of a row first answered before.

use std::time::{Duration, SystemTime};

use affitor::client::Endpoint;
use affitor_mock::Fault;
use affitor_outbox::Outbox;
use affitor_outbox::journal::{NotCredited, Step, Verdict};

use super::{A_WHILE, explain, journaled};
use crate::support::{Store, on_each_store, sale, stand_in, wait_until};

/// A sale answered before the journal was turned on has no entries, and the explanation says
/// from when the journal holds entries: later than the sale.
async fn a_sale_answered_before_the_journal_was_on_is_older_than_what_it_holds(store: Store) {
    let (mock, client) = stand_in().await;
    let before_journal = Outbox::builder(client.clone()).poll_interval(Duration::from_millis(50));
    let outbox = store.open(before_journal).await;
    outbox
        .enqueue(client.sale("in_old", 100).click_id(mock.click("partner")))
        .await;
    wait_until("the old sale to be delivered", A_WHILE, async || {
        outbox.waiting().await.expect("the store answers") == 0
    })
    .await;
    outbox.shutdown(Duration::from_secs(1)).await;

    let turned_on = SystemTime::now();
    let outbox = store.open(journaled(&client)).await;
    outbox
        .enqueue(client.sale("in_new", 100).click_id(mock.click("partner")))
        .await;
    wait_until(
        "the new sale's answer in the journal",
        A_WHILE,
        async || explain(&outbox, "in_new").await.verdict.is_credited(),
    )
    .await;
    let old = explain(&outbox, "in_old").await;
    assert!(old.entries.is_empty(), "{old:?}");
    let since = old
        .journal_since
        .expect("the journal holds the new sale's entries");
    // The journal's clock is in milliseconds.
    assert!(
        since + Duration::from_millis(1) >= turned_on,
        "{since:?} {turned_on:?}"
    );
    outbox.shutdown(Duration::from_secs(1)).await;
}
on_each_store!(a_sale_answered_before_the_journal_was_on_is_older_than_what_it_holds);

/// Rows answered before the journal was on and not since, a retry due and a dead letter, are
/// told from the table: their storing and their last answer.
async fn a_retry_and_a_dead_letter_from_before_the_journal_are_told_from_the_table(store: Store) {
    let (mock, client) = stand_in().await;
    // No retry before the test's end: the row stays as the first answer left it.
    let outbox =
        rescheduled_without_journal(&store, &mock, &client, Duration::from_secs(600)).await;
    mock.inject(Fault::status(400).on(Endpoint::Sale).times(1));
    outbox.enqueue(sale(&mock, &client, 2)).await;
    wait_until("the sale refused", A_WHILE, async || {
        outbox.stats().dead == 1
    })
    .await;
    outbox.shutdown(Duration::from_secs(1)).await;

    let outbox = store.open(journaled(&client).relay(false)).await;
    let retry = explain(&outbox, "in_1").await;
    let steps: Vec<&Step> = retry.entries.iter().map(|entry| &entry.step).collect();
    assert!(
        matches!(steps[..], [Step::Stored { .. }, Step::Retrying { .. }]),
        "{retry:?}"
    );
    assert!(
        matches!(
            retry.verdict,
            Verdict::OnItsWay {
                next_attempt: Some(_)
            }
        ),
        "{retry:?}"
    );
    let dead = explain(&outbox, "in_2").await;
    let steps: Vec<&Step> = dead.entries.iter().map(|entry| &entry.step).collect();
    assert!(
        matches!(steps[..], [Step::Stored { .. }, Step::DeadLetter(_)]),
        "{dead:?}"
    );
    assert!(
        matches!(
            dead.verdict,
            Verdict::NotCredited(NotCredited::DeadLetter(_))
        ),
        "{dead:?}"
    );
    outbox.shutdown(Duration::from_secs(1)).await;
}
on_each_store!(a_retry_and_a_dead_letter_from_before_the_journal_are_told_from_the_table);

/// A sale first answered before the journal was on (a 503) and recorded once it was: its
/// later answer is found by its own keys, though no entry holds its storing.
async fn a_sale_first_answered_before_the_journal_is_explained_by_its_later_answer(store: Store) {
    let (mock, client) = stand_in().await;
    let outbox = rescheduled_without_journal(&store, &mock, &client, Duration::from_secs(1)).await;
    outbox.shutdown(Duration::from_secs(1)).await;

    let outbox = store.open(journaled(&client)).await;
    wait_until("the sale recorded", A_WHILE, async || {
        outbox.waiting().await.expect("the store answers") == 0
    })
    .await;
    assert_eq!(mock.sales().len(), 1);
    let explained = explain(&outbox, "in_1").await;
    assert!(explained.verdict.is_credited(), "{explained:?}");
    outbox.shutdown(Duration::from_secs(1)).await;
}
on_each_store!(a_sale_first_answered_before_the_journal_is_explained_by_its_later_answer);

/// An outbox without a journal whose sale `in_1` the stand-in answered 503 past the client's
/// own retries: rescheduled, to go again after `backoff`.
async fn rescheduled_without_journal(
    store: &Store,
    mock: &affitor_mock::MockServer,
    client: &affitor::Client,
    backoff: Duration,
) -> Outbox {
    let before_journal = Outbox::builder(client.clone())
        .poll_interval(Duration::from_millis(50))
        .backoff(backoff, backoff);
    let outbox = store.open(before_journal).await;
    mock.inject(Fault::status(503).on(Endpoint::Sale).always());
    outbox.enqueue(sale(mock, client, 1)).await;
    wait_until("the sale's first answer", A_WHILE, async || {
        outbox.stats().rescheduled == 1
    })
    .await;
    mock.clear_faults();
    outbox
}
