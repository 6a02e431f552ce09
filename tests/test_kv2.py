"""KV secrets engine (v2 and v1) and cubbyhole, driven mostly through hvac.

Every test runs against both Coffer and OpenBao (`server` fixture); unique key
names let one dev server per target serve the whole module.
"""

import time

import hvac
import hvac.exceptions
import pytest

from conftest import assert_status, create_token, enable_kv2, errors_of, unique, write_policy

MP = {"Content-Type": "application/merge-patch+json"}


@pytest.fixture
def kv(server):
    return server.client().secrets.kv.v2


# ---------------------------------------------------------------------------- data

def test_write_returns_version_metadata(server, kv):
    """kv-v2 write (POST data/:path) answers 200 with data {created_time, custom_metadata,
    deletion_time:"", destroyed:false, version} — hvac/vaultrs read data.version."""
    p = unique()
    r1 = kv.create_or_update_secret(p, secret={"a": "1"})
    r2 = kv.create_or_update_secret(p, secret={"a": "2"})
    assert r1["data"]["version"] == 1
    assert r2["data"]["version"] == 2
    for r in (r1, r2):
        assert r["data"]["deletion_time"] == ""
        assert r["data"]["destroyed"] is False
        assert r["data"]["custom_metadata"] is None
        assert r["data"]["created_time"].endswith("Z")


def test_read_latest_and_specific_version(server, kv):
    """kv-v2 GET data/:path returns the latest version; ?version=N returns version N;
    an unknown version is 404 {"errors":[]}."""
    p = unique()
    kv.create_or_update_secret(p, secret={"v": "one"})
    kv.create_or_update_secret(p, secret={"v": "two", "extra": "x"})
    latest = kv.read_secret_version(p, raise_on_deleted_version=True)
    assert latest["data"]["data"] == {"v": "two", "extra": "x"}
    assert latest["data"]["metadata"]["version"] == 2
    v1 = kv.read_secret_version(p, version=1, raise_on_deleted_version=True)
    assert v1["data"]["data"] == {"v": "one"}
    assert v1["data"]["metadata"]["version"] == 1
    r = server.http("GET", f"secret/data/{p}", params={"version": 7})
    assert_status(r, 404)
    assert errors_of(r) == []


def test_read_missing_is_404_empty_errors(server):
    """kv-v2 read of a path that never existed → 404 with body {"errors":[]}."""
    r = server.http("GET", f"secret/data/{unique()}")
    assert_status(r, 404)
    assert r.json() == {"errors": []}


def test_non_string_values_round_trip(server, kv):
    """kv-v2 stores arbitrary JSON values (numbers, bools, lists, nested maps) verbatim."""
    p = unique()
    value = {"n": 3, "f": 1.5, "b": True, "l": [1, "two"], "m": {"inner": {"deep": None}}}
    kv.create_or_update_secret(p, secret=value)
    assert kv.read_secret_version(p, raise_on_deleted_version=True)["data"]["data"] == value


def test_write_without_data_is_400(server):
    """kv-v2 write without a `data` field → 400 `no data provided`."""
    r = server.http("POST", f"secret/data/{unique()}", json_body={"options": {}})
    assert_status(r, 400)
    assert any("no data provided" in e for e in errors_of(r))


# ----------------------------------------------------------------------------- cas

def test_cas_option(server, kv):
    """options.cas: 0 writes only if the key does not exist; N must equal the current
    version, else 400 `check-and-set parameter did not match the current version`."""
    p = unique()
    kv.create_or_update_secret(p, secret={"a": "1"}, cas=0)
    r = server.http("POST", f"secret/data/{p}", json_body={"data": {"a": "x"}, "options": {"cas": 0}})
    assert_status(r, 400)
    assert any("check-and-set parameter did not match" in e for e in errors_of(r))
    r = server.http("POST", f"secret/data/{p}", json_body={"data": {"a": "x"}, "options": {"cas": 5}})
    assert_status(r, 400)
    assert kv.create_or_update_secret(p, secret={"a": "2"}, cas=1)["data"]["version"] == 2
    # the rejected writes stored nothing
    assert kv.read_secret_version(p, raise_on_deleted_version=True)["data"]["data"] == {"a": "2"}


def test_cas_required_by_key_metadata(server, kv):
    """cas_required=true in a key's metadata makes writes without options.cas fail with
    400 `check-and-set parameter required for this call`."""
    p = unique()
    kv.create_or_update_secret(p, secret={"a": "1"})
    kv.update_metadata(p, cas_required=True)
    r = server.http("POST", f"secret/data/{p}", json_body={"data": {"a": "2"}})
    assert_status(r, 400)
    assert any("check-and-set parameter required" in e for e in errors_of(r))
    assert kv.create_or_update_secret(p, secret={"a": "2"}, cas=1)["data"]["version"] == 2


