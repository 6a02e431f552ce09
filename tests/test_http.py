"""HTTP layer: envelope and error shapes, verbs, headers, limits, parsing, paths."""

import json

import pytest
import requests

from conftest import assert_status, create_token, enable_kv2, errors_of, unique, write_policy

ENVELOPE = {"request_id", "lease_id", "renewable", "lease_duration", "data", "wrap_info",
            "warnings", "auth"}


def raw(srv, method, path, token=True, **kw):
    """requests call with a raw path (no normalisation by us) and no redirects."""
    headers = kw.pop("headers", {})
    if token is True:
        headers["X-Vault-Token"] = srv.root_token
    elif token:
        headers["X-Vault-Token"] = token
    s = requests.Session()
    req = requests.Request(method, srv.addr + path, headers=headers, **kw).prepare()
    req.url = srv.addr + path  # keep `..`, `//`, `%2F` exactly as written
    return s.send(req, allow_redirects=False, timeout=30)


def test_envelope_fields(server):
    """Every success JSON response carries request_id (uuid), lease_id, renewable,
    lease_duration, data, wrap_info, warnings, auth — vaultrs deserialises the first
    four as non-optional."""
    p = unique()
    for method, path, body in [("POST", f"secret/data/{p}", {"data": {"a": "1"}}),
                               ("GET", f"secret/data/{p}", None),
                               ("GET", "sys/mounts", None),
                               ("GET", "auth/token/lookup-self", None)]:
        r = assert_status(server.http(method, path, json_body=body), 200)
        b = r.json()
        assert ENVELOPE <= set(b), (path, ENVELOPE - set(b))
        assert isinstance(b["request_id"], str) and len(b["request_id"]) == 36
        assert b["lease_id"] == "" and b["renewable"] is False and b["lease_duration"] == 0
        assert r.headers["Content-Type"].startswith("application/json")


def test_error_shape(server):
    """Errors are {"errors": [strings]} with a JSON content type."""
    for r in [server.http("GET", f"secret/data/{unique()}"),
              server.http("GET", "sys/mounts", token="bogus-token"),
              server.http("POST", "sys/mounts/x", json_body={})]:
        assert r.status_code >= 400
        assert r.headers["Content-Type"].startswith("application/json")
        errs = errors_of(r)
        assert all(isinstance(e, str) for e in errs)


def test_cache_control_no_store(server):
    """Every response has Cache-Control: no-store (success, error, unauthenticated)."""
    for r in [server.http("GET", "sys/mounts"),
              server.http("GET", f"secret/data/{unique()}"),
              server.http("GET", "sys/mounts", token=None),
              requests.get(server.addr + "/v1/sys/health", timeout=10),
              requests.get(server.addr + "/v1/sys/seal-status", timeout=10)]:
        assert r.headers.get("Cache-Control") == "no-store", (r.url, r.headers)


def test_list_verb_and_query(server):
    """LIST <path> ≡ GET <path>?list=true (trailing slash implied); ?list must be a bool
    (else 400)."""
    d = unique("lst")
    for k in ("a", "b/c"):
        assert_status(server.http("POST", f"secret/data/{d}/{k}", json_body={"data": {"x": "1"}}), 200)
    a = assert_status(server.http("LIST", f"secret/metadata/{d}"), 200).json()["data"]["keys"]
    b = assert_status(server.http("GET", f"secret/metadata/{d}", params={"list": "true"}), 200).json()["data"]["keys"]
    c = assert_status(server.http("LIST", f"secret/metadata/{d}/"), 200).json()["data"]["keys"]
    assert sorted(a) == sorted(b) == sorted(c) == ["a", "b/"]
    assert_status(server.http("GET", f"secret/metadata/{d}", params={"list": "notabool"}), 400)


