//! Verdicts that once misread the journal: another customer's or another click's sale, a dead
//! letter retried (answered since, or not yet), a storing dated by a clock ahead of the relay's, a
//! recorded sale whose repeat waits for a retry, a sale whose row was deleted as it was read.

use std::time::Duration;

use affitor::client::Endpoint;
use affitor_mock::Fault;
use affitor_outbox::journal::{NotCredited, Step, Subject, Verdict};

use super::verdict::{delivered, explain};
use super::{A_WHILE, journaled};
use crate::support::{Store, on_each_store, stand_in, wait_until};

/// Two customers who signed up through the same click id (one browser, two accounts): the one
/// who never bought is not credited by the other's sale.
async fn a_customer_is_judged_by_their_own_sale_alone(store: Store) {
    let (mock, client) = stand_in().await;
    let outbox = store.open(journaled(&client)).await;
    let click = mock.click("partner");
    outbox
        .enqueue(client.lead("cust_a").click_id(click.clone()))
        .await;
    delivered(&outbox).await;
    outbox
        .enqueue(client.lead("cust_b").click_id(click.clone()))
        .await;
    delivered(&outbox).await;
    outbox
        .enqueue(client.sale("in_b", 4900).customer_key("cust_b"))
        .await;
    delivered(&outbox).await;
    assert_eq!(mock.sales().len(), 1);

    let a = explain(&outbox, Subject::Customer("cust_a".into())).await;
    assert!(
        !a.verdict.is_credited(),
        "cust_a sent no sale, yet: {} -- {:#?}",
        a.verdict,
        a.entries
    );
    outbox.shutdown(Duration::from_secs(1)).await;
}
on_each_store!(a_customer_is_judged_by_their_own_sale_alone);

/// A click too old for the window, whose sale was not attributed: `--click` tells that sale,
/// not the customer's later one through another click.
async fn a_click_is_judged_by_the_sale_made_through_it(store: Store) {
    let (mock, client) = stand_in().await;
    let outbox = store.open(journaled(&client)).await;
    let stale = mock.click_at("partner", 61);
    outbox
        .enqueue(client.lead("cust_c").click_id(stale.clone()))
        .await;
    delivered(&outbox).await;
    outbox
        .enqueue(
            client
                .sale("in_1", 4900)
                .customer_key("cust_c")
                .click_id(stale.clone()),
        )
        .await;
    delivered(&outbox).await;
    let fresh = mock.click("partner");
    outbox
        .enqueue(client.lead("cust_c").click_id(fresh.clone()))
        .await;
    delivered(&outbox).await;
    outbox
        .enqueue(
            client
                .sale("in_2", 4900)
                .customer_key("cust_c")
                .click_id(fresh.clone()),
        )
        .await;
    delivered(&outbox).await;

    let own = explain(&outbox, Subject::Transaction("in_1".into())).await;
    assert!(
        matches!(
            own.verdict,
            Verdict::NotCredited(NotCredited::NotAttributed { .. })
        ),
        "{own:?}"
    );
    let by_click = explain(&outbox, Subject::Click(stale.as_str().to_owned())).await;
    assert!(
        !by_click.verdict.is_credited(),
        "the stale click's sale in_1 was not attributed, yet: {}",
        by_click.verdict
    );
    outbox.shutdown(Duration::from_secs(1)).await;
}
on_each_store!(a_click_is_judged_by_the_sale_made_through_it);

/// A lead given up on, retried from the dead letters, and tracked: no dead letter.
async fn a_dead_letter_retried_and_delivered_is_no_dead_letter(store: Store) {
    let (mock, client) = stand_in().await;
    let outbox = store.open(journaled(&client).max_attempts(1)).await;
    mock.inject(Fault::status(400).on(Endpoint::Lead).always());
    outbox
        .enqueue(client.lead("cust_1").click_id(mock.click("partner")))
        .await;
    wait_until("a dead letter", A_WHILE, async || {
        outbox.backlog().await.expect("the store answers").dead == 1
    })
    .await;
    mock.clear_faults();
    assert_eq!(outbox.retry_dead_letters().await.expect("retried"), 1);
    delivered(&outbox).await;
    assert_eq!(outbox.backlog().await.expect("the store answers").dead, 0);

    let explained = explain(&outbox, Subject::Customer("cust_1".into())).await;
    assert!(
        !matches!(
            explained.verdict,
            Verdict::NotCredited(NotCredited::DeadLetter(_))
        ),
        "the lead was tracked after its retry, yet: {} -- {:#?}",
        explained.verdict,
        explained.entries
    );
    outbox.shutdown(Duration::from_secs(1)).await;
}
on_each_store!(a_dead_letter_retried_and_delivered_is_no_dead_letter);

