"""Audit devices (sys/audit, sys/audit-hash, the file device, fail-closed, filters).

Shared behaviour runs against coffer AND bao.  OpenBao >= 2.3.2 refuses to enable
devices through the API unless its config says `unsafe_allow_api_audit_creation = true`,
so the bao dev servers here get that one line through `-config` (Coffer allows it by
default, as Vault does).  Every device writes into the test's own tmp directory; the
entries are read back from the files the servers wrote.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import time
from pathlib import Path

import pytest

from conftest import TARGETS, Server, assert_status, unique

HMAC = re.compile(r"^hmac-sha256:[0-9a-f]{64}$")


class AuditDevServer(Server):
    """A dev server whose API may enable audit devices (bao needs a config line)."""

    def argv(self) -> list[str]:
        argv = super().argv()
        if self.kind == "bao":
            extra = self.workdir / "audit-api.hcl"
            extra.write_text("unsafe_allow_api_audit_creation = true\nallow_audit_log_prefixing = true\n")
            argv.append(f"-config={extra}")
        return argv


@pytest.fixture(scope="module", params=TARGETS)
def srv(request):
    s = AuditDevServer(request.param, "dev")
    try:
        s.start()
    except BaseException:
        s.cleanup()
        raise
    yield s
    s.cleanup()


@pytest.fixture(scope="module")
def coffer_audit():
    s = AuditDevServer("coffer", "dev")
    s.start()
    yield s
    s.cleanup()


def enable(srv: Server, path: str, file_path, expect: int = 204, **options):
    opts = {"file_path": str(file_path), **{k: str(v) for k, v in options.items()}}
    r = srv.http("PUT", f"sys/audit/{path}", json_body={"type": "file", "options": opts})
    assert r.status_code == expect, (r.status_code, r.text)
    return r


def disable(srv: Server, path: str) -> None:
    assert_status(srv.http("DELETE", f"sys/audit/{path}"), 204)


def entries(file_path) -> list[dict]:
    p = Path(file_path)
    if not p.exists():
        return []
    return vault_entries(json.loads(line) for line in p.read_text().splitlines() if line.strip())


def vault_entries(lines) -> list[dict]:
    """The Vault entries of a Coffer log: its hash chain's own lines (checkpoint, resume) left
    out and each entry's `chain` member removed (tests/test_audit_chain.py tests those)."""
    out = []
    for e in lines:
        if e.get("type") in ("checkpoint", "resume"):
            continue
        e.pop("chain", None)
        out.append(e)
    return out


def for_path(es: list[dict], path: str) -> list[dict]:
    return [e for e in es if e.get("request", {}).get("path") == path]


def audit_hash(srv: Server, path: str, value: str) -> str:
    r = assert_status(srv.http("PUT", f"sys/audit-hash/{path}", json_body={"input": value}), 200)
    h = r.json()["data"]["hash"]
    assert HMAC.match(h), h
    assert r.json()["hash"] == h
    return h


def sighup(srv: Server) -> None:
    os.kill(srv.proc.pid, signal.SIGHUP)
    time.sleep(1.0)  # the signal is handled asynchronously by both servers


# ---------------------------------------------------------------------------- devices


def test_enable_list_disable_and_bad_options(srv, tmp_path):
    path = unique("f")
    enable(srv, path, tmp_path / "a.log")
    r = assert_status(srv.http("GET", "sys/audit"), 200).json()
    dev = r["data"][f"{path}/"]
    assert dev == {"type": "file", "description": "", "options": {"file_path": str(tmp_path / "a.log")},
                   "local": False, "path": f"{path}/"}
    assert r[f"{path}/"] == dev
    # the path is taken
    r = enable(srv, path, tmp_path / "b.log", expect=400)
    assert r.json()["errors"] == ["path already in use"]
    # probing: a file that cannot be opened (its directory is a file) is refused and
    # nothing is stored (a missing directory is created, by both servers)
    (tmp_path / "a-file").write_text("x")
    bad = unique("bad")
    enable(srv, bad, tmp_path / "a-file" / "x.log", expect=400)
    assert f"{bad}/" not in srv.http("GET", "sys/audit").json()["data"]
    # unknown type
    r = srv.http("PUT", f"sys/audit/{unique('t')}", json_body={"type": "nonesuch", "options": {}})
    assert r.status_code == 400, r.text
    # listing needs sudo: a default token is refused
    tok = srv.http("POST", "auth/token/create", json_body={"policies": ["default"]}).json()["auth"]["client_token"]
    assert srv.http("GET", "sys/audit", token=tok).status_code == 403
    disable(srv, path)
    assert f"{path}/" not in srv.http("GET", "sys/audit").json()["data"]
    # disabling a path with no device is not an error
    disable(srv, unique("none"))


