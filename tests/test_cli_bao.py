"""The `bao` CLI (standing in for the vault CLI, same Go api client) against Coffer
and OpenBao.  Each scenario runs against one server and asserts on the CLI's
`-format=json` output; `test_cli_outputs_match` runs the scenarios against both and
compares the normalised outputs."""

import json

import pytest

from conftest import BAO_BIN, TARGETS, cli_json, run_cli, unique
from normalize import diff, normalize

POLICY = 'path "secret/data/cli/*" {\n  capabilities = ["read"]\n}\n'


def kv_scenario(srv, base):
    """bao kv put/get/list/metadata get/delete on kv-v2 secret/."""
    out = {}
    out["put1"] = cli_json(srv, ["kv", "put"], f"secret/{base}/app", "user=alice", "pw=s3cret")
    out["put2"] = cli_json(srv, ["kv", "put"], f"secret/{base}/app", "user=bob")
    out["put3"] = cli_json(srv, ["kv", "put"], f"secret/{base}/sub/x", "k=v")
    out["get"] = cli_json(srv, ["kv", "get"], f"secret/{base}/app")
    out["get_v1"] = cli_json(srv, ["kv", "get"], "-version=1", f"secret/{base}/app")
    out["list"] = cli_json(srv, ["kv", "list"], f"secret/{base}")
    out["meta"] = cli_json(srv, ["kv", "metadata", "get"], f"secret/{base}/app")
    cp = run_cli(srv, "kv", "delete", f"secret/{base}/app")
    out["delete_stdout"] = cp.stdout.strip()
    cp = run_cli(srv, "kv", "get", "-format=json", f"secret/{base}/app", check=False)
    out["get_deleted"] = json.loads(cp.stdout) if cp.stdout.strip() else None
    cp = run_cli(srv, "kv", "get", f"secret/{base}/never", check=False)
    out["get_missing_rc"] = cp.returncode
    return out


def policy_token_scenario(srv, name):
    out = {}
    cp = run_cli(srv, "policy", "write", name, "-", input=POLICY)
    out["write_stdout"] = cp.stdout.strip()
    out["read"] = run_cli(srv, "policy", "read", name).stdout
    # only the policies this scenario knows about (the server is shared with other tests)
    out["list"] = sorted(p for p in cli_json(srv, ["policy", "list"]) if p in (name, "default", "root"))
    tok = cli_json(srv, ["token", "create"], f"-policy={name}", "-ttl=1h",
                   "-display-name=cli", "-metadata=team=data")
    out["create"] = tok
    out["lookup"] = cli_json(srv, ["token", "lookup"], tok["auth"]["client_token"])
    out["lookup_accessor"] = cli_json(srv, ["token", "lookup"], "-accessor", tok["auth"]["accessor"])
    out["revoke_stdout"] = run_cli(srv, "token", "revoke", tok["auth"]["client_token"]).stdout.strip()
    cp = run_cli(srv, "token", "lookup", tok["auth"]["client_token"], check=False)
    out["lookup_revoked_rc"] = cp.returncode
    return out


def secrets_scenario(srv, path):
    out = {}
    out["enable_stdout"] = run_cli(srv, "secrets", "enable", f"-path={path}", "-version=2", "kv").stdout.strip()
    lst = cli_json(srv, ["secrets", "list"])
    out["entry"] = lst.get(f"{path}/")
    out["dup_rc"] = run_cli(srv, "secrets", "enable", f"-path={path}", "kv", check=False).returncode
    out["put"] = cli_json(srv, ["kv", "put"], f"{path}/x", "a=1")
    out["disable_stdout"] = run_cli(srv, "secrets", "disable", path).stdout.strip()
    out["listed_after"] = f"{path}/" in cli_json(srv, ["secrets", "list"])
    return out


# ------------------------------------------------------------------------ per server

def test_cli_kv(server):
    """`bao kv` against a kv-v2 mount: put prints version metadata, get prints
    data+metadata, -version reads an old version, list lists, metadata get shows
    versions, delete soft-deletes (get then shows deletion_time), missing key → exit 2."""
    base = unique("cli")
    o = kv_scenario(server, base)
    assert o["put1"]["data"]["version"] == 1 and o["put2"]["data"]["version"] == 2
    assert o["get"]["data"]["data"] == {"user": "bob"}
    assert o["get_v1"]["data"]["data"] == {"user": "alice", "pw": "s3cret"}
    assert sorted(o["list"]) == ["app", "sub/"]
    assert o["meta"]["data"]["current_version"] == 2
    assert set(o["meta"]["data"]["versions"]) == {"1", "2"}
    assert o["delete_stdout"] == f"Success! Data deleted (if it existed) at: secret/data/{base}/app"
    assert o["get_deleted"]["data"]["data"] is None
    assert o["get_deleted"]["data"]["metadata"]["deletion_time"] != ""
    assert o["get_missing_rc"] == 2


