"""ACL policies: CRUD on sys/policies/acl and legacy sys/policy, parsing, built-in
policies, enforcement and capabilities endpoints."""

import json

import pytest

from conftest import PERMISSION_DENIED, assert_status, create_token, errors_of, unique, write_policy

HCL = 'path "secret/data/app/*" {\n  capabilities = ["read", "list"]\n}\n'


def caps(srv, token, *paths):
    r = assert_status(srv.http("POST", "sys/capabilities-self", token=token,
                               json_body={"paths": list(paths)}), 200)
    return r.json()["data"]


def test_acl_crud(server):
    """sys/policies/acl/:name PUT → 204, GET → {name, policy} with the raw text,
    LIST → keys include it, DELETE → 204 and GET is then 404."""
    name = unique("pol")
    assert_status(server.http("PUT", f"sys/policies/acl/{name}", json_body={"policy": HCL}), 204)
    r = assert_status(server.http("GET", f"sys/policies/acl/{name}"), 200)
    assert r.json()["data"]["name"] == name
    assert r.json()["data"]["policy"] == HCL
    r = assert_status(server.http("LIST", "sys/policies/acl"), 200)
    keys = r.json()["data"]["keys"]
    assert name in keys and "default" in keys
    assert_status(server.http("DELETE", f"sys/policies/acl/{name}"), 204)
    assert_status(server.http("GET", f"sys/policies/acl/{name}"), 404)
    r = assert_status(server.http("LIST", "sys/policies/acl"), 200)
    assert name not in r.json()["data"]["keys"]


def test_legacy_sys_policy(server):
    """Legacy sys/policy: GET lists {keys, policies} (also injected at top level,
    includes root); sys/policy/:name returns {name, rules}; PUT takes {policy}."""
    name = unique("legacy")
    assert_status(server.http("PUT", f"sys/policy/{name}", json_body={"policy": HCL}), 204)
    r = assert_status(server.http("GET", "sys/policy"), 200)
    body = r.json()
    assert name in body["data"]["keys"] and "root" in body["data"]["policies"]
    assert body["keys"] == body["data"]["keys"]  # legacy top-level injection
    r = assert_status(server.http("GET", f"sys/policy/{name}"), 200)
    assert r.json()["data"]["rules"] == HCL
    assert r.json()["rules"] == HCL
    assert_status(server.http("DELETE", f"sys/policy/{name}"), 204)
    assert_status(server.http("GET", f"sys/policy/{name}"), 404)


def test_names_are_lowercased(server):
    """Policy names are lowercased on write."""
    name = unique("MiXeD").upper()
    write_policy(server, name, HCL)
    r = assert_status(server.http("GET", f"sys/policies/acl/{name.lower()}"), 200)
    assert r.json()["data"]["name"] == name.lower()


def test_json_policy(server):
    """A policy may be JSON ({"path": {p: {"capabilities": [...]}}}) and is enforced
    like the HCL form."""
    name = unique("json")
    base = unique("jp")
    text = json.dumps({"path": {f"secret/data/{base}/*": {"capabilities": ["read", "create"]}}})
    write_policy(server, name, text)
    assert server.http("GET", f"sys/policies/acl/{name}").json()["data"]["policy"] == text
    tok = create_token(server, policies=[name])["client_token"]
    got = caps(server, tok, f"secret/data/{base}/x", f"secret/data/other/x")
    assert sorted(got[f"secret/data/{base}/x"]) == ["create", "read"]
    assert got["secret/data/other/x"] == ["deny"]


@pytest.mark.parametrize("bad", [
    'path "a/*" { capabilities = ["read" }',        # syntax error
    'path "a/*" { capabilities = ["bogus"] }',      # unknown capability
    'path "a/*" { foo = 1 }',                       # unknown key
    '{"path": {"a/*": {"capabilities": "read"',    # broken JSON
])
def test_invalid_policy_400_and_unchanged(server, bad):
    """Invalid policy text → 400 `failed to parse policy: ...` and the stored policy
    is unchanged."""
    name = unique("inv")
    write_policy(server, name, HCL)
    r = server.http("PUT", f"sys/policies/acl/{name}", json_body={"policy": bad})
    assert_status(r, 400)
    assert any(e.startswith("failed to parse policy") for e in errors_of(r)), r.text
    assert server.http("GET", f"sys/policies/acl/{name}").json()["data"]["policy"] == HCL
    r = server.http("PUT", f"sys/policies/acl/{unique('new')}", json_body={"policy": bad})
    assert_status(r, 400)


