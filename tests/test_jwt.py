"""The JWT/OIDC auth method (vault-api.md §5): config, roles, and `login` with JWTs minted
here with real keys (RSA, EC P-256, Ed25519), served from a JWKS and an OIDC discovery
document on loopback HTTP(S) servers this module starts. Tokens are shaped like GitHub
Actions and Kubernetes service-account tokens. Every test runs against Coffer and OpenBao
(the `server` fixture), except the rate-limit test, which pins a Coffer bound."""

import base64
import hashlib
import hmac
import http.server
import json
import os
import socket
import ssl
import subprocess
import threading
import time
import uuid

import jwt as pyjwt
import pytest
import requests
from requests.adapters import HTTPAdapter
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

from conftest import assert_status, errors_of, unique

GH_ISS = "https://token.actions.githubusercontent.com"
GH_AUD = "https://github.com/octo-org"
# GitHub's numeric `repository_id` claims (docs/auth.md's example uses octo-repo's).
GH_REPO_IDS = {"octo-org/octo-repo": "1296269", "octo-org/other-repo": "1300192"}


# ------------------------------------------------------------------------------ keys

class Key:
    def __init__(self, kind: str, kid: str | None = None):
        self.kind = kind
        self.kid = kid or f"{kind}-{uuid.uuid4().hex[:8]}"
        if kind == "rsa":
            self.private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
            self.alg = "RS256"
            self.jwk = json.loads(pyjwt.algorithms.RSAAlgorithm.to_jwk(self.private.public_key()))
        elif kind == "ec":
            self.private = ec.generate_private_key(ec.SECP256R1())
            self.alg = "ES256"
            self.jwk = json.loads(pyjwt.algorithms.ECAlgorithm.to_jwk(self.private.public_key()))
        else:
            self.private = ed25519.Ed25519PrivateKey.generate()
            self.alg = "EdDSA"
            self.jwk = json.loads(pyjwt.algorithms.OKPAlgorithm.to_jwk(self.private.public_key()))
        self.jwk.update({"kid": self.kid, "use": "sig"})
        self.public_pem = self.private.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode()

    def sign(self, claims: dict, alg: str | None = None, kid: str | None | bool = True) -> str:
        headers = {}
        if kid is True:
            headers["kid"] = self.kid
        elif kid:
            headers["kid"] = kid
        return pyjwt.encode(claims, self.private, algorithm=alg or self.alg, headers=headers)


def b64(b: bytes) -> str:
    return base64.urlsafe_b64encode(b).rstrip(b"=").decode()


def unsigned(claims: dict) -> str:
    """`alg: none`."""
    return f"{b64(json.dumps({'alg': 'none', 'typ': 'JWT'}).encode())}.{b64(json.dumps(claims).encode())}."


def hs256_with(secret: bytes, claims: dict, kid: str | None = None) -> str:
    """HS256 signed with `secret` (the classic attack: the server's public key as the HMAC key)."""
    h = {"alg": "HS256", "typ": "JWT"}
    if kid:
        h["kid"] = kid
    msg = f"{b64(json.dumps(h).encode())}.{b64(json.dumps(claims).encode())}"
    return f"{msg}.{b64(hmac.new(secret, msg.encode(), hashlib.sha256).digest())}"


def gh_claims(repo="octo-org/octo-repo", ref="refs/heads/main", env="prod", **over) -> dict:
    now = int(time.time())
    c = {
        "iss": GH_ISS, "aud": GH_AUD, "sub": f"repo:{repo}:ref:{ref}",
        "iat": now, "nbf": now - 5, "exp": now + 300, "jti": uuid.uuid4().hex,
        "repository": repo, "repository_id": GH_REPO_IDS.get(repo, "99"),
        "repository_owner": repo.split("/")[0], "ref": ref, "ref_type": "branch",
        "environment": env, "job_workflow_ref": f"{repo}/.github/workflows/deploy.yml@{ref}",
        "workflow": "deploy", "event_name": "push", "actor": "octocat", "run_id": "42",
        "runner_environment": "github-hosted",
    }
    c.update(over)
    return c


def k8s_claims(ns="prefect", sa="prefect-worker", iss="https://kubernetes.default.svc.cluster.local", **over) -> dict:
    now = int(time.time())
    c = {
        "iss": iss, "aud": ["https://kubernetes.default.svc.cluster.local"],
        "sub": f"system:serviceaccount:{ns}:{sa}", "iat": now, "nbf": now, "exp": now + 600,
        "kubernetes.io": {"namespace": ns, "serviceaccount": {"name": sa, "uid": str(uuid.uuid4())},
                          "pod": {"name": f"{sa}-7d9f", "uid": str(uuid.uuid4())}},
    }
    c.update(over)
    return c


# ------------------------------------------------------------------ JWKS / discovery

