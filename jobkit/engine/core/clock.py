"""The sandbox clock: one place where engine time is read and waited on, so it can be sped up.

With ``scale`` 10, a retry delay of 60 s waits 6 s of wall time and an event "ages" 10 s per wall second.
The sandbox clock drives waits and ages only: every timestamp seen outside the engine (stream records, event
times, log events, destination records) stays wall-clock time, so windows given by callers (a replay's
EventStartTime, a log query's startTime) mean what they say. Functions get ``JOBKIT_TIME_SCALE``
(docs/contracts.md) so their own sleeps shrink by the same factor.
"""

from __future__ import annotations

import bisect
import math
import threading
import time
from dataclasses import dataclass, field

TIME_SCALE_ENV = "JOBKIT_TIME_SCALE"
#: one jump moves the clock at most this far: ten years, far beyond any age or retention the engine checks
#: (DynamoDB Streams keep a record 24 hours), and small enough that the clock stays a finite epoch
MAX_ADVANCE_SECONDS = 10 * 365.25 * 86400
#: jumps remembered with their wall time, for the age of what was written before them (``sandbox_of``); an
#: older jump counts from the wall time of the oldest one kept
JUMPS_KEPT = 256


@dataclass
class SandboxClock:
    """Sandbox time = start + (wall elapsed) * scale + the jumps made so far. ``scale`` 1 (the default) is real
    time."""

    scale: float = 1.0
    _wall_origin: float = field(default_factory=time.time)
    _mono_origin: float = field(default_factory=time.monotonic)
    _offset: float = 0.0  # every jump so far, summed
    _jump_times: list[float] = field(default_factory=list)  # wall times of the last JUMPS_KEPT jumps, in order
    _jump_offsets: list[float] = field(default_factory=list)  # the offset just after each of them
    _forgotten: float = 0.0  # the jumps no longer kept, summed: what came before the oldest kept counts them
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def __post_init__(self) -> None:
        if not (math.isfinite(self.scale) and self.scale > 0):
            raise ValueError(f"the time scale must be a positive number, got {self.scale}")

    def now(self) -> float:
        """Sandbox epoch seconds."""
        return self._wall_origin + (time.monotonic() - self._mono_origin) * self.scale + self._offset

    def sandbox_of(self, wall_epoch: float) -> float:
        """The sandbox time of a wall-clock instant in the past (records written before a mapping started):
        jumps made after that instant make it older."""
        with self._lock:
            index = bisect.bisect_right(self._jump_times, wall_epoch)
            offset = self._jump_offsets[index - 1] if index else self._forgotten
        return self._wall_origin + (wall_epoch - self._wall_origin) * self.scale + offset

    def advance(self, seconds: float) -> None:
        """Jumps sandbox time forward (the record-age scenario moves 7 h on in an instant)."""
        if not math.isfinite(seconds) or seconds < 0:
            raise ValueError(f"the sandbox clock moves forward by a finite number of seconds, got {seconds}")
        if seconds > MAX_ADVANCE_SECONDS:
            raise ValueError(f"one advance moves at most {MAX_ADVANCE_SECONDS:.0f} s (ten years), got {seconds}")
        with self._lock:
            self._offset += seconds
            self._jump_times.append(time.time())
            self._jump_offsets.append(self._offset)
            if len(self._jump_times) > JUMPS_KEPT:
                self._jump_times.pop(0)
                self._forgotten = self._jump_offsets.pop(0)

    def reset(self) -> float:
        """Takes back every jump (a sandbox reset): sandbox time is the scaled wall time again. Returns the offset
        that was dropped."""
        with self._lock:
            dropped = self._offset
            self._offset = self._forgotten = 0.0
            self._jump_times.clear()
            self._jump_offsets.clear()
        return dropped

    def wall_seconds(self, sandbox_seconds: float) -> float:
        """How long ``sandbox_seconds`` last in wall time."""
        return max(0.0, sandbox_seconds / self.scale)

    def wait(self, sandbox_seconds: float, stop: threading.Event | None = None) -> bool:
        """Waits ``sandbox_seconds`` of sandbox time; True if ``stop`` was set first (an engine stopping)."""
        event = stop or threading.Event()
        return event.wait(self.wall_seconds(sandbox_seconds))

    def function_env(self) -> dict[str, str]:
        """What a function needs to shrink its own sleeps; nothing at real time (as on AWS)."""
        return {} if self.scale == 1 else {TIME_SCALE_ENV: f"{self.scale:g}"}
