"""Token bound CIDRs: a token role's `token_bound_cidrs` (or the deprecated `bound_cidrs`),
a userpass user's `token_bound_cidrs`, bind the TOKEN they issue: every request made with
it must come from an address inside one of the blocks, else 403 `permission denied`
(Vault's and OpenBao's plain text, not the ACL's multierror).  Every test runs against
Coffer and OpenBao.

A second client address without a second machine: the whole of 127.0.0.0/8 is loopback
on Linux, so a request whose socket is bound to 127.0.0.2 reaches the server (listening
on 127.0.0.1) from 127.0.0.2.  Tests that need it are skipped where that bind fails."""

import socket

import pytest
import requests
from requests.adapters import HTTPAdapter

from conftest import assert_status, errors_of, unique, write_policy

DENIED = ["permission denied"]
OTHER = "127.0.0.2"


# ----------------------------------------------------------------------------- helpers

class _SourceAddress(HTTPAdapter):
    def __init__(self, source: str, **kw):
        self._source = source
        super().__init__(**kw)

    def init_poolmanager(self, *args, **kw):
        kw["source_address"] = (self._source, 0)
        super().init_poolmanager(*args, **kw)


def _can_bind(addr: str) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        try:
            s.bind((addr, 0))
        except OSError:
            return False
    return True


needs_second_loopback = pytest.mark.skipif(not _can_bind(OTHER), reason=f"cannot bind {OTHER}")


def http_from(srv, source, method, path, token=None, json_body=None) -> requests.Response:
    """A request to /v1/<path> whose client address is `source`."""
    with requests.Session() as s:
        s.mount("http://", _SourceAddress(source))
        headers = {"X-Vault-Token": token} if token else {}
        return s.request(method, f"{srv.addr}/v1/{path}", headers=headers, json=json_body, timeout=30)


def role(srv, name, **body):
    r = srv.http("POST", f"auth/token/roles/{name}", json_body=body)
    assert_status(r, 200, 204)
    return r


def read_role(srv, name) -> dict:
    return assert_status(srv.http("GET", f"auth/token/roles/{name}"), 200).json()["data"]


def token_from(srv, role_name, **body) -> str:
    r = srv.http("POST", f"auth/token/create/{role_name}", json_body=body)
    return assert_status(r, 200).json()["auth"]["client_token"]


def lookup(srv, tok) -> dict:
    return assert_status(srv.http("POST", "auth/token/lookup", json_body={"token": tok}), 200).json()["data"]


def assert_denied(r: requests.Response):
    assert_status(r, 403)
    assert errors_of(r) == DENIED, r.text


def self_lookup_works(srv, tok) -> bool:
    r = srv.http("GET", "auth/token/lookup-self", token=tok)
    if r.status_code == 200:
        return True
    assert_denied(r)
    return False


def user(srv, mount, name, **body):
    body.setdefault("password", "pw")
    return srv.http("POST", f"auth/{mount}/users/{name}", json_body=body)


def login(srv, mount, name, source="127.0.0.1"):
    return http_from(srv, source, "POST", f"auth/{mount}/login/{name}", json_body={"password": "pw"})


# ----------------------------------------------------------------------------- roles

def test_role_reads_back_the_blocks_in_vaults_form(server):
    """Role read: `token_bound_cidrs` only when set; single hosts bare (`/32`, `/128`
    dropped), host bits kept (`10.1.2.3/8`), IPv6, IPv4-mapped shown as IPv4."""
    name = unique("rc")
    r = role(server, name, token_bound_cidrs="127.0.0.1, ::1/128, 10.1.2.3/8, 1.2.3.4/32, ::ffff:10.0.0.0/104")
    assert r.status_code == 204
    d = read_role(server, name)
    assert d["token_bound_cidrs"] == ["127.0.0.1", "::1", "10.1.2.3/8", "1.2.3.4", "10.0.0.0/8"]
    assert "bound_cidrs" not in d
    # An empty list clears them; the field is then absent, as for a role that never had one.
    role(server, name, token_bound_cidrs=[])
    assert "token_bound_cidrs" not in read_role(server, name)
    plain = unique("rp")
    role(server, plain, allowed_policies=["default"])
    assert "token_bound_cidrs" not in read_role(server, plain)


