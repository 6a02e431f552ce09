"""sys/ endpoints: mounts, auth, internal/ui/mounts, health, leader, key-status,
rotate, seal-status, and the init/unseal/seal flow on a config-file server."""

import pytest

from conftest import PERMISSION_DENIED, assert_status, create_token, enable_kv2, errors_of, unique

MOUNT_FIELDS = {"accessor", "config", "description", "external_entropy_access", "local",
                "options", "seal_wrap", "type", "uuid"}
# sys/health body fields clients rely on (vaultrs ReadHealthResponse requires all of VAULTRS_HEALTH)
HEALTH_COMMON = {"initialized", "sealed", "standby", "replication_performance_mode",
                 "replication_dr_mode", "server_time_utc", "version"}
VAULTRS_HEALTH = HEALTH_COMMON | {"performance_standby", "enterprise", "echo_duration_ms",
                                  "clock_skew_ms"}


def expect_conflict(server, r):
    """Mount path conflicts: Vault answers 409 `path is already in use at x/`.
    OpenBao 2.x answers 400 with the same text (documented divergence)."""
    assert_status(r, 409 if server.kind == "coffer" else 400, 409)
    assert any("already in use" in e or "existing mount" in e for e in errors_of(r)), r.text


# ------------------------------------------------------------------------------ mounts

def test_mounts_list_defaults(server):
    """GET sys/mounts lists cubbyhole/, sys/ and dev-mode secret/ (kv v2); the map is in
    data and injected at top level."""
    r = assert_status(server.http("GET", "sys/mounts"), 200)
    body = r.json()
    for p in ("cubbyhole/", "sys/", "secret/"):
        assert p in body["data"], p
        assert p in body, p  # legacy top-level copy
        assert MOUNT_FIELDS <= set(body["data"][p]), (p, body["data"][p])
    assert body["data"]["secret/"]["type"] == "kv"
    assert body["data"]["secret/"]["options"] == {"version": "2"}
    assert body["data"]["cubbyhole/"]["local"] is True
    assert body["data"]["secret/"]["accessor"].startswith("kv_")


def test_identity_mount_listed(server):
    """Vault and OpenBao list identity/ among the default mounts, as Coffer does
    (type identity, `passthrough_request_headers: [Authorization]`, not local)."""
    body = assert_status(server.http("GET", "sys/mounts"), 200).json()
    assert "identity/" in body["data"] and body["data"]["identity/"]["type"] == "identity"
    ident = body["data"]["identity/"]
    assert ident["accessor"].startswith("identity_") and ident["description"] == "identity store"
    assert ident["config"]["passthrough_request_headers"] == ["Authorization"] and ident["local"] is False


def test_mount_enable_read_tune_disable(server):
    """sys/mounts/:path enable (204), read (mount object), tune read (effective TTLs in
    seconds), tune write (204), disable (204; then the path has no route)."""
    m = unique("eng")
    assert_status(server.http("POST", f"sys/mounts/{m}", json_body={
        "type": "kv", "description": "first", "options": {"version": "2"},
        "config": {"default_lease_ttl": "1h", "max_lease_ttl": "2h"}}), 204)
    r = assert_status(server.http("GET", f"sys/mounts/{m}"), 200)
    d = r.json()["data"]
    assert d["type"] == "kv" and d["description"] == "first"
    assert d["options"] == {"version": "2"}
    assert d["config"]["default_lease_ttl"] == 3600 and d["config"]["max_lease_ttl"] == 7200
    r = assert_status(server.http("GET", f"sys/mounts/{m}/tune"), 200)
    t = r.json()["data"]
    assert t["default_lease_ttl"] == 3600 and t["max_lease_ttl"] == 7200
    assert t["description"] == "first"
    assert_status(server.http("POST", f"sys/mounts/{m}/tune", json_body={
        "default_lease_ttl": "30m", "description": "second"}), 204)
    t = assert_status(server.http("GET", f"sys/mounts/{m}/tune"), 200).json()["data"]
    assert t["default_lease_ttl"] == 1800 and t["max_lease_ttl"] == 7200
    assert t["description"] == "second"
    r = assert_status(server.http("GET", "sys/mounts"), 200)
    assert f"{m}/" in r.json()["data"]
    assert_status(server.http("DELETE", f"sys/mounts/{m}"), 204)
    r = assert_status(server.http("GET", "sys/mounts"), 200)
    assert f"{m}/" not in r.json()["data"]
    r = server.http("GET", f"{m}/data/x")
    assert_status(r, 404)
    assert any("no handler for route" in e for e in errors_of(r))


