"""`allowed_parameters`, `denied_parameters` and `required_parameters` against real
requests (issue 8, item 2), on Coffer and on OpenBao.

String entries are Vault's globbed strings (`strutil.GlobbedStringsMatch`): an entry
shorter than two characters is literal, otherwise `*x*` contains, `*x` ends with, `x*`
starts with, anything else literal. Non-string entries compare by type as Go's
`reflect.DeepEqual` does between a policy value and a JSON request value: bools and
null by value, nested lists structurally, and numbers never (a JSON request number is a
`json.Number`).

Where Vault 1.21 and OpenBao 2.7 disagree (Vault matches list values and
comma-separated strings per element; OpenBao compares only the whole value), Coffer
follows Vault and the case says what OpenBao answers (docs/compatibility.md).
Coffer's one deliberate difference: a number in `denied_parameters` denies an equal
JSON number (Vault and OpenBao never match it, so such an entry denies nothing).

Each case writes one policy on `<mount>/*` (create/update), creates a token with it,
and sends `PUT <mount>/x` with the data: 204 allowed, 403 denied.
"""

import pytest
import requests

from conftest import PERMISSION_DENIED, assert_status, create_token, errors_of, unique, write_policy

ALLOW, DENY = 204, 403

# (id, rule, data, coffer/Vault status, OpenBao status when it differs)
CASES = [
    # globbed strings: the forms the issue reported
    ("deny-contains", 'denied_parameters = { "role" = ["*admin*"] }', {"role": "superadminx"}, DENY, None),
    ("deny-contains-exact", 'denied_parameters = { "role" = ["*admin*"] }', {"role": "admin"}, DENY, None),
    ("deny-contains-miss", 'denied_parameters = { "role" = ["*admin*"] }', {"role": "adm"}, ALLOW, None),
    ("deny-double-star", 'denied_parameters = { "y" = ["**"] }', {"y": "anything"}, DENY, None),
    ("deny-double-star-empty", 'denied_parameters = { "y" = ["**"] }', {"y": ""}, DENY, None),
    ("deny-star-is-literal", 'denied_parameters = { "y" = ["*"] }', {"y": "anything"}, ALLOW, None),
    ("deny-star-literal-hit", 'denied_parameters = { "y" = ["*"] }', {"y": "*"}, DENY, None),
    ("allow-star-is-literal", 'allowed_parameters = { "x" = ["*"] }', {"x": "anything"}, DENY, None),
    ("allow-star-literal-hit", 'allowed_parameters = { "x" = ["*"] }', {"x": "*"}, ALLOW, None),
    ("allow-prefix", 'allowed_parameters = { "x" = ["a*"] }', {"x": "abc"}, ALLOW, None),
    ("allow-prefix-bare", 'allowed_parameters = { "x" = ["a*"] }', {"x": "a"}, ALLOW, None),
    ("allow-suffix", 'allowed_parameters = { "x" = ["*c"] }', {"x": "abc"}, ALLOW, None),
    ("allow-inner-star-literal", 'allowed_parameters = { "x" = ["a*c"] }', {"x": "abc"}, DENY, None),
    ("allow-inner-star-hit", 'allowed_parameters = { "x" = ["a*c"] }', {"x": "a*c"}, ALLOW, None),
    ("allow-double-star", 'allowed_parameters = { "x" = ["**"] }', {"x": "q"}, ALLOW, None),
    ("allow-triple-star", 'allowed_parameters = { "x" = ["***"] }', {"x": "q*q"}, ALLOW, None),
    ("allow-triple-star-miss", 'allowed_parameters = { "x" = ["***"] }', {"x": "q"}, DENY, None),
    ("allow-contains-bare", 'allowed_parameters = { "x" = ["*a*"] }', {"x": "a"}, ALLOW, None),
    ("allow-case-sensitive", 'allowed_parameters = { "x" = ["a"] }', {"x": "A"}, DENY, None),
    ("allow-empty-string", 'allowed_parameters = { "x" = [""] }', {"x": ""}, ALLOW, None),
    ("allow-empty-string-miss", 'allowed_parameters = { "x" = [""] }', {"x": "a"}, DENY, None),
    # empty lists and the "*" key
    ("allow-empty-list-any", 'allowed_parameters = { "x" = [] }', {"x": [1, 2]}, ALLOW, None),
    ("allow-star-key", 'allowed_parameters = { "*" = [] }', {"q": "1"}, ALLOW, None),
    ("allow-star-key-values-ignored", 'allowed_parameters = { "*" = ["v"] }', {"q": "1"}, ALLOW, None),
    ("allow-star-key-plus-listed", 'allowed_parameters = { "*" = [] "x" = ["a"] }', {"q": "1", "x": "a"}, ALLOW, None),
    ("allow-star-key-listed-miss", 'allowed_parameters = { "*" = [] "x" = ["a"] }', {"q": "1", "x": "b"}, DENY, None),
    ("allow-unlisted-param", 'allowed_parameters = { "x" = ["a"] }', {"x": "a", "other": "1"}, DENY, None),
    ("deny-star-key", 'denied_parameters = { "*" = [] }', {"q": "1"}, DENY, None),
    ("deny-star-key-values-ignored", 'denied_parameters = { "*" = ["v"] }', {"q": "1"}, DENY, None),
    ("deny-empty-list", 'denied_parameters = { "x" = [] }', {"x": "a"}, DENY, None),
    ("deny-empty-list-other", 'denied_parameters = { "x" = [] }', {"y": "a"}, ALLOW, None),
    ("deny-before-allow", 'denied_parameters = { "x" = ["a"] } allowed_parameters = { "x" = ["a","b"] }', {"x": "a"}, DENY, None),
    ("deny-before-allow-other", 'denied_parameters = { "x" = ["a"] } allowed_parameters = { "x" = ["a","b"] }', {"x": "b"}, ALLOW, None),
    # parameter names are case-insensitive (policy keys and request keys lower-cased)
    ("deny-key-upper-in-policy", 'denied_parameters = { "X" = ["a"] }', {"x": "a"}, DENY, None),
    ("deny-key-upper-in-request", 'denied_parameters = { "x" = ["a"] }', {"X": "a"}, DENY, None),
    ("allow-key-upper-in-request", 'allowed_parameters = { "x" = ["a"] }', {"X": "a"}, ALLOW, None),
    ("required-missing", 'required_parameters = ["x"]', {"y": "1"}, DENY, None),
    ("required-upper-in-policy", 'required_parameters = ["X"]', {"x": "1"}, ALLOW, None),
    ("required-upper-in-request", 'required_parameters = ["x"]', {"X": "1"}, DENY, None),
    # non-string values
    ("allow-number-never-matches", 'allowed_parameters = { "n" = [1] }', {"n": 1}, DENY, None),
    ("allow-float-never-matches", 'allowed_parameters = { "n" = [1.5] }', {"n": 1.5}, DENY, None),
    ("allow-number-vs-string", 'allowed_parameters = { "n" = [1] }', {"n": "1"}, DENY, None),
    ("allow-string-vs-number", 'allowed_parameters = { "n" = ["1"] }', {"n": 1}, DENY, None),
    ("deny-string-vs-number", 'denied_parameters = { "n" = ["1"] }', {"n": 1}, ALLOW, None),
    ("deny-glob-vs-number", 'denied_parameters = { "n" = ["1*"] }', {"n": 12}, ALLOW, None),
    ("deny-number", 'denied_parameters = { "n" = [1] }', {"n": 1}, DENY, ALLOW),
    ("allow-bool", 'allowed_parameters = { "b" = [true] }', {"b": True}, ALLOW, None),
    ("allow-bool-vs-string", 'allowed_parameters = { "b" = [true] }', {"b": "true"}, DENY, None),
    ("allow-string-vs-bool", 'allowed_parameters = { "b" = ["true"] }', {"b": True}, DENY, None),
    ("deny-bool", 'denied_parameters = { "b" = [false] }', {"b": False}, DENY, None),
    ("allow-null", 'allowed_parameters = { "z" = ["a"] }', {"z": None}, DENY, None),
    ("deny-null-vs-string", 'denied_parameters = { "z" = ["a"] }', {"z": None}, ALLOW, None),
    ("deny-null-empty-list", 'denied_parameters = { "z" = [] }', {"z": None}, DENY, None),
    ("deny-object-value", 'denied_parameters = { "x" = ["a"] }', {"x": {"k": "a"}}, ALLOW, None),
    ("allow-nested-list-whole", 'allowed_parameters = { "x" = [["a","b"]] }', {"x": ["a", "b"]}, ALLOW, None),
    ("deny-nested-list-whole", 'denied_parameters = { "x" = [["a"]] }', {"x": ["a"]}, DENY, None),
    # list values and comma-separated strings: per element in Vault 1.21, whole in OpenBao
    ("allow-list-subset", 'allowed_parameters = { "x" = ["a","b"] }', {"x": ["a"]}, ALLOW, DENY),
    ("allow-list-all", 'allowed_parameters = { "x" = ["a","b"] }', {"x": ["a", "b"]}, ALLOW, DENY),
    ("allow-list-one-outside", 'allowed_parameters = { "x" = ["a","b"] }', {"x": ["a", "c"]}, DENY, None),
    ("allow-list-empty", 'allowed_parameters = { "x" = ["a","b"] }', {"x": []}, ALLOW, DENY),
    ("allow-list-globs", 'allowed_parameters = { "x" = ["a*"] }', {"x": ["ab"]}, ALLOW, DENY),
    ("allow-comma-string", 'allowed_parameters = { "x" = ["a","b"] }', {"x": "b, a"}, ALLOW, DENY),
    ("allow-comma-string-outside", 'allowed_parameters = { "x" = ["a","b"] }', {"x": "a,c"}, DENY, None),
    ("deny-list-any-element", 'denied_parameters = { "x" = ["a"] }', {"x": ["a", "z"]}, DENY, ALLOW),
    ("deny-list-single", 'denied_parameters = { "x" = ["a"] }', {"x": ["a"]}, DENY, ALLOW),
    ("deny-comma-string", 'denied_parameters = { "role" = ["admin"] }', {"role": "user, admin"}, DENY, ALLOW),
    ("deny-comma-string-glob", 'denied_parameters = { "role" = ["admin-*"] }', {"role": "user,admin-x"}, DENY, ALLOW),
    ("deny-comma-string-miss", 'denied_parameters = { "x" = ["a"] }', {"x": "z,b"}, ALLOW, None),
]


