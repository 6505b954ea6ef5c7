#![allow(clippy::unwrap_used)] // a test fails loudly on purpose

use std::time::Duration;

use super::*;
use crate::store::{Facts, Lease, NewRow};

/// The lease of the relay `relay_a`.
/// How long a batch here waits for another connection's write.
const WAIT: Duration = Duration::from_secs(2);

const RELAY_A: Lease<'static> = Lease {
    owner: "relay_a",
    duration: Duration::from_secs(15),
};

/// A new store in a folder of its own under the temp dir (`test` names it), and its writer's
/// connection.
async fn new_store(test: &str) -> (std::path::PathBuf, SqliteStore, SqliteWriter) {
    let folder = std::env::temp_dir().join(format!(
        "affitor-outbox-unit-{test}-{}-{}",
        std::process::id(),
        now_millis()
    ));
    let store = SqliteStore::open(&folder.join("outbox.db"), &Config::default())
        .await
        .unwrap();
    let writer = store.take_writer().unwrap();
    (folder, store, writer)
}

/// A new store whose writer's connection runs the store's jobs on a thread, as the outbox's
/// writer thread does.
pub(crate) async fn store_with_writer(test: &str) -> (std::path::PathBuf, SqliteStore) {
    let (folder, store, mut writer) = new_store(test).await;
    std::thread::spawn(move || {
        let (_rows, mut pending) = mpsc::channel::<()>(1);
        let (mut batch, stop) = (Vec::new(), tokio_util::sync::CancellationToken::new());
        while writer.wait(&mut pending, &mut batch, 1, &stop) {
            writer.run_jobs();
        }
    });
    (folder, store)
}

/// A lead of `customer` as the writer gets it, offered to the relay or not.
fn lead(customer: &str, offered: bool) -> NewRow {
    NewRow {
        offered,
        endpoint: "lead",
        body: format!("{{\"customer_key\":\"{customer}\"}}"),
        transaction_id: None,
        other_transaction_id: None,
        customer_key: Some(customer.to_owned()),
        facts: Facts::default(),
        click_id_source: None,
    }
}

/// The rows of `sql` on the store's reader connection, each read by `row`.
fn select<T>(
    store: &SqliteStore,
    sql: &str,
    row: impl FnMut(&rusqlite::Row<'_>) -> rusqlite::Result<T>,
) -> Vec<T> {
    let connection = store.reader.lock().unwrap();
    let mut statement = connection.prepare(sql).unwrap();
    statement
        .query_map([], row)
        .unwrap()
        .collect::<rusqlite::Result<Vec<T>>>()
        .unwrap()
}

/// The ids a batch answers are the ids its rows were written under, in the batch's order,
/// however its offered and plain rows alternate (plain rows go up to eight in one statement),
/// and each leased row is the one the store leased: the relay deletes by these ids what it
/// delivered.
#[tokio::test]
async fn a_batch_answers_the_id_and_lease_of_each_of_its_rows() {
    let (folder, store, mut writer) = new_store("ids").await;
    // 2 offered (leased: nothing waits before them), 11 plain (8 + 3), 1 offered (not leased:
    // rows wait unstarted before it), then 9 plain (8 + 1).
    let rows: Vec<NewRow> = (0..23)
        .map(|n| lead(&format!("user_{n}"), matches!(n, 0 | 1 | 13)))
        .collect();
    let batch: Vec<&NewRow> = rows.iter().collect();
    let inserted = writer.insert_batch(&batch, Some(RELAY_A), WAIT).unwrap();

    let written: Vec<(i64, String, Option<String>)> = select(
        &store,
        "SELECT id, body, lease_owner FROM affitor_outbox ORDER BY id",
        |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?)),
    );
    assert_eq!(written.len(), rows.len());
    for ((row, answer), (id, body, owner)) in rows.iter().zip(&inserted).zip(&written) {
        assert_eq!((answer.id, &row.body), (*id, body));
        assert_eq!(
            answer.leased,
            owner.as_deref() == Some("relay_a"),
            "row {id}"
        );
    }
    let leased: Vec<bool> = inserted.iter().map(|row| row.leased).collect();
    assert_eq!(leased, (0..23).map(|n| n < 2).collect::<Vec<_>>());
    let _ = std::fs::remove_dir_all(folder);
}

