#!/usr/bin/env python3
"""Benchmark the latency of `dbalert run` on a PostgreSQL queue: from the INSERT to the webhook.

Usage: python3 benches/latency.py [path/to/dbalert] [MESSAGES]
       (default: target/release/dbalert, 200 messages)

It makes a schema with the queue of `sql/postgres/queue.sql` (its trigger NOTIFYs on insert),
starts `dbalert run` with one queue check (`interval: 1m`, the default) delivering to a
loopback webhook that answers like Slack (200, body `ok`), waits until run LISTENs, and then
enqueues one message every 1.5 s (slower than Slack's one message per second, so pacing never
holds a message back) through one long-lived `psql`, autocommitting each. For each message it
records, on this process's monotonic clock, the time just before the INSERT is written to
psql, the time psql says the INSERT's commit came back (an `\\echo` after it), and the time
its notification reaches the webhook. Two latencies come of them:

- from the INSERT sent: an upper bound of "INSERT committed -> webhook request", since it also
  holds psql reading the line, running the INSERT and waiting for its commit to be flushed
  (an fsync of the server's WAL, which a busy disk can make slow);
- from the commit acknowledged: PostgreSQL signals the listeners as it acknowledges the commit,
  so this is the time dbalert took from the notification to the request, give or take the
  pipe from psql (it can come out a little below zero when the webhook wins that race).

Every message must arrive exactly once. The times of each message are written to a CSV file
in the bench's temporary directory (printed at the end).

Then, for comparison, the same with the trigger dropped (what `run` did before LISTEN, and
what a table without the trigger still gets): 20 messages, taken when the check's 1 m
interval comes round (DBALERT_BENCH_BASELINE=no skips it).

Prints a markdown table: median, p99 (nearest rank), min, max and how many took over 100 ms,
from each starting point, and run's peak RSS.
PostgreSQL: `$DBALERT_BENCH_POSTGRES_URL`, default postgres://postgres@127.0.0.1:5432/test
(trust auth). Standard library only.
"""

import http.server
import json
import math
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time

PG_URL = os.environ.get("DBALERT_BENCH_POSTGRES_URL", "postgres://postgres@127.0.0.1:5432/test")
SCHEMA = f"dbalert_bench_latency_{os.getpid()}"
EVERY = 1.5
ACK = "committed "
HERE = os.path.dirname(os.path.abspath(__file__))


class Webhook(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    arrived = {}  # summary -> [arrival times]
    lock = threading.Lock()

    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("content-length", 0)))
        now = time.perf_counter()
        summary = json.loads(body)["text"].rsplit(": ", 1)[1]
        with Webhook.lock:
            Webhook.arrived.setdefault(summary, []).append(now)
        self.send_response(200)
        self.send_header("content-type", "text/html")
        self.send_header("content-length", "2")
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, *args):
        pass


def psql_env():
    return dict(os.environ, PGOPTIONS=f"-c search_path={SCHEMA} -c client_min_messages=warning")


def psql(sql):
    return subprocess.run(["psql", "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", PG_URL, "-c", sql],
                          check=True, capture_output=True, text=True, env=psql_env()).stdout.strip()


def source_url():
    separator = "&" if "?" in PG_URL else "?"
    return f"{PG_URL}{separator}options=-c%20search_path%3D{SCHEMA}&application_name={SCHEMA}"


def wait_for(what, done, limit=90):
    started = time.monotonic()
    while not done():
        if time.monotonic() - started > limit:
            sys.exit(f"timed out waiting for {what}")
        time.sleep(0.05)


def peak_rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    return 0


def read_acks(lines, acked):
    """Records when each INSERT's commit came back to psql (its `\\echo` line)."""
    for line in lines:
        if line.startswith(ACK):
            acked[line[len(ACK):].strip()] = time.perf_counter()


