-- no-transaction
-- affitor-outbox, Postgres schema version 2: the live rows, indexed by customer.
--
-- Run it alone, outside a transaction (Postgres builds an index CONCURRENTLY only there; the
-- first line above tells sqlx's migrator so), on the schema the outbox's connections use. The
-- build never holds the table's writes; it waits for the transactions open on the table to end.
-- The outbox knows this version by its index, valid in the catalog: if a build fails, drop the
-- invalid index it left (`DROP INDEX CONCURRENTLY affitor_outbox_live_by_customer`) and run it
-- again.
--
-- The writer leases a new row to its own relay only when no live row of the same customer
-- exists. Version 1 indexes the started rows by customer and the unstarted ones by id alone,
-- so the writer's statement asks whether any unstarted row exists at all: a walk from the head
-- of that index. While any session of the database holds an old snapshot (a long query, a
-- backup, a transaction left open), the entries of the rows claimed or deleted since cannot be
-- removed, and that walk visits every one of them at every batch: the writes slow as the relay
-- delivers, down to a few hundred rows a second. With this index each new row's customer is
-- one lookup by key, whatever the table keeps; and since no other index's condition follows
-- from that lookup's, the planner cannot walk another index instead, whatever the table's
-- statistics say.
CREATE INDEX CONCURRENTLY IF NOT EXISTS affitor_outbox_live_by_customer
    ON affitor_outbox (customer_key)
    WHERE customer_key IS NOT NULL AND dead_at IS NULL;
