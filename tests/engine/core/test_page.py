"""The page's endpoints on the session engine: the files with a policy that loads nothing from elsewhere and lets
no site frame them; every input checked, with a JSON message; a replay started only by a JSON POST from this
origin. And, without an engine: the replay window's checks and the answer before the stack is deployed."""

from __future__ import annotations

import datetime as dt

import pytest
import requests
from werkzeug.test import Client
from werkzeug.wrappers import Request, Response

from jobkit.engine.core.page import PageApi, replay_window
from jobkit.engine.runtime import EmbeddedEngine
from jobkit.page import ASSETS


def _call(engine: EmbeddedEngine, path: str, method: str = "GET", **kwargs: object) -> requests.Response:
    return requests.request(method, f"{engine.url}{path}", timeout=10, allow_redirects=False, **kwargs)  # type: ignore[arg-type]


@pytest.mark.parametrize("name", [n for n in ASSETS if n != "index.html"])
def test_each_file_of_the_page_is_served_with_its_type_and_a_policy_that_loads_nothing_from_elsewhere(
        engine: EmbeddedEngine, name: str) -> None:
    answer = _call(engine, f"/_jobkit/static/{name}")
    assert answer.status_code == 200
    assert answer.headers["Content-Type"] == ASSETS[name]
    assert answer.headers["X-Content-Type-Options"] == "nosniff"
    assert "http" not in answer.text.replace("https://docs.aws", "")  # no CDN, no remote font or script


def test_the_page_is_served_at_its_root_and_no_other_site_may_frame_it(engine: EmbeddedEngine) -> None:
    assert _call(engine, "/_jobkit").headers["Location"] == "/_jobkit/"
    page = _call(engine, "/_jobkit/")
    assert page.status_code == 200 and page.headers["Content-Type"].startswith("text/html")
    policy = page.headers["Content-Security-Policy"]
    assert "script-src 'self'" in policy and "connect-src 'self'" in policy and "frame-ancestors 'none'" in policy
    assert page.headers["X-Frame-Options"] == "DENY"
    assert 'src="static/page.js"' in page.text and "<script>" not in page.text  # no inline script to allow


@pytest.mark.parametrize(("method", "path", "status", "words"), [
    ("GET", "/_jobkit/static/%2e%2e/runtime.py", 404, "the page's files are"),
    ("GET", "/_jobkit/static/../runtime.py", 404, "not found: jobkit serves"),
    ("GET", "/_jobkit/nothing-here", 404, "not found: jobkit serves"),
    ("GET", "/_jobkit/static/index.html", 404, "the page's files are"),
    ("GET", "/_jobkit/static/", 404, "the page's files are"),
    ("POST", "/_jobkit/", 405, "GET reads the page"),
    ("GET", "/_jobkit/?x=1", 400, "no query parameters"),
    ("POST", "/_jobkit/failed-events", 405, "lists the captured failures"),
    ("GET", "/_jobkit/failed-events?limit=0", 400, "limit must be a whole number"),
    ("GET", "/_jobkit/failed-events?since=1", 400, "unknown query parameters since"),
    ("DELETE", "/_jobkit/archive", 405, "describes the archive"),
    ("PUT", "/_jobkit/faults", 405, "lists the fault plans"),
    ("GET", "/_jobkit/replays", 405, "replays the archive"),
])
def test_the_endpoints_refuse_bad_input_with_a_json_message(engine: EmbeddedEngine, method: str, path: str,
                                                            status: int, words: str) -> None:
    answer = _call(engine, path, method)
    assert answer.status_code == status, answer.text
    assert words in answer.json()["message"]