def test_tune_defaults_to_system_ttl(server):
    """Tune read of a mount with no TTLs reports the system default 768h = 2764800."""
    t = assert_status(server.http("GET", "sys/mounts/secret/tune"), 200).json()["data"]
    assert t["default_lease_ttl"] == 2764800 and t["max_lease_ttl"] == 2764800


def test_disable_destroys_data(server):
    """Disabling a mount deletes its data: re-enabling the same path starts empty."""
    m = unique("gone")
    assert_status(server.http("POST", f"sys/mounts/{m}", json_body={"type": "kv"}), 204)
    assert_status(server.http("PUT", f"{m}/k", json_body={"v": "1"}), 204)
    assert_status(server.http("GET", f"{m}/k"), 200)
    assert_status(server.http("DELETE", f"sys/mounts/{m}"), 204)
    assert_status(server.http("POST", f"sys/mounts/{m}", json_body={"type": "kv"}), 204)
    assert_status(server.http("GET", f"{m}/k"), 404)
    server.http("DELETE", f"sys/mounts/{m}")


def test_mount_conflicts(server):
    """Enabling at a used path, below an existing mount, or above one is a conflict
    (409 `path is already in use at <path>/` in Vault) and changes nothing."""
    m = unique("cf")
    assert_status(server.http("POST", f"sys/mounts/{m}/inner", json_body={"type": "kv"}), 204)
    try:
        expect_conflict(server, server.http("POST", f"sys/mounts/{m}/inner", json_body={"type": "kv"}))
        expect_conflict(server, server.http("POST", f"sys/mounts/{m}/inner/deeper", json_body={"type": "kv"}))
        expect_conflict(server, server.http("POST", "sys/mounts/secret", json_body={"type": "kv"}))
        r = assert_status(server.http("GET", f"sys/mounts/{m}/inner"), 200)
        assert r.json()["data"]["type"] == "kv"
    finally:
        server.http("DELETE", f"sys/mounts/{m}/inner")


def test_generic_mount_is_kv_v1_under_its_own_name(server):
    """Mount type `generic` (Vault's old name for kv version 1, still used by hvac's own
    tests) mounts a kv v1 engine that keeps its type: `sys/mounts`, `sys/mounts/<path>`
    and `sys/internal/ui/mounts/<path>` say `generic` with options `{}` (no version, so
    clients treat it as kv v1); reads and writes are kv v1's (the read carries the
    system lease duration); a `version` option is refused with OpenBao's 400."""
    m = unique("gen")
    assert_status(server.http("POST", f"sys/mounts/{m}", json_body={"type": "generic"}), 204)
    try:
        listed = assert_status(server.http("GET", "sys/mounts"), 200).json()["data"][f"{m}/"]
        assert (listed["type"], listed["options"]) == ("generic", {})
        one = assert_status(server.http("GET", f"sys/mounts/{m}"), 200).json()["data"]
        assert (one["type"], one["options"]) == ("generic", {})
        ui = assert_status(server.http("GET", f"sys/internal/ui/mounts/{m}"), 200).json()["data"]
        assert (ui["type"], ui["options"], ui["path"]) == ("generic", {}, f"{m}/")
        assert_status(server.http("POST", f"{m}/app", json_body={"a": "b"}), 204)
        r = assert_status(server.http("GET", f"{m}/app"), 200).json()
        assert r["data"] == {"a": "b"} and r["lease_duration"] == 2764800
        keys = assert_status(server.http("LIST", f"{m}/"), 200).json()["data"]["keys"]
        assert keys == ["app"]
    finally:
        server.http("DELETE", f"sys/mounts/{m}")
    for version in ("1", "2"):
        m = unique("genv")
        r = server.http("POST", f"sys/mounts/{m}", json_body={"type": "generic", "options": {"version": version}})
        assert_status(r, 400)
        assert errors_of(r) == ['secrets engine "generic" does not allow setting a version']
        assert f"{m}/" not in server.http("GET", "sys/mounts").json()["data"]