/// A sale given up on, then retried from the dead letters while no relay runs to send it: on
/// its way (from when it was retried), no longer a dead letter, before any answer.
async fn a_dead_letter_retried_is_on_its_way_before_its_answer(store: Store) {
    let (mock, client) = stand_in().await;
    let outbox = store.open(journaled(&client).max_attempts(1)).await;
    mock.inject(Fault::status(400).on(Endpoint::Sale).always());
    outbox
        .enqueue(client.sale("in_1", 4900).click_id(mock.click("partner")))
        .await;
    wait_until("a dead letter", A_WHILE, async || {
        outbox.backlog().await.expect("the store answers").dead == 1
    })
    .await;
    outbox.shutdown(Duration::from_secs(1)).await;
    let operator = store.open(journaled(&client).relay(false)).await;
    let sale = || Subject::Transaction("in_1".into());
    let buried = explain(&operator, sale()).await.verdict;
    assert!(
        matches!(buried, Verdict::NotCredited(NotCredited::DeadLetter(_))),
        "{buried}"
    );

    assert_eq!(operator.retry_dead_letters().await.expect("retried"), 1);
    let retried = explain(&operator, sale()).await;
    assert!(
        matches!(
            retried.verdict,
            Verdict::OnItsWay {
                next_attempt: Some(_)
            }
        ),
        "the sale goes again, yet: {} -- {:#?}",
        retried.verdict,
        retried.entries
    );
    let steps: Vec<&Step> = retried.entries.iter().map(|entry| &entry.step).collect();
    assert!(
        matches!(
            steps.as_slice(),
            [
                Step::Stored { .. },
                Step::DeadLetter(_),
                Step::Retrying { .. }
            ]
        ),
        "{steps:?}"
    );
    let Step::Retrying {
        error,
        next_attempt,
    } = &retried.entries[2].step
    else {
        unreachable!("matched above")
    };
    assert!(
        error.starts_with("retried from the dead letters"),
        "{error}"
    );
    assert!(
        *next_attempt >= retried.entries[1].at,
        "{:#?}",
        retried.entries
    );
    operator.shutdown(Duration::from_secs(1)).await;

    // Sent again and refused again: a dead letter once more, and no retry told of.
    let relay = store.open(journaled(&client).max_attempts(1)).await;
    wait_until("a dead letter again", A_WHILE, async || {
        relay.stats().dead == 1
    })
    .await;
    let buried = explain(&relay, sale()).await;
    assert!(
        matches!(
            buried.verdict,
            Verdict::NotCredited(NotCredited::DeadLetter(_))
        ),
        "{buried:#?}"
    );
    assert!(
        !buried
            .entries
            .iter()
            .any(|entry| matches!(entry.step, Step::Retrying { .. })),
        "{:#?}",
        buried.entries
    );
    relay.shutdown(Duration::from_secs(1)).await;
}
on_each_store!(a_dead_letter_retried_is_on_its_way_before_its_answer);

/// The store's clock a few seconds ahead of the app's (Postgres's `created_at` is the server's,
/// an answer's `at` the relay's): the credited sale's storing sorts after its answer, and its
/// answer still gives the verdict.
async fn a_store_clock_ahead_of_the_relays_leaves_a_sale_credited(store: Store) {
    let (mock, client) = stand_in().await;
    let writer = store.open(journaled(&client).relay(false)).await;
    writer
        .enqueue(client.sale("in_1", 4900).click_id(mock.click("partner")))
        .await;
    writer.shutdown(Duration::from_secs(1)).await;
    // What a store clock 5 s ahead of the app's would have written.
    store
        .execute(store.dialect(
            "UPDATE affitor_outbox SET created_at = created_at + 5000",
            "UPDATE affitor_outbox SET created_at = created_at + interval '5 seconds'",
        ))
        .await;
    let outbox = store.open(journaled(&client)).await;
    delivered(&outbox).await;
    assert_eq!(mock.sales().len(), 1);
    let explained = explain(&outbox, Subject::Transaction("in_1".into())).await;
    assert!(
        explained.verdict.is_credited(),
        "recorded by the API, yet: {} -- {:#?}",
        explained.verdict,
        explained.entries
    );
    outbox.shutdown(Duration::from_secs(1)).await;
}
on_each_store!(a_store_clock_ahead_of_the_relays_leaves_a_sale_credited);

