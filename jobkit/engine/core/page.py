"""The engine's page at ``/_jobkit/`` and the endpoints it reads besides the traces (``core.trace``).

The page's files (``jobkit.page``) are served with a policy that lets them load nothing but themselves and talk to
nothing but this origin, and that no other site may frame them (a replay button is an action). The front door
already refuses foreign origins and hosts on every path; a replay is started only by a JSON POST, which a form on
another page cannot send without a preflight.

What the page shows it reads as the CLI does, through the engine's own AWS APIs (a ``Deployment`` of the engine;
the client library is loaded when the page first asks, so the engine itself never depends on it):
the failed events from the capture rule's log group (``jobkit.failed_events``), the archive and its replays from
EventBridge (DescribeArchive, ListReplays), the fault plans from SSM. A replay goes through ``replay_archive``,
the StartReplay path of ``jobkit replay``, on a thread of its own; its outcome (each re-driven job's statuses) is
kept for the page.
"""

from __future__ import annotations

import datetime as dt
import json
import threading
from collections import OrderedDict
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from werkzeug.wrappers import Request, Response

from jobkit.engine.core.endpoints import answer, json_object, methods_only, query_refusal, refuse, whole_number
from jobkit.errors import JobkitError
from jobkit.page import ASSETS, asset
from jobkit.sandbox import REGION

if TYPE_CHECKING:
    from jobkit.client.deployment import Deployment
    from jobkit.failed_events import FailedEvent

