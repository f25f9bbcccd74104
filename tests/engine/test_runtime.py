"""``EmbeddedEngine`` itself: what its start leaves behind in the process."""

from __future__ import annotations

import gc

from jobkit.engine.runtime import EmbeddedEngine


def test_what_the_start_built_is_left_out_of_later_garbage_collections(engine: EmbeddedEngine) -> None:
    # the start's long-lived objects (modules, service models, the deployment: ~180k) are frozen, so a full
    # collection no longer walks them all with the interpreter lock held while jobs are in flight
    assert gc.get_freeze_count() > 50_000
    assert engine.outputs  # and the engine is up, the state it built reachable as before