def test_cas_required_by_mount_config(server):
    """cas_required=true in <mount>/config applies to every key of the mount."""
    mount = unique("kvcas")
    c = server.client()
    enable_kv2(server, mount)
    try:
        c.secrets.kv.v2.configure(cas_required=True, mount_point=mount)
        assert c.secrets.kv.v2.read_configuration(mount_point=mount)["data"]["cas_required"] is True
        r = server.http("POST", f"{mount}/data/k", json_body={"data": {"a": "1"}})
        assert_status(r, 400)
        assert any("check-and-set parameter required" in e for e in errors_of(r))
        r = server.http("POST", f"{mount}/data/k", json_body={"data": {"a": "1"}, "options": {"cas": 0}})
        assert_status(r, 200)
    finally:
        c.sys.disable_secrets_engine(mount)


# --------------------------------------------------------------------------- patch

def test_patch_is_json_merge_patch(server, kv):
    """kv-v2 PATCH data/:path applies RFC 7386 merge-patch to the latest version
    (null deletes a key, nested maps merge) and creates a new version."""
    p = unique()
    kv.create_or_update_secret(p, secret={"keep": "k", "drop": "d", "nest": {"a": "1", "b": "2"}})
    r = server.http("PATCH", f"secret/data/{p}", headers=MP,
                    json_body={"data": {"drop": None, "new": "n", "nest": {"b": "3"}}})
    assert_status(r, 200)
    assert r.json()["data"]["version"] == 2
    got = kv.read_secret_version(p, raise_on_deleted_version=True)["data"]["data"]
    assert got == {"keep": "k", "new": "n", "nest": {"a": "1", "b": "3"}}


def test_patch_via_hvac(server, kv):
    """hvac's kv.v2.patch (read + merge-patch) round-trips."""
    p = unique()
    kv.create_or_update_secret(p, secret={"a": "1"})
    kv.patch(p, secret={"b": "2"})
    assert kv.read_secret_version(p, raise_on_deleted_version=True)["data"]["data"] == {"a": "1", "b": "2"}


def test_patch_missing_key_is_404(server):
    """kv-v2 PATCH of a key that does not exist → 404."""
    r = server.http("PATCH", f"secret/data/{unique()}", headers=MP, json_body={"data": {"a": "1"}})
    assert_status(r, 404)


def test_patch_cas(server, kv):
    """PATCH honours options.cas like a write."""
    p = unique()
    kv.create_or_update_secret(p, secret={"a": "1"})
    r = server.http("PATCH", f"secret/data/{p}", headers=MP,
                    json_body={"data": {"a": "2"}, "options": {"cas": 9}})
    assert_status(r, 400)
    r = server.http("PATCH", f"secret/data/{p}", headers=MP,
                    json_body={"data": {"a": "2"}, "options": {"cas": 1}})
    assert_status(r, 200)


# ------------------------------------------------------ delete / undelete / destroy

def test_soft_deleted_read_is_404_with_metadata(server, kv):
    """kv-v2 soft-deleted read is 404 with a full envelope: data.data = null and
    data.metadata carrying a non-empty deletion_time (not an {"errors"} body)."""
    p = unique()
    kv.create_or_update_secret(p, secret={"a": "1"})
    assert_status(server.http("DELETE", f"secret/data/{p}"), 204)
    r = server.http("GET", f"secret/data/{p}")
    assert_status(r, 404)
    body = r.json()
    assert "errors" not in body
    assert body["data"]["data"] is None
    md = body["data"]["metadata"]
    assert md["version"] == 1 and md["destroyed"] is False
    assert md["deletion_time"] != ""


def test_delete_undelete_specific_versions(server, kv):
    """delete/:path {versions} soft-deletes those versions; undelete/:path restores them."""
    p = unique()
    for i in range(3):
        kv.create_or_update_secret(p, secret={"i": str(i)})
    kv.delete_secret_versions(p, versions=[1, 2])
    assert_status(server.http("GET", f"secret/data/{p}", params={"version": 1}), 404)
    assert_status(server.http("GET", f"secret/data/{p}", params={"version": 2}), 404)
    assert_status(server.http("GET", f"secret/data/{p}", params={"version": 3}), 200)
    kv.undelete_secret_versions(p, versions=[1])
    r = assert_status(server.http("GET", f"secret/data/{p}", params={"version": 1}), 200)
    assert r.json()["data"]["data"] == {"i": "0"}
    assert r.json()["data"]["metadata"]["deletion_time"] == ""
    assert_status(server.http("GET", f"secret/data/{p}", params={"version": 2}), 404)