class Issuer:
    """A loopback HTTP(S) server serving a JWKS at /jwks and an OIDC discovery document at
    /.well-known/openid-configuration (issuer = its own base URL). Counts JWKS requests."""

    def __init__(self, tls: "TlsFiles | None" = None):
        self.keys: list[Key] = []
        self.raw_jwks: list[dict] = []  # extra JWKs served as they are (e.g. an `oct` key)
        self.padding = 0  # bytes of filler added to the JWKS document
        self.jwks_hits = 0
        issuer = self

        class H(http.server.BaseHTTPRequestHandler):
            def log_message(self, *a):
                pass

            def do_GET(self):
                if self.path == "/jwks":
                    issuer.jwks_hits += 1
                    body = {"keys": [k.jwk for k in issuer.keys] + issuer.raw_jwks}
                    if issuer.padding:
                        body["filler"] = "x" * issuer.padding
                elif self.path == "/.well-known/openid-configuration":
                    body = {"issuer": issuer.url, "jwks_uri": issuer.url + "/jwks",
                            "authorization_endpoint": issuer.url + "/auth", "token_endpoint": issuer.url + "/token",
                            "id_token_signing_alg_values_supported": ["RS256", "ES256", "EdDSA"],
                            "response_types_supported": ["code"], "subject_types_supported": ["public"]}
                else:
                    self.send_response(404)
                    self.end_headers()
                    return
                data = json.dumps(body).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), H)
        self.httpd.daemon_threads = True
        scheme = "http"
        if tls:
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            ctx.load_cert_chain(tls.cert, tls.key)
            self.httpd.socket = ctx.wrap_socket(self.httpd.socket, server_side=True)
            scheme = "https"
        self.url = f"{scheme}://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


class TlsFiles:
    """A CA made with `openssl` and a server certificate for 127.0.0.1 signed by it."""

    def __init__(self, d):
        self.dir = d
        run = lambda *a: subprocess.run(a, cwd=d, check=True, capture_output=True, timeout=60)
        run("openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
            "-keyout", "ca.key", "-out", "ca.pem", "-days", "2", "-subj", "/CN=coffer-test-ca")
        run("openssl", "req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
            "-keyout", "srv.key", "-out", "srv.csr", "-subj", "/CN=127.0.0.1")
        with open(os.path.join(d, "ext.cnf"), "w") as f:
            f.write("subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n")
        run("openssl", "x509", "-req", "-in", "srv.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial",
            "-out", "srv.pem", "-days", "2", "-extfile", "ext.cnf")
        self.cert = os.path.join(d, "srv.pem")
        self.key = os.path.join(d, "srv.key")
        self.ca_pem = open(os.path.join(d, "ca.pem")).read()


@pytest.fixture(scope="module")
def issuer():
    i = Issuer()
    yield i
    i.close()


@pytest.fixture(scope="module")
def tls_issuer(tmp_path_factory):
    tls = TlsFiles(str(tmp_path_factory.mktemp("jwt-tls")))
    i = Issuer(tls)
    i.tls = tls
    yield i
    i.close()


# --------------------------------------------------------------------------- helpers

def mount(srv, kind="jwt") -> str:
    m = unique("jwt")
    assert_status(srv.http("POST", f"sys/auth/{m}", json_body={"type": kind}), 204)
    return m


def configure(srv, m, **cfg):
    return assert_status(srv.http("POST", f"auth/{m}/config", json_body=cfg), 204)


def write_role(srv, m, name, **body):
    return assert_status(srv.http("POST", f"auth/{m}/role/{name}", json_body=body), 204, 200)


def login(srv, m, token, role=None, session=None):
    body = {"jwt": token}
    if role is not None:
        body["role"] = role
    url = f"{srv.addr}/v1/auth/{m}/login"
    return (session or srv.session).post(url, json=body, timeout=30)


def accessor_count(srv) -> int:
    r = srv.http("LIST", "auth/token/accessors")
    return len(r.json()["data"]["keys"]) if r.status_code == 200 else 0


def gh_role(srv, m, name="deploy", **over):
    body = {
        "role_type": "jwt", "user_claim": "repository", "bound_audiences": [GH_AUD],
        "bound_claims_type": "glob",
        "bound_claims": {"repository": "octo-org/octo-repo", "ref": "refs/heads/main", "environment": ["prod", "staging"],
                         "sub": "repo:octo-org/*:ref:refs/heads/*"},
        "claim_mappings": {"repository": "repository", "ref": "ref", "environment": "environment",
                           "job_workflow_ref": "job_workflow_ref"},
        "token_policies": ["deployer"], "token_ttl": "10m",
    }
    body.update(over)
    write_role(srv, m, name, **body)


# ------------------------------------------------------------------------------ config

