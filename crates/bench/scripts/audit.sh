#!/usr/bin/env bash
# The cost of auditing, in alternating rounds (coffer-bench -compare):
#   1. kv2-read, non-root token, one `file` audit device declared in each server's config
#      file: Coffer (hash chain on, its default) against OpenBao;
#   2. the hash chain's cost: Coffer with chain on against Coffer with `chain = "false"`,
#      both with one file device.
# Both servers are dev servers (in memory), so the audit device is the one disk writer. The
# logs go to a temporary directory removed on exit; every process started is stopped.
#
#   crates/bench/scripts/audit.sh
#   ROUNDS=5 DURATION=10s crates/bench/scripts/audit.sh
set -euo pipefail
cd "$(dirname "$0")/../../.."

DURATION=${DURATION:-5s}
ROUNDS=${ROUNDS:-5}
CONNS=${CONNS:-64}
WORKLOAD=${WORKLOAD:-kv2-read}
OUT=${OUT:-target/bench-results/audit}
BASE_PORT=${BASE_PORT:-28700}

source crates/bench/scripts/lib.sh
prepare_run

# device NAME [EXTRA OPTION LINES]: a config file declaring one file device
device() {
    cat >"$WORK/$1.hcl" <<EOF
audit "file" "file" {
  options = {
    file_path = "$WORK/$1.log"
    ${2:-}
  }
}
EOF
}

compare() { # NAME ADDR_A PID_A ADDR_B PID_B
    echo "== $1" >&2
    "$BIN/coffer-bench" -connections "$CONNS" -duration "$DURATION" -rounds "$ROUNDS" -format json -no-progress \
        -address "$2" -token root -server-pid "$3" -compare "$4" -token2 root -server-pid2 "$5" \
        -workload "$WORKLOAD" >"$OUT/$1.json"
    # The logs grow by about 3 kB a request: keep the disk from filling between runs.
    : >"$WORK/coffer.log"; : >"$WORK/coffer-nochain.log"; : >"$WORK/bao.log"
}

P=$BASE_PORT
device coffer
device coffer-nochain 'chain = "false"'
device bao
start coffer $P "$BIN/coffer" server -dev -dev-root-token-id=root -dev-listen-address=127.0.0.1:$P \
    -config="$WORK/coffer.hcl"
COFFER=$LAST_PID
start coffer-nochain $((P + 5)) "$BIN/coffer" server -dev -dev-root-token-id=root \
    -dev-listen-address=127.0.0.1:$((P + 5)) -config="$WORK/coffer-nochain.hcl"
COFFER_NOCHAIN=$LAST_PID
start bao $((P + 10)) "$BAO" server -dev -dev-root-token-id=root -dev-listen-address=127.0.0.1:$((P + 10)) \
    -config="$WORK/bao.hcl"
BAO_PID=$LAST_PID
for a in $P $((P + 5)) $((P + 10)); do
    curl -sf -H "X-Vault-Token: root" "http://127.0.0.1:$a/v1/sys/audit" | grep -q '"file/"' \
        || { echo "no file audit device on port $a" >&2; exit 1; }
done

compare audit-coffer-vs-bao http://127.0.0.1:$P $COFFER http://127.0.0.1:$((P + 10)) $BAO_PID
compare audit-chain-vs-nochain http://127.0.0.1:$P $COFFER http://127.0.0.1:$((P + 5)) $COFFER_NOCHAIN

table "$OUT" A B
