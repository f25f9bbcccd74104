"""The HTML report of ``jobkit scenarios run --html``: each scenario's outcome (status, duration, detail) and the
timelines of its jobs, in one file that opens from disk with nothing fetched (a CI run's artifact).

It is the page's own files inlined (``page.css``, ``timeline.js`` and ``report.js``, which draws the report) and the
data as JSON in a ``<script type="application/json">`` block. Everything the target said (job ids, errors, log
lines) is in that JSON only, with ``<``, ``>`` and ``&`` escaped so no value can close the block; the scripts put it
in as text. A Content-Security-Policy allows the inlined files by their hashes and nothing else: no request leaves
the file, and markup that reached the page anyway could neither run nor load.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import json
from collections.abc import Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Any

from jobkit.client.traces import job_trace
from jobkit.errors import JobkitError
from jobkit.page import asset
from jobkit.text import printable

if TYPE_CHECKING:
    from jobkit.client.deployment import Deployment
    from scenarios._runner import Outcome

#: the jobs of one scenario whose timelines the report shows (many_jobs submits hundreds); the rest are counted
JOBS_SHOWN = 10
#: traces read at once (each is a request to the engine, or several API calls on LocalStack)
READERS = 4
#: the element holding the report's data, read by report.js
DATA_ID = "jobkit-report-data"

#: JSON's text made safe inside <script>: no "</script>" or "<!--" can form, and the line separators JavaScript
#: once treated as line ends stay escaped (json.dumps with ensure_ascii already escapes them; kept for clarity)
_SCRIPT_SAFE = str.maketrans({"<": "\\u003c", ">": "\\u003e", "&": "\\u0026", "\u2028": "\\u2028",
                              "\u2029": "\\u2029"})

#: a trace, or the one-line reason it could not be read
Trace = dict[str, Any] | str


def shown_jobs(job_ids: Sequence[str], limit: int = JOBS_SHOWN) -> Sequence[str]:
    """The jobs of a scenario the report shows: the first ``limit``."""
    return job_ids[:limit]


def read_traces(deployment: Deployment, outcomes: Iterable[Outcome], limit: int = JOBS_SHOWN) -> dict[str, Trace]:
    """The trace (``jobkit.client.traces.job_trace``) of each job the report shows, or the one-line reason it
    could not be read."""

    def read(job_id: str) -> Trace:
        try:
            return job_trace(deployment, job_id)
        except JobkitError as exc:
            return printable(str(exc))

    wanted = list(dict.fromkeys(j for o in outcomes for j in shown_jobs(o.job_ids, limit)))
    with ThreadPoolExecutor(max_workers=READERS) as pool:
        return dict(zip(wanted, pool.map(read, wanted), strict=True))


def report_data(outcomes: Iterable[Outcome], traces: Mapping[str, Trace], target: str, *,
                consumers: Sequence[str] = (), limit: int = JOBS_SHOWN,
                generated: dt.datetime | None = None) -> dict[str, Any]:
    """What report.js draws: the run (target, time, consumer lanes) and each scenario with its shown jobs, each
    job with its trace or the reason there is none."""
    scenarios = []
    for outcome in outcomes:
        jobs = []
        for job_id in shown_jobs(outcome.job_ids, limit):
            found = traces.get(job_id, "no trace was read")
            jobs.append({"jobId": job_id, "trace": found} if isinstance(found, dict)
                        else {"jobId": job_id, "error": found})
        scenarios.append({"name": outcome.scenario.name, "title": outcome.scenario.title, "status": outcome.status,
                          "ok": outcome.ok, "duration": round(outcome.duration, 3), "detail": outcome.detail,
                          "jobCount": len(outcome.job_ids), "jobs": jobs})
    at = (generated or dt.datetime.now(dt.UTC)).astimezone(dt.UTC)
    return {"target": target, "generated": at.isoformat(timespec="seconds").replace("+00:00", "Z"),
            "consumers": list(consumers), "scenarios": scenarios}


def script_json(data: Any) -> str:
    """``data`` as JSON that can sit inside a ``<script>`` element without ending it."""
    return json.dumps(data, ensure_ascii=True, separators=(",", ":")).translate(_SCRIPT_SAFE)


def _inline(name: str, tag: str) -> str:
    """The page's file ``name`` as the text of a ``<tag>`` element (our own files: checked anyway, as a file
    that closed its element would break the report silently)."""
    text = asset(name).decode("utf-8")
    if f"</{tag}" in text.lower():
        raise ValueError(f"{name} contains </{tag}: it cannot be inlined")
    return text


def _hash(text: str) -> str:
    return "'sha256-" + base64.b64encode(hashlib.sha256(text.encode("utf-8")).digest()).decode("ascii") + "'"


def render_report(data: Mapping[str, Any]) -> str:
    """The report's HTML: the page's style and scripts inlined, ``data`` as JSON, a policy allowing only those."""
    css, timeline, report = _inline("page.css", "style"), _inline("timeline.js", "script"), _inline("report.js",
                                                                                                    "script")
    policy = (f"default-src 'none'; style-src {_hash(css)}; script-src {_hash(timeline)} {_hash(report)}; "
              "img-src 'none'; base-uri 'none'; form-action 'none'")
    return f"""<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="{policy}">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>jobkit scenarios</title>
<style>{css}</style>
</head>
<body>
<header>
  <h1>jobkit <span class="muted">scenarios</span></h1>
  <span id="summary" class="status"></span>
</header>
<main id="report"><noscript><p>This report draws its tables and timelines with JavaScript.</p></noscript></main>
<script type="application/json" id="{DATA_ID}">{script_json(data)}</script>
<script>{timeline}</script>
<script>{report}</script>
</body>
</html>
"""


def write_report(outcomes: Iterable[Outcome], traces: Mapping[str, Trace], path: Path, target: str, *,
                 consumers: Sequence[str] = (), limit: int = JOBS_SHOWN) -> None:
    """Writes the report to ``path`` (its folder made if missing); OSError if it cannot be written."""
    html = render_report(report_data(outcomes, traces, target, consumers=consumers, limit=limit))
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(html, encoding="utf-8")
