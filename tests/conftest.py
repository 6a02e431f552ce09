"""Black-box test harness for Coffer.

Every test talks to a real server process over loopback HTTP.  The same helper
starts either Coffer (`target/debug/coffer`, or $COFFER_BIN) or OpenBao (`bao`,
the reference implementation) so that a behavioural test can run against both:
a test that passes against bao is a test that pins real Vault/OpenBao behaviour.

Fixtures
  coffer, bao          module-scoped dev servers (in memory, unsealed, kv-v2 at secret/)
  server               module-scoped, parametrised over ["coffer", "bao"]
  coffer_sealed,
  bao_sealed           factories: config-file servers (persistent storage in a tmp dir),
                       started uninitialised and sealed
  sealed_server        the factory parametrised over both
  userpass             a fresh userpass mount on `server` (function-scoped, disabled after)

Environment
  COFFER_BIN           path to the coffer binary (default: <repo>/target/debug/coffer)
  BAO_BIN              path to bao (default: first `bao` on PATH)
  COFFER_TEST_TARGETS  comma list restricting the parametrised targets
                       (default "coffer,bao"; e.g. "bao" to check the suite itself)
"""

from __future__ import annotations

import atexit
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import uuid
from pathlib import Path

import hvac
import pytest
import requests

REPO = Path(__file__).resolve().parent.parent
COFFER_BIN = os.environ.get("COFFER_BIN") or str(REPO / "target" / "debug" / "coffer")
BAO_BIN = os.environ.get("BAO_BIN") or shutil.which("bao") or "bao"
TARGETS = [
    t.strip()
    for t in os.environ.get("COFFER_TEST_TARGETS", "coffer,bao").split(",")
    if t.strip()
]

START_TIMEOUT = 30.0

# every live server process, so an interpreter exit that skips fixture teardown
# (e.g. pytest interrupted twice) still stops them
_LIVE: set = set()


@atexit.register
def _kill_leftovers():
    for proc in list(_LIVE):
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass


# --------------------------------------------------------------------------------------
# helpers


# Ports: servers listen on ports picked at random BELOW the kernel's ephemeral range
# (ip_local_port_range), so the local ports of the suite's own client connections (and of
# their TIME_WAIT remains) never collide with them.  Picking is only a guess: another
# process may take the port between the probe and the server's bind, so every start waits
# until the listening socket on the port is the server's own (read from /proc) and starts
# again on another port when the server exits with "address already in use".

_PORT_ATTEMPTS = 10


def _ephemeral_range() -> tuple[int, int]:
    try:
        lo, hi = Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()
        return int(lo), int(hi)
    except (OSError, ValueError):
        return 32768, 60999


def _candidate_ports() -> tuple[int, int]:
    """Range to pick listen ports from: [10000, start of the ephemeral range)."""
    lo, hi = _ephemeral_range()
    if lo - 10000 >= 2000:
        return 10000, lo - 2
    if 65534 - hi >= 2000:
        return hi + 1, 65534
    return 1024, 65534


def _port_free(port: int) -> bool:
    """Bindable on 127.0.0.1 the way the servers bind (SO_REUSEADDR, as Go's and
    tokio's listeners set it, so a TIME_WAIT remain does not count as taken)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def stop_process(proc: subprocess.Popen) -> None:
    """Stop a process a test started: SIGTERM, then SIGKILL after 10 s."""
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    _LIVE.discard(proc)


def free_port() -> int:
    """A loopback port p, free now, such that p+1 is free too (bao/vault bind their
    cluster listener on listen-port + 1).  Free NOW only: start servers through
    `Server` or `spawn_listening`, which start again on another port on a conflict."""
    lo, hi = _candidate_ports()
    rng = secrets.SystemRandom()
    for _ in range(500):
        port = rng.randrange(lo, hi)
        if _port_free(port) and _port_free(port + 1):
            return port
    raise RuntimeError(f"no free loopback port pair found in {lo}-{hi} (500 tries)")


def _loopback_listen_inode(port: int) -> str | None:
    """The socket inode listening on 127.0.0.1:port (or 0.0.0.0:port), if any."""
    want = {f"0100007F:{port:04X}", f"00000000:{port:04X}"}
    try:
        lines = Path("/proc/net/tcp").read_text().splitlines()[1:]
    except OSError:
        return None
    for line in lines:
        f = line.split()
        if len(f) > 9 and f[3] == "0A" and f[1] in want:
            return f[9]
    return None


def _session_pids(sid: int) -> list[int]:
    pids = []
    for d in Path("/proc").iterdir():
        if not d.name.isdigit():
            continue
        try:
            stat = (d / "stat").read_text()
        except OSError:
            continue
        rest = stat[stat.rfind(")") + 2:].split()
        if len(rest) > 3 and rest[3] == str(sid):
            pids.append(int(d.name))
    return pids


def listener_owned(proc: subprocess.Popen, port: int) -> bool | None:
    """True when the socket listening on 127.0.0.1:port belongs to `proc` or one of its
    session (start_new_session=True); False when nobody's or someone else's; None when
    /proc cannot tell (then callers fall back to trusting the health check)."""
    if not Path("/proc/net/tcp").exists():
        return None
    inode = _loopback_listen_inode(port)
    if inode is None:
        return False
    target = f"socket:[{inode}]"
    for pid in _session_pids(proc.pid):
        try:
            fds = list(Path(f"/proc/{pid}/fd").iterdir())
        except OSError:
            continue
        for fd in fds:
            try:
                if os.readlink(fd) == target:
                    return True
            except OSError:
                continue
    return False


def bind_conflict(log_text: str) -> bool:
    """The server's own words for a port someone else holds (Go and Rust)."""
    return "address already in use" in log_text.lower()


