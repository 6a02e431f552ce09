"""The `coffer` CLI as a drop-in for the Vault CLI.

The same scripted session runs through `coffer` and through `bao` (OpenBao's
copy of the Vault CLI) against the same Coffer server; the `-format=json`
outputs must match once volatile values are masked (normalize.py).  Then exit
codes (0 ok, 1 usage/local error, 2 server error), values from stdin and
files, the ~/.vault-token helper, and the no-echo `operator unseal` prompt
driven through tmux.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import stat
import subprocess
import tempfile
import time
import uuid
from pathlib import Path

import pytest

from conftest import BAO_BIN, COFFER_BIN, TARGETS, _LIVE, create_token, spawn_listening, unique
from normalize import diff, normalize

POLICY = 'path "secret/data/clic/*" {\n  capabilities = ["read", "list"]\n}\n'


def run(tool: str, srv, *args, token=None, input=None, env_extra=None, home=None):
    binary = COFFER_BIN if tool == "coffer" else BAO_BIN
    env = srv.env(token)
    if home is not None:
        env["HOME"] = str(home)
    env.update(env_extra or {})
    return subprocess.run([binary, *args], env=env, capture_output=True, text=True, timeout=60,
                          input=input, stdin=None if input is not None else subprocess.DEVNULL)


def ok(tool, srv, *args, **kw):
    cp = run(tool, srv, *args, **kw)
    assert cp.returncode == 0, f"{tool} {' '.join(args)} -> {cp.returncode}\n{cp.stdout}\n{cp.stderr}"
    return cp


def js(tool, srv, *args, **kw):
    cp = ok(tool, srv, *args, **kw)
    return json.loads(cp.stdout) if cp.stdout.strip() else None


def session(tool: str, srv, base: str, tmp: Path) -> dict:
    """One scripted session; every name derives from `base` so both tools can
    run it against the same server."""
    out = {}
    kv = f"secret/{base}"
    # kv v2
    out["put1"] = js(tool, srv, "kv", "put", "-format=json", f"{kv}/app", "user=alice", "pw=s3cret")
    out["put2"] = js(tool, srv, "kv", "put", "-format=json", f"{kv}/app", "user=bob")
    out["put_stdin"] = js(tool, srv, "kv", "put", "-format=json", f"{kv}/stdin", "pw=-", input="from-stdin\n")
    f = tmp / f"{tool}-value.txt"
    f.write_text("from-file")
    out["put_file"] = js(tool, srv, "kv", "put", "-format=json", f"{kv}/file", f"pw=@{f}")
    out["get"] = js(tool, srv, "kv", "get", "-format=json", f"{kv}/app")
    out["get_mount"] = js(tool, srv, "kv", "get", "-format=json", "-mount=secret", f"{base}/app")
    out["get_v1"] = js(tool, srv, "kv", "get", "-format=json", "-version=1", f"{kv}/app")
    out["get_stdin"] = js(tool, srv, "kv", "get", "-format=json", f"{kv}/stdin")["data"]["data"]
    out["get_file"] = js(tool, srv, "kv", "get", "-format=json", f"{kv}/file")["data"]["data"]
    out["field"] = ok(tool, srv, "kv", "get", "-field=user", f"{kv}/app").stdout
    out["field_json"] = json.loads(ok(tool, srv, "kv", "get", "-format=json", "-field=user", f"{kv}/app").stdout)
    out["list"] = js(tool, srv, "kv", "list", "-format=json", kv)
    out["patch"] = js(tool, srv, "kv", "patch", "-format=json", f"{kv}/app", "extra=1")
    out["meta"] = js(tool, srv, "kv", "metadata", "get", "-format=json", f"{kv}/app")
    out["meta_put"] = ok(tool, srv, "kv", "metadata", "put", "-max-versions=5", "-custom-metadata=owner=ops", f"{kv}/app").stdout
    out["meta2"] = js(tool, srv, "kv", "metadata", "get", "-format=json", f"{kv}/app")
    out["delete"] = ok(tool, srv, "kv", "delete", f"{kv}/app").stdout
    out["get_deleted"] = json.loads(run(tool, srv, "kv", "get", "-format=json", f"{kv}/app").stdout)
    out["undelete"] = ok(tool, srv, "kv", "undelete", "-versions=3", f"{kv}/app").stdout
    out["destroy"] = ok(tool, srv, "kv", "destroy", "-versions=1", f"{kv}/app").stdout
    out["rollback"] = js(tool, srv, "kv", "rollback", "-format=json", "-version=2", f"{kv}/app")
    out["meta_delete"] = ok(tool, srv, "kv", "metadata", "delete", f"{kv}/file").stdout
    out["yaml"] = ok(tool, srv, "kv", "get", "-format=yaml", f"{kv}/stdin").stdout.count("\n") > 5
    # kv v1, detected through sys/internal/ui/mounts
    ok(tool, srv, "secrets", "enable", f"-path={base}-v1", "kv")
    out["v1_put"] = ok(tool, srv, "kv", "put", f"{base}-v1/a", "k=v").stdout
    out["v1_get"] = js(tool, srv, "kv", "get", "-format=json", f"{base}-v1/a")
    out["v1_list"] = js(tool, srv, "kv", "list", "-format=json", f"{base}-v1")
    # generic path commands
    out["write"] = ok(tool, srv, "write", f"cubbyhole/{base}", "a=1", "a=2", "b=-", input="x").stdout
    out["read"] = js(tool, srv, "read", "-format=json", f"cubbyhole/{base}")
    out["read_field"] = ok(tool, srv, "read", "-field=b", f"cubbyhole/{base}").stdout
    out["glist"] = js(tool, srv, "list", "-format=json", "cubbyhole")
    out["gdelete"] = ok(tool, srv, "delete", f"cubbyhole/{base}").stdout
    out["read_missing_rc"] = run(tool, srv, "read", f"cubbyhole/{base}").returncode
    out["gpatch"] = ok(tool, srv, "patch", f"secret/metadata/{base}/app", "max_versions=7").stdout
    # policies and tokens
    pol = f"{base}-pol"
    out["pwrite"] = ok(tool, srv, "policy", "write", pol, "-", input=POLICY).stdout
    out["pread"] = js(tool, srv, "policy", "read", "-format=json", pol)
    out["pread_table"] = ok(tool, srv, "policy", "read", pol).stdout
    out["plist"] = sorted(p for p in js(tool, srv, "policy", "list", "-format=json") if p in (pol, "default", "root"))
    tok = js(tool, srv, "token", "create", "-format=json", f"-policy={pol}", "-ttl=1h",
             "-display-name=cli", "-metadata=team=data")
    out["tcreate"] = tok
    t, acc = tok["auth"]["client_token"], tok["auth"]["accessor"]
    out["tlookup"] = js(tool, srv, "token", "lookup", "-format=json", t)
    out["tlookup_acc"] = js(tool, srv, "token", "lookup", "-format=json", "-accessor", acc)
    out["tlookup_self"] = js(tool, srv, "token", "lookup", "-format=json", token=t)
    out["tcaps"] = js(tool, srv, "token", "capabilities", "-format=json", t, f"secret/data/clic/x")
    out["tcaps_self"] = js(tool, srv, "token", "capabilities", "-format=json", "sys/mounts", token=t)
    out["trenew"] = js(tool, srv, "token", "renew", "-format=json", "-increment=30m", t)
    out["trevoke"] = ok(tool, srv, "token", "revoke", t).stdout
    out["tlookup_revoked_rc"] = run(tool, srv, "token", "lookup", t).returncode
    out["pdelete"] = ok(tool, srv, "policy", "delete", pol).stdout
    # mounts
    eng = f"{base}-eng"
    out["senable"] = ok(tool, srv, "secrets", "enable", f"-path={eng}", "-version=2",
                        "-description=team kv", "kv").stdout
    out["slist"] = js(tool, srv, "secrets", "list", "-format=json").get(f"{eng}/")
    out["sdup_rc"] = run(tool, srv, "secrets", "enable", f"-path={eng}", "kv").returncode
    out["stune"] = ok(tool, srv, "secrets", "tune", "-default-lease-ttl=1h", eng).stdout
    out["stuned"] = js(tool, srv, "read", "-format=json", f"sys/mounts/{eng}/tune")["data"]
    out["sdisable"] = ok(tool, srv, "secrets", "disable", eng).stdout
    # the success line names the type as typed: `kv-v2` stays `kv-v2`
    out["senable_kv2"] = ok(tool, srv, "secrets", "enable", f"-path={eng}-b", "kv-v2").stdout
    out["senable_kv1"] = ok(tool, srv, "secrets", "enable", f"-path={eng}-c", "-description=d", "kv").stdout
    out["smove"] = re.sub(r"migration ID \S+", "migration ID <id>",
                          ok(tool, srv, "secrets", "move", f"{eng}-c", f"{eng}-d").stdout)
    for m in (f"{eng}-b", f"{eng}-d"):
        ok(tool, srv, "secrets", "disable", m)
    up = f"{base}-up"
    out["aenable"] = ok(tool, srv, "auth", "enable", f"-path={up}", "userpass").stdout
    out["alist"] = js(tool, srv, "auth", "list", "-format=json").get(f"{up}/")
    out["atune"] = ok(tool, srv, "auth", "tune", "-default-lease-ttl=1h", up).stdout
    out["adisable"] = ok(tool, srv, "auth", "disable", up).stdout
    # wrapping
    wrapped = js(tool, srv, "write", "-format=json", "-wrap-ttl=5m", "auth/token/create", "ttl=1h")
    out["wrapped"] = wrapped
    out["unwrap"] = js(tool, srv, "unwrap", "-format=json", wrapped["wrap_info"]["token"])
    out["status"] = js(tool, srv, "status", "-format=json")
    out["key_status"] = js(tool, srv, "operator", "key-status", "-format=json")
    return out


# fields where bao and coffer legitimately differ, with the reason
ALLOWED = {
    "status.ha_enabled": "sys/leader is read identically; kept in case OpenBao's Go client adds HA fields",
}


def masked(obj, base):
    """Normalise, and replace the per-tool base name so paths compare equal."""
    text = json.dumps(obj).replace(base, "<base>")
    return normalize(json.loads(text))


@pytest.mark.skipif(shutil.which(BAO_BIN) is None and not Path(BAO_BIN).exists(), reason="bao CLI not installed")
def test_same_session_same_json_as_bao(coffer, tmp_path):
    """coffer and bao, run through the same session against one Coffer server,
    print the same normalised JSON and the same success lines."""
    got, raw = {}, {}
    for tool in ("bao", "coffer"):
        base = unique(f"cs{tool[0]}")
        raw[tool] = session(tool, coffer, base, tmp_path)
        got[tool] = masked(raw[tool], base)
    c = raw["coffer"]
    # the session really did something (guards against comparing two empty runs)
    assert c["get"]["data"]["data"] == {"user": "bob"}
    assert c["get_stdin"] == {"pw": "from-stdin\n"} and c["get_file"] == {"pw": "from-file"}
    assert c["field"] == "bob" and c["read_missing_rc"] == 2 and c["tlookup_revoked_rc"] == 2
    assert c["slist"]["options"] == {"version": "2"}
    diffs = [d for d in diff(got["coffer"], got["bao"]) if not any(d.startswith(a) for a in ALLOWED)]
    assert not diffs, "\n".join(diffs)


def test_success_lines(coffer, tmp_path):
    """The human-readable lines scripts grep for are Vault's."""
    base = unique("csl")
    o = session("coffer", coffer, base, tmp_path)
    assert o["delete"].strip() == f"Success! Data deleted (if it existed) at: secret/data/{base}/app"
    assert o["undelete"].strip() == f"Success! Data written to: secret/undelete/{base}/app"
    assert o["v1_put"].strip() == f"Success! Data written to: {base}-v1/a"
    assert o["pwrite"].strip() == f"Success! Uploaded policy: {base}-pol"
    assert o["pread_table"].strip() == POLICY.strip()
    assert o["trevoke"].strip() == "Success! Revoked token (if it existed)"
    assert o["senable"].strip() == f"Success! Enabled the kv secrets engine at: {base}-eng/"
    assert o["senable_kv2"].strip() == f"Success! Enabled the kv-v2 secrets engine at: {base}-eng-b/"
    assert o["aenable"].strip() == f"Success! Enabled userpass auth method at: {base}-up/"
    assert o["read"]["data"] == {"a": ["1", "2"], "b": "x"}


