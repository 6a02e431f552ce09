"""sys/metrics: Vault's telemetry endpoint, against Coffer and OpenBao.

Servers here are config-file servers (initialised and unsealed by the test) so that the
`telemetry` stanza and the listener's `telemetry { unauthenticated_metrics_access }` are
the ones under test, not the dev server's defaults.  The Prometheus text is parsed with
the reference parser (PyPI prometheus-client); the JSON format is go-metrics' in-memory
sink, whose field names are pinned here and checked against bao.
"""

from __future__ import annotations

import re
import socket
import time
import uuid

import pytest
from prometheus_client.parser import text_string_to_metric_families

from conftest import (TARGETS, Server, assert_status, create_token, enable_kv2, unique,
                      write_policy)

TELEMETRY = 'telemetry {\n  prometheus_retention_time = "1h"\n  disable_hostname = true\n}\n'
UNAUTH_LISTENER = "  telemetry {\n    unauthenticated_metrics_access = true\n  }\n"

JSON_TOP = ["Timestamp", "Gauges", "Points", "Counters", "Samples"]
GAUGE_KEYS = {"Name", "Value", "Labels"}
SAMPLE_KEYS = {"Name", "Count", "Rate", "Sum", "Min", "Max", "Mean", "Stddev", "Labels"}


class TelemetryServer(Server):
    """A config-file server whose file also has `extra` at the top level."""

    def __init__(self, kind: str, extra: str = "", listener_extra: str = ""):
        self.extra = extra
        super().__init__(kind, "config", listener_extra=listener_extra)

    def _write_config(self) -> None:
        super()._write_config()
        if self.extra:
            with open(self.config_path, "a") as f:
                f.write(self.extra)


def start(kind: str, extra: str = "", listener_extra: str = "", unseal: bool = True) -> TelemetryServer:
    srv = TelemetryServer(kind, extra, listener_extra)
    try:
        srv.start()
        if unseal:
            srv.init(1, 1)
            srv.unseal()
            enable_kv2(srv, "secret")
    except BaseException:
        srv.cleanup()
        raise
    return srv


@pytest.fixture(scope="module", params=TARGETS)
def tele(request):
    """An unsealed server of each kind with Prometheus on; kv-v2 at secret/."""
    srv = start(request.param, TELEMETRY)
    yield srv
    srv.cleanup()


def prom(srv: Server, token=True, **params) -> dict:
    """The Prometheus output parsed: {family name: family}."""
    r = assert_status(srv.http("GET", "sys/metrics", token=token, params={"format": "prometheus", **params}), 200)
    assert r.headers["Content-Type"].startswith("text/plain; version=0.0.4"), r.headers
    return {f.name: f for f in text_string_to_metric_families(r.text)}


def sample_value(families: dict, family: str, sample: str | None = None, **labels) -> float:
    """The value of one sample (0 when the family or the labelled sample is absent)."""
    f = families.get(family)
    if f is None:
        return 0.0
    # the parser names a counter's samples <family>_total
    want = {sample} if sample else {family, family + "_total"}
    for s in f.samples:
        if s.name in want and all(s.labels.get(k) == v for k, v in labels.items()):
            return s.value
    return 0.0


def put_secret(srv: Server, path: str, data: dict) -> None:
    assert_status(srv.http("POST", f"secret/data/{path}", json_body={"data": data}), 200)


# --------------------------------------------------------------------------------------
# Prometheus format


def test_prometheus_text_parses_with_the_reference_parser(tele):
    fams = prom(tele)
    assert fams["vault_core_handle_request"].type == "summary"
    quantiles = {s.labels.get("quantile") for s in fams["vault_core_handle_request"].samples
                 if s.name == "vault_core_handle_request"}
    assert quantiles == {"0.5", "0.9", "0.99"}
    unsealed = [s for s in fams["vault_core_unsealed"].samples if s.value == 1]
    assert fams["vault_core_unsealed"].type == "gauge" and unsealed, fams["vault_core_unsealed"]


def test_kv_reads_move_the_route_timer_by_exactly_the_reads_made(tele):
    name = unique("k")
    put_secret(tele, name, {"v": "1"})
    before = prom(tele)
    n = 7
    for _ in range(n):
        assert_status(tele.http("GET", f"secret/data/{name}"), 200)
    after = prom(tele)
    # Vault's name for the router's timer of mount secret/ (the `/` becomes `-`, then `_`)
    fam, count = "vault_route_read_secret_", "vault_route_read_secret__count"
    assert sample_value(after, fam, count) - sample_value(before, fam, count) == n
    # a refused read never reaches the backend: the router's timer does not move
    assert_status(tele.http("GET", f"secret/data/{name}", token="not-a-token"), 403)
    assert sample_value(prom(tele), fam, count) == sample_value(after, fam, count)
    if tele.kind == "coffer":
        labels = {"mount": "secret/", "operation": "read", "status": "2xx"}
        assert sample_value(after, "coffer_core_requests", **labels) \
            - sample_value(before, "coffer_core_requests", **labels) == n


