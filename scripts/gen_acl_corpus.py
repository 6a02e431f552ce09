#!/usr/bin/env python3
"""Generate tests/fixtures/acl_corpus.json from a real OpenBao dev server.

Starts `bao server -dev` on a free loopback port, writes a varied set of ACL
policies, creates tokens with combinations of them, asks `sys/capabilities`
what each token may do on many paths, and saves one case per (token, path):

    {"policies": {name: text}, "token_policies": [...], "path": ..., "capabilities": [...]}

`token_policies` is what OpenBao attached to the token (it adds `default`),
and `policies` holds the text of each of them (the server's own default).
crates/policy/tests/acl_corpus.rs replays every case through coffer-policy.

Usage: python3 scripts/gen_acl_corpus.py   (run from the repository root)
Only the standard library and the `bao` binary are needed.
"""

import json
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(ROOT, "tests", "fixtures", "acl_corpus.json")
ROOT_TOKEN = "root"

POLICIES = {
    "exact": """
# exact paths, legacy policy keyword, sudo, deny
path "secret/foo" { capabilities = ["read", "list"] }
path "secret/legacy-read" { policy = "read" }
path "secret/legacy-write" { policy = "write" }
path "secret/legacy-sudo" { policy = "sudo" }
path "secret/legacy-deny" { policy = "deny" }
path "sys/mounts" { capabilities = ["read", "sudo"] }
path "secret/denied" { capabilities = ["read", "deny", "update"] }
path "/leading/slash" { capabilities = ["update"] }
path "sys/policy/*" { capabilities = ["create", "update", "read", "delete", "list", "sudo"] }
path "kv/metadata/" { capabilities = ["list"] }
path "secret/patchy" { capabilities = ["patch", "read"] }
""",
    "globs": """
path "secret/*" { capabilities = ["read"] }
path "secret/foo*" { capabilities = ["update"] }
path "secret/foo/*" { capabilities = ["create", "list"] }
path "secret/foo/bar/*" { capabilities = ["delete"] }
path "kv/metadata/*" { capabilities = ["list", "read"] }
path "q/*/r" { capabilities = ["read"] }
path "team-*" { capabilities = ["read", "update"] }
""",
    "plus": """
path "secret/+/bar" { capabilities = ["create"] }
path "secret/+/+" { capabilities = ["list"] }
path "secret/+/bar*" { capabilities = ["patch"] }
path "secret/+/baz/*" { capabilities = ["read", "update"] }
path "+/x" { capabilities = ["delete"] }
path "+" { capabilities = ["read"] }
path "x/+b" { capabilities = ["update"] }
path "a/+/+/c*" { capabilities = ["sudo", "read"] }
path "kv/data/+/config" { capabilities = ["read"] }
path "kv/+/" { capabilities = ["list"] }
path "pre+/y*" { capabilities = ["create"] }
""",
    "overlap": """
# identical patterns to the other policies, to check merging
path "secret/*" { capabilities = ["list"] }
path "secret/foo" { capabilities = ["update"] }
path "secret/+/bar" { capabilities = ["deny"] }
path "secret/foo/bar/*" { capabilities = ["sudo"] }
path "kv/metadata/*" { capabilities = ["deny"] }
path "team-*" { policy = "sudo" }
""",
    "trailing": """
# a path ending in '/' is tried as-is, then without the '/'
path "+/b/" { capabilities = ["list"] }
path "a/+" { capabilities = ["read"] }
path "t/*" { capabilities = ["update"] }
path "u/" { capabilities = ["delete"] }
path "v" { capabilities = ["create"] }
path "w/+/c*" { capabilities = ["patch"] }
""",
    "everything": """
path "*" { capabilities = ["read", "list"] }
path "sys/*" { capabilities = ["deny"] }
""",
    "templated": """
path "identity/entity/id/{{identity.entity.id}}" { capabilities = ["read"] }
path "secret/user/{{identity.entity.name}}/*" { capabilities = ["read"] }
path "secret/user/*" { capabilities = ["list"] }
""",
    "params": """
path "secret/params" {
  capabilities = ["create", "update"]
  allowed_parameters = { "foo" = [], "bar" = ["zip", "zap-*"] }
  denied_parameters { "baz" = [] }
  required_parameters = ["foo"]
  min_wrapping_ttl = "1s"
  max_wrapping_ttl = 3600
}
""",
}

TOKEN_COMBOS = [
    ["exact"],
    ["globs"],
    ["plus"],
    ["exact", "globs"],
    ["globs", "plus"],
    ["exact", "globs", "plus"],
    ["exact", "globs", "plus", "overlap"],
    ["globs", "overlap"],
    ["everything"],
    ["everything", "plus"],
    ["everything", "exact", "globs"],
    ["templated", "globs"],
    ["params"],
    [],  # only the default policy
    ["trailing"],
    ["trailing", "plus"],
    ["trailing", "globs", "exact"],
]

