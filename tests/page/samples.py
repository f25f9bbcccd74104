"""For the report's tests: the outcomes and traces of a run, built without a target (a passed scenario whose job
went through every lane of the pattern, a failed one whose error message, job id and log lines are hostile markup,
one with more jobs than the report shows), and a written report read back (its elements and its data)."""

from __future__ import annotations

import json
from html.parser import HTMLParser
from typing import Any

from jobkit.page.report import DATA_ID
from scenarios._model import Scenario
from scenarios._runner import FAILED, NOT_RUN, PASSED, Outcome

#: markup that would close the data's script element and run code, were any value put in as HTML
HOSTILE = "</script><img src=x onerror=alert(1)><!--\u2028&amp;"
CONSUMERS = ["consumer_1", "consumer_2"]
MANY = 25


def _scenario(name: str) -> Scenario:
    return Scenario(name=name, title=f"what {name} checks", run=lambda ctx: None)


def _hop(second: float, service: str, hop: str, detail: str, **fields: Any) -> dict[str, Any]:
    return {"at": f"2026-01-02T03:04:{second:06.3f}Z", "service": service, "hop": hop, "detail": detail, **fields}


def full_trace(job_id: str) -> dict[str, Any]:
    """A job consumer_2 failed: its record went to SNS, the error handler, the bus and the archive."""
    return {"jobId": job_id, "hops": [
        _hop(5.1, "apigateway", "request", "POST /jobs -> 200"),
        _hop(5.112, "dynamodb", "item written", "version 0", item={"id": job_id}),
        _hop(5.2, "dynamodb", "stream record", "INSERT 000001"),
        _hop(5.4, "lambda", "consumer invoked", "JobsStack-Consumer1 ok (attempt 1)",
             function="JobsStack-Consumer1", attempt=1, outcome="ok", logs="START\nREPORT RequestId: 1"),
        _hop(5.5, "lambda", "consumer invoked", "JobsStack-Consumer2 error InjectedFault (attempt 1)",
             function="JobsStack-Consumer2", attempt=1, outcome="error",
             error={"type": "InjectedFault", "message": HOSTILE}, logs=f"START\n{HOSTILE}\nREPORT"),
        _hop(5.6, "lambda", "on-failure record", "RetryAttemptsExhausted -> ErrorHandling2Topic"),
        _hop(5.7, "sns", "SNS publish", "ErrorHandling2Topic m-1"),
        _hop(5.8, "sns", "SNS -> error handler", "ErrorHandling2Topic -> JobsStack-ErrorHandler2",
             function="JobsStack-ErrorHandler2"),
        _hop(6.0, "lambda", "error handler invoked", "JobsStack-ErrorHandler2 error InjectedFault (attempt 1)",
             function="JobsStack-ErrorHandler2", attempt=1, outcome="error", error="InjectedFault"),
        _hop(7.0, "events", "bus event", "FailedJobsEventBus Lambda Function Invocation Result - Failure"),
        _hop(7.1, "events", "archive", "FailedJobsEventArchive"),
    ]}


def run() -> tuple[list[Outcome], dict[str, Any]]:
    """(outcomes, traces) of a run: happy (passed, one job), hostile (failed, a job whose trace could not be
    read and one whose id is markup), many (MANY jobs), skipped (not run)."""
    many = tuple(f"many-{n:03d}" for n in range(MANY))
    outcomes = [
        Outcome(_scenario("happy"), status=PASSED, duration=1.25, job_ids=("job-happy",)),
        Outcome(_scenario("hostile"), status=FAILED, duration=3.5, detail=f"expected Success: {HOSTILE}",
                job_ids=("job-gone", HOSTILE)),
        Outcome(_scenario("many"), status=PASSED, duration=9.0, job_ids=many),
        Outcome(_scenario("skipped"), status=NOT_RUN, detail="not run: needs sandbox clock"),
    ]
    traces: dict[str, Any] = {"job-happy": full_trace("job-happy"), HOSTILE: full_trace(HOSTILE),
                              "job-gone": f"no trace of job job-gone: {HOSTILE}"}
    traces.update({job: full_trace(job) for job in many})
    return outcomes, traces


class Elements(HTMLParser):
    """Every element of a document, with its attributes and text (a script's text is its raw content)."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.elements: list[tuple[str, dict[str, str | None], list[str]]] = []
        self._open: list[list[str]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.elements.append((tag, dict(attrs), []))
        if tag not in {"meta", "br", "hr", "img", "link", "input"}:  # void elements have no end tag
            self._open.append(self.elements[-1][2])

    def handle_endtag(self, tag: str) -> None:
        if self._open:
            self._open.pop()

    def handle_data(self, data: str) -> None:
        if self._open:
            self._open[-1].append(data)

    def named(self, tag: str) -> list[tuple[dict[str, str | None], str]]:
        return [(attrs, "".join(text)) for name, attrs, text in self.elements if name == tag]


def parse(html: str) -> Elements:
    parsed = Elements()
    parsed.feed(html)
    parsed.close()
    return parsed


def data_of(parsed: Elements) -> tuple[str, Any]:
    """The report's data: the raw text of its JSON script element, and that JSON parsed."""
    (raw,) = [text for attrs, text in parsed.named("script") if attrs.get("id") == DATA_ID]
    return raw, json.loads(raw)
