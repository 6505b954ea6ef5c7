#!/usr/bin/env bash
# Where the attribution journal's cost goes on Postgres: pgbench, CLIENTS clients, SECS seconds a
# run, each transaction one lead written as the outbox's writer writes a batch of one (the
# rows' `INSERT … FROM UNNEST`, then the entries' in a second statement), in the tables of the
# outbox's own migration, on the Postgres that `.ci/postgres` starts, in a schema of its own.
# Prints the transactions a second of each shape, alternating, twice:
#   rows                  the row alone (the journal off)
#   rows, entries         the row, then its entry (the journal on, as the writer does it)
#   one statement         the entry folded into the row's statement (a data-modifying CTE)
#   rows, entries, no key index   the journal's customer, transaction and click indexes dropped
# Measured in BENCHMARKS.md ("The attribution journal's cost").
#
#   bash tests/load/journal-postgres.sh [CLIENTS] [SECS]     # default 16 clients, 6 s
#
# Needs pgbench and psql (Debian: apt-get install postgresql-client postgresql-contrib).
set -euo pipefail
clients=${1:-16}
secs=${2:-6}
here=$(cd "$(dirname "$0")" && pwd)
url=$(bash "$here/../../.ci/postgres")
schema=journal_bench_$$
work=$(mktemp -d)
trap 'psql "$url" -qc "DROP SCHEMA IF EXISTS $schema CASCADE" >/dev/null 2>&1; rm -rf "$work"' EXIT
psql "$url" -qc "CREATE SCHEMA $schema"
{ echo "BEGIN; SET LOCAL search_path = $schema;"
  cat "$here/../../affitor-outbox/migrations/postgres/0001_tables.sql"
  echo "COMMIT;"; } | psql "$url" -q -v ON_ERROR_STOP=1 >/dev/null

row="INSERT INTO $schema.affitor_outbox (endpoint, body, transaction_id, other_transaction_id, customer_key)
SELECT * FROM UNNEST(ARRAY['lead']::text[], ARRAY['{\"customer_key\":\"c\"}']::text[],
    ARRAY[NULL]::text[], ARRAY[NULL]::text[], ARRAY['cust_' || :client_id || '_' || random()]::text[])
RETURNING id"
entry_columns="at, endpoint, step, customer_key, click_id, transaction_id, amount, currency, detail,
    sale_id, commission_id, click_age_days, window_days, next_attempt_at, event_id, origin"
entry_arrays="ARRAY[1700000000000]::int8[], ARRAY['lead']::text[], ARRAY['stored']::text[],
    ARRAY['cust_' || random()]::text[], ARRAY[md5(random()::text)]::text[], ARRAY[NULL]::text[],
    ARRAY[NULL]::int8[], ARRAY[NULL]::text[], ARRAY[NULL]::text[], ARRAY[NULL]::int8[],
    ARRAY[NULL]::int8[], ARRAY[NULL]::int8[], ARRAY[NULL]::int8[], ARRAY[NULL]::int8[]"
printf 'BEGIN;\n%s;\nCOMMIT;\n' "$row" | tr '\n' ' ' | sed 's/; /;\n/g' > "$work/rows.sql"
printf 'BEGIN;\n%s;\nINSERT INTO %s.affitor_outbox_journal (%s) SELECT *, 1, %s FROM UNNEST(%s);\nCOMMIT;\n' \
    "$row" "$schema" "$entry_columns" "'a cookie'" "$entry_arrays" | tr '\n' ' ' | sed 's/; /;\n/g' > "$work/entries.sql"
printf 'BEGIN;\nWITH r AS (%s), j AS (INSERT INTO %s.affitor_outbox_journal (%s) SELECT u.*, r.id, %s FROM UNNEST(%s) u, r) SELECT id FROM r;\nCOMMIT;\n' \
    "$row" "$schema" "$entry_columns" "'a cookie'" "$entry_arrays" | tr '\n' ' ' | sed 's/; /;\n/g' > "$work/folded.sql"

run() {
    local tps
    tps=$(pgbench -n -M extended -c "$clients" -j 2 -T "$secs" -f "$work/$1.sql" "$url" 2>&1 \
        | sed -n 's/^tps = \([0-9]*\).*/\1/p')
    echo "| $2 | ${tps:?pgbench failed on $1} |"
}
echo "| $clients clients, one lead a transaction | transactions/s |"
echo "|---|---|"
for _ in 1 2; do
    run rows "rows"
    run entries "rows, entries"
    run folded "one statement"
done
psql "$url" -qc "DROP INDEX $schema.affitor_outbox_journal_customer,
    $schema.affitor_outbox_journal_transaction, $schema.affitor_outbox_journal_click"
for _ in 1 2; do
    run rows "rows"
    run entries "rows, entries, no key index"
done
