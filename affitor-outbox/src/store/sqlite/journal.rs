//! The attribution journal's rows: written in a batch's transaction or by the relay, found by
//! their keys, and purged past their retention.

use std::time::Duration;

use super::{SqliteStore, now_millis};
use crate::journal::{Columns, JournalEntry, Keys};
use crate::store::{StoreError, millis};

/// The columns an entry is written to and read from, in [`Columns`]'s order.
macro_rules! columns {
    () => {
        "at, endpoint, step, customer_key, click_id, transaction_id, amount, currency, detail, \
         sale_id, commission_id, click_age_days, window_days, next_attempt_at"
    };
}

const INSERT: &str = concat!(
    "INSERT INTO affitor_outbox_journal (",
    columns!(),
    ") VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14)"
);

/// Writes `entries` on `connection`, in the caller's transaction.
pub(super) fn write<'a>(
    connection: &rusqlite::Connection,
    entries: impl IntoIterator<Item = &'a JournalEntry>,
) -> rusqlite::Result<()> {
    let mut insert = connection.prepare_cached(INSERT)?;
    for entry in entries {
        insert.execute(Columns::from(entry).0)?;
    }
    Ok(())
}

impl SqliteStore {
    /// Writes `entries` in a transaction of their own, on the writer's thread.
    pub(crate) async fn write_journal(&self, entries: Vec<JournalEntry>) -> Result<(), StoreError> {
        self.on_writer(move |writer| {
            let transaction = writer.connection.transaction()?;
            write(&transaction, &entries)?;
            transaction.commit()
        })
        .await
    }

    /// The entries naming any of `keys`, oldest first (at most 1,000).
    pub(crate) async fn journal(&self, keys: &Keys) -> Result<Vec<JournalEntry>, StoreError> {
        let json = |keys: &[String]| serde_json::to_string(keys).unwrap_or_default();
        let (customers, transactions, clicks) = (
            json(&keys.customers),
            json(&keys.transactions),
            json(&keys.clicks),
        );
        self.on_reader(move |connection| {
            let mut select = connection.prepare_cached(concat!(
                "SELECT ",
                columns!(),
                " FROM affitor_outbox_journal
                 WHERE customer_key IN (SELECT value FROM json_each(?1))
                    OR transaction_id IN (SELECT value FROM json_each(?2))
                    OR click_id IN (SELECT value FROM json_each(?3))
                 ORDER BY id LIMIT 1000"
            ))?;
            let rows = select.query_map([customers, transactions, clicks], |row| {
                Ok(Columns((
                    row.get(0)?,
                    row.get(1)?,
                    row.get(2)?,
                    row.get(3)?,
                    row.get(4)?,
                    row.get(5)?,
                    row.get(6)?,
                    row.get(7)?,
                    row.get(8)?,
                    row.get(9)?,
                    row.get(10)?,
                    row.get(11)?,
                    row.get(12)?,
                    row.get(13)?,
                )))
            })?;
            rows.map(|row| row.map(Columns::entry))
                .filter_map(Result::transpose)
                .collect()
        })
        .await
    }

    /// Deletes the entries written at least `older_than` ago; how many.
    pub(crate) async fn purge_journal(&self, older_than: Duration) -> Result<u64, StoreError> {
        let before = now_millis().saturating_sub(millis(older_than));
        let deleted = self
            .on_writer(move |writer| {
                writer.connection.execute(
                    "DELETE FROM affitor_outbox_journal WHERE at <= ?1",
                    [before],
                )
            })
            .await?;
        Ok(u64::try_from(deleted).unwrap_or(0))
    }
}
