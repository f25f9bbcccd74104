"""Figures of the engine's page with a full trace store (prints a table, writes JSON; not a test): the engine keeps
10,000 jobs (its default), each with a job's usual hops and an item in the jobs table, and the page's reads are
timed, from the endpoint and in Debian's chromium (Playwright, when ``/usr/bin/chromium`` is there).

How each figure is taken is written beside it in the JSON (``how``). Run: ``make bench`` (or
``python bench/page.py``).
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import requests

from jobkit.client.deployment import Deployment
from jobkit.project import ROOT

RESULTS = ROOT / "bench" / "results"
CHROMIUM = Path("/usr/bin/chromium")
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update"]
HOW = {
    "jobs_first_page_ms": "GET /_jobkit/jobs (50 newest jobs, each consumer's status read from its item), median",
    "jobs_deep_page_ms": "GET /_jobkit/jobs?before=<the 9,950th newest> (the last page), median",
    "trace_ms": "GET /_jobkit/jobs/{id}/trace of one job (11 hops), median",
    "record_us": "JobTraces.record of one hop into the full store (the cost on each hop of each job), median "
                 "of 10,000",
    "page_first_rows_ms": "chromium: from navigation to the 50 newest jobs shown on the page, median",
    "page_older_ms": "chromium: from a click on 'older' to the next 50 jobs shown, median",
}
#: the hops of a job that succeeds on both consumers (what the engine records for one)
HOPS = [("apigateway", "request"), ("dynamodb", "item written"), ("dynamodb", "stream record"),
        ("lambda", "consumer invoked"), ("lambda", "consumer invoked"), ("dynamodb", "item updated"),
        ("dynamodb", "item updated"), ("dynamodb", "item updated"), ("dynamodb", "item updated"),
        ("dynamodb", "item updated"), ("dynamodb", "item updated")]


def median_ms(action: Callable[[], Any], runs: int) -> float:
    samples = []
    for _ in range(runs):
        began = time.perf_counter()
        action()
        samples.append((time.perf_counter() - began) * 1000)
    return round(statistics.median(samples), 2)


def fill(engine: Any, deployment: Deployment, jobs: int) -> list[str]:
    """``jobs`` jobs in the trace store and the table, oldest first, as the engine would have recorded them."""
    ddb = deployment.client("dynamodb")
    table = deployment["JobsTableName"]
    ids = [str(uuid.uuid4()) for _ in range(jobs)]
    began = time.time() - jobs
    for n, job in enumerate(ids):
        for k, (service, hop) in enumerate(HOPS):
            engine.traces.record(job, service, hop, f"{hop} of a bench job", at=began + n + k / 100)
    done = {"M": {"status": {"S": "Success"}}}
    for offset in range(0, jobs, 25):
        ddb.batch_write_item(RequestItems={table: [{"PutRequest": {"Item": {
            "id": {"S": job}, "seconds": {"N": "1"}, "version": {"N": "4"},
            "job_status": {"M": {"consumer_1": done, "consumer_2": done}}}}} for job in ids[offset:offset + 25]]})
    return ids


def record_us(engine: Any, runs: int) -> float:
    job = str(uuid.uuid4())
    samples = []
    for _ in range(runs):
        began = time.perf_counter()
        engine.traces.record(job, "lambda", "consumer invoked", "a bench hop", function="f", attempt=1)
        samples.append((time.perf_counter() - began) * 1_000_000)
    return round(statistics.median(samples), 2)


def in_browser(url: str, runs: int) -> dict[str, float]:
    from playwright.sync_api import sync_playwright

    first, older = [], []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=FLAGS)
        try:
            for _ in range(runs):
                page = browser.new_page()
                began = time.perf_counter()
                page.goto(f"{url}/_jobkit/")
                page.locator("#jobs-body tr[data-job]").nth(49).wait_for()
                first.append((time.perf_counter() - began) * 1000)
                top = page.locator("#jobs-body tr[data-job]").first.get_attribute("data-job")
                began = time.perf_counter()
                page.click("#older")
                page.locator(f'#jobs-body tr[data-job="{top}"]').wait_for(state="detached")
                older.append((time.perf_counter() - began) * 1000)
                page.close()
        finally:
            browser.close()
    return {"page_first_rows_ms": round(statistics.median(first), 1),
            "page_older_ms": round(statistics.median(older), 1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=10_000)
    parser.add_argument("--runs", type=int, default=20)
    args = parser.parse_args()
    from jobkit.engine.runtime import EmbeddedEngine

    work = Path(tempfile.mkdtemp(prefix="jobkit-bench-page-"))
    engine = EmbeddedEngine(port=0, out=None)
    engine.start(ROOT / "cdk.out", work / "cdk-outputs.json", time_scale=1.0)
    try:
        deployment = Deployment.load(work / "cdk-outputs.json", target="embedded")
        ids = fill(engine, deployment, args.jobs)
        url = str(engine.url)
        with requests.Session() as http:
            figures: dict[str, float] = {
                "jobs_first_page_ms": median_ms(lambda: http.get(f"{url}/_jobkit/jobs").raise_for_status(),
                                                args.runs),
                "jobs_deep_page_ms": median_ms(lambda: http.get(f"{url}/_jobkit/jobs",
                                                                params={"before": ids[50]}).raise_for_status(),
                                               args.runs),
                "trace_ms": median_ms(lambda: http.get(f"{url}/_jobkit/jobs/{ids[0]}/trace").raise_for_status(),
                                      args.runs),
            }
        figures["record_us"] = record_us(engine, 10_000)
        if CHROMIUM.is_file():
            figures.update(in_browser(url, max(3, args.runs // 4)))
        else:
            print(f"no {CHROMIUM}: the browser's figures are not taken (`make test` installs it)")
    finally:
        engine.stop()
    print(f"the page with {len(engine.traces)} recorded jobs")
    for name, value in figures.items():
        print(f"  {name:22} {value:>10}")
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "page.json").write_text(json.dumps({"how": HOW, "jobs": args.jobs, "figures": figures}, indent=2)
                                       + "\n")


if __name__ == "__main__":
    main()
