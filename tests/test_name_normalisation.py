"""Names a handler normalises are authorised in their normalised form (issue 8, items 1
and 9).

Vault/OpenBao treat policy names and userpass usernames case-insensitively (policy
names are trimmed too). The ACL must judge the name the handler will act on: OpenBao
2.7 checks `sys/policies/acl/ADMIN` as `sys/policies/acl/admin`, so a policy that
denies `admin` denies every spelling of it, and a grant on `foo` covers `FOO`. Coffer
canonicalises those path parameters in the request pipeline before the existence check
and the ACL (`PathSpec::canonical`).

Policy names: `" root"`, `"ROOT"` are the root policy (cannot be written or deleted),
names with `/` are listed and survive seal/unseal and restart.
"""

import pytest

from conftest import PERMISSION_DENIED, assert_status, create_token, errors_of, unique, write_policy

RULES = 'path "secret/data/nn-unused" {\n  capabilities = ["read"]\n}\n'
FAMILIES = ["sys/policies/acl", "sys/policy"]


def policy_text(srv, name):
    r = assert_status(srv.http("GET", f"sys/policies/acl/{name}"), 200)
    return r.json()["data"]["policy"]


def spellings(name):
    """Case and surrounding-space variants of `name` (URL-encoded)."""
    return [name.upper(), name.capitalize(), f"%20{name}", f"{name}%20", f"%20{name.upper()}%20"]


# ------------------------------------------------------------------- item 1: policy names

@pytest.mark.parametrize("family", FAMILIES)
def test_denied_policy_name_is_denied_in_every_spelling(server, family):
    """A manager allowed `<family>/*` but denied `<family>/<admin>` gets 403 for GET, PUT
    and DELETE of ADMIN, Admin, ' admin', 'admin ' (OpenBao: 403), and the protected
    policy keeps its text."""
    admin = unique("admin")
    write_policy(server, admin, RULES)
    mgr = unique("mgr")
    write_policy(server, mgr, f'''
path "{family}/*" {{ capabilities = ["create", "read", "update", "delete", "list"] }}
path "{family}/{admin}" {{ capabilities = ["deny"] }}
''')
    tok = create_token(server, [mgr])["client_token"]
    evil = 'path "*" {\n  capabilities = ["sudo", "create", "read", "update", "delete", "list"]\n}\n'
    for name in [admin, *spellings(admin)]:
        for method, body in [("GET", None), ("PUT", {"policy": evil}), ("DELETE", None)]:
            r = server.http(method, f"{family}/{name}", token=tok, json_body=body)
            assert_status(r, 403)
            assert errors_of(r) == [PERMISSION_DENIED]
    assert policy_text(server, admin) == RULES
    # The same manager may still manage other policies.
    other = unique("other")
    assert_status(server.http("PUT", f"{family}/{other}", token=tok, json_body={"policy": RULES}), 204)


@pytest.mark.parametrize("family", FAMILIES)
def test_policy_grant_covers_every_spelling_of_the_name(server, family):
    """A grant on exactly `<family>/<name>` allows `<family>/<NAME>` and ` <name> ` (they
    are the same policy), while a grant written in upper case matches nothing: the ACL
    sees the lower-cased, trimmed name."""
    name = unique("exact")
    upper = unique("upper").upper()
    write_policy(server, name, RULES)
    write_policy(server, upper, RULES)
    grant = unique("grant")
    write_policy(server, grant, f'''
path "{family}/{name}" {{ capabilities = ["create", "read", "update"] }}
path "{family}/{upper}" {{ capabilities = ["create", "read", "update"] }}
''')
    tok = create_token(server, [grant])["client_token"]
    new = RULES.replace("nn-unused", "nn-changed")
    for i, spelled in enumerate(spellings(name)):
        body = {"policy": new if i % 2 else RULES}
        assert_status(server.http("PUT", f"{family}/{spelled}", token=tok, json_body=body), 204)
        assert policy_text(server, name) == body["policy"]
        r = assert_status(server.http("GET", f"{family}/{spelled}", token=tok), 200)
        assert r.json()["data"]["name"] == name
    for spelled in [upper, upper.lower()]:
        assert_status(server.http("GET", f"{family}/{spelled}", token=tok), 403)
        assert_status(server.http("PUT", f"{family}/{spelled}", token=tok, json_body={"policy": new}), 403)
    assert policy_text(server, upper.lower()) == RULES


