"""Login MFA with TOTP (Vault's identity/mfa/* and sys/mfa/validate), against Coffer and
OpenBao: method CRUD, enrolment (otpauth URL, QR PNG), login enforcements by mount
accessor, entity and group, the two-phase login (auth.mfa_requirement, then
sys/mfa/validate), the single-phase X-Vault-MFA header, single use of codes and request
ids, and the per-entity failure limit.

hvac has no login-MFA helpers, so everything is raw HTTP. Codes are computed here from
the secret in the otpauth URL (RFC 6238 with hmac), as an authenticator app would.
Each test has its own auth mount, user, method and entity, so the in-memory replay cache
and failure counter of one test never meet another's.
"""

import base64
import hashlib
import hmac
import struct
import time
import urllib.parse
import zlib

import pytest

from conftest import unique

WARNING = ("A login request was issued that is subject to MFA validation. Please make sure "
           "to validate the login by sending another request to mfa/validate endpoint.")
ALGS = {"SHA1": hashlib.sha1, "SHA256": hashlib.sha256, "SHA512": hashlib.sha512}


def totp_code(url: str, step_offset: int = 0) -> str:
    """The code of the otpauth URL's secret for the current time step (+ offset)."""
    q = urllib.parse.parse_qs(urllib.parse.urlparse(url).query)
    secret = q["secret"][0]
    key = base64.b32decode(secret + "=" * (-len(secret) % 8))
    period, digits = int(q["period"][0]), int(q["digits"][0])
    counter = int(time.time()) // period + step_offset
    mac = hmac.new(key, struct.pack(">Q", counter), ALGS[q["algorithm"][0]]).digest()
    off = mac[-1] & 15
    value = (struct.unpack(">I", mac[off:off + 4])[0] & 0x7FFFFFFF) % 10 ** digits
    return str(value).zfill(digits)


def wrong_code(url: str) -> str:
    """A 6-digit code valid for none of the steps the server may accept."""
    valid = {totp_code(url, k) for k in (-1, 0, 1, 2)}
    return next(c for c in ("000000", "111111", "222222", "333333", "444444") if c not in valid)


def ok(r, status=200):
    assert r.status_code == status, (r.status_code, r.text)
    return r.json() if r.content else None


class Fixture:
    """A userpass mount with one user who has logged in once (so has an entity) and a
    TOTP method with that entity enrolled."""

    def __init__(self, server, **method):
        self.s = server
        self.mount = unique("up")
        ok(server.http("POST", f"sys/auth/{self.mount}", json_body={"type": "userpass"}), 204)
        self.accessor = ok(server.http("GET", "sys/auth"))["data"][f"{self.mount}/"]["accessor"]
        ok(server.http("POST", f"auth/{self.mount}/users/alice", json_body={"password": "pw"}), 204)
        first = self.login()
        self.entity_id = first["auth"]["entity_id"]
        assert self.entity_id
        self.method_name = unique("totp")
        body = {"method_name": self.method_name, "issuer": "Coffer", **method}
        self.method_id = ok(server.http("POST", "identity/mfa/method/totp", json_body=body))["data"]["method_id"]
        gen = ok(server.http("POST", "identity/mfa/method/totp/admin-generate",
                             json_body={"method_id": self.method_id, "entity_id": self.entity_id}))
        self.url = gen["data"]["url"]
        self.barcode = gen["data"]["barcode"]

    def login(self, headers=None, status=200):
        r = self.s.http("POST", f"auth/{self.mount}/login/alice", token=None,
                        json_body={"password": "pw"}, headers=headers)
        return ok(r, status)

    def enforce(self, **criteria):
        name = unique("enf")
        ok(self.s.http("POST", f"identity/mfa/login-enforcement/{name}",
                       json_body={"mfa_method_ids": [self.method_id], **criteria}), 204)
        return name

    def validate(self, request_id, code, key=None):
        return self.s.http("POST", "sys/mfa/validate", token=None, json_body={
            "mfa_request_id": request_id, "mfa_payload": {key or self.method_id: [code]}})


