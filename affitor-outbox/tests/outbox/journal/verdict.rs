//! What `Outbox::explain` concludes where the journal's last word is not plain: a sale sent in
//! test mode, a repeat the API answers 409, a sale refunded in full or in part, a transaction
//! beside its customer's newer sales, and a story longer than one search reads.

use std::time::Duration;

use affitor::client::Endpoint;
use affitor_mock::Fault;
use affitor_outbox::Outbox;
use affitor_outbox::journal::{NotCredited, Step, Subject, Unknown, Verdict};
use serde_json::json;

use super::{A_WHILE, journaled};
use crate::support::{Store, on_each_store, stand_in, wait_until};

/// Waits until the relay has answered every row of `outbox`.
pub(super) async fn delivered(outbox: &Outbox) {
    wait_until("every row to be answered", A_WHILE, async || {
        outbox.waiting().await.expect("the store answers") == 0
    })
    .await;
}

/// What the journal of `outbox` tells of `subject`.
pub(super) async fn explain(
    outbox: &Outbox,
    subject: Subject,
) -> affitor_outbox::journal::Explanation {
    outbox.explain(subject).await.expect("the journal reads")
}

/// A sale sent in test mode credits no partner, and neither does the real sale that repeats its
/// transaction id (the API answers it 409): neither is "on its way", nor credited.
async fn a_test_mode_sale_and_its_repeat_are_not_credited(store: Store) {
    let (mock, client) = stand_in().await;
    let outbox = store.open(journaled(&client)).await;
    let sale = || client.sale("in_t", 4900).click_id(mock.click("partner"));
    outbox.enqueue(sale().test_mode(true)).await;
    delivered(&outbox).await;
    let test = explain(&outbox, Subject::Transaction("in_t".into())).await;
    assert_eq!(
        test.verdict,
        Verdict::NotCredited(NotCredited::TestMode),
        "{test:?}"
    );

    outbox.enqueue(sale()).await;
    delivered(&outbox).await;
    let repeat = explain(&outbox, Subject::Transaction("in_t".into())).await;
    assert_eq!(
        repeat.verdict,
        Verdict::NotCredited(NotCredited::TestMode),
        "the real sale found its id taken by the test sale: {repeat:?}"
    );
    outbox.shutdown(Duration::from_secs(1)).await;
}
on_each_store!(a_test_mode_sale_and_its_repeat_are_not_credited);

/// A 409 for a transaction recorded by a call the journal does not hold (here the app's own
/// client, with no outbox behind it) is not a credit the journal can vouch for.
async fn a_repeat_of_a_sale_the_journal_never_saw_is_unknown(store: Store) {
    let (mock, client) = stand_in().await;
    let outbox = store.open(journaled(&client)).await;
    let click = mock.click("partner");
    let sale = || client.sale("in_r", 4900).click_id(click.clone());
    let outcome = sale().send().await.expect("the sale is answered");
    assert!(outcome.is_recorded(), "{outcome:?}");
    outbox.enqueue(sale()).await;
    delivered(&outbox).await;

    let explained = explain(&outbox, Subject::Transaction("in_r".into())).await;
    assert_eq!(
        explained.verdict,
        Verdict::Unknown(Unknown::RecordedBefore),
        "{explained:?}"
    );
    assert!(!explained.verdict.is_credited());
    outbox.shutdown(Duration::from_secs(1)).await;
}
on_each_store!(a_repeat_of_a_sale_the_journal_never_saw_is_unknown);