/// The writer releases the rows it leased to a relay that stopped meanwhile: those of `ids`
/// that the relay holds, and no other relay's.
#[tokio::test]
async fn the_writer_releases_only_the_named_rows_of_the_named_relay() {
    let (folder, store, mut writer) = new_store("release").await;
    let rows: Vec<NewRow> = (0..3).map(|n| lead(&format!("user_{n}"), true)).collect();
    let batch: Vec<&NewRow> = rows.iter().collect();
    let inserted = writer.insert_batch(&batch, Some(RELAY_A), WAIT).unwrap();
    let ids: Vec<i64> = inserted.iter().map(|row| row.id).collect();
    assert_eq!(writer.release_rows("relay_b", &ids).unwrap(), 0);
    assert_eq!(writer.release_rows("relay_a", &ids[..2]).unwrap(), 2);
    let leases: Vec<(Option<String>, Option<i64>)> = select(
        &store,
        "SELECT lease_owner, lease_until FROM affitor_outbox ORDER BY id",
        |row| Ok((row.get(0)?, row.get(1)?)),
    );
    assert_eq!(leases[0], (None, None));
    assert_eq!(leases[1], (None, None));
    assert_eq!(leases[2].0.as_deref(), Some("relay_a"));
    let _ = std::fs::remove_dir_all(folder);
}

/// The facts a row comes with are written in its batch's transaction: there once the batch
/// is, and not when the batch fails.
#[tokio::test]
async fn a_rows_facts_are_written_in_its_batchs_transaction() {
    let (folder, store, mut writer) = new_store("row-facts").await;
    let day = Duration::from_secs(24 * 3600);
    let with_facts = NewRow {
        facts: Facts {
            kept: vec![("stripe:delivery:evt_1".to_owned(), "evt_1".to_owned(), day)],
            aliases: Vec::new(),
            delivery: None,
        },
        ..lead("user_1", false)
    };
    let plain = lead("user_2", false);
    writer
        .insert_batch(&[&with_facts, &plain], None, WAIT)
        .unwrap();
    let facts: Vec<(String, String)> = select(
        &store,
        "SELECT key, value FROM affitor_outbox_facts",
        |row| Ok((row.get(0)?, row.get(1)?)),
    );
    assert_eq!(
        facts,
        [("stripe:delivery:evt_1".to_owned(), "evt_1".to_owned())]
    );

    // A batch that fails (a row the table refuses: no endpoint) keeps neither rows nor facts.
    let refused = NewRow {
        endpoint: "",
        facts: Facts {
            kept: vec![("stripe:delivery:evt_2".to_owned(), "evt_2".to_owned(), day)],
            aliases: Vec::new(),
            delivery: None,
        },
        ..lead("user_3", false)
    };
    writer
        .connection
        .execute_batch(
            "CREATE TRIGGER refuse BEFORE INSERT ON affitor_outbox WHEN NEW.endpoint = '' \
         BEGIN SELECT RAISE(ABORT, 'refused'); END",
        )
        .unwrap();
    assert!(writer.insert_batch(&[&refused], None, WAIT).is_err());
    let kept: Vec<String> = select(&store, "SELECT key FROM affitor_outbox_facts", |row| {
        row.get(0)
    });
    assert_eq!(kept, ["stripe:delivery:evt_1"]);
    let _ = std::fs::remove_dir_all(folder);
}

/// The relay's purge of the facts reads the expired ones through their index, not every fact
/// kept (a Stripe link is kept 400 days): on the writer's thread, which every request's batch
/// waits for.
#[tokio::test]
async fn the_purge_of_the_facts_reads_the_expired_ones_alone() {
    let (folder, store, _writer) = new_store("facts-purge").await;
    let plan: Vec<String> = select(
        &store,
        "EXPLAIN QUERY PLAN DELETE FROM affitor_outbox_facts WHERE expires_at <= 0",
        |row| row.get(3),
    );
    assert!(
        plan.iter().any(
            |step| step.contains("USING COVERING INDEX affitor_outbox_facts_expiry")
                || step.contains("USING INDEX affitor_outbox_facts_expiry")
        ),
        "{plan:?}"
    );
    let _ = std::fs::remove_dir_all(folder);
}

/// A probe whose work waits for a lock another connection holds (up to the busy timeout, past
/// the probe's own deadline) is the only one: the next answers at once, rather than queue a
/// blocking thread behind it, and a probe answers again once the lock is let go.
#[tokio::test]
async fn one_probe_at_a_time_waits_for_a_locked_file() {
    let (folder, store, _writer) = new_store("probe").await;
    let other = rusqlite::Connection::open(folder.join("outbox.db")).unwrap();
    other.execute_batch("BEGIN IMMEDIATE").unwrap();
    let deadline = Duration::from_millis(200);
    let first = tokio::time::timeout(deadline, store.probe()).await;
    assert!(first.is_err(), "waits for the lock: {first:?}");
    let second = tokio::time::timeout(deadline, store.probe()).await;
    assert!(
        matches!(second, Ok(Err(StoreError::TimedOut))),
        "answers at once: {second:?}"
    );
    other.execute_batch("ROLLBACK").unwrap();
    let mut answered = store.probe().await;
    for _ in 0..100 {
        if answered.is_ok() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
        answered = store.probe().await;
    }
    assert!(answered.is_ok(), "{answered:?}");
    let _ = std::fs::remove_dir_all(folder);
}
