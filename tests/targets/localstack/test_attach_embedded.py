"""Attach, end to end, to an engine that only answers LocalStack's health endpoint: jobkit's embedded engine in a
process of its own (``tests.engine_process``), started by "someone else". ``jobkit up --target localstack
--endpoint-url`` deploys into it with cdklocal and runs the ready hooks; the scenarios' expected differences
are the embedded engine's (none: ``auth`` passes as on AWS, ``record_age`` runs on its sandbox clock), not
LocalStack's, because its health endpoint says what it is; ``jobkit down`` leaves it running."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from xml.etree import ElementTree as ET  # nosec B405  # parses the JUnit report this test wrote

import pytest
import requests

from jobkit.project import ROOT
from tests.engine_process import engine_process

pytestmark = pytest.mark.timeout(900)


def _jobkit(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "jobkit.cli", *args], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=600, check=False)


def test_attach_to_an_embedded_engine_someone_else_started(tmp_path: Path) -> None:
    hooks, seen = tmp_path / "ready.d", tmp_path / "seen"
    hooks.mkdir()
    (hooks / "10-record.sh").write_text(f'#!/bin/sh\necho "$AWS_ENDPOINT_URL" >> {seen}\n')
    (hooks / "10-record.sh").chmod(0o755)
    outputs = tmp_path / "attached-outputs.json"
    env = {k: v for k, v in os.environ.items() if k not in ("AWS_ENDPOINT_URL", "LOCALSTACK_HOST")}
    env.update({"PYTHONPATH": str(ROOT), "COLUMNS": "200", "JOBKIT_INIT_DIR": str(hooks),
                "JOBKIT_OUTPUTS_FILE": str(outputs)})
    (tmp_path / "engine").mkdir()
    with engine_process(tmp_path / "engine") as started:
        url = str(started.endpoint_url)
        ran = _jobkit(env, "up", "--target", "localstack", "--endpoint-url", url, "--detach")
        assert ran.returncode == 0, ran.stderr
        assert f"attached to jobkit's embedded engine at {url} (from --endpoint-url)" in ran.stderr
        assert "init hook 10-record.sh: done" in ran.stderr and "Ready." in ran.stdout
        assert seen.read_text().split() == [url]  # once: the engine's own start ran no hook of this folder
        written = json.loads(outputs.read_text())["JobsStack"]
        assert {k: written[k] for k in ("JobkitTarget", "JobkitEndpointUrl", "JobkitEngine")} == {
            "JobkitTarget": "localstack", "JobkitEndpointUrl": url, "JobkitEngine": "embedded"}

        report = tmp_path / "junit.xml"
        ran = _jobkit({**env, "AWS_ENDPOINT_URL": url}, "scenarios", "run", "happy_path", "auth", "record_age",
                      "--target", "localstack", "--junit-xml", str(report))
        assert ran.returncode == 0, ran.stdout + ran.stderr
        cases = list(ET.parse(report).getroot().iter("testcase"))  # noqa: S314  # nosec B314
        assert {c.get("name") for c in cases} == {"happy_path", "auth", "record_age"}
        assert all(len(c) == 0 for c in cases)  # no failure, no skip, no expected difference on this engine

        ran = _jobkit(env, "down", "--target", "localstack", "--endpoint-url", url)
        assert ran.returncode == 0 and f"the engine at {url} was started by someone else: left running" in ran.stderr
        assert requests.get(f"{url}/_localstack/health", timeout=10).ok
