"""Attach to an engine someone else started, end to end: the session's LocalStack host runtime
(``localstack_host``) plays the engine a CI service or a testcontainers LocalStack would be. ``jobkit up
--target localstack --endpoint-url URL`` deploys into it and runs the ready hooks, ``jobkit scenarios run`` tests
it with LocalStack's expected differences, ``jobkit down`` leaves it running."""

from __future__ import annotations

import stat
from pathlib import Path
from xml.etree import ElementTree as ET  # nosec B405  # parses the JUnit report this test wrote

import pytest
import requests

from jobkit.cli import main
from jobkit.client.deployment import Deployment
from jobkit.project import OUTPUTS_FILE
from tests.localstack.conftest import LocalStackHost

pytestmark = pytest.mark.timeout(1200)


def _jobkit(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    capsys.readouterr()
    try:
        main(list(args))
        code = 0
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 1
    captured = capsys.readouterr()
    # the console wraps long lines at its width: compared as words
    return code, " ".join(captured.out.split()), " ".join(captured.err.split())


def test_up_attaches_deploys_runs_the_hooks_tests_and_leaves_the_engine_running(
        localstack_host: LocalStackHost, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    url = localstack_host.endpoint_url
    health = requests.get(f"{url}/_localstack/health", timeout=10).json()
    hooks, seen = tmp_path / "ready.d", tmp_path / "seen"
    hooks.mkdir()
    hook = hooks / "10-record.sh"
    hook.write_text(f'#!/bin/sh\necho "$AWS_ENDPOINT_URL $AWS_REGION" > {seen}\n')
    hook.chmod(hook.stat().st_mode | stat.S_IXUSR)
    (hooks / "20-fails.sh").write_text("#!/bin/sh\necho 'no such queue' >&2\nexit 4\n")
    (hooks / "20-fails.sh").chmod(0o755)
    monkeypatch.setenv("JOBKIT_INIT_DIR", str(hooks))
    for name in ("AWS_ENDPOINT_URL", "LOCALSTACK_HOST"):  # the option alone names the engine here
        monkeypatch.delenv(name, raising=False)

    code, out, err = _jobkit(capsys, "up", "--target", "localstack", "--endpoint-url", url, "--detach")
    assert code == 0, err
    said = f"LocalStack {health.get('edition') or '?'} {health.get('version') or '?'}"
    assert f"attached to {said} at {url} (from --endpoint-url)" in err
    assert "Ready." in out
    assert "init hook 20-fails.sh failed: exit 4: no such queue" in err  # named, with its output; up went on
    deployment = Deployment.load(OUTPUTS_FILE, target="localstack")
    assert seen.read_text().split() == [url, deployment.region]  # the hook ran with jobkit env's environment
    assert deployment.endpoint_url == url
    assert (deployment.outputs["JobkitEngine"], deployment.outputs["JobkitEngineVersion"]) == (
        "localstack", health["version"])

    report = tmp_path / "junit.xml"
    code, out, err = _jobkit(capsys, "scenarios", "run", "happy_path", "auth", "record_age", "--target",
                             "localstack", "--endpoint-url", url, "--junit-xml", str(report))
    assert code == 0, out + err
    cases = {case.get("name"): case for case in ET.parse(report).getroot().iter("testcase")}  # noqa: S314  # nosec B314
    assert cases["happy_path"].find("failure") is None
    auth = cases["auth"].find("system-out")  # LocalStack's expected difference, chosen from its health
    assert auth is not None and "does not enforce AWS_IAM" in (auth.text or "")
    assert cases["record_age"].find("skipped") is not None  # the sandbox clock is the embedded engine's

    code, _, err = _jobkit(capsys, "down", "--target", "localstack", "--endpoint-url", url)
    assert code == 0 and "left running" in err
    assert requests.get(f"{url}/_localstack/health", timeout=10).ok  # never stopped by jobkit