def test_audit_hash_matches_the_log_and_reenable_changes_it(srv, tmp_path):
    path = unique("h")
    log = tmp_path / "h.log"
    enable(srv, path, log)
    srv.http("GET", "sys/mounts")
    h = audit_hash(srv, path, srv.root_token)
    es = for_path(entries(log), "sys/mounts")
    assert [e["type"] for e in es] == ["request", "response"]
    for e in es:
        assert e["auth"]["client_token"] == h
        assert e["request"]["client_token"] == h
    assert srv.http("PUT", f"sys/audit-hash/{unique('nope')}", json_body={"input": "x"}).status_code == 400
    disable(srv, path)
    enable(srv, path, tmp_path / "h2.log")
    assert audit_hash(srv, path, srv.root_token) != h, "a re-enabled device has a new salt"
    disable(srv, path)


def test_login_entry_describes_the_new_token(srv, tmp_path):
    up = unique("up")
    assert_status(srv.http("POST", f"sys/auth/{up}", json_body={"type": "userpass"}), 204)
    assert_status(srv.http("POST", f"auth/{up}/users/al", json_body={"password": "pw-secret", "policies": "default"}), 204)
    path = unique("l")
    log = tmp_path / "l.log"
    enable(srv, path, log)
    r = assert_status(srv.http("POST", f"auth/{up}/login/al", token=None, json_body={"password": "pw-secret"}), 200)
    token = r.json()["auth"]["client_token"]
    req, resp = for_path(entries(log), f"auth/{up}/login/al")
    assert "client_token" not in req["auth"] and "client_token" not in req["request"]
    assert req["request"]["data"]["password"] == audit_hash(srv, path, "pw-secret")
    assert resp["auth"]["client_token"] == audit_hash(srv, path, token)
    assert resp["response"]["auth"]["client_token"] == audit_hash(srv, path, token)
    assert resp["auth"]["display_name"] == f"{up}-al"
    assert resp["auth"]["policies"] == ["default"]
    assert "pw-secret" not in log.read_text() and token not in log.read_text()
    disable(srv, path)
    assert_status(srv.http("DELETE", f"sys/auth/{up}"), 204)


def test_denied_requests_are_audited_with_their_error(srv, tmp_path):
    path = unique("d")
    log = tmp_path / "d.log"
    enable(srv, path, log)
    r = srv.http("GET", "secret/data/denied", token="not-a-token")
    assert r.status_code == 403
    req, resp = for_path(entries(log), "secret/data/denied")
    assert req["type"] == "request" and resp["type"] == "response"
    assert req["error"] == "permission denied"
    assert "permission denied" in resp["error"]
    assert req["request"]["client_token"] == audit_hash(srv, path, "not-a-token")
    disable(srv, path)


def test_seal_status_and_health_are_not_audited(srv, tmp_path):
    path = unique("n")
    log = tmp_path / "n.log"
    enable(srv, path, log)
    for p in ("sys/seal-status", "sys/health", "sys/leader"):
        srv.http("GET", p, token=None)
    srv.http("GET", "sys/mounts")
    paths = {e["request"]["path"] for e in entries(log)}
    assert "sys/mounts" in paths
    assert not paths & {"sys/seal-status", "sys/health", "sys/leader"}, paths
    disable(srv, path)


