"""Token auth method (auth/token/*): create, lookup, renew, revoke, roles, limits."""

import time

import pytest

from conftest import PERMISSION_DENIED, assert_status, create_token, errors_of, unique, write_policy

LOOKUP_REQUIRED = {  # vaultrs TokenLookupResponse non-optional fields
    "accessor", "creation_time", "creation_ttl", "display_name", "entity_id",
    "explicit_max_ttl", "id", "issue_time", "num_uses", "orphan", "path", "policies",
    "renewable", "ttl",
}


def lookup(srv, token):
    r = assert_status(srv.http("POST", "auth/token/lookup", json_body={"token": token}), 200)
    return r.json()["data"]


def token_works(srv, token) -> bool:
    r = srv.http("GET", "auth/token/lookup-self", token=token)
    if r.status_code == 200:
        return True
    assert r.status_code == 403, (r.status_code, r.text)
    return False


def test_create_with_options(server):
    """auth/token/create: policies (default added), ttl → auth.lease_duration,
    explicit_max_ttl, num_uses, display_name (stored as token-<name>), meta →
    auth.metadata; lookup shows them."""
    pol = unique("p")
    write_policy(server, pol, 'path "secret/*" { capabilities = ["read"] }')
    auth = create_token(server, policies=[pol], ttl="1h", explicit_max_ttl="2h",
                        num_uses=5, display_name="ci-job", meta={"team": "data"})
    assert auth["client_token"] and auth["accessor"]
    assert auth["policies"] == sorted(["default", pol])
    assert auth["token_policies"] == sorted(["default", pol])
    assert auth["lease_duration"] == 3600
    assert auth["renewable"] is True
    assert auth["metadata"] == {"team": "data"}
    assert auth["orphan"] is False
    assert auth["token_type"] == "service"
    assert auth["num_uses"] == 5
    d = lookup(server, auth["client_token"])
    assert LOOKUP_REQUIRED <= set(d)
    assert d["id"] == auth["client_token"]
    assert d["accessor"] == auth["accessor"]
    assert d["display_name"] == "token-ci-job"
    assert d["explicit_max_ttl"] == 7200
    assert d["creation_ttl"] == 3600
    assert 3500 <= d["ttl"] <= 3600
    assert d["num_uses"] == 5
    assert d["meta"] == {"team": "data"}
    assert d["path"] == "auth/token/create"
    assert d["policies"] == sorted(["default", pol])
    assert d["type"] == "service"
    assert isinstance(d["creation_time"], int)
    assert d["expire_time"]


def test_create_unknown_policy_warns(server):
    """Creating a token with a policy that does not exist succeeds with a warning
    `Policy "x" does not exist`."""
    name = unique("nope")
    r = assert_status(server.http("POST", "auth/token/create", json_body={"policies": [name]}), 200)
    assert any(f'Policy "{name}" does not exist' in w for w in r.json()["warnings"])
    assert name in r.json()["auth"]["policies"]


def test_create_bad_ttl_is_400(server):
    """An unparsable ttl → 400."""
    r = server.http("POST", "auth/token/create", json_body={"ttl": "5x"})
    assert_status(r, 400)
    assert errors_of(r)


def test_period_and_not_renewable(server):
    """period sets the lease to the period; renewable=false is reflected and renew
    fails with 400 `lease is not renewable`."""
    auth = create_token(server, policies=["default"], period="30m")
    assert auth["lease_duration"] == 1800
    assert lookup(server, auth["client_token"])["period"] == 1800
    nr = create_token(server, policies=["default"], ttl="10m", renewable=False)
    assert nr["renewable"] is False
    r = server.http("POST", "auth/token/renew", json_body={"token": nr["client_token"]})
    assert_status(r, 400)
    assert any("lease is not renewable" in e for e in errors_of(r))


def test_root_child_without_policies_inherits_root(server):
    """A token created by root without policies inherits ["root"]; root-policy tokens
    created without ttl never expire (lookup ttl 0, expire_time null)."""
    auth = create_token(server)
    assert auth["policies"] == ["root"]
    assert auth["lease_duration"] == 0
    d = lookup(server, auth["client_token"])
    assert d["ttl"] == 0 and d["expire_time"] is None


def test_orphans(server):
    """create-orphan and no_parent=true produce orphan tokens (auth.orphan true)."""
    a = assert_status(server.http("POST", "auth/token/create-orphan",
                                  json_body={"policies": ["default"]}), 200).json()["auth"]
    b = create_token(server, policies=["default"], no_parent=True)
    assert a["orphan"] is True and b["orphan"] is True
    assert lookup(server, a["client_token"])["orphan"] is True


def test_lookup_self_and_accessor(server):
    """lookup-self returns the caller's own token; lookup-accessor returns the same
    fields with id ""."""
    auth = create_token(server, policies=["default"], ttl="1h")
    r = assert_status(server.http("GET", "auth/token/lookup-self", token=auth["client_token"]), 200)
    me = r.json()["data"]
    assert me["id"] == auth["client_token"]
    r = assert_status(server.http("POST", "auth/token/lookup-accessor",
                                  json_body={"accessor": auth["accessor"]}), 200)
    via = r.json()["data"]
    assert via["id"] == ""
    assert via["accessor"] == auth["accessor"]
    assert via["policies"] == me["policies"]
    assert via["display_name"] == me["display_name"]


