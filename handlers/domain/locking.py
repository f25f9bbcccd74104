"""Optimistic locking of the job item: the ONE place where status writes happen.

Several consumers write their own ``job_status.<consumer>`` on the same item at the same time. Every
write reads the item with a consistent read, then writes conditionally on ``version`` and bumps it; a
conflict means another writer got in between, so the write re-reads and retries (at once the first time,
then after a jittered exponential backoff). When the attempts run out it raises ``LockExhausted``: a status
is never dropped silently.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from decimal import Decimal
from typing import Any, Protocol

logger = logging.getLogger(__name__)

Sleep = Callable[[float], None]
Random = Callable[[], float]
BeforeWrite = Callable[[str, int], None]
"""Hook called with (job_id, attempt) after the read and before the conditional write (fault injection)."""
Guard = Callable[[Mapping[str, Any]], str | None]
"""Asked about each item a write is about to start from: a reason not to write at all, or None."""


class VersionConflict(Exception):
    """The conditional write lost: the item's version is no longer the one that was read."""

    def __init__(self, job_id: str, expected_version: int | None, current: Mapping[str, Any] | None = None) -> None:
        super().__init__(f"job {job_id!r}: version is no longer {expected_version!r}")
        self.job_id = job_id
        self.expected_version = expected_version
        self.current = current
        """The item as the failed write found it, when the store returns it (DynamoDB does on request)."""


class LockExhausted(RuntimeError):
    """Every attempt of a status write conflicted: the status was NOT written."""

    def __init__(self, job_id: str, consumer: str, attempts: int) -> None:
        super().__init__(
            f"job {job_id!r}: could not write the status of {consumer!r} after {attempts} attempt(s), "
            "each lost to a concurrent writer (raise OPTIMISTIC_LOCKING_RETRY_ATTEMPTS?)"
        )
        self.job_id = job_id
        self.consumer = consumer
        self.attempts = attempts


class WriteRefused(Exception):
    """A write's guard found a reason not to write on the item as it is now (nothing was written)."""

    def __init__(self, job_id: str, reason: str) -> None:
        super().__init__(reason)
        self.job_id = job_id
        self.reason = reason


class JobNotFound(LookupError):
    """The item to write a status on does not exist (deleted, or another table)."""

    def __init__(self, job_id: str) -> None:
        super().__init__(f"job {job_id!r} is not in the jobs table")
        self.job_id = job_id


class JobStore(Protocol):
    """What the locking needs from the jobs table."""

    def get_item(self, job_id: str) -> Mapping[str, Any] | None:
        """The deserialized item read with a consistent read, or None when absent."""
        ...

    def put_status(
        self,
        job_id: str,
        consumer: str,
        status: Mapping[str, Any],
        *,
        expected_version: int | None,
        create_map: bool,
    ) -> None:
        """Set ``job_status.<consumer>`` and ``version = expected + 1`` only if ``version`` is still
        ``expected_version`` (absent when None); raise VersionConflict otherwise. ``create_map``: the item
        has no ``job_status`` yet, so the map is created with this one entry."""
        ...


class VersionBumper(Protocol):
    """A concurrent writer, as the ``conflict`` fault simulates it."""

    def bump_version(self, job_id: str) -> None:
        """Increment the item's ``version`` without touching anything else."""
        ...


@dataclass(frozen=True)
class RetryPolicy:
    """How many attempts a status write gets, and how long to back off between them (seconds)."""

    attempts: int
    base_delay: float = 0.05
    max_delay: float = 1.0

    def __post_init__(self) -> None:
        if self.attempts < 1:
            raise ValueError(f"OPTIMISTIC_LOCKING_RETRY_ATTEMPTS must be >= 1, got {self.attempts}")

    def backoff(self, attempt: int, rand: Random = random.random) -> float:
        """The wait after the given (1-based) failed attempt: none after the first, then full-jitter exponential.

        A version conflict is not throttling: the other writer has already committed, so an immediate re-read
        sees its write and the retry usually succeeds (two consumers finishing together collide once per job).
        Backing off pays only when writers keep colliding, from the second conflict on.
        """
        if attempt <= 1:
            return 0.0
        return rand() * min(self.max_delay, self.base_delay * (2 ** (attempt - 2)))