class PortConflict(RuntimeError):
    pass


def _log_since(log_path: Path | None, offset: int) -> str:
    try:
        with open(log_path, "rb") as f:
            f.seek(offset)
            return f.read().decode(errors="replace")
    except (OSError, TypeError):
        return ""


def _log_size(log_path: Path) -> int:
    try:
        return log_path.stat().st_size
    except OSError:
        return 0


def wait_own_listener(proc: subprocess.Popen, port: int, log_path: Path | None = None,
                      timeout: float = 30.0, log_offset: int = 0) -> bool:
    """Wait until `proc` listens on 127.0.0.1:port.  False if it exits first or never
    does; PortConflict if it exits saying (in log_path past log_offset) that the address
    is in use."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            if bind_conflict(_log_since(log_path, log_offset)):
                raise PortConflict(f"port {port} taken")
            return False
        owned = listener_owned(proc, port)
        if owned or owned is None and _connectable(port):
            return True
        time.sleep(0.02)
    return False


def _connectable(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
        return True
    except OSError:
        return False


def _kill_group(proc: subprocess.Popen) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    proc.wait(timeout=10)


def spawn_listening(make, log_path: Path, timeout: float = 30.0, attempts: int = _PORT_ATTEMPTS,
                    env: dict | None = None, cwd=None) -> tuple[subprocess.Popen, int | None]:
    """Start a server on a free port, again on another one while the port turns out
    taken.  `make(port)` writes whatever config it needs and returns the argv.  The
    process runs in its own session with stdout and stderr appended to log_path (and
    `env`, `cwd` if given).
    Returns (proc, port) once proc listens there, or (proc, None) if it exited (or did not
    listen within timeout) for another reason; the caller stops proc."""
    for _ in range(attempts):
        port = free_port()
        argv = make(port)
        offset = _log_size(log_path)
        with open(log_path, "ab") as logf:
            proc = subprocess.Popen(argv, stdout=logf, stderr=subprocess.STDOUT, env=env, cwd=cwd,
                                    stdin=subprocess.DEVNULL, start_new_session=True)
        _LIVE.add(proc)
        try:
            if wait_own_listener(proc, port, log_path, timeout, offset):
                return proc, port
            return proc, None
        except PortConflict:
            _kill_group(proc)
            _LIVE.discard(proc)
    raise RuntimeError(f"no port found for {argv[0]} in {attempts} attempts (all taken)")


def unique(prefix: str = "t") -> str:
    """A path segment no other test uses (tests share servers per module)."""
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


class ServerStartError(RuntimeError):
    pass


class Server:
    """One coffer or bao server process.

    mode="dev":    `<bin> server -dev -dev-root-token-id=... -dev-listen-address=...`
    mode="config": `<bin> server -config <tmp>/server.hcl` with persistent storage in
                   <tmp>/data; starts uninitialised and sealed.
    """

    def __init__(self, kind: str, mode: str = "dev", workdir: str | None = None,
                 listener_extra: str = ""):
        assert kind in ("coffer", "bao"), kind
        assert mode in ("dev", "config"), mode
        self.kind = kind
        self.mode = mode
        self.workdir = Path(workdir or tempfile.mkdtemp(prefix=f"{kind}-{mode}-"))
        self._own_workdir = workdir is None
        self._set_port(free_port())
        # one keep-alive connection pool per server for every helper request and every
        # hvac client: a connection per request left thousands of TIME_WAIT sockets
        self.session = requests.Session()
        self.root_token: str | None = None
        self.unseal_keys: list[str] = []
        self.proc: subprocess.Popen | None = None
        self.log_path = self.workdir / "server.log"
        self.listener_extra = listener_extra
        if kind == "coffer":
            self.bin = COFFER_BIN
        else:
            self.bin = BAO_BIN
        if mode == "dev":
            self.root_token = f"root-{secrets.token_hex(8)}"
        else:
            self._write_config()

    # ---- process management ---------------------------------------------------------

    def _set_port(self, port: int) -> None:
        self.port = port
        self.addr = f"http://127.0.0.1:{port}"

    def _write_config(self) -> None:
        data = self.workdir / "data"
        data.mkdir(exist_ok=True)
        if self.kind == "bao":
            # OpenBao 2.x removed the "file" storage backend; raft is its persistent
            # single-node storage.  Coffer is tested with Vault's `storage "file"`.
            storage = (
                f'storage "raft" {{\n  path = "{data}"\n  node_id = "node1"\n  performance_multiplier = 1\n}}\n'
                f'cluster_addr = "http://127.0.0.1:{self.port + 1}"\n'
            )
        else:
            storage = f'storage "file" {{\n  path = "{data}"\n}}\n'
        cfg = (
            storage
            + 'listener "tcp" {\n'
            + f'  address = "127.0.0.1:{self.port}"\n'
            + f'  cluster_address = "127.0.0.1:{self.port + 1}"\n'
            + "  tls_disable = true\n"
            + (self.listener_extra.rstrip() + "\n" if self.listener_extra else "")
            + "}\n"
            + f'api_addr = "{self.addr}"\n'
            # mlock needs root or CAP_IPC_LOCK; test_server_startup.py covers it on its own.
            + ("disable_mlock = true\n" if self.kind == "coffer" else "")
        )
        self.config_path = self.workdir / "server.hcl"
        self.config_path.write_text(cfg)

    def argv(self) -> list[str]:
        if self.mode == "dev":
            return [
                self.bin, "server", "-dev",
                f"-dev-root-token-id={self.root_token}",
                f"-dev-listen-address=127.0.0.1:{self.port}",
            ]
        return [self.bin, "server", f"-config={self.config_path}"]

    def start(self) -> "Server":
        """Start the process and wait until it answers.  HOME is the server's workdir,
        so a dev server's ~/.vault-token (Vault, OpenBao and Coffer write one) never
        touches the real one.  When the port turns out taken (the server exits with
        "address already in use"), start again: on the same port for a restart (the
        data and clients know it), on another port otherwise."""
        if not Path(self.bin).exists() and shutil.which(self.bin) is None:
            raise ServerStartError(f"{self.kind} binary not found: {self.bin}")
        restart = getattr(self, "_started", False)
        for attempt in range(_PORT_ATTEMPTS):
            try:
                self._spawn()
                self._wait_listening()
                self._started = True
                return self
            except PortConflict:
                _kill_group(self.proc)
                _LIVE.discard(self.proc)
                self.proc = None
                if restart and attempt < 3:
                    time.sleep(0.5)
                    continue
                self._set_port(free_port())
                if self.mode == "config":
                    self._write_config()
        raise ServerStartError(f"{self.kind}: every port tried was taken ({_PORT_ATTEMPTS} attempts)")

    def _spawn(self) -> None:
        env = {k: v for k, v in os.environ.items()
               if not k.startswith(("VAULT_", "BAO_"))}
        env["HOME"] = str(self.workdir)
        self._log_offset = _log_size(self.log_path)
        with open(self.log_path, "ab") as logf:
            self.proc = subprocess.Popen(
                self.argv(), stdout=logf, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                cwd=self.workdir, env=env, start_new_session=True,
            )
        _LIVE.add(self.proc)

    def _wait_listening(self) -> None:
        want_active = self.mode == "dev"
        deadline = time.monotonic() + START_TIMEOUT
        # first: the socket on our port is this process's (not someone else's server that
        # would answer /v1/sys/health just as well)
        if not wait_own_listener(self.proc, self.port, self.log_path, START_TIMEOUT, self._log_offset):
            if self.proc.poll() is None:
                self.stop()
                raise ServerStartError(f"{self.kind} did not listen on {self.port} within "
                                       f"{START_TIMEOUT}s:\n{self.log_tail()}")
            raise ServerStartError(
                f"{self.kind} exited with {self.proc.returncode} before listening:\n{self.log_tail()}")
        last = None
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                if bind_conflict(_log_since(self.log_path, self._log_offset)):
                    raise PortConflict(f"port {self.port} or {self.port + 1} taken")
                raise ServerStartError(
                    f"{self.kind} exited with {self.proc.returncode} before answering "
                    f"/v1/sys/health:\n{self.log_tail()}")
            try:
                r = self.session.get(self.addr + "/v1/sys/health", timeout=2)
                last = r.status_code
                if not want_active or r.status_code == 200:
                    return
            except requests.RequestException as e:
                last = e
            time.sleep(0.05)
        self.stop()
        raise ServerStartError(
            f"{self.kind} did not answer /v1/sys/health within {START_TIMEOUT}s "
            f"(last: {last}):\n{self.log_tail()}")

    def wait_active(self, timeout: float = START_TIMEOUT) -> None:
        """Wait until sys/health says active (200): unsealed and, for raft, leader."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                if self.session.get(self.addr + "/v1/sys/health", timeout=2).status_code == 200:
                    return
            except requests.RequestException:
                pass
            time.sleep(0.05)
        raise AssertionError(f"{self.kind} never became active:\n{self.log_tail()}")

    def log_tail(self, n: int = 40) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-n:])
        except OSError:
            return "<no log>"

    def stop(self, sig: int = signal.SIGTERM) -> None:
        """Stop the whole process group; escalate to SIGKILL."""
        if self.proc is None:
            return
        try:
            os.killpg(self.proc.pid, sig)
        except ProcessLookupError:
            pass
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            self.proc.wait(timeout=10)
        _LIVE.discard(self.proc)
        self.proc = None
        self.session.close()  # pooled connections died with the process

    def kill(self) -> None:
        """SIGKILL the process group (crash simulation)."""
        self.stop(signal.SIGKILL)

    def restart(self) -> "Server":
        self.stop()
        return self.start()

    def cleanup(self) -> None:
        self.stop()
        if self._own_workdir:
            shutil.rmtree(self.workdir, ignore_errors=True)

    # ---- clients --------------------------------------------------------------------

    def client(self, token: str | None = None) -> hvac.Client:
        return hvac.Client(url=self.addr, token=token if token is not None else self.root_token,
                           timeout=30, session=self.session)

    def env(self, token: str | None = None) -> dict:
        """Environment for running a Vault-compatible CLI (bao) against this server."""
        env = {k: v for k, v in os.environ.items() if not k.startswith(("VAULT_", "BAO_"))}
        tok = token if token is not None else (self.root_token or "")
        env.update({
            "VAULT_ADDR": self.addr, "BAO_ADDR": self.addr,
            "VAULT_TOKEN": tok, "BAO_TOKEN": tok,
            "NO_COLOR": "1", "HOME": str(self.workdir),
        })
        return env

    def http(self, method: str, path: str, token: str | None | bool = True, json_body=None,
             data=None, headers: dict | None = None, params=None) -> requests.Response:
        """Raw request to /v1/<path>.  token=True → root token, None/False → no token."""
        h = dict(headers or {})
        if token is True:
            token = self.root_token
        if token:
            h.setdefault("X-Vault-Token", token)
        url = self.addr + "/v1/" + path.lstrip("/")
        return self.session.request(method, url, json=json_body, data=data, headers=h,
                                    params=params, timeout=30)

    # ---- init / unseal --------------------------------------------------------------

    def init(self, shares: int = 3, threshold: int = 2) -> dict:
        r = self.http("PUT", "sys/init", token=None,
                      json_body={"secret_shares": shares, "secret_threshold": threshold})
        assert r.status_code == 200, (r.status_code, r.text)
        body = r.json()
        self.root_token = body["root_token"]
        self.unseal_keys = body["keys"]
        return body

    def unseal(self, keys: list[str] | None = None) -> dict:
        body = None
        for k in keys if keys is not None else self.unseal_keys:
            r = self.http("PUT", "sys/unseal", token=None, json_body={"key": k})
            assert r.status_code == 200, (r.status_code, r.text)
            body = r.json()
            if not body["sealed"]:
                break
        assert body is not None and body["sealed"] is False, body
        self.wait_active()
        return body


