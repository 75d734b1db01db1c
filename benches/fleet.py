#!/usr/bin/env python3
"""Benchmark one `dbalert run` watching a fleet of PostgreSQL sources.

Usage: python3 benches/fleet.py [--private-postgres] [path/to/dbalert] [SOURCES] [SECONDS]
       (default: target/release/dbalert, 100 sources, 600 s)

Makes SOURCES schemas on the local server, each a source of its own (its URL sets the
schema as search path), with five checks at `interval: 10s`: two state checks (one finds a
row, one finds nothing), two event checks that find nothing, and one that counts. A loopback
webhook answers like Slack (200, `ok`). `dbalert run --metrics-file` then runs for SECONDS,
and this script samples, every second:

- run's CPU time (utime + stime of /proc/PID/stat) and, at the end, its peak RSS (VmHWM);
- the sessions with run's application_name in pg_stat_activity (one per source expected);
- every `dbalert_check_lateness_seconds` in the metrics file (each change is one run's
  lateness: how long after its scheduled time the check began).

Prints a markdown table, with the load average of the machine before and after. PostgreSQL:
`$DBALERT_BENCH_POSTGRES_URL`, default postgres://postgres@127.0.0.1:5432/test (trust auth).
Each source is a connection, so a server whose `max_connections` is about SOURCES or less
cannot take the fleet and the sampler. `--private-postgres` starts a server of the bench's own
instead: `initdb` into a temporary directory with the newest server binaries under
/usr/lib/postgresql/*/bin, `max_connections=300`, a free port on 127.0.0.1 and its unix socket
in that directory, run as the `postgres` user when the bench runs as root (initdb refuses
root); it is stopped and its directory removed at the end. Standard library only.
"""

import contextlib
import glob
import http.server
import json
import math
import os
import pwd
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

PG_URL = os.environ.get("DBALERT_BENCH_POSTGRES_URL", "postgres://postgres@127.0.0.1:5432/test")
PREFIX = f"dbalert_bench_fleet_{os.getpid()}"
APP = PREFIX
# `source`: one message per source at the start (paced at 1/s); `alertname`: one per check.
GROUP_BY = os.environ.get("DBALERT_BENCH_GROUP_BY", "source")


class Webhook(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    received = 0

    def do_POST(self):
        self.rfile.read(int(self.headers.get("content-length", 0)))
        Webhook.received += 1
        self.send_response(200)
        self.send_header("content-type", "text/html")
        self.send_header("content-length", "2")
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, *args):
        pass


@contextlib.contextmanager
def private_postgres():
    """Starts a PostgreSQL server of the bench's own; yields its URL; stops and removes it."""
    versions = glob.glob("/usr/lib/postgresql/*/bin/initdb")
    if not versions:
        sys.exit("--private-postgres: no server binaries under /usr/lib/postgresql/*/bin")
    bindir = os.path.dirname(max(versions, key=lambda p: int(p.split("/")[4].split(".")[0])))
    directory = tempfile.mkdtemp(prefix="dbalert-bench-pg-")
    as_user = []
    if os.geteuid() == 0:
        user = pwd.getpwnam("postgres")
        os.chown(directory, user.pw_uid, user.pw_gid)
        as_user = ["runuser", "-u", "postgres", "--"]
    data, log = os.path.join(directory, "data"), os.path.join(directory, "server.log")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    options = (f"-c port={port} -c listen_addresses=127.0.0.1 -c unix_socket_directories={directory} "
               "-c max_connections=300")
    try:
        subprocess.run(as_user + [f"{bindir}/initdb", "-D", data, "-U", "postgres", "--auth=trust",
                                  "-E", "UTF8"], check=True, capture_output=True)
        subprocess.run(as_user + [f"{bindir}/pg_ctl", "-D", data, "-l", log, "-w", "-o", options,
                                  "start"], check=True, capture_output=True)
        try:
            yield f"postgres://postgres@127.0.0.1:{port}/postgres"
        finally:
            subprocess.run(as_user + [f"{bindir}/pg_ctl", "-D", data, "-m", "fast", "-w", "stop"],
                           capture_output=True)
    finally:
        shutil.rmtree(directory, ignore_errors=True)


def load_average():
    with open("/proc/loadavg") as f:
        return " / ".join(f.read().split()[:3])


def psql(sql):
    env = dict(os.environ, PGOPTIONS="-c client_min_messages=warning")
    return subprocess.run(["psql", "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", PG_URL, "-c", sql],
                          check=True, capture_output=True, text=True, env=env).stdout.strip()


def source_url(schema):
    separator = "&" if "?" in PG_URL else "?"
    return f"{PG_URL}{separator}options=-c%20search_path%3D{schema}&application_name={APP}"


