#!/usr/bin/env python3
"""The load benchmark's driver (run it through bench/run.sh, which builds what it needs).

Starts three servers on loopback ports: ours (the conformance fixture, release build), the
same functions on the official JS SDK (node), and the floor (bare axum). Sends the same
executor call requests to each with wrk, alternating servers within each round, reads each
server's peak RSS (VmHWM) after every load run, and prints req/s, p50/p99 latency, peak
RSS, the ratios ours/floor and ours/JS, and the fitted per-step cost. Bounded: fixed
durations, loopback only, kills its servers on exit.

Standard library only. Settings come from the environment (see docs/benchmarks.md).
"""

import hashlib
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request

APP_ID = "rust-conformance"
STEP_TEST = f"{APP_ID}-test-suite-step-test"
BENCH_STEPS = f"{APP_ID}-bench-steps"
RUN_ID = "01JBENCHRUN000000000000000"


def env_int(name, default):
    return int(os.environ.get(name, default))


DURATION = env_int("BENCH_DURATION", 5)  # seconds per load run
ROUNDS = env_int("BENCH_ROUNDS", 3)
WARMUP = env_int("BENCH_WARMUP", 2)  # seconds per server and case, before round 1
CONNECTIONS = env_int("BENCH_CONNECTIONS", 8)
THREADS = env_int("BENCH_THREADS", 1)  # wrk threads
SERVERS = os.environ.get("BENCH_SERVERS", "ours,js,floor,floor-dom").split(",")
# Another build of our fixture server (say, from before a change), measured as "baseline".
BASELINE = os.environ.get("BENCH_BASELINE")
if BASELINE and "baseline" not in SERVERS:
    SERVERS.append("baseline")
CASES = os.environ.get("BENCH_CASES", "final3,discovery,memo100,memo1000").split(",")


def step_hash(step_id):
    """docs/protocol.md §1.2: lowercase hex SHA-1 of the user step id."""
    return hashlib.sha1(step_id.encode()).hexdigest()


def canonical(value):
    """The executor's JCS form: sorted keys, no whitespace."""
    return json.dumps(value, sort_keys=True, separators=(",", ":")).encode()


def event(name, data):
    return {"data": data, "id": "01JEVENT00000000000000000", "name": name,
            "ts": 1734000000000, "user": {}}


def call_body(ev, steps, stack, version):
    """A call request shaped like the executor's (docs/protocol.md §7.1; sdk/tests/conformance.rs)."""
    return canonical({
        "ctx": {
            "attempt": 0, "disable_immediate_execution": False, "env": "",
            "fn_id": "0b1d7c4e-5bde-4f0f-9a35-5e2f6c7d8e9f", "max_attempts": 4,
            "qi_id": "{q:01JRUNID}", "run_id": RUN_ID,
            "stack": {"current": len(stack), "stack": stack},
            "step_id": "step", "use_api": False,
        },
        "defers": {}, "event": ev, "events": [ev], "steps": steps,
        "use_api": False, "version": version,
    })


def memo_body(n):
    hashes = [step_hash(f"step-{i}") for i in range(n)]
    steps = {h: {"data": i} for i, h in enumerate(hashes)}
    return call_body(event("bench/steps", {"n": n}), steps, hashes, 2)


