"""The OIDC browser flow of the jwt/oidc auth method (vault-api.md §5.4) against a real
OpenID provider: panva/node-oidc-provider (tests/oidc_provider, installed by
scripts/test.sh with `npm ci`), driven with requests as a browser would (its development
login and consent forms). `oidc/auth_url` → provider → `oidc/callback` → token, with the
entity alias from the user claim and the external group from the groups claim; the
refusals (replayed, unknown and tampered states, wrong nonce, PKCE, client_nonce,
redirect URIs); and `coffer login -method=oidc` (and `bao login -method=oidc`, the
reference CLI) with the provider redirecting the "browser" to the CLI's listener.
Parametrised over Coffer and OpenBao (the `server` fixture)."""

import html
import json
import os
import re
import secrets
import shutil
import signal
import subprocess
import time
from pathlib import Path
from urllib.parse import parse_qs, urlencode, urljoin, urlparse, urlunparse

import pytest
import requests

from conftest import assert_status, errors_of, free_port, spawn_listening, unique

ROOT = Path(__file__).resolve().parent.parent
PROVIDER_DIR = ROOT / "tests" / "oidc_provider"
NODE = shutil.which("node")
REDIRECT = "http://localhost:8250/oidc/callback"
COFFER_BIN = os.environ.get("COFFER_BIN", str(ROOT / "target" / "debug" / "coffer"))

pytestmark = pytest.mark.skipif(
    NODE is None or not (PROVIDER_DIR / "node_modules" / "oidc-provider").is_dir(),
    reason="node or tests/oidc_provider/node_modules missing (scripts/test.sh runs npm ci)")


class Provider:
    def __init__(self, issuer: str, cfg: dict, cli_ports: list[int]):
        self.issuer = issuer
        self.client_id = cfg["client_id"]
        self.client_secret = cfg["client_secret"]
        self.cli_ports = cli_ports


@pytest.fixture(scope="module")
def provider(tmp_path_factory):
    work = tmp_path_factory.mktemp("oidc-provider")
    cli_ports = [free_port() for _ in range(4)]
    cfg = {
        "client_id": "coffer-test",
        "client_secret": secrets.token_urlsafe(24),
        "redirect_uris": [REDIRECT, "http://localhost:8251/oidc/callback"]
        + [f"http://localhost:{p}/oidc/callback" for p in cli_ports],
        "groups": {"alice": ["eng", "ops"], "bob": []},
    }
    (work / "config.json").write_text(json.dumps(cfg))

    def make(port):
        return [NODE, str(PROVIDER_DIR / "provider.mjs"), str(port), str(work / "config.json")]

    proc, port = spawn_listening(make, work / "provider.log", cwd=PROVIDER_DIR)
    try:
        if port is None:
            pytest.fail("the OIDC provider did not start:\n" + (work / "provider.log").read_text()[-2000:])
        yield Provider(f"http://127.0.0.1:{port}", cfg, cli_ports)
    finally:
        try:
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(timeout=10)
        except ProcessLookupError:
            pass
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)


# ------------------------------------------------------------------------------ helpers

def setup_mount(server, provider, **role_extra) -> tuple[str, str]:
    """An oidc mount configured for the provider with a role `people`; returns
    (mount, accessor)."""
    mount = unique("oidc")
    assert_status(server.http("POST", f"sys/auth/{mount}", json_body={"type": "oidc"}), 204)
    assert_status(server.http("POST", f"auth/{mount}/config", json_body={
        "oidc_discovery_url": provider.issuer,
        "oidc_client_id": provider.client_id,
        "oidc_client_secret": provider.client_secret,
        "default_role": "people",
    }), 204, 200)
    role = {
        "user_claim": "sub",
        "groups_claim": "groups",
        "oidc_scopes": ["email", "groups"],
        "allowed_redirect_uris": [REDIRECT],
        "claim_mappings": {"email": "email"},
        "token_policies": ["default"],
        "token_ttl": "1h",
    }
    role.update(role_extra)
    assert_status(server.http("POST", f"auth/{mount}/role/people", json_body=role), 204, 200)
    accessor = server.http("GET", "sys/auth").json()["data"][f"{mount}/"]["accessor"]
    return mount, accessor


