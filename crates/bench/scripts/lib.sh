# Shared by the benchmark scripts (sourced, not run).

# wait_up URL: wait until something answers HTTP at URL (any status), up to 30 s.
wait_up() {
    for _ in $(seq 1 120); do
        curl -s -o /dev/null "$1" && return 0
        sleep 0.25
    done
    echo "not answering: $1 (see the logs in ${OUT:-the output folder})" >&2
    exit 1
}

# prepare_run: builds coffer and coffer-bench (release), sets BIN, BAO (BAO_BIN or the `bao` on
# PATH), a scratch WORK folder and PIDS, creates $OUT, and traps EXIT to kill every started
# server and remove WORK. For the scripts that compare servers they start themselves.
prepare_run() {
    cargo build --release -p coffer -p coffer-bench
    BIN=$PWD/target/release
    BAO=${BAO_BIN:-$(command -v bao)}
    mkdir -p "$OUT"
    WORK=$(mktemp -d)
    PIDS=()
    trap 'kill "${PIDS[@]}" 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$WORK"' EXIT
}

# start NAME PORT ARGV... : a background server (log in $OUT/NAME.log), pid in $LAST_PID and
# appended to PIDS (the caller's exit trap kills them); waits until it answers.
start() {
    local name=$1 port=$2
    shift 2
    "$@" >"$OUT/$name.log" 2>&1 &
    LAST_PID=$!
    PIDS+=("$LAST_PID")
    wait_up "http://127.0.0.1:$port/v1/sys/seal-status"
}

# table DIR A_NAME B_NAME: a markdown table of every coffer-bench -compare JSON in DIR, oldest first.
table() {
    python3 - "$@" <<'PY'
import json, sys, pathlib
out, a_name, b_name = pathlib.Path(sys.argv[1]), sys.argv[2], sys.argv[3]
print(f"| comparison | workload | {a_name} req/s (rounds) | {b_name} req/s (rounds) | throughput A/B (median) | p50 A/B | p99 A/B | errors |")
print("|---|---|---|---|--:|--:|--:|--:|")
for f in sorted(out.glob("*.json"), key=lambda p: p.stat().st_mtime):
    r = json.loads(f.read_text())
    a = " / ".join(f"{x['a']['throughput_rps']:,.0f}" for x in r["rounds"])
    b = " / ".join(f"{x['b']['throughput_rps']:,.0f}" for x in r["rounds"])
    errs = sum(x["a"]["errors"] + x["b"]["errors"] for x in r["rounds"])
    m = r["median_ratio_a_over_b"]
    print(f"| {f.stem} | {r['workload']} | {a} | {b} | **{m['throughput']:.2f}×** | {m['p50']:.2f} | {m['p99']:.2f} | {errs} |")
PY
}