def test_options_log_raw_hmac_accessor_prefix_elide(srv, tmp_path):
    path = unique("o")
    log = tmp_path / "o.log"
    enable(srv, path, log, log_raw="true", prefix="AUDIT: ")
    srv.http("GET", "sys/mounts")
    lines = [l for l in log.read_text().splitlines() if l]
    assert all(l.startswith("AUDIT: {") for l in lines)
    e = vault_entries(json.loads(l[len("AUDIT: "):]) for l in lines if '"sys/mounts"' in l)[0]
    assert e["auth"]["client_token"] == srv.root_token
    disable(srv, path)

    path = unique("o")
    log = tmp_path / "o2.log"
    enable(srv, path, log, hmac_accessor="false", elide_list_responses="true")
    for i in range(3):
        srv.http("POST", f"cubbyhole/el/{i}", json_body={"v": "x"})
    srv.http("LIST", "cubbyhole/el")
    acc = srv.http("GET", "auth/token/lookup-self").json()["data"]["accessor"]
    resp = [e for e in for_path(entries(log), "cubbyhole/el/") + for_path(entries(log), "cubbyhole/el")
            if e["type"] == "response"][0]
    assert resp["response"]["data"]["keys"] == 3
    assert resp["auth"]["accessor"] == acc
    disable(srv, path)


# ---------------------------------------------------------------------------- fail-closed


def test_fail_closed_when_the_only_device_cannot_write(srv, tmp_path):
    d = tmp_path / "gone"
    d.mkdir()
    path = unique("fc")
    enable(srv, path, d / "a.log")
    shutil.rmtree(d)
    d.write_text("a file where the log's directory was")
    sighup(srv)  # reopen fails: the log's directory cannot be made
    key = unique("k")
    r = srv.http("POST", f"cubbyhole/{key}", json_body={"v": "x"})
    assert r.status_code == 500, r.text
    if srv.kind == "coffer":
        assert r.json()["errors"] == ["internal error"]
    d.unlink()
    sighup(srv)
    assert srv.http("GET", f"cubbyhole/{key}").status_code == 404, "the refused write changed nothing"
    disable(srv, path)


def test_a_second_healthy_device_keeps_requests_going(srv, tmp_path):
    d = tmp_path / "broken"
    d.mkdir()
    p1, p2 = unique("b1"), unique("b2")
    enable(srv, p1, d / "a.log")
    enable(srv, p2, tmp_path / "ok.log")
    shutil.rmtree(d)
    d.write_text("not a directory")
    sighup(srv)
    key = unique("k")
    assert_status(srv.http("POST", f"cubbyhole/{key}", json_body={"v": "x"}), 204)
    assert [e["type"] for e in for_path(entries(tmp_path / "ok.log"), f"cubbyhole/{key}")] == ["request", "response"]
    d.unlink()
    sighup(srv)
    disable(srv, p1)
    disable(srv, p2)


def test_sighup_reopens_after_rename(srv, tmp_path):
    path = unique("r")
    log = tmp_path / "r.log"
    enable(srv, path, log)
    srv.http("GET", "sys/mounts")
    log.rename(tmp_path / "r.log.1")
    sighup(srv)
    srv.http("GET", "sys/policies/acl")
    assert for_path(entries(tmp_path / "r.log.1"), "sys/mounts")
    assert for_path(entries(log), "sys/policies/acl"), "new entries go to a new file at the path"
    assert not for_path(entries(log), "sys/mounts")
    assert (log.stat().st_mode & 0o777) == 0o600
    disable(srv, path)


# ---------------------------------------------------------------------------- request headers

HEADERS = "sys/config/auditing/request-headers"


def test_request_headers_config_api(srv):
    assert_status(srv.http("POST", f"{HEADERS}/X-Forwarded-For", json_body={"hmac": True}), 204)
    assert_status(srv.http("POST", f"{HEADERS}/X-Plain", json_body={}), 204)
    try:
        r = assert_status(srv.http("GET", HEADERS), 200).json()
        want = {"x-forwarded-for": {"hmac": True}, "x-plain": {"hmac": False}}
        assert r["data"]["headers"] == want and r["headers"] == want, r  # legacy top-level copy too
        # One header, named as asked (the setting is the lower-case name's).
        r = assert_status(srv.http("GET", f"{HEADERS}/X-FORWARDED-FOR"), 200).json()
        assert r["data"] == {"X-FORWARDED-FOR": {"hmac": True}}, r
        r = srv.http("GET", f"{HEADERS}/nothing")
        assert r.status_code == 400 and r.json()["errors"] == ["Could not find header in config"], r.text
        r = srv.http("POST", f"{HEADERS}/X-Bad", json_body={"hmac": "maybe"})
        assert r.status_code == 400 and "hmac" in r.json()["errors"][0], r.text
        assert "x-bad" not in srv.http("GET", HEADERS).json()["data"]["headers"]
        # sudo: a default-policy token may not read or change them.
        tok = srv.http("POST", "auth/token/create", json_body={"policies": ["default"]}).json()["auth"]["client_token"]
        assert srv.http("GET", HEADERS, token=tok).status_code == 403
        assert srv.http("POST", f"{HEADERS}/X-Mine", token=tok, json_body={}).status_code == 403
        assert_status(srv.http("DELETE", f"{HEADERS}/nothing"), 204)
    finally:
        for h in ("X-Forwarded-For", "x-plain"):
            assert_status(srv.http("DELETE", f"{HEADERS}/{h}"), 204)
    assert srv.http("GET", HEADERS).json()["data"]["headers"] == {}


