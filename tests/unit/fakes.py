"""In-memory doubles of the domain protocols (the domain tests need no AWS emulation)."""

from __future__ import annotations

import copy
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from handlers.domain.locking import VersionConflict


@dataclass
class MemoryJobStore:
    """JobStore + VersionBumper over a dict, counting calls and recording every successful write."""

    items: dict[str, dict[str, Any]] = field(default_factory=dict)
    reads: int = 0
    attempts: int = 0
    conflicts: int = 0
    writes: list[tuple[str, str, dict[str, Any]]] = field(default_factory=list)
    always_conflict: bool = False
    returns_item_on_conflict: bool = False
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, job_id: str, seconds: int, **extra: Any) -> None:
        self.items[job_id] = {"id": job_id, "seconds": seconds, "version": 0, "job_status": {}, **extra}

    def get_item(self, job_id: str) -> Mapping[str, Any] | None:
        with self._lock:
            self.reads += 1
            item = self.items.get(job_id)
            return None if item is None else copy.deepcopy(item)

    def put_status(
        self,
        job_id: str,
        consumer: str,
        status: Mapping[str, Any],
        *,
        expected_version: int | None,
        create_map: bool,
    ) -> None:
        with self._lock:
            self.attempts += 1
            item = self.items[job_id]
            if self.always_conflict or item.get("version") != expected_version:
                self.conflicts += 1
                found = copy.deepcopy(item) if self.returns_item_on_conflict else None
                raise VersionConflict(job_id, expected_version, found)
            if create_map:
                item["job_status"] = {}
            item["job_status"][consumer] = dict(status)
            item["version"] = (expected_version or 0) + 1
            self.writes.append((job_id, consumer, dict(status)))

    def bump_version(self, job_id: str) -> None:
        with self._lock:
            item = self.items[job_id]
            item["version"] = item.get("version", 0) + 1


@dataclass
class RecordingClock:
    """FaultClock parts that record instead of sleeping."""

    remaining: float = 0.05
    sleeps: list[float] = field(default_factory=list)
    real_sleeps: list[float] = field(default_factory=list)

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)

    def sleep_real(self, seconds: float) -> None:
        self.real_sleeps.append(seconds)

    def remaining_seconds(self) -> float:
        return self.remaining


@dataclass
class DictPlanSource:
    """FaultPlanSource over a dict, counting reads."""

    plans: dict[str, str] = field(default_factory=dict)
    reads: list[str] = field(default_factory=list)

    def read(self, name: str) -> str | None:
        self.reads.append(name)
        return self.plans.get(name)
