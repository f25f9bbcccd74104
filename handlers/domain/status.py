"""Builders of the per-consumer status maps stored under ``job_status.<consumer>``.

One place for the exact wording (``I slept for N seconds``) and keys that clients and scenarios assert on.
"""

from __future__ import annotations

from typing import Any, Final

RUNNING: Final = "Running"
SUCCESS: Final = "Success"
FAILURE: Final = "Failure"


def results_text(seconds: int) -> str:
    """The result text of a finished job, as the pattern's sample writes it."""
    return f"I slept for {seconds} seconds"


def running() -> dict[str, Any]:
    """Status written before the job starts, so a client sees the job was picked up."""
    return {"status": RUNNING}


def success(seconds: int) -> dict[str, Any]:
    """Status written when the job finished."""
    return {"status": SUCCESS, "results": results_text(seconds)}


def failure(seconds: int, error: str | None = None) -> dict[str, Any]:
    """Status written by the error handler; ``error`` only when the cause is known."""
    status: dict[str, Any] = {"status": FAILURE, "seconds": seconds}
    if error:
        status["error"] = error
    return status
