"""The engine's Lambda service around the local runtime: what it does when the engine stops early."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from jobkit.engine.services.lambda_.functions import DeployedFunction, _prewarm
from jobkit.lambda_runtime import FunctionConfig, LocalFunction


def test_a_prewarm_that_meets_a_stopped_function_ends_quietly(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A sandbox stopped right after it was ready stops its functions while their first environments start:
    the prewarm threads end without a traceback (they printed one each before)."""
    (tmp_path / "app.py").write_text("def handler(event, context):\n    return 1\n")
    local = LocalFunction(FunctionConfig("f", tmp_path, "app.handler"))
    local.stop()
    raised: list[BaseException | None] = []
    monkeypatch.setattr(threading, "excepthook", lambda args: raised.append(args.exc_value))
    thread = threading.Thread(target=_prewarm, args=(DeployedFunction("f", "arn", "role", "/aws/lambda/f", local),))
    thread.start()
    thread.join(10)
    assert not thread.is_alive() and raised == []