def auth_url(server, mount, redirect=REDIRECT, **extra) -> str:
    body = {"role": "people", "redirect_uri": redirect, **extra}
    r = assert_status(server.http("POST", f"auth/{mount}/oidc/auth_url", token=None, json_body=body), 200)
    return r.json()["data"]["auth_url"]


def with_param(url: str, **changes) -> str:
    """`url` with some query parameters replaced."""
    u = urlparse(url)
    q = {k: v[0] for k, v in parse_qs(u.query).items()}
    q.update(changes)
    return urlunparse(u._replace(query=urlencode(q)))


_FORM = re.compile(r'<form[^>]*action="([^"]+)"[^>]*>(.*?)</form>', re.S)
_INPUT = re.compile(r"<input([^>]*)>", re.S)
_ATTR = re.compile(r'(\w+)="([^"]*)"')


def drive(url: str, login: str = "alice", stop: str = "http://localhost:") -> str:
    """Play the browser: follow the provider's redirects and post its login and consent
    forms until it redirects to a URL under `stop`; return that URL (not fetched)."""
    s = requests.Session()
    for _ in range(20):
        if url.startswith(stop):
            return url
        r = s.get(url, allow_redirects=False, timeout=10)
        while r.status_code in (302, 303):
            url = urljoin(url, r.headers["location"])
            if url.startswith(stop):
                return url
            r = s.get(url, allow_redirects=False, timeout=10)
        assert r.status_code == 200, f"{url}: {r.status_code} {r.text[:500]}"
        m = _FORM.search(r.text)
        assert m, f"no form at {url}: {r.text[:500]}"
        fields = {}
        for inp in _INPUT.finditer(m.group(2)):
            a = dict(_ATTR.findall(inp.group(1)))
            if "name" in a:
                fields[a["name"]] = html.unescape(a.get("value", ""))
        if "login" in fields:
            fields.update(login=login, password="anything")
        r = s.post(urljoin(url, html.unescape(m.group(1))), data=fields, allow_redirects=False, timeout=10)
        assert r.status_code in (302, 303), f"form post: {r.status_code} {r.text[:500]}"
        url = urljoin(url, r.headers["location"])
    raise AssertionError("the provider never redirected back")


def callback_params(url: str) -> dict:
    q = parse_qs(urlparse(url).query)
    return {k: q[k][0] for k in ("state", "code") if k in q}


def callback(server, mount, params: dict):
    return server.http("GET", f"auth/{mount}/oidc/callback", token=None, params=params)


def login(server, provider, mount, user="alice", **auth_url_extra):
    url = auth_url(server, mount, **auth_url_extra)
    assert url.startswith(provider.issuer + "/auth?"), url
    params = callback_params(drive(url, login=user))
    if "client_nonce" in auth_url_extra:
        params["client_nonce"] = auth_url_extra["client_nonce"]
    return params, callback(server, mount, params)


# ------------------------------------------------------------------------------ the flow

def test_auth_url_names_the_provider_client_scopes_state_nonce_and_pkce(server, provider):
    mount, _ = setup_mount(server, provider)
    url = auth_url(server, mount)
    u = urlparse(url)
    q = {k: v[0] for k, v in parse_qs(u.query).items()}
    assert f"{u.scheme}://{u.netloc}{u.path}" == provider.issuer + "/auth"
    assert q["client_id"] == provider.client_id
    assert q["response_type"] == "code"
    assert q["redirect_uri"] == REDIRECT
    assert q["scope"].split() == ["openid", "email", "groups"]
    assert q["code_challenge_method"] == "S256" and len(q["code_challenge"]) == 43
    assert len(q["state"]) >= 20 and len(q["nonce"]) >= 20
    q2 = {k: v[0] for k, v in parse_qs(urlparse(auth_url(server, mount)).query).items()}
    assert q2["state"] != q["state"] and q2["nonce"] != q["nonce"] and q2["code_challenge"] != q["code_challenge"]
    # A loopback redirect URI matches whatever its port (RFC 8252), as Vault.
    assert auth_url(server, mount, redirect="http://localhost:8251/oidc/callback").startswith(provider.issuer)