def test_table_output_matches_bao(coffer):
    """Table output (the default format) is byte-identical to bao's for reads
    whose values are stable."""
    base = unique("ctab")
    ok("coffer", coffer, "kv", "put", f"secret/{base}", "b=2", "a=1")
    ok("coffer", coffer, "write", f"cubbyhole/{base}", "k=v", "long_key_name=x")
    for args in (["read", f"cubbyhole/{base}"], ["list", "cubbyhole"], ["kv", "list", "secret"],
                 ["policy", "list"], ["auth", "list"], ["secrets", "list"]):
        b = ok("bao", coffer, *args).stdout
        c = ok("coffer", coffer, *args).stdout
        assert c == b, f"{args}:\n--- bao\n{b}\n--- coffer\n{c}"


# ------------------------------------------------------------------ exit codes

def test_exit_codes_usage_local_remote(coffer, tmp_path):
    """1 for usage and local errors, 2 for the server's errors, 0 for success
    (the codes bao returns in the same cases)."""
    cases = [
        (1, ["read", "-no-such-flag", "secret/x"]),                       # usage: unknown flag
        (1, ["read"]),                                                     # usage: missing argument
        (1, ["kv", "get", "a", "b"]),                                      # usage: too many arguments
        (1, ["write", "cubbyhole/x"]),                                     # usage: no data without -force
        (1, ["write", "cubbyhole/x", "novalue"]),                          # usage: not k=v
        (1, ["write", "cubbyhole/x", f"k=@{tmp_path}/missing"]),           # local: unreadable file
        (1, ["read", "-format=xml", "cubbyhole/x"]),                       # local: unknown format
        (2, ["read", "cubbyhole/never-written"]),                          # remote: no value
        (2, ["kv", "get", "secret/never-written"]),                        # remote: 404
        (2, ["write", "sys/mounts/x", "type=nope"]),                       # remote: 400
        (2, ["token", "lookup", "not-a-token"]),                           # remote: 403
        (0, ["kv", "list", "secret"]),
    ]
    for want, args in cases:
        for tool in ("coffer", "bao"):
            cp = run(tool, coffer, *args)
            assert cp.returncode == want, f"{tool} {args}: {cp.returncode}\n{cp.stdout}{cp.stderr}"
    cp = run("coffer", coffer, "read", "cubbyhole/x", token="bad-token")
    assert cp.returncode == 2
    assert "Code: 403" in cp.stderr and "permission denied" in cp.stderr
    assert "Traceback" not in cp.stderr and "panicked" not in cp.stderr
    # connection refused is also exit 2, like Vault
    cp = run("coffer", coffer, "status", env_extra={"VAULT_ADDR": "http://127.0.0.1:9"})
    assert cp.returncode == 1  # status: error contacting the server is 1, sealed is 2
    cp = run("coffer", coffer, "read", "cubbyhole/x", env_extra={"VAULT_ADDR": "http://127.0.0.1:9"})
    assert cp.returncode == 2


