"""The engine's front door, tried as an attacker on the same machine would: one test (or one family) per attack.

Each test is an attack; a passing test is an attack the engine refused. ``make security`` prints how many were
tried and how many refused. One engine per session on a free port (moto's state is per process), started as
the reliability tests start theirs.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.reliability.conftest import Sandbox, start_sandbox


@pytest.fixture(scope="session")
def sandbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sandbox]:
    running = start_sandbox(tmp_path_factory.mktemp("engine") / "cdk-outputs.json")
    yield running
    running.engine.stop()


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "control: not an attack; what the refusals must leave working")


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """One line: the attacks tried (tests of this folder that ran, but the controls) and refused (passed)."""
    stats = terminalreporter.stats
    reports = [r for key in ("passed", "failed", "error") for r in stats.get(key, [])
               if getattr(r, "when", "") == "call" and r.nodeid.startswith("tests/security/")
               and "control" not in r.keywords]
    if not reports:
        return
    refused = sum(1 for r in reports if r.passed)
    terminalreporter.write_line(f"security: {len(reports)} attacks tried, {refused} refused")
