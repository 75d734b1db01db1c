#!/usr/bin/env python3
"""Benchmark `dbalert serve` in Socket Mode: ack latency and idle memory.

Usage: python3 benches/serve.py [path/to/dbalert]   (default: target/release/dbalert)

Starts, on loopback, a stand-in for Slack's Web API (`auth.test`, `apps.connections.open`)
and a Socket Mode WebSocket endpoint, runs `dbalert serve` against them, and once it has said
hello sends ENVELOPES `interactive` envelopes one at a time (after WARMUP unmeasured ones),
timing each from the moment its frame is written to the moment the ack frame with its
`envelope_id` is read back. Every envelope is also handled (an audit row in the state file)
while the next ones are acknowledged. Prints the median, p99 and max latency, and the
process's resident memory (VmRSS) when idle before and after. Standard library only.
"""

import base64
import hashlib
import http.server
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time

ENVELOPES = int(os.environ.get("ENVELOPES", 1000))
WARMUP = 50
IDLE_SECONDS = 3
TEAM = "T0BENCH"


def start_api(socket_url):
    class Api(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self):
            self.rfile.read(int(self.headers.get("content-length", 0)))
            if self.path.endswith("/auth.test"):
                answer = {"ok": True, "team_id": TEAM, "team": "Bench", "user_id": "U0BOT"}
            elif self.path.endswith("/apps.connections.open"):
                answer = {"ok": True, "url": socket_url}
            else:
                answer = {"ok": False, "error": "unknown_method"}
            body = json.dumps(answer).encode()
            self.send_response(200)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Api)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def frame(opcode, payload):
    """A server frame (unmasked)."""
    head = bytes([0x80 | opcode])
    n = len(payload)
    if n < 126:
        head += bytes([n])
    elif n < 65536:
        head += bytes([126]) + n.to_bytes(2, "big")
    else:
        head += bytes([127]) + n.to_bytes(8, "big")
    return head + payload


def read_exact(conn, n):
    data = b""
    while len(data) < n:
        chunk = conn.recv(n - len(data))
        if not chunk:
            raise ConnectionError("dbalert closed the socket")
        data += chunk
    return data


def read_frame(conn):
    """A client frame (masked): (opcode, payload)."""
    b0, b1 = read_exact(conn, 2)
    n = b1 & 0x7F
    if n == 126:
        n = int.from_bytes(read_exact(conn, 2), "big")
    elif n == 127:
        n = int.from_bytes(read_exact(conn, 8), "big")
    mask = read_exact(conn, 4) if b1 & 0x80 else b"\0\0\0\0"
    payload = bytes(b ^ mask[i % 4] for i, b in enumerate(read_exact(conn, n)))
    return b0 & 0x0F, payload


def accept_websocket(listener):
    conn, _ = listener.accept()
    conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    request = b""
    while b"\r\n\r\n" not in request:
        request += conn.recv(4096)
    key = next(
        line.split(b":", 1)[1].strip()
        for line in request.split(b"\r\n")
        if line.lower().startswith(b"sec-websocket-key:")
    )
    accept = base64.b64encode(
        hashlib.sha1(key + b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11").digest()
    )
    conn.sendall(
        b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        b"Sec-WebSocket-Accept: " + accept + b"\r\n\r\n"
    )
    return conn


def envelope(i):
    return json.dumps(
        {
            "envelope_id": f"env-{i}",
            "type": "interactive",
            "accepts_response_payload": False,
            "payload": {
                "type": "block_actions",
                "team": {"id": TEAM},
                "user": {"id": "U0BENCH", "team_id": TEAM},
                "channel": {"id": "C0BENCH"},
                "actions": [{"action_id": "dbalert.ack", "value": str(i), "type": "button"}],
            },
        }
    ).encode()


def wait_ack(conn, envelope_id):
    while True:
        opcode, payload = read_frame(conn)
        if opcode == 0x9:  # ping: answer it, as Slack does
            conn.sendall(frame(0xA, payload))
        elif opcode == 0x1 and json.loads(payload).get("envelope_id") == envelope_id:
            return


def status(pid, field):
    """A number from /proc/PID/status: VmRSS (KiB), Threads."""
    with open(f"/proc/{pid}/status") as lines:
        for line in lines:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise RuntimeError(f"no {field}")


def main():
    binary = sys.argv[1] if len(sys.argv) > 1 else "target/release/dbalert"
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    ws_url = f"ws://127.0.0.1:{listener.getsockname()[1]}/link/?ticket=bench"
    api = start_api(ws_url)
    with tempfile.TemporaryDirectory() as work:
        config = os.path.join(work, "alerts.yaml")
        with open(config, "w") as f:
            f.write(
                f"state:\n  path: {work}/state.db\n"
                "slack_app:\n  app_token: xapp-1-bench\n  bot_token: xoxb-1-bench\n"
                f"  team_id: {TEAM}\n  api_url: http://127.0.0.1:{api.server_address[1]}/api/\n"
            )
        env = {k: v for k, v in os.environ.items() if "PROXY" not in k.upper()}
        child = subprocess.Popen([binary, "-q", "-c", config, "serve"], env=env)
        conn = accept_websocket(listener)
        conn.sendall(frame(0x1, json.dumps({"type": "hello", "num_connections": 1}).encode()))
        time.sleep(IDLE_SECONDS)
        idle_before = status(child.pid, "VmRSS")
        threads_before = status(child.pid, "Threads")
        latencies = []
        for i in range(WARMUP + ENVELOPES):
            data = frame(0x1, envelope(i))
            start = time.perf_counter_ns()
            conn.sendall(data)
            wait_ack(conn, f"env-{i}")
            if i >= WARMUP:
                latencies.append((time.perf_counter_ns() - start) / 1e6)
        time.sleep(IDLE_SECONDS)
        idle_after = status(child.pid, "VmRSS")
        threads_after = status(child.pid, "Threads")
        child.terminate()
        code = child.wait(timeout=30)
        conn.close()
    latencies.sort()
    p99 = latencies[int(len(latencies) * 0.99) - 1]
    print(f"envelopes: {len(latencies)} (after {WARMUP} warm-up), exit code on SIGTERM: {code}")
    print("| ack latency | median | p99 | max |")
    print("|---|---|---|---|")
    print(
        f"| envelope frame -> ack frame | {statistics.median(latencies):.3f} ms "
        f"| {p99:.3f} ms | {latencies[-1]:.3f} ms |"
    )
    print(f"idle RSS: {idle_before / 1024:.1f} MB before, {idle_after / 1024:.1f} MB after")
    print(f"threads: {threads_before} before, {threads_after} after")


if __name__ == "__main__":
    main()
