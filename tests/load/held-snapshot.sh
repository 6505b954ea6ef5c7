#!/usr/bin/env bash
# The outbox's writes on Postgres while another session holds an old snapshot (a long query, a
# backup, a transaction left open): the actix signup example, its outbox on the Postgres that
# `.ci/postgres` starts, under wrk (2 threads, 64 connections, 8 s a run), RUNS runs in a row on
# one table kept between them, the app restarted between runs. Prints each run's signups a
# second. Measured in BENCHMARKS.md ("Postgres while a snapshot is held").
#
#   cargo build --release -p actix-signup -p affitor-cli
#   bash tests/load/held-snapshot.sh target/release/actix-signup [RUNS]
#
# API_DELAY_MS (default 200): the API stand-in (`affitor mock --answer-after`, beside the app)
# answers that late; 0 runs the app's own in-process stand-in instead. HOLD_SNAPSHOT=no: the
# same runs with no snapshot held.
#
# Needs wrk and psql (Debian: apt-get install wrk postgresql-client). Drops the table
# affitor_outbox of that database first.
set -euo pipefail
app=${1:?the actix-signup binary}
runs=${2:-5}
here=$(cd "$(dirname "$0")" && pwd)
url=$(bash "$here/../../.ci/postgres")
addr=127.0.0.1:3017
delay=${API_DELAY_MS:-200}
api=()
if [ "$delay" != 0 ]; then
    mock=$(dirname "$app")/affitor
    RUST_LOG=warn "$mock" mock --port 4017 --answer-after "$delay" >/dev/null 2>&1 &
    mock_pid=$!
    api=(AFFITOR_API_URL=http://127.0.0.1:4017 AFFITOR_API_KEY=aff_test_key)
fi
psql "$url" -qc "SET client_min_messages = warning;
    DROP TABLE IF EXISTS affitor_outbox, affitor_outbox_schema, affitor_outbox_facts"

start() {
    env "${api[@]}" AFFITOR_OUTBOX=$url ADDR=$addr METRICS_ADDR=off RUST_LOG=warn "$app" >/dev/null 2>&1 &
    pid=$!
    for _ in $(seq 1 100); do curl -s -o /dev/null "http://$addr/" && return; sleep 0.1; done
    echo "the app did not listen on $addr" >&2
    exit 1
}

# A first start makes the schema, and its index built in the background (which waits for
# older snapshots: it is built before the snapshot is taken, as on a table of a running app).
start
for _ in $(seq 1 100); do
    built=$(psql "$url" -tAc "SELECT count(*) FROM pg_index
        WHERE indexrelid = to_regclass('affitor_outbox_live_by_customer') AND indisvalid")
    [ "$built" = 1 ] && break
    sleep 0.1
done
kill "$pid"; wait "$pid" 2>/dev/null || true

[ -n "${mock_pid:-}" ] && trap 'kill $mock_pid' EXIT
if [ "${HOLD_SNAPSHOT:-yes}" = yes ]; then
psql "$url" -c "SELECT pg_sleep(3600)" >/dev/null 2>&1 &
held=$!
trap '[ -n "${mock_pid:-}" ] && kill $mock_pid; psql "$url" -qtAc "SELECT pg_cancel_backend(pid) FROM pg_stat_activity
    WHERE query = '"'"'SELECT pg_sleep(3600)'"'"'" >/dev/null; wait $held 2>/dev/null || true' EXIT
sleep 1
fi
for run in $(seq 1 "$runs"); do
    start
    rate=$(wrk -t2 -c64 -d8s -s "$here/signup.lua" "http://$addr" -- cust_42_1714000000000 "held$run" |
        awk '/Requests\/sec/ { print $2 }')
    waiting=$(psql "$url" -tAc "SELECT count(*) FROM affitor_outbox")
    written=$(psql "$url" -tAc "SELECT coalesce(max(id), 0) FROM affitor_outbox")
    echo "run $run: $rate signups a second; rows written so far $written, waiting $waiting"
    kill "$pid"; wait "$pid" 2>/dev/null || true
done
