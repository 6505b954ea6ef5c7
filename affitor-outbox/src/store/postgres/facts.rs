//! What later events need, in `affitor_outbox_facts`: each fact under its key until it expires
//! ([`affitor::webhook::PaymentState`]). Written with the row they came with, in its batch's
//! transaction (`writer.rs`), or alone; read by a webhook in one statement.

use sqlx::PgConnection;

use super::PostgresStore;
use super::schema::Tables;
use crate::store::{Facts, LINKED_REFUND_DUE, millis};

/// Keeps each `$2` under its `$1` for `$3` milliseconds, replacing what the key held: one
/// statement, each key once (Postgres refuses to update one row twice in one statement).
const UPSERT: &str = "
INSERT INTO affitor_outbox_facts (key, value, expires_at)
SELECT key, value, pg_catalog.now() + keep_for * interval '1 millisecond'
FROM UNNEST($1::text[], $2::text[], $3::float8[]) AS f (key, value, keep_for)
ON CONFLICT (key) DO UPDATE SET value = excluded.value, expires_at = excluded.expires_at";

/// Puts the waiting refunds under each `$1` that have no other id under the sale's id `$2` (in
/// the row and in its body), `$1` becoming their other id, due
/// [`LINKED_REFUND_DUE`] (`$3` ms) from now at the latest: the claim then holds them behind
/// that sale's row, and they are sent under the id Affitor knows the sale by.
const LINK_REFUNDS: &str = "
UPDATE affitor_outbox o SET transaction_id = a.sale, other_transaction_id = a.named,
    body = pg_catalog.jsonb_set(o.body::jsonb, '{transaction_id}', pg_catalog.to_jsonb(a.sale))::text,
    next_attempt_at = least(
        o.next_attempt_at, pg_catalog.now() + $3::float8 * interval '1 millisecond')
FROM UNNEST($1::text[], $2::text[]) AS a (named, sale)
WHERE o.transaction_id = a.named AND o.endpoint = 'refund' AND o.other_transaction_id IS NULL
  AND o.dead_at IS NULL";

/// Puts the refund `$1`, leased by `$2` and with no other id, under the sale the fact `$3` (a
/// [`sale_alias_key`](affitor::webhook::Fact::sale_alias_key)) names when it is kept, as
/// [`LINK_REFUNDS`] would have; the sale's id when it did.
const LINK_REFUND: &str = "
UPDATE affitor_outbox o SET other_transaction_id = o.transaction_id, transaction_id = f.value,
    body = pg_catalog.jsonb_set(o.body::jsonb, '{transaction_id}', pg_catalog.to_jsonb(f.value))::text
FROM affitor_outbox_facts f
WHERE o.id = $1 AND o.lease_owner = $2 AND o.endpoint = 'refund'
  AND o.other_transaction_id IS NULL AND f.key = $3 AND f.expires_at > pg_catalog.now()
RETURNING o.transaction_id";

/// Makes the waiting refunds of the sales `$1` due now: written behind the sale's row, they go
/// once it is delivered, not after a backoff.
const WAKE_REFUNDS: &str = "
UPDATE affitor_outbox SET next_attempt_at = pg_catalog.now()
WHERE transaction_id = ANY($1::text[]) AND endpoint = 'refund' AND dead_at IS NULL
  AND next_attempt_at > pg_catalog.now()";

/// Keeps `facts` on `connection`, in the caller's transaction: the refunds its aliases link,
/// then the upsert, in the keys' order. A key given twice keeps its last value.
pub(super) async fn keep(
    connection: &mut PgConnection,
    tables: &Tables,
    facts: &Facts,
) -> sqlx::Result<()> {
    if !facts.aliases.is_empty() {
        let (named, sales): (Vec<&str>, Vec<&str>) = facts
            .aliases
            .iter()
            .map(|(named, sale)| (named.as_str(), sale.as_str()))
            .unzip();
        tables
            .query(LINK_REFUNDS)
            .bind(named)
            .bind(sales)
            .bind(millis(LINKED_REFUND_DUE) as f64)
            .execute(&mut *connection)
            .await?;
    }
    if facts.kept.is_empty() {
        return Ok(());
    }
    let mut last = std::collections::HashMap::with_capacity(facts.kept.len());
    for (index, (key, _, _)) in facts.kept.iter().enumerate() {
        last.insert(key.as_str(), index);
    }
    let mut kept: Vec<_> = facts
        .kept
        .iter()
        .enumerate()
        .filter(|(index, (key, _, _))| last.get(key.as_str()) == Some(index))
        .map(|(_, fact)| fact)
        .collect();
    // Every transaction locks the keys it upserts in one order: two that share keys wait for
    // each other rather than deadlock (one of them would be answered 503).
    kept.sort_unstable_by(|a, b| a.0.cmp(&b.0));
    let mut keys = Vec::new();
    let mut values = Vec::new();
    let mut keep_for = Vec::new();
    for (key, value, duration) in kept {
        keys.push(key.as_str());
        values.push(value.as_str());
        keep_for.push(millis(*duration) as f64);
    }
    tables
        .query(UPSERT)
        .bind(keys)
        .bind(values)
        .bind(keep_for)
        .execute(connection)
        .await
        .map(drop)
}

/// Makes the waiting refunds of each sale in `sales` due now, in the caller's transaction.
pub(super) async fn wake_refunds(
    connection: &mut PgConnection,
    tables: &Tables,
    sales: &[&str],
) -> sqlx::Result<()> {
    if sales.is_empty() {
        return Ok(());
    }
    tables
        .query(WAKE_REFUNDS)
        .bind(sales)
        .execute(connection)
        .await
        .map(drop)
}

impl PostgresStore {
    /// Upserts every fact and links the refunds its aliases name, in one transaction, given up
    /// at the enqueue timeout, as the webhook that asks gives it up.
    pub(crate) async fn remember_all(&self, facts: &Facts) -> sqlx::Result<()> {
        self.transact_within(self.statement_timeout, async |transaction| {
            keep(transaction, &self.tables, facts).await
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
    ) -> sqlx::Result<Option<String>> {
        let query = self.query_as(LINK_REFUND).bind(id).bind(owner).bind(key);
        let linked: Vec<(String,)> = self.fetch_all(query).await?;
        Ok(linked.into_iter().next().map(|(sale,)| sale))
    }

    /// The values under each of `keys`, in their order (`None`: absent or expired), in one
    /// statement, given up at the enqueue timeout, as the webhook that asks gives it up.
    pub(crate) async fn recall_all(&self, keys: &[String]) -> sqlx::Result<Vec<Option<String>>> {
        let query = self
            .query_as(
                "SELECT f.value
                 FROM pg_catalog.unnest($1::text[]) WITH ORDINALITY AS k (key, n)
                 LEFT JOIN affitor_outbox_facts f
                     ON f.key = k.key AND f.expires_at > pg_catalog.now()
                 ORDER BY k.n",
            )
            .bind(keys);
        let values: Vec<(Option<String>,)> = self
            .transact_within(self.statement_timeout, async |transaction| {
                query.fetch_all(transaction).await
            })
            .await?;
        Ok(values.into_iter().map(|(value,)| value).collect())
    }

    pub(crate) async fn purge_facts(&self) -> sqlx::Result<u64> {
        self.execute(
            self.query("DELETE FROM affitor_outbox_facts WHERE expires_at <= pg_catalog.now()"),
        )
        .await
    }
}
