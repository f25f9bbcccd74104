"""``jobkit scenarios run --html`` against the session's engine: the report holds the scenario's outcome and its
job's trace as the engine answers it, also (with the JUnit report) when a scenario failed, and the run then
exits 1; a path that cannot be written is one line and exit 2, after the run. The CI examples that keep the
reports as artifacts are checked in tests/examples."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from scenarios import _runner
from tests.cli.conftest import Cli
from tests.page.samples import data_of, parse


def test_the_html_report_holds_the_outcome_and_the_trace_of_each_job(cli: Cli, outputs_file: Path,
                                                                      tmp_path: Path) -> None:
    path = tmp_path / "ci" / "report.html"
    ran = cli("scenarios", "run", "happy_path", "--outputs", str(outputs_file), "--html", str(path))
    assert ran.code == 0, ran.out + ran.err
    assert f"HTML report: {path}" in ran.out

    _, data = data_of(parse(path.read_text(encoding="utf-8")))
    assert data["target"] == "embedded" and data["consumers"] == ["consumer_1", "consumer_2"]
    (scenario,) = data["scenarios"]
    assert (scenario["name"], scenario["status"], scenario["ok"]) == ("happy_path", "passed", True)
    assert scenario["duration"] > 0 and scenario["jobCount"] == 1
    (job,) = scenario["jobs"]
    trace = job["trace"]
    assert trace["jobId"] == job["jobId"]
    hops = [(hop["service"], hop["hop"]) for hop in trace["hops"]]
    assert hops[:3] == [("apigateway", "request"), ("dynamodb", "item written"), ("dynamodb", "stream record")]
    invoked = sorted(hop["function"] for hop in trace["hops"] if hop["hop"] == "consumer invoked")
    assert len(invoked) == 2 and "Consumer1" in invoked[0] and "Consumer2" in invoked[1]
    assert all("REPORT RequestId" in hop["logs"] for hop in trace["hops"] if hop["hop"] == "consumer invoked")


def test_a_report_path_that_cannot_be_written_is_one_line(cli: Cli, outputs_file: Path, tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    ran = cli("scenarios", "run", "happy_path", "--outputs", str(outputs_file), "--html", str(blocker / "r.html"))
    assert ran.code == 2 and "Traceback" not in ran.err
    lines = [line for line in ran.err.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith(f"jobkit: cannot write the HTML report {blocker / 'r.html'}"), \
        ran.err


def test_a_failed_run_writes_both_reports_then_exits_1(cli: Cli, outputs_file: Path, tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    ran_for_real = _runner.run_one

    def failing(*args: Any) -> _runner.Outcome:
        outcome = ran_for_real(*args)
        outcome.status, outcome.detail = _runner.FAILED, "expected <b>Success</b>, saw Failure"
        return outcome

    monkeypatch.setattr(_runner, "run_one", failing)
    html, junit = tmp_path / "report.html", tmp_path / "scenarios.xml"
    ran = cli("scenarios", "run", "happy_path", "--outputs", str(outputs_file), "--html", str(html),
              "--junit-xml", str(junit))
    assert ran.code == 1, ran.out + ran.err
    assert "<failure" in junit.read_text(encoding="utf-8")
    _, data = data_of(parse(html.read_text(encoding="utf-8")))
    (scenario,) = data["scenarios"]
    assert (scenario["status"], scenario["ok"]) == ("failed", False)
    assert scenario["detail"] == "expected <b>Success</b>, saw Failure"
    assert scenario["jobs"][0]["trace"]["hops"][0]["hop"] == "request"
