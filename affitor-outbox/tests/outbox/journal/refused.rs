//! The journal when the store refuses its writes or the relay's deletes, and the entries lost:
//! a refused entry goes again with a later delete, and one that can never be written is counted
//! in `OutboxStats::journal_lost`.

use std::time::Duration;

use affitor::client::Endpoint;
use affitor_mock::{Fault, MockServer};
use affitor_outbox::Outbox;
use affitor_outbox::journal::Step;

use super::{A_WHILE, assert_recorded_then_repeated, explain, journaled};
use crate::support::{Store, on_each_store, stand_in, wait_until};

/// Makes every `op` (`DELETE`, `INSERT`) on `table` fail while `refusals` holds a row, in the
/// SQL of SQLite and of Postgres.
fn refuse(op: &str, table: &str) -> (String, String) {
    refuse_where(op, table, "TRUE")
}

/// Makes `op` (`DELETE`, `INSERT`) on `table` fail for the rows `condition` holds of (SQL both
/// stores read, on `OLD` or `NEW`) while `refusals` holds a row.
fn refuse_where(op: &str, table: &str, condition: &str) -> (String, String) {
    let new = if op == "INSERT" { "NEW" } else { "OLD" };
    (
        format!(
            "CREATE TABLE refusals (x INTEGER); INSERT INTO refusals VALUES (1);
             CREATE TRIGGER refuse BEFORE {op} ON {table}
             WHEN ({condition}) AND EXISTS (SELECT 1 FROM refusals)
             BEGIN SELECT RAISE(ABORT, 'refused'); END;"
        ),
        format!(
            "CREATE TABLE refusals (x INTEGER); INSERT INTO refusals VALUES (1);
             CREATE FUNCTION refuse() RETURNS trigger LANGUAGE plpgsql
             SET search_path FROM CURRENT AS $$
             BEGIN
                 IF ({condition}) AND EXISTS (SELECT 1 FROM refusals) THEN
                     RAISE EXCEPTION 'refused';
                 END IF;
                 RETURN {new};
             END $$;
             CREATE TRIGGER refuse BEFORE {op} ON {table}
             FOR EACH ROW EXECUTE FUNCTION refuse();"
        ),
    )
}

/// A delivered sale whose delete the store refuses (or only its journal entry, the row deleted
/// alone) is settled by a later delete, with its entry: sent once, and explained as stored then
/// recorded.
async fn refused_then_written(store: &Store, op: &str, table: &str) {
    let (mock, _client, outbox) = delivered_while_refused(store, op, table).await;
    // A few deletes are refused meanwhile.
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(
        !explain(&outbox, "in_1").await.verdict.is_credited(),
        "no answer in the journal while it is refused"
    );
    refusals_end(store, &mock, &outbox).await;
    let credited = explain(&outbox, "in_1").await;
    let steps: Vec<&Step> = credited.entries.iter().map(|entry| &entry.step).collect();
    assert!(
        matches!(
            steps.as_slice(),
            [Step::Stored { .. }, Step::Recorded { .. }]
        ),
        "{steps:?}"
    );
    assert_eq!(outbox.stats().journal_lost, 0);
    outbox.shutdown(Duration::from_secs(1)).await;
}

/// An outbox with the journal on, whose store refuses `op` on `table`, and a client of its
/// stand-in.
async fn refusing(store: &Store, op: &str, table: &str) -> (MockServer, affitor::Client, Outbox) {
    let (mock, client) = stand_in().await;
    let outbox = store.open(journaled(&client)).await;
    let (sqlite, postgres) = refuse(op, table);
    store.execute(store.dialect(&sqlite, &postgres)).await;
    (mock, client, outbox)
}

/// A sale delivered by an outbox with the journal on, whose store refuses `op` on `table`.
async fn delivered_while_refused(
    store: &Store,
    op: &str,
    table: &str,
) -> (MockServer, affitor::Client, Outbox) {
    let (mock, client, outbox) = refusing(store, op, table).await;
    outbox
        .enqueue(client.sale("in_1", 4900).click_id(mock.click("partner")))
        .await;
    wait_until("the sale delivered", A_WHILE, async || {
        outbox.stats().delivered == 1
    })
    .await;
    (mock, client, outbox)
}