def test_only_configured_headers_appear_hmacd_as_asked(srv, tmp_path):
    raw_log, log = tmp_path / "raw.log", tmp_path / "h.log"
    enable(srv, "hdr", log)
    enable(srv, "hdr-raw", raw_log, log_raw="true")
    assert_status(srv.http("POST", f"{HEADERS}/X-Forwarded-For", json_body={"hmac": True}), 204)
    assert_status(srv.http("POST", f"{HEADERS}/X-Plain", json_body={"hmac": False}), 204)
    assert_status(srv.http("POST", f"{HEADERS}/X-Vault-Token", json_body={"hmac": True}), 204)
    try:
        srv.http("GET", "sys/mounts", headers={"X-Forwarded-For": "10.0.0.1", "X-Plain": "hello",
                                               "X-Other": "not configured"})
    finally:
        for h in ("X-Forwarded-For", "X-Plain", "X-Vault-Token"):
            srv.http("DELETE", f"{HEADERS}/{h}")
    for f, device in ((log, "hdr"), (raw_log, "hdr-raw")):
        es = for_path(entries(f), "sys/mounts")
        assert [e["type"] for e in es] == ["request", "response"], es
        for e in es:
            # the token is never a header of the entry, even when configured
            assert e["request"]["headers"] == {
                "x-forwarded-for": [audit_hash(srv, device, "10.0.0.1")],  # HMAC'd even with log_raw
                "x-plain": ["hello"],
            }, e["request"]
    disable(srv, "hdr")
    disable(srv, "hdr-raw")


def test_client_id_and_entity_created(srv, tmp_path):
    log = tmp_path / "c.log"
    up = unique("upc")
    assert_status(srv.http("POST", f"sys/auth/{up}", json_body={"type": "userpass"}), 204)
    assert_status(srv.http("POST", f"auth/{up}/users/al", json_body={"password": "pw"}), 204)
    enable(srv, "cid", log)
    tok = srv.http("POST", "auth/token/create", json_body={"policies": ["b", "a"]}).json()["auth"]["client_token"]
    srv.http("GET", "sys/mounts", token=tok)
    for _ in range(2):
        assert_status(srv.http("POST", f"auth/{up}/login/al", token=None, json_body={"password": "pw"}), 200)
    disable(srv, "cid")
    es = entries(log)
    # A token without an entity: a digest of its sorted policies and the namespace (the same value on both).
    mine = [e for e in for_path(es, "sys/mounts") if e["auth"].get("policies") == ["a", "b", "default"]]
    assert {e["request"]["client_id"] for e in mine} == {"bXQoRWTMMagNRD/6lt2+EmFQAtEG9eKRgjedGC6GgOI="}, mine
    root = for_path(es, "auth/token/create")
    assert {e["request"]["client_id"] for e in root} == {"0DHqvq2D77kL2/JTPSZkTMJbkFVmUu0TzMi0jiXcFy8="}
    logins = [e for e in for_path(es, f"auth/{up}/login/al") if e["type"] == "response"]
    assert [e["auth"].get("entity_created") for e in logins] == [True, None], logins
    assert all("client_id" not in e["request"] for e in logins), "a login has no client token yet"
    assert all("entity_created" not in e["response"]["auth"] for e in logins)


# ---------------------------------------------------------------------------- differential


