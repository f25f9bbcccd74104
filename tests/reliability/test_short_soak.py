"""The short soak inside ``make test``: 300 jobs, 10 % processor faults, 5 % error-handler faults, a replay.

The soak itself lives in ``scripts/soak.py`` (``make soak`` runs it with 10,000 jobs); this runs it on a
fresh engine of its own, so every item of the table is one of its jobs. Why every job must end with
``version`` = 2 writes per consumer, faulted or not, is explained in ``soak.tally``.
"""

from __future__ import annotations

import importlib.util
import sys
from types import ModuleType

from tests.reliability.conftest import ROOT, Sandbox

JOBS = 300


def _soak_module() -> ModuleType:
    spec = importlib.util.spec_from_file_location("jobkit_soak_script", ROOT / "scripts" / "soak.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses resolve annotations through sys.modules
    spec.loader.exec_module(module)
    return module


def test_short_soak_loses_nothing_and_writes_nothing_twice(sandbox: Sandbox) -> None:
    soak = _soak_module()
    report = soak.run_soak(sandbox.deployment, JOBS, workers=16, timeout=90, say=print)
    for line in report.lines():
        print(line)
    consumers = sandbox.deployment.consumer_ids()
    first, second = consumers[0], consumers[1]
    assert report.accepted == JOBS and report.refused == 0, report.lines()
    assert report.kinds == {"clean": 255, "processor_fault": 30, "error_handler_fault": 15}
    assert report.lost == 0, report.lines()
    assert report.duplicated == 0, report.lines()
    assert report.unexpected == 0, report.lines()
    assert report.versions == {str(2 * len(consumers)): JOBS}, report.lines()
    # the archive held exactly the error-handler failures, and the replay re-drove each of them
    assert report.archived_before_replay == 15 and report.replayed_events == 15, report.lines()
    assert report.statuses[first] == {"Success": 270, "Failure": 30}
    assert report.statuses[second] == {"Success": 285, "Failure": 15}