def test_lookup_unknown_token(server):
    """lookup of a token that does not exist → 400/403 error, never 200."""
    r = server.http("POST", "auth/token/lookup", json_body={"token": "s.doesnotexist00000000000"})
    assert r.status_code in (400, 403), r.text
    assert errors_of(r)


def test_renew_and_renew_self(server):
    """renew {token, increment} and renew-self {increment} return auth with the new
    lease_duration; increment is capped by explicit_max_ttl."""
    auth = create_token(server, policies=["default"], ttl="10m", explicit_max_ttl="1h")
    r = assert_status(server.http("POST", "auth/token/renew",
                                  json_body={"token": auth["client_token"], "increment": "30m"}), 200)
    assert r.json()["auth"]["client_token"] == auth["client_token"]
    assert r.json()["auth"]["lease_duration"] == 1800
    r = assert_status(server.http("POST", "auth/token/renew-self", token=auth["client_token"],
                                  json_body={"increment": 600}), 200)
    assert r.json()["auth"]["lease_duration"] == 600
    r = assert_status(server.http("POST", "auth/token/renew-self", token=auth["client_token"],
                                  json_body={"increment": "5h"}), 200)
    assert 3500 <= r.json()["auth"]["lease_duration"] <= 3600
    assert lookup(server, auth["client_token"])["ttl"] <= 3600


def test_revoke_revokes_children(server):
    """revoke of a parent revokes its whole tree of descendants."""
    writer = unique("tokcreate")
    write_policy(server, writer, 'path "auth/token/create" { capabilities = ["update"] }')
    parent = create_token(server, policies=["default", writer], ttl="1h")
    child = assert_status(server.http("POST", "auth/token/create", token=parent["client_token"],
                                      json_body={"policies": ["default", writer]}), 200).json()["auth"]
    grandchild = assert_status(server.http("POST", "auth/token/create", token=child["client_token"],
                                           json_body={"policies": ["default"]}), 200).json()["auth"]
    assert child["orphan"] is False
    assert_status(server.http("POST", "auth/token/revoke", json_body={"token": parent["client_token"]}), 204)
    for t in (parent, child, grandchild):
        assert not token_works(server, t["client_token"])


def test_revoke_orphan_keeps_children(server):
    """revoke-orphan revokes only the token; its children survive and become orphans."""
    writer = unique("tokcreate")
    write_policy(server, writer, 'path "auth/token/create" { capabilities = ["update"] }')
    parent = create_token(server, policies=["default", writer], ttl="1h")
    child = assert_status(server.http("POST", "auth/token/create", token=parent["client_token"],
                                      json_body={"policies": ["default"]}), 200).json()["auth"]
    assert_status(server.http("POST", "auth/token/revoke-orphan",
                              json_body={"token": parent["client_token"]}), 204)
    assert not token_works(server, parent["client_token"])
    assert token_works(server, child["client_token"])
    assert lookup(server, child["client_token"])["orphan"] is True


def test_revoke_accessor_and_self(server):
    """revoke-accessor revokes by accessor; revoke-self revokes the caller; both 204
    and the token then gets 403 permission denied / invalid token."""
    a = create_token(server, policies=["default"])
    assert_status(server.http("POST", "auth/token/revoke-accessor", json_body={"accessor": a["accessor"]}), 204)
    assert not token_works(server, a["client_token"])
    b = create_token(server, policies=["default"])
    assert_status(server.http("POST", "auth/token/revoke-self", token=b["client_token"]), 204)
    r = server.http("GET", "auth/token/lookup-self", token=b["client_token"])
    assert_status(r, 403)
    assert any("permission denied" in e for e in errors_of(r))


VAULT_INVALID_TOKEN = "2 errors occurred:\n\t* permission denied\n\t* invalid token\n\n"


def test_invalid_token_error_text(server):
    """A bogus token → 403 `2 errors occurred:\\n\\t* permission denied\\n\\t* invalid token\\n\\n`
    (Vault's text, which clients match on).  OpenBao 2.x answers plain
    "permission denied" instead — a documented OpenBao divergence (docs/compatibility.md);
    Coffer follows Vault."""
    r = server.http("GET", "secret/data/x", token="s.bogusbogusbogusbogusbogus")
    assert_status(r, 403)
    if server.kind == "bao":
        assert errors_of(r) in (["permission denied"], [VAULT_INVALID_TOKEN])
    else:
        assert errors_of(r) == [VAULT_INVALID_TOKEN]