def test_login_gives_a_token_with_alias_and_external_groups(server, provider):
    mount, accessor = setup_mount(server, provider)
    # An external group whose alias is the provider's group "eng" on this mount.
    g = assert_status(server.http("POST", "identity/group", json_body={"name": unique("eng"), "type": "external"}), 200)
    gid = g.json()["data"]["id"]
    assert_status(server.http("POST", "identity/group-alias", json_body={
        "name": "eng", "mount_accessor": accessor, "canonical_id": gid}), 200)
    _, r = login(server, provider, mount)
    auth = assert_status(r, 200).json()["auth"]
    assert auth["client_token"]
    assert auth["metadata"] == {"role": "people", "email": "alice@example.test"}
    assert "default" in auth["policies"]
    assert auth["entity_id"]
    me = assert_status(server.http("GET", "auth/token/lookup-self", token=auth["client_token"]), 200).json()["data"]
    assert me["entity_id"] == auth["entity_id"]
    ent = assert_status(server.http("GET", f"identity/entity/id/{auth['entity_id']}"), 200).json()["data"]
    aliases = [(a["name"], a["mount_accessor"]) for a in ent["aliases"]]
    assert aliases == [("alice", accessor)]
    assert ent["aliases"][0]["metadata"] == {"email": "alice@example.test", "role": "people"}
    assert gid in ent["group_ids"]
    group = assert_status(server.http("GET", f"identity/group/id/{gid}"), 200).json()["data"]
    assert auth["entity_id"] in group["member_entity_ids"]
    # The same person again: the same entity.
    _, r2 = login(server, provider, mount)
    assert assert_status(r2, 200).json()["auth"]["entity_id"] == auth["entity_id"]


def test_bound_claims_apply_to_oidc_logins(server, provider):
    mount, _ = setup_mount(server, provider, bound_claims={"groups": ["ops"]})
    _, ok = login(server, provider, mount, user="alice")
    assert_status(ok, 200)
    _, no = login(server, provider, mount, user="bob")
    assert_status(no, 400)
    assert "error validating claims" in " ".join(errors_of(no)), errors_of(no)


# ------------------------------------------------------------------------------ refusals

def test_a_state_is_single_use(server, provider):
    mount, _ = setup_mount(server, provider)
    params, r = login(server, provider, mount)
    assert_status(r, 200)
    again = callback(server, mount, params)
    assert_status(again, 400)
    assert errors_of(again) == ["OpenBao login failed. Expired or missing OAuth state."]


def test_unknown_or_missing_state(server, provider):
    mount, _ = setup_mount(server, provider)
    for params in ({"state": secrets.token_urlsafe(32), "code": "x"}, {"code": "x"}, {}):
        r = callback(server, mount, params)
        assert_status(r, 400)
        assert errors_of(r) == ["OpenBao login failed. Expired or missing OAuth state."]


def test_a_tampered_nonce_is_refused(server, provider):
    """The provider puts the nonce of the URL it was sent into the ID token: one that is
    not the state's own fails the ID token check, and nothing is issued."""
    mount, _ = setup_mount(server, provider)
    url = with_param(auth_url(server, mount), nonce=secrets.token_urlsafe(32))
    params = callback_params(drive(url))
    r = callback(server, mount, params)
    assert_status(r, 400)
    assert "nonce" in " ".join(errors_of(r)).lower(), errors_of(r)
    # The state was spent by the failed attempt.
    assert errors_of(callback(server, mount, params)) == ["OpenBao login failed. Expired or missing OAuth state."]


def test_a_tampered_code_challenge_fails_the_exchange(server, provider):
    """PKCE: the verifier the server keeps no longer matches the challenge the provider
    saw, so the provider refuses the code."""
    mount, _ = setup_mount(server, provider)
    url = with_param(auth_url(server, mount), code_challenge="E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM")
    r = callback(server, mount, callback_params(drive(url)))
    assert_status(r, 400)
    assert "Error exchanging oidc code" in " ".join(errors_of(r)), errors_of(r)


def test_client_nonce_must_match(server, provider):
    mount, _ = setup_mount(server, provider)
    url = auth_url(server, mount, client_nonce="cn-" + secrets.token_hex(8))
    params = callback_params(drive(url))
    r = callback(server, mount, {**params, "client_nonce": "another"})
    assert_status(r, 400)
    assert errors_of(r) == ["invalid client_nonce"]
    _, ok = login(server, provider, mount, client_nonce="cn-" + secrets.token_hex(8))
    assert_status(ok, 200)