def test_config_read_shape_and_secret_never_returned(server):
    """Read returns every field (lists as [], status "valid"), never oidc_client_secret."""
    m = mount(server)
    k = Key("rsa")
    configure(server, m, jwt_validation_pubkeys=[k.public_pem], bound_issuer="iss1", default_role="r")
    d = assert_status(server.http("GET", f"auth/{m}/config"), 200).json()["data"]
    assert d == {
        "bound_issuer": "iss1", "default_role": "r", "jwks_ca_pem": "", "jwks_url": "", "jwt_supported_algs": [],
        "jwt_validation_pubkeys": [k.public_pem.strip()],
        "namespace_in_state": True, "oidc_client_id": "", "oidc_discovery_ca_pem": "", "oidc_discovery_url": "",
        "oidc_response_mode": "", "oidc_response_types": [], "override_allowed_server_names": [],
        "provider_config": {}, "status": "valid",
    }
    # A client id and secret need a discovery URL; with one, the secret is stored, never read back.
    r = server.http("POST", f"auth/{m}/config", json_body={"jwt_validation_pubkeys": [k.public_pem],
                                                            "oidc_client_id": "cid", "oidc_client_secret": "s"})
    assert errors_of(assert_status(r, 400)) == ["'oidc_discovery_url' must be set for OIDC"]


def test_client_secret_never_returned(server, issuer):
    issuer.keys.append(Key("rsa"))
    m = mount(server)
    configure(server, m, oidc_discovery_url=issuer.url, oidc_client_id="cid", oidc_client_secret="Needle-Client-Secret-1")
    r = assert_status(server.http("GET", f"auth/{m}/config"), 200)
    assert r.json()["data"]["oidc_client_id"] == "cid" and "oidc_client_secret" not in r.json()["data"]
    assert "Needle-Client-Secret-1" not in r.text


@pytest.mark.parametrize("body,error", [
    ({}, "exactly one of 'jwt_validation_pubkeys', 'jwks_url', 'jwks_pairs', 'oidc_discovery_url', or 'provider_config' must be set"),
    ({"jwks_url": "http://127.0.0.1:1/jwks", "oidc_discovery_url": "http://127.0.0.1:1"},
     "exactly one of 'jwt_validation_pubkeys', 'jwks_url', 'jwks_pairs', 'oidc_discovery_url', or 'provider_config' must be set"),
    ({"jwt_validation_pubkeys": ["PEM"], "oidc_client_secret": "s"}, "both 'oidc_client_id' and 'oidc_client_secret' must be set for OIDC"),
])
def test_config_errors_are_exact_and_store_nothing(server, body, error):
    m = mount(server)
    r = assert_status(server.http("POST", f"auth/{m}/config", json_body=body), 400)
    assert errors_of(r) == [error]
    assert server.http("GET", f"auth/{m}/config").status_code == 404


def test_config_checks_the_keys_at_write(server, issuer):
    """A bad PEM, an unreachable JWKS URL, an HTTP error: 400, and the old config stays."""
    m = mount(server)
    k = Key("rsa")
    issuer.keys.append(k)
    configure(server, m, jwks_url=issuer.url + "/jwks", bound_issuer="first")
    for bad in ({"jwt_validation_pubkeys": ["not a pem"]},
                {"jwks_url": "http://127.0.0.1:9/jwks"},
                {"jwks_url": issuer.url + "/missing"}):
        r = assert_status(server.http("POST", f"auth/{m}/config", json_body=bad), 400)
        assert errors_of(r), r.text
    d = server.http("GET", f"auth/{m}/config").json()["data"]
    assert (d["jwks_url"], d["bound_issuer"]) == (issuer.url + "/jwks", "first")


def test_tls_issuer_needs_its_ca(server, tls_issuer):
    """jwks_url / oidc_discovery_url over TLS: refused without the CA PEM, accepted with it."""
    tls_issuer.keys.append(Key("ec"))
    m = mount(server)
    assert_status(server.http("POST", f"auth/{m}/config", json_body={"jwks_url": tls_issuer.url + "/jwks"}), 400)
    assert_status(server.http("POST", f"auth/{m}/config", json_body={"oidc_discovery_url": tls_issuer.url}), 400)
    configure(server, m, jwks_url=tls_issuer.url + "/jwks", jwks_ca_pem=tls_issuer.tls.ca_pem)
    configure(server, m, oidc_discovery_url=tls_issuer.url, oidc_discovery_ca_pem=tls_issuer.tls.ca_pem)
    assert server.http("GET", f"auth/{m}/config").json()["data"]["oidc_discovery_ca_pem"] == tls_issuer.tls.ca_pem


# ------------------------------------------------------------------------------- roles

