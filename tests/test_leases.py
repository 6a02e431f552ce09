"""Leases (sys/leases/*): lookup, list, renew, revoke, revoke-prefix, revoke-force,
tidy, the irrevocable-lease endpoints, sudo, and bad requests that change nothing.

Every non-root service token is a lease `<creation path>/h<64 hex>`: tokens from
auth/token/create* (`auth/token/create/<role>/h...`), logins
(`auth/<mount>/login/<user>/h...`) and response-wrapping tokens (`<wrapped
path>/h...`). Each test gives its tokens a creation path no other test uses (a
token role, a userpass mount or user, a cubbyhole path), so a LIST of that path
holds exactly its own leases even though the servers are shared per module.
"""

import re
import time

import pytest

from conftest import PERMISSION_DENIED, assert_status, create_token, errors_of, unique, write_policy

LEASE_SUFFIX = re.compile(r"^h[0-9a-f]{64}$")
RFC3339 = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$")
LOOKUP_KEYS = {"expire_time", "id", "issue_time", "last_renewal", "path", "renewable", "ttl"}
UNSUPPORTED_PATH = "1 error occurred:\n\t* unsupported path\n\n"
UNSUPPORTED_OPERATION = "1 error occurred:\n\t* unsupported operation\n\n"
TOKEN_CREATE = 'path "auth/token/create" { capabilities = ["update"] }'


# ------------------------------------------------------------------------------ helpers

def role_token(srv, **body) -> tuple[dict, str]:
    """A token from a fresh token role: (auth, its lease prefix `auth/token/create/<role>`)."""
    role = unique("lr")
    assert_status(srv.http("POST", f"auth/token/roles/{role}", json_body={"allowed_policies": ["default"]}), 204)
    body.setdefault("ttl", "1h")
    auth = assert_status(srv.http("POST", f"auth/token/create/{role}", json_body=body), 200).json()["auth"]
    return auth, f"auth/token/create/{role}"


def list_leases(srv, prefix, token=True) -> list:
    """LIST sys/leases/lookup/<prefix>; [] on 404."""
    r = srv.http("LIST", f"sys/leases/lookup/{prefix}", token=token)
    if r.status_code == 404:
        assert r.json() == {"errors": []}, r.text
        return []
    return assert_status(r, 200).json()["data"]["keys"]


def only_lease(srv, prefix) -> str:
    """The one lease id directly below `prefix`."""
    keys = list_leases(srv, prefix + "/")
    assert len(keys) == 1 and LEASE_SUFFIX.match(keys[0]), keys
    return f"{prefix}/{keys[0]}"


def lookup(srv, lease_id, token=True):
    return srv.http("PUT", "sys/leases/lookup", json_body={"lease_id": lease_id}, token=token)


def lease_exists(srv, lease_id) -> bool:
    r = lookup(srv, lease_id)
    if r.status_code == 400:
        assert errors_of(r) == ["invalid lease"], r.text
        return False
    assert_status(r, 200)
    return True


def token_works(srv, token) -> bool:
    r = srv.http("GET", "auth/token/lookup-self", token=token)
    assert r.status_code in (200, 403), (r.status_code, r.text)
    return r.status_code == 200


def eventually(cond, timeout=10.0):
    """sync=false revocations are queued: wait for them (OpenBao's timers and
    Coffer's sweeper both act within a second or so)."""
    deadline = time.monotonic() + timeout
    while not cond():
        assert time.monotonic() < deadline, "condition not reached in time"
        time.sleep(0.1)


def userpass_mount(srv, prefix="lup") -> str:
    """A fresh userpass mount with users alice, alicia and bob; alice may create tokens."""
    mount = unique(prefix)
    pol = unique("tc")
    write_policy(srv, pol, TOKEN_CREATE)
    assert_status(srv.http("POST", f"sys/auth/{mount}", json_body={"type": "userpass"}), 204)
    for user, extra in (("alice", {"token_policies": pol}), ("alicia", {}), ("bob", {})):
        assert_status(srv.http("POST", f"auth/{mount}/users/{user}",
                               json_body={"password": "pw", "token_ttl": "1h", **extra}), 204)
    return mount


@pytest.fixture(scope="module")
def userpass(server):
    return userpass_mount(server)