PATHS = [
    "secret/foo", "secret/foo/", "secret/foo/bar", "secret/foo/bar/", "secret/foo/bar/baz",
    "secret/foobar", "secret/foobar/bar", "secret/fo", "secret/", "secret", "secret/zip/bar",
    "secret/zip/bar/", "secret/zip/barn", "secret/zip/barn/x", "secret/zip/zap", "secret/zip/",
    "secret/zip", "secret//bar", "secret/zip/baz/1", "secret/zip/baz/", "secret/zip/baz",
    "secret/legacy-read", "secret/legacy-write", "secret/legacy-sudo", "secret/legacy-deny",
    "secret/denied", "secret/patchy", "secret/params", "sys/mounts", "sys/mounts/x", "sys/policy/foo",
    "sys/policy/", "leading/slash", "/leading/slash", "kv/metadata/", "kv/metadata", "kv/metadata/a",
    "kv/metadata/a/", "kv/data/app/config", "kv/data/app/config/x", "kv/data/app/", "kv/x/",
    "kv/x", "q/*/r", "q/a/r", "team-a", "team-a/b", "team", "a/x", "x", "+", "x/+b", "x/ab",
    "a/b/c/c", "a/b/c/cd/e", "a/b/c", "a/b/x/c", "prefix", "pre", "pre+", "pre+x/y",
    "identity/entity/id/abc", "identity/entity/id/{{identity.entity.id}}",
    "secret/user/bob/x", "secret/user/bob", "cubbyhole/foo", "cubbyhole/", "auth/token/lookup-self",
    "sys/tools/hash", "sys/tools/hash/sha2-256", "identity/oidc/provider/p/authorize",
    "identity/oidc/provider/p/q/authorize", "sys/capabilities-self", "nope", "pre+/y", "pre+/yz/w", "prex/y",
    "a/b/", "a/", "a//", "/", "t/", "t", "t//", "u", "u/", "u//", "v/", "v//", "w/b/c/", "w/b/", "w/b/cd",
    "zz/b/", "zz/b", "zz/b//",
]


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def api(addr, method, path, token=ROOT_TOKEN, body=None):
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(f"{addr}/v1/{path}", data=data, method=method)
    req.add_header("X-Vault-Token", token)
    if data is not None:
        req.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            raw = r.read()
            return json.loads(raw) if raw else None
    except urllib.error.HTTPError as e:
        raise RuntimeError(f"{method} {path}: {e.code} {e.read().decode()}") from None


def main():
    port = free_port()
    addr = f"http://127.0.0.1:{port}"
    logf = tempfile.NamedTemporaryFile(prefix="bao-dev-", suffix=".log", delete=False)
    proc = subprocess.Popen(
        ["bao", "server", "-dev", f"-dev-root-token-id={ROOT_TOKEN}", f"-dev-listen-address=127.0.0.1:{port}"],
        stdout=logf, stderr=subprocess.STDOUT,
    )
    try:
        for _ in range(100):
            try:
                with urllib.request.urlopen(f"{addr}/v1/sys/health", timeout=1) as r:
                    if r.status == 200:
                        break
            except Exception:
                pass
            time.sleep(0.2)
        else:
            raise RuntimeError(f"bao dev server did not come up; see {logf.name}")

        version = api(addr, "GET", "sys/seal-status")["version"]
        for name, text in POLICIES.items():
            api(addr, "PUT", f"sys/policies/acl/{name}", body={"policy": text})
        default_text = api(addr, "GET", "sys/policies/acl/default")["data"]["policy"]
        texts = dict(POLICIES, default=default_text)

        cases = []
        combos = [(c, False) for c in TOKEN_COMBOS] + [(["root"], True)]
        for combo, is_root in combos:
            if is_root:
                token, attached = ROOT_TOKEN, ["root"]
            else:
                auth = api(addr, "POST", "auth/token/create", body={"policies": combo or ["default"], "ttl": "10m"})["auth"]
                token, attached = auth["client_token"], sorted(auth["policies"])
            data = api(addr, "POST", "sys/capabilities", body={"token": token, "paths": PATHS})["data"]
            for path in PATHS:
                cases.append({
                    "policies": {n: texts[n] for n in attached if n != "root"},
                    "token_policies": attached,
                    "path": path,
                    "capabilities": data[path],
                })
        out = {
            "generated_by": "scripts/gen_acl_corpus.py",
            "server": f"OpenBao {version} (bao server -dev)",
            "cases": cases,
        }
        os.makedirs(os.path.dirname(OUT), exist_ok=True)
        with open(OUT, "w") as f:
            json.dump(out, f, indent=1, sort_keys=True)
            f.write("\n")
        print(f"wrote {len(cases)} cases to {os.path.relpath(OUT, ROOT)} from OpenBao {version}")
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        logf.close()
        os.unlink(logf.name)


if __name__ == "__main__":
    sys.exit(main())
