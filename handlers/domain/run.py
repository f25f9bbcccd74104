"""The job run itself: refuse a job longer than TIMEOUT, otherwise "sleep" for its seconds.

The refusal is checked here a second time (the API checks first) because a record can reach the
processor without the API (a re-drive, a manual put): it is the pattern's own path to the SNS topic.
"""

from __future__ import annotations

from collections.abc import Callable

from handlers.domain.job import Job
from handlers.domain.status import results_text

Sleep = Callable[[float], None]


class JobTooLong(ValueError):
    """The job asks for more seconds than the processor's TIMEOUT allows."""

    def __init__(self, job_id: str, seconds: int, timeout: int) -> None:
        super().__init__(f"job {job_id!r} asks for {seconds} seconds, longer than TIMEOUT={timeout} seconds: refused")
        self.job_id = job_id
        self.seconds = seconds
        self.timeout = timeout


def validate_seconds(job: Job, timeout: int) -> None:
    """Raise JobTooLong when the job cannot finish within TIMEOUT."""
    if job.seconds > timeout:
        raise JobTooLong(job.id, job.seconds, timeout)


def run_job(job: Job, timeout: int, sleep: Sleep) -> str:
    """Validate, then sleep the job's seconds through ``sleep`` (which may scale time); return the result."""
    validate_seconds(job, timeout)
    sleep(job.seconds)
    return results_text(job.seconds)
