//! Short leases, renewed while a send is in flight: two relays on one store, sends that take
//! many times the lease, each sale sent once, and the lease of a row being sent moving forward;
//! a row leased under a relay's name that the relay does not hold runs out however busy it is.

use std::time::Duration;

use affitor::Client;
use affitor_mock::{Fault, MockServer};
use affitor_outbox::{Outbox, OutboxBuilder};

use crate::support::{Store, on_each_store, quick_policy, sale, sale_requests, wait_until};

const A_WHILE: Duration = Duration::from_secs(60);
const SALES: usize = 10;
/// A lease several times shorter than a send, and long enough that a commit's fsync on a busy
/// CI disk (the writer's lease starts before it) or a stalled scheduler does not outlast it.
const LEASE: Duration = Duration::from_millis(1500);
const SEND: Duration = Duration::from_secs(5);

/// A stand-in that answers every request after [`SEND`], and a client that waits for it.
async fn slow_stand_in() -> (MockServer, Client) {
    let (mock, client) = patient_stand_in().await;
    mock.inject(Fault::delay(SEND).always());
    (mock, client)
}

/// A stand-in, and a client that waits 30 s for each answer (and for its retries).
async fn patient_stand_in() -> (MockServer, Client) {
    let mock = MockServer::start().await.expect("the stand-in API starts");
    let client = mock
        .client_builder()
        .timeout(Duration::from_secs(30))
        .retry(quick_policy().deadline(Duration::from_secs(30)))
        .build()
        .expect("a client of the stand-in");
    (mock, client)
}

fn builder(client: &Client) -> OutboxBuilder {
    Outbox::builder(client.clone())
        .lease(LEASE)
        .poll_interval(Duration::from_millis(20))
}

/// Two relays share the store; sales are written and sent while the lease of the rows being
/// sent (the largest `lease_until`, `None` when no row is leased) must move forward during the
/// sends; each sale reaches the stand-in once.
async fn sends_longer_than_the_lease_keep_it_and_go_once(store: Store) {
    let (mock, client) = slow_stand_in().await;
    let first = store.open(builder(&client)).await;
    let second = store.open(builder(&client)).await;
    let lease_until = async || -> Option<i64> {
        let sql = store.dialect(
            "SELECT max(lease_until) FROM affitor_outbox WHERE lease_owner IS NOT NULL",
            "SELECT (extract(epoch FROM max(lease_until)) * 1000)::bigint FROM affitor_outbox
             WHERE lease_owner IS NOT NULL",
        );
        store.integers(sql).await[0]
    };
    for n in 0..SALES {
        first.enqueue(sale(&mock, &client, n)).await;
    }
    // A send under way: its lease is renewed while it lasts, many leases long.
    let mut seen = None;
    wait_until("a row being sent", A_WHILE, async || {
        seen = lease_until().await;
        seen.is_some()
    })
    .await;
    let seen = seen.expect("a lease was seen");
    wait_until("the lease renewed", A_WHILE, async || {
        lease_until().await.is_some_and(|until| until > seen)
    })
    .await;
    wait_until("every sale delivered", A_WHILE, async || {
        first.waiting().await.expect("the store answers") == 0
    })
    .await;
    let mut requested = sale_requests(&mock);
    requested.sort();
    let mut expected: Vec<String> = (0..SALES).map(|n| format!("in_{n}")).collect();
    expected.sort();
    assert_eq!(requested, expected, "each sale sent once, by one relay");
    let (a, b) = (first.stats(), second.stats());
    assert_eq!(a.delivered + b.delivered, SALES as u64, "{a:?} {b:?}");
}
on_each_store!(
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    sends_longer_than_the_lease_keep_it_and_go_once
);

/// How long the first sale's send takes in
/// [`a_row_leased_but_not_held_runs_out_while_the_relay_is_busy`]: the relay is busy (renewing)
/// all that time.
const LONG_SEND: Duration = Duration::from_secs(10);

