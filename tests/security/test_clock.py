"""``POST /_jobkit/clock``: only a finite, non-negative advance of at most ten years moves the sandbox clock;
anything else is a 400 with a message and moves nothing, and the clock's answer stays valid JSON."""

from __future__ import annotations

import json
import tracemalloc

import pytest
import requests

from jobkit.engine.core import clock as clock_module
from jobkit.engine.core.clock import SandboxClock
from tests.reliability.conftest import Sandbox

BAD = {
    "infinity": b'{"advance": Infinity}',
    "1e400 (infinity once parsed)": b'{"advance": 1e400}',
    "NaN": b'{"advance": NaN}',
    "1e308": b'{"advance": 1e308}',
    "eleven years": json.dumps({"advance": 11 * 365 * 86400}).encode(),
    "a huge integer": b'{"advance": ' + b"9" * 500 + b"}",
    "negative": b'{"advance": -1}',
    "a string": b'{"advance": "3600"}',
    "true": b'{"advance": true}',
    "null": b'{"advance": null}',
    "a list": b"[3600]",
    "an unknown key": b'{"advance": 1, "rewind": 5}',
    "not JSON": b"advance=3600",
    "not UTF-8": b'{"advance": "\xff"}',
    "deeply nested": b"[" * 20_000 + b"]" * 20_000,
}


def _now(sandbox: Sandbox) -> float:
    answer = requests.get(f"{sandbox.engine.endpoint_url}/_jobkit/clock", timeout=10)
    assert answer.status_code == 200
    return float(json.loads(answer.text, parse_constant=lambda c: pytest.fail(f"invalid JSON: {c}"))["now"])


@pytest.mark.parametrize("label", list(BAD))
def test_a_bad_advance_is_a_400_and_moves_nothing(sandbox: Sandbox, label: str) -> None:
    before = _now(sandbox)
    answer = requests.post(f"{sandbox.engine.endpoint_url}/_jobkit/clock", data=BAD[label], timeout=10,
                           headers={"Content-Type": "application/json"})
    assert answer.status_code == 400, (answer.status_code, answer.text[:200])
    assert answer.json()["message"]
    assert _now(sandbox) - before < 60, "the clock moved"


def test_an_unserved_method_is_a_405(sandbox: Sandbox) -> None:
    answer = requests.delete(f"{sandbox.engine.endpoint_url}/_jobkit/clock", timeout=10)
    assert answer.status_code == 405
    assert "POST" in answer.json()["message"]


def test_advances_are_kept_as_a_running_offset_not_a_growing_list() -> None:
    clock = SandboxClock()
    start = clock.now()
    tracemalloc.start()
    try:
        for _ in range(100_000):
            clock.advance(1)
        snapshot = tracemalloc.take_snapshot().filter_traces([tracemalloc.Filter(True, clock_module.__file__)])
    finally:
        tracemalloc.stop()
    assert clock.now() - start >= 100_000
    held = sum(stat.size for stat in snapshot.statistics("filename"))
    assert held < 100_000, f"100,000 advances hold {held} bytes"
