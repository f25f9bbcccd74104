"""The sandbox clock: one place where engine time is read and waited on, so it can be sped up.

With ``scale`` 10, a retry delay of 60 s waits 6 s of wall time and an event "ages" 10 s per wall second.
The sandbox clock drives waits and ages only: every timestamp seen outside the engine (stream records, event
times, log events, destination records) stays wall-clock time, so windows given by callers (a replay's
EventStartTime, a log query's startTime) mean what they say. Functions get ``JOBKIT_TIME_SCALE``
(docs/contracts.md) so their own sleeps shrink by the same factor.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field

TIME_SCALE_ENV = "JOBKIT_TIME_SCALE"


@dataclass
class SandboxClock:
    """Sandbox time = start + (wall elapsed) * scale. ``scale`` 1 (the default) is real time."""

    scale: float = 1.0
    _wall_origin: float = field(default_factory=time.time)
    _mono_origin: float = field(default_factory=time.monotonic)

    def __post_init__(self) -> None:
        if self.scale <= 0:
            raise ValueError(f"the time scale must be positive, got {self.scale}")

    _advances: list[tuple[float, float]] = field(default_factory=list)  # (wall time of the jump, seconds)

    def now(self) -> float:
        """Sandbox epoch seconds."""
        offset = sum(seconds for _, seconds in self._advances)
        return self._wall_origin + (time.monotonic() - self._mono_origin) * self.scale + offset

    def sandbox_of(self, wall_epoch: float) -> float:
        """The sandbox time of a wall-clock instant in the past (records written before a mapping started):
        jumps made after that instant make it older."""
        offset = sum(seconds for at, seconds in self._advances if at <= wall_epoch)
        return self._wall_origin + (wall_epoch - self._wall_origin) * self.scale + offset

    def advance(self, seconds: float) -> None:
        """Jumps sandbox time forward (the record-age scenario moves 7 h on in an instant)."""
        if seconds < 0:
            raise ValueError("the sandbox clock only moves forward")
        self._advances.append((time.time(), seconds))

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