def test_destroy_is_permanent(server, kv):
    """destroy/:path marks versions destroyed:true; undelete cannot bring them back and
    the read is 404 with metadata.destroyed = true."""
    p = unique()
    kv.create_or_update_secret(p, secret={"a": "1"})
    kv.create_or_update_secret(p, secret={"a": "2"})
    kv.destroy_secret_versions(p, versions=[1])
    kv.undelete_secret_versions(p, versions=[1])
    r = server.http("GET", f"secret/data/{p}", params={"version": 1})
    assert_status(r, 404)
    assert r.json()["data"]["data"] is None
    assert r.json()["data"]["metadata"]["destroyed"] is True
    md = kv.read_secret_metadata(p)["data"]
    assert md["versions"]["1"]["destroyed"] is True
    assert md["versions"]["2"]["destroyed"] is False


def test_write_after_soft_delete_needs_current_version_for_cas(server, kv):
    """A soft-deleted key still has a current version: cas must match it (cas=0 fails)."""
    p = unique()
    kv.create_or_update_secret(p, secret={"a": "1"})
    kv.delete_latest_version_of_secret(p)
    r = server.http("POST", f"secret/data/{p}", json_body={"data": {"a": "2"}, "options": {"cas": 0}})
    assert_status(r, 400)
    assert_status(server.http("POST", f"secret/data/{p}",
                              json_body={"data": {"a": "2"}, "options": {"cas": 1}}), 200)


# ------------------------------------------------------------------------- metadata

def test_metadata_read_fields(server, kv):
    """kv-v2 metadata read: cas_required, created_time, current_version,
    custom_metadata, delete_version_after (string "0s"), max_versions, oldest_version,
    updated_time, versions{n:{created_time, deletion_time, destroyed}}."""
    p = unique()
    kv.create_or_update_secret(p, secret={"a": "1"})
    kv.create_or_update_secret(p, secret={"a": "2"})
    md = kv.read_secret_metadata(p)["data"]
    assert md["current_version"] == 2
    assert md["cas_required"] is False
    assert md["delete_version_after"] == "0s"
    assert md["max_versions"] == 0
    assert isinstance(md["oldest_version"], int)
    assert set(md["versions"]) == {"1", "2"}
    for v in md["versions"].values():
        assert set(v) >= {"created_time", "deletion_time", "destroyed"}
    assert md["created_time"] == md["versions"]["1"]["created_time"]
    assert md["updated_time"] == md["versions"]["2"]["created_time"]


def test_metadata_list(server, kv):
    """LIST metadata/:prefix returns immediate children; folders end with '/';
    an empty prefix → 404."""
    base = unique("dir")
    kv.create_or_update_secret(f"{base}/a", secret={"x": "1"})
    kv.create_or_update_secret(f"{base}/b", secret={"x": "1"})
    kv.create_or_update_secret(f"{base}/sub/c", secret={"x": "1"})
    keys = kv.list_secrets(base)["data"]["keys"]
    assert sorted(keys) == ["a", "b", "sub/"]
    r = server.http("LIST", f"secret/metadata/{unique('nothing')}")
    assert_status(r, 404)


def test_max_versions_trims_oldest(server, kv):
    """metadata max_versions: writing past the limit permanently removes the oldest
    versions; oldest_version advances and the removed versions read 404."""
    p = unique()
    kv.create_or_update_secret(p, secret={"i": "1"})
    kv.update_metadata(p, max_versions=2)
    for i in range(2, 5):
        kv.create_or_update_secret(p, secret={"i": str(i)})
    md = kv.read_secret_metadata(p)["data"]
    assert md["max_versions"] == 2
    assert md["current_version"] == 4
    assert sorted(md["versions"], key=int) == ["3", "4"]
    assert md["oldest_version"] == 3
    assert_status(server.http("GET", f"secret/data/{p}", params={"version": 1}), 404)
    assert_status(server.http("GET", f"secret/data/{p}", params={"version": 3}), 200)


def test_custom_metadata_and_precreate(server, kv):
    """metadata write can pre-create a key (no version) with custom_metadata, which is
    then returned on data reads too."""
    p = unique()
    kv.update_metadata(p, custom_metadata={"owner": "team-a"})
    md = kv.read_secret_metadata(p)["data"]
    assert md["custom_metadata"] == {"owner": "team-a"}
    assert md["current_version"] == 0
    assert md["versions"] == {}
    kv.create_or_update_secret(p, secret={"a": "1"})
    got = kv.read_secret_version(p, raise_on_deleted_version=True)["data"]["metadata"]
    assert got["custom_metadata"] == {"owner": "team-a"}


