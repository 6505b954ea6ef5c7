//! The attribution journal's rows: written by the relay as it settles outbox rows, and for a
//! client's own sends; found by their keys, with the outbox rows not answered yet; purged past
//! their retention.

use std::time::Duration;

use super::{SqliteStore, now_millis};
use crate::journal::{Answer, Columns, Found, JournalEntry, Keys, columns_row};
use crate::store::{StoreError, Unjournaled, UnjournaledRow, millis};

const INSERT: &str = "
INSERT INTO affitor_outbox_journal (at, endpoint, step, customer_key, click_id, transaction_id,
    other_transaction_id, amount, currency, detail, sale_id, commission_id, click_age_days,
    window_days, next_attempt_at, event_id, origin, stored_at)
VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18)";

/// The entries whose keys are among the JSON arrays `?1` (customers), `?2` (transactions) and
/// `?3` (click ids), or that name no customer and one of the click ids `?4`
/// ([`Keys::followed`]), with the answers to their events.
const SELECT: &str = crate::journal::search!(
    "SELECT id, event_id FROM affitor_outbox_journal
    WHERE customer_key IN (SELECT value FROM json_each(?1))
       OR transaction_id IN (SELECT value FROM json_each(?2))
       OR other_transaction_id IN (SELECT value FROM json_each(?2))
       OR click_id IN (SELECT value FROM json_each(?3))
       OR (customer_key IS NULL AND click_id IN (SELECT value FROM json_each(?4)))"
);

/// The outbox rows the journal holds no entry of (never answered: the relay journals a row's
/// storing with its first answer; or answered before the journal was turned on), or whose
/// last entry is a dead letter while the row was retried since, not answered again (its
/// attempts reset; the entry's time is its last column), that may name the customers `?1`,
/// transactions `?2` or click ids `?3`, or no customer and one of the click ids `?5` (JSON
/// arrays), `?4` the time: a click id is looked for in the body's text, and the caller checks
/// each event's keys. A row's last entry is the one
/// of its greatest id (SQLite's bare columns beside `max`): the journal has no index by row,
/// so the entries of retried rows are read in one pass, not once a row.
const UNJOURNALED: &str = concat!(
    "
WITH buried AS (
    SELECT event_id, at FROM (
        SELECT event_id, step, at, max(id) FROM affitor_outbox_journal
        WHERE event_id IN (SELECT id FROM affitor_outbox
                           WHERE dead_at IS NULL AND attempts = 0 AND last_error IS NOT NULL)
        GROUP BY event_id
    ) WHERE step = 'dead_letter'
)
SELECT ",
    super::claims::claimed_columns!("?4"),
    ", last_error, dead_at, next_attempt_at, buried.at
FROM affitor_outbox LEFT JOIN buried ON buried.event_id = affitor_outbox.id
WHERE (id NOT IN (SELECT event_id FROM affitor_outbox_journal WHERE event_id IS NOT NULL)
       OR buried.event_id IS NOT NULL)
  AND (customer_key IN (SELECT value FROM json_each(?1))
       OR transaction_id IN (SELECT value FROM json_each(?2))
       OR other_transaction_id IN (SELECT value FROM json_each(?2))
       OR EXISTS (SELECT 1 FROM json_each(?3) c WHERE instr(body, c.value) > 0)
       OR (customer_key IS NULL
           AND EXISTS (SELECT 1 FROM json_each(?5) c WHERE instr(body, c.value) > 0)))
ORDER BY id DESC LIMIT ",
    crate::journal::search_limit!()
);

/// Writes `rows` on `connection`, in the caller's transaction.
fn write(
    connection: &rusqlite::Connection,
    rows: impl IntoIterator<Item = Columns>,
) -> rusqlite::Result<()> {
    let mut insert = connection.prepare_cached(INSERT)?;
    for row in rows {
        insert.execute(rusqlite::params![
            row.at,
            row.endpoint,
            row.step,
            row.customer_key,
            row.click_id,
            row.transaction_id,
            row.other_transaction_id,
            row.amount,
            row.currency,
            row.detail,
            row.sale_id,
            row.commission_id,
            row.click_age_days,
            row.window_days,
            row.next_attempt_at,
            row.event_id,
            row.origin,
            row.stored_at,
        ])?;
    }
    Ok(())
}

