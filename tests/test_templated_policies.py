"""Templated ACL policies (`{{identity.entity.*}}`, `{{identity.groups.*}}` in path names):
rendered for the token's entity at request time; a template that cannot be resolved, or
whose value holds `/`, `*` or `+` (OpenBao 2.7's default), matches nothing. Only `{{`/`}}`
balance is checked when the policy is written.

The login tests use the identity store (entities, aliases, groups); against bao they pin
the behaviour."""

import pytest

from conftest import assert_status, enable_kv2, errors_of, unique, write_policy


def rules(*stanzas):
    return "\n".join(f'path "{p}" {{ capabilities = {caps} }}' for p, caps in stanzas)


def put_policy(srv, name, text):
    return srv.http("PUT", f"sys/policies/acl/{name}", json_body={"policy": text})


@pytest.mark.parametrize("pattern", [
    "kv/{{identity.entity.id",
    "kv/}}x{{identity.entity.id}}",
    "kv/}}",
    "kv/{{a}}}}",
])
def test_unbalanced_template_is_refused_at_write(server, pattern):
    """Vault/OpenBao: `failed to validate policy templating: unbalanced templating characters`,
    400, and nothing is stored."""
    name = unique("tplbad")
    r = assert_status(put_policy(server, name, rules((pattern, '["read"]'))), 400)
    (msg,) = errors_of(r)
    assert "failed to validate policy templating: unbalanced templating characters" in msg, msg
    assert pattern in msg, msg
    assert_status(server.http("GET", f"sys/policies/acl/{name}"), 404)


@pytest.mark.parametrize("pattern", [
    "kv/{{identity.foo}}",
    "kv/{{ identity.entity.bogus }}",
    "kv/{{}}",
    "kv/{{identity.entity.metadata}}",
])
def test_unknown_template_parameter_is_accepted_at_write(server, pattern):
    """Vault and OpenBao do not check parameter names when a policy is written: such a
    path never renders, so it matches nothing (the token test below shows that)."""
    name = unique("tplunk")
    text = rules((pattern, '["read"]'))
    assert_status(put_policy(server, name, text), 204)
    r = assert_status(server.http("GET", f"sys/policies/acl/{name}"), 200)
    assert r.json()["data"]["policy"] == text
    # A root-less token without an entity: the rule matches nothing, not even the literal path.
    tok = assert_status(server.http("POST", "auth/token/create", json_body={"policies": [name]}), 200)
    caps = assert_status(server.http("POST", "sys/capabilities-self", token=tok.json()["auth"]["client_token"],
                                     json_body={"paths": [pattern, "kv/x"]}), 200).json()["data"]
    assert caps[pattern] == ["deny"] and caps["kv/x"] == ["deny"]


@pytest.fixture
def identity_login(server, userpass):
    return userpass


def test_templated_policy_for_a_userpass_login(server, identity_login):
    """An entity with metadata, an alias on userpass and a group; one templated policy;
    the userpass login's token may use exactly the rendered paths."""
    up = identity_login
    kv = unique("tplkv")
    enable_kv2(server, kv)
    user = unique("alice")
    accessor = assert_status(server.http("GET", "sys/auth"), 200).json()["data"][f"{up}/"]["accessor"]

    ent = assert_status(server.http("POST", "identity/entity", json_body={
        "name": f"ent-{user}",
        "metadata": {"team": "blue", "glob": "*", "plus": "+", "slash": "red/green"},
    }), 200).json()["data"]
    eid = ent["id"]
    assert_status(server.http("POST", "identity/entity-alias", json_body={
        "name": user, "mount_accessor": accessor, "canonical_id": eid,
    }), 200)
    gname = unique("grp")
    gid = assert_status(server.http("POST", "identity/group", json_body={
        "name": gname, "member_entity_ids": [eid], "metadata": {"site": "ams"},
    }), 200).json()["data"]["id"]

    pol = unique("tpl")
    write_policy(server, pol, rules(
        (f"{kv}/data/own/{{{{identity.entity.id}}}}/*", '["create", "update", "read"]'),
        (f"{kv}/data/name/{{{{identity.entity.name}}}}", '["read"]'),
        (f"{kv}/data/team/{{{{identity.entity.metadata.team}}}}", '["read"]'),
        (f"{kv}/data/alias/{{{{identity.entity.aliases.{accessor}.name}}}}", '["read"]'),
        (f"{kv}/data/gid/{{{{identity.groups.names.{gname}.id}}}}", '["read"]'),
        (f"{kv}/data/gname/{{{{identity.groups.ids.{gid}.name}}}}", '["read"]'),
        (f"{kv}/data/site/{{{{identity.groups.names.{gname}.metadata.site}}}}", '["read"]'),
        # cannot be resolved: match nothing
        (f"{kv}/data/miss/{{{{identity.entity.metadata.nope}}}}", '["read"]'),
        (f"{kv}/data/noalias/{{{{identity.entity.aliases.auth_none_0.name}}}}", '["read"]'),
        (f"{kv}/data/nogroup/{{{{identity.groups.names.nogroup.id}}}}", '["read"]'),
        (f"{kv}/data/bogus/{{{{identity.bogus}}}}", '["read"]'),
    ))
    assert_status(server.http("POST", f"auth/{up}/users/{user}",
                              json_body={"password": "pw-templ", "token_policies": pol}), 204)

    paths = ["own/%s/a" % eid, f"name/ent-{user}", "team/blue", f"alias/{user}", f"gid/{gid}",
             f"gname/{gname}", "site/ams", "miss/x", "noalias/x", "nogroup/x", "bogus/x",
             "own/other/a", "name/other", "team/red"]
    for p in paths:
        assert_status(server.http("POST", f"{kv}/data/{p}", json_body={"data": {"v": p}}), 200)

    tok = assert_status(server.http("POST", f"auth/{up}/login/{user}",
                                    json_body={"password": "pw-templ"}), 200).json()["auth"]
    assert tok["entity_id"] == eid
    t = tok["client_token"]

    allowed = ["own/%s/a" % eid, f"name/ent-{user}", "team/blue", f"alias/{user}", f"gid/{gid}",
               f"gname/{gname}", "site/ams"]
    for p in allowed:
        r = assert_status(server.http("GET", f"{kv}/data/{p}", token=t), 200)
        assert r.json()["data"]["data"] == {"v": p}
    for p in sorted(set(paths) - set(allowed)):
        assert_status(server.http("GET", f"{kv}/data/{p}", token=t), 403)
    # The rendered path takes writes too; a neighbour's does not.
    assert_status(server.http("POST", f"{kv}/data/own/{eid}/b", token=t, json_body={"data": {"x": "1"}}), 200)
    assert_status(server.http("POST", f"{kv}/data/own/other/b", token=t, json_body={"data": {"x": "1"}}), 403)

    # The entity's metadata changes: the same token now gets the new rendering.
    assert_status(server.http("POST", f"identity/entity/id/{eid}", json_body={"metadata": {"team": "red"}}), 200, 204)
    assert_status(server.http("GET", f"{kv}/data/team/red", token=t), 200)
    assert_status(server.http("GET", f"{kv}/data/team/blue", token=t), 403)


