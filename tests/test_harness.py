"""The harness itself (conftest.py): servers start on loopback ports that other
processes crowd, talk to their own process and nobody else's, reuse connections,
and run with a private HOME; scripts/test.sh runs pytest from its own virtual
environment.  A failure here makes the rest of the suite flaky, so it is pinned."""

from __future__ import annotations

import http.server
import os
import socket
import sys
import threading
from pathlib import Path

import pytest

import conftest
from conftest import TARGETS, Server, assert_status, listener_owned

REPO = Path(__file__).resolve().parent.parent


class _Healthy(http.server.BaseHTTPRequestHandler):
    """A foreign "server" that answers every GET with 200 {}: a health check alone
    cannot tell it from ours."""

    def do_GET(self):  # noqa: N802
        body = b"{}"
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture
def foreign_http():
    """An unrelated HTTP server on a loopback port (like `python -m http.server`)."""
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Healthy)
    t = threading.Thread(target=srv.serve_forever, daemon=True)
    t.start()
    yield srv.server_address[1]
    srv.shutdown()
    srv.server_close()


@pytest.mark.parametrize("kind", TARGETS)
def test_server_starts_on_another_port_when_its_port_is_taken(kind, foreign_http, monkeypatch):
    """The port picked for a server is taken by someone else before the server binds it
    (the race every pick-then-bind harness has): the server is started again on another
    port, and the harness talks to its own process, not to the foreign one that answers
    /v1/sys/health with 200 just as well."""
    real = conftest.free_port
    handed = []

    def racy_free_port():
        handed.append(foreign_http if not handed else real())
        return handed[-1]

    monkeypatch.setattr(conftest, "free_port", racy_free_port)
    srv = Server(kind, "dev")
    try:
        srv.start()
        assert srv.port != foreign_http and len(handed) >= 2, handed
        assert srv.proc.poll() is None
        assert listener_owned(srv.proc, srv.port) is True
        # the root token only our server knows works: this is our server
        look = assert_status(srv.http("GET", "auth/token/lookup-self"), 200).json()
        assert look["data"]["id"] == srv.root_token
        assert srv.client().sys.read_health_status(method="GET")["sealed"] is False
    finally:
        srv.cleanup()


def test_config_server_restarts_elsewhere_when_port_taken(foreign_http, monkeypatch):
    """Same for a config-file server: the config is written again for the new port."""
    real = conftest.free_port
    handed = []

    def racy_free_port():
        handed.append(foreign_http if not handed else real())
        return handed[-1]

    monkeypatch.setattr(conftest, "free_port", racy_free_port)
    srv = Server("coffer", "config")
    try:
        srv.start()
        assert srv.port != foreign_http
        assert f"127.0.0.1:{srv.port}" in srv.config_path.read_text()
        assert srv.http("GET", "sys/seal-status", token=None).json()["initialized"] is False
    finally:
        srv.cleanup()


def test_free_port_ignores_time_wait_and_avoids_ephemeral_range():
    """A port with only a TIME_WAIT remain is free for a server (both servers bind with
    SO_REUSEADDR), so the probe must not count it as taken; and picked ports lie below
    the kernel's ephemeral range, where the suite's own client sockets live."""
    lo, _hi = conftest._ephemeral_range()
    # make a TIME_WAIT on a candidate port: the listening side closes first
    port = conftest.free_port()
    lst = socket.socket()
    lst.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    lst.bind(("127.0.0.1", port))
    lst.listen()
    cli = socket.create_connection(("127.0.0.1", port))
    acc, _ = lst.accept()
    acc.close()          # server side closes first -> TIME_WAIT on 127.0.0.1:port
    cli.recv(1)
    cli.close()
    lst.close()
    assert conftest._port_free(port), "a TIME_WAIT remain must not make a port look taken"
    picks = [conftest.free_port() for _ in range(50)]
    if lo - 10000 >= 2000:
        assert all(10000 <= p < lo - 1 for p in picks), picks


def test_many_starts_while_ports_are_crowded(tmp_path):
    """Bounded crowding: 300 foreign listeners on random candidate ports, and 8 servers
    started in turn all come up on ports of their own."""
    lo, hi = conftest._candidate_ports()
    crowd = []
    try:
        while len(crowd) < 300:
            s = socket.socket()
            try:
                s.bind(("127.0.0.1", conftest.free_port()))
                s.listen()
                crowd.append(s)
            except OSError:
                s.close()
        taken = {s.getsockname()[1] for s in crowd}
        for _ in range(8):
            srv = Server("coffer", "dev")
            try:
                srv.start()
                assert srv.port not in taken and listener_owned(srv.proc, srv.port)
            finally:
                srv.cleanup()
    finally:
        for s in crowd:
            s.close()


def test_helper_requests_reuse_one_connection(coffer):
    """Server.http and Server.client share one keep-alive pool: 50 requests open one
    connection, not 50 (each closed connection leaves a TIME_WAIT socket)."""
    coffer.session.close()
    for _ in range(25):
        assert_status(coffer.http("GET", "sys/health"), 200)
        coffer.client().sys.read_health_status(method="GET")
    pools = coffer.session.get_adapter(coffer.addr).poolmanager.pools
    opened = sum(pools[k].num_connections for k in pools.keys())
    assert opened == 1, opened


def test_dev_servers_run_with_private_home(server):
    """Dev servers write ~/.vault-token (Vault, OpenBao, Coffer): the harness runs
    them with HOME in their own workdir, so the machine's real token file is never
    overwritten."""
    token_file = server.workdir / ".vault-token"
    assert token_file.read_text().strip() == server.root_token
    env = dict(os.environ)
    real_home = Path(env.get("HOME", "/nonexistent"))
    assert server.workdir.resolve() != real_home.resolve()


def test_pytest_runs_in_the_test_venv():
    """scripts/test.sh runs pytest with the interpreter of the virtual environment it
    creates (never a global python3 that pip would change); PYTHON=... overrides it
    and is then what runs.  scripts/test.sh exports COFFER_TEST_PYTHON for this check."""
    want = os.environ.get("COFFER_TEST_PYTHON")
    if want is None:
        pytest.skip("not run through scripts/test.sh")
    assert Path(sys.executable).resolve() == Path(want).resolve() or sys.executable == want
    if os.environ.get("COFFER_TEST_VENV"):
        assert sys.prefix != sys.base_prefix, "pytest is not running inside a virtual environment"
        assert Path(sys.prefix).resolve() == Path(os.environ["COFFER_TEST_VENV"]).resolve()
