#!/usr/bin/env bash
# Reproduce the numbers in docs/benchmarks.md: an OpenBao dev server and serve-trivial on
# loopback, 64 connections, 10 s per run, release build. Every process it starts is stopped
# on exit. Results: one JSON file per run in $OUT, and a markdown table on stdout.
#
#   crates/bench/scripts/reproduce.sh
#   BAO_PORT=18200 DURATION=5s crates/bench/scripts/reproduce.sh
set -euo pipefail
cd "$(dirname "$0")/../../.."

BAO_PORT=${BAO_PORT:-8200}
TRIVIAL_PORT=${TRIVIAL_PORT:-8300}
DURATION=${DURATION:-10s}
CONNS=${CONNS:-64}
OUT=${OUT:-target/bench-results}

cargo build --release -p coffer-bench
BIN=target/release/coffer-bench
mkdir -p "$OUT"

bao server -dev -dev-root-token-id=root -dev-listen-address="127.0.0.1:$BAO_PORT" >"$OUT/bao.log" 2>&1 &
BAO_PID=$!
"$BIN" serve-trivial -listen "127.0.0.1:$TRIVIAL_PORT" 2>"$OUT/trivial.log" &
TRIVIAL_PID=$!
trap 'kill "$BAO_PID" "$TRIVIAL_PID" 2>/dev/null || true; wait 2>/dev/null || true' EXIT

source crates/bench/scripts/lib.sh
wait_up "http://127.0.0.1:$BAO_PORT/v1/sys/health"
wait_up "http://127.0.0.1:$TRIVIAL_PORT/"
# A port taken by someone else would answer too: make sure ours are the ones alive.
kill -0 "$BAO_PID" && kill -0 "$TRIVIAL_PID"

run() {
    local name=$1
    shift
    echo "== $name" >&2
    "$BIN" -connections "$CONNS" -duration "$DURATION" -format json -no-progress "$@" >"$OUT/$name.json"
}

run trivial-ceiling -address "http://127.0.0.1:$TRIVIAL_PORT" -workload trivial-get \
    -path /v1/bench-kv2/data/key-0 -server-pid "$TRIVIAL_PID"

export VAULT_ADDR="http://127.0.0.1:$BAO_PORT" VAULT_TOKEN=root
for w in kv2-read kv2-write token-create token-lookup; do
    run "openbao-$w" -workload "$w" -server-pid "$BAO_PID"
done
run openbao-kv2-read-root -workload kv2-read -root-token-for-load -server-pid "$BAO_PID"
run openbao-sys-health -workload trivial-get -path /v1/sys/health -server-pid "$BAO_PID"

python3 - "$OUT" <<'PY'
import json, sys, pathlib
out = pathlib.Path(sys.argv[1])
order = ["trivial-ceiling", "openbao-kv2-read", "openbao-kv2-read-root", "openbao-kv2-write",
         "openbao-token-create", "openbao-token-lookup", "openbao-sys-health"]
def ms(us): return f"{us/1000:.2f}"
print("| run | workload | load token | req/s | p50 ms | p90 ms | p99 ms | p99.9 ms | max ms | errors | server CPU | client CPU | other CPU |")
print("|---|---|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|")
for name in order:
    r = json.loads((out / f"{name}.json").read_text())
    l, secs = r["latency"], r["elapsed_s"]
    cores = lambda x: f"{x/secs:.2f}" if x is not None else "-"
    others = None
    if None not in (r.get("machine_cpu_s"), r.get("client_cpu_s"), r.get("server_cpu_s")):
        others = max(0.0, r["machine_cpu_s"] - r["client_cpu_s"] - r["server_cpu_s"])
    print(f"| {name} | {r['workload']} | {r['token']} | {r['throughput_rps']:.0f} | {ms(l['p50_us'])} | "
          f"{ms(l['p90_us'])} | {ms(l['p99_us'])} | {ms(l['p99_9_us'])} | {ms(l['max_us'])} | "
          f"{r['errors']} | {cores(r.get('server_cpu_s'))} | {cores(r.get('client_cpu_s'))} | {cores(others)} |")
PY