def test_status_exit_2_when_sealed(coffer_sealed):
    srv = coffer_sealed()
    cp = run("coffer", srv, "status", "-format=json", token="")
    assert cp.returncode == 2
    assert json.loads(cp.stdout)["sealed"] is True
    init = json.loads(ok("coffer", srv, "operator", "init", "-key-shares=3", "-key-threshold=2",
                         "-format=json", token="").stdout)
    assert len(init["unseal_keys_hex"]) == 3 and init["unseal_threshold"] == 2
    st = json.loads(ok("coffer", srv, "operator", "unseal", "-format=json", init["unseal_keys_hex"][0], token="").stdout)
    assert st["progress"] == 1 and st["sealed"] is True
    st = json.loads(ok("coffer", srv, "operator", "unseal", "-format=json", "-reset", token="").stdout)
    assert st["progress"] == 0
    for k in init["unseal_keys_b64"][:2]:
        st = json.loads(ok("coffer", srv, "operator", "unseal", "-format=json", k, token="").stdout)
    assert st["sealed"] is False
    srv.wait_active()
    tok = init["root_token"]
    assert run("coffer", srv, "status", token=tok).returncode == 0
    ks = json.loads(ok("coffer", srv, "operator", "rotate", "-format=json", token=tok).stdout)
    assert ks["term"] == 2
    assert ok("coffer", srv, "operator", "seal", token=tok).stdout.strip() == "Success! Coffer is sealed."
    assert run("coffer", srv, "status", token=tok).returncode == 2


