"""identity/oidc: Vault's identity tokens, against Coffer and OpenBao.

Named keys, roles, signed ID tokens for a userpass-logged-in entity (verified
with PyJWT against the JWKS the server publishes), introspection, the
unauthenticated discovery and JWKS documents, rotation, and Vault's refusals.
Response shapes are compared between the servers after masking volatile values.
"""

from __future__ import annotations

import json
import time

import jwt
import pytest
from jwt import PyJWKSet

from conftest import unique
from normalize import normalize


def issuer(server) -> str:
    return server.addr  # scheme, host and port only, as Vault requires


def configure(server) -> None:
    r = server.http("POST", "identity/oidc/config", json_body={"issuer": issuer(server)})
    assert r.status_code == 200, r.text


def entity_token(server, policy_paths=("identity/oidc/token/*",)) -> tuple[str, str]:
    """A userpass login (which gives the token an entity): (client token, entity id)."""
    mount = unique("up")
    server.http("POST", f"sys/auth/{mount}", json_body={"type": "userpass"}).raise_for_status()
    pol = unique("oidcpol")
    rules = "\n".join(f'path "{p}" {{ capabilities = ["read", "update"] }}' for p in policy_paths)
    server.http("POST", f"sys/policies/acl/{pol}", json_body={"policy": rules}).raise_for_status()
    server.http("POST", f"auth/{mount}/users/alice", json_body={"password": "pw-1234", "token_policies": pol}).raise_for_status()
    r = server.http("POST", f"auth/{mount}/login/alice", token=None, json_body={"password": "pw-1234"})
    assert r.status_code == 200, r.text
    auth = r.json()["auth"]
    assert auth["entity_id"], auth
    return auth["client_token"], auth["entity_id"]


def raw(server, method, path, token=True, body=None):
    r = server.http(method, path, token=token, json_body=body)
    return r.status_code, (r.json() if r.content else None)


def shape(body):
    """An enveloped answer without its volatile values."""
    if not isinstance(body, dict):
        return body
    body = {k: v for k, v in body.items() if k != "request_id"}
    return normalize(body)


def jwks_of(server) -> PyJWKSet:
    r = server.http("GET", "identity/oidc/.well-known/keys", token=None)
    assert r.status_code == 200, r.text
    return PyJWKSet.from_dict(r.json())


def verify(server, token: str, audience: str) -> dict:
    header = jwt.get_unverified_header(token)
    keys = {k.key_id: k for k in jwks_of(server).keys}
    assert header["kid"] in keys, (header, list(keys))
    return jwt.decode(token, keys[header["kid"]].key, algorithms=[header["alg"]], audience=audience,
                      issuer=issuer(server) + "/v1/identity/oidc")


def test_keys_roles_and_a_verified_id_token_via_hvac(server):
    """hvac's identity API end to end; the token verifies with PyJWT against the published JWKS."""
    configure(server)
    client = server.client()
    key, role = unique("key"), unique("role")
    client.secrets.identity.create_named_key(name=key)
    client.secrets.identity.create_or_update_role(name=role, key=key, ttl="30m")
    client_id = client.secrets.identity.read_role(name=role)["data"]["client_id"]
    assert len(client_id) == 26
    # the key must list the role's client id (Vault's rule)
    client.secrets.identity.create_named_key(name=key, allowed_client_ids=[client_id])
    read = client.secrets.identity.read_named_key(name=key)["data"]
    assert read == {"algorithm": "RS256", "allowed_client_ids": [client_id], "rotation_period": 86400, "verification_ttl": 86400}
    assert key in client.secrets.identity.list_named_keys()["data"]["keys"]
    assert role in client.secrets.identity.list_roles()["data"]["keys"]

    token, entity_id = entity_token(server)
    user = server.client(token)
    data = user.secrets.identity.generate_signed_id_token(name=role)["data"]
    assert data["client_id"] == client_id and data["ttl"] == 1800
    claims = verify(server, data["token"], client_id)
    assert claims["sub"] == entity_id
    assert claims["namespace"] == "root"
    assert claims["exp"] - claims["iat"] == 1800
    assert client.secrets.identity.introspect_signed_id_token(token=data["token"], client_id=client_id) == {"active": True}

    conf = client.secrets.identity.read_well_known_configurations()
    assert conf["issuer"] == issuer(server) + "/v1/identity/oidc"
    assert conf["jwks_uri"] == conf["issuer"] + "/.well-known/keys"
    assert conf["id_token_signing_alg_values_supported"] == ["RS256", "RS384", "RS512", "ES256", "ES384", "ES512", "EdDSA"]
    assert conf["response_types_supported"] == ["id_token"] and conf["subject_types_supported"] == ["public"]
    keys = client.secrets.identity.read_active_public_keys()["keys"]
    assert len(keys) == 2 and all(k["use"] == "sig" and k["alg"] == "RS256" and k["e"] == "AQAB" for k in keys)

    client.secrets.identity.delete_role(name=role)
    client.secrets.identity.delete_named_key(name=key)
    assert key not in client.secrets.identity.list_named_keys()["data"]["keys"]