def test_cli_policy_and_token(server):
    """`bao policy write/read/list` and `bao token create/lookup/revoke`."""
    name = unique("clipol")
    o = policy_token_scenario(server, name)
    assert o["write_stdout"] == f"Success! Uploaded policy: {name}"
    assert o["read"].strip() == POLICY.strip()
    assert name in o["list"] and "default" in o["list"] and "root" in o["list"]
    auth = o["create"]["auth"]
    assert sorted(auth["policies"]) == sorted(["default", name])
    assert auth["lease_duration"] == 3600 and auth["renewable"] is True
    assert auth["metadata"] == {"team": "data"}
    assert o["lookup"]["data"]["display_name"] == "token-cli"
    assert o["lookup"]["data"]["meta"] == {"team": "data"}
    assert o["lookup_accessor"]["data"]["id"] == ""
    assert o["revoke_stdout"] == "Success! Revoked token (if it existed)"
    assert o["lookup_revoked_rc"] != 0


def test_cli_secrets_enable_list(server):
    """`bao secrets enable -version=2 kv` creates type kv with options.version "2";
    enabling twice fails; disable removes it."""
    path = unique("clieng")
    o = secrets_scenario(server, path)
    assert o["enable_stdout"] == f"Success! Enabled the kv secrets engine at: {path}/"
    assert o["entry"]["type"] == "kv" and o["entry"]["options"] == {"version": "2"}
    assert o["dup_rc"] != 0
    assert o["put"]["data"]["version"] == 1
    assert o["disable_stdout"] == f"Success! Disabled the secrets engine (if it existed) at: {path}/"
    assert o["listed_after"] is False


def test_cli_operator_rotate(server):
    """`bao operator rotate` (which calls OpenBao's sys/rotate/keyring) bumps the term
    and reports the new key status."""
    before = server.http("GET", "sys/key-status").json()["data"]["term"]
    out = cli_json(server, ["operator", "rotate"])
    assert out["term"] == before + 1 and out["encryptions"] == 0
    assert server.http("GET", "sys/key-status").json()["data"]["term"] == before + 1


def test_cli_operator_init_unseal_seal(sealed_server):
    """`bao operator init/unseal/seal/status` on a config-file server: init prints
    unseal_keys_hex/b64 and root_token; unseal reports progress then sealed=false;
    status exits 2 when sealed, 0 when unsealed."""
    srv = sealed_server()
    assert run_cli(srv, "status", check=False).returncode == 2
    init = cli_json(srv, ["operator", "init"], "-key-shares=3", "-key-threshold=2", token="")
    assert len(init["unseal_keys_hex"]) == 3 and len(init["unseal_keys_b64"]) == 3
    assert init["unseal_shares"] == 3 and init["unseal_threshold"] == 2
    srv.root_token = init["root_token"]
    st = cli_json(srv, ["operator", "unseal"], init["unseal_keys_hex"][0])
    assert st["sealed"] is True and st["progress"] == 1 and st["t"] == 2 and st["n"] == 3
    st = cli_json(srv, ["operator", "unseal"], init["unseal_keys_b64"][1])
    assert st["sealed"] is False
    srv.wait_active()
    st = cli_json(srv, ["status"])
    assert st["initialized"] is True and st["sealed"] is False and st["type"] == "shamir"
    cp = run_cli(srv, "operator", "seal")
    assert cp.stdout.strip() == "Success! Vault is sealed."
    assert run_cli(srv, "status", check=False).returncode == 2


# ----------------------------------------------------------------------- cross-server

CLI_ALLOWED = {
    # path in the normalised output → reason (see docs/compatibility.md)
    "meta.data.current_metadata_version": "OpenBao-only kv-v2 metadata field (metadata CAS)",
    "meta.data.metadata_cas_required": "OpenBao-only kv-v2 metadata field (metadata CAS)",
}


@pytest.mark.skipif(not {"coffer", "bao"} <= set(TARGETS), reason="needs both targets")
def test_cli_outputs_match(coffer, bao):
    """The same CLI scenarios produce the same normalised JSON on Coffer and OpenBao
    (volatile fields masked; OpenBao-only fields listed in CLI_ALLOWED)."""
    base = unique("x")
    name = unique("xp")
    path = unique("xe")
    got = {}
    for srv in (coffer, bao):
        got[srv.kind] = normalize({
            "kv": kv_scenario(srv, base),
            "pt": policy_token_scenario(srv, name),
            "se": secrets_scenario(srv, path),
        })
    diffs = [d for d in diff(got["coffer"], got["bao"])
             if not any(d.startswith(f"kv.{a}") for a in CLI_ALLOWED)]
    assert not diffs, "\n".join(diffs)
