-- affitor-outbox, Postgres schema version 1: the outbox's table and its indexes, the facts
-- table (what a payment webhook needs later, shared by the replicas), and the version table.
--
-- Run it in one transaction (every migration tool does), on the schema the outbox's
-- connections use (their search_path). It records itself in affitor_outbox_schema, so the
-- outbox sees it applied whichever tool ran it. It is safe to run again, and it brings a
-- table made by an earlier affitor-outbox, before the schema was versioned, to this
-- layout; a table already at it is only read: no lock is taken on affitor_outbox.

-- The notices of `IF NOT EXISTS` on what is already there ("... already exists, skipping"),
-- which would reach the app's logs, are left out of this transaction.
SET LOCAL client_min_messages = warning;

CREATE TABLE IF NOT EXISTS affitor_outbox_schema (
    version INTEGER PRIMARY KEY,
    name TEXT NOT NULL,
    applied_at TIMESTAMPTZ NOT NULL DEFAULT now()
);

CREATE TABLE IF NOT EXISTS affitor_outbox (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    endpoint TEXT NOT NULL,
    body TEXT NOT NULL,
    transaction_id TEXT,
    other_transaction_id TEXT,
    customer_key TEXT,
    attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    lease_owner TEXT,
    lease_until TIMESTAMPTZ,
    dead_at TIMESTAMPTZ,
    last_error TEXT,
    created_at TIMESTAMPTZ NOT NULL DEFAULT now()
);

CREATE TABLE IF NOT EXISTS affitor_outbox_facts (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL,
    expires_at TIMESTAMPTZ NOT NULL
);

-- Each change below is made only when the table lacks it: `ALTER TABLE ... IF NOT EXISTS` and
-- `CREATE INDEX IF NOT EXISTS` lock the table even when there is nothing to do.
DO $$
DECLARE
    outbox CONSTANT regclass := 'affitor_outbox'::regclass;
BEGIN
    IF NOT EXISTS (
        SELECT 1 FROM pg_attribute
        WHERE attrelid = outbox AND attname = 'other_transaction_id' AND NOT attisdropped
    ) THEN
        ALTER TABLE affitor_outbox ADD COLUMN other_transaction_id TEXT;
    END IF;
    -- The indexes of earlier layouts: every live row by customer, by transaction id (the rows
    -- without one too), and by next_attempt_at.
    DROP INDEX IF EXISTS affitor_outbox_due;
    DROP INDEX IF EXISTS affitor_outbox_transaction;
    DROP INDEX IF EXISTS affitor_outbox_customer;
    IF NOT EXISTS (
        SELECT 1 FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
        WHERE i.indrelid = outbox AND c.relname = 'affitor_outbox_transaction_id'
    ) THEN
        CREATE INDEX affitor_outbox_transaction_id
            ON affitor_outbox (transaction_id, id)
            WHERE transaction_id IS NOT NULL AND dead_at IS NULL;
    END IF;
    IF NOT EXISTS (
        SELECT 1 FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
        WHERE i.indrelid = outbox AND c.relname = 'affitor_outbox_started'
    ) THEN
        CREATE INDEX affitor_outbox_started
            ON affitor_outbox (customer_key, id)
            WHERE dead_at IS NULL AND (lease_until IS NOT NULL OR attempts > 0);
    END IF;
    IF NOT EXISTS (
        SELECT 1 FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
        WHERE i.indrelid = outbox AND c.relname = 'affitor_outbox_unstarted'
    ) THEN
        CREATE INDEX affitor_outbox_unstarted
            ON affitor_outbox (id)
            WHERE dead_at IS NULL AND lease_until IS NULL AND attempts = 0;
    END IF;
END
$$;

INSERT INTO affitor_outbox_schema (version, name) VALUES (1, 'tables')
ON CONFLICT (version) DO NOTHING;
