"""Batch tokens (auth/token/create type=batch, roles, userpass logins): never stored,
not renewable or revocable, no accessor, no lease, no cubbyhole, no children; a
non-orphan one dies with its parent.  Every test runs against Coffer and OpenBao; the
few places where Coffer deliberately differs (docs/compatibility.md) are spelled out
in the test that meets them.

Prefix: Coffer issues Vault's `hvb.` (the pair of the `hvs.` service tokens it issues);
OpenBao 2.7 issues the legacy `b.`.  Both servers accept both."""

import base64
import time

import pytest

from conftest import (
    PERMISSION_DENIED, assert_status, cli_json, create_token, errors_of, run_cli, start_server,
    unique, write_policy,
)

# What a bad token gets on each server (test_tokens.py::test_invalid_token_error_text).
BAD_TOKEN_ERRORS = (["permission denied"], ["2 errors occurred:\n\t* permission denied\n\t* invalid token\n\n"])
LOOKUP_FIELDS = {
    "accessor", "creation_time", "creation_ttl", "display_name", "entity_id", "expire_time",
    "explicit_max_ttl", "id", "issue_time", "meta", "num_uses", "orphan", "path", "policies",
    "renewable", "ttl", "type",
}


# ----------------------------------------------------------------------------- helpers

def issued_prefix(srv) -> str:
    return "b." if srv.kind == "bao" else "hvb."


def split(tok: str) -> tuple:
    """(prefix, base64url body) of a batch token."""
    for p in ("hvb.", "b."):
        if tok.startswith(p):
            return p, tok[len(p):]
    raise AssertionError(f"not a batch token: {tok[:8]}...")


def is_batch_token(tok: str) -> bool:
    return tok.startswith(("hvb.", "b."))


def create(srv, body, path="auth/token/create", token=True):
    return srv.http("POST", path, token=token, json_body=body)


def batch(srv, token=True, path="auth/token/create", **body) -> dict:
    """Create a batch token (policies default to ["default"]); returns the auth block."""
    body.setdefault("type", "batch")
    body.setdefault("policies", ["default"])
    return assert_status(create(srv, body, path=path, token=token), 200).json()["auth"]


def lookup(srv, tok) -> dict:
    return assert_status(srv.http("POST", "auth/token/lookup", json_body={"token": tok}), 200).json()["data"]


def works(srv, tok) -> bool:
    r = srv.http("GET", "auth/token/lookup-self", token=tok)
    if r.status_code == 200:
        return True
    assert r.status_code == 403, (r.status_code, r.text)
    # A token that expires between the pipeline's token check and the lookup-self handler
    # gets the handler's own `bad token` (bao does this on the TTL boundary; CI saw it).
    assert errors_of(r) in (*BAD_TOKEN_ERRORS, ["bad token"]), r.text
    return False


def keys(srv, path) -> list:
    r = srv.http("LIST", path)
    if r.status_code == 404:
        return []
    return assert_status(r, 200).json()["data"]["keys"]


def state(srv) -> dict:
    """What a token creation could have left behind: accessors and token leases."""
    return {
        "accessors": sorted(keys(srv, "auth/token/accessors")),
        "leases": {p: sorted(keys(srv, f"sys/leases/lookup/auth/token/{p}/"))
                   for p in ("create", "create-orphan")},
    }


def error_is(r, status, text):
    assert_status(r, status)
    assert errors_of(r) == [text], r.text


def tc_policy(srv) -> str:
    """A policy that reads/writes under a fresh kv-v2 path of secret/ and nothing else."""
    name = unique("bt")
    write_policy(srv, name, f'path "secret/data/{name}/*" {{ capabilities = ["create", "read", "update"] }}')
    return name


# ----------------------------------------------------------------------------- create / lookup

def test_create_returns_an_unstored_batch_token(server):
    """`type=batch`: a `hvb.`-prefixed base64url token (OpenBao: `b.`; ~130-200 characters),
    no accessor, not renewable, token_type batch, a child of the caller (orphan false),
    num_uses 0, the requested TTL as lease_duration, policies and metadata as asked."""
    pol = tc_policy(server)
    auth = batch(server, policies=[pol], ttl="1h", meta={"team": "data"})
    tok = auth["client_token"]
    prefix, body = split(tok)
    assert prefix == issued_prefix(server), tok
    assert 100 <= len(tok) <= 220, len(tok)
    assert all(c.isalnum() or c in "-_" for c in body), tok
    base64.urlsafe_b64decode(body + "=" * (-len(body) % 4))
    assert auth["accessor"] == ""
    assert auth["renewable"] is False
    assert auth["token_type"] == "batch"
    assert auth["orphan"] is False
    assert auth["num_uses"] == 0
    assert auth["lease_duration"] == 3600
    assert auth["policies"] == sorted(["default", pol])
    assert auth["token_policies"] == sorted(["default", pol])
    assert auth["metadata"] == {"team": "data"}
    # Two creations, two different tokens.
    assert batch(server)["client_token"] != batch(server)["client_token"]