def two_phase(fx, enforcement):
    """Log in, check Vault's two-phase answer, return the request id."""
    body = fx.login()
    assert body["warnings"] == [WARNING]
    assert body["data"] is None
    auth = body["auth"]
    assert auth["client_token"] == "" and auth["accessor"] == "" and auth["entity_id"] == ""
    assert auth["lease_duration"] == 0 and auth["renewable"] is False
    req = auth["mfa_requirement"]
    assert req["mfa_constraints"] == {enforcement: {"any": [
        {"type": "totp", "id": fx.method_id, "uses_passcode": True, "name": fx.method_name}]}}
    return req["mfa_request_id"]


def assert_token_works(server, body, fx):
    auth = body["auth"]
    assert auth["client_token"] and auth["entity_id"] == fx.entity_id
    assert auth["metadata"] == {"username": "alice"} and auth["mfa_requirement"] is None
    me = ok(server.http("GET", "auth/token/lookup-self", token=auth["client_token"]))["data"]
    assert me["entity_id"] == fx.entity_id and me["path"] == f"auth/{fx.mount}/login/alice"


def test_totp_method_crud_and_refusals(server):
    name = unique("m")
    mid = ok(server.http("POST", "identity/mfa/method/totp", json_body={
        "method_name": name, "issuer": "Coffer", "algorithm": "SHA256", "digits": 8, "skew": 0}))["data"]["method_id"]
    read = ok(server.http("GET", f"identity/mfa/method/totp/{mid}"))["data"]
    assert read == {"algorithm": "SHA256", "digits": 8, "id": mid, "issuer": "Coffer", "key_size": 20,
                    "max_validation_attempts": 5, "name": name, "namespace_id": "root", "namespace_path": "",
                    "period": 30, "qr_size": 200, "skew": 0, "type": "totp"}
    assert ok(server.http("GET", f"identity/mfa/method/{mid}"))["data"] == read
    listed = ok(server.http("LIST", "identity/mfa/method/totp"))["data"]
    assert mid in listed["keys"] and listed["key_info"][mid] == read
    # a create with an existing name updates that method
    again = ok(server.http("POST", "identity/mfa/method/totp", json_body={"method_name": name, "issuer": "Other"}))
    assert again["data"]["method_id"] == mid
    assert ok(server.http("GET", f"identity/mfa/method/totp/{mid}"))["data"]["issuer"] == "Other"
    for body, err in [({}, "issuer must be set"), ({"issuer": "x", "algorithm": "MD5"}, "unrecognized algorithm"),
                      ({"issuer": "x", "digits": 7}, "digits can only be 6 or 8"),
                      ({"issuer": "x", "skew": 2}, "skew must be 0 or 1"),
                      ({"issuer": "x", "period": 0}, "period must be greater than zero"),
                      ({"issuer": "x", "key_size": 0}, "key_size must be greater than zero")]:
        r = server.http("POST", "identity/mfa/method/totp", json_body=body)
        assert (r.status_code, r.json()["errors"]) == (400, [err]), body
    assert server.http("GET", "identity/mfa/method/totp/00000000-0000-0000-0000-000000000000").status_code == 404
    ok(server.http("DELETE", f"identity/mfa/method/totp/{mid}"), 204)
    assert server.http("GET", f"identity/mfa/method/totp/{mid}").status_code == 404


