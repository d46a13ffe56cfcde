#!/usr/bin/env python3
"""Instructions per request of a whole server (tokio, hyper, axum and the handler), user
space, measured with callgrind: each server runs under valgrind and answers K1, then K2
sequential keep-alive requests of one case (bench/load.py's bodies), and the cost of one
request is the difference over K2 - K1, so start-up cancels out. Stable on a busy machine,
unlike wall time; kernel time (sockets) is not counted, and SHA-1 runs in software under
valgrind (the CPU's SHA extensions are hidden).

    python3 bench/server_ir.py                 # final3, ours and floor
    python3 bench/server_ir.py memo100 ours    # one case, one server

Needs the release builds bench/run.sh makes, and valgrind.
"""

import http.client
import os
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import load  # noqa: E402  (the cases, their bodies, and starting a server)

K1, K2 = 200, 1200
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TARGET = os.environ.get("CARGO_TARGET_DIR", os.path.join(ROOT, "target"))
BINARIES = {
    "ours": (os.path.join(TARGET, "release", "examples", "conformance"), {}),
    "floor": (os.path.join(os.environ.get("BENCH_FLOOR_TARGET", TARGET), "release", "bench-floor"), {}),
    "floor-dom": (os.path.join(os.environ.get("BENCH_FLOOR_TARGET", TARGET), "release", "bench-floor"),
                  {"FLOOR_PARSE": "value"}),
}


def total_ir(name, case, requests, out_dir):
    binary, extra_env = BINARIES[name]
    out = os.path.join(out_dir, f"{name}.{case}.{requests}.out")
    server = load.Server(name, ["valgrind", "--tool=callgrind",
                                f"--callgrind-out-file={out}", binary], extra_env=extra_env)
    try:
        server.wait_ready(timeout=120)
        fn_id, body, status, _, _ = load.cases()[case]
        path = server.url(fn_id, status).split(f":{server.port}", 1)[1]
        conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=120)
        for _ in range(requests):
            conn.request("POST", path, body=body, headers={"Content-Type": "application/json"})
            response = conn.getresponse()
            response.read()
            if response.status != status:
                sys.exit(f"{name}/{case}: status {response.status}, expected {status}")
        conn.close()
    finally:
        server.stop()
    with open(out) as profile:
        for line in profile:
            if line.startswith(("summary:", "totals:")):
                return int(line.split()[1])
    sys.exit(f"no totals in {out}")


def main():
    case = sys.argv[1] if len(sys.argv) > 1 else "final3"
    names = sys.argv[2:] or ["ours", "floor"]
    out_dir = tempfile.mkdtemp(prefix="inngest-server-ir-")
    for name in names:
        per_request = (total_ir(name, case, K2, out_dir) - total_ir(name, case, K1, out_dir)) / (K2 - K1)
        print(f"{name:9} {case:9} {per_request:10.0f} Ir per request", flush=True)
    print(f"profiles: {out_dir} (callgrind_annotate --inclusive=yes <file>)")


if __name__ == "__main__":
    main()
