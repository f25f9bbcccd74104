"""wait_for: a deadline, and with ``progress`` a deadline that runs from the last step."""

from __future__ import annotations

import itertools
import time

import pytest

from jobkit.client.waiting import WaitTimeout, wait_for


def test_a_condition_that_never_holds_fails_at_the_deadline_with_the_last_observation() -> None:
    counter = itertools.count()
    began = time.monotonic()
    with pytest.raises(WaitTimeout, match=r"timed out after 0\.2 s waiting for ten; last seen") as info:
        wait_for(lambda: next(counter), lambda n: n < 0, timeout=0.2, describe="ten", interval=0.01)
    assert 0.2 <= time.monotonic() - began < 1.0
    assert isinstance(info.value.last, int)


def test_progress_keeps_a_slow_but_moving_wait_alive_past_the_timeout() -> None:
    began = time.monotonic()

    def steps() -> int:  # one step every 0.1 s: the whole run takes 0.6 s, three times the stall timeout
        return int((time.monotonic() - began) / 0.1)

    assert wait_for(steps, lambda n: n >= 6, timeout=0.2, describe="six steps", interval=0.01,
                    max_interval=0.02, progress=lambda n: n) >= 6


def test_progress_that_stops_fails_one_timeout_after_the_last_step() -> None:
    began = time.monotonic()

    def stuck_at_three() -> int:
        return min(3, int((time.monotonic() - began) / 0.05))

    with pytest.raises(WaitTimeout, match="without progress"):
        wait_for(stuck_at_three, lambda n: n >= 6, timeout=0.2, describe="six steps", interval=0.01,
                 max_interval=0.02, progress=lambda n: n)
    assert 0.35 <= time.monotonic() - began < 1.5  # 3 steps (0.15 s), then 0.2 s without one