def login(srv, mount, user) -> dict:
    r = srv.http("POST", f"auth/{mount}/login/{user}", token=None, json_body={"password": "pw"})
    return assert_status(r, 200).json()["auth"]


def child_of(srv, token) -> dict:
    r = srv.http("POST", "auth/token/create", token=token, json_body={"policies": ["default"], "ttl": "30m"})
    return assert_status(r, 200).json()["auth"]


# ------------------------------------------------------------------------------ lookup and list

def test_token_lease_lookup(server):
    """A token created with a TTL is a lease `auth/token/create/<role>/h<64 hex>`;
    PUT sys/leases/lookup shows exactly id, issue_time, expire_time, last_renewal
    (null until the token is renewed), path, renewable and ttl."""
    auth, prefix = role_token(server)
    lease = only_lease(server, prefix)
    d = assert_status(lookup(server, lease), 200).json()["data"]
    assert set(d) == LOOKUP_KEYS, d
    assert d["id"] == lease and d["path"] == prefix
    assert d["renewable"] is True and 3590 <= d["ttl"] <= 3600
    assert d["last_renewal"] is None
    assert RFC3339.match(d["issue_time"]) and RFC3339.match(d["expire_time"])
    # The lease follows the token: renewing the token shows here.
    assert_status(server.http("POST", "auth/token/renew",
                              json_body={"token": auth["client_token"], "increment": "2h"}), 200)
    d = assert_status(lookup(server, lease), 200).json()["data"]
    assert RFC3339.match(d["last_renewal"]) and 7190 <= d["ttl"] <= 7200


def test_lease_flags_follow_the_token(server):
    """renewable=false tokens have non-renewable leases; a root-policy token without a
    TTL has a lease that never expires (expire_time null, ttl 0, not renewable)."""
    _, prefix = role_token(server, renewable=False)
    d = assert_status(lookup(server, only_lease(server, prefix)), 200).json()["data"]
    assert d["renewable"] is False and d["ttl"] > 0
    role = unique("lroot")
    assert_status(server.http("POST", f"auth/token/roles/{role}", json_body={"allowed_policies": ["root"]}), 204)
    assert_status(server.http("POST", f"auth/token/create/{role}", json_body={"policies": ["root"]}), 200)
    d = assert_status(lookup(server, only_lease(server, f"auth/token/create/{role}")), 200).json()["data"]
    assert (d["expire_time"], d["ttl"], d["renewable"]) == (None, 0, False)


def test_login_and_wrapping_leases(server, userpass):
    """A login's lease is `auth/<mount>/login/<user>/h...`; a response-wrapping
    token's lease sits under the wrapped request's path and is not renewable, and
    unwrapping ends it."""
    login(server, userpass, "alice")
    lease = only_lease(server, f"auth/{userpass}/login/alice")
    d = assert_status(lookup(server, lease), 200).json()["data"]
    assert d["path"] == f"auth/{userpass}/login/alice" and d["renewable"] is True
    path = f"cubbyhole/{unique('lw')}"
    assert_status(server.http("POST", path, json_body={"k": "v"}), 204)
    r = assert_status(server.http("GET", path, headers={"X-Vault-Wrap-TTL": "5m"}), 200)
    wrapping_token = r.json()["wrap_info"]["token"]
    lease = only_lease(server, path)
    d = assert_status(lookup(server, lease), 200).json()["data"]
    assert d["path"] == path and d["renewable"] is False and 290 <= d["ttl"] <= 300
    assert_status(server.http("POST", "sys/wrapping/unwrap", token=wrapping_token), 200)
    # OpenBao revokes the used wrapping token's lease just after answering; under load
    # the lookup can come first (seen once in 3 loaded runs), so allow it 10 s
    deadline = time.monotonic() + 10
    while lease_exists(server, lease):
        assert time.monotonic() < deadline, f"wrapping lease {lease} still exists 10 s after unwrap"
        time.sleep(0.05)


