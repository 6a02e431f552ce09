"""Durability: an acknowledged write survives `kill -9`.

A config-file server with persistent storage is initialised and unsealed. 32 threads
write kv-v2 versions concurrently. The process group is SIGKILLed mid-stream, the
server is restarted and unsealed with the saved keys, and every write that got a 2xx
must be readable at its version with its value.
"""

import threading
import time

import requests

from conftest import assert_status, enable_kv2

THREADS = 32
MIN_ACKS_BEFORE_KILL = 300


def test_acked_writes_survive_sigkill(sealed_server):
    """kv-v2 writes acknowledged with 2xx before SIGKILL are all present (at their
    version, with their value) after restart + unseal."""
    srv = sealed_server()
    srv.init(shares=3, threshold=2)
    srv.unseal()
    enable_kv2(srv, "dur")
    # keep every version (the default of 10 would trim the early acknowledged ones)
    assert_status(srv.http("POST", "dur/config", json_body={"max_versions": 100000}), 204, 200)

    acked: list[list[tuple[int, str]]] = [[] for _ in range(THREADS)]
    errors: list[str] = []
    stop = threading.Event()
    headers = {"X-Vault-Token": srv.root_token}

    def writer(i):
        s = requests.Session()
        n = 0
        while not stop.is_set():
            value = f"thread{i}-write{n}"
            try:
                r = s.post(f"{srv.addr}/v1/dur/data/t{i}", json={"data": {"v": value, "n": n}},
                           headers=headers, timeout=10)
            except requests.RequestException:
                return  # server died: this write was never acknowledged
            if 200 <= r.status_code < 300:
                acked[i].append((r.json()["data"]["version"], value))
            elif r.status_code >= 500 or r.status_code == 503:
                return
            else:
                errors.append(f"t{i}: {r.status_code} {r.text[:200]}")
                return
            n += 1

    threads = [threading.Thread(target=writer, args=(i,), daemon=True) for i in range(THREADS)]
    for t in threads:
        t.start()
    deadline = time.monotonic() + 60
    while sum(map(len, acked)) < MIN_ACKS_BEFORE_KILL and time.monotonic() < deadline:
        if errors:
            break
        time.sleep(0.02)
    srv.kill()  # SIGKILL the process group while writers are still running
    stop.set()
    for t in threads:
        t.join(timeout=15)
    assert not errors, errors[:5]
    total = sum(map(len, acked))
    assert total >= MIN_ACKS_BEFORE_KILL, f"only {total} writes acknowledged before the deadline"

    srv.start()
    st = srv.http("GET", "sys/seal-status", token=None).json()
    assert st["initialized"] is True and st["sealed"] is True
    srv.unseal()

    missing = []
    for i, writes in enumerate(acked):
        if not writes:
            continue
        md = assert_status(srv.http("GET", f"dur/metadata/t{i}"), 200).json()["data"]
        assert md["current_version"] >= max(v for v, _ in writes), (i, md["current_version"])
        for version, value in writes:
            r = srv.http("GET", f"dur/data/t{i}", params={"version": version})
            if r.status_code != 200 or r.json()["data"]["data"]["v"] != value:
                missing.append((i, version, value, r.status_code, r.text[:200]))
    assert not missing, f"{len(missing)} of {total} acknowledged writes lost, e.g. {missing[:5]}"
