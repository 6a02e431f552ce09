#!/usr/bin/env python3
"""Time an unseal of a `file` storage directory filled by `fill_leases`.

    unseal_timing.py <coffer binary> <dir filled by fill_leases> [port]

Starts `coffer server` on 127.0.0.1:<port> (default 28400) over <dir>/data,
waits until it answers sys/seal-status, sends the unseal key, and reports the
wall time from sending that (last) key to the first served authenticated
request (auth/token/lookup-self with the root token, then LIST
sys/leases/lookup/auth/userpass/login/ and a lookup of one lease under it),
the server's VmHWM / VmRSS then and 30 s later. Stops the server it started.
Standard library only; loopback only.
"""
import json
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request


def call(addr, method, path, token=None, body=None, timeout=60):
    req = urllib.request.Request(f"{addr}/v1/{path}", method=method, data=None if body is None else json.dumps(body).encode())
    if token:
        req.add_header("X-Vault-Token", token)
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status, json.loads(r.read() or b"null")
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read() or b"null")


def mem(pid):
    out = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            k, _, v = line.partition(":")
            if k in ("VmHWM", "VmRSS"):
                out[k] = v.strip()
    return out


def main():
    binary, dirname = sys.argv[1], sys.argv[2]
    port = int(sys.argv[3]) if len(sys.argv) > 3 else 28400
    addr = f"http://127.0.0.1:{port}"
    init = json.load(open(f"{dirname}/init.json"))
    cfg = tempfile.NamedTemporaryFile("w", suffix=".hcl", delete=False)
    cfg.write(f'storage "file" {{ path = "{dirname}/data" }}\nlistener "tcp" {{\n  address = "127.0.0.1:{port}"\n  tls_disable = true\n}}\ndisable_mlock = true\n')
    cfg.close()
    started = time.monotonic()
    proc = subprocess.Popen([binary, "server", f"-config={cfg.name}"], stdout=subprocess.DEVNULL, stderr=open(f"{dirname}/server.log", "w"))
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                if call(addr, "GET", "sys/seal-status", timeout=5)[0] == 200:
                    break
            except OSError:
                pass
            if time.monotonic() > deadline or proc.poll() is not None:
                raise SystemExit("server did not start")
            time.sleep(0.05)
        listening = time.monotonic() - started
        t0 = time.monotonic()
        status, body = call(addr, "POST", "sys/unseal", body={"key": init["key"]}, timeout=600)
        t_unseal = time.monotonic() - t0
        assert status == 200 and body["sealed"] is False, (status, body)
        while True:
            status, body = call(addr, "GET", "auth/token/lookup-self", token=init["root_token"])
            if status == 200:
                break
            time.sleep(0.01)
        t_first = time.monotonic() - t0
        m_first = mem(proc.pid)
        # Waits while the lease index is being rebuilt (storage from before it); a
        # connection the listener closes meanwhile (idle timeout) is retried.
        while True:
            try:
                status, body = call(addr, "LIST", "sys/leases/lookup/auth/userpass/login/user7/", token=init["root_token"], timeout=3600)
                break
            except OSError:
                time.sleep(0.5)
        t_list = time.monotonic() - t0
        m_list = mem(proc.pid)
        assert status == 200, (status, body)
        keys = body["data"]["keys"]
        status, look = call(addr, "PUT", "sys/leases/lookup", token=init["root_token"], body={"lease_id": f"auth/userpass/login/user7/{keys[0]}"})
        assert status == 200, (status, look)
        t_lookup = time.monotonic() - t0
        time.sleep(30)
        m_later = mem(proc.pid)
        print(json.dumps({
            "server_listening_s": round(listening, 3),
            "unseal_call_s": round(t_unseal, 3),
            "last_key_to_first_served_s": round(t_first, 3),
            "last_key_to_lease_list_s": round(t_list, 3),
            "leases_under_user7": len(keys),
            "last_key_to_lease_lookup_s": round(t_lookup, 3),
            "at_first_served": m_first,
            "at_lease_list": m_list,
            "after_30s": m_later,
        }, indent=1))
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


if __name__ == "__main__":
    main()
