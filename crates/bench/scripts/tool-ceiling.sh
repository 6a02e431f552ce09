#!/usr/bin/env bash
# Is coffer-bench the bottleneck? Drive a trivial HTTP endpoint (serve-trivial -raw: one
# prebuilt kv-read-shaped response per request head, no HTTP library) and Coffer's kv-v2 read
# (non-root, policy-scoped token) with the same tool, same connections and duration, in
# alternating rounds, and print the ratio trivial / kv-read per round and its median.
#
# Client and server get one core each (taskset): the tool on CPU 0, the server under test on
# CPU 1, as they would be on two machines. Without pinning they fight over the same two
# cores and the ratio measures the two servers' costs as much as the tool's; those rounds
# are run too (PIN=both) and printed separately, for the record.
#
#   crates/bench/scripts/tool-ceiling.sh
#   ROUNDS=5 DURATION=5s PIN=pinned crates/bench/scripts/tool-ceiling.sh
set -euo pipefail
cd "$(dirname "$0")/../../.."

COFFER_PORT=${COFFER_PORT:-28501}
TRIVIAL_PORT=${TRIVIAL_PORT:-28301}
DURATION=${DURATION:-5s}
CONNS=${CONNS:-64}
ROUNDS=${ROUNDS:-3}
PIN=${PIN:-both} # pinned | unpinned | both
OUT=${OUT:-target/bench-results/tool-ceiling}

if [ "$(nproc)" -lt 2 ]; then
    echo "needs at least 2 CPUs to give client and server one each" >&2
    exit 1
fi
cargo build --release -p coffer -p coffer-bench
BIN=target/release
mkdir -p "$OUT"

PIDS=()
trap 'kill "${PIDS[@]}" 2>/dev/null || true; wait 2>/dev/null || true' EXIT

source crates/bench/scripts/lib.sh

# $1 = cpu list for the servers ("" = unpinned)
start_servers() {
    local pin=()
    [ -n "$1" ] && pin=(taskset -c "$1")
    "${pin[@]}" "$BIN/coffer" server -dev -dev-root-token-id=root \
        -dev-listen-address="127.0.0.1:$COFFER_PORT" >"$OUT/coffer.log" 2>&1 &
    COFFER_PID=$!
    "${pin[@]}" "$BIN/coffer-bench" serve-trivial -raw -listen "127.0.0.1:$TRIVIAL_PORT" 2>"$OUT/trivial.log" &
    TRIVIAL_PID=$!
    PIDS=("$COFFER_PID" "$TRIVIAL_PID")
    wait_up "http://127.0.0.1:$COFFER_PORT/v1/sys/health"
    wait_up "http://127.0.0.1:$TRIVIAL_PORT/"
    kill -0 "$COFFER_PID" && kill -0 "$TRIVIAL_PID"
}

stop_servers() {
    kill "${PIDS[@]}" 2>/dev/null || true
    wait "${PIDS[@]}" 2>/dev/null || true
    PIDS=()
}

# $1 = mode name, $2 = cpu list for the tool ("" = unpinned)
rounds() {
    local mode=$1 pin=()
    [ -n "$2" ] && pin=(taskset -c "$2")
    for r in $(seq 1 "$ROUNDS"); do
        echo "== $mode round $r" >&2
        "${pin[@]}" "$BIN/coffer-bench" -connections "$CONNS" -duration "$DURATION" -format json -no-progress \
            -address "http://127.0.0.1:$TRIVIAL_PORT" -workload trivial-get -path /v1/bench-kv2/data/key-0 \
            -server-pid "$TRIVIAL_PID" >"$OUT/$mode-trivial-$r.json"
        "${pin[@]}" "$BIN/coffer-bench" -connections "$CONNS" -duration "$DURATION" -format json -no-progress \
            -address "http://127.0.0.1:$COFFER_PORT" -token root -workload kv2-read \
            -server-pid "$COFFER_PID" >"$OUT/$mode-kv2read-$r.json"
    done
}

MODES=()
if [ "$PIN" = pinned ] || [ "$PIN" = both ]; then
    start_servers 1
    rounds pinned 0
    stop_servers
    MODES+=(pinned)
fi
if [ "$PIN" = unpinned ] || [ "$PIN" = both ]; then
    start_servers ""
    rounds unpinned ""
    stop_servers
    MODES+=(unpinned)
fi

python3 - "$OUT" "$ROUNDS" "${MODES[@]}" <<'PY'
import json, sys, pathlib, statistics
out, rounds, modes = pathlib.Path(sys.argv[1]), int(sys.argv[2]), sys.argv[3:]
def load(name):
    return json.loads((out / f"{name}.json").read_text())
def cores(r, key):
    v = r.get(key)
    return f"{v / r['elapsed_s']:.2f}" if v is not None else "-"
print("| mode | round | trivial req/s | tool CPU | kv2-read req/s | tool CPU | Coffer CPU | trivial / kv2-read |")
print("|---|--:|--:|--:|--:|--:|--:|--:|")
for mode in modes:
    ratios = []
    for i in range(1, rounds + 1):
        t, k = load(f"{mode}-trivial-{i}"), load(f"{mode}-kv2read-{i}")
        for r in (t, k):
            if r["errors"]:
                sys.exit(f"{mode} round {i}: {r['errors']} errors; not a valid run")
        ratio = t["throughput_rps"] / k["throughput_rps"]
        ratios.append(ratio)
        print(f"| {mode} | {i} | {t['throughput_rps']:.0f} | {cores(t, 'client_cpu_s')} | "
              f"{k['throughput_rps']:.0f} | {cores(k, 'client_cpu_s')} | {cores(k, 'server_cpu_s')} | {ratio:.2f}x |")
    print(f"| {mode} | median | | | | | | **{statistics.median(ratios):.2f}x** |")
PY