/// A sale refunded in part stays credited, its commission reduced; one refunded in full (the
/// refund names no amount, or the sale's) is reversed, with the ids of the sale and of the
/// commission taken back, and is not credited. The API reverses a sale once: a partial refund
/// then the rest leaves the sale credited, though the first was answered with no status
/// (which reads as a reversal); a whole refund and its twin (skipped), reversed; a whole
/// refund whose every answer was lost in one send, then skipped at the next, reversed.
async fn a_sale_refunded_in_full_is_reversed_and_in_part_stays_credited(store: Store) {
    let (mock, client) = stand_in().await;
    let builder = journaled(&client).backoff(Duration::from_millis(10), Duration::from_millis(50));
    let outbox = store.open(builder).await;
    let credited = ["in_part", "in_part_first"];
    let reversed = ["in_whole", "in_exact", "in_twins", "in_lost"];
    for id in credited.iter().chain(&reversed) {
        outbox
            .enqueue(client.sale(*id, 4900).click_id(mock.click("partner")))
            .await;
    }
    delivered(&outbox).await;
    // One at a time, each answered before the next is sent.
    let refund = async |request: affitor::RefundRequest| {
        outbox.enqueue(request).await;
        delivered(&outbox).await;
    };
    refund(client.refund("in_part").amount_cents(1000)).await;
    refund(client.refund("in_whole")).await;
    refund(client.refund("in_exact").amount_cents(4900)).await;
    mock.inject(
        Fault::response_after_processing(200, json!({"success": true, "commission_id": 3}))
            .on(Endpoint::Refund)
            .times(1),
    );
    refund(client.refund("in_part_first").amount_cents(1000)).await;
    refund(client.refund("in_part_first")).await;
    // As Stripe sends a full refund: `charge.refunded` with no amount, `refund.created` with it.
    refund(client.refund("in_twins")).await;
    refund(client.refund("in_twins").amount_cents(4900)).await;
    // Processed, and answered 500, at each of the client's two attempts of one send.
    mock.inject(
        Fault::response_after_processing(500, json!({"error": "Internal error"}))
            .on(Endpoint::Refund)
            .times(2),
    );
    refund(client.refund("in_lost")).await;

    let twice = explain(&outbox, Subject::Transaction("in_part_first".into())).await;
    assert!(
        twice
            .entries
            .iter()
            .any(|entry| entry.step == Step::Answered("skipped (already reversed)".into())),
        "the second refund's answer in words: {twice:?}"
    );
    for id in credited {
        let part = explain(&outbox, Subject::Transaction(id.into())).await;
        assert!(
            matches!(
                part.verdict,
                Verdict::Credited {
                    sale_id: Some(_),
                    commission_id: Some(_)
                }
            ),
            "{part:?}"
        );
    }
    for id in reversed {
        let whole = explain(&outbox, Subject::Transaction(id.into())).await;
        assert!(
            matches!(
                whole.verdict,
                Verdict::Reversed {
                    sale_id: Some(_),
                    commission_id: Some(_)
                }
            ),
            "{whole:?}"
        );
        assert!(!whole.verdict.is_credited());
        let text = whole.verdict.to_string();
        assert!(text.ends_with("then refunded in full"), "{text}");
    }
    outbox.shutdown(Duration::from_secs(1)).await;
}
on_each_store!(a_sale_refunded_in_full_is_reversed_and_in_part_stays_credited);

/// A transaction's verdict is its own sale's, though the search brings in its customer's newer
/// sale (a dead letter): the customer's verdict is the newest sale's.
async fn a_transaction_is_judged_by_its_own_sale(store: Store) {
    let (mock, client) = stand_in().await;
    let outbox = store.open(journaled(&client).max_attempts(1)).await;
    let sale = |id: &str| {
        client
            .sale(id, 4900)
            .customer_key("cust_9")
            .click_id(mock.click("partner"))
    };
    outbox.enqueue(sale("in_a")).await;
    delivered(&outbox).await;
    mock.inject(Fault::status(400).on(Endpoint::Sale).always());
    outbox.enqueue(sale("in_b")).await;
    wait_until("a dead letter", A_WHILE, async || {
        outbox.backlog().await.expect("the store answers").dead == 1
    })
    .await;

    let own = explain(&outbox, Subject::Transaction("in_a".into())).await;
    assert!(
        matches!(
            own.verdict,
            Verdict::Credited {
                sale_id: Some(_),
                commission_id: Some(_)
            }
        ),
        "{own:?}"
    );
    assert!(
        own.entries
            .iter()
            .any(|entry| entry.transaction_id.as_deref() == Some("in_b")),
        "the customer's other sale is in the timeline: {own:?}"
    );
    let customer = explain(&outbox, Subject::Customer("cust_9".into())).await;
    assert!(
        matches!(
            customer.verdict,
            Verdict::NotCredited(NotCredited::DeadLetter(_))
        ),
        "{customer:?}"
    );
    outbox.shutdown(Duration::from_secs(1)).await;
}
on_each_store!(a_transaction_is_judged_by_its_own_sale);

