"""The handlers' environment (docs/contracts.md, "Lambda environment"), read once into a typed object.

Everything is read up front, and a missing variable fails with its name (a bare ``int(None)`` at import
would say nothing of ``CONSUMER_ID``). Settings are read on the first invocation, not at import, so importing
a handler never fails; they are cached per distinct environment, so an in-process engine hosting several
consumers still gets the right ones.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Final, Literal

Role = Literal["processor", "error_handler"]

_VARIABLES: Final = (
    "TABLE_NAME",
    "CONSUMER_ID",
    "OPTIMISTIC_LOCKING_RETRY_ATTEMPTS",
    "TIMEOUT",
    "FAULT_PLAN_PREFIX",
    "JOBKIT_TIME_SCALE",
)


class SettingsError(RuntimeError):
    """A required variable is missing or malformed; the message names it."""


@dataclass(frozen=True)
class Settings:
    """Typed view of the environment shared by the processor and the error handler."""

    role: Role
    table_name: str
    consumer_id: str
    optimistic_locking_retry_attempts: int
    timeout: int | None = None
    """Processor only: a job longer than this many seconds is refused."""
    fault_plan_prefix: str | None = None
    """Present only when the stack was synthesized with fault injection on."""
    time_scale: float = 1.0
    """JOBKIT_TIME_SCALE: sandbox seconds per wall-clock second (embedded engine only)."""

    @classmethod
    def from_env(cls, env: Mapping[str, str], role: Role) -> Settings:
        """Parse ``env``; raise SettingsError naming the first missing or malformed variable."""

        def required(name: str) -> str:
            value = env.get(name, "").strip()
            if not value:
                raise SettingsError(f"environment variable {name} is required by the {role} but is not set")
            return value

        def integer(name: str, minimum: int) -> int:
            raw = required(name)
            try:
                value = int(raw)
            except ValueError as exc:
                raise SettingsError(f"environment variable {name} must be an integer, got {raw!r}") from exc
            if value < minimum:
                raise SettingsError(f"environment variable {name} must be >= {minimum}, got {value}")
            return value

        table_name = required("TABLE_NAME")
        consumer_id = required("CONSUMER_ID")
        attempts = integer("OPTIMISTIC_LOCKING_RETRY_ATTEMPTS", 1)
        timeout = integer("TIMEOUT", 0) if role == "processor" else None
        prefix = env.get("FAULT_PLAN_PREFIX", "").strip() or None
        raw_scale = env.get("JOBKIT_TIME_SCALE", "").strip() or "1"
        try:
            time_scale = float(raw_scale)
        except ValueError as exc:
            raise SettingsError(f"environment variable JOBKIT_TIME_SCALE must be a number, got {raw_scale!r}") from exc
        if not time_scale > 0 or time_scale == float("inf"):
            raise SettingsError(f"environment variable JOBKIT_TIME_SCALE must be > 0, got {raw_scale!r}")
        return cls(
            role=role,
            table_name=table_name,
            consumer_id=consumer_id,
            optimistic_locking_retry_attempts=attempts,
            timeout=timeout,
            fault_plan_prefix=prefix,
            time_scale=time_scale,
        )


@lru_cache(maxsize=16)
def _cached(role: Role, snapshot: tuple[tuple[str, str | None], ...]) -> Settings:
    return Settings.from_env({k: v for k, v in snapshot if v is not None}, role)


def load_settings(role: Role, env: Mapping[str, str] | None = None) -> Settings:
    """Settings for ``role`` from ``env`` (default: os.environ), parsed once per distinct environment."""
    source = os.environ if env is None else env
    return _cached(role, tuple((name, source.get(name)) for name in _VARIABLES))
