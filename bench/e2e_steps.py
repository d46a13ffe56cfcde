#!/usr/bin/env python3
"""End-to-end run time of `bench-steps` (N sequential `step.run`s) on one real Inngest dev
server (issue 14; docs/benchmarks.md).

For each SDK configuration, one at a time (they share the app id `rust-conformance`): start
its app, sync it, then for every N send `bench/steps {n: N}` ROUNDS times, one run at a time,
and read each run's `startedAt`/`endedAt` from GraphQL; print the median per N, and the time
from the event's send to the run's end as the server saw it (`endedAt` - send time).

    python3 bench/e2e_steps.py                   # N = 1 5 20 100, 3 rounds, all configurations
    BENCH_N="5 20" BENCH_ROUNDS=1 BENCH_CONFIGS=ours-ckpt,js-ckpt python3 bench/e2e_steps.py

Needs: the inngest binary (INNGEST_BIN, else `inngest` or `inngest-cli` on PATH), cargo (it
builds the conformance example in release), node + `npm ci` in bench/js for the JS SDK.
Configurations: ours-ckpt (ours, checkpointing on: the default), ours-classic
(INNGEST_CHECKPOINTING=0), js-ckpt (inngest v4, checkpointing on: its default), js-classic,
and over Connect instead of HTTP serve (docs/protocol.md §13): ours-connect (ours,
INNGEST_CONNECT=1, checkpointing on) and js-connect (inngest v4's Connect worker, `ws` as its
WebSocket, checkpointing on). The app's resident memory (VmRSS) after its runs is printed too.

    BENCH_N="1 20 100" BENCH_CONFIGS=ours-connect,ours-ckpt,js-connect python3 bench/e2e_steps.py
"""

import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import time
import urllib.request
from datetime import datetime

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
N_LIST = [int(n) for n in os.environ.get("BENCH_N", "1 5 20 100").split()]
ROUNDS = int(os.environ.get("BENCH_ROUNDS", "3"))
CONFIGS = os.environ.get("BENCH_CONFIGS", "ours-ckpt,ours-classic,js-ckpt").split(",")
RUN_LIMIT = float(os.environ.get("BENCH_RUN_LIMIT", "120"))


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def inngest_bin():
    for candidate in (os.environ.get("INNGEST_BIN"), shutil.which("inngest"), shutil.which("inngest-cli")):
        if candidate:
            return candidate
    sys.exit("e2e_steps.py: no inngest binary (set INNGEST_BIN)")


def http(method, url, body=None, timeout=10):
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(url, data=data, method=method, headers={"content-type": "application/json"})
    with urllib.request.urlopen(req, timeout=timeout) as res:
        text = res.read()
        return res.status, (json.loads(text) if text else None)


def wait_for(what, check, limit=60.0, every=0.05):
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        try:
            value = check()
            if value:
                return value
        except Exception:  # noqa: BLE001 - the server or app is still starting
            pass
        time.sleep(every)
    raise TimeoutError(f"timed out waiting for {what}")


def parse_time(text):
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


class Server:
    def __init__(self):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        args = [inngest_bin(), "dev", "--no-discovery", "--port", str(self.port)]
        for flag in ("--connect-gateway-port", "--connect-gateway-grpc-port", "--connect-executor-grpc-port"):
            args += [flag, str(free_port())]
        self.log = open(os.path.join(ROOT, "target", "e2e-inngest.log"), "w")
        self.proc = subprocess.Popen(args, stdout=self.log, stderr=subprocess.STDOUT)
        wait_for("the dev server", lambda: http("GET", f"{self.url}/health")[0] == 200, limit=120)

    def gql(self, query, variables=None):
        _, body = http("POST", f"{self.url}/v0/gql", {"query": query, "variables": variables or {}})
        if body.get("errors"):
            raise RuntimeError(body["errors"])
        return body["data"]

    def sync(self, app_url):
        data = self.gql("mutation($url: String!) { createApp(input: {url: $url}) { id error } }", {"url": app_url})
        if data["createApp"]["error"]:
            raise RuntimeError(data["createApp"]["error"])

    def send(self, event):
        _, body = http("POST", f"{self.url}/e/test", event)
        return body["ids"][0]

    def run_of_event(self, event_id, since):
        data = self.gql(
            "query($from: Time!) { runs(filter: {from: $from}, orderBy: [{field: QUEUED_AT, direction: DESC}], first: 50)"
            " { edges { node { id status triggerIDs } } } }",
            {"from": since},
        )
        for edge in data["runs"]["edges"]:
            if event_id in (edge["node"]["triggerIDs"] or []):
                return edge["node"]["id"]
        return None

    def run(self, run_id):
        return self.gql("query($id: String!) { run(runID: $id) { status output startedAt endedAt } }", {"id": run_id})["run"]

    def stop(self):
        self.proc.terminate()
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        self.log.close()


