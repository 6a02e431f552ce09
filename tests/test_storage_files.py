"""The storage directory on disk (issue 8, items 10 and 15).

* A config that cannot start (missing TLS files, a listener address in use) fails
  before storage is touched: no data directory, no `coffer.redb` is left behind.
* The data directory is created 0700 and the database file 0600, as OpenBao does
  (the file holds the encrypted keyring and every secret's ciphertext); an existing
  directory or file that group/others can read is named in a warning at start.

Coffer's own behaviour (OpenBao 2 has no `file` storage; its raft store is 0600 in a
0700 directory too), so these run against Coffer only.
"""
from __future__ import annotations

import os
import socket
import stat
import subprocess

from conftest import COFFER_BIN, free_port, stop_process
from test_server_startup import spawn


def _config(data, port, tls=False):
    listener = f'  address = "127.0.0.1:{port}"\n'
    if tls:
        listener += '  tls_cert_file = "/nonexistent/tls.crt"\n  tls_key_file = "/nonexistent/tls.key"\n'
    else:
        listener += "  tls_disable = true\n"
    return f'storage "file" {{\n  path = "{data}"\n}}\nlistener "tcp" {{\n{listener}}}\ndisable_mlock = true\n'


def _run(tmp_path, text):
    cfg = tmp_path / "server.hcl"
    cfg.write_text(text)
    return subprocess.run([COFFER_BIN, "server", f"-config={cfg}"], capture_output=True, text=True, timeout=20)


def test_missing_tls_files_leave_no_storage_behind(tmp_path):
    data = tmp_path / "data"
    res = _run(tmp_path, _config(data, free_port(), tls=True))
    assert res.returncode != 0
    assert "tls_cert_file" in res.stderr and "/nonexistent/tls.crt" in res.stderr, res.stderr
    assert not data.exists(), list(data.iterdir())


def test_busy_listener_address_leaves_no_storage_behind(tmp_path):
    data = tmp_path / "data"
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen(1)
        res = _run(tmp_path, _config(data, busy.getsockname()[1]))
    assert res.returncode != 0
    assert "error initializing listener" in res.stderr, res.stderr
    assert not data.exists()


def _mode(p):
    return stat.S_IMODE(os.stat(p).st_mode)


def test_data_directory_and_file_are_private(tmp_path):
    data = tmp_path / "nested" / "data"
    old = os.umask(0o022)  # a typical umask: without care the file would be 0644
    try:
        proc, port = spawn(tmp_path / "server.hcl", lambda port: _config(data, port), tmp_path / "server.log")
    finally:
        os.umask(old)
    try:
        assert port is not None, (tmp_path / "server.log").read_text()
        assert _mode(data) == 0o700
        assert _mode(data / "coffer.redb") == 0o600
    finally:
        stop_process(proc)


def test_an_open_data_directory_is_warned_about(tmp_path):
    data = tmp_path / "data"
    data.mkdir(mode=0o755)
    os.chmod(data, 0o755)
    proc, port = spawn(tmp_path / "server.hcl", lambda port: _config(data, port), tmp_path / "server.log")
    try:
        assert port is not None, (tmp_path / "server.log").read_text()
    finally:
        stop_process(proc)
    text = (tmp_path / "server.log").read_text()
    assert "mode 0755" in text and str(data) in text, text
    # the new database file inside it is still created private
    assert _mode(data / "coffer.redb") == 0o600
