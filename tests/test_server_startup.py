"""`coffer server` start-up: config errors stop it with file:line:key, TLS listeners
serve real clients over rustls, and a TLS listener without certificate files is a
start-up error. These pin Coffer's own behaviour (Vault's is the same in spirit:
a bad config stops the server), so they run against Coffer only."""
from __future__ import annotations

import subprocess
import time
from pathlib import Path

import hvac
import pytest
import requests

from conftest import COFFER_BIN, free_port, spawn_listening, stop_process


def run_with_config(tmp_path: Path, text: str, name: str = "server.hcl", timeout: float = 15):
    cfg = tmp_path / name
    cfg.write_text(text)
    return subprocess.run([COFFER_BIN, "server", f"-config={cfg}"], capture_output=True, text=True,
                          timeout=timeout), cfg


def spawn(cfg: Path, text, log: Path) -> tuple[subprocess.Popen, int | None]:
    """Write `text(port)` to cfg and start `coffer server -config=cfg` in its own
    session, logging to `log`; on a port someone else holds, again on another port.
    Returns (proc, port), port None when the server exited (or never listened)."""
    def make(port):
        cfg.write_text(text(port))
        return [COFFER_BIN, "server", f"-config={cfg}"]
    return spawn_listening(make, log, timeout=20)


def test_unknown_key_names_file_line_key(tmp_path):
    """An unknown key stops start-up; the message names the file, the line and the key."""
    port = free_port()
    res, cfg = run_with_config(tmp_path, f'storage "inmem" {{}}\nlistener "tcp" {{\n  address = "127.0.0.1:{port}"\n'
                                         f'  tls_disable = true\n  tls_cert = "x"\n}}\n')
    assert res.returncode != 0
    assert f"{cfg}:5" in res.stderr and "tls_cert" in res.stderr, res.stderr


def test_bad_value_names_key(tmp_path):
    """A bad duration names the key and the line."""
    port = free_port()
    res, cfg = run_with_config(tmp_path, f'storage "inmem" {{}}\nlistener "tcp" {{\n  address = "127.0.0.1:{port}"\n'
                                         f'  tls_disable = true\n}}\nmax_lease_ttl = "5x"\n')
    assert res.returncode != 0
    assert f"{cfg}:6" in res.stderr and "max_lease_ttl" in res.stderr, res.stderr


def test_tls_without_cert_files_is_startup_error(tmp_path):
    """Without tls_disable = true a listener needs tls_cert_file and tls_key_file."""
    port = free_port()
    res, _ = run_with_config(tmp_path, f'storage "inmem" {{}}\nlistener "tcp" {{\n  address = "127.0.0.1:{port}"\n}}\n')
    assert res.returncode != 0
    assert "tls_cert_file" in res.stderr, res.stderr


def _vm_locked_kb(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmLck:"):
            return int(line.split()[1])
    return 0


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="needs Linux /proc")
def test_mlock_unless_disabled(tmp_path):
    """Without `disable_mlock = true` the server locks its memory (VmLck > 0), as Vault
    does, or refuses to start with a message naming `disable_mlock` when it cannot;
    with `disable_mlock = true` nothing is locked."""
    import os
    for disable in (False, True):
        cfg = tmp_path / f"mlock-{disable}.hcl"
        log = tmp_path / f"mlock-{disable}.log"
        proc, port = spawn(cfg, lambda port: f'storage "inmem" {{}}\nlistener "tcp" {{\n  address = "127.0.0.1:{port}"\n'
                           f'  tls_disable = true\n}}\n' + ("disable_mlock = true\n" if disable else ""), log)
        up = port is not None
        try:
            if not disable and not up:
                text = log.read_text()
                assert proc.poll() not in (None, 0) and "disable_mlock" in text, text
                assert os.geteuid() != 0, "root can always mlock: the server should have started"
                continue
            assert up, "server did not start"
            locked = _vm_locked_kb(proc.pid)
            assert (locked > 0) != disable, (disable, locked)
        finally:
            stop_process(proc)


def _self_signed(tmp_path: Path) -> tuple[Path, Path]:
    cert, key = tmp_path / "tls.crt", tmp_path / "tls.key"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
                    "-nodes", "-keyout", str(key), "-out", str(cert), "-days", "1", "-subj", "/CN=localhost",
                    "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost"],
                   check=True, capture_output=True)
    return cert, key