/// A copy of the sale `in_0`'s row, leased under the same relay's name, which does not hold it
/// (as a batch leases a row whose answer the writer never gets): `in_orphan`, of no customer.
const ORPHAN: &str = "
INSERT INTO affitor_outbox (endpoint, body, transaction_id, other_transaction_id, customer_key,
    attempts, next_attempt_at, lease_owner, lease_until, created_at)
SELECT endpoint, replace(body, 'in_0', 'in_orphan'), 'in_orphan', NULL, NULL, 0,
    next_attempt_at, lease_owner, lease_until, created_at
FROM affitor_outbox WHERE transaction_id = 'in_0'";

/// A relay busy sending a sale (one send of [`LONG_SEND`], its lease renewed) finds a second
/// row leased under its name that it does not hold: that row's lease is not renewed with the
/// others, and it is sent once it runs out, long before the first send ends.
async fn a_row_leased_but_not_held_runs_out_while_the_relay_is_busy(store: Store) {
    let (mock, client) = patient_stand_in().await;
    let outbox = store.open(builder(&client)).await;
    mock.inject(Fault::delay(LONG_SEND));
    outbox.enqueue(sale(&mock, &client, 0)).await;
    wait_until("the first sale being sent", A_WHILE, async || {
        outbox.stats().in_flight == 1
    })
    .await;
    store.execute(ORPHAN).await;
    // Delivered while the first sale is still being sent.
    wait_until("the orphan delivered", LONG_SEND / 2, async || {
        let stats = outbox.stats();
        stats.delivered == 1 && stats.in_flight == 1
    })
    .await;
    assert_eq!(sale_requests(&mock), ["in_0", "in_orphan"]);
    outbox.shutdown(Duration::ZERO).await;
}
on_each_store!(
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    a_row_leased_but_not_held_runs_out_while_the_relay_is_busy
);

/// A sale sent by a relay on `store` with its journal on (answered after a second, then as
/// `answer` says), whose lease another relay takes for an hour while it is sent (its lease ran
/// out while this relay's process was paused, say): once its send has ended.
async fn taken_while_sent(store: &Store, answer: Option<Fault>) -> (MockServer, Outbox) {
    let (mock, client) = patient_stand_in().await;
    // A lease the send does not outlast however busy the machine: the answer comes before
    // this relay would stop the send for a lease it could not renew.
    let builder = builder(&client).lease(Duration::from_secs(20));
    let outbox = store
        .open(builder.journal(affitor_outbox::journal::DEFAULT_RETENTION))
        .await;
    mock.inject(Fault::delay(Duration::from_secs(1)).times(1));
    if let Some(answer) = answer {
        mock.inject(answer);
    }
    outbox.enqueue(sale(&mock, &client, 0)).await;
    wait_until("the sale being sent", A_WHILE, async || {
        outbox.stats().in_flight == 1
    })
    .await;
    store
        .execute(store.dialect(
            "UPDATE affitor_outbox
             SET lease_owner = 'another relay', lease_until = lease_until + 3600000",
            "UPDATE affitor_outbox
             SET lease_owner = 'another relay', lease_until = lease_until + interval '1 hour'",
        ))
        .await;
    wait_until("the send ended", A_WHILE, async || {
        outbox.stats().in_flight == 0
    })
    .await;
    (mock, outbox)
}

/// A sale refused (400) once another relay took its lease while it was being sent (its lease
/// ran out while this relay's process was paused, say): the row is the other relay's, so this
/// relay neither keeps it as a dead letter nor counts one, and the journal tells of no dead
/// letter the row does not hold.
async fn an_answer_after_the_lease_went_to_another_relay_keeps_nothing(store: Store) {
    let (mock, outbox) = taken_while_sent(&store, Some(Fault::status(400).times(1))).await;
    assert_eq!(sale_requests(&mock), ["in_0"]);
    let stats = outbox.stats();
    assert_eq!((stats.dead, stats.rescheduled), (0, 0), "{stats:?}");
    let dead_letters = outbox.dead_letters().await.expect("the store answers");
    assert!(dead_letters.is_empty(), "{dead_letters:?}");
    let attempts = store
        .integers("SELECT CAST(attempts AS BIGINT) FROM affitor_outbox")
        .await;
    assert_eq!(attempts, [Some(0)], "the other relay's row, untouched");
    let explained = crate::journal::explain(&outbox, "in_0").await;
    assert!(
        !explained
            .entries
            .iter()
            .any(|entry| matches!(entry.step, affitor_outbox::journal::Step::DeadLetter(_))),
        "{explained:?}"
    );
    outbox.shutdown(Duration::ZERO).await;
}
on_each_store!(
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    an_answer_after_the_lease_went_to_another_relay_keeps_nothing
);