def test_metadata_patch(server, kv):
    """PATCH metadata/:path merges custom_metadata and leaves other fields alone."""
    p = unique()
    kv.create_or_update_secret(p, secret={"a": "1"})
    kv.update_metadata(p, max_versions=5, custom_metadata={"a": "1", "b": "2"})
    r = server.http("PATCH", f"secret/metadata/{p}", headers=MP,
                    json_body={"custom_metadata": {"b": None, "c": "3"}})
    assert_status(r, 204)
    md = kv.read_secret_metadata(p)["data"]
    assert md["custom_metadata"] == {"a": "1", "c": "3"}
    assert md["max_versions"] == 5


def test_delete_version_after(server, kv):
    """metadata delete_version_after: new versions get deletion_time = created_time +
    duration and read 404 once it has passed; the metadata shows the duration."""
    p = unique()
    kv.update_metadata(p, delete_version_after="2s")
    assert kv.read_secret_metadata(p)["data"]["delete_version_after"] == "2s"
    w = kv.create_or_update_secret(p, secret={"a": "1"})["data"]
    assert w["deletion_time"] != ""
    assert_status(server.http("GET", f"secret/data/{p}"), 200)
    time.sleep(2.5)
    r = server.http("GET", f"secret/data/{p}")
    assert_status(r, 404)
    assert r.json()["data"]["metadata"]["deletion_time"] == w["deletion_time"]


def test_metadata_delete_removes_everything(server, kv):
    """DELETE metadata/:path removes all versions and the metadata: data and metadata
    reads are then 404 and the key disappears from LIST."""
    base = unique("md")
    kv.create_or_update_secret(f"{base}/gone", secret={"a": "1"})
    kv.create_or_update_secret(f"{base}/stay", secret={"a": "1"})
    kv.delete_metadata_and_all_versions(f"{base}/gone")
    assert_status(server.http("GET", f"secret/data/{base}/gone"), 404)
    assert_status(server.http("GET", f"secret/metadata/{base}/gone"), 404)
    assert kv.list_secrets(base)["data"]["keys"] == ["stay"]


# --------------------------------------------------------------------------- subkeys

def test_subkeys(server, kv):
    """GET subkeys/:path returns the key structure with leaf values replaced by null;
    depth limits nesting."""
    p = unique()
    kv.create_or_update_secret(p, secret={"a": "1", "n": {"x": "1", "y": {"z": "2"}}})
    r = assert_status(server.http("GET", f"secret/subkeys/{p}"), 200)
    assert r.json()["data"]["subkeys"] == {"a": None, "n": {"x": None, "y": {"z": None}}}
    assert r.json()["data"]["metadata"]["version"] == 1
    r = assert_status(server.http("GET", f"secret/subkeys/{p}", params={"depth": 1}), 200)
    assert r.json()["data"]["subkeys"] == {"a": None, "n": None}


# ---------------------------------------------------------------------------- config

def test_config_read_write(server):
    """<mount>/config: defaults cas_required=false, delete_version_after="0s",
    max_versions=0; writes are reflected; mount-level max_versions trims keys."""
    mount = unique("kvcfg")
    c = server.client()
    enable_kv2(server, mount)
    try:
        kv = c.secrets.kv.v2
        cfg = kv.read_configuration(mount_point=mount)["data"]
        assert cfg["cas_required"] is False
        assert cfg["delete_version_after"] == "0s"
        assert cfg["max_versions"] == 0
        kv.configure(max_versions=2, delete_version_after="1h", mount_point=mount)
        cfg = kv.read_configuration(mount_point=mount)["data"]
        assert cfg["max_versions"] == 2
        assert cfg["delete_version_after"] == "1h0m0s"
        for i in range(3):
            kv.create_or_update_secret("k", secret={"i": str(i)}, mount_point=mount)
        md = kv.read_secret_metadata("k", mount_point=mount)["data"]
        assert sorted(md["versions"], key=int) == ["2", "3"]
    finally:
        c.sys.disable_secrets_engine(mount)


# --------------------------------------------------------------------------- kv v1

@pytest.fixture(scope="module")
def kv1_mount(server):
    mount = unique("kv1")
    r = server.http("POST", f"sys/mounts/{mount}", json_body={"type": "kv", "options": {"version": "1"}})
    assert_status(r, 204)
    yield mount
    server.http("DELETE", f"sys/mounts/{mount}")