ROLE_DEFAULTS = {
    "allowed_redirect_uris": None, "bound_audiences": None, "bound_claims": None, "bound_claims_type": "string",
    "bound_subject": "", "callback_mode": "client", "claim_mappings": None, "clock_skew_leeway": 0,
    "expiration_leeway": 0, "groups_claim": "", "max_age": 0, "not_before_leeway": 0, "oauth2_metadata": None,
    "oidc_disable_confirmation": False, "oidc_scopes": None, "role_type": "jwt", "token_bound_cidrs": [],
    "token_explicit_max_ttl": 0, "token_max_ttl": 0, "token_no_default_policy": False, "token_num_uses": 0,
    "token_period": 0, "token_policies": [], "token_policies_template_claims": False,
    "token_strictly_bind_ip": False, "token_ttl": 0, "token_type": "default", "user_claim": "sub",
    "user_claim_json_pointer": False, "verbose_oidc_logging": False,
}


def test_role_read_shape_partial_merge_and_list(server):
    m = mount(server)
    write_role(server, m, "r1", role_type="jwt", user_claim="sub", bound_audiences="a1")
    d = assert_status(server.http("GET", f"auth/{m}/role/r1"), 200).json()["data"]
    assert d == {**ROLE_DEFAULTS, "bound_audiences": ["a1"]}
    # A partial write keeps what it does not name (Vault merges) - except role_type, which
    # falls back to "oidc" when omitted (so this write needs redirect URIs and is refused).
    r = server.http("POST", f"auth/{m}/role/r1", json_body={"bound_subject": "s"})
    assert errors_of(assert_status(r, 400)) == ["'allowed_redirect_uris' must be set if 'role_type' is 'oidc' or unspecified."]
    assert server.http("GET", f"auth/{m}/role/r1").json()["data"]["bound_subject"] == ""
    write_role(server, m, "r1", role_type="jwt", bound_subject="s", token_ttl="1h", bound_claims={"/kubernetes.io/namespace": ["a", "b"]},
               claim_mappings={"/kubernetes.io/serviceaccount/name": "sa"}, expiration_leeway=-1, clock_skew_leeway="30s")
    d = server.http("GET", f"auth/{m}/role/r1").json()["data"]
    assert d == {**ROLE_DEFAULTS, "bound_audiences": ["a1"], "bound_subject": "s", "token_ttl": 3600,
                 "bound_claims": {"/kubernetes.io/namespace": ["a", "b"]},
                 "claim_mappings": {"/kubernetes.io/serviceaccount/name": "sa"},
                 "expiration_leeway": -1, "clock_skew_leeway": 30}
    write_role(server, m, "r2", user_claim="sub", allowed_redirect_uris=["http://localhost:8250/oidc/callback"])
    assert server.http("GET", f"auth/{m}/role/r2").json()["data"]["role_type"] == "oidc"
    assert sorted(server.http("LIST", f"auth/{m}/role").json()["data"]["keys"]) == ["r1", "r2"]
    assert_status(server.http("DELETE", f"auth/{m}/role/r2"), 204)
    assert server.http("GET", f"auth/{m}/role/r2").status_code == 404


@pytest.mark.parametrize("body,error", [
    ({"role_type": "jwt", "user_claim": "sub"}, "must have at least one bound constraint when creating/updating a role"),
    ({"role_type": "x", "user_claim": "sub"}, "invalid 'role_type': x"),
    ({"role_type": "jwt", "user_claim": "sub", "bound_subject": "s", "claim_mappings": {"a": "role"}},
     "metadata key \"role\" is reserved and may not be a mapping destination"),
    ({"role_type": "jwt", "user_claim": "sub", "bound_claims_type": "glob", "bound_claims": {"a": 1}}, "claim is not a string: 1"),
])
def test_role_errors_store_nothing(server, body, error):
    m = mount(server)
    r = assert_status(server.http("POST", f"auth/{m}/role/bad", json_body=body), 400)
    assert errors_of(r) == [error]
    assert server.http("GET", f"auth/{m}/role/bad").status_code == 404


# ------------------------------------------------------------------------------- login