CHECKS = [
    {"name": "problem", "sql": "select name from problems", "key": ["name"]},
    {"name": "nothing", "sql": "select name from problems where false"},
    {"name": "event_a", "sql": "select id from events where id > $1", "events": {"cursor": "id"}},
    {"name": "event_b", "sql": "select id from events where id > $1 and id % 2 = 0",
     "events": {"cursor": "id"}},
    {"name": "count", "sql": "select count(*) as n from events having count(*) > 1000"},
]


def config(directory, sources, url):
    checks = []
    for i in range(sources):
        for check in CHECKS:
            checks.append(dict(check, name=f"{check['name']}_{i}", source=f"db{i}",
                               interval="10s"))
    return {
        "state": {"path": os.path.join(directory, "state.db")},
        "sources": {f"db{i}": {"postgres": {"url": source_url(f"{PREFIX}_{i}")}}
                    for i in range(sources)},
        "receivers": {"hook": {"slack": {"webhook_url": url}}},
        "route": {"receiver": "hook", "group_by": [GROUP_BY], "group_wait": "0s"},
        "checks": checks,
    }


def cpu_seconds(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def peak_rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    return 0


def lateness(path):
    out = {}
    try:
        with open(path) as f:
            for line in f:
                if line.startswith("dbalert_check_lateness_seconds{"):
                    labels, value = line.rsplit(" ", 1)
                    out[labels] = float(value)
    except FileNotFoundError:
        pass
    return out


def main():
    global PG_URL
    args = sys.argv[1:]
    private = "--private-postgres" in args
    args = [a for a in args if a != "--private-postgres"]
    if private:
        with private_postgres() as url:
            PG_URL = url
            bench(args, f"a private server ({url})")
    else:
        bench(args, PG_URL)


def bench(args, postgres):
    binary = args.pop(0) if args and not args[0].isdigit() else "target/release/dbalert"
    binary = os.path.abspath(binary)
    sources = int(args[0]) if args else 100
    seconds = int(args[1]) if len(args) > 1 else 600
    for key in [k for k in os.environ if "proxy" in k.lower()]:
        del os.environ[key]

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Webhook)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_port}/services/T0/B0/fleet"
    psql("".join(f"create schema {PREFIX}_{i}; "
                 f"create table {PREFIX}_{i}.problems (name text primary key); "
                 f"insert into {PREFIX}_{i}.problems values ('p{i}'); "
                 f"create table {PREFIX}_{i}.events (id bigint primary key); "
                 for i in range(sources)))
    directory = tempfile.mkdtemp(prefix="dbalert-bench-fleet-")
    load_before = load_average()
    path = os.path.join(directory, "alerts.yaml")
    with open(path, "w") as f:
        json.dump(config(directory, sources, url), f)
    metrics = os.path.join(directory, "run.prom")
    log = open(os.path.join(directory, "run.log"), "w")
    run = subprocess.Popen([binary, "-c", path, "run", "--metrics-file", metrics],
                           stdout=subprocess.DEVNULL, stderr=log)
    samples, connections, last = [], [], {}
    try:
        time.sleep(15)  # start-up: the first run of every check, the first messages
        cpu0, wall0 = cpu_seconds(run.pid), time.monotonic()
        while time.monotonic() - wall0 < seconds:
            time.sleep(1)
            for labels, value in lateness(metrics).items():
                if last.get(labels) != value:
                    samples.append(value)
                    last[labels] = value
            sessions = f"select count(*) from pg_stat_activity where application_name = '{APP}'"
            connections.append(int(psql(sessions)))
        cpu = (cpu_seconds(run.pid) - cpu0) / (time.monotonic() - wall0)
        rss = peak_rss_kib(run.pid)
        load_after = load_average()
    finally:
        run.send_signal(signal.SIGTERM)
        run.wait(timeout=60)
        psql("".join(f"drop schema if exists {PREFIX}_{i} cascade; " for i in range(sources)))
        server.shutdown()
    if run.returncode != 0:
        sys.exit(f"run exited {run.returncode}; see {directory}/run.log")
    ordered = sorted(samples)
    p99 = ordered[math.ceil(0.99 * len(ordered)) - 1] if ordered else float("nan")
    print("| sources | checks | seconds | peak RSS | mean CPU (one core) | connections (min / max) "
          "| lateness p50 / p99 / max | runs sampled | messages |")
    print("|---|---|---|---|---|---|---|---|---|")
    print(f"| {sources} | {sources * len(CHECKS)} | {seconds} | {rss / 1024:.1f} MB | {cpu * 100:.1f}% "
          f"| {min(connections)} / {max(connections)} | {ordered[len(ordered) // 2] * 1000:.0f} / "
          f"{p99 * 1000:.0f} / {ordered[-1] * 1000:.0f} ms | {len(ordered)} | {Webhook.received} |")
    print()
    print(f"load average (1 / 5 / 15 min) before: {load_before}; after: {load_after}; "
          f"PostgreSQL: {postgres}")


if __name__ == "__main__":
    main()
