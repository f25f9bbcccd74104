"""The engine's page in a real browser (Debian's chromium driven by Playwright, no browser downloaded): a job
reaches Success on the page, its timeline opens with a lane per service, a failed job shows among the failed
events, a replay started from the page re-drives it and the page shows the replay's outcome; the page asks
nothing of any other origin. A screenshot of each step is written under ``reports/``."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import pytest

from jobkit.client.deployment import Deployment
from jobkit.client.jobs_api import JobsApi
from jobkit.engine.runtime import EmbeddedEngine
from tests.browser import LANES, REPORTS, WAIT_MS, chromium


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with chromium() as launched:
        yield launched


@pytest.fixture
def page(browser: Any, engine: EmbeddedEngine) -> Iterator[Any]:
    """A new page on the engine's page, with every request it makes recorded."""
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    opened = context.new_page()
    opened.set_default_timeout(WAIT_MS)
    requested: list[str] = []
    errors: list[str] = []
    opened.on("request", lambda request: requested.append(request.url))
    opened.on("pageerror", lambda error: errors.append(str(error)))
    opened.goto(f"{engine.url}/_jobkit/")
    opened.requested = requested  # type: ignore[attr-defined]
    opened.errors = errors  # type: ignore[attr-defined]
    yield opened
    context.close()


def _shot(page: Any, name: str) -> None:
    REPORTS.mkdir(exist_ok=True)
    page.screenshot(path=str(REPORTS / f"page-{name}.png"), full_page=True)


def test_a_job_reaches_success_on_the_page_and_its_timeline_has_a_lane_per_service(
        page: Any, engine: EmbeddedEngine, deployment: Deployment) -> None:
    from playwright.sync_api import expect

    job = JobsApi.for_deployment(deployment).submit(1)
    row = page.locator(f'#jobs-body tr[data-job="{job}"]')
    for consumer in ("consumer_1", "consumer_2"):
        expect(row.locator(f'td[data-consumer="{consumer}"]')).to_have_text("Success", timeout=WAIT_MS)

    row.locator("a.job-link").click()
    expect(page.locator("#timeline")).to_be_visible()
    expect(page.locator("#timeline-job")).to_have_text(job)
    expect(page.locator(".tl-lane")).to_have_text(LANES)
    request = page.locator('.hop[data-lane="API"]')
    expect(request).to_contain_text("request")
    for consumer in ("consumer_1", "consumer_2"):
        expect(page.locator(f'.hop[data-lane="{consumer}"]').first).to_contain_text("consumer invoked")
    expect(page.locator('.hop[data-lane="stream"]').first).to_contain_text("stream record")
    page.locator('.hop[data-lane="consumer_1"]').first.click()
    details = page.locator(".hop-detail")
    expect(details).to_contain_text(engine.outputs["Consumer1FunctionName"])
    expect(details.locator("pre.logs")).to_contain_text("REPORT RequestId")
    _shot(page, "timeline")

    assert page.errors == []  # type: ignore[attr-defined]
    assert all(url.startswith(f"{engine.url}/_jobkit/") for url in page.requested), page.requested  # type: ignore[attr-defined]


def test_a_failed_job_shows_among_the_failed_events_and_a_replay_from_the_page_redrives_it(
        page: Any, engine: EmbeddedEngine, deployment: Deployment) -> None:
    from playwright.sync_api import expect

    ssm = deployment.client("ssm")
    plan = f"page-{uuid.uuid4().hex[:6]}"
    name = deployment["FaultPlanPrefix"] + plan
    ssm.put_parameter(Name=name, Type="String", Overwrite=True, Value=json.dumps(
        {"faults": [{"where": "processor", "kind": "raise", "consumers": ["consumer_1"]},
                    {"where": "error_handler", "kind": "raise", "consumers": ["consumer_1"]}]}))
    try:
        expect(page.locator(f'#faults-body tr[data-plan="{plan}"]')).to_contain_text("error_handler")
        job = JobsApi.for_deployment(deployment).submit(1, fault=plan)
        failed = page.locator("#failed-body tr").filter(has=page.locator(f'a[data-job="{job}"]'))
        expect(failed).to_have_count(1)
        expect(failed).to_contain_text("InjectedFault")
        expect(failed).to_contain_text(engine.outputs["ErrorHandler1FunctionName"])
        _shot(page, "failed")
    finally:
        ssm.delete_parameter(Name=name)  # the replayed failure reaches a handler that works
    expect(page.locator(f'#faults-body tr[data-plan="{plan}"]')).to_have_count(0)

    replays = page.locator("#replays-body tr[data-replay]")
    before = replays.count()
    failed.locator("button.replay-one").click()
    expect(replays).to_have_count(before + 1)
    replay = replays.first  # newest first
    expect(replay.locator(".pill").first).to_have_text("COMPLETED")
    outcome = replay.locator(f'li[data-job="{job}"]')
    expect(outcome).to_contain_text("consumer_1")
    expect(outcome).to_contain_text("Failure")
    _shot(page, "replayed")

    failed.locator("a.job-link").click()
    expect(page.locator('.hop[data-lane="archive"]').first).to_contain_text("archive")
    expect(page.locator('.hop[data-lane="error handler"]').first).to_contain_text("error handler invoked")
    assert page.errors == []  # type: ignore[attr-defined]


def test_ten_thousand_recorded_jobs_are_paged_fifty_at_a_time_newest_first(page: Any) -> None:
    """The jobs list answered by a trace store of its own holding 10,000 jobs (the engine's default), so the
    session engine's store is left as it is; the page pages through it with its buttons."""
    from playwright.sync_api import expect
    from werkzeug.test import EnvironBuilder
    from werkzeug.wrappers import Request

    from jobkit.engine.core.trace import JobTraces, TraceApi

    traces = JobTraces(10_000)
    ids = [f"job-{n:05d}" for n in range(10_000)]
    for n, job in enumerate(ids):
        traces.record(job, "apigateway", "request", "POST /jobs -> 200", at=1_700_000_000 + n)
    api = TraceApi(traces, lambda: None)

    def answer(route: Any) -> None:
        url = urlsplit(route.request.url)
        response = api.jobs_http(Request(EnvironBuilder(path=url.path, query_string=url.query).get_environ()))
        route.fulfill(status=response.status_code, body=response.get_data(), content_type="application/json")

    page.route("**/_jobkit/jobs?*", answer)
    page.reload()
    rows = page.locator("#jobs-body tr[data-job]")
    newest = [ids[-1 - n] for n in range(50)]
    expect(rows).to_have_count(50)
    assert rows.evaluate_all("rows => rows.map(r => r.dataset.job)") == newest
    for number in (2, 3):
        page.click("#older")
        expect(page.locator("#page-note")).to_have_text(f"page {number}")
        expect(rows.first).to_have_attribute("data-job", ids[-1 - 50 * (number - 1)])
        expect(rows).to_have_count(50)
    page.click("#newer")
    expect(page.locator("#page-note")).to_have_text("page 2")
    expect(rows.first).to_have_attribute("data-job", ids[-51])