def test_num_uses_exhaustion(server):
    """num_uses=2: two authenticated requests succeed, the third gets 403; a
    restricted-use token cannot create children."""
    auth = create_token(server, policies=["default"], num_uses=2)
    t = auth["client_token"]
    assert_status(server.http("GET", "auth/token/lookup-self", token=t), 200)
    assert_status(server.http("GET", "auth/token/lookup-self", token=t), 200)
    assert_status(server.http("GET", "auth/token/lookup-self", token=t), 403)
    auth = create_token(server, policies=["root"], num_uses=5)
    r = server.http("POST", "auth/token/create", token=auth["client_token"], json_body={})
    assert_status(r, 400)
    assert any("restricted use token cannot generate child tokens" in e for e in errors_of(r))


def test_ttl_expiry(server):
    """A token with ttl=2s works, then is rejected with 403 once expired."""
    auth = create_token(server, policies=["default"], ttl="2s")
    assert auth["lease_duration"] == 2
    assert token_works(server, auth["client_token"])
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and token_works(server, auth["client_token"]):
        time.sleep(0.25)
    assert not token_works(server, auth["client_token"])
    assert time.monotonic() < deadline


def test_non_root_cannot_escalate_policies(server):
    """A non-root token may only create children with a subset of its own policies
    (400 otherwise), and cannot create orphans via no_parent without sudo."""
    writer = unique("tokcreate")
    write_policy(server, writer, 'path "auth/token/create" { capabilities = ["update"] }')
    t = create_token(server, policies=[writer])["client_token"]
    r = server.http("POST", "auth/token/create", token=t, json_body={"policies": ["root"]})
    assert r.status_code in (400, 403), r.text
    r = server.http("POST", "auth/token/create", token=t, json_body={"no_parent": True})
    assert_status(r, 400)
    assert any("root or sudo privileges required to create orphan token" in e for e in errors_of(r))


# ------------------------------------------------------------------------------ roles

def test_token_roles(server):
    """auth/token/roles/:name CRUD + LIST; create/:role applies allowed_policies,
    orphan, token_period and sets path auth/token/create/<role>."""
    role = unique("role")
    pol = unique("p")
    write_policy(server, pol, 'path "secret/*" { capabilities = ["read"] }')
    assert_status(server.http("POST", f"auth/token/roles/{role}", json_body={
        "allowed_policies": [pol], "orphan": True, "token_period": "1h", "renewable": True}), 204)
    r = assert_status(server.http("GET", f"auth/token/roles/{role}"), 200)
    d = r.json()["data"]
    assert d["name"] == role
    assert d["allowed_policies"] == [pol]
    assert d["orphan"] is True
    assert d["token_period"] == 3600
    r = assert_status(server.http("LIST", "auth/token/roles"), 200)
    assert role in r.json()["data"]["keys"]
    r = assert_status(server.http("POST", f"auth/token/create/{role}",
                                  json_body={"policies": [pol]}), 200)
    auth = r.json()["auth"]
    assert auth["orphan"] is True
    assert auth["lease_duration"] == 3600
    assert pol in auth["policies"]
    assert lookup(server, auth["client_token"])["path"] == f"auth/token/create/{role}"
    r = server.http("POST", f"auth/token/create/{role}", json_body={"policies": ["root"]})
    assert_status(r, 400)
    assert_status(server.http("DELETE", f"auth/token/roles/{role}"), 204)
    assert_status(server.http("GET", f"auth/token/roles/{role}"), 404)


def test_accessors_list_requires_sudo(server):
    """LIST auth/token/accessors works for root and lists a new token's accessor; a
    token without sudo gets 403."""
    auth = create_token(server, policies=["default"])
    r = assert_status(server.http("LIST", "auth/token/accessors"), 200)
    assert auth["accessor"] in r.json()["data"]["keys"]
    r = server.http("LIST", "auth/token/accessors", token=auth["client_token"])
    assert_status(r, 403)
    assert errors_of(r) == [PERMISSION_DENIED]


def test_login_tokens_stay_within_their_auth_mounts_max_ttl(server):
    """A login token shows no explicit max of its own (explicit_max_ttl 0), yet renewing it
    never takes it past the max TTL of the auth mount that issued it."""
    mount = unique("upmax")
    assert_status(server.http("POST", f"sys/auth/{mount}", json_body={"type": "userpass"}), 204)
    try:
        assert_status(server.http("POST", f"sys/auth/{mount}/tune", json_body={"max_lease_ttl": "2h"}), 204)
        assert_status(server.http("POST", f"auth/{mount}/users/dana",
                                  json_body={"password": "pw", "token_ttl": "1h"}), 204)
        r = server.http("POST", f"auth/{mount}/login/dana", token=None, json_body={"password": "pw"})
        tok = assert_status(r, 200).json()["auth"]["client_token"]
        d = assert_status(server.http("GET", "auth/token/lookup-self", token=tok), 200).json()["data"]
        assert d["explicit_max_ttl"] == 0
        assert 3590 <= d["ttl"] <= 3600
        r = server.http("POST", "auth/token/renew-self", token=tok, json_body={"increment": "5h"})
        ttl = assert_status(r, 200).json()["auth"]["lease_duration"]
        assert 7190 <= ttl <= 7200, ttl
    finally:
        assert_status(server.http("DELETE", f"sys/auth/{mount}"), 204)