def test_github_actions_login(server, issuer):
    """A GitHub Actions-shaped token through a JWKS: alias name = repository, metadata from
    claim_mappings plus role, the role's policies and TTL, an orphan renewable token."""
    k = Key("rsa")
    issuer.keys.append(k)
    m = mount(server)
    configure(server, m, jwks_url=issuer.url + "/jwks", bound_issuer=GH_ISS)
    gh_role(server, m)
    r = assert_status(login(server, m, k.sign(gh_claims()), "deploy"), 200)
    auth = r.json()["auth"]
    assert auth["metadata"] == {"role": "deploy", "repository": "octo-org/octo-repo", "ref": "refs/heads/main",
                                "environment": "prod",
                                "job_workflow_ref": "octo-org/octo-repo/.github/workflows/deploy.yml@refs/heads/main"}
    assert sorted(auth["policies"]) == ["default", "deployer"]
    assert auth["lease_duration"] == 600 and auth["renewable"] is True and auth["orphan"] is True
    me = server.http("GET", "auth/token/lookup-self", token=auth["client_token"]).json()["data"]
    assert me["display_name"] == f"{m}-octo-org/octo-repo"
    assert me["meta"] == auth["metadata"]
    # The glob and the list in bound_claims: another branch of the right repo is refused by `ref`.
    r = assert_status(login(server, m, k.sign(gh_claims(ref="refs/heads/dev")), "deploy"), 400)
    assert errors_of(r) == ['error validating claims: claim "ref" does not match any associated bound claim values']
    # hvac's client.auth.jwt.jwt_login against the same mount.
    out = server.client(token="").auth.jwt.jwt_login(role="deploy", jwt=k.sign(gh_claims(env="staging")), path=m)
    assert out["auth"]["metadata"]["environment"] == "staging"


def _docs_github_example() -> dict:
    """The GitHub Actions example of docs/auth.md, read from the page itself so the page and
    this test cannot drift apart: the role JSON, the templated policy, the workflow's
    `path`, `role`, `jwtGithubAudience` and `secrets` lines."""
    text = open(os.path.join(os.path.dirname(__file__), "..", "docs", "auth.md")).read()
    section = text.split("## GitHub Actions with `hashicorp/vault-action`", 1)[1].split("\n## ", 1)[0]
    role = json.loads(section.split("<<'JSON'\n", 1)[1].split("\nJSON\n", 1)[0])
    policy = section.split("<<POLICY\n", 1)[1].split("\nPOLICY\n", 1)[0]
    def action_input(name):
        return section.split(f"          {name}: ", 1)[1].split("\n", 1)[0].strip()
    secrets = [ln.strip() for ln in section.split("secrets: |\n", 1)[1].split("```", 1)[0].splitlines() if ln.strip()]
    return {"role": role, "policy": policy, "path": action_input("path"), "role_name": action_input("role"),
            "audience": action_input("jwtGithubAudience"), "secrets": secrets}


def test_github_actions_docs_example_end_to_end(server, issuer):
    """docs/auth.md's GitHub Actions example, run as hashicorp/vault-action runs it (the action
    itself is neither on a registry nor reachable here, so its two requests are made by hand,
    exactly as its source makes them: POST v1/auth/<path>/login {jwt, role}, then GET each
    secret path with X-Vault-Token and pick the key out of `data.data`). GitHub's discovery
    URL is replaced by a local JWKS; everything else is the page's text. The templated policy
    gives octo-repo its own secret, and a token of another repository cannot read it."""
    ex = _docs_github_example()
    k = Key("rsa")
    issuer.keys.append(k)
    m = ex["path"]
    assert_status(server.http("POST", f"sys/auth/{m}", json_body={"type": "jwt"}), 204)
    try:
        configure(server, m, jwks_url=issuer.url + "/jwks", bound_issuer=GH_ISS)
        write_role(server, m, ex["role_name"], **ex["role"])
        accessor = server.http("GET", "sys/auth").json()["data"][f"{m}/"]["accessor"]
        assert_status(server.http("PUT", "sys/policies/acl/ci-per-repo",
                                  json_body={"policy": ex["policy"].replace("$ACCESSOR", accessor)}), 204)
        (path, rest), = [s.split(" ", 1) for s in ex["secrets"]]
        key, env_name = [p.strip() for p in rest.split("|")]
        assert env_name == "DEPLOY_TOKEN"
        kv_path = path.replace("/data/", "/", 1)  # the kv-v2 API path of the secret
        assert_status(server.http("POST", path, json_body={"data": {key: "s3cr3t-deploy"}}), 200)
        assert GH_REPO_IDS["octo-org/octo-repo"] in path
        other_path = path.replace(GH_REPO_IDS["octo-org/octo-repo"], GH_REPO_IDS["octo-org/other-repo"])
        assert_status(server.http("POST", other_path, json_body={"data": {key: "other"}}), 200)
        assert kv_path.startswith("secret/ci/")

        def vault_action(claims):
            s = requests.Session()
            r = s.post(f"{server.addr}/v1/auth/{m}/login", json={"jwt": k.sign(claims), "role": ex["role_name"]})
            if r.status_code != 200:
                return r, None
            token = r.json()["auth"]["client_token"]
            return r, lambda p: s.get(f"{server.addr}/v1/{p}", headers={"X-Vault-Token": token})

        r, get = vault_action(gh_claims(aud=ex["audience"]))
        assert_status(r, 200)
        assert r.json()["auth"]["metadata"]["repository"] == "octo-org/octo-repo"
        assert assert_status(get(path), 200).json()["data"]["data"][key] == "s3cr3t-deploy"
        assert_status(get(other_path), 403)
        # A job of another repository of the organisation is refused at login by bound_claims.
        r, _ = vault_action(gh_claims(repo="octo-org/other-repo", aud=ex["audience"]))
        assert_status(r, 400)
        # vault-action's default audience (`sigstore`) does not match the role's.
        r, _ = vault_action(gh_claims(aud="sigstore"))
        assert_status(r, 400)
    finally:
        server.http("DELETE", f"sys/auth/{m}")