def test_builtin_policies_protected(server):
    """`root` cannot be updated (400) and is not readable as text; `default` cannot
    be deleted (400) but exists and grants auth/token/lookup-self."""
    r = server.http("PUT", "sys/policies/acl/root", json_body={"policy": HCL})
    assert_status(r, 400)
    r = server.http("DELETE", "sys/policies/acl/default")
    assert_status(r, 400)
    r = assert_status(server.http("GET", "sys/policies/acl/default"), 200)
    assert "auth/token/lookup-self" in r.json()["data"]["policy"]
    assert "cubbyhole/*" in r.json()["data"]["policy"]


def test_default_policy_rules(server):
    """A token with only `default` can lookup-self, renew-self, use its cubbyhole and
    sys/wrapping/*, and is denied on everything else."""
    tok = create_token(server, policies=["default"])["client_token"]
    got = caps(server, tok, "auth/token/lookup-self", "auth/token/renew-self", "cubbyhole/x",
               "sys/wrapping/wrap", "secret/data/x", "sys/mounts")
    assert got["auth/token/lookup-self"] == ["read"]
    assert got["auth/token/renew-self"] == ["update"]
    assert sorted(got["cubbyhole/x"]) == ["create", "delete", "list", "read", "update"]
    assert got["sys/wrapping/wrap"] == ["update"]
    assert got["secret/data/x"] == ["deny"]
    assert got["sys/mounts"] == ["deny"]


def test_root_token_capabilities(server):
    """The root token's capabilities on any path are ["root"]; a single path also
    yields data.capabilities."""
    r = assert_status(server.http("POST", "sys/capabilities-self", json_body={"paths": ["any/where"]}), 200)
    d = r.json()["data"]
    assert d["any/where"] == ["root"]
    assert d["capabilities"] == ["root"]


def test_enforcement_403_exact_body(server):
    """A request the token's policies do not allow → 403 with body exactly
    {"errors":["1 error occurred:\\n\\t* permission denied\\n\\n"]}."""
    name = unique("ro")
    base = unique("enf")
    write_policy(server, name, f'path "secret/data/{base}/*" {{ capabilities = ["read"] }}')
    assert_status(server.http("POST", f"secret/data/{base}/x", json_body={"data": {"a": "1"}}), 200)
    tok = create_token(server, policies=[name])["client_token"]
    assert_status(server.http("GET", f"secret/data/{base}/x", token=tok), 200)
    for method, path, body in [
        ("POST", f"secret/data/{base}/x", {"data": {"a": "2"}}),
        ("GET", f"secret/data/{unique('other')}", None),
        ("GET", "sys/mounts", None),
        ("DELETE", f"secret/data/{base}/x", None),
    ]:
        r = server.http(method, path, token=tok, json_body=body)
        assert r.status_code == 403, (method, path, r.status_code, r.text)
        assert r.json() == {"errors": [PERMISSION_DENIED]}
    # nothing changed
    r = assert_status(server.http("GET", f"secret/data/{base}/x"), 200)
    assert r.json()["data"]["data"] == {"a": "1"}


def test_create_vs_update(server):
    """`create` allows writing a new kv-v1 key but not overwriting an existing one;
    `update` allows overwriting but not creating."""
    mount = unique("kvcu")
    assert_status(server.http("POST", f"sys/mounts/{mount}", json_body={"type": "kv"}), 204)
    try:
        assert_status(server.http("PUT", f"{mount}/exists", json_body={"v": "1"}), 204)
        cp = unique("create")
        up = unique("update")
        write_policy(server, cp, f'path "{mount}/*" {{ capabilities = ["create"] }}')
        write_policy(server, up, f'path "{mount}/*" {{ capabilities = ["update"] }}')
        ct = create_token(server, policies=[cp])["client_token"]
        ut = create_token(server, policies=[up])["client_token"]
        assert_status(server.http("PUT", f"{mount}/new1", token=ct, json_body={"v": "1"}), 204)
        assert_status(server.http("PUT", f"{mount}/exists", token=ct, json_body={"v": "2"}), 403)
        assert_status(server.http("PUT", f"{mount}/new2", token=ut, json_body={"v": "1"}), 403)
        assert_status(server.http("PUT", f"{mount}/exists", token=ut, json_body={"v": "3"}), 204)
        assert server.http("GET", f"{mount}/exists").json()["data"] == {"v": "3"}
    finally:
        server.http("DELETE", f"sys/mounts/{mount}")