@pytest.fixture(scope="module")
def kv_mount(server):
    mount = unique("params")
    assert_status(server.http("POST", f"sys/mounts/{mount}", json_body={"type": "kv"}), 204)
    yield mount
    assert_status(server.http("DELETE", f"sys/mounts/{mount}"), 204)


def token_for(srv, mount, rule):
    name = unique("params")
    write_policy(srv, name, f'path "{mount}/*" {{\n  capabilities = ["create", "update"]\n  {rule}\n}}\n')
    return create_token(srv, [name])["client_token"]


@pytest.mark.parametrize("case_id,rule,data,want,bao_want", CASES, ids=[c[0] for c in CASES])
def test_parameter_constraints(server, kv_mount, case_id, rule, data, want, bao_want):
    tok = token_for(server, kv_mount, rule)
    expected = bao_want if (server.kind == "bao" and bao_want is not None) else want
    r = server.http("PUT", f"{kv_mount}/{case_id}", token=tok, json_body=data)
    assert_status(r, expected)
    if expected == DENY:
        assert errors_of(r) == [PERMISSION_DENIED]
        # nothing was written
        assert_status(server.http("GET", f"{kv_mount}/{case_id}"), 404)


@pytest.mark.parametrize("rule,body,want", [
    ('allowed_parameters = { "n" = [1] }', "n=1", DENY),
    ('allowed_parameters = { "n" = ["1"] }', "n=1", ALLOW),
    ('allowed_parameters = { "b" = [true] }', "b=true", DENY),
    ('denied_parameters = { "role" = ["*admin*"] }', "role=superadmin", DENY),
    ('denied_parameters = { "role" = ["*admin*"] }', "role=user", ALLOW),
], ids=["number-entry", "string-entry", "bool-entry", "deny-glob", "deny-glob-miss"])
def test_form_encoded_values_are_strings(server, kv_mount, rule, body, want):
    """A form-encoded body carries only strings: a number or bool entry never matches
    it, a string entry does."""
    tok = token_for(server, kv_mount, rule)
    r = requests.put(f"{server.addr}/v1/{kv_mount}/form", data=body, timeout=30,
                     headers={"X-Vault-Token": tok, "Content-Type": "application/x-www-form-urlencoded"})
    assert_status(r, want)


def test_parameter_checks_skip_delete(server, kv_mount):
    """Parameter constraints apply to create/update/read/patch, not delete."""
    tok = token_for(server, kv_mount, 'denied_parameters = { "*" = [] }')
    name = unique("del")
    assert_status(server.http("PUT", f"{kv_mount}/{name}", json_body={"v": "1"}), 204)
    write_rule = unique("delpol")
    write_policy(server, write_rule, f'path "{kv_mount}/{name}" {{\n  capabilities = ["delete"]\n  denied_parameters = {{ "*" = [] }}\n}}\n')
    dtok = create_token(server, [write_rule])["client_token"]
    assert_status(server.http("DELETE", f"{kv_mount}/{name}", token=dtok, json_body={"q": "1"}), 204)
    assert_status(server.http("PUT", f"{kv_mount}/{name}", token=tok, json_body={"q": "1"}), 403)