def test_patch_requires_merge_patch_content_type(server):
    """PATCH without Content-Type application/merge-patch+json → 415 with
    `PATCH requires Content-Type of application/merge-patch+json, provided <ct>`; the
    key is unchanged."""
    p = unique()
    assert_status(server.http("POST", f"secret/data/{p}", json_body={"data": {"a": "1"}}), 200)
    r = server.http("PATCH", f"secret/data/{p}", json_body={"data": {"a": "2"}})
    assert_status(r, 415)
    assert any("PATCH requires Content-Type of application/merge-patch+json" in e
               for e in errors_of(r))
    assert server.http("GET", f"secret/data/{p}").json()["data"]["data"] == {"a": "1"}


def test_authorization_bearer(server):
    """`Authorization: Bearer <token>` authenticates like X-Vault-Token; X-Vault-Token
    wins when both are sent."""
    r = server.http("GET", "sys/mounts", token=None,
                    headers={"Authorization": f"Bearer {server.root_token}"})
    assert_status(r, 200)
    r = server.http("GET", "sys/mounts", token=None, headers={"Authorization": "Bearer nope"})
    assert_status(r, 403)
    limited = create_token(server, policies=["default"])["client_token"]
    r = server.http("GET", "sys/mounts", token=limited,
                    headers={"Authorization": f"Bearer {server.root_token}"})
    assert_status(r, 403)


def test_missing_token_is_403(server):
    """An authenticated path without any token → 403."""
    assert_status(server.http("GET", "sys/mounts", token=None), 403)


def test_unknown_path_404(server):
    """A path under no mount → 404 `no handler for route "x". route entry not found.`;
    an unknown path inside sys/ → 404."""
    m = unique("nomount")
    r = server.http("GET", f"{m}/x")
    assert_status(r, 404)
    assert errors_of(r) == [f'no handler for route "{m}/x". route entry not found.']
    assert_status(server.http("GET", f"sys/{unique('nope')}"), 404)


def test_unknown_method_405(server):
    """An HTTP method Vault doesn't know → 405."""
    r = requests.request("FOO", server.addr + "/v1/secret/data/x",
                         headers={"X-Vault-Token": server.root_token}, timeout=10)
    assert_status(r, 405)


def test_malformed_json_400_nothing_stored(server):
    """Malformed JSON or a non-object body → 400 `failed to decode JSON input`; wrong
    field types → 400; nothing stored changes."""
    p = unique()
    assert_status(server.http("POST", f"secret/data/{p}", json_body={"data": {"a": "1"}}), 200)
    hdr = {"Content-Type": "application/json"}
    for body in ['{"data":', '[1,2]', '{"data": {"a": "2"}} trailing', '{"data": "str"}',
                 '{"data": ["x"]}']:
        r = server.http("POST", f"secret/data/{p}", data=body, headers=hdr)
        assert_status(r, 400)
        assert errors_of(r)
    r = server.http("POST", "secret/config", data='{"max_versions": "abc"}', headers=hdr)
    assert_status(r, 400)
    r = server.http("POST", "auth/token/create", data='{"num_uses": "many"}', headers=hdr)
    assert_status(r, 400)
    got = server.http("GET", f"secret/data/{p}").json()["data"]
    assert got["data"] == {"a": "1"} and got["metadata"]["version"] == 1
    assert server.http("GET", "secret/config").json()["data"]["max_versions"] == 0


