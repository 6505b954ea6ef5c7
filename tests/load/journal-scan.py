#!/usr/bin/env python3
"""How long `Outbox::explain`'s search takes on a SQLite journal of ENTRIES entries, which it
reads through (the journal has no index). Each lead is one row, its storing and its answer
(its own customer key and a random click id), as the relay writes a delivered lead. The table and the search are read from the outbox's source, so that they are the
ones it runs. Measured in BENCHMARKS.md ("The attribution journal's cost").

    python3 tests/load/journal-scan.py [ENTRIES]     # default 2,000,000
"""
import os, random, re, sqlite3, sys, tempfile, time

root = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "affitor-outbox", "src")
schema = open(os.path.join(root, "store", "sqlite", "schema.rs")).read()
table = re.search(r"CREATE TABLE IF NOT EXISTS affitor_outbox_journal \(.*?\);", schema, re.S).group(0)
indexes = re.findall(r"CREATE INDEX IF NOT EXISTS affitor_outbox_journal\w*\s+ON[^;]*;", schema)
search = re.search(r'"WITH found AS \(",\s*\$found,\s*"(.*?)"\s*\)', open(os.path.join(root, "journal", "mod.rs")).read(), re.S).group(1)
found = re.search(r'search!\(\s*"(.*?)"\s*\)', open(os.path.join(root, "store", "sqlite", "journal.rs")).read(), re.S).group(1)
query = "WITH found AS (" + found + search

entries = int(sys.argv[1]) if len(sys.argv) > 1 else 2_000_000
path = os.path.join(tempfile.mkdtemp(), "journal.db")
db = sqlite3.connect(path)
db.executescript("PRAGMA journal_mode=WAL; CREATE TABLE affitor_outbox (id INTEGER PRIMARY KEY);"
                 + table + "".join(indexes))
columns = "at, endpoint, step, customer_key, click_id, event_id, origin, detail, stored_at"
rows = []
for lead in range(entries // 2):
    at = 1_700_000_000_000 + lead
    rows.append((at, "lead", "answered", f"cust_{lead:08}", f"{random.getrandbits(64):016x}", lead, "a cookie", "tracked", at))
db.executemany(f"INSERT INTO affitor_outbox_journal ({columns}) VALUES (?,?,?,?,?,?,?,?,?)", rows)
db.commit()
print(f"{entries:,} entries, {os.path.getsize(path) / 1e6:.0f} MB")
for _ in range(3):
    start = time.monotonic()
    found_rows = db.execute(query, ('["cust_00012345"]', "[]", "[]")).fetchall()
    print(f"one search: {len(found_rows)} rows found in {time.monotonic() - start:.2f} s")
os.remove(path)