def test_deprecated_bound_cidrs(server):
    """`bound_cidrs` alone: reads show both names.  With `token_bound_cidrs` too: the new
    name wins with Vault's warning and the deprecated one is not even parsed; writing the
    new name later retires the old one."""
    old = unique("rold")
    role(server, old, bound_cidrs=["127.0.0.1/32"])
    d = read_role(server, old)
    assert (d["bound_cidrs"], d["token_bound_cidrs"]) == (["127.0.0.1"], ["127.0.0.1"])
    role(server, old, token_bound_cidrs="10.0.0.0/8")
    d = read_role(server, old)
    assert "bound_cidrs" not in d and d["token_bound_cidrs"] == ["10.0.0.0/8"]
    both = unique("rboth")
    r = role(server, both, bound_cidrs=["bad"], token_bound_cidrs=["10.0.0.0/8"])
    assert r.status_code == 200
    assert r.json()["warnings"] == [
        "Both 'token_bound_cidrs' and deprecated 'bound_cidrs' value supplied, ignoring the deprecated value"]
    d = read_role(server, both)
    assert "bound_cidrs" not in d and d["token_bound_cidrs"] == ["10.0.0.0/8"]


@pytest.mark.parametrize("body, bad", [
    ({"token_bound_cidrs": ["bad"]}, "bad"),
    ({"token_bound_cidrs": "10.0.0.0/8, nope"}, "nope"),
    ({"token_bound_cidrs": "1.2.3.4, , 5.6.7.8"}, ""),
    ({"token_bound_cidrs": ["999.1.1.1"], "allowed_policies": ["other"]}, "999.1.1.1"),
    ({"bound_cidrs": ["x"]}, "x"),
])
def test_invalid_blocks_are_400_and_change_nothing(server, body, bad):
    """400 naming the address (`error parsing address "<it>"`; the rest of the text is
    the parser's own), and neither an existing role nor a new one is touched."""
    keep = unique("rkeep")
    role(server, keep, token_bound_cidrs=["10.0.0.0/8"], allowed_policies=["a"])
    before = read_role(server, keep)
    for name in (keep, unique("rnew")):
        r = server.http("POST", f"auth/token/roles/{name}", json_body=body)
        assert_status(r, 400)
        (msg,) = errors_of(r)
        assert f'error parsing address "{bad}"' in msg, msg
        assert msg.startswith("error parsing "), msg
        if name != keep:
            assert_status(server.http("GET", f"auth/token/roles/{name}"), 404)
    assert read_role(server, keep) == before


@pytest.mark.parametrize("block", ["10.0.0.0/33", "::1/129", "10.0.0.0/x"])
def test_bad_block_with_a_slash(server, block):
    """Coffer answers 400 like for any bad block.  OpenBao 2.7 accepts a string with a
    slash that is not a CIDR block (it takes it for a UNIX socket path) and stores it
    mangled (docs/compatibility.md); this pins both."""
    name = unique("rslash")
    r = server.http("POST", f"auth/token/roles/{name}", json_body={"token_bound_cidrs": [block]})
    if server.kind == "bao":
        assert_status(r, 204)
        return
    assert_status(r, 400)
    assert f'error parsing address "{block}"' in errors_of(r)[0]
    assert_status(server.http("GET", f"auth/token/roles/{name}"), 404)


# ----------------------------------------------------------------------------- enforcement

def test_token_bound_to_loopback_works_from_loopback(server):
    """A role bound to 127.0.0.1/32: its token works from 127.0.0.1, and every lookup shows
    the binding (`bound_cidrs`, right after `accessor`)."""
    name = unique("rlo")
    role(server, name, token_bound_cidrs=["127.0.0.1/32"], allowed_policies=["default"])
    tok = token_from(server, name)
    r = assert_status(server.http("GET", "auth/token/lookup-self", token=tok), 200)
    d = r.json()["data"]
    assert d["bound_cidrs"] == ["127.0.0.1"]
    assert list(d).index("bound_cidrs") == list(d).index("accessor") + 1
    assert lookup(server, tok)["bound_cidrs"] == ["127.0.0.1"]
    acc = lookup(server, tok)["accessor"]
    r = assert_status(server.http("POST", "auth/token/lookup-accessor", json_body={"accessor": acc}), 200)
    assert r.json()["data"]["bound_cidrs"] == ["127.0.0.1"]
    assert_status(server.http("POST", "auth/token/renew-self", token=tok), 200)
    # An unbound token's lookup has no such field.
    plain = unique("rplain")
    role(server, plain, allowed_policies=["default"])
    assert "bound_cidrs" not in lookup(server, token_from(server, plain))