# ------------------------------------------------------------ secrets stay put

def test_stdin_and_file_values_never_echoed(coffer, tmp_path):
    """A value from stdin or a file reaches the server unchanged and is not
    printed when the write fails."""
    secret = "s3cret-" + uuid.uuid4().hex
    f = tmp_path / "pw"
    f.write_text(secret)
    base = unique("cin")
    ok("coffer", coffer, "write", f"cubbyhole/{base}", "a=-", input=secret)
    ok("coffer", coffer, "write", f"cubbyhole/{base}-f", f"a=@{f}")
    r = coffer.http("GET", f"cubbyhole/{base}").json()["data"]
    assert r == {"a": secret}
    assert coffer.http("GET", f"cubbyhole/{base}-f").json()["data"] == {"a": secret}
    for args, inp, tok in ((["write", f"cubbyhole/{base}", "a=-"], secret, "bad-token"),
                           (["write", f"cubbyhole/{base}-f", f"a=@{f}"], None, "bad-token"),
                           (["kv", "put", "nope-mount/x", "pw=-"], secret, None)):
        cp = run("coffer", coffer, *args, input=inp, token=tok)
        assert cp.returncode == 2, cp
        assert secret not in cp.stdout + cp.stderr, args


def test_login_stores_vault_token_file(coffer, tmp_path):
    """`coffer login -` reads the token from stdin, stores it in ~/.vault-token
    (0600) where bao finds it; no VAULT_TOKEN needed afterwards."""
    home = tmp_path / "home"
    home.mkdir()
    tok = create_token(coffer, policies=["default"])["client_token"]
    env = {"VAULT_TOKEN": ""}
    cp = run("coffer", coffer, "login", "-format=json", "-", input=tok + "\n", home=home, env_extra=env)
    assert cp.returncode == 0, cp.stderr
    assert json.loads(cp.stdout)["auth"]["client_token"] == tok
    p = home / ".vault-token"
    assert p.read_text() == tok
    assert stat.S_IMODE(p.stat().st_mode) == 0o600
    assert run("bao", coffer, "print", "token", home=home, env_extra={"VAULT_TOKEN": "", "BAO_TOKEN": ""}).stdout.strip() == tok
    assert run("coffer", coffer, "print", "token", home=home, env_extra=env).stdout.strip() == tok
    look = json.loads(ok("coffer", coffer, "token", "lookup", "-format=json", home=home, env_extra=env).stdout)
    assert look["data"]["policies"] == ["default"]
    bad = run("coffer", coffer, "login", "not-a-token", home=home, env_extra=env)
    assert bad.returncode == 2 and p.read_text() == tok


