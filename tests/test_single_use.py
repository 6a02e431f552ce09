"""Single-use objects under concurrency, and `num_uses` spent by every request that
presents the token (issue 8, items 3 and 4).

A wrapping token's response is claimed atomically (a compare-and-delete in
storage) before any of it is returned: of N concurrent unwraps or rewraps of one
token exactly one succeeds, in memory and on durable `file` storage (where the
old look-up-then-revoke let up to 24 of 24 through). Vault and OpenBao also
count a denied (403) request against a token's `num_uses`; the tests pin that
against bao.
"""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

from conftest import assert_status, create_token, unique, write_policy

RACERS = 24
ROUNDS = 4


def _race(n, fn):
    """Run fn(i) in n threads released at the same instant; return the results."""
    gate = threading.Barrier(n)

    def run(i):
        gate.wait(timeout=30)
        return fn(i)

    with ThreadPoolExecutor(max_workers=n) as pool:
        return list(pool.map(run, range(n)))


def _wrapped_secret(srv, value):
    r = assert_status(srv.http("POST", "sys/wrapping/wrap", json_body={"v": value},
                               headers={"X-Vault-Wrap-TTL": "300s"}), 200)
    return r.json()["wrap_info"]["token"]


def _post(srv, path, token, body=None):
    # one connection per racer: the point is concurrent requests
    h = {"X-Vault-Token": token}
    return requests.post(f"{srv.addr}/v1/{path}", json=body, headers=h, timeout=60)


def _check_unwrap_race(srv, in_body: bool):
    for rnd in range(ROUNDS):
        value = unique("once")
        wt = _wrapped_secret(srv, value)
        if in_body:
            results = _race(RACERS, lambda i: _post(srv, "sys/wrapping/unwrap", srv.root_token, {"token": wt}))
        else:
            results = _race(RACERS, lambda i: _post(srv, "sys/wrapping/unwrap", wt))
        ok = [r for r in results if r.status_code == 200]
        assert len(ok) == 1, (rnd, sorted(r.status_code for r in results))
        assert ok[0].json()["data"] == {"v": value}
        assert sum(value in r.text for r in results) == 1
        if srv.kind == "coffer":
            # every loser is told the token is invalid; OpenBao 2.7 answers some of
            # them 204 with an empty body (they lost the race after its lookup)
            assert all(r.status_code in (400, 403) for r in results if r.status_code != 200), \
                [(r.status_code, r.text[:120]) for r in results]


@pytest.mark.parametrize("in_body", [True, False], ids=["token-in-body", "token-as-header"])
def test_concurrent_unwraps_return_the_secret_once(server, in_body):
    """24 concurrent sys/wrapping/unwrap calls with one wrapping token: exactly one gets
    the wrapped response (Vault: the token is single-use)."""
    _check_unwrap_race(server, in_body)


def test_concurrent_rewraps_mint_one_token(server):
    """24 concurrent sys/wrapping/rewrap calls with one wrapping token mint exactly one
    new wrapping token, which unwraps to the original response."""
    for rnd in range(ROUNDS):
        value = unique("rw")
        wt = _wrapped_secret(server, value)
        results = _race(RACERS, lambda i: _post(server, "sys/wrapping/rewrap", server.root_token, {"token": wt}))
        ok = [r for r in results if r.status_code == 200]
        assert len(ok) == 1, (rnd, sorted(r.status_code for r in results))
        new = ok[0].json()["wrap_info"]["token"]
        assert new != wt
        r = assert_status(server.http("POST", "sys/wrapping/unwrap", json_body={"token": new}), 200)
        assert r.json()["data"] == {"v": value}
        # the old token is gone
        assert_status(server.http("POST", "sys/wrapping/unwrap", json_body={"token": wt}), 400)


@pytest.fixture(scope="module")
def coffer_file():
    """A Coffer on durable `file` storage (group commit: racing claims share a commit)."""
    from conftest import Server
    srv = Server("coffer", "config")
    try:
        srv.start()
        srv.init(1, 1)
        srv.unseal()
        yield srv
    finally:
        srv.cleanup()


@pytest.mark.parametrize("in_body", [True, False], ids=["token-in-body", "token-as-header"])
def test_concurrent_unwraps_on_file_storage(coffer_file, in_body):
    """The same race on file storage, where every racer's storage write is fsync'd and
    several land in one commit group."""
    _check_unwrap_race(coffer_file, in_body)


def test_concurrent_rewraps_on_file_storage(coffer_file):
    test_concurrent_rewraps_mint_one_token(coffer_file)


# ------------------------------------------------------------------ num_uses


