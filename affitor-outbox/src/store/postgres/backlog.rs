//! What the store holds, counted for a person ([`Backlog`]), and one dead letter sent again.

use std::time::Duration;

use super::PostgresStore;
use crate::stats::Backlog;

impl PostgresStore {
    /// The rows waiting, in flight and dead, and the oldest waiting row's age (by the server's
    /// clock; a dead letter retried and not answered since, told by its attempts reset beside
    /// its last error, waits from when it was retried): one scan of the table.
    pub(crate) async fn backlog(&self) -> sqlx::Result<Backlog> {
        // A refund waiting for its sale is told by the error the relay keeps with it
        // (`crate::store::AWAITING_SALE`).
        let (waiting, in_flight, dead, oldest, awaiting_sale): (i64, i64, i64, Option<f64>, i64) =
            self.fetch_one(self.query_as(
                "SELECT pg_catalog.count(*) FILTER (WHERE dead_at IS NULL),
                    pg_catalog.count(*) FILTER (WHERE dead_at IS NULL
                        AND lease_until > pg_catalog.now()),
                    pg_catalog.count(*) FILTER (WHERE dead_at IS NOT NULL),
                    EXTRACT(EPOCH FROM pg_catalog.now()
                        - pg_catalog.min(CASE WHEN attempts = 0 AND last_error IS NOT NULL
                            THEN next_attempt_at ELSE created_at END)
                        FILTER (WHERE dead_at IS NULL
                            AND pg_catalog.isfinite(created_at)
                            AND pg_catalog.isfinite(next_attempt_at)
                            AND NOT coalesce(last_error LIKE 'waiting for its sale%', false)))::float8,
                    pg_catalog.count(*) FILTER (WHERE dead_at IS NULL
                        AND last_error LIKE 'waiting for its sale%')
                 FROM affitor_outbox",
            ))
            .await?;
        let count = |count: i64| u64::try_from(count).unwrap_or(0);
        Ok(Backlog {
            waiting: count(waiting),
            in_flight: count(in_flight),
            dead: count(dead),
            awaiting_sale: count(awaiting_sale),
            // `try_`: an age past what a `Duration` holds is none. (An infinite creation time,
            // which another program may write, is left out: Postgres before 17 cannot subtract it.)
            oldest_waiting: oldest
                .and_then(|seconds| Duration::try_from_secs_f64(seconds.max(0.0)).ok()),
        })
    }

    /// Makes the dead letter `id` due again, its attempts reset (its last error stays until
    /// its next answer: the journal knows it answered); whether it was one.
    pub(crate) async fn retry_dead_letter(&self, id: i64) -> sqlx::Result<bool> {
        let retried = self
            .execute(
                self.query(
                    "UPDATE affitor_outbox SET dead_at = NULL, attempts = 0,
                         next_attempt_at = pg_catalog.now()
                     WHERE id = $1 AND dead_at IS NOT NULL",
                )
                .bind(id),
            )
            .await?;
        Ok(retried > 0)
    }

    /// Whether a lead of `customer` is a dead letter.
    pub(crate) async fn dead_lead(&self, customer: &str) -> sqlx::Result<bool> {
        let (dead,): (bool,) = self
            .fetch_one(
                self.query_as(
                    "SELECT EXISTS (SELECT 1 FROM affitor_outbox WHERE customer_key = $1
                         AND endpoint = 'lead' AND dead_at IS NOT NULL)",
                )
                .bind(customer),
            )
            .await?;
        Ok(dead)
    }
}