def test_token_bound_elsewhere_is_refused_everywhere(server):
    """A role bound to 10.0.0.0/8, used from 127.0.0.1: 403 `permission denied` on every
    path, the token's own endpoints included, and help.  The refusals use nothing up:
    another token still sees it, with its use count intact, and can revoke it."""
    name = unique("r10")
    role(server, name, token_bound_cidrs=["10.0.0.0/8"], allowed_policies=["default"], token_num_uses=3)
    tok = token_from(server, name)
    for method, path in [
        ("GET", "auth/token/lookup-self"),
        ("POST", "auth/token/renew-self"),
        ("POST", "auth/token/revoke-self"),
        ("POST", "auth/token/create"),
        ("GET", "cubbyhole/x"),
        ("GET", "secret/data/x"),
        ("GET", "sys/mounts?help=1"),
    ]:
        assert_denied(server.http(method, path, token=tok))
    d = lookup(server, tok)
    assert d["bound_cidrs"] == ["10.0.0.0/8"]
    assert d["num_uses"] == 3
    assert_status(server.http("POST", "auth/token/revoke", json_body={"token": tok}), 204)


@needs_second_loopback
def test_the_same_token_from_another_address(server):
    """Bound to 127.0.0.1: works from there, refused from 127.0.0.2; bound to 127.0.0.0/8:
    works from both.  The X-Forwarded-For header changes nothing."""
    one, net = unique("rone"), unique("rnet")
    role(server, one, token_bound_cidrs="127.0.0.1", allowed_policies=["default"])
    role(server, net, token_bound_cidrs="127.0.0.0/8", allowed_policies=["default"])
    t_one, t_net = token_from(server, one), token_from(server, net)
    assert_status(http_from(server, "127.0.0.1", "GET", "auth/token/lookup-self", t_one), 200)
    assert_denied(http_from(server, OTHER, "GET", "auth/token/lookup-self", t_one))
    assert_denied(http_from(server, OTHER, "POST", "auth/token/revoke-self", t_one))
    for src in ("127.0.0.1", OTHER):
        assert_status(http_from(server, src, "GET", "auth/token/lookup-self", t_net), 200)
    with requests.Session() as s:
        s.mount("http://", _SourceAddress(OTHER))
        r = s.get(f"{server.addr}/v1/auth/token/lookup-self",
                  headers={"X-Vault-Token": t_one, "X-Forwarded-For": "127.0.0.1"}, timeout=30)
    assert_denied(r)
    assert self_lookup_works(server, t_one)


def test_non_expiring_root_tokens_are_not_bound(server):
    """As in Vault: a root token from a bound role that never expires (no TTL) carries no
    binding; the same role with a TTL binds even a root token."""
    name = unique("rroot")
    role(server, name, token_bound_cidrs=["10.0.0.0/8"])
    forever = token_from(server, name)
    assert self_lookup_works(server, forever)
    assert "bound_cidrs" not in lookup(server, forever)
    expiring = token_from(server, name, ttl="1h")
    assert lookup(server, expiring)["bound_cidrs"] == ["10.0.0.0/8"]
    assert not self_lookup_works(server, expiring)


@needs_second_loopback
def test_children_inherit_the_parents_blocks_unless_a_role_decides(server):
    """A child of a bound token (auth/token/create) is bound the same; a token made through
    a role takes the role's blocks (none here), not the parent's."""
    pol = unique("pchild")
    write_policy(server, pol, 'path "auth/token/create" { capabilities = ["update"] }\n'
                              'path "auth/token/create/*" { capabilities = ["update"] }')
    bound, open_role = unique("rparent"), unique("ropen")
    role(server, bound, token_bound_cidrs=["127.0.0.1"], allowed_policies=["default", pol])
    role(server, open_role, allowed_policies=["default"])
    parent = token_from(server, bound, policies=[pol])
    r = http_from(server, "127.0.0.1", "POST", "auth/token/create", parent, {"policies": ["default"]})
    child = assert_status(r, 200).json()["auth"]["client_token"]
    assert lookup(server, child)["bound_cidrs"] == ["127.0.0.1"]
    assert_denied(http_from(server, OTHER, "GET", "auth/token/lookup-self", child))
    r = http_from(server, "127.0.0.1", "POST", f"auth/token/create/{open_role}", parent, {})
    via_role = assert_status(r, 200).json()["auth"]["client_token"]
    assert "bound_cidrs" not in lookup(server, via_role)
    assert_status(http_from(server, OTHER, "GET", "auth/token/lookup-self", via_role), 200)


