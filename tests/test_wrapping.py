"""Response wrapping: X-Vault-Wrap-TTL and sys/wrapping/{wrap,unwrap,lookup,rewrap}."""


from conftest import assert_status, create_token, errors_of, unique

INVALID = "wrapping token is not valid or does not exist"


def wrap_kv_read(srv, path, ttl="60s"):
    r = assert_status(srv.http("GET", f"secret/data/{path}", headers={"X-Vault-Wrap-TTL": ttl}), 200)
    return r.json()


def test_wrap_ttl_header_on_kv_read(server):
    """X-Vault-Wrap-TTL on a kv read replaces the body with an envelope whose only
    payload is wrap_info {token, accessor, ttl, creation_time, creation_path};
    request_id is "" and data is null."""
    p = unique()
    assert_status(server.http("POST", f"secret/data/{p}", json_body={"data": {"a": "1"}}), 200)
    body = wrap_kv_read(server, p, "90s")
    assert body["data"] is None and body["auth"] is None
    assert body["request_id"] == ""
    wi = body["wrap_info"]
    assert wi["token"] and wi["accessor"]
    assert wi["ttl"] == 90
    assert wi["creation_path"] == f"secret/data/{p}"
    assert wi["creation_time"].endswith("Z")


def test_unwrap_with_token_header_is_single_use(server):
    """Unwrapping with the wrapping token as X-Vault-Token returns the original response
    verbatim; a second unwrap fails with 400 `wrapping token is not valid or does not
    exist`."""
    p = unique()
    assert_status(server.http("POST", f"secret/data/{p}", json_body={"data": {"a": "1"}}), 200)
    wt = wrap_kv_read(server, p)["wrap_info"]["token"]
    r = assert_status(server.http("POST", "sys/wrapping/unwrap", token=wt), 200)
    assert r.json()["data"]["data"] == {"a": "1"}
    assert r.json()["data"]["metadata"]["version"] == 1
    # The spent token in the header is judged as a wrapping token first: 400, not the
    # token check's 403 (hvac raises InvalidRequest), for unwrap and rewrap alike, and
    # for a token that never existed.
    for path, tok in [("unwrap", wt), ("rewrap", wt), ("unwrap", "hvs.not-a-wrapping-token")]:
        r = assert_status(server.http("POST", f"sys/wrapping/{path}", token=tok), 400)
        assert errors_of(r) == [INVALID], (path, r.text)
    r = server.http("POST", "sys/wrapping/unwrap", json_body={"token": wt})
    assert_status(r, 400)
    assert any(INVALID in e for e in errors_of(r))


def test_unwrap_with_body_token(server):
    """Unwrap with {"token": wt} authenticated by another token works once."""
    p = unique()
    assert_status(server.http("POST", f"secret/data/{p}", json_body={"data": {"b": "2"}}), 200)
    wt = wrap_kv_read(server, p)["wrap_info"]["token"]
    caller = create_token(server, policies=["default"])["client_token"]
    r = assert_status(server.http("POST", "sys/wrapping/unwrap", token=caller, json_body={"token": wt}), 200)
    assert r.json()["data"]["data"] == {"b": "2"}
    r = server.http("POST", "sys/wrapping/unwrap", token=caller, json_body={"token": wt})
    assert_status(r, 400)
    assert any(INVALID in e for e in errors_of(r))


def test_wrap_arbitrary_data(server):
    """sys/wrapping/wrap with X-Vault-Wrap-TTL wraps the request body
    (creation_path sys/wrapping/wrap); unwrap returns it as data; without the header
    → 400."""
    payload = {"k": "v", "n": {"deep": "x"}}
    r = assert_status(server.http("POST", "sys/wrapping/wrap", json_body=payload,
                                  headers={"X-Vault-Wrap-TTL": "5m"}), 200)
    wi = r.json()["wrap_info"]
    assert wi["ttl"] == 300 and wi["creation_path"] == "sys/wrapping/wrap"
    r = assert_status(server.http("POST", "sys/wrapping/unwrap", json_body={"token": wi["token"]}), 200)
    assert r.json()["data"] == payload
    r = server.http("POST", "sys/wrapping/wrap", json_body=payload)
    assert_status(r, 400)


