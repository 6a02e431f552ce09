"""coffer-bench against real servers: every workload's setup, load and teardown.

The tool is run as a user would run it (the built binary, flags or a config file) against
Coffer and OpenBao dev servers. Each run is a fixed request count, so the report can be
checked exactly: every request answered with the workload's success status, the load sent
with a non-root token, and everything the setup made removed again afterwards.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from conftest import COFFER_BIN

BENCH_BIN = os.environ.get("COFFER_BENCH_BIN") or str(Path(COFFER_BIN).with_name("coffer-bench"))

# workload -> the status every request must get
WORKLOADS = {
    "kv2-read": 200,
    "kv2-write": 200,
    "kv1-read": 200,
    "kv1-write": 204,
    "token-create": 200,
    "batch-token-create": 200,
    "token-lookup": 200,
    "userpass-login": 200,
}


def bench(srv, *args, token=True, timeout=120):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("VAULT_", "BAO_"))}
    env["VAULT_ADDR"] = srv.addr
    env["HOME"] = str(srv.workdir)  # never the machine's ~/.vault-token
    if token:
        env["VAULT_TOKEN"] = srv.root_token
    return subprocess.run([BENCH_BIN, "-no-progress", *args], env=env, capture_output=True,
                          text=True, timeout=timeout)


def state(srv):
    """What a bench run may create: mounts, auth mounts, policies, token accessors."""
    mounts = set(srv.http("GET", "sys/mounts").json()["data"])
    auths = set(srv.http("GET", "sys/auth").json()["data"])
    policies = set(srv.http("LIST", "sys/policies/acl").json()["data"]["keys"])
    accessors = set(srv.http("LIST", "auth/token/accessors").json()["data"]["keys"])
    return mounts, auths, policies, accessors


@pytest.mark.parametrize("workload", list(WORKLOADS))
def test_workload_runs_clean_and_leaves_nothing_behind(server, workload):
    before = state(server)
    n = 6 if workload == "userpass-login" else 200  # logins cost a password hash each
    r = bench(server, "-workload", workload, "-requests", str(n), "-connections", "4",
              "-keys", "10", "-format", "json")
    assert r.returncode == 0, r.stderr
    rep = json.loads(r.stdout)
    assert rep["requests"] == n
    assert rep["errors"] == 0, rep["errors_by_status"]
    assert rep["statuses"] == {str(WORKLOADS[workload]): n}
    assert rep["token"].startswith("non-root"), rep["token"]
    assert rep["latency"]["p50_us"] > 0
    assert state(server) == before


def test_config_file_mix(server, tmp_path):
    cfg = tmp_path / "bench.hcl"
    cfg.write_text(
        'connections = 4\n'
        'requests    = 300\n'
        'keys        = 10\n'
        'format      = "json"\n'
        'workload "kv2-read"  { weight = 3 }\n'
        'workload "kv2-write" { weight = 1 }\n'
    )
    r = bench(server, "-config", str(cfg))
    assert r.returncode == 0, r.stderr
    rep = json.loads(r.stdout)
    assert rep["requests"] == 300 and rep["errors"] == 0
    per = {w["workload"]: w["requests"] for w in rep["per_workload"]}
    assert set(per) == {"kv2-read", "kv2-write"}
    assert sum(per.values()) == 300
    # 3:1 weights over 300 picks: reads are far more frequent, but both occur
    assert per["kv2-read"] > per["kv2-write"] > 0


def test_config_file_errors_are_plain(server, tmp_path):
    cfg = tmp_path / "bench.hcl"
    cfg.write_text('connections = 4\ntoken = "s.not-in-a-file"\n')
    r = bench(server, "-config", str(cfg))
    assert r.returncode == 2
    assert "line 2: token: tokens do not belong in a file" in r.stderr
    assert "s.not-in-a-file" not in r.stderr + r.stdout
    assert "backtrace" not in r.stderr.lower()


def test_compare_reports_ratios(coffer, bao):
    r = bench(coffer, "-compare", bao.addr, "-token2", bao.root_token, "-workload", "kv2-read",
              "-requests", "200", "-connections", "4", "-keys", "10", "-rounds", "2",
              "-format", "json")
    assert r.returncode == 0, r.stderr
    rep = json.loads(r.stdout)
    assert len(rep["rounds"]) == 2
    runs = [x[side] for x in rep["rounds"] for side in ("a", "b")]
    assert [r["target"] for r in runs] == [coffer.addr, bao.addr] * 2
    assert all(r["errors"] == 0 and r["requests"] == 200 for r in runs)
    ratios = [x["a"]["throughput_rps"] / x["b"]["throughput_rps"] for x in rep["rounds"]]
    # The report's rates are rounded to 3 decimals, the median is of the unrounded ones: on a
    # loaded machine (tens of requests per second) that is a relative difference near 1e-4.
    assert rep["median_ratio_a_over_b"]["throughput"] == pytest.approx(sum(ratios) / 2, rel=2e-3)


def test_setup_needs_a_token(server):
    r = bench(server, "-workload", "kv2-read", "-requests", "10", token=False)
    assert r.returncode != 0
    assert "token" in r.stderr.lower()


def test_bad_token_is_a_clear_error(server):
    env_token = "not-a-real-token"
    r = bench(server, "-workload", "kv2-read", "-requests", "10", "-token", env_token)
    assert r.returncode != 0
    assert "403" in r.stderr or "permission denied" in r.stderr


def test_large_values_and_chunked_responses(server):
    """A 9 kB secret: OpenBao answers the read chunked (Go's server does above a few kB),
    Coffer with a Content-Length; the load path must frame both exactly, or requests after
    the first on a connection would fail."""
    r = bench(server, "-workload", "kv2-read", "-value-size", "9000", "-requests", "300",
              "-connections", "2", "-keys", "3", "-format", "json")
    assert r.returncode == 0, r.stderr
    rep = json.loads(r.stdout)
    assert rep["requests"] == 300 and rep["errors"] == 0
    assert rep["statuses"] == {"200": 300}


def test_errors_are_one_plain_line_even_with_backtraces_on():
    env = {**os.environ, "RUST_BACKTRACE": "1", "VAULT_ADDR": "http://127.0.0.1:1"}
    r = subprocess.run([BENCH_BIN, "-workload", "trivial-get", "-requests", "1", "-no-progress"],
                       env=env, capture_output=True, text=True, timeout=60)
    assert r.returncode == 1
    assert r.stderr.startswith("error: cannot connect to http://127.0.0.1:1"), r.stderr
    assert "backtrace" not in r.stderr.lower() and r.stdout == ""