def test_kubernetes_service_account_via_discovery_over_tls(server, tls_issuer):
    """An ES256 Kubernetes service-account token; keys via OIDC discovery over TLS (CA PEM);
    bound through a JSON pointer into the nested `kubernetes.io` claim."""
    k = Key("ec")
    tls_issuer.keys.append(k)
    m = mount(server)
    configure(server, m, oidc_discovery_url=tls_issuer.url, oidc_discovery_ca_pem=tls_issuer.tls.ca_pem,
              jwt_supported_algs=["ES256"])
    write_role(server, m, "prefect", role_type="jwt", user_claim="sub",
               bound_audiences=["https://kubernetes.default.svc.cluster.local"],
               bound_claims={"/kubernetes.io/namespace": "prefect"},
               claim_mappings={"/kubernetes.io/serviceaccount/name": "service_account", "/kubernetes.io/namespace": "namespace"},
               token_policies=["prefect-worker"])
    r = assert_status(login(server, m, k.sign(k8s_claims(iss=tls_issuer.url)), "prefect"), 200)
    assert r.json()["auth"]["metadata"] == {"role": "prefect", "service_account": "prefect-worker", "namespace": "prefect"}
    r = assert_status(login(server, m, k.sign(k8s_claims(ns="default", iss=tls_issuer.url)), "prefect"), 400)
    assert errors_of(r) == ['error validating claims: claim "/kubernetes.io/namespace" does not match any associated bound claim values']
    # With bound_issuer set, a token from another issuer is refused.
    configure(server, m, oidc_discovery_url=tls_issuer.url, oidc_discovery_ca_pem=tls_issuer.tls.ca_pem,
              jwt_supported_algs=["ES256"], bound_issuer=tls_issuer.url)
    assert_status(login(server, m, k.sign(k8s_claims(iss=tls_issuer.url)), "prefect"), 200)
    r = assert_status(login(server, m, k.sign(k8s_claims(iss="https://other.example")), "prefect"), 400)
    assert errors_of(r)[0].startswith("error validating token:"), r.text


@pytest.mark.parametrize("kind,alg", [("rsa", "RS256"), ("rsa", "RS512"), ("rsa", "PS256"), ("rsa", "PS384"),
                                      ("ec", "ES256"), ("ed", "EdDSA")])
def test_static_pubkeys_every_algorithm(server, kind, alg):
    k = Key(kind)
    m = mount(server)
    configure(server, m, jwt_validation_pubkeys=[k.public_pem])
    write_role(server, m, "r", role_type="jwt", user_claim="sub", bound_subject="machine-1", token_policies="p")
    now = int(time.time())
    r = assert_status(login(server, m, k.sign({"sub": "machine-1", "exp": now + 60}, alg=alg, kid=False), "r"), 200)
    assert r.json()["auth"]["metadata"] == {"role": "r"}


def test_jwks_rotation_is_picked_up_without_a_config_change(server, issuer):
    old = Key("rsa")
    issuer.keys.append(old)
    m = mount(server)
    configure(server, m, jwks_url=issuer.url + "/jwks")
    write_role(server, m, "r", role_type="jwt", user_claim="sub", bound_subject="svc")
    claims = {"sub": "svc", "exp": int(time.time()) + 120}
    assert_status(login(server, m, old.sign(claims), "r"), 200)
    new = Key("ec")
    issuer.keys[:] = [k for k in issuer.keys if k is not old] + [new]
    time.sleep(5.5)  # Coffer refetches at most once per 5 s per mount (docs/auth.md)
    assert_status(login(server, m, new.sign(claims), "r"), 200)
    # The retired key no longer verifies once the JWKS dropped it.
    r = assert_status(login(server, m, old.sign(claims), "r"), 400)
    assert errors_of(r)[0].startswith("error validating token:"), r.text