def start_app(config, server):
    """Starts the app; returns its process and its serve URL (None for a Connect worker)."""
    port = free_port()
    env = dict(os.environ, PORT=str(port), INNGEST_DEV=server.url, INNGEST_BASE_URL=server.url, BENCH_STEPS="1")
    connect = config.endswith("-connect")
    if config.startswith("ours"):
        binary = os.path.join(os.environ.get("CARGO_TARGET_DIR", os.path.join(ROOT, "target")), "release", "examples", "conformance")
        if config == "ours-classic":
            env["INNGEST_CHECKPOINTING"] = "0"
        if connect:
            env["INNGEST_CONNECT"] = "1"
        args = [binary]
    else:
        env["CHECKPOINTING"] = "0" if config == "js-classic" else "1"
        if connect:
            env["CONNECT"] = "1"
        args = ["node", os.path.join(ROOT, "bench", "js", "server.mjs")]
    proc = subprocess.Popen(args, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    if connect:
        # The worker's handshake syncs the app; wait until the server lists it as connected.
        wait_for(f"{config} to connect", lambda: any(
            a["name"] == "rust-conformance" and a["connected"] and a["method"] == "CONNECT"
            for a in server.gql("{ apps { name method connected } }")["apps"]))
        return proc, None
    url = f"http://127.0.0.1:{port}/api/inngest"
    wait_for(f"{config} to listen", lambda: http("GET", url)[0] == 200)
    return proc, url


def rss_mib(pid):
    """The process's resident memory (VmRSS), in MiB."""
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def one_run(server, n):
    since = datetime.utcfromtimestamp(time.time() - 60).strftime("%Y-%m-%dT%H:%M:%SZ")
    sent = time.time()
    event_id = server.send({"name": "bench/steps", "data": {"n": n}})
    run_id = wait_for("the run", lambda: server.run_of_event(event_id, since), limit=RUN_LIMIT)
    # The server fills `startedAt` and `output` shortly after the run's end.
    run = wait_for(
        "the run's end and output",
        lambda: (r := server.run(run_id)) and r["status"] in ("COMPLETED", "FAILED", "CANCELLED")
        and r["endedAt"] and r["startedAt"] and r["output"] is not None and r,
        limit=RUN_LIMIT,
    )
    expected = n * (n - 1) // 2
    output = json.loads(run["output"])
    if isinstance(output, list):
        # The TS SDK ends a checkpointed run with a `RunComplete` op, whose whole op list the
        # dev server records as the output.
        output = next((op.get("data") for op in output if op.get("op") == "RunComplete"), output)
    if run["status"] != "COMPLETED" or output != expected:
        raise RuntimeError(f"run {run_id} ended {run['status']} with {run['output']!r}, expected {expected}")
    return parse_time(run["endedAt"]) - parse_time(run["startedAt"]), parse_time(run["endedAt"]) - sent


def main():
    if any(c.startswith("ours") for c in CONFIGS):
        subprocess.run(
            ["cargo", "build", "--release", "--locked", "-p", "inngest-sdk", "--example", "conformance", "--features", "testing,connect"],
            cwd=ROOT, check=True,
        )
    os.makedirs(os.path.join(ROOT, "target"), exist_ok=True)
    results = {}
    rss = {}
    for config in CONFIGS:
        # A fresh server per configuration: they share the app id, served over HTTP by some
        # and over Connect by others.
        server = Server()
        try:
            proc, url = start_app(config, server)
            try:
                if url is not None:
                    server.sync(url)
                one_run(server, 1)  # warm-up: connections, the app's first sync
                for n in N_LIST:
                    samples = [one_run(server, n) for _ in range(ROUNDS)]
                    run_time = statistics.median(s[0] for s in samples)
                    e2e = statistics.median(s[1] for s in samples)
                    results[(config, n)] = (run_time, e2e)
                    print(f"{config:13} N={n:<4} run {run_time:7.3f} s   send→end {e2e:7.3f} s   "
                          f"(runs: {', '.join(f'{s[0]:.3f}' for s in samples)})", file=sys.stderr, flush=True)
                rss[config] = rss_mib(proc.pid)
                print(f"{config:13} RSS after its runs: {rss[config]:.1f} MiB", file=sys.stderr, flush=True)
            finally:
                proc.terminate()
                proc.wait(timeout=30)
        finally:
            server.stop()
    print("\n| steps | " + " | ".join(CONFIGS) + " |")
    print("|---" * (len(CONFIGS) + 1) + "|")
    for n in N_LIST:
        cells = [f"{results[(c, n)][0]:.3f} s" if (c, n) in results else "—" for c in CONFIGS]
        print(f"| {n} | " + " | ".join(cells) + " |")
    print("| RSS | " + " | ".join(f"{rss[c]:.1f} MiB" if c in rss else "—" for c in CONFIGS) + " |")
    if "ours-ckpt" in CONFIGS and "js-ckpt" in CONFIGS:
        print("\nours-ckpt / js-ckpt (run time): " + ", ".join(
            f"N={n}: {results[('ours-ckpt', n)][0] / results[('js-ckpt', n)][0]:.2f}×" for n in N_LIST))


if __name__ == "__main__":
    main()