def start_server(kind: str, mode: str = "dev", **kw) -> Server:
    return Server(kind, mode, **kw).start()


# --------------------------------------------------------------------------------------
# fixtures


def _dev(kind):
    srv = Server(kind, "dev")
    try:
        srv.start()
    except BaseException:
        srv.cleanup()
        raise
    return srv


@pytest.fixture(scope="module")
def coffer():
    srv = _dev("coffer")
    yield srv
    srv.cleanup()


@pytest.fixture(scope="module")
def bao():
    srv = _dev("bao")
    yield srv
    srv.cleanup()


@pytest.fixture(scope="module", params=TARGETS)
def server(request) -> Server:
    """A dev server of each kind; tests using it run against coffer AND bao."""
    return request.getfixturevalue(request.param)


class _Factory:
    def __init__(self, kind):
        self.kind = kind
        self.servers: list[Server] = []

    def __call__(self, listener_extra: str = "", start: bool = True) -> Server:
        srv = Server(self.kind, "config", listener_extra=listener_extra)
        self.servers.append(srv)
        if start:
            srv.start()
        return srv

    def cleanup(self):
        for s in self.servers:
            s.cleanup()


@pytest.fixture
def coffer_sealed():
    f = _Factory("coffer")
    yield f
    f.cleanup()


