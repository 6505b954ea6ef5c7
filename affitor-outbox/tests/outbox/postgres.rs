//! The Postgres outbox: relays that share a table, leases that outlive a dead relay, a store
//! that does not answer, and a `key=value` location.

use std::time::Duration;

use affitor::client::Endpoint;
use affitor_mock::Fault;
use affitor_outbox::Outbox;

use crate::support::postgres::Schema;
use crate::support::{sale, sale_requests, stand_in, wait_until};

const A_WHILE: Duration = Duration::from_secs(30);

#[tokio::test]
async fn two_relays_deliver_each_row_once() {
    let (mock, client) = stand_in().await;
    mock.inject(Fault::delay(Duration::from_millis(20)).always());
    let schema = Schema::create("two_relays").await;
    let relay = |pool| {
        Outbox::builder(client.clone())
            .max_in_flight(8)
            .poll_interval(Duration::from_millis(10))
            .postgres(pool)
    };
    let first = relay(schema.pool().await).await.unwrap();
    let second = relay(schema.pool().await).await.unwrap();
    for n in 0..200 {
        let outbox = if n % 2 == 0 { &first } else { &second };
        outbox.enqueue(sale(&mock, &client, n)).await;
    }
    wait_until("the table to empty", A_WHILE, async || {
        first.waiting().await.unwrap() == 0
    })
    .await;

    let mut sent = sale_requests(&mock);
    assert_eq!(sent.len(), 200, "no row was sent twice");
    sent.sort();
    sent.dedup();
    assert_eq!(sent.len(), 200, "every row was sent");
    let (a, b) = (first.stats().delivered, second.stats().delivered);
    assert_eq!(a + b, 200);
    assert!(a > 0 && b > 0, "both relays delivered: {a} and {b}");
}

#[tokio::test]
async fn a_dead_relays_row_goes_again_when_its_lease_ends() {
    let (mock, client) = stand_in().await;
    let schema = Schema::create("lease").await;
    // The stand-in records the sale, then keeps the relay waiting for its answer.
    mock.inject(
        Fault::delay(Duration::from_secs(30))
            .on(Endpoint::Sale)
            .times(1),
    );

    // The first relay runs on a runtime of its own, which dies while it waits.
    let doomed = tokio::runtime::Runtime::new().unwrap();
    let pool = schema.pool().await;
    let dying_client = client.clone();
    let doomed_sale = sale(&mock, &client, 1);
    doomed.spawn(async move {
        let outbox = Outbox::builder(dying_client.clone())
            .lease(Duration::from_millis(500))
            .postgres(pool)
            .await
            .unwrap();
        outbox.enqueue(doomed_sale).await;
        std::future::pending::<()>().await;
    });
    wait_until("the sale to reach the API", A_WHILE, async || {
        mock.sales().len() == 1
    })
    .await;
    doomed.shutdown_background();

    // A second relay takes the row once the lease ends; the API answers 409: done.
    let survivor = Outbox::builder(client)
        .poll_interval(Duration::from_millis(50))
        .postgres(schema.pool().await)
        .await
        .unwrap();
    wait_until("the table to empty", A_WHILE, async || {
        survivor.waiting().await.unwrap() == 0
    })
    .await;
    assert_eq!(sale_requests(&mock), ["in_1", "in_1"]);
    assert_eq!(mock.sales().len(), 1, "recorded once");
    let stats = survivor.stats();
    assert_eq!((stats.delivered, stats.dead), (1, 0));
}

/// A write past the enqueue timeout holds its event in memory, and later events skip the store
/// at once; once the store answers (the lock gone) the probe writes them back, and the relay
/// sends them: each recorded once.
#[tokio::test]
async fn a_store_that_does_not_answer_holds_the_events_until_it_does() {
    let (mock, client) = stand_in().await;
    let schema = Schema::create("unavailable").await;
    let pool = schema.pool().await;
    let outbox = Outbox::builder(client.clone())
        .enqueue_timeout(Duration::from_millis(300))
        .postgres(pool.clone())
        .await
        .unwrap();
    // Another session holds the table: every write waits.
    let mut lock = pool.begin().await.unwrap();
    sqlx::query("LOCK TABLE affitor_outbox IN ACCESS EXCLUSIVE MODE")
        .execute(&mut *lock)
        .await
        .unwrap();

    outbox.enqueue(sale(&mock, &client, 1)).await;
    outbox.enqueue(sale(&mock, &client, 2)).await;
    let stats = outbox.stats();
    assert_eq!((stats.spilled, stats.fell_back, stats.enqueued), (2, 0, 0));
    lock.rollback().await.unwrap();
    wait_until("the sales, written back then sent", A_WHILE, async || {
        mock.sales().len() == 2
    })
    .await;
    wait_until("the store to empty", A_WHILE, async || {
        outbox.waiting().await.unwrap() == 0
    })
    .await;
    let stats = outbox.stats();
    assert_eq!(
        (stats.spilled, stats.written_back, stats.fell_back),
        (0, 2, 0)
    );
    // The first insert, given up on by its caller, may still have committed once the lock
    // went (its outcome unknown): then that sale went twice, and the API recorded it once.
    assert!(sale_requests(&mock).len() <= 3);
    assert_eq!(mock.sales().len(), 2, "each sale recorded once");
}

