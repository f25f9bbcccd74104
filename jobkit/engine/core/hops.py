"""One line per hop of a job through the engine, with the job id: what ``jobkit up`` shows while it runs."""

from __future__ import annotations

import sys
import threading
import time
from dataclasses import dataclass, field
from typing import TextIO

from jobkit.text import printable


@dataclass
class HopLog:
    """Prints hops and remembers which stream sequence number belongs to which job (the later hops only
    carry the sequence number)."""

    out: TextIO | None = field(default_factory=lambda: sys.stdout)
    _jobs: dict[str, str] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def remember(self, sequence_number: str, job_id: str) -> None:
        with self._lock:
            self._jobs[sequence_number] = job_id

    def job_of(self, sequence_number: str | None) -> str:
        with self._lock:
            return self._jobs.get(sequence_number or "", "-")

    def __call__(self, hop: str, job_id: str | None, detail: str = "") -> None:
        job = job_id or "-"
        if self.out is not None:
            # job ids and details come from requests (a path is decoded: %1b is ESC) and function output
            stamp = time.strftime("%H:%M:%S")
            line = printable(f"{stamp} job {job} | {hop}" + (f" | {detail}" if detail else ""))
            with self._lock:
                print(line, file=self.out, flush=True)