def shape(v, prefix=""):
    """{dotted path: kind}: kind is "hmac" for an HMAC string, else the JSON type."""
    out = {}
    if isinstance(v, dict):
        for k, x in v.items():
            out.update(shape(x, f"{prefix}.{k}" if prefix else k))
    elif isinstance(v, list):
        for x in v:
            out.update(shape(x, prefix + "[]"))
        if not v:
            out[prefix] = "list"
    elif isinstance(v, str):
        out[prefix] = "hmac" if HMAC.match(v) else "str"
    else:
        out[prefix] = type(v).__name__
    return out


# Members left out of the comparison, with the reason (none today).
MASKED: set[str] = set()


def _run_sequence(srv: Server, log: Path, up: str) -> dict:
    seq = {}
    srv.http("POST", "secret/data/diff", json_body={"data": {"a": "b", "n": "5", "deep": {"x": ["y", 1]}}})
    srv.http("GET", "secret/data/diff", headers={"X-Forwarded-For": "10.1.1.1", "X-Plain": "p"})
    srv.http("LIST", "secret/metadata")
    srv.http("GET", "secret/data/diff", token="bad-token")
    srv.http("POST", f"auth/{up}/login/al", token=None, json_body={"password": "pw"})
    for p in ("secret/data/diff", "secret/metadata/", "secret/metadata", f"auth/{up}/login/al"):
        for e in for_path(entries(log), p):
            key = (p.rstrip("/"), e["type"], "error" in e)
            seq.setdefault(key, {k: v for k, v in shape(e).items() if k not in MASKED})
    return seq


@pytest.mark.skipif(set(TARGETS) != {"coffer", "bao"}, reason="needs both servers")
def test_entries_have_the_same_fields_and_hmac_format_as_openbao(tmp_path):
    shapes = {}
    for kind in ("coffer", "bao"):
        s = AuditDevServer(kind, "dev")
        try:
            s.start()
            up = "updiff"
            assert_status(s.http("POST", f"sys/auth/{up}", json_body={"type": "userpass"}), 204)
            assert_status(s.http("POST", f"auth/{up}/users/al", json_body={"password": "pw", "policies": "default"}), 204)
            for h, hmac in (("X-Forwarded-For", True), ("X-Plain", False)):
                assert_status(s.http("POST", f"{HEADERS}/{h}", json_body={"hmac": hmac}), 204)
            log = tmp_path / f"{kind}.log"
            enable(s, "diff", log)
            shapes[kind] = _run_sequence(s, log, up)
        finally:
            s.cleanup()
    c, b = shapes["coffer"], shapes["bao"]
    assert set(c) == set(b), (sorted(c), sorted(b))
    problems = []
    for key in sorted(b):
        if c[key] != b[key]:
            only_b = {k: v for k, v in b[key].items() if c[key].get(k) != v}
            only_c = {k: v for k, v in c[key].items() if b[key].get(k) != v}
            problems.append(f"{key}: bao {only_b} / coffer {only_c}")
    assert not problems, "\n".join(problems)


# ---------------------------------------------------------------------------- filters (Coffer)


def test_filter_drops_matching_entries_but_never_failures(coffer_audit, tmp_path):
    srv = coffer_audit
    log = tmp_path / "f.log"
    flt = 'not (path == "auth/token/lookup-self" or operation == "list")'
    assert_status(srv.http("PUT", f"sys/audit/{unique('flt')}", json_body={"type": "file", "options": {
        "file_path": str(log), "filter": flt}}), 204)
    srv.http("GET", "auth/token/lookup-self")
    srv.http("LIST", "secret/metadata")
    srv.http("GET", "sys/mounts")
    srv.http("GET", "auth/token/lookup-self", token="bad-token")
    es = entries(log)
    paths = [(e["request"]["path"], e["type"], "error" in e) for e in es]
    assert ("sys/mounts", "request", False) in paths
    assert not [p for p in paths if p[0] == "auth/token/lookup-self" and not p[2]], paths
    assert ("auth/token/lookup-self", "response", True) in paths, "a denied request is never filtered out"
    assert not [p for p in paths if p[0].startswith("secret/metadata")]
    for bad in ['color == "x"', 'path ==', 'path matches "("', "(path == \"x\""]:
        r = srv.http("PUT", f"sys/audit/{unique('bad')}", json_body={"type": "file", "options": {
            "file_path": str(tmp_path / "bad.log"), "filter": bad}})
        assert r.status_code == 400, (bad, r.text)
        assert "invalid filter" in r.json()["errors"][0]
    assert not (tmp_path / "bad.log").exists()