@pytest.mark.parametrize(("body", "headers", "status", "words"), [
    ("since=2026-01-01T00:00:00Z", {"Content-Type": "application/x-www-form-urlencoded"}, 415, "must be JSON"),
    ("{}", {"Content-Type": "text/plain"}, 415, "must be JSON"),
    ('{"since": "yesterday"}', {"Content-Type": "application/json"}, 400, "not an ISO 8601 time"),
    ("[]", {"Content-Type": "application/json"}, 400, "JSON object"),
    ("{}", {"Content-Type": "application/json", "Origin": "http://evil.example"}, 403, "cross-origin"),
])
def test_a_replay_is_started_only_by_a_json_post_from_this_origin(engine: EmbeddedEngine, body: str,
                                                                  headers: dict[str, str], status: int,
                                                                  words: str) -> None:
    before = _call(engine, "/_jobkit/archive").json()["replays"]
    answer = _call(engine, "/_jobkit/replays", "POST", data=body, headers=headers)
    assert answer.status_code == status, answer.text
    assert words in answer.json()["message"]
    assert _call(engine, "/_jobkit/archive").json()["replays"] == before  # nothing started


def test_the_fault_plans_and_the_archive_are_read_through_the_engines_apis(engine: EmbeddedEngine,
                                                                           deployment: object) -> None:
    from jobkit.client.deployment import Deployment

    assert isinstance(deployment, Deployment)
    name = deployment["FaultPlanPrefix"] + "page-endpoint-plan"
    ssm = deployment.client("ssm")
    ssm.put_parameter(Name=name, Type="String", Overwrite=True, Value="not json")
    try:
        plans = _call(engine, "/_jobkit/faults").json()
        assert plans["prefix"] == deployment["FaultPlanPrefix"]
        assert {"name": "page-endpoint-plan", "raw": "not json"} in plans["plans"]
    finally:
        ssm.delete_parameter(Name=name)
    archive = _call(engine, "/_jobkit/archive").json()["archive"]
    assert archive["name"] == deployment["FailedJobsEventArchiveName"] and archive["state"] == "ENABLED"


# --- without an engine -----------------------------------------------------------------------------------------------
def test_before_the_stack_is_deployed_the_endpoints_say_so() -> None:
    routes = PageApi(dict, lambda: None).routes()

    def app(environ: dict[str, object], start_response: object) -> object:
        request = Request(environ)
        head = request.path[:request.path.find("/", 9) + 1]
        handler = routes.get(request.path) or routes.get(head)
        response = handler(request) if handler else Response("", status=404)
        return response(environ, start_response)  # type: ignore[arg-type]

    client = Client(app)
    for path in ("/_jobkit/failed-events", "/_jobkit/archive", "/_jobkit/faults"):
        answer = client.get(path)
        assert answer.status_code == 503 and "not deployed" in answer.json["message"]
    assert client.get("/_jobkit/").status_code == 200  # the page itself loads, and says the engine is not ready


@pytest.mark.parametrize(("body", "words"), [
    (b"{", "must be a JSON object"),
    (b'{"since": 1}', "ISO 8601 time like"),
    (b'{"since": "2026-01-01T00:00:00"}', "needs a time zone"),
    (b'{"since": "2026-01-02T00:00:00Z", "until": "2026-01-01T00:00:00Z"}', '"until" must be after'),
    (b'{"since": "2024-01-01T00:00:00Z", "until": "2026-01-01T00:00:00Z"}', "at most a year apart"),
    (b'{"archive": "other"}', '"since" and "until"'),
    (b'{"since": "' + b"2" * 50 + b'"}', "ISO 8601 time like"),
])
def test_a_replay_window_that_cannot_be_used_is_refused_with_the_reason(body: bytes, words: str) -> None:
    with pytest.raises(ValueError, match=words):
        replay_window(body)


def test_a_replay_window_takes_either_end_or_none() -> None:
    assert replay_window(b"") == (None, None)
    since, until = replay_window(b'{"since": "2026-01-01T00:00:00Z", "until": "2026-01-01T00:00:01+00:00"}')
    assert since == dt.datetime(2026, 1, 1, tzinfo=dt.UTC) and until == dt.datetime(2026, 1, 1, 0, 0, 1, tzinfo=dt.UTC)
