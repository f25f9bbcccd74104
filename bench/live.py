"""Figures of the daily loop (prints a table, writes JSON; not a test): from a saved handler to the next
invocation running it, on the embedded engine and beside it LocalStack's host runtime, and the alternative to
it (and to a reset, whose time ``compare.py`` takes): a restart and a new deployment.

How each is taken is written beside it in the JSON (``how``). Run: ``make bench`` (or ``python bench/live.py``;
``--skip-localstack`` for the embedded engine alone).
"""

from __future__ import annotations

import argparse
import functools
import json
import operator
import shutil
import statistics
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import boto3
from botocore.config import Config

from jobkit.client.deployment import Deployment
from jobkit.client.waiting import wait_for
from jobkit.live import Asset, LiveCode
from jobkit.project import ROOT

RESULTS = ROOT / "bench" / "results"
ROLE_NAME = "jobkit-bench-live"
TRUST = json.dumps({"Version": "2012-10-17", "Statement": [
    {"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}]})
HOW = {
    "reload_ms": "a function whose code is a project folder (LocalStack's hot-reload convention): from writing a "
                 "new handler file until an Invoke returns the new code's answer, the watcher looking every 0.2 s "
                 "(median of the runs; the change is acted on once it held for one look)",
    "restart_and_redeploy_s": "the alternative to both: the sandbox stopped, started again and the stack "
                              "deployed (`jobkit down` then `jobkit up --detach`)",
}


def _handler(version: int) -> str:
    return f"def handler(event, context):\n    return {version}\n"


def _role(endpoint_url: str) -> str:
    """A role Lambda may assume (the embedded engine checks it, as Lambda does)."""
    iam = boto3.client("iam", endpoint_url=endpoint_url, region_name="us-east-1",
                       aws_access_key_id="test", aws_secret_access_key="test")  # noqa: S106  # nosec B106  # local dummy keys
    try:
        return str(iam.get_role(RoleName=ROLE_NAME)["Role"]["Arn"])
    except iam.exceptions.NoSuchEntityException:
        return str(iam.create_role(RoleName=ROLE_NAME, AssumeRolePolicyDocument=TRUST)["Role"]["Arn"])


def reload_ms(lam: Any, runs: int) -> list[float]:
    """Save-to-new-code times of a function on ``lam``'s engine, ``runs`` saves."""
    work = Path(tempfile.mkdtemp(prefix="jobkit-bench-live-"))
    root, asset = work / "project", work / "asset"
    (root / "pkg").mkdir(parents=True)
    (root / "pkg" / "__init__.py").write_text("")
    (root / "pkg" / "app.py").write_text(_handler(0))
    asset.mkdir()
    (asset / "pkg").symlink_to(root / "pkg")
    name = f"jobkit-bench-live-{uuid.uuid4().hex[:8]}"
    lam.create_function(FunctionName=name, Runtime="python3.12", Role=_role(lam.meta.endpoint_url),
                        Handler="pkg.app.handler",
                        Code={"S3Bucket": "hot-reload", "S3Key": str(asset)}, Timeout=30)
    lam.get_waiter("function_active_v2").wait(FunctionName=name, WaiterConfig={"Delay": 0.2, "MaxAttempts": 600})
    code = LiveCode([Asset(asset, {"pkg": root / "pkg"}, (name,))], lam, work / "snapshots",
                    lambda _hop, _detail: None, root)
    times = []
    try:
        for version in range(1, runs + 1):
            began = time.monotonic()
            (root / "pkg" / "app.py").write_text(_handler(version))

            def answer() -> Any:
                code.look()
                return json.loads(lam.invoke(FunctionName=name, Payload=b"{}")["Payload"].read())

            wait_for(answer, functools.partial(operator.eq, version), timeout=30, describe=f"version {version}",
                     interval=0.2, max_interval=0.2)  # the watcher's own look interval
            times.append((time.monotonic() - began) * 1000)
    finally:
        lam.delete_function(FunctionName=name)
        code.close()
        shutil.rmtree(work, ignore_errors=True)
    return times


def _lambda(endpoint_url: str) -> Any:
    config = Config(retries={"total_max_attempts": 1}, read_timeout=120)
    return boto3.client("lambda", endpoint_url=endpoint_url, region_name="us-east-1", config=config,
                        aws_access_key_id="test", aws_secret_access_key="test")  # noqa: S106  # nosec B106  # local dummy keys


def figures(box: Any, runs: int) -> dict[str, Any]:
    """One sandbox's figures: its reload, then its stop, start and deployment timed."""
    from jobkit.ui import Ui

    ui = Ui(quiet=True)
    deployment: Deployment = box.up(ui)
    try:
        assert deployment.endpoint_url is not None
        found: dict[str, Any] = {"reload_ms": statistics.median(reload_ms(_lambda(deployment.endpoint_url), runs))}
    finally:
        box.down(ui)
    began = time.monotonic()
    box.up(ui)
    found["restart_and_redeploy_s"] = round(time.monotonic() - began, 2)
    box.down(ui)
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--skip-localstack", action="store_true")
    args = parser.parse_args()
    from jobkit.targets.embedded import EmbeddedSandbox

    results = {"embedded": figures(EmbeddedSandbox(time_scale=20.0), args.runs)}
    if not args.skip_localstack:
        from jobkit.targets.localstack.sandbox import HostSandbox

        try:
            results["localstack"] = figures(HostSandbox(), args.runs)
        except Exception as exc:  # the embedded figures stand without LocalStack's
            results["localstack"] = {"failed": f"{type(exc).__name__}: {exc}"}
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "live.json").write_text(json.dumps({"how": HOW, "runs": args.runs, "targets": results}, indent=2)
                                       + "\n")
    keys = list(HOW)
    print(f"{'figure':<26}" + "".join(f"{name:>14}" for name in results))
    for key in keys:
        cells = []
        for found in results.values():
            value = found.get(key)
            cells.append(f"{value:>14.0f}" if isinstance(value, float) and key.endswith("_ms")
                         else f"{value!s:>14}" if value is not None else f"{'-':>14}")
        print(f"{key:<26}" + "".join(cells))


if __name__ == "__main__":
    main()