@pytest.mark.parametrize("key,pattern,probes", [
    ("glob", "glob/{{identity.entity.metadata.glob}}", ["glob/x", "glob/*"]),
    ("plus", "plus/{{identity.entity.metadata.plus}}/x", ["plus/a/x", "plus/+/x"]),
    ("slash", "slash/{{identity.entity.metadata.slash}}/*", ["slash/red/green/x", "slash/red/x"]),
])
def test_a_value_that_would_widen_the_match_grants_nothing(server, identity_login, key, pattern, probes):
    """A rendered value holding `*`, `+` or `/` never grants more than itself. OpenBao 2.7
    refuses it by default (without `allow_wildcards_in_identity_templates` /
    `allow_slashes_in_identity_templates`) by failing the whole ACL: every request of the
    token answers 400 "Forbidden", even lookup-self. Coffer drops only that rule (its other
    paths keep working): docs/compatibility.md. (Vault would read `*` and `+` as globs.)"""
    up = identity_login
    kv = unique("tplw")
    enable_kv2(server, kv)
    user = unique("wid")
    accessor = assert_status(server.http("GET", "sys/auth"), 200).json()["data"][f"{up}/"]["accessor"]
    eid = assert_status(server.http("POST", "identity/entity", json_body={
        "name": f"ent-{user}", "metadata": {"glob": "*", "plus": "+", "slash": "red/green"},
    }), 200).json()["data"]["id"]
    assert_status(server.http("POST", "identity/entity-alias", json_body={
        "name": user, "mount_accessor": accessor, "canonical_id": eid}), 200)
    pol = unique("tplw")
    write_policy(server, pol, rules((f"{kv}/data/{pattern}", '["read"]'), (f"{kv}/data/plain", '["read"]')))
    assert_status(server.http("POST", f"auth/{up}/users/{user}",
                              json_body={"password": "pw-templ", "token_policies": pol}), 204)
    for p in probes + ["plain"]:
        assert_status(server.http("POST", f"{kv}/data/{p}", json_body={"data": {"v": p}}), 200)
    t = assert_status(server.http("POST", f"auth/{up}/login/{user}",
                                  json_body={"password": "pw-templ"}), 200).json()["auth"]["client_token"]
    if server.kind == "bao":
        for p in probes + ["plain"]:
            r = assert_status(server.http("GET", f"{kv}/data/{p}", token=t), 400)
            assert errors_of(r) == ["Forbidden"]
        assert_status(server.http("GET", "auth/token/lookup-self", token=t), 400)
    else:
        for p in probes:
            assert_status(server.http("GET", f"{kv}/data/{p}", token=t), 403)
        assert_status(server.http("GET", f"{kv}/data/plain", token=t), 200)
        assert_status(server.http("GET", "auth/token/lookup-self", token=t), 200)