def test_list_by_prefix(server, userpass):
    """LIST sys/leases/lookup/<prefix> lists one level (folders end in `/`), with or
    without a trailing slash; an empty prefix lists the top; unknown → 404 {"errors":[]}."""
    login(server, userpass, "bob")
    assert "auth/" in list_leases(server, "")
    assert list_leases(server, f"auth/{userpass}/") == ["login/"]
    assert list_leases(server, f"auth/{userpass}") == ["login/"]
    assert "bob/" in list_leases(server, f"auth/{userpass}/login/")
    r = server.http("GET", f"sys/leases/lookup/auth/{userpass}/", params={"list": "true"})
    assert assert_status(r, 200).json()["data"]["keys"] == ["login/"]
    r = assert_status(server.http("LIST", f"sys/leases/lookup/{unique('none')}/"), 404)
    assert r.json() == {"errors": []}


def test_lookup_errors(server):
    """lookup: no or empty lease_id → 400 `lease_id must be specified`; unknown →
    400 `invalid lease`; a non-string → 400 `invalid lease ID`; a relative id → 400
    naming it; GET → 405; a write below lookup/ → 405."""
    for body in ({}, {"lease_id": ""}):
        r = assert_status(server.http("PUT", "sys/leases/lookup", json_body=body), 400)
        assert errors_of(r) == ["lease_id must be specified"]
    for lease in ("nope", "auth/token/create/" + "h" + "0" * 64, "/abs"):
        assert errors_of(assert_status(lookup(server, lease), 400)) == ["invalid lease"]
    for bad in (123, True, ["a"]):
        assert errors_of(assert_status(lookup(server, bad), 400)) == ["invalid lease ID"]
    r = assert_status(lookup(server, "a/../b"), 400)
    assert errors_of(r) == ["failed to read lease entry a/../b: relative paths not supported"]
    r = assert_status(server.http("GET", "sys/leases/lookup"), 405)
    assert errors_of(r) == [UNSUPPORTED_OPERATION]
    r = assert_status(server.http("PUT", "sys/leases/lookup/auth/token", json_body={}), 405)
    assert errors_of(r) == [UNSUPPORTED_OPERATION]


# ------------------------------------------------------------------------------ renew

def test_renew_token_leases_is_refused(server):
    """Tokens are renewed through auth/token/renew*, never sys/leases/renew: a live
    renewable token lease → 400 `tokens cannot be renewed through this endpoint`
    (body or URL form), and the token is unchanged. A non-renewable one fails the
    renewability check first; unknown → `lease not found`; no id → 400."""
    auth, prefix = role_token(server)
    lease = only_lease(server, prefix)
    for path, body in (("sys/leases/renew", {"lease_id": lease, "increment": "2h"}),
                       (f"sys/leases/renew/{lease}", {"increment": 60})):
        r = assert_status(server.http("PUT", path, json_body=body), 400)
        assert errors_of(r) == ["tokens cannot be renewed through this endpoint"]
    d = assert_status(lookup(server, lease), 200).json()["data"]
    assert d["last_renewal"] is None and d["ttl"] <= 3600
    _, nr = role_token(server, renewable=False)
    r = assert_status(server.http("PUT", "sys/leases/renew", json_body={"lease_id": only_lease(server, nr)}), 400)
    assert errors_of(r) == ["lease is not renewable"]
    r = assert_status(server.http("PUT", "sys/leases/renew", json_body={"lease_id": "nope"}), 400)
    assert errors_of(r) == ["lease not found"]
    r = assert_status(server.http("PUT", "sys/leases/renew", json_body={}), 400)
    assert errors_of(r) == ["lease_id must be specified"]
    r = assert_status(server.http("PUT", "sys/leases/renew", json_body={"lease_id": lease, "increment": "5x"}), 400)
    assert errors_of(r)
    assert token_works(server, auth["client_token"])


# ------------------------------------------------------------------------------ revoke

