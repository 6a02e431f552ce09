"""Run hvac's own integration tests against Coffer or OpenBao.

hvac's source distribution (the pinned version below, checked by sha256) ships its test
suite: tests/integration_tests, tests/utils/server_manager.py (starts `vault server
-config=<file>` per test class, initialises and unseals it through the API and uses the
root token) and tests/config_files (the TLS certificates and vault-tls.hcl).  Nothing of
it is kept in this repository: the sdist is downloaded with pip at test time into
tests/.cache/hvac-suite/ (or taken from $COFFER_HVAC_SDIST), unpacked afresh into a
temporary directory for every run, and run there with pytest, with a `vault` shim
(vault_shim.py) first on PATH that runs `coffer` or `bao`.

Used by tests/test_hvac_suite.py.  Run alone, it shows hvac's own pytest output:

    python tests/hvac_suite/harness.py --target coffer              # the selected modules
    python tests/hvac_suite/harness.py --target bao -- -x -k kv_v2  # extra pytest args
    python tests/hvac_suite/harness.py --target coffer -- tests/integration_tests/api/auth_methods/test_token.py
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
sys.path.insert(0, str(HERE))

from selection import MODULES  # noqa: E402

HVAC_VERSION = "2.4.0"  # must match tests/requirements.txt
SDIST_NAME = f"hvac-{HVAC_VERSION}.tar.gz"
SDIST_SHA256 = "e0056ad9064e7923e874e6769015b032580b639e29246f5ab1044f7959c1c7e0"
CACHE = Path(os.environ.get("COFFER_HVAC_CACHE") or REPO / "tests" / ".cache" / "hvac-suite")

# what hvac's test modules and tests/utils import beyond hvac, requests and pytest
# (pinned in tests/hvac_suite/requirements.txt)
EXTRA_IMPORTS = ["parameterized", "hcl", "flask", "flask_sqlalchemy", "authlib", "jwcrypto"]

# a whole run of the selection takes about 35 s per server on 2 cores
RUN_TIMEOUT = float(os.environ.get("COFFER_HVAC_TIMEOUT", "600"))


class SuiteUnavailable(Exception):
    """The sdist or the suite's Python packages cannot be had: the suite cannot run."""


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 16), b""):
            h.update(chunk)
    return h.hexdigest()


def sdist(python: str = sys.executable) -> Path:
    """The verified hvac sdist: $COFFER_HVAC_SDIST, the cached copy, or a fresh pip download."""
    given = os.environ.get("COFFER_HVAC_SDIST")
    if given:
        path = Path(given)
        if not path.is_file() or _sha256(path) != SDIST_SHA256:
            raise SuiteUnavailable(f"COFFER_HVAC_SDIST={given} is not {SDIST_NAME} (sha256 {SDIST_SHA256})")
        return path
    cached = CACHE / SDIST_NAME
    if cached.is_file() and _sha256(cached) == SDIST_SHA256:
        return cached
    CACHE.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=CACHE) as tmp:
        proc = subprocess.run(
            [python, "-m", "pip", "download", "--quiet", "--disable-pip-version-check", "--no-deps",
             "--no-binary", ":all:", f"hvac=={HVAC_VERSION}", "-d", tmp],
            capture_output=True, text=True, timeout=300,
        )
        got = Path(tmp) / SDIST_NAME
        if proc.returncode != 0 or not got.is_file():
            raise SuiteUnavailable(f"pip download hvac=={HVAC_VERSION} failed: {proc.stderr.strip()[-2000:]}")
        digest = _sha256(got)
        if digest != SDIST_SHA256:
            raise SuiteUnavailable(f"{SDIST_NAME} from the registry has sha256 {digest}, expected {SDIST_SHA256}")
        os.replace(got, cached)
    return cached


def missing_extras(python: str) -> list[str]:
    code = (
        "import importlib.util, sys\n"
        "print(' '.join(m for m in sys.argv[1:] if importlib.util.find_spec(m) is None))\n"
    )
    proc = subprocess.run([python, "-c", code, *EXTRA_IMPORTS], capture_output=True, text=True, timeout=60)
    if proc.returncode != 0:
        return EXTRA_IMPORTS
    return proc.stdout.split()


