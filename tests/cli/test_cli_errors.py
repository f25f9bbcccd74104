"""CLI misuse: one clear line on stderr and a non-zero exit, never a traceback."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest


def jobkit(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "jobkit.cli", *args], capture_output=True, text=True,
                          timeout=60, check=False)


@pytest.mark.parametrize(("args", "says"), [
    (["scenarios", "run", "--target", "mars"], "unknown target 'mars'"),
    (["scenarios", "run", "--outputs", "/nonexistent/cdk-outputs.json", "--target", "localstack"],
     "no deployment found"),
    (["scenarios", "run", "no_such_scenario"], "unknown scenario(s): no_such_scenario"),
    (["replay", "--since", "yesterday", "--outputs", "/nonexistent.json"], "no deployment found"),
    (["env", "--outputs", "/nonexistent/cdk-outputs.json"], "no deployment found"),
    (["env", "--target", "mars"], "unknown target 'mars'"),
    (["reset", "--target", "aws"], "reset clears a local sandbox's data; it never deletes data on AWS"),
    (["reset", "--target", "localstack", "--outputs", "/nonexistent.json"], "no deployment found"),
])
def test_misuse_is_one_line_and_a_non_zero_exit(args: list[str], says: str) -> None:
    proc = jobkit(*args)
    assert proc.returncode != 0
    assert "Traceback" not in proc.stderr
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, proc.stderr
    assert says in lines[0]


def test_malformed_outputs_file_is_named(tmp_path: Path) -> None:
    outputs = tmp_path / "cdk-outputs.json"
    outputs.write_text("{not json")
    proc = jobkit("failed-events", "list", "--outputs", str(outputs))
    assert proc.returncode != 0 and "Traceback" not in proc.stderr
    assert "is not an outputs file of stack JobsStack" in proc.stderr


def _outputs_of_a_stopped_localstack(tmp_path: Path) -> Path:
    outputs = tmp_path / "cdk-outputs.json"
    outputs.write_text(json.dumps({"JobsStack": {
        "JobsApiUrl": "http://127.0.0.1:9/restapis/x/dev/_user_request_/",
        "JobsApiInvokeRoleArn": "arn:aws:iam::1:role/r",
        "JobsTableName": "t", "JobkitTarget": "localstack", "JobkitEndpointUrl": "http://127.0.0.1:9"}}))
    return outputs


@pytest.mark.parametrize("command", [["scenarios", "run"], ["env"]])
def test_a_target_that_is_not_up_says_how_to_start_it(tmp_path: Path, command: list[str]) -> None:
    outputs = _outputs_of_a_stopped_localstack(tmp_path)
    proc = jobkit(*command, "--target", "localstack", "--outputs", str(outputs))
    assert proc.returncode != 0 and "Traceback" not in proc.stderr and proc.stdout == ""
    assert "is not up" in proc.stderr and "jobkit up --target localstack" in proc.stderr


def test_a_reset_of_a_localstack_that_is_not_up_says_how_to_start_it(tmp_path: Path) -> None:
    outputs = _outputs_of_a_stopped_localstack(tmp_path)
    proc = jobkit("reset", "--target", "localstack", "--outputs", str(outputs))
    assert proc.returncode != 0 and "Traceback" not in proc.stderr
    assert "is not up" in proc.stderr and "jobkit up --target localstack" in proc.stderr


def test_the_soak_on_a_target_that_is_not_up_says_so_in_one_line(tmp_path: Path) -> None:
    outputs = _outputs_of_a_stopped_localstack(tmp_path)
    proc = subprocess.run([sys.executable, "scripts/soak.py", "--jobs", "1", "--target", "localstack",
                           "--outputs", str(outputs)], capture_output=True, text=True, timeout=60, check=False,
                          cwd=Path(__file__).resolve().parents[2])
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "is not up" in lines[0] and "jobkit up --target localstack" in lines[0]


def test_malformed_export_file_names_the_line(tmp_path: Path) -> None:
    from jobkit.errors import JobkitError
    from jobkit.failed_events import read_jsonl

    export = tmp_path / "failed.jsonl"
    export.write_text('{"detail-type": "x", "detail": {}}\nnot json\n')
    with pytest.raises(JobkitError, match=r"failed.jsonl:2 is not JSON"):
        read_jsonl(export)


def test_a_good_export_with_no_target_up_says_there_is_no_deployment(tmp_path: Path) -> None:
    export = tmp_path / "failed.jsonl"
    export.write_text('{"detail-type": "x", "detail": {}}\n')
    proc = jobkit("replay", "--from-file", str(export), "--outputs", str(tmp_path / "cdk-outputs.json"))
    assert proc.returncode != 0 and "Traceback" not in proc.stderr
    assert "no deployment found" in proc.stderr


def test_scenarios_list_names_every_scenario() -> None:
    proc = jobkit("scenarios", "list")
    assert proc.returncode == 0
    for name in ("happy_path", "timeout_refusal", "error_handler_fault_replay", "auth", "record_age"):
        assert name in proc.stdout


@pytest.mark.parametrize(("args", "env", "says"), [
    (["up"], {"JOBKIT_CORS_ALLOWED_ORIGINS": "evil.example"}, "JOBKIT_CORS_ALLOWED_ORIGINS: 'evil.example' is not"),
    (["up", "--detach"], {"JOBKIT_ALLOWED_HOSTS": "a b"}, "JOBKIT_ALLOWED_HOSTS: 'a b' is not a host name"),
    (["up", "--time-scale", "nan"], {}, "--time-scale must be a positive number"),
    (["up", "--time-scale", "inf"], {}, "--time-scale must be a positive number"),
    (["up", "--archive-delay=-5"], {}, "JOBKIT_ARCHIVE_DELAY='-5': use a number of seconds"),
    (["up"], {"JOBKIT_ARCHIVE_DELAY": "soon"}, "JOBKIT_ARCHIVE_DELAY='soon': use a number of seconds"),
])
def test_a_bad_setting_of_the_sandbox_is_one_line_before_anything_starts(args: list[str], env: dict[str, str],
                                                                          says: str) -> None:
    import os

    proc = subprocess.run([sys.executable, "-m", "jobkit.cli", *args], capture_output=True, text=True, timeout=60,
                          check=False, env={**os.environ, **env})
    assert proc.returncode != 0
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and says in lines[0], proc.stderr