def test_redirect_uri_not_allowed_gives_an_empty_url(server, provider):
    mount, _ = setup_mount(server, provider)
    for bad in ("http://localhost:8250/elsewhere", "https://evil.example/oidc/callback",
                "http://127.0.0.1:8250/oidc/callback"):
        assert auth_url(server, mount, redirect=bad) == "", bad
    r = server.http("POST", f"auth/{mount}/oidc/auth_url", token=None, json_body={"role": "people"})
    assert_status(r, 400)
    assert errors_of(r) == ["missing redirect_uri"]
    r = server.http("POST", f"auth/{mount}/oidc/auth_url", token=None, json_body={"role": "nope", "redirect_uri": REDIRECT})
    assert_status(r, 400)
    assert errors_of(r) == ['role "nope" could not be found']


def test_auth_url_on_a_jwt_only_mount(server, provider):
    mount = unique("jwtonly")
    assert_status(server.http("POST", f"sys/auth/{mount}", json_body={"type": "jwt"}), 204)
    r = server.http("POST", f"auth/{mount}/oidc/auth_url", token=None, json_body={"role": "x", "redirect_uri": REDIRECT})
    assert_status(r, 400)
    assert errors_of(r) == ["could not load configuration"]
    assert_status(server.http("POST", f"auth/{mount}/config", json_body={"oidc_discovery_url": provider.issuer}), 204, 200)
    r = server.http("POST", f"auth/{mount}/oidc/auth_url", token=None, json_body={"role": "x", "redirect_uri": REDIRECT})
    assert_status(r, 400)
    assert errors_of(r) == ["OIDC login is not configured for this mount"]


def test_post_callback_needs_form_post_mode(server, provider):
    mount, _ = setup_mount(server, provider)
    r = server.http("POST", f"auth/{mount}/oidc/callback", token=None, data={"state": "x", "code": "y"})
    assert r.status_code == 405, (r.status_code, r.text)


# ------------------------------------------------------------------------------ the CLI

@pytest.mark.parametrize("cli", ["coffer", "bao"])
def test_cli_login_method_oidc(server, provider, cli, tmp_path):
    """`<cli> login -method=oidc skip_browser=true port=N`: it prints the provider URL and
    listens on localhost:N; the provider sends the browser there; the CLI finishes the
    login and stores the token in ~/.vault-token."""
    if cli == "coffer" and server.kind != "coffer":
        pytest.skip("the coffer CLI is checked against Coffer; bao's CLI against both")
    mount, _ = setup_mount(server, provider)
    port = provider.cli_ports[{("coffer", "coffer"): 0, ("bao", "coffer"): 1, ("bao", "bao"): 2}[(cli, server.kind)]]
    home = tmp_path / "home"
    home.mkdir()
    env = server.env(token="")
    env.pop("VAULT_TOKEN", None)
    env.pop("BAO_TOKEN", None)
    env["HOME"] = str(home)
    binary = COFFER_BIN if cli == "coffer" else os.environ.get("BAO_BIN", "bao")
    argv = [binary, "login", "-method=oidc", f"-path={mount}", "role=people", "skip_browser=true", f"port={port}"]
    proc = subprocess.Popen(argv, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        url = None
        lines = []
        deadline = time.monotonic() + 20
        while url is None and time.monotonic() < deadline:
            line = proc.stderr.readline()
            if not line:
                break
            lines.append(line)
            if line.strip().startswith(provider.issuer):
                url = line.strip()
        assert url, f"no URL printed: {''.join(lines)}"
        assert any("Complete the login via your OIDC provider." in ln for ln in lines), lines
        assert parse_qs(urlparse(url).query)["redirect_uri"] == [f"http://localhost:{port}/oidc/callback"]
        back = drive(url)
        assert back.startswith(f"http://localhost:{port}/oidc/callback?")
        page = requests.get(back, timeout=30)
        assert page.status_code == 200, page.text
        out, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)
    assert proc.returncode == 0, (out, err)
    assert "Success! You are now authenticated." in out, out
    token = (home / ".vault-token").read_text().strip()
    assert token in out
    me = assert_status(server.http("GET", "auth/token/lookup-self", token=token), 200).json()["data"]
    assert me["meta"]["email"] == "alice@example.test"
    assert me["display_name"].endswith("alice")
