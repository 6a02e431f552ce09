"""Audit devices other than `file`, enabled through `sys/audit`: socket (tcp,
unix) against real listeners, and Coffer's object-store
device against a real moto S3 server.

The sinks themselves are tested directly (outage, full spool, restart,
retention, Object Lock) in crates/audit/tests/. These tests need the core's
`sys/audit` endpoints: on a Coffer build without them (`sys/audit` answers
404) they skip.

Coffer only: OpenBao 2.x refuses audit devices over the API unless its config
sets `unsafe_allow_api_audit_creation`, which the shared dev-server fixture
does not. Run by hand against `bao server -dev -config=<file with that line>`,
the socket tests pass unchanged (same statuses and error bodies).
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time

import boto3
import pytest

from conftest import COFFER_BIN, free_port, stop_process, unique

MOTO_START_TIMEOUT = 30.0


# --------------------------------------------------------------------------------------
# real peers


class StreamListener:
    """A TCP or unix-stream listener collecting every line it receives."""

    def __init__(self, kind: str, port: int = 0):
        if kind == "tcp":
            self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            self.sock.bind(("127.0.0.1", port))
            self.address = "%s:%d" % self.sock.getsockname()
        else:
            self.dir = tempfile.mkdtemp(prefix="audit-sock-")
            self.address = os.path.join(self.dir, "audit.sock")
            self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            self.sock.bind(self.address)
        self.sock.listen(8)
        self.data = b""
        self.lock = threading.Lock()
        self.conns: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.conns.append(conn)
            threading.Thread(target=self._drain, args=(conn,), daemon=True).start()

    def _drain(self, conn):
        while True:
            try:
                chunk = conn.recv(65536)
            except OSError:
                return
            if not chunk:
                return
            with self.lock:
                self.data += chunk

    def entries(self, want: int = 1, timeout: float = 10.0) -> list[dict]:
        deadline = time.time() + timeout
        while True:
            with self.lock:
                lines = [l for l in self.data.split(b"\n") if l]
            if len(lines) >= want or time.time() > deadline:
                return [json.loads(l) for l in lines]
            time.sleep(0.05)

    def close(self):
        for c in self.conns:
            try:
                c.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            c.close()
        # shutdown first: a close() alone leaves the socket listening while
        # the accept thread is blocked in accept()
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.sock.close()


@pytest.fixture(scope="module")
def moto():
    """A moto S3 server on 127.0.0.1 (moto[server] from tests/requirements.txt)."""
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    endpoint = f"http://127.0.0.1:{port}"
    try:
        deadline = time.time() + MOTO_START_TIMEOUT
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
                break
            except OSError:
                if time.time() > deadline or proc.poll() is not None:
                    raise RuntimeError("moto server did not start")
                time.sleep(0.1)
        s3 = boto3.client("s3", endpoint_url=endpoint, aws_access_key_id="testing",
                          aws_secret_access_key="testing", region_name="us-east-1")
        yield endpoint, s3
    finally:
        stop_process(proc)


def enable(srv, path: str, kind: str, options: dict):
    r = srv.http("PUT", f"sys/audit/{path}", json_body={"type": kind, "options": options})
    if r.status_code == 404 and srv.kind == "coffer":
        pytest.skip("sys/audit is not on this Coffer build yet (core-audit)")
    return r


def disable(srv, path: str):
    srv.http("DELETE", f"sys/audit/{path}")


# --------------------------------------------------------------------------------------
# socket


@pytest.mark.parametrize("socket_type", ["tcp", "unix"])
def test_socket_device_sends_one_line_per_entry(coffer, socket_type):
    server = coffer
    listener = StreamListener(socket_type)
    path = unique("sock")
    try:
        r = enable(server, path, "socket", {"address": listener.address, "socket_type": socket_type})
        assert r.status_code == 204, r.text
        secret_path = unique("p")
        r = server.http("POST", f"secret/data/{secret_path}", json_body={"data": {"k": "v"}})
        assert r.status_code == 200, r.text
        deadline = time.time() + 10
        mine = []
        while time.time() < deadline and len(mine) < 2:
            mine = [e for e in listener.entries() if e.get("request", {}).get("path") == f"secret/data/{secret_path}"]
            time.sleep(0.05)
        assert [e["type"] for e in mine] == ["request", "response"], mine
        # the secret value is HMACed, never in clear
        assert all("\"v\"" not in json.dumps(e) for e in mine)
    finally:
        disable(server, path)
        listener.close()


def test_socket_device_needs_a_listener(coffer):
    """As in OpenBao ("audit backend failed test message: dial tcp ...: connection refused")."""
    server = coffer
    gone = StreamListener("tcp")
    address = gone.address
    gone.close()
    r = enable(server, unique("sock"), "socket", {"address": address, "socket_type": "tcp"})
    assert r.status_code == 400, r.text
    assert r.json()["errors"], r.text


def test_socket_device_that_goes_away_fails_requests_closed(coffer):
    server = coffer
    listener = StreamListener("tcp")
    path = unique("sock")
    try:
        r = enable(server, path, "socket", {"address": listener.address, "socket_type": "tcp"})
        assert r.status_code == 204, r.text
        assert server.http("GET", "sys/mounts").status_code == 200
        listener.close()
        time.sleep(0.2)
        # the only audit device cannot take the entry: the request fails closed,
        # as in OpenBao (500 {"errors":["internal error"]})
        r = server.http("GET", "sys/mounts")
        assert r.status_code == 500, r.text
        assert r.json() == {"errors": ["internal error"]}, r.text
        # Disabling is a request like any other: refused while no device can record it.
        assert server.http("DELETE", f"sys/audit/{path}").status_code == 500
    finally:
        # A listener back at the address lets the device write again, and so be disabled.
        back = StreamListener("tcp", int(listener.address.rsplit(":", 1)[1]))
        try:
            deadline = time.time() + 10
            while server.http("DELETE", f"sys/audit/{path}").status_code != 204 and time.time() < deadline:
                time.sleep(0.2)
            assert server.http("GET", "sys/mounts").status_code == 200, "the device could not be disabled"
        finally:
            back.close()


# --------------------------------------------------------------------------------------
# object-store (Coffer only: Vault and OpenBao have no such device)


def test_object_store_device_uploads_entries(coffer, moto):
    endpoint, s3 = moto
    bucket = unique("audit")
    s3.create_bucket(Bucket=bucket)
    spool = tempfile.mkdtemp(prefix="audit-spool-")
    path = unique("s3")
    r = enable(coffer, path, "object-store", {
        "bucket": bucket, "endpoint": endpoint, "region": "us-east-1",
        "access_key": "testing", "secret_key": "testing", "prefix": "coffer/",
        "spool_dir": spool, "segment_max_age": "1s",
    })
    assert r.status_code == 204, r.text
    secret_path = unique("p")
    try:
        for i in range(3):
            r = coffer.http("POST", f"secret/data/{secret_path}", json_body={"data": {"n": str(i)}})
            assert r.status_code == 200, r.text
    finally:
        # disabling closes the device: the current segment is uploaded
        disable(coffer, path)
    keys = sorted(o["Key"] for o in s3.list_objects_v2(Bucket=bucket).get("Contents", []))
    assert keys and all(k.startswith("coffer/") and k.endswith(".jsonl") for k in keys), keys
    keys.sort(key=lambda k: k.rsplit("-", 1)[1])
    lines = []
    for k in keys:
        lines += s3.get_object(Bucket=bucket, Key=k)["Body"].read().decode().splitlines()
    mine = [json.loads(l) for l in lines if f"secret/data/{secret_path}" in l]
    assert [e["type"] for e in mine] == ["request", "response"] * 3, mine
    assert not [f for f in os.listdir(spool) if ".jsonl" in f], "uploaded segments stay in the spool"


def test_object_store_segments_verify_and_name_the_tampered_one(coffer, moto):
    """`coffer audit verify -store s3://bucket/prefix` reads a device's
    segments from the store in counter order: intact as uploaded, and an
    edited line is named by its object key."""
    endpoint, s3 = moto
    bucket = unique("chain")
    s3.create_bucket(Bucket=bucket)
    path = unique("s3")
    r = enable(coffer, path, "object-store", {
        "bucket": bucket, "endpoint": endpoint, "region": "us-east-1",
        "access_key": "testing", "secret_key": "testing", "prefix": "dev/",
        "spool_dir": tempfile.mkdtemp(prefix="audit-spool-"), "segment_max_bytes": "2048",
        "checkpoint_entries": "4",
    })
    assert r.status_code == 204, r.text
    try:
        for i in range(8):
            assert coffer.http("POST", f"secret/data/{unique('v')}", json_body={"data": {"n": str(i)}}).status_code == 200
    finally:
        disable(coffer, path)  # closes the device: a final checkpoint, the last segment uploaded
    published = coffer.http("GET", f"sys/audit-checkpoint/{path}").json()["data"]
    trust = tempfile.NamedTemporaryFile("w", suffix=".json", delete=False)
    json.dump({"data": published}, trust)
    trust.close()
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket=bucket)["Contents"]]
    assert len(keys) >= 2, f"segments did not roll at 2 KiB: {keys}"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "VAULT_"))}
    env.update(AWS_ACCESS_KEY_ID="testing", AWS_SECRET_ACCESS_KEY="testing")

    def verify(*extra):
        cp = subprocess.run([COFFER_BIN, "audit", "verify", "-format=json", "-checkpoint", trust.name,
                             "-endpoint", endpoint, "-region", "us-east-1", *extra],
                            capture_output=True, text=True, timeout=60, env=env, stdin=subprocess.DEVNULL)
        return cp.returncode, cp.stdout, cp.stderr

    rc, out, err = verify("-store", f"s3://{bucket}/dev/")
    assert rc == 0, out + err
    assert json.loads(out)["intact"] is True, out

    # Edit one line of the second segment: the report names that object.
    keys.sort(key=lambda k: k.rsplit("-", 1)[1])
    victim = keys[1]
    body = s3.get_object(Bucket=bucket, Key=victim)["Body"].read().split(b"\n")
    body[0] = body[0].replace(b'"request"', b'"requesX"', 1) if b'"request"' in body[0] else body[0] + b" "
    s3.put_object(Bucket=bucket, Key=victim, Body=b"\n".join(body))
    rc, out, err = verify("-store", f"s3://{bucket}/dev/")
    rep = json.loads(out)
    assert rc == 1 and rep["intact"] is False, out + err
    assert rep["broken"]["place"]["file"] == victim and rep["broken"]["place"]["line"] == 1, rep

    # A bucket that is not there: exit 1 with an error that names it.
    missing = unique("missing")
    rc, out, err = verify("-store", f"s3://{missing}/x")
    assert rc == 1 and missing in err and "testing" not in err, out + err


def test_object_store_device_rejects_bad_options(coffer, moto):
    r = enable(coffer, unique("s3"), "object-store", {"spool_dir": tempfile.mkdtemp()})
    assert r.status_code == 400, r.text
    assert any("bucket" in e for e in r.json()["errors"]), r.text
