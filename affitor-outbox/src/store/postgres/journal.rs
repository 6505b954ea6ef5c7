//! The attribution journal's rows: written by the relay as it settles outbox rows, and for a
//! client's own sends; found by their keys, with the outbox rows not answered yet; purged past
//! their retention.

use std::time::Duration;

use sqlx::postgres::{PgArguments, PgRow};
use sqlx::query::Query;
use sqlx::{PgConnection, Postgres, Row as _};

use super::PostgresStore;
use super::schema::Tables;
use crate::journal::{Answer, Columns, ColumnsRow, Found, JournalEntry, Keys, columns_row};
use crate::store::{Unjournaled, UnjournaledRow, millis, now_millis};

/// Entries written together, as eighteen arrays of one length.
const INSERT: &str =
    "INSERT INTO affitor_outbox_journal (at, endpoint, step, customer_key, click_id,
    transaction_id, other_transaction_id, amount, currency, detail, sale_id, commission_id,
    click_age_days, window_days, next_attempt_at, event_id, origin, stored_at)
SELECT * FROM UNNEST($1::int8[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[],
    $7::text[], $8::int8[], $9::text[], $10::text[], $11::int8[], $12::int8[], $13::int8[],
    $14::int8[], $15::int8[], $16::int8[], $17::text[], $18::int8[])";

/// Deletes the delivered rows `$19` that `$20` still leases and writes the entries of their
/// answers (and those of rows deleted before, which a refused write left for this one), and
/// answers their ids: one statement, so that the journal adds no round trip to a delivery. As
/// [`Answer::of_deleted`] has it, the answer of a row another relay holds goes alone, without
/// the row's storing (its amount, currency, origin and `stored_at`), and that of a row asked
/// that is gone, not at all.
pub(super) const COMPLETE: &str = "WITH delivered AS (
    DELETE FROM affitor_outbox WHERE id = ANY($19) AND lease_owner = $20 RETURNING id
), taken AS (
    SELECT id FROM affitor_outbox WHERE id = ANY($19) AND lease_owner IS DISTINCT FROM $20
), answers AS (
    SELECT e.*, e.event_id IN (SELECT id FROM taken) AS alone
    FROM UNNEST($1::int8[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[],
        $7::text[], $8::int8[], $9::text[], $10::text[], $11::int8[], $12::int8[], $13::int8[],
        $14::int8[], $15::int8[], $16::int8[], $17::text[], $18::int8[])
    AS e (at, endpoint, step, customer_key, click_id, transaction_id, other_transaction_id,
        amount, currency, detail, sale_id, commission_id, click_age_days, window_days,
        next_attempt_at, event_id, origin, stored_at)
    WHERE NOT e.event_id = ANY($19)
       OR e.event_id IN (SELECT id FROM delivered) OR e.event_id IN (SELECT id FROM taken)
), journaled AS (
    INSERT INTO affitor_outbox_journal (at, endpoint, step, customer_key, click_id,
        transaction_id, other_transaction_id, amount, currency, detail, sale_id, commission_id,
        click_age_days, window_days, next_attempt_at, event_id, origin, stored_at)
    SELECT at, endpoint, step, customer_key, click_id, transaction_id, other_transaction_id,
        CASE WHEN alone THEN NULL ELSE amount END, CASE WHEN alone THEN NULL ELSE currency END,
        detail, sale_id, commission_id, click_age_days, window_days, next_attempt_at, event_id,
        CASE WHEN alone THEN NULL ELSE origin END, CASE WHEN alone THEN NULL ELSE stored_at END
    FROM answers
)
SELECT id FROM delivered";

/// The entries naming any of the customers `$1`, transactions `$2` and click ids `$3`, or
/// naming no customer and one of the click ids `$4` ([`Keys::followed`]), with the answers to
/// their events.
const SELECT: &str = crate::journal::search!(
    "SELECT id, event_id FROM affitor_outbox_journal
    WHERE customer_key = ANY($1) OR transaction_id = ANY($2) OR other_transaction_id = ANY($2)
       OR click_id = ANY($3) OR (customer_key IS NULL AND click_id = ANY($4))"
);

/// The outbox rows the journal holds no entry of (never answered: the relay journals a row's
/// storing with its first answer; or answered before the journal was turned on), or whose
/// last entry is a dead letter while the row was retried since, not answered again (its
/// attempts reset; the entry's time is its last column), that may name the customers `$1`,
/// transactions `$2` or click ids `$3`, or no customer and one of the click ids `$4`: a click
/// id is looked for in the body's text, and the caller checks each event's keys.
const UNJOURNALED: &str = concat!(
    "
SELECT ",
    super::claims::claimed_columns!(),
    ",
    last_error, (extract(epoch FROM dead_at) * 1000)::bigint,
    (extract(epoch FROM next_attempt_at) * 1000)::bigint,
    answered.at
FROM affitor_outbox o
LEFT JOIN LATERAL (
    SELECT j.step, j.at FROM affitor_outbox_journal j WHERE j.event_id = o.id
    ORDER BY j.id DESC LIMIT 1
) answered ON true
WHERE (answered.step IS NULL
       OR (o.dead_at IS NULL AND o.attempts = 0 AND o.last_error IS NOT NULL
           AND answered.step = 'dead_letter'))
  AND (customer_key = ANY($1) OR transaction_id = ANY($2) OR other_transaction_id = ANY($2)
       OR EXISTS (SELECT 1 FROM UNNEST($3::text[]) c WHERE strpos(body, c) > 0)
       OR (customer_key IS NULL
           AND EXISTS (SELECT 1 FROM UNNEST($4::text[]) c WHERE strpos(body, c) > 0)))
ORDER BY id DESC LIMIT ",
    crate::journal::search_limit!()
);

impl sqlx::FromRow<'_, PgRow> for ColumnsRow {
    fn from_row(row: &PgRow) -> sqlx::Result<Self> {
        Ok(columns_row!(row.try_get))
    }
}