def test_mount_unknown_type_400(server):
    """Unknown engine type → 400 and nothing mounted."""
    m = unique("bad")
    assert_status(server.http("POST", f"sys/mounts/{m}", json_body={"type": "no-such-engine"}), 400)
    assert f"{m}/" not in server.http("GET", "sys/mounts").json()["data"]


def test_mounts_need_permission(server):
    """sys/mounts with a default-policy token → 403 permission denied."""
    tok = create_token(server, policies=["default"])["client_token"]
    r = server.http("GET", "sys/mounts", token=tok)
    assert_status(r, 403)
    assert errors_of(r) == [PERMISSION_DENIED]


# -------------------------------------------------------------------------------- auth

def test_auth_enable_list_disable(server):
    """sys/auth lists token/ (config.token_type default-service); enable userpass at a
    path (204), read it, conflict on re-enable, disable (204)."""
    r = assert_status(server.http("GET", "sys/auth"), 200)
    body = r.json()
    assert body["data"]["token/"]["type"] == "token"
    assert body["token/"]["type"] == "token"
    assert body["data"]["token/"]["config"]["token_type"] == "default-service"
    p = unique("up")
    assert_status(server.http("POST", f"sys/auth/{p}", json_body={"type": "userpass", "description": "u"}), 204)
    r = assert_status(server.http("GET", "sys/auth"), 200)
    mnt = r.json()["data"][f"{p}/"]
    assert mnt["type"] == "userpass" and mnt["description"] == "u"
    assert mnt["accessor"].startswith("auth_userpass_")
    expect_conflict(server, server.http("POST", f"sys/auth/{p}", json_body={"type": "userpass"}))
    assert_status(server.http("DELETE", f"sys/auth/{p}"), 204)
    assert f"{p}/" not in server.http("GET", "sys/auth").json()["data"]


def test_token_auth_cannot_be_disabled(server):
    """The token auth method cannot be disabled (4xx) and stays listed."""
    r = server.http("DELETE", "sys/auth/token")
    assert 400 <= r.status_code < 500, r.text
    assert "token/" in server.http("GET", "sys/auth").json()["data"]


# ------------------------------------------------------------------ internal/ui/mounts

def test_internal_ui_mounts_path(server):
    """sys/internal/ui/mounts/<path> returns the mount hosting <path> with `path`,
    `type`, `options.version` — what the vault CLI uses for kv version detection."""
    r = assert_status(server.http("GET", "sys/internal/ui/mounts/secret/foo/bar"), 200)
    d = r.json()["data"]
    assert d["path"] == "secret/"
    assert d["type"] == "kv"
    assert d["options"]["version"] == "2"


def test_internal_ui_mounts_any_capability(server):
    """A token with any capability under a mount may read its ui/mounts entry without an
    explicit policy on sys/internal/ui/mounts; a token with none gets 403."""
    name = unique("uim")
    server.http("PUT", f"sys/policies/acl/{name}",
                json_body={"policy": 'path "secret/data/uim/*" { capabilities = ["read"] }'})
    tok = create_token(server, policies=[name])["client_token"]
    r = assert_status(server.http("GET", "sys/internal/ui/mounts/secret/uim/x", token=tok), 200)
    assert r.json()["data"]["path"] == "secret/"
    none = create_token(server, policies=["default"])["client_token"]
    r = server.http("GET", "sys/internal/ui/mounts/secret/uim/x", token=none)
    assert_status(r, 403)


