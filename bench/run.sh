#!/usr/bin/env bash
# The load benchmark of the SDK endpoint (issue 6; docs/benchmarks.md): installs what it
# needs from the registries, builds our fixture server and the floor in release, installs
# the official JS SDK from the committed lock file, then runs bench/load.py, which drives
# the three servers with wrk on loopback and prints the results.
#
#   bash bench/run.sh                                  # 3 rounds × 5 s per server and case
#   BENCH_DURATION=2 BENCH_ROUNDS=1 bash bench/run.sh  # a quick check
#
# Settings (environment): BENCH_DURATION, BENCH_ROUNDS, BENCH_WARMUP, BENCH_CONNECTIONS,
# BENCH_THREADS, BENCH_SERVERS (ours,js,floor,floor-dom), BENCH_CASES (final3,discovery,memo100,
# memo1000), BENCH_OUT (a file for the raw results as JSON). CARGO_TARGET_DIR is honoured.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

need_apt=()
command -v wrk >/dev/null || need_apt+=(wrk)
command -v node >/dev/null || need_apt+=(nodejs)
command -v npm >/dev/null || need_apt+=(npm)
command -v python3 >/dev/null || need_apt+=(python3)
if ((${#need_apt[@]})); then
    if [[ $(id -u) -ne 0 ]]; then
        echo "bench/run.sh: missing ${need_apt[*]}; install them (apt-get install ${need_apt[*]}) or run as root" >&2
        exit 1
    fi
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need_apt[@]}"
fi

export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$root/target}"
echo "== building (release): our fixture server, the floor" >&2
cargo build --release --locked -p inngest-sdk --example conformance --features testing
cargo build --release --locked --manifest-path bench/floor/Cargo.toml

echo "== installing the official JS SDK (bench/js/package-lock.json)" >&2
(cd bench/js && npm ci --no-audit --no-fund --loglevel=error)

echo "== machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(awk '/MemTotal/ {printf "%.1f GiB", $2/1048576}' /proc/meminfo), load $(cut -d' ' -f1-3 /proc/loadavg)" >&2
echo "== node $(node --version), $(wrk --version 2>&1 | head -1 | cut -d' ' -f1-2), inngest $(node -p 'require("./bench/js/node_modules/inngest/package.json").version')" >&2

# load.py kills its servers on exit; the trap covers an interrupted run of this script.
python3 bench/load.py &
driver=$!
trap 'kill "$driver" 2>/dev/null || true' EXIT INT TERM
wait "$driver"
