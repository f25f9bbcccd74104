"""Runs the pinned CDK CLI (or cdklocal) with the project's quiet, offline environment."""

from __future__ import annotations

import subprocess
from pathlib import Path

from jobkit.errors import JobkitError
from jobkit.project import ROOT, cdk_environment, npm_bin


def context_args(context: dict[str, str]) -> list[str]:
    return [arg for key, value in context.items() for arg in ("-c", f"{key}={value}")]


def run_cdk(tool: str, args: list[str], *, log: Path, env: dict[str, str] | None = None,
            timeout: float = 900, step: str) -> None:
    """Runs ``cdk``/``cdklocal``; on failure names the step and the log to read."""
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("a") as out:
        out.write(f"\n$ {tool} {' '.join(args)}\n")
        out.flush()
        try:
            proc = subprocess.run([str(npm_bin(tool)), *args], cwd=ROOT, env=cdk_environment(env),
                                  stdout=out, stderr=subprocess.STDOUT, timeout=timeout, check=False,
                                  start_new_session=True)
        except subprocess.TimeoutExpired as exc:
            raise JobkitError(f"{step} did not finish within {timeout:.0f} s", f"read {log}") from exc
    if proc.returncode != 0:
        tail = log.read_text().strip().splitlines()[-5:]
        raise JobkitError(f"{step} failed (exit {proc.returncode}): {' | '.join(tail)}", f"read {log}")
