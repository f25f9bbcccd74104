"""The outputs file, in the shape ``cdk deploy --outputs-file`` writes (``{stack: {output: value}}``): written by
whatever deployed the stack (the embedded engine, the LocalStack and AWS deploys), read by the client library."""

from __future__ import annotations

import json
import os
from pathlib import Path

from stack.settings import STACK_NAME


def write_outputs(path: Path, outputs: dict[str, str]) -> None:
    """Replaces the file in one step (a temporary file renamed over it): a reader polling for a new deployment
    (the pytest plugin, ``jobkit up --detach``) never sees half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    partial.write_text(json.dumps({STACK_NAME: outputs}, indent=2) + "\n", encoding="utf-8")
    os.replace(partial, path)


def consumer_ids(outputs: dict[str, str]) -> list[str]:
    """The stack's consumers by the ``Consumers`` output (the count the stack was synthesized with; 2 by
    default): ``consumer_1`` ... ``consumer_N``, the keys of a job's ``job_status`` (docs/contracts.md)."""
    return [f"consumer_{i}" for i in range(1, int(outputs.get("Consumers", "2")) + 1)]
