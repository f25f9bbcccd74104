"""What happened to each job: its hops kept in memory by job id, and the engine's endpoints that show them.

``JobTraces`` keeps the hops of the last ``JOBKIT_TRACE_JOBS`` jobs (default 10,000; 0 keeps none). Recording
runs on every hop of every job, so it is a dict appended under a lock: wall-clock time as a float, the fields
as given; formatting (ISO times, error messages out of Lambda's error document) waits until someone reads.

``TraceApi`` serves ``GET /_jobkit/jobs/{id}/trace`` (the hops in order) and ``GET /_jobkit/jobs?limit=&before=``
(the recent jobs, newest first, with each consumer's status read from the jobs table item in moto).
"""

from __future__ import annotations

import datetime as dt
import json
import os
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping
from typing import Any

from moto.backends import get_backend
from werkzeug.wrappers import Request, Response

from jobkit.engine.core.endpoints import answer, methods_only, names, query_refusal, refuse, whole_number
from jobkit.engine.core.front_door import SettingError
from jobkit.job_ids import JOB_ID, JOB_ID_RULE
from jobkit.sandbox import ACCOUNT, REGION

TRACE_JOBS_ENV = "JOBKIT_TRACE_JOBS"
DEFAULT_TRACE_JOBS = 10_000
MAX_TRACE_JOBS = 1_000_000
#: a job retried without end (MaximumRetryAttempts -1) must not grow without end: its latest hops are kept
MAX_HOPS_PER_JOB = 1_000
#: an invocation's log lines kept with its hop (the tail: the error and REPORT are at the end)
MAX_LOG_CHARS = 8_192
#: ``GET /_jobkit/jobs``: the page size by default and at most
DEFAULT_PAGE = 50
MAX_PAGE = 500


def trace_jobs_from_env(env: Mapping[str, str] | None = None) -> int:
    """How many jobs the engine keeps the hops of (``JOBKIT_TRACE_JOBS``); SettingError naming it if unusable."""
    env = os.environ if env is None else env
    value = env.get(TRACE_JOBS_ENV, "").strip()
    if not value:
        return DEFAULT_TRACE_JOBS
    if not value.isascii() or not value.isdigit() or int(value) > MAX_TRACE_JOBS:
        raise SettingError(f"{TRACE_JOBS_ENV}={env[TRACE_JOBS_ENV]!r}: use a whole number of jobs from 0 (keep "
                           f"no trace) to {MAX_TRACE_JOBS}")
    return int(value)


class JobTraces:
    """The hops of the last ``limit`` jobs, by job id, in the order they were recorded. A job is as recent as
    its first hop; when a new job would make ``limit + 1``, the oldest job goes, hops and all."""

    def __init__(self, limit: int = DEFAULT_TRACE_JOBS) -> None:
        self.limit = limit
        self._jobs: OrderedDict[str, list[dict[str, Any]]] = OrderedDict()
        self._lock = threading.Lock()

    @classmethod
    def from_env(cls) -> JobTraces:
        return cls(trace_jobs_from_env())

    def record(self, job_id: str, service: str, hop: str, detail: str = "", at: float | None = None,
               **fields: Any) -> None:
        """One hop of ``job_id`` (a hop without a known job, "-", is not kept), at ``at`` (now by default; a hop
        reported after later ones, as a request answered once its item is written, goes in its place by time).
        ``fields``: the optional structured fields (function, attempt, duration_ms, outcome, error, logs, ...),
        stored as given."""
        if self.limit <= 0 or job_id == "-" or not job_id:
            return
        entry = {"at": time.time() if at is None else at, "service": service, "hop": hop, "detail": detail,
                 **fields}
        with self._lock:
            hops = self._jobs.get(job_id)
            if hops is None:
                hops = self._jobs[job_id] = []
                if len(self._jobs) > self.limit:
                    self._jobs.popitem(last=False)
            elif len(hops) >= MAX_HOPS_PER_JOB:
                del hops[1]  # the first hop (the request) says where the job began: kept
            place = len(hops)
            while at is not None and place and hops[place - 1]["at"] > at:
                place -= 1
            hops.insert(place, entry)

    def __len__(self) -> int:
        with self._lock:
            return len(self._jobs)

    def __contains__(self, job_id: object) -> bool:
        with self._lock:
            return job_id in self._jobs

    def hops(self, job_id: str) -> list[dict[str, Any]] | None:
        """The job's hops in order, as the API shows them; None for a job not (or no longer) kept."""
        with self._lock:
            hops = self._jobs.get(job_id)
            kept = None if hops is None else list(hops)
        return None if kept is None else [shown(hop) for hop in kept]

    def recent(self, limit: int, before: str | None = None) -> tuple[list[tuple[str, float, int]], bool]:
        """Up to ``limit`` jobs, newest first, older than ``before`` (a kept job's id) if given: (job id, time of
        its first hop, hop count) each, and whether older ones follow. KeyError if ``before`` is not kept."""
        with self._lock:
            ids = list(self._jobs)
            if before is not None:
                if before not in self._jobs:
                    raise KeyError(before)
                ids = ids[:ids.index(before)]
            page = ids[-limit:][::-1] if limit else []
            found = [(job, self._jobs[job][0]["at"], len(self._jobs[job])) for job in page]
        return found, len(ids) > len(page)