# --------------------------------------------------------------- item 9: policy-name rules

@pytest.mark.parametrize("family", FAMILIES)
@pytest.mark.parametrize("spelled", ["root", "%20root", "root%20", "ROOT", "Root", "%20ROOT%20"])
def test_root_policy_cannot_be_written_or_deleted_in_any_spelling(server, family, spelled):
    """' root', 'root ', 'ROOT' are the root policy: PUT is 400 `cannot update "root"
    policy`, DELETE 400 `cannot delete "root" policy`, GET names `root`; no policy named
    ' root' appears in the list."""
    r = assert_status(server.http("PUT", f"{family}/{spelled}", json_body={"policy": RULES}), 400)
    assert errors_of(r) == ['cannot update "root" policy']
    r = assert_status(server.http("DELETE", f"{family}/{spelled}"), 400)
    assert errors_of(r) == ['cannot delete "root" policy']
    r = assert_status(server.http("GET", f"{family}/{spelled}"), 200)
    assert r.json()["data"]["name"] == "root"
    keys = assert_status(server.http("LIST", "sys/policies/acl"), 200).json()["data"]["keys"]
    assert [k for k in keys if k.strip().lower() == "root"] == ["root"]


@pytest.mark.parametrize("family", FAMILIES)
def test_other_built_in_names_are_protected_in_any_spelling(server, family):
    """'RESPONSE-WRAPPING ' cannot be written; ' DEFAULT' cannot be deleted."""
    r = assert_status(server.http("PUT", f"{family}/RESPONSE-WRAPPING%20", json_body={"policy": RULES}), 400)
    assert errors_of(r) == ['cannot update "response-wrapping" policy']
    r = assert_status(server.http("DELETE", f"{family}/%20DEFAULT"), 400)
    assert errors_of(r) == ["cannot delete default policy"]


@pytest.mark.parametrize("family", FAMILIES)
def test_policy_names_are_stored_trimmed_and_lower_cased(server, family):
    """PUT ' Mixed Name ' stores `mixed name` (inner space kept); it is listed once under
    that name and readable and deletable by any spelling."""
    base = unique("Mixed")
    canonical = f"{base.lower()} name"
    assert_status(server.http("PUT", f"{family}/%20{base}%20NAME%20", json_body={"policy": RULES}), 204)
    keys = assert_status(server.http("LIST", "sys/policies/acl"), 200).json()["data"]["keys"]
    assert canonical in keys
    assert [k for k in keys if k.strip().lower() == canonical] == [canonical]
    r = assert_status(server.http("GET", f"{family}/{base.upper()}%20name"), 200)
    assert r.json()["data"]["name"] == canonical
    assert_status(server.http("DELETE", f"{family}/{base}%20Name%20"), 204)
    assert_status(server.http("GET", f"sys/policies/acl/{canonical}"), 404)


@pytest.mark.parametrize("family,get_status", [("sys/policies/acl", 405), ("sys/policy", 200)])
def test_blank_policy_name_is_the_list_path(server, family, get_status):
    """A name of only spaces trims to nothing: the request is the list endpoint's, so a
    write or delete is 405 and nothing is stored (GET on the legacy family lists)."""
    before = assert_status(server.http("LIST", "sys/policies/acl"), 200).json()["data"]["keys"]
    r = assert_status(server.http("PUT", f"{family}/%20%20", json_body={"policy": RULES}), 405)
    assert errors_of(r)
    assert_status(server.http("DELETE", f"{family}/%20%20"), 405)
    assert_status(server.http("GET", f"{family}/%20%20"), get_status)
    after = assert_status(server.http("LIST", "sys/policies/acl"), 200).json()["data"]["keys"]
    assert after == before