def run_case(binary, directory, url, name, count):
    """Runs `dbalert run`, enqueues `count` messages, returns (latencies from the INSERT sent,
    latencies from its commit acknowledged, in s; peak RSS KiB)."""
    config = {
        "state": {"path": os.path.join(directory, f"state-{name}.db")},
        "sources": {"pg": {"postgres": {"url": source_url()}}},
        "receivers": {"hook": {"slack": {"webhook_url": url}}},
        "route": {"receiver": "hook", "group_by": ["..."], "group_wait": "0s"},
        "checks": [{"name": "latency", "source": "pg", "interval": "1m",
                    "queue": {"table": "dbalert_queue"}}],
    }
    path = os.path.join(directory, f"{name}.yaml")
    with open(path, "w") as f:
        json.dump(config, f)
    log = open(os.path.join(directory, f"{name}.log"), "w")
    run = subprocess.Popen([binary, "-c", path, "-v", "run"], stdout=subprocess.DEVNULL, stderr=log)
    try:
        listening = f"select count(*) from pg_stat_activity where application_name = '{SCHEMA}' and query like 'LISTEN %'"
        if name == "LISTEN":
            wait_for("run to LISTEN", lambda: psql(listening) == "1")
        else:
            time.sleep(2)  # the first poll, of an empty queue
        producer = subprocess.Popen(["psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", PG_URL],
                                    stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                    text=True, env=psql_env())
        acked = {}
        reader = threading.Thread(target=read_acks, args=(producer.stdout, acked), daemon=True)
        reader.start()
        # Connected before the first message, so that it does not wait for psql to start.
        producer.stdin.write(f"\\echo {ACK}ready\n")
        producer.stdin.flush()
        wait_for("psql to connect", lambda: "ready" in acked)
        sent = {}
        start = time.perf_counter()
        for i in range(count):
            time.sleep(max(0.0, start + i * EVERY - time.perf_counter()))
            summary = f"{name}-m{i}"
            sent[summary] = time.perf_counter()
            # psql runs `\echo` once the INSERT's autocommit returned: the reader sees the
            # line when the commit was acknowledged.
            producer.stdin.write(f"select dbalert_enqueue('{{\"summary\": \"{summary}\"}}') \\g /dev/null\n"
                                 f"\\echo {ACK}{summary}\n")
            producer.stdin.flush()
        producer.stdin.close()
        producer.wait()
        reader.join()
        wait_for("every message", lambda: all(s in Webhook.arrived for s in sent), limit=120)
        rss = peak_rss_kib(run.pid)
    finally:
        run.send_signal(signal.SIGTERM)
        run.wait(timeout=60)
    for summary in sent:
        if len(Webhook.arrived[summary]) != 1:
            sys.exit(f"{summary} arrived {len(Webhook.arrived[summary])} times")
    with open(os.path.join(directory, f"{name}.csv"), "w") as f:
        f.write("message,sent,acked,arrived\n")
        for s, t in sent.items():
            f.write(f"{s},{t - start:.6f},{acked[s] - start:.6f},{Webhook.arrived[s][0] - start:.6f}\n")
    from_sent = [Webhook.arrived[s][0] - t for s, t in sent.items()]
    from_commit = [Webhook.arrived[s][0] - acked[s] for s in sent]
    return from_sent, from_commit, rss


def main():
    args = sys.argv[1:]
    binary = args.pop(0) if args and not args[0].isdigit() else "target/release/dbalert"
    binary = os.path.abspath(binary)
    count = int(args[0]) if args else 200
    for key in [k for k in os.environ if "proxy" in k.lower()]:
        del os.environ[key]

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Webhook)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_port}/services/T0/B0/latency"
    psql(f"drop schema if exists {SCHEMA} cascade; create schema {SCHEMA}")
    with open(os.path.join(HERE, "..", "sql", "postgres", "queue.sql")) as f:
        psql(f.read())
    directory = tempfile.mkdtemp(prefix="dbalert-bench-latency-")
    results = []
    try:
        results.append(("LISTEN (trigger installed)", count, *run_case(binary, directory, url, "LISTEN", count)))
        if os.environ.get("DBALERT_BENCH_BASELINE", "yes") != "no":
            psql("drop trigger dbalert_queue_notify on dbalert_queue")
            results.append(("interval only (no trigger), 1m", 20,
                            *run_case(binary, directory, url, "interval", 20)))
    finally:
        psql(f"drop schema if exists {SCHEMA} cascade")
        server.shutdown()
    print("| wake-up | messages | measured from | median | p99 | min | max | over 100 ms | run peak RSS |")
    print("|---|---|---|---|---|---|---|---|---|")
    for name, n, from_sent, from_commit, rss in results:
        for start, latencies in [("INSERT sent", from_sent), ("commit acknowledged", from_commit)]:
            ordered = sorted(latencies)
            p99 = ordered[math.ceil(0.99 * len(ordered)) - 1]
            ms = lambda s: f"{s * 1000:,.1f} ms"
            print(f"| {name} | {n} | {start} | {ms(statistics.median(ordered))} | {ms(p99)} "
                  f"| {ms(ordered[0])} | {ms(ordered[-1])} | {sum(1 for x in ordered if x > 0.1)} "
                  f"| {rss / 1024:.1f} MB |")
    print()
    print(f"one message every {EVERY} s; latency = webhook request - INSERT written to psql (an "
          "upper bound: it holds the INSERT's own commit), and webhook request - the commit "
          "acknowledged to psql (PostgreSQL sends the notification as it acknowledges the commit)")
    print(f"per-message times: {directory}/*.csv")

if __name__ == "__main__":
    main()
