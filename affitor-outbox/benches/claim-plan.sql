-- The plan of the Postgres claim's walk of every row it may take (`CLAIMABLE` in
-- src/store/postgres/claims.rs) when a refund is among the rows it reads: its subqueries with
-- and without `OFFSET 0` (see `transaction_order!` in src/store/rules.rs). The table and its
-- indexes are schema version 1's (migrations/postgres/0001_tables.sql).
-- 200,000 leads (the first 2,000 leased), 10 refunds behind them, fresh statistics. Without
-- `OFFSET 0` the planner hashes every live sale of the table once per claim (a sequential scan:
-- 22.7 ms against 1.0 ms for 512 rows, on Postgres 15);
-- with it, one index lookup per refund.
--
--   psql "$(bash .ci/postgres)" -f affitor-outbox/benches/claim-plan.sql | grep -E "SubPlan|e_2|Execution Time"
--
-- It works in a schema of its own, `claim_plan`, dropped first.
DROP SCHEMA IF EXISTS claim_plan CASCADE;
CREATE SCHEMA claim_plan;
SET search_path = claim_plan;
CREATE TABLE affitor_outbox (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    endpoint TEXT NOT NULL, body TEXT NOT NULL, transaction_id TEXT, other_transaction_id TEXT,
    customer_key TEXT, attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt_at TIMESTAMPTZ NOT NULL DEFAULT now(), lease_owner TEXT, lease_until TIMESTAMPTZ,
    dead_at TIMESTAMPTZ, last_error TEXT, created_at TIMESTAMPTZ NOT NULL DEFAULT now());
CREATE INDEX affitor_outbox_transaction_id ON affitor_outbox (transaction_id, id)
    WHERE transaction_id IS NOT NULL AND dead_at IS NULL;
CREATE INDEX affitor_outbox_started ON affitor_outbox (customer_key, id)
    WHERE dead_at IS NULL AND (lease_until IS NOT NULL OR attempts > 0);
CREATE INDEX affitor_outbox_unstarted ON affitor_outbox (id)
    WHERE dead_at IS NULL AND lease_until IS NULL AND attempts = 0;
CREATE INDEX affitor_outbox_live_by_customer ON affitor_outbox (customer_key)
    WHERE customer_key IS NOT NULL AND dead_at IS NULL;
INSERT INTO affitor_outbox (endpoint, body, customer_key, lease_owner, lease_until)
SELECT 'lead', repeat('x', 300), 'user_' || g, CASE WHEN g <= 2000 THEN 'relay' END,
    CASE WHEN g <= 2000 THEN now() + interval '15 s' END
FROM generate_series(1, 200000) g;
UPDATE affitor_outbox SET endpoint = 'refund', transaction_id = 'in_' || id,
    other_transaction_id = 'pi_' || id
WHERE id BETWEEN 2001 AND 2010;
ANALYZE affitor_outbox;

-- Without OFFSET 0:
EXPLAIN (ANALYZE, BUFFERS OFF, COSTS OFF)
    SELECT o.id, o.customer_key, (o.transaction_id IS NULL OR NOT EXISTS (
          SELECT 1 FROM affitor_outbox e
          WHERE e.transaction_id = o.transaction_id AND e.id <> o.id AND e.dead_at IS NULL
            AND ((e.id < o.id AND NOT (e.endpoint = 'refund' AND o.endpoint = 'sale'))
                 OR (o.endpoint = 'refund' AND e.endpoint = 'sale'))))
      AND NOT (o.endpoint = 'refund' AND o.other_transaction_id IS NOT NULL AND EXISTS (
          SELECT 1 FROM affitor_outbox e
          WHERE e.transaction_id = o.other_transaction_id AND e.endpoint = 'sale'
            AND e.dead_at IS NULL))
      AND (o.customer_key IS NULL OR NOT EXISTS (
          SELECT 1 FROM affitor_outbox e
          WHERE e.customer_key = o.customer_key AND e.id < o.id AND e.dead_at IS NULL
            AND (e.lease_until IS NOT NULL OR e.attempts > 0)))
    FROM affitor_outbox o
    WHERE o.dead_at IS NULL
      AND (o.lease_until IS NULL OR o.lease_until <= now())
      AND (o.attempts = 0 OR o.next_attempt_at <= now())
      AND o.id > 0
    ORDER BY o.id
    LIMIT 512;

-- With OFFSET 0, as the claim has it:
EXPLAIN (ANALYZE, BUFFERS OFF, COSTS OFF)
    SELECT o.id, o.customer_key, (o.transaction_id IS NULL OR NOT EXISTS (
          SELECT 1 FROM affitor_outbox e
          WHERE e.transaction_id = o.transaction_id AND e.id <> o.id AND e.dead_at IS NULL
            AND ((e.id < o.id AND NOT (e.endpoint = 'refund' AND o.endpoint = 'sale'))
                 OR (o.endpoint = 'refund' AND e.endpoint = 'sale')) OFFSET 0))
      AND NOT (o.endpoint = 'refund' AND o.other_transaction_id IS NOT NULL AND EXISTS (
          SELECT 1 FROM affitor_outbox e
          WHERE e.transaction_id = o.other_transaction_id AND e.endpoint = 'sale'
            AND e.dead_at IS NULL OFFSET 0))
      AND (o.customer_key IS NULL OR NOT EXISTS (
          SELECT 1 FROM affitor_outbox e
          WHERE e.customer_key = o.customer_key AND e.id < o.id AND e.dead_at IS NULL
            AND (e.lease_until IS NOT NULL OR e.attempts > 0) OFFSET 0))
    FROM affitor_outbox o
    WHERE o.dead_at IS NULL
      AND (o.lease_until IS NULL OR o.lease_until <= now())
      AND (o.attempts = 0 OR o.next_attempt_at <= now())
      AND o.id > 0
    ORDER BY o.id
    LIMIT 512;

DROP SCHEMA claim_plan CASCADE;