def test_revoke_a_token_lease_revokes_the_token_tree(server):
    """sys/leases/revoke {lease_id} → 204: the token and its children stop working and
    the lease is gone; sys/leases/revoke/<id> is the same; unknown ids → 204."""
    pol = unique("tc")
    write_policy(server, pol, TOKEN_CREATE)
    role = unique("lr")
    assert_status(server.http("POST", f"auth/token/roles/{role}", json_body={"allowed_policies": ["default", pol]}), 204)
    auth = assert_status(server.http("POST", f"auth/token/create/{role}",
                                     json_body={"policies": ["default", pol], "ttl": "1h"}), 200).json()["auth"]
    child = child_of(server, auth["client_token"])
    lease = only_lease(server, f"auth/token/create/{role}")
    assert_status(server.http("PUT", "sys/leases/revoke", json_body={"lease_id": lease}), 204)
    assert not token_works(server, auth["client_token"]) and not token_works(server, child["client_token"])
    assert not lease_exists(server, lease)
    other, prefix = role_token(server)
    lease = only_lease(server, prefix)
    assert_status(server.http("PUT", f"sys/leases/revoke/{lease}"), 204)
    assert not token_works(server, other["client_token"])
    for unknown in ("nope", lease):
        assert_status(server.http("PUT", "sys/leases/revoke", json_body={"lease_id": unknown}), 204)
    assert_status(server.http("PUT", "sys/leases/revoke/never/was"), 204)


def test_revoke_async(server):
    """sync=false → 202 with an empty body; the token stops working and its lease
    goes shortly after. Unknown ids answer 202 too."""
    auth, prefix = role_token(server)
    lease = only_lease(server, prefix)
    r = assert_status(server.http("PUT", "sys/leases/revoke", json_body={"lease_id": lease, "sync": False}), 202)
    assert r.text == ""
    eventually(lambda: not token_works(server, auth["client_token"]))
    eventually(lambda: not lease_exists(server, lease))
    r = assert_status(server.http("PUT", "sys/leases/revoke", json_body={"lease_id": "nope", "sync": False}), 202)
    assert r.text == ""


def test_revoke_errors(server):
    """revoke without lease_id → 400; a bad sync → 400; a relative id → 400."""
    r = assert_status(server.http("PUT", "sys/leases/revoke", json_body={}), 400)
    assert errors_of(r) == ["lease_id must be specified"]
    assert errors_of(assert_status(server.http("PUT", "sys/leases/revoke",
                                               json_body={"lease_id": "x", "sync": "maybe"}), 400))
    r = assert_status(server.http("PUT", "sys/leases/revoke", json_body={"lease_id": "./x"}), 400)
    assert errors_of(r) == ["failed to read lease entry ./x: relative paths not supported"]


def test_revoke_prefix(server):
    """revoke-prefix/auth/<mount>/login/alice revokes exactly alice's login tokens and
    their children (not alicia's, not bob's); revoke-prefix/auth/<mount> with
    sync=false (202) then revokes the rest of the mount and nothing outside it."""
    mount = userpass_mount(server, "lrp")
    alice = [login(server, mount, "alice") for _ in range(2)]
    kid = child_of(server, alice[0]["client_token"])
    alicia, bob = login(server, mount, "alicia"), login(server, mount, "bob")
    outside, _ = role_token(server)
    assert list_leases(server, f"auth/{mount}/login/") == ["alice/", "alicia/", "bob/"]
    assert len(list_leases(server, f"auth/{mount}/login/alice/")) == 2

    assert_status(server.http("PUT", f"sys/leases/revoke-prefix/auth/{mount}/login/alice"), 204)
    for t in (*alice, kid):
        assert not token_works(server, t["client_token"])
    assert token_works(server, alicia["client_token"]) and token_works(server, bob["client_token"])
    assert list_leases(server, f"auth/{mount}/login/") == ["alicia/", "bob/"]

    r = assert_status(server.http("PUT", f"sys/leases/revoke-prefix/auth/{mount}", json_body={"sync": False}), 202)
    assert r.text == ""
    eventually(lambda: not token_works(server, bob["client_token"]))
    eventually(lambda: list_leases(server, f"auth/{mount}/") == [])
    assert not token_works(server, alicia["client_token"])
    assert token_works(server, outside["client_token"])


def test_revoke_prefix_of_one_lease_and_of_nothing(server):
    """A prefix that is a whole lease id revokes that lease; a prefix with nothing
    under it → 204 (202 with sync=false); a trailing slash → 400 as every write."""
    auth, prefix = role_token(server)
    lease = only_lease(server, prefix)
    assert_status(server.http("PUT", f"sys/leases/revoke-prefix/{lease}"), 204)
    assert not token_works(server, auth["client_token"])
    nothing = unique("nothing")
    assert_status(server.http("PUT", f"sys/leases/revoke-prefix/{nothing}"), 204)
    assert_status(server.http("PUT", f"sys/leases/revoke-prefix/{nothing}", json_body={"sync": False}), 202)
    r = assert_status(server.http("PUT", f"sys/leases/revoke-prefix/{nothing}/"), 400)
    assert errors_of(r) == ["cannot write to a path ending in '/'"]