/// A `key=value` connection string opens Postgres, and is shown without its password.
#[tokio::test]
async fn a_key_value_location_opens() {
    let (_mock, client) = stand_in().await;
    // The test server's URL as a key=value string: postgres://user:password@host:port/db.
    let url = crate::support::postgres::url();
    let rest = url.split_once("://").unwrap().1;
    let (credentials, address) = rest.split_once('@').unwrap();
    let (user, password) = credentials.split_once(':').unwrap();
    let (host_port, database) = address.split_once('/').unwrap();
    let (host, port) = host_port.split_once(':').unwrap_or((host_port, "5432"));
    let location =
        format!("host={host} port={port} user={user} password='{password}' dbname={database}");
    // It opens the database's default schema, which other test runs share: no relay, nothing
    // written.
    let opened = Outbox::builder(client)
        .relay(false)
        .open(&location)
        .await
        .unwrap();
    let shown = opened.location();
    assert!(shown.contains("password=***"), "{shown}");
    assert!(
        !shown.contains(&format!("password='{password}'")),
        "{shown}"
    );
    opened.shutdown(Duration::from_secs(1)).await;
}

/// Postgres goes silent (a partition: bytes dropped, connections left open), then its
/// connections are reset: no enqueue waits for it past its timeout, the events written
/// meanwhile are held in memory, and once the server answers again they are written back and
/// each sale reaches the API (at least once).
#[tokio::test]
async fn a_silent_server_holds_no_request_and_loses_no_event() {
    let (mock, client) = stand_in().await;
    let schema = Schema::create("silent").await;
    let (proxy, location) = schema.through_proxy().await;
    // The pool's connects wait this long too: a connect through the proxy, TLS asked and
    // refused, then SCRAM, took more than a second on a machine running eight tests at once.
    let outbox = Outbox::builder(client.clone())
        .enqueue_timeout(Duration::from_secs(3))
        .poll_interval(Duration::from_millis(50))
        .open(&location)
        .await
        .unwrap();
    outbox.enqueue(sale(&mock, &client, 0)).await;

    proxy.go_silent();
    for n in 1..=5 {
        // A bound on liveness, not on speed: before, the first of them waited for ever.
        tokio::time::timeout(
            Duration::from_secs(10),
            outbox.enqueue(sale(&mock, &client, n)),
        )
        .await
        .expect("an enqueue returns while the server is silent");
    }
    let stats = outbox.stats();
    assert_eq!(stats.fell_back, 0, "{stats:?}");
    assert!(stats.spilled >= 5, "{stats:?}");
    tokio::time::sleep(Duration::from_secs(1)).await;
    proxy.reset();

    wait_until("every sale, written back then sent", A_WHILE, async || {
        let mut sales: Vec<String> = mock
            .sales()
            .into_iter()
            .map(|sale| sale.transaction_id)
            .collect();
        sales.sort();
        sales.dedup();
        sales.len() == 6
    })
    .await;
    wait_until("nothing held in memory", A_WHILE, async || {
        outbox.stats().spilled == 0
    })
    .await;
    assert_eq!(outbox.stats().fell_back, 0);
}

/// A client's shutdown through an outbox whose server went silent ends within its deadline:
/// the count of the rows left, asked last, is given up at the deadline (it waited for the
/// store's own limit, 10 s, past it).
#[tokio::test]
async fn a_shutdown_ends_within_its_deadline_while_the_server_is_silent() {
    let (mock, client) = stand_in().await;
    let schema = Schema::create("silent_shutdown").await;
    let (proxy, location) = schema.through_proxy().await;
    let outbox = Outbox::builder(client.clone())
        .enqueue_timeout(Duration::from_secs(3))
        .open(&location)
        .await
        .unwrap();
    outbox.enqueue(sale(&mock, &client, 0)).await;
    wait_until("the sale", A_WHILE, async || mock.sales().len() == 1).await;

    proxy.go_silent();
    let deadline = Duration::from_secs(2);
    let started = std::time::Instant::now();
    let report = client.with_backend(outbox.clone()).shutdown(deadline).await;
    // A bound on liveness, not on speed: a second for the machine's own pace.
    let took = started.elapsed();
    assert!(
        took < deadline + Duration::from_secs(1),
        "{took:?}, {report:?}"
    );
    proxy.reset();
}

