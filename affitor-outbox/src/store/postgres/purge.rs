//! The dead letters: listed, counted, retried and purged. A deleted row's bytes stay in the
//! table's pages until VACUUM reuses them (the crate's docs say so): nothing here to empty.

use std::time::Duration;

use super::PostgresStore;
use crate::store::{DeadLetter, millis};

/// The oldest age a purge asks Postgres for: no dead letter is older, and `now()` less an age
/// past 4713 BC is out of a timestamp's range, an error where SQLite's numbers just compare.
const A_THOUSAND_YEARS: Duration = Duration::from_secs(1000 * 365 * 24 * 3600);

impl PostgresStore {
    pub(crate) async fn dead_letters(&self) -> sqlx::Result<Vec<DeadLetter>> {
        let rows = self
            .fetch_all(self.query_as(
                "SELECT id, endpoint, transaction_id, attempts::bigint, last_error
                 FROM affitor_outbox WHERE dead_at IS NOT NULL ORDER BY id",
            ))
            .await?;
        Ok(rows.into_iter().map(DeadLetter::from_row).collect())
    }

    pub(crate) async fn retry_dead_letters(&self) -> sqlx::Result<u64> {
        self.execute(self.query(
            "UPDATE affitor_outbox SET dead_at = NULL, attempts = 0,
                 next_attempt_at = pg_catalog.now()
             WHERE dead_at IS NOT NULL",
        ))
        .await
    }

    pub(crate) async fn purge_dead_letters(&self, older_than: Duration) -> sqlx::Result<u64> {
        self.execute(
            self.query(
                "DELETE FROM affitor_outbox
                 WHERE dead_at IS NOT NULL
                   AND dead_at <= pg_catalog.now() - $1::float8 * interval '1 millisecond'",
            )
            .bind(millis(older_than.min(A_THOUSAND_YEARS)) as f64),
        )
        .await
    }
}
