"""Debian's chromium driven by Playwright (no browser downloaded), shared by the tests of the engine's page and of
the HTML report: where it is, how it is started, and what a job's timeline shows."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

CHROMIUM = Path("/usr/bin/chromium")
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update"]
#: screenshots of the browser tests (gitignored)
REPORTS = Path(__file__).resolve().parents[1] / "reports"
#: Playwright's waits on a page (conditions, with this deadline), in milliseconds
WAIT_MS = 45_000
#: a job's timeline lanes, in order, for a stack of two consumers
LANES = ["API", "table", "stream", "consumer_1", "consumer_2", "SNS", "error handler", "bus", "archive"]


@contextmanager
def chromium() -> Iterator[Any]:
    """A started chromium; a test fails (not skips) where it is missing."""
    if not CHROMIUM.is_file():
        pytest.fail(f"{CHROMIUM} is missing: `make test` installs Debian's chromium (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=str(CHROMIUM), args=FLAGS)
        try:
            yield launched
        finally:
            launched.close()