/// An outbox on a pool of `max_connections` whose backends are named for `tag` (what
/// [`backends`] counts), after it delivered 20 sales.
struct NamedPool {
    mock: affitor_mock::MockServer,
    client: affitor::Client,
    schema: Schema,
    name: String,
    pool: sqlx::PgPool,
    outbox: Outbox,
}

impl NamedPool {
    async fn delivered_twenty(tag: &str, max_connections: u32) -> Self {
        use std::str::FromStr;

        use sqlx::postgres::{PgConnectOptions, PgPoolOptions};

        let (mock, client) = stand_in().await;
        let schema = Schema::create(tag).await;
        let name = format!("affitor_{tag}_{}", std::process::id());
        let options = PgConnectOptions::from_str(&crate::support::postgres::url())
            .expect("the test server's URL parses")
            .options([("search_path", schema.name())])
            .application_name(&name);
        let pool = PgPoolOptions::new()
            .max_connections(max_connections)
            .connect_with(options)
            .await
            .expect("the test server answers");
        let outbox = Outbox::builder(client.clone())
            .poll_interval(Duration::from_millis(10))
            .postgres(pool.clone())
            .await
            .expect("the outbox opens on the pool");
        for n in 0..20 {
            outbox.enqueue(sale(&mock, &client, n)).await;
        }
        // And deleted: a delete under way would hold one of the pool's connections.
        wait_until("every sale delivered and deleted", A_WHILE, async || {
            outbox.stats().delivered == 20
                && outbox.waiting().await.expect("the store answers") == 0
        })
        .await;
        Self {
            mock,
            client,
            schema,
            name,
            pool,
            outbox,
        }
    }

    /// The server's backends of this pool's name, counted on a pool of the test's own.
    async fn backends(&self) -> i64 {
        let server = self.schema.own_pool().await;
        sqlx::query_scalar("SELECT count(*) FROM pg_stat_activity WHERE application_name = $1")
            .bind(&self.name)
            .fetch_one(&server)
            .await
            .expect("pg_stat_activity is read")
    }
}

/// `shutdown` ends every task of the outbox and closes the connections they held, the outbox
/// still alive: the pool it was given closes at once (nothing of the outbox holds one of its
/// connections), and the server shows none of the outbox's left, the writer's own included.
#[tokio::test]
async fn shutdown_leaves_no_connection_of_the_outbox_open() {
    let named = NamedPool::delivered_twenty("shutdown", 4).await;

    named.outbox.shutdown(Duration::from_secs(5)).await;
    tokio::time::timeout(Duration::from_secs(5), named.pool.close())
        .await
        .expect("no task of the outbox holds a connection of its pool after shutdown");
    wait_until(
        "the outbox's connections to close",
        Duration::from_secs(5),
        async || named.backends().await == 0,
    )
    .await;
}

/// The writer's connection is one of its pool's: while the writer keeps it, the pool lends
/// the others and no more, and the server never has more of the outbox's backends than the
/// pool allows. Everything is delivered all the same.
#[tokio::test]
async fn the_outbox_holds_no_more_connections_than_its_pool_allows() {
    let named = NamedPool::delivered_twenty("budget", 3).await;
    let (mock, client, outbox) = (&named.mock, &named.client, &named.outbox);

    let mut lent = Vec::new();
    while let Ok(Ok(connection)) =
        tokio::time::timeout(Duration::from_millis(200), named.pool.acquire()).await
    {
        lent.push(connection);
        if lent.len() > 3 {
            break;
        }
    }
    assert_eq!(lent.len(), 2, "the writer keeps one of the pool's three");
    let open = named.backends().await;
    assert_eq!(open, 3, "the outbox's backends, the writer's among them");

    drop(lent);
    for n in 20..40 {
        outbox.enqueue(sale(mock, client, n)).await;
    }
    wait_until("every sale delivered", A_WHILE, async || {
        outbox.stats().delivered == 40
    })
    .await;
    outbox.shutdown(Duration::from_secs(5)).await;
}

/// A pool of one connection would be the writer's alone, and the relay would wait for it
/// forever: it is refused, with what to do.
#[tokio::test]
async fn a_pool_of_one_connection_is_refused() {
    use sqlx::postgres::PgPoolOptions;

    let (_mock, client) = stand_in().await;
    let pool = PgPoolOptions::new()
        .max_connections(1)
        .connect_lazy(&crate::support::postgres::url())
        .unwrap();
    let refused = Outbox::builder(client).postgres(pool).await.unwrap_err();
    assert!(
        refused.to_string().contains("max_connections(2)"),
        "{refused}"
    );
}