/// The store takes everything again: the sale is deleted and explained as credited, and was
/// sent once.
async fn refusals_end(store: &Store, mock: &MockServer, outbox: &Outbox) {
    store.execute("DELETE FROM refusals").await;
    wait_until("the sale deleted and explained", A_WHILE, async || {
        outbox.waiting().await.expect("the store answers") == 0
            && explain(outbox, "in_1").await.verdict.is_credited()
    })
    .await;
    assert_eq!(mock.sales().len(), 1, "sent once");
}

async fn a_delete_the_store_refused_goes_again_with_its_journal_entry(store: Store) {
    refused_then_written(&store, "DELETE", "affitor_outbox").await;
}
on_each_store!(a_delete_the_store_refused_goes_again_with_its_journal_entry);

async fn a_journal_entry_the_store_refused_is_written_after_its_rows_delete(store: Store) {
    refused_then_written(&store, "INSERT", "affitor_outbox_journal").await;
}
on_each_store!(a_journal_entry_the_store_refused_is_written_after_its_rows_delete);

/// An organic sale and an organic signup (customers the stand-in does not know, refused for
/// good) are journaled with their rows' deletes, as a delivered row is: entries the store
/// refuses go with a later delete once it takes them, none lost (written apart, they were).
async fn an_organic_sale_and_signup_are_journaled_with_their_rows_deletes(store: Store) {
    let (mock, client, outbox) = refusing(&store, "INSERT", "affitor_outbox_journal").await;
    outbox
        .enqueue(client.sale("in_organic", 4900).customer_key("organic_1"))
        .await;
    outbox.enqueue(client.lead("organic_2")).await;
    wait_until("both refused by the API", A_WHILE, async || {
        outbox.stats().customer_refused == 2
    })
    .await;
    // A few deletes' entries are refused meanwhile.
    tokio::time::sleep(Duration::from_millis(300)).await;
    store.execute("DELETE FROM refusals").await;
    wait_until("both deleted and journaled", A_WHILE, async || {
        outbox.waiting().await.expect("the store answers") == 0
            && explain(&outbox, "in_organic").await.entries.len() == 2
    })
    .await;
    let sale = explain(&outbox, "in_organic").await;
    let steps: Vec<&Step> = sale.entries.iter().map(|entry| &entry.step).collect();
    assert!(
        matches!(
            steps.as_slice(),
            [Step::Stored { .. }, Step::NotAttributed { .. }]
        ),
        "{steps:?}"
    );
    let signup = outbox
        .explain(affitor_outbox::journal::Subject::Customer(
            "organic_2".into(),
        ))
        .await
        .expect("the journal is read");
    let steps: Vec<&Step> = signup.entries.iter().map(|entry| &entry.step).collect();
    assert!(
        matches!(steps.as_slice(), [Step::Stored { .. }, Step::Refused(_)]),
        "{steps:?}"
    );
    assert_eq!(outbox.stats().journal_lost, 0);
    assert_eq!(mock.requests_to(Endpoint::Sale).len(), 1, "sent once");
    assert_eq!(mock.requests_to(Endpoint::Lead).len(), 1, "sent once");
    outbox.shutdown(Duration::from_secs(1)).await;
}
on_each_store!(an_organic_sale_and_signup_are_journaled_with_their_rows_deletes);