/// A sale recorded, then delivered again by its provider (a redelivered webhook, after the first
/// row was deleted) and answered 503: the journal holds its sale and commission, and it stays
/// credited.
async fn a_recorded_sale_stays_credited_while_a_repeat_is_retried(store: Store) {
    let (mock, client) = stand_in().await;
    let outbox = store
        .open(journaled(&client).backoff(Duration::from_secs(600), Duration::from_secs(600)))
        .await;
    let click = mock.click("partner");
    outbox
        .enqueue(
            client
                .sale("in_1", 4900)
                .customer_key("cust_1")
                .click_id(click.clone()),
        )
        .await;
    delivered(&outbox).await;
    assert!(
        explain(&outbox, Subject::Transaction("in_1".into()))
            .await
            .verdict
            .is_credited()
    );
    mock.inject(Fault::status(503).on(Endpoint::Sale).always());
    outbox
        .enqueue(
            client
                .sale("in_1", 4900)
                .customer_key("cust_1")
                .click_id(click),
        )
        .await;
    wait_until("the repeat rescheduled", A_WHILE, async || {
        outbox.stats().rescheduled >= 1
    })
    .await;
    let explained = explain(&outbox, Subject::Transaction("in_1".into())).await;
    assert!(
        explained.verdict.is_credited(),
        "the journal holds in_1's sale and commission ids, yet: {}",
        explained.verdict
    );
    outbox.shutdown(Duration::from_secs(1)).await;
}
on_each_store!(a_recorded_sale_stays_credited_while_a_repeat_is_retried);

/// A refund sent under the payment's id with the sale's invoice as its other id (as the Stripe
/// handler sends one): once answered, it still shows under its sale, and by either id; whole,
/// it reverses the sale by either.
async fn a_refund_under_its_other_id_shows_under_its_sale_once_answered(store: Store) {
    let (mock, client) = stand_in().await;
    let outbox = store.open(journaled(&client)).await;
    outbox
        .enqueue(
            client
                .sale("in_7", 4900)
                .customer_key("cust_7")
                .click_id(mock.click("partner")),
        )
        .await;
    delivered(&outbox).await;
    outbox
        .enqueue(client.refund("pi_7").or_transaction_id("in_7"))
        .await;
    delivered(&outbox).await;
    assert_eq!(mock.refunds().len(), 1);

    for id in ["in_7", "pi_7"] {
        let explained = explain(&outbox, Subject::Transaction(id.into())).await;
        let answered = explained
            .entries
            .iter()
            .any(|entry| entry.endpoint == "refund" && !matches!(entry.step, Step::Stored { .. }));
        assert!(
            answered && matches!(explained.verdict, Verdict::Reversed { .. }),
            "explained by {id}: {} -- {:#?}",
            explained.verdict,
            explained.entries
        );
    }
    outbox.shutdown(Duration::from_secs(1)).await;
}
on_each_store!(a_refund_under_its_other_id_shows_under_its_sale_once_answered);

/// A sale's row deleted with the entry of its first answer while `explain` reads (a relay's
/// delete, committed between the read of the journal and that of the table): the sale is told
/// all the same, where two reads of their own told nothing of it. A lock the test holds on the
/// table makes the delete come between the two.
#[cfg(feature = "postgres")]
#[tokio::test]
async fn postgres_a_sale_deleted_while_it_is_explained_is_told() {
    let (mock, client) = stand_in().await;
    let schema = crate::support::postgres::Schema::create("explain_snapshot").await;
    let own = schema.own_pool().await;
    let outbox = journaled(&client)
        .relay(false)
        .postgres(schema.pool().await)
        .await
        .expect("the outbox opens");
    outbox
        .enqueue(client.sale("in_1", 4900).click_id(mock.click("partner")))
        .await;

    let mut relay = own.begin().await.expect("a transaction of the test's own");
    sqlx::raw_sql("LOCK TABLE affitor_outbox IN ACCESS EXCLUSIVE MODE")
        .execute(&mut *relay)
        .await
        .expect("the table is locked");
    let reading = tokio::spawn({
        let outbox = outbox.clone();
        async move { explain(&outbox, Subject::Transaction("in_1".into())).await }
    });
    wait_until("explain to wait for the table", A_WHILE, async || {
        let waiting: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM pg_locks
             WHERE NOT granted AND relation = 'affitor_outbox'::regclass",
        )
        .fetch_one(&own)
        .await
        .expect("pg_locks is read");
        waiting > 0
    })
    .await;
    // What the relay's delete of the delivered row writes, in one transaction.
    sqlx::raw_sql(
        "INSERT INTO affitor_outbox_journal (at, endpoint, step, click_id, transaction_id,
             amount, sale_id, commission_id, event_id, stored_at)
         SELECT (extract(epoch FROM clock_timestamp()) * 1000)::bigint, endpoint, 'recorded',
             body::jsonb ->> 'click_id', transaction_id, 4900, 1, 1, id,
             (extract(epoch FROM created_at) * 1000)::bigint
         FROM affitor_outbox;
         DELETE FROM affitor_outbox;",
    )
    .execute(&mut *relay)
    .await
    .expect("the row answered and deleted");
    relay.commit().await.expect("the delete commits");

    let explained = reading.await.expect("explain ends");
    assert!(
        explained
            .entries
            .iter()
            .any(|entry| matches!(entry.step, Step::Stored { .. })),
        "{explained:#?}"
    );
    outbox.shutdown(Duration::from_secs(1)).await;
}

