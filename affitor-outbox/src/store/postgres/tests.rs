#![allow(clippy::unwrap_used)] // a test fails loudly on purpose

use std::process::Command;
use std::str::FromStr;
use std::time::Duration;

use sqlx::ConnectOptions as _;
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions, PgSslMode};

use super::{PostgresStore, connect_options};
use crate::config::Config;
use crate::location::Location;

/// The test server: `AFFITOR_TEST_POSTGRES`, or the one `.ci/postgres` starts.
fn url() -> String {
    std::env::var("AFFITOR_TEST_POSTGRES")
        .ok()
        .filter(|url| !url.trim().is_empty())
        .unwrap_or_else(|| "postgres://affitor:affitor@127.0.0.1:5432/affitor_test".into())
}

/// A schema of its own for one test, made anew on the test server, and dropped by
/// [`TestSchema::remove`].
pub(crate) struct TestSchema {
    admin: PgPool,
    name: String,
    /// A pool on the schema.
    pub(crate) pool: PgPool,
}

impl TestSchema {
    /// The schema `name` and the process's id, made anew.
    pub(crate) async fn create(name: &str) -> Self {
        let name = format!("outbox_unit_{name}_{}", std::process::id());
        let admin = PgPoolOptions::new()
            .acquire_timeout(Duration::from_secs(3))
            .connect(&url())
            .await
            .unwrap_or_else(|error| {
                panic!(
                    "this test needs a Postgres server at AFFITOR_TEST_POSTGRES ({error}): run \
                     `bash .ci/test`, or `export AFFITOR_TEST_POSTGRES=$(bash .ci/postgres)`"
                )
            });
        sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
            "DROP SCHEMA IF EXISTS {name} CASCADE; CREATE SCHEMA {name};"
        )))
        .execute(&admin)
        .await
        .unwrap();
        let options = PgConnectOptions::from_str(&url())
            .unwrap()
            .options([("search_path", name.as_str())]);
        let pool = PgPoolOptions::new().connect_with(options).await.unwrap();
        Self { admin, name, pool }
    }

    /// A store on the schema, its tables made.
    pub(crate) async fn store(&self) -> PostgresStore {
        PostgresStore::open(self.pool.clone(), &Config::default())
            .await
            .unwrap()
    }

    pub(crate) async fn remove(self) {
        self.pool.close().await;
        sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
            "DROP SCHEMA {} CASCADE",
            self.name
        )))
        .execute(&self.admin)
        .await
        .unwrap();
    }
}

/// The writer's statement looks a new row's customer up by key. While another session holds
/// an old snapshot (a long query, a backup, a transaction left open), the entries of the rows
/// claimed and deleted since stay in the table's indexes; a batch reads none of them. A walk of
/// the unstarted rows' index from its head would visit every such entry: 5,000 rows claimed
/// and delivered would cost each batch 5,000 visits to the table.
#[tokio::test]
async fn a_batch_reads_none_of_the_entries_an_old_snapshot_keeps() {
    let schema = TestSchema::create("held_snapshot").await;
    let pool = &schema.pool;
    let _store = schema.store().await;
    let mut held = pool.begin().await.unwrap();
    sqlx::query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
        .execute(&mut *held)
        .await
        .unwrap();
    let _: i64 = sqlx::query_scalar("SELECT count(*) FROM affitor_outbox")
        .fetch_one(&mut *held)
        .await
        .unwrap();
    // 5,000 leads written unstarted, then claimed and delivered, as a relay leaves them.
    for statement in [
        "INSERT INTO affitor_outbox (endpoint, body, customer_key)
         SELECT 'lead', '{}', 'user_' || n FROM generate_series(1, 5000) n",
        "UPDATE affitor_outbox SET lease_owner = 'relay', lease_until = now() + interval '1 minute'",
        "DELETE FROM affitor_outbox",
    ] {
        sqlx::query(statement).execute(pool).await.unwrap();
    }

    // A batch of one lead offered to the relay, measured and rolled back.
    let mut batch = pool.begin().await.unwrap();
    let plan: Vec<String> = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
        "EXPLAIN (ANALYZE, BUFFERS, COSTS OFF) {}",
        super::writer::INSERT_BATCH
    )))
    .bind(vec!["lead"])
    .bind(vec!["{}"])
    .bind(vec![None::<&str>])
    .bind(vec![None::<&str>])
    .bind(vec![Some("user_new")])
    .bind(vec![None::<&str>])
    .bind(vec![None::<&str>])
    .bind(vec![true])
    .bind("relay")
    .bind(15_000.0_f64)
    .fetch_all(&mut *batch)
    .await
    .unwrap();
    batch.rollback().await.unwrap();
    held.rollback().await.unwrap();
    let plan = plan.join("\n");
    // The rows the index scans visited in the table, to check what their entries point to.
    let visited: u64 = plan
        .lines()
        .filter_map(|line| line.trim_start().strip_prefix("Heap Fetches: "))
        .map(|count| count.parse::<u64>().unwrap())
        .sum();
    println!("{plan}");
    assert!(
        plan.contains("Index Only Scan"),
        "the batch's lookups use no index:\n{plan}"
    );
    assert!(
        visited < 50,
        "the batch visited {visited} rows, the entries the snapshot keeps:\n{plan}"
    );
    schema.remove().await;
}