def test_wrap_empty_body_wraps_an_empty_object(server):
    """sys/wrapping/wrap with X-Vault-Wrap-TTL and no body (or `{}`) wraps an empty
    object, as Vault and OpenBao do (hvac's suite wraps nothing); unwrap answers 200
    with `data: {}`. Without the header it is still 400 `endpoint requires response
    wrapping to be used`."""
    for body in (None, {}):
        r = assert_status(server.http("POST", "sys/wrapping/wrap", json_body=body,
                                      headers={"X-Vault-Wrap-TTL": "60"}), 200)
        wi = r.json()["wrap_info"]
        assert wi["ttl"] == 60 and wi["creation_path"] == "sys/wrapping/wrap"
        r = assert_status(server.http("POST", "sys/wrapping/unwrap", json_body={"token": wi["token"]}), 200)
        assert r.json()["data"] == {}
    r = server.http("POST", "sys/wrapping/wrap")
    assert_status(r, 400)
    assert errors_of(r) == ["endpoint requires response wrapping to be used"]


def test_lookup_does_not_consume(server):
    """sys/wrapping/lookup (unauthenticated) returns creation_path, creation_time,
    creation_ttl and does not consume the token."""
    wi = assert_status(server.http("POST", "sys/wrapping/wrap", json_body={"a": "b"},
                                   headers={"X-Vault-Wrap-TTL": "120"}), 200).json()["wrap_info"]
    for _ in range(2):
        r = assert_status(server.session.post(server.addr + "/v1/sys/wrapping/lookup",
                                        json={"token": wi["token"]}, timeout=10), 200)
        d = r.json()["data"]
        assert d["creation_path"] == "sys/wrapping/wrap"
        assert d["creation_ttl"] == 120
        assert d["creation_time"] == wi["creation_time"]
    r = assert_status(server.http("POST", "sys/wrapping/unwrap", json_body={"token": wi["token"]}), 200)
    assert r.json()["data"] == {"a": "b"}
    r = server.http("POST", "sys/wrapping/lookup", json_body={"token": wi["token"]})
    assert_status(r, 400)


def test_rewrap(server):
    """sys/wrapping/rewrap issues a new wrapping token with the same creation_path and
    ttl and invalidates the old one; the new one unwraps to the original data."""
    wi = assert_status(server.http("POST", "sys/wrapping/wrap", json_body={"r": "1"},
                                   headers={"X-Vault-Wrap-TTL": "300"}), 200).json()["wrap_info"]
    r = assert_status(server.http("POST", "sys/wrapping/rewrap", json_body={"token": wi["token"]}), 200)
    new = r.json()["wrap_info"]
    assert new["token"] != wi["token"]
    assert new["creation_path"] == "sys/wrapping/wrap"
    assert new["ttl"] == 300
    assert_status(server.http("POST", "sys/wrapping/unwrap", json_body={"token": wi["token"]}), 400)
    r = assert_status(server.http("POST", "sys/wrapping/unwrap", json_body={"token": new["token"]}), 200)
    assert r.json()["data"] == {"r": "1"}


def test_wrapped_token_create(server):
    """Wrapping an auth response (token create) adds wrap_info.wrapped_accessor, the
    accessor of the wrapped token; unwrapping yields the auth block."""
    r = assert_status(server.http("POST", "auth/token/create", json_body={"policies": ["default"]},
                                  headers={"X-Vault-Wrap-TTL": "60"}), 200)
    wi = r.json()["wrap_info"]
    assert r.json()["auth"] is None
    assert wi["wrapped_accessor"]
    r = assert_status(server.http("POST", "sys/wrapping/unwrap", json_body={"token": wi["token"]}), 200)
    auth = r.json()["auth"]
    assert auth["accessor"] == wi["wrapped_accessor"]
    assert_status(server.http("GET", "auth/token/lookup-self", token=auth["client_token"]), 200)


def test_bad_wrap_ttl_header(server):
    """X-Vault-Wrap-TTL negative → 400 `requested wrap ttl cannot be negative`;
    unparsable → 400 `error parsing X-Vault-Wrap-TTL header`."""
    r = server.http("GET", "secret/data/x", headers={"X-Vault-Wrap-TTL": "-5"})
    assert_status(r, 400)
    assert any("requested wrap ttl cannot be negative" in e for e in errors_of(r))
    r = server.http("GET", "secret/data/x", headers={"X-Vault-Wrap-TTL": "abc"})
    assert_status(r, 400)
    assert any("error parsing X-Vault-Wrap-TTL header" in e for e in errors_of(r))


def test_wrapping_token_is_not_a_general_token(server):
    """A wrapping token (policy response-wrapping) cannot read secrets."""
    wi = assert_status(server.http("POST", "sys/wrapping/wrap", json_body={"a": "b"},
                                   headers={"X-Vault-Wrap-TTL": "60"}), 200).json()["wrap_info"]
    assert_status(server.http("GET", "secret/data/anything", token=wi["token"]), 403)