/// A sale delivered once another relay took its lease while it was being sent: the row is the
/// other relay's, which sends it again and settles it, so this relay does not delete it. What
/// the API answered this relay is journaled all the same, without the row's storing (the other
/// relay journals that with its own answer): the sale reads credited, where the other relay's
/// `already recorded` alone read as a sale recorded before the journal was on.
async fn a_delivery_after_the_lease_went_to_another_relay_leaves_its_row(store: Store) {
    let (mock, outbox) = taken_while_sent(&store, None).await;
    let answers_alone = async || {
        store
            .integers("SELECT count(*) FROM affitor_outbox_journal WHERE stored_at IS NULL")
            .await
    };
    wait_until("the answer journaled", A_WHILE, async || {
        answers_alone().await == [Some(1)]
    })
    .await;
    assert_eq!(sale_requests(&mock), ["in_0"]);
    let held = store
        .integers("SELECT count(*) FROM affitor_outbox WHERE lease_owner = 'another relay'")
        .await;
    assert_eq!(held, [Some(1)], "the other relay's row, left to it");
    let journaled = store
        .integers("SELECT count(*) FROM affitor_outbox_journal")
        .await;
    assert_eq!(
        journaled,
        [Some(1)],
        "the answer alone, not the row's storing"
    );
    // The other relay's send, played by this one once the lease is let go.
    store
        .execute("UPDATE affitor_outbox SET lease_owner = NULL, lease_until = NULL")
        .await;
    wait_until("sent again and deleted", A_WHILE, async || {
        outbox.waiting().await.expect("the store answers") == 0
            && crate::journal::explain(&outbox, "in_0").await.entries.len() == 3
    })
    .await;
    assert_eq!(sale_requests(&mock), ["in_0", "in_0"]);
    crate::journal::assert_recorded_then_repeated(&outbox, "in_0").await;
    assert_eq!(outbox.stats().journal_lost, 0);
    outbox.shutdown(Duration::ZERO).await;
}
on_each_store!(
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    a_delivery_after_the_lease_went_to_another_relay_leaves_its_row
);

/// A batch that waited for a table lock longer than the lease: its rows' leases run from when
/// they were written, not from when the batch's transaction began, so the relay it hands them
/// to is the only one to send them.
#[cfg(feature = "postgres")]
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_row_handed_over_after_a_long_lock_is_sent_by_one_relay() {
    use crate::support::postgres::Schema;

    let (mock, client) = crate::support::stand_in().await;
    mock.inject(
        Fault::delay(Duration::from_secs(3))
            .on(affitor::client::Endpoint::Sale)
            .always(),
    );
    let schema = Schema::create("lease_after_long_lock").await;
    let lease = Duration::from_millis(600);
    let first = Outbox::builder(client.clone())
        .lease(lease)
        .enqueue_timeout(Duration::from_secs(5))
        .postgres(schema.pool().await)
        .await
        .expect("relay A opens");
    let second = Outbox::builder(client.clone())
        .lease(lease)
        .poll_interval(Duration::from_millis(20))
        .postgres(schema.pool().await)
        .await
        .expect("relay B opens");
    let own = schema.own_pool().await;
    let mut lock = own.begin().await.expect("a transaction");
    sqlx::raw_sql("LOCK TABLE affitor_outbox IN ACCESS EXCLUSIVE MODE")
        .execute(&mut *lock)
        .await
        .expect("locked");
    let unlock = tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(1500)).await;
        lock.rollback().await.expect("unlocked");
    });
    first.enqueue(sale(&mock, &client, 1)).await;
    unlock.await.expect("the lock is let go");
    assert_eq!(
        first.stats().enqueued,
        1,
        "written after the lock: {:?}",
        first.stats()
    );
    wait_until("the sale sent", A_WHILE, async || {
        !sale_requests(&mock).is_empty()
    })
    .await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let sent = sale_requests(&mock);
    first.shutdown(Duration::from_secs(5)).await;
    second.shutdown(Duration::from_secs(5)).await;
    assert_eq!(sent, ["in_1"], "one row, sent by one relay");
}

