"""The scenario runner's scheduling, without a target: which scenarios start first."""

from __future__ import annotations

from typing import Any

import pytest

from scenarios import _runner
from scenarios._model import Scenario
from scenarios._runner import PASSED, Outcome, run_all


def _scenario(name: str, **flags: Any) -> Scenario:
    return Scenario(name=name, title=name, run=lambda ctx: None, **flags)


def test_long_scenarios_start_first_and_exclusive_ones_last(monkeypatch: pytest.MonkeyPatch) -> None:
    started: list[str] = []

    def run_one(scenario: Scenario, deployment: Any, api: Any) -> Outcome:
        started.append(scenario.name)
        return Outcome(scenario, status=PASSED)

    monkeypatch.setattr(_runner, "run_one", run_one)
    monkeypatch.setattr(_runner.JobsApi, "for_deployment", classmethod(lambda cls, deployment: None))
    selected = [_scenario("a"), _scenario("b_replay", exclusive=True), _scenario("c"), _scenario("d_burst", long=True),
                _scenario("e_timeout", long=True)]

    outcomes = run_all(selected, deployment=None, parallel=1)  # type: ignore[arg-type]

    assert started == ["d_burst", "e_timeout", "a", "c", "b_replay"]
    assert [o.scenario.name for o in outcomes] == ["a", "b_replay", "c", "d_burst", "e_timeout"]  # as selected