@pytest.mark.parametrize("alg", ["ES256", "ES384", "EdDSA", "RS512"])
def test_every_algorithm_verifies_with_pyjwt(server, alg):
    configure(server)
    key, role = unique("key"), unique("role")
    raw(server, "POST", f"identity/oidc/key/{key}", body={"algorithm": alg, "allowed_client_ids": "*"})
    raw(server, "POST", f"identity/oidc/role/{role}", body={"key": key, "client_id": f"cid-{alg}"})
    token, entity_id = entity_token(server)
    status, body = raw(server, "GET", f"identity/oidc/token/{role}", token=token)
    assert status == 200, body
    assert jwt.get_unverified_header(body["data"]["token"])["alg"] == alg
    assert verify(server, body["data"]["token"], f"cid-{alg}")["sub"] == entity_id


def test_rotation_is_picked_up_and_the_old_key_stays_verifiable(server):
    configure(server)
    key, role = unique("key"), unique("role")
    raw(server, "POST", f"identity/oidc/key/{key}", body={"allowed_client_ids": "*"})
    raw(server, "POST", f"identity/oidc/role/{role}", body={"key": key})
    token, _ = entity_token(server)
    first = raw(server, "GET", f"identity/oidc/token/{role}", token=token)[1]["data"]
    before = {k["kid"] for k in server.http("GET", "identity/oidc/.well-known/keys", token=None).json()["keys"]}
    assert raw(server, "POST", f"identity/oidc/key/{key}/rotate", body={"verification_ttl": "1h"})[0] == 204
    after = {k["kid"] for k in server.http("GET", "identity/oidc/.well-known/keys", token=None).json()["keys"]}
    assert before < after and len(after - before) == 1, "the new next key is published, nothing dropped"
    second = raw(server, "GET", f"identity/oidc/token/{role}", token=token)[1]["data"]
    h1, h2 = jwt.get_unverified_header(first["token"]), jwt.get_unverified_header(second["token"])
    assert h1["kid"] != h2["kid"] and h2["kid"] in before, "the published next key signs after a rotation"
    for t in (first, second):
        verify(server, t["token"], t["client_id"])
        assert raw(server, "POST", "identity/oidc/introspect", body={"token": t["token"]})[1] == {"active": True}
    # rotated out with verification_ttl 0: gone from the JWKS, no longer introspects
    assert raw(server, "POST", f"identity/oidc/key/{key}/rotate", body={"verification_ttl": 0})[0] == 204
    time.sleep(1.1)
    now = {k["kid"] for k in server.http("GET", "identity/oidc/.well-known/keys", token=None).json()["keys"]}
    assert h2["kid"] not in now and h1["kid"] in now
    status, body = raw(server, "POST", "identity/oidc/introspect", body={"token": second["token"]})
    assert (status, body) == (200, {"active": False, "error": "unable to validate the token signature"})


def test_groups_and_name_from_a_role_template(server):
    configure(server)
    key, role, group = unique("key"), unique("role"), unique("grp")
    token, entity_id = entity_token(server)
    raw(server, "POST", "identity/group", body={"name": group, "member_entity_ids": [entity_id]})
    raw(server, "POST", f"identity/oidc/key/{key}", body={"allowed_client_ids": "*"})
    template = '{"groups": {{identity.entity.groups.names}}, "name": {{identity.entity.name}}, "ent": {{identity.entity.id}}}'
    assert raw(server, "POST", f"identity/oidc/role/{role}", body={"key": key, "template": template})[0] == 204
    data = raw(server, "GET", f"identity/oidc/token/{role}", token=token)[1]["data"]
    claims = verify(server, data["token"], data["client_id"])
    name = raw(server, "GET", f"identity/entity/id/{entity_id}")[1]["data"]["name"]
    assert (claims["groups"], claims["name"], claims["ent"]) == ([group], name, entity_id)