/// Other customers who came through the same click id (visitors of one partner from one
/// address share it): a sale's or its customer's story leaves their leads and sales out, so
/// that however many they are, the sale's own entries are not cut by the search's limit. The
/// click's story holds them all.
async fn a_sale_s_story_leaves_out_other_customers_of_its_click(store: Store) {
    let (mock, client) = stand_in().await;
    let outbox = store.open(journaled(&client)).await;
    let click = mock.click("partner");
    outbox
        .enqueue(client.lead("buyer").click_id(click.clone()))
        .await;
    delivered(&outbox).await;
    // A sale tracked by its click id alone: the buyer's all the same.
    outbox
        .enqueue(client.sale("in_buyer", 4900).click_id(click.clone()))
        .await;
    delivered(&outbox).await;
    for other in ["other_1", "other_2", "other_3"] {
        outbox
            .enqueue(client.lead(other).click_id(click.clone()))
            .await;
        outbox
            .enqueue(client.sale(format!("in_{other}"), 900).customer_key(other))
            .await;
    }
    delivered(&outbox).await;
    let others = |explained: &affitor_outbox::journal::Explanation| {
        (explained.entries.iter())
            .filter(|entry| {
                entry
                    .customer_key
                    .as_deref()
                    .is_some_and(|key| key != "buyer")
            })
            .count()
    };
    for subject in [
        Subject::Transaction("in_buyer".into()),
        Subject::Customer("buyer".into()),
    ] {
        let explained = explain(&outbox, subject.clone()).await;
        assert_eq!(
            others(&explained),
            0,
            "{subject:?}: {:#?}",
            explained.entries
        );
        assert!(
            explained.verdict.is_credited(),
            "{subject:?}: {}",
            explained.verdict
        );
        assert!(
            (explained.entries.iter())
                .any(|entry| entry.transaction_id.as_deref() == Some("in_buyer")),
            "{subject:?}: {:#?}",
            explained.entries
        );
    }
    let by_click = explain(&outbox, Subject::Click(click.as_str().to_owned())).await;
    assert!(others(&by_click) >= 3, "{:#?}", by_click.entries);
    outbox.shutdown(Duration::from_secs(1)).await;
}
on_each_store!(a_sale_s_story_leaves_out_other_customers_of_its_click);

/// Leads whose click id the API refused (its customer had bought already): each sent again
/// without it. The journal tells what became of each: the customer the API knows got their
/// lead; the one it does not was dropped, which the last entry says in the API's words.
async fn a_lead_sent_again_without_its_refused_click_id_tells_how_that_went(store: Store) {
    let (mock, client) = stand_in().await;
    let outbox = store.open(journaled(&client)).await;
    let converted = crate::refused::converted_click_id(&mock, &client).await;
    client
        .lead("known")
        .click_id(mock.click("partner"))
        .send()
        .await
        .expect("the stand-in records the lead");
    for customer in ["known", "unknown"] {
        outbox
            .enqueue(client.lead(customer).click_id(converted.clone()))
            .await;
    }
    wait_until("both settled", A_WHILE, async || {
        outbox.stats().click_id_refused == 2
            && outbox.waiting().await.expect("the store answers") == 0
    })
    .await;
    let steps = async |customer: &str| {
        let explained = explain(&outbox, Subject::Customer(customer.into())).await;
        (explained.entries.into_iter())
            .map(|entry| entry.step)
            .collect::<Vec<Step>>()
    };
    let unknown = steps("unknown").await;
    assert!(
        matches!(
            unknown.as_slice(),
            [Step::Stored { .. }, Step::Refused(first), Step::Refused(last)]
                if first.contains("went without it") && last.contains("not found")
        ),
        "{unknown:#?}"
    );
    let known = steps("known").await;
    assert!(
        matches!(
            known.as_slice(),
            [Step::Stored { .. }, Step::Refused(first), answer]
                if first.contains("went without it") && !matches!(answer, Step::Refused(_))
        ),
        "{known:#?}"
    );
    outbox.shutdown(Duration::from_secs(1)).await;
}
on_each_store!(a_lead_sent_again_without_its_refused_click_id_tells_how_that_went);