def test_login_userpass_like_bao(coffer, tmp_path):
    """`login -method=userpass username=...` logs in like the bao CLI (same JSON auth
    block, masked), takes the password from stdin (`password=-`) or a no-echo prompt
    (a line on stdin when it is not a terminal), stores the token; a wrong password
    exits 2 and leaves the stored token alone."""
    home = tmp_path / "home"
    home.mkdir()
    mount = unique("up")
    ok("coffer", coffer, "auth", "enable", f"-path={mount}", "userpass")
    ok("coffer", coffer, "write", f"auth/{mount}/users/alice", "password=s3cret-pw", "token_policies=default")
    env = {"VAULT_TOKEN": ""}
    out = {}
    for tool in ("coffer", "bao"):
        out[tool] = js(tool, coffer, "login", "-format=json", "-method=userpass", f"-path={mount}",
                       "username=alice", "password=-", input="s3cret-pw", home=home,
                       env_extra={**env, "BAO_TOKEN": ""})
    for tool, body in out.items():
        auth = body["auth"]
        assert auth["policies"] == ["default"] and auth["metadata"] == {"username": "alice"}, (tool, body)
    assert normalize(out["coffer"]) == normalize(out["bao"])
    tok = out["coffer"]["auth"]["client_token"]
    # Prompt path: no password argument, the password arrives on stdin.
    cp = run("coffer", coffer, "login", "-method=userpass", f"-path={mount}", "username=alice",
             input="s3cret-pw\n", home=home, env_extra=env)
    assert cp.returncode == 0, cp.stderr
    assert "s3cret-pw" not in cp.stdout + cp.stderr
    stored = (home / ".vault-token").read_text()
    assert stored.startswith("hvs.") and stored != tok
    bad = run("coffer", coffer, "login", "-method=userpass", f"-path={mount}", "username=alice",
              "password=wrong", home=home, env_extra=env)
    assert bad.returncode == 2 and "invalid username or password" in bad.stderr
    assert "wrong" not in bad.stderr
    assert (home / ".vault-token").read_text() == stored


# ------------------------------------------------------------------ leases

def lease_session(tool: str, srv, base: str) -> dict:
    """`lease lookup|renew|revoke [-prefix] [-force] [-sync]` on token leases; every
    token comes from a token role named after `base`, so its lease is the only one
    under `auth/token/create/<role>/`."""
    def token_lease(role):
        ok(tool, srv, "write", f"auth/token/roles/{role}", "allowed_policies=default")
        js(tool, srv, "write", "-format=json", f"auth/token/create/{role}", "ttl=1h")
        keys = js(tool, srv, "list", "-format=json", f"sys/leases/lookup/auth/token/create/{role}")
        assert len(keys) == 1, keys
        return f"auth/token/create/{role}/{keys[0]}"

    def failed(*args):
        cp = run(tool, srv, *args)
        return cp.returncode, cp.stdout, cp.stderr

    out = {}
    a = token_lease(f"{base}-a")
    out["lookup"] = js(tool, srv, "lease", "lookup", "-format=json", a)
    out["lookup_missing"] = failed("lease", "lookup", "-format=json", f"{base}-nope")
    out["renew_token"] = failed("lease", "renew", "-increment=1h", a)
    out["renew_missing"] = failed("lease", "renew", f"{base}-nope")
    out["revoke_queued"] = ok(tool, srv, "lease", "revoke", a).stdout
    out["revoke_sync"] = ok(tool, srv, "lease", "revoke", "-sync", token_lease(f"{base}-b")).stdout
    out["revoke_unknown"] = ok(tool, srv, "lease", "revoke", "-sync", f"{base}-nope").stdout
    token_lease(f"{base}-c")
    out["prefix_queued"] = ok(tool, srv, "lease", "revoke", "-prefix", f"auth/token/create/{base}-c").stdout
    token_lease(f"{base}-d")
    out["prefix_sync"] = ok(tool, srv, "lease", "revoke", "-prefix", "-sync", f"auth/token/create/{base}-d").stdout
    token_lease(f"{base}-e")
    cp = ok(tool, srv, "lease", "revoke", "-force", "-prefix", f"auth/token/create/{base}-e")
    out["force"] = (cp.stdout, cp.stderr.replace("OpenBao", "<product>").replace("Coffer", "<product>"))
    out["force_without_prefix"] = failed("lease", "revoke", "-force", f"auth/token/create/{base}-e")
    out["lookup_no_arg"] = failed("lease", "lookup")[0]
    out["leases_left"] = {r: run(tool, srv, "list", f"sys/leases/lookup/auth/token/create/{base}-{r}").returncode
                          for r in "bde"}
    return out