def test_jsonx_format(coffer_audit, tmp_path):
    path = unique("x")
    log = tmp_path / "x.log"
    # XML has no place for the hash chain's member: jsonx needs chain=false (docs/audit.md).
    r = enable(coffer_audit, path, log, expect=400, format="jsonx")
    assert "cannot carry a hash chain" in r.json()["errors"][0]
    assert coffer_audit.http("GET", "sys/audit").json()["data"].get(f"{path}/") is None
    enable(coffer_audit, path, log, format="jsonx", chain="false")
    coffer_audit.http("GET", "sys/mounts")
    line = [l for l in log.read_text().splitlines() if "sys/mounts" in l][0]
    assert line.startswith('<?xml version="1.0" encoding="UTF-8"?><json:object')
    assert '<json:string name="type">request</json:string>' in line
    disable(coffer_audit, path)


# ---------------------------------------------------------------------------- persistence, config


def _config_server(request, kind: str, extra: str) -> Server:
    factory = request.getfixturevalue(f"{kind}_sealed")
    s = factory(start=False)
    s.config_path.write_text(s.config_path.read_text() + extra)
    s.start()
    s.init(shares=1, threshold=1)
    s.unseal()
    return s


@pytest.mark.parametrize("kind", TARGETS)
def test_devices_and_salts_survive_restart(request, kind, tmp_path):
    s = _config_server(request, kind, "unsafe_allow_api_audit_creation = true\n")
    log = tmp_path / "p.log"
    enable(s, "persist", log)
    h = audit_hash(s, "persist", "some-value")
    s.restart()
    s.unseal()
    assert "persist/" in s.http("GET", "sys/audit").json()["data"]
    assert audit_hash(s, "persist", "some-value") == h, "the salt is kept under the barrier"
    s.http("GET", "sys/mounts")
    assert for_path(entries(log), "sys/mounts")


@pytest.mark.parametrize("kind", TARGETS)
def test_a_dev_server_takes_devices_from_a_config_without_storage(kind, tmp_path):
    """`server -dev -config=f` where f declares only an audit device (as coffer-bench's
    audit comparison starts both servers): dev mode provides storage and listener."""
    log = tmp_path / "dev.log"
    hcl = tmp_path / "audit.hcl"
    hcl.write_text(f'audit "file" "file" {{\n  options = {{\n    file_path = "{log}"\n  }}\n}}\n')

    class DevConfig(Server):
        def argv(self):
            return super().argv() + [f"-config={hcl}"]

    s = DevConfig(kind, "dev")
    try:
        s.start()
        assert "file/" in s.http("GET", "sys/audit").json()["data"]
        s.http("GET", "sys/mounts")
        assert [e["type"] for e in for_path(entries(log), "sys/mounts")] == ["request", "response"]
    finally:
        s.cleanup()


@pytest.mark.parametrize("kind", TARGETS)
def test_config_declared_device_and_the_api_switch(request, kind, tmp_path):
    log = tmp_path / "decl.log"
    extra = (f'audit "file" "decl" {{\n  description = "from the file"\n'
             f'  options {{\n    file_path = "{log}"\n  }}\n}}\n'
             "unsafe_allow_api_audit_creation = false\n")
    s = _config_server(request, kind, extra)
    dev = s.http("GET", "sys/audit").json()["data"]["decl/"]
    assert dev["type"] == "file" and dev["description"] == "from the file"
    assert dev["options"]["file_path"] == str(log)
    s.http("GET", "sys/mounts")
    assert for_path(entries(log), "sys/mounts")
    r = s.http("PUT", "sys/audit/api", json_body={"type": "file", "options": {"file_path": str(tmp_path / "api.log")}})
    assert r.status_code == 400
    assert r.json()["errors"] == ["cannot enable audit device via API; use declarative, config-based audit device management instead"]
    assert "api/" not in s.http("GET", "sys/audit").json()["data"]