def test_lookup_and_lookup_self_show_batch_fields(server):
    """lookup / lookup-self of a batch token: type batch, accessor "", renewable false,
    explicit_max_ttl 0, num_uses 0, id = the token, whole-second issue/expire times, a
    TTL that counts down; no period or last_renewal."""
    auth = batch(server, ttl="1h", display_name="ci-job", meta={"a": "b"})
    tok = auth["client_token"]
    by_root = lookup(server, tok)
    self_r = assert_status(server.http("GET", "auth/token/lookup-self", token=tok), 200).json()["data"]
    for d in (by_root, self_r):
        assert LOOKUP_FIELDS <= set(d), set(d) ^ LOOKUP_FIELDS
        assert not {"period", "last_renewal", "last_renewal_time", "role"} & set(d), d
        assert d["id"] == tok
        assert d["accessor"] == ""
        assert d["type"] == "batch"
        assert d["orphan"] is False
        assert d["renewable"] is False
        assert d["num_uses"] == 0
        assert d["explicit_max_ttl"] == 0
        assert d["creation_ttl"] == 3600
        assert 3590 <= d["ttl"] <= 3600
        assert d["display_name"] == "token-ci-job"
        assert d["path"] == "auth/token/create"
        assert d["policies"] == ["default"]
        assert d["meta"] == {"a": "b"}
        assert d["issue_time"].endswith("Z") and "." not in d["issue_time"], d["issue_time"]
        assert d["expire_time"].endswith("Z") and "." not in d["expire_time"], d["expire_time"]
    before = by_root["ttl"]
    time.sleep(1.2)
    assert lookup(server, tok)["ttl"] < before


def test_batch_tokens_are_used_within_their_policies(server):
    """A batch token reads and writes what its policies allow and gets 403 elsewhere;
    capabilities-self answers from its policies."""
    pol = tc_policy(server)
    tok = batch(server, policies=[pol])["client_token"]
    path = f"secret/data/{pol}/x"
    assert_status(server.http("POST", path, token=tok, json_body={"data": {"k": "v"}}), 200)
    r = assert_status(server.http("GET", path, token=tok), 200)
    assert r.json()["data"]["data"] == {"k": "v"}
    error_is(server.http("GET", "sys/mounts", token=tok), 403, PERMISSION_DENIED)
    error_is(server.http("GET", f"secret/data/{unique('other')}", token=tok), 403, PERMISSION_DENIED)
    r = assert_status(server.http("POST", "sys/capabilities-self", token=tok,
                                  json_body={"paths": [path, "sys/mounts"]}), 200)
    caps = r.json()["data"]
    assert sorted(caps[path]) == ["create", "read", "update"]
    assert caps["sys/mounts"] == ["deny"]


def test_batch_tokens_leave_no_accessor_and_no_lease(server):
    """Batch tokens are not stored: creating them (child, orphan, from a role) adds no
    accessor and no sys/leases entry, while a service token adds both."""
    role = unique("brole")
    assert_status(server.http("POST", f"auth/token/roles/{role}", json_body={
        "token_type": "default-batch", "allowed_policies": ["default"]}), 204)
    before = state(server)
    batch(server)
    batch(server, path="auth/token/create-orphan")
    batch(server, path=f"auth/token/create/{role}")
    assert state(server) == before
    assert keys(server, f"sys/leases/lookup/auth/token/create/{role}/") == []
    # The same role issues a leased service token on request: the listing works.
    assert_status(create(server, {"type": "service"}, path=f"auth/token/create/{role}"), 200)
    assert len(keys(server, f"sys/leases/lookup/auth/token/create/{role}/")) == 1
    assert len(state(server)["accessors"]) == len(before["accessors"]) + 1


# ----------------------------------------------------------------------------- what they cannot do

def test_renew_is_refused(server):
    """renew / renew-self of a batch token → 400 `batch tokens cannot be renewed`; the
    token keeps its TTL."""
    tok = batch(server, ttl="1h")["client_token"]
    error_is(server.http("POST", "auth/token/renew", json_body={"token": tok}), 400,
             "batch tokens cannot be renewed")
    error_is(server.http("POST", "auth/token/renew-self", token=tok, json_body={"increment": "2h"}), 400,
             "batch tokens cannot be renewed")
    error_is(server.http("POST", "auth/token/renew-self", token=tok, json_body={}), 400,
             "batch tokens cannot be renewed")
    assert lookup(server, tok)["creation_ttl"] == 3600
    assert lookup(server, tok)["ttl"] <= 3600