/// A stop whose delete of a delivered sale the store refuses releases the row, to go again at
/// the next start, and writes the sale's answer with a later delete of its own: the answer
/// alone, so that the row's storing, journaled with its answer at the next start, is told once.
async fn a_row_released_by_a_stop_has_its_storing_told_once(store: Store) {
    let (mock, client) = stand_in().await;
    let outbox = store.open(journaled(&client)).await;
    // The sale's row alone is refused its delete.
    let (sqlite, postgres) =
        refuse_where("DELETE", "affitor_outbox", "OLD.transaction_id = 'in_1'");
    store.execute(store.dialect(&sqlite, &postgres)).await;
    outbox
        .enqueue(client.sale("in_1", 4900).click_id(mock.click("partner")))
        .await;
    wait_until("the sale delivered", A_WHILE, async || {
        outbox.stats().delivered == 1
    })
    .await;
    // Under the client's limit on an attempt (2 s).
    mock.inject(Fault::delay(Duration::from_secs(1)).on(Endpoint::Lead));
    outbox.enqueue(client.lead("cust_1")).await;
    wait_until("the lead being sent", A_WHILE, async || {
        outbox.stats().in_flight == 1
    })
    .await;
    // The stop's delete of the sale is refused; the lead's, once it is answered, is not, and
    // writes the sale's answer.
    outbox.shutdown(Duration::from_secs(10)).await;
    store.execute("DELETE FROM refusals").await;
    drop(outbox);
    let outbox = store.open(journaled(&client)).await;
    wait_until("the sale sent again and deleted", A_WHILE, async || {
        outbox.waiting().await.expect("the store answers") == 0
    })
    .await;
    assert_eq!(mock.sales().len(), 1, "recorded once");
    assert_recorded_then_repeated(&outbox, "in_1").await;
    outbox.shutdown(Duration::from_secs(1)).await;
}
on_each_store!(a_row_released_by_a_stop_has_its_storing_told_once);

/// A dead letter's journal entry that the store refuses (its row is buried all the same) is
/// counted in `OutboxStats::journal_lost`, not dropped with a line at `debug`.
async fn an_answer_the_store_cannot_journal_is_counted_lost(store: Store) {
    let (mock, client, outbox) = refusing(&store, "INSERT", "affitor_outbox_journal").await;
    mock.inject(Fault::status(400).on(Endpoint::Sale).always());
    outbox
        .enqueue(client.sale("in_1", 4900).click_id(mock.click("partner")))
        .await;
    wait_until(
        "a dead letter, its entry counted lost",
        A_WHILE,
        async || {
            outbox.backlog().await.expect("the store answers").dead == 1
                && outbox.stats().journal_lost == 1
        },
    )
    .await;
    outbox.shutdown(Duration::from_secs(1)).await;
}
on_each_store!(an_answer_the_store_cannot_journal_is_counted_lost);

/// A relay aborted at its stop's deadline (a send outlasts it) never makes the delete that a
/// delivered sale's entry waits for, the store having refused the last: the entry is counted
/// lost, not dropped with the relay.
async fn an_entry_a_relay_stopped_at_its_deadline_never_wrote_is_counted_lost(store: Store) {
    let (mock, client, outbox) = delivered_while_refused(&store, "DELETE", "affitor_outbox").await;
    mock.inject(
        Fault::delay(Duration::from_secs(30))
            .on(Endpoint::Lead)
            .always(),
    );
    wait_until("the sale's send ended", A_WHILE, async || {
        outbox.stats().in_flight == 0
    })
    .await;
    outbox.enqueue(client.lead("cust_1")).await;
    wait_until("the lead being sent", A_WHILE, async || {
        outbox.stats().in_flight == 1
    })
    .await;
    // The lead's send (held 30 s; the client gives an attempt up at 2 s) outlasts the stop.
    let (deadline, started) = (Duration::from_millis(1500), std::time::Instant::now());
    outbox.shutdown(deadline).await;
    assert!(started.elapsed() >= deadline, "the stop was not cut short");
    wait_until("the sale's entry counted lost", A_WHILE, async || {
        outbox.stats().journal_lost == 1
    })
    .await;
}
on_each_store!(an_entry_a_relay_stopped_at_its_deadline_never_wrote_is_counted_lost);

/// A relay stopped at once (a deadline of zero) while the store refuses the delete of a
/// delivered sale: wherever the sale's entry was at that moment (waiting for the next delete,
/// in a delete under way, or in one that had just ended refused), it is counted lost, once.
async fn an_entry_a_relay_stopped_at_once_held_is_counted_lost_once(store: Store) {
    let (_mock, _client, outbox) =
        delivered_while_refused(&store, "DELETE", "affitor_outbox").await;
    // A few deletes are refused meanwhile.
    tokio::time::sleep(Duration::from_millis(300)).await;
    outbox.shutdown(Duration::ZERO).await;
    wait_until("the sale's entry counted lost", A_WHILE, async || {
        outbox.stats().journal_lost == 1
    })
    .await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(outbox.stats().journal_lost, 1, "counted once");
}
on_each_store!(an_entry_a_relay_stopped_at_once_held_is_counted_lost_once);