def _uses_left(srv, token):
    r = srv.http("POST", "auth/token/lookup", json_body={"token": token})
    if r.status_code != 200:
        return None  # revoked
    return r.json()["data"]["num_uses"]


def test_denied_requests_spend_num_uses(server):
    """Every request that presents a token counts against num_uses, a 403 included: a
    token with num_uses=5 has 3 left after two denials, and one with num_uses=2 is
    revoked by two denials, so it cannot read afterwards."""
    name = unique("nu")
    write_policy(server, name, f'path "secret/data/{name}/*" {{ capabilities = ["read"] }}')
    assert_status(server.http("POST", f"secret/data/{name}/ok", json_body={"data": {"a": "1"}}), 200)

    t = create_token(server, [name], num_uses=5)["client_token"]
    for _ in range(2):
        assert_status(server.http("GET", "secret/data/forbidden", token=t), 403)
    assert _uses_left(server, t) == 3

    t = create_token(server, [name], num_uses=2)["client_token"]
    for _ in range(4):
        assert_status(server.http("GET", "secret/data/forbidden", token=t), 403)
    assert _uses_left(server, t) is None
    assert_status(server.http("GET", f"secret/data/{name}/ok", token=t), 403)


def test_a_wrapping_token_that_hits_a_denial_is_spent(server):
    """A wrapping token has one use: spending it on a denied request leaves nothing to
    unwrap."""
    wt = _wrapped_secret(server, "spent")
    assert_status(server.http("GET", "secret/data/anything", token=wt), 403)
    r = server.http("POST", "sys/wrapping/unwrap", json_body={"token": wt})
    assert r.status_code == 400, (r.status_code, r.text)


@pytest.mark.parametrize("case", ["denied", "unmounted", "unsupported-path", "allowed", "bad-request"])
def test_which_requests_spend_a_use(coffer, bao, case):
    """For each kind of outcome, Coffer's status and the number of uses it spends are
    OpenBao's."""
    seen = {}
    for srv in (coffer, bao):
        name = unique("nuk")
        write_policy(srv, name, 'path "*" { capabilities = ["read", "update", "list"] }\n'
                                'path "secret/data/deny-*" { capabilities = ["deny"] }')
        t = create_token(srv, [name], num_uses=5)["client_token"]
        method, path, body = {
            "denied": ("GET", "secret/data/deny-x", None),
            "unmounted": ("GET", f"nomount-{name}/x", None),
            "unsupported-path": ("GET", "secret/nosuchendpoint/x", None),
            "allowed": ("GET", "auth/token/lookup-self", None),
            "bad-request": ("POST", "auth/token/create", {"ttl": "not-a-duration"}),
        }[case]
        r = srv.http(method, path, token=t, json_body=body)
        seen[srv.kind] = (r.status_code, 5 - _uses_left(srv, t))
    assert seen["coffer"] == seen["bao"], seen


UNSERVED = [
    ("GET", "nomount-{u}/x"),          # no mount
    ("GET", "secret/nosuchendpoint/x"),  # no row in the mount
    ("LIST", "secret/data/x"),          # row without that operation
    ("POST", "sys/nosuch-{u}"),
    ("GET", "auth/token/nosuch"),
]


def test_unserved_paths_are_refused_before_they_are_revealed(coffer, bao):
    """Vault checks the token and the ACL before it looks for a route: without a valid
    token, or with policies that do not reach the path, a request for an unmounted
    path, an unknown endpoint or an unsupported operation is 403, never the 404/405
    that would tell an outsider which mounts and endpoints exist. Only a caller the
    ACL lets through sees 404/405. Every one of those requests spends a use."""
    seen = {}
    for srv in (coffer, bao):
        u = unique("un")
        write_policy(srv, u, 'path "*" { capabilities = ["read", "update", "list"] }')
        tokens = {
            "none": None,
            "bogus": "hvs.bogus0000000000000000000",
            "default": create_token(srv, ["default"], num_uses=50)["client_token"],
            "allowed": create_token(srv, [u], num_uses=50)["client_token"],
        }
        out = {}
        for tname, tok in tokens.items():
            for method, path in UNSERVED:
                r = srv.http(method, path.format(u=u), token=tok if tok else None)
                out[(tname, method, path)] = r.status_code
        for tname in ("default", "allowed"):
            out[(tname, "uses spent")] = 50 - _uses_left(srv, tokens[tname])
        seen[srv.kind] = out
    assert seen["coffer"] == seen["bao"], {k: (seen["coffer"][k], seen["bao"][k])
                                           for k in seen["coffer"] if seen["coffer"][k] != seen["bao"][k]}