def test_kv1_crud(server, kv1_mount):
    """kv v1 (sys/mounts type kv, version 1): PUT <mount>/<path> with the data map as
    body → 204; GET returns it in `data` with lease_duration 2764800 (TTL hint);
    LIST lists; DELETE removes (then 404)."""
    m = kv1_mount
    assert_status(server.http("PUT", f"{m}/app/db", json_body={"user": "u", "pw": "p"}), 204)
    assert_status(server.http("PUT", f"{m}/app/api", json_body={"k": "v"}), 204)
    r = assert_status(server.http("GET", f"{m}/app/db"), 200)
    body = r.json()
    assert body["data"] == {"user": "u", "pw": "p"}
    assert body["lease_id"] == ""
    assert body["lease_duration"] == 2764800
    r = assert_status(server.http("LIST", f"{m}/app"), 200)
    assert sorted(r.json()["data"]["keys"]) == ["api", "db"]
    assert_status(server.http("DELETE", f"{m}/app/db"), 204)
    assert_status(server.http("GET", f"{m}/app/db"), 404)
    r = assert_status(server.http("GET", f"{m}/app", params={"list": "true"}), 200)
    assert r.json()["data"]["keys"] == ["api"]


def test_kv1_overwrite_replaces(server, kv1_mount):
    """kv v1 write replaces the whole value (no versions, no merge)."""
    c = server.client()
    p = unique()
    c.secrets.kv.v1.create_or_update_secret(p, {"a": "1", "b": "2"}, mount_point=kv1_mount)
    c.secrets.kv.v1.create_or_update_secret(p, {"c": "3"}, mount_point=kv1_mount)
    assert c.secrets.kv.v1.read_secret(p, mount_point=kv1_mount)["data"] == {"c": "3"}


def test_kv1_mount_reports_version_1(server, kv1_mount):
    """sys/mounts shows the kv v1 mount with type kv and options.version "1"."""
    r = assert_status(server.http("GET", f"sys/mounts/{kv1_mount}"), 200)
    assert r.json()["data"]["type"] == "kv"
    assert r.json()["data"]["options"] == {"version": "1"}


# ------------------------------------------------------------------------- cubbyhole

def test_cubbyhole_is_per_token(server):
    """cubbyhole/: each token sees only its own cubbyhole; read/list/delete work; a
    second token reads 404 at the same path."""
    t1 = create_token(server, policies=["default"])["client_token"]
    t2 = create_token(server, policies=["default"])["client_token"]
    assert_status(server.http("PUT", "cubbyhole/app/secret", token=t1, json_body={"v": "mine"}), 204)
    r = assert_status(server.http("GET", "cubbyhole/app/secret", token=t1), 200)
    assert r.json()["data"] == {"v": "mine"}
    assert_status(server.http("GET", "cubbyhole/app/secret", token=t2), 404)
    r = assert_status(server.http("LIST", "cubbyhole/app", token=t1), 200)
    assert r.json()["data"]["keys"] == ["secret"]
    assert_status(server.http("DELETE", "cubbyhole/app/secret", token=t1), 204)
    assert_status(server.http("GET", "cubbyhole/app/secret", token=t1), 404)


def test_cubbyhole_gone_after_token_revoked(server):
    """A token's cubbyhole is destroyed with the token (a new token never sees it)."""
    t = create_token(server, policies=["default"])["client_token"]
    assert_status(server.http("PUT", "cubbyhole/x", token=t, json_body={"v": "1"}), 204)
    assert_status(server.http("POST", "auth/token/revoke", json_body={"token": t}), 204)
    r = server.http("GET", "cubbyhole/x", token=t)
    assert_status(r, 403)


# ------------------------------------------------------------------------------ acl

def test_kv2_acl_paths(server, kv):
    """kv-v2 ACLs target <mount>/data/* and <mount>/metadata/*: a policy granting only
    read on secret/data/<p> allows the data read but not metadata or writes."""
    p = unique()
    kv.create_or_update_secret(p, secret={"a": "1"})
    pol = unique("pol")
    write_policy(server, pol, f'path "secret/data/{p}" {{ capabilities = ["read"] }}')
    tok = create_token(server, policies=[pol])["client_token"]
    c = server.client(tok)
    assert c.secrets.kv.v2.read_secret_version(p, raise_on_deleted_version=True)["data"]["data"] == {"a": "1"}
    with pytest.raises(hvac.exceptions.Forbidden):
        c.secrets.kv.v2.read_secret_metadata(p)
    with pytest.raises(hvac.exceptions.Forbidden):
        c.secrets.kv.v2.create_or_update_secret(p, secret={"a": "2"})
