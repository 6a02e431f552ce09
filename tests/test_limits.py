"""Resource limits (issue 8 items 5-8): what an unauthenticated or slow client can
make the server spend. Memory is read from /proc/<pid>/status (VmRSS / VmHWM);
every loop is bounded in count and time; connection tests use a config-mode
server with low timeouts and cap so they are quick."""

from __future__ import annotations

import json
import socket
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

from conftest import Server, assert_status, errors_of, unique

MB = 1024 * 1024


def proc_kb(srv: Server, field: str) -> int:
    for line in open(f"/proc/{srv.proc.pid}/status"):
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise AssertionError(f"{field} not in /proc/{srv.proc.pid}/status")


def nest(n: int) -> str:
    """n nested objects around a string: depth n."""
    return '{"a":' * n + '"x"' + "}" * n


def post_raw(srv: Server, path: str, body: str, token=True, headers=None) -> requests.Response:
    h = {"Content-Type": "application/json", **(headers or {})}
    if token:
        h["X-Vault-Token"] = srv.root_token
    return requests.post(f"{srv.addr}/v1/{path}", data=body.encode(), headers=h, timeout=60)


# --------------------------------------------------------------------------- item 8


@pytest.mark.parametrize("levels", [126, 127])
def test_deep_kv2_write_stays_readable(server, levels):
    """kv-v2: a write whose data nests 126/127 objects deep (Vault and OpenBao accept
    it) reads, patches, lists metadata and deletes afterwards; Coffer used to store a
    record one level deeper than serde's limit and answer 500 on that path for good."""
    p = unique("deep")
    assert_status(post_raw(server, f"secret/data/{p}", '{"data":' + nest(levels) + "}"), 200)
    r = assert_status(server.http("GET", f"secret/data/{p}"), 200)
    v = r.json()["data"]["data"]
    for _ in range(levels - 1):
        v = v["a"]
    assert v == {"a": "x"}
    assert_status(server.http("GET", f"secret/metadata/{p}"), 200)
    assert_status(server.http("PATCH", f"secret/data/{p}", json_body={"data": {"b": "1"}},
                              headers={"Content-Type": "application/merge-patch+json"}), 200)
    assert_status(server.http("POST", f"secret/data/{p}", json_body={"data": {"c": "2"}}), 200)
    assert_status(server.http("DELETE", f"secret/metadata/{p}"), 204)


def test_wrapped_deep_value_unwraps(server):
    """A value nested 127 deep wraps and unwraps (used to fail to unwrap)."""
    r = assert_status(post_raw(server, "sys/wrapping/wrap", '{"v":' + nest(127) + "}",
                               headers={"X-Vault-Wrap-TTL": "60s"}), 200)
    tok = r.json()["wrap_info"]["token"]
    u = assert_status(requests.post(f"{server.addr}/v1/sys/wrapping/unwrap",
                                    headers={"X-Vault-Token": tok}, timeout=30), 200)
    assert "v" in u.json()["data"]


# Vault's default max_json_depth (its CustomMaxJSONDepth), also Coffer's ceiling.
DEPTH = 500


def test_depth_boundary_is_consistent_for_every_store(coffer):
    """At max_json_depth (500, Vault's default) a body is accepted and reads back from
    kv-v2, kv-v1, cubbyhole and wrapping (also a wrapped kv-v2 read, which nests the
    record further); one level more is a 400 at the edge and nothing is stored.
    (OpenBao has no depth limit: Go's decoder takes 10000 levels.)"""
    srv = coffer
    kv1 = unique("kv1")
    assert_status(srv.http("POST", f"sys/mounts/{kv1}", json_body={"type": "kv"}), 204)
    p = unique("edge")
    cases = [
        # (path, body at `depth` levels, read-back path)
        (f"secret/data/{p}", lambda d: '{"data":' + nest(d - 1) + "}", f"secret/data/{p}"),
        (f"{kv1}/{p}", lambda d: '{"v":' + nest(d - 1) + "}", f"{kv1}/{p}"),
        (f"cubbyhole/{p}", lambda d: '{"v":' + nest(d - 1) + "}", f"cubbyhole/{p}"),
    ]
    for path, body, read in cases:
        r = post_raw(srv, path, body(DEPTH + 1))
        assert r.status_code == 400, (path, r.status_code, r.text[:200])
        assert "nesting depth of 500" in errors_of(r)[0]
        assert srv.http("GET", read).status_code == 404, path
        assert post_raw(srv, path, body(DEPTH)).status_code in (200, 204), path
        assert_status(srv.http("GET", read), 200)
    # A wrapped read of the deepest kv-v2 secret, and sys/wrapping/wrap at the edge.
    r = assert_status(srv.http("GET", f"secret/data/{p}", headers={"X-Vault-Wrap-TTL": "60s"}), 200)
    tok = r.json()["wrap_info"]["token"]
    assert_status(requests.post(f"{srv.addr}/v1/sys/wrapping/unwrap", headers={"X-Vault-Token": tok}, timeout=30), 200)
    assert post_raw(srv, "sys/wrapping/wrap", '{"v":' + nest(DEPTH) + "}").status_code == 400
    r = assert_status(post_raw(srv, "sys/wrapping/wrap", '{"v":' + nest(DEPTH - 1) + "}",
                               headers={"X-Vault-Wrap-TTL": "60s"}), 200)
    tok = r.json()["wrap_info"]["token"]
    assert_status(requests.post(f"{srv.addr}/v1/sys/wrapping/unwrap", headers={"X-Vault-Token": tok}, timeout=30), 200)
    assert_status(srv.http("DELETE", f"sys/mounts/{kv1}"), 204)