def test_revoke_force(server):
    """revoke-force/<prefix> → 204 and revokes every lease under it."""
    a, prefix = role_token(server)
    assert_status(server.http("PUT", f"sys/leases/revoke-force/{prefix}"), 204)
    assert not token_works(server, a["client_token"])
    assert list_leases(server, prefix + "/") == []
    assert_status(server.http("PUT", f"sys/leases/revoke-force/{unique('nothing')}"), 204)


def test_expiry_removes_the_lease(server):
    """When a token expires its lease goes with it."""
    auth, prefix = role_token(server, ttl="2s")
    lease = only_lease(server, prefix)
    assert lease_exists(server, lease)
    eventually(lambda: not lease_exists(server, lease), timeout=15)
    assert list_leases(server, prefix + "/") == []
    assert not token_works(server, auth["client_token"])


def test_leases_survive_a_restart(sealed_server):
    """A config-file server keeps its leases across a restart: the same ids, times and
    listing after unseal, and revoking one still revokes its token."""
    srv = sealed_server()
    srv.init(shares=1, threshold=1)
    srv.unseal()
    auth, prefix = role_token(srv)
    lease = only_lease(srv, prefix)
    before = assert_status(lookup(srv, lease), 200).json()["data"]
    srv.restart()
    srv.unseal()
    assert only_lease(srv, prefix) == lease
    after = assert_status(lookup(srv, lease), 200).json()["data"]
    assert {k: after[k] for k in ("id", "issue_time", "expire_time", "path", "renewable")} == \
           {k: before[k] for k in ("id", "issue_time", "expire_time", "path", "renewable")}
    assert token_works(srv, auth["client_token"])
    assert_status(srv.http("PUT", "sys/leases/revoke", json_body={"lease_id": lease}), 204)
    assert not token_works(srv, auth["client_token"])


# ------------------------------------------------------------------------------ tidy, irrevocable, legacy

def test_tidy(server):
    """PUT sys/leases/tidy → 202 with the "Tidy operation successfully started"
    warning; live leases stay. GET → 405."""
    auth, prefix = role_token(server)
    lease = only_lease(server, prefix)
    r = assert_status(server.http("PUT", "sys/leases/tidy"), 202)
    assert r.json()["data"] is None
    assert r.json()["warnings"][0].startswith("Tidy operation successfully started. Any information from the operation will be printed to ")
    time.sleep(0.5)
    assert lease_exists(server, lease) and token_works(server, auth["client_token"])
    assert errors_of(assert_status(server.http("GET", "sys/leases/tidy"), 405)) == [UNSUPPORTED_OPERATION]


def test_irrevocable_leases(server):
    """GET sys/leases and sys/leases/count serve only type=irrevocable (any case),
    else 404 {"errors":[]}; no lease is irrevocable here. A bad limit is a 500 with
    Vault's text; LIST sys/leases is an unsupported path."""
    assert assert_status(server.http("GET", "sys/leases"), 404).json() == {"errors": []}
    assert assert_status(server.http("GET", "sys/leases/count", params={"type": "other"}), 404).json() == {"errors": []}
    for params in ({"type": "irrevocable"}, {"type": "IRREVOCABLE", "limit": "none"}, {"type": "irrevocable", "limit": "5"}):
        r = assert_status(server.http("GET", "sys/leases", params=params), 200)
        assert r.json()["data"] == {"lease_count": 0, "leases": []}
    r = assert_status(server.http("GET", "sys/leases/count", params={"type": "irrevocable"}), 200)
    assert r.json()["data"] == {"counts": {}, "lease_count": 0}
    r = assert_status(server.http("GET", "sys/leases", params={"type": "irrevocable", "limit": "0"}), 500)
    assert errors_of(r) == ["1 error occurred:\n\t* limit must be 'none' or a positive integer\n\n"]
    r = assert_status(server.http("GET", "sys/leases", params={"type": "irrevocable", "limit": "abc"}), 500)
    assert errors_of(r) == ["1 error occurred:\n\t* invalid 'limit' provided: strconv.Atoi: parsing \"abc\": invalid syntax\n\n"]
    assert_status(server.http("GET", "sys/leases", params={"type": "irrevocable", "include_child_namespaces": "maybe"}), 400)
    assert errors_of(assert_status(server.http("LIST", "sys/leases"), 404)) == [UNSUPPORTED_PATH]
    assert errors_of(assert_status(server.http("PUT", "sys/leases/count", json_body={}), 405)) == [UNSUPPORTED_OPERATION]


