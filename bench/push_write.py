#!/usr/bin/env python3
"""Write throughput of the push log's design on PostgreSQL, against its alternatives, in one run.

Issue 12 measured that a NOTIFY inside every write transaction serialises the commits of the
whole cluster (629 inserts/s with notify against 5,754 without, 16 writers). Madang instead
writes each event into its user's log in the write transaction (one row update of
`push_heads`, one insert into `push_events`) and sends NOTIFY after COMMIT from one task per
process. This runs the same 16-writer insert load under pgbench four ways and prints the rates
and their ratios to the plain insert:

  no push              an object insert and its collection's revision bump, 16 users
  madang               + push_heads bump + push_events insert; one serial notifier beside
  notify-in-tx         + pg_notify inside the transaction (the design avoided)
  … 1 calendar         the same with all 16 writers in one user's one calendar, which the
                       revision bump already serialises (the per-user head adds no new wait)

Usage: python3 bench/push_write.py [--seconds 10] [--clients 16]
Needs pgbench and a PostgreSQL on 127.0.0.1:5432 that lets `postgres` in without a password.
A database `madang_bench_push` is created for the run and dropped after it.
"""
import argparse
import os
import re
import subprocess
import sys
import tempfile

DB = "madang_bench_push"
BASE = ["-h", "127.0.0.1", "-p", "5432", "-U", "postgres"]

SCHEMA = """
CREATE TABLE objects (id BIGSERIAL PRIMARY KEY, user_id BIGINT NOT NULL, data TEXT NOT NULL);
CREATE TABLE collections (id BIGINT PRIMARY KEY, revision BIGINT NOT NULL);
INSERT INTO collections SELECT g, 0 FROM generate_series(0, 64) g;
CREATE TABLE push_heads (user_id BIGINT PRIMARY KEY, seq BIGINT NOT NULL);
CREATE TABLE push_events (user_id BIGINT NOT NULL, seq BIGINT NOT NULL, kind TEXT NOT NULL,
    data TEXT NOT NULL, created_at TIMESTAMPTZ NOT NULL, PRIMARY KEY (user_id, seq));
CREATE INDEX push_events_created ON push_events (created_at);
"""

# An event of about the size Madang writes; the object about the size of a small VEVENT.
OBJECT = "repeat('x', 600)"
EVENT = """'{"calendar":"default","uid":"0b7c4e1e-8f0a-4c1e-9d4e-2f6a1c9e7b3a","name":"0b7c4e1e.ics","deleted":false}'"""

def script(user, push=False, notify=False):
    """One Madang-shaped write: the object row and its collection's revision bump (which already
    serialises writers of one collection), then the push log or a NOTIFY."""
    lines = ["BEGIN;",
             f"INSERT INTO objects (user_id, data) VALUES ({user}, {OBJECT});",
             f"UPDATE collections SET revision = revision + 1 WHERE id = {user};"]
    if push:
        lines += [f"INSERT INTO push_heads (user_id, seq) VALUES ({user}, 1)",
                  "  ON CONFLICT (user_id) DO UPDATE SET seq = push_heads.seq + 1 RETURNING seq \\gset",
                  f"INSERT INTO push_events (user_id, seq, kind, data, created_at) "
                  f"VALUES ({user}, :seq, 'calendar.object', {EVENT}, now());"]
    if notify:
        lines.append(f"SELECT pg_notify('madang_push', ({user})::text);")
    lines.append("COMMIT;")
    return "\n".join(lines) + "\n"


SCRIPTS = {
    # 16 writers, each its own user and calendar: the usual case.
    "no push": script(":client_id"),
    "madang": script(":client_id", push=True),
    "notify-in-tx": script(":client_id", notify=True),
    # 16 writers into one user's one calendar: already serialised by the revision bump.
    "no push, 1 calendar": script("1"),
    "madang, 1 calendar": script("1", push=True),
}

# Madang's notifier: one task per process, one NOTIFY at a time, outside any write transaction.
# Run flat out beside the writers, it costs at least what the real one does.
NOTIFIER = "SELECT pg_notify('madang_push', '1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16');\n"


def psql(sql, db="postgres"):
    subprocess.run(["psql", *BASE, "-d", db, "-v", "ON_ERROR_STOP=1", "-q", "-c", sql], check=True,
                   stdout=subprocess.DEVNULL)


def pgbench(script, clients, seconds):
    with tempfile.NamedTemporaryFile("w", suffix=".sql", delete=False) as f:
        f.write(script)
        path = f.name
    try:
        out = subprocess.run(
            ["pgbench", *BASE, "-n", "-c", str(clients), "-j", str(min(clients, 4)), "-T", str(seconds), "-f", path, DB],
            check=True, capture_output=True, text=True).stdout
    finally:
        os.unlink(path)
    m = re.search(r"tps = ([\d.]+) \(without initial connection time\)", out)
    return float(m.group(1)) if m else float("nan")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seconds", type=int, default=10)
    ap.add_argument("--clients", type=int, default=16)
    args = ap.parse_args()
    psql(f"DROP DATABASE IF EXISTS {DB}")
    psql(f"CREATE DATABASE {DB}")
    try:
        psql(SCHEMA, DB)
        rates = {}
        for name, script in SCRIPTS.items():
            psql("TRUNCATE objects, push_heads, push_events", DB)
            notifier = None
            if name.startswith("madang"):
                with tempfile.NamedTemporaryFile("w", suffix=".sql", delete=False) as f:
                    f.write(NOTIFIER)
                notifier = subprocess.Popen(
                    ["pgbench", *BASE, "-n", "-c", "1", "-T", str(args.seconds), "-f", f.name, DB],
                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            rates[name] = pgbench(script, args.clients, args.seconds)
            if notifier:
                notifier.wait()
                os.unlink(f.name)
            print(f"  {name:<20} {rates[name]:>9.0f} writes/s", file=sys.stderr)
        plain = rates["no push"]
        print(f"\nPostgreSQL write throughput, {args.clients} writers, {args.seconds} s each (pgbench)\n")
        print("| design | writes/s | vs no push |\n|---|---|---|")
        for name, rate in rates.items():
            print(f"| {name} | {rate:,.0f} | {rate / plain:.2f}× |")
    finally:
        psql(f"DROP DATABASE IF EXISTS {DB}")


if __name__ == "__main__":
    main()