def test_enforcement_crud_and_refusals(server):
    fx = Fixture(server)
    name = unique("enf")
    path = f"identity/mfa/login-enforcement/{name}"
    for body, err in [
        ({"mfa_method_ids": [fx.method_id]}, "One of auth_method_accessors, auth_method_types, identity_group_ids, identity_entity_ids must be specified"),
        ({"auth_method_accessors": [fx.accessor]}, "missing method ids"),
        ({"mfa_method_ids": ["nope"], "auth_method_accessors": [fx.accessor]}, "one of the provided method ids doesn't exist"),
        ({"mfa_method_ids": [fx.method_id], "auth_method_accessors": ["auth_userpass_nope"]}, "one of the auth method accessors provided is invalid"),
        ({"mfa_method_ids": [fx.method_id], "identity_entity_ids": ["nope"]}, "one of the provided entity ids doesn't exist"),
    ]:
        r = server.http("POST", path, json_body=body)
        assert (r.status_code, r.json()["errors"]) == (400, [err]), body
    assert server.http("GET", path).status_code == 404, "refused writes store nothing"
    ok(server.http("POST", path, json_body={"mfa_method_ids": [fx.method_id], "identity_entity_ids": [fx.entity_id]}), 204)
    read = ok(server.http("GET", path))["data"]
    assert read == {"auth_method_accessors": [], "auth_method_types": [], "id": read["id"],
                    "identity_entity_ids": [fx.entity_id], "identity_group_ids": [], "mfa_method_ids": [fx.method_id],
                    "name": name, "namespace_id": "root", "namespace_path": ""}
    assert name in ok(server.http("LIST", "identity/mfa/login-enforcement"))["data"]["keys"]
    # a method in use cannot be deleted (OpenBao answers 500, Coffer 400: docs/compatibility.md)
    r = server.http("DELETE", f"identity/mfa/method/totp/{fx.method_id}")
    assert r.status_code == (400 if server.kind == "coffer" else 500)
    assert f"methodID is still used by an enforcement configuration with ID: {read['id']}" in r.json()["errors"][0]
    ok(server.http("DELETE", path), 204)
    ok(server.http("DELETE", path), 204)


@pytest.mark.parametrize("by", ["accessor", "entity", "group"])
def test_two_phase_login_then_validate(server, by):
    fx = Fixture(server)
    if by == "accessor":
        enf = fx.enforce(auth_method_accessors=[fx.accessor])
    elif by == "entity":
        enf = fx.enforce(identity_entity_ids=[fx.entity_id])
    else:
        gid = ok(server.http("POST", "identity/group", json_body={
            "name": unique("g"), "member_entity_ids": [fx.entity_id]}))["data"]["id"]
        enf = fx.enforce(identity_group_ids=[gid])
    rid = two_phase(fx, enf)
    # a wrong code: 403, and the request id stays usable
    r = fx.validate(rid, wrong_code(fx.url))
    assert r.status_code == 403, r.text
    assert r.json()["errors"][0].startswith(f"failed to satisfy enforcement {enf}.")
    assert "MFA credentials not supplied or incorrect" in r.json()["errors"][0]
    body = ok(fx.validate(rid, totp_code(fx.url), key=fx.method_name))
    assert_token_works(server, body, fx)
    # the request id is used up
    r = fx.validate(rid, totp_code(fx.url, 1))
    assert (r.status_code, r.json()["errors"]) == (400, ["invalid request ID"])
    ok(server.http("DELETE", f"identity/mfa/login-enforcement/{enf}"), 204)


def test_replayed_code_is_refused(server):
    fx = Fixture(server)
    enf = fx.enforce(auth_method_accessors=[fx.accessor])
    code = totp_code(fx.url)
    ok(fx.validate(two_phase(fx, enf), code))
    rid = two_phase(fx, enf)
    r = fx.validate(rid, code)
    assert r.status_code == 403, r.text
    # the next step's code (valid under skew 1) is still accepted
    assert_token_works(server, ok(fx.validate(rid, totp_code(fx.url, 1))), fx)


def test_single_phase_header(server):
    fx = Fixture(server)
    fx.enforce(auth_method_accessors=[fx.accessor])
    r = fx.login(headers={"X-Vault-MFA": f"{fx.method_name}:{wrong_code(fx.url)}"}, status=403)
    assert r["errors"] == ["permission denied"]
    code = totp_code(fx.url)
    body = fx.login(headers={"X-Vault-MFA": f"{fx.method_id}:{code}"})
    assert body["warnings"] is None
    assert_token_works(server, body, fx)
    # the same code again, by name: replayed
    assert fx.login(headers={"X-Vault-MFA": f"{fx.method_name}:{code}"}, status=403)["errors"] == ["permission denied"]