/// The entries of the client's own sends whose write the outbox's runtime cuts short (it ends
/// while another connection holds the file) are counted lost, not dropped with their task.
#[cfg(feature = "sqlite")]
#[test]
fn entries_of_the_clients_own_sends_cut_short_by_the_runtime_are_counted_lost() {
    let runtime = tokio::runtime::Runtime::new().expect("a runtime");
    let path = crate::support::sqlite_path("inline-cut-short");
    let (outbox, _other) = runtime.block_on(async {
        let (mock, direct) = stand_in().await;
        let outbox = journaled(&direct)
            .enqueue_timeout(Duration::from_secs(30))
            .open(&path)
            .await
            .expect("the SQLite outbox opens");
        let client = direct.with_backend(outbox.clone());
        // Another connection holds the file's write lock: the journal's write waits for it.
        let other = crate::support::sqlite(&path);
        other
            .execute_batch("BEGIN IMMEDIATE")
            .expect("the write lock");
        client
            .lead("cust_1")
            .click_id(mock.click("partner"))
            .send()
            .await
            .expect("the lead sent");
        tokio::time::sleep(Duration::from_millis(300)).await;
        (outbox, other)
    });
    drop(runtime);
    let lost = outbox.stats().journal_lost;
    assert!(lost > 0, "{:?}", outbox.stats());
}

/// A relay stopped at its deadline while its delete waits for a lock (another transaction holds
/// the delivered sale's row) may not have written the sale's entry with the delete: it is
/// counted lost, not dropped with the delete.
#[cfg(feature = "postgres")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_an_entry_in_a_delete_cut_short_by_the_stop_is_counted_lost() {
    let (_mock, _client, outbox, lock) = postgres_stalled_delete("delete_cut_short").await;
    stop_cut_short(&outbox, lock).await;
    assert_eq!(outbox.stats().journal_lost, 1);
}

/// An outbox with the journal on, on a Postgres schema `name` of its own, whose relay
/// delivered a sale (answered after a second) and waits to delete it: the returned transaction
/// locks the sale's row.
#[cfg(feature = "postgres")]
async fn postgres_stalled_delete(
    name: &str,
) -> (
    MockServer,
    affitor::Client,
    Outbox,
    sqlx::Transaction<'static, sqlx::Postgres>,
) {
    let (mock, client) = stand_in().await;
    let schema = crate::support::postgres::Schema::create(name).await;
    let outbox = journaled(&client)
        .postgres(schema.pool().await)
        .await
        .expect("the Postgres outbox opens");
    let own = schema.own_pool().await;
    // The sale is answered after a second: its row is locked meanwhile.
    mock.inject(Fault::delay(Duration::from_secs(1)));
    outbox
        .enqueue(client.sale("in_1", 4900).click_id(mock.click("partner")))
        .await;
    let lock = schema.stall_the_delete(&own, "UPDATE").await;
    (mock, client, outbox, lock)
}

/// Stops `outbox` with a deadline its stalled delete outlasts, then lets go of the `lock`.
#[cfg(feature = "postgres")]
async fn stop_cut_short(outbox: &Outbox, lock: sqlx::Transaction<'static, sqlx::Postgres>) {
    let (deadline, started) = (Duration::from_millis(1500), std::time::Instant::now());
    outbox.shutdown(deadline).await;
    assert!(started.elapsed() >= deadline, "the stop was not cut short");
    lock.rollback().await.expect("the lock released");
}

/// A relay stopped at its deadline while its delete waits for a lock, and a second sale's send
/// ends meanwhile: that sale's answer, which no delete will write, is counted lost too, not
/// dropped with the relay's sends.
#[cfg(feature = "postgres")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_an_answer_that_came_while_the_stop_waited_is_counted_lost() {
    let (mock, client, outbox, lock) = postgres_stalled_delete("answer_while_stopping").await;
    // Answered within the stop's wait for the stalled delete.
    mock.inject(Fault::delay(Duration::from_millis(300)));
    outbox
        .enqueue(client.sale("in_2", 4900).click_id(mock.click("partner")))
        .await;
    wait_until("the second sale being sent", A_WHILE, async || {
        outbox.stats().in_flight == 1
    })
    .await;
    stop_cut_short(&outbox, lock).await;
    assert_eq!(mock.sales().len(), 2, "both sales answered");
    wait_until("both answers counted lost", A_WHILE, async || {
        outbox.stats().journal_lost == 2
    })
    .await;
}