def cases():
    """name → (fnId, body, expected status, expected body or None, N memoized steps)."""
    serial = event("tests/step.test", {"steps": {"ok": "yes"}})
    first, sleep, second = (step_hash(s) for s in ("first step", "sleep", "second step"))
    final3 = call_body(serial, {
        first: {"data": "first step"},
        sleep: None,
        second: {"data": {"first": "first step", "second": True}},
    }, [first, sleep, second], 2)
    all_cases = {
        # steps-serial's last call: 3 memoized steps, the function returns (200).
        "final3": (STEP_TEST, final3, 200, {"body": "ok", "name": "tests/step.test"}, 3),
        # steps-serial's first call: discovery runs `first step` inline (206 StepRun).
        "discovery": (STEP_TEST, call_body(serial, {}, [], -1), 206, None, 0),
        "memo100": (BENCH_STEPS, memo_body(100), 200, sum(range(100)), 100),
        "memo1000": (BENCH_STEPS, memo_body(1000), 200, sum(range(1000)), 1000),
    }
    return {name: all_cases[name] for name in CASES}


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    def __init__(self, name, argv, cwd=None, extra_env=None):
        self.name = name
        self.port = free_port()
        # The classic protocol (one call per step; JS: `checkpointing: false` unless
        # CHECKPOINTING=1): there is no Inngest API to checkpoint to.
        env = dict(os.environ, PORT=str(self.port), INNGEST_DEV="1", BENCH_STEPS="1",
                   RUST_LOG="off", NODE_ENV="production", INNGEST_CHECKPOINTING="0",
                   **(extra_env or {}))
        env.pop("CHECKPOINTING", None)
        # Not a dev server, so neither SDK tries to reach one.
        env.pop("INNGEST_SIGNING_KEY", None)
        self.log = tempfile.TemporaryFile()
        self.proc = subprocess.Popen(argv, cwd=cwd, env=env, stdin=subprocess.DEVNULL,
                                     stdout=self.log, stderr=subprocess.STDOUT)

    def url(self, fn_id, status):
        url = f"http://127.0.0.1:{self.port}/api/inngest?fnId={fn_id}&stepId=step"
        # The floor cannot tell a discovery call from a final one; the query tells it.
        return url + "&status=206" if self.name.startswith("floor") and status == 206 else url

    def wait_ready(self, timeout=60):
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.proc.poll() is not None:
                self.log.seek(0)
                sys.exit(f"{self.name} exited: {self.log.read().decode(errors='replace')}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                    return
            except OSError:
                time.sleep(0.1)
        sys.exit(f"{self.name} did not listen on port {self.port} within {timeout}s")

    def peak_rss_kib(self):
        with open(f"/proc/{self.proc.pid}/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
        return 0

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def post(url, body):
    request = urllib.request.Request(url, data=body, method="POST",
                                     headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


def check(server, name, case):
    """One request before the load: the server must answer like an SDK would."""
    fn_id, body, status, expected, _ = case
    got_status, got_body = post(server.url(fn_id, status), body)
    if status == 200 and got_status == 206:
        # The JS SDK v4 ends a run with `206 [RunComplete {data}]`, which the executor
        # treats like a `200` with `data` as the body (docs/protocol.md §7.4).
        ops = json.loads(got_body)
        if isinstance(ops, list) and len(ops) == 1 and ops[0].get("op") == "RunComplete":
            got_status, got_body = 200, json.dumps(ops[0].get("data")).encode()
    if got_status != status:
        sys.exit(f"{server.name}/{name}: status {got_status}, expected {status}: {got_body[:300]!r}")
    if not server.name.startswith("floor") and expected is not None and json.loads(got_body) != expected:
        sys.exit(f"{server.name}/{name}: body {got_body[:300]!r}, expected {expected!r}")
    if not server.name.startswith("floor") and status == 206:
        ops = json.loads(got_body)
        if not (isinstance(ops, list) and len(ops) == 1 and ops[0].get("op") == "StepRun"):
            sys.exit(f"{server.name}/{name}: expected one StepRun op, got {got_body[:300]!r}")


UNITS = {"us": 1e-3, "ms": 1.0, "s": 1e3, "m": 6e4}


def to_ms(text):
    for unit in ("us", "ms", "s", "m"):
        if text.endswith(unit) and text[: -len(unit)].replace(".", "").isdigit():
            return float(text[: -len(unit)]) * UNITS[unit]
    raise ValueError(f"unknown latency {text!r}")


def wrk(url, body_path, duration):
    script = os.path.join(os.path.dirname(os.path.abspath(__file__)), "post.lua")
    out = subprocess.run(
        ["wrk", f"-t{THREADS}", f"-c{CONNECTIONS}", f"-d{duration}s", "--timeout", "10s",
         "--latency", "-s", script, url],
        env=dict(os.environ, BENCH_BODY=body_path), capture_output=True, text=True,
        timeout=duration + 60, check=True).stdout
    result = {"rps": 0.0, "p50": None, "p99": None, "errors": 0, "requests": 0}
    for line in out.splitlines():
        words = line.split()
        if line.startswith("Requests/sec:"):
            result["rps"] = float(words[1])
        elif len(words) == 2 and words[0] == "50%":
            result["p50"] = to_ms(words[1])
        elif len(words) == 2 and words[0] == "99%":
            result["p99"] = to_ms(words[1])
        elif "requests in" in line:
            result["requests"] = int(words[0])
        elif line.strip().startswith("Non-2xx"):
            result["errors"] += int(words[-1])
        elif line.strip().startswith("Socket errors"):
            result["errors"] += sum(int(w.strip(",")) for w in words[3::2])
    return result


def fit(points):
    """Least-squares line y = a + b·x over (x, y) points → (a, b)."""
    xs, ys = zip(*points)
    mx, my = statistics.fmean(xs), statistics.fmean(ys)
    b = sum((x - mx) * (y - my) for x, y in points) / sum((x - mx) ** 2 for x in xs)
    return my - b * mx, b


def main():
    root = os.path.dirname(os.path.abspath(__file__))
    target = os.environ.get("CARGO_TARGET_DIR", os.path.join(root, "..", "target"))
    floor = [os.path.join(os.environ.get("BENCH_FLOOR_TARGET", target), "release",
                          "bench-floor")]
    binaries = {
        "ours": ([os.path.join(target, "release", "examples", "conformance")], None, None),
        "js": (["node", "server.mjs"], os.path.join(root, "js"), None),
        "floor": (floor, None, None),
        # Not a floor: the floor binary parsing into serde_json::Value, for context.
        "floor-dom": (floor, None, {"FLOOR_PARSE": "value"}),
        "baseline": ([BASELINE or "false"], None, None),
    }
    the_cases = cases()
    workdir = tempfile.mkdtemp(prefix="inngest-bench-")
    bodies = {}
    for name, case in the_cases.items():
        bodies[name] = os.path.join(workdir, f"{name}.json")
        with open(bodies[name], "wb") as f:
            f.write(case[1])

    servers = []

    def stop_all(*_):
        for server in servers:
            server.stop()
        sys.exit(1)

    signal.signal(signal.SIGTERM, stop_all)
    signal.signal(signal.SIGINT, stop_all)
    results = {s: {c: [] for c in the_cases} for s in SERVERS}
    rss = {s: 0 for s in SERVERS}
    try:
        for name in SERVERS:
            argv, cwd, extra_env = binaries[name]
            servers.append(Server(name, argv, cwd, extra_env))
        for server in servers:
            server.wait_ready()
            for name, case in the_cases.items():
                check(server, name, case)
        print(f"# {len(servers)} servers, cases {', '.join(the_cases)}; {ROUNDS} rounds of "
              f"{DURATION}s, wrk -t{THREADS} -c{CONNECTIONS}, warm-up {WARMUP}s", flush=True)
        if WARMUP > 0:
            for server in servers:
                for name, case in the_cases.items():
                    wrk(server.url(case[0], case[2]), bodies[name], WARMUP)
        for round_ in range(ROUNDS):
            for name, case in the_cases.items():
                # Rotate the order each round so no server always runs first.
                order = servers[round_ % len(servers):] + servers[: round_ % len(servers)]
                for server in order:
                    r = wrk(server.url(case[0], case[2]), bodies[name], DURATION)
                    r["rss_kib"] = server.peak_rss_kib()
                    rss[server.name] = max(rss[server.name], r["rss_kib"])
                    results[server.name][name].append(r)
                    print(f"round {round_ + 1} {name:9} {server.name:9} {r['rps']:10.1f} req/s"
                          f"  p50 {r['p50'] or 0:8.3f} ms  p99 {r['p99'] or 0:8.3f} ms"
                          f"  VmHWM {r['rss_kib'] / 1024:6.1f} MiB  errors {r['errors']}",
                          flush=True)
    finally:
        for server in servers:
            server.stop()

    def med(server, case, key):
        return statistics.median(r[key] for r in results[server][case])

    print()
    print("| case | server | req/s | p50 ms | p99 ms | peak RSS MiB | errors |")
    print("|---|---|---:|---:|---:|---:|---:|")
    for name in the_cases:
        for server in SERVERS:
            errors = sum(r["errors"] for r in results[server][name])
            p50, p99 = (statistics.median(r[k] or 0 for r in results[server][name])
                        for k in ("p50", "p99"))
            print(f"| {name} | {server} | {med(server, name, 'rps'):.0f} | "
                  f"{p50:.3f} | {p99:.3f} | "
                  f"{max(r['rss_kib'] for r in results[server][name]) / 1024:.1f} | {errors} |")
    if "ours" in SERVERS:
        print()
        baseline = "baseline" in SERVERS
        dom = "floor-dom" in SERVERS
        print("| case | ours/floor req/s | ours/JS req/s |"
              + (" ours/floor-dom req/s |" if dom else "")
              + (" ours/baseline req/s |" if baseline else ""))
        print("|---|---:|---:|" + ("---:|" if dom else "") + ("---:|" if baseline else ""))
        for name in the_cases:
            ours = med("ours", name, "rps")
            floor = med("floor", name, "rps") if "floor" in SERVERS else 0
            js = med("js", name, "rps") if "js" in SERVERS else 0
            # A server that completed nothing in a run has no ratio (raise BENCH_DURATION).
            floor = f"{ours / floor:.1%}" if floor else "-"
            js = f"{ours / js:.1f}×" if js else "-"
            row = f"| {name} | {floor} | {js} |"
            if dom:
                value = med("floor-dom", name, "rps")
                row += f" {ours / value:.1%} |" if value else " - |"
            if baseline:
                before = med("baseline", name, "rps")
                row += f" {ours / before:.2f}× |" if before else " - |"
            print(row)
        print()
        print("peak RSS (VmHWM, MiB): " + ", ".join(f"{s} {rss[s] / 1024:.1f}" for s in SERVERS))
        memo = [(case[4], name) for name, case in the_cases.items()
                if name in ("final3", "memo100", "memo1000")]
        if len(memo) >= 2:
            for server in SERVERS:
                if server.startswith("floor"):
                    continue
                # Service time per request: the wall time one request costs at full load.
                if any(med(server, name, "rps") == 0 for _, name in memo):
                    continue
                a, b = fit([(n, 1e6 / med(server, name, "rps")) for n, name in memo])
                print(f"{server}: wall time per call ≈ {a:.1f} µs + {b:.3f} µs × N memoized steps"
                      f" (fit over N = {', '.join(str(n) for n, _ in memo)})")
    out = os.environ.get("BENCH_OUT")
    if out:
        with open(out, "w") as f:
            json.dump({"settings": {"duration": DURATION, "rounds": ROUNDS, "warmup": WARMUP,
                                    "connections": CONNECTIONS, "threads": THREADS},
                       "results": results}, f, indent=1)
        print(f"raw results: {out}")


if __name__ == "__main__":
    main()