@pytest.mark.parametrize("family", FAMILIES)
def test_policy_name_with_slash_is_listed_and_applies(server, family):
    """`team/<x>` is an ordinary name: written through either family it is listed by
    `LIST sys/policies/acl` and `GET sys/policy`, readable, and grants what it says."""
    name = f"{unique('team')}/admin"
    mount = unique("kv")
    assert_status(server.http("POST", f"sys/mounts/{mount}", json_body={"type": "kv"}), 204)
    assert_status(server.http("PUT", f"{mount}/s", json_body={"v": "1"}), 204)
    assert_status(server.http("PUT", f"{family}/{name}",
                              json_body={"policy": f'path "{mount}/*" {{ capabilities = ["read"] }}'}), 204)
    assert name in assert_status(server.http("LIST", "sys/policies/acl"), 200).json()["data"]["keys"]
    assert name in assert_status(server.http("GET", "sys/policy"), 200).json()["policies"]
    tok = create_token(server, [name])["client_token"]
    assert assert_status(server.http("GET", f"{mount}/s", token=tok), 200).json()["data"] == {"v": "1"}
    assert_status(server.http("DELETE", f"{family}/{name.upper()}"), 204)
    assert name not in assert_status(server.http("LIST", "sys/policies/acl"), 200).json()["data"]["keys"]
    assert_status(server.http("GET", f"{mount}/s", token=tok), 403)
    assert_status(server.http("DELETE", f"sys/mounts/{mount}"), 204)


def test_policy_name_with_slash_survives_seal_unseal_and_restart(sealed_server):
    """On persistent storage, a token holding `team/reader` can still read after
    seal/unseal and after a restart, and the name is still listed (it used to be
    dropped: the store loaded one level of keys)."""
    srv = sealed_server()
    srv.init(shares=1, threshold=1)
    srv.unseal()
    assert_status(srv.http("POST", "sys/mounts/kvs", json_body={"type": "kv"}), 204)
    assert_status(srv.http("PUT", "kvs/s", json_body={"v": "1"}), 204)
    write_policy(srv, "team/reader", 'path "kvs/*" { capabilities = ["read"] }')
    write_policy(srv, "team/ops/oncall", 'path "kvs/none" { capabilities = ["read"] }')
    tok = create_token(srv, ["team/reader"])["client_token"]

    def check():
        keys = assert_status(srv.http("LIST", "sys/policies/acl"), 200).json()["data"]["keys"]
        assert "team/reader" in keys and "team/ops/oncall" in keys, keys
        r = assert_status(srv.http("GET", "kvs/s", token=tok), 200)
        assert r.json()["data"] == {"v": "1"}

    check()
    assert_status(srv.http("POST", "sys/seal"), 204)
    srv.unseal()
    check()
    srv.restart()
    srv.unseal()
    check()


# ------------------------------------------------------------ item 9: token policy names

@pytest.mark.parametrize("spelled", [" root", "root ", "ROOT", "Root"])
def test_token_create_policy_names_are_normalised(server, spelled):
    """auth/token/create: [' root'] / ['ROOT'] from a root token is a root token with
    policies ['root']; from a non-root parent it is 400 `child policies must be subset of
    parent`, while ['<PARENT>'] and [' <parent>'] name the parent's own policy."""
    auth = create_token(server, [spelled])
    assert auth["policies"] == ["root"]
    creator = unique("creator")
    write_policy(server, creator, 'path "auth/token/create" { capabilities = ["update"] }')
    parent = create_token(server, [creator])["client_token"]
    r = server.http("POST", "auth/token/create", token=parent, json_body={"policies": [spelled]})
    assert_status(r, 400)
    assert errors_of(r) == ["child policies must be subset of parent"]
    for own in [creator.upper(), f" {creator} "]:
        r = server.http("POST", "auth/token/create", token=parent, json_body={"policies": [own]})
        assert assert_status(r, 200).json()["auth"]["policies"] == sorted([creator, "default"])