@pytest.fixture
def bao_sealed():
    f = _Factory("bao")
    yield f
    f.cleanup()


@pytest.fixture
def userpass(server):
    """A fresh userpass mount on `server`, disabled again afterwards (which revokes
    every token its logins issued). Yields its path."""
    mount = unique("up")
    assert_status(server.http("POST", f"sys/auth/{mount}", json_body={"type": "userpass"}), 204)
    yield mount
    assert_status(server.http("DELETE", f"sys/auth/{mount}"), 204)


@pytest.fixture(params=TARGETS)
def sealed_server(request):
    """Factory for config-file servers of each kind (uninitialised, sealed)."""
    return request.getfixturevalue(f"{request.param}_sealed")


# --------------------------------------------------------------------------------------
# shared assertion helpers (importable as `from conftest import ...`)

PERMISSION_DENIED = "1 error occurred:\n\t* permission denied\n\n"


def errors_of(resp: requests.Response) -> list:
    body = resp.json()
    assert isinstance(body, dict) and "errors" in body, f"no errors key: {resp.text!r}"
    assert isinstance(body["errors"], list), body
    return body["errors"]


def assert_status(resp: requests.Response, *codes: int) -> requests.Response:
    assert resp.status_code in codes, (
        f"{resp.request.method} {resp.request.url}: expected {codes}, got "
        f"{resp.status_code}: {resp.text[:500]}")
    return resp


