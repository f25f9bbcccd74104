"""Checked against LocalStack, in one run: the embedded engine and LocalStack's host engine run
the same synthesized stack at once, the same jobs go through both, and every difference in what they hand to
the handlers or answer on the API is listed in ``jobkit.differential.KNOWN_DIFFERENCES`` (docs/differential.md),
with no stale row.

The embedded engine runs in this process on a free port; LocalStack's on 127.0.0.1:4566 (if this project's
engine already runs there it is reused and left running; a port held by anything else is waited for, never
stopped). Outputs go to temporary files: the project's cdk-outputs.json is not touched.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from jobkit import differential
from jobkit.client.deployment import Deployment
from jobkit.client.jobs_api import JobsApi
from jobkit.client.waiting import wait_for
from jobkit.errors import JobkitError
from jobkit.project import ROOT
from jobkit.ui import Ui

pytestmark = [pytest.mark.differential, pytest.mark.timeout(300)]

PORT_WAIT = 120.0  # another engineer's run may hold 4566 for a while: wait, never stop what is not ours


@dataclass
class Captures:
    by_target: dict[str, dict[str, Any]] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)


def _port_open(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


def _drive(deployment: Deployment) -> dict[str, Any]:
    from scenarios._context import FaultPlans

    api = JobsApi.for_deployment(deployment)
    probe = differential.Probe(deployment).subscribe()
    plans = FaultPlans(deployment, "differential")
    runtime: differential.RuntimeResources | None = None
    try:
        runtime = differential.RuntimeResources.create(deployment)
        plan = plans.put("eh", {"where": "error_handler", "kind": "raise"})
        return differential.collect(deployment, api, probe, plan, runtime)
    finally:
        plans.lift_all()
        probe.delete()
        if runtime is not None:
            runtime.delete()


def _localstack_runtime() -> Any:
    """LocalStack's engine environment, or a skip with the one reason it cannot be set up here."""
    from jobkit.targets.localstack import environment
    from jobkit.targets.localstack.host import HostRuntime

    try:
        environment.ensure(ROOT, Ui(quiet=True))
    except JobkitError as exc:
        pytest.skip(f"LocalStack's engine cannot be set up on this machine: {exc}")
    return HostRuntime(ROOT)


@pytest.fixture(scope="module")
def captures(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Captures]:
    from jobkit.deploy.synth import synth
    from jobkit.engine.runtime import EmbeddedEngine
    from jobkit.targets.common import LOCAL_CONTEXT
    from jobkit.targets.localstack.deploy import deploy

    runtime = _localstack_runtime()
    workdir = tmp_path_factory.mktemp("differential")
    found = Captures()
    errors: list[BaseException] = []
    ours = runtime.status().running  # this project's engine already up (another run): reuse, leave running

    def localstack() -> None:
        began = time.monotonic()
        try:
            if not ours:
                wait_for(lambda: _port_open(runtime.port), lambda taken: not taken, timeout=PORT_WAIT,
                         describe=f"port {runtime.port} to be free (held by a run this test did not start)")
                runtime.up(Ui(quiet=True), timeout=180)
            deployment = deploy(runtime.endpoint_url, lambda _line: None,
                                outputs_file=workdir / "localstack-outputs.json")
            found.by_target["localstack"] = _drive(deployment)
        except BaseException as exc:  # reported by the main thread
            errors.append(exc)
        finally:
            found.seconds["localstack"] = time.monotonic() - began

    cdk_out, _ = synth(LOCAL_CONTEXT)
    thread = threading.Thread(target=localstack, name="differential-localstack", daemon=True)
    thread.start()
    engine = EmbeddedEngine(port=0, out=None)
    try:
        began = time.monotonic()
        outputs = workdir / "embedded-outputs.json"
        engine.start(cdk_out, outputs_file=outputs, time_scale=1.0)
        found.by_target["embedded"] = _drive(Deployment.load(outputs, target="embedded"))
        found.seconds["embedded"] = time.monotonic() - began
        thread.join(timeout=240)
        if thread.is_alive():
            raise AssertionError("LocalStack's side did not finish within 240 s")
        if errors:
            raise errors[0]
        yield found
    finally:
        engine.stop()
        thread.join(timeout=60)
        if not ours:
            runtime.down(Ui(quiet=True))


@pytest.fixture(scope="module")
def differences(captures: Captures) -> list[differential.Difference]:
    return differential.compare(captures.by_target["embedded"], captures.by_target["localstack"])


def test_every_hop_was_captured_on_both_targets(captures: Captures) -> None:
    hops = {"api", "stream_record", "on_failure_record", "sns_sqs_envelope", "sns_lambda_event",
            "destination_record", "eventbridge_envelope", "runtime_mapping_event", "sns_filtered_sqs_envelope"}
    for target, captured in captures.by_target.items():
        assert set(captured) == hops | {"sns_filter_unmatched"}, target
        assert all(captured[hop] for hop in hops), (target, [h for h in hops if not captured[h]])
        assert captured["sns_filter_unmatched"] == [], (target, "the filter policy let an unmatched publish through")
        [record] = captured["runtime_mapping_event"]["Records"]
        assert record["eventName"] == "INSERT" and record["dynamodb"]["NewImage"]["note"] == {"S": "differential"}
        assert captured["sns_filtered_sqs_envelope"]["MessageAttributes"] == {
            "differential": {"Type": "String", "Value": "matched"}}
    # the same jobs took the same paths: the record's condition and the handlers' outcomes agree
    embedded, localstack = captures.by_target["embedded"], captures.by_target["localstack"]
    for capture in (embedded, localstack):
        assert capture["on_failure_record"]["requestContext"]["condition"] == "RetryAttemptsExhausted"
        assert capture["destination_record"]["requestContext"]["condition"] == "RetriesExhausted"
        assert capture["api"]["get_succeeded"]["status"] == 200


def test_every_difference_is_in_the_table(differences: list[differential.Difference]) -> None:
    unexplained = differential.unexplained(differences)
    assert not unexplained, "differences not in jobkit.differential.KNOWN_DIFFERENCES:\n" + "\n".join(
        map(str, unexplained))


def test_no_row_of_the_table_is_stale(differences: list[differential.Difference]) -> None:
    stale = differential.stale(differences)
    assert not stale, "rows of KNOWN_DIFFERENCES that no longer occur (remove them):\n" + "\n".join(
        f"{k.path}: {k.embedded} / {k.localstack}" for k in stale)


def test_the_documented_table_is_the_tested_one() -> None:
    document = (Path(ROOT) / "docs" / "differential.md").read_text()
    assert differential.markdown_table() in document, "regenerate docs/differential.md's table " \
        "(python -c 'from jobkit.differential import markdown_table; print(markdown_table())')"
