//! What both stores promise, one test body each, run on a SQLite file and on Postgres.

#![allow(clippy::unwrap_used)] // a test fails loudly on purpose

use std::time::Duration;

use super::{Facts, Store};

/// Several facts are kept in one transaction and read back in one statement, in the order
/// asked, `None` for a key never kept or expired; a key given twice keeps its last value, and
/// one kept alone is read back alone.
async fn facts_are_kept_and_recalled_together_in_the_order_asked(store: Store) {
    let day = Duration::from_secs(24 * 3600);
    let facts = [
        ("pi_1".to_owned(), "in_1".to_owned(), day),
        ("pi_2".to_owned(), "in_2".to_owned(), day),
        ("gone".to_owned(), "in_0".to_owned(), Duration::ZERO),
        ("pi_1".to_owned(), "in_1b".to_owned(), day),
    ];
    let facts = Facts {
        kept: facts.to_vec(),
        aliases: Vec::new(),
        delivery: None,
    };
    store.remember_all(&facts).await.unwrap();
    let alone = Facts {
        kept: vec![("pi_3".to_owned(), "in_3".to_owned(), day)],
        aliases: Vec::new(),
        delivery: None,
    };
    store.remember_all(&alone).await.unwrap();

    let keys = ["pi_3", "missing", "pi_1", "gone", "pi_2", "pi_1"].map(str::to_owned);
    let values = store.recall_all(&keys).await.unwrap();
    assert_eq!(
        values,
        [
            Some("in_3".to_owned()),
            None,
            Some("in_1b".to_owned()),
            None,
            Some("in_2".to_owned()),
            Some("in_1b".to_owned()),
        ]
    );
    let recall = async |key: &str| store.recall_all(&[key.to_owned()]).await.unwrap();
    assert_eq!(recall("pi_2").await, [Some("in_2".to_owned())]);
    assert_eq!(recall("gone").await, [None]);
    assert_eq!(
        store.recall_all(&[]).await.unwrap(),
        Vec::<Option<String>>::new()
    );
    assert_eq!(store.purge_facts().await.unwrap(), 1);
}

#[cfg(feature = "sqlite")]
#[tokio::test]
async fn facts_are_kept_and_recalled_together_in_the_order_asked_on_sqlite() {
    let (folder, store) = super::sqlite::tests::store_with_writer("facts").await;
    facts_are_kept_and_recalled_together_in_the_order_asked(Store::Sqlite(store)).await;
    let _ = std::fs::remove_dir_all(folder);
}

#[cfg(feature = "postgres")]
#[tokio::test]
async fn facts_are_kept_and_recalled_together_in_the_order_asked_on_postgres() {
    let schema = super::postgres::tests::TestSchema::create("facts").await;
    facts_are_kept_and_recalled_together_in_the_order_asked(Store::Postgres(schema.store().await))
        .await;
    schema.remove().await;
}