ROOT = "/_jobkit/"
STATIC = "/_jobkit/static/"
#: the page loads only its own files and reads only this origin; no site frames it
HEADERS = {
    "Content-Security-Policy": "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "
                               "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}
#: failed events the page lists (newest first), and the replays whose outcome it keeps
DEFAULT_FAILED, MAX_FAILED = 50, 500
KEPT_REPLAYS = 50
#: the jobs of failed events already looked up (an event never changes its job)
KEPT_JOBS = 10_000
MAX_WINDOW = dt.timedelta(days=366)


class PageApi:
    """The page and its endpoints. ``outputs`` gives the engine's own stack's outputs (empty until it is deployed:
    the endpoints that need it answer 503 until then), ``url`` the engine's URL."""

    def __init__(self, outputs: Callable[[], dict[str, str]], url: Callable[[], str | None]) -> None:
        self.outputs = outputs
        self.url = url
        self._deployment: Deployment | None = None
        self._replays: OrderedDict[str, dict[str, Any]] = OrderedDict()
        self._jobs: OrderedDict[str, str | None] = OrderedDict()
        self._lock = threading.Lock()

    def routes(self) -> dict[str, Callable[[Request], Response]]:
        return {"/_jobkit": self.redirect_http, ROOT: self.index_http, STATIC: self.static_http,
                "/_jobkit/failed-events": self.failed_http, "/_jobkit/archive": self.archive_http,
                "/_jobkit/replays": self.replays_http, "/_jobkit/faults": self.faults_http}

    # --- the page's files -----------------------------------------------------------------------------------
    @staticmethod
    def redirect_http(request: Request) -> Response:
        """``/_jobkit`` → ``/_jobkit/``: the page's relative paths need the slash."""
        return Response("", status=308, headers={"Location": ROOT})

    def index_http(self, request: Request) -> Response:
        return self._file(request, "index.html")

    def static_http(self, request: Request) -> Response:
        name = request.path.removeprefix(STATIC)
        if name == "index.html" or name not in ASSETS:
            return refuse(404, f"not found: the page's files are {', '.join(n for n in ASSETS if n != 'index.html')}")
        return self._file(request, name)

    @staticmethod
    def _file(request: Request, name: str) -> Response:
        refused = methods_only(request, ("GET", "HEAD"), "GET reads the page") or query_refusal(request, ())
        if refused is not None:
            return refused
        return Response(asset(name), content_type=ASSETS[name], headers=HEADERS)

    # --- what the page reads ------------------------------------------------------------------------------------
    def _deployed(self) -> Deployment | Response:
        """The engine's stack as a client reaches it, made again when its outputs change (a new deployment)."""
        from jobkit.client.deployment import Deployment

        outputs, url = dict(self.outputs()), self.url()
        if url is None or "JobsTableName" not in outputs:
            return refuse(503, "the stack is not deployed yet: try again when `jobkit up` says it is ready")
        if self._deployment is None or self._deployment.outputs != outputs:
            self._deployment = Deployment(target="embedded", outputs=outputs, endpoint_url=url,
                                          region=outputs.get("JobkitRegion") or REGION)
        return self._deployment

    def failed_http(self, request: Request) -> Response:
        """``GET /_jobkit/failed-events?limit=``: the newest captured failures, each with its job."""
        refused = methods_only(request, ("GET",), "GET /_jobkit/failed-events lists the captured failures") \
            or query_refusal(request, ("limit",))
        if refused is not None:
            return refused
        limit = whole_number(request, "limit", DEFAULT_FAILED, MAX_FAILED)
        deployment = self._deployed()
        if isinstance(limit, Response) or isinstance(deployment, Response):
            return limit if isinstance(limit, Response) else deployment  # type: ignore[return-value]
        from jobkit.failed_events import list_failed

        events = list_failed(deployment)[-limit:][::-1]
        return answer({"events": [{"id": e.id, "time": e.time, "job": self._job(deployment, e),
                                   "function": e.function_name, "error": e.error} for e in events]})

    def _job(self, deployment: Deployment, event: FailedEvent) -> str | None:
        with self._lock:
            if event.id in self._jobs:
                return self._jobs[event.id]
        from jobkit.failed_events import job_of

        job = job_of(deployment, event)
        found = str(job["id"]) if job else None
        with self._lock:
            self._jobs[event.id] = found
            if len(self._jobs) > KEPT_JOBS:
                self._jobs.popitem(last=False)
        return found

    def archive_http(self, request: Request) -> Response:
        """``GET /_jobkit/archive``: the stack's archive (DescribeArchive) and its replays (ListReplays), newest
        first, with the outcome of those the page started."""
        refused = methods_only(request, ("GET",), "GET /_jobkit/archive describes the archive and its replays") \
            or query_refusal(request, ())
        if refused is not None:
            return refused
        deployment = self._deployed()
        if isinstance(deployment, Response):
            return deployment
        from jobkit.replay import describe_archive

        try:
            described = describe_archive(deployment)
        except JobkitError as exc:
            return refuse(404, str(exc))
        listed = deployment.client("events").list_replays(EventSourceArn=described["ArchiveArn"]).get("Replays", [])
        with self._lock:
            started = {name: dict(kept) for name, kept in self._replays.items()}
        replays = []
        for replay in sorted(listed, key=lambda r: r.get("ReplayStartTime") or _EPOCH, reverse=True):
            shown: dict[str, Any] = {"name": replay["ReplayName"], "state": replay["State"],
                                     "reason": replay.get("StateReason", ""),
                                     "start": _iso(replay.get("EventStartTime")),
                                     "end": _iso(replay.get("EventEndTime")),
                                     "started": _iso(replay.get("ReplayStartTime"))}
            shown.update(started.get(replay["ReplayName"], {}))
            replays.append(shown)
        archive = {"name": described["ArchiveName"], "state": described.get("State"),
                   "eventCount": described.get("EventCount"), "sizeBytes": described.get("SizeBytes"),
                   "creationTime": _iso(described.get("CreationTime"))}
        return answer({"archive": archive, "replays": replays})

    def faults_http(self, request: Request) -> Response:
        """``GET /_jobkit/faults``: the fault plans (SSM parameters under the ``FaultPlanPrefix`` output)."""
        refused = methods_only(request, ("GET",), "GET /_jobkit/faults lists the fault plans") \
            or query_refusal(request, ())
        if refused is not None:
            return refused
        deployment = self._deployed()
        if isinstance(deployment, Response):
            return deployment
        prefix = deployment.outputs.get("FaultPlanPrefix", "")
        plans: list[dict[str, Any]] = []
        if prefix:
            pages = deployment.client("ssm").get_paginator("get_parameters_by_path").paginate(Path=prefix,
                                                                                              Recursive=True)
            for parameter in (p for page in pages for p in page.get("Parameters", [])):
                plan: dict[str, Any] = {"name": parameter["Name"].removeprefix(prefix)}
                try:
                    faults = json.loads(parameter["Value"]).get("faults")
                except (ValueError, AttributeError, RecursionError):
                    faults = None
                plan.update({"faults": faults} if isinstance(faults, list) else {"raw": parameter["Value"]})
                plans.append(plan)
        return answer({"prefix": prefix, "plans": sorted(plans, key=lambda p: p["name"])})

    # --- replays --------------------------------------------------------------------------------------------------
    def replays_http(self, request: Request) -> Response:
        """``POST /_jobkit/replays`` with ``{"since"?, "until"?}`` (ISO 8601; default: the archive's creation and
        now) starts a replay of the stack's archive, as ``jobkit replay`` does, and answers 202 with its name; the
        archive's endpoint then shows its state and outcome. One at a time."""
        refused = methods_only(request, ("POST",), 'POST {"since", "until"} replays the archive') \
            or query_refusal(request, ())
        if refused is not None:
            return refused
        if request.mimetype != "application/json":
            return refuse(415, "the body must be JSON (Content-Type: application/json)")
        try:
            since, until = replay_window(request.get_data())
        except ValueError as exc:
            return refuse(400, str(exc))
        deployment = self._deployed()
        if isinstance(deployment, Response):
            return deployment
        from jobkit.replay import replay_name

        name = replay_name()
        with self._lock:
            if any(kept["state"] == "RUNNING" for kept in self._replays.values()):
                return refuse(409, "a replay started here is under way; start another when it ends")
            self._replays[name] = {"state": "RUNNING"}
            while len(self._replays) > KEPT_REPLAYS:
                self._replays.popitem(last=False)
        threading.Thread(target=self._replay, args=(deployment, name, since, until), name=f"jobkit-page-{name}",
                         daemon=True).start()
        return answer({"name": name, "state": "RUNNING"}, status=202)

    def _replay(self, deployment: Deployment, name: str, since: dt.datetime | None,
                until: dt.datetime | None) -> None:
        """Runs the replay to its end (bounded by ``REPLAY_TIMEOUT``); what became of it is kept for the page."""
        from jobkit.replay import REPLAY_TIMEOUT, replay_archive

        kept: dict[str, Any]
        try:
            result = replay_archive(deployment, since=since, until=until, name=name, timeout=REPLAY_TIMEOUT)
        except Exception as exc:  # the page shows why; the engine goes on
            kept = {"state": "FAILED", "reason": str(exc)}
        else:
            kept = {"state": result.state, "events": len(result.events), "outcomes": result.outcomes}
        with self._lock:
            if name in self._replays:
                self._replays[name] = kept


def replay_window(body: bytes) -> tuple[dt.datetime | None, dt.datetime | None]:
    """``since`` and ``until`` of a replay request (each optional, ISO 8601 with a zone or ``Z``, until after
    since, at most a year apart); ValueError with the reason otherwise."""
    document = json_object(body, ("since", "until"), '{"since": "2026-01-02T03:04:05Z"}',
                           'with "since" and "until" (both optional, ISO 8601)')
    found: dict[str, dt.datetime | None] = {}
    for key in ("since", "until"):
        value = document.get(key)
        if value is None:
            found[key] = None
            continue
        if not isinstance(value, str) or len(value) > 40:
            raise ValueError(f'"{key}" must be an ISO 8601 time like 2026-01-02T03:04:05Z')
        try:
            parsed = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            raise ValueError(f'"{key}" is not an ISO 8601 time: {value!r}') from None
        if parsed.tzinfo is None:
            raise ValueError(f'"{key}" needs a time zone (Z or +hh:mm): {value!r}')
        found[key] = parsed
    since, until = found["since"], found["until"]
    if since is not None and until is not None:
        if until <= since:
            raise ValueError('"until" must be after "since"')
        if until - since > MAX_WINDOW:
            raise ValueError('"since" and "until" are at most a year apart')
    return since, until


_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)


def _iso(value: Any) -> str | None:
    if isinstance(value, dt.datetime):
        return value.astimezone(dt.UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
    return None if value is None else str(value)