def test_failed_attempts_are_limited_per_entity(server):
    fx = Fixture(server, max_validation_attempts=2)
    enf = fx.enforce(auth_method_accessors=[fx.accessor])
    rid = two_phase(fx, enf)
    for _ in range(2):
        assert fx.validate(rid, wrong_code(fx.url)).status_code == 403
    r = fx.validate(rid, totp_code(fx.url))
    assert r.status_code == 403, r.text
    assert "maximum TOTP validation attempts 3 exceeded the allowed attempts 2" in r.json()["errors"][0]
    # a new login by the same entity is limited too
    r = fx.validate(two_phase(fx, enf), totp_code(fx.url))
    assert r.status_code == 403 and "maximum TOTP validation attempts" in r.json()["errors"][0]


def test_validate_refusals(server):
    r = server.http("POST", "sys/mfa/validate", token=None, json_body={"mfa_payload": {"x": ["1"]}})
    assert (r.status_code, r.json()["errors"]) == (400, ["missing request ID"])
    r = server.http("POST", "sys/mfa/validate", token=None, json_body={"mfa_request_id": "nope", "mfa_payload": {"x": ["1"]}})
    assert (r.status_code, r.json()["errors"]) == (400, ["invalid request ID"])


def png_info(png: bytes):
    """Width, height and the size of the inflated image data, checked chunk by chunk."""
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    at, idat, ihdr = 8, b"", None
    while True:
        (length,) = struct.unpack(">I", png[at:at + 4])
        kind, data = png[at + 4:at + 8], png[at + 8:at + 8 + length]
        (crc,) = struct.unpack(">I", png[at + 8 + length:at + 12 + length])
        assert zlib.crc32(kind + data) == crc
        if kind == b"IHDR":
            ihdr = struct.unpack(">IIBBBBB", data)
        elif kind == b"IDAT":
            idat += data
        elif kind == b"IEND":
            break
        at += 12 + length
    w, h, depth, color, _, _, interlace = ihdr
    assert color == 0 and interlace == 0, "grayscale, not interlaced"
    raw = zlib.decompress(idat)
    assert len(raw) == h * (1 + (w * depth + 7) // 8)
    return w, h


def test_qr_png_is_qr_size_and_self_generate(server):
    fx = Fixture(server, qr_size=150)
    assert png_info(base64.b64decode(fx.barcode)) == (150, 150)
    q = urllib.parse.urlparse(fx.url)
    assert (q.scheme, q.netloc, q.path) == ("otpauth", "totp", f"/Coffer:{fx.entity_id}")
    params = urllib.parse.parse_qs(q.query)
    assert {k: v[0] for k, v in params.items() if k != "secret"} == {"algorithm": "SHA1", "digits": "6", "issuer": "Coffer", "period": "30"}
    assert len(base64.b32decode(params["secret"][0] + "=" * (-len(params["secret"][0]) % 8))) == 20
    again = ok(server.http("POST", "identity/mfa/method/totp/admin-generate",
                           json_body={"method_id": fx.method_id, "entity_id": fx.entity_id}))
    assert again["data"] is None and again["warnings"] == [f'Entity already has a secret for MFA method "{fx.method_name}"']
    # generate: the caller's own entity (a userpass token), allowed by policy
    pol = unique("p")
    ok(server.http("POST", f"sys/policies/acl/{pol}", json_body={
        "policy": 'path "identity/mfa/method/totp/generate" { capabilities = ["update"] }'}), 204)
    ok(server.http("POST", f"auth/{fx.mount}/users/bob", json_body={"password": "pw", "token_policies": pol}), 204)
    bob = ok(server.http("POST", f"auth/{fx.mount}/login/bob", token=None, json_body={"password": "pw"}))["auth"]
    r = server.http("POST", "identity/mfa/method/totp/generate", token=bob["client_token"], json_body={"method_id": fx.method_id})
    url = ok(r)["data"]["url"]
    assert url.startswith(f"otpauth://totp/Coffer:{bob['entity_id']}?")
    r = server.http("POST", "identity/mfa/method/totp/generate", json_body={"method_id": fx.method_id})
    assert (r.status_code, r.json()["errors"]) == (400, ["missing entityID"]), "the root token has no entity"
    ok(server.http("POST", "identity/mfa/method/totp/admin-destroy",
                   json_body={"method_id": fx.method_id, "entity_id": bob["entity_id"]}), 204)
