"""pytest plugin loaded into the inner run of hvac's suite (`-p report_plugin`).

Writes one JSON object {nodeid: {"outcome", "message"}} to $HVAC_SUITE_REPORT when the
session ends, so the outer test (tests/test_hvac_suite.py) can give each hvac test its
own result.  A test's outcome is the worst of its phases: an error in setup (e.g. the
server of a test class did not start) or teardown fails it too.
"""

from __future__ import annotations

import json
import os

_RESULTS: dict[str, dict] = {}
_RANK = {"passed": 0, "skipped": 1, "failed": 2}


def _message(report) -> str:
    if report.skipped and isinstance(report.longrepr, tuple):
        return str(report.longrepr[2])
    text = getattr(report, "longreprtext", "") or ""
    # the end of a traceback says what went wrong; keep it bounded
    return text[-6000:]


def pytest_runtest_logreport(report):
    outcome = report.outcome
    if report.when != "call" and outcome == "passed":
        _RESULTS.setdefault(report.nodeid, {"outcome": "passed", "message": ""})
        return
    if report.when != "call" and outcome == "failed":
        message = f"error in {report.when}:\n{_message(report)}"
    else:
        message = _message(report)
    old = _RESULTS.get(report.nodeid)
    if old is None or _RANK[outcome] > _RANK[old["outcome"]] or (report.when == "call" and old["outcome"] == "passed"):
        _RESULTS[report.nodeid] = {"outcome": outcome, "message": message}


def pytest_sessionfinish(session):
    path = os.environ.get("HVAC_SUITE_REPORT")
    if path:
        with open(path, "w") as f:
            json.dump(_RESULTS, f, indent=1)
