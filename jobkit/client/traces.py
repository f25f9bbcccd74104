"""A job's trace, read from where it runs: the embedded engine's ``GET /_jobkit/jobs/{id}/trace``; on LocalStack
(or AWS) built from what its APIs show (``jobkit.targets.localstack.trace``). Shared by ``jobkit trace`` and the
pytest plugin's report sections."""

from __future__ import annotations

import datetime as dt
from typing import Any
from urllib.parse import quote

from jobkit.client.deployment import Deployment
from jobkit.errors import JobkitError
from jobkit.job_ids import JOB_ID, JOB_ID_RULE
from jobkit.text import printable

#: one request of the trace may take this long
TIMEOUT = 10.0


def check_job_id(job_id: str) -> str:
    if not JOB_ID.fullmatch(job_id):
        raise JobkitError(f"not a job id: {printable(job_id[:80])!r}",
                          f"{JOB_ID_RULE} (what POST /jobs answered)")
    return job_id


def job_trace(deployment: Deployment, job_id: str) -> dict[str, Any]:
    """``{"jobId", "hops": [...]}``: each hop ``at`` (ISO 8601 UTC), ``service``, ``hop``, ``detail`` and optional
    fields, in order. JobkitError with one line if the job id is bad or the target does not know the job."""
    check_job_id(job_id)
    if deployment.target == "embedded":
        return _from_engine(deployment, job_id)
    from jobkit.targets.localstack.trace import job_trace as built

    return built(deployment, job_id)


def _from_engine(deployment: Deployment, job_id: str) -> dict[str, Any]:
    import requests

    url = f"{deployment.endpoint_url}/_jobkit/jobs/{quote(job_id, safe='')}/trace"
    try:
        answer = requests.get(url, timeout=TIMEOUT)
    except requests.RequestException as exc:
        raise JobkitError(f"the embedded engine at {deployment.endpoint_url} does not answer "
                          f"({type(exc).__name__})", "is the sandbox up? `jobkit up`") from exc
    try:
        document = answer.json()
    except ValueError:
        document = None
    if answer.status_code != 200 or not isinstance(document, dict) or not isinstance(document.get("hops"), list):
        message = document.get("message") if isinstance(document, dict) else None
        raise JobkitError(f"no trace of job {job_id}: {message or f'the engine answered {answer.status_code}'}")
    return document


def _epoch(at: str) -> float | None:
    try:
        return dt.datetime.fromisoformat(at.replace("Z", "+00:00")).timestamp()
    except (ValueError, AttributeError):
        return None


def rows(trace: dict[str, Any]) -> list[tuple[str, str, str, str, str]]:
    """(time, +ms since the previous hop, service, hop, detail) per hop: the timeline's rows, as plain text."""
    found: list[tuple[str, str, str, str, str]] = []
    previous: float | None = None
    for hop in trace.get("hops", []):
        if not isinstance(hop, dict):
            continue
        at = str(hop.get("at", ""))
        now = _epoch(at)
        delta = "" if now is None or previous is None else f"+{(now - previous) * 1000:.0f}"
        previous = now if now is not None else previous
        detail = str(hop.get("detail", ""))
        error = hop.get("error")
        if isinstance(error, dict) and error.get("message"):
            detail += f" | {error.get('type')}: {error.get('message')}"
        found.append((at[11:23] if now is not None else at, delta, str(hop.get("service", "")),
                      str(hop.get("hop", "")), detail))
    return found


def as_text(trace: dict[str, Any], logs: bool = True) -> str:
    """The timeline as plain lines (a pytest report section), each invocation's log lines under it."""
    lines = [f"job {trace.get('jobId', '?')}: {len(trace.get('hops', []))} hop(s)"]
    hops = [h for h in trace.get("hops", []) if isinstance(h, dict)]
    for (at, delta, service, hop, detail), raw in zip(rows(trace), hops, strict=True):
        lines.append(printable(f"{at:12} {delta:>8} {service:10} {hop:24} {detail}"))
        if logs and raw.get("logs"):
            lines.extend("    | " + printable(line) for line in str(raw["logs"]).splitlines()[-20:])
    return "\n".join(lines)