/// A delete whose commit the server makes after the relay gave the call up (the store's 10 s
/// limit on a call: 6 s in the statement, 6 s in the commit, each under the statement
/// timeout): its row and its entry are committed, and the relay's retry of the rows alone
/// finds the row gone. The entry is not written again.
#[cfg(feature = "postgres")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_a_delete_committed_but_unanswered_journals_its_answer_once() {
    let store = Store::postgres(concat!(module_path!(), "::delete_committed_unanswered")).await;
    let (mock, client) = stand_in().await;
    let outbox = store.open(journaled(&client)).await;
    store
        .execute(
            "CREATE TABLE slow (at_commit BOOLEAN);
             INSERT INTO slow VALUES (false), (true);
             CREATE FUNCTION slow_insert() RETURNS trigger LANGUAGE plpgsql
             SET search_path FROM CURRENT AS $$
             BEGIN
                 IF EXISTS (SELECT 1 FROM slow WHERE NOT at_commit) THEN
                     DELETE FROM slow WHERE NOT at_commit; PERFORM pg_sleep(6);
                 END IF;
                 RETURN NEW;
             END $$;
             CREATE FUNCTION slow_commit() RETURNS trigger LANGUAGE plpgsql
             SET search_path FROM CURRENT AS $$
             BEGIN
                 IF EXISTS (SELECT 1 FROM slow WHERE at_commit) THEN
                     DELETE FROM slow WHERE at_commit; PERFORM pg_sleep(6);
                 END IF;
                 RETURN NULL;
             END $$;
             CREATE TRIGGER slow_insert BEFORE INSERT ON affitor_outbox_journal
             FOR EACH ROW EXECUTE FUNCTION slow_insert();
             CREATE CONSTRAINT TRIGGER slow_commit AFTER INSERT ON affitor_outbox_journal
             DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION slow_commit();",
        )
        .await;
    outbox
        .enqueue(client.sale("in_1", 4900).click_id(mock.click("partner")))
        .await;
    wait_until("the sale deleted", Duration::from_secs(40), async || {
        outbox.waiting().await.expect("the store answers") == 0
            && store.integers("SELECT count(*) FROM slow").await == [Some(0)]
    })
    .await;
    // Time for the relay's retry and the next delete.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let explained = explain(&outbox, "in_1").await;
    let steps: Vec<&Step> = explained.entries.iter().map(|entry| &entry.step).collect();
    assert!(
        matches!(
            steps.as_slice(),
            [Step::Stored { .. }, Step::Recorded { .. }]
        ),
        "{steps:?}"
    );
    outbox.shutdown(Duration::from_secs(1)).await;
}

/// A stop whose deadline passes while the journal's entries of a lead the client sent itself
/// wait for their write (a lock on the journal holds the insert): the write is given up at
/// once, its entries counted lost, and its connection closed (sqlx gives a graceful close 5 s),
/// not left to the store's own limit on a call (10 s), then closed.
#[cfg(feature = "postgres")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_a_stop_gives_up_the_write_of_the_clients_own_entries_at_its_deadline() {
    let (mock, direct) = stand_in().await;
    let schema = crate::support::postgres::Schema::create("inline_stop").await;
    let pool = schema.pool().await;
    let checked_out = || pool.size() as usize - pool.num_idle();
    let outbox = journaled(&direct)
        .relay(false)
        .postgres(pool.clone())
        .await
        .expect("the Postgres outbox opens");
    let own = schema.own_pool().await;
    let mut holding = own.begin().await.expect("a transaction");
    sqlx::query("LOCK TABLE affitor_outbox_journal IN SHARE MODE")
        .execute(&mut *holding)
        .await
        .expect("the lock");
    let client = direct.with_backend(outbox.clone());
    client
        .lead("cust_1")
        .click_id(mock.click("partner"))
        .send()
        .await
        .expect("the lead sent");
    wait_until(
        "the entries' write to wait for the lock",
        A_WHILE,
        async || checked_out() == 1,
    )
    .await;
    outbox.shutdown(Duration::from_millis(500)).await;
    wait_until("the write given up", Duration::from_secs(2), async || {
        outbox.stats().journal_lost > 0
    })
    .await;
    wait_until(
        "its connection closed",
        Duration::from_secs(8),
        async || checked_out() == 0,
    )
    .await;
    holding.rollback().await.expect("the lock released");
}