# ------------------------------------------------------------------ item 1: userpass names

def _login(srv, mount, user, password):
    return srv.http("POST", f"auth/{mount}/login/{user}", token=None, json_body={"password": password})


@pytest.mark.parametrize("spelled", ["ADMIN", "Admin", "aDmIn"])
def test_userpass_denied_user_is_denied_in_every_spelling(server, userpass, spelled):
    """A helpdesk policy on `users/*` that denies `users/admin` (and `users/admin/*`)
    cannot read, overwrite or delete admin as users/ADMIN (OpenBao: 403), nor change
    admin's password or policies through users/ADMIN/password|policies: Coffer answers
    403 there too; OpenBao answers 204 but writes a stray `ADMIN` record that login never
    reads. Either way admin's password and policies are unchanged."""
    base = f"auth/{userpass}/users"
    assert_status(server.http("POST", f"{base}/admin", json_body={"password": "admin-pw", "token_policies": "default"}), 204)
    helpdesk = unique("helpdesk")
    write_policy(server, helpdesk, f'''
path "{base}/*" {{ capabilities = ["create", "read", "update", "delete", "list"] }}
path "{base}/admin" {{ capabilities = ["deny"] }}
path "{base}/admin/*" {{ capabilities = ["deny"] }}
''')
    tok = create_token(server, [helpdesk])["client_token"]
    for method, body in [("GET", None), ("POST", {"password": "owned", "token_policies": "root-ish"}), ("DELETE", None)]:
        r = server.http(method, f"{base}/{spelled}", token=tok, json_body=body)
        assert_status(r, 403)
        assert errors_of(r) == [PERMISSION_DENIED]
    pw = server.http("POST", f"{base}/{spelled}/password", token=tok, json_body={"password": "owned"})
    pol = server.http("POST", f"{base}/{spelled}/policies", token=tok, json_body={"token_policies": "root-ish"})
    if server.kind == "coffer":
        assert_status(pw, 403)
        assert_status(pol, 403)
        keys = assert_status(server.http("LIST", base), 200).json()["data"]["keys"]
        assert keys == ["admin"]
    else:
        assert_status(pw, 204, 403)
        assert_status(pol, 204, 403)
    assert_status(_login(server, userpass, "admin", "admin-pw"), 200)
    assert_status(_login(server, userpass, "admin", "owned"), 400)
    r = assert_status(server.http("GET", f"{base}/admin"), 200)
    assert r.json()["data"]["token_policies"] == ["default"]
    # The helpdesk still manages other users.
    assert_status(server.http("POST", f"{base}/carol", token=tok, json_body={"password": "c"}), 204)


def test_userpass_grant_on_a_user_covers_every_spelling(server, userpass):
    """A grant on exactly `users/alice` allows users/ALICE (same user; OpenBao: 200), and
    a grant written as `users/BOB` matches no request, since the ACL sees `users/bob`."""
    base = f"auth/{userpass}/users"
    for user in ["alice", "bob"]:
        assert_status(server.http("POST", f"{base}/{user}", json_body={"password": "pw"}), 204)
    grant = unique("grant")
    write_policy(server, grant, f'''
path "{base}/alice" {{ capabilities = ["read", "update"] }}
path "{base}/BOB" {{ capabilities = ["read", "update"] }}
''')
    tok = create_token(server, [grant])["client_token"]
    for spelled in ["alice", "ALICE", "Alice"]:
        assert_status(server.http("GET", f"{base}/{spelled}", token=tok), 200)
    assert_status(server.http("POST", f"{base}/ALICE", token=tok, json_body={"password": "new"}), 204)
    assert_status(_login(server, userpass, "alice", "new"), 200)
    assert_status(_login(server, userpass, "ALICE", "new"), 200)
    for spelled in ["BOB", "bob"]:
        assert_status(server.http("GET", f"{base}/{spelled}", token=tok), 403)