def test_revoke_is_refused(server):
    """revoke / revoke-self / revoke-orphan of a batch token → 400 `batch tokens cannot be
    revoked`, and it keeps working; revoke-accessor has nothing to name it by."""
    tok = batch(server)["client_token"]
    error_is(server.http("POST", "auth/token/revoke", json_body={"token": tok}), 400,
             "batch tokens cannot be revoked")
    error_is(server.http("POST", "auth/token/revoke-self", token=tok), 400,
             "batch tokens cannot be revoked")
    error_is(server.http("POST", "auth/token/revoke-orphan", json_body={"token": tok}), 400,
             "batch tokens cannot be revoked")
    error_is(server.http("POST", "auth/token/revoke-accessor", json_body={"accessor": ""}), 400,
             "1 error occurred:\n\t* missing accessor\n\n")
    assert works(server, tok)


def test_batch_tokens_cannot_create_tokens(server):
    """A batch token creating a token (child, orphan, service or batch) → 400 `batch
    tokens cannot create more tokens`, even with the policy to do it."""
    write_policy(server, "bt-creator", 'path "auth/token/*" { capabilities = ["create", "update", "sudo"] }')
    tok = batch(server, policies=["default", "bt-creator"])["client_token"]
    before = state(server)
    for path in ("auth/token/create", "auth/token/create-orphan"):
        for body in ({}, {"type": "batch"}, {"type": "service", "policies": ["default"]}):
            error_is(create(server, body, path=path, token=tok), 400, "batch tokens cannot create more tokens")
    assert state(server) == before


@pytest.mark.parametrize("body,message", [
    ({}, "batch tokens cannot be root tokens"),
    ({"policies": ["root"]}, "batch tokens cannot be root tokens"),
    ({"policies": ["default"], "num_uses": 3}, 'batch tokens cannot have "num_uses" set'),
    ({"policies": ["default"], "num_uses": -1}, 'batch tokens cannot have "num_uses" set'),
    ({"policies": ["default"], "period": "1h"}, 'batch tokens cannot have "period" set'),
    ({"policies": ["default"], "explicit_max_ttl": "1h"}, 'batch tokens cannot have "explicit_max_ttl" set'),
    ({"policies": ["default"], "explicit_max_ttl": "1h", "num_uses": 2, "period": "1h"},
     'batch tokens cannot have "explicit_max_ttl" set'),
    ({"policies": ["default"], "num_uses": 2, "period": "1h"}, 'batch tokens cannot have "num_uses" set'),
    ({"policies": ["default"], "type": "Batch"}, "invalid 'token_type' value"),
])
def test_options_a_batch_token_cannot_have(server, body, message):
    """Root (a batch token cannot be revoked, so never root), num_uses, period and
    explicit_max_ttl are refused with 400 and Vault's text, checked in Vault's order;
    the refused request creates nothing."""
    body = {"type": "batch", **body}
    before = state(server)
    error_is(create(server, body), 400, message)
    assert state(server) == before


def test_zero_limits_are_accepted_and_renewable_is_ignored(server):
    """period / explicit_max_ttl of 0 are fine; renewable=true is ignored (a batch token
    is never renewable); a TTL above the mount max is capped with Vault's warning."""
    auth = batch(server, period="0", explicit_max_ttl="0s", renewable=True)
    assert auth["renewable"] is False
    assert auth["lease_duration"] == 2764800
    r = assert_status(create(server, {"type": "batch", "policies": ["default"], "ttl": "10000h"}), 200)
    assert r.json()["auth"]["lease_duration"] == 2764800
    assert r.json()["warnings"] == [
        'TTL of "10000h" exceeded the effective max_ttl of "768h"; TTL value is capped accordingly']


def test_custom_id_is_not_used(server):
    """An `id` for a batch token is still sudo-only, but is not used: the token is
    generated (200, with a warning), and the id names no token."""
    custom = unique("myid")
    r = assert_status(create(server, {"type": "batch", "policies": ["default"], "id": custom}), 200)
    assert is_batch_token(r.json()["auth"]["client_token"])
    assert len(r.json()["warnings"]) == 1
    assert not works(server, custom)
    write_policy(server, "bt-create-only", 'path "auth/token/create" { capabilities = ["update"] }')
    creator = create_token(server, policies=["default", "bt-create-only"])["client_token"]
    error_is(create(server, {"type": "batch", "id": custom}, token=creator), 400,
             "root or sudo privileges required to specify token id")


def test_explicit_max_ttl_zero_does_not_let_limits_through(server):
    """Deliberate difference (docs/compatibility.md): OpenBao checks only the first of
    explicit_max_ttl / num_uses / period present in the request, so `explicit_max_ttl:
    "0s"` (which the bao CLI always sends) lets num_uses and period through, silently
    unenforced.  Coffer refuses them whatever else is sent."""
    for extra, field in (({"num_uses": 2}, "num_uses"), ({"period": "1h"}, "period")):
        r = create(server, {"type": "batch", "policies": ["default"], "explicit_max_ttl": "0s", **extra})
        if server.kind == "bao":
            assert_status(r, 200)
            assert r.json()["auth"]["token_type"] == "batch"
        else:
            error_is(r, 400, f'batch tokens cannot have "{field}" set')