#[cfg(feature = "postgres")]
/// Makes every insert into the table wait for the advisory lock `key`, and takes it: held until
/// the connection answered unlocks it.
async fn hold_inserts(pool: &sqlx::PgPool, key: i64) -> sqlx::pool::PoolConnection<sqlx::Postgres> {
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
        "CREATE FUNCTION hold_inserts() RETURNS trigger LANGUAGE plpgsql AS $$
         BEGIN PERFORM pg_advisory_xact_lock({key}); RETURN NEW; END $$;
         CREATE TRIGGER hold_inserts BEFORE INSERT ON affitor_outbox
         FOR EACH ROW EXECUTE FUNCTION hold_inserts();"
    )))
    .execute(pool)
    .await
    .expect("the trigger");
    let mut holder = pool.acquire().await.expect("a connection");
    sqlx::query("SELECT pg_advisory_lock($1)")
        .bind(key)
        .execute(&mut *holder)
        .await
        .expect("the lock");
    holder
}

/// A row the writer leased to its relay as it wrote it, but committed only after that relay
/// stopped and released its leases, is released by the writer: the next relay sends it at
/// once, not when its lease (an hour here) ends. A trigger on the table holds the insert, its
/// lease already chosen, until the relay has stopped: it waits for a lock the test holds.
#[cfg(feature = "postgres")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_a_row_written_for_a_relay_that_stopped_goes_again_at_once() {
    const AN_HOUR: Duration = Duration::from_secs(3600);
    let (mock, client) = patient_stand_in().await;
    let schema = crate::support::postgres::Schema::create("stopped_relay").await;
    let pool = schema.pool().await;
    let outbox = Outbox::builder(client.clone())
        .lease(AN_HOUR)
        .postgres(pool.clone())
        .await
        .unwrap();
    // This process's id: no other test process takes the same advisory lock.
    let key = i64::from(std::process::id());
    let mut holder = hold_inserts(&pool, key).await;
    // The relay runs and has room: the sale is offered to it, leased as it is written.
    let writing = tokio::spawn({
        let (outbox, event) = (outbox.clone(), sale(&mock, &client, 1));
        async move { outbox.enqueue(event).await }
    });
    wait_until("the insert to wait for the lock", A_WHILE, async || {
        sqlx::query_scalar::<_, i64>(
            "SELECT count(*) FROM pg_locks
             WHERE locktype = 'advisory' AND objid::bigint = $1 AND NOT granted",
        )
        .bind(key)
        .fetch_one(&pool)
        .await
        .unwrap()
            == 1
    })
    .await;
    // The relay stops, and releases its leases before the row is committed. `shutdown` then
    // waits for the writer's batch under way: the lock goes while it does (the relay's stop,
    // with nothing in flight, takes milliseconds).
    let stopping = tokio::spawn({
        let outbox = outbox.clone();
        async move { outbox.shutdown(Duration::from_secs(5)).await }
    });
    tokio::time::sleep(Duration::from_millis(500)).await;
    sqlx::query("SELECT pg_advisory_unlock($1)")
        .bind(key)
        .execute(&mut *holder)
        .await
        .unwrap();
    writing.await.unwrap();
    stopping.await.unwrap();
    assert_eq!(outbox.stats().fell_back, 0);
    assert!(mock.sales().is_empty(), "the stopped relay sent nothing");
    let next = Outbox::builder(client.clone())
        .lease(AN_HOUR)
        .postgres(pool.clone())
        .await
        .unwrap();
    wait_until(
        "the sale delivered by the next relay",
        A_WHILE,
        async || next.waiting().await.unwrap() == 0,
    )
    .await;
    assert_eq!(sale_requests(&mock), ["in_1"]);
    next.shutdown(Duration::from_secs(5)).await;
}

