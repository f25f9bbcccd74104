"""The job item of the jobs table, as read from a stream NewImage or a consistent GetItem.

Images arrive already deserialized (DynamoDB ``N`` as ``Decimal``/``int``, ``M`` as ``dict``); parsing
them here keeps the item shape of docs/contracts.md in one place.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any


class InvalidJob(ValueError):
    """The item does not have the shape of docs/contracts.md ("Jobs table item")."""


@dataclass(frozen=True)
class Job:
    """One job: what to run, which fault plan it asked for, and the statuses written so far."""

    id: str
    seconds: int
    fault: str | None = None
    job_status: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    version: int | None = None

    def status_of(self, consumer: str) -> Mapping[str, Any] | None:
        """The status this consumer already wrote, if any."""
        return self.job_status.get(consumer)


def _as_int(value: Any, name: str, job_id: str) -> int:
    """Numbers come back as Decimal from DynamoDB; only whole, non-negative ones make sense here."""
    if isinstance(value, bool) or not isinstance(value, int | Decimal | float | str):
        raise InvalidJob(f"job {job_id!r}: {name} must be a number, got {value!r}")
    try:
        number = Decimal(str(value))
    except ArithmeticError as exc:
        raise InvalidJob(f"job {job_id!r}: {name} must be a number, got {value!r}") from exc
    if not number.is_finite() or number != number.to_integral_value() or number < 0:
        raise InvalidJob(f"job {job_id!r}: {name} must be a whole number >= 0, got {value!r}")
    return int(number)


def parse_job(image: Mapping[str, Any]) -> Job:
    """Build a Job from a deserialized item image; raise InvalidJob naming the faulty attribute."""
    job_id = image.get("id")
    if not isinstance(job_id, str) or not job_id:
        raise InvalidJob(f"item has no string 'id': {dict(image)!r}")
    if "seconds" not in image:
        raise InvalidJob(f"job {job_id!r} has no 'seconds'")
    seconds = _as_int(image["seconds"], "seconds", job_id)
    fault = image.get("fault")
    if fault is not None and not isinstance(fault, str):
        raise InvalidJob(f"job {job_id!r}: 'fault' must be a string, got {fault!r}")
    raw_status = image.get("job_status") or {}
    if not isinstance(raw_status, Mapping):
        raise InvalidJob(f"job {job_id!r}: 'job_status' must be a map, got {raw_status!r}")
    statuses: dict[str, Mapping[str, Any]] = {}
    for consumer, status in raw_status.items():
        if not isinstance(status, Mapping):
            raise InvalidJob(f"job {job_id!r}: job_status.{consumer} must be a map, got {status!r}")
        statuses[str(consumer)] = dict(status)
    version = image.get("version")
    return Job(
        id=job_id,
        seconds=seconds,
        fault=fault or None,
        job_status=statuses,
        version=None if version is None else _as_int(version, "version", job_id),
    )