/// Writes the entries of `answers` on `connection`, in the caller's transaction.
pub(super) fn write_answers(
    connection: &rusqlite::Connection,
    answers: &[Answer],
) -> rusqlite::Result<()> {
    write(connection, answers.iter().map(Answer::columns))
}

impl SqliteStore {
    /// Writes `entries` in a transaction of their own: on the writer's thread, or, after
    /// `shutdown`, on the reader's connection.
    pub(crate) async fn write_journal(&self, entries: Vec<JournalEntry>) -> Result<(), StoreError> {
        self.on_writer_or_alone(move |connection| {
            let transaction = connection.unchecked_transaction()?;
            write(
                &transaction,
                entries.iter().map(|entry| Columns::of(entry, None, None)),
            )?;
            transaction.commit()
        })
        .await
    }

    /// Writes the entries of `answers` in a transaction of their own, on the writer's thread.
    pub(crate) async fn write_answers(&self, answers: Vec<Answer>) -> Result<(), StoreError> {
        self.on_writer(move |writer| {
            let transaction = writer.connection.transaction()?;
            write_answers(&transaction, &answers)?;
            transaction.commit()
        })
        .await
    }

    /// The entries naming any of `keys`, and the answers to their events (the newest); with
    /// the outbox rows that may name any of them that the journal holds no entry of, or that
    /// were retried since its last (a dead letter): the newest. Read in one transaction, one
    /// snapshot: a row deleted with its entry's write meanwhile is in one of the two.
    pub(crate) async fn journal(
        &self,
        keys: &Keys,
    ) -> Result<(Found, Vec<Unjournaled>), StoreError> {
        let [customers, transactions, clicks, followed] = json_keys(keys);
        let (found, rows) = self
            .on_reader(move |connection| {
                let snapshot = connection.unchecked_transaction()?;
                let entries = snapshot
                    .prepare_cached(SELECT)?
                    .query_map([&customers, &transactions, &clicks, &followed], |row| {
                        Ok(columns_row!(row.get))
                    })?
                    .collect::<rusqlite::Result<Vec<_>>>()?;
                let rows = snapshot
                    .prepare_cached(UNJOURNALED)?
                    .query_map(
                        rusqlite::params![customers, transactions, clicks, now_millis(), followed],
                        |row| UnjournaledRow::try_from(row),
                    )?
                    .collect::<rusqlite::Result<Vec<_>>>()?;
                let since = snapshot
                    .prepare_cached(crate::journal::SINCE)?
                    .query_row([], |row| row.get(0))?;
                snapshot.commit()?;
                Ok((Found::of_rows(entries, since), rows))
            })
            .await?;
        // Read here, not on the reader's thread: each row's event is parsed from its JSON.
        Ok((found, rows.into_iter().map(Unjournaled::from_row).collect()))
    }

    /// Deletes the entries written at least `older_than` ago, but for those of rows still in
    /// the outbox (a dead letter's story stays whole); how many. Entries are appended in the
    /// order they are written, so the old ones come first: it reads up to the first newer one.
    pub(crate) async fn purge_journal(&self, older_than: Duration) -> Result<u64, StoreError> {
        let before = now_millis().saturating_sub(millis(older_than));
        let deleted = self
            .on_writer(move |writer| {
                writer.connection.execute(
                    "DELETE FROM affitor_outbox_journal
                     WHERE id < coalesce((SELECT id FROM affitor_outbox_journal WHERE at > ?1
                                          ORDER BY id LIMIT 1), 9223372036854775807)
                     AND at <= ?1
                     AND (event_id IS NULL OR event_id NOT IN (SELECT id FROM affitor_outbox))",
                    [before],
                )
            })
            .await?;
        Ok(u64::try_from(deleted).unwrap_or(0))
    }
}

/// `keys` as the JSON arrays the statements read with `json_each`: customers, transactions,
/// click ids, click ids followed.
fn json_keys(keys: &Keys) -> [String; 4] {
    [
        &keys.customers,
        &keys.transactions,
        &keys.clicks,
        &keys.followed,
    ]
    .map(|keys| serde_json::to_string(keys).unwrap_or_default())
}
