-- affitor-outbox, Postgres schema version 1: the outbox's table and its indexes, the facts
-- table (what a payment webhook needs later, shared by the replicas), and the version table.
--
-- Run it in one transaction (every migration tool does), on the schema the outbox's
-- connections use (their search_path). It records itself in affitor_outbox_schema, so the
-- outbox sees it applied whichever tool ran it. Running it again changes nothing.

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
    click_id_source TEXT,
    -- The key of the fact that knows the payment delivery the row came from: forgotten with
    -- the row's death, so that the provider's resend is stored again.
    delivery_key TEXT,
    attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    lease_owner TEXT,
    lease_until TIMESTAMPTZ,
    dead_at TIMESTAMPTZ,
    last_error TEXT,
    created_at TIMESTAMPTZ NOT NULL DEFAULT now()
);

-- The live rows of each transaction, in order: what a row of the same transaction waits for.
CREATE INDEX IF NOT EXISTS affitor_outbox_transaction_id
    ON affitor_outbox (transaction_id, id)
    WHERE transaction_id IS NOT NULL AND dead_at IS NULL;

-- The rows whose delivery has started (leased or tried), by customer: what a claim looks up
-- for each row it reads.
CREATE INDEX IF NOT EXISTS affitor_outbox_started
    ON affitor_outbox (customer_key, id)
    WHERE dead_at IS NULL AND (lease_until IS NOT NULL OR attempts > 0);

-- The rows never tried nor leased, oldest first: what a claim walks.
CREATE INDEX IF NOT EXISTS affitor_outbox_unstarted
    ON affitor_outbox (id)
    WHERE dead_at IS NULL AND lease_until IS NULL AND attempts = 0;

-- Every live row, by customer: what the writer looks up for each new row it may lease to its
-- relay. A lookup by key reads the customer's own entries alone, whatever entries of delivered
-- rows an old snapshot (a long query, a backup) keeps in the other indexes.
CREATE INDEX IF NOT EXISTS affitor_outbox_live_by_customer
    ON affitor_outbox (customer_key)
    WHERE customer_key IS NOT NULL AND dead_at IS NULL;

CREATE TABLE IF NOT EXISTS affitor_outbox_facts (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL,
    expires_at TIMESTAMPTZ NOT NULL
);

-- The facts by expiry: the relay's purge reads the expired ones alone, not every fact kept
-- (links live 400 days).
CREATE INDEX IF NOT EXISTS affitor_outbox_facts_expiry ON affitor_outbox_facts (expires_at);

-- The attribution journal (when the app turns it on): each event stored and each answer, by
-- its keys, for `affitor explain`; the relay deletes the entries past their retention.
CREATE TABLE IF NOT EXISTS affitor_outbox_journal (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at BIGINT NOT NULL,
    endpoint TEXT NOT NULL,
    step TEXT NOT NULL,
    customer_key TEXT,
    click_id TEXT,
    transaction_id TEXT,
    -- A refund's other id, which its sale may have been tracked under.
    other_transaction_id TEXT,
    amount BIGINT,
    currency TEXT,
    detail TEXT,
    sale_id BIGINT,
    commission_id BIGINT,
    click_age_days BIGINT,
    window_days BIGINT,
    next_attempt_at BIGINT,
    -- The outbox row of the event an entry tells of: its answers are read with the entry of
    -- its storing, which the first holds.
    event_id BIGINT,
    -- A captured click's consent, or where a stored or sent event's click id was found.
    origin TEXT,
    -- On the entry of a row's first answer, when the row was stored: one entry for both.
    stored_at BIGINT
);
-- No index on `at`: the purge reads the oldest entries in the order they were written (`id`),
-- up to the first newer one, rather than have an index kept up at every entry for it alone.
CREATE INDEX IF NOT EXISTS affitor_outbox_journal_event
    ON affitor_outbox_journal (event_id) WHERE event_id IS NOT NULL;
CREATE INDEX IF NOT EXISTS affitor_outbox_journal_customer
    ON affitor_outbox_journal (customer_key) WHERE customer_key IS NOT NULL;
CREATE INDEX IF NOT EXISTS affitor_outbox_journal_transaction
    ON affitor_outbox_journal (transaction_id) WHERE transaction_id IS NOT NULL;
CREATE INDEX IF NOT EXISTS affitor_outbox_journal_other_transaction
    ON affitor_outbox_journal (other_transaction_id) WHERE other_transaction_id IS NOT NULL;
CREATE INDEX IF NOT EXISTS affitor_outbox_journal_click
    ON affitor_outbox_journal (click_id) WHERE click_id IS NOT NULL;

INSERT INTO affitor_outbox_schema (version, name) VALUES (1, 'tables')
ON CONFLICT (version) DO NOTHING;
