#!/usr/bin/env bash
# Coffer against OpenBao, every workload, in alternating rounds (coffer-bench -compare):
#   1. both dev servers (in memory): kv2-read, kv2-write, kv1-read, kv1-write, token-create,
#      batch-token-create, token-lookup,
#      userpass-login, approle-login, jwt-login (cached key), kv2-read-templated and its
#      baseline kv2-read-entity-plain;
#   2. durable writes: Coffer on `storage "file"` against OpenBao dev (in memory) and against
#      OpenBao on single-node raft (its durable storage).
# Non-root, policy-scoped load tokens throughout (coffer-bench's default). Every process it
# starts is stopped on exit; JSON per comparison goes to $OUT, a markdown table to stdout.
#
#   crates/bench/scripts/compare.sh
#   ROUNDS=5 DURATION=10s WORKLOADS="kv2-read token-create" crates/bench/scripts/compare.sh
set -euo pipefail
cd "$(dirname "$0")/../../.."

DURATION=${DURATION:-5s}
ROUNDS=${ROUNDS:-3}
CONNS=${CONNS:-64}
WORKLOADS=${WORKLOADS:-kv2-read kv2-write kv1-read kv1-write token-create batch-token-create token-lookup userpass-login approle-login jwt-login kv2-read-templated kv2-read-entity-plain}
DURABLE=${DURABLE:-1}
OUT=${OUT:-target/bench-results/compare}
BASE_PORT=${BASE_PORT:-28600}

source crates/bench/scripts/lib.sh
prepare_run

# init_unseal ADDR: one-share init + unseal; prints the root token
init_unseal() {
    local init key token
    init=$(curl -sf -X PUT "$1/v1/sys/init" -d '{"secret_shares":1,"secret_threshold":1}')
    key=$(python3 -c 'import json,sys; print(json.load(sys.stdin)["keys_base64"][0])' <<<"$init")
    token=$(python3 -c 'import json,sys; print(json.load(sys.stdin)["root_token"])' <<<"$init")
    curl -sf -X PUT "$1/v1/sys/unseal" -d "{\"key\":\"$key\"}" >/dev/null
    for _ in $(seq 1 120); do
        curl -sf -H "X-Vault-Token: $token" "$1/v1/sys/mounts" >/dev/null && break
        sleep 0.25
    done
    echo "$token"
}

compare() { # NAME ADDR_A TOKEN_A PID_A ADDR_B TOKEN_B PID_B WORKLOAD
    echo "== $1" >&2
    "$BIN/coffer-bench" -connections "$CONNS" -duration "$DURATION" -rounds "$ROUNDS" -format json -no-progress \
        -address "$2" -token "$3" -server-pid "$4" -compare "$5" -token2 "$6" -server-pid2 "$7" \
        -workload "$8" >"$OUT/$1.json"
}

P=$BASE_PORT
start coffer-dev $P "$BIN/coffer" server -dev -dev-root-token-id=root -dev-listen-address=127.0.0.1:$P
COFFER_DEV=$LAST_PID
start bao-dev $((P + 10)) "$BAO" server -dev -dev-root-token-id=root -dev-listen-address=127.0.0.1:$((P + 10))
BAO_DEV=$LAST_PID
sleep 1
echo "idle RSS (kB): coffer-dev $(ps -o rss= -p $COFFER_DEV) bao-dev $(ps -o rss= -p $BAO_DEV)" | tee "$OUT/idle-rss.txt" >&2
for w in $WORKLOADS; do
    compare "dev-$w" http://127.0.0.1:$P root $COFFER_DEV http://127.0.0.1:$((P + 10)) root $BAO_DEV "$w"
done

if [ "$DURABLE" = 1 ]; then
    mkdir -p "$WORK/coffer-data" "$WORK/bao-data"
    cat >"$WORK/coffer.hcl" <<EOF
storage "file" { path = "$WORK/coffer-data" }
listener "tcp" {
  address     = "127.0.0.1:$((P + 20))"
  tls_disable = true
}
disable_mlock = true
EOF
    cat >"$WORK/bao.hcl" <<EOF
storage "raft" {
  path    = "$WORK/bao-data"
  node_id = "bench"
}
listener "tcp" {
  address         = "127.0.0.1:$((P + 30))"
  cluster_address = "127.0.0.1:$((P + 31))"
  tls_disable     = true
}
api_addr      = "http://127.0.0.1:$((P + 30))"
cluster_addr  = "http://127.0.0.1:$((P + 31))"
disable_mlock = true
EOF
    start coffer-file $((P + 20)) "$BIN/coffer" server -config="$WORK/coffer.hcl"
    COFFER_FILE=$LAST_PID
    COFFER_FILE_TOKEN=$(init_unseal http://127.0.0.1:$((P + 20)))
    start bao-raft $((P + 30)) "$BAO" server -config="$WORK/bao.hcl"
    BAO_RAFT=$LAST_PID
    BAO_RAFT_TOKEN=$(init_unseal http://127.0.0.1:$((P + 30)))
    compare durable-file-vs-bao-dev http://127.0.0.1:$((P + 20)) "$COFFER_FILE_TOKEN" $COFFER_FILE \
        http://127.0.0.1:$((P + 10)) root $BAO_DEV kv2-write
    compare durable-file-vs-bao-raft http://127.0.0.1:$((P + 20)) "$COFFER_FILE_TOKEN" $COFFER_FILE \
        http://127.0.0.1:$((P + 30)) "$BAO_RAFT_TOKEN" $BAO_RAFT kv2-write
fi

table "$OUT" Coffer OpenBao