def _version_of(job_id: str, item: Mapping[str, Any]) -> int | None:
    value = item.get("version")
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | Decimal):
        raise ValueError(f"job {job_id!r}: version must be a number, got {value!r}")
    return int(value)


def write_status(
    store: JobStore,
    job_id: str,
    consumer: str,
    status: Mapping[str, Any],
    policy: RetryPolicy,
    *,
    sleep: Sleep = time.sleep,
    rand: Random = random.random,
    before_write: BeforeWrite | None = None,
    current: Mapping[str, Any] | None = None,
    guard: Guard | None = None,
) -> int:
    """Write ``job_status.<consumer> = status`` under optimistic locking; return the new version.

    ``current`` is the item as the caller knows it (read, or the stream record's image of it): the first
    attempt starts from it instead of reading. A stale one costs nothing but a conflict, since the write is
    conditional on its version. After a conflict, the next attempt starts from the item the failed write found
    (``VersionConflict.current``) when the store returned it, else from a fresh read. ``guard`` is asked about
    every item an attempt starts from and raises WriteRefused with its reason, so a caller that starts from an
    old image still decides on the item as it is. Raises JobNotFound when the item is gone and LockExhausted
    after ``policy.attempts`` conflicts.
    """
    last_conflict: VersionConflict | None = None
    known = current
    for attempt in range(1, policy.attempts + 1):
        item = known if known is not None else store.get_item(job_id)
        known = None
        if item is None:
            raise JobNotFound(job_id)
        refusal = guard(item) if guard is not None else None
        if refusal is not None:
            raise WriteRefused(job_id, refusal)
        expected = _version_of(job_id, item)
        if before_write is not None:
            before_write(job_id, attempt)
        try:
            store.put_status(
                job_id,
                consumer,
                status,
                expected_version=expected,
                create_map="job_status" not in item,
            )
        except VersionConflict as conflict:
            last_conflict = conflict
            known = conflict.current
            # the first conflict is the pattern's normal case (two consumers writing the same job); from the
            # second on, writers keep colliding
            logger.log(
                logging.INFO if attempt == 1 else logging.WARNING,
                "status write conflicted, retrying",
                extra={
                    "job_id": job_id,
                    "consumer": consumer,
                    "attempt": attempt,
                    "attempts": policy.attempts,
                    "expected_version": expected,
                },
            )
            if attempt < policy.attempts:
                sleep(policy.backoff(attempt, rand))
            continue
        new_version = (expected or 0) + 1
        logger.info(
            "status written",
            extra={
                "job_id": job_id,
                "consumer": consumer,
                "status": status.get("status"),
                "version": new_version,
                "attempt": attempt,
            },
        )
        return new_version
    raise LockExhausted(job_id, consumer, policy.attempts) from last_conflict


@dataclass(frozen=True)
class StatusWriter:
    """Writes one consumer's statuses with a fixed retry policy (the flows only say *what* to write)."""

    store: JobStore
    consumer: str
    policy: RetryPolicy
    before_write: BeforeWrite | None = None
    sleep: Sleep = time.sleep
    rand: Random = random.random

    def write(self, job_id: str, status: Mapping[str, Any], current: Mapping[str, Any] | None = None,
              guard: Guard | None = None) -> int:
        """Write ``status`` under this consumer; return the new version (see ``write_status``)."""
        return write_status(
            self.store,
            job_id,
            self.consumer,
            status,
            self.policy,
            sleep=self.sleep,
            rand=self.rand,
            before_write=self.before_write,
            current=current,
            guard=guard,
        )

    def with_before_write(self, hook: BeforeWrite | None) -> StatusWriter:
        """The same writer with a hook run before each conditional write (the ``conflict`` fault)."""
        return replace(self, before_write=hook)
