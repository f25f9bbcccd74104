from __future__ import annotations

import pytest

from handlers.domain.job import Job
from handlers.domain.run import JobTooLong, run_job, validate_seconds


def test_run_sleeps_the_seconds_through_the_injected_sleep() -> None:
    slept: list[float] = []
    assert run_job(Job(id="j", seconds=7), timeout=300, sleep=slept.append) == "I slept for 7 seconds"
    assert slept == [7]


def test_a_job_of_exactly_timeout_seconds_runs() -> None:
    validate_seconds(Job(id="j", seconds=300), timeout=300)


def test_a_job_longer_than_timeout_is_refused_without_sleeping() -> None:
    slept: list[float] = []
    with pytest.raises(JobTooLong, match=r"301 seconds, longer than TIMEOUT=300 seconds: refused") as info:
        run_job(Job(id="j", seconds=301), timeout=300, sleep=slept.append)
    assert (info.value.seconds, info.value.timeout) == (301, 300)
    assert slept == []
