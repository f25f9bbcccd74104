"""The hop log's memory of which stream record belongs to which job stays bounded."""

from __future__ import annotations

from jobkit.engine.core.hops import HopLog


def test_the_oldest_sequence_numbers_are_forgotten_first() -> None:
    log = HopLog(out=None, remembered=3)
    for n in range(5):
        log.remember(str(n), f"job-{n}")
    assert [log.job_of(str(n)) for n in range(5)] == ["-", "-", "job-2", "job-3", "job-4"]