def test_internal_ui_mounts_listing(server):
    """sys/internal/ui/mounts (root) → data.secret and data.auth maps."""
    r = assert_status(server.http("GET", "sys/internal/ui/mounts"), 200)
    d = r.json()["data"]
    assert "secret/" in d["secret"] and "token/" in d["auth"]


def test_internal_ui_mounts_unknown(server):
    """ui/mounts for a path under no mount → 4xx (CLI then assumes kv v1)."""
    r = server.http("GET", f"sys/internal/ui/mounts/{unique('nomount')}/x")
    assert r.status_code in (400, 403, 404), r.text


# ------------------------------------------------------------------------------ health

def test_health_active(server):
    """sys/health on an unsealed active node: 200, unauthenticated, plain JSON (no
    envelope) with initialized/sealed/standby and friends."""
    r = assert_status(server.session.get(server.addr + "/v1/sys/health", timeout=10), 200)
    body = r.json()
    required = VAULTRS_HEALTH if server.kind == "coffer" else HEALTH_COMMON
    assert required <= set(body), required - set(body)
    assert body["initialized"] is True and body["sealed"] is False and body["standby"] is False
    assert "request_id" not in body and "data" not in body
    assert isinstance(body["server_time_utc"], int)


@pytest.mark.parametrize("method", ["GET", "HEAD"])
def test_health_query_params(server, method):
    """sys/health query parameters: activecode overrides the active status;
    standbyok/standbycode/sealedcode/uninitcode/perfstandbyok don't apply to an active
    node; non-integer code or non-bool standbyok → 400. HEAD returns the same status
    with an empty body."""
    def h(**params):
        return server.session.request(method, server.addr + "/v1/sys/health", params=params, timeout=10)

    cases = [
        ({}, 200),
        ({"activecode": "299"}, 299),
        ({"activecode": "204"}, 204),
        ({"standbyok": "true", "activecode": "202"}, 202),
        ({"standbyok": "true"}, 200),
        ({"perfstandbyok": "true"}, 200),
        ({"sealedcode": "299", "uninitcode": "299", "standbycode": "299",
          "drsecondarycode": "299", "performancestandbycode": "299"}, 200),
        ({"activecode": "abc"}, 400),
        ({"standbyok": "notabool"}, 400),
    ]
    for params, code in cases:
        r = h(**params)
        assert r.status_code == code, (method, params, r.status_code, r.text)
        if method == "HEAD":
            assert r.content == b""


def test_leader(server):
    """sys/leader (unauthenticated, plain JSON) on a non-HA node: ha_enabled false."""
    r = assert_status(server.session.get(server.addr + "/v1/sys/leader", timeout=10), 200)
    assert r.json()["ha_enabled"] is False


def test_seal_status_unsealed(server):
    """sys/seal-status (unauthenticated): type shamir, initialized, not sealed, t/n,
    progress 0, version string."""
    r = assert_status(server.session.get(server.addr + "/v1/sys/seal-status", timeout=10), 200)
    b = r.json()
    assert b["type"] == "shamir"
    assert b["initialized"] is True and b["sealed"] is False
    assert b["t"] >= 1 and b["n"] >= b["t"]
    assert b["progress"] == 0
    assert isinstance(b["version"], str) and b["version"]
    assert "cluster_name" in b and "cluster_id" in b


def test_key_status_and_rotate(server):
    """sys/key-status reports {term, install_time, encryptions} (also top-level);
    sys/rotate (204) bumps the term and previously written data stays readable."""
    p = unique()
    assert_status(server.http("POST", f"secret/data/{p}", json_body={"data": {"v": "before"}}), 200)
    r = assert_status(server.http("GET", "sys/key-status"), 200)
    before = r.json()["data"]
    assert {"term", "install_time"} <= set(before)
    assert r.json()["term"] == before["term"]
    assert_status(server.http("POST", "sys/rotate"), 204)
    after = assert_status(server.http("GET", "sys/key-status"), 200).json()["data"]
    assert after["term"] == before["term"] + 1
    r = assert_status(server.http("GET", f"secret/data/{p}"), 200)
    assert r.json()["data"]["data"] == {"v": "before"}
    assert_status(server.http("POST", f"secret/data/{p}", json_body={"data": {"v": "after"}}), 200)
    assert server.http("GET", f"secret/data/{p}").json()["data"]["data"] == {"v": "after"}


