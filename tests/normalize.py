"""Normalise Vault-API JSON so two servers' answers can be compared.

Volatile values (ids, times, tokens, accessors, uuids, version strings, nonces,
key material) are replaced by placeholders that keep only their *shape*: an empty
string, null or 0 stays as it is (the difference between "" and a timestamp is
behaviour, e.g. kv-v2 deletion_time), anything else becomes "<key>".
"""

from __future__ import annotations

import re

# keys whose non-empty value is volatile
MASK_KEYS = {
    "request_id", "accessor", "client_token", "uuid", "cluster_id", "cluster_name",
    "creation_time", "created_time", "updated_time", "issue_time", "expire_time",
    "install_time", "deletion_time", "last_renewal_time", "last_renewal", "modified",
    "server_time_utc", "build_date", "commit_date", "nonce", "token", "wrapped_accessor",
    "running_plugin_version", "running_sha256", "encryptions", "keys_base64", "root_token",
    "entity_id", "id", "active_time",
}
# keys whose value is masked only when it is a string (kv "version" is an int and stays)
MASK_STRING_KEYS = {"version"}
# remaining-TTL counters drift by a second between two servers
MASK_INT_KEYS = {"ttl"}

UUID_RE = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
TIME_RE = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)$")
TOKEN_RE = re.compile(r"^(hv[sbr]|[sbr])\.[A-Za-z0-9_-]{20,}$")
MOUNT_ACCESSOR_RE = re.compile(r"^([a-z_]+)_[0-9a-f]{8}$")


def _mask_scalar(v):
    if isinstance(v, str):
        if UUID_RE.match(v):
            return "<uuid>"
        if TIME_RE.match(v):
            return "<time>"
        if TOKEN_RE.match(v):
            return "<token>"
        m = MOUNT_ACCESSOR_RE.match(v)
        if m and not v.startswith("token_"):
            return f"{m.group(1)}_<hex>"
    return v


def normalize(obj, key: str | None = None):
    """Return a copy of obj with volatile values masked."""
    if isinstance(obj, dict):
        return {k: normalize(v, k) for k, v in obj.items()}
    if isinstance(obj, list):
        out = [normalize(v, key) for v in obj]
        if key in ("keys",) and all(isinstance(x, str) for x in out):
            return sorted(out)
        return out
    if key in MASK_KEYS and obj not in ("", None, 0, False):
        if isinstance(obj, str):
            m = MOUNT_ACCESSOR_RE.match(obj)
            if key == "accessor" and m:
                return f"{m.group(1)}_<hex>"
        return f"<{key}>"
    if key in MASK_STRING_KEYS and isinstance(obj, str) and obj:
        return f"<{key}>"
    if key in MASK_INT_KEYS and isinstance(obj, int) and not isinstance(obj, bool) and obj:
        return f"<{key}>"
    return _mask_scalar(obj)


def drop_paths(obj, paths: list[str]):
    """Remove dotted paths ("data.foo", "*.running_plugin_version") from obj.

    `*` matches any single key at that level.
    """
    import copy

    obj = copy.deepcopy(obj)
    for p in paths:
        _drop(obj, p.split("."))
    return obj


def _drop(obj, parts):
    if not isinstance(obj, dict) or not parts:
        return
    head, rest = parts[0], parts[1:]
    keys = list(obj) if head == "*" else ([head] if head in obj else [])
    for k in keys:
        if rest:
            _drop(obj[k], rest)
        else:
            obj.pop(k, None)


def diff(a, b, path: str = "") -> list[str]:
    """Human-readable list of differences between two normalised JSON values."""
    out: list[str] = []
    if isinstance(a, dict) and isinstance(b, dict):
        for k in sorted(set(a) | set(b), key=str):
            p = f"{path}.{k}" if path else str(k)
            if k not in a:
                out.append(f"{p}: only in second ({b[k]!r})")
            elif k not in b:
                out.append(f"{p}: only in first ({a[k]!r})")
            else:
                out.extend(diff(a[k], b[k], p))
    elif isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
        for i, (x, y) in enumerate(zip(a, b)):
            out.extend(diff(x, y, f"{path}[{i}]"))
    elif a != b:
        out.append(f"{path or '<root>'}: {a!r} != {b!r}")
    return out