# --------------------------------------------------------------------------- item 6


def test_over_complex_json_is_a_400(server):
    """20,000 string entries in one object: OpenBao refuses it ("refused JSON input due
    to high complexity", max_request_json_strings), Vault by max_json_object_entry_count;
    both 400 with Vault's error shape, and nothing stored."""
    p = unique("cx")
    body = json.dumps({"data": {f"k{i}": "v" for i in range(20_000)}})
    r = post_raw(server, f"secret/data/{p}", body)
    assert r.status_code == 400, r.text[:300]
    assert "JSON" in errors_of(r)[0]
    assert server.http("GET", f"secret/data/{p}").status_code == 404


def _big_array_body(mb: int) -> bytes:
    n = mb * MB // 2
    return b'{"a":[' + b"0," * (n - 1) + b"0]}"


def _send(srv: Server, body: bytes, token: str | None):
    h = {"Content-Type": "application/json"}
    if token:
        h["X-Vault-Token"] = token
    try:
        return requests.post(f"{srv.addr}/v1/secret/data/big", data=body, headers=h, timeout=120).status_code
    except requests.ConnectionError:
        # The server answered and closed before the client finished sending.
        return "closed"


def test_large_json_bodies_cost_bounded_memory(coffer):
    """Four parallel 30 MB `{"a":[0,0,...]}` bodies without a token are refused (403)
    after at most 64 KiB; with a valid token they are refused by the JSON limits (400)
    before serde builds them. Used to peak at 2.4 GB RSS."""
    body = _big_array_body(30)
    before = proc_kb(coffer, "VmRSS")
    with ThreadPoolExecutor(4) as ex:
        anon = list(ex.map(lambda _: _send(coffer, body, None), range(4)))
    with ThreadPoolExecutor(4) as ex:
        authed = list(ex.map(lambda _: _send(coffer, body, coffer.root_token), range(4)))
    hwm = proc_kb(coffer, "VmHWM")
    assert all(s in (403, "closed") for s in anon), anon
    assert 403 in anon, anon
    assert authed == [400] * 4, authed
    # 4 x 30 MB bodies buffered at once is 120 MB; parsing them used to cost 40x.
    assert hwm - before < 300 * 1024, (before, hwm)
    assert_status(coffer.http("GET", "sys/health", token=None), 200)


def test_unauthenticated_large_body_gets_the_cores_answer(server):
    """A 1 MB body to a mount without a token: 403 as Vault, also when the body
    would be refused anyway; an unknown mount stays 404."""
    body = json.dumps({"data": {"a": "x" * MB}}).encode()
    r = requests.post(f"{server.addr}/v1/secret/data/anon", data=body, timeout=30,
                      headers={"Content-Type": "application/json"})
    assert r.status_code == 403, r.text[:200]
    r = requests.post(f"{server.addr}/v1/nomount-{unique()}/x", data=body, timeout=30,
                      headers={"Content-Type": "application/json", "X-Vault-Token": server.root_token})
    assert r.status_code == 404, r.text[:200]


# --------------------------------------------------------------------------- item 5