@pytest.mark.parametrize("path", ["sys/renew", "sys/revoke", "sys/renew/x", "sys/revoke/x",
                                  "sys/revoke-prefix/auth/x", "sys/revoke-force/auth/x"])
def test_legacy_lease_paths_are_not_served(server, path):
    """The pre-0.9 aliases sys/renew, sys/revoke, sys/revoke-prefix and
    sys/revoke-force are gone from OpenBao: 404 unsupported path."""
    r = assert_status(server.http("PUT", path, json_body={"lease_id": "x"}), 404)
    assert errors_of(r) == [UNSUPPORTED_PATH]


# ------------------------------------------------------------------------------ policy

def test_sudo_paths(server):
    """LIST sys/leases/lookup/*, revoke-prefix, revoke-force and GET sys/leases need
    sudo: a token whose policy grants every capability but sudo gets 403; with sudo
    they work. lookup, renew, revoke and count need no sudo."""
    pol = unique("lp")
    caps = '"create", "read", "update", "list"'
    write_policy(server, pol, f'path "sys/leases/*" {{ capabilities = [{caps}] }}\n'
                              f'path "sys/leases" {{ capabilities = ["read"] }}')
    write_policy(server, pol + "-sudo", f'path "sys/leases/*" {{ capabilities = [{caps}, "sudo"] }}\n'
                                        f'path "sys/leases" {{ capabilities = ["read", "sudo"] }}')
    plain = create_token(server, policies=[pol], ttl="1h")["client_token"]
    sudo = create_token(server, policies=[pol + "-sudo"], ttl="1h")["client_token"]
    victim, prefix = role_token(server)
    lease = only_lease(server, prefix)
    sudo_only = [("LIST", "sys/leases/lookup/auth/", None), ("LIST", "sys/leases/lookup/", None),
                 ("PUT", f"sys/leases/revoke-prefix/{prefix}", {}), ("PUT", f"sys/leases/revoke-force/{prefix}", {}),
                 ("GET", "sys/leases?type=irrevocable", None)]
    for method, path, body in sudo_only:
        r = assert_status(server.http(method, path, token=plain, json_body=body), 403)
        assert errors_of(r) == [PERMISSION_DENIED]
    assert token_works(server, victim["client_token"]), "a denied revoke-prefix revoked something"
    assert assert_status(lookup(server, lease, token=plain), 200).json()["data"]["id"] == lease
    assert_status(server.http("GET", "sys/leases/count?type=irrevocable", token=plain), 200)
    assert_status(server.http("PUT", "sys/leases/revoke", token=plain, json_body={"lease_id": "nope"}), 204)
    assert list_leases(server, prefix + "/", token=sudo) == [lease.rsplit("/", 1)[1]]
    assert_status(server.http("GET", "sys/leases?type=irrevocable", token=sudo), 200)
    assert_status(server.http("PUT", f"sys/leases/revoke-prefix/{prefix}", token=sudo), 204)
    assert not token_works(server, victim["client_token"])


def test_default_policy_may_look_up_and_renew_but_not_revoke(server):
    """The default policy grants sys/leases/lookup and sys/leases/renew (update),
    nothing else under sys/leases."""
    tok = create_token(server, policies=["default"], ttl="1h")["client_token"]
    victim, prefix = role_token(server)
    lease = only_lease(server, prefix)
    assert_status(lookup(server, lease, token=tok), 200)
    r = assert_status(server.http("PUT", "sys/leases/renew", token=tok, json_body={"lease_id": lease}), 400)
    assert errors_of(r) == ["tokens cannot be renewed through this endpoint"]
    for method, path, body in (("PUT", "sys/leases/revoke", {"lease_id": lease}), ("PUT", "sys/leases/tidy", {}),
                               ("GET", "sys/leases/count?type=irrevocable", None)):
        r = assert_status(server.http(method, path, token=tok, json_body=body), 403)
        assert errors_of(r) == [PERMISSION_DENIED]
    assert token_works(server, victim["client_token"])


