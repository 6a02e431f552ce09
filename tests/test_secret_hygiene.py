"""Secret values never reach the server's log (even at trace level), error messages,
or physical storage in the clear. Coffer's own guarantees (ARCHITECTURE.md invariants),
so these run against Coffer only."""
from __future__ import annotations

import secrets
from pathlib import Path

import pytest

from conftest import Server, assert_status, create_token, enable_kv2


@pytest.fixture
def traced():
    srv = Server("coffer", mode="config")
    with open(srv.config_path, "a") as f:
        f.write('log_level = "trace"\n')
    srv.start()
    srv.init(shares=1, threshold=1)
    srv.unseal()
    try:
        yield srv
    finally:
        srv.cleanup()


def _scan_files(root: Path, needle: bytes) -> list[str]:
    return [str(p) for p in root.rglob("*") if p.is_file() and needle in p.read_bytes()]


def test_secret_values_stay_out_of_logs_errors_and_disk(traced):
    """Write a secret through kv v2, kv v1, cubbyhole, token metadata and response
    wrapping, provoke errors with the secret in the request (bad JSON, wrong types,
    bad CAS, bad policy text, bogus token); the secret is in none of the error bodies,
    not in the trace-level log, and not in any file of the storage directory."""
    srv = traced
    secret = "s3cr3t-" + secrets.token_hex(12)
    enable_kv2(srv, "kv")
    assert_status(srv.http("POST", "sys/mounts/kv1", json_body={"type": "kv"}), 204)

    assert_status(srv.http("POST", "kv/data/app", json_body={"data": {"password": secret}}), 200)
    assert srv.http("GET", "kv/data/app").json()["data"]["data"]["password"] == secret
    assert_status(srv.http("POST", "kv1/app", json_body={"password": secret}), 204)
    assert_status(srv.http("POST", "cubbyhole/app", json_body={"password": secret}), 204)
    create_token(srv, policies=["default"], meta={"note": secret})
    wrapped = srv.http("GET", "kv/data/app", headers={"X-Vault-Wrap-TTL": "5m"})
    assert_status(wrapped, 200)

    errors = [
        srv.http("POST", "kv/data/app", data='{"data": {"password": "' + secret + '"', headers={"Content-Type": "application/json"}),
        srv.http("POST", "kv/data/app", json_body={"data": secret}),
        srv.http("POST", "kv/data/app", json_body={"data": {"password": secret}, "options": {"cas": 99}}),
        srv.http("POST", "auth/userpass-nope/login/u", json_body={"password": secret}),
        srv.http("GET", "kv/data/app", token=secret),
    ]
    for r in errors:
        assert r.status_code >= 400, (r.status_code, r.text)
        assert secret not in r.text, (r.request.method, r.request.url, r.text)

    # Unsealed already: Vault answers the status and ignores the key; it must not echo it.
    r = srv.http("PUT", "sys/unseal", token=None, json_body={"key": secret})
    assert secret not in r.text

    log = srv.log_path.read_bytes()
    assert b"/v1/kv/data/app" in log, "request log lines expected at trace level"
    assert secret.encode() not in log, "secret value found in the server log"
    assert not _scan_files(srv.workdir / "data", secret.encode()), "plaintext secret on disk"
