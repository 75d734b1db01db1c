#!/usr/bin/env python3
"""Benchmark `dbalert poll` over a state check that returns many rows, on SQLite and PostgreSQL.

Usage: python3 benches/poll.py [path/to/dbalert] [N ...]
       (default: target/release/dbalert, N = 10000 30000 100000)

For each source (SQLite, PostgreSQL) and each N it fills a table `t` with N rows, writes a
config with one state check (`select id, name, owner, pct from t`, `key: [id]`), a route that
groups (`group_by: [alertname]`) to a Slack receiver pointed at a loopback webhook that
answers like Slack (200, body `ok`), and a fresh state file. It then runs
`dbalert -c CONFIG poll` twice:

- first run: every row fires, and the one group becomes one message;
- steady state: the same rows, nothing new, so no message (repeat_interval is 4h).

Each (first run, steady state) pair runs REPEATS times, each time with a new state file, and
the median is printed. Wall time and peak RSS of each run are measured in a child Python
(`resource.getrusage(RUSAGE_CHILDREN)`, as send.py does), so no other child counts. The
number of messages the webhook received is checked for every run. Prints a markdown table.

PostgreSQL: `$DBALERT_BENCH_POSTGRES_URL`, default postgres://postgres@127.0.0.1:5432/test
(trust auth); the table lives in its own schema, dropped at the end. `psql` fills it, since
Python's standard library has no PostgreSQL driver. Set it to `none` to skip PostgreSQL.
Standard library only, so it runs anywhere CI does.
"""

import http.server
import json
import os
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading

REPEATS = 3
SIZES = [10_000, 30_000, 100_000]
PG_URL = os.environ.get("DBALERT_BENCH_POSTGRES_URL", "postgres://postgres@127.0.0.1:5432/test")
SCHEMA = f"dbalert_bench_{os.getpid()}"


class Webhook(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    received = []  # payload sizes, one per message
    lock = threading.Lock()

    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("content-length", 0)))
        json.loads(body)
        with Webhook.lock:
            Webhook.received.append(len(body))
        self.send_response(200)
        self.send_header("content-type", "text/html")
        self.send_header("content-length", "2")
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, *args):
        pass


def measure(cmd):
    """Wall time (s) and peak RSS (KiB) of one run, measured in a child Python so that no
    other child counts and Python's own start-up is not timed."""
    probe = (
        "import resource, subprocess, sys, time;"
        "t = time.perf_counter();"
        "r = subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE);"
        "t = time.perf_counter() - t;"
        "sys.stderr.buffer.write(r.stderr);"
        "print(r.returncode, t, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)"
    )
    out = subprocess.run([sys.executable, "-c", probe, *cmd], capture_output=True, text=True)
    code, wall, rss = out.stdout.split()
    if int(code) != 0:
        sys.exit(f"{' '.join(cmd)} exited {code}:\n{out.stderr}")
    return float(wall), int(rss)


def rows(n):
    owners = ["ORDERS", "BILLING", "HR", "SALES", "OPS"]
    for i in range(1, n + 1):
        yield i, f"object_{i:06d}", owners[i % len(owners)], 90 + i % 10


def make_sqlite(directory, n):
    path = os.path.join(directory, f"source-{n}.db")
    db = sqlite3.connect(path)
    db.execute("create table t (id integer primary key, name text, owner text, pct integer)")
    db.executemany("insert into t values (?, ?, ?, ?)", rows(n))
    db.commit()
    db.close()
    return {"sqlite": {"path": path}}, "t"


def psql(sql):
    env = dict(os.environ, PGOPTIONS="-c client_min_messages=warning")
    subprocess.run(["psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", PG_URL, "-c", sql],
                   check=True, stdout=subprocess.DEVNULL, env=env)


def make_postgres(directory, n):
    psql(f"drop table if exists {SCHEMA}.t; create table {SCHEMA}.t "
         "(id integer primary key, name text, owner text, pct integer);"
         f"insert into {SCHEMA}.t select i, 'object_' || lpad(i::text, 6, '0'),"
         " (array['ORDERS','BILLING','HR','SALES','OPS'])[1 + i % 5], 90 + i % 10"
         f" from generate_series(1, {n}) as i; analyze {SCHEMA}.t;")
    return {"postgres": {"url": PG_URL}}, f"{SCHEMA}.t"


def write_config(directory, source, table, url):
    # JSON is YAML: no quoting to get wrong.
    config = {
        "state": {"path": os.path.join(directory, "state.db")},
        "sources": {"bench": source},
        "receivers": {"hook": {"slack": {"webhook_url": url}}},
        "route": {"receiver": "hook", "group_by": ["alertname"]},
        "checks": [{
            "name": "object_full",
            "source": "bench",
            "sql": f"select id, name, owner, pct from {table}",
            "key": ["id"],
            "labels": {"severity": "warning"},
            "annotations": {"summary": "{{ row.name }} of {{ row.owner }} is {{ row.pct }}% full"},
        }],
    }
    path = os.path.join(directory, "alerts.yaml")
    with open(path, "w") as f:
        json.dump(config, f, indent=1)
    return path, config["state"]["path"]


def run_case(binary, directory, source, table, url):
    config, state = write_config(directory, source, table, url)
    results = {"first run": [], "steady state": []}
    for _ in range(REPEATS):
        for suffix in ("", "-wal", "-shm", ".lock"):
            if os.path.exists(state + suffix):
                os.remove(state + suffix)
        for run, messages in (("first run", 1), ("steady state", 0)):
            Webhook.received.clear()
            wall, rss = measure([binary, "-c", config, "poll"])
            if len(Webhook.received) != messages:
                sys.exit(f"{run}: expected {messages} message(s), webhook got "
                         f"{len(Webhook.received)}")
            results[run].append((wall, rss))
    return results


def main():
    args = sys.argv[1:]
    binary = args.pop(0) if args and not args[0].isdigit() else "target/release/dbalert"
    binary = os.path.abspath(binary)
    sizes = [int(a) for a in args] or SIZES

    env_clean = {k: v for k, v in os.environ.items() if "proxy" not in k.lower()}
    os.environ.clear()
    os.environ.update(env_clean)

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Webhook)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_port}/services/T0/B0/bench"

    sources = [("SQLite", make_sqlite)]
    if PG_URL != "none":
        psql(f"drop schema if exists {SCHEMA} cascade; create schema {SCHEMA}")
        sources.append(("PostgreSQL", make_postgres))

    print("| source | rows | run | wall time (median) | rows/s | peak RSS (median) | min / max wall |")
    print("|---|---|---|---|---|---|---|")
    directory = tempfile.mkdtemp(prefix="dbalert-bench-poll-")
    try:
        for name, make in sources:
            for n in sizes:
                source, table = make(directory, n)
                for run, samples in run_case(binary, directory, source, table, url).items():
                    walls = [w for w, _ in samples]
                    wall = statistics.median(walls)
                    rss = statistics.median(r for _, r in samples)
                    print(f"| {name} | {n:,} | {run} | {wall * 1000:,.0f} ms | {n / wall:,.0f} "
                          f"| {rss / 1024:.1f} MB | {min(walls) * 1000:,.0f} / "
                          f"{max(walls) * 1000:,.0f} ms |", flush=True)
    finally:
        shutil.rmtree(directory, ignore_errors=True)
        if PG_URL != "none":
            psql(f"drop schema if exists {SCHEMA} cascade")
        server.shutdown()
    print()
    print(f"median of {REPEATS} runs each; every first run delivered 1 message, every steady "
          "state 0")


if __name__ == "__main__":
    main()