def test_login_flood_memory_is_bounded_and_returned(coffer):
    """100 concurrent userpass logins with a wrong password: every one is answered
    400 (or 503 when the hashing queue is full), RSS peaks far below 100 x 19 MiB and
    stays low afterwards. Used to reach 1.9-4.7 GB and keep it."""
    mount = unique("up")
    assert_status(coffer.http("POST", f"sys/auth/{mount}", json_body={"type": "userpass"}), 204)
    assert_status(coffer.http("POST", f"auth/{mount}/users/alice", json_body={"password": "right"}), 204)
    # One login first so the pool's buffers and the dummy hash exist in the baseline.
    assert_status(coffer.http("POST", f"auth/{mount}/login/alice", token=None, json_body={"password": "right"}), 200)
    base = proc_kb(coffer, "VmRSS")

    def attempt(i):
        r = requests.post(f"{coffer.addr}/v1/auth/{mount}/login/alice", json={"password": f"wrong{i}"}, timeout=120)
        return r.status_code

    with ThreadPoolExecutor(100) as ex:
        codes = list(ex.map(attempt, range(100)))
    hwm = proc_kb(coffer, "VmHWM")
    time.sleep(0.5)
    after = proc_kb(coffer, "VmRSS")
    assert set(codes) <= {400, 503}, codes
    assert codes.count(400) >= 2, codes
    assert hwm - base < 400 * 1024, (base, hwm)
    assert after - base < 150 * 1024, (base, after)
    assert_status(coffer.http("DELETE", f"sys/auth/{mount}"), 204)


# --------------------------------------------------------------------------- item 7


def _closed_within(sock: socket.socket, seconds: float) -> tuple[bool, bytes]:
    """Read until EOF or `seconds`; (closed, what was received)."""
    sock.settimeout(0.5)
    got = b""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            chunk = sock.recv(4096)
        except socket.timeout:
            continue
        except ConnectionResetError:
            return True, got
        if not chunk:
            return True, got
        got += chunk
    return False, got


def _port(srv: Server) -> int:
    return srv.port


@pytest.fixture
def timed_server(sealed_server):
    return sealed_server('  http_read_header_timeout = "2s"\n  http_read_timeout = "3s"\n  http_idle_timeout = "3s"\n')


def test_silent_connection_is_closed(timed_server):
    """A connection that sends nothing is closed after http_read_header_timeout
    (Vault/OpenBao: Go's ReadHeaderTimeout from accept)."""
    s = socket.create_connection(("127.0.0.1", _port(timed_server)), timeout=5)
    try:
        closed, _ = _closed_within(s, 8)
        assert closed
    finally:
        s.close()


def test_trickled_body_is_timed_out(timed_server):
    """A body trickled a byte at a time is cut off after http_read_timeout."""
    s = socket.create_connection(("127.0.0.1", _port(timed_server)), timeout=5)
    try:
        s.sendall(b"PUT /v1/sys/unseal HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 200\r\n\r\n{")
        start = time.monotonic()
        closed = False
        while time.monotonic() - start < 10:
            try:
                s.sendall(b" ")
            except (BrokenPipeError, ConnectionResetError):
                closed = True
                break
            s.settimeout(0.5)
            try:
                data = s.recv(4096)
                if not data or data.startswith(b"HTTP/1.1 4"):
                    closed = True
                    break
            except socket.timeout:
                pass
        assert closed, "trickled body never timed out"
        assert time.monotonic() - start < 9
    finally:
        s.close()


def test_idle_keepalive_connection_is_closed(timed_server):
    """After a request, a keep-alive connection left silent is closed after http_idle_timeout."""
    s = socket.create_connection(("127.0.0.1", _port(timed_server)), timeout=5)
    try:
        s.sendall(b"GET /v1/sys/seal-status HTTP/1.1\r\nHost: x\r\n\r\n")
        s.settimeout(5)
        assert s.recv(4096).startswith(b"HTTP/1.1 200")
        closed, _ = _closed_within(s, 10)
        assert closed
    finally:
        s.close()


def test_connection_cap_refuses_gracefully_and_recovers(coffer_sealed):
    """max_connections: beyond the cap a connection gets 503 and is closed; once the
    others go, the server serves again (it used to run out of file descriptors)."""
    srv = coffer_sealed('  max_connections = 20\n  http_read_header_timeout = "30s"\n')
    held = [socket.create_connection(("127.0.0.1", srv.port), timeout=5) for _ in range(20)]
    try:
        time.sleep(0.3)
        extra = socket.create_connection(("127.0.0.1", srv.port), timeout=5)
        closed, got = _closed_within(extra, 5)
        extra.close()
        assert closed and got.startswith(b"HTTP/1.1 503"), got[:200]
        assert b"too many open connections" in got
    finally:
        for s in held:
            s.close()
    deadline = time.monotonic() + 10
    while True:
        try:
            if requests.get(f"{srv.addr}/v1/sys/seal-status", timeout=2).status_code == 200:
                break
        except requests.RequestException:
            pass
        assert time.monotonic() < deadline, "server never recovered after the cap"
        time.sleep(0.1)