def test_tls_listener_serves_hvac(tmp_path):
    """A TLS listener (rustls) serves the API: hvac verifies the certificate, init and
    unseal over HTTPS, and a plain-HTTP request to it gets Vault's 400 (no API answer)."""
    cert, key = _self_signed(tmp_path)
    proc, port = spawn(tmp_path / "tls.hcl", lambda port: f'storage "file" {{\n  path = "{tmp_path / "data"}"\n}}\n'
                       f'listener "tcp" {{\n  address = "127.0.0.1:{port}"\n  tls_cert_file = "{cert}"\n'
                       f'  tls_key_file = "{key}"\n}}\n', tmp_path / "server.log")
    try:
        assert port, (tmp_path / "server.log").read_text()
        addr = f"https://127.0.0.1:{port}"
        client = hvac.Client(url=addr, verify=str(cert))
        status = client.sys.read_seal_status()
        assert status["initialized"] is False and status["sealed"] is True
        init = client.sys.initialize(secret_shares=1, secret_threshold=1)
        assert client.sys.submit_unseal_key(init["keys"][0])["sealed"] is False
        client.token = init["root_token"]
        assert client.sys.read_health_status(method="GET")["sealed"] is False
        with pytest.raises(requests.exceptions.SSLError):
            requests.get(f"{addr}/v1/sys/health", verify=True, timeout=5)  # not a trusted CA
        # Plain HTTP to the TLS port: Go's (so Vault's) answer, and the listener goes on.
        r = requests.get(f"http://127.0.0.1:{port}/v1/sys/health", timeout=5)
        assert (r.status_code, r.text) == (400, "Client sent an HTTP request to an HTTPS server.\n")
        assert client.sys.read_health_status(method="GET")["sealed"] is False
    finally:
        stop_process(proc)


def test_tls_min_version_tls13_refuses_tls12(tmp_path):
    """`tls_min_version = "tls13"` is enforced: a TLS 1.2-only client cannot connect,
    a TLS 1.3 client can; without it TLS 1.2 is accepted."""
    import socket
    import ssl
    cert, key = _self_signed(tmp_path)

    def handshake(port: int, version: ssl.TLSVersion) -> bool:
        ctx = ssl.create_default_context(cafile=str(cert))
        ctx.minimum_version = ctx.maximum_version = version
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=5) as raw:
                with ctx.wrap_socket(raw, server_hostname="localhost"):
                    return True
        except ssl.SSLError:
            return False

    for min_version, tls12_ok in (('tls_min_version = "tls13"\n', False), ("", True)):
        proc, port = spawn(tmp_path / f"tls-{tls12_ok}.hcl",
                           lambda port: f'storage "inmem" {{}}\ndisable_mlock = true\nlistener "tcp" {{\n'
                           f'  address = "127.0.0.1:{port}"\n  tls_cert_file = "{cert}"\n  tls_key_file = "{key}"\n'
                           f'  {min_version}}}\n', tmp_path / f"tls-{tls12_ok}.log")
        try:
            assert port, "server did not start"
            assert handshake(port, ssl.TLSVersion.TLSv1_3)
            assert handshake(port, ssl.TLSVersion.TLSv1_2) is tls12_ok
        finally:
            stop_process(proc)


def test_pid_file_and_json_logs(tmp_path):
    """`pid_file` holds the server's pid while it runs and is removed on shutdown;
    `log_format = "json"` makes every log line a JSON object."""
    import json
    pid_file = tmp_path / "coffer.pid"
    log = tmp_path / "p.log"
    proc, port = spawn(tmp_path / "p.hcl", lambda port: f'storage "inmem" {{}}\ndisable_mlock = true\npid_file = "{pid_file}"\nlog_format = "json"\n'
                       f'log_level = "debug"\nlistener "tcp" {{\n  address = "127.0.0.1:{port}"\n  tls_disable = true\n}}\n', log)
    try:
        assert port, log.read_text()
        requests.get(f"http://127.0.0.1:{port}/v1/sys/health", timeout=5)  # one logged request
        assert pid_file.read_text().strip() == str(proc.pid)
    finally:
        stop_process(proc)
    assert not pid_file.exists()
    lines = [line for line in log.read_text().splitlines() if line.startswith("{")]
    assert lines, log.read_text()
    for line in lines:
        assert "level" in json.loads(line)


def test_slow_headers_are_cut_off(tmp_path):
    """A client that starts a request but does not finish its headers within the
    listener's `http_read_header_timeout` (Vault's option, default 10s) is disconnected,
    so slow-header clients cannot hold connections open; a normal client is served."""
    import socket
    proc, port = spawn(tmp_path / "slow.hcl", lambda port: f'storage "inmem" {{}}\ndisable_mlock = true\nlistener "tcp" {{\n  address = "127.0.0.1:{port}"\n'
                       f'  tls_disable = true\n  http_read_header_timeout = "1s"\n}}\n', tmp_path / "slow.log")
    try:
        assert port, "server did not start"
        with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
            s.sendall(b"GET /v1/sys/health HTTP/1.1\r\nHost: x\r\n")  # no blank line: headers unfinished
            started = time.time()
            data = b""
            while True:
                chunk = s.recv(4096)
                if not chunk:
                    break
                data += chunk
            waited = time.time() - started
        assert 0.5 < waited < 6, waited
        assert b"200 OK" not in data, data
        assert requests.get(f"http://127.0.0.1:{port}/v1/sys/health", timeout=5).status_code == 501
    finally:
        stop_process(proc)
