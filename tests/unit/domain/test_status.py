from __future__ import annotations

from handlers.domain import status


def test_running() -> None:
    assert status.running() == {"status": "Running"}


def test_success_carries_the_results_text() -> None:
    assert status.success(3) == {"status": "Success", "results": "I slept for 3 seconds"}


def test_failure_carries_seconds_and_error_when_known() -> None:
    assert status.failure(3, "RetryAttemptsExhausted") == {
        "status": "Failure",
        "seconds": 3,
        "error": "RetryAttemptsExhausted",
    }
    assert status.failure(3) == {"status": "Failure", "seconds": 3}