def test_a_denied_request_counts_as_a_denial(tele):
    if tele.kind != "coffer":
        pytest.skip("Vault and OpenBao have no denial counter (Coffer's own metric)")
    token = create_token(tele, policies=["default"])["client_token"]
    labels = {"mount": "secret/", "operation": "read"}
    before = sample_value(prom(tele), "coffer_core_permission_denied", **labels)
    for _ in range(3):
        assert_status(tele.http("GET", "secret/data/nope", token=token), 403)
    assert_status(tele.http("GET", "secret/data/nope", token="not-a-token"), 403)
    after = prom(tele)
    assert sample_value(after, "coffer_core_permission_denied", **labels) - before == 4
    assert sample_value(after, "coffer_core_requests", status="4xx", **labels) >= 4


def test_a_failed_userpass_login_counts_as_a_login_failure(tele):
    if tele.kind != "coffer":
        pytest.skip("Vault and OpenBao have no login-failure counter (Coffer's own metric)")
    mount = unique("up")
    assert_status(tele.http("POST", f"sys/auth/{mount}", json_body={"type": "userpass"}), 204)
    assert_status(tele.http("POST", f"auth/{mount}/users/bob", json_body={"password": "right"}), 204)
    for _ in range(2):
        assert_status(tele.http("POST", f"auth/{mount}/login/bob", token=None,
                                json_body={"password": "wrong"}), 400)
    assert_status(tele.http("POST", f"auth/{mount}/login/bob", token=None,
                            json_body={"password": "right"}), 200)
    fams = prom(tele)
    assert sample_value(fams, "coffer_auth_login_failures", mount=f"auth/{mount}/") == 2
    logins = "vault_core_handle_login_request_count"
    assert sample_value(fams, "vault_core_handle_login_request", logins) >= 3


def test_no_token_accessor_or_secret_in_any_output(tele):
    secret_value = f"s3cr3t-{uuid.uuid4().hex}"
    name = unique("k")
    put_secret(tele, name, {"password": secret_value})
    write_policy(tele, name, f'path "secret/data/{name}" {{ capabilities = ["read"] }}')
    child = create_token(tele, policies=[name])
    mount = unique("up")
    assert_status(tele.http("POST", f"sys/auth/{mount}", json_body={"type": "userpass"}), 204)
    user_pw = f"pw-{uuid.uuid4().hex}"
    assert_status(tele.http("POST", f"auth/{mount}/users/alice", json_body={"password": user_pw,
                                                                             "policies": [name]}), 204)
    login = assert_status(tele.http("POST", f"auth/{mount}/login/alice", token=None,
                                    json_body={"password": user_pw}), 200).json()["auth"]
    user_path = f"client-{uuid.uuid4().hex}"
    for tok in (child["client_token"], login["client_token"], "bogus-" + uuid.uuid4().hex):
        tele.http("GET", f"secret/data/{name}", token=tok)
        tele.http("GET", f"secret/data/{user_path}", token=tok)
        tele.http("GET", f"{user_path}/x", token=tok)  # no such mount: must not become a label
    texts = [
        assert_status(tele.http("GET", "sys/metrics", params={"format": "prometheus"}), 200).text,
        assert_status(tele.http("GET", "sys/metrics"), 200).text,
    ]
    forbidden = [secret_value, user_pw, child["client_token"], child["accessor"],
                 login["client_token"], login["accessor"], tele.root_token, user_path]
    for text in texts:
        for value in forbidden:
            assert value not in text
    if tele.kind == "coffer":
        fams = prom(tele)
        mounts = {s.labels.get("mount") for s in fams["coffer_core_requests"].samples}
        assert "unknown" in mounts and not any(user_path in (m or "") for m in mounts)


def test_accept_header_selects_prometheus(tele):
    r = assert_status(tele.http("GET", "sys/metrics", headers={"Accept": "prometheus/telemetry"}), 200)
    assert r.headers["Content-Type"].startswith("text/plain; version=0.0.4")
    assert any(f.name == "vault_core_handle_request" for f in text_string_to_metric_families(r.text))


def test_unknown_format_is_vaults_400(tele):
    r = assert_status(tele.http("GET", "sys/metrics", params={"format": "xml"}), 400)
    assert r.headers["Content-Type"] == "text/plain"
    assert r.text == 'metric response format "xml" unknown'