@pytest.mark.skipif(shutil.which(BAO_BIN) is None and not Path(BAO_BIN).exists(), reason="bao CLI not installed")
def test_lease_commands_like_bao(coffer):
    """coffer and bao run the same lease session against one Coffer server: the same
    JSON (ids and times masked), the same exit codes, the same messages."""
    got, raw, bases = {}, {}, {}
    for tool in ("bao", "coffer"):
        base = bases[tool] = unique(f"cl{tool[0]}")
        raw[tool] = lease_session(tool, coffer, base)
        text = json.dumps(raw[tool]).replace(base, "<base>")
        # lease ids end in h<64 hex>; mask them where normalize() cannot (inside messages)
        got[tool] = normalize(json.loads(re.sub(r"/h[0-9a-f]{64}", "/<lease>", text)))
    c = raw["coffer"]
    assert c["lookup"]["data"]["path"].endswith("-a") and c["lookup"]["data"]["renewable"] is True
    assert c["renew_token"][0] == 2 and "tokens cannot be renewed through this endpoint" in c["renew_token"][2]
    assert c["lookup_missing"][0] == 2 and "* invalid lease" in c["lookup_missing"][2]
    assert c["revoke_queued"].strip() == "All revocation operations queued successfully!"
    assert c["prefix_sync"].strip().startswith("Success! Revoked any leases with prefix: auth/token/create/")
    assert c["force_without_prefix"][0] == 1 and c["leases_left"] == {"b": 2, "d": 2, "e": 2}
    diffs = diff(got["coffer"], got["bao"])
    assert not diffs, "\n".join(diffs)
    # the queued revocations (lease revoke without -sync) do happen
    for role in ("a", "c"):
        deadline = time.monotonic() + 10
        while run("coffer", coffer, "list", f"sys/leases/lookup/auth/token/create/{bases['coffer']}-{role}").returncode != 2:
            assert time.monotonic() < deadline, f"lease of role {role} not revoked"
            time.sleep(0.1)


def test_every_command_has_help():
    cmds = [["read"], ["write"], ["list"], ["delete"], ["patch"], ["unwrap"], ["login"], ["status"],
            ["kv", "get"], ["kv", "put"], ["kv", "metadata", "get"], ["token", "create"],
            ["policy", "write"], ["secrets", "enable"], ["auth", "list"], ["lease", "lookup"], ["lease", "renew"], ["lease", "revoke"],
            ["operator", "unseal"], ["operator", "init"], ["path-help"]]
    for c in cmds:
        cp = subprocess.run([COFFER_BIN, *c, "-h"], capture_output=True, text=True, timeout=30)
        assert cp.returncode == 0, (c, cp.stderr)
        assert cp.stdout.startswith("Usage: coffer"), (c, cp.stdout[:200])
        assert "$ coffer" in cp.stdout, f"{c}: no example"


def test_completions():
    for shell, marker in (("bash", "complete -F"), ("zsh", "#compdef coffer"), ("fish", "complete -c coffer")):
        cp = subprocess.run([COFFER_BIN, "completion", shell], capture_output=True, text=True, timeout=30)
        assert cp.returncode == 0 and marker in cp.stdout, (shell, cp.stdout[:200])
        assert "kv" in cp.stdout and "operator" in cp.stdout
    if shutil.which("bash"):
        cp = subprocess.run(["bash", "-c", f'source <("{COFFER_BIN}" completion bash); '
                             'COMP_WORDS=(coffer ope); COMP_CWORD=1; _coffer; echo "${COMPREPLY[@]}"'],
                            capture_output=True, text=True, timeout=30)
        assert cp.stdout.split() == ["operator"], cp


# ------------------------------------------------------------ interactive unseal

def _tmux() -> str | None:
    if shutil.which("tmux"):
        return shutil.which("tmux")
    try:
        subprocess.run(["apt-get", "install", "-y", "-qq", "tmux"], capture_output=True, timeout=300)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return shutil.which("tmux")


def test_operator_unseal_prompt_does_not_echo(coffer_sealed):
    """`coffer operator unseal` with no key prompts on the terminal, the typed
    key is not shown, and the server records one key of progress."""
    tmux = _tmux()
    if tmux is None:
        pytest.skip("tmux is not installed and `apt-get install tmux` failed")
    srv = coffer_sealed()
    srv.init(shares=3, threshold=2)
    key = srv.unseal_keys[0]
    sock = f"coffer-test-{uuid.uuid4().hex[:8]}"
    env = srv.env("")
    script = Path(tempfile.mkdtemp()) / "run.sh"
    script.write_text(
        f'export VAULT_ADDR="{srv.addr}"\nunset VAULT_TOKEN BAO_TOKEN\n'
        f'"{COFFER_BIN}" operator unseal\necho "EXIT=$?"\nsleep 60\n')
    base = [tmux, "-L", sock]
    subprocess.run(base + ["new-session", "-d", "-s", "u", "-x", "200", "-y", "50", f"sh {script}"],
                   check=True, env=env, timeout=30)
    try:
        def screen():
            return subprocess.run(base + ["capture-pane", "-p", "-t", "u"], capture_output=True,
                                  text=True, timeout=30).stdout

        deadline = time.monotonic() + 20
        while "Unseal Key (will be hidden):" not in screen():
            assert time.monotonic() < deadline, screen()
            time.sleep(0.1)
        subprocess.run(base + ["send-keys", "-t", "u", "-l", key], check=True, timeout=30)
        time.sleep(0.3)
        assert key not in screen(), "typed key is echoed"
        subprocess.run(base + ["send-keys", "-t", "u", "Enter"], check=True, timeout=30)
        deadline = time.monotonic() + 20
        while "EXIT=" not in screen():
            assert time.monotonic() < deadline, screen()
            time.sleep(0.1)
        s = screen()
        assert "EXIT=0" in s, s
        assert key not in s
        assert "Unseal Progress    1/2" in s, s
        st = srv.http("GET", "sys/seal-status", token=None).json()
        assert st["progress"] == 1 and st["sealed"] is True
    finally:
        subprocess.run(base + ["kill-server"], capture_output=True, timeout=30)
        shutil.rmtree(script.parent, ignore_errors=True)


