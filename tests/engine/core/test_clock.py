from __future__ import annotations

import threading
import time

import pytest

from jobkit.engine.core.clock import TIME_SCALE_ENV, SandboxClock


def test_real_time_by_default_and_no_env_for_functions() -> None:
    clock = SandboxClock()
    assert abs(clock.now() - time.time()) < 0.5
    assert clock.function_env() == {}


def test_scaled_time_runs_faster_and_shrinks_waits() -> None:
    clock = SandboxClock(scale=100)
    start = clock.now()
    began = time.monotonic()
    assert clock.wait(10) is False  # 10 sandbox seconds
    wall = time.monotonic() - began
    assert 0.05 <= wall < 1.0
    assert clock.now() - start >= 10
    assert clock.function_env() == {TIME_SCALE_ENV: "100"}


def test_advance_moves_forward_only() -> None:
    clock = SandboxClock()
    before = clock.now()
    clock.advance(7 * 3600)
    assert clock.now() - before >= 7 * 3600
    with pytest.raises(ValueError):
        clock.advance(-1)


def test_wait_returns_early_when_stopped() -> None:
    clock = SandboxClock()
    stop = threading.Event()
    stop.set()
    assert clock.wait(60, stop) is True


def test_scale_must_be_positive() -> None:
    with pytest.raises(ValueError):
        SandboxClock(scale=0)


def test_jumps_age_what_was_written_before_them() -> None:
    clock = SandboxClock()
    written = time.time()
    clock.advance(3600)
    assert clock.now() - clock.sandbox_of(written) >= 3600
    after = time.time()
    assert clock.now() - clock.sandbox_of(after) < 1


def test_reset_takes_every_jump_back_and_keeps_the_scale() -> None:
    clock = SandboxClock(scale=2)
    clock.advance(3600)
    clock.advance(60)
    assert clock.reset() == 3660
    assert clock.now() - time.time() < 60  # (2x since the clock was made: a few ms ahead, not an hour)
    assert clock.scale == 2
    written = time.time()
    assert clock.now() - clock.sandbox_of(written) < 1  # nothing written before the reset ages by the jumps
    assert clock.reset() == 0