def iso(epoch: float) -> str:
    """ISO 8601 UTC with milliseconds: ``2026-01-02T03:04:05.678Z``."""
    return dt.datetime.fromtimestamp(epoch, dt.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def shown(hop: dict[str, Any]) -> dict[str, Any]:
    """A recorded hop as the API shows it: its time in ISO 8601, an error document read for type and message."""
    document = {**hop, "at": iso(hop["at"])}
    raw = document.pop("error_payload", None)
    if raw is not None:
        document["error"] = _error_of(raw, document.get("error"))
    return document


def _error_of(payload: bytes, error_type: str | None) -> dict[str, Any]:
    """Lambda's error document (``{"errorType", "errorMessage", ...}``) as ``{"type", "message"}``."""
    try:
        answer = json.loads(payload)
    except (ValueError, UnicodeDecodeError):
        answer = None
    if not isinstance(answer, dict):
        return {"type": error_type, "message": payload[:1000].decode(errors="replace")}
    return {"type": answer.get("errorType", error_type), "message": str(answer.get("errorMessage", ""))[:1000]}


def log_tail(logs: str) -> str:
    return logs if len(logs) <= MAX_LOG_CHARS else "...\n" + logs[-MAX_LOG_CHARS:]


# --- the endpoints -----------------------------------------------------------------------------------------------
class TraceApi:
    """``/_jobkit/jobs`` and ``/_jobkit/jobs/{id}/trace``: GET only, every input checked, JSON answers."""

    PREFIX = "/_jobkit/jobs/"

    def __init__(self, traces: JobTraces, table_name: Callable[[], str | None],
                 consumers: Callable[[], list[str]] = list, account: str = ACCOUNT, region: str = REGION) -> None:
        self.traces = traces
        self.table_name = table_name
        self.consumers = consumers
        self.account = account
        self.region = region

    def trace_http(self, request: Request) -> Response:
        """``GET /_jobkit/jobs/{id}/trace``: ``{"jobId", "hops": [...]}`` in the order they happened."""
        refused = methods_only(request, ("GET",), "GET /_jobkit/jobs/{id}/trace reads a job's hops")
        if refused is not None:
            return refused
        job_id, _, rest = request.path.removeprefix(self.PREFIX).partition("/")
        if rest != "trace":
            return refuse(404, "not found: GET /_jobkit/jobs/{id}/trace reads a job's hops, GET /_jobkit/jobs "
                               "lists the recent jobs")
        if not JOB_ID.fullmatch(job_id):
            return refuse(400, JOB_ID_RULE)
        if request.args:
            return refuse(400, f"no query parameters are taken here, got {names(request.args)}")
        hops = self.traces.hops(job_id)
        if hops is None:
            return refuse(404, f"no trace of job {job_id}: the engine keeps the last {self.traces.limit} jobs "
                               f"({TRACE_JOBS_ENV}), since it started")
        return answer({"jobId": job_id, "hops": hops})

    def jobs_http(self, request: Request) -> Response:
        """``GET /_jobkit/jobs?limit=&before=``: the recent jobs, newest first, ``limit`` (1-500, default 50) at a
        time; ``before`` is the last job id of the previous page (``next`` of its answer). ``consumers`` names the
        stack's consumers (a job's statuses may name others a test wrote)."""
        refused = methods_only(request, ("GET",), "GET /_jobkit/jobs lists the recent jobs") \
            or query_refusal(request, ("limit", "before"))
        if refused is not None:
            return refused
        limit = whole_number(request, "limit", DEFAULT_PAGE, MAX_PAGE)
        if isinstance(limit, Response):
            return limit
        before = request.args.get("before")
        if before is not None and not JOB_ID.fullmatch(before):
            return refuse(400, f"before must be a job id: {JOB_ID_RULE}")
        try:
            page, more = self.traces.recent(limit, before)
        except KeyError:
            return refuse(400, f"before names job {before}, which the engine does not keep (any more): start "
                               "from the first page")
        jobs = [{"jobId": job, "at": iso(at), "hops": count, "consumers": self._statuses(job)}
                for job, at, count in page]
        document: dict[str, Any] = {"jobs": jobs, "consumers": self.consumers()}
        if more and page:
            document["next"] = page[-1][0]
        return answer(document)

    def _statuses(self, job_id: str) -> dict[str, str]:
        """Each consumer's status on the job's item in the jobs table (``docs/contracts.md``), read in moto."""
        name = self.table_name()
        if not name:
            return {}
        try:
            table = get_backend("dynamodb")[self.account][self.region].tables.get(name)
            item = table.get_item(_key(job_id)) if table is not None else None
        except Exception:  # a table mid-replacement (a deployment under way): the statuses are unknown for now
            return {}
        if item is None:
            return {}
        statuses = item.to_json()["Attributes"].get("job_status", {}).get("M", {})
        return {consumer: str(seen.get("M", {}).get("status", {}).get("S", "-"))
                for consumer, seen in sorted(statuses.items())}


def _key(job_id: str) -> Any:
    from moto.dynamodb.models.dynamo_type import DynamoType

    return DynamoType({"S": job_id})
