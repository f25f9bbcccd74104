"""The HTML report opened from disk in a real browser (Debian's chromium driven by Playwright): it shows each
scenario's outcome, draws a job's timeline with a lane per service, says which jobs it left out and why a trace is
missing, keeps hostile values as text, and asks for nothing but its own file. A screenshot is written under
``reports/``."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from jobkit.page.report import JOBS_SHOWN, write_report
from tests.browser import LANES, REPORTS, WAIT_MS, chromium
from tests.page.samples import CONSUMERS, HOSTILE, MANY, run


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with chromium() as launched:
        yield launched


@dataclass
class Opened:
    """The report open in a page, and what the page did: its requests, its errors (a script's, or a refusal of
    the report's policy) and the dialogs anything opened."""

    page: Any
    url: str
    requests: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    dialogs: list[str] = field(default_factory=list)

    def quiet(self) -> None:
        """Asserts the report asked for nothing but its own file, raised no error and opened no dialog."""
        assert self.errors == [] and self.dialogs == []
        assert self.requests == [self.url]


@pytest.fixture
def opened(browser: Any, tmp_path: Path) -> Iterator[Opened]:
    """The report of ``samples.run`` written to disk and opened from there."""
    outcomes, traces = run()
    path = tmp_path / "report.html"
    write_report(outcomes, traces, path, "embedded", consumers=CONSUMERS)
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    page.set_default_timeout(WAIT_MS)
    seen = Opened(page, path.as_uri())

    def dialog(shown: Any) -> None:
        seen.dialogs.append(shown.message)
        shown.dismiss()

    def console(message: Any) -> None:
        if message.type == "error":  # a refusal of the report's policy is one
            seen.errors.append(message.text)

    page.on("request", lambda request: seen.requests.append(request.url))
    page.on("pageerror", lambda error: seen.errors.append(str(error)))
    page.on("console", console)
    page.on("dialog", dialog)
    page.goto(seen.url)
    yield seen
    context.close()


def test_the_report_shows_each_outcome_and_a_job_timeline_with_a_lane_per_service(opened: Opened) -> None:
    from playwright.sync_api import expect

    page = opened.page
    for name, status in [("happy", "passed"), ("hostile", "failed"), ("many", "passed"), ("skipped", "not run")]:
        expect(page.locator(f'#outcomes tr[data-scenario="{name}"] td.outcome')).to_have_text(status)
    expect(page.locator('#outcomes tr[data-scenario="hostile"]')).to_contain_text("expected Success")
    expect(page.locator("#summary")).to_contain_text("target embedded")

    happy = page.locator('details[data-scenario="happy"]')
    happy.locator("summary").click()
    job = happy.locator('.job[data-job="job-happy"]')
    expect(job.locator(".tl-lane")).to_have_text(LANES)
    expect(job.locator('.hop[data-lane="error handler"]')).to_contain_text("error handler invoked")
    expect(job.locator('.hop[data-lane="archive"]')).to_contain_text("archive")
    job.locator('.hop[data-lane="consumer_1"]').click()
    expect(job.locator(".hop-detail pre.logs")).to_contain_text("REPORT RequestId: 1")

    many = page.locator('details[data-scenario="many"]')
    expect(many.locator(".job")).to_have_count(JOBS_SHOWN)
    expect(many.locator(".jobs-left")).to_contain_text(f"{MANY - JOBS_SHOWN} more job(s) not shown")
    expect(page.locator('details[data-scenario="skipped"]')).to_contain_text("no job submitted")

    REPORTS.mkdir(exist_ok=True)
    page.screenshot(path=str(REPORTS / "report.png"), full_page=True)
    opened.quiet()


def test_hostile_values_are_shown_as_text(opened: Opened) -> None:
    from playwright.sync_api import expect

    page = opened.page
    hostile = page.locator('details[data-scenario="hostile"]')
    expect(hostile).to_have_attribute("open", "")  # a failed scenario is open
    assert hostile.locator("pre.detail").text_content() == f"expected Success: {HOSTILE}"
    jobs = hostile.locator(".job")
    expect(jobs).to_have_count(2)
    assert jobs.nth(0).locator(".trace-error").text_content() == f"no trace of job job-gone: {HOSTILE}"
    assert jobs.nth(1).locator("h3 code").text_content() == HOSTILE
    jobs.nth(1).locator('.hop[data-lane="consumer_2"]').click()
    assert jobs.nth(1).locator(".hop-detail pre.error").text_content() == f"InjectedFault: {HOSTILE}"
    assert page.locator("img").count() == 0
    opened.quiet()