/// Writes `rows` on `connection`, in the caller's transaction: one statement, into the table
/// in `tables`.
async fn write(
    connection: &mut PgConnection,
    tables: &Tables,
    rows: impl Iterator<Item = Columns>,
) -> sqlx::Result<()> {
    let rows: Vec<Columns> = rows.collect();
    if rows.is_empty() {
        return Ok(());
    }
    bind(tables.query(INSERT), &rows)
        .execute(connection)
        .await
        .map(drop)
}

/// `query` ([`insert!`]'s) with `rows` bound to its first eighteen parameters.
pub(super) fn bind<'q>(
    query: Query<'q, Postgres, PgArguments>,
    rows: &[Columns],
) -> Query<'q, Postgres, PgArguments> {
    macro_rules! column {
        ($name:ident) => {
            rows.iter().map(|row| row.$name.clone()).collect::<Vec<_>>()
        };
    }
    query
        .bind(column!(at))
        .bind(column!(endpoint))
        .bind(column!(step))
        .bind(column!(customer_key))
        .bind(column!(click_id))
        .bind(column!(transaction_id))
        .bind(column!(other_transaction_id))
        .bind(column!(amount))
        .bind(column!(currency))
        .bind(column!(detail))
        .bind(column!(sale_id))
        .bind(column!(commission_id))
        .bind(column!(click_age_days))
        .bind(column!(window_days))
        .bind(column!(next_attempt_at))
        .bind(column!(event_id))
        .bind(column!(origin))
        .bind(column!(stored_at))
}

/// Writes the entries of `answers` on `connection`, in the caller's transaction.
pub(super) async fn write_answers(
    connection: &mut PgConnection,
    tables: &Tables,
    answers: &[Answer],
) -> sqlx::Result<()> {
    write(connection, tables, answers.iter().map(Answer::columns)).await
}

impl PostgresStore {
    /// Writes `entries` in a transaction of their own.
    pub(crate) async fn write_journal(&self, entries: Vec<JournalEntry>) -> sqlx::Result<()> {
        let rows = entries.iter().map(|entry| Columns::of(entry, None, None));
        self.transact(async |transaction| write(transaction, &self.tables, rows).await)
            .await
    }

    /// Writes the entries of `answers` in a transaction of their own.
    pub(crate) async fn write_answers(&self, answers: Vec<Answer>) -> sqlx::Result<()> {
        self.transact(async |transaction| write_answers(transaction, &self.tables, &answers).await)
            .await
    }

    /// The entries naming any of `keys`, and the answers to their events (the newest); with
    /// the outbox rows that may name any of them that the journal holds no entry of, or that
    /// were retried since its last (a dead letter): the newest. Read in one snapshot: a row
    /// deleted with its entry's write meanwhile is in one of the two.
    pub(crate) async fn journal(&self, keys: &Keys) -> sqlx::Result<(Found, Vec<Unjournaled>)> {
        let (entries, rows, since) = self
            .in_snapshot(async |transaction| {
                let entries: Vec<ColumnsRow> = self
                    .query_as(SELECT)
                    .bind(&keys.customers)
                    .bind(&keys.transactions)
                    .bind(&keys.clicks)
                    .bind(&keys.followed)
                    .fetch_all(&mut *transaction)
                    .await?;
                let rows: Vec<UnjournaledRow> = self
                    .query_as(UNJOURNALED)
                    .bind(&keys.customers)
                    .bind(&keys.transactions)
                    .bind(&keys.clicks)
                    .bind(&keys.followed)
                    .fetch_all(&mut *transaction)
                    .await?;
                let (since,): (Option<i64>,) = self
                    .query_as(crate::journal::SINCE)
                    .fetch_one(&mut *transaction)
                    .await?;
                Ok((entries, rows, since))
            })
            .await?;
        let rows = rows.into_iter().map(Unjournaled::from_row).collect();
        Ok((Found::of_rows(entries, since), rows))
    }

    /// Deletes the entries written at least `older_than` ago, but for those of rows still in
    /// the outbox (a dead letter's story stays whole); how many. Entries are written in about
    /// the order of `at`, so the old ones come first: it reads, in the order of `id`, up to
    /// the first newer one.
    pub(crate) async fn purge_journal(&self, older_than: Duration) -> sqlx::Result<u64> {
        let now = now_millis();
        self.execute(
            self.query(
                "DELETE FROM affitor_outbox_journal
                 WHERE id < coalesce((SELECT id FROM affitor_outbox_journal WHERE at > $1
                                      ORDER BY id LIMIT 1), 9223372036854775807)
                 AND at <= $1
                 AND (event_id IS NULL OR event_id NOT IN (SELECT id FROM affitor_outbox))",
            )
            .bind(now.saturating_sub(millis(older_than))),
        )
        .await
    }
}
