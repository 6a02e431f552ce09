"""README.md's examples, run as written, so they cannot rot: the config-file example
(its hcl block starts a server, and the sh block after it initialises, unseals, logs in,
mounts secret/ and writes), and the dev-server "Using it" block (bao, curl with the
token from ~/.vault-token).  Only the example's fixed ports are replaced by free ones
(the suite relies on no fixed port); every other word is README's."""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
from pathlib import Path

import pytest

from conftest import BAO_BIN, COFFER_BIN, REPO, spawn_listening, stop_process

README = REPO / "README.md"


def blocks(lang: str) -> list[str]:
    return re.findall(rf"^```{lang}\n(.*?)^```", README.read_text(), re.S | re.M)


def commands(block: str) -> list[str]:
    """The block's command lines, without the `# ...` comments."""
    out = []
    for line in block.splitlines():
        line = re.sub(r"\s+#.*$", "", line).strip()
        if line and not line.startswith("#"):
            out.append(line)
    return out


def config_example() -> tuple[str, list[str]]:
    hcl = blocks("hcl")
    assert len(hcl) == 1, "README.md should show one hcl config example"
    text = README.read_text()
    after = text[text.index(hcl[0]) + len(hcl[0]):]
    sh = re.search(r"^```sh\n(.*?)^```", after, re.S | re.M).group(1)
    return hcl[0], commands(sh)


def cli_env(home: Path, addr: str) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("VAULT_", "BAO_"))}
    bindir = str(Path(COFFER_BIN).parent)
    env.update({"HOME": str(home), "VAULT_ADDR": addr, "NO_COLOR": "1",
                "PATH": os.pathsep.join([bindir, str(Path(shutil.which(BAO_BIN) or BAO_BIN).parent),
                                         env.get("PATH", "")])})
    return env


def test_readme_config_example_runs_as_written(tmp_path):
    """The hcl block starts a server (no TLS files needed; storage in ./coffer-data,
    relative to where it is started), and the commands after it, run one by one as
    written, give an initialised, unsealed server with kv-v2 at secret/ that it did
    not have before."""
    hcl, cmds = config_example()
    m = re.search(r'address\s*=\s*"127\.0\.0\.1:(\d+)"', hcl)
    assert m, hcl
    readme_port = m.group(1)
    assert readme_port != "8200", "the config example must not take the dev server's port"
    assert "tls_disable = true" in hcl
    home = tmp_path / "home"
    home.mkdir()
    server_cmd = next(c for c in cmds if " server " in f" {c} ")
    assert server_cmd == "coffer server -config=coffer.hcl", server_cmd

    def make(port):
        (tmp_path / "coffer.hcl").write_text(hcl.replace(f"127.0.0.1:{readme_port}", f"127.0.0.1:{port}"))
        return [COFFER_BIN, *shlex.split(server_cmd)[1:]]

    env = cli_env(home, "")
    proc, port = spawn_listening(make, tmp_path / "server.log", timeout=20, env=env, cwd=tmp_path)
    try:
        assert port, (tmp_path / "server.log").read_text()
        assert (tmp_path / "coffer-data").exists()
        key = token = None
        for c in cmds:
            if c == server_cmd:
                continue
            if c.startswith("export "):
                name, val = c[len("export "):].split("=", 1)
                assert name == "VAULT_ADDR" and val == f"http://127.0.0.1:{readme_port}", c
                env["VAULT_ADDR"] = f"http://127.0.0.1:{port}"
                continue
            argv = shlex.split(c)
            assert argv[0] == "coffer", c
            stdin = None
            if argv[1:] == ["operator", "unseal"]:
                stdin = key + "\n"
            elif argv[1:] == ["login"]:
                stdin = token + "\n"
            if argv[1:3] == ["secrets", "enable"]:
                listed = subprocess.run([COFFER_BIN, "secrets", "list", "-format=json"], env=env,
                                        capture_output=True, text=True, timeout=60)
                assert listed.returncode == 0 and "secret/" not in listed.stdout, listed
            cp = subprocess.run([COFFER_BIN, *argv[1:]], env=env, capture_output=True, text=True,
                                timeout=60, input=stdin, stdin=None if stdin else subprocess.DEVNULL)
            assert cp.returncode == 0, f"{c} -> {cp.returncode}\n{cp.stdout}\n{cp.stderr}"
            if argv[1:3] == ["operator", "init"]:
                key = re.search(r"Unseal Key 1: (\S+)", cp.stdout).group(1)
                token = re.search(r"Initial Root Token: (\S+)", cp.stdout).group(1)
        assert key and token, cmds
        assert (home / ".vault-token").read_text() == token
        got = subprocess.run([COFFER_BIN, "kv", "get", "-field=api_key", "secret/hotpass/registry"], env=env,
                             capture_output=True, text=True, timeout=60)
        assert got.returncode == 0 and got.stdout == "...", got
    finally:
        stop_process(proc)


def test_readme_dev_usage_block_runs_as_written(tmp_path):
    """The "Using it" block, through bash, against a dev server started the README's way
    (no VAULT_TOKEN: the CLI and curl use the ~/.vault-token it wrote)."""
    sh = next(b for b in blocks("sh") if "bao kv put" in b)
    home = tmp_path / "home"
    home.mkdir()
    env = cli_env(home, "")

    def make(port):
        return [COFFER_BIN, "server", "-dev", f"-dev-listen-address=127.0.0.1:{port}"]

    proc, port = spawn_listening(make, tmp_path / "dev.log", timeout=20, env=env, cwd=tmp_path)
    try:
        assert port, (tmp_path / "dev.log").read_text()
        assert "export VAULT_ADDR=http://127.0.0.1:8200" in sh
        script = sh.replace("127.0.0.1:8200", f"127.0.0.1:{port}")
        if shutil.which("curl") is None:
            pytest.skip("curl is not installed")
        cp = subprocess.run(["bash", "-euo", "pipefail", "-c", script], env=env, capture_output=True,
                            text=True, timeout=120)
        assert cp.returncode == 0, f"{cp.stdout}\n{cp.stderr}"
        assert '"api_key":"..."' in cp.stdout.replace(" ", ""), cp.stdout
    finally:
        stop_process(proc)
