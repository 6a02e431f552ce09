"""hvac's own integration tests, run against Coffer and against OpenBao.

hvac (the Python client Coffer must serve unchanged) ships its integration suite in its
sdist.  tests/hvac_suite/harness.py downloads the pinned sdist (sha256-checked), unpacks
it, and runs the selected modules (tests/hvac_suite/selection.py) with pytest, a `vault`
shim first on PATH running `coffer server` or `bao server` with hvac's own TLS config.

Each hvac test id is one case here, per server: `test_hvac[coffer-api/secrets_engines/
test_kv_v2.py::TestKvV2::test_patch_0_...]`.  The whole selection runs once per server
(the first case of that server starts it, about 35 s); every case then reports its own
result, with hvac's traceback when it failed.  Expected failures (xfail, strict) and
skips carry their reason from selection.py.

Environment
  COFFER_HVAC_PYTHON   interpreter for the inner run (default: this one); it needs hvac,
                       pytest and tests/hvac_suite/requirements.txt
  COFFER_HVAC_SDIST    a local hvac-2.4.0.tar.gz instead of the download
  COFFER_HVAC_SUITE=0  leave the suite out
  COFFER_HVAC_REQUIRE=1  fail (instead of skip) when the suite cannot run
"""

from __future__ import annotations

import fnmatch
import hashlib
import json
import os
import sys
from pathlib import Path

import pytest

from conftest import BAO_BIN, COFFER_BIN, TARGETS

sys.path.insert(0, str(Path(__file__).resolve().parent / "hvac_suite"))

import harness  # noqa: E402
from selection import MODULES, PREFIX, SKIP, XFAIL  # noqa: E402

PYTHON = os.environ.get("COFFER_HVAC_PYTHON") or sys.executable
SERVER_BIN = {"coffer": COFFER_BIN, "bao": BAO_BIN}


def _short(nodeid: str) -> str:
    return nodeid[len(PREFIX):] if nodeid.startswith(PREFIX) else nodeid


def _match(table: dict[str, str], short: str) -> str | None:
    for pattern, reason in table.items():
        if fnmatch.fnmatchcase(short, pattern):
            return reason
    return None


def _collect() -> tuple[list[str], str | None]:
    """hvac's node ids in the selected modules, or why the suite cannot run.  Cached
    per sdist and selection, so a normal pytest run does not collect hvac every time."""
    if os.environ.get("COFFER_HVAC_SUITE") == "0":
        return [], "COFFER_HVAC_SUITE=0"
    missing = harness.missing_extras(PYTHON)
    if missing:
        return [], (f"{PYTHON} lacks {', '.join(missing)} (hvac's test dependencies): "
                    "pip install -r tests/hvac_suite/requirements.txt, or set COFFER_HVAC_PYTHON")
    key = hashlib.sha256(json.dumps([harness.SDIST_SHA256, MODULES]).encode()).hexdigest()[:16]
    cache = harness.CACHE / f"collected-{key}.json"
    try:
        return json.loads(cache.read_text()), None
    except (OSError, ValueError):
        pass
    try:
        with harness.Workdir("coffer", COFFER_BIN, PYTHON) as w:
            ids = w.collect(MODULES)
    except harness.SuiteUnavailable as e:
        return [], str(e)
    cache.parent.mkdir(parents=True, exist_ok=True)
    cache.write_text(json.dumps(ids))
    return ids, None


IDS, UNAVAILABLE = _collect()


def _cases():
    if UNAVAILABLE:
        for target in TARGETS:
            yield pytest.param(target, "", id=f"{target}-unavailable")
        return
    for target in TARGETS:
        for nodeid in IDS:
            short = _short(nodeid)
            marks = []
            skip = _match(SKIP, short)
            xfail = _match(XFAIL.get(target, {}), short)
            if skip:
                marks.append(pytest.mark.skip(reason=skip))
            elif xfail:
                marks.append(pytest.mark.xfail(reason=xfail, strict=True))
            yield pytest.param(target, nodeid, id=f"{target}-{short}", marks=marks)


_RUNS: dict[str, tuple[dict, str, str]] = {}


def _results(target: str) -> tuple[dict, str, str]:
    """Run the selection once per target (every id not skipped) and keep the results."""
    if target not in _RUNS:
        wanted = [n for n in IDS if not _match(SKIP, _short(n))]
        with harness.Workdir(target, SERVER_BIN[target], PYTHON) as w:
            results, output = w.run(wanted)
            log = w.server_log_tail()
        _RUNS[target] = (results, output, log)
    return _RUNS[target]


@pytest.mark.parametrize("target,nodeid", list(_cases()))
def test_hvac(target, nodeid):
    if UNAVAILABLE:
        if os.environ.get("COFFER_HVAC_REQUIRE") == "1":
            pytest.fail(f"hvac suite cannot run: {UNAVAILABLE}", pytrace=False)
        pytest.skip(f"hvac suite cannot run: {UNAVAILABLE}")
    results, output, log = _results(target)
    r = results.get(nodeid)
    if r is None:
        pytest.fail(
            f"hvac's run against {target} reported nothing for {nodeid}\n"
            f"--- end of hvac's pytest output ---\n{output[-4000:]}\n--- end of the last server log ---\n{log}",
            pytrace=False,
        )
    if r["outcome"] == "skipped":
        pytest.skip(f"skipped by hvac: {r['message']}")
    if r["outcome"] == "failed":
        pytest.fail(f"hvac {nodeid} failed against {target}:\n{r['message']}", pytrace=False)
    assert r["outcome"] == "passed", r
