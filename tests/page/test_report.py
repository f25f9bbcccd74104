"""The HTML report's writer, without a target: one file that loads nothing from elsewhere, its data read back
whole from the JSON it carries, a hostile value kept inside that JSON, the inlined scripts allowed by the report's
policy and nothing else, and a trace that cannot be read shown as its one-line reason."""

from __future__ import annotations

import base64
import hashlib
import re
from pathlib import Path
from typing import Any

import pytest

from jobkit.errors import JobkitError
from jobkit.page import report
from jobkit.page.report import JOBS_SHOWN, read_traces, report_data, write_report
from tests.page.samples import CONSUMERS, HOSTILE, MANY, Elements, data_of, parse, run


@pytest.fixture
def written(tmp_path: Path) -> tuple[str, Elements]:
    outcomes, traces = run()
    path = tmp_path / "deeper" / "report.html"  # a missing folder is made
    write_report(outcomes, traces, path, "embedded", consumers=CONSUMERS)
    html = path.read_text(encoding="utf-8")
    return html, parse(html)


def test_the_report_loads_nothing_from_elsewhere(written: tuple[str, Elements]) -> None:
    html, parsed = written
    assert "http://" not in html and "https://" not in html and "//cdn" not in html
    for tag, attrs, _ in parsed.elements:
        assert not {"src", "href", "srcset", "action", "data"} & set(attrs), (tag, attrs)
        assert tag not in {"link", "img", "iframe", "object", "embed", "base", "form"}, tag
    # the page's style and timeline are inlined, with the report's own script; the data is not executable
    scripts = parsed.named("script")
    assert [attrs.get("type") for attrs, _ in scripts] == ["application/json", None, None]
    assert "window.JobkitTimeline" in scripts[1][1] and "jobkit-report-data" in scripts[2][1]
    assert ".tl-lane" in parsed.named("style")[0][1]


def test_the_policy_allows_the_inlined_files_by_their_hashes_and_nothing_else(written: tuple[str, Elements]) -> None:
    _, parsed = written
    (policy,) = [attrs["content"] for attrs, _ in parsed.named("meta")
                 if attrs.get("http-equiv") == "Content-Security-Policy"]
    assert policy is not None and policy.startswith("default-src 'none';")

    def digest(text: str) -> str:
        return "'sha256-" + base64.b64encode(hashlib.sha256(text.encode()).digest()).decode() + "'"

    directives = dict(part.strip().split(" ", 1) for part in policy.split(";"))
    assert directives["script-src"].split() == [digest(text) for attrs, text in parsed.named("script")
                                                if attrs.get("type") is None]
    assert directives["style-src"].split() == [digest(parsed.named("style")[0][1])]
    assert "unsafe-inline" not in policy


def test_the_data_round_trips_and_a_hostile_value_stays_inside_it(written: tuple[str, Elements]) -> None:
    html, parsed = written
    raw, data = data_of(parsed)
    outcomes, traces = run()
    expected = report_data(outcomes, traces, "embedded", consumers=CONSUMERS)
    assert {k: v for k, v in data.items() if k != "generated"} == \
        {k: v for k, v in expected.items() if k != "generated"}
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", data["generated"])

    happy, hostile, many, skipped = data["scenarios"]
    assert (happy["name"], happy["status"], happy["ok"], happy["duration"]) == ("happy", "passed", True, 1.25)
    assert happy["jobs"] == [{"jobId": "job-happy", "trace": traces["job-happy"]}]
    assert hostile["status"] == "failed" and hostile["ok"] is False
    assert hostile["detail"] == f"expected Success: {HOSTILE}"
    assert hostile["jobs"] == [{"jobId": "job-gone", "error": f"no trace of job job-gone: {HOSTILE}"},
                               {"jobId": HOSTILE, "trace": traces[HOSTILE]}]
    assert many["jobCount"] == MANY and [j["jobId"] for j in many["jobs"]] == \
        [f"many-{n:03d}" for n in range(JOBS_SHOWN)]
    assert skipped["jobs"] == [] and skipped["status"] == "not run"

    # no value can end the script element or start a comment: the markup characters are escaped in the JSON
    for character in "<>&\u2028":
        assert character not in raw
    assert html.count("</script>") == 3 and "<img" not in html and "onerror=alert(1)>" not in html
    assert [tag for tag, _, _ in parsed.elements].count("script") == 3


def test_an_unwritable_path_is_an_os_error(tmp_path: Path) -> None:
    outcomes, traces = run()
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    with pytest.raises(OSError):
        write_report(outcomes, traces, blocker / "report.html", "embedded")
    with pytest.raises(OSError):
        write_report(outcomes, traces, tmp_path, "embedded")  # a folder


def test_a_file_that_would_close_its_element_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(report, "asset", lambda name: b"x = '</SCRIPT>';")
    with pytest.raises(ValueError, match="cannot be inlined"):
        report.render_report({})


def test_a_trace_that_cannot_be_read_is_its_one_line_reason(monkeypatch: pytest.MonkeyPatch) -> None:
    read: list[str] = []

    def job_trace(deployment: object, job_id: str) -> dict[str, Any]:
        read.append(job_id)
        if job_id == "job-gone":
            raise JobkitError("no trace of job job-gone:\nthe engine answered 404", "is it up?")
        return {"jobId": job_id, "hops": []}

    monkeypatch.setattr(report, "job_trace", job_trace)
    outcomes, _ = run()
    traces = read_traces(None, outcomes)  # type: ignore[arg-type]
    assert traces["job-gone"] == "no trace of job job-gone:\\nthe engine answered 404 (is it up?)"
    assert traces["job-happy"] == {"jobId": "job-happy", "hops": []}
    # only the jobs the report shows are read, each once
    assert sorted(read) == sorted(["job-happy", "job-gone", HOSTILE, *[f"many-{n:03d}" for n in range(JOBS_SHOWN)]])