# --------------------------------------------------------------------------------------
# JSON format (go-metrics' in-memory sink)


def test_json_format_has_go_metrics_shape(tele):
    name = unique("k")
    put_secret(tele, name, {"v": "1"})
    deadline = time.monotonic() + 25
    body = None
    while time.monotonic() < deadline:
        # the last complete 10 s interval: keep requests flowing until one holds samples
        tele.http("GET", f"secret/data/{name}")
        r = assert_status(tele.http("GET", "sys/metrics"), 200)
        assert r.headers["Content-Type"] == "application/json"
        body = r.json()
        if body["Counters"] and any(s["Name"] == "vault.core.handle_request" for s in body["Samples"]):
            break
        time.sleep(0.5)
    assert list(body) == JSON_TOP, list(body)
    assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d \+0000 UTC", body["Timestamp"]), body["Timestamp"]
    assert body["Points"] == []
    assert body["Gauges"] and body["Counters"] and body["Samples"], body
    for g in body["Gauges"]:
        assert set(g) == GAUGE_KEYS, g
        assert isinstance(g["Labels"], dict)
    for s in body["Counters"] + body["Samples"]:
        assert set(s) == SAMPLE_KEYS, s
        assert isinstance(s["Count"], int) and s["Count"] > 0
        assert s["Min"] <= s["Mean"] <= s["Max"]
    names = [g["Name"] for g in body["Gauges"]]
    assert names == sorted(names)
    assert "vault.core.unsealed" in names
    assert any(s["Name"] == "vault.core.handle_request" for s in body["Samples"])


# --------------------------------------------------------------------------------------
# access


def test_a_token_is_required_by_default(tele):
    assert_status(tele.http("GET", "sys/metrics", token=None), 403)
    assert_status(tele.http("GET", "sys/metrics", token=None, params={"format": "prometheus"}), 403)
    weak = create_token(tele, policies=["default"])["client_token"]
    assert_status(tele.http("GET", "sys/metrics", token=weak), 403)
    name = unique("metrics")
    write_policy(tele, name, 'path "sys/metrics" { capabilities = ["read"] }')
    reader = create_token(tele, policies=[name])["client_token"]
    prom(tele, token=reader)


@pytest.mark.parametrize("kind", TARGETS)
def test_unauthenticated_metrics_access_on_a_listener(kind):
    srv = start(kind, TELEMETRY, UNAUTH_LISTENER, unseal=False)
    try:
        # sealed (not even initialised): answered without a token, and says so
        fams = prom(srv, token=None)
        assert all(s.value == 0 for s in fams["vault_core_unsealed"].samples), fams["vault_core_unsealed"]
        srv.init(1, 1)
        srv.unseal()
        fams = prom(srv, token=None)
        assert any(s.value == 1 for s in fams["vault_core_unsealed"].samples)
        r = assert_status(srv.http("GET", "sys/metrics", token=None), 200)
        assert list(r.json()) == JSON_TOP
        assert_status(srv.http("POST", "sys/metrics", token=None), 405)
        assert_status(srv.http("PUT", "sys/seal"), 204)
        fams = prom(srv, token=None)
        values = {s.labels.get("cluster"): s.value for s in fams["vault_core_unsealed"].samples}
        assert values.get("") == 0, values
        if srv.kind == "coffer":
            # the cluster-named series seen while unsealed drops to 0 too
            assert all(v == 0 for v in values.values()), values
    finally:
        srv.cleanup()


@pytest.mark.parametrize("kind", TARGETS)
def test_without_a_telemetry_stanza_prometheus_is_not_enabled(kind):
    srv = start(kind)
    try:
        r = assert_status(srv.http("GET", "sys/metrics", params={"format": "prometheus"}), 400)
        assert r.headers["Content-Type"] == "text/plain"
        assert r.text == "prometheus is not enabled"
        assert list(assert_status(srv.http("GET", "sys/metrics"), 200).json()) == JSON_TOP
    finally:
        srv.cleanup()


@pytest.mark.parametrize("kind", TARGETS)
def test_no_host_name_in_metric_names_even_without_disable_hostname(kind):
    """Vault's docs say gauges are prefixed with the host name unless disable_hostname;
    OpenBao prefixes none of them, and Coffer names them as OpenBao does."""
    srv = start(kind, 'telemetry {\n  prometheus_retention_time = "1h"\n}\n')
    try:
        host = re.sub(r"[^a-zA-Z0-9_]", "_", socket.gethostname())
        fams = prom(srv)
        assert "vault_core_unsealed" in fams and "vault_core_handle_request" in fams
        assert not any(name.startswith(f"vault_{host}_") for name in fams), sorted(fams)
    finally:
        srv.cleanup()