@pytest.mark.parametrize("path", ["sys/rotate", "sys/rotate/keyring"])
def test_rotate_requires_sudo(server, path):
    """sys/rotate (and OpenBao's name for it, sys/rotate/keyring) is root-protected:
    update without sudo → 403; with sudo → 204 and a new term."""
    name = unique("rot")
    server.http("PUT", f"sys/policies/acl/{name}",
                json_body={"policy": f'path "{path}" {{ capabilities = ["update"] }}'})
    tok = create_token(server, policies=[name])["client_token"]
    assert_status(server.http("POST", path, token=tok), 403)
    server.http("PUT", f"sys/policies/acl/{name}",
                json_body={"policy": f'path "{path}" {{ capabilities = ["update", "sudo"] }}'})
    term = server.http("GET", "sys/key-status").json()["data"]["term"]
    assert_status(server.http("POST", path, token=tok), 204)
    assert server.http("GET", "sys/key-status").json()["data"]["term"] == term + 1
    r = assert_status(server.http("GET", path), 405)
    assert errors_of(r) == ["1 error occurred:\n\t* unsupported operation\n\n"]


# ---------------------------------------------------------------- init / unseal / seal

def test_init_unseal_seal_flow(sealed_server):
    """Config-file server: starts uninitialised (health 501, seal-status
    initialized=false t=0 n=0); sys/init {secret_shares, secret_threshold} returns keys,
    keys_base64 and root_token; unseal progresses per share, reset discards progress;
    threshold met → unsealed; sys/seal → 204 and requests get 503 `Vault is sealed`."""
    srv = sealed_server()
    r = srv.session.get(srv.addr + "/v1/sys/health", timeout=10)
    assert r.status_code == 501 and r.json()["initialized"] is False
    assert srv.session.get(srv.addr + "/v1/sys/health?uninitcode=299", timeout=10).status_code == 299
    r = assert_status(srv.http("GET", "sys/init", token=None), 200)
    assert r.json() == {"initialized": False}
    st = assert_status(srv.http("GET", "sys/seal-status", token=None), 200).json()
    assert st["initialized"] is False and st["sealed"] is True and st["t"] == 0 and st["n"] == 0

    init = srv.init(shares=3, threshold=2)
    assert len(init["keys"]) == 3 and len(init["keys_base64"]) == 3
    assert init["root_token"]
    assert assert_status(srv.http("GET", "sys/init", token=None), 200).json() == {"initialized": True}
    r = srv.http("PUT", "sys/init", token=None, json_body={"secret_shares": 1, "secret_threshold": 1})
    assert_status(r, 400)

    st = srv.http("GET", "sys/seal-status", token=None).json()
    assert st["initialized"] is True and st["sealed"] is True and st["t"] == 2 and st["n"] == 3
    r = srv.session.get(srv.addr + "/v1/sys/health", timeout=10)
    assert r.status_code == 503 and r.json()["sealed"] is True
    assert srv.session.get(srv.addr + "/v1/sys/health?sealedcode=299", timeout=10).status_code == 299

    # sealed: everything else is 503 Vault is sealed
    r = srv.http("GET", "sys/mounts")
    assert_status(r, 503)
    assert errors_of(r) == ["Vault is sealed"]

    # progress and reset
    st = assert_status(srv.http("PUT", "sys/unseal", token=None, json_body={"key": init["keys"][0]}), 200).json()
    assert st["sealed"] is True and st["progress"] == 1 and st["nonce"]
    st = assert_status(srv.http("PUT", "sys/unseal", token=None, json_body={"reset": True}), 200).json()
    assert st["sealed"] is True and st["progress"] == 0

    # a base64 share works as well as hex; threshold met → unsealed
    st = assert_status(srv.http("PUT", "sys/unseal", token=None, json_body={"key": init["keys_base64"][1]}), 200).json()
    assert st["progress"] == 1
    st = assert_status(srv.http("PUT", "sys/unseal", token=None, json_body={"key": init["keys"][2]}), 200).json()
    assert st["sealed"] is False and st["progress"] == 0
    srv.wait_active()
    assert_status(srv.http("GET", "sys/mounts"), 200)

    # reset while unsealed → 400
    assert_status(srv.http("PUT", "sys/unseal", token=None, json_body={"reset": True}), 400)

    # seal needs a token (sudo): unauthenticated → 403
    assert_status(srv.http("PUT", "sys/seal", token=None), 403)
    assert_status(srv.http("PUT", "sys/seal"), 204)
    st = srv.http("GET", "sys/seal-status", token=None).json()
    assert st["sealed"] is True
    r = srv.http("GET", "sys/mounts")
    assert_status(r, 503)
    assert errors_of(r) == ["Vault is sealed"]
    srv.unseal()
    assert_status(srv.http("GET", "sys/mounts"), 200)