def test_form_urlencoded_body(server):
    """A body with Content-Type application/x-www-form-urlencoded (not starting with
    `{`) is parsed as form fields."""
    p = unique()
    r = server.http("POST", f"cubbyhole/{p}", data="a=1&b=two",
                    headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert_status(r, 204)
    assert server.http("GET", f"cubbyhole/{p}").json()["data"] == {"a": "1", "b": "two"}


def test_oversize_body_413(sealed_server):
    """A body larger than the listener's max_request_size → 413 and nothing stored."""
    srv = sealed_server(listener_extra="max_request_size = 4096")
    srv.init(shares=1, threshold=1)
    srv.unseal()
    enable_kv2(srv, "kv")
    assert_status(srv.http("POST", "kv/data/small", json_body={"data": {"v": "x" * 100}}), 200)
    r = srv.http("POST", "kv/data/big", json_body={"data": {"v": "x" * 10000}})
    assert_status(r, 413)
    assert_status(srv.http("GET", "kv/data/big"), 404)


@pytest.mark.parametrize("path", [
    "/v1/secret/data/{p}/../../../sys/mounts",
    "/v1/secret/data/{p}/../{o}",
    "/v1/secret//data/{o}",
    "/v1/secret/data/{p}/..%2F{o}",
    "/v1/secret/data/{p}%2F..%2F{o}",
    "/v1/secret%2Fdata%2F{o}",
    "/v1/secret/data/{p}/./x",
])
def test_path_traversal_is_safe(server, path):
    """Dot segments, doubled slashes and encoded slashes never let a token reach data
    its policy does not allow: the server answers a redirect to the cleaned path, a
    4xx, or (if it serves the cleaned path) applies the ACL to that path."""
    p = unique("mine")
    o = unique("other")
    marker = unique("MARKER")
    assert_status(server.http("POST", f"secret/data/{o}", json_body={"data": {"secret": marker}}), 200)
    pol = unique("trav")
    write_policy(server, pol, f'path "secret/data/{p}/*" {{ capabilities = ["read", "create", "update"] }}')
    tok = create_token(server, policies=[pol])["client_token"]
    url = path.format(p=p, o=o)
    r = raw(server, "GET", url, token=tok)
    assert r.status_code in (301, 307, 308, 400, 403, 404, 405), (url, r.status_code, r.text)
    assert marker not in r.text and "cubbyhole/" not in r.text, r.text
    if r.status_code in (301, 307, 308):
        loc = r.headers["Location"]
        assert ".." not in loc and "//" not in loc.replace("://", ""), loc
        follow = raw(server, "GET", loc if loc.startswith("/") else loc[len(server.addr):], token=tok)
        assert follow.status_code in (403, 404), (loc, follow.status_code, follow.text)
        assert marker not in follow.text
    # and a write through a traversal path never lands outside the policy's prefix
    w = raw(server, "POST", url.replace("sys/mounts", f"secret/data/{o}"), token=tok,
            data=json.dumps({"data": {"secret": "overwritten"}}))
    assert w.status_code != 200 or f"secret/data/{p}/" in w.url
    got = server.http("GET", f"secret/data/{o}").json()["data"]
    assert got["data"] == {"secret": marker} and got["metadata"]["version"] == 1


def test_help_query(server):
    """?help=1 on a path returns {"help": "<text>", ...} for a permitted token (not the
    envelope); unauthenticated → 403."""
    r = assert_status(server.http("GET", "secret/data/anything", params={"help": "1"}), 200)
    b = r.json()
    assert isinstance(b["help"], str) and b["help"]
    r = assert_status(server.http("GET", "sys/mounts", params={"help": "1"}), 200)
    assert isinstance(r.json()["help"], str)
    assert_status(server.http("GET", "secret/data/anything", token=None, params={"help": "1"}), 403)


def test_x_vault_request_header_accepted(server):
    """X-Vault-Request: true (sent by the vault CLI and Go SDK) is accepted and ignored."""
    r = server.http("GET", "sys/mounts", headers={"X-Vault-Request": "true"})
    assert_status(r, 200)


def test_put_and_post_are_synonyms(server):
    """POST and PUT both map to the update/create operation."""
    p = unique()
    assert server.http("PUT", f"secret/data/{p}", json_body={"data": {"a": "1"}}).json()["data"]["version"] == 1
    assert server.http("POST", f"secret/data/{p}", json_body={"data": {"a": "2"}}).json()["data"]["version"] == 2


def test_empty_body_allowed(server):
    """An empty POST body is treated as no parameters (not a JSON error)."""
    r = server.http("POST", "auth/token/create", data="", headers={"Content-Type": "application/json"})
    assert_status(r, 200)