/// A story longer than one search reads keeps its newest entries, and says the oldest were
/// left out: the sale recorded after 1,100 retries of the customer's other sales is credited.
async fn a_long_story_keeps_its_newest_entries(store: Store) {
    let (_mock, client) = stand_in().await;
    let outbox = store.open(journaled(&client)).await;
    // 1,100 retries of earlier sales, then the sale's record, in the last minute (the relay
    // purges entries past the retention); `at` in Unix milliseconds.
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("after 1970")
        .as_millis();
    let retries = store.dialect(
        "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 1100)
         INSERT INTO affitor_outbox_journal (at, endpoint, step, customer_key, transaction_id,
             detail, next_attempt_at)
         SELECT {start} + i, 'sale', 'retrying', 'u3', 'in_' || (i % 12), '503', {start} + i
         FROM n",
        "INSERT INTO affitor_outbox_journal (at, endpoint, step, customer_key, transaction_id,
             detail, next_attempt_at)
         SELECT {start} + i, 'sale', 'retrying', 'u3', 'in_' || (i % 12), '503', {start} + i
         FROM generate_series(1, 1100) i",
    );
    let start = (now - 60_000).to_string();
    store.execute(&retries.replace("{start}", &start)).await;
    store
        .execute(&format!(
            "INSERT INTO affitor_outbox_journal (at, endpoint, step, customer_key,
                 transaction_id, sale_id, commission_id)
             VALUES ({now}, 'sale', 'recorded', 'u3', 'in_5', 7, 9)"
        ))
        .await;

    let explained = explain(&outbox, Subject::Transaction("in_5".into())).await;
    assert_eq!(
        explained.verdict,
        Verdict::Credited {
            sale_id: Some(7),
            commission_id: Some(9)
        },
        "{:?}",
        explained.verdict
    );
    assert!(explained.truncated, "{explained:?}");
    let short = explain(&outbox, Subject::Transaction("in_none".into())).await;
    assert!(!short.truncated);
    assert_eq!(short.verdict, Verdict::Unknown(Unknown::NothingJournaled));
    outbox.shutdown(Duration::from_secs(1)).await;
}
on_each_store!(a_long_story_keeps_its_newest_entries);

/// A whole refund the API processed but whose every answer was lost (500 at each attempt): kept
/// as a dead letter, then retried from the dead letters and answered `skipped`, it reverses its
/// sale; as does one the app sent itself, whose `send` failed, sent again.
async fn a_whole_refund_sent_again_after_a_lost_answer_reverses_its_sale(store: Store) {
    let (mock, direct) = stand_in().await;
    let outbox = store.open(journaled(&direct).max_attempts(1)).await;
    for id in ["in_buried", "in_inline"] {
        outbox
            .enqueue(direct.sale(id, 4900).click_id(mock.click("partner")))
            .await;
    }
    delivered(&outbox).await;
    let lost = || {
        Fault::response_after_processing(500, json!({"error": "Internal error"}))
            .on(Endpoint::Refund)
            .times(2)
    };

    mock.inject(lost());
    outbox.enqueue(direct.refund("in_buried")).await;
    wait_until("the refund's dead letter", A_WHILE, async || {
        outbox.backlog().await.expect("the store answers").dead == 1
    })
    .await;
    assert_eq!(outbox.retry_dead_letters().await.expect("retried"), 1);
    delivered(&outbox).await;

    let client = direct.with_backend(outbox.clone());
    mock.inject(lost());
    let failed = client.refund("in_inline").send().await;
    assert!(failed.is_err(), "{failed:?}");
    client
        .refund("in_inline")
        .send()
        .await
        .expect("the refund is answered");

    for id in ["in_buried", "in_inline"] {
        // The inline sends are journaled by a task of the outbox, after their answers.
        wait_until("the sale reversed", A_WHILE, async || {
            let explained = explain(&outbox, Subject::Transaction(id.into())).await;
            matches!(explained.verdict, Verdict::Reversed { .. })
        })
        .await;
    }
    assert_eq!(
        mock.refunds().len(),
        6,
        "each refund processed, then skipped"
    );
    outbox.shutdown(Duration::from_secs(1)).await;
}
on_each_store!(a_whole_refund_sent_again_after_a_lost_answer_reverses_its_sale);