# ------------------------------------------------------------ product names in messages

def _product_neutral(text: str) -> str:
    """Vault's CLI (bao) names the product "Vault" or "OpenBao"; Coffer's says Coffer."""
    return re.sub(r"\b(Vault|OpenBao|Coffer)\b", "<product>", text.replace("the Vault", "Vault"))


def test_operator_messages_say_coffer_and_match_bao(coffer_sealed):
    """`operator init -status`, `operator init` and `operator seal` print bao's lines
    with Coffer's name; no line names Vault or a command Coffer does not have
    (bao points to `bao operator rotate-keys`; Coffer has no rekey yet)."""
    outs = {}
    for tool in ("bao", "coffer"):
        srv = coffer_sealed()
        o = {"status_before": run(tool, srv, "operator", "init", "-status", token="")}
        init = run(tool, srv, "operator", "init", "-key-shares=1", "-key-threshold=1", token="")
        o["init"] = init
        o["status_after"] = run(tool, srv, "operator", "init", "-status", token="")
        key = re.search(r"Unseal Key 1: (\S+)", init.stdout).group(1)
        tok = re.search(r"Initial Root Token: (\S+)", init.stdout).group(1)
        ok(tool, srv, "operator", "unseal", key, token="")
        srv.wait_active()
        o["seal"] = run(tool, srv, "operator", "seal", token=tok)
        outs[tool] = o
    c, b = outs["coffer"], outs["bao"]
    for k in ("status_before", "status_after", "seal"):
        assert c[k].returncode == b[k].returncode, (k, c[k], b[k])
        assert _product_neutral(c[k].stdout) == _product_neutral(b[k].stdout), (k, c[k].stdout, b[k].stdout)
    assert c["status_before"].stdout == "Coffer is not initialized\n"
    assert c["seal"].stdout == "Success! Coffer is sealed.\n"
    # init: the same paragraphs up to the one about new unseal keys (bao's names its rekey command)
    def paragraphs(cp):
        text = re.sub(r"(Unseal Key 1|Initial Root Token): \S+", r"\1: <x>", cp.stdout)
        return [p for p in text.split("\n\n") if p.strip()]
    cp_, bp_ = paragraphs(c["init"]), paragraphs(b["init"])
    assert len(cp_) == len(bp_) == 5, (cp_, bp_)
    # keys, root token, the threshold paragraph, the root-key warning: bao's words
    assert [_product_neutral(p) for p in cp_[:4]] == [_product_neutral(p) for p in bp_[:4]], (cp_, bp_)
    # the last one: bao points to its rotate-keys command; Coffer has no rekey yet
    assert "bao operator rotate-keys" in bp_[4]
    assert "rekey" in cp_[4] and "operator" not in cp_[4], cp_[4]
    text = "".join(o[k].stdout + o[k].stderr for o in (c,) for k in o)
    assert "Vault" not in text and "OpenBao" not in text, text
    assert "rekey\" for" not in text and "vault operator" not in text and "bao operator" not in text, text
    for cmd in re.findall(r'"coffer ([a-z-]+(?: [a-z-]+)?)"', text):
        h = subprocess.run([COFFER_BIN, *cmd.split(), "-h"], capture_output=True, text=True, timeout=30)
        assert h.returncode == 0 and h.stdout.startswith("Usage: coffer"), f"names a missing command: {cmd}"


def test_cli_messages_name_no_vault_commands():
    """No message, usage or help text of the coffer binary names "Vault" as the product
    or a `vault <command>`: every string constant in crates/cli is checked (the
    protocol's own names, X-Vault-* headers, VAULT_* variables and ~/.vault-token,
    stay)."""
    src = Path(__file__).resolve().parent.parent / "crates" / "cli" / "src"
    bad = []
    for f in sorted(src.glob("*.rs")):
        for n, line in enumerate(f.read_text().splitlines(), 1):
            code = line.split("//", 1)[0] if not line.lstrip().startswith(("//", "///", "//!")) else ""
            cleaned = re.sub(r"X-Vault-[A-Za-z-]+|VAULT_[A-Z_]+|\.vault-token|Vault's dev server|Vault CLI", "", code)
            if re.search(r"\bVault\b|\bvault [a-z]", cleaned):
                bad.append(f"{f.name}:{n}: {line.strip()}")
    assert not bad, "\n".join(bad)


# ------------------------------------------------------------ dev server token helper