/// A delivered sale whose delete waits several leases long (another transaction holds its row
/// `FOR KEY SHARE`, which a delete waits for and a lease's renewal does not) is not claimed and
/// sent again by its own relay meanwhile: it stays held, its lease renewed, until its delete
/// ends.
#[cfg(feature = "postgres")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_a_delivered_row_whose_delete_waits_is_not_sent_again() {
    let (mock, client) = patient_stand_in().await;
    let schema = crate::support::postgres::Schema::create("delete_waits").await;
    let outbox = builder(&client)
        .postgres(schema.pool().await)
        .await
        .unwrap();
    let own = schema.own_pool().await;
    // The sale is answered after a second: its row is locked meanwhile.
    mock.inject(Fault::delay(Duration::from_secs(1)));
    outbox.enqueue(sale(&mock, &client, 0)).await;
    // A delete waits for a `KEY SHARE` lock; the lease's renewal does not.
    let lock = schema.stall_the_delete(&own, "KEY SHARE").await;
    // Four leases pass, within the delete's statement timeout (10 s).
    tokio::time::sleep(LEASE * 4).await;
    lock.rollback().await.unwrap();
    wait_until("the sale deleted", A_WHILE, async || {
        outbox.waiting().await.expect("the store answers") == 0
    })
    .await;
    assert_eq!(sale_requests(&mock), ["in_0"], "sent once");
    outbox.shutdown(Duration::from_secs(5)).await;
}

/// Relay A retries a sale the API answers 503 when its link to Postgres goes silent (a
/// partition, no reset): its renewals go unanswered, so once its lease may have run out it
/// stops sending the row, which relay B, which still reaches Postgres, takes and sends.
#[cfg(feature = "postgres")]
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_relay_cut_off_from_its_store_stops_sending_once_its_lease_runs_out() {
    use affitor::client::Endpoint;
    use affitor_mock::quick_retries;

    use crate::support::postgres::Schema;
    use crate::support::{client_with, quick_policy};

    let mock_a = MockServer::start().await.expect("the stand-in API starts");
    let mock_b = MockServer::start().await.expect("the stand-in API starts");
    let patient = quick_retries()
        .max_attempts(1000)
        .base_delay(Duration::from_millis(100))
        .max_delay(Duration::from_millis(200))
        .deadline(Duration::from_secs(20));
    let client_a = client_with(&mock_a, patient);
    let client_b = client_with(&mock_b, quick_policy());
    mock_a.inject(Fault::status(503).on(Endpoint::Sale).always());

    let schema = Schema::create("lease_cut_off").await;
    let (proxy, location) = schema.through_proxy().await;
    let lease = Duration::from_millis(900);
    let relay_a = Outbox::builder(client_a.clone())
        .lease(lease)
        .enqueue_timeout(Duration::from_secs(2))
        .open(&location)
        .await
        .expect("relay A opens through the proxy");
    relay_a
        .enqueue(client_a.sale("in_1", 100).customer_key("user_1"))
        .await;
    wait_until("A's first attempt", A_WHILE, async || {
        !mock_a.requests_to(Endpoint::Sale).is_empty()
    })
    .await;
    let relay_b = Outbox::builder(client_b)
        .lease(lease)
        .poll_interval(Duration::from_millis(50))
        .postgres(schema.pool().await)
        .await
        .expect("relay B opens");

    proxy.go_silent();
    wait_until("B to send the row", A_WHILE, async || {
        !mock_b.requests_to(Endpoint::Sale).is_empty()
    })
    .await;
    let by_a = mock_a.requests_to(Endpoint::Sale).len();
    // Time for A's retries (every 100 to 200 ms) to show, were it still sending.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let by_a_since = mock_a.requests_to(Endpoint::Sale).len() - by_a;
    proxy.reset();
    relay_b.shutdown(Duration::from_secs(2)).await;
    relay_a.shutdown(Duration::from_secs(2)).await;
    assert_eq!(
        by_a_since, 0,
        "A sent the row B holds {by_a_since} times since B sent it"
    );
}