class Workdir:
    """A fresh unpacked copy of the sdist with the `vault` shim, removed on exit.

    Each run gets its own: hvac writes its generated server configs into the tree
    (tests/config_files/generated/), so two runs must not share one."""

    def __init__(self, target: str, server_bin: str, python: str):
        self.target, self.server_bin, self.python = target, server_bin, python

    def __enter__(self) -> "Workdir":
        self.tmp = Path(tempfile.mkdtemp(prefix=f"hvac-suite-{self.target}-"))
        with tarfile.open(sdist(self.python)) as tar:
            tar.extractall(self.tmp, filter="data")
        self.root = self.tmp / f"hvac-{HVAC_VERSION}"
        self.logs = self.tmp / "server-logs"
        self.logs.mkdir()
        (self.tmp / "home").mkdir()
        bindir = self.tmp / "bin"
        bindir.mkdir()
        shim = bindir / "vault"
        shim.write_text(f'#!/bin/sh\nexec "{self.python}" "{HERE / "vault_shim.py"}" "$@"\n')
        shim.chmod(0o755)
        self.env = dict(os.environ)
        self.env.update(
            PATH=f"{bindir}{os.pathsep}{os.environ.get('PATH', '')}",
            HOME=str(self.tmp / "home"),
            HVAC_SHIM_TARGET=self.target,
            HVAC_SHIM_SERVER_BIN=self.server_bin,
            HVAC_SHIM_LOG_DIR=str(self.logs),
            PYTHONPATH=str(HERE),
            PYTHONDONTWRITEBYTECODE="1",
        )
        for var in ("VAULT_ADDR", "VAULT_TOKEN", "VAULT_CACERT", "VAULT_NAMESPACE", "BAO_ADDR", "BAO_TOKEN"):
            self.env.pop(var, None)
        return self

    def __exit__(self, *exc):
        shutil.rmtree(self.tmp, ignore_errors=True)

    def pytest(self, args: list[str], capture: bool, timeout: float = RUN_TIMEOUT) -> subprocess.CompletedProcess:
        """hvac's tests under pytest in the unpacked tree (its cwd: the config's TLS
        paths are relative to it).  hvac's pyproject asks for pytest-xdist (`-n auto`):
        addopts is cleared.  The run is its own process group, killed afterwards, so no
        server it started outlives it."""
        cmd = [self.python, "-m", "pytest", "-o", "addopts=", "-p", "no:cacheprovider",
               "-p", "report_plugin", "-W", "ignore::DeprecationWarning", *args]
        proc = subprocess.Popen(
            cmd, cwd=self.root, env=self.env, start_new_session=True,
            stdout=subprocess.PIPE if capture else None, stderr=subprocess.STDOUT if capture else None, text=True,
        )
        try:
            out, _ = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            out, _ = proc.communicate()
            out = (out or "") + f"\n[hvac suite: timed out after {timeout:.0f} s]"
        finally:
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        return subprocess.CompletedProcess(cmd, proc.returncode, out, None)

    def collect(self, modules: list[str]) -> list[str]:
        """Node ids of hvac's tests in `modules`, in hvac's order."""
        proc = self.pytest(["--collect-only", "-q", *modules], capture=True, timeout=120)
        ids = [line.strip() for line in (proc.stdout or "").splitlines() if "::" in line and not line.startswith(" ")]
        if proc.returncode != 0 or not ids:
            raise SuiteUnavailable(f"collecting hvac's tests failed:\n{(proc.stdout or '')[-3000:]}")
        return ids

    def run(self, nodeids: list[str]) -> tuple[dict[str, dict], str]:
        """Run these tests; {nodeid: {"outcome", "message"}} and pytest's output."""
        report = self.tmp / "report.json"
        argfile = self.tmp / "args.txt"
        argfile.write_text("\n".join(nodeids) + "\n")
        self.env["HVAC_SUITE_REPORT"] = str(report)
        proc = self.pytest(["-q", "-rN", "--tb=short", f"@{argfile}"], capture=True)
        results = json.loads(report.read_text()) if report.is_file() else {}
        return results, proc.stdout or ""

    def server_log_tail(self, lines: int = 30) -> str:
        logs = sorted(self.logs.glob("server-*.log"))
        if not logs:
            return "(no server log)"
        text = logs[-1].read_text(errors="replace").splitlines()
        return "\n".join(text[-lines:])


def default_server_bin(target: str) -> str:
    if target == "coffer":
        return os.environ.get("COFFER_BIN") or str(REPO / "target" / "debug" / "coffer")
    return os.environ.get("BAO_BIN") or shutil.which("bao") or "bao"


def main() -> int:
    ap = argparse.ArgumentParser(description="Run hvac's own integration tests against coffer or bao.")
    ap.add_argument("--target", choices=["coffer", "bao"], default="coffer")
    ap.add_argument("--server-bin", help="binary to run as `vault server` (default: COFFER_BIN/BAO_BIN)")
    ap.add_argument("--python", default=os.environ.get("COFFER_HVAC_PYTHON") or sys.executable,
                    help="interpreter with hvac and tests/hvac_suite/requirements.txt")
    ap.add_argument("pytest_args", nargs="*", help="after --: pytest arguments (default: the selected modules)")
    a = ap.parse_args()
    missing = missing_extras(a.python)
    if missing:
        print(f"{a.python} lacks {missing}: pip install -r tests/hvac_suite/requirements.txt", file=sys.stderr)
        return 2
    with Workdir(a.target, a.server_bin or default_server_bin(a.target), a.python) as w:
        args = a.pytest_args or list(MODULES)
        if not any(x.startswith("tests/") for x in args):
            args = [*args, *MODULES]
        proc = w.pytest(["-rfEs", "--tb=short", *args], capture=False)
        return proc.returncode


if __name__ == "__main__":
    sys.exit(main())