# ----------------------------------------------------------------------------- lifetime

def test_expiry_and_parent_revocation(server):
    """A batch token stops working when it expires (lookup → 403 `bad token`, renew →
    `token not found`, revoke → 204 as for any unknown token).  A non-orphan one also
    stops when its parent is revoked or expires; an orphan one does not.  Its TTL is not
    capped by the parent's."""
    write_policy(server, "bt-parent", 'path "auth/token/create*" { capabilities = ["update"] }')
    parent = create_token(server, policies=["default", "bt-parent"], ttl="1h")["client_token"]
    short_parent = create_token(server, policies=["default", "bt-parent"], ttl="2s")["client_token"]
    child = batch(server, token=parent)
    assert child["orphan"] is False
    orphan = batch(server, token=parent, path="auth/token/create-orphan")
    assert orphan["orphan"] is True
    assert lookup(server, orphan["client_token"])["path"] == "auth/token/create-orphan"
    long_child = batch(server, token=short_parent, ttl="10h")
    assert long_child["lease_duration"] == 36000
    short = batch(server, ttl="2s")["client_token"]
    for t in (child["client_token"], orphan["client_token"], long_child["client_token"], short):
        assert works(server, t)

    assert_status(server.http("POST", "auth/token/revoke", json_body={"token": parent}), 204)
    assert not works(server, child["client_token"])
    assert works(server, orphan["client_token"])
    error_is(server.http("POST", "auth/token/lookup", json_body={"token": child["client_token"]}), 403, "bad token")

    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and (works(server, short) or works(server, long_child["client_token"])):
        time.sleep(0.25)
    assert not works(server, short)
    assert not works(server, long_child["client_token"]), "parent expired: the child must stop too"
    error_is(server.http("POST", "auth/token/lookup", json_body={"token": short}), 403, "bad token")
    error_is(server.http("POST", "auth/token/renew", json_body={"token": short}), 400, "token not found")
    assert_status(server.http("POST", "auth/token/revoke", json_body={"token": short}), 204)
    assert works(server, orphan["client_token"])


def test_old_batch_tokens_survive_sys_rotate(server):
    """After sys/rotate (a new keyring term), batch tokens minted under the old term still
    verify, and new ones work too."""
    old = batch(server)["client_token"]
    assert_status(server.http("POST", "sys/rotate"), 204, 200)
    new = batch(server)["client_token"]
    assert old != new
    assert works(server, old) and works(server, new)
    assert lookup(server, old)["type"] == "batch"


def test_batch_tokens_across_seal_unseal_and_restart(sealed_server):
    """Sealed, a batch token gets 503 like every request; unsealed again, and after a
    restart and unseal, it works (its keys come from the persisted keyring), including
    one minted before a sys/rotate."""
    srv = sealed_server()
    srv.init(shares=1, threshold=1)
    srv.unseal()
    old = batch(srv)["client_token"]
    assert_status(srv.http("POST", "sys/rotate"), 204, 200)
    new = batch(srv, path="auth/token/create-orphan")["client_token"]
    assert_status(srv.http("POST", "sys/seal"), 204)
    r = srv.http("GET", "auth/token/lookup-self", token=old)
    assert_status(r, 503)
    assert errors_of(r) == ["Vault is sealed"]
    srv.unseal()
    assert works(srv, old) and works(srv, new)
    srv.restart()
    srv.unseal()
    assert works(srv, old) and works(srv, new)
    assert lookup(srv, new)["orphan"] is True


# ----------------------------------------------------------------------------- bad tokens

