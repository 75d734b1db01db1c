#!/usr/bin/env python3
"""Benchmark `dbalert send` against curl posting the same payload to a local webhook.

Usage: python3 benches/send.py [path/to/dbalert]   (default: target/release/dbalert)

Starts a loopback HTTP server that answers like a Slack webhook (200, body `ok`), then
posts the same message RUNS times with each tool, one process per post, as a shell script
would. Prints a markdown table: median and p90 wall time per post, their ratio, and the peak
RSS of one `dbalert send`. Standard library only, so it runs anywhere CI does.
"""

import http.server
import json
import os
import resource
import statistics
import subprocess
import sys
import threading
import time

RUNS = 60
WARMUP = 5


class Webhook(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_POST(self):
        self.rfile.read(int(self.headers.get("content-length", 0)))
        self.send_response(200)
        self.send_header("content-type", "text/html")
        self.send_header("content-length", "2")
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, *args):
        pass


def timed(cmd, runs, stdin=None):
    times = []
    for i in range(WARMUP + runs):
        start = time.perf_counter()
        subprocess.run(cmd, input=stdin, check=True, stdout=subprocess.DEVNULL)
        if i >= WARMUP:
            times.append(time.perf_counter() - start)
    return times


def peak_rss_kib(cmd):
    """Peak RSS of one run, measured in a child Python so no other child counts."""
    probe = (
        "import resource, subprocess, sys;"
        "subprocess.run(sys.argv[1:], check=True, stdout=subprocess.DEVNULL);"
        "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)"
    )
    out = subprocess.run([sys.executable, "-c", probe, *cmd], check=True, capture_output=True)
    return int(out.stdout)


def main():
    binary = sys.argv[1] if len(sys.argv) > 1 else "target/release/dbalert"
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Webhook)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_port}/services/T0/B0/bench"

    message = ["send", "--webhook", url, "--severity", "warning", "--title", "Tablespace USERS",
               "tablespace USERS is 91% full"]
    payload = subprocess.run([binary, *message, "--dry-run"], check=True,
                             capture_output=True).stdout
    json.loads(payload)  # the same bytes curl will post

    env_clean = {k: v for k, v in os.environ.items() if "proxy" not in k.lower()}
    os.environ.clear()
    os.environ.update(env_clean)

    dbalert = timed([binary, *message], RUNS)
    curl = timed(["curl", "-sS", "-o", "/dev/null", "-X", "POST",
                  "-H", "Content-Type: application/json", "--data-binary", "@-", url],
                 RUNS, stdin=payload)
    rss = max(peak_rss_kib([binary, *message]) for _ in range(5))

    def ms(v):
        return f"{v * 1000:.2f} ms"

    def p90(v):
        return statistics.quantiles(v, n=10)[-1]

    ratio = statistics.median(dbalert) / statistics.median(curl)
    print(f"| tool | median | p90 |\n|---|---|---|")
    print(f"| `dbalert send` | {ms(statistics.median(dbalert))} | {ms(p90(dbalert))} |")
    print(f"| `curl` | {ms(statistics.median(curl))} | {ms(p90(curl))} |")
    print()
    print(f"ratio of medians (dbalert / curl): {ratio:.2f}x")
    print(f"dbalert peak RSS: {rss / 1024:.1f} MB ({rss} KiB)")
    print(f"runs: {RUNS} each after {WARMUP} warm-up runs")
    server.shutdown()


if __name__ == "__main__":
    main()
