#!/usr/bin/env bash
# Instructions per executor call through Endpoint::handle, measured with callgrind (stable
# on a busy machine, unlike wall time): each case runs K1 and K2 times in one process
# (sdk/examples/profile_call.rs), and the cost of one call is the difference over K2 - K1,
# so start-up and the first call's one-time costs cancel out.
#
#   bash bench/callgrind.sh                 # final3 discovery memo3 memo100 memo1000
#   bash bench/callgrind.sh memo1000        # one case; keeps its profile for callgrind_annotate
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
command -v valgrind >/dev/null || { apt-get update -qq && apt-get install -y -qq valgrind; }
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$root/target}"
cargo build --release --locked -p inngest-sdk --example profile_call --features testing >&2
bin="$CARGO_TARGET_DIR/release/examples/profile_call"
out="${CALLGRIND_DIR:-$(mktemp -d)}"
k1="${K1:-10}" k2="${K2:-60}"
cases=("$@")
((${#cases[@]})) || cases=(final3 discovery memo3 memo100 memo1000)

instructions() { # case iterations → total Ir
    valgrind --tool=callgrind --callgrind-out-file="$out/$1.$2.out" "$bin" "$1" "$2" 2>/dev/null
    awk '/^(summary|totals):/ {print $2; exit}' "$out/$1.$2.out"
}

printf '%-10s %16s\n' case "Ir per call"
declare -A per
for c in "${cases[@]}"; do
    a=$(instructions "$c" "$k1")
    b=$(instructions "$c" "$k2")
    per[$c]=$(( (b - a) / (k2 - k1) ))
    printf '%-10s %16d\n' "$c" "${per[$c]}"
done
if [[ -n "${per[memo3]:-}" && -n "${per[memo100]:-}" && -n "${per[memo1000]:-}" ]]; then
    python3 - "${per[memo3]}" "${per[memo100]}" "${per[memo1000]}" <<'PY'
import sys
ns, ys = (3, 100, 1000), [int(v) for v in sys.argv[1:]]
mx, my = sum(ns) / 3, sum(ys) / 3
b = sum((n - mx) * (y - my) for n, y in zip(ns, ys)) / sum((n - mx) ** 2 for n in ns)
print(f"fit over bench-steps N = 3, 100, 1000: {my - b * mx:.0f} Ir + {b:.0f} Ir × N")
PY
fi
echo "profiles: $out (callgrind_annotate --inclusive=yes $out/<case>.$k2.out)"
