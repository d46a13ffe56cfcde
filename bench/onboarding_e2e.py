#!/usr/bin/env python3
"""Time from a paid purchase to the connection email, end to end on the real dev server
(issue 14; docs/benchmarks.md): the release `huckleberry` binary in development mode with its
vendors dry (the dry-run mailer logs each email with a timestamp), one real `inngest dev`.

For each configuration (checkpointing on, the default; off with INNGEST_CHECKPOINTING=0):
start the app, let the server sync it, then ROUNDS times deliver a signed Stripe purchase
with `huckleberry simulate stripe --email <fresh>` and read, from the app's JSON log, when the
dry-run mailer "sent" the connection email to that address. Prints the median and each
round. The steps before the email: find-buyer-in-clerk, record-purchase, send-connect-link.

    python3 bench/onboarding_e2e.py
    BENCH_ROUNDS=10 python3 bench/onboarding_e2e.py

Needs: the inngest binary (INNGEST_BIN, else `inngest` or `inngest-cli` on PATH) and cargo
(it builds the binary in release).
"""

import json
import os
import queue
import statistics
import subprocess
import sys
import threading
import time
from datetime import datetime

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from e2e_steps import ROOT, Server, free_port, http, wait_for  # noqa: E402

ROUNDS = int(os.environ.get("BENCH_ROUNDS", "5"))
CONFIGS = {"checkpointing": {}, "classic": {"INNGEST_CHECKPOINTING": "0"}}
STRIPE_SECRET = "whsec_local_development_only"
BINARY = os.path.join(os.environ.get("CARGO_TARGET_DIR", os.path.join(ROOT, "target")), "release", "huckleberry")


def start_app(server, extra):
    port = free_port()
    env = {
        "PATH": os.environ.get("PATH", ""),
        "INNGEST_DEV": server.url,
        "HOST": "127.0.0.1",
        "PORT": str(port),
        "LOG_FORMAT": "json",
        "RUST_LOG": "info",
        "STRIPE_WEBHOOK_SECRETS": STRIPE_SECRET,
        "MENTORSHIP_CATALOG": "price_1QxOneOnOne2026=one_on_one",
        **extra,
    }
    proc = subprocess.Popen([BINARY], env=env, cwd="/tmp", stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    lines = queue.Queue()
    threading.Thread(target=lambda: [lines.put(line) for line in proc.stdout], daemon=True).start()
    url = f"http://127.0.0.1:{port}"
    # `/api/inngest` answers JSON (the shared `http` helper parses every answer as JSON).
    wait_for("the app to listen", lambda: http("GET", f"{url}/api/inngest")[0] == 200)
    return proc, url, lines


def email_sent_at(lines, to, limit=60.0):
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        try:
            line = json.loads(lines.get(timeout=deadline - time.monotonic()))
        except (queue.Empty, ValueError):
            continue
        if line.get("message") == "would have sent this email" and line.get("to") == to:
            return datetime.fromisoformat(line["timestamp"].replace("Z", "+00:00")).timestamp()
    raise TimeoutError(f"no email to {to}")


def main():
    subprocess.run(["cargo", "build", "--release", "--locked", "-p", "huckleberry", "--bin", "huckleberry"], cwd=ROOT, check=True)
    server = Server()
    try:
        for name, extra in CONFIGS.items():
            proc, url, lines = start_app(server, extra)
            try:
                server.sync(f"{url}/api/inngest")
                times = []
                for i in range(ROUNDS + 1):
                    to = f"bench-{name}-{i}-{int(time.time())}@example.com"
                    sent = time.time()
                    subprocess.run(
                        [BINARY, "simulate", "stripe", "--email", to, "--url", url],
                        env={"STRIPE_WEBHOOK_SECRETS": STRIPE_SECRET, "PATH": os.environ.get("PATH", "")},
                        cwd="/tmp", check=True, stdout=subprocess.DEVNULL,
                    )
                    elapsed = email_sent_at(lines, to) - sent
                    if i > 0:  # the first round warms the app's and the server's connections
                        times.append(elapsed)
                print(f"{name:14} median {statistics.median(times):.3f} s  rounds {' '.join(f'{t:.3f}' for t in times)}")
            finally:
                proc.terminate()
                proc.wait(timeout=30)
    finally:
        server.stop()


if __name__ == "__main__":
    main()