def test_unseal_wrong_key(sealed_server):
    """A share that is not a valid hex/base64 string → 400; a well-formed but wrong
    share is only detected at threshold → 400, progress resets, still sealed; the
    right keys still unseal afterwards."""
    srv = sealed_server()
    init = srv.init(shares=2, threshold=2)
    r = srv.http("PUT", "sys/unseal", token=None, json_body={"key": "not-hex-or-base64!!"})
    assert_status(r, 400)
    r = srv.http("PUT", "sys/unseal", token=None, json_body={})
    assert_status(r, 400)
    # corrupt a real share (same length) so it passes decoding
    k = init["keys"][1]
    bad = k[:-4] + ("0000" if k[-4:] != "0000" else "1111")
    assert_status(srv.http("PUT", "sys/unseal", token=None, json_body={"key": init["keys"][0]}), 200)
    r = srv.http("PUT", "sys/unseal", token=None, json_body={"key": bad})
    assert_status(r, 400)
    st = srv.http("GET", "sys/seal-status", token=None).json()
    assert st["sealed"] is True and st["progress"] == 0
    srv.unseal(init["keys"])
    assert_status(srv.http("GET", "sys/mounts"), 200)


def test_restart_is_sealed_and_keeps_data(sealed_server):
    """A restarted config-file server comes back sealed; after unseal, data written
    before the restart is still there."""
    srv = sealed_server()
    srv.init(shares=1, threshold=1)
    srv.unseal()
    enable_kv2(srv, "kv")
    assert_status(srv.http("POST", "kv/data/persist", json_body={"data": {"v": "1"}}), 200)
    srv.restart()
    st = srv.http("GET", "sys/seal-status", token=None).json()
    assert st["initialized"] is True and st["sealed"] is True
    srv.unseal()
    r = assert_status(srv.http("GET", "kv/data/persist"), 200)
    assert r.json()["data"]["data"] == {"v": "1"}


def test_tools_random_lengths_and_formats(server):
    """sys/tools/random: 32 base64 bytes by default; the byte count from the URL wins
    over the body; hex format; sources platform/all/seal."""
    import base64
    r = assert_status(server.http("POST", "sys/tools/random"), 200).json()
    assert len(base64.b64decode(r["data"]["random_bytes"])) == 32
    r = assert_status(server.http("POST", "sys/tools/random/8", json_body={"format": "hex", "bytes": 3}), 200).json()
    assert len(bytes.fromhex(r["data"]["random_bytes"])) == 8
    r = assert_status(server.http("POST", "sys/tools/random/all/4"), 200).json()
    assert len(base64.b64decode(r["data"]["random_bytes"])) == 4
    r = assert_status(server.http("POST", "sys/tools/random/platform", json_body={"bytes": 5}), 200).json()
    assert len(base64.b64decode(r["data"]["random_bytes"])) == 5
    a = server.http("POST", "sys/tools/random/16").json()["data"]["random_bytes"]
    b = server.http("POST", "sys/tools/random/16").json()["data"]["random_bytes"]
    assert a != b
