"""X-Vault-Namespace before namespaces exist (issue 8's review; the seam itself is the
pipeline issue's): only the root namespace exists, so a request naming any other gets
OpenBao's 404 `namespace not found`, token or not, and never an answer from the root
namespace that a client confined to `hotpass/dev` would take for its own.
`root`, `/` and "" name the root."""
from __future__ import annotations

import pytest

from conftest import assert_status, errors_of, unique


@pytest.mark.parametrize("ns", ["hotpass", "hotpass/dev", "foo/", "Root2"])
@pytest.mark.parametrize("token", [True, None], ids=["root-token", "no-token"])
def test_unknown_namespace_is_not_the_root(server, ns, token):
    p = unique("ns")
    assert_status(server.http("POST", f"secret/data/{p}", json_body={"data": {"k": "v"}}), 200)
    for method, path in (("GET", f"secret/data/{p}"), ("GET", "sys/mounts"), ("POST", f"secret/data/{p}")):
        r = server.http(method, path, token=token, headers={"X-Vault-Namespace": ns},
                        json_body={"data": {"k": "overwritten"}} if method == "POST" else None)
        assert r.status_code == 404, (method, path, r.status_code, r.text)
        assert errors_of(r) == ["namespace not found"]
    # nothing was written through the refused request
    r = assert_status(server.http("GET", f"secret/data/{p}"), 200)
    assert r.json()["data"]["data"] == {"k": "v"}


@pytest.mark.parametrize("ns", ["root", "/", "", "root/"])
def test_the_root_namespace_by_name(server, ns):
    p = unique("ns")
    assert_status(server.http("POST", f"secret/data/{p}", json_body={"data": {"k": "v"}},
                              headers={"X-Vault-Namespace": ns}), 200)
    r = assert_status(server.http("GET", f"secret/data/{p}", headers={"X-Vault-Namespace": ns}), 200)
    assert r.json()["data"]["data"] == {"k": "v"}


@pytest.mark.parametrize("path", ["foo/sys/mounts", "ns1/secret/data/x", "root/sys/mounts", "hotpass/dev/sys/policies/acl"])
def test_namespace_path_prefix_is_an_unknown_mount(server, path):
    """A namespace named as a path prefix, with only the root namespace there: OpenBao
    routes the whole path in the root, where the prefix is no mount: 404 `no handler for
    route` for a caller who may see it, 403 for one without a token; a write stores
    nothing. (Checked against `bao server -dev`; Coffer's resolve-namespace stage leaves
    an unknown prefix on the path for the same answer.)"""
    r = server.http("GET", path)
    assert r.status_code == 404, r.text
    assert errors_of(r) == [f'no handler for route "{path}". route entry not found.']
    r = server.http("GET", path, token=None)
    assert r.status_code == 403, r.text
    assert errors_of(r) == ["permission denied"]
    r = server.http("POST", path, json_body={"data": {"k": "v"}})
    assert r.status_code == 404, r.text
    # The header and the prefix together: the header is judged first.
    r = server.http("GET", path, headers={"X-Vault-Namespace": "ns1"})
    assert r.status_code == 404 and errors_of(r) == ["namespace not found"], r.text
