#!/usr/bin/env python3
"""Benchmark a slash command through `dbalert serve`: from the envelope to the result.

Usage: python3 benches/actions.py [path/to/dbalert]   (default: target/release/dbalert)

Starts, on loopback, a stand-in for Slack's Web API (`auth.test`, `apps.connections.open`), a
Socket Mode WebSocket endpoint and a `response_url` endpoint, and a SQLite file whose table
`items` has 50 rows per owner. `dbalert serve` runs the query action `items OWNER` (50 rows).
Once it has said hello, COMMANDS `/dbalert items OWNER` envelopes are sent one at a time (after
WARMUP unmeasured ones), each with a `response_url` of its own, and timed from the moment its
frame is written to the moment the POST of its result (the table of 50 rows, after the
"Running…" ack) has been read by the `response_url` endpoint. Checks that each result has its
50 rows and that every envelope was acknowledged. Prints the median, p99 and max. Standard
library only.
"""

import http.server
import json
import os
import queue
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time

# The Socket Mode framing is the one benches/serve.py speaks.
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from serve import accept_websocket, frame, read_frame  # noqa: E402

COMMANDS = int(os.environ.get("COMMANDS", 1000))
WARMUP = 50
TEAM = "T0BENCH"
USER = "U0BENCH"
OWNERS = 20
ROWS_PER_OWNER = 50


def start_api(socket_url, results):
    """Slack's Web API for `serve`'s start-up, and the `response_url`s (`/actions/N`): each
    result is put on `results` as (N, the time it was read, its text)."""

    class Api(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        # The status line and headers go out in one write and the body in another: with Nagle's
        # algorithm on, the body would wait for the client's delayed ACK (40 ms on Linux), which
        # Slack's servers do not make anyone wait for.
        disable_nagle_algorithm = True

        def do_POST(self):
            body = self.rfile.read(int(self.headers.get("content-length", 0)))
            arrived = time.perf_counter_ns()
            if self.path.startswith("/actions/"):
                text = json.loads(body).get("text", "")
                if not text.startswith("Running"):
                    results.put((int(self.path.rsplit("/", 1)[1]), arrived, text))
                self.answer(b"ok", "text/html")
                return
            if self.path.endswith("/auth.test"):
                answer = {"ok": True, "team_id": TEAM, "team": "Bench", "user_id": "U0BOT"}
            elif self.path.endswith("/apps.connections.open"):
                answer = {"ok": True, "url": socket_url}
            else:
                answer = {"ok": False, "error": "unknown_method"}
            self.answer(json.dumps(answer).encode(), "application/json")

        def answer(self, body, content_type):
            self.send_response(200)
            self.send_header("content-type", content_type)
            self.send_header("content-length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Api)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def read_acks(conn, acks):
    """Reads the client's frames: answers pings, records each envelope acknowledged."""
    try:
        while True:
            opcode, payload = read_frame(conn)
            if opcode == 0x9:
                conn.sendall(frame(0xA, payload))
            elif opcode == 0x1:
                envelope_id = json.loads(payload).get("envelope_id")
                if envelope_id:
                    acks[envelope_id] = True
            elif opcode == 0x8:
                return
    except (ConnectionError, OSError):
        return


def envelope(i, api_port):
    owner = f"owner{i % OWNERS}"
    return json.dumps(
        {
            "envelope_id": f"env-{i}",
            "type": "slash_commands",
            "accepts_response_payload": True,
            "payload": {
                "team_id": TEAM,
                "user_id": USER,
                "channel_id": "C0BENCH",
                "command": "/dbalert",
                "text": f"items {owner}",
                "response_url": f"http://127.0.0.1:{api_port}/actions/T0BENCH/{i}",
                "trigger_id": "1.2.3",
            },
        }
    ).encode()


def make_database(path):
    db = sqlite3.connect(path)
    db.execute("create table items (id integer primary key, owner text, name text, status text)")
    db.execute("create index items_owner on items (owner)")
    db.executemany(
        "insert into items (owner, name, status) values (?, ?, ?)",
        (
            (f"OWNER{o}", f"item-{o}-{n}", "stuck" if n % 7 == 0 else "ok")
            for o in range(OWNERS)
            for n in range(ROWS_PER_OWNER)
        ),
    )
    db.commit()
    db.close()


def write_config(work, api_port):
    config = os.path.join(work, "alerts.yaml")
    with open(config, "w") as f:
        f.write(
            f"state:\n  path: {work}/state.db\n"
            f"sources:\n  app:\n    sqlite:\n      path: {work}/app.db\n"
            "slack_app:\n  app_token: xapp-1-bench\n  bot_token: xoxb-1-bench\n"
            f"  team_id: {TEAM}\n  api_url: http://127.0.0.1:{api_port}/api/\n"
            f"access:\n  ops:\n    users: [{USER}]\n"
            "actions:\n  - name: items\n    source: app\n    kind: query\n"
            "    sql: select id, name, status from items where owner = :owner order by id\n"
            "    params: [{name: owner, type: identifier, transform: upper}]\n"
            "    allow: [ops]\n    max_rows: 50\n"
        )
    os.chmod(config, 0o600)
    return config


def main():
    binary = sys.argv[1] if len(sys.argv) > 1 else "target/release/dbalert"
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    ws_url = f"ws://127.0.0.1:{listener.getsockname()[1]}/link/?ticket=bench"
    results = queue.Queue()
    api = start_api(ws_url, results)
    api_port = api.server_address[1]
    acks = {}
    with tempfile.TemporaryDirectory() as work:
        make_database(os.path.join(work, "app.db"))
        config = write_config(work, api_port)
        env = {k: v for k, v in os.environ.items() if "PROXY" not in k.upper()}
        child = subprocess.Popen([binary, "-q", "-c", config, "serve"], env=env)
        conn = accept_websocket(listener)
        conn.sendall(frame(0x1, json.dumps({"type": "hello", "num_connections": 1}).encode()))
        threading.Thread(target=read_acks, args=(conn, acks), daemon=True).start()
        latencies = []
        for i in range(WARMUP + COMMANDS):
            data = frame(0x1, envelope(i, api_port))
            start = time.perf_counter_ns()
            conn.sendall(data)
            n, arrived, text = results.get(timeout=30)
            assert n == i, f"result of {n} while waiting for {i}"
            assert f": {ROWS_PER_OWNER} rows (" in text, text
            if i >= WARMUP:
                latencies.append((arrived - start) / 1e6)
        unacked = [i for i in range(WARMUP + COMMANDS) if f"env-{i}" not in acks]
        assert not unacked, f"never acknowledged: {unacked[:10]}"
        child.terminate()
        code = child.wait(timeout=30)
        conn.close()
    latencies.sort()
    p99 = latencies[int(len(latencies) * 0.99) - 1]
    print(f"commands: {len(latencies)} (after {WARMUP} warm-up), exit code on SIGTERM: {code}")
    print("| slash command, 50 rows from SQLite | median | p99 | max |")
    print("|---|---|---|---|")
    print(
        f"| envelope frame -> result POST read | {statistics.median(latencies):.2f} ms "
        f"| {p99:.2f} ms | {latencies[-1]:.2f} ms |"
    )


if __name__ == "__main__":
    main()
