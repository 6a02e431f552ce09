"""Alert rules on the audit stream, black-box (docs/alerts.md).

A real webhook receiver (Python http.server on 127.0.0.1) and a Coffer server started
from a config file with `alert` blocks: a burst of denied requests gives exactly one
alert within the window and another after the cooldown; root-token use and policy
changes alert; a webhook that hangs or answers 500 neither slows requests nor loses the
alert (it is retried); rules set through sys/audit-alerts/rules show redacted URLs and
refuse bad input with 400, storing nothing.

`coffer audit report` runs on a real Vault-format log: the file audit device of
`bao server -dev` (declared in a bao config file, as OpenBao 2.x requires), and its
counts are checked against the requests the test made.
"""

from __future__ import annotations

import json
import subprocess
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import requests

from conftest import BAO_BIN, COFFER_BIN, Server, assert_status, errors_of, spawn_listening, _kill_group, _LIVE

SECRET = "T0SECRET0B0SECRET0xyz"


class Receiver:
    """A webhook receiver: records every POST by path; /fail answers 500 to the first
    two attempts, /hang sleeps before answering."""

    def __init__(self):
        self.calls: list[tuple[str, float, dict]] = []
        self.lock = threading.Lock()
        self.fail_left = 2
        outer = self

        class H(BaseHTTPRequestHandler):
            def log_message(self, *a):
                pass

            def do_POST(self):
                n = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(n)
                try:
                    doc = json.loads(body)
                except ValueError:
                    doc = {"_raw": body.decode(errors="replace")}
                path = self.path.split("?")[0]
                with outer.lock:
                    outer.calls.append((path, time.monotonic(), doc))
                    fail = path == "/fail" and outer.fail_left > 0
                    if fail:
                        outer.fail_left -= 1
                if path == "/hang":
                    time.sleep(8)
                code = 500 if fail else 200
                self.send_response(code)
                self.send_header("Content-Length", "2")
                self.end_headers()
                try:
                    self.wfile.write(b"ok")
                except OSError:
                    pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), H)
        self.httpd.daemon_threads = True
        self.port = self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def at(self, path: str) -> list[dict]:
        with self.lock:
            return [d for p, _, d in self.calls if p == path]

    def wait(self, path: str, n: int, timeout: float = 10.0) -> list[dict]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            got = self.at(path)
            if len(got) >= n:
                return got
            time.sleep(0.05)
        return self.at(path)

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


class AlertServer(Server):
    """A config-file Coffer server whose config also holds `alert` blocks."""

    def __init__(self, alerts: str):
        self.alerts_hcl = alerts
        super().__init__("coffer", "config")

    def _write_config(self):
        super()._write_config()
        with open(self.config_path, "a") as f:
            f.write(self.alerts_hcl)


def alert_config(rx: Receiver) -> str:
    return f'''
alert "denied-burst" {{
  kind      = "denied"
  threshold = 10
  window    = "5s"
  cooldown  = "6s"
  group_by  = "remote_address"
  webhook {{
    url    = "{rx.url('/burst')}?token={SECRET}"
    format = "json"
  }}
}}
alert "root-use" {{
  kind   = "root_token"
  window = "1h"
  webhook {{
    url = "{rx.url('/root')}"
  }}
}}
alert "policy" {{
  kind = "policy_change"
  webhook {{
    url    = "{rx.url('/policy')}"
    format = "slack"
  }}
}}
alert "unseal" {{
  kind = "unseal"
  window = "1h"
  webhook {{
    url = "{rx.url('/fail')}"
    max_attempts = 4
  }}
}}
alert "every-denial-to-a-hanging-hook" {{
  kind      = "denied"
  cooldown  = "0s"
  webhook {{
    url     = "{rx.url('/hang')}"
    timeout = "2s"
    max_attempts = 2
  }}
}}
'''


@pytest.fixture(scope="module")
def rx():
    r = Receiver()
    yield r
    r.close()


@pytest.fixture(scope="module")
def srv(rx):
    s = AlertServer(alert_config(rx))
    try:
        s.start()
        s.init(shares=1, threshold=1)
        s.unseal()
        yield s
    finally:
        s.cleanup()


def deny(srv, n):
    """n denied requests (an unknown token); their latencies."""
    lat = []
    for i in range(n):
        t = time.monotonic()
        r = srv.http("GET", f"secret/data/x{i}", token="not-a-token")
        lat.append(time.monotonic() - t)
        assert r.status_code == 403, r.text
    return lat