def test_unknown_kid_flood_refetches_at_most_once(coffer, issuer):
    """Coffer's bound (not Vault's): 40 concurrent tokens with made-up kids cost the issuer at
    most one JWKS fetch, and nothing is issued."""
    k = Key("rsa")
    issuer.keys.append(k)
    m = mount(coffer)
    configure(coffer, m, jwks_url=issuer.url + "/jwks")
    write_role(coffer, m, "r", role_type="jwt", user_claim="sub", bound_subject="svc")
    time.sleep(5.5)
    before_hits, before_tokens = issuer.jwks_hits, accessor_count(coffer)
    claims = {"sub": "svc", "exp": int(time.time()) + 120}
    results = []

    def one(i):
        with requests.Session() as s:
            results.append(login(coffer, m, k.sign(claims, kid=f"bogus-{i}"), "r", session=s).status_code)

    threads = [threading.Thread(target=one, args=(i,)) for i in range(40)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert results == [400] * 40
    assert issuer.jwks_hits - before_hits <= 1, issuer.jwks_hits - before_hits
    assert accessor_count(coffer) == before_tokens


# --------------------------------------------------------------------------- refusals

def _refusal_cases(k: Key, other: Key):
    """name -> (token, the error text or the part of it both servers give)."""
    now = int(time.time())
    sig = "error validating token: error verifying token signature: "
    return {
        "expired": (k.sign(gh_claims(exp=now - 3600, iat=now - 4000, nbf=now - 4000)),
                    "error validating token: invalid expiration time (exp) claim: token is expired"),
        "not_yet_valid": (k.sign(gh_claims(nbf=now + 3600, iat=now)),
                          "error validating token: invalid not before (nbf) claim: token not yet valid"),
        "wrong_audience": (k.sign(gh_claims(aud="https://github.com/evil-org")),
                           "error validating token: invalid audience (aud) claim: audience claim does not match any expected audience"),
        "wrong_issuer": (k.sign(gh_claims(iss="https://evil.example")), "error validating token: invalid issuer (iss) claim"),
        "bound_claim_mismatch": (k.sign(gh_claims(repo="octo-org/other", sub="repo:octo-org/other:ref:refs/heads/main")),
                                 'error validating claims: claim "repository" does not match any associated bound claim values'),
        "alg_none": (unsigned(gh_claims()), 'unexpected signature algorithm "none"; expected ["RS256" "RS384" "RS512" '),
        "hs256_with_public_key": (hs256_with(k.public_pem.encode(), gh_claims(), kid=k.kid),
                                  'unexpected signature algorithm "HS256"; expected ["RS256" "RS384" "RS512" '),
        "unknown_key": (other.sign(gh_claims()), sig),
        "garbage": ("a.b.c", sig),
    }


REFUSALS = ["expired", "not_yet_valid", "wrong_audience", "wrong_issuer", "bound_claim_mismatch", "alg_none",
            "hs256_with_public_key", "unknown_key", "garbage"]


@pytest.fixture(scope="module")
def refusal_mounts():
    return {}


@pytest.mark.parametrize("case", REFUSALS)
def test_refused_with_nothing_issued(server, issuer, refusal_mounts, case):
    key = id(server)
    if key not in refusal_mounts:
        k, other = Key("rsa"), Key("rsa")
        issuer.keys.append(k)
        m = mount(server)
        configure(server, m, jwks_url=issuer.url + "/jwks", bound_issuer=GH_ISS)
        gh_role(server, m)
        refusal_mounts[key] = (m, k, other)
    m, k, other = refusal_mounts[key]
    token, text = _refusal_cases(k, other)[case]
    before = accessor_count(server)
    r = assert_status(login(server, m, token, "deploy"), 400)
    err = errors_of(r)
    assert len(err) == 1 and (err[0] == text if not text.endswith(" ") else text in err[0]), err
    assert "auth" not in r.json() or r.json().get("auth") is None
    assert accessor_count(server) == before


def test_outside_token_bound_cidrs_is_403_before_the_token_is_looked_at(server, issuer):
    k = Key("rsa")
    issuer.keys.append(k)
    m = mount(server)
    configure(server, m, jwks_url=issuer.url + "/jwks")
    gh_role(server, m, token_bound_cidrs=["10.0.0.0/8"])
    before = accessor_count(server)
    r = assert_status(login(server, m, k.sign(gh_claims()), "deploy"), 403)
    assert errors_of(r) == ["permission denied"]
    # Even a garbage token: the address is checked first.
    assert_status(login(server, m, "a.b.c", "deploy"), 403)
    assert accessor_count(server) == before
    gh_role(server, m, token_bound_cidrs=["127.0.0.1/32"])
    auth = assert_status(login(server, m, k.sign(gh_claims()), "deploy"), 200).json()["auth"]
    assert auth["client_token"]


def test_login_request_errors(server):
    m = mount(server)
    assert errors_of(assert_status(login(server, m, "x", "r"), 400)) == ["could not load configuration"]
    configure(server, m, jwt_validation_pubkeys=[Key("ec").public_pem])
    write_role(server, m, "o", user_claim="sub", allowed_redirect_uris=["http://localhost:8250/oidc/callback"])
    write_role(server, m, "j", role_type="jwt", user_claim="sub", bound_subject="x")
    r = server.session.post(f"{server.addr}/v1/auth/{m}/login", json={"role": "o"}, timeout=30)
    assert errors_of(assert_status(r, 400)) == ["role with oidc role_type is not allowed"]
    r = server.session.post(f"{server.addr}/v1/auth/{m}/login", json={"role": "j"}, timeout=30)
    assert errors_of(assert_status(r, 400)) == ["missing token"]
    assert errors_of(assert_status(login(server, m, "a.b.c"), 400)) == ["missing role"]
    assert errors_of(assert_status(login(server, m, "a.b.c", "nope"), 400)) == ['role "nope" could not be found']
    assert errors_of(assert_status(login(server, m, "a.b.c", "o"), 400)) == ["role with oidc role_type is not allowed"]


def test_default_role_groups_and_user_claim_pointer(server):
    k = Key("ed")
    m = mount(server)
    configure(server, m, jwt_validation_pubkeys=[k.public_pem], default_role="dflt")
    write_role(server, m, "dflt", role_type="jwt", user_claim="/user/name", user_claim_json_pointer=True,
               bound_audiences=["aud1"], groups_claim="groups")
    now = int(time.time())
    token = k.sign({"aud": "aud1", "exp": now + 60, "user": {"name": "alice"}, "groups": ["ops", "dev"]}, kid=False)
    auth = assert_status(login(server, m, token), 200).json()["auth"]
    assert auth["metadata"] == {"role": "dflt"}
    me = server.http("GET", "auth/token/lookup-self", token=auth["client_token"]).json()["data"]
    assert me["display_name"] == f"{m}-alice"
    r = assert_status(login(server, m, k.sign({"aud": "aud1", "exp": now + 60, "groups": []}, kid=False)), 400)
    assert errors_of(r) == ['claim "/user/name" not found in token']


def test_hvac_jwt_api(server, issuer):
    k = Key("rsa")
    issuer.keys.append(k)
    m = unique("hv")
    c = server.client()
    c.sys.enable_auth_method("jwt", path=m)
    c.auth.jwt.configure(jwks_url=issuer.url + "/jwks", bound_issuer=GH_ISS, path=m)
    assert c.auth.jwt.read_config(path=m)["data"]["jwks_url"] == issuer.url + "/jwks"
    c.auth.jwt.create_role("gh", role_type="jwt", user_claim="sub", bound_audiences=[GH_AUD],
                           allowed_redirect_uris=[], token_policies=["a"], path=m)
    assert c.auth.jwt.read_role("gh", path=m)["data"]["bound_audiences"] == [GH_AUD]
    assert c.auth.jwt.list_roles(path=m)["data"]["keys"] == ["gh"]
    out = server.client(token="").auth.jwt.jwt_login("gh", k.sign(gh_claims()), path=m)
    assert out["auth"]["client_token"] and sorted(out["auth"]["policies"]) == ["a", "default"]
    c.auth.jwt.delete_role("gh", path=m)
    assert server.http("LIST", f"auth/{m}/role").status_code == 404


def test_symmetric_jwk_is_never_a_key(server):
    """A JWKS that (wrongly) publishes an `oct` key: an HS256 token signed with that secret
    is refused; the RSA key beside it still works."""
    i = Issuer()
    try:
        k = Key("rsa")
        secret = b"shared-secret-that-must-not-verify"
        i.keys.append(k)
        i.raw_jwks.append({"kty": "oct", "kid": "hmac-1", "alg": "HS256", "k": b64(secret)})
        m = mount(server)
        configure(server, m, jwks_url=i.url + "/jwks")
        write_role(server, m, "r", role_type="jwt", user_claim="sub", bound_subject="svc")
        claims = {"sub": "svc", "exp": int(time.time()) + 60}
        r = assert_status(login(server, m, hs256_with(secret, claims, kid="hmac-1"), "r"), 400)
        assert 'unexpected signature algorithm "HS256"' in errors_of(r)[0]
        assert_status(login(server, m, k.sign(claims), "r"), 200)
    finally:
        i.close()


def test_oversized_jwks_is_refused(coffer):
    """Coffer's bound: a JWKS document over 256 KiB is not read (config write answers 400)."""
    i = Issuer()
    try:
        i.keys.append(Key("ec"))
        m = mount(coffer)
        i.padding = 300 * 1024
        r = assert_status(coffer.http("POST", f"auth/{m}/config", json_body={"jwks_url": i.url + "/jwks"}), 400)
        assert "larger than 262144 bytes" in errors_of(r)[0], r.text
        i.padding = 100 * 1024
        configure(coffer, m, jwks_url=i.url + "/jwks")
    finally:
        i.close()