REQUESTS = [
    ("POST", "identity/oidc/config", {"issuer": ""}),  # the default: api_addr (the dev listener)
    ("GET", "identity/oidc/config", None),
    ("POST", "identity/oidc/config", {"issuer": "https://127.0.0.1:8200/path"}),
    ("POST", "identity/oidc/config", {"issuer": "https://127.0.0.1:8200"}),
    ("GET", "identity/oidc/config", None),
    ("GET", "identity/oidc/key/default", None),
    ("POST", "identity/oidc/key/{k}", {"algorithm": "HS256"}),
    ("POST", "identity/oidc/key/{k}", {"rotation_period": "30s"}),
    ("POST", "identity/oidc/key/{k}", {"rotation_period": "1m", "verification_ttl": "11m"}),
    ("GET", "identity/oidc/key/{k}", None),
    ("POST", "identity/oidc/key/{k}", {}),
    ("GET", "identity/oidc/key/{k}", None),
    ("POST", "identity/oidc/key/{k}", {"algorithm": "ES256", "allowed_client_ids": "a,b"}),
    ("GET", "identity/oidc/key/{k}", None),
    ("POST", "identity/oidc/role/{r}", {}),
    ("POST", "identity/oidc/role/{r}", {"key": "nope-key"}),
    ("POST", "identity/oidc/role/{r}", {"key": "{k}", "ttl": "25h"}),
    ("POST", "identity/oidc/role/{r}", {"key": "{k}", "template": '{"iat": 1}'}),
    ("POST", "identity/oidc/role/{r}", {"key": "{k}", "template": "{{identity.entity.nope}}"}),
    ("GET", "identity/oidc/role/{r}", None),
    ("POST", "identity/oidc/role/{r}", {"key": "{k}", "client_id": "cid", "ttl": "1h"}),
    ("GET", "identity/oidc/role/{r}", None),
    ("POST", "identity/oidc/key/{k}", {"verification_ttl": "30m"}),
    ("GET", "identity/oidc/token/{r}", None),
    ("GET", "identity/oidc/token/nope-role", None),
    ("DELETE", "identity/oidc/key/{k}", None),
    ("DELETE", "identity/oidc/key/default", None),
    ("POST", "identity/oidc/key/nope-key/rotate", None),
    ("POST", "identity/oidc/introspect", {"token": "abc"}),
    ("POST", "identity/oidc/introspect", {}),
    ("DELETE", "identity/oidc/role/{r}", None),
    ("DELETE", "identity/oidc/key/{k}", None),
    ("GET", "identity/oidc/key/{k}", None),
    ("DELETE", "identity/oidc/role/nope-role", None),
]


@pytest.fixture(scope="module")
def answers(coffer, bao):
    out = {}
    k, r = unique("dk"), unique("dr")  # the same names on both servers: they are in error texts
    for s in (coffer, bao):
        seq = []
        for method, path, body in REQUESTS:
            p = path.format(k=k, r=r)
            b = json.loads(json.dumps(body).replace("{k}", k)) if body else body
            st, js = raw(s, method, p, body=b)
            seq.append((method, path, st, shape(js)))
        out[s.kind] = seq
    return out


@pytest.mark.parametrize("i", range(len(REQUESTS)))
def test_differential_shapes_and_errors(answers, i):
    """Each request answers Coffer as OpenBao does: status, envelope, data, errors, warnings."""
    assert answers["coffer"][i] == answers["bao"][i]


def test_the_documents_need_no_token_and_the_rest_does(server):
    for path in ("identity/oidc/.well-known/openid-configuration", "identity/oidc/.well-known/keys"):
        r = server.http("GET", path, token=None)
        assert r.status_code == 200 and r.headers["Content-Type"].startswith("application/json"), r.text
        assert "request_id" not in r.json(), "a raw document, not an envelope"
    assert server.http("GET", "identity/oidc/config", token=None).status_code == 403
    assert server.http("POST", "identity/oidc/introspect", token=None, json_body={"token": "x"}).status_code == 403


def test_a_token_without_an_entity_and_a_disallowed_client_id(server):
    configure(server)
    key, role = unique("key"), unique("role")
    raw(server, "POST", f"identity/oidc/key/{key}", body={"allowed_client_ids": "other"})
    raw(server, "POST", f"identity/oidc/role/{role}", body={"key": key, "client_id": "mine"})
    token, _ = entity_token(server)
    status, body = raw(server, "GET", f"identity/oidc/token/{role}", token=token)
    assert (status, body) == (400, {"errors": [f'the key "{key}" does not list the client ID of the role "{role}" as an allowed client ID']})
    raw(server, "POST", f"identity/oidc/key/{key}", body={"allowed_client_ids": "other,mine"})
    status, body = raw(server, "GET", f"identity/oidc/token/{role}", token=token)
    assert status == 200, body
    # the root token has no entity
    status, body = raw(server, "GET", f"identity/oidc/token/{role}")
    assert (status, body) == (400, {"errors": ["no entity associated with the request's token"]})