def test_a_burst_of_denials_gives_one_alert_then_another_after_the_cooldown(srv, rx):
    before = len(rx.at("/burst"))
    lat = deny(srv, 30)
    got = rx.wait("/burst", before + 1)
    time.sleep(1.5)  # anything more would come now
    got = rx.at("/burst")
    assert len(got) == before + 1, got
    a = got[-1]
    assert a["rule"] == "denied-burst" and a["kind"] == "denied"
    assert a["key"] == {"remote_address": "127.0.0.1"}
    assert a["count"] == 10 and a["threshold"] == 10 and a["window"] == 5
    assert a["first_time"] <= a["last_time"]
    assert any(p.startswith("secret/data/x") for p in a["paths"])
    text = json.dumps(a)
    assert "not-a-token" not in text
    # the cooldown (6 s) passes: the next burst alerts again
    time.sleep(6)
    deny(srv, 12)
    got = rx.wait("/burst", before + 2)
    assert len(got) == before + 2, got
    assert got[-1]["suppressed"] >= 1  # the rest of the first burst was held back, and said so
    # every denied request meanwhile went to a webhook that hangs 8 s: none was slowed
    assert max(lat) < 0.5, lat


def test_a_hanging_webhook_does_not_slow_requests(srv, rx):
    assert rx.wait("/hang", 1), "the hanging webhook was called"
    # the hook is hanging now (8 s per call); requests stay fast
    lat = deny(srv, 20)
    lat.sort()
    assert lat[len(lat) // 2] < 0.1 and lat[-1] < 0.5, lat
    ok = []
    for _ in range(20):
        t = time.monotonic()
        assert_status(srv.http("GET", "sys/mounts"), 200)
        ok.append(time.monotonic() - t)
    assert max(ok) < 0.5, ok


def test_root_token_use_alerts_once_per_window(srv, rx):
    for _ in range(5):
        assert_status(srv.http("GET", "sys/mounts"), 200)
    got = rx.wait("/root", 1)
    time.sleep(1)
    got = rx.at("/root")
    assert len(got) == 1, got
    a = got[0]
    assert a["kind"] == "root_token"
    acc = a["key"]["accessor"]
    assert acc.startswith("hmac-sha256:")
    # never the token or the accessor itself
    look = srv.http("POST", "auth/token/lookup-self").json()["data"]
    assert look["accessor"] not in json.dumps(a) and srv.root_token not in json.dumps(a)
    assert a["display_names"] == ["root"]


def test_a_policy_change_alerts_in_slack_format(srv, rx):
    before = len(rx.at("/policy"))
    assert_status(srv.http("PUT", "sys/policies/acl/alert-test", json_body={"policy": 'path "x" { capabilities = ["read"] }'}), 204)
    got = rx.wait("/policy", before + 1)
    assert len(got) == before + 1
    m = got[-1]
    assert set(m) == {"text", "blocks"}
    assert m["text"].startswith("Coffer alert policy: 1 policy changes")
    assert "sys/policies/acl/alert-test" in m["blocks"][0]["text"]["text"]
    # a read is no change
    assert_status(srv.http("GET", "sys/policies/acl/alert-test"), 200)
    time.sleep(1)
    assert len(rx.at("/policy")) == before + 1


def test_unseal_alert_is_retried_after_500s(srv, rx):
    # the unseal at start went to /fail: two 500s, then accepted (backoff 1 s, 2 s)
    got = rx.wait("/fail", 3, timeout=15)
    assert len(got) == 3, got
    assert all(g["kind"] == "unseal" and g["rule"] == "unseal" for g in got)
    time.sleep(1.5)
    assert len(rx.at("/fail")) == 3, "delivered once it was accepted, not again"


def test_webhook_urls_never_reach_the_log(srv):
    log = srv.log_path.read_text(errors="replace")
    assert SECRET not in log


# ---- the API ---------------------------------------------------------------------------

RULE = "sys/audit-alerts/rules/"


def test_api_rule_crud_with_redacted_urls(srv, rx):
    body = {"kind": "mount_change", "threshold": 1, "window": "30s", "group_by": "path",
            "webhooks": [{"url": rx.url("/api") + f"?k={SECRET}", "format": "json"}]}
    assert_status(srv.http("POST", RULE + "api-rule", json_body=body), 204)
    r = assert_status(srv.http("GET", RULE + "api-rule"), 200)
    d = r.json()["data"]
    assert SECRET not in r.text
    assert d["webhooks"][0]["url"] == f"http://127.0.0.1:{rx.port}/…"
    assert (d["kind"], d["threshold"], d["window"], d["cooldown"], d["group_by"], d["source"]) == \
        ("mount_change", 1, 30, 30, ["path"], "api")
    keys = assert_status(srv.http("LIST", "sys/audit-alerts/rules"), 200).json()["data"]["keys"]
    assert "api-rule" in keys and "denied-burst" in keys
    cfg = assert_status(srv.http("GET", RULE + "denied-burst"), 200).json()["data"]
    assert cfg["source"] == "config" and SECRET not in json.dumps(cfg)
    # the rule is in force at once
    assert_status(srv.http("POST", "sys/mounts/alert-kv", json_body={"type": "kv"}), 204)
    got = rx.wait("/api", 1)
    assert len(got) == 1 and got[0]["key"] == {"path": "sys/mounts/alert-kv"}
    assert_status(srv.http("DELETE", RULE + "api-rule"), 204)
    assert_status(srv.http("GET", RULE + "api-rule"), 404)
    assert_status(srv.http("DELETE", "sys/mounts/alert-kv"), 204)
    time.sleep(1)
    assert len(rx.at("/api")) == 1, "a deleted rule no longer fires"


@pytest.mark.parametrize("body, word", [
    ({"kind": "nope", "webhooks": [{"url": "http://127.0.0.1:1/"}]}, "kind"),
    ({"kind": "denied", "threshold": 0, "webhooks": [{"url": "http://127.0.0.1:1/"}]}, "threshold"),
    ({"kind": "denied", "window": "forever", "webhooks": [{"url": "http://127.0.0.1:1/"}]}, "window"),
    ({"kind": "denied", "group_by": "token", "webhooks": [{"url": "http://127.0.0.1:1/"}]}, "group_by"),
    ({"kind": "denied", "webhooks": [{"url": "ftp://127.0.0.1/"}]}, "url"),
    ({"kind": "denied", "webhooks": [{"url": "http://127.0.0.1:1/", "format": "xml"}]}, "format"),
    ({"kind": "denied", "webhooks": [{"url": "http://127.0.0.1:1/", "secret": "x"}]}, "unknown key"),
    ({"kind": "denied"}, "webhook"),
    ({"kind": "denied", "webhooks": [{"url": "http://127.0.0.1/…"}]}, "redacted"),
])
def test_api_refuses_bad_rules_and_stores_nothing(srv, body, word):
    r = assert_status(srv.http("POST", RULE + "bad-rule", json_body=body), 400)
    assert any(word in e for e in errors_of(r)), r.text
    assert_status(srv.http("GET", RULE + "bad-rule"), 404)


def test_api_refuses_config_rules_bad_names_and_callers_without_sudo(srv, rx):
    ok = {"kind": "seal", "webhooks": [{"url": rx.url("/x")}]}
    r = assert_status(srv.http("POST", RULE + "denied-burst", json_body=ok), 400)
    assert "config file" in errors_of(r)[0]
    assert_status(srv.http("DELETE", RULE + "denied-burst"), 400)
    assert_status(srv.http("POST", RULE + ".hidden", json_body=ok), 400)
    # a token whose policy grants the path but not sudo is refused
    assert_status(srv.http("PUT", "sys/policies/acl/alerts-nosudo", json_body={
        "policy": 'path "sys/audit-alerts/*" { capabilities = ["create", "read", "update", "delete", "list"] }'}), 204)
    tok = assert_status(srv.http("POST", "auth/token/create", json_body={"policies": ["alerts-nosudo"]}), 200).json()["auth"]["client_token"]
    assert_status(srv.http("POST", RULE + "nosudo", token=tok, json_body=ok), 403)
    assert_status(srv.http("GET", RULE + "nosudo"), 404)


def test_api_rules_survive_a_restart(srv, rx):
    body = {"kind": "auth_change", "webhooks": [{"url": rx.url("/persist")}]}
    assert_status(srv.http("POST", RULE + "persist", json_body=body), 204)
    srv.restart()
    srv.unseal()
    d = assert_status(srv.http("GET", RULE + "persist"), 200).json()["data"]
    assert d["kind"] == "auth_change"
    assert_status(srv.http("POST", "sys/auth/alert-up", json_body={"type": "userpass"}), 204)
    got = rx.wait("/persist", 1)
    assert len(got) == 1 and got[0]["kind"] == "auth_change"
    assert_status(srv.http("DELETE", RULE + "persist"), 204)


# ---- coffer audit report on a real Vault-format log ----------------------------------


@pytest.fixture(scope="module")
def bao_audit_log(tmp_path_factory):
    """A bao dev server with a file audit device (declared in its config file), the
    requests the report test counts, and the resulting log."""
    d = tmp_path_factory.mktemp("bao-audit")
    log = d / "audit.log"
    (d / "audit.hcl").write_text(f'audit "file" "file" {{\n  options {{\n    file_path = "{log}"\n  }}\n}}\n')
    proc, port = spawn_listening(
        lambda p: [BAO_BIN, "server", "-dev", "-dev-root-token-id=root",
                   f"-dev-listen-address=127.0.0.1:{p}", f"-config={d / 'audit.hcl'}"],
        d / "server.log", env={"HOME": str(d), "PATH": "/usr/bin:/bin"})
    try:
        assert port, (d / "server.log").read_text()
        addr = f"http://127.0.0.1:{port}/v1/"
        s = requests.Session()
        root = {"X-Vault-Token": "root"}
        deadline = time.monotonic() + 30
        while s.get(addr + "sys/health").status_code != 200:
            assert time.monotonic() < deadline
            time.sleep(0.1)
        assert s.post(addr + "sys/auth/userpass", json={"type": "userpass"}, headers=root).status_code == 204
        assert s.post(addr + "auth/userpass/users/alice", json={"password": "pw", "policies": "default"}, headers=root).status_code == 204
        assert s.put(addr + "sys/policies/acl/report-p", json={"policy": 'path "x" { capabilities = ["read"] }'}, headers=root).status_code == 204
        logins = [s.post(addr + "auth/userpass/login/alice", json={"password": "pw"}) for _ in range(2)]
        assert all(r.status_code == 200 for r in logins)
        alice = logins[0].json()["auth"]["client_token"]
        fails = [s.post(addr + "auth/userpass/login/alice", json={"password": "wrong"}) for _ in range(3)]
        assert all(r.status_code == 400 for r in fails), [r.text for r in fails]
        for _ in range(4):
            assert s.get(addr + "secret/data/forbidden", headers={"X-Vault-Token": alice}).status_code == 403
        for _ in range(2):
            assert s.get(addr + "sys/mounts", headers={"X-Vault-Token": "bogus"}).status_code == 403
        assert s.get(addr + "sys/mounts", headers=root).status_code == 200
        time.sleep(0.5)
        yield log
    finally:
        _kill_group(proc)
        _LIVE.discard(proc)


def report(*args):
    cp = subprocess.run([COFFER_BIN, "audit", "report", *args], capture_output=True, text=True, timeout=60)
    assert cp.returncode == 0, cp.stderr
    return cp.stdout


def test_report_counts_a_real_bao_audit_log(bao_audit_log, tmp_path):
    rep = json.loads(report("-format=json", str(bao_audit_log)))
    by_path = {}
    for d in rep["denials"]:
        by_path[d["path"]] = by_path.get(d["path"], 0) + d["count"]
    assert by_path.get("secret/data/forbidden") == 4, rep["denials"]
    assert by_path.get("sys/mounts") == 2, rep["denials"]
    alice_denials = [d for d in rep["denials"] if d["path"] == "secret/data/forbidden"]
    assert alice_denials[0]["display_name"] == "userpass-alice"
    assert alice_denials[0]["accessor"].startswith("hmac-sha256:")
    logins = {(l["mount"], l["display_name"]): (l["success"], l["failure"]) for l in rep["logins"]}
    assert logins[("auth/userpass/", "userpass-alice")] == (2, 0), logins
    assert logins[("auth/userpass/", "alice")] == (0, 3), logins
    # bao's dev root token (the custom id) is made by the initial root token through
    # auth/token/create, so its display name is "token"; it made the test's four root
    # requests and the dev server's own mount of secret/
    root = [r for r in rep["root_token_use"] if "sys/policies/acl/report-p" in r["paths"]]
    assert len(root) == 1 and root[0]["count"] == 5, rep["root_token_use"]
    assert root[0]["accessor"].startswith("hmac-sha256:")
    assert [c["path"] for c in rep["policy_changes"]] == ["sys/policies/acl/report-p"]
    assert "sys/auth/userpass" in [c["path"] for c in rep["mount_changes"]]
    # the table says the same
    table = report(str(bao_audit_log))
    assert "Denied requests by accessor and path" in table and "secret/data/forbidden" in table
    assert "userpass-alice" in table
    # a device prefix, the chain member and checkpoint lines are read too
    lines = bao_audit_log.read_text().splitlines()
    mixed = tmp_path / "mixed.log"
    with open(mixed, "w") as f:
        for i, line in enumerate(lines):
            doc = json.loads(line)
            doc["chain"] = {"seq": i, "prev": "sha256:" + "0" * 64}
            f.write("coffer| " + json.dumps(doc) + "\n")
            if i % 5 == 0:
                f.write(json.dumps({"type": "checkpoint", "seq": i}) + "\n")
    rep2 = json.loads(report("-format=json", str(mixed)))
    assert rep2["denials"] == rep["denials"] and rep2["logins"] == rep["logins"]
    assert rep2["skipped"]["checkpoints"] == (len(lines) + 4) // 5
    # --since in the future leaves everything out; a duration back covers it all
    future = json.loads(report("-format=json", "-since=2999-01-01T00:00:00Z", str(bao_audit_log)))
    assert future["responses"] == 0 and future["denials"] == []
    recent = json.loads(report("-format=json", "-since=1h", str(bao_audit_log)))
    assert recent["denials"] == rep["denials"]


def test_report_refuses_bad_arguments():
    cp = subprocess.run([COFFER_BIN, "audit", "report", "-since=someday", "x"], capture_output=True, text=True)
    assert cp.returncode == 1 and "-since" in cp.stderr
    cp = subprocess.run([COFFER_BIN, "audit", "report", "-format=xml", "x"], capture_output=True, text=True)
    assert cp.returncode == 1 and "-format" in cp.stderr


def test_report_reads_an_object_store_prefix(bao_audit_log, tmp_path):
    """-store s3://bucket/prefix on a real S3 API (moto in server mode on loopback):
    the log split into segments as the object-store device names them gives the same
    report as the file; objects outside the prefix are not read."""
    import boto3
    moto_bin = str(Path(BAO_BIN).parent / "moto_server")
    if not Path(moto_bin).exists():
        import shutil
        moto_bin = shutil.which("moto_server") or moto_bin
    proc, port = spawn_listening(lambda p: [moto_bin, "-H", "127.0.0.1", "-p", str(p)], tmp_path / "moto.log")
    try:
        assert port, (tmp_path / "moto.log").read_text()
        endpoint = f"http://127.0.0.1:{port}"
        creds = {"AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "sk-SECRET-9f8e", "AWS_REGION": "us-east-1"}
        s3 = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1",
                          aws_access_key_id="test", aws_secret_access_key="sk-SECRET-9f8e")
        s3.create_bucket(Bucket="audit")
        lines = bao_audit_log.read_text().splitlines(keepends=True)
        half = len(lines) // 2
        # counters out of time order on purpose: readers order by the counter
        s3.put_object(Bucket="audit", Key="dev/2026/12/07/100000-0000000002.jsonl", Body="".join(lines[half:]))
        s3.put_object(Bucket="audit", Key="dev/2026/12/07/110000-0000000001.jsonl", Body="".join(lines[:half]))
        s3.put_object(Bucket="audit", Key="other/2026/12/07/100000-0000000001.jsonl", Body="".join(lines))
        env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "AWS_ENDPOINT_URL": endpoint, **creds}
        cp = subprocess.run([COFFER_BIN, "audit", "report", "-format=json", "-store", "s3://audit/dev/"],
                            capture_output=True, text=True, timeout=60, env=env)
        assert cp.returncode == 0, cp.stderr
        from_store = json.loads(cp.stdout)
        from_file = json.loads(report("-format=json", str(bao_audit_log)))
        for k in ("denials", "logins", "root_token_use", "policy_changes", "mount_changes", "responses"):
            assert from_store[k] == from_file[k], k
        cp = subprocess.run([COFFER_BIN, "audit", "report", "-store", "s3://missing-bucket/x"],
                            capture_output=True, text=True, timeout=60, env=env)
        assert cp.returncode == 1 and "missing-bucket" in cp.stderr and "sk-SECRET" not in cp.stderr
    finally:
        _kill_group(proc)
        _LIVE.discard(proc)