@needs_second_loopback
def test_batch_tokens_are_bound_the_same_way(server):
    """A batch role with blocks: the batch token carries them (lookup shows them) and is
    refused from elsewhere, like a service token."""
    name = unique("rbatch")
    role(server, name, token_type="batch", orphan=True, renewable=False, allowed_policies=["default"],
         token_bound_cidrs=["127.0.0.1"])
    tok = token_from(server, name)
    assert tok.startswith(("hvb.", "b."))
    d = assert_status(server.http("GET", "auth/token/lookup-self", token=tok), 200).json()["data"]
    assert (d["type"], d["bound_cidrs"]) == ("batch", ["127.0.0.1"])
    assert_denied(http_from(server, OTHER, "GET", "auth/token/lookup-self", tok))
    far = unique("rbatch10")
    role(server, far, token_type="batch", orphan=True, renewable=False, allowed_policies=["default"],
         token_bound_cidrs=["10.0.0.0/8"])
    assert not self_lookup_works(server, token_from(server, far))


# ----------------------------------------------------------------------------- userpass

def test_userpass_login_and_token_from_an_allowed_range(server, userpass):
    """User bound to 127.0.0.0/8: the write answers 204 (no "login only" warning any
    more), login from loopback works, and the token it issues carries the binding."""
    r = user(server, userpass, "alice", token_bound_cidrs="127.0.0.0/8", token_policies="default")
    assert_status(r, 204)
    d = assert_status(server.http("GET", f"auth/{userpass}/users/alice"), 200).json()["data"]
    assert d["token_bound_cidrs"] == ["127.0.0.0/8"]
    auth = assert_status(login(server, userpass, "alice"), 200).json()["auth"]
    assert lookup(server, auth["client_token"])["bound_cidrs"] == ["127.0.0.0/8"]
    assert self_lookup_works(server, auth["client_token"])


def test_userpass_login_refused_outside_the_range(server, userpass):
    """User bound to 10.0.0.0/8: login from loopback is 403 `permission denied` (after the
    password: a wrong one is still the usual 400)."""
    assert_status(user(server, userpass, "bob", token_bound_cidrs=["10.0.0.0/8"]), 204)
    assert_denied(login(server, userpass, "bob"))
    r = http_from(server, "127.0.0.1", "POST", f"auth/{userpass}/login/bob", json_body={"password": "no"})
    assert_status(r, 400)
    assert errors_of(r) == ["invalid username or password"]


@needs_second_loopback
def test_userpass_token_is_bound_not_just_the_login(server, userpass):
    """User bound to 127.0.0.1: a login from there issues a token that is refused from
    127.0.0.2 (a login from 127.0.0.2 is refused too); the same for a batch login."""
    assert_status(user(server, userpass, "carol", token_bound_cidrs="127.0.0.1", token_policies="default"), 204)
    tok = assert_status(login(server, userpass, "carol"), 200).json()["auth"]["client_token"]
    assert_status(http_from(server, "127.0.0.1", "GET", "auth/token/lookup-self", tok), 200)
    assert_denied(http_from(server, OTHER, "GET", "auth/token/lookup-self", tok))
    assert_denied(http_from(server, OTHER, "POST", "auth/token/renew-self", tok))
    assert_denied(login(server, userpass, "carol", source=OTHER))
    assert_status(user(server, userpass, "dave", token_bound_cidrs="127.0.0.1", token_type="batch"), 204)
    auth = assert_status(login(server, userpass, "dave"), 200).json()["auth"]
    assert auth["token_type"] == "batch"
    assert lookup(server, auth["client_token"])["bound_cidrs"] == ["127.0.0.1"]
    assert_denied(http_from(server, OTHER, "GET", "auth/token/lookup-self", auth["client_token"]))


@needs_second_loopback
def test_login_ignores_a_bound_token_in_the_header(server, userpass):
    """A login path needs no token: one sent along that is bound elsewhere is ignored, as an
    unknown one would be."""
    name = unique("rlogin")
    role(server, name, token_bound_cidrs="127.0.0.1", allowed_policies=["default"])
    tok = token_from(server, name)
    assert_status(user(server, userpass, "erin"), 204)
    r = http_from(server, OTHER, "POST", f"auth/{userpass}/login/erin", tok, {"password": "pw"})
    assert_status(r, 200)


def test_userpass_invalid_blocks_change_nothing(server, userpass):
    """A bad block on a user write is 400 and leaves the user as it was."""
    assert_status(user(server, userpass, "gina", token_bound_cidrs=["10.0.0.0/8"]), 204)
    before = assert_status(server.http("GET", f"auth/{userpass}/users/gina"), 200).json()["data"]
    for body in ({"token_bound_cidrs": ["nope"]}, {"bound_cidrs": "10.0.0.0/8, nope"}):
        r = server.http("POST", f"auth/{userpass}/users/gina", json_body=body)
        assert_status(r, 400)
        assert 'error parsing address "nope"' in errors_of(r)[0]
    after = assert_status(server.http("GET", f"auth/{userpass}/users/gina"), 200).json()["data"]
    assert after == before