def _start_dev(kind: str, home: Path, *extra: str):
    """`<kind> server -dev` (no -dev-root-token-id: the token is generated and printed)
    with HOME=home and no VAULT_* variables; returns (proc, addr, log path)."""
    binary = COFFER_BIN if kind == "coffer" else BAO_BIN
    env = {k: v for k, v in os.environ.items() if not k.startswith(("VAULT_", "BAO_"))}
    env["HOME"] = str(home)
    log = home.parent / f"{kind}-{home.name}.log"
    proc, port = spawn_listening(lambda port: [binary, "server", "-dev", f"-dev-listen-address=127.0.0.1:{port}", *extra],
                                 log, env=env, cwd=home.parent)
    return proc, (f"http://127.0.0.1:{port}" if port else None), log


def _stop(proc):
    import signal
    try:
        os.killpg(proc.pid, signal.SIGTERM)
    except ProcessLookupError:
        pass
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)
    _LIVE.discard(proc)


def _printed_root_token(log: Path, timeout: float = 20) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        m = re.search(r"^Root Token: (\S+)$", log.read_text(errors="replace"), re.M)
        if m:
            return m.group(1)
        time.sleep(0.05)
    raise AssertionError(f"no root token printed:\n{log.read_text()}")


@pytest.mark.parametrize("kind", TARGETS)
def test_dev_server_stores_root_token_for_the_cli(kind, tmp_path):
    """`server -dev` writes the printed root token to $HOME/.vault-token (mode 0600), as
    its banner says ("already authenticated to the CLI"): `coffer token lookup` works
    with no VAULT_TOKEN.  Pinned against bao's dev server."""
    home = tmp_path / "home"
    home.mkdir()
    proc, addr, log = _start_dev(kind, home)
    try:
        assert addr, log.read_text()
        root = _printed_root_token(log)
        p = home / ".vault-token"
        assert p.read_text().strip() == root
        assert stat.S_IMODE(p.stat().st_mode) == 0o600
        env = {k: v for k, v in os.environ.items() if not k.startswith(("VAULT_", "BAO_"))}
        env.update({"HOME": str(home), "VAULT_ADDR": addr, "NO_COLOR": "1"})
        cp = subprocess.run([COFFER_BIN, "token", "lookup", "-format=json"], env=env, capture_output=True,
                            text=True, timeout=60, stdin=subprocess.DEVNULL)
        assert cp.returncode == 0, cp.stderr
        look = json.loads(cp.stdout)["data"]
        assert look["id"] == root and look["policies"] == ["root"]
        assert "already\nauthenticated to the CLI" in log.read_text() or "already authenticated to the CLI" in log.read_text()
    finally:
        _stop(proc)


@pytest.mark.parametrize("kind", TARGETS)
def test_dev_server_token_file_unwritable_stops_it(kind, tmp_path):
    """When the token file cannot be written (here ~/.vault-token is a directory) the
    dev server stops with exit 1 and "Error initializing Dev mode: ...", as bao does;
    with -dev-no-store-token nothing is written and the banner says so (Coffer; bao
    prints its "already authenticated" line regardless)."""
    home = tmp_path / "home"
    (home / ".vault-token").mkdir(parents=True)
    proc, addr, log = _start_dev(kind, home)
    try:
        if addr:  # listening first, like Vault, then the token store fails
            proc.wait(timeout=20)
        assert proc.wait(timeout=20) == 1, log.read_text()
        assert "Error initializing Dev mode: " in log.read_text(), log.read_text()
    finally:
        if proc.poll() is None:
            _stop(proc)
        _LIVE.discard(proc)
    home2 = tmp_path / "home2"
    home2.mkdir()
    proc, addr, log = _start_dev(kind, home2, "-dev-no-store-token")
    try:
        assert addr, log.read_text()
        _printed_root_token(log)
        assert not (home2 / ".vault-token").exists()
        if kind == "coffer":
            assert "NOT\nstored for the CLI (-dev-no-store-token)" in log.read_text()
    finally:
        _stop(proc)


def test_closed_pipe_ends_quietly_like_bao(coffer):
    """`coffer read ... | head -c 10`: once the reader is gone the command ends by SIGPIPE,
    as the Vault/bao CLI does, without a panic or a backtrace on stderr."""
    # 512 KiB of output: far more than a pipe holds, so the writer meets the closed pipe
    path = f"secret/{unique('pipe')}"
    assert coffer.http("POST", path.replace("secret/", "secret/data/", 1),
                       json_body={"data": {"big": "x" * 524288}}).status_code == 200
    results = {}
    for tool in ("coffer", "bao"):
        binary = COFFER_BIN if tool == "coffer" else BAO_BIN
        p = subprocess.Popen([binary, "kv", "get", "-format=json", path], env=coffer.env(None),
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL)
        assert p.stdout.read(10)  # the reader takes a little, then goes away
        p.stdout.close()
        err = p.stderr.read().decode()
        results[tool] = (p.wait(timeout=60), err)
    code, err = results["coffer"]
    assert "panicked" not in err and "Broken pipe" not in err, err
    assert code == results["bao"][0] == -13, results  # killed by SIGPIPE, both