def create_token(srv: Server, policies=None, **extra) -> dict:
    body = dict(extra)
    if policies is not None:
        body["policies"] = policies
    r = assert_status(srv.http("POST", "auth/token/create", json_body=body), 200)
    return r.json()["auth"]


def write_policy(srv: Server, name: str, text: str) -> None:
    assert_status(srv.http("PUT", f"sys/policies/acl/{name}", json_body={"policy": text}), 204, 200)


def run_cli(srv: Server, *args, token: str | None = None, check: bool = True,
            input: str | None = None) -> subprocess.CompletedProcess:
    cp = subprocess.run([BAO_BIN, *args], env=srv.env(token), capture_output=True, text=True,
                        timeout=60, input=input, stdin=None if input is not None else subprocess.DEVNULL)
    if check:
        assert cp.returncode == 0, f"bao {' '.join(args)} -> {cp.returncode}\n{cp.stdout}\n{cp.stderr}"
    return cp


def cli_json(srv: Server, command: list[str], *args, token: str | None = None):
    """Run `bao <command...> -format=json <args...>` and parse stdout."""
    cp = run_cli(srv, *command, "-format=json", *args, token=token)
    return json.loads(cp.stdout) if cp.stdout.strip() else None


def enable_kv2(srv: Server, path: str, timeout: float = 30.0) -> None:
    """Enable a kv-v2 mount and wait until it serves requests.

    A freshly mounted kv-v2 (Vault and OpenBao) may answer 400 "Upgrading from
    non-versioned to versioned data..." for a brief period.
    """
    assert_status(srv.http("POST", f"sys/mounts/{path}",
                           json_body={"type": "kv", "options": {"version": "2"}}), 204)
    deadline = time.monotonic() + timeout
    while True:
        r = srv.http("GET", f"{path}/config")
        if r.status_code == 200:
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"kv-v2 mount {path} not ready: {r.status_code} {r.text}")
        time.sleep(0.05)