/// A store that refuses the relay's deletes for two seconds: the delivered sale stays held and
/// is sent once, its delete tried again less and less often (each turn of an idle relay, every
/// 50 ms here, tried it before: some 60 tries) and said once at `warn`, then the store's
/// return at `info`.
async fn a_delete_the_store_keeps_refusing_is_tried_less_and_less_often(store: Store) {
    let (logs, _guard) = test_support::Logs::capture("affitor_outbox=debug");
    let (mock, _client, outbox) = delivered_while_refused(&store, "DELETE", "affitor_outbox").await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    refusals_end(&store, &mock, &outbox).await;
    // Said by the relay's loop once it sees the delete's task end, after the row is gone.
    wait_until("the store's return said", A_WHILE, async || {
        logs.text().contains("takes the relay's deletes again")
    })
    .await;
    let text = logs.text();
    let warned = text
        .lines()
        .filter(|line| line.contains(" WARN ") && line.contains("could not delete delivered rows"))
        .count();
    let tries = warned + text.matches("the store refused a delete again").count();
    assert_eq!(warned, 1, "{text}");
    assert!((2..=10).contains(&tries), "{tries} tries:\n{text}");
    outbox.shutdown(Duration::from_secs(1)).await;
}

/// Run alone, for the logs' capture to see the relay's.
mod a_delete_the_store_keeps_refusing_is_tried_less_and_less_often {
    use crate::support::Store;

    #[cfg(feature = "sqlite")]
    #[tokio::test]
    async fn sqlite() {
        if test_support::alone!() {
            let store = Store::sqlite(module_path!());
            super::a_delete_the_store_keeps_refusing_is_tried_less_and_less_often(store).await;
        }
    }

    #[cfg(feature = "postgres")]
    #[tokio::test]
    async fn postgres() {
        if test_support::alone!() {
            let store = Store::postgres(module_path!()).await;
            super::a_delete_the_store_keeps_refusing_is_tried_less_and_less_often(store).await;
        }
    }
}

/// A retry whose keeping the store refuses (a failover, a pool timed out: here a trigger, twice)
/// goes again when its lease ends, and its journal entry with it: the row's storing is told
/// once, where the entry written before a refused reschedule was written again at each attempt.
#[cfg(feature = "postgres")]
#[tokio::test]
async fn postgres_a_retry_whose_keeping_is_refused_is_journaled_once() {
    let store = Store::postgres(module_path!()).await;
    let (mock, client) = stand_in().await;
    let outbox = store
        .open(
            journaled(&client)
                .lease(Duration::from_millis(300))
                .backoff(Duration::from_millis(10), Duration::from_millis(50)),
        )
        .await;
    store
        .execute(
            "CREATE SEQUENCE refusals;
             CREATE FUNCTION refuse_twice() RETURNS trigger LANGUAGE plpgsql
             SET search_path FROM CURRENT AS $$
             BEGIN
                 IF nextval('refusals') <= 2 THEN RAISE EXCEPTION 'refused'; END IF;
                 RETURN NEW;
             END $$;
             CREATE TRIGGER refuse_twice BEFORE UPDATE OF attempts ON affitor_outbox
             FOR EACH ROW EXECUTE FUNCTION refuse_twice();",
        )
        .await;
    mock.inject(Fault::status(503).on(Endpoint::Sale).times(2));
    outbox
        .enqueue(client.sale("in_1", 4900).click_id(mock.click("partner")))
        .await;
    wait_until("the sale delivered and explained", A_WHILE, async || {
        outbox.waiting().await.expect("the store answers") == 0
            && explain(&outbox, "in_1").await.verdict.is_credited()
    })
    .await;
    let explained = explain(&outbox, "in_1").await;
    let stored = explained
        .entries
        .iter()
        .filter(|entry| matches!(entry.step, Step::Stored { .. }))
        .count();
    assert_eq!(stored, 1, "{:?}", explained.entries);
    outbox.shutdown(Duration::from_secs(1)).await;
}
