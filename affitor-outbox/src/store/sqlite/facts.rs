//! What later events need, in `affitor_outbox_facts`: each fact under its key until it expires
//! ([`affitor::webhook::PaymentState`]). Written on the writer's thread (with the row they
//! came with, in its batch's transaction), read on the reader's connection (a webhook's read
//! waits for no batch).

use super::{SqliteStore, now_millis};
use crate::store::{Facts, StoreError, millis};

/// Keeps `?2` under `?1` until `?3`, replacing what the key held.
const UPSERT: &str = "
INSERT INTO affitor_outbox_facts (key, value, expires_at) VALUES (?1, ?2, ?3)
ON CONFLICT (key) DO UPDATE SET value = excluded.value, expires_at = excluded.expires_at";

/// Puts the waiting refunds under `?1` that have no other id under the sale's id `?2` (in the
/// row and in its body), `?1` becoming their other id, due at `?3` at the latest
/// ([`LINKED_REFUND_DUE`](crate::store::LINKED_REFUND_DUE) from now): the claim then holds
/// them behind that sale's row, and they are sent under the id Affitor knows the sale by.
const LINK_REFUNDS: &str = "
UPDATE affitor_outbox SET transaction_id = ?2, other_transaction_id = ?1,
    body = json_set(body, '$.transaction_id', ?2), next_attempt_at = min(next_attempt_at, ?3)
WHERE transaction_id = ?1 AND endpoint = 'refund' AND other_transaction_id IS NULL
  AND dead_at IS NULL";

/// Puts the refund `?1`, leased by `?2` and with no other id, under the sale the fact `?3` (a
/// [`sale_alias_key`](affitor::webhook::Fact::sale_alias_key)) names when it is kept at `?4`,
/// as [`LINK_REFUNDS`] would have; the sale's id when it did.
const LINK_REFUND: &str = "
UPDATE affitor_outbox SET other_transaction_id = transaction_id, transaction_id = f.value,
    body = json_set(body, '$.transaction_id', f.value)
FROM (SELECT value FROM affitor_outbox_facts WHERE key = ?3 AND expires_at > ?4) f
WHERE id = ?1 AND lease_owner = ?2 AND endpoint = 'refund' AND other_transaction_id IS NULL
RETURNING transaction_id";

/// Makes the waiting refunds of the sale `?1` due at `?2` at the latest: written behind the
/// sale's row, they go once it is delivered, not after a backoff.
const WAKE_REFUNDS: &str = "
UPDATE affitor_outbox SET next_attempt_at = ?2
WHERE transaction_id = ?1 AND endpoint = 'refund' AND dead_at IS NULL AND next_attempt_at > ?2";

/// Keeps `facts` in `transaction` (the caller commits): the upserts, then the refunds their
/// aliases link.
pub(super) fn keep(
    transaction: &rusqlite::Transaction<'_>,
    facts: &Facts,
    now: i64,
) -> rusqlite::Result<()> {
    let mut upsert = transaction.prepare_cached(UPSERT)?;
    for (key, value, keep_for) in &facts.kept {
        upsert.execute(rusqlite::params![
            key,
            value,
            now.saturating_add(millis(*keep_for))
        ])?;
    }
    let mut link = transaction.prepare_cached(LINK_REFUNDS)?;
    for (named, sale) in &facts.aliases {
        let due = now.saturating_add(millis(crate::store::LINKED_REFUND_DUE));
        link.execute(rusqlite::params![named, sale, due])?;
    }
    Ok(())
}

/// Makes the waiting refunds of each sale in `sales` due now, in `transaction`.
pub(super) fn wake_refunds<'a>(
    transaction: &rusqlite::Transaction<'_>,
    sales: impl IntoIterator<Item = &'a str>,
    now: i64,
) -> rusqlite::Result<()> {
    let mut wake = transaction.prepare_cached(WAKE_REFUNDS)?;
    for sale in sales {
        wake.execute(rusqlite::params![sale, now])?;
    }
    Ok(())
}

impl SqliteStore {
    /// Upserts every fact and links the refunds its aliases name, in one transaction, on the
    /// writer's thread: all of it, or none.
    pub(crate) async fn remember_all(&self, facts: &Facts) -> Result<(), StoreError> {
        let facts = facts.clone();
        self.on_writer(move |writer| {
            let transaction = writer
                .connection
                .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
            keep(&transaction, &facts, now_millis())?;
            transaction.commit()
        })
        .await
    }

    /// Puts the refund `id`, leased by `owner`, under the sale its alias fact `key` names, if
    /// it is kept: the sale's id, or `None` when there is no such fact (or the refund has an
    /// other id already).
    pub(crate) async fn link_refund(
        &self,
        id: i64,
        owner: &str,
        key: &str,
    ) -> Result<Option<String>, StoreError> {
        let (owner, key) = (owner.to_owned(), key.to_owned());
        self.on_writer(move |writer| {
            use rusqlite::OptionalExtension as _;
            writer
                .connection
                .prepare_cached(LINK_REFUND)?
                .query_row(rusqlite::params![id, owner, key, now_millis()], |row| {
                    row.get(0)
                })
                .optional()
        })
        .await
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