def test_globs_plus_and_precedence(server):
    """Path patterns: trailing `*` is a prefix glob (matches across `/`), `+` matches
    exactly one segment, exact paths beat globs, longer prefixes beat shorter ones, and
    `deny` wins at the matching pattern."""
    b = unique("g")
    name = unique("globs")
    write_policy(server, name, f'''
path "{b}/*"            {{ capabilities = ["read"] }}
path "{b}/zip-*"        {{ capabilities = ["update"] }}
path "{b}/+/teamb"      {{ capabilities = ["list"] }}
path "{b}/exact"        {{ capabilities = ["delete"] }}
path "{b}/secret/*"     {{ capabilities = ["deny"] }}
''')
    tok = create_token(server, policies=[name])["client_token"]
    got = caps(server, tok, f"{b}/a/b/c", f"{b}/zip-zap/zong", f"{b}/x/teamb", f"{b}/x/y/teamb",
               f"{b}/exact", f"{b}/secret/k", "elsewhere")
    assert got[f"{b}/a/b/c"] == ["read"]
    assert got[f"{b}/zip-zap/zong"] == ["update"]
    assert got[f"{b}/x/teamb"] == ["list"]
    assert got[f"{b}/x/y/teamb"] == ["read"]
    assert got[f"{b}/exact"] == ["delete"]
    assert got[f"{b}/secret/k"] == ["deny"]
    assert got["elsewhere"] == ["deny"]


def test_multiple_policies_union(server):
    """Identical patterns in two policies merge (union of capabilities)."""
    b = unique("u")
    p1, p2 = unique("u1"), unique("u2")
    write_policy(server, p1, f'path "{b}/*" {{ capabilities = ["read"] }}')
    write_policy(server, p2, f'path "{b}/*" {{ capabilities = ["list"] }}')
    tok = create_token(server, policies=[p1, p2])["client_token"]
    assert sorted(caps(server, tok, f"{b}/x")[f"{b}/x"]) == ["list", "read"]


def test_capabilities_token_and_accessor(server):
    """sys/capabilities {token, paths} and sys/capabilities-accessor {accessor, paths}
    report another token's capabilities (data also injected top-level)."""
    name = unique("capx")
    write_policy(server, name, 'path "secret/data/capx/*" { capabilities = ["read", "update"] }')
    auth = create_token(server, policies=[name])
    r = assert_status(server.http("POST", "sys/capabilities", json_body={
        "token": auth["client_token"], "paths": ["secret/data/capx/a", "sys/mounts"]}), 200)
    body = r.json()
    assert sorted(body["data"]["secret/data/capx/a"]) == ["read", "update"]
    assert body["data"]["sys/mounts"] == ["deny"]
    assert body["secret/data/capx/a"] == body["data"]["secret/data/capx/a"]
    r = assert_status(server.http("POST", "sys/capabilities-accessor", json_body={
        "accessor": auth["accessor"], "paths": ["secret/data/capx/a"]}), 200)
    assert sorted(r.json()["data"]["capabilities"]) == ["read", "update"]


def test_sudo_required_for_root_protected(server):
    """Root-protected paths (sys/auth/*) need `sudo` in addition to the operation's
    capability."""
    path = unique("ua")
    nos, withs = unique("nosudo"), unique("sudo")
    write_policy(server, nos, 'path "sys/auth/*" { capabilities = ["create", "update", "read", "delete"] }')
    write_policy(server, withs, 'path "sys/auth/*" { capabilities = ["create", "update", "read", "delete", "sudo"] }')
    t1 = create_token(server, policies=[nos])["client_token"]
    t2 = create_token(server, policies=[withs])["client_token"]
    r = server.http("POST", f"sys/auth/{path}", token=t1, json_body={"type": "userpass"})
    assert_status(r, 403)
    assert_status(server.http("POST", f"sys/auth/{path}", token=t2, json_body={"type": "userpass"}), 204)
    assert_status(server.http("DELETE", f"sys/auth/{path}", token=t2), 204)


def test_list_checks_trailing_slash(server):
    """LIST is checked against the path with a trailing `/`: `list` on
    secret/metadata/<d>/ allows LIST of that folder."""
    d = unique("ls")
    server.client().secrets.kv.v2.create_or_update_secret(f"{d}/k", secret={"a": "1"})
    name = unique("lister")
    write_policy(server, name, f'path "secret/metadata/{d}/" {{ capabilities = ["list"] }}')
    tok = create_token(server, policies=[name])["client_token"]
    r = assert_status(server.http("LIST", f"secret/metadata/{d}", token=tok), 200)
    assert r.json()["data"]["keys"] == ["k"]
    assert_status(server.http("GET", f"secret/metadata/{d}/k", token=tok), 403)


def test_policy_change_applies_to_existing_tokens(server):
    """Policies are resolved at request time: changing a policy changes what existing
    tokens can do."""
    name = unique("live")
    b = unique("lv")
    write_policy(server, name, f'path "secret/data/{b}" {{ capabilities = ["deny"] }}')
    tok = create_token(server, policies=[name])["client_token"]
    assert caps(server, tok, f"secret/data/{b}")[f"secret/data/{b}"] == ["deny"]
    write_policy(server, name, f'path "secret/data/{b}" {{ capabilities = ["read"] }}')
    assert caps(server, tok, f"secret/data/{b}")[f"secret/data/{b}"] == ["read"]
