//! What the store holds, counted for a person ([`Backlog`]), and one dead letter sent again.

use std::time::Duration;

use super::{SqliteStore, now_millis};
use crate::stats::Backlog;
use crate::store::StoreError;

impl SqliteStore {
    /// The rows waiting, in flight and dead, and the oldest waiting row's age (a dead letter
    /// retried and not answered since, told by its attempts reset beside its last error, waits
    /// from when it was retried): one scan of the table, on the reader's connection.
    pub(crate) async fn backlog(&self) -> Result<Backlog, StoreError> {
        let now = now_millis();
        // A refund waiting for its sale is told by the error the relay keeps with it
        // (`crate::store::AWAITING_SALE`).
        let (waiting, in_flight, dead, oldest, awaiting_sale) = self
            .on_reader(move |connection| {
                connection
                    .prepare_cached(
                        "SELECT count(*) FILTER (WHERE dead_at IS NULL),
                            count(*) FILTER (WHERE dead_at IS NULL AND lease_until > ?1),
                            count(*) FILTER (WHERE dead_at IS NOT NULL),
                            min(CASE WHEN attempts = 0 AND last_error IS NOT NULL
                                THEN next_attempt_at ELSE created_at END)
                                FILTER (WHERE dead_at IS NULL
                                AND NOT coalesce(last_error LIKE 'waiting for its sale%', 0)),
                            count(*) FILTER (WHERE dead_at IS NULL
                                AND last_error LIKE 'waiting for its sale%')
                         FROM affitor_outbox",
                    )?
                    .query_row([now], |row| {
                        Ok((
                            row.get::<_, i64>(0)?,
                            row.get::<_, i64>(1)?,
                            row.get::<_, i64>(2)?,
                            row.get::<_, Option<i64>>(3)?,
                            row.get::<_, i64>(4)?,
                        ))
                    })
            })
            .await?;
        let count = |count: i64| u64::try_from(count).unwrap_or(0);
        Ok(Backlog {
            waiting: count(waiting),
            in_flight: count(in_flight),
            dead: count(dead),
            awaiting_sale: count(awaiting_sale),
            oldest_waiting: oldest.map(|created| {
                Duration::from_millis(u64::try_from(now.saturating_sub(created)).unwrap_or(0))
            }),
        })
    }

    /// Makes the dead letter `id` due again, its attempts reset (its last error stays until
    /// its next answer: the journal knows it answered); whether it was one.
    pub(crate) async fn retry_dead_letter(&self, id: i64) -> Result<bool, StoreError> {
        let retried = self
            .on_writer_or_alone(move |connection| {
                connection.execute(
                    "UPDATE affitor_outbox SET dead_at = NULL, attempts = 0, next_attempt_at = ?1
                     WHERE id = ?2 AND dead_at IS NOT NULL",
                    [now_millis(), id],
                )
            })
            .await?;
        Ok(retried > 0)
    }

    /// Whether a lead of `customer` is a dead letter.
    pub(crate) async fn dead_lead(&self, customer: &str) -> Result<bool, StoreError> {
        let customer = customer.to_owned();
        self.on_reader(move |connection| {
            connection
                .prepare_cached(
                    "SELECT EXISTS (SELECT 1 FROM affitor_outbox WHERE customer_key = ?1
                         AND endpoint = 'lead' AND dead_at IS NOT NULL)",
                )?
                .query_row([customer], |row| row.get(0))
        })
        .await
    }
}