def _variants(tok: str) -> dict:
    prefix, body = split(tok)
    mid = len(body) // 2
    swap = lambda c: "A" if c != "A" else "B"  # noqa: E731
    return {
        "last char changed": tok[:-1] + swap(tok[-1]),
        "middle char changed": f"{prefix}{body[:mid]}{swap(body[mid])}{body[mid + 1:]}",
        "first body char changed": f"{prefix}{swap(body[0])}{body[1:]}",
        "truncated": tok[: len(tok) // 2],
        "one char short": tok[:-1],
        "one char more": tok + "A",
        "prefix only": prefix,
        "other prefix only": "b." if prefix == "hvb." else "hvb.",
        "short base64": prefix + "AAAAAQ",
        "prefix without the dot": prefix[:-1] + body,
        "service prefix": "hvs." + body,
    }


def test_tampered_truncated_and_foreign_tokens_are_just_bad_tokens(server):
    """Any alteration of a batch token, a truncation, or a batch token from another
    cluster is an unknown token: 403 like any bad token (lookup: 403 `bad token`), never
    a 500.  The other prefix (`b.` / `hvb.`) on a genuine token's body is the same
    token, on both servers."""
    pol = tc_policy(server)
    tok = batch(server, policies=[pol])["client_token"]
    path = f"secret/data/{pol}/x"
    for name, bad in _variants(tok).items():
        r = server.http("GET", path, token=bad)
        assert r.status_code == 403, (name, r.status_code, r.text)
        assert errors_of(r) in BAD_TOKEN_ERRORS, (name, r.text)
        error_is(server.http("POST", "auth/token/lookup", json_body={"token": bad}), 403, "bad token")
        assert split(tok)[1] not in r.text
    # The other prefix on the same body: the same token.
    prefix, body = split(tok)
    other_form = ("b." if prefix == "hvb." else "hvb.") + body
    assert works(server, other_form)
    assert lookup(server, other_form)["id"] == other_form

    other = start_server(server.kind)
    try:
        foreign = assert_status(other.http("POST", "auth/token/create", json_body={
            "type": "batch", "policies": ["default"]}), 200).json()["auth"]["client_token"]
        assert works(other, foreign)
        assert not works(server, foreign)
        error_is(server.http("POST", "auth/token/lookup", json_body={"token": foreign}), 403, "bad token")
        assert not works(other, tok)
    finally:
        other.cleanup()


def test_malformed_base64_batch_token(server):
    """A batch token whose body is not base64url.  Coffer: an invalid token like any other
    (403).  OpenBao answers 500 `error performing token check: illegal base64 data ...`
    (400 on lookup) — a deliberate difference (docs/compatibility.md)."""
    for bad in ("b.!!!!", "hvb.!!!!", "b.AAAA==", "hvb.AAAA==", "b.a b"):
        r = server.http("GET", "auth/token/lookup-self", token=bad)
        lk = server.http("POST", "auth/token/lookup", json_body={"token": bad})
        if server.kind == "bao":
            assert r.status_code in (403, 500), r.text
            assert lk.status_code in (400, 403), lk.text
        else:
            assert_status(r, 403)
            assert errors_of(r) in BAD_TOKEN_ERRORS
            error_is(lk, 403, "bad token")


def test_batch_tokens_never_reach_the_server_log(server):
    """Tokens are not logged: after creating, using and misusing batch tokens, the server
    log holds none of them."""
    toks = [batch(server)["client_token"] for _ in range(2)]
    for t in toks:
        server.http("GET", "auth/token/lookup-self", token=t)
        server.http("POST", "auth/token/renew-self", token=t)
        server.http("POST", "auth/token/create", token=t, json_body={})
        server.http("GET", "auth/token/lookup-self", token=t[:-3])
    log = server.log_path.read_text(errors="replace")
    for t in toks:
        assert split(t)[1][:40] not in log


# ----------------------------------------------------------------------------- cubbyhole, wrapping

def test_cubbyhole_is_not_for_batch_tokens(server):
    """cubbyhole with a batch token → 400 `cubbyhole operations are only supported by
    'service' type tokens` (writes before the ACL check, through the existence check;
    reads after it, so without a cubbyhole policy a read is 403)."""
    msg = "cubbyhole operations are only supported by 'service' type tokens"
    tok = batch(server)["client_token"]  # default policy: cubbyhole/* allowed
    error_is(server.http("POST", "cubbyhole/x", token=tok, json_body={"a": "b"}), 400, msg)
    error_is(server.http("GET", "cubbyhole/x", token=tok), 400, msg)
    error_is(server.http("LIST", "cubbyhole/", token=tok), 400, msg)
    error_is(server.http("DELETE", "cubbyhole/x", token=tok), 400, msg)
    write_policy(server, "bt-nocubby", 'path "secret/*" { capabilities = ["read"] }')
    tok = batch(server, policies=["bt-nocubby"], no_default_policy=True)["client_token"]
    error_is(server.http("GET", "cubbyhole/x", token=tok), 403, PERMISSION_DENIED)
    error_is(server.http("POST", "cubbyhole/x", token=tok, json_body={"a": "b"}), 400, msg)


def test_response_wrapping_with_batch_tokens(server):
    """A batch token can have responses wrapped (sys/wrapping/wrap, a wrapped kv read)
    and can look up and unwrap wrapping tokens; a batch token itself can be handed out
    wrapped, and the unwrapped token works."""
    pol = tc_policy(server)
    write_policy(server, "bt-wrap", 'path "sys/wrapping/*" { capabilities = ["update"] }')
    tok = batch(server, policies=[pol, "bt-wrap"])["client_token"]
    r = assert_status(server.http("POST", "sys/wrapping/wrap", token=tok, json_body={"x": "y"},
                                  headers={"X-Vault-Wrap-TTL": "60"}), 200)
    wrapping = r.json()["wrap_info"]["token"]
    r = assert_status(server.http("POST", "sys/wrapping/lookup", token=tok, json_body={"token": wrapping}), 200)
    assert r.json()["data"]["creation_path"] == "sys/wrapping/wrap"
    r = assert_status(server.http("POST", "sys/wrapping/unwrap", token=tok, json_body={"token": wrapping}), 200)
    assert r.json()["data"] == {"x": "y"}

    path = f"secret/data/{pol}/w"
    assert_status(server.http("POST", path, token=tok, json_body={"data": {"k": "v"}}), 200)
    r = assert_status(server.http("GET", path, token=tok, headers={"X-Vault-Wrap-TTL": "60"}), 200)
    assert r.json()["data"] is None
    wrapping = r.json()["wrap_info"]["token"]
    r = assert_status(server.http("POST", "sys/wrapping/unwrap", token=wrapping), 200)
    assert r.json()["data"]["data"] == {"k": "v"}

    r = assert_status(server.http("POST", "auth/token/create", json_body={"type": "batch", "policies": [pol]},
                                  headers={"X-Vault-Wrap-TTL": "60"}), 200)
    assert r.json()["auth"] is None
    assert not r.json()["wrap_info"].get("wrapped_accessor")
    r = assert_status(server.http("POST", "sys/wrapping/unwrap", token=r.json()["wrap_info"]["token"]), 200)
    unwrapped = r.json()["auth"]["client_token"]
    assert is_batch_token(unwrapped)
    assert lookup(server, unwrapped)["type"] == "batch"
    assert_status(server.http("GET", path, token=unwrapped), 200)


# ----------------------------------------------------------------------------- roles

@pytest.mark.parametrize("body,message", [
    ({"token_type": "batch"}, "'token_type' cannot be 'batch' when role is set to generate non-orphan tokens"),
    ({"token_type": "batch", "orphan": True}, "'token_type' cannot be 'batch' when role is set to generate renewable tokens"),
    ({"token_type": "batch", "orphan": True, "renewable": False, "token_period": "1h"},
     "'token_type' cannot be 'batch' when role is set to generate periodic tokens"),
    ({"token_type": "batch", "orphan": True, "renewable": False, "token_explicit_max_ttl": "1h"},
     "'token_type' cannot be 'batch' when role is set to generate tokens with an explicit max TTL"),
])
def test_batch_role_validation(server, body, message):
    """A `token_type=batch` role must be orphan, not renewable, not periodic and without
    an explicit max (400 with Vault's text, in Vault's order); nothing is stored."""
    role = unique("badrole")
    error_is(server.http("POST", f"auth/token/roles/{role}", json_body=body), 400, message)
    assert_status(server.http("GET", f"auth/token/roles/{role}"), 404)


def test_roles_choose_the_token_type(server):
    """create/<role>: a `batch` role issues batch orphans even when service is asked
    for, with path auth/token/create/<role>[/suffix] and role in the lookup; its use
    limit does not apply to them.  `default-batch` issues batch unless service is asked
    for (its period / explicit max apply to service tokens only).  A `service` role
    issues service tokens even when batch is asked for."""
    pol = tc_policy(server)
    rb, rdb, rs = unique("rb"), unique("rdb"), unique("rs")
    assert_status(server.http("POST", f"auth/token/roles/{rb}", json_body={
        "token_type": "batch", "orphan": True, "renewable": False, "allowed_policies": [pol],
        "path_suffix": "v1x", "token_num_uses": 3}), 204)
    assert_status(server.http("POST", f"auth/token/roles/{rdb}", json_body={
        "token_type": "default-batch", "allowed_policies": [pol], "token_period": "1h",
        "token_explicit_max_ttl": "30m"}), 204)
    assert_status(server.http("POST", f"auth/token/roles/{rs}", json_body={
        "token_type": "service", "allowed_policies": [pol]}), 204)
    assert assert_status(server.http("GET", f"auth/token/roles/{rb}"), 200).json()["data"]["token_type"] == "batch"

    for body in ({}, {"type": "service"}):
        auth = assert_status(create(server, body, path=f"auth/token/create/{rb}"), 200).json()["auth"]
        assert (auth["token_type"], auth["orphan"], auth["accessor"]) == ("batch", True, "")
        d = lookup(server, auth["client_token"])
        assert d["path"] == f"auth/token/create/{rb}/v1x"
        assert d["role"] == rb
        assert d["num_uses"] == 0
        for _ in range(4):
            assert works(server, auth["client_token"])
    error_is(create(server, {"num_uses": 2}, path=f"auth/token/create/{rb}"), 400,
             'batch tokens cannot have "num_uses" set')

    auth = assert_status(create(server, {"ttl": "2h"}, path=f"auth/token/create/{rdb}"), 200).json()["auth"]
    assert (auth["token_type"], auth["orphan"], auth["lease_duration"]) == ("batch", False, 7200)
    auth = assert_status(create(server, {"type": "service"}, path=f"auth/token/create/{rdb}"), 200).json()["auth"]
    assert (auth["token_type"], auth["lease_duration"]) == ("service", 1800)
    assert auth["accessor"]
    error_is(create(server, {"period": "1h"}, path=f"auth/token/create/{rdb}"), 400,
             'batch tokens cannot have "period" set')

    auth = assert_status(create(server, {"type": "batch"}, path=f"auth/token/create/{rs}"), 200).json()["auth"]
    assert auth["token_type"] == "service"
    assert auth["accessor"]


# ----------------------------------------------------------------------------- logins

def login(server, mount, user, pw="pw"):
    r = server.http("POST", f"auth/{mount}/login/{user}", token=None, json_body={"password": pw})
    return assert_status(r, 200).json()


def tune(server, mount, token_type):
    assert_status(server.http("POST", f"sys/auth/{mount}/tune", json_body={"token_type": token_type}), 204)


def test_userpass_users_with_batch_tokens(server, userpass):
    """userpass `token_type=batch`: the login returns a batch orphan (no accessor, not
    renewable) with path auth/<mount>/login/<user>, display name <mount>-<user>, the
    username in meta, TTLs computed as for service tokens (with Vault's warning), and no
    lease.  A batch user cannot be periodic or use-limited (400, Vault's texts), and
    `default-batch` is not a user token_type."""
    pol = tc_policy(server)
    assert_status(server.http("POST", f"auth/{userpass}/users/alice", json_body={
        "password": "pw", "token_policies": pol, "token_type": "batch", "token_ttl": "1h"}), 204)
    d = assert_status(server.http("GET", f"auth/{userpass}/users/alice"), 200).json()["data"]
    assert d["token_type"] == "batch"
    auth = login(server, userpass, "alice")["auth"]
    tok = auth["client_token"]
    assert split(tok)[0] == issued_prefix(server)
    assert (auth["token_type"], auth["orphan"], auth["accessor"], auth["renewable"]) == ("batch", True, "", False)
    assert auth["lease_duration"] == 3600
    assert auth["policies"] == sorted(["default", pol])
    d = lookup(server, tok)
    assert d["path"] == f"auth/{userpass}/login/alice"
    assert d["display_name"] == f"{userpass}-alice"
    assert d["meta"] == {"username": "alice"}
    assert d["type"] == "batch"
    assert_status(server.http("POST", f"secret/data/{pol}/x", token=tok, json_body={"data": {"a": 1}}), 200)
    error_is(server.http("POST", "auth/token/renew-self", token=tok), 400, "batch tokens cannot be renewed")
    assert keys(server, f"sys/leases/lookup/auth/{userpass}/login/") == []

    # An explicit max below the TTL caps it, with Vault's warning.
    assert_status(server.http("POST", f"auth/{userpass}/users/bob", json_body={
        "password": "pw", "token_type": "batch", "token_ttl": "3h", "token_max_ttl": "3h",
        "token_explicit_max_ttl": "2h"}), 204)
    body = login(server, userpass, "bob")
    assert body["auth"]["lease_duration"] == 7200
    assert body["warnings"] == ['TTL of "3h" exceeded the effective max_ttl of "2h"; TTL value is capped accordingly']

    for extra, msg in (
        ({"token_period": "1h"}, "'token_type' cannot be 'batch' or 'default_batch' when set to generate periodic tokens"),
        ({"token_num_uses": 2},
         "'token_type' cannot be 'batch' or 'default_batch' when set to generate tokens with limited use count"),
    ):
        error_is(server.http("POST", f"auth/{userpass}/users/carol",
                             json_body={"password": "pw", "token_type": "batch", **extra}), 400, msg)
        # An existing batch user cannot become periodic / use-limited either.
        error_is(server.http("POST", f"auth/{userpass}/users/alice", json_body=extra), 400, msg)
    error_is(server.http("POST", f"auth/{userpass}/users/carol",
                         json_body={"password": "pw", "token_type": "default-batch"}), 400,
             "invalid 'token_type' value \"default-batch\"")
    assert_status(server.http("GET", f"auth/{userpass}/users/carol"), 404)
    assert assert_status(server.http("GET", f"auth/{userpass}/users/alice"), 200).json()["data"]["token_period"] == 0


def test_batch_login_tokens_outlive_their_auth_mount(server):
    """Disabling an auth mount revokes the leases its logins created; a batch login token
    has none, so it keeps working until it expires (OpenBao does the same)."""
    mount = unique("upgone")
    assert_status(server.http("POST", f"sys/auth/{mount}", json_body={
        "type": "userpass", "config": {"token_type": "batch"}}), 204)
    assert_status(server.http("POST", f"auth/{mount}/users/u1", json_body={"password": "pw"}), 204)
    tok = login(server, mount, "u1")["auth"]["client_token"]
    assert_status(server.http("DELETE", f"sys/auth/{mount}"), 204)
    assert works(server, tok)
    assert lookup(server, tok)["path"] == f"auth/{mount}/login/u1"


def test_auth_mount_token_type_decides(server, userpass):
    """The auth mount's tuned token_type (Vault's rules): `batch` / `service` force the
    type whatever the user asks; `default-batch` gives batch unless the user asks for
    service; `default-service` gives service unless the user asks for batch.  A service
    user's use limit and period do not survive into a batch token (it has none)."""
    for user, tt in (("dflt", "default"), ("svc", "service"), ("bat", "batch")):
        assert_status(server.http("POST", f"auth/{userpass}/users/{user}", json_body={
            "password": "pw", "token_type": tt}), 204)
    assert_status(server.http("POST", f"auth/{userpass}/users/limited", json_body={
        "password": "pw", "token_num_uses": 2, "token_period": "1h"}), 204)
    want = {
        "batch": {"dflt": "batch", "svc": "batch", "bat": "batch"},
        "service": {"dflt": "service", "svc": "service", "bat": "service"},
        "default-batch": {"dflt": "batch", "svc": "service", "bat": "batch"},
        "default-service": {"dflt": "service", "svc": "service", "bat": "batch"},
    }
    for mount_type, by_user in want.items():
        tune(server, userpass, mount_type)
        r = assert_status(server.http("GET", f"sys/auth/{userpass}/tune"), 200)
        assert r.json()["data"]["token_type"] == mount_type
        for user, expect in by_user.items():
            auth = login(server, userpass, user)["auth"]
            assert auth["token_type"] == expect, (mount_type, user, auth)
            assert is_batch_token(auth["client_token"]) == (expect == "batch")
            assert works(server, auth["client_token"])
    tune(server, userpass, "batch")
    tok = login(server, userpass, "limited")["auth"]["client_token"]
    d = lookup(server, tok)
    assert (d["type"], d["num_uses"], d["creation_ttl"]) == ("batch", 0, 3600)
    assert "period" not in d
    for _ in range(3):
        assert works(server, tok)


def test_mount_token_type_validation(server, userpass):
    """token_type on mounts: an unknown value → 400 `invalid value for 'token_type'` (on
    enable and on tune); "" means default-service; not settable on the token store (400)
    nor on a secrets engine (400)."""
    error_is(server.http("POST", f"sys/auth/{unique('upx')}", json_body={
        "type": "userpass", "config": {"token_type": "bogus"}}), 400, "invalid value for 'token_type'")
    for bad in ("bogus", "default", "Batch"):
        error_is(server.http("POST", f"sys/auth/{userpass}/tune", json_body={"token_type": bad}), 400,
                 "invalid value for 'token_type'")
    tune(server, userpass, "batch")
    tune(server, userpass, "")
    r = assert_status(server.http("GET", f"sys/auth/{userpass}/tune"), 200)
    assert r.json()["data"]["token_type"] == "default-service"
    for tt in ("batch", "default-service"):
        error_is(server.http("POST", "sys/auth/token/tune", json_body={"token_type": tt}), 400,
                 "'token_type' cannot be set for 'token' or 'ns_token' auth mounts")
    error_is(server.http("POST", "sys/mounts/secret/tune", json_body={"token_type": "batch"}), 400,
             "'token_type' can only be modified on auth mounts")
    mounted = unique("upy")
    assert_status(server.http("POST", f"sys/auth/{mounted}", json_body={
        "type": "userpass", "config": {"token_type": "batch"}}), 204)
    try:
        r = assert_status(server.http("GET", f"sys/auth/{mounted}/tune"), 200)
        assert r.json()["data"]["token_type"] == "batch"
    finally:
        assert_status(server.http("DELETE", f"sys/auth/{mounted}"), 204)


# ----------------------------------------------------------------------------- CLI

def test_bao_cli_creates_and_looks_up_batch_tokens(server):
    """`bao token create -type=batch -format=json` and `bao token lookup` work the same
    against both servers; `bao token renew` / `revoke` of a batch token fail with the
    server's message."""
    out = cli_json(server, ["token", "create"], "-type=batch", "-policy=default", "-ttl=30m")
    tok = out["auth"]["client_token"]
    assert split(tok)[0] == issued_prefix(server)
    assert (out["auth"]["accessor"], out["auth"]["renewable"], out["auth"]["lease_duration"]) == ("", False, 1800)
    d = cli_json(server, ["token", "lookup"], tok)["data"]
    assert (d["type"], d["id"], d["renewable"]) == ("batch", tok, False)
    d = cli_json(server, ["token", "lookup"], token=tok)["data"]
    assert d["id"] == tok
    cp = run_cli(server, "token", "renew", tok, check=False)
    assert cp.returncode != 0 and "batch tokens cannot be renewed" in cp.stderr, cp.stderr
    cp = run_cli(server, "token", "revoke", tok, check=False)
    assert cp.returncode != 0 and "batch tokens cannot be revoked" in cp.stderr, cp.stderr
    assert works(server, tok)