/// Two deliveries whose facts share keys, written at once in opposite orders (two replicas'
/// webhooks, or a webhook beside a relay's batch): each waits for the other, neither is
/// refused for a deadlock (a provider answered 503 for nothing).
#[tokio::test]
async fn facts_written_at_once_in_opposite_orders_wait_rather_than_deadlock() {
    let schema = TestSchema::create("facts_order").await;
    let store = std::sync::Arc::new(schema.store().await);
    let keys: Vec<String> = (0..64)
        .map(|n| format!("stripe:invoice-of:pi_{n:02}"))
        .collect();
    let facts = |keys: &mut dyn Iterator<Item = &String>| crate::store::Facts {
        kept: keys
            .map(|key| (key.clone(), "in_1".to_owned(), Duration::from_secs(60)))
            .collect(),
        aliases: Vec::new(),
        delivery: None,
    };
    let forward = facts(&mut keys.iter());
    let backward = facts(&mut keys.iter().rev());
    for round in 0..40 {
        let (a, b) = tokio::join!(store.remember_all(&forward), store.remember_all(&backward));
        assert!(a.is_ok() && b.is_ok(), "round {round}: {a:?}, {b:?}");
    }
    schema.remove().await;
}

fn options(location: &str) -> PgConnectOptions {
    match Location::parse(location) {
        Ok(Location::Postgres(postgres)) => connect_options(&postgres).unwrap(),
        other => panic!("{location}: {other:?}"),
    }
}

fn password(options: &PgConnectOptions) -> Option<String> {
    options.to_url_lossy().password().map(str::to_owned)
}

/// The TLS settings are read from either form of a Postgres location.
#[test]
fn sslmode_is_read_from_a_url_and_from_key_values() {
    for location in [
        "postgres://app@db/shop?sslmode=verify-full&sslrootcert=/etc/ssl/ca.pem",
        "POSTGRESQL://app@db/shop?sslmode=verify-full",
        "host=db dbname=shop sslmode=verify-full sslrootcert='/etc/ssl/ca.pem'",
    ] {
        let options = options(location);
        assert!(
            matches!(options.get_ssl_mode(), PgSslMode::VerifyFull),
            "{location}"
        );
    }
    let options = options("host=db sslmode=require");
    assert!(matches!(options.get_ssl_mode(), PgSslMode::Require));
    // An sslmode libpq does not know is refused when parsed, never reaching sqlx.
    assert!(matches!(
        Location::parse("host=db sslmode=sometimes"),
        Err(crate::OutboxError::InvalidLocation { .. })
    ));
}

/// The server cancels a call's statements when the outbox stops waiting for them.
#[test]
fn a_call_s_statement_timeout_is_its_wait() {
    let millis = super::ANSWER_WITHIN.as_millis();
    for mode in ["", super::SNAPSHOT] {
        let begin = super::begin(mode, super::ANSWER_WITHIN * 2).0;
        assert!(
            begin.contains(&format!("statement_timeout = '{millis}ms'")),
            "{begin}"
        );
    }
    let snapshot = super::begin(super::SNAPSHOT, super::ANSWER_WITHIN).0;
    assert!(snapshot.starts_with("BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY;"));
}

/// The variable that tells the test binary, run again, that it is the child.
const CHILD: &str = "AFFITOR_OUTBOX_TEST_PGPASS_CHILD";

/// Values reach sqlx as written, whatever they hold.
#[test]
fn a_connection_string_s_values_reach_sqlx_as_written() {
    let options = options(
        r"host=db port=6432 user='a p+p' password='p&w=%2B\'d' dbname=my/shop sslmode=require",
    );
    assert_eq!(options.get_host(), "db");
    assert_eq!(options.get_port(), 6432);
    assert_eq!(options.get_username(), "a p+p");
    assert_eq!(options.get_database(), Some("my/shop"));
    let debug = format!("{options:?}");
    assert!(debug.contains(r#"password: Some("p&w=%2B'd")"#), "{debug}");
    assert!(matches!(
        options.get_ssl_mode(),
        sqlx::postgres::PgSslMode::Require
    ));
}

/// libpq reads `.pgpass` last, with the location's own host, port, database and user: a
/// `key=value` location never takes the line of the environment's host (`PGHOST`). Run in
/// a child process of this test binary, its environment set there: no other test sees it.
#[test]
fn pgpass_is_read_with_the_location_s_own_host_and_user() {
    if std::env::var_os(CHILD).is_some() {
        for location in [
            "host=prod-db user=app dbname=shop",
            "postgres://app@prod-db/shop",
        ] {
            let read = password(&options(location));
            assert_eq!(read.as_deref(), Some("prodpassword"), "{location}");
        }
        let given = options("host=prod-db user=app dbname=shop password=given");
        assert_eq!(password(&given).as_deref(), Some("given"));
        return;
    }
    let dir = std::env::temp_dir().join(format!("affitor-outbox-pgpass-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("pgpass");
    std::fs::write(
        &file,
        "localhost:*:*:*:localpassword\nprod-db:5432:shop:app:prodpassword\n",
    )
    .unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let owner_only = std::fs::Permissions::from_mode(0o600);
        std::fs::set_permissions(&file, owner_only).unwrap();
    }
    let test = "store::postgres::tests::pgpass_is_read_with_the_location_s_own_host_and_user";
    let output = Command::new(std::env::current_exe().unwrap())
        .args([test, "--exact", "--nocapture", "--test-threads=1"])
        .env(CHILD, "1")
        .env("PGPASSFILE", &file)
        .env("PGHOST", "localhost")
        .env("PGPORT", "5432")
        .env("PGUSER", "app")
        .env_remove("PGPASSWORD")
        .env_remove("PGHOSTADDR")
        .env_remove("PGDATABASE")
        .env_remove("PGSSLMODE")
        .output()
        .unwrap();
    std::fs::remove_dir_all(&dir).unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success() && stdout.contains("test result: ok. 1 passed"),
        "the child did not pass ({}):\n{stdout}\n{stderr}",
        output.status
    );
}