# ------------------------------------------------------------------------------ bad requests

def test_bad_requests_change_nothing(server, userpass):
    """A battery of refused requests (missing or malformed ids, bad fields, trailing
    slashes, denied sudo paths, renewing a token lease) leaves every lease and token
    exactly as it was."""
    auth, prefix = role_token(server)
    lease = only_lease(server, prefix)
    user = login(server, userpass, "alicia")
    before = assert_status(lookup(server, lease), 200).json()["data"]
    logins_before = list_leases(server, f"auth/{userpass}/login/alicia/")
    nobody = create_token(server, policies=["default"], ttl="1h")["client_token"]
    bad = [
        ("PUT", "sys/leases/revoke", {}, True),
        ("PUT", "sys/leases/revoke", {"lease_id": lease, "sync": "maybe"}, True),
        ("PUT", "sys/leases/revoke", {"lease_id": 42}, True),
        ("PUT", "sys/leases/revoke", {"lease_id": lease}, nobody),
        ("PUT", "sys/leases/renew", {"lease_id": lease, "increment": "2h"}, True),
        ("PUT", "sys/leases/renew", {"lease_id": lease, "increment": "5x"}, True),
        ("PUT", f"sys/leases/revoke-prefix/{prefix}/", {}, True),
        ("PUT", f"sys/leases/revoke-prefix/{prefix}", {"sync": "maybe"}, True),
        ("PUT", f"sys/leases/revoke-prefix/{prefix}", {}, nobody),
        ("PUT", f"sys/leases/revoke-force/auth/{userpass}", {}, nobody),
        ("PUT", f"sys/leases/revoke-prefix/auth/{userpass}/", {}, True),
        ("PUT", "sys/leases/revoke", {"lease_id": f"{prefix}/../{lease}"}, True),
        ("PUT", f"sys/leases/lookup/{prefix}", {}, True),
        ("DELETE", f"sys/leases/lookup/{prefix}", None, True),
        ("PUT", "sys/leases/revoke", {"lease_id": lease}, "not-a-token"),
    ]
    for method, path, body, token in bad:
        r = server.http(method, path, json_body=body, token=token)
        assert 400 <= r.status_code < 500, (method, path, r.status_code, r.text)
    assert token_works(server, auth["client_token"]) and token_works(server, user["client_token"])
    after = assert_status(lookup(server, lease), 200).json()["data"]
    assert after["expire_time"] == before["expire_time"] and after["last_renewal"] is None
    assert list_leases(server, f"auth/{userpass}/login/alicia/") == logins_before


# ------------------------------------------------------------------------------ mounts going away

def test_disabling_an_auth_method_revokes_its_tokens(server):
    mount = userpass_mount(server, "lgone")
    a, b = login(server, mount, "bob"), login(server, mount, "bob")
    other, _ = role_token(server)
    assert len(list_leases(server, f"auth/{mount}/login/bob/")) == 2
    assert_status(server.http("DELETE", f"sys/auth/{mount}"), 204)
    assert not token_works(server, a["client_token"])
    assert not token_works(server, b["client_token"])
    assert list_leases(server, f"auth/{mount}/") == []
    assert token_works(server, other["client_token"])  # tokens from elsewhere are untouched


def test_moving_an_auth_method_revokes_its_tokens(server):
    mount = userpass_mount(server, "lgone")
    tok = login(server, mount, "bob")["client_token"]
    to = unique("lmoved")
    assert_status(server.http("POST", "sys/remount", json_body={"from": f"auth/{mount}", "to": f"auth/{to}"}), 200)
    eventually(lambda: not token_works(server, tok))
    assert list_leases(server, f"auth/{mount}/") == []
    # the method itself moved with its users: a new login works at the new path
    assert login(server, to, "bob")["client_token"]
    assert_status(server.http("DELETE", f"sys/auth/{to}"), 204)
