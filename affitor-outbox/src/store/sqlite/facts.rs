//! What later events need, in `affitor_outbox_facts`: each fact under its key until it expires
//! ([`affitor::client::Backend::remember`]). Written on the writer's thread, read on the
//! reader's connection (a webhook's read waits for no batch).

use std::time::Duration;

use super::{SqliteStore, now_millis};
use crate::store::{StoreError, millis};

/// Keeps `?2` under `?1` until `?3`, replacing what the key held.
const UPSERT: &str = "
INSERT INTO affitor_outbox_facts (key, value, expires_at) VALUES (?1, ?2, ?3)
ON CONFLICT (key) DO UPDATE SET value = excluded.value, expires_at = excluded.expires_at";

impl SqliteStore {
    pub(crate) async fn remember(
        &self,
        key: &str,
        value: &str,
        keep_for: Duration,
    ) -> Result<(), StoreError> {
        let fact = [(key.to_owned(), value.to_owned(), keep_for)];
        self.remember_all(&fact).await
    }

    /// Upserts every fact in one transaction, on the writer's thread: all of them, or none.
    pub(crate) async fn remember_all(
        &self,
        facts: &[(String, String, Duration)],
    ) -> Result<(), StoreError> {
        let facts = facts.to_vec();
        self.on_writer(move |writer| {
            let now = now_millis();
            let transaction = writer
                .connection
                .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
            {
                let mut upsert = transaction.prepare_cached(UPSERT)?;
                for (key, value, keep_for) in &facts {
                    upsert.execute(rusqlite::params![
                        key,
                        value,
                        now.saturating_add(millis(*keep_for))
                    ])?;
                }
            }
            transaction.commit()
        })
        .await
    }

    pub(crate) async fn recall(&self, key: &str) -> Result<Option<String>, StoreError> {
        let mut values = self.recall_all(&[key.to_owned()]).await?;
        Ok(values.pop().flatten())
    }

    /// The values under each of `keys`, in their order (`None`: absent or expired), in one
    /// statement.
    pub(crate) async fn recall_all(
        &self,
        keys: &[String],
    ) -> Result<Vec<Option<String>>, StoreError> {
        // Strings only: serializing them cannot fail.
        let keys = serde_json::to_string(keys).unwrap_or_default();
        self.on_reader(move |connection| {
            let mut recall = connection.prepare_cached(
                "SELECT f.value FROM json_each(?1) k
                 LEFT JOIN affitor_outbox_facts f ON f.key = k.value AND f.expires_at > ?2
                 ORDER BY k.key",
            )?;
            let values =
                recall.query_map(rusqlite::params![keys, now_millis()], |row| row.get(0))?;
            values.collect()
        })
        .await
    }

    pub(crate) async fn purge_facts(&self) -> Result<u64, StoreError> {
        let deleted = self
            .on_writer(|writer| {
                writer.connection.execute(
                    "DELETE FROM affitor_outbox_facts WHERE expires_at <= ?1",
                    [now_millis()],
                )
            })
            .await?;
        Ok(u64::try_from(deleted).unwrap_or(0))
    }
}
